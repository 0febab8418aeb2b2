//! The admin REST API (`/admin/v1`): who may call it (an operator client with `gatehouse:admin`, or an
//! organization admin), tenant scoping (another organization answers exactly like one that does not
//! exist), sealed pagination cursors, strict bodies, RFC 9457 problems, the audit actor, and the
//! OpenAPI document matching the routes.

use gatehouse::audit::kind;
use gatehouse::flows::admin::NewClient;
use gatehouse::flows::organizations::{self, NewOrganization};
use gatehouse::store::{Organization, User};
use openidconnect::core::CoreTokenResponse;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse};
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::*;
use crate::token::{Reply, post, refresh_with};

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Calls `/admin/v1{path}` with an optional bearer token and JSON body.
pub(crate) async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = app.http.request(method, app.url(&format!("/admin/v1{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::from(request.send().await.expect("request sent")).await
}

/// Calls `/admin/v1{path}` with a raw body and an optional content type.
async fn call_raw(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = app
        .http
        .request(method, app.url(&format!("/admin/v1{path}")))
        .bearer_auth(token)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    Reply::from(request.send().await.expect("request sent")).await
}

/// An RFC 9457 problem with this status (and, for a 400, naming this field).
#[track_caller]
pub(crate) fn assert_problem(r: &Reply, status: u16, field: Option<&str>) {
    assert_eq!(r.status, status, "body: {}", r.body);
    assert!(
        r.header("content-type").starts_with("application/problem+json"),
        "content-type {:?}: {}",
        r.header("content-type"),
        r.body
    );
    assert_eq!(r.body["type"], "about:blank", "{}", r.body);
    assert!(
        r.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "no title: {}",
        r.body
    );
    assert_eq!(r.body["status"], status, "{}", r.body);
    assert!(
        r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "no detail: {}",
        r.body
    );
    if let Some(field) = field {
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
    if status == 401 {
        assert!(
            r.header("www-authenticate").starts_with("Bearer"),
            "401 without a Bearer challenge: {:?}",
            r.headers
        );
    }
}

#[track_caller]
fn assert_status(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "body: {}", r.body);
}

/// An operator: client `ops` with `gatehouse:admin`, and its client_credentials access token.
pub(crate) async fn operator(app: &TestApp) -> String {
    app.create_client(NewClient {
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["gatehouse:admin".into()],
        redirect_uris: vec![],
        ..app.client("ops")
    });
    let reply = post(
        app,
        "/token",
        &[("grant_type", "client_credentials"), ("scope", "gatehouse:admin")],
        Some(("ops", SECRET)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// Organization `slug` with roles `admin` (org:manage) and `viewer` (invoices:read).
fn org(app: &TestApp, slug: &str) -> Organization {
    let store = app.provider.store.as_ref();
    let org = organizations::create(
        store,
        "operator",
        NewOrganization {
            slug: slug.into(),
            name: format!("{slug} Inc"),
            ..Default::default()
        },
    )
    .expect("organization created");
    organizations::save_role(store, "operator", slug, "admin", vec!["org:manage".into()]).unwrap();
    organizations::save_role(store, "operator", slug, "viewer", vec!["invoices:read".into()]).unwrap();
    org
}

/// A user who is a member of `slug` with `roles`.
fn member(app: &TestApp, slug: &str, email: &str, roles: &[&str]) -> User {
    let user = app.create_user(email);
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    organizations::save_member(app.provider.store.as_ref(), "operator", slug, &user.id, &roles).unwrap();
    user
}

/// Client `b2b`: the organization scopes, skipping consent. Client `plain`: openid only.
async fn clients(app: &TestApp) -> (Rp, Rp) {
    app.create_client(NewClient {
        scopes: [
            "openid",
            "organization",
            "roles",
            "offline_access",
            "gatehouse:org-admin",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        skip_consent: true,
        ..app.client("b2b")
    });
    app.create_client(NewClient {
        scopes: vec!["openid".into()],
        skip_consent: true,
        ..app.client("plain")
    });
    (
        app.rp("b2b", Some(SECRET)).await,
        app.rp("plain", Some(SECRET)).await,
    )
}

/// A code flow in a fresh browser (so several users can sign in within one test).
async fn tokens_for(app: &TestApp, rp: &Rp, email: &str, scopes: &[&str]) -> CoreTokenResponse {
    let auth = app.authorization(rp, scopes, &[]);
    let browser = browser();
    let start = Page::from(browser.get(&auth.url).send().await.unwrap()).await;
    assert_eq!(start.status, 303, "authorize: {}", start.body);
    let login = Page::from(browser.get(app.url(start.location())).send().await.unwrap()).await;
    let mut page = Page::from(
        browser
            .post(app.url("/login"))
            .form(&[
                ("req", login.hidden("req").as_str()),
                ("csrf", login.hidden("csrf").as_str()),
                ("email", email),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    for _ in 0..5 {
        if page.status != 303 || !page.location().starts_with('/') {
            break;
        }
        page = Page::from(browser.get(app.url(page.location())).send().await.unwrap()).await;
    }
    let code = page
        .query("code")
        .unwrap_or_else(|| panic!("no code for {email}: {} {}", page.location(), page.body));
    rp.exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&app.http)
        .await
        .expect("code exchange works")
}

async fn access_token(app: &TestApp, rp: &Rp, email: &str, scopes: &[&str]) -> String {
    tokens_for(app, rp, email, scopes)
        .await
        .access_token()
        .secret()
        .clone()
}

fn items(r: &Reply) -> &Vec<Value> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", r.body))
}

fn field_values(r: &Reply, name: &str) -> Vec<String> {
    items(r)
        .iter()
        .map(|i| i[name].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every route for organization `org` (and member `user`), with a valid body where one is needed.
fn routes(org: &str, user: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("get", format!("/organizations/{org}"), None),
        ("get", format!("/organizations/{org}/roles"), None),
        ("get", format!("/organizations/{org}/members"), None),
        (
            "put",
            format!("/organizations/{org}/roles/auditor"),
            Some(json!({ "permissions": ["invoices:read"] })),
        ),
        (
            "put",
            format!("/organizations/{org}/members/{user}"),
            Some(json!({ "roles": ["viewer"] })),
        ),
        ("delete", format!("/organizations/{org}/members/{user}"), None),
        (
            "post",
            format!("/organizations/{org}/invitations"),
            Some(json!({ "email": "mallory@example.com", "roles": [] })),
        ),
        ("delete", format!("/organizations/{org}"), None),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

db_test!(
    the_operator_manages_organizations_roles_members_and_invitations,
    |app: TestApp| async move {
        let op = operator(&app).await;

        let created = call(
            &app,
            "post",
            "/organizations",
            Some(&op),
            Some(json!({ "slug": "acme", "name": "Acme Corp", "domains": ["acme.example"] })),
        )
        .await;
        assert_status(&created, 201);
        assert_eq!(created.body["slug"], "acme");
        assert_eq!(created.body["name"], "Acme Corp");
        assert_eq!(created.body["domains"], json!(["acme.example"]));
        assert_eq!(created.header("cache-control"), "no-store");
        let acme_id = created.body["id"].as_str().expect("an id").to_string();
        for slug in ["globex", "initech"] {
            let r = call(
                &app,
                "post",
                "/organizations",
                Some(&op),
                Some(json!({ "slug": slug, "name": slug })),
            )
            .await;
            assert_status(&r, 201);
        }

        // Paginated: 2, then the rest and no further cursor.
        let first = call(&app, "get", "/organizations?limit=2", Some(&op), None).await;
        assert_status(&first, 200);
        assert_eq!(items(&first).len(), 2, "{}", first.body);
        let cursor = first.body["next_cursor"]
            .as_str()
            .expect("a next_cursor")
            .to_string();
        let second = call(
            &app,
            "get",
            &format!("/organizations?limit=2&cursor={cursor}"),
            Some(&op),
            None,
        )
        .await;
        assert_status(&second, 200);
        assert_eq!(items(&second).len(), 1, "{}", second.body);
        assert!(second.body.get("next_cursor").is_none(), "{}", second.body);
        let mut slugs = field_values(&first, "slug");
        slugs.extend(field_values(&second, "slug"));
        slugs.sort();
        assert_eq!(slugs, ["acme", "globex", "initech"], "each organization once");

        // By slug and by id.
        let by_slug = call(&app, "get", "/organizations/acme", Some(&op), None).await;
        assert_status(&by_slug, 200);
        assert_eq!(by_slug.body["id"], acme_id.as_str());
        let by_id = call(&app, "get", &format!("/organizations/{acme_id}"), Some(&op), None).await;
        assert_status(&by_id, 200);
        assert_eq!(by_id.body["slug"], "acme");

        // A role.
        let role = call(
            &app,
            "put",
            "/organizations/acme/roles/viewer",
            Some(&op),
            Some(json!({ "permissions": ["invoices:read"] })),
        )
        .await;
        assert_status(&role, 200);
        assert_eq!(role.body["name"], "viewer");
        assert_eq!(role.body["permissions"], json!(["invoices:read"]));
        let roles = call(&app, "get", "/organizations/acme/roles", Some(&op), None).await;
        assert_status(&roles, 200);
        assert_eq!(field_values(&roles, "name"), ["viewer"]);

        // A member, by user id in the path.
        let ada = app.create_user(ADA);
        let put = call(
            &app,
            "put",
            &format!("/organizations/acme/members/{}", ada.id),
            Some(&op),
            Some(json!({ "roles": ["viewer"] })),
        )
        .await;
        assert_status(&put, 200);
        assert_eq!(put.body["user_id"], ada.id.as_str());
        assert_eq!(put.body["organization_id"], acme_id.as_str());
        assert_eq!(put.body["roles"], json!(["viewer"]));
        let members = call(&app, "get", "/organizations/acme/members", Some(&op), None).await;
        assert_status(&members, 200);
        assert_eq!(field_values(&members, "user_id"), std::slice::from_ref(&ada.id));
        assert_eq!(items(&members)[0]["roles"], json!(["viewer"]));

        // An invitation: the URL is in the answer.
        let invitation = call(
            &app,
            "post",
            &format!("/organizations/{acme_id}/invitations"),
            Some(&op),
            Some(json!({ "email": "bob@acme.example", "roles": ["viewer"] })),
        )
        .await;
        assert_status(&invitation, 201);
        let url = invitation.body["url"].as_str().expect("a url");
        assert!(url.starts_with(&app.url("/invitations/")), "{url}");

        // Removing the member.
        let path = format!("/organizations/acme/members/{}", ada.id);
        let removed = call(&app, "delete", &path, Some(&op), None).await;
        assert_status(&removed, 204);
        let members = call(&app, "get", "/organizations/acme/members", Some(&op), None).await;
        assert!(items(&members).is_empty(), "{}", members.body);
        assert_problem(&call(&app, "delete", &path, Some(&op), None).await, 404, None);

        // Deleting the organization.
        let deleted = call(&app, "delete", "/organizations/acme", Some(&op), None).await;
        assert_status(&deleted, 204);
        assert_problem(
            &call(&app, "get", "/organizations/acme", Some(&op), None).await,
            404,
            None,
        );
        let id_gone = call(&app, "get", &format!("/organizations/{acme_id}"), Some(&op), None).await;
        assert_problem(&id_gone, 404, None);
        let left = call(&app, "get", "/organizations", Some(&op), None).await;
        assert_eq!(field_values(&left, "slug").len(), 2, "{}", left.body);
    }
);

db_test!(
    an_organization_admin_sees_another_organization_exactly_as_one_that_does_not_exist,
    |app: TestApp| async move {
        let acme = org(&app, "acme");
        let globex = org(&app, "globex");
        member(&app, "acme", ADA, &["admin"]);
        let bob = member(&app, "globex", BOB, &["viewer"]);
        let (b2b, _) = clients(&app).await;
        let admin = access_token(
            &app,
            &b2b,
            ADA,
            &["openid", "organization", "gatehouse:org-admin"],
        )
        .await;

        // Their own organization answers.
        let own = call(&app, "get", "/organizations/acme", Some(&admin), None).await;
        assert_status(&own, 200);
        assert_eq!(own.body["id"], acme.id.as_str());

        for ((method, foreign, body), (_, missing, missing_body)) in routes(&globex.id, &bob.id)
            .into_iter()
            .zip(routes("org_doesnotexist", &bob.id))
        {
            let refused = call(&app, method, &foreign, Some(&admin), body).await;
            assert_problem(&refused, 404, None);
            let absent = call(&app, method, &missing, Some(&admin), missing_body).await;
            assert_problem(&absent, 404, None);
            assert_eq!(refused.body, absent.body, "{method} {foreign}");
            assert_eq!(
                refused.header("content-type"),
                absent.header("content-type"),
                "{method} {foreign}"
            );
        }
        // By slug too.
        let by_slug = call(&app, "get", "/organizations/globex", Some(&admin), None).await;
        assert_problem(&by_slug, 404, None);
        let absent = call(&app, "get", "/organizations/org_doesnotexist", Some(&admin), None).await;
        assert_eq!(by_slug.body, absent.body);

        // Nothing of globex changed.
        let store = app.provider.store.as_ref();
        assert!(
            store.find_organization(&globex.id).unwrap().is_some(),
            "globex still exists"
        );
        let kept = store
            .find_member(&globex.id, &bob.id)
            .unwrap()
            .expect("bob still a member");
        assert_eq!(kept.roles, vec!["viewer".to_string()]);
        let roles: Vec<String> = store
            .list_roles(&globex.id)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert!(!roles.contains(&"auditor".to_string()), "{roles:?}");

        // The list shows only their organization.
        let list = call(&app, "get", "/organizations", Some(&admin), None).await;
        assert_status(&list, 200);
        assert_eq!(field_values(&list, "slug"), ["acme"]);

        // Creating organizations and deleting their own are for operators.
        let create = call(
            &app,
            "post",
            "/organizations",
            Some(&admin),
            Some(json!({ "slug": "umbrella", "name": "Umbrella" })),
        )
        .await;
        assert_problem(&create, 403, None);
        assert!(store.find_organization("umbrella").unwrap().is_none());
        let delete_own = call(&app, "delete", "/organizations/acme", Some(&admin), None).await;
        assert_problem(&delete_own, 403, None);
        assert!(
            store.find_organization(&acme.id).unwrap().is_some(),
            "acme still exists"
        );
    }
);

db_test!(
    an_organization_admin_grants_only_roles_of_their_organization,
    |app: TestApp| async move {
        org(&app, "acme");
        member(&app, "acme", ADA, &["admin"]);
        let carol = app.create_user(CAROL);
        let (b2b, _) = clients(&app).await;
        let admin = access_token(
            &app,
            &b2b,
            ADA,
            &["openid", "organization", "gatehouse:org-admin"],
        )
        .await;
        let op = operator(&app).await;
        let path = format!("/organizations/acme/members/{}", carol.id);

        for role in ["owner", "gatehouse:admin"] {
            let body = json!({ "roles": ["viewer", role] });
            let by_admin = call(&app, "put", &path, Some(&admin), Some(body.clone())).await;
            assert_problem(&by_admin, 403, None);
            let by_operator = call(&app, "put", &path, Some(&op), Some(body)).await;
            assert_problem(&by_operator, 400, Some("roles"));
        }
        let org_id = app.provider.store.find_organization("acme").unwrap().unwrap().id;
        assert!(
            app.provider
                .store
                .find_member(&org_id, &carol.id)
                .unwrap()
                .is_none(),
            "no refused grant made Carol a member"
        );

        // Roles the organization defines are fine.
        let granted = call(
            &app,
            "put",
            &path,
            Some(&admin),
            Some(json!({ "roles": ["viewer"] })),
        )
        .await;
        assert_status(&granted, 200);
        assert_eq!(granted.body["roles"], json!(["viewer"]));
    }
);

db_test!(
    a_cursor_opens_only_on_the_list_it_came_from,
    |app: TestApp| async move {
        org(&app, "acme");
        org(&app, "globex");
        member(&app, "acme", ADA, &["viewer"]);
        member(&app, "acme", BOB, &["viewer"]);
        let op = operator(&app).await;

        let members = call(
            &app,
            "get",
            "/organizations/acme/members?limit=1",
            Some(&op),
            None,
        )
        .await;
        assert_status(&members, 200);
        let members_cursor = members.body["next_cursor"]
            .as_str()
            .expect("a cursor")
            .to_string();
        let orgs = call(&app, "get", "/organizations?limit=1", Some(&op), None).await;
        assert_status(&orgs, 200);
        let orgs_cursor = orgs.body["next_cursor"].as_str().expect("a cursor").to_string();

        // Each cursor works where it came from.
        let next = call(
            &app,
            "get",
            &format!("/organizations/acme/members?limit=1&cursor={members_cursor}"),
            Some(&op),
            None,
        )
        .await;
        assert_status(&next, 200);
        assert_eq!(items(&next).len(), 1);

        // A members cursor on the organizations list, an organizations cursor on another organization's
        // members, and an edited cursor are all refused.
        let mut edited = orgs_cursor.clone().into_bytes();
        let last = edited.len() - 2;
        edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap();
        for path in [
            format!("/organizations?cursor={members_cursor}"),
            format!("/organizations/globex/members?cursor={members_cursor}"),
            format!("/organizations/acme/members?cursor={orgs_cursor}"),
            format!("/organizations?cursor={edited}"),
            "/organizations?cursor=not-a-cursor".to_string(),
            "/organizations?cursor=".to_string(),
        ] {
            let refused = call(&app, "get", &path, Some(&op), None).await;
            assert_problem(&refused, 400, Some("cursor"));
        }

        for limit in ["0", "201", "1000"] {
            let refused = call(
                &app,
                "get",
                &format!("/organizations?limit={limit}"),
                Some(&op),
                None,
            )
            .await;
            assert_problem(&refused, 400, Some("limit"));
            let refused = call(
                &app,
                "get",
                &format!("/organizations/acme/members?limit={limit}"),
                Some(&op),
                None,
            )
            .await;
            assert_problem(&refused, 400, Some("limit"));
        }
        let most = call(&app, "get", "/organizations?limit=200", Some(&op), None).await;
        assert_status(&most, 200);
    }
);

db_test!(
    bad_bodies_are_problems_naming_the_field,
    |app: TestApp| async move {
        let op = operator(&app).await;
        let json_type = Some("application/json");

        let malformed = call_raw(
            &app,
            "post",
            "/organizations",
            &op,
            json_type,
            b"{\"slug\": ".to_vec(),
        )
        .await;
        assert_problem(&malformed, 400, None);
        assert!(
            malformed.body["errors"][0]["field"].is_string(),
            "{}",
            malformed.body
        );

        let wrong_type = call_raw(
            &app,
            "post",
            "/organizations",
            &op,
            json_type,
            br#"{"slug": 5, "name": "x"}"#.to_vec(),
        )
        .await;
        assert_problem(&wrong_type, 400, Some("slug"));

        let unknown = call_raw(
            &app,
            "post",
            "/organizations",
            &op,
            json_type,
            br#"{"slug": "acme", "name": "Acme", "owner": "eve"}"#.to_vec(),
        )
        .await;
        assert_problem(&unknown, 400, None);
        assert!(
            unknown.body["detail"].as_str().unwrap().contains("owner"),
            "the detail names the unknown field: {}",
            unknown.body
        );

        let good = br#"{"slug": "acme", "name": "Acme"}"#.to_vec();
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let r = call_raw(&app, "post", "/organizations", &op, content_type, good.clone()).await;
            assert_problem(&r, 400, Some("body"));
        }

        let mut big = br#"{"slug": "acme", "name": ""#.to_vec();
        big.extend(std::iter::repeat_n(b'x', 100 * 1024));
        big.extend(br#""}"#);
        let too_large = call_raw(&app, "post", "/organizations", &op, json_type, big).await;
        assert_problem(&too_large, 413, None);

        let invalid_slug = call(
            &app,
            "post",
            "/organizations",
            Some(&op),
            Some(json!({ "slug": "Not A Slug!", "name": "x" })),
        )
        .await;
        assert_problem(&invalid_slug, 400, None);

        // None of the refused bodies created anything; the good one does, once.
        assert!(app.provider.store.list_organizations().unwrap().is_empty());
        let created = call_raw(&app, "post", "/organizations", &op, json_type, good.clone()).await;
        assert_status(&created, 201);
        let duplicate = call_raw(&app, "post", "/organizations", &op, json_type, good).await;
        assert!(
            [400, 409].contains(&duplicate.status),
            "a duplicate slug is 400 or 409, not {}: {}",
            duplicate.status,
            duplicate.body
        );
        assert_problem(&duplicate, duplicate.status, None);
        assert_eq!(app.provider.store.list_organizations().unwrap().len(), 1);

        // Bodies of the other routes are strict too.
        let role = call(
            &app,
            "put",
            "/organizations/acme/roles/viewer",
            Some(&op),
            Some(json!({ "permissions": "invoices:read" })),
        )
        .await;
        assert_problem(&role, 400, Some("permissions"));
        let invitation = call(
            &app,
            "post",
            "/organizations/acme/invitations",
            Some(&op),
            Some(json!({ "roles": [] })),
        )
        .await;
        assert_problem(&invitation, 400, None);
    }
);

db_test!(
    removing_a_member_through_the_api_revokes_their_grants_and_audits_the_operator,
    |app: TestApp| async move {
        let acme = org(&app, "acme");
        let ada = member(&app, "acme", ADA, &["viewer"]);
        let (b2b, _) = clients(&app).await;
        let tokens = tokens_for(&app, &b2b, ADA, &["openid", "organization", "offline_access"]).await;
        let refresh = tokens.refresh_token().expect("a refresh token").secret().clone();
        let op = operator(&app).await;

        let removed = call(
            &app,
            "delete",
            &format!("/organizations/acme/members/{}", ada.id),
            Some(&op),
            None,
        )
        .await;
        assert_status(&removed, 204);

        let refreshed = refresh_with(&app, "b2b", &refresh).await;
        assert_eq!(refreshed.status, 400, "{}", refreshed.body);
        assert_eq!(refreshed.error(), "invalid_grant");

        let records = app.provider.store.audit_page(0, 10_000).unwrap();
        let record = records
            .iter()
            .find(|r| {
                r.event.event == kind::MEMBER_REMOVED && r.event.subject.as_deref() == Some(ada.id.as_str())
            })
            .expect("a member_removed record");
        assert_eq!(record.event.actor.as_deref(), Some("client:ops"));
        assert_eq!(record.event.detail["before"]["organization_id"], acme.id.as_str());
    }
);

db_test!(
    the_openapi_document_describes_routes_that_exist,
    |app: TestApp| async move {
        let acme = org(&app, "acme");
        let ada = member(&app, "acme", ADA, &["viewer"]);
        app.create_client(app.client("spare"));
        let operator_token = operator(&app).await;

        let doc = call(&app, "get", "/openapi.json", None, None).await;
        assert_status(&doc, 200);
        let doc = doc.body;
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
            "{}",
            doc["openapi"]
        );
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
        assert_eq!(doc["servers"][0]["url"], app.address.as_str());
        let paths = doc["paths"].as_object().expect("paths");
        assert!(!paths.is_empty());

        let mut operations = Vec::new();
        for (path, item) in paths {
            assert!(path.starts_with("/admin/v1/"), "{path}");
            for (method, op) in item.as_object().unwrap() {
                assert!(op["operationId"].is_string(), "{method} {path}");
                assert!(op["responses"].is_object(), "{method} {path}");
                operations.push((method.clone(), path.clone(), op.clone()));
            }
        }
        let ids: Vec<&str> = operations
            .iter()
            .map(|(_, _, op)| op["operationId"].as_str().unwrap())
            .collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "operationIds are unique: {ids:?}");
        // Deletes last, members before organizations.
        operations.sort_by_key(|(method, path, _)| (method == "delete", std::cmp::Reverse(path.len())));

        for (method, path, op) in operations {
            // Erasing is a POST (it runs before the deletes): aimed at nobody, so Ada stays a member.
            let user = if op["operationId"] == "EraseUser" {
                "nobody"
            } else {
                ada.id.as_str()
            };
            let mut concrete = path
                .trim_start_matches("/admin/v1")
                .replace("{org}", &acme.id)
                .replace("{role}", "auditor")
                .replace("{user}", user)
                .replace("{client}", "spare")
                .replace("{domain}", "openapi.example");
            // A parameter this test does not know yet still reaches its handler.
            while let Some(start) = concrete.find('{') {
                let end = concrete[start..].find('}').expect("a closed parameter") + start;
                concrete.replace_range(start..=end, "unknown");
            }
            let operation_id = op["operationId"].as_str().unwrap();
            let body = op["requestBody"].is_object().then(|| match operation_id {
                "CreateOrganization" => json!({ "slug": "openapi", "name": "OpenAPI" }),
                "PutRole" => json!({ "permissions": ["invoices:read"] }),
                "PutMember" => json!({ "roles": ["viewer"] }),
                "CreateInvitation" => json!({ "email": "new@example.com" }),
                _ => json!({}),
            });
            let r = call(&app, &method, &concrete, Some(&operator_token), body).await;
            // Routed: a handler answered (a router miss is an empty 404 or a 405, not a problem).
            let routed = !matches!(r.status, 404 | 405)
                || r.header("content-type").starts_with("application/problem+json");
            assert!(routed, "{method} {path} is not routed: {} {}", r.status, r.body);
            assert!(r.status < 500, "{method} {path}: {} {}", r.status, r.body);
            if r.status >= 400 {
                assert_problem(&r, r.status, None);
            }
            // The organization operations, with real ids and bodies, succeed as documented.
            if concrete.starts_with("/organizations") {
                assert!(
                    (200..300).contains(&r.status),
                    "{method} {path}: {} {}",
                    r.status,
                    r.body
                );
            }
            let documented = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k == &r.status.to_string());
            assert!(documented, "{method} {path}: {} is not documented", r.status);
        }
    }
);

db_test!(
    callers_without_admin_rights_are_refused_on_every_route,
    |app: TestApp| async move {
        let acme = org(&app, "acme");
        let ada = member(&app, "acme", ADA, &["admin"]);
        member(&app, "acme", BOB, &["viewer"]);
        app.create_user(CAROL);
        let (b2b, plain) = clients(&app).await;
        let viewer = access_token(
            &app,
            &b2b,
            BOB,
            &["openid", "organization", "roles", "gatehouse:org-admin"],
        )
        .await;
        let no_org = access_token(&app, &plain, CAROL, &["openid"]).await;
        let ada_plain = access_token(&app, &plain, ADA, &["openid"]).await;
        let admin = access_token(
            &app,
            &b2b,
            ADA,
            &["openid", "organization", "gatehouse:org-admin"],
        )
        .await;

        let mut all = routes(&acme.id, &ada.id);
        all.push(("get", "/organizations".into(), None));
        all.push((
            "post",
            "/organizations".into(),
            Some(json!({ "slug": "umbrella", "name": "Umbrella" })),
        ));
        for (method, path, body) in &all {
            for (who, token) in [
                ("a member without admin", viewer.as_str()),
                ("a token without organization", no_org.as_str()),
                ("an admin's token without organization", ada_plain.as_str()),
            ] {
                let r = call(&app, method, path, Some(token), body.clone()).await;
                assert_eq!(r.status, 403, "{who}: {method} {path}: {}", r.body);
                assert_problem(&r, 403, None);
            }
            for token in [None, Some("garbage"), Some("a.b.c")] {
                let r = call(&app, method, path, token, body.clone()).await;
                assert_problem(&r, 401, None);
            }
        }
        // Not a bearer scheme.
        let basic = app
            .http
            .get(app.url("/admin/v1/organizations"))
            .basic_auth("ops", Some(SECRET))
            .send()
            .await
            .unwrap();
        assert_problem(&Reply::from(basic).await, 401, None);

        // A demoted admin loses access at once, whatever their token says.
        let before = call(&app, "get", "/organizations/acme", Some(&admin), None).await;
        assert_status(&before, 200);
        organizations::save_member(
            app.provider.store.as_ref(),
            "operator",
            "acme",
            &ada.id,
            &["viewer".into()],
        )
        .unwrap();
        let after = call(&app, "get", "/organizations/acme", Some(&admin), None).await;
        assert_problem(&after, 403, None);
        assert!(app.provider.store.find_organization(&acme.id).unwrap().is_some());
    }
);

db_test!(
    a_deleted_operator_client_loses_access_at_once,
    |app: TestApp| async move {
        let op = operator(&app).await;
        let before = call(&app, "get", "/organizations", Some(&op), None).await;
        assert_status(&before, 200);

        gatehouse::flows::admin::delete_client(app.provider.store.as_ref(), "ops").unwrap();

        let after = call(&app, "get", "/organizations", Some(&op), None).await;
        assert!(
            [401, 403].contains(&after.status),
            "{} {}",
            after.status,
            after.body
        );
        assert_problem(&after, after.status, None);
    }
);

db_test!(
    authentication_comes_before_anything_about_the_body,
    |app: TestApp| async move {
        let acme = org(&app, "acme");
        let ada = member(&app, "acme", ADA, &["admin"]);
        let mut all = routes(&acme.id, &ada.id);
        all.push(("post", "/organizations".into(), None));
        for (method, path, _) in &all {
            let r = call(&app, method, path, None, None).await;
            assert_eq!(r.status, 401, "no token and no body: {method} {path}: {}", r.body);
            assert_problem(&r, 401, None);
        }
        let r = call(
            &app,
            "post",
            "/organizations",
            None,
            Some(json!({ "slug": 5, "owner": "eve" })),
        )
        .await;
        assert_problem(&r, 401, None);
    }
);

db_test!(
    a_body_beyond_the_framework_payload_limit_is_still_a_413_problem,
    |app: TestApp| async move {
        let op = operator(&app).await;
        let huge = call_raw(
            &app,
            "post",
            "/organizations",
            &op,
            Some("application/json"),
            vec![b' '; 1024 * 1024],
        )
        .await;
        assert_problem(&huge, 413, None);
    }
);
