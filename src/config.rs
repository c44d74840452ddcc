//! Command line and environment: every flag is also an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::server::defaults;
use crate::store::{DbConfig, QueueConfig};
pub use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "partnership",
    version,
    about = "gRPC service for large company / SME cooperation records"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `serve`, which runs when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Log format.
    #[arg(help_heading = "Observability", long, env = "PARTNERSHIP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Export spans of calls and their database statements over OTLP/gRPC
    /// to this collector (e.g. http://127.0.0.1:4317); off when unset. The
    /// standard OTEL_* variables (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER,
    /// OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_HEADERS, …) apply.
    #[arg(
        help_heading = "Observability",
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        global = true
    )]
    pub otlp_endpoint: Option<String>,
}

impl Cli {
    /// The command line. The top-level help stays short: the subcommands,
    /// and where the server's options are (`serve --help`; they also work
    /// without `serve`).
    pub fn from_command_line() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let command = Self::command()
            .mut_args(|a| {
                if a.get_id() == "log_format" {
                    a
                } else {
                    a.hide(true)
                }
            })
            .after_help(
                "The server's options (listen, database, TLS, auth, limits, observability): \
                 `partnership serve --help`. They also work without `serve`.",
            );
        Self::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve gRPC (the default).
    Serve(Box<ServeArgs>),
    /// Apply pending migrations and exit.
    Migrate(DbArgs),
    /// Ask a running server's health service; exit 0 when it is SERVING.
    Health(HealthArgs),
    /// Apply migrations, then load the demo records of the 2026-03-10
    /// shared-growth roundtable (idempotent).
    SeedDemo(DbArgs),
    /// Apply migrations, then load a generated dataset (deterministic for a
    /// seed) into an empty database: for benchmarks and trials at scale.
    Generate(GenerateArgs),
    /// Bearer tokens for the callers' file (--auth-config).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print recent audit events (who changed which record, when, and
    /// which fields) from the database, without a client.
    Audit(AuditArgs),
    /// Print the OpenAPI 3 document of the HTTP/JSON API (what the server
    /// serves at /openapi.json; committed as docs/openapi.json).
    Openapi,
    /// Copy the embedded SQLite database to a new file while the service
    /// runs (consistent, checked; PostgreSQL: pg_dump).
    Backup(BackupArgs),
    /// Put a backup in place as the SQLite database (refuses to replace a
    /// database without --force, and one a server has open).
    Restore(RestoreArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// The backup file to write; it must not exist.
    #[arg(long)]
    pub to: std::path::PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// The backup file to restore (from `partnership backup`).
    #[arg(long)]
    pub from: std::path::PathBuf,

    /// Replace a database that is already there (never one in use).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Only this record's events, e.g. `smes/s-1a2b` (a trailing `*` matches
    /// every name it starts, e.g. `smes/*`).
    #[arg(long)]
    pub resource: Option<String>,

    /// Only this caller's events (its name in the callers' file, or
    /// `anonymous`).
    #[arg(long)]
    pub caller: Option<String>,

    /// Any ListAuditEvents filter, combined with the above, e.g.
    /// `kind = DELETED AND commit_time >= 2026-11-01`.
    #[arg(long)]
    pub filter: Option<String>,

    /// How many events, newest first (at most 1000).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh token (once: only its hash is kept) and the entry to
    /// paste into the callers' file; then send the server SIGHUP.
    New(TokenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The calling system's name, as logs and metrics will show it
    /// (a-z, 0-9, '-', '_', '.').
    pub name: String,

    /// What the caller may do: read, write, admin, audit (comma-separated; they
    /// do not imply one another).
    #[arg(long, value_delimiter = ',', required = true)]
    pub scopes: Vec<crate::auth::Scope>,

    /// Append the entry to this callers' file (created if missing) instead
    /// of printing it; the token alone is still printed, on stdout.
    #[arg(long, value_name = "FILE")]
    pub append: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Seed of the generator: the same seed and counts give the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Large and middle-standing companies to make.
    #[arg(long, default_value_t = 1_000)]
    pub companies: u64,

    /// SMEs to make.
    #[arg(long, default_value_t = 1_000_000)]
    pub smes: u64,

    /// Programs to make, hosted by the companies.
    #[arg(long, default_value_t = 100_000)]
    pub programs: u64,

    /// Participations to make, spread evenly over the programs.
    #[arg(long, default_value_t = 2_000_000)]
    pub participations: u64,
}

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Address of the server to ask.
    #[arg(
        long,
        env = "PARTNERSHIP_HEALTH_ADDR",
        default_value = "127.0.0.1:50051"
    )]
    pub addr: SocketAddr,

    /// Service to ask about; empty means the whole server.
    #[arg(long, default_value = "")]
    pub service: String,

    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,

    /// CA certificate (PEM) of a server that serves TLS.
    #[arg(long, env = "PARTNERSHIP_HEALTH_TLS_CA")]
    pub tls_ca: Option<PathBuf>,

    /// Client certificate (PEM) to present to a server that requires one
    /// (mutual TLS); needs --tls-key.
    #[arg(long, env = "PARTNERSHIP_HEALTH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "PARTNERSHIP_HEALTH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Name in the server certificate, when it differs from the address.
    #[arg(
        long,
        env = "PARTNERSHIP_HEALTH_TLS_DOMAIN",
        default_value = "localhost"
    )]
    pub tls_domain: String,
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: sqlite://FILE?mode=rwc, postgres://…, or mysql://….
    #[arg(
        help_heading = "Database",
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://partnership.db?mode=rwc"
    )]
    pub database_url: String,

    /// Database connections calls may hold at once (SQLite: readers;
    /// writes use one); the pool keeps one more for the health probe.
    #[arg(
        help_heading = "Database",
        long,
        env = "PARTNERSHIP_DB_MAX_CONNECTIONS",
        default_value_t = 10
    )]
    pub db_max_connections: u32,

    /// Seconds the pool may take to open a connection (or hand one over)
    /// before the call fails with UNAVAILABLE DATABASE_UNAVAILABLE; short,
    /// so callers hear of an outage before their deadline passes. Waiting
    /// while every connection is busy is not bounded by this, but by the
    /// caller's deadline (see --db-max-waiting).
    #[arg(
        help_heading = "Database",
        long,
        env = "PARTNERSHIP_DB_ACQUIRE_TIMEOUT",
        default_value_t = 1
    )]
    pub db_acquire_timeout: u64,

    /// Most calls waiting at once for a busy database connection (each
    /// waits at most until its deadline, or --call-timeout); more are
    /// refused at once with UNAVAILABLE OVERLOADED and a RetryInfo.
    #[arg(
        help_heading = "Database",
        long,
        env = "PARTNERSHIP_DB_MAX_WAITING",
        default_value_t = 128
    )]
    pub db_max_waiting: usize,

    /// Create the database --database-url names when its server does not
    /// have it (PostgreSQL, MariaDB/MySQL; needs the right to create
    /// databases). SQLite files are created anyway.
    #[arg(help_heading = "Database", long, env = "PARTNERSHIP_CREATE_DATABASE")]
    pub create_database: bool,
}

