//! The upstream callback (`/upstream/{id}/callback`, GET or form_post) and the link-proof page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::pages::{FormPostPage, LinkPage, ok, render};
use crate::flows::browser::Browser;
use crate::flows::federation::{self, Arrival, Callback};
use crate::flows::link::{self, ProofView, Proven};
use crate::flows::{FlowError, authorize::Next};
use crate::protocol::params::Params;
use crate::rate_limit::LimitedAction;

pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    state.limit_per_ip(&req, LimitedAction::UpstreamPerIp)?;
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let connection = path.into_inner();
    // A cross-site form_post (Apple) arrives without our SameSite=Lax cookies: post it once more from
    // our own origin, where the browser sends them.
    if req.method() == actix_web::http::Method::POST && cookies.new_binding && params.get("relay").is_none() {
        let mut fields: Vec<(String, String)> = ["state", "code", "iss", "error", "user"]
            .iter()
            .filter_map(|k| params.get(k).map(|v| (k.to_string(), v.to_string())))
            .collect();
        fields.push(("relay".into(), "1".into()));
        return Ok(ok(&FormPostPage {
            action: format!("/upstream/{connection}/callback"),
            fields,
        }));
    }
    let callback = Callback::from_params(&params);
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let arrival =
        blocking(move || federation::callback(&p, &connection, &callback, &browser, &origin)).await?;
    match arrival {
        Arrival::SignedIn { session_id, next } => signed_in(&state, cookies, session_id, next),
        Arrival::Linked => Ok(see_other("/account?linked=1").finish()),
        Arrival::ProveAccount { proof } => Ok(see_other(&format!("/login/link?proof={proof}")).finish()),
    }
}

/// Sets the new session cookie and continues the authorization, or opens the account page.
pub fn signed_in(
    state: &AppState,
    cookies: BrowserCookies,
    session_id: String,
    next: Option<Next>,
) -> Result<HttpResponse, PageError> {
    super::authorize::continue_signed_in(state, cookies, session_id, false, next, "/account")
}

fn link_page(
    state: &AppState,
    browser: &Browser,
    proof: String,
    view: ProofView,
    error: Option<String>,
) -> LinkPage {
    LinkPage {
        csrf: state.provider.sealer.csrf_token(&browser.binding_id),
        proof,
        provider: view.provider,
        masked_email: view.masked_email,
        has_password: view.has_password,
        linked: view.linked,
        error,
    }
}

fn checked_proof(state: &AppState, cookies: &BrowserCookies, params: &Params) -> Result<String, PageError> {
    let proof = params.get("proof").ok_or_else(FlowError::expired_request)?;
    state.require_csrf(&cookies.browser, params)?;
    Ok(proof.to_string())
}

/// GET /login/link?proof=…: asks the user to sign in to the existing account.
pub async fn show_link(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let proof = params
        .get("proof")
        .ok_or_else(FlowError::expired_request)?
        .to_string();
    let (p, browser, id) = (state.provider.clone(), cookies.browser.clone(), proof.clone());
    let view = blocking(move || link::view(&p, &id, &browser)).await?;
    Ok(ok(&link_page(&state, &cookies.browser, proof, view, None)))
}

/// POST /login/link: the existing account's password proves control; the identity is linked.
pub async fn submit_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let proof = checked_proof(&state, &cookies, &params)?;
    state.limit_per_ip(&req, LimitedAction::SignInPerIp)?;
    let password = params.get("password").unwrap_or_default().to_string();
    let (p, browser, id, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        proof.clone(),
        state.origin(&req),
    );
    match blocking(move || link::with_password(&p, &id, &password, &browser, &origin)).await? {
        Proven::SignedIn { session_id, next } => signed_in(&state, cookies, session_id, next),
        Proven::Failed(view) => {
            state.metrics.sign_in_failed();
            let error = Some("The password is not correct.".to_string());
            Ok(render(
                StatusCode::UNAUTHORIZED,
                &link_page(&state, &cookies.browser, proof, view, error),
            ))
        }
    }
}

/// POST /login/link/upstream: prove control by signing in through an identity already linked.
pub async fn link_upstream(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let proof = checked_proof(&state, &cookies, &params)?;
    state.limit_per_ip(&req, LimitedAction::UpstreamPerIp)?;
    let connection = params.get("connection").unwrap_or_default().to_string();
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let url = blocking(move || link::with_upstream(&p, &proof, &connection, &browser, &origin)).await?;
    Ok(see_other(&url).finish())
}
