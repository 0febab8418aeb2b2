//! `/account/consents`: a signed-in person sees every document with their state, accepts a document
//! (marketing, or a newer version) and withdraws a consent. Every change is one record.

use tracing::instrument;

use super::{Catalogue, DocumentState, append, latest_records, region_for};
use crate::audit::Origin;
use crate::flows::{FlowError, Provider, now};
use crate::protocol::jurisdiction::{self, MarketingDefault};
use crate::store::{
    ConsentAction, ConsentDocument, ConsentDocumentVersion, ConsentMethod, NewConsentRecord, User,
};

/// One document as the portal shows it.
pub struct PortalLine {
    pub document: ConsentDocument,
    pub newest: ConsentDocumentVersion,
    pub state: DocumentState,
}

impl PortalLine {
    /// Accepting records the newest version: offered unless that is what the person already accepts.
    pub fn can_accept(&self) -> bool {
        !matches!(self.state, DocumentState::Accepted { version, .. } if version == self.newest.version)
    }

    pub fn can_withdraw(&self) -> bool {
        matches!(
            self.state,
            DocumentState::Accepted { .. } | DocumentState::Outdated { .. }
        )
    }
}

pub struct PortalView {
    pub user: User,
    pub lines: Vec<PortalLine>,
    pub region: String,
    pub marketing: MarketingDefault,
}

/// The page of a signed-in person.
pub fn overview(p: &Provider, user: User) -> Result<PortalView, FlowError> {
    let catalogue = Catalogue::load(p)?;
    let latest = latest_records(p, &user.id)?;
    let lines = catalogue
        .published()
        .map(|(d, v)| PortalLine {
            state: catalogue.state(&d.id, latest.get(&d.id)),
            document: d.clone(),
            newest: v.clone(),
        })
        .collect();
    let region = region_for(p, &user, None);
    Ok(PortalView {
        user,
        lines,
        marketing: jurisdiction::marketing_default(&region),
        region,
    })
}

/// What a portal form changed, for the notice on the page.
pub enum Change {
    Accepted(String),
    Withdrawn(String),
}

/// Accepts (`accept`) or withdraws a document for a signed-in person.
#[instrument(skip_all, fields(document = document_id))]
pub fn change(
    p: &Provider,
    user: &User,
    document_id: &str,
    accept: bool,
    origin: &Origin,
) -> Result<Change, FlowError> {
    let action = if accept {
        ConsentAction::Accepted
    } else {
        ConsentAction::Withdrawn
    };
    let title = record(p, user, document_id, action, ConsentMethod::Portal, origin)?;
    Ok(if accept {
        Change::Accepted(title)
    } else {
        Change::Withdrawn(title)
    })
}

/// Records one acceptance (of the newest version) or withdrawal (of the accepted version) for `user`;
/// returns the document's title. Refused with a page when there is nothing to change.
pub fn record(
    p: &Provider,
    user: &User,
    document_id: &str,
    action: ConsentAction,
    method: ConsentMethod,
    origin: &Origin,
) -> Result<String, FlowError> {
    let catalogue = Catalogue::load(p)?;
    let unknown = || FlowError::page("Unknown document", "This document does not exist (any more).");
    let (document, newest) = catalogue
        .published()
        .find(|(d, _)| d.id == document_id)
        .ok_or_else(unknown)?;
    let latest = latest_records(p, &user.id)?;
    let line = PortalLine {
        state: catalogue.state(document_id, latest.get(document_id)),
        document: document.clone(),
        newest: newest.clone(),
    };
    let version = match (action, line.state) {
        (ConsentAction::Accepted, _) if line.can_accept() => newest.version,
        (ConsentAction::Withdrawn, DocumentState::Accepted { version, .. })
        | (ConsentAction::Withdrawn, DocumentState::Outdated { version, .. }) => version,
        (ConsentAction::Accepted, _) => {
            return Err(FlowError::page(
                "Already accepted",
                "You have already accepted the current version of this document.",
            ));
        }
        (ConsentAction::Withdrawn, _) => {
            return Err(FlowError::page(
                "Nothing to withdraw",
                "You have not accepted this document, so there is nothing to withdraw.",
            ));
        }
    };
    let record = NewConsentRecord {
        user_id: user.id.clone(),
        document_id: document_id.to_string(),
        version,
        action,
        at: now(),
        method,
        client_id: None,
        region: Some(region_for(p, user, None)),
    };
    append(p, &[record], origin)?;
    Ok(document.title.clone())
}
