//! Organizations (B2B tenants): the operator use cases (create, roles, members, invitations), choosing
//! the organization of an authorization, and the organization claims of its tokens.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::admin::{AdminError, audit_in, find_user, normalise_email};
use super::{FlowError, Provider, now};
use crate::audit::kind;
use crate::crypto::{random_id, random_token, sha256_b64};
use crate::protocol::{ErrorCode, OAuthError, scope};
use crate::store::{Client, Invitation, Member, Organization, Role, Store, User};

/// The scopes that release organization claims (B2B).
pub const ORGANIZATION_SCOPE: &str = "organization";
pub const ROLES_SCOPE: &str = "roles";

/// How long an invitation link stays valid.
pub const INVITATION_TTL: i64 = 7 * 86_400;

fn invalid(msg: impl Into<String>) -> AdminError {
    AdminError::Invalid(msg.into())
}

#[derive(Debug, Default, Clone)]
pub struct NewOrganization {
    pub slug: String,
    pub name: String,
    pub domains: Vec<String>,
    pub connection_id: Option<String>,
    pub sso_required: bool,
}

fn valid_slug(slug: &str) -> bool {
    (2..=63).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
}

fn valid_domain(d: &str) -> bool {
    d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.len() <= 253
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

pub fn create(store: &dyn Store, actor: &str, new: NewOrganization) -> Result<Organization, AdminError> {
    let slug = new.slug.trim().to_lowercase();
    if !valid_slug(&slug) {
        return Err(invalid("the slug must be 2-63 characters of a-z, 0-9 and -"));
    }
    let name = new.name.trim().to_string();
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("the name must be 1-200 characters"));
    }
    let mut domains: Vec<String> = Vec::new();
    for d in new.domains {
        let d = d.trim().to_lowercase();
        if !valid_domain(&d) {
            return Err(invalid(format!("`{d}` is not an email domain")));
        }
        if let Some(other) = store.find_organization_by_domain(&d)? {
            return Err(invalid(format!(
                "the domain `{d}` belongs to the organization `{}`",
                other.slug
            )));
        }
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    if store.find_organization(&slug)?.is_some() {
        return Err(invalid(format!("the slug `{slug}` is taken")));
    }
    if new.sso_required && new.connection_id.is_none() {
        return Err(invalid("sso_required needs the organization's own connection"));
    }
    let org = Organization {
        id: format!("org_{}", random_id()),
        slug,
        name,
        domains,
        connection_id: new.connection_id,
        sso_required: new.sso_required,
        created_at: now(),
    };
    audit_in(
        store,
        actor,
        &org.id,
        kind::ORGANIZATION_CREATED,
        &org.id,
        json!({ "after": org }),
    )?;
    store.create_organization(&org)?;
    Ok(org)
}

pub fn find(store: &dyn Store, id_or_slug: &str) -> Result<Organization, AdminError> {
    store
        .find_organization(id_or_slug)?
        .ok_or_else(|| AdminError::NotFound(format!("no organization `{id_or_slug}`")))
}

pub fn delete(store: &dyn Store, actor: &str, id_or_slug: &str) -> Result<Organization, AdminError> {
    let org = find(store, id_or_slug)?;
    audit_in(
        store,
        actor,
        &org.id,
        kind::ORGANIZATION_DELETED,
        &org.id,
        json!({ "before": org }),
    )?;
    store.delete_organization(&org.id, now())?;
    store.delete_mfa_policy(crate::store::MfaOwner::Organization, &org.id)?;
    Ok(org)
}

/// Adds a verified email domain to an organization (a domain belongs to one organization only).
pub fn add_domain(
    store: &dyn Store,
    actor: &str,
    org: &str,
    domain: &str,
) -> Result<Organization, AdminError> {
    let org = find(store, org)?;
    let domain = domain.trim().to_lowercase();
    if !valid_domain(&domain) {
        return Err(invalid(format!("`{domain}` is not an email domain")));
    }
    if let Some(other) = store.find_organization_by_domain(&domain)? {
        return Err(invalid(format!(
            "the domain `{domain}` belongs to the organization `{}`",
            other.slug
        )));
    }
    audit_in(
        store,
        actor,
        &org.id,
        kind::DOMAIN_ADDED,
        &org.id,
        json!({ "domain": domain }),
    )?;
    store.add_organization_domain(&org.id, &domain)?;
    find(store, &org.id)
}

