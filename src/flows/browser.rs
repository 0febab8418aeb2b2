//! The browser as flows see it: its binding id (from a cookie) and its signed-in session, if any.

use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::config::SessionSettings;
use crate::crypto::{random_token, sha256_b64};
use crate::store::{AuthorizationCode, Session, SignInRecord, User};

/// Cookie values the web layer read. The binding id ties pending requests and CSRF tokens to one
/// browser; the session id is the sign-in. Both are random and only their hashes are stored.
#[derive(Clone, Default)]
pub struct Browser {
    pub binding_id: String,
    pub session_id: Option<String>,
    /// The User-Agent header, summarised into a new session's device (see `device_summary`).
    pub user_agent: String,
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
#[derive(Clone)]
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
    let Some(found) = find_live(p, id, now(), &Origin::default())? else {
        return Ok(None);
    };
    let session = found.session;
    Ok(p.store
        .find_user(&session.user_id)?
        .map(|user| SignedIn { session, user }))
}

/// A session found by its cookie value.
struct Found {
    session: Session,
    /// Found by its current id (not by the value it had before its last rotation).
    current: bool,
}

/// How long the value a remembered session's cookie had before its rotation still works, so that
/// requests the browser sent in parallel do not sign the person out.
pub const ROTATION_GRACE: i64 = 60;

/// `last_seen_at` is written at most this often per session (no write per request).
pub const TOUCH_INTERVAL: i64 = 60;

/// "Keep me signed in" was chosen for this session (kept across browser restarts, longer lifetimes).
pub fn is_persistent(session: &Session) -> bool {
    session.persistent
}

/// Seconds without a browser request after which the session ends.
fn idle_timeout(settings: &SessionSettings, session: &Session) -> i64 {
    let seconds = if session.persistent {
        settings.remember_idle_timeout
    } else {
        settings.idle_timeout
    };
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// Whether a session belongs on a list of the person's sign-ins (portal, admin API, CLI): complete
/// (no second factor still due) and not idle.
pub fn is_listed(settings: &SessionSettings, session: &Session, at: i64) -> bool {
    !session.pending_factor && !is_idle(settings, session, at)
}

/// Whether the session has been idle too long (a session waiting for its second factor has its own,
/// shorter, absolute expiry instead).
fn is_idle(settings: &SessionSettings, session: &Session, at: i64) -> bool {
    !session.pending_factor && at.saturating_sub(session.last_seen_at) > idle_timeout(settings, session)
}

/// The live session behind a cookie value: by its current id, or by the id it had before its last
/// rotation while the grace lasts. An idle session is ended. A pre-rotation value presented after the
/// grace is a copied cookie (as with a reused refresh token): the session ends and the event is audited.
fn find_live(p: &Provider, cookie: &str, at: i64, origin: &Origin) -> Result<Option<Found>, FlowError> {
    let hash = sha256_b64(cookie);
    let found = match p.store.find_session(&hash, at)? {
        Some(session) => Found {
            session,
            current: true,
        },
        None => match p.store.find_rotated_session(&hash, at)? {
            Some(session) if at - session.rotated_at <= ROTATION_GRACE => Found {
                session,
                current: false,
            },
            Some(session) => {
                end_replayed(p, &session, origin)?;
                return Ok(None);
            }
            None => return Ok(None),
        },
    };
    if is_idle(&p.settings.sessions, &found.session, at) {
        tracing::info!("session ended after its idle timeout");
        p.store.delete_session(&found.session.id_hash)?;
        return Ok(None);
    }
    Ok(Some(found))
}

fn end_replayed(p: &Provider, session: &Session, origin: &Origin) -> Result<(), FlowError> {
    tracing::warn!("a rotated session cookie was presented after its grace; ending the session");
    p.auditor.record(
        AuditEvent::new(kind::SESSION_REVOKED, Outcome::Failure, now())
            .origin(origin)
            .subject(&session.user_id)
            .detail(serde_json::json!({ "reason": "rotated_cookie_reused" })),
    )?;
    p.store.delete_session(&session.id_hash)?;
    Ok(())
}

/// What a browser request did to its session (see `refresh`).
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Nothing for the response to do.
    Unchanged,
    /// The cookie value was rotated: the response sets this new value.
    Rotated(String),
    /// The cookie names no live session (expired, idle, ended or replayed): the response clears it.
    Gone,
}

/// Runs for every browser request that carries a session cookie, before its handler: ends an idle
/// session, records activity (at most once per `TOUCH_INTERVAL`) and rotates a remembered session's
/// cookie value once `sessions.rotate_after` has passed. A session waiting for its second factor is
/// never rotated or extended; a request made with the pre-rotation value (in the grace) changes nothing.
pub fn refresh(p: &Provider, cookie: &str, origin: &Origin) -> Result<Refresh, FlowError> {
    let at = now();
    let Some(found) = find_live(p, cookie, at, origin)? else {
        return Ok(Refresh::Gone);
    };
    let session = &found.session;
    if session.pending_factor || !found.current {
        return Ok(Refresh::Unchanged);
    }
    let rotate_after = i64::try_from(p.settings.sessions.rotate_after).unwrap_or(i64::MAX);
    if session.persistent && at.saturating_sub(session.rotated_at) >= rotate_after {
        let id = random_token();
        // Another request may have rotated it a moment ago: then this one keeps the old value (in grace).
        if p.store.rotate_session(&session.id_hash, &sha256_b64(&id), at)? {
            tracing::debug!("session cookie rotated");
            return Ok(Refresh::Rotated(id));
        }
        return Ok(Refresh::Unchanged);
    }
    if at - session.last_seen_at >= TOUCH_INTERVAL {
        p.store.touch_session(&session.id_hash, at)?;
    }
    Ok(Refresh::Unchanged)
}

