//! Progressive identity: light sign-up (`prompt=create`), passwordless sign-in by email code, and
//! progressive profiling, driven by a real relying party and a browser; codes are read from the mail
//! folder. Bad input: wrong, reused, expired, foreign-browser and guessed codes, enumeration, CSRF, rate
//! limits, invalid profile values.

use gatehouse::flows::admin::NewClient;
use gatehouse::flows::client_policy::{self, PolicyChange};
use gatehouse::store::IdentityLevel;
use serde_json::json;

use crate::admin_api::{assert_problem, call, operator};
use crate::db_test;
use crate::helpers::*;

const ADA: &str = "ada@example.com";
const NEW: &str = "newcomer@example.com";

/// A first-party client offering light sign-up, with the given extra policy.
fn light_client(app: &TestApp, change: PolicyChange) {
    app.create_client(NewClient {
        skip_consent: true,
        ..app.client("shop")
    });
    let change = PolicyChange {
        allow_light_accounts: Some(true),
        ..change
    };
    client_policy::update_as("test", app.provider.store.as_ref(), "shop", change).expect("policy saved");
}

/// Follows `/signup` → POST name and email; returns the redirect to the code page.
async fn sign_up(app: &TestApp, start: &Page, name: &str, email: &str) -> Page {
    assert!(
        start.location().starts_with("/signup?req="),
        "{}",
        start.location()
    );
    let page = app.get(&app.url(start.location())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (req, csrf) = (page.hidden("req"), page.hidden("csrf"));
    app.post_form(
        &app.url("/signup"),
        &[("req", &req), ("csrf", &csrf), ("name", name), ("email", email)],
    )
    .await
}

/// Types `code` on the code page that `sent` redirects to.
async fn enter_code(app: &TestApp, sent: &Page, code: &str) -> Page {
    assert!(
        sent.location().starts_with("/login/code?c="),
        "{}: {}",
        sent.status,
        sent.body
    );
    let page = app.get(&app.url(sent.location())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (c, csrf) = (page.hidden("c"), page.hidden("csrf"));
    app.post_form(
        &app.url("/login/code"),
        &[("c", &c), ("csrf", &csrf), ("code", code)],
    )
    .await
}

/// From the login page that `start` redirects to, asks for a sign-in code for `email`.
async fn request_code(app: &TestApp, start: &Page, email: &str) -> Page {
    let login = app.get(&app.url(start.location())).await;
    let (req, csrf) = (login.hidden("req"), login.hidden("csrf"));
    app.post_form(
        &app.url("/login/code/request"),
        &[("req", &req), ("csrf", &csrf), ("email", email)],
    )
    .await
}

db_test!(
    a_light_sign_up_creates_a_light_account_and_the_app_is_told_so,
    |app: TestApp| async move {
        light_client(&app, PolicyChange::default());
        let rp = app.rp("shop", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["profile", "email"], &[("prompt", "create")]);
        let start = app.get(&auth.url).await;
        let sent = sign_up(&app, &start, "Nia Newcomer", NEW).await;
        let mail = app.last_mail_to(NEW).await;
        assert!(mail.subject.contains("finish signing up"), "{}", mail.subject);
        let back = enter_code(&app, &sent, &mail.code()).await;
        let tokens = app.exchange(&rp, auth, &back).await;
        let claims = id_token_claims(&tokens);
        assert_eq!(claims["identity_level"], "light");
        assert_eq!(claims["amr"], json!(["email"]));
        let user = app
            .provider
            .store
            .find_user_by_email(NEW)
            .unwrap()
            .expect("the account exists");
        assert_eq!(user.level, IdentityLevel::Light);
        assert!(user.email_verified && user.password_hash.is_none());
        assert_eq!(user.name.as_deref(), Some("Nia Newcomer"));
        assert_eq!(claims["sub"], user.id);
    }
);

db_test!(
    prompt_create_is_refused_for_a_client_without_light_accounts,
    |app: TestApp| async move {
        app.create_client(app.client("plain"));
        let rp = app.rp("plain", Some(SECRET)).await;
        let auth = app.authorization(&rp, &[], &[("prompt", "create")]);
        let back = app.get(&auth.url).await;
        assert_eq!(
            back.query("error").as_deref(),
            Some("invalid_request"),
            "{}",
            back.location()
        );
        assert_eq!(back.query("state").as_deref(), Some(auth.state.secret().as_str()));
        assert_eq!(back.query("iss").as_deref(), Some(app.address.as_str()));
        let none = app.authorization(&rp, &[], &[("prompt", "none create")]);
        let back = app.get(&none.url).await;
        assert_eq!(back.query("error").as_deref(), Some("invalid_request"));
    }
);

db_test!(
    a_code_signs_an_existing_person_in_without_a_password,
    |app: TestApp| async move {
        light_client(&app, PolicyChange::default());
        let ada = app.create_user(ADA);
        let rp = app.rp("shop", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["email"], &[]);
        let start = app.get(&auth.url).await;
        let sent = request_code(&app, &start, "  Ada@Example.com ").await;
        let mail = app.last_mail_to(ADA).await;
        assert!(mail.subject.contains("sign-in code"), "{}", mail.subject);
        let back = enter_code(&app, &sent, &mail.code()).await;
        let claims = id_token_claims(&app.exchange(&rp, auth, &back).await);
        assert_eq!(claims["sub"], ada.id);
        assert_eq!(claims["identity_level"], "full");
        assert_eq!(claims["amr"], json!(["email"]));
    }
);

db_test!(
    asking_for_a_code_answers_alike_for_unknown_and_known_addresses,
    |app: TestApp| async move {
        light_client(&app, PolicyChange::default());
        app.create_user(ADA);
        let rp = app.rp("shop", Some(SECRET)).await;
        let start = app.get(&app.authorization(&rp, &[], &[]).url).await;
        let known = request_code(&app, &start, ADA).await;
        let unknown = request_code(&app, &start, "nobody@example.com").await;
        assert_eq!((known.status, unknown.status), (303, 303));
        let known_page = app.get(&app.url(known.location())).await;
        let unknown_page = app.get(&app.url(unknown.location())).await;
        let strip = |p: &Page| {
            p.body
                .replace(&p.hidden("c"), "")
                .replace("a***@", "x")
                .replace("n***@", "x")
        };
        assert_eq!(strip(&known_page), strip(&unknown_page));
        // No mail goes to an address without an account, and no code opens its decoy challenge.
        app.last_mail_to(ADA).await;
        assert!(app.mails_to("nobody@example.com").is_empty());
        let wrong = enter_code(&app, &unknown, "123456").await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
        assert!(wrong.body.contains("4 more times"), "{}", wrong.body);
    }
);

db_test!(
    a_wrong_code_is_counted_and_the_last_guess_ends_the_code,
    |app: TestApp| async move {
        light_client(&app, PolicyChange::default());
        app.create_user(ADA);
        let rp = app.rp("shop", Some(SECRET)).await;
        let start = app.get(&app.authorization(&rp, &[], &[]).url).await;
        let sent = request_code(&app, &start, ADA).await;
        let code = app.last_mail_to(ADA).await.code();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for left in (1..=4).rev() {
            let page = enter_code(&app, &sent, wrong).await;
            assert_eq!(page.status, 401, "{}", page.body);
            assert!(page.body.contains(&format!("{left} more time")), "{}", page.body);
        }
        let fifth = enter_code(&app, &sent, wrong).await;
        assert_eq!(fifth.status, 400, "{}", fifth.body);
        // Out of guesses: even the right code no longer works, and the code page is gone.
        let page = app.get(&app.url(sent.location())).await;
        assert_eq!(page.status, 400);
        let c = sent.location().trim_start_matches("/login/code?c=");
        let csrf = app.get(&app.url("/login/code/request")).await.hidden("csrf");
        let late = app
            .post_form(
                &app.url("/login/code"),
                &[("c", c), ("csrf", &csrf), ("code", &code)],
            )
            .await;
        assert_eq!(late.status, 400, "{}", late.body);
        assert!(
            app.get(&app.url("/account"))
                .await
                .body
                .contains("Sign in to your account")
        );
    }
);

db_test!(
    a_code_works_once_and_only_in_the_browser_that_asked,
    |app: TestApp| async move {
        light_client(&app, PolicyChange::default());
        app.create_user(ADA);
        let rp = app.rp("shop", Some(SECRET)).await;
        let start = app.get(&app.authorization(&rp, &[], &[]).url).await;
        request_code(&app, &start, ADA).await;
        let mail = app.last_mail_to(ADA).await;
        // Another browser, even with the link from the mail, gets nowhere.
        let other = browser();
        let elsewhere = other.get(mail.link()).send().await.unwrap();
        assert_eq!(elsewhere.status(), 400);
        // The link fills the code in for the right browser.
        let linked = app.get(&mail.link()).await;
        assert_eq!(linked.status, 200, "{}", linked.body);
        assert!(linked.body.contains(&format!("value=\"{}\"", mail.code())));
        let c = linked.hidden("c");
        let csrf = linked.hidden("csrf");
        let form = [("c", c.as_str()), ("csrf", csrf.as_str()), ("code", &mail.code())];
        let first = app.post_form(&app.url("/login/code"), &form).await;
        assert_eq!(first.status, 303, "{}", first.body);
        assert!(first.location().starts_with(REDIRECT_URI), "{}", first.location());
        let again = app.post_form(&app.url("/login/code"), &form).await;
        assert_eq!(again.status, 400, "{}", again.body);
    }
);

db_test!(an_expired_code_is_refused, |app: TestApp| async move {
    drop(app);
    let app = spawn_app_with(Backend::Sqlite, |s| s.email_codes.ttl = 0).await;
    light_client(&app, PolicyChange::default());
    app.create_user(ADA);
    let rp = app.rp("shop", Some(SECRET)).await;
    let start = app.get(&app.authorization(&rp, &[], &[]).url).await;
    let sent = request_code(&app, &start, ADA).await;
    let code = app.last_mail_to(ADA).await.code();
    let page = app.get(&app.url(sent.location())).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("expired"), "{}", page.body);
    let c = sent.location().trim_start_matches("/login/code?c=");
    let csrf = app.get(&app.url("/login/code/request")).await.hidden("csrf");
    let late = app
        .post_form(
            &app.url("/login/code"),
            &[("c", c), ("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(late.status, 400, "{}", late.body);
});

db_test!(
    codes_for_one_address_are_rate_limited,
    |app: TestApp| async move {
        drop(app);
        let app = spawn_app_with(Backend::Sqlite, |s| {
            s.rate_limits.email_code_per_account = "2/min".into()
        })
        .await;
        light_client(&app, PolicyChange::default());
        app.create_user(ADA);
        let csrf = app.get(&app.url("/login/code/request")).await.hidden("csrf");
        let url = app.url("/login/code/request");
        let form = [("csrf", csrf.as_str()), ("email", ADA)];
        assert_eq!(app.post_form(&url, &form).await.status, 303);
        assert_eq!(app.post_form(&url, &form).await.status, 303);
        let third = app.post_form(&url, &form).await;
        assert_eq!(third.status, 429, "{}", third.body);
        assert!(third.headers.contains_key("retry-after"));
    }
);

db_test!(
    sign_up_with_a_taken_address_sends_a_sign_in_code_and_changes_nothing,
    |app: TestApp| async move {
        light_client(&app, PolicyChange::default());
        let ada = app.create_user(ADA);
        let rp = app.rp("shop", Some(SECRET)).await;
        let auth = app.authorization(&rp, &[], &[("prompt", "create")]);
        let start = app.get(&auth.url).await;
        let sent = sign_up(&app, &start, "Mallory", ADA).await;
        let mail = app.last_mail_to(ADA).await;
        assert!(mail.subject.contains("sign-in code"), "{}", mail.subject);
        let back = enter_code(&app, &sent, &mail.code()).await;
        let claims = id_token_claims(&app.exchange(&rp, auth, &back).await);
        assert_eq!(claims["sub"], ada.id);
        let after = app.provider.store.find_user(&ada.id).unwrap().unwrap();
        assert_eq!(after.name, ada.name);
        assert_eq!(after.level, IdentityLevel::Full);
    }
);

db_test!(
    sign_up_mistakes_are_shown_next_to_the_field,
    |app: TestApp| async move {
        light_client(&app, PolicyChange::default());
        let rp = app.rp("shop", Some(SECRET)).await;
        let start = app
            .get(&app.authorization(&rp, &[], &[("prompt", "create")]).url)
            .await;
        let page = app.get(&app.url(start.location())).await;
        let (req, csrf) = (page.hidden("req"), page.hidden("csrf"));
        let post = |name: &'static str, email: &'static str| {
            let (req, csrf) = (req.clone(), csrf.clone());
            let app = &app;
            async move {
                app.post_form(
                    &app.url("/signup"),
                    &[("req", &req), ("csrf", &csrf), ("name", name), ("email", email)],
                )
                .await
            }
        };
        let no_name = post("  ", NEW).await;
        assert_eq!(no_name.status, 422);
        assert!(no_name.body.contains("id=\"name-error\""), "{}", no_name.body);
        assert!(
            no_name.body.contains(&format!("value=\"{NEW}\"")),
            "the email is kept"
        );
        for bad in ["not-an-email", "a@b", "x@example.com\r\nBcc: y@example.com"] {
            let page = post("Nia", bad).await;
            assert_eq!(page.status, 422, "{bad}: {}", page.body);
            assert!(page.body.contains("id=\"email-error\""));
        }
        assert!(app.provider.store.find_user_by_email(NEW).unwrap().is_none());
        assert!(app.mails_to("example.com").is_empty());
    }
);

db_test!(
    the_passwordless_forms_refuse_a_missing_or_foreign_csrf_token,
    |app: TestApp| async move {
        light_client(&app, PolicyChange::default());
        app.create_user(ADA);
        let rp = app.rp("shop", Some(SECRET)).await;
        let start = app
            .get(&app.authorization(&rp, &[], &[("prompt", "create")]).url)
            .await;
        let page = app.get(&app.url(start.location())).await;
        let req = page.hidden("req");
        let foreign = browser()
            .get(app.url("/login/code/request"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let foreign_csrf = {
            let marker = "name=\"csrf\" value=\"";
            let s = foreign.find(marker).unwrap() + marker.len();
            foreign[s..s + foreign[s..].find('"').unwrap()].to_string()
        };
        for csrf in ["", foreign_csrf.as_str()] {
            let signup = app
                .post_form(
                    &app.url("/signup"),
                    &[("req", &req), ("csrf", csrf), ("name", "N"), ("email", NEW)],
                )
                .await;
            assert_eq!(signup.status, 400, "{}", signup.body);
            let ask = app
                .post_form(&app.url("/login/code/request"), &[("csrf", csrf), ("email", ADA)])
                .await;
            assert_eq!(ask.status, 400, "{}", ask.body);
            let check = app
                .post_form(
                    &app.url("/login/code"),
                    &[("c", "x"), ("csrf", csrf), ("code", "123456")],
                )
                .await;
            assert_eq!(check.status, 400, "{}", check.body);
            assert!(check.body.contains("This form has expired"), "{}", check.body);
        }
        assert!(app.mails_to("example.com").is_empty());
    }
);

db_test!(
    progressive_profiling_asks_once_for_just_the_missing_fields,
    |app: TestApp| async move {
        light_client(
            &app,
            PolicyChange {
                required_fields: Some(vec!["given_name".into(), "birthdate".into()]),
                optional_fields: Some(vec!["phone_number".into()]),
                ..Default::default()
            },
        );
        let ada = app.create_user(ADA);
        gatehouse::flows::admin::update_profile(
            app.provider.store.as_ref(),
            &ada.id,
            gatehouse::flows::admin::ProfileUpdate {
                name: None,
                fields: vec![("given_name".into(), "Ada".into())],
            },
        )
        .unwrap();
        let rp = app.rp("shop", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["profile"], &[]);
        let start = app.get(&auth.url).await;
        let asked = app.sign_in(&start, ADA, PASSWORD).await;
        assert!(
            asked.location().starts_with("/profile/complete?req="),
            "{}",
            asked.location()
        );
        let page = app.get(&app.url(asked.location())).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("name=\"birthdate\"") && page.body.contains("name=\"phone_number\""));
        assert!(
            !page.body.contains("name=\"given_name\""),
            "given_name is known already"
        );
        let (req, csrf) = (page.hidden("req"), page.hidden("csrf"));
        // Invalid values: the form again, a message next to each, and nothing saved (not even the valid one).
        let bad = app
            .post_form(
                &app.url("/profile/complete"),
                &[
                    ("req", &req),
                    ("csrf", &csrf),
                    ("birthdate", "2020-13-40"),
                    ("phone_number", "0123"),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("id=\"e-birthdate\"") && bad.body.contains("id=\"e-phone_number\""));
        let missing = app
            .post_form(
                &app.url("/profile/complete"),
                &[
                    ("req", &req),
                    ("csrf", &csrf),
                    ("birthdate", ""),
                    ("phone_number", "+14155550100"),
                ],
            )
            .await;
        assert_eq!(missing.status, 422);
        assert!(missing.body.contains("This is needed to continue."));
        let unchanged = app.provider.store.find_user(&ada.id).unwrap().unwrap();
        assert_eq!(unchanged.profile.birthdate, None);
        assert_eq!(unchanged.profile.phone_number, None);
        // The optional phone may stay empty; the authorization continues with the new birthdate.
        let done = app
            .post_form(
                &app.url("/profile/complete"),
                &[
                    ("req", &req),
                    ("csrf", &csrf),
                    ("birthdate", "1815-12-10"),
                    ("phone_number", ""),
                ],
            )
            .await;
        let claims = id_token_claims(&app.exchange(&rp, auth, &done).await);
        assert_eq!(claims["sub"], ada.id);
        let saved = app.provider.store.find_user(&ada.id).unwrap().unwrap();
        assert_eq!(saved.profile.birthdate.as_deref(), Some("1815-12-10"));
        // Next time nothing is asked, although the optional phone number is still missing.
        let again = app.authorization(&rp, &["profile"], &[]);
        let back = app.get(&again.url).await;
        assert!(back.location().starts_with(REDIRECT_URI), "{}", back.location());
    }
);

db_test!(
    prompt_none_with_a_missing_required_field_is_interaction_required,
    |app: TestApp| async move {
        light_client(
            &app,
            PolicyChange {
                required_fields: Some(vec!["address".into()]),
                ..Default::default()
            },
        );
        app.create_user(ADA);
        let rp = app.rp("shop", Some(SECRET)).await;
        let start = app.get(&app.authorization(&rp, &[], &[]).url).await;
        let asked = app.sign_in(&start, ADA, PASSWORD).await;
        assert!(
            asked.location().starts_with("/profile/complete"),
            "{}",
            asked.location()
        );
        let page = app.get(&app.url(asked.location())).await;
        assert!(
            page.body.contains("name=\"address.street_address\""),
            "{}",
            page.body
        );
        let silent = app.authorization(&rp, &[], &[("prompt", "none")]);
        let back = app.get(&silent.url).await;
        assert_eq!(
            back.query("error").as_deref(),
            Some("interaction_required"),
            "{}",
            back.location()
        );
    }
);

db_test!(
    operators_set_client_policies_through_the_admin_api,
    |app: TestApp| async move {
        app.create_client(app.client("shop"));
        let token = operator(&app).await;
        let shown = call(&app, "get", "/clients/shop/policy", Some(&token), None).await;
        assert_eq!(shown.status, 200, "{}", shown.body);
        assert_eq!(shown.body["allow_light_accounts"], false);
        let changed = call(
            &app,
            "patch",
            "/clients/shop/policy",
            Some(&token),
            Some(
                json!({ "allow_light_accounts": true, "required_fields": ["given_name"], "region": "us-ca" }),
            ),
        )
        .await;
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert_eq!(changed.body["region"], "US-CA");
        assert_eq!(changed.body["required_fields"], json!(["given_name"]));
        gatehouse::flows::consents::documents::create(
            app.provider.store.as_ref(),
            "operator",
            gatehouse::flows::consents::documents::NewDocument {
                id: "news-mail".into(),
                title: "News by mail".into(),
                purpose: "marketing".into(),
                required: false,
            },
        )
        .unwrap();
        for bad in [
            json!({ "required_fields": ["password"] }),
            json!({ "region": "Mars" }),
            json!({ "required_documents": ["news-mail"] }),
            json!({ "required_documents": ["no-such-document"] }),
            json!({ "allow_light_accounts": "yes" }),
            json!({ "surprise": 1 }),
        ] {
            let reply = call(
                &app,
                "patch",
                "/clients/shop/policy",
                Some(&token),
                Some(bad.clone()),
            )
            .await;
            assert_problem(&reply, 400, None);
        }
        let kept = call(&app, "get", "/clients/shop/policy", Some(&token), None).await;
        assert_eq!(kept.body, changed.body, "a refused change saves nothing");
        let missing = call(&app, "get", "/clients/nope/policy", Some(&token), None).await;
        assert_problem(&missing, 404, None);
        let anonymous = call(&app, "get", "/clients/shop/policy", None, None).await;
        assert_problem(&anonymous, 401, None);
    }
);

/// A minimal SMTP server (RFC 5321) on 127.0.0.1 that accepts every message and hands each DATA
/// section to the test.
fn fake_smtp_server() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut out = stream.try_clone().unwrap();
            let mut lines = BufReader::new(stream);
            let _ = out.write_all(b"220 fake ESMTP\r\n");
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250-fake\r\n250 8BITMIME\r\n",
                    "DATA" => {
                        let _ = out.write_all(b"354 end with .\r\n");
                        let mut data = String::new();
                        let mut l = String::new();
                        while lines.read_line(&mut l).unwrap_or(0) > 0 && l != ".\r\n" {
                            data.push_str(&l);
                            l.clear();
                        }
                        let _ = tx.send(data);
                        b"250 queued\r\n"
                    }
                    "QUIT" => {
                        let _ = out.write_all(b"221 bye\r\n");
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                let _ = out.write_all(reply);
                line.clear();
            }
        }
    });
    (port, rx)
}

db_test!(
    codes_go_out_through_smtp_when_it_is_configured,
    |app: TestApp| async move {
        drop(app);
        let (port, received) = fake_smtp_server();
        let app = spawn_app_with(Backend::Sqlite, |s| {
            s.mail.transport = "smtp".into();
            s.mail.smtp.host = "127.0.0.1".into();
            s.mail.smtp.port = port;
            s.mail.smtp.security = gatehouse::mail::SmtpSecurity::None;
            s.mail.from = "Gatehouse <no-reply@gatehouse.test>".into();
        })
        .await;
        app.create_user(ADA);
        let csrf = app.get(&app.url("/login/code/request")).await.hidden("csrf");
        let sent = app
            .post_form(
                &app.url("/login/code/request"),
                &[("csrf", &csrf), ("email", ADA)],
            )
            .await;
        assert_eq!(sent.status, 303, "{}", sent.body);
        let data = actix_web::rt::task::spawn_blocking(move || {
            received.recv_timeout(std::time::Duration::from_secs(10))
        })
        .await
        .unwrap()
        .expect("a message reached the SMTP server");
        let mail = Mail {
            to: ADA.into(),
            subject: String::new(),
            raw: data,
        };
        assert!(mail.raw.contains("To: ada@example.com"), "{}", mail.raw);
        assert!(
            mail.raw.contains("From: Gatehouse <no-reply@gatehouse.test>"),
            "{}",
            mail.raw
        );
        assert!(
            mail.raw.contains("Content-Type: text/html"),
            "both parts: {}",
            mail.raw
        );
        let signed_in = enter_code(&app, &sent, &mail.code()).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        assert_eq!(signed_in.location(), "/account");
        assert!(app.mails_to(ADA).is_empty(), "nothing in the folder");
    }
);

db_test!(
    an_invited_newcomer_signs_up_with_a_code_and_joins_the_organization,
    |app: TestApp| async move {
        use gatehouse::flows::organizations::{self, NewOrganization};
        let store = app.provider.store.as_ref();
        let org = organizations::create(
            store,
            "operator",
            NewOrganization {
                slug: "acme".into(),
                name: "Acme Corp".into(),
                ..Default::default()
            },
        )
        .unwrap();
        organizations::save_role(store, "operator", "acme", "viewer", vec!["invoices:read".into()]).unwrap();
        let invite =
            organizations::invite(store, "operator", &app.address, "acme", NEW, &["viewer".into()]).unwrap();
        let page = app.get(&invite.url).await;
        assert!(page.body.contains("Email a code to"), "{}", page.body);
        let token = invite.url.rsplit('/').next().unwrap().to_string();
        let sent = app
            .post_form(
                &app.url(&format!("/invitations/{token}/code")),
                &[("csrf", &page.hidden("csrf")), ("name", "Nia Newcomer")],
            )
            .await;
        let code = app.last_mail_to(NEW).await.code();
        let back = enter_code(&app, &sent, &code).await;
        assert_eq!(back.location(), format!("/invitations/{token}"));
        let page = app.get(&app.url(back.location())).await;
        assert!(
            page.body.contains(&format!("Signed in as {NEW}")),
            "{}",
            page.body
        );
        let accepted = app
            .post_form(&invite.url, &[("csrf", &page.hidden("csrf"))])
            .await;
        assert!(
            accepted.location().starts_with("/account?joined="),
            "{}",
            accepted.location()
        );
        let user = app.provider.store.find_user_by_email(NEW).unwrap().unwrap();
        assert_eq!(user.level, IdentityLevel::Light);
        assert_eq!(user.name.as_deref(), Some("Nia Newcomer"));
        let member = app
            .provider
            .store
            .find_member(&org.id, &user.id)
            .unwrap()
            .expect("a member");
        assert_eq!(member.roles, vec!["viewer".to_string()]);
    }
);

db_test!(
    a_light_account_becomes_full_with_a_password_or_a_linked_provider,
    |app: TestApp| async move {
        let store = app.provider.store.as_ref();
        let light = |email: &str| gatehouse::store::User {
            id: gatehouse::crypto::random_id(),
            email: email.into(),
            email_verified: true,
            name: Some("Light".into()),
            password_hash: None,
            created_at: 1,
            updated_at: 1,
            profile: Default::default(),
            level: IdentityLevel::Light,
            region: None,
            deletion_scheduled_at: None,
        };
        let (one, two) = (light("one@example.com"), light("two@example.com"));
        store.create_user(&one).unwrap();
        store.create_user(&two).unwrap();
        store
            .set_password_hash(&one.id, &gatehouse::crypto::hash_password(PASSWORD), 2)
            .unwrap();
        store
            .link_identity(&gatehouse::store::Identity {
                connection_id: "github".into(),
                subject: "12345".into(),
                user_id: two.id.clone(),
                email: None,
                created_at: 2,
                last_used_at: 2,
            })
            .unwrap();
        for user in [&one, &two] {
            let after = store.find_user(&user.id).unwrap().expect("same id");
            assert_eq!(after.level, IdentityLevel::Full, "{}", user.email);
            assert_eq!(after.name.as_deref(), Some("Light"), "data kept");
        }
    }
);

db_test!(
    a_code_from_the_account_sign_in_returns_to_the_portal_page_and_never_elsewhere,
    |app: TestApp| async move {
        app.create_user(ADA);
        let page = app
            .get(&app.url("/account/reauth?return_to=/account/password"))
            .await;
        assert!(
            page.body.contains("formaction=\"/login/code/request\""),
            "{}",
            page.body
        );
        let csrf = page.hidden("csrf");
        for (return_to, lands_on) in [
            ("/account/password", "/account/password"),
            ("https://evil.example/", "/account"),
            ("//evil.example/account", "/account"),
        ] {
            let expected = app.mails_to(ADA).len() + 1;
            let sent = app
                .post_form(
                    &app.url("/login/code/request"),
                    &[("csrf", &csrf), ("email", ADA), ("return_to", return_to)],
                )
                .await;
            let mail = app.mail_number(ADA, expected).await;
            let back = enter_code(&app, &sent, &mail.code()).await;
            assert_eq!(back.status, 303, "{}", back.body);
            assert_eq!(back.location(), lands_on, "return_to {return_to}");
        }
    }
);
