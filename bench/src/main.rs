//! gatehouse-bench: a reproducible load benchmark of the release `gatehouse` binary (see BENCHMARKS.md).
//!
//! `cargo build --release && cargo run --release -p gatehouse-bench -- [--quick] [--database URL]
//! [--scenario NAME ...] [--duration SECS]`

mod argon;
mod flows;
mod http;
mod load;
mod report;
mod scenarios;
mod server;
mod writes;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

use crate::flows::{Code, Seed};
use crate::report::Row;
use crate::scenarios::{Op, Outcome, Worker};
use crate::server::{Gatehouse, Server};

#[derive(Parser)]
#[command(
    name = "gatehouse-bench",
    about = "Load benchmark: starts the release gatehouse binary, seeds it through its CLI and drives each \
             scenario (saturation, then a fixed arrival rate at 70% of it)"
)]
struct Args {
    /// Every scenario for about 1 s: a smoke test that exits non-zero if any scenario had an error.
    #[arg(long)]
    quick: bool,
    /// PostgreSQL instead of SQLite: the URL of an EMPTY database the server may fill (drop it afterwards).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Run only this scenario (repeatable). All by default.
    #[arg(long = "scenario", value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(scenarios::ALL))]
    scenarios: Vec<String>,
    /// Seconds per phase (saturation, then fixed rate). Default 5, or 1 with --quick.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Concurrent connections of the load generator. Default: 2 × CPU cores.
    #[arg(long, value_name = "N")]
    connections: Option<usize>,
    /// The gatehouse binary. Default: `gatehouse` next to this executable (target/release/gatehouse).
    #[arg(long, value_name = "PATH")]
    gatehouse: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    // On Ctrl-C or SIGTERM the run is dropped, and with it the servers (killed on drop).
    let result = runtime.block_on(async {
        tokio::select! {
            result = run(args) => result,
            signal = interrupted() => Err(format!("interrupted by {signal}")),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    eprintln!("(finished in {:.1} s)", started.elapsed().as_secs_f64());
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// Everything the scenarios share.
struct Env {
    gatehouse: Gatehouse,
    server: Server,
    /// The https instance (same database), started for the TLS scenario.
    tls: Option<Server>,
    seed: Arc<Seed>,
    /// The `Cookie` header of a signed-in browser, to mint codes with `prompt=none`.
    session: Arc<str>,
    /// A user's JWT access token (scopes openid profile email).
    access_token: String,
    duration: Duration,
    connections: usize,
    cores: usize,
}

async fn run(args: Args) -> Result<bool, String> {
    let names: Vec<String> = if args.scenarios.is_empty() {
        scenarios::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        args.scenarios.clone()
    };
    let duration = Duration::from_secs_f64(args.duration.unwrap_or(if args.quick { 1.0 } else { 5.0 }));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let connections = args.connections.unwrap_or(2 * cores).max(1);
    let bin = server::locate_binary(args.gatehouse)?;
    if cfg!(debug_assertions) {
        eprintln!("warning: this benchmark was built without --release; its figures mean little");
    }

    let dir = tempfile::Builder::new()
        .prefix("gatehouse-bench-")
        .tempdir()
        .map_err(|e| format!("no temporary directory: {e}"))?;
    let (db_url, db_label) = match &args.database {
        Some(url) => (url.clone(), "PostgreSQL"),
        None => (
            format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
            "SQLite (WAL)",
        ),
    };
    let gatehouse = Gatehouse {
        bin: bin.clone(),
        dir: dir.path().to_path_buf(),
        env: vec![
            ("GATEHOUSE__DATABASE__URL".into(), db_url),
            ("GATEHOUSE__KEYS__ENCRYPTION_KEY".into(), flows::random_b64(32)),
            // The hot path without limiter refusals (every request here comes from one IP and one client).
            ("GATEHOUSE__RATE_LIMITS__ENABLED".into(), "false".into()),
            ("GATEHOUSE__LOG__LEVEL".into(), "warn".into()),
        ],
    };

    println!(
        "Gatehouse load benchmark: {db_label}; {cores} cores ({}); {connections} connections; {} s per phase\n\
         server: {} (rate limits off, log level warn)",
        cpu_model(),
        duration.as_secs_f64(),
        bin.display()
    );
    let seed = Arc::new(flows::seed(&gatehouse)?);
    let server = gatehouse.serve("http", None).await?;
    println!("idle RSS after start: {:.1} MiB", server.rss_mib());

    // One browser signs in for real; its session mints the codes, its first code gives a user's tokens.
    let mut conn = server.target.connect().await?;
    let (jar, code) = flows::sign_in(&server.target, &mut conn, &seed).await?;
    let session: Arc<str> = jar.header().into();
    let minted = flows::mint_codes(server.target.clone(), seed.clone(), session.clone(), 1, None, 1).await?;
    let (access_token, _) = flows::exchange(&server.target, &mut conn, &seed, &minted[0]).await?;
    drop((conn, code));

    let mut env = Env {
        gatehouse,
        server,
        tls: None,
        seed,
        session,
        access_token,
        duration,
        connections,
        cores,
    };
    let mut rows = Vec::new();
    let mut argon_rate = None;
    println!("\n{}", report::HEADER);
    for name in &names {
        if name == "password_sign_in" {
            let (threads, time) = (env.cores, duration);
            let rate = tokio::task::spawn_blocking(move || argon::measure(threads, time))
                .await
                .map_err(|e| e.to_string())?;
            argon_rate = Some(rate);
        }
        let row = scenario(name, &mut env).await;
        println!("{}", report::line(&row));
        rows.push(row);
    }

    println!();
    if rows.iter().any(Row::lagged) {
        println!(
            "* the fixed rate was not sustained (the phase overran its schedule, or its median latency is over 5x \
             the saturation phase's mean): by the server or by the load generator sharing its cores; those \
             latencies measure a queue"
        );
    }
    if let Some(tls) = &env.tls {
        println!(
            "https instance (client_credentials_tls_new_conn): full TLS handshake per request (no resumption), \
             RSS after {:.1} MiB",
            tls.rss_mib()
        );
    }
    if let (Some(raw), Some(row)) = (&argon_rate, rows.iter().find(|r| r.name == "password_sign_in")) {
        println!(
            "password sign-in: {:.1}/s = {:.0}% of the raw argon2id rate ({:.1} hashes/s on {} threads, m={} KiB t={} p={}); \
             per CPU-second {:.1} vs {:.1} = {:.0}%",
            row.per_second(),
            100.0 * row.per_second() / raw.per_second,
            raw.per_second,
            raw.threads,
            argon::M_KIB,
            argon::T,
            argon::P,
            row.per_cpu_second(),
            raw.per_cpu_second,
            100.0 * row.per_cpu_second() / raw.per_cpu_second,
        );
    }
    let writes_counted = count_writes(args.database.as_deref(), args.quick, &env).await;
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.passed()).collect();
    if failed.is_empty() && writes_counted {
        println!("all {} scenarios completed without errors", rows.len());
        Ok(true)
    } else {
        for row in &failed {
            println!("FAILED {}: {}", row.name, row.problem());
        }
        println!("server log (end):\n{}", env.server.log_tail());
        Ok(false)
    }
}

/// Prints the write transactions per sign-in (PostgreSQL only); false if counting them failed.
async fn count_writes(database: Option<&str>, quick: bool, env: &Env) -> bool {
    let Some(url) = database else {
        println!("write transactions per sign-in: counted on PostgreSQL only (--database URL)");
        return true;
    };
    let rounds = if quick { 3 } else { 20 };
    match writes::measure(&env.server.target, &env.seed, url, rounds).await {
        Ok(w) => {
            println!(
                "write transactions (PostgreSQL transaction ids, {} sequential flows each): {:.2} per visit to \
                 the sign-in page (authorize → login page), {:.2} per completed sign-in (authorize → login → \
                 code → token, audit records included)",
                w.rounds, w.before_authentication, w.sign_in
            );
            true
        }
        Err(e) => {
            println!("FAILED write transactions per sign-in: {e}");
            false
        }
    }
}

/// Sets up one scenario's workers (and its server) and measures it; any failure is reported in the row.
async fn scenario(name: &str, env: &mut Env) -> Row {
    let mut row = Row {
        name: name.to_string(),
        saturation: Default::default(),
        rate: f64::NAN,
        open: Default::default(),
        scheduled: env.duration,
        connections: env.connections,
        rss_mib: f64::NAN,
        failure: None,
    };
    if let Err(e) = measure(&mut row, env).await {
        row.failure = Some(e);
    }
    row
}

async fn measure(row: &mut Row, env: &mut Env) -> Result<(), String> {
    let target = env.server.target.clone();
    let worker = |op: Op| Worker::new(target.clone(), env.seed.clone(), op);
    let n = env.connections;
    let mut codes = None;
    let workers: Vec<Worker> = match row.name.as_str() {
        "discovery" => (0..n)
            .map(|_| worker(Op::Get("/.well-known/openid-configuration")))
            .collect(),
        "jwks" => (0..n).map(|_| worker(Op::Get("/jwks.json"))).collect(),
        "client_credentials" => (0..n).map(|_| worker(Op::ClientCredentials)).collect(),
        "client_credentials_tls_new_conn" => {
            if env.tls.is_none() {
                let certs = env.gatehouse.dir.join("certs");
                env.gatehouse
                    .cli(&["certs", "dev", "--out", &certs.display().to_string()], None)?;
                let (cert, key) = (certs.join("dev-cert.pem"), certs.join("dev-key.pem"));
                let tls = env.gatehouse.serve("https", Some((&cert, &key))).await?;
                eprintln!("https instance started: idle RSS {:.1} MiB", tls.rss_mib());
                env.tls = Some(tls);
            }
            let tls = env.tls.as_ref().ok_or("no https instance")?;
            (0..n)
                .map(|_| Worker::new(tls.target.clone(), env.seed.clone(), Op::ClientCredentialsNewConn))
                .collect()
        }
        "code_exchange" => {
            let pool = Arc::new(Mutex::new(Vec::new()));
            codes = Some(pool.clone());
            (0..n).map(|_| worker(Op::CodeExchange(pool.clone()))).collect()
        }
        "refresh" => {
            let minted = mint(env, n, None).await?;
            let mut conn = target.connect().await?;
            let mut workers = Vec::new();
            for code in &minted {
                let (_, refresh) = flows::exchange(&target, &mut conn, &env.seed, code).await?;
                workers.push(worker(Op::Refresh(refresh)));
            }
            workers
        }
        "introspection" => {
            let body: Arc<str> = http::form(&[("token", &env.access_token)]).into();
            (0..n).map(|_| worker(Op::Introspect(body.clone()))).collect()
        }
        "userinfo" => {
            let bearer: Arc<str> = format!("Bearer {}", env.access_token).into();
            (0..n).map(|_| worker(Op::UserInfo(bearer.clone()))).collect()
        }
        "password_sign_in" => (0..n).map(|_| worker(Op::SignIn)).collect(),
        "client_credentials_under_sign_in" => (0..n).map(|_| worker(Op::ClientCredentials)).collect(),
        other => return Err(format!("unknown scenario {other}")),
    };
    let server = if row.name == "client_credentials_tls_new_conn" {
        env.tls.as_ref().ok_or("no https instance")?
    } else {
        &env.server
    };

    // Sign-ins saturating the CPU in the background, for the whole scenario.
    let background = (row.name == "client_credentials_under_sign_in")
        .then(|| SignInLoad::start((0..n).map(|_| worker(Op::SignIn)).collect()));

    // Saturation. Minting a code costs about what redeeming one does: mint for 1.5 × the phase.
    if let Some(pool) = &codes {
        let minted = mint(env, usize::MAX, Some(Instant::now() + env.duration.mul_f64(1.5))).await?;
        pool.lock().map_err(|_| "poisoned")?.extend(minted);
    }
    let (workers, saturation) = load::saturate(workers, env.duration, server).await;
    row.saturation = saturation;
    if !row.saturation.complete || row.saturation.ok == 0 {
        row.rss_mib = server.rss_mib();
        return Err(format!("saturation phase: {}", row.problem()));
    }

    // Fixed arrival rate at 70% of the saturation throughput.
    row.rate = 0.7 * row.per_second();
    if let Some(pool) = &codes {
        let needed = (row.rate * env.duration.as_secs_f64()).ceil() as usize + 2 * n;
        let minted = mint(env, needed, None).await?;
        let mut pool = pool.lock().map_err(|_| "poisoned")?;
        pool.clear();
        pool.extend(minted);
    }
    let (_, open) = load::open_loop(workers, row.rate, env.duration, server).await;
    row.open = open;
    row.rss_mib = server.rss_mib();
    if let Some(background) = background {
        let (done, failed) = background.stop().await;
        eprintln!("(background sign-ins: {done} completed, {failed} failed)");
        if failed > 0 {
            return Err(format!("{failed} background sign-ins failed"));
        }
    }
    Ok(())
}

/// Closed-loop password sign-ins in the background until stopped.
struct SignInLoad {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(u64, u64)>>,
}

impl SignInLoad {
    fn start(workers: Vec<Worker>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = workers
            .into_iter()
            .map(|mut worker| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let (mut done, mut failed) = (0, 0);
                    while !stop.load(Ordering::Relaxed) {
                        match worker.run_once().await {
                            Outcome::Done => done += 1,
                            _ => failed += 1,
                        }
                    }
                    (done, failed)
                })
            })
            .collect();
        Self { stop, tasks }
    }

    /// (completed, failed)
    async fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = (0, 0);
        for task in std::mem::take(&mut self.tasks) {
            let (d, f) = task.await.unwrap_or((0, 1));
            total = (total.0 + d, total.1 + f);
        }
        total
    }
}

/// Also when a phase fails and `measure` returns early.
impl Drop for SignInLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Codes for the signed-in browser (not measured).
async fn mint(env: &Env, count: usize, until: Option<Instant>) -> Result<Vec<Code>, String> {
    flows::mint_codes(
        env.server.target.clone(),
        env.seed.clone(),
        env.session.clone(),
        count,
        until,
        env.connections,
    )
    .await
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
