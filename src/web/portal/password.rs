//! GET/POST /account/password.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::errors::PageError;
use super::super::extract::{params, see_other};
use super::super::pages::{FormField, PortalChrome, PortalPasswordPage, ok, problems, render};
use super::{page, submit};
use crate::flows::portal::password::{self, PasswordForm, PasswordOutcome};
use crate::flows::portal::profile::Errors;
use crate::flows::portal::{self as portal_flows};
use crate::rate_limit::LimitedAction;
use crate::store::User;

fn password_page(
    user: &User,
    csrf: String,
    recent: bool,
    errors: &Errors,
    sign_out_others: bool,
    notice: Option<String>,
) -> PortalPasswordPage {
    let has_password = user.password_hash.is_some();
    let field = |name: &str, label, autocomplete, hint| FormField {
        name: name.to_string(),
        id: name.replace('_', "-"),
        label,
        // Passwords are never sent back to the browser.
        value: String::new(),
        input_type: "password",
        autocomplete,
        hint,
        error: errors.get(name).cloned(),
    };
    let mut fields = Vec::new();
    if has_password {
        fields.push(field(
            "current_password",
            "Current password",
            "current-password",
            "",
        ));
    }
    fields.push(field(
        "new_password",
        "New password",
        "new-password",
        "At least 8 characters.",
    ));
    fields.push(field(
        "confirm_password",
        "Type the new password again",
        "new-password",
        "",
    ));
    PortalPasswordPage {
        chrome: PortalChrome::new(user, "password"),
        csrf,
        notice,
        problems: problems(&fields.iter().collect::<Vec<_>>()),
        has_password,
        needs_recent_sign_in: !has_password && !recent,
        fields,
        sign_out_others,
    }
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let notice = params(&req, &[])?.get("changed").map(|what| match what {
        "first" => "Your password has been set. You can now also sign in with it.".to_string(),
        _ => "Your password has been changed.".to_string(),
    });
    page(
        &state,
        &req,
        "/account/password",
        |p, _, s| Ok((portal_flows::is_recent(p, &s), s.user)),
        move |(recent, user), csrf| ok(&password_page(&user, csrf, recent, &Errors::new(), true, notice)),
    )
    .await
}

pub async fn save(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    // Each attempt may check the current password: limited like sign-in.
    state.limit_per_ip(&req, LimitedAction::SignInPerIp)?;
    let done = submit(&state, &req, &body, "/account/password", |p, s, sub| {
        let text = |name: &str| sub.params.get(name).unwrap_or_default().to_string();
        let sign_out_others = sub.params.has("sign_out_others");
        let form = PasswordForm {
            current: text("current_password"),
            new: text("new_password"),
            confirm: text("confirm_password"),
            sign_out_others,
        };
        let recent = portal_flows::is_recent(p, &s);
        let outcome = password::change(p, &s, form, &sub.origin)?;
        Ok((outcome, s.user, recent, sign_out_others))
    })
    .await?;
    let ((outcome, user, recent, sign_out_others), cookies) = match done {
        Ok(done) => done,
        Err(signed_out) => return Ok(signed_out),
    };
    let csrf = state.provider.sealer.csrf_token(&cookies.browser.binding_id);
    Ok(match outcome {
        PasswordOutcome::Changed { first: true, .. } => see_other("/account/password?changed=first").finish(),
        PasswordOutcome::Changed { .. } => see_other("/account/password?changed=1").finish(),
        PasswordOutcome::NeedsRecentSignIn => render(
            StatusCode::FORBIDDEN,
            &password_page(&user, csrf, false, &Errors::new(), sign_out_others, None),
        ),
        PasswordOutcome::Invalid(errors) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &password_page(&user, csrf, recent, &errors, sign_out_others, None),
        ),
    })
}
