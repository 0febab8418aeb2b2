//! Federation and MFA (issue 8): the upstream's `amr`/`acr` are recorded; a connection can trust an
//! upstream multi-factor sign-in (`mfa = "trust"`), ignore it (the default), or always require a local
//! second factor (`mfa = "require_local"`). The upstream is a second real Gatehouse whose user has an
//! authenticator app, so its ID token really says `amr: [pwd, otp, mfa]`.

use gatehouse::audit::Origin;
use gatehouse::flows::factors::{self, Confirmed};
use gatehouse::protocol::acr::ACR_MFA;
use gatehouse::protocol::totp;
use gatehouse::upstream::{UpstreamMfa, UpstreamSpec};

use crate::federation::{Federation, UP_EMAIL, exchange};
use crate::federation_test;
use crate::helpers::*;

/// Gives the upstream's user an authenticator app; returns its secret.
fn enrol_upstream_totp(fed: &Federation) -> Vec<u8> {
    let p = &fed.up.provider;
    let user = p.store.find_user_by_email(UP_EMAIL).unwrap().unwrap();
    let enrolment = factors::start_totp(p, &user).unwrap();
    let encoded = enrolment.secret.replace(' ', "");
    let secret = decode(&encoded);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let first = totp::code_for_step(&secret, totp::step_at(now) - 1);
    match factors::confirm_totp(p, &user, &enrolment.id, &first, &Origin::default()).unwrap() {
        Confirmed::Enrolled { .. } => secret,
        Confirmed::Wrong { .. } => panic!("the enrolment code was refused"),
    }
}

fn decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.chars() {
        buffer = (buffer << 5) | ALPHABET.find(c).expect("base32") as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// From the downstream's redirect to the upstream: password and authenticator-app code at the
/// upstream, then its answer to the downstream callback. Returns the callback's response.
async fn through_upstream_with_totp(fed: &Federation, to_upstream: &Page, secret: &[u8]) -> Page {
    let up = fed.up.provider.settings.issuer().to_string();
    let authorize = fed.get(to_upstream.location()).await;
    let login = fed.get(&format!("{up}{}", authorize.location())).await;
    let after_password = fed
        .post(
            &format!("{up}/login"),
            &[
                ("req", &login.hidden("req")),
                ("csrf", &login.hidden("csrf")),
                ("email", UP_EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert!(
        after_password.location().starts_with("/login/mfa?req="),
        "the upstream asks for its second factor: {}",
        after_password.location()
    );
    let page = fed.get(&format!("{up}{}", after_password.location())).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let back = fed
        .post(
            &format!("{up}/login/mfa"),
            &[
                ("req", &page.hidden("req")),
                ("csrf", &page.hidden("csrf")),
                ("method", "totp"),
                ("code", &totp::code_for_step(secret, totp::step_at(now) + 1)),
            ],
        )
        .await;
    assert!(
        back.location()
            .starts_with(&fed.down.url("/upstream/up/callback")),
        "{} {}",
        back.location(),
        back.body
    );
    fed.get(back.location()).await
}

fn amr(claims: &serde_json::Value) -> Vec<&str> {
    claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

federation_test!(
    a_trusted_connection_counts_the_upstream_multi_factor_sign_in,
    |s: &mut UpstreamSpec| s.mfa = UpstreamMfa::Trust,
    |fed: Federation| async move {
        let secret = enrol_upstream_totp(&fed);
        let rp = fed.down.rp("app", Some(SECRET)).await;
        let auth = fed.down.authorization(
            &rp,
            &["openid", "email"],
            &[("connection", "up"), ("acr_values", ACR_MFA)],
        );
        let start = fed.get(&auth.url).await;
        let back = through_upstream_with_totp(&fed, &start, &secret).await;
        let at_client = fed.finish_at_client(back).await;
        let claims = exchange(&rp, at_client, auth, &fed.down).await;
        assert_eq!(claims["acr"], ACR_MFA, "{claims}");
        assert_eq!(amr(&claims), vec!["fed", "mfa"]);
        assert_eq!(claims["idp"], "up");
        // The upstream's own methods are in the audit record of the sign-in.
        let records = fed.down.provider.store.audit_page(0, 10_000).unwrap();
        let sign_in = records
            .iter()
            .rev()
            .find(|r| r.event.event == "sign_in" && r.event.detail["connection"] == "up")
            .expect("the sign-in is audited");
        let upstream_amr = sign_in.event.detail["upstream_amr"].as_array().unwrap();
        assert!(
            upstream_amr.iter().any(|m| m == "otp"),
            "{}",
            sign_in.event.detail
        );
        assert_eq!(sign_in.event.detail["upstream_acr"], ACR_MFA);
    }
);

federation_test!(
    by_default_an_upstream_multi_factor_sign_in_is_one_factor_here,
    |_: &mut UpstreamSpec| {},
    |fed: Federation| async move {
        let secret = enrol_upstream_totp(&fed);
        let rp = fed.down.rp("app", Some(SECRET)).await;
        let auth = fed.down.authorization(
            &rp,
            &["openid", "email"],
            &[("connection", "up"), ("acr_values", ACR_MFA)],
        );
        let start = fed.get(&auth.url).await;
        let back = through_upstream_with_totp(&fed, &start, &secret).await;
        // Not trusted: the downstream steps up with a factor of its own.
        assert!(
            back.location().starts_with("/login/mfa?req="),
            "{}",
            back.location()
        );
    }
);

federation_test!(
    a_connection_can_require_a_local_second_factor_after_every_upstream_sign_in,
    |s: &mut UpstreamSpec| s.mfa = UpstreamMfa::RequireLocal,
    |fed: Federation| async move {
        let rp = fed.down.rp("app", Some(SECRET)).await;
        let auth = fed
            .down
            .authorization(&rp, &["openid", "email"], &[("connection", "up")]);
        let start = fed.get(&auth.url).await;
        let back = fed.through_upstream(&start, UP_EMAIL).await;
        assert!(
            back.location().starts_with("/login/mfa?req="),
            "{}",
            back.location()
        );
        let page = fed.get(&fed.down.url(back.location())).await;
        assert!(page.body.contains("Set up a second step"), "{}", page.body);
        // prompt=none cannot get past it.
        let silent = fed
            .down
            .authorization(&rp, &["openid", "email"], &[("prompt", "none")]);
        let answer = fed.get(&silent.url).await;
        assert_eq!(
            answer.query("error").as_deref(),
            Some("interaction_required"),
            "{}",
            answer.location()
        );
    }
);
