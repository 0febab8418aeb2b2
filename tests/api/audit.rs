//! The audit log: one hash-chained record per security event, never a secret, and no security-relevant
//! change without its record.

use diesel::connection::SimpleConnection;
use gatehouse::audit::{AuditRecord, verify_chain};
use openidconnect::{AuthorizationCode, OAuth2TokenResponse};

use crate::db_test;
use crate::helpers::*;

fn records(app: &TestApp) -> Vec<AuditRecord> {
    app.provider
        .store
        .audit_page(0, 10_000)
        .expect("the audit log is readable")
}

fn events(app: &TestApp) -> Vec<(String, String)> {
    records(app)
        .into_iter()
        .map(|r| (r.event.event, r.event.outcome.as_str().to_string()))
        .collect()
}

/// Runs SQL on the test's own database, as an attacker with database access would.
fn tamper(app: &TestApp, sql: &str) {
    use diesel::Connection;
    let url = &app.db.url;
    if let Some(path) = url.strip_prefix("sqlite://") {
        diesel::sqlite::SqliteConnection::establish(path)
            .unwrap()
            .batch_execute(sql)
            .unwrap();
    } else {
        diesel::pg::PgConnection::establish(url)
            .unwrap()
            .batch_execute(sql)
            .unwrap();
    }
}

db_test!(
    a_sign_in_and_token_exchange_leave_a_verifiable_trail_without_secrets,
    |app: TestApp| async move {
        let created = app.create_client(app.client("web"));
        let user = app.create_user("ada@example.com");
        let rp = app.rp("web", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["email"], &[]);
        let start = app.get(&auth.url).await;
        let failed = app.sign_in(&start, "ada@example.com", "not my password").await;
        assert_eq!(failed.status, 401);
        let back = app.browser_flow(&auth, "ada@example.com").await;
        let code = back.query("code").unwrap();
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code.clone()))
            .unwrap()
            .set_pkce_verifier(auth.verifier)
            .request_async(&app.http)
            .await
            .unwrap();
        let replay = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ];
        assert_eq!(
            app.api_post("/token", &replay, Some(("web", SECRET)))
                .await
                .status(),
            400
        );

        let log = events(&app);
        for expected in [
            ("client.created", "success"),
            ("user.created", "success"),
            ("sign_in", "failure"),
            ("sign_in", "success"),
            ("consent.granted", "success"),
            ("token.issued", "success"),
            ("code.reuse_detected", "failure"),
        ] {
            assert!(
                log.contains(&(expected.0.to_string(), expected.1.to_string())),
                "{expected:?} missing from {log:?}"
            );
        }
        let all = records(&app);
        let failure = all
            .iter()
            .find(|r| r.event.event == "sign_in" && r.event.outcome.as_str() == "failure")
            .unwrap();
        assert_eq!(failure.event.subject.as_deref(), Some(user.id.as_str()));
        assert_eq!(failure.event.detail["reason"], "wrong_password");
        assert_eq!(failure.event.ip.as_deref(), Some("127.0.0.1"));
        let issued = all.iter().find(|r| r.event.event == "token.issued").unwrap();
        assert_eq!(issued.event.detail["grant_type"], "authorization_code");
        assert_eq!(issued.event.client_id.as_deref(), Some("web"));

        let everything = serde_json::to_string(&all).unwrap();
        for secret in [
            PASSWORD,
            "not my password",
            code.as_str(),
            tokens.access_token().secret().as_str(),
            tokens.refresh_token().unwrap().secret().as_str(),
            created.client_secret.as_deref().unwrap(),
            "ada@example.com",
        ] {
            assert!(
                !everything.contains(secret),
                "the audit log contains a secret or an email: {secret}"
            );
        }
        assert_eq!(verify_chain(all.clone()), Ok(all.len() as u64));
    }
);

