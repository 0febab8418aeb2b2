//! Signed unsubscribe links for mails: `GET /unsubscribe?t=<token>` asks to confirm with one button,
//! the POST unsubscribes without a sign-in (the token is the proof, RFC 8058 one-click included).
//!
//! token = base64url(payload) "." base64url(HMAC-SHA256(key, base64url(payload))), the payload naming
//! (user id, topic, channel, issued at). The key is derived from the gateway's secret with its own
//! label, so it is used for nothing else. Links do not expire (an unsubscribe link must keep working
//! for as long as the mail may be read); a new `keys.encryption_key` invalidates them all.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::super::link::mask_email;
use super::super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::store::UserPreference;

const KEY_LABEL: &str = "unsubscribe v1";

#[derive(Serialize, Deserialize)]
struct Payload {
    /// User id.
    u: String,
    /// Topic id.
    t: String,
    /// Channel.
    c: String,
    /// Issued at.
    i: i64,
}

fn key(p: &Provider) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, &p.sealer.derive_key(KEY_LABEL))
}

/// The token for one (user, topic, channel), issued at `issued_at`.
pub fn token(p: &Provider, user_id: &str, topic: &str, channel: &str, issued_at: i64) -> String {
    let payload = Payload {
        u: user_id.into(),
        t: topic.into(),
        c: channel.into(),
        i: issued_at,
    };
    let encoded = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap_or_default());
    let tag = hmac::sign(&key(p), encoded.as_bytes());
    format!("{encoded}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// The absolute unsubscribe link to put in a mail (and in its `List-Unsubscribe` header, with
/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`). Built from the configured issuer, never from
/// a request's `Host` (DESIGN §4.11).
pub fn unsubscribe_url(p: &Provider, user_id: &str, topic: &str, channel: &str) -> String {
    format!(
        "{}/unsubscribe?t={}",
        p.issuer().trim_end_matches('/'),
        token(p, user_id, topic, channel, now())
    )
}

/// The payload of an authentic token; `None` for anything altered, truncated or forged.
fn verify(p: &Provider, token: &str) -> Option<Payload> {
    let (encoded, tag) = token.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    // ring compares in constant time.
    hmac::verify(&key(p), encoded.as_bytes(), &tag).ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
}

/// What the confirmation page shows.
pub struct UnsubscribeView {
    pub topic_name: String,
    pub channel: String,
    /// `a••@example.com`: the person recognises their account, a stranger with the link learns little.
    pub masked_email: String,
    pub subscribed: bool,
}

fn invalid_link() -> FlowError {
    FlowError::page(
        "This unsubscribe link is not valid",
        "It may have been altered or be incomplete. Open it again from the email, or manage your \
         preferences from your account.",
    )
}

/// The token's subscription as it stands; the error page for a bad token or one whose account or topic
/// no longer exists.
pub fn show(p: &Provider, token: &str) -> Result<UnsubscribeView, FlowError> {
    let payload = verify(p, token).ok_or_else(invalid_link)?;
    let user = p.store.find_user(&payload.u)?.ok_or_else(invalid_link)?;
    let topic = p
        .store
        .find_topic(&payload.t)?
        .filter(|t| t.channels.contains(&payload.c))
        .ok_or_else(invalid_link)?;
    let subscribed = p
        .store
        .list_preferences(&user.id)?
        .iter()
        .any(|r| r.topic_id == topic.id && r.channel == payload.c && r.subscribed);
    Ok(UnsubscribeView {
        topic_name: topic.name,
        channel: payload.c,
        masked_email: mask_email(&user.email),
        subscribed,
    })
}

/// Unsubscribes the token's (user, topic, channel). Idempotent: an unsubscribed choice stays as it is.
#[instrument(skip_all)]
pub fn unsubscribe(p: &Provider, token: &str, origin: &Origin) -> Result<UnsubscribeView, FlowError> {
    let view = show(p, token)?;
    if !view.subscribed {
        return Ok(view);
    }
    let payload = verify(p, token).ok_or_else(invalid_link)?;
    let change = UserPreference {
        user_id: payload.u.clone(),
        topic_id: payload.t,
        channel: payload.c,
        subscribed: false,
        updated_at: now(),
        source: "unsubscribe_link".into(),
    };
    // The link holder is not signed in: no actor, the person is the subject.
    p.auditor.record(
        AuditEvent::new(kind::UNSUBSCRIBED, Outcome::Success, now())
            .origin(origin)
            .subject(&payload.u)
            .detail(serde_json::json!({
                "changes": super::preferences::summary(std::slice::from_ref(&change)),
                "link_issued_at": payload.i,
            })),
    )?;
    p.store.save_preferences(&[change])?;
    Ok(UnsubscribeView {
        subscribed: false,
        ..view
    })
}
