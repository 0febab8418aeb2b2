//! `/admin/v1`: the admin REST API. One table (`ENDPOINTS`) drives both the routes and the OpenAPI
//! document, so they cannot drift: every entry's `Op` is registered by an exhaustive match. Errors are
//! RFC 9457 problem documents.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{authorization_header, blocking};
use crate::flows::admin_api::{self as api, ApiError, Caller};
use crate::flows::{FlowError, Provider};
use crate::store::StoreError;

/// The largest JSON body the API reads; more is 413.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    ListOrganizations,
    CreateOrganization,
    GetOrganization,
    DeleteOrganization,
    ListRoles,
    PutRole,
    ListMembers,
    PutMember,
    DeleteMember,
    CreateInvitation,
    ListUsers,
    CreateUser,
    GetUser,
    UpdateUser,
    DeleteUser,
    ListSessions,
    RevokeSessions,
    RevokeSession,
    ListClients,
    CreateClient,
    GetClient,
    DeleteClient,
    GetClientPolicy,
    UpdateClientPolicy,
    GetClientMfa,
    ResetFactors,
    UpdateClientMfa,
    GetOrganizationMfa,
    UpdateOrganizationMfa,
    AuditLog,
    AddDomain,
    RemoveDomain,
    ListUpstreams,
    CreateUpstream,
    GetUpstream,
    DeleteUpstream,
    ListConsentDocuments,
    CreateConsentDocument,
    GetConsentDocument,
    PublishConsentVersion,
    ListConsentRecords,
    ExportUser,
    EraseUser,
    ListPreferenceTopics,
    CreatePreferenceTopic,
    DeletePreferenceTopic,
}

