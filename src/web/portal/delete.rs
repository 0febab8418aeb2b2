//! GET/POST /account/delete, and GET /account/delete/scheduled (the page after the request).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::errors::PageError;
use super::super::extract::{params, see_other};
use super::super::pages::{
    FormField, PortalChrome, PortalDeletePage, PortalDeletedPage, ok, problems, render,
};
use super::{day, page, submit};
use crate::flows::portal::deletion::{self, DeletionOutcome};
use crate::flows::portal::profile::Errors;
use crate::flows::portal::{self as portal_flows};
use crate::store::User;

fn delete_page(
    user: &User,
    csrf: String,
    recent: bool,
    errors: &Errors,
    grace_days: u64,
) -> PortalDeletePage {
    let fields = vec![FormField {
        name: "confirm_email".into(),
        id: "confirm-email".into(),
        label: "Type your email address to confirm",
        value: String::new(),
        input_type: "email",
        autocomplete: "off",
        hint: "",
        error: errors.get("confirm_email").cloned(),
    }];
    PortalDeletePage {
        chrome: PortalChrome::new(user, "data"),
        csrf,
        notice: None,
        problems: problems(&fields.iter().collect::<Vec<_>>()),
        needs_recent_sign_in: !recent,
        fields,
        grace_days,
    }
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let grace_days = state.provider.settings.portal.deletion_grace_days;
    page(
        &state,
        &req,
        "/account/delete",
        |p, _, s| Ok((portal_flows::is_recent(p, &s), s.user)),
        move |(recent, user), csrf| ok(&delete_page(&user, csrf, recent, &Errors::new(), grace_days)),
    )
    .await
}

pub async fn request(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let done = submit(&state, &req, &body, "/account/delete", |p, s, sub| {
        let confirm = sub.params.get("confirm_email").unwrap_or_default().to_string();
        Ok((deletion::request(p, &s, &confirm, &sub.origin)?, s.user))
    })
    .await?;
    let ((outcome, user), cookies) = match done {
        Ok(done) => done,
        Err(signed_out) => return Ok(signed_out),
    };
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    let grace_days = state.provider.settings.portal.deletion_grace_days;
    Ok(match outcome {
        DeletionOutcome::Scheduled { erase_at } => {
            let mut response = see_other(&format!("/account/delete/scheduled?at={erase_at}")).finish();
            let _ = response.add_cookie(&state.expired_session_cookie());
            response
        }
        DeletionOutcome::NeedsRecentSignIn => render(
            StatusCode::FORBIDDEN,
            &delete_page(&user, csrf, false, &Errors::new(), grace_days),
        ),
        DeletionOutcome::Invalid(errors) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &delete_page(&user, csrf, true, &errors, grace_days),
        ),
    })
}

/// The confirmation after a request: the person is signed out, so the date comes in the query.
pub async fn scheduled(req: HttpRequest) -> Result<HttpResponse, PageError> {
    let at = params(&req, &[])?
        .get("at")
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or_default();
    Ok(ok(&PortalDeletedPage { date: day(at) }))
}
