//! Clients, users, consents and the health check: plain rows, no multi-step transactions.

use diesel::prelude::*;

use super::SqlStore;
use super::rows::{ClientRow, UserRow};
use super::schema::{clients, consents, users};
use crate::store::{Client, ClientStore, ConsentStore, HealthCheck, StoreError, User, UserStore};

impl ClientStore for SqlStore {
    fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        diesel::insert_into(clients::table)
            .values(ClientRow::from(client))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let row = per_backend!(&mut *self.conn()?, c => clients::table
            .find(id)
            .select(ClientRow::as_select())
            .first(c)
            .optional())?;
        Ok(row.map(Client::from))
    }

    fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows = clients::table
            .order((clients::created_at.asc(), clients::id.asc()))
            .select(ClientRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(Client::from).collect())
    }

    fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let n = diesel::delete(clients::table.find(id)).execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn set_client_secret_hash(&self, id: &str, hash: &str) -> Result<bool, StoreError> {
        let n = diesel::update(clients::table.find(id).filter(clients::secret_hash.is_not_null()))
            .set(clients::secret_hash.eq(hash))
            .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn is_origin_allowed(&self, origin: &str) -> Result<bool, StoreError> {
        // The list is JSON; match the quoted origin with LIKE wildcards escaped.
        let escaped: String = origin
            .chars()
            .flat_map(|c| {
                if matches!(c, '%' | '_' | '\\') {
                    vec!['\\', c]
                } else {
                    vec![c]
                }
            })
            .collect();
        let pattern = format!("%\"{escaped}\"%");
        let found: Option<String> = clients::table
            .filter(clients::allowed_origins.like(pattern).escape('\\'))
            .select(clients::id)
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(found.is_some())
    }
}

impl UserStore for SqlStore {
    fn create_user(&self, user: &User) -> Result<(), StoreError> {
        diesel::insert_into(users::table)
            .values(UserRow::from(user))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = per_backend!(&mut *self.conn()?, c => users::table
            .find(id)
            .select(UserRow::as_select())
            .first(c)
            .optional())?;
        Ok(row.map(User::from))
    }

    fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row = users::table
            .filter(users::email.eq(email.to_lowercase()))
            .select(UserRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(User::from))
    }

    fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = users::table
            .order((users::created_at.asc(), users::id.asc()))
            .select(UserRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let n = diesel::delete(users::table.find(id)).execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn update_profile(
        &self,
        id: &str,
        name: Option<&str>,
        profile: &crate::store::Profile,
        now: i64,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(profile).map_err(|e| StoreError::Database(e.to_string()))?;
        let n = diesel::update(users::table.find(id))
            .set((
                users::name.eq(name),
                users::profile.eq(json),
                users::updated_at.eq(now),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn set_password_hash(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        let n = diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::level.eq(crate::store::IdentityLevel::Full.as_str()),
                users::updated_at.eq(now),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }
}

impl ConsentStore for SqlStore {
    fn find_consent(&self, user_id: &str, client_id: &str) -> Result<Vec<String>, StoreError> {
        let scopes: Option<String> = consents::table
            .find((user_id, client_id))
            .select(consents::scopes)
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(scopes
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default())
    }

    fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        // Delete-then-insert in one transaction is the portable upsert.
        self.conn()?.transaction(|conn| {
            diesel::delete(consents::table.find((user_id, client_id))).execute(conn)?;
            diesel::insert_into(consents::table)
                .values((
                    consents::user_id.eq(user_id),
                    consents::client_id.eq(client_id),
                    consents::scopes.eq(scopes.join(" ")),
                    consents::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(())
    }

    fn list_user_consents(&self, user_id: &str) -> Result<Vec<(String, Vec<String>, i64)>, StoreError> {
        let rows: Vec<(String, String, i64)> = consents::table
            .filter(consents::user_id.eq(user_id))
            .order(consents::client_id.asc())
            .select((consents::client_id, consents::scopes, consents::updated_at))
            .load(&mut *self.conn()?)?;
        Ok(rows
            .into_iter()
            .map(|(client, scopes, at)| {
                (
                    client,
                    scopes.split_whitespace().map(str::to_string).collect(),
                    at,
                )
            })
            .collect())
    }
}

impl HealthCheck for SqlStore {
    fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    fn ping(&self) -> Result<(), StoreError> {
        use diesel::connection::SimpleConnection;
        self.conn()?.batch_execute("SELECT 1")?;
        Ok(())
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        use super::schema::{authorization_codes, refresh_tokens, revoked_access_tokens, sessions};
        let conn = &mut *self.conn()?;
        let mut removed =
            diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?;
        removed += diesel::delete(
            authorization_codes::table.filter(authorization_codes::expires_at.le(now - 86_400)),
        )
        .execute(conn)?;
        removed += diesel::delete(refresh_tokens::table.filter(refresh_tokens::grant_expires_at.le(now)))
            .execute(conn)?;
        removed +=
            diesel::delete(revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.le(now)))
                .execute(conn)?;
        removed += super::federation::purge_expired(conn, now)?;
        removed += super::passkeys::purge_used_challenges(conn, now)?;
        removed += diesel::delete(
            super::schema::email_codes::table.filter(super::schema::email_codes::expires_at.le(now)),
        )
        .execute(conn)?;
        Ok(removed)
    }
}
