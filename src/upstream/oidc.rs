//! `kind = oidc`: discovery (issuer checked, OIDC Discovery §4.3), the code flow with PKCE, state and
//! nonce, and the ID token verified by `openidconnect` against the upstream JWKS with a pinned set of
//! asymmetric algorithms (never `none`, never HMAC). An unknown `kid` refetches the JWKS once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, LoginHint,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};
use secrecy::ExposeSecret;

use super::presets::{self, TENANT_PLACEHOLDER};
use super::{
    Connection, Connectors, Finish, Preset, Start, UpstreamError, UpstreamIdentity, apple, json_bool,
    json_object, json_string,
};

/// DESIGN §4.6: the only algorithms an upstream ID token may use.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// A provider's discovery document and keys, as last fetched.
#[derive(Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
    /// Microsoft multi-tenant: the issuer holds `{tenantid}` and is checked per token.
    tenant_template: bool,
    /// RFC 9207 §3: the provider promises an `iss` parameter on every authorization response.
    iss_param_required: bool,
    fetched_at: Instant,
}

/// Per-node cache of discovery documents and JWKS, keyed by connection and issuer.
pub struct MetadataCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Arc<Discovered>>>,
}

impl MetadataCache {
    pub fn new(ttl_seconds: u64) -> Self {
        Self {
            ttl: Duration::from_secs(ttl_seconds),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &str) -> Option<Arc<Discovered>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|d| d.fetched_at.elapsed() < self.ttl)
            .cloned()
    }

    fn put(&self, key: String, value: Arc<Discovered>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(key, value);
    }
}

fn issuer(conn: &Connection) -> Result<&str, UpstreamError> {
    conn.spec
        .issuer
        .as_deref()
        .ok_or_else(|| UpstreamError::Config("an oidc connection needs an issuer".into()))
}

fn cache_key(conn: &Connection) -> String {
    format!(
        "{}|{}",
        conn.id(),
        conn.spec.issuer.as_deref().unwrap_or_default()
    )
}

fn discovered(c: &Connectors, conn: &Connection) -> Result<Arc<Discovered>, UpstreamError> {
    let key = cache_key(conn);
    if let Some(d) = c.oidc.get(&key) {
        return Ok(d);
    }
    let fresh = Arc::new(discover(c, conn)?);
    c.oidc.put(key, fresh.clone());
    Ok(fresh)
}

fn discover(c: &Connectors, conn: &Connection) -> Result<Discovered, UpstreamError> {
    let configured = issuer(conn)?;
    let http = c.outbound.client(conn.spec.allow_private_network);
    let url = format!(
        "{}/.well-known/openid-configuration",
        configured.trim_end_matches('/')
    );
    let response = http.get_json(&url, None)?;
    if !response.status().is_success() {
        return Err(UpstreamError::Invalid(format!(
            "discovery answered HTTP {}",
            response.status().as_u16()
        )));
    }
    let raw = json_object(response.body(), "discovery document")?;
    let metadata: CoreProviderMetadata = serde_json::from_value(raw.clone())
        .map_err(|e| UpstreamError::Invalid(format!("the discovery document is not valid: {e}")))?;
    let tenant_template = published_issuer(configured, metadata.issuer().as_str(), conn.spec.preset)?;
    let jwks = fetch_jwks(c, conn, &metadata)?;
    Ok(Discovered {
        metadata: metadata.set_jwks(jwks),
        tenant_template,
        iss_param_required: json_bool(&raw, "authorization_response_iss_parameter_supported")
            .unwrap_or(false),
        fetched_at: Instant::now(),
    })
}

fn fetch_jwks(
    c: &Connectors,
    conn: &Connection,
    metadata: &CoreProviderMetadata,
) -> Result<CoreJsonWebKeySet, UpstreamError> {
    let http = c.outbound.client(conn.spec.allow_private_network);
    let response = http.get_json(metadata.jwks_uri().as_str(), None)?;
    if !response.status().is_success() {
        return Err(UpstreamError::Invalid(format!(
            "the JWKS answered HTTP {}",
            response.status().as_u16()
        )));
    }
    serde_json::from_slice(response.body())
        .map_err(|_| UpstreamError::Invalid("the JWKS is not a valid key set".into()))
}

