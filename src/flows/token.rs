//! The token endpoint (RFC 6749 §3.2): authenticate the client, then one function per grant. A code or
//! refresh token is consumed and its successors and `token.issued` audit record stored in one
//! transaction; signing happens after. Tokens never leave before their issuance is on the record.

use serde::Serialize;
use serde_json::Value;
use tracing::instrument;

use super::{FlowError, Provider, now};
use crate::audit::{AuditEvent, Origin, Outcome, kind};
use crate::crypto::{random_id, random_token, sha256_b64};
use crate::keys::Alg;
use crate::protocol::claims::{self, AccessTokenInput, Authentication, IdTokenInput};
use crate::protocol::client_auth::ClientCredentials;
use crate::protocol::params::Params;
use crate::protocol::token_request::TokenRequest;
use crate::protocol::{ErrorCode, OAuthError, pkce, scope};
use crate::store::{Client, IssueRecord, Redemption, RefreshToken};

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Authenticates the client named by the request (header or body).
pub fn authenticate_client(
    p: &Provider,
    authorization: Option<&str>,
    params: &Params,
) -> Result<Client, FlowError> {
    let credentials = ClientCredentials::extract(authorization, params)?;
    let client = p.store.find_client(credentials.client_id())?;
    credentials.authenticate(client.as_ref())?;
    Ok(client.expect("authenticated clients exist"))
}

#[instrument(skip_all, fields(grant_type = params.get("grant_type").unwrap_or("-"), client_id))]
pub fn exchange(
    p: &Provider,
    authorization: Option<&str>,
    params: &Params,
    origin: &Origin,
) -> Result<TokenResponse, FlowError> {
    let client = authenticate_client(p, authorization, params)?;
    tracing::Span::current().record("client_id", client.id.as_str());
    let request = TokenRequest::parse(params)?;
    if !client.allows_grant(request.grant_type()) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use this grant type",
        )
        .into());
    }
    let result = match request {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => authorization_code(
            p,
            &client,
            &code,
            redirect_uri.as_deref(),
            code_verifier.as_deref(),
            origin,
        ),
        TokenRequest::RefreshToken { refresh_token, scope } => {
            refresh(p, &client, &refresh_token, scope, origin)
        }
        TokenRequest::ClientCredentials { scope } => client_credentials(p, &client, scope, origin),
    };
    if let Err(FlowError::OAuth(e)) = &result {
        tracing::info!(error = %e.code, reason = %e.description, "token request refused");
    }
    result
}

/// The `token.issued` record of a response about to leave.
fn issued_event(
    client: &Client,
    origin: &Origin,
    grant_type: &str,
    subject: &str,
    scopes: &[String],
) -> AuditEvent {
    // Only user grants of clients allowed to refresh get a refresh token (`issue_record`).
    let refresh = grant_type != "client_credentials" && client.allows_grant("refresh_token");
    AuditEvent::new(kind::TOKEN_ISSUED, Outcome::Success, now())
        .origin(origin)
        .actor(format!("client:{}", client.id))
        .subject(subject)
        .client(&client.id)
        .detail(serde_json::json!({
            "grant_type": grant_type,
            "scope": scope::join(scopes),
            "refresh_token": refresh,
            // `respond` signs an ID token exactly for `openid` requests.
            "id_token": scope::contains(scopes, "openid"),
        }))
}

/// A detected replay: the grant has already been revoked by the store.
fn reuse_detected(p: &Provider, event: &str, client: &Client, origin: &Origin) -> Result<(), FlowError> {
    tracing::warn!(client_id = %client.id, event, "replay detected: the grant was revoked");
    p.auditor.record(
        AuditEvent::new(event, Outcome::Failure, now())
            .origin(origin)
            .actor(format!("client:{}", client.id))
            .client(&client.id)
            .detail(serde_json::json!({ "action": "grant_revoked" })),
    )?;
    Ok(())
}