/// The most a device summary keeps.
const DEVICE_SUMMARY_MAX: usize = 64;

/// "Firefox on Linux" from a User-Agent header: the browser family and the operating system, nothing
/// more (no versions: the summary is for recognising a device, not fingerprinting it). Empty when
/// neither is recognised.
pub fn device_summary(user_agent: &str) -> String {
    let has = |needle: &str| user_agent.contains(needle);
    let browser = if has("Edg/") || has("Edge/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") {
        Some("Safari")
    } else if has("curl/") {
        Some("curl")
    } else {
        None
    };
    let system = if has("iPhone") || has("iPad") || has("iPod") {
        Some("iOS")
    } else if has("Android") {
        Some("Android")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    };
    let summary = match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) => String::new(),
    };
    summary.chars().take(DEVICE_SUMMARY_MAX).collect()
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

/// A sign-in that succeeded and is not stored yet. It is committed in one transaction with its audit
/// records and, when the sign-in answers an authorization at once, the code
/// (`authorize::continue_after_sign_in`); `commit` stores it alone.
#[must_use = "a new session must be committed"]
pub struct NewSession {
    /// The cookie value.
    pub cookie: String,
    pub signed_in: SignedIn,
    ends: Vec<String>,
    audit: Vec<AuditEvent>,
}

impl NewSession {
    /// Stores the session (ending the browser's previous one) with its audit records and `code`;
    /// returns the cookie value.
    pub fn commit_with(self, p: &Provider, code: Option<AuthorizationCode>) -> Result<String, FlowError> {
        let record = SignInRecord {
            session: self.signed_in.session,
            ends: self.ends,
            audit: self.audit,
            code,
        };
        p.store.record_sign_in(&record)?;
        record.audit.iter().for_each(crate::audit::log);
        Ok(self.cookie)
    }

    /// Stores the session with its audit records; returns the cookie value.
    pub fn commit(self, p: &Provider) -> Result<String, FlowError> {
        self.commit_with(p, None)
    }
}

/// Prepares a fresh session (a new id at every sign-in, so a planted id is worthless) that ends the
/// browser's previous one; `audit` (the `sign_in` record) commits with it.
pub fn start_session(
    p: &Provider,
    browser: &Browser,
    user: &User,
    auth: &Authentication,
    audit: Vec<AuditEvent>,
) -> Result<NewSession, FlowError> {
    let mut ends = Vec::new();
    if let Some(old) = &browser.session_id {
        let hash = sha256_b64(old);
        // A cookie sent with its pre-rotation value (in the grace) names its session that way.
        if let Some(rotated) = p.store.find_rotated_session(&hash, now())? {
            ends.push(rotated.id_hash);
        }
        ends.push(hash);
    }
    let id = random_token();
    let at = now();
    // A first factor alone, for someone who has a second: the session waits for it, briefly.
    let pending_factor = super::mfa::second_factor_due(p, user, auth)?;
    let settings = &p.settings.sessions;
    let lifetime = if auth.remember {
        settings.remember_ttl
    } else {
        settings.ttl
    };
    let lifetime = i64::try_from(lifetime).unwrap_or(i64::MAX);
    // A session waiting for its second factor keeps `persistent` (the complete session started after
    // the second factor reads it) but not its lifetime.
    let ttl = if pending_factor {
        SECOND_FACTOR_WINDOW.min(settings.ttl as i64)
    } else {
        lifetime
    };
    let session = Session {
        id_hash: sha256_b64(&id),
        user_id: user.id.clone(),
        auth_time: at,
        amr: auth.amr.clone(),
        idp: auth.idp.clone(),
        created_at: at,
        expires_at: at.saturating_add(ttl),
        pending_factor,
        persistent: auth.remember,
        last_seen_at: at,
        user_agent: device_summary(&browser.user_agent),
        previous_id_hash: None,
        rotated_at: at,
    };
    // Signing in during a deletion's grace period restores the account (issue 7, account portal).
    if !pending_factor {
        super::portal::deletion::restore_on_sign_in(p, user, &session.id_hash)?;
    }
    Ok(NewSession {
        cookie: id,
        signed_in: SignedIn {
            session,
            user: user.clone(),
        },
        ends,
        audit,
    })
}

pub fn end_session(p: &Provider, browser: &Browser) -> Result<(), FlowError> {
    if let Some(id) = &browser.session_id {
        delete_by_cookie(p, id)?;
    }
    Ok(())
}

/// Ends the session a cookie value names, also by the value it had before a rotation (a request sent
/// with it during the grace).
fn delete_by_cookie(p: &Provider, cookie: &str) -> Result<(), FlowError> {
    let hash = sha256_b64(cookie);
    p.store.delete_session(&hash)?;
    if let Some(rotated) = p.store.find_rotated_session(&hash, now())? {
        p.store.delete_session(&rotated.id_hash)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::device_summary;

    #[test]
    fn common_user_agents_are_summarised_as_browser_and_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1",
                "Chrome on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "curl"),
            ("", ""),
            ("something else entirely", ""),
        ];
        for (agent, summary) in cases {
            assert_eq!(device_summary(agent), summary, "{agent}");
        }
    }
}
