//! Scopes (RFC 6749 §3.3): space-delimited, case-sensitive, order irrelevant.

/// The scopes Gatehouse understands by default; clients may be limited to a subset.
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Scopes about the user that a client may be allowed (`client create --scope`): the standard ones and
/// the organization scopes (B2B). None of them can be granted to client_credentials.
pub const USER_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "organization",
    "roles",
    "consents",
];

/// Splits a scope string, dropping repeats while keeping the first-seen order.
pub fn parse(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// RFC 6749 §3.3 scope-token syntax: 1*( %x21 / %x23-5B / %x5D-7E ).
pub fn is_valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn contains(scopes: &[String], wanted: &str) -> bool {
    scopes.iter().any(|s| s == wanted)
}

/// Whether every scope in `requested` is in `allowed`.
pub fn is_subset(requested: &[String], allowed: &[String]) -> bool {
    requested.iter().all(|s| allowed.contains(s))
}

/// A plain-words description of a scope for the consent page.
pub fn describe(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in with your Gatehouse account",
        "profile" => "See your name and basic profile",
        "email" => "See your email address",
        "phone" => "See your phone number",
        "address" => "See your postal address",
        "offline_access" => "Stay connected while you are away",
        "organization" => "Know which organization you are signing in for",
        "roles" => "See your roles and permissions in that organization",
        "consents" => "See which terms and policies you have accepted",
        "gatehouse:org-admin" => "Administer that organization (if you are one of its admins)",
        _ => "Access this part of your account",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        assert_eq!(parse("openid  email openid"), vec!["openid", "email"]);
        assert!(is_valid_token("invoices:read"));
        assert!(!is_valid_token("bad\"quote"));
        assert!(!is_valid_token("back\\slash"));
        assert!(is_subset(&parse("openid"), &parse("openid email")));
        assert!(!is_subset(&parse("openid admin"), &parse("openid email")));
    }
}
