//! Consent documents in the authorization: the documents page (accept, decline, an unticked box, CSRF),
//! re-consent after a new version, client-required documents, `prompt=none`, the jurisdiction defaults
//! for marketing, the portal page (withdraw, accept), and what apps see (the `consents` claim and the
//! introspection field).

use gatehouse::flows::admin::NewClient;
use gatehouse::flows::consents::documents::{self, NewDocument, NewVersion};
use gatehouse::store::{ClientPolicy, ConsentAction, ConsentMethod, ConsentRecord, User};
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, TokenResponse};
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::*;
use crate::token::{introspect, jwt_part, userinfo};

pub(crate) const ADA: &str = "ada@example.com";

/// Creates a document and publishes its first version.
pub(crate) fn document(app: &TestApp, id: &str, purpose: &str, required: bool) {
    let new = NewDocument {
        id: id.into(),
        title: title_of(id).into(),
        purpose: purpose.into(),
        required,
    };
    documents::create(app.provider.store.as_ref(), "test", new).expect("document created");
    publish(app, id, false);
}

fn title_of(id: &str) -> &'static str {
    match id {
        "terms" => "Terms of service",
        "marketing-email" => "Product news by email",
        _ => "Beta programme terms",
    }
}

/// Publishes the next version; returns its number.
pub(crate) fn publish(app: &TestApp, id: &str, reconsent: bool) -> i64 {
    let new = NewVersion {
        url: format!("https://example.com/{id}"),
        summary: format!("What the {id} say, in one line"),
        reconsent_required: reconsent,
    };
    documents::publish(app.provider.store.as_ref(), "test", id, new)
        .expect("version published")
        .version
}

/// A confidential client that skips the scope consent page and may ask for `consents`.
async fn client(app: &TestApp, id: &str) -> Rp {
    app.create_client(NewClient {
        skip_consent: true,
        scopes: ["openid", "email", "offline_access", "consents"]
            .map(String::from)
            .to_vec(),
        ..app.client(id)
    });
    app.rp(id, Some(SECRET)).await
}

fn records(app: &TestApp, user: &User) -> Vec<ConsentRecord> {
    app.provider.store.list_user_consent_records(&user.id).unwrap()
}

/// /authorize, signing in if asked: the redirect that follows.
async fn authorize(app: &TestApp, auth: &Authorization) -> Page {
    let start = app.get(&auth.url).await;
    assert_eq!(start.status, 303, "authorize: {}", start.body);
    if start.location().starts_with("/login") {
        app.sign_in(&start, ADA, PASSWORD).await
    } else {
        start
    }
}

/// Follows a redirect to the documents page.
async fn documents_page(app: &TestApp, redirect: &Page) -> Page {
    assert!(
        redirect.location().starts_with("/consent/documents?req="),
        "expected the documents page, got {} {}",
        redirect.location(),
        redirect.body
    );
    let page = app.get(&app.url(redirect.location())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

async fn submit(app: &TestApp, page: &Page, decision: &str, ticks: &[(&str, &str)]) -> Page {
    let (req, csrf) = (page.hidden("req"), page.hidden("csrf"));
    let mut form = vec![
        ("req", req.as_str()),
        ("csrf", csrf.as_str()),
        ("decision", decision),
    ];
    form.extend_from_slice(ticks);
    app.post_form(&app.url("/consent/documents"), &form).await
}

/// The `<input …>` tag of a checkbox.
fn checkbox(page: &Page, field: &str) -> String {
    let at = page
        .body
        .find(&format!("name=\"{field}\""))
        .unwrap_or_else(|| panic!("no box {field} in {}", page.body));
    let start = page.body[..at].rfind("<input").unwrap();
    let end = page.body[at..].find('>').unwrap() + at;
    page.body[start..=end].to_string()
}

async fn tokens(
    app: &TestApp,
    rp: &Rp,
    auth: Authorization,
    back: &Page,
) -> openidconnect::core::CoreTokenResponse {
    let code = back
        .query("code")
        .unwrap_or_else(|| panic!("no code: {} {}", back.location(), back.body));
    rp.exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&app.http)
        .await
        .expect("code exchange works")
}

db_test!(
    required_terms_are_accepted_on_the_documents_page_then_the_code_is_issued_and_recorded,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "terms", "terms", true);
        let rp = client(&app, "app").await;
        let auth = app.authorization(&rp, &[], &[]);
        let page = documents_page(&app, &authorize(&app, &auth).await).await;
        assert!(page.body.contains("App app"), "the client's name: {}", page.body);
        assert!(page.body.contains("What the terms say, in one line"));
        assert!(page.body.contains(
            "<a href=\"https://example.com/terms\" target=\"_blank\" rel=\"noopener noreferrer\">"
        ));
        assert!(page.body.contains("I accept the Terms of service"));
        assert!(!checkbox(&page, "accept.terms").contains("checked"));
        assert!(records(&app, &ada).is_empty(), "showing the page records nothing");

        let back = submit(&app, &page, "accept", &[("accept.terms", "1")]).await;
        assert!(back.location().starts_with(REDIRECT_URI), "{}", back.location());
        assert!(tokens(&app, &rp, auth, &back).await.id_token().is_some());
        let recorded = records(&app, &ada);
        assert_eq!(recorded.len(), 1);
        let r = &recorded[0];
        assert_eq!((r.document_id.as_str(), r.version), ("terms", 1));
        assert_eq!(
            (r.action, r.method),
            (ConsentAction::Accepted, ConsentMethod::Authorization)
        );
        assert_eq!(r.client_id.as_deref(), Some("app"));
        assert_eq!(r.region.as_deref(), Some("EU"), "the configured default region");

        // Accepted once: the next authorization goes straight through.
        let again = authorize(&app, &app.authorization(&rp, &[], &[])).await;
        assert!(again.location().starts_with(REDIRECT_URI), "{}", again.location());
    }
);

