//! Introspection (RFC 7662), revocation (RFC 7009) and the UserInfo endpoint (OIDC Core §5.3,
//! RFC 6750): what a resource server can learn about a token, and what revoking it changes.

use std::time::Duration;

use gatehouse::flows::admin::NewClient;
use openidconnect::core::{CoreTokenResponse, CoreUserInfoClaims};
use openidconnect::{OAuth2TokenResponse, TokenIntrospectionResponse};
use serde_json::json;

use crate::helpers::*;
use crate::token::{Reply, introspect, post, refresh_with, unix_now, userinfo};
use crate::{db_test, db_test_with};

const USER: &str = "ada@example.com";

/// A client `web` (confidential, code + refresh), a resource server `resource` (confidential,
/// client_credentials only), a user, and web's relying party.
async fn web_app(app: &TestApp) -> Rp {
    app.create_client(app.client("web"));
    app.create_client(NewClient {
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["api:read".into()],
        ..app.client("resource")
    });
    app.create_user(USER);
    app.rp("web", Some(SECRET)).await
}

async fn signed_in(app: &TestApp, rp: &Rp) -> CoreTokenResponse {
    app.code_flow(rp, USER, &["email"]).await.0
}

fn refresh_secret(tokens: &CoreTokenResponse) -> &str {
    tokens.refresh_token().expect("a refresh token").secret()
}

/// Revokes by hand: `openidconnect`'s `revoke_token` refuses the test server's http revocation URL
/// (`InsecureUrl`, RFC 7009 §2 asks for TLS), so the RP cannot be used for it here.
async fn revoke(app: &TestApp, client_id: &str, token: &str) -> Reply {
    post(app, "/revoke", &[("token", token)], Some((client_id, SECRET))).await
}

// ---------------------------------------------------------------------------------------------
// Introspection (RFC 7662)
// ---------------------------------------------------------------------------------------------

db_test!(
    introspection_describes_an_active_access_token,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let user = app.provider.store.find_user_by_email(USER).unwrap().unwrap();
        let tokens = signed_in(&app, &rp).await;
        let resource = app.rp("resource", Some(SECRET)).await;

        let answer = resource
            .introspect(tokens.access_token())
            .request_async(&app.http)
            .await
            .expect("introspection works");

        assert!(answer.active());
        assert_eq!(answer.sub(), Some(user.id.as_str()));
        assert_eq!(answer.client_id().map(|c| c.as_str()), Some("web"));
        let scopes: Vec<&str> = answer
            .scopes()
            .expect("a scope")
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(scopes, ["openid", "email"]);
        assert!(answer.exp().expect("an exp").timestamp() > unix_now());
    }
);

db_test!(
    introspection_describes_an_active_refresh_token_to_its_client,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;

        let answer = introspect(&app, "web", refresh_secret(&tokens)).await;

        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.header("cache-control"), "no-store");
        assert_eq!(answer.body["active"], true, "{}", answer.body);
        assert_eq!(answer.body["token_type"], "refresh_token");
        assert_eq!(answer.body["client_id"], "web");
        assert_eq!(answer.body["scope"], "openid email");
    }
);

db_test!(
    introspection_of_a_garbage_token_is_inactive,
    |app: TestApp| async move {
        web_app(&app).await;

        let answer = introspect(&app, "resource", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").await;

        assert_eq!(
            (answer.status, answer.body.clone()),
            (200, json!({ "active": false }))
        );
    }
);

db_test!(
    introspection_of_a_revoked_access_token_is_inactive,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;
        assert_eq!(
            revoke(&app, "web", tokens.access_token().secret()).await.status,
            200
        );

        let answer = introspect(&app, "resource", tokens.access_token().secret()).await;

        assert_eq!(answer.body, json!({ "active": false }));
    }
);

