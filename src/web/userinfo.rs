//! GET/POST /userinfo (OIDC Core §5.3) with the token in the `Authorization: Bearer` header or, for
//! POST, the `access_token` form field (RFC 6750 §2.1–2.2), never both.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::errors::BearerError;
use super::extract::{authorization_header, blocking, params, require_form};
use crate::flows::{FlowError, userinfo};
use crate::protocol::{ErrorCode, OAuthError};
use crate::rate_limit::LimitedAction;

pub async fn userinfo(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, BearerError> {
    state.limit_per_ip(&req, LimitedAction::UserinfoPerIp)?;
    let token = bearer_token(&req, &body)?;
    let p = state.provider.clone();
    let claims = blocking(move || userinfo::userinfo(&p, &token)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(claims))
}

fn bearer_token(req: &HttpRequest, body: &[u8]) -> Result<String, FlowError> {
    let invalid = |msg: &'static str| FlowError::OAuth(OAuthError::new(ErrorCode::InvalidRequest, msg));
    let from_header = match authorization_header(req) {
        None => None,
        Some(value) => match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                Some(token.trim().to_string())
            }
            _ => return Err(OAuthError::new(ErrorCode::InvalidToken, "use the Bearer scheme").into()),
        },
    };
    let from_body = if req.method() == actix_web::http::Method::POST && !body.is_empty() {
        require_form(req).map_err(|_| invalid("the body must be a form"))?;
        let params = params(req, body).map_err(|_| invalid("the body could not be read"))?;
        params.get("access_token").map(str::to_string)
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(invalid("send the token in one place only")),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        // No credentials at all: a bare challenge without an error code (RFC 6750 §3.1).
        (None, None) => Err(OAuthError::new(ErrorCode::InvalidToken, "").into()),
    }
}