impl DbArgs {
    /// The database settings, for work outside served calls (migrate,
    /// seed-demo, generate): those wait for a connection up to
    /// the default `--call-timeout`.
    pub fn db_config(&self) -> DbConfig {
        DbConfig {
            url: self.database_url.clone(),
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout),
            statement_timeout: None,
            queue: QueueConfig {
                max_waiting: self.db_max_waiting,
                max_wait: Duration::from_secs(defaults::CALL_TIMEOUT_SECS),
            },
            read_url: None,
            read_wait: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to serve gRPC on.
    #[arg(
        help_heading = "Listen",
        long,
        env = "PARTNERSHIP_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    pub listen: SocketAddr,

    /// Browser origins allowed to call over gRPC-Web, comma-separated
    /// (e.g. `https://dashboard.example.go.kr`); none by default.
    #[arg(
        help_heading = "Listen",
        long,
        env = "PARTNERSHIP_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// Seconds in-flight calls may run after SIGTERM/SIGINT.
    #[arg(help_heading = "Listen", long, env = "PARTNERSHIP_SHUTDOWN_GRACE", default_value_t = defaults::SHUTDOWN_GRACE_SECS)]
    pub shutdown_grace: u64,

    #[command(flatten, next_help_heading = "Database")]
    pub db: DbArgs,

    /// A PostgreSQL standby of the database (postgres://…) that Get, List,
    /// BatchGet, Export and the insight reads go to; writes stay on the
    /// primary. Every read still sees every write acknowledged before it
    /// began (the standby must have replayed the primary's position).
    #[arg(help_heading = "Database", long, env = "PARTNERSHIP_DATABASE_READ_URL")]
    pub database_read_url: Option<String>,

    /// How long a read waits for the standby to catch up with the primary
    /// before the primary answers it instead (e.g. `200ms`).
    #[arg(help_heading = "Database", long, env = "PARTNERSHIP_DATABASE_READ_WAIT", default_value = "200ms", value_parser = parse_duration)]
    pub database_read_wait: Duration,

    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(
        help_heading = "TLS",
        long,
        env = "PARTNERSHIP_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) of --tls-cert.
    #[arg(
        help_heading = "TLS",
        long,
        env = "PARTNERSHIP_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by this CA (PEM): mutual TLS.
    #[arg(
        help_heading = "TLS",
        long,
        env = "PARTNERSHIP_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,

    /// The callers' file (TOML, or YAML when named *.yaml/*.yml): who may
    /// call, with which token or client certificate, scopes and rate limit.
    /// Read again on SIGHUP. Without it, auth is off and the server only
    /// listens on loopback addresses.
    #[arg(help_heading = "Auth", long, env = "PARTNERSHIP_AUTH_CONFIG")]
    pub auth_config: Option<PathBuf>,

    /// Listen on a non-loopback --listen address without --auth-config,
    /// letting anyone who reaches the port read and write everything.
    #[arg(
        help_heading = "Auth",
        long,
        env = "PARTNERSHIP_INSECURE_NO_AUTH",
        conflicts_with = "auth_config"
    )]
    pub insecure_no_auth: bool,

