//! Operators set what a client asks of its people: light sign-up, required and optional profile fields
//! (progressive profiling), required consent documents and the default region. One flow for the CLI
//! and the admin API.

use serde::Deserialize;

use super::admin::{AdminError, audit_as};
use super::profiling::is_askable;
use crate::audit::kind;
use crate::store::{ClientPolicy, Store};

/// A change to a client's policy: `None` leaves a setting as it is; a list replaces the old one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    pub allow_light_accounts: Option<bool>,
    pub required_fields: Option<Vec<String>>,
    pub optional_fields: Option<Vec<String>>,
    pub required_documents: Option<Vec<String>>,
    /// `Some("")` clears the region.
    pub region: Option<String>,
}

/// The client's policy (the defaults when none was saved); `NotFound` for an unknown client.
pub fn show(store: &dyn Store, client_id: &str) -> Result<ClientPolicy, AdminError> {
    if store.find_client(client_id)?.is_none() {
        return Err(AdminError::NotFound(format!("no client {client_id}")));
    }
    Ok(store
        .find_client_policy(client_id)?
        .unwrap_or_else(|| ClientPolicy {
            client_id: client_id.to_string(),
            ..Default::default()
        }))
}

/// Applies a change after checking every value; nothing is saved if any value is wrong.
pub fn update_as(
    actor: &str,
    store: &dyn Store,
    client_id: &str,
    change: PolicyChange,
) -> Result<ClientPolicy, AdminError> {
    let mut policy = show(store, client_id)?;
    if let Some(allow) = change.allow_light_accounts {
        policy.allow_light_accounts = allow;
    }
    if let Some(fields) = change.required_fields {
        policy.required_fields = checked_fields("required_fields", fields)?;
    }
    if let Some(fields) = change.optional_fields {
        policy.optional_fields = checked_fields("optional_fields", fields)?;
    }
    if let Some(documents) = change.required_documents {
        for d in &documents {
            match store.find_consent_document(d)? {
                None => {
                    return Err(AdminError::Invalid(format!(
                        "required_documents: no consent document `{d}` (create it first)"
                    )));
                }
                // Marketing consent must stay optional (GDPR Art. 7(4)).
                Some(doc) if doc.purpose == crate::store::ConsentPurpose::Marketing => {
                    return Err(AdminError::Invalid(format!(
                        "required_documents: `{d}` is a marketing document, which can never be required"
                    )));
                }
                Some(_) => {}
            }
        }
        policy.required_documents = dedup(documents);
    }
    if let Some(region) = change.region {
        // One region check for profiles and policies: a known country, subdivision, or EU/EEA.
        policy.region = match region.trim() {
            "" => None,
            r => Some(
                super::admin::normalise_region(r).map_err(|m| AdminError::Invalid(format!("region: {m}")))?,
            ),
        };
    }
    audit_as(
        store,
        actor,
        kind::CLIENT_POLICY_UPDATED,
        client_id,
        serde_json::to_value(&policy).unwrap_or_default(),
    )?;
    store.save_client_policy(&policy)?;
    Ok(policy)
}

fn checked_fields(setting: &str, fields: Vec<String>) -> Result<Vec<String>, AdminError> {
    if let Some(bad) = fields.iter().find(|f| !is_askable(f)) {
        let known: Vec<&str> = super::profiling::ASKABLE.iter().map(|(n, ..)| *n).collect();
        return Err(AdminError::Invalid(format!(
            "{setting}: `{bad}` is not a profile field that can be asked for ({})",
            known.join(", ")
        )));
    }
    Ok(dedup(fields))
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::admin::normalise_region;

    #[test]
    fn region_codes_are_countries_subdivisions_or_eu() {
        for ok in ["EU", "DE", "US-CA", "GB-ENG", "FR-75"] {
            assert!(normalise_region(ok).is_ok(), "{ok}");
        }
        for bad in ["", "E", "EUR", "US-", "US-CALI", "X1"] {
            assert!(normalise_region(bad).is_err(), "{bad}");
        }
    }
}