db_test!(
    introspection_requires_client_authentication,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;

        let anonymous = post(
            &app,
            "/introspect",
            &[("token", tokens.access_token().secret())],
            None,
        )
        .await;
        let wrong_secret = post(
            &app,
            "/introspect",
            &[("token", tokens.access_token().secret())],
            Some(("web", "wrong-secret-wrong-secret-wrong-secret")),
        )
        .await;

        anonymous.assert_oauth_error(401, "invalid_client");
        wrong_secret.assert_oauth_error(401, "invalid_client");
    }
);

db_test!(a_public_client_cannot_introspect, |app: TestApp| async move {
    let rp = web_app(&app).await;
    app.create_client(NewClient {
        public: true,
        secret: None,
        ..app.client("spa")
    });
    let tokens = signed_in(&app, &rp).await;

    let answer = post(
        &app,
        "/introspect",
        &[("token", tokens.access_token().secret()), ("client_id", "spa")],
        None,
    )
    .await;

    answer.assert_oauth_error(401, "invalid_client");
    assert!(answer.body.get("active").is_none());
});

// ---------------------------------------------------------------------------------------------
// Revocation (RFC 7009)
// ---------------------------------------------------------------------------------------------

db_test!(
    revoking_the_access_token_locks_it_out_of_userinfo_and_introspection,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;
        assert_eq!(userinfo(&app, tokens.access_token().secret()).await.status, 200);

        let revoked = revoke(&app, "web", tokens.access_token().secret()).await;

        assert_eq!(revoked.status, 200, "{}", revoked.body);
        let info = userinfo(&app, tokens.access_token().secret()).await;
        assert_eq!(info.status, 401);
        assert!(
            info.header("www-authenticate")
                .contains("error=\"invalid_token\""),
            "{:?}",
            info.headers
        );
        assert_eq!(info.error(), "invalid_token");
        assert_eq!(
            introspect(&app, "resource", tokens.access_token().secret())
                .await
                .body,
            json!({ "active": false })
        );
    }
);

db_test!(
    revoking_the_refresh_token_revokes_its_whole_grant,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;

        let revoked = revoke(&app, "web", refresh_secret(&tokens)).await;

        assert_eq!(revoked.status, 200, "{}", revoked.body);
        refresh_with(&app, "web", refresh_secret(&tokens))
            .await
            .assert_oauth_error(400, "invalid_grant");
        assert_eq!(
            introspect(&app, "resource", tokens.access_token().secret())
                .await
                .body,
            json!({ "active": false })
        );
        assert_eq!(
            introspect(&app, "web", refresh_secret(&tokens)).await.body,
            json!({ "active": false })
        );
        assert_eq!(userinfo(&app, tokens.access_token().secret()).await.status, 401);
    }
);

db_test!(revoking_an_unknown_token_succeeds, |app: TestApp| async move {
    web_app(&app).await;

    let answer = revoke(&app, "web", "no-such-token").await;

    assert_eq!(answer.status, 200, "{}", answer.body);
});

db_test!(
    revoking_another_clients_token_succeeds_but_leaves_it_working,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        app.create_client(app.client("other"));
        let tokens = signed_in(&app, &rp).await;

        let access = revoke(&app, "other", tokens.access_token().secret()).await;
        let refresh = revoke(&app, "other", refresh_secret(&tokens)).await;

        assert_eq!((access.status, refresh.status), (200, 200));
        assert_eq!(
            userinfo(&app, tokens.access_token().secret()).await.status,
            200,
            "another client revoked web's access token"
        );
        let refreshed = refresh_with(&app, "web", refresh_secret(&tokens)).await;
        assert_eq!(
            refreshed.status, 200,
            "another client revoked web's refresh token: {}",
            refreshed.body
        );
    }
);

db_test!(
    revocation_requires_client_authentication,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;

        let answer = post(
            &app,
            "/revoke",
            &[("token", tokens.access_token().secret())],
            Some(("web", "wrong-secret-wrong-secret-wrong-secret")),
        )
        .await;

        answer.assert_oauth_error(401, "invalid_client");
        assert_eq!(userinfo(&app, tokens.access_token().secret()).await.status, 200);
    }
);

