//! Browser sessions (issue 8, "keep me signed in"): remembered sessions get a lasting cookie and longer
//! lifetimes, ordinary ones a browser-session cookie; both end when idle or at their absolute expiry;
//! a remembered session's cookie value is rotated, the old value works for a short grace and ends the
//! session when presented after it; the sessions page shows device, activity and kind; operators list
//! and end sessions through the admin API.

use std::sync::Mutex;

use gatehouse::audit::kind;
use gatehouse::crypto::{random_token, sha256_b64};
use gatehouse::store::{Session, User};
use serde_json::Value;

use crate::admin_api::{call, operator};
use crate::db_test;
use crate::helpers::*;
use crate::token::unix_now;

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
const FIREFOX_ON_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SESSION: &str = "gh_session";

/// A browser whose cookies the test can read and set (redirects off).
struct Tab<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookies: Mutex<Vec<(String, String)>>,
    /// Every `Set-Cookie` for the session cookie, as received.
    session_headers: Mutex<Vec<String>>,
}

impl<'a> Tab<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(FIREFOX_ON_LINUX)
                .build()
                .unwrap(),
            cookies: Mutex::new(Vec::new()),
            session_headers: Mutex::new(Vec::new()),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let header: Vec<String> = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = if header.is_empty() {
            request
        } else {
            request.header("cookie", header.join("; "))
        };
        let page = Page::from(request.send().await.expect("request sent")).await;
        for set in page.headers.get_all("set-cookie") {
            self.apply(set.to_str().unwrap());
        }
        page
    }

    fn apply(&self, set_cookie: &str) {
        let (pair, attributes) = set_cookie.split_once(';').unwrap_or((set_cookie, ""));
        let (name, value) = pair.split_once('=').unwrap();
        if name == SESSION {
            self.session_headers.lock().unwrap().push(set_cookie.to_string());
        }
        let mut cookies = self.cookies.lock().unwrap();
        cookies.retain(|(k, _)| k != name);
        if !value.is_empty() && !attributes.contains("Max-Age=0") {
            cookies.push((name.to_string(), value.to_string()));
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(self.app.url(path))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(self.http.post(self.app.url(path)).form(form)).await
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn set_session(&self, value: &str) {
        self.apply(&format!("{SESSION}={value}; Path=/"));
        self.session_headers.lock().unwrap().clear();
    }

    /// The session `Set-Cookie` headers received since the last call.
    fn take_session_headers(&self) -> Vec<String> {
        std::mem::take(&mut *self.session_headers.lock().unwrap())
    }

    async fn is_signed_in(&self) -> bool {
        let page = self.get("/account").await;
        assert_eq!(page.status, 200, "{}", page.body);
        !page.body.contains("action=\"/account/login\"")
    }

    /// Signs in with the password on the login page of an authorization, optionally "keep me signed in".
    async fn sign_in(&self, email: &str, remember: bool) {
        if self.app.provider.store.find_client("web").unwrap().is_none() {
            self.app.create_client(self.app.client("web"));
        }
        let rp = self.app.rp("web", Some(SECRET)).await;
        let auth = self.app.authorization(&rp, &[], &[]);
        let to_login = self.send(self.http.get(&auth.url)).await;
        assert_eq!(to_login.status, 303, "{}", to_login.body);
        let login = self.get(to_login.location()).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let (req, csrf) = (login.hidden("req"), login.hidden("csrf"));
        let mut form = vec![
            ("req", req.as_str()),
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ];
        if remember {
            form.push(("remember", "1"));
        }
        let signed_in = self.post("/login", &form).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        assert!(self.cookie(SESSION).is_some(), "no session cookie");
    }

    fn session_row(&self) -> Option<Session> {
        let hash = sha256_b64(&self.cookie(SESSION)?);
        self.app.provider.store.find_session(&hash, unix_now()).unwrap()
    }
}

/// A session stored directly, as if signed in earlier: `seen_ago`/`rotated_ago` seconds ago.
fn stored_session(app: &TestApp, user: &User, persistent: bool, seen_ago: i64, rotated_ago: i64) -> String {
    let id = random_token();
    let now = unix_now();
    app.provider
        .store
        .create_session(&Session {
            id_hash: sha256_b64(&id),
            user_id: user.id.clone(),
            auth_time: now - rotated_ago,
            amr: "pwd".into(),
            idp: None,
            created_at: now - rotated_ago,
            expires_at: now + 3600,
            pending_factor: false,
            persistent,
            last_seen_at: now - seen_ago,
            user_agent: "Firefox on Linux".into(),
            previous_id_hash: None,
            rotated_at: now - rotated_ago,
        })
        .expect("session stored");
    id
}

fn max_age(set_cookie: &str) -> Option<i64> {
    set_cookie
        .split(';')
        .map(str::trim)
        .find_map(|a| a.strip_prefix("Max-Age="))
        .map(|v| v.parse().unwrap())
}

fn revocations(app: &TestApp, user: &User) -> Vec<Value> {
    app.provider
        .store
        .audit_for_user(&user.id, 20)
        .unwrap()
        .into_iter()
        .filter(|r| r.event.event == kind::SESSION_REVOKED)
        .map(|r| serde_json::to_value(&r.event).unwrap())
        .collect()
}

db_test!(
    a_remembered_sign_in_gets_a_lasting_cookie_and_an_ordinary_one_a_browser_session_cookie,
    |app: TestApp| async move {
        app.create_user(ADA);
        let settings = app.provider.settings.sessions.clone();

        let kept = Tab::new(&app);
        kept.sign_in(ADA, true).await;
        let headers = kept.take_session_headers();
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(
            max_age(&headers[0]),
            Some(settings.remember_ttl as i64),
            "{}",
            headers[0]
        );
        assert!(headers[0].contains("HttpOnly") && headers[0].contains("SameSite=Lax"));
        let row = kept.session_row().expect("a session row");
        assert!(row.persistent);
        let lifetime = row.expires_at - row.created_at;
        assert_eq!(lifetime, settings.remember_ttl as i64);

        let ordinary = Tab::new(&app);
        ordinary.sign_in(ADA, false).await;
        let headers = ordinary.take_session_headers();
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(
            max_age(&headers[0]),
            None,
            "a browser-session cookie: {}",
            headers[0]
        );
        assert!(!headers[0].contains("Expires="), "{}", headers[0]);
        let row = ordinary.session_row().expect("a session row");
        assert!(!row.persistent);
        assert_eq!(row.expires_at - row.created_at, settings.ttl as i64);

        // The device is recorded when the session starts (a summary, not the header).
        assert_eq!(row.user_agent, "Firefox on Linux");
        assert!(kept.is_signed_in().await && ordinary.is_signed_in().await);
    }
);

db_test!(
    an_idle_session_ends_and_activity_is_written_at_most_once_a_minute,
    |app: TestApp| async move {
        app.create_user(ADA);
        let settings = app.provider.settings.sessions.clone();
        let store = app.provider.store.clone();

        let tab = Tab::new(&app);
        tab.sign_in(ADA, false).await;
        let row = tab.session_row().unwrap();
        // Just seen: a request does not write again.
        store.touch_session(&row.id_hash, row.last_seen_at - 30).unwrap();
        assert!(tab.is_signed_in().await);
        assert_eq!(tab.session_row().unwrap().last_seen_at, row.last_seen_at - 30);
        // More than a minute ago: the request is recorded.
        store.touch_session(&row.id_hash, unix_now() - 120).unwrap();
        assert!(tab.is_signed_in().await);
        assert!(tab.session_row().unwrap().last_seen_at >= unix_now() - 5);

        // Idle longer than the ordinary idle timeout: gone, cookie cleared, row deleted.
        store
            .touch_session(&row.id_hash, unix_now() - settings.idle_timeout as i64 - 10)
            .unwrap();
        assert!(!tab.is_signed_in().await);
        assert!(tab.cookie(SESSION).is_none(), "the cookie is cleared");
        assert!(store.find_session(&row.id_hash, unix_now()).unwrap().is_none());

        // A remembered session has the longer idle timeout.
        let kept = Tab::new(&app);
        kept.sign_in(ADA, true).await;
        let kept_row = kept.session_row().unwrap();
        store
            .touch_session(&kept_row.id_hash, unix_now() - settings.idle_timeout as i64 - 10)
            .unwrap();
        assert!(kept.is_signed_in().await, "8 hours idle is fine when remembered");
        store
            .touch_session(
                &kept_row.id_hash,
                unix_now() - settings.remember_idle_timeout as i64 - 10,
            )
            .unwrap();
        assert!(!kept.is_signed_in().await);
    }
);

db_test!(
    a_session_ends_at_its_absolute_expiry_whatever_its_activity,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        let id = random_token();
        let now = unix_now();
        app.provider
            .store
            .create_session(&Session {
                id_hash: sha256_b64(&id),
                user_id: ada.id.clone(),
                auth_time: now - 100,
                amr: "pwd".into(),
                idp: None,
                created_at: now - 100,
                expires_at: now - 1,
                pending_factor: false,
                persistent: true,
                last_seen_at: now,
                user_agent: String::new(),
                previous_id_hash: None,
                rotated_at: now - 100,
            })
            .unwrap();
        let tab = Tab::new(&app);
        tab.set_session(&id);
        assert!(!tab.is_signed_in().await);
        assert!(tab.cookie(SESSION).is_none(), "the stale cookie is cleared");
    }
);

