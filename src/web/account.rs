//! /account: the portal's hub (who is signed in, organizations, linked upstream identities), the
//! account sign-in (with a `return_to` back to a portal page), and linking/unlinking providers.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::pages::{AccountLoginPage, AccountPage, PortalChrome, ok, render};
use super::portal::{page, sign_in_page, with_binding};
use crate::flows::FlowError;
use crate::flows::account;
use crate::flows::login::upstream_buttons;
use crate::flows::portal::is_safe_return_to;
use crate::protocol::params::Params;
use crate::rate_limit::LimitedAction;
use crate::store::IdentityLevel;

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let notice = match (params.get("linked"), params.get("joined")) {
        (Some(_), _) => Some("The provider is now linked to your account.".to_string()),
        (None, Some(org)) => Some(format!("You are now a member of {org}.")),
        _ => None,
    };
    page(
        &state,
        &req,
        "/account",
        |p, _, s| account::overview(p, s),
        move |view, csrf| {
            ok(&AccountPage {
                chrome: PortalChrome::new(&view.user, "overview"),
                csrf,
                light: view.user.level == IdentityLevel::Light,
                has_password: view.user.password_hash.is_some(),
                restored: view.restored,
                identities: view.identities,
                linkable: view.linkable,
                can_unlink: view.can_unlink,
                organizations: view.organizations,
                notice,
            })
        },
    )
    .await
}

/// GET /account/reauth?return_to=…: the sign-in page even when signed in, to renew the sign-in before a
/// sensitive change (a first password, deleting the account), then back to that page.
pub async fn reauth(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let return_to = params.get("return_to").unwrap_or("/account").to_string();
    let cookies = BrowserCookies::read(&req, &state);
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    let p = state.provider.clone();
    let upstreams = blocking(move || Ok(upstream_buttons(&p))).await?;
    let passkey = super::passkeys::login_fields(&state, &cookies.browser);
    let mut response = sign_in_page(csrf, upstreams, &return_to, passkey);
    with_binding(&state, &cookies, &mut response)?;
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
    let remember = super::login::remember(&params);
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let outcome = blocking(move || {
        let session = account::sign_in(&p, &email, &password, remember, &browser, &origin)?;
        let buttons = if session.is_none() {
            upstream_buttons(&p)
        } else {
            Vec::new()
        };
        Ok((session, buttons))
    })
    .await?;
    // Only a page of ours may be returned to (the portal's pages, an invitation): never an open redirect.
    let return_to = params.get("return_to").filter(|t| is_safe_return_to(t));
    match outcome {
        (Some(signed_in), _) => {
            let to = return_to.unwrap_or("/account");
            let mut response = if signed_in.pending_factor {
                see_other(&second_factor_url(to)).finish()
            } else {
                see_other(to).finish()
            };
            let persistent = remember && !signed_in.pending_factor;
            response
                .add_cookie(&state.session_cookie(signed_in.session_id, persistent))
                .map_err(|e| FlowError::page("Something went wrong", e.to_string()))?;
            Ok(response)
        }
        (None, upstreams) => {
            state.metrics.sign_in_failed();
            let (passkey_options, passkey_state) = super::passkeys::login_fields(&state, &cookies.browser);
            Ok(render(
                StatusCode::UNAUTHORIZED,
                &AccountLoginPage {
                    csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
                    upstreams,
                    error: Some("The email address or password is not correct.".into()),
                    return_to: return_to.map(str::to_string),
                    passkey_options,
                    passkey_state,
                },
            ))
        }
    }
}

/// POST /account/upstream: sign in through a provider (signed out, or renewing the sign-in from the
/// re-authentication page) or link it (signed in).
pub async fn upstream(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (params, cookies) = checked(&state, &req, &body)?;
    state.limit_per_ip(&req, LimitedAction::UpstreamPerIp)?;
    let connection = params.get("connection").unwrap_or_default().to_string();
    let sign_in_again = params.has("reauth");
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let url =
        blocking(move || account::start_upstream(&p, &connection, sign_in_again, &browser, &origin)).await?;
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

/// The second-factor page, coming back to `return_to` (an account page) afterwards.
pub fn second_factor_url(return_to: &str) -> String {
    let encoded = percent_encoding::utf8_percent_encode(return_to, percent_encoding::NON_ALPHANUMERIC);
    format!("/login/mfa?return_to={encoded}")
}