/// The same discovery with a freshly fetched JWKS (after an unknown `kid`: the provider rotated).
fn refetch_jwks(
    c: &Connectors,
    conn: &Connection,
    old: &Discovered,
) -> Result<Arc<Discovered>, UpstreamError> {
    let jwks = fetch_jwks(c, conn, &old.metadata)?;
    let fresh = Arc::new(Discovered {
        metadata: old.metadata.clone().set_jwks(jwks),
        fetched_at: Instant::now(),
        ..old.clone()
    });
    c.oidc.put(cache_key(conn), fresh.clone());
    Ok(fresh)
}

fn redirect_url(conn: &Connection) -> Result<RedirectUrl, UpstreamError> {
    RedirectUrl::new(conn.callback_url.clone())
        .map_err(|e| UpstreamError::Config(format!("callback URL: {e}")))
}

pub fn authorization_url(c: &Connectors, conn: &Connection, start: &Start) -> Result<String, UpstreamError> {
    let d = discovered(c, conn)?;
    let client = CoreClient::from_provider_metadata(
        d.metadata.clone(),
        ClientId::new(conn.spec.client_id.clone()),
        None,
    )
    .set_redirect_uri(redirect_url(conn)?);
    let (state, nonce) = (start.state.to_string(), start.nonce.to_string());
    let verifier = PkceCodeVerifier::new(start.pkce_verifier.to_string());
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        )
        .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
    for scope in conn.spec.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if conn.spec.scopes.is_empty() {
        request = request
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()));
    }
    if let Some(hint) = start.login_hint {
        request = request.set_login_hint(LoginHint::new(hint.to_string()));
    }
    if conn.spec.preset == Some(Preset::Apple) {
        // Apple sends the name only by form_post (and only when name/email scopes are asked).
        request = request.add_extra_param("response_mode", "form_post");
    }
    let (url, _, _) = request.url();
    Ok(url.to_string())
}

/// OIDC Discovery §4.3: the published issuer must be the configured one. The one exception: Microsoft's
/// multi-tenant endpoints publish a `{tenantid}` template (returns true: check each token's tenant).
fn published_issuer(
    configured: &str,
    published: &str,
    preset: Option<Preset>,
) -> Result<bool, UpstreamError> {
    if published == configured {
        return Ok(false);
    }
    let template = preset == Some(Preset::Microsoft)
        && presets::is_multi_tenant(configured)
        && published.contains(TENANT_PLACEHOLDER);
    if template {
        return Ok(true);
    }
    Err(UpstreamError::Invalid(format!(
        "the discovery document names the issuer {published}, not the configured {configured}"
    )))
}

/// Microsoft multi-tenant: a (verified) ID token's `iss` must be the template with its own `tid`.
fn check_tenant_issuer(template: &str, payload: &serde_json::Value) -> Result<(), UpstreamError> {
    let tid = json_string(payload, "tid")
        .ok_or_else(|| UpstreamError::Invalid("the ID token has no tenant id (tid)".into()))?;
    let valid_tid = tid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let expected = presets::tenant_issuer(template, &tid);
    if !valid_tid || json_string(payload, "iss").as_deref() != Some(expected.as_str()) {
        return Err(UpstreamError::Invalid(
            "the ID token's issuer does not match its tenant".into(),
        ));
    }
    Ok(())
}

/// RFC 9207 §2.4: an `iss` parameter must be the issuer; a provider that promises it must send it.
fn check_iss_param(d: &Discovered, iss: Option<&str>) -> Result<(), UpstreamError> {
    iss_param_ok(
        d.metadata.issuer().as_str(),
        d.tenant_template,
        d.iss_param_required,
        iss,
    )
}

fn iss_param_ok(
    expected: &str,
    tenant_template: bool,
    required: bool,
    iss: Option<&str>,
) -> Result<(), UpstreamError> {
    match iss {
        Some(iss) if tenant_template => {
            let (prefix, suffix) = expected.split_once(TENANT_PLACEHOLDER).unwrap_or((expected, ""));
            let ok =
                iss.starts_with(prefix) && iss.ends_with(suffix) && iss.len() > prefix.len() + suffix.len();
            ok.then_some(()).ok_or_else(|| mix_up(iss))
        }
        Some(iss) if iss != expected => Err(mix_up(iss)),
        None if required => Err(UpstreamError::Callback(
            "the response lacks the iss parameter the provider promises".into(),
        )),
        _ => Ok(()),
    }
}