db_test!(
    a_remembered_cookie_is_rotated_the_old_value_works_briefly_and_its_replay_ends_the_session,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        let store = app.provider.store.clone();
        let day = app.provider.settings.sessions.rotate_after as i64;
        let old = stored_session(&app, &ada, true, 0, day + 5);

        // The first request after `rotate_after` gets a new value, with the lasting Max-Age.
        let tab = Tab::new(&app);
        tab.set_session(&old);
        assert!(tab.is_signed_in().await);
        let headers = tab.take_session_headers();
        assert_eq!(headers.len(), 1, "{headers:?}");
        let new = tab.cookie(SESSION).unwrap();
        assert_ne!(new, old);
        assert!(max_age(&headers[0]).is_some());
        let row = store
            .find_session(&sha256_b64(&new), unix_now())
            .unwrap()
            .unwrap();
        assert_eq!(row.previous_id_hash.as_deref(), Some(sha256_b64(&old).as_str()));
        assert!(
            store
                .find_session(&sha256_b64(&old), unix_now())
                .unwrap()
                .is_none()
        );

        // A request sent in parallel with the old value, within the grace: still signed in, no new cookie.
        let parallel = Tab::new(&app);
        parallel.set_session(&old);
        assert!(parallel.is_signed_in().await);
        assert!(parallel.take_session_headers().is_empty());
        // The new value is not rotated again.
        assert!(tab.is_signed_in().await);
        assert!(tab.take_session_headers().is_empty());
        assert!(revocations(&app, &ada).is_empty());

        // The grace ends (as if the rotation were two minutes old): the value before it is dead, and
        // presenting it is a copied cookie, which ends the session for everyone.
        let newer = random_token();
        assert!(
            store
                .rotate_session(&sha256_b64(&new), &sha256_b64(&newer), unix_now() - 120)
                .unwrap()
        );
        let thief = Tab::new(&app);
        thief.set_session(&new);
        assert!(!thief.is_signed_in().await);
        let owner = Tab::new(&app);
        owner.set_session(&newer);
        assert!(!owner.is_signed_in().await, "the whole session ended");
        let audited = revocations(&app, &ada);
        assert_eq!(audited.len(), 1, "{audited:?}");
        assert_eq!(audited[0]["outcome"], "failure");
        assert_eq!(audited[0]["detail"]["reason"], "rotated_cookie_reused");

        // An ordinary session is never rotated.
        let plain = stored_session(&app, &ada, false, 0, day + 5);
        let tab = Tab::new(&app);
        tab.set_session(&plain);
        assert!(tab.is_signed_in().await);
        assert!(tab.take_session_headers().is_empty());
        assert_eq!(tab.cookie(SESSION).as_deref(), Some(plain.as_str()));
    }
);

