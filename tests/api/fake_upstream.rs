//! A fake upstream identity provider for the brokered sign-in tests: an OpenID Connect provider
//! (discovery, JWKS, authorize, token, userinfo) and a GitHub-style OAuth2 provider (token without an
//! ID token, `/user`, `/user/emails`) in one actix-web server on `127.0.0.1:0`.
//!
//! It is honest by default: codes are single-use, the redirect URI and the PKCE S256 verifier are
//! checked, the client authenticates with HTTP Basic or `client_secret_post`, and ID tokens are ES256
//! JWTs signed with the key the JWKS publishes. A [`Fault`] set with [`FakeUpstream::set_fault`] makes
//! it misbehave in one precise way until another fault (or [`Fault::None`]) is set; the state is shared,
//! so a test can change behaviour between two requests of the same sign-in.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::{ServerHandle, Service};
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gatehouse::upstream::{ClaimMapping, Preset, UpstreamKind, UpstreamSpec};
use ring::digest;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use secrecy::SecretString;
use serde_json::{Value, json};

/// The client id the gateway is registered with at the fake.
pub const UPSTREAM_CLIENT_ID: &str = "gatehouse-test";
/// The client secret the gateway is registered with at the fake (also the HS256 key of [`Fault::Hs256`]).
pub const UPSTREAM_SECRET: &str = "upstream-secret-4d1f7a0c9e2b5d8f3a6c1e4b7d0a9f2c";
/// The numeric GitHub-style user id when the [`FakeUser::sub`] is not a number.
pub const GITHUB_ID: u64 = 4242;
/// The `login` of the GitHub-style user.
pub const GITHUB_LOGIN: &str = "octo";
/// The `avatar_url` of the GitHub-style user.
pub const GITHUB_AVATAR: &str = "https://example.com/a.png";

/// The display name of a connection made by [`FakeUpstream::oidc_spec`] / [`FakeUpstream::oauth2_spec`].
pub fn display_name(id: &str) -> String {
    format!("Fake Upstream {id}")
}

/// A port on 127.0.0.1 where nothing listens (bound, read, released): an upstream that is down.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().unwrap().port()
}

/// The user the fake signs in (whoever presses its authorize button).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    /// OIDC `sub`; the GitHub-style `id` is this number when it parses as one, else [`GITHUB_ID`].
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

impl Default for FakeUser {
    /// `upstream-user-1`, `grace@upstream.example` (verified), `Grace Hopper`.
    fn default() -> Self {
        Self {
            sub: "upstream-user-1".into(),
            email: Some("grace@upstream.example".into()),
            email_verified: true,
            name: Some("Grace Hopper".into()),
        }
    }
}

/// One way for the fake to misbehave. Token faults apply to both token endpoints; ID token faults to
/// the OIDC `/token` only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// `/authorize` sends the browser back with `error=access_denied` (and the state), no code.
    AccessDenied,
    /// The ID token names the JWKS kid but is signed by a key that is not in the JWKS.
    BadSignature,
    /// The ID token is signed by a key whose kid is not in the JWKS (not even after a refetch).
    UnknownKid,
    /// Header `alg: none`, empty signature.
    AlgNone,
    /// HMAC-SHA256 with the client secret as the key.
    Hs256,
    /// `iss` is another issuer.
    WrongIssuer,
    /// `aud` is another client.
    WrongAudience,
    /// `exp` an hour in the past.
    Expired,
    /// `nonce` is not the one the gateway sent.
    WrongNonce,
    /// `/userinfo` answers for another `sub`; the ID token then carries no profile claims (only `iss`,
    /// `sub`, `aud`, `exp`, `iat`, `nonce`), so the gateway has to ask the userinfo endpoint.
    UserinfoSubMismatch,
    /// The discovery document names another issuer (`{base}/impostor`).
    DiscoveryIssuerMismatch,
    /// The token endpoint sleeps this long before answering (then answers normally).
    SlowToken(Duration),
    /// The token endpoint answers `200 text/html`.
    HtmlToken,
    /// The token endpoint answers a 10 MB JSON body.
    HugeToken,
    /// The token endpoint answers `500`.
    TokenServerError,
    /// Setting this rotates the signing key at once: a new key with a new kid, which the JWKS serves
    /// (alone) from then on. Otherwise behaves like [`Fault::None`].
    RotatedKey,
}

