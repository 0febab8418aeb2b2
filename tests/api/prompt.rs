//! Authentication request parameters that steer the sign-in (OIDC Core §3.1.2.1): `prompt`, `max_age`,
//! `acr_values` and `id_token_hint` (DESIGN §4.6: hints with `alg: none` or a bad signature are refused).

use openidconnect::core::{CoreIdTokenClaims, CoreTokenResponse};
use openidconnect::{AuthorizationCode, TokenResponse};

use crate::db_test;
use crate::helpers::*;

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";

async fn setup(app: &TestApp) -> Rp {
    app.create_client(app.client("web"));
    app.create_user(ADA);
    app.rp("web", Some(SECRET)).await
}

/// A 303 back to the client with `error`, the request's `state` and `iss` (RFC 9207), and no code.
fn assert_redirect_error(app: &TestApp, page: &Page, auth: &Authorization, error: &str) {
    assert_eq!(
        page.status, 303,
        "expected a redirect with {error}, got {}: {}",
        page.status, page.body
    );
    assert!(
        page.location().starts_with(&format!("{REDIRECT_URI}?")),
        "expected {error}, went to {}",
        page.location()
    );
    assert_eq!(page.query("error").as_deref(), Some(error), "{}", page.location());
    assert_eq!(
        page.query("state").as_deref(),
        Some(auth.state.secret().as_str()),
        "{}",
        page.location()
    );
    assert_eq!(
        page.query("iss").as_deref(),
        Some(app.provider.issuer()),
        "{}",
        page.location()
    );
    assert!(page.query("code").is_none(), "{}", page.location());
}

/// A 303 back to the client with a code, `state` and `iss`; returns the code.
fn assert_code(app: &TestApp, page: &Page, auth: &Authorization) -> String {
    assert_eq!(
        page.status, 303,
        "expected a code, got {}: {}",
        page.status, page.body
    );
    assert!(
        page.location().starts_with(&format!("{REDIRECT_URI}?")),
        "expected a code, went to {}",
        page.location()
    );
    assert_eq!(
        page.query("state").as_deref(),
        Some(auth.state.secret().as_str()),
        "{}",
        page.location()
    );
    assert_eq!(
        page.query("iss").as_deref(),
        Some(app.provider.issuer()),
        "{}",
        page.location()
    );
    page.query("code")
        .unwrap_or_else(|| panic!("no code in {}", page.location()))
}

/// Redeems a code and verifies the ID token (signature, iss, aud, exp, nonce) like a real RP.
async fn redeem(
    app: &TestApp,
    rp: &Rp,
    auth: Authorization,
    code: String,
) -> (CoreTokenResponse, CoreIdTokenClaims) {
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&app.http)
        .await
        .expect("the code is redeemable");
    let claims = tokens
        .id_token()
        .expect("an ID token")
        .claims(&rp.id_token_verifier(), &auth.nonce)
        .expect("the ID token verifies")
        .clone();
    (tokens, claims)
}

fn auth_time(claims: &CoreIdTokenClaims) -> i64 {
    claims
        .auth_time()
        .expect("the ID token carries auth_time")
        .timestamp()
}

/// A completed sign-in of `email` in `browser` (its own cookie jar); returns the ID token as issued.
async fn sign_in_elsewhere(app: &TestApp, rp: &Rp, browser: &reqwest::Client, email: &str) -> String {
    let auth = app.authorization(rp, &[], &[]);
    let start = Page::from(browser.get(&auth.url).send().await.unwrap()).await;
    let login = Page::from(browser.get(app.url(start.location())).send().await.unwrap()).await;
    let form = [
        ("req", login.hidden("req")),
        ("csrf", login.hidden("csrf")),
        ("email", email.into()),
        ("password", PASSWORD.into()),
    ];
    let mut page = Page::from(browser.post(app.url("/login")).form(&form).send().await.unwrap()).await;
    if page.location().starts_with("/consent") {
        let consent = Page::from(browser.get(app.url(page.location())).send().await.unwrap()).await;
        let form = [
            ("req", consent.hidden("req")),
            ("csrf", consent.hidden("csrf")),
            ("decision", "allow".into()),
        ];
        page = Page::from(
            browser
                .post(app.url("/consent"))
                .form(&form)
                .send()
                .await
                .unwrap(),
        )
        .await;
    }
    let code = assert_code(app, &page, &auth);
    let (tokens, _) = redeem(app, rp, auth, code).await;
    tokens.id_token().unwrap().to_string()
}

