//! Consent documents, their versions, and the append-only consent records.

use diesel::prelude::*;

use super::SqlStore;
use super::schema::{
    consent_document_versions as versions, consent_documents as documents, consent_records as records,
};
use crate::store::{
    ConsentAction, ConsentDocument, ConsentDocumentStore, ConsentDocumentVersion, ConsentMethod,
    ConsentPurpose, ConsentRecord, ConsentRecordFilter, NewConsentRecord, StoreError,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = documents)]
struct DocumentRow {
    id: String,
    title: String,
    purpose: String,
    required: bool,
    created_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = versions)]
struct VersionRow {
    document_id: String,
    version: i64,
    url: String,
    summary: String,
    reconsent_required: bool,
    published_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = records)]
struct RecordRow {
    id: i64,
    user_id: String,
    document_id: String,
    version: i64,
    action: String,
    at: i64,
    method: String,
    client_id: Option<String>,
    region: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = records)]
struct NewRecordRow<'a> {
    user_id: &'a str,
    document_id: &'a str,
    version: i64,
    action: &'static str,
    at: i64,
    method: &'static str,
    client_id: Option<&'a str>,
    region: Option<&'a str>,
}

/// A stored value this version does not know: the database was written by something else.
fn unknown(what: &str, value: &str) -> StoreError {
    StoreError::Database(format!("unknown consent {what} `{value}` in the database"))
}

fn document(r: DocumentRow) -> Result<ConsentDocument, StoreError> {
    Ok(ConsentDocument {
        purpose: ConsentPurpose::parse(&r.purpose).ok_or_else(|| unknown("purpose", &r.purpose))?,
        id: r.id,
        title: r.title,
        required: r.required,
        created_at: r.created_at,
    })
}

fn version(r: VersionRow) -> ConsentDocumentVersion {
    ConsentDocumentVersion {
        document_id: r.document_id,
        version: r.version,
        url: r.url,
        summary: r.summary,
        reconsent_required: r.reconsent_required,
        published_at: r.published_at,
    }
}

fn record(r: RecordRow) -> Result<ConsentRecord, StoreError> {
    Ok(ConsentRecord {
        action: ConsentAction::parse(&r.action).ok_or_else(|| unknown("action", &r.action))?,
        method: ConsentMethod::parse(&r.method).ok_or_else(|| unknown("method", &r.method))?,
        id: r.id,
        user_id: r.user_id,
        document_id: r.document_id,
        version: r.version,
        at: r.at,
        client_id: r.client_id,
        region: r.region,
    })
}

impl ConsentDocumentStore for SqlStore {
    fn create_consent_document(&self, d: &ConsentDocument) -> Result<(), StoreError> {
        diesel::insert_into(documents::table)
            .values(DocumentRow {
                id: d.id.clone(),
                title: d.title.clone(),
                purpose: d.purpose.as_str().to_string(),
                required: d.required,
                created_at: d.created_at,
            })
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn find_consent_document(&self, id: &str) -> Result<Option<ConsentDocument>, StoreError> {
        let row = documents::table
            .find(id)
            .select(DocumentRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        row.map(document).transpose()
    }

    fn list_consent_documents(&self) -> Result<Vec<ConsentDocument>, StoreError> {
        let rows = per_backend!(&mut *self.conn()?, c => documents::table
            .order((documents::created_at.asc(), documents::id.asc()))
            .select(DocumentRow::as_select())
            .load(c))?;
        rows.into_iter().map(document).collect()
    }

    fn publish_consent_version(
        &self,
        document_id: &str,
        url: &str,
        summary: &str,
        reconsent_required: bool,
        now: i64,
    ) -> Result<ConsentDocumentVersion, StoreError> {
        let row = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let latest: Option<i64> = versions::table
                .filter(versions::document_id.eq(document_id))
                .select(diesel::dsl::max(versions::version))
                .first(conn)?;
            let row = VersionRow {
                document_id: document_id.to_string(),
                version: latest.unwrap_or(0) + 1,
                url: url.to_string(),
                summary: summary.to_string(),
                reconsent_required,
                published_at: now,
            };
            diesel::insert_into(versions::table).values(&row).execute(conn)?;
            Ok(row)
        })?;
        Ok(version(row))
    }

    fn list_consent_versions(
        &self,
        document_id: Option<&str>,
    ) -> Result<Vec<ConsentDocumentVersion>, StoreError> {
        let mut query = versions::table
            .order((versions::document_id.asc(), versions::version.asc()))
            .select(VersionRow::as_select())
            .into_boxed();
        if let Some(id) = document_id {
            query = query.filter(versions::document_id.eq(id.to_string()));
        }
        Ok(query.load(&mut *self.conn()?)?.into_iter().map(version).collect())
    }

    fn append_consent_records(&self, new: &[NewConsentRecord]) -> Result<(), StoreError> {
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            for r in new {
                diesel::insert_into(records::table)
                    .values(NewRecordRow {
                        user_id: &r.user_id,
                        document_id: &r.document_id,
                        version: r.version,
                        action: r.action.as_str(),
                        at: r.at,
                        method: r.method.as_str(),
                        client_id: r.client_id.as_deref(),
                        region: r.region.as_deref(),
                    })
                    .execute(conn)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn list_user_consent_records(&self, user_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        let rows = per_backend!(&mut *self.conn()?, c => records::table
            .filter(records::user_id.eq(user_id))
            .order(records::id.asc())
            .select(RecordRow::as_select())
            .load(c))?;
        rows.into_iter().map(record).collect()
    }

    fn list_consent_records(
        &self,
        filter: &ConsentRecordFilter,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ConsentRecord>, StoreError> {
        let mut query = records::table
            .filter(records::id.gt(after_id))
            .order(records::id.asc())
            .limit(limit)
            .select(RecordRow::as_select())
            .into_boxed();
        if let Some(user) = &filter.user_id {
            query = query.filter(records::user_id.eq(user.clone()));
        }
        if let Some(document) = &filter.document_id {
            query = query.filter(records::document_id.eq(document.clone()));
        }
        if let Some(since) = filter.since {
            query = query.filter(records::at.ge(since));
        }
        query.load(&mut *self.conn()?)?.into_iter().map(record).collect()
    }

    fn anonymise_consent_records(&self, user_id: &str, pseudonym: &str) -> Result<usize, StoreError> {
        let n = diesel::update(records::table.filter(records::user_id.eq(user_id)))
            .set(records::user_id.eq(pseudonym))
            .execute(&mut *self.conn()?)?;
        Ok(n)
    }
}
