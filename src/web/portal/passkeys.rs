//! GET/POST /account/passkeys, POST /account/passkeys/rename, POST /account/passkeys/remove.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::errors::PageError;
use super::super::extract::{params, see_other};
use super::super::pages::{PasskeyItem, PortalChrome, PortalPasskeysPage, ok, render};
use super::{Submission, day, page, submit, when};
use crate::flows::browser::SignedIn;
use crate::flows::portal::passkeys::{self, Change, PasskeysView};
use crate::flows::{FlowError, Provider};
use crate::rate_limit::LimitedAction;
use crate::store::User;

const PATH: &str = "/account/passkeys";

fn passkeys_page(
    user: &User,
    csrf: String,
    view: PasskeysView,
    notice: Option<String>,
    error: Option<String>,
) -> PortalPasskeysPage {
    PortalPasskeysPage {
        chrome: PortalChrome::new(user, "passkeys"),
        csrf,
        notice,
        error,
        passkeys: view
            .passkeys
            .into_iter()
            .map(|k| PasskeyItem {
                id: k.id,
                name: k.name,
                created: day(k.created_at),
                last_used: k.last_used_at.map(when),
                synced: k.backup_eligible,
                flagged: k.flagged_at.map(when),
            })
            .collect(),
        registration: view.registration.map(|c| (c.options, c.state)),
        needs_recent_sign_in: !view.recent,
        available: view.available,
    }
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let notice = params(&req, &[])?.get("done").map(|what| {
        match what {
            "added" => "Your passkey has been added. You can now sign in with it.",
            "renamed" => "The passkey has been renamed.",
            _ => "The passkey has been removed.",
        }
        .to_string()
    });
    page(
        &state,
        &req,
        PATH,
        |p, browser, s| Ok((passkeys::view(p, &s, browser)?, s.user)),
        move |(view, user), csrf| ok(&passkeys_page(&user, csrf, view, notice, None)),
    )
    .await
}

/// Answers a form: a 303 with a notice when done, else the page with the message.
async fn answer(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    done: &'static str,
    act: impl FnOnce(&Provider, &SignedIn, Submission) -> Result<Change, FlowError> + Send + 'static,
) -> Result<HttpResponse, PageError> {
    let outcome = submit(state, req, body, PATH, move |p, s, sub| {
        let browser = sub.browser.clone();
        let change = act(p, &s, sub)?;
        let view = passkeys::view(p, &s, &browser)?;
        Ok((change, view, s.user))
    })
    .await?;
    let ((change, view, user), cookies) = match outcome {
        Ok(done) => done,
        Err(signed_out) => return Ok(signed_out),
    };
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    Ok(match change {
        Change::Done => see_other(&format!("{PATH}?done={done}")).finish(),
        Change::NeedsRecentSignIn => render(
            StatusCode::FORBIDDEN,
            &passkeys_page(
                &user,
                csrf,
                view,
                None,
                Some("For your security, sign in again first: this needs a recent sign-in.".into()),
            ),
        ),
        Change::Refused(message) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &passkeys_page(&user, csrf, view, None, Some(message)),
        ),
    })
}

/// POST /account/passkeys: completes the registration ceremony run by the page's script.
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    state.limit_per_ip(&req, LimitedAction::SignInPerIp)?;
    answer(&state, &req, &body, "added", |p, s, sub| {
        let text = |name: &str| sub.params.get(name).unwrap_or_default().to_string();
        passkeys::add(
            p,
            s,
            &sub.browser,
            &text("state"),
            &text("credential"),
            &text("name"),
            &sub.origin,
        )
    })
    .await
}

/// POST /account/passkeys/rename.
pub async fn rename(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    answer(&state, &req, &body, "renamed", |p, s, sub| {
        let text = |name: &str| sub.params.get(name).unwrap_or_default().to_string();
        passkeys::rename(p, s, &text("passkey"), &text("name"))
    })
    .await
}

/// POST /account/passkeys/remove.
pub async fn remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    answer(&state, &req, &body, "removed", |p, s, sub| {
        let id = sub.params.get("passkey").unwrap_or_default().to_string();
        passkeys::remove(p, s, &id, sub.params.has("sign_out_others"), &sub.origin)
    })
    .await
}
