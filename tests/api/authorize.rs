//! The authorization endpoint and the browser pages: redirect URI matching (DESIGN §4.1), which errors
//! redirect and which stay on the gateway's own page (§4.2), form_post, strict parameter parsing, and
//! the login and consent pages (§4.9, §4.10, §4.13).

use gatehouse::flows::admin::NewClient;
use openidconnect::AuthorizationCode;
use openidconnect::core::CoreTokenResponse;

use crate::db_test;
use crate::helpers::*;

const STATE: &str = "st4te-xyz";
/// RFC 7636 Appendix B: the challenge of `dBjftJeZ4CVP-mJ92K1ar2w7a7zclXi3PIkvF3I2l0Q`.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const APP_URI: &str = "https://app.example.com/cb";
const EMAIL: &str = "ada@example.com";

/// An /authorize URL carrying a valid request for client `web`; `overrides` replace or add parameters
/// and an empty value removes one.
fn authorize_url(app: &TestApp, overrides: &[(&str, &str)]) -> String {
    format!("{}?{}", app.url("/authorize"), authorize_query(overrides))
}

fn authorize_query(overrides: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("client_id", "web"),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", STATE),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in overrides {
        pairs.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The client `web` with the loopback URI of the harness and one https URI.
fn register_web(app: &TestApp) {
    app.create_client(NewClient {
        redirect_uris: vec![REDIRECT_URI.into(), APP_URI.into()],
        ..app.client("web")
    });
}

/// The gateway's own error page: 400, HTML, no redirect, the page security headers.
fn assert_error_page(page: &Page, what: &str) {
    assert_eq!(
        page.status, 400,
        "{what}: expected the error page, got {} {:?}: {}",
        page.status, page.location, page.body
    );
    assert!(
        page.location.is_none(),
        "{what}: must not redirect, got Location {:?}",
        page.location
    );
    assert!(
        header(page, "content-type").starts_with("text/html"),
        "{what}: content-type {}",
        header(page, "content-type")
    );
    let csp = header(page, "content-security-policy");
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{what}: CSP {csp:?}"
    );
    assert_eq!(header(page, "x-frame-options"), "DENY", "{what}");
    assert!(
        page.body.contains("Reference:"),
        "{what}: not the gateway's error page: {}",
        page.body
    );
}

/// A 303 back to the harness redirect URI with `error`, the original `state` and `iss` (RFC 9207).
fn assert_redirect_error(app: &TestApp, page: &Page, error: &str, state: &str) {
    assert_eq!(
        page.status, 303,
        "expected a redirect with {error}, got {}: {}",
        page.status, page.body
    );
    assert!(
        page.location().starts_with(&format!("{REDIRECT_URI}?")),
        "redirected elsewhere: {}",
        page.location()
    );
    assert_eq!(page.query("error").as_deref(), Some(error), "{}", page.location());
    assert_eq!(page.query("state").as_deref(), Some(state), "{}", page.location());
    assert_eq!(
        page.query("iss").as_deref(),
        Some(app.provider.issuer()),
        "{}",
        page.location()
    );
    assert!(
        page.query("code").is_none(),
        "an error carries no code: {}",
        page.location()
    );
}

