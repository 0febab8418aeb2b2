//! The upstream connections in force: those declared in the config file, then those created by CLI
//! (read from the database on each use, so that every replica sees a new connection at once).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Outcome, kind};
use crate::config::Settings;
use crate::crypto::Sealer;
use crate::store::{Store, StoreError, StoredUpstream};
use crate::upstream::{self, AppleKey, Connection, UpstreamSpec};

/// The secrets of a stored connection, sealed as one JSON document.
#[derive(Serialize, Deserialize)]
struct Secrets {
    client_secret: String,
    apple_private_key: Option<String>,
}

const SEAL_CONTEXT: &[u8] = b"gatehouse upstream secrets";

/// What the registry reads: the provider's parts, also available to the CLI without a running server.
#[derive(Clone, Copy)]
pub struct Registry<'a> {
    pub store: &'a dyn Store,
    pub sealer: &'a Sealer,
    pub settings: &'a Settings,
}

impl<'a> From<&'a Provider> for Registry<'a> {
    fn from(p: &'a Provider) -> Self {
        Self {
            store: p.store.as_ref(),
            sealer: &p.sealer,
            settings: &p.settings,
        }
    }
}

/// A connection by id: the config file's first, then the database's.
pub fn find(p: &Provider, id: &str) -> Result<Option<Connection>, FlowError> {
    find_in(Registry::from(p), id)
}

pub fn find_in(r: Registry, id: &str) -> Result<Option<Connection>, FlowError> {
    if let Some(spec) = r.settings.upstreams.iter().find(|s| s.id == id) {
        return Ok(Some(Connection::new(spec, r.settings.issuer())));
    }
    match r.store.find_upstream(id)? {
        Some(stored) => Ok(Some(open(r, &stored)?)),
        None => Ok(None),
    }
}

/// Every connection, config file first.
pub fn list(p: &Provider) -> Result<Vec<Connection>, FlowError> {
    list_in(Registry::from(p))
}

pub fn list_in(r: Registry) -> Result<Vec<Connection>, FlowError> {
    let mut all: Vec<Connection> = r
        .settings
        .upstreams
        .iter()
        .map(|s| Connection::new(s, r.settings.issuer()))
        .collect();
    for stored in r.store.list_upstreams()? {
        if !all.iter().any(|c| c.id() == stored.id) {
            all.push(open(r, &stored)?);
        }
    }
    Ok(all)
}

/// Where a connection is declared, for `upstream list|show`.
pub fn is_from_config(settings: &Settings, id: &str) -> bool {
    settings.upstreams.iter().any(|s| s.id == id)
}

/// The connection that claims the domain of this email (home-realm discovery).
pub fn for_email(p: &Provider, email: &str) -> Result<Option<Connection>, FlowError> {
    let Some((_, domain)) = email.trim().rsplit_once('@') else {
        return Ok(None);
    };
    let domain = domain.to_lowercase();
    if let Some(spec) = p
        .settings
        .upstreams
        .iter()
        .find(|s| s.domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)))
    {
        return Ok(Some(Connection::new(spec, p.issuer())));
    }
    match p.store.find_upstream_by_domain(&domain)? {
        Some(id) => find(p, &id),
        None => Ok(None),
    }
}

fn open(r: Registry, stored: &StoredUpstream) -> Result<Connection, FlowError> {
    let broken = |what: &str| {
        FlowError::page(
            "This sign-in option is not available",
            format!("The connection `{}` is misconfigured ({what}).", stored.id),
        )
    };
    let mut spec: UpstreamSpec = serde_json::from_str(&stored.spec).map_err(|_| broken("definition"))?;
    let plain = r
        .sealer
        .open(&stored.secrets, SEAL_CONTEXT)
        .ok_or_else(|| broken("secrets do not open with this encryption key"))?;
    let secrets: Secrets = serde_json::from_slice(&plain).map_err(|_| broken("secrets"))?;
    spec.client_secret = SecretString::from(secrets.client_secret);
    if let (Some(apple), Some(pem)) = (spec.apple.as_mut(), secrets.apple_private_key) {
        apple.private_key = SecretString::from(pem);
    }
    spec.domains = stored.domains.clone();
    Ok(Connection::new(&spec, r.settings.issuer()))
}

/// Stores a connection created by CLI (write-ahead audited like every operator change). Refused when
/// invalid (`Page` with the reason) or when the id or a domain is taken (`Store(Conflict)`).
pub fn create(r: Registry, spec: UpstreamSpec) -> Result<Connection, FlowError> {
    upstream::validate(&spec).map_err(|e| FlowError::page("Invalid connection", e))?;
    if is_from_config(r.settings, &spec.id) {
        return Err(StoreError::Conflict(format!("`{}` is declared in the config file", spec.id)).into());
    }
    let secrets = Secrets {
        client_secret: spec.client_secret.expose_secret().to_string(),
        apple_private_key: spec
            .apple
            .as_ref()
            .map(|a: &AppleKey| a.private_key.expose_secret().to_string()),
    };
    let plain =
        serde_json::to_vec(&secrets).map_err(|e| FlowError::page("Invalid connection", e.to_string()))?;
    let stored = StoredUpstream {
        id: spec.id.clone(),
        spec: serde_json::to_string(&spec)
            .map_err(|e| FlowError::page("Invalid connection", e.to_string()))?,
        secrets: r.sealer.seal(&plain, SEAL_CONTEXT),
        domains: spec.domains.iter().map(|d| d.to_lowercase()).collect(),
        created_at: now(),
    };
    r.store
        .append_audit(&[AuditEvent::new(kind::UPSTREAM_CREATED, Outcome::Success, now())
            .actor("cli")
            .detail(
                serde_json::json!({ "connection": spec.id, "kind": spec.kind, "preset": spec.preset }),
            )])?;
    r.store.create_upstream(&stored)?;
    Ok(Connection::new(&spec, r.settings.issuer()))
}

/// Deletes a CLI-created connection and the identities linked through it.
pub fn delete(store: &dyn Store, id: &str) -> Result<bool, StoreError> {
    if store.find_upstream(id)?.is_none() {
        return Ok(false);
    }
    store.append_audit(&[AuditEvent::new(kind::UPSTREAM_DELETED, Outcome::Success, now())
        .actor("cli")
        .detail(serde_json::json!({ "connection": id }))])?;
    store.delete_upstream(id)
}
