//! Brokered sign-in against a real upstream: a second Gatehouse instance is the upstream OpenID
//! provider (real discovery, JWKS, signed ID tokens, userinfo). Just-in-time provisioning, returning
//! users, account linking (automatic only for a trusted verified email, otherwise with proof), home-realm
//! discovery, `connection=`, and the account page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::flows::admin::NewClient;
use gatehouse::upstream::{UpstreamKind, UpstreamSpec};
use openidconnect::{AuthorizationCode, TokenResponse};

use crate::helpers::*;

/// The downstream gateway (under test) and the upstream Gatehouse it brokers to, with one browser.
pub struct Federation {
    pub down: TestApp,
    pub up: TestApp,
    pub browser: reqwest::Client,
}

pub const UP_EMAIL: &str = "ada@example.com";

/// Starts the upstream (always SQLite, on `localhost` so that its cookies are not the downstream's)
/// and the downstream on `backend`, with connection `up` adjusted by `adjust`.
pub async fn federation(backend: Backend, adjust: impl FnOnce(&mut UpstreamSpec)) -> Federation {
    let up = spawn_app_with(Backend::Sqlite, |s| {
        s.server.issuer = s.server.issuer.replace("127.0.0.1", "localhost");
    })
    .await;
    let up_issuer = up.provider.settings.issuer().to_string();
    let mut spec = UpstreamSpec {
        id: "up".into(),
        kind: UpstreamKind::Oidc,
        preset: None,
        display_name: "Upstream IdP".into(),
        client_id: "broker".into(),
        client_secret: SECRET.to_string().into(),
        issuer: Some(up_issuer),
        authorize_url: None,
        token_url: None,
        userinfo_url: None,
        scopes: Vec::new(),
        trust_email: false,
        domains: Vec::new(),
        allow_private_network: true,
        claims: Default::default(),
        apple: None,
        mfa: Default::default(),
    };
    adjust(&mut spec);
    let down = spawn_app_with(backend, move |s| s.upstreams.push(spec)).await;
    up.create_client(NewClient {
        name: "Broker".into(),
        redirect_uris: vec![down.url("/upstream/up/callback")],
        id: Some("broker".into()),
        secret: Some(SECRET.into()),
        skip_consent: true,
        ..Default::default()
    });
    up.create_user(UP_EMAIL);
    down.create_client(down.client("app"));
    Federation {
        down,
        up,
        browser: browser(),
    }
}

#[macro_export]
macro_rules! federation_test {
    ($name:ident, $adjust:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                let fed = $crate::federation::federation($crate::helpers::Backend::Sqlite, $adjust).await;
                ($body)(fed).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if std::env::var("TEST_DATABASE_URL").is_err() {
                    eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant skipped");
                    return;
                }
                let fed = $crate::federation::federation($crate::helpers::Backend::Postgres, $adjust).await;
                ($body)(fed).await;
            }
        }
    };
}

