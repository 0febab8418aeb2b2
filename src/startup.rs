//! Building and running the application: open the store, load the keys, bind, serve.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{HttpServer, web};

use crate::audit::Auditor;
use crate::config::{Settings, decode_key};
use crate::crypto::{Sealer, random_bytes};
use crate::flows::{Provider, now};
use crate::keys::Keys;
use crate::store::Store;
use crate::store::sql::SqlStore;
use crate::web::{AppState, app};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Database(String),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("server.tls: {0}")]
    Tls(String),
}

/// Opens the database (applying migrations) and the key-sealing key: what every command needs.
pub fn open_store(settings: &Settings) -> Result<(Arc<dyn Store>, Sealer), StartupError> {
    let store = SqlStore::open(&settings.database.url, settings.database.max_connections)
        .map_err(StartupError::Database)?;
    let sealer = Sealer::new(&encryption_key(settings)?);
    Ok((Arc::new(store), sealer))
}

/// The configured key, or a development key kept in `keys.dev_key_file` (created on first use).
fn encryption_key(settings: &Settings) -> Result<[u8; 32], StartupError> {
    if let Some(key) = settings.keys.configured_key() {
        return decode_key(key).map_err(|e| StartupError::Config(format!("keys.encryption_key: {e}")));
    }
    let path = settings.dev_key_path();
    if let Ok(text) = std::fs::read_to_string(&path) {
        return decode_key(&text).map_err(|e| StartupError::Config(format!("{}: {e}", path.display())));
    }
    let key = random_bytes::<32>();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StartupError::Config(format!("cannot create {}: {e}", dir.display())))?;
    }
    write_private(&path, &crate::crypto::b64url(&key))
        .map_err(|e| StartupError::Config(format!("cannot write {}: {e}", path.display())))?;
    tracing::warn!(
        path = %path.display(),
        "NO keys.encryption_key CONFIGURED: generated a development key. Set GATEHOUSE__KEYS__ENCRYPTION_KEY in production"
    );
    Ok(key)
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    provider: Provider,
    state: web::Data<AppState>,
}

/// How long a stopping server (SIGTERM, SIGINT) lets requests in flight finish.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

impl Application {
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(&settings.server.bind)
            .map_err(|e| StartupError::Bind(settings.server.bind.clone(), e))?;
        Self::build_with_listener(settings, listener)
    }

    pub fn build_with_listener(settings: Settings, listener: TcpListener) -> Result<Self, StartupError> {
        let tls = tls_config(&settings)?;
        let (store, sealer) = open_store(&settings)?;
        let keep_for = Provider::key_retention(&settings);
        let keys = Arc::new(Keys::load_or_create(
            store.as_ref(),
            sealer.clone(),
            now(),
            keep_for,
        )?);
        let auditor = Auditor::start(store.clone());
        let provider = Provider {
            store,
            keys,
            sealer,
            auditor,
            hash_pool: Arc::new(crate::hash_pool::HashPool::for_this_machine()),
            connectors: crate::upstream::Connectors::new(&settings.federation),
            mailer: crate::mail::Mailer::start(&settings.mail)
                .map_err(|e| StartupError::Config(e.to_string()))?,
            settings: Arc::new(settings),
        };
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Bind("listener".into(), e))?
            .port();
        let workers = match provider.settings.server.workers {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        };
        let state = web::Data::new(AppState::new(provider.clone()).map_err(StartupError::Config)?);
        let shared = state.clone();
        // Signals are handled in `run_until_stopped` (graceful shutdown).
        let server = HttpServer::new(move || app(shared.clone()))
            .workers(workers)
            .disable_signals()
            .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs());
        let server = match tls {
            Some(config) => {
                tracing::info!(port, "serving HTTPS (TLS 1.2+)");
                server.listen_rustls_0_23(listener, config)
            }
            None => server.listen(listener),
        }
        .map_err(|e| StartupError::Bind("listener".into(), e))?
        .run();
        actix_web::rt::spawn(housekeeping(provider.clone(), state.clone()));
        Ok(Self {
            port,
            server,
            provider,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The application's store, keys and settings (for operator tooling and tests).
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: stop accepting connections, let the
    /// requests in flight finish (up to 30 s), then stop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (handle, state) = (self.server.handle(), self.state.clone());
        actix_web::rt::spawn(async move {
            let signal = shutdown_signal().await;
            tracing::info!(
                signal,
                "shutting down: no new connections, finishing requests in flight"
            );
            handle.pause().await;
            drain(&state).await;
            handle.stop(true).await;
        });
        self.server.await
    }
}

