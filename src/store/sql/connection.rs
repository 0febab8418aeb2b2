//! Connections and the pool: backend by URL scheme, SQLite pragmas on every connection, embedded
//! migrations per backend.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub(super) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

pub type DbPool = Pool<Manager>;

/// A pooled connection and what is known of its health, so that a checkout need not ask the server
/// every time (on PostgreSQL a `SELECT 1` per checkout is a network round trip per query).
pub struct Tracked {
    conn: DbConnection,
    /// When it last went back to the pool.
    returned_at: Instant,
    /// `FAILURES` when it was last known good.
    checked_at_failure: u64,
}

impl Tracked {
    fn new(conn: DbConnection) -> Self {
        Self {
            conn,
            returned_at: Instant::now(),
            checked_at_failure: FAILURES.load(Ordering::Relaxed),
        }
    }

    /// Used within the last moment and no query anywhere has failed since it was last checked: the
    /// server is assumed to still be there. Any failure, or a longer rest, means it is asked again.
    fn recently_good(&self) -> bool {
        const FRESH: Duration = Duration::from_secs(1);
        self.checked_at_failure == FAILURES.load(Ordering::Relaxed) && self.returned_at.elapsed() < FRESH
    }
}

impl Deref for Tracked {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl DerefMut for Tracked {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Counts failed queries (see `note_failure`): after one, every pooled connection is checked with the
/// server at its next checkout, so connections a restart or failover killed are replaced.
static FAILURES: AtomicU64 = AtomicU64::new(0);

/// A query failed in a way that may mean the connection is gone.
pub fn note_failure() {
    FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// Which database a URL names. Anything else is refused with a message naming the scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite(String),
    Postgres(String),
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite URL needs a path, e.g. sqlite://data/gatehouse.db".into());
            }
            Ok(Backend::Sqlite(path.to_string()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres(url.to_string()))
        } else {
            Err("database.url must start with sqlite:// or postgres://".into())
        }
    }
}

/// An r2d2 manager that opens the right backend and applies SQLite's per-connection pragmas.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
}

impl ManageConnection for Manager {
    type Connection = Tracked;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Tracked, r2d2::Error> {
        self.open().map(Tracked::new)
    }

    /// Run at every checkout. An open SQLite connection keeps working on a file that was moved or
    /// deleted (the inode lives on), so it is dropped as soon as the path no longer names a file. A
    /// PostgreSQL connection is asked `SELECT 1` unless it is known good (`Tracked::recently_good`);
    /// a SQLite connection cannot lose its server.
    fn is_valid(&self, conn: &mut Tracked) -> Result<(), r2d2::Error> {
        match &self.backend {
            Backend::Sqlite(path) if !Path::new(path).is_file() => Err(r2d2::Error::ConnectionError(
                ConnectionError::BadConnection(format!("{path} is gone")),
            )),
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(_) if conn.recently_good() => Ok(()),
            Backend::Postgres(_) => {
                let failures = FAILURES.load(Ordering::Relaxed);
                conn.conn
                    .batch_execute("SELECT 1")
                    .map_err(r2d2::Error::QueryError)?;
                conn.checked_at_failure = failures;
                Ok(())
            }
        }
    }

    /// Run when a connection goes back to the pool.
    fn has_broken(&self, conn: &mut Tracked) -> bool {
        conn.returned_at = Instant::now();
        false
    }
}

impl Manager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.backend {
            Backend::Sqlite(path) => {
                // `mode=rw`: the file was created at start; if it has gone since, the database is down
                // (503) until it is back, never silently re-created empty.
                let mut conn = SqliteConnection::establish(&sqlite_uri(path, "rw"))
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the one writer; busy_timeout makes writers queue
                // instead of failing; foreign keys are off by default in SQLite. Checkpoints run in
                // the background (checkpoint.rs): a commit checkpoints only past 8,000 pages (32 MiB
                // of WAL at the default 4 KiB page; SQLite's default is 1,000), should that thread
                // fall behind.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA wal_autocheckpoint = 8000;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            Backend::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Pg)
                .map_err(r2d2::Error::ConnectionError),
        }
    }
}

/// A SQLite URI filename for `path` (`?`, `#` and `%` escaped) opened with `mode`.
fn sqlite_uri(path: &str, mode: &str) -> String {
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%').add(b'?').add(b'#');
    format!(
        "file:{}?mode={mode}",
        percent_encoding::utf8_percent_encode(path, PATH)
    )
}

/// Opens a pool for `url`, creating the SQLite file and its folder, and applies pending migrations.
pub fn connect(url: &str, max_connections: u32) -> Result<DbPool, String> {
    let backend = Backend::from_url(url)?;
    if let Backend::Sqlite(path) = &backend {
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        SqliteConnection::establish(&sqlite_uri(path, "rwc"))
            .map_err(|e| format!("cannot open the database: {e}"))?;
    }
    let pool = Pool::builder()
        .max_size(max_connections)
        .min_idle(Some(1))
        .connection_timeout(std::time::Duration::from_secs(5))
        .build(Manager { backend })
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let mut conn = pool.get().map_err(|e| format!("cannot open the database: {e}"))?;
    run_migrations(&mut conn)?;
    Ok(pool)
}

fn run_migrations(conn: &mut DbConnection) -> Result<(), String> {
    let result = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConnection::Pg(c) => {
            // Replicas starting together must not race each other through the migrations.
            c.batch_execute("SELECT pg_advisory_lock(7210417)")
                .map_err(|e| format!("migration lock: {e}"))?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            let _ = c.batch_execute("SELECT pg_advisory_unlock(7210417)");
            result
        }
    };
    result.map_err(|e| format!("migration failed: {e}"))
}

impl From<ConnectionError> for crate::store::StoreError {
    fn from(e: ConnectionError) -> Self {
        crate::store::StoreError::Unavailable(e.to_string())
    }
}
