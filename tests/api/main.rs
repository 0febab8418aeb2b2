//! Black-box tests: the real server on port 0 with a fresh database, driven by a real relying party
//! (the `openidconnect` crate) and a browser (`reqwest` with a cookie jar, redirects off).
//! Every test runs on SQLite, and on PostgreSQL too when `TEST_DATABASE_URL` is set.

mod fake_upstream;
mod helpers;

mod admin_api;
mod admin_resources;
mod audit;
mod authorize;
mod claims;
mod code_flow;
mod consent_admin;
mod consents;
mod cors;
mod discovery;
mod federation;
mod introspection;
mod issuer;
mod journey;
mod keys;
mod logout;
mod mfa;
mod mfa_federation;
mod operations;
mod organizations;
mod passkeys;
mod pending_requests;
mod portal;
mod progressive;
mod prompt;
mod rate_limits;
mod refresh;
mod scale_out;
mod sessions;
mod store;
mod tls;
mod token;
mod upstream_faults;
