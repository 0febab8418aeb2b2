//! The account portal's pages (`/account/…`, `/unsubscribe`): thin handlers around
//! `flows::portal`. Every page answers a signed-out browser with the account sign-in page, which
//! returns to that page afterwards; every form checks the CSRF token first and answers with a 303
//! and a notice flag in the query (`?saved=1`).

pub mod data;
pub mod delete;
pub mod passkeys;
pub mod password;
pub mod preferences;
pub mod profile;
pub mod security;
pub mod sessions;
pub mod unsubscribe;

use actix_web::{HttpRequest, HttpResponse};

use super::AppState;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::pages::{AccountLoginPage, ok};
use crate::audit::Origin;
use crate::flows::browser::{Browser, SignedIn, any_session};
use crate::flows::login::upstream_buttons;
use crate::flows::{FlowError, Provider, portal};
use crate::protocol::params::Params;

/// Runs `load` for the person signed in to this browser and renders its result with `render(view,
/// csrf)`; a signed-out browser gets the sign-in page, which comes back to `path`.
pub async fn page<T, L, R>(
    state: &AppState,
    req: &HttpRequest,
    path: &'static str,
    load: L,
    render: R,
) -> Result<HttpResponse, PageError>
where
    L: FnOnce(&Provider, &Browser, SignedIn) -> Result<T, FlowError> + Send + 'static,
    T: Send + 'static,
    R: FnOnce(T, String) -> HttpResponse,
{
    let cookies = BrowserCookies::read(req, state);
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    let (p, browser) = (state.provider.clone(), cookies.browser.clone());
    let loaded = blocking(move || match portal::person(&p, &browser)? {
        Some(s) => load(&p, &browser, s).map(Ok),
        // Signed in by a first factor, the second still due: finish that first, then come back.
        None if any_session(&p, &browser)?.is_some_and(|s| s.session.pending_factor) => Ok(Err(None)),
        None => Ok(Err(Some(upstream_buttons(&p)))),
    })
    .await?;
    let mut response = match loaded {
        Ok(view) => render(view, csrf),
        Err(None) => see_other(&super::account::second_factor_url(path)).finish(),
        Err(Some(upstreams)) => sign_in_page(
            csrf,
            upstreams,
            path,
            super::passkeys::login_fields(state, &cookies.browser),
        ),
    };
    with_binding(state, &cookies, &mut response)?;
    Ok(response)
}

/// The account sign-in page that continues at `return_to`.
/// `passkey`: the passkey ceremony's options and sealed state (`web::passkeys::login_fields`).
pub fn sign_in_page(
    csrf: String,
    upstreams: Vec<(String, String)>,
    return_to: &str,
    passkey: (String, String),
) -> HttpResponse {
    ok(&AccountLoginPage {
        csrf,
        upstreams,
        error: None,
        return_to: portal::is_safe_return_to(return_to).then(|| return_to.to_string()),
        passkey_options: passkey.0,
        passkey_state: passkey.1,
    })
}

/// Sets the browser-binding cookie on a response if the browser had none.
pub fn with_binding(
    state: &AppState,
    cookies: &BrowserCookies,
    response: &mut HttpResponse,
) -> Result<(), PageError> {
    if cookies.new_binding {
        response
            .add_cookie(&state.cookie("browser", cookies.browser.binding_id.clone(), None))
            .map_err(|e| FlowError::page("Something went wrong", e.to_string()))?;
    }
    Ok(())
}

/// What a portal form hands its action: the parameters, the browser, who is asking.
pub struct Submission {
    pub params: Params,
    pub browser: Browser,
    pub origin: Origin,
}

/// Handles a portal form: the CSRF token is checked first (DESIGN §4.9), then `act` runs for the
/// signed-in person. A browser signed out meanwhile is sent to `path`, which asks it to sign in.
pub async fn submit<T, A>(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    path: &'static str,
    act: A,
) -> Result<Result<(T, BrowserCookies), HttpResponse>, PageError>
where
    A: FnOnce(&Provider, SignedIn, Submission) -> Result<T, FlowError> + Send + 'static,
    T: Send + 'static,
{
    submit_params(state, req, params(req, body)?, path, act).await
}

/// `submit` with the parameters already parsed (for forms with more fields than `Params` takes).
pub async fn submit_params<T, A>(
    state: &AppState,
    req: &HttpRequest,
    params: Params,
    path: &'static str,
    act: A,
) -> Result<Result<(T, BrowserCookies), HttpResponse>, PageError>
where
    A: FnOnce(&Provider, SignedIn, Submission) -> Result<T, FlowError> + Send + 'static,
    T: Send + 'static,
{
    let cookies = BrowserCookies::read(req, state);
    state.require_csrf(&cookies.browser, &params)?;
    let submission = Submission {
        params,
        browser: cookies.browser.clone(),
        origin: state.origin(req),
    };
    let p = state.provider.clone();
    let done = blocking(move || match portal::person(&p, &submission.browser)? {
        Some(s) => act(&p, s, submission).map(Some),
        None => Ok(None),
    })
    .await?;
    Ok(match done {
        Some(value) => Ok((value, cookies)),
        None => Err(see_other(path).finish()),
    })
}

/// A UNIX time as people read it: `29 November 2026, 14:05 UTC`.
pub fn when(at: i64) -> String {
    let format =
        time::macros::format_description!("[day padding:none] [month repr:long] [year], [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at.to_string())
}

/// A UNIX time as a date: `29 November 2026`.
pub fn day(at: i64) -> String {
    let format = time::macros::format_description!("[day padding:none] [month repr:long] [year]");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at.to_string())
}
