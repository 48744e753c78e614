//! Configuration: command-line flags, then environment variables, then
//! `portier.toml`, then defaults (README.md#configuration: the environment
//! wins over the file). Every value is checked here, at start, with an error
//! that names the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use portier_core::duration::{format_duration, parse_duration};
use portier_core::secrets::TokenKind;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings every command shares. Each is a flag and an environment
/// variable; unset ones fall back to `portier.toml`, then to the default.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// Configuration file [default: ./portier.toml, when it exists].
    #[arg(long, env = "PORTIER_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PORTIER_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Folder for the embedded database and other state [default: ./portier-data].
    #[arg(long, env = "PORTIER_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [default: sqlite://<data dir>/portier.db].
    #[arg(
        long,
        env = "PORTIER_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// The address people and links use to reach Portier [default: http://<listen>,
    /// with localhost for a loopback address].
    #[arg(long, env = "PORTIER_PUBLIC_URL", global = true, value_name = "URL")]
    pub public_url: Option<String>,
    /// smtp://host:port or smtps://user:pass@host; unset keeps mail in the development mailbox.
    #[arg(
        long,
        env = "PORTIER_SMTP_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// Sender address of Portier's mail [default: portier@<public host>].
    #[arg(long, env = "PORTIER_SMTP_FROM", global = true, value_name = "ADDRESS")]
    pub smtp_from: Option<String>,
    /// How long an activation link works [default: 7d]. Durations: 90s, 15m, 1h, 7d.
    #[arg(
        long,
        env = "PORTIER_ACTIVATION_TTL",
        global = true,
        value_name = "DURATION"
    )]
    pub activation_ttl: Option<String>,
    /// How long a password-reset link works [default: 1h].
    #[arg(
        long,
        env = "PORTIER_RESET_TTL",
        global = true,
        value_name = "DURATION"
    )]
    pub reset_ttl: Option<String>,
    /// A signed-in session ends after this long unused [default: 2h].
    #[arg(
        long,
        env = "PORTIER_SESSION_IDLE_TTL",
        global = true,
        value_name = "DURATION"
    )]
    pub session_idle_ttl: Option<String>,
    /// A signed-in session ends this long after sign-in in any case [default: 12h].
    #[arg(
        long,
        env = "PORTIER_SESSION_TTL",
        global = true,
        value_name = "DURATION"
    )]
    pub session_ttl: Option<String>,
    /// Reverse proxies in front of Portier whose X-Forwarded-For names the
    /// client, comma-separated addresses or networks (10.0.0.0/8) [default:
    /// none: the connection's address is the client's].
    #[arg(
        long,
        env = "PORTIER_TRUSTED_PROXIES",
        global = true,
        value_name = "LIST"
    )]
    pub trusted_proxies: Option<String>,
    /// The BIG register's SOAP service (CIBG's PublicV4, e.g.
    /// http://webservices.cibg.nl/Ribiz/OpenbaarV4.asmx) that registration
    /// numbers are checked against [default: none: numbers stay unchecked].
    #[arg(
        long,
        env = "PORTIER_BIG_REGISTER_URL",
        global = true,
        value_name = "URL"
    )]
    pub big_register_url: Option<String>,
    /// Self sign-up: open (anyone; a proven domain's people join its
    /// environment, others start their own), domains-only (only addresses at
    /// a proven domain) or off [default: off].
    #[arg(long, env = "PORTIER_SIGNUP", global = true, value_name = "MODE")]
    pub signup: Option<String>,
    /// The nameserver that domain proofs ask, as address:port (e.g.
    /// 127.0.0.1:5353) [default: the system's resolver].
    #[arg(long, env = "PORTIER_DNS_SERVER", global = true, value_name = "ADDR")]
    pub dns_server: Option<String>,
    /// Shared mail domains besides the built-in list (gmail.com, ziggo.nl,
    /// …), comma-separated: nobody can claim them, and they join nobody.
    #[arg(
        long,
        env = "PORTIER_PUBLIC_MAIL_DOMAINS",
        global = true,
        value_name = "LIST"
    )]
    pub public_mail_domains: Option<String>,
    /// Imports of up to this many rows run at once, in one transaction;
    /// larger ones run as a job that commits in chunks [default: 5000].
    #[arg(
        long,
        env = "PORTIER_IMPORT_SYNC_ROWS",
        global = true,
        value_name = "ROWS"
    )]
    pub import_sync_rows: Option<usize>,
    /// Rows an import job commits per transaction [default: 1000].
    #[arg(
        long,
        env = "PORTIER_IMPORT_CHUNK_ROWS",
        global = true,
        value_name = "ROWS"
    )]
    pub import_chunk_rows: Option<usize>,
    /// The largest file an import accepts, in bytes; a larger upload is
    /// refused with 413 [default: 20971520, 20 MiB].
    #[arg(
        long,
        env = "PORTIER_IMPORT_MAX_BYTES",
        global = true,
        value_name = "BYTES"
    )]
    pub import_max_bytes: Option<usize>,
    /// Log lines as text or JSON [default: text].
    #[arg(long, env = "PORTIER_LOG_FORMAT", global = true, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// The same settings as they may appear in `portier.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    activation_ttl: Option<String>,
    reset_ttl: Option<String>,
    session_idle_ttl: Option<String>,
    session_ttl: Option<String>,
    trusted_proxies: Option<String>,
    big_register_url: Option<String>,
    signup: Option<String>,
    dns_server: Option<String>,
    public_mail_domains: Option<String>,
    import_sync_rows: Option<usize>,
    import_chunk_rows: Option<usize>,
    import_max_bytes: Option<usize>,
    log_format: Option<LogFormat>,
}

