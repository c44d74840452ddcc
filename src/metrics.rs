//! Prometheus metrics: RPCs by service, method and status code, their
//! latency, calls in flight, database pool use and build info, served as
//! text on a separate HTTP listener (`/metrics`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::net::TcpListener;

use crate::store::Store;

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    handled: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGaugeVec,
    pool: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Arc<Self>, prometheus::Error> {
        let registry = Registry::new();
        let handled = IntCounterVec::new(
            Opts::new(
                "grpc_server_handled_total",
                "RPCs completed on the server, by service, method and status code.",
            ),
            &["grpc_service", "grpc_method", "grpc_code"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "grpc_server_handling_seconds",
                "Time from receiving an RPC to sending its response headers.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["grpc_service", "grpc_method"],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new("grpc_server_in_flight", "RPCs being handled right now."),
            &["grpc_service", "grpc_method"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "partnership_db_pool_connections",
                "Database pool connections by pool (read/write) and state (idle/in_use).",
            ),
            &["pool", "state"],
        )?;
        let build = IntGaugeVec::new(
            Opts::new(
                "partnership_build_info",
                "Always 1; labels describe the build.",
            ),
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        registry.register(Box::new(handled.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(build))?;
        Ok(Arc::new(Self {
            registry,
            handled,
            latency,
            in_flight,
            pool,
        }))
    }

    /// The Prometheus text exposition of every metric, pool use read now.
    pub fn render(&self, store: &Store) -> String {
        for stats in store.pool_stats() {
            let in_use = i64::from(stats.size).saturating_sub(stats.idle as i64);
            self.pool
                .with_label_values(&[stats.role, "idle"])
                .set(stats.idle as i64);
            self.pool
                .with_label_values(&[stats.role, "in_use"])
                .set(in_use.max(0));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Splits `/package.Service/Method`.
fn split_path(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default().to_owned();
    let method = parts.next().unwrap_or_default().to_owned();
    (service, method)
}

/// Canonical code name as in grpc-ecosystem's metrics (`OK`, `NotFound`, …).
fn code_label(code: tonic::Code) -> String {
    match code {
        tonic::Code::Ok => "OK".to_owned(),
        other => format!("{other:?}"),
    }
}

/// The gRPC status of a response: trailers-only responses (every unary
/// error) carry it in the headers; a unary response without it is OK.
pub fn response_code<B>(res: &http::Response<B>) -> tonic::Code {
    res.headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32)
}

/// Tower layer recording every RPC in [`Metrics`].
#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// Decrements the in-flight gauge however the call ends (even cancelled).
struct InFlight(prometheus::IntGauge);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for MetricsService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = self.metrics.clone();
        let (service, method) = split_path(req.uri().path());
        Box::pin(async move {
            let gauge = metrics.in_flight.with_label_values(&[&service, &method]);
            gauge.inc();
            let _guard = InFlight(gauge);
            let start = Instant::now();
            let result = inner.call(req).await;
            let code = match &result {
                Ok(res) => response_code(res),
                Err(_) => tonic::Code::Internal,
            };
            metrics
                .latency
                .with_label_values(&[&service, &method])
                .observe(start.elapsed().as_secs_f64());
            metrics
                .handled
                .with_label_values(&[&service, &method, &code_label(code)])
                .inc();
            result
        })
    }
}

/// Serves `/metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            let store = store.clone();
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.render(&store),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
