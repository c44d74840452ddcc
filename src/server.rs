//! The gRPC server: services, health, reflection, and the layers every call
//! passes (request id, one span per RPC with method, status and latency).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, Request, Response};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::{Span, info, warn};

use crate::api::{CompanyApi, ProgramApi, SmeApi};
use crate::pb;
use crate::store::{Store, StoreError};

/// Names of the services whose health follows the database.
pub const SERVICES: &[&str] = &[
    "partnership.v1.CompanyService",
    "partnership.v1.SmeService",
    "partnership.v1.ProgramService",
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
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Server settings beyond the database.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub health_interval: Duration,
}

/// Serves on `listener` until `shutdown` completes, then drains in-flight
/// calls. The store must already be migrated.
pub async fn serve(
    store: Store,
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let addr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    set_all(&health, ServingStatus::Serving).await;
    let watcher = tokio::spawn(watch_database(
        store.clone(),
        health.clone(),
        config.health_interval,
    ));

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
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
                    // Unary errors are trailers-only responses, so their
                    // status is in the headers; no grpc-status header means OK.
                    let code = res
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .map_or(tonic::Code::Ok, tonic::Code::from_i32);
                    span.record("code", tracing::field::debug(code));
                    info!(latency_ms = latency.as_secs_f64() * 1000.0, "rpc finished");
                }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .into_inner();

    info!(%addr, "listening");
    let health_for_shutdown = health.clone();
    let result = Server::builder()
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(pb::company_service_server::CompanyServiceServer::new(
            CompanyApi::new(store.clone()),
        ))
        .add_service(pb::sme_service_server::SmeServiceServer::new(SmeApi::new(
            store.clone(),
        )))
        .add_service(pb::program_service_server::ProgramServiceServer::new(
            ProgramApi::new(store.clone()),
        ))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            shutdown.await;
            info!("shutting down: not serving, draining in-flight calls");
            set_all(&health_for_shutdown, ServingStatus::NotServing).await;
        })
        .await;
    watcher.abort();
    store.close().await;
    info!("stopped");
    Ok(result?)
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
