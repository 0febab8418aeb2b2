//! The pending authorization request, carried by the browser instead of stored (issue 6: nothing is
//! written before the user authenticates, so a flood of /authorize visits costs the database nothing).
//!
//! The validated request is sealed (AES-256-GCM) with its expiry, bound to the browser's binding cookie
//! through the associated data, and travels as the pages' `req` parameter. Any replica with the same
//! secret opens it. Replaying one changes nothing: it only leads to a code through a signed-in session
//! of the same browser, exactly as sending the original request to /authorize again would.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::browser::Browser;
use super::{FlowError, Provider, now};
use crate::crypto::b64url;
use crate::protocol::authorize::AuthorizationRequest;
use crate::store::Client;

/// A validated request waiting for the user.
pub struct Pending {
    /// The sealed request (the pages' `req` parameter); empty until `seal`.
    pub id: String,
    pub request: AuthorizationRequest,
    pub client: Client,
    pub created_at: i64,
}

/// What the sealed `req` holds.
#[derive(Serialize, Deserialize)]
struct Sealed {
    client_id: String,
    request: AuthorizationRequest,
    created_at: i64,
    expires_at: i64,
}

impl Pending {
    /// A request just validated at /authorize, not sealed yet.
    pub fn new(request: AuthorizationRequest, client: Client) -> Self {
        Self {
            id: String::new(),
            request,
            client,
            created_at: now(),
        }
    }

    /// Seals the request for this browser (once; `changed` must be called after editing it). It stays
    /// valid for `sessions.authorization_request_ttl` seconds from when /authorize received it.
    pub fn seal(&mut self, p: &Provider, browser: &Browser) {
        if !self.id.is_empty() {
            return;
        }
        let sealed = Sealed {
            client_id: self.client.id.clone(),
            request: self.request.clone(),
            created_at: self.created_at,
            expires_at: self.created_at + p.settings.sessions.authorization_request_ttl as i64,
        };
        let plain = serde_json::to_vec(&sealed).expect("requests serialise");
        self.id = b64url(&p.sealer.seal(&plain, &context(browser)));
    }

    /// The request was edited (an organization chosen): the next `seal` carries the new version.
    pub fn changed(&mut self) {
        self.id.clear();
    }

    /// Opens a sealed request, only for the browser it was sealed for and before it expires; anything
    /// else (forged, altered, foreign, expired, its client deleted) is the "sign-in has expired" page.
    pub fn open(p: &Provider, sealed: &str, browser: &Browser) -> Result<Pending, FlowError> {
        let opened = URL_SAFE_NO_PAD
            .decode(sealed.trim())
            .ok()
            .and_then(|bytes| p.sealer.open(&bytes, &context(browser)))
            .and_then(|plain| serde_json::from_slice::<Sealed>(&plain).ok())
            .filter(|s| s.expires_at > now())
            .ok_or_else(FlowError::expired_request)?;
        let client = p
            .store
            .find_client(&opened.client_id)?
            .ok_or_else(FlowError::expired_request)?;
        Ok(Pending {
            id: sealed.trim().to_string(),
            request: opened.request,
            client,
            created_at: opened.created_at,
        })
    }
}

/// The associated data: the purpose and the browser, so a sealed request serves nothing else and no
/// other browser.
fn context(browser: &Browser) -> Vec<u8> {
    format!("gatehouse authorization request v1|{}", browser.binding_hash()).into_bytes()
}
