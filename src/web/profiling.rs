//! GET/POST /profile/complete: the profile fields a client needs, asked for once during an authorization.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::authorize::respond;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params};
use super::login::checked_form;
use super::pages::{ProfileCompletePage, ok, render};
use crate::flows::FlowError;
use crate::flows::profiling::{self, Submitted};

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = params
        .get("req")
        .ok_or_else(FlowError::expired_request)?
        .to_string();
    let (p, browser, id) = (state.provider.clone(), cookies.browser.clone(), req_id.clone());
    let form = blocking(move || profiling::show(&p, &id, &browser)).await?;
    Ok(ok(&ProfileCompletePage {
        csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
        req: req_id,
        client_name: form.client_name,
        inputs: form.inputs,
        has_errors: false,
    }))
}

pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = checked_form(&state, &cookies, &params)?;
    let typed: Vec<(String, String)> = profiling::input_names()
        .filter_map(|name| params.get(name).map(|v| (name.to_string(), v.to_string())))
        .collect();
    let (p, browser, origin, id) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
        req_id.clone(),
    );
    match blocking(move || profiling::submit(&p, &id, &typed, &browser, &origin)).await? {
        Submitted::Continue(next) => Ok(respond(&state, &cookies, next)),
        Submitted::Invalid(form) => Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ProfileCompletePage {
                csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
                req: req_id,
                client_name: form.client_name,
                inputs: form.inputs,
                has_errors: true,
            },
        )),
    }
}