pub fn remove_domain(
    store: &dyn Store,
    actor: &str,
    org: &str,
    domain: &str,
) -> Result<Organization, AdminError> {
    let org = find(store, org)?;
    let domain = domain.trim().to_lowercase();
    if !org.domains.contains(&domain) {
        return Err(AdminError::NotFound(format!(
            "`{}` has no domain `{domain}`",
            org.slug
        )));
    }
    audit_in(
        store,
        actor,
        &org.id,
        kind::DOMAIN_REMOVED,
        &org.id,
        json!({ "domain": domain }),
    )?;
    store.remove_organization_domain(&org.id, &domain)?;
    find(store, &org.id)
}

/// Creates or replaces a role. Permissions are scope-like tokens (`invoices:read`).
pub fn save_role(
    store: &dyn Store,
    actor: &str,
    org: &str,
    name: &str,
    permissions: Vec<String>,
) -> Result<Role, AdminError> {
    let org = find(store, org)?;
    let name = name.trim().to_string();
    if name.is_empty() || name.len() > 64 || !scope::is_valid_token(&name) {
        return Err(invalid("a role name is 1-64 printable characters without spaces"));
    }
    let mut perms: Vec<String> = Vec::new();
    for p in permissions.iter().flat_map(|p| p.split_whitespace()) {
        if !scope::is_valid_token(p) || p.len() > 128 {
            return Err(invalid(format!("`{p}` is not a permission")));
        }
        if !perms.iter().any(|q| q == p) {
            perms.push(p.to_string());
        }
    }
    let role = Role {
        organization_id: org.id.clone(),
        name,
        permissions: perms,
        created_at: now(),
    };
    audit_in(
        store,
        actor,
        &org.id,
        kind::ROLE_SAVED,
        &org.id,
        json!({ "after": role }),
    )?;
    store.save_role(&role)?;
    Ok(role)
}

fn check_roles(store: &dyn Store, org: &Organization, roles: &[String]) -> Result<Vec<String>, AdminError> {
    let defined = store.list_roles(&org.id)?;
    let mut out: Vec<String> = Vec::new();
    for r in roles {
        if !defined.iter().any(|d| &d.name == r) {
            return Err(invalid(format!(
                "the organization `{}` has no role `{r}`",
                org.slug
            )));
        }
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

/// Adds a user (by id or email) to an organization with roles, or replaces their roles.
pub fn save_member(
    store: &dyn Store,
    actor: &str,
    org: &str,
    user: &str,
    roles: &[String],
) -> Result<Member, AdminError> {
    let org = find(store, org)?;
    let user = find_user(store, user)?;
    let roles = check_roles(store, &org, roles)?;
    let created_at = store
        .find_member(&org.id, &user.id)?
        .map(|m| m.created_at)
        .unwrap_or_else(now);
    let member = Member {
        organization_id: org.id.clone(),
        user_id: user.id.clone(),
        roles,
        created_at,
    };
    audit_in(
        store,
        actor,
        &org.id,
        kind::MEMBER_SAVED,
        &user.id,
        json!({ "after": member }),
    )?;
    store.save_member(&member)?;
    Ok(member)
}

/// Removes a member and revokes their grants for this organization.
pub fn remove_member(store: &dyn Store, actor: &str, org: &str, user: &str) -> Result<(), AdminError> {
    let org = find(store, org)?;
    let user = find_user(store, user)?;
    if store.find_member(&org.id, &user.id)?.is_none() {
        return Err(AdminError::NotFound(format!(
            "{} is not a member of `{}`",
            user.id, org.slug
        )));
    }
    audit_in(
        store,
        actor,
        &org.id,
        kind::MEMBER_REMOVED,
        &user.id,
        json!({ "before": { "organization_id": org.id, "user_id": user.id } }),
    )?;
    store.remove_member(&org.id, &user.id, now())?;
    Ok(())
}

/// An invitation: the link (with its single-use token) is shown once.
#[derive(Debug, Serialize)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    pub url: String,
}

pub fn invite(
    store: &dyn Store,
    actor: &str,
    issuer: &str,
    org: &str,
    email: &str,
    roles: &[String],
) -> Result<CreatedInvitation, AdminError> {
    let org = find(store, org)?;
    let email = normalise_email(email)?;
    let roles = check_roles(store, &org, roles)?;
    let token = random_token();
    let at = now();
    let invitation = Invitation {
        id_hash: sha256_b64(&token),
        organization_id: org.id.clone(),
        email,
        roles,
        created_at: at,
        expires_at: at + INVITATION_TTL,
        accepted_at: None,
        accepted_by: None,
    };
    audit_in(
        store,
        actor,
        &org.id,
        kind::INVITATION_CREATED,
        &org.id,
        // Audit records never hold an email address (README "Account portal": the anonymised trail).
        json!({ "after": { "organization_id": invitation.organization_id, "roles": invitation.roles,
                           "expires_at": invitation.expires_at } }),
    )?;
    store.create_invitation(&invitation)?;
    Ok(CreatedInvitation {
        invitation,
        url: format!("{issuer}/invitations/{token}"),
    })
}

/// What the authorization does about organizations, once the user is known.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// No organization context (no organization requested or held).
    None,
    Organization(String),
    /// The user belongs to several: they choose among these (id, name).
    Pick(Vec<(String, String)>),
    /// Not possible: answer the client with this error.
    Refuse(OAuthError),
}

