//! Second factors a person owns (issue 8): an authenticator app (RFC 6238 TOTP) and recovery codes.
//! Enrolment, checking and removal; the sign-in and portal pages both call these. Passkeys live in
//! `passkeys`.
//!
//! - TOTP secrets are sealed (AES-GCM, bound to the user and factor id) before they reach the store.
//! - Each code is accepted once: the store moves `last_step` forward atomically (RFC 6238 §5.2).
//! - Recovery codes are 10 random codes of 50 bits, shown once, stored as keyed hashes (HMAC under a
//!   key derived from the gateway secret), each usable once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::{hmac_b64, random_bytes, random_id};
use crate::protocol::totp;
use crate::store::{TotpFactor, User};

/// How many recovery codes a person gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// How long an enrolment may wait for its first code.
pub const ENROLMENT_SECONDS: i64 = 900;

/// An authenticator-app enrolment under way: what the setup page shows.
pub struct TotpEnrolment {
    /// The pending factor's id (the confirmation form carries it).
    pub id: String,
    /// The `otpauth://` URI for the QR code.
    pub uri: String,
    /// The secret in base32, for typing by hand, grouped by four.
    pub secret: String,
}

/// Starts enrolling an authenticator app: a fresh secret, stored sealed and unconfirmed.
pub fn start_totp(p: &Provider, user: &User) -> Result<TotpEnrolment, FlowError> {
    let secret = random_bytes::<{ totp::SECRET_BYTES }>();
    let id = random_id();
    let factor = TotpFactor {
        id: id.clone(),
        user_id: user.id.clone(),
        sealed_secret: URL_SAFE_NO_PAD.encode(p.sealer.seal(&secret, &aad(&user.id, &id))),
        label: "Authenticator app".into(),
        confirmed: false,
        last_step: 0,
        created_at: now(),
        last_used_at: None,
    };
    p.store.create_totp(&factor)?;
    let issuer = p.issuer_host();
    let encoded = totp::base32(&secret);
    let grouped = encoded
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(TotpEnrolment {
        id,
        uri: totp::otpauth_uri(&issuer, &user.email, &secret),
        secret: grouped,
    })
}

/// The pending enrolment `id` again (the setup page shown once more after a wrong code).
pub fn pending_totp(p: &Provider, user: &User, id: &str) -> Result<Option<TotpEnrolment>, FlowError> {
    let Some(factor) = p.store.find_pending_totp(id, &user.id)? else {
        return Ok(None);
    };
    if now() - factor.created_at > ENROLMENT_SECONDS {
        return Ok(None);
    }
    let Some(secret) = open_secret(p, &factor) else {
        return Ok(None);
    };
    let encoded = totp::base32(&secret);
    Ok(Some(TotpEnrolment {
        id: factor.id,
        uri: totp::otpauth_uri(&p.issuer_host(), &user.email, &secret),
        secret: encoded
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    }))
}

pub enum Confirmed {
    /// The app is enrolled; `recovery_codes` are new codes to show once (empty if the person already
    /// had codes left).
    Enrolled { recovery_codes: Vec<String> },
    /// The code was wrong (or the enrolment expired: `expired`).
    Wrong { expired: bool },
}

/// Confirms an enrolment with the first code the app shows. A person without recovery codes gets them
/// now.
pub fn confirm_totp(
    p: &Provider,
    user: &User,
    id: &str,
    code: &str,
    origin: &Origin,
) -> Result<Confirmed, FlowError> {
    let Some(factor) = p.store.find_pending_totp(id, &user.id)? else {
        return Ok(Confirmed::Wrong { expired: true });
    };
    if now() - factor.created_at > ENROLMENT_SECONDS {
        return Ok(Confirmed::Wrong { expired: true });
    }
    let secret = open_secret(p, &factor).ok_or_else(FlowError::expired_request)?;
    let Some(step) = totp::verify(&secret, code, now(), 0) else {
        return Ok(Confirmed::Wrong { expired: false });
    };
    if !p.store.confirm_totp(id, &user.id, step, now())? {
        return Ok(Confirmed::Wrong { expired: true });
    }
    audit(p, kind::FACTOR_ENROLLED, user, "totp", origin)?;
    let recovery_codes = if p.store.count_recovery_codes(&user.id)? == 0 {
        new_recovery_codes(p, user, origin)?
    } else {
        Vec::new()
    };
    Ok(Confirmed::Enrolled { recovery_codes })
}

/// Checks a code from the person's authenticator app; a used or wrong code is refused and audited.
pub fn check_totp(p: &Provider, user: &User, code: &str, origin: &Origin) -> Result<bool, FlowError> {
    let Some(factor) = p.store.find_totp(&user.id)? else {
        return Ok(false);
    };
    let secret = open_secret(p, &factor).ok_or_else(FlowError::expired_request)?;
    let at = now();
    let accepted = match totp::verify(&secret, code, at, factor.last_step) {
        Some(step) => p.store.use_totp_step(&factor.id, step, at)?,
        None => false,
    };
    audit_check(p, user, "totp", accepted, origin)?;
    Ok(accepted)
}

/// Checks (and uses up) one recovery code.
pub fn check_recovery_code(
    p: &Provider,
    user: &User,
    code: &str,
    origin: &Origin,
) -> Result<bool, FlowError> {
    let normalised = normalise_recovery_code(code);
    let accepted = !normalised.is_empty()
        && p.store
            .use_recovery_code(&user.id, &recovery_hash(p, &user.id, &normalised), now())?;
    audit_check(p, user, "recovery_code", accepted, origin)?;
    Ok(accepted)
}

