//! The whole progressive-identity journey with a real relying party, end to end: light sign-up →
//! consent documents → progressive profiling → tokens → code sign-in → full account (password) →
//! re-consent after a new version → the portal (profile, preferences, consents, sessions) →
//! unsubscribe link → data export → deletion. With `SCREENSHOTS_DIR` set, every page along the way is
//! saved for `scripts/screenshots.sh`.

use gatehouse::flows::client_policy::{self, PolicyChange};
use gatehouse::flows::consents::documents::{self, NewDocument, NewVersion};
use gatehouse::flows::portal::preferences::{NewTopic, create_topic};
use gatehouse::store::IdentityLevel;
use openidconnect::{OAuth2TokenResponse, RefreshToken};
use serde_json::Value;

use crate::db_test;
use crate::helpers::*;

const NIA: &str = "nia@example.com";

fn set_up(app: &TestApp) {
    let store = app.provider.store.as_ref();
    app.create_client(gatehouse::flows::admin::NewClient {
        skip_consent: true,
        scopes: ["openid", "profile", "email", "offline_access", "consents"]
            .map(String::from)
            .to_vec(),
        ..app.client("shop")
    });
    documents::create(
        store,
        "operator",
        NewDocument {
            id: "terms".into(),
            title: "Terms of service".into(),
            purpose: "terms".into(),
            required: true,
        },
    )
    .unwrap();
    documents::create(
        store,
        "operator",
        NewDocument {
            id: "marketing-email".into(),
            title: "News and offers by email".into(),
            purpose: "marketing".into(),
            required: false,
        },
    )
    .unwrap();
    for (doc, summary) in [
        (
            "terms",
            "How you may use the shop, and what we promise in return.",
        ),
        (
            "marketing-email",
            "About one email a month with new products and offers.",
        ),
    ] {
        let new = NewVersion {
            url: format!("https://shop.example.com/{doc}/v1"),
            summary: summary.into(),
            reconsent_required: false,
        };
        documents::publish(store, "operator", doc, new).unwrap();
    }
    client_policy::update_as(
        "operator",
        store,
        "shop",
        PolicyChange {
            allow_light_accounts: Some(true),
            required_fields: Some(vec!["birthdate".into()]),
            optional_fields: Some(vec!["given_name".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    let topic = NewTopic {
        id: "news".into(),
        name: "Product news".into(),
        description: "New products, about once a month.".into(),
        channels: vec!["email".into()],
    };
    create_topic(store, "operator", topic).unwrap();
}

/// GETs a page of ours, checks it rendered, and saves it under `name`.
async fn visit(app: &TestApp, path: &str, name: &str) -> Page {
    let page = app.get(&app.url(path)).await;
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    save_page(name, &page);
    page
}

db_test!(the_whole_journey, |app: TestApp| async move {
    set_up(&app);
    let rp = app.rp("shop", Some(SECRET)).await;

    // 1. Light sign-up: name and email, a code by mail.
    let auth = app.authorization(&rp, &["profile", "email", "consents"], &[("prompt", "create")]);
    let start = app.get(&auth.url).await;
    let signup = visit(&app, start.location(), "01-signup").await;
    let sent = app
        .post_form(
            &app.url("/signup"),
            &[
                ("req", &signup.hidden("req")),
                ("csrf", &signup.hidden("csrf")),
                ("name", "Nia Newcomer"),
                ("email", NIA),
            ],
        )
        .await;
    let code_page = visit(&app, sent.location(), "02-email-code").await;
    let mail = app.last_mail_to(NIA).await;
    let next = app
        .post_form(
            &app.url("/login/code"),
            &[
                ("c", &code_page.hidden("c")),
                ("csrf", &code_page.hidden("csrf")),
                ("code", &mail.code()),
            ],
        )
        .await;

    // 2. The gateway's terms, then the birthdate the shop needs.
    assert!(
        next.location().starts_with("/consent/documents"),
        "{}",
        next.location()
    );
    let docs = visit(&app, next.location(), "03-consent-documents").await;
    assert!(
        !docs
            .body
            .contains("name=\"accept.marketing-email\" value=\"1\" checked"),
        "EU: opt-in"
    );
    let next = app
        .post_form(
            &app.url("/consent/documents"),
            &[
                ("req", &docs.hidden("req")),
                ("csrf", &docs.hidden("csrf")),
                ("accept.terms", "1"),
                ("accept.marketing-email", "1"),
                ("decision", "accept"),
            ],
        )
        .await;
    assert!(
        next.location().starts_with("/profile/complete"),
        "{}",
        next.location()
    );
    let profile = visit(&app, next.location(), "04-profile-complete").await;
    let back = app
        .post_form(
            &app.url("/profile/complete"),
            &[
                ("req", &profile.hidden("req")),
                ("csrf", &profile.hidden("csrf")),
                ("birthdate", "1990-07-21"),
                ("given_name", "Nia"),
            ],
        )
        .await;
    let tokens = app.exchange(&rp, auth, &back).await;
    let claims = id_token_claims(&tokens);
    assert_eq!(claims["identity_level"], "light");
    let user = app.provider.store.find_user_by_email(NIA).unwrap().unwrap();
    assert_eq!(claims["sub"], user.id);
    assert_eq!(user.profile.birthdate.as_deref(), Some("1990-07-21"));

    // 3. Signed out, back with a code from the sign-in page; nothing is asked again.
    let csrf = visit(&app, "/account", "05-account").await.hidden("csrf");
    app.post_form(
        &app.url("/end_session"),
        &[("csrf", &csrf), ("decision", "logout")],
    )
    .await;
    let auth = app.authorization(&rp, &["profile", "email"], &[]);
    let start = app.get(&auth.url).await;
    let login = visit(&app, start.location(), "06-login").await;
    let sent = app
        .post_form(
            &app.url("/login/code/request"),
            &[
                ("req", &login.hidden("req")),
                ("csrf", &login.hidden("csrf")),
                ("email", NIA),
            ],
        )
        .await;
    let page = app.get(&app.url(sent.location())).await;
    let mail = app.mail_number(NIA, 2).await;
    let back = app
        .post_form(
            &app.url("/login/code"),
            &[
                ("c", &page.hidden("c")),
                ("csrf", &page.hidden("csrf")),
                ("code", &mail.code()),
            ],
        )
        .await;
    let tokens = app.exchange(&rp, auth, &back).await;
    let refresh = tokens.refresh_token().expect("a refresh token").clone();

    // 4. A password makes the light account full: same id, same data.
    let password = visit(&app, "/account/password", "07-portal-password").await;
    let set = app
        .post_form(
            &app.url("/account/password"),
            &[
                ("csrf", &password.hidden("csrf")),
                ("new_password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    let full = app.provider.store.find_user(&user.id).unwrap().expect("same id");
    assert_eq!(full.level, IdentityLevel::Full);
    assert_eq!(full.profile.birthdate.as_deref(), Some("1990-07-21"));

    // 5. New terms that need consent again: asked once at the next authorization.
    let store = app.provider.store.as_ref();
    let v2 = NewVersion {
        url: "https://shop.example.com/terms/v2".into(),
        summary: "We now also ship abroad.".into(),
        reconsent_required: true,
    };
    documents::publish(store, "operator", "terms", v2).unwrap();
    let auth = app.authorization(&rp, &["profile", "consents"], &[]);
    let start = app.get(&auth.url).await;
    assert!(
        start.location().starts_with("/consent/documents"),
        "{}",
        start.location()
    );
    let docs = visit(&app, start.location(), "08-reconsent").await;
    let back = app
        .post_form(
            &app.url("/consent/documents"),
            &[
                ("req", &docs.hidden("req")),
                ("csrf", &docs.hidden("csrf")),
                ("accept.terms", "2"),
                ("decision", "accept"),
            ],
        )
        .await;
    let claims = id_token_claims(&app.exchange(&rp, auth, &back).await);
    assert_eq!(claims["identity_level"], "full");
    assert_eq!(claims["consents"]["terms"], 2, "{claims}");

    // 6. The portal pages.
    visit(&app, "/account", "09-account").await;
    visit(&app, "/account/profile", "10-portal-profile").await;
    let prefs = visit(&app, "/account/preferences", "11-portal-preferences").await;
    let saved = app
        .post_form(
            &app.url("/account/preferences"),
            &[("csrf", &prefs.hidden("csrf")), ("sub.news.email", "on")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    visit(&app, "/account/consents", "12-portal-consents").await;
    visit(&app, "/account/sessions", "13-portal-sessions").await;
    visit(&app, "/account/data", "14-portal-data").await;

    // 7. The unsubscribe link from a newsletter works without signing in.
    let link =
        gatehouse::flows::portal::unsubscribe::unsubscribe_url(&app.provider, &user.id, "news", "email");
    let unsubscribe = Page::from(browser().get(&link).send().await.unwrap()).await;
    assert_eq!(unsubscribe.status, 200, "{}", unsubscribe.body);
    save_page("15-unsubscribe", &unsubscribe);

    // 8. Everything about Nia, in one download.
    let export = app.browser.get(app.url("/account/export")).send().await.unwrap();
    assert_eq!(export.status(), 200);
    let export: Value = export.json().await.unwrap();
    let text = export.to_string();
    assert!(text.contains("1990-07-21") && text.contains(NIA), "{text}");
    assert!(text.contains("\"terms\""), "consent records: {text}");
    assert!(!text.contains("argon2"), "no password hash");

    // 9. Deletion: signed out everywhere, tokens dead, erasure scheduled.
    let delete = visit(&app, "/account/delete", "16-portal-delete").await;
    let deleted = app
        .post_form(
            &app.url("/account/delete"),
            &[("csrf", &delete.hidden("csrf")), ("confirm_email", NIA)],
        )
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    visit(&app, deleted.location(), "17-portal-deleted").await;
    let refused = rp
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .unwrap()
        .request_async(&app.http)
        .await;
    assert!(refused.is_err(), "the refresh token is revoked");
    let after = app.provider.store.find_user(&user.id).unwrap().unwrap();
    assert!(after.deletion_scheduled_at.is_some());
    let signed_out = app.get(&app.url("/account")).await;
    save_page("18-account-sign-in", &signed_out);
    assert!(signed_out.body.contains("Email me a sign-in code instead"));
});
