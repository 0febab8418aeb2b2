//! The self-service account portal (`/account/…`): profile, password, sessions, preferences and the
//! signed unsubscribe link, the data export, deletion with its grace period and erasure, and the admin
//! API for data-subject requests. Every form refuses a missing or wrong CSRF token; bad values get a
//! message next to their field and save nothing.

use std::sync::Arc;

use gatehouse::crypto::{random_id, random_token, sha256_b64};
use gatehouse::flows::admin::{self, NewClient};
use gatehouse::flows::organizations::{self, NewOrganization};
use gatehouse::flows::portal::{self, preferences::NewTopic};
use gatehouse::store::{IdentityLevel, Session, User, UserPreference};
use openidconnect::OAuth2TokenResponse;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::admin_api::{call, operator};
use crate::helpers::*;
use crate::token::{introspect, refresh_with, unix_now, userinfo};
use crate::{db_test, db_test_with};

const ADA: &str = "ada@example.com";

/// The portal's pages, each of which a signed-out browser must sign in for.
const PAGES: &[&str] = &[
    "/account",
    "/account/profile",
    "/account/password",
    "/account/preferences",
    "/account/sessions",
    "/account/data",
    "/account/delete",
];

/// A browser of its own (cookie jar, no redirects): one device of the person.
struct Device<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
}

impl<'a> Device<'a> {
    /// The app's own browser.
    fn main(app: &'a TestApp) -> Self {
        Self {
            app,
            client: app.browser.clone(),
        }
    }

    /// A fresh browser.
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: browser(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        Page::from(
            self.client
                .get(self.app.url(path))
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Page::from(
            self.client
                .post(self.app.url(path))
                .form(form)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// The CSRF token of this browser (from any portal page).
    async fn csrf(&self, path: &str) -> String {
        self.get(path).await.hidden("csrf")
    }

    /// Signs in with the password on the account sign-in page.
    async fn sign_in(&self, email: &str) {
        let csrf = self.csrf("/account").await;
        let signed_in = self
            .post(
                "/account/login",
                &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(signed_in.location(), "/account", "{}", signed_in.body);
    }

    async fn is_signed_in(&self) -> bool {
        !self
            .get("/account")
            .await
            .body
            .contains("action=\"/account/login\"")
    }
}

/// A light account: a verified email and a name, no password.
fn light_user(app: &TestApp, email: &str) -> User {
    let now = unix_now();
    let user = User {
        id: random_id(),
        email: email.into(),
        email_verified: true,
        name: Some("Lin Light".into()),
        password_hash: None,
        created_at: now,
        updated_at: now,
        profile: Default::default(),
        level: IdentityLevel::Light,
        region: None,
        deletion_scheduled_at: None,
    };
    app.provider.store.create_user(&user).expect("light user created");
    user
}

/// A browser signed in to `user` `age` seconds ago (by an email code, as a light account would be).
fn signed_in_since<'a>(app: &'a TestApp, user: &User, age: i64) -> Device<'a> {
    let id = random_token();
    let now = unix_now();
    app.provider
        .store
        .create_session(&Session {
            id_hash: sha256_b64(&id),
            user_id: user.id.clone(),
            auth_time: now - age,
            amr: "otp".into(),
            idp: None,
            created_at: now - age,
            expires_at: now + 3600,
            pending_factor: false,
            persistent: false,
            last_seen_at: now,
            user_agent: String::new(),
            previous_id_hash: None,
            rotated_at: now - age,
        })
        .expect("session stored");
    let jar = Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(
        &format!("gh_session={id}; Path=/"),
        &app.address.parse().expect("the app's URL"),
    );
    Device {
        app,
        client: reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_provider(jar)
            .build()
            .unwrap(),
    }
}

fn user(app: &TestApp, email: &str) -> Option<User> {
    app.provider.store.find_user_by_email(email).unwrap()
}

/// The `<input>` element with this id.
fn input<'p>(page: &'p Page, id: &str) -> &'p str {
    let start = page
        .body
        .find(&format!("<input id=\"{id}\""))
        .unwrap_or_else(|| panic!("no input {id} in {}", page.body));
    let end = page.body[start..].find('>').unwrap() + start;
    &page.body[start..=end]
}

/// Every value of a hidden field that occurs several times (one form per line).
fn all_hidden(page: &Page, name: &str) -> Vec<String> {
    let marker = format!("name=\"{name}\" value=\"");
    page.body
        .match_indices(&marker)
        .map(|(i, _)| {
            let start = i + marker.len();
            let end = page.body[start..].find('"').unwrap() + start;
            page.body[start..end].to_string()
        })
        .collect()
}

fn topic(app: &TestApp, id: &str, name: &str, channels: &[&str]) {
    portal::preferences::create_topic(
        app.provider.store.as_ref(),
        "test",
        NewTopic {
            id: id.into(),
            name: name.into(),
            description: format!("About {name}"),
            channels: channels.iter().map(|c| c.to_string()).collect(),
        },
    )
    .expect("topic created");
}

fn subscribe(app: &TestApp, user: &User, topic: &str, channel: &str) {
    app.provider
        .store
        .save_preferences(&[UserPreference {
            user_id: user.id.clone(),
            topic_id: topic.into(),
            channel: channel.into(),
            subscribed: true,
            updated_at: unix_now(),
            source: "admin".into(),
        }])
        .unwrap();
}

fn is_subscribed(app: &TestApp, user: &User, topic: &str, channel: &str) -> bool {
    app.provider
        .store
        .list_preferences(&user.id)
        .unwrap()
        .iter()
        .any(|p| p.topic_id == topic && p.channel == channel && p.subscribed)
}

// ---------------------------------------------------------------------------------------------
// The hub, signing in to a page, return_to
// ---------------------------------------------------------------------------------------------

