//! Sign in with Apple: the client secret is a short-lived ES256 JWT signed with the team's key
//! (Apple, "Creating a client secret"), and the user's name arrives only once, on first sign-in, as
//! JSON in the `user` form field of the form_post callback.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use secrecy::ExposeSecret;

use super::{AppleKey, UpstreamError};

const AUDIENCE: &str = "https://appleid.apple.com";

/// The PKCS#8 key from Apple's `.p8` file (PEM).
pub fn parse_key(key: &AppleKey) -> Result<EcdsaKeyPair, String> {
    let pem = key.private_key.expose_secret();
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| "not a PEM private key".to_string())?;
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &der,
        &ring::rand::SystemRandom::new(),
    )
    .map_err(|_| "not a PKCS#8 P-256 key".to_string())
}

/// `{iss: team id, sub: client id, aud: Apple, iat, exp}` signed with ES256, valid five minutes.
pub fn client_secret(key: &AppleKey, client_id: &str, now: i64) -> Result<String, UpstreamError> {
    let pair = parse_key(key).map_err(UpstreamError::Config)?;
    let header = serde_json::json!({ "alg": "ES256", "kid": key.key_id });
    let claims = serde_json::json!({
        "iss": key.team_id,
        "iat": now,
        "exp": now + 300,
        "aud": AUDIENCE,
        "sub": client_id,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = pair
        .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
        .map_err(|_| UpstreamError::Config("signing the Apple client secret failed".into()))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}

/// `{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"…"}` → "Ada Lovelace".
pub fn name_from_user_field(json: &str) -> Option<String> {
    let user: serde_json::Value = serde_json::from_str(json).ok()?;
    let name = user.get("name")?;
    let part = |k: &str| name.get(k).and_then(|v| v.as_str()).map(str::trim).unwrap_or("");
    let full = format!("{} {}", part("firstName"), part("lastName"));
    let full = full.trim();
    (!full.is_empty() && full.len() <= 200).then(|| full.to_string())
}

#[cfg(test)]
mod tests {
    use ring::signature::{ECDSA_P256_SHA256_FIXED, KeyPair, UnparsedPublicKey};

    use super::*;

    fn test_key() -> (AppleKey, Vec<u8>) {
        let rng = ring::rand::SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der.as_ref())
        );
        let key = AppleKey {
            team_id: "TEAM123456".into(),
            key_id: "KEY1234567".into(),
            private_key: pem.into(),
        };
        let public = parse_key(&key).unwrap().public_key().as_ref().to_vec();
        (key, public)
    }

    #[test]
    fn the_client_secret_is_an_es256_jwt_for_apple_signed_by_the_team_key() {
        let (key, public) = test_key();
        let jwt = client_secret(&key, "com.example.web", 1_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "KEY1234567");
        assert_eq!(claims["iss"], "TEAM123456");
        assert_eq!(claims["sub"], "com.example.web");
        assert_eq!(claims["aud"], AUDIENCE);
        assert_eq!(claims["exp"], 1_300);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies with the team key");
    }

    #[test]
    fn a_key_that_is_not_pkcs8_p256_is_refused() {
        let key = AppleKey {
            team_id: "T".into(),
            key_id: "K".into(),
            private_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
                .to_string()
                .into(),
        };
        assert!(parse_key(&key).is_err());
    }

    #[test]
    fn the_name_apple_posts_once_is_read_and_junk_is_ignored() {
        assert_eq!(
            name_from_user_field(r#"{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"a@b.c"}"#),
            Some("Ada Lovelace".into())
        );
        assert_eq!(name_from_user_field("not json"), None);
        assert_eq!(name_from_user_field(r#"{"name":{}}"#), None);
    }
}
