//! The command line as an operator uses it: the real binary, run in an empty directory, its output
//! read as a script would. Each test has its own directory (and so its own SQLite database).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// Base64 of 32 bytes of `*`.
const ENCRYPTION_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
const PASSWORD: &str = "correct horse battery staple";

/// An empty working directory for the binary.
struct Workspace {
    dir: TempDir,
}

impl Workspace {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary in this directory, with no inherited Gatehouse settings and the encryption key set.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        command.args(args).current_dir(self.path()).stdin(Stdio::null());
        for (name, _) in std::env::vars() {
            if name.starts_with("GATEHOUSE__") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        command.env("GATEHOUSE__KEYS__ENCRYPTION_KEY", ENCRYPTION_KEY);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the binary runs")
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        command.output().expect("the binary runs")
    }

    fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed; returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.run(args))
    }

    /// Runs a command that must fail; returns its standard error.
    fn fails(&self, args: &[&str]) -> String {
        failed(args, self.run(args))
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed no single JSON value ({e}): {out}"))
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "{args:?} failed: {}\nstdout: {}",
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

fn failed(args: &[&str], out: Output) -> String {
    assert!(
        !out.status.success(),
        "{args:?} should have failed; stdout: {}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error:"),
        "{args:?}: no error message on stderr: {stderr}"
    );
    stderr
}

#[test]
fn a_confidential_client_is_created_listed_shown_and_deleted() {
    let ws = Workspace::new();

    let created = ws.json(&[
        "client",
        "create",
        "--name",
        "X",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--json",
    ]);

    assert!(created.is_object(), "{created}");
    let id = created["client_id"]
        .as_str()
        .expect("`client_id` in the JSON output")
        .to_string();
    let secret = created["client_secret"].as_str().expect("a client secret");
    assert!(
        secret.len() >= 43,
        "the generated secret has at least 256 bits: {secret}"
    );
    assert_eq!(
        created["redirect_uris"],
        serde_json::json!(["https://app.example.com/cb"])
    );
    let listed = ws.json(&["client", "list", "--json"]);
    let ids: Vec<&str> = listed
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|c| c["client_id"].as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);
    assert!(
        !listed.to_string().contains(secret),
        "the secret is shown once only"
    );
    let shown = ws.ok(&["client", "show", &id]);
    assert!(
        shown.contains(&id) && shown.contains("https://app.example.com/cb"),
        "{shown}"
    );
    assert!(!shown.contains(secret));

    ws.ok(&["client", "delete", &id]);

    let error = ws.fails(&["client", "show", &id]);
    assert!(error.contains(&id) && error.contains("no client"), "{error}");
    assert_eq!(ws.json(&["client", "list", "--json"]), serde_json::json!([]));
    let again = ws.fails(&["client", "delete", &id]);
    assert!(again.contains(&id), "{again}");
}

#[test]
fn a_public_client_is_created_without_a_secret() {
    let ws = Workspace::new();

    let out = ws.ok(&[
        "client",
        "create",
        "--name",
        "Native",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--public",
        "--json",
    ]);

    let created: Value = serde_json::from_str(&out).expect("one JSON object");
    assert!(created.get("client_secret").is_none(), "{created}");
    assert!(!out.contains("secret\""), "{out}");
    assert_eq!(created["public"], true);
    let id = created["client_id"]
        .as_str()
        .expect("`client_id` in the JSON output");
    let shown = ws.ok(&["client", "show", id]);
    assert!(shown.contains("public"), "{shown}");
}

#[test]
fn invalid_client_registrations_are_refused_and_nothing_is_created() {
    let ws = Workspace::new();
    let cases: [(&[&str], &str); 5] = [
        (&["--redirect-uri", "javascript:alert(1)"], "javascript"),
        (&["--redirect-uri", "data:text/html,hi"], "data"),
        (
            &["--redirect-uri", "http://example.com/cb"],
            "http://example.com/cb",
        ),
        (
            &[
                "--redirect-uri",
                "https://app.example.com/cb",
                "--grant-type",
                "password",
            ],
            "password",
        ),
        (
            &[
                "--redirect-uri",
                "https://app.example.com/cb",
                "--secret",
                "short",
            ],
            "--secret",
        ),
    ];

    for (extra, named) in cases {
        let mut args = vec!["client", "create", "--name", "X", "--json"];
        args.extend_from_slice(extra);
        let out = ws.run(&args);
        let stderr = failed(&args, out);
        assert!(
            stderr.contains(named),
            "{args:?}: the message should name `{named}`: {stderr}"
        );
    }

    assert_eq!(
        ws.json(&["client", "list", "--json"]),
        serde_json::json!([]),
        "nothing was created"
    );
}

