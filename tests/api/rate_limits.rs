//! Every flow is rate-limited per node: 429 with `Retry-After` in the endpoint's own format, keyed by
//! the trusted client IP (spoofed `X-Forwarded-For` from an untrusted peer changes nothing).

use gatehouse::config::Settings;

use crate::helpers::*;

/// One test per backend with adjusted settings.
macro_rules! limited_test {
    ($name:ident, $adjust:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                let app = spawn_app_with(Backend::Sqlite, $adjust).await;
                ($body)(app).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if std::env::var("TEST_DATABASE_URL").is_err() {
                    return;
                }
                let app = spawn_app_with(Backend::Postgres, $adjust).await;
                ($body)(app).await;
            }
        }
    };
}

async fn login_page(app: &TestApp, rp: &Rp) -> (String, String) {
    let auth = app.authorization(rp, &["email"], &[]);
    let start = app.get(&auth.url).await;
    let login = app.get(&app.url(start.location())).await;
    (login.hidden("req"), login.hidden("csrf"))
}

limited_test!(
    repeated_sign_in_attempts_for_one_account_are_slowed_down_with_429_and_retry_after,
    |s: &mut Settings| s.rate_limits.sign_in_per_account = "3/min".into(),
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        app.create_user("ada@example.com");
        let rp = app.rp("web", Some(SECRET)).await;
        let (req, csrf) = login_page(&app, &rp).await;
        let attempt = |email: &'static str| {
            let (req, csrf) = (req.clone(), csrf.clone());
            let app = &app;
            async move {
                let form = [
                    ("req", req.as_str()),
                    ("csrf", csrf.as_str()),
                    ("email", email),
                    ("password", "wrong password"),
                ];
                app.post_form(&app.url("/login"), &form).await
            }
        };
        for _ in 0..3 {
            assert_eq!(attempt("ada@example.com").await.status, 401);
        }

        let limited = attempt("ADA@example.com").await;

        assert_eq!(
            limited.status, 429,
            "the account is limited whatever the case of the email"
        );
        let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry), "{retry}");
        assert!(limited.body.contains("Too many attempts"));
        assert_eq!(
            attempt("bob@example.com").await.status,
            401,
            "another account is not affected"
        );
    }
);

limited_test!(
    spoofed_forwarded_for_headers_from_an_untrusted_peer_are_limited_as_one_client,
    |s: &mut Settings| s.rate_limits.authorize_per_ip = "20/min".into(),
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        let url = app.url(&format!("/authorize?client_id=web&redirect_uri={REDIRECT_URI}&response_type=code&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"));
        let mut statuses = Vec::new();
        for i in 0..100u32 {
            let spoofed = format!("{}.{}.{}.{}", i % 200 + 1, i * 7 % 250, i * 13 % 250, i % 250 + 1);
            let response = app
                .http
                .get(&url)
                .header("X-Forwarded-For", spoofed)
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 20, "{statuses:?}");
        assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    }
);

limited_test!(
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit,
    |s: &mut Settings| {
        s.rate_limits.authorize_per_ip = "2/min".into();
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    },
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        let url = app.url(&format!("/authorize?client_id=web&redirect_uri={REDIRECT_URI}&response_type=code&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"));
        let get = |xff: &'static str| {
            let request = app.http.get(&url).header("X-Forwarded-For", xff);
            async move { request.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(get("198.51.100.1").await, 303);
        assert_eq!(get("198.51.100.1").await, 303);
        assert_eq!(get("198.51.100.1").await, 429);
        assert_eq!(get("198.51.100.2").await, 303, "another client behind the proxy");
        // A malformed header does not skip the check: it falls back to the proxy's own address.
        assert_eq!(get("not-an-ip").await, 303);
        assert_eq!(get("also-bad").await, 303);
        assert_eq!(get("garbage").await, 429);
    }
);

limited_test!(
    failed_client_authentication_is_charged_heavier_and_answered_in_oauth_json,
    |s: &mut Settings| {
        s.rate_limits.token_per_ip = "30/min".into();
        s.rate_limits.client_auth_failure_cost = 10;
    },
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        let form = [("grant_type", "client_credentials")];
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(
                app.api_post(
                    "/token",
                    &form,
                    Some(("web", "wrong-secret-wrong-secret-wrong-secret")),
                )
                .await
                .status()
                .as_u16(),
            );
        }
        let limited = app.api_post("/token", &form, Some(("web", SECRET))).await;

        assert_eq!(statuses, vec![401, 401, 401]);
        assert_eq!(
            limited.status(),
            429,
            "three failures used up the IP's budget of 30"
        );
        assert!(limited.headers().get("retry-after").is_some());
        assert_eq!(limited.headers()["cache-control"], "no-store");
        let body: serde_json::Value = limited.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }
);