/// Replaces the person's recovery codes with 10 new ones, returned once for display.
pub fn new_recovery_codes(p: &Provider, user: &User, origin: &Origin) -> Result<Vec<String>, FlowError> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| recovery_hash(p, &user.id, &normalise_recovery_code(c)))
        .collect();
    p.store.replace_recovery_codes(&user.id, &hashes, now())?;
    audit(p, kind::FACTOR_ENROLLED, user, "recovery_codes", origin)?;
    Ok(codes)
}

/// Removes the authenticator app (and, when no second factor is left, the recovery codes, which would
/// otherwise be a second factor of nothing). False if there was none.
pub fn remove_totp(p: &Provider, user: &User, origin: &Origin) -> Result<bool, FlowError> {
    if !p.store.delete_totp(&user.id)? {
        return Ok(false);
    }
    if super::passkeys::count(p, &user.id)? == 0 {
        p.store.delete_recovery_codes(&user.id)?;
    }
    audit(p, kind::FACTOR_REMOVED, user, "totp", origin)?;
    Ok(true)
}

/// An operator's reset for someone who lost every second factor (phone and recovery codes): removes
/// the authenticator app, the recovery codes and every passkey, and ends the person's sessions, so the
/// next sign-in starts from the first factor and sets up a new second one. Audited before it happens.
/// Returns how many factors went.
pub fn reset_all(store: &dyn crate::store::Store, actor: &str, user_id: &str) -> Result<usize, FlowError> {
    let passkeys = store.list_passkeys(user_id)?;
    let totp = store.find_totp(user_id)?.is_some();
    let event = AuditEvent::new(kind::FACTOR_REMOVED, Outcome::Success, now())
        .actor(actor)
        .subject(user_id)
        .detail(serde_json::json!({ "factor": "all", "totp": totp, "passkeys": passkeys.len() }));
    crate::audit::log(&event);
    store.append_audit(&[event])?;
    store.delete_totp(user_id)?;
    store.delete_recovery_codes(user_id)?;
    for key in &passkeys {
        store.delete_passkey(user_id, &key.id)?;
    }
    store.delete_sessions(user_id)?;
    Ok(usize::from(totp) + passkeys.len())
}

/// What the person has enrolled.
pub struct Enrolled {
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_codes: usize,
}

pub fn enrolled(p: &Provider, user_id: &str) -> Result<Enrolled, FlowError> {
    Ok(Enrolled {
        totp: p.store.find_totp(user_id)?.is_some(),
        passkeys: super::passkeys::count(p, user_id)?,
        recovery_codes: p.store.count_recovery_codes(user_id)?,
    })
}

impl Enrolled {
    /// Factors that can sign in on their own as a second factor (recovery codes back them up).
    pub fn count(&self) -> usize {
        usize::from(self.totp) + self.passkeys
    }
}

fn aad(user_id: &str, factor_id: &str) -> Vec<u8> {
    format!("totp\0{user_id}\0{factor_id}").into_bytes()
}

fn open_secret(p: &Provider, factor: &TotpFactor) -> Option<Vec<u8>> {
    let sealed = URL_SAFE_NO_PAD.decode(&factor.sealed_secret).ok()?;
    p.sealer.open(&sealed, &aad(&factor.user_id, &factor.id))
}

/// `xxxxx-xxxxx` in lower-case base32: 50 random bits, easy to read aloud and to type.
fn recovery_code() -> String {
    let bytes = random_bytes::<7>();
    let encoded = totp::base32(&bytes).to_lowercase();
    format!("{}-{}", &encoded[..5], &encoded[5..10])
}

/// Case, spaces and dashes do not matter when typing a code back.
fn normalise_recovery_code(code: &str) -> String {
    let cleaned: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if cleaned.len() == 10 {
        cleaned
    } else {
        String::new()
    }
}

fn recovery_hash(p: &Provider, user_id: &str, normalised: &str) -> String {
    let key = p.sealer.derive_key("recovery codes v1");
    hmac_b64(&key, format!("{user_id}\0{normalised}").as_bytes())
}

fn audit(
    p: &Provider,
    event: &'static str,
    user: &User,
    factor: &str,
    origin: &Origin,
) -> Result<(), FlowError> {
    p.auditor.record(
        AuditEvent::new(event, Outcome::Success, now())
            .origin(origin)
            .actor(&user.id)
            .subject(&user.id)
            .detail(serde_json::json!({ "factor": factor })),
    )?;
    Ok(())
}

fn audit_check(
    p: &Provider,
    user: &User,
    method: &str,
    accepted: bool,
    origin: &Origin,
) -> Result<(), FlowError> {
    let mut event = AuditEvent::new(kind::SECOND_FACTOR, Outcome::Success, now())
        .origin(origin)
        .actor(&user.id)
        .subject(&user.id)
        .detail(serde_json::json!({ "method": method }));
    if !accepted {
        event.outcome = Outcome::Failure;
        tracing::info!(method, "second factor refused");
    }
    p.auditor.record(event)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_base32_characters_and_typing_is_forgiving() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(normalise_recovery_code(&code).len(), 10);
        assert_eq!(normalise_recovery_code(" ABCDE-fghij "), "abcdefghij".to_string());
        assert_eq!(normalise_recovery_code("abc"), "");
    }
}
