//! Around every request: a request id (taken from `X-Request-Id` when it is safe, else generated) in a
//! tracing span and in the response, one structured log line, and the request metrics.

use std::future::Future;
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web;
use tracing::Instrument;

use super::AppState;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the request being handled, for code that has no request at hand (error pages).
    static REQUEST_ID: String;
}

/// The id of the request this task is handling, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(String::clone).ok()
}

/// A proxy's id is kept when it is 1–64 characters of `[A-Za-z0-9._-]` (safe in logs, headers and
/// pages); anything else is replaced by a fresh random id.
pub fn request_id(header: Option<&HeaderValue>) -> String {
    header
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .map(str::to_string)
        .unwrap_or_else(crate::crypto::random_id)
}

/// Calls `srv` for `req` inside the request's span and request-id scope, then logs, counts and
/// stamps the response with `X-Request-Id`. Only the path is logged: query strings carry hints,
/// states and codes that must not reach logs; metrics use the matched route pattern.
pub fn observe<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let id = request_id(req.headers().get(REQUEST_ID_HEADER));
    let span = tracing::info_span!("request", request_id = %id);
    let method: Method = req.method().clone();
    let path = req.path().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let in_flight = state.as_ref().map(|s| s.metrics.start_request());
    let started = Instant::now();
    let call = {
        let _entered = span.enter();
        srv.call(req)
    };
    let header_value = HeaderValue::from_str(&id).ok();
    async move {
        let mut result = REQUEST_ID.scope(id, call).await;
        let took = started.elapsed();
        let (status, route) = match &result {
            Ok(r) => (r.status(), r.request().match_pattern()),
            Err(e) => (e.as_response_error().status_code(), None),
        };
        if let Some(state) = &state {
            state
                .metrics
                .request(route.as_deref(), &method, status.as_u16(), took);
        }
        tracing::info!(%method, %path, status = status.as_u16(), micros = took.as_micros() as u64, "request");
        if let (Ok(response), Some(value)) = (&mut result, header_value) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        drop(in_flight);
        result
    }
    .instrument(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_safe_request_id_is_kept_and_anything_else_replaced() {
        let kept = HeaderValue::from_static("abc-DEF_123.x");
        assert_eq!(request_id(Some(&kept)), "abc-DEF_123.x");
        for bad in ["", "has space", "semi;colon", &"a".repeat(65)] {
            let value = HeaderValue::from_str(bad).unwrap();
            let id = request_id(Some(&value));
            assert_ne!(id, bad);
            assert_eq!(id.len(), 22);
        }
        assert_eq!(request_id(None).len(), 22);
    }
}
