//! "Download my data" (GDPR Art. 15 and 20): everything the gateway keeps about a person, as one JSON
//! document. Never secrets: no password hash, session or token hashes, codes or tokens.

use serde_json::{Value, json};
use tracing::instrument;

use super::super::{FlowError, Provider, now};
use super::sessions::method_name;
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::store::Store;

/// The export format's name and version, the first member of the document.
pub const FORMAT: &str = "gatehouse-export/1";
/// The person's most recent audit events included.
pub const AUDIT_EVENTS: i64 = 1000;

/// The export of one user, or `None` if there is no such user, with their consent records as the
/// consent flow exports them. The export itself is audited, with `actor` (the person or
/// `client:<id>`).
pub fn export(p: &Provider, user_id: &str, actor: &str, origin: &Origin) -> Result<Option<Value>, FlowError> {
    export_with(p.store.as_ref(), user_id, actor, origin, |id| {
        super::super::consents::records_for_export(p, id)
    })
}

/// `export` from the store alone (the command line has no running provider); `consents` gives the
/// person's consent records.
#[instrument(skip_all)]
pub fn export_with(
    store: &dyn Store,
    user_id: &str,
    actor: &str,
    origin: &Origin,
    consents: impl FnOnce(&str) -> Result<Value, FlowError>,
) -> Result<Option<Value>, FlowError> {
    let Some(user) = store.find_user(user_id)? else {
        return Ok(None);
    };
    let organizations: Vec<Value> = store
        .list_memberships(&user.id)?
        .into_iter()
        .map(|(org, member)| {
            json!({ "id": org.id, "slug": org.slug, "name": org.name, "roles": member.roles,
                    "member_since": member.created_at })
        })
        .collect();
    let sessions: Vec<Value> = store
        .list_sessions(&user.id, now())?
        .into_iter()
        .map(|s| {
            json!({ "created_at": s.created_at, "signed_in_at": s.auth_time, "expires_at": s.expires_at,
                    "methods": s.amr.split_whitespace().map(method_name).collect::<Vec<_>>(),
                    "provider": s.idp })
        })
        .collect();
    // Chain hashes are the log's integrity, not the person's data: left out.
    let audit_events: Vec<Value> = store
        .audit_for_user(&user.id, AUDIT_EVENTS)?
        .into_iter()
        .map(|r| {
            let e = r.event;
            json!({ "seq": r.seq, "at": e.at, "event": e.event, "outcome": e.outcome, "actor": e.actor,
                    "subject": e.subject, "client_id": e.client_id, "organization": e.organization,
                    "ip": e.ip, "detail": e.detail })
        })
        .collect();
    let app_access: Vec<Value> = store
        .list_user_consents(&user.id)?
        .into_iter()
        .map(|(client_id, scopes, at)| json!({ "client_id": client_id, "scopes": scopes, "granted_at": at }))
        .collect();
    // Passkeys: names and dates, never the public key material or counters.
    let passkeys: Vec<Value> = store
        .list_passkeys(&user.id)?
        .into_iter()
        .map(|k| {
            json!({ "name": k.name, "created_at": k.created_at, "last_used_at": k.last_used_at,
                    "synced": k.backup_eligible, "flagged_at": k.flagged_at })
        })
        .collect();
    // Second factors: whether an authenticator app is set up and how many recovery codes are left,
    // never the secret or the codes.
    let authenticator_app = store
        .find_totp(&user.id)?
        .map(|f| json!({ "created_at": f.created_at, "last_used_at": f.last_used_at }));
    let document = json!({
        "format": FORMAT,
        "exported_at": now(),
        "profile": user,
        "identities": store.list_identities(&user.id)?,
        "organizations": organizations,
        "consents": consents(&user.id)?,
        "app_access": app_access,
        "preferences": store.list_preferences(&user.id)?,
        "sessions": sessions,
        "passkeys": passkeys,
        "authenticator_app": authenticator_app,
        "recovery_codes_left": store.count_recovery_codes(&user.id)?,
        "audit_events": audit_events,
    });
    let event = AuditEvent::new(kind::DATA_EXPORTED, Outcome::Success, now())
        .origin(origin)
        .actor(actor)
        .subject(&user.id);
    crate::audit::log(&event);
    store.append_audit(&[event])?;
    Ok(Some(document))
}
