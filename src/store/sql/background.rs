//! A store's background task (the PostgreSQL audit outbox's chaining, SQLite's WAL checkpoints): a
//! thread that runs the task a pause after it is woken, every wake during the pause served by that one
//! run. While the store is idle the thread sleeps on a channel (no periodic wake-ups); it stops when
//! the last handle is dropped.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

#[derive(Clone)]
pub(super) struct Background {
    wake: SyncSender<()>,
}

impl Background {
    /// Starts the thread; `task` returns an error to log, and a failed run is simply retried at the
    /// next wake.
    pub(super) fn start(
        name: &str,
        pause: Duration,
        task: impl FnMut() -> Result<(), String> + Send + 'static,
    ) -> Self {
        let (wake, woken) = sync_channel(1);
        let thread = name.to_string();
        std::thread::Builder::new()
            .name(format!("gatehouse-{name}"))
            .spawn(move || run(&thread, pause, woken, task))
            .expect("a store background thread starts");
        Self { wake }
    }

    /// Cheap and coalesced: a wake already pending is followed by a run that sees what this one
    /// announces.
    pub(super) fn wake(&self) {
        // Disconnected: the thread has stopped, which happens only when the process is ending.
        let _ = self.wake.try_send(());
    }
}

fn run(name: &str, pause: Duration, woken: Receiver<()>, mut task: impl FnMut() -> Result<(), String>) {
    while woken.recv().is_ok() {
        std::thread::sleep(pause);
        // The store was dropped meanwhile (the process is shutting down, or a test ended and its
        // database is gone): leave the rest to the next process rather than reconnect to do it.
        if let Err(TryRecvError::Disconnected) = woken.try_recv() {
            return;
        }
        if let Err(e) = task() {
            tracing::warn!(task = name, error = %e, "a store background task failed; it runs again at the next wake");
        }
    }
}
