//! The browser as flows see it: its binding id (from a cookie) and its signed-in session, if any.

use super::{FlowError, Provider, now};
use crate::crypto::{random_token, sha256_b64};
use crate::store::{Session, User};

/// Cookie values the web layer read. The binding id ties pending requests and CSRF tokens to one
/// browser; the session id is the sign-in. Both are random and only their hashes are stored.
#[derive(Clone, Default)]
pub struct Browser {
    pub binding_id: String,
    pub session_id: Option<String>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Browser([redacted])")
    }
}

impl Browser {
    pub fn binding_hash(&self) -> String {
        sha256_b64(&self.binding_id)
    }
}

/// A live session and its user.
pub struct SignedIn {
    pub session: Session,
    pub user: User,
}

/// The browser's session and user, if the session is live, the user still exists and no second factor
/// is still due.
pub fn signed_in(p: &Provider, browser: &Browser) -> Result<Option<SignedIn>, FlowError> {
    Ok(any_session(p, browser)?.filter(|s| !s.session.pending_factor))
}

/// The browser's session whatever its state, including one waiting for its second factor (only the
/// second-factor page may use such a session).
pub fn any_session(p: &Provider, browser: &Browser) -> Result<Option<SignedIn>, FlowError> {
    let Some(id) = &browser.session_id else {
        return Ok(None);
    };
    let Some(session) = p.store.find_session(&sha256_b64(id), now())? else {
        return Ok(None);
    };
    Ok(p.store
        .find_user(&session.user_id)?
        .map(|user| SignedIn { session, user }))
}

/// How long a session may wait for its second factor.
pub const SECOND_FACTOR_WINDOW: i64 = 600;

/// How a person proved who they are, for the session about to start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    /// RFC 8176 method references, space-separated (`pwd`, `email`, `fed`, `otp mfa pwd`, …).
    pub amr: String,
    /// The upstream connection signed in through, if any (the `idp` claim).
    pub idp: Option<String>,
    /// "Keep me signed in": a persistent session on this device.
    pub remember: bool,
}

impl Authentication {
    /// One method (RFC 8176), no upstream, not remembered.
    pub fn method(amr: &str) -> Self {
        Self {
            amr: amr.to_string(),
            ..Self::default()
        }
    }

    pub fn remembered(mut self, remember: bool) -> Self {
        self.remember = remember;
        self
    }
}

/// Starts a fresh session (a new id at every sign-in, so a planted id is worthless) and ends the
/// previous one. Returns the new cookie value.
pub fn start_session(
    p: &Provider,
    browser: &Browser,
    user: &User,
    auth: &Authentication,
) -> Result<String, FlowError> {
    if let Some(old) = &browser.session_id {
        p.store.delete_session(&sha256_b64(old))?;
    }
    let id = random_token();
    let at = now();
    // A first factor alone, for someone who has a second: the session waits for it, briefly.
    let pending_factor = super::mfa::second_factor_due(p, user, auth)?;
    let ttl = if pending_factor {
        SECOND_FACTOR_WINDOW.min(p.settings.sessions.ttl as i64)
    } else {
        p.settings.sessions.ttl as i64
    };
    p.store.create_session(&Session {
        id_hash: sha256_b64(&id),
        user_id: user.id.clone(),
        auth_time: at,
        amr: auth.amr.clone(),
        idp: auth.idp.clone(),
        created_at: at,
        expires_at: at + ttl,
        pending_factor,
    })?;
    // Signing in during a deletion's grace period restores the account (issue 7, account portal).
    if !pending_factor {
        super::portal::deletion::restore_on_sign_in(p, user, &sha256_b64(&id))?;
    }
    Ok(id)
}

pub fn end_session(p: &Provider, browser: &Browser) -> Result<(), FlowError> {
    if let Some(id) = &browser.session_id {
        p.store.delete_session(&sha256_b64(id))?;
    }
    Ok(())
}
