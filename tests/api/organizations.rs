//! Organizations (B2B): organization and role claims in the ID token, the access token, userinfo and
//! introspection, only for the scopes asked for and allowed; the `organization` parameter; the picker;
//! client restrictions; refresh that keeps the context and sees role changes; removal that revokes;
//! invitations.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::flows::admin::NewClient;
use gatehouse::flows::organizations::{self, NewOrganization};
use gatehouse::store::Organization;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::*;
use crate::token::{introspect, refresh_with, userinfo};

const ADA: &str = "ada@example.com";
const B2B_SCOPES: &[&str] = &["openid", "organization", "roles", "offline_access"];

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Organization `acme` with roles admin (invoices:read, invoices:write) and viewer (invoices:read).
fn acme(app: &TestApp) -> Organization {
    let store = app.provider.store.as_ref();
    let org = organizations::create(
        store,
        "operator",
        NewOrganization {
            slug: "acme".into(),
            name: "Acme Corp".into(),
            domains: vec!["acme.example".into()],
            ..Default::default()
        },
    )
    .expect("organization created");
    organizations::save_role(
        store,
        "operator",
        "acme",
        "admin",
        vec!["invoices:write".into(), "invoices:read".into()],
    )
    .unwrap();
    organizations::save_role(store, "operator", "acme", "viewer", vec!["invoices:read".into()]).unwrap();
    org
}

fn other_org(app: &TestApp, slug: &str) -> Organization {
    organizations::create(
        app.provider.store.as_ref(),
        "operator",
        NewOrganization {
            slug: slug.into(),
            name: format!("{slug} Ltd"),
            ..Default::default()
        },
    )
    .unwrap()
}

