//! All HTTP error mapping in one place: token-endpoint JSON (RFC 6749 §5.2), bearer errors
//! (RFC 6750 §3), and the gateway's own HTML error page where a redirect would be unsafe.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::pages::{ErrorPage, render};
use crate::flows::FlowError;
use crate::protocol::params::ParamError;
use crate::protocol::{ErrorCode, OAuthError};
use crate::store::StoreError;

/// The reference on the error page: the request id (also in every log line of the request and in the
/// `X-Request-Id` response header), so support can find the logs from what the user quotes.
fn reference() -> String {
    super::observe::current_request_id().unwrap_or_else(|| crate::crypto::random_id()[..10].to_string())
}

/// 429 with `Retry-After` (RFC 6585 §4).
fn too_many_requests(retry_after: u64) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::TooManyRequests();
    response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
    response
}

/// Logs what the client must not see, once, and classifies it.
fn internal(e: &FlowError) -> (StatusCode, ErrorCode) {
    match e {
        FlowError::Store(StoreError::Unavailable(detail)) => {
            tracing::error!(%detail, "database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::TemporarilyUnavailable)
        }
        FlowError::Overloaded(what) => {
            tracing::warn!(what, "overloaded");
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::TemporarilyUnavailable)
        }
        other => {
            tracing::error!(error = %other, "internal error");
            (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::ServerError)
        }
    }
}

/// Errors of the token, introspection and revocation endpoints: JSON, never cached.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(pub FlowError);

impl From<FlowError> for JsonError {
    fn from(e: FlowError) -> Self {
        Self(e)
    }
}

impl From<ParamError> for JsonError {
    fn from(e: ParamError) -> Self {
        Self(OAuthError::invalid_request(e.to_string()).into())
    }
}

impl ResponseError for JsonError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            FlowError::OAuth(e) if e.code == ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            FlowError::OAuth(_) | FlowError::Page { .. } => StatusCode::BAD_REQUEST,
            FlowError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            FlowError::Store(StoreError::Unavailable(_)) | FlowError::Overloaded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let FlowError::RateLimited { retry_after, .. } = &self.0 {
            return too_many_requests(*retry_after)
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .json(json!({ "error": "temporarily_unavailable", "error_description": "too many requests; retry later" }));
        }
        let (status, code, description) = match &self.0 {
            FlowError::OAuth(e) => (self.status_code(), e.code, e.description.to_string()),
            FlowError::Page { message, .. } => (
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                message.clone(),
            ),
            other => {
                let (status, code) = internal(other);
                (status, code, "the request could not be completed".to_string())
            }
        };
        let mut response = HttpResponse::build(status);
        response
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: a 401 "MUST include the WWW-Authenticate response header field".
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatehouse\""),
            ));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        response.json(json!({ "error": code.as_str(), "error_description": description }))
    }
}

/// Errors of the UserInfo endpoint (RFC 6750 §3.1): the code goes in `WWW-Authenticate`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BearerError(pub FlowError);

impl From<FlowError> for BearerError {
    fn from(e: FlowError) -> Self {
        Self(e)
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            FlowError::OAuth(e) => match e.code {
                ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            },
            FlowError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            FlowError::Store(StoreError::Unavailable(_)) | FlowError::Overloaded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let FlowError::RateLimited { retry_after, .. } = &self.0 {
            return too_many_requests(*retry_after)
                .json(json!({ "error": "temporarily_unavailable", "error_description": "too many requests; retry later" }));
        }
        let FlowError::OAuth(e) = &self.0 else {
            let (status, code) = internal(&self.0);
            return HttpResponse::build(status).json(json!({ "error": code.as_str() }));
        };
        // A request without any token gets the bare challenge (RFC 6750 §3.1).
        let challenge = if e.description.is_empty() {
            "Bearer realm=\"gatehouse\"".to_string()
        } else {
            format!(
                "Bearer realm=\"gatehouse\", error=\"{}\", error_description=\"{}\"",
                e.code,
                e.description.replace('"', "'")
            )
        };
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
        response.json(json!({ "error": e.code.as_str(), "error_description": e.description }))
    }
}

/// Browser-facing errors: the gateway's own page, never a redirect.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PageError(pub FlowError);

impl From<FlowError> for PageError {
    fn from(e: FlowError) -> Self {
        Self(e)
    }
}

impl From<ParamError> for PageError {
    fn from(e: ParamError) -> Self {
        Self(FlowError::page(
            "The application sent an invalid request",
            format!("The request could not be read: {e}."),
        ))
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            FlowError::Page { .. } | FlowError::OAuth(_) => StatusCode::BAD_REQUEST,
            FlowError::Upstream { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            FlowError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            FlowError::Store(StoreError::Unavailable(_)) | FlowError::Overloaded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = reference();
        if let FlowError::RateLimited { retry_after, .. } = &self.0 {
            let page = ErrorPage {
                title: "Too many attempts".into(),
                message: format!("Please wait {retry_after} seconds and try again."),
                request_id,
            };
            let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page);
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        let (title, message) = match &self.0 {
            FlowError::Page { title, message } => (title.to_string(), message.clone()),
            FlowError::Upstream {
                provider, message, ..
            } => (format!("Sign-in with {provider} did not work"), message.clone()),
            FlowError::OAuth(e) => (
                "The request could not be completed".to_string(),
                e.description.to_string(),
            ),
            other => {
                let (status, _) = internal(other);
                tracing::error!(reference = %request_id, "error page shown");
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    (
                        "Gatehouse is temporarily unavailable".into(),
                        "Please try again in a moment.".into(),
                    )
                } else {
                    (
                        "Something went wrong".into(),
                        "Please try again. If it keeps happening, contact support.".into(),
                    )
                }
            }
        };
        render(
            self.status_code(),
            &ErrorPage {
                title,
                message,
                request_id,
            },
        )
    }
}
