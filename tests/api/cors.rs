//! CORS for single-page apps: only registered origins, only on /token, /revoke and /userinfo.

use gatehouse::flows::admin::{self, NewClient};

use crate::db_test;
use crate::helpers::*;

const SPA: &str = "https://spa.example.com";

fn spa_client(app: &TestApp) {
    app.create_client(NewClient {
        allowed_origins: vec![SPA.into()],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["api".into()],
        redirect_uris: vec![],
        ..app.client("spa")
    });
}

db_test!(
    a_registered_origin_passes_the_preflight_and_reads_the_token_response,
    |app: TestApp| async move {
        spa_client(&app);
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, app.url("/token"))
            .header("Origin", SPA)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204);
        assert_eq!(preflight.headers()["access-control-allow-origin"], SPA);
        assert!(
            preflight.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("Authorization")
        );
        assert!(
            preflight
                .headers()
                .get("access-control-allow-credentials")
                .is_none(),
            "never with cookies"
        );

        let token = app
            .http
            .post(app.url("/token"))
            .header("Origin", SPA)
            .basic_auth("spa", Some(SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), 200);
        assert_eq!(token.headers()["access-control-allow-origin"], SPA);
        assert_eq!(token.headers()["vary"], "Origin");

        let userinfo = app
            .http
            .get(app.url("/userinfo"))
            .header("Origin", SPA)
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status(), 401);
        assert_eq!(
            userinfo.headers()["access-control-allow-origin"],
            SPA,
            "errors are readable by the app too"
        );
    }
);

db_test!(
    other_origins_and_browser_flow_endpoints_get_no_cors,
    |app: TestApp| async move {
        spa_client(&app);
        for evil in [
            "https://evil.example.com",
            "https://spa.example.com.evil.com",
            "null",
            "https://spa_example.com",
        ] {
            let preflight = app
                .http
                .request(reqwest::Method::OPTIONS, app.url("/token"))
                .header("Origin", evil)
                .header("Access-Control-Request-Method", "POST")
                .send()
                .await
                .unwrap();
            assert_eq!(preflight.status(), 403, "{evil}");
            assert!(
                preflight.headers().get("access-control-allow-origin").is_none(),
                "{evil}"
            );
            let token = app
                .http
                .post(app.url("/token"))
                .header("Origin", evil)
                .basic_auth("spa", Some(SECRET))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert!(
                token.headers().get("access-control-allow-origin").is_none(),
                "{evil}"
            );
        }
        for path in [
            "/authorize?client_id=spa",
            "/login?req=x",
            "/end_session",
            "/introspect",
        ] {
            let response = app
                .http
                .get(app.url(path))
                .header("Origin", SPA)
                .send()
                .await
                .unwrap();
            assert!(
                response.headers().get("access-control-allow-origin").is_none(),
                "{path}"
            );
        }
    }
);

db_test!(origins_must_be_exact_at_registration, |app: TestApp| async move {
    for bad in [
        "https://spa.example.com/",
        "https://spa.example.com/app",
        "http://spa.example.com",
        "*",
    ] {
        let refused = admin::create_client(
            app.provider.store.as_ref(),
            NewClient {
                allowed_origins: vec![bad.into()],
                ..app.client("x")
            },
        );
        assert!(refused.is_err(), "{bad}");
    }
    assert!(app.provider.store.find_client("x").unwrap().is_none());
});