    /// Seconds a call may run when its caller set no shorter deadline (on
    /// PostgreSQL also the longest any statement runs).
    #[arg(help_heading = "Limits", long, env = "PARTNERSHIP_CALL_TIMEOUT", default_value_t = defaults::CALL_TIMEOUT_SECS)]
    pub call_timeout: u64,

    /// Most calls handled at once (health and reflection aside); more are
    /// refused at once with UNAVAILABLE and a RetryInfo, never queued.
    #[arg(help_heading = "Limits", long, env = "PARTNERSHIP_MAX_CONCURRENT_CALLS", default_value_t = defaults::MAX_CONCURRENT_CALLS)]
    pub max_concurrent_calls: usize,

    /// Largest request message accepted, in bytes; a larger one is refused
    /// with RESOURCE_EXHAUSTED before it is read.
    #[arg(help_heading = "Limits", long, env = "PARTNERSHIP_MAX_MESSAGE_BYTES", default_value_t = defaults::MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,

    /// Largest response message sent, in bytes (a List page of 1,000 long
    /// records stays under the default).
    #[arg(help_heading = "Limits", long, env = "PARTNERSHIP_MAX_RESPONSE_BYTES", default_value_t = defaults::MAX_RESPONSE_BYTES)]
    pub max_response_bytes: usize,

    /// Largest header list of a call in bytes (all its metadata, e.g. a
    /// bearer token or a forwarded client certificate). Over it, HTTP/2
    /// answers 431 before any gRPC code runs, which gRPC clients report as
    /// UNKNOWN or INTERNAL; under it, a bad token is UNAUTHENTICATED.
    #[arg(help_heading = "Limits", long, env = "PARTNERSHIP_MAX_HEADER_BYTES", default_value_t = defaults::MAX_HEADER_BYTES)]
    pub max_header_bytes: u32,