impl Federation {
    pub async fn get(&self, url: &str) -> Page {
        Page::from(self.browser.get(url).send().await.expect("request sent")).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        Page::from(
            self.browser
                .post(url)
                .form(form)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// From the downstream's redirect to the upstream, signs in there as `email` and follows the
    /// upstream's answer to the downstream callback. Returns the callback's response.
    pub async fn through_upstream(&self, to_upstream: &Page, email: &str) -> Page {
        assert_eq!(to_upstream.status, 303, "{}", to_upstream.body);
        assert!(
            to_upstream
                .location()
                .starts_with(&self.up.address.replace("127.0.0.1", "localhost")),
            "not sent to the upstream: {}",
            to_upstream.location()
        );
        let authorize = self.get(to_upstream.location()).await;
        let mut page = authorize;
        if page.location().starts_with("/login") {
            let login = self
                .get(&format!(
                    "{}{}",
                    self.up.provider.settings.issuer(),
                    page.location()
                ))
                .await;
            assert_eq!(login.status, 200, "{}", login.body);
            page = self
                .post(
                    &format!("{}/login", self.up.provider.settings.issuer()),
                    &[
                        ("req", &login.hidden("req")),
                        ("csrf", &login.hidden("csrf")),
                        ("email", email),
                        ("password", PASSWORD),
                    ],
                )
                .await;
        }
        assert_eq!(page.status, 303, "upstream: {}", page.body);
        assert!(
            page.location()
                .starts_with(&self.down.url("/upstream/up/callback")),
            "{}",
            page.location()
        );
        self.get(page.location()).await
    }

    /// Consents on the downstream if asked, and returns the final redirect to the client.
    pub async fn finish_at_client(&self, page: Page) -> Page {
        let mut page = page;
        if page.location().starts_with("/consent") {
            let consent = self.get(&self.down.url(page.location())).await;
            page = self
                .post(
                    &self.down.url("/consent"),
                    &[
                        ("req", &consent.hidden("req")),
                        ("csrf", &consent.hidden("csrf")),
                        ("decision", "allow"),
                    ],
                )
                .await;
        }
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(page.location().starts_with(REDIRECT_URI), "{}", page.location());
        page
    }

    /// The whole journey for the relying party `app`: authorize with `connection=up`, sign in upstream,
    /// consent, and exchange the code. Returns the ID token's claims.
    pub async fn sign_in_via_upstream(&self, email: &str) -> serde_json::Value {
        let rp = self.down.rp("app", Some(SECRET)).await;
        let auth = self
            .down
            .authorization(&rp, &["openid", "email", "profile"], &[("connection", "up")]);
        let start = self.get(&auth.url).await;
        let back = self.through_upstream(&start, email).await;
        let at_client = self.finish_at_client(back).await;
        exchange(&rp, at_client, auth, &self.down).await
    }
}

/// Exchanges the code in the final redirect and returns the verified ID token's claims as JSON.
pub async fn exchange(rp: &Rp, at_client: Page, auth: Authorization, app: &TestApp) -> serde_json::Value {
    let code = at_client.query("code").expect("a code");
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&app.http)
        .await
        .expect("code exchange works");
    let id_token = tokens.id_token().expect("an ID token");
    id_token
        .claims(&rp.id_token_verifier(), &auth.nonce)
        .expect("the ID token verifies");
    let jwt = id_token.to_string();
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn kinds(app: &TestApp) -> Vec<String> {
    app.provider
        .store
        .audit_page(0, 10_000)
        .unwrap()
        .into_iter()
        .map(|r| format!("{}:{}", r.event.event, r.event.outcome.as_str()))
        .collect()
}

crate::federation_test!(
    a_first_upstream_sign_in_provisions_a_user_and_the_tokens_name_the_connection,
    |_| {},
    |fed: Federation| async move {
        let claims = fed.sign_in_via_upstream(UP_EMAIL).await;

        let users = fed.down.provider.store.list_users().unwrap();
        assert_eq!(users.len(), 1);
        let user = &users[0];
        assert_eq!(claims["sub"], user.id.as_str());
        assert_eq!(user.email, UP_EMAIL);
        assert!(user.email_verified, "the upstream verified it");
        assert_eq!(claims["idp"], "up");
        assert_eq!(claims["amr"], serde_json::json!(["fed"]));
        assert!(user.password_hash.is_none());
        let identities = fed.down.provider.store.list_identities(&user.id).unwrap();
        assert_eq!(identities.len(), 1);
        assert_eq!(identities[0].connection_id, "up");
        let upstream_user = fed
            .up
            .provider
            .store
            .find_user_by_email(UP_EMAIL)
            .unwrap()
            .unwrap();
        assert_eq!(
            identities[0].subject, upstream_user.id,
            "keyed by the upstream subject"
        );
        let events = kinds(&fed.down);
        assert!(events.contains(&"user.created:success".to_string()), "{events:?}");
        assert!(events.contains(&"sign_in:success".to_string()), "{events:?}");
    }
);

crate::federation_test!(
    a_returning_user_signs_in_to_the_same_account,
    |_| {},
    |fed: Federation| async move {
        let first = fed.sign_in_via_upstream(UP_EMAIL).await;
        // A new browser: no session at either side.
        let fed = Federation {
            browser: browser(),
            ..fed
        };
        let second = fed.sign_in_via_upstream(UP_EMAIL).await;

        assert_eq!(first["sub"], second["sub"]);
        assert_eq!(fed.down.provider.store.list_users().unwrap().len(), 1);
    }
);

crate::federation_test!(
    a_verified_email_of_a_trusted_connection_links_the_existing_account,
    |s: &mut UpstreamSpec| s.trust_email = true,
    |fed: Federation| async move {
        let existing = fed.down.create_user(UP_EMAIL);

        let claims = fed.sign_in_via_upstream(UP_EMAIL).await;

        assert_eq!(claims["sub"], existing.id.as_str());
        assert_eq!(fed.down.provider.store.list_users().unwrap().len(), 1);
        assert_eq!(
            fed.down
                .provider
                .store
                .list_identities(&existing.id)
                .unwrap()
                .len(),
            1
        );
        assert!(kinds(&fed.down).contains(&"identity.linked:success".to_string()));
    }
);

crate::federation_test!(
    an_untrusted_connection_must_prove_the_existing_account_before_linking,
    |_| {},
    |fed: Federation| async move {
        let existing = fed.down.create_user(UP_EMAIL);
        let rp = fed.down.rp("app", Some(SECRET)).await;
        let auth = fed
            .down
            .authorization(&rp, &["openid", "email"], &[("connection", "up")]);
        let start = fed.get(&auth.url).await;

        let back = fed.through_upstream(&start, UP_EMAIL).await;

        assert_eq!(back.status, 303);
        assert!(
            back.location().starts_with("/login/link?proof="),
            "{}",
            back.location()
        );
        assert!(
            fed.down
                .provider
                .store
                .list_identities(&existing.id)
                .unwrap()
                .is_empty()
        );
        let proof_page = fed.get(&fed.down.url(back.location())).await;
        assert_eq!(proof_page.status, 200);
        assert!(proof_page.body.contains("a••@example.com"), "{}", proof_page.body);
        assert!(
            !proof_page.body.contains(UP_EMAIL),
            "the full email is not disclosed"
        );
        let proof = proof_page.hidden("proof");
        let csrf = proof_page.hidden("csrf");
        // Another browser cannot use the proof.
        let stranger = Page::from(browser().get(fed.down.url(back.location())).send().await.unwrap()).await;
        assert_eq!(stranger.status, 400);
        // A wrong password links nothing.
        let wrong = fed
            .post(
                &fed.down.url("/login/link"),
                &[
                    ("proof", &proof),
                    ("csrf", &csrf),
                    ("password", "not the password"),
                ],
            )
            .await;
        assert_eq!(wrong.status, 401);
        assert!(
            fed.down
                .provider
                .store
                .list_identities(&existing.id)
                .unwrap()
                .is_empty()
        );

        let proven = fed
            .post(
                &fed.down.url("/login/link"),
                &[("proof", &proof), ("csrf", &csrf), ("password", PASSWORD)],
            )
            .await;

        let identities = fed.down.provider.store.list_identities(&existing.id).unwrap();
        assert_eq!(identities.len(), 1, "linked after proof");
        let at_client = fed.finish_at_client(proven).await;
        let claims = exchange(&rp, at_client, auth, &fed.down).await;
        assert_eq!(claims["sub"], existing.id.as_str());
        // The proof is single use.
        let replay = fed
            .post(
                &fed.down.url("/login/link"),
                &[("proof", &proof), ("csrf", &csrf), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(replay.status, 400);
        // Next time the upstream identity signs straight in.
        let fed = Federation {
            browser: browser(),
            ..fed
        };
        let again = fed.sign_in_via_upstream(UP_EMAIL).await;
        assert_eq!(again["sub"], existing.id.as_str());
    }
);

crate::federation_test!(
    a_claimed_email_domain_goes_straight_to_its_provider,
    |s: &mut UpstreamSpec| s.domains = vec!["example.com".into()],
    |fed: Federation| async move {
        let rp = fed.down.rp("app", Some(SECRET)).await;
        let auth = fed.down.authorization(&rp, &["openid"], &[]);
        let start = fed.get(&auth.url).await;
        let login = fed.get(&fed.down.url(start.location())).await;
        assert!(
            login.body.contains("action=\"/login/identify\""),
            "identifier first"
        );
        assert!(!login.body.contains("type=\"password\""));
        let (req, csrf) = (login.hidden("req"), login.hidden("csrf"));

        let other = fed
            .post(
                &fed.down.url("/login/identify"),
                &[("req", &req), ("csrf", &csrf), ("email", "bob@elsewhere.org")],
            )
            .await;
        assert_eq!(other.status, 200);
        assert!(
            other.body.contains("type=\"password\""),
            "password step for other domains"
        );
        assert!(other.body.contains("Continue with Upstream IdP"));

        let claimed = fed
            .post(
                &fed.down.url("/login/identify"),
                &[("req", &req), ("csrf", &csrf), ("email", "Ada@Example.com")],
            )
            .await;
        assert!(
            claimed.location().contains("login_hint=Ada%40Example.com"),
            "{}",
            claimed.location()
        );
        let back = fed.through_upstream(&claimed, UP_EMAIL).await;
        let at_client = fed.finish_at_client(back).await;
        let claims = exchange(&rp, at_client, auth, &fed.down).await;
        assert_eq!(claims["idp"], "up");
    }
);

crate::federation_test!(
    the_login_page_offers_each_provider_and_its_button_starts_the_sign_in,
    |_| {},
    |fed: Federation| async move {
        let rp = fed.down.rp("app", Some(SECRET)).await;
        let auth = fed.down.authorization(&rp, &["openid"], &[]);
        let start = fed.get(&auth.url).await;
        let login = fed.get(&fed.down.url(start.location())).await;
        assert!(login.body.contains("Continue with Upstream IdP"));
        assert!(
            login.body.contains("type=\"password\""),
            "no domains claimed: one-step form"
        );

        let to_upstream = fed
            .post(
                &fed.down.url("/login/upstream"),
                &[
                    ("req", &login.hidden("req")),
                    ("csrf", &login.hidden("csrf")),
                    ("connection", "up"),
                ],
            )
            .await;

        let back = fed.through_upstream(&to_upstream, UP_EMAIL).await;
        let at_client = fed.finish_at_client(back).await;
        let claims = exchange(&rp, at_client, auth, &fed.down).await;
        assert_eq!(claims["idp"], "up");
        // A forged button (no CSRF token) is refused.
        let forged = fed
            .post(
                &fed.down.url("/login/upstream"),
                &[("req", &login.hidden("req")), ("connection", "up")],
            )
            .await;
        assert_eq!(forged.status, 400);
    }
);

crate::federation_test!(
    an_unknown_connection_parameter_is_an_error_for_the_client,
    |_| {},
    |fed: Federation| async move {
        let rp = fed.down.rp("app", Some(SECRET)).await;
        let auth = fed
            .down
            .authorization(&rp, &["openid"], &[("connection", "nope")]);

        let start = fed.get(&auth.url).await;

        assert_eq!(start.status, 303);
        assert!(start.location().starts_with(REDIRECT_URI));
        assert_eq!(start.query("error").as_deref(), Some("invalid_request"));
    }
);

crate::federation_test!(
    a_signed_in_user_links_and_unlinks_a_provider_from_the_account_page,
    |_| {},
    |fed: Federation| async move {
        let local = fed.down.create_user("grace@elsewhere.org");
        let page = fed.get(&fed.down.url("/account")).await;
        assert!(page.body.contains("action=\"/account/login\""));
        let signed_in = fed
            .post(
                &fed.down.url("/account/login"),
                &[
                    ("csrf", &page.hidden("csrf")),
                    ("email", "grace@elsewhere.org"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(signed_in.location(), "/account");
        let account = fed.get(&fed.down.url("/account")).await;
        assert!(account.body.contains("Link Upstream IdP"), "{}", account.body);

        let to_upstream = fed
            .post(
                &fed.down.url("/account/upstream"),
                &[("csrf", &account.hidden("csrf")), ("connection", "up")],
            )
            .await;
        let back = fed.through_upstream(&to_upstream, UP_EMAIL).await;

        assert_eq!(back.location(), "/account?linked=1");
        let identities = fed.down.provider.store.list_identities(&local.id).unwrap();
        assert_eq!(
            identities.len(),
            1,
            "linked to the signed-in user, whatever the email"
        );
        let account = fed.get(&fed.down.url("/account")).await;
        assert!(
            account.body.contains("Upstream IdP · ada@example.com"),
            "{}",
            account.body
        );

        let unlinked = fed
            .post(
                &fed.down.url("/account/unlink"),
                &[
                    ("csrf", &account.hidden("csrf")),
                    ("connection", "up"),
                    ("subject", &identities[0].subject),
                ],
            )
            .await;
        assert_eq!(unlinked.location(), "/account");
        assert!(
            fed.down
                .provider
                .store
                .list_identities(&local.id)
                .unwrap()
                .is_empty()
        );
        assert!(kinds(&fed.down).contains(&"identity.unlinked:success".to_string()));
    }
);

crate::federation_test!(
    unlinking_the_only_way_to_sign_in_is_refused,
    |_| {},
    |fed: Federation| async move {
        fed.sign_in_via_upstream(UP_EMAIL).await;
        let user = fed.down.provider.store.list_users().unwrap().remove(0);
        let identity = fed
            .down
            .provider
            .store
            .list_identities(&user.id)
            .unwrap()
            .remove(0);
        let account = fed.get(&fed.down.url("/account")).await;
        assert!(account.body.contains("only way to sign in"), "{}", account.body);

        let refused = fed
            .post(
                &fed.down.url("/account/unlink"),
                &[
                    ("csrf", &account.hidden("csrf")),
                    ("connection", "up"),
                    ("subject", &identity.subject),
                ],
            )
            .await;

        assert_eq!(refused.status, 400);
        assert_eq!(
            fed.down.provider.store.list_identities(&user.id).unwrap().len(),
            1
        );
    }
);

crate::federation_test!(
    an_identity_linked_to_another_account_cannot_be_linked_again,
    |_| {},
    |fed: Federation| async move {
        // Ada's upstream identity belongs to the JIT account.
        fed.sign_in_via_upstream(UP_EMAIL).await;
        let owner = fed
            .down
            .provider
            .store
            .find_user_by_email(UP_EMAIL)
            .unwrap()
            .unwrap();
        // Grace signs in to the account page in a new browser and tries to link the same identity.
        let fed = Federation {
            browser: browser(),
            ..fed
        };
        let grace = fed.down.create_user("grace@elsewhere.org");
        let page = fed.get(&fed.down.url("/account")).await;
        fed.post(
            &fed.down.url("/account/login"),
            &[
                ("csrf", &page.hidden("csrf")),
                ("email", "grace@elsewhere.org"),
                ("password", PASSWORD),
            ],
        )
        .await;
        let account = fed.get(&fed.down.url("/account")).await;
        let to_upstream = fed
            .post(
                &fed.down.url("/account/upstream"),
                &[("csrf", &account.hidden("csrf")), ("connection", "up")],
            )
            .await;

        let refused = fed.through_upstream(&to_upstream, UP_EMAIL).await;

        assert_eq!(refused.status, 400);
        assert!(refused.body.contains("Upstream IdP"));
        assert!(
            refused.body.contains("already linked to another"),
            "{}",
            refused.body
        );
        // Signing out from the account page ends the session.
        let account = fed.get(&fed.down.url("/account")).await;
        let out = fed
            .post(
                &fed.down.url("/end_session"),
                &[("csrf", &account.hidden("csrf")), ("decision", "logout")],
            )
            .await;
        assert!(out.status < 400, "{}", out.body);
        let after = fed.get(&fed.down.url("/account")).await;
        assert!(after.body.contains("action=\"/account/login\""), "signed out");
        assert!(
            fed.down
                .provider
                .store
                .list_identities(&grace.id)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            fed.down.provider.store.list_identities(&owner.id).unwrap().len(),
            1
        );
    }
);

crate::federation_test!(
    a_cross_site_form_post_callback_is_relayed_once_through_our_origin,
    |_| {},
    |fed: Federation| async move {
        let rp = fed.down.rp("app", Some(SECRET)).await;
        let auth = fed.down.authorization(&rp, &["openid"], &[("connection", "up")]);
        let start = fed.get(&auth.url).await;
        // Sign in upstream, but stop at its redirect to the callback: the provider would form_post it.
        let authorize = fed.get(start.location()).await;
        let login = fed
            .get(&format!(
                "{}{}",
                fed.up.provider.settings.issuer(),
                authorize.location()
            ))
            .await;
        let redirect = fed
            .post(
                &format!("{}/login", fed.up.provider.settings.issuer()),
                &[
                    ("req", &login.hidden("req")),
                    ("csrf", &login.hidden("csrf")),
                    ("email", UP_EMAIL),
                    ("password", PASSWORD),
                ],
            )
            .await;
        let fields: Vec<(String, String)> = url::Url::parse(redirect.location())
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let callback = fed.down.url("/upstream/up/callback");

        // The cross-site POST carries none of our SameSite=Lax cookies: Gatehouse posts it to itself.
        let cross_site = Page::from(browser().post(&callback).form(&form).send().await.unwrap()).await;
        assert_eq!(cross_site.status, 200, "{}", cross_site.body);
        assert!(cross_site.body.contains("action=\"/upstream/up/callback\""));
        assert!(cross_site.body.contains("name=\"relay\" value=\"1\""));
        assert_eq!(
            cross_site.hidden("state"),
            fields.iter().find(|(k, _)| k == "state").unwrap().1
        );

        // The same-origin re-post from the user's browser carries them, and the sign-in completes.
        let mut relayed = form.clone();
        relayed.push(("relay", "1"));
        let back = fed.post(&callback, &relayed).await;
        let at_client = fed.finish_at_client(back).await;
        let claims = exchange(&rp, at_client, auth, &fed.down).await;
        assert_eq!(claims["idp"], "up");
    }
);

crate::federation_test!(
    a_link_can_be_proven_through_a_provider_already_linked_to_the_account,
    |_| {},
    |fed: Federation| async move {
        // Ada's account exists through `up` (no password). A second connection, created at run time
        // like `gatehouse upstream create` does (stored in the database, secret sealed), reaches the
        // same upstream account under another connection id.
        fed.sign_in_via_upstream(UP_EMAIL).await;
        let ada = fed
            .down
            .provider
            .store
            .find_user_by_email(UP_EMAIL)
            .unwrap()
            .unwrap();
        fed.up.create_client(NewClient {
            name: "Broker 2".into(),
            redirect_uris: vec![fed.down.url("/upstream/up2/callback")],
            id: Some("broker2".into()),
            secret: Some(SECRET.into()),
            skip_consent: true,
            ..Default::default()
        });
        let mut spec = fed.down.provider.settings.upstreams[0].clone();
        spec.id = "up2".into();
        spec.display_name = "Second IdP".into();
        spec.client_id = "broker2".into();
        spec.client_secret = SECRET.to_string().into();
        gatehouse::flows::upstreams::create((&fed.down.provider).into(), spec).expect("stored");
        let fed = Federation {
            browser: browser(),
            ..fed
        };
        let rp = fed.down.rp("app", Some(SECRET)).await;
        let auth = fed.down.authorization(&rp, &["openid"], &[("connection", "up2")]);
        let start = fed.get(&auth.url).await;
        let authorize = fed.get(start.location()).await;
        let login = fed
            .get(&format!(
                "{}{}",
                fed.up.provider.settings.issuer(),
                authorize.location()
            ))
            .await;
        let to_callback = fed
            .post(
                &format!("{}/login", fed.up.provider.settings.issuer()),
                &[
                    ("req", &login.hidden("req")),
                    ("csrf", &login.hidden("csrf")),
                    ("email", UP_EMAIL),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert!(
            to_callback
                .location()
                .starts_with(&fed.down.url("/upstream/up2/callback"))
        );
        let back = fed.get(to_callback.location()).await;
        assert!(
            back.location().starts_with("/login/link?proof="),
            "{}",
            back.location()
        );
        let proof_page = fed.get(&fed.down.url(back.location())).await;
        assert!(
            !proof_page.body.contains("type=\"password\""),
            "the account has no password"
        );
        assert!(
            proof_page.body.contains("Sign in with Upstream IdP"),
            "{}",
            proof_page.body
        );

        let to_upstream = fed
            .post(
                &fed.down.url("/login/link/upstream"),
                &[
                    ("proof", &proof_page.hidden("proof")),
                    ("csrf", &proof_page.hidden("csrf")),
                    ("connection", "up"),
                ],
            )
            .await;
        // The upstream session from a moment ago signs straight in.
        let authorize = fed.get(to_upstream.location()).await;
        let back = fed.get(authorize.location()).await;

        let at_client = fed.finish_at_client(back).await;
        let claims = exchange(&rp, at_client, auth, &fed.down).await;
        assert_eq!(claims["sub"], ada.id.as_str());
        assert_eq!(claims["idp"], "up", "proven through the first connection");
        let linked: Vec<String> = fed
            .down
            .provider
            .store
            .list_identities(&ada.id)
            .unwrap()
            .into_iter()
            .map(|i| i.connection_id)
            .collect();
        assert_eq!(linked, vec!["up".to_string(), "up2".to_string()]);
    }
);

crate::federation_test!(
    an_email_of_an_organization_domain_goes_to_the_organizations_connection,
    |_| {},
    |fed: Federation| async move {
        gatehouse::flows::organizations::create(
            fed.down.provider.store.as_ref(),
            "operator",
            gatehouse::flows::organizations::NewOrganization {
                slug: "example".into(),
                name: "Example Inc".into(),
                domains: vec!["example.com".into()],
                connection_id: Some("up".into()),
                sso_required: true,
            },
        )
        .unwrap();
        fed.down.create_client(NewClient {
            scopes: vec!["openid".into(), "organization".into()],
            ..fed.down.client("portal")
        });
        let rp = fed.down.rp("portal", Some(SECRET)).await;
        let auth = fed.down.authorization(&rp, &["openid", "organization"], &[]);
        let start = fed.get(&auth.url).await;
        let login = fed.get(&fed.down.url(start.location())).await;
        assert!(login.body.contains("action=\"/login/identify\""));

        let to_upstream = fed
            .post(
                &fed.down.url("/login/identify"),
                &[
                    ("req", &login.hidden("req")),
                    ("csrf", &login.hidden("csrf")),
                    ("email", UP_EMAIL),
                ],
            )
            .await;

        let back = fed.through_upstream(&to_upstream, UP_EMAIL).await;
        let at_client = fed.finish_at_client(back).await;
        let code = at_client.query("code").expect("a code");
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(auth.verifier)
            .request_async(&fed.down.http)
            .await
            .unwrap();
        // The organization's IdP vouched for the person: they joined it, and the grant is for it.
        let access = openidconnect::OAuth2TokenResponse::access_token(&tokens)
            .secret()
            .clone();
        let payload = access.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["org_slug"], "example");
        assert_eq!(claims["idp"], "up");
    }
);
