//! The records the store keeps. Plain data; the SQL layer maps them to rows.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Client {
    #[serde(rename = "client_id")]
    pub id: String,
    pub name: String,
    /// SHA-256 of the secret (base64url); `None` for public clients.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub id_token_alg: String,
    pub skip_consent: bool,
    pub created_at: i64,
    /// Browser origins allowed to call `/token`, `/revoke` and `/userinfo` (CORS).
    pub allowed_origins: Vec<String>,
    /// Organization ids this client may be used with; empty: any (and none).
    pub organizations: Vec<String>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    #[serde(rename = "user_id")]
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Everything else the person told us or an upstream asserted.
    pub profile: Profile,
    /// How far the identity has grown (light: name and verified email only).
    pub level: IdentityLevel,
    /// The region the person declared (`DE`, `EU`, `US-CA`): selects the consent rules that apply.
    pub region: Option<String>,
    /// The person asked for erasure: it happens at this time unless they sign in before.
    pub deletion_scheduled_at: Option<i64>,
}

/// How far an identity has grown (issue "progressive identity"). Released as the `identity_level` claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityLevel {
    /// A name and an email verified by a one-time code; no password, passkey or linked provider.
    Light,
    /// A password, a passkey or a linked provider.
    #[default]
    Full,
}

impl IdentityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityLevel::Light => "light",
            IdentityLevel::Full => "full",
        }
    }

    /// Unknown stored values read as `Full`, the level that promises least about how the account began.
    pub fn parse(s: &str) -> Self {
        if s == "light" {
            IdentityLevel::Light
        } else {
            IdentityLevel::Full
        }
    }
}

/// What one client asks of the people who use it, beyond the protocol: light sign-up, profile fields
/// (progressive profiling), consent documents and the default region for consent rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ClientPolicy {
    pub client_id: String,
    /// `prompt=create` may create light accounts (name + email verified by a code) through this client.
    pub allow_light_accounts: bool,
    /// Profile claims (`given_name`, `birthdate`, …) a person must have before this client gets a code.
    pub required_fields: Vec<String>,
    /// Profile claims asked for alongside missing required ones; the person may leave them empty.
    pub optional_fields: Vec<String>,
    /// Consent documents (ids) whose current version a person must have accepted for this client.
    pub required_documents: Vec<String>,
    /// The region whose consent rules apply to people who declared none.
    pub region: Option<String>,
}

/// A one-time code sent by email: the challenge a browser must answer to sign in or to finish a light
/// sign-up. Only hashes are stored; the code is keyed-hashed because six digits are easy to enumerate.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailCode {
    /// SHA-256 of the challenge id (the page carries the id).
    pub id_hash: String,
    /// HMAC of the code under the gateway's secret.
    pub code_hash: String,
    pub browser_hash: String,
    pub email: String,
    /// `sign_in` or `sign_up`.
    pub purpose: String,
    /// The pending authorization this code continues, if any (else the account page).
    pub request_id: Option<String>,
    /// Without a pending authorization: the page of ours to open after signing in (an invitation).
    pub return_to: Option<String>,
    /// The name given at sign-up.
    pub name: Option<String>,
    pub attempts: i32,
    pub created_at: i64,
    pub expires_at: i64,
}

/// OIDC Core §5.1 standard claims beyond name and email, and operator-defined attributes (released
/// by custom scopes). Absent values are omitted everywhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// `YYYY-MM-DD` or `YYYY` (OIDC Core §5.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// E.164, e.g. `+14155550100`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub phone_number_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Operator-defined attributes (`[[scopes]]` in the config file maps scopes to them).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, serde_json::Value>,
}

/// OIDC Core §5.1.1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// SHA-256 of the cookie value; the raw id never reaches the database.
    pub id_hash: String,
    pub user_id: String,
    pub auth_time: i64,
    /// Space-separated RFC 8176 method references.
    pub amr: String,
    /// The upstream connection the user signed in through, if any (the `idp` claim).
    pub idp: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Only the first factor is done and a second is due (issue 8): the session counts as signed in
    /// nowhere but on the second-factor page.
    pub pending_factor: bool,
    /// "Keep me signed in" was chosen: the longer `sessions.remember_*` lifetimes apply and the cookie
    /// value is rotated every `sessions.rotate_after`.
    pub persistent: bool,
    /// The last browser request seen with this session (written at most once a minute).
    pub last_seen_at: i64,
    /// A short summary of the browser's User-Agent ("Firefox on Linux"), for the sessions page.
    pub user_agent: String,
    /// The id hash this session had before its last rotation, valid for a short grace after `rotated_at`.
    pub previous_id_hash: Option<String>,
    /// When the cookie value was last replaced (the start of the session until then).
    pub rotated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    /// Identifies everything issued from this code (the "grant"), for revocation.
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub acr: Option<String>,
    pub amr: String,
    /// The upstream connection the user signed in through, if any (the `idp` claim).
    pub idp: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The organization the grant was made for (the B2B context), if any.
    pub organization_id: Option<String>,
    /// Claims the client asked to receive in the ID token (`claims` parameter), within its scopes.
    pub id_token_claims: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub acr: Option<String>,
    pub amr: String,
    /// The upstream connection the user signed in through, if any (the `idp` claim).
    pub idp: Option<String>,
    pub created_at: i64,
    /// Idle expiry of this token.
    pub expires_at: i64,
    /// Absolute expiry of the whole grant, carried over on rotation.
    pub grant_expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Carried over on rotation from the code.
    pub organization_id: Option<String>,
    /// Claims the client asked to receive in the ID token (`claims` parameter), within its scopes.
    pub id_token_claims: Vec<String>,
}

