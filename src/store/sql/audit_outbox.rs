//! The audit outbox (PostgreSQL). A state change's records are inserted into `audit_outbox` in its own
//! transaction: durable at its commit, and no lock shared with other transactions. Chaining them in
//! that transaction instead would hold the chain head's row lock until the commit, so every sign-in,
//! code exchange and refresh would commit (and flush) one behind the other (BENCHMARKS.md, session 6).
//!
//! A background thread (`background.rs`), woken after such a commit, waits a moment (`PAUSE`) and
//! moves what waits into the chain, locking the head once for all of it. Reads of the log, and every
//! direct append, chain what waits first: a reader sees every committed record, and chain order
//! follows commit order. Records left by a replica that stopped are chained by the next wake or read.
//!
//! SQLite has one writer at a time and nothing to gain: there, records chain in the transaction.

use diesel::prelude::*;

use super::audit::{append_in, append_locked, lock_head};
use super::background::Background;
use super::schema::audit_outbox;
use super::{DbConnection, DbPool};
use crate::audit::{AuditEvent, Outcome};

/// Records read and chained per statement batch.
const BATCH: i64 = 512;

/// How long after a grant's commit its records are chained (reads of the log chain at once): every
/// grant committed meanwhile is chained in the same transaction, so chaining costs about one write
/// transaction per pause however many grants there are.
const PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Records a state change's events inside its transaction: chained at once on SQLite, put in the
/// outbox on PostgreSQL. Call `SqlStore::audit_recorded` once the transaction has ended.
pub(super) fn record_in(conn: &mut DbConnection, events: &[AuditEvent]) -> Result<(), diesel::result::Error> {
    match conn {
        DbConnection::Sqlite(_) => append_in(conn, events),
        DbConnection::Pg(c) => {
            let rows: Vec<_> = events
                .iter()
                .map(|e| audit_outbox::event.eq(serde_json::to_string(e).expect("audit events serialise")))
                .collect();
            if !rows.is_empty() {
                diesel::insert_into(audit_outbox::table).values(rows).execute(c)?;
            }
            Ok(())
        }
    }
}

/// Chains everything waiting in the outbox, oldest first; returns how many records it moved.
pub(super) fn chain_waiting(conn: &mut DbConnection) -> Result<usize, diesel::result::Error> {
    let DbConnection::Pg(c) = conn else {
        return Ok(0);
    };
    // Most calls find nothing: answer them without taking the head lock.
    if !diesel::select(diesel::dsl::exists(audit_outbox::table.select(audit_outbox::id)))
        .get_result::<bool>(c)?
    {
        return Ok(0);
    }
    conn.transaction(|conn| {
        lock_head(conn)?;
        chain_locked(conn)
    })
}

/// Inside a transaction that holds the head lock (PostgreSQL): moves every waiting record into the
/// chain. Every append calls this first, so a record is chained after those its transaction saw
/// committed, whichever path they took. The head lock serialises chaining across threads and
/// replicas, the outbox is read after it is taken (each statement has a fresh snapshot under READ
/// COMMITTED: rows another chainer took are gone), and rows are deleted in the transaction that
/// chains them: each record is chained exactly once.
pub(super) fn chain_locked(conn: &mut DbConnection) -> Result<usize, diesel::result::Error> {
    let mut moved = 0;
    loop {
        let rows: Vec<(i64, String)> = audit_outbox::table
            .order(audit_outbox::id.asc())
            .limit(BATCH)
            .select((audit_outbox::id, audit_outbox::event))
            .load(conn)?;
        if rows.is_empty() {
            return Ok(moved);
        }
        let events: Vec<AuditEvent> = rows.iter().map(|(_, raw)| parse(raw)).collect();
        append_locked(conn, &events)?;
        let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        diesel::delete(audit_outbox::table.filter(audit_outbox::id.eq_any(&ids))).execute(conn)?;
        moved += rows.len();
        if rows.len() < BATCH as usize {
            return Ok(moved);
        }
    }
}

/// An outbox row is written by `record_in`; one that no longer parses (altered in the database) is
/// chained as a failure carrying its text, rather than blocking every record behind it.
fn parse(raw: &str) -> AuditEvent {
    serde_json::from_str(raw).unwrap_or_else(|_| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        AuditEvent::new("audit.outbox_unreadable", Outcome::Failure, now)
            .detail(serde_json::Value::String(raw.to_string()))
    })
}

/// Starts the chaining thread for a PostgreSQL pool; wake it after a transaction that may have put
/// records in the outbox has ended. It first chains what an earlier process left; records it cannot
/// chain yet stay in the outbox, durable, for the next wake or read of the log.
pub(super) fn start(pool: DbPool) -> Background {
    let outbox = Background::start("audit-outbox", PAUSE, move || {
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        chain_waiting(&mut conn).map(|_| ()).map_err(|e| e.to_string())
    });
    outbox.wake();
    outbox
}