fn mix_up(iss: &str) -> UpstreamError {
    UpstreamError::Callback(format!(
        "the response came from another issuer ({iss}): possible mix-up attack"
    ))
}

pub fn finish(c: &Connectors, conn: &Connection, f: &Finish) -> Result<UpstreamIdentity, UpstreamError> {
    let mut d = discovered(c, conn)?;
    check_iss_param(&d, f.iss)?;
    let secret = match &conn.spec.apple {
        Some(key) => apple::client_secret(key, &conn.spec.client_id, crate::flows::now())?,
        None => conn.client_secret().expose_secret().to_string(),
    };
    let mut client = CoreClient::from_provider_metadata(
        d.metadata.clone(),
        ClientId::new(conn.spec.client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect_url(conn)?);
    if conn.spec.apple.is_some() {
        client = client.set_auth_type(AuthType::RequestBody);
    }
    let http = c.outbound.client(conn.spec.allow_private_network);
    let tokens = client
        .exchange_code(AuthorizationCode::new(f.code.to_string()))
        .map_err(|e| UpstreamError::Config(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(f.pkce_verifier.to_string()))
        .request(&http)
        .map_err(token_error)?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| UpstreamError::Invalid("the token response has no ID token".into()))?;
    let nonce = Nonce::new(f.nonce.to_string());
    let verify = |d: &Discovered| {
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(conn.spec.client_id.clone()),
            d.metadata.issuer().clone(),
            d.metadata.jwks().clone(),
        )
        .set_allowed_algs(ALLOWED_ALGS)
        .require_issuer_match(!d.tenant_template);
        id_token.claims(&verifier, &nonce).map(|_| ())
    };
    let mut verified = verify(&d);
    if let Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) =
        verified
    {
        d = refetch_jwks(c, conn, &d)?;
        verified = verify(&d);
    }
    verified.map_err(|e| UpstreamError::Invalid(format!("the ID token is not valid: {e}")))?;
    // Verified above; the payload is read as JSON for the claims `openidconnect` does not model.
    let payload = jwt_payload(&id_token.to_string())?;
    if d.tenant_template {
        check_tenant_issuer(d.metadata.issuer().as_str(), &payload)?;
    }
    let mut identity = identity_from(&payload)?;
    if let Some(url) = d.metadata.userinfo_endpoint() {
        merge_userinfo(
            c,
            conn,
            url.as_str(),
            tokens.access_token().secret(),
            &mut identity,
        )?;
    }
    if identity.name.is_none() {
        identity.name = f.apple_user.and_then(apple::name_from_user_field);
    }
    Ok(identity)
}

pub(super) fn token_error<RE, T>(e: RequestTokenError<RE, T>) -> UpstreamError
where
    RE: std::error::Error + Into<UpstreamError> + 'static,
    T: openidconnect::ErrorResponse + 'static,
{
    match e {
        RequestTokenError::ServerResponse(r) => {
            let code = serde_json::to_value(&r)
                .ok()
                .and_then(|v| json_string(&v, "error"))
                .unwrap_or_else(|| "an error".into());
            UpstreamError::Invalid(format!("the token endpoint answered {code}"))
        }
        RequestTokenError::Request(inner) => inner.into(),
        RequestTokenError::Parse(_, _) => UpstreamError::Invalid("the token response is not valid".into()),
        RequestTokenError::Other(what) => UpstreamError::Invalid(format!("the token response: {what}")),
    }
}

fn jwt_payload(jwt: &str) -> Result<serde_json::Value, UpstreamError> {
    let bad = || UpstreamError::Invalid("the ID token is malformed".into());
    let payload = jwt.split('.').nth(1).ok_or_else(bad)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
    json_object(&bytes, "ID token payload")
}

fn identity_from(claims: &serde_json::Value) -> Result<UpstreamIdentity, UpstreamError> {
    let subject = json_string(claims, "sub")
        .ok_or_else(|| UpstreamError::Invalid("the ID token has no subject".into()))?;
    let amr = claims
        .get("amr")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Ok(UpstreamIdentity {
        subject,
        email: json_string(claims, "email"),
        email_verified: json_bool(claims, "email_verified").unwrap_or(false),
        name: json_string(claims, "name"),
        given_name: json_string(claims, "given_name"),
        family_name: json_string(claims, "family_name"),
        picture: json_string(claims, "picture"),
        locale: json_string(claims, "locale"),
        amr,
        acr: json_string(claims, "acr"),
    })
}