impl RefreshToken {
    pub fn is_active(&self, now: i64) -> bool {
        self.used_at.is_none()
            && self.revoked_at.is_none()
            && self.expires_at > now
            && self.grant_expires_at > now
    }
}

/// What a successful sign-in records, in one transaction (issue 6: one write per sign-in): the new
/// session, the sessions it replaces in this browser, its audit records, and the authorization code when
/// the sign-in answers an authorization request at once.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInRecord {
    pub session: Session,
    /// Id hashes of the browser's previous session (current and pre-rotation value) to end.
    pub ends: Vec<String>,
    pub audit: Vec<crate::audit::AuditEvent>,
    pub code: Option<AuthorizationCode>,
}

/// What a redemption records in the same transaction that consumes the code or token.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueRecord {
    pub access_jti: String,
    pub access_expires_at: i64,
    pub refresh: Option<RefreshToken>,
    /// The `token.issued` audit record: committed with the redemption, so tokens never leave
    /// unrecorded and the issuance costs no commit of its own.
    pub audit: crate::audit::AuditEvent,
}

/// The outcome of consuming a single-use artefact.
#[derive(Debug, Clone, PartialEq)]
pub enum Redemption<T> {
    /// Consumed now, and what `issue` returned was stored.
    Issued(T),
    /// Consumed now, but `issue` refused.
    Rejected(T),
    /// Presented a second time: its grant has been revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    /// PKCS#8, sealed with the configured encryption key (nonce ‖ ciphertext ‖ tag).
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// An upstream connection created by CLI. `spec` is the `UpstreamSpec` as JSON without secrets;
/// `secrets` is the client secret (and Apple key) sealed with the encryption key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUpstream {
    pub id: String,
    pub spec: String,
    pub secrets: Vec<u8>,
    /// Lower-cased email domains this connection claims.
    pub domains: Vec<String>,
    pub created_at: i64,
}

/// An upstream identity linked to a local user, keyed by (connection, upstream subject).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Identity {
    pub connection_id: String,
    pub subject: String,
    pub user_id: String,
    /// The email the upstream asserted at the last sign-in (informational, never a key).
    pub email: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
}

/// A sign-in in flight at an upstream provider, keyed by the SHA-256 of the `state` sent there.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamState {
    pub state_hash: String,
    pub browser_hash: String,
    pub connection_id: String,
    /// What to do on return (JSON, owned by the federation flow).
    pub purpose: String,
    /// The nonce and PKCE verifier, sealed.
    pub secrets: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Permission to link one exact upstream identity to `user_id` once this browser proves control of
/// that account. Single use.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkProof {
    pub id_hash: String,
    pub browser_hash: String,
    pub connection_id: String,
    pub subject: String,
    pub user_id: String,
    pub email: Option<String>,
    /// The authorization request to continue afterwards.
    pub request_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A B2B tenant.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Organization {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// Verified email domains (lower-case): home-realm discovery and `sso_required`.
    pub domains: Vec<String>,
    /// The organization's own upstream connection, if any.
    pub connection_id: Option<String>,
    /// Members whose email domain is the organization's may sign in only through its connection.
    pub sso_required: bool,
    pub created_at: i64,
}

/// A role of one organization: a name and the permissions it grants (`invoices:read`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Role {
    pub organization_id: String,
    pub name: String,
    pub permissions: Vec<String>,
    pub created_at: i64,
}

/// A user's membership of an organization and the roles they hold there.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Member {
    pub organization_id: String,
    pub user_id: String,
    pub roles: Vec<String>,
    pub created_at: i64,
}

/// An invitation to join an organization with roles; single use, expiring.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Invitation {
    #[serde(skip)]
    pub id_hash: String,
    pub organization_id: String,
    pub email: String,
    pub roles: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub accepted_by: Option<String>,
}

/// What a consent document is for. Marketing documents are never required (GDPR Art. 7(4): consent to
/// marketing may not be a condition of the service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentPurpose {
    Terms,
    Privacy,
    Marketing,
}

