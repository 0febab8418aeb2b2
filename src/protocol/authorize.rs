//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) parsed into a type that cannot be
//! wrong, and the authorization response (§4.1.2) in query or form_post mode with `iss` (RFC 9207).
//!
//! Order matters: until `client_id` and `redirect_uri` are proven, nothing may redirect (RFC 6749
//! §4.1.2.1: "MUST NOT automatically redirect the user-agent to the invalid redirection URI").

use serde::{Deserialize, Serialize};

use super::claims_request::ClaimsRequest;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::{pkce, redirect_uri, scope};
use crate::store::Client;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// Where and how an authorization response goes. Only built from a validated redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseTarget {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub state: Option<String>,
}

/// What the browser is sent back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationResponse {
    Redirect(String),
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

impl ResponseTarget {
    pub fn success(&self, issuer: &str, code: &str) -> AuthorizationResponse {
        self.respond(issuer, vec![("code".into(), code.to_string())])
    }

    pub fn error(&self, issuer: &str, error: &OAuthError) -> AuthorizationResponse {
        self.respond(
            issuer,
            vec![
                ("error".into(), error.code.to_string()),
                ("error_description".into(), error.description.to_string()),
            ],
        )
    }

    fn respond(&self, issuer: &str, mut fields: Vec<(String, String)>) -> AuthorizationResponse {
        if let Some(state) = &self.state {
            fields.push(("state".into(), state.clone()));
        }
        // RFC 9207 §2: the issuer identifier in every authorization response, success or error.
        fields.push(("iss".into(), issuer.to_string()));
        match self.mode {
            ResponseMode::FormPost => AuthorizationResponse::FormPost {
                action: self.redirect_uri.clone(),
                fields,
            },
            ResponseMode::Query => {
                // A registered URI may carry its own query, which must be kept (RFC 6749 §3.1.2).
                let mut url =
                    url::Url::parse(&self.redirect_uri).expect("registered redirect URIs are absolute");
                url.query_pairs_mut().extend_pairs(fields.iter());
                AuthorizationResponse::Redirect(url.into())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    /// OpenID Connect Prompt Create 1.0: show the sign-up page instead of sign-in.
    #[serde(default)]
    pub create: bool,
}

/// A validated authorization request, kept server-side while the user signs in and consents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub target: ResponseTarget,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub acr_values: Vec<String>,
    pub ui_locales: Option<String>,
    /// Gatehouse extension: sign in through this upstream connection, skipping the chooser.
    #[serde(default)]
    pub connection: Option<String>,
    /// Gatehouse extension: the organization (id or slug) to sign in for (B2B).
    #[serde(default)]
    pub organization: Option<String>,
    /// OIDC Core §5.5: individual claims asked for.
    #[serde(default)]
    pub claims: Option<ClaimsRequest>,
}

/// Why a request was refused, and whether it is safe to tell the client by redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show the gateway's own error page.
    Page(String),
    /// A verified redirect URI exists: send the error there with `state` and `iss`.
    Redirect(ResponseTarget, OAuthError),
}

impl AuthorizationRequest {
    /// The client id named by the request, to look the client up before `parse`.
    pub fn client_id(params: &Params) -> Option<&str> {
        params.get("client_id")
    }

    /// Validates the request for `client` (None if `client_id` is unknown).
    pub fn parse(params: &Params, client: Option<&Client>) -> Result<Self, AuthorizeError> {
        let client = client.ok_or_else(|| {
            AuthorizeError::Page("This application is not registered with Gatehouse.".into())
        })?;
        let redirect = params.get("redirect_uri").ok_or_else(|| {
            AuthorizeError::Page(
                "The application did not say where to return (redirect_uri is missing).".into(),
            )
        })?;
        if !redirect_uri::is_registered(&client.redirect_uris, redirect) {
            return Err(AuthorizeError::Page(
                "The application asked to return to an address it has not registered.".into(),
            ));
        }
        let mode_param = params.get("response_mode");
        let mode = match mode_param {
            None | Some("query") => ResponseMode::Query,
            Some("form_post") => ResponseMode::FormPost,
            Some(_) => ResponseMode::Query,
        };
        let target = ResponseTarget {
            redirect_uri: redirect.to_string(),
            mode,
            state: params.get("state").map(str::to_string),
        };
        let fail = |code: ErrorCode, msg: &'static str| {
            AuthorizeError::Redirect(target.clone(), OAuthError::new(code, msg))
        };

