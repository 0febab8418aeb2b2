//! Per-client policies (light sign-up, required profile fields and documents, default region).

use diesel::prelude::*;

use super::SqlStore;
use super::rows::{json_list, parse_json_list};
use super::schema::client_policies;
use crate::store::{ClientPolicy, ClientPolicyStore, StoreError};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = client_policies)]
#[diesel(treat_none_as_null = true)]
struct PolicyRow {
    client_id: String,
    allow_light_accounts: bool,
    required_fields: String,
    optional_fields: String,
    required_documents: String,
    region: Option<String>,
}

impl From<&ClientPolicy> for PolicyRow {
    fn from(p: &ClientPolicy) -> Self {
        Self {
            client_id: p.client_id.clone(),
            allow_light_accounts: p.allow_light_accounts,
            required_fields: json_list(&p.required_fields),
            optional_fields: json_list(&p.optional_fields),
            required_documents: json_list(&p.required_documents),
            region: p.region.clone(),
        }
    }
}

impl From<PolicyRow> for ClientPolicy {
    fn from(r: PolicyRow) -> Self {
        Self {
            client_id: r.client_id,
            allow_light_accounts: r.allow_light_accounts,
            required_fields: parse_json_list(&r.required_fields),
            optional_fields: parse_json_list(&r.optional_fields),
            required_documents: parse_json_list(&r.required_documents),
            region: r.region,
        }
    }
}

impl ClientPolicyStore for SqlStore {
    fn find_client_policy(&self, client_id: &str) -> Result<Option<ClientPolicy>, StoreError> {
        let row = per_backend!(&mut *self.conn()?, c => client_policies::table
            .find(client_id)
            .select(PolicyRow::as_select())
            .first(c)
            .optional())?;
        Ok(row.map(ClientPolicy::from))
    }

    fn save_client_policy(&self, policy: &ClientPolicy) -> Result<(), StoreError> {
        let row = PolicyRow::from(policy);
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            let updated = diesel::update(client_policies::table.find(&row.client_id))
                .set(&row)
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(client_policies::table)
                    .values(&row)
                    .execute(conn)?;
            }
            Ok(())
        })?;
        Ok(())
    }
}
