//! The command line: `serve`, `migrate`, and the operator commands for clients, users, upstream
//! connections, organizations, keys and development certificates.
//! Scripts depend on these names and flags; keep them stable.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::audit::{self, AuditEvent, Outcome};
use crate::config::Settings;
use crate::flows::admin::{self, NewClient, NewUser};
use crate::flows::organizations::{self, NewOrganization};
use crate::flows::upstreams::{self, Registry};
use crate::flows::{FlowError, Provider, now, portal};
use crate::keys;
use crate::startup::{Application, open_store};
use crate::store::{Member, Organization, Role, Store, StoreError};
use crate::telemetry;
use crate::upstream::{AppleKey, ClaimMapping, Connection, Preset, UpstreamKind, UpstreamSpec, presets};

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: a federated identity gateway and OpenID Connect provider"
)]
struct Cli {
    /// Configuration file (TOML). Settings can also come from GATEHOUSE__SECTION__KEY variables.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage relying-party clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage local user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage upstream identity providers (sign in with Google, Microsoft, GitHub, Apple, GitLab or
    /// any OpenID Connect / OAuth 2.0 provider).
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// Manage organizations (B2B tenants): their roles, members and invitations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check and export the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Consent documents (terms, privacy policy, marketing), their versions, and the consent records.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// TLS certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Communication preferences: the topics people can subscribe to (account portal).
    #[command(subcommand)]
    Preference(PreferenceCommand),
}

#[derive(Subcommand)]
enum PreferenceCommand {
    /// Manage topics.
    #[command(subcommand)]
    Topic(TopicCommand),
}