#[test]
fn a_user_is_created_from_a_password_on_stdin_and_managed() {
    let ws = Workspace::new();
    let args = [
        "user",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--password-stdin",
        "--json",
    ];

    let out = succeeded(&args, ws.run_stdin(&args, &format!("{PASSWORD}\n")));

    let user: Value = serde_json::from_str(&out).expect("one JSON object");
    let id = user["user_id"].as_str().expect("a user_id").to_string();
    assert_eq!(user["email"], "a@example.com");
    assert!(
        user.get("password_hash").is_none() && user.get("password").is_none(),
        "{user}"
    );
    assert!(!out.contains("argon2") && !out.contains(PASSWORD), "{out}");
    let duplicate = failed(&args, ws.run_stdin(&args, &format!("{PASSWORD}\n")));
    assert!(duplicate.contains("a@example.com"), "{duplicate}");
    let listed = ws.json(&["user", "list", "--json"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert!(!listed.to_string().contains("argon2"));
    let by_email = ws.ok(&["user", "show", "a@example.com"]);
    let by_id = ws.ok(&["user", "show", &id]);
    assert_eq!(by_email, by_id);
    assert!(
        by_email.contains(&id) && by_email.contains("password:       set"),
        "{by_email}"
    );
    assert!(!by_email.contains("argon2"));

    ws.ok(&["user", "delete", "a@example.com"]);

    let gone = ws.fails(&["user", "show", &id]);
    assert!(gone.contains(&id), "{gone}");
    assert_eq!(ws.json(&["user", "list", "--json"]), serde_json::json!([]));
}

#[test]
fn a_password_is_set_from_stdin_and_bad_passwords_are_refused() {
    let ws = Workspace::new();
    ws.ok(&["user", "create", "--email", "b@example.com"]);
    assert!(
        ws.ok(&["user", "show", "b@example.com"])
            .contains("password:       not set")
    );

    let set = ["user", "set-password", "b@example.com", "--password-stdin"];
    succeeded(&set, ws.run_stdin(&set, &format!("{PASSWORD}\n")));

    assert!(
        ws.ok(&["user", "show", "b@example.com"])
            .contains("password:       set")
    );
    let short = failed(&set, ws.run_stdin(&set, "short\n"));
    assert!(short.contains("password"), "{short}");
    let unknown = ["user", "set-password", "nobody@example.com", "--password-stdin"];
    let stderr = failed(&unknown, ws.run_stdin(&unknown, &format!("{PASSWORD}\n")));
    assert!(stderr.contains("nobody@example.com"), "{stderr}");
    let create = ["user", "create", "--email", "c@example.com", "--password-stdin"];
    failed(&create, ws.run_stdin(&create, "short\n"));
    assert!(
        ws.run(&["user", "show", "c@example.com"]).status.code() != Some(0),
        "a refused user is not created"
    );
}

fn keys(ws: &Workspace) -> Vec<Value> {
    ws.json(&["keys", "list", "--json"])
        .as_array()
        .expect("an array")
        .clone()
}

fn algs(keys: &[&Value]) -> Vec<String> {
    let mut algs: Vec<String> = keys
        .iter()
        .map(|k| k["alg"].as_str().unwrap().to_string())
        .collect();
    algs.sort();
    algs
}

#[test]
fn keys_list_shows_three_current_keys_and_rotation_retires_them() {
    let ws = Workspace::new();

    let before = keys(&ws);

    assert_eq!(before.len(), 3, "{before:?}");
    let current: Vec<&Value> = before.iter().filter(|k| k["state"] == "current").collect();
    assert_eq!(algs(&current), ["ES256", "EdDSA", "RS256"]);
    let listing = ws.ok(&["keys", "list"]);
    assert!(
        ["RS256", "ES256", "EdDSA"].iter().all(|a| listing.contains(a)),
        "{listing}"
    );

    ws.ok(&["keys", "rotate"]);

    let after = keys(&ws);
    assert_eq!(after.len(), 6, "{after:?}");
    let current: Vec<&Value> = after.iter().filter(|k| k["state"] == "current").collect();
    let retired: Vec<&Value> = after.iter().filter(|k| k["retired_at"].is_i64()).collect();
    assert_eq!(algs(&current), ["ES256", "EdDSA", "RS256"]);
    assert_eq!(algs(&retired), ["ES256", "EdDSA", "RS256"]);
    let old_kids: Vec<&Value> = before.iter().map(|k| &k["kid"]).collect();
    assert!(
        retired.iter().all(|k| old_kids.contains(&&k["kid"])),
        "the retired keys are the old ones"
    );
    assert!(
        current.iter().all(|k| !old_kids.contains(&&k["kid"])),
        "the current keys are new"
    );
}

#[test]
fn keys_do_not_open_with_another_encryption_key() {
    let ws = Workspace::new();
    ws.ok(&["keys", "list"]);

    let other = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let out = ws.run_with(&["keys", "list"], &[("GATEHOUSE__KEYS__ENCRYPTION_KEY", other)]);

    let stderr = failed(&["keys", "list"], out);
    assert!(stderr.contains("encryption_key"), "{stderr}");
}

#[test]
fn migrate_creates_the_database_and_can_run_twice() {
    let ws = Workspace::new();

    let first = ws.ok(&["migrate"]);
    let second = ws.ok(&["migrate"]);

    assert!(
        first.contains("migrations applied") && second.contains("migrations applied"),
        "{first}{second}"
    );
    assert!(ws.path().join("data/gatehouse.db").is_file());
}

#[test]
fn an_unknown_key_in_the_config_file_is_refused_with_its_name() {
    let ws = Workspace::new();
    std::fs::write(ws.path().join("gatehouse.toml"), "[server]\nbnd = \"x\"\n").unwrap();

    let stderr = ws.fails(&["--config", "gatehouse.toml", "migrate"]);

    assert!(stderr.contains("server.bnd"), "{stderr}");
    assert!(
        !ws.path().join("data").exists(),
        "nothing is created when the configuration is refused"
    );
}

#[test]
fn an_unknown_environment_setting_is_refused_with_the_variable_name() {
    let ws = Workspace::new();

    let stderr = failed(
        &["migrate"],
        ws.run_with(&["migrate"], &[("GATEHOUSE__SERVER__NOPE", "1")]),
    );

    assert!(stderr.contains("GATEHOUSE__SERVER__NOPE"), "{stderr}");
    assert!(!ws.path().join("data").exists());
}

#[test]
fn an_unsupported_database_url_is_refused_naming_database_url() {
    let ws = Workspace::new();

    let stderr = failed(
        &["migrate"],
        ws.run_with(&["migrate"], &[("GATEHOUSE__DATABASE__URL", "mysql://x")]),
    );

    assert!(stderr.contains("database.url"), "{stderr}");
}

/// A running `gatehouse serve`, killed when dropped (also when the test panics).
struct Server {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = buffer.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    buffer
}

/// A raw HTTP/1.0 GET; `None` while nothing listens.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn serve_starts_without_any_configuration_and_prints_the_next_steps() {
    let ws = Workspace::new();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let mut command = ws.command(&["serve"]);
    command
        .env_remove("GATEHOUSE__KEYS__ENCRYPTION_KEY")
        .env("GATEHOUSE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE__SERVER__ISSUER", &issuer)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("serve starts");
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let mut server = Server {
        child,
        stdout: collect(out),
        stderr: collect(err),
    };

    let deadline = Instant::now() + Duration::from_secs(120);
    let health = loop {
        if let Some(response) = http_get(port, "/healthz") {
            break response;
        }
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("serve exited with {status}: {}", server.stderr.lock().unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "serve did not answer in time: {}",
            server.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    assert!(
        health.starts_with("HTTP/1.") && health.contains(" 200 "),
        "{health}"
    );
    let discovery = http_get(port, "/.well-known/openid-configuration").expect("discovery answers");
    assert!(
        discovery.contains(&format!("\"issuer\":\"{issuer}\"")),
        "{discovery}"
    );
    let stdout = server.stdout.lock().unwrap().clone();
    assert!(stdout.contains(&issuer), "the issuer is printed: {stdout}");
    assert!(
        stdout.contains("Next steps") && stdout.contains("gatehouse client create"),
        "{stdout}"
    );
    assert!(
        ws.path().join("data/gatehouse.db").is_file(),
        "the SQLite database is created"
    );
    let key_file = ws.path().join("data/encryption.key");
    assert!(key_file.is_file(), "a development encryption key is generated");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        key.trim().len() >= 43,
        "the development key is 32 bytes in base64: {key}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the development key is readable by its owner only");
    }
    assert!(!stdout.contains(key.trim()), "the key is never printed");
    assert!(
        !server.stderr.lock().unwrap().contains(key.trim()),
        "the key is never logged"
    );
}

#[test]
fn certs_dev_writes_a_pair_that_serve_uses_for_https() {
    let ws = Workspace::new();

    let out = ws.ok(&["certs", "dev", "--out", "tls"]);

    let (cert, key) = (
        ws.path().join("tls/dev-cert.pem"),
        ws.path().join("tls/dev-key.pem"),
    );
    let pem = std::fs::read(&cert).expect("the certificate is written");
    assert!(pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("PRIVATE KEY-----")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the private key is readable by its owner only");
    }
    for expected in [
        "tls/dev-cert.pem",
        "tls/dev-key.pem",
        "[server.tls]",
        "https://127.0.0.1:8080",
        "--cacert tls/dev-cert.pem",
    ] {
        assert!(out.contains(expected), "`{expected}` is printed: {out}");
    }
    let again = ws.fails(&["certs", "dev", "--out", "tls"]);
    assert!(again.contains("already exists"), "{again}");
    assert_eq!(std::fs::read(&cert).unwrap(), pem, "an existing pair is kept");

    let port = free_port();
    let issuer = format!("https://127.0.0.1:{port}");
    let mut command = ws.command(&["serve"]);
    command
        .env("GATEHOUSE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE__SERVER__ISSUER", &issuer)
        .env("GATEHOUSE__SERVER__TLS__CERT", "tls/dev-cert.pem")
        .env("GATEHOUSE__SERVER__TLS__KEY", "tls/dev-key.pem")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("serve starts");
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let mut server = Server {
        child,
        stdout: collect(stdout),
        stderr: collect(stderr),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _context = runtime.enter();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    let health = loop {
        if let Ok(response) = runtime.block_on(client.get(format!("{issuer}/healthz")).send()) {
            break response;
        }
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("serve exited with {status}: {}", server.stderr.lock().unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "serve did not answer over https in time: {}",
            server.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    assert_eq!(health.status(), 200);
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let plain = http_get(port, "/healthz").unwrap_or_default();
    assert!(!plain.starts_with("HTTP/"), "plain http gets no page: {plain}");
    assert!(server.stdout.lock().unwrap().contains(&issuer));
    assert!(server.stderr.lock().unwrap().contains("serving HTTPS"));
}

#[test]
fn serve_refuses_a_missing_tls_key_naming_the_file() {
    let ws = Workspace::new();
    ws.ok(&["certs", "dev"]);

    let out = ws.run_with(
        &["serve"],
        &[
            ("GATEHOUSE__SERVER__BIND", "127.0.0.1:0"),
            ("GATEHOUSE__SERVER__ISSUER", "https://127.0.0.1:8443"),
            ("GATEHOUSE__SERVER__TLS__CERT", "certs/dev-cert.pem"),
            ("GATEHOUSE__SERVER__TLS__KEY", "certs/missing-key.pem"),
        ],
    );

    let stderr = failed(&["serve"], out);
    assert!(
        stderr.contains("server.tls") && stderr.contains("certs/missing-key.pem"),
        "{stderr}"
    );
}

#[test]
fn operator_changes_are_audited_and_the_chain_can_be_verified_and_exported() {
    let ws = Workspace::new();
    ws.ok(&[
        "client",
        "create",
        "--name",
        "App",
        "--id",
        "app",
        "--redirect-uri",
        "https://app.example.com/cb",
    ]);
    succeeded(
        &["user", "create"],
        ws.run_stdin(
            &["user", "create", "--email", "ada@example.com", "--password-stdin"],
            PASSWORD,
        ),
    );
    ws.ok(&["keys", "rotate"]);
    ws.ok(&["client", "delete", "app"]);

    let verified = ws.ok(&["audit", "verify"]);
    assert!(verified.contains("audit chain intact: 4 records"), "{verified}");

    let export = ws.ok(&["audit", "export"]);
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON Lines"))
        .collect();
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        vec!["client.created", "user.created", "key.rotated", "client.deleted"]
    );
    assert!(
        lines
            .iter()
            .all(|l| l["actor"] == "cli" && l["hash"].is_string() && l["time"].is_string())
    );
    assert!(!export.contains("ada@example.com") && !export.contains(PASSWORD));

    let only_clients = ws.ok(&["audit", "export", "--type", "client.created"]);
    assert_eq!(only_clients.lines().count(), 1);
    assert_eq!(
        ws.ok(&["audit", "export", "--since", "2999-01-01"])
            .lines()
            .count(),
        0
    );
    assert_eq!(
        ws.ok(&["audit", "export", "--since", "2000-01-01T00:00:00Z"])
            .lines()
            .count(),
        4
    );
    let bad = ws.fails(&["audit", "export", "--since", "yesterday"]);
    assert!(bad.contains("is not a time"), "{bad}");
}

#[test]
fn audit_verify_reports_the_first_tampered_record() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let ws = Workspace::new();
    for i in 0..3 {
        ws.ok(&[
            "client",
            "create",
            "--name",
            "App",
            "--id",
            &format!("app{i}"),
            "--redirect-uri",
            "https://app.example.com/cb",
        ]);
    }
    let db = ws.path().join("data/gatehouse.db");
    let mut conn = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    conn.batch_execute("UPDATE audit_events SET subject = 'someone-else' WHERE seq = 2")
        .unwrap();

    let broken = ws.fails(&["audit", "verify"]);

    assert!(broken.contains("audit chain broken at record 2"), "{broken}");
}

#[test]
fn a_client_secret_is_rotated_once_shown_and_audited() {
    let ws = Workspace::new();
    let created = ws.json(&[
        "client",
        "create",
        "--name",
        "Svc",
        "--id",
        "svc",
        "--grant-type",
        "client_credentials",
        "--json",
    ]);
    let old = created["client_secret"].as_str().unwrap().to_string();

    let rotated = ws.json(&["client", "rotate-secret", "svc", "--json"]);

    let new = rotated["client_secret"].as_str().unwrap();
    assert_eq!(rotated["client_id"], "svc");
    assert!(new.len() >= 43 && new != old);
    let export = ws.ok(&["audit", "export", "--type", "client.secret_rotated"]);
    assert_eq!(export.lines().count(), 1);
    assert!(
        !export.contains(new) && !export.contains(&old),
        "secrets never reach the audit log"
    );
    ws.ok(&[
        "client",
        "create",
        "--name",
        "Spa",
        "--id",
        "spa",
        "--public",
        "--redirect-uri",
        "https://spa.example.com/cb",
    ]);
    let refused = ws.fails(&["client", "rotate-secret", "spa"]);
    assert!(refused.contains("public"), "{refused}");
    assert!(
        ws.fails(&["client", "rotate-secret", "nobody"])
            .contains("no client")
    );
}

// Upstream connections (`gatehouse upstream ...`).

const UPSTREAM_SECRET: &str = "upstream-client-secret-do-not-print";

/// `upstream create` arguments for a GitHub connection, plus `extra`.
fn github_args<'a>(id: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "upstream",
        "create",
        "--id",
        id,
        "--preset",
        "github",
        "--display-name",
        "GitHub",
        "--client-id",
        "gh-client",
        "--client-secret",
        UPSTREAM_SECRET,
    ];
    args.extend_from_slice(extra);
    args
}

