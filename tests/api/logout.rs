//! OpenID Connect RP-Initiated Logout 1.0 at /end_session: redirects only to registered URIs, a
//! confirmation with CSRF when the request is not proven by an ID token, and a server-side logout.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::TokenResponse;

use crate::db_test;
use crate::helpers::*;

fn end_session_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    url::Url::parse_with_params(&app.url("/end_session"), params)
        .unwrap()
        .to_string()
}

/// Signs `email` in to client "web" with a code flow and returns the ID token.
async fn signed_in(app: &TestApp, rp: &Rp, email: &str) -> String {
    let (tokens, _) = app.code_flow(rp, email, &[]).await;
    tokens.id_token().expect("an ID token").to_string()
}

/// An authorization with prompt=none from `browser`, and the redirect back to the client.
async fn prompt_none(app: &TestApp, rp: &Rp, browser: &reqwest::Client, cookie: Option<&str>) -> Page {
    let auth = app.authorization(rp, &[], &[("prompt", "none")]);
    let mut request = browser.get(&auth.url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let page = Page::from(request.send().await.unwrap()).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        page.location().starts_with(REDIRECT_URI),
        "prompt=none answers the client: {}",
        page.location()
    );
    page
}

/// Whether the browser still has a session: prompt=none gets a code, or `login_required`.
async fn has_session(app: &TestApp, rp: &Rp) -> bool {
    let page = prompt_none(app, rp, &app.browser, None).await;
    match (page.query("code"), page.query("error")) {
        (Some(_), None) => true,
        (None, Some(e)) if e == "login_required" => false,
        other => panic!(
            "unexpected answer to prompt=none: {other:?} in {}",
            page.location()
        ),
    }
}

/// The `Set-Cookie` for the session cookie, if the response has one.
fn session_set_cookie(page: &Page) -> Option<String> {
    page.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gh_session="))
        .map(str::to_string)
}

async fn setup(app: &TestApp) -> Rp {
    app.create_client(app.client("web"));
    app.create_user("ada@example.com");
    app.rp("web", Some(SECRET)).await
}

db_test!(
    a_valid_id_token_hint_signs_out_at_once_and_returns_to_the_registered_uri_with_state,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let id_token = signed_in(&app, &rp, "ada@example.com").await;
        assert!(has_session(&app, &rp).await, "precondition: signed in");

        let page = app
            .get(&end_session_url(
                &app,
                &[
                    ("id_token_hint", &id_token),
                    ("post_logout_redirect_uri", POST_LOGOUT_URI),
                    ("state", "s"),
                ],
            ))
            .await;

        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location(), format!("{POST_LOGOUT_URI}?state=s"));
        let cleared = session_set_cookie(&page).expect("the session cookie is cleared");
        assert!(
            cleared.starts_with("gh_session=;") && cleared.contains("Max-Age=0"),
            "{cleared}"
        );
        assert!(
            !has_session(&app, &rp).await,
            "prompt=none must answer login_required after logout"
        );
    }
);

db_test!(
    without_an_id_token_hint_the_user_confirms_and_is_signed_out,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        signed_in(&app, &rp, "ada@example.com").await;

        let confirm = app.get(&app.url("/end_session")).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        assert!(
            has_session(&app, &rp).await,
            "showing the confirmation page must not sign out"
        );
        let csrf = confirm.hidden("csrf");
        assert!(!csrf.is_empty());
        let done = app
            .post_form(
                &app.url("/end_session"),
                &[
                    ("csrf", &csrf),
                    ("client_id", ""),
                    ("post_logout_redirect_uri", ""),
                    ("state", ""),
                    ("decision", "logout"),
                ],
            )
            .await;

        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.location.is_none());
        assert!(
            session_set_cookie(&done).is_some_and(|c| c.starts_with("gh_session=;")),
            "{:?}",
            done.headers
        );
        assert!(!has_session(&app, &rp).await);
    }
);

