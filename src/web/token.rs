//! POST /token, /introspect, /revoke: client-authenticated form endpoints answering JSON, never cached.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::errors::JsonError;
use super::extract::{authorization_header, blocking, params, require_form};
use crate::flows::{introspect, revoke, token};

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
    let (p, auth) = (state.provider.clone(), authorization_header(&req));
    let response = blocking(move || token::exchange(&p, auth.as_deref(), &params)).await?;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

pub async fn introspect_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, JsonError> {
    require_form(&req)?;
    let params = params(&req, &body)?;
    let (p, auth) = (state.provider.clone(), authorization_header(&req));
    let response = blocking(move || introspect::introspect(&p, auth.as_deref(), &params)).await?;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

pub async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, JsonError> {
    require_form(&req)?;
    let params = params(&req, &body)?;
    let (p, auth) = (state.provider.clone(), authorization_header(&req));
    blocking(move || revoke::revoke(&p, auth.as_deref(), &params)).await?;
    Ok(no_store(HttpResponse::Ok()).finish())
}
