//! Pure OpenID Connect / OAuth 2.0 rules: parsing requests into types that cannot be wrong, checking
//! PKCE, redirect URIs and scopes, assembling claims. No actix, no diesel, no I/O, no clock: time and
//! randomness are arguments.

pub mod acr;
pub mod authorize;
pub mod claims;
pub mod claims_request;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod jurisdiction;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod scope;
pub mod token_request;
pub mod totp;

pub use error::{ErrorCode, OAuthError};
