//! The audit log: one append-only, hash-chained record per security event (DESIGN §4.16).
//!
//! Events of a state change (a sign-in, a code exchange, a refresh) commit in its transaction, through
//! the store (`SignInRecord`, `IssueRecord`): no commit of their own (on PostgreSQL they commit to an
//! outbox that the store chains within a second; store/sql/audit_outbox.rs). Other events are written by a
//! single writer thread with group commit: every event waiting when the writer is free goes into one
//! transaction, so the hot path pays a fraction of a commit instead of one each, and a caller that needs
//! durability (`record`) returns only once its event is committed. Callers that cannot record an event
//! fail rather than proceed unaudited. Each event also goes to tracing (target `audit`) for log
//! pipelines. Records never hold secrets, tokens, codes, passwords or emails.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::b64url;
use crate::store::{AuditStore, StoreError};

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// The event catalogue (documented in README "Audit log").
pub mod kind {
    pub const SIGN_IN: &str = "sign_in";
    pub const EMAIL_CODE_SENT: &str = "email_code.requested";
    pub const CONSENT_GRANTED: &str = "consent.granted";
    pub const CONSENT_DENIED: &str = "consent.denied";
    pub const TOKEN_ISSUED: &str = "token.issued";
    pub const CODE_REUSE: &str = "code.reuse_detected";
    pub const REFRESH_REUSE: &str = "refresh.reuse_detected";
    pub const TOKEN_REVOKED: &str = "token.revoked";
    pub const LOGOUT: &str = "logout";
    pub const USER_CREATED: &str = "user.created";
    pub const USER_DELETED: &str = "user.deleted";
    pub const USER_UPDATED: &str = "user.updated";
    pub const SESSIONS_REVOKED: &str = "user.sessions_revoked";
    pub const PASSWORD_CHANGED: &str = "user.password_changed";
    pub const CLIENT_CREATED: &str = "client.created";
    pub const CLIENT_DELETED: &str = "client.deleted";
    pub const CLIENT_SECRET_ROTATED: &str = "client.secret_rotated";
    pub const CLIENT_POLICY_UPDATED: &str = "client.policy_updated";
    pub const KEY_ROTATED: &str = "key.rotated";
    pub const RATE_LIMITED: &str = "rate_limit.tripped";
    /// A sign-in at an upstream provider failed (bad callback, verification, timeout).
    pub const UPSTREAM_SIGN_IN: &str = "upstream.sign_in";
    pub const UPSTREAM_CREATED: &str = "upstream.created";
    pub const UPSTREAM_DELETED: &str = "upstream.deleted";
    pub const IDENTITY_LINKED: &str = "identity.linked";
    pub const IDENTITY_UNLINKED: &str = "identity.unlinked";
    pub const ORGANIZATION_CREATED: &str = "organization.created";
    pub const ORGANIZATION_DELETED: &str = "organization.deleted";
    pub const DOMAIN_ADDED: &str = "organization.domain_added";
    pub const DOMAIN_REMOVED: &str = "organization.domain_removed";
    pub const ROLE_SAVED: &str = "organization.role_saved";
    pub const MEMBER_SAVED: &str = "organization.member_saved";
    pub const MEMBER_REMOVED: &str = "organization.member_removed";
    pub const INVITATION_CREATED: &str = "organization.invitation_created";
    pub const INVITATION_ACCEPTED: &str = "organization.invitation_accepted";
    /// A consent document's version accepted (documents page, portal, sign-up); detail has the
    /// document, version, method and region.
    pub const CONSENT_DOCUMENT_ACCEPTED: &str = "consent.document_accepted";
    pub const CONSENT_DOCUMENT_WITHDRAWN: &str = "consent.document_withdrawn";
    /// Decline on the documents page: the authorization ended with access_denied.
    pub const CONSENT_DOCUMENTS_DECLINED: &str = "consent.documents_declined";
    pub const CONSENT_DOCUMENT_CREATED: &str = "consent.document_created";
    pub const CONSENT_VERSION_PUBLISHED: &str = "consent.version_published";
    /// One session ended from the account portal (the others stay).
    pub const SESSION_REVOKED: &str = "user.session_revoked";
    pub const PREFERENCES_UPDATED: &str = "user.preferences_updated";
    /// A signed unsubscribe link (or an RFC 8058 one-click POST) was used.
    pub const UNSUBSCRIBED: &str = "user.unsubscribed";
    pub const PREFERENCE_TOPIC_CREATED: &str = "preference_topic.created";
    pub const PREFERENCE_TOPIC_DELETED: &str = "preference_topic.deleted";
    pub const DATA_EXPORTED: &str = "user.data_exported";
    pub const DELETION_REQUESTED: &str = "user.deletion_requested";
    /// The person signed in during the grace period: the deletion is cancelled.
    pub const DELETION_CANCELLED: &str = "user.deletion_cancelled";
    /// The account was erased; the record keeps only the opaque user id.
    pub const USER_ERASED: &str = "user.erased";
    /// Issue 8: a second factor or passkey was added or removed (`detail.factor`: totp, passkey,
    /// recovery_codes), a second factor was checked, an MFA policy changed.
    pub const FACTOR_ENROLLED: &str = "factor.enrolled";
    pub const FACTOR_REMOVED: &str = "factor.removed";
    pub const SECOND_FACTOR: &str = "sign_in.second_factor";
    pub const MFA_POLICY_UPDATED: &str = "mfa_policy.updated";
}

