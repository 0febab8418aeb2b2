//! The profile page: the person edits their name, the OIDC standard claims (OIDC Core §5.1) and their
//! declared region. Every value is checked first; one bad value saves nothing, and each bad value gets
//! its own message.

use std::collections::BTreeMap;

use tracing::instrument;

use super::super::admin::{self, AdminError, ProfileUpdate};
use super::super::browser::SignedIn;
use super::super::{FlowError, Provider, now};
use super::own_event;
use crate::audit::{Origin, kind};
use crate::store::User;

/// The form's fields, by the profile key each one sets (`address.locality`), in page order.
pub const FIELDS: &[&str] = &[
    "name",
    "given_name",
    "middle_name",
    "family_name",
    "nickname",
    "preferred_username",
    "birthdate",
    "gender",
    "phone_number",
    "website",
    "picture",
    "locale",
    "zoneinfo",
    "address.street_address",
    "address.locality",
    "address.region",
    "address.postal_code",
    "address.country",
    "region",
];

/// Field → value, as shown in the form.
pub type Values = BTreeMap<String, String>;
/// Field → what is wrong with its value.
pub type Errors = BTreeMap<String, String>;

pub enum Saved {
    Saved,
    /// Nothing was saved: the form again, with what the person typed and a message per bad field.
    Invalid {
        values: Values,
        errors: Errors,
    },
}

/// The person's current values for every field of the form (empty when unset).
pub fn values_of(user: &User) -> Values {
    let doc = serde_json::to_value(&user.profile).unwrap_or_default();
    FIELDS
        .iter()
        .map(|&field| {
            let value = match field {
                "name" => user.name.clone(),
                "region" => user.region.clone(),
                _ => field
                    .split('.')
                    .try_fold(&doc, |v, key| v.get(key))
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
            };
            (field.to_string(), value.unwrap_or_default())
        })
        .collect()
}

/// Validates and saves the form (`form` holds only the fields the browser sent; the others are
/// cleared, as an emptied input is). A changed phone number is no longer verified.
#[instrument(skip_all)]
pub fn save(p: &Provider, s: &SignedIn, form: &Values, origin: &Origin) -> Result<Saved, FlowError> {
    let mut values: Values = FIELDS
        .iter()
        .map(|&f| {
            (
                f.to_string(),
                form.get(f).map(|v| v.trim().to_string()).unwrap_or_default(),
            )
        })
        .collect();
    let mut errors = Errors::new();
    let mut region = None;
    for (field, value) in values.iter().filter(|(_, v)| !v.is_empty()) {
        let checked = match field.as_str() {
            "region" => admin::normalise_region(value).map(|r| region = Some(r)),
            "website" | "picture" if value.len() > 1024 => Err("Use at most 1024 characters.".to_string()),
            "website" | "picture" => admin::check_profile_field(field, value),
            _ if value.chars().count() > 200 => Err("Use at most 200 characters.".to_string()),
            _ => admin::check_profile_field(field, value),
        };
        if let Err(message) = checked {
            errors.insert(field.clone(), message);
        }
    }
    if let Some(r) = &region {
        values.insert("region".into(), r.clone());
    }
    let before = values_of(&s.user);
    let mut fields: Vec<(String, String)> = values
        .iter()
        .filter(|(f, _)| !matches!(f.as_str(), "name" | "region"))
        .map(|(f, v)| (f.clone(), v.clone()))
        .collect();
    if before.get("phone_number") != values.get("phone_number") {
        fields.push(("phone_number_verified".into(), String::new()));
    }
    let update = ProfileUpdate {
        name: values.get("name").cloned(),
        fields,
    };
    if !errors.is_empty() {
        return Ok(Saved::Invalid { values, errors });
    }
    let (name, profile) = match admin::apply_profile_update(&s.user, &update) {
        Ok(applied) => applied,
        // Every field was checked above; this is a refusal of the whole form.
        Err(AdminError::Invalid(message)) => {
            errors.insert("form".into(), message);
            return Ok(Saved::Invalid { values, errors });
        }
        Err(AdminError::Store(e)) => return Err(e.into()),
        Err(AdminError::NotFound(m)) => return Err(FlowError::page("Your account was not found", m)),
    };
    let changed: Vec<&String> = values
        .keys()
        .filter(|f| before.get(*f) != values.get(*f))
        .collect();
    if changed.is_empty() {
        return Ok(Saved::Saved);
    }
    // Write-ahead, like every account change: the record names the fields, never their values.
    p.auditor
        .record(own_event(kind::USER_UPDATED, s, origin).detail(serde_json::json!({ "fields": changed })))?;
    p.store
        .save_account_profile(&s.user.id, name.as_deref(), &profile, region.as_deref(), now())?;
    Ok(Saved::Saved)
}
