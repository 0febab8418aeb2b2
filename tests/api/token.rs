//! The token endpoint (RFC 6749 §3.2, §5.2; DESIGN §4.3–4.4): code redemption rules, client
//! authentication, malformed requests, client credentials, ID token algorithms and the error format.
//! The small helpers at the top are shared with `refresh.rs` and `introspection.rs`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::flows::admin::{self, NewClient};
use openidconnect::core::CoreJwsSigningAlgorithm;
use openidconnect::{
    AccessToken, AccessTokenHash, AuthType, OAuth2TokenResponse, PkceCodeChallenge, TokenResponse,
};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Shared helpers (used by refresh.rs and introspection.rs too)
// ---------------------------------------------------------------------------------------------

/// An API answer: status, headers and the body as JSON (or as a JSON string if it is not JSON).
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub(crate) async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// An RFC 6749 §5.2 error: this status and code, a description, never cached.
    pub(crate) fn assert_oauth_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.error()), (status, code), "body: {}", self.body);
        assert!(
            self.body["error_description"].is_string(),
            "no error_description: {}",
            self.body
        );
        assert_eq!(self.header("cache-control"), "no-store");
        if status == 401 {
            assert!(
                self.header("www-authenticate").starts_with("Basic"),
                "401 without a Basic challenge: {:?}",
                self.headers
            );
        }
    }
}

/// POST a form to an API endpoint without cookies, optionally with HTTP Basic client credentials.
pub(crate) async fn post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Reply {
    Reply::from(app.api_post(path, form, basic).await).await
}

/// POST a raw body with a given content type to /token as client `web`.
async fn post_raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> Reply {
    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request sent");
    Reply::from(response).await
}

/// Runs the browser part of the code flow and returns the code (not yet redeemed) with its request.
pub(crate) async fn fresh_code(
    app: &TestApp,
    rp: &Rp,
    email: &str,
    scopes: &[&str],
) -> (String, Authorization) {
    let auth = app.authorization(rp, scopes, &[]);
    let back = app.browser_flow(&auth, email).await;
    (back.query("code").expect("a code"), auth)
}

/// Redeems a code by hand as a confidential client (client_secret_basic).
pub(crate) async fn redeem(app: &TestApp, client_id: &str, code: &str, verifier: &str) -> Reply {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    post(app, "/token", &form, Some((client_id, SECRET))).await
}

/// Refreshes by hand as a confidential client (client_secret_basic).
pub(crate) async fn refresh_with(app: &TestApp, client_id: &str, refresh_token: &str) -> Reply {
    post(
        app,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        Some((client_id, SECRET)),
    )
    .await
}

/// Introspects a token as a confidential client.
pub(crate) async fn introspect(app: &TestApp, client_id: &str, token: &str) -> Reply {
    post(app, "/introspect", &[("token", token)], Some((client_id, SECRET))).await
}

/// GET /userinfo with a Bearer header.
pub(crate) async fn userinfo(app: &TestApp, access_token: &str) -> Reply {
    Reply::from(
        app.http
            .get(app.url("/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request sent"),
    )
    .await
}

/// One decoded part of a compact JWS: 0 = header, 1 = claims.
pub(crate) fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a compact JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Like `db_test!`, for tests that need adjusted settings.
#[macro_export]
macro_rules! db_test_with {
    ($name:ident, $adjust:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                let app = $crate::helpers::spawn_app_with($crate::helpers::Backend::Sqlite, $adjust).await;
                ($body)(app).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if std::env::var("TEST_DATABASE_URL").is_err() {
                    eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant skipped");
                    return;
                }
                let app = $crate::helpers::spawn_app_with($crate::helpers::Backend::Postgres, $adjust).await;
                ($body)(app).await;
            }
        }
    };
}

const USER: &str = "ada@example.com";

/// A client `web` (confidential, default grants), a user, and the client's relying party.
async fn web_app(app: &TestApp) -> Rp {
    app.create_client(app.client("web"));
    app.create_user(USER);
    app.rp("web", Some(SECRET)).await
}

// ---------------------------------------------------------------------------------------------
// Authorization codes (DESIGN §4.3)
// ---------------------------------------------------------------------------------------------