fn header(page: &Page, name: &str) -> String {
    page.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The `Set-Cookie` header that sets `name`, if any.
fn set_cookie(page: &Page, name: &str) -> Option<String> {
    page.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap_or_default();
    pair.split_once('=')
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// The text of the login page's alert.
fn alert(page: &Page) -> String {
    let start = page
        .body
        .find("role=\"alert\">")
        .unwrap_or_else(|| panic!("no alert in {}", page.body))
        + "role=\"alert\">".len();
    let end = page.body[start..].find("</div>").unwrap() + start;
    page.body[start..end].trim().to_string()
}

/// Rows in the authorization code table, read straight from the database.
fn code_rows(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use gatehouse::store::sql::schema::authorization_codes;
    let pool = gatehouse::store::sql::connect(&app.db.url, 1).expect("the test database opens");
    let mut conn = pool.get().expect("a connection");
    authorization_codes::table
        .count()
        .get_result(&mut **conn)
        .expect("codes counted")
}

async fn get_in(browser: &reqwest::Client, url: &str) -> Page {
    Page::from(browser.get(url).send().await.expect("request sent")).await
}

async fn post_in(browser: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Page {
    Page::from(browser.post(url).form(form).send().await.expect("request sent")).await
}

async fn exchange(app: &TestApp, rp: &Rp, auth: Authorization, code: String) -> CoreTokenResponse {
    rp.exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&app.http)
        .await
        .expect("the code is redeemable")
}

// --- Redirect URIs (DESIGN §4.1) -------------------------------------------------------------------

db_test!(
    an_altered_redirect_uri_gets_the_error_page_and_no_code_even_for_a_signed_in_user,
    |app: TestApp| async move {
        register_web(&app);
        app.create_user(EMAIL);
        let rp = app.rp("web", Some(SECRET)).await;
        app.code_flow(&rp, EMAIL, &[]).await;
        // Control: the same browser with an exact URI gets a code straight away, so a refusal below is the URI.
        let codes_at_start = code_rows(&app);
        let control = app.get(&authorize_url(&app, &[("redirect_uri", APP_URI)])).await;
        assert_eq!(control.status, 303, "{}", control.body);
        assert!(
            control.location().starts_with(&format!("{APP_URI}?code=")),
            "{}",
            control.location()
        );
        let codes_before = code_rows(&app);
        assert_eq!(
            codes_before,
            codes_at_start + 1,
            "the control request stores one code"
        );

        for altered in [
            "http://127.0.0.1:9999/callback/",
            "http://127.0.0.1:9999/Callback",
            "http://127.0.0.1:9999/callback/extra",
            "http://127.0.0.1:9999/callback?next=https://evil.example",
            "http://127.0.0.1:9999/callback/%2e%2e/callback",
            "http://evil.example@127.0.0.1:9999/callback",
            "http://127.0.0.1:9999/callback#frag",
            "https://app.example.com/cb/",
            "https://app.example.com/CB",
            "HTTPS://app.example.com/cb",
            "https://APP.example.com/cb",
            "https://app.example.com/cb/extra",
            "https://app.example.com/cb?next=1",
            "https://app.example.com/cb/..;/",
            "https://app.example.com/cb/..;/evil",
            "https://app.example.com/x/../cb",
            "https://app.example.com/x/%2e%2e/cb",
            "https://app.example.com/x/%2E%2E/cb",
            "https://app.example.com/cb/%2e%2e%2fevil",
            "https://evil.example@app.example.com/cb",
            "https://app.example.com@evil.example/cb",
            "https://app.example.com%2f@evil.example/cb",
            "https://app.example.com:8443/cb",
            "https://app.example.com:443/cb",
            "https://evil.example/cb",
            "javascript:alert(1)//https://app.example.com/cb",
        ] {
            let page = app.get(&authorize_url(&app, &[("redirect_uri", altered)])).await;

            assert_error_page(&page, altered);
        }
        assert_eq!(
            code_rows(&app),
            codes_before,
            "an altered redirect_uri must not create a code"
        );
    }
);

db_test!(
    a_missing_redirect_uri_gets_the_error_page,
    |app: TestApp| async move {
        register_web(&app);

        let page = app.get(&authorize_url(&app, &[("redirect_uri", "")])).await;

        assert_error_page(&page, "no redirect_uri");
    }
);

db_test!(
    a_loopback_registration_accepts_another_port_but_nothing_else_changed,
    |app: TestApp| async move {
        register_web(&app);

        let other_port = app
            .get(&authorize_url(
                &app,
                &[("redirect_uri", "http://127.0.0.1:51234/callback")],
            ))
            .await;
        let other_path = app
            .get(&authorize_url(
                &app,
                &[("redirect_uri", "http://127.0.0.1:51234/other")],
            ))
            .await;

        assert_eq!(
            other_port.status, 303,
            "RFC 8252 §7.3: any port on a loopback IP: {}",
            other_port.body
        );
        assert!(
            other_port.location().starts_with("/login?req="),
            "{}",
            other_port.location()
        );
        assert_error_page(&other_path, "loopback with another path");
    }
);

// --- Errors before and after the client is trusted (DESIGN §4.2) -----------------------------------

db_test!(
    an_unknown_or_missing_client_id_gets_the_error_page,
    |app: TestApp| async move {
        register_web(&app);

        let unknown = app.get(&authorize_url(&app, &[("client_id", "nobody")])).await;
        let missing = app.get(&authorize_url(&app, &[("client_id", "")])).await;

        assert_error_page(&unknown, "unknown client_id");
        assert_error_page(&missing, "missing client_id");
    }
);

db_test!(
    errors_after_the_redirect_uri_is_trusted_go_back_with_error_state_and_iss,
    |app: TestApp| async move {
        register_web(&app);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("scope", "openid admin")], "invalid_scope"),
            (&[("scope", "")], "invalid_scope"),
            (&[("response_type", "token")], "unsupported_response_type"),
            (&[("response_type", "id_token")], "unsupported_response_type"),
            (&[("response_type", "code id_token")], "unsupported_response_type"),
            (&[("response_type", "")], "invalid_request"),
            (&[("code_challenge_method", "plain")], "invalid_request"),
            (&[("code_challenge_method", "")], "invalid_request"),
            (&[("response_mode", "fragment")], "invalid_request"),
            (&[("prompt", "none login")], "invalid_request"),
            (
                &[("request", "eyJhbGciOiJub25lIn0.e30.")],
                "request_not_supported",
            ),
            (
                &[("request_uri", "https://app.example.com/request.jwt")],
                "request_uri_not_supported",
            ),
        ];

        for (params, error) in cases {
            let page = app.get(&authorize_url(&app, params)).await;

            assert_redirect_error(&app, &page, error, STATE);
        }
    }
);

