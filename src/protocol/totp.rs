//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), as authenticator apps implement them:
//! HMAC-SHA-1, 6 digits, 30-second steps. Pure: the time is an argument.
//!
//! SHA-1 is what every authenticator app supports; HOTP's security rests on HMAC, for which SHA-1 is
//! still sound (RFC 6238 §1.2, RFC 4226 Appendix A).

use ring::hmac;

/// Seconds per step (RFC 6238 §4.1, X).
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps accepted either side of the current one (clock drift; RFC 6238 §5.2 recommends at most one).
pub const WINDOW: i64 = 1;
/// Secret length in bytes (RFC 4226 §4 R6: at least 128 bits; 160 matches HMAC-SHA-1's output).
pub const SECRET_BYTES: usize = 20;

/// The time step containing `unix_time` (RFC 6238 §4.2, T0 = 0).
pub fn step_at(unix_time: i64) -> i64 {
    unix_time.div_euclid(STEP_SECONDS)
}

/// The code for one step (RFC 4226 §5.3 dynamic truncation).
pub fn code_for_step(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:0width$}", binary % 10u32.pow(DIGITS as u32), width = DIGITS)
}

/// The step whose code `typed` is, within the window around `unix_time` and after `last_step` (each
/// code is accepted once: RFC 6238 §5.2). Spaces in the typed code are ignored. The comparison is
/// constant-time.
pub fn verify(secret: &[u8], typed: &str, unix_time: i64, last_step: i64) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_time);
    let mut matched = None;
    for step in (now - WINDOW)..=(now + WINDOW) {
        let expected = code_for_step(secret, step);
        let equal = crate::crypto::constant_time_eq(expected.as_bytes(), typed.as_bytes());
        if equal && step > last_step && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// Base32 without padding (RFC 4648 §6), the form authenticator apps take secrets in.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://` URI authenticator apps scan (the Key Uri Format of Google Authenticator, which
/// every app follows): label `issuer:account`, and the issuer again as a parameter.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc =
        |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits there; the last 6 digits are the 6-digit code).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code_for_step(secret, step_at(time)), eight[2..], "at {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_once_within_one_step_of_drift() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = code_for_step(secret, step_at(now) - 1);
        let step = verify(secret, &code, now, 0).expect("previous step accepted");
        assert_eq!(verify(secret, &code, now, step), None, "replay refused");
        let far = code_for_step(secret, step_at(now) - 2);
        assert_eq!(verify(secret, &far, now, 0), None, "two steps back refused");
        let ahead = code_for_step(secret, step_at(now) + 1);
        assert!(verify(secret, &ahead, now, 0).is_some());
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = b"12345678901234567890";
        for typed in ["", "12345", "1234567", "12a456", "１２３４５６"] {
            assert_eq!(verify(secret, typed, 59, 0), None, "{typed:?}");
        }
        let code = code_for_step(secret, step_at(59));
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(verify(secret, &spaced, 59, 0).is_some());
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let uri = otpauth_uri("Gatehouse", "ann@example.com", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Gatehouse:ann%40example%2Ecom?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        );
    }
}
