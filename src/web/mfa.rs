//! The second-factor page (issue 8): `/login/mfa`, for a sign-in whose second factor is due or a
//! session a client wants stronger (step-up). Every form carries the CSRF token and either `req` (a
//! pending authorization) or `return_to` (an account page); attempts are rate-limited per account.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::authorize::{continue_signed_in, respond};
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::pages::{RecoveryCodesPage, SecondFactorPage, TotpSetupPage, ok, render};
use crate::flows::FlowError;
use crate::flows::factors::TotpEnrolment;
use crate::flows::mfa::{self, ChallengeView, Checked, Context, Method, SetupChecked};
use crate::flows::portal::is_safe_return_to;
use crate::protocol::params::Params;
use crate::rate_limit::LimitedAction;

/// `req` (a pending authorization) or a safe `return_to`; anything else is an expired link.
fn context(params: &Params) -> Result<Context, FlowError> {
    if let Some(req) = params.get("req") {
        return Ok(Context::Request(req.to_string()));
    }
    match params.get("return_to") {
        Some(to) if is_safe_return_to(to) => Ok(Context::ReturnTo(to.to_string())),
        _ => Err(FlowError::expired_request()),
    }
}

fn split(ctx: &Context) -> (Option<String>, Option<String>) {
    match ctx {
        Context::Request(id) => (Some(id.clone()), None),
        Context::ReturnTo(to) => (None, Some(to.clone())),
    }
}

fn page(csrf: String, ctx: &Context, view: ChallengeView, error: Option<&str>) -> SecondFactorPage {
    let (req, return_to) = split(ctx);
    SecondFactorPage {
        csrf,
        req,
        return_to,
        client_name: view.client_name,
        error: error.map(str::to_string),
        totp: view.totp,
        recovery_code: view.recovery_code,
        passkey: view.passkey.map(|c| (c.options, c.state)),
        enrol_totp: view.enrol_totp,
        enrol_passkey: view.enrol_passkey.map(|c| (c.options, c.state)),
        passkey_required: view.passkey_required,
    }
}

/// GET /login/mfa
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let ctx = context(&params)?;
    let cookies = BrowserCookies::read(&req, &state);
    let (p, browser, c) = (state.provider.clone(), cookies.browser.clone(), ctx.clone());
    let view = blocking(move || mfa::show(&p, &c, &browser)).await?;
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    Ok(ok(&page(csrf, &ctx, view, None)))
}

/// The form's context after the CSRF check and the per-account limit on attempts.
async fn checked(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
) -> Result<(Context, BrowserCookies), PageError> {
    let cookies = BrowserCookies::read(req, state);
    state.require_csrf(&cookies.browser, params)?;
    let ctx = context(params)?;
    state.limit_per_ip(req, LimitedAction::SignInPerIp)?;
    let (p, browser) = (state.provider.clone(), cookies.browser.clone());
    let user = blocking(move || mfa::awaiting_user(&p, &browser))
        .await?
        .ok_or_else(FlowError::expired_request)?;
    state.limit(req, LimitedAction::SecondFactorPerAccount, &user)?;
    Ok((ctx, cookies))
}

/// POST /login/mfa: an authenticator-app code or a recovery code.
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let (ctx, cookies) = checked(&state, &req, &params).await?;
    let code = params.get("code").unwrap_or_default().to_string();
    let method = match params.get("method") {
        Some("totp") => Method::Totp(code),
        Some("recovery_code") => Method::RecoveryCode(code),
        _ => return Err(FlowError::page("This form is not valid", "Go back and try again.").into()),
    };
    finish(&state, &req, ctx, cookies, method).await
}

/// POST /login/mfa/passkey: a passkey assertion as the second factor.
pub async fn passkey(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let (ctx, cookies) = checked(&state, &req, &params).await?;
    let method = Method::Passkey {
        state: params.get("state").unwrap_or_default().to_string(),
        credential: params.get("credential").unwrap_or_default().to_string(),
    };
    finish(&state, &req, ctx, cookies, method).await
}

async fn finish(
    state: &AppState,
    req: &HttpRequest,
    ctx: Context,
    cookies: BrowserCookies,
    method: Method,
) -> Result<HttpResponse, PageError> {
    let (p, browser, c, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        ctx.clone(),
        state.origin(req),
    );
    match blocking(move || mfa::check(&p, &c, &browser, method, &origin)).await? {
        Checked::Passed {
            session_id,
            persistent,
            next,
            return_to,
        } => continue_signed_in(
            state,
            cookies,
            session_id,
            persistent,
            next,
            return_to.as_deref().unwrap_or("/account"),
        ),
        Checked::Refused(view, message) => {
            state.metrics.sign_in_failed();
            let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
            Ok(render(
                StatusCode::UNAUTHORIZED,
                &page(csrf, &ctx, view, Some(message)),
            ))
        }
    }
}

