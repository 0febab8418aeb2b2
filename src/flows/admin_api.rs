//! The admin REST API's use cases: who is calling (an operator client with `gatehouse:admin`, or an
//! organization admin), tenant scoping (another organization answers exactly like one that does not
//! exist), and opaque, sealed pagination cursors. The operations are the same flows the CLI runs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::admin::AdminError;
use super::consents::documents::{self as consent_documents, DocumentListing, NewDocument, NewVersion};
use super::organizations::{self, CreatedInvitation, NewOrganization};
use super::userinfo::verify_access_token;
use super::{FlowError, Provider};
use crate::crypto::b64url;
use crate::protocol::scope;
use crate::store::{ConsentDocument, ConsentDocumentVersion, ConsentRecord, ConsentRecordFilter};
use crate::store::{Member, Organization, Role, StoreError};

/// The scope that makes a client an operator of the whole gateway (client_credentials only).
pub const ADMIN_SCOPE: &str = "gatehouse:admin";
/// Members holding this role in their organization administer that organization...
pub const ORG_ADMIN_ROLE: &str = "admin";
/// ...through a token the user granted this scope (with `organization`), so that an ordinary app's token
/// never carries admin power.
pub const ORG_ADMIN_SCOPE: &str = "gatehouse:org-admin";

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// A client acting for itself with the `gatehouse:admin` scope: everything.
    Operator { client_id: String },
    /// A member holding the organization's `admin` role, through a token carrying that organization.
    OrgAdmin {
        organization_id: String,
        user_id: String,
    },
}

impl Caller {
    /// The audit actor.
    pub fn actor(&self) -> String {
        match self {
            Caller::Operator { client_id } => format!("client:{client_id}"),
            Caller::OrgAdmin { user_id, .. } => format!("user:{user_id}"),
        }
    }

    fn sees(&self, org: &Organization) -> bool {
        match self {
            Caller::Operator { .. } => true,
            Caller::OrgAdmin { organization_id, .. } => &org.id == organization_id,
        }
    }

    fn require_operator(&self) -> Result<(), ApiError> {
        match self {
            Caller::Operator { .. } => Ok(()),
            Caller::OrgAdmin { .. } => Err(ApiError::Forbidden(
                "only an operator (gatehouse:admin) may do this".into(),
            )),
        }
    }
}

/// What the API answers instead of a result; the web layer renders RFC 9457 problems.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid admin access token is required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Flow(#[from] FlowError),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::Conflict(format!("already exists ({what})")),
            other => ApiError::Flow(other.into()),
        }
    }
}

/// Maps a flow refusal; `field` names what the request got wrong.
fn admin(field: &str) -> impl Fn(AdminError) -> ApiError + '_ {
    move |e| match e {
        AdminError::Invalid(message) => ApiError::invalid(field, message),
        AdminError::NotFound(_) => ApiError::NotFound,
        AdminError::Store(s) => s.into(),
    }
}

/// Authenticates the bearer token of an admin request.
pub fn caller(p: &Provider, token: &str) -> Result<Caller, ApiError> {
    let claims = verify_access_token(p, token)?.ok_or(ApiError::Unauthenticated)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
    let scopes = scope::parse(&text("scope").unwrap_or_default());
    let (sub, client_id) = (
        text("sub").unwrap_or_default(),
        text("client_id").unwrap_or_default(),
    );
    // client_credentials tokens are about the client itself and carry no user authentication.
    let is_client_token = sub == client_id && claims.get("auth_time").is_none();
    if is_client_token && scope::contains(&scopes, ADMIN_SCOPE) {
        // Read now: a deleted client, or one no longer allowed the scope, loses access at once.
        let still_allowed = p
            .store
            .find_client(&client_id)?
            .is_some_and(|c| c.scopes.iter().any(|s| s == ADMIN_SCOPE));
        if !still_allowed {
            return Err(ApiError::Unauthenticated);
        }
        return Ok(Caller::Operator { client_id });
    }
    let org_admin_token = !is_client_token && scope::contains(&scopes, ORG_ADMIN_SCOPE);
    if let Some(org_id) = text("org_id").filter(|_| org_admin_token) {
        // Read now: a removed admin loses access at once, whatever the token says.
        let member = p.store.find_member(&org_id, &sub)?;
        if member.is_some_and(|m| m.roles.iter().any(|r| r == ORG_ADMIN_ROLE)) {
            return Ok(Caller::OrgAdmin {
                organization_id: org_id,
                user_id: sub,
            });
        }
    }
    Err(ApiError::Forbidden(
        "this token does not administer anything: use a gatehouse:admin client or an organization admin"
            .into(),
    ))
}

