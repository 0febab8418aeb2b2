//! Passkeys (WebAuthn, issue 8): registration from the account portal, passwordless sign-in and use as
//! a second factor. Built on webauthn-rs.
//!
//! No state is stored before the person is known: each ceremony's webauthn-rs state travels in the page,
//! sealed (AES-GCM) with its purpose, its expiry and the browser's binding id as associated data, so it
//! cannot be read, altered or used in another browser. What makes it single use is the database: the
//! hash of every challenge answered goes into `used_webauthn_challenges`, whose primary key refuses the
//! same challenge twice (WebAuthn §13.4.3), across replicas.
//!
//! User verification is required in every ceremony, so a passkey is multi-factor on its own (`mfa` in
//! `amr`): something the person has (the key) and something they know or are (the PIN or biometric
//! that unlocks it).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::instrument;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::authorize::{Next, continue_after_sign_in};
use super::browser::{Authentication, Browser, start_session};
use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::{b64url, random_id, sha256_b64};
use crate::store::{StoreError, StoredPasskey, User};

/// How long a ceremony shown in a page can be completed.
pub const CEREMONY_TTL: i64 = 300;
/// The longest passkey name accepted.
pub const MAX_NAME_LEN: usize = 64;
/// The name of a passkey registered without one.
const DEFAULT_NAME: &str = "Passkey";

/// A ceremony to run in the browser.
pub struct Ceremony {
    /// JSON for `navigator.credentials.get/create`: the `publicKey` member, binary fields base64url.
    pub options: String,
    /// The sealed ceremony state, for the form's hidden `state` field.
    pub state: String,
}

/// A passkey assertion that was accepted.
pub struct PasskeyUse {
    pub user: User,
    /// `hwk mfa` for a passkey bound to its device, `swk mfa` for a synced (backup-eligible) one.
    pub amr: String,
    /// The `sign_in` record of a passwordless sign-in, to commit with its session.
    pub sign_in: Option<AuditEvent>,
}

/// What a ceremony is for: part of the sealing context, so a state cannot serve another purpose.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Passwordless sign-in with a discoverable credential (the user is not known yet).
    SignIn,
    /// A known user proves possession of one of their passkeys (second factor, step-up).
    User,
    Register,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::SignIn => "sign-in",
            Purpose::User => "user",
            Purpose::Register => "register",
        }
    }
}

/// What the hidden `state` field carries, sealed.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The user the ceremony was started for (registration and second factor).
    user: Option<String>,
    /// The challenge (base64url), whose hash is recorded when the ceremony is completed.
    challenge: String,
    expires_at: i64,
    /// The webauthn-rs ceremony state.
    state: Value,
}

/// Whether passkeys are configured (the relying party has a domain).
pub fn is_available(p: &Provider) -> bool {
    matches!(
        p.settings.passkeys.relying_party(p.settings.issuer()),
        Ok(Some(_))
    )
}

/// The relying party, as configured (checked at start).
fn webauthn(p: &Provider) -> Result<Webauthn, FlowError> {
    let unavailable = || {
        FlowError::page(
            "Passkeys are not available",
            "This sign-in service is not set up for passkeys. Use another way to sign in.",
        )
    };
    let (rp_id, origin): (String, Url) = p
        .settings
        .passkeys
        .relying_party(p.settings.issuer())
        .ok()
        .flatten()
        .ok_or_else(unavailable)?;
    WebauthnBuilder::new(&rp_id, &origin)
        .map(|b| b.rp_name(&p.settings.passkeys.rp_name))
        .and_then(|b| b.build())
        .map_err(|e| {
            tracing::warn!(error = %e, "the passkey relying party cannot be built");
            unavailable()
        })
}

/// The WebAuthn user handle of a person: a digest of their opaque id, so it reveals nothing about
/// them (WebAuthn §14.6.1) and is the same for every passkey they register.
fn user_handle(user_id: &str) -> Uuid {
    let digest = sha256_b64(&format!("gatehouse webauthn user handle v1 {user_id}"));
    let bytes = URL_SAFE_NO_PAD.decode(digest).unwrap_or_default();
    let mut handle = [0u8; 16];
    for (slot, byte) in handle.iter_mut().zip(bytes) {
        *slot = byte;
    }
    Uuid::from_bytes(handle)
}