/// A client allowed the organization scopes, skipping consent, restricted to `orgs` (empty: any).
async fn b2b_client(app: &TestApp, orgs: &[&str]) -> Rp {
    app.create_client(NewClient {
        scopes: B2B_SCOPES.iter().map(|s| s.to_string()).collect(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        skip_consent: true,
        organizations: orgs.iter().map(|s| s.to_string()).collect(),
        ..app.client("b2b")
    });
    app.rp("b2b", Some(SECRET)).await
}

db_test!(
    organization_and_role_claims_reach_every_token_and_endpoint,
    |app: TestApp| async move {
        let org = acme(&app);
        let ada = app.create_user(ADA);
        organizations::save_member(
            app.provider.store.as_ref(),
            "operator",
            "acme",
            ADA,
            &["admin".into()],
        )
        .unwrap();
        let rp = b2b_client(&app, &[]).await;

        let (tokens, nonce) = app.code_flow(&rp, ADA, B2B_SCOPES).await;

        let id_token = tokens.id_token().unwrap();
        id_token.claims(&rp.id_token_verifier(), &nonce).expect("valid");
        let expected = json!({
            "org_id": org.id, "org_slug": "acme", "org_name": "Acme Corp",
            "roles": ["admin"], "permissions": ["invoices:read", "invoices:write"],
        });
        for (name, claims) in [
            ("ID token", payload(&id_token.to_string())),
            ("access token", payload(tokens.access_token().secret())),
            (
                "userinfo",
                userinfo(&app, tokens.access_token().secret()).await.body,
            ),
            (
                "introspection",
                introspect(&app, "b2b", tokens.access_token().secret()).await.body,
            ),
        ] {
            for (k, v) in expected.as_object().unwrap() {
                assert_eq!(&claims[k], v, "{name}: {k} in {claims}");
            }
            assert_eq!(claims["sub"], ada.id.as_str(), "{name}");
        }
    }
);

db_test!(organization_claims_need_their_scopes, |app: TestApp| async move {
    acme(&app);
    app.create_user(ADA);
    organizations::save_member(
        app.provider.store.as_ref(),
        "operator",
        "acme",
        ADA,
        &["viewer".into()],
    )
    .unwrap();
    let rp = b2b_client(&app, &[]).await;

    let (only_org, _) = app.code_flow(&rp, ADA, &["openid", "organization"]).await;
    let claims = payload(only_org.access_token().secret());
    assert_eq!(claims["org_slug"], "acme");
    assert!(claims.get("roles").is_none() && claims.get("permissions").is_none());

    // A B2C client (default scopes) cannot ask for them at all.
    app.create_client(app.client("b2c"));
    let b2c = app.rp("b2c", Some(SECRET)).await;
    let auth = app.authorization(&b2c, &["openid", "roles"], &[]);
    let refused = app.get(&auth.url).await;
    assert_eq!(refused.query("error").as_deref(), Some("invalid_scope"));
    let (plain, _) = app.code_flow(&b2c, ADA, &["openid", "email"]).await;
    assert!(payload(plain.access_token().secret()).get("org_id").is_none());
});

db_test!(
    refresh_keeps_the_organization_and_shows_role_changes,
    |app: TestApp| async move {
        acme(&app);
        app.create_user(ADA);
        let store = app.provider.store.as_ref();
        organizations::save_member(store, "operator", "acme", ADA, &["admin".into()]).unwrap();
        let rp = b2b_client(&app, &[]).await;
        let (tokens, _) = app.code_flow(&rp, ADA, B2B_SCOPES).await;
        organizations::save_member(store, "operator", "acme", ADA, &["viewer".into()]).unwrap();

        let refreshed = refresh_with(&app, "b2b", tokens.refresh_token().unwrap().secret()).await;

        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        let claims = payload(refreshed.body["access_token"].as_str().unwrap());
        assert_eq!(claims["org_slug"], "acme");
        assert_eq!(claims["roles"], json!(["viewer"]));
        assert_eq!(claims["permissions"], json!(["invoices:read"]));
    }
);

db_test!(
    removing_a_member_revokes_their_grants_for_that_organization,
    |app: TestApp| async move {
        acme(&app);
        app.create_user(ADA);
        let store = app.provider.store.as_ref();
        organizations::save_member(store, "operator", "acme", ADA, &["admin".into()]).unwrap();
        let rp = b2b_client(&app, &[]).await;
        let (tokens, _) = app.code_flow(&rp, ADA, B2B_SCOPES).await;

        organizations::remove_member(store, "operator", "acme", ADA).unwrap();

        let refreshed = refresh_with(&app, "b2b", tokens.refresh_token().unwrap().secret()).await;
        assert_eq!(refreshed.status, 400);
        assert_eq!(refreshed.body["error"], "invalid_grant");
        let active = introspect(&app, "b2b", tokens.access_token().secret()).await;
        assert_eq!(
            active.body["active"], false,
            "the access token is deny-listed too"
        );
    }
);

db_test!(
    the_organization_parameter_must_name_an_organization_of_the_user,
    |app: TestApp| async move {
        acme(&app);
        other_org(&app, "globex");
        app.create_user(ADA);
        organizations::save_member(
            app.provider.store.as_ref(),
            "operator",
            "acme",
            ADA,
            &["viewer".into()],
        )
        .unwrap();
        let rp = b2b_client(&app, &[]).await;

        for (org, error) in [("globex", "access_denied"), ("nope", "invalid_request")] {
            let auth = app.authorization(&rp, &["openid", "organization"], &[("organization", org)]);
            let fed = browser();
            let start = Page::from(fed.get(&auth.url).send().await.unwrap()).await;
            let login = Page::from(fed.get(app.url(start.location())).send().await.unwrap()).await;
            let back = Page::from(
                fed.post(app.url("/login"))
                    .form(&[
                        ("req", login.hidden("req").as_str()),
                        ("csrf", login.hidden("csrf").as_str()),
                        ("email", ADA),
                        ("password", PASSWORD),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert!(
                back.location().starts_with(REDIRECT_URI),
                "{org}: {}",
                back.location()
            );
            assert_eq!(back.query("error").as_deref(), Some(error), "{org}");
        }

        let auth = app.authorization(&rp, &["openid", "organization"], &[("organization", "acme")]);
        let back = app.browser_flow(&auth, ADA).await;
        assert!(back.query("code").is_some(), "by slug: {}", back.location());
    }
);

db_test!(
    a_member_of_several_organizations_picks_one,
    |app: TestApp| async move {
        acme(&app);
        let globex = other_org(&app, "globex");
        app.create_user(ADA);
        let store = app.provider.store.as_ref();
        organizations::save_member(store, "operator", "acme", ADA, &["viewer".into()]).unwrap();
        organizations::save_member(store, "operator", "globex", ADA, &[]).unwrap();
        let rp = b2b_client(&app, &[]).await;
        let auth = app.authorization(&rp, &["openid", "organization"], &[]);

        let start = app.get(&auth.url).await;
        let picker_redirect = app.sign_in(&start, ADA, PASSWORD).await;
        assert!(
            picker_redirect.location().starts_with("/organization?req="),
            "{}",
            picker_redirect.location()
        );
        let picker = app.get(&app.url(picker_redirect.location())).await;
        assert!(picker.body.contains("Acme Corp") && picker.body.contains("globex Ltd"));
        let chosen = app
            .post_form(
                &app.url("/organization"),
                &[
                    ("req", &picker.hidden("req")),
                    ("csrf", &picker.hidden("csrf")),
                    ("organization", &globex.id),
                ],
            )
            .await;

        let code = chosen.query("code").expect("a code");
        let tokens = rp
            .exchange_code(openidconnect::AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(auth.verifier)
            .request_async(&app.http)
            .await
            .unwrap();
        assert_eq!(
            payload(tokens.access_token().secret())["org_id"],
            globex.id.as_str()
        );

        // Without a browser session to ask, prompt=none cannot pick.
        let silent = app.authorization(&rp, &["openid", "organization"], &[("prompt", "none")]);
        let answer = app.get(&silent.url).await;
        assert_eq!(answer.query("error").as_deref(), Some("interaction_required"));
    }
);

db_test!(
    a_client_restricted_to_organizations_refuses_users_of_others,
    |app: TestApp| async move {
        acme(&app);
        other_org(&app, "globex");
        app.create_user(ADA);
        organizations::save_member(app.provider.store.as_ref(), "operator", "globex", ADA, &[]).unwrap();
        let rp = b2b_client(&app, &["acme"]).await;
        let auth = app.authorization(&rp, &["openid", "organization"], &[]);

        let start = app.get(&auth.url).await;
        let back = app.sign_in(&start, ADA, PASSWORD).await;

        assert_eq!(
            back.query("error").as_deref(),
            Some("access_denied"),
            "{}",
            back.location()
        );
    }
);

db_test!(
    an_invitation_is_accepted_once_by_the_invited_account,
    |app: TestApp| async move {
        acme(&app);
        let bob = app.create_user("bob@acme.example");
        app.create_user("eve@example.com");
        let store = app.provider.store.as_ref();
        let invite = organizations::invite(
            store,
            "operator",
            &app.address,
            "acme",
            "bob@acme.example",
            &["viewer".into()],
        )
        .unwrap();
        assert!(invite.url.starts_with(&app.url("/invitations/")));

        // Eve, signed in, cannot use Bob's link.
        let eve = browser();
        let page = Page::from(eve.get(&invite.url).send().await.unwrap()).await;
        Page::from(
            eve.post(app.url("/account/login"))
                .form(&[
                    ("csrf", page.hidden("csrf").as_str()),
                    ("email", "eve@example.com"),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await;
        let page = Page::from(eve.get(&invite.url).send().await.unwrap()).await;
        let refused = Page::from(
            eve.post(&invite.url)
                .form(&[("csrf", page.hidden("csrf").as_str())])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(refused.status, 400);
        assert!(refused.body.contains("someone else"));

        // Bob signs in from the invitation page and accepts.
        let page = app.get(&invite.url).await;
        assert!(page.body.contains("Join Acme Corp"));
        let signed_in = app
            .post_form(
                &app.url("/account/login"),
                &[
                    ("csrf", &page.hidden("csrf")),
                    ("email", "bob@acme.example"),
                    ("password", PASSWORD),
                    ("return_to", &page.hidden("return_to")),
                ],
            )
            .await;
        assert_eq!(
            app.url(signed_in.location()),
            invite.url,
            "back to the invitation"
        );
        let page = app.get(&invite.url).await;
        let accepted = app
            .post_form(&invite.url, &[("csrf", &page.hidden("csrf"))])
            .await;
        assert!(
            accepted.location().starts_with("/account?joined="),
            "{}",
            accepted.location()
        );
        let account = app.get(&app.url(accepted.location())).await;
        assert!(
            account.body.contains("You are now a member of Acme Corp"),
            "{}",
            account.body
        );
        assert!(account.body.contains("viewer"));
        let member = store
            .find_member(&invite.invitation.organization_id, &bob.id)
            .unwrap();
        assert_eq!(member.unwrap().roles, vec!["viewer".to_string()]);

        let again = app.get(&invite.url).await;
        assert_eq!(again.status, 400, "single use");
        // return_to never leaves the gateway.
        let login = app.get(&app.url("/account")).await;
        let offsite = app
            .post_form(
                &app.url("/account/login"),
                &[
                    ("csrf", &login.hidden("csrf")),
                    ("email", "bob@acme.example"),
                    ("password", PASSWORD),
                    ("return_to", "https://evil.example/"),
                ],
            )
            .await;
        assert_eq!(offsite.location(), "/account");
    }
);

db_test!(
    a_domain_belongs_to_one_organization_and_slugs_are_unique,
    |app: TestApp| async move {
        acme(&app);
        let store = app.provider.store.as_ref();
        let taken = organizations::create(
            store,
            "operator",
            NewOrganization {
                slug: "acme2".into(),
                name: "Other".into(),
                domains: vec!["ACME.example".into()],
                ..Default::default()
            },
        );
        assert!(taken.unwrap_err().to_string().contains("belongs to"));
        let dup = organizations::create(
            store,
            "operator",
            NewOrganization {
                slug: "acme".into(),
                name: "Again".into(),
                ..Default::default()
            },
        );
        assert!(dup.is_err());
        assert!(organizations::save_member(store, "operator", "acme", "nobody@example.com", &[]).is_err());
        app.create_user(ADA);
        let undefined = organizations::save_member(store, "operator", "acme", ADA, &["owner".into()]);
        assert!(undefined.unwrap_err().to_string().contains("no role"));
    }
);

db_test!(
    an_organization_that_requires_sso_refuses_passwords_for_its_domain,
    |app: TestApp| async move {
        let store = app.provider.store.as_ref();
        organizations::create(
            store,
            "operator",
            NewOrganization {
                slug: "initech".into(),
                name: "Initech".into(),
                domains: vec!["initech.example".into()],
                connection_id: Some("initech-sso".into()),
                sso_required: true,
            },
        )
        .unwrap();
        app.create_user("peter@initech.example");
        app.create_user(ADA);
        app.create_client(app.client("web"));
        let rp = app.rp("web", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["openid"], &[]);
        let start = app.get(&auth.url).await;

        let refused = app.sign_in(&start, "peter@initech.example", PASSWORD).await;

        assert_eq!(refused.status, 400);
        assert!(
            refused.body.contains("Initech requires signing in"),
            "{}",
            refused.body
        );
        let login = app.get(&app.url(start.location())).await;
        assert!(
            login.body.contains("/login/identify"),
            "identifier first when an organization owns a domain"
        );
        let other = app.sign_in(&start, ADA, PASSWORD).await;
        assert_eq!(other.status, 303, "other domains keep their passwords");
    }
);

db_test!(
    an_expired_invitation_cannot_be_opened_or_accepted,
    |app: TestApp| async move {
        let org = acme(&app);
        let bob = app.create_user("bob@acme.example");
        let token = "expired-invitation-token-0123456789abcdef";
        app.provider
            .store
            .create_invitation(&gatehouse::store::Invitation {
                id_hash: gatehouse::crypto::sha256_b64(token),
                organization_id: org.id.clone(),
                email: "bob@acme.example".into(),
                roles: vec!["viewer".into()],
                created_at: 1,
                expires_at: 2,
                accepted_at: None,
                accepted_by: None,
            })
            .unwrap();
        let url = app.url(&format!("/invitations/{token}"));

        let page = app.get(&url).await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("not valid"));
        let accepted = app.provider.store.accept_invitation(
            &gatehouse::crypto::sha256_b64(token),
            &bob.id,
            gatehouse::flows::now(),
        );
        assert!(accepted.unwrap().is_none(), "the store refuses it too");
        assert!(
            app.provider
                .store
                .find_member(&org.id, &bob.id)
                .unwrap()
                .is_none()
        );
    }
);
