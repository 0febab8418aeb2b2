//! Brokered sign-in against a misbehaving upstream: every bad callback and every bad upstream answer
//! ends on the gateway's own error page (400 for a bad callback, 502 for a bad upstream answer, 504 for
//! a timeout) naming the connection, provisions nobody, writes an `upstream.sign_in` failure to the
//! audit log without the upstream's secrets, and never sends the browser back to the client.

use std::future::Future;
use std::time::{Duration, Instant};

use gatehouse::audit::{AuditRecord, Outcome};
use gatehouse::config::Settings;
use openidconnect::TokenResponse;

use crate::fake_upstream::*;
use crate::helpers::*;

/// The connection every test configures (an OIDC connection to its fake).
const CONNECTION: &str = "fake";
/// The relying party every test registers.
const RP: &str = "app";

/// Like `db_test!`, with a fake upstream started before the app and connected as [`CONNECTION`]
/// (`federation.timeout` 5 s); `adjust` may change the settings (and the fake) before the app starts.
/// The body gets the app (client [`RP`] registered) and the fake.
macro_rules! upstream_test {
    ($name:ident, $body:expr) => {
        upstream_test!($name, |_: &FakeUpstream, _: &mut Settings| {}, $body);
    };
    ($name:ident, $adjust:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                run(Backend::Sqlite, $adjust, $body).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if std::env::var("TEST_DATABASE_URL").is_err() {
                    eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant skipped");
                    return;
                }
                run(Backend::Postgres, $adjust, $body).await;
            }
        }
    };
}

async fn run<F, Fut>(backend: Backend, adjust: impl FnOnce(&FakeUpstream, &mut Settings), body: F)
where
    F: FnOnce(TestApp, FakeUpstream) -> Fut,
    Fut: Future<Output = ()>,
{
    let fake = FakeUpstream::start().await;
    let app = spawn_app_with(backend, |s| {
        s.upstreams.push(fake.oidc_spec(CONNECTION));
        s.federation.timeout = 5;
        adjust(&fake, s);
    })
    .await;
    app.create_client(app.client(RP));
    body(app, fake).await;
}

/// Where the upstream sends the browser back: the gateway's callback and its parameters, which a test
/// may alter before sending them (query for a 302, form for `response_mode=form_post`).
struct Callback {
    /// The relying party's authorization that started it all.
    auth: Authorization,
    /// `{gateway}/upstream/<connection>/callback`, without a query.
    url: String,
    params: Vec<(String, String)>,
    form_post: bool,
}

impl Callback {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn without(mut self, name: &str) -> Self {
        self.params.retain(|(k, _)| k != name);
        self
    }

    fn with(self, name: &str, value: &str) -> Self {
        let mut this = self.without(name);
        this.params.push((name.into(), value.into()));
        this
    }

    /// Sends the callback as `browser`.
    async fn send(&self, browser: &reqwest::Client) -> Page {
        let request = if self.form_post {
            browser.post(&self.url).form(&self.params)
        } else {
            let mut url = url::Url::parse(&self.url).unwrap();
            url.query_pairs_mut().extend_pairs(&self.params);
            browser.get(url.as_str())
        };
        Page::from(request.send().await.expect("the callback request is sent")).await
    }
}

async fn get(browser: &reqwest::Client, url: &str) -> Page {
    Page::from(browser.get(url).send().await.expect("request sent")).await
}

/// Starts a sign-in of `rp_client` at `connection` in the app's browser and returns the upstream's
/// answer: the way back to the gateway's callback.
async fn start_upstream_sign_in(app: &TestApp, rp_client: &str, connection: &str) -> Callback {
    start_upstream_sign_in_as(app, &app.browser, rp_client, connection).await
}

/// [`start_upstream_sign_in`] in another browser.
async fn start_upstream_sign_in_as(
    app: &TestApp,
    browser: &reqwest::Client,
    rp_client: &str,
    connection: &str,
) -> Callback {
    let rp = app.rp(rp_client, Some(SECRET)).await;
    let auth = app.authorization(&rp, &["email"], &[("connection", connection)]);
    let start = get(browser, &auth.url).await;
    assert_eq!(
        start.status, 303,
        "authorize with connection={connection} goes upstream: {}",
        start.body
    );
    follow_upstream(app, browser, auth, &start, connection).await
}