db_test!(
    the_request_id_is_recorded_with_the_event,
    |app: TestApp| async move {
        app.create_client(gatehouse::flows::admin::NewClient {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api:read".into()],
            ..app.client("svc")
        });
        let response = app
            .http
            .post(app.url("/token"))
            .basic_auth("svc", Some(SECRET))
            .header("X-Request-Id", "trace-abc-123")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let issued = records(&app)
            .into_iter()
            .find(|r| r.event.event == "token.issued")
            .unwrap();
        assert_eq!(issued.event.request_id.as_deref(), Some("trace-abc-123"));
        assert_eq!(issued.event.subject.as_deref(), Some("svc"));

        let hostile = app
            .http
            .post(app.url("/token"))
            .basic_auth("svc", Some(SECRET))
            .header("X-Request-Id", "<script>alert(1)</script>")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let assigned = hostile.headers()["x-request-id"].to_str().unwrap().to_string();
        let last = records(&app)
            .into_iter()
            .rfind(|r| r.event.event == "token.issued")
            .unwrap();
        assert_eq!(
            last.event.request_id.as_deref(),
            Some(assigned.as_str()),
            "the sanitised id, not the header"
        );
        assert!(!assigned.contains('<'));
    }
);

db_test!(
    an_altered_or_removed_record_is_reported_at_the_first_broken_link,
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        for i in 0..4 {
            app.create_user(&format!("user{i}@example.com"));
        }
        let intact = records(&app);
        assert_eq!(verify_chain(intact.clone()), Ok(5));

        tamper(&app, "UPDATE audit_events SET outcome = 'failure' WHERE seq = 3");
        assert_eq!(verify_chain(records(&app)).unwrap_err().seq, 3);

        tamper(
            &app,
            "UPDATE audit_events SET outcome = 'success' WHERE seq = 3; DELETE FROM audit_events WHERE seq = 2",
        );
        assert_eq!(
            verify_chain(records(&app)).unwrap_err().seq,
            3,
            "a gap is found where the chain breaks"
        );
    }
);

db_test!(
    a_consent_that_cannot_be_audited_is_not_recorded_and_the_user_sees_an_error,
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        let user = app.create_user("ada@example.com");
        let rp = app.rp("web", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["email"], &[]);
        let start = app.get(&auth.url).await;
        let consent_redirect = app.sign_in(&start, "ada@example.com", PASSWORD).await;
        assert!(
            consent_redirect.location().starts_with("/consent"),
            "{}",
            consent_redirect.location()
        );

        tamper(&app, "DROP TABLE audit_events");
        let answer = app.consent(&consent_redirect, "allow").await;

        assert!(
            answer.status >= 500,
            "the change fails when it cannot be audited: {}",
            answer.status
        );
        assert!(answer.location.is_none(), "no code is sent to the client");
        assert!(
            app.provider
                .store
                .find_consent(&user.id, "web")
                .unwrap()
                .is_empty(),
            "nothing was consented"
        );
    }
);

/// PostgreSQL: the records of sign-ins, code exchanges and refreshes wait in `audit_outbox` until a
/// background thread chains them (store/sql/audit_outbox.rs). SQLite chains them in the transaction.
mod outbox {
    use diesel::{Connection, RunQueryDsl};
    use gatehouse::audit::{AuditEvent, Outcome, kind};

    use super::*;

    fn waiting(app: &TestApp) -> i64 {
        let mut conn = diesel::pg::PgConnection::establish(&app.db.url).unwrap();
        diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT count(*) FROM audit_outbox")
            .get_result(&mut conn)
            .unwrap()
    }

