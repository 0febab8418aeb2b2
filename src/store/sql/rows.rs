//! Row types: the store's records as diesel sees them. Lists are stored as space-separated text
//! (scopes, grant types) or JSON arrays (URIs, which may contain spaces only when malformed).

use diesel::prelude::*;

use super::schema::*;
use crate::store::{AuthorizationCode, Client, RefreshToken, Session, StoredKey, User};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub id_token_alg: String,
    pub skip_consent: bool,
    pub created_at: i64,
    pub allowed_origins: String,
    pub organizations: String,
}

pub(super) fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

pub(super) fn parse_json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The `amr` column also carries the upstream connection as an `idp:<id>` word (connection ids have no
/// spaces), so sessions, codes and refresh tokens record it without another column.
fn with_idp(amr: &str, idp: &Option<String>) -> String {
    match idp {
        Some(idp) => format!("{amr} idp:{idp}"),
        None => amr.to_string(),
    }
}

fn amr_of(column: &str) -> String {
    column
        .split_whitespace()
        .filter(|w| !w.starts_with("idp:"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn idp_of(column: &str) -> Option<String> {
    column
        .split_whitespace()
        .find_map(|w| w.strip_prefix("idp:"))
        .map(str::to_string)
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

impl From<&Client> for ClientRow {
    fn from(c: &Client) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            secret_hash: c.secret_hash.clone(),
            redirect_uris: json_list(&c.redirect_uris),
            post_logout_redirect_uris: json_list(&c.post_logout_redirect_uris),
            grant_types: c.grant_types.join(" "),
            scopes: c.scopes.join(" "),
            id_token_alg: c.id_token_alg.clone(),
            skip_consent: c.skip_consent,
            created_at: c.created_at,
            allowed_origins: json_list(&c.allowed_origins),
            organizations: json_list(&c.organizations),
        }
    }
}

impl From<ClientRow> for Client {
    fn from(r: ClientRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: parse_json_list(&r.redirect_uris),
            post_logout_redirect_uris: parse_json_list(&r.post_logout_redirect_uris),
            grant_types: words(&r.grant_types),
            scopes: words(&r.scopes),
            id_token_alg: r.id_token_alg,
            skip_consent: r.skip_consent,
            created_at: r.created_at,
            allowed_origins: parse_json_list(&r.allowed_origins),
            organizations: parse_json_list(&r.organizations),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub profile: String,
    pub level: String,
    pub region: Option<String>,
    pub deletion_scheduled_at: Option<i64>,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.to_lowercase(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            password_hash: u.password_hash.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            profile: serde_json::to_string(&u.profile).unwrap_or_else(|_| "{}".into()),
            level: u.level.as_str().to_string(),
            region: u.region.clone(),
            deletion_scheduled_at: u.deletion_scheduled_at,
        }
    }
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            email: r.email,
            email_verified: r.email_verified,
            name: r.name,
            password_hash: r.password_hash,
            created_at: r.created_at,
            updated_at: r.updated_at,
            profile: serde_json::from_str(&r.profile).unwrap_or_default(),
            level: crate::store::IdentityLevel::parse(&r.level),
            region: r.region,
            deletion_scheduled_at: r.deletion_scheduled_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub pending_factor: bool,
    pub persistent: bool,
    pub last_seen_at: i64,
    pub user_agent: String,
    pub previous_id_hash: Option<String>,
    pub rotated_at: i64,
}

impl From<&Session> for SessionRow {
    fn from(s: &Session) -> Self {
        Self {
            id_hash: s.id_hash.clone(),
            user_id: s.user_id.clone(),
            auth_time: s.auth_time,
            amr: with_idp(&s.amr, &s.idp),
            created_at: s.created_at,
            expires_at: s.expires_at,
            pending_factor: s.pending_factor,
            persistent: s.persistent,
            last_seen_at: s.last_seen_at,
            user_agent: s.user_agent.clone(),
            previous_id_hash: s.previous_id_hash.clone(),
            rotated_at: s.rotated_at,
        }
    }
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Self {
            id_hash: r.id_hash,
            user_id: r.user_id,
            auth_time: r.auth_time,
            idp: idp_of(&r.amr),
            amr: amr_of(&r.amr),
            created_at: r.created_at,
            expires_at: r.expires_at,
            pending_factor: r.pending_factor,
            persistent: r.persistent,
            last_seen_at: r.last_seen_at,
            user_agent: r.user_agent,
            previous_id_hash: r.previous_id_hash,
            rotated_at: r.rotated_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct CodeRow {
    pub code_hash: String,
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
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub organization_id: Option<String>,
    pub id_token_claims: String,
}

impl From<&AuthorizationCode> for CodeRow {
    fn from(c: &AuthorizationCode) -> Self {
        Self {
            code_hash: c.code_hash.clone(),
            grant_id: c.grant_id.clone(),
            client_id: c.client_id.clone(),
            user_id: c.user_id.clone(),
            redirect_uri: c.redirect_uri.clone(),
            scope: c.scope.clone(),
            nonce: c.nonce.clone(),
            code_challenge: c.code_challenge.clone(),
            auth_time: c.auth_time,
            acr: c.acr.clone(),
            amr: with_idp(&c.amr, &c.idp),
            created_at: c.created_at,
            expires_at: c.expires_at,
            used_at: None,
            organization_id: c.organization_id.clone(),
            id_token_claims: c.id_token_claims.join(" "),
        }
    }
}

impl From<CodeRow> for AuthorizationCode {
    fn from(r: CodeRow) -> Self {
        Self {
            code_hash: r.code_hash,
            grant_id: r.grant_id,
            client_id: r.client_id,
            user_id: r.user_id,
            redirect_uri: r.redirect_uri,
            scope: r.scope,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            auth_time: r.auth_time,
            acr: r.acr,
            idp: idp_of(&r.amr),
            amr: amr_of(&r.amr),
            created_at: r.created_at,
            expires_at: r.expires_at,
            organization_id: r.organization_id,
            id_token_claims: words(&r.id_token_claims),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub token_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub acr: Option<String>,
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub grant_expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub organization_id: Option<String>,
    pub id_token_claims: String,
}

impl From<&RefreshToken> for RefreshRow {
    fn from(t: &RefreshToken) -> Self {
        Self {
            token_hash: t.token_hash.clone(),
            grant_id: t.grant_id.clone(),
            client_id: t.client_id.clone(),
            user_id: t.user_id.clone(),
            scope: t.scope.clone(),
            auth_time: t.auth_time,
            acr: t.acr.clone(),
            amr: with_idp(&t.amr, &t.idp),
            created_at: t.created_at,
            expires_at: t.expires_at,
            grant_expires_at: t.grant_expires_at,
            used_at: t.used_at,
            revoked_at: t.revoked_at,
            organization_id: t.organization_id.clone(),
            id_token_claims: t.id_token_claims.join(" "),
        }
    }
}

impl From<RefreshRow> for RefreshToken {
    fn from(r: RefreshRow) -> Self {
        Self {
            token_hash: r.token_hash,
            grant_id: r.grant_id,
            client_id: r.client_id,
            user_id: r.user_id,
            scope: r.scope,
            auth_time: r.auth_time,
            acr: r.acr,
            idp: idp_of(&r.amr),
            amr: amr_of(&r.amr),
            created_at: r.created_at,
            expires_at: r.expires_at,
            grant_expires_at: r.grant_expires_at,
            used_at: r.used_at,
            revoked_at: r.revoked_at,
            organization_id: r.organization_id,
            id_token_claims: words(&r.id_token_claims),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl From<&StoredKey> for KeyRow {
    fn from(k: &StoredKey) -> Self {
        Self {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            private_key: k.private_key.clone(),
            public_jwk: k.public_jwk.clone(),
            created_at: k.created_at,
            retired_at: k.retired_at,
        }
    }
}

impl From<KeyRow> for StoredKey {
    fn from(r: KeyRow) -> Self {
        Self {
            kid: r.kid,
            alg: r.alg,
            private_key: r.private_key,
            public_jwk: r.public_jwk,
            created_at: r.created_at,
            retired_at: r.retired_at,
        }
    }
}
