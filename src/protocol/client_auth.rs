//! Client authentication (RFC 6749 §2.3.1): `client_secret_basic`, `client_secret_post`, or `none` for
//! public clients. Exactly one method per request (§2.3: "MUST NOT use more than one").

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;

use super::error::OAuthError;
use super::params::Params;
use crate::crypto::{constant_time_eq, sha256_b64};
use crate::store::Client;

/// The credentials a request presented. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    None { id: String },
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClientCredentials({:?}, {:?}, [redacted])",
            self.method(),
            self.client_id()
        )
    }
}

impl ClientCredentials {
    /// Reads the credentials from the `Authorization` header and the body. Errors are `invalid_request`
    /// for ambiguous requests and `invalid_client` (answered 401) when no client is named at all.
    pub fn extract(authorization: Option<&str>, params: &Params) -> Result<Self, OAuthError> {
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret");
        if let Some(header) = authorization {
            let (id, secret) = parse_basic(header).ok_or_else(OAuthError::invalid_client)?;
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Authorization header",
                ));
            }
            return Ok(ClientCredentials::Basic { id, secret });
        }
        match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(ClientCredentials::Post {
                id: id.into(),
                secret: secret.into(),
            }),
            (Some(id), None) => Ok(ClientCredentials::None { id: id.into() }),
            (None, _) => Err(OAuthError::invalid_client()),
        }
    }

    pub fn client_id(&self) -> &str {
        match self {
            ClientCredentials::Basic { id, .. }
            | ClientCredentials::Post { id, .. }
            | ClientCredentials::None { id } => id,
        }
    }

    pub fn method(&self) -> &'static str {
        match self {
            ClientCredentials::Basic { .. } => "client_secret_basic",
            ClientCredentials::Post { .. } => "client_secret_post",
            ClientCredentials::None { .. } => "none",
        }
    }

    /// Authenticates against the registered client. Confidential clients must present their secret;
    /// public clients must not present one. Every failure is the same `invalid_client`.
    pub fn authenticate(&self, client: Option<&Client>) -> Result<(), OAuthError> {
        let client = client.ok_or_else(OAuthError::invalid_client)?;
        match (self, &client.secret_hash) {
            (ClientCredentials::None { .. }, None) => Ok(()),
            (
                ClientCredentials::Basic { secret, .. } | ClientCredentials::Post { secret, .. },
                Some(hash),
            ) if constant_time_eq(sha256_b64(secret).as_bytes(), hash.as_bytes()) => Ok(()),
            _ => Err(OAuthError::invalid_client()),
        }
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1 requires the form-encoding).
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let id = unescape(id)?;
    (!id.is_empty()).then_some(())?;
    Some((id, unescape(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn reads_each_method_and_refuses_two_at_once() {
        let empty = Params::default();
        let c = ClientCredentials::extract(Some(&basic("app", "s%3Acret")), &empty).unwrap();
        assert_eq!(
            c,
            ClientCredentials::Basic {
                id: "app".into(),
                secret: "s:cret".into()
            }
        );
        let post = Params::from_pairs(&[("client_id", "app"), ("client_secret", "x")]);
        assert_eq!(
            ClientCredentials::extract(None, &post).unwrap().method(),
            "client_secret_post"
        );
        let both = ClientCredentials::extract(Some(&basic("app", "x")), &post).unwrap_err();
        assert_eq!(both.code, super::super::error::ErrorCode::InvalidRequest);
        assert!(ClientCredentials::extract(Some("Basic !!!"), &empty).is_err());
        assert!(ClientCredentials::extract(None, &empty).is_err());
        assert!(!format!("{c:?}").contains("s:cret"));
    }
}