// ---------------------------------------------------------------------------------------------
// UserInfo (OIDC Core §5.3, RFC 6750)
// ---------------------------------------------------------------------------------------------

db_test!(
    userinfo_accepts_the_token_in_the_authorization_header,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;

        let info: CoreUserInfoClaims = rp
            .user_info(tokens.access_token().clone(), None)
            .unwrap()
            .request_async(&app.http)
            .await
            .expect("userinfo works");

        assert_eq!(info.email().map(|e| e.as_str()), Some(USER));
    }
);

db_test!(
    userinfo_accepts_the_token_as_a_post_form_field,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;

        let response = app
            .http
            .post(app.url("/userinfo"))
            .form(&[("access_token", tokens.access_token().secret())])
            .send()
            .await
            .unwrap();
        let info = Reply::from(response).await;

        assert_eq!(info.status, 200, "{}", info.body);
        assert_eq!(info.body["email"], USER);
        assert_eq!(info.header("cache-control"), "no-store");
    }
);

db_test!(
    userinfo_refuses_a_token_sent_in_two_places,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;
        let token = tokens.access_token().secret();

        let response = app
            .http
            .post(app.url("/userinfo"))
            .bearer_auth(token)
            .form(&[("access_token", token)])
            .send()
            .await
            .unwrap();
        let info = Reply::from(response).await;

        assert_eq!(
            (info.status, info.error()),
            (400, "invalid_request"),
            "{}",
            info.body
        );
    }
);

db_test!(
    userinfo_without_a_token_answers_a_bare_bearer_challenge,
    |app: TestApp| async move {
        web_app(&app).await;

        let info = Reply::from(app.http.get(app.url("/userinfo")).send().await.unwrap()).await;

        assert_eq!(info.status, 401);
        let challenge = info.header("www-authenticate");
        assert!(challenge.starts_with("Bearer realm="), "challenge: {challenge:?}");
        assert!(
            !challenge.contains("error="),
            "RFC 6750 §3.1: no error code without credentials: {challenge:?}"
        );
    }
);

db_test!(
    userinfo_rejects_a_garbage_token_as_invalid_token,
    |app: TestApp| async move {
        web_app(&app).await;

        let info = userinfo(&app, "not-a-token").await;

        assert_eq!(info.status, 401);
        assert!(
            info.header("www-authenticate")
                .contains("error=\"invalid_token\""),
            "{:?}",
            info.headers
        );
    }
);

db_test_with!(
    userinfo_rejects_an_expired_token_as_invalid_token,
    |s: &mut gatehouse::config::Settings| s.tokens.access_token_ttl = 1,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let tokens = signed_in(&app, &rp).await;

        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        let info = userinfo(&app, tokens.access_token().secret()).await;

        assert_eq!(info.status, 401, "{}", info.body);
        assert!(
            info.header("www-authenticate")
                .contains("error=\"invalid_token\""),
            "{:?}",
            info.headers
        );
        assert_eq!(
            introspect(&app, "resource", tokens.access_token().secret())
                .await
                .body,
            json!({ "active": false })
        );
    }
);

db_test!(
    a_client_credentials_token_is_insufficient_for_userinfo,
    |app: TestApp| async move {
        web_app(&app).await;
        let issued = post(
            &app,
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("resource", SECRET)),
        )
        .await;
        let token = issued.body["access_token"].as_str().expect("an access token");

        let info = userinfo(&app, token).await;

        assert_eq!(info.status, 403, "{}", info.body);
        assert_eq!(info.error(), "insufficient_scope");
        assert!(
            info.header("www-authenticate")
                .contains("error=\"insufficient_scope\""),
            "{:?}",
            info.headers
        );
    }
);
