//! The few cryptographic helpers the gateway needs, all on well-kept primitives: ring for randomness,
//! digests, HMAC, AEAD and constant-time comparison; argon2 for human passwords.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};

/// `n` bytes from the system CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system RNG failing is unrecoverable (no entropy source): there is no safe fallback.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator failed");
    bytes
}

/// A URL-safe random token with 256 bits of entropy (codes, refresh tokens, session ids, secrets).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A URL-safe random identifier with 128 bits of entropy (user ids, grant ids, `jti`). It never starts
/// with `-` or `_`, so that it can be passed to the command line (`client show <id>`) as it is.
pub fn random_id() -> String {
    loop {
        let id = URL_SAFE_NO_PAD.encode(random_bytes::<16>());
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

/// SHA-256, base64url: how tokens and secrets are stored, so a database leak reveals none of them.
pub fn sha256_b64(input: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, input.as_bytes()))
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time equality for secrets and digests.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // HMAC verification is ring's constant-time comparison: compare tags of both inputs under a
    // fresh random key so that neither length nor content leaks through timing.
    let key = hmac::Key::new(hmac::HMAC_SHA256, &random_bytes::<32>());
    let tag = hmac::sign(&key, a);
    hmac::verify(&key, b, tag.as_ref()).is_ok()
}

/// HMAC-SHA256 of `data` under `key`, base64url.
pub fn hmac_b64(key: &[u8], data: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    URL_SAFE_NO_PAD.encode(hmac::sign(&key, data))
}

/// argon2id at the OWASP-recommended parameters (m = 19 MiB, t = 2, p = 1).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a human password into a PHC string.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with valid parameters cannot fail")
        .to_string()
}

/// Checks a password against a stored PHC string; a malformed hash simply fails.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so that the answer takes as long as for
/// an existing account (DESIGN §4.13).
pub fn dummy_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("gatehouse-timing-equaliser"))
}

/// Seals and opens small secrets (private keys) with AES-256-GCM under the configured key.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
    csrf_key: std::sync::Arc<[u8; 32]>,
    /// The root of `derive_key`: itself derived, so that the sealing key is never used for MACs.
    derivation_key: std::sync::Arc<[u8; 32]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("32 bytes is an AES-256 key");
        // A separate key for CSRF tokens, derived so that one secret configures both.
        let derived = hmac_raw(key, b"gatehouse csrf v1");
        Self {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
            csrf_key: std::sync::Arc::new(derived),
            derivation_key: std::sync::Arc::new(hmac_raw(key, b"gatehouse key derivation v1")),
        }
    }

    /// A 32-byte key for one purpose, derived from the configured secret and a label naming that
    /// purpose (`"unsubscribe v1"`): one secret configures every MAC, and no two purposes share a key.
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        hmac_raw(self.derivation_key.as_ref(), label.as_bytes())
    }

    /// nonce ‖ ciphertext ‖ tag. `aad` binds the ciphertext to its context (e.g. the key id).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad),
                &mut in_out,
            )
            .expect("AES-GCM sealing of a small buffer cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend(in_out);
        out
    }

    /// Opens what `seal` produced; `None` if the key is wrong or the data was altered.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(aad), &mut in_out).ok()?;
        Some(plain.to_vec())
    }

    /// The CSRF token for a browser: an HMAC of its browser-binding cookie (stateless, per browser).
    pub fn csrf_token(&self, browser_id: &str) -> String {
        hmac_b64(self.csrf_key.as_ref(), browser_id.as_bytes())
    }

    pub fn is_valid_csrf(&self, browser_id: &str, presented: &str) -> bool {
        constant_time_eq(self.csrf_token(browser_id).as_bytes(), presented.as_bytes())
    }
}

fn hmac_raw(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(&key, data).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_never_look_like_command_line_options() {
        for _ in 0..2000 {
            assert!(random_id().starts_with(|c: char| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_context() {
        let sealer = Sealer::new(&[7u8; 32]);
        let sealed = sealer.seal(b"private key", b"kid-1");
        assert_eq!(
            sealer.open(&sealed, b"kid-1").as_deref(),
            Some(&b"private key"[..])
        );
        assert_eq!(sealer.open(&sealed, b"kid-2"), None);
        assert_eq!(Sealer::new(&[8u8; 32]).open(&sealed, b"kid-1"), None);
        assert_eq!(sealer.open(&sealed[..5], b"kid-1"), None);
    }

    #[test]
    fn passwords_verify_only_when_equal() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "correct horse "));
        assert!(!verify_password("not a hash", "correct horse"));
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn derived_keys_differ_by_label_and_by_secret() {
        let sealer = Sealer::new(&[1u8; 32]);
        assert_eq!(
            sealer.derive_key("unsubscribe v1"),
            sealer.derive_key("unsubscribe v1")
        );
        assert_ne!(
            sealer.derive_key("unsubscribe v1"),
            sealer.derive_key("email codes v1")
        );
        assert_ne!(
            sealer.derive_key("unsubscribe v1"),
            Sealer::new(&[2u8; 32]).derive_key("unsubscribe v1")
        );
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_browser() {
        let sealer = Sealer::new(&[1u8; 32]);
        let token = sealer.csrf_token("browser-a");
        assert!(sealer.is_valid_csrf("browser-a", &token));
        assert!(!sealer.is_valid_csrf("browser-b", &token));
    }
}
