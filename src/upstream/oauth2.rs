//! `kind = oauth2` (GitHub-style, no ID token): the code flow with PKCE and state through the `oauth2`
//! crate, then the userinfo document mapped to an identity by the connection's claim mapping. The
//! `github` preset asks the emails API for the verified primary address.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;

use super::{
    Connection, Connectors, Finish, Preset, Start, UpstreamError, UpstreamIdentity, json_bool, json_object,
    json_string,
};

fn endpoint<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, UpstreamError> {
    value
        .as_deref()
        .ok_or_else(|| UpstreamError::Config(format!("an oauth2 connection needs {name}")))
}

fn config_error(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Config(e.to_string())
}

pub fn authorization_url(conn: &Connection, start: &Start) -> Result<String, UpstreamError> {
    let client = BasicClient::new(ClientId::new(conn.spec.client_id.clone()))
        .set_auth_uri(
            AuthUrl::new(endpoint(&conn.spec.authorize_url, "authorize_url")?.into())
                .map_err(config_error)?,
        )
        .set_redirect_uri(RedirectUrl::new(conn.callback_url.clone()).map_err(config_error)?);
    let state = start.state.to_string();
    let verifier = PkceCodeVerifier::new(start.pkce_verifier.to_string());
    let mut request = client
        .authorize_url(move || CsrfToken::new(state))
        .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
    for scope in &conn.spec.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if let Some(hint) = start.login_hint {
        request = request.add_extra_param("login", hint.to_string());
    }
    let (url, _) = request.url();
    Ok(url.to_string())
}

pub fn finish(c: &Connectors, conn: &Connection, f: &Finish) -> Result<UpstreamIdentity, UpstreamError> {
    let client = BasicClient::new(ClientId::new(conn.spec.client_id.clone()))
        .set_client_secret(ClientSecret::new(
            conn.client_secret().expose_secret().to_string(),
        ))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(
            TokenUrl::new(endpoint(&conn.spec.token_url, "token_url")?.into()).map_err(config_error)?,
        )
        .set_redirect_uri(RedirectUrl::new(conn.callback_url.clone()).map_err(config_error)?);
    let http = c.outbound.client(conn.spec.allow_private_network);
    let tokens = client
        .exchange_code(AuthorizationCode::new(f.code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(f.pkce_verifier.to_string()))
        .request(&http)
        .map_err(super::oidc::token_error)?;
    let access_token = tokens.access_token().secret();
    let userinfo_url = endpoint(&conn.spec.userinfo_url, "userinfo_url")?;
    let response = http.get_json(userinfo_url, Some(access_token))?;
    if !response.status().is_success() {
        return Err(UpstreamError::Invalid(format!(
            "userinfo answered HTTP {}",
            response.status().as_u16()
        )));
    }
    let doc = json_object(response.body(), "userinfo response")?;
    let mut identity = map_claims(conn, &doc)?;
    if conn.spec.preset == Some(Preset::Github) {
        let emails_url = format!("{}/emails", userinfo_url.trim_end_matches('/'));
        if let Some(primary) = github_primary_email(c, conn, &emails_url, access_token)? {
            identity.email = Some(primary);
            identity.email_verified = true;
        }
    }
    Ok(identity)
}

/// Applies the connection's claim mapping to a userinfo document.
fn map_claims(conn: &Connection, doc: &serde_json::Value) -> Result<UpstreamIdentity, UpstreamError> {
    let m = &conn.spec.claims;
    let field = |name: &Option<String>, default: &str| json_string(doc, name.as_deref().unwrap_or(default));
    let subject = field(&m.subject, "sub")
        .ok_or_else(|| UpstreamError::Invalid("the userinfo response has no subject".into()))?;
    Ok(UpstreamIdentity {
        subject,
        email: field(&m.email, "email"),
        // Without a mapped verification flag an email is not known to be verified.
        email_verified: m
            .email_verified
            .as_deref()
            .and_then(|f| json_bool(doc, f))
            .unwrap_or(false),
        name: field(&m.name, "name").or_else(|| json_string(doc, "login")),
        picture: field(&m.picture, "picture"),
        amr: Vec::new(),
        acr: None,
        ..Default::default()
    })
}

/// GitHub's `/user` email is the public one, unverified; `/user/emails` says which is primary and verified.
fn github_primary_email(
    c: &Connectors,
    conn: &Connection,
    url: &str,
    access_token: &str,
) -> Result<Option<String>, UpstreamError> {
    let http = c.outbound.client(conn.spec.allow_private_network);
    let response = http.get_json(url, Some(access_token))?;
    if !response.status().is_success() {
        return Ok(None);
    }
    let emails: Vec<serde_json::Value> = serde_json::from_slice(response.body())
        .map_err(|_| UpstreamError::Invalid("the emails response is not a JSON list".into()))?;
    Ok(emails
        .iter()
        .find(|e| json_bool(e, "primary") == Some(true) && json_bool(e, "verified") == Some(true))
        .and_then(|e| json_string(e, "email")))
}
