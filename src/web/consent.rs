//! GET/POST /consent: what the client asks for, and the user's answer.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::authorize::respond;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params};
use super::login::checked_form;
use super::pages::{ConsentPage, ScopeLine, ok};
use crate::flows::{FlowError, consent};

pub async fn show_consent(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = params
        .get("req")
        .ok_or_else(FlowError::expired_request)?
        .to_string();
    let (p, browser, id) = (state.provider.clone(), cookies.browser.clone(), req_id.clone());
    let view = blocking(move || consent::show(&p, &id, &browser)).await?;
    Ok(ok(&ConsentPage {
        csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
        req: req_id,
        client_name: view.client_name,
        user_email: view.user_email,
        scopes: view
            .scopes
            .into_iter()
            .map(|(name, description)| ScopeLine { name, description })
            .collect(),
    }))
}

pub async fn submit_consent(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = checked_form(&state, &cookies, &params)?;
    let allow = match params.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(FlowError::page("The form was incomplete", "Choose Allow or Cancel.").into()),
    };
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let next = blocking(move || consent::decide(&p, &req_id, allow, &browser, &origin)).await?;
    Ok(respond(&state, &cookies, next))
}
