//! Store contracts, checked directly against each backend (no HTTP).

use gatehouse::audit::{AuditEvent, Outcome, kind};
use gatehouse::flows::admin::{self, NewClient, NewUser};
use gatehouse::store::*;

use crate::db_test;
use crate::helpers::*;

fn code(user_id: &str, hash: &str, grant: &str, expires_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: hash.into(),
        grant_id: grant.into(),
        client_id: "web".into(),
        user_id: user_id.into(),
        redirect_uri: REDIRECT_URI.into(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        auth_time: 1,
        acr: None,
        amr: "pwd".into(),
        idp: None,
        organization_id: None,
        id_token_claims: vec![],
        created_at: 1,
        expires_at,
    }
}

fn refresh(user_id: &str, hash: &str, grant: &str) -> RefreshToken {
    RefreshToken {
        token_hash: hash.into(),
        grant_id: grant.into(),
        client_id: "web".into(),
        user_id: user_id.into(),
        scope: "openid".into(),
        auth_time: 1,
        acr: None,
        amr: "pwd".into(),
        idp: None,
        organization_id: None,
        id_token_claims: vec![],
        created_at: 100,
        expires_at: 10_000,
        grant_expires_at: 20_000,
        used_at: None,
        revoked_at: None,
    }
}

/// What a redemption records; its audit record names the access token's jti, to be found again.
fn record(jti: &str, next: Option<RefreshToken>) -> IssueRecord {
    IssueRecord {
        access_jti: jti.into(),
        access_expires_at: 5_000,
        refresh: next,
        audit: AuditEvent::new(kind::TOKEN_ISSUED, Outcome::Success, 500).subject(jti),
    }
}

/// The subjects of the records of one kind, in chain order.
fn subjects_of(store: &dyn Store, event: &str) -> Vec<String> {
    store
        .audit_page(0, 100)
        .unwrap()
        .into_iter()
        .filter(|r| r.event.event == event)
        .filter_map(|r| r.event.subject)
        .collect()
}

/// The subjects of the `token.issued` records, in chain order.
fn issued_records(store: &dyn Store) -> Vec<String> {
    subjects_of(store, kind::TOKEN_ISSUED)
}

fn seed(app: &TestApp) -> (std::sync::Arc<dyn Store>, String) {
    let store = app.provider.store.clone();
    admin::create_client(
        store.as_ref(),
        NewClient {
            id: Some("web".into()),
            name: "Web".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            ..Default::default()
        },
    )
    .unwrap();
    let user = admin::create_user(
        store.as_ref(),
        NewUser {
            email: "ada@example.com".into(),
            ..Default::default()
        },
    )
    .unwrap();
    (store, user.id)
}

