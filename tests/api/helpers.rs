//! Spawning the app and typed helpers per endpoint.
#![allow(dead_code)]

use std::net::TcpListener;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use gatehouse::config::Settings;
use gatehouse::flows::Provider;
use gatehouse::flows::admin::{self, NewClient, NewUser};
use gatehouse::startup::Application;
use gatehouse::store::User;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IntrospectionUrl, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RevocationUrl,
    Scope,
};
use reqwest::redirect::Policy;

pub const PASSWORD: &str = "correct horse battery staple";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9999/callback";
pub const POST_LOGOUT_URI: &str = "http://127.0.0.1:9999/signed-out";
pub const SECRET: &str = "s3cret-s3cret-s3cret-s3cret-s3cret-0123";

/// Generates one test per backend: `name::sqlite` always, `name::postgres` when `TEST_DATABASE_URL` is set.
#[macro_export]
macro_rules! db_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await;
                ($body)(app).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if std::env::var("TEST_DATABASE_URL").is_err() {
                    eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant skipped");
                    return;
                }
                let app = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await;
                ($body)(app).await;
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test and is dropped with it.
pub struct TestDatabase {
    pub url: String,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
                Self {
                    url,
                    admin_url: None,
                    name: String::new(),
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
                let name = format!(
                    "gh_test_{}",
                    gatehouse::crypto::random_id()
                        .to_lowercase()
                        .replace(['-', '_'], "")
                );
                let mut conn = PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL answers");
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    admin_url: Some(admin_url),
                    name,
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(admin) = &self.admin_url {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub provider: Provider,
    pub db: TestDatabase,
    /// A browser: cookie jar, no redirects.
    pub browser: reqwest::Client,
    /// For the relying party and API calls: no cookies, no redirects.
    pub http: reqwest::Client,
    /// Where the app's `folder` mail transport writes messages.
    pub mail_dir: tempfile::TempDir,
}

pub fn test_settings(db_url: &str) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = db_url.to_string();
    settings.database.max_connections = 4;
    settings.keys.encryption_key = gatehouse::crypto::b64url(&[42u8; 32]).into();
    settings.log.level = "warn".into();
    settings
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDatabase::create(backend);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().unwrap().port();
    let mut settings = test_settings(&db.url);
    settings.server.issuer = format!("http://127.0.0.1:{port}");
    settings.server.workers = 2;
    let mail_dir = tempfile::tempdir().expect("mail dir");
    settings.mail.folder = mail_dir.path().display().to_string();
    adjust(&mut settings);
    let app = Application::build_with_listener(settings, listener).expect("the app builds");
    let provider = app.provider().clone();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        provider,
        db,
        browser: browser(),
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap(),
        mail_dir,
    }
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

pub type Rp =
    CoreClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointMaybeSet, EndpointMaybeSet>;

/// An authorization in progress, as the relying party remembers it.
pub struct Authorization {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A confidential client with the default grants, scopes and both registered URIs.
    pub fn client(&self, id: &str) -> NewClient {
        NewClient {
            name: format!("App {id}"),
            redirect_uris: vec![REDIRECT_URI.into()],
            post_logout_redirect_uris: vec![POST_LOGOUT_URI.into()],
            id: Some(id.into()),
            secret: Some(SECRET.into()),
            ..Default::default()
        }
    }

    pub fn create_client(&self, new: NewClient) -> admin::CreatedClient {
        admin::create_client(self.provider.store.as_ref(), new).expect("client created")
    }

    pub fn create_user(&self, email: &str) -> User {
        admin::create_user(
            self.provider.store.as_ref(),
            NewUser {
                email: email.into(),
                name: Some("Ada Lovelace".into()),
                password: Some(PASSWORD.into()),
                email_verified: true,
            },
        )
        .expect("user created")
    }

    /// The relying party: discovery, then an `openidconnect` client for `client_id`.
    pub async fn rp(&self, client_id: &str, secret: Option<&str>) -> Rp {
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(self.address.clone()).unwrap(), &self.http)
                .await
                .expect("discovery works");
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.into()),
            secret.map(|s| ClientSecret::new(s.into())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap())
        .set_revocation_url(RevocationUrl::new(self.url("/revoke")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(self.url("/introspect")).unwrap())
    }

