//! Passkeys (WebAuthn): real ceremonies against the running server, driven by a software authenticator
//! (`SoftKey`: ES256, `none` attestation, user verification, discoverable). Registration from the
//! portal (recent sign-in required), passwordless sign-in through a real OIDC code flow (`amr`), rename,
//! remove, list and export; and every refusal: wrong origin, wrong RP id, a replayed form, a cloned
//! authenticator (counter going backwards), a forged or foreign sealed state, malformed JSON, a removed
//! passkey, a missing CSRF token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::config::Settings;
use gatehouse::flows::organizations::{self, NewOrganization};
use gatehouse::store::{IdentityLevel, MfaOwner, MfaPolicy, User};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use gatehouse::flows::browser::Browser;
use gatehouse::flows::passkeys;

use crate::helpers::*;
use crate::{db_test, db_test_with};

const ADA: &str = "ada@example.com";

/// Passkeys need a domain: the app is reached on 127.0.0.1, but its relying party is `localhost`,
/// as a browser on this machine would see it.
pub fn with_passkeys(settings: &mut Settings) {
    settings.passkeys.rp_id = "localhost".into();
    settings.passkeys.origin = settings.server.issuer.replace("127.0.0.1", "localhost");
}

pub fn origin(app: &TestApp) -> String {
    app.address.replace("127.0.0.1", "localhost")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

/// A software FIDO2 authenticator holding one discoverable ES256 credential.
#[derive(Clone)]
pub struct SoftKey {
    pub credential_id: Vec<u8>,
    pkcs8: Vec<u8>,
    user_handle: Vec<u8>,
    pub rp_id: String,
    pub counter: u32,
    /// Backup eligible and backed up: a synced passkey.
    pub synced: bool,
}

/// Deviations a test asks of one ceremony.
#[derive(Default)]
pub struct Tamper {
    pub origin: Option<String>,
    pub rp_id: Option<String>,
}

mod cbor {
    //! The few CBOR items an attestation object needs (RFC 8949, definite lengths).
    fn head(major: u8, len: usize) -> Vec<u8> {
        match len {
            0..=23 => vec![major << 5 | len as u8],
            24..=255 => vec![major << 5 | 24, len as u8],
            _ => vec![major << 5 | 25, (len >> 8) as u8, len as u8],
        }
    }

    pub fn bytes(b: &[u8]) -> Vec<u8> {
        [head(2, b.len()), b.to_vec()].concat()
    }

    pub fn text(s: &str) -> Vec<u8> {
        [head(3, s.len()), s.as_bytes().to_vec()].concat()
    }

    pub fn map(len: usize) -> Vec<u8> {
        head(5, len)
    }
}

impl SoftKey {
    fn key(&self) -> EcdsaKeyPair {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8, &SystemRandom::new())
            .expect("our own key")
    }

    fn flags(&self, base: u8) -> u8 {
        // UP | UV, and BE | BS for a synced passkey.
        base | 0x01 | 0x04 | if self.synced { 0x08 | 0x10 } else { 0 }
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        json!({ "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create` for `options` (the page's `publicKey` member): the new key and
    /// the `RegisterPublicKeyCredential` JSON.
    pub fn register(options: &Value, origin: &str, synced: bool, tamper: &Tamper) -> (SoftKey, String) {
        assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("key generated")
            .as_ref()
            .to_vec();
        let mut credential_id = vec![0u8; 32];
        rng.fill(&mut credential_id).unwrap();
        let key = SoftKey {
            credential_id,
            pkcs8,
            user_handle: unb64(options["user"]["id"].as_str().expect("a user handle")),
            rp_id: options["rp"]["id"].as_str().expect("an RP id").to_string(),
            counter: 0,
            synced,
        };
        let public = key.key().public_key().as_ref().to_vec(); // 0x04 ‖ x ‖ y
        let cose = [
            vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21],
            cbor::bytes(&public[1..33]),
            vec![0x22],
            cbor::bytes(&public[33..65]),
        ]
        .concat();
        let rp_id = tamper.rp_id.as_deref().unwrap_or(&key.rp_id);
        let auth_data = [
            digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec(),
            vec![key.flags(0x40)], // AT: attested credential data follows
            0u32.to_be_bytes().to_vec(),
            vec![0u8; 16], // AAGUID
            (key.credential_id.len() as u16).to_be_bytes().to_vec(),
            key.credential_id.clone(),
            cose,
        ]
        .concat();
        let attestation = [
            cbor::map(3),
            cbor::text("fmt"),
            cbor::text("none"),
            cbor::text("attStmt"),
            cbor::map(0),
            cbor::text("authData"),
            cbor::bytes(&auth_data),
        ]
        .concat();
        let challenge = options["challenge"].as_str().expect("a challenge");
        let client_data = Self::client_data(
            "webauthn.create",
            challenge,
            tamper.origin.as_deref().unwrap_or(origin),
        );
        let id = b64(&key.credential_id);
        let response = json!({
            "id": id, "rawId": id, "type": "public-key", "extensions": {},
            "response": { "attestationObject": b64(&attestation), "clientDataJSON": b64(&client_data) },
        });
        (key, response.to_string())
    }

    /// `navigator.credentials.get` for `options`: the `PublicKeyCredential` JSON. The counter goes up
    /// by one.
    pub fn assert(&mut self, options: &Value, origin: &str, tamper: &Tamper) -> String {
        assert_eq!(options["userVerification"], "required");
        let allowed = options["allowCredentials"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            allowed.is_empty() || allowed.iter().any(|c| c["id"] == b64(&self.credential_id)),
            "this key is not among the allowed credentials"
        );
        self.counter += 1;
        let rp_id = tamper.rp_id.clone().unwrap_or_else(|| self.rp_id.clone());
        let auth_data = [
            digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec(),
            vec![self.flags(0)],
            self.counter.to_be_bytes().to_vec(),
        ]
        .concat();
        let challenge = options["challenge"].as_str().expect("a challenge");
        let client_data = Self::client_data(
            "webauthn.get",
            challenge,
            tamper.origin.as_deref().unwrap_or(origin),
        );
        let signed = [auth_data.clone(), digest(&SHA256, &client_data).as_ref().to_vec()].concat();
        let signature = self.key().sign(&SystemRandom::new(), &signed).expect("signed");
        let id = b64(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key", "extensions": {},
            "response": {
                "authenticatorData": b64(&auth_data), "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()), "userHandle": b64(&self.user_handle),
            },
        })
        .to_string()
    }
}

/// The ceremony a page embeds in its `<form data-passkey>`: (options, sealed state).
pub fn ceremony(page: &Page) -> (Value, String) {
    let marker = "data-options=\"";
    let start = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no passkey form in {}", page.body))
        + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    let json = page.body[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    (
        serde_json::from_str(&json).expect("the options are JSON"),
        page.hidden("state"),
    )
}

async fn get(client: &reqwest::Client, url: &str) -> Page {
    Page::from(client.get(url).send().await.expect("request sent")).await
}

async fn post(client: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Page {
    Page::from(client.post(url).form(form).send().await.expect("request sent")).await
}

/// Signs `client` in to the account portal with the password.
async fn portal_sign_in(app: &TestApp, client: &reqwest::Client, email: &str) {
    let csrf = get(client, &app.url("/account")).await.hidden("csrf");
    let done = post(
        client,
        &app.url("/account/login"),
        &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(done.location(), "/account", "{}", done.body);
}

/// Registers a new passkey from the portal of a signed-in `client`.
async fn register(app: &TestApp, client: &reqwest::Client, name: &str, synced: bool) -> SoftKey {
    let page = get(client, &app.url("/account/passkeys")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (options, state) = ceremony(&page);
    let (key, credential) = SoftKey::register(&options, &origin(app), synced, &Tamper::default());
    let added = post(
        client,
        &app.url("/account/passkeys"),
        &[
            ("csrf", &page.hidden("csrf")),
            ("state", &state),
            ("credential", &credential),
            ("name", name),
        ],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(added.location(), "/account/passkeys?done=added");
    key
}

/// A passwordless sign-in on the account sign-in page of a fresh browser.
async fn account_passkey_sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    key: &mut SoftKey,
    tamper: &Tamper,
) -> Page {
    let page = get(client, &app.url("/account")).await;
    let (options, state) = ceremony(&page);
    let credential = key.assert(&options, &origin(app), tamper);
    post(
        client,
        &app.url("/account/login/passkey"),
        &[
            ("csrf", &page.hidden("csrf")),
            ("state", &state),
            ("credential", &credential),
        ],
    )
    .await
}

/// Audit records of `kind`, newest last.
fn events(app: &TestApp, kind: &str) -> Vec<gatehouse::audit::AuditEvent> {
    app.provider
        .store
        .audit_page(0, 10_000)
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .filter(|e| e.event == kind)
        .collect()
}

fn refusals(app: &TestApp) -> Vec<String> {
    events(app, "sign_in")
        .into_iter()
        .filter(|e| e.outcome.as_str() == "failure" && e.detail["method"] == "hwk")
        .map(|e| e.detail["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A signed-in browser with one registered passkey.
async fn ada_with_passkey(app: &TestApp, synced: bool) -> (User, reqwest::Client, SoftKey) {
    let ada = app.create_user(ADA);
    let laptop = browser();
    portal_sign_in(app, &laptop, ADA).await;
    let key = register(app, &laptop, "Laptop", synced).await;
    (ada, laptop, key)
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&unb64(part)).unwrap()
}

db_test_with!(
    a_passkey_is_registered_from_the_portal_listed_and_audited,
    with_passkeys,
    |app: TestApp| async move {
        let (ada, laptop, _) = ada_with_passkey(&app, false).await;
        let page = get(&laptop, &app.url("/account/passkeys?done=added")).await;
        assert!(page.body.contains("Your passkey has been added"));
        let listed = get(&laptop, &app.url("/account/passkeys")).await;
        assert!(listed.body.contains("Laptop"), "{}", listed.body);
        assert!(listed.body.contains("This device only"));
        assert!(listed.body.contains("never used"));
        let stored = app.provider.store.list_passkeys(&ada.id).unwrap();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].backup_eligible);
        let enrolled = events(&app, "factor.enrolled");
        assert_eq!(enrolled.len(), 1);
        assert_eq!(enrolled[0].detail["factor"], "passkey");
        assert_eq!(enrolled[0].subject.as_deref(), Some(ada.id.as_str()));
        // The same authenticator cannot be registered twice: the page excludes it.
        let again = get(&laptop, &app.url("/account/passkeys")).await;
        let (options, _) = ceremony(&again);
        assert_eq!(options["excludeCredentials"].as_array().map(Vec::len), Some(1));
        // The data export lists it, without key material.
        let export = get(&laptop, &app.url("/account/export")).await;
        let document: Value = serde_json::from_str(&export.body).expect("JSON export");
        assert_eq!(document["passkeys"][0]["name"], "Laptop");
        assert!(!export.body.contains("cred_id"));
    }
);

db_test_with!(
    adding_a_passkey_needs_a_recent_sign_in,
    |s: &mut Settings| {
        with_passkeys(s);
        s.portal.recent_auth_seconds = 1;
    },
    |app: TestApp| async move {
        app.create_user(ADA);
        let laptop = browser();
        portal_sign_in(&app, &laptop, ADA).await;
        let fresh = get(&laptop, &app.url("/account/passkeys")).await;
        let (options, state) = ceremony(&fresh);
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let stale = get(&laptop, &app.url("/account/passkeys")).await;
        assert!(!stale.body.contains("data-passkey=\"create\""), "{}", stale.body);
        assert!(stale.body.contains("/account/reauth?return_to=/account/passkeys"));
        let (_, credential) = SoftKey::register(&options, &origin(&app), false, &Tamper::default());
        let refused = post(
            &laptop,
            &app.url("/account/passkeys"),
            &[
                ("csrf", &fresh.hidden("csrf")),
                ("state", &state),
                ("credential", &credential),
                ("name", "Late"),
            ],
        )
        .await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert_eq!(app.provider.store.count_passkeys(&user_id(&app)).unwrap(), 0);
    }
);

fn user_id(app: &TestApp) -> String {
    app.provider
        .store
        .find_user_by_email(ADA)
        .unwrap()
        .expect("ada")
        .id
}

db_test_with!(
    a_passkey_signs_in_without_a_password_through_a_real_code_flow,
    with_passkeys,
    |app: TestApp| async move {
        let (_, _, mut key) = ada_with_passkey(&app, false).await;
        app.create_client(app.client("app"));
        let rp = app.rp("app", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["openid"], &[]);
        let phone = browser();
        let start = get(&phone, &auth.url).await;
        assert!(start.location().starts_with("/login"), "{}", start.location());
        let login = get(&phone, &app.url(start.location())).await;
        assert!(login.body.contains("autocomplete=\"username webauthn\""));
        assert!(login.body.contains("name=\"remember\""));
        let (options, state) = ceremony(&login);
        assert!(options["allowCredentials"].as_array().is_none_or(Vec::is_empty));
        let credential = key.assert(&options, &origin(&app), &Tamper::default());
        let mut page = post(
            &phone,
            &app.url("/login/passkey"),
            &[
                ("req", &login.hidden("req")),
                ("csrf", &login.hidden("csrf")),
                ("state", &state),
                ("credential", &credential),
            ],
        )
        .await;
        assert_eq!(page.status, 303, "{}", page.body);
        if page.location().starts_with("/consent") {
            let consent = get(&phone, &app.url(page.location())).await;
            page = post(
                &phone,
                &app.url("/consent"),
                &[
                    ("req", &consent.hidden("req")),
                    ("csrf", &consent.hidden("csrf")),
                    ("decision", "allow"),
                ],
            )
            .await;
        }
        let code = page.query("code").expect("a code");
        let tokens = rp
            .exchange_code(openidconnect::AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(auth.verifier)
            .request_async(&app.http)
            .await
            .expect("code exchange works");
        let id_token = payload(&tokens.extra_fields().id_token().expect("an ID token").to_string());
        let amr: Vec<&str> = id_token["amr"]
            .as_array()
            .expect("amr")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(amr.contains(&"hwk") && amr.contains(&"mfa"), "{amr:?}");
        let signed_in = events(&app, "sign_in");
        let ok = signed_in
            .iter()
            .rev()
            .find(|e| e.outcome.as_str() == "success")
            .unwrap();
        assert_eq!(ok.detail["method"], "hwk");
        let stored = &app.provider.store.list_passkeys(&user_id(&app)).unwrap()[0];
        assert!(stored.last_used_at.is_some());
    }
);

db_test_with!(
    a_synced_passkey_signs_in_to_the_portal_as_swk,
    with_passkeys,
    |app: TestApp| async move {
        let (_, laptop, mut key) = ada_with_passkey(&app, true).await;
        let listed = get(&laptop, &app.url("/account/passkeys")).await;
        assert!(listed.body.contains("Synced"), "{}", listed.body);
        let phone = browser();
        let done = account_passkey_sign_in(&app, &phone, &mut key, &Tamper::default()).await;
        assert_eq!(done.location(), "/account", "{}", done.body);
        let sessions = app
            .provider
            .store
            .list_sessions(&user_id(&app), unix_now())
            .unwrap();
        assert!(
            sessions.iter().any(|s| s.amr == "swk mfa"),
            "{:?}",
            sessions.iter().map(|s| &s.amr).collect::<Vec<_>>()
        );
    }
);

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

db_test_with!(
    assertions_for_another_origin_or_relying_party_are_refused,
    with_passkeys,
    |app: TestApp| async move {
        let (_, laptop, mut key) = ada_with_passkey(&app, false).await;
        let phone = browser();
        let evil_origin = Tamper {
            origin: Some("http://localhost.evil.example".into()),
            ..Tamper::default()
        };
        let refused = account_passkey_sign_in(&app, &phone, &mut key, &evil_origin).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert!(refused.body.contains("That passkey could not sign you in"));
        let evil_rp = Tamper {
            rp_id: Some("evil.example".into()),
            ..Tamper::default()
        };
        let refused = account_passkey_sign_in(&app, &phone, &mut key, &evil_rp).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(refusals(&app), ["verification_failed", "verification_failed"]);
        // Registration checks them too.
        for tamper in [evil_origin, evil_rp] {
            let page = get(&laptop, &app.url("/account/passkeys")).await;
            let (options, state) = ceremony(&page);
            let (_, credential) = SoftKey::register(&options, &origin(&app), false, &tamper);
            let refused = post(
                &laptop,
                &app.url("/account/passkeys"),
                &[
                    ("csrf", &page.hidden("csrf")),
                    ("state", &state),
                    ("credential", &credential),
                ],
            )
            .await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(refused.body.contains("could not be verified"));
        }
        assert_eq!(app.provider.store.count_passkeys(&user_id(&app)).unwrap(), 1);
        // The legitimate key still works.
        let done = account_passkey_sign_in(&app, &phone, &mut key, &Tamper::default()).await;
        assert_eq!(done.location(), "/account", "{}", done.body);
    }
);

db_test_with!(
    the_same_form_posted_twice_signs_in_once,
    with_passkeys,
    |app: TestApp| async move {
        let (_, _, mut key) = ada_with_passkey(&app, false).await;
        let phone = browser();
        let page = get(&phone, &app.url("/account")).await;
        let (options, state) = ceremony(&page);
        let credential = key.assert(&options, &origin(&app), &Tamper::default());
        let form = [
            ("csrf", page.hidden("csrf")),
            ("state", state),
            ("credential", credential),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let first = post(&phone, &app.url("/account/login/passkey"), &form).await;
        assert_eq!(first.location(), "/account", "{}", first.body);
        let again = post(&phone, &app.url("/account/login/passkey"), &form).await;
        assert_eq!(again.status, 401, "{}", again.body);
        assert_eq!(refusals(&app), ["replayed_challenge"]);
        // A replay is not a clone: the passkey keeps working.
        let stored = &app.provider.store.list_passkeys(&user_id(&app)).unwrap()[0];
        assert!(stored.flagged_at.is_none());
        let done = account_passkey_sign_in(&app, &browser(), &mut key, &Tamper::default()).await;
        assert_eq!(done.location(), "/account", "{}", done.body);
    }
);

db_test_with!(
    a_cloned_authenticator_is_refused_flagged_and_audited,
    with_passkeys,
    |app: TestApp| async move {
        let (_, laptop, mut key) = ada_with_passkey(&app, false).await;
        let done = account_passkey_sign_in(&app, &browser(), &mut key, &Tamper::default()).await;
        assert_eq!(done.location(), "/account");
        let mut clone = key.clone();
        let done = account_passkey_sign_in(&app, &browser(), &mut key, &Tamper::default()).await;
        assert_eq!(done.location(), "/account");
        // The copy's counter is not above the last one seen: refused, and the passkey flagged.
        let refused = account_passkey_sign_in(&app, &browser(), &mut clone, &Tamper::default()).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(refusals(&app), ["counter_regressed"]);
        let failed = events(&app, "sign_in");
        let flagged = failed
            .iter()
            .find(|e| e.detail["reason"] == "counter_regressed")
            .unwrap();
        assert_eq!(flagged.detail["flagged"], true);
        assert_eq!(flagged.subject.as_deref(), Some(user_id(&app).as_str()));
        let stored = &app.provider.store.list_passkeys(&user_id(&app)).unwrap()[0];
        assert!(stored.flagged_at.is_some());
        // Even the original no longer signs in, and the portal says why.
        let refused = account_passkey_sign_in(&app, &browser(), &mut key, &Tamper::default()).await;
        assert_eq!(refused.status, 401);
        assert_eq!(refusals(&app).last().map(String::as_str), Some("flagged_passkey"));
        let listed = get(&laptop, &app.url("/account/passkeys")).await;
        assert!(listed.body.contains("looked copied"), "{}", listed.body);
    }
);

db_test_with!(
    a_forged_or_foreign_sealed_state_is_refused,
    with_passkeys,
    |app: TestApp| async move {
        let (_, _, mut key) = ada_with_passkey(&app, false).await;
        let phone = browser();
        let page = get(&phone, &app.url("/account")).await;
        let (options, state) = ceremony(&page);
        let credential = key.assert(&options, &origin(&app), &Tamper::default());
        let mut forged = state.clone().into_bytes();
        let last = forged.len() - 5;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let csrf = page.hidden("csrf");
        for bad in [forged.as_str(), "", "not-base64!"] {
            let refused = post(
                &phone,
                &app.url("/account/login/passkey"),
                &[("csrf", &csrf), ("state", bad), ("credential", &credential)],
            )
            .await;
            assert_eq!(refused.status, 401, "{}", refused.body);
        }
        // Another browser cannot use this browser's ceremony (the state is bound to the browser).
        let thief = browser();
        let thief_csrf = get(&thief, &app.url("/account")).await.hidden("csrf");
        let refused = post(
            &thief,
            &app.url("/account/login/passkey"),
            &[
                ("csrf", &thief_csrf),
                ("state", &state),
                ("credential", &credential),
            ],
        )
        .await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert!(refusals(&app).iter().all(|r| r == "invalid_or_expired_state"));
        assert_eq!(refusals(&app).len(), 4);
        // The ceremony itself is intact: its own browser can still complete it.
        let done = post(
            &phone,
            &app.url("/account/login/passkey"),
            &[("csrf", &csrf), ("state", &state), ("credential", &credential)],
        )
        .await;
        assert_eq!(done.location(), "/account", "{}", done.body);
    }
);

db_test_with!(
    malformed_credentials_get_a_clear_error_not_a_server_error,
    with_passkeys,
    |app: TestApp| async move {
        let (_, laptop, _) = ada_with_passkey(&app, false).await;
        let phone = browser();
        let page = get(&phone, &app.url("/account")).await;
        let (_, state) = ceremony(&page);
        let csrf = page.hidden("csrf");
        for bad in [
            "",
            "{not json",
            "{}",
            r#"{"id":"x","rawId":"%%%","type":"public-key","response":{}}"#,
        ] {
            let refused = post(
                &phone,
                &app.url("/account/login/passkey"),
                &[("csrf", &csrf), ("state", &state), ("credential", bad)],
            )
            .await;
            assert_eq!(refused.status, 401, "{bad}: {}", refused.body);
        }
        assert!(
            refusals(&app).iter().all(|r| r == "malformed_credential"),
            "{:?}",
            refusals(&app)
        );
        let portal = get(&laptop, &app.url("/account/passkeys")).await;
        let (_, state) = ceremony(&portal);
        for bad in ["{not json", "{}"] {
            let refused = post(
                &laptop,
                &app.url("/account/passkeys"),
                &[
                    ("csrf", &portal.hidden("csrf")),
                    ("state", &state),
                    ("credential", bad),
                ],
            )
            .await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(refused.body.contains("could not be read"));
        }
    }
);

db_test_with!(
    passkeys_are_renamed_and_removed_and_a_removed_one_no_longer_signs_in,
    with_passkeys,
    |app: TestApp| async move {
        // Two devices signed in with the password before the passkey exists (after, the password
        // alone is no longer enough: the passkey is a second factor).
        let ada = app.create_user(ADA);
        let (laptop, other) = (browser(), browser());
        portal_sign_in(&app, &laptop, ADA).await;
        portal_sign_in(&app, &other, ADA).await;
        let mut key = register(&app, &laptop, "Laptop", false).await;
        let id = app.provider.store.list_passkeys(&ada.id).unwrap()[0].id.clone();
        let page = get(&laptop, &app.url("/account/passkeys")).await;
        let csrf = page.hidden("csrf");
        let too_long = "x".repeat(65);
        let refused = post(
            &laptop,
            &app.url("/account/passkeys/rename"),
            &[("csrf", &csrf), ("passkey", &id), ("name", &too_long)],
        )
        .await;
        assert_eq!(refused.status, 422);
        let renamed = post(
            &laptop,
            &app.url("/account/passkeys/rename"),
            &[("csrf", &csrf), ("passkey", &id), ("name", "Work laptop")],
        )
        .await;
        assert_eq!(renamed.location(), "/account/passkeys?done=renamed");
        assert_eq!(
            app.provider.store.list_passkeys(&ada.id).unwrap()[0].name,
            "Work laptop"
        );
        // Someone else's passkey id changes nothing.
        let bob = app.create_user("bob@example.com");
        let bobs = browser();
        portal_sign_in(&app, &bobs, "bob@example.com").await;
        let bob_csrf = get(&bobs, &app.url("/account/passkeys")).await.hidden("csrf");
        let refused = post(
            &bobs,
            &app.url("/account/passkeys/remove"),
            &[("csrf", &bob_csrf), ("passkey", &id)],
        )
        .await;
        assert_eq!(refused.status, 422);
        assert_eq!(app.provider.store.count_passkeys(&bob.id).unwrap(), 0);
        assert_eq!(app.provider.store.count_passkeys(&ada.id).unwrap(), 1);
        let removed = post(
            &laptop,
            &app.url("/account/passkeys/remove"),
            &[("csrf", &csrf), ("passkey", &id), ("sign_out_others", "1")],
        )
        .await;
        assert_eq!(
            removed.location(),
            "/account/passkeys?done=removed",
            "{}",
            removed.body
        );
        assert_eq!(app.provider.store.count_passkeys(&ada.id).unwrap(), 0);
        let removed_events = events(&app, "factor.removed");
        assert_eq!(removed_events.len(), 1);
        assert_eq!(removed_events[0].detail["factor"], "passkey");
        // The other device was signed out; this one was not.
        let other_page = get(&other, &app.url("/account")).await;
        assert!(other_page.body.contains("action=\"/account/login\""));
        let this_page = get(&laptop, &app.url("/account/passkeys")).await;
        assert!(
            this_page.body.contains("You have no passkeys yet"),
            "{}",
            this_page.body
        );
        let refused = account_passkey_sign_in(&app, &browser(), &mut key, &Tamper::default()).await;
        assert_eq!(refused.status, 401);
        assert_eq!(refusals(&app), ["unknown_passkey"]);
    }
);

db_test_with!(
    passkey_forms_without_a_csrf_token_are_refused,
    with_passkeys,
    |app: TestApp| async move {
        let (_, laptop, mut key) = ada_with_passkey(&app, false).await;
        let phone = browser();
        let page = get(&phone, &app.url("/account")).await;
        let (options, state) = ceremony(&page);
        let credential = key.assert(&options, &origin(&app), &Tamper::default());
        let refused = post(
            &phone,
            &app.url("/account/login/passkey"),
            &[("state", &state), ("credential", &credential)],
        )
        .await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        let refused = post(
            &phone,
            &app.url("/login/passkey"),
            &[("req", "x"), ("state", &state), ("credential", &credential)],
        )
        .await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        for path in [
            "/account/passkeys",
            "/account/passkeys/rename",
            "/account/passkeys/remove",
        ] {
            let refused = post(&laptop, &app.url(path), &[("passkey", "x"), ("name", "y")]).await;
            assert_eq!(refused.status, 400, "{path}: {}", refused.body);
        }
        assert!(refusals(&app).is_empty());
    }
);

db_test_with!(
    a_passkey_makes_a_light_account_full,
    with_passkeys,
    |app: TestApp| async move {
        // A light account (name and verified email, no password), just signed in by an email code.
        let now = unix_now();
        let lin = User {
            id: gatehouse::crypto::random_id(),
            email: "lin@example.com".into(),
            email_verified: true,
            name: Some("Lin Light".into()),
            password_hash: None,
            created_at: now,
            updated_at: now,
            profile: Default::default(),
            level: IdentityLevel::Light,
            region: None,
            deletion_scheduled_at: None,
        };
        app.provider.store.create_user(&lin).unwrap();
        let session = gatehouse::flows::browser::start_session(
            &app.provider,
            &gatehouse::flows::browser::Browser::default(),
            &lin,
            &gatehouse::flows::browser::Authentication::method("email"),
            Vec::new(),
        )
        .and_then(|new| new.commit(&app.provider))
        .unwrap();
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        jar.add_cookie_str(
            &format!("gh_session={session}; Path=/"),
            &app.address.parse().unwrap(),
        );
        let phone = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar)
            .build()
            .unwrap();
        register(&app, &phone, "Phone", true).await;
        let after = app.provider.store.find_user(&lin.id).unwrap().unwrap();
        assert_eq!(after.level, IdentityLevel::Full);
    }
);

#[test]
fn passkeys_are_off_for_an_issuer_on_an_ip_address_and_checked_when_configured() {
    let mut settings = Settings::default();
    settings.server.issuer = "http://127.0.0.1:8080".into();
    assert_eq!(settings.passkeys.relying_party(&settings.server.issuer), Ok(None));
    settings.server.issuer = "https://id.example.com".into();
    let (rp_id, origin) = settings
        .passkeys
        .relying_party(&settings.server.issuer)
        .unwrap()
        .unwrap();
    assert_eq!(rp_id, "id.example.com");
    assert_eq!(origin.as_str(), "https://id.example.com/");
    settings.passkeys.rp_id = "example.com".into();
    assert!(
        settings
            .passkeys
            .relying_party(&settings.server.issuer)
            .unwrap()
            .is_some()
    );
    for bad in [
        "other.example",
        "ample.com",
        "id.example.com.evil",
        "com",
        ".example.com",
    ] {
        settings.passkeys.rp_id = bad.into();
        assert!(
            settings.passkeys.relying_party(&settings.server.issuer).is_err(),
            "{bad}"
        );
    }
}

db_test_with!(
    the_last_factor_an_organization_requires_cannot_be_removed,
    with_passkeys,
    |app: TestApp| async move {
        let (ada, laptop, _) = ada_with_passkey(&app, false).await;
        let store = app.provider.store.as_ref();
        let org = organizations::create(
            store,
            "test",
            NewOrganization {
                slug: "acme".into(),
                name: "Acme".into(),
                ..Default::default()
            },
        )
        .unwrap();
        organizations::save_role(store, "test", "acme", "viewer", vec!["invoices:read".into()]).unwrap();
        organizations::save_member(store, "test", "acme", &ada.id, &["viewer".into()]).unwrap();
        store
            .save_mfa_policy(&MfaPolicy {
                owner: MfaOwner::Organization,
                owner_id: org.id.clone(),
                required: true,
                factors: vec![],
                passkey_only: false,
            })
            .unwrap();
        let id = store.list_passkeys(&ada.id).unwrap()[0].id.clone();
        let csrf = get(&laptop, &app.url("/account/passkeys")).await.hidden("csrf");
        let refused = post(
            &laptop,
            &app.url("/account/passkeys/remove"),
            &[("csrf", &csrf), ("passkey", &id)],
        )
        .await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("last second factor"), "{}", refused.body);
        assert_eq!(store.count_passkeys(&ada.id).unwrap(), 1);
        assert!(events(&app, "factor.removed").is_empty());
    }
);

db_test!(
    without_a_domain_the_sign_in_pages_offer_no_passkey,
    |app: TestApp| async move {
        app.create_client(app.client("app"));
        let rp = app.rp("app", Some(SECRET)).await;
        let auth = app.authorization(&rp, &["openid"], &[]);
        let start = app.get(&auth.url).await;
        let login = app.get(&app.url(start.location())).await;
        assert_eq!(login.status, 200);
        assert!(!login.body.contains("data-passkey"), "{}", login.body);
        assert!(login.body.contains("name=\"remember\""));
        let account = app.get(&app.url("/account")).await;
        assert!(!account.body.contains("data-passkey"));
        assert!(account.body.contains("name=\"remember\""));
    }
);

db_test_with!(
    the_sign_in_pages_offer_a_passkey_button_and_autofill,
    with_passkeys,
    |app: TestApp| async move {
        let account = app.get(&app.url("/account")).await;
        assert!(account.body.contains("action=\"/account/login/passkey\""));
        assert!(account.body.contains("data-passkey-conditional"));
        assert!(
            account
                .body
                .contains("<script src=\"/static/passkeys.js\" defer></script>")
        );
        let (options, _) = ceremony(&account);
        assert_eq!(options["rpId"], "localhost");
        assert_eq!(options["userVerification"], "required");
        let script = app.get(&app.url("/static/passkeys.js")).await;
        assert_eq!(script.status, 200);
        assert!(
            script.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        // Signing in again before a sensitive change comes back to the passkeys page.
        let reauth = app
            .get(&app.url("/account/reauth?return_to=/account/passkeys"))
            .await;
        assert!(
            reauth
                .body
                .contains("name=\"return_to\" value=\"/account/passkeys\"")
        );
    }
);

db_test_with!(
    as_a_second_factor_only_the_persons_own_passkey_counts,
    with_passkeys,
    |app: TestApp| async move {
        let (ada, _, mut key) = ada_with_passkey(&app, false).await;
        let bob = app.create_user("bob@example.com");
        let p = &app.provider;
        let device = Browser {
            binding_id: gatehouse::crypto::random_token(),
            session_id: None,
            user_agent: String::new(),
        };
        let origin_of_request = gatehouse::audit::Origin::default();
        let none = passkeys::begin_authentication(p, &device, Some(&bob));
        assert!(none.is_err(), "bob has no passkey");
        let ceremony = passkeys::begin_authentication(p, &device, Some(&ada)).unwrap();
        let options: Value = serde_json::from_str(&ceremony.options).unwrap();
        assert_eq!(options["allowCredentials"].as_array().map(Vec::len), Some(1));
        let credential = key.assert(&options, &origin(&app), &Tamper::default());
        // Bob cannot pass his second step with Ada's passkey, nor with her ceremony.
        let refused = passkeys::finish_authentication(
            p,
            &device,
            &ceremony.state,
            &credential,
            Some(&bob),
            &origin_of_request,
        )
        .unwrap();
        assert!(refused.is_none());
        let used = passkeys::finish_authentication(
            p,
            &device,
            &ceremony.state,
            &credential,
            Some(&ada),
            &origin_of_request,
        )
        .unwrap()
        .expect("accepted");
        assert_eq!(used.user.id, ada.id);
        assert_eq!(used.amr, "hwk mfa");
        assert_eq!(passkeys::count(p, &ada.id).unwrap(), 1);
        // A passwordless ceremony is not a second-factor one, and the reverse.
        let sign_in = passkeys::begin_authentication(p, &device, None).unwrap();
        let options: Value = serde_json::from_str(&sign_in.options).unwrap();
        let credential = key.assert(&options, &origin(&app), &Tamper::default());
        let refused = passkeys::finish_authentication(
            p,
            &device,
            &sign_in.state,
            &credential,
            Some(&ada),
            &origin_of_request,
        )
        .unwrap();
        assert!(refused.is_none());
    }
);
