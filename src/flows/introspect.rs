//! Token introspection (RFC 7662) for authenticated confidential clients (resource servers). Access
//! tokens of any client can be introspected; refresh tokens only by the client they were issued to.

use serde_json::{Value, json};
use tracing::instrument;

use super::token::authenticate_client;
use super::userinfo::verify_access_token;
use super::{FlowError, Provider, now};
use crate::crypto::sha256_b64;
use crate::protocol::OAuthError;
use crate::protocol::params::Params;

#[instrument(skip_all, fields(client_id))]
pub fn introspect(p: &Provider, authorization: Option<&str>, params: &Params) -> Result<Value, FlowError> {
    let client = authenticate_client(p, authorization, params)?;
    if client.is_public() {
        return Err(OAuthError::invalid_client().into());
    }
    tracing::Span::current().record("client_id", client.id.as_str());
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // token_type_hint is only a hint (RFC 7662 §2.1): both kinds are tried.
    if let Some(claims) = verify_access_token(p, token)? {
        let mut out = json!({ "active": true, "token_type": "Bearer" });
        for name in [
            "scope",
            "client_id",
            "sub",
            "aud",
            "iss",
            "exp",
            "iat",
            "jti",
            "auth_time",
            "acr",
            "amr",
            "idp",
            "org_id",
            "org_slug",
            "org_name",
            "roles",
            "permissions",
        ] {
            if let Some(v) = claims.get(name) {
                out[name] = v.clone();
            }
        }
        // A user's token (client_credentials tokens carry no auth_time): the consent documents the
        // user accepts now, so a resource server sees a withdrawal at once (README "Consent").
        if let Some(sub) = claims
            .get("auth_time")
            .and(claims.get("sub"))
            .and_then(Value::as_str)
        {
            out["consents"] = json!(super::consents::state_for(p, sub)?);
        }
        return Ok(out);
    }
    if let Some(rt) = p.store.find_refresh_token(&sha256_b64(token))? {
        if rt.client_id == client.id && rt.is_active(now()) {
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": rt.scope,
                "client_id": rt.client_id,
                "sub": rt.user_id,
                "iss": p.issuer(),
                "iat": rt.created_at,
                "exp": rt.expires_at,
            }));
        }
    }
    Ok(json!({ "active": false }))
}