/// OIDC-style selection: the `organization` parameter (id or slug) must name an organization the user
/// belongs to (and the client may serve); without it, a client asking for organization scopes gets the
/// user's only organization, or the user picks one.
pub fn choose(
    p: &Provider,
    requested: Option<&str>,
    scopes: &[String],
    client: &Client,
    user: &User,
) -> Result<Choice, FlowError> {
    let store = p.store.as_ref();
    let allowed =
        |org: &Organization| client.organizations.is_empty() || client.organizations.contains(&org.id);
    let refuse = |code: ErrorCode, msg: &'static str| Ok(Choice::Refuse(OAuthError::new(code, msg)));
    if let Some(wanted) = requested {
        let Some(org) = store.find_organization(wanted)? else {
            return refuse(ErrorCode::InvalidRequest, "unknown organization");
        };
        if store.find_member(&org.id, &user.id)?.is_none() {
            return refuse(
                ErrorCode::AccessDenied,
                "the user is not a member of this organization",
            );
        }
        if !allowed(&org) {
            return refuse(
                ErrorCode::AccessDenied,
                "this client may not be used with this organization",
            );
        }
        return Ok(Choice::Organization(org.id));
    }
    let wants_org = scope::contains(scopes, ORGANIZATION_SCOPE) || scope::contains(scopes, ROLES_SCOPE);
    if !wants_org {
        return Ok(Choice::None);
    }
    let mut orgs: Vec<Organization> = store
        .list_memberships(&user.id)?
        .into_iter()
        .map(|(o, _)| o)
        .filter(|o| allowed(o))
        .collect();
    match orgs.len() {
        0 if !client.organizations.is_empty() => refuse(
            ErrorCode::AccessDenied,
            "the user belongs to none of the organizations this client serves",
        ),
        0 => Ok(Choice::None),
        1 => Ok(Choice::Organization(orgs.remove(0).id)),
        _ => Ok(Choice::Pick(orgs.into_iter().map(|o| (o.id, o.name)).collect())),
    }
}

