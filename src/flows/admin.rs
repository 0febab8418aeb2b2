//! Operator use cases: registering clients and users (used by the CLI, later by the admin API).
//! Every change is written to the audit log first (write-ahead): if it cannot be recorded, nothing
//! changes.

use serde::Serialize;

use super::now;
use crate::audit::{AuditEvent, Outcome, kind};
use crate::crypto::{hash_password, random_id, random_token, sha256_b64};
use crate::keys::Alg;
use crate::protocol::{redirect_uri, scope};
use crate::store::{Client, Store, StoreError, User};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(msg: impl Into<String>) -> AdminError {
    AdminError::Invalid(msg.into())
}

pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
pub const MIN_SECRET_LEN: usize = 32;
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Debug, Default, Clone)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub id_token_alg: Option<String>,
    pub skip_consent: bool,
    pub id: Option<String>,
    pub secret: Option<String>,
    /// Browser origins (`https://app.example.com`) of a single-page app, for CORS.
    pub allowed_origins: Vec<String>,
    /// Organizations (id or slug) the client may be used with; empty: any.
    pub organizations: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: Client,
    pub public: bool,
    /// Shown once; only its SHA-256 is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

pub fn create_client(store: &dyn Store, new: NewClient) -> Result<CreatedClient, AdminError> {
    create_client_as("cli", store, new)
}

pub fn create_client_as(actor: &str, store: &dyn Store, new: NewClient) -> Result<CreatedClient, AdminError> {
    let name = new.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("--name must be 1 to 200 characters"));
    }
    let grant_types = if new.grant_types.is_empty() {
        let defaults: &[&str] = if new.redirect_uris.is_empty() {
            &["client_credentials"]
        } else {
            &["authorization_code", "refresh_token"]
        };
        defaults.iter().map(|g| g.to_string()).collect()
    } else {
        dedup(new.grant_types)
    };
    if let Some(bad) = grant_types.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
        return Err(invalid(format!(
            "unknown grant type `{bad}` (use {})",
            GRANT_TYPES.join(", ")
        )));
    }
    if new.public && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(invalid(
            "a public client cannot use client_credentials (it has no secret)",
        ));
    }
    if grant_types.iter().any(|g| g == "authorization_code") && new.redirect_uris.is_empty() {
        return Err(invalid(
            "the authorization_code grant needs at least one --redirect-uri",
        ));
    }
    for uri in new.redirect_uris.iter().chain(&new.post_logout_redirect_uris) {
        redirect_uri::validate_registration(uri).map_err(invalid)?;
    }
    for origin in &new.allowed_origins {
        redirect_uri::validate_origin(origin).map_err(invalid)?;
    }
    let scopes = if new.scopes.is_empty() {
        scope::STANDARD_SCOPES.iter().map(|s| s.to_string()).collect()
    } else {
        dedup(new.scopes)
    };
    if let Some(bad) = scopes.iter().find(|s| !scope::is_valid_token(s)) {
        return Err(invalid(format!("`{bad}` is not a valid scope")));
    }
    let mut organizations = Vec::new();
    for org in dedup(new.organizations) {
        let found = store
            .find_organization(&org)?
            .ok_or_else(|| invalid(format!("no organization `{org}`")))?;
        organizations.push(found.id);
    }
    let id_token_alg = new.id_token_alg.unwrap_or_else(|| "RS256".into());
    if Alg::parse(&id_token_alg).is_none() {
        return Err(invalid("--id-token-alg must be RS256, ES256 or EdDSA"));
    }
    let id = new.id.unwrap_or_else(random_id);
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(invalid("--id must be 1 to 64 characters of A-Z a-z 0-9 - . _"));
    }
    let secret = match (new.public, new.secret) {
        (true, Some(_)) => return Err(invalid("a public client has no secret")),
        (true, None) => None,
        (false, Some(s)) if s.len() < MIN_SECRET_LEN => {
            return Err(invalid(format!(
                "--secret must be at least {MIN_SECRET_LEN} characters (high entropy)"
            )));
        }
        (false, Some(s)) => Some(s),
        (false, None) => Some(random_token()),
    };
    let client = Client {
        id: id.clone(),
        name: name.to_string(),
        secret_hash: secret.as_deref().map(sha256_b64),
        redirect_uris: dedup(new.redirect_uris),
        post_logout_redirect_uris: dedup(new.post_logout_redirect_uris),
        grant_types,
        scopes,
        id_token_alg,
        skip_consent: new.skip_consent,
        created_at: now(),
        allowed_origins: dedup(new.allowed_origins),
        organizations,
    };
    if store.find_client(&id)?.is_some() {
        return Err(invalid(format!("a client with id `{id}` already exists")));
    }
    audit_as(
        store,
        actor,
        kind::CLIENT_CREATED,
        &id,
        serde_json::json!({ "after": { "client_id": id, "public": client.is_public(), "grant_types": client.grant_types } }),
    )?;
    store.create_client(&client).map_err(|e| match e {
        StoreError::Conflict(_) => invalid(format!("a client with id `{id}` already exists")),
        other => other.into(),
    })?;
    Ok(CreatedClient {
        public: client.is_public(),
        client,
        client_secret: secret,
    })
}

