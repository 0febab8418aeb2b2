//! The two-step verification page: an authenticator app (set up, remove) and recovery codes (how many
//! are left, new ones). Passkeys have their own page. Every change needs a recent sign-in, is audited
//! (in `factors`), and removing the last factor is refused while an organization requires MFA.

use super::super::browser::SignedIn;
use super::super::factors::{self, Confirmed, Enrolled, TotpEnrolment};
use super::super::mfa::may_remove_factor;
use super::super::{FlowError, Provider};
use super::is_recent;
use crate::audit::Origin;

pub struct SecurityView {
    pub enrolled: Enrolled,
    pub recent: bool,
    /// Removing the authenticator app is allowed (not the last factor under a required policy).
    pub may_remove: bool,
}

pub fn show(p: &Provider, s: &SignedIn) -> Result<SecurityView, FlowError> {
    Ok(SecurityView {
        enrolled: factors::enrolled(p, &s.user.id)?,
        recent: is_recent(p, s),
        may_remove: may_remove_factor(p, &s.user)?,
    })
}

pub enum Change {
    Done,
    /// New recovery codes to show once (after enrolling the first factor, or on request).
    RecoveryCodes(Vec<String>),
    /// The setup page (again, after a wrong code).
    Setup(TotpEnrolment, Option<&'static str>),
    NeedsRecentSignIn,
    /// Refused, with the reason for the page.
    Refused(&'static str),
}

pub fn start_totp(p: &Provider, s: &SignedIn) -> Result<Change, FlowError> {
    if !is_recent(p, s) {
        return Ok(Change::NeedsRecentSignIn);
    }
    Ok(Change::Setup(factors::start_totp(p, &s.user)?, None))
}

pub fn confirm_totp(
    p: &Provider,
    s: &SignedIn,
    id: &str,
    code: &str,
    origin: &Origin,
) -> Result<Change, FlowError> {
    if !is_recent(p, s) {
        return Ok(Change::NeedsRecentSignIn);
    }
    Ok(match factors::confirm_totp(p, &s.user, id, code, origin)? {
        Confirmed::Enrolled { recovery_codes } if recovery_codes.is_empty() => Change::Done,
        Confirmed::Enrolled { recovery_codes } => Change::RecoveryCodes(recovery_codes),
        Confirmed::Wrong { expired: false } => match factors::pending_totp(p, &s.user, id)? {
            Some(enrolment) => Change::Setup(
                enrolment,
                Some("That code is not right. Check the app and try the next code."),
            ),
            None => Change::Refused("This setup has expired. Start again."),
        },
        Confirmed::Wrong { expired: true } => Change::Refused("This setup has expired. Start again."),
    })
}

/// Removes the authenticator app; `sign_out_others` also ends the person's other sessions.
pub fn remove_totp(
    p: &Provider,
    s: &SignedIn,
    sign_out_others: bool,
    origin: &Origin,
) -> Result<Change, FlowError> {
    if !is_recent(p, s) {
        return Ok(Change::NeedsRecentSignIn);
    }
    if !may_remove_factor(p, &s.user)? {
        return Ok(Change::Refused(
            "Your organization requires two-step verification: add a passkey before removing your authenticator app.",
        ));
    }
    if !factors::remove_totp(p, &s.user, origin)? {
        return Ok(Change::Refused("There is no authenticator app to remove."));
    }
    if sign_out_others {
        super::sessions::end_others(p, s, origin)?;
    }
    Ok(Change::Done)
}

pub fn new_recovery_codes(p: &Provider, s: &SignedIn, origin: &Origin) -> Result<Change, FlowError> {
    if !is_recent(p, s) {
        return Ok(Change::NeedsRecentSignIn);
    }
    if factors::enrolled(p, &s.user.id)?.count() == 0 {
        return Ok(Change::Refused(
            "Recovery codes back up a second step: set up an authenticator app or a passkey first.",
        ));
    }
    Ok(Change::RecoveryCodes(factors::new_recovery_codes(
        p, &s.user, origin,
    )?))
}
