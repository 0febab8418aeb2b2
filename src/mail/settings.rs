//! `[mail]` settings: which transport, who mail is from, and the SMTP relay.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// `folder` (write `.eml` files to `folder`; development and tests) or `smtp`.
    pub transport: String,
    /// Where the `folder` transport writes messages.
    pub folder: String,
    /// The From address, e.g. `Gatehouse <no-reply@example.com>`.
    pub from: String,
    pub smtp: SmtpSettings,
}

impl MailSettings {
    /// Refuses settings that could never send: an unknown transport, a From that is not an address,
    /// SMTP without a host, or plaintext SMTP to anything but localhost.
    pub fn check(&self) -> Result<(), String> {
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("mail.from is not an address: {e}"))?;
        match self.transport.as_str() {
            "folder" if self.folder.is_empty() => {
                Err("mail.folder is required for the folder transport".into())
            }
            "folder" => Ok(()),
            "smtp" if self.smtp.host.is_empty() => {
                Err("mail.smtp.host is required for the smtp transport".into())
            }
            "smtp"
                if self.smtp.security == SmtpSecurity::None
                    && !matches!(self.smtp.host.as_str(), "localhost" | "127.0.0.1" | "::1") =>
            {
                Err("mail.smtp.security = \"none\" is only allowed for a relay on localhost".into())
            }
            "smtp" => Ok(()),
            other => Err(format!(
                "mail.transport must be `folder` or `smtp`, not `{other}`"
            )),
        }
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            transport: "folder".into(),
            folder: "data/mail".into(),
            from: "Gatehouse <no-reply@localhost>".into(),
            smtp: SmtpSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `starttls` (port 587), `tls` (implicit TLS, port 465) or `none` (only for a relay on localhost).
    pub security: SmtpSecurity,
    pub username: String,
    #[serde(serialize_with = "crate::config::serialize_redacted")]
    pub password: SecretString,
    /// Seconds before a connection or command gives up.
    pub timeout: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: SecretString::from(""),
            timeout: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_could_never_send_are_refused_by_name() {
        let ok = MailSettings::default();
        assert_eq!(ok.check(), Ok(()));
        let with = |f: fn(&mut MailSettings)| {
            let mut s = MailSettings::default();
            f(&mut s);
            s.check().unwrap_err()
        };
        assert!(with(|s| s.transport = "pigeon".into()).contains("mail.transport"));
        assert!(with(|s| s.from = "not an address".into()).contains("mail.from"));
        assert!(with(|s| s.transport = "smtp".into()).contains("mail.smtp.host"));
        assert!(
            with(|s| {
                s.transport = "smtp".into();
                s.smtp.host = "mail.example.com".into();
                s.smtp.security = SmtpSecurity::None;
            })
            .contains("localhost")
        );
    }
}
