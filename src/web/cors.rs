//! CORS for the endpoints a single-page app calls from the browser (`/token`, `/revoke`, `/userinfo`):
//! only for origins some client registered (`--allowed-origin`), never with cookies, and never on the
//! browser-flow endpoints (`/authorize`, `/login`, `/consent`, `/end_session`), which get no CORS at all.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use super::AppState;
use super::extract::blocking;

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let allowed = match (&origin, state) {
        (Some(origin), Some(state)) => {
            let (p, o) = (state.provider.clone(), origin.clone());
            blocking(move || Ok(p.store.is_origin_allowed(&o)?))
                .await
                .unwrap_or(false)
        }
        _ => false,
    };
    let origin = origin.filter(|_| allowed);
    if req.method() == Method::OPTIONS {
        // A preflight (Fetch §3.2.2): answered here, for registered origins only.
        let mut response = if allowed {
            let mut ok = HttpResponse::NoContent();
            ok.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "Authorization, Content-Type",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
            ok.finish()
        } else {
            HttpResponse::Forbidden().finish()
        };
        decorate(response.headers_mut(), origin.as_deref());
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    decorate(response.headers_mut(), origin.as_deref());
    Ok(response.map_into_left_body())
}

/// `Vary: Origin` always (responses differ by origin); the allow headers only for an allowed origin.
fn decorate(headers: &mut HeaderMap, allowed_origin: Option<&str>) {
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = allowed_origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate, Retry-After, X-Request-Id"),
        );
    }
}
