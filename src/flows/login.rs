//! Password sign-in on the login page. Unknown accounts and wrong passwords get the same answer in
//! about the same time (DESIGN §4.13): an unknown email is checked against a dummy hash.

use tracing::instrument;

use super::authorize::{Next, load_pending, resume_after_sign_in};
use super::browser::{Browser, start_session};
use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::{dummy_password_hash, verify_password};

/// What the login page shows.
pub struct LoginView {
    pub client_name: String,
    pub login_hint: String,
}

pub enum LoginOutcome {
    /// Signed in: set this session cookie and continue.
    SignedIn { session_id: String, next: Next },
    /// Show the form again with a neutral message.
    Failed(LoginView),
}

pub fn show(p: &Provider, request_id: &str, browser: &Browser) -> Result<LoginView, FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    Ok(LoginView {
        client_name: pending.client.name,
        login_hint: pending.request.login_hint.unwrap_or_default(),
    })
}

#[instrument(skip_all)]
pub fn submit(
    p: &Provider,
    request_id: &str,
    email: &str,
    password: &str,
    browser: &Browser,
    origin: &Origin,
) -> Result<LoginOutcome, FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    let user = p.store.find_user_by_email(email.trim())?;
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let (phc, typed) = (
        hash.unwrap_or(dummy_password_hash()).to_string(),
        password.to_string(),
    );
    let check = move || verify_password(&phc, &typed);
    let valid = p
        .hash_pool
        .run(check)
        .map_err(|_| FlowError::Overloaded("password hashing"))?
        && hash.is_some();
    let event = AuditEvent::new(kind::SIGN_IN, Outcome::Success, now())
        .origin(origin)
        .client(&pending.client.id);
    let Some(user) = user.clone().filter(|_| valid) else {
        let reason = match (&user, hash) {
            (None, _) => "unknown_account",
            (Some(_), None) => "no_password",
            (Some(_), Some(_)) => "wrong_password",
        };
        let mut failed = event.detail(serde_json::json!({ "method": "pwd", "reason": reason }));
        failed.outcome = Outcome::Failure;
        failed.subject = user.as_ref().map(|u| u.id.clone());
        p.auditor.record(failed)?;
        return Ok(LoginOutcome::Failed(LoginView {
            client_name: pending.client.name,
            login_hint: email.to_string(),
        }));
    };
    p.auditor.record(
        event
            .actor(&user.id)
            .subject(&user.id)
            .detail(serde_json::json!({ "method": "pwd" })),
    )?;
    let session_id = start_session(p, browser, &user, "pwd")?;
    let signed_in = Browser {
        binding_id: browser.binding_id.clone(),
        session_id: Some(session_id.clone()),
    };
    let next = resume_after_sign_in(p, request_id, &signed_in)?;
    Ok(LoginOutcome::SignedIn { session_id, next })
}
