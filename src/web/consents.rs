//! GET/POST /consent/documents: the terms an authorization waits for. GET /account/consents and
//! POST /account/consents/{accept,withdraw}: a person's consents in the account portal.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::authorize::respond;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::login::checked_form;
use super::pages::{
    AccountConsentLine, AccountConsentsPage, ConsentDocumentsPage, DocumentLine, PortalChrome, render,
};
use super::portal::{day, page, submit};
use crate::flows::FlowError;
use crate::flows::consents::portal::{self as consents_portal, Change, PortalLine, PortalView};
use crate::flows::consents::{self, DocumentState, DocumentToAccept, DocumentsView, Submitted};
use crate::protocol::jurisdiction::MarketingDefault;
use crate::protocol::params::Params;
use crate::store::ConsentPurpose;

pub async fn show_documents(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = params
        .get("req")
        .ok_or_else(FlowError::expired_request)?
        .to_string();
    let (p, browser, id) = (state.provider.clone(), cookies.browser.clone(), req_id.clone());
    let view = blocking(move || consents::show(&p, &id, &browser)).await?;
    let default_ticked = view.marketing.is_ticked();
    let page = documents_page(&state, &cookies, req_id, view, |d| {
        d.document.purpose == ConsentPurpose::Marketing && default_ticked
    });
    Ok(render(StatusCode::OK, &page))
}

pub async fn submit_documents(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let req_id = checked_form(&state, &cookies, &form)?;
    let accept = match form.get("decision") {
        Some("accept") => true,
        Some("decline") => false,
        _ => return Err(FlowError::page("The form was incomplete", "Choose Accept or Decline.").into()),
    };
    let (p, browser, origin) = (
        state.provider.clone(),
        cookies.browser.clone(),
        state.origin(&req),
    );
    let (id, submitted_form) = (req_id.clone(), form.clone());
    let outcome =
        blocking(move || consents::submit(&p, &id, accept, &submitted_form, &browser, &origin)).await?;
    match outcome {
        Submitted::Next(next) => Ok(respond(&state, &cookies, next)),
        Submitted::Incomplete { view, missing } => {
            let mut page = documents_page(&state, &cookies, req_id, view, |d| {
                form.get(&consents::field_name(&d.document.id))
                    == Some(d.version.version.to_string().as_str())
            });
            for line in &mut page.required {
                line.missing = missing.iter().any(|m| consents::field_name(m) == line.field);
            }
            page.error = Some("To continue, accept the documents marked below, or choose Decline.".into());
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
    }
}

fn documents_page(
    state: &AppState,
    cookies: &BrowserCookies,
    req: String,
    view: DocumentsView,
    ticked: impl Fn(&DocumentToAccept) -> bool,
) -> ConsentDocumentsPage {
    let lines = |docs: &[DocumentToAccept]| {
        docs.iter()
            .map(|d| DocumentLine {
                field: consents::field_name(&d.document.id),
                version: d.version.version,
                title: d.document.title.clone(),
                summary: d.version.summary.clone(),
                url: d.version.url.clone(),
                outdated: d.outdated,
                missing: false,
                ticked: ticked(d),
            })
            .collect()
    };
    ConsentDocumentsPage {
        req,
        csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
        client_name: view.client_name.clone(),
        user_email: view.user_email.clone(),
        required: lines(&view.required),
        optional: lines(&view.optional),
        opt_out_notice: view.marketing == MarketingDefault::OptOutNotice,
        error: None,
    }
}

/// GET /account/consents; signed out: the account sign-in page, which comes back here.
pub async fn show_portal(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    page(
        &state,
        &req,
        "/account/consents",
        |p, _, s| consents_portal::overview(p, s.user),
        move |view, csrf| {
            render(
                StatusCode::OK,
                &AccountConsentsPage {
                    chrome: PortalChrome::new(&view.user, "consents"),
                    csrf,
                    notice: notice(&params, &view),
                    region_note: region_note(&view),
                    lines: view.lines.iter().map(line).collect(),
                },
            )
        },
    )
    .await
}

pub async fn accept_in_portal(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    change(state, req, body, true).await
}

pub async fn withdraw_in_portal(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    change(state, req, body, false).await
}

/// CSRF first, then the change; a browser signed out meanwhile goes back to the page (sign-in).
async fn change(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    accept: bool,
) -> Result<HttpResponse, PageError> {
    let done = submit(&state, &req, &body, "/account/consents", move |p, s, sub| {
        let document = sub.params.get("document").unwrap_or_default().to_string();
        consents_portal::change(p, &s.user, &document, accept, &sub.origin).map(|c| (c, document))
    })
    .await?;
    // Only a known document id goes back into the URL: the notice is looked up, never reflected.
    Ok(match done {
        Err(signed_out) => signed_out,
        Ok(((Change::Accepted(_), id), _)) => see_other(&format!("/account/consents?accepted={id}")).finish(),
        Ok(((Change::Withdrawn(_), id), _)) => {
            see_other(&format!("/account/consents?withdrawn={id}")).finish()
        }
    })
}

fn notice(params: &Params, view: &PortalView) -> Option<String> {
    let title = |id: &str| {
        view.lines
            .iter()
            .find(|l| l.document.id == id)
            .map(|l| l.document.title.clone())
    };
    match (params.get("accepted"), params.get("withdrawn")) {
        (Some(id), _) => title(id).map(|t| format!("You accepted the {t}. Thank you.")),
        (None, Some(id)) => title(id).map(|t| format!("You withdrew your consent to the {t}.")),
        _ => None,
    }
}

fn region_note(view: &PortalView) -> String {
    match view.marketing {
        MarketingDefault::OptOutNotice => format!(
            "Rules for your region ({}): marketing is offered switched on with a notice, and you can opt out at any time.",
            view.region
        ),
        MarketingDefault::OptIn => format!(
            "Rules for your region ({}): marketing only with your explicit consent.",
            view.region
        ),
    }
}

fn line(l: &PortalLine) -> AccountConsentLine {
    let newest = l.newest.version;
    let (status, status_label, status_kind) = match l.state {
        DocumentState::Accepted { version, at } if version < newest => (
            format!(
                "You accepted version {version} on {}. Version {newest} is current; your acceptance still counts.",
                day(at)
            ),
            "Accepted",
            "accepted",
        ),
        DocumentState::Accepted { version, at } => (
            format!("You accepted version {version} on {}.", day(at)),
            "Accepted",
            "accepted",
        ),
        DocumentState::Outdated { version, at } => (
            format!(
                "You accepted version {version} on {}. A newer version ({newest}) needs your acceptance.",
                day(at)
            ),
            "Update needed",
            "outdated",
        ),
        DocumentState::NotAccepted => ("You have not accepted this.".to_string(), "Not accepted", "none"),
        DocumentState::Withdrawn { at } => (
            format!("You withdrew your consent on {}.", day(at)),
            "Withdrawn",
            "withdrawn",
        ),
    };
    AccountConsentLine {
        id: l.document.id.clone(),
        title: l.document.title.clone(),
        url: l.newest.url.clone(),
        newest_version: newest,
        status,
        status_label,
        status_kind,
        can_accept: l.can_accept(),
        can_withdraw: l.can_withdraw(),
        marketing: l.document.purpose == ConsentPurpose::Marketing,
    }
}
