//! Token revocation (RFC 7009). Revoking a refresh token revokes its whole grant, including access
//! tokens issued from it (§2.1); revoking an access token deny-lists its `jti`. Unknown tokens and
//! other clients' tokens are answered with success and left alone (§2.2).

use serde_json::Value;
use tracing::instrument;

use super::token::authenticate_client;
use super::userinfo::verify_access_token;
use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::sha256_b64;
use crate::protocol::OAuthError;
use crate::protocol::params::Params;

#[instrument(skip_all, fields(client_id))]
pub fn revoke(
    p: &Provider,
    authorization: Option<&str>,
    params: &Params,
    origin: &Origin,
) -> Result<(), FlowError> {
    let client = authenticate_client(p, authorization, params)?;
    tracing::Span::current().record("client_id", client.id.as_str());
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    if let Some(rt) = p.store.find_refresh_token(&sha256_b64(token))? {
        if rt.client_id == client.id {
            p.auditor
                .record(revoked(origin, &client.id, &rt.user_id, "refresh_token"))?;
            p.store.revoke_grant(&rt.grant_id, now())?;
            tracing::info!(client_id = %client.id, "refresh token revoked with its grant");
        }
        return Ok(());
    }
    if let Some(claims) = verify_access_token(p, token)? {
        if claims.get("client_id").and_then(Value::as_str) == Some(client.id.as_str()) {
            let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default();
            let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or_else(now);
            let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
            p.auditor
                .record(revoked(origin, &client.id, sub, "access_token"))?;
            p.store.revoke_access_token(jti, exp)?;
            tracing::info!(client_id = %client.id, "access token revoked");
        }
    }
    Ok(())
}

fn revoked(origin: &Origin, client_id: &str, subject: &str, token_type: &str) -> AuditEvent {
    AuditEvent::new(kind::TOKEN_REVOKED, Outcome::Success, now())
        .origin(origin)
        .actor(format!("client:{client_id}"))
        .subject(subject)
        .client(client_id)
        .detail(serde_json::json!({ "token_type": token_type }))
}
