//! OpenID Provider Metadata (OIDC Discovery 1.0 §3, RFC 8414), built once from the issuer.

use serde_json::{Value, json};

use super::claims::{CustomScope, SCOPE_CLAIMS};
use super::scope::USER_SCOPES;

/// The provider metadata; `custom` scopes (operator-defined) are advertised with the standard ones.
pub fn metadata(issuer: &str, custom: &[CustomScope]) -> Value {
    let at = |path: &str| format!("{issuer}{path}");
    let mut scopes: Vec<&str> = USER_SCOPES.to_vec();
    scopes.extend(custom.iter().map(|c| c.name.as_str()));
    let mut claims: Vec<&str> = vec![
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "idp",
        "azp",
        "at_hash",
    ];
    claims.extend(SCOPE_CLAIMS.iter().flat_map(|(_, c)| c.iter().copied()));
    claims.extend(["org_id", "org_slug", "org_name", "roles", "permissions"]);
    claims.push(super::claims::IDENTITY_LEVEL);
    claims.extend(custom.iter().flat_map(|c| c.claims.iter().map(String::as_str)));
    json!({
        "issuer": issuer,
        "authorization_endpoint": at("/authorize"),
        "token_endpoint": at("/token"),
        "userinfo_endpoint": at("/userinfo"),
        "jwks_uri": at("/jwks.json"),
        "end_session_endpoint": at("/end_session"),
        "introspection_endpoint": at("/introspect"),
        "revocation_endpoint": at("/revoke"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account", "create"],
        "acr_values_supported": crate::protocol::acr::SUPPORTED,
        "claims_supported": claims,
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "ui_locales_supported": ["en"],
        "display_values_supported": ["page"],
    })
}