fn sealing_context(purpose: Purpose, browser: &Browser) -> Vec<u8> {
    format!(
        "gatehouse webauthn v1|{}|{}",
        purpose.as_str(),
        browser.binding_hash()
    )
    .into_bytes()
}

fn internal(e: impl std::fmt::Display) -> FlowError {
    FlowError::Store(StoreError::Database(format!("passkey state: {e}")))
}

/// Seals a ceremony's state and returns it with its options (the `publicKey` member of `challenge`).
fn ceremony(
    p: &Provider,
    browser: &Browser,
    purpose: Purpose,
    user: Option<&User>,
    challenge: impl Serialize,
    state: impl Serialize,
) -> Result<Ceremony, FlowError> {
    let challenge = serde_json::to_value(challenge).map_err(internal)?;
    let options = challenge.get("publicKey").cloned().unwrap_or(Value::Null);
    let sealed = Sealed {
        user: user.map(|u| u.id.clone()),
        challenge: options
            .get("challenge")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        expires_at: now() + CEREMONY_TTL,
        state: serde_json::to_value(state).map_err(internal)?,
    };
    let plain = serde_json::to_vec(&sealed).map_err(internal)?;
    Ok(Ceremony {
        options: options.to_string(),
        state: b64url(&p.sealer.seal(&plain, &sealing_context(purpose, browser))),
    })
}

/// Opens a sealed state for this purpose and browser; `None` if it is forged, altered, from another
/// browser or purpose, expired, or for another user.
fn open(
    p: &Provider,
    browser: &Browser,
    purpose: Purpose,
    state: &str,
    user: Option<&User>,
) -> Option<Sealed> {
    let bytes = URL_SAFE_NO_PAD.decode(state.trim()).ok()?;
    let plain = p.sealer.open(&bytes, &sealing_context(purpose, browser))?;
    let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
    let same_user = sealed.user.as_deref() == user.map(|u| u.id.as_str());
    (sealed.expires_at > now() && same_user && !sealed.challenge.is_empty()).then_some(sealed)
}

/// Records that the sealed ceremony's challenge was answered; false if it already was (a replay).
fn burn_challenge(p: &Provider, sealed: &Sealed) -> Result<bool, FlowError> {
    Ok(p.store.use_webauthn_challenge(
        &sha256_b64(&format!("webauthn {}", sealed.challenge)),
        sealed.expires_at,
    )?)
}

fn parse_passkey(stored: &StoredPasskey) -> Result<Passkey, FlowError> {
    serde_json::from_str(&stored.passkey).map_err(internal)
}

/// A user's passkeys that may sign in (not flagged).
fn usable(p: &Provider, user_id: &str) -> Result<Vec<StoredPasskey>, FlowError> {
    Ok(p.store
        .list_passkeys(user_id)?
        .into_iter()
        .filter(|k| k.flagged_at.is_none())
        .collect())
}

/// Starts a passkey sign-in. `None`: passwordless, with a discoverable credential (also offered as
/// conditional UI in the email field); `Some(user)`: one of that user's passkeys (second factor).
pub fn begin_authentication(
    p: &Provider,
    browser: &Browser,
    user: Option<&User>,
) -> Result<Ceremony, FlowError> {
    let wa = webauthn(p)?;
    match user {
        None => {
            let (challenge, state) = wa.start_discoverable_authentication().map_err(internal)?;
            ceremony(p, browser, Purpose::SignIn, None, challenge, state)
        }
        Some(user) => {
            let keys = usable(p, &user.id)?
                .iter()
                .map(parse_passkey)
                .collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Err(FlowError::page(
                    "No passkey",
                    "Your account has no passkey. Use another way to confirm it is you.",
                ));
            }
            let (challenge, state) = wa.start_passkey_authentication(&keys).map_err(internal)?;
            ceremony(p, browser, Purpose::User, Some(user), challenge, state)
        }
    }
}