db_test!(
    a_session_waiting_for_its_second_factor_is_neither_rotated_nor_listed,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        let id = random_token();
        let now = unix_now();
        app.provider
            .store
            .create_session(&Session {
                id_hash: sha256_b64(&id),
                user_id: ada.id.clone(),
                auth_time: now - 200_000,
                amr: "pwd".into(),
                idp: None,
                created_at: now - 200_000,
                expires_at: now + 600,
                pending_factor: true,
                persistent: true,
                last_seen_at: now - 200_000,
                user_agent: String::new(),
                previous_id_hash: None,
                rotated_at: now - 200_000,
            })
            .unwrap();
        let tab = Tab::new(&app);
        tab.set_session(&id);
        // Not signed in before the second factor (the portal sends the browser on to it).
        let page = tab.get("/account").await;
        assert!(
            page.status == 303 || page.body.contains("action=\"/account/login\""),
            "{}",
            page.body
        );
        assert!(tab.take_session_headers().is_empty(), "not rotated");
        let row = app
            .provider
            .store
            .find_session(&sha256_b64(&id), unix_now())
            .unwrap()
            .expect("still waiting");
        assert_eq!(row.last_seen_at, now - 200_000, "not extended");

        let token = operator(&app).await;
        let list = call(
            &app,
            "get",
            &format!("/users/{}/sessions", ada.id),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert_eq!(list.body["items"], serde_json::json!([]));
    }
);