/// Follows the gateway's redirect to the upstream, which answers at once with the way back.
async fn follow_upstream(
    app: &TestApp,
    browser: &reqwest::Client,
    auth: Authorization,
    to_upstream: &Page,
    connection: &str,
) -> Callback {
    assert!(
        to_upstream.location().starts_with("http"),
        "an absolute URL to the upstream: {:?}",
        to_upstream.location
    );
    let upstream = get(browser, to_upstream.location()).await;
    let expected = app.url(&format!("/upstream/{connection}/callback"));
    let callback = match upstream.status {
        302 => {
            let mut location = url::Url::parse(upstream.location()).expect("an absolute callback URL");
            let params = location.query_pairs().into_owned().collect();
            location.set_query(None);
            Callback {
                auth,
                url: location.to_string(),
                params,
                form_post: false,
            }
        }
        200 => Callback {
            auth,
            url: attribute(&upstream.body, "action"),
            params: hidden_fields(&upstream.body),
            form_post: true,
        },
        other => panic!("the upstream answered {other}: {}", upstream.body),
    };
    assert_eq!(callback.url, expected, "the gateway's redirect_uri");
    callback
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn attribute(html: &str, name: &str) -> String {
    let marker = format!("{name}=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    unescape(&html[start..end])
}

fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input")
        .skip(1)
        .filter(|input| input.contains("type=\"hidden\""))
        .map(|input| (attribute(input, "name"), attribute(input, "value")))
        .collect()
}

/// Whether the gateway accepted the sign-in: onward to consent, or straight back to the client with a
/// code and the client's own state.
fn assert_signed_in(page: &Page, callback: &Callback) {
    assert_eq!(page.status, 303, "the sign-in succeeds: {}", page.body);
    let location = page.location();
    if location.starts_with(REDIRECT_URI) {
        assert!(page.query("code").is_some(), "a code for the client: {location}");
        assert_eq!(
            page.query("state").as_deref(),
            Some(callback.auth.state.secret().as_str())
        );
    } else {
        assert!(
            location.contains("/consent"),
            "onward to consent or to the client: {location}"
        );
    }
}

/// The gateway's own error page: `status`, HTML, no redirect (least of all to the client), the name.
fn assert_error_page(page: &Page, status: u16, connection: &str) {
    assert_eq!(page.status, status, "error page expected, got: {}", page.body);
    assert_error_page_body(page, connection);
}

fn assert_error_page_body(page: &Page, connection: &str) {
    assert!(
        page.location.is_none(),
        "an error page, not a redirect: {:?}",
        page.location
    );
    let content_type = page
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("text/html"),
        "an HTML page: {content_type}"
    );
    let name = display_name(connection);
    assert!(
        page.body.contains(&name),
        "the page names {name:?}: {}",
        page.body
    );
}

fn user_ids(app: &TestApp) -> Vec<String> {
    let mut ids: Vec<String> = app
        .provider
        .store
        .list_users()
        .expect("users are listed")
        .into_iter()
        .map(|u| u.id)
        .collect();
    ids.sort();
    ids
}

