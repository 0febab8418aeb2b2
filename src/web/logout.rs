//! GET/POST /end_session (RP-Initiated Logout 1.0) and its confirmation form.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::errors::PageError;
use super::extract::{BrowserCookies, blocking, params, see_other};
use super::pages::{ErrorPage, LogoutPage, SignedOutPage, ok};
use crate::flows::logout::{self, LogoutNext};
use crate::rate_limit::LimitedAction;

pub async fn end_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    state.limit_per_ip(&req, LimitedAction::EndSessionPerIp)?;
    let params = params(&req, &body)?;
    let cookies = BrowserCookies::read(&req, &state);
    let (p, browser) = (state.provider.clone(), cookies.browser.clone());
    // The confirmation page posts back with a decision and a CSRF token; a relying party does not.
    let next = match params.get("decision") {
        None => {
            let origin = state.origin(&req);
            blocking(move || logout::start(&p, &params, &browser, &origin)).await?
        }
        Some(decision) => {
            state.require_csrf(&browser, &params)?;
            let sign_out = decision == "logout";
            {
                let origin = state.origin(&req);
                blocking(move || logout::confirm(&p, &params, &browser, sign_out, &origin))
            }
            .await?
        }
    };
    Ok(match next {
        LogoutNext::Confirm(request) => {
            let mut response = ok(&LogoutPage {
                csrf: state.provider.sealer.csrf_token(&cookies.browser.binding_id),
                client_name: request.client.as_ref().map(|c| c.name.clone()),
                client_id: request.client.map(|c| c.id).unwrap_or_default(),
                post_logout_redirect_uri: request.post_logout_redirect_uri.unwrap_or_default(),
                state: request.state.unwrap_or_default(),
            });
            if cookies.new_binding {
                let _ =
                    response.add_cookie(&state.cookie("browser", cookies.browser.binding_id.clone(), None));
            }
            response
        }
        LogoutNext::SignedOut(redirect) => {
            let mut response = match redirect {
                Some(url) => see_other(&url).finish(),
                None => ok(&SignedOutPage),
            };
            let _ = response.add_cookie(&state.expired_session_cookie());
            response
        }
        LogoutNext::Cancelled(Some(url)) => see_other(&url).finish(),
        LogoutNext::Cancelled(None) => ok(&ErrorPage {
            title: "You are still signed in".into(),
            message: "Nothing was changed. You can close this window.".into(),
            request_id: String::new(),
        }),
    })
}