/// Why an assertion was refused, for the audit record.
struct Refusal {
    reason: &'static str,
    user_id: Option<String>,
    /// The passkey flagged by this refusal (a suspected clone).
    passkey: Option<String>,
}

/// The refusal reason of a signature counter that went backwards; the passkey is flagged.
const COUNTER_REGRESSED: &str = "counter_regressed";

fn refuse(reason: &'static str, user_id: Option<&str>) -> Refusal {
    Refusal {
        reason,
        user_id: user_id.map(str::to_string),
        passkey: None,
    }
}

/// Completes a passkey sign-in started by `begin_authentication` with the same `user`. `None`: refused
/// (a forged, expired or replayed ceremony, an unknown, flagged or foreign passkey, a bad signature or
/// origin); the refusal is audited as a failed sign-in (`method` `hwk`, with the reason).
#[instrument(skip_all)]
pub fn finish_authentication(
    p: &Provider,
    browser: &Browser,
    state: &str,
    credential: &str,
    user: Option<&User>,
    origin: &Origin,
) -> Result<Option<PasskeyUse>, FlowError> {
    match verify_assertion(p, browser, state, credential, user, origin)? {
        Ok(used) => Ok(Some(used)),
        Err(refusal) => {
            tracing::info!(reason = refusal.reason, "passkey assertion refused");
            let mut detail = json!({ "method": "hwk", "factor": "passkey", "reason": refusal.reason });
            if let Some(flagged) = &refusal.passkey {
                detail["passkey"] = json!(flagged);
                detail["flagged"] = json!(true);
            }
            let mut event = AuditEvent::new(kind::SIGN_IN, Outcome::Failure, now())
                .origin(origin)
                .detail(detail);
            event.subject = refusal.user_id.or_else(|| user.map(|u| u.id.clone()));
            p.auditor.record(event)?;
            Ok(None)
        }
    }
}

fn verify_assertion(
    p: &Provider,
    browser: &Browser,
    state: &str,
    credential: &str,
    user: Option<&User>,
    origin: &Origin,
) -> Result<Result<PasskeyUse, Refusal>, FlowError> {
    let wa = webauthn(p)?;
    let purpose = if user.is_some() {
        Purpose::User
    } else {
        Purpose::SignIn
    };
    let Some(sealed) = open(p, browser, purpose, state, user) else {
        return Ok(Err(refuse("invalid_or_expired_state", None)));
    };
    let Ok(response) = serde_json::from_str::<PublicKeyCredential>(credential) else {
        return Ok(Err(refuse("malformed_credential", None)));
    };
    let credential_id = b64url(response.get_credential_id());
    let Some(stored) = p.store.find_passkey_by_credential(&credential_id)? else {
        return Ok(Err(refuse("unknown_passkey", None)));
    };
    let owner = Some(stored.user_id.as_str());
    if user.is_some_and(|u| u.id != stored.user_id) {
        return Ok(Err(refuse("passkey_of_another_account", None)));
    }
    if stored.flagged_at.is_some() {
        return Ok(Err(refuse("flagged_passkey", owner)));
    }
    // Recorded before verifying: a replayed form is refused as a replay, never mistaken for a cloned
    // authenticator (its counter is no longer above the stored one).
    if !burn_challenge(p, &sealed)? {
        return Ok(Err(refuse("replayed_challenge", owner)));
    }
    let mut passkey = parse_passkey(&stored)?;
    let verified = if user.is_some() {
        let ceremony: PasskeyAuthentication =
            serde_json::from_value(sealed.state.clone()).map_err(internal)?;
        wa.finish_passkey_authentication(&response, &ceremony)
    } else {
        // WebAuthn §7.2 step 6: without a user identified beforehand, the user handle the authenticator
        // returns must be the passkey owner's.
        let handle = response.get_user_unique_id().map(<[u8]>::to_vec);
        if handle.as_deref() != Some(user_handle(&stored.user_id).as_bytes().as_slice()) {
            return Ok(Err(refuse("user_handle_mismatch", owner)));
        }
        let ceremony: DiscoverableAuthentication =
            serde_json::from_value(sealed.state.clone()).map_err(internal)?;
        wa.finish_discoverable_authentication_v2(&response, ceremony, &passkey)
    };
    let result = match verified {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            flag_clone(p, &stored)?;
            return Ok(Err(Refusal {
                passkey: Some(stored.id.clone()),
                ..refuse(COUNTER_REGRESSED, owner)
            }));
        }
        Err(e) => {
            tracing::info!(error = %e, "passkey assertion did not verify");
            return Ok(Err(refuse("verification_failed", owner)));
        }
    };
    if !result.user_verified() {
        return Ok(Err(refuse("user_not_verified", owner)));
    }
    passkey.update_credential(&result);
    let backup_eligible = stored.backup_eligible || result.backup_eligible();
    let json = serde_json::to_string(&passkey).map_err(internal)?;
    if !p
        .store
        .record_passkey_use(&stored.id, &json, backup_eligible, now())?
    {
        return Ok(Err(refuse("flagged_passkey", owner)));
    }
    let Some(owner_user) = p.store.find_user(&stored.user_id)? else {
        return Ok(Err(refuse("unknown_account", owner)));
    };
    let method = if backup_eligible { "swk" } else { "hwk" };
    // A passwordless sign-in's record commits with its session; a second factor's is recorded by
    // the second-factor step.
    let sign_in = user.is_none().then(|| {
        AuditEvent::new(kind::SIGN_IN, Outcome::Success, now())
            .origin(origin)
            .actor(&owner_user.id)
            .subject(&owner_user.id)
            .detail(json!({ "method": method, "factor": "passkey", "passkey": stored.id }))
    });
    Ok(Ok(PasskeyUse {
        user: owner_user,
        amr: format!("{method} mfa"),
        sign_in,
    }))
}

