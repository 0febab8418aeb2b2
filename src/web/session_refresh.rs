//! Around every browser request that carries a session cookie: the session's idle timeout, its
//! activity (`last_seen_at`, written at most once a minute) and, for a remembered session, the
//! rotation of its cookie value (`sessions.rotate_after`).
//!
//! A middleware rather than code in each handler: rotation must reach every page a browser may come
//! back to (any of them can be the first request of the day), it needs the response (Set-Cookie) and
//! the handler needs the new value (a sign-out in the same request must end the rotated session), so
//! the one place that sees both ends of every request does it. The new value travels to the handler as
//! a request extension that `BrowserCookies::read` prefers over the cookie. API endpoints (token,
//! userinfo, admin, metrics, static files) are skipped before anything is read: their hot path gains
//! one prefix comparison and no query.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};

use super::AppState;
use super::extract::blocking;
use crate::flows::browser::{self, Refresh};

/// The session cookie value rotated for this request (read by `BrowserCookies::read`).
#[derive(Clone)]
pub struct RotatedSession(pub String);

/// Paths no browser session matters to.
const API_PATHS: &[&str] = &[
    "/token",
    "/introspect",
    "/revoke",
    "/userinfo",
    "/jwks.json",
    "/.well-known/",
    "/admin/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/static/",
];

fn is_browser_path(path: &str) -> bool {
    !API_PATHS.iter().any(|prefix| path.starts_with(prefix))
}

pub async fn refresh(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if !is_browser_path(req.path()) {
        return next.call(req).await;
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let cookie_name = state.cookie_name("session");
    let cookie = req
        .cookie(&cookie_name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty());
    let refreshed = match cookie {
        Some(value) => {
            let (p, origin) = (state.provider.clone(), state.origin(req.request()));
            match blocking(move || browser::refresh(&p, &value, &origin)).await {
                Ok(refreshed) => refreshed,
                Err(e) => {
                    // The handler meets the same store and reports it; the request goes on.
                    tracing::warn!(error = %e, "session refresh failed");
                    Refresh::Unchanged
                }
            }
        }
        None => Refresh::Unchanged,
    };
    if let Refresh::Rotated(id) = &refreshed {
        req.extensions_mut().insert(RotatedSession(id.clone()));
    }
    let mut response = next.call(req).await?;
    // What the handler set wins: a sign-in or sign-out in this request decides the cookie (a new
    // session's device is stored with it, from `Browser::user_agent`).
    let set_by_handler = response.response().cookies().any(|c| c.name() == cookie_name);
    if !set_by_handler {
        match refreshed {
            Refresh::Rotated(id) => {
                let _ = response
                    .response_mut()
                    .add_cookie(&state.session_cookie(id, true));
            }
            Refresh::Gone => {
                let _ = response
                    .response_mut()
                    .add_cookie(&state.expired_session_cookie());
            }
            Refresh::Unchanged => {}
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::is_browser_path;

    #[test]
    fn api_paths_skip_the_session_refresh() {
        for path in [
            "/token",
            "/userinfo",
            "/admin/v1/users",
            "/static/gatehouse.css",
            "/metrics",
        ] {
            assert!(!is_browser_path(path), "{path}");
        }
        for path in [
            "/account",
            "/account/sessions",
            "/login",
            "/authorize",
            "/end_session",
            "/consent",
        ] {
            assert!(is_browser_path(path), "{path}");
        }
    }
}
