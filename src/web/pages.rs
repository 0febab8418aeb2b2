//! The HTML pages (askama templates in `templates/`, auto-escaped) and their security headers.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use askama::Template;

/// No inline script or style, no framing, no referrer (DESIGN §4.10). `form-action` is left open on
/// purpose: after the login and consent forms the browser follows a 303 to the client, which
/// browsers check against `form-action`.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub req: String,
    pub csrf: String,
    pub client_name: String,
    pub login_hint: String,
    pub error: Option<String>,
    /// Upstream sign-in buttons: (connection id, display name).
    pub upstreams: Vec<(String, String)>,
    /// Ask for the email first (some connection claims email domains), then the password.
    pub identifier_first: bool,
    /// The client offers light sign-up (`prompt=create`): link to it.
    pub sign_up: bool,
    /// The passkey ceremony (`web::passkeys::login_fields`): options JSON and sealed state; both empty
    /// when passkeys are not available.
    pub passkey_options: String,
    pub passkey_state: String,
}

#[derive(Template)]
#[template(path = "organization.html")]
pub struct OrganizationPage {
    pub req: String,
    pub csrf: String,
    pub client_name: String,
    /// (organization id, name)
    pub organizations: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "invitation.html")]
pub struct InvitationPage {
    pub token: String,
    pub csrf: String,
    pub organization: String,
    pub email: String,
    pub roles: Vec<String>,
    pub signed_in_as: Option<String>,
}

#[derive(Template)]
#[template(path = "link.html")]
pub struct LinkPage {
    pub proof: String,
    pub csrf: String,
    pub provider: String,
    pub masked_email: String,
    pub has_password: bool,
    pub linked: Vec<(String, String)>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub chrome: PortalChrome,
    pub csrf: String,
    pub identities: Vec<crate::flows::account::LinkedIdentity>,
    pub linkable: Vec<(String, String)>,
    pub can_unlink: bool,
    pub notice: Option<String>,
    /// (organization name, roles)
    pub organizations: Vec<(String, Vec<String>)>,
    /// A light account (no password, passkey or linked provider yet).
    pub light: bool,
    pub has_password: bool,
    /// This session's sign-in cancelled a scheduled deletion.
    pub restored: bool,
}

#[derive(Template)]
#[template(path = "account_login.html")]
pub struct AccountLoginPage {
    pub csrf: String,
    pub upstreams: Vec<(String, String)>,
    pub error: Option<String>,
    /// The portal page to come back to after signing in (checked by `flows::portal::is_safe_return_to`).
    pub return_to: Option<String>,
    /// As on `LoginPage`: the passkey ceremony, empty when passkeys are not available.
    pub passkey_options: String,
    pub passkey_state: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    pub req: String,
    pub csrf: String,
    pub client_name: String,
    pub user_email: String,
    pub scopes: Vec<ScopeLine>,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage {
    pub csrf: String,
    pub client_name: Option<String>,
    pub client_id: String,
    pub post_logout_redirect_uri: String,
    pub state: String,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage;

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub request_id: String,
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// Renders a page with the security headers. Pages are never cached: they carry CSRF tokens.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .insert_header((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
            .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            HttpResponse::InternalServerError().body("internal error")
        }
    }
}

pub fn ok(page: &impl Template) -> HttpResponse {
    render(StatusCode::OK, page)
}

/// One document with its box on the consent documents page.
pub struct DocumentLine {
    /// The form field (`accept.<id>`); its value is the version shown.
    pub field: String,
    pub version: i64,
    pub title: String,
    pub summary: String,
    pub url: String,
    /// The person accepted an older version that no longer counts.
    pub outdated: bool,
    /// Submitted without this required box ticked.
    pub missing: bool,
    pub ticked: bool,
}

#[derive(Template)]
#[template(path = "consent_documents.html")]
pub struct ConsentDocumentsPage {
    pub req: String,
    pub csrf: String,
    pub client_name: String,
    pub user_email: String,
    pub required: Vec<DocumentLine>,
    pub optional: Vec<DocumentLine>,
    /// The region's rules show marketing ticked with an opt-out notice.
    pub opt_out_notice: bool,
    pub error: Option<String>,
}

