//! Progressive profiling: a client declares the profile fields it needs (and some it would like); when a
//! signed-in person lacks a required one, the authorization stops once to ask for just the missing
//! fields, then continues. Optional fields are asked for only alongside a missing required one, so
//! nobody is asked twice for what they chose to leave empty.

use tracing::instrument;

use super::admin::{ProfileUpdate, apply_profile_update, check_profile_field};
use super::authorize::{Next, load_pending, resume_after_sign_in};
use super::browser::{Browser, signed_in};
use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::store::{ClientPolicy, User};

/// The fields a client may require or ask for, each with its label, input type and autocomplete token
/// (WHATWG autofill). `address` stands for street, city, postal code and country.
pub const ASKABLE: &[(&str, &str, &str, &str)] = &[
    ("name", "Full name", "text", "name"),
    ("given_name", "First name", "text", "given-name"),
    ("family_name", "Last name", "text", "family-name"),
    ("middle_name", "Middle name", "text", "additional-name"),
    ("nickname", "Nickname", "text", "nickname"),
    ("preferred_username", "Username", "text", "username"),
    ("birthdate", "Date of birth", "date", "bday"),
    ("gender", "Gender", "text", "sex"),
    (
        "phone_number",
        "Mobile phone (international format, e.g. +14155550100)",
        "tel",
        "tel",
    ),
    ("website", "Website", "url", "url"),
    ("picture", "Picture (https address)", "url", "photo"),
    ("locale", "Language (e.g. en-GB)", "text", "language"),
    ("zoneinfo", "Time zone (e.g. Europe/Paris)", "text", "off"),
    ("address", "Address", "address", "street-address"),
];

/// The inputs of the `address` group: (form name, label, autocomplete, required when address is).
const ADDRESS_INPUTS: &[(&str, &str, &str, bool)] = &[
    ("address.street_address", "Street address", "street-address", true),
    ("address.locality", "City", "address-level2", true),
    ("address.postal_code", "Postal code", "postal-code", false),
    ("address.country", "Country", "country-name", true),
];

/// Every form input name the profile page may post.
pub fn input_names() -> impl Iterator<Item = &'static str> {
    ASKABLE
        .iter()
        .map(|(name, ..)| *name)
        .filter(|n| *n != "address")
        .chain(ADDRESS_INPUTS.iter().map(|(name, ..)| *name))
}

/// Whether a field name may appear in a client policy.
pub fn is_askable(field: &str) -> bool {
    ASKABLE.iter().any(|(name, ..)| *name == field)
}

pub fn policy(p: &Provider, client_id: &str) -> Result<ClientPolicy, FlowError> {
    Ok(p.store
        .find_client_policy(client_id)?
        .unwrap_or_else(|| ClientPolicy {
            client_id: client_id.to_string(),
            ..Default::default()
        }))
}

/// Whether `prompt=create` may create light accounts through this client.
pub fn allows_light_accounts(p: &Provider, client_id: &str) -> Result<bool, FlowError> {
    Ok(policy(p, client_id)?.allow_light_accounts)
}

/// The required fields this person has not filled in, for this client.
pub fn missing(p: &Provider, client_id: &str, user: &User) -> Result<Vec<String>, FlowError> {
    let policy = policy(p, client_id)?;
    Ok(policy
        .required_fields
        .into_iter()
        .filter(|f| !has_field(user, f))
        .collect())
}

fn has_field(user: &User, field: &str) -> bool {
    let profile = serde_json::to_value(&user.profile).unwrap_or_default();
    match field {
        "name" => user.name.as_deref().is_some_and(|n| !n.trim().is_empty()),
        "address" => user
            .profile
            .address
            .as_ref()
            .is_some_and(|a| a.street_address.is_some() || a.formatted.is_some()),
        other => profile.get(other).is_some_and(|v| !v.is_null()),
    }
}