db_test!(
    a_code_is_consumed_once_and_a_replay_revokes_its_grant,
    |app: TestApp| async move {
        let (store, user) = seed(&app);
        store.create_code(&code(&user, "c1", "g1", 1_000)).unwrap();

        let first = store
            .redeem_code("c1", 500, &mut |_| {
                Some(record("jti-1", Some(refresh(&user, "r1", "g1"))))
            })
            .unwrap();
        assert!(matches!(first, Redemption::Issued(ref c) if c.grant_id == "g1"));
        assert!(store.find_refresh_token("r1").unwrap().unwrap().is_active(500));
        assert_eq!(
            issued_records(store.as_ref()),
            ["jti-1"],
            "recorded with the redemption"
        );

        let replay = store
            .redeem_code("c1", 501, &mut |_| panic!("a used code is never issued twice"))
            .unwrap();
        assert_eq!(replay, Redemption::Reused);
        assert!(
            store
                .find_refresh_token("r1")
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        assert!(store.is_access_token_revoked("jti-1").unwrap());
        assert_eq!(
            store.redeem_code("unknown", 501, &mut |_| None).unwrap(),
            Redemption::Invalid
        );
        assert_eq!(
            issued_records(store.as_ref()),
            ["jti-1"],
            "nothing issued, nothing recorded"
        );
        assert!(gatehouse::audit::verify_chain(store.audit_page(0, 100).unwrap()).is_ok());
    }
);

db_test!(
    a_rejected_code_stays_consumed_and_an_expired_code_is_invalid,
    |app: TestApp| async move {
        let (store, user) = seed(&app);
        store.create_code(&code(&user, "c1", "g1", 1_000)).unwrap();
        store.create_code(&code(&user, "c2", "g2", 1_000)).unwrap();

        assert!(matches!(
            store.redeem_code("c1", 500, &mut |_| None).unwrap(),
            Redemption::Rejected(_)
        ));
        assert_eq!(
            store.redeem_code("c1", 501, &mut |_| None).unwrap(),
            Redemption::Reused
        );
        assert_eq!(
            store.redeem_code("c2", 1_000, &mut |_| None).unwrap(),
            Redemption::Invalid
        );
    }
);

db_test!(
    a_refused_refresh_does_not_burn_the_token_but_a_replay_revokes_the_family,
    |app: TestApp| async move {
        let (store, user) = seed(&app);
        store.create_code(&code(&user, "c1", "g1", 1_000)).unwrap();
        store
            .redeem_code("c1", 500, &mut |_| {
                Some(record("jti-1", Some(refresh(&user, "r1", "g1"))))
            })
            .unwrap();

        assert!(matches!(
            store.rotate_refresh_token("r1", 600, &mut |_| None).unwrap(),
            Redemption::Rejected(_)
        ));
        let rotated = store
            .rotate_refresh_token("r1", 601, &mut |_| {
                Some(record("jti-2", Some(refresh(&user, "r2", "g1"))))
            })
            .unwrap();
        assert!(matches!(rotated, Redemption::Issued(_)));
        assert_eq!(
            issued_records(store.as_ref()),
            ["jti-1", "jti-2"],
            "a refused refresh records nothing; a rotation records its issuance"
        );
        assert_eq!(
            store.rotate_refresh_token("r1", 602, &mut |_| None).unwrap(),
            Redemption::Reused
        );
        assert!(
            store
                .find_refresh_token("r2")
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        assert!(store.is_access_token_revoked("jti-2").unwrap());
        assert_eq!(
            store.rotate_refresh_token("r2", 603, &mut |_| None).unwrap(),
            Redemption::Invalid
        );
    }
);

db_test!(
    consents_accumulate_and_users_take_their_data_with_them,
    |app: TestApp| async move {
        let (store, user) = seed(&app);
        store.save_consent(&user, "web", &["openid".into()], 1).unwrap();
        store
            .save_consent(&user, "web", &["openid".into(), "email".into()], 2)
            .unwrap();
        assert_eq!(store.find_consent(&user, "web").unwrap(), vec!["openid", "email"]);

        assert!(store.delete_user(&user).unwrap());
        assert!(store.find_consent(&user, "web").unwrap().is_empty());
        assert!(!store.delete_user(&user).unwrap());
        let duplicate = admin::create_client(
            store.as_ref(),
            NewClient {
                id: Some("web".into()),
                name: "Again".into(),
                redirect_uris: vec![REDIRECT_URI.into()],
                ..Default::default()
            },
        );
        assert!(duplicate.is_err());
    }
);

db_test!(
    concurrent_redemptions_are_each_recorded_once_in_one_intact_chain,
    |app: TestApp| async move {
        let (store, user) = seed(&app);
        for i in 0..16 {
            store
                .create_code(&code(&user, &format!("c{i}"), &format!("g{i}"), 1_000))
                .unwrap();
        }
        // Readers read the chain while the writers append to it.
        let reader = {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    store.audit_page(0, 1_000).unwrap();
                }
            })
        };
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let outcome = store
                        .redeem_code(&format!("c{i}"), 500, &mut |_| {
                            Some(record(&format!("jti-{i}"), None))
                        })
                        .unwrap();
                    assert!(matches!(outcome, Redemption::Issued(_)));
                })
            })
            .collect();
        writers.into_iter().for_each(|w| w.join().unwrap());
        reader.join().unwrap();

        let mut issued = issued_records(store.as_ref());
        issued.sort();
        let mut expected: Vec<String> = (0..16).map(|i| format!("jti-{i}")).collect();
        expected.sort();
        assert_eq!(issued, expected, "every issuance recorded exactly once");
        assert!(gatehouse::audit::verify_chain(store.audit_page(0, 1_000).unwrap()).is_ok());
    }
);

fn session(user_id: &str, id_hash: &str) -> Session {
    Session {
        id_hash: id_hash.into(),
        user_id: user_id.into(),
        auth_time: 1,
        amr: "pwd".into(),
        idp: None,
        created_at: 1,
        expires_at: 1_000_000,
        pending_factor: false,
        persistent: false,
        last_seen_at: 1,
        user_agent: String::new(),
        previous_id_hash: None,
        rotated_at: 1,
    }
}