db_test!(
    a_reused_code_is_rejected_and_revokes_the_tokens_it_issued,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, auth) = fresh_code(&app, &rp, USER, &["email"]).await;
        let first = redeem(&app, "web", &code, auth.verifier.secret()).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let access = first.body["access_token"]
            .as_str()
            .expect("an access token")
            .to_string();
        let refresh = first.body["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_string();

        let second = redeem(&app, "web", &code, auth.verifier.secret()).await;

        second.assert_oauth_error(400, "invalid_grant");
        refresh_with(&app, "web", &refresh)
            .await
            .assert_oauth_error(400, "invalid_grant");
        let introspection = introspect(&app, "web", &access).await;
        assert_eq!(introspection.body, json!({ "active": false }));
        let info = userinfo(&app, &access).await;
        assert_eq!(info.status, 401, "{}", info.body);
        assert!(
            info.header("www-authenticate")
                .contains("error=\"invalid_token\""),
            "{:?}",
            info.headers
        );
    }
);

db_test!(
    a_code_issued_to_another_client_is_rejected,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        app.create_client(app.client("other"));
        let (code, auth) = fresh_code(&app, &rp, USER, &[]).await;

        let reply = redeem(&app, "other", &code, auth.verifier.secret()).await;

        reply.assert_oauth_error(400, "invalid_grant");
    }
);

db_test!(
    a_code_redeemed_with_another_redirect_uri_is_rejected,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, auth) = fresh_code(&app, &rp, USER, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9999/callback/other"),
            ("code_verifier", auth.verifier.secret().as_str()),
        ];

        let reply = post(&app, "/token", &form, Some(("web", SECRET))).await;

        reply.assert_oauth_error(400, "invalid_grant");
    }
);

db_test!(
    a_code_redeemed_without_its_redirect_uri_is_rejected,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, auth) = fresh_code(&app, &rp, USER, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", auth.verifier.secret().as_str()),
        ];

        let reply = post(&app, "/token", &form, Some(("web", SECRET))).await;

        reply.assert_oauth_error(400, "invalid_grant");
    }
);

db_test!(
    a_code_redeemed_with_the_wrong_pkce_verifier_is_rejected,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, _auth) = fresh_code(&app, &rp, USER, &[]).await;
        let (_, other_verifier) = PkceCodeChallenge::new_random_sha256();

        let reply = redeem(&app, "web", &code, other_verifier.secret()).await;

        reply.assert_oauth_error(400, "invalid_grant");
    }
);

db_test!(
    a_code_redeemed_without_the_verifier_its_challenge_requires_is_rejected,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, _auth) = fresh_code(&app, &rp, USER, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ];

        let reply = post(&app, "/token", &form, Some(("web", SECRET))).await;

        reply.assert_oauth_error(400, "invalid_grant");
    }
);

db_test_with!(
    an_expired_code_is_rejected,
    |s: &mut gatehouse::config::Settings| s.tokens.authorization_code_ttl = 1,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, auth) = fresh_code(&app, &rp, USER, &[]).await;

        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        let reply = redeem(&app, "web", &code, auth.verifier.secret()).await;

        reply.assert_oauth_error(400, "invalid_grant");
    }
);

db_test!(
    twenty_parallel_redemptions_of_one_code_yield_exactly_one_success,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, auth) = fresh_code(&app, &rp, USER, &[]).await;
        let form: Vec<(String, String)> = vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), code),
            ("redirect_uri".into(), REDIRECT_URI.into()),
            ("code_verifier".into(), auth.verifier.secret().clone()),
        ];

        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (http, url, form) = (app.http.clone(), app.url("/token"), form.clone());
                actix_web::rt::spawn(async move {
                    let response = http
                        .post(url)
                        .basic_auth("web", Some(SECRET))
                        .form(&form)
                        .send()
                        .await
                        .expect("request sent");
                    Reply::from(response).await
                })
            })
            .collect();
        let mut replies = Vec::new();
        for task in tasks {
            replies.push(task.await.expect("task finished"));
        }

        let successes = replies.iter().filter(|r| r.status == 200).count();
        let refusals = replies
            .iter()
            .filter(|r| r.status == 400 && r.error() == "invalid_grant")
            .count();
        let other: Vec<_> = replies
            .iter()
            .filter(|r| r.status != 200 && r.error() != "invalid_grant")
            .map(|r| (r.status, r.body.clone()))
            .collect();
        assert_eq!((successes, refusals), (1, 19), "unexpected answers: {other:?}");
    }
);

