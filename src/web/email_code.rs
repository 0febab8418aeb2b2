//! Passwordless pages: light sign-up (`/signup`, reached by `prompt=create`), asking for a sign-in code
//! (`/login/code/request`) and typing it (`/login/code`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::authorize::continue_signed_in;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::login::checked_form;
use super::pages::{EmailCodePage, EmailCodeRequestPage, SignUpPage, ok, render};
use crate::flows::email_code::{self, After, Checked, Requested};
use crate::flows::{FlowError, authorize::load_pending};
use crate::protocol::params::Params;
use crate::rate_limit::LimitedAction;

pub async fn show_sign_up(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = params
        .get("req")
        .ok_or_else(FlowError::expired_request)?
        .to_string();
    let (p, browser, id) = (state.provider.clone(), cookies.browser.clone(), req_id.clone());
    let pending = blocking(move || load_pending(&p, &id, &browser)).await?;
    Ok(ok(&SignUpPage {
        csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
        req: req_id,
        client_name: pending.client.name,
        name: String::new(),
        email: pending.request.login_hint.unwrap_or_default(),
        name_error: None,
        email_error: None,
    }))
}

pub async fn submit_sign_up(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = checked_form(&state, &cookies, &params)?;
    let (name, email) = (field(&params, "name"), field(&params, "email"));
    limit(&state, &req, &email)?;
    let (p, browser, origin, id) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
        req_id.clone(),
    );
    let (n, e) = (name.clone(), email.clone());
    let (requested, client_name) = blocking(move || {
        let client_name = load_pending(&p, &id, &browser)?.client.name;
        let after = After::authorization(Some(&id));
        Ok((
            email_code::request_sign_up(&p, &n, &e, &after, &browser, &origin)?,
            client_name,
        ))
    })
    .await?;
    match requested {
        Requested::Sent(sent) => Ok(see_other(&format!("/login/code?c={}", sent.challenge)).finish()),
        Requested::Invalid { field, message } => Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SignUpPage {
                csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
                req: req_id,
                client_name,
                name,
                email,
                name_error: (field == "name").then(|| message.to_string()),
                email_error: (field == "email").then(|| message.to_string()),
            },
        )),
    }
}

/// GET: the form to ask for a code (for an authorization with `req`, or for the account page).
pub async fn show_request(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let mut response = ok(&EmailCodeRequestPage {
        csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
        req: params.get("req").map(str::to_string),
        return_to: safe_return_to(&params),
        email: field(&params, "email"),
        error: None,
    });
    if cookies.new_binding {
        response
            .add_cookie(&state.cookie("browser", cookies.browser.binding_id.clone(), None))
            .map_err(|e| FlowError::page("Something went wrong", e.to_string()))?;
    }
    Ok(response)
}

/// POST: sends a sign-in code (the same answer whether or not the address has an account).
pub async fn request_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    state.require_csrf(&cookies.browser, &params)?;
    let req_id = params.get("req").map(str::to_string);
    let return_to = safe_return_to(&params);
    let email = field(&params, "email");
    limit(&state, &req, &email)?;
    let after = After {
        request_id: req_id.clone(),
        return_to: return_to.clone(),
    };
    let (p, browser, origin, e) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
        email.clone(),
    );
    let requested = blocking(move || {
        if let Some(id) = &after.request_id {
            load_pending(&p, id, &browser)?;
        }
        email_code::request_sign_in(&p, &e, &after, &browser, &origin)
    })
    .await?;
    match requested {
        Requested::Sent(sent) => Ok(see_other(&format!("/login/code?c={}", sent.challenge)).finish()),
        Requested::Invalid { message, .. } => Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &EmailCodeRequestPage {
                csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
                req: req_id,
                return_to,
                email,
                error: Some(message.to_string()),
            },
        )),
    }
}

/// GET /login/code: the page where the code is typed; the link in the mail fills it in.
pub async fn show_code(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let challenge = params.get("c").ok_or_else(expired)?.to_string();
    let (p, browser, c) = (state.provider.clone(), cookies.browser.clone(), challenge.clone());
    let masked_email = blocking(move || email_code::pending_email(&p, &c, &browser))
        .await?
        .ok_or_else(expired)?;
    let code: String = params
        .get("code")
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    Ok(ok(&EmailCodePage {
        csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
        challenge,
        masked_email,
        code,
        error: None,
    }))
}

/// POST /login/code: checks the code; signs in and continues the authorization (or opens the account).
pub async fn submit_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    state.require_csrf(&cookies.browser, &params)?;
    state.limit_per_ip(&req, LimitedAction::EmailCodePerIp)?;
    let challenge = params.get("c").ok_or_else(expired)?.to_string();
    let typed = field(&params, "code");
    let (p, browser, origin, c) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
        challenge.clone(),
    );
    match blocking(move || email_code::check(&p, &c, &typed, &browser, &origin)).await? {
        Checked::SignedIn {
            session_id,
            next,
            return_to,
        } => continue_signed_in(
            &state,
            cookies,
            session_id,
            false,
            next,
            return_to.as_deref().unwrap_or("/account"),
        ),
        Checked::Wrong {
            masked_email,
            attempts_left,
        } => {
            state.metrics.sign_in_failed();
            Ok(render(
                StatusCode::UNAUTHORIZED,
                &EmailCodePage {
                    csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
                    challenge,
                    masked_email,
                    code: String::new(),
                    error: Some(format!(
                        "That code is not right. You can try {attempts_left} more time{}.",
                        if attempts_left == 1 { "" } else { "s" }
                    )),
                },
            ))
        }
        Checked::Expired => Err(expired().into()),
    }
}

/// Only pages of ours that are safe to land on after signing in; anything else is dropped.
fn safe_return_to(params: &Params) -> Option<String> {
    params
        .get("return_to")
        .filter(|t| crate::flows::portal::is_safe_return_to(t))
        .map(str::to_string)
}

fn field(params: &Params, name: &str) -> String {
    params.get(name).unwrap_or_default().trim().to_string()
}

/// Per IP against one sender trying many addresses; per address against many IPs flooding one inbox.
fn limit(state: &AppState, req: &HttpRequest, email: &str) -> Result<(), FlowError> {
    state.limit_per_ip(req, LimitedAction::EmailCodePerIp)?;
    state.limit(req, LimitedAction::EmailCodePerAccount, &email.to_lowercase())
}

fn expired() -> FlowError {
    FlowError::page(
        "This code has expired",
        "Codes work once, for 10 minutes, in the browser where they were asked for, and only for a few tries. Go back and ask for a new code.",
    )
}
