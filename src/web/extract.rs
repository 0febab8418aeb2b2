//! Reading requests: protocol parameters (strictly), the browser's cookies, and running a flow on the
//! blocking pool.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder, web};

use super::AppState;
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::random_token;
use crate::flows::FlowError;
use crate::flows::browser::Browser;
use crate::protocol::OAuthError;
use crate::protocol::params::{ParamError, Params};
use crate::rate_limit::LimitedAction;
use crate::store::StoreError;

/// Parameters from the query string (GET) or the form body (POST).
pub fn params(req: &HttpRequest, body: &[u8]) -> Result<Params, ParamError> {
    if req.method() == actix_web::http::Method::POST {
        Params::parse(body)
    } else {
        Params::parse(req.query_string().as_bytes())
    }
}

/// A POST body must be a form (RFC 6749 §3.2); anything else is `invalid_request`.
pub fn require_form(req: &HttpRequest) -> Result<(), FlowError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if is_form {
        Ok(())
    } else {
        Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded").into())
    }
}

pub fn authorization_header(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Runs a flow on the blocking pool, inside the request's span (so its log lines carry the request id).
pub async fn blocking<T, F>(f: F) -> Result<T, FlowError>
where
    F: FnOnce() -> Result<T, FlowError> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    web::block(move || span.in_scope(f))
        .await
        .map_err(|_| FlowError::Store(StoreError::Database("a worker task failed".into())))?
}

/// The browser's cookies. A browser seen for the first time gets a new binding id, set on the response.
pub struct BrowserCookies {
    pub browser: Browser,
    pub new_binding: bool,
}

impl BrowserCookies {
    pub fn read(req: &HttpRequest, state: &AppState) -> Self {
        let existing = req
            .cookie(&state.cookie_name("browser"))
            .map(|c| c.value().to_string())
            .filter(|v| v.len() >= 32);
        let new_binding = existing.is_none();
        // A value rotated for this very request (see `session_refresh`) replaces the one it carried.
        let rotated = req
            .extensions()
            .get::<super::session_refresh::RotatedSession>()
            .map(|r| r.0.clone());
        let session_id = rotated.or_else(|| {
            req.cookie(&state.cookie_name("session"))
                .map(|c| c.value().to_string())
                .filter(|v| !v.is_empty())
        });
        Self {
            browser: Browser {
                binding_id: existing.unwrap_or_else(random_token),
                session_id,
                user_agent: req
                    .headers()
                    .get(actix_web::http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
            },
            new_binding,
        }
    }

    /// Adds the binding cookie to a response if the browser did not have one.
    pub fn apply(&self, state: &AppState, response: &mut HttpResponseBuilder) {
        if self.new_binding {
            response.cookie(state.cookie("browser", self.browser.binding_id.clone(), None));
        }
    }
}

impl AppState {
    /// The client's address: the TCP peer, or behind a trusted proxy the rightmost untrusted
    /// `X-Forwarded-For` hop (DESIGN §4.12).
    pub fn client_ip(&self, req: &HttpRequest) -> std::net::IpAddr {
        let peer = req
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        crate::client_ip::client_ip(peer, &forwarded, &self.trusted_proxies)
    }

    /// Takes one cell of `action` for `key`; a refusal is counted in the metrics and audited
    /// (without waiting).
    pub fn limit(&self, req: &HttpRequest, action: LimitedAction, key: &str) -> Result<(), FlowError> {
        self.limiter.check(action, key).map_err(|limited| {
            self.metrics.rate_limited(action.name());
            // The key itself (an email, a client id) stays out of the record; the IP is in it.
            let event = AuditEvent::new(kind::RATE_LIMITED, Outcome::Failure, crate::flows::now())
                .origin(&self.origin(req))
                .detail(serde_json::json!({ "action": action.name(), "retry_after": limited.retry_after }));
            self.provider.auditor.record_detached(event);
            limited.into()
        })
    }

    /// `limit` keyed by the client's (trusted) IP address.
    pub fn limit_per_ip(&self, req: &HttpRequest, action: LimitedAction) -> Result<(), FlowError> {
        self.limit(req, action, &self.client_ip(req).to_string())
    }

    /// Every state-changing form carries the CSRF token bound to this browser (DESIGN §4.9).
    pub fn require_csrf(&self, browser: &Browser, params: &Params) -> Result<(), FlowError> {
        let valid = params
            .get("csrf")
            .is_some_and(|t| self.provider.sealer.is_valid_csrf(&browser.binding_id, t));
        if valid {
            Ok(())
        } else {
            Err(FlowError::page(
                "This form has expired",
                "Reload the page and try again.",
            ))
        }
    }

    /// Who is asking, for the audit log: the trusted client IP and the request id (as sanitised by
    /// the request middleware).
    pub fn origin(&self, req: &HttpRequest) -> Origin {
        Origin {
            ip: Some(self.client_ip(req).to_string()),
            request_id: super::observe::current_request_id(),
        }
    }

    /// Cookie names take the `__Host-` prefix under https (DESIGN §4.9).
    pub fn cookie_name(&self, name: &str) -> String {
        if self.secure_cookies {
            format!("__Host-gh_{name}")
        } else {
            format!("gh_{name}")
        }
    }

    pub fn cookie(&self, name: &str, value: String, max_age: Option<i64>) -> Cookie<'static> {
        let mut cookie = Cookie::build(self.cookie_name(name), value)
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(SameSite::Lax)
            .finish();
        if let Some(seconds) = max_age {
            cookie.set_max_age(Duration::seconds(seconds));
        }
        cookie
    }

    /// `persistent`: "keep me signed in" was chosen for this session, and the cookie outlives the
    /// browser (Max-Age = `sessions.remember_ttl`). Otherwise it is a browser-session cookie (no
    /// Max-Age): closing the browser signs out, and the server ends it after `sessions.ttl` anyway.
    pub fn session_cookie(&self, session_id: String, persistent: bool) -> Cookie<'static> {
        let max_age = persistent
            .then(|| i64::try_from(self.provider.settings.sessions.remember_ttl).unwrap_or(i64::MAX));
        self.cookie("session", session_id, max_age)
    }

    pub fn expired_session_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.cookie("session", String::new(), None);
        cookie.make_removal();
        cookie
    }
}

/// 303 See Other: after a POST the browser must GET the target (DESIGN §4.10).
pub fn see_other(location: &str) -> HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location.to_string()));
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    response
}
