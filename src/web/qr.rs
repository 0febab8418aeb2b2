//! QR codes as inline SVG, rendered on the server: the authenticator-app enrolment shows one without
//! sending its secret to any external service.

use qrcode::QrCode;
use qrcode::render::svg;

/// An SVG QR code of `text` (error correction M), or `None` if the text is too long for a QR code.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Inline in HTML: the XML declaration the renderer writes first is not wanted there.
    Some(match image.find("<svg") {
        Some(start) => image[start..].to_string(),
        None => image,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_otpauth_uri_renders_as_svg() {
        let svg =
            super::svg("otpauth://totp/example.com:ann%40example.com?secret=GEZDGNBVGY3TQOJQ").expect("fits");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("<path"));
    }
}