pub struct Endpoint {
    pub op: Op,
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// JSON Schema of the request body, if any.
    pub body: Option<fn() -> Value>,
    pub success: u16,
    /// Takes `cursor` and `limit` and answers `{ items, next_cursor }`.
    pub paginated: bool,
}

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        op: Op::ListOrganizations,
        method: "get",
        path: "/organizations",
        summary: "List the organizations the caller administers (paginated)",
        body: None,
        success: 200,
        paginated: true,
    },
    Endpoint {
        op: Op::CreateOrganization,
        method: "post",
        path: "/organizations",
        summary: "Create an organization (operators only)",
        body: Some(organization_schema),
        success: 201,
        paginated: false,
    },
    Endpoint {
        op: Op::GetOrganization,
        method: "get",
        path: "/organizations/{org}",
        summary: "One organization, by id or slug",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::DeleteOrganization,
        method: "delete",
        path: "/organizations/{org}",
        summary: "Delete an organization and revoke its grants (operators only)",
        body: None,
        success: 204,
        paginated: false,
    },
    Endpoint {
        op: Op::ListRoles,
        method: "get",
        path: "/organizations/{org}/roles",
        summary: "The organization's roles and their permissions",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::PutRole,
        method: "put",
        path: "/organizations/{org}/roles/{role}",
        summary: "Create or replace a role",
        body: Some(role_schema),
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::ListMembers,
        method: "get",
        path: "/organizations/{org}/members",
        summary: "Members and their roles (paginated)",
        body: None,
        success: 200,
        paginated: true,
    },
    Endpoint {
        op: Op::PutMember,
        method: "put",
        path: "/organizations/{org}/members/{user}",
        summary: "Add a user or replace their roles",
        body: Some(member_schema),
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::DeleteMember,
        method: "delete",
        path: "/organizations/{org}/members/{user}",
        summary: "Remove a member and revoke their grants for the organization",
        body: None,
        success: 204,
        paginated: false,
    },
    Endpoint {
        op: Op::CreateInvitation,
        method: "post",
        path: "/organizations/{org}/invitations",
        summary: "Invite an email with roles; the single-use URL is returned once",
        body: Some(invitation_schema),
        success: 201,
        paginated: false,
    },
    Endpoint {
        op: Op::ListUsers,
        method: "get",
        path: "/users",
        summary: "List users (operators; paginated)",
        body: None,
        success: 200,
        paginated: true,
    },
    Endpoint {
        op: Op::CreateUser,
        method: "post",
        path: "/users",
        summary: "Create a user without a password (operators)",
        body: Some(user_schema),
        success: 201,
        paginated: false,
    },
    Endpoint {
        op: Op::GetUser,
        method: "get",
        path: "/users/{user}",
        summary: "One user with their profile (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::UpdateUser,
        method: "patch",
        path: "/users/{user}",
        summary: "Change the name and profile fields (operators)",
        body: Some(profile_schema),
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::DeleteUser,
        method: "delete",
        path: "/users/{user}",
        summary: "Delete a user and everything issued to them (operators)",
        body: None,
        success: 204,
        paginated: false,
    },
    Endpoint {
        op: Op::ListSessions,
        method: "get",
        path: "/users/{user}/sessions",
        summary: "A user's live browser sessions (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::RevokeSessions,
        method: "delete",
        path: "/users/{user}/sessions",
        summary: "End every session of a user (operators)",
        body: None,
        success: 204,
        paginated: false,
    },
    Endpoint {
        op: Op::RevokeSession,
        method: "delete",
        path: "/users/{user}/sessions/{session}",
        summary: "End one session of a user, by the id the list gave (operators)",
        body: None,
        success: 204,
        paginated: false,
    },
    Endpoint {
        op: Op::ListClients,
        method: "get",
        path: "/clients",
        summary: "List clients (operators; paginated)",
        body: None,
        success: 200,
        paginated: true,
    },
    Endpoint {
        op: Op::CreateClient,
        method: "post",
        path: "/clients",
        summary: "Register a client; a confidential client's secret is returned once (operators)",
        body: Some(client_schema),
        success: 201,
        paginated: false,
    },
    Endpoint {
        op: Op::GetClient,
        method: "get",
        path: "/clients/{client}",
        summary: "One client (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::GetClientPolicy,
        method: "get",
        path: "/clients/{client}/policy",
        summary: "What the client asks of people: light sign-up, profile fields, documents, region (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::UpdateClientPolicy,
        method: "patch",
        path: "/clients/{client}/policy",
        summary: "Change the client's policy; omitted settings stay as they are (operators)",
        body: Some(client_policy_schema),
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::ResetFactors,
        method: "delete",
        path: "/users/{user}/factors",
        summary: "Remove every second factor of a user who lost them and end their sessions (operators)",
        body: None,
        success: 204,
        paginated: false,
    },
    Endpoint {
        op: Op::GetClientMfa,
        method: "get",
        path: "/clients/{client}/mfa",
        summary: "The client's sign-in strength: MFA required, second factors that count, passkeys only (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::UpdateClientMfa,
        method: "patch",
        path: "/clients/{client}/mfa",
        summary: "Change the client's MFA policy; omitted settings stay as they are (operators)",
        body: Some(mfa_policy_schema),
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::GetOrganizationMfa,
        method: "get",
        path: "/organizations/{org}/mfa",
        summary: "The organization's MFA policy for its members' sign-ins",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::UpdateOrganizationMfa,
        method: "patch",
        path: "/organizations/{org}/mfa",
        summary: "Change the organization's MFA policy; omitted settings stay as they are",
        body: Some(mfa_policy_schema),
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::DeleteClient,
        method: "delete",
        path: "/clients/{client}",
        summary: "Delete a client and everything issued to it (operators)",
        body: None,
        success: 204,
        paginated: false,
    },
    Endpoint {
        op: Op::AuditLog,
        method: "get",
        path: "/audit",
        summary: "The audit log in order (paginated); organization admins see their organization's records",
        body: None,
        success: 200,
        paginated: true,
    },
    Endpoint {
        op: Op::AddDomain,
        method: "put",
        path: "/organizations/{org}/domains/{domain}",
        summary: "Add a verified email domain (operators; a domain belongs to one organization)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::RemoveDomain,
        method: "delete",
        path: "/organizations/{org}/domains/{domain}",
        summary: "Remove an email domain (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::ListUpstreams,
        method: "get",
        path: "/upstreams",
        summary: "Upstream connections, from the config file and the database, secrets redacted (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::CreateUpstream,
        method: "post",
        path: "/upstreams",
        summary: "Create an upstream connection; its secrets are stored sealed (operators)",
        body: Some(upstream_schema),
        success: 201,
        paginated: false,
    },
    Endpoint {
        op: Op::GetUpstream,
        method: "get",
        path: "/upstreams/{upstream}",
        summary: "One upstream connection and its callback URL (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::DeleteUpstream,
        method: "delete",
        path: "/upstreams/{upstream}",
        summary: "Delete a connection created through the CLI or API, and its linked identities (operators)",
        body: None,
        success: 204,
        paginated: false,
    },
    Endpoint {
        op: Op::ListConsentDocuments,
        method: "get",
        path: "/consent-documents",
        summary: "Consent documents with their published versions (operators; paginated)",
        body: None,
        success: 200,
        paginated: true,
    },
    Endpoint {
        op: Op::CreateConsentDocument,
        method: "post",
        path: "/consent-documents",
        summary: "Create a consent document; publish its first version next (operators)",
        body: Some(consent_document_schema),
        success: 201,
        paginated: false,
    },
    Endpoint {
        op: Op::GetConsentDocument,
        method: "get",
        path: "/consent-documents/{document}",
        summary: "One consent document with its versions (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::PublishConsentVersion,
        method: "post",
        path: "/consent-documents/{document}/versions",
        summary: "Publish the next version; with reconsent_required everyone is asked again (operators)",
        body: Some(consent_version_schema),
        success: 201,
        paginated: false,
    },
    Endpoint {
        op: Op::ListConsentRecords,
        method: "get",
        path: "/consent-records",
        summary: "Consent records in order, filtered by ?user= and ?document= (operators; paginated)",
        body: None,
        success: 200,
        paginated: true,
    },
    Endpoint {
        op: Op::ExportUser,
        method: "get",
        path: "/users/{user}/export",
        summary: "Everything kept about a user, as their own download (data-subject request; operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::EraseUser,
        method: "post",
        path: "/users/{user}/erase",
        summary: "Erase a user now, keeping the anonymised audit trail (data-subject request; operators)",
        body: None,
        success: 204,
        paginated: false,
    },
    Endpoint {
        op: Op::ListPreferenceTopics,
        method: "get",
        path: "/preference-topics",
        summary: "Communication topics people can subscribe to, and their channels (operators)",
        body: None,
        success: 200,
        paginated: false,
    },
    Endpoint {
        op: Op::CreatePreferenceTopic,
        method: "post",
        path: "/preference-topics",
        summary: "Create a communication topic offered on channels such as email and sms (operators)",
        body: Some(preference_topic_schema),
        success: 201,
        paginated: false,
    },
    Endpoint {
        op: Op::DeletePreferenceTopic,
        method: "delete",
        path: "/preference-topics/{topic}",
        summary: "Delete a topic and everyone's choices about it (operators)",
        body: None,
        success: 204,
        paginated: false,
    },
];

