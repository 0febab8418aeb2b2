//! GET/POST /authorize, and turning a flow's `Next` into a browser response.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::pages::{FormPostPage, ok};
use crate::flows::authorize::{self, Next};
use crate::flows::{FlowError, browser::Browser};
use crate::protocol::authorize::AuthorizationResponse;
use crate::rate_limit::LimitedAction;

pub async fn authorize(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    state.limit_per_ip(&req, LimitedAction::AuthorizePerIp)?;
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let (p, browser) = (state.provider.clone(), cookies.browser.clone());
    let next = blocking(move || authorize::start(&p, &params, &browser)).await?;
    Ok(respond(&state, &cookies, next))
}

/// After a sign-in started session `session_id`: its cookie (`persistent`: "keep me signed in"), then
/// the authorization's next step, or `fallback` (an account page) when the sign-in was for no
/// authorization.
pub fn continue_signed_in(
    state: &AppState,
    cookies: BrowserCookies,
    session_id: String,
    persistent: bool,
    next: Option<Next>,
    fallback: &str,
) -> Result<HttpResponse, PageError> {
    let signed_in = BrowserCookies {
        browser: Browser {
            session_id: Some(session_id.clone()),
            ..cookies.browser.clone()
        },
        ..cookies
    };
    let mut response = match next {
        Some(next) => respond(state, &signed_in, next),
        None => see_other(fallback).finish(),
    };
    response
        .add_cookie(&state.session_cookie(session_id, persistent))
        .map_err(|e| FlowError::page("Something went wrong", e.to_string()))?;
    Ok(response)
}

/// The browser response for the next step of an authorization.
pub fn respond(state: &AppState, cookies: &BrowserCookies, next: Next) -> HttpResponse {
    match next {
        Next::Respond(AuthorizationResponse::Redirect(url)) => see_other(&url).finish(),
        Next::Respond(AuthorizationResponse::FormPost { action, fields }) => {
            ok(&FormPostPage { action, fields })
        }
        Next::Login(id) => {
            let mut response = see_other(&format!("/login?req={id}"));
            cookies.apply(state, &mut response);
            response.finish()
        }
        Next::Upstream(url) => {
            let mut response = see_other(&url);
            cookies.apply(state, &mut response);
            response.finish()
        }
        Next::Organization(id) => {
            let mut response = see_other(&format!("/organization?req={id}"));
            cookies.apply(state, &mut response);
            response.finish()
        }
        Next::SignUp(id) => {
            let mut response = see_other(&format!("/signup?req={id}"));
            cookies.apply(state, &mut response);
            response.finish()
        }
        Next::Profile(id) => {
            let mut response = see_other(&format!("/profile/complete?req={id}"));
            cookies.apply(state, &mut response);
            response.finish()
        }
        Next::Documents(id) => {
            let mut response = see_other(&format!("/consent/documents?req={id}"));
            cookies.apply(state, &mut response);
            response.finish()
        }
        Next::SecondFactor(id) => {
            let mut response = see_other(&format!("/login/mfa?req={id}"));
            cookies.apply(state, &mut response);
            response.finish()
        }
        Next::Consent(id) => {
            let mut response = see_other(&format!("/consent?req={id}"));
            cookies.apply(state, &mut response);
            response.finish()
        }
    }
}
