//! The diesel implementation of every store trait, one code path for SQLite and PostgreSQL
//! (`#[derive(MultiConnection)]`), the backend chosen by the URL scheme. Calls block: the web layer runs
//! flows on the blocking pool.

/// Runs `$body` with `$c` bound to the concrete SQLite or PostgreSQL connection. For the queries on
/// every token request: through the `MultiConnection` wrapper diesel re-serialises each query to decide
/// whether and under which key to cache its prepared statement (~5 µs a query, found by profiling);
/// on the concrete connection the query's type is the key and nothing is re-built.
macro_rules! per_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::sql::DbConnection::Sqlite($c) => $body,
            $crate::store::sql::DbConnection::Pg($c) => $body,
        }
    };
}

mod accounts;
mod audit;
mod audit_outbox;
mod background;
mod checkpoint;
mod connection;
mod consents;
mod email_codes;
mod factors;
mod federation;
mod grants;
mod keys;
mod organizations;
mod passkeys;
mod policies;
mod preferences;
mod rows;
pub mod schema;
mod sessions;
mod tables;

pub use connection::{Backend, DbConnection, DbPool, Manager, connect};

use std::ops::{Deref, DerefMut};

use diesel::r2d2::PooledConnection;

use super::StoreError;
use background::Background;

/// The SQL store: a connection pool, so any number of replicas can share a database, and one
/// background thread: on PostgreSQL the one that chains the audit outbox (`audit_outbox.rs`), on SQLite
/// the one that checkpoints the WAL (`checkpoint.rs`).
#[derive(Clone)]
pub struct SqlStore {
    pool: DbPool,
    outbox: Option<Background>,
    checkpointer: Option<Background>,
}

impl SqlStore {
    /// Opens the database at `url` (see [`connect`]).
    pub fn open(url: &str, max_connections: u32) -> Result<Self, String> {
        let pool = connect(url, max_connections)?;
        let (outbox, checkpointer) = match Backend::from_url(url)? {
            Backend::Postgres(_) => (Some(audit_outbox::start(pool.clone())), None),
            Backend::Sqlite(_) => (None, Some(checkpoint::start(pool.clone()))),
        };
        Ok(Self {
            pool,
            outbox,
            checkpointer,
        })
    }

    /// To call after a transaction that recorded audit events with `record_in` has ended.
    fn audit_recorded(&self) {
        if let Some(outbox) = &self.outbox {
            outbox.wake();
        }
    }

    fn conn(&self) -> Result<Conn, StoreError> {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.wake();
        }
        self.pool.get().map(Conn).map_err(|e| {
            connection::note_failure();
            StoreError::Unavailable(e.to_string())
        })
    }
}

/// A connection checked out of the pool; it goes back when dropped.
pub(super) struct Conn(PooledConnection<Manager>);

impl Deref for Conn {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.0
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.0
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        // Expected refusals say nothing about the connection; anything else may mean it is gone.
        if !matches!(
            e,
            Error::NotFound | Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
        ) {
            connection::note_failure();
        }
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_string())
            }
            // The server went away (restart, failover, `pg_terminate_backend`): 503, and the pool
            // replaces the connection at its next checkout.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_string()),
            // SQLite still locked after busy_timeout: overloaded, not broken; retrying later helps.
            Error::DatabaseError(_, info) if info.message().contains("database is locked") => {
                StoreError::Unavailable(info.message().to_string())
            }
            other => StoreError::Database(other.to_string()),
        }
    }
}