fn preference_topic_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["id", "name", "channels"],
        "properties": {
        "id": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$" },
        "name": { "type": "string", "maxLength": 200 },
        "description": { "type": "string", "maxLength": 1000 },
        "channels": { "type": "array", "minItems": 1,
                      "items": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$" } } } })
}

fn consent_document_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["id", "title", "purpose"],
        "properties": {
        "id": { "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$" },
        "title": { "type": "string", "maxLength": 200 },
        "purpose": { "type": "string", "enum": ["terms", "privacy", "marketing"] },
        "required": { "type": "boolean", "description": "every client requires it (never for marketing)" } } })
}

fn consent_version_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["url", "summary"], "properties": {
        "url": { "type": "string", "format": "uri", "description": "https URL of the text" },
        "summary": { "type": "string", "maxLength": 300 },
        "reconsent_required": { "type": "boolean" } } })
}

fn upstream_schema() -> Value {
    let text = json!({ "type": "string" });
    let list = json!({ "type": "array", "items": { "type": "string" } });
    json!({ "type": "object", "additionalProperties": false,
        "required": ["id", "kind", "display_name", "client_id"], "properties": {
        "id": { "type": "string", "pattern": "^[a-z0-9_-]{1,64}$" },
        "kind": { "type": "string", "enum": ["oidc", "oauth2"] },
        "preset": { "type": "string", "enum": ["google", "microsoft", "github", "apple", "gitlab"] },
        "display_name": text, "client_id": text, "client_secret": text, "issuer": text,
        "authorize_url": text, "token_url": text, "userinfo_url": text, "scopes": list,
        "trust_email": { "type": "boolean" }, "domains": list, "allow_private_network": { "type": "boolean" },
        "claims": { "type": "object" }, "apple": { "type": "object" } } })
}

