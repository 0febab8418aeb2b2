//! The results: one Markdown table row per scenario (it pastes into BENCHMARKS.md as printed).

use crate::load::Phase;

/// One scenario's figures.
pub struct Row {
    pub name: String,
    pub saturation: Phase,
    /// The fixed arrival rate of the open-loop phase (70% of the saturation throughput).
    pub rate: f64,
    pub open: Phase,
    /// The open-loop phase's schedule (it may take longer if the rate could not be sustained).
    pub scheduled: std::time::Duration,
    pub connections: usize,
    pub rss_mib: f64,
    /// Setup failed, or a phase did not complete.
    pub failure: Option<String>,
}

impl Row {
    pub fn per_second(&self) -> f64 {
        self.saturation.ok as f64 / self.saturation.elapsed.as_secs_f64()
    }

    pub fn per_cpu_second(&self) -> f64 {
        self.saturation.ok as f64 / self.saturation.server_cpu
    }

    pub fn errors(&self) -> u64 {
        self.saturation.errors + self.open.errors
    }

    /// The fixed rate was not sustained (by the server or by the load generator sharing its cores): the
    /// open-loop phase overran its schedule by more than 10%, or its median latency is over 1 ms and over 5×
    /// the mean latency of the saturation phase (connections / throughput, Little's law). Its latencies
    /// then measure a queue.
    pub fn lagged(&self) -> bool {
        if self.open.ok == 0 {
            return false;
        }
        let overran = self.open.elapsed.as_secs_f64() > 1.1 * self.scheduled.as_secs_f64() + 0.05;
        let closed_loop_ms = 1000.0 * self.connections as f64 / self.per_second();
        let p50 = percentile_ms(&self.open.latencies_us, 0.5);
        overran || (p50 > 1.0 && p50 > 5.0 * closed_loop_ms)
    }

    /// Completed without a single error.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
            && self.errors() == 0
            && self.saturation.complete
            && self.open.complete
            && !self.open.exhausted
            && self.saturation.ok > 0
            && self.open.ok > 0
    }

    /// Why it did not pass, for the summary.
    pub fn problem(&self) -> String {
        if let Some(f) = &self.failure {
            return f.clone();
        }
        let first = self
            .saturation
            .first_error
            .as_ref()
            .or(self.open.first_error.as_ref());
        match first {
            Some(e) => format!("{} errors, first: {e}", self.errors()),
            None if self.open.exhausted => "ran out of pre-minted codes in the open-loop phase".into(),
            None => "no operation completed".into(),
        }
    }
}

/// The latency at quantile `q` (nearest rank) of sorted microseconds, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

pub const HEADER: &str = "| scenario | ops | errors | ops/s | ops per server-CPU-s | server CPU | load-gen CPU | open-loop rate/s | p50 ms | p99 ms | RSS after MiB |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|";

pub fn line(row: &Row) -> String {
    let sat = &row.saturation;
    let secs = sat.elapsed.as_secs_f64();
    format!(
        "| {} | {} | {} | {:.0} | {:.0} | {:.0}% | {:.0}% | {:.0}{} | {:.2} | {:.2} | {:.1} |",
        row.name,
        sat.ok + row.open.ok,
        row.errors(),
        row.per_second(),
        row.per_cpu_second(),
        100.0 * sat.server_cpu / secs,
        100.0 * sat.generator_cpu / secs,
        row.rate,
        if row.lagged() { " *" } else { "" },
        percentile_ms(&row.open.latencies_us, 0.50),
        percentile_ms(&row.open.latencies_us, 0.99),
        row.rss_mib,
    )
}