    /// Most connections open at once; more wait in the kernel's backlog.
    #[arg(help_heading = "Limits", long, env = "PARTNERSHIP_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Seconds after which a connection from which nothing has arrived is
    /// closed (live gRPC clients answer keepalive pings, so only silent or
    /// dead peers are).
    #[arg(help_heading = "Limits", 
        long,
        env = "PARTNERSHIP_CONNECTION_IDLE_TIMEOUT",
        default_value_t = defaults::CONNECTION_IDLE_TIMEOUT_SECS
    )]
    pub connection_idle_timeout: u64,

    /// Seconds between HTTP/2 keepalive pings to a connection that has sent
    /// nothing meanwhile.
    #[arg(help_heading = "Limits", 
        long,
        env = "PARTNERSHIP_HTTP2_KEEPALIVE_INTERVAL",
        default_value_t = defaults::KEEPALIVE_INTERVAL_SECS
    )]
    pub http2_keepalive_interval: u64,

    /// Seconds a keepalive ping may go unanswered before the connection is
    /// closed.
    #[arg(help_heading = "Limits", 
        long,
        env = "PARTNERSHIP_HTTP2_KEEPALIVE_TIMEOUT",
        default_value_t = defaults::KEEPALIVE_TIMEOUT_SECS
    )]
    pub http2_keepalive_timeout: u64,

    /// Address of the Prometheus `/metrics` listener, or `off`.
    #[arg(help_heading = "Observability", long, env = "PARTNERSHIP_METRICS_LISTEN", default_value = "127.0.0.1:9464", value_parser = parse_optional_addr)]
    pub metrics_listen: OptionalAddr,

    /// Seconds between database checks that drive the health service (each
    /// check has as long to answer).
    #[arg(help_heading = "Observability", long, env = "PARTNERSHIP_HEALTH_INTERVAL", default_value_t = defaults::HEALTH_INTERVAL_SECS)]
    pub health_interval: u64,

    /// How long journal entries (the audit trail and the change feed) are
    /// kept, e.g. `10years`, `400days`, `90d`; older ones are deleted
    /// hourly, and a feed token older than that is refused with
    /// RESUME_TOKEN_EXPIRED. Ten years by default: public bodies keep audit
    /// records for years.
    #[arg(help_heading = "Journal", long, env = "PARTNERSHIP_JOURNAL_RETENTION", default_value = defaults::JOURNAL_RETENTION, value_parser = parse_duration)]
    pub journal_retention: Duration,

    /// How long an idle change feed stream goes without a message: it then
    /// gets a heartbeat (no changes, the current resume_token), which also
    /// keeps proxies from closing it.
    #[arg(help_heading = "Journal", long, env = "PARTNERSHIP_FEED_HEARTBEAT", default_value = defaults::FEED_HEARTBEAT, value_parser = parse_duration)]
    pub feed_heartbeat: Duration,

    /// `on`: SummarizePrograms is answered from an in-memory rollup of the
    /// programs and the SMEs taking part in them, built at start (until
    /// then, and with `off`, totals are counted in the database on every
    /// call: seconds at a million SMEs) and kept current from the journal.
    /// It holds about 40 MB per million SMEs with two participations each.
    #[arg(help_heading = "Journal", long, env = "PARTNERSHIP_SUMMARY_ROLLUP", default_value = "on", value_parser = parse_switch)]
    pub summary_rollup: bool,
}

/// `on` or `off`.
fn parse_switch(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{value:?} is neither `on` nor `off`")),
    }
}

/// A duration such as `15s`, `250ms`, `90d` or `10years` (humantime), at
/// least a millisecond.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(value.trim())
        .map_err(|e| format!("{value:?} is not a duration such as 15s, 90d or 10years: {e}"))?;
    if d < Duration::from_millis(1) {
        return Err(format!("{value:?} is shorter than a millisecond"));
    }
    Ok(d)
}

/// A socket address, or none when the value is `off`.
#[derive(Debug, Clone, Copy)]
pub struct OptionalAddr(pub Option<SocketAddr>);

fn parse_optional_addr(value: &str) -> Result<OptionalAddr, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(OptionalAddr(None));
    }
    value
        .parse()
        .map(|a| OptionalAddr(Some(a)))
        .map_err(|e| format!("{value:?} is not an address or `off`: {e}"))
}