/// One event as a flow reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: i64,
    pub event: String,
    pub outcome: Outcome,
    /// Who acted: a user id, `client:<id>`, `cli`, or absent for an anonymous visitor.
    pub actor: Option<String>,
    /// Whom or what it concerns (user id, client id, key id).
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub organization: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// Event-specific facts (reason, grant type, scopes, before/after ids). Never secrets.
    pub detail: Value,
}

impl AuditEvent {
    pub fn new(event: &str, outcome: Outcome, at: i64) -> Self {
        Self {
            at,
            event: event.to_string(),
            outcome,
            actor: None,
            subject: None,
            client_id: None,
            organization: None,
            ip: None,
            request_id: None,
            detail: Value::Object(Default::default()),
        }
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    pub fn organization(mut self, organization_id: impl Into<String>) -> Self {
        self.organization = Some(organization_id.into());
        self
    }

    pub fn origin(mut self, origin: &Origin) -> Self {
        self.ip = origin.ip.clone();
        self.request_id = origin.request_id.clone();
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Where a request came from, as the web layer saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

/// A stored record: the event, its place in the chain and the hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// SHA-256 over the previous hash and the record's canonical JSON (fixed field order).
pub fn chain_hash(prev_hash: &str, seq: i64, event: &AuditEvent) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        seq: i64,
        #[serde(flatten)]
        event: &'a AuditEvent,
    }
    let body = serde_json::to_string(&Canonical { seq, event }).expect("audit events serialise");
    let mut input = Vec::with_capacity(prev_hash.len() + 1 + body.len());
    input.extend_from_slice(prev_hash.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(body.as_bytes());
    b64url(digest::digest(&digest::SHA256, &input).as_ref())
}

/// Checks a chain read in `seq` order from its start: the first record that does not follow from the
/// one before (altered, removed, reordered or inserted) is reported.
pub fn verify_chain(records: impl IntoIterator<Item = AuditRecord>) -> Result<u64, ChainBreak> {
    let mut prev = String::new();
    let mut count = 0;
    for (expected_seq, record) in (1..).zip(records) {
        let reason = if record.seq != expected_seq {
            Some(format!("expected record {expected_seq}, found {}", record.seq))
        } else if record.prev_hash != prev {
            Some("its previous-hash does not match the record before it".to_string())
        } else if chain_hash(&prev, record.seq, &record.event) != record.hash {
            Some("its content does not match its hash".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ChainBreak {
                seq: record.seq,
                reason,
            });
        }
        prev = record.hash;
        count += 1;
    }
    Ok(count)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at record {seq}: {reason}")]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

type Reply = SyncSender<Result<(), String>>;

/// Records events through one writer thread with group commit.
#[derive(Clone)]
pub struct Auditor {
    queue: Sender<(AuditEvent, Option<Reply>)>,
}

impl Auditor {
    pub fn start(store: Arc<dyn AuditStore>) -> Self {
        let (queue, inbox) = channel();
        std::thread::Builder::new()
            .name("gatehouse-audit".into())
            .spawn(move || write_loop(store, inbox))
            .expect("the audit writer thread starts");
        Self { queue }
    }

    /// Records an event durably: returns once it is committed, or an error if it cannot be.
    pub fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        log(&event);
        let (reply, done) = sync_channel(1);
        self.queue
            .send((event, Some(reply)))
            .map_err(|_| StoreError::Unavailable("the audit writer stopped".into()))?;
        match done.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("audit log: {e}"))),
            Err(_) => Err(StoreError::Unavailable("the audit writer stopped".into())),
        }
    }

    /// Records an event without waiting (for events outside a state change, e.g. a rate-limit trip).
    pub fn record_detached(&self, event: AuditEvent) {
        log(&event);
        let _ = self.queue.send((event, None));
    }
}

/// Emits an event to tracing (target `audit`), for log pipelines.
pub fn log(e: &AuditEvent) {
    tracing::info!(
        target: "audit",
        event = %e.event,
        outcome = e.outcome.as_str(),
        actor = e.actor.as_deref().unwrap_or("-"),
        subject = e.subject.as_deref().unwrap_or("-"),
        client_id = e.client_id.as_deref().unwrap_or("-"),
        ip = e.ip.as_deref().unwrap_or("-"),
        request_id = e.request_id.as_deref().unwrap_or("-"),
        detail = %e.detail,
    );
}