/// One document on the account's consents page, ready to show.
pub struct AccountConsentLine {
    pub id: String,
    pub title: String,
    pub url: String,
    pub newest_version: i64,
    /// A sentence: "You accepted version 3 on 29 November 2026."
    pub status: String,
    /// A short badge: "Accepted", "Update needed", "Not accepted", "Withdrawn".
    pub status_label: &'static str,
    /// For the badge's class: `accepted`, `outdated`, `none`, `withdrawn`.
    pub status_kind: &'static str,
    pub can_accept: bool,
    pub can_withdraw: bool,
    pub marketing: bool,
}

#[derive(Template)]
#[template(path = "account_consents.html")]
pub struct AccountConsentsPage {
    pub chrome: PortalChrome,
    pub csrf: String,
    pub lines: Vec<AccountConsentLine>,
    pub notice: Option<String>,
    /// Which region's rules apply, in words.
    pub region_note: String,
}

// ---- The account portal (`/account/…`).

/// What every portal page shows around its content: who is signed in, and which page of the
/// navigation (`portal_nav.html`) is current.
pub struct PortalChrome {
    /// The person's name, or their email when they gave none.
    pub name: String,
    pub email: String,
    /// `overview`, `profile`, `password`, `preferences`, `consents`, `sessions` or `data`.
    pub current: &'static str,
}

impl PortalChrome {
    pub fn new(user: &crate::store::User, current: &'static str) -> Self {
        let given = [&user.profile.given_name, &user.profile.family_name]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let name = user
            .name
            .clone()
            .or_else(|| (!given.is_empty()).then_some(given))
            .unwrap_or_else(|| user.email.clone());
        Self {
            name,
            email: user.email.clone(),
            current,
        }
    }
}

/// One input of a portal form with its label, hint and error (`portal_field.html`).
pub struct FormField {
    /// The form name (`address.locality`).
    pub name: String,
    /// The element id (`address-locality`), also the target of the error summary's link.
    pub id: String,
    pub label: &'static str,
    pub value: String,
    pub input_type: &'static str,
    pub autocomplete: &'static str,
    pub hint: &'static str,
    pub error: Option<String>,
}

impl FormField {
    /// The ids of the hint and the error, for `aria-describedby`.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.hint.is_empty() {
            ids.push(format!("{}-hint", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }
}

/// A group of fields under a legend.
pub struct FieldGroup {
    pub legend: &'static str,
    pub fields: Vec<FormField>,
}

/// (element id, message) of every bad field, for the error summary at the top of a form.
pub fn problems(fields: &[&FormField]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|f| {
            f.error
                .clone()
                .map(|e| (f.id.clone(), format!("{}: {e}", f.label)))
        })
        .collect()
}

#[derive(Template)]
#[template(path = "portal_profile.html")]
pub struct PortalProfilePage {
    pub chrome: PortalChrome,
    pub csrf: String,
    pub notice: Option<String>,
    pub problems: Vec<(String, String)>,
    pub groups: Vec<FieldGroup>,
    pub email_verified: bool,
}

#[derive(Template)]
#[template(path = "portal_password.html")]
pub struct PortalPasswordPage {
    pub chrome: PortalChrome,
    pub csrf: String,
    pub notice: Option<String>,
    pub problems: Vec<(String, String)>,
    pub has_password: bool,
    /// A first password needs a recent sign-in: show "Sign in again" instead of the form.
    pub needs_recent_sign_in: bool,
    pub fields: Vec<FormField>,
    pub sign_out_others: bool,
}

/// One session line, ready to show.
pub struct SessionItem {
    pub reference: String,
    pub methods: String,
    pub signed_in: String,
    pub expires: String,
    pub is_current: bool,
    /// "Firefox on Linux", or "Unknown device".
    pub device: String,
    /// "Kept signed in" was chosen.
    pub persistent: bool,
    pub last_active: String,
}

#[derive(Template)]
#[template(path = "portal_sessions.html")]
pub struct PortalSessionsPage {
    pub chrome: PortalChrome,
    pub csrf: String,
    pub notice: Option<String>,
    pub sessions: Vec<SessionItem>,
}

/// One checkbox of the preferences table.
pub struct PreferenceCell {
    pub id: String,
    pub name: String,
    pub label: String,
    pub checked: bool,
}

/// One row of the preferences table: a topic, and a cell per column (`None`: not offered there).
pub struct PreferenceRow {
    pub name: String,
    pub description: String,
    pub cells: Vec<Option<PreferenceCell>>,
}

#[derive(Template)]
#[template(path = "portal_preferences.html")]
pub struct PortalPreferencesPage {
    pub chrome: PortalChrome,
    pub csrf: String,
    pub notice: Option<String>,
    /// The columns: (channel, label).
    pub channels: Vec<(String, String)>,
    pub topics: Vec<PreferenceRow>,
}

