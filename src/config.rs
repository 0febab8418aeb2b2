//! Typed, layered, strict settings: defaults → TOML file → `GATEHOUSE__SECTION__KEY` environment.
//! Unknown keys and bad values are refused with a message naming the key. Every setting and its default
//! is documented in `config/gatehouse.example.toml`; a test keeps that file in step with `Settings::default()`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use toml::{Table, Value};

const ENV_PREFIX: &str = "GATEHOUSE__";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub sessions: SessionSettings,
    pub rate_limits: RateLimitSettings,
    pub log: LogSettings,
    pub federation: FederationSettings,
    /// Outgoing mail (`[mail]`, `[mail.smtp]`).
    pub mail: crate::mail::MailSettings,
    /// One-time codes sent by email (passwordless sign-in and light sign-up).
    pub email_codes: EmailCodeSettings,
    pub portal: PortalSettings,
    /// Passkeys (WebAuthn): the relying party they are bound to.
    pub passkeys: PasskeySettings,
    pub consent: ConsentSettings,
    /// Upstream identity providers declared in the file (`[[upstreams]]`); more can be added by CLI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<crate::upstream::UpstreamSpec>,
    /// Operator-defined scopes releasing profile attributes (`[[scopes]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<crate::protocol::claims::CustomScope>,
}

/// One-time email codes: how long they live and how many guesses one code allows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailCodeSettings {
    /// Seconds a code stays valid.
    pub ttl: u64,
    /// Wrong guesses after which a code stops working (a new one must be requested).
    pub max_attempts: u32,
}

impl Default for EmailCodeSettings {
    fn default() -> Self {
        Self {
            ttl: 600,
            max_attempts: 5,
        }
    }
}

/// Outbound requests to upstream providers (discovery, JWKS, token, userinfo).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSettings {
    /// Deadline for one whole outbound request, in seconds.
    pub timeout: u64,
    pub connect_timeout: u64,
    /// Larger responses are refused.
    pub max_response_bytes: u64,
    /// How long an upstream's discovery document and JWKS are cached, in seconds (an unknown `kid`
    /// refetches the JWKS once at any time).
    pub metadata_ttl: u64,
    /// How long a user has to come back from the upstream provider, in seconds.
    pub state_ttl: u64,
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            timeout: 10,
            connect_timeout: 5,
            max_response_bytes: 1024 * 1024,
            metadata_ttl: 3600,
            state_ttl: 600,
        }
    }
}

/// Consent documents (README "Consent").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentSettings {
    /// The region whose consent rules apply when neither the person nor the client declares one.
    pub default_region: String,
}

impl Default for ConsentSettings {
    fn default() -> Self {
        // The strictest rules: marketing only by opt-in.
        Self {
            default_region: "EU".into(),
        }
    }
}

/// The self-service account portal (`/account`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalSettings {
    /// How recent a sign-in must be (seconds) to set a first password or to delete the account.
    pub recent_auth_seconds: u64,
    /// Days between a deletion request and the erasure; signing in during them restores the account.
    pub deletion_grace_days: u64,
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            recent_auth_seconds: 300,
            deletion_grace_days: 30,
        }
    }
}

/// Passkeys (WebAuthn): the relying party every passkey is bound to. Empty `rp_id` and `origin` follow
/// the issuer; an issuer on an IP address (no domain) leaves passkeys off unless both are set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasskeySettings {
    /// The relying party id (a domain): the issuer's host, or a registrable suffix of it.
    pub rp_id: String,
    /// The origin browsers sign in from (`https://id.example.com`): the issuer's origin by default.
    pub origin: String,
    /// The name authenticators show next to the passkey.
    pub rp_name: String,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        Self {
            rp_id: String::new(),
            origin: String::new(),
            rp_name: "Gatehouse".into(),
        }
    }
}

