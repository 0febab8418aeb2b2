//! Compact JWS (RFC 7515) encoding and the strict verification of tokens Gatehouse itself issued.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::{KeyRing, SigningKey};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("header not accepted: {0}")]
    Header(&'static str),
    #[error("unknown key id")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
}

pub fn encode(key: &SigningKey, typ: &str, claims: &Value) -> String {
    let header = json!({ "alg": key.alg.as_str(), "kid": key.kid, "typ": typ });
    let mut out = String::with_capacity(512);
    URL_SAFE_NO_PAD.encode_string(header.to_string(), &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(claims.to_string(), &mut out);
    let signature = key.sign(out.as_bytes());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut out);
    out
}

/// Verifies signature and header; the caller checks the claims (iss, exp, aud...).
/// Rejects `jku`/`jwk`/`x5u`/`x5c`/`crit` headers and any `alg` other than the key's own (DESIGN §4.6).
pub fn decode(ring: &KeyRing, token: &str, typ: Option<&str>) -> Result<Map<String, Value>, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let header: Map<String, Value> = decode_json(h)?;
    for forbidden in ["jku", "jwk", "x5u", "x5c", "crit"] {
        if header.contains_key(forbidden) {
            return Err(JwtError::Header("key-location headers are not accepted"));
        }
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(JwtError::Header("kid missing"))?;
    let key = ring.find(kid).ok_or(JwtError::UnknownKey)?;
    if header.get("alg").and_then(Value::as_str) != Some(key.alg.as_str()) {
        return Err(JwtError::Header("alg does not match the key"));
    }
    if let Some(expected) = typ {
        let actual = header.get("typ").and_then(Value::as_str).unwrap_or("");
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(JwtError::Header("unexpected typ"));
        }
    }
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
    let signed = &token[..h.len() + 1 + p.len()];
    if !key.verify(signed.as_bytes(), &signature) {
        return Err(JwtError::Signature);
    }
    decode_json(p)
}

fn decode_json(part: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}
