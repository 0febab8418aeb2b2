//! Versioned consent documents as people meet them: what a person still has to accept before a client
//! gets a code (`outstanding`), the state released to apps (the `consents` claim and introspection
//! field) and the export of a person's records. The documents page of an authorization is
//! `interstitial`; operators manage documents in `documents`; people manage their consents in `portal`.
//!
//! A person's state per document is their latest record. A document's acceptance counts while its
//! version is at least the newest version published with "re-consent required", so publishing a
//! correction without that flag asks nobody again.

pub mod documents;
mod interstitial;
pub mod portal;

pub use interstitial::{DocumentsView, Submitted, field_name, show, submit};

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{FlowError, Provider};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::protocol::jurisdiction;
use crate::protocol::scope;
use crate::store::{
    Client, ClientPolicy, ConsentAction, ConsentDocument, ConsentDocumentVersion, ConsentMethod,
    ConsentPurpose, ConsentRecord, NewConsentRecord, User,
};

/// The scope that releases the `consents` claim, and the claim's name.
pub const CONSENTS: &str = "consents";

/// A document and the version the person is asked to accept (the newest).
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentToAccept {
    pub document: ConsentDocument,
    pub version: ConsentDocumentVersion,
    /// They accepted an older version that no longer counts.
    pub outdated: bool,
}

/// One person's state of one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentState {
    NotAccepted,
    Accepted {
        version: i64,
        at: i64,
    },
    /// Accepted, but a newer version was published with re-consent required.
    Outdated {
        version: i64,
        at: i64,
    },
    Withdrawn {
        at: i64,
    },
}

/// Every document with its versions: what a person's records are judged against.
pub(crate) struct Catalogue {
    pub documents: Vec<ConsentDocument>,
    versions: Vec<ConsentDocumentVersion>,
}

impl Catalogue {
    pub fn load(p: &Provider) -> Result<Self, FlowError> {
        let documents = p.store.list_consent_documents()?;
        let versions = if documents.is_empty() {
            Vec::new()
        } else {
            p.store.list_consent_versions(None)?
        };
        Ok(Self { documents, versions })
    }

    pub fn newest(&self, document_id: &str) -> Option<&ConsentDocumentVersion> {
        self.versions.iter().rfind(|v| v.document_id == document_id)
    }

    /// The oldest version whose acceptance still counts.
    fn oldest_valid(&self, document_id: &str) -> i64 {
        self.versions
            .iter()
            .rfind(|v| v.document_id == document_id && v.reconsent_required)
            .map_or(1, |v| v.version)
    }

    pub fn state(&self, document_id: &str, latest: Option<&ConsentRecord>) -> DocumentState {
        match latest {
            None => DocumentState::NotAccepted,
            Some(r) if r.action == ConsentAction::Withdrawn => DocumentState::Withdrawn { at: r.at },
            Some(r) if r.version < self.oldest_valid(document_id) => DocumentState::Outdated {
                version: r.version,
                at: r.at,
            },
            Some(r) => DocumentState::Accepted {
                version: r.version,
                at: r.at,
            },
        }
    }

    /// Documents with a published version, paired with their newest version.
    fn published(&self) -> impl Iterator<Item = (&ConsentDocument, &ConsentDocumentVersion)> {
        self.documents
            .iter()
            .filter_map(|d| self.newest(&d.id).map(|v| (d, v)))
    }
}

/// The latest record per document: the person's current state.
pub(crate) fn latest_records(
    p: &Provider,
    user_id: &str,
) -> Result<BTreeMap<String, ConsentRecord>, FlowError> {
    Ok(p.store
        .list_user_consent_records(user_id)?
        .into_iter()
        .map(|r| (r.document_id.clone(), r))
        .collect())
}

/// The region whose rules apply (README "Consent"): declared, else the client's, else configured.
pub(crate) fn region_for(p: &Provider, user: &User, policy: Option<&ClientPolicy>) -> String {
    jurisdiction::resolve(
        user.region.as_deref(),
        policy.and_then(|c| c.region.as_deref()),
        &p.settings.consent.default_region,
    )
}

