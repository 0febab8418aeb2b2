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

/// The browser's session and user, if the session is live and the user still exists.
pub fn signed_in(p: &Provider, browser: &Browser) -> Result<Option<SignedIn>, FlowError> {
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

/// Starts a fresh session (a new id at every sign-in, so a planted id is worthless) and ends the
/// previous one. Returns the new cookie value.
/// `amr` lists the methods used (RFC 8176); `idp` names the upstream connection, if any.
pub fn start_session(
    p: &Provider,
    browser: &Browser,
    user: &User,
    amr: &str,
    idp: Option<&str>,
) -> Result<String, FlowError> {
    if let Some(old) = &browser.session_id {
        p.store.delete_session(&sha256_b64(old))?;
    }
    let id = random_token();
    let at = now();
    p.store.create_session(&Session {
        id_hash: sha256_b64(&id),
        user_id: user.id.clone(),
        auth_time: at,
        amr: amr.to_string(),
        idp: idp.map(str::to_string),
        created_at: at,
        expires_at: at + p.settings.sessions.ttl as i64,
    })?;
    // Signing in during a deletion's grace period restores the account (issue 7, account portal).
    super::portal::deletion::restore_on_sign_in(p, user, &sha256_b64(&id))?;
    Ok(id)
}

pub fn end_session(p: &Provider, browser: &Browser) -> Result<(), FlowError> {
    if let Some(id) = &browser.session_id {
        p.store.delete_session(&sha256_b64(id))?;
    }
    Ok(())
}
