//! Liveness, readiness and metrics.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::AppState;
use super::extract::blocking;
use crate::metrics::{CONTENT_TYPE, PoolUsage};

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The process can serve: the database answers.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let p = state.provider.clone();
    match blocking(move || Ok(p.store.ping()?)).await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unavailable")
        }
    }
}

/// Prometheus metrics, the pool gauges read at scrape time. Operational data: serve it on an internal
/// interface or keep it from the public at the proxy.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let (connections, idle) = state.provider.store.pool_state();
    let text = state.metrics.encode(PoolUsage {
        connections,
        idle,
        max: state.provider.settings.database.max_connections,
    });
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text)
}
