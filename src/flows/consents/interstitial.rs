//! The documents page in the middle of an authorization (`/consent/documents`): what a person must
//! accept before the client gets a code, the optional marketing documents with their region's default,
//! and the answer. Accept records exactly the versions shown; Decline ends the authorization.

use serde_json::json;
use tracing::instrument;

use super::{Catalogue, DocumentToAccept, append, latest_records, region_for, required};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::flows::authorize::{Next, Pending, load_pending, resume_after_sign_in};
use crate::flows::browser::{Browser, signed_in};
use crate::flows::{FlowError, Provider, now};
use crate::protocol::jurisdiction::{self, MarketingDefault};
use crate::protocol::params::Params;
use crate::protocol::{ErrorCode, OAuthError};
use crate::store::{ConsentAction, ConsentMethod, ConsentPurpose, NewConsentRecord, User};

/// What the documents page shows during an authorization.
pub struct DocumentsView {
    pub client_name: String,
    pub user_email: String,
    pub required: Vec<DocumentToAccept>,
    /// Marketing documents the person has never answered, offered with the region's default.
    pub optional: Vec<DocumentToAccept>,
    pub marketing: MarketingDefault,
    pub region: String,
}

struct Context {
    pending: Pending,
    user: User,
    view: DocumentsView,
}

fn context(p: &Provider, request_id: &str, browser: &Browser) -> Result<Context, FlowError> {
    let pending = load_pending(p, request_id, browser)?;
    let s = signed_in(p, browser)?.ok_or_else(FlowError::expired_request)?;
    let catalogue = Catalogue::load(p)?;
    let policy = p.store.find_client_policy(&pending.client.id)?;
    let latest = latest_records(p, &s.user.id)?;
    let region = region_for(p, &s.user, policy.as_ref());
    let optional = catalogue
        .published()
        .filter(|(d, _)| d.purpose == ConsentPurpose::Marketing && !latest.contains_key(&d.id))
        .map(|(d, v)| DocumentToAccept {
            document: d.clone(),
            version: v.clone(),
            outdated: false,
        })
        .collect();
    let view = DocumentsView {
        client_name: pending.client.name.clone(),
        user_email: s.user.email.clone(),
        required: required(&catalogue, policy.as_ref(), &latest),
        optional,
        marketing: jurisdiction::marketing_default(&region),
        region,
    };
    Ok(Context {
        pending,
        user: s.user,
        view,
    })
}

pub fn show(p: &Provider, request_id: &str, browser: &Browser) -> Result<DocumentsView, FlowError> {
    Ok(context(p, request_id, browser)?.view)
}

/// The answer on the documents page.
pub enum Submitted {
    /// The authorization goes on (or ends, after Decline).
    Next(Next),
    /// Some required box was not ticked (or a newer version appeared meanwhile): the page again, with
    /// these document ids marked. Nothing was recorded.
    Incomplete {
        view: DocumentsView,
        missing: Vec<String>,
    },
}

/// The form field of a document's box; its value is the version shown, so that what is recorded is
/// exactly what the person saw.
pub fn field_name(document_id: &str) -> String {
    format!("accept.{document_id}")
}

fn is_ticked(form: &Params, d: &DocumentToAccept) -> bool {
    form.get(&field_name(&d.document.id)) == Some(d.version.version.to_string().as_str())
}

/// Accept: every required box must be ticked; then one record per ticked document, and the
/// authorization continues. Decline ends it with `access_denied` (never a loop back to the page).
#[instrument(skip_all)]
pub fn submit(
    p: &Provider,
    request_id: &str,
    accept: bool,
    form: &Params,
    browser: &Browser,
    origin: &Origin,
) -> Result<Submitted, FlowError> {
    let ctx = context(p, request_id, browser)?;
    if !accept {
        return decline(p, ctx, origin).map(Submitted::Next);
    }
    let missing: Vec<String> = ctx
        .view
        .required
        .iter()
        .filter(|d| !is_ticked(form, d))
        .map(|d| d.document.id.clone())
        .collect();
    if !missing.is_empty() {
        return Ok(Submitted::Incomplete {
            view: ctx.view,
            missing,
        });
    }
    let v = &ctx.view;
    let marketing_method = match v.marketing {
        MarketingDefault::OptOutNotice => ConsentMethod::OptOutNotice,
        MarketingDefault::OptIn => ConsentMethod::Authorization,
    };
    let chosen = v
        .required
        .iter()
        .map(|d| (d, ConsentMethod::Authorization))
        .chain(
            v.optional
                .iter()
                .filter(|d| is_ticked(form, d))
                .map(|d| (d, marketing_method)),
        );
    let at = now();
    let records: Vec<NewConsentRecord> = chosen
        .map(|(d, method)| NewConsentRecord {
            user_id: ctx.user.id.clone(),
            document_id: d.document.id.clone(),
            version: d.version.version,
            action: ConsentAction::Accepted,
            at,
            method,
            client_id: Some(ctx.pending.client.id.clone()),
            region: Some(v.region.clone()),
        })
        .collect();
    append(p, &records, origin)?;
    resume_after_sign_in(p, request_id, browser).map(Submitted::Next)
}

fn decline(p: &Provider, ctx: Context, origin: &Origin) -> Result<Next, FlowError> {
    let documents: Vec<&str> = ctx.view.required.iter().map(|d| d.document.id.as_str()).collect();
    p.auditor.record(
        AuditEvent::new(kind::CONSENT_DOCUMENTS_DECLINED, Outcome::Failure, now())
            .origin(origin)
            .actor(&ctx.user.id)
            .subject(&ctx.user.id)
            .client(&ctx.pending.client.id)
            .detail(json!({ "documents": documents })),
    )?;
    tracing::info!(client_id = %ctx.pending.client.id, "consent documents declined");
    let denied = OAuthError::new(ErrorCode::AccessDenied, "the user declined the required terms");
    Ok(Next::Respond(
        ctx.pending.request.target.error(p.issuer(), &denied),
    ))
}
