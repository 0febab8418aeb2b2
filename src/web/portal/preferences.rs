//! GET/POST /account/preferences: a table of checkboxes, topic × channel, saved at once.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::errors::PageError;
use super::super::extract::{params, see_other};
use super::super::pages::{PortalChrome, PortalPreferencesPage, PreferenceCell, PreferenceRow, ok};
use super::{page, submit_params};
use crate::flows::FlowError;
use crate::flows::portal::preferences::{self, TopicChoices};
use crate::protocol::params::Params;

/// At most this many fields in one preferences form (topics × channels, and the CSRF token).
const MAX_FIELDS: usize = 2000;

/// A channel's column heading.
fn channel_label(channel: &str) -> String {
    match channel {
        "email" => "Email".into(),
        "sms" => "Text message".into(),
        "push" => "Push notification".into(),
        "phone" => "Phone call".into(),
        "post" => "Post".into(),
        other => {
            let mut chars = other.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

/// The checkbox name of one (topic, channel).
fn field(topic: &str, channel: &str) -> String {
    format!("sub.{topic}.{channel}")
}

fn table(choices: Vec<TopicChoices>) -> (Vec<(String, String)>, Vec<PreferenceRow>) {
    let mut channels: Vec<String> = Vec::new();
    for c in choices.iter().flat_map(|t| t.channels.iter().map(|(c, _)| c)) {
        if !channels.contains(c) {
            channels.push(c.clone());
        }
    }
    let rows = choices
        .into_iter()
        .map(|t| PreferenceRow {
            cells: channels
                .iter()
                .map(|column| {
                    t.channels
                        .iter()
                        .find(|(c, _)| c == column)
                        .map(|(c, on)| PreferenceCell {
                            id: field(&t.topic.id, c).replace('.', "-"),
                            name: field(&t.topic.id, c),
                            label: channel_label(c).to_lowercase(),
                            checked: *on,
                        })
                })
                .collect(),
            name: t.topic.name,
            description: t.topic.description,
        })
        .collect();
    (
        channels.iter().map(|c| (c.clone(), channel_label(c))).collect(),
        rows,
    )
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let notice = params(&req, &[])?
        .has("saved")
        .then(|| "Your preferences have been saved.".to_string());
    page(
        &state,
        &req,
        "/account/preferences",
        |p, _, s| Ok((preferences::choices(p, &s.user.id)?, s.user)),
        move |(choices, user), csrf| {
            let (channels, topics) = table(choices);
            ok(&PortalPreferencesPage {
                chrome: PortalChrome::new(&user, "preferences"),
                csrf,
                notice,
                channels,
                topics,
            })
        },
    )
    .await
}

pub async fn save(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    // One checkbox per (topic, channel) can exceed what `Params` takes: read the pairs directly.
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .into_owned()
        .take(MAX_FIELDS + 1)
        .collect();
    if pairs.len() > MAX_FIELDS {
        return Err(FlowError::page("The form is too large", "Reload the page and try again.").into());
    }
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let wanted: BTreeSet<(String, String)> = pairs
        .iter()
        .filter(|(_, v)| v == "on")
        .filter_map(|(k, _)| k.strip_prefix("sub.")?.split_once('.'))
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .collect();
    let params = Params::from_pairs(&[("csrf", csrf)]);
    let done = submit_params(&state, &req, params, "/account/preferences", move |p, s, sub| {
        preferences::save(p, &s, &wanted, &sub.origin)
    })
    .await?;
    Ok(match done {
        Err(signed_out) => signed_out,
        Ok(_) => see_other("/account/preferences?saved=1").finish(),
    })
}
