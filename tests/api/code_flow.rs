//! The authorization code flow end to end with a certified-style relying party.

use openidconnect::core::CoreUserInfoClaims;
use openidconnect::{OAuth2TokenResponse, TokenResponse};

use crate::db_test;
use crate::helpers::*;

db_test!(
    a_user_signs_in_with_the_code_flow_and_the_rp_verifies_the_id_token,
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        let user = app.create_user("ada@example.com");
        let rp = app.rp("web", Some(SECRET)).await;

        let (tokens, nonce) = app.code_flow(&rp, "ada@example.com", &["email", "profile"]).await;

        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token
            .claims(&rp.id_token_verifier(), &nonce)
            .expect("the ID token verifies");
        assert_eq!(claims.subject().as_str(), user.id);
        assert!(claims.auth_time().is_some());
        assert!(tokens.refresh_token().is_some());
        let info: CoreUserInfoClaims = rp
            .user_info(tokens.access_token().clone(), None)
            .unwrap()
            .request_async(&app.http)
            .await
            .expect("userinfo works");
        assert_eq!(info.subject().as_str(), user.id);
        assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));
        assert_eq!(info.email_verified(), Some(true));
    }
);
