//! The authorization endpoint's use case: validate, then decide whether the browser must sign in,
//! consent, or can go straight back to the client with a code. While the user signs in, the request
//! waits sealed in the browser's hands, bound to it (`pending`), not in the database.

use tracing::instrument;

use super::browser::{Browser, NewSession, SignedIn, any_session, signed_in};
use super::organizations::{self, Choice};
pub use super::pending::Pending;
use super::{FlowError, Provider, now};
use crate::audit::Origin;
use crate::crypto::{random_id, random_token, sha256_b64};
use crate::protocol::acr::{self, Level};
use crate::protocol::authorize::{AuthorizationRequest, AuthorizationResponse, AuthorizeError};
use crate::protocol::params::Params;
use crate::protocol::{ErrorCode, OAuthError, scope};
use crate::store::AuthorizationCode;

/// Where the browser goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Back to the client (code or error).
    Respond(AuthorizationResponse),
    /// To the sign-in page for this pending request.
    Login(String),
    /// To the consent page for this pending request.
    Consent(String),
    /// To an upstream provider's authorization endpoint (the `connection` parameter).
    Upstream(String),
    /// To the organization picker for this pending request.
    Organization(String),
    /// To the light sign-up page (`prompt=create`) for this pending request.
    SignUp(String),
    /// To the page asking for the profile fields the client needs (progressive profiling).
    Profile(String),
    /// To the consent documents page (terms, privacy policy) for this pending request.
    Documents(String),
    /// To the second-factor page: a second factor is due after the first, or the client needs a
    /// stronger sign-in than the session has (step-up).
    SecondFactor(String),
}

#[instrument(skip_all, fields(client_id = params.get("client_id").unwrap_or("-")))]
pub fn start(p: &Provider, params: &Params, browser: &Browser) -> Result<Next, FlowError> {
    let client = match AuthorizationRequest::client_id(params) {
        Some(id) => p.store.find_client(id)?,
        None => None,
    };
    let request = match AuthorizationRequest::parse(params, client.as_ref()) {
        Ok(request) => request,
        Err(AuthorizeError::Page(message)) => {
            tracing::info!(%message, "authorization request refused without redirect");
            return Err(FlowError::page("This link is not valid", message));
        }
        Err(AuthorizeError::Redirect(target, error)) => {
            tracing::info!(error = %error.code, "authorization request refused");
            return Ok(Next::Respond(target.error(p.issuer(), &error)));
        }
    };
    let Some(client) = client else {
        return Err(FlowError::page(
            "This link is not valid",
            "This application is not registered with Gatehouse.",
        ));
    };
    decide(p, Pending::new(request, client), browser, false, Current::Cookie)
}

/// Whose sign-in `decide` works with.
enum Current<'a> {
    /// The session the browser's cookie names, if any.
    Cookie,
    /// A sign-in that just succeeded and is not stored yet: `complete` takes it out to store it with
    /// the code; whatever else happens, the caller stores it.
    New(&'a mut Option<NewSession>),
}

impl Current<'_> {
    /// The signed-in person (a complete session), and the person waiting for a second factor.
    fn sessions(
        &self,
        p: &Provider,
        browser: &Browser,
    ) -> Result<(Option<SignedIn>, Option<SignedIn>), FlowError> {
        match self {
            Current::Cookie => {
                let complete = signed_in(p, browser)?;
                let waiting = match complete {
                    Some(_) => None,
                    None => any_session(p, browser)?.filter(|s| s.session.pending_factor),
                };
                Ok((complete, waiting))
            }
            Current::New(slot) => {
                let s = slot.as_ref().map(|new| new.signed_in.clone());
                Ok(match s {
                    Some(s) if s.session.pending_factor => (None, Some(s)),
                    s => (s, None),
                })
            }
        }
    }
}

/// Continues a pending request for the browser's session, which has just completed a step for it
/// (a second factor, the documents, the profile).
pub fn resume_after_sign_in(p: &Provider, request_id: &str, browser: &Browser) -> Result<Next, FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    decide(p, pending, browser, true, Current::Cookie)
}

/// After a successful sign-in: stores the new session and continues the pending request, if there is
/// one (`None`: the sign-in was for the account page). When the request can be answered at once, the
/// session and the code are one transaction. Returns the session's cookie value and where to go.
pub fn continue_after_sign_in(
    p: &Provider,
    request_id: Option<&str>,
    browser: &Browser,
    new: NewSession,
) -> Result<(String, Option<Next>), FlowError> {
    let Some(id) = request_id else {
        return Ok((new.commit(p)?, None));
    };
    let pending = load_pending(p, id, browser)?;
    let cookie = new.cookie.clone();
    let mut slot = Some(new);
    let next = decide(p, pending, browser, true, Current::New(&mut slot))?;
    // Not taken by `complete`: the browser goes on to another step (consent, second factor, …).
    if let Some(new) = slot {
        new.commit(p)?;
    }
    Ok((cookie, Some(next)))
}