fn user_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["email"], "properties": {
        "email": { "type": "string", "format": "email" }, "name": { "type": "string" },
        "email_verified": { "type": "boolean" } } })
}

fn profile_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": {
        "name": { "type": "string" },
        "set": { "type": "object", "additionalProperties": { "type": "string" },
                 "description": "given_name, phone_number, address.locality, attributes.<name>…; \"\" clears" } } })
}

fn client_schema() -> Value {
    let list = json!({ "type": "array", "items": { "type": "string" } });
    json!({ "type": "object", "additionalProperties": false, "required": ["name"], "properties": {
        "name": { "type": "string" }, "redirect_uris": list, "post_logout_redirect_uris": list,
        "public": { "type": "boolean" }, "grant_types": list, "scopes": list,
        "id_token_alg": { "type": "string", "enum": ["RS256", "ES256", "EdDSA"] },
        "skip_consent": { "type": "boolean" }, "allowed_origins": list, "organizations": list } })
}

fn client_policy_schema() -> Value {
    let fields = json!({ "type": "array", "items": { "type": "string", "enum":
        crate::flows::profiling::ASKABLE.iter().map(|(n, ..)| *n).collect::<Vec<_>>() } });
    json!({ "type": "object", "additionalProperties": false, "properties": {
        "allow_light_accounts": { "type": "boolean" },
        "required_fields": fields, "optional_fields": fields,
        "required_documents": { "type": "array", "items": { "type": "string" } },
        "region": { "type": "string", "description": "EU, DE, US-CA…; empty clears it" } } })
}

fn mfa_policy_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": {
        "required": { "type": "boolean", "description": "every sign-in needs two factors" },
        "factors": { "type": "array", "items": { "type": "string", "enum": crate::flows::mfa::FACTORS },
            "description": "second factors that count; empty: all" },
        "passkey_only": { "type": "boolean", "description": "only a passkey sign-in (phishing-resistant)" } } })
}

fn organization_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["slug", "name"], "properties": {
        "slug": { "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$" },
        "name": { "type": "string", "maxLength": 200 },
        "domains": { "type": "array", "items": { "type": "string" } },
        "connection": { "type": "string", "description": "the organization's own upstream connection" },
        "sso_required": { "type": "boolean" } } })
}

fn role_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["permissions"], "properties": {
        "permissions": { "type": "array", "items": { "type": "string" } } } })
}

fn member_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["roles"], "properties": {
        "roles": { "type": "array", "items": { "type": "string" } } } })
}

fn invitation_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["email"], "properties": {
        "email": { "type": "string", "format": "email" },
        "roles": { "type": "array", "items": { "type": "string" } } } })
}