        if mode_param.is_some_and(|m| m != "query" && m != "form_post") {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "response_mode must be query or form_post",
            ));
        }
        // OIDC Core §6: request objects are optional; say so with the dedicated codes.
        if params.has("request") {
            return Err(fail(
                ErrorCode::RequestNotSupported,
                "request objects are not supported",
            ));
        }
        if params.has("request_uri") {
            return Err(fail(
                ErrorCode::RequestUriNotSupported,
                "request_uri is not supported",
            ));
        }
        match params.get("response_type") {
            None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
            Some("code") => {}
            Some(_) => {
                return Err(fail(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        if !client.allows_grant("authorization_code") {
            return Err(fail(
                ErrorCode::UnauthorizedClient,
                "this client may not use the authorization code flow",
            ));
        }
        let scopes = parse_scopes(params, client).map_err(|msg| fail(ErrorCode::InvalidScope, msg))?;
        let code_challenge =
            parse_pkce(params, client).map_err(|msg| fail(ErrorCode::InvalidRequest, msg))?;
        let prompt =
            parse_prompt(params.get("prompt")).map_err(|msg| fail(ErrorCode::InvalidRequest, msg))?;
        let max_age = match params.get("max_age") {
            None => None,
            Some(v) => Some(v.parse::<u32>().map_err(|_| {
                fail(
                    ErrorCode::InvalidRequest,
                    "max_age must be a non-negative integer",
                )
            })? as i64),
        };
        let claims = match params.get("claims") {
            None => None,
            Some(raw) => Some(ClaimsRequest::parse(raw).map_err(|msg| fail(ErrorCode::InvalidRequest, msg))?),
        };
        Ok(Self {
            client_id: client.id.clone(),
            target: target.clone(),
            scopes,
            nonce: params.get("nonce").map(str::to_string),
            code_challenge,
            prompt,
            max_age,
            login_hint: params.get("login_hint").map(str::to_string),
            id_token_hint: params.get("id_token_hint").map(str::to_string),
            acr_values: params.get("acr_values").map(scope::parse).unwrap_or_default(),
            ui_locales: params.get("ui_locales").map(str::to_string),
            connection: params.get("connection").map(str::to_string),
            organization: params.get("organization").map(str::to_string),
            claims,
        })
    }

    pub fn is_openid(&self) -> bool {
        scope::contains(&self.scopes, "openid")
    }
}

fn parse_scopes(params: &Params, client: &Client) -> Result<Vec<String>, &'static str> {
    let requested = scope::parse(params.get("scope").ok_or("scope is required")?);
    if requested.is_empty() || !requested.iter().all(|s| scope::is_valid_token(s)) {
        return Err("scope is malformed");
    }
    if !scope::is_subset(&requested, &client.scopes) {
        return Err("a requested scope is not allowed for this client");
    }
    Ok(requested)
}

fn parse_pkce(params: &Params, client: &Client) -> Result<Option<String>, &'static str> {
    let challenge = params.get("code_challenge");
    let method = params.get("code_challenge_method");
    match (challenge, method) {
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        (None, None) if client.is_public() => {
            Err("PKCE (code_challenge with S256) is required for public clients")
        }
        (None, None) => Ok(None),
        // RFC 7636 §4.3: an absent method means `plain`, which is refused.
        (Some(_), None) | (Some(_), Some(_)) if method != Some("S256") => {
            Err("code_challenge_method must be S256")
        }
        (Some(c), _) if !pkce::is_valid_challenge(c) => Err("code_challenge is malformed"),
        (Some(c), _) => Ok(Some(c.to_string())),
    }
}

