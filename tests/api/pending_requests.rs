//! The pending authorization request travels sealed in the browser's `req` parameter (issue 6): nothing
//! is stored before the user signs in, and a `req` that was forged, altered, sealed for another browser
//! or kept past `sessions.authorization_request_ttl` leads only to the "sign-in has expired" page.

use diesel::pg::PgConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};

use crate::db_test;
use crate::helpers::*;

const EMAIL: &str = "ada@example.com";

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every table's row count, by table (the migrations' own bookkeeping left out).
fn row_counts(app: &TestApp) -> Vec<(String, i64)> {
    macro_rules! counts {
        ($conn:expr, $tables_sql:expr) => {{
            let names: Vec<Name> = diesel::sql_query($tables_sql).load($conn).unwrap();
            names
                .into_iter()
                .filter(|t| !t.name.starts_with("__diesel"))
                .map(|t| {
                    let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM \"{}\"", t.name))
                        .get_result($conn)
                        .unwrap();
                    (t.name, count.n)
                })
                .collect()
        }};
    }
    if let Some(path) = app.db.url.strip_prefix("sqlite://") {
        let conn = &mut SqliteConnection::establish(path).unwrap();
        counts!(
            conn,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    } else {
        let conn = &mut PgConnection::establish(&app.db.url).unwrap();
        counts!(
            conn,
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
        )
    }
}

fn assert_expired_page(page: &Page, what: &str) {
    assert_eq!(page.status, 400, "{what}: {} {}", page.status, page.body);
    assert!(
        page.body.contains("This sign-in has expired"),
        "{what}: {}",
        page.body
    );
    assert!(page.location.is_none(), "{what}: no redirect anywhere");
}

db_test!(
    visiting_the_sign_in_page_stores_nothing_and_the_sealed_request_completes,
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        let user = app.create_user(EMAIL);
        let rp = app.rp("web", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["email"], &[]);
        let before = row_counts(&app);

        let to_login = app.get(&auth.url).await;
        assert!(
            to_login.location().starts_with("/login?req="),
            "{}",
            to_login.location()
        );
        let login = app.get(&app.url(to_login.location())).await;
        assert_eq!(login.status, 200);
        // A second visit (a reload, another tab) stores nothing either.
        app.get(&auth.url).await;

        assert_eq!(
            row_counts(&app),
            before,
            "nothing written before the user signs in"
        );
        let back = app.sign_in(&to_login, EMAIL, PASSWORD).await;
        let consented = app.consent(&back, "allow").await;
        let tokens = app.exchange(&rp, auth, &consented).await;
        assert_eq!(id_token_claims(&tokens)["sub"], user.id.as_str());
    }
);

db_test!(
    a_forged_or_altered_request_shows_the_expired_page,
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        app.create_user(EMAIL);
        let rp = app.rp("web", Some(SECRET)).await;
        let to_login = app.get(&app.authorization(&rp, &["email"], &[]).url).await;
        let login = app.get(&app.url(to_login.location())).await;
        let (req, csrf) = (login.hidden("req"), login.hidden("csrf"));

        // One character changed in the middle: the seal no longer opens.
        let mut altered: Vec<char> = req.chars().collect();
        let middle = altered.len() / 2;
        altered[middle] = if altered[middle] == 'A' { 'B' } else { 'A' };
        let altered: String = altered.into_iter().collect();
        let cut = &req[..req.len() / 2];
        let not_base64 = format!("{req}!*%");
        for (what, bad) in [
            ("altered", altered.as_str()),
            ("cut short", cut),
            ("not base64", not_base64.as_str()),
            ("a guessed id", "0123456789abcdef0123456789abcdef"),
            ("empty", ""),
        ] {
            let page = app.get(&app.url(&format!("/login?req={}", urlencode(bad)))).await;
            assert_expired_page(&page, &format!("GET /login, {what}"));
            let posted = app
                .post_form(
                    &app.url("/login"),
                    &[
                        ("req", bad),
                        ("csrf", &csrf),
                        ("email", EMAIL),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            assert_expired_page(&posted, &format!("POST /login, {what}"));
            assert!(
                posted
                    .headers
                    .get_all("set-cookie")
                    .iter()
                    .all(|c| !c.to_str().unwrap_or_default().starts_with("gh_session=")),
                "{what}: no session started"
            );
            for page in [
                "/consent",
                "/organization",
                "/consent/documents",
                "/profile/complete",
                "/signup",
            ] {
                let shown = app.get(&app.url(&format!("{page}?req={}", urlencode(bad)))).await;
                assert!(
                    shown.status < 500,
                    "{page}, {what}: {} {}",
                    shown.status,
                    shown.body
                );
                assert!(shown.location.is_none(), "{page}, {what}: not sent on");
            }
        }
    }
);

#[actix_web::test]
async fn a_pending_request_expires_after_its_ttl() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.sessions.authorization_request_ttl = 1).await;
    app.create_client(app.client("web"));
    app.create_user(EMAIL);
    let rp = app.rp("web", Some(SECRET)).await;
    let to_login = app.get(&app.authorization(&rp, &["email"], &[]).url).await;
    let login = app.get(&app.url(to_login.location())).await;
    assert_eq!(login.status, 200, "valid at first");

    actix_web::rt::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let late = app.get(&app.url(to_login.location())).await;
    assert_expired_page(&late, "the login page after the ttl");
    let posted = app
        .post_form(
            &app.url("/login"),
            &[
                ("req", &login.hidden("req")),
                ("csrf", &login.hidden("csrf")),
                ("email", EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_expired_page(&posted, "signing in after the ttl");
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
