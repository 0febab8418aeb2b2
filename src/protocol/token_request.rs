//! Token endpoint requests (RFC 6749 §4.1.3, §6, §4.4), one variant per grant.

use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::scope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<Vec<String>>,
    },
    ClientCredentials {
        scope: Option<Vec<String>>,
    },
}

impl TokenRequest {
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        let required = |name: &'static str| {
            params
                .get(name)
                .map(str::to_string)
                .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
        };
        let scope = match params.get("scope") {
            None => None,
            Some(s) => {
                let parsed = scope::parse(s);
                if !parsed.iter().all(|s| scope::is_valid_token(s)) {
                    return Err(OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"));
                }
                Some(parsed)
            }
        };
        match params.get("grant_type") {
            None => Err(OAuthError::invalid_request("grant_type is required")),
            Some("authorization_code") => Ok(TokenRequest::AuthorizationCode {
                code: required("code")?,
                redirect_uri: params.get("redirect_uri").map(str::to_string),
                code_verifier: params.get("code_verifier").map(str::to_string),
            }),
            Some("refresh_token") => Ok(TokenRequest::RefreshToken {
                refresh_token: required("refresh_token")?,
                scope,
            }),
            Some("client_credentials") => Ok(TokenRequest::ClientCredentials { scope }),
            Some(_) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )),
        }
    }

    pub fn grant_type(&self) -> &'static str {
        match self {
            TokenRequest::AuthorizationCode { .. } => "authorization_code",
            TokenRequest::RefreshToken { .. } => "refresh_token",
            TokenRequest::ClientCredentials { .. } => "client_credentials",
        }
    }
}