// ---------------------------------------------------------------------------------------------
// Client authentication (RFC 6749 §2.3, DESIGN §4.4)
// ---------------------------------------------------------------------------------------------

db_test!(
    a_wrong_client_secret_is_rejected_with_401_and_a_challenge,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, auth) = fresh_code(&app, &rp, USER, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", auth.verifier.secret().as_str()),
        ];

        let reply = post(
            &app,
            "/token",
            &form,
            Some(("web", "not-the-secret-not-the-secret-0123456")),
        )
        .await;

        reply.assert_oauth_error(401, "invalid_client");
        assert_eq!(reply.header("www-authenticate"), "Basic realm=\"gatehouse\"");
        // The failed attempt did not consume the code.
        assert_eq!(
            redeem(&app, "web", &code, auth.verifier.secret()).await.status,
            200
        );
    }
);

db_test!(
    an_unknown_client_is_rejected_with_401,
    |app: TestApp| async move {
        web_app(&app).await;

        let reply = post(
            &app,
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("nobody", SECRET)),
        )
        .await;

        reply.assert_oauth_error(401, "invalid_client");
    }
);

db_test!(
    client_secret_basic_and_client_secret_post_both_authenticate,
    |app: TestApp| async move {
        let basic_rp = web_app(&app).await;
        let post_rp = app
            .rp("web", Some(SECRET))
            .await
            .set_auth_type(AuthType::RequestBody);

        let (by_basic, _) = app.code_flow(&basic_rp, USER, &[]).await;
        let (by_post, nonce) = app.code_flow(&post_rp, USER, &[]).await;

        assert!(!by_basic.access_token().secret().is_empty());
        let id_token = by_post.id_token().expect("an ID token");
        id_token
            .claims(&post_rp.id_token_verifier(), &nonce)
            .expect("the ID token verifies");
    }
);

db_test!(
    presenting_two_client_authentication_methods_is_an_invalid_request,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, auth) = fresh_code(&app, &rp, USER, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", auth.verifier.secret().as_str()),
            ("client_id", "web"),
            ("client_secret", SECRET),
        ];

        let reply = post(&app, "/token", &form, Some(("web", SECRET))).await;

        reply.assert_oauth_error(400, "invalid_request");
    }
);

db_test!(
    a_public_client_redeems_its_code_with_pkce_and_no_secret,
    |app: TestApp| async move {
        app.create_client(NewClient {
            public: true,
            secret: None,
            ..app.client("spa")
        });
        let user = app.create_user(USER);
        let rp = app.rp("spa", None).await;

        let (tokens, nonce) = app.code_flow(&rp, USER, &[]).await;

        let claims = tokens
            .id_token()
            .expect("an ID token")
            .claims(&rp.id_token_verifier(), &nonce)
            .expect("the ID token verifies");
        assert_eq!(claims.subject().as_str(), user.id);
    }
);

db_test!(
    a_confidential_client_presenting_no_secret_is_rejected,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, auth) = fresh_code(&app, &rp, USER, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", auth.verifier.secret().as_str()),
            ("client_id", "web"),
        ];

        let reply = post(&app, "/token", &form, None).await;

        reply.assert_oauth_error(401, "invalid_client");
    }
);

// ---------------------------------------------------------------------------------------------
// Malformed requests: 400 invalid_request, never a 500
// ---------------------------------------------------------------------------------------------

db_test!(
    a_request_without_grant_type_is_an_invalid_request,
    |app: TestApp| async move {
        web_app(&app).await;

        let reply = post(
            &app,
            "/token",
            &[("code", "abc"), ("redirect_uri", REDIRECT_URI)],
            Some(("web", SECRET)),
        )
        .await;

        reply.assert_oauth_error(400, "invalid_request");
    }
);

