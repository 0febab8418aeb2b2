//! Brokered sign-in: send the browser to an upstream provider, then turn its callback into a local
//! session. DESIGN §4.7: `state` is bound to the browser and single use; identities are keyed by
//! (connection, upstream subject), never by email; an existing account with the same email is linked
//! automatically only when the upstream asserts `email_verified` and the connection is trusted for
//! email; otherwise the user first proves control of that account (a single-use link proof).

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::authorize::{Next, continue_after_sign_in};
use super::browser::{Authentication, Browser, signed_in, start_session};
use super::{FlowError, Provider, now, upstreams};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::{random_id, random_token, sha256_b64};
use crate::protocol::params::Params;
use crate::store::{Identity, LinkProof, Profile, StoreError, UpstreamState, User};
use crate::upstream::{Connection, Finish, Start, UpstreamError, UpstreamIdentity, UpstreamMfa};

/// What to do when the browser comes back from the upstream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Purpose {
    /// Sign in for a pending authorization request; with a link proof, also link that identity.
    SignIn {
        request_id: String,
        #[serde(default)]
        link_proof: Option<String>,
    },
    /// Sign in to the account page.
    Account {
        #[serde(default)]
        link_proof: Option<String>,
    },
    /// Link the upstream identity to this signed-in user (from the account page).
    Link { user_id: String },
}

#[derive(Serialize, Deserialize)]
struct StateSecrets {
    nonce: String,
    pkce_verifier: String,
}

const SEAL_CONTEXT: &[u8] = b"gatehouse upstream state";

/// Where the browser goes after a successful callback.
pub enum Arrival {
    /// Signed in: set this session cookie, then continue the authorization (or open the account page).
    SignedIn { session_id: String, next: Option<Next> },
    /// Linked to the signed-in account: back to the account page.
    Linked,
    /// An account with this email exists and the link needs proof: show the proof page.
    ProveAccount { proof: String },
}

/// The callback's parameters.
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub apple_user: Option<String>,
}

impl Callback {
    pub fn from_params(params: &Params) -> Self {
        let get = |k: &str| params.get(k).map(str::to_string);
        Self {
            state: get("state"),
            code: get("code"),
            iss: get("iss"),
            error: get("error"),
            apple_user: get("user"),
        }
    }
}

/// A connection that exists, or the error page.
pub fn connection(p: &Provider, id: &str) -> Result<Connection, FlowError> {
    upstreams::find(p, id)?.ok_or_else(|| {
        FlowError::page(
            "This sign-in option is not available",
            format!("There is no sign-in provider `{id}`."),
        )
    })
}

/// Stores the state of a new upstream sign-in and returns the upstream authorization URL.
#[instrument(skip_all, fields(connection = connection_id))]
pub fn start(
    p: &Provider,
    connection_id: &str,
    purpose: Purpose,
    login_hint: Option<&str>,
    browser: &Browser,
    origin: &Origin,
) -> Result<String, FlowError> {
    let conn = connection(p, connection_id)?;
    let (state, nonce, pkce_verifier) = (random_token(), random_token(), random_token());
    let url = p
        .connectors
        .authorization_url(
            &conn,
            &Start {
                state: &state,
                nonce: &nonce,
                pkce_verifier: &pkce_verifier,
                login_hint,
            },
        )
        .map_err(|e| failure(p, &conn, origin, "discovery_failed", e))?;
    let secrets = serde_json::to_vec(&StateSecrets { nonce, pkce_verifier }).unwrap_or_default();
    let at = now();
    p.store.create_upstream_state(&UpstreamState {
        state_hash: sha256_b64(&state),
        browser_hash: browser.binding_hash(),
        connection_id: conn.id().to_string(),
        purpose: serde_json::to_string(&purpose).unwrap_or_default(),
        secrets: p.sealer.seal(&secrets, SEAL_CONTEXT),
        created_at: at,
        expires_at: at + p.settings.federation.state_ttl as i64,
    })?;
    Ok(url)
}

