//! The command line: `serve`, `migrate`, and the operator commands for clients, users, keys and
//! development certificates.
//! Scripts depend on these names and flags; keep them stable.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::audit::{self, AuditEvent, Outcome};
use crate::config::Settings;
use crate::flows::admin::{self, NewClient, NewUser};
use crate::flows::{Provider, now};
use crate::keys;
use crate::startup::{Application, open_store};
use crate::telemetry;

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
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check and export the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// TLS certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
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
    Create(ClientCreate),
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
    /// Delete a user and their sessions, tokens and consents.
    Delete { user: String },
    /// Set a user's password from the first line of standard input.
    SetPassword {
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
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
        Command::Keys(c) => keys_command(&settings, c),
        Command::Audit(c) => audit_command(&settings, c),
        Command::Certs(c) => certs_command(c),
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
                println!(
                    "client_id:      {}\nname:           {}\ntype:           {}\nredirect_uris:  {}\npost_logout:    {}\ngrant_types:    {}\nscopes:         {}\nid_token_alg:   {}\nskip_consent:   {}\nallowed_origins: {}",
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
    }
    Ok(())
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
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
