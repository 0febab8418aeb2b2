//! Measures what the audit log costs on the token hot path: client_credentials issuance through the
//! real flow (client authentication, ES256 signing, audit record) with the real audit writer, and with
//! an audit store that discards events. Same process, same store, same threads.
//!
//! cargo run --release --example audit_overhead -- [sqlite|postgres://...] [threads] [seconds]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gatehouse::audit::{AuditEvent, AuditRecord, Auditor, Origin};
use gatehouse::config::Settings;
use gatehouse::flows::admin::{self, NewClient};
use gatehouse::flows::{Provider, now, token};
use gatehouse::keys::Keys;
use gatehouse::protocol::params::Params;
use gatehouse::startup::open_store;
use gatehouse::store::{AuditStore, StoreError};

struct DiscardAudit;

impl AuditStore for DiscardAudit {
    fn append_audit(&self, _: &[AuditEvent]) -> Result<(), StoreError> {
        Ok(())
    }
    fn audit_page(&self, _: i64, _: i64) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(Vec::new())
    }
    fn audit_page_for(&self, _: &str, _: i64, _: i64) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(Vec::new())
    }
    fn audit_for_user(&self, _: &str, _: i64) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(Vec::new())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = tempfile_dir();
    let url = match args.get(1).map(String::as_str) {
        Some(url) if url.starts_with("postgres") => url.to_string(),
        _ => format!("sqlite://{}/bench.db", dir.display()),
    };
    let threads: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(2);
    let seconds: u64 = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(5);
    let mut settings = Settings::default();
    settings.database.url = url;
    settings.keys.encryption_key = gatehouse::crypto::b64url(&[9u8; 32]).into();
    let (store, sealer) = open_store(&settings).expect("the store opens");
    let keys = Arc::new(Keys::load_or_create(store.as_ref(), sealer.clone(), now(), 660).expect("keys"));
    let secret = "bench-secret-bench-secret-bench-secret-0";
    let id = format!("bench-{}", gatehouse::crypto::random_id());
    admin::create_client(
        store.as_ref(),
        NewClient {
            name: "bench".into(),
            id: Some(id.clone()),
            secret: Some(secret.into()),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api".into()],
            ..Default::default()
        },
    )
    .expect("client");
    let settings = Arc::new(settings);
    let with_audit = Provider {
        store: store.clone(),
        keys: keys.clone(),
        sealer: sealer.clone(),
        settings: settings.clone(),
        auditor: Auditor::start(store.clone()),
        hash_pool: Arc::new(gatehouse::hash_pool::HashPool::for_this_machine()),
        connectors: gatehouse::upstream::Connectors::new(&settings.federation),
        mailer: gatehouse::mail::Mailer::start(&settings.mail).expect("the mail sender starts"),
    };
    let without = Provider {
        auditor: Auditor::start(Arc::new(DiscardAudit)),
        ..with_audit.clone()
    };
    let params = Params::from_pairs(&[
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", secret),
    ]);

    let run = |p: &Provider| -> f64 {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (p, params, stop, count) = (p.clone(), params.clone(), stop.clone(), count.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        token::exchange(&p, None, &params, &Origin::default()).expect("a token");
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().for_each(|w| w.join().unwrap());
        count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    };
    let _warm = run(&without);
    let base = run(&without);
    let audited = run(&with_audit);
    println!(
        "client_credentials via the flow, {threads} threads, {seconds} s each, {}",
        settings.database.url.split("://").next().unwrap_or("")
    );
    println!("  without audit: {base:.0} tokens/s");
    println!("  with audit:    {audited:.0} tokens/s");
    println!("  ratio:         {:.2}", audited / base);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