/// SIGTERM (what orchestrators send) or SIGINT (Ctrl-C).
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use actix_web::rt::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return first_of(term.recv(), actix_web::rt::signal::ctrl_c()).await;
        }
    }
    let _ = actix_web::rt::signal::ctrl_c().await;
    "SIGINT"
}

/// Which of SIGTERM and SIGINT came first.
#[cfg(unix)]
async fn first_of<A: std::future::Future, B: std::future::Future>(term: A, int: B) -> &'static str {
    use futures_util::future::{Either, select};
    match select(std::pin::pin!(term), std::pin::pin!(int)).await {
        Either::Left(_) => "SIGTERM",
        Either::Right(_) => "SIGINT",
    }
}

/// Waits until no request is in flight (plus a tick for the last response to be written), at most
/// `SHUTDOWN_TIMEOUT`. Draining before stopping matters: actix-server 2.6 can drop a worker together
/// with its connections when its accept thread stops first (a race in its own graceful stop).
async fn drain(state: &AppState) {
    let deadline = std::time::Instant::now() + SHUTDOWN_TIMEOUT;
    let mut idle_ticks = 0;
    while idle_ticks < 2 && std::time::Instant::now() < deadline {
        if state.metrics.requests_in_flight() == 0 {
            idle_ticks += 1;
        } else {
            idle_ticks = 0;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The rustls configuration when `server.tls` is set (settings validation ensures cert and key go together).
fn tls_config(settings: &Settings) -> Result<Option<rustls::ServerConfig>, StartupError> {
    let tls = &settings.server.tls;
    if tls.cert.is_empty() && tls.key.is_empty() {
        return Ok(None);
    }
    let config = crate::tls::server_config(std::path::Path::new(&tls.cert), std::path::Path::new(&tls.key))
        .map_err(StartupError::Tls)?;
    if !settings.issuer().starts_with("https://") {
        tracing::warn!(
            issuer = settings.issuer(),
            "server.tls is set but the issuer is not https: cookies are not Secure and no HSTS is sent"
        );
    }
    Ok(Some(config))
}

/// Every 30 seconds: pick up keys rotated by the CLI or another replica, erase accounts whose deletion
/// grace period has ended, and delete expired rows (so that abandoned sign-ins and old grants cannot
/// grow the database). Idempotent on every replica.
async fn housekeeping(provider: Provider, state: web::Data<AppState>) {
    let mut interval = actix_web::rt::time::interval(Duration::from_secs(30));
    interval.tick().await;
    loop {
        interval.tick().await;
        state.limiter.shrink();
        let p = provider.clone();
        let result = web::block(move || {
            if let Err(e) = p.keys.reload(p.store.as_ref(), now()) {
                tracing::error!(error = %e, "reloading signing keys failed");
            }
            // Accounts whose deletion grace period has ended are erased (account portal).
            match crate::flows::portal::erase_due_accounts(&p, now()) {
                Ok(0) => {}
                Ok(erased) => tracing::info!(erased, "accounts erased after their grace period"),
                Err(e) => tracing::error!(error = %e, "erasing accounts failed"),
            }
            p.store.purge_expired(now())
        })
        .await;
        match result {
            Ok(Ok(removed)) if removed > 0 => tracing::debug!(removed, "expired rows purged"),
            Ok(Err(e)) => tracing::error!(error = %e, "purging expired rows failed"),
            _ => {}
        }
    }
}
