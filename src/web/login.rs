//! GET/POST /login: the password sign-in page of a pending authorization.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::authorize::continue_signed_in;
use super::errors::PageError;
use super::extract::see_other;
use super::extract::{BrowserCookies, blocking, params};
use super::pages::{LoginPage, ok, render};
use crate::flows::FlowError;
use crate::flows::authorize::Next;
use crate::flows::federation::{self, Purpose};
use crate::flows::login::{self, Identified, LoginOutcome, LoginView};
use crate::protocol::params::Params;
use crate::rate_limit::LimitedAction;

/// "Keep me signed in" was ticked.
pub fn remember(params: &Params) -> bool {
    params.get("remember").is_some_and(|v| !v.is_empty())
}

/// The pending request id and a valid CSRF token, or the error page.
pub fn checked_form(
    state: &AppState,
    cookies: &BrowserCookies,
    params: &Params,
) -> Result<String, PageError> {
    let req_id = params.get("req").ok_or_else(FlowError::expired_request)?;
    state.require_csrf(&cookies.browser, params)?;
    Ok(req_id.to_string())
}

pub async fn show_login(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = params
        .get("req")
        .ok_or_else(FlowError::expired_request)?
        .to_string();
    let (p, browser, id) = (state.provider.clone(), cookies.browser.clone(), req_id.clone());
    let view = blocking(move || login::show(&p, &id, &browser)).await?;
    Ok(ok(&login_page(&state, &cookies, req_id, view, None)))
}

/// The sign-in page of a pending request: the view, this browser's CSRF token and passkey ceremony,
/// and an error for a refused attempt.
pub fn login_page(
    state: &AppState,
    cookies: &BrowserCookies,
    req: String,
    view: LoginView,
    error: Option<&str>,
) -> LoginPage {
    let (passkey_options, passkey_state) = super::passkeys::login_fields(state, &cookies.browser);
    LoginPage {
        csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
        req,
        client_name: view.client_name,
        login_hint: view.login_hint,
        error: error.map(str::to_string),
        upstreams: view.upstreams,
        identifier_first: view.identifier_first,
        sign_up: view.sign_up,
        passkey_options,
        passkey_state,
    }
}

pub async fn submit_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = checked_form(&state, &cookies, &params)?;
    let email = params.get("email").unwrap_or_default().to_string();
    // Per IP against one attacker trying many accounts; per account against many IPs trying one.
    state.limit_per_ip(&req, LimitedAction::SignInPerIp)?;
    state.limit(
        &req,
        LimitedAction::SignInPerAccount,
        &email.trim().to_lowercase(),
    )?;
    let password = params.get("password").unwrap_or_default().to_string();
    let remember = remember(&params);
    let (p, browser, id) = (state.provider.clone(), cookies.browser.clone(), req_id.clone());
    let origin = state.origin(&req);
    let outcome =
        blocking(move || login::submit(&p, &id, &email, &password, remember, &browser, &origin)).await?;
    match outcome {
        LoginOutcome::SignedIn { session_id, next } => {
            // A session waiting for its second factor lives minutes: never a persistent cookie.
            let persistent = remember && !matches!(next, Next::SecondFactor(_));
            continue_signed_in(&state, cookies, session_id, persistent, Some(next), "/account")
        }
        LoginOutcome::Failed(view) => {
            state.metrics.sign_in_failed();
            let error = "The email address or password is not correct.";
            let page = login_page(&state, &cookies, req_id, view, Some(error));
            Ok(render(StatusCode::UNAUTHORIZED, &page))
        }
    }
}

/// POST /login/identify: the email step of identifier-first sign-in. A domain claimed by a connection
/// goes straight to that provider; any other email gets the password step.
pub async fn identify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = checked_form(&state, &cookies, &params)?;
    state.limit_per_ip(&req, LimitedAction::SignInPerIp)?;
    let email = params.get("email").unwrap_or_default().to_string();
    let (p, browser, id, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        req_id.clone(),
        state.origin(&req),
    );
    match blocking(move || login::identify(&p, &id, &email, &browser, &origin)).await? {
        Identified::Upstream(url) => Ok(see_other(&url).finish()),
        Identified::Password(view) => Ok(ok(&login_page(&state, &cookies, req_id, view, None))),
    }
}

/// POST /login/upstream: a provider button on the login page.
pub async fn upstream(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = checked_form(&state, &cookies, &params)?;
    state.limit_per_ip(&req, LimitedAction::UpstreamPerIp)?;
    let connection = params.get("connection").unwrap_or_default().to_string();
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let url = blocking(move || {
        login::load_pending_for(&p, &req_id, &browser)?;
        let purpose = Purpose::SignIn {
            request_id: req_id,
            link_proof: None,
        };
        federation::start(&p, &connection, purpose, None, &browser, &origin)
    })
    .await?;
    Ok(see_other(&url).finish())
}
