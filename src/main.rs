//! `partnership`: serve (default) or migrate.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use partnership::config::{Cli, Command, DbArgs, ServeArgs};
use partnership::server::{self, ServerConfig};
use partnership::store::Store;
use partnership::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let result = match cli.command {
        Some(Command::Migrate(db)) => migrate(&db).await,
        Some(Command::Serve(args)) => serve(&args).await,
        None => serve(&cli.serve).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(db: &DbArgs) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::connect(&db.db_config()).await?;
    store.migrate().await?;
    tracing::info!("migrations applied");
    store.close().await;
    Ok(())
}

async fn serve(args: &ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::connect(&args.db.db_config()).await?;
    store.migrate().await?;
    let listener = server::bind(args.listen).await?;
    let config = ServerConfig {
        health_interval: Duration::from_secs(args.health_interval),
    };
    server::serve(store, listener, config, server::shutdown_signal()).await?;
    Ok(())
}