/// A versioned document people accept: terms of service, a privacy policy, a marketing purpose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentDocument {
    /// A slug: `terms`, `privacy`, `marketing-email`.
    pub id: String,
    pub title: String,
    pub purpose: ConsentPurpose,
    /// Gateway-wide: every client requires its current version.
    pub required: bool,
    pub created_at: i64,
}

/// One published version of a document. Versions are numbered 1, 2, … on publication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentDocumentVersion {
    pub document_id: String,
    pub version: i64,
    /// Where the text is.
    pub url: String,
    /// One line shown on the consent page.
    pub summary: String,
    /// People who accepted an older version are asked again.
    pub reconsent_required: bool,
    pub published_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    Accepted,
    Withdrawn,
}

/// How a consent was given or withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// On the documents page during an authorization.
    Authorization,
    Signup,
    /// On the account portal.
    Portal,
    /// By an operator, for a request that arrived by other channels.
    Admin,
    /// A pre-ticked box shown with an opt-out notice, submitted ticked (e.g. California).
    OptOutNotice,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:ident = $text:literal),+ }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}
text_enum!(ConsentPurpose { Terms = "terms", Privacy = "privacy", Marketing = "marketing" });
text_enum!(ConsentAction { Accepted = "accepted", Withdrawn = "withdrawn" });
text_enum!(ConsentMethod {
    Authorization = "authorization",
    Signup = "signup",
    Portal = "portal",
    Admin = "admin",
    OptOutNotice = "opt_out_notice"
});

/// One acceptance or withdrawal: immutable evidence (who, which document and version, when, how, from
/// which client and region).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentRecord {
    /// Assigned by the store, increasing: the order of the records.
    pub id: i64,
    /// The person, or after erasure a pseudonym.
    pub user_id: String,
    pub document_id: String,
    pub version: i64,
    pub action: ConsentAction,
    pub at: i64,
    pub method: ConsentMethod,
    pub client_id: Option<String>,
    pub region: Option<String>,
}

/// A record to append (its id is assigned by the store).
#[derive(Debug, Clone, PartialEq)]
pub struct NewConsentRecord {
    pub user_id: String,
    pub document_id: String,
    pub version: i64,
    pub action: ConsentAction,
    pub at: i64,
    pub method: ConsentMethod,
    pub client_id: Option<String>,
    pub region: Option<String>,
}

/// Which records an operator or auditor asks for; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsentRecordFilter {
    pub user_id: Option<String>,
    pub document_id: Option<String>,
    /// Only records at or after this time.
    pub since: Option<i64>,
}

/// A subject people can hear about (`news`: "Product news"), offered on some channels (`email`, `sms`).
/// Defined by the operator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreferenceTopic {
    pub id: String,
    pub name: String,
    pub description: String,
    pub channels: Vec<String>,
    pub created_at: i64,
}

/// One person's choice for one topic on one channel. No record means not subscribed (opt-in).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserPreference {
    #[serde(skip)]
    pub user_id: String,
    #[serde(rename = "topic")]
    pub topic_id: String,
    pub channel: String,
    pub subscribed: bool,
    pub updated_at: i64,
    /// How the latest choice was made: `portal`, `unsubscribe_link` or `admin`.
    pub source: String,
}

/// An authenticator app (RFC 6238 TOTP) of one user. The secret is sealed (AEAD) by the flows; the
/// store never sees it in the clear.
#[derive(Debug, Clone, PartialEq)]
pub struct TotpFactor {
    pub id: String,
    pub user_id: String,
    pub sealed_secret: String,
    pub label: String,
    /// False while enrolment waits for the first correct code.
    pub confirmed: bool,
    /// The last time step whose code was accepted (each code works once).
    pub last_step: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Who an MFA policy belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaOwner {
    Client,
    Organization,
}
text_enum!(MfaOwner { Client = "client", Organization = "organization" });

/// A client's or organization's second-factor policy.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MfaPolicy {
    #[serde(skip)]
    pub owner: MfaOwner,
    #[serde(skip)]
    pub owner_id: String,
    /// Every sign-in through this client (for this organization) needs two factors.
    pub required: bool,
    /// Second factors that count (`totp`, `passkey`, `recovery_code`); empty: all.
    pub factors: Vec<String>,
    /// Only a passkey sign-in is accepted (phishing-resistant).
    pub passkey_only: bool,
}

/// A passkey (WebAuthn credential) registered to an account.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPasskey {
    /// Our id (random), used in the portal's forms.
    pub id: String,
    pub user_id: String,
    /// The WebAuthn credential id, base64url: unique across all accounts.
    pub credential_id: String,
    /// The person's name for it ("Laptop", "YubiKey").
    pub name: String,
    /// The webauthn-rs `Passkey` as JSON: public key, signature counter, backup state. No secret.
    pub passkey: String,
    /// Backup eligible: a synced passkey (`swk`) rather than one bound to its device (`hwk`).
    pub backup_eligible: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Set when its signature counter went backwards (a cloned authenticator): it no longer signs in.
    pub flagged_at: Option<i64>,
}
