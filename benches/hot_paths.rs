//! criterion micro-benchmarks for the functions on every token request (issue 6, deliverable 2), through
//! the crate's public API only: JWT signing and verification per algorithm, PKCE, claims assembly,
//! client authentication (with one argon2id verification for contrast), strict form parsing, and the
//! SQLite store calls of a client_credentials grant (the client lookup, the audit group commit).
//!
//! `cargo bench --bench hot_paths` (add `-- --quick` for a fast smoke run, or a filter such as `sign/`).

use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gatehouse::audit::{AuditEvent, Outcome};
use gatehouse::crypto::{self, Sealer};
use gatehouse::keys::{self, Alg, KeyRing};
use gatehouse::protocol::claims::{
    AccessTokenInput, Authentication, IdTokenInput, access_token_claims, id_token_claims, user_claims,
};
use gatehouse::protocol::client_auth::ClientCredentials;
use gatehouse::protocol::params::Params;
use gatehouse::protocol::pkce;
use gatehouse::store::sql::SqlStore;
use gatehouse::store::{AuditStore, Client, ClientStore, User};

const NOW: i64 = 1_750_000_000;
const ISSUER: &str = "https://id.example.com";
const CLIENT_ID: &str = "billing-portal";
/// A generated 256-bit client secret, as `gatehouse` issues them.
const CLIENT_SECRET: &str = "q1yJ8m0rWk3T6bC5nHs2uVd7LgXpZ4aE9fRtYo0iKlM";
/// RFC 7636 Appendix B.
const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn scopes() -> Vec<String> {
    ["openid", "profile", "email", "offline_access"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn user() -> User {
    User {
        id: "Xb3kP0qL9sT2vW8yZ1aC4d".into(),
        email: "ada.lovelace@example.com".into(),
        email_verified: true,
        name: Some("Ada Lovelace".into()),
        password_hash: None,
        created_at: NOW - 86_400,
        updated_at: NOW - 3_600,
        profile: Default::default(),
        level: gatehouse::store::IdentityLevel::Full,
        region: None,
        deletion_scheduled_at: None,
    }
}

fn authentication() -> Authentication {
    Authentication {
        auth_time: NOW - 30,
        acr: Some(gatehouse::protocol::acr::ACR_1FA.into()),
        amr: vec!["pwd".into()],
        idp: None,
    }
}

fn client() -> Client {
    Client {
        id: CLIENT_ID.into(),
        name: "Billing portal".into(),
        secret_hash: Some(crypto::sha256_b64(CLIENT_SECRET)),
        redirect_uris: vec!["https://billing.example.com/callback".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: scopes(),
        id_token_alg: "ES256".into(),
        skip_consent: false,
        created_at: NOW - 86_400,
        allowed_origins: vec![],
        organizations: vec![],
    }
}

/// One current key per algorithm, loaded the way the server loads them.
fn ring() -> KeyRing {
    let sealer = Sealer::new(&[7u8; 32]);
    let stored = Alg::ALL
        .into_iter()
        .map(|alg| keys::generate(alg, &sealer, NOW).expect("key generation"))
        .collect();
    KeyRing::from_stored(stored, &sealer, NOW, 600).expect("key ring")
}

/// The claims of a user access token from an authorization-code grant (RFC 9068 §2.2).
fn access_claims(scopes: &[String], auth: &Authentication) -> serde_json::Value {
    access_token_claims(AccessTokenInput {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        subject: "Xb3kP0qL9sT2vW8yZ1aC4d",
        scopes,
        authentication: Some(auth),
        jti: "f3Kq9ZrT1mWb6yLp0sXc2A",
        now: NOW,
        ttl: 300,
    })
}

fn tokens(c: &mut Criterion) {
    let ring = ring();
    let scopes = scopes();
    let auth = authentication();
    let claims = access_claims(&scopes, &auth);

    let mut sign = c.benchmark_group("sign_jwt");
    for alg in Alg::ALL {
        sign.bench_with_input(BenchmarkId::from_parameter(alg.as_str()), &alg, |b, &alg| {
            b.iter(|| ring.sign_jwt(alg, "at+jwt", black_box(&claims)).unwrap())
        });
    }
    sign.finish();

    let mut verify = c.benchmark_group("verify_jwt");
    for alg in Alg::ALL {
        let token = ring.sign_jwt(alg, "at+jwt", &claims).unwrap();
        verify.bench_with_input(BenchmarkId::from_parameter(alg.as_str()), &token, |b, token| {
            b.iter(|| ring.verify_jwt(black_box(token), Some("at+jwt")).unwrap())
        });
    }
    verify.finish();
}

fn pkce_verify(c: &mut Criterion) {
    c.bench_function("pkce::verify", |b| {
        b.iter(|| assert!(pkce::verify(black_box(PKCE_CHALLENGE), black_box(PKCE_VERIFIER))))
    });
}

fn claims(c: &mut Criterion) {
    let user = user();
    let scopes = scopes();
    let auth = authentication();
    let access_token = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.e30.c2lnbmF0dXJl";

    let mut group = c.benchmark_group("claims");
    group.bench_function("user_claims", |b| {
        b.iter(|| user_claims(black_box(&user), &scopes, &[]))
    });
    group.bench_function("access_token_claims", |b| {
        b.iter(|| access_claims(black_box(&scopes), &auth))
    });
    group.bench_function("id_token_claims", |b| {
        b.iter(|| {
            id_token_claims(IdTokenInput {
                issuer: ISSUER,
                client_id: CLIENT_ID,
                user_claims: user_claims(black_box(&user), &scopes, &[]),
                nonce: Some("n-0S6_WzA2Mj"),
                authentication: &auth,
                access_token: Some((access_token, Alg::ES256)),
                now: NOW,
                ttl: 300,
            })
        })
    });
    group.finish();
}

fn client_auth(c: &mut Criterion) {
    let client = client();
    let header = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let body = Params::from_pairs(&[("grant_type", "client_credentials"), ("scope", "openid")]);

    let mut group = c.benchmark_group("client_auth");
    group.bench_function("basic_extract_and_authenticate", |b| {
        b.iter(|| {
            let credentials = ClientCredentials::extract(Some(black_box(&header)), &body).unwrap();
            credentials.authenticate(Some(&client)).unwrap();
        })
    });
    // The primitives the secret check is made of.
    group.bench_function("sha256_b64", |b| {
        b.iter(|| crypto::sha256_b64(black_box(CLIENT_SECRET)))
    });
    let digest = crypto::sha256_b64(CLIENT_SECRET);
    group.bench_function("constant_time_eq", |b| {
        b.iter(|| crypto::constant_time_eq(black_box(digest.as_bytes()), black_box(digest.as_bytes())))
    });
    group.finish();

    // For contrast: what a password-hashed client secret would cost on every token request.
    let phc = crypto::hash_password("correct horse battery staple");
    let mut slow = c.benchmark_group("password");
    slow.sample_size(10).measurement_time(Duration::from_secs(5));
    slow.bench_function("argon2id_verify_password", |b| {
        b.iter(|| {
            assert!(crypto::verify_password(
                black_box(&phc),
                "correct horse battery staple"
            ))
        })
    });
    slow.finish();
}

/// The store calls of a client_credentials grant on SQLite (WAL, as the server opens it): the client
/// lookup on the request, and the audit writer's transaction for a batch of `token.issued` records (one
/// per waiting request; the load benchmark's 4 connections make batches of 1 to 4).
fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqlStore::open(&url, 4).expect("SQLite store");
    store.create_client(&client()).expect("client");
    let issued = AuditEvent::new("token.issued", Outcome::Success, NOW)
        .actor(format!("client:{CLIENT_ID}"))
        .subject(CLIENT_ID)
        .client(CLIENT_ID)
        .detail(serde_json::json!({"grant_type": "client_credentials", "scope": "openid", "refresh_token": false, "id_token": false}));

    let mut group = c.benchmark_group("store_sqlite");
    group.bench_function("find_client", |b| {
        b.iter(|| store.find_client(black_box(CLIENT_ID)).unwrap().unwrap())
    });
    for batch in [1, 4] {
        let events = vec![issued.clone(); batch];
        group.bench_with_input(BenchmarkId::new("append_audit", batch), &events, |b, events| {
            b.iter(|| store.append_audit(black_box(events)).unwrap())
        });
    }
    group.finish();
}

fn params(c: &mut Criterion) {
    let body = format!(
        "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA3kP0qL9sT2vW8yZ1aC4dE\
         &redirect_uri=https%3A%2F%2Fbilling.example.com%2Fcallback&code_verifier={PKCE_VERIFIER}\
         &client_id={CLIENT_ID}"
    );
    c.bench_function("Params::parse/token_request", |b| {
        b.iter(|| Params::parse(black_box(body.as_bytes())).unwrap())
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = hot_paths;
    config = config();
    targets = tokens, pkce_verify, claims, client_auth, params, store
}
criterion_main!(hot_paths);