/// RFC 6749 §4.1.3 + RFC 7636 §4.6.
fn authorization_code(
    p: &Provider,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    origin: &Origin,
) -> Result<TokenResponse, FlowError> {
    let at = now();
    let mut refusal = None;
    let mut issued = None;
    let outcome = p.store.redeem_code(&sha256_b64(code), at, &mut |grant| {
        let check = if grant.client_id != client.id {
            Err("the code was issued to another client")
        } else if redirect_uri != Some(grant.redirect_uri.as_str()) {
            Err("redirect_uri does not match the authorization request")
        } else {
            match (&grant.code_challenge, verifier) {
                (Some(challenge), Some(v)) if pkce::verify(challenge, v) => Ok(()),
                (Some(_), _) => Err("code_verifier does not match the code_challenge"),
                (None, Some(_)) => Err("code_verifier sent but no code_challenge was"),
                (None, None) => Ok(()),
            }
        };
        if let Err(reason) = check {
            refusal = Some(reason);
            return None;
        }
        let facts = GrantFacts {
            grant_id: &grant.grant_id,
            user_id: &grant.user_id,
            scope: &grant.scope,
            auth: auth_of(grant.auth_time, &grant.acr, &grant.amr, &grant.idp),
            organization_id: grant.organization_id.as_deref(),
            id_token_claims: &grant.id_token_claims,
        };
        let scopes = scope::parse(&grant.scope);
        let audit = issued_event(client, origin, "authorization_code", &grant.user_id, &scopes);
        let (record, refresh) = issue_record(p, client, &facts, at, None, audit);
        issued = Some((record.access_jti.clone(), refresh, record.audit.clone()));
        Some(record)
    })?;
    let grant = match outcome {
        Redemption::Issued(grant) => grant,
        Redemption::Rejected(_) => {
            return Err(OAuthError::invalid_grant(refusal.unwrap_or("invalid code")).into());
        }
        Redemption::Reused => {
            reuse_detected(p, kind::CODE_REUSE, client, origin)?;
            return Err(OAuthError::invalid_grant("the code has already been used").into());
        }
        Redemption::Invalid => return Err(OAuthError::invalid_grant("the code is invalid or expired").into()),
    };
    let (jti, refresh, event) = issued.expect("issued with the grant");
    crate::audit::log(&event);
    let facts = GrantFacts {
        grant_id: &grant.grant_id,
        user_id: &grant.user_id,
        scope: &grant.scope,
        auth: auth_of(grant.auth_time, &grant.acr, &grant.amr, &grant.idp),
        organization_id: grant.organization_id.as_deref(),
        id_token_claims: &grant.id_token_claims,
    };
    let scopes = scope::parse(&grant.scope);
    respond(
        p,
        client,
        &facts,
        &scopes,
        grant.nonce.as_deref(),
        &jti,
        refresh,
        at,
    )
}