    /// Waits, without reading the log through the store (which would chain), for the outbox to empty.
    async fn until_chained(app: &TestApp) {
        for _ in 0..200 {
            if waiting(app) == 0 {
                return;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("{} records still wait in the outbox", waiting(app));
    }

    async fn postgres_app() -> Option<TestApp> {
        if std::env::var("TEST_DATABASE_URL").is_err() {
            eprintln!("TEST_DATABASE_URL not set: PostgreSQL test skipped");
            return None;
        }
        Some(spawn_app(Backend::Postgres).await)
    }

    fn queued(event: &AuditEvent) -> String {
        let json = serde_json::to_string(event).unwrap().replace('\'', "''");
        format!("INSERT INTO audit_outbox (event) VALUES ('{json}')")
    }

    #[actix_web::test]
    async fn a_code_flow_is_chained_without_anyone_reading_the_log() {
        let Some(app) = postgres_app().await else { return };
        app.create_client(app.client("web"));
        app.create_user("ada@example.com");
        let rp = app.rp("web", Some(SECRET)).await;

        app.code_flow(&rp, "ada@example.com", &["openid"]).await;

        until_chained(&app).await;
        let records = records(&app);
        let names: Vec<&str> = records.iter().map(|r| r.event.event.as_str()).collect();
        for expected in [kind::SIGN_IN, kind::TOKEN_ISSUED] {
            assert_eq!(
                names.iter().filter(|n| **n == expected).count(),
                1,
                "{expected} once in {names:?}"
            );
        }
        assert!(verify_chain(records).is_ok());
    }

    #[actix_web::test]
    async fn a_record_written_after_a_grant_is_chained_after_the_grants_records() {
        let Some(app) = postgres_app().await else { return };
        app.create_client(app.client("web"));
        app.create_user("ada@example.com");
        let rp = app.rp("web", Some(SECRET)).await;
        app.code_flow(&rp, "ada@example.com", &["openid"]).await;
        assert!(
            waiting(&app) > 0,
            "the flow's records wait for the chaining thread's pause"
        );

        let later = app.create_user("grace@example.com");

        let records = records(&app);
        let seq_of = |event: &str, subject: Option<&str>| {
            records
                .iter()
                .find(|r| {
                    r.event.event == event && (subject.is_none() || r.event.subject.as_deref() == subject)
                })
                .map(|r| r.seq)
                .unwrap_or_else(|| panic!("no {event} record"))
        };
        let created = seq_of(kind::USER_CREATED, Some(&later.id));
        assert!(
            seq_of(kind::SIGN_IN, None) < created,
            "chain order follows commit order"
        );
        assert!(seq_of(kind::TOKEN_ISSUED, None) < created);
        assert!(verify_chain(records).is_ok());
    }

    #[actix_web::test]
    async fn records_left_waiting_are_chained_when_the_log_is_read() {
        let Some(app) = postgres_app().await else { return };
        app.create_user("ada@example.com");
        // As a replica that committed a grant and stopped before its thread chained the record.
        let left = AuditEvent::new(kind::TOKEN_ISSUED, Outcome::Success, 7).subject("left-behind");
        tamper(&app, &queued(&left));
        tamper(&app, "INSERT INTO audit_outbox (event) VALUES ('{not an event')");

        let records = records(&app);

        assert_eq!(waiting(&app), 0);
        let chained: Vec<&AuditEvent> = records.iter().map(|r| &r.event).collect();
        assert!(chained.contains(&&left), "{chained:?}");
        let unreadable = chained
            .iter()
            .find(|e| e.event == "audit.outbox_unreadable")
            .expect("an altered row is chained as a failure, not left to block the rest");
        assert_eq!(unreadable.outcome, Outcome::Failure);
        assert_eq!(unreadable.detail, serde_json::json!("{not an event"));
        assert_eq!(verify_chain(records.clone()), Ok(records.len() as u64));
        assert_eq!(
            self::records(&app).len(),
            records.len(),
            "chained once: a second read finds nothing new"
        );
    }

    #[actix_web::test]
    async fn a_starting_process_chains_what_a_stopped_one_left() {
        let Some(app) = postgres_app().await else { return };
        let left = AuditEvent::new(kind::SIGN_IN, Outcome::Success, 7).subject("left-behind");
        tamper(&app, &queued(&left));

        let _restarted = gatehouse::store::sql::SqlStore::open(&app.db.url, 1).unwrap();

        until_chained(&app).await;
        assert!(records(&app).iter().any(|r| r.event == left));
    }
}
