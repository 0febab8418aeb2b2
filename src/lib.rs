//! Gatehouse: a federated identity gateway that acts as an OpenID Connect provider.
//!
//! Dependencies point one way: `web` (actix handlers, pages) → `flows` (use cases) → `protocol`
//! (pure OIDC/OAuth rules), `store` (traits + diesel), `keys`, `crypto`.

pub mod audit;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod crypto;
pub mod flows;
pub mod hash_pool;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod protocol;
pub mod rate_limit;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod web;