/// Waits for the audit writer to record an `upstream.sign_in` failure; returns every record.
async fn audited_failure(app: &TestApp) -> Vec<AuditRecord> {
    let mut all = Vec::new();
    for _ in 0..100 {
        all = app
            .provider
            .store
            .audit_page(0, 1000)
            .expect("the audit log is readable");
        if all
            .iter()
            .any(|r| r.event.event == "upstream.sign_in" && r.event.outcome == Outcome::Failure)
        {
            return all;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let events: Vec<_> = all
        .iter()
        .map(|r| (r.event.event.as_str(), r.event.outcome.as_str()))
        .collect();
    panic!("no upstream.sign_in failure in the audit log: {events:?}");
}

/// After a refused sign-in: nobody provisioned (users as in `users_before`), the failure audited, and
/// none of the upstream's secrets (client secret, codes, tokens) nor the user's email in the log.
async fn assert_refused_and_audited(app: &TestApp, fake: &FakeUpstream, users_before: &[String]) {
    assert_eq!(user_ids(app), users_before, "no user is provisioned");
    let records = audited_failure(app).await;
    let everything = serde_json::to_string(&records).unwrap();
    let mut secrets = fake.issued_secrets();
    secrets.push(UPSTREAM_SECRET.to_string());
    secrets.push(FakeUser::default().email.unwrap());
    for secret in secrets {
        assert!(
            !everything.contains(&secret),
            "the audit log contains an upstream secret or an email: {secret}"
        );
    }
}

/// A callback for `fault`, sent in the app's browser: the answer must be the error page with `status`,
/// and nothing may be created.
async fn assert_upstream_answer_refused(app: &TestApp, fake: &FakeUpstream, fault: Fault, status: u16) {
    let callback = start_upstream_sign_in(app, RP, CONNECTION).await;
    fake.set_fault(fault);
    let page = callback.send(&app.browser).await;
    assert_error_page(&page, status, CONNECTION);
    assert_refused_and_audited(app, fake, &[]).await;
}

// ---------------------------------------------------------------------------------------------------
// A bad callback: 400

upstream_test!(
    a_callback_without_state_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        let callback = start_upstream_sign_in(&app, RP, CONNECTION)
            .await
            .without("state");
        let page = callback.send(&app.browser).await;
        assert_error_page(&page, 400, CONNECTION);
        assert_eq!(fake.token_requests(), 0, "the code is not redeemed");
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);

upstream_test!(
    a_callback_with_an_unknown_state_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        let callback = start_upstream_sign_in(&app, RP, CONNECTION)
            .await
            .with("state", "c3RhdGUtdGhhdC1uZXZlci13YXMtaXNzdWVk");
        let page = callback.send(&app.browser).await;
        assert_error_page(&page, 400, CONNECTION);
        assert_eq!(fake.token_requests(), 0, "the code is not redeemed");
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);

upstream_test!(
    a_replayed_callback_is_refused_after_a_successful_sign_in,
    |app: TestApp, fake: FakeUpstream| async move {
        let callback = start_upstream_sign_in(&app, RP, CONNECTION).await;
        assert_signed_in(&callback.send(&app.browser).await, &callback);
        let users = user_ids(&app);
        let redeemed = fake.token_requests();

        let replay = callback.send(&app.browser).await;
        assert_error_page(&replay, 400, CONNECTION);
        assert_eq!(
            fake.token_requests(),
            redeemed,
            "the replayed code is not sent upstream"
        );
        assert_refused_and_audited(&app, &fake, &users).await;
    }
);

upstream_test!(
    a_callback_finished_in_another_browser_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        let callback = start_upstream_sign_in(&app, RP, CONNECTION).await;
        let page = callback.send(&browser()).await;
        assert_error_page(&page, 400, CONNECTION);
        assert_eq!(fake.token_requests(), 0, "the code is not redeemed");
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);

upstream_test!(
    a_callback_naming_another_issuer_is_refused_as_a_mix_up,
    |app: TestApp, fake: FakeUpstream| async move {
        let callback = start_upstream_sign_in(&app, RP, CONNECTION).await;
        assert_eq!(callback.param("iss"), Some(fake.base.as_str()));
        let page = callback
            .with("iss", "https://attacker.example")
            .send(&app.browser)
            .await;
        assert_error_page(&page, 400, CONNECTION);
        assert_eq!(
            fake.token_requests(),
            0,
            "the code is not sent to the wrong issuer"
        );
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);

upstream_test!(
    an_upstream_access_denied_is_shown_as_an_error_page,
    |app: TestApp, fake: FakeUpstream| async move {
        fake.set_fault(Fault::AccessDenied);
        let callback = start_upstream_sign_in(&app, RP, CONNECTION).await;
        assert_eq!(callback.param("error"), Some("access_denied"));
        assert_eq!(callback.param("code"), None);
        let page = callback.send(&app.browser).await;
        assert_error_page(&page, 400, CONNECTION);
        assert_eq!(fake.token_requests(), 0);
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);

// ---------------------------------------------------------------------------------------------------
// An ID token or userinfo that fails verification: 502

upstream_test!(
    an_upstream_id_token_with_a_bad_signature_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::BadSignature, 502).await;
    }
);

upstream_test!(
    an_upstream_id_token_with_an_unknown_kid_is_refused_after_exactly_one_jwks_refetch,
    |app: TestApp, fake: FakeUpstream| async move {
        // A first sign-in (another browser) leaves the JWKS cached.
        let first = browser();
        let warm = start_upstream_sign_in_as(&app, &first, RP, CONNECTION).await;
        assert_signed_in(&warm.send(&first).await, &warm);
        let users = user_ids(&app);

        let callback = start_upstream_sign_in(&app, RP, CONNECTION).await;
        fake.set_fault(Fault::UnknownKid);
        let fetches = fake.jwks_fetches();
        let page = callback.send(&app.browser).await;
        assert_error_page(&page, 502, CONNECTION);
        assert_eq!(
            fake.jwks_fetches(),
            fetches + 1,
            "an unknown kid costs exactly one JWKS refetch"
        );
        assert_refused_and_audited(&app, &fake, &users).await;
    }
);

upstream_test!(
    an_upstream_key_rotation_is_followed_with_one_jwks_refetch,
    |app: TestApp, fake: FakeUpstream| async move {
        let first = browser();
        let warm = start_upstream_sign_in_as(&app, &first, RP, CONNECTION).await;
        assert_signed_in(&warm.send(&first).await, &warm);
        let sent = fake.last_authorize().expect("an authorize request");
        assert_eq!(
            sent.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert!(sent.contains_key("nonce"), "a nonce is sent: {sent:?}");
        assert!(sent.contains_key("state"), "a state is sent: {sent:?}");

        let second = browser();
        let callback = start_upstream_sign_in_as(&app, &second, RP, CONNECTION).await;
        fake.set_fault(Fault::RotatedKey);
        let fetches = fake.jwks_fetches();
        assert_signed_in(&callback.send(&second).await, &callback);
        assert_eq!(fake.jwks_fetches(), fetches + 1, "the new key is fetched once");
    }
);

upstream_test!(
    an_upstream_id_token_signed_with_alg_none_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::AlgNone, 502).await;
    }
);

upstream_test!(
    an_upstream_id_token_signed_with_hs256_and_the_client_secret_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::Hs256, 502).await;
    }
);

