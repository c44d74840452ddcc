//! The gRPC server: services, health, reflection, message limits, and the
//! layers every call passes (request id, gRPC-Web, one span, log line and
//! metrics count per call).

mod access;
mod browsers;
mod calls;
mod incoming;
mod jobs;
mod limits;
mod services;
mod settings;
mod signals;

pub use incoming::ConnectionLimits;
pub use services::SERVICES;
pub use settings::{Keepalive, LimitedService, MessageLimits, ServerConfig, TlsConfig, defaults};
pub use signals::shutdown_signal;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::{info, warn};

use crate::metrics::{self, Metrics};
use crate::store::{Store, StoreError};
use calls::REQUEST_ID;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("descriptor set: {0}")]
    Descriptors(#[from] prost::DecodeError),
    #[error("HTTP/JSON: {0}")]
    Rest(#[from] crate::rest::RestError),
}

/// The sockets a server listens on.
pub struct Listeners {
    pub grpc: TcpListener,
    /// Prometheus `/metrics`; none disables it.
    pub metrics: Option<TcpListener>,
}

/// A TLS certificate that expires within this many days is warned about
/// at start (the expiry alert fires at 14 days too).
const TLS_EXPIRY_WARNING_DAYS: i64 = 14;

/// Serves on `listeners` until `shutdown` completes, then drains in-flight
/// calls. The store must already be migrated.
pub async fn serve(
    store: Store,
    listeners: Listeners,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listeners.grpc.local_addr()?;
    let stopped = signals::Stopped::after(shutdown);
    let metrics = Metrics::new(metrics::methods_of(&crate::pb::DESCRIPTOR_SETS)?)?;
    if let Some(tls) = &config.tls {
        let expiries = tls.expiries();
        metrics.tls_expiries(&expiries);
        let now = chrono::Utc::now().timestamp();
        for (certificate, not_after) in expiries {
            let days = (not_after - now) / 86_400;
            if days < TLS_EXPIRY_WARNING_DAYS {
                warn!(
                    certificate,
                    days, "TLS certificate expires soon (or has expired)"
                );
            }
        }
    }
    let metrics_task = spawn_metrics(listeners.metrics, &metrics, &store, &stopped)?;
    let (health, health_service) = tonic_health::server::health_reporter();
    jobs::set_all(&health, ServingStatus::Serving).await;
    if store.replica_stats().is_some() {
        health
            .set_service_status(jobs::READ_REPLICA, ServingStatus::Serving)
            .await;
    }
    let mut background = vec![
        tokio::spawn(jobs::watch_database(
            store.clone(),
            health.clone(),
            config.health_interval,
        )),
        tokio::spawn(jobs::purge_request_ids(
            store.clone(),
            jobs::REQUEST_ID_PURGE_INTERVAL,
        )),
        tokio::spawn(jobs::purge_journal(
            store.clone(),
            config.journal_retention,
            jobs::JOURNAL_PURGE_INTERVAL,
        )),
    ];
    if config.summary_rollup {
        background.push(tokio::spawn(jobs::keep_summary_rollup(
            store.clone(),
            jobs::ROLLUP_INTERVAL,
        )));
    }
    let reload = match &config.auth {
        Some(auth) => {
            info!(config = %auth.path().display(), callers = auth.names().len(), "auth is on");
            // The handler is in place before the server listens, so a
            // SIGHUP from then on reloads and never ends the process.
            Some(tokio::spawn(signals::reload_on_sighup(
                auth.clone(),
                signals::hangups()?,
            )))
        }
        None => {
            warn!("auth is off: every caller that reaches the port may read and write everything");
            None
        }
    };
    let gate = Arc::new(access::Gate::new(
        config.auth.clone(),
        config.max_concurrent_calls,
    ));
    let (reflection_v1, reflection_v1alpha) = services::reflection()?;
    let limits = &config.limits;
    // A JSON body may take a few times its message's bytes.
    let transcoder = Arc::new(crate::rest::Transcoder::new(
        limits.request_bytes.saturating_mul(JSON_BODY_FACTOR),
    )?);
    // What every call passes, outermost first: a request id, HTTP/JSON
    // turned into gRPC, CORS and gRPC-Web for browsers (only: see
    // `browsers`), the span, log line
    // and metrics of the call (after which a JSON call that could not be
    // made into a request is answered), and the request size limit.
    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(crate::rest::layer(transcoder))
        .layer(browsers::layer(cors_layer(&config.cors_origins)))
        .layer(calls::layer(metrics.clone(), gate, config.call_timeout))
        .layer(crate::rest::RejectedLayer)
        .layer(limits::layer(limits.request_bytes))
        .into_inner();

    info!(%addr, tls = config.tls.is_some(), "listening");
    let router = builder(&config)?
        .layer(layers)
        .add_service(limits.apply(health_service))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    let feed = crate::api::FeedSettings {
        heartbeat: config.feed_heartbeat,
        stopping: stopped.receiver(),
    };
    let server = services::add_api(router, &store, &feed, limits).serve_with_incoming_shutdown(
        incoming::accept(listeners.grpc, config.connections),
        {
            let stopped = stopped.clone();
            async move {
                stopped.wait().await;
                info!("shutting down: not serving, refusing new connections, draining calls");
                jobs::set_all(&health, ServingStatus::NotServing).await;
            }
        },
    );
    let result = drain(server, &stopped, config.shutdown_grace).await;
    for task in background.into_iter().chain(reload) {
        task.abort();
    }
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    // A connection abandoned mid-statement may never come back to its
    // pool; shutdown does not wait on it for ever.
    if tokio::time::timeout(POOL_CLOSE_TIMEOUT, store.close())
        .await
        .is_err()
    {
        warn!(timeout = ?POOL_CLOSE_TIMEOUT, "database connections still busy at exit; leaving them");
    }
    info!("stopped");
    result
}

/// How many times `--max-request-bytes` a JSON call's body may be (its
/// request message is held to the limit itself).
const JSON_BODY_FACTOR: usize = 4;

/// How long shutdown waits for the database pools to close.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

fn spawn_metrics(
    listener: Option<TcpListener>,
    metrics: &Arc<Metrics>,
    store: &Store,
    stopped: &signals::Stopped,
) -> Result<Option<tokio::task::JoinHandle<std::io::Result<()>>>, ServerError> {
    let Some(listener) = listener else {
        return Ok(None);
    };
    info!(addr = %listener.local_addr()?, "metrics listening");
    Ok(Some(tokio::spawn(metrics::serve(
        listener,
        metrics.clone(),
        store.clone(),
        stopped.clone().wait(),
    ))))
}

/// The transport: HTTP/1 for gRPC-Web, the header size limit, keepalive
/// pings, TLS when configured. Deadlines and the call timeout are the
/// calls layer's (`calls.rs`), which answers DEADLINE_EXCEEDED itself.
fn builder(config: &ServerConfig) -> Result<Server, ServerError> {
    let mut builder = Server::builder()
        .accept_http1(true)
        .http2_max_header_list_size(config.max_header_bytes)
        .http2_keepalive_interval(Some(config.keepalive.interval))
        .http2_keepalive_timeout(Some(config.keepalive.timeout));
    if let Some(tls) = &config.tls {
        let mut tls_config =
            ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert, &tls.key));
        if let Some(ca) = &tls.client_ca {
            tls_config = tls_config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder.tls_config(tls_config)?;
    }
    Ok(builder)
}

