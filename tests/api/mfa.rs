//! Second factors (issue 8): authenticator apps (RFC 6238) and recovery codes, enrolled from the
//! portal or during sign-in; sessions that wait for their second factor; `acr`/`amr` in tokens;
//! step-up by `acr_values` and by client and organization policies; `prompt=none`; removal rules;
//! brute-force limits; and the admin API and its bad input.

use gatehouse::audit::kind;
use gatehouse::flows::organizations::{self, NewOrganization};
use gatehouse::protocol::acr::{ACR_1FA, ACR_MFA};
use gatehouse::protocol::totp;
use serde_json::json;

use crate::admin_api::{assert_problem, call, operator};
use crate::db_test;
use crate::helpers::*;

const ADA: &str = "ada@example.com";

/// Decodes the base32 key the setup page shows (grouped by four, no padding).
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        let value = ALPHABET.find(c).expect("base32") as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The code of the step `offset` steps from now.
fn code(secret: &[u8], offset: i64) -> String {
    totp::code_for_step(secret, totp::step_at(now()) + offset)
}

/// The key on a setup page.
fn secret_on(page: &Page) -> Vec<u8> {
    let start =
        page.body.find("id=\"totp-secret\">").expect("the key is shown") + "id=\"totp-secret\">".len();
    let end = page.body[start..].find('<').unwrap() + start;
    base32_decode(&page.body[start..end])
}

