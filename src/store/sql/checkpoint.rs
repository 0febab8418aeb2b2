//! SQLite WAL checkpoints off the request path. By default SQLite checkpoints inside the commit that
//! takes the WAL past 1,000 pages: that one request copies pages into the database file and waits for
//! an fsync, a latency spike every few hundred writes under load. Instead, a background thread runs a
//! passive checkpoint (it never blocks readers or writers) a moment after the store was used, so the
//! WAL stays short; each connection's own automatic checkpoint is raised to a safety net
//! (`connection.rs`) that only a stalled thread would reach.
//!
//! The thread is a `background.rs` task: asleep while the store is idle.

use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::DbPool;
use super::background::Background;

/// How long after activity a checkpoint runs; under steady load, one checkpoint per pause.
const PAUSE: Duration = Duration::from_millis(200);

/// Starts the checkpoint thread for a SQLite pool; wake it at every connection checkout. A missed
/// checkpoint is only deferred: the next one, or the connections' safety net, copies the pages.
pub(super) fn start(pool: DbPool) -> Background {
    Background::start("checkpoint", PAUSE, move || {
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
            .map_err(|e| e.to_string())
    })
}
