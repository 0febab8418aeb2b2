//! GET/POST /organization: the organization picker, when a user of several organizations signs in to a
//! client that asks for organization scopes.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::authorize::respond;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::login::checked_form;
use super::pages::{InvitationPage, OrganizationPage, ok};
use crate::flows::email_code::Requested;
use crate::flows::{FlowError, authorize, organizations};

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = params
        .get("req")
        .ok_or_else(FlowError::expired_request)?
        .to_string();
    let (p, browser, id) = (state.provider.clone(), cookies.browser.clone(), req_id.clone());
    let (client_name, organizations) =
        blocking(move || authorize::organization_choices(&p, &id, &browser)).await?;
    Ok(ok(&OrganizationPage {
        csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
        req: req_id,
        client_name,
        organizations,
    }))
}

pub async fn choose(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = checked_form(&state, &cookies, &params)?;
    let organization = params
        .get("organization")
        .ok_or_else(|| FlowError::page("The form was incomplete", "Choose an organization."))?
        .to_string();
    let (p, browser) = (state.provider.clone(), cookies.browser.clone());
    let next = blocking(move || authorize::choose_organization(&p, &req_id, &organization, &browser)).await?;
    Ok(respond(&state, &cookies, next))
}

/// GET /invitations/{token}: what the invitation is, and how to accept it.
pub async fn show_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let cookies = BrowserCookies::read(&req, &state);
    let (p, browser, t) = (state.provider.clone(), cookies.browser.clone(), token.clone());
    let view = blocking(move || organizations::invitation(&p, &t, &browser)).await?;
    let mut response = ok(&InvitationPage {
        csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
        token,
        organization: view.organization,
        email: view.email,
        roles: view.roles,
        signed_in_as: view.signed_in_as,
    });
    if cookies.new_binding {
        response
            .add_cookie(&state.cookie("browser", cookies.browser.binding_id.clone(), None))
            .map_err(|e| FlowError::page("Something went wrong", e.to_string()))?;
    }
    Ok(response)
}

/// POST /invitations/{token}/code: a code to the invited address, to sign in or to sign up.
pub async fn invitation_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    state.require_csrf(&cookies.browser, &params)?;
    state.limit_per_ip(&req, crate::rate_limit::LimitedAction::EmailCodePerIp)?;
    let token = path.into_inner();
    let name = params.get("name").unwrap_or_default().to_string();
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    match blocking(move || organizations::request_invitation_code(&p, &token, &name, &browser, &origin))
        .await?
    {
        Requested::Sent(sent) => Ok(see_other(&format!("/login/code?c={}", sent.challenge)).finish()),
        Requested::Invalid { message, .. } => Err(FlowError::page("Check your name", message).into()),
    }
}

/// POST /invitations/{token}: the signed-in user accepts.
pub async fn accept_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    state.require_csrf(&cookies.browser, &params)?;
    let token = path.into_inner();
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let organization = blocking(move || organizations::accept(&p, &token, &browser, &origin)).await?;
    Ok(see_other(&format!(
        "/account?joined={}",
        percent_encoding::utf8_percent_encode(&organization, percent_encoding::NON_ALPHANUMERIC)
    ))
    .finish())
}
