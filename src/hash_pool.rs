//! A bounded gate for password hashing. argon2id at OWASP parameters costs ~30 ms of CPU and 19 MiB
//! each; without a bound, a burst of sign-ins would occupy every blocking thread (and gigabytes of
//! memory) and starve token and database work. At most `threads` hashes run at once, at most `queue`
//! wait; beyond that the sign-in is refused as overloaded (503) instead of slowing everything down.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are waiting")]
pub struct Overloaded;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of hashing threads fed by a bounded queue. Hashing only on these threads also keeps
/// memory bounded: each thread reuses its allocator arena for the 19 MiB argon2 needs.
pub struct HashPool {
    jobs: SyncSender<Job>,
}

impl HashPool {
    pub fn new(threads: usize, queue: usize) -> Self {
        let (jobs, inbox) = sync_channel::<Job>(queue);
        let inbox = Arc::new(Mutex::new(inbox));
        for i in 0..threads.max(1) {
            let inbox = inbox.clone();
            std::thread::Builder::new()
                .name(format!("gatehouse-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    work(&inbox)
                })
                .expect("a hashing thread starts");
        }
        Self { jobs }
    }

    /// One thread per CPU core, 32 per core waiting.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self::new(cores, cores * 32)
    }

    /// Runs `f` on a hashing thread and waits for it, or refuses at once if the queue is full.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Overloaded> {
        let (reply, answer) = sync_channel(1);
        self.jobs
            .try_send(Box::new(move || {
                let _ = reply.send(f());
            }))
            .map_err(|_| Overloaded)?;
        answer.recv().map_err(|_| Overloaded)
    }
}

/// Hashing yields the CPU to everything else the server does: with sign-ins saturating the cores, a
/// token request still runs as soon as it arrives (the scheduler preempts a lower-priority thread),
/// and with nothing else to do hashing still gets whole cores. Nice 10 weighs ~1/10 of a normal
/// thread under contention (Linux `sched(7)`); other systems keep the default priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASH_NICE) {
        tracing::warn!(error = %e, "hashing threads keep the normal priority");
    }
}

#[cfg(target_os = "linux")]
const HASH_NICE: i32 = 10;

fn work(inbox: &Mutex<Receiver<Job>>) {
    loop {
        let job = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
        match job {
            // A panicking job loses only its own answer (the caller sees Overloaded).
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn at_most_concurrent_run_and_a_full_queue_is_refused() {
        let pool = Arc::new(HashPool::new(2, 1));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (pool, running, peak, refused) =
                    (pool.clone(), running.clone(), peak.clone(), refused.clone());
                std::thread::spawn(move || {
                    let (running, peak) = (running.clone(), peak.clone());
                    let outcome = pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        running.fetch_sub(1, Ordering::SeqCst);
                    });
                    if outcome.is_err() {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert!(
            refused.load(Ordering::SeqCst) >= 1,
            "8 callers for 2 slots and 1 queue place"
        );
        assert_eq!(pool.run(|| 7), Ok(7), "slots are given back");
    }
}