/// RFC 6749 §6, with rotation: the presented token is consumed and a successor issued.
fn refresh(
    p: &Provider,
    client: &Client,
    token: &str,
    requested: Option<Vec<String>>,
    origin: &Origin,
) -> Result<TokenResponse, FlowError> {
    let at = now();
    let mut refusal = None;
    let mut issued = None;
    let outcome = p
        .store
        .rotate_refresh_token(&sha256_b64(token), at, &mut |current: &RefreshToken| {
            if current.client_id != client.id {
                refusal = Some(OAuthError::invalid_grant(
                    "the refresh token was issued to another client",
                ));
                return None;
            }
            let granted = scope::parse(&current.scope);
            let scopes = requested.clone().unwrap_or_else(|| granted.clone());
            // RFC 6749 §6: the requested scope "MUST NOT include any scope not originally granted".
            if !scope::is_subset(&scopes, &granted) {
                refusal = Some(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "scope exceeds the original grant",
                ));
                return None;
            }
            let facts = GrantFacts {
                grant_id: &current.grant_id,
                user_id: &current.user_id,
                scope: &current.scope,
                auth: auth_of(current.auth_time, &current.acr, &current.amr, &current.idp),
                organization_id: current.organization_id.as_deref(),
                id_token_claims: &current.id_token_claims,
            };
            let audit = issued_event(client, origin, "refresh_token", &current.user_id, &scopes);
            let (record, refresh) =
                issue_record(p, client, &facts, at, Some(current.grant_expires_at), audit);
            issued = Some((record.access_jti.clone(), refresh, scopes, record.audit.clone()));
            Some(record)
        })?;
    let current = match outcome {
        Redemption::Issued(current) => current,
        Redemption::Rejected(_) => {
            return Err(refusal
                .unwrap_or_else(|| OAuthError::invalid_grant("invalid refresh token"))
                .into());
        }
        Redemption::Reused => {
            reuse_detected(p, kind::REFRESH_REUSE, client, origin)?;
            return Err(OAuthError::invalid_grant("the refresh token has already been used").into());
        }
        Redemption::Invalid => {
            return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked").into());
        }
    };
    let (jti, refresh, scopes, event) = issued.expect("issued with the grant");
    crate::audit::log(&event);
    let facts = GrantFacts {
        grant_id: &current.grant_id,
        user_id: &current.user_id,
        scope: &current.scope,
        auth: auth_of(current.auth_time, &current.acr, &current.amr, &current.idp),
        organization_id: current.organization_id.as_deref(),
        id_token_claims: &current.id_token_claims,
    };
    respond(p, client, &facts, &scopes, None, &jti, refresh, at)
}

/// RFC 6749 §4.4: a confidential client acting for itself. No user, so no ID token or user scopes.
/// Nothing changes state here, so the audit record goes through the auditor's group commit.
fn client_credentials(
    p: &Provider,
    client: &Client,
    requested: Option<Vec<String>>,
    origin: &Origin,
) -> Result<TokenResponse, FlowError> {
    // Every standard scope is about a user, so none of them can be granted here.
    let user_scopes = scope::USER_SCOPES;
    let allowed: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| !user_scopes.contains(&s.as_str()))
        .cloned()
        .collect();
    let scopes = requested.unwrap_or_else(|| allowed.clone());
    if !scope::is_subset(&scopes, &allowed) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "a requested scope is not allowed for client credentials",
        )
        .into());
    }
    let at = now();
    let ttl = p.settings.tokens.access_token_ttl;
    let jti = random_id();
    let claims = claims::access_token_claims(AccessTokenInput {
        issuer: p.issuer(),
        client_id: &client.id,
        subject: &client.id,
        scopes: &scopes,
        authentication: None,
        jti: &jti,
        now: at,
        ttl: ttl as i64,
    });
    let access_token = p.keys.ring().sign_jwt(Alg::ES256, "at+jwt", &claims)?;
    p.auditor.record(issued_event(
        client,
        origin,
        "client_credentials",
        &client.id,
        &scopes,
    ))?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: scope::join(&scopes),
        id_token: None,
        refresh_token: None,
    })
}

fn auth_of(auth_time: i64, acr: &Option<String>, amr: &str, idp: &Option<String>) -> Authentication {
    Authentication {
        auth_time,
        acr: acr.clone(),
        amr: amr.split_whitespace().map(str::to_string).collect(),
        idp: idp.clone(),
    }
}

/// What a code or refresh token carries into the tokens issued from it.
struct GrantFacts<'a> {
    grant_id: &'a str,
    user_id: &'a str,
    scope: &'a str,
    auth: Authentication,
    /// The organization the grant was made for: refresh keeps it.
    organization_id: Option<&'a str>,
    /// Claims asked for by name in the ID token (`claims` parameter).
    id_token_claims: &'a [String],
}

