//! The stylesheet and the one script, compiled into the binary (no external assets).

use actix_web::HttpResponse;
use actix_web::http::header;

const CSS: &str = include_str!("../../static/gatehouse.css");
const FORM_POST_JS: &str = include_str!("../../static/form_post.js");
const PASSKEYS_JS: &str = include_str!("../../static/passkeys.js");

pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", CSS)
}

pub async fn form_post_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", FORM_POST_JS)
}

/// The passkey ceremonies of every `<form data-passkey>` (sign-in, portal, second factor).
pub async fn passkeys_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", PASSKEYS_JS)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body)
}