/// Runs `server` until it ends; after the shutdown signal it has `grace`
/// to drain its calls.
async fn drain(
    server: impl Future<Output = Result<(), tonic::transport::Error>>,
    stopped: &signals::Stopped,
    grace: Duration,
) -> Result<(), ServerError> {
    let deadline = {
        let stopped = stopped.clone();
        async move {
            stopped.wait().await;
            tokio::time::sleep(grace).await;
        }
    };
    tokio::select! {
        r = server => Ok(r?),
        () = deadline => {
            warn!(?grace, "shutdown grace period over; dropping the calls still running");
            Ok(())
        }
    }
}

/// CORS for gRPC-Web from browsers: only the configured origins.
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use http::{HeaderValue, Method};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            http::header::AUTHORIZATION,
            HeaderName::from_static("content-type"),
            HeaderName::from_static("x-grpc-web"),
            HeaderName::from_static("x-user-agent"),
            HeaderName::from_static("grpc-timeout"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
            REQUEST_ID,
        ])
        .expose_headers([
            HeaderName::from_static("grpc-status"),
            HeaderName::from_static("grpc-message"),
            HeaderName::from_static("grpc-status-details-bin"),
            REQUEST_ID,
            crate::telemetry::TRACE_ID,
        ])
        .max_age(Duration::from_secs(600))
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    Ok(TcpListener::bind(addr).await?)
}