db_test!(
    the_account_hub_shows_the_person_and_the_portal_navigation,
    |app: TestApp| async move {
        app.create_user(ADA);
        let ada = Device::main(&app);
        ada.sign_in(ADA).await;

        let hub = ada.get("/account").await;

        assert_eq!(hub.status, 200);
        assert!(hub.body.contains("<h1>Ada Lovelace</h1>"), "{}", hub.body);
        assert!(hub.body.contains(ADA));
        assert!(
            hub.body
                .contains("<nav class=\"portal-nav\" aria-label=\"Account\">")
        );
        assert!(
            hub.body
                .contains("<a href=\"/account\" aria-current=\"page\">Overview</a>")
        );
        for page in [
            "profile",
            "password",
            "preferences",
            "consents",
            "sessions",
            "data",
        ] {
            assert!(
                hub.body.contains(&format!("href=\"/account/{page}\"")),
                "no link to {page}"
            );
        }
        assert!(hub.body.contains("Sign-in providers linked to this account"));
    }
);

db_test!(
    every_portal_page_asks_a_signed_out_browser_to_sign_in_and_returns_there,
    |app: TestApp| async move {
        app.create_user(ADA);
        for page in PAGES {
            let visitor = Device::new(&app);
            let login = visitor.get(page).await;
            assert_eq!(login.status, 200, "{page}");
            assert!(
                login.body.contains("action=\"/account/login\""),
                "{page}: {}",
                login.body
            );
            let return_to = if *page == "/account" {
                None
            } else {
                Some(login.hidden("return_to"))
            };
            assert_eq!(return_to.as_deref().unwrap_or("/account"), *page);

            let mut form = vec![
                ("csrf", login.hidden("csrf")),
                ("email", ADA.to_string()),
                ("password", PASSWORD.to_string()),
            ];
            if let Some(r) = return_to {
                form.push(("return_to", r));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let signed_in = visitor.post("/account/login", &form).await;

            assert_eq!(signed_in.status, 303);
            assert_eq!(signed_in.location(), *page);
            assert_eq!(visitor.get(page).await.status, 200);
        }
    }
);

db_test!(return_to_never_leads_off_the_portal, |app: TestApp| async move {
    app.create_user(ADA);
    for target in [
        "https://evil.example/account",
        "//evil.example",
        "/\\evil.example",
        "/account/../evil",
        "/account/unknown",
        "/account/profile?next=https://evil.example",
        "/account@evil.example",
        "/account//evil.example",
        "/account/%2e%2e/evil",
        "javascript:alert(1)",
    ] {
        let visitor = Device::new(&app);
        let csrf = visitor.csrf("/account").await;
        let signed_in = visitor
            .post(
                "/account/login",
                &[
                    ("csrf", &csrf),
                    ("email", ADA),
                    ("password", PASSWORD),
                    ("return_to", target),
                ],
            )
            .await;
        assert_eq!(signed_in.status, 303, "{target}");
        assert_eq!(signed_in.location(), "/account", "followed {target}");
    }
    let visitor = Device::new(&app);
    let reauth = visitor.get("/account/reauth?return_to=//evil.example").await;
    assert!(!reauth.body.contains("evil.example"), "{}", reauth.body);
});

// ---------------------------------------------------------------------------------------------
// Profile
// ---------------------------------------------------------------------------------------------

/// A complete, valid profile form.
fn profile_form(csrf: &str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.to_string()),
        ("name", "Ada King".into()),
        ("given_name", "Ada".into()),
        ("family_name", "King".into()),
        ("nickname", "Countess".into()),
        ("birthdate", "1815-12-10".into()),
        ("phone_number", "+442071234567".into()),
        ("website", "https://ada.example.org".into()),
        ("picture", "https://ada.example.org/ada.png".into()),
        ("locale", "en-GB".into()),
        ("zoneinfo", "Europe/London".into()),
        ("address.locality", "London".into()),
        ("address.country", "GB".into()),
        ("region", "gb".into()),
    ]
}

fn as_form<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