/// Registers every endpoint of the table under `/admin/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    let mut scope = web::scope("/admin/v1").route("/openapi.json", web::get().to(openapi));
    for e in ENDPOINTS {
        let route = match e.method {
            "get" => web::get(),
            "post" => web::post(),
            "put" => web::put(),
            "patch" => web::patch(),
            _ => web::delete(),
        };
        let route = match e.op {
            Op::ListOrganizations => route.to(list_organizations),
            Op::CreateOrganization => route.to(create_organization),
            Op::GetOrganization => route.to(get_organization),
            Op::DeleteOrganization => route.to(delete_organization),
            Op::ListRoles => route.to(list_roles),
            Op::PutRole => route.to(put_role),
            Op::ListMembers => route.to(list_members),
            Op::PutMember => route.to(put_member),
            Op::DeleteMember => route.to(delete_member),
            Op::CreateInvitation => route.to(create_invitation),
            Op::ListUsers => route.to(list_users),
            Op::CreateUser => route.to(create_user),
            Op::GetUser => route.to(get_user),
            Op::UpdateUser => route.to(update_user),
            Op::DeleteUser => route.to(delete_user),
            Op::ListSessions => route.to(list_sessions),
            Op::RevokeSessions => route.to(revoke_sessions),
            Op::RevokeSession => route.to(revoke_session),
            Op::ListClients => route.to(list_clients),
            Op::CreateClient => route.to(create_client),
            Op::GetClient => route.to(get_client),
            Op::DeleteClient => route.to(delete_client),
            Op::GetClientPolicy => route.to(get_client_policy),
            Op::UpdateClientPolicy => route.to(update_client_policy),
            Op::GetClientMfa => route.to(get_client_mfa),
            Op::ResetFactors => route.to(reset_factors),
            Op::UpdateClientMfa => route.to(update_client_mfa),
            Op::GetOrganizationMfa => route.to(get_organization_mfa),
            Op::UpdateOrganizationMfa => route.to(update_organization_mfa),
            Op::AuditLog => route.to(audit_log),
            Op::AddDomain => route.to(add_domain),
            Op::RemoveDomain => route.to(remove_domain),
            Op::ListUpstreams => route.to(list_upstreams),
            Op::CreateUpstream => route.to(create_upstream),
            Op::GetUpstream => route.to(get_upstream),
            Op::DeleteUpstream => route.to(delete_upstream),
            Op::ListConsentDocuments => route.to(list_consent_documents),
            Op::CreateConsentDocument => route.to(create_consent_document),
            Op::GetConsentDocument => route.to(get_consent_document),
            Op::PublishConsentVersion => route.to(publish_consent_version),
            Op::ListConsentRecords => route.to(list_consent_records),
            Op::ExportUser => route.to(export_user),
            Op::EraseUser => route.to(erase_user),
            Op::ListPreferenceTopics => route.to(list_preference_topics),
            Op::CreatePreferenceTopic => route.to(create_preference_topic),
            Op::DeletePreferenceTopic => route.to(delete_preference_topic),
        };
        scope = scope.route(e.path, route);
    }
    cfg.service(scope);
}

/// The OpenAPI 3.1 document, built from `ENDPOINTS`.
pub fn document(issuer: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for e in ENDPOINTS {
        let mut op = json!({
            "summary": e.summary,
            "operationId": format!("{:?}", e.op),
            "security": [{ "bearer": [] }],
            "responses": {
                e.success.to_string(): { "description": "success" },
                "400": { "$ref": "#/components/responses/Problem" },
                "401": { "$ref": "#/components/responses/Problem" },
                "403": { "$ref": "#/components/responses/Problem" },
                "404": { "$ref": "#/components/responses/Problem" },
            },
        });
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .chain(e.paginated.then_some(()).into_iter().flat_map(|_| {
                [
                    json!({ "name": "cursor", "in": "query", "schema": { "type": "string" } }),
                    json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200 } }),
                ]
            }))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(schema) = e.body {
            op["requestBody"] =
                json!({ "required": true, "content": { "application/json": { "schema": schema() } } });
        }
        let path = paths
            .entry(format!("/admin/v1{}", e.path))
            .or_insert_with(|| json!({}));
        path[e.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Gatehouse admin API", "version": "1" },
        "servers": [{ "url": issuer }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "responses": { "Problem": { "description": "RFC 9457 problem", "content": { "application/problem+json": {
                "schema": { "type": "object", "properties": {
                    "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" },
                    "detail": { "type": "string" }, "errors": { "type": "array" } } } } } } },
        },
    })
}

