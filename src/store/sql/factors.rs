//! Second factors: authenticator apps (TOTP), recovery codes, MFA policies.

use diesel::prelude::*;

use super::SqlStore;
use super::rows::{json_list, parse_json_list};
use super::schema::{mfa_policies, recovery_codes, totp_factors};
use crate::store::{FactorStore, MfaOwner, MfaPolicy, StoreError, TotpFactor};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = totp_factors)]
struct TotpRow {
    id: String,
    user_id: String,
    sealed_secret: String,
    label: String,
    confirmed: bool,
    last_step: i64,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<&TotpFactor> for TotpRow {
    fn from(f: &TotpFactor) -> Self {
        Self {
            id: f.id.clone(),
            user_id: f.user_id.clone(),
            sealed_secret: f.sealed_secret.clone(),
            label: f.label.clone(),
            confirmed: f.confirmed,
            last_step: f.last_step,
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        }
    }
}

impl From<TotpRow> for TotpFactor {
    fn from(r: TotpRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            sealed_secret: r.sealed_secret,
            label: r.label,
            confirmed: r.confirmed,
            last_step: r.last_step,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_policies)]
struct PolicyRow {
    owner_kind: String,
    owner_id: String,
    required: bool,
    factors: String,
    passkey_only: bool,
}

impl FactorStore for SqlStore {
    fn create_totp(&self, factor: &TotpFactor) -> Result<(), StoreError> {
        let row = TotpRow::from(factor);
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::delete(
                totp_factors::table
                    .filter(totp_factors::user_id.eq(&row.user_id))
                    .filter(totp_factors::confirmed.eq(false)),
            )
            .execute(conn)?;
            diesel::insert_into(totp_factors::table)
                .values(&row)
                .execute(conn)?;
            Ok(())
        })?;
        Ok(())
    }

    fn find_totp(&self, user_id: &str) -> Result<Option<TotpFactor>, StoreError> {
        let row = totp_factors::table
            .filter(totp_factors::user_id.eq(user_id))
            .filter(totp_factors::confirmed.eq(true))
            .select(TotpRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(TotpFactor::from))
    }

    fn find_pending_totp(&self, id: &str, user_id: &str) -> Result<Option<TotpFactor>, StoreError> {
        let row = totp_factors::table
            .find(id)
            .filter(totp_factors::user_id.eq(user_id))
            .filter(totp_factors::confirmed.eq(false))
            .select(TotpRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(TotpFactor::from))
    }

    fn confirm_totp(&self, id: &str, user_id: &str, step: i64, now: i64) -> Result<bool, StoreError> {
        let confirmed = self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let pending = totp_factors::table
                .find(id)
                .filter(totp_factors::user_id.eq(user_id))
                .filter(totp_factors::confirmed.eq(false));
            let updated = diesel::update(pending)
                .set((
                    totp_factors::confirmed.eq(true),
                    totp_factors::last_step.eq(step),
                    totp_factors::last_used_at.eq(Some(now)),
                ))
                .execute(conn)?;
            if updated == 1 {
                diesel::delete(
                    totp_factors::table
                        .filter(totp_factors::user_id.eq(user_id))
                        .filter(totp_factors::id.ne(id)),
                )
                .execute(conn)?;
            }
            Ok(updated == 1)
        })?;
        Ok(confirmed)
    }

    fn use_totp_step(&self, id: &str, step: i64, now: i64) -> Result<bool, StoreError> {
        let target = totp_factors::table
            .find(id)
            .filter(totp_factors::confirmed.eq(true))
            .filter(totp_factors::last_step.lt(step));
        let updated = diesel::update(target)
            .set((
                totp_factors::last_step.eq(step),
                totp_factors::last_used_at.eq(Some(now)),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(updated == 1)
    }

    fn delete_totp(&self, user_id: &str) -> Result<bool, StoreError> {
        let deleted = diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(user_id)))
            .execute(&mut *self.conn()?)?;
        Ok(deleted > 0)
    }

    fn replace_recovery_codes(&self, user_id: &str, hashes: &[String], now: i64) -> Result<(), StoreError> {
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
                .execute(conn)?;
            for hash in hashes {
                diesel::insert_into(recovery_codes::table)
                    .values((
                        recovery_codes::user_id.eq(user_id),
                        recovery_codes::code_hash.eq(hash),
                        recovery_codes::created_at.eq(now),
                        recovery_codes::used_at.eq(None::<i64>),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn use_recovery_code(&self, user_id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        let target = recovery_codes::table
            .find((user_id, hash))
            .filter(recovery_codes::used_at.is_null());
        let updated = diesel::update(target)
            .set(recovery_codes::used_at.eq(Some(now)))
            .execute(&mut *self.conn()?)?;
        Ok(updated == 1)
    }

    fn count_recovery_codes(&self, user_id: &str) -> Result<usize, StoreError> {
        let count: i64 = recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .get_result(&mut *self.conn()?)?;
        Ok(count as usize)
    }

    fn delete_recovery_codes(&self, user_id: &str) -> Result<(), StoreError> {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn find_mfa_policy(&self, owner: MfaOwner, owner_id: &str) -> Result<Option<MfaPolicy>, StoreError> {
        let row = mfa_policies::table
            .find((owner.as_str(), owner_id))
            .select(PolicyRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(|r| MfaPolicy {
            owner,
            owner_id: r.owner_id,
            required: r.required,
            factors: parse_json_list(&r.factors),
            passkey_only: r.passkey_only,
        }))
    }

    fn save_mfa_policy(&self, policy: &MfaPolicy) -> Result<(), StoreError> {
        let row = PolicyRow {
            owner_kind: policy.owner.as_str().to_string(),
            owner_id: policy.owner_id.clone(),
            required: policy.required,
            factors: json_list(&policy.factors),
            passkey_only: policy.passkey_only,
        };
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::delete(mfa_policies::table.find((&row.owner_kind, &row.owner_id))).execute(conn)?;
            diesel::insert_into(mfa_policies::table)
                .values(&row)
                .execute(conn)?;
            Ok(())
        })?;
        Ok(())
    }

    fn delete_mfa_policy(&self, owner: MfaOwner, owner_id: &str) -> Result<(), StoreError> {
        diesel::delete(mfa_policies::table.find((owner.as_str(), owner_id))).execute(&mut *self.conn()?)?;
        Ok(())
    }
}