/// The organization claims for a grant's scopes, read now (so role changes show at the next refresh):
/// `organization` → `org_id`, `org_slug`, `org_name`; `roles` → `roles`, `permissions`.
pub fn claims_for(
    p: &Provider,
    user_id: &str,
    organization_id: Option<&str>,
    scopes: &[String],
) -> Result<Map<String, Value>, FlowError> {
    let mut claims = Map::new();
    let Some(org_id) = organization_id else {
        return Ok(claims);
    };
    let wants_org = scope::contains(scopes, ORGANIZATION_SCOPE);
    let wants_roles = scope::contains(scopes, ROLES_SCOPE);
    if !wants_org && !wants_roles {
        return Ok(claims);
    }
    let gone = || OAuthError::invalid_grant("the user is no longer a member of the organization");
    let org = p.store.find_organization(org_id)?.ok_or_else(gone)?;
    let member = p.store.find_member(org_id, user_id)?.ok_or_else(gone)?;
    if wants_org {
        claims.insert("org_id".into(), json!(org.id));
        claims.insert("org_slug".into(), json!(org.slug));
        claims.insert("org_name".into(), json!(org.name));
    }
    if wants_roles {
        let roles = p.store.list_roles(org_id)?;
        let mut permissions: Vec<&str> = Vec::new();
        for role in roles.iter().filter(|r| member.roles.contains(&r.name)) {
            for perm in &role.permissions {
                if !permissions.contains(&perm.as_str()) {
                    permissions.push(perm);
                }
            }
        }
        permissions.sort_unstable();
        claims.insert("roles".into(), json!(member.roles));
        claims.insert("permissions".into(), json!(permissions));
    }
    Ok(claims)
}

/// What the invitation page shows.
pub struct InvitationView {
    pub organization: String,
    pub email: String,
    pub roles: Vec<String>,
    /// The signed-in user's email, if signed in.
    pub signed_in_as: Option<String>,
}

fn open_invitation(p: &Provider, token: &str) -> Result<(Invitation, Organization), FlowError> {
    let gone = || {
        FlowError::page(
            "This invitation is not valid",
            "It was already used, has expired, or the link is incomplete. Ask for a new one.",
        )
    };
    let invitation = p
        .store
        .find_invitation(&sha256_b64(token))?
        .filter(|i| i.accepted_at.is_none() && i.expires_at > now())
        .ok_or_else(gone)?;
    let org = p
        .store
        .find_organization(&invitation.organization_id)?
        .ok_or_else(gone)?;
    Ok((invitation, org))
}

pub fn invitation(
    p: &Provider,
    token: &str,
    browser: &super::browser::Browser,
) -> Result<InvitationView, FlowError> {
    let (invitation, org) = open_invitation(p, token)?;
    let signed_in = super::browser::signed_in(p, browser)?;
    Ok(InvitationView {
        organization: org.name,
        email: invitation.email,
        roles: invitation.roles,
        signed_in_as: signed_in.map(|s| s.user.email),
    })
}

/// Sends a code to the invited address (signed out): it signs in the person who has an account there, or
/// creates a light account for them (with `name`, if given); then the invitation page opens again,
/// signed in, to be accepted. So an invitation works for people who have never been here.
pub fn request_invitation_code(
    p: &Provider,
    token: &str,
    name: &str,
    browser: &super::browser::Browser,
    origin: &crate::audit::Origin,
) -> Result<super::email_code::Requested, FlowError> {
    let (invitation, _) = open_invitation(p, token)?;
    let after = super::email_code::After {
        request_id: None,
        return_to: Some(format!("/invitations/{token}")),
    };
    super::email_code::request_for(p, Some(name), &invitation.email, &after, browser, origin)
}

/// Accepts an invitation for the signed-in user, whose email must be the one invited (a forwarded link
/// is useless to anyone else). Single use.
pub fn accept(
    p: &Provider,
    token: &str,
    browser: &super::browser::Browser,
    origin: &crate::audit::Origin,
) -> Result<String, FlowError> {
    let (invitation, org) = open_invitation(p, token)?;
    let s = super::browser::signed_in(p, browser)?
        .ok_or_else(|| FlowError::page("Sign in first", "Sign in to accept this invitation."))?;
    if !s.user.email.eq_ignore_ascii_case(&invitation.email) {
        return Err(FlowError::page(
            "This invitation is for someone else",
            "Sign in with the email address the invitation was sent to.",
        ));
    }
    p.store
        .accept_invitation(&invitation.id_hash, &s.user.id, now())?
        .ok_or_else(|| {
            FlowError::page(
                "This invitation is not valid",
                "It was already used or has expired.",
            )
        })?;
    p.auditor.record(
        crate::audit::AuditEvent::new(kind::INVITATION_ACCEPTED, crate::audit::Outcome::Success, now())
            .origin(origin)
            .actor(&s.user.id)
            .subject(&s.user.id)
            .organization(&org.id)
            .detail(json!({ "roles": invitation.roles })),
    )?;
    Ok(org.name)
}