#[derive(Template)]
#[template(path = "portal_data.html")]
pub struct PortalDataPage {
    pub chrome: PortalChrome,
    pub notice: Option<String>,
    pub grace_days: u64,
}

#[derive(Template)]
#[template(path = "portal_delete.html")]
pub struct PortalDeletePage {
    pub chrome: PortalChrome,
    pub csrf: String,
    pub notice: Option<String>,
    pub problems: Vec<(String, String)>,
    pub needs_recent_sign_in: bool,
    pub fields: Vec<FormField>,
    pub grace_days: u64,
}

#[derive(Template)]
#[template(path = "portal_deleted.html")]
pub struct PortalDeletedPage {
    /// When the account will be erased, in words.
    pub date: String,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
pub struct UnsubscribePage {
    pub token: String,
    pub topic: String,
    pub channel: String,
    pub masked_email: String,
    pub subscribed: bool,
    /// Just unsubscribed by this visit.
    pub done: bool,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignUpPage {
    pub req: String,
    pub csrf: String,
    pub client_name: String,
    pub name: String,
    pub email: String,
    pub name_error: Option<String>,
    pub email_error: Option<String>,
}

#[derive(Template)]
#[template(path = "email_code.html")]
pub struct EmailCodePage {
    pub csrf: String,
    pub challenge: String,
    pub masked_email: String,
    /// Filled in when the person followed the link in the mail.
    pub code: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "email_code_request.html")]
pub struct EmailCodeRequestPage {
    pub csrf: String,
    pub req: Option<String>,
    /// A page of ours to open after signing in (checked by `portal::is_safe_return_to`).
    pub return_to: Option<String>,
    pub email: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "profile_complete.html")]
pub struct ProfileCompletePage {
    pub req: String,
    pub csrf: String,
    pub client_name: String,
    pub inputs: Vec<crate::flows::profiling::Input>,
    pub has_errors: bool,
}

/// One passkey on the portal's passkeys page.
pub struct PasskeyItem {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: Option<String>,
    /// Backup eligible: synced between the person's devices (`swk`), else bound to one device (`hwk`).
    pub synced: bool,
    /// Refused at sign-in since its counter went backwards (a suspected copy).
    pub flagged: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_passkeys.html")]
pub struct PortalPasskeysPage {
    pub chrome: PortalChrome,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub passkeys: Vec<PasskeyItem>,
    /// The registration ceremony (options JSON, sealed state) when a passkey may be added now.
    pub registration: Option<(String, String)>,
    /// Adding or removing needs a fresh sign-in first.
    pub needs_recent_sign_in: bool,
    /// Passkeys are configured on this server.
    pub available: bool,
}

/// The second-factor page (issue 8). `req` or `return_to` says where it continues.
#[derive(Template)]
#[template(path = "mfa.html")]
pub struct SecondFactorPage {
    pub csrf: String,
    pub req: Option<String>,
    pub return_to: Option<String>,
    pub client_name: Option<String>,
    pub error: Option<String>,
    pub totp: bool,
    pub recovery_code: bool,
    /// A passkey assertion: (options JSON, sealed state).
    pub passkey: Option<(String, String)>,
    pub enrol_totp: bool,
    /// A passkey registration: (options JSON, sealed state).
    pub enrol_passkey: Option<(String, String)>,
    pub passkey_required: bool,
}

/// Authenticator-app enrolment: the QR code (inline SVG, rendered by us) and the key to type.
#[derive(Template)]
#[template(path = "totp_setup.html")]
pub struct TotpSetupPage {
    pub csrf: String,
    pub req: Option<String>,
    pub return_to: Option<String>,
    /// Where the confirmation form posts.
    pub action: &'static str,
    pub enrolment: String,
    pub qr_svg: String,
    pub secret: String,
    pub error: Option<String>,
}

/// New recovery codes, shown once.
#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub csrf: String,
    pub req: Option<String>,
    pub return_to: Option<String>,
    pub codes: Vec<String>,
    pub continue_to: String,
    /// The continue form is a POST (with CSRF) rather than a link.
    pub continue_post: bool,
}

/// The account's two-step verification page (`/account/security`).
#[derive(Template)]
#[template(path = "portal_security.html")]
pub struct PortalSecurityPage {
    pub chrome: PortalChrome,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_codes: usize,
    pub recent: bool,
    pub may_remove: bool,
}
