//! Second factors at sign-in and step-up (issue 8): who owes one, what a client or organization
//! requires, and the second-factor page that completes a session.
//!
//! A sign-in by one factor for a person who has a second one starts a session that is `pending_factor`
//! (it counts nowhere but here). A signed-in session that is too weak for what a client asks
//! (`acr_values`, a client's or organization's MFA policy) is stepped up here too. Passing a factor
//! starts a fresh session whose `amr` lists both factors and `mfa` (RFC 8176), with a new `auth_time`.

use super::authorize::{Next, Pending, continue_after_sign_in, load_pending, resume_after_sign_in};
use super::browser::{Authentication, Browser, SignedIn, any_session, start_session};
use super::factors::{self, Confirmed, TotpEnrolment, enrolled};
use super::organizations::{self, Choice};
use super::passkeys::{self, Ceremony};
use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::protocol::acr::{self, Level};
use crate::store::{MfaOwner, MfaPolicy, User};
use crate::upstream::UpstreamMfa;

/// Factor names in policies.
pub const TOTP: &str = "totp";
pub const PASSKEY: &str = "passkey";
pub const RECOVERY_CODE: &str = "recovery_code";
pub const FACTORS: [&str; 3] = [TOTP, PASSKEY, RECOVERY_CODE];

/// Whether a sign-in by `auth` must still pass a second factor before its session counts: the person
/// has one enrolled and the first factor was not already multi-factor (a passkey with user
/// verification, or an upstream trusted for MFA).
pub fn second_factor_due(p: &Provider, user: &User, auth: &Authentication) -> Result<bool, FlowError> {
    if Level::of_amr(&auth.amr) >= Level::MultiFactor {
        return Ok(false);
    }
    Ok(enrolled(p, &user.id)?.count() > 0)
}

