//! A bounded gate for password hashing. argon2id at OWASP parameters costs ~30 ms of CPU and 19 MiB
//! each; without a bound, a burst of sign-ins would occupy every blocking thread (and gigabytes of
//! memory) and starve token and database work. At most `concurrent` hashes run at once, at most `queue`
//! wait; beyond that the sign-in is refused as overloaded (503) instead of slowing everything down.

use std::sync::{Condvar, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are waiting")]
pub struct Overloaded;

pub struct HashPool {
    state: Mutex<(usize, usize)>,
    freed: Condvar,
    concurrent: usize,
    queue: usize,
}

impl HashPool {
    pub fn new(concurrent: usize, queue: usize) -> Self {
        Self {
            state: Mutex::new((0, 0)),
            freed: Condvar::new(),
            concurrent: concurrent.max(1),
            queue,
        }
    }

    /// One per CPU core running, 32 per core waiting.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self::new(cores, cores * 32)
    }

    /// Runs `f` when a slot is free, or refuses at once if the queue is full.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T, Overloaded> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 >= self.concurrent {
            if state.1 >= self.queue {
                return Err(Overloaded);
            }
            state.1 += 1;
            while state.0 >= self.concurrent {
                state = self.freed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state.1 -= 1;
        }
        state.0 += 1;
        drop(state);
        let _slot = Slot(self);
        Ok(f())
    }
}

/// Frees the slot even if `f` panics.
struct Slot<'a>(&'a HashPool);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 -= 1;
        drop(state);
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
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
                    let outcome = pool.run(|| {
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
