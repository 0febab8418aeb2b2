//! Refresh tokens (RFC 6749 §6; DESIGN §4.5): rotation, reuse detection that revokes the family
//! (RFC 9700 §4.14.2), binding to the client, and scope that can narrow but never grow.

use gatehouse::flows::admin::NewClient;
use openidconnect::core::{CoreErrorResponseType, CoreTokenResponse, CoreUserInfoClaims};
use openidconnect::{OAuth2TokenResponse, RefreshToken, RequestTokenError, Scope, StandardErrorResponse};

use crate::db_test;
use crate::helpers::*;
use crate::token::{introspect, refresh_with, userinfo};

const USER: &str = "ada@example.com";

/// A client `web` (confidential, default grants: code + refresh), a user, and the client's RP.
async fn web_app(app: &TestApp) -> Rp {
    app.create_client(app.client("web"));
    app.create_user(USER);
    app.rp("web", Some(SECRET)).await
}

fn refresh_token_of(tokens: &CoreTokenResponse) -> RefreshToken {
    tokens.refresh_token().expect("a refresh token").clone()
}

/// Refreshes through the relying party, optionally asking for `scopes`.
async fn rp_refresh(
    app: &TestApp,
    rp: &Rp,
    token: &RefreshToken,
    scopes: &[&str],
) -> Result<
    CoreTokenResponse,
    RequestTokenError<
        openidconnect::HttpClientError<reqwest::Error>,
        StandardErrorResponse<CoreErrorResponseType>,
    >,
> {
    let mut request = rp.exchange_refresh_token(token).expect("a token endpoint");
    for s in scopes {
        request = request.add_scope(Scope::new(s.to_string()));
    }
    request.request_async(&app.http).await
}

/// The OAuth error code of a refused token request.
fn refusal<T: std::fmt::Debug, RE: std::error::Error + 'static>(
    result: Result<T, RequestTokenError<RE, StandardErrorResponse<CoreErrorResponseType>>>,
) -> String {
    match result {
        Err(RequestTokenError::ServerResponse(e)) => e.error().as_ref().to_string(),
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

fn scope_string(tokens: &CoreTokenResponse) -> String {
    tokens
        .scopes()
        .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

db_test!(
    refreshing_rotates_the_refresh_token_and_consumes_the_old_one,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (first, _) = app.code_flow(&rp, USER, &["email"]).await;
        let old = refresh_token_of(&first);

        let second = rp_refresh(&app, &rp, &old, &[]).await.expect("the refresh works");

        let new = refresh_token_of(&second);
        assert_ne!(new.secret(), old.secret(), "the refresh token was not rotated");
        assert_ne!(second.access_token().secret(), first.access_token().secret());
        assert_eq!(scope_string(&second), "openid email");
        let info: CoreUserInfoClaims = rp
            .user_info(second.access_token().clone(), None)
            .unwrap()
            .request_async(&app.http)
            .await
            .expect("the new access token works at userinfo");
        assert_eq!(info.email().map(|e| e.as_str()), Some(USER));
        assert_eq!(
            refusal(rp_refresh(&app, &rp, &old, &[]).await),
            "invalid_grant",
            "the old refresh token still worked"
        );
    }
);

db_test!(
    reusing_a_rotated_refresh_token_revokes_the_whole_family,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        let (first, _) = app.code_flow(&rp, USER, &[]).await;
        let second = rp_refresh(&app, &rp, &refresh_token_of(&first), &[])
            .await
            .expect("the refresh works");

        let replay = refresh_with(&app, "web", refresh_token_of(&first).secret()).await;

        replay.assert_oauth_error(400, "invalid_grant");
        refresh_with(&app, "web", refresh_token_of(&second).secret())
            .await
            .assert_oauth_error(400, "invalid_grant");
        for access in [first.access_token(), second.access_token()] {
            let introspection = introspect(&app, "web", access.secret()).await;
            assert_eq!(
                introspection.body["active"], false,
                "an access token of the revoked family is active: {}",
                introspection.body
            );
            assert_eq!(userinfo(&app, access.secret()).await.status, 401);
        }
    }
);

db_test!(
    another_clients_refresh_token_is_rejected_and_still_works_for_its_owner,
    |app: TestApp| async move {
        let rp = web_app(&app).await;
        app.create_client(app.client("intruder"));
        let intruder = app.rp("intruder", Some(SECRET)).await;
        let (tokens, _) = app.code_flow(&rp, USER, &[]).await;
        let stolen = refresh_token_of(&tokens);

        let result = rp_refresh(&app, &intruder, &stolen, &[]).await;

        assert_eq!(refusal(result), "invalid_grant");
        let owner = rp_refresh(&app, &rp, &stolen, &[])
            .await
            .expect("the owner's refresh token still works");
        assert!(owner.refresh_token().is_some());
        assert_eq!(
            userinfo(&app, tokens.access_token().secret()).await.status,
            200,
            "the owner's access token was revoked"
        );
    }
);

db_test!(a_refresh_cannot_widen_the_scope, |app: TestApp| async move {
    let rp = web_app(&app).await;
    let (tokens, _) = app.code_flow(&rp, USER, &["email"]).await;
    let token = refresh_token_of(&tokens);

    let wider = rp_refresh(&app, &rp, &token, &["openid", "email", "profile"]).await;

    assert_eq!(refusal(wider), "invalid_scope");
    // The refusal did not burn the token: it still refreshes, with the original scope.
    let same = rp_refresh(&app, &rp, &token, &[])
        .await
        .expect("the refresh token still works");
    assert_eq!(scope_string(&same), "openid email");
});

db_test!(a_refresh_can_narrow_the_scope, |app: TestApp| async move {
    let rp = web_app(&app).await;
    let (tokens, _) = app.code_flow(&rp, USER, &["email"]).await;

    let narrow = rp_refresh(&app, &rp, &refresh_token_of(&tokens), &["openid"])
        .await
        .expect("a narrower refresh works");

    assert_eq!(scope_string(&narrow), "openid");
    let info = userinfo(&app, narrow.access_token().secret()).await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert!(
        info.body.get("email").is_none(),
        "the narrowed token released the email: {}",
        info.body
    );
    // RFC 6749 §6: an omitted scope means the scope originally granted, not the narrowed one.
    let again = rp_refresh(&app, &rp, &refresh_token_of(&narrow), &[])
        .await
        .expect("the next refresh works");
    assert_eq!(scope_string(&again), "openid email");
});

db_test!(
    a_client_without_the_refresh_grant_gets_no_refresh_token,
    |app: TestApp| async move {
        app.create_client(NewClient {
            grant_types: vec!["authorization_code".into()],
            ..app.client("web")
        });
        app.create_user(USER);
        let rp = app.rp("web", Some(SECRET)).await;

        let (tokens, _) = app.code_flow(&rp, USER, &[]).await;

        assert!(tokens.refresh_token().is_none(), "a refresh token was issued");
        refresh_with(&app, "web", "anything")
            .await
            .assert_oauth_error(400, "unauthorized_client");
    }
);