fn recovery_codes_on(page: &Page) -> Vec<String> {
    page.body
        .split("<code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect()
}

/// Signs in on the account page with the password (a fresh sign-in: recent enough for changes).
async fn account_sign_in(app: &TestApp, email: &str) -> Page {
    let page = app.get(&app.url("/account")).await;
    let csrf = page.hidden("csrf");
    app.post_form(
        &app.url("/account/login"),
        &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
    )
    .await
}

/// Enrols an authenticator app from the portal; returns its secret and the recovery codes shown.
async fn enrol_totp_in_portal(app: &TestApp) -> (Vec<u8>, Vec<String>) {
    let security = app.get(&app.url("/account/security")).await;
    assert_eq!(security.status, 200, "{}", security.body);
    let csrf = security.hidden("csrf");
    let setup = app
        .post_form(&app.url("/account/security/totp/start"), &[("csrf", &csrf)])
        .await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    assert!(setup.body.contains("<svg"), "a QR code is drawn");
    save_page("mfa-totp-setup", &setup);
    let secret = secret_on(&setup);
    let enrolment = setup.hidden("enrolment");
    // A wrong first code changes nothing and shows the same setup again.
    let wrong = app
        .post_form(
            &app.url("/account/security/totp"),
            &[("csrf", &csrf), ("enrolment", &enrolment), ("code", "000000x")],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(
        app.provider
            .store
            .find_totp(&user_id(app, ADA))
            .unwrap()
            .is_none()
    );
    let done = app
        .post_form(
            &app.url("/account/security/totp"),
            &[
                ("csrf", &csrf),
                ("enrolment", &enrolment),
                ("code", &code(&secret, 0)),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    save_page("mfa-recovery-codes", &done);
    save_page("mfa-security", &app.get(&app.url("/account/security")).await);
    let codes = recovery_codes_on(&done);
    assert_eq!(codes.len(), 10, "{}", done.body);
    (secret, codes)
}

/// Every audit event so far.
fn audit(app: &TestApp) -> Vec<gatehouse::audit::AuditEvent> {
    app.provider
        .store
        .audit_page(0, 10_000)
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect()
}

fn user_id(app: &TestApp, email: &str) -> String {
    app.provider.store.find_user_by_email(email).unwrap().unwrap().id
}

/// Authorizes, signs in with the password, and expects the second-factor page.
async fn to_second_factor(app: &TestApp, auth: &Authorization) -> Page {
    let start = app.get(&auth.url).await;
    let after_password = app.sign_in(&start, ADA, PASSWORD).await;
    assert_eq!(after_password.status, 303, "{}", after_password.body);
    assert!(
        after_password.location().starts_with("/login/mfa?req="),
        "{}",
        after_password.location()
    );
    let page = app.get(&app.url(after_password.location())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

async fn submit_code(app: &TestApp, page: &Page, method: &str, typed: &str) -> Page {
    app.post_form(
        &app.url("/login/mfa"),
        &[
            ("req", &page.hidden("req")),
            ("csrf", &page.hidden("csrf")),
            ("method", method),
            ("code", typed),
        ],
    )
    .await
}

fn amr(claims: &serde_json::Value) -> Vec<String> {
    claims["amr"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// A second browser for the same app (its own cookie jar).
fn fresh_browser(app: &mut TestApp) {
    app.browser = browser();
}

db_test!(
    an_authenticator_app_is_enrolled_in_the_portal_and_then_asked_for_at_every_password_sign_in,
    |mut app: TestApp| async move {
        app.create_client(NewClientExt::skip_consent(app.client("rp")));
        app.create_user(ADA);
        account_sign_in(&app, ADA).await;
        let (secret, _) = enrol_totp_in_portal(&app).await;
        let events = audit(&app);
        assert!(
            events
                .iter()
                .any(|e| e.event == kind::FACTOR_ENROLLED && e.detail["factor"] == "totp")
        );

        fresh_browser(&mut app);
        let rp = app.rp("rp", Some(SECRET)).await;
        let auth = app.authorization(&rp, &[], &[]);
        let page = to_second_factor(&app, &auth).await;
        assert!(page.body.contains("authenticator app"), "{}", page.body);
        save_page("mfa-second-factor", &page);
        // The waiting session is not signed in anywhere else.
        let account = app.get(&app.url("/account")).await;
        assert_eq!(account.status, 303);
        assert!(
            account.location().starts_with("/login/mfa?return_to="),
            "{}",
            account.location()
        );

        let wrong = submit_code(&app, &page, "totp", "123456").await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
        // The enrolment used this step's code: the next one signs in.
        let typed = code(&secret, 1);
        let back = submit_code(&app, &page, "totp", &typed).await;
        let tokens = app.exchange(&rp, auth, &back).await;
        let claims = id_token_claims(&tokens);
        let methods = amr(&claims);
        for m in ["pwd", "otp", "mfa"] {
            assert!(methods.contains(&m.to_string()), "{methods:?}");
        }
        assert_eq!(claims["acr"], ACR_MFA);

        // The same code never works twice, even in another browser.
        fresh_browser(&mut app);
        let auth = app.authorization(&rp, &[], &[]);
        let page = to_second_factor(&app, &auth).await;
        let replay = submit_code(&app, &page, "totp", &typed).await;
        assert_eq!(replay.status, 401, "{}", replay.body);
        let earlier = submit_code(&app, &page, "totp", &code(&secret, 0)).await;
        assert_eq!(
            earlier.status, 401,
            "an older step than the last used: {}",
            earlier.body
        );
    }
);

db_test!(each_recovery_code_signs_in_once, |mut app: TestApp| async move {
    app.create_client(NewClientExt::skip_consent(app.client("rp")));
    app.create_user(ADA);
    account_sign_in(&app, ADA).await;
    let (_, codes) = enrol_totp_in_portal(&app).await;
    let rp = app.rp("rp", Some(SECRET)).await;
    for attempt in 0..2 {
        fresh_browser(&mut app);
        let auth = app.authorization(&rp, &[], &[]);
        let page = to_second_factor(&app, &auth).await;
        // Typed in upper case with spaces: still the code.
        let typed = format!(" {} ", codes[0].to_uppercase());
        let answer = submit_code(&app, &page, "recovery_code", &typed).await;
        if attempt == 0 {
            let tokens = app.exchange(&rp, auth, &answer).await;
            assert!(amr(&id_token_claims(&tokens)).contains(&"otp".to_string()));
        } else {
            assert_eq!(answer.status, 401, "a used code is refused: {}", answer.body);
        }
    }
    assert_eq!(
        app.provider
            .store
            .count_recovery_codes(&user_id(&app, ADA))
            .unwrap(),
        9
    );
});

db_test!(
    acr_values_steps_up_a_one_factor_session_and_prompt_none_says_interaction_required,
    |app: TestApp| async move {
        app.create_client(NewClientExt::skip_consent(app.client("rp")));
        app.create_user(ADA);
        let rp = app.rp("rp", Some(SECRET)).await;
        // A password session: acr 1fa.
        let auth = app.authorization(&rp, &[], &[]);
        let back = app.browser_flow(&auth, ADA).await;
        let tokens = app.exchange(&rp, auth, &back).await;
        assert_eq!(id_token_claims(&tokens)["acr"], ACR_1FA);

        // prompt=none cannot step up.
        let silent = app.authorization(&rp, &[], &[("acr_values", ACR_MFA), ("prompt", "none")]);
        let answer = app.get(&silent.url).await;
        assert_eq!(
            answer.query("error").as_deref(),
            Some("interaction_required"),
            "{}",
            answer.location()
        );

        // Unknown acr values are voluntary: no step-up.
        let unknown = app.authorization(&rp, &[], &[("acr_values", "urn:example:gold")]);
        let answer = app.get(&unknown.url).await;
        assert!(
            answer.location().starts_with(REDIRECT_URI),
            "{}",
            answer.location()
        );

        // Step-up: no factor yet, so the page offers to set one up.
        let auth = app.authorization(&rp, &[], &[("acr_values", ACR_MFA)]);
        let start = app.get(&auth.url).await;
        assert!(
            start.location().starts_with("/login/mfa?req="),
            "{}",
            start.location()
        );
        let page = app.get(&app.url(start.location())).await;
        assert!(page.body.contains("/login/mfa/totp/start"), "{}", page.body);
        let setup = app
            .post_form(
                &app.url("/login/mfa/totp/start"),
                &[("req", &page.hidden("req")), ("csrf", &page.hidden("csrf"))],
            )
            .await;
        assert_eq!(setup.status, 200, "{}", setup.body);
        let secret = secret_on(&setup);
        let codes_page = app
            .post_form(
                &app.url("/login/mfa/totp"),
                &[
                    ("req", &setup.hidden("req")),
                    ("csrf", &setup.hidden("csrf")),
                    ("enrolment", &setup.hidden("enrolment")),
                    ("code", &code(&secret, 0)),
                ],
            )
            .await;
        assert_eq!(codes_page.status, 200, "{}", codes_page.body);
        assert_eq!(recovery_codes_on(&codes_page).len(), 10);
        let back = app
            .post_form(
                &app.url("/login/mfa/continue"),
                &[
                    ("req", &codes_page.hidden("req")),
                    ("csrf", &codes_page.hidden("csrf")),
                ],
            )
            .await;
        let tokens = app.exchange(&rp, auth, &back).await;
        let claims = id_token_claims(&tokens);
        assert_eq!(claims["acr"], ACR_MFA);
        assert!(amr(&claims).contains(&"mfa".to_string()));

        // Now the session is strong enough: prompt=none succeeds.
        let silent = app.authorization(&rp, &[], &[("acr_values", ACR_MFA), ("prompt", "none")]);
        let answer = app.get(&silent.url).await;
        assert!(answer.query("code").is_some(), "{}", answer.location());
    }
);

db_test!(
    a_client_policy_requires_mfa_and_bad_policies_are_refused,
    |mut app: TestApp| async move {
        app.create_client(NewClientExt::skip_consent(app.client("rp")));
        app.create_user(ADA);
        let ops = operator(&app).await;
        let bad = call(
            &app,
            "patch",
            "/clients/rp/mfa",
            Some(&ops),
            Some(json!({ "factors": ["sms"] })),
        )
        .await;
        assert_problem(&bad, 400, Some("body"));
        let bad = call(
            &app,
            "patch",
            "/clients/rp/mfa",
            Some(&ops),
            Some(json!({ "passkey_only": true, "factors": ["totp"] })),
        )
        .await;
        assert_problem(&bad, 400, Some("body"));
        let unknown = call(
            &app,
            "patch",
            "/clients/nope/mfa",
            Some(&ops),
            Some(json!({ "required": true })),
        )
        .await;
        assert_eq!(unknown.status, 404, "{}", unknown.body);
        let extra = call(
            &app,
            "patch",
            "/clients/rp/mfa",
            Some(&ops),
            Some(json!({ "requird": true })),
        )
        .await;
        assert_eq!(extra.status, 400, "{}", extra.body);
        let unchanged = call(&app, "get", "/clients/rp/mfa", Some(&ops), None).await;
        assert_eq!(
            unchanged.body,
            json!({ "required": false, "factors": [], "passkey_only": false })
        );
        let anonymous = call(&app, "get", "/clients/rp/mfa", None, None).await;
        assert_eq!(anonymous.status, 401);

        let set = call(
            &app,
            "patch",
            "/clients/rp/mfa",
            Some(&ops),
            Some(json!({ "required": true })),
        )
        .await;
        assert_eq!(set.status, 200, "{}", set.body);
        assert_eq!(set.body["required"], true);

        // Ada has no factor: after her password the page asks her to set one up.
        let rp = app.rp("rp", Some(SECRET)).await;
        let auth = app.authorization(&rp, &[], &[]);
        let start = app.get(&auth.url).await;
        let after_password = app.sign_in(&start, ADA, PASSWORD).await;
        assert!(
            after_password.location().starts_with("/login/mfa?req="),
            "{}",
            after_password.location()
        );
        let page = app.get(&app.url(after_password.location())).await;
        assert!(page.body.contains("Set up a second step"), "{}", page.body);
        save_page("mfa-enrol", &page);

        // A client with passkeys only never accepts an authenticator-app code.
        fresh_browser(&mut app);
        let set = call(
            &app,
            "patch",
            "/clients/rp/mfa",
            Some(&ops),
            Some(json!({ "passkey_only": true })),
        )
        .await;
        assert_eq!(set.status, 200, "{}", set.body);
        let auth = app.authorization(&rp, &[], &[]);
        let start = app.get(&auth.url).await;
        let after_password = app.sign_in(&start, ADA, PASSWORD).await;
        let page = app.get(&app.url(after_password.location())).await;
        assert!(!page.body.contains("value=\"totp\""), "{}", page.body);
        // An authenticator-app code posted anyway is refused.
        let req = after_password
            .location()
            .trim_start_matches("/login/mfa?req=")
            .to_string();
        let csrf = app.get(&app.url("/account")).await.hidden("csrf");
        let forced = app
            .post_form(
                &app.url("/login/mfa"),
                &[
                    ("req", &req),
                    ("csrf", &csrf),
                    ("method", "totp"),
                    ("code", "123456"),
                ],
            )
            .await;
        assert!(
            forced.status == 401 || forced.status == 400,
            "{} {}",
            forced.status,
            forced.body
        );
        assert!(!forced.location().starts_with(REDIRECT_URI));
    }
);

db_test!(
    the_last_factor_cannot_be_removed_while_the_organization_requires_mfa,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        let org = organizations::create(
            app.provider.store.as_ref(),
            "cli",
            NewOrganization {
                slug: "acme".into(),
                name: "Acme".into(),
                domains: vec![],
                connection_id: None,
                sso_required: false,
            },
        )
        .unwrap();
        organizations::save_member(app.provider.store.as_ref(), "cli", &org.id, &ada.id, &[]).unwrap();
        let ops = operator(&app).await;
        let set = call(
            &app,
            "patch",
            "/organizations/acme/mfa",
            Some(&ops),
            Some(json!({ "required": true })),
        )
        .await;
        assert_eq!(set.status, 200, "{}", set.body);

        account_sign_in(&app, ADA).await;
        enrol_totp_in_portal(&app).await;
        let security = app.get(&app.url("/account/security")).await;
        assert!(
            security.body.contains("add a passkey before removing it"),
            "{}",
            security.body
        );
        let refused = app
            .post_form(
                &app.url("/account/security/totp/remove"),
                &[("csrf", &security.hidden("csrf"))],
            )
            .await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(
            refused.body.contains("requires two-step verification"),
            "{}",
            refused.body
        );
        assert!(app.provider.store.find_totp(&ada.id).unwrap().is_some());

        // Without the requirement it can go, and that is audited.
        let set = call(
            &app,
            "patch",
            "/organizations/acme/mfa",
            Some(&ops),
            Some(json!({ "required": false })),
        )
        .await;
        assert_eq!(set.status, 200, "{}", set.body);
        let removed = app
            .post_form(
                &app.url("/account/security/totp/remove"),
                &[("csrf", &security.hidden("csrf"))],
            )
            .await;
        assert_eq!(removed.status, 303, "{}", removed.body);
        assert!(app.provider.store.find_totp(&ada.id).unwrap().is_none());
        assert_eq!(app.provider.store.count_recovery_codes(&ada.id).unwrap(), 0);
        let events = audit(&app);
        assert!(
            events
                .iter()
                .any(|e| e.event == kind::FACTOR_REMOVED && e.detail["factor"] == "totp")
        );
    }
);

db_test!(
    second_factor_changes_need_a_recent_sign_in,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        account_sign_in(&app, ADA).await;
        // Age the session past `portal.recent_auth_seconds`.
        for s in app.provider.store.list_sessions(&ada.id, now()).unwrap() {
            let mut old = s.clone();
            app.provider.store.delete_session(&s.id_hash).unwrap();
            old.auth_time -= 3600;
            app.provider.store.create_session(&old).unwrap();
        }
        let security = app.get(&app.url("/account/security")).await;
        assert!(
            security
                .body
                .contains("/account/reauth?return_to=/account/security"),
            "{}",
            security.body
        );
        assert!(
            !security.body.contains("/account/security/totp/start"),
            "no form without a recent sign-in"
        );
        // A form posted anyway (its token from another portal page) is refused the same way.
        let csrf = app.get(&app.url("/account/profile")).await.hidden("csrf");
        let start = app
            .post_form(&app.url("/account/security/totp/start"), &[("csrf", &csrf)])
            .await;
        assert_eq!(start.status, 303);
        assert!(
            start.location().starts_with("/account/reauth"),
            "{}",
            start.location()
        );
        let codes = app
            .post_form(&app.url("/account/security/recovery-codes"), &[("csrf", &csrf)])
            .await;
        assert!(
            codes.location().starts_with("/account/reauth"),
            "{}",
            codes.location()
        );
        // And every form checks its CSRF token first.
        let forged = app
            .post_form(&app.url("/account/security/totp/start"), &[("csrf", "forged")])
            .await;
        assert_eq!(forged.status, 400, "{}", forged.body);
        assert!(forged.body.contains("This form has expired"), "{}", forged.body);
    }
);

#[actix_web::test]
async fn second_factor_guesses_are_limited_per_account_and_audited() {
    let mut app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits.second_factor_per_account = "3/min".into();
    })
    .await;
    app.create_client(NewClientExt::skip_consent(app.client("rp")));
    app.create_user(ADA);
    account_sign_in(&app, ADA).await;
    enrol_totp_in_portal(&app).await;
    fresh_browser(&mut app);
    let rp = app.rp("rp", Some(SECRET)).await;
    let auth = app.authorization(&rp, &[], &[]);
    let page = to_second_factor(&app, &auth).await;
    for _ in 0..3 {
        let wrong = submit_code(&app, &page, "totp", "000000").await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
    }
    let limited = submit_code(&app, &page, "totp", "000000").await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.headers.get("retry-after").is_some());
    let failures = audit(&app)
        .into_iter()
        .filter(|e| e.event == kind::SECOND_FACTOR && e.outcome.as_str() == "failure")
        .count();
    assert_eq!(failures, 3);
}

db_test!(
    the_second_factor_page_refuses_bad_input_without_a_500,
    |app: TestApp| async move {
        app.create_client(NewClientExt::skip_consent(app.client("rp")));
        app.create_user(ADA);
        // No session at all.
        let none = app.get(&app.url("/login/mfa?req=nope")).await;
        assert_eq!(none.status, 400, "{}", none.body);
        let no_context = app.get(&app.url("/login/mfa")).await;
        assert_eq!(no_context.status, 400, "{}", no_context.body);
        let open_redirect = app
            .get(&app.url("/login/mfa?return_to=https://evil.example/"))
            .await;
        assert_eq!(open_redirect.status, 400, "{}", open_redirect.body);

        account_sign_in(&app, ADA).await;
        enrol_totp_in_portal(&app).await;
        let rp = app.rp("rp", Some(SECRET)).await;
        let mut app = app;
        fresh_browser(&mut app);
        let auth = app.authorization(&rp, &[], &[]);
        let page = to_second_factor(&app, &auth).await;
        for (method, typed) in [
            ("totp", ""),
            ("totp", "１２３４５６"),
            ("recovery_code", "x"),
            ("sms", "123456"),
        ] {
            let answer = submit_code(&app, &page, method, typed).await;
            assert!(
                answer.status == 401 || answer.status == 400,
                "{method} {typed:?}: {} {}",
                answer.status,
                answer.body
            );
        }
        let forged = app
            .post_form(
                &app.url("/login/mfa"),
                &[
                    ("req", &page.hidden("req")),
                    ("csrf", "forged"),
                    ("method", "totp"),
                    ("code", "1"),
                ],
            )
            .await;
        assert_eq!(forged.status, 400, "{}", forged.body);
        assert!(forged.body.contains("This form has expired"), "{}", forged.body);
        let garbage_passkey = app
            .post_form(
                &app.url("/login/mfa/passkey"),
                &[
                    ("req", &page.hidden("req")),
                    ("csrf", &page.hidden("csrf")),
                    ("state", "garbage"),
                    ("credential", "{not json"),
                ],
            )
            .await;
        assert!(
            garbage_passkey.status < 500,
            "{} {}",
            garbage_passkey.status,
            garbage_passkey.body
        );
    }
);

/// `NewClient` with consent skipped, so flows go straight back to the client.
trait NewClientExt {
    fn skip_consent(self) -> Self;
}

impl NewClientExt for gatehouse::flows::admin::NewClient {
    fn skip_consent(mut self) -> Self {
        self.skip_consent = true;
        self
    }
}

db_test!(
    an_email_code_is_a_first_factor_only_and_the_export_tells_factors_without_secrets,
    |mut app: TestApp| async move {
        app.create_client(NewClientExt::skip_consent(app.client("rp")));
        let ada = app.create_user(ADA);
        account_sign_in(&app, ADA).await;
        let (secret, _) = enrol_totp_in_portal(&app).await;
        let export = app.get(&app.url("/account/export")).await;
        assert_eq!(export.status, 200, "{}", export.body);
        let document: serde_json::Value = serde_json::from_str(&export.body).unwrap();
        assert!(document["authenticator_app"]["created_at"].is_i64(), "{document}");
        assert_eq!(document["recovery_codes_left"], 10);
        let factor = app.provider.store.find_totp(&ada.id).unwrap().unwrap();
        assert!(!export.body.contains(&factor.sealed_secret));
        assert!(!export.body.contains(&totp::base32(&secret)));

        // Signing in by email code (the way back in without a password) still needs the second step.
        fresh_browser(&mut app);
        let rp = app.rp("rp", Some(SECRET)).await;
        let auth = app.authorization(&rp, &[], &[]);
        let start = app.get(&auth.url).await;
        let login = app.get(&app.url(start.location())).await;
        let sent = app
            .post_form(
                &app.url("/login/code/request"),
                &[
                    ("req", &login.hidden("req")),
                    ("csrf", &login.hidden("csrf")),
                    ("email", ADA),
                ],
            )
            .await;
        let page = app.get(&app.url(sent.location())).await;
        let mail = app.last_mail_to(ADA).await;
        let after_code = app
            .post_form(
                &app.url("/login/code"),
                &[
                    ("c", &page.hidden("c")),
                    ("csrf", &page.hidden("csrf")),
                    ("code", &mail.code()),
                ],
            )
            .await;
        assert!(
            after_code.location().starts_with("/login/mfa?req="),
            "{}",
            after_code.location()
        );
        let mfa = app.get(&app.url(after_code.location())).await;
        let back = submit_code(&app, &mfa, "totp", &code(&secret, 1)).await;
        let claims = id_token_claims(&app.exchange(&rp, auth, &back).await);
        assert_eq!(amr(&claims), vec!["email", "otp", "mfa"]);
    }
);

db_test!(a_deleted_clients_policy_goes_with_it, |app: TestApp| async move {
    app.create_client(app.client("rp"));
    let ops = operator(&app).await;
    let set = call(
        &app,
        "patch",
        "/clients/rp/mfa",
        Some(&ops),
        Some(json!({ "required": true })),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let deleted = call(&app, "delete", "/clients/rp", Some(&ops), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    app.create_client(app.client("rp"));
    let fresh = call(&app, "get", "/clients/rp/mfa", Some(&ops), None).await;
    assert_eq!(fresh.body["required"], false, "{}", fresh.body);
});

db_test!(
    an_operator_resets_the_factors_of_someone_who_lost_them,
    |mut app: TestApp| async move {
        app.create_client(NewClientExt::skip_consent(app.client("rp")));
        let ada = app.create_user(ADA);
        account_sign_in(&app, ADA).await;
        enrol_totp_in_portal(&app).await;
        let ops = operator(&app).await;
        let anonymous = call(&app, "delete", &format!("/users/{}/factors", ada.id), None, None).await;
        assert_eq!(anonymous.status, 401, "{}", anonymous.body);
        let unknown = call(&app, "delete", "/users/nobody/factors", Some(&ops), None).await;
        assert_eq!(unknown.status, 404, "{}", unknown.body);
        let reset = call(
            &app,
            "delete",
            &format!("/users/{}/factors", ada.id),
            Some(&ops),
            None,
        )
        .await;
        assert_eq!(reset.status, 204, "{}", reset.body);
        assert!(app.provider.store.find_totp(&ada.id).unwrap().is_none());
        assert_eq!(app.provider.store.count_recovery_codes(&ada.id).unwrap(), 0);
        assert!(
            app.provider
                .store
                .list_sessions(&ada.id, now())
                .unwrap()
                .is_empty()
        );
        assert!(audit(&app).iter().any(|e| e.event == kind::FACTOR_REMOVED
            && e.detail["factor"] == "all"
            && e.actor.as_deref() == Some("client:ops")));
        // Her password alone signs in again.
        fresh_browser(&mut app);
        let rp = app.rp("rp", Some(SECRET)).await;
        let auth = app.authorization(&rp, &[], &[]);
        let back = app.browser_flow(&auth, ADA).await;
        assert!(back.location().starts_with(REDIRECT_URI), "{}", back.location());
    }
);

db_test!(
    someone_else_can_sign_in_from_the_second_factor_page,
    |mut app: TestApp| async move {
        app.create_client(NewClientExt::skip_consent(app.client("rp")));
        app.create_user(ADA);
        app.create_user("bob@example.com");
        account_sign_in(&app, ADA).await;
        enrol_totp_in_portal(&app).await;
        fresh_browser(&mut app);
        let rp = app.rp("rp", Some(SECRET)).await;
        let auth = app.authorization(&rp, &[], &[]);
        let page = to_second_factor(&app, &auth).await;
        let req = page.hidden("req");
        assert!(
            page.body.contains(&format!("href=\"/login?req={req}\"")),
            "{}",
            page.body
        );
        let login = app.get(&app.url(&format!("/login?req={req}"))).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let back = app
            .post_form(
                &app.url("/login"),
                &[
                    ("req", &req),
                    ("csrf", &login.hidden("csrf")),
                    ("email", "bob@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        let claims = id_token_claims(&app.exchange(&rp, auth, &back).await);
        assert_eq!(claims["email"], serde_json::Value::Null, "no email scope asked");
        let bob = app
            .provider
            .store
            .find_user_by_email("bob@example.com")
            .unwrap()
            .unwrap();
        assert_eq!(claims["sub"], bob.id);
    }
);
