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

/// A scope the operator defined: it releases these profile attributes (`[[scopes]]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomScope {
    pub name: String,
    /// Plain words for the consent page ("See your loyalty tier").
    pub description: String,
    /// Attribute names in the user's profile, released as claims of the same name.
    pub claims: Vec<String>,
}

/// The claims each built-in scope releases: the standard ones (OIDC Core §5.4) and `consents`.
pub const SCOPE_CLAIMS: &[(&str, &[&str])] = &[
    (
        "profile",
        &[
            "name",
            "given_name",
            "family_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("phone", &["phone_number", "phone_number_verified"]),
    ("address", &["address"]),
    // Gatehouse's own: the consent documents the person currently accepts, `{"terms": 3}`
    // (README "Consent"). Read from the store when tokens are issued, so not in `user_claims`.
    ("consents", &["consents"]),
];

/// Gatehouse's claim saying how far the identity has grown: `light` (a name and an email verified by a
/// code) or `full` (README "Progressive identity"). In every ID token and userinfo response.
pub const IDENTITY_LEVEL: &str = "identity_level";

/// The claims of a user released for `scopes` (OIDC Core §5.4), including custom scopes. Absent values
/// are omitted.
pub fn user_claims(user: &User, scopes: &[String], custom: &[CustomScope]) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.id));
    let p = &user.profile;
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(v) = value {
            claims.insert(name.into(), v);
        }
    };
    let text = |v: &Option<String>| v.as_ref().map(|s| json!(s));
    if scope::contains(scopes, "profile") {
        put("name", text(&user.name));
        put("given_name", text(&p.given_name));
        put("family_name", text(&p.family_name));
        put("middle_name", text(&p.middle_name));
        put("nickname", text(&p.nickname));
        put("preferred_username", text(&p.preferred_username));
        put("picture", text(&p.picture));
        put("website", text(&p.website));
        put("gender", text(&p.gender));
        put("birthdate", text(&p.birthdate));
        put("zoneinfo", text(&p.zoneinfo));
        put("locale", text(&p.locale));
        put("updated_at", Some(json!(user.updated_at)));
    }
    if scope::contains(scopes, "email") {
        put("email", Some(json!(user.email)));
        put("email_verified", Some(json!(user.email_verified)));
    }
    if scope::contains(scopes, "phone") && p.phone_number.is_some() {
        put("phone_number", text(&p.phone_number));
        put("phone_number_verified", Some(json!(p.phone_number_verified)));
    }
    if scope::contains(scopes, "address") {
        put(
            "address",
            p.address.as_ref().and_then(|a| serde_json::to_value(a).ok()),
        );
    }
    for c in custom.iter().filter(|c| scope::contains(scopes, &c.name)) {
        for name in &c.claims {
            put(name, p.attributes.get(name).cloned());
        }
    }
    claims
}

/// Only the named claims of `claims` (and `sub`).
pub fn select(claims: &Map<String, Value>, names: &[String]) -> Map<String, Value> {
    claims
        .iter()
        .filter(|(k, _)| *k == "sub" || names.iter().any(|n| n == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
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
            profile: crate::store::Profile {
                given_name: Some("Ada".into()),
                phone_number: Some("+441234567890".into()),
                attributes: [("tier".to_string(), json!("gold"))].into_iter().collect(),
                ..Default::default()
            },
            level: crate::store::IdentityLevel::Full,
            region: None,
            deletion_scheduled_at: None,
        }
    }

    fn scopes(s: &str) -> Vec<String> {
        scope::parse(s)
    }

    #[test]
    fn claims_are_released_only_for_their_scope() {
        let only_openid = user_claims(&user(), &scopes("openid"), &[]);
        assert_eq!(Value::Object(only_openid), json!({ "sub": "u1" }));
        let email = user_claims(&user(), &scopes("openid email"), &[]);
        assert_eq!(email.get("email"), Some(&json!("ada@example.com")));
        assert!(!email.contains_key("name"));
        let profile = user_claims(&user(), &scopes("openid profile"), &[]);
        assert_eq!(profile.get("name"), Some(&json!("Ada")));
        assert_eq!(profile.get("given_name"), Some(&json!("Ada")));
        assert!(!profile.contains_key("family_name"), "absent values are omitted");
        assert!(!profile.contains_key("email") && !profile.contains_key("phone_number"));
        let phone = user_claims(&user(), &scopes("openid phone"), &[]);
        assert_eq!(phone.get("phone_number_verified"), Some(&json!(false)));
    }

    #[test]
    fn a_custom_scope_releases_its_attributes_only() {
        let loyalty = CustomScope {
            name: "loyalty".into(),
            description: "See your loyalty tier".into(),
            claims: vec!["tier".into(), "since".into()],
        };
        let without = user_claims(&user(), &scopes("openid"), std::slice::from_ref(&loyalty));
        assert!(!without.contains_key("tier"));
        let with = user_claims(&user(), &scopes("openid loyalty"), &[loyalty]);
        assert_eq!(with.get("tier"), Some(&json!("gold")));
        assert!(!with.contains_key("since"));
        assert_eq!(select(&with, &["tier".into()]).len(), 2, "sub and tier");
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
