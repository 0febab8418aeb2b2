//! Operators (and organization admins, for their own organization) set what a client or organization
//! requires at sign-in: MFA, which second factors count, or passkeys only. One flow for the CLI and
//! the admin API.

use serde::Deserialize;

use super::admin::{AdminError, audit_as};
use super::mfa::{FACTORS, PASSKEY};
use crate::audit::kind;
use crate::store::{MfaOwner, MfaPolicy, Store};

/// A change: `None` leaves a setting as it is; a list replaces the old one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicyChange {
    pub required: Option<bool>,
    pub factors: Option<Vec<String>>,
    pub passkey_only: Option<bool>,
}

/// The policy (the defaults, nothing required, when none was saved); `NotFound` for an unknown client
/// or organization.
pub fn show(store: &dyn Store, owner: MfaOwner, id: &str) -> Result<MfaPolicy, AdminError> {
    // Organizations are named by id or slug; the policy is kept under the id.
    let resolved = match owner {
        MfaOwner::Client => store.find_client(id)?.map(|c| c.id),
        MfaOwner::Organization => store.find_organization(id)?.map(|o| o.id),
    };
    let Some(id) = resolved else {
        return Err(AdminError::NotFound(format!("no {} {id}", owner.as_str())));
    };
    Ok(store.find_mfa_policy(owner, &id)?.unwrap_or(MfaPolicy {
        owner,
        owner_id: id,
        required: false,
        factors: Vec::new(),
        passkey_only: false,
    }))
}

/// Applies a change after checking it; nothing is saved if any value is wrong.
pub fn update_as(
    actor: &str,
    store: &dyn Store,
    owner: MfaOwner,
    id: &str,
    change: MfaPolicyChange,
) -> Result<MfaPolicy, AdminError> {
    let mut policy = show(store, owner, id)?;
    if let Some(required) = change.required {
        policy.required = required;
    }
    if let Some(factors) = change.factors {
        let mut kept: Vec<String> = Vec::new();
        for f in factors {
            let f = f.trim().to_lowercase();
            if !FACTORS.contains(&f.as_str()) {
                return Err(AdminError::Invalid(format!(
                    "factors: `{f}` is not a second factor ({})",
                    FACTORS.join(", ")
                )));
            }
            if !kept.contains(&f) {
                kept.push(f);
            }
        }
        policy.factors = kept;
    }
    if let Some(only) = change.passkey_only {
        policy.passkey_only = only;
    }
    if policy.passkey_only && !policy.factors.is_empty() && !policy.factors.iter().any(|f| f == PASSKEY) {
        return Err(AdminError::Invalid(
            "factors: passkey_only needs `passkey` among the factors (or an empty list)".into(),
        ));
    }
    let subject = format!("{}:{}", owner.as_str(), policy.owner_id);
    audit_as(
        store,
        actor,
        kind::MFA_POLICY_UPDATED,
        &subject,
        serde_json::to_value(&policy).unwrap_or_default(),
    )?;
    store.save_mfa_policy(&policy)?;
    Ok(policy)
}