db_test!(
    declining_ends_the_authorization_with_access_denied_state_and_iss,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "terms", "terms", true);
        let rp = client(&app, "app").await;
        let auth = app.authorization(&rp, &[], &[]);
        let page = documents_page(&app, &authorize(&app, &auth).await).await;
        let back = submit(&app, &page, "decline", &[]).await;
        assert_eq!(back.status, 303);
        assert!(back.location().starts_with(REDIRECT_URI), "{}", back.location());
        assert_eq!(back.query("error").as_deref(), Some("access_denied"));
        assert_eq!(back.query("state").as_deref(), Some(auth.state.secret().as_str()));
        assert_eq!(back.query("iss").as_deref(), Some(app.address.as_str()));
        assert!(records(&app, &ada).is_empty());
        // The request travels sealed in the page (nothing is stored before sign-in), so the back
        // button is the same as starting again: the page asks again and nothing was recorded.
        let again = app
            .get(&app.url(&format!("/consent/documents?req={}", page.hidden("req"))))
            .await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert!(records(&app, &ada).is_empty());
    }
);

db_test!(
    a_required_box_left_unticked_shows_the_page_again_with_a_message_and_records_nothing,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "terms", "terms", true);
        let rp = client(&app, "app").await;
        let page = documents_page(&app, &authorize(&app, &app.authorization(&rp, &[], &[])).await).await;
        for ticks in [
            &[][..],
            &[("accept.terms", "0")][..],
            &[("accept.terms", "yes")][..],
        ] {
            let again = submit(&app, &page, "accept", ticks).await;
            assert_eq!(again.status, 400, "{ticks:?}: {}", again.body);
            assert!(again.body.contains("Tick this box to continue"), "{}", again.body);
            assert!(checkbox(&again, "accept.terms").contains("aria-invalid=\"true\""));
        }
        assert!(records(&app, &ada).is_empty());
        // A version that was current when the page was shown, but is not any more, does not count.
        publish(&app, "terms", true);
        let stale = submit(&app, &page, "accept", &[("accept.terms", "1")]).await;
        assert_eq!(stale.status, 400, "{}", stale.body);
        assert!(
            stale.body.contains("value=\"2\""),
            "the page shows the new version"
        );
        assert!(records(&app, &ada).is_empty());
        let ok = submit(&app, &stale, "accept", &[("accept.terms", "2")]).await;
        assert!(ok.location().starts_with(REDIRECT_URI), "{}", ok.location());
        assert_eq!(records(&app, &ada)[0].version, 2);
    }
);