/// A running fake upstream. Stopped when dropped.
pub struct FakeUpstream {
    /// `http://127.0.0.1:PORT`, also the OIDC issuer.
    pub base: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

/// The parameters of an `/authorize` request as the fake received them.
pub type Params = HashMap<String, String>;

impl FakeUpstream {
    /// Binds 127.0.0.1:0 and serves on the current actix runtime (call inside `#[actix_web::test]`).
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State::new(base.clone())));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            let counted = data.clone();
            App::new()
                .app_data(data.clone())
                .wrap_fn(move |req, srv| {
                    counted.lock().unwrap().requests += 1;
                    srv.call(req)
                })
                .route("/.well-known/openid-configuration", web::get().to(discovery))
                .route("/jwks", web::get().to(jwks))
                .route("/authorize", web::get().to(authorize_oidc))
                .route("/token", web::post().to(token_oidc))
                .route("/userinfo", web::get().to(userinfo))
                .route("/userinfo", web::post().to(userinfo))
                .route("/login/oauth/authorize", web::get().to(authorize_github))
                .route("/login/oauth/access_token", web::post().to(token_github))
                .route("/user", web::get().to(github_user))
                .route("/user/emails", web::get().to(github_emails))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("the fake upstream listens")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { base, state, handle }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// The user signed in by the next `/authorize`.
    pub fn set_user(&self, user: FakeUser) {
        self.state().user = user;
    }

    /// Misbehave from now on (see [`Fault`]); `Fault::None` to behave again.
    pub fn set_fault(&self, fault: Fault) {
        let mut state = self.state();
        if fault == Fault::RotatedKey {
            state.key = SigningKey::generate(&state.rng);
        }
        state.fault = fault;
    }

    /// A new signing key with a new kid; the JWKS serves only the new key from now on.
    pub fn rotate_key(&self) {
        let mut state = self.state();
        state.key = SigningKey::generate(&state.rng);
    }

    /// The kid of the key currently published and used.
    pub fn kid(&self) -> String {
        self.state().key.kid.clone()
    }

    /// Every request the fake received, whatever its path.
    pub fn requests(&self) -> usize {
        self.state().requests
    }

    pub fn discovery_fetches(&self) -> usize {
        self.state().discovery_fetches
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state().jwks_fetches
    }

    pub fn authorize_requests(&self) -> usize {
        self.state().authorize_requests
    }

    /// Requests to either token endpoint (counted before any fault applies).
    pub fn token_requests(&self) -> usize {
        self.state().token_requests
    }

    /// Requests to `/userinfo`, `/user` and `/user/emails`.
    pub fn userinfo_requests(&self) -> usize {
        self.state().userinfo_requests
    }

    /// The parameters of the last `/authorize` request.
    pub fn last_authorize(&self) -> Option<Params> {
        self.state().last_authorize.clone()
    }

    /// Every code, access token and ID token the fake handed out (none may appear in the audit log).
    pub fn issued_secrets(&self) -> Vec<String> {
        self.state().issued.clone()
    }

    /// Access tokens handed out so far.
    pub fn access_tokens(&self) -> Vec<String> {
        self.state().access_tokens.keys().cloned().collect()
    }

    fn spec(&self, id: &str, kind: UpstreamKind) -> UpstreamSpec {
        UpstreamSpec {
            id: id.into(),
            kind,
            preset: None,
            display_name: display_name(id),
            client_id: UPSTREAM_CLIENT_ID.into(),
            client_secret: SecretString::from(UPSTREAM_SECRET),
            issuer: None,
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            scopes: Vec::new(),
            trust_email: false,
            domains: Vec::new(),
            allow_private_network: true,
            claims: ClaimMapping::default(),
            apple: None,
            mfa: Default::default(),
        }
    }

    /// An OIDC connection to this fake: issuer = `base` (endpoints from discovery), client
    /// [`UPSTREAM_CLIENT_ID`] / [`UPSTREAM_SECRET`], `allow_private_network = true`.
    pub fn oidc_spec(&self, id: &str) -> UpstreamSpec {
        UpstreamSpec {
            issuer: Some(self.base.clone()),
            ..self.spec(id, UpstreamKind::Oidc)
        }
    }

    /// A GitHub-style OAuth2 connection: `/login/oauth/authorize`, `/login/oauth/access_token`, `/user`;
    /// claims subject `id`, email `email`, name `name`, picture `avatar_url`. Preset `github` (its
    /// explicit URLs win), so the gateway reads the verified primary address from `/user/emails`.
    pub fn oauth2_spec(&self, id: &str) -> UpstreamSpec {
        UpstreamSpec {
            preset: Some(Preset::Github),
            authorize_url: Some(format!("{}/login/oauth/authorize", self.base)),
            token_url: Some(format!("{}/login/oauth/access_token", self.base)),
            userinfo_url: Some(format!("{}/user", self.base)),
            claims: ClaimMapping {
                subject: Some("id".into()),
                email: Some("email".into()),
                email_verified: None,
                name: Some("name".into()),
                picture: Some("avatar_url".into()),
            },
            ..self.spec(id, UpstreamKind::Oauth2)
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        // Sends the stop command now; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

// ---------------------------------------------------------------------------------------------------
// State

struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    fn generate(rng: &SystemRandom) -> Self {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng).unwrap();
        Self {
            kid: format!("fake-{}", random(rng, 6)),
            pair,
        }
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": b64(&point[1..33]),
            "y": b64(&point[33..65]),
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        })
    }

    fn sign(&self, rng: &SystemRandom, input: &[u8]) -> Vec<u8> {
        self.pair.sign(rng, input).unwrap().as_ref().to_vec()
    }
}

