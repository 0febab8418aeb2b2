//! How an upstream connection is declared: in the config file (`[[upstreams]]`) or by CLI (stored in
//! the database). Presets fill in the endpoints and claim mapping of well-known providers.

use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};

/// `oidc`: discovery + ID token. `oauth2`: token, then a userinfo JSON document (GitHub-style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    Oidc,
    Oauth2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Google,
    Microsoft,
    Github,
    Apple,
    Gitlab,
}

/// Which fields of an OAuth2 userinfo document hold the identity (`oauth2` connections).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimMapping {
    /// The stable user id; numbers are turned into strings. Default `sub`.
    pub subject: Option<String>,
    pub email: Option<String>,
    /// Absent: emails from this document are treated as unverified.
    pub email_verified: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
}

/// Apple's client secret is an ES256 JWT that Gatehouse signs with this key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppleKey {
    pub team_id: String,
    pub key_id: String,
    /// The PKCS#8 PEM downloaded from Apple (`AuthKey_<key_id>.p8`).
    #[serde(serialize_with = "redacted")]
    pub private_key: SecretString,
}

/// What an upstream sign-in means for multi-factor authentication (issue 8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamMfa {
    /// The upstream sign-in is one factor, whatever the upstream says (`amr` `fed`).
    #[default]
    Ignore,
    /// An upstream sign-in the upstream reports as multi-factor (its `amr` has `mfa`, or its `acr` is
    /// a multi-factor level) counts as multi-factor here (`amr` `fed mfa`).
    Trust,
    /// Every sign-in through this connection also needs a second factor of Gatehouse's own.
    RequireLocal,
}

/// One upstream connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Short id: part of the callback URL (`/upstream/<id>/callback`) and the `idp` claim.
    pub id: String,
    pub kind: UpstreamKind,
    #[serde(default)]
    pub preset: Option<Preset>,
    pub display_name: String,
    pub client_id: String,
    #[serde(default = "empty_secret", serialize_with = "redacted")]
    pub client_secret: SecretString,
    /// OIDC issuer; discovery is read from `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// Scopes asked of the upstream; empty: the preset's, or `openid email profile` for OIDC.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Link to an existing account with the same email when the upstream says the email is verified.
    #[serde(default)]
    pub trust_email: bool,
    /// Email domains whose users go straight to this connection (home-realm discovery).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Allow plain http and private, loopback or link-local addresses (development and tests only).
    #[serde(default)]
    pub allow_private_network: bool,
    #[serde(default)]
    pub claims: ClaimMapping,
    #[serde(default)]
    pub apple: Option<AppleKey>,
    /// Whether the upstream's multi-factor sign-ins count here (`trust`), or a local second factor is
    /// always required (`require_local`). Default `ignore`.
    #[serde(default)]
    pub mfa: UpstreamMfa,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

fn redacted<S: Serializer, T>(_: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("")
}
