//! The sessions page: every live sign-in of the account, and ending one or all the others. Sessions are
//! keyed by the hash of their cookie; the page never shows it. Each line carries a reference sealed
//! for this browser instead, which no other browser can open and which says nothing by itself.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tracing::instrument;

use super::super::browser::{Browser, SignedIn};
use super::super::{FlowError, Provider, now};
use super::own_event;
use crate::audit::{Origin, kind};
use crate::crypto::b64url;

/// One session as the page shows it.
pub struct SessionLine {
    /// Sealed reference for the "Sign out" button.
    pub reference: String,
    pub created_at: i64,
    pub auth_time: i64,
    pub expires_at: i64,
    /// How the person signed in, in words ("Password", "Sign-in provider").
    pub methods: Vec<String>,
    /// The upstream connection used, if any.
    pub provider: Option<String>,
    /// The session of the browser looking at the page.
    pub is_current: bool,
    /// "Keep me signed in" was chosen (otherwise it lasts until the browser closes).
    pub persistent: bool,
    /// The last browser request seen (to the minute).
    pub last_seen_at: i64,
    /// "Firefox on Linux", or empty when the browser said nothing recognisable.
    pub device: String,
    /// How the person signed in, in words for a sentence ("password", "authenticator app",
    /// "upstream github").
    pub method_words: Vec<String>,
}

/// RFC 8176 method references in words for a sentence ("password", "passkey", "authenticator app",
/// "email code", "upstream <idp>"). `mfa` says nothing the other words do not, so it is left out.
pub fn method_words(amr: &str, idp: Option<&str>) -> Vec<String> {
    let upstream = || match idp {
        Some(idp) => format!("upstream {idp}"),
        None => "upstream sign-in".to_string(),
    };
    let mut words: Vec<String> = amr
        .split_whitespace()
        .filter(|m| *m != "mfa")
        .map(|m| match m {
            "pwd" => "password".to_string(),
            "hwk" | "swk" => "passkey".to_string(),
            "otp" => "authenticator app".to_string(),
            "email" => "email code".to_string(),
            "fed" => upstream(),
            "sms" => "text message code".to_string(),
            "pin" => "PIN".to_string(),
            other => other.to_string(),
        })
        .collect();
    words.dedup();
    if idp.is_some() && !amr.split_whitespace().any(|m| m == "fed") {
        words.push(upstream());
    }
    words
}

/// RFC 8176 authentication method references, in words.
pub fn method_name(amr: &str) -> String {
    match amr {
        "pwd" => "Password",
        "otp" => "One-time code",
        "fed" => "Sign-in provider",
        "hwk" | "swk" => "Security key or passkey",
        "mfa" => "Two-step verification",
        "sms" => "Text message code",
        "pin" => "PIN",
        other => other,
    }
    .to_string()
}

fn aad(browser: &Browser) -> Vec<u8> {
    format!("session-ref:{}", browser.binding_hash()).into_bytes()
}

/// The reference of a session for this browser: its id hash sealed under the gateway's key, bound to
/// the browser (another browser's copy does not open).
fn reference(p: &Provider, browser: &Browser, id_hash: &str) -> String {
    b64url(&p.sealer.seal(id_hash.as_bytes(), &aad(browser)))
}

fn open_reference(p: &Provider, browser: &Browser, reference: &str) -> Option<String> {
    let sealed = URL_SAFE_NO_PAD.decode(reference).ok()?;
    String::from_utf8(p.sealer.open(&sealed, &aad(browser))?).ok()
}

/// The person's live sessions: this browser's first, then the newest first. Sessions still waiting
/// for their second factor and idle ones are not sign-ins yet, or any more, and are left out.
pub fn list(p: &Provider, s: &SignedIn, browser: &Browser) -> Result<Vec<SessionLine>, FlowError> {
    let at = now();
    let mut lines: Vec<SessionLine> = p
        .store
        .list_sessions(&s.user.id, at)?
        .into_iter()
        .filter(|session| crate::flows::browser::is_listed(&p.settings.sessions, session, at))
        .map(|session| SessionLine {
            reference: reference(p, browser, &session.id_hash),
            is_current: session.id_hash == s.session.id_hash,
            created_at: session.created_at,
            auth_time: session.auth_time,
            expires_at: session.expires_at,
            methods: session.amr.split_whitespace().map(method_name).collect(),
            method_words: method_words(&session.amr, session.idp.as_deref()),
            persistent: session.persistent,
            last_seen_at: session.last_seen_at,
            device: session.user_agent,
            provider: session.idp,
        })
        .collect();
    lines.sort_by_key(|l| !l.is_current);
    Ok(lines)
}

/// Ends one of the person's sessions. Returns whether it was this browser's own; a reference that does
/// not open here, or names a session of someone else, is refused.
#[instrument(skip_all)]
pub fn end_one(
    p: &Provider,
    s: &SignedIn,
    browser: &Browser,
    reference: &str,
    origin: &Origin,
) -> Result<bool, FlowError> {
    let unknown = || {
        FlowError::page(
            "This session cannot be found",
            "Reload the sessions page and try again.",
        )
    };
    let id_hash = open_reference(p, browser, reference).ok_or_else(unknown)?;
    let owned = p
        .store
        .list_sessions(&s.user.id, now())?
        .into_iter()
        .any(|session| session.id_hash == id_hash);
    if !owned {
        return Err(unknown());
    }
    p.auditor.record(own_event(kind::SESSION_REVOKED, s, origin))?;
    p.store.delete_session(&id_hash)?;
    Ok(id_hash == s.session.id_hash)
}

/// Ends every session of the person except this browser's. Returns how many ended.
#[instrument(skip_all)]
pub fn end_others(p: &Provider, s: &SignedIn, origin: &Origin) -> Result<usize, FlowError> {
    let others: Vec<String> = p
        .store
        .list_sessions(&s.user.id, now())?
        .into_iter()
        .map(|session| session.id_hash)
        .filter(|h| *h != s.session.id_hash)
        .collect();
    if others.is_empty() {
        return Ok(0);
    }
    p.auditor.record(
        own_event(kind::SESSIONS_REVOKED, s, origin)
            .detail(serde_json::json!({ "kept_this_session": true, "ended": others.len() })),
    )?;
    for id_hash in &others {
        p.store.delete_session(id_hash)?;
    }
    Ok(others.len())
}

#[cfg(test)]
mod tests {
    use super::method_words;

    #[test]
    fn methods_are_named_in_words() {
        assert_eq!(method_words("pwd", None), ["password"]);
        assert_eq!(
            method_words("otp mfa pwd", None),
            ["authenticator app", "password"]
        );
        assert_eq!(method_words("hwk mfa pwd", None), ["passkey", "password"]);
        assert_eq!(method_words("email", None), ["email code"]);
        assert_eq!(method_words("fed", Some("github")), ["upstream github"]);
        assert_eq!(method_words("pwd", Some("corp")), ["password", "upstream corp"]);
    }
}