// --- prompt=none ---------------------------------------------------------------------------------

db_test!(
    prompt_none_without_a_session_answers_login_required,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let auth = app.authorization(&rp, &[], &[("prompt", "none")]);

        let page = app.get(&auth.url).await;

        assert_redirect_error(&app, &page, &auth, "login_required");
    }
);

db_test!(
    prompt_none_with_a_session_but_no_consent_answers_consent_required,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let first = app.authorization(&rp, &[], &[]);
        let start = app.get(&first.url).await;
        let to_consent = app.sign_in(&start, ADA, PASSWORD).await;
        assert!(
            to_consent.location().starts_with("/consent?req="),
            "{}",
            to_consent.location()
        );
        let auth = app.authorization(&rp, &[], &[("prompt", "none")]);

        let page = app.get(&auth.url).await;

        assert_redirect_error(&app, &page, &auth, "consent_required");
    }
);

db_test!(
    prompt_none_with_a_session_and_consent_returns_a_code,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        app.code_flow(&rp, ADA, &["email"]).await;
        let auth = app.authorization(&rp, &["email"], &[("prompt", "none")]);

        let page = app.get(&auth.url).await;

        let code = assert_code(&app, &page, &auth);
        let user = app.provider.store.find_user_by_email(ADA).unwrap().unwrap();
        let (_, claims) = redeem(&app, &rp, auth, code).await;
        assert_eq!(claims.subject().as_str(), user.id);
    }
);

// --- prompt=login, max_age -------------------------------------------------------------------------

db_test!(
    prompt_login_with_a_session_asks_to_sign_in_again_and_refreshes_auth_time,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let (tokens, nonce) = app.code_flow(&rp, ADA, &[]).await;
        let first_auth_time = auth_time(
            tokens
                .id_token()
                .unwrap()
                .claims(&rp.id_token_verifier(), &nonce)
                .unwrap(),
        );
        let auth = app.authorization(&rp, &[], &[("prompt", "login")]);

        let start = app.get(&auth.url).await;

        assert_eq!(start.status, 303, "{}", start.body);
        assert!(
            start.location().starts_with("/login?req="),
            "prompt=login must show the login page, went to {}",
            start.location()
        );
        let back = app.sign_in(&start, ADA, PASSWORD).await;
        let code = assert_code(&app, &back, &auth);
        let (_, claims) = redeem(&app, &rp, auth, code).await;
        assert!(auth_time(&claims) >= first_auth_time);
    }
);

db_test!(max_age_zero_forces_a_new_sign_in, |app: TestApp| async move {
    let rp = setup(&app).await;
    app.code_flow(&rp, ADA, &[]).await;
    let auth = app.authorization(&rp, &[], &[("max_age", "0")]);

    let start = app.get(&auth.url).await;

    assert_eq!(start.status, 303, "{}", start.body);
    assert!(
        start.location().starts_with("/login?req="),
        "max_age=0 is prompt=login, went to {}",
        start.location()
    );
    let back = app.sign_in(&start, ADA, PASSWORD).await;
    let code = assert_code(&app, &back, &auth);
    let (_, claims) = redeem(&app, &rp, auth, code).await;
    auth_time(&claims);
});

db_test!(
    a_large_max_age_keeps_the_session_and_the_id_token_carries_auth_time,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let (tokens, nonce) = app.code_flow(&rp, ADA, &[]).await;
        let first_auth_time = auth_time(
            tokens
                .id_token()
                .unwrap()
                .claims(&rp.id_token_verifier(), &nonce)
                .unwrap(),
        );
        let auth = app.authorization(&rp, &[], &[("max_age", "86400")]);

        let page = app.get(&auth.url).await;

        let code = assert_code(&app, &page, &auth);
        let (_, claims) = redeem(&app, &rp, auth, code).await;
        assert_eq!(
            auth_time(&claims),
            first_auth_time,
            "the same sign-in, so the same auth_time"
        );
    }
);

db_test!(
    an_expired_max_age_asks_to_sign_in_again,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        app.code_flow(&rp, ADA, &[]).await;
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let auth = app.authorization(&rp, &[], &[("max_age", "1")]);

        let start = app.get(&auth.url).await;

        assert!(
            start.location().starts_with("/login?req="),
            "a sign-in older than max_age, went to {}",
            start.location()
        );
    }
);

// --- prompt=consent, acr_values --------------------------------------------------------------------