/// What a redemption records: the access token's `jti` (so revoking the grant can deny-list it) and,
/// when the client may refresh, a new refresh token (returned in clear, stored hashed).
fn issue_record(
    p: &Provider,
    client: &Client,
    g: &GrantFacts,
    at: i64,
    grant_expires_at: Option<i64>,
    audit: AuditEvent,
) -> (IssueRecord, Option<String>) {
    let auth = &g.auth;
    let t = &p.settings.tokens;
    let refresh = client.allows_grant("refresh_token").then(random_token);
    let grant_expires_at = grant_expires_at.unwrap_or(at + t.refresh_token_absolute_ttl as i64);
    let record = IssueRecord {
        audit,
        access_jti: random_id(),
        access_expires_at: at + t.access_token_ttl as i64,
        refresh: refresh.as_ref().map(|token| RefreshToken {
            token_hash: sha256_b64(token),
            grant_id: g.grant_id.to_string(),
            client_id: client.id.clone(),
            user_id: g.user_id.to_string(),
            scope: g.scope.to_string(),
            auth_time: auth.auth_time,
            acr: auth.acr.clone(),
            amr: auth.amr.join(" "),
            idp: auth.idp.clone(),
            created_at: at,
            expires_at: (at + t.refresh_token_idle_ttl as i64).min(grant_expires_at),
            grant_expires_at,
            used_at: None,
            revoked_at: None,
            organization_id: g.organization_id.map(str::to_string),
            id_token_claims: g.id_token_claims.to_vec(),
        }),
    };
    (record, refresh)
}

/// Signs the access token (ES256, RFC 9068) and, for `openid` requests, the ID token (client's alg).
#[expect(clippy::too_many_arguments)]
fn respond(
    p: &Provider,
    client: &Client,
    g: &GrantFacts,
    scopes: &[String],
    nonce: Option<&str>,
    jti: &str,
    refresh_token: Option<String>,
    at: i64,
) -> Result<TokenResponse, FlowError> {
    let (user_id, auth) = (g.user_id, &g.auth);
    let t = &p.settings.tokens;
    let ring = p.keys.ring();
    // Read now, not at authorization: a role change shows at the next refresh.
    let org_claims = super::organizations::claims_for(p, user_id, g.organization_id, scopes)?;
    let mut access_claims = claims::access_token_claims(AccessTokenInput {
        issuer: p.issuer(),
        client_id: &client.id,
        subject: user_id,
        scopes,
        authentication: Some(auth),
        jti,
        now: at,
        ttl: t.access_token_ttl as i64,
    });
    if let Some(map) = access_claims.as_object_mut() {
        map.extend(org_claims.clone());
    }
    let access_token = ring.sign_jwt(Alg::ES256, "at+jwt", &access_claims)?;
    let id_token = if scope::contains(scopes, "openid") {
        let user = p
            .store
            .find_user(user_id)?
            .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
        let alg = Alg::parse(&client.id_token_alg).unwrap_or(Alg::RS256);
        // All scope claims with `claims_in_id_token`; otherwise those the client asked for by name
        // (the `claims` parameter, OIDC Core §5.5), still only within the granted scopes.
        let released = claims::user_claims(&user, scopes, &p.settings.scopes);
        let mut user_claims = if t.claims_in_id_token {
            released
        } else {
            claims::select(&released, g.id_token_claims)
        };
        user_claims.extend(org_claims);
        user_claims.extend(super::consents::claims_for(p, user_id, scopes)?);
        user_claims.insert(claims::IDENTITY_LEVEL.into(), user.level.as_str().into());
        let id_claims: Value = claims::id_token_claims(IdTokenInput {
            issuer: p.issuer(),
            client_id: &client.id,
            user_claims,
            nonce,
            authentication: auth,
            access_token: Some((&access_token, alg)),
            now: at,
            ttl: t.id_token_ttl as i64,
        });
        Some(ring.sign_jwt(alg, "JWT", &id_claims)?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: t.access_token_ttl,
        scope: scope::join(scopes),
        id_token,
        refresh_token,
    })
}