/// The documents this person must accept before `client_id` gets a code: every gateway-required
/// document and the client's own, whose current acceptance is missing, withdrawn or outdated.
/// Marketing documents are never required, whatever a policy says.
pub fn outstanding(p: &Provider, user: &User, client: &Client) -> Result<Vec<DocumentToAccept>, FlowError> {
    let catalogue = Catalogue::load(p)?;
    if catalogue.documents.is_empty() {
        return Ok(Vec::new());
    }
    let policy = p.store.find_client_policy(&client.id)?;
    Ok(required(
        &catalogue,
        policy.as_ref(),
        &latest_records(p, &user.id)?,
    ))
}

fn required(
    catalogue: &Catalogue,
    policy: Option<&ClientPolicy>,
    latest: &BTreeMap<String, ConsentRecord>,
) -> Vec<DocumentToAccept> {
    let by_client = |id: &str| policy.is_some_and(|c| c.required_documents.iter().any(|d| d == id));
    catalogue
        .published()
        .filter(|(d, _)| d.purpose != ConsentPurpose::Marketing && (d.required || by_client(&d.id)))
        .filter_map(|(d, v)| match catalogue.state(&d.id, latest.get(&d.id)) {
            DocumentState::Accepted { .. } => None,
            state => Some(DocumentToAccept {
                document: d.clone(),
                version: v.clone(),
                outdated: matches!(state, DocumentState::Outdated { .. }),
            }),
        })
        .collect()
}

/// Audits, then appends, the records (write-ahead: nothing is recorded unaudited).
pub(crate) fn append(p: &Provider, records: &[NewConsentRecord], origin: &Origin) -> Result<(), FlowError> {
    for r in records {
        let event = match r.action {
            ConsentAction::Accepted => kind::CONSENT_DOCUMENT_ACCEPTED,
            ConsentAction::Withdrawn => kind::CONSENT_DOCUMENT_WITHDRAWN,
        };
        let mut e = AuditEvent::new(event, Outcome::Success, r.at)
            .origin(origin)
            .actor(&r.user_id)
            .subject(&r.user_id)
            .detail(json!({
                "document": r.document_id,
                "version": r.version,
                "method": r.method.as_str(),
                "region": r.region,
            }));
        if let Some(client) = &r.client_id {
            e = e.client(client);
        }
        p.auditor.record(e)?;
    }
    p.store.append_consent_records(records)?;
    Ok(())
}

/// The versions a person currently accepts, by document (`{"terms": 3}`); an outdated acceptance
/// still shows its version, so an app can tell.
pub fn state_for(p: &Provider, user_id: &str) -> Result<BTreeMap<String, i64>, FlowError> {
    Ok(latest_records(p, user_id)?
        .into_values()
        .filter(|r| r.action == ConsentAction::Accepted)
        .map(|r| (r.document_id, r.version))
        .collect())
}

/// The `consents` claim, when the `consents` scope was granted (read now, so a withdrawal shows at once).
pub fn claims_for(p: &Provider, user_id: &str, scopes: &[String]) -> Result<Map<String, Value>, FlowError> {
    let mut claims = Map::new();
    if scope::contains(scopes, CONSENTS) {
        claims.insert(CONSENTS.into(), json!(state_for(p, user_id)?));
    }
    Ok(claims)
}

/// Every record of a person, oldest first, as a JSON array (the data export includes exactly this).
pub fn records_for_export(p: &Provider, user_id: &str) -> Result<Value, FlowError> {
    let records = p.store.list_user_consent_records(user_id)?;
    Ok(serde_json::to_value(records).unwrap_or_else(|_| json!([])))
}

/// Records `user`'s acceptance of a document's newest version (`method`: how they gave it, e.g. at
/// sign-up). Returns the document's title.
pub fn accept(
    p: &Provider,
    user: &User,
    document_id: &str,
    method: ConsentMethod,
    origin: &Origin,
) -> Result<String, FlowError> {
    portal::record(p, user, document_id, ConsentAction::Accepted, method, origin)
}

/// Records the withdrawal of `user`'s accepted version of a document. Returns the document's title.
pub fn withdraw(
    p: &Provider,
    user: &User,
    document_id: &str,
    method: ConsentMethod,
    origin: &Origin,
) -> Result<String, FlowError> {
    portal::record(p, user, document_id, ConsentAction::Withdrawn, method, origin)
}