/// `upstream create` arguments for a plain OIDC connection at `https://<id>.example`, plus `extra`.
fn oidc_args<'a>(id: &'a str, issuer: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "upstream",
        "create",
        "--id",
        id,
        "--kind",
        "oidc",
        "--issuer",
        issuer,
        "--display-name",
        "Corp",
        "--client-id",
        "corp-client",
        "--client-secret",
        UPSTREAM_SECRET,
    ];
    args.extend_from_slice(extra);
    args
}

fn upstream_ids(ws: &Workspace) -> Vec<String> {
    ws.json(&["upstream", "list", "--json"])
        .as_array()
        .expect("an array")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn upstream_create_with_a_preset_prints_the_callback_url_to_register() {
    let ws = Workspace::new();
    let args = [
        "upstream",
        "create",
        "--id",
        "google",
        "--preset",
        "google",
        "--display-name",
        "Google",
        "--client-id",
        "1234.apps.googleusercontent.com",
        "--client-secret",
        UPSTREAM_SECRET,
    ];

    let out = succeeded(
        &args,
        ws.run_with(&args, &[("GATEHOUSE__SERVER__ISSUER", "https://id.example.com/")]),
    );

    assert!(
        out.contains("callback URL: https://id.example.com/upstream/google/callback"),
        "{out}"
    );
    assert!(out.contains("Register this callback URL"), "{out}");
    assert!(out.contains("oidc") && out.contains("Google"), "{out}");
    assert!(!out.contains(UPSTREAM_SECRET), "{out}");
    let shown = ws.json(&["upstream", "show", "google", "--json"]);
    assert_eq!(shown["kind"], "oidc", "--kind comes from the preset: {shown}");
    assert_eq!(shown["issuer"], "https://accounts.google.com");
}

#[test]
fn an_upstream_is_created_listed_shown_and_deleted_without_printing_its_secret() {
    let ws = Workspace::new();

    let created = ws.json(&github_args(
        "github",
        &["--trust-email", "--domain", "Example.COM", "--json"],
    ));

    let expected = serde_json::json!({
        "id": "github",
        "kind": "oauth2",
        "preset": "github",
        "display_name": "GitHub",
        "client_id": "gh-client",
        "issuer": null,
        "authorize_url": "https://github.com/login/oauth/authorize",
        "token_url": "https://github.com/login/oauth/access_token",
        "userinfo_url": "https://api.github.com/user",
        "scopes": ["read:user", "user:email"],
        "trust_email": true,
        "domains": ["example.com"],
        "allow_private_network": false,
        "callback_url": "http://127.0.0.1:8080/upstream/github/callback",
        "source": "database",
    });
    for (field, value) in expected.as_object().unwrap() {
        assert_eq!(&created[field], value, "`{field}` in {created}");
    }
    let listed = ws.ok(&["upstream", "list"]);
    assert_eq!(listed, "github\toauth2\tGitHub\tdatabase\n");
    let listed_json = ws.json(&["upstream", "list", "--json"]);
    assert_eq!(listed_json, serde_json::json!([created.clone()]));
    let shown_json = ws.json(&["upstream", "show", "github", "--json"]);
    assert_eq!(shown_json, created);
    let shown = ws.ok(&["upstream", "show", "github"]);
    assert!(
        shown.contains("http://127.0.0.1:8080/upstream/github/callback")
            && shown.contains("database")
            && shown.contains("example.com"),
        "{shown}"
    );
    for out in [
        created.to_string(),
        listed,
        listed_json.to_string(),
        shown_json.to_string(),
        shown,
    ] {
        assert!(!out.contains(UPSTREAM_SECRET), "the secret was printed: {out}");
    }
    let db = std::fs::read(ws.path().join("data/gatehouse.db")).unwrap();
    assert!(
        !db.windows(UPSTREAM_SECRET.len())
            .any(|w| w == UPSTREAM_SECRET.as_bytes()),
        "the secret is stored sealed"
    );

    let deleted = ws.ok(&["upstream", "delete", "github"]);

    assert!(
        deleted.contains("deleted upstream connection github"),
        "{deleted}"
    );
    assert!(upstream_ids(&ws).is_empty());
    assert!(
        ws.fails(&["upstream", "show", "github"])
            .contains("no upstream connection `github`")
    );
    assert!(
        ws.fails(&["upstream", "delete", "github"])
            .contains("no upstream connection `github`")
    );
    let export = ws.ok(&["audit", "export"]);
    let events: Vec<String> = export
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(events, vec!["upstream.created", "upstream.deleted"]);
    assert!(!export.contains(UPSTREAM_SECRET));
}

#[test]
fn an_upstream_id_is_used_once() {
    let ws = Workspace::new();
    ws.ok(&github_args("github", &[]));

    let refused = ws.fails(&github_args("github", &[]));

    assert!(refused.contains("`github` already exists"), "{refused}");
    assert_eq!(upstream_ids(&ws), vec!["github"]);
}

#[test]
fn invalid_upstreams_are_refused_with_a_reason_and_nothing_is_created() {
    let ws = Workspace::new();
    let oauth2_without_token_url = [
        "upstream",
        "create",
        "--id",
        "custom",
        "--kind",
        "oauth2",
        "--display-name",
        "Custom",
        "--client-id",
        "c",
        "--client-secret",
        "s",
        "--authorize-url",
        "https://auth.example/authorize",
        "--userinfo-url",
        "https://auth.example/user",
    ];
    let no_kind = [
        "upstream",
        "create",
        "--id",
        "x",
        "--issuer",
        "https://x.example",
        "--display-name",
        "X",
        "--client-id",
        "c",
        "--client-secret",
        "s",
    ];
    let no_secret = [
        "upstream",
        "create",
        "--id",
        "x",
        "--preset",
        "google",
        "--display-name",
        "X",
        "--client-id",
        "c",
    ];
    let mut unknown_preset = github_args("x", &[]);
    unknown_preset[5] = "myspace";
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            oidc_args("Bad Id!", "https://login.corp.example", &[]),
            &["id must be", "a-z"],
        ),
        (
            oidc_args("corp", "http://login.corp.example", &[]),
            &["issuer must be https", "allow_private_network"],
        ),
        (oidc_args("corp", "not a url", &[]), &["issuer is not a URL"]),
        (oauth2_without_token_url.to_vec(), &["token_url is required"]),
        (
            unknown_preset,
            &["myspace", "google", "microsoft", "github", "apple", "gitlab"],
        ),
        (no_kind.to_vec(), &["--kind is required"]),
        (no_secret.to_vec(), &["--client-secret"]),
        (
            github_args("x", &["--kind", "oidc"]),
            &["github preset is an oauth2 provider"],
        ),
        (
            oidc_args("corp", "https://login.corp.example", &["--claim-subject", "id"]),
            &["oauth2 connections only"],
        ),
        (
            oidc_args(
                "corp",
                "https://login.corp.example",
                &["--domain", "not a domain"],
            ),
            &["is not an email domain"],
        ),
        (
            oidc_args("corp", "https://login.corp.example", &["--apple-team-id", "T"]),
            &["--apple-key-id"],
        ),
    ];

    for (args, expected) in cases {
        let stderr = ws.fails(&args);
        for e in expected {
            assert!(stderr.contains(e), "{args:?}: `{e}` not in {stderr}");
        }
        assert!(!stderr.contains("Page {"), "a message, not Debug: {stderr}");
    }

    assert!(upstream_ids(&ws).is_empty());
    let export = ws.ok(&["audit", "export"]);
    assert_eq!(export, "", "refusals are not recorded as creations");
    ws.ok(&oidc_args(
        "corp",
        "http://127.0.0.1:9999",
        &["--allow-private-network"],
    ));
    assert_eq!(upstream_ids(&ws), vec!["corp"]);
}

