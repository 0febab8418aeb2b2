//! The passkeys page: list the person's passkeys, add one (a recent sign-in first: a new way to sign
//! in is as sensitive as a first password), rename one, remove one (a recent sign-in too, and never the
//! last factor an MFA policy needs).

use serde_json::json;
use tracing::instrument;

use super::super::browser::{Browser, SignedIn};
use super::super::passkeys::{self as passkey_flows, Ceremony, clean_name};
use super::super::{FlowError, Provider, now};
use super::{is_recent, own_event};
use crate::audit::{Origin, kind};
use crate::store::StoredPasskey;

/// What the page shows: the passkeys, and the registration ceremony when a new one may be added.
pub struct PasskeysView {
    pub passkeys: Vec<StoredPasskey>,
    /// `None` when the sign-in is not recent enough to add one (or passkeys are off).
    pub registration: Option<Ceremony>,
    pub recent: bool,
    pub available: bool,
}

pub fn view(p: &Provider, s: &SignedIn, browser: &Browser) -> Result<PasskeysView, FlowError> {
    let recent = is_recent(p, s);
    let available = passkey_flows::is_available(p);
    let registration = if recent && available {
        Some(passkey_flows::begin_registration(p, browser, &s.user)?)
    } else {
        None
    };
    Ok(PasskeysView {
        passkeys: p.store.list_passkeys(&s.user.id)?,
        registration,
        recent,
        available,
    })
}

pub enum Change {
    Done,
    /// Nothing changed: the message for the page.
    Refused(String),
    /// Adding or removing a passkey needs a sign-in at most `recent_auth_seconds` old.
    NeedsRecentSignIn,
}

/// Completes the registration ceremony of the page.
#[instrument(skip_all)]
pub fn add(
    p: &Provider,
    s: &SignedIn,
    browser: &Browser,
    state: &str,
    credential: &str,
    name: &str,
    origin: &Origin,
) -> Result<Change, FlowError> {
    if !is_recent(p, s) {
        return Ok(Change::NeedsRecentSignIn);
    }
    if credential.trim().is_empty() {
        return Ok(Change::Refused(
            "Your browser did not create a passkey. Try again.".into(),
        ));
    }
    Ok(
        match passkey_flows::finish_registration(p, browser, state, credential, &s.user, name, origin)? {
            Ok(()) => Change::Done,
            Err(message) => Change::Refused(message),
        },
    )
}

#[instrument(skip_all)]
pub fn rename(p: &Provider, s: &SignedIn, id: &str, name: &str) -> Result<Change, FlowError> {
    let name = match clean_name(name) {
        Ok(name) => name,
        Err(message) => return Ok(Change::Refused(message)),
    };
    Ok(if p.store.rename_passkey(&s.user.id, id, &name)? {
        Change::Done
    } else {
        Change::Refused("This passkey no longer exists.".into())
    })
}

/// Removes one passkey; `sign_out_others` also ends every other session of the account (the passkey
/// may have been lost or stolen).
#[instrument(skip_all)]
pub fn remove(
    p: &Provider,
    s: &SignedIn,
    id: &str,
    sign_out_others: bool,
    origin: &Origin,
) -> Result<Change, FlowError> {
    if !is_recent(p, s) {
        return Ok(Change::NeedsRecentSignIn);
    }
    let owned = p
        .store
        .list_passkeys(&s.user.id)?
        .into_iter()
        .find(|k| k.id == id);
    let Some(passkey) = owned else {
        return Ok(Change::Refused("This passkey no longer exists.".into()));
    };
    if !super::super::mfa::may_remove_factor(p, &s.user)? {
        return Ok(Change::Refused(
            "This is the last second factor on your account, and an organization or app you use requires \
             one. Add another passkey or an authenticator app first."
                .into(),
        ));
    }
    if !p.store.delete_passkey(&s.user.id, &passkey.id)? {
        return Ok(Change::Refused("This passkey no longer exists.".into()));
    }
    let mut signed_out = 0;
    if sign_out_others {
        for other in p.store.list_sessions(&s.user.id, now())? {
            if other.id_hash != s.session.id_hash {
                p.store.delete_session(&other.id_hash)?;
                signed_out += 1;
            }
        }
    }
    p.auditor
        .record(own_event(kind::FACTOR_REMOVED, s, origin).detail(json!({
            "factor": "passkey",
            "passkey": passkey.id,
            "other_sessions_ended": signed_out,
        })))?;
    Ok(Change::Done)
}