#[derive(Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    challenge: Option<String>,
    user: FakeUser,
    used: bool,
}

struct State {
    base: String,
    rng: SystemRandom,
    user: FakeUser,
    fault: Fault,
    /// Published in the JWKS and used to sign.
    key: SigningKey,
    /// Never published.
    stray: SigningKey,
    codes: HashMap<String, Grant>,
    access_tokens: HashMap<String, FakeUser>,
    issued: Vec<String>,
    last_authorize: Option<Params>,
    requests: usize,
    discovery_fetches: usize,
    jwks_fetches: usize,
    authorize_requests: usize,
    token_requests: usize,
    userinfo_requests: usize,
}

impl State {
    fn new(base: String) -> Self {
        let rng = SystemRandom::new();
        let key = SigningKey::generate(&rng);
        let stray = SigningKey::generate(&rng);
        Self {
            base,
            rng,
            user: FakeUser::default(),
            fault: Fault::None,
            key,
            stray,
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            issued: Vec::new(),
            last_authorize: None,
            requests: 0,
            discovery_fetches: 0,
            jwks_fetches: 0,
            authorize_requests: 0,
            token_requests: 0,
            userinfo_requests: 0,
        }
    }
}

type Shared = web::Data<Mutex<State>>;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn random(rng: &SystemRandom, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill(&mut buf).unwrap();
    b64(&buf)
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn oauth_error(status: u16, error: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": error }))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

// ---------------------------------------------------------------------------------------------------
// OIDC endpoints

async fn discovery(state: Shared) -> HttpResponse {
    let mut s = state.lock().unwrap();
    s.discovery_fetches += 1;
    let base = s.base.clone();
    let issuer = if s.fault == Fault::DiscoveryIssuerMismatch {
        format!("{base}/impostor")
    } else {
        base.clone()
    };
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(state: Shared) -> HttpResponse {
    let mut s = state.lock().unwrap();
    s.jwks_fetches += 1;
    HttpResponse::Ok().json(json!({ "keys": [s.key.jwk()] }))
}

async fn authorize_oidc(state: Shared, query: web::Query<Params>) -> HttpResponse {
    authorize(state, query.into_inner(), true)
}

/// GitHub does not send `iss` back (no RFC 9207).
async fn authorize_github(state: Shared, query: web::Query<Params>) -> HttpResponse {
    authorize(state, query.into_inner(), false)
}

/// Signs the fake's current user in at once and sends the browser back to `redirect_uri`.
fn authorize(state: Shared, params: Params, send_iss: bool) -> HttpResponse {
    let mut s = state.lock().unwrap();
    s.authorize_requests += 1;
    s.last_authorize = Some(params.clone());
    if params.get("client_id").map(String::as_str) != Some(UPSTREAM_CLIENT_ID) {
        return HttpResponse::BadRequest().body("fake upstream: unknown client_id");
    }
    let Some(redirect_uri) = params.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return HttpResponse::BadRequest().body("fake upstream: missing or invalid redirect_uri");
    };
    let mut answer: Vec<(&str, String)> = Vec::new();
    if params.get("response_type").map(String::as_str) != Some("code") {
        answer.push(("error", "unsupported_response_type".into()));
    } else if params.contains_key("code_challenge")
        && params.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        answer.push(("error", "invalid_request".into()));
        answer.push(("error_description", "only S256".into()));
    } else if s.fault == Fault::AccessDenied {
        answer.push(("error", "access_denied".into()));
        answer.push(("error_description", "The user declined.".into()));
    } else {
        let code = random(&s.rng, 24);
        let grant = Grant {
            client_id: UPSTREAM_CLIENT_ID.into(),
            redirect_uri: redirect_uri.to_string(),
            nonce: params.get("nonce").cloned(),
            challenge: params.get("code_challenge").cloned(),
            user: s.user.clone(),
            used: false,
        };
        s.codes.insert(code.clone(), grant);
        s.issued.push(code.clone());
        answer.push(("code", code));
    }
    if let Some(state) = params.get("state") {
        answer.push(("state", state.clone()));
    }
    if send_iss {
        answer.push(("iss", s.base.clone()));
    }
    if params.get("response_mode").map(String::as_str) == Some("form_post") {
        let mut inputs = String::new();
        for (name, value) in &answer {
            inputs.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                html_escape(name),
                html_escape(value)
            ));
        }
        let page = format!(
            "<!doctype html><html><body onload=\"document.forms[0].submit()\">\n\
             <form method=\"post\" action=\"{}\">\n{inputs}<button>Continue</button></form></body></html>",
            html_escape(redirect_uri.as_str())
        );
        return HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(page);
    }
    let mut location = redirect_uri;
    {
        let mut pairs = location.query_pairs_mut();
        for (name, value) in &answer {
            pairs.append_pair(name, value);
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, location.to_string()))
        .finish()
}