fn setup_page(
    csrf: String,
    ctx: &Context,
    enrolment: TotpEnrolment,
    error: Option<&str>,
) -> Result<TotpSetupPage, FlowError> {
    let (req, return_to) = split(ctx);
    let qr_svg = super::qr::svg(&enrolment.uri)
        .ok_or_else(|| FlowError::page("Something went wrong", "The QR code could not be drawn."))?;
    Ok(TotpSetupPage {
        csrf,
        req,
        return_to,
        action: "/login/mfa/totp",
        enrolment: enrolment.id,
        qr_svg,
        secret: enrolment.secret,
        error: error.map(str::to_string),
    })
}

/// POST /login/mfa/totp/start: enrolling an authenticator app during sign-in (MFA required, none yet).
pub async fn start_totp(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    state.require_csrf(&cookies.browser, &params)?;
    let ctx = context(&params)?;
    let (p, browser, c) = (state.provider.clone(), cookies.browser.clone(), ctx.clone());
    let enrolment = blocking(move || mfa::start_totp_setup(&p, &c, &browser)).await?;
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    Ok(ok(&setup_page(csrf, &ctx, enrolment, None)?))
}

/// POST /login/mfa/totp: the first code of the new app; on success the recovery codes, shown once.
pub async fn confirm_totp(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let (ctx, cookies) = checked(&state, &req, &params).await?;
    let enrolment = params.get("enrolment").unwrap_or_default().to_string();
    let code = params.get("code").unwrap_or_default().to_string();
    let (p, browser, c, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        ctx.clone(),
        state.origin(&req),
    );
    let outcome =
        blocking(move || mfa::confirm_totp_setup(&p, &c, &browser, &enrolment, &code, &origin)).await?;
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    match outcome {
        SetupChecked::Wrong(Some(enrolment)) => Ok(render(
            StatusCode::UNAUTHORIZED,
            &setup_page(
                csrf,
                &ctx,
                enrolment,
                Some("That code is not right. Check the app and try the next code."),
            )?,
        )),
        SetupChecked::Wrong(None) => Err(FlowError::page(
            "This setup has expired",
            "Setting up an authenticator app must be finished within 15 minutes. Go back and start again.",
        )
        .into()),
        SetupChecked::Enrolled {
            session_id,
            persistent,
            recovery_codes,
        } => {
            let (req_id, _) = split(&ctx);
            let continue_to = match &ctx {
                Context::Request(_) => "/login/mfa/continue".to_string(),
                Context::ReturnTo(to) => to.clone(),
            };
            let mut response = if recovery_codes.is_empty() {
                see_other(&match &req_id {
                    Some(id) => format!("/login/mfa/continue?req={id}"),
                    None => continue_to,
                })
                .finish()
            } else {
                ok(&RecoveryCodesPage {
                    csrf,
                    continue_post: req_id.is_some(),
                    req: req_id,
                    return_to: None,
                    codes: recovery_codes,
                    continue_to,
                })
            };
            response
                .add_cookie(&state.session_cookie(session_id, persistent))
                .map_err(|e| FlowError::page("Something went wrong", e.to_string()))?;
            Ok(response)
        }
    }
}

/// GET or POST /login/mfa/continue?req=…: the authorization continues after the recovery codes were
/// shown (only for a session that passed its second factor moments ago).
pub async fn resume(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = params
        .get("req")
        .ok_or_else(FlowError::expired_request)?
        .to_string();
    let (p, browser) = (state.provider.clone(), cookies.browser.clone());
    let next = blocking(move || mfa::resume(&p, &req_id, &browser)).await?;
    Ok(respond(&state, &cookies, next))
}

/// POST /login/mfa/passkey/register: a passkey added during sign-in; the page then asks to use it.
pub async fn register_passkey(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = params(&req, &body)?;
    let (ctx, cookies) = checked(&state, &req, &params).await?;
    let (st, credential, name) = (
        params.get("state").unwrap_or_default().to_string(),
        params.get("credential").unwrap_or_default().to_string(),
        params.get("name").unwrap_or_default().to_string(),
    );
    let (p, browser, c, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        ctx.clone(),
        state.origin(&req),
    );
    let registered = blocking(move || {
        let done = mfa::register_passkey(&p, &c, &browser, &st, &credential, &name, &origin)?;
        Ok((done, mfa::show(&p, &c, &browser)?))
    })
    .await?;
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    match registered {
        (Ok(()), view) => Ok(ok(&page(
            csrf,
            &ctx,
            view,
            Some("Your passkey is added. Use it now to finish signing in."),
        ))),
        (Err(message), view) => Ok(render(
            StatusCode::BAD_REQUEST,
            &page(csrf, &ctx, view, Some(&message)),
        )),
    }
}