#[derive(Debug, Default, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    pub password: Option<String>,
    pub email_verified: bool,
}

pub fn create_user(store: &dyn Store, new: NewUser) -> Result<User, AdminError> {
    create_user_as("cli", store, new)
}

pub fn create_user_as(actor: &str, store: &dyn Store, new: NewUser) -> Result<User, AdminError> {
    let email = normalise_email(&new.email)?;
    let password_hash = match new.password {
        Some(pw) => Some(hash_password(&check_password(&pw)?)),
        None => None,
    };
    let at = now();
    let user = User {
        id: random_id(),
        email: email.clone(),
        email_verified: new.email_verified,
        name: new.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        password_hash,
        created_at: at,
        updated_at: at,
        profile: Default::default(),
        level: crate::store::IdentityLevel::Full,
        region: None,
        deletion_scheduled_at: None,
    };
    if store.find_user_by_email(&email)?.is_some() {
        return Err(invalid(format!("a user with email {email} already exists")));
    }
    audit_as(
        store,
        actor,
        kind::USER_CREATED,
        &user.id,
        serde_json::json!({ "after": { "user_id": user.id } }),
    )?;
    store.create_user(&user).map_err(|e| match e {
        StoreError::Conflict(_) => invalid(format!("a user with email {email} already exists")),
        other => other.into(),
    })?;
    Ok(user)
}

/// A user by id or email.
pub fn find_user(store: &dyn Store, id_or_email: &str) -> Result<User, AdminError> {
    let found = if id_or_email.contains('@') {
        store.find_user_by_email(id_or_email)?
    } else {
        store.find_user(id_or_email)?
    };
    found.ok_or_else(|| AdminError::NotFound(format!("no user `{id_or_email}`")))
}

pub fn set_password(store: &dyn Store, id_or_email: &str, password: &str) -> Result<User, AdminError> {
    let user = find_user(store, id_or_email)?;
    let hash = hash_password(&check_password(password)?);
    audit(store, kind::PASSWORD_CHANGED, &user.id, serde_json::json!({}))?;
    store.set_password_hash(&user.id, &hash, now())?;
    Ok(user)
}

/// Deletes a user with their sessions, tokens and consents.
pub fn delete_user(store: &dyn Store, id_or_email: &str) -> Result<User, AdminError> {
    delete_user_as("cli", store, id_or_email)
}

/// Deletes a user at once. Their consent records stay as evidence but, as at erasure, are moved to a
/// pseudonym first (the records' user id would otherwise still name the person).
pub fn delete_user_as(actor: &str, store: &dyn Store, id_or_email: &str) -> Result<User, AdminError> {
    let user = find_user(store, id_or_email)?;
    let pseudonym = format!("erased-{}", random_id());
    audit_as(
        store,
        actor,
        kind::USER_DELETED,
        &user.id,
        serde_json::json!({ "before": { "user_id": user.id }, "consent_pseudonym": pseudonym }),
    )?;
    store.anonymise_consent_records(&user.id, &pseudonym)?;
    store.delete_user(&user.id)?;
    Ok(user)
}