db_test!(
    a_public_client_without_pkce_is_sent_back_with_invalid_request,
    |app: TestApp| async move {
        app.create_client(NewClient {
            public: true,
            secret: None,
            ..app.client("web")
        });

        let page = app
            .get(&authorize_url(
                &app,
                &[("code_challenge", ""), ("code_challenge_method", "")],
            ))
            .await;

        assert_redirect_error(&app, &page, "invalid_request", STATE);
    }
);

db_test!(
    a_garbage_max_age_is_sent_back_with_invalid_request,
    |app: TestApp| async move {
        register_web(&app);

        for garbage in ["soon", "-1", "1.5", "99999999999999999999"] {
            let page = app.get(&authorize_url(&app, &[("max_age", garbage)])).await;

            assert_redirect_error(&app, &page, "invalid_request", STATE);
        }
    }
);

// --- form_post and POST /authorize ---------------------------------------------------------------

db_test!(
    form_post_answers_with_a_page_that_posts_code_state_and_iss_without_inline_script,
    |app: TestApp| async move {
        register_web(&app);
        app.create_user(EMAIL);
        let rp = app.rp("web", Some(SECRET)).await;
        app.code_flow(&rp, EMAIL, &[]).await;
        let auth = app.authorization(&rp, &[], &[("response_mode", "form_post")]);

        let page = app.get(&auth.url).await;

        assert_eq!(page.status, 200, "{:?} {}", page.location, page.body);
        assert!(page.location.is_none());
        assert!(header(&page, "content-type").starts_with("text/html"));
        assert!(
            page.body
                .contains(&format!("<form method=\"post\" action=\"{REDIRECT_URI}\"")),
            "{}",
            page.body
        );
        assert_eq!(page.hidden("state"), auth.state.secret().as_str());
        assert_eq!(page.hidden("iss"), app.provider.issuer());
        assert!(
            page.body
                .contains("<script src=\"/static/form_post.js\"></script>"),
            "{}",
            page.body
        );
        assert_eq!(
            page.body.matches("<script").count(),
            1,
            "no inline script: {}",
            page.body
        );
        let csp = header(&page, "content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "CSP {csp:?}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "CSP {csp:?}");
        assert_eq!(header(&page, "cache-control"), "no-store");
        let code = page.hidden("code");
        let tokens = exchange(&app, &rp, auth, code).await;
        assert!(openidconnect::TokenResponse::id_token(&tokens).is_some());
    }
);

db_test!(
    the_form_post_script_is_served_as_javascript,
    |app: TestApp| async move {
        let page = app.get(&app.url("/static/form_post.js")).await;

        assert_eq!(page.status, 200);
        assert!(
            header(&page, "content-type").starts_with("text/javascript"),
            "{}",
            header(&page, "content-type")
        );
        assert!(page.body.contains("form-post"));
    }
);

