//! Codes, refresh tokens and revocation: the single-use artefacts. Every consuming transaction
//! starts with its conditional UPDATE, so that SQLite takes the write lock first (waiting on
//! busy_timeout instead of failing) and PostgreSQL row locks decide the race: exactly one winner.

use diesel::prelude::*;

use super::audit_outbox::record_in;
use super::rows::{CodeRow, RefreshRow};
use super::schema::{authorization_codes as codes, refresh_tokens as rt, revoked_access_tokens};
use super::{DbConnection, SqlStore};
use crate::store::{AuthorizationCode, GrantStore, IssueRecord, Redemption, RefreshToken, StoreError};

type QueryResult<T> = Result<T, diesel::result::Error>;

impl GrantStore for SqlStore {
    fn create_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        diesel::insert_into(codes::table)
            .values(CodeRow::from(code))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn redeem_code(
        &self,
        code_hash: &str,
        now: i64,
        issue: &mut dyn FnMut(&AuthorizationCode) -> Option<IssueRecord>,
    ) -> Result<Redemption<AuthorizationCode>, StoreError> {
        let outcome = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let claimed = diesel::update(
                codes::table
                    .find(code_hash)
                    .filter(codes::used_at.is_null())
                    .filter(codes::expires_at.gt(now)),
            )
            .set(codes::used_at.eq(now))
            .execute(conn)?;
            if claimed == 0 {
                let previous: Option<(Option<i64>, String)> = codes::table
                    .find(code_hash)
                    .select((codes::used_at, codes::grant_id))
                    .first(conn)
                    .optional()?;
                return match previous {
                    Some((Some(_), grant_id)) => {
                        revoke_grant_in(conn, &grant_id, now)?;
                        Ok(Redemption::Reused)
                    }
                    _ => Ok(Redemption::Invalid),
                };
            }
            let code: AuthorizationCode = codes::table
                .find(code_hash)
                .select(CodeRow::as_select())
                .first(conn)?
                .into();
            let Some(record) = issue(&code) else {
                return Ok(Redemption::Rejected(code));
            };
            diesel::update(codes::table.find(code_hash))
                .set((
                    codes::access_jti.eq(&record.access_jti),
                    codes::access_expires_at.eq(record.access_expires_at),
                ))
                .execute(conn)?;
            if let Some(refresh) = &record.refresh {
                diesel::insert_into(rt::table)
                    .values(RefreshRow::from(refresh))
                    .execute(conn)?;
            }
            // Last: on SQLite this locks the audit chain's head, which should be held only for the commit.
            record_in(conn, std::slice::from_ref(&record.audit))?;
            Ok(Redemption::Issued(code))
        });
        self.audit_recorded();
        Ok(outcome?)
    }

    fn rotate_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        issue: &mut dyn FnMut(&RefreshToken) -> Option<IssueRecord>,
    ) -> Result<Redemption<RefreshToken>, StoreError> {
        let mut rejected = None;
        let result = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let claimed = diesel::update(
                rt::table
                    .find(token_hash)
                    .filter(rt::used_at.is_null())
                    .filter(rt::revoked_at.is_null())
                    .filter(rt::expires_at.gt(now))
                    .filter(rt::grant_expires_at.gt(now)),
            )
            .set(rt::used_at.eq(now))
            .execute(conn)?;
            if claimed == 0 {
                let previous: Option<(Option<i64>, String)> = rt::table
                    .find(token_hash)
                    .select((rt::used_at, rt::grant_id))
                    .first(conn)
                    .optional()?;
                return match previous {
                    Some((Some(_), grant_id)) => {
                        revoke_grant_in(conn, &grant_id, now)?;
                        Ok(Redemption::Reused)
                    }
                    _ => Ok(Redemption::Invalid),
                };
            }
            let token: RefreshToken = rt::table
                .find(token_hash)
                .select(RefreshRow::as_select())
                .first(conn)?
                .into();
            let Some(record) = issue(&token) else {
                // A refused refresh (wrong client, wider scope) must not burn the owner's token.
                rejected = Some(token);
                return Err(diesel::result::Error::RollbackTransaction);
            };
            if let Some(next) = &record.refresh {
                diesel::insert_into(rt::table)
                    .values(RefreshRow::from(next))
                    .execute(conn)?;
                diesel::update(rt::table.find(&next.token_hash))
                    .set((
                        rt::access_jti.eq(&record.access_jti),
                        rt::access_expires_at.eq(record.access_expires_at),
                    ))
                    .execute(conn)?;
            }
            record_in(conn, std::slice::from_ref(&record.audit))?;
            Ok(Redemption::Issued(token))
        });
        self.audit_recorded();
        match (result, rejected) {
            (_, Some(token)) => Ok(Redemption::Rejected(token)),
            (result, None) => Ok(result?),
        }
    }

    fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        let row = per_backend!(&mut *self.conn()?, c => rt::table
            .find(token_hash)
            .select(RefreshRow::as_select())
            .first(c)
            .optional())?;
        Ok(row.map(RefreshToken::from))
    }

    fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        self.conn()?
            .transaction(|conn| revoke_grant_in(conn, grant_id, now))?;
        Ok(())
    }

    fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        insert_revoked_jti(&mut *self.conn()?, jti, expires_at)?;
        Ok(())
    }

    fn is_access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let found: Option<String> = per_backend!(&mut *self.conn()?, c => revoked_access_tokens::table
            .find(jti)
            .select(revoked_access_tokens::jti)
            .first(c)
            .optional())?;
        Ok(found.is_some())
    }
}

/// Revokes a grant's refresh tokens and deny-lists the access tokens still alive from it.
pub(super) fn revoke_grant_in(conn: &mut DbConnection, grant_id: &str, now: i64) -> QueryResult<()> {
    diesel::update(
        rt::table
            .filter(rt::grant_id.eq(grant_id))
            .filter(rt::revoked_at.is_null()),
    )
    .set(rt::revoked_at.eq(now))
    .execute(conn)?;
    let mut live: Vec<(Option<String>, Option<i64>)> = codes::table
        .filter(codes::grant_id.eq(grant_id))
        .filter(codes::access_expires_at.gt(now))
        .select((codes::access_jti, codes::access_expires_at))
        .load(conn)?;
    live.extend(
        rt::table
            .filter(rt::grant_id.eq(grant_id))
            .filter(rt::access_expires_at.gt(now))
            .select((rt::access_jti, rt::access_expires_at))
            .load::<(Option<String>, Option<i64>)>(conn)?,
    );
    for (jti, expires_at) in live {
        if let (Some(jti), Some(expires_at)) = (jti, expires_at) {
            insert_revoked_jti(conn, &jti, expires_at)?;
        }
    }
    Ok(())
}

/// Idempotent insert into the deny list: the one place where the SQL dialects differ.
fn insert_revoked_jti(conn: &mut DbConnection, jti: &str, expires_at: i64) -> QueryResult<()> {
    let row = (
        revoked_access_tokens::jti.eq(jti),
        revoked_access_tokens::expires_at.eq(expires_at),
    );
    match conn {
        DbConnection::Sqlite(c) => diesel::insert_or_ignore_into(revoked_access_tokens::table)
            .values(row)
            .execute(c)?,
        DbConnection::Pg(c) => diesel::insert_into(revoked_access_tokens::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(())
}
