//! Outgoing mail: one-time codes and notices. A message is rendered from askama templates (a plain-text
//! and an HTML part) and handed to a background sender, so that a slow SMTP server never holds a request
//! and the time to answer does not tell whether an address has an account (DESIGN §4.13).
//!
//! Transports: `smtp` (lettre over rustls) in production; `folder` in development and tests, which
//! writes each message as an `.eml` file (tests read codes from there) and logs that it did, never the
//! content (codes are secrets).

mod settings;
mod templates;
mod transport;

use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

pub use settings::{MailSettings, SmtpSecurity, SmtpSettings};
pub use templates::{EmailCodeMail, render_email_code};
pub use transport::Transport;

/// How many messages may wait for the sender; beyond that `send` refuses (and the caller answers 503).
const QUEUE: usize = 1024;

/// A message ready to send.
#[derive(Clone)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Extra headers, e.g. `List-Unsubscribe` (RFC 8058).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("to", &mask_email(&self.to))
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("the mail queue is full")]
    QueueFull,
    #[error("mail delivery failed: {0}")]
    Delivery(String),
}

/// The handle flows use. Cheap to clone; messages go to one sender thread.
#[derive(Clone)]
pub struct Mailer {
    queue: SyncSender<Message>,
}

impl Mailer {
    /// Starts the sender thread for the configured transport.
    pub fn start(settings: &MailSettings) -> Result<Self, MailError> {
        let transport = Transport::from_settings(settings)?;
        let (queue, inbox) = sync_channel::<Message>(QUEUE);
        std::thread::Builder::new()
            .name("gatehouse-mail".into())
            .spawn(move || {
                for message in inbox {
                    if let Err(e) = transport.deliver(&message) {
                        tracing::error!(to = %mask_email(&message.to), error = %e, "mail not delivered");
                    }
                }
            })
            .map_err(|e| MailError::Config(e.to_string()))?;
        Ok(Self { queue })
    }

    /// Queues a message. Delivery happens in the background; failures are logged there.
    pub fn send(&self, message: Message) -> Result<(), MailError> {
        self.queue.try_send(message).map_err(|e| match e {
            TrySendError::Full(_) => MailError::QueueFull,
            TrySendError::Disconnected(_) => MailError::Delivery("the mail sender stopped".into()),
        })
    }
}

/// `a***@example.com`: enough to recognise an address in logs and pages, not enough to harvest it.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// A light syntax check (RFC 5321 lengths, one `@`, a dotted domain, no spaces or controls). Whether the
/// address works is proven by the code sent to it, not by parsing.
pub fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && !domain.contains('@')
        && lettre::Address::new(local, domain).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked_in_logs() {
        assert_eq!(mask_email("ada@example.com"), "a***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
    }

    #[test]
    fn only_plausible_addresses_pass() {
        assert!(is_plausible_email("ada@example.com"));
        assert!(is_plausible_email("a.b+tag@sub.example.org"));
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a da@example.com",
            "ada@@x.com",
            "ada@example.com\r\nBcc: x@y.z",
            "<ada@example.com>",
        ] {
            assert!(!is_plausible_email(bad), "{bad:?}");
        }
    }
}
