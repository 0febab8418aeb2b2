//! Delivery: SMTP through lettre (rustls), or `.eml` files in a folder.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use secrecy::ExposeSecret;

use super::{MailError, MailSettings, Message, SmtpSecurity, mask_email};

pub enum Transport {
    Smtp { relay: SmtpTransport, from: Mailbox },
    Folder { path: PathBuf, from: Mailbox },
}

impl Transport {
    pub fn from_settings(s: &MailSettings) -> Result<Self, MailError> {
        s.check().map_err(MailError::Config)?;
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("mail.from is not an address: {e}")))?;
        match s.transport.as_str() {
            "folder" => {
                let path = PathBuf::from(&s.folder);
                std::fs::create_dir_all(&path)
                    .map_err(|e| MailError::Config(format!("mail.folder {}: {e}", path.display())))?;
                Ok(Transport::Folder { path, from })
            }
            "smtp" => Ok(Transport::Smtp {
                relay: smtp_relay(s)?,
                from,
            }),
            other => Err(MailError::Config(format!("unknown mail transport `{other}`"))),
        }
    }

    pub fn deliver(&self, message: &Message) -> Result<(), MailError> {
        match self {
            Transport::Smtp { relay, from } => {
                use lettre::Transport as _;
                relay
                    .send(&build(message, from)?)
                    .map_err(|e| MailError::Delivery(e.to_string()))?;
                tracing::info!(to = %mask_email(&message.to), "mail sent");
            }
            Transport::Folder { path, from } => {
                let bytes = build(message, from)?.formatted();
                let name = format!(
                    "{}-{}.eml",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or_default(),
                    crate::crypto::random_id()
                );
                let file = path.join(name);
                std::fs::write(&file, bytes).map_err(|e| MailError::Delivery(e.to_string()))?;
                tracing::info!(to = %mask_email(&message.to), file = %file.display(), "mail written");
            }
        }
        Ok(())
    }
}

fn smtp_relay(s: &MailSettings) -> Result<SmtpTransport, MailError> {
    let smtp = &s.smtp;
    let builder = match smtp.security {
        SmtpSecurity::Starttls => SmtpTransport::starttls_relay(&smtp.host),
        SmtpSecurity::Tls => SmtpTransport::relay(&smtp.host),
        // `check` allowed plaintext only to localhost.
        SmtpSecurity::None => Ok(SmtpTransport::builder_dangerous(&smtp.host)),
    }
    .map_err(|e| MailError::Config(format!("mail.smtp: {e}")))?;
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(smtp.timeout.max(1))));
    if !smtp.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            smtp.username.clone(),
            smtp.password.expose_secret().to_string(),
        ));
    }
    Ok(builder.build())
}

fn build(message: &Message, from: &Mailbox) -> Result<lettre::Message, MailError> {
    let to: Mailbox = message
        .to
        .parse()
        .map_err(|e| MailError::Delivery(format!("recipient: {e}")))?;
    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&message.subject);
    for (name, value) in &message.headers {
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|e| MailError::Delivery(format!("header {name}: {e}")))?;
        builder = builder.raw_header(HeaderValue::new(name, value.clone()));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            message.html.clone(),
        ))
        .map_err(|e| MailError::Delivery(e.to_string()))
}