db_test!(
    prompt_consent_shows_the_consent_page_even_after_consent_was_given,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        app.code_flow(&rp, ADA, &["email"]).await;
        let auth = app.authorization(&rp, &["email"], &[("prompt", "consent")]);

        let page = app.get(&auth.url).await;

        assert_eq!(page.status, 303, "{}", page.body);
        assert!(
            page.location().starts_with("/consent?req="),
            "prompt=consent must ask, went to {}",
            page.location()
        );
        let back = app.consent(&page, "allow").await;
        assert_code(&app, &back, &auth);
    }
);

db_test!(
    requested_acr_values_put_an_acr_claim_from_discovery_in_the_id_token,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let discovery: serde_json::Value = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let acr = discovery["acr_values_supported"][0]
            .as_str()
            .expect("acr_values_supported is advertised")
            .to_string();
        let auth = app.authorization(&rp, &[], &[("acr_values", &acr)]);

        let back = app.browser_flow(&auth, ADA).await;

        let code = assert_code(&app, &back, &auth);
        let (_, claims) = redeem(&app, &rp, auth, code).await;
        assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some(acr.as_str()));
    }
);

// --- id_token_hint (DESIGN §4.6) ---------------------------------------------------------------------

db_test!(
    a_valid_id_token_hint_of_the_signed_in_user_with_prompt_none_returns_a_code,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let (tokens, _) = app.code_flow(&rp, ADA, &[]).await;
        let hint = tokens.id_token().unwrap().to_string();
        let auth = app.authorization(&rp, &[], &[("prompt", "none"), ("id_token_hint", &hint)]);

        let page = app.get(&auth.url).await;

        assert_code(&app, &page, &auth);
    }
);

db_test!(
    an_id_token_hint_with_a_tampered_signature_is_refused_with_invalid_request,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let (tokens, _) = app.code_flow(&rp, ADA, &[]).await;
        let hint = tokens.id_token().unwrap().to_string();
        // Flip one character in the middle of the signature (not the last one, whose low bits are padding).
        let at = hint.rfind('.').unwrap() + 20;
        let flipped = if &hint[at..at + 1] == "A" { "B" } else { "A" };
        let tampered = format!("{}{flipped}{}", &hint[..at], &hint[at + 1..]);
        assert_ne!(tampered, hint);
        let auth = app.authorization(&rp, &[], &[("prompt", "none"), ("id_token_hint", &tampered)]);

        let page = app.get(&auth.url).await;

        assert_redirect_error(&app, &page, &auth, "invalid_request");
    }
);

db_test!(
    an_unsigned_alg_none_id_token_hint_is_refused,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let (tokens, _) = app.code_flow(&rp, ADA, &[]).await;
        let real = tokens.id_token().unwrap().to_string();
        let jwks: serde_json::Value = app
            .http
            .get(app.url("/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kid = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["alg"] == "RS256")
            .expect("an RS256 key")["kid"]
            .as_str()
            .unwrap()
            .to_string();
        // The real claims (right iss, aud and sub) under a hand-made `alg: none` header naming a real key.
        let header = serde_json::json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string();
        let payload = real.split('.').nth(1).unwrap();
        let unsigned = format!("{}.{payload}.", gatehouse::crypto::b64url(header.as_bytes()));
        let auth = app.authorization(&rp, &[], &[("prompt", "none"), ("id_token_hint", &unsigned)]);

        let page = app.get(&auth.url).await;

        assert_redirect_error(&app, &page, &auth, "invalid_request");
    }
);

db_test!(
    an_id_token_hint_for_another_user_with_prompt_none_answers_login_required,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        app.create_user(BOB);
        let bobs_token = sign_in_elsewhere(&app, &rp, &browser(), BOB).await;
        app.code_flow(&rp, ADA, &[]).await;
        let auth = app.authorization(&rp, &[], &[("prompt", "none"), ("id_token_hint", &bobs_token)]);

        let page = app.get(&auth.url).await;

        assert_redirect_error(&app, &page, &auth, "login_required");
    }
);

db_test!(
    an_id_token_hint_for_another_user_without_prompt_none_asks_to_sign_in,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        app.create_user(BOB);
        let bobs_token = sign_in_elsewhere(&app, &rp, &browser(), BOB).await;
        app.code_flow(&rp, ADA, &[]).await;
        let auth = app.authorization(&rp, &[], &[("id_token_hint", &bobs_token)]);

        let page = app.get(&auth.url).await;

        assert_eq!(page.status, 303, "{}", page.body);
        assert!(
            page.location().starts_with("/login?req="),
            "Ada's session is not the one the client expects: {}",
            page.location()
        );
    }
);