db_test!(
    a_new_version_with_reconsent_is_asked_at_the_next_authorization_and_one_without_is_not,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "terms", "terms", true);
        let rp = client(&app, "app").await;
        let page = documents_page(&app, &authorize(&app, &app.authorization(&rp, &[], &[])).await).await;
        submit(&app, &page, "accept", &[("accept.terms", "1")]).await;

        assert_eq!(publish(&app, "terms", false), 2);
        let quiet = authorize(&app, &app.authorization(&rp, &[], &[])).await;
        assert!(
            quiet.location().starts_with(REDIRECT_URI),
            "not asked again: {}",
            quiet.location()
        );

        assert_eq!(publish(&app, "terms", true), 3);
        let page = documents_page(&app, &authorize(&app, &app.authorization(&rp, &[], &[])).await).await;
        assert!(page.body.contains("Updated"), "{}", page.body);
        assert!(checkbox(&page, "accept.terms").contains("value=\"3\""));
        let back = submit(&app, &page, "accept", &[("accept.terms", "3")]).await;
        assert!(back.location().starts_with(REDIRECT_URI));
        let versions: Vec<i64> = records(&app, &ada).iter().map(|r| r.version).collect();
        assert_eq!(versions, vec![1, 3]);
    }
);

db_test!(
    a_document_required_by_one_client_is_asked_only_for_that_client,
    |app: TestApp| async move {
        app.create_user(ADA);
        document(&app, "beta-terms", "terms", false);
        let plain = client(&app, "app").await;
        let beta = client(&app, "beta").await;
        app.provider
            .store
            .save_client_policy(&ClientPolicy {
                client_id: "beta".into(),
                required_documents: vec!["beta-terms".into()],
                ..Default::default()
            })
            .unwrap();
        let back = authorize(&app, &app.authorization(&plain, &[], &[])).await;
        assert!(back.location().starts_with(REDIRECT_URI), "{}", back.location());
        let page = documents_page(&app, &authorize(&app, &app.authorization(&beta, &[], &[])).await).await;
        assert!(page.body.contains("Beta programme terms"));
    }
);

db_test!(
    prompt_none_with_outstanding_documents_answers_consent_required,
    |app: TestApp| async move {
        app.create_user(ADA);
        let rp = client(&app, "app").await;
        let signed_in = authorize(&app, &app.authorization(&rp, &[], &[])).await;
        assert!(signed_in.location().starts_with(REDIRECT_URI));
        document(&app, "terms", "terms", true);
        let auth = app.authorization(&rp, &[], &[("prompt", "none")]);
        let back = app.get(&auth.url).await;
        assert_eq!(back.status, 303);
        assert!(back.location().starts_with(REDIRECT_URI), "{}", back.location());
        assert_eq!(back.query("error").as_deref(), Some("consent_required"));
        assert_eq!(back.query("state").as_deref(), Some(auth.state.secret().as_str()));
        assert_eq!(back.query("iss").as_deref(), Some(app.address.as_str()));
    }
);

db_test!(
    the_documents_page_refuses_a_missing_or_wrong_csrf_token,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "terms", "terms", true);
        let rp = client(&app, "app").await;
        let page = documents_page(&app, &authorize(&app, &app.authorization(&rp, &[], &[])).await).await;
        let req = page.hidden("req");
        for csrf in [None, Some("forged")] {
            let mut form = vec![
                ("req", req.as_str()),
                ("decision", "accept"),
                ("accept.terms", "1"),
            ];
            if let Some(c) = csrf {
                form.push(("csrf", c));
            }
            let refused = app.post_form(&app.url("/consent/documents"), &form).await;
            assert_eq!(refused.status, 400, "{csrf:?}: {}", refused.body);
            assert!(refused.body.contains("This form has expired"));
        }
        assert!(records(&app, &ada).is_empty());
    }
);

db_test!(
    marketing_is_offered_unticked_in_the_eu_and_recorded_only_when_ticked,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "terms", "terms", true);
        document(&app, "marketing-email", "marketing", false);
        let rp = client(&app, "app").await;
        let page = documents_page(&app, &authorize(&app, &app.authorization(&rp, &[], &[])).await).await;
        let marketing = checkbox(&page, "accept.marketing-email");
        assert!(!marketing.contains("checked"), "{marketing}");
        assert!(!page.body.contains("opt out at any time"));
        submit(&app, &page, "accept", &[("accept.terms", "1")]).await;
        let recorded = records(&app, &ada);
        assert_eq!(recorded.len(), 1, "only the terms: {recorded:?}");
        assert_eq!(recorded[0].document_id, "terms");
    }
);

