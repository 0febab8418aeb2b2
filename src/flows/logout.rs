//! RP-Initiated Logout 1.0. A request with a valid `id_token_hint` for the signed-in user logs out at
//! once; otherwise the user confirms (the request could be forged). `post_logout_redirect_uri` must be
//! registered for the client, exactly, or nothing redirects (§3: "MUST NOT perform post-logout
//! redirection" to an unregistered URI).

use serde_json::Value;
use tracing::instrument;

use super::authorize::verify_id_token_hint;
use super::browser::{Browser, end_session, signed_in};
use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::protocol::params::Params;
use crate::store::Client;

/// A validated logout request.
pub struct LogoutRequest {
    pub client: Option<Client>,
    pub hinted_sub: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

pub enum LogoutNext {
    /// Ask the user (the page posts back with `decision`).
    Confirm(Box<LogoutRequest>),
    /// Signed out: redirect to the client if it asked, else show the signed-out page.
    SignedOut(Option<String>),
    /// The user chose to stay signed in.
    Cancelled(Option<String>),
}

fn invalid(message: &str) -> FlowError {
    FlowError::page("This sign-out link is not valid", message.to_string())
}

pub fn validate(p: &Provider, params: &Params) -> Result<LogoutRequest, FlowError> {
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(h) => Some(
            verify_id_token_hint(p, h)
                .ok_or_else(|| invalid("The application sent an ID token that Gatehouse did not issue."))?,
        ),
    };
    let hinted_client = hint.as_ref().and_then(|c| match c.get("aud") {
        Some(Value::String(a)) => Some(a.clone()),
        Some(Value::Array(a)) if a.len() == 1 => a[0].as_str().map(str::to_string),
        _ => None,
    });
    let client_id = match (params.get("client_id"), hinted_client.as_deref()) {
        (Some(a), Some(b)) if a != b => return Err(invalid("client_id does not match the ID token.")),
        (Some(a), _) | (None, Some(a)) => Some(a.to_string()),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => Some(
            p.store
                .find_client(id)?
                .ok_or_else(|| invalid("This application is not registered with Gatehouse."))?,
        ),
        None => None,
    };
    let post_logout_redirect_uri = params.get("post_logout_redirect_uri").map(str::to_string);
    if let Some(uri) = &post_logout_redirect_uri {
        let registered = client
            .as_ref()
            .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
        if !registered {
            return Err(invalid(
                "The application asked to return to an address it has not registered.",
            ));
        }
    }
    Ok(LogoutRequest {
        client,
        hinted_sub: hint.and_then(|c| c.get("sub").and_then(Value::as_str).map(str::to_string)),
        post_logout_redirect_uri,
        state: params.get("state").map(str::to_string),
    })
}

#[instrument(skip_all)]
pub fn start(
    p: &Provider,
    params: &Params,
    browser: &Browser,
    origin: &Origin,
) -> Result<LogoutNext, FlowError> {
    let request = validate(p, params)?;
    let current = signed_in(p, browser)?;
    let hint_matches = match (&current, &request.hinted_sub) {
        (None, _) => true,
        (Some(s), Some(sub)) => &s.user.id == sub,
        (Some(_), None) => false,
    };
    if hint_matches {
        if let Some(s) = &current {
            audit_logout(p, &s.user.id, &request, origin, "id_token_hint")?;
        }
        end_session(p, browser)?;
        return Ok(LogoutNext::SignedOut(return_url(&request)));
    }
    Ok(LogoutNext::Confirm(Box::new(request)))
}

/// The answer from the confirmation page.
pub fn confirm(
    p: &Provider,
    params: &Params,
    browser: &Browser,
    sign_out: bool,
    origin: &Origin,
) -> Result<LogoutNext, FlowError> {
    let request = validate(p, params)?;
    if !sign_out {
        return Ok(LogoutNext::Cancelled(return_url(&request)));
    }
    if let Some(s) = signed_in(p, browser)? {
        audit_logout(p, &s.user.id, &request, origin, "confirmed")?;
    }
    end_session(p, browser)?;
    Ok(LogoutNext::SignedOut(return_url(&request)))
}

fn audit_logout(
    p: &Provider,
    user_id: &str,
    request: &LogoutRequest,
    origin: &Origin,
    how: &str,
) -> Result<(), FlowError> {
    let mut event = AuditEvent::new(kind::LOGOUT, Outcome::Success, now())
        .origin(origin)
        .actor(user_id)
        .subject(user_id)
        .detail(serde_json::json!({ "how": how }));
    event.client_id = request.client.as_ref().map(|c| c.id.clone());
    Ok(p.auditor.record(event)?)
}

fn return_url(request: &LogoutRequest) -> Option<String> {
    let mut url = url::Url::parse(request.post_logout_redirect_uri.as_deref()?).ok()?;
    if let Some(state) = &request.state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Some(url.into())
}