async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(document(state.provider.issuer()))
}

/// An API error as an RFC 9457 problem document.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Problem(pub ApiError);

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<FlowError> for Problem {
    fn from(e: FlowError) -> Self {
        Self(ApiError::Flow(e))
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Flow(FlowError::Store(StoreError::Unavailable(_))) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Flow(FlowError::RateLimited { .. }) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Flow(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = match &self.0 {
            ApiError::Flow(e) => {
                tracing::error!(error = %e, "admin API error");
                "the request could not be completed".to_string()
            }
            other => other.to_string(),
        };
        let mut body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        if let ApiError::Invalid { field, message } = &self.0 {
            body["errors"] = json!([{ "field": field, "detail": message }]);
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse-admin\""),
            ));
        }
        response.body(body.to_string())
    }
}

/// Authenticates the caller, then runs `f` on the blocking pool.
async fn call<T, F>(state: &AppState, req: &HttpRequest, f: F) -> Result<T, Problem>
where
    F: FnOnce(&Provider, &Caller) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let token = bearer(req).ok_or(ApiError::Unauthenticated)?;
    let p = state.provider.clone();
    let result = blocking(move || {
        Ok(match api::caller(&p, &token) {
            Ok(caller) => f(&p, &caller),
            Err(e) => Err(e),
        })
    })
    .await?;
    Ok(result?)
}

/// Like `call`, for requests with a JSON body: the token is checked before the body is read, the body
/// is read up to the cap (never buffered beyond it), and parsed only after the caller is authenticated.
async fn call_json<B, T, F>(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    f: F,
) -> Result<T, Problem>
where
    B: DeserializeOwned + Send + 'static,
    F: FnOnce(&Provider, &Caller, B) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let token = bearer(req).ok_or(ApiError::Unauthenticated)?;
    let body = read_body(payload).await?;
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    let p = state.provider.clone();
    let result = blocking(move || {
        Ok(api::caller(&p, &token).and_then(|caller| {
            let parsed = json_body::<B>(is_json, &body)?;
            f(&p, &caller, parsed)
        }))
    })
    .await?;
    Ok(result?)
}

fn bearer(req: &HttpRequest) -> Option<String> {
    authorization_header(req).and_then(|v| {
        v.split_once(' ')
            .filter(|(s, t)| s.eq_ignore_ascii_case("bearer") && !t.trim().is_empty())
            .map(|(_, t)| t.trim().to_string())
    })
}

async fn read_body(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid("body", "the body could not be read"))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::TooLarge(MAX_BODY));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a JSON body strictly: size, media type, syntax, types and unknown fields, naming the field.
fn json_body<T: DeserializeOwned>(is_json: bool, body: &[u8]) -> Result<T, ApiError> {
    if !is_json {
        return Err(ApiError::invalid("body", "the body must be application/json"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { "body".to_string() } else { field };
        ApiError::invalid(&field, e.inner().to_string())
    })
}

#[derive(serde::Deserialize)]
struct ListQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

fn list_query(req: &HttpRequest) -> Result<ListQuery, ApiError> {
    web::Query::<ListQuery>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| ApiError::invalid("query", e.to_string()))
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(value)
}

async fn list_organizations(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let q = list_query(&req)?;
    let page = call(&state, &req, move |p, c| {
        api::list_organizations(p, c, q.cursor.as_deref(), q.limit)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &page))
}

async fn create_organization(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let org = call_json(&state, &req, payload, move |p, c, body: api::OrganizationBody| {
        api::create_organization(p, c, body)
    })
    .await?;
    Ok(json_response(StatusCode::CREATED, &org))
}

async fn get_organization(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let org = path.into_inner();
    let found = call(&state, &req, move |p, c| api::get_organization(p, c, &org)).await?;
    Ok(json_response(StatusCode::OK, &found))
}

