//! The scale-out deployment: stateless replicas sharing one database. A second Gatehouse *process*
//! (the real binary) serves beside the in-process app; single use must hold across both.

use openidconnect::{OAuth2TokenResponse, TokenResponse};

use crate::db_test;
use crate::helpers::*;

db_test!(
    twenty_parallel_redemptions_across_two_processes_yield_exactly_one_token_response,
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        app.create_user("ada@example.com");
        let replica = start_replica(&app).await;
        let rp = app.rp("web", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["email"], &[]);
        let back = app.browser_flow(&auth, "ada@example.com").await;
        let code = back.query("code").expect("a code");
        let verifier = auth.verifier.secret().clone();

        let mut tasks = Vec::new();
        for i in 0..20 {
            let base = if i % 2 == 0 {
                app.address.clone()
            } else {
                replica.address.clone()
            };
            let (http, code, verifier) = (app.http.clone(), code.clone(), verifier.clone());
            tasks.push(actix_web::rt::spawn(async move {
                let form = [
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", &verifier),
                ];
                let response = http
                    .post(format!("{base}/token"))
                    .basic_auth("web", Some(SECRET))
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap();
                (status, body)
            }));
        }
        let mut ok = 0;
        for task in tasks {
            let (status, body) = task.await.unwrap();
            match status {
                200 => ok += 1,
                400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
                other => panic!("unexpected status {other}: {body}"),
            }
        }
        assert_eq!(ok, 1, "exactly one redemption wins");
        // Both processes appended to one audit chain concurrently; it is still one unbroken chain.
        let records = app.provider.store.audit_page(0, 10_000).unwrap();
        let reuses = records
            .iter()
            .filter(|r| r.event.event == "code.reuse_detected")
            .count();
        assert_eq!(reuses, 19, "every losing redemption is on the record");
        assert_eq!(
            gatehouse::audit::verify_chain(records.clone()),
            Ok(records.len() as u64)
        );
    }
);

db_test!(
    a_replica_serves_tokens_issued_by_another_and_shares_keys_and_revocation,
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        app.create_user("ada@example.com");
        let replica = start_replica(&app).await;
        let rp = app.rp("web", Some(SECRET)).await;
        let (tokens, _) = app.code_flow(&rp, "ada@example.com", &["email"]).await;
        let access = tokens.access_token().secret().clone();
        let refresh = tokens.refresh_token().expect("a refresh token").secret().clone();
        assert!(tokens.id_token().is_some());

        // The replica publishes the same keys and accepts the token.
        let jwks_a: serde_json::Value = app
            .http
            .get(app.url("/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwks_b: serde_json::Value = app
            .http
            .get(format!("{}/jwks.json", replica.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(jwks_a, jwks_b);
        let info = app
            .http
            .get(format!("{}/userinfo", replica.address))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200);

        // Refreshing at the replica rotates; replaying the old token at the first instance revokes the family.
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        let rotated = app
            .http
            .post(format!("{}/token", replica.address))
            .basic_auth("web", Some(SECRET))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(rotated.status(), 200);
        let rotated: serde_json::Value = rotated.json().await.unwrap();
        let replay = app.api_post("/token", &form, Some(("web", SECRET))).await;
        assert_eq!(replay.status(), 400);
        let next = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rotated["refresh_token"].as_str().unwrap()),
        ];
        let after = app
            .http
            .post(format!("{}/token", replica.address))
            .basic_auth("web", Some(SECRET))
            .form(&next)
            .send()
            .await
            .unwrap();
        assert_eq!(
            after.status(),
            400,
            "the whole family is revoked on every replica"
        );
    }
);
