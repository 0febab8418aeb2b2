//! /account: sign in to the account directly, see and manage linked upstream identities.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::pages::{AccountLoginPage, AccountPage, ok, render};
use crate::flows::FlowError;
use crate::flows::account;
use crate::flows::login::upstream_buttons;
use crate::protocol::params::Params;
use crate::rate_limit::LimitedAction;

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    let (p, browser) = (state.provider.clone(), cookies.browser.clone());
    let view = blocking(move || {
        let view = account::overview(&p, &browser)?;
        let buttons = if view.is_none() {
            upstream_buttons(&p)
        } else {
            Vec::new()
        };
        Ok((view, buttons))
    })
    .await?;
    let mut response = match view {
        (Some(view), _) => ok(&AccountPage {
            csrf,
            email: view.user.email,
            identities: view.identities,
            linkable: view.linkable,
            can_unlink: view.can_unlink,
            organizations: view.organizations,
            notice: match (params.get("linked"), params.get("joined")) {
                (Some(_), _) => Some("The provider is now linked to your account.".to_string()),
                (None, Some(org)) => Some(format!("You are now a member of {org}.")),
                _ => None,
            },
        }),
        (None, upstreams) => ok(&AccountLoginPage {
            csrf,
            upstreams,
            error: None,
        }),
    };
    if cookies.new_binding {
        response
            .add_cookie(&state.cookie("browser", cookies.browser.binding_id.clone(), None))
            .map_err(|e| FlowError::page("Something went wrong", e.to_string()))?;
    }
    Ok(response)
}

fn checked(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<(Params, BrowserCookies), PageError> {
    let params = params(req, body)?;
    let cookies = BrowserCookies::read(req, state);
    state.require_csrf(&cookies.browser, &params)?;
    Ok((params, cookies))
}

/// POST /account/login: password sign-in to the account page.
pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (params, cookies) = checked(&state, &req, &body)?;
    let email = params.get("email").unwrap_or_default().to_string();
    state.limit_per_ip(&req, LimitedAction::SignInPerIp)?;
    state.limit(
        &req,
        LimitedAction::SignInPerAccount,
        &email.trim().to_lowercase(),
    )?;
    let password = params.get("password").unwrap_or_default().to_string();
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let outcome = blocking(move || {
        let session = account::sign_in(&p, &email, &password, &browser, &origin)?;
        let buttons = if session.is_none() {
            upstream_buttons(&p)
        } else {
            Vec::new()
        };
        Ok((session, buttons))
    })
    .await?;
    match outcome {
        (Some(session_id), _) => {
            // Only an invitation page of ours may be returned to: never an open redirect.
            let target = params
                .get("return_to")
                .filter(|t| t.starts_with("/invitations/") && !t.contains("//") && !t.contains('\\'))
                .unwrap_or("/account");
            let mut response = see_other(target).finish();
            response
                .add_cookie(&state.session_cookie(session_id))
                .map_err(|e| FlowError::page("Something went wrong", e.to_string()))?;
            Ok(response)
        }
        (None, upstreams) => {
            state.metrics.sign_in_failed();
            Ok(render(
                StatusCode::UNAUTHORIZED,
                &AccountLoginPage {
                    csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
                    upstreams,
                    error: Some("The email address or password is not correct.".into()),
                },
            ))
        }
    }
}

/// POST /account/upstream: sign in through a provider (signed out) or link it (signed in).
pub async fn upstream(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (params, cookies) = checked(&state, &req, &body)?;
    state.limit_per_ip(&req, LimitedAction::UpstreamPerIp)?;
    let connection = params.get("connection").unwrap_or_default().to_string();
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let url = blocking(move || account::start_upstream(&p, &connection, &browser, &origin)).await?;
    Ok(see_other(&url).finish())
}

/// POST /account/unlink.
pub async fn unlink(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (params, cookies) = checked(&state, &req, &body)?;
    let connection = params.get("connection").unwrap_or_default().to_string();
    let subject = params.get("subject").unwrap_or_default().to_string();
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    blocking(move || account::unlink(&p, &connection, &subject, &browser, &origin)).await?;
    Ok(see_other("/account").finish())
}