db_test!(
    a_saved_profile_shows_in_the_form_and_at_userinfo,
    |app: TestApp| async move {
        app.create_client(NewClient {
            scopes: ["openid", "profile", "email", "phone", "address"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            skip_consent: true,
            ..app.client("web")
        });
        app.create_user(ADA);
        let ada = Device::main(&app);
        ada.sign_in(ADA).await;
        let csrf = ada.csrf("/account/profile").await;

        let saved = ada.post("/account/profile", &as_form(&profile_form(&csrf))).await;

        assert_eq!(saved.status, 303, "{}", saved.body);
        assert_eq!(saved.location(), "/account/profile?saved=1");
        let form = ada.get(saved.location()).await;
        assert!(form.body.contains("Your profile has been saved."));
        assert!(input(&form, "birthdate").contains("value=\"1815-12-10\""));
        assert!(input(&form, "address-locality").contains("value=\"London\""));
        assert!(input(&form, "region").contains("value=\"GB\""), "normalised");
        assert!(form.body.contains(ADA), "the email is shown read-only");
        assert!(!form.body.contains("name=\"email\""), "the email is not editable");
        let stored = user(&app, ADA).unwrap();
        assert_eq!(stored.region.as_deref(), Some("GB"));
        assert_eq!(stored.name.as_deref(), Some("Ada King"));

        let rp = app.rp("web", Some(SECRET)).await;
        let (tokens, _) = app.code_flow(&rp, ADA, &["profile", "phone", "address"]).await;
        let info = userinfo(&app, tokens.access_token().secret()).await;
        assert_eq!(info.status, 200, "{}", info.body);
        assert_eq!(info.body["name"], "Ada King");
        assert_eq!(info.body["given_name"], "Ada");
        assert_eq!(info.body["birthdate"], "1815-12-10");
        assert_eq!(info.body["website"], "https://ada.example.org");
        assert_eq!(info.body["zoneinfo"], "Europe/London");
        assert_eq!(info.body["phone_number"], "+442071234567");
        assert_eq!(info.body["address"]["locality"], "London");

        let events = app.provider.store.audit_for_user(&stored.id, 50).unwrap();
        let updated = events
            .iter()
            .find(|r| r.event.event == "user.updated")
            .expect("the change is audited");
        assert_eq!(updated.event.actor.as_deref(), Some(stored.id.as_str()));
        assert!(
            !updated.event.detail.to_string().contains("1815"),
            "values stay out of the audit log"
        );
    }
);

db_test!(
    each_invalid_profile_value_is_refused_next_to_its_field_and_nothing_is_saved,
    |app: TestApp| async move {
        let before = app.create_user(ADA);
        let ada = Device::main(&app);
        ada.sign_in(ADA).await;
        for (field, id, bad, message) in [
            ("birthdate", "birthdate", "2020-13-40", "Enter a real date"),
            ("phone_number", "phone-number", "0123", "international format"),
            (
                "website",
                "website",
                "javascript:alert(1)",
                "starts with https://",
            ),
            (
                "picture",
                "picture",
                "http://ada.example.org/a.png",
                "starts with https://",
            ),
            ("region", "region", "XX-", "Enter a country code"),
            ("locale", "locale", "not a locale!", "language tag"),
        ] {
            let csrf = ada.csrf("/account/profile").await;
            let mut form = profile_form(&csrf);
            form.retain(|(k, _)| *k != field);
            form.push((field, bad.to_string()));

            let refused = ada.post("/account/profile", &as_form(&form)).await;

            assert_eq!(refused.status, 422, "{field}={bad}: {}", refused.body);
            let element = input(&refused, id);
            assert!(element.contains("aria-invalid=\"true\""), "{element}");
            assert!(
                element.contains(&format!("{id}-error")),
                "described by its error: {element}"
            );
            let error_at = refused
                .body
                .find(&format!("id=\"{id}-error\""))
                .unwrap_or_else(|| panic!("no message for {field}"));
            let field_at = refused.body.find(&format!("<input id=\"{id}\"")).unwrap();
            assert!(
                refused.body[error_at..field_at].contains(message),
                "{field}: {}",
                refused.body
            );
            assert!(
                refused.body[error_at..].len() - refused.body[field_at..].len() < 400,
                "the message is right at its field"
            );
            assert!(refused.body.contains("There is a problem"), "an error summary");
            assert_eq!(
                refused.body.matches("aria-invalid=\"true\"").count(),
                1,
                "only {field} is marked"
            );
            assert!(
                input(&refused, "given-name").contains("value=\"Ada\""),
                "the other inputs are kept"
            );
            let after = user(&app, ADA).unwrap();
            assert_eq!(after.profile, before.profile, "{field}: nothing was saved");
            assert_eq!(after.name, before.name);
            assert_eq!(after.region, None);
        }
    }
);

// ---------------------------------------------------------------------------------------------
// CSRF on every form
// ---------------------------------------------------------------------------------------------

db_test!(
    every_portal_form_refuses_a_missing_or_wrong_csrf_token,
    |app: TestApp| async move {
        topic(&app, "news", "Product news", &["email"]);
        let ada_user = app.create_user(ADA);
        let ada = Device::main(&app);
        ada.sign_in(ADA).await;
        let other = Device::new(&app);
        let foreign = other.csrf("/account").await;
        let sessions = ada.get("/account/sessions").await;
        let reference = sessions.hidden("session");
        let forms: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("/account/profile", vec![("given_name", "Mallory")]),
            (
                "/account/password",
                vec![
                    ("current_password", PASSWORD),
                    ("new_password", "a brand new password"),
                    ("confirm_password", "a brand new password"),
                ],
            ),
            ("/account/preferences", vec![("sub.news.email", "on")]),
            ("/account/sessions/end", vec![("session", &reference)]),
            ("/account/sessions/end-others", vec![]),
            ("/account/delete", vec![("confirm_email", ADA)]),
        ];
        for (path, fields) in &forms {
            for csrf in [None, Some("forged"), Some(foreign.as_str())] {
                let mut form = fields.clone();
                if let Some(token) = csrf {
                    form.push(("csrf", token));
                }
                let refused = ada.post(path, &form).await;
                assert_eq!(refused.status, 400, "{path} with {csrf:?}: {}", refused.body);
                assert!(refused.body.contains("This form has expired"), "{path}");
            }
        }
        let after = user(&app, ADA).unwrap();
        assert_eq!(after.profile.given_name, None);
        assert_eq!(after.password_hash, ada_user.password_hash);
        assert_eq!(after.deletion_scheduled_at, None);
        assert!(!is_subscribed(&app, &after, "news", "email"));
        assert!(ada.is_signed_in().await, "no session was ended");
    }
);

// ---------------------------------------------------------------------------------------------
// Password
// ---------------------------------------------------------------------------------------------

db_test!(
    a_light_account_sets_a_first_password_and_keeps_its_id,
    |app: TestApp| async move {
        topic(&app, "news", "Product news", &["email"]);
        let light = light_user(&app, "lin@example.com");
        subscribe(&app, &light, "news", "email");
        let lin = signed_in_since(&app, &light, 10);
        let page = lin.get("/account/password").await;
        assert!(page.body.contains("Set a password"), "{}", page.body);
        assert!(!page.body.contains("current_password"));
        let csrf = page.hidden("csrf");

        let short = lin
            .post(
                "/account/password",
                &[
                    ("csrf", &csrf),
                    ("new_password", "short"),
                    ("confirm_password", "short"),
                ],
            )
            .await;
        assert_eq!(short.status, 422);
        assert!(short.body.contains("Use at least 8 characters."));
        let set = lin
            .post(
                "/account/password",
                &[
                    ("csrf", &csrf),
                    ("new_password", PASSWORD),
                    ("confirm_password", PASSWORD),
                ],
            )
            .await;

        assert_eq!(set.status, 303, "{}", set.body);
        assert_eq!(set.location(), "/account/password?changed=first");
        let full = user(&app, "lin@example.com").unwrap();
        assert_eq!(full.id, light.id, "the same account");
        assert_eq!(full.level, IdentityLevel::Full);
        assert!(is_subscribed(&app, &full, "news", "email"), "its data is kept");
        let fresh = Device::new(&app);
        fresh.sign_in("lin@example.com").await;
    }
);

