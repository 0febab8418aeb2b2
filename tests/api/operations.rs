//! Operating the gateway: Prometheus metrics, request ids, the database going away and coming back
//! without a restart, and graceful shutdown of the real binary.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use gatehouse::flows::admin::NewClient;
use openidconnect::OAuth2TokenResponse;
use serde_json::Value;

use crate::helpers::*;

/// One test per backend: `name::sqlite` always, `name::postgres` when `TEST_DATABASE_URL` is set.
macro_rules! on_both_backends {
    ($name:ident, $test:ident) => {
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$test(crate::helpers::Backend::Sqlite).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if std::env::var("TEST_DATABASE_URL").is_err() {
                    eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant skipped");
                    return;
                }
                super::$test(crate::helpers::Backend::Postgres).await;
            }
        }
    };
}

fn service_client(app: &TestApp) -> NewClient {
    NewClient {
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["api:read".into()],
        ..app.client("service")
    }
}

async fn client_credentials(app: &TestApp) -> reqwest::Response {
    app.api_post(
        "/token",
        &[("grant_type", "client_credentials")],
        Some(("service", SECRET)),
    )
    .await
}

async fn metrics_text(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

// ---------------------------------------------------------------------------------------------
// /metrics
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    metrics_count_requests_by_route_tokens_by_grant_sign_in_failures_rate_limit_trips_and_the_pool,
    metrics_after_a_code_flow
);

async fn metrics_after_a_code_flow(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.rate_limits.userinfo_per_ip = "1/min".into()).await;
    app.create_client(app.client("web"));
    app.create_user("ada@example.com");
    let rp = app.rp("web", Some(SECRET)).await;

    // A wrong password first, then the whole flow.
    let auth = app.authorization(&rp, &["email"], &[]);
    let start = app.get(&auth.url).await;
    let failed = app.sign_in(&start, "ada@example.com", "not the password").await;
    assert_eq!(failed.status, 401);
    let (tokens, _) = app.code_flow(&rp, "ada@example.com", &["email"]).await;
    let access_token = tokens.access_token().secret().clone();

    // The second userinfo call trips the 1/min limit.
    for expected in [200, 429] {
        let response = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(&access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
    let not_found = app
        .http
        .get(app.url("/no/such/path?secret=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_found.status(), 404);

    let text = metrics_text(&app).await;
    for line in [
        "# TYPE http_requests_total counter",
        "http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 1",
        "http_requests_total{route=\"/login\",method=\"POST\",status=\"401\"} 1",
        "http_requests_total{route=\"/userinfo\",method=\"GET\",status=\"429\"} 1",
        "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "# TYPE http_request_duration_seconds histogram",
        "http_request_duration_seconds_count{route=\"/token\"} 1",
        "http_request_duration_seconds_bucket{route=\"/token\",le=\"+Inf\"} 1",
        "tokens_issued_total{grant_type=\"authorization_code\"} 1",
        "sign_in_failures_total 1",
        "rate_limit_trips_total{action=\"userinfo_per_ip\"} 1",
        "db_pool_max 4",
    ] {
        assert!(has_line(&text, line), "missing `{line}` in\n{text}");
    }
    // Two authorizations: routes are patterns, one series whatever the query string.
    assert!(has_line(
        &text,
        "http_requests_total{route=\"/authorize\",method=\"GET\",status=\"303\"} 2"
    ));
    let gauge = |state: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("db_pool_connections{{state=\"{state}\"}} ")))
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no {state} gauge in\n{text}"))
    };
    assert!(gauge("idle") + gauge("in_use") >= 1);
    assert!(gauge("idle") + gauge("in_use") <= 4);

    // No raw path, query string, token or secret reaches the exposition.
    for leak in [
        "?",
        "/no/such/path",
        "secret=",
        SECRET,
        access_token.as_str(),
        auth.state.secret().as_str(),
        "ada@example.com",
    ] {
        assert!(!text.contains(leak), "`{leak}` leaked into\n{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Request ids
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    a_request_id_is_generated_when_absent_echoed_when_valid_and_replaced_when_invalid,
    request_ids
);

async fn request_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let id_of =
        |response: &reqwest::Response| response.headers()["x-request-id"].to_str().unwrap().to_string();
    let generated = id_of(&app.http.get(app.url("/healthz")).send().await.unwrap());
    let again = id_of(&app.http.get(app.url("/healthz")).send().await.unwrap());
    assert_eq!(generated.len(), 22);
    assert_ne!(generated, again, "each request gets its own id");

    let valid = "lb-7f3a.9_Z";
    let echoed = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", valid)
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&echoed), valid);

    for invalid in ["a".repeat(200), "has spaces in it".into(), "<script>".into()] {
        let response = app
            .http
            .get(app.url("/healthz"))
            .header("x-request-id", &invalid)
            .send()
            .await
            .unwrap();
        let id = id_of(&response);
        assert_ne!(id, invalid);
        assert_eq!(id.len(), 22);
    }

    // The error page quotes the request id as its reference; error responses carry the header too.
    let page = app
        .http
        .get(app.url("/authorize"))
        .header("x-request-id", "support-ticket-42")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert_eq!(id_of(&page), "support-ticket-42");
    let body = page.text().await.unwrap();
    assert!(body.contains("<code>support-ticket-42</code>"), "{body}");
}

// ---------------------------------------------------------------------------------------------
// The database goes away and comes back
// ---------------------------------------------------------------------------------------------

/// Takes the test's own database away and gives it back; dropping it always gives it back (so a
/// failing test still leaves a database that can be dropped, or a folder that can be removed).
enum Outage {
    /// No new connections to the test database, existing ones terminated. The shared server runs on.
    Postgres { admin_url: String, name: String },
    /// The database's folder moved away (what a lost volume or a wrong mount looks like).
    Sqlite { dir: PathBuf, away: PathBuf },
}