impl PasskeySettings {
    /// The relying party id and origin in force for this issuer: `None` when passkeys are off (the
    /// defaults, with an issuer whose host is not a domain); an error names a bad setting.
    pub fn relying_party(&self, issuer: &str) -> Result<Option<(String, url::Url)>, String> {
        let explicit = !self.rp_id.is_empty() || !self.origin.is_empty();
        let origin_text = if self.origin.is_empty() {
            issuer
        } else {
            self.origin.as_str()
        };
        let origin =
            url::Url::parse(origin_text).map_err(|e| format!("passkeys.origin is not a URL: {e}"))?;
        if !matches!(origin.scheme(), "http" | "https")
            || origin.query().is_some()
            || origin.fragment().is_some()
            || (!self.origin.is_empty() && origin.path() != "/")
        {
            return Err("passkeys.origin must be an http(s) origin without path, query or fragment".into());
        }
        let Some(host) = origin.domain().map(str::to_ascii_lowercase) else {
            // WebAuthn relying parties are domains: no passkeys on an IP address.
            return if explicit {
                Err("passkeys.origin must have a domain name, not an IP address".into())
            } else {
                Ok(None)
            };
        };
        let rp_id = if self.rp_id.is_empty() {
            host.clone()
        } else {
            self.rp_id.to_ascii_lowercase()
        };
        // WebAuthn §5.1.4.1: the RP ID must be the origin's effective domain or a registrable suffix of it.
        let suffix = host == rp_id || host.ends_with(&format!(".{rp_id}"));
        // A top-level domain alone is never registrable (`com`); `localhost` is the one single label
        // browsers accept. Deeper public suffixes (`co.uk`) are refused by browsers at the ceremony.
        let well_formed = (rp_id.contains('.') || rp_id == "localhost")
            && !rp_id.starts_with('.')
            && !rp_id.ends_with('.')
            && rp_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
        if !suffix || !well_formed {
            return Err(format!(
                "passkeys.rp_id `{rp_id}` must be the origin's host `{host}` or a parent domain of it"
            ));
        }
        let origin = url::Url::parse(&origin.origin().ascii_serialization())
            .map_err(|e| format!("passkeys.origin: {e}"))?;
        Ok(Some((rp_id, origin)))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// The issuer URL: every endpoint and link is derived from it, never from request headers.
    pub issuer: String,
    pub bind: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    pub tls: TlsSettings,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain; with `key`, Gatehouse serves HTTPS (TLS 1.2+) itself.
    pub cert: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

/// Per-node quotas, each `N/period` (`30/min`, `10/15min`, `5/s`, `1000/h`): a burst of N that refills
/// at N per period (GCRA). Counters are in memory on each node; correctness never depends on them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub authorize_per_ip: String,
    pub sign_in_per_ip: String,
    /// Per account identifier: repeated attempts slow down instead of locking the owner out.
    pub sign_in_per_account: String,
    pub token_per_ip: String,
    pub token_per_client: String,
    /// A failed client authentication costs this many `token_per_ip` cells.
    pub client_auth_failure_cost: u32,
    pub introspect_per_client: String,
    pub revoke_per_client: String,
    pub userinfo_per_ip: String,
    pub end_session_per_ip: String,
    /// Sign-ins started at upstream providers and their callbacks, per IP.
    pub upstream_per_ip: String,
    /// Email codes requested or checked from one IP address.
    pub email_code_per_ip: String,
    /// Email codes sent to one address (however many IPs ask).
    pub email_code_per_account: String,
    /// Second-factor attempts (TOTP, recovery code, passkey as second factor) for one account.
    pub second_factor_per_account: String,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            authorize_per_ip: "120/min".into(),
            sign_in_per_ip: "30/min".into(),
            sign_in_per_account: "10/15min".into(),
            token_per_ip: "1200/min".into(),
            token_per_client: "60000/min".into(),
            client_auth_failure_cost: 10,
            introspect_per_client: "60000/min".into(),
            revoke_per_client: "1200/min".into(),
            userinfo_per_ip: "1200/min".into(),
            end_session_per_ip: "60/min".into(),
            upstream_per_ip: "60/min".into(),
            email_code_per_ip: "30/15min".into(),
            email_code_per_account: "5/15min".into(),
            second_factor_per_account: "10/15min".into(),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path` or `postgres://user:password@host/db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// Base64 of 32 random bytes that seal the signing keys at rest. Empty: use `dev_key_file`.
    #[serde(serialize_with = "serialize_redacted")]
    pub encryption_key: SecretString,
    /// Where a generated development key is kept when `encryption_key` is empty.
    pub dev_key_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub authorization_code_ttl: u64,
    pub access_token_ttl: u64,
    pub id_token_ttl: u64,
    pub refresh_token_idle_ttl: u64,
    pub refresh_token_absolute_ttl: u64,
    /// Also put the scope-released profile/email claims in the ID token (they are always in userinfo).
    pub claims_in_id_token: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// Lifetime of a browser sign-in session, in seconds.
    pub ttl: u64,
    /// How long a user has to finish an authorization (sign in, consent), in seconds.
    pub authorization_request_ttl: u64,
    /// An ordinary session ends after this many seconds without a browser request.
    pub idle_timeout: u64,
    /// Absolute lifetime of a "keep me signed in" session, in seconds.
    pub remember_ttl: u64,
    /// A remembered session ends after this many seconds without a browser request.
    pub remember_idle_timeout: u64,
    /// A remembered session's cookie value is replaced this often, in seconds (at least 60).
    pub rotate_after: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `gatehouse=debug,actix_web=info`. `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            trusted_proxies: Vec::new(),
            tls: TlsSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/gatehouse.db".into(),
            max_connections: 8,
        }
    }
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            encryption_key: SecretString::from(""),
            dev_key_file: "data/encryption.key".into(),
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            authorization_code_ttl: 60,
            access_token_ttl: 600,
            id_token_ttl: 600,
            refresh_token_idle_ttl: 14 * 86_400,
            refresh_token_absolute_ttl: 30 * 86_400,
            claims_in_id_token: false,
        }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            ttl: 12 * 3600,
            authorization_request_ttl: 600,
            idle_timeout: 8 * 3600,
            remember_ttl: 30 * 86_400,
            remember_idle_timeout: 7 * 86_400,
            rotate_after: 86_400,
        }
    }
}

impl SessionSettings {
    /// Idle timeouts fit inside their absolute lifetimes; rotation is no faster than its grace.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.idle_timeout > self.ttl {
            return Err(ConfigError(
                "sessions.idle_timeout must be at most sessions.ttl".into(),
            ));
        }
        if self.remember_idle_timeout > self.remember_ttl {
            return Err(ConfigError(
                "sessions.remember_idle_timeout must be at most sessions.remember_ttl".into(),
            ));
        }
        if self.rotate_after < 60 {
            return Err(ConfigError(
                "sessions.rotate_after must be at least 60 (the grace of a rotated cookie)".into(),
            ));
        }
        Ok(())
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// A database URL fit for logs: the password replaced by `***`.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => raw.to_string(),
    }
}

pub(crate) fn serialize_redacted<S: Serializer>(_: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("")
}

impl KeySettings {
    pub fn configured_key(&self) -> Option<&str> {
        let key = self.encryption_key.expose_secret().trim();
        (!key.is_empty()).then_some(key)
    }
}

/// Why the settings were refused; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads the settings: defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// As `load`, with the environment passed in (for tests).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut merged = defaults_table();
        // The only list of tables; absent from the defaults (and the example file) when empty.
        merged.insert("upstreams".into(), Value::Array(Vec::new()));
        merged.insert("scopes".into(), Value::Array(Vec::new()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            let table: Table =
                toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            merge_file(&mut merged, table, "")?;
        }
        for (name, value) in env {
            if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
                apply_env(&mut merged, name, rest, value)?;
            }
        }
        let settings: Settings = serde_path_to_error::deserialize(Value::Table(merged))
            .map_err(|e| ConfigError(format!("invalid value for `{}`: {}", e.path(), e.inner())))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.mail.check().map_err(ConfigError)?;
        let issuer = url::Url::parse(&self.server.issuer)
            .map_err(|e| ConfigError(format!("server.issuer is not a URL: {e}")))?;
        if !matches!(issuer.scheme(), "http" | "https")
            || issuer.query().is_some()
            || issuer.fragment().is_some()
        {
            return Err(ConfigError(
                "server.issuer must be an http(s) URL without query or fragment".into(),
            ));
        }
        self.server.bind.parse::<SocketAddr>().map_err(|e| {
            ConfigError(format!(
                "server.bind `{}` is not an address: {e}",
                self.server.bind
            ))
        })?;
        crate::store::sql::Backend::from_url(&self.database.url)
            .map_err(|e| ConfigError(format!("database.url: {e}")))?;
        if self.database.max_connections == 0 {
            return Err(ConfigError("database.max_connections must be at least 1".into()));
        }
        if let Some(key) = self.keys.configured_key() {
            decode_key(key).map_err(|e| ConfigError(format!("keys.encryption_key: {e}")))?;
        }
        for (name, value) in [
            (
                "tokens.authorization_code_ttl",
                self.tokens.authorization_code_ttl,
            ),
            ("tokens.access_token_ttl", self.tokens.access_token_ttl),
            ("tokens.id_token_ttl", self.tokens.id_token_ttl),
            (
                "tokens.refresh_token_idle_ttl",
                self.tokens.refresh_token_idle_ttl,
            ),
            (
                "tokens.refresh_token_absolute_ttl",
                self.tokens.refresh_token_absolute_ttl,
            ),
            ("sessions.ttl", self.sessions.ttl),
            (
                "sessions.authorization_request_ttl",
                self.sessions.authorization_request_ttl,
            ),
            ("sessions.idle_timeout", self.sessions.idle_timeout),
            ("sessions.remember_ttl", self.sessions.remember_ttl),
            (
                "sessions.remember_idle_timeout",
                self.sessions.remember_idle_timeout,
            ),
            ("sessions.rotate_after", self.sessions.rotate_after),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("{name} must be greater than 0")));
            }
        }
        self.sessions.validate()?;
        for proxy in &self.server.trusted_proxies {
            proxy
                .parse::<crate::client_ip::Cidr>()
                .map_err(|e| ConfigError(format!("server.trusted_proxies: {e}")))?;
        }
        if self.server.tls.cert.is_empty() != self.server.tls.key.is_empty() {
            return Err(ConfigError(
                "server.tls.cert and server.tls.key go together".into(),
            ));
        }
        for (name, value) in self.rate_limits.quotas() {
            crate::rate_limit::Rate::parse(value)
                .map_err(|e| ConfigError(format!("rate_limits.{name}: {e}")))?;
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError("log.format must be `text` or `json`".into()));
        }
        for (name, value) in [
            ("federation.timeout", self.federation.timeout),
            ("federation.connect_timeout", self.federation.connect_timeout),
            (
                "federation.max_response_bytes",
                self.federation.max_response_bytes,
            ),
            ("federation.state_ttl", self.federation.state_ttl),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("{name} must be greater than 0")));
            }
        }
        if self.portal.recent_auth_seconds == 0 {
            return Err(ConfigError(
                "portal.recent_auth_seconds must be greater than 0".into(),
            ));
        }
        if self.portal.deletion_grace_days > 3650 {
            return Err(ConfigError(
                "portal.deletion_grace_days must be at most 3650".into(),
            ));
        }
        self.passkeys
            .relying_party(&self.server.issuer)
            .map_err(ConfigError)?;
        if self.passkeys.rp_name.trim().is_empty() {
            return Err(ConfigError("passkeys.rp_name must not be empty".into()));
        }
        if crate::protocol::jurisdiction::normalise(&self.consent.default_region).is_none() {
            return Err(ConfigError(
                "consent.default_region must be a region code such as EU, DE or US-CA".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for s in &self.scopes {
            let standard_claim = |c: &str| {
                crate::protocol::claims::SCOPE_CLAIMS
                    .iter()
                    .any(|(_, claims)| claims.contains(&c))
                    || ["sub", "org_id", "org_slug", "org_name", "roles", "permissions"].contains(&c)
            };
            if !crate::protocol::scope::is_valid_token(&s.name)
                || crate::protocol::scope::USER_SCOPES.contains(&s.name.as_str())
                || !names.insert(s.name.as_str())
            {
                return Err(ConfigError(format!(
                    "scopes: `{}` must be a new, unique scope name",
                    s.name
                )));
            }
            if s.claims.is_empty()
                || s.claims
                    .iter()
                    .any(|c| !crate::protocol::scope::is_valid_token(c) || standard_claim(c))
            {
                return Err(ConfigError(format!(
                    "scopes `{}`: claims must be attribute names that are not standard claims",
                    s.name
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for spec in &self.upstreams {
            crate::upstream::validate(spec)
                .map_err(|e| ConfigError(format!("upstreams `{}`: {e}", spec.id)))?;
            if !seen.insert(spec.id.as_str()) {
                return Err(ConfigError(format!(
                    "upstreams: id `{}` is declared twice",
                    spec.id
                )));
            }
        }
        Ok(())
    }

    /// The issuer without a trailing slash, as it appears in `iss`.
    pub fn issuer(&self) -> &str {
        self.server.issuer.trim_end_matches('/')
    }

    pub fn dev_key_path(&self) -> PathBuf {
        PathBuf::from(&self.keys.dev_key_file)
    }
}

impl RateLimitSettings {
    /// Every quota by its setting name.
    pub fn quotas(&self) -> [(&'static str, &str); 13] {
        [
            ("authorize_per_ip", &self.authorize_per_ip),
            ("sign_in_per_ip", &self.sign_in_per_ip),
            ("sign_in_per_account", &self.sign_in_per_account),
            ("token_per_ip", &self.token_per_ip),
            ("token_per_client", &self.token_per_client),
            ("introspect_per_client", &self.introspect_per_client),
            ("revoke_per_client", &self.revoke_per_client),
            ("userinfo_per_ip", &self.userinfo_per_ip),
            ("end_session_per_ip", &self.end_session_per_ip),
            ("upstream_per_ip", &self.upstream_per_ip),
            ("email_code_per_ip", &self.email_code_per_ip),
            ("email_code_per_account", &self.email_code_per_account),
            ("second_factor_per_account", &self.second_factor_per_account),
        ]
    }
}

/// Decodes a base64 (standard or URL-safe) 32-byte key.
pub fn decode_key(text: &str) -> Result<[u8; 32], String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let trimmed = text.trim().trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD.decode(text.trim()))
        .map_err(|_| "must be base64 of 32 random bytes (e.g. `openssl rand -base64 32`)".to_string())?;
    bytes
        .try_into()
        .map_err(|_| "must decode to exactly 32 bytes".to_string())
}

pub fn defaults_table() -> Table {
    match Value::try_from(Settings::default()) {
        Ok(Value::Table(t)) => t,
        _ => unreachable!("Settings serialise to a table"),
    }
}

fn merge_file(into: &mut Table, from: Table, prefix: &str) -> Result<(), ConfigError> {
    for (key, value) in from {
        let path = format!("{prefix}{key}");
        match (into.get_mut(&key), value) {
            (None, _) => return Err(ConfigError(format!("unknown setting `{path}`"))),
            (Some(Value::Table(inner)), Value::Table(v)) => merge_file(inner, v, &format!("{path}."))?,
            (Some(Value::Table(_)), _) => {
                return Err(ConfigError(format!("`{path}` must be a [section]")));
            }
            (Some(slot), v) => *slot = v,
        }
    }
    Ok(())
}

/// Applies `GATEHOUSE__SECTION__KEY=value` (or `__SECTION__SUB__KEY`), coercing the text to the type
/// of the default; lists are comma-separated.
fn apply_env(into: &mut Table, name: &str, rest: &str, raw: &str) -> Result<(), ConfigError> {
    let unknown = || ConfigError(format!("unknown setting in environment variable {name}"));
    let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
    let (key, sections) = path.split_last().ok_or_else(unknown)?;
    if sections.is_empty() {
        return Err(unknown());
    }
    let mut table = into;
    for section in sections {
        table = table
            .get_mut(section)
            .and_then(Value::as_table_mut)
            .ok_or_else(unknown)?;
    }
    let slot = table.get_mut(key).ok_or_else(unknown)?;
    let bad = |what: &str| ConfigError(format!("{name}: `{raw}` is not {what}"));
    *slot = match slot {
        Value::Integer(_) => Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        Value::Boolean(_) => Value::Boolean(raw.trim().parse().map_err(|_| bad("true or false"))?),
        Value::Array(_) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| Value::String(v.into()))
                .collect(),
        ),
        Value::Table(_) => return Err(unknown()),
        _ => Value::String(raw.to_string()),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.server.issuer, "http://127.0.0.1:8080");
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.database.url, "sqlite://data/gatehouse.db");
    }

    #[test]
    fn session_lifetimes_are_checked_against_each_other() {
        for (pairs, message) in [
            (
                &[("GATEHOUSE__SESSIONS__IDLE_TIMEOUT", "50000")][..],
                "sessions.idle_timeout must be at most sessions.ttl",
            ),
            (
                &[("GATEHOUSE__SESSIONS__REMEMBER_IDLE_TIMEOUT", "3000000")][..],
                "sessions.remember_idle_timeout must be at most sessions.remember_ttl",
            ),
            (
                &[("GATEHOUSE__SESSIONS__ROTATE_AFTER", "30")][..],
                "sessions.rotate_after",
            ),
            (
                &[("GATEHOUSE__SESSIONS__REMEMBER_TTL", "0")][..],
                "sessions.remember_ttl",
            ),
        ] {
            let error = Settings::load_from(None, &env(pairs)).unwrap_err().to_string();
            assert!(error.contains(message), "{error}");
        }
    }

    #[test]
    fn environment_overrides_with_types() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("GATEHOUSE__SERVER__ISSUER", "https://id.example.com"),
                ("GATEHOUSE__TOKENS__ACCESS_TOKEN_TTL", "120"),
                ("GATEHOUSE__TOKENS__CLAIMS_IN_ID_TOKEN", "true"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.issuer(), "https://id.example.com");
        assert_eq!(s.tokens.access_token_ttl, 120);
        assert!(s.tokens.claims_in_id_token);
    }

    #[test]
    fn environment_reaches_nested_sections_and_lists() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("GATEHOUSE__SERVER__TLS__CERT", "certs/dev.pem"),
                ("GATEHOUSE__SERVER__TLS__KEY", "certs/dev.key"),
                ("GATEHOUSE__SERVER__TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.1"),
                ("GATEHOUSE__RATE_LIMITS__SIGN_IN_PER_IP", "5/min"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.tls.cert, "certs/dev.pem");
        assert_eq!(s.server.trusted_proxies, vec!["10.0.0.0/8", "192.168.0.1"]);
        assert_eq!(s.rate_limits.sign_in_per_ip, "5/min");
        for (name, value) in [
            ("GATEHOUSE__SERVER__TLS", "x"),
            ("GATEHOUSE__SERVER__TRUSTED_PROXIES", "10.0.0.0/99"),
            ("GATEHOUSE__RATE_LIMITS__TOKEN_PER_IP", "lots"),
            ("GATEHOUSE__SERVER__TLS__CERT", "only-a-cert.pem"),
        ] {
            let e = Settings::load_from(None, &env(&[(name, value)])).unwrap_err();
            let shown = e.to_string();
            assert!(
                shown.contains(name) || shown.contains("server.") || shown.contains("rate_limits."),
                "{shown}"
            );
        }
    }

    #[test]
    fn unknown_and_bad_environment_values_name_the_key() {
        let e = Settings::load_from(None, &env(&[("GATEHOUSE__SERVER__BINDD", "x")])).unwrap_err();
        assert!(e.to_string().contains("GATEHOUSE__SERVER__BINDD"), "{e}");
        let e =
            Settings::load_from(None, &env(&[("GATEHOUSE__TOKENS__ACCESS_TOKEN_TTL", "soon")])).unwrap_err();
        assert!(
            e.to_string().contains("GATEHOUSE__TOKENS__ACCESS_TOKEN_TTL"),
            "{e}"
        );
        let e = Settings::load_from(None, &env(&[("GATEHOUSE__SERVER__BIND", "nowhere")])).unwrap_err();
        assert!(e.to_string().contains("server.bind"), "{e}");
    }

    #[test]
    fn unknown_and_bad_file_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, "[server]\nissuer = \"https://x\"\nbnd = \"1\"\n").unwrap();
        let e = Settings::load_from(Some(&path), &[]).unwrap_err();
        assert!(e.to_string().contains("server.bnd"), "{e}");
        std::fs::write(&path, "[tokens]\naccess_token_ttl = \"long\"\n").unwrap();
        let e = Settings::load_from(Some(&path), &[]).unwrap_err();
        assert!(e.to_string().contains("tokens.access_token_ttl"), "{e}");
        std::fs::write(&path, "[database]\nurl = \"mysql://x\"\n").unwrap();
        let e = Settings::load_from(Some(&path), &[]).unwrap_err();
        assert!(e.to_string().contains("database.url"), "{e}");
    }

    #[test]
    fn database_passwords_never_reach_debug_output() {
        let mut s = Settings::default();
        s.database.url = "postgres://gate:hunter2@db.internal/gatehouse".into();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("postgres://gate:***@db.internal/gatehouse"),
            "{printed}"
        );
    }

    #[test]
    fn the_example_file_documents_every_setting_with_its_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/gatehouse.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let example: Table = toml::from_str(&text).unwrap();
        assert_eq!(
            example,
            defaults_table(),
            "config/gatehouse.example.toml is out of date"
        );
    }
}