upstream_test!(
    an_upstream_id_token_from_another_issuer_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::WrongIssuer, 502).await;
    }
);

upstream_test!(
    an_upstream_id_token_for_another_audience_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::WrongAudience, 502).await;
    }
);

upstream_test!(
    an_expired_upstream_id_token_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::Expired, 502).await;
    }
);

upstream_test!(
    an_upstream_id_token_with_another_nonce_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::WrongNonce, 502).await;
    }
);

upstream_test!(
    an_upstream_userinfo_about_another_subject_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::UserinfoSubMismatch, 502).await;
        assert!(
            fake.userinfo_requests() > 0,
            "the gateway asked the userinfo endpoint"
        );
    }
);

upstream_test!(
    an_upstream_discovery_document_naming_another_issuer_is_refused,
    |fake: &FakeUpstream, _: &mut Settings| fake.set_fault(Fault::DiscoveryIssuerMismatch),
    |app: TestApp, fake: FakeUpstream| async move {
        let rp = app.rp(RP, Some(SECRET)).await;
        let auth = app.authorization(&rp, &["email"], &[("connection", CONNECTION)]);
        let start = app.get(&auth.url).await;
        // Discovery is needed to find the authorization endpoint, so it is checked here at the latest.
        assert_error_page(&start, 502, CONNECTION);
        assert!(fake.discovery_fetches() > 0, "discovery was read");
        assert_eq!(fake.authorize_requests(), 0);
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);

// ---------------------------------------------------------------------------------------------------
// A broken token endpoint: 502, or 504 on a timeout

upstream_test!(
    a_slow_upstream_token_endpoint_times_out_and_local_sign_in_still_works,
    |_: &FakeUpstream, s: &mut Settings| s.federation.timeout = 2,
    |app: TestApp, fake: FakeUpstream| async move {
        let callback = start_upstream_sign_in(&app, RP, CONNECTION).await;
        fake.set_fault(Fault::SlowToken(Duration::from_secs(30)));
        let started = Instant::now();
        let page = callback.send(&app.browser).await;
        assert_error_page(&page, 504, CONNECTION);
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "the gateway gave up before the upstream answered ({:?})",
            started.elapsed()
        );
        assert_eq!(fake.token_requests(), 1);
        assert_refused_and_audited(&app, &fake, &[]).await;

        app.create_user("ada@example.com");
        let rp = app.rp(RP, Some(SECRET)).await;
        let (tokens, _) = app.code_flow(&rp, "ada@example.com", &["openid"]).await;
        assert!(tokens.id_token().is_some(), "local sign-in still works");
    }
);

upstream_test!(
    an_html_upstream_token_response_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::HtmlToken, 502).await;
    }
);

upstream_test!(
    a_10_mb_upstream_token_response_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::HugeToken, 502).await;
    }
);

upstream_test!(
    an_upstream_token_endpoint_error_is_a_bad_gateway,
    |app: TestApp, fake: FakeUpstream| async move {
        assert_upstream_answer_refused(&app, &fake, Fault::TokenServerError, 502).await;
    }
);

