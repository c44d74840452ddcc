//! The gRPC server: services, health, reflection, and the layers every call
//! passes (request id, one span per RPC with method, status and latency).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, Request, Response};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::{Span, info, warn};

use crate::api::{CompanyApi, ProgramApi, SmeApi};
use crate::metrics::{Metrics, MetricsLayer, response_code};
use crate::pb;
use crate::store::{Store, StoreError};

/// Names of the services whose health follows the database.
pub const SERVICES: &[&str] = &[
    pb::company_service_server::SERVICE_NAME,
    pb::sme_service_server::SERVICE_NAME,
    pb::program_service_server::SERVICE_NAME,
];

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
}

/// Server settings beyond the database.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub health_interval: Duration,
    /// How long in-flight calls may run after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Serve TLS with this certificate and key (PEM).
    pub tls: Option<TlsConfig>,
    /// Browser origins allowed to call over gRPC-Web (CORS); empty: none.
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(20),
            tls: None,
            cors_origins: Vec::new(),
        }
    }
}

/// PEM-encoded TLS material.
#[derive(Clone)]
pub struct TlsConfig {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("client_ca", &self.client_ca.is_some())
            .finish_non_exhaustive()
    }
}

/// The sockets a server listens on.
pub struct Listeners {
    pub grpc: TcpListener,
    /// Prometheus `/metrics`; none disables it.
    pub metrics: Option<TcpListener>,
}

/// Serves on `listener` until `shutdown` completes, then drains in-flight
/// calls. The store must already be migrated.
pub async fn serve(
    store: Store,
    listeners: Listeners,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = listeners.grpc;
    let addr = listener.local_addr()?;
    let metrics = Metrics::new()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let metrics_task = match listeners.metrics {
        Some(l) => {
            info!(addr = %l.local_addr()?, "metrics listening");
            Some(tokio::spawn(crate::metrics::serve(
                l,
                metrics.clone(),
                store.clone(),
                stopped(),
            )))
        }
        None => None,
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    set_all(&health, ServingStatus::Serving).await;
    let watcher = tokio::spawn(watch_database(
        store.clone(),
        health.clone(),
        config.health_interval,
    ));

    // Each version lists the other too, so `list` shows both whichever a
    // client speaks.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = reflection()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(|req: &Request<_>| {
                    let request_id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "rpc",
                        method = %req.uri().path(),
                        request_id = %request_id,
                        code = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_failure(())
                .on_response(|res: &Response<_>, latency: Duration, span: &Span| {
                    let code = response_code(res);
                    span.record("code", tracing::field::debug(code));
                    info!(latency_ms = latency.as_secs_f64() * 1000.0, "rpc finished");
                }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(MetricsLayer::new(metrics.clone()))
        .layer(cors_layer(&config.cors_origins))
        .layer(tonic_web::GrpcWebLayer::new())
        .into_inner();

    let mut builder = Server::builder().accept_http1(true);
    if let Some(tls) = &config.tls {
        let mut tls_config =
            ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert, &tls.key));
        if let Some(ca) = &tls.client_ca {
            tls_config = tls_config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder.tls_config(tls_config)?;
    }

    info!(%addr, tls = config.tls.is_some(), "listening");
    let health_for_shutdown = health.clone();
    let server = builder
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(CompanyApi::server(store.clone()))
        .add_service(SmeApi::server(store.clone()))
        .add_service(ProgramApi::server(store.clone()))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), {
            let stopped = stopped();
            async move {
                stopped.await;
                info!("shutting down: not serving, refusing new connections, draining calls");
                set_all(&health_for_shutdown, ServingStatus::NotServing).await;
            }
        });
    let grace = config.shutdown_grace;
    let deadline = {
        let stopped = stopped();
        async move {
            stopped.await;
            tokio::time::sleep(grace).await;
        }
    };
    let result = tokio::select! {
        r = server => r,
        () = deadline => {
            warn!(?grace, "shutdown grace period over; dropping the calls still running");
            Ok(())
        }
    };
    watcher.abort();
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    store.close().await;
    info!("stopped");
    Ok(result?)
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
            HeaderName::from_static("content-type"),
            HeaderName::from_static("x-grpc-web"),
            HeaderName::from_static("x-user-agent"),
            HeaderName::from_static("grpc-timeout"),
            REQUEST_ID,
        ])
        .expose_headers([
            HeaderName::from_static("grpc-status"),
            HeaderName::from_static("grpc-message"),
            HeaderName::from_static("grpc-status-details-bin"),
            REQUEST_ID,
        ])
        .max_age(Duration::from_secs(600))
}

async fn set_all(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    for service in SERVICES {
        health.set_service_status(service, status).await;
    }
}

/// Keeps the health service in step with the database: NOT_SERVING while it
/// cannot be reached; also purges expired request ids now and then.
async fn watch_database(store: Store, health: HealthReporter, every: Duration) {
    let mut healthy = true;
    let mut ticks: u64 = 0;
    let mut interval = tokio::time::interval(every.max(Duration::from_millis(100)));
    loop {
        interval.tick().await;
        ticks += 1;
        let ok = store.ping().await.is_ok();
        if ok != healthy {
            if ok {
                info!("database reachable again: serving");
            } else {
                warn!("database unreachable: not serving");
            }
            let status = if ok {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            set_all(&health, status).await;
            healthy = ok;
        }
        if ok && ticks % 720 == 1 {
            match store.purge_request_ids().await {
                Ok(n) if n > 0 => info!(purged = n, "expired request ids purged"),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "purging request ids failed"),
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    Ok(TcpListener::bind(addr).await?)
}