impl Outage {
    fn of(app: &TestApp) -> Self {
        if let Some(path) = app.db.url.strip_prefix("sqlite://") {
            let dir = PathBuf::from(path).parent().unwrap().to_path_buf();
            let away = dir.with_extension("away");
            Outage::Sqlite { dir, away }
        } else {
            let url = url::Url::parse(&app.db.url).unwrap();
            Outage::Postgres {
                admin_url: std::env::var("TEST_DATABASE_URL").unwrap(),
                name: url.path().trim_start_matches('/').to_string(),
            }
        }
    }

    fn begin(&self) {
        match self {
            Outage::Postgres { admin_url, name } => {
                let mut admin = PgConnection::establish(admin_url).unwrap();
                admin
                    .batch_execute(&format!(
                        "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
                         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{name}' AND pid <> pg_backend_pid();"
                    ))
                    .unwrap();
            }
            Outage::Sqlite { dir, away } => std::fs::rename(dir, away).unwrap(),
        }
    }

    fn end(&self) {
        match self {
            Outage::Postgres { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::establish(admin_url) {
                    let _ = admin.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
                }
            }
            Outage::Sqlite { dir, away } => {
                if away.exists() && !dir.exists() {
                    let _ = std::fs::rename(away, dir);
                }
            }
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.end();
    }
}

on_both_backends!(
    when_the_database_goes_away_every_endpoint_answers_503_in_its_format_and_recovers_without_restart,
    database_down_and_back
);

async fn database_down_and_back(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_client(service_client(&app));
    app.create_client(app.client("web"));
    let rp = app.rp("web", Some(SECRET)).await;
    let authorize_url = app.authorization(&rp, &["email"], &[]).url;
    assert_eq!(client_credentials(&app).await.status(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let outage = Outage::of(&app);
    outage.begin();

    // While down (each answer waits for the pool's checkout timeout, so ask all at once).
    let (ready, token, page) = tokio::join!(
        app.http.get(app.url("/readyz")).send(),
        client_credentials(&app),
        app.http.get(&authorize_url).send(),
    );
    let ready = ready.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.text().await.unwrap(), "database unavailable");

    assert_eq!(token.status(), 503);
    assert_eq!(token.headers()["retry-after"], "5");
    assert_eq!(token.headers()["cache-control"], "no-store");
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");

    let page = page.unwrap();
    assert_eq!(page.status(), 503);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "the browser gets the HTML page"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("temporarily unavailable"), "{html}");

    // Back: the same process recovers on its own.
    outage.end();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
        if ready.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz did not recover");
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(client_credentials(&app).await.status(), 200);
    let back = app.get(&authorize_url).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(back.location().starts_with("/login"));

    let text = metrics_text(&app).await;
    assert!(has_line(
        &text,
        "http_requests_total{route=\"/token\",method=\"POST\",status=\"503\"} 1"
    ));
    assert!(has_line(
        &text,
        "http_requests_total{route=\"/readyz\",method=\"GET\",status=\"503\"} 1"
    ));
    assert!(has_line(
        &text,
        "tokens_issued_total{grant_type=\"client_credentials\"} 2"
    ));
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown of the real binary
// ---------------------------------------------------------------------------------------------

/// Holds the database's write lock (on PostgreSQL the audit chain's head), so that a token request,
/// whose issuance must be on the record before it is answered, is in flight for as long as the test
/// wants.
enum WriteLock {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl WriteLock {
    fn take(app: &TestApp) -> Self {
        if let Some(path) = app.db.url.strip_prefix("sqlite://") {
            let mut conn = SqliteConnection::establish(path).unwrap();
            conn.batch_execute("BEGIN IMMEDIATE").unwrap();
            WriteLock::Sqlite(conn)
        } else {
            let mut conn = PgConnection::establish(&app.db.url).unwrap();
            conn.batch_execute("BEGIN; LOCK TABLE audit_head IN EXCLUSIVE MODE")
                .unwrap();
            WriteLock::Postgres(conn)
        }
    }

    fn release(self) {
        match self {
            WriteLock::Sqlite(mut c) => c.batch_execute("ROLLBACK").unwrap(),
            WriteLock::Postgres(mut c) => c.batch_execute("ROLLBACK").unwrap(),
        }
    }
}

on_both_backends!(
    on_sigterm_the_server_stops_accepting_and_finishes_the_request_in_flight,
    graceful_shutdown
);

async fn graceful_shutdown(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_client(service_client(&app));
    let mut server = start_replica(&app).await;
    let url = format!("{}/token", server.address);

    let lock = WriteLock::take(&app);
    let http = app.http.clone();
    let in_flight = actix_web::rt::spawn(async move {
        http.post(url)
            .basic_auth("service", Some(SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
    });
    // The request is in the handler once it holds a pooled connection (waiting for the lock).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app
            .http
            .get(format!("{}/metrics", server.address))
            .send()
            .await
            .unwrap();
        let text = metrics.text().await.unwrap();
        if !has_line(&text, "db_pool_connections{state=\"in_use\"} 0") {
            break;
        }
        assert!(Instant::now() < deadline, "the request never reached the handler");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!in_flight.is_finished(), "the request waits for the lock");

    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    // A new connection is not served (a fresh client: pooled keep-alive connections stay open).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let refused = fresh.get(format!("{}/healthz", server.address)).send().await;
    assert!(refused.is_err(), "no new connections after SIGTERM: {refused:?}");
    if in_flight.is_finished() {
        panic!("answered before the lock was released: {:?}", in_flight.await);
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the process waits for it"
    );

    lock.release();
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the process did not exit");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}");
}
