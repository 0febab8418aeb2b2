//! Redirect URI rules: what may be registered, and how a presented URI is matched.
//! Matching is exact string comparison (RFC 9700 §4.1.3), except that a loopback redirect of a native
//! app may use any port (RFC 8252 §7.3).

use url::{Host, Url};

/// Checks a URI offered at client registration. Returns a reason when it is refused.
pub fn validate_registration(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URI: {e}"))?;
    if uri.contains('#') {
        return Err(format!("`{uri}` must not contain a fragment (RFC 6749 §3.1.2)"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "`{uri}`: plain http is allowed only for loopback addresses"
        )),
        "javascript" | "data" | "vbscript" | "file" | "blob" | "about" => {
            Err(format!("`{uri}`: scheme `{}` is not allowed", url.scheme()))
        }
        // Private-use schemes of native apps must be reverse domain names (RFC 8252 §7.1).
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "`{uri}`: scheme `{scheme}` is not allowed (use https, loopback http, or a reverse-domain app scheme)"
        )),
    }
}

/// Checks a browser origin offered at registration: exactly `scheme://host[:port]` (RFC 6454), https or
/// loopback http.
pub fn validate_origin(origin: &str) -> Result<(), String> {
    let url = Url::parse(origin)
        .map_err(|_| format!("`{origin}` is not an origin like https://app.example.com"))?;
    let canonical = url.origin().ascii_serialization();
    if canonical != origin {
        return Err(format!(
            "`{origin}` is not an origin: use exactly `{canonical}` (no path, query or trailing slash)"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        _ => Err(format!(
            "`{origin}`: origins must be https (plain http only for loopback)"
        )),
    }
}

/// Whether `presented` equals one of the registered URIs.
pub fn is_registered(registered: &[String], presented: &str) -> bool {
    registered
        .iter()
        .any(|r| r == presented || loopback_port_variant(r, presented))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// RFC 8252 §7.3: "The authorization server MUST allow any port to be specified at the time of the
/// request for loopback IP redirect URIs". Everything else must still match exactly.
fn loopback_port_variant(registered: &str, presented: &str) -> bool {
    let (Ok(r), Ok(p)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    let ip_loopback = matches!(r.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(r.host(), Some(Host::Ipv6(ip)) if ip.is_loopback());
    if r.scheme() != "http" || !ip_loopback {
        return false;
    }
    // Compare the rest by re-serialising both without the port: any other difference disqualifies.
    let strip = |mut u: Url| {
        let _ = u.set_port(None);
        u.to_string()
    };
    // The presented string must be in canonical form itself (no tricks hidden by normalisation).
    p.as_str() == presented && strip(r) == strip(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_refuses_dangerous_uris() {
        assert!(validate_registration("https://app.example.com/cb").is_ok());
        assert!(validate_registration("http://127.0.0.1/cb").is_ok());
        assert!(validate_registration("http://localhost:3000/cb").is_ok());
        assert!(validate_registration("com.example.app:/oauth").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "relative/cb",
            "ftp://x/cb",
        ] {
            assert!(validate_registration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_are_exactly_scheme_host_and_port() {
        assert!(validate_origin("https://spa.example.com").is_ok());
        assert!(validate_origin("https://spa.example.com:8443").is_ok());
        assert!(validate_origin("http://127.0.0.1:3000").is_ok());
        for bad in [
            "https://spa.example.com/",
            "https://spa.example.com/app",
            "http://spa.example.com",
            "*",
            "null",
            "spa.example.com",
        ] {
            assert!(validate_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_is_exact() {
        let reg = vec!["https://app.example.com/cb".to_string()];
        assert!(is_registered(&reg, "https://app.example.com/cb"));
        for bad in [
            "https://app.example.com/cb/",
            "https://APP.example.com/cb",
            "https://app.example.com/CB",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb/../cb",
            "https://app.example.com/cb/..;/",
            "https://app.example.com%2f@evil.com/cb",
            "https://user@app.example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com/%2e%2e/cb",
        ] {
            assert!(!is_registered(&reg, bad), "{bad}");
        }
    }

    #[test]
    fn loopback_ip_redirects_may_vary_only_the_port() {
        let reg = vec!["http://127.0.0.1/callback".to_string()];
        assert!(is_registered(&reg, "http://127.0.0.1:51234/callback"));
        assert!(!is_registered(&reg, "http://127.0.0.1:51234/other"));
        assert!(!is_registered(&reg, "http://127.0.0.1:51234/callback?x=1"));
        let localhost = vec!["http://localhost/callback".to_string()];
        assert!(!is_registered(&localhost, "http://localhost:8000/callback"));
    }
}
