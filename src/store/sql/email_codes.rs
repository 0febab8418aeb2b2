//! One-time email codes: single use, bound to a browser, a bounded number of guesses.

use diesel::prelude::*;

use super::SqlStore;
use super::schema::email_codes;
use crate::store::{EmailCode, EmailCodeStore, StoreError};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = email_codes)]
struct EmailCodeRow {
    id_hash: String,
    code_hash: String,
    browser_hash: String,
    email: String,
    purpose: String,
    request_id: Option<String>,
    return_to: Option<String>,
    name: Option<String>,
    attempts: i32,
    created_at: i64,
    expires_at: i64,
}

impl From<&EmailCode> for EmailCodeRow {
    fn from(c: &EmailCode) -> Self {
        Self {
            id_hash: c.id_hash.clone(),
            code_hash: c.code_hash.clone(),
            browser_hash: c.browser_hash.clone(),
            email: c.email.clone(),
            purpose: c.purpose.clone(),
            request_id: c.request_id.clone(),
            return_to: c.return_to.clone(),
            name: c.name.clone(),
            attempts: c.attempts,
            created_at: c.created_at,
            expires_at: c.expires_at,
        }
    }
}

impl From<EmailCodeRow> for EmailCode {
    fn from(r: EmailCodeRow) -> Self {
        Self {
            id_hash: r.id_hash,
            code_hash: r.code_hash,
            browser_hash: r.browser_hash,
            email: r.email,
            purpose: r.purpose,
            request_id: r.request_id,
            return_to: r.return_to,
            name: r.name,
            attempts: r.attempts,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

impl EmailCodeStore for SqlStore {
    fn create_email_code(&self, code: &EmailCode) -> Result<(), StoreError> {
        diesel::insert_into(email_codes::table)
            .values(EmailCodeRow::from(code))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn find_email_code(
        &self,
        id_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<EmailCode>, StoreError> {
        let row = email_codes::table
            .find(id_hash)
            .filter(email_codes::browser_hash.eq(browser_hash))
            .filter(email_codes::expires_at.gt(now))
            .select(EmailCodeRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(EmailCode::from))
    }

    fn redeem_email_code(
        &self,
        id_hash: &str,
        code_hash: &str,
        browser_hash: &str,
        max_attempts: i32,
        now: i64,
    ) -> Result<Option<EmailCode>, StoreError> {
        let live = email_codes::table
            .find(id_hash)
            .filter(email_codes::browser_hash.eq(browser_hash))
            .filter(email_codes::expires_at.gt(now))
            .filter(email_codes::attempts.lt(max_attempts));
        self.conn()?
            .transaction::<_, diesel::result::Error, _>(|conn| {
                let Some(row) = live.select(EmailCodeRow::as_select()).first(conn).optional()? else {
                    return Ok(None);
                };
                // The delete is the single-use guard: of concurrent redemptions only one removes the row.
                let deleted =
                    diesel::delete(live.filter(email_codes::code_hash.eq(code_hash))).execute(conn)?;
                if deleted == 1 {
                    return Ok(Some(EmailCode::from(row)));
                }
                diesel::update(email_codes::table.find(id_hash))
                    .set(email_codes::attempts.eq(email_codes::attempts + 1))
                    .execute(conn)?;
                Ok(None)
            })
            .map_err(StoreError::from)
    }
}