db_test!(
    a_first_password_needs_a_recent_sign_in,
    |app: TestApp| async move {
        let light = light_user(&app, "lin@example.com");
        let lin = signed_in_since(&app, &light, 3600);
        let page = lin.get("/account/password").await;
        assert!(
            page.body
                .contains("href=\"/account/reauth?return_to=/account/password\""),
            "{}",
            page.body
        );

        let refused = lin
            .post(
                "/account/password",
                &[
                    ("csrf", &lin.csrf("/account").await),
                    ("new_password", PASSWORD),
                    ("confirm_password", PASSWORD),
                ],
            )
            .await;

        assert_eq!(refused.status, 403);
        assert!(refused.body.contains("Sign in again"));
        let after = user(&app, "lin@example.com").unwrap();
        assert_eq!(after.password_hash, None);
        assert_eq!(after.level, IdentityLevel::Light);
        let reauth = lin.get("/account/reauth?return_to=/account/password").await;
        assert_eq!(reauth.hidden("return_to"), "/account/password");
    }
);

db_test!(
    changing_the_password_needs_the_current_one_and_signs_out_the_other_devices,
    |app: TestApp| async move {
        app.create_user(ADA);
        let laptop = Device::main(&app);
        laptop.sign_in(ADA).await;
        let phone = Device::new(&app);
        phone.sign_in(ADA).await;
        let csrf = laptop.csrf("/account/password").await;
        let new = "a brand new password";
        let attempt = |current: &'static str, new: &'static str, confirm: &'static str| {
            let csrf = csrf.clone();
            let laptop = &laptop;
            async move {
                laptop
                    .post(
                        "/account/password",
                        &[
                            ("csrf", &csrf),
                            ("current_password", current),
                            ("new_password", new),
                            ("confirm_password", confirm),
                            ("sign_out_others", "1"),
                        ],
                    )
                    .await
            }
        };

        for (current, typed, confirm, message) in [
            ("", new, new, "Enter your current password."),
            ("wrong password!", new, new, "This is not your current password."),
            (PASSWORD, "short", "short", "Use at least 8 characters."),
            (PASSWORD, new, "something else", "The two passwords do not match."),
        ] {
            let refused = attempt(current, typed, confirm).await;
            assert_eq!(refused.status, 422, "{message}");
            assert!(refused.body.contains(message), "{}", refused.body);
            assert!(!refused.body.contains(PASSWORD), "passwords are never sent back");
        }
        assert!(phone.is_signed_in().await, "nothing changed yet");
        let changed = attempt(PASSWORD, new, new).await;

        assert_eq!(changed.status, 303, "{}", changed.body);
        assert_eq!(changed.location(), "/account/password?changed=1");
        assert!(laptop.is_signed_in().await, "this device stays signed in");
        assert!(!phone.is_signed_in().await, "the other device is signed out");
        let csrf = phone.csrf("/account").await;
        let old = phone
            .post(
                "/account/login",
                &[("csrf", &csrf), ("email", ADA), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(old.status, 401, "the old password no longer works");
        let fresh = phone
            .post(
                "/account/login",
                &[("csrf", &csrf), ("email", ADA), ("password", new)],
            )
            .await;
        assert_eq!(fresh.location(), "/account");
        let id = user(&app, ADA).unwrap().id;
        let kinds: Vec<String> = app
            .provider
            .store
            .audit_for_user(&id, 50)
            .unwrap()
            .into_iter()
            .filter(|r| r.event.event == "user.password_changed")
            .map(|r| r.event.outcome.as_str().to_string())
            .collect();
        assert_eq!(kinds, ["success", "failure"], "newest first");
    }
);

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

db_test!(
    sessions_are_listed_and_ended_one_by_one_or_all_but_this_one,
    |app: TestApp| async move {
        let ada_user = app.create_user(ADA);
        let laptop = Device::main(&app);
        laptop.sign_in(ADA).await;
        let phone = Device::new(&app);
        phone.sign_in(ADA).await;
        let tablet = Device::new(&app);
        tablet.sign_in(ADA).await;

        let page = laptop.get("/account/sessions").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.body.matches("class=\"scope session\"").count(), 3);
        assert_eq!(page.body.matches("This device").count(), 1);
        assert!(page.body.contains("Password"), "the method is named");
        for s in app
            .provider
            .store
            .list_sessions(&ada_user.id, unix_now())
            .unwrap()
        {
            assert!(!page.body.contains(&s.id_hash), "a session hash is in the page");
        }
        // This device first, then the others.
        let refs = all_hidden(&page, "session");
        assert_eq!(refs.len(), 3);
        let laptop_ref = page.body[page.body.find("This device").unwrap()..]
            .split("name=\"session\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        assert_eq!(refs[0], laptop_ref, "this device is listed first");
        let others: Vec<&String> = refs.iter().filter(|r| **r != laptop_ref).collect();
        assert_eq!(others.len(), 2);

        // A reference only opens in the browser it was given to.
        let stolen = phone
            .post(
                "/account/sessions/end",
                &[("csrf", &phone.csrf("/account").await), ("session", others[0])],
            )
            .await;
        assert_eq!(stolen.status, 400);
        let forged = laptop
            .post(
                "/account/sessions/end",
                &[
                    ("csrf", &page.hidden("csrf")),
                    ("session", "bm90IGEgcmVmZXJlbmNl"),
                ],
            )
            .await;
        assert_eq!(forged.status, 400);

        let ended = laptop
            .post(
                "/account/sessions/end",
                &[("csrf", &page.hidden("csrf")), ("session", others[0])],
            )
            .await;
        assert_eq!(ended.status, 303);
        assert_eq!(ended.location(), "/account/sessions?ended=1");
        let signed_in = [phone.is_signed_in().await, tablet.is_signed_in().await];
        assert_eq!(signed_in.iter().filter(|s| **s).count(), 1, "one device ended");

        let rest = laptop
            .post("/account/sessions/end-others", &[("csrf", &page.hidden("csrf"))])
            .await;
        assert_eq!(rest.status, 303);
        assert_eq!(rest.location(), "/account/sessions?ended=1");
        assert!(!phone.is_signed_in().await);
        assert!(!tablet.is_signed_in().await);
        assert!(laptop.is_signed_in().await, "this device stays signed in");
        assert_eq!(
            app.provider
                .store
                .list_sessions(&ada_user.id, unix_now())
                .unwrap()
                .len(),
            1
        );
    }
);

// ---------------------------------------------------------------------------------------------
// Preferences and unsubscribe links
// ---------------------------------------------------------------------------------------------

db_test!(
    preferences_are_saved_from_the_table_of_checkboxes,
    |app: TestApp| async move {
        topic(&app, "news", "Product news", &["email", "sms"]);
        topic(&app, "tips", "Tips and tricks", &["email"]);
        let ada_user = app.create_user(ADA);
        let ada = Device::main(&app);
        ada.sign_in(ADA).await;
        let page = ada.get("/account/preferences").await;
        assert!(
            page.body.contains("<th scope=\"col\">Text message</th>"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("Product news by email"),
            "each box has a label"
        );
        assert_eq!(page.body.matches("type=\"checkbox\"").count(), 3);
        let csrf = page.hidden("csrf");

        let saved = ada
            .post(
                "/account/preferences",
                &[
                    ("csrf", &csrf),
                    ("sub.news.email", "on"),
                    ("sub.tips.email", "on"),
                    ("sub.tips.sms", "on"),
                ],
            )
            .await;

        assert_eq!(saved.status, 303);
        assert_eq!(saved.location(), "/account/preferences?saved=1");
        assert!(is_subscribed(&app, &ada_user, "news", "email"));
        assert!(is_subscribed(&app, &ada_user, "tips", "email"));
        assert!(!is_subscribed(&app, &ada_user, "news", "sms"));
        assert!(
            !is_subscribed(&app, &ada_user, "tips", "sms"),
            "not offered: ignored"
        );
        let again = ada.get("/account/preferences?saved=1").await;
        assert!(again.body.contains("Your preferences have been saved."));
        assert_eq!(again.body.matches(" checked>").count(), 2);

        ada.post(
            "/account/preferences",
            &[("csrf", &csrf), ("sub.tips.email", "on")],
        )
        .await;
        assert!(
            !is_subscribed(&app, &ada_user, "news", "email"),
            "an unticked box unsubscribes"
        );
        let recorded = app.provider.store.list_preferences(&ada_user.id).unwrap();
        assert!(recorded.iter().all(|p| p.source == "portal"));
    }
);

db_test!(
    an_unsubscribe_link_works_without_signing_in,
    |app: TestApp| async move {
        topic(&app, "news", "Product news", &["email"]);
        let ada = app.create_user(ADA);
        subscribe(&app, &ada, "news", "email");
        let link = portal::unsubscribe_url(&app.provider, &ada.id, "news", "email");
        assert!(
            link.starts_with(&format!("{}/unsubscribe?t=", app.address)),
            "{link}"
        );
        let stranger = Device::new(&app);

        let confirm = Page::from(stranger.client.get(&link).send().await.unwrap()).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        assert!(confirm.body.contains("Product news"));
        assert!(confirm.body.contains("a••@example.com"), "the address is masked");
        assert!(!confirm.body.contains(ADA));
        assert!(
            is_subscribed(&app, &ada, "news", "email"),
            "a GET changes nothing"
        );

        let done = stranger
            .post("/unsubscribe", &[("t", &confirm.hidden("t"))])
            .await;

        assert_eq!(done.status, 303, "{}", done.body);
        assert!(
            done.location().starts_with("/unsubscribe?t="),
            "{}",
            done.location()
        );
        assert!(
            stranger
                .get(done.location())
                .await
                .body
                .contains("You are unsubscribed")
        );
        assert!(!is_subscribed(&app, &ada, "news", "email"));
        let recorded = app.provider.store.list_preferences(&ada.id).unwrap();
        assert_eq!(recorded[0].source, "unsubscribe_link");
        let again = stranger
            .post("/unsubscribe", &[("t", &confirm.hidden("t"))])
            .await;
        assert_eq!(again.status, 303, "using the link twice is fine");
    }
);

db_test!(
    a_tampered_unsubscribe_token_is_refused_and_changes_nothing,
    |app: TestApp| async move {
        topic(&app, "news", "Product news", &["email", "sms"]);
        let ada = app.create_user(ADA);
        let eve = app.create_user("eve@example.com");
        subscribe(&app, &ada, "news", "email");
        let token = portal::unsubscribe::token(&app.provider, &eve.id, "news", "email", unix_now());
        let (payload, tag) = token.split_once('.').unwrap();
        let ada_payload = portal::unsubscribe::token(&app.provider, &ada.id, "news", "email", 1)
            .split_once('.')
            .unwrap()
            .0
            .to_string();
        let mut flipped = payload.to_string().into_bytes();
        flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [
            format!("{ada_payload}.{tag}"),
            format!("{flipped}.{tag}"),
            format!("{payload}.{}", &tag[..tag.len() - 2]),
            payload.to_string(),
            format!("{payload}."),
            "garbage".to_string(),
            String::new(),
            portal::unsubscribe::token(&app.provider, &ada.id, "gone", "email", 1),
            portal::unsubscribe::token(&app.provider, &random_id(), "news", "email", 1),
        ] {
            let url = format!("/unsubscribe?t={}", urlencode(&bad));
            let shown = Device::new(&app).get(&url).await;
            assert_eq!(shown.status, 400, "GET {bad}: {}", shown.body);
            assert!(shown.body.contains("This unsubscribe link is not valid"));
            let posted = Device::new(&app).post("/unsubscribe", &[("t", &bad)]).await;
            assert_eq!(posted.status, 400, "POST {bad}");
            let one_click = app
                .http
                .post(app.url(&url))
                .form(&[("List-Unsubscribe", "One-Click")])
                .send()
                .await
                .unwrap();
            assert_eq!(one_click.status().as_u16(), 400, "one-click {bad}");
        }
        assert!(is_subscribed(&app, &ada, "news", "email"), "nothing changed");
    }
);

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

db_test!(
    a_one_click_unsubscribe_post_is_accepted,
    |app: TestApp| async move {
        topic(&app, "news", "Product news", &["email", "sms"]);
        let ada = app.create_user(ADA);
        subscribe(&app, &ada, "news", "email");
        subscribe(&app, &ada, "news", "sms");
        let link = portal::unsubscribe_url(&app.provider, &ada.id, "news", "email");

        // RFC 8058 §3.1: the mail provider POSTs `List-Unsubscribe=One-Click` to the header's URI.
        let response = app
            .http
            .post(&link)
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .await
            .unwrap();

        assert_eq!(response.status().as_u16(), 200);
        assert!(!is_subscribed(&app, &ada, "news", "email"));
        assert!(
            is_subscribed(&app, &ada, "news", "sms"),
            "only the link's channel"
        );
        let audited = app.provider.store.audit_for_user(&ada.id, 10).unwrap();
        assert!(audited.iter().any(|r| r.event.event == "user.unsubscribed"));
    }
);

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

db_test!(
    the_data_export_holds_everything_about_the_person_and_no_secrets,
    |app: TestApp| async move {
        topic(&app, "news", "Product news", &["email"]);
        let ada_user = app.create_user(ADA);
        subscribe(&app, &ada_user, "news", "email");
        let store = app.provider.store.as_ref();
        organizations::create(
            store,
            "test",
            NewOrganization {
                slug: "acme".into(),
                name: "Acme Corp".into(),
                ..Default::default()
            },
        )
        .unwrap();
        organizations::save_role(store, "test", "acme", "viewer", vec!["invoices:read".into()]).unwrap();
        organizations::save_member(store, "test", "acme", &ada_user.id, &["viewer".into()]).unwrap();
        admin::update_profile(
            store,
            ADA,
            admin::ProfileUpdate {
                name: None,
                fields: vec![("given_name".into(), "Ada".into())],
            },
        )
        .unwrap();
        app.create_client(app.client("crm"));
        store
            .save_consent(&ada_user.id, "crm", &["openid".into(), "email".into()], 7)
            .unwrap();
        let ada = Device::main(&app);
        ada.sign_in(ADA).await;
        assert!(
            ada.get("/account/data")
                .await
                .body
                .contains("href=\"/account/export\"")
        );

        let download = ada.get("/account/export").await;

        assert_eq!(download.status, 200);
        assert_eq!(
            download.headers["content-disposition"],
            "attachment; filename=\"gatehouse-export.json\""
        );
        assert_eq!(download.headers["cache-control"], "no-store");
        let export: Value = serde_json::from_str(&download.body).expect("JSON");
        assert_eq!(export["format"], "gatehouse-export/1");
        assert_eq!(export["profile"]["user_id"], ada_user.id.as_str());
        assert_eq!(export["profile"]["email"], ADA);
        assert_eq!(export["profile"]["level"], "full");
        assert_eq!(export["profile"]["profile"]["given_name"], "Ada");
        assert_eq!(export["organizations"][0]["name"], "Acme Corp");
        assert_eq!(export["organizations"][0]["roles"], json!(["viewer"]));
        assert_eq!(export["preferences"][0]["topic"], "news");
        assert_eq!(export["preferences"][0]["subscribed"], true);
        assert_eq!(export["sessions"][0]["methods"], json!(["Password"]));
        assert!(export["identities"].is_array());
        assert!(export["consents"].is_array());
        assert_eq!(
            export["app_access"],
            json!([{ "client_id": "crm", "scopes": ["openid", "email"], "granted_at": 7 }])
        );
        let events: Vec<&str> = export["audit_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert!(
            events.contains(&"sign_in") && events.contains(&"user.updated"),
            "{events:?}"
        );
        let session = store.list_sessions(&ada_user.id, unix_now()).unwrap().remove(0);
        let hash = ada_user.password_hash.unwrap();
        for secret in [
            hash.as_str(),
            "$argon2",
            &session.id_hash,
            "password_hash",
            "prev_hash",
        ] {
            assert!(!download.body.contains(secret), "the export contains {secret}");
        }
        let audited = store.audit_for_user(&ada_user.id, 5).unwrap();
        assert_eq!(audited[0].event.event, "user.data_exported");

        let signed_out = Device::new(&app).get("/account/export").await;
        assert_eq!(signed_out.status, 200);
        assert!(
            signed_out.body.contains("action=\"/account/login\""),
            "signed out: the sign-in page"
        );
        assert!(!signed_out.body.contains(ADA));
    }
);

// ---------------------------------------------------------------------------------------------
// Deletion, grace period, erasure
// ---------------------------------------------------------------------------------------------

db_test!(
    deleting_without_a_recent_sign_in_is_refused,
    |app: TestApp| async move {
        let ada_user = app.create_user(ADA);
        let ada = signed_in_since(&app, &ada_user, 3600);
        let page = ada.get("/account/delete").await;
        assert!(
            page.body
                .contains("href=\"/account/reauth?return_to=/account/delete\""),
            "{}",
            page.body
        );
        assert!(!page.body.contains("name=\"confirm_email\""));

        let refused = ada
            .post(
                "/account/delete",
                &[("csrf", &ada.csrf("/account").await), ("confirm_email", ADA)],
            )
            .await;

        assert_eq!(refused.status, 403);
        assert_eq!(user(&app, ADA).unwrap().deletion_scheduled_at, None);
        assert!(ada.is_signed_in().await);

        // Signing in again (back to the page) makes the sign-in recent.
        let reauth = ada.get("/account/reauth?return_to=/account/delete").await;
        let back = ada
            .post(
                "/account/login",
                &[
                    ("csrf", &reauth.hidden("csrf")),
                    ("email", ADA),
                    ("password", PASSWORD),
                    ("return_to", &reauth.hidden("return_to")),
                ],
            )
            .await;
        assert_eq!(back.location(), "/account/delete");
        assert!(
            ada.get("/account/delete")
                .await
                .body
                .contains("name=\"confirm_email\"")
        );
    }
);

/// Client `web` (code + refresh, no consent page) and Ada's tokens from a code flow in the app's browser.
async fn tokens(app: &TestApp) -> openidconnect::core::CoreTokenResponse {
    app.create_client(NewClient {
        skip_consent: true,
        ..app.client("web")
    });
    let rp = app.rp("web", Some(SECRET)).await;
    app.code_flow(&rp, ADA, &["offline_access"]).await.0
}

async fn request_deletion(ada: &Device<'_>) -> Page {
    let csrf = ada.csrf("/account/delete").await;
    ada.post(
        "/account/delete",
        &[("csrf", &csrf), ("confirm_email", "ADA@example.com ")],
    )
    .await
}

db_test!(
    deleting_the_account_signs_out_everywhere_and_revokes_every_token,
    |app: TestApp| async move {
        let ada_user = app.create_user(ADA);
        let tokens = tokens(&app).await;
        let ada = Device::main(&app);
        let phone = Device::new(&app);
        phone.sign_in(ADA).await;
        let csrf = ada.csrf("/account/delete").await;
        let wrong = ada
            .post(
                "/account/delete",
                &[("csrf", &csrf), ("confirm_email", "eve@example.com")],
            )
            .await;
        assert_eq!(wrong.status, 422);
        assert!(wrong.body.contains("Type the email address of this account"));
        assert!(input(&wrong, "confirm-email").contains("aria-invalid=\"true\""));
        assert_eq!(user(&app, ADA).unwrap().deletion_scheduled_at, None);

        let scheduled = request_deletion(&ada).await;

        assert_eq!(scheduled.status, 303, "{}", scheduled.body);
        assert!(scheduled.location().starts_with("/account/delete/scheduled?at="));
        let at: i64 = scheduled.location().rsplit('=').next().unwrap().parse().unwrap();
        let due = user(&app, ADA).unwrap().deletion_scheduled_at.expect("scheduled");
        assert_eq!(at, due);
        assert!((due - unix_now() - 30 * 86_400).abs() < 60, "30 days of grace");
        let confirmation = ada.get(scheduled.location()).await;
        assert!(confirmation.body.contains("Your account will be erased on"));
        assert!(!ada.is_signed_in().await);
        assert!(!phone.is_signed_in().await);
        let refresh = refresh_with(&app, "web", tokens.refresh_token().unwrap().secret()).await;
        refresh.assert_oauth_error(400, "invalid_grant");
        let active = introspect(&app, "web", tokens.access_token().secret()).await;
        assert_eq!(active.body["active"], false, "{}", active.body);
        let events = app.provider.store.audit_for_user(&ada_user.id, 10).unwrap();
        assert!(events.iter().any(|r| r.event.event == "user.deletion_requested"));
    }
);

db_test!(
    signing_in_during_the_grace_period_restores_the_account,
    |app: TestApp| async move {
        let ada_user = app.create_user(ADA);
        let ada = Device::main(&app);
        ada.sign_in(ADA).await;
        assert_eq!(request_deletion(&ada).await.status, 303);
        assert!(user(&app, ADA).unwrap().deletion_scheduled_at.is_some());

        ada.sign_in(ADA).await;

        let hub = ada.get("/account").await;
        assert!(
            hub.body.contains("Your account has been restored."),
            "{}",
            hub.body
        );
        let restored = user(&app, ADA).unwrap();
        assert_eq!(restored.deletion_scheduled_at, None);
        assert_eq!(restored.id, ada_user.id);
        assert_eq!(
            portal::erase_due_accounts(&app.provider, unix_now() + 31 * 86_400).unwrap(),
            0,
            "nothing is due any more"
        );
        let events = app.provider.store.audit_for_user(&ada_user.id, 10).unwrap();
        assert!(events.iter().any(|r| r.event.event == "user.deletion_cancelled"));
        let elsewhere = Device::new(&app);
        elsewhere.sign_in(ADA).await;
        assert!(
            !elsewhere.get("/account").await.body.contains("has been restored"),
            "once"
        );
    }
);

db_test_with!(
    erasure_after_the_grace_period_removes_the_account_and_keeps_an_anonymised_audit_trail,
    |s: &mut gatehouse::config::Settings| s.portal.deletion_grace_days = 0,
    |app: TestApp| async move {
        topic(&app, "news", "Product news", &["email"]);
        let ada_user = app.create_user(ADA);
        subscribe(&app, &ada_user, "news", "email");
        let ada = Device::main(&app);
        ada.sign_in(ADA).await;
        assert_eq!(request_deletion(&ada).await.status, 303);

        let erased = portal::erase_due_accounts(&app.provider, unix_now()).unwrap();

        assert_eq!(erased, 1);
        let store = app.provider.store.as_ref();
        assert!(store.find_user(&ada_user.id).unwrap().is_none());
        assert!(store.list_preferences(&ada_user.id).unwrap().is_empty());
        assert!(store.list_sessions(&ada_user.id, unix_now()).unwrap().is_empty());
        let trail = store.audit_for_user(&ada_user.id, 50).unwrap();
        let kinds: Vec<&str> = trail.iter().map(|r| r.event.event.as_str()).collect();
        assert_eq!(kinds[0], "user.erased", "{kinds:?}");
        assert!(kinds.contains(&"user.deletion_requested") && kinds.contains(&"sign_in"));
        let everything = store.audit_page(0, 10_000).unwrap();
        let text = serde_json::to_string(&everything).unwrap();
        assert!(!text.contains("ada@"), "an audit record holds the email");
        assert!(!text.contains("Lovelace"), "an audit record holds the name");
        assert!(
            gatehouse::audit::verify_chain(everything).is_ok(),
            "the chain is intact"
        );
        assert_eq!(portal::erase_due_accounts(&app.provider, unix_now()).unwrap(), 0);

        let again = app.create_user(ADA);
        assert_ne!(again.id, ada_user.id, "the email can register again");
    }
);

// ---------------------------------------------------------------------------------------------
// Admin API: data-subject requests and topics
// ---------------------------------------------------------------------------------------------

/// An organization admin's access token (for the 403 checks).
async fn org_admin_token(app: &TestApp) -> String {
    let store = app.provider.store.as_ref();
    organizations::create(
        store,
        "test",
        NewOrganization {
            slug: "acme".into(),
            name: "Acme".into(),
            ..Default::default()
        },
    )
    .unwrap();
    organizations::save_role(store, "test", "acme", "admin", vec!["org:manage".into()]).unwrap();
    let boss = app.create_user("boss@acme.example");
    organizations::save_member(store, "test", "acme", &boss.id, &["admin".into()]).unwrap();
    app.create_client(NewClient {
        scopes: ["openid", "organization", "gatehouse:org-admin"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        skip_consent: true,
        ..app.client("b2b")
    });
    let rp = app.rp("b2b", Some(SECRET)).await;
    let (tokens, _) = app
        .code_flow(&rp, "boss@acme.example", &["organization", "gatehouse:org-admin"])
        .await;
    tokens.access_token().secret().clone()
}

db_test!(
    operators_export_and_erase_a_user_on_request_and_nobody_else_may,
    |app: TestApp| async move {
        let op = operator(&app).await;
        let boss = org_admin_token(&app).await;
        let ada = app.create_user(ADA);

        let export = call(&app, "get", &format!("/users/{}/export", ada.id), Some(&op), None).await;
        assert_eq!(export.status, 200, "{}", export.body);
        assert_eq!(export.body["profile"]["email"], ADA);
        assert_eq!(export.header("cache-control"), "no-store");
        for (method, path) in [
            ("get", format!("/users/{}/export", ada.id)),
            ("post", format!("/users/{}/erase", ada.id)),
        ] {
            let forbidden = call(&app, method, &path, Some(&boss), None).await;
            assert_eq!(forbidden.status, 403, "{method} {path}: {}", forbidden.body);
            let anonymous = call(&app, method, &path, None, None).await;
            assert_eq!(anonymous.status, 401);
            let unknown = call(&app, method, &path.replace(&ada.id, "nobody"), Some(&op), None).await;
            assert_eq!(unknown.status, 404, "{method} {path}");
        }
        assert!(user(&app, ADA).is_some(), "refused calls erase nothing");

        let erased = call(&app, "post", &format!("/users/{}/erase", ada.id), Some(&op), None).await;

        assert_eq!(erased.status, 204, "{}", erased.body);
        assert!(user(&app, ADA).is_none());
        let gone = call(&app, "get", &format!("/users/{}/export", ada.id), Some(&op), None).await;
        assert_eq!(gone.status, 404);
        let trail = app.provider.store.audit_for_user(&ada.id, 10).unwrap();
        assert_eq!(trail[0].event.event, "user.erased");
        assert_eq!(trail[0].event.actor.as_deref(), Some("client:ops"));
    }
);

db_test!(operators_manage_preference_topics, |app: TestApp| async move {
    let op = operator(&app).await;
    let body = json!({ "id": "news", "name": "Product news", "description": "What is new", "channels": ["email", "sms"] });

    let created = call(&app, "post", "/preference-topics", Some(&op), Some(body.clone())).await;

    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["channels"], json!(["email", "sms"]));
    let duplicate = call(&app, "post", "/preference-topics", Some(&op), Some(body)).await;
    assert_eq!(duplicate.status, 409);
    for (bad, field) in [
        (
            json!({ "id": "Bad Id", "name": "x", "channels": ["email"] }),
            "id",
        ),
        (json!({ "id": "ok", "name": "", "channels": ["email"] }), "name"),
        (json!({ "id": "ok", "name": "x", "channels": [] }), "channels"),
        (
            json!({ "id": "ok", "name": "x", "channels": ["e mail"] }),
            "channels",
        ),
    ] {
        let refused = call(&app, "post", "/preference-topics", Some(&op), Some(bad.clone())).await;
        assert_eq!(refused.status, 400, "{bad}");
        assert_eq!(refused.body["errors"][0]["field"], field, "{}", refused.body);
    }
    let list = call(&app, "get", "/preference-topics", Some(&op), None).await;
    assert_eq!(list.body["items"][0]["id"], "news");
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let deleted = call(&app, "delete", "/preference-topics/news", Some(&op), None).await;
    assert_eq!(deleted.status, 204);
    let again = call(&app, "delete", "/preference-topics/news", Some(&op), None).await;
    assert_eq!(again.status, 404);
});
