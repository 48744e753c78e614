//! `portier`: the one binary. `serve` migrates and serves; `migrate` only
//! migrates; `bootstrap` creates an environment and its first administrator.

mod config;
mod import_export;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, LogFormat, SettingsArgs};
use portier_core::email::Email;
use portier_store::Store;
use portier_store::audit::Origin;

use import_export::*;

/// Portier: user and organization management.
///
/// Configuration comes from flags, then PORTIER_* environment variables, then
/// portier.toml, then defaults. With no configuration at all, `portier serve`
/// runs on an embedded SQLite database in ./portier-data.
#[derive(Debug, Parser)]
#[command(name = "portier", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the API until SIGINT or SIGTERM.
    Serve,
    /// Apply pending migrations and exit. Safe to run on several nodes at once.
    Migrate,
    /// Create an environment and its first administrator; print JSON with the
    /// organization id, the account id, the activation link and an API token
    /// that carries every permission on the new environment.
    Bootstrap {
        /// Name of the new environment (a root organization).
        #[arg(long, value_name = "NAME")]
        org: String,
        /// E-mail address of its administrator. An address that already has an
        /// account keeps that account and gains the new membership.
        #[arg(long, value_name = "EMAIL")]
        email: String,
    },
    /// The mail outbox, and with no SMTP configured the development mailbox.
    Mail {
        #[command(subcommand)]
        action: MailCommand,
    },
    /// A person's professional registration: members cannot change their
    /// own number, and administrators only give it once; a platform operator
    /// sets or corrects it here. Prints the registration as JSON; with
    /// PORTIER_BIG_REGISTER_URL set, `portier serve` checks it.
    Registration {
        /// The person's e-mail address.
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// The register [default: BIG].
        #[arg(long, default_value = "BIG", value_name = "REGISTER")]
        register: String,
        /// The number to record (BIG: 11 digits); without it, shows the current one.
        #[arg(long, value_name = "NUMBER")]
        number: Option<String>,
    },
    /// What an organization is billed for: per month, the portfolios of the
    /// organization and those below it that were active on the month's last
    /// day. Quarterly invoices count the same months; an annually billed
    /// organization is not counted monthly.
    Billing {
        /// The organization's id.
        #[arg(long, value_name = "ID")]
        org: String,
        /// The month, YYYY-MM (the first, with --to).
        #[arg(long, value_name = "YYYY-MM")]
        month: String,
        /// The last month of a range, YYYY-MM.
        #[arg(long, value_name = "YYYY-MM")]
        to: Option<String>,
        /// CSV for finance (RFC 4180): one row per billed portfolio, and one
        /// with a count of 0 for a month with none.
        #[arg(long)]
        csv: bool,
    },
    /// Export an organization's members (labels and staff codes included)
    /// as CSV (RFC 4180, formula-safe) or JSON, streamed.
    Export {
        /// The organization's id.
        #[arg(long, value_name = "ID")]
        org: String,
        /// csv, json or xlsx.
        #[arg(long, default_value = "csv", value_name = "FORMAT")]
        format: String,
        /// Include the organizations below it.
        #[arg(long)]
        children: bool,
        /// CSV: start with a UTF-8 byte-order mark, for spreadsheets.
        #[arg(long)]
        bom: bool,
        /// Only these columns, comma-separated (email,given_name,…).
        #[arg(long, value_name = "LIST")]
        columns: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Import members from a CSV or XLSX file: columns by header,
    /// in English or Dutch (E-mail, Voornaam, Tussenvoegsel, Achternaam,
    /// Rol, …). Without --apply, a dry run: what would happen to each row.
    /// With --apply, the import runs in chunks with a progress bar; an
    /// interrupted import resumes when `portier serve` runs (or this command
    /// is run again with --resume).
    Import {
        /// The organization's id.
        #[arg(long, value_name = "ID")]
        org: String,
        /// The file (.csv or .xlsx).
        #[arg(value_name = "FILE", required_unless_present = "resume")]
        file: Option<std::path::PathBuf>,
        /// Write: without it, nothing is written.
        #[arg(long)]
        apply: bool,
        /// Hold the invitation mails back, to send later.
        #[arg(long)]
        no_invite: bool,
        /// Import the valid rows when others are invalid (else nothing).
        #[arg(long)]
        skip_invalid: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Go on with an interrupted import, by its id.
        #[arg(long, value_name = "IMPORT_ID", conflicts_with = "file")]
        resume: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// The newest messages first, with their delivery state and text.
    List {
        /// Only messages to this address.
        #[arg(long, value_name = "EMAIL")]
        to: Option<String>,
        /// How many messages to show.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    let config = match Config::resolve(&cli.settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portier: configuration: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("portier: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(config, started).await,
            Command::Migrate => migrate(&config).await.map(|_| ()),
            Command::Bootstrap { org, email } => bootstrap(&config, &org, &email).await,
            Command::Registration {
                email,
                register,
                number,
            } => registration(&config, &email, &register, number.as_deref()).await,
            Command::Mail {
                action: MailCommand::List { to, limit, json },
            } => mail_list(&config, to.as_deref(), limit, json).await,
            Command::Billing {
                org,
                month,
                to,
                csv,
            } => billing(&config, &org, &month, to.as_deref(), csv).await,
            Command::Export {
                org,
                format,
                children,
                bom,
                columns,
                output,
            } => {
                let how = ExportOptions {
                    children,
                    bom,
                    columns: columns.as_deref(),
                };
                export(&config, &org, &format, how, output.as_deref()).await
            }
            Command::Import {
                org,
                file,
                apply,
                no_invite,
                skip_invalid,
                json,
                resume,
            } => {
                let how = ImportOptions {
                    apply,
                    invite: !no_invite,
                    skip_invalid,
                    json,
                };
                import(&config, &org, file.as_deref(), resume.as_deref(), how).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portier: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTIER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn migrate(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url)
        .await
        .with_context(|| format!("cannot open the database ({})", config.describe_database()))?;
    store.migrate().await.context("migration failed")?;
    Ok(store)
}

async fn serve(config: Config, started: Instant) -> anyhow::Result<()> {
    let delivery =
        portier_server::mail::Delivery::from_config(config.smtp_url.as_deref(), &config.smtp_from)
            .map_err(|e| anyhow::anyhow!(e))?;
    let store = migrate(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (PORTIER_LISTEN)", config.listen))?;
    let has_organizations = portier_store::organizations::any_exists(&store).await?;
    let mut server_config = portier_server::ServerConfig::new(&config.public_url);
    server_config.lifecycle = lifecycle(&config)?;
    server_config.import_sync_rows = config.import_sync_rows;
    server_config.import_chunk_rows = config.import_chunk_rows;
    server_config.import_max_bytes = config.import_max_bytes;
    server_config.sessions = config.sessions;
    server_config.trusted_proxies = config.trusted_proxies.clone();
    server_config.big_register_url = config.big_register_url.clone();
    server_config.signup = portier_store::signups::SignupRules {
        mode: config.signup,
        public_domains: config.public_mail_domains.clone(),
    };
    server_config.dns_server = config.dns_server;
    server_config.dev_mailbox = config.smtp_url.is_none();
    let state = portier_server::AppState::new(store.clone(), server_config);
    tracing::info!(
        listen = %config.listen,
        database = %config.describe_database(),
        data_dir = %config.data_dir.display(),
        mail = %config.mail_summary(),
        ttl = %config.ttl_summary(),
        ready_ms = started.elapsed().as_millis() as u64,
        "Portier is ready"
    );
    print_welcome(&config, has_organizations);
    // The outbox worker stops with the server.
    let (stop, stopped) = tokio::sync::watch::channel(());
    let worker = tokio::spawn(portier_server::mail::run_worker(
        store.clone(),
        delivery,
        std::time::Duration::from_secs(1),
        async move {
            let mut stopped = stopped;
            let _ = stopped.changed().await;
        },
    ));
    let signal = shutdown_signal();
    let served = portier_server::serve(listener, state, async move {
        signal.await;
        let _ = stop.send(());
    })
    .await;
    let _ = worker.await;
    served?;
    store.close().await;
    tracing::info!("Portier stopped");
    Ok(())
}

/// The built-in mail templates, with any the operator placed in
/// `<data dir>/templates/mail/<kind>.<en|nl>.<subject|txt|html>`. A template
/// that does not parse or render stops the start, naming the file.
fn mail_templates(config: &Config) -> anyhow::Result<portier_core::mail::MailTemplates> {
    let dir = config.data_dir.join("templates").join("mail");
    let mut overrides = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            overrides.push((name, source));
        }
    }
    if !overrides.is_empty() {
        tracing::info!(count = overrides.len(), dir = %dir.display(), "mail templates replaced");
    }
    portier_core::mail::MailTemplates::with_overrides(overrides)
        .map_err(|e| anyhow::anyhow!("mail template in {}: {e}", dir.display()))
}

fn print_welcome(config: &Config, has_organizations: bool) {
    let url = &config.public_url;
    println!(
        "Portier is listening on {url} ({}).",
        config.describe_database()
    );
    println!("  Console: {url}/  (sign in in a browser)");
    println!("  API:     {url}/api/v1  (described at {url}/api/v1/openapi.json)");
    println!("  Health:  {url}/healthz  {url}/readyz  {url}/metrics");
    if config.smtp_url.is_none() {
        println!(
            "  Mail:    {url}/dev/mail  (no PORTIER_SMTP_URL: the development mailbox, on this machine only)"
        );
    }
    if !has_organizations {
        println!();
        println!(
            "This is a new installation: no environment exists yet. To get in, create the first"
        );
        println!("environment and its administrator (in another terminal, same directory):");
        println!();
        println!(
            "  cargo run --release -- bootstrap --org \"Your organization\" --email you@example.com"
        );
        println!();
        println!(
            "It prints an API token for {url}/api/v1 (send it as Authorization: Bearer <token>)"
        );
        println!(
            "and the administrator's activation link: open it in a browser, choose a password,"
        );
        println!("and the console signs you in.");
    }
}

/// Resolves on SIGINT or SIGTERM. The SIGTERM handler is installed when
/// this is called, not when the future is first polled: a SIGTERM that
/// arrives as soon as the server answers must stop it gracefully, not kill
/// it with the signal's default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let interrupt = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = async move {
            match terminate {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = interrupt => {},
            () = terminate => {},
        }
        tracing::info!("shutting down: finishing requests under way");
    }
}

