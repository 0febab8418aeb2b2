//! GET/POST /account/profile.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::errors::PageError;
use super::super::extract::{params, see_other};
use super::super::pages::{FieldGroup, FormField, PortalChrome, PortalProfilePage, ok, problems, render};
use super::{page, submit};
use crate::flows::portal::profile::{self, Errors, FIELDS, Saved, Values};
use crate::store::User;

/// (field, label, input type, autocomplete, hint, group).
type Meta = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const META: &[Meta] = &[
    ("name", "Full name", "text", "name", "", "Name"),
    ("given_name", "Given name", "text", "given-name", "", "Name"),
    (
        "middle_name",
        "Middle name",
        "text",
        "additional-name",
        "",
        "Name",
    ),
    ("family_name", "Family name", "text", "family-name", "", "Name"),
    ("nickname", "Nickname", "text", "nickname", "", "Name"),
    (
        "preferred_username",
        "Username",
        "text",
        "username",
        "The name apps may show for you.",
        "Name",
    ),
    (
        "birthdate",
        "Date of birth",
        "text",
        "bday",
        "As YYYY-MM-DD, for example 1990-07-21, or just the year.",
        "About you",
    ),
    ("gender", "Gender", "text", "sex", "", "About you"),
    (
        "website",
        "Website",
        "url",
        "url",
        "Starts with https://",
        "About you",
    ),
    (
        "picture",
        "Picture",
        "url",
        "photo",
        "The https:// address of a picture of you.",
        "About you",
    ),
    (
        "locale",
        "Language",
        "text",
        "language",
        "A language tag, for example en or en-GB.",
        "About you",
    ),
    (
        "zoneinfo",
        "Time zone",
        "text",
        "",
        "For example Europe/Paris or America/New_York.",
        "About you",
    ),
    (
        "phone_number",
        "Phone number",
        "tel",
        "tel",
        "In international format, for example +14155550100.",
        "Contact",
    ),
    (
        "address.street_address",
        "Street address",
        "text",
        "street-address",
        "",
        "Address",
    ),
    (
        "address.locality",
        "Town or city",
        "text",
        "address-level2",
        "",
        "Address",
    ),
    (
        "address.region",
        "State, county or province",
        "text",
        "address-level1",
        "",
        "Address",
    ),
    (
        "address.postal_code",
        "Postal code",
        "text",
        "postal-code",
        "",
        "Address",
    ),
    (
        "address.country",
        "Country",
        "text",
        "country-name",
        "",
        "Address",
    ),
    (
        "region",
        "Region for privacy rules",
        "text",
        "",
        "Where you live: a country code such as DE, a subdivision such as US-CA, or EU. It decides how we ask for your consent.",
        "Privacy",
    ),
];

const GROUPS: &[&str] = &["Name", "About you", "Contact", "Address", "Privacy"];

fn form_page(
    user: &User,
    csrf: String,
    values: &Values,
    errors: &Errors,
    notice: Option<String>,
) -> PortalProfilePage {
    let groups: Vec<FieldGroup> = GROUPS
        .iter()
        .map(|&legend| FieldGroup {
            legend,
            fields: META
                .iter()
                .filter(|m| m.5 == legend)
                .map(|&(name, label, input_type, autocomplete, hint, _)| FormField {
                    name: name.to_string(),
                    id: name.replace(['.', '_'], "-"),
                    label,
                    value: values.get(name).cloned().unwrap_or_default(),
                    input_type,
                    autocomplete,
                    hint,
                    error: errors.get(name).cloned(),
                })
                .collect(),
        })
        .collect();
    let all: Vec<&FormField> = groups.iter().flat_map(|g| g.fields.iter()).collect();
    let mut problems = problems(&all);
    if let Some(other) = errors.get("form") {
        problems.push(("profile-form".into(), other.clone()));
    }
    PortalProfilePage {
        chrome: PortalChrome::new(user, "profile"),
        csrf,
        notice,
        problems,
        groups,
        email_verified: user.email_verified,
    }
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let notice = params(&req, &[])?
        .has("saved")
        .then(|| "Your profile has been saved.".to_string());
    page(
        &state,
        &req,
        "/account/profile",
        |_, _, s| Ok(s.user),
        move |user, csrf| {
            ok(&form_page(
                &user,
                csrf,
                &profile::values_of(&user),
                &Errors::new(),
                notice,
            ))
        },
    )
    .await
}

pub async fn save(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let done = submit(&state, &req, &body, "/account/profile", |p, s, sub| {
        let form: Values = FIELDS
            .iter()
            .filter_map(|&f| sub.params.get(f).map(|v| (f.to_string(), v.to_string())))
            .collect();
        Ok((profile::save(p, &s, &form, &sub.origin)?, s.user))
    })
    .await?;
    Ok(match done {
        Err(signed_out) => signed_out,
        Ok(((Saved::Saved, _), _)) => see_other("/account/profile?saved=1").finish(),
        Ok(((Saved::Invalid { values, errors }, user), cookies)) => {
            let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
            // 422: the form was understood, some values were not acceptable.
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&user, csrf, &values, &errors, None),
            )
        }
    })
}