/// Checked, complete configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub public_url: String,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    pub activation_ttl: Duration,
    pub reset_ttl: Duration,
    pub sessions: portier_core::sessions::SessionPolicy,
    pub trusted_proxies: portier_server::extract::TrustedProxies,
    pub big_register_url: Option<String>,
    pub signup: portier_core::domains::SignupMode,
    pub dns_server: Option<SocketAddr>,
    pub public_mail_domains: Vec<String>,
    pub import_sync_rows: usize,
    pub import_chunk_rows: usize,
    pub import_max_bytes: usize,
    pub log_format: LogFormat,
}

impl Config {
    pub fn resolve(args: &SettingsArgs) -> anyhow::Result<Config> {
        let file = read_file(args.config.as_deref())?;
        let listen_raw = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_raw.parse().with_context(|| {
            format!(
                "PORTIER_LISTEN: {listen_raw:?} is not an address and port such as 127.0.0.1:8080"
            )
        })?;
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("portier-data"));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("portier.db").display()));
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            bail!("PORTIER_DATABASE_URL must start with sqlite:// or postgres://");
        }
        let public_url = args
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| default_public_url(listen))
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("PORTIER_PUBLIC_URL: {public_url:?} must start with http:// or https://");
        }
        let smtp_url = args
            .smtp_url
            .clone()
            .or(file.smtp_url)
            .filter(|s| !s.is_empty());
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            bail!("PORTIER_SMTP_URL must start with smtp:// or smtps://");
        }
        let public_host = public_url
            .split("://")
            .nth(1)
            .unwrap_or("localhost")
            .split(['/', ':'])
            .next()
            .unwrap_or("localhost");
        let smtp_from = args
            .smtp_from
            .clone()
            .or(file.smtp_from)
            .unwrap_or_else(|| format!("portier@{public_host}"));
        let big_register_url = args
            .big_register_url
            .clone()
            .or(file.big_register_url)
            .filter(|s| !s.is_empty());
        if let Some(url) = &big_register_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("PORTIER_BIG_REGISTER_URL: {url:?} must start with http:// or https://");
        }
        let signup_raw = args.signup.clone().or(file.signup).unwrap_or_default();
        let signup = portier_core::domains::SignupMode::parse(&signup_raw).with_context(|| {
            format!("PORTIER_SIGNUP: {signup_raw:?} is not open, domains-only or off")
        })?;
        let dns_server = match args
            .dns_server
            .clone()
            .or(file.dns_server)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(raw) => Some(raw.parse::<SocketAddr>().with_context(|| {
                format!(
                    "PORTIER_DNS_SERVER: {raw:?} is not an address and port such as 127.0.0.1:53"
                )
            })?),
        };
        let public_mail_domains = args
            .public_mail_domains
            .clone()
            .or(file.public_mail_domains)
            .unwrap_or_default()
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .map(|d| {
                portier_core::domains::DomainName::parse("PORTIER_PUBLIC_MAIL_DOMAINS", d)
                    .map(|d| d.to_string())
                    .map_err(|e| {
                        anyhow::anyhow!("PORTIER_PUBLIC_MAIL_DOMAINS: {d:?}: {}", e.message)
                    })
            })
            .collect::<anyhow::Result<Vec<String>>>()?;
        let ttl =
            |name: &str, raw: Option<String>, default: Duration| -> anyhow::Result<Duration> {
                match raw {
                    None => Ok(default),
                    Some(r) => parse_duration(&r).with_context(|| name.to_owned()),
                }
            };
        Ok(Config {
            listen,
            data_dir,
            database_url,
            public_url,
            smtp_url,
            smtp_from,
            activation_ttl: ttl(
                "PORTIER_ACTIVATION_TTL",
                args.activation_ttl.clone().or(file.activation_ttl),
                TokenKind::Activation.default_ttl(),
            )?,
            reset_ttl: ttl(
                "PORTIER_RESET_TTL",
                args.reset_ttl.clone().or(file.reset_ttl),
                TokenKind::PasswordReset.default_ttl(),
            )?,
            sessions: {
                let default = portier_core::sessions::SessionPolicy::default();
                let idle = ttl(
                    "PORTIER_SESSION_IDLE_TTL",
                    args.session_idle_ttl.clone().or(file.session_idle_ttl),
                    default.idle,
                )?;
                let absolute = ttl(
                    "PORTIER_SESSION_TTL",
                    args.session_ttl.clone().or(file.session_ttl),
                    default.absolute,
                )?;
                if idle > absolute {
                    bail!("PORTIER_SESSION_IDLE_TTL cannot be longer than PORTIER_SESSION_TTL");
                }
                portier_core::sessions::SessionPolicy { idle, absolute }
            },
            trusted_proxies: portier_server::extract::TrustedProxies::parse(
                args.trusted_proxies
                    .as_deref()
                    .or(file.trusted_proxies.as_deref())
                    .unwrap_or(""),
            )
            .map_err(|e| anyhow::anyhow!("PORTIER_TRUSTED_PROXIES: {e}"))?,
            big_register_url,
            signup,
            dns_server,
            public_mail_domains,
            import_sync_rows: args
                .import_sync_rows
                .or(file.import_sync_rows)
                .unwrap_or(5_000),
            import_chunk_rows: match args.import_chunk_rows.or(file.import_chunk_rows) {
                Some(0) => bail!("PORTIER_IMPORT_CHUNK_ROWS: a chunk holds at least one row"),
                Some(n) => n,
                None => 1_000,
            },
            import_max_bytes: match args.import_max_bytes.or(file.import_max_bytes) {
                Some(0) => {
                    bail!("PORTIER_IMPORT_MAX_BYTES: a file to import holds at least one byte")
                }
                Some(n) => n,
                None => portier_server::DEFAULT_IMPORT_MAX_BYTES,
            },
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
        })
    }

    pub fn describe_database(&self) -> String {
        match self.database_url.strip_prefix("sqlite://") {
            Some(path) => format!("SQLite at {path}"),
            // Never print credentials.
            None => format!(
                "PostgreSQL at {}",
                self.database_url.rsplit('@').next().unwrap_or("?")
            ),
        }
    }

    /// Where mail goes, without credentials.
    pub fn mail_summary(&self) -> String {
        match &self.smtp_url {
            Some(url) => format!(
                "SMTP {} from {}",
                url.rsplit('@').next().unwrap_or("?"),
                self.smtp_from
            ),
            None => "development mailbox (PORTIER_SMTP_URL unset)".to_owned(),
        }
    }

    pub fn ttl_summary(&self) -> String {
        format!(
            "activation links {}, reset links {}",
            format_duration(self.activation_ttl),
            format_duration(self.reset_ttl)
        )
    }
}

