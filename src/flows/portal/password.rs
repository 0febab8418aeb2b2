//! The password page: set a first password (a light or provider-only account becomes full, keeping its
//! id, consents and data) or change it. A first password needs a recent sign-in, since no current
//! password proves who is at the keyboard; a change needs the current password. Hashing runs on the
//! bounded pool, like sign-in.

use tracing::instrument;

use super::super::admin::MIN_PASSWORD_LEN;
use super::super::browser::SignedIn;
use super::super::{FlowError, Provider, now};
use super::profile::Errors;
use super::{is_recent, own_event};
use crate::audit::{Origin, Outcome, kind};
use crate::crypto::{hash_password, verify_password};

/// The longest password accepted (argon2 takes any length; this bounds the work per attempt).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// What the person typed.
pub struct PasswordForm {
    pub current: String,
    pub new: String,
    pub confirm: String,
    /// End every other session of the account ("Sign out my other devices").
    pub sign_out_others: bool,
}

pub enum PasswordOutcome {
    /// Saved; `first` when the account had no password before.
    Changed { first: bool, signed_out: usize },
    /// Nothing changed: a message per bad field.
    Invalid(Errors),
    /// A first password needs a sign-in at most `recent_auth_seconds` old.
    NeedsRecentSignIn,
}

#[instrument(skip_all)]
pub fn change(
    p: &Provider,
    s: &SignedIn,
    form: PasswordForm,
    origin: &Origin,
) -> Result<PasswordOutcome, FlowError> {
    let first = s.user.password_hash.is_none();
    if first && !is_recent(p, s) {
        return Ok(PasswordOutcome::NeedsRecentSignIn);
    }
    let mut errors = Errors::new();
    if form.new.chars().count() < MIN_PASSWORD_LEN {
        errors.insert(
            "new_password".into(),
            format!("Use at least {MIN_PASSWORD_LEN} characters."),
        );
    } else if form.new.len() > MAX_PASSWORD_LEN {
        errors.insert(
            "new_password".into(),
            format!("Use at most {MAX_PASSWORD_LEN} characters."),
        );
    } else if form.confirm != form.new {
        errors.insert(
            "confirm_password".into(),
            "The two passwords do not match.".into(),
        );
    }
    if let Some(stored) = s.user.password_hash.clone() {
        if form.current.is_empty() {
            errors.insert("current_password".into(), "Enter your current password.".into());
        } else if form.current.len() > MAX_PASSWORD_LEN || !check(p, stored, form.current.clone())? {
            let mut failed = own_event(kind::PASSWORD_CHANGED, s, origin)
                .detail(serde_json::json!({ "reason": "wrong_current_password" }));
            failed.outcome = Outcome::Failure;
            p.auditor.record(failed)?;
            errors.insert(
                "current_password".into(),
                "This is not your current password.".into(),
            );
        }
    }
    if !errors.is_empty() {
        return Ok(PasswordOutcome::Invalid(errors));
    }
    let new = form.new;
    let hash = p
        .hash_pool
        .run(move || hash_password(&new))
        .map_err(|_| FlowError::Overloaded("password hashing"))?;
    let others: Vec<String> = if form.sign_out_others {
        let current = &s.session.id_hash;
        p.store
            .list_sessions(&s.user.id, now())?
            .into_iter()
            .map(|other| other.id_hash)
            .filter(|h| h != current)
            .collect()
    } else {
        Vec::new()
    };
    p.auditor.record(
        own_event(kind::PASSWORD_CHANGED, s, origin).detail(serde_json::json!({
            "first_password": first,
            "other_sessions_ended": others.len(),
        })),
    )?;
    p.store.set_password_hash(&s.user.id, &hash, now())?;
    for id_hash in &others {
        p.store.delete_session(id_hash)?;
    }
    Ok(PasswordOutcome::Changed {
        first,
        signed_out: others.len(),
    })
}

/// Verifies a password on the hashing pool.
fn check(p: &Provider, stored: String, typed: String) -> Result<bool, FlowError> {
    p.hash_pool
        .run(move || verify_password(&stored, &typed))
        .map_err(|_| FlowError::Overloaded("password hashing"))
}