/// Whether an organization the person belongs to requires MFA of its members.
pub fn required_for_user(p: &Provider, user: &User) -> Result<bool, FlowError> {
    for (org, _) in p.store.list_memberships(&user.id)? {
        if p.store
            .find_mfa_policy(MfaOwner::Organization, &org.id)?
            .is_some_and(|policy| policy.required || policy.passkey_only)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// False when removing one factor would leave the person with none while one of their organizations
/// requires MFA.
pub fn may_remove_factor(p: &Provider, user: &User) -> Result<bool, FlowError> {
    Ok(enrolled(p, &user.id)?.count() > 1 || !required_for_user(p, user)?)
}

/// What an authorization needs of the session: the weakest acceptable level and the second factors
/// that count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub level: Level,
    /// Second factors that count; empty: any.
    pub factors: Vec<String>,
}

impl Requirement {
    pub fn none() -> Self {
        Self {
            level: Level::OneFactor,
            factors: Vec::new(),
        }
    }

    /// Step-up for the account's own pages: any second factor.
    pub fn any_second_factor() -> Self {
        Self {
            level: Level::MultiFactor,
            factors: Vec::new(),
        }
    }

    fn allows(&self, factor: &str) -> bool {
        match factor {
            // A recovery code or an authenticator app is never phishing-resistant.
            TOTP | RECOVERY_CODE if self.level > Level::MultiFactor => false,
            _ => self.factors.is_empty() || self.factors.iter().any(|f| f == factor),
        }
    }

    fn add(&mut self, policy: &MfaPolicy) {
        if policy.passkey_only {
            self.level = self.level.max(Level::PhishingResistant);
        } else if policy.required {
            self.level = self.level.max(Level::MultiFactor);
        }
        if !policy.factors.is_empty() {
            self.factors = if self.factors.is_empty() {
                policy.factors.clone()
            } else {
                self.factors
                    .iter()
                    .filter(|f| policy.factors.contains(f))
                    .cloned()
                    .collect()
            };
        }
    }

    /// Whether a session with these `amr` methods meets the requirement.
    pub fn is_met_by(&self, amr: &str) -> bool {
        let achieved = Level::of_amr(amr);
        if achieved < self.level {
            return false;
        }
        if self.level < Level::MultiFactor || self.factors.is_empty() {
            return true;
        }
        amr.split_whitespace().any(|m| match m {
            // RFC 8176 `otp`: an authenticator-app code or a recovery code.
            "otp" => self.allows(TOTP) || self.allows(RECOVERY_CODE),
            "hwk" | "swk" => self.allows(PASSKEY),
            _ => false,
        })
    }
}

/// The requirement of a client, an organization (if the sign-in has one), the request's `acr_values`
/// and the upstream connection the session came through (`idp`), all combined: the strictest level,
/// the factors all of them accept.
pub fn requirement(
    p: &Provider,
    client_id: &str,
    organization_id: Option<&str>,
    acr_values: &[String],
    idp: Option<&str>,
) -> Result<Requirement, FlowError> {
    let mut requirement = Requirement::none();
    if let Some(id) = idp
        && let Some(conn) = super::upstreams::find(p, id)?
        && conn.spec.mfa == UpstreamMfa::RequireLocal
    {
        requirement.level = requirement.level.max(Level::MultiFactor);
    }
    if let Some(level) = acr::requested(acr_values) {
        requirement.level = level;
    }
    if let Some(policy) = p.store.find_mfa_policy(MfaOwner::Client, client_id)? {
        requirement.add(&policy);
    }
    if let Some(org) = organization_id
        && let Some(policy) = p.store.find_mfa_policy(MfaOwner::Organization, org)?
    {
        requirement.add(&policy);
    }
    Ok(requirement)
}

/// The requirement of a pending authorization for this session (its organization as `decide` picks it).
fn requirement_of(p: &Provider, pending: &Pending, s: &SignedIn) -> Result<Requirement, FlowError> {
    let req = &pending.request;
    let org = match organizations::choose(
        p,
        req.organization.as_deref(),
        &req.scopes,
        &pending.client,
        &s.user,
    )? {
        Choice::Organization(id) => Some(id),
        _ => None,
    };
    requirement(
        p,
        &pending.client.id,
        org.as_deref(),
        &req.acr_values,
        s.session.idp.as_deref(),
    )
}

/// Where the second-factor page was sent from: a pending authorization, or a page of the account
/// (after signing in there), to return to.
#[derive(Debug, Clone)]
pub enum Context {
    Request(String),
    ReturnTo(String),
}

/// What the second-factor page offers.
pub struct ChallengeView {
    pub client_name: Option<String>,
    pub totp: bool,
    pub recovery_code: bool,
    /// A passkey assertion for one of the person's passkeys.
    pub passkey: Option<Ceremony>,
    /// No acceptable factor is enrolled, and one may be added now.
    pub enrol_totp: bool,
    pub enrol_passkey: Option<Ceremony>,
    /// Whether the requirement asks for a passkey specifically (shown as an explanation).
    pub passkey_required: bool,
}

impl ChallengeView {
    fn offers_anything(&self) -> bool {
        self.totp
            || self.recovery_code
            || self.passkey.is_some()
            || self.enrol_totp
            || self.enrol_passkey.is_some()
    }
}

/// The session to complete and what it must meet.
struct Subject {
    session: SignedIn,
    requirement: Requirement,
    client_name: Option<String>,
}

fn subject(p: &Provider, ctx: &Context, browser: &Browser) -> Result<Subject, FlowError> {
    let session = any_session(p, browser)?.ok_or_else(FlowError::expired_request)?;
    match ctx {
        Context::Request(id) => {
            let pending = load_pending(p, id, browser)?;
            let requirement = requirement_of(p, &pending, &session)?;
            Ok(Subject {
                session,
                requirement,
                client_name: Some(pending.client.name),
            })
        }
        Context::ReturnTo(_) => Ok(Subject {
            session,
            requirement: Requirement::any_second_factor(),
            client_name: None,
        }),
    }
}

pub fn show(p: &Provider, ctx: &Context, browser: &Browser) -> Result<ChallengeView, FlowError> {
    let subject = subject(p, ctx, browser)?;
    view(p, &subject, browser)
}

fn view(p: &Provider, subject: &Subject, browser: &Browser) -> Result<ChallengeView, FlowError> {
    let (user, req) = (&subject.session.user, &subject.requirement);
    let has = enrolled(p, &user.id)?;
    let passkeys_on = passkeys::is_available(p);
    let totp = has.totp && req.allows(TOTP);
    let recovery_code = has.recovery_codes > 0 && req.allows(RECOVERY_CODE);
    let passkey = if has.passkeys > 0 && req.allows(PASSKEY) && passkeys_on {
        Some(passkeys::begin_authentication(p, browser, Some(user))?)
    } else {
        None
    };
    // Adding a factor here is allowed to someone with none yet (their first factor is all there is to
    // prove), or after they passed a second factor in this session (MFA bootstrapping and upgrading).
    let may_enrol = has.count() == 0 || Level::of_amr(&subject.session.session.amr) >= Level::MultiFactor;
    let usable = totp || passkey.is_some();
    let enrol = may_enrol && !usable;
    let enrol_passkey = if enrol && req.allows(PASSKEY) && passkeys_on {
        Some(passkeys::begin_registration(p, browser, user)?)
    } else {
        None
    };
    let view = ChallengeView {
        client_name: subject.client_name.clone(),
        totp,
        recovery_code,
        passkey,
        enrol_totp: enrol && req.allows(TOTP) && !has.totp,
        enrol_passkey,
        passkey_required: req.level >= Level::PhishingResistant,
    };
    if !view.offers_anything() {
        return Err(FlowError::page(
            "A stronger sign-in is required",
            "This application requires a kind of second factor your account does not have yet. Sign in \
             to your account page with your current factors and add one (a passkey or an authenticator \
             app), then try again.",
        ));
    }
    Ok(view)
}

/// The user id behind the browser's session (pending or complete): the key of the per-account rate
/// limit on second-factor attempts.
pub fn awaiting_user(p: &Provider, browser: &Browser) -> Result<Option<String>, FlowError> {
    Ok(any_session(p, browser)?.map(|s| s.user.id))
}

/// A second factor as typed or performed.
pub enum Method {
    Totp(String),
    RecoveryCode(String),
    Passkey { state: String, credential: String },
}

pub enum Checked {
    /// Passed: the new session, and where to go (`next` for a request, else `return_to`).
    Passed {
        session_id: String,
        persistent: bool,
        next: Option<Next>,
        return_to: Option<String>,
    },
    /// Refused: the page again, with a message.
    Refused(ChallengeView, &'static str),
}

pub fn check(
    p: &Provider,
    ctx: &Context,
    browser: &Browser,
    method: Method,
    origin: &Origin,
) -> Result<Checked, FlowError> {
    let subject = subject(p, ctx, browser)?;
    let user = &subject.session.user;
    let req = &subject.requirement;
    let (passed, amr, message) = match &method {
        Method::Totp(code) if req.allows(TOTP) => (
            factors::check_totp(p, user, code, origin)?,
            "otp".to_string(),
            "That code is not right, or was already used. Wait for the next one and try again.",
        ),
        Method::RecoveryCode(code) if req.allows(RECOVERY_CODE) => (
            factors::check_recovery_code(p, user, code, origin)?,
            "otp".to_string(),
            "That recovery code is not right or was already used.",
        ),
        Method::Passkey { state, credential } if req.allows(PASSKEY) => {
            match passkeys::finish_authentication(p, browser, state, credential, Some(user), origin)? {
                Some(used) => (true, used.amr, ""),
                None => (
                    false,
                    String::new(),
                    "The passkey could not be verified. Try again.",
                ),
            }
        }
        _ => (
            false,
            String::new(),
            "This kind of second factor is not accepted here.",
        ),
    };
    if !passed {
        return Ok(Checked::Refused(view(p, &subject, browser)?, message));
    }
    complete(p, ctx, browser, &subject.session, &amr, origin)
}

/// Starts the session that passed its second factor and says where to go.
fn complete(
    p: &Provider,
    ctx: &Context,
    browser: &Browser,
    s: &SignedIn,
    second: &str,
    origin: &Origin,
) -> Result<Checked, FlowError> {
    let auth = Authentication {
        amr: acr::combine(&s.session.amr, second),
        idp: s.session.idp.clone(),
        remember: super::browser::is_persistent(&s.session),
    };
    let event = AuditEvent::new(kind::SIGN_IN, Outcome::Success, now())
        .origin(origin)
        .actor(&s.user.id)
        .subject(&s.user.id)
        .detail(serde_json::json!({ "method": auth.amr }));
    let new = start_session(p, browser, &s.user, &auth, vec![event])?;
    let (request_id, return_to) = match ctx {
        Context::Request(id) => (Some(id.as_str()), None),
        Context::ReturnTo(to) => (None, Some(to.clone())),
    };
    let (session_id, next) = continue_after_sign_in(p, request_id, browser, new)?;
    Ok(Checked::Passed {
        session_id,
        persistent: auth.remember,
        next,
        return_to,
    })
}

/// Starts enrolling an authenticator app from the second-factor page (only where the page offers it).
pub fn start_totp_setup(p: &Provider, ctx: &Context, browser: &Browser) -> Result<TotpEnrolment, FlowError> {
    let subject = subject(p, ctx, browser)?;
    if !view(p, &subject, browser)?.enrol_totp {
        return Err(FlowError::expired_request());
    }
    factors::start_totp(p, &subject.session.user)
}

pub enum SetupChecked {
    /// Enrolled and signed in: show these recovery codes once, then continue.
    Enrolled {
        session_id: String,
        persistent: bool,
        recovery_codes: Vec<String>,
    },
    /// The code was wrong: the setup page again (`None` when the enrolment expired).
    Wrong(Option<TotpEnrolment>),
}

/// Confirms the authenticator app enrolled from the second-factor page; its first code is the second
/// factor of this sign-in.
pub fn confirm_totp_setup(
    p: &Provider,
    ctx: &Context,
    browser: &Browser,
    enrolment_id: &str,
    code: &str,
    origin: &Origin,
) -> Result<SetupChecked, FlowError> {
    let subject = subject(p, ctx, browser)?;
    if !view(p, &subject, browser)?.enrol_totp {
        return Err(FlowError::expired_request());
    }
    let user = &subject.session.user;
    match factors::confirm_totp(p, user, enrolment_id, code, origin)? {
        Confirmed::Wrong { expired } => Ok(SetupChecked::Wrong(if expired {
            None
        } else {
            factors::pending_totp(p, user, enrolment_id)?
        })),
        Confirmed::Enrolled { recovery_codes } => {
            let auth = Authentication {
                amr: acr::combine(&subject.session.session.amr, "otp"),
                idp: subject.session.session.idp.clone(),
                remember: super::browser::is_persistent(&subject.session.session),
            };
            let session_id = start_session(p, browser, user, &auth, Vec::new())?.commit(p)?;
            Ok(SetupChecked::Enrolled {
                session_id,
                persistent: auth.remember,
                recovery_codes,
            })
        }
    }
}

/// Registers a passkey from the second-factor page. The person then signs in with it (one more
/// ceremony), which is what makes the session multi-factor.
pub fn register_passkey(
    p: &Provider,
    ctx: &Context,
    browser: &Browser,
    state: &str,
    credential: &str,
    name: &str,
    origin: &Origin,
) -> Result<Result<(), String>, FlowError> {
    let subject = subject(p, ctx, browser)?;
    if view(p, &subject, browser)?.enrol_passkey.is_none() {
        return Err(FlowError::expired_request());
    }
    passkeys::finish_registration(p, browser, state, credential, &subject.session.user, name, origin)
}

/// After the recovery codes of a new enrolment were shown: the authorization continues, for a session
/// that passed its second factor moments ago.
pub fn resume(p: &Provider, request_id: &str, browser: &Browser) -> Result<Next, FlowError> {
    let s = super::browser::signed_in(p, browser)?.ok_or_else(FlowError::expired_request)?;
    if now() - s.session.auth_time > super::browser::SECOND_FACTOR_WINDOW {
        return Err(FlowError::expired_request());
    }
    resume_after_sign_in(p, request_id, browser)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(required: bool, factors: &[&str], passkey_only: bool) -> MfaPolicy {
        MfaPolicy {
            owner: MfaOwner::Client,
            owner_id: "c".into(),
            required,
            factors: factors.iter().map(|f| f.to_string()).collect(),
            passkey_only,
        }
    }

    #[test]
    fn without_policy_anything_goes() {
        assert!(Requirement::none().is_met_by("pwd"));
    }

    #[test]
    fn required_mfa_needs_two_factors_of_an_allowed_kind() {
        let mut r = Requirement::none();
        r.add(&policy(true, &[], false));
        assert!(!r.is_met_by("pwd"));
        assert!(r.is_met_by("pwd otp mfa"));
        assert!(r.is_met_by("hwk mfa"));
        let mut only_passkeys = Requirement::none();
        only_passkeys.add(&policy(true, &[PASSKEY], false));
        assert!(!only_passkeys.is_met_by("pwd otp mfa"));
        assert!(only_passkeys.is_met_by("pwd swk mfa"));
    }

    #[test]
    fn passkey_only_is_phishing_resistant_and_refuses_codes() {
        let mut r = Requirement::none();
        r.add(&policy(false, &[], true));
        assert_eq!(r.level, Level::PhishingResistant);
        assert!(!r.is_met_by("pwd otp mfa"));
        assert!(r.is_met_by("swk mfa"));
        assert!(!r.allows(TOTP));
        assert!(!r.allows(RECOVERY_CODE));
    }

    #[test]
    fn two_policies_accept_only_the_factors_both_accept() {
        let mut r = Requirement::none();
        r.add(&policy(true, &[TOTP, PASSKEY], false));
        r.add(&policy(true, &[PASSKEY], false));
        assert_eq!(r.factors, vec![PASSKEY.to_string()]);
    }
}
