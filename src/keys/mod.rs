//! Signing keys: generated at first start, persisted sealed (AES-256-GCM under the configured key),
//! one current key per algorithm, old keys kept in the JWKS until the tokens they signed have expired.
//! Every replica loads the same keys from the database and reloads them periodically.

mod jwk;
mod jws;

use std::sync::{Arc, RwLock};

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};

pub use jws::JwtError;

use crate::crypto::{Sealer, random_id};
use crate::store::{KeyStore, StoreError, StoredKey};

/// The JWS algorithms Gatehouse signs with. `none` and HMAC are deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(text: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {0} cannot be opened: wrong keys.encryption_key, or the key is damaged")]
    Unseal(String),
    #[error("signing key {0} is malformed: {1}")]
    Malformed(String, String),
    #[error("no current {0} signing key")]
    NoCurrentKey(&'static str),
}

enum Signer {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One usable key: its private half for signing, its public half for verifying our own tokens.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    signer: Signer,
    public_key: Vec<u8>,
}

impl SigningKey {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("RSA signing with a valid key cannot fail");
                sig
            }
            Signer::Ecdsa(pair) => pair
                .sign(&rng, message)
                .expect("ECDSA signing with a valid key cannot fail")
                .as_ref()
                .to_vec(),
            Signer::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let key = &self.public_key;
        match self.alg {
            Alg::RS256 => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key).verify(message, signature),
            Alg::ES256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key).verify(message, signature),
            Alg::EdDSA => UnparsedPublicKey::new(&ED25519, key).verify(message, signature),
        }
        .is_ok()
    }
}

/// The keys loaded at one moment: what signs now, what verifies, and the pre-serialised JWKS.
pub struct KeyRing {
    keys: Vec<SigningKey>,
    jwks: String,
    jwks_etag: String,
}

impl KeyRing {
    /// Unseals the stored keys. Keys retired longer than `keep_for` seconds ago are dropped: every token
    /// they signed has expired.
    pub fn from_stored(
        stored: Vec<StoredKey>,
        sealer: &Sealer,
        now: i64,
        keep_for: i64,
    ) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        let mut public = Vec::new();
        for key in stored {
            if key.retired_at.is_some_and(|t| t + keep_for <= now) {
                continue;
            }
            let Some(alg) = Alg::parse(&key.alg) else { continue };
            let pkcs8 = sealer
                .open(&key.private_key, key.kid.as_bytes())
                .ok_or_else(|| KeyError::Unseal(key.kid.clone()))?;
            let bad = |e: String| KeyError::Malformed(key.kid.clone(), e);
            let signer = match alg {
                Alg::RS256 => Signer::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(|e| bad(e.to_string()))?),
                Alg::ES256 => Signer::Ecdsa(
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &SystemRandom::new())
                        .map_err(|e| bad(e.to_string()))?,
                ),
                Alg::EdDSA => Signer::Ed(Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| bad(e.to_string()))?),
            };
            let public_key = match &signer {
                Signer::Rsa(p) => p.public_key().as_ref().to_vec(),
                Signer::Ecdsa(p) => p.public_key().as_ref().to_vec(),
                Signer::Ed(p) => p.public_key().as_ref().to_vec(),
            };
            let jwk: serde_json::Value =
                serde_json::from_str(&key.public_jwk).map_err(|e| bad(e.to_string()))?;
            public.push(jwk);
            keys.push(SigningKey {
                kid: key.kid,
                alg,
                created_at: key.created_at,
                retired_at: key.retired_at,
                signer,
                public_key,
            });
        }
        let jwks = serde_json::json!({ "keys": public }).to_string();
        let jwks_etag = crate::crypto::sha256_b64(&jwks)[..16].to_string();
        Ok(Self {
            keys,
            jwks,
            jwks_etag,
        })
    }

    /// The key that signs new tokens for `alg`: the newest unretired one.
    pub fn current(&self, alg: Alg) -> Result<&SigningKey, KeyError> {
        self.keys
            .iter()
            .filter(|k| k.alg == alg && k.retired_at.is_none())
            .max_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)))
            .ok_or(KeyError::NoCurrentKey(alg.as_str()))
    }

    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The JWK Set document (RFC 7517 §5), serialised once per load.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// A strong validator for the JWKS document, computed once per load.
    pub fn jwks_etag(&self) -> &str {
        &self.jwks_etag
    }

    /// Signs `claims` as a compact JWS with the current key for `alg`.
    pub fn sign_jwt(&self, alg: Alg, typ: &str, claims: &serde_json::Value) -> Result<String, KeyError> {
        let key = self.current(alg)?;
        Ok(jws::encode(key, typ, claims))
    }

    /// Verifies a JWT we issued. The algorithm is pinned by the key (`kid`), never taken from the token.
    pub fn verify_jwt(
        &self,
        token: &str,
        typ: Option<&str>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, JwtError> {
        jws::decode(self, token, typ)
    }
}