db_test!(
    a_confirmed_logout_with_a_registered_uri_returns_there_with_state,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        signed_in(&app, &rp, "ada@example.com").await;

        let confirm = app
            .get(&end_session_url(
                &app,
                &[
                    ("client_id", "web"),
                    ("post_logout_redirect_uri", POST_LOGOUT_URI),
                    ("state", "xyz"),
                ],
            ))
            .await;
        assert_eq!(
            confirm.status, 200,
            "without a hint the user must confirm: {}",
            confirm.body
        );
        let done = app
            .post_form(
                &app.url("/end_session"),
                &[
                    ("csrf", &confirm.hidden("csrf")),
                    ("client_id", &confirm.hidden("client_id")),
                    (
                        "post_logout_redirect_uri",
                        &confirm.hidden("post_logout_redirect_uri"),
                    ),
                    ("state", &confirm.hidden("state")),
                    ("decision", "logout"),
                ],
            )
            .await;

        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), format!("{POST_LOGOUT_URI}?state=xyz"));
        assert!(!has_session(&app, &rp).await);
    }
);

db_test!(
    cancelling_the_confirmation_keeps_the_session,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        signed_in(&app, &rp, "ada@example.com").await;
        let confirm = app.get(&app.url("/end_session")).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);

        let kept = app
            .post_form(
                &app.url("/end_session"),
                &[("csrf", &confirm.hidden("csrf")), ("decision", "cancel")],
            )
            .await;

        assert_eq!(kept.status, 200, "{}", kept.body);
        assert!(session_set_cookie(&kept).is_none(), "{:?}", kept.headers);
        assert!(has_session(&app, &rp).await, "prompt=none must still get a code");
    }
);

db_test!(
    a_confirmation_without_or_with_a_wrong_csrf_token_is_refused,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        signed_in(&app, &rp, "ada@example.com").await;
        let confirm = app.get(&app.url("/end_session")).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        let mut forged = confirm.hidden("csrf");
        forged.replace_range(..1, if forged.starts_with('A') { "B" } else { "A" });

        let missing = app
            .post_form(&app.url("/end_session"), &[("decision", "logout")])
            .await;
        let wrong = app
            .post_form(
                &app.url("/end_session"),
                &[("csrf", &forged), ("decision", "logout")],
            )
            .await;
        let garbage = app
            .post_form(
                &app.url("/end_session"),
                &[("csrf", "not-a-token"), ("decision", "logout")],
            )
            .await;

        for page in [&missing, &wrong, &garbage] {
            assert_eq!(page.status, 400, "{}", page.body);
            assert!(page.location.is_none());
            assert!(session_set_cookie(page).is_none());
        }
        assert!(
            has_session(&app, &rp).await,
            "a forged logout must not end the session"
        );
    }
);

db_test!(
    a_csrf_token_from_another_browser_is_refused,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        signed_in(&app, &rp, "ada@example.com").await;
        // The attacker's own browser gets a valid CSRF token for itself (here from a sign-in page).
        let attacker = browser();
        let auth = app.authorization(&rp, &[], &[]);
        let start = Page::from(attacker.get(&auth.url).send().await.unwrap()).await;
        let attacker_page = Page::from(attacker.get(app.url(start.location())).send().await.unwrap()).await;
        assert_eq!(attacker_page.status, 200, "{}", attacker_page.body);

        let forged = app
            .post_form(
                &app.url("/end_session"),
                &[("csrf", &attacker_page.hidden("csrf")), ("decision", "logout")],
            )
            .await;

        assert_eq!(forged.status, 400, "{}", forged.body);
        assert!(has_session(&app, &rp).await);
    }
);

