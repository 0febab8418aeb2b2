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
    pub csrf: String,
    pub email: String,
    pub identities: Vec<crate::flows::account::LinkedIdentity>,
    pub linkable: Vec<(String, String)>,
    pub can_unlink: bool,
    pub notice: Option<String>,
    /// (organization name, roles)
    pub organizations: Vec<(String, Vec<String>)>,
}

#[derive(Template)]
#[template(path = "account_login.html")]
pub struct AccountLoginPage {
    pub csrf: String,
    pub upstreams: Vec<(String, String)>,
    pub error: Option<String>,
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