    /// Starts an authorization with PKCE and a nonce for the given extra scopes.
    pub fn authorization(&self, rp: &Rp, scopes: &[&str], extra: &[(&str, &str)]) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = rp
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in scopes {
            request = request.add_scope(Scope::new(s.to_string()));
        }
        for (k, v) in extra {
            request = request.add_extra_param(*k, *v);
        }
        let (url, state, nonce) = request.url();
        Authorization {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    /// GET a URL with the browser; returns (status, Location header, body).
    pub async fn get(&self, url: &str) -> Page {
        Page::from(self.browser.get(url).send().await.expect("request sent")).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Page {
        Page::from(
            self.browser
                .post(url)
                .form(form)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// Signs in on the login page `page` (which must be a redirect to /login).
    pub async fn sign_in(&self, login_redirect: &Page, email: &str, password: &str) -> Page {
        let login = self.get(&self.url(login_redirect.location())).await;
        assert_eq!(login.status, 200, "login page: {}", login.body);
        let req = login.hidden("req");
        let csrf = login.hidden("csrf");
        self.post_form(
            &self.url("/login"),
            &[
                ("req", &req),
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Accepts the consent page that `page` redirects to.
    pub async fn consent(&self, consent_redirect: &Page, decision: &str) -> Page {
        let consent = self.get(&self.url(consent_redirect.location())).await;
        assert_eq!(consent.status, 200, "consent page: {}", consent.body);
        let req = consent.hidden("req");
        let csrf = consent.hidden("csrf");
        self.post_form(
            &self.url("/consent"),
            &[("req", &req), ("csrf", &csrf), ("decision", decision)],
        )
        .await
    }

    /// Runs the browser part of a code flow for a fresh user session: authorize, sign in, consent.
    /// Returns the final redirect to the client.
    pub async fn browser_flow(&self, auth: &Authorization, email: &str) -> Page {
        let start = self.get(&auth.url).await;
        assert_eq!(start.status, 303, "authorize: {}", start.body);
        let mut page = if start.location().starts_with("/login") {
            self.sign_in(&start, email, PASSWORD).await
        } else {
            start
        };
        if page.location().starts_with("/consent") {
            page = self.consent(&page, "allow").await;
        }
        assert_eq!(page.status, 303, "{}", page.body);
        page
    }

    /// The full code flow up to the token response.
    pub async fn code_flow(
        &self,
        rp: &Rp,
        email: &str,
        scopes: &[&str],
    ) -> (openidconnect::core::CoreTokenResponse, Nonce) {
        let auth = self.authorization(rp, scopes, &[]);
        let back = self.browser_flow(&auth, email).await;
        let code = back.query("code").expect("a code");
        assert_eq!(back.query("state").as_deref(), Some(auth.state.secret().as_str()));
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(auth.verifier)
            .request_async(&self.http)
            .await
            .expect("code exchange works");
        (tokens, auth.nonce)
    }

    /// POST a form to an API endpoint without cookies.
    pub async fn api_post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.expect("request sent")
    }
}

/// A response as a browser sees it.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Self {
            status,
            location,
            headers,
            body: response.text().await.unwrap_or_default(),
        }
    }

    pub fn location(&self) -> &str {
        self.location.as_deref().unwrap_or("")
    }

    /// A query parameter of the Location header.
    pub fn query(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(self.location()).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The value of a hidden form field.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
}

/// A test body `|app: TestApp| async move { .. }` that only touches `app.provider.*` would otherwise
/// capture just that field (edition 2021+ precise capture) and drop `app.db` — the test database —
/// before the body runs. A `Drop` impl makes the body capture the whole `TestApp`.
impl Drop for TestApp {
    fn drop(&mut self) {}
}

impl TestApp {
    /// For an app served over TLS: its address becomes `https://…`, and `http` and `browser` are
    /// replaced by clients that trust only the certificate `ca_pem` (no built-in roots) and speak only https.
    pub fn with_ca(mut self, ca_pem: &[u8]) -> Self {
        self.address = self.address.replacen("http://", "https://", 1);
        let client = |cookies: bool| {
            reqwest::Client::builder()
                .redirect(Policy::none())
                .cookie_store(cookies)
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).expect("a PEM certificate"))
                .https_only(true)
                .build()
                .unwrap()
        };
        self.http = client(false);
        self.browser = client(true);
        self
    }
}

/// A second Gatehouse *process* (the real binary) on the app's database and issuer: a replica in the
/// scale-out deployment. Killed when dropped, also when the test fails.
pub struct Replica {
    pub child: std::process::Child,
    pub address: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a replica of `app` and waits until it is ready.
pub async fn start_replica(app: &TestApp) -> Replica {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .env("GATEHOUSE__SERVER__ISSUER", app.provider.settings.issuer())
        .env("GATEHOUSE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE__DATABASE__URL", &app.db.url)
        .env(
            "GATEHOUSE__KEYS__ENCRYPTION_KEY",
            gatehouse::crypto::b64url(&[42u8; 32]),
        )
        .env("GATEHOUSE__LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the gatehouse binary starts");
    let replica = Replica {
        child,
        address: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if let Ok(r) = app.http.get(format!("{}/readyz", replica.address)).send().await {
            if r.status() == 200 {
                return replica;
            }
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the replica did not become ready");
}

/// One message the app wrote with its `folder` mail transport.
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// The whole message as written (headers and both parts).
    pub raw: String,
}

impl Mail {
    /// The first six-digit number in the plain-text part: the one-time code.
    pub fn code(&self) -> String {
        let text = self.text();
        let bytes = text.as_bytes();
        (0..bytes.len().saturating_sub(5))
            .find(|&i| {
                bytes[i..i + 6].iter().all(u8::is_ascii_digit)
                    && (i == 0 || !bytes[i - 1].is_ascii_digit())
                    && bytes.get(i + 6).is_none_or(|b| !b.is_ascii_digit())
            })
            .map(|i| text[i..i + 6].to_string())
            .expect("the mail carries a six-digit code")
    }

    /// The plain-text part, quoted-printable soft line breaks undone.
    pub fn text(&self) -> String {
        let start = self.raw.find("Content-Type: text/plain").expect("a text part");
        let part = &self.raw[start..];
        let end = part.find("Content-Type: text/html").unwrap_or(part.len());
        part[..end].replace("=\r\n", "").replace("=3D", "=")
    }

    /// The first link to the gateway in the plain-text part.
    pub fn link(&self) -> String {
        let text = self.text();
        let start = text.find("http").expect("a link");
        text[start..]
            .split_whitespace()
            .next()
            .expect("a link")
            .to_string()
    }
}

impl TestApp {
    /// Every message written so far to this address, oldest first.
    pub fn mails_to(&self, email: &str) -> Vec<Mail> {
        let mut paths: Vec<_> = std::fs::read_dir(self.mail_dir.path())
            .expect("mail dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|raw| {
                let header = |name: &str| {
                    raw.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                };
                Mail {
                    to: header("To:"),
                    subject: header("Subject:"),
                    raw: raw.clone(),
                }
            })
            .filter(|m| m.to.contains(email))
            .collect()
    }

    /// The newest message to this address, waiting up to 5 s for the background sender.
    pub async fn last_mail_to(&self, email: &str) -> Mail {
        self.mail_number(email, 1).await;
        self.mails_to(email).pop().expect("a mail")
    }

    /// The `n`th message (from 1) to this address, waiting up to 5 s for the background sender.
    pub async fn mail_number(&self, email: &str, n: usize) -> Mail {
        for _ in 0..100 {
            let mut mails = self.mails_to(email);
            if mails.len() >= n {
                return mails.swap_remove(n - 1);
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no mail number {n} to {email}");
    }
}

/// With `SCREENSHOTS_DIR` set, writes `page` there as `<name>.html`, standalone (the stylesheet inlined),
/// for `scripts/screenshots.sh` to render with headless Chromium. Without it, does nothing.
pub fn save_page(name: &str, page: &Page) {
    let Ok(dir) = std::env::var("SCREENSHOTS_DIR") else {
        return;
    };
    let css = include_str!("../../static/gatehouse.css");
    let html = page.body.replace(
        r#"<link rel="stylesheet" href="/static/gatehouse.css">"#,
        &format!("<style>{css}</style>"),
    );
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(std::path::Path::new(&dir).join(format!("{name}.html")), html).expect("page saved");
}

impl TestApp {
    /// The code in `back` (a redirect to the client) exchanged with PKCE by the relying party.
    pub async fn exchange(
        &self,
        rp: &Rp,
        auth: Authorization,
        back: &Page,
    ) -> openidconnect::core::CoreTokenResponse {
        assert_eq!(back.status, 303, "{}", back.body);
        assert!(back.location().starts_with(REDIRECT_URI), "{}", back.location());
        let code = back
            .query("code")
            .unwrap_or_else(|| panic!("no code in {}", back.location()));
        rp.exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(auth.verifier)
            .request_async(&self.http)
            .await
            .expect("code exchange works")
    }
}

/// The claims of the ID token in a token response (the RP has verified it already).
pub fn id_token_claims(tokens: &openidconnect::core::CoreTokenResponse) -> serde_json::Value {
    use base64::Engine;
    use openidconnect::TokenResponse;
    let jwt = tokens.id_token().expect("an ID token").to_string();
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
