//! B2C claims: the standard profile, phone and address claims by scope, the `claims` request parameter
//! (OIDC Core §5.5) within the granted scopes, and operator-defined scopes over profile attributes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::flows::admin::{NewClient, ProfileUpdate, update_profile};
use gatehouse::protocol::claims::CustomScope;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, TokenResponse};
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::*;
use crate::token::{refresh_with, userinfo};

const ADA: &str = "ada@example.com";

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn fields(pairs: &[(&str, &str)]) -> ProfileUpdate {
    ProfileUpdate {
        name: None,
        fields: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// Ada with a full profile, and a client `b2c` allowed every standard scope (and `loyalty`).
async fn setup(app: &TestApp) -> Rp {
    app.create_user(ADA);
    update_profile(
        app.provider.store.as_ref(),
        ADA,
        fields(&[
            ("given_name", "Ada"),
            ("family_name", "Lovelace"),
            ("birthdate", "1815-12-10"),
            ("locale", "en-GB"),
            ("phone_number", "+441234567890"),
            ("phone_number_verified", "true"),
            ("address.locality", "London"),
            ("address.country", "GB"),
            ("attributes.tier", "gold"),
        ]),
    )
    .expect("profile updated");
    app.create_client(NewClient {
        scopes: [
            "openid",
            "profile",
            "email",
            "phone",
            "address",
            "offline_access",
            "loyalty",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..app.client("b2c")
    });
    app.rp("b2c", Some(SECRET)).await
}

/// The code flow with extra authorization parameters; returns the token response.
async fn flow(
    app: &TestApp,
    rp: &Rp,
    scopes: &[&str],
    extra: &[(&str, &str)],
) -> openidconnect::core::CoreTokenResponse {
    let auth = app.authorization(rp, scopes, extra);
    let back = app.browser_flow(&auth, ADA).await;
    let code = back
        .query("code")
        .unwrap_or_else(|| panic!("no code: {}", back.location()));
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&app.http)
        .await
        .expect("code exchange");
    tokens
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), &auth.nonce)
        .expect("the ID token verifies");
    tokens
}

fn with_loyalty(s: &mut gatehouse::config::Settings) {
    s.scopes.push(CustomScope {
        name: "loyalty".into(),
        description: "See your loyalty tier".into(),
        claims: vec!["tier".into()],
    });
}

db_test!(
    each_scope_releases_its_claims_at_userinfo_and_nothing_more,
    |app: TestApp| async move {
        let rp = setup(&app).await;

        let tokens = flow(&app, &rp, &["openid", "profile", "phone"], &[]).await;

        let info = userinfo(&app, tokens.access_token().secret()).await.body;
        assert_eq!(info["given_name"], "Ada");
        assert_eq!(info["family_name"], "Lovelace");
        assert_eq!(info["birthdate"], "1815-12-10");
        assert_eq!(info["locale"], "en-GB");
        assert_eq!(info["phone_number"], "+441234567890");
        assert_eq!(info["phone_number_verified"], true);
        for absent in ["email", "address", "tier", "middle_name"] {
            assert!(info.get(absent).is_none(), "{absent} in {info}");
        }
        let id = payload(&tokens.id_token().unwrap().to_string());
        assert!(
            id.get("given_name").is_none(),
            "profile claims stay at userinfo by default"
        );

        let tokens = flow(&app, &rp, &["openid", "address"], &[]).await;
        let info = userinfo(&app, tokens.access_token().secret()).await.body;
        assert_eq!(info["address"], json!({ "locality": "London", "country": "GB" }));
    }
);