/// OIDC Core §5.3.2: the userinfo `sub` MUST equal the ID token's, or the response is not used.
fn merge_userinfo(
    c: &Connectors,
    conn: &Connection,
    url: &str,
    access_token: &str,
    identity: &mut UpstreamIdentity,
) -> Result<(), UpstreamError> {
    let http = c.outbound.client(conn.spec.allow_private_network);
    let response = http.get_json(url, Some(access_token))?;
    if !response.status().is_success() {
        return Err(UpstreamError::Invalid(format!(
            "userinfo answered HTTP {}",
            response.status().as_u16()
        )));
    }
    let info = json_object(response.body(), "userinfo response")?;
    if json_string(&info, "sub").as_deref() != Some(identity.subject.as_str()) {
        return Err(UpstreamError::Invalid(
            "the userinfo subject differs from the ID token's".into(),
        ));
    }
    if identity.email.is_none() {
        identity.email = json_string(&info, "email");
        identity.email_verified = json_bool(&info, "email_verified").unwrap_or(false);
    }
    if identity.name.is_none() {
        identity.name = json_string(&info, "name");
    }
    if identity.picture.is_none() {
        identity.picture = json_string(&info, "picture");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

    #[test]
    fn a_discovery_issuer_must_be_the_configured_one() {
        assert_eq!(
            published_issuer("https://a.example", "https://a.example", None).ok(),
            Some(false)
        );
        assert!(published_issuer("https://a.example", "https://evil.example", None).is_err());
        assert!(published_issuer("https://a.example", "https://a.example/", None).is_err());
    }

    #[test]
    fn only_microsofts_multi_tenant_endpoints_may_publish_the_tenant_template() {
        let common = "https://login.microsoftonline.com/common/v2.0";
        assert_eq!(
            published_issuer(common, TEMPLATE, Some(Preset::Microsoft)).ok(),
            Some(true)
        );
        assert!(
            published_issuer(common, TEMPLATE, None).is_err(),
            "not without the preset"
        );
        let one_tenant = "https://login.microsoftonline.com/0000-1111/v2.0";
        assert!(published_issuer(one_tenant, TEMPLATE, Some(Preset::Microsoft)).is_err());
    }

    #[test]
    fn a_multi_tenant_token_must_carry_its_own_tenants_issuer() {
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let good = json!({ "tid": tid, "iss": format!("https://login.microsoftonline.com/{tid}/v2.0") });
        assert!(check_tenant_issuer(TEMPLATE, &good).is_ok());
        let other = json!({ "tid": tid, "iss": "https://login.microsoftonline.com/another/v2.0" });
        assert!(check_tenant_issuer(TEMPLATE, &other).is_err());
        let missing = json!({ "iss": format!("https://login.microsoftonline.com/{tid}/v2.0") });
        assert!(check_tenant_issuer(TEMPLATE, &missing).is_err());
        let injected =
            json!({ "tid": "x/../evil", "iss": "https://login.microsoftonline.com/x/../evil/v2.0" });
        assert!(check_tenant_issuer(TEMPLATE, &injected).is_err());
    }

    #[test]
    fn the_iss_response_parameter_must_name_the_issuer_and_is_required_when_promised() {
        let issuer = "https://a.example";
        assert!(iss_param_ok(issuer, false, false, None).is_ok());
        assert!(iss_param_ok(issuer, false, true, None).is_err());
        assert!(iss_param_ok(issuer, false, true, Some(issuer)).is_ok());
        assert!(matches!(
            iss_param_ok(issuer, false, false, Some("https://b.example")),
            Err(UpstreamError::Callback(_))
        ));
        assert!(
            iss_param_ok(
                TEMPLATE,
                true,
                false,
                Some("https://login.microsoftonline.com/t1/v2.0")
            )
            .is_ok()
        );
        assert!(iss_param_ok(TEMPLATE, true, false, Some("https://evil.example/t1/v2.0")).is_err());
    }
}