#[test]
fn an_oauth2_upstream_takes_its_endpoints_and_claim_mapping_from_flags() {
    let ws = Workspace::new();

    let created = ws.json(&[
        "upstream",
        "create",
        "--id",
        "forge",
        "--kind",
        "oauth2",
        "--display-name",
        "Forge",
        "--client-id",
        "c",
        "--client-secret",
        "s",
        "--authorize-url",
        "https://forge.example/oauth/authorize",
        "--token-url",
        "https://forge.example/oauth/token",
        "--userinfo-url",
        "https://forge.example/api/me",
        "--scope",
        "read_user",
        "--scope",
        "email",
        "--claim-subject",
        "user_id",
        "--claim-email",
        "mail",
        "--claim-email-verified",
        "mail_confirmed",
        "--claim-name",
        "full_name",
        "--claim-picture",
        "avatar",
        "--json",
    ]);

    assert_eq!(created["kind"], "oauth2");
    assert_eq!(created["preset"], Value::Null);
    assert_eq!(created["scopes"], serde_json::json!(["read_user", "email"]));
    assert_eq!(
        created["claims"],
        serde_json::json!({
            "subject": "user_id",
            "email": "mail",
            "email_verified": "mail_confirmed",
            "name": "full_name",
            "picture": "avatar",
        })
    );
    assert_eq!(ws.json(&["upstream", "show", "forge", "--json"]), created);
}

#[test]
fn an_email_domain_is_claimed_by_one_upstream_only() {
    let ws = Workspace::new();
    ws.ok(&oidc_args(
        "corp",
        "https://login.corp.example",
        &["--domain", "corp.example"],
    ));

    let refused = ws.fails(&oidc_args(
        "other",
        "https://login.other.example",
        &["--domain", "other.example", "--domain", "CORP.example"],
    ));

    assert!(
        refused.contains("corp.example") && refused.contains("`corp`"),
        "{refused}"
    );
    assert_eq!(upstream_ids(&ws), vec!["corp"]);
    ws.ok(&["upstream", "delete", "corp"]);
    ws.ok(&oidc_args(
        "other",
        "https://login.other.example",
        &["--domain", "corp.example"],
    ));
}

#[test]
fn an_upstream_from_the_config_file_is_listed_as_config_and_cannot_be_deleted() {
    let ws = Workspace::new();
    std::fs::write(
        ws.path().join("gatehouse.toml"),
        format!(
            "[[upstreams]]\nid = \"corp\"\nkind = \"oidc\"\ndisplay_name = \"Corp SSO\"\nissuer = \"https://login.corp.example\"\nclient_id = \"corp-client\"\nclient_secret = \"{UPSTREAM_SECRET}\"\ndomains = [\"corp.example\"]\n"
        ),
    )
    .unwrap();
    fn with_config<'a>(args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["--config", "gatehouse.toml"];
        all.extend_from_slice(args);
        all
    }
    ws.ok(&with_config(&github_args("github", &[])));

    let listed = ws.ok(&with_config(&["upstream", "list"]));

    assert_eq!(
        listed,
        "corp\toidc\tCorp SSO\tconfig\ngithub\toauth2\tGitHub\tdatabase\n"
    );
    let shown = ws.json(&with_config(&["upstream", "show", "corp", "--json"]));
    assert_eq!(shown["source"], "config");
    assert_eq!(
        shown["callback_url"],
        "http://127.0.0.1:8080/upstream/corp/callback"
    );
    let shown_text = ws.ok(&with_config(&["upstream", "show", "corp"]));
    assert!(
        shown_text.contains("config") && shown_text.contains("/upstream/corp/callback"),
        "{shown_text}"
    );
    assert!(!shown_text.contains(UPSTREAM_SECRET) && !shown.to_string().contains(UPSTREAM_SECRET));
    let refused = ws.fails(&with_config(&["upstream", "delete", "corp"]));
    assert!(
        refused.contains("declared in the config file; remove it there"),
        "{refused}"
    );
    let same_id = ws.fails(&with_config(&oidc_args("corp", "https://x.example", &[])));
    assert!(same_id.contains("declared in the config file"), "{same_id}");
    let same_domain = ws.fails(&with_config(&oidc_args(
        "corp2",
        "https://x.example",
        &["--domain", "corp.example"],
    )));
    assert!(
        same_domain.contains("corp.example") && same_domain.contains("`corp`"),
        "{same_domain}"
    );
    assert_eq!(ws.ok(&with_config(&["upstream", "list"])).lines().count(), 2);
}

#[test]
fn an_upstream_client_secret_is_read_from_stdin() {
    let ws = Workspace::new();
    let args = [
        "upstream",
        "create",
        "--id",
        "github",
        "--preset",
        "github",
        "--display-name",
        "GitHub",
        "--client-id",
        "gh-client",
        "--client-secret-stdin",
    ];

    let out = succeeded(&args, ws.run_stdin(&args, &format!("{UPSTREAM_SECRET}\n")));

    assert!(out.contains("/upstream/github/callback"), "{out}");
    assert!(!out.contains(UPSTREAM_SECRET));
    let shown = ws.ok(&["upstream", "show", "github"]);
    assert!(
        shown.contains("client secret:") && shown.contains("set"),
        "{shown}"
    );
    assert!(!shown.contains(UPSTREAM_SECRET));
    let mut empty = args.to_vec();
    empty[3] = "github2";
    let refused = failed(&empty, ws.run_stdin(&empty, "\n"));
    assert!(refused.contains("no client secret"), "{refused}");
    let mut both = empty.clone();
    both.extend(["--client-secret", "x"]);
    failed(&both, ws.run_stdin(&both, "y\n"));
    assert_eq!(upstream_ids(&ws), vec!["github"]);
}

#[test]
fn an_apple_upstream_reads_its_key_from_a_file_and_needs_no_secret() {
    use base64::Engine;
    let ws = Workspace::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    std::fs::write(
        ws.path().join("AuthKey_KEY123.p8"),
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    std::fs::write(ws.path().join("garbage.p8"), "not a key").unwrap();
    let apple = |key_file: &'static str| {
        vec![
            "upstream",
            "create",
            "--id",
            "apple",
            "--preset",
            "apple",
            "--display-name",
            "Apple",
            "--client-id",
            "com.example.web",
            "--apple-team-id",
            "TEAM123",
            "--apple-key-id",
            "KEY123",
            "--apple-private-key-file",
            key_file,
        ]
    };

    let bad_key = ws.fails(&apple("garbage.p8"));
    let missing = ws.fails(&apple("missing.p8"));
    let mut without_key = apple("x")[..10].to_vec();
    without_key.extend(["--client-secret", "s"]);
    let no_key = ws.fails(&without_key);
    let mut created_args = apple("AuthKey_KEY123.p8");
    created_args.push("--json");
    let created = ws.json(&created_args);

    assert!(bad_key.contains("apple.private_key"), "{bad_key}");
    assert!(missing.contains("missing.p8"), "{missing}");
    assert!(no_key.contains("--apple-private-key-file"), "{no_key}");
    assert_eq!(created["kind"], "oidc");
    assert_eq!(created["issuer"], "https://appleid.apple.com");
    assert_eq!(
        created["apple"],
        serde_json::json!({ "team_id": "TEAM123", "key_id": "KEY123" })
    );
    let shown = ws.ok(&["upstream", "show", "apple"]);
    assert!(shown.contains("team_id=TEAM123"), "{shown}");
    let printed = format!("{created}{shown}");
    assert!(!printed.contains(&body[..40]), "the key is never printed");
}

