//! GET /account/sessions, POST /account/sessions/end and /account/sessions/end-others.

use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::errors::PageError;
use super::super::extract::{params, see_other};
use super::super::pages::{PortalChrome, PortalSessionsPage, SessionItem, ok};
use super::{page, submit, when};
use crate::flows::portal::sessions;

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    // Only a number is reflected: the notice cannot be made to say anything else.
    let notice = params(&req, &[])?
        .get("ended")
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| match n {
            1 => "The session has been signed out.".to_string(),
            n => format!("{n} sessions have been signed out."),
        });
    page(
        &state,
        &req,
        "/account/sessions",
        |p, browser, s| Ok((sessions::list(p, &s, browser)?, s.user)),
        move |(lines, user), csrf| {
            let sessions = lines
                .into_iter()
                .map(|l| SessionItem {
                    reference: l.reference,
                    methods: in_a_sentence(&l.method_words),
                    signed_in: when(l.auth_time),
                    expires: when(l.expires_at),
                    is_current: l.is_current,
                    device: if l.device.is_empty() {
                        "Unknown device".to_string()
                    } else {
                        l.device
                    },
                    persistent: l.persistent,
                    last_active: when(l.last_seen_at),
                })
                .collect();
            ok(&PortalSessionsPage {
                chrome: PortalChrome::new(&user, "sessions"),
                csrf,
                notice,
                sessions,
            })
        },
    )
    .await
}

/// "Password and authenticator app": the words joined for a sentence, the first capitalised.
fn in_a_sentence(words: &[String]) -> String {
    let joined = match words {
        [] => "an unknown method".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    let mut chars = joined.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => joined,
    }
}

/// Ends one session; ending this browser's own signs it out here too.
pub async fn end(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let done = submit(&state, &req, &body, "/account/sessions", |p, s, sub| {
        let reference = sub.params.get("session").unwrap_or_default().to_string();
        sessions::end_one(p, &s, &sub.browser, &reference, &sub.origin)
    })
    .await?;
    Ok(match done {
        Err(signed_out) => signed_out,
        Ok((true, _)) => {
            let mut response = see_other("/account").finish();
            let _ = response.add_cookie(&state.expired_session_cookie());
            response
        }
        Ok((false, _)) => see_other("/account/sessions?ended=1").finish(),
    })
}

pub async fn end_others(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let done = submit(&state, &req, &body, "/account/sessions", |p, s, sub| {
        sessions::end_others(p, &s, &sub.origin)
    })
    .await?;
    Ok(match done {
        Err(signed_out) => signed_out,
        Ok((0, _)) => see_other("/account/sessions").finish(),
        Ok((n, _)) => see_other(&format!("/account/sessions?ended={n}")).finish(),
    })
}
