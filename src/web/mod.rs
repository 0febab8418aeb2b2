//! HTTP: one route table (`configure`), thin handlers (extract → one flow → response), all error
//! mapping in `errors`, pages in `pages`.

mod account;
mod admin;
mod assets;
mod authorize;
mod consent;
mod consents;
mod cors;
mod discovery;
mod email_code;
pub mod errors;
mod extract;
mod federation;
mod health;
mod login;
mod logout;
mod mfa;
mod observe;
mod organization;
pub mod pages;
mod passkeys;
mod portal;
mod profiling;
mod qr;
mod session_refresh;
mod token;
mod userinfo;

use actix_web::middleware::DefaultHeaders;
use actix_web::middleware::from_fn;
use actix_web::web::{self, ServiceConfig};

use crate::client_ip::Cidr;
use crate::crypto::sha256_b64;
use crate::flows::Provider;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;

/// What every handler shares.
pub struct AppState {
    pub provider: Provider,
    pub limiter: RateLimiter,
    pub trusted_proxies: Vec<Cidr>,
    /// The discovery document, serialised once.
    pub discovery: String,
    pub discovery_etag: String,
    /// The issuer is https: cookies are `Secure` and `__Host-` prefixed.
    pub secure_cookies: bool,
    /// Prometheus metrics, served at `/metrics`.
    pub metrics: Metrics,
}

impl AppState {
    /// Builds the shared state; fails only on settings that `Settings::load` already validated.
    pub fn new(provider: Provider) -> Result<Self, String> {
        let discovery =
            crate::protocol::discovery::metadata(provider.issuer(), &provider.settings.scopes).to_string();
        let settings = &provider.settings;
        let trusted_proxies = settings
            .server
            .trusted_proxies
            .iter()
            .map(|p| p.parse::<Cidr>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            limiter: RateLimiter::new(&settings.rate_limits)?,
            trusted_proxies,
            discovery_etag: sha256_b64(&discovery)[..16].to_string(),
            discovery,
            secure_cookies: provider.issuer().starts_with("https://"),
            metrics: Metrics::new(),
            provider,
        })
    }
}