/// The client credentials: HTTP Basic (form-urlencoded id and secret, RFC 6749 §2.3.1) or the body.
fn client_credentials(req: &HttpRequest, form: &Params) -> Option<(String, String)> {
    if let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        };
        return Some((unescape(id)?, unescape(secret)?));
    }
    Some((form.get("client_id")?.clone(), form.get("client_secret")?.clone()))
}

/// Applies a token-endpoint fault; `Some` is the answer to send instead of a token response.
async fn token_fault(state: &Shared) -> Option<HttpResponse> {
    let fault = {
        let mut s = state.lock().unwrap();
        s.token_requests += 1;
        s.fault.clone()
    };
    match fault {
        Fault::SlowToken(delay) => {
            actix_web::rt::time::sleep(delay).await;
            None
        }
        Fault::HtmlToken => Some(
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body("<!doctype html><html><body><h1>Welcome to our portal</h1></body></html>"),
        ),
        Fault::HugeToken => {
            let mut body = String::with_capacity(10 * 1024 * 1024 + 64);
            body.push_str("{\"access_token\":\"");
            body.push_str(&"A".repeat(10 * 1024 * 1024));
            body.push_str("\",\"token_type\":\"Bearer\",\"expires_in\":3600}");
            Some(HttpResponse::Ok().content_type("application/json").body(body))
        }
        Fault::TokenServerError => Some(
            HttpResponse::InternalServerError()
                .content_type("text/plain")
                .body("upstream exploded"),
        ),
        _ => None,
    }
}

/// Checks and redeems the code of an authorization_code grant: the grant, or the error answer.
fn redeem(state: &Shared, req: &HttpRequest, body: &[u8]) -> Result<Grant, HttpResponse> {
    let form: Params = url::form_urlencoded::parse(body).into_owned().collect();
    let Some((client_id, secret)) = client_credentials(req, &form) else {
        return Err(oauth_error(401, "invalid_client"));
    };
    if client_id != UPSTREAM_CLIENT_ID || secret != UPSTREAM_SECRET {
        return Err(oauth_error(401, "invalid_client"));
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return Err(oauth_error(400, "unsupported_grant_type"));
    }
    let mut s = state.lock().unwrap();
    let Some(grant) = form.get("code").and_then(|c| s.codes.get_mut(c)) else {
        return Err(oauth_error(400, "invalid_grant"));
    };
    if grant.used {
        return Err(oauth_error(400, "invalid_grant"));
    }
    grant.used = true;
    if grant.client_id != client_id || form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(oauth_error(400, "invalid_grant"));
    }
    match (&grant.challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let computed = b64(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
            if &computed != challenge {
                return Err(oauth_error(400, "invalid_grant"));
            }
        }
        (None, None) => {}
        _ => return Err(oauth_error(400, "invalid_grant")),
    }
    Ok(grant.clone())
}

fn new_access_token(s: &mut State, user: &FakeUser) -> String {
    let token = random(&s.rng, 32);
    s.access_tokens.insert(token.clone(), user.clone());
    s.issued.push(token.clone());
    token
}