fn parse_prompt(value: Option<&str>) -> Result<Prompt, &'static str> {
    let mut prompt = Prompt::default();
    for p in value.unwrap_or_default().split(' ').filter(|p| !p.is_empty()) {
        match p {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "create" => prompt.create = true,
            // select_account: a single account per browser session, so there is nothing to select.
            "select_account" => {}
            _ => return Err("unsupported prompt value"),
        }
    }
    // OIDC Core §3.1.2.1: "If this parameter contains none with any other value, an error is returned".
    if prompt.none && (prompt.login || prompt.consent || prompt.create) {
        return Err("prompt=none cannot be combined with other values");
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool) -> Client {
        Client {
            id: "app".into(),
            name: "App".into(),
            secret_hash: (!public).then(|| "h".into()),
            redirect_uris: vec!["https://app.example.com/cb?tenant=1".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec!["authorization_code".into()],
            scopes: vec!["openid".into(), "email".into()],
            id_token_alg: "RS256".into(),
            skip_consent: false,
            created_at: 0,
            allowed_origins: vec![],
            organizations: vec![],
        }
    }

    fn params(extra: &[(&str, &str)]) -> Params {
        let mut pairs = vec![
            ("client_id", "app"),
            ("redirect_uri", "https://app.example.com/cb?tenant=1"),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", "s1"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k, v));
        }
        Params::from_pairs(&pairs)
    }

    fn redirect_error(result: Result<AuthorizationRequest, AuthorizeError>) -> ErrorCode {
        match result {
            Err(AuthorizeError::Redirect(target, e)) => {
                assert_eq!(target.state.as_deref(), Some("s1"));
                e.code
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_parses() {
        let req = AuthorizationRequest::parse(&params(&[]), Some(&client(true))).unwrap();
        assert_eq!(req.scopes, vec!["openid", "email"]);
        assert!(req.is_openid());
    }

    #[test]
    fn untrusted_client_or_redirect_never_redirects() {
        assert!(matches!(
            AuthorizationRequest::parse(&params(&[]), None),
            Err(AuthorizeError::Page(_))
        ));
        let bad = params(&[("redirect_uri", "https://evil.example.com/cb")]);
        assert!(matches!(
            AuthorizationRequest::parse(&bad, Some(&client(true))),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn errors_after_the_redirect_is_trusted_go_back_to_the_client() {
        let c = client(true);
        let parse = |extra: &[(&str, &str)]| AuthorizationRequest::parse(&params(extra), Some(&c));
        assert_eq!(
            redirect_error(parse(&[("response_type", "token")])),
            ErrorCode::UnsupportedResponseType
        );
        assert_eq!(
            redirect_error(parse(&[("scope", "openid admin")])),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            redirect_error(parse(&[("code_challenge_method", "plain")])),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_error(parse(&[("code_challenge", "")])),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_error(parse(&[("prompt", "none login")])),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_error(parse(&[("max_age", "-1")])),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirect_error(parse(&[("request", "eyJ")])),
            ErrorCode::RequestNotSupported
        );
        assert_eq!(
            redirect_error(parse(&[("request_uri", "https://x")])),
            ErrorCode::RequestUriNotSupported
        );
    }

    #[test]
    fn responses_keep_the_registered_query_and_carry_state_and_iss() {
        let req = AuthorizationRequest::parse(&params(&[]), Some(&client(true))).unwrap();
        let AuthorizationResponse::Redirect(url) = req.target.success("https://id.example.com", "c0de")
        else {
            panic!("query mode redirects")
        };
        assert_eq!(
            url,
            "https://app.example.com/cb?tenant=1&code=c0de&state=s1&iss=https%3A%2F%2Fid.example.com"
        );
    }
}