db_test!(
    an_unregistered_post_logout_redirect_uri_gets_the_error_page_and_no_redirect,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let id_token = signed_in(&app, &rp, "ada@example.com").await;

        for uri in [
            "https://evil.example.com/",
            "http://127.0.0.1:9999/signed-out/",
            "http://127.0.0.1:9999/signed-out?x=1",
            REDIRECT_URI,
        ] {
            let page = app
                .get(&end_session_url(
                    &app,
                    &[
                        ("id_token_hint", &id_token),
                        ("post_logout_redirect_uri", uri),
                        ("state", "s"),
                    ],
                ))
                .await;

            assert_eq!(page.status, 400, "{uri}: {}", page.body);
            assert!(page.location.is_none(), "{uri}: {}", page.location());
            assert!(
                page.headers
                    .get("content-type")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
        }
        let without_client = app
            .get(&end_session_url(
                &app,
                &[("post_logout_redirect_uri", POST_LOGOUT_URI)],
            ))
            .await;
        assert_eq!(
            without_client.status, 400,
            "a URI cannot be checked without a client: {}",
            without_client.body
        );
        assert!(without_client.location.is_none());
        assert!(
            has_session(&app, &rp).await,
            "a refused logout request changes nothing"
        );
    }
);

db_test!(
    a_tampered_id_token_hint_gets_the_error_page,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let id_token = signed_in(&app, &rp, "ada@example.com").await;
        let parts: Vec<&str> = id_token.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = "someone-else".into();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            gatehouse::crypto::b64url(claims.to_string().as_bytes()),
            parts[2]
        );
        let unsigned = format!(
            "{}.{}.",
            gatehouse::crypto::b64url(br#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );

        for hint in [tampered.as_str(), unsigned.as_str(), "not-a-jwt"] {
            let page = app
                .get(&end_session_url(
                    &app,
                    &[
                        ("id_token_hint", hint),
                        ("post_logout_redirect_uri", POST_LOGOUT_URI),
                        ("state", "s"),
                    ],
                ))
                .await;

            assert_eq!(page.status, 400, "{}", page.body);
            assert!(page.location.is_none(), "{}", page.location());
        }
        assert!(has_session(&app, &rp).await);
    }
);

db_test!(
    a_client_id_that_differs_from_the_hints_audience_is_refused,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        app.create_client(app.client("other"));
        let id_token = signed_in(&app, &rp, "ada@example.com").await;

        let page = app
            .get(&end_session_url(
                &app,
                &[
                    ("id_token_hint", &id_token),
                    ("client_id", "other"),
                    ("post_logout_redirect_uri", POST_LOGOUT_URI),
                ],
            ))
            .await;

        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.location.is_none(), "{}", page.location());
        assert!(has_session(&app, &rp).await);
    }
);

db_test!(
    without_a_session_a_registered_post_logout_uri_is_honoured,
    |app: TestApp| async move {
        app.create_client(app.client("web"));

        let page = app
            .get(&end_session_url(
                &app,
                &[
                    ("client_id", "web"),
                    ("post_logout_redirect_uri", POST_LOGOUT_URI),
                    ("state", "abc"),
                ],
            ))
            .await;

        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location(), format!("{POST_LOGOUT_URI}?state=abc"));
    }
);

db_test!(
    logout_ends_the_session_on_the_server_so_a_copied_cookie_is_worthless,
    |app: TestApp| async move {
        let rp = setup(&app).await;
        let auth = app.authorization(&rp, &[], &[]);
        let start = app.get(&auth.url).await;
        let login = app.sign_in(&start, "ada@example.com", PASSWORD).await;
        assert_eq!(login.status, 303, "{}", login.body);
        let set_cookie = session_set_cookie(&login).expect("sign-in sets the session cookie");
        let copied = set_cookie.split(';').next().unwrap().to_string();
        let back = app.consent(&login, "allow").await;
        assert!(back.query("code").is_some(), "{}", back.location());
        // Control: the copied cookie alone is a session in another client.
        let before = prompt_none(&app, &rp, &app.http, Some(&copied)).await;
        assert!(
            before.query("code").is_some(),
            "the copied cookie works before logout: {}",
            before.location()
        );
        let confirm = app.get(&app.url("/end_session")).await;
        let done = app
            .post_form(
                &app.url("/end_session"),
                &[("csrf", &confirm.hidden("csrf")), ("decision", "logout")],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);

        let replayed = prompt_none(&app, &rp, &browser(), Some(&copied)).await;

        assert_eq!(
            replayed.query("error").as_deref(),
            Some("login_required"),
            "{}",
            replayed.location()
        );
        assert!(replayed.query("code").is_none());
    }
);
