//! Proving control of an existing account before an upstream identity is linked to it (DESIGN §4.7):
//! the link proof names one exact (connection, subject) and one account, is bound to the browser, and
//! is consumed by the sign-in that proves it, by password or through an identity already linked.

use tracing::instrument;

use super::authorize::{Next, continue_after_sign_in};
use super::browser::{Authentication, Browser, start_session};
use super::federation::{self, Purpose, complete_link_proof};
use super::login::check_password;
use super::{FlowError, Provider, now, upstreams};
use crate::audit::Origin;
use crate::crypto::sha256_b64;
use crate::store::LinkProof;

/// What the proof page shows.
pub struct ProofView {
    /// The provider whose identity would be linked.
    pub provider: String,
    /// The existing account's email, partly masked.
    pub masked_email: String,
    pub has_password: bool,
    /// Connections already linked to the account, usable as proof: (id, display name).
    pub linked: Vec<(String, String)>,
}

fn load(p: &Provider, proof: &str, browser: &Browser) -> Result<LinkProof, FlowError> {
    p.store
        .find_link_proof(&sha256_b64(proof), &browser.binding_hash(), now())?
        .ok_or_else(FlowError::expired_request)
}

pub fn view(p: &Provider, proof: &str, browser: &Browser) -> Result<ProofView, FlowError> {
    let proof = load(p, proof, browser)?;
    let user = p
        .store
        .find_user(&proof.user_id)?
        .ok_or_else(FlowError::expired_request)?;
    let provider = federation::connection(p, &proof.connection_id)?;
    let mut linked = Vec::new();
    for identity in p.store.list_identities(&user.id)? {
        if let Some(conn) = upstreams::find(p, &identity.connection_id)? {
            if !linked.iter().any(|(id, _)| id == conn.id()) {
                linked.push((conn.id().to_string(), conn.name().to_string()));
            }
        }
    }
    Ok(ProofView {
        provider: provider.name().to_string(),
        masked_email: mask_email(&user.email),
        has_password: user.password_hash.is_some(),
        linked,
    })
}

pub enum Proven {
    /// Linked and signed in: set this session cookie and continue (the account page when `next` is None).
    SignedIn {
        session_id: String,
        next: Option<Next>,
    },
    Failed(ProofView),
}

/// Proof by the existing account's password.
#[instrument(skip_all)]
pub fn with_password(
    p: &Provider,
    proof: &str,
    password: &str,
    browser: &Browser,
    origin: &Origin,
) -> Result<Proven, FlowError> {
    let stored = load(p, proof, browser)?;
    let account = p
        .store
        .find_user(&stored.user_id)?
        .ok_or_else(FlowError::expired_request)?;
    let Some((user, event)) =
        check_password(p, &account.email, password, None, origin)?.filter(|(u, _)| u.id == account.id)
    else {
        return Ok(Proven::Failed(view(p, proof, browser)?));
    };
    complete_link_proof(p, &stored.id_hash, &user, browser, origin)?;
    let new = start_session(p, browser, &user, &Authentication::method("pwd"), vec![event])?;
    let (session_id, next) = continue_after_sign_in(p, stored.request_id.as_deref(), browser, new)?;
    Ok(Proven::SignedIn { session_id, next })
}

/// Proof by signing in through an identity already linked to the account: the callback completes it.
pub fn with_upstream(
    p: &Provider,
    proof: &str,
    connection_id: &str,
    browser: &Browser,
    origin: &Origin,
) -> Result<String, FlowError> {
    let stored = load(p, proof, browser)?;
    let link_proof = Some(stored.id_hash);
    let purpose = match stored.request_id {
        Some(request_id) => Purpose::SignIn {
            request_id,
            link_proof,
        },
        None => Purpose::Account { link_proof },
    };
    federation::start(p, connection_id, purpose, None, browser, origin)
}

/// `ada@example.com` → `a••@example.com`: enough to recognise, not enough to harvest.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}••@{domain}")
        }
        None => "••".into(),
    }
}
