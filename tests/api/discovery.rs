//! Discovery (OIDC Discovery 1.0, RFC 8414), the JWK Set (RFC 7517), health checks and unknown paths.
//! The wire formats are snapshotted so a change to them is a deliberate, reviewed change.

use serde_json::Value;

use crate::db_test;
use crate::helpers::*;

/// Replaces the port-dependent issuer in every string of `value`, so the snapshot is stable.
fn redact_issuer(value: &mut Value, issuer: &str) {
    match value {
        Value::String(s) => *s = s.replace(issuer, "[issuer]"),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_issuer(v, issuer)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_issuer(v, issuer)),
        _ => {}
    }
}

async fn get_json(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, Value) {
    let response = app.http.get(app.url(path)).send().await.expect("request sent");
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    (headers, response.json().await.expect("a JSON body"))
}

db_test!(
    the_discovery_document_matches_the_snapshot_and_the_issuer,
    |app: TestApp| async move {
        let (headers, mut document) = get_json(&app, "/.well-known/openid-configuration").await;

        assert_eq!(
            document["issuer"],
            Value::String(app.address.clone()),
            "issuer must equal the configured URL exactly"
        );
        assert_eq!(document["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            document["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            document["authorization_response_iss_parameter_supported"],
            Value::Bool(true)
        );
        assert_eq!(document["jwks_uri"], Value::String(app.url("/jwks.json")));
        assert!(
            headers
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        redact_issuer(&mut document, &app.address);
        insta::assert_json_snapshot!("discovery_document", document);
    }
);

db_test!(
    the_discovery_document_answers_304_to_a_matching_if_none_match,
    |app: TestApp| async move {
        let (headers, _) = get_json(&app, "/.well-known/openid-configuration").await;
        let etag = headers
            .get("etag")
            .expect("an ETag")
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            headers
                .get("cache-control")
                .is_some_and(|v| v.to_str().unwrap().contains("max-age"))
        );

        let again = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();

        assert_eq!(again.status(), 304);
        assert!(again.text().await.unwrap().is_empty());
    }
);

db_test!(
    the_jwks_publishes_one_public_key_per_algorithm_and_no_private_members,
    |app: TestApp| async move {
        let (headers, jwks) = get_json(&app, "/jwks.json").await;

        let keys = jwks["keys"].as_array().expect("a `keys` array");
        let count = |kty: &str, alg: &str, crv: Option<&str>| {
            keys.iter()
                .filter(|k| k["kty"] == kty && k["alg"] == alg && k.get("crv").and_then(Value::as_str) == crv)
                .count()
        };
        assert_eq!(keys.len(), 3, "{jwks}");
        assert_eq!(count("RSA", "RS256", None), 1, "{jwks}");
        assert_eq!(count("EC", "ES256", Some("P-256")), 1, "{jwks}");
        assert_eq!(count("OKP", "EdDSA", Some("Ed25519")), 1, "{jwks}");
        for key in keys {
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(
                    key.get(private).is_none(),
                    "private member `{private}` published: {key}"
                );
            }
            assert_eq!(key["use"], "sig");
            assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
        }
        let kids: std::collections::HashSet<_> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids.len(), 3, "kids are unique");
        assert!(
            headers
                .get("cache-control")
                .is_some_and(|v| v.to_str().unwrap().contains("max-age")),
            "{headers:?}"
        );

        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| a["alg"].as_str().cmp(&b["alg"].as_str()));
        insta::assert_json_snapshot!("jwks_shape", serde_json::json!({ "keys": sorted }), {
            ".keys[].kid" => "[kid]",
            ".keys[].n" => "[n]",
            ".keys[].e" => "[e]",
            ".keys[].x" => "[x]",
            ".keys[].y" => "[y]",
        });
    }
);

db_test!(
    the_jwks_answers_304_to_a_matching_if_none_match_and_200_otherwise,
    |app: TestApp| async move {
        let (headers, _) = get_json(&app, "/jwks.json").await;
        let etag = headers
            .get("etag")
            .expect("an ETag")
            .to_str()
            .unwrap()
            .to_string();

        let same = app
            .http
            .get(app.url("/jwks.json"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        let other = app
            .http
            .get(app.url("/jwks.json"))
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();

        assert_eq!(same.status(), 304);
        assert_eq!(other.status(), 200);
    }
);

db_test!(
    the_health_and_readiness_checks_answer_200,
    |app: TestApp| async move {
        let health = app.http.get(app.url("/healthz")).send().await.unwrap();
        let ready = app.http.get(app.url("/readyz")).send().await.unwrap();

        assert_eq!(health.status(), 200);
        assert_eq!(ready.status(), 200);
    }
);

db_test!(an_unknown_path_answers_404_never_500, |app: TestApp| async move {
    for path in [
        "/nope",
        "/.well-known/nope",
        "/jwks.json/extra",
        "/static/../Cargo.toml",
        "/authorize/x",
    ] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let post = app
        .http
        .post(app.url("/does-not-exist"))
        .form(&[("a", "b")])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 404);
});
