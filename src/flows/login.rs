//! Password sign-in on the login page. Unknown accounts and wrong passwords get the same answer in
//! about the same time (DESIGN §4.13): an unknown email is checked against a dummy hash.

use tracing::instrument;

use super::authorize::{Next, continue_after_sign_in, load_pending};
use super::browser::{Authentication, Browser, start_session};
use super::federation::{self, Purpose};
use super::{FlowError, Provider, now, upstreams};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::{dummy_password_hash, verify_password};
use crate::store::User;

/// What the login page shows.
pub struct LoginView {
    pub client_name: String,
    pub login_hint: String,
    /// Upstream sign-in buttons: (connection id, display name).
    pub upstreams: Vec<(String, String)>,
    /// Some connection claims email domains: ask for the email first (home-realm discovery).
    pub identifier_first: bool,
    /// The client offers light sign-up: show "Create an account".
    pub sign_up: bool,
}

pub enum LoginOutcome {
    /// Signed in: set this session cookie and continue.
    SignedIn { session_id: String, next: Next },
    /// Show the form again with a neutral message.
    Failed(LoginView),
}

pub fn show(p: &Provider, request_id: &str, browser: &Browser) -> Result<LoginView, FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    let (upstreams, identifier_first) = login_options(p);
    Ok(LoginView {
        client_name: pending.client.name,
        login_hint: pending.request.login_hint.unwrap_or_default(),
        upstreams,
        identifier_first,
        sign_up: super::profiling::allows_light_accounts(p, &pending.client.id)?,
    })
}

#[instrument(skip_all)]
pub fn submit(
    p: &Provider,
    request_id: &str,
    email: &str,
    password: &str,
    remember: bool,
    browser: &Browser,
    origin: &Origin,
) -> Result<LoginOutcome, FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    let view = |p: &Provider| LoginView {
        client_name: pending.client.name.clone(),
        login_hint: email.to_string(),
        upstreams: upstream_buttons(p),
        identifier_first: false,
        sign_up: false,
    };
    let Some((user, event)) = check_password(p, email, password, Some(&pending.client.id), origin)? else {
        return Ok(LoginOutcome::Failed(view(p)));
    };
    let auth = Authentication::method("pwd").remembered(remember);
    let new = start_session(p, browser, &user, &auth, vec![event])?;
    let (session_id, next) = continue_after_sign_in(p, Some(request_id), browser, new)?;
    let next = next.ok_or_else(FlowError::expired_request)?;
    Ok(LoginOutcome::SignedIn { session_id, next })
}

/// Checks an email and password on the bounded hashing pool. Unknown accounts and accounts without a
/// password cost the same hash as a wrong password. A failure is audited here; a success returns its
/// `sign_in` record, which commits with the session it starts.
pub fn check_password(
    p: &Provider,
    email: &str,
    password: &str,
    client_id: Option<&str>,
    origin: &Origin,
) -> Result<Option<(User, AuditEvent)>, FlowError> {
    refuse_if_sso_required(p, email)?;
    let user = p.store.find_user_by_email(email.trim())?;
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let (phc, typed) = (
        hash.unwrap_or(dummy_password_hash()).to_string(),
        password.to_string(),
    );
    let check = move || verify_password(&phc, &typed);
    let valid = p
        .hash_pool
        .run(check)
        .map_err(|_| FlowError::Overloaded("password hashing"))?
        && hash.is_some();
    let mut event = AuditEvent::new(kind::SIGN_IN, Outcome::Success, now()).origin(origin);
    if let Some(client_id) = client_id {
        event = event.client(client_id);
    }
    let Some(user) = user.clone().filter(|_| valid) else {
        let reason = match (&user, hash) {
            (None, _) => "unknown_account",
            (Some(_), None) => "no_password",
            (Some(_), Some(_)) => "wrong_password",
        };
        let mut failed = event.detail(serde_json::json!({ "method": "pwd", "reason": reason }));
        failed.outcome = Outcome::Failure;
        failed.subject = user.as_ref().map(|u| u.id.clone());
        p.auditor.record(failed)?;
        return Ok(None);
    };
    let event = event
        .actor(&user.id)
        .subject(&user.id)
        .detail(serde_json::json!({ "method": "pwd" }));
    Ok(Some((user, event)))
}