db_test!(
    a_repeated_parameter_is_an_invalid_request,
    |app: TestApp| async move {
        web_app(&app).await;
        let body = b"grant_type=authorization_code&code=first&code=second&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcallback";

        let reply = post_raw(&app, "application/x-www-form-urlencoded", body.to_vec()).await;

        reply.assert_oauth_error(400, "invalid_request");
    }
);

db_test!(
    a_value_that_is_not_utf8_is_an_invalid_request,
    |app: TestApp| async move {
        web_app(&app).await;
        let body = b"grant_type=authorization_code&code=%ff%fe%fd&redirect_uri=x";

        let reply = post_raw(&app, "application/x-www-form-urlencoded", body.to_vec()).await;

        reply.assert_oauth_error(400, "invalid_request");
    }
);

db_test!(
    a_100_kb_parameter_is_an_invalid_request,
    |app: TestApp| async move {
        web_app(&app).await;
        let huge = "a".repeat(100 * 1024);

        let reply = post(
            &app,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &huge),
                ("redirect_uri", REDIRECT_URI),
            ],
            Some(("web", SECRET)),
        )
        .await;

        reply.assert_oauth_error(400, "invalid_request");
    }
);

db_test!(a_json_body_is_an_invalid_request, |app: TestApp| async move {
    web_app(&app).await;
    let body = json!({ "grant_type": "client_credentials" })
        .to_string()
        .into_bytes();

    let reply = post_raw(&app, "application/json", body).await;

    reply.assert_oauth_error(400, "invalid_request");
});

db_test!(
    get_on_the_token_endpoint_is_not_allowed,
    |app: TestApp| async move {
        web_app(&app).await;

        let response = app
            .http
            .get(app.url("/token?grant_type=client_credentials"))
            .basic_auth("web", Some(SECRET))
            .send()
            .await
            .unwrap();

        assert_eq!(response.status().as_u16(), 405);
    }
);

db_test!(
    grant_types_gatehouse_does_not_offer_are_unsupported,
    |app: TestApp| async move {
        web_app(&app).await;

        for grant_type in [
            "password",
            "implicit",
            "urn:ietf:params:oauth:grant-type:device_code",
        ] {
            let form = [
                ("grant_type", grant_type),
                ("username", USER),
                ("password", PASSWORD),
            ];
            let reply = post(&app, "/token", &form, Some(("web", SECRET))).await;

            assert_eq!(reply.error(), "unsupported_grant_type", "grant_type={grant_type}");
            reply.assert_oauth_error(400, "unsupported_grant_type");
        }
    }
);

db_test!(
    a_grant_type_not_registered_for_the_client_is_unauthorized_client,
    |app: TestApp| async move {
        web_app(&app).await;

        let reply = post(
            &app,
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("web", SECRET)),
        )
        .await;

        reply.assert_oauth_error(400, "unauthorized_client");
    }
);

// ---------------------------------------------------------------------------------------------
// Client credentials (RFC 6749 §4.4, RFC 9068)
// ---------------------------------------------------------------------------------------------

fn service_client(app: &TestApp) -> NewClient {
    NewClient {
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["api:read".into()],
        ..app.client("service")
    }
}

/// Verifies an ES256 compact JWS against the key with its `kid` in the published JWKS.
async fn verify_es256_with_jwks(app: &TestApp, token: &str) {
    let header = jwt_part(token, 0);
    let jwks: Value = app
        .http
        .get(app.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} is not in the JWKS {jwks}", header["kid"]));
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(key[name].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    let (signed, signature) = token.rsplit_once('.').unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
        .expect("the signature verifies with the published key");
}

db_test!(
    a_client_credentials_client_gets_an_at_jwt_access_token_and_nothing_else,
    |app: TestApp| async move {
        app.create_client(service_client(&app));

        let reply = post(
            &app,
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("service", SECRET)),
        )
        .await;

        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("cache-control"), "no-store");
        assert_eq!(reply.body["token_type"], "Bearer");
        assert_eq!(reply.body["scope"], "api:read");
        assert!(reply.body.get("refresh_token").is_none(), "{}", reply.body);
        assert!(reply.body.get("id_token").is_none(), "{}", reply.body);
        let token = reply.body["access_token"].as_str().expect("an access token");
        let header = jwt_part(token, 0);
        assert_eq!(
            (header["alg"].as_str(), header["typ"].as_str()),
            (Some("ES256"), Some("at+jwt")),
            "{header}"
        );
        let claims = jwt_part(token, 1);
        assert_eq!(claims["sub"], "service");
        assert_eq!(claims["client_id"], "service");
        assert_eq!(claims["scope"], "api:read");
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()), "{claims}");
        assert!(
            claims["exp"].as_i64().is_some_and(|exp| exp > unix_now()),
            "{claims}"
        );
        verify_es256_with_jwks(&app, token).await;
    }
);

