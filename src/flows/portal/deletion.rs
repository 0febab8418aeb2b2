//! Deleting an account: the person asks (with a recent sign-in and their email typed as confirmation),
//! everything issued to them stops working at once, and the erasure happens after a grace period
//! (`[portal] deletion_grace_days`) during which signing in restores the account.
//!
//! Erasure removes the user row and, through the foreign keys, every row about the person; consent
//! evidence is kept under a pseudonym. The audit log keeps its records: they name people only by their
//! opaque user id and never hold an email, so once the account is gone the trail is anonymised while
//! its hash chain stays intact.

use tracing::instrument;

use super::super::browser::SignedIn;
use super::super::{FlowError, Provider, now};
use super::profile::Errors;
use super::{is_recent, own_event};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::{random_id, sha256_b64};
use crate::store::{Store, User};

pub enum DeletionOutcome {
    /// Erasure is scheduled at this time; the person is signed out everywhere.
    Scheduled {
        erase_at: i64,
    },
    NeedsRecentSignIn,
    /// Nothing happened: a message per bad field.
    Invalid(Errors),
}

/// Schedules the erasure of the signed-in person's account, ends their sessions and revokes every
/// grant (refresh tokens, and live access tokens through the deny list).
#[instrument(skip_all)]
pub fn request(
    p: &Provider,
    s: &SignedIn,
    confirm_email: &str,
    origin: &Origin,
) -> Result<DeletionOutcome, FlowError> {
    if !is_recent(p, s) {
        return Ok(DeletionOutcome::NeedsRecentSignIn);
    }
    if !confirm_email.trim().eq_ignore_ascii_case(&s.user.email) {
        let mut errors = Errors::new();
        errors.insert(
            "confirm_email".into(),
            "Type the email address of this account exactly as shown above.".into(),
        );
        return Ok(DeletionOutcome::Invalid(errors));
    }
    let at = now();
    let erase_at = at + p.settings.portal.deletion_grace_days as i64 * 86_400;
    p.auditor.record(
        own_event(kind::DELETION_REQUESTED, s, origin).detail(serde_json::json!({ "erase_at": erase_at })),
    )?;
    p.store.schedule_deletion(&s.user.id, Some(erase_at))?;
    p.store.revoke_user_grants(&s.user.id, at)?;
    p.store.delete_sessions(&s.user.id)?;
    Ok(DeletionOutcome::Scheduled { erase_at })
}

/// Called at every sign-in (`browser::start_session`, once the new session `session_hash` exists): a
/// person who signs in during the grace period gets their account back. Past the grace period the
/// account is erased now (its new session with it) and the sign-in refused.
pub fn restore_on_sign_in(p: &Provider, user: &User, session_hash: &str) -> Result<(), FlowError> {
    let Some(erase_at) = user.deletion_scheduled_at else {
        return Ok(());
    };
    if erase_at <= now() {
        erase_user(p.store.as_ref(), &user.id, "system")?;
        return Err(FlowError::page(
            "This account has been deleted",
            "It was erased at the end of the grace period after its deletion was requested.",
        ));
    }
    p.auditor.record(
        AuditEvent::new(kind::DELETION_CANCELLED, Outcome::Success, now())
            .actor(&user.id)
            .subject(&user.id)
            .detail(serde_json::json!({ "was_due_at": erase_at, "session": session_tag(session_hash) })),
    )?;
    p.store.schedule_deletion(&user.id, None)?;
    Ok(())
}

/// Names a session in the audit record without its hash: a digest of the hash, truncated.
fn session_tag(session_hash: &str) -> String {
    sha256_b64(session_hash)[..16].to_string()
}

/// Whether this session's sign-in restored the account (the account page then says so).
pub fn was_restored_by(p: &Provider, s: &SignedIn) -> Result<bool, FlowError> {
    let tag = session_tag(&s.session.id_hash);
    Ok(p.store.audit_for_user(&s.user.id, 5)?.iter().any(|r| {
        r.event.event == kind::DELETION_CANCELLED && r.event.detail["session"].as_str() == Some(tag.as_str())
    }))
}

/// Erases every account whose grace period has ended (the periodic housekeeping task). Returns how
/// many were erased. Idempotent across replicas: an account already gone is skipped.
pub fn erase_due_accounts(p: &Provider, now: i64) -> Result<usize, FlowError> {
    let mut erased = 0;
    for user_id in p.store.users_due_for_erasure(now)? {
        if erase_user(p.store.as_ref(), &user_id, "system")? {
            erased += 1;
        }
    }
    Ok(erased)
}

/// Erases one account now, in this order: the `user.erased` audit record (the user id only), the
/// consent records moved to a pseudonym (kept as evidence), then the account and every row about it.
/// `actor` is `system` (grace period over), `client:<id>` or `cli` (a request by other channels).
/// False if there is no such user.
#[instrument(skip_all)]
pub fn erase_user(store: &dyn Store, user_id: &str, actor: &str) -> Result<bool, FlowError> {
    let Some(user) = store.find_user(user_id)? else {
        return Ok(false);
    };
    let pseudonym = format!("erased-{}", random_id());
    // Written directly (not through the batching auditor), so that the command line can erase too.
    let event = AuditEvent::new(kind::USER_ERASED, Outcome::Success, now())
        .actor(actor)
        .subject(&user.id)
        .detail(serde_json::json!({
            "requested": user.deletion_scheduled_at.is_some(),
            "consent_pseudonym": pseudonym,
        }));
    crate::audit::log(&event);
    store.append_audit(&[event])?;
    store.anonymise_consent_records(&user.id, &pseudonym)?;
    Ok(store.erase_account(&user.id, &user.email, now())?)
}