db_test!(post_to_authorize_works_like_get, |app: TestApp| async move {
    register_web(&app);
    app.create_user(EMAIL);
    let rp = app.rp("web", Some(SECRET)).await;
    app.code_flow(&rp, EMAIL, &[]).await;
    let auth = app.authorization(&rp, &[], &[]);
    let url = url::Url::parse(&auth.url).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let form: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let page = app.post_form(&app.url("/authorize"), &form).await;

    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.query("state").as_deref(), Some(auth.state.secret().as_str()));
    assert_eq!(page.query("iss").as_deref(), Some(app.provider.issuer()));
    let code = page.query("code").expect("a code");
    let tokens = exchange(&app, &rp, auth, code).await;
    assert!(openidconnect::TokenResponse::id_token(&tokens).is_some());
});

db_test!(
    post_to_authorize_without_a_session_goes_to_the_login_page,
    |app: TestApp| async move {
        register_web(&app);

        let page = app
            .browser
            .post(app.url("/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(authorize_query(&[]))
            .send()
            .await
            .expect("request sent");
        let page = Page::from(page).await;

        assert_eq!(page.status, 303, "{}", page.body);
        assert!(page.location().starts_with("/login?req="), "{}", page.location());
    }
);

// --- Bad input never 500 ---------------------------------------------------------------------------

db_test!(
    a_repeated_client_id_or_state_gets_the_error_page,
    |app: TestApp| async move {
        register_web(&app);

        let client_twice = app
            .get(&format!("{}&client_id=web", authorize_url(&app, &[])))
            .await;
        let state_twice = app
            .get(&format!("{}&state=other", authorize_url(&app, &[])))
            .await;

        assert_error_page(&client_twice, "client_id twice");
        assert!(
            client_twice.body.contains("client_id` is repeated"),
            "{}",
            client_twice.body
        );
        assert_error_page(&state_twice, "state twice");
        assert!(
            state_twice.body.contains("state` is repeated"),
            "{}",
            state_twice.body
        );
    }
);

db_test!(
    invalid_utf8_in_a_parameter_gets_the_error_page,
    |app: TestApp| async move {
        register_web(&app);

        let page = app
            .get(&format!("{}&state=%ff%fe", authorize_url(&app, &[("state", "")])))
            .await;

        assert_error_page(&page, "state=%ff%fe");
        assert!(page.body.contains("not valid UTF-8"), "{}", page.body);
    }
);

db_test!(
    a_100_kb_state_in_a_post_body_gets_the_error_page,
    |app: TestApp| async move {
        register_web(&app);
        let state = "s".repeat(100 * 1024);

        let response = app
            .browser
            .post(app.url("/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(authorize_query(&[("state", &state)]))
            .send()
            .await
            .expect("request sent");
        let page = Page::from(response).await;

        assert_error_page(&page, "100 KB state in the body");
        assert!(page.body.contains("state` is too long"), "{}", page.body);
    }
);

db_test!(
    a_100_kb_state_in_the_query_is_refused_with_a_4xx,
    |app: TestApp| async move {
        register_web(&app);
        let state = "s".repeat(100 * 1024);
        // Longer than any URI the `http` crate builds, so the request goes over a raw socket.
        let target = format!("/authorize?{}", authorize_query(&[("state", &state)]));

        let address = app.address.clone();
        let response = tokio::task::spawn_blocking(move || raw_get(&address, &target))
            .await
            .unwrap();

        let status_line = response.lines().next().unwrap_or_default().to_string();
        eprintln!(
            "100 KB state in the query: {:?}",
            &response[..response.len().min(400)]
        );
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the server must answer with a status, got {:?}",
                    &response[..response.len().min(200)]
                )
            });
        assert!((400..500).contains(&status), "expected a 4xx, got {status_line}");
    }
);

/// Sends a GET over a raw socket and returns whatever the server answered before closing. Reads while
/// writing: the server may answer and close before it has read the whole request.
fn raw_get(address: &str, target: &str) -> String {
    use std::io::{Read, Write};
    let host = address.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&host).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream
        .set_write_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(request.as_bytes());
    });
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    let _ = sender.join();
    String::from_utf8_lossy(&received).into_owned()
}

// --- Login page (§4.9, §4.13) ------------------------------------------------------------------------

db_test!(
    the_login_page_prefills_the_login_hint_escaped,
    |app: TestApp| async move {
        register_web(&app);
        let plain = app
            .get(&authorize_url(&app, &[("login_hint", "ada@example.com")]))
            .await;
        let hostile = app
            .get(&authorize_url(
                &app,
                &[("login_hint", "x\"><script>alert(1)</script>")],
            ))
            .await;

        let plain_login = app.get(&app.url(plain.location())).await;
        let hostile_login = app.get(&app.url(hostile.location())).await;

        assert_eq!(plain_login.status, 200, "{}", plain_login.body);
        assert!(
            plain_login.body.contains("value=\"ada@example.com\""),
            "{}",
            plain_login.body
        );
        assert_eq!(hostile_login.status, 200, "{}", hostile_login.body);
        assert!(
            !hostile_login.body.contains("<script>alert(1)"),
            "login_hint must be escaped: {}",
            hostile_login.body
        );
    }
);