db_test!(
    marketing_is_offered_ticked_with_an_opt_out_notice_in_california,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "terms", "terms", true);
        document(&app, "marketing-email", "marketing", false);
        let rp = client(&app, "app").await;
        let policy = ClientPolicy {
            client_id: "app".into(),
            region: Some("US-CA".into()),
            ..Default::default()
        };
        app.provider.store.save_client_policy(&policy).unwrap();
        let page = documents_page(&app, &authorize(&app, &app.authorization(&rp, &[], &[])).await).await;
        assert!(checkbox(&page, "accept.marketing-email").contains("checked"));
        assert!(page.body.contains("You can opt out at any time"), "{}", page.body);
        let ticks = [("accept.terms", "1"), ("accept.marketing-email", "1")];
        submit(&app, &page, "accept", &ticks).await;
        let recorded = records(&app, &ada);
        let marketing = recorded
            .iter()
            .find(|r| r.document_id == "marketing-email")
            .unwrap();
        assert_eq!(marketing.method, ConsentMethod::OptOutNotice);
        assert_eq!(marketing.region.as_deref(), Some("US-CA"));
        let terms = recorded.iter().find(|r| r.document_id == "terms").unwrap();
        assert_eq!(terms.method, ConsentMethod::Authorization);
    }
);

/// Signs Ada in through `app` with the `consents` scope, accepting the terms; returns her tokens.
async fn accepted_with_tokens(app: &TestApp, rp: &Rp) -> openidconnect::core::CoreTokenResponse {
    let auth = app.authorization(rp, &["consents"], &[]);
    let page = documents_page(app, &authorize(app, &auth).await).await;
    let back = submit(app, &page, "accept", &[("accept.terms", "1")]).await;
    tokens(app, rp, auth, &back).await
}

db_test!(
    the_consents_scope_releases_the_accepted_versions_in_userinfo_and_the_id_token,
    |app: TestApp| async move {
        app.create_user(ADA);
        document(&app, "terms", "terms", true);
        let rp = client(&app, "app").await;
        let with_scope = accepted_with_tokens(&app, &rp).await;
        let id_token = jwt_part(&with_scope.id_token().unwrap().to_string(), 1);
        assert_eq!(id_token["consents"], json!({ "terms": 1 }));
        let info = userinfo(&app, with_scope.access_token().secret()).await;
        assert_eq!(info.body["consents"], json!({ "terms": 1 }), "{}", info.body);
        // Without the scope, no claim.
        let auth = app.authorization(&rp, &[], &[]);
        let back = authorize(&app, &auth).await;
        let plain = tokens(&app, &rp, auth, &back).await;
        assert!(
            jwt_part(&plain.id_token().unwrap().to_string(), 1)
                .get("consents")
                .is_none()
        );
        let info = userinfo(&app, plain.access_token().secret()).await;
        assert!(info.body.get("consents").is_none(), "{}", info.body);
    }
);

/// POSTs a portal form with the browser's CSRF token (or `csrf`).
async fn portal_form(app: &TestApp, action: &str, document: &str, csrf: Option<&str>) -> Page {
    let page = app.get(&app.url("/account/consents")).await;
    let token = csrf.map_or_else(|| page.hidden("csrf"), str::to_string);
    let mut form = vec![("document", document)];
    if !token.is_empty() {
        form.push(("csrf", token.as_str()));
    }
    app.post_form(&app.url(&format!("/account/consents/{action}")), &form)
        .await
}

db_test!(
    withdrawing_in_the_portal_is_recorded_and_changes_the_claim_and_the_introspection,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "terms", "terms", true);
        let rp = client(&app, "app").await;
        let tokens = accepted_with_tokens(&app, &rp).await;
        let access = tokens.access_token().secret().clone();
        assert_eq!(
            introspect(&app, "app", &access).await.body["consents"],
            json!({ "terms": 1 })
        );

        let portal = app.get(&app.url("/account/consents")).await;
        assert_eq!(portal.status, 200, "{}", portal.body);
        assert!(
            portal.body.contains("You accepted version 1 on"),
            "{}",
            portal.body
        );
        assert!(portal.body.contains("will ask you to accept it again"));
        let done = portal_form(&app, "withdraw", "terms", None).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), "/account/consents?withdrawn=terms");
        let after = app.get(&app.url(done.location())).await;
        assert!(
            after
                .body
                .contains("You withdrew your consent to the Terms of service.")
        );

        let last = records(&app, &ada).pop().unwrap();
        assert_eq!(
            (last.action, last.method),
            (ConsentAction::Withdrawn, ConsentMethod::Portal)
        );
        assert_eq!((last.version, last.client_id), (1, None));
        assert_eq!(userinfo(&app, &access).await.body["consents"], json!({}));
        assert_eq!(introspect(&app, "app", &access).await.body["consents"], json!({}));
        // Apps that require it ask again.
        documents_page(&app, &authorize(&app, &app.authorization(&rp, &[], &[])).await).await;
    }
);