async fn delete_organization(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let org = path.into_inner();
    call(&state, &req, move |p, c| api::delete_organization(p, c, &org)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_roles(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let org = path.into_inner();
    let roles = call(&state, &req, move |p, c| api::list_roles(p, c, &org)).await?;
    Ok(json_response(StatusCode::OK, &json!({ "items": roles })))
}

async fn put_role(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (org, role) = path.into_inner();
    let saved = call_json(&state, &req, payload, move |p, c, body: api::RoleBody| {
        api::put_role(p, c, &org, &role, body)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &saved))
}

async fn list_members(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let org = path.into_inner();
    let q = list_query(&req)?;
    let page = call(&state, &req, move |p, c| {
        api::list_members(p, c, &org, q.cursor.as_deref(), q.limit)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &page))
}

async fn put_member(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (org, user) = path.into_inner();
    let saved = call_json(&state, &req, payload, move |p, c, body: api::MemberBody| {
        api::put_member(p, c, &org, &user, body)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &saved))
}

async fn delete_member(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (org, user) = path.into_inner();
    call(&state, &req, move |p, c| api::delete_member(p, c, &org, &user)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn create_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let org = path.into_inner();
    let created = call_json(&state, &req, payload, move |p, c, body: api::InvitationBody| {
        api::invite(p, c, &org, body)
    })
    .await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

async fn list_users(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let q = list_query(&req)?;
    let page = call(&state, &req, move |p, c| {
        api::list_users(p, c, q.cursor.as_deref(), q.limit)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &page))
}

async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let user = call_json(&state, &req, payload, move |p, c, body: api::UserBody| {
        api::create_user(p, c, body)
    })
    .await?;
    Ok(json_response(StatusCode::CREATED, &user))
}

async fn get_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let user = call(&state, &req, move |p, c| api::get_user(p, c, &id)).await?;
    Ok(json_response(StatusCode::OK, &user))
}

async fn update_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let user = call_json(&state, &req, payload, move |p, c, body: api::ProfileBody| {
        api::update_user(p, c, &id, body)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &user))
}

async fn delete_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    call(&state, &req, move |p, c| api::delete_user(p, c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let sessions = call(&state, &req, move |p, c| api::list_sessions(p, c, &id)).await?;
    Ok(json_response(StatusCode::OK, &json!({ "items": sessions })))
}

async fn revoke_sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    call(&state, &req, move |p, c| api::revoke_sessions(p, c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn revoke_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (user, session) = path.into_inner();
    call(&state, &req, move |p, c| {
        api::revoke_session(p, c, &user, &session)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_clients(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let q = list_query(&req)?;
    let page = call(&state, &req, move |p, c| {
        api::list_clients(p, c, q.cursor.as_deref(), q.limit)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &page))
}

async fn create_client(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let created = call_json(&state, &req, payload, move |p, c, body: api::ClientBody| {
        api::create_client(p, c, body)
    })
    .await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

async fn get_client(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let client = call(&state, &req, move |p, c| api::get_client(p, c, &id)).await?;
    Ok(json_response(StatusCode::OK, &client))
}

async fn delete_client(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    call(&state, &req, move |p, c| api::delete_client(p, c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn get_client_policy(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let policy = call(&state, &req, move |p, c| api::get_client_policy(p, c, &id)).await?;
    Ok(json_response(StatusCode::OK, &policy))
}

async fn update_client_policy(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let policy = call_json(&state, &req, payload, move |p, c, change| {
        api::update_client_policy(p, c, &id, change)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &policy))
}

async fn reset_factors(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    call(&state, &req, move |p, c| api::reset_factors(p, c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn get_client_mfa(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let policy = call(&state, &req, move |p, c| api::get_client_mfa(p, c, &id)).await?;
    Ok(json_response(StatusCode::OK, &policy))
}

async fn update_client_mfa(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let policy = call_json(&state, &req, payload, move |p, c, change| {
        api::update_client_mfa(p, c, &id, change)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &policy))
}

async fn get_organization_mfa(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let org = path.into_inner();
    let policy = call(&state, &req, move |p, c| api::get_organization_mfa(p, c, &org)).await?;
    Ok(json_response(StatusCode::OK, &policy))
}

async fn update_organization_mfa(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let org = path.into_inner();
    let policy = call_json(&state, &req, payload, move |p, c, change| {
        api::update_organization_mfa(p, c, &org, change)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &policy))
}

async fn audit_log(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let q = list_query(&req)?;
    let page = call(&state, &req, move |p, c| {
        api::audit_log(p, c, q.cursor.as_deref(), q.limit)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &page))
}

async fn add_domain(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (org, domain) = path.into_inner();
    let org = call(&state, &req, move |p, c| api::add_domain(p, c, &org, &domain)).await?;
    Ok(json_response(StatusCode::OK, &org))
}

async fn remove_domain(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (org, domain) = path.into_inner();
    let org = call(&state, &req, move |p, c| api::remove_domain(p, c, &org, &domain)).await?;
    Ok(json_response(StatusCode::OK, &org))
}

async fn list_upstreams(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let items = call(&state, &req, api::list_upstreams).await?;
    Ok(json_response(StatusCode::OK, &json!({ "items": items })))
}

async fn create_upstream(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let created = call_json(&state, &req, payload, api::create_upstream).await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

async fn get_upstream(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let found = call(&state, &req, move |p, c| api::get_upstream(p, c, &id)).await?;
    Ok(json_response(StatusCode::OK, &found))
}

async fn delete_upstream(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    call(&state, &req, move |p, c| api::delete_upstream(p, c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_consent_documents(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let q = list_query(&req)?;
    let page = call(&state, &req, move |p, c| {
        api::list_consent_documents(p, c, q.cursor.as_deref(), q.limit)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &page))
}

async fn create_consent_document(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let created = call_json(&state, &req, payload, api::create_consent_document).await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

async fn get_consent_document(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let found = call(&state, &req, move |p, c| api::get_consent_document(p, c, &id)).await?;
    Ok(json_response(StatusCode::OK, &found))
}

async fn publish_consent_version(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let published = call_json(
        &state,
        &req,
        payload,
        move |p, c, body: api::ConsentVersionBody| api::publish_consent_version(p, c, &id, body),
    )
    .await?;
    Ok(json_response(StatusCode::CREATED, &published))
}

#[derive(serde::Deserialize)]
struct ConsentRecordsQuery {
    cursor: Option<String>,
    limit: Option<usize>,
    user: Option<String>,
    document: Option<String>,
}

async fn list_consent_records(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let q = web::Query::<ConsentRecordsQuery>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| ApiError::invalid("query", e.to_string()))?;
    let filter = crate::store::ConsentRecordFilter {
        user_id: q.user,
        document_id: q.document,
        since: None,
    };
    let page = call(&state, &req, move |p, c| {
        api::list_consent_records(p, c, filter, q.cursor.as_deref(), q.limit)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &page))
}

async fn export_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (id, origin) = (path.into_inner(), state.origin(&req));
    let document = call(&state, &req, move |p, c| {
        crate::flows::portal::api::export_user(p, c, &id, &origin)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &document))
}

async fn erase_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    call(&state, &req, move |p, c| {
        crate::flows::portal::api::erase_user(p, c, &id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_preference_topics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let items = call(&state, &req, crate::flows::portal::api::list_topics).await?;
    Ok(json_response(StatusCode::OK, &json!({ "items": items })))
}

async fn create_preference_topic(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let created = call_json(&state, &req, payload, crate::flows::portal::api::create_topic).await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

async fn delete_preference_topic(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    call(&state, &req, move |p, c| {
        crate::flows::portal::api::delete_topic(p, c, &id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_every_endpoint_of_the_table() {
        let doc = document("https://id.example.com");
        for e in ENDPOINTS {
            let op = &doc["paths"][format!("/admin/v1{}", e.path)][e.method];
            assert_eq!(
                op["operationId"],
                format!("{:?}", e.op),
                "{} {}",
                e.method,
                e.path
            );
            assert_eq!(op["requestBody"].is_object(), e.body.is_some());
        }
    }
}