/// Every route of the gateway.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery::openid_configuration),
    )
    .route("/jwks.json", web::get().to(discovery::jwks))
    .service(
        web::resource("/authorize")
            .get(authorize::authorize)
            .post(authorize::authorize),
    )
    .service(
        web::resource("/login")
            .get(login::show_login)
            .post(login::submit_login),
    )
    .route("/login/identify", web::post().to(login::identify))
    .route("/login/mfa", web::get().to(mfa::show))
    .route("/login/mfa", web::post().to(mfa::submit))
    .route("/login/mfa/passkey", web::post().to(mfa::passkey))
    .route(
        "/login/mfa/passkey/register",
        web::post().to(mfa::register_passkey),
    )
    .route("/login/mfa/totp/start", web::post().to(mfa::start_totp))
    .route("/login/mfa/totp", web::post().to(mfa::confirm_totp))
    .route("/login/mfa/continue", web::get().to(mfa::resume))
    .route("/login/mfa/continue", web::post().to(mfa::resume))
    .service(
        web::resource("/signup")
            .get(email_code::show_sign_up)
            .post(email_code::submit_sign_up),
    )
    .service(
        web::resource("/login/code/request")
            .get(email_code::show_request)
            .post(email_code::request_code),
    )
    .service(
        web::resource("/login/code")
            .get(email_code::show_code)
            .post(email_code::submit_code),
    )
    .service(
        web::resource("/profile/complete")
            .get(profiling::show)
            .post(profiling::submit),
    )
    .route("/login/passkey", web::post().to(passkeys::sign_in))
    .route("/login/upstream", web::post().to(login::upstream))
    .service(
        web::resource("/login/link")
            .get(federation::show_link)
            .post(federation::submit_link),
    )
    .route("/login/link/upstream", web::post().to(federation::link_upstream))
    .service(
        web::resource("/upstream/{connection}/callback")
            .get(federation::callback)
            .post(federation::callback),
    )
    .route("/account", web::get().to(account::show))
    .route("/account/login", web::post().to(account::sign_in))
    .route(
        "/account/login/passkey",
        web::post().to(passkeys::account_sign_in),
    )
    .route("/account/upstream", web::post().to(account::upstream))
    .route("/account/unlink", web::post().to(account::unlink))
    .route("/account/reauth", web::get().to(account::reauth))
    .route("/account/security", web::get().to(portal::security::show))
    .route(
        "/account/security/totp/start",
        web::post().to(portal::security::start_totp),
    )
    .route(
        "/account/security/totp",
        web::post().to(portal::security::confirm_totp),
    )
    .route(
        "/account/security/totp/remove",
        web::post().to(portal::security::remove_totp),
    )
    .route(
        "/account/security/recovery-codes",
        web::post().to(portal::security::recovery_codes),
    )
    .service(
        web::resource("/account/profile")
            .get(portal::profile::show)
            .post(portal::profile::save),
    )
    .service(
        web::resource("/account/password")
            .get(portal::password::show)
            .post(portal::password::save),
    )
    .service(
        web::resource("/account/preferences")
            .get(portal::preferences::show)
            .post(portal::preferences::save),
    )
    .service(
        web::resource("/account/passkeys")
            .get(portal::passkeys::show)
            .post(portal::passkeys::add),
    )
    .route(
        "/account/passkeys/rename",
        web::post().to(portal::passkeys::rename),
    )
    .route(
        "/account/passkeys/remove",
        web::post().to(portal::passkeys::remove),
    )
    .route("/account/sessions", web::get().to(portal::sessions::show))
    .route("/account/sessions/end", web::post().to(portal::sessions::end))
    .route(
        "/account/sessions/end-others",
        web::post().to(portal::sessions::end_others),
    )
    .route("/account/data", web::get().to(portal::data::show))
    .route("/account/export", web::get().to(portal::data::export))
    .service(
        web::resource("/account/delete")
            .get(portal::delete::show)
            .post(portal::delete::request),
    )
    .route(
        "/account/delete/scheduled",
        web::get().to(portal::delete::scheduled),
    )
    .service(
        web::resource("/unsubscribe")
            .get(portal::unsubscribe::show)
            .post(portal::unsubscribe::submit),
    )
    .service(
        web::resource("/organization")
            .get(organization::show)
            .post(organization::choose),
    )
    .service(
        web::resource("/invitations/{token}")
            .get(organization::show_invitation)
            .post(organization::accept_invitation),
    )
    .route(
        "/invitations/{token}/code",
        web::post().to(organization::invitation_code),
    )
    .service(
        web::resource("/consent")
            .get(consent::show_consent)
            .post(consent::submit_consent),
    )
    .service(
        web::resource("/consent/documents")
            .get(consents::show_documents)
            .post(consents::submit_documents),
    )
    .route("/account/consents", web::get().to(consents::show_portal))
    .route(
        "/account/consents/accept",
        web::post().to(consents::accept_in_portal),
    )
    .route(
        "/account/consents/withdraw",
        web::post().to(consents::withdraw_in_portal),
    )
    .service(
        web::resource("/token")
            .wrap(from_fn(cors::cors))
            .post(token::issue_token),
    )
    .service(web::resource("/introspect").post(token::introspect_token))
    .service(
        web::resource("/revoke")
            .wrap(from_fn(cors::cors))
            .post(token::revoke_token),
    )
    .service(
        web::resource("/userinfo")
            .wrap(from_fn(cors::cors))
            .get(userinfo::userinfo)
            .post(userinfo::userinfo),
    )
    .service(
        web::resource("/end_session")
            .get(logout::end_session)
            .post(logout::end_session),
    )
    .configure(admin::configure)
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/metrics", web::get().to(health::metrics))
    .route("/static/gatehouse.css", web::get().to(assets::stylesheet))
    .route("/static/form_post.js", web::get().to(assets::form_post_script))
    .route("/static/passkeys.js", web::get().to(assets::passkeys_script));
}

/// HSTS (RFC 6797) for an https issuer: browsers use only https for the next year, subdomains included.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Headers every response carries; `hsts` (the issuer is https) adds `Strict-Transport-Security`.
pub fn default_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"));
    if hsts {
        headers.add(("Strict-Transport-Security", HSTS))
    } else {
        headers
    }
}

/// The app with its middleware: default headers, and around every request its id, one structured log
/// line and the request metrics (`observe`).
pub fn app(
    state: web::Data<AppState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let hsts = state.secure_cookies;
    actix_web::App::new()
        .app_data(state)
        .app_data(web::PayloadConfig::new(256 * 1024))
        .configure(configure)
        // Innermost: browser requests with a session cookie (idle timeout, activity, rotation).
        .wrap(from_fn(session_refresh::refresh))
        .wrap(default_headers(hsts))
        .wrap_fn(observe::observe)
}