/// A passwordless sign-in with a passkey: the assertion is checked (`finish_authentication`), a session
/// starts (`remember`: "keep me signed in") and the pending authorization request, if any, continues.
/// `None`: refused. Returns the new session cookie value and where to go next (`None`: the account
/// page).
#[instrument(skip_all)]
pub fn sign_in(
    p: &Provider,
    browser: &Browser,
    form: &SignInForm,
    request_id: Option<&str>,
    origin: &Origin,
) -> Result<Option<(String, Option<Next>)>, FlowError> {
    if let Some(id) = request_id {
        super::login::load_pending_for(p, id, browser)?;
    }
    let Some(used) = finish_authentication(p, browser, &form.state, &form.credential, None, origin)? else {
        return Ok(None);
    };
    let auth = Authentication {
        amr: used.amr,
        idp: None,
        remember: form.remember,
    };
    let new = start_session(p, browser, &used.user, &auth, used.sign_in.into_iter().collect())?;
    Ok(Some(continue_after_sign_in(p, request_id, browser, new)?))
}

/// The passkey sign-in form's fields.
pub struct SignInForm {
    /// The sealed ceremony state.
    pub state: String,
    /// The browser's `PublicKeyCredential`, as JSON.
    pub credential: String,
    pub remember: bool,
}

/// A counter that did not increase (WebAuthn §6.1.1, §7.2 step 21): two copies of the key may exist.
/// The passkey is flagged, so it no longer signs in; the refusal's audit record says so.
fn flag_clone(p: &Provider, stored: &StoredPasskey) -> Result<(), FlowError> {
    tracing::warn!(passkey = %stored.id, "passkey signature counter went backwards: flagged");
    p.store.flag_passkey(&stored.id, now())?;
    Ok(())
}

