//! The scenarios: what one operation of each is, and the per-connection workers that perform them. A
//! worker owns its connection (and, for refresh, its token chain); any failure drops the connection and
//! the next operation reconnects.

use std::sync::{Arc, Mutex};

use hyper::header;

use crate::flows::{self, Code, Seed};
use crate::http::{self, Conn, Target};

pub const ALL: [&str; 10] = [
    "discovery",
    "jwks",
    "client_credentials",
    "client_credentials_tls_new_conn",
    "code_exchange",
    "refresh",
    "introspection",
    "userinfo",
    "password_sign_in",
    "client_credentials_under_sign_in",
];

/// What one operation of a scenario is.
pub enum Op {
    /// A GET that must answer 200.
    Get(&'static str),
    ClientCredentials,
    /// A new TLS connection (full handshake) per token request.
    ClientCredentialsNewConn,
    /// Redeems the next pre-minted code (with its PKCE verifier); none left ends the phase.
    CodeExchange(Arc<Mutex<Vec<Code>>>),
    /// Presents the latest refresh token of this worker's chain and keeps the one it gets back.
    Refresh(String),
    /// The form body `token=<JWT access token>`.
    Introspect(Arc<str>),
    /// The `Authorization: Bearer …` value.
    UserInfo(Arc<str>),
    /// A fresh browser: authorize → login page → login POST (argon2id) → redirect with a code.
    SignIn,
}

pub enum Outcome {
    Done,
    Failed(String),
    /// Nothing left to do (code exchange ran out of codes).
    Exhausted,
}

pub struct Worker {
    target: Arc<Target>,
    seed: Arc<Seed>,
    conn: Option<Conn>,
    op: Op,
}

impl Worker {
    pub fn new(target: Arc<Target>, seed: Arc<Seed>, op: Op) -> Self {
        Self {
            target,
            seed,
            conn: None,
            op,
        }
    }

    /// A fresh keep-alive connection, opened before a phase starts (never counted in it).
    pub async fn prepare(&mut self) -> Result<(), String> {
        self.conn = None;
        if !matches!(self.op, Op::ClientCredentialsNewConn) {
            self.conn = Some(self.target.connect().await?);
        }
        Ok(())
    }

    pub async fn run_once(&mut self) -> Outcome {
        match self.step().await {
            Ok(true) => Outcome::Done,
            Ok(false) => Outcome::Exhausted,
            Err(e) => {
                self.conn = None;
                Outcome::Failed(e)
            }
        }
    }

    async fn step(&mut self) -> Result<bool, String> {
        let Self {
            target,
            seed,
            conn,
            op,
        } = self;
        if let Op::ClientCredentialsNewConn = op {
            let mut fresh = target.connect().await?;
            let request = client_credentials(target, seed).header(header::CONNECTION, "close");
            fresh
                .send(http::build(request, CLIENT_CREDENTIALS)?)
                .await?
                .expect(200, "POST /token (client_credentials, new TLS connection)")?;
            return Ok(true);
        }
        let conn = match conn {
            Some(c) => c,
            None => conn.insert(target.connect().await?),
        };
        match op {
            Op::Get(path) => {
                conn.send(http::build(target.get(path), "")?)
                    .await?
                    .expect(200, path)?;
            }
            Op::ClientCredentials | Op::ClientCredentialsNewConn => {
                conn.send(http::build(client_credentials(target, seed), CLIENT_CREDENTIALS)?)
                    .await?
                    .expect(200, "POST /token (client_credentials)")?;
            }
            Op::CodeExchange(codes) => {
                let Some(code) = codes.lock().map_err(|_| "poisoned")?.pop() else {
                    return Ok(false);
                };
                let request = target
                    .post_form("/token")
                    .header(header::AUTHORIZATION, &seed.basic);
                let response = conn
                    .send(http::build(request, flows::exchange_body(&code))?)
                    .await?
                    .expect(200, "POST /token (authorization_code)")?;
                if !response.text().contains("\"id_token\"") {
                    return Err("the code exchange returned no id_token".into());
                }
            }
            Op::Refresh(token) => {
                let request = target
                    .post_form("/token")
                    .header(header::AUTHORIZATION, &seed.basic);
                let body = http::form(&[("grant_type", "refresh_token"), ("refresh_token", token)]);
                let response = conn
                    .send(http::build(request, body)?)
                    .await?
                    .expect(200, "POST /token (refresh_token)")?;
                *token = flows::json_field(&response.body, "refresh_token")?;
            }
            Op::Introspect(body) => {
                let request = target
                    .post_form("/introspect")
                    .header(header::AUTHORIZATION, &seed.basic);
                let response = conn
                    .send(http::build(request, body.as_bytes().to_vec())?)
                    .await?
                    .expect(200, "POST /introspect")?;
                if !response.text().contains("\"active\":true") {
                    return Err(format!("introspection: not active: {}", response.text()));
                }
            }
            Op::UserInfo(bearer) => {
                let request = target.get("/userinfo").header(header::AUTHORIZATION, &**bearer);
                conn.send(http::build(request, "")?)
                    .await?
                    .expect(200, "GET /userinfo")?;
            }
            Op::SignIn => {
                flows::sign_in(target, conn, seed).await?;
            }
        }
        Ok(true)
    }
}

const CLIENT_CREDENTIALS: &str = "grant_type=client_credentials";

fn client_credentials(target: &Target, seed: &Seed) -> hyper::http::request::Builder {
    target
        .post_form("/token")
        .header(header::AUTHORIZATION, &seed.basic)
}
