//! Organizations, their domains, roles, members and invitations.

use diesel::prelude::*;

use super::grants::revoke_grant_in;
use super::schema::{
    organization_domains as domains, organization_invitations as invitations,
    organization_members as members, organization_roles as roles, organizations as orgs,
    refresh_tokens as rt,
};
use super::{DbConnection, SqlStore};
use crate::store::{Invitation, Member, Organization, OrganizationStore, Role, StoreError};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = orgs)]
struct OrgRow {
    id: String,
    slug: String,
    name: String,
    connection_id: Option<String>,
    sso_required: bool,
    created_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = roles)]
struct RoleRow {
    organization_id: String,
    name: String,
    permissions: String,
    created_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = members)]
struct MemberRow {
    organization_id: String,
    user_id: String,
    roles: String,
    created_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
struct InvitationRow {
    id_hash: String,
    organization_id: String,
    email: String,
    roles: String,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    accepted_by: Option<String>,
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn organization(conn: &mut DbConnection, row: OrgRow) -> QueryResult<Organization> {
    let domains = domains::table
        .filter(domains::organization_id.eq(&row.id))
        .order(domains::domain.asc())
        .select(domains::domain)
        .load(conn)?;
    Ok(Organization {
        id: row.id,
        slug: row.slug,
        name: row.name,
        domains,
        connection_id: row.connection_id,
        sso_required: row.sso_required,
        created_at: row.created_at,
    })
}

fn member(r: MemberRow) -> Member {
    Member {
        organization_id: r.organization_id,
        user_id: r.user_id,
        roles: words(&r.roles),
        created_at: r.created_at,
    }
}

fn invitation(r: InvitationRow) -> Invitation {
    Invitation {
        id_hash: r.id_hash,
        organization_id: r.organization_id,
        email: r.email,
        roles: words(&r.roles),
        created_at: r.created_at,
        expires_at: r.expires_at,
        accepted_at: r.accepted_at,
        accepted_by: r.accepted_by,
    }
}

/// Revokes every grant of `user_id` (or of everyone, when `None`) made for this organization.
fn revoke_organization_grants(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: Option<&str>,
    now: i64,
) -> QueryResult<()> {
    let mut query = rt::table
        .filter(rt::organization_id.eq(organization_id))
        .filter(rt::revoked_at.is_null())
        .select(rt::grant_id)
        .distinct()
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(rt::user_id.eq(user_id.to_string()));
    }
    let grants: Vec<String> = query.load(conn)?;
    for grant in grants {
        revoke_grant_in(conn, &grant, now)?;
    }
    Ok(())
}

impl OrganizationStore for SqlStore {
    fn create_organization(&self, org: &Organization) -> Result<(), StoreError> {
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::insert_into(orgs::table)
                .values(OrgRow {
                    id: org.id.clone(),
                    slug: org.slug.clone(),
                    name: org.name.clone(),
                    connection_id: org.connection_id.clone(),
                    sso_required: org.sso_required,
                    created_at: org.created_at,
                })
                .execute(conn)?;
            for domain in &org.domains {
                diesel::insert_into(domains::table)
                    .values((
                        domains::domain.eq(domain.to_lowercase()),
                        domains::organization_id.eq(&org.id),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn find_organization(&self, id_or_slug: &str) -> Result<Option<Organization>, StoreError> {
        let conn = &mut *self.conn()?;
        let row = orgs::table
            .filter(orgs::id.eq(id_or_slug).or(orgs::slug.eq(id_or_slug)))
            .select(OrgRow::as_select())
            .first(conn)
            .optional()?;
        Ok(row.map(|r| organization(conn, r)).transpose()?)
    }

    fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        let conn = &mut *self.conn()?;
        let rows = orgs::table
            .order((orgs::created_at.asc(), orgs::id.asc()))
            .select(OrgRow::as_select())
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|r| organization(conn, r))
            .collect::<QueryResult<_>>()?)
    }

    fn add_organization_domain(&self, organization_id: &str, domain: &str) -> Result<(), StoreError> {
        diesel::insert_into(domains::table)
            .values((
                domains::domain.eq(domain.to_lowercase()),
                domains::organization_id.eq(organization_id),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn remove_organization_domain(&self, organization_id: &str, domain: &str) -> Result<bool, StoreError> {
        let n = diesel::delete(
            domains::table
                .find(domain.to_lowercase())
                .filter(domains::organization_id.eq(organization_id)),
        )
        .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn any_organization_sso_domain(&self) -> Result<bool, StoreError> {
        let conn = &mut *self.conn()?;
        let with_connection: Vec<String> = orgs::table
            .filter(orgs::connection_id.is_not_null())
            .select(orgs::id)
            .load(conn)?;
        if with_connection.is_empty() {
            return Ok(false);
        }
        let domain: Option<String> = domains::table
            .filter(domains::organization_id.eq_any(&with_connection))
            .select(domains::domain)
            .first(conn)
            .optional()?;
        Ok(domain.is_some())
    }

    fn find_organization_by_domain(&self, domain: &str) -> Result<Option<Organization>, StoreError> {
        let id: Option<String> = domains::table
            .find(domain.to_lowercase())
            .select(domains::organization_id)
            .first(&mut *self.conn()?)
            .optional()?;
        match id {
            Some(id) => self.find_organization(&id),
            None => Ok(None),
        }
    }

    fn delete_organization(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let n = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            revoke_organization_grants(conn, id, None, now)?;
            diesel::delete(invitations::table.filter(invitations::organization_id.eq(id))).execute(conn)?;
            diesel::delete(members::table.filter(members::organization_id.eq(id))).execute(conn)?;
            diesel::delete(roles::table.filter(roles::organization_id.eq(id))).execute(conn)?;
            diesel::delete(domains::table.filter(domains::organization_id.eq(id))).execute(conn)?;
            diesel::delete(orgs::table.find(id)).execute(conn)
        })?;
        Ok(n > 0)
    }

    fn save_role(&self, role: &Role) -> Result<(), StoreError> {
        let permissions = role.permissions.join(" ");
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let updated = diesel::update(roles::table.find((&role.organization_id, &role.name)))
                .set(roles::permissions.eq(&permissions))
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(roles::table)
                    .values(RoleRow {
                        organization_id: role.organization_id.clone(),
                        name: role.name.clone(),
                        permissions: permissions.clone(),
                        created_at: role.created_at,
                    })
                    .execute(conn)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn list_roles(&self, organization_id: &str) -> Result<Vec<Role>, StoreError> {
        let rows = roles::table
            .filter(roles::organization_id.eq(organization_id))
            .order(roles::name.asc())
            .select(RoleRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows
            .into_iter()
            .map(|r| Role {
                organization_id: r.organization_id,
                name: r.name,
                permissions: words(&r.permissions),
                created_at: r.created_at,
            })
            .collect())
    }

    fn save_member(&self, m: &Member) -> Result<(), StoreError> {
        let roles_text = m.roles.join(" ");
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let updated = diesel::update(members::table.find((&m.organization_id, &m.user_id)))
                .set(members::roles.eq(&roles_text))
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(members::table)
                    .values(MemberRow {
                        organization_id: m.organization_id.clone(),
                        user_id: m.user_id.clone(),
                        roles: roles_text.clone(),
                        created_at: m.created_at,
                    })
                    .execute(conn)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn find_member(&self, organization_id: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        let row = members::table
            .find((organization_id, user_id))
            .select(MemberRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(member))
    }

    fn list_members(&self, organization_id: &str) -> Result<Vec<Member>, StoreError> {
        let rows = members::table
            .filter(members::organization_id.eq(organization_id))
            .order((members::created_at.asc(), members::user_id.asc()))
            .select(MemberRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(member).collect())
    }

    fn list_memberships(&self, user_id: &str) -> Result<Vec<(Organization, Member)>, StoreError> {
        let conn = &mut *self.conn()?;
        let rows = members::table
            .filter(members::user_id.eq(user_id))
            .select(MemberRow::as_select())
            .load(conn)?;
        let mut all = Vec::new();
        for m in rows {
            let org = orgs::table
                .find(&m.organization_id)
                .select(OrgRow::as_select())
                .first(conn)?;
            all.push((organization(conn, org)?, member(m)));
        }
        all.sort_by(|a, b| a.0.slug.cmp(&b.0.slug));
        Ok(all)
    }

    fn remove_member(&self, organization_id: &str, user_id: &str, now: i64) -> Result<bool, StoreError> {
        let n = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let n = diesel::delete(members::table.find((organization_id, user_id))).execute(conn)?;
            revoke_organization_grants(conn, organization_id, Some(user_id), now)?;
            Ok(n)
        })?;
        Ok(n > 0)
    }

    fn create_invitation(&self, i: &Invitation) -> Result<(), StoreError> {
        diesel::insert_into(invitations::table)
            .values(InvitationRow {
                id_hash: i.id_hash.clone(),
                organization_id: i.organization_id.clone(),
                email: i.email.clone(),
                roles: i.roles.join(" "),
                created_at: i.created_at,
                expires_at: i.expires_at,
                accepted_at: None,
                accepted_by: None,
            })
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn find_invitation(&self, id_hash: &str) -> Result<Option<Invitation>, StoreError> {
        let row = invitations::table
            .find(id_hash)
            .select(InvitationRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(invitation))
    }

    fn accept_invitation(
        &self,
        id_hash: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Option<Invitation>, StoreError> {
        let accepted = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let claimed = diesel::update(
                invitations::table
                    .find(id_hash)
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::expires_at.gt(now)),
            )
            .set((
                invitations::accepted_at.eq(now),
                invitations::accepted_by.eq(user_id),
            ))
            .execute(conn)?;
            if claimed == 0 {
                return Ok(None);
            }
            let inv = invitation(
                invitations::table
                    .find(id_hash)
                    .select(InvitationRow::as_select())
                    .first(conn)?,
            );
            let existing: Option<String> = members::table
                .find((&inv.organization_id, user_id))
                .select(members::roles)
                .first(conn)
                .optional()?;
            match existing {
                Some(held) => {
                    let mut all = words(&held);
                    for r in &inv.roles {
                        if !all.contains(r) {
                            all.push(r.clone());
                        }
                    }
                    diesel::update(members::table.find((&inv.organization_id, user_id)))
                        .set(members::roles.eq(all.join(" ")))
                        .execute(conn)?;
                }
                None => {
                    diesel::insert_into(members::table)
                        .values(MemberRow {
                            organization_id: inv.organization_id.clone(),
                            user_id: user_id.to_string(),
                            roles: inv.roles.join(" "),
                            created_at: now,
                        })
                        .execute(conn)?;
                }
            }
            Ok(Some(inv))
        })?;
        Ok(accepted)
    }
}
