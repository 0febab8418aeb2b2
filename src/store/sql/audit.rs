//! The audit chain in SQL. Every append first takes SQLite's write lock (the writer's own transaction
//! begins IMMEDIATE; inside a grant's transaction the head row is updated) or PostgreSQL's row lock on
//! the head: appends from every replica are serialised and the chain stays linear.

use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};

use super::audit_outbox::{chain_locked, chain_waiting};
use super::schema::{audit_events, audit_head};
use super::{DbConnection, SqlStore};
use crate::audit::{AuditEvent, AuditRecord, Outcome, chain_hash};
use crate::store::{AuditStore, StoreError};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
struct AuditRow {
    seq: i64,
    at: i64,
    event: String,
    outcome: String,
    actor: Option<String>,
    subject: Option<String>,
    client_id: Option<String>,
    organization: Option<String>,
    ip: Option<String>,
    request_id: Option<String>,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl AuditRow {
    fn new(seq: i64, event: &AuditEvent, prev_hash: &str, hash: String) -> Self {
        Self {
            seq,
            at: event.at,
            event: event.event.clone(),
            outcome: event.outcome.as_str().to_string(),
            actor: event.actor.clone(),
            subject: event.subject.clone(),
            client_id: event.client_id.clone(),
            organization: event.organization.clone(),
            ip: event.ip.clone(),
            request_id: event.request_id.clone(),
            detail: event.detail.to_string(),
            prev_hash: prev_hash.to_string(),
            hash,
        }
    }

    /// Every column, absent ones bound as NULL rather than left out: one SQL text whatever the
    /// record, so the prepared statement is cached (see `append_locked`).
    #[allow(clippy::type_complexity)]
    fn columns(
        &self,
    ) -> (
        diesel::dsl::Eq<audit_events::seq, i64>,
        diesel::dsl::Eq<audit_events::at, i64>,
        diesel::dsl::Eq<audit_events::event, &str>,
        diesel::dsl::Eq<audit_events::outcome, &str>,
        diesel::dsl::Eq<audit_events::actor, Option<&str>>,
        diesel::dsl::Eq<audit_events::subject, Option<&str>>,
        diesel::dsl::Eq<audit_events::client_id, Option<&str>>,
        diesel::dsl::Eq<audit_events::organization, Option<&str>>,
        diesel::dsl::Eq<audit_events::ip, Option<&str>>,
        diesel::dsl::Eq<audit_events::request_id, Option<&str>>,
        diesel::dsl::Eq<audit_events::detail, &str>,
        diesel::dsl::Eq<audit_events::prev_hash, &str>,
        diesel::dsl::Eq<audit_events::hash, &str>,
    ) {
        (
            audit_events::seq.eq(self.seq),
            audit_events::at.eq(self.at),
            audit_events::event.eq(self.event.as_str()),
            audit_events::outcome.eq(self.outcome.as_str()),
            audit_events::actor.eq(self.actor.as_deref()),
            audit_events::subject.eq(self.subject.as_deref()),
            audit_events::client_id.eq(self.client_id.as_deref()),
            audit_events::organization.eq(self.organization.as_deref()),
            audit_events::ip.eq(self.ip.as_deref()),
            audit_events::request_id.eq(self.request_id.as_deref()),
            audit_events::detail.eq(self.detail.as_str()),
            audit_events::prev_hash.eq(self.prev_hash.as_str()),
            audit_events::hash.eq(self.hash.as_str()),
        )
    }

    fn into_record(self) -> AuditRecord {
        AuditRecord {
            seq: self.seq,
            event: AuditEvent {
                at: self.at,
                event: self.event,
                outcome: if self.outcome == "success" {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
                actor: self.actor,
                subject: self.subject,
                client_id: self.client_id,
                organization: self.organization,
                ip: self.ip,
                request_id: self.request_id,
                // Unparseable detail cannot reproduce its hash: verification reports the record.
                detail: serde_json::from_str(&self.detail).unwrap_or(serde_json::Value::String(self.detail)),
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// Appends events to the chain inside the caller's transaction, so that a state change and its record
/// commit together (or not at all). The head row is locked first (see the module comment).
pub(super) fn append_in(conn: &mut DbConnection, events: &[AuditEvent]) -> Result<(), diesel::result::Error> {
    if events.is_empty() {
        return Ok(());
    }
    lock_head(conn)?;
    append_locked(conn, events)
}

/// Takes the chain head's lock for the rest of the transaction: SQLite's write lock, or PostgreSQL's
/// row lock (an update rather than `FOR UPDATE`, which SQLite lacks).
pub(super) fn lock_head(conn: &mut DbConnection) -> Result<(), diesel::result::Error> {
    per_backend!(conn, c => diesel::update(audit_head::table.find(1))
        .set(audit_head::seq.eq(audit_head::seq))
        .execute(c))?;
    Ok(())
}

/// Appends after the head, which the caller has locked.
pub(super) fn append_locked(
    conn: &mut DbConnection,
    events: &[AuditEvent],
) -> Result<(), diesel::result::Error> {
    match conn {
        DbConnection::Sqlite(c) => append_locked_sqlite(c, events),
        DbConnection::Pg(c) => append_locked_pg(c, events),
    }
}

/// In-process, so round trips cost nothing: only statements diesel prepares once per connection and
/// keeps (it re-prepares every UPDATE and multi-row insert), the insert run once per event.
fn append_locked_sqlite(
    c: &mut SqliteConnection,
    events: &[AuditEvent],
) -> Result<(), diesel::result::Error> {
    let head = audit_head::table
        .find(1)
        .select((audit_head::seq, audit_head::hash))
        .first(c)?;
    let (rows, (seq, hash)) = chained(head, events);
    for row in &rows {
        diesel::insert_into(audit_events::table)
            .values(row.columns())
            .execute(c)?;
    }
    diesel::replace_into(audit_head::table)
        .values((
            audit_head::id.eq(1),
            audit_head::seq.eq(seq),
            audit_head::hash.eq(&hash),
        ))
        .execute(c)?;
    Ok(())
}

/// Over the network: one statement per chunk of events instead of one round trip per event.
fn append_locked_pg(c: &mut PgConnection, events: &[AuditEvent]) -> Result<(), diesel::result::Error> {
    let head = audit_head::table
        .find(1)
        .select((audit_head::seq, audit_head::hash))
        .first(c)?;
    let (rows, (seq, hash)) = chained(head, events);
    for chunk in rows.chunks(100) {
        diesel::insert_into(audit_events::table)
            .values(chunk)
            .execute(c)?;
    }
    diesel::update(audit_head::table.find(1))
        .set((audit_head::seq.eq(seq), audit_head::hash.eq(&hash)))
        .execute(c)?;
    Ok(())
}

/// The rows that chain `events` after `head` (its sequence number and hash), and the new head.
fn chained((mut seq, mut prev): (i64, String), events: &[AuditEvent]) -> (Vec<AuditRow>, (i64, String)) {
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let hash = chain_hash(&prev, seq, event);
        rows.push(AuditRow::new(seq, event, &prev, hash.clone()));
        prev = hash;
    }
    (rows, (seq, prev))
}

type NotAClient = diesel::expression::SqlLiteral<diesel::sql_types::Bool>;
type ActorIs = diesel::dsl::Eq<audit_events::actor, String>;
type PersonFilter = diesel::dsl::Or<
    diesel::dsl::Or<diesel::dsl::And<ActorIs, NotAClient>, diesel::dsl::And<ActorIs, NotAClient>>,
    diesel::dsl::Eq<audit_events::subject, String>,
>;

/// The records a person acted in (`<id>` or `user:<id>`) or that concern them, found through the
/// actor and subject indexes (migration 16).
fn of_person(user_id: &str) -> PersonFilter {
    (audit_events::actor.eq(user_id.to_string()).and(not_a_client()))
        .or(audit_events::actor
            .eq(format!("user:{user_id}"))
            .and(not_a_client()))
        .or(audit_events::subject.eq(user_id.to_string()))
}

/// The condition of the partial actor index, repeated so that the index applies: as literal SQL, since
/// neither SQLite nor PostgreSQL matches a bound parameter against an index's condition. A person's id
/// never starts with `client:`, so the answer is the same.
fn not_a_client() -> NotAClient {
    diesel::dsl::sql("audit_events.actor NOT LIKE 'client:%'")
}

impl SqlStore {
    /// A connection on which the log holds every committed record: what waits in the outbox
    /// (PostgreSQL) is chained first.
    fn readable_log(&self) -> Result<super::Conn, StoreError> {
        let mut conn = self.conn()?;
        chain_waiting(&mut conn)?;
        Ok(conn)
    }
}

impl AuditStore for SqlStore {
    fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        match &mut *self.conn()? {
            // BEGIN IMMEDIATE takes the write lock, as `lock_head` would, without a statement.
            DbConnection::Sqlite(c) => c.immediate_transaction(|c| append_locked_sqlite(c, events))?,
            conn @ DbConnection::Pg(_) => conn.transaction(|conn| {
                // After what waits in the outbox, which committed first (audit_outbox.rs).
                lock_head(conn)?;
                chain_locked(conn)?;
                append_locked(conn, events)
            })?,
        }
        Ok(())
    }

    fn audit_page(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let mut conn = self.readable_log()?;
        let rows = audit_events::table
            .filter(audit_events::seq.gt(after_seq))
            .order(audit_events::seq.asc())
            .limit(limit)
            .select(AuditRow::as_select())
            .load(&mut *conn)?;
        Ok(rows.into_iter().map(AuditRow::into_record).collect())
    }

    fn audit_page_for(
        &self,
        organization_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut conn = self.readable_log()?;
        let rows = audit_events::table
            .filter(audit_events::seq.gt(after_seq))
            .filter(audit_events::organization.eq(organization_id))
            .order(audit_events::seq.asc())
            .limit(limit)
            .select(AuditRow::as_select())
            .load(&mut *conn)?;
        Ok(rows.into_iter().map(AuditRow::into_record).collect())
    }

    fn audit_for_user(&self, user_id: &str, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let mut conn = self.readable_log()?;
        let rows = audit_events::table
            .filter(of_person(user_id))
            .order(audit_events::seq.desc())
            .limit(limit)
            .select(AuditRow::as_select())
            .load(&mut *conn)?;
        Ok(rows.into_iter().map(AuditRow::into_record).collect())
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::sqlite::SqliteConnection;
    use diesel_migrations::MigrationHarness;

    use super::*;
    use crate::audit::{kind, verify_chain};

    /// The SQLite rebuild (migration 13, seq as rowid, no unused indexes) keeps every record and the
    /// chain, and appends continue it.
    #[test]
    fn the_rowid_rebuild_keeps_the_chain() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        use super::super::connection::SQLITE_MIGRATIONS as migrations;
        while conn.applied_migrations().unwrap().len() < 12 {
            conn.run_next_migration(migrations).unwrap();
        }
        let mut prev = String::new();
        let mut rows = Vec::new();
        for seq in 1..=3 {
            let event =
                AuditEvent::new(kind::SIGN_IN, Outcome::Success, 1_000 + seq).subject(format!("u{seq}"));
            let hash = chain_hash(&prev, seq, &event);
            rows.push(AuditRow::new(seq, &event, &prev, hash.clone()));
            prev = hash;
        }
        diesel::insert_into(audit_events::table)
            .values(&rows)
            .execute(&mut conn)
            .unwrap();

        conn.run_pending_migrations(migrations).unwrap();

        let records: Vec<AuditRecord> = audit_events::table
            .order(audit_events::seq.asc())
            .select(AuditRow::as_select())
            .load(&mut conn)
            .unwrap()
            .into_iter()
            .map(AuditRow::into_record)
            .collect();
        assert_eq!(verify_chain(records), Ok(3));
        let indexes: String = diesel::dsl::sql::<diesel::sql_types::Text>(
            "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = 'audit_events' ORDER BY name)",
        )
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(
            indexes, "audit_events_actor audit_events_subject",
            "seq is the rowid (no index of its own); only a person's records are indexed (migration 16)"
        );
        conn.batch_execute("INSERT INTO audit_events (seq, at, event, outcome, detail, prev_hash, hash) VALUES (3, 0, 'x', 'success', '{}', '', '')")
            .expect_err("seq stays unique");
    }

    /// A person's lookup (account page, data export) searches the indexes: it never reads the whole
    /// log, however long. Checked with SQLite's plan for the very query the store runs.
    #[test]
    fn a_persons_records_are_found_without_scanning_the_log() {
        #[derive(QueryableByName)]
        struct Step {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        use super::super::connection::SQLITE_MIGRATIONS as migrations;
        conn.run_pending_migrations(migrations).unwrap();
        let query = audit_events::table
            .filter(of_person("u1"))
            .order(audit_events::seq.desc())
            .limit(5)
            .select(audit_events::seq);
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&query).to_string();
        let sql = sql.split(" -- binds:").next().unwrap();

        let plan: Vec<String> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<Step>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|s| s.detail)
            .collect();

        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN audit_events")),
            "{plan:?}"
        );
        for index in ["audit_events_actor", "audit_events_subject"] {
            assert!(plan.iter().any(|step| step.contains(index)), "{index}: {plan:?}");
        }
    }
}