/// Handles `/upstream/{id}/callback`: checks the state, lets the connector verify the answer, then
/// signs the user in, provisions them, links the identity, or asks for proof.
#[instrument(skip_all, fields(connection = connection_id))]
pub fn callback(
    p: &Provider,
    connection_id: &str,
    cb: &Callback,
    browser: &Browser,
    origin: &Origin,
) -> Result<Arrival, FlowError> {
    let conn = connection(p, connection_id)?;
    let refuse = |reason: &'static str, message: &str| {
        failure(
            p,
            &conn,
            origin,
            reason,
            UpstreamError::Callback(message.to_string()),
        )
    };
    let Some(state) = cb.state.as_deref() else {
        return Err(refuse("missing_state", "The response has no state."));
    };
    let Some(stored) = p
        .store
        .take_upstream_state(&sha256_b64(state), &browser.binding_hash(), now())?
    else {
        return Err(refuse(
            "unknown_state",
            "This sign-in is unknown, was already used, expired, or was started in another browser.",
        ));
    };
    if stored.connection_id != conn.id() {
        return Err(refuse(
            "state_for_another_connection",
            "The response belongs to a sign-in at another provider.",
        ));
    }
    if let Some(error) = &cb.error {
        tracing::info!(%error, "upstream refused the sign-in");
        let message = if error == "access_denied" {
            "The sign-in was cancelled or refused at the provider."
        } else {
            "The provider could not complete the sign-in."
        };
        return Err(refuse("upstream_error", message));
    }
    let Some(code) = cb.code.as_deref() else {
        return Err(refuse("missing_code", "The response has no authorization code."));
    };
    let secrets: StateSecrets = p
        .sealer
        .open(&stored.secrets, SEAL_CONTEXT)
        .and_then(|plain| serde_json::from_slice(&plain).ok())
        .ok_or_else(|| refuse("unreadable_state", "This sign-in cannot be continued."))?;
    let purpose: Purpose = serde_json::from_str(&stored.purpose)
        .map_err(|_| refuse("unreadable_state", "This sign-in cannot be continued."))?;
    let identity = p
        .connectors
        .finish(
            &conn,
            &Finish {
                code,
                iss: cb.iss.as_deref(),
                nonce: &secrets.nonce,
                pkce_verifier: &secrets.pkce_verifier,
                apple_user: cb.apple_user.as_deref(),
            },
        )
        .map_err(|e| failure(p, &conn, origin, "verification_failed", e))?;
    match purpose {
        Purpose::Link { user_id } => link_to_signed_in(p, &conn, &identity, &user_id, browser, origin),
        Purpose::SignIn {
            request_id,
            link_proof,
        } => arrive(
            p,
            &conn,
            &identity,
            Some(&request_id),
            link_proof,
            browser,
            origin,
        ),
        Purpose::Account { link_proof } => arrive(p, &conn, &identity, None, link_proof, browser, origin),
    }
}

fn arrive(
    p: &Provider,
    conn: &Connection,
    identity: &UpstreamIdentity,
    request_id: Option<&str>,
    link_proof: Option<String>,
    browser: &Browser,
    origin: &Origin,
) -> Result<Arrival, FlowError> {
    let user = match resolve_user(p, conn, identity, request_id, browser, origin)? {
        Resolved::User(user) => *user,
        Resolved::NeedsProof(proof) => return Ok(Arrival::ProveAccount { proof }),
    };
    if let Some(hash) = link_proof {
        complete_link_proof(p, &hash, &user, browser, origin)?;
    }
    join_organization_of_connection(p, conn, &user)?;
    // Issue 8: the upstream's amr/acr are recorded; they count as MFA only if the connection trusts them.
    let trusted_mfa = conn.spec.mfa == UpstreamMfa::Trust && identity.reports_mfa();
    let amr = if trusted_mfa { "fed mfa" } else { "fed" };
    let event = AuditEvent::new(kind::SIGN_IN, Outcome::Success, now())
        .origin(origin)
        .actor(&user.id)
        .subject(&user.id)
        .detail(serde_json::json!({
            "method": amr,
            "connection": conn.id(),
            "upstream_amr": identity.amr,
            "upstream_acr": identity.acr,
        }));
    let auth = Authentication {
        amr: amr.to_string(),
        idp: Some(conn.id().to_string()),
        remember: false,
    };
    let new = start_session(p, browser, &user, &auth, vec![event])?;
    let (session_id, next) = continue_after_sign_in(p, request_id, browser, new)?;
    Ok(Arrival::SignedIn { session_id, next })
}

