//! The admin API's part of the portal: data-subject requests that arrive by other channels (export,
//! immediate erasure) and the preference topics. Operators only: an organization admin gets 403, as
//! for every other user-level resource.

use serde_json::Value;

use super::super::Provider;
use super::super::admin::AdminError;
use super::super::admin_api::{ApiError, Caller};
use super::preferences::{self, NewTopic};
use crate::audit::Origin;
use crate::store::PreferenceTopic;

fn require_operator(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Operator { .. } => Ok(()),
        Caller::OrgAdmin { .. } => Err(ApiError::Forbidden(
            "only an operator (gatehouse:admin) may do this".into(),
        )),
    }
}

fn api_error(field: &'static str) -> impl Fn(AdminError) -> ApiError {
    move |e| match e {
        AdminError::Invalid(message) => ApiError::invalid(field, message),
        AdminError::NotFound(_) => ApiError::NotFound,
        AdminError::Store(s) => s.into(),
    }
}

/// `GET /admin/v1/users/{id}/export`: the same document as the person's own download.
pub fn export_user(p: &Provider, caller: &Caller, id: &str, origin: &Origin) -> Result<Value, ApiError> {
    require_operator(caller)?;
    super::export(p, id, &caller.actor(), origin)?.ok_or(ApiError::NotFound)
}

/// `POST /admin/v1/users/{id}/erase`: erases the account now, without a grace period.
pub fn erase_user(p: &Provider, caller: &Caller, id: &str) -> Result<(), ApiError> {
    require_operator(caller)?;
    if super::deletion::erase_user(p.store.as_ref(), id, &caller.actor())? {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

pub fn list_topics(p: &Provider, caller: &Caller) -> Result<Vec<PreferenceTopic>, ApiError> {
    require_operator(caller)?;
    Ok(p.store.list_topics()?)
}

pub fn create_topic(p: &Provider, caller: &Caller, body: NewTopic) -> Result<PreferenceTopic, ApiError> {
    require_operator(caller)?;
    preferences::create_topic(p.store.as_ref(), &caller.actor(), body).map_err(|e| match e {
        AdminError::Invalid(m) if m.contains("already exists") => ApiError::Conflict(m),
        AdminError::Invalid(m) => {
            let field = if m.contains("channel") {
                "channels"
            } else {
                ["topic id", "name", "description"]
                    .into_iter()
                    .find(|f| m.starts_with(&format!("the {f}")))
                    .map(|f| f.trim_start_matches("topic "))
                    .unwrap_or("body")
            };
            ApiError::invalid(field, m)
        }
        other => api_error("body")(other),
    })
}

pub fn delete_topic(p: &Provider, caller: &Caller, id: &str) -> Result<(), ApiError> {
    require_operator(caller)?;
    preferences::delete_topic(p.store.as_ref(), &caller.actor(), id).map_err(api_error("topic"))
}
