//! The consent page: what the client asked for, in plain words, and the user's answer. Consent is
//! remembered per user, client and scope.

use tracing::instrument;

use super::authorize::{Next, complete, load_pending};
use super::browser::{Browser, signed_in};
use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::protocol::{ErrorCode, OAuthError, scope};

pub struct ConsentView {
    pub client_name: String,
    pub user_email: String,
    /// (scope, description) in request order.
    pub scopes: Vec<(String, String)>,
}

pub fn show(p: &Provider, request_id: &str, browser: &Browser) -> Result<ConsentView, FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    let s = signed_in(p, browser)?.ok_or_else(FlowError::expired_request)?;
    Ok(ConsentView {
        client_name: pending.client.name,
        user_email: s.user.email,
        scopes: pending
            .request
            .scopes
            .iter()
            .map(|sc| {
                let custom = p.settings.scopes.iter().find(|c| &c.name == sc);
                let description = custom.map_or(scope::describe(sc), |c| c.description.as_str());
                (sc.clone(), description.to_string())
            })
            .collect(),
    })
}

#[instrument(skip_all)]
pub fn decide(
    p: &Provider,
    request_id: &str,
    allow: bool,
    browser: &Browser,
    origin: &Origin,
) -> Result<Next, FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    let s = signed_in(p, browser)?.ok_or_else(FlowError::expired_request)?;
    let (event, outcome) = if allow {
        (kind::CONSENT_GRANTED, Outcome::Success)
    } else {
        (kind::CONSENT_DENIED, Outcome::Failure)
    };
    p.auditor.record(
        AuditEvent::new(event, outcome, now())
            .origin(origin)
            .actor(&s.user.id)
            .subject(&s.user.id)
            .client(&pending.client.id)
            .detail(serde_json::json!({ "scope": scope::join(&pending.request.scopes) })),
    )?;
    if !allow {
        tracing::info!(client_id = %pending.client.id, "consent denied");
        let denied = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
        return Ok(Next::Respond(pending.request.target.error(p.issuer(), &denied)));
    }
    let mut granted = p.store.find_consent(&s.user.id, &pending.client.id)?;
    for sc in &pending.request.scopes {
        if !granted.contains(sc) {
            granted.push(sc.clone());
        }
    }
    p.store
        .save_consent(&s.user.id, &pending.client.id, &granted, now())?;
    tracing::info!(client_id = %pending.client.id, "consent granted");
    complete(p, &pending, &s, None)
}