/// A person who signs in through an organization's own connection with an email of that
/// organization's domains is one of its people: they become a member (without roles) if they were not.
fn join_organization_of_connection(p: &Provider, conn: &Connection, user: &User) -> Result<(), FlowError> {
    let Some((_, domain)) = user.email.rsplit_once('@') else {
        return Ok(());
    };
    let Some(org) = p.store.find_organization_by_domain(domain)? else {
        return Ok(());
    };
    if org.connection_id.as_deref() != Some(conn.id()) || p.store.find_member(&org.id, &user.id)?.is_some() {
        return Ok(());
    }
    p.store.save_member(&crate::store::Member {
        organization_id: org.id.clone(),
        user_id: user.id.clone(),
        roles: Vec::new(),
        created_at: now(),
    })?;
    p.auditor.record(
        AuditEvent::new(kind::MEMBER_SAVED, Outcome::Success, now())
            .actor(&user.id)
            .subject(&user.id)
            .organization(&org.id)
            .detail(serde_json::json!({ "how": "sign_in_through_organization_connection", "connection": conn.id() })),
    )?;
    Ok(())
}

enum Resolved {
    User(Box<User>),
    NeedsProof(String),
}

/// The local user for an upstream identity: the linked one, an existing account with the same email
/// (only when that email can be trusted), or a new one (just-in-time provisioning).
fn resolve_user(
    p: &Provider,
    conn: &Connection,
    identity: &UpstreamIdentity,
    request_id: Option<&str>,
    browser: &Browser,
    origin: &Origin,
) -> Result<Resolved, FlowError> {
    let at = now();
    if let Some(linked) = p.store.find_identity(conn.id(), &identity.subject)? {
        p.store
            .touch_identity(conn.id(), &identity.subject, identity.email.as_deref(), at)?;
        return p
            .store
            .find_user(&linked.user_id)?
            .map(|u| Resolved::User(Box::new(u)))
            .ok_or_else(FlowError::expired_request);
    }
    let Some(email) = identity
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| e.contains('@'))
    else {
        return Err(failure(
            p,
            conn,
            origin,
            "no_email",
            UpstreamError::Callback(
                "The provider did not share an email address, which is needed to create your account.".into(),
            ),
        ));
    };
    let link = Identity {
        connection_id: conn.id().to_string(),
        subject: identity.subject.clone(),
        user_id: String::new(),
        email: Some(email.to_string()),
        created_at: at,
        last_used_at: at,
    };
    if let Some(existing) = p.store.find_user_by_email(email)? {
        if conn.spec.trust_email && identity.email_verified {
            p.store.link_identity(&Identity {
                user_id: existing.id.clone(),
                ..link
            })?;
            audit_linked(p, conn, &existing.id, "verified_email", origin)?;
            return Ok(Resolved::User(Box::new(existing)));
        }
        let proof = random_token();
        p.store.create_link_proof(&LinkProof {
            id_hash: sha256_b64(&proof),
            browser_hash: browser.binding_hash(),
            connection_id: conn.id().to_string(),
            subject: identity.subject.clone(),
            user_id: existing.id.clone(),
            email: Some(email.to_string()),
            request_id: request_id.map(str::to_string),
            created_at: at,
            expires_at: at + p.settings.federation.state_ttl as i64,
        })?;
        tracing::info!(connection = conn.id(), "existing account found; link needs proof");
        return Ok(Resolved::NeedsProof(proof));
    }
    let user = User {
        id: random_id(),
        email: email.to_string(),
        email_verified: identity.email_verified,
        name: identity.name.clone(),
        password_hash: None,
        created_at: at,
        updated_at: at,
        profile: Profile {
            given_name: identity.given_name.clone(),
            family_name: identity.family_name.clone(),
            picture: identity.picture.clone(),
            locale: identity.locale.clone(),
            ..Default::default()
        },
        level: crate::store::IdentityLevel::Full,
        region: None,
        deletion_scheduled_at: None,
    };
    match p.store.create_user_with_identity(
        &user,
        &Identity {
            user_id: user.id.clone(),
            ..link
        },
    ) {
        Ok(()) => {}
        // A concurrent first sign-in of the same identity won: use its user.
        Err(StoreError::Conflict(_)) => {
            if let Some(linked) = p.store.find_identity(conn.id(), &identity.subject)? {
                if let Some(user) = p.store.find_user(&linked.user_id)? {
                    return Ok(Resolved::User(Box::new(user)));
                }
            }
            return Err(FlowError::expired_request());
        }
        Err(e) => return Err(e.into()),
    }
    p.auditor.record(
        AuditEvent::new(kind::USER_CREATED, Outcome::Success, now())
            .origin(origin)
            .subject(&user.id)
            .detail(serde_json::json!({ "source": "upstream", "connection": conn.id() })),
    )?;
    Ok(Resolved::User(Box::new(user)))
}