fn read_file(explicit: Option<&Path>) -> anyhow::Result<FileSettings> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from("portier.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileSettings::default());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// The public URL when none is set: the listening address, named
/// `localhost` when it is a loopback one, since browsers bind passkeys to a
/// host name and refuse them on an IP address.
fn default_public_url(listen: SocketAddr) -> String {
    if listen.ip().is_loopback() {
        format!("http://localhost:{}", listen.port())
    } else {
        format!("http://{listen}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::resolve(&SettingsArgs {
            config: Some("/nonexistent-but-explicit".into()),
            ..Default::default()
        });
        assert!(c.is_err(), "an explicit file that is missing is an error");
        let dir = std::env::temp_dir().join(format!("portier-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("empty.toml");
        std::fs::write(&file, "").unwrap();
        let c = Config::resolve(&SettingsArgs {
            config: Some(file.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://portier-data/portier.db");
        assert_eq!(
            c.public_url, "http://localhost:8080",
            "a host name: passkeys work"
        );
        assert_eq!(c.activation_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(c.reset_ttl, Duration::from_secs(3600));
        assert_eq!(c.smtp_from, "portier@localhost");
        assert_eq!(c.import_max_bytes, 20 * 1024 * 1024);
        assert_eq!(
            default_public_url("0.0.0.0:9000".parse().unwrap()),
            "http://0.0.0.0:9000"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn flags_and_environment_win_over_the_file() {
        let dir = std::env::temp_dir().join(format!("portier-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("portier.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nreset_ttl = \"15m\"\npublic_url = \"https://id.example.nl/\"\nimport_max_bytes = 1000\n").unwrap();
        let args = SettingsArgs {
            config: Some(file.clone()),
            listen: Some("127.0.0.1:9100".into()),
            ..Default::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(c.reset_ttl, Duration::from_secs(900));
        assert_eq!(c.public_url, "https://id.example.nl");
        assert_eq!(c.smtp_from, "portier@id.example.nl");
        assert_eq!(c.import_max_bytes, 1000, "from the file");
        let c = Config::resolve(&SettingsArgs {
            import_max_bytes: Some(2000),
            ..args
        })
        .unwrap();
        assert_eq!(c.import_max_bytes, 2000, "the flag or variable wins");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_values_name_their_setting() {
        let bad = |args: SettingsArgs| format!("{:#}", Config::resolve(&args).unwrap_err());
        let file = Some(PathBuf::from("/dev/null"));
        assert!(
            bad(SettingsArgs {
                config: file.clone(),
                listen: Some("localhost".into()),
                ..Default::default()
            })
            .contains("PORTIER_LISTEN")
        );
        assert!(
            bad(SettingsArgs {
                config: file.clone(),
                activation_ttl: Some("7 days".into()),
                ..Default::default()
            })
            .contains("PORTIER_ACTIVATION_TTL")
        );
        assert!(
            bad(SettingsArgs {
                config: file.clone(),
                database_url: Some("mysql://x".into()),
                ..Default::default()
            })
            .contains("PORTIER_DATABASE_URL")
        );
        assert!(
            bad(SettingsArgs {
                config: file.clone(),
                smtp_url: Some("http://x".into()),
                ..Default::default()
            })
            .contains("PORTIER_SMTP_URL")
        );
        assert!(
            bad(SettingsArgs {
                config: file.clone(),
                session_idle_ttl: Some("1d".into()),
                ..Default::default()
            })
            .contains("PORTIER_SESSION_IDLE_TTL")
        );
        assert!(
            bad(SettingsArgs {
                config: file.clone(),
                trusted_proxies: Some("10.0.0.0/8, proxy.local".into()),
                ..Default::default()
            })
            .contains("PORTIER_TRUSTED_PROXIES: \"proxy.local\"")
        );
        assert!(
            bad(SettingsArgs {
                config: file.clone(),
                import_max_bytes: Some(0),
                ..Default::default()
            })
            .contains("PORTIER_IMPORT_MAX_BYTES")
        );
        let c = Config::resolve(&SettingsArgs {
            config: file.clone(),
            trusted_proxies: Some("10.0.0.0/8".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(c.trusted_proxies.contains("10.1.1.1".parse().unwrap()));
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = std::env::temp_dir().join(format!("portier-cfg3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("portier.toml");
        std::fs::write(&file, "listn = \"127.0.0.1:9000\"\n").unwrap();
        let e = format!(
            "{:#}",
            Config::resolve(&SettingsArgs {
                config: Some(file),
                ..Default::default()
            })
            .unwrap_err()
        );
        assert!(e.contains("listn"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
