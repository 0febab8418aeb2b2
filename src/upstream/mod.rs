//! Upstream identity providers: Gatehouse as a careful relying party. A connection is either `oidc`
//! (discovery, code flow with PKCE + state + nonce, ID token verified with a pinned algorithm set) or
//! `oauth2` (GitHub-style: token, then a userinfo document mapped to an identity). All outbound traffic
//! goes through `http::Outbound`.

mod apple;
pub mod http;
mod oauth2;
mod oidc;
pub mod presets;
mod spec;

use std::sync::Arc;

use secrecy::SecretString;

pub use spec::{AppleKey, ClaimMapping, Preset, UpstreamKind, UpstreamMfa, UpstreamSpec};

use crate::config::FederationSettings;

/// A connection ready to use: the spec with its preset applied, and its secrets.
#[derive(Debug, Clone)]
pub struct Connection {
    pub spec: UpstreamSpec,
    /// The URL the upstream sends the user back to: one per connection (mix-up defence, RFC 9700 §4.4.2).
    pub callback_url: String,
}

impl Connection {
    pub fn new(spec: &UpstreamSpec, issuer: &str) -> Self {
        Self {
            callback_url: callback_url(issuer, &spec.id),
            spec: presets::apply(spec),
        }
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    pub fn name(&self) -> &str {
        &self.spec.display_name
    }

    fn client_secret(&self) -> &SecretString {
        &self.spec.client_secret
    }
}

pub fn callback_url(issuer: &str, id: &str) -> String {
    format!("{issuer}/upstream/{id}/callback")
}

/// What Gatehouse sends the user to the upstream with.
pub struct Start<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    /// The PKCE verifier (RFC 7636); the S256 challenge derived from it goes upstream.
    pub pkce_verifier: &'a str,
    pub login_hint: Option<&'a str>,
}

/// What came back on the callback, and the secrets kept for it.
pub struct Finish<'a> {
    pub code: &'a str,
    /// The `iss` authorization response parameter (RFC 9207), when sent.
    pub iss: Option<&'a str>,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
    /// Apple posts the user's name once, on first sign-in, as JSON in the `user` field.
    pub apple_user: Option<&'a str>,
}

/// The person as the upstream describes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamIdentity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
    pub locale: Option<String>,
    /// The upstream's own `amr` values, recorded for the audit trail.
    pub amr: Vec<String>,
    /// The upstream's `acr`, if it sent one.
    pub acr: Option<String>,
}

impl UpstreamIdentity {
    /// Whether the upstream reports a multi-factor sign-in: `amr` with `mfa` (RFC 8176), or an `acr`
    /// naming a multi-factor or phishing-resistant level (ours, OpenID EAP's `phr`/`phrh`, or the PAPE
    /// multi-factor policy URI).
    pub fn reports_mfa(&self) -> bool {
        const MFA_ACRS: [&str; 5] = [
            crate::protocol::acr::ACR_MFA,
            crate::protocol::acr::ACR_PHR,
            crate::protocol::acr::ACR_PHRH,
            "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
            "http://schemas.openid.net/pape/policies/2007/06/phishing-resistant",
        ];
        self.amr.iter().any(|m| m == "mfa") || self.acr.as_deref().is_some_and(|a| MFA_ACRS.contains(&a))
    }
}

/// Why a sign-in at an upstream failed. Never carries tokens or secrets.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The callback itself is unacceptable (wrong `iss`, an error from the upstream) (400).
    #[error("{0}")]
    Callback(String),
    /// The upstream's answer is invalid or failed verification (502).
    #[error("{0}")]
    Invalid(String),
    /// The upstream did not answer in time (504).
    #[error("the provider did not answer in time")]
    Timeout,
    /// The upstream could not be reached or a request was refused by policy (502).
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The connection is misconfigured (502, logged for the operator).
    #[error("configuration: {0}")]
    Config(String),
}

impl From<http::OutboundError> for UpstreamError {
    fn from(e: http::OutboundError) -> Self {
        match e {
            http::OutboundError::Timeout => UpstreamError::Timeout,
            http::OutboundError::TooLarge(n) => {
                UpstreamError::Invalid(format!("the response was larger than {n} bytes"))
            }
            http::OutboundError::Redirect(s) => {
                UpstreamError::Invalid(format!("the provider answered with a redirect ({s})"))
            }
            other => UpstreamError::Unreachable(other.to_string()),
        }
    }
}