/// Opens a pending request (the pages' `req`), only for the browser that started it.
pub fn load_pending(p: &Provider, request_id: &str, browser: &Browser) -> Result<Pending, FlowError> {
    Pending::open(p, request_id, browser)
}

/// `fresh` means the user has just signed in for this very request, which satisfies `prompt=login`
/// and `max_age` (comparing whole seconds could not tell a new sign-in from an old one).
fn decide(
    p: &Provider,
    mut pending: Pending,
    browser: &Browser,
    fresh: bool,
    current: Current,
) -> Result<Next, FlowError> {
    let req = &pending.request;
    let target = req.target.clone();
    let fail = |code: ErrorCode, msg: &'static str| {
        Ok(Next::Respond(
            target.error(p.issuer(), &OAuthError::new(code, msg)),
        ))
    };
    let hinted_sub = match &req.id_token_hint {
        None => None,
        Some(hint) => match hint_subject(p, hint, &req.client_id) {
            Some(sub) => Some(sub),
            None => {
                return fail(
                    ErrorCode::InvalidRequest,
                    "id_token_hint is not a valid ID token from this issuer",
                );
            }
        },
    };
    // OpenID Connect Prompt Create 1.0 §4: the sign-up page instead of sign-in, when the client offers it.
    if req.prompt.create && !fresh {
        if !super::profiling::allows_light_accounts(p, &pending.client.id)? {
            return fail(
                ErrorCode::InvalidRequest,
                "this client does not offer sign-up (prompt=create)",
            );
        }
        pending.seal(p, browser);
        return Ok(Next::SignUp(pending.id));
    }
    let (signed_in, waiting) = current.sessions(p, browser)?;
    // The first factor is done and the second is due: only the second-factor page continues from here.
    if let Some(waiting) = waiting
        && hinted_sub.as_deref().is_none_or(|sub| sub == waiting.user.id)
    {
        if req.prompt.none {
            return fail(
                ErrorCode::InteractionRequired,
                "the user must complete a second factor",
            );
        }
        pending.seal(p, browser);
        return Ok(Next::SecondFactor(pending.id));
    }
    if needs_login(req, fresh, signed_in.as_ref(), hinted_sub.as_deref()) {
        if req.prompt.none {
            return fail(ErrorCode::LoginRequired, "the user is not signed in");
        }
        if let Some(connection) = req.connection.clone() {
            if super::upstreams::find(p, &connection)?.is_none() {
                return fail(ErrorCode::InvalidRequest, "unknown connection");
            }
            pending.seal(p, browser);
            let purpose = super::federation::Purpose::SignIn {
                request_id: pending.id.clone(),
                link_proof: None,
            };
            let hint = pending.request.login_hint.clone();
            let url = super::federation::start(
                p,
                &connection,
                purpose,
                hint.as_deref(),
                browser,
                &Origin::default(),
            )?;
            return Ok(Next::Upstream(url));
        }
        pending.seal(p, browser);
        return Ok(Next::Login(pending.id));
    }
    let signed_in = signed_in.expect("needs_login is false only with a session");
    let choice = organizations::choose(
        p,
        req.organization.as_deref(),
        &req.scopes,
        &pending.client,
        &signed_in.user,
    )?;
    match &choice {
        Choice::Refuse(e) => return Ok(Next::Respond(target.error(p.issuer(), e))),
        Choice::Pick(_) if req.prompt.none => {
            return fail(
                ErrorCode::InteractionRequired,
                "the user must choose an organization",
            );
        }
        Choice::Pick(_) => {
            pending.seal(p, browser);
            return Ok(Next::Organization(pending.id));
        }
        Choice::None | Choice::Organization(_) => {}
    }
    // Step-up (issue 8): `acr_values`, the client's and the organization's MFA policies.
    let organization = match &choice {
        Choice::Organization(id) => Some(id.as_str()),
        _ => None,
    };
    let requirement = super::mfa::requirement(
        p,
        &pending.client.id,
        organization,
        &req.acr_values,
        signed_in.session.idp.as_deref(),
    )?;
    if !requirement.is_met_by(&signed_in.session.amr) {
        if req.prompt.none {
            return fail(
                ErrorCode::InteractionRequired,
                "the client requires a stronger sign-in than the session has",
            );
        }
        pending.seal(p, browser);
        return Ok(Next::SecondFactor(pending.id));
    }
    if !super::consents::outstanding(p, &signed_in.user, &pending.client)?.is_empty() {
        if req.prompt.none {
            return fail(
                ErrorCode::ConsentRequired,
                "the user must accept the current terms",
            );
        }
        pending.seal(p, browser);
        return Ok(Next::Documents(pending.id));
    }
    if !super::profiling::missing(p, &pending.client.id, &signed_in.user)?.is_empty() {
        if req.prompt.none {
            return fail(
                ErrorCode::InteractionRequired,
                "the user must complete their profile for this client",
            );
        }
        pending.seal(p, browser);
        return Ok(Next::Profile(pending.id));
    }
    if needs_consent(p, &pending, &signed_in)? {
        if req.prompt.none {
            return fail(
                ErrorCode::ConsentRequired,
                "the user has not consented to this client",
            );
        }
        pending.seal(p, browser);
        return Ok(Next::Consent(pending.id));
    }
    let new = match current {
        Current::New(slot) => slot.take(),
        Current::Cookie => None,
    };
    complete(p, &pending, &signed_in, new)
}