/// One page of a list, and the cursor of the next one.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Cursors are sealed (AEAD) and bound to the list they came from: one from another list or
/// organization, or edited, does not open.
fn seal_cursor(p: &Provider, list: &str, offset: usize) -> String {
    b64url(&p.sealer.seal(offset.to_string().as_bytes(), list.as_bytes()))
}

fn open_cursor(p: &Provider, list: &str, cursor: Option<&str>) -> Result<usize, ApiError> {
    let Some(cursor) = cursor else { return Ok(0) };
    use base64::Engine;
    let bad = || ApiError::invalid("cursor", "the cursor is not valid for this list");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let plain = p.sealer.open(&bytes, list.as_bytes()).ok_or_else(bad)?;
    std::str::from_utf8(&plain)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)
}

fn page<T>(
    p: &Provider,
    list: &str,
    all: Vec<T>,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Page<T>, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit must be 1 to 200"));
    }
    let start = open_cursor(p, list, cursor)?;
    let total = all.len();
    let items: Vec<T> = all.into_iter().skip(start).take(limit).collect();
    let next = start + items.len();
    Ok(Page {
        next_cursor: (next < total).then(|| seal_cursor(p, list, next)),
        items,
    })
}

/// The organization the caller may see, or `NotFound` (exactly as for one that does not exist).
fn visible(p: &Provider, caller: &Caller, org: &str) -> Result<Organization, ApiError> {
    match p.store.find_organization(org)? {
        Some(o) if caller.sees(&o) => Ok(o),
        _ => Err(ApiError::NotFound),
    }
}