// Organizations (`gatehouse org ...`).

/// The organizations' slugs, from `org list --json`.
fn org_slugs(ws: &Workspace) -> Vec<String> {
    ws.json(&["org", "list", "--json"])
        .as_array()
        .expect("an array")
        .iter()
        .map(|o| o["slug"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_organization_is_created_listed_and_shown() {
    let ws = Workspace::new();

    let created = ws.json(&[
        "org",
        "create",
        "--slug",
        "acme",
        "--name",
        "Acme Corp",
        "--domain",
        "Acme.example",
        "--json",
    ]);

    let id = created["id"].as_str().expect("an id").to_string();
    assert!(id.starts_with("org_"), "{created}");
    assert_eq!(created["slug"], "acme");
    assert_eq!(created["name"], "Acme Corp");
    assert_eq!(created["domains"], serde_json::json!(["acme.example"]));
    assert_eq!(created["sso_required"], false);
    let listed = ws.json(&["org", "list", "--json"]);
    assert_eq!(listed, serde_json::json!([created.clone()]));
    let by_slug = ws.json(&["org", "show", "acme", "--json"]);
    let by_id = ws.json(&["org", "show", &id, "--json"]);
    assert_eq!(by_slug, by_id);
    for (key, value) in created.as_object().unwrap() {
        assert_eq!(&by_slug[key], value, "`{key}` in {by_slug}");
    }
    assert_eq!(by_slug["roles"], serde_json::json!([]));
    assert_eq!(by_slug["members"], serde_json::json!([]));
    let text = ws.ok(&["org", "create", "--slug", "globex", "--name", "Globex"]);
    assert!(
        text.contains("slug:         globex") && text.contains("org_"),
        "{text}"
    );
    let list = ws.ok(&["org", "list"]);
    assert!(
        list.contains(&id) && list.contains("acme.example") && list.contains("Globex"),
        "{list}"
    );
    let shown = ws.ok(&["org", "show", "acme"]);
    assert!(
        shown.contains(&id) && shown.contains("Acme Corp") && shown.contains("acme.example"),
        "{shown}"
    );
    let unknown = ws.fails(&["org", "show", "initech"]);
    assert!(unknown.contains("initech"), "{unknown}");
}

#[test]
fn an_organization_slug_is_used_once() {
    let ws = Workspace::new();
    ws.ok(&["org", "create", "--slug", "acme", "--name", "Acme"]);

    let refused = ws.fails(&["org", "create", "--slug", "acme", "--name", "Other Acme"]);

    assert!(refused.contains("acme") && refused.contains("taken"), "{refused}");
    assert_eq!(org_slugs(&ws), vec!["acme"]);
}

#[test]
fn an_email_domain_belongs_to_one_organization_only() {
    let ws = Workspace::new();
    ws.ok(&[
        "org",
        "create",
        "--slug",
        "acme",
        "--name",
        "Acme",
        "--domain",
        "acme.example",
    ]);

    let refused = ws.fails(&[
        "org",
        "create",
        "--slug",
        "globex",
        "--name",
        "Globex",
        "--domain",
        "globex.example",
        "--domain",
        "ACME.example",
    ]);

    assert!(
        refused.contains("acme.example") && refused.contains("`acme`"),
        "{refused}"
    );
    assert_eq!(org_slugs(&ws), vec!["acme"]);
    ws.ok(&["org", "delete", "acme"]);
    ws.ok(&[
        "org",
        "create",
        "--slug",
        "globex",
        "--name",
        "Globex",
        "--domain",
        "acme.example",
    ]);
}

#[test]
fn invalid_organizations_are_refused_with_a_reason_and_nothing_is_created() {
    let ws = Workspace::new();
    let cases: [(&[&str], &str); 6] = [
        (&["--slug", "Acme Corp", "--name", "Acme"], "slug"),
        (&["--slug", "-acme", "--name", "Acme"], "slug"),
        (&["--slug", "a", "--name", "Acme"], "slug"),
        (
            &["--slug", "acme", "--name", "Acme", "--sso-required"],
            "--connection",
        ),
        (
            &["--slug", "acme", "--name", "Acme", "--connection", "nowhere"],
            "nowhere",
        ),
        (
            &["--slug", "acme", "--name", "Acme", "--domain", "not a domain"],
            "not a domain",
        ),
    ];

    for (extra, expected) in cases {
        let mut args = vec!["org", "create"];
        args.extend_from_slice(extra);
        let refused = ws.fails(&args);
        assert!(refused.contains(expected), "{args:?}: {refused}");
    }

    assert_eq!(org_slugs(&ws), Vec::<String>::new(), "nothing was created");
}

#[test]
fn an_organization_with_its_own_connection_can_require_sso() {
    let ws = Workspace::new();
    ws.ok(&oidc_args("acme-sso", "https://login.acme.example", &[]));

    let created = ws.json(&[
        "org",
        "create",
        "--slug",
        "acme",
        "--name",
        "Acme",
        "--domain",
        "acme.example",
        "--connection",
        "acme-sso",
        "--sso-required",
        "--json",
    ]);

    assert_eq!(created["connection_id"], "acme-sso", "{created}");
    assert_eq!(created["sso_required"], true, "{created}");
    let shown = ws.ok(&["org", "show", "acme"]);
    assert!(
        shown.contains("acme-sso") && shown.contains("sso_required: true"),
        "{shown}"
    );
}

#[test]
fn roles_are_defined_and_existing_users_are_added_with_them() {
    let ws = Workspace::new();
    let user = ws.json(&["user", "create", "--email", "ann@acme.example", "--json"]);
    let user_id = user["user_id"].as_str().unwrap().to_string();
    ws.ok(&["org", "create", "--slug", "acme", "--name", "Acme"]);

    let role = ws.json(&[
        "org",
        "role",
        "create",
        "--org",
        "acme",
        "--name",
        "billing",
        "--permission",
        "invoices:read",
        "--permission",
        "invoices:write",
        "--json",
    ]);
    let added = ws.json(&[
        "org",
        "member",
        "add",
        "--org",
        "acme",
        "--email",
        "ann@acme.example",
        "--role",
        "billing",
        "--json",
    ]);

    assert_eq!(role["name"], "billing");
    assert_eq!(
        role["permissions"],
        serde_json::json!(["invoices:read", "invoices:write"])
    );
    assert_eq!(added["user_id"], user_id.as_str(), "{added}");
    assert_eq!(added["roles"], serde_json::json!(["billing"]));
    let shown = ws.json(&["org", "show", "acme", "--json"]);
    assert_eq!(shown["roles"].as_array().map(Vec::len), Some(1), "{shown}");
    assert_eq!(shown["roles"][0]["name"], "billing");
    assert_eq!(
        shown["roles"][0]["permissions"],
        serde_json::json!(["invoices:read", "invoices:write"])
    );
    let members = shown["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{shown}");
    assert_eq!(members[0]["user_id"], user_id.as_str());
    assert_eq!(members[0]["email"], "ann@acme.example");
    assert_eq!(members[0]["roles"], serde_json::json!(["billing"]));
    let text = ws.ok(&["org", "show", "acme"]);
    assert!(
        text.contains("billing") && text.contains("invoices:write") && text.contains("ann@acme.example"),
        "{text}"
    );

    // Replacing a role's permissions and a member's roles.
    ws.ok(&[
        "org",
        "role",
        "create",
        "--org",
        "acme",
        "--name",
        "billing",
        "--permission",
        "invoices:read",
    ]);
    ws.ok(&[
        "org",
        "role",
        "create",
        "--org",
        "acme",
        "--name",
        "admin",
        "--permission",
        "*",
    ]);
    ws.ok(&[
        "org",
        "member",
        "add",
        "--org",
        "acme",
        "--email",
        "ann@acme.example",
        "--role",
        "admin",
    ]);
    let shown = ws.json(&["org", "show", "acme", "--json"]);
    assert_eq!(shown["members"].as_array().map(Vec::len), Some(1), "{shown}");
    assert_eq!(shown["members"][0]["roles"], serde_json::json!(["admin"]));
    let billing = shown["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "billing")
        .expect("the billing role");
    assert_eq!(billing["permissions"], serde_json::json!(["invoices:read"]));

    ws.ok(&[
        "org",
        "member",
        "remove",
        "--org",
        "acme",
        "--email",
        "ann@acme.example",
    ]);

    let shown = ws.json(&["org", "show", "acme", "--json"]);
    assert_eq!(shown["members"], serde_json::json!([]), "{shown}");
    let again = ws.fails(&[
        "org",
        "member",
        "remove",
        "--org",
        "acme",
        "--email",
        "ann@acme.example",
    ]);
    assert!(again.contains("not a member"), "{again}");
}

#[test]
fn a_member_needs_an_existing_user_and_defined_roles() {
    let ws = Workspace::new();
    ws.ok(&["user", "create", "--email", "ann@acme.example"]);
    ws.ok(&["org", "create", "--slug", "acme", "--name", "Acme"]);
    ws.ok(&[
        "org",
        "role",
        "create",
        "--org",
        "acme",
        "--name",
        "viewer",
        "--permission",
        "read",
    ]);

    let undefined = ws.fails(&[
        "org",
        "member",
        "add",
        "--org",
        "acme",
        "--email",
        "ann@acme.example",
        "--role",
        "admin",
    ]);
    let unknown = ws.fails(&[
        "org",
        "member",
        "add",
        "--org",
        "acme",
        "--email",
        "nobody@acme.example",
        "--role",
        "viewer",
    ]);
    let no_org = ws.fails(&[
        "org",
        "member",
        "add",
        "--org",
        "initech",
        "--email",
        "ann@acme.example",
    ]);

    assert!(
        undefined.contains("admin") && undefined.contains("acme"),
        "{undefined}"
    );
    assert!(unknown.contains("nobody@acme.example"), "{unknown}");
    assert!(no_org.contains("initech"), "{no_org}");
    let shown = ws.json(&["org", "show", "acme", "--json"]);
    assert_eq!(
        shown["members"],
        serde_json::json!([]),
        "nothing was added: {shown}"
    );
}

#[test]
fn an_invitation_prints_its_link_once_with_its_expiry() {
    let ws = Workspace::new();
    let issuer = [("GATEHOUSE__SERVER__ISSUER", "https://id.example.com/")];
    ws.ok(&["org", "create", "--slug", "acme", "--name", "Acme"]);
    ws.ok(&[
        "org",
        "role",
        "create",
        "--org",
        "acme",
        "--name",
        "viewer",
        "--permission",
        "read",
    ]);
    let args = [
        "org",
        "invite",
        "--org",
        "acme",
        "--email",
        "Bob@Acme.example",
        "--role",
        "viewer",
    ];

    let out = succeeded(&args, ws.run_with(&args, &issuer));

    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("invitation URL: "))
        .unwrap_or_else(|| panic!("no invitation URL: {out}"));
    let token = url
        .strip_prefix("https://id.example.com/invitations/")
        .unwrap_or_else(|| panic!("<issuer>/invitations/<token>: {url}"));
    assert!(
        token.len() >= 32 && !token.contains('/'),
        "a random token: {token}"
    );
    assert!(
        out.contains("expires:") && out.contains("bob@acme.example"),
        "{out}"
    );
    let json_args = [&args[..], &["--json"]].concat();
    let created: Value = serde_json::from_str(&succeeded(&json_args, ws.run_with(&json_args, &issuer)))
        .expect("one JSON object");
    let second = created["url"].as_str().expect("the url");
    assert!(
        second.starts_with("https://id.example.com/invitations/") && second != url,
        "{created}"
    );
    assert_eq!(created["invitation"]["roles"], serde_json::json!(["viewer"]));
    assert!(
        created["invitation"]["expires_at"].as_i64().is_some(),
        "{created}"
    );
    assert!(
        !created["invitation"]
            .to_string()
            .contains(&second["https://id.example.com/invitations/".len()..]),
        "the token is in the link only: {created}"
    );
    let undefined = ws.fails(&[
        "org",
        "invite",
        "--org",
        "acme",
        "--email",
        "bob@acme.example",
        "--role",
        "admin",
    ]);
    assert!(undefined.contains("admin"), "{undefined}");
    let bad_email = ws.fails(&["org", "invite", "--org", "acme", "--email", "not-an-email"]);
    assert!(bad_email.contains("error:"), "{bad_email}");
}

#[test]
fn an_organization_is_deleted_with_its_roles_and_members() {
    let ws = Workspace::new();
    ws.ok(&["user", "create", "--email", "ann@acme.example"]);
    ws.ok(&[
        "org",
        "create",
        "--slug",
        "acme",
        "--name",
        "Acme",
        "--domain",
        "acme.example",
    ]);
    ws.ok(&[
        "org",
        "role",
        "create",
        "--org",
        "acme",
        "--name",
        "viewer",
        "--permission",
        "read",
    ]);
    ws.ok(&[
        "org",
        "member",
        "add",
        "--org",
        "acme",
        "--email",
        "ann@acme.example",
        "--role",
        "viewer",
    ]);

    let out = ws.ok(&["org", "delete", "acme"]);

    assert!(out.contains("acme"), "{out}");
    assert_eq!(org_slugs(&ws), Vec::<String>::new());
    let gone = ws.fails(&["org", "show", "acme"]);
    assert!(gone.contains("acme"), "{gone}");
    let again = ws.fails(&["org", "delete", "acme"]);
    assert!(again.contains("acme"), "{again}");
    ws.ok(&["user", "show", "ann@acme.example"]);
    ws.ok(&[
        "org",
        "create",
        "--slug",
        "acme",
        "--name",
        "Acme again",
        "--domain",
        "acme.example",
    ]);
    assert_eq!(
        ws.json(&["org", "show", "acme", "--json"])["members"],
        serde_json::json!([])
    );
}

#[test]
fn a_client_is_restricted_to_existing_organizations() {
    let ws = Workspace::new();
    let create = |extra: &[&'static str]| {
        let mut args = vec![
            "client",
            "create",
            "--name",
            "B2B app",
            "--redirect-uri",
            "https://app.example.com/cb",
        ];
        args.extend_from_slice(extra);
        args
    };

    let refused = ws.fails(&create(&["--organization", "unknown"]));

    assert!(refused.contains("unknown"), "{refused}");
    assert_eq!(ws.json(&["client", "list", "--json"]), serde_json::json!([]));
    let org = ws.json(&["org", "create", "--slug", "acme", "--name", "Acme", "--json"]);
    let org_id = org["id"].as_str().unwrap();
    let client = ws.json(&create(&["--organization", "acme", "--json"]));
    assert_eq!(client["organizations"], serde_json::json!([org_id]), "{client}");
    let shown = ws.ok(&["client", "show", client["client_id"].as_str().unwrap()]);
    assert!(
        shown.contains("organizations:") && shown.contains(org_id) && shown.contains("acme"),
        "{shown}"
    );
    let any = ws.json(&create(&["--json"]));
    let shown = ws.ok(&["client", "show", any["client_id"].as_str().unwrap()]);
    assert!(shown.contains("organizations:  any"), "{shown}");
}

#[test]
fn a_user_profile_is_updated_shown_and_cleared() {
    let ws = Workspace::new();
    ws.ok(&["user", "create", "--email", "ada@example.com"]);

    let updated = ws.json(&[
        "user",
        "update",
        "ada@example.com",
        "--name",
        "Ada Lovelace",
        "--set",
        "given_name=Ada",
        "--set",
        "phone_number=+442071234567",
        "--set",
        "address.locality=London",
        "--set",
        "attributes.tier=gold",
        "--json",
    ]);

    let expected = serde_json::json!({
        "given_name": "Ada",
        "phone_number": "+442071234567",
        "address": { "locality": "London" },
        "attributes": { "tier": "gold" },
    });
    assert_eq!(updated["profile"], expected, "{updated}");
    assert_eq!(updated["name"], "Ada Lovelace", "{updated}");
    let id = updated["user_id"].as_str().expect("a user_id");
    let shown = ws.json(&["user", "show", id, "--json"]);
    assert_eq!(shown["profile"], expected, "{shown}");
    assert_eq!(shown["name"], "Ada Lovelace", "{shown}");
    let human = ws.ok(&["user", "show", "ada@example.com"]);
    for line in [
        "given_name: Ada",
        "phone_number: +442071234567",
        "address.locality: London",
        "attributes.tier: gold",
        "password:       not set",
    ] {
        assert!(human.lines().any(|l| l == line), "no `{line}` in: {human}");
    }
    let text_update = ws.ok(&["user", "update", "ada@example.com", "--set", "locale=en-GB"]);
    assert!(
        text_update.lines().any(|l| l == "locale: en-GB")
            && text_update.lines().any(|l| l == "address.locality: London"),
        "{text_update}"
    );

    let cleared = ws.json(&[
        "user",
        "update",
        "ada@example.com",
        "--set",
        "given_name=",
        "--json",
    ]);

    assert!(cleared["profile"].get("given_name").is_none(), "{cleared}");
    let shown = ws.json(&["user", "show", "ada@example.com", "--json"]);
    assert!(shown["profile"].get("given_name").is_none(), "{shown}");
    assert_eq!(shown["profile"]["phone_number"], "+442071234567", "{shown}");
    assert_eq!(shown["profile"]["address"]["locality"], "London", "{shown}");
    assert_eq!(shown["profile"]["attributes"]["tier"], "gold", "{shown}");
    assert!(
        !ws.ok(&["user", "show", "ada@example.com"]).contains("given_name"),
        "a cleared field is not shown"
    );
}

#[test]
fn invalid_profile_updates_are_refused_naming_the_problem() {
    let ws = Workspace::new();
    ws.ok(&["user", "create", "--email", "bob@example.com"]);
    ws.ok(&["user", "update", "bob@example.com", "--set", "given_name=Bob"]);
    let update = |extra: &[&'static str]| {
        let mut args = vec!["user", "update", "bob@example.com"];
        args.extend_from_slice(extra);
        args
    };

    let unknown_field = ws.fails(&update(&["--set", "shoe_size=44"]));
    let birthdate = ws.fails(&update(&["--set", "birthdate=1990-13-45"]));
    let phone = ws.fails(&update(&["--set", "phone_number=0207 123 4567"]));
    let no_value = ws.fails(&update(&["--set", "novalue"]));
    let nothing = ws.fails(&update(&[]));
    let unknown_user = ws.fails(&["user", "update", "nobody@example.com", "--set", "given_name=X"]);

    assert!(unknown_field.contains("unknown profile field"), "{unknown_field}");
    assert!(birthdate.contains("birthdate"), "{birthdate}");
    assert!(phone.contains("phone_number"), "{phone}");
    assert!(no_value.contains("novalue"), "{no_value}");
    assert!(nothing.contains("nothing to update"), "{nothing}");
    assert!(unknown_user.contains("nobody@example.com"), "{unknown_user}");
    let shown = ws.json(&["user", "show", "bob@example.com", "--json"]);
    assert_eq!(
        shown["profile"],
        serde_json::json!({ "given_name": "Bob" }),
        "refused updates change nothing: {shown}"
    );
}

#[test]
fn consent_documents_are_created_published_listed_and_exported_as_json_lines() {
    use gatehouse::store::{ConsentAction, ConsentDocumentStore, ConsentMethod, NewConsentRecord};
    let ws = Workspace::new();
    let create = |id: &'static str, purpose: &'static str, extra: &[&'static str]| {
        let mut args = vec!["consent", "document", "create", "--id", id, "--title"];
        args.extend([if id == "terms" {
            "Terms of service"
        } else {
            "Product news"
        }]);
        args.extend(["--purpose", purpose]);
        args.extend_from_slice(extra);
        args
    };
    let created = ws.ok(&create("terms", "terms", &["--required"]));
    assert!(created.contains("gatehouse consent publish terms"), "{created}");
    ws.ok(&create("marketing-email", "marketing", &[]));
    let publish = |id: &'static str, url: &'static str, extra: &[&'static str]| {
        let mut args = vec!["consent", "publish", id, "--url", url, "--summary", "Read this."];
        args.extend_from_slice(extra);
        args
    };
    let v1 = ws.json(&publish("terms", "https://example.com/terms", &["--json"]));
    assert_eq!(
        (v1["version"].as_i64(), v1["reconsent_required"].as_bool()),
        (Some(1), Some(false))
    );
    let v2 = ws.ok(&publish("terms", "https://example.com/terms/2", &["--reconsent"]));
    assert!(
        v2.contains("published terms version 2: everyone is asked"),
        "{v2}"
    );
    ws.ok(&publish("marketing-email", "https://example.com/news", &[]));
    let listed = ws.json(&["consent", "document", "list", "--json"]);
    let terms = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "terms")
        .expect("terms listed");
    assert_eq!(terms["versions"][1]["reconsent_required"], true);
    let text = ws.ok(&["consent", "document", "list"]);
    assert!(
        text.contains("terms\tterms\trequired\tTerms of service\tversion 2"),
        "{text}"
    );

    // Bad input: a clear error, nothing created.
    let purpose = ws.fails(&create("privacy", "ads", &[]));
    assert!(
        purpose.contains("purpose `ads` must be terms, privacy or marketing"),
        "{purpose}"
    );
    let twice = ws.fails(&create("terms", "terms", &[]));
    assert!(twice.contains("already exists"), "{twice}");
    let required = ws.fails(&create("privacy", "marketing", &["--required"]));
    assert!(required.contains("cannot be required"), "{required}");
    let unknown = ws.fails(&publish("nope", "https://example.com/nope", &[]));
    assert!(unknown.contains("no consent document `nope`"), "{unknown}");
    let url = ws.fails(&publish("terms", "http://example.com/terms", &[]));
    assert!(url.contains("https"), "{url}");
    assert_eq!(
        ws.json(&["consent", "document", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Records are written by people signing in; here straight into the store.
    let ada = ws.json(&["user", "create", "--email", "ada@example.com", "--json"]);
    let ada_id = ada["user_id"].as_str().unwrap().to_string();
    let url = format!("sqlite://{}", ws.path().join("data/gatehouse.db").display());
    let store = gatehouse::store::sql::SqlStore::open(&url, 1).unwrap();
    let record = |user: &str, document: &str, at| NewConsentRecord {
        user_id: user.into(),
        document_id: document.into(),
        version: 1,
        action: ConsentAction::Accepted,
        at,
        method: ConsentMethod::Authorization,
        client_id: Some("app".into()),
        region: Some("DE".into()),
    };
    store
        .append_consent_records(&[
            record(&ada_id, "terms", 1_800_000_000),
            record(&ada_id, "marketing-email", 1_800_000_100),
            record("someone-else", "terms", 1_800_000_200),
        ])
        .unwrap();
    let lines = |args: &[&str]| -> Vec<Value> {
        ws.ok(args)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON Lines"))
            .collect()
    };
    let all = lines(&["consent", "export"]);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["document_id"], "terms");
    assert_eq!(all[0]["action"], "accepted");
    assert_eq!(all[0]["time"], "2027-01-15T08:00:00Z");
    assert_eq!(
        lines(&["consent", "export", "--user", "ada@example.com"]).len(),
        2
    );
    assert_eq!(
        lines(&["consent", "export", "--user", &ada_id, "--document", "terms"]).len(),
        1
    );
    assert_eq!(lines(&["consent", "export", "--document", "terms"]).len(), 2);
    assert_eq!(lines(&["consent", "export", "--since", "1800000050"]).len(), 2);
    let bad_document = ws.fails(&["consent", "export", "--document", "nope"]);
    assert!(
        bad_document.contains("no consent document `nope`"),
        "{bad_document}"
    );
    let bad_user = ws.fails(&["consent", "export", "--user", "nobody@example.com"]);
    assert!(bad_user.contains("no user with the email"), "{bad_user}");
}

#[test]
fn a_client_policy_is_shown_changed_and_bad_values_are_refused() {
    let ws = Workspace::new();
    let created = ws.json(&[
        "client",
        "create",
        "--name",
        "Shop",
        "--redirect-uri",
        "https://shop.example.com/cb",
        "--json",
    ]);
    let id = created["client_id"].as_str().expect("a client id").to_string();
    let shown = ws.json(&["client", "policy", &id, "--json"]);
    assert_eq!(shown["allow_light_accounts"], false, "{shown}");
    let changed = ws.json(&[
        "client",
        "policy",
        &id,
        "--light-accounts",
        "true",
        "--require-field",
        "given_name",
        "--require-field",
        "birthdate",
        "--optional-field",
        "phone_number",
        "--region",
        "US-CA",
        "--json",
    ]);
    assert_eq!(changed["allow_light_accounts"], true);
    assert_eq!(
        changed["required_fields"],
        serde_json::json!(["given_name", "birthdate"])
    );
    assert_eq!(changed["optional_fields"], serde_json::json!(["phone_number"]));
    assert_eq!(changed["region"], "US-CA");
    let text = ws.ok(&["client", "policy", &id]);
    assert!(
        text.contains("given_name, birthdate") && text.contains("US-CA"),
        "{text}"
    );
    let error = ws.fails(&["client", "policy", &id, "--require-field", "password"]);
    assert!(error.contains("password"), "{error}");
    let error = ws.fails(&["client", "policy", &id, "--region", "Atlantis"]);
    assert!(error.contains("region"), "{error}");
    let error = ws.fails(&["client", "policy", &id, "--require-document", "terms"]);
    assert!(error.contains("terms"), "{error}");
    let error = ws.fails(&["client", "policy", "no-such-client"]);
    assert!(error.contains("no-such-client"), "{error}");
    // A refused change left the policy as it was; an empty value clears a list.
    assert_eq!(ws.json(&["client", "policy", &id, "--json"]), changed);
    let cleared = ws.json(&[
        "client",
        "policy",
        &id,
        "--optional-field",
        "",
        "--region",
        "",
        "--json",
    ]);
    assert_eq!(cleared["optional_fields"], serde_json::json!([]));
    assert_eq!(cleared["region"], Value::Null);
}

#[test]
fn preference_topics_are_created_listed_and_deleted() {
    let ws = Workspace::new();

    let created = ws.json(&[
        "preference",
        "topic",
        "create",
        "--id",
        "news",
        "--name",
        "Product news",
        "--description",
        "What is new",
        "--channels",
        "email,sms",
        "--json",
    ]);

    assert_eq!(created["id"], "news");
    assert_eq!(created["channels"], serde_json::json!(["email", "sms"]));
    let listed = ws.ok(&["preference", "topic", "list"]);
    assert!(listed.contains("news\temail,sms\tProduct news"), "{listed}");
    let duplicate = ws.fails(&[
        "preference",
        "topic",
        "create",
        "--id",
        "news",
        "--name",
        "Again",
        "--channels",
        "email",
    ]);
    assert!(duplicate.contains("already exists"), "{duplicate}");
    let bad = ws.fails(&[
        "preference",
        "topic",
        "create",
        "--id",
        "tips",
        "--name",
        "Tips",
        "--channels",
        "e mail",
    ]);
    assert!(bad.contains("not a channel name"), "{bad}");
    ws.ok(&["preference", "topic", "delete", "news"]);
    assert_eq!(
        ws.json(&["preference", "topic", "list", "--json"]),
        serde_json::json!([])
    );
    let missing = ws.fails(&["preference", "topic", "delete", "news"]);
    assert!(missing.contains("no topic"), "{missing}");
}

#[test]
fn a_user_is_exported_and_erased_on_request() {
    let ws = Workspace::new();
    let created = ws.json(&[
        "user",
        "create",
        "--email",
        "ada@example.com",
        "--name",
        "Ada Lovelace",
        "--json",
    ]);
    let id = created["user_id"].as_str().expect("a user id").to_string();

    let export = ws.json(&["user", "export", "ada@example.com"]);

    assert_eq!(export["format"], "gatehouse-export/1");
    assert_eq!(export["profile"]["user_id"], id.as_str());
    assert_eq!(export["profile"]["email"], "ada@example.com");
    assert!(export["audit_events"].is_array());
    let refused = ws.fails(&["user", "erase", &id]);
    assert!(refused.contains("--yes"), "{refused}");
    ws.ok(&["user", "show", &id]);

    let erased = ws.ok(&["user", "erase", &id, "--yes"]);

    assert!(erased.contains(&format!("erased user {id}")), "{erased}");
    ws.fails(&["user", "show", &id]);
    let gone = ws.fails(&["user", "export", &id]);
    assert!(gone.contains("no user"), "{gone}");
    let trail = ws.ok(&["audit", "export", "--type", "user.erased"]);
    assert!(trail.contains(&id), "{trail}");
    let everything = ws.ok(&["audit", "export"]);
    assert!(
        !everything.contains("ada@example.com"),
        "an audit record holds the email"
    );
    assert!(ws.ok(&["audit", "verify"]).contains("intact"));
    ws.ok(&["user", "create", "--email", "ada@example.com"]);
}

#[test]
fn a_users_sessions_are_listed_and_ended_one_or_all_with_audit() {
    use gatehouse::store::{AuditStore, Session, SessionStore};
    let ws = Workspace::new();
    let ada = ws.json(&["user", "create", "--email", "ada@example.com", "--json"]);
    let ada_id = ada["user_id"].as_str().unwrap().to_string();
    let bob = ws.json(&["user", "create", "--email", "bob@example.com", "--json"]);
    let bob_id = bob["user_id"].as_str().unwrap().to_string();
    assert_eq!(
        ws.json(&["user", "sessions", "ada@example.com", "--json"]),
        serde_json::json!([])
    );

    // Sessions are started by people signing in; here straight into the store.
    let url = format!("sqlite://{}", ws.path().join("data/gatehouse.db").display());
    let store = gatehouse::store::sql::SqlStore::open(&url, 1).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let session = |hash: &str, user: &str, persistent: bool| Session {
        id_hash: hash.into(),
        user_id: user.into(),
        auth_time: now - 60,
        amr: "pwd".into(),
        idp: None,
        created_at: now - 60,
        expires_at: now + 3600,
        pending_factor: false,
        persistent,
        last_seen_at: now - 30,
        user_agent: "Firefox on Linux".into(),
        previous_id_hash: None,
        rotated_at: now - 60,
    };
    store
        .create_session(&session("hash-kept", &ada_id, true))
        .unwrap();
    store
        .create_session(&session("hash-plain", &ada_id, false))
        .unwrap();
    store
        .create_session(&session("hash-bob", &bob_id, false))
        .unwrap();

    let listed = ws.json(&["user", "sessions", "ada@example.com", "--json"]);
    let items = listed.as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    assert!(
        !listed.to_string().contains("hash-"),
        "hashes are never shown: {listed}"
    );
    let kept = items.iter().find(|i| i["persistent"] == true).unwrap();
    assert_eq!(kept["device"], "Firefox on Linux");
    let kept_id = kept["id"].as_str().unwrap().to_string();
    let text = ws.ok(&["user", "sessions", &ada_id]);
    assert_eq!(text.lines().count(), 2, "{text}");
    // Ids are sealed afresh at every listing (random nonce): any listed id works.
    assert!(
        text.contains("\tkept\t") && text.contains("Firefox on Linux"),
        "{text}"
    );

    // Another user's session id, or nonsense, ends nothing.
    let foreign = ws.fails(&["user", "sessions", "bob@example.com", "--end", &kept_id]);
    assert!(foreign.contains("no session"), "{foreign}");
    let nonsense = ws.fails(&["user", "sessions", &ada_id, "--end", "nonsense"]);
    assert!(nonsense.contains("no session"), "{nonsense}");
    ws.fails(&["user", "sessions", &ada_id, "--end", &kept_id, "--end-all"]);

    assert!(
        ws.ok(&["user", "sessions", &ada_id, "--end", &kept_id])
            .contains("ended 1")
    );
    assert_eq!(store.list_sessions(&ada_id, now).unwrap().len(), 1);
    assert!(
        ws.ok(&["user", "sessions", &ada_id, "--end-all"])
            .contains("ended 1")
    );
    assert!(store.list_sessions(&ada_id, now).unwrap().is_empty());
    assert_eq!(store.list_sessions(&bob_id, now).unwrap().len(), 1, "bob's stays");

    let events: Vec<(String, Option<String>)> = store
        .audit_for_user(&ada_id, 10)
        .unwrap()
        .into_iter()
        .map(|r| (r.event.event, r.event.actor))
        .collect();
    assert!(
        events.contains(&("user.session_revoked".into(), Some("cli".into()))),
        "{events:?}"
    );
    assert!(
        events.contains(&("user.sessions_revoked".into(), Some("cli".into()))),
        "{events:?}"
    );
}

#[test]
fn mfa_policies_of_clients_and_organizations_are_shown_changed_and_bad_values_are_refused() {
    let ws = Workspace::new();
    let created = ws.json(&[
        "client",
        "create",
        "--name",
        "Bank",
        "--redirect-uri",
        "https://bank.example.com/cb",
        "--json",
    ]);
    let id = created["client_id"].as_str().expect("a client id").to_string();
    let shown = ws.json(&["client", "mfa", &id, "--json"]);
    assert_eq!(
        shown,
        serde_json::json!({ "required": false, "factors": [], "passkey_only": false })
    );
    let changed = ws.json(&[
        "client",
        "mfa",
        &id,
        "--required",
        "true",
        "--factor",
        "passkey",
        "--factor",
        "totp",
        "--json",
    ]);
    assert_eq!(changed["required"], true);
    assert_eq!(changed["factors"], serde_json::json!(["passkey", "totp"]));
    let text = ws.ok(&["client", "mfa", &id]);
    assert!(
        text.contains("passkey, totp") && text.contains("required:     true"),
        "{text}"
    );
    let error = ws.fails(&["client", "mfa", &id, "--factor", "sms"]);
    assert!(error.contains("sms"), "{error}");
    let error = ws.fails(&["client", "mfa", &id, "--passkey-only", "true", "--factor", "totp"]);
    assert!(error.contains("passkey_only"), "{error}");
    let error = ws.fails(&["client", "mfa", "no-such-client"]);
    assert!(error.contains("no-such-client"), "{error}");
    // A refused change left the policy as it was; an empty factor clears the list.
    assert_eq!(ws.json(&["client", "mfa", &id, "--json"]), changed);
    let cleared = ws.json(&["client", "mfa", &id, "--factor", "", "--json"]);
    assert_eq!(cleared["factors"], serde_json::json!([]));

    ws.ok(&["org", "create", "--slug", "acme", "--name", "Acme"]);
    let org = ws.json(&["org", "mfa", "acme", "--passkey-only", "true", "--json"]);
    assert_eq!(org["passkey_only"], true);
    let text = ws.ok(&["org", "mfa", "acme"]);
    assert!(text.contains("passkey_only: true"), "{text}");
    let error = ws.fails(&["org", "mfa", "nope", "--required", "true"]);
    assert!(error.contains("nope"), "{error}");

    ws.ok(&["user", "create", "--email", "ada@example.com"]);
    let refused = ws.fails(&["user", "reset-factors", "ada@example.com"]);
    assert!(refused.contains("--yes"), "{refused}");
    let text = ws.ok(&["user", "reset-factors", "ada@example.com", "--yes"]);
    assert!(text.contains("removed 0 second factor(s)"), "{text}");
    let error = ws.fails(&["user", "reset-factors", "nobody@example.com", "--yes"]);
    assert!(error.contains("nobody"), "{error}");
}
