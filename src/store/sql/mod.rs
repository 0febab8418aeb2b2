//! The diesel implementation of every store trait, one code path for SQLite and PostgreSQL
//! (`#[derive(MultiConnection)]`), the backend chosen by the URL scheme. Calls block: the web layer runs
//! flows on the blocking pool.

mod accounts;
mod audit;
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

use diesel::r2d2::PooledConnection;

use super::StoreError;

/// The SQL store: a connection pool and nothing else, so any number of replicas can share a database.
#[derive(Clone)]
pub struct SqlStore {
    pool: DbPool,
}

impl SqlStore {
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
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