upstream_test!(
    an_upstream_that_is_down_is_reported_with_its_name,
    |fake: &FakeUpstream, s: &mut Settings| {
        let mut down = fake.oidc_spec("down");
        down.issuer = Some(format!("http://127.0.0.1:{}", closed_port()));
        s.upstreams.push(down);
    },
    |app: TestApp, fake: FakeUpstream| async move {
        let rp = app.rp(RP, Some(SECRET)).await;
        let auth = app.authorization(&rp, &["email"], &[("connection", "down")]);
        let page = app.get(&auth.url).await;
        assert!(
            page.status == 502 || page.status == 504,
            "502 or 504 for an unreachable upstream, got {}: {}",
            page.status,
            page.body
        );
        assert_error_page_body(&page, "down");
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);

upstream_test!(
    an_upstream_on_a_private_address_is_refused_unless_allowed,
    |fake: &FakeUpstream, s: &mut Settings| {
        let mut private = fake.oidc_spec("private");
        private.allow_private_network = false;
        s.upstreams.push(private);
    },
    |app: TestApp, fake: FakeUpstream| async move {
        let rp = app.rp(RP, Some(SECRET)).await;
        let auth = app.authorization(&rp, &["email"], &[("connection", "private")]);
        let page = app.get(&auth.url).await;
        assert!(
            page.status >= 400 && page.status != 500,
            "the sign-in is refused with an error page, got {}: {}",
            page.status,
            page.body
        );
        assert_error_page_body(&page, "private");
        assert_eq!(
            fake.requests(),
            0,
            "the gateway sent nothing to a loopback http upstream"
        );
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);

// ---------------------------------------------------------------------------------------------------
// Other ways in: the login page, a GitHub-style connection

upstream_test!(
    a_sign_in_started_from_the_login_page_with_a_bad_signature_is_refused,
    |app: TestApp, fake: FakeUpstream| async move {
        let rp = app.rp(RP, Some(SECRET)).await;
        let auth = app.authorization(&rp, &["email"], &[]);
        let start = app.get(&auth.url).await;
        assert_eq!(start.status, 303, "{}", start.body);
        assert!(start.location().starts_with("/login"), "{}", start.location());
        let login = app.get(&app.url(start.location())).await;
        assert_eq!(login.status, 200, "{}", login.body);
        assert!(
            login.body.contains("action=\"/login/upstream\""),
            "{}",
            login.body
        );
        assert!(login.body.contains("value=\"fake\""), "{}", login.body);
        assert!(login.body.contains(&display_name(CONNECTION)), "{}", login.body);
        let (req, csrf) = (login.hidden("req"), login.hidden("csrf"));
        let to_upstream = app
            .post_form(
                &app.url("/login/upstream"),
                &[("req", &req), ("csrf", &csrf), ("connection", CONNECTION)],
            )
            .await;
        assert_eq!(to_upstream.status, 303, "{}", to_upstream.body);
        let callback = follow_upstream(&app, &app.browser, auth, &to_upstream, CONNECTION).await;

        fake.set_fault(Fault::BadSignature);
        let page = callback.send(&app.browser).await;
        assert_error_page(&page, 502, CONNECTION);
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);

upstream_test!(
    a_github_style_sign_in_succeeds,
    |fake: &FakeUpstream, s: &mut Settings| s.upstreams.push(fake.oauth2_spec("hub")),
    |app: TestApp, fake: FakeUpstream| async move {
        let callback = start_upstream_sign_in(&app, RP, "hub").await;
        assert_eq!(callback.param("iss"), None, "GitHub sends no iss");
        let sent = fake.last_authorize().unwrap();
        assert_eq!(
            sent.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert_signed_in(&callback.send(&app.browser).await, &callback);
        assert_eq!(fake.token_requests(), 1);
        assert_eq!(user_ids(&app).len(), 1, "the user is provisioned");
    }
);

upstream_test!(
    a_github_style_token_endpoint_answering_html_is_refused,
    |fake: &FakeUpstream, s: &mut Settings| s.upstreams.push(fake.oauth2_spec("hub")),
    |app: TestApp, fake: FakeUpstream| async move {
        let callback = start_upstream_sign_in(&app, RP, "hub").await;
        fake.set_fault(Fault::HtmlToken);
        let page = callback.send(&app.browser).await;
        assert_error_page(&page, 502, "hub");
        assert_refused_and_audited(&app, &fake, &[]).await;
    }
);
