//! GET/POST /unsubscribe: signed links from mails, no sign-in. The POST also takes the RFC 8058
//! one-click form (`List-Unsubscribe=One-Click`, the token in the URL) that mail providers send.

use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::errors::PageError;
use super::super::extract::{blocking, params, see_other};
use super::super::pages::{UnsubscribePage, ok};
use crate::flows::portal::unsubscribe;
use crate::protocol::params::Params;

fn unsubscribe_page(token: String, view: unsubscribe::UnsubscribeView, done: bool) -> HttpResponse {
    ok(&UnsubscribePage {
        token,
        topic: view.topic_name,
        channel: view.channel,
        masked_email: view.masked_email,
        subscribed: view.subscribed,
        done,
    })
}

/// GET: what the link does, with one button (a link scanner fetching it changes nothing).
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params(&req, &[])?;
    let token = params.get("t").unwrap_or_default().to_string();
    let done = params.has("done");
    let (p, t) = (state.provider.clone(), token.clone());
    let view = blocking(move || unsubscribe::show(&p, &t)).await?;
    Ok(unsubscribe_page(token, view, done))
}

/// POST: unsubscribes. The token comes from the form (our button) or the query (RFC 8058 §3.1: "the
/// POST request ... to the URI in the List-Unsubscribe header").
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = params(&req, &body)?;
    let query = Params::parse(req.query_string().as_bytes())?;
    let token = form
        .get("t")
        .or_else(|| query.get("t"))
        .unwrap_or_default()
        .to_string();
    let one_click = form.get("List-Unsubscribe") == Some("One-Click");
    let (p, t, origin) = (state.provider.clone(), token.clone(), state.origin(&req));
    let view = blocking(move || unsubscribe::unsubscribe(&p, &t, &origin)).await?;
    if one_click {
        // The mail provider's request: answer it directly, there is no browser to redirect.
        return Ok(unsubscribe_page(token, view, true));
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("t", &token)
        .append_pair("done", "1")
        .finish();
    Ok(see_other(&format!("/unsubscribe?{query}")).finish())
}
