//! Communication preferences: operator-defined topics and each person's choice per topic and channel.

use diesel::prelude::*;

use super::SqlStore;
use super::schema::{preference_topics as topics, user_preferences as prefs};
use crate::store::{PreferenceStore, PreferenceTopic, StoreError, UserPreference};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = topics)]
struct TopicRow {
    id: String,
    name: String,
    description: String,
    /// Space-separated channel names.
    channels: String,
    created_at: i64,
}

impl From<TopicRow> for PreferenceTopic {
    fn from(r: TopicRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            channels: r.channels.split_whitespace().map(str::to_string).collect(),
            created_at: r.created_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = prefs)]
struct PreferenceRow {
    user_id: String,
    topic_id: String,
    channel: String,
    subscribed: bool,
    updated_at: i64,
    source: String,
}

impl From<PreferenceRow> for UserPreference {
    fn from(r: PreferenceRow) -> Self {
        Self {
            user_id: r.user_id,
            topic_id: r.topic_id,
            channel: r.channel,
            subscribed: r.subscribed,
            updated_at: r.updated_at,
            source: r.source,
        }
    }
}

impl PreferenceStore for SqlStore {
    fn create_topic(&self, topic: &PreferenceTopic) -> Result<(), StoreError> {
        diesel::insert_into(topics::table)
            .values(TopicRow {
                id: topic.id.clone(),
                name: topic.name.clone(),
                description: topic.description.clone(),
                channels: topic.channels.join(" "),
                created_at: topic.created_at,
            })
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    fn find_topic(&self, id: &str) -> Result<Option<PreferenceTopic>, StoreError> {
        let row = topics::table
            .find(id)
            .select(TopicRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(PreferenceTopic::from))
    }

    fn list_topics(&self) -> Result<Vec<PreferenceTopic>, StoreError> {
        let rows = topics::table
            .order((topics::created_at.asc(), topics::id.asc()))
            .select(TopicRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(PreferenceTopic::from).collect())
    }

    fn delete_topic(&self, id: &str) -> Result<bool, StoreError> {
        let n = diesel::delete(topics::table.find(id)).execute(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    fn list_preferences(&self, user_id: &str) -> Result<Vec<UserPreference>, StoreError> {
        let rows = prefs::table
            .filter(prefs::user_id.eq(user_id))
            .order((prefs::topic_id.asc(), prefs::channel.asc()))
            .select(PreferenceRow::as_select())
            .load(&mut *self.conn()?)?;
        Ok(rows.into_iter().map(UserPreference::from).collect())
    }

    fn save_preferences(&self, preferences: &[UserPreference]) -> Result<(), StoreError> {
        // Delete-then-insert in one transaction is the portable upsert.
        self.conn()?.transaction::<_, diesel::result::Error, _>(|conn| {
            for p in preferences {
                diesel::delete(prefs::table.find((&p.user_id, &p.topic_id, &p.channel))).execute(conn)?;
                diesel::insert_into(prefs::table)
                    .values(PreferenceRow {
                        user_id: p.user_id.clone(),
                        topic_id: p.topic_id.clone(),
                        channel: p.channel.clone(),
                        subscribed: p.subscribed,
                        updated_at: p.updated_at,
                        source: p.source.clone(),
                    })
                    .execute(conn)?;
            }
            Ok(())
        })?;
        Ok(())
    }
}
