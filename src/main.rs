//! `partnership`: serve (default), migrate, or check a server's health.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use partnership::config::{
    AuditArgs, Cli, Command, DbArgs, GenerateArgs, HealthArgs, ServeArgs, TokenArgs, TokenCommand,
};
use partnership::server::{
    self, ConnectionLimits, Keepalive, Listeners, MessageLimits, ServerConfig, TlsConfig,
};
use partnership::store::Store;
use partnership::telemetry;

type BoxError = Box<dyn std::error::Error>;

/// mimalloc rather than the system allocator: a call allocates and frees
/// many small buffers across threads (HTTP/2 frames, rows, messages), and
/// glibc's malloc took about a fifth of the server's CPU on point reads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::from_command_line();
    let telemetry = match telemetry::init(cli.log_format, cli.otlp_endpoint.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("partnership: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Migrate(db)) => migrate(&db).await,
        Some(Command::Serve(args)) => serve(&args).await,
        Some(Command::Health(args)) => health(&args).await,
        Some(Command::SeedDemo(db)) => seed_demo(&db).await,
        Some(Command::Generate(args)) => generate(&args).await,
        Some(Command::Token(TokenCommand::New(args))) => new_token(&args),
        Some(Command::Audit(args)) => audit(&args).await,
        Some(Command::Openapi) => openapi(),
        Some(Command::Backup(args)) => backup(&args).await,
        Some(Command::Restore(args)) => restore(&args).await,
        None => serve(&cli.serve).await,
    };
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %partnership::api::cause_chain(&*e), "exiting");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}

/// Copies the SQLite database to `--to`.
async fn backup(args: &partnership::config::BackupArgs) -> Result<(), BoxError> {
    let copied = partnership::store::backup::backup(&args.db.database_url, &args.to).await?;
    log_copied(&copied, "backup written and checked");
    Ok(())
}

fn log_copied(copied: &partnership::store::backup::Copied, message: &str) {
    tracing::info!(
        file = %copied.path.display(),
        bytes = copied.bytes,
        migrations = copied.migrations,
        took_ms = copied.took.as_millis() as u64,
        "{message}"
    );
}

/// Puts the backup `--from` in place as the SQLite database.
async fn restore(args: &partnership::config::RestoreArgs) -> Result<(), BoxError> {
    let copied =
        partnership::store::backup::restore(&args.from, &args.db.database_url, args.force).await?;
    log_copied(&copied, "backup restored; start the service on it");
    Ok(())
}

/// Writes the OpenAPI document to standard output.
fn openapi() -> Result<(), BoxError> {
    use std::io::Write;
    let document = partnership::rest::openapi::current()?;
    std::io::stdout().lock().write_all(&document)?;
    Ok(())
}

/// Connects to the database of `db` with `config`; when its server does
/// not have it and --create-database is given, creates it first. (A
/// database that exists is never touched: the flag may stay set where the
/// user has no right to create databases.)
async fn open(db: &DbArgs, config: &partnership::store::DbConfig) -> Result<Store, BoxError> {
    match Store::connect(config).await {
        Err(partnership::store::StoreError::DatabaseMissing { .. }) if db.create_database => {
            if partnership::store::create_database(&db.database_url).await? {
                tracing::info!("database created (--create-database)");
            }
            Ok(Store::connect(config).await?)
        }
        connected => Ok(connected?),
    }
}

/// Logs what the process runs on: its version, the database (password
/// hidden) and the migrations it has.
async fn log_database(store: &Store, what: &str) -> Result<(), BoxError> {
    let (migrations, latest) = store.migrations_applied().await?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        database = %store.url_redacted(),
        migrations,
        latest = latest.as_deref().unwrap_or("none"),
        "{what}"
    );
    Ok(())
}

async fn migrate(db: &DbArgs) -> Result<(), BoxError> {
    let store = open(db, &db.db_config()).await?;
    store.migrate().await?;
    log_database(&store, "migrations applied").await?;
    store.close().await;
    Ok(())
}

