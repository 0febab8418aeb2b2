//! GET /account/security and its forms: the authenticator app and recovery codes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::errors::PageError;
use super::super::extract::{BrowserCookies, params, see_other};
use super::super::pages::{PortalChrome, PortalSecurityPage, RecoveryCodesPage, TotpSetupPage, ok, render};
use super::{page, submit};
use crate::flows::FlowError;
use crate::flows::portal::security::{self, Change};
use crate::rate_limit::LimitedAction;

const PATH: &str = "/account/security";

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let notice = params(&req, &[])?.get("done").map(|what| match what {
        "totp" => "Your authenticator app is set up.".to_string(),
        "removed" => "Your authenticator app was removed.".to_string(),
        _ => "Saved.".to_string(),
    });
    page(
        &state,
        &req,
        PATH,
        |p, _, s| Ok((security::show(p, &s)?, s.user)),
        move |(view, user), csrf| {
            ok(&PortalSecurityPage {
                chrome: PortalChrome::new(&user, "security"),
                csrf,
                notice,
                error: None,
                totp: view.enrolled.totp,
                passkeys: view.enrolled.passkeys,
                recovery_codes: view.enrolled.recovery_codes,
                recent: view.recent,
                may_remove: view.may_remove,
            })
        },
    )
    .await
}

/// Renders what a change asks for next.
fn answer(
    state: &AppState,
    cookies: &BrowserCookies,
    change: Change,
    done: &str,
) -> Result<HttpResponse, PageError> {
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    Ok(match change {
        Change::Done => see_other(&format!("{PATH}?done={done}")).finish(),
        Change::NeedsRecentSignIn => see_other(&format!("/account/reauth?return_to={PATH}")).finish(),
        Change::RecoveryCodes(codes) => ok(&RecoveryCodesPage {
            csrf,
            req: None,
            return_to: None,
            codes,
            continue_to: PATH.to_string(),
            continue_post: false,
        }),
        Change::Setup(enrolment, error) => {
            let qr_svg = super::super::qr::svg(&enrolment.uri)
                .ok_or_else(|| FlowError::page("Something went wrong", "The QR code could not be drawn."))?;
            render(
                if error.is_some() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                },
                &TotpSetupPage {
                    csrf,
                    req: None,
                    return_to: None,
                    action: "/account/security/totp",
                    enrolment: enrolment.id,
                    qr_svg,
                    secret: enrolment.secret,
                    error: error.map(str::to_string),
                },
            )
        }
        Change::Refused(message) => {
            return Err(FlowError::page("This change was not made", message).into());
        }
    })
}

/// POST /account/security/totp/start
pub async fn start_totp(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let done = submit(&state, &req, &body, PATH, |p, s, _| security::start_totp(p, &s)).await?;
    match done {
        Ok((change, cookies)) => answer(&state, &cookies, change, "totp"),
        Err(signed_out) => Ok(signed_out),
    }
}

/// POST /account/security/totp: the first code of the new app.
pub async fn confirm_totp(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    state.limit_per_ip(&req, LimitedAction::SignInPerIp)?;
    let done = submit(&state, &req, &body, PATH, |p, s, sub| {
        let id = sub.params.get("enrolment").unwrap_or_default().to_string();
        let code = sub.params.get("code").unwrap_or_default().to_string();
        security::confirm_totp(p, &s, &id, &code, &sub.origin)
    })
    .await?;
    match done {
        Ok((change, cookies)) => answer(&state, &cookies, change, "totp"),
        Err(signed_out) => Ok(signed_out),
    }
}

/// POST /account/security/totp/remove
pub async fn remove_totp(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let done = submit(&state, &req, &body, PATH, |p, s, sub| {
        let sign_out_others = sub.params.has("sign_out_others");
        security::remove_totp(p, &s, sign_out_others, &sub.origin)
    })
    .await?;
    match done {
        Ok((change, cookies)) => answer(&state, &cookies, change, "removed"),
        Err(signed_out) => Ok(signed_out),
    }
}

/// POST /account/security/recovery-codes: new codes, replacing the old ones.
pub async fn recovery_codes(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let done = submit(&state, &req, &body, PATH, |p, s, sub| {
        security::new_recovery_codes(p, &s, &sub.origin)
    })
    .await?;
    match done {
        Ok((change, cookies)) => answer(&state, &cookies, change, "codes"),
        Err(signed_out) => Ok(signed_out),
    }
}
