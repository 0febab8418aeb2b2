//! The account page: sign in to it directly (password or upstream), see linked upstream identities,
//! link another and unlink one. Unlinking the last way to sign in is refused.

use tracing::instrument;

use super::browser::{Authentication, Browser, SignedIn, signed_in, start_session};
use super::federation::{self, Purpose};
use super::login::check_password;
use super::{FlowError, Provider, now, upstreams};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::store::{Identity, User};

/// One linked identity as the page shows it.
pub struct LinkedIdentity {
    pub connection_id: String,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
}

pub struct AccountView {
    pub user: User,
    pub identities: Vec<LinkedIdentity>,
    /// Connections not linked yet: (id, display name).
    pub linkable: Vec<(String, String)>,
    /// False when the only way to sign in is a single linked identity.
    pub can_unlink: bool,
    /// Organizations the user belongs to: (name, roles).
    pub organizations: Vec<(String, Vec<String>)>,
    /// This session's sign-in cancelled a scheduled deletion of the account.
    pub restored: bool,
}

/// The hub page of the signed-in person.
pub fn overview(p: &Provider, s: SignedIn) -> Result<AccountView, FlowError> {
    let linked = p.store.list_identities(&s.user.id)?;
    let all = upstreams::list(p)?;
    let name_of = |id: &str| {
        all.iter()
            .find(|c| c.id() == id)
            .map(|c| c.name().to_string())
            .unwrap_or_else(|| id.to_string())
    };
    let identities = linked
        .iter()
        .map(|i: &Identity| LinkedIdentity {
            connection_id: i.connection_id.clone(),
            provider: name_of(&i.connection_id),
            subject: i.subject.clone(),
            email: i.email.clone(),
        })
        .collect();
    let linkable = all
        .iter()
        .filter(|c| !linked.iter().any(|i| i.connection_id == c.id()))
        .map(|c| (c.id().to_string(), c.name().to_string()))
        .collect();
    let organizations = p
        .store
        .list_memberships(&s.user.id)?
        .into_iter()
        .map(|(org, member)| (org.name, member.roles))
        .collect();
    Ok(AccountView {
        restored: super::portal::deletion::was_restored_by(p, &s)?,
        organizations,
        can_unlink: s.user.password_hash.is_some() || linked.len() > 1,
        user: s.user,
        identities,
        linkable,
    })
}

/// A sign-in on the account page: the new session, and whether it still waits for a second factor.
pub struct AccountSignIn {
    pub session_id: String,
    pub pending_factor: bool,
}

/// Password sign-in from the account page. `None` if refused.
#[instrument(skip_all)]
pub fn sign_in(
    p: &Provider,
    email: &str,
    password: &str,
    remember: bool,
    browser: &Browser,
    origin: &Origin,
) -> Result<Option<AccountSignIn>, FlowError> {
    let Some((user, event)) = check_password(p, email, password, None, origin)? else {
        return Ok(None);
    };
    let auth = Authentication::method("pwd").remembered(remember);
    let session_id = start_session(p, browser, &user, &auth, vec![event])?.commit(p)?;
    Ok(Some(AccountSignIn {
        session_id,
        pending_factor: super::mfa::second_factor_due(p, &user, &auth)?,
    }))
}

/// Starts an upstream sign-in (not signed in, or `sign_in_again` to renew the sign-in before a
/// sensitive change) or a link (signed in) from the account page.
pub fn start_upstream(
    p: &Provider,
    connection_id: &str,
    sign_in_again: bool,
    browser: &Browser,
    origin: &Origin,
) -> Result<String, FlowError> {
    let purpose = match signed_in(p, browser)? {
        Some(s) if !sign_in_again => Purpose::Link { user_id: s.user.id },
        _ => Purpose::Account { link_proof: None },
    };
    federation::start(p, connection_id, purpose, None, browser, origin)
}

/// Unlinks one of the signed-in user's identities, unless it is their last way to sign in.
#[instrument(skip_all, fields(connection = connection_id))]
pub fn unlink(
    p: &Provider,
    connection_id: &str,
    subject: &str,
    browser: &Browser,
    origin: &Origin,
) -> Result<(), FlowError> {
    let s = signed_in(p, browser)?.ok_or_else(|| {
        FlowError::page(
            "You are signed out",
            "Sign in to your account again to manage it.",
        )
    })?;
    let linked = p.store.list_identities(&s.user.id)?;
    if s.user.password_hash.is_none() && linked.len() <= 1 {
        return Err(FlowError::page(
            "This is your only way to sign in",
            "Link another provider or set a password before unlinking this one.",
        ));
    }
    if !p.store.unlink_identity(&s.user.id, connection_id, subject)? {
        return Err(FlowError::page(
            "Nothing to unlink",
            "This provider is not linked to your account.",
        ));
    }
    p.auditor.record(
        AuditEvent::new(kind::IDENTITY_UNLINKED, Outcome::Success, now())
            .origin(origin)
            .actor(&s.user.id)
            .subject(&s.user.id)
            .detail(serde_json::json!({ "connection": connection_id })),
    )?;
    Ok(())
}