/// Prints recent audit events of a record or a caller, newest first.
async fn audit(args: &AuditArgs) -> Result<(), BoxError> {
    let quoted = |flag: &str, value: &str| -> Result<String, BoxError> {
        if value.contains(['"', '\\']) {
            return Err(format!("--{flag} must not contain quotes or backslashes").into());
        }
        Ok(format!("{} = \"{value}\"", flag))
    };
    let mut terms = Vec::new();
    if let Some(resource) = &args.resource {
        terms.push(quoted("resource", resource)?);
    }
    if let Some(caller) = &args.caller {
        terms.push(quoted("caller", caller)?);
    }
    if let Some(filter) = &args.filter {
        terms.push(format!("({filter})"));
    }
    let request = partnership::pb::ListAuditEventsRequest {
        page_size: i32::try_from(args.limit.clamp(1, 1000)).unwrap_or(1000),
        filter: terms.join(" AND "),
        ..Default::default()
    };
    // Read only: the database is not migrated here (a server does that).
    let store = open(&args.db, &args.db.db_config()).await?;
    let page = partnership::api::list_audit_events(&store, &request).await;
    store.close().await;
    let page = page.map_err(|e| match e {
        partnership::api::ApiError::Invalid(v) => v.to_string(),
        other => partnership::api::cause_chain(&other),
    })?;
    if page.audit_events.is_empty() {
        println!("no audit events match");
    }
    for e in &page.audit_events {
        let time = e
            .commit_time
            .and_then(|t| {
                chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
            })
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        let kind = partnership::pb::ChangeKind::try_from(e.kind)
            .map(|k| {
                k.as_str_name()
                    .trim_start_matches("CHANGE_KIND_")
                    .to_owned()
            })
            .unwrap_or_else(|_| e.kind.to_string());
        let mut line = format!(
            "#{} {time} {} {} {kind} {}",
            e.sequence, e.caller, e.method, e.resource
        );
        if !e.request_id.is_empty() {
            line.push_str(&format!(" request_id={}", e.request_id));
        }
        if !e.changed_fields.is_empty() {
            line.push_str(&format!(" changed={}", e.changed_fields.join(",")));
        }
        println!("{line}");
    }
    Ok(())
}

/// Loads the demo records that are not there yet.
async fn seed_demo(db: &DbArgs) -> Result<(), BoxError> {
    let store = open(db, &db.db_config()).await?;
    store.migrate().await?;
    let report = partnership::seed::seed_demo(&store).await?;
    println!(
        "demo data: {} records created, {} already present",
        report.created, report.already_present
    );
    store.close().await;
    Ok(())
}

/// Loads a generated dataset into an empty database.
async fn generate(args: &GenerateArgs) -> Result<(), BoxError> {
    let store = open(&args.db, &args.db.db_config()).await?;
    store.migrate().await?;
    if store.has_records().await? {
        return Err("the database already holds records; generate loads into an empty one".into());
    }
    let counts = partnership::generate::Counts {
        companies: args.companies,
        smes: args.smes,
        programs: args.programs,
        participations: args.participations,
    };
    if counts.companies == 0 && (counts.programs > 0) {
        return Err("programs need at least one company (--companies)".into());
    }
    if counts.smes == 0 && counts.participations > 0 {
        return Err("participations need at least one SME (--smes)".into());
    }
    let rows = counts.companies + counts.smes + counts.programs + counts.participations;
    // 15,000 to 30,000 rows/s on PostgreSQL on a two-core machine.
    let minutes = |rate: u64| rows.div_ceil(rate * 60);
    eprintln!(
        "loading {rows} generated rows ({} companies, {} SMEs, {} programs, {} participations): \
         about {} to {} minutes on PostgreSQL at 15,000-30,000 rows/s; \
         --smes, --programs and --participations make it smaller",
        counts.companies,
        counts.smes,
        counts.programs,
        counts.participations,
        minutes(30_000),
        minutes(15_000),
    );
    let report = partnership::generate::generate(&store, counts, args.seed).await?;
    println!(
        "generated {} rows in {:.1} s: {:.0} rows/s",
        report.rows,
        report.elapsed.as_secs_f64(),
        report.rows_per_second()
    );
    store.analyze().await?;
    store.close().await;
    Ok(())
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, BoxError> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()).into())
}

/// Prints a fresh token and the entry that lets it in.
fn new_token(args: &TokenArgs) -> Result<(), BoxError> {
    use std::io::Write;
    let (token, entry) = partnership::auth::token_entry(&args.name, &args.scopes)?;
    let name = &args.name;
    // Everything but the token goes to stderr (or the file) as TOML
    // comments and the entry, so `2>>callers.toml` appends a valid entry.
    let text = format!(
        "\n# {name}: the token was printed once (the server keeps only its hash).\n\
         # {name} sends it as `authorization: Bearer <token>` metadata.\n{entry}"
    );
    match &args.append {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
            eprintln!(
                "{name}: entry appended to {}; send the server SIGHUP to let the token in",
                path.display()
            );
        }
        None => eprintln!(
            "{text}# Add this entry to the callers' file (--auth-config), then send the server SIGHUP."
        ),
    }
    println!("{token}");
    Ok(())
}

