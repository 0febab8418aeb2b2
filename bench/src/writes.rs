//! Write transactions per sign-in (issue 6: "≤ 2 write transactions per completed sign-in, and no
//! unbounded state created before the user authenticates"), counted by PostgreSQL itself: it assigns a
//! transaction id only to a transaction that writes, so the growth of `txid_current()` across
//! sequential flows counts the server's write transactions (audit group commits included). Read
//! through `psql`, so the benchmark needs no database driver. SQLite has no such counter.

use std::process::Command;

use crate::flows::{self, Seed};
use crate::http::Target;

/// Write transactions per flow, measured over `rounds` flows run one after another (so that group
/// commit cannot merge two flows' audit records into one transaction).
pub struct WriteCounts {
    pub rounds: usize,
    /// authorize → login page, never submitted (what an anonymous visitor or a bot costs).
    pub before_authentication: f64,
    /// authorize → login page → login POST → code → token exchange.
    pub sign_in: f64,
}

pub async fn measure(
    target: &Target,
    seed: &Seed,
    database: &str,
    rounds: usize,
) -> Result<WriteCounts, String> {
    let rounds = rounds.max(1);

    settle().await;
    // A connection per phase: one left idle through the pauses would be closed by the server.
    let mut conn = target.connect().await?;
    let start = txid(database)?;
    for _ in 0..rounds {
        flows::visit_login_page(target, &mut conn, seed).await?;
    }
    settle().await;
    let visits = txid(database)? - start - 1;

    let mut conn = target.connect().await?;
    let start = txid(database)?;
    for _ in 0..rounds {
        let (_, code) = flows::sign_in(target, &mut conn, seed).await?;
        flows::exchange(target, &mut conn, seed, &code).await?;
    }
    settle().await;
    let sign_ins = txid(database)? - start - 1;

    Ok(WriteCounts {
        rounds,
        before_authentication: visits as f64 / rounds as f64,
        sign_in: sign_ins as f64 / rounds as f64,
    })
}

/// Waits for the writes set off in the background to happen: before a count, so that those of earlier
/// work are not counted; after it, so that those of the counted flows are (on PostgreSQL the audit
/// outbox is chained up to a second after a grant's commit: `src/store/sql/audit_outbox.rs`).
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
}

/// The next transaction id (taking one: hence the `- 1` above).
fn txid(database: &str) -> Result<i64, String> {
    let output = Command::new("psql")
        .args([database, "-Atqc", "SELECT txid_current()"])
        .output()
        .map_err(|e| format!("psql (needed to count write transactions): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "psql: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .map_err(|_| format!("psql answered {text:?} for txid_current()"))
}
