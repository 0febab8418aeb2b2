//! Discovery and JWKS: pre-serialised documents with `Cache-Control` and `ETag`.

use actix_web::http::header::Header;
use actix_web::http::header::{self, ETag, EntityTag, IfNoneMatch};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;

pub async fn openid_configuration(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    cached_json(
        &req,
        state.discovery.as_str(),
        &state.discovery_etag,
        "public, max-age=3600",
    )
}

pub async fn jwks(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let ring = state.provider.keys.ring();
    cached_json(&req, ring.jwks_json(), ring.jwks_etag(), "public, max-age=300")
}

fn cached_json(req: &HttpRequest, body: &str, etag: &str, cache: &'static str) -> HttpResponse {
    let tag = EntityTag::new_strong(etag.to_string());
    if let Ok(IfNoneMatch::Items(items)) = IfNoneMatch::parse(req) {
        if items.iter().any(|t| t.strong_eq(&tag)) {
            return HttpResponse::NotModified().insert_header(ETag(tag)).finish();
        }
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header(ETag(tag))
        .body(body.to_string())
}