limited_test!(
    the_token_endpoint_is_limited_per_client,
    |s: &mut Settings| s.rate_limits.token_per_client = "2/min".into(),
    |app: TestApp| async move {
        app.create_client(gatehouse::flows::admin::NewClient {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api:read".into()],
            ..app.client("svc")
        });
        let form = [("grant_type", "client_credentials")];
        assert_eq!(
            app.api_post("/token", &form, Some(("svc", SECRET)))
                .await
                .status(),
            200
        );
        assert_eq!(
            app.api_post("/token", &form, Some(("svc", SECRET)))
                .await
                .status(),
            200
        );
        assert_eq!(
            app.api_post("/token", &form, Some(("svc", SECRET)))
                .await
                .status(),
            429
        );
    }
);

limited_test!(
    userinfo_is_limited_per_ip_in_its_own_format,
    |s: &mut Settings| s.rate_limits.userinfo_per_ip = "1/min".into(),
    |app: TestApp| async move {
        let first = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth("garbage")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 401);
        let second = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth("garbage")
            .send()
            .await
            .unwrap();
        assert_eq!(second.status(), 429);
        assert!(second.headers().get("retry-after").is_some());
    }
);

limited_test!(
    one_ip_trying_many_accounts_is_limited_per_ip,
    |s: &mut Settings| s.rate_limits.sign_in_per_ip = "3/min".into(),
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        let rp = app.rp("web", Some(SECRET)).await;
        let (req, csrf) = login_page(&app, &rp).await;
        let mut statuses = Vec::new();
        for i in 0..4 {
            let email = format!("victim{i}@example.com");
            let form = [
                ("req", req.as_str()),
                ("csrf", csrf.as_str()),
                ("email", &email),
                ("password", "guess"),
            ];
            statuses.push(app.post_form(&app.url("/login"), &form).await.status);
        }
        assert_eq!(statuses, vec![401, 401, 401, 429]);
    }
);

limited_test!(
    introspection_and_revocation_are_limited_per_client,
    |s: &mut Settings| {
        s.rate_limits.introspect_per_client = "2/min".into();
        s.rate_limits.revoke_per_client = "1/min".into();
    },
    |app: TestApp| async move {
        app.create_client(app.client("rs"));
        let token = [("token", "not-a-token")];
        let mut introspections = Vec::new();
        for _ in 0..3 {
            introspections.push(
                app.api_post("/introspect", &token, Some(("rs", SECRET)))
                    .await
                    .status()
                    .as_u16(),
            );
        }
        let mut revocations = Vec::new();
        for _ in 0..2 {
            revocations.push(
                app.api_post("/revoke", &token, Some(("rs", SECRET)))
                    .await
                    .status()
                    .as_u16(),
            );
        }
        assert_eq!(introspections, vec![200, 200, 429]);
        assert_eq!(revocations, vec![200, 429]);
    }
);

limited_test!(
    end_session_is_limited_per_ip_with_the_html_page,
    |s: &mut Settings| s.rate_limits.end_session_per_ip = "1/min".into(),
    |app: TestApp| async move {
        assert_eq!(app.get(&app.url("/end_session")).await.status, 200);
        let limited = app.get(&app.url("/end_session")).await;
        assert_eq!(limited.status, 429);
        assert!(limited.headers.get("retry-after").is_some());
        assert!(limited.body.contains("Too many attempts"));
    }
);

limited_test!(
    every_trip_is_audited,
    |s: &mut Settings| s.rate_limits.userinfo_per_ip = "1/min".into(),
    |app: TestApp| async move {
        for _ in 0..2 {
            app.http.get(app.url("/userinfo")).send().await.unwrap();
        }
        // Trips are recorded without making the client wait: give the writer a moment.
        let mut found = false;
        for _ in 0..50 {
            let records = app.provider.store.audit_page(0, 100).unwrap();
            if let Some(r) = records.iter().find(|r| r.event.event == "rate_limit.tripped") {
                assert_eq!(r.event.detail["action"], "userinfo_per_ip");
                assert_eq!(r.event.ip.as_deref(), Some("127.0.0.1"));
                found = true;
                break;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(found, "the trip is on the record");
    }
);