/// Waits for one event, takes every other one already waiting (up to a batch), commits them together
/// and answers everyone who waits.
fn write_loop(store: Arc<dyn AuditStore>, inbox: Receiver<(AuditEvent, Option<Reply>)>) {
    const MAX_BATCH: usize = 512;
    while let Ok(first) = inbox.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (events, replies): (Vec<AuditEvent>, Vec<Option<Reply>>) = batch.into_iter().unzip();
        let result = store.append_audit(&events).map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, count = events.len(), "audit events could not be recorded");
        }
        for reply in replies.into_iter().flatten() {
            let _ = reply.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = String::new();
        (1..=n)
            .map(|seq| {
                let event =
                    AuditEvent::new(kind::SIGN_IN, Outcome::Success, 1_000 + seq).subject(format!("u{seq}"));
                let hash = chain_hash(&prev, seq, &event);
                let record = AuditRecord {
                    seq,
                    event,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                record
            })
            .collect()
    }

    /// An audit store in memory that records each batch; it can be told to fail or to take its time.
    #[derive(Default)]
    struct Batches {
        written: Mutex<Vec<Vec<String>>>,
        fail: std::sync::atomic::AtomicBool,
    }

    impl AuditStore for Batches {
        fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
            std::thread::sleep(std::time::Duration::from_millis(2));
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Unavailable("disk full".into()));
            }
            let subjects = events
                .iter()
                .map(|e| e.subject.clone().unwrap_or_default())
                .collect();
            self.written.lock().unwrap().push(subjects);
            Ok(())
        }
        fn audit_page(&self, _: i64, _: i64) -> Result<Vec<AuditRecord>, StoreError> {
            Ok(Vec::new())
        }
        fn audit_page_for(&self, _: &str, _: i64, _: i64) -> Result<Vec<AuditRecord>, StoreError> {
            Ok(Vec::new())
        }
        fn audit_for_user(&self, _: &str, _: i64) -> Result<Vec<AuditRecord>, StoreError> {
            Ok(Vec::new())
        }
    }

    fn event(subject: String) -> AuditEvent {
        AuditEvent::new(kind::TOKEN_ISSUED, Outcome::Success, 1).subject(subject)
    }

    #[test]
    fn concurrent_callers_share_commits_and_each_event_is_written_once() {
        let store = Arc::new(Batches::default());
        let auditor = Auditor::start(store.clone());
        let callers: Vec<_> = (0..16)
            .map(|t| {
                let auditor = auditor.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        auditor.record(event(format!("{t}-{i}"))).expect("committed");
                    }
                })
            })
            .collect();
        callers.into_iter().for_each(|c| c.join().unwrap());
        let batches = store.written.lock().unwrap().clone();
        let mut all: Vec<String> = batches.iter().flatten().cloned().collect();
        assert_eq!(all.len(), 16 * 20);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 16 * 20, "no event twice");
        assert!(batches.len() < 16 * 20, "waiting callers were committed together");
        // Each caller's events are committed in the order it recorded them.
        for t in 0..16 {
            let mine: Vec<String> = batches
                .iter()
                .flatten()
                .filter(|s| s.starts_with(&format!("{t}-")))
                .cloned()
                .collect();
            let expected: Vec<String> = (0..20).map(|i| format!("{t}-{i}")).collect();
            assert_eq!(mine, expected);
        }
    }

    #[test]
    fn a_failed_commit_fails_every_caller_in_it_and_later_ones_proceed() {
        let store = Arc::new(Batches::default());
        let auditor = Auditor::start(store.clone());
        store.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let callers: Vec<_> = (0..4)
            .map(|t| {
                let auditor = auditor.clone();
                std::thread::spawn(move || auditor.record(event(format!("{t}"))))
            })
            .collect();
        for caller in callers {
            let e = caller.join().unwrap().unwrap_err();
            assert!(e.to_string().contains("disk full"), "{e}");
        }
        store.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        auditor
            .record(event("after".into()))
            .expect("committed once the store is back");
        assert_eq!(store.written.lock().unwrap().concat(), vec!["after".to_string()]);
    }

    #[test]
    fn detached_events_are_written_without_a_caller_waiting() {
        let store = Arc::new(Batches::default());
        let auditor = Auditor::start(store.clone());
        auditor.record_detached(event("detached".into()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while store.written.lock().unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the detached event was never written"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(
            store.written.lock().unwrap().concat(),
            vec!["detached".to_string()]
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(chain(5)), Ok(5));
        assert_eq!(verify_chain(Vec::new()), Ok(0));
    }

    #[test]
    fn tampering_is_found_at_the_first_broken_record() {
        let mut altered = chain(5);
        altered[2].event.outcome = Outcome::Failure;
        assert_eq!(verify_chain(altered).unwrap_err().seq, 3);

        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(verify_chain(removed).unwrap_err().seq, 3);

        let mut rehashed = chain(5);
        rehashed[1].event.subject = Some("mallory".into());
        rehashed[1].hash = chain_hash(&rehashed[1].prev_hash, 2, &rehashed[1].event);
        let e = verify_chain(rehashed).unwrap_err();
        assert_eq!(e.seq, 3, "re-hashing one record breaks the link to the next: {e}");
    }
}
