//! HTTPS end to end: Gatehouse serving TLS itself with a `gatehouse certs dev` pair, driven by a
//! relying party and a browser that trust only that certificate. Under TLS the issuer is https, cookies
//! are `Secure` with the `__Host-` prefix, every response carries HSTS, and RFC 7009 revocation works
//! with the `openidconnect` RP (which refuses a plain-http revocation endpoint).

use std::io::{Read, Write};
use std::time::Duration;

use openidconnect::core::{CoreErrorResponseType, CoreRevocableToken, CoreUserInfoClaims};
use openidconnect::{OAuth2TokenResponse, RequestTokenError, TokenResponse};

use crate::helpers::*;

const USER: &str = "ada@example.com";
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// An app served over TLS with a fresh development pair, and its certificate (PEM).
pub async fn spawn_tls_app(backend: Backend) -> (TestApp, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = gatehouse::tls::generate_dev_cert(dir.path()).expect("a development pair");
    let app = spawn_app_with(backend, |s| {
        // spawn_app_with has set the issuer from the port already: keep the port, switch to https.
        s.server.issuer = s.server.issuer.replacen("http://", "https://", 1);
        s.server.tls.cert = cert.display().to_string();
        s.server.tls.key = key.display().to_string();
    })
    .await;
    let pem = std::fs::read(&cert).unwrap();
    (app.with_ca(&pem), pem)
}

/// One test per backend with a TLS app: `name::sqlite` always, `name::postgres` with `TEST_DATABASE_URL`.
macro_rules! tls_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                let (app, pem) = super::spawn_tls_app(Backend::Sqlite).await;
                ($body)(app, pem).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if std::env::var("TEST_DATABASE_URL").is_err() {
                    eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant skipped");
                    return;
                }
                let (app, pem) = super::spawn_tls_app(Backend::Postgres).await;
                ($body)(app, pem).await;
            }
        }
    };
}

fn port(app: &TestApp) -> u16 {
    url::Url::parse(&app.address).unwrap().port().unwrap()
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(page: &Page) -> Vec<String> {
    page.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// A `__Host-` cookie as RFC 6265bis §4.1.3.2 wants it: Secure, Path=/, no Domain; and HttpOnly, Lax.
fn assert_host_cookie(cookie: &str) {
    let attributes: Vec<String> = cookie.split(';').map(|a| a.trim().to_ascii_lowercase()).collect();
    assert!(cookie.starts_with("__Host-gh_"), "{cookie}");
    assert!(attributes.contains(&"secure".to_string()), "not Secure: {cookie}");
    assert!(attributes.contains(&"path=/".to_string()), "no Path=/: {cookie}");
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "a Domain: {cookie}"
    );
    assert!(
        attributes.contains(&"httponly".to_string()),
        "not HttpOnly: {cookie}"
    );
    assert!(
        attributes.contains(&"samesite=lax".to_string()),
        "not SameSite=Lax: {cookie}"
    );
}

tls_test!(
    the_code_flow_works_over_https_and_the_rp_verifies_the_id_token,
    |app: TestApp, _pem: Vec<u8>| async move {
        assert!(app.address.starts_with("https://127.0.0.1:"));
        app.create_client(app.client("web"));
        let user = app.create_user(USER);
        let rp = app.rp("web", Some(SECRET)).await;

        let (tokens, nonce) = app.code_flow(&rp, USER, &["email", "profile"]).await;

        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token
            .claims(&rp.id_token_verifier(), &nonce)
            .expect("the ID token verifies");
        assert_eq!(claims.issuer().as_str(), app.address);
        assert_eq!(claims.subject().as_str(), user.id);
        let info: CoreUserInfoClaims = rp
            .user_info(tokens.access_token().clone(), None)
            .unwrap()
            .request_async(&app.http)
            .await
            .expect("userinfo works over https");
        assert_eq!(info.email().map(|e| e.as_str()), Some(USER));
    }
);

tls_test!(
    discovery_advertises_https_endpoints_only,
    |app: TestApp, _pem: Vec<u8>| async move {
        let metadata: serde_json::Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .expect("discovery over https")
            .json()
            .await
            .unwrap();

        assert_eq!(metadata["issuer"], app.address.as_str());
        let endpoints: Vec<&str> = metadata
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.ends_with("_endpoint") || k.as_str() == "jwks_uri")
            .filter_map(|(_, v)| v.as_str())
            .collect();
        assert!(endpoints.len() >= 6, "{metadata}");
        for endpoint in endpoints {
            assert!(endpoint.starts_with(&format!("{}/", app.address)), "{endpoint}");
        }
    }
);

tls_test!(
    cookies_are_secure_and_host_prefixed,
    |app: TestApp, _pem: Vec<u8>| async move {
        app.create_client(app.client("web"));
        app.create_user(USER);
        let rp = app.rp("web", Some(SECRET)).await;
        let auth = app.authorization(&rp, &[], &[]);

        let start = app.get(&auth.url).await;
        assert_eq!(start.status, 303, "{}", start.body);
        let binding = set_cookies(&start);
        assert!(
            binding.iter().any(|c| c.starts_with("__Host-gh_browser=")),
            "{binding:?}"
        );
        let signed_in = app.sign_in(&start, USER, PASSWORD).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        let session = set_cookies(&signed_in);
        assert!(
            session.iter().any(|c| c.starts_with("__Host-gh_session=")),
            "{session:?}"
        );

        for cookie in binding.iter().chain(&session) {
            assert_host_cookie(cookie);
        }
        // The browser sent the prefixed cookies back: the sign-in went through to consent.
        assert!(
            signed_in.location().starts_with("/consent"),
            "{}",
            signed_in.location()
        );
    }
);