db_test!(
    a_sign_in_stores_its_session_code_and_record_together_or_nothing,
    |app: TestApp| async move {
        let (store, user) = seed(&app);
        store.create_session(&session(&user, "previous")).unwrap();
        let sign_in = |id: &str, code_hash: &str| SignInRecord {
            session: session(&user, id),
            ends: vec!["previous".into()],
            audit: vec![AuditEvent::new(kind::SIGN_IN, Outcome::Success, 1).subject(id)],
            code: Some(code(&user, code_hash, "g1", 1_000)),
        };
        let audited = |store: &dyn Store| subjects_of(store, kind::SIGN_IN);

        store.record_sign_in(&sign_in("s1", "c1")).unwrap();
        assert!(store.find_session("s1", 500).unwrap().is_some());
        assert!(
            store.find_session("previous", 500).unwrap().is_none(),
            "the old session ended"
        );
        assert!(matches!(
            store.redeem_code("c1", 500, &mut |_| None).unwrap(),
            Redemption::Rejected(_)
        ));
        assert_eq!(audited(store.as_ref()), ["s1"]);

        // The code collides: the whole sign-in fails and leaves nothing behind.
        store.create_session(&session(&user, "previous")).unwrap();
        assert!(store.record_sign_in(&sign_in("s2", "c1")).is_err());
        assert!(store.find_session("s2", 500).unwrap().is_none());
        assert!(
            store.find_session("previous", 500).unwrap().is_some(),
            "not ended either"
        );
        assert_eq!(
            audited(store.as_ref()),
            ["s1"],
            "no record of a sign-in that did not happen"
        );
        assert!(gatehouse::audit::verify_chain(store.audit_page(0, 100).unwrap()).is_ok());
    }
);

db_test!(
    purging_removes_only_what_can_no_longer_be_used,
    |app: TestApp| async move {
        let (store, user) = seed(&app);
        let session = |id: &str, expires_at| Session {
            expires_at,
            ..self::session(&user, id)
        };
        store.create_session(&session("old", 100)).unwrap();
        store.create_session(&session("live", 1_000_000)).unwrap();
        store.create_code(&code(&user, "c-old", "g-old", 100)).unwrap();
        store
            .create_code(&code(&user, "c-recent", "g-recent", 1_000))
            .unwrap();
        assert!(matches!(
            store.redeem_code("c-old", 50, &mut |_| None).unwrap(),
            Redemption::Rejected(_)
        ));
        assert!(matches!(
            store.redeem_code("c-recent", 50, &mut |_| None).unwrap(),
            Redemption::Rejected(_)
        ));
        store.revoke_access_token("jti-old", 100).unwrap();
        store.revoke_access_token("jti-live", 1_000_000).unwrap();
        store.revoke_access_token("jti-live", 1_000_000).unwrap();

        // Codes are kept a day past expiry so that a late replay is still recognised as one.
        let removed = store.purge_expired(100 + 86_400 + 1).unwrap();

        assert_eq!(removed, 3, "old session, old code, old deny-list entry");
        assert!(store.find_session("old", 50).unwrap().is_none());
        assert!(store.find_session("live", 200).unwrap().is_some());
        assert!(store.is_access_token_revoked("jti-live").unwrap());
        assert!(!store.is_access_token_revoked("jti-old").unwrap());
        assert_eq!(
            store.redeem_code("c-old", 60, &mut |_| None).unwrap(),
            Redemption::Invalid
        );
        assert_eq!(
            store.redeem_code("c-recent", 60, &mut |_| None).unwrap(),
            Redemption::Reused
        );
    }
);

/// SQLite: the WAL is checkpointed by the store's background thread, not inside a request's commit
/// (store/sql/checkpoint.rs): soon after a burst of writes, the database file alone holds them.
#[actix_web::test]
async fn sqlite_writes_reach_the_database_file_without_a_request_checkpointing() {
    use diesel::{Connection, RunQueryDsl};

    let app = spawn_app(Backend::Sqlite).await;
    for i in 0..40 {
        app.create_client(app.client(&format!("app-{i}")));
    }
    let path = app.db.url.strip_prefix("sqlite://").unwrap().to_string();
    let copy = tempfile::tempdir().unwrap();
    let alone = copy.path().join("alone.db");

    let mut seen = -1;
    for _ in 0..100 {
        // A copy of the main file without its WAL: only checkpointed pages are in it. A copy taken
        // mid-checkpoint may be torn: try again.
        std::fs::copy(&path, &alone).unwrap();
        let _ = std::fs::remove_file(copy.path().join("alone.db-wal"));
        seen = diesel::sqlite::SqliteConnection::establish(alone.to_str().unwrap())
            .ok()
            .and_then(|mut conn| {
                diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT count(*) FROM clients")
                    .get_result(&mut conn)
                    .ok()
            })
            .unwrap_or(-1);
        if seen == 40 {
            return;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the database file holds {seen} of 40 clients: the WAL was not checkpointed");
}
