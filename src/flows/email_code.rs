//! Passwordless sign-in and light sign-up by a one-time code sent by email.
//!
//! A code is six digits, single use, valid for `email_codes.ttl` (10 minutes), bound to the browser that
//! asked for it, and allows `email_codes.max_attempts` guesses. Asking for a code answers the same for
//! every address (DESIGN §4.13): an unknown address gets a decoy challenge that no code opens, and no
//! mail; an address that already has an account, asked for at sign-up, gets a sign-in code instead.

use tracing::instrument;

use super::authorize::{Next, continue_after_sign_in};
use super::browser::{Authentication, Browser, start_session};
use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::{hmac_b64, random_bytes, random_id, random_token, sha256_b64};
use crate::mail::{EmailCodeMail, MailError, is_plausible_email, mask_email, render_email_code};
use crate::store::{EmailCode, IdentityLevel, User};

const SIGN_IN: &str = "sign_in";
const SIGN_UP: &str = "sign_up";
/// Longest display name accepted at sign-up.
const MAX_NAME: usize = 200;

/// Where the browser goes once the code is typed: the pending authorization, else a page of ours
/// (`return_to`, set by the gateway itself, e.g. an invitation), else the account page.
#[derive(Debug, Clone, Default)]
pub struct After {
    pub request_id: Option<String>,
    pub return_to: Option<String>,
}

impl After {
    pub fn authorization(request_id: Option<&str>) -> Self {
        Self {
            request_id: request_id.map(str::to_string),
            return_to: None,
        }
    }
}

/// A code is on its way (or a decoy was made): the page where it is typed.
pub struct CodeSent {
    /// The challenge id the code page carries (bound to this browser).
    pub challenge: String,
    pub masked_email: String,
}

/// The answer to a request for a code.
pub enum Requested {
    Sent(CodeSent),
    /// The input cannot be used: which field, and why.
    Invalid {
        field: &'static str,
        message: &'static str,
    },
}

/// The answer to a typed code.
pub enum Checked {
    /// Signed in: set this session; `next` continues the authorization, else go to `return_to` (or,
    /// without one, the account page).
    SignedIn {
        session_id: String,
        next: Option<Next>,
        return_to: Option<String>,
    },
    /// Not the code: the page again, with the guesses left.
    Wrong {
        masked_email: String,
        attempts_left: u32,
    },
    /// Expired, used, out of guesses or from another browser: ask for a new code.
    Expired,
}

/// Sends a sign-in code to the account with this email, if there is one.
#[instrument(skip_all)]
pub fn request_sign_in(
    p: &Provider,
    email: &str,
    after: &After,
    browser: &Browser,
    origin: &Origin,
) -> Result<Requested, FlowError> {
    let email = email.trim().to_lowercase();
    if !is_plausible_email(&email) {
        return Ok(invalid_email());
    }
    super::login::refuse_if_sso_required(p, &email)?;
    let known = p.store.find_user_by_email(&email)?;
    let sent = issue(p, &email, SIGN_IN, None, after, browser, known.is_some())?;
    audit_requested(p, known.as_ref(), SIGN_IN, origin)?;
    Ok(Requested::Sent(sent))
}

/// Starts a light sign-up: a name and an email, proven by the code. An address that already has an
/// account gets a sign-in code instead (same page, same answer).
#[instrument(skip_all)]
pub fn request_sign_up(
    p: &Provider,
    name: &str,
    email: &str,
    after: &After,
    browser: &Browser,
    origin: &Origin,
) -> Result<Requested, FlowError> {
    let name = name.trim();
    if name.is_empty() || !is_acceptable_name(name) {
        return Ok(Requested::Invalid {
            field: "name",
            message: "Enter your name (up to 200 characters).",
        });
    }
    request_for(p, Some(name), email, after, browser, origin)
}