/// Starts registering a new passkey for `user`: discoverable (resident key required, so it can sign in
/// without an email), user verification required, excluding the passkeys already registered.
pub fn begin_registration(p: &Provider, browser: &Browser, user: &User) -> Result<Ceremony, FlowError> {
    let wa = webauthn(p)?;
    let existing = p
        .store
        .list_passkeys(&user.id)?
        .iter()
        .map(|k| parse_passkey(k).map(|key| key.cred_id().clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let display = user.name.clone().unwrap_or_else(|| user.email.clone());
    let (challenge, state): (_, PasskeyRegistration) = wa
        .start_passkey_registration(user_handle(&user.id), &user.email, &display, Some(existing))
        .map_err(internal)?;
    let mut challenge = serde_json::to_value(challenge).map_err(internal)?;
    // webauthn-rs leaves the resident key optional; a discoverable credential is what lets a person
    // sign in without typing anything (WebAuthn §5.4.6, `residentKey: "required"`).
    if let Some(selection) = challenge.pointer_mut("/publicKey/authenticatorSelection") {
        selection["residentKey"] = json!("required");
        selection["requireResidentKey"] = json!(true);
        selection["userVerification"] = json!("required");
    }
    ceremony(p, browser, Purpose::Register, Some(user), challenge, state)
}

/// Completes a registration started by `begin_registration` for the same user. `Ok(Err(message))`:
/// nothing was stored, and the message says why, for the form.
#[instrument(skip_all)]
pub fn finish_registration(
    p: &Provider,
    browser: &Browser,
    state: &str,
    credential: &str,
    user: &User,
    name: &str,
    origin: &Origin,
) -> Result<Result<(), String>, FlowError> {
    let name = match clean_name(name) {
        Ok(name) => name,
        Err(message) => return Ok(Err(message)),
    };
    let wa = webauthn(p)?;
    let Some(sealed) = open(p, browser, Purpose::Register, state, Some(user)) else {
        return Ok(Err("This form has expired. Reload the page and try again.".into()));
    };
    let Ok(response) = serde_json::from_str::<RegisterPublicKeyCredential>(credential) else {
        return Ok(Err(
            "Your browser's answer could not be read. Try again, or use another browser.".into(),
        ));
    };
    let ceremony: PasskeyRegistration = serde_json::from_value(sealed.state.clone()).map_err(internal)?;
    let passkey = match wa.finish_passkey_registration(&response, &ceremony) {
        Ok(passkey) => passkey,
        Err(e) => {
            tracing::info!(error = %e, "passkey registration did not verify");
            return Ok(Err(
                "The passkey could not be verified. Try again, or use another passkey.".into(),
            ));
        }
    };
    if !burn_challenge(p, &sealed)? {
        return Ok(Err(
            "This form was already used. Reload the page and try again.".into()
        ));
    }
    let json = serde_json::to_value(&passkey).map_err(internal)?;
    let backup_eligible = json
        .pointer("/cred/backup_eligible")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let at = now();
    let stored = StoredPasskey {
        id: random_id(),
        user_id: user.id.clone(),
        credential_id: b64url(passkey.cred_id().as_ref()),
        name,
        passkey: json.to_string(),
        backup_eligible,
        created_at: at,
        last_used_at: None,
        flagged_at: None,
    };
    match p.store.create_passkey(&stored, at) {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(Err("This passkey is already registered.".into())),
        Err(e) => return Err(e.into()),
    }
    p.auditor.record(
        AuditEvent::new(kind::FACTOR_ENROLLED, Outcome::Success, at)
            .origin(origin)
            .actor(&user.id)
            .subject(&user.id)
            .detail(json!({ "factor": "passkey", "passkey": stored.id, "synced": backup_eligible })),
    )?;
    Ok(Ok(()))
}

/// A passkey name as typed: trimmed, a default when empty, at most `MAX_NAME_LEN` characters.
pub fn clean_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!("Use at most {MAX_NAME_LEN} characters for the name."));
    }
    if name.chars().any(char::is_control) {
        return Err("The name cannot contain control characters.".into());
    }
    Ok(if name.is_empty() {
        DEFAULT_NAME.into()
    } else {
        name.to_string()
    })
}

/// How many passkeys the user can sign in with (flagged ones do not count).
pub fn count(p: &Provider, user_id: &str) -> Result<usize, FlowError> {
    Ok(usable(p, user_id)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_handles_are_stable_and_distinct() {
        assert_eq!(user_handle("a"), user_handle("a"));
        assert_ne!(user_handle("a"), user_handle("b"));
    }

    #[test]
    fn names_are_trimmed_bounded_and_defaulted() {
        assert_eq!(clean_name("  Laptop ").unwrap(), "Laptop");
        assert_eq!(clean_name("").unwrap(), DEFAULT_NAME);
        assert!(clean_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(clean_name("a\u{0}b").is_err());
    }
}
