//! The self-service account portal (`/account/…`): each page's use case for the person signed in to
//! this browser. Every change is made by the person themself, so the audit actor is their user id.
//! Sensitive changes (a first password, deleting the account) also need a recent sign-in.

pub mod api;
pub mod data;
pub mod deletion;
pub mod passkeys;
pub mod password;
pub mod preferences;
pub mod profile;
pub mod security;
pub mod sessions;
pub mod unsubscribe;

pub use data::export;
pub use deletion::erase_due_accounts;
pub use unsubscribe::unsubscribe_url;

use super::browser::{Browser, SignedIn, signed_in};
use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome};

/// The pages of the portal, by path segment: the only places a sign-in may return to (besides
/// `/account` itself and invitations), so that `return_to` can never be an open redirect.
pub const PAGES: &[&str] = &[
    "profile",
    "password",
    "passkeys",
    "security",
    "preferences",
    "consents",
    "sessions",
    "data",
    "delete",
];

/// The person signed in to this browser; `None` when signed out (the page asks them to sign in).
pub fn person(p: &Provider, browser: &Browser) -> Result<Option<SignedIn>, FlowError> {
    signed_in(p, browser)
}

/// Whether the session's sign-in is recent enough for a sensitive change (`[portal]
/// recent_auth_seconds`).
pub fn is_recent(p: &Provider, s: &SignedIn) -> bool {
    now() - s.session.auth_time <= p.settings.portal.recent_auth_seconds as i64
}

/// A `return_to` the account sign-in may redirect to: `/account`, `/account/<page>` or an invitation.
/// Anything else (other hosts, `//`, backslashes, dot segments, queries) is refused.
pub fn is_safe_return_to(target: &str) -> bool {
    let clean = !target.contains("//")
        && !target.contains('\\')
        && !target.contains("..")
        && !target.contains(['?', '#', '@', '%']);
    let known = target == "/account"
        || target
            .strip_prefix("/account/")
            .is_some_and(|page| PAGES.contains(&page))
        || target.strip_prefix("/invitations/").is_some_and(|t| {
            !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        });
    clean && known
}

/// An event the person caused about their own account.
fn own_event(kind: &str, s: &SignedIn, origin: &Origin) -> AuditEvent {
    AuditEvent::new(kind, Outcome::Success, now())
        .origin(origin)
        .actor(&s.user.id)
        .subject(&s.user.id)
}

#[cfg(test)]
mod tests {
    use super::is_safe_return_to;

    #[test]
    fn only_portal_pages_and_invitations_are_safe_to_return_to() {
        for ok in [
            "/account",
            "/account/profile",
            "/account/delete",
            "/invitations/abc-DEF_1",
        ] {
            assert!(is_safe_return_to(ok), "{ok}");
        }
        for bad in [
            "",
            "/",
            "//evil.example",
            "https://evil.example/account",
            "/\\evil.example",
            "/account/../admin",
            "/account/unknown",
            "/account/profile?next=//evil",
            "/account//evil.example",
            "/account@evil.example",
            "/invitations/",
            "/invitations/a/../../x",
            "/invitations/%2F%2Fevil",
            "account",
        ] {
            assert!(!is_safe_return_to(bad), "{bad}");
        }
    }
}
