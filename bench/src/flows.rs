//! The OpenID Connect flows the benchmark drives, as a browser and as the relying party: seeding through
//! the CLI, a password sign-in (authorize → login page → login POST), codes minted with `prompt=none` for
//! a signed-in browser, and code exchange.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::header;
use ring::rand::{SecureRandom, SystemRandom};

use crate::http::{self, Conn, Cookies, Target};
use crate::server::Gatehouse;

/// Registered for the client; nothing listens there (the code is read from the `Location` header).
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const PASSWORD: &str = "correct horse battery staple (bench)";

/// What the CLI seeded: one confidential first-party client and one user.
pub struct Seed {
    pub client_id: String,
    /// `Authorization: Basic …` for the client.
    pub basic: String,
    pub email: String,
    pub password: String,
}

pub fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).expect("the system RNG works");
    URL_SAFE_NO_PAD.encode(buf)
}

/// Seeds through the CLI, as an operator would: a confidential client with the code, refresh and
/// client-credentials grants, ES256 ID tokens and no consent page; and one user with a password.
pub fn seed(gatehouse: &Gatehouse) -> Result<Seed, String> {
    let suffix = random_b64(6).to_lowercase().replace(['-', '_'], "x");
    let client_id = format!("bench-{suffix}");
    let email = format!("bench-{suffix}@example.com");
    let out = gatehouse.cli(
        &[
            "client",
            "create",
            "--name",
            "Benchmark",
            "--id",
            &client_id,
            "--redirect-uri",
            REDIRECT_URI,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "client_credentials",
            "--id-token-alg",
            "ES256",
            "--skip-consent",
            "--json",
        ],
        None,
    )?;
    let created: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("client create --json: {e}: {out}"))?;
    let secret = created["client_secret"]
        .as_str()
        .ok_or_else(|| format!("client create --json printed no client_secret: {out}"))?;
    gatehouse.cli(
        &[
            "user",
            "create",
            "--email",
            &email,
            "--name",
            "Bench User",
            "--email-verified",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    )?;
    Ok(Seed {
        basic: http::basic(&client_id, secret),
        client_id,
        email,
        password: PASSWORD.to_string(),
    })
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
    (verifier, challenge)
}

/// The authorization request of the code flow with PKCE.
pub fn authorize_path(seed: &Seed, challenge: &str, prompt_none: bool) -> String {
    let mut pairs = vec![
        ("client_id", seed.client_id.as_str()),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("redirect_uri", REDIRECT_URI),
        ("state", "bench-state"),
        ("nonce", "bench-nonce"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    if prompt_none {
        pairs.push(("prompt", "none"));
    }
    format!("/authorize?{}", http::form(&pairs))
}

/// The code in a redirect to the client, or an error naming the step.
fn code_from(location: &str, step: &str) -> Result<String, String> {
    if !location.starts_with(REDIRECT_URI) {
        return Err(format!("{step}: redirected to {location}, not to the client"));
    }
    http::query_param(location, "code").ok_or_else(|| format!("{step}: no code in {location}"))
}

/// A fresh browser opens the sign-in page: authorize → login page. Returns its cookies and the page.
async fn open_login_page(
    target: &Target,
    conn: &mut Conn,
    seed: &Seed,
    challenge: &str,
) -> Result<(Cookies, http::Response), String> {
    let mut jar = Cookies::default();
    let start = conn
        .send(http::build(
            target.get(&authorize_path(seed, challenge, false)),
            "",
        )?)
        .await?
        .expect(303, "GET /authorize")?;
    if !start.location().starts_with("/login") {
        return Err(format!(
            "GET /authorize: redirected to {}, not to /login",
            start.location()
        ));
    }
    jar.store(&start);
    let page = conn
        .send(http::build(
            target.get(start.location()).header(header::COOKIE, jar.header()),
            "",
        )?)
        .await?
        .expect(200, "GET /login")?;
    jar.store(&page);
    Ok((jar, page))
}

/// A visitor who opens the sign-in page and goes no further.
pub async fn visit_login_page(target: &Target, conn: &mut Conn, seed: &Seed) -> Result<(), String> {
    let (_, challenge) = pkce_pair();
    open_login_page(target, conn, seed, &challenge).await.map(drop)
}

/// A fresh browser signs in: authorize → login page → login POST (argon2id). Returns its cookies (with
/// the new session) and the code the client received, with its PKCE verifier.
pub async fn sign_in(target: &Target, conn: &mut Conn, seed: &Seed) -> Result<(Cookies, Code), String> {
    let (verifier, challenge) = pkce_pair();
    let (mut jar, page) = open_login_page(target, conn, seed, &challenge).await?;
    let body = http::form(&[
        ("req", &http::hidden(page.text(), "req")?),
        ("csrf", &http::hidden(page.text(), "csrf")?),
        ("email", &seed.email),
        ("password", &seed.password),
    ]);
    let done = conn
        .send(http::build(
            target.post_form("/login").header(header::COOKIE, jar.header()),
            body,
        )?)
        .await?
        .expect(303, "POST /login")?;
    jar.store(&done);
    let code = code_from(done.location(), "POST /login")?;
    Ok((jar, Code { code, verifier }))
}

/// An authorization code and the PKCE verifier that redeems it.
pub struct Code {
    pub code: String,
    pub verifier: String,
}

/// Mints up to `count` codes (or as many as fit before `until`) for the signed-in browser whose
/// `Cookie` header is `cookies`, with `prompt=none` authorization requests on `connections` connections.
pub async fn mint_codes(
    target: Arc<Target>,
    seed: Arc<Seed>,
    cookies: Arc<str>,
    count: usize,
    until: Option<Instant>,
    connections: usize,
) -> Result<Vec<Code>, String> {
    let claimed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let (target, seed, cookies, claimed) =
            (target.clone(), seed.clone(), cookies.clone(), claimed.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = target.connect().await?;
            let mut codes = Vec::new();
            while until.is_none_or(|t| Instant::now() < t) && claimed.fetch_add(1, Ordering::Relaxed) < count
            {
                let (verifier, challenge) = pkce_pair();
                let request = target
                    .get(&authorize_path(&seed, &challenge, true))
                    .header(header::COOKIE, &*cookies);
                let response = conn
                    .send(http::build(request, "")?)
                    .await?
                    .expect(303, "GET /authorize?prompt=none")?;
                let code = code_from(response.location(), "GET /authorize?prompt=none")?;
                codes.push(Code { code, verifier });
            }
            Ok::<_, String>(codes)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.map_err(|e| format!("minting codes: {e}"))??);
    }
    Ok(all)
}

/// The token request that redeems `code`.
pub fn exchange_body(code: &Code) -> String {
    http::form(&[
        ("grant_type", "authorization_code"),
        ("code", &code.code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", &code.verifier),
    ])
}

/// A field of a JSON token response.
pub fn json_field(body: &[u8], name: &str) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("token response: {e}"))?;
    value[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the token response has no {name}"))
}

/// Redeems a code; returns (access token, refresh token).
pub async fn exchange(
    target: &Target,
    conn: &mut Conn,
    seed: &Seed,
    code: &Code,
) -> Result<(String, String), String> {
    let request = target
        .post_form("/token")
        .header(header::AUTHORIZATION, &seed.basic);
    let response = conn
        .send(http::build(request, exchange_body(code))?)
        .await?
        .expect(200, "POST /token (authorization_code)")?;
    Ok((
        json_field(&response.body, "access_token")?,
        json_field(&response.body, "refresh_token")?,
    ))
}