#[derive(Subcommand)]
enum TopicCommand {
    /// Create a topic, e.g. --id news --name "Product news" --channels email,sms.
    Create {
        /// Short id (a-z, 0-9, - and _), used in unsubscribe links.
        #[arg(long)]
        id: String,
        /// The name people see.
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Channels the topic is sent on, comma-separated: email, sms, ...
        #[arg(long, value_name = "CHANNELS", required = true)]
        channels: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List topics.
    List(JsonFlag),
    /// Delete a topic and everyone's choices about it.
    Delete { id: String },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Write a self-signed certificate and key for 127.0.0.1, ::1 and localhost (development only).
    Dev {
        /// Directory for dev-cert.pem and dev-key.pem.
        #[arg(long, value_name = "DIR", default_value = "certs")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client; prints its id and, for confidential clients, its secret (shown once).
    Create(Box<ClientCreate>),
    /// List clients.
    List(JsonFlag),
    /// Show one client.
    Show {
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a client and everything issued to it.
    Delete { id: String },
    /// Replace a confidential client's secret with a new generated one (shown once).
    RotateSecret {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Show or change what the client asks of people: light sign-up, profile fields, consent
    /// documents, region. Without options it shows the policy.
    Policy(Box<ClientPolicyArgs>),
    /// Show or change the client's sign-in strength: MFA required, second factors that count,
    /// passkeys only. Without options it shows the policy.
    Mfa(MfaPolicyArgs),
}

#[derive(Args)]
struct MfaPolicyArgs {
    /// The client id (or, for `org mfa`, the organization's id or slug).
    id: String,
    /// Every sign-in needs two factors: true or false.
    #[arg(long, value_name = "BOOL")]
    required: Option<bool>,
    /// A second factor that counts: totp, passkey or recovery_code (repeatable; replaces the list;
    /// `--factor ""` clears it, so all count).
    #[arg(long = "factor", value_name = "FACTOR")]
    factors: Vec<String>,
    /// Only a passkey sign-in is accepted (phishing-resistant): true or false.
    #[arg(long, value_name = "BOOL")]
    passkey_only: Option<bool>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ClientPolicyArgs {
    id: String,
    /// Let `prompt=create` create light accounts (name + email verified by a code): true or false.
    #[arg(long, value_name = "BOOL")]
    light_accounts: Option<bool>,
    /// A profile field people must provide before the client gets a code (repeatable; replaces the
    /// list). `--require-field ""` clears it.
    #[arg(long = "require-field", value_name = "FIELD")]
    required_fields: Vec<String>,
    /// A profile field asked for alongside missing required ones (repeatable; replaces the list).
    #[arg(long = "optional-field", value_name = "FIELD")]
    optional_fields: Vec<String>,
    /// A consent document whose current version people must accept (repeatable; replaces the list).
    #[arg(long = "require-document", value_name = "DOCUMENT")]
    required_documents: Vec<String>,
    /// The region whose consent rules apply to people who declared none (EU, DE, US-CA; "" clears).
    #[arg(long)]
    region: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct JsonFlag {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ClientCreate {
    #[arg(long)]
    name: String,
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (native or browser app): no secret, PKCE required.
    #[arg(long)]
    public: bool,
    /// authorization_code, refresh_token or client_credentials (repeatable).
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// Scopes the client may request (repeatable; default: openid profile email offline_access).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// ID token signing algorithm: RS256 (default), ES256 or EdDSA.
    #[arg(long, value_name = "ALG")]
    id_token_alg: Option<String>,
    /// First-party client: no consent page.
    #[arg(long)]
    skip_consent: bool,
    /// A browser origin (https://app.example.com) allowed to call /token, /revoke and /userinfo
    /// (CORS; repeatable).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// Restrict the client to this organization (id or slug; repeatable). Default: any.
    #[arg(long = "organization", value_name = "ORG")]
    organizations: Vec<String>,
    /// Choose the client id instead of a random one.
    #[arg(long)]
    id: Option<String>,
    /// Choose the secret (at least 32 characters) instead of a generated one.
    #[arg(long)]
    secret: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a local account.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        email_verified: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List(JsonFlag),
    /// Show one user (by id or email).
    Show {
        user: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Change a user's name and profile fields (standard OIDC claims such as given_name,
    /// birthdate or phone_number; address.<field>; attributes.<name>).
    Update {
        /// The user's id or email.
        user: String,
        /// A new display name (empty clears it).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// A profile field to set, e.g. given_name=Ada, address.locality=London or
        /// attributes.tier=gold; an empty value clears the field (repeatable).
        #[arg(long = "set", value_name = "FIELD=VALUE", value_parser = parse_field_value)]
        set: Vec<(String, String)>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a user and their sessions, tokens and consents.
    Delete { user: String },
    /// Set a user's password from the first line of standard input.
    SetPassword {
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Print everything kept about a user as JSON (a data-subject access request): the same document
    /// as their own download in the account portal.
    Export {
        /// The user's id or email.
        user: String,
    },
    /// Erase a user now (a data-subject erasure request): the account and every row about it go, the
    /// audit trail keeps only the opaque user id.
    Erase {
        /// The user's id or email.
        user: String,
        /// Confirm: erasure cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Remove every second factor of a user who lost them (authenticator app, recovery codes,
    /// passkeys) and end their sessions; their next sign-in sets up a new one. Audited.
    ResetFactors {
        /// The user's id or email.
        user: String,
        /// Confirm: the person must set up their second factors again.
        #[arg(long)]
        yes: bool,
    },
    /// List a user's live browser sessions, or end one (--end ID, an id from the list) or all
    /// (--end-all). Both are audited.
    Sessions {
        /// The user's id or email.
        user: String,
        /// End the session with this id (as listed).
        #[arg(long, value_name = "ID", conflicts_with = "end_all")]
        end: Option<String>,
        /// End every session of the user.
        #[arg(long)]
        end_all: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand)]
enum UpstreamCommand {
    /// Add a connection to an upstream provider; prints the callback URL to register there.
    Create(Box<UpstreamCreate>),
    /// List connections, from the config file and from the database.
    List(JsonFlag),
    /// Show one connection (never its secrets), with its callback URL.
    Show {
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a connection created by CLI and the identities linked through it.
    Delete { id: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Oidc,
    Oauth2,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum UpstreamMfaArg {
    Ignore,
    Trust,
    RequireLocal,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PresetArg {
    Google,
    Microsoft,
    Github,
    Apple,
    Gitlab,
}

#[derive(Args)]
struct UpstreamCreate {
    /// Short id (a-z, 0-9, - and _): part of the callback URL and of the `idp` claim.
    #[arg(long)]
    id: String,
    /// oidc (discovery + ID token) or oauth2 (token, then a userinfo document); implied by --preset.
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// The name on the sign-in button.
    #[arg(long, value_name = "NAME")]
    display_name: String,
    /// The client id registered at the provider.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The client secret registered at the provider (or --client-secret-stdin).
    #[arg(long, value_name = "SECRET", conflicts_with = "client_secret_stdin")]
    client_secret: Option<String>,
    /// Read the client secret from the first line of standard input.
    #[arg(long)]
    client_secret_stdin: bool,
    /// OIDC issuer URL (discovery at <issuer>/.well-known/openid-configuration).
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// OAuth2 authorization endpoint.
    #[arg(long, value_name = "URL")]
    authorize_url: Option<String>,
    /// OAuth2 token endpoint.
    #[arg(long, value_name = "URL")]
    token_url: Option<String>,
    /// OAuth2 userinfo endpoint.
    #[arg(long, value_name = "URL")]
    userinfo_url: Option<String>,
    /// Scope asked of the provider (repeatable; default: the preset's, or openid email profile).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// A well-known provider: fills in the endpoints, scopes and claim mapping.
    #[arg(long, value_enum)]
    preset: Option<PresetArg>,
    /// Link to an existing account with the same email when the provider says it is verified.
    #[arg(long)]
    trust_email: bool,
    /// Email domain whose users go straight to this connection (repeatable).
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Allow plain http and private or loopback addresses (development and tests only).
    #[arg(long)]
    allow_private_network: bool,
    /// Multi-factor sign-ins at the provider count here (`trust`), or a second factor of Gatehouse's own
    /// is always required after it (`require-local`).
    #[arg(long, value_enum, default_value = "ignore")]
    mfa: UpstreamMfaArg,
    /// oauth2: the userinfo field with the stable user id (default `sub`).
    #[arg(long, value_name = "FIELD")]
    claim_subject: Option<String>,
    /// oauth2: the userinfo field with the email.
    #[arg(long, value_name = "FIELD")]
    claim_email: Option<String>,
    /// oauth2: the userinfo field saying the email is verified (absent: emails are unverified).
    #[arg(long, value_name = "FIELD")]
    claim_email_verified: Option<String>,
    /// oauth2: the userinfo field with the display name.
    #[arg(long, value_name = "FIELD")]
    claim_name: Option<String>,
    /// oauth2: the userinfo field with the picture URL.
    #[arg(long, value_name = "FIELD")]
    claim_picture: Option<String>,
    /// Sign in with Apple: the team id.
    #[arg(long, value_name = "ID")]
    apple_team_id: Option<String>,
    /// Sign in with Apple: the key id.
    #[arg(long, value_name = "ID")]
    apple_key_id: Option<String>,
    /// Sign in with Apple: the .p8 private key file (PEM) the client secret is signed with.
    #[arg(long, value_name = "PATH")]
    apple_private_key_file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization; prints its id, slug, name and domains.
    Create(OrgCreate),
    /// List organizations.
    List(JsonFlag),
    /// Show one organization (by id or slug) with its roles and members.
    Show {
        org: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete an organization, its roles, members and invitations, and revoke the grants made for it.
    Delete { org: String },
    /// Show or change the organization's MFA policy for its members' sign-ins.
    Mfa(MfaPolicyArgs),
    /// Manage the roles of an organization.
    #[command(subcommand)]
    Role(OrgRoleCommand),
    /// Manage the members of an organization.
    #[command(subcommand)]
    Member(OrgMemberCommand),
    /// Invite someone by email to join an organization with roles; prints the link (shown once).
    Invite {
        /// The organization (id or slug).
        #[arg(long, value_name = "ORG")]
        org: String,
        #[arg(long)]
        email: String,
        /// A role of the organization to grant on acceptance (repeatable).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct OrgCreate {
    /// Short name (2-63 characters of a-z, 0-9 and -): the `org_slug` claim and the `organization`
    /// parameter.
    #[arg(long)]
    slug: String,
    /// The display name.
    #[arg(long)]
    name: String,
    /// An email domain of the organization (repeatable; a domain belongs to one organization only).
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// The organization's own upstream connection (the id of an existing one).
    #[arg(long, value_name = "UPSTREAM_ID")]
    connection: Option<String>,
    /// Users with one of the organization's email domains must sign in through --connection.
    #[arg(long)]
    sso_required: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum OrgRoleCommand {
    /// Create a role, or replace the permissions of an existing one; prints the role.
    Create {
        /// The organization (id or slug).
        #[arg(long, value_name = "ORG")]
        org: String,
        #[arg(long)]
        name: String,
        /// A permission the role grants, e.g. invoices:read (repeatable).
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OrgMemberCommand {
    /// Add an existing user to an organization with roles, or replace their roles.
    Add {
        /// The organization (id or slug).
        #[arg(long, value_name = "ORG")]
        org: String,
        /// The user's email (or user id).
        #[arg(long)]
        email: String,
        /// A role of the organization (repeatable).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a member and revoke their grants for the organization.
    Remove {
        /// The organization (id or slug).
        #[arg(long, value_name = "ORG")]
        org: String,
        /// The user's email (or user id).
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; report the first broken record.
    Verify,
    /// Write records as JSON Lines to standard output.
    Export {
        /// Only records at or after this time (RFC 3339, a date, or UNIX seconds).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only records of this organization.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// Only records of this event type (e.g. sign_in, token.issued).
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConsentCommand {
    /// Create and list documents.
    #[command(subcommand)]
    Document(ConsentDocumentCommand),
    /// Publish the next version of a document (1, 2, …).
    Publish {
        /// The document id.
        document: String,
        /// Where the text of this version is (https).
        #[arg(long)]
        url: String,
        /// One line shown next to the box people tick.
        #[arg(long)]
        summary: String,
        /// Ask everyone who accepted an older version to accept this one at their next sign-in.
        #[arg(long)]
        reconsent: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write consent records as JSON Lines to standard output, oldest first (for auditors).
    Export {
        /// Only this user's records (id or email).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only this document's records.
        #[arg(long, value_name = "ID")]
        document: Option<String>,
        /// Only records at or after this time (UNIX seconds, RFC 3339 or a date).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConsentDocumentCommand {
    /// Create a document; publish its first version next.
    Create {
        /// A slug: terms, privacy, marketing-email.
        #[arg(long)]
        id: String,
        #[arg(long)]
        title: String,
        /// terms, privacy or marketing.
        #[arg(long)]
        purpose: String,
        /// Every client requires it (never for marketing).
        #[arg(long)]
        required: bool,
        #[arg(long)]
        json: bool,
    },
    /// List documents and their versions.
    List(JsonFlag),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List signing keys and their state.
    List(JsonFlag),
    /// Make new keys current; old keys stay in the JWKS until the tokens they signed expire.
    Rotate,
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    telemetry::init(&settings.log);
    let result = match cli.command {
        Command::Serve => serve(settings),
        Command::Migrate => open_store(&settings)
            .map(|_| println!("migrations applied"))
            .map_err(|e| e.to_string()),
        Command::Client(c) => client(&settings, c),
        Command::User(c) => user(&settings, c),
        Command::Upstream(c) => upstream_command(&settings, c),
        Command::Org(c) => org_command(&settings, c),
        Command::Keys(c) => keys_command(&settings, c),
        Command::Audit(c) => audit_command(&settings, c),
        Command::Consent(c) => consent_command(&settings, c),
        Command::Certs(c) => certs_command(c),
        Command::Preference(PreferenceCommand::Topic(c)) => topic_command(&settings, c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

fn certs_command(command: CertsCommand) -> Result<(), String> {
    match command {
        CertsCommand::Dev { out } => {
            let (cert, key) = crate::tls::generate_dev_cert(&out)?;
            let quoted = |p: &std::path::Path| toml::Value::String(p.display().to_string()).to_string();
            println!(
                "wrote {} (self-signed, for {})\nwrote {} (private key, readable by you only)",
                cert.display(),
                crate::tls::DEV_NAMES.join(", "),
                key.display()
            );
            println!(
                "\nServe HTTPS with them: in the configuration file\n\n  [server]\n  issuer = \"https://127.0.0.1:8080\"\n\n  [server.tls]\n  cert = {}\n  key = {}\n",
                quoted(&cert),
                quoted(&key)
            );
            println!(
                "or in the environment:\n\n  GATEHOUSE__SERVER__ISSUER=https://127.0.0.1:8080 GATEHOUSE__SERVER__TLS__CERT={} GATEHOUSE__SERVER__TLS__KEY={} gatehouse serve\n",
                cert.display(),
                key.display()
            );
            println!(
                "Clients must trust this certificate (development only, never in production):\n\n  curl --cacert {} https://127.0.0.1:8080/.well-known/openid-configuration",
                cert.display()
            );
        }
    }
    Ok(())
}

fn serve(settings: Settings) -> Result<(), String> {
    actix_web::rt::System::new().block_on(async move {
        let issuer = settings.issuer().to_string();
        let bind = settings.server.bind.clone();
        let app = Application::build(settings).map_err(|e| e.to_string())?;
        println!("Gatehouse is running.\n  issuer:    {issuer}\n  listening: {bind}\n  discovery: {issuer}/.well-known/openid-configuration");
        println!("Next steps:\n  gatehouse client create --name \"My app\" --redirect-uri http://127.0.0.1:3000/callback\n  echo 'a long password' | gatehouse user create --email you@example.com --password-stdin");
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

fn store(settings: &Settings) -> Result<std::sync::Arc<dyn crate::store::Store>, String> {
    open_store(settings).map(|(s, _)| s).map_err(|e| e.to_string())
}

fn print_json(value: &impl Serialize) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn client(settings: &Settings, command: ClientCommand) -> Result<(), String> {
    let store = store(settings)?;
    match command {
        ClientCommand::Create(c) => {
            let c = *c;
            let json = c.json;
            let created = admin::create_client(
                store.as_ref(),
                NewClient {
                    name: c.name,
                    redirect_uris: c.redirect_uris,
                    post_logout_redirect_uris: c.post_logout_redirect_uris,
                    public: c.public,
                    grant_types: c.grant_types,
                    scopes: c.scopes,
                    id_token_alg: c.id_token_alg,
                    skip_consent: c.skip_consent,
                    id: c.id,
                    secret: c.secret,
                    allowed_origins: c.allowed_origins,
                    organizations: c.organizations,
                },
            )
            .map_err(|e| e.to_string())?;
            if json {
                print_json(&created);
            } else {
                println!("client_id:     {}", created.client.id);
                if let Some(secret) = &created.client_secret {
                    println!("client_secret: {secret}\n(the secret is shown once: store it now)");
                }
            }
        }
        ClientCommand::List(f) => {
            let clients = store.list_clients().map_err(|e| e.to_string())?;
            if f.json {
                print_json(&clients);
            } else {
                for c in clients {
                    let kind = if c.is_public() { "public" } else { "confidential" };
                    println!("{}\t{}\t{kind}\t{}", c.id, c.name, c.redirect_uris.join(" "));
                }
            }
        }
        ClientCommand::Show { id, json } => {
            let c = store
                .find_client(&id)
                .map_err(|e| e.to_string())?
                .ok_or(format!("no client `{id}`"))?;
            if json.json {
                print_json(&c);
            } else {
                let organizations = if c.organizations.is_empty() {
                    "any".to_string()
                } else {
                    let mut named = Vec::new();
                    for id in &c.organizations {
                        named.push(match store.find_organization(id).map_err(|e| e.to_string())? {
                            Some(o) => format!("{} ({})", o.id, o.slug),
                            None => id.clone(),
                        });
                    }
                    named.join(" ")
                };
                println!(
                    "client_id:      {}\nname:           {}\ntype:           {}\nredirect_uris:  {}\npost_logout:    {}\ngrant_types:    {}\nscopes:         {}\nid_token_alg:   {}\nskip_consent:   {}\nallowed_origins: {}\norganizations:  {organizations}",
                    c.id,
                    c.name,
                    if c.is_public() { "public" } else { "confidential" },
                    c.redirect_uris.join(" "),
                    c.post_logout_redirect_uris.join(" "),
                    c.grant_types.join(" "),
                    c.scopes.join(" "),
                    c.id_token_alg,
                    c.skip_consent,
                    c.allowed_origins.join(" ")
                );
            }
        }
        ClientCommand::RotateSecret { id, json } => {
            let secret = admin::rotate_client_secret(store.as_ref(), &id).map_err(|e| e.to_string())?;
            if json {
                print_json(&serde_json::json!({ "client_id": id, "client_secret": secret }));
            } else {
                println!(
                    "client_id:     {id}\nclient_secret: {secret}\n(the secret is shown once: store it now; the old one no longer works)"
                );
            }
        }
        ClientCommand::Delete { id } => {
            admin::delete_client(store.as_ref(), &id).map_err(|e| e.to_string())?;
            println!("deleted client {id}");
        }
        ClientCommand::Policy(args) => client_policy(store.as_ref(), *args)?,
        ClientCommand::Mfa(args) => mfa_policy(store.as_ref(), crate::store::MfaOwner::Client, args)?,
    }
    Ok(())
}

fn client_policy(store: &dyn crate::store::Store, args: ClientPolicyArgs) -> Result<(), String> {
    use crate::flows::client_policy::{self, PolicyChange};
    // An explicit empty value clears a list; no value leaves it alone.
    let list = |items: Vec<String>| {
        (!items.is_empty()).then(|| items.into_iter().filter(|i| !i.is_empty()).collect())
    };
    let change = PolicyChange {
        allow_light_accounts: args.light_accounts,
        required_fields: list(args.required_fields),
        optional_fields: list(args.optional_fields),
        required_documents: list(args.required_documents),
        region: args.region,
    };
    let unchanged = change.allow_light_accounts.is_none()
        && change.required_fields.is_none()
        && change.optional_fields.is_none()
        && change.required_documents.is_none()
        && change.region.is_none();
    let policy = if unchanged {
        client_policy::show(store, &args.id)
    } else {
        client_policy::update_as("cli", store, &args.id, change)
    }
    .map_err(|e| e.to_string())?;
    if args.json {
        print_json(&policy);
    } else {
        let list = |l: &[String]| {
            if l.is_empty() {
                "-".to_string()
            } else {
                l.join(", ")
            }
        };
        println!(
            "client_id:          {}\nlight_accounts:     {}\nrequired_fields:    {}\noptional_fields:    {}\nrequired_documents: {}\nregion:             {}",
            policy.client_id,
            policy.allow_light_accounts,
            list(&policy.required_fields),
            list(&policy.optional_fields),
            list(&policy.required_documents),
            policy.region.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

/// `client mfa` and `org mfa`: the same flow as `PATCH /admin/v1/{clients,organizations}/{id}/mfa`.
fn mfa_policy(
    store: &dyn crate::store::Store,
    owner: crate::store::MfaOwner,
    args: MfaPolicyArgs,
) -> Result<(), String> {
    use crate::flows::mfa_policy::{self, MfaPolicyChange};
    let factors = match args.factors.as_slice() {
        [] => None,
        [only] if only.is_empty() => Some(Vec::new()),
        list => Some(list.to_vec()),
    };
    let change = MfaPolicyChange {
        required: args.required,
        factors,
        passkey_only: args.passkey_only,
    };
    let unchanged = change.required.is_none() && change.factors.is_none() && change.passkey_only.is_none();
    let policy = if unchanged {
        mfa_policy::show(store, owner, &args.id)
    } else {
        mfa_policy::update_as("cli", store, owner, &args.id, change)
    }
    .map_err(|e| e.to_string())?;
    if args.json {
        print_json(&policy);
    } else {
        println!(
            "{:<13} {}\nrequired:     {}\nfactors:      {}\npasskey_only: {}",
            format!("{}:", owner.as_str()),
            policy.owner_id,
            policy.required,
            if policy.factors.is_empty() {
                "all".to_string()
            } else {
                policy.factors.join(", ")
            },
            policy.passkey_only,
        );
    }
    Ok(())
}

fn read_password() -> Result<String, String> {
    read_stdin_line("the password")
}

/// The first line of standard input, without its line ending.
fn read_stdin_line(what: &str) -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read {what}: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn user(settings: &Settings, command: UserCommand) -> Result<(), String> {
    let store = store(settings)?;
    match command {
        UserCommand::Create {
            email,
            name,
            password_stdin,
            email_verified,
            json,
        } => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let user = admin::create_user(
                store.as_ref(),
                NewUser {
                    email,
                    name,
                    password,
                    email_verified,
                },
            )
            .map_err(|e| e.to_string())?;
            if json {
                print_json(&user)
            } else {
                println!("user_id: {}", user.id)
            }
        }
        UserCommand::List(f) => {
            let users = store.list_users().map_err(|e| e.to_string())?;
            if f.json {
                print_json(&users);
            } else {
                for u in users {
                    println!("{}\t{}\t{}", u.id, u.email, u.name.unwrap_or_default());
                }
            }
        }
        UserCommand::Show { user, json } => {
            let u = admin::find_user(store.as_ref(), &user).map_err(|e| e.to_string())?;
            if json.json {
                print_json(&u);
            } else {
                println!(
                    "user_id:        {}\nemail:          {}\nemail_verified: {}\nname:           {}\npassword:       {}",
                    u.id,
                    u.email,
                    u.email_verified,
                    u.name.as_deref().unwrap_or("-"),
                    if u.password_hash.is_some() {
                        "set"
                    } else {
                        "not set"
                    }
                );
                for (field, value) in profile_lines(&u.profile) {
                    println!("{field}: {value}");
                }
            }
        }
        UserCommand::Update {
            user,
            name,
            set,
            json,
        } => {
            if name.is_none() && set.is_empty() {
                return Err("nothing to update: give --name NAME or --set FIELD=VALUE".into());
            }
            let u = admin::update_profile(store.as_ref(), &user, admin::ProfileUpdate { name, fields: set })
                .map_err(|e| e.to_string())?;
            if json.json {
                print_json(&u);
            } else {
                println!("user_id: {}", u.id);
                if let Some(name) = &u.name {
                    println!("name: {name}");
                }
                for (field, value) in profile_lines(&u.profile) {
                    println!("{field}: {value}");
                }
            }
        }
        UserCommand::Delete { user } => {
            let u = admin::delete_user(store.as_ref(), &user).map_err(|e| e.to_string())?;
            println!("deleted user {}", u.id);
        }
        UserCommand::SetPassword { user, .. } => {
            let password = read_password()?;
            let u = admin::set_password(store.as_ref(), &user, &password).map_err(|e| e.to_string())?;
            println!("password set for user {}", u.id);
        }
        UserCommand::Export { user } => {
            let u = admin::find_user(store.as_ref(), &user).map_err(|e| e.to_string())?;
            let consents = |id: &str| {
                let records = store.list_user_consent_records(id)?;
                Ok(serde_json::to_value(records).unwrap_or_default())
            };
            let document =
                portal::data::export_with(store.as_ref(), &u.id, "cli", &Default::default(), consents)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("no user `{user}`"))?;
            print_json(&document);
        }
        UserCommand::Erase { user, yes } => {
            if !yes {
                return Err("erasure cannot be undone: add --yes to erase this user".into());
            }
            let u = admin::find_user(store.as_ref(), &user).map_err(|e| e.to_string())?;
            portal::deletion::erase_user(store.as_ref(), &u.id, "cli").map_err(|e| e.to_string())?;
            println!("erased user {}", u.id);
        }
        UserCommand::ResetFactors { user, yes } => {
            if !yes {
                return Err("the person will have to set up their second factors again: add --yes".into());
            }
            let u = admin::find_user(store.as_ref(), &user).map_err(|e| e.to_string())?;
            let removed =
                crate::flows::factors::reset_all(store.as_ref(), "cli", &u.id).map_err(flow_error)?;
            println!(
                "removed {removed} second factor(s) of user {} and ended their sessions",
                u.id
            );
        }
        UserCommand::Sessions {
            user,
            end,
            end_all,
            json,
        } => user_sessions(settings, &user, end, end_all, json.json)?,
    }
    Ok(())
}

/// `user sessions`: the same flows as the admin API's `/users/{user}/sessions`, acting as `cli`.
fn user_sessions(
    settings: &Settings,
    user: &str,
    end: Option<String>,
    end_all: bool,
    json: bool,
) -> Result<(), String> {
    use crate::flows::admin_api::{self, ApiError};
    let (store, sealer) = open_store(settings).map_err(|e| e.to_string())?;
    let u = admin::find_user(store.as_ref(), user).map_err(|e| e.to_string())?;
    if let Some(reference) = end {
        admin_api::end_user_session(store.as_ref(), &sealer, "cli", &u.id, &reference).map_err(
            |e| match e {
                ApiError::NotFound => format!("user {} has no session `{reference}` (list them again)", u.id),
                other => other.to_string(),
            },
        )?;
        println!("ended 1 session of user {}", u.id);
        return Ok(());
    }
    if end_all {
        let n = admin_api::end_all_user_sessions(store.as_ref(), "cli", &u.id).map_err(|e| e.to_string())?;
        println!("ended {n} sessions of user {}", u.id);
        return Ok(());
    }
    let sessions = admin_api::user_sessions(store.as_ref(), &sealer, &settings.sessions, &u.id)
        .map_err(|e| e.to_string())?;
    if json {
        print_json(&sessions);
        return Ok(());
    }
    for s in sessions {
        println!(
            "{}	{}	{}	signed in {}	last active {}	until {}	{}",
            s.id,
            if s.persistent { "kept" } else { "browser" },
            if s.device.is_empty() { "-" } else { &s.device },
            format_time(s.auth_time),
            format_time(s.last_seen_at),
            format_time(s.expires_at),
            s.amr,
        );
    }
    Ok(())
}

/// `--set FIELD=VALUE`, split at the first `=` (the value may be empty, to clear the field).
fn parse_field_value(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((field, value)) if !field.trim().is_empty() => Ok((field.trim().to_string(), value.to_string())),
        _ => Err(format!(
            "`{arg}` is not FIELD=VALUE (use FIELD= to clear a field)"
        )),
    }
}

/// A profile as `field: value` pairs, with `address` and `attributes` flattened
/// (`address.locality`, `attributes.tier`); unset fields are left out.
fn profile_lines(profile: &crate::store::Profile) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (key, v) in fields {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, v, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            serde_json::Value::Null => {}
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::to_value(profile) {
        walk("", &value, &mut out);
    }
    out
}

/// A connection as `upstream create|list|show` print it: never its client secret or Apple key.
#[derive(Serialize)]
struct UpstreamLine {
    id: String,
    kind: UpstreamKind,
    preset: Option<Preset>,
    display_name: String,
    client_id: String,
    issuer: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    scopes: Vec<String>,
    trust_email: bool,
    domains: Vec<String>,
    allow_private_network: bool,
    claims: ClaimMapping,
    apple: Option<AppleLine>,
    mfa: crate::upstream::UpstreamMfa,
    callback_url: String,
    /// `config` (the config file) or `database` (created by CLI).
    source: &'static str,
}

#[derive(Serialize)]
struct AppleLine {
    team_id: String,
    key_id: String,
}

impl UpstreamLine {
    fn new(settings: &Settings, c: Connection) -> Self {
        let source = if upstreams::is_from_config(settings, c.id()) {
            "config"
        } else {
            "database"
        };
        let s = c.spec;
        Self {
            apple: s.apple.map(|a| AppleLine {
                team_id: a.team_id,
                key_id: a.key_id,
            }),
            id: s.id,
            kind: s.kind,
            preset: s.preset,
            display_name: s.display_name,
            client_id: s.client_id,
            issuer: s.issuer,
            authorize_url: s.authorize_url,
            token_url: s.token_url,
            userinfo_url: s.userinfo_url,
            scopes: s.scopes,
            trust_email: s.trust_email,
            domains: s.domains,
            allow_private_network: s.allow_private_network,
            claims: s.claims,
            mfa: s.mfa,
            callback_url: c.callback_url,
            source,
        }
    }
}

/// `oidc`, `github`: the name an enum has in the config file and in JSON.
fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "-".into(),
    }
}

/// A flow error as one line for the operator (a refusal's message, not its page title or Debug).
fn flow_error(e: FlowError) -> String {
    match e {
        FlowError::Page { message, .. } => message,
        other => other.to_string(),
    }
}

fn upstream_command(settings: &Settings, command: UpstreamCommand) -> Result<(), String> {
    let (store, sealer) = open_store(settings).map_err(|e| e.to_string())?;
    let registry = Registry {
        store: store.as_ref(),
        sealer: &sealer,
        settings,
    };
    match command {
        UpstreamCommand::Create(c) => {
            let json = c.json;
            let spec = upstream_spec(*c)?;
            check_upstream_is_new(registry, &spec)?;
            let id = spec.id.clone();
            let created = upstreams::create(registry, spec).map_err(|e| match e {
                FlowError::Store(StoreError::Conflict(_)) => {
                    format!("the connection `{id}` or one of its domains already exists")
                }
                other => flow_error(other),
            })?;
            let line = UpstreamLine::new(settings, created);
            if json {
                print_json(&line);
            } else {
                println!(
                    "created upstream connection {}\nkind:         {}\ndisplay name: {}\ncallback URL: {}\n\nRegister this callback URL as a redirect URI at the provider (in the settings of its client `{}`).",
                    line.id,
                    wire_name(&line.kind),
                    line.display_name,
                    line.callback_url,
                    line.client_id
                );
            }
        }
        UpstreamCommand::List(f) => {
            let lines: Vec<UpstreamLine> = upstreams::list_in(registry)
                .map_err(flow_error)?
                .into_iter()
                .map(|c| UpstreamLine::new(settings, c))
                .collect();
            if f.json {
                print_json(&lines);
            } else {
                for l in lines {
                    println!(
                        "{}\t{}\t{}\t{}",
                        l.id,
                        wire_name(&l.kind),
                        l.display_name,
                        l.source
                    );
                }
            }
        }
        UpstreamCommand::Show { id, json } => {
            let c = upstreams::find_in(registry, &id)
                .map_err(flow_error)?
                .ok_or(format!("no upstream connection `{id}`"))?;
            let secret = if c.spec.apple.is_some() {
                "signed with the Apple key"
            } else if secrecy::ExposeSecret::expose_secret(&c.spec.client_secret).is_empty() {
                "not set"
            } else {
                "set"
            };
            let l = UpstreamLine::new(settings, c);
            if json.json {
                print_json(&l);
            } else {
                let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                let list = |v: &[String]| if v.is_empty() { "-".into() } else { v.join(" ") };
                let m = &l.claims;
                let claims: Vec<String> = [
                    ("subject", &m.subject),
                    ("email", &m.email),
                    ("email_verified", &m.email_verified),
                    ("name", &m.name),
                    ("picture", &m.picture),
                ]
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect();
                println!(
                    "id:                    {}\nkind:                  {}\npreset:                {}\ndisplay name:          {}\nclient_id:             {}\nclient secret:         {secret}\nissuer:                {}\nauthorize_url:         {}\ntoken_url:             {}\nuserinfo_url:          {}\nscopes:                {}\ntrust_email:           {}\ndomains:               {}\nallow_private_network: {}\nclaims:                {}\napple:                 {}\ncallback URL:          {}\nsource:                {}",
                    l.id,
                    wire_name(&l.kind),
                    l.preset.as_ref().map(wire_name).unwrap_or_else(|| "-".into()),
                    l.display_name,
                    l.client_id,
                    opt(&l.issuer),
                    opt(&l.authorize_url),
                    opt(&l.token_url),
                    opt(&l.userinfo_url),
                    list(&l.scopes),
                    l.trust_email,
                    list(&l.domains),
                    l.allow_private_network,
                    list(&claims),
                    l.apple
                        .as_ref()
                        .map(|a| format!("team_id={} key_id={}", a.team_id, a.key_id))
                        .unwrap_or_else(|| "-".into()),
                    l.callback_url,
                    l.source
                );
            }
        }
        UpstreamCommand::Delete { id } => {
            if upstreams::is_from_config(settings, &id) {
                return Err(format!(
                    "the connection `{id}` is declared in the config file; remove it there"
                ));
            }
            if !upstreams::delete(store.as_ref(), &id).map_err(|e| e.to_string())? {
                return Err(format!("no upstream connection `{id}`"));
            }
            println!("deleted upstream connection {id} and the identities linked through it");
        }
    }
    Ok(())
}

/// The spec the `upstream create` flags describe; refuses combinations the flags alone can get wrong.
fn upstream_spec(c: UpstreamCreate) -> Result<UpstreamSpec, String> {
    let preset = c.preset.map(|p| match p {
        PresetArg::Google => Preset::Google,
        PresetArg::Microsoft => Preset::Microsoft,
        PresetArg::Github => Preset::Github,
        PresetArg::Apple => Preset::Apple,
        PresetArg::Gitlab => Preset::Gitlab,
    });
    let kind = match (c.kind, preset) {
        (Some(KindArg::Oidc), _) => UpstreamKind::Oidc,
        (Some(KindArg::Oauth2), _) => UpstreamKind::Oauth2,
        (None, Some(p)) => presets::kind_of(p),
        (None, None) => return Err("--kind is required (oidc or oauth2) unless --preset is given".into()),
    };
    if let Some(p) = preset
        && presets::kind_of(p) != kind
    {
        return Err(format!(
            "the {} preset is an {} provider, not {}",
            wire_name(&p),
            wire_name(&presets::kind_of(p)),
            wire_name(&kind)
        ));
    }
    let claims = ClaimMapping {
        subject: c.claim_subject,
        email: c.claim_email,
        email_verified: c.claim_email_verified,
        name: c.claim_name,
        picture: c.claim_picture,
    };
    if kind == UpstreamKind::Oidc && claims != ClaimMapping::default() {
        return Err(
            "the --claim-* flags apply to oauth2 connections only (oidc reads the ID token's standard claims)"
                .into(),
        );
    }
    let apple = match (c.apple_team_id, c.apple_key_id, c.apple_private_key_file) {
        (None, None, None) => None,
        (Some(team_id), Some(key_id), Some(path)) => {
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read --apple-private-key-file {}: {e}", path.display()))?;
            Some(AppleKey {
                team_id,
                key_id,
                private_key: secrecy::SecretString::from(pem),
            })
        }
        _ => {
            return Err(
                "Sign in with Apple needs all of --apple-team-id, --apple-key-id and --apple-private-key-file"
                    .into(),
            );
        }
    };
    if preset == Some(Preset::Apple) && apple.is_none() {
        return Err(
            "the apple preset needs --apple-team-id, --apple-key-id and --apple-private-key-file".into(),
        );
    }
    let client_secret = match (c.client_secret, c.client_secret_stdin) {
        (Some(secret), false) => Some(secret),
        (None, true) => {
            let secret = read_stdin_line("the client secret")?;
            if secret.is_empty() {
                return Err("no client secret on standard input".into());
            }
            Some(secret)
        }
        (None, false) => None,
        (Some(_), true) => return Err("give --client-secret or --client-secret-stdin, not both".into()),
    };
    let client_secret = match (client_secret, &apple) {
        (Some(secret), None) => secret,
        (None, Some(_)) => String::new(),
        (None, None) => return Err("--client-secret or --client-secret-stdin is required".into()),
        (Some(_), Some(_)) => {
            return Err(
                "a connection with an Apple key signs its own client secret: drop --client-secret".into(),
            );
        }
    };
    let mut domains: Vec<String> = Vec::new();
    for d in c.domains {
        let d = d.trim().to_lowercase();
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    Ok(UpstreamSpec {
        id: c.id,
        kind,
        preset,
        display_name: c.display_name,
        client_id: c.client_id,
        client_secret: secrecy::SecretString::from(client_secret),
        issuer: c.issuer,
        authorize_url: c.authorize_url,
        token_url: c.token_url,
        userinfo_url: c.userinfo_url,
        scopes: c
            .scopes
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(String::from)
            .collect(),
        trust_email: c.trust_email,
        domains,
        allow_private_network: c.allow_private_network,
        claims,
        apple,
        mfa: match c.mfa {
            UpstreamMfaArg::Ignore => crate::upstream::UpstreamMfa::Ignore,
            UpstreamMfaArg::Trust => crate::upstream::UpstreamMfa::Trust,
            UpstreamMfaArg::RequireLocal => crate::upstream::UpstreamMfa::RequireLocal,
        },
    })
}

/// Refuses, with a message naming the clash, an invalid spec or an id or domain already in use (checked
/// before `upstreams::create`, which audits the attempt first).
fn check_upstream_is_new(r: Registry, spec: &UpstreamSpec) -> Result<(), String> {
    crate::upstream::validate(spec).map_err(|e| format!("invalid connection: {e}"))?;
    let id = &spec.id;
    if upstreams::is_from_config(r.settings, id) {
        return Err(format!("the connection `{id}` is declared in the config file"));
    }
    if r.store.find_upstream(id).map_err(|e| e.to_string())?.is_some() {
        return Err(format!("an upstream connection `{id}` already exists"));
    }
    for domain in &spec.domains {
        let in_config = r
            .settings
            .upstreams
            .iter()
            .find(|s| s.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)));
        let owner = match in_config {
            Some(s) => Some(s.id.clone()),
            None => r
                .store
                .find_upstream_by_domain(domain)
                .map_err(|e| e.to_string())?,
        };
        if let Some(owner) = owner {
            return Err(format!(
                "the domain `{domain}` is already claimed by the connection `{owner}`"
            ));
        }
    }
    Ok(())
}

/// An organization as `org show` prints it: its fields, its roles, and its members with their emails.
#[derive(Serialize)]
struct OrgDetail {
    #[serde(flatten)]
    organization: Organization,
    roles: Vec<Role>,
    members: Vec<MemberLine>,
}

#[derive(Serialize)]
struct MemberLine {
    user_id: String,
    /// `None` if the user record is gone.
    email: Option<String>,
    roles: Vec<String>,
    created_at: i64,
}

impl MemberLine {
    fn new(store: &dyn Store, m: Member) -> Result<Self, String> {
        let email = store
            .find_user(&m.user_id)
            .map_err(|e| e.to_string())?
            .map(|u| u.email);
        Ok(Self {
            user_id: m.user_id,
            email,
            roles: m.roles,
            created_at: m.created_at,
        })
    }
}

fn or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(" ")
    }
}

fn print_organization(o: &Organization) {
    println!(
        "id:           {}\nslug:         {}\nname:         {}\ndomains:      {}\nconnection:   {}\nsso_required: {}",
        o.id,
        o.slug,
        o.name,
        or_dash(&o.domains),
        o.connection_id.as_deref().unwrap_or("-"),
        o.sso_required
    );
}

fn org_command(settings: &Settings, command: OrgCommand) -> Result<(), String> {
    let (store, sealer) = open_store(settings).map_err(|e| e.to_string())?;
    let store = store.as_ref();
    match command {
        OrgCommand::Create(c) => {
            if let Some(id) = &c.connection {
                let registry = Registry {
                    store,
                    sealer: &sealer,
                    settings,
                };
                if upstreams::find_in(registry, id).map_err(flow_error)?.is_none() {
                    return Err(format!(
                        "no upstream connection `{id}` (see `gatehouse upstream list`)"
                    ));
                }
            }
            if c.sso_required && c.connection.is_none() {
                return Err(
                    "--sso-required needs --connection (the organization's own upstream connection)".into(),
                );
            }
            let slug = c.slug.clone();
            let org = organizations::create(
                store,
                "cli",
                NewOrganization {
                    slug: c.slug,
                    name: c.name,
                    domains: c.domains,
                    connection_id: c.connection,
                    sso_required: c.sso_required,
                },
            )
            .map_err(|e| match e {
                admin::AdminError::Store(StoreError::Conflict(_)) => {
                    format!("the organization `{slug}` or one of its domains already exists")
                }
                other => other.to_string(),
            })?;
            if c.json {
                print_json(&org);
            } else {
                print_organization(&org);
            }
        }
        OrgCommand::List(f) => {
            let orgs = store.list_organizations().map_err(|e| e.to_string())?;
            if f.json {
                print_json(&orgs);
            } else {
                for o in orgs {
                    println!("{}\t{}\t{}\t{}", o.id, o.slug, o.name, or_dash(&o.domains));
                }
            }
        }
        OrgCommand::Mfa(args) => mfa_policy(store, crate::store::MfaOwner::Organization, args)?,
        OrgCommand::Show { org, json } => {
            let organization = organizations::find(store, &org).map_err(|e| e.to_string())?;
            let roles = store.list_roles(&organization.id).map_err(|e| e.to_string())?;
            let members = store
                .list_members(&organization.id)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|m| MemberLine::new(store, m))
                .collect::<Result<Vec<_>, _>>()?;
            let detail = OrgDetail {
                organization,
                roles,
                members,
            };
            if json.json {
                print_json(&detail);
            } else {
                print_organization(&detail.organization);
                println!("roles:");
                for r in &detail.roles {
                    println!("  {}\t{}", r.name, or_dash(&r.permissions));
                }
                println!("members:");
                for m in &detail.members {
                    println!(
                        "  {}\t{}\t{}",
                        m.email.as_deref().unwrap_or("-"),
                        m.user_id,
                        or_dash(&m.roles)
                    );
                }
            }
        }
        OrgCommand::Delete { org } => {
            let o = organizations::delete(store, "cli", &org).map_err(|e| e.to_string())?;
            println!(
                "deleted organization {} ({}), its roles, members and invitations, and revoked the grants made for it",
                o.slug, o.id
            );
        }
        OrgCommand::Role(OrgRoleCommand::Create {
            org,
            name,
            permissions,
            json,
        }) => {
            let role = organizations::save_role(store, "cli", &org, &name, permissions)
                .map_err(|e| e.to_string())?;
            if json {
                print_json(&role);
            } else {
                println!(
                    "role:        {}\npermissions: {}",
                    role.name,
                    or_dash(&role.permissions)
                );
            }
        }
        OrgCommand::Member(OrgMemberCommand::Add {
            org,
            email,
            roles,
            json,
        }) => {
            let member =
                organizations::save_member(store, "cli", &org, &email, &roles).map_err(|e| e.to_string())?;
            let line = MemberLine::new(store, member)?;
            if json {
                print_json(&line);
            } else {
                println!(
                    "member: {} ({})\nroles:  {}",
                    line.email.as_deref().unwrap_or("-"),
                    line.user_id,
                    or_dash(&line.roles)
                );
            }
        }
        OrgCommand::Member(OrgMemberCommand::Remove { org, email }) => {
            organizations::remove_member(store, "cli", &org, &email).map_err(|e| e.to_string())?;
            println!("removed {email} from {org} and revoked their grants for it");
        }
        OrgCommand::Invite {
            org,
            email,
            roles,
            json,
        } => {
            let created = organizations::invite(store, "cli", settings.issuer(), &org, &email, &roles)
                .map_err(|e| e.to_string())?;
            if json {
                print_json(&created);
            } else {
                println!(
                    "invitation URL: {}\nfor:            {}\nroles:          {}\nexpires:        {}\n(the link is shown once and works once: send it to {} now)",
                    created.url,
                    created.invitation.email,
                    or_dash(&created.invitation.roles),
                    format_time(created.invitation.expires_at),
                    created.invitation.email
                );
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct KeyLine {
    kid: String,
    alg: String,
    created_at: i64,
    retired_at: Option<i64>,
    state: &'static str,
}

fn keys_command(settings: &Settings, command: KeysCommand) -> Result<(), String> {
    let (store, sealer) = open_store(settings).map_err(|e| e.to_string())?;
    let keep_for = Provider::key_retention(settings);
    // Creates the first keys if the server never ran, and checks that every key can be unsealed.
    keys::Keys::load_or_create(store.as_ref(), sealer.clone(), now(), keep_for).map_err(|e| e.to_string())?;
    match command {
        KeysCommand::List(f) => {
            let at = now();
            let lines: Vec<KeyLine> = store
                .list_keys()
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|k| KeyLine {
                    state: match k.retired_at {
                        None => "current",
                        Some(t) if t + keep_for > at => "retired (still published)",
                        Some(_) => "expired",
                    },
                    kid: k.kid,
                    alg: k.alg,
                    created_at: k.created_at,
                    retired_at: k.retired_at,
                })
                .collect();
            if f.json {
                print_json(&lines);
            } else {
                for k in lines {
                    println!("{}\t{}\tcreated {}\t{}", k.kid, k.alg, k.created_at, k.state);
                }
            }
        }
        KeysCommand::Rotate => {
            let at = now();
            let new_keys = keys::prepare_rotation(&sealer, at).map_err(|e| e.to_string())?;
            let kids: Vec<&str> = new_keys.iter().map(|k| k.kid.as_str()).collect();
            let event = AuditEvent::new(audit::kind::KEY_ROTATED, Outcome::Success, at)
                .actor("cli")
                .detail(serde_json::json!({ "new_kids": kids }));
            audit::log(&event);
            store
                .append_audit(&[event])
                .map_err(|e| format!("the rotation could not be audited: {e}"))?;
            keys::commit_rotation(store.as_ref(), &new_keys, at).map_err(|e| e.to_string())?;
            for kid in kids {
                println!("new current key {kid}");
            }
            println!("running servers pick the new keys up within 30 seconds");
        }
    }
    Ok(())
}

fn audit_command(settings: &Settings, command: AuditCommand) -> Result<(), String> {
    let store = store(settings)?;
    const PAGE: i64 = 1000;
    let mut after = 0;
    match command {
        AuditCommand::Verify => {
            let mut records = Vec::new();
            loop {
                let page = store.audit_page(after, PAGE).map_err(|e| e.to_string())?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                records.extend(page);
            }
            let count = audit::verify_chain(records).map_err(|e| e.to_string())?;
            println!("audit chain intact: {count} records");
        }
        AuditCommand::Export {
            since,
            org,
            event_type,
        } => {
            let since = since.as_deref().map(parse_time).transpose()?;
            let mut out = std::io::stdout().lock();
            loop {
                let page = store.audit_page(after, PAGE).map_err(|e| e.to_string())?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for record in page {
                    let e = &record.event;
                    let keep = since.is_none_or(|t| e.at >= t)
                        && org
                            .as_deref()
                            .is_none_or(|o| e.organization.as_deref() == Some(o))
                        && event_type.as_deref().is_none_or(|t| e.event == t);
                    if keep {
                        let mut line = serde_json::to_value(&record).map_err(|e| e.to_string())?;
                        line["time"] = serde_json::json!(format_time(e.at));
                        use std::io::Write;
                        writeln!(out, "{line}").map_err(|e| e.to_string())?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn consent_command(settings: &Settings, command: ConsentCommand) -> Result<(), String> {
    use crate::flows::consents::documents::{self, NewDocument, NewVersion};
    let store = store(settings)?;
    let store = store.as_ref();
    match command {
        ConsentCommand::Document(ConsentDocumentCommand::Create {
            id,
            title,
            purpose,
            required,
            json,
        }) => {
            let new = NewDocument {
                id,
                title,
                purpose,
                required,
            };
            let d = documents::create(store, "cli", new).map_err(|e| match e {
                admin::AdminError::Store(StoreError::Conflict(what)) => format!("{what} already exists"),
                other => other.to_string(),
            })?;
            if json {
                print_json(&d);
            } else {
                println!(
                    "created consent document {} ({}{}); publish its first version with `gatehouse consent publish {} --url … --summary …`",
                    d.id,
                    d.purpose.as_str(),
                    if d.required { ", required" } else { "" },
                    d.id
                );
            }
        }
        ConsentCommand::Document(ConsentDocumentCommand::List(f)) => {
            let all = documents::list(store).map_err(|e| e.to_string())?;
            if f.json {
                print_json(&all);
            } else {
                for l in all {
                    let newest = l.versions.last();
                    println!(
                        "{}\t{}\t{}\t{}\tversion {}",
                        l.document.id,
                        l.document.purpose.as_str(),
                        if l.document.required { "required" } else { "-" },
                        l.document.title,
                        newest.map_or("-".to_string(), |v| v.version.to_string())
                    );
                }
            }
        }
        ConsentCommand::Publish {
            document,
            url,
            summary,
            reconsent,
            json,
        } => {
            let new = NewVersion {
                url,
                summary,
                reconsent_required: reconsent,
            };
            let v = documents::publish(store, "cli", &document, new).map_err(|e| e.to_string())?;
            if json {
                print_json(&v);
            } else {
                println!(
                    "published {} version {}{}",
                    v.document_id,
                    v.version,
                    if v.reconsent_required {
                        ": everyone is asked to accept it at their next sign-in"
                    } else {
                        ""
                    }
                );
            }
        }
        ConsentCommand::Export {
            user,
            document,
            since,
        } => consent_export(store, user, document, since)?,
    }
    Ok(())
}

fn consent_export(
    store: &dyn Store,
    user: Option<String>,
    document: Option<String>,
    since: Option<String>,
) -> Result<(), String> {
    use std::io::Write;
    let user_id = match user {
        // Records may outlive their user (erased accounts keep a pseudonym), so an id is taken as is.
        Some(u) if u.contains('@') => Some(
            store
                .find_user_by_email(&u)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user with the email `{u}`"))?
                .id,
        ),
        other => other,
    };
    if let Some(d) = &document {
        if store
            .find_consent_document(d)
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Err(format!(
                "no consent document `{d}` (see `gatehouse consent document list`)"
            ));
        }
    }
    let filter = crate::store::ConsentRecordFilter {
        user_id,
        document_id: document,
        since: since.as_deref().map(parse_time).transpose()?,
    };
    let mut out = std::io::stdout().lock();
    let mut after = 0;
    loop {
        let page = store
            .list_consent_records(&filter, after, 1000)
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for record in page {
            let mut line = serde_json::to_value(&record).map_err(|e| e.to_string())?;
            line["time"] = serde_json::json!(format_time(record.at));
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// RFC 3339 (`2026-11-29T10:00:00Z`), a date (`2026-11-29`, midnight UTC) or UNIX seconds.
fn parse_time(text: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .map_err(|_| format!("`{text}` is not a time (use 2026-11-29, 2026-11-29T10:00:00Z or UNIX seconds)"))
}

fn format_time(seconds: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string())
}

fn topic_command(settings: &Settings, command: TopicCommand) -> Result<(), String> {
    let store = store(settings)?;
    match command {
        TopicCommand::Create {
            id,
            name,
            description,
            channels,
            json,
        } => {
            let new = portal::preferences::NewTopic {
                id,
                name,
                description,
                channels,
            };
            let topic =
                portal::preferences::create_topic(store.as_ref(), "cli", new).map_err(|e| e.to_string())?;
            if json {
                print_json(&topic);
            } else {
                println!("created topic {} ({})", topic.id, topic.channels.join(", "));
            }
        }
        TopicCommand::List(f) => {
            let topics = store.list_topics().map_err(|e| e.to_string())?;
            if f.json {
                print_json(&topics);
            } else {
                for t in topics {
                    println!("{}\t{}\t{}", t.id, t.channels.join(","), t.name);
                }
            }
        }
        TopicCommand::Delete { id } => {
            portal::preferences::delete_topic(store.as_ref(), "cli", &id).map_err(|e| e.to_string())?;
            println!("deleted topic {id}");
        }
    }
    Ok(())
}