db_test!(
    the_claims_parameter_puts_granted_claims_in_the_id_token_and_never_widens_the_grant,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let claims = json!({
            "id_token": { "email": null, "given_name": { "essential": true }, "phone_number": null },
            "userinfo": { "family_name": null }
        })
        .to_string();

        let tokens = flow(
            &app,
            &rp,
            &["openid", "profile", "email", "offline_access"],
            &[("claims", &claims)],
        )
        .await;

        let id = payload(&tokens.id_token().unwrap().to_string());
        assert_eq!(id["email"], ADA);
        assert_eq!(id["given_name"], "Ada");
        assert!(id.get("phone_number").is_none(), "phone was not granted");
        assert!(id.get("family_name").is_none(), "asked for userinfo only");
        // A refresh issues the same ID token claims.
        let refreshed = refresh_with(&app, "b2c", tokens.refresh_token().unwrap().secret()).await;
        let again = payload(refreshed.body["id_token"].as_str().expect("an ID token"));
        assert_eq!(again["given_name"], "Ada");
        assert!(again.get("phone_number").is_none());
    }
);

db_test!(
    a_malformed_claims_parameter_is_an_error_for_the_client,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        for bad in [
            "not json",
            r#"{"id_token":["email"]}"#,
            r#"{"id_token":{"email":{"essential":1}}}"#,
        ] {
            let auth = app.authorization(&rp, &["openid"], &[("claims", bad)]);
            let answer = app.get(&auth.url).await;
            assert!(
                answer.location().starts_with(REDIRECT_URI),
                "{bad}: {}",
                answer.location()
            );
            assert_eq!(answer.query("error").as_deref(), Some("invalid_request"), "{bad}");
        }
        let discovery: Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(discovery["claims_parameter_supported"], true);
    }
);

mod custom_scopes {
    use super::*;

    #[actix_web::test]
    async fn an_operator_defined_scope_releases_its_attribute_with_its_own_consent_text() {
        let app = spawn_app_with(Backend::Sqlite, with_loyalty).await;
        let rp = setup(&app).await;
        let auth = app.authorization(&rp, &["openid", "loyalty"], &[]);
        let start = app.get(&auth.url).await;
        let consent_redirect = app.sign_in(&start, ADA, PASSWORD).await;
        let consent = app.get(&app.url(consent_redirect.location())).await;
        assert!(consent.body.contains("See your loyalty tier"), "{}", consent.body);
        let back = app.consent(&consent_redirect, "allow").await;
        let tokens = rp
            .exchange_code(AuthorizationCode::new(back.query("code").unwrap()))
            .unwrap()
            .set_pkce_verifier(auth.verifier)
            .request_async(&app.http)
            .await
            .unwrap();

        let info = userinfo(&app, tokens.access_token().secret()).await.body;
        assert_eq!(info["tier"], "gold");
        let discovery: Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            discovery["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("loyalty"))
        );
        assert!(
            discovery["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("tier"))
        );
    }

    #[test]
    fn a_custom_scope_may_not_shadow_a_standard_scope_or_claim() {
        for (name, claim) in [("email", "tier"), ("loyalty", "email"), ("bad scope", "tier")] {
            let toml =
                format!("[[scopes]]\nname = \"{name}\"\ndescription = \"x\"\nclaims = [\"{claim}\"]\n");
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("g.toml");
            std::fs::write(&file, toml).unwrap();
            let err = gatehouse::config::Settings::load_from(Some(&file), &[]).unwrap_err();
            assert!(err.to_string().contains("scopes"), "{err}");
        }
    }
}

db_test!(profile_updates_are_validated, |app: TestApp| async move {
    app.create_user(ADA);
    let store = app.provider.store.as_ref();
    for (field, value) in [
        ("shoe_size", "42"),
        ("birthdate", "10/12/1815"),
        ("phone_number", "0123 456"),
        ("address.planet", "Mars"),
        ("phone_number_verified", "maybe"),
    ] {
        let refused = update_profile(store, ADA, fields(&[(field, value)]));
        assert!(refused.is_err(), "{field}={value} accepted");
    }
    let user = store.find_user_by_email(ADA).unwrap().unwrap();
    assert_eq!(user.profile, Default::default(), "nothing was written");
    let cleared = update_profile(store, ADA, fields(&[("given_name", "Ada")])).unwrap();
    assert_eq!(cleared.profile.given_name.as_deref(), Some("Ada"));
    let cleared = update_profile(store, ADA, fields(&[("given_name", "")])).unwrap();
    assert_eq!(cleared.profile.given_name, None);
});