db_test!(
    client_credentials_cannot_ask_for_the_openid_scope,
    |app: TestApp| async move {
        app.create_client(service_client(&app));

        let reply = post(
            &app,
            "/token",
            &[("grant_type", "client_credentials"), ("scope", "openid")],
            Some(("service", SECRET)),
        )
        .await;

        reply.assert_oauth_error(400, "invalid_scope");
    }
);

db_test!(
    a_public_client_cannot_be_registered_for_client_credentials,
    |app: TestApp| async move {
        let new = NewClient {
            public: true,
            secret: None,
            ..service_client(&app)
        };

        let result = admin::create_client(app.provider.store.as_ref(), new);

        assert!(result.is_err(), "a public client_credentials client was created");
        assert!(app.provider.store.find_client("service").unwrap().is_none());
    }
);

// ---------------------------------------------------------------------------------------------
// Wire format and ID token algorithms
// ---------------------------------------------------------------------------------------------

db_test!(
    a_token_error_body_has_a_stable_wire_format,
    |app: TestApp| async move {
        web_app(&app).await;

        let reply = redeem(
            &app,
            "web",
            "no-such-code",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        )
        .await;

        assert_eq!(reply.status, 400);
        assert_eq!(reply.header("content-type"), "application/json");
        insta::with_settings!({ prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!("token_endpoint_invalid_grant_error", reply.body);
        });
    }
);

db_test!(
    a_successful_token_response_is_never_cached,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (code, auth) = fresh_code(&app, &rp, USER, &[]).await;

        let reply = redeem(&app, "web", &code, auth.verifier.secret()).await;

        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("cache-control"), "no-store");
        assert_eq!(reply.body["token_type"], "Bearer");
        assert!(
            reply.body["expires_in"].as_u64().is_some_and(|s| s > 0),
            "{}",
            reply.body
        );
    }
);

/// Runs a code flow for a client signing ID tokens with `alg` and verifies the ID token at the RP.
async fn id_token_with(app: &TestApp, client_id: &str, alg: &str, expected: CoreJwsSigningAlgorithm) {
    app.create_client(NewClient {
        id_token_alg: Some(alg.into()),
        ..app.client(client_id)
    });
    let rp = app.rp(client_id, Some(SECRET)).await;

    let (tokens, nonce) = app.code_flow(&rp, USER, &[]).await;

    let id_token = tokens.id_token().expect("an ID token");
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the ID token verifies at the RP");
    assert_eq!(id_token.signing_alg().unwrap(), &expected);
    assert_eq!(claims.audiences().first().map(|a| a.as_str()), Some(client_id));
    let key = id_token.signing_key(&verifier).expect("the key is in the JWKS");
    let at_hash = AccessTokenHash::from_token(
        &AccessToken::new(tokens.access_token().secret().clone()),
        &expected,
        key,
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash), "at_hash for {alg}");
}

db_test!(
    id_tokens_signed_with_es256_verify_at_the_rp,
    |app: TestApp| async move {
        app.create_user(USER);
        id_token_with(&app, "es", "ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
    }
);

db_test!(
    id_tokens_signed_with_eddsa_verify_at_the_rp,
    |app: TestApp| async move {
        app.create_user(USER);
        id_token_with(&app, "ed", "EdDSA", CoreJwsSigningAlgorithm::EdDsa).await;
    }
);
