//! POST /token, /introspect, /revoke: client-authenticated form endpoints answering JSON, never cached.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::errors::JsonError;
use super::extract::{authorization_header, blocking, params, require_form};
use crate::flows::{FlowError, introspect, revoke, token};
use crate::protocol::ErrorCode;
use crate::protocol::client_auth::ClientCredentials;
use crate::protocol::params::Params;
use crate::rate_limit::LimitedAction;

/// Client-authenticated endpoints are limited per IP and per client id; a failed client authentication
/// is charged extra to the IP, so guessing secrets is slow.
async fn limited<T: Send + 'static>(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
    per_client: LimitedAction,
    flow: impl FnOnce() -> Result<T, FlowError> + Send + 'static,
) -> Result<T, JsonError> {
    let ip = state.client_ip(req).to_string();
    state.limit(req, LimitedAction::TokenPerIp, &ip)?;
    if let Ok(credentials) = ClientCredentials::extract(authorization_header(req).as_deref(), params) {
        state.limit(req, per_client, credentials.client_id())?;
    }
    let result = blocking(flow).await;
    if let Err(FlowError::OAuth(e)) = &result {
        if e.code == ErrorCode::InvalidClient {
            state.limiter.charge_failure(LimitedAction::TokenPerIp, &ip);
        }
    }
    Ok(result?)
}

fn no_store(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    response
}

pub async fn issue_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, JsonError> {
    require_form(&req)?;
    let params = params(&req, &body)?;
    let (p, auth, form) = (state.provider.clone(), authorization_header(&req), params.clone());
    let origin = state.origin(&req);
    let flow = move || token::exchange(&p, auth.as_deref(), &form, &origin);
    let response = limited(&state, &req, &params, LimitedAction::TokenPerClient, flow).await?;
    state
        .metrics
        .token_issued(params.get("grant_type").unwrap_or_default());
    Ok(no_store(HttpResponse::Ok()).json(response))
}

pub async fn introspect_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, JsonError> {
    require_form(&req)?;
    let params = params(&req, &body)?;
    let (p, auth, form) = (state.provider.clone(), authorization_header(&req), params.clone());
    let flow = move || introspect::introspect(&p, auth.as_deref(), &form);
    let response = limited(&state, &req, &params, LimitedAction::IntrospectPerClient, flow).await?;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

pub async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, JsonError> {
    require_form(&req)?;
    let params = params(&req, &body)?;
    let (p, auth, form) = (state.provider.clone(), authorization_header(&req), params.clone());
    let origin = state.origin(&req);
    let flow = move || revoke::revoke(&p, auth.as_deref(), &form, &origin);
    limited(&state, &req, &params, LimitedAction::RevokePerClient, flow).await?;
    Ok(no_store(HttpResponse::Ok()).finish())
}
