//! Gatehouse: a federated identity gateway that acts as an OpenID Connect provider.
//!
//! Dependencies point one way: `web` (actix handlers, pages) → `flows` (use cases) → `protocol`
//! (pure OIDC/OAuth rules), `store` (traits + diesel), `keys`, `crypto`.

pub mod store;
pub mod config;
pub mod crypto;
pub mod keys;
pub mod protocol;
pub mod flows;
pub mod web;
pub mod startup;
pub mod telemetry;
pub mod cli;
