//! Signing keys, stored sealed.

use diesel::prelude::*;

use super::SqlStore;
use super::rows::KeyRow;
use super::schema::signing_keys;
use crate::store::{KeyStore, StoreError, StoredKey};

impl KeyStore for SqlStore {
    fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = signing_keys::table
            .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
            .select(KeyRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(StoredKey::from).collect())
    }

    fn insert_current_key(&self, key: &StoredKey, now: i64) -> Result<(), StoreError> {
        self.conn()?.transaction(|conn| {
            diesel::update(
                signing_keys::table
                    .filter(signing_keys::alg.eq(&key.alg))
                    .filter(signing_keys::retired_at.is_null()),
            )
            .set(signing_keys::retired_at.eq(now))
            .execute(conn)?;
            diesel::insert_into(signing_keys::table)
                .values(KeyRow::from(key))
                .execute(conn)?;
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(())
    }
}
