//! Use cases: load → decide (protocol) → persist. No actix types; every flow is synchronous and runs
//! on the blocking pool, so one flow is one hop off the async workers. Only flows read the clock.

pub mod account;
pub mod admin;
pub mod admin_api;
pub mod authorize;
pub mod browser;
pub mod client_policy;
pub mod consent;
pub mod consents;
pub mod email_code;
pub mod factors;
pub mod federation;
pub mod introspect;
pub mod link;
pub mod login;
pub mod logout;
pub mod mfa;
pub mod mfa_policy;
pub mod organizations;
pub mod passkeys;
pub mod pending;
pub mod portal;
pub mod profiling;
pub mod revoke;
pub mod token;
pub mod upstreams;
pub mod userinfo;

use std::sync::Arc;

use crate::audit::Auditor;
use crate::config::Settings;
use crate::crypto::Sealer;
use crate::keys::{KeyError, Keys};
use crate::protocol::OAuthError;
use crate::store::{Store, StoreError};

/// Everything a flow needs: storage, keys and settings. Cheap to clone.
#[derive(Clone)]
pub struct Provider {
    pub store: Arc<dyn Store>,
    pub keys: Arc<Keys>,
    pub sealer: Sealer,
    pub settings: Arc<Settings>,
    pub auditor: Auditor,
    /// Bounds concurrent password hashing (see `hash_pool`).
    pub hash_pool: Arc<crate::hash_pool::HashPool>,
    /// Upstream identity providers (the real connectors, or a fake in tests).
    pub connectors: Arc<dyn crate::upstream::UpstreamProvider>,
    /// Outgoing mail (codes, notices), sent in the background.
    pub mailer: crate::mail::Mailer,
}

impl Provider {
    pub fn issuer(&self) -> &str {
        self.settings.issuer()
    }

    /// The issuer's host (with a non-default port), as people see it: the name of the account in
    /// authenticator apps.
    pub fn issuer_host(&self) -> String {
        url::Url::parse(self.issuer())
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| {
                    u.port()
                        .map_or_else(|| h.to_string(), |port| format!("{h}:{port}"))
                })
            })
            .unwrap_or_else(|| "Gatehouse".to_string())
    }

    /// Seconds a retired key stays published: the longest a token it signed can live.
    pub fn key_retention(settings: &Settings) -> i64 {
        settings.tokens.access_token_ttl.max(settings.tokens.id_token_ttl) as i64 + 60
    }
}

/// The current UNIX time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// What can stop a flow. The web layer maps each to the endpoint's own format.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A protocol error for the client (token, introspection, revocation, userinfo endpoints).
    #[error("{0}")]
    OAuth(OAuthError),
    /// A browser-facing refusal where redirecting would be unsafe: the gateway's own error page.
    #[error("{title}: {message}")]
    Page { title: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The server is saturated (e.g. password hashing): 503, try again shortly.
    #[error("overloaded: {0}")]
    Overloaded(&'static str),
    /// A sign-in at an upstream provider failed: the error page naming the provider, with this status
    /// (400 bad callback, 502 invalid or unreachable upstream, 504 upstream timeout).
    #[error("sign-in with {provider} failed ({status}): {message}")]
    Upstream {
        provider: String,
        status: u16,
        message: String,
    },
    /// Over a rate limit: retry after this many seconds.
    #[error("rate limited ({action}); retry after {retry_after} s")]
    RateLimited { action: &'static str, retry_after: u64 },
}

impl From<crate::rate_limit::Limited> for FlowError {
    fn from(l: crate::rate_limit::Limited) -> Self {
        FlowError::RateLimited {
            action: l.action.name(),
            retry_after: l.retry_after,
        }
    }
}

impl From<OAuthError> for FlowError {
    fn from(e: OAuthError) -> Self {
        FlowError::OAuth(e)
    }
}

impl FlowError {
    pub fn page(title: &'static str, message: impl Into<String>) -> Self {
        FlowError::Page {
            title,
            message: message.into(),
        }
    }

    /// The page shown when a sign-in link is stale, forged or opened in another browser.
    pub fn expired_request() -> Self {
        FlowError::page(
            "This sign-in has expired",
            "Go back to the application and start signing in again.",
        )
    }
}
