//! Command line and environment: every flag is also an environment variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::store::DbConfig;

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
    #[arg(long, env = "PARTNERSHIP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve gRPC (the default).
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate(DbArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: sqlite://FILE?mode=rwc, postgres://…, or mysql://….
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://partnership.db?mode=rwc"
    )]
    pub database_url: String,

    /// Most pooled database connections (SQLite: readers; writes use one).
    #[arg(long, env = "PARTNERSHIP_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,

    /// Seconds to wait for a pooled connection before failing with UNAVAILABLE.
    #[arg(long, env = "PARTNERSHIP_DB_ACQUIRE_TIMEOUT", default_value_t = 30)]
    pub db_acquire_timeout: u64,
}

impl DbArgs {
    pub fn db_config(&self) -> DbConfig {
        DbConfig {
            url: self.database_url.clone(),
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to serve gRPC on.
    #[arg(long, env = "PARTNERSHIP_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Seconds between database checks that drive the health service.
    #[arg(long, env = "PARTNERSHIP_HEALTH_INTERVAL", default_value_t = 5)]
    pub health_interval: u64,

    #[command(flatten)]
    pub db: DbArgs,
}