tls_test!(
    every_response_carries_hsts,
    |app: TestApp, _pem: Vec<u8>| async move {
        app.create_client(app.client("web"));
        let rp = app.rp("web", Some(SECRET)).await;
        let auth = app.authorization(&rp, &[], &[]);
        let mut pages = Vec::new();
        for path in [
            "/.well-known/openid-configuration",
            "/jwks.json",
            "/healthz",
            "/no-such-page",
        ] {
            pages.push((path.to_string(), app.get(&app.url(path)).await));
        }
        pages.push(("authorize".into(), app.get(&auth.url).await));
        pages.push((
            "bad authorize".into(),
            app.get(&app.url("/authorize?client_id=nobody")).await,
        ));
        let token = app
            .api_post("/token", &[("grant_type", "client_credentials")], None)
            .await;
        pages.push(("token error".into(), Page::from(token).await));

        for (what, page) in pages {
            assert_eq!(
                page.headers
                    .get("strict-transport-security")
                    .and_then(|v| v.to_str().ok()),
                Some(HSTS),
                "{what} ({}): {:?}",
                page.status,
                page.headers
            );
        }
    }
);

#[actix_web::test]
async fn without_tls_there_is_no_hsts_and_cookies_are_not_prefixed() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_client(app.client("web"));
    let rp = app.rp("web", Some(SECRET)).await;
    let auth = app.authorization(&rp, &[], &[]);

    let start = app.get(&auth.url).await;

    assert!(start.headers.get("strict-transport-security").is_none());
    let cookies = set_cookies(&start);
    assert!(
        cookies.iter().any(|c| c.starts_with("gh_browser=")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().all(|c| !c.to_ascii_lowercase().contains("secure")),
        "{cookies:?}"
    );
}

tls_test!(
    a_client_that_does_not_trust_the_certificate_cannot_connect,
    |app: TestApp, _pem: Vec<u8>| async move {
        let other = tempfile::tempdir().unwrap();
        let (other_cert, _) = gatehouse::tls::generate_dev_cert(other.path()).unwrap();
        let other_pem = std::fs::read(other_cert).unwrap();
        let no_roots = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .build()
            .unwrap();
        let another_certificate = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&other_pem).unwrap())
            .build()
            .unwrap();

        for client in [no_roots, another_certificate] {
            let error = client
                .get(app.url("/healthz"))
                .send()
                .await
                .expect_err("an untrusted certificate is refused");
            assert!(error.is_connect(), "{error:?}");
        }
        // The trusting client does get through.
        let ok = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
    }
);

tls_test!(
    the_certificate_is_valid_for_localhost_too,
    |app: TestApp, pem: Vec<u8>| async move {
        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .resolve("localhost", ([127, 0, 0, 1], port(&app)).into())
            .build()
            .unwrap();

        let response = client
            .get(format!("https://localhost:{}/healthz", port(&app)))
            .send()
            .await
            .expect("localhost is a name of the development certificate");

        assert_eq!(response.status(), 200);
    }
);

tls_test!(
    plain_http_to_the_tls_port_gets_no_page,
    |app: TestApp, _pem: Vec<u8>| async move {
        let plain = reqwest::Client::builder().build().unwrap();
        match plain
            .get(format!("http://127.0.0.1:{}/healthz", port(&app)))
            .send()
            .await
        {
            Err(_) => {}
            Ok(response) => assert_ne!(response.status(), 200, "a page over plain http"),
        }

        // On the wire: whatever comes back is not an HTTP response.
        let address = ("127.0.0.1", port(&app));
        let raw = actix_web::rt::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            answer
        })
        .await
        .unwrap();
        assert!(!raw.starts_with(b"HTTP/"), "{}", String::from_utf8_lossy(&raw));
    }
);

tls_test!(
    the_rp_revokes_tokens_over_https,
    |app: TestApp, _pem: Vec<u8>| async move {
        app.create_client(app.client("web"));
        app.create_user(USER);
        let rp = app.rp("web", Some(SECRET)).await;
        let (tokens, _) = app.code_flow(&rp, USER, &["email"]).await;
        let refresh = tokens.refresh_token().expect("a refresh token").clone();

        rp.revoke_token(CoreRevocableToken::from(&refresh))
            .expect("an https revocation endpoint is accepted by the RP")
            .request_async(&app.http)
            .await
            .expect("the refresh token is revoked");
        rp.revoke_token(CoreRevocableToken::from(tokens.access_token()))
            .unwrap()
            .request_async(&app.http)
            .await
            .expect("the access token is revoked");

        let refreshed = rp
            .exchange_refresh_token(&refresh)
            .unwrap()
            .request_async(&app.http)
            .await;
        match refreshed {
            Err(RequestTokenError::ServerResponse(e)) => {
                assert_eq!(e.error(), &CoreErrorResponseType::InvalidGrant)
            }
            other => panic!("a revoked refresh token was accepted: {other:?}"),
        }
        let info: Result<CoreUserInfoClaims, _> = rp
            .user_info(tokens.access_token().clone(), None)
            .unwrap()
            .request_async(&app.http)
            .await;
        assert!(info.is_err(), "a revoked access token still reads userinfo");
    }
);
