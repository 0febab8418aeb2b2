//! The account lifecycle the portal drives: profile and declared region, scheduled deletion, and
//! revoking every grant of a person (before their erasure, or when they ask for it).

use diesel::prelude::*;

use super::grants::revoke_grant_in;
use super::schema::{
    authorization_codes as codes, email_codes, organization_invitations as invitations, refresh_tokens as rt,
    users,
};
use super::{DbConnection, SqlStore};
use crate::store::{AccountStore, Profile, StoreError};

type QueryResult<T> = Result<T, diesel::result::Error>;

impl AccountStore for SqlStore {
    fn save_account_profile(
        &self,
        user_id: &str,
        name: Option<&str>,
        profile: &Profile,
        region: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(profile).map_err(|e| StoreError::Database(e.to_string()))?;
        let n = diesel::update(users::table.find(user_id))
            .set((
                users::name.eq(name),
                users::profile.eq(json),
                users::region.eq(region),
                users::updated_at.eq(now),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn schedule_deletion(&self, user_id: &str, at: Option<i64>) -> Result<bool, StoreError> {
        let n = diesel::update(users::table.find(user_id))
            .set(users::deletion_scheduled_at.eq(at))
            .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn users_due_for_erasure(&self, now: i64) -> Result<Vec<String>, StoreError> {
        Ok(users::table
            .filter(users::deletion_scheduled_at.le(now))
            .order(users::deletion_scheduled_at.asc())
            .select(users::id)
            .load(&mut *self.conn()?)?)
    }

    fn revoke_user_grants(&self, user_id: &str, now: i64) -> Result<usize, StoreError> {
        let n = self
            .conn()?
            .transaction::<_, diesel::result::Error, _>(|conn| revoke_all(conn, user_id, now))?;
        Ok(n)
    }

    fn erase_account(&self, user_id: &str, email: &str, now: i64) -> Result<bool, StoreError> {
        let n = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            revoke_all(conn, user_id, now)?;
            let email = email.to_lowercase();
            diesel::delete(
                invitations::table.filter(
                    invitations::accepted_by
                        .eq(user_id)
                        .or(invitations::email.eq(&email)),
                ),
            )
            .execute(conn)?;
            diesel::delete(email_codes::table.filter(email_codes::email.eq(&email))).execute(conn)?;
            diesel::delete(users::table.find(user_id)).execute(conn)
        })?;
        Ok(n > 0)
    }
}

/// Revokes every grant of a user. A grant is known by its code (the access token issued at the
/// exchange) and by its refresh tokens (those issued at each rotation): both are collected.
fn revoke_all(conn: &mut DbConnection, user_id: &str, now: i64) -> QueryResult<usize> {
    let mut grants: Vec<String> = codes::table
        .filter(codes::user_id.eq(user_id))
        .select(codes::grant_id)
        .load(conn)?;
    grants.extend(
        rt::table
            .filter(rt::user_id.eq(user_id))
            .select(rt::grant_id)
            .distinct()
            .load::<String>(conn)?,
    );
    grants.sort();
    grants.dedup();
    for grant in &grants {
        revoke_grant_in(conn, grant, now)?;
    }
    Ok(grants.len())
}