/// The live key ring shared by the web workers.
pub struct Keys {
    ring: RwLock<Arc<KeyRing>>,
    sealer: Sealer,
    keep_for: i64,
}

impl Keys {
    /// Loads the keys, generating any missing algorithm's first key (first start).
    pub fn load_or_create(
        store: &dyn KeyStore,
        sealer: Sealer,
        now: i64,
        keep_for: i64,
    ) -> Result<Self, KeyError> {
        let stored = store.list_keys()?;
        for alg in Alg::ALL {
            if !stored
                .iter()
                .any(|k| k.alg == alg.as_str() && k.retired_at.is_none())
            {
                tracing::info!(alg = alg.as_str(), "generating the first signing key");
                store.insert_current_key(&generate(alg, &sealer, now)?, now)?;
            }
        }
        let ring = KeyRing::from_stored(store.list_keys()?, &sealer, now, keep_for)?;
        Ok(Self {
            ring: RwLock::new(Arc::new(ring)),
            sealer,
            keep_for,
        })
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the keys from the database (picks up a rotation done by the CLI or another replica).
    pub fn reload(&self, store: &dyn KeyStore, now: i64) -> Result<(), KeyError> {
        let ring = KeyRing::from_stored(store.list_keys()?, &self.sealer, now, self.keep_for)?;
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        Ok(())
    }
}

/// Makes every algorithm's new key current; older keys stay published until their tokens expire.
pub fn rotate(store: &dyn KeyStore, sealer: &Sealer, now: i64) -> Result<Vec<String>, KeyError> {
    let keys = prepare_rotation(sealer, now)?;
    commit_rotation(store, &keys, now)?;
    Ok(keys.into_iter().map(|k| k.kid).collect())
}

/// One new key per algorithm, not yet stored (so the rotation can be audited before it happens).
pub fn prepare_rotation(sealer: &Sealer, now: i64) -> Result<Vec<StoredKey>, KeyError> {
    Alg::ALL
        .into_iter()
        .map(|alg| generate(alg, sealer, now))
        .collect()
}

pub fn commit_rotation(store: &dyn KeyStore, keys: &[StoredKey], now: i64) -> Result<(), KeyError> {
    for key in keys {
        store.insert_current_key(key, now)?;
    }
    Ok(())
}

/// Generates a key pair, seals its PKCS#8 form bound to its kid, and records its public JWK.
pub fn generate(alg: Alg, sealer: &Sealer, now: i64) -> Result<StoredKey, KeyError> {
    let kid = random_id();
    let (pkcs8, public_jwk) = jwk::generate(alg, &kid).map_err(|e| KeyError::Malformed(kid.clone(), e))?;
    Ok(StoredKey {
        private_key: sealer.seal(&pkcs8, kid.as_bytes()),
        kid,
        alg: alg.as_str().to_string(),
        public_jwk: public_jwk.to_string(),
        created_at: now,
        retired_at: None,
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    fn ring() -> KeyRing {
        let sealer = Sealer::new(&[3u8; 32]);
        let stored: Vec<StoredKey> = [Alg::ES256, Alg::EdDSA]
            .into_iter()
            .map(|a| generate(a, &sealer, 100).unwrap())
            .collect();
        KeyRing::from_stored(stored, &sealer, 100, 600).unwrap()
    }

    /// Re-signs nothing: swaps the header of a valid token, keeping payload and signature.
    fn with_header(token: &str, header: serde_json::Value) -> String {
        let mut parts: Vec<&str> = token.split('.').collect();
        let encoded = URL_SAFE_NO_PAD.encode(header.to_string());
        parts[0] = &encoded;
        parts.join(".")
    }

    #[test]
    fn tokens_verify_with_every_algorithm() {
        let ring = ring();
        for alg in [Alg::ES256, Alg::EdDSA] {
            let token = ring.sign_jwt(alg, "JWT", &json!({ "sub": "u1" })).unwrap();
            let claims = ring.verify_jwt(&token, Some("JWT")).unwrap();
            assert_eq!(claims["sub"], "u1");
            assert_eq!(
                ring.verify_jwt(&token, Some("at+jwt")),
                Err(JwtError::Header("unexpected typ"))
            );
        }
    }

    #[test]
    fn forged_headers_and_signatures_are_rejected() {
        let ring = ring();
        let token = ring.sign_jwt(Alg::ES256, "JWT", &json!({ "sub": "u1" })).unwrap();
        let kid = ring.current(Alg::ES256).unwrap().kid.clone();
        for (header, expected) in [
            (
                json!({ "alg": "none", "kid": kid, "typ": "JWT" }),
                JwtError::Header("alg does not match the key"),
            ),
            (
                json!({ "alg": "HS256", "kid": kid, "typ": "JWT" }),
                JwtError::Header("alg does not match the key"),
            ),
            (
                json!({ "alg": "EdDSA", "kid": kid, "typ": "JWT" }),
                JwtError::Header("alg does not match the key"),
            ),
            (
                json!({ "alg": "ES256", "kid": kid, "jku": "https://evil/jwks" }),
                JwtError::Header("key-location headers are not accepted"),
            ),
            (
                json!({ "alg": "ES256", "kid": kid, "jwk": {} }),
                JwtError::Header("key-location headers are not accepted"),
            ),
            (
                json!({ "alg": "ES256", "kid": kid, "x5u": "https://evil" }),
                JwtError::Header("key-location headers are not accepted"),
            ),
            (json!({ "alg": "ES256", "kid": "unknown" }), JwtError::UnknownKey),
            (json!({ "alg": "ES256" }), JwtError::Header("kid missing")),
        ] {
            assert_eq!(
                ring.verify_jwt(&with_header(&token, header.clone()), None),
                Err(expected),
                "{header}"
            );
        }
        let unsigned = format!("{}.", token.rsplit_once('.').unwrap().0);
        assert!(ring.verify_jwt(&unsigned, None).is_err());
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 3.., "AAA");
        assert_eq!(ring.verify_jwt(&tampered, None), Err(JwtError::Signature));
        assert_eq!(
            ring.verify_jwt("not.a.jwt.at.all", None),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn retired_keys_are_published_until_their_tokens_expire() {
        let sealer = Sealer::new(&[3u8; 32]);
        let mut old = generate(Alg::ES256, &sealer, 100).unwrap();
        old.retired_at = Some(200);
        let new = generate(Alg::ES256, &sealer, 200).unwrap();
        let stored = vec![old.clone(), new.clone()];
        let ring = KeyRing::from_stored(stored.clone(), &sealer, 700, 600).unwrap();
        assert_eq!(ring.current(Alg::ES256).unwrap().kid, new.kid);
        assert!(ring.jwks_json().contains(&old.kid));
        let later = KeyRing::from_stored(stored, &sealer, 800, 600).unwrap();
        assert!(!later.jwks_json().contains(&old.kid));
        assert!(KeyRing::from_stored(vec![new], &Sealer::new(&[4u8; 32]), 800, 600).is_err());
    }
}
