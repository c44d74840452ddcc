//! The gRPC server: services, health, reflection, message limits, and the
//! layers every call passes (request id, gRPC-Web, one span, log line and
//! metrics count per call).

mod access;
mod calls;
mod incoming;
mod limits;

pub use incoming::ConnectionLimits;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::{info, warn};

use crate::api::{CompanyApi, InsightApi, ProgramApi, SmeApi};
use crate::auth::Auth;
use crate::metrics::{self, Metrics};
use crate::pb;
use crate::store::{Store, StoreError};
use calls::REQUEST_ID;

/// Names of the services whose health follows the database.
pub const SERVICES: &[&str] = &[
    pb::company_service_server::SERVICE_NAME,
    pb::sme_service_server::SERVICE_NAME,
    pb::program_service_server::SERVICE_NAME,
    pb::insight_service_server::SERVICE_NAME,
];

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
    pub limits: MessageLimits,
    pub connections: ConnectionLimits,
    pub keepalive: Keepalive,
    /// The longest a call may run when its caller set no shorter deadline.
    pub call_timeout: Duration,
    /// The callers who may call, from the operator's file; `None` lets
    /// anyone in (only on loopback, unless the operator insists).
    pub auth: Option<Arc<Auth>>,
    /// Most calls handled at once (health and reflection aside); more are
    /// refused at once with UNAVAILABLE and a RetryInfo.
    pub max_concurrent_calls: usize,
    /// Largest HTTP/2 header list (all metadata of a call) accepted.
    pub max_header_bytes: u32,
}

/// The default of [`ServerConfig::max_header_bytes`]: room for bearer
/// tokens and forwarded client certificates many times larger than real
/// ones (a large JWT is 8 KiB, a PEM chain in a header 4–16 KiB). Over the
/// limit the HTTP/2 layer itself answers `431 Request Header Fields Too
/// Large`, before any gRPC code runs, so no `grpc-status` can be sent: the
/// limit is set far above what a legitimate caller sends.
pub const DEFAULT_MAX_HEADER_BYTES: u32 = 256 * 1024;

/// HTTP/2 keepalive pings: sent after `interval` without anything from the
/// peer; a connection that leaves one unanswered for `timeout` is closed.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(20),
            tls: None,
            cors_origins: Vec::new(),
            limits: MessageLimits::default(),
            connections: ConnectionLimits {
                max_connections: 4096,
                idle_timeout: Duration::from_secs(120),
            },
            keepalive: Keepalive {
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(10),
            },
            call_timeout: Duration::from_secs(60),
            auth: None,
            max_concurrent_calls: 256,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
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

