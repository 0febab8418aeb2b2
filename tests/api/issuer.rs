//! DESIGN §4.11: the issuer and every URL come from configuration, never from `Host` or
//! `X-Forwarded-*` headers.

use crate::db_test;
use crate::helpers::*;

db_test!(
    spoofed_host_headers_never_change_the_issuer_or_the_response_iss,
    |app: TestApp| async move {
        app.create_client(app.client("web"));
        let spoofed = |r: reqwest::RequestBuilder| {
            r.header("Host", "evil.example.com")
                .header("X-Forwarded-Host", "evil.example.com")
                .header("X-Forwarded-Proto", "https")
        };

        let discovery: serde_json::Value =
            spoofed(app.http.get(app.url("/.well-known/openid-configuration")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        assert_eq!(discovery["issuer"], app.address);
        assert!(!discovery.to_string().contains("evil.example.com"));

        let error = spoofed(app.http.get(app.url(&format!(
            "/authorize?client_id=web&redirect_uri={REDIRECT_URI}&response_type=token&scope=openid&state=s"
        ))))
        .send()
        .await
        .unwrap();
        let page = Page::from(error).await;
        assert_eq!(page.status, 303);
        assert_eq!(page.query("iss").as_deref(), Some(app.address.as_str()));
        assert!(!page.location().contains("evil.example.com"));
    }
);
