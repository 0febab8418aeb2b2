//! Signing keys: rotation keeps old keys published until their tokens expire, and keys are sealed at rest.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::crypto::Sealer;
use gatehouse::flows::now;
use gatehouse::keys::{KeyError, KeyRing};
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::db_test;
use crate::helpers::*;

/// The `kid` in a compact JWS header.
fn kid(jwt: &str) -> String {
    let header = jwt.split('.').next().expect("a JWT");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON");
    header["kid"].as_str().expect("a kid").to_string()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .http
        .get(app.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

db_test!(
    after_a_rotation_new_tokens_use_new_keys_and_old_tokens_still_verify,
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        app.create_user("ada@example.com");
        let rp = app.rp("web", Some(SECRET)).await;
        let (old_tokens, old_nonce) = app.code_flow(&rp, "ada@example.com", &["email"]).await;
        let old_access = old_tokens.access_token().secret().clone();
        let old_id_token = old_tokens.id_token().unwrap().clone();
        let kids_before = published_kids(&app).await;
        assert_eq!(kids_before.len(), 3);

        let at = now();
        let new_kids = gatehouse::keys::rotate(app.provider.store.as_ref(), &app.provider.sealer, at)
            .expect("rotation works");
        app.provider
            .keys
            .reload(app.provider.store.as_ref(), at)
            .expect("reload works");

        let kids_after = published_kids(&app).await;
        assert_eq!(
            kids_after.len(),
            6,
            "old and new keys are published: {kids_after:?}"
        );
        assert!(
            kids_before.iter().all(|k| kids_after.contains(k)),
            "the old keys stay in the JWKS"
        );
        assert!(
            new_kids.iter().all(|k| kids_after.contains(k)),
            "the new keys are in the JWKS"
        );
        assert_eq!(kids_after.iter().collect::<HashSet<_>>().len(), 6);
        // New tokens are signed with the new keys; a relying party that re-fetches the JWKS verifies them.
        let rp = app.rp("web", Some(SECRET)).await;
        let (new_tokens, new_nonce) = app.code_flow(&rp, "ada@example.com", &["email"]).await;
        let new_id_token = new_tokens.id_token().unwrap();
        let new_id_kid = kid(&new_id_token.to_string());
        let new_access_kid = kid(new_tokens.access_token().secret());
        assert!(
            new_kids.contains(&new_id_kid),
            "ID token kid {new_id_kid} is not one of {new_kids:?}"
        );
        assert!(
            new_kids.contains(&new_access_kid),
            "access token kid {new_access_kid} is not one of {new_kids:?}"
        );
        assert_ne!(new_id_kid, kid(&old_id_token.to_string()));
        assert_ne!(new_access_kid, kid(&old_access));
        new_id_token
            .claims(&rp.id_token_verifier(), &new_nonce)
            .expect("the new ID token verifies");
        old_id_token
            .claims(&rp.id_token_verifier(), &old_nonce)
            .expect("the old ID token still verifies");
        // The access token signed before the rotation still works.
        let info = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(&old_access)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200, "{}", info.text().await.unwrap());
        let introspection: Value = app
            .api_post("/introspect", &[("token", &old_access)], Some(("web", SECRET)))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(introspection["active"], true, "{introspection}");
    }
);

db_test!(
    signing_keys_are_stored_sealed_and_do_not_open_with_another_encryption_key,
    |app: TestApp| async move {
        let stored = app.provider.store.list_keys().expect("keys listed");
        assert_eq!(stored.len(), 3);

        for key in &stored {
            let pkcs8 = app
                .provider
                .sealer
                .open(&key.private_key, key.kid.as_bytes())
                .expect("the configured key opens it");
            assert!(pkcs8.len() >= 32, "{}: plaintext too short to be PKCS#8", key.kid);
            assert_ne!(key.private_key, pkcs8, "{}: stored in plaintext", key.kid);
            assert!(
                !key.private_key
                    .windows(pkcs8.len())
                    .any(|w| w == pkcs8.as_slice()),
                "{}: plaintext inside the column",
                key.kid
            );
            // No 16-byte run of the plaintext appears in the column either.
            assert!(
                !pkcs8
                    .windows(16)
                    .any(|run| key.private_key.windows(16).any(|w| w == run)),
                "{}: part of the plaintext is stored in the clear",
                key.kid
            );
            assert!(key.public_jwk.contains(&key.kid));
        }
        let at = now();
        assert!(
            KeyRing::from_stored(stored.clone(), &app.provider.sealer, at, 600).is_ok(),
            "control: the right key loads them"
        );

        let wrong = KeyRing::from_stored(stored, &Sealer::new(&[7u8; 32]), at, 600);

        match wrong {
            Err(KeyError::Unseal(_)) => {}
            Err(other) => panic!("expected an unseal error, got {other}"),
            Ok(_) => panic!("keys opened with another encryption key"),
        }
    }
);

db_test!(a_sealed_key_is_bound_to_its_kid, |app: TestApp| async move {
    let mut stored = app.provider.store.list_keys().expect("keys listed");
    // Swap two keys' sealed private halves: each must refuse to open under the other's kid.
    let first = stored[0].private_key.clone();
    stored[0].private_key = stored[1].private_key.clone();
    stored[1].private_key = first;

    let swapped = KeyRing::from_stored(stored, &app.provider.sealer, now(), 600);

    assert!(
        matches!(swapped, Err(KeyError::Unseal(_))),
        "a sealed key opened under another kid"
    );
});
