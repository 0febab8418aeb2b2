//! The two load phases over a set of workers (one connection each):
//! - saturation (closed loop): every worker sends its next operation as soon as the last one answered,
//!   for a fixed time; gives throughput and, with the server's CPU time, operations per server-CPU-second;
//! - fixed arrival rate (open loop): a dispatcher thread releases operations on a fixed schedule and the
//!   latency of each is measured from its *intended* start, so time spent queued behind a slow answer is
//!   counted (no coordinated omission).

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::scenarios::{Outcome, Worker};
use crate::server::{Server, own_cpu_seconds};

/// A phase's extra time to finish the operations already in flight (each has its own timeout).
const GRACE: Duration = Duration::from_secs(12);

#[derive(Default)]
pub struct Phase {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub server_cpu: f64,
    pub generator_cpu: f64,
    /// Latencies of successful operations, in microseconds (open loop only).
    pub latencies_us: Vec<u32>,
    /// Every worker finished in time.
    pub complete: bool,
    /// A worker ran out of work (code exchange ran out of codes) before the end.
    pub exhausted: bool,
}

impl Phase {
    fn fail(&mut self, message: String) {
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }

    fn absorb(&mut self, other: Phase) {
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_us.extend(other.latencies_us);
        self.exhausted |= other.exhausted;
    }
}

async fn prepare(workers: &mut [Worker]) -> Result<(), String> {
    for w in workers.iter_mut() {
        w.prepare().await?;
    }
    Ok(())
}

/// Waits for the worker tasks until `deadline`; returns the workers that came back and the merged tally.
async fn collect(tasks: Vec<JoinHandle<(Worker, Phase)>>, deadline: Instant) -> (Vec<Worker>, Phase) {
    let mut workers = Vec::new();
    let mut total = Phase {
        complete: true,
        ..Phase::default()
    };
    for mut task in tasks {
        match tokio::time::timeout_at(deadline.into(), &mut task).await {
            Ok(Ok((worker, tally))) => {
                workers.push(worker);
                total.absorb(tally);
            }
            Ok(Err(e)) => {
                total.complete = false;
                total.fail(format!("a worker failed: {e}"));
            }
            Err(_) => {
                task.abort();
                total.complete = false;
                total.fail("a worker did not finish in time".into());
            }
        }
    }
    (workers, total)
}

/// Closed loop for `duration`.
pub async fn saturate(mut workers: Vec<Worker>, duration: Duration, server: &Server) -> (Vec<Worker>, Phase) {
    if let Err(e) = prepare(&mut workers).await {
        let mut phase = Phase::default();
        phase.fail(e);
        return (workers, phase);
    }
    let (cpu0, gen0) = (server.cpu_seconds(), own_cpu_seconds());
    let start = Instant::now();
    let end = start + duration;
    let tasks = workers
        .into_iter()
        .map(|mut worker| {
            tokio::spawn(async move {
                let mut tally = Phase::default();
                while Instant::now() < end {
                    match worker.run_once().await {
                        Outcome::Done => tally.ok += 1,
                        Outcome::Failed(e) => tally.fail(e),
                        Outcome::Exhausted => {
                            tally.exhausted = true;
                            break;
                        }
                    }
                }
                (worker, tally)
            })
        })
        .collect();
    let (workers, mut phase) = collect(tasks, end + GRACE).await;
    phase.elapsed = start.elapsed();
    phase.server_cpu = server.cpu_seconds() - cpu0;
    phase.generator_cpu = own_cpu_seconds() - gen0;
    (workers, phase)
}

/// Open loop: `rate` operations per second for `duration`, latency from the intended start.
pub async fn open_loop(
    mut workers: Vec<Worker>,
    rate: f64,
    duration: Duration,
    server: &Server,
) -> (Vec<Worker>, Phase) {
    if let Err(e) = prepare(&mut workers).await {
        let mut phase = Phase::default();
        phase.fail(e);
        return (workers, phase);
    }
    let count = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    // One queue per connection, dealt round-robin (as wrk2 does): an operation waits for its own
    // connection, as it would behind a slow answer on a real HTTP/1.1 client.
    let (senders, receivers): (Vec<_>, Vec<_>) = workers
        .iter()
        .map(|_| mpsc::unbounded_channel::<Instant>())
        .unzip();
    let (cpu0, gen0) = (server.cpu_seconds(), own_cpu_seconds());
    let start = Instant::now() + Duration::from_millis(5);
    // A thread, not a tokio timer: std sleeps are precise to tens of microseconds, tokio's to a millisecond.
    std::thread::spawn(move || {
        for i in 0..count {
            let at = start + interval.mul_f64(i as f64);
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            if senders[i as usize % senders.len()].send(at).is_err() {
                break;
            }
        }
    });
    let tasks = workers
        .into_iter()
        .zip(receivers)
        .map(|(mut worker, mut rx)| {
            tokio::spawn(async move {
                let mut tally = Phase::default();
                while let Some(intended) = rx.recv().await {
                    match worker.run_once().await {
                        Outcome::Done => {
                            tally.ok += 1;
                            let us = intended.elapsed().as_micros().min(u32::MAX as u128) as u32;
                            tally.latencies_us.push(us);
                        }
                        Outcome::Failed(e) => tally.fail(e),
                        Outcome::Exhausted => {
                            tally.exhausted = true;
                            break;
                        }
                    }
                }
                (worker, tally)
            })
        })
        .collect();
    let (workers, mut phase) = collect(tasks, start + duration + duration + GRACE).await;
    phase.elapsed = start.elapsed();
    phase.server_cpu = server.cpu_seconds() - cpu0;
    phase.generator_cpu = own_cpu_seconds() - gen0;
    phase.latencies_us.sort_unstable();
    (workers, phase)
}
