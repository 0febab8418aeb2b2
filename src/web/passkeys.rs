//! Passkey sign-in: POST /login/passkey (a pending authorization) and POST /account/login/passkey (the
//! account portal), and the ceremony the sign-in pages embed (`login_ceremony`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::authorize::continue_signed_in;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params};
use super::login::checked_form;
use super::pages::{AccountLoginPage, render};
use crate::flows::Provider;
use crate::flows::browser::Browser;
use crate::flows::login::{self, upstream_buttons};
use crate::flows::passkeys::{self, Ceremony, SignInForm};
use crate::flows::portal::is_safe_return_to;
use crate::protocol::params::Params;
use crate::rate_limit::LimitedAction;

/// What a refused passkey sign-in says: the same whatever the reason (unknown, flagged, replayed).
const REFUSED: &str = "That passkey could not sign you in. Try again, or sign in another way.";

/// The passwordless ceremony a sign-in page embeds (the "Sign in with a passkey" button and the
/// email field's passkey autofill); `None` when passkeys are not available. Nothing is stored: the
/// state is sealed into the page.
pub fn login_ceremony(state: &AppState, browser: &Browser) -> Option<Ceremony> {
    ceremony_for(&state.provider, browser)
}

fn ceremony_for(p: &Provider, browser: &Browser) -> Option<Ceremony> {
    if !passkeys::is_available(p) {
        return None;
    }
    passkeys::begin_authentication(p, browser, None)
        .inspect_err(|e| tracing::warn!(error = %e, "no passkey ceremony for the sign-in page"))
        .ok()
}

/// `(passkey_options, passkey_state)` for a sign-in page: empty strings when passkeys are not available
/// (the page then shows no passkey form).
pub fn login_fields(state: &AppState, browser: &Browser) -> (String, String) {
    login_ceremony(state, browser)
        .map(|c| (c.options, c.state))
        .unwrap_or_default()
}

fn sign_in_form(params: &Params) -> SignInForm {
    SignInForm {
        state: params.get("state").unwrap_or_default().to_string(),
        credential: params.get("credential").unwrap_or_default().to_string(),
        remember: super::login::remember(params),
    }
}

/// POST /login/passkey: passwordless sign-in for a pending authorization request.
pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = checked_form(&state, &cookies, &params)?;
    state.limit_per_ip(&req, LimitedAction::SignInPerIp)?;
    let form = sign_in_form(&params);
    let remember = form.remember;
    let (p, browser, origin, id) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
        req_id.clone(),
    );
    let outcome = blocking(
        move || match passkeys::sign_in(&p, &browser, &form, Some(&id), &origin)? {
            Some(done) => Ok(Ok(done)),
            None => login::show(&p, &id, &browser).map(Err),
        },
    )
    .await?;
    match outcome {
        Ok((session_id, next)) => continue_signed_in(&state, cookies, session_id, remember, next, "/account"),
        Err(view) => {
            state.metrics.sign_in_failed();
            let page = super::login::login_page(&state, &cookies, req_id, view, Some(REFUSED));
            Ok(render(StatusCode::UNAUTHORIZED, &page))
        }
    }
}

/// POST /account/login/passkey: passwordless sign-in to the account portal, back to `return_to`.
pub async fn account_sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    state.require_csrf(&cookies.browser, &params)?;
    state.limit_per_ip(&req, LimitedAction::SignInPerIp)?;
    let form = sign_in_form(&params);
    let remember = form.remember;
    // Only a page of ours may be returned to (the portal's pages, an invitation): never an open redirect.
    let return_to = params
        .get("return_to")
        .filter(|t| is_safe_return_to(t))
        .map(str::to_string);
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let outcome = blocking(
        move || match passkeys::sign_in(&p, &browser, &form, None, &origin)? {
            Some((session_id, _)) => Ok(Ok(session_id)),
            None => Ok(Err(upstream_buttons(&p))),
        },
    )
    .await?;
    match outcome {
        Ok(session_id) => continue_signed_in(
            &state,
            cookies,
            session_id,
            remember,
            None,
            return_to.as_deref().unwrap_or("/account"),
        ),
        Err(upstreams) => {
            state.metrics.sign_in_failed();
            let (passkey_options, passkey_state) = login_fields(&state, &cookies.browser);
            Ok(render(
                StatusCode::UNAUTHORIZED,
                &AccountLoginPage {
                    csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
                    upstreams,
                    error: Some(REFUSED.into()),
                    return_to,
                    passkey_options,
                    passkey_state,
                },
            ))
        }
    }
}