/// A code for this address: sign-in if it has an account, else sign-up (with `name`, which may be
/// absent, e.g. for an invited person who has not given one).
pub fn request_for(
    p: &Provider,
    name: Option<&str>,
    email: &str,
    after: &After,
    browser: &Browser,
    origin: &Origin,
) -> Result<Requested, FlowError> {
    let email = email.trim().to_lowercase();
    if name.is_some_and(|n| !is_acceptable_name(n)) {
        return Ok(Requested::Invalid {
            field: "name",
            message: "Enter your name (up to 200 characters).",
        });
    }
    if !is_plausible_email(&email) {
        return Ok(invalid_email());
    }
    super::login::refuse_if_sso_required(p, &email)?;
    let known = p.store.find_user_by_email(&email)?;
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let sent = match &known {
        Some(_) => issue(p, &email, SIGN_IN, None, after, browser, true)?,
        None => issue(p, &email, SIGN_UP, name, after, browser, true)?,
    };
    let purpose = if known.is_some() { SIGN_IN } else { SIGN_UP };
    audit_requested(p, known.as_ref(), purpose, origin)?;
    Ok(Requested::Sent(sent))
}

fn is_acceptable_name(name: &str) -> bool {
    name.chars().count() <= MAX_NAME && !name.chars().any(char::is_control)
}

/// What the code page shows: the masked address, if the challenge is still live for this browser.
pub fn pending_email(p: &Provider, challenge: &str, browser: &Browser) -> Result<Option<String>, FlowError> {
    let max = p.settings.email_codes.max_attempts as i32;
    Ok(p.store
        .find_email_code(&sha256_b64(challenge), &browser.binding_hash(), now())?
        .filter(|c| c.attempts < max)
        .map(|c| mask_email(&c.email)))
}

/// Checks a typed code; on success signs the person in (creating the light account at sign-up).
#[instrument(skip_all)]
pub fn check(
    p: &Provider,
    challenge: &str,
    typed: &str,
    browser: &Browser,
    origin: &Origin,
) -> Result<Checked, FlowError> {
    let id_hash = sha256_b64(challenge);
    let digits: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let max = p.settings.email_codes.max_attempts as i32;
    let redeemed = p.store.redeem_email_code(
        &id_hash,
        &code_hash(p, challenge, &digits),
        &browser.binding_hash(),
        max,
        now(),
    )?;
    match redeemed {
        Some(row) => sign_in(p, row, browser, origin),
        None => {
            let left = p
                .store
                .find_email_code(&id_hash, &browser.binding_hash(), now())?
                .map(|c| (mask_email(&c.email), max - c.attempts));
            let failed = AuditEvent::new(kind::SIGN_IN, Outcome::Failure, now())
                .origin(origin)
                .detail(serde_json::json!({ "method": "email", "reason": "wrong_code" }));
            p.auditor.record(failed)?;
            Ok(match left {
                Some((masked_email, n)) if n > 0 => Checked::Wrong {
                    masked_email,
                    attempts_left: n as u32,
                },
                _ => Checked::Expired,
            })
        }
    }
}

fn sign_in(p: &Provider, row: EmailCode, browser: &Browser, origin: &Origin) -> Result<Checked, FlowError> {
    let user = match (p.store.find_user_by_email(&row.email)?, row.purpose.as_str()) {
        (Some(user), _) => user,
        (None, SIGN_UP) => create_light_account(p, &row, origin)?,
        (None, _) => return Ok(Checked::Expired),
    };
    let event = AuditEvent::new(kind::SIGN_IN, Outcome::Success, now())
        .origin(origin)
        .actor(&user.id)
        .subject(&user.id)
        .detail(serde_json::json!({ "method": "email" }));
    let new = start_session(p, browser, &user, &Authentication::method("email"), vec![event])?;
    let (session_id, next) = continue_after_sign_in(p, row.request_id.as_deref(), browser, new)?;
    Ok(Checked::SignedIn {
        session_id,
        next,
        return_to: row.return_to,
    })
}

