//! The UserInfo endpoint (OIDC Core §5.3) and the access-token check shared with introspection and
//! revocation.

use serde_json::{Map, Value};
use tracing::instrument;

use super::{FlowError, Provider, now};
use crate::protocol::{ErrorCode, OAuthError, claims, scope};

/// The claims of a live access token issued by us: signature (pinned per key), `typ`, `iss`, `exp`,
/// and the deny list. `None` for anything else.
pub fn verify_access_token(p: &Provider, token: &str) -> Result<Option<Map<String, Value>>, FlowError> {
    let Ok(claims) = p.keys.ring().verify_jwt(token, Some("at+jwt")) else {
        return Ok(None);
    };
    let live = claims.get("iss").and_then(Value::as_str) == Some(p.issuer())
        && claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|exp| exp > now());
    let Some(jti) = claims.get("jti").and_then(Value::as_str).filter(|_| live) else {
        return Ok(None);
    };
    if p.store.is_access_token_revoked(jti)? {
        return Ok(None);
    }
    Ok(Some(claims))
}

#[instrument(skip_all)]
pub fn userinfo(p: &Provider, token: &str) -> Result<Value, FlowError> {
    let invalid = || {
        FlowError::OAuth(OAuthError::new(
            ErrorCode::InvalidToken,
            "the access token is invalid or expired",
        ))
    };
    let claims = verify_access_token(p, token)?.ok_or_else(invalid)?;
    let scopes = scope::parse(claims.get("scope").and_then(Value::as_str).unwrap_or_default());
    if !scope::contains(&scopes, "openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token lacks the openid scope",
        )
        .into());
    }
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    let user = p.store.find_user(sub)?.ok_or_else(invalid)?;
    let mut out = claims::user_claims(&user, &scopes, &p.settings.scopes);
    // Organization claims as they are now; a former member's token gets none (and is revoked anyway).
    let org = claims.get("org_id").and_then(Value::as_str);
    match super::organizations::claims_for(p, &user.id, org, &scopes) {
        Ok(org_claims) => out.extend(org_claims),
        Err(FlowError::OAuth(_)) => {}
        Err(e) => return Err(e),
    }
    out.extend(super::consents::claims_for(p, &user.id, &scopes)?);
    out.insert(claims::IDENTITY_LEVEL.into(), user.level.as_str().into());
    Ok(Value::Object(out))
}
