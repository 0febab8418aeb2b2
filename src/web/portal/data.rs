//! GET /account/data (what we keep, download, delete) and GET /account/export (the download).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::errors::PageError;
use super::super::pages::{PortalChrome, PortalDataPage, ok};
use super::page;
use crate::flows::{FlowError, portal};

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let grace_days = state.provider.settings.portal.deletion_grace_days;
    page(
        &state,
        &req,
        "/account/data",
        |_, _, s| Ok(s.user),
        move |user, _| {
            ok(&PortalDataPage {
                chrome: PortalChrome::new(&user, "data"),
                notice: None,
                grace_days,
            })
        },
    )
    .await
}

/// The export as a download: JSON, never cached (it is personal data).
pub async fn export(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let origin = state.origin(&req);
    page(
        &state,
        &req,
        "/account/data",
        move |p, _, s| {
            portal::export(p, &s.user.id, &s.user.id, &origin)?
                .ok_or_else(|| FlowError::page("Your account was not found", "Sign in again."))
        },
        |document, _| {
            let body = serde_json::to_string_pretty(&document).unwrap_or_default();
            HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"gatehouse-export.json\"",
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(body)
        },
    )
    .await
}
