//! Upstream connections, linked identities, and the single-use state of federated sign-ins.

use diesel::prelude::*;

use super::rows::UserRow;
use super::schema::{
    link_proofs, upstream_connections, upstream_domains, upstream_states, user_identities, users,
};
use super::{DbConnection, SqlStore};
use crate::store::{
    FederationStateStore, Identity, IdentityStore, LinkProof, StoreError, StoredUpstream, UpstreamState,
    UpstreamStore, User,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = upstream_connections)]
struct UpstreamRow {
    id: String,
    spec: String,
    secrets: Vec<u8>,
    created_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = user_identities)]
struct IdentityRow {
    connection_id: String,
    subject: String,
    user_id: String,
    email: Option<String>,
    created_at: i64,
    last_used_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = upstream_states)]
struct StateRow {
    state_hash: String,
    browser_hash: String,
    connection_id: String,
    purpose: String,
    secrets: Vec<u8>,
    created_at: i64,
    expires_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = link_proofs)]
struct ProofRow {
    id_hash: String,
    browser_hash: String,
    connection_id: String,
    subject: String,
    user_id: String,
    email: Option<String>,
    request_id: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl From<&Identity> for IdentityRow {
    fn from(i: &Identity) -> Self {
        Self {
            connection_id: i.connection_id.clone(),
            subject: i.subject.clone(),
            user_id: i.user_id.clone(),
            email: i.email.clone(),
            created_at: i.created_at,
            last_used_at: i.last_used_at,
        }
    }
}

impl From<IdentityRow> for Identity {
    fn from(r: IdentityRow) -> Self {
        Self {
            connection_id: r.connection_id,
            subject: r.subject,
            user_id: r.user_id,
            email: r.email,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

fn with_domains(conn: &mut DbConnection, row: UpstreamRow) -> QueryResult<StoredUpstream> {
    let domains = upstream_domains::table
        .filter(upstream_domains::connection_id.eq(&row.id))
        .order(upstream_domains::domain.asc())
        .select(upstream_domains::domain)
        .load(conn)?;
    Ok(StoredUpstream {
        id: row.id,
        spec: row.spec,
        secrets: row.secrets,
        domains,
        created_at: row.created_at,
    })
}

impl UpstreamStore for SqlStore {
    fn create_upstream(&self, u: &StoredUpstream) -> Result<(), StoreError> {
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::insert_into(upstream_connections::table)
                .values(UpstreamRow {
                    id: u.id.clone(),
                    spec: u.spec.clone(),
                    secrets: u.secrets.clone(),
                    created_at: u.created_at,
                })
                .execute(conn)?;
            for domain in &u.domains {
                diesel::insert_into(upstream_domains::table)
                    .values((
                        upstream_domains::domain.eq(domain.to_lowercase()),
                        upstream_domains::connection_id.eq(&u.id),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn find_upstream(&self, id: &str) -> Result<Option<StoredUpstream>, StoreError> {
        let conn = &mut *self.conn()?;
        let row = upstream_connections::table
            .find(id)
            .select(UpstreamRow::as_select())
            .first(conn)
            .optional()?;
        Ok(row.map(|r| with_domains(conn, r)).transpose()?)
    }

    fn list_upstreams(&self) -> Result<Vec<StoredUpstream>, StoreError> {
        let conn = &mut *self.conn()?;
        let rows = upstream_connections::table
            .order(upstream_connections::created_at.asc())
            .select(UpstreamRow::as_select())
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|r| with_domains(conn, r))
            .collect::<QueryResult<_>>()?)
    }

    fn delete_upstream(&self, id: &str) -> Result<bool, StoreError> {
        let n = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::delete(user_identities::table.filter(user_identities::connection_id.eq(id)))
                .execute(conn)?;
            diesel::delete(upstream_domains::table.filter(upstream_domains::connection_id.eq(id)))
                .execute(conn)?;
            diesel::delete(upstream_connections::table.find(id)).execute(conn)
        })?;
        Ok(n > 0)
    }

    fn find_upstream_by_domain(&self, domain: &str) -> Result<Option<String>, StoreError> {
        Ok(upstream_domains::table
            .find(domain.to_lowercase())
            .select(upstream_domains::connection_id)
            .first(&mut *self.conn()?)
            .optional()?)
    }
}

impl IdentityStore for SqlStore {
    fn find_identity(&self, connection_id: &str, subject: &str) -> Result<Option<Identity>, StoreError> {
        let row = user_identities::table
            .find((connection_id, subject))
            .select(IdentityRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(Identity::from))
    }

    fn list_identities(&self, user_id: &str) -> Result<Vec<Identity>, StoreError> {
        let rows = user_identities::table
            .filter(user_identities::user_id.eq(user_id))
            .order(user_identities::created_at.asc())
            .select(IdentityRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(Identity::from).collect())
    }

    fn link_identity(&self, identity: &Identity) -> Result<(), StoreError> {
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::insert_into(user_identities::table)
                .values(IdentityRow::from(identity))
                .execute(conn)?;
            // A linked provider is a way to sign in beyond email codes: the account is full now.
            diesel::update(users::table.find(&identity.user_id))
                .set(users::level.eq(crate::store::IdentityLevel::Full.as_str()))
                .execute(conn)?;
            Ok(())
        })?;
        Ok(())
    }

    fn create_user_with_identity(&self, user: &User, identity: &Identity) -> Result<(), StoreError> {
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::insert_into(users::table)
                .values(UserRow::from(user))
                .execute(conn)?;
            diesel::insert_into(user_identities::table)
                .values(IdentityRow::from(identity))
                .execute(conn)?;
            Ok(())
        })?;
        Ok(())
    }