db_test!(
    the_sessions_page_shows_device_activity_kind_and_methods,
    |app: TestApp| async move {
        app.create_user(ADA);
        let kept = Tab::new(&app);
        kept.sign_in(ADA, true).await;
        let ordinary = Tab::new(&app);
        ordinary.sign_in(ADA, false).await;

        let page = kept.get("/account/sessions").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body.matches("class=\"scope session\"").count(), 2);
        assert_eq!(page.body.matches("Firefox on Linux").count(), 2, "{}", page.body);
        assert!(page.body.contains("Kept signed in"), "{}", page.body);
        assert!(page.body.contains("Until the browser closes"), "{}", page.body);
        assert!(page.body.contains("Password · signed in"), "{}", page.body);
        assert!(page.body.contains("last active"));
        // This device (kept signed in) comes first and is marked.
        let first = &page.body[page.body.find("class=\"scope session\"").unwrap()..];
        let first = &first[..first.find("</li>").unwrap()];
        assert!(
            first.contains("This device") && first.contains("Kept signed in"),
            "{first}"
        );

        // Ending the others still works.
        let ended = kept
            .post("/account/sessions/end-others", &[("csrf", &page.hidden("csrf"))])
            .await;
        assert_eq!(ended.location(), "/account/sessions?ended=1");
        assert!(!ordinary.is_signed_in().await);
        assert!(kept.is_signed_in().await);
    }
);

db_test!(
    operators_list_and_end_sessions_by_opaque_id,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        let bob = app.create_user(BOB);
        let kept = Tab::new(&app);
        kept.sign_in(ADA, true).await;
        let other = Tab::new(&app);
        other.sign_in(ADA, false).await;
        let bobs = Tab::new(&app);
        bobs.sign_in(BOB, false).await;
        let token = operator(&app).await;
        let path = format!("/users/{}/sessions", ada.id);

        assert_eq!(call(&app, "get", &path, None, None).await.status, 401);
        let list = call(&app, "get", &path, Some(&token), None).await;
        assert_eq!(list.status, 200, "{}", list.body);
        let items = list.body["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2);
        for row in app.provider.store.list_sessions(&ada.id, unix_now()).unwrap() {
            assert!(!list.body.to_string().contains(&row.id_hash), "a hash is listed");
        }
        let kept_item = items
            .iter()
            .find(|i| i["persistent"] == true)
            .expect("the kept one");
        assert_eq!(kept_item["device"], "Firefox on Linux");
        assert!(kept_item["last_seen_at"].as_i64().unwrap() > 0);
        let kept_ref = kept_item["id"].as_str().unwrap().to_string();

        // Another user's path, a bad id, no token: nothing ends.
        let bob_path = format!("/users/{}/sessions/{kept_ref}", bob.id);
        assert_eq!(
            call(&app, "delete", &bob_path, Some(&token), None).await.status,
            404
        );
        let bad = call(
            &app,
            "delete",
            &format!("{path}/not-a-reference"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(bad.status, 404, "{}", bad.body);
        assert_eq!(bad.header("content-type"), "application/problem+json");
        let anonymous = call(&app, "delete", &format!("{path}/{kept_ref}"), None, None).await;
        assert_eq!(anonymous.status, 401);
        assert!(kept.is_signed_in().await);

        let ended = call(&app, "delete", &format!("{path}/{kept_ref}"), Some(&token), None).await;
        assert_eq!(ended.status, 204, "{}", ended.body);
        assert!(!kept.is_signed_in().await);
        assert!(other.is_signed_in().await);
        let audited = revocations(&app, &ada);
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0]["actor"], "client:ops");
        // Ended already: 404.
        let again = call(&app, "delete", &format!("{path}/{kept_ref}"), Some(&token), None).await;
        assert_eq!(again.status, 404);

        // All at once.
        assert_eq!(call(&app, "delete", &path, Some(&token), None).await.status, 204);
        assert!(!other.is_signed_in().await);
        assert!(bobs.is_signed_in().await, "another user's sessions stay");
    }
);
