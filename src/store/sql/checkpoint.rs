//! SQLite WAL checkpoints off the request path. By default SQLite checkpoints inside the commit that
//! takes the WAL past 1,000 pages: that one request copies pages into the database file and waits for
//! an fsync, a latency spike every few hundred writes under load. Instead, a background thread runs a
//! passive checkpoint (it never blocks readers or writers) a moment after the store was used, so the
//! WAL stays short; each connection's own automatic checkpoint is raised to a safety net
//! (`connection.rs`) that only a stalled thread would reach.
//!
//! The thread sleeps on a channel while the store is idle (no periodic wake-ups) and stops when the
//! last clone of the store is dropped.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::DbPool;

/// How long after activity a checkpoint runs; under steady load, one checkpoint per pause.
const PAUSE: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    pub(super) fn start(pool: DbPool) -> Self {
        let (wake, woken) = sync_channel(1);
        std::thread::Builder::new()
            .name("gatehouse-checkpoint".into())
            .spawn(move || checkpoint_loop(pool, woken))
            .expect("the checkpoint thread starts");
        Self { wake }
    }

    /// Called at every connection checkout: cheap, and coalesced (a wake already pending is enough).
    pub(super) fn wake(&self) {
        let _ = self.wake.try_send(());
    }
}

fn checkpoint_loop(pool: DbPool, woken: Receiver<()>) {
    while woken.recv().is_ok() {
        std::thread::sleep(PAUSE);
        // The store was dropped meanwhile (the process is shutting down, or a test ended and its
        // database is gone): leave the rest to the next process rather than reconnect to do it.
        if let Err(TryRecvError::Disconnected) = woken.try_recv() {
            return;
        }
        let result = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
            conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
                .map_err(|e| e.to_string())
        });
        // A missed checkpoint is only deferred: the next one, or the connections' safety net, copies
        // the pages.
        if let Err(e) = result {
            tracing::debug!(error = %e, "WAL checkpoint deferred");
        }
    }
}