/// A light account: the name given, the email just proven, no password.
fn create_light_account(p: &Provider, row: &EmailCode, origin: &Origin) -> Result<User, FlowError> {
    let at = now();
    let user = User {
        id: random_id(),
        email: row.email.clone(),
        email_verified: true,
        name: row.name.clone(),
        password_hash: None,
        created_at: at,
        updated_at: at,
        profile: Default::default(),
        level: IdentityLevel::Light,
        region: None,
        deletion_scheduled_at: None,
    };
    p.auditor.record(
        AuditEvent::new(kind::USER_CREATED, Outcome::Success, at)
            .origin(origin)
            .actor(&user.id)
            .subject(&user.id)
            .detail(serde_json::json!({ "level": "light", "method": "email" })),
    )?;
    match p.store.create_user(&user) {
        Ok(()) => Ok(user),
        // Two sign-ups for one address raced: the code proves this address, so it opens that account.
        Err(crate::store::StoreError::Conflict(_)) => p
            .store
            .find_user_by_email(&row.email)?
            .ok_or_else(FlowError::expired_request),
        Err(e) => Err(e.into()),
    }
}

/// Stores a challenge and, when `deliver`, mails its code. A decoy (`deliver == false`) stores a hash no
/// code matches, so it behaves exactly like a real challenge, including running out of guesses.
fn issue(
    p: &Provider,
    email: &str,
    purpose: &str,
    name: Option<&str>,
    after: &After,
    browser: &Browser,
    deliver: bool,
) -> Result<CodeSent, FlowError> {
    let challenge = random_token();
    let code = six_digits();
    let stored = if deliver { code.clone() } else { random_token() };
    let at = now();
    let ttl = p.settings.email_codes.ttl as i64;
    p.store.create_email_code(&EmailCode {
        id_hash: sha256_b64(&challenge),
        code_hash: code_hash(p, &challenge, &stored),
        browser_hash: browser.binding_hash(),
        email: email.to_string(),
        purpose: purpose.to_string(),
        request_id: after.request_id.clone(),
        return_to: after.return_to.clone(),
        name: name.map(str::to_string),
        attempts: 0,
        created_at: at,
        expires_at: at + ttl,
    })?;
    if deliver {
        let link = format!("{}/login/code?c={challenge}&code={code}", p.issuer());
        let message = render_email_code(&EmailCodeMail {
            to: email,
            code: &code,
            link: &link,
            sign_up: purpose == SIGN_UP,
            minutes: ttl / 60,
        })
        .map_err(|e| FlowError::page("Something went wrong", e.to_string()))?;
        p.mailer.send(message).map_err(|e| match e {
            MailError::QueueFull => FlowError::Overloaded("mail"),
            other => FlowError::page("We could not send the code", other.to_string()),
        })?;
    }
    Ok(CodeSent {
        challenge,
        masked_email: mask_email(email),
    })
}

/// The code is keyed-hashed and bound to its challenge: six digits are too few to store with a plain
/// hash, and a code cannot answer another challenge.
fn code_hash(p: &Provider, challenge: &str, code: &str) -> String {
    hmac_b64(
        &p.sealer.derive_key("email-code"),
        format!("{challenge}:{code}").as_bytes(),
    )
}

/// A uniformly random six-digit code (rejection sampling: no modulo bias).
fn six_digits() -> String {
    loop {
        let n = u32::from_be_bytes(random_bytes::<4>());
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

fn invalid_email() -> Requested {
    Requested::Invalid {
        field: "email",
        message: "Enter an email address like name@example.com.",
    }
}

fn audit_requested(
    p: &Provider,
    known: Option<&User>,
    purpose: &str,
    origin: &Origin,
) -> Result<(), FlowError> {
    let mut event = AuditEvent::new(kind::EMAIL_CODE_SENT, Outcome::Success, now())
        .origin(origin)
        .detail(serde_json::json!({ "purpose": purpose, "known_account": known.is_some() }));
    if let Some(user) = known {
        event = event.subject(&user.id);
    }
    p.auditor.record(event)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let c = six_digits();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|d| d.is_ascii_digit()));
        }
    }
}
