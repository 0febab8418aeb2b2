//! Browser sessions, and a sign-in's writes in one transaction.

use diesel::prelude::*;

use super::SqlStore;
use super::audit_outbox::record_in;
use super::rows::{CodeRow, SessionRow};
use super::schema::{authorization_codes, sessions};
use crate::store::{Session, SessionStore, SignInRecord, StoreError};

impl SessionStore for SqlStore {
    fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        diesel::insert_into(sessions::table)
            .values(SessionRow::from(session))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn record_sign_in(&self, record: &SignInRecord) -> Result<(), StoreError> {
        let result = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            for ended in &record.ends {
                diesel::delete(sessions::table.find(ended)).execute(conn)?;
            }
            diesel::insert_into(sessions::table)
                .values(SessionRow::from(&record.session))
                .execute(conn)?;
            if let Some(code) = &record.code {
                diesel::insert_into(authorization_codes::table)
                    .values(CodeRow::from(code))
                    .execute(conn)?;
            }
            // Last: on SQLite this locks the audit chain's head, which should be held only for the commit.
            record_in(conn, &record.audit)
        });
        self.audit_recorded();
        result?;
        Ok(())
    }

    fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let row = sessions::table
            .find(id_hash)
            .filter(sessions::expires_at.gt(now))
            .select(SessionRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(Session::from))
    }

    fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        diesel::delete(sessions::table.find(id_hash)).execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn list_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>, StoreError> {
        let rows = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::expires_at.gt(now))
            .order(sessions::created_at.desc())
            .select(SessionRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    fn delete_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        Ok(
            diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)))
                .execute(&mut *self.conn()?)?,
        )
    }

    fn find_rotated_session(&self, previous_hash: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let row = sessions::table
            .filter(sessions::previous_id_hash.eq(previous_hash))
            .filter(sessions::expires_at.gt(now))
            .select(SessionRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(Session::from))
    }

    fn touch_session(&self, id_hash: &str, at: i64) -> Result<(), StoreError> {
        diesel::update(sessions::table.find(id_hash))
            .set(sessions::last_seen_at.eq(at))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn rotate_session(&self, id_hash: &str, new_id_hash: &str, at: i64) -> Result<bool, StoreError> {
        // One statement: of two requests rotating at once, only the first finds the old hash.
        let changed = diesel::update(sessions::table.find(id_hash))
            .set((
                sessions::id_hash.eq(new_id_hash),
                sessions::previous_id_hash.eq(Some(id_hash)),
                sessions::rotated_at.eq(at),
                sessions::last_seen_at.eq(at),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(changed == 1)
    }
}
