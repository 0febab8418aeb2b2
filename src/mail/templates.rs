//! Mail bodies, rendered with askama from `templates/mail/` (HTML auto-escaped, text as is).

use askama::Template;

use super::Message;

/// The one-time code mail: the code and the link that carries it (to this browser's code page).
pub struct EmailCodeMail<'a> {
    pub to: &'a str,
    pub code: &'a str,
    /// The page where the code is typed, with the code filled in.
    pub link: &'a str,
    /// `true`: the code finishes creating an account; `false`: it signs in.
    pub sign_up: bool,
    pub minutes: i64,
}

#[derive(Template)]
#[template(path = "mail/email_code.txt")]
struct CodeText<'a> {
    m: &'a EmailCodeMail<'a>,
}

#[derive(Template)]
#[template(path = "mail/email_code.html")]
struct CodeHtml<'a> {
    m: &'a EmailCodeMail<'a>,
}

pub fn render_email_code(m: &EmailCodeMail<'_>) -> Result<Message, askama::Error> {
    let subject = if m.sign_up {
        format!("{} is your code to finish signing up", m.code)
    } else {
        format!("{} is your sign-in code", m.code)
    };
    Ok(Message {
        to: m.to.to_string(),
        subject,
        text: CodeText { m }.render()?,
        html: CodeHtml { m }.render()?,
        headers: Vec::new(),
    })
}
