//! Claims assembly, pure: ID token (OIDC Core §2, §3.1.3.6), JWT access token (RFC 9068 §2.2) and the
//! user claims released by scope (OIDC Core §5.4). Time and identifiers come in as arguments.

use ring::digest;
use serde_json::{Map, Value, json};

use super::scope;
use crate::crypto::b64url;
use crate::keys::Alg;
use crate::store::User;

/// The authentication facts carried from sign-in into tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub auth_time: i64,
    pub acr: Option<String>,
    /// RFC 8176 method references, e.g. `pwd`, `fed`.
    pub amr: Vec<String>,
    /// The upstream connection the user signed in through (the `idp` claim), if any.
    pub idp: Option<String>,
}

/// The claims of a user released for `scopes` (OIDC Core §5.4). Absent values are omitted.
pub fn user_claims(user: &User, scopes: &[String]) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.id));
    if scope::contains(scopes, "profile") {
        if let Some(name) = &user.name {
            claims.insert("name".into(), json!(name));
        }
        claims.insert("updated_at".into(), json!(user.updated_at));
    }
    if scope::contains(scopes, "email") {
        claims.insert("email".into(), json!(user.email));
        claims.insert("email_verified".into(), json!(user.email_verified));
    }
    claims
}

pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub user_claims: Map<String, Value>,
    pub nonce: Option<&'a str>,
    pub authentication: &'a Authentication,
    pub access_token: Option<(&'a str, Alg)>,
    pub now: i64,
    pub ttl: i64,
}

pub fn id_token_claims(input: IdTokenInput<'_>) -> Value {
    let mut claims = input.user_claims;
    claims.insert("iss".into(), json!(input.issuer));
    claims.insert("aud".into(), json!(input.client_id));
    claims.insert("azp".into(), json!(input.client_id));
    claims.insert("iat".into(), json!(input.now));
    claims.insert("exp".into(), json!(input.now + input.ttl));
    claims.insert("auth_time".into(), json!(input.authentication.auth_time));
    if let Some(nonce) = input.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(acr) = &input.authentication.acr {
        claims.insert("acr".into(), json!(acr));
    }
    if !input.authentication.amr.is_empty() {
        claims.insert("amr".into(), json!(input.authentication.amr));
    }
    if let Some(idp) = &input.authentication.idp {
        claims.insert("idp".into(), json!(idp));
    }
    if let Some((token, alg)) = input.access_token {
        claims.insert("at_hash".into(), json!(at_hash(token, alg)));
    }
    Value::Object(claims)
}

/// OIDC Core §3.1.3.6: the left half of the hash of the access token, with the hash of the ID token's
/// algorithm (SHA-256 for RS256/ES256; SHA-512 for EdDSA with Ed25519).
pub fn at_hash(access_token: &str, alg: Alg) -> String {
    let algorithm = match alg {
        Alg::RS256 | Alg::ES256 => &digest::SHA256,
        Alg::EdDSA => &digest::SHA512,
    };
    let hash = digest::digest(algorithm, access_token.as_bytes());
    let bytes = hash.as_ref();
    b64url(&bytes[..bytes.len() / 2])
}

pub struct AccessTokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The user, or the client itself for client_credentials (RFC 9068 §2.2).
    pub subject: &'a str,
    pub scopes: &'a [String],
    pub authentication: Option<&'a Authentication>,
    pub jti: &'a str,
    pub now: i64,
    pub ttl: i64,
}

/// RFC 9068 §2.2 claims. The audience is the client itself unless resource indicators are used.
pub fn access_token_claims(input: AccessTokenInput<'_>) -> Value {
    let mut claims = json!({
        "iss": input.issuer,
        "sub": input.subject,
        "aud": input.client_id,
        "client_id": input.client_id,
        "iat": input.now,
        "exp": input.now + input.ttl,
        "jti": input.jti,
        "scope": scope::join(input.scopes),
    });
    if let (Some(auth), Some(map)) = (input.authentication, claims.as_object_mut()) {
        map.insert("auth_time".into(), json!(auth.auth_time));
        if let Some(acr) = &auth.acr {
            map.insert("acr".into(), json!(acr));
        }
        if !auth.amr.is_empty() {
            map.insert("amr".into(), json!(auth.amr));
        }
        if let Some(idp) = &auth.idp {
            map.insert("idp".into(), json!(idp));
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "u1".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            name: Some("Ada".into()),
            password_hash: None,
            created_at: 1,
            updated_at: 2,
        }
    }

    #[test]
    fn claims_are_released_only_for_their_scope() {
        let only_openid = user_claims(&user(), &["openid".into()]);
        assert_eq!(Value::Object(only_openid), json!({ "sub": "u1" }));
        let email = user_claims(&user(), &["openid".into(), "email".into()]);
        assert_eq!(email.get("email"), Some(&json!("ada@example.com")));
        assert!(!email.contains_key("name"));
        let profile = user_claims(&user(), &["openid".into(), "profile".into()]);
        assert_eq!(profile.get("name"), Some(&json!("Ada")));
        assert!(!profile.contains_key("email"));
    }

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" → at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", Alg::RS256),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
