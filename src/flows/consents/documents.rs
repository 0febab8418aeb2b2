//! Operators' use cases for consent documents (CLI and admin API): create a document, publish a
//! version, list them, and read the records for auditors. Every change is audited first.

use serde::Serialize;

use crate::audit::kind;
use crate::flows::admin::{AdminError, audit_as};
use crate::flows::now;
use crate::store::{ConsentDocument, ConsentDocumentVersion, ConsentPurpose, Store};

fn invalid(message: impl Into<String>) -> AdminError {
    AdminError::Invalid(message.into())
}

pub struct NewDocument {
    pub id: String,
    pub title: String,
    /// `terms`, `privacy` or `marketing`.
    pub purpose: String,
    pub required: bool,
}

pub struct NewVersion {
    pub url: String,
    pub summary: String,
    pub reconsent_required: bool,
}

/// A document with every published version, oldest first.
#[derive(Debug, Serialize)]
pub struct DocumentListing {
    #[serde(flatten)]
    pub document: ConsentDocument,
    pub versions: Vec<ConsentDocumentVersion>,
}

/// Ids are slugs (`terms`, `marketing-email`): they appear in claims, forms and exports.
fn is_slug(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The text must be reachable by anyone who is asked to accept it: an absolute https URL (http only on
/// loopback, for development), no credentials in it.
fn check_url(raw: &str) -> Result<String, AdminError> {
    let bad = || {
        invalid(format!(
            "url `{raw}` must be an absolute https:// URL of the document's text"
        ))
    };
    let url = url::Url::parse(raw.trim()).map_err(|_| bad())?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad());
    }
    Ok(url.to_string())
}

fn check_text(field: &str, value: &str, max: usize) -> Result<String, AdminError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must be 1 to {max} characters on one line"
        )));
    }
    Ok(value.to_string())
}

pub fn create(store: &dyn Store, actor: &str, new: NewDocument) -> Result<ConsentDocument, AdminError> {
    if !is_slug(&new.id) {
        return Err(invalid(format!(
            "id `{}` must be 1 to 64 lower-case letters, digits and hyphens (e.g. terms, marketing-email)",
            new.id
        )));
    }
    let title = check_text("title", &new.title, 200)?;
    let purpose = ConsentPurpose::parse(&new.purpose).ok_or_else(|| {
        invalid(format!(
            "purpose `{}` must be terms, privacy or marketing",
            new.purpose
        ))
    })?;
    if new.required && purpose == ConsentPurpose::Marketing {
        return Err(invalid(
            "a marketing document cannot be required: marketing consent must be optional (GDPR Art. 7(4))",
        ));
    }
    if store.find_consent_document(&new.id)?.is_some() {
        return Err(AdminError::Store(crate::store::StoreError::Conflict(format!(
            "consent document `{}`",
            new.id
        ))));
    }
    let document = ConsentDocument {
        id: new.id,
        title,
        purpose,
        required: new.required,
        created_at: now(),
    };
    audit_as(
        store,
        actor,
        kind::CONSENT_DOCUMENT_CREATED,
        &document.id,
        serde_json::json!({ "purpose": purpose.as_str(), "required": document.required }),
    )?;
    store.create_consent_document(&document)?;
    Ok(document)
}

/// Publishes the next version of a document.
pub fn publish(
    store: &dyn Store,
    actor: &str,
    document_id: &str,
    new: NewVersion,
) -> Result<ConsentDocumentVersion, AdminError> {
    if store.find_consent_document(document_id)?.is_none() {
        return Err(AdminError::NotFound(format!(
            "no consent document `{document_id}` (see `gatehouse consent document list`)"
        )));
    }
    let url = check_url(&new.url)?;
    let summary = check_text("summary", &new.summary, 300)?;
    audit_as(
        store,
        actor,
        kind::CONSENT_VERSION_PUBLISHED,
        document_id,
        serde_json::json!({ "url": url, "reconsent_required": new.reconsent_required }),
    )?;
    Ok(store.publish_consent_version(document_id, &url, &summary, new.reconsent_required, now())?)
}

pub fn list(store: &dyn Store) -> Result<Vec<DocumentListing>, AdminError> {
    let versions = store.list_consent_versions(None)?;
    Ok(store
        .list_consent_documents()?
        .into_iter()
        .map(|document| DocumentListing {
            versions: versions
                .iter()
                .filter(|v| v.document_id == document.id)
                .cloned()
                .collect(),
            document,
        })
        .collect())
}

pub fn find(store: &dyn Store, id: &str) -> Result<DocumentListing, AdminError> {
    let document = store
        .find_consent_document(id)?
        .ok_or_else(|| AdminError::NotFound(format!("no consent document `{id}`")))?;
    Ok(DocumentListing {
        versions: store.list_consent_versions(Some(id))?,
        document,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids_are_slugs() {
        for good in ["terms", "privacy", "marketing-email", "t2"] {
            assert!(is_slug(good), "{good}");
        }
        for bad in [
            "",
            "-terms",
            "Terms",
            "terms of service",
            "terms/v2",
            &"x".repeat(65),
        ] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn document_urls_are_https_or_loopback_http() {
        assert!(check_url("https://example.com/terms#v3").is_ok());
        assert!(check_url("http://127.0.0.1:8080/terms").is_ok());
        for bad in [
            "http://example.com/terms",
            "javascript:alert(1)",
            "/terms",
            "https://user:pw@example.com/terms",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
