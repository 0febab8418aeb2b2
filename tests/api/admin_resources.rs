//! The admin API beyond organizations: users (profile, sessions), clients and the audit log, for
//! operators only; the audit log scoped to the organization for organization admins.

use gatehouse::flows::admin::NewClient;
use gatehouse::flows::organizations::{self, NewOrganization};
use openidconnect::OAuth2TokenResponse;
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::*;
use crate::token::post;

/// An operator token: client `ops` with `gatehouse:admin` through client_credentials.
async fn operator(app: &TestApp) -> String {
    app.create_client(NewClient {
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["gatehouse:admin".into()],
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        ..app.client("ops")
    });
    let reply = post(
        app,
        "/token",
        &[("grant_type", "client_credentials"), ("scope", "gatehouse:admin")],
        Some(("ops", SECRET)),
    )
    .await;
    reply.body["access_token"].as_str().expect("a token").to_string()
}

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

db_test!(
    an_operator_manages_users_their_profile_and_sessions,
    |app: TestApp| async move {
        let token = operator(&app).await;
        let (status, user) = call(
            &app,
            "POST",
            "/admin/v1/users",
            &token,
            Some(json!({ "email": "grace@example.com", "name": "Grace" })),
        )
        .await;
        assert_eq!(status, 201, "{user}");
        let id = user["user_id"].as_str().unwrap().to_string();

        let (status, updated) = call(
            &app,
            "PATCH",
            &format!("/admin/v1/users/{id}"),
            &token,
            Some(json!({ "set": { "given_name": "Grace", "address.locality": "Arlington" } })),
        )
        .await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["profile"]["address"]["locality"], "Arlington");
        let (status, bad) = call(
            &app,
            "PATCH",
            &format!("/admin/v1/users/{id}"),
            &token,
            Some(json!({ "set": { "shoe_size": "9" } })),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(bad["errors"][0]["field"], "set");

        // A browser session of Ada shows up and can be ended.
        let ada = app.create_user("ada@example.com");
        app.create_client(app.client("web"));
        let rp = app.rp("web", Some(SECRET)).await;
        app.code_flow(&rp, "ada@example.com", &["openid"]).await;
        let (status, sessions) = call(
            &app,
            "GET",
            &format!("/admin/v1/users/{}/sessions", ada.id),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(sessions["items"].as_array().unwrap().len(), 1);
        assert_eq!(sessions["items"][0]["amr"], "pwd");
        let (status, _) = call(
            &app,
            "DELETE",
            &format!("/admin/v1/users/{}/sessions", ada.id),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 204);
        let (_, after) = call(
            &app,
            "GET",
            &format!("/admin/v1/users/{}/sessions", ada.id),
            &token,
            None,
        )
        .await;
        assert!(after["items"].as_array().unwrap().is_empty(), "{after}");

        let (status, page) = call(&app, "GET", "/admin/v1/users?limit=1", &token, None).await;
        assert_eq!(status, 200);
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
        let (_, rest) = call(
            &app,
            "GET",
            &format!("/admin/v1/users?limit=5&cursor={cursor}"),
            &token,
            None,
        )
        .await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert!(rest.get("next_cursor").is_none());

        let (status, _) = call(&app, "DELETE", &format!("/admin/v1/users/{id}"), &token, None).await;
        assert_eq!(status, 204);
        let (status, gone) = call(&app, "GET", &format!("/admin/v1/users/{id}"), &token, None).await;
        assert_eq!(status, 404);
        assert_eq!(gone["status"], 404);
    }
);

db_test!(
    an_operator_registers_and_deletes_clients_and_the_secret_is_shown_once,
    |app: TestApp| async move {
        let token = operator(&app).await;
        let (status, created) = call(
            &app,
            "POST",
            "/admin/v1/clients",
            &token,
            Some(json!({ "name": "Shop", "redirect_uris": ["https://shop.example/cb"] })),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let id = created["client_id"].as_str().unwrap().to_string();
        assert!(created["client_secret"].as_str().unwrap().len() >= 32);
        let (_, shown) = call(&app, "GET", &format!("/admin/v1/clients/{id}"), &token, None).await;
        assert!(shown.get("client_secret").is_none(), "never shown again");
        let (status, refused) = call(
            &app,
            "POST",
            "/admin/v1/clients",
            &token,
            Some(json!({ "name": "Bad", "redirect_uris": ["javascript:alert(1)"] })),
        )
        .await;
        assert_eq!(status, 400, "{refused}");
        let (status, _) = call(&app, "DELETE", &format!("/admin/v1/clients/{id}"), &token, None).await;
        assert_eq!(status, 204);
        let (status, _) = call(&app, "DELETE", &format!("/admin/v1/clients/{id}"), &token, None).await;
        assert_eq!(status, 404);
    }
);

db_test!(
    the_audit_log_is_paginated_and_scoped_to_the_organization_of_its_admin,
    |app: TestApp| async move {
        let token = operator(&app).await;
        let store = app.provider.store.as_ref();
        for slug in ["acme", "globex"] {
            organizations::create(
                store,
                "operator",
                NewOrganization {
                    slug: slug.into(),
                    name: slug.into(),
                    ..Default::default()
                },
            )
            .unwrap();
            organizations::save_role(store, "operator", slug, "admin", vec![]).unwrap();
        }
        let (status, page) = call(&app, "GET", "/admin/v1/audit?limit=2", &token, None).await;
        assert_eq!(status, 200);
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let cursor = page["next_cursor"].as_str().unwrap().to_string();
        let (_, next) = call(
            &app,
            "GET",
            &format!("/admin/v1/audit?limit=2&cursor={cursor}"),
            &token,
            None,
        )
        .await;
        assert!(next["items"][0]["seq"].as_i64() > page["items"][1]["seq"].as_i64());

        // Ada administers acme: she sees acme's records only, and none of the operator-only resources.
        app.create_user("ada@example.com");
        organizations::save_member(store, "operator", "acme", "ada@example.com", &["admin".into()]).unwrap();
        app.create_client(NewClient {
            scopes: vec![
                "openid".into(),
                "organization".into(),
                "gatehouse:org-admin".into(),
            ],
            skip_consent: true,
            ..app.client("console")
        });
        let rp = app.rp("console", Some(SECRET)).await;
        // An ordinary token of Ada's (without gatehouse:org-admin) administers nothing.
        let (plain, _) = app
            .code_flow(&rp, "ada@example.com", &["openid", "organization"])
            .await;
        let (status, _) = call(
            &app,
            "GET",
            "/admin/v1/audit",
            plain.access_token().secret(),
            None,
        )
        .await;
        assert_eq!(status, 403);
        let (tokens, _) = app
            .code_flow(
                &rp,
                "ada@example.com",
                &["openid", "organization", "gatehouse:org-admin"],
            )
            .await;
        let ada = tokens.access_token().secret().to_string();
        let (status, audit) = call(&app, "GET", "/admin/v1/audit", &ada, None).await;
        assert_eq!(status, 200);
        let acme = store.find_organization("acme").unwrap().unwrap();
        let items = audit["items"].as_array().unwrap();
        assert!(!items.is_empty());
        assert!(
            items.iter().all(|r| r["organization"] == acme.id.as_str()),
            "{audit}"
        );
        for path in ["/admin/v1/users", "/admin/v1/clients"] {
            let (status, problem) = call(&app, "GET", path, &ada, None).await;
            assert_eq!(status, 403, "{path}: {problem}");
        }
        // The operator's audit cursor means nothing in Ada's list.
        let (status, problem) = call(
            &app,
            "GET",
            &format!("/admin/v1/audit?cursor={cursor}"),
            &ada,
            None,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(problem["errors"][0]["field"], "cursor");
    }
);

db_test!(
    an_operator_manages_upstream_connections_and_organization_domains,
    |app: TestApp| async move {
        let token = operator(&app).await;
        let secret = "upstream-secret-value-123";
        let (status, created) = call(
            &app,
            "POST",
            "/admin/v1/upstreams",
            &token,
            Some(json!({
                "id": "acme-sso", "kind": "oidc", "display_name": "Acme SSO",
                "client_id": "gatehouse", "client_secret": secret, "issuer": "https://sso.acme.example"
            })),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["callback_url"], app.url("/upstream/acme-sso/callback"));
        assert_eq!(created["source"], "database");
        let (_, listed) = call(&app, "GET", "/admin/v1/upstreams", &token, None).await;
        let (_, one) = call(&app, "GET", "/admin/v1/upstreams/acme-sso", &token, None).await;
        for shown in [&created, &listed, &one] {
            assert!(!shown.to_string().contains(secret), "secret shown: {shown}");
        }
        let (status, dup) = call(
            &app,
            "POST",
            "/admin/v1/upstreams",
            &token,
            Some(
                json!({ "id": "acme-sso", "kind": "oidc", "display_name": "x", "client_id": "x",
                         "issuer": "https://sso.acme.example" }),
            ),
        )
        .await;
        assert_eq!(status, 409, "{dup}");
        let (status, bad) = call(
            &app,
            "POST",
            "/admin/v1/upstreams",
            &token,
            Some(
                json!({ "id": "plain", "kind": "oidc", "display_name": "x", "client_id": "x",
                         "issuer": "http://sso.example" }),
            ),
        )
        .await;
        assert_eq!(status, 400, "{bad}");

        let store = app.provider.store.as_ref();
        for slug in ["acme", "globex"] {
            organizations::create(
                store,
                "operator",
                NewOrganization {
                    slug: slug.into(),
                    name: slug.into(),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        let (status, org) = call(
            &app,
            "PUT",
            "/admin/v1/organizations/acme/domains/Acme.Example",
            &token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{org}");
        assert_eq!(org["domains"], json!(["acme.example"]));
        let (status, taken) = call(
            &app,
            "PUT",
            "/admin/v1/organizations/globex/domains/acme.example",
            &token,
            None,
        )
        .await;
        assert_eq!(status, 400, "{taken}");
        let (status, _) = call(
            &app,
            "DELETE",
            "/admin/v1/organizations/acme/domains/acme.example",
            &token,
            None,
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = call(
            &app,
            "DELETE",
            "/admin/v1/organizations/acme/domains/acme.example",
            &token,
            None,
        )
        .await;
        assert_eq!(status, 404);

        let (status, _) = call(&app, "DELETE", "/admin/v1/upstreams/acme-sso", &token, None).await;
        assert_eq!(status, 204);
        let (status, _) = call(&app, "GET", "/admin/v1/upstreams/acme-sso", &token, None).await;
        assert_eq!(status, 404);
    }
);