db_test!(
    marketing_is_accepted_and_withdrawn_in_the_portal,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "marketing-email", "marketing", false);
        let rp = client(&app, "app").await;
        authorize(&app, &app.authorization(&rp, &[], &[])).await;
        let portal = app.get(&app.url("/account/consents")).await;
        assert!(portal.body.contains("Not accepted"), "{}", portal.body);
        let done = portal_form(&app, "accept", "marketing-email", None).await;
        assert_eq!(done.location(), "/account/consents?accepted=marketing-email");
        let r = records(&app, &ada).pop().unwrap();
        assert_eq!(
            (r.action, r.method),
            (ConsentAction::Accepted, ConsentMethod::Portal)
        );
        assert_eq!(r.region.as_deref(), Some("EU"));
        portal_form(&app, "withdraw", "marketing-email", None).await;
        assert_eq!(
            records(&app, &ada).pop().unwrap().action,
            ConsentAction::Withdrawn
        );
        // Nothing left to withdraw, and an unknown document: a clear page, nothing recorded.
        let twice = portal_form(&app, "withdraw", "marketing-email", None).await;
        assert_eq!(twice.status, 400, "{}", twice.body);
        assert!(twice.body.contains("Nothing to withdraw"));
        let unknown = portal_form(&app, "accept", "no-such-document", None).await;
        assert_eq!(unknown.status, 400, "{}", unknown.body);
        assert_eq!(records(&app, &ada).len(), 2);
    }
);

db_test!(
    the_portal_forms_refuse_a_missing_or_wrong_csrf_token_and_a_signed_out_browser,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "marketing-email", "marketing", false);
        let rp = client(&app, "app").await;
        authorize(&app, &app.authorization(&rp, &[], &[])).await;
        for (action, csrf) in [("accept", ""), ("accept", "forged"), ("withdraw", "")] {
            let refused = portal_form(&app, action, "marketing-email", Some(csrf)).await;
            assert_eq!(refused.status, 400, "{action} {csrf:?}: {}", refused.body);
            assert!(refused.body.contains("This form has expired"));
        }
        assert!(records(&app, &ada).is_empty());
        // A signed-out browser sees no consents: it is asked to sign in, and comes back afterwards.
        let stranger = browser();
        let page = Page::from(stranger.get(app.url("/account/consents")).send().await.unwrap()).await;
        assert!(!page.body.contains("Terms and consents"), "{}", page.body);
        assert_eq!(page.hidden("return_to"), "/account/consents");
    }
);

db_test!(
    records_are_exported_per_user_and_anonymised_on_erasure_but_never_changed,
    |app: TestApp| async move {
        let ada = app.create_user(ADA);
        document(&app, "terms", "terms", true);
        let rp = client(&app, "app").await;
        accepted_with_tokens(&app, &rp).await;
        let export = gatehouse::flows::consents::records_for_export(&app.provider, &ada.id).unwrap();
        let items = export.as_array().expect("an array");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["document_id"], "terms");
        assert_eq!(items[0]["action"], "accepted");
        assert_eq!(items[0]["method"], "authorization");
        assert_eq!(items[0]["user_id"], Value::String(ada.id.clone()));

        let store = app.provider.store.as_ref();
        assert_eq!(store.anonymise_consent_records(&ada.id, "erased-1").unwrap(), 1);
        assert!(records(&app, &ada).is_empty());
        let kept = store.list_consent_records(&Default::default(), 0, 10).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].user_id, "erased-1");
        assert_eq!(kept[0].version, 1, "the evidence is unchanged");

        // Append-only in the database itself.
        use diesel::connection::SimpleConnection;
        let pool = gatehouse::store::sql::connect(&app.db.url, 1).unwrap();
        let mut conn = pool.get().unwrap();
        for sql in [
            "DELETE FROM consent_records",
            "UPDATE consent_records SET version = 7",
            "UPDATE consent_records SET action = 'withdrawn'",
        ] {
            assert!(conn.batch_execute(sql).is_err(), "{sql} was allowed");
        }
        assert_eq!(
            store.list_consent_records(&Default::default(), 0, 10).unwrap(),
            kept
        );
    }
);