/// One input of the form.
pub struct Input {
    pub name: String,
    pub label: String,
    pub kind: String,
    pub autocomplete: String,
    pub required: bool,
    pub value: String,
    pub error: Option<String>,
}

pub struct ProfileForm {
    pub client_name: String,
    pub inputs: Vec<Input>,
}

/// The form: the missing required fields, then the client's missing optional ones.
pub fn show(p: &Provider, request_id: &str, browser: &Browser) -> Result<ProfileForm, FlowError> {
    let (form, _) = form(p, request_id, browser, &[])?;
    Ok(form)
}

fn form(
    p: &Provider,
    request_id: &str,
    browser: &Browser,
    typed: &[(String, String)],
) -> Result<(ProfileForm, User), FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    let s = signed_in(p, browser)?.ok_or_else(FlowError::expired_request)?;
    let policy = policy(p, &pending.client.id)?;
    let value_of = |name: &str| {
        typed
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut inputs = Vec::new();
    let wanted = policy
        .required_fields
        .iter()
        .map(|f| (f, true))
        .chain(policy.optional_fields.iter().map(|f| (f, false)));
    for (field, required) in wanted {
        if has_field(&s.user, field) || inputs.iter().any(|i: &Input| i.name == *field) {
            continue;
        }
        let Some((name, label, kind, autocomplete)) = ASKABLE.iter().find(|(n, ..)| n == field) else {
            continue;
        };
        if *name == "address" {
            for (input, label, autocomplete, needed) in ADDRESS_INPUTS {
                inputs.push(Input {
                    name: input.to_string(),
                    label: label.to_string(),
                    kind: "text".into(),
                    autocomplete: autocomplete.to_string(),
                    required: required && *needed,
                    value: value_of(input),
                    error: None,
                });
            }
            continue;
        }
        inputs.push(Input {
            name: name.to_string(),
            label: label.to_string(),
            kind: kind.to_string(),
            autocomplete: autocomplete.to_string(),
            required,
            value: value_of(name),
            error: None,
        });
    }
    Ok((
        ProfileForm {
            client_name: pending.client.name,
            inputs,
        },
        s.user,
    ))
}

pub enum Submitted {
    Continue(Next),
    /// Something is missing or invalid: the form again with a message next to each bad field, and
    /// nothing saved.
    Invalid(ProfileForm),
}

#[instrument(skip_all)]
pub fn submit(
    p: &Provider,
    request_id: &str,
    typed: &[(String, String)],
    browser: &Browser,
    origin: &Origin,
) -> Result<Submitted, FlowError> {
    let (mut form, user) = form(p, request_id, browser, typed)?;
    let mut update = ProfileUpdate::default();
    for input in &mut form.inputs {
        let value = input.value.trim().to_string();
        input.error = if value.is_empty() {
            input.required.then(|| "This is needed to continue.".to_string())
        } else if input.name == "name" {
            (value.chars().count() > 200).then(|| "Use at most 200 characters.".to_string())
        } else {
            check_profile_field(&input.name, &value).err()
        };
        if input.error.is_none() && !value.is_empty() {
            match input.name.as_str() {
                "name" => update.name = Some(value),
                other => update.fields.push((other.to_string(), value)),
            }
        }
    }
    if form.inputs.iter().any(|i| i.error.is_some()) {
        return Ok(Submitted::Invalid(form));
    }
    let (name, profile) = apply_profile_update(&user, &update)
        .map_err(|e| FlowError::page("These details could not be saved", e.to_string()))?;
    p.auditor.record(
        AuditEvent::new(kind::USER_UPDATED, Outcome::Success, now())
            .origin(origin)
            .actor(&user.id)
            .subject(&user.id)
            .detail(serde_json::json!({
                "fields": update.fields.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                "source": "progressive_profiling",
            })),
    )?;
    p.store
        .update_profile(&user.id, name.as_deref(), &profile, now())?;
    Ok(Submitted::Continue(resume_after_sign_in(p, request_id, browser)?))
}