/// Serves on `listeners` until `shutdown` completes, then drains in-flight
/// calls. The store must already be migrated.
pub async fn serve(
    store: Store,
    listeners: Listeners,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listeners.grpc.local_addr()?;
    let stopped = Stopped::after(shutdown);
    let metrics = Metrics::new(metrics::methods_of(&DESCRIPTOR_SETS)?)?;
    let metrics_task = spawn_metrics(listeners.metrics, &metrics, &store, &stopped)?;
    let (health, health_service) = tonic_health::server::health_reporter();
    set_all(&health, ServingStatus::Serving).await;
    let background = [
        tokio::spawn(watch_database(
            store.clone(),
            health.clone(),
            config.health_interval,
        )),
        tokio::spawn(purge_request_ids(store.clone(), REQUEST_ID_PURGE_INTERVAL)),
    ];
    let reload = match &config.auth {
        Some(auth) => {
            info!(config = %auth.path().display(), callers = auth.names().len(), "auth is on");
            // The handler is in place before the server listens, so a
            // SIGHUP from then on reloads and never ends the process.
            Some(tokio::spawn(reload_on_sighup(auth.clone(), hangups()?)))
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
    let (reflection_v1, reflection_v1alpha) = reflection()?;
    let limits = &config.limits;
    // What every call passes, outermost first: a request id, CORS and
    // gRPC-Web for browsers, the span, log line and metrics of the call,
    // and the request size limit.
    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(cors_layer(&config.cors_origins))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(calls::layer(metrics.clone(), gate, config.call_timeout))
        .layer(limits::layer(limits.request_bytes))
        .into_inner();

    info!(%addr, tls = config.tls.is_some(), "listening");
    let server = builder(&config)?
        .layer(layers)
        .add_service(limits.apply(health_service))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(limits.apply(CompanyApi::server(store.clone())))
        .add_service(limits.apply(SmeApi::server(store.clone())))
        .add_service(limits.apply(ProgramApi::server(store.clone())))
        .add_service(limits.apply(InsightApi::server(store.clone())))
        .serve_with_incoming_shutdown(incoming::accept(listeners.grpc, config.connections), {
            let stopped = stopped.clone();
            async move {
                stopped.wait().await;
                info!("shutting down: not serving, refusing new connections, draining calls");
                set_all(&health, ServingStatus::NotServing).await;
            }
        });
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

/// Message limits, applied to every service in one place.
#[derive(Debug, Clone, Copy)]
pub struct MessageLimits {
    /// Largest request message accepted; larger is RESOURCE_EXHAUSTED.
    pub request_bytes: usize,
    /// Largest response message sent.
    pub response_bytes: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        Self {
            request_bytes: 4 * 1024 * 1024,
            response_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A generated service server whose message sizes can be limited.
pub trait LimitedService: Sized {
    fn limited(self, limits: MessageLimits) -> Self;
}

macro_rules! limited_service {
    ($($server:ty),+ $(,)?) => {$(
        impl<T> LimitedService for $server {
            fn limited(self, limits: MessageLimits) -> Self {
                self.max_decoding_message_size(limits.request_bytes)
                    .max_encoding_message_size(limits.response_bytes)
            }
        }
    )+};
}
limited_service!(
    pb::company_service_server::CompanyServiceServer<T>,
    pb::sme_service_server::SmeServiceServer<T>,
    pb::program_service_server::ProgramServiceServer<T>,
    pb::insight_service_server::InsightServiceServer<T>,
    tonic_health::pb::health_server::HealthServer<T>,
);

impl MessageLimits {
    fn apply<S: LimitedService>(&self, service: S) -> S {
        service.limited(*self)
    }
}

/// Every descriptor set this server serves: the method names metrics know.
pub(crate) const DESCRIPTOR_SETS: [&[u8]; 4] = [
    pb::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// How long shutdown waits for the database pools to close.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often expired request ids are purged.
const REQUEST_ID_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Resolves once the shutdown signal has come; cheap to clone and wait on.
#[derive(Clone)]
struct Stopped(tokio::sync::watch::Receiver<bool>);

impl Stopped {
    fn after(shutdown: impl Future<Output = ()> + Send + 'static) -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        Self(rx)
    }

    async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

fn spawn_metrics(
    listener: Option<TcpListener>,
    metrics: &Arc<Metrics>,
    store: &Store,
    stopped: &Stopped,
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

/// Reflection v1 and v1alpha; each lists the other too, so `list` shows
/// both whichever a client speaks.
fn reflection() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServerError,
> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let v1 = builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    Ok((v1, v1alpha))
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
    stopped: &Stopped,
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
/// cannot be reached.
async fn watch_database(store: Store, health: HealthReporter, every: Duration) {
    let mut healthy = true;
    let every = every.max(Duration::from_millis(100));
    // A probe that hangs (a database host gone silent) counts as a failure
    // once the next probe is due.
    let probe_timeout = every;
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        let ok = store.ping(probe_timeout).await.is_ok();
        if ok == healthy {
            continue;
        }
        if ok {
            info!("database reachable again: serving");
            set_all(&health, ServingStatus::Serving).await;
        } else {
            warn!("database unreachable: not serving");
            set_all(&health, ServingStatus::NotServing).await;
        }
        healthy = ok;
    }
}

/// Deletes expired request ids every `every`, starting now.
async fn purge_request_ids(store: Store, every: Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        match store.purge_request_ids().await {
            Ok(n) if n > 0 => info!(purged = n, "expired request ids purged"),
            Ok(_) => {}
            Err(e) => warn!(error = %crate::api::cause_chain(&e), "purging request ids failed"),
        }
    }
}

#[cfg(unix)]
type Hangups = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangups() -> std::io::Result<Hangups> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

#[cfg(not(unix))]
fn hangups() -> std::io::Result<Hangups> {
    Ok(())
}

/// Reads the callers' file again on every SIGHUP; a file with a mistake
/// leaves the callers in force and the log says why.
#[cfg(unix)]
async fn reload_on_sighup(auth: Arc<Auth>, mut hangups: Hangups) {
    while hangups.recv().await.is_some() {
        match auth.reload() {
            Ok(n) => info!(config = %auth.path().display(), callers = n, "auth config reloaded"),
            Err(e) => warn!(error = %e, "auth config not reloaded; the callers in force stay"),
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_auth: Arc<Auth>, _hangups: Hangups) {}

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
