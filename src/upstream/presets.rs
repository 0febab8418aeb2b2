//! Well-known providers: the endpoints, scopes and claim mapping a preset fills in. Anything set
//! explicitly on the connection wins over the preset.

use super::spec::{ClaimMapping, Preset, UpstreamKind, UpstreamSpec};

/// Microsoft's multi-tenant endpoints (`common`, `organizations`, `consumers`) publish an issuer with
/// this placeholder; each ID token's issuer has the user's tenant id (`tid`) in its place.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The spec with the preset's defaults filled in where the spec is silent.
pub fn apply(spec: &UpstreamSpec) -> UpstreamSpec {
    let mut s = spec.clone();
    let Some(preset) = spec.preset else { return s };
    let fill = |slot: &mut Option<String>, value: &str| {
        if slot.is_none() {
            *slot = Some(value.to_string());
        }
    };
    let scopes: &[&str] = match preset {
        Preset::Google => {
            fill(&mut s.issuer, "https://accounts.google.com");
            &["openid", "email", "profile"]
        }
        Preset::Microsoft => {
            fill(&mut s.issuer, "https://login.microsoftonline.com/common/v2.0");
            &["openid", "email", "profile"]
        }
        Preset::Gitlab => {
            fill(&mut s.issuer, "https://gitlab.com");
            &["openid", "email", "profile"]
        }
        Preset::Apple => {
            fill(&mut s.issuer, "https://appleid.apple.com");
            &["openid", "name", "email"]
        }
        Preset::Github => {
            fill(&mut s.authorize_url, "https://github.com/login/oauth/authorize");
            fill(&mut s.token_url, "https://github.com/login/oauth/access_token");
            fill(&mut s.userinfo_url, "https://api.github.com/user");
            if s.claims == ClaimMapping::default() {
                s.claims = ClaimMapping {
                    subject: Some("id".into()),
                    email: Some("email".into()),
                    email_verified: None,
                    name: Some("name".into()),
                    picture: Some("avatar_url".into()),
                };
            }
            &["read:user", "user:email"]
        }
    };
    if s.scopes.is_empty() {
        s.scopes = scopes.iter().map(|v| v.to_string()).collect();
    }
    s
}

/// The kind a preset implies (for `--preset` without `--kind`).
pub fn kind_of(preset: Preset) -> UpstreamKind {
    match preset {
        Preset::Github => UpstreamKind::Oauth2,
        _ => UpstreamKind::Oidc,
    }
}

/// For a Microsoft issuer with the tenant placeholder: the issuer this tenant's tokens carry.
pub fn tenant_issuer(template: &str, tenant_id: &str) -> String {
    template.replace(TENANT_PLACEHOLDER, tenant_id)
}

/// Whether a configured Microsoft issuer names one of the multi-tenant endpoints.
pub fn is_multi_tenant(issuer: &str) -> bool {
    ["/common/", "/organizations/", "/consumers/"]
        .iter()
        .any(|t| issuer.contains(t))
}