/// The ID token for a grant, with the current fault applied.
fn id_token(s: &State, grant: &Grant) -> String {
    let now = now();
    let fault = &s.fault;
    let mut claims = json!({
        "iss": if *fault == Fault::WrongIssuer { "https://evil.example".to_string() } else { s.base.clone() },
        "sub": grant.user.sub,
        "aud": if *fault == Fault::WrongAudience { "someone-else" } else { grant.client_id.as_str() },
        "iat": if *fault == Fault::Expired { now - 3900 } else { now },
        "exp": if *fault == Fault::Expired { now - 3600 } else { now + 300 },
    });
    let nonce = match fault {
        Fault::WrongNonce => Some("not-the-nonce-you-sent".to_string()),
        _ => grant.nonce.clone(),
    };
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if *fault != Fault::UserinfoSubMismatch {
        if let Some(email) = &grant.user.email {
            claims["email"] = json!(email);
            claims["email_verified"] = json!(grant.user.email_verified);
        }
        if let Some(name) = &grant.user.name {
            claims["name"] = json!(name);
        }
    }
    let header = match fault {
        Fault::AlgNone => json!({ "alg": "none", "typ": "JWT" }),
        Fault::Hs256 => json!({ "alg": "HS256", "typ": "JWT" }),
        Fault::UnknownKid => json!({ "alg": "ES256", "typ": "JWT", "kid": s.stray.kid }),
        _ => json!({ "alg": "ES256", "typ": "JWT", "kid": s.key.kid }),
    };
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = match fault {
        Fault::AlgNone => Vec::new(),
        Fault::Hs256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, UPSTREAM_SECRET.as_bytes());
            hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
        }
        Fault::BadSignature | Fault::UnknownKid => s.stray.sign(&s.rng, input.as_bytes()),
        _ => s.key.sign(&s.rng, input.as_bytes()),
    };
    format!("{input}.{}", b64(&signature))
}

async fn token_oidc(state: Shared, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(answer) = token_fault(&state).await {
        return answer;
    }
    let grant = match redeem(&state, &req, &body) {
        Ok(grant) => grant,
        Err(answer) => return answer,
    };
    let mut s = state.lock().unwrap();
    let access_token = new_access_token(&mut s, &grant.user);
    let id_token = id_token(&s, &grant);
    s.issued.push(id_token.clone());
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "openid email profile",
            "id_token": id_token,
        }))
}

/// The user behind a `Bearer` (or GitHub's `token`) access token.
fn bearer_user(state: &Shared, req: &HttpRequest) -> Option<FakeUser> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("token") {
        return None;
    }
    let mut s = state.lock().unwrap();
    s.userinfo_requests += 1;
    s.access_tokens.get(token.trim()).cloned()
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""))
        .json(json!({ "error": "invalid_token" }))
}

async fn userinfo(state: Shared, req: HttpRequest) -> HttpResponse {
    let Some(user) = bearer_user(&state, &req) else {
        return unauthorized();
    };
    let mismatch = state.lock().unwrap().fault == Fault::UserinfoSubMismatch;
    let mut doc = json!({
        "sub": if mismatch { "someone-else-entirely".to_string() } else { user.sub.clone() },
        "email_verified": user.email_verified,
    });
    if let Some(email) = &user.email {
        doc["email"] = json!(email);
    }
    if let Some(name) = &user.name {
        doc["name"] = json!(name);
    }
    HttpResponse::Ok().json(doc)
}

// ---------------------------------------------------------------------------------------------------
// GitHub-style endpoints

async fn token_github(state: Shared, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(answer) = token_fault(&state).await {
        return answer;
    }
    let grant = match redeem(&state, &req, &body) {
        Ok(grant) => grant,
        Err(answer) => return answer,
    };
    let mut s = state.lock().unwrap();
    let access_token = new_access_token(&mut s, &grant.user);
    HttpResponse::Ok().json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "scope": "read:user,user:email",
    }))
}

async fn github_user(state: Shared, req: HttpRequest) -> HttpResponse {
    let Some(user) = bearer_user(&state, &req) else {
        return unauthorized();
    };
    HttpResponse::Ok().json(json!({
        "id": user.sub.parse::<u64>().unwrap_or(GITHUB_ID),
        "login": GITHUB_LOGIN,
        "name": user.name,
        "email": null,
        "avatar_url": GITHUB_AVATAR,
    }))
}

async fn github_emails(state: Shared, req: HttpRequest) -> HttpResponse {
    let Some(user) = bearer_user(&state, &req) else {
        return unauthorized();
    };
    let mut emails = Vec::new();
    if let Some(email) = &user.email {
        emails.push(json!({ "email": email, "primary": true, "verified": user.email_verified, "visibility": "private" }));
    }
    emails.push(json!({ "email": "other@x", "primary": false, "verified": false, "visibility": null }));
    HttpResponse::Ok().json(emails)
}