/// OIDC Core §3.1.2.1: prompt=login forces a new sign-in, as does a session older than max_age
/// (`max_age=0` is prompt=login); an id_token_hint for another user means the current session is not
/// the one the client expects.
fn needs_login(req: &AuthorizationRequest, fresh: bool, s: Option<&SignedIn>, hinted: Option<&str>) -> bool {
    let Some(s) = s else { return true };
    let stale = req.prompt.login || req.max_age.is_some_and(|max| now() - s.session.auth_time >= max);
    (stale && !fresh) || hinted.is_some_and(|sub| sub != s.user.id)
}

fn needs_consent(p: &Provider, pending: &Pending, s: &SignedIn) -> Result<bool, FlowError> {
    if pending.client.skip_consent {
        return Ok(false);
    }
    if pending.request.prompt.consent {
        return Ok(true);
    }
    let granted = p.store.find_consent(&s.user.id, &pending.client.id)?;
    Ok(!scope::is_subset(&pending.request.scopes, &granted))
}

/// Issues the code and answers the client; the pending request is done. A sign-in not stored yet
/// (`new`) is stored with the code, in one transaction.
pub fn complete(
    p: &Provider,
    pending: &Pending,
    s: &SignedIn,
    new: Option<NewSession>,
) -> Result<Next, FlowError> {
    let req = &pending.request;
    let organization_id = match organizations::choose(
        p,
        req.organization.as_deref(),
        &req.scopes,
        &pending.client,
        &s.user,
    )? {
        Choice::Organization(id) => Some(id),
        Choice::None => None,
        Choice::Refuse(e) => return Ok(Next::Respond(req.target.error(p.issuer(), &e))),
        Choice::Pick(_) => return Err(FlowError::expired_request()),
    };
    let code = random_token();
    let at = now();
    let record = AuthorizationCode {
        code_hash: sha256_b64(&code),
        grant_id: random_id(),
        client_id: req.client_id.clone(),
        user_id: s.user.id.clone(),
        redirect_uri: req.target.redirect_uri.clone(),
        scope: scope::join(&req.scopes),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time: s.session.auth_time,
        acr: Some(acr::claim(Level::of_amr(&s.session.amr), &req.acr_values).to_string()),
        amr: s.session.amr.clone(),
        idp: s.session.idp.clone(),
        created_at: at,
        expires_at: at + p.settings.tokens.authorization_code_ttl as i64,
        organization_id,
        id_token_claims: req
            .claims
            .as_ref()
            .map(|c| c.id_token.clone())
            .unwrap_or_default(),
    };
    match new {
        Some(new) => {
            new.commit_with(p, Some(record))?;
        }
        None => p.store.create_code(&record)?,
    }
    tracing::info!(client_id = %req.client_id, "authorization code issued");
    Ok(Next::Respond(req.target.success(p.issuer(), &code)))
}

/// The subject of an ID token we issued to this client. Expired hints are fine (OIDC Core §3.1.2.1).
fn hint_subject(p: &Provider, hint: &str, client_id: &str) -> Option<String> {
    let claims = verify_id_token_hint(p, hint)?;
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => a == client_id,
        Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(client_id)),
        _ => false,
    };
    aud_ok
        .then(|| claims.get("sub")?.as_str().map(str::to_string))
        .flatten()
}

/// The claims of an ID token this issuer signed (signature, `typ` and `iss` checked; expiry is not,
/// since hints are usually old). Access tokens (`typ: at+jwt`) are not accepted.
pub fn verify_id_token_hint(p: &Provider, hint: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let claims = p.keys.ring().verify_jwt(hint, Some("JWT")).ok()?;
    (claims.get("iss").and_then(|v| v.as_str()) == Some(p.issuer())).then_some(claims)
}

/// The organization picker's answer: the chosen organization (which `choose` checks again) is sealed
/// into the pending request, and the authorization continues.
pub fn choose_organization(
    p: &Provider,
    request_id: &str,
    organization_id: &str,
    browser: &Browser,
) -> Result<Next, FlowError> {
    let mut pending = load_pending(p, request_id, browser)?;
    pending.request.organization = Some(organization_id.to_string());
    pending.changed();
    decide(p, pending, browser, true, Current::Cookie)
}

/// What the organization picker shows: the client's name and the organizations to choose from.
pub fn organization_choices(
    p: &Provider,
    request_id: &str,
    browser: &Browser,
) -> Result<(String, Vec<(String, String)>), FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    let s = signed_in(p, browser)?.ok_or_else(FlowError::expired_request)?;
    match organizations::choose(p, None, &pending.request.scopes, &pending.client, &s.user)? {
        Choice::Pick(choices) => Ok((pending.client.name, choices)),
        _ => Err(FlowError::expired_request()),
    }
}