pub fn list_organizations(
    p: &Provider,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Page<Organization>, ApiError> {
    let all: Vec<Organization> = p
        .store
        .list_organizations()?
        .into_iter()
        .filter(|o| caller.sees(o))
        .collect();
    page(
        p,
        &format!("organizations:{}", caller.actor()),
        all,
        cursor,
        limit,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationBody {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub sso_required: bool,
}

pub fn create_organization(
    p: &Provider,
    caller: &Caller,
    body: OrganizationBody,
) -> Result<Organization, ApiError> {
    caller.require_operator()?;
    if let Some(connection) = &body.connection {
        if super::upstreams::find(p, connection)?.is_none() {
            return Err(ApiError::invalid(
                "connection",
                format!("no upstream connection `{connection}`"),
            ));
        }
    }
    organizations::create(
        p.store.as_ref(),
        &caller.actor(),
        NewOrganization {
            slug: body.slug,
            name: body.name,
            domains: body.domains,
            connection_id: body.connection,
            sso_required: body.sso_required,
        },
    )
    .map_err(|e| match e {
        AdminError::Invalid(message) => {
            let field = ["slug", "name", "domain", "sso_required"]
                .into_iter()
                .find(|f| message.contains(f))
                .map(|f| if f == "domain" { "domains" } else { f })
                .unwrap_or("body");
            ApiError::invalid(field, message)
        }
        other => admin("body")(other),
    })
}

pub fn get_organization(p: &Provider, caller: &Caller, org: &str) -> Result<Organization, ApiError> {
    visible(p, caller, org)
}

pub fn delete_organization(p: &Provider, caller: &Caller, org: &str) -> Result<(), ApiError> {
    let org = visible(p, caller, org)?;
    caller.require_operator()?;
    organizations::delete(p.store.as_ref(), &caller.actor(), &org.id).map_err(admin("organization"))?;
    Ok(())
}

pub fn list_roles(p: &Provider, caller: &Caller, org: &str) -> Result<Vec<Role>, ApiError> {
    let org = visible(p, caller, org)?;
    Ok(p.store.list_roles(&org.id)?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub permissions: Vec<String>,
}

/// Role names under `gatehouse:` are reserved: an organization admin may not create or grant them.
fn reserved(role: &str) -> bool {
    role.starts_with("gatehouse:")
}

pub fn put_role(
    p: &Provider,
    caller: &Caller,
    org: &str,
    name: &str,
    body: RoleBody,
) -> Result<Role, ApiError> {
    let org = visible(p, caller, org)?;
    if reserved(name) {
        return Err(ApiError::Forbidden(format!("`{name}` is a reserved role name")));
    }
    organizations::save_role(p.store.as_ref(), &caller.actor(), &org.id, name, body.permissions)
        .map_err(admin("permissions"))
}

pub fn list_members(
    p: &Provider,
    caller: &Caller,
    org: &str,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Page<Member>, ApiError> {
    let org = visible(p, caller, org)?;
    let all = p.store.list_members(&org.id)?;
    page(p, &format!("members:{}", org.id), all, cursor, limit)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    pub roles: Vec<String>,
}

/// Organization admins grant only their organization's roles: anything else (a reserved global name,
/// or a role this organization does not define) is forbidden, not merely invalid.
pub fn put_member(
    p: &Provider,
    caller: &Caller,
    org: &str,
    user: &str,
    body: MemberBody,
) -> Result<Member, ApiError> {
    let org = visible(p, caller, org)?;
    if let Caller::OrgAdmin { .. } = caller {
        let defined = p.store.list_roles(&org.id)?;
        let foreign = body
            .roles
            .iter()
            .find(|r| reserved(r) || !defined.iter().any(|d| &d.name == *r));
        if let Some(role) = foreign {
            return Err(ApiError::Forbidden(format!(
                "`{role}` is not a role of this organization"
            )));
        }
    }
    if p.store.find_user(user)?.is_none() {
        return Err(ApiError::NotFound);
    }
    organizations::save_member(p.store.as_ref(), &caller.actor(), &org.id, user, &body.roles)
        .map_err(admin("roles"))
}

pub fn delete_member(p: &Provider, caller: &Caller, org: &str, user: &str) -> Result<(), ApiError> {
    let org = visible(p, caller, org)?;
    if p.store.find_member(&org.id, user)?.is_none() {
        return Err(ApiError::NotFound);
    }
    organizations::remove_member(p.store.as_ref(), &caller.actor(), &org.id, user).map_err(admin("user"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationBody {
    pub email: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

pub fn invite(
    p: &Provider,
    caller: &Caller,
    org: &str,
    body: InvitationBody,
) -> Result<CreatedInvitation, ApiError> {
    let org = visible(p, caller, org)?;
    if let Some(role) = body.roles.iter().find(|r| reserved(r)) {
        return Err(ApiError::Forbidden(format!("`{role}` is a reserved role name")));
    }
    organizations::invite(
        p.store.as_ref(),
        &caller.actor(),
        p.issuer(),
        &org.id,
        &body.email,
        &body.roles,
    )
    .map_err(admin("email"))
}

// ---- Operator-only resources: users, clients, sessions; and the audit log (scoped for org admins).

fn admin_any(e: AdminError) -> ApiError {
    admin("body")(e)
}

pub fn list_users(
    p: &Provider,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Page<crate::store::User>, ApiError> {
    caller.require_operator()?;
    page(p, "users", p.store.list_users()?, cursor, limit)
}

pub fn get_user(p: &Provider, caller: &Caller, id: &str) -> Result<crate::store::User, ApiError> {
    caller.require_operator()?;
    p.store.find_user(id)?.ok_or(ApiError::NotFound)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
}

pub fn create_user(p: &Provider, caller: &Caller, body: UserBody) -> Result<crate::store::User, ApiError> {
    caller.require_operator()?;
    super::admin::create_user_as(
        &caller.actor(),
        p.store.as_ref(),
        super::admin::NewUser {
            email: body.email,
            name: body.name,
            password: None,
            email_verified: body.email_verified,
        },
    )
    .map_err(admin("email"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    #[serde(default)]
    pub name: Option<String>,
    /// `field → value` as for `gatehouse user update --set` (empty clears).
    #[serde(default)]
    pub set: std::collections::BTreeMap<String, String>,
}

pub fn update_user(
    p: &Provider,
    caller: &Caller,
    id: &str,
    body: ProfileBody,
) -> Result<crate::store::User, ApiError> {
    caller.require_operator()?;
    if p.store.find_user(id)?.is_none() {
        return Err(ApiError::NotFound);
    }
    super::admin::update_profile_as(
        &caller.actor(),
        p.store.as_ref(),
        id,
        super::admin::ProfileUpdate {
            name: body.name,
            fields: body.set.into_iter().collect(),
        },
    )
    .map_err(admin("set"))
}

pub fn delete_user(p: &Provider, caller: &Caller, id: &str) -> Result<(), ApiError> {
    caller.require_operator()?;
    if p.store.find_user(id)?.is_none() {
        return Err(ApiError::NotFound);
    }
    super::admin::delete_user_as(&caller.actor(), p.store.as_ref(), id).map_err(admin_any)?;
    Ok(())
}

/// A session as the API shows it (never the cookie, which is not stored, nor its hash).
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// An opaque reference for `DELETE /users/{user}/sessions/{id}`: the id hash sealed for this
    /// user. It changes when a remembered session's cookie is rotated.
    pub id: String,
    pub auth_time: i64,
    pub amr: String,
    pub idp: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// "Keep me signed in" was chosen.
    pub persistent: bool,
    pub last_seen_at: i64,
    /// "Firefox on Linux", or empty.
    pub device: String,
}

pub fn list_sessions(p: &Provider, caller: &Caller, user: &str) -> Result<Vec<SessionView>, ApiError> {
    caller.require_operator()?;
    if p.store.find_user(user)?.is_none() {
        return Err(ApiError::NotFound);
    }
    user_sessions(p.store.as_ref(), &p.sealer, &p.settings.sessions, user)
}

fn session_ref_aad(user: &str) -> Vec<u8> {
    format!("admin-session-ref:{user}").into_bytes()
}

/// A user's sessions for operators (the admin API and the CLI): complete, not idle, newest first.
pub fn user_sessions(
    store: &dyn crate::store::Store,
    sealer: &crate::crypto::Sealer,
    settings: &crate::config::SessionSettings,
    user: &str,
) -> Result<Vec<SessionView>, ApiError> {
    let at = super::now();
    Ok(store
        .list_sessions(user, at)?
        .into_iter()
        .filter(|s| super::browser::is_listed(settings, s, at))
        .map(|s| SessionView {
            id: b64url(&sealer.seal(s.id_hash.as_bytes(), &session_ref_aad(user))),
            auth_time: s.auth_time,
            amr: s.amr,
            idp: s.idp,
            created_at: s.created_at,
            expires_at: s.expires_at,
            persistent: s.persistent,
            last_seen_at: s.last_seen_at,
            device: s.user_agent,
        })
        .collect())
}

pub fn revoke_session(p: &Provider, caller: &Caller, user: &str, reference: &str) -> Result<(), ApiError> {
    caller.require_operator()?;
    end_user_session(p.store.as_ref(), &p.sealer, &caller.actor(), user, reference)
}

/// Ends one session of a user, named by its reference from `user_sessions` (audited). A reference that
/// does not open, belongs to another user or names an ended session is `NotFound`.
pub fn end_user_session(
    store: &dyn crate::store::Store,
    sealer: &crate::crypto::Sealer,
    actor: &str,
    user: &str,
    reference: &str,
) -> Result<(), ApiError> {
    use base64::Engine;
    let id_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(reference)
        .ok()
        .and_then(|sealed| sealer.open(&sealed, &session_ref_aad(user)))
        .and_then(|plain| String::from_utf8(plain).ok())
        .ok_or(ApiError::NotFound)?;
    let session = store
        .find_session(&id_hash, super::now())?
        .filter(|s| s.user_id == user)
        .ok_or(ApiError::NotFound)?;
    store.append_audit(&[crate::audit::AuditEvent::new(
        crate::audit::kind::SESSION_REVOKED,
        crate::audit::Outcome::Success,
        super::now(),
    )
    .actor(actor)
    .subject(user)])?;
    store.delete_session(&session.id_hash)?;
    Ok(())
}

pub fn revoke_sessions(p: &Provider, caller: &Caller, user: &str) -> Result<usize, ApiError> {
    caller.require_operator()?;
    if p.store.find_user(user)?.is_none() {
        return Err(ApiError::NotFound);
    }
    end_all_user_sessions(p.store.as_ref(), &caller.actor(), user)
}

/// Ends every session of a user (audited); returns how many there were.
pub fn end_all_user_sessions(
    store: &dyn crate::store::Store,
    actor: &str,
    user: &str,
) -> Result<usize, ApiError> {
    store.append_audit(&[crate::audit::AuditEvent::new(
        crate::audit::kind::SESSIONS_REVOKED,
        crate::audit::Outcome::Success,
        super::now(),
    )
    .actor(actor)
    .subject(user)])?;
    Ok(store.delete_sessions(user)?)
}

pub fn list_clients(
    p: &Provider,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Page<crate::store::Client>, ApiError> {
    caller.require_operator()?;
    page(p, "clients", p.store.list_clients()?, cursor, limit)
}

pub fn get_client(p: &Provider, caller: &Caller, id: &str) -> Result<crate::store::Client, ApiError> {
    caller.require_operator()?;
    p.store.find_client(id)?.ok_or(ApiError::NotFound)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub id_token_alg: Option<String>,
    #[serde(default)]
    pub skip_consent: bool,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub organizations: Vec<String>,
}

pub fn create_client(
    p: &Provider,
    caller: &Caller,
    body: ClientBody,
) -> Result<super::admin::CreatedClient, ApiError> {
    caller.require_operator()?;
    super::admin::create_client_as(
        &caller.actor(),
        p.store.as_ref(),
        super::admin::NewClient {
            name: body.name,
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            public: body.public,
            grant_types: body.grant_types,
            scopes: body.scopes,
            id_token_alg: body.id_token_alg,
            skip_consent: body.skip_consent,
            id: None,
            secret: None,
            allowed_origins: body.allowed_origins,
            organizations: body.organizations,
        },
    )
    .map_err(admin("body"))
}

pub fn get_client_policy(
    p: &Provider,
    caller: &Caller,
    id: &str,
) -> Result<crate::store::ClientPolicy, ApiError> {
    caller.require_operator()?;
    super::client_policy::show(p.store.as_ref(), id).map_err(admin("client"))
}

pub fn update_client_policy(
    p: &Provider,
    caller: &Caller,
    id: &str,
    change: super::client_policy::PolicyChange,
) -> Result<crate::store::ClientPolicy, ApiError> {
    caller.require_operator()?;
    super::client_policy::update_as(&caller.actor(), p.store.as_ref(), id, change).map_err(admin("body"))
}

/// Removes every second factor of a user who lost them, and ends their sessions (operators).
pub fn reset_factors(p: &Provider, caller: &Caller, user_id: &str) -> Result<(), ApiError> {
    caller.require_operator()?;
    if p.store.find_user(user_id)?.is_none() {
        return Err(ApiError::NotFound);
    }
    super::factors::reset_all(p.store.as_ref(), &caller.actor(), user_id)?;
    Ok(())
}

pub fn get_client_mfa(p: &Provider, caller: &Caller, id: &str) -> Result<crate::store::MfaPolicy, ApiError> {
    caller.require_operator()?;
    super::mfa_policy::show(p.store.as_ref(), crate::store::MfaOwner::Client, id).map_err(admin("client"))
}

pub fn update_client_mfa(
    p: &Provider,
    caller: &Caller,
    id: &str,
    change: super::mfa_policy::MfaPolicyChange,
) -> Result<crate::store::MfaPolicy, ApiError> {
    caller.require_operator()?;
    super::mfa_policy::update_as(
        &caller.actor(),
        p.store.as_ref(),
        crate::store::MfaOwner::Client,
        id,
        change,
    )
    .map_err(admin("body"))
}

/// An organization's MFA policy: its admins may read and change it, like its roles.
pub fn get_organization_mfa(
    p: &Provider,
    caller: &Caller,
    org: &str,
) -> Result<crate::store::MfaPolicy, ApiError> {
    let org = visible(p, caller, org)?;
    super::mfa_policy::show(p.store.as_ref(), crate::store::MfaOwner::Organization, &org.id)
        .map_err(admin("organization"))
}

pub fn update_organization_mfa(
    p: &Provider,
    caller: &Caller,
    org: &str,
    change: super::mfa_policy::MfaPolicyChange,
) -> Result<crate::store::MfaPolicy, ApiError> {
    let org = visible(p, caller, org)?;
    super::mfa_policy::update_as(
        &caller.actor(),
        p.store.as_ref(),
        crate::store::MfaOwner::Organization,
        &org.id,
        change,
    )
    .map_err(admin("body"))
}

pub fn delete_client(p: &Provider, caller: &Caller, id: &str) -> Result<(), ApiError> {
    caller.require_operator()?;
    if p.store.find_client(id)?.is_none() {
        return Err(ApiError::NotFound);
    }
    super::admin::delete_client_as(&caller.actor(), p.store.as_ref(), id).map_err(admin_any)
}

/// The audit log in order; an organization admin sees only their organization's records.
pub fn audit_log(
    p: &Provider,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Page<crate::audit::AuditRecord>, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit must be 1 to 1000"));
    }
    let list = format!("audit:{}", caller.actor());
    let after = open_cursor(p, &list, cursor)? as i64;
    let records = match caller {
        Caller::Operator { .. } => p.store.audit_page(after, limit as i64)?,
        Caller::OrgAdmin { organization_id, .. } => {
            p.store.audit_page_for(organization_id, after, limit as i64)?
        }
    };
    let next_cursor = (records.len() == limit)
        .then(|| records.last().map(|r| seal_cursor(p, &list, r.seq as usize)))
        .flatten();
    Ok(Page {
        items: records,
        next_cursor,
    })
}

pub fn add_domain(p: &Provider, caller: &Caller, org: &str, domain: &str) -> Result<Organization, ApiError> {
    let org = visible(p, caller, org)?;
    // Domains decide where people sign in (home-realm discovery, SSO-required): operators only.
    caller.require_operator()?;
    organizations::add_domain(p.store.as_ref(), &caller.actor(), &org.id, domain).map_err(admin("domain"))
}

pub fn remove_domain(
    p: &Provider,
    caller: &Caller,
    org: &str,
    domain: &str,
) -> Result<Organization, ApiError> {
    let org = visible(p, caller, org)?;
    caller.require_operator()?;
    organizations::remove_domain(p.store.as_ref(), &caller.actor(), &org.id, domain).map_err(admin("domain"))
}

/// An upstream connection as the API shows it: its spec (secrets redacted by its serializer), where it
/// is declared, and the callback URL to register at the provider.
#[derive(Debug, Serialize)]
pub struct UpstreamView {
    #[serde(flatten)]
    pub spec: crate::upstream::UpstreamSpec,
    pub callback_url: String,
    pub source: &'static str,
}

fn upstream_view(p: &Provider, c: crate::upstream::Connection) -> UpstreamView {
    let source = if super::upstreams::is_from_config(&p.settings, c.id()) {
        "config"
    } else {
        "database"
    };
    UpstreamView {
        spec: c.spec,
        callback_url: c.callback_url,
        source,
    }
}

pub fn list_upstreams(p: &Provider, caller: &Caller) -> Result<Vec<UpstreamView>, ApiError> {
    caller.require_operator()?;
    Ok(super::upstreams::list(p)?
        .into_iter()
        .map(|c| upstream_view(p, c))
        .collect())
}

pub fn get_upstream(p: &Provider, caller: &Caller, id: &str) -> Result<UpstreamView, ApiError> {
    caller.require_operator()?;
    let conn = super::upstreams::find(p, id)?.ok_or(ApiError::NotFound)?;
    Ok(upstream_view(p, conn))
}

pub fn create_upstream(
    p: &Provider,
    caller: &Caller,
    spec: crate::upstream::UpstreamSpec,
) -> Result<UpstreamView, ApiError> {
    caller.require_operator()?;
    if super::upstreams::find(p, &spec.id)?.is_some() {
        return Err(ApiError::Conflict(format!("the connection `{}` exists", spec.id)));
    }
    match super::upstreams::create((p).into(), spec) {
        Ok(conn) => Ok(upstream_view(p, conn)),
        Err(FlowError::Page { message, .. }) => Err(ApiError::invalid("body", message)),
        Err(e) => Err(e.into()),
    }
}

pub fn delete_upstream(p: &Provider, caller: &Caller, id: &str) -> Result<(), ApiError> {
    caller.require_operator()?;
    if super::upstreams::is_from_config(&p.settings, id) {
        return Err(ApiError::Conflict(format!(
            "`{id}` is declared in the config file; remove it there"
        )));
    }
    if !super::upstreams::delete(p.store.as_ref(), id)? {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

// ---- Consent documents and records (operators only; README "Consent").

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentDocumentBody {
    pub id: String,
    pub title: String,
    pub purpose: String,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentVersionBody {
    pub url: String,
    pub summary: String,
    #[serde(default)]
    pub reconsent_required: bool,
}

/// Names the field a consent refusal is about (its message starts with it).
fn consent_field(e: AdminError) -> ApiError {
    let field = match &e {
        AdminError::Invalid(m) if m.starts_with("a marketing document") => "required",
        AdminError::Invalid(m) => ["id", "title", "purpose", "url", "summary"]
            .into_iter()
            .find(|f| m.starts_with(f))
            .unwrap_or("body"),
        _ => "body",
    };
    admin(field)(e)
}

pub fn list_consent_documents(
    p: &Provider,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Page<DocumentListing>, ApiError> {
    caller.require_operator()?;
    let all = consent_documents::list(p.store.as_ref()).map_err(admin_any)?;
    page(p, "consent-documents", all, cursor, limit)
}

pub fn get_consent_document(p: &Provider, caller: &Caller, id: &str) -> Result<DocumentListing, ApiError> {
    caller.require_operator()?;
    consent_documents::find(p.store.as_ref(), id).map_err(admin_any)
}

pub fn create_consent_document(
    p: &Provider,
    caller: &Caller,
    body: ConsentDocumentBody,
) -> Result<ConsentDocument, ApiError> {
    caller.require_operator()?;
    let new = NewDocument {
        id: body.id,
        title: body.title,
        purpose: body.purpose,
        required: body.required,
    };
    consent_documents::create(p.store.as_ref(), &caller.actor(), new).map_err(consent_field)
}

pub fn publish_consent_version(
    p: &Provider,
    caller: &Caller,
    id: &str,
    body: ConsentVersionBody,
) -> Result<ConsentDocumentVersion, ApiError> {
    caller.require_operator()?;
    let new = NewVersion {
        url: body.url,
        summary: body.summary,
        reconsent_required: body.reconsent_required,
    };
    consent_documents::publish(p.store.as_ref(), &caller.actor(), id, new).map_err(consent_field)
}

/// Consent records in order, optionally of one user and/or one document; the cursor is sealed and
/// bound to the filter.
pub fn list_consent_records(
    p: &Provider,
    caller: &Caller,
    filter: ConsentRecordFilter,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Result<Page<ConsentRecord>, ApiError> {
    caller.require_operator()?;
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit must be 1 to 200"));
    }
    if let Some(document) = &filter.document_id {
        if p.store.find_consent_document(document)?.is_none() {
            return Err(ApiError::invalid(
                "document",
                format!("no consent document `{document}`"),
            ));
        }
    }
    let list = format!(
        "consent-records:{}:{}",
        filter.user_id.as_deref().unwrap_or("*"),
        filter.document_id.as_deref().unwrap_or("*")
    );
    let after = open_cursor(p, &list, cursor)? as i64;
    let items = p.store.list_consent_records(&filter, after, limit as i64)?;
    let next_cursor = (items.len() == limit)
        .then(|| items.last().map(|r| seal_cursor(p, &list, r.id as usize)))
        .flatten();
    Ok(Page { items, next_cursor })
}