async fn bootstrap(config: &Config, org: &str, email: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let store = migrate(config).await?;
    // The administrator's invitation goes out like any other: the running
    // server's worker delivers it (or keeps it in the development mailbox).
    let lifecycle = lifecycle(config)?;
    let done =
        portier_store::bootstrap::bootstrap(&store, org, &email, &lifecycle, &Origin::now(None))
            .await
            .map_err(|e| match e {
                portier_store::Error::Domain(portier_core::Error::Invalid(f))
                    if f.field == "name" =>
                {
                    anyhow::anyhow!("--org: {}", f.message)
                }
                other => anyhow::Error::new(other),
            })?;
    let out = serde_json::json!({
        "organization_id": done.organization_id,
        "account_id": done.account_id,
        "account_reused": done.account_reused,
        "activation_url": done.activation_token.as_ref().map(|t| format!("{}/activate/{}", config.public_url, t.expose())),
        "api_token": done.api_token.expose(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    store.close().await;
    Ok(())
}

/// `portier registration`: shows or sets a person's registration number.
/// The organization `--org` names.
async fn organization(
    store: &portier_store::Store,
    org: &str,
) -> anyhow::Result<portier_core::organizations::Organization> {
    let id: uuid::Uuid = org
        .parse()
        .map_err(|_| anyhow::anyhow!("--org: {org:?} is not an organization id"))?;
    portier_store::organizations::get(store, id.into())
        .await?
        .ok_or_else(|| anyhow::anyhow!("--org: no organization {id}"))
}

async fn billing(
    config: &Config,
    org: &str,
    month: &str,
    to: Option<&str>,
    csv: bool,
) -> anyhow::Result<()> {
    use portier_core::portfolios::Month;
    let store = migrate(config).await?;
    let org = organization(&store, org).await?;
    let parse = |flag: &str, raw: &str| {
        Month::parse(flag, raw).map_err(|e| anyhow::anyhow!("--{flag}: {}", e.message))
    };
    let first = parse("month", month)?;
    let last = to.map(|t| parse("to", t)).transpose()?.unwrap_or(first);
    let months = Month::range(first, last).map_err(|e| anyhow::anyhow!("--to: {}", e.message))?;
    let report = portier_store::portfolios::report(
        &store,
        &portier_core::rights::Principal::operator(&org)
            .authorize::<portier_core::rights::BillingRead>(&org)?,
        &months,
    )
    .await?;
    let cycle = org.settings.billing_cycle;
    if csv {
        println!("month,reference_date,billed,portfolio_id,account_id,type,organization_id");
        for (month, counted) in &report {
            let head = format!("{month},{},{}", month.last_day(), counted.len());
            if counted.is_empty() {
                println!("{head},,,,");
            }
            for p in counted {
                println!(
                    "{head},{},{},{},{}",
                    p.portfolio, p.account, p.type_key, p.organization
                );
            }
        }
        return Ok(());
    }
    println!("{} ({}), billed {}", org.name, org.id, cycle.as_str());
    if !cycle.counted_monthly() {
        println!("Billed annually: its portfolios are not counted per month.");
    }
    for (month, counted) in &report {
        println!(
            "{month}  reference date {}  billed: {}",
            month.last_day(),
            counted.len()
        );
        for p in counted {
            println!(
                "  {}  account {}  {}  paid by {}",
                p.portfolio, p.account, p.type_key, p.organization
            );
        }
    }
    Ok(())
}

/// Where links point, how long they work, the mail templates: as
/// `portier serve` sends mail.
fn lifecycle(config: &Config) -> anyhow::Result<portier_store::lifecycle::Lifecycle> {
    let mut lifecycle = portier_store::lifecycle::Lifecycle::new(&config.public_url);
    lifecycle.activation_ttl = config.activation_ttl;
    lifecycle.reset_ttl = config.reset_ttl;
    lifecycle.templates = std::sync::Arc::new(mail_templates(config)?);
    lifecycle.register_checks = config.big_register_url.is_some();
    Ok(lifecycle)
}

async fn registration(
    config: &Config,
    email: &str,
    register: &str,
    number: Option<&str>,
) -> anyhow::Result<()> {
    let store = migrate(config).await?;
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {}", e.message()))?;
    let account = portier_store::accounts::find_by_email(&store, &email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("--email: {email} has no account"))?;
    let found = match number {
        None => portier_store::registrations::of_account(&store, account.id).await?,
        Some(number) => {
            let number = portier_core::registrations::RegistrationNumber::parse(
                "registration",
                register,
                number,
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "--{}: {}",
                    e.field.trim_start_matches("registration."),
                    e.message
                )
            })?;
            Some(
                portier_store::registrations::set_by_operator(
                    &store,
                    &account,
                    &number,
                    config.big_register_url.is_some(),
                    &Origin::now(None),
                )
                .await?,
            )
        }
    };
    let out = match found {
        None => serde_json::json!({"email": email, "registration": null}),
        Some(r) => serde_json::json!({
            "email": email,
            "register": r.number.register.as_str(),
            "number": r.number.number,
            "state": r.state.as_str(),
            "register_name": r.entries.first().map(|e| e.name.clone()),
            "checked_at": r.checked_at,
            // A number on more than one account is for the operator to settle.
            "other_accounts": portier_store::registrations::others_with(&store, &r.number, account.id).await?,
        }),
    };
    println!("{out}");
    store.close().await;
    Ok(())
}

async fn mail_list(
    config: &Config,
    to: Option<&str>,
    limit: i64,
    json: bool,
) -> anyhow::Result<()> {
    let to = to
        .map(Email::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let store = migrate(config).await?;
    let mails = portier_store::mail::recent(&store, to.as_ref(), limit).await?;
    for m in &mails {
        if json {
            println!("{}", serde_json::to_string(m)?);
        } else {
            println!(
                "── {} · {} · to {} · {}",
                m.created_at.format("%Y-%m-%d %H:%M:%S"),
                m.status,
                m.to_address,
                m.subject
            );
            if let Some(e) = &m.last_error {
                println!("   last error after {} attempts: {e}", m.attempts);
            }
            for line in m.body_text.lines() {
                println!("   {line}");
            }
            println!();
        }
    }
    if mails.is_empty() && !json {
        println!("No mail yet.");
    }
    store.close().await;
    Ok(())
}
