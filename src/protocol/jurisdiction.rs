//! Jurisdiction-aware consent defaults, pure: which region's rules apply to a person, and how a
//! marketing consent is asked there.
//!
//! - EU and EEA (and the UK, under the UK GDPR and PECR): consent must be "freely given, specific,
//!   informed and unambiguous" by "a clear affirmative action" (GDPR Art. 4(11)); "silence, pre-ticked
//!   boxes or inactivity should not therefore constitute consent" (Recital 32). So: opt-in, unticked.
//! - California (CCPA/CPRA): a business may use personal information for its own marketing after a
//!   notice at collection with the right to opt out (Cal. Civ. Code §1798.100, §1798.120). So: an
//!   opt-out notice, the box shown ticked.
//! - Anywhere else, or unknown: opt-in, the safe default.

/// How the marketing box is presented in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketingDefault {
    /// Unticked; only ticking it records an acceptance.
    OptIn,
    /// Shown ticked with a notice that the person can opt out at any time; submitted ticked it records
    /// an acceptance by opt-out notice.
    OptOutNotice,
}

impl MarketingDefault {
    pub fn is_ticked(self) -> bool {
        self == MarketingDefault::OptOutNotice
    }
}

/// The EU member states (ISO 3166-1 alpha-2, and `EL`, the EU's own code for Greece), the other EEA
/// states, the UK, and the bloc codes `EU` and `EEA`.
const OPT_IN_COUNTRIES: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "EL", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", // EU
    "IS", "LI", "NO", // EEA
    "GB", "UK", "EU", "EEA",
];

/// Regions with an opt-out regime for first-party marketing (ISO 3166-2 subdivisions).
const OPT_OUT_NOTICE_REGIONS: &[&str] = &["US-CA"];

/// The family of rules a region falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regime {
    /// EU/EEA GDPR and the UK GDPR.
    Gdpr,
    /// California's CCPA/CPRA.
    Ccpa,
    /// No rule listed here: treated as strictly as the GDPR.
    Unlisted,
}

/// The rules of a region (as normalised by `normalise`). A subdivision of a listed country (`DE-BY`)
/// follows its country.
pub fn regime(region: &str) -> Regime {
    let country = region.split('-').next().unwrap_or(region);
    if OPT_OUT_NOTICE_REGIONS.contains(&region) {
        Regime::Ccpa
    } else if OPT_IN_COUNTRIES.contains(&country) {
        Regime::Gdpr
    } else {
        Regime::Unlisted
    }
}

/// How marketing consent is asked in a region.
pub fn marketing_default(region: &str) -> MarketingDefault {
    match regime(region) {
        Regime::Ccpa => MarketingDefault::OptOutNotice,
        Regime::Gdpr | Regime::Unlisted => MarketingDefault::OptIn,
    }
}

/// A region code as stored: ISO 3166-1 alpha-2 (`DE`), an ISO 3166-2 subdivision (`US-CA`), or `EU` /
/// `EEA`; upper-cased. `None` for anything else.
pub fn normalise(region: &str) -> Option<String> {
    let upper = region.trim().to_ascii_uppercase();
    let (country, subdivision) = match upper.split_once('-') {
        Some((c, s)) => (c, Some(s)),
        None => (upper.as_str(), None),
    };
    let country_ok =
        (country.len() == 2 || country == "EEA") && country.bytes().all(|b| b.is_ascii_uppercase());
    let subdivision_ok = subdivision
        .is_none_or(|s| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    (country_ok && subdivision_ok).then_some(upper)
}

/// The region whose rules apply: the person's declared region, else the client's, else the configured
/// default. Values that do not normalise are skipped.
pub fn resolve(declared: Option<&str>, client: Option<&str>, default: &str) -> String {
    [declared, client, Some(default)]
        .into_iter()
        .flatten()
        .find_map(normalise)
        .unwrap_or_else(|| "EU".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eu_eea_and_uk_regions_are_opt_in() {
        for region in ["DE", "FR", "EU", "EEA", "NO", "GB", "EL", "DE-BY"] {
            assert_eq!(marketing_default(region), MarketingDefault::OptIn, "{region}");
            assert_eq!(regime(region), Regime::Gdpr, "{region}");
        }
    }

    #[test]
    fn california_gets_an_opt_out_notice_with_the_box_ticked() {
        assert_eq!(marketing_default("US-CA"), MarketingDefault::OptOutNotice);
        assert!(marketing_default("US-CA").is_ticked());
        assert_eq!(regime("US-CA"), Regime::Ccpa);
    }

    #[test]
    fn unknown_regions_fall_back_to_opt_in() {
        for region in ["US", "US-NY", "BR", "JP", "ZZ"] {
            assert_eq!(marketing_default(region), MarketingDefault::OptIn, "{region}");
            assert!(!marketing_default(region).is_ticked());
            assert_eq!(regime(region), Regime::Unlisted, "{region}");
        }
    }

    #[test]
    fn regions_are_normalised_or_refused() {
        assert_eq!(normalise(" us-ca ").as_deref(), Some("US-CA"));
        assert_eq!(normalise("de").as_deref(), Some("DE"));
        assert_eq!(normalise("eea").as_deref(), Some("EEA"));
        for bad in ["", "D", "DEU", "US-", "US-CALI", "U1", "US CA", "<b>"] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_declared_region_wins_then_the_client_then_the_default() {
        assert_eq!(resolve(Some("US-CA"), Some("DE"), "EU"), "US-CA");
        assert_eq!(resolve(None, Some("de"), "EU"), "DE");
        assert_eq!(resolve(None, None, "EU"), "EU");
        assert_eq!(resolve(Some("nonsense!"), None, "US-CA"), "US-CA");
        assert_eq!(
            resolve(None, None, "??"),
            "EU",
            "the strictest when even the default is bad"
        );
    }
}