async fn serve(args: &ServeArgs) -> Result<(), BoxError> {
    let auth = match &args.auth_config {
        Some(path) => Some(std::sync::Arc::new(partnership::auth::Auth::load(path)?)),
        None => None,
    };
    if auth.is_none() && !args.listen.ip().is_loopback() {
        if !args.insecure_no_auth {
            return Err(format!(
                "refusing to listen on {} without --auth-config: anyone who reaches it could read and write everything. \
                 Give --auth-config (see `partnership token new`), listen on a loopback address, \
                 or pass --insecure-no-auth if something in front of this server authenticates callers",
                args.listen
            )
            .into());
        }
        tracing::warn!(listen = %args.listen, "--insecure-no-auth: listening beyond loopback with auth off");
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsConfig {
            cert: read(cert, "TLS certificate")?,
            key: read(key, "TLS key")?,
            client_ca: args
                .tls_client_ca
                .as_deref()
                .map(|p| read(p, "client CA"))
                .transpose()?,
        }),
        _ => None,
    };
    let call_timeout = Duration::from_secs(args.call_timeout);
    let db = args.db.db_config();
    let store = open(
        &args.db,
        &partnership::store::DbConfig {
            statement_timeout: Some(call_timeout),
            queue: partnership::store::QueueConfig {
                max_wait: call_timeout,
                ..db.queue
            },
            read_url: args.database_read_url.clone(),
            read_wait: args.database_read_wait,
            ..db
        },
    )
    .await?;
    store.migrate().await?;
    log_database(&store, "database ready").await?;
    let bind = |addr, what: &'static str| async move {
        server::bind(addr)
            .await
            .map_err(|e| format!("cannot listen for {what} on {addr}: {e}"))
    };
    let listeners = Listeners {
        grpc: bind(args.listen, "gRPC (--listen)").await?,
        metrics: match args.metrics_listen.0 {
            Some(addr) => Some(bind(addr, "metrics (--metrics-listen)").await?),
            None => None,
        },
    };
    let config = ServerConfig {
        health_interval: Duration::from_secs(args.health_interval),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        tls,
        cors_origins: args.cors_allowed_origins.clone(),
        limits: MessageLimits {
            request_bytes: args.max_message_bytes,
            response_bytes: args.max_response_bytes,
        },
        connections: ConnectionLimits {
            max_connections: args.max_connections,
            idle_timeout: Duration::from_secs(args.connection_idle_timeout),
        },
        keepalive: Keepalive {
            interval: Duration::from_secs(args.http2_keepalive_interval),
            timeout: Duration::from_secs(args.http2_keepalive_timeout),
        },
        call_timeout,
        auth,
        max_concurrent_calls: args.max_concurrent_calls,
        max_header_bytes: args.max_header_bytes,
        journal_retention: args.journal_retention,
        feed_heartbeat: args.feed_heartbeat,
        summary_rollup: args.summary_rollup,
    };
    server::serve(store, listeners, config, server::shutdown_signal()).await?;
    Ok(())
}

/// Exits 0 when the server answers SERVING; for container health checks.
/// Every failure says what was tried and what to do.
async fn health(args: &HealthArgs) -> Result<(), BoxError> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let addr = args.addr;
    let tls = args.tls_ca.is_some();
    let scheme = if tls { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))?
        .connect_timeout(Duration::from_secs(args.timeout))
        .timeout(Duration::from_secs(args.timeout));
    if let Some(ca) = &args.tls_ca {
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?))
            .domain_name(args.tls_domain.clone());
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            config = config.identity(Identity::from_pem(
                read(cert, "client certificate")?,
                read(key, "client key")?,
            ));
        }
        endpoint = endpoint.tls_config(config)?;
    }
    let hint = |e: &dyn std::error::Error| {
        let chain = partnership::api::cause_chain(e);
        let advice = if chain.contains("refused") {
            "is the server running and listening there (--addr)?"
        } else if !tls {
            "if the server serves TLS, pass --tls-ca (and --tls-cert/--tls-key if it requires client certificates); otherwise check --addr"
        } else if tls
            && (chain.contains("CertificateRequired") || chain.contains("certificate required"))
        {
            "the server requires a client certificate (mutual TLS): pass --tls-cert and --tls-key"
        } else {
            "check --tls-ca, --tls-domain and, for mutual TLS, --tls-cert/--tls-key"
        };
        format!("health check of {scheme}://{addr} failed: {chain}; {advice}")
    };
    let channel = endpoint.connect().await.map_err(|e| hint(&e))?;
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: args.service.clone(),
        })
        .await
        .map_err(|e| match e.code() {
            // The server answered: it knows no such service.
            tonic::Code::NotFound => format!(
                "{addr} has no service {:?} to report on: ask for \"\" (the whole server, the default) or one of {}",
                args.service,
                server::SERVICES.join(", ")
            ),
            _ => hint(&e),
        })?
        .into_inner()
        .status;
    if status == ServingStatus::Serving as i32 {
        println!("SERVING");
        Ok(())
    } else {
        let name = ServingStatus::try_from(status).map_or("unknown", |s| s.as_str_name());
        Err(format!("{addr} answers {name}").into())
    }
}