/// The connector seam: the real implementation talks HTTP; tests can put a fake behind it.
pub trait UpstreamProvider: Send + Sync {
    /// The upstream authorization URL to send the browser to.
    fn authorization_url(&self, conn: &Connection, start: &Start) -> Result<String, UpstreamError>;
    /// Exchanges the code and verifies what comes back into an identity.
    fn finish(&self, conn: &Connection, finish: &Finish) -> Result<UpstreamIdentity, UpstreamError>;
}

/// The real connectors: OIDC and OAuth2 over `Outbound`, with a per-node metadata/JWKS cache.
pub struct Connectors {
    outbound: http::Outbound,
    oidc: oidc::MetadataCache,
}

impl Connectors {
    pub fn new(settings: &FederationSettings) -> Arc<Self> {
        Arc::new(Self {
            outbound: http::Outbound::new(settings),
            oidc: oidc::MetadataCache::new(settings.metadata_ttl),
        })
    }
}

impl UpstreamProvider for Connectors {
    fn authorization_url(&self, conn: &Connection, start: &Start) -> Result<String, UpstreamError> {
        match conn.spec.kind {
            UpstreamKind::Oidc => oidc::authorization_url(self, conn, start),
            UpstreamKind::Oauth2 => oauth2::authorization_url(conn, start),
        }
    }

    fn finish(&self, conn: &Connection, finish: &Finish) -> Result<UpstreamIdentity, UpstreamError> {
        match conn.spec.kind {
            UpstreamKind::Oidc => oidc::finish(self, conn, finish),
            UpstreamKind::Oauth2 => oauth2::finish(self, conn, finish),
        }
    }
}

/// Checks a spec (with its preset applied) before it is used or stored.
pub fn validate(spec: &UpstreamSpec) -> Result<(), String> {
    let s = presets::apply(spec);
    let valid_id = !s.id.is_empty()
        && s.id.len() <= 64
        && s.id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid_id {
        return Err("id must be 1-64 characters of a-z, 0-9, - and _".into());
    }
    if s.display_name.trim().is_empty() {
        return Err("display_name is required".into());
    }
    if s.client_id.trim().is_empty() {
        return Err("client_id is required".into());
    }
    let url_ok = |name: &str, value: &Option<String>, required: bool| -> Result<(), String> {
        match value {
            None if required => Err(format!("{name} is required for kind {:?}", s.kind).to_lowercase()),
            None => Ok(()),
            Some(v) => match url::Url::parse(v) {
                Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && s.allow_private_network) => Ok(()),
                Ok(_) => Err(format!(
                    "{name} must be https (http only with allow_private_network)"
                )),
                Err(e) => Err(format!("{name} is not a URL: {e}")),
            },
        }
    };
    let oauth2 = s.kind == UpstreamKind::Oauth2;
    url_ok("issuer", &s.issuer, !oauth2)?;
    url_ok("authorize_url", &s.authorize_url, oauth2)?;
    url_ok("token_url", &s.token_url, oauth2)?;
    url_ok("userinfo_url", &s.userinfo_url, oauth2)?;
    if s.preset == Some(Preset::Apple) && s.apple.is_none() {
        return Err("the apple preset needs an [apple] key (team_id, key_id, private_key)".into());
    }
    if let Some(key) = &s.apple {
        apple::parse_key(key).map_err(|e| format!("apple.private_key: {e}"))?;
    }
    for d in &s.domains {
        let ok = d.contains('.')
            && !d.starts_with('.')
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !ok {
            return Err(format!("`{d}` is not an email domain"));
        }
    }
    Ok(())
}

/// Reads a string field of a JSON object; numbers become strings (GitHub's numeric ids).
fn json_string(doc: &serde_json::Value, field: &str) -> Option<String> {
    match doc.get(field)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a boolean field, accepting Apple's `"true"`/`"false"` strings.
fn json_bool(doc: &serde_json::Value, field: &str) -> Option<bool> {
    match doc.get(field)? {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Parses a JSON object answer, refusing anything else (an HTML error page, a bare string).
fn json_object(body: &[u8], what: &str) -> Result<serde_json::Value, UpstreamError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(UpstreamError::Invalid(format!("the {what} is not a JSON object"))),
    }
}
