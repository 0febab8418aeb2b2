//! The admin API for consent documents and records: create, publish, list, read records page by page;
//! operators only (an organization admin gets 403); bad input answers an RFC 9457 problem naming the
//! field, and creates nothing.

use gatehouse::flows::admin::NewClient;
use gatehouse::flows::organizations::{self, NewOrganization};
use gatehouse::store::{ConsentAction, ConsentMethod, NewConsentRecord};
use openidconnect::{AuthorizationCode, OAuth2TokenResponse};
use serde_json::{Value, json};

use crate::consents::ADA;
use crate::db_test;
use crate::helpers::*;
use crate::token::{Reply, post};

async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.http.request(method, app.url(&format!("/admin/v1{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::from(request.send().await.expect("request sent")).await
}

#[track_caller]
fn assert_problem(r: &Reply, status: u16, field: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(r.header("content-type").starts_with("application/problem+json"));
    assert!(
        r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        r.body
    );
    if let Some(field) = field {
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
}

/// A client_credentials token of an operator client (`gatehouse:admin`).
async fn operator(app: &TestApp) -> String {
    app.create_client(NewClient {
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["gatehouse:admin".into()],
        redirect_uris: vec![],
        ..app.client("ops")
    });
    let form = [("grant_type", "client_credentials"), ("scope", "gatehouse:admin")];
    let reply = post(app, "/token", &form, Some(("ops", SECRET))).await;
    reply.body["access_token"].as_str().expect("a token").to_string()
}

/// Ada as the admin of organization `acme`, with a token that administers it.
async fn org_admin(app: &TestApp) -> String {
    let store = app.provider.store.as_ref();
    let new = NewOrganization {
        slug: "acme".into(),
        name: "Acme".into(),
        ..Default::default()
    };
    organizations::create(store, "test", new).unwrap();
    organizations::save_role(store, "test", "acme", "admin", vec!["org:manage".into()]).unwrap();
    let ada = app.create_user(ADA);
    organizations::save_member(store, "test", "acme", &ada.id, &["admin".into()]).unwrap();
    app.create_client(NewClient {
        scopes: ["openid", "organization", "gatehouse:org-admin"]
            .map(String::from)
            .to_vec(),
        skip_consent: true,
        ..app.client("b2b")
    });
    let rp = app.rp("b2b", Some(SECRET)).await;
    let auth = app.authorization(&rp, &["organization", "gatehouse:org-admin"], &[]);
    let back = app.browser_flow(&auth, ADA).await;
    rp.exchange_code(AuthorizationCode::new(back.query("code").expect("a code")))
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&app.http)
        .await
        .expect("code exchange works")
        .access_token()
        .secret()
        .clone()
}

db_test!(
    operators_create_publish_and_list_consent_documents,
    |app: TestApp| async move {
        let ops = operator(&app).await;
        let terms =
            json!({ "id": "terms", "title": "Terms of service", "purpose": "terms", "required": true });
        let created = call(
            &app,
            "POST",
            "/consent-documents",
            Some(&ops),
            Some(terms.clone()),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["id"], "terms");
        assert_eq!(created.body["purpose"], "terms");
        assert_eq!(created.body["required"], true);
        assert_problem(
            &call(&app, "POST", "/consent-documents", Some(&ops), Some(terms)).await,
            409,
            None,
        );
        for reconsent in [false, true] {
            let body = json!({ "url": "https://example.com/terms", "summary": "Our terms.", "reconsent_required": reconsent });
            let v = call(
                &app,
                "POST",
                "/consent-documents/terms/versions",
                Some(&ops),
                Some(body),
            )
            .await;
            assert_eq!(v.status, 201, "{}", v.body);
            assert_eq!(v.body["version"], if reconsent { 2 } else { 1 });
            assert_eq!(v.body["reconsent_required"], reconsent);
        }
        let list = call(&app, "GET", "/consent-documents", Some(&ops), None).await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert_eq!(list.body["items"][0]["id"], "terms");
        assert_eq!(list.body["items"][0]["versions"].as_array().unwrap().len(), 2);
        let one = call(&app, "GET", "/consent-documents/terms", Some(&ops), None).await;
        assert_eq!(one.body["versions"][1]["version"], 2, "{}", one.body);
        assert_problem(
            &call(&app, "GET", "/consent-documents/nope", Some(&ops), None).await,
            404,
            None,
        );
        let audit = call(&app, "GET", "/audit?limit=1000", Some(&ops), None).await;
        let events: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["event"].as_str())
            .collect();
        assert!(events.contains(&"consent.document_created"), "{events:?}");
        assert!(events.contains(&"consent.version_published"), "{events:?}");
    }
);

db_test!(
    bad_consent_documents_and_versions_are_refused_naming_the_field,
    |app: TestApp| async move {
        let ops = operator(&app).await;
        for (body, field) in [
            (json!({ "id": "Terms!", "title": "T", "purpose": "terms" }), "id"),
            (
                json!({ "id": "terms", "title": " ", "purpose": "terms" }),
                "title",
            ),
            (
                json!({ "id": "terms", "title": "T", "purpose": "ads" }),
                "purpose",
            ),
            (
                json!({ "id": "news", "title": "T", "purpose": "marketing", "required": true }),
                "required",
            ),
            (
                json!({ "id": "terms", "title": "T", "purpose": "terms", "extra": 1 }),
                "extra",
            ),
        ] {
            let r = call(&app, "POST", "/consent-documents", Some(&ops), Some(body.clone())).await;
            assert_problem(&r, 400, Some(field));
        }
        let list = call(&app, "GET", "/consent-documents", Some(&ops), None).await;
        assert_eq!(list.body["items"], json!([]), "nothing was created");

        let ok = json!({ "id": "terms", "title": "Terms", "purpose": "terms" });
        call(&app, "POST", "/consent-documents", Some(&ops), Some(ok)).await;
        for (url, field) in [
            ("http://example.com/terms", "url"),
            ("javascript:alert(1)", "url"),
        ] {
            let body = json!({ "url": url, "summary": "S" });
            let r = call(
                &app,
                "POST",
                "/consent-documents/terms/versions",
                Some(&ops),
                Some(body),
            )
            .await;
            assert_problem(&r, 400, Some(field));
        }
        let body = json!({ "url": "https://example.com/t", "summary": "" });
        let r = call(
            &app,
            "POST",
            "/consent-documents/terms/versions",
            Some(&ops),
            Some(body),
        )
        .await;
        assert_problem(&r, 400, Some("summary"));
        let body = json!({ "url": "https://example.com/t", "summary": "S" });
        let r = call(
            &app,
            "POST",
            "/consent-documents/nope/versions",
            Some(&ops),
            Some(body),
        )
        .await;
        assert_problem(&r, 404, None);
        assert!(app.provider.store.list_consent_versions(None).unwrap().is_empty());
    }
);

db_test!(
    consent_records_are_listed_by_user_and_document_page_by_page,
    |app: TestApp| async move {
        let ops = operator(&app).await;
        crate::consents::document(&app, "terms", "terms", true);
        crate::consents::document(&app, "marketing-email", "marketing", false);
        let record = |user: &str, document: &str, action| NewConsentRecord {
            user_id: user.into(),
            document_id: document.into(),
            version: 1,
            action,
            at: 1_800_000_000,
            method: ConsentMethod::Admin,
            client_id: None,
            region: Some("DE".into()),
        };
        app.provider
            .store
            .append_consent_records(&[
                record("u1", "terms", ConsentAction::Accepted),
                record("u1", "marketing-email", ConsentAction::Accepted),
                record("u1", "marketing-email", ConsentAction::Withdrawn),
                record("u2", "terms", ConsentAction::Accepted),
            ])
            .unwrap();
        let u1 = call(&app, "GET", "/consent-records?user=u1", Some(&ops), None).await;
        assert_eq!(u1.status, 200, "{}", u1.body);
        assert_eq!(u1.body["items"].as_array().unwrap().len(), 3);
        assert_eq!(u1.body["items"][2]["action"], "withdrawn");
        assert!(u1.body.get("next_cursor").is_none());

        let first = call(
            &app,
            "GET",
            "/consent-records?document=terms&limit=1",
            Some(&ops),
            None,
        )
        .await;
        assert_eq!(first.body["items"][0]["user_id"], "u1", "{}", first.body);
        let cursor = first.body["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_string();
        let path = format!("/consent-records?document=terms&limit=1&cursor={cursor}");
        let second = call(&app, "GET", &path, Some(&ops), None).await;
        assert_eq!(second.body["items"][0]["user_id"], "u2", "{}", second.body);
        // The cursor belongs to its filter.
        let elsewhere = format!("/consent-records?user=u1&limit=1&cursor={cursor}");
        assert_problem(
            &call(&app, "GET", &elsewhere, Some(&ops), None).await,
            400,
            Some("cursor"),
        );

        let unknown = call(&app, "GET", "/consent-records?document=nope", Some(&ops), None).await;
        assert_problem(&unknown, 400, Some("document"));
        let zero = call(&app, "GET", "/consent-records?limit=0", Some(&ops), None).await;
        assert_problem(&zero, 400, Some("limit"));
    }
);

db_test!(
    only_operators_manage_consent_documents_and_read_records,
    |app: TestApp| async move {
        let token = org_admin(&app).await;
        let body = json!({ "id": "terms", "title": "Terms", "purpose": "terms" });
        for (method, path, body) in [
            ("GET", "/consent-documents", None),
            ("POST", "/consent-documents", Some(body.clone())),
            (
                "POST",
                "/consent-documents/terms/versions",
                Some(json!({ "url": "https://e.com", "summary": "S" })),
            ),
            ("GET", "/consent-records", None),
        ] {
            assert_problem(&call(&app, method, path, Some(&token), body).await, 403, None);
        }
        let anonymous = call(&app, "POST", "/consent-documents", None, Some(body)).await;
        assert_problem(&anonymous, 401, None);
        assert!(app.provider.store.list_consent_documents().unwrap().is_empty());
    }
);

db_test!(
    deleting_a_user_keeps_their_consent_records_under_a_pseudonym,
    |app: TestApp| async move {
        crate::consents::document(&app, "terms", "terms", true);
        let ada = app.create_user(ADA);
        app.provider
            .store
            .append_consent_records(&[NewConsentRecord {
                user_id: ada.id.clone(),
                document_id: "terms".into(),
                version: 1,
                action: ConsentAction::Accepted,
                at: 1,
                method: ConsentMethod::Admin,
                client_id: None,
                region: None,
            }])
            .unwrap();
        gatehouse::flows::admin::delete_user(app.provider.store.as_ref(), ADA).unwrap();
        assert!(
            app.provider
                .store
                .list_user_consent_records(&ada.id)
                .unwrap()
                .is_empty()
        );
        let all = app
            .provider
            .store
            .list_consent_records(&Default::default(), 0, 100)
            .unwrap();
        assert_eq!(all.len(), 1, "the evidence stays");
        assert!(all[0].user_id.starts_with("erased-"), "{}", all[0].user_id);
    }
);