db_test!(
    a_wrong_password_and_an_unknown_email_get_the_same_answer,
    |app: TestApp| async move {
        register_web(&app);
        app.create_user(EMAIL);
        let start = app.get(&authorize_url(&app, &[])).await;
        let login = app.get(&app.url(start.location())).await;
        let (req, csrf) = (login.hidden("req"), login.hidden("csrf"));

        let wrong_password = app
            .post_form(
                &app.url("/login"),
                &[
                    ("req", &req),
                    ("csrf", &csrf),
                    ("email", EMAIL),
                    ("password", "not the password"),
                ],
            )
            .await;
        let unknown_email = app
            .post_form(
                &app.url("/login"),
                &[
                    ("req", &req),
                    ("csrf", &csrf),
                    ("email", "nobody@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;

        assert_eq!(wrong_password.status, 401, "{}", wrong_password.body);
        assert_eq!(unknown_email.status, wrong_password.status);
        assert_eq!(
            alert(&wrong_password),
            "The email address or password is not correct."
        );
        assert_eq!(alert(&unknown_email), alert(&wrong_password));
        assert!(set_cookie(&wrong_password, "gh_session").is_none());
        assert!(set_cookie(&unknown_email, "gh_session").is_none());
        // The pending request survives a failed attempt: the right password still works.
        let ok = app
            .post_form(
                &app.url("/login"),
                &[
                    ("req", &req),
                    ("csrf", &csrf),
                    ("email", EMAIL),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
    }
);

db_test!(
    a_login_post_without_or_with_a_wrong_csrf_token_gets_the_error_page,
    |app: TestApp| async move {
        register_web(&app);
        app.create_user(EMAIL);
        let start = app.get(&authorize_url(&app, &[])).await;
        let login = app.get(&app.url(start.location())).await;
        let req = login.hidden("req");
        let csrf = login.hidden("csrf");
        let forged = format!("{}x", &csrf[..csrf.len() - 1]);

        let missing = app
            .post_form(
                &app.url("/login"),
                &[("req", &req), ("email", EMAIL), ("password", PASSWORD)],
            )
            .await;
        let wrong = app
            .post_form(
                &app.url("/login"),
                &[
                    ("req", &req),
                    ("csrf", &forged),
                    ("email", EMAIL),
                    ("password", PASSWORD),
                ],
            )
            .await;

        assert_error_page(&missing, "login without csrf");
        assert_error_page(&wrong, "login with a wrong csrf");
        assert!(
            missing.body.contains("This form has expired") && wrong.body.contains("This form has expired"),
            "{}",
            wrong.body
        );
        assert!(set_cookie(&missing, "gh_session").is_none() && set_cookie(&wrong, "gh_session").is_none());
    }
);

db_test!(
    a_login_request_cannot_be_completed_from_another_browser,
    |app: TestApp| async move {
        register_web(&app);
        app.create_user(EMAIL);
        app.create_user("mallory@example.com");
        let victim_start = app.get(&authorize_url(&app, &[])).await;
        let victim_req = app.get(&app.url(victim_start.location())).await.hidden("req");
        // The other browser has its own binding cookie and a CSRF token valid for it.
        let other = browser();
        let other_start = get_in(&other, &authorize_url(&app, &[])).await;
        let other_csrf = get_in(&other, &app.url(other_start.location()))
            .await
            .hidden("csrf");

        let page = post_in(
            &other,
            &app.url("/login"),
            &[
                ("req", &victim_req),
                ("csrf", &other_csrf),
                ("email", "mallory@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
        let shown = get_in(&other, &app.url(&format!("/login?req={victim_req}"))).await;

        assert_error_page(&page, "login POST from another browser");
        assert!(
            page.body.contains("This sign-in has expired"),
            "refused for the binding, not the CSRF token: {}",
            page.body
        );
        assert!(set_cookie(&page, "gh_session").is_none());
        assert_error_page(&shown, "login page from another browser");
    }
);

db_test!(
    every_sign_in_gets_a_new_session_id_and_the_old_one_stops_working,
    |app: TestApp| async move {
        register_web(&app);
        app.create_user(EMAIL);
        let first = app.get(&authorize_url(&app, &[])).await;
        let second = app.get(&authorize_url(&app, &[("prompt", "login")])).await;

        let first_login = app.sign_in(&first, EMAIL, PASSWORD).await;
        let second_login = app.sign_in(&second, EMAIL, PASSWORD).await;

        let first_cookie =
            set_cookie(&first_login, "gh_session").expect("a session cookie at the first sign-in");
        let second_cookie =
            set_cookie(&second_login, "gh_session").expect("a session cookie at the second sign-in");
        assert_ne!(
            cookie_value(&first_cookie),
            cookie_value(&second_cookie),
            "the session id must change at every sign-in"
        );
        // The old session id is dead server-side: a browser presenting it is not signed in, while the new
        // one is (it gets as far as consent, which this client has not been given).
        assert_redirect_error(
            &app,
            &with_session(&app, &first_cookie).await,
            "login_required",
            STATE,
        );
        assert_redirect_error(
            &app,
            &with_session(&app, &second_cookie).await,
            "consent_required",
            STATE,
        );
    }
);

/// A prompt=none authorization from a cookie-less client presenting only this session cookie.
async fn with_session(app: &TestApp, session_cookie: &str) -> Page {
    let response = app
        .http
        .get(authorize_url(app, &[("prompt", "none")]))
        .header("cookie", format!("gh_session={}", cookie_value(session_cookie)))
        .send()
        .await
        .expect("request sent");
    Page::from(response).await
}

db_test!(
    browser_cookies_are_http_only_and_same_site_lax,
    |app: TestApp| async move {
        register_web(&app);
        app.create_user(EMAIL);

        let start = app.get(&authorize_url(&app, &[])).await;
        let signed_in = app.sign_in(&start, EMAIL, PASSWORD).await;

        let browser_cookie = set_cookie(&start, "gh_browser").expect("a browser binding cookie");
        let session_cookie = set_cookie(&signed_in, "gh_session").expect("a session cookie");
        for cookie in [&browser_cookie, &session_cookie] {
            let lower = cookie.to_ascii_lowercase();
            assert!(lower.contains("; httponly"), "{cookie}");
            assert!(lower.contains("; samesite=lax"), "{cookie}");
            assert!(lower.contains("; path=/"), "{cookie}");
        }
    }
);

// --- Consent -------------------------------------------------------------------------------------

db_test!(
    denying_consent_sends_access_denied_with_state_and_iss,
    |app: TestApp| async move {
        register_web(&app);
        app.create_user(EMAIL);
        let start = app.get(&authorize_url(&app, &[("scope", "openid email")])).await;
        let to_consent = app.sign_in(&start, EMAIL, PASSWORD).await;
        assert!(
            to_consent.location().starts_with("/consent?req="),
            "{}",
            to_consent.location()
        );

        let page = app.consent(&to_consent, "deny").await;

        assert_redirect_error(&app, &page, "access_denied", STATE);
    }
);

db_test!(
    consent_is_remembered_for_the_same_scopes_but_asked_again_for_a_new_one,
    |app: TestApp| async move {
        register_web(&app);
        app.create_user(EMAIL);
        let rp = app.rp("web", Some(SECRET)).await;
        app.code_flow(&rp, EMAIL, &["email"]).await;

        let same = app.get(&app.authorization(&rp, &["email"], &[]).url).await;
        let more = app
            .get(&app.authorization(&rp, &["email", "profile"], &[]).url)
            .await;

        assert_eq!(same.status, 303);
        assert!(
            same.location().starts_with(&format!("{REDIRECT_URI}?code=")),
            "consent should be remembered: {}",
            same.location()
        );
        assert_eq!(more.status, 303);
        assert!(
            more.location().starts_with("/consent?req="),
            "a new scope needs consent: {}",
            more.location()
        );
    }
);

// --- Static assets --------------------------------------------------------------------------------

db_test!(the_stylesheet_is_served_as_text_css, |app: TestApp| async move {
    let page = app.get(&app.url("/static/gatehouse.css")).await;

    assert_eq!(page.status, 200);
    assert!(
        header(&page, "content-type").starts_with("text/css"),
        "{}",
        header(&page, "content-type")
    );
    assert!(!page.body.is_empty());
});