/// Gives a confidential client a new generated secret (shown once); the old one stops working at once.
pub fn rotate_client_secret(store: &dyn Store, id: &str) -> Result<String, AdminError> {
    let client = store
        .find_client(id)?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{id}`")))?;
    if client.is_public() {
        return Err(invalid(format!("client `{id}` is public: it has no secret")));
    }
    let secret = random_token();
    audit(
        store,
        kind::CLIENT_SECRET_ROTATED,
        id,
        serde_json::json!({ "client_id": id }),
    )?;
    store.set_client_secret_hash(id, &sha256_b64(&secret))?;
    Ok(secret)
}

/// Deletes a client and everything issued to it.
pub fn delete_client(store: &dyn Store, id: &str) -> Result<(), AdminError> {
    delete_client_as("cli", store, id)
}

pub fn delete_client_as(actor: &str, store: &dyn Store, id: &str) -> Result<(), AdminError> {
    if store.find_client(id)?.is_none() {
        return Err(AdminError::NotFound(format!("no client `{id}`")));
    }
    audit_as(
        store,
        actor,
        kind::CLIENT_DELETED,
        id,
        serde_json::json!({ "before": { "client_id": id } }),
    )?;
    store.delete_client(id)?;
    store.delete_mfa_policy(crate::store::MfaOwner::Client, id)?;
    Ok(())
}

/// Records an operator change before it is made.
pub(super) fn audit(
    store: &dyn Store,
    event: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), AdminError> {
    audit_as(store, "cli", event, subject, detail)
}

/// Records a change to one organization (so that its admins see it in their audit log).
pub(super) fn audit_in(
    store: &dyn Store,
    actor: &str,
    organization_id: &str,
    event: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), AdminError> {
    let event = AuditEvent::new(event, Outcome::Success, now())
        .actor(actor)
        .subject(subject)
        .organization(organization_id)
        .detail(detail);
    crate::audit::log(&event);
    store.append_audit(&[event])?;
    Ok(())
}

/// Records a change made by `actor` (`cli`, or `client:<id>` / `user:<id>` through the admin API).
pub(super) fn audit_as(
    store: &dyn Store,
    actor: &str,
    event: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), AdminError> {
    let event = AuditEvent::new(event, Outcome::Success, now())
        .actor(actor)
        .subject(subject)
        .detail(detail);
    crate::audit::log(&event);
    store.append_audit(&[event])?;
    Ok(())
}

fn check_password(pw: &str) -> Result<String, AdminError> {
    let pw = pw.trim_end_matches(['\r', '\n']);
    if pw.chars().count() < MIN_PASSWORD_LEN || pw.len() > 1024 {
        return Err(invalid(format!(
            "the password must be {MIN_PASSWORD_LEN} to 1024 characters"
        )));
    }
    Ok(pw.to_string())
}

pub(super) fn normalise_email(email: &str) -> Result<String, AdminError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        });
    if !valid {
        return Err(invalid(format!("`{email}` is not an email address")));
    }
    Ok(email)
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

/// The standard profile fields `update_profile` accepts (OIDC Core §5.1).
const PROFILE_FIELDS: &[&str] = &[
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
];
const ADDRESS_FIELDS: &[&str] = &[
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

/// A profile change: `None` leaves a field as it is; `Some("")` clears it.
#[derive(Debug, Default, Clone)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub fields: Vec<(String, String)>,
}

/// Updates a user's name and profile fields (`given_name=Ada`, `phone_number=+44…`,
/// `address.locality=London`, `attributes.tier=gold`), write-ahead audited.
pub fn update_profile(
    store: &dyn Store,
    id_or_email: &str,
    update: ProfileUpdate,
) -> Result<User, AdminError> {
    update_profile_as("cli", store, id_or_email, update)
}

pub fn update_profile_as(
    actor: &str,
    store: &dyn Store,
    id_or_email: &str,
    update: ProfileUpdate,
) -> Result<User, AdminError> {
    let user = find_user(store, id_or_email)?;
    let (name, profile) = apply_profile_update(&user, &update)?;
    audit_as(
        store,
        actor,
        kind::USER_UPDATED,
        &user.id,
        serde_json::json!({ "fields": update.fields.iter().map(|(k, _)| k).collect::<Vec<_>>() }),
    )?;
    let at = now();
    store.update_profile(&user.id, name.as_deref(), &profile, at)?;
    Ok(User {
        name,
        profile,
        updated_at: at,
        ..user
    })
}

/// Applies a change to a user's name and profile without saving it. Unknown fields and invalid values
/// (`check_profile_field`) are refused with a message naming the field.
pub fn apply_profile_update(
    user: &User,
    update: &ProfileUpdate,
) -> Result<(Option<String>, crate::store::Profile), AdminError> {
    let mut name = user.name.clone();
    if let Some(n) = &update.name {
        if n.len() > 1024 {
            return Err(invalid("`name` is too long"));
        }
        name = (!n.trim().is_empty()).then(|| n.trim().to_string());
    }
    let mut doc = serde_json::to_value(&user.profile).map_err(|e| invalid(e.to_string()))?;
    for (key, value) in &update.fields {
        if value.len() > 1024 {
            return Err(invalid(format!("`{key}` is too long")));
        }
        let known = match key.split_once('.') {
            None => PROFILE_FIELDS.contains(&key.as_str()),
            Some(("address", field)) => ADDRESS_FIELDS.contains(&field),
            Some(("attributes", field)) => scope::is_valid_token(field) && field.len() <= 64,
            _ => false,
        };
        if !known {
            return Err(invalid(format!(
                "unknown profile field `{key}`: use a standard claim name, address.<field> or attributes.<name>"
            )));
        }
        if !value.is_empty() {
            check_profile_field(key, value).map_err(|m| invalid(format!("`{key}`: {m}")))?;
        }
        let slot = match key.split_once('.') {
            Some((group @ ("address" | "attributes"), field)) if !field.is_empty() => {
                let obj = doc
                    .as_object_mut()
                    .map(|o| o.entry(group).or_insert_with(|| serde_json::json!({})))
                    .and_then(|g| g.as_object_mut())
                    .ok_or_else(|| invalid(format!("`{key}` cannot be set")))?;
                (obj, field.to_string())
            }
            None => (
                doc.as_object_mut().ok_or_else(|| invalid("profile"))?,
                key.to_string(),
            ),
            _ => return Err(invalid(format!("`{key}` is not a profile field"))),
        };
        let (obj, field) = slot;
        if value.is_empty() {
            obj.remove(&field);
        } else if field == "phone_number_verified" {
            let flag: bool = value
                .parse()
                .map_err(|_| invalid("phone_number_verified is true or false"))?;
            obj.insert(field, serde_json::json!(flag));
        } else {
            obj.insert(field, serde_json::json!(value));
        }
    }
    let mut profile: crate::store::Profile =
        serde_json::from_value(doc).map_err(|e| invalid(format!("the profile is not valid: {e}")))?;
    if profile.address == Some(Default::default()) {
        profile.address = None;
    }
    Ok((name, profile))
}

/// Whether `value` (not empty) is acceptable for the profile field `key`, in the formats of OIDC Core
/// §5.1; the refusal is a sentence fit to show next to the field.
pub fn check_profile_field(key: &str, value: &str) -> Result<(), String> {
    let all = |s: &str, ok: fn(char) -> bool| !s.is_empty() && s.chars().all(ok);
    match key {
        // "represented as YYYY-MM-DD ... the year MAY be 0000"; "a year only ... YYYY".
        "birthdate" => {
            let date = value.len() == 10
                && time::Date::parse(value, time::macros::format_description!("[year]-[month]-[day]"))
                    .is_ok();
            let year = value.len() == 4 && all(value, |c| c.is_ascii_digit());
            (date || year).then_some(()).ok_or_else(|| {
                "Enter a real date as YYYY-MM-DD (for example 1990-07-21), or just the year.".into()
            })
        }
        // E.164: "+", a country code that never starts with 0, at most 15 digits in all.
        "phone_number" => {
            let digits = value.strip_prefix('+').unwrap_or_default();
            let ok = (6..=15).contains(&digits.len())
                && all(digits, |c| c.is_ascii_digit())
                && !digits.starts_with('0');
            ok.then_some(())
                .ok_or_else(|| "Enter the number in international format, for example +14155550100.".into())
        }
        // Shown to apps and people as links: https only, so never `javascript:` or `data:`.
        "website" | "picture" => match url::Url::parse(value) {
            Ok(u)
                if u.scheme() == "https"
                    && u.host_str().is_some()
                    && u.username().is_empty()
                    && u.password().is_none() =>
            {
                Ok(())
            }
            _ => Err("Enter a web address that starts with https://, such as https://example.com".into()),
        },
        // BCP 47 language tag: "en", "en-GB", "zh-Hant-TW".
        "locale" => {
            let mut parts = value.split('-');
            let lang = parts.next().unwrap_or_default();
            let ok = (2..=3).contains(&lang.len())
                && all(lang, |c| c.is_ascii_alphabetic())
                && parts.all(|p| (1..=8).contains(&p.len()) && all(p, |c| c.is_ascii_alphanumeric()));
            ok.then_some(())
                .ok_or_else(|| "Enter a language tag such as en or en-GB.".into())
        }
        // A tz database name: "Europe/Paris", "America/Argentina/Buenos_Aires", "UTC".
        "zoneinfo" => {
            let ok = value.len() <= 64
                && value
                    .split('/')
                    .all(|p| all(p, |c| c.is_ascii_alphanumeric() || "_+-".contains(c)))
                && value.starts_with(|c: char| c.is_ascii_alphabetic());
            ok.then_some(())
                .ok_or_else(|| "Enter a time zone such as Europe/Paris or America/New_York.".into())
        }
        _ => Ok(()),
    }
}

/// ISO 3166-1 alpha-2 country codes (officially assigned).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ \
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER \
    ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM \
    IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF \
    MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK \
    PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD \
    TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// A declared region as stored (`protocol::jurisdiction::normalise`: upper-cased, an ISO 3166-1 alpha-2
/// country such as `DE`, an ISO 3166-2 subdivision such as `US-CA`, or `EU`/`EEA`), whose country is
/// one that exists. The refusal is a sentence fit to show next to the field.
pub fn normalise_region(raw: &str) -> Result<String, String> {
    let known = |region: &str| {
        let country = region.split('-').next().unwrap_or_default();
        ["EU", "EEA", "EL", "UK"].contains(&country) || COUNTRIES.split_whitespace().any(|c| c == country)
    };
    crate::protocol::jurisdiction::normalise(raw)
        .filter(|r| known(r))
        .ok_or_else(|| "Enter a country code such as DE or FR, a subdivision such as US-CA, or EU.".into())
}
