//! Passkeys and the answered WebAuthn challenges (replay guard).

use diesel::prelude::*;

use super::SqlStore;
use super::schema::{passkeys, used_webauthn_challenges as used, users};
use crate::store::{IdentityLevel, PasskeyStore, StoreError, StoredPasskey};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys)]
struct PasskeyRow {
    id: String,
    user_id: String,
    credential_id: String,
    name: String,
    passkey: String,
    backup_eligible: bool,
    created_at: i64,
    last_used_at: Option<i64>,
    flagged_at: Option<i64>,
}

impl From<&StoredPasskey> for PasskeyRow {
    fn from(k: &StoredPasskey) -> Self {
        Self {
            id: k.id.clone(),
            user_id: k.user_id.clone(),
            credential_id: k.credential_id.clone(),
            name: k.name.clone(),
            passkey: k.passkey.clone(),
            backup_eligible: k.backup_eligible,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            flagged_at: k.flagged_at,
        }
    }
}

impl From<PasskeyRow> for StoredPasskey {
    fn from(r: PasskeyRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            credential_id: r.credential_id,
            name: r.name,
            passkey: r.passkey,
            backup_eligible: r.backup_eligible,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            flagged_at: r.flagged_at,
        }
    }
}

impl PasskeyStore for SqlStore {
    fn create_passkey(&self, passkey: &StoredPasskey, now: i64) -> Result<(), StoreError> {
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::insert_into(passkeys::table)
                .values(PasskeyRow::from(passkey))
                .execute(conn)?;
            // A passkey is a credential of its own, like a password: a light account becomes full.
            diesel::update(users::table.find(&passkey.user_id))
                .set((
                    users::level.eq(IdentityLevel::Full.as_str()),
                    users::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })?;
        Ok(())
    }

    fn find_passkey_by_credential(&self, credential_id: &str) -> Result<Option<StoredPasskey>, StoreError> {
        let row = passkeys::table
            .filter(passkeys::credential_id.eq(credential_id))
            .select(PasskeyRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(StoredPasskey::from))
    }

    fn list_passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>, StoreError> {
        let rows = passkeys::table
            .filter(passkeys::user_id.eq(user_id))
            .order((passkeys::created_at.asc(), passkeys::id.asc()))
            .select(PasskeyRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(StoredPasskey::from).collect())
    }

    fn count_passkeys(&self, user_id: &str) -> Result<usize, StoreError> {
        let n: i64 = passkeys::table
            .filter(passkeys::user_id.eq(user_id))
            .count()
            .get_result(&mut *self.conn()?)?;
        Ok(n as usize)
    }

    fn record_passkey_use(
        &self,
        id: &str,
        passkey: &str,
        backup_eligible: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(passkeys::table.find(id).filter(passkeys::flagged_at.is_null()))
            .set((
                passkeys::passkey.eq(passkey),
                passkeys::backup_eligible.eq(backup_eligible),
                passkeys::last_used_at.eq(now),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn flag_passkey(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let n = diesel::update(passkeys::table.find(id))
            .set(passkeys::flagged_at.eq(now))
            .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn rename_passkey(&self, user_id: &str, id: &str, name: &str) -> Result<bool, StoreError> {
        let n = diesel::update(passkeys::table.find(id).filter(passkeys::user_id.eq(user_id)))
            .set(passkeys::name.eq(name))
            .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn delete_passkey(&self, user_id: &str, id: &str) -> Result<bool, StoreError> {
        let n = diesel::delete(passkeys::table.find(id).filter(passkeys::user_id.eq(user_id)))
            .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn use_webauthn_challenge(&self, challenge_hash: &str, expires_at: i64) -> Result<bool, StoreError> {
        let inserted = diesel::insert_into(used::table)
            .values((
                used::challenge_hash.eq(challenge_hash),
                used::expires_at.eq(expires_at),
            ))
            .execute(&mut *self.conn()?);
        match inserted.map_err(StoreError::from) {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Housekeeping: forgets answered challenges once they could no longer be answered anyway.
pub(super) fn purge_used_challenges(
    conn: &mut super::DbConnection,
    now: i64,
) -> Result<usize, diesel::result::Error> {
    diesel::delete(used::table.filter(used::expires_at.le(now))).execute(conn)
}