/// An organization with `sso_required` owns its domain: its people sign in only through its connection.
pub(crate) fn refuse_if_sso_required(p: &Provider, email: &str) -> Result<(), FlowError> {
    let Some((_, domain)) = email.trim().rsplit_once('@') else {
        return Ok(());
    };
    match p.store.find_organization_by_domain(domain)? {
        Some(org) if org.sso_required => Err(FlowError::page(
            "Sign in with your organization",
            format!(
                "{} requires signing in through its own sign-in service. Go back and enter your email to continue there.",
                org.name
            ),
        )),
        _ => Ok(()),
    }
}

/// The connection that serves this email: one claiming its domain, or the one of the organization
/// that owns the domain (home-realm discovery).
/// Also returns the organization, when it is an organization's domain: that is the sign-in's
/// organization context.
fn connection_for_email(p: &Provider, email: &str) -> Result<Option<(String, Option<String>)>, FlowError> {
    if let Some(conn) = upstreams::for_email(p, email)? {
        return Ok(Some((conn.id().to_string(), None)));
    }
    let Some((_, domain)) = email.trim().rsplit_once('@') else {
        return Ok(None);
    };
    Ok(p.store
        .find_organization_by_domain(domain)?
        .and_then(|org| org.connection_id.map(|c| (c, Some(org.id)))))
}

/// The sign-in buttons of every upstream connection, (id, display name), and whether any connection
/// claims email domains. A broken connection must not take password sign-in down with it.
pub fn login_options(p: &Provider) -> (Vec<(String, String)>, bool) {
    match upstreams::list(p) {
        Ok(all) => (
            all.iter()
                .map(|c| (c.id().to_string(), c.name().to_string()))
                .collect(),
            all.iter().any(|c| !c.spec.domains.is_empty())
                || p.store.any_organization_sso_domain().unwrap_or(false),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "upstream connections could not be listed");
            (Vec::new(), false)
        }
    }
}

/// The sign-in buttons alone.
pub fn upstream_buttons(p: &Provider) -> Vec<(String, String)> {
    login_options(p).0
}

/// Identifier-first sign-in: an email whose domain a connection claims goes straight to that provider
/// (home-realm discovery); any other email continues with the password step.
pub enum Identified {
    Upstream(String),
    Password(LoginView),
}

#[instrument(skip_all)]
pub fn identify(
    p: &Provider,
    request_id: &str,
    email: &str,
    browser: &Browser,
    origin: &Origin,
) -> Result<Identified, FlowError> {
    let mut pending = load_pending(p, request_id, browser)?;
    if let Some((connection, organization)) = connection_for_email(p, email)? {
        // Home-realm discovery names the organization too, unless the client already did.
        if let (Some(org), None) = (organization, &pending.request.organization) {
            pending.request.organization = Some(org);
            pending.changed();
            pending.seal(p, browser);
        }
        let purpose = Purpose::SignIn {
            request_id: pending.id.clone(),
            link_proof: None,
        };
        let url = federation::start(p, &connection, purpose, Some(email.trim()), browser, origin)?;
        return Ok(Identified::Upstream(url));
    }
    Ok(Identified::Password(LoginView {
        sign_up: super::profiling::allows_light_accounts(p, &pending.client.id)?,
        client_name: pending.client.name,
        login_hint: email.trim().to_string(),
        upstreams: upstream_buttons(p),
        identifier_first: false,
    }))
}

/// Checks that a pending request exists for this browser (before leaving for an upstream).
pub fn load_pending_for(p: &Provider, request_id: &str, browser: &Browser) -> Result<(), FlowError> {
    load_pending(p, request_id, browser).map(|_| ())
}