    fn touch_identity(
        &self,
        connection_id: &str,
        subject: &str,
        email: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        diesel::update(user_identities::table.find((connection_id, subject)))
            .set((
                user_identities::last_used_at.eq(now),
                user_identities::email.eq(email),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn unlink_identity(&self, user_id: &str, connection_id: &str, subject: &str) -> Result<bool, StoreError> {
        let n = diesel::delete(
            user_identities::table
                .find((connection_id, subject))
                .filter(user_identities::user_id.eq(user_id)),
        )
        .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }
}

impl FederationStateStore for SqlStore {
    fn create_upstream_state(&self, s: &UpstreamState) -> Result<(), StoreError> {
        diesel::insert_into(upstream_states::table)
            .values(StateRow {
                state_hash: s.state_hash.clone(),
                browser_hash: s.browser_hash.clone(),
                connection_id: s.connection_id.clone(),
                purpose: s.purpose.clone(),
                secrets: s.secrets.clone(),
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn take_upstream_state(
        &self,
        state_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<UpstreamState>, StoreError> {
        let row = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let target = upstream_states::table
                .find(state_hash)
                .filter(upstream_states::browser_hash.eq(browser_hash))
                .filter(upstream_states::expires_at.gt(now));
            let Some(row) = target.select(StateRow::as_select()).first(conn).optional()? else {
                return Ok(None);
            };
            // Only the caller whose delete removed the row owns it.
            let deleted = diesel::delete(target).execute(conn)?;
            Ok((deleted == 1).then_some(row))
        })?;
        Ok(row.map(|r| UpstreamState {
            state_hash: r.state_hash,
            browser_hash: r.browser_hash,
            connection_id: r.connection_id,
            purpose: r.purpose,
            secrets: r.secrets,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }))
    }

    fn create_link_proof(&self, p: &LinkProof) -> Result<(), StoreError> {
        diesel::insert_into(link_proofs::table)
            .values(ProofRow {
                id_hash: p.id_hash.clone(),
                browser_hash: p.browser_hash.clone(),
                connection_id: p.connection_id.clone(),
                subject: p.subject.clone(),
                user_id: p.user_id.clone(),
                email: p.email.clone(),
                request_id: p.request_id.clone(),
                created_at: p.created_at,
                expires_at: p.expires_at,
            })
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn find_link_proof(
        &self,
        id_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<LinkProof>, StoreError> {
        let row = link_proofs::table
            .find(id_hash)
            .filter(link_proofs::browser_hash.eq(browser_hash))
            .filter(link_proofs::expires_at.gt(now))
            .select(ProofRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(proof))
    }

    fn take_link_proof(
        &self,
        id_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<LinkProof>, StoreError> {
        let row = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let target = link_proofs::table
                .find(id_hash)
                .filter(link_proofs::browser_hash.eq(browser_hash))
                .filter(link_proofs::expires_at.gt(now));
            let Some(row) = target.select(ProofRow::as_select()).first(conn).optional()? else {
                return Ok(None);
            };
            let deleted = diesel::delete(target).execute(conn)?;
            Ok((deleted == 1).then_some(row))
        })?;
        Ok(row.map(proof))
    }
}

fn proof(r: ProofRow) -> LinkProof {
    LinkProof {
        id_hash: r.id_hash,
        browser_hash: r.browser_hash,
        connection_id: r.connection_id,
        subject: r.subject,
        user_id: r.user_id,
        email: r.email,
        request_id: r.request_id,
        created_at: r.created_at,
        expires_at: r.expires_at,
    }
}

/// Removes expired upstream states and link proofs (part of `HealthCheck::purge_expired`).
pub(super) fn purge_expired(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    Ok(
        diesel::delete(upstream_states::table.filter(upstream_states::expires_at.le(now))).execute(conn)?
            + diesel::delete(link_proofs::table.filter(link_proofs::expires_at.le(now))).execute(conn)?,
    )
}
