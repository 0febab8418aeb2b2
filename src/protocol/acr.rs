//! Authentication strength: the `acr` levels Gatehouse issues, derived from the `amr` methods of a
//! sign-in (RFC 8176), and how a requested level (`acr_values`, OIDC Core §3.1.2.1, or a client's or
//! organization's policy) is compared with what a session achieved.
//!
//! The levels are ordered; each includes the ones below it:
//! 1. [`ACR_1FA`]: one factor (password, email code, an upstream sign-in not trusted for MFA).
//! 2. [`ACR_MFA`]: two factors (a password or email code plus an authenticator-app code, a recovery code
//!    or a passkey; an upstream sign-in the connection trusts for MFA).
//! 3. [`ACR_PHR`]: phishing-resistant (a passkey took part; OpenID EAP ACR Values 1.0 `phr`).
//! 4. [`ACR_PHRH`]: phishing-resistant with a device-bound key (`hwk`; EAP `phrh`).
//!
//! Passkey ceremonies always require user verification, so a passkey is multi-factor on its own.

/// One factor.
pub const ACR_1FA: &str = "urn:gatehouse:acr:1fa";
/// Two factors.
pub const ACR_MFA: &str = "urn:gatehouse:acr:mfa";
/// Phishing-resistant (OpenID Extended Authentication Profile ACR values).
pub const ACR_PHR: &str = "phr";
/// Phishing-resistant, hardware-protected key.
pub const ACR_PHRH: &str = "phrh";

/// Every level, weakest first (the order of `acr_values_supported`).
pub const SUPPORTED: [&str; 4] = [ACR_1FA, ACR_MFA, ACR_PHR, ACR_PHRH];

/// An `acr` level; the derived order is the strength order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    OneFactor,
    MultiFactor,
    PhishingResistant,
    PhishingResistantHardware,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::OneFactor => ACR_1FA,
            Level::MultiFactor => ACR_MFA,
            Level::PhishingResistant => ACR_PHR,
            Level::PhishingResistantHardware => ACR_PHRH,
        }
    }

    pub fn parse(value: &str) -> Option<Level> {
        match value {
            ACR_1FA => Some(Level::OneFactor),
            ACR_MFA => Some(Level::MultiFactor),
            ACR_PHR => Some(Level::PhishingResistant),
            ACR_PHRH => Some(Level::PhishingResistantHardware),
            _ => None,
        }
    }

    /// The level a sign-in with these space-separated `amr` methods achieved.
    pub fn of_amr(amr: &str) -> Level {
        let has = |m: &str| amr.split_whitespace().any(|x| x == m);
        if has("hwk") {
            Level::PhishingResistantHardware
        } else if has("swk") {
            Level::PhishingResistant
        } else if has("mfa") {
            Level::MultiFactor
        } else {
            Level::OneFactor
        }
    }
}

/// The weakest level among the requested `acr_values` that Gatehouse knows. Unknown values are
/// ignored: `acr_values` is a voluntary request (OIDC Core §5.5.1.1), so only values we can honour
/// raise the bar.
pub fn requested(acr_values: &[String]) -> Option<Level> {
    acr_values.iter().filter_map(|v| Level::parse(v)).min()
}

/// The `acr` to put in tokens: the strongest requested value the sign-in satisfies (so a client that
/// asked for a value gets back one it knows), else the level achieved.
pub fn claim(achieved: Level, acr_values: &[String]) -> &'static str {
    acr_values
        .iter()
        .filter_map(|v| Level::parse(v))
        .filter(|l| *l <= achieved)
        .max()
        .unwrap_or(achieved)
        .as_str()
}

/// Joins two space-separated `amr` lists (first factor, then second) and marks the result `mfa`
/// (RFC 8176 §2: "mfa" with the specific methods alongside).
pub fn combine(first: &str, second: &str) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for m in first.split_whitespace().chain(second.split_whitespace()) {
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    if !methods.contains(&"mfa") {
        methods.push("mfa");
    }
    methods.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn levels_follow_the_methods() {
        assert_eq!(Level::of_amr("pwd"), Level::OneFactor);
        assert_eq!(Level::of_amr("email"), Level::OneFactor);
        assert_eq!(Level::of_amr("fed"), Level::OneFactor);
        assert_eq!(Level::of_amr("pwd otp mfa"), Level::MultiFactor);
        assert_eq!(Level::of_amr("swk mfa"), Level::PhishingResistant);
        assert_eq!(Level::of_amr("pwd hwk mfa"), Level::PhishingResistantHardware);
    }

    #[test]
    fn unknown_requested_values_are_ignored_and_the_weakest_known_one_counts() {
        assert_eq!(requested(&values(&["urn:other:gold"])), None);
        assert_eq!(requested(&values(&["phr", ACR_MFA])), Some(Level::MultiFactor));
        assert_eq!(requested(&values(&[])), None);
    }

    #[test]
    fn the_claim_is_a_requested_value_when_one_is_satisfied() {
        assert_eq!(claim(Level::PhishingResistant, &values(&[ACR_MFA])), ACR_MFA);
        assert_eq!(claim(Level::PhishingResistant, &values(&[ACR_MFA, "phr"])), "phr");
        assert_eq!(claim(Level::OneFactor, &values(&["phrh"])), ACR_1FA);
        assert_eq!(claim(Level::MultiFactor, &[]), ACR_MFA);
    }

    #[test]
    fn combining_keeps_each_method_once_and_marks_mfa() {
        assert_eq!(combine("pwd", "otp"), "pwd otp mfa");
        assert_eq!(combine("pwd otp mfa", "hwk mfa"), "pwd otp mfa hwk");
    }
}
