//! Communication preferences: operator-defined topics offered on channels, and each person's choices
//! (opt-in: no choice recorded means not subscribed). Only changed choices are recorded, each with when
//! and how it was made (`portal`, `unsubscribe_link`, `admin`).

use std::collections::BTreeSet;

use tracing::instrument;

use super::super::admin::AdminError;
use super::super::browser::SignedIn;
use super::super::{FlowError, Provider, now};
use super::own_event;
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::store::{PreferenceTopic, Store, StoreError, UserPreference};

/// One topic on the page: its channels and whether the person is subscribed on each.
pub struct TopicChoices {
    pub topic: PreferenceTopic,
    pub channels: Vec<(String, bool)>,
}

/// Every topic with the person's current choice per channel.
pub fn choices(p: &Provider, user_id: &str) -> Result<Vec<TopicChoices>, FlowError> {
    let recorded = p.store.list_preferences(user_id)?;
    let is_subscribed = |topic: &str, channel: &str| {
        recorded
            .iter()
            .any(|r| r.topic_id == topic && r.channel == channel && r.subscribed)
    };
    Ok(p.store
        .list_topics()?
        .into_iter()
        .map(|topic| TopicChoices {
            channels: topic
                .channels
                .iter()
                .map(|c| (c.clone(), is_subscribed(&topic.id, c)))
                .collect(),
            topic,
        })
        .collect())
}

/// Makes the person's choices exactly `subscribed` (topic, channel) pairs: every offered pair not in
/// it is unsubscribed. Pairs that are not offered are ignored. Returns how many choices changed.
#[instrument(skip_all)]
pub fn save(
    p: &Provider,
    s: &SignedIn,
    subscribed: &BTreeSet<(String, String)>,
    origin: &Origin,
) -> Result<usize, FlowError> {
    let at = now();
    let mut changes = Vec::new();
    for choice in choices(p, &s.user.id)? {
        for (channel, was) in choice.channels {
            let wanted = subscribed.contains(&(choice.topic.id.clone(), channel.clone()));
            if wanted != was {
                changes.push(UserPreference {
                    user_id: s.user.id.clone(),
                    topic_id: choice.topic.id.clone(),
                    channel,
                    subscribed: wanted,
                    updated_at: at,
                    source: "portal".into(),
                });
            }
        }
    }
    if changes.is_empty() {
        return Ok(0);
    }
    p.auditor.record(
        own_event(kind::PREFERENCES_UPDATED, s, origin)
            .detail(serde_json::json!({ "changes": summary(&changes) })),
    )?;
    p.store.save_preferences(&changes)?;
    Ok(changes.len())
}

/// What changed, for the audit record.
pub fn summary(changes: &[UserPreference]) -> serde_json::Value {
    changes
        .iter()
        .map(|c| serde_json::json!({ "topic": c.topic_id, "channel": c.channel, "subscribed": c.subscribed }))
        .collect()
}

/// A topic as an operator defines it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTopic {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub channels: Vec<String>,
}

fn invalid(message: impl Into<String>) -> AdminError {
    AdminError::Invalid(message.into())
}

/// A slug: lower-case letters, digits, `-` and `_`, starting with a letter or digit.
fn is_slug(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b))
}

/// Creates a topic (CLI and admin API), audited first.
pub fn create_topic(store: &dyn Store, actor: &str, new: NewTopic) -> Result<PreferenceTopic, AdminError> {
    let id = new.id.trim().to_string();
    if !is_slug(&id, 64) {
        return Err(invalid("the topic id must be 1 to 64 characters of a-z 0-9 - _"));
    }
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("the name must be 1 to 200 characters"));
    }
    let description = new.description.trim().to_string();
    if description.chars().count() > 1000 {
        return Err(invalid("the description must be at most 1000 characters"));
    }
    let mut channels: Vec<String> = Vec::new();
    for c in new
        .channels
        .iter()
        .flat_map(|c| c.split(','))
        .map(|c| c.trim().to_lowercase())
    {
        if !is_slug(&c, 32) {
            return Err(invalid(format!(
                "`{c}` is not a channel name (a-z 0-9 - _, e.g. email, sms)"
            )));
        }
        if !channels.contains(&c) {
            channels.push(c);
        }
    }
    if channels.is_empty() {
        return Err(invalid("give at least one channel, e.g. email"));
    }
    let topic = PreferenceTopic {
        id: id.clone(),
        name,
        description,
        channels,
        created_at: now(),
    };
    if store.find_topic(&id)?.is_some() {
        return Err(invalid(format!("a topic with id `{id}` already exists")));
    }
    audit(store, actor, kind::PREFERENCE_TOPIC_CREATED, &id)?;
    store.create_topic(&topic).map_err(|e| match e {
        StoreError::Conflict(_) => invalid(format!("a topic with id `{id}` already exists")),
        other => other.into(),
    })?;
    Ok(topic)
}

/// Deletes a topic and every choice made about it.
pub fn delete_topic(store: &dyn Store, actor: &str, id: &str) -> Result<(), AdminError> {
    if store.find_topic(id)?.is_none() {
        return Err(AdminError::NotFound(format!("no topic `{id}`")));
    }
    audit(store, actor, kind::PREFERENCE_TOPIC_DELETED, id)?;
    store.delete_topic(id)?;
    Ok(())
}

fn audit(store: &dyn Store, actor: &str, event: &str, topic: &str) -> Result<(), AdminError> {
    let event = AuditEvent::new(event, Outcome::Success, now())
        .actor(actor)
        .subject(topic)
        .detail(serde_json::json!({ "topic": topic }));
    crate::audit::log(&event);
    store.append_audit(&[event])?;
    Ok(())
}