/// Links the identity named by a link proof, if the user who just signed in is the one it names.
pub fn complete_link_proof(
    p: &Provider,
    proof_hash: &str,
    user: &User,
    browser: &Browser,
    origin: &Origin,
) -> Result<(), FlowError> {
    let Some(proof) = p
        .store
        .take_link_proof(proof_hash, &browser.binding_hash(), now())?
    else {
        return Ok(());
    };
    if proof.user_id != user.id {
        tracing::info!("link proof ignored: another account signed in");
        return Ok(());
    }
    let at = now();
    match p.store.link_identity(&Identity {
        connection_id: proof.connection_id.clone(),
        subject: proof.subject,
        user_id: user.id.clone(),
        email: proof.email,
        created_at: at,
        last_used_at: at,
    }) {
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let conn = connection(p, &proof.connection_id)?;
    audit_linked(p, &conn, &user.id, "proof", origin)
}

fn link_to_signed_in(
    p: &Provider,
    conn: &Connection,
    identity: &UpstreamIdentity,
    user_id: &str,
    browser: &Browser,
    origin: &Origin,
) -> Result<Arrival, FlowError> {
    let still_signed_in = signed_in(p, browser)?.is_some_and(|s| s.user.id == user_id);
    if !still_signed_in {
        return Err(failure(
            p,
            conn,
            origin,
            "session_changed",
            UpstreamError::Callback("You are no longer signed in to the account to link.".into()),
        ));
    }
    if let Some(existing) = p.store.find_identity(conn.id(), &identity.subject)? {
        if existing.user_id == user_id {
            return Ok(Arrival::Linked);
        }
        return Err(failure(
            p,
            conn,
            origin,
            "linked_to_another_account",
            UpstreamError::Callback("This account is already linked to another Gatehouse account.".into()),
        ));
    }
    let at = now();
    p.store.link_identity(&Identity {
        connection_id: conn.id().to_string(),
        subject: identity.subject.clone(),
        user_id: user_id.to_string(),
        email: identity.email.clone(),
        created_at: at,
        last_used_at: at,
    })?;
    audit_linked(p, conn, user_id, "account_page", origin)?;
    Ok(Arrival::Linked)
}

fn audit_linked(
    p: &Provider,
    conn: &Connection,
    user_id: &str,
    how: &str,
    origin: &Origin,
) -> Result<(), FlowError> {
    p.auditor.record(
        AuditEvent::new(kind::IDENTITY_LINKED, Outcome::Success, now())
            .origin(origin)
            .actor(user_id)
            .subject(user_id)
            .detail(serde_json::json!({ "connection": conn.id(), "how": how })),
    )?;
    Ok(())
}

/// Audits a failed upstream sign-in and turns it into the error page naming the provider. The reason
/// and message never contain tokens or secrets.
fn failure(
    p: &Provider,
    conn: &Connection,
    origin: &Origin,
    reason: &str,
    error: UpstreamError,
) -> FlowError {
    let (status, message) = match &error {
        UpstreamError::Callback(m) => (400, m.clone()),
        UpstreamError::Timeout => (
            504,
            format!("{} did not answer in time. Try again later.", conn.name()),
        ),
        UpstreamError::Invalid(_) | UpstreamError::Unreachable(_) | UpstreamError::Config(_) => (
            502,
            format!(
                "{} sent an answer that could not be verified, or could not be reached.",
                conn.name()
            ),
        ),
    };
    tracing::warn!(connection = conn.id(), reason, detail = %error, "upstream sign-in failed");
    let event = AuditEvent::new(kind::UPSTREAM_SIGN_IN, Outcome::Failure, now())
        .origin(origin)
        .detail(
            serde_json::json!({ "connection": conn.id(), "reason": reason, "detail": error.to_string() }),
        );
    if let Err(e) = p.auditor.record(event) {
        return e.into();
    }
    FlowError::Upstream {
        provider: conn.name().to_string(),
        status,
        message,
    }
}
