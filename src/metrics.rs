//! Prometheus metrics: RPCs by service, method and status code, errors by
//! reason, their latency, calls in flight, database pool use and the queue
//! for its connections, the journal and its change feed, and build info, served as
//! text on a separate HTTP listener (`/metrics`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

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
    errors: IntCounterVec,
    pool: IntGaugeVec,
    queue: IntGaugeVec,
    queue_events: IntCounterVec,
    queue_wait: prometheus::CounterVec,
    journal: IntCounterVec,
    feed_watchers: prometheus::IntGauge,
    feed_lag: prometheus::Gauge,
    settled: IntCounterVec,
    rollup: IntGaugeVec,
    replica_reads: IntCounterVec,
    page_reads: IntCounterVec,
    tls_expiry: prometheus::GaugeVec,
    /// The methods this server has, by path (`/package.Service/Method`).
    methods: HashMap<String, CallLabels>,
}

impl Metrics {
    /// Metrics for a server with `methods` (service, method).
    pub fn new(methods: Vec<(String, String)>) -> Result<Arc<Self>, prometheus::Error> {
        let registry = Registry::new();
        let handled = IntCounterVec::new(
            Opts::new(
                "grpc_server_handled_total",
                "RPCs completed on the server, by service, method, status code, caller (a name from the auth config, `anonymous` while auth is off, `unauthenticated` for calls without valid credentials) and transport (`grpc`, `grpc-web`, or `http` for HTTP/JSON).",
            ),
            &[
                "grpc_service",
                "grpc_method",
                "grpc_code",
                "caller",
                "transport",
            ],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "grpc_server_handling_seconds",
                "Time from receiving an RPC to sending its response headers, by service, method and transport.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["grpc_service", "grpc_method", "transport"],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new("grpc_server_in_flight", "RPCs being handled right now."),
            &["grpc_service", "grpc_method"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "partnership_call_errors_total",
                "RPCs that ended in an error, by service, method and the ErrorInfo reason of the error (`NONE` when it carried none): OVERLOADED (shed for load, retry after its RetryInfo) and DATABASE_UNAVAILABLE (the database out of reach) are both UNAVAILABLE, and told apart here.",
            ),
            &["grpc_service", "grpc_method", "reason"],
        )?;
        let queue = IntGaugeVec::new(
            Opts::new(
                "partnership_db_queue",
                "The queue for database connections by pool: `connections` calls may hold at once, `waiting` calls wait for one right now.",
            ),
            &["pool", "state"],
        )?;
        let queue_events = IntCounterVec::new(
            Opts::new(
                "partnership_db_queue_calls_total",
                "Calls that had to wait for a database connection, by pool and outcome: `waited` (every wait, however it ended), `overloaded` (refused at once: the queue was full), `deadline` (the deadline passed while waiting), `unreachable` (refused at once: the last health probe failed).",
            ),
            &["pool", "outcome"],
        )?;
        let queue_wait = prometheus::CounterVec::new(
            Opts::new(
                "partnership_db_queue_wait_seconds_total",
                "Time calls spent waiting for a database connection, by pool.",
            ),
            &["pool"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "partnership_db_pool_connections",
                "Database pool connections by pool (read/write) and state (idle/in_use).",
            ),
            &["pool", "state"],
        )?;
        let journal = IntCounterVec::new(
            Opts::new(
                "partnership_journal_entries_total",
                "Journal entries this process appended (one per changed record, in the change's transaction), by collection and kind (CREATED, UPDATED, DELETED, UNDELETED).",
            ),
            &["collection", "kind"],
        )?;
        let feed_watchers = prometheus::IntGauge::new(
            "partnership_feed_watchers",
            "Change feed streams (WatchChanges) open on this process.",
        )?;
        let feed_lag = prometheus::Gauge::new(
            "partnership_feed_lag_seconds",
            "How far behind the slowest change feed watcher of this process is: now less the commit time of the last change it was sent, 0 when every watcher has everything committed.",
        )?;
        let settled = IntCounterVec::new(
            Opts::new(
                "partnership_write_outcomes_settled_total",
                "Writes whose database connection failed as they committed, by what the server found when it asked the database again: landed (answered with its result), not_landed (run once more, or answered DATABASE_UNAVAILABLE), unknown (answered OUTCOME_UNKNOWN).",
            ),
            &["outcome"],
        )?;
        let rollup = IntGaugeVec::new(
            Opts::new(
                "partnership_summary_rollup",
                "The in-memory rollup SummarizePrograms answers from, by what is counted: programs, smes, participations (live), bytes (an estimate of the memory it holds). All 0 until it is built (and with --summary-rollup off).",
            ),
            &["what"],
        )?;
        for what in ROLLUP_FIGURES {
            rollup.with_label_values(&[what]).set(0);
        }
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
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(queue.clone()))?;
        registry.register(Box::new(queue_events.clone()))?;
        registry.register(Box::new(queue_wait.clone()))?;
        registry.register(Box::new(journal.clone()))?;
        registry.register(Box::new(feed_watchers.clone()))?;
        registry.register(Box::new(feed_lag.clone()))?;
        registry.register(Box::new(settled.clone()))?;
        let replica_reads = IntCounterVec::new(
            Opts::new(
                "partnership_replica_reads_total",
                "With --database-read-url: reads by who answered them: `replica` (the standby had replayed the primary's position), `primary_lagging` (it had not within --database-read-wait), `primary_unreachable` (it was out of reach).",
            ),
            &["answered_by"],
        )?;
        registry.register(Box::new(replica_reads.clone()))?;
        let page_reads = IntCounterVec::new(
            Opts::new(
                "partnership_page_reads_total",
                "Pages of List calls and export batches: `reads`, those read from the database; `callers`, the calls they answered. Callers asking for the same page at the same moment share one read, so callers minus reads is the reads saved.",
            ),
            &["what"],
        )?;
        for what in ["reads", "callers"] {
            page_reads.with_label_values(&[what]);
        }
        registry.register(Box::new(page_reads.clone()))?;
        registry.register(Box::new(rollup.clone()))?;
        let tls_expiry = prometheus::GaugeVec::new(
            Opts::new(
                "partnership_tls_certificate_expiry_timestamp_seconds",
                "With TLS on: when a certificate the server was started with stops being valid (its notAfter, Unix seconds), by certificate: `server` (the served certificate) or `client_ca` (the earliest-expiring CA of --tls-client-ca). No series while TLS is off.",
            ),
            &["certificate"],
        )?;
        registry.register(Box::new(tls_expiry.clone()))?;
        // process_cpu_seconds_total, process_resident_memory_bytes,
        // process_open_fds, process_max_fds, process_start_time_seconds, …
        // (Linux; elsewhere the collector reports nothing).
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        registry.register(Box::new(build))?;
        let methods = methods
            .into_iter()
            .map(|(service, method)| {
                let path = format!("/{service}/{method}");
                let labels = CallLabels {
                    service: service.into(),
                    method: method.into(),
                };
                (path, labels)
            })
            .collect();
        Ok(Arc::new(Self {
            registry,
            handled,
            latency,
            in_flight,
            errors,
            pool,
            queue,
            queue_events,
            queue_wait,
            journal,
            feed_watchers,
            feed_lag,
            settled,
            rollup,
            replica_reads,
            page_reads,
            tls_expiry,
            methods,
        }))
    }

    /// The Prometheus text exposition of every metric, pool use read now.
    /// Records when the server's TLS certificates expire.
    pub fn tls_expiries(&self, expiries: &[(&str, i64)]) {
        for (certificate, not_after) in expiries {
            #[allow(clippy::cast_precision_loss)]
            self.tls_expiry
                .with_label_values(&[*certificate])
                .set(*not_after as f64);
        }
    }

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
        for stats in store.queue_stats() {
            let gauge = |state: &str, n: i64| {
                self.queue.with_label_values(&[stats.role, state]).set(n);
            };
            gauge("connections", i64::from(stats.connections));
            gauge("waiting", i64::try_from(stats.waiting).unwrap_or(i64::MAX));
            for (outcome, n) in [
                ("waited", stats.waits),
                ("overloaded", stats.overloaded),
                ("deadline", stats.timed_out),
                ("unreachable", stats.unreachable),
            ] {
                // The store counts from its start; the counter catches up.
                let counter = self.queue_events.with_label_values(&[stats.role, outcome]);
                counter.inc_by(n.saturating_sub(counter.get()));
            }
            let waited = self.queue_wait.with_label_values(&[stats.role]);
            waited.inc_by((stats.waited.as_secs_f64() - waited.get()).max(0.0));
        }
        let journal = store.journal_stats();
        for (collection, kind, n) in journal.appended {
            let counter = self
                .journal
                .with_label_values(&[collection.segment(), kind.as_str()]);
            counter.inc_by(n.saturating_sub(counter.get()));
        }
        self.feed_watchers
            .set(i64::try_from(journal.watchers).unwrap_or(i64::MAX));
        self.feed_lag.set(journal.lag.as_secs_f64());
        if let Some(r) = store.rollup_stats() {
            let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            let figures = [
                r.programs as u64,
                r.smes as u64,
                r.participations,
                r.bytes as u64,
            ];
            for (what, n) in ROLLUP_FIGURES.into_iter().zip(figures) {
                self.rollup.with_label_values(&[what]).set(gauge(n));
            }
        }
        if let Some(r) = store.replica_stats() {
            for (by, n) in [
                ("replica", r.served),
                ("primary_lagging", r.waited_out),
                ("primary_unreachable", r.unreachable),
            ] {
                let counter = self.replica_reads.with_label_values(&[by]);
                counter.inc_by(n.saturating_sub(counter.get()));
            }
        }
        let pages = store.page_read_stats();
        for (what, n) in [("reads", pages.reads), ("callers", pages.callers)] {
            let counter = self.page_reads.with_label_values(&[what]);
            counter.inc_by(n.saturating_sub(counter.get()));
        }
        for (outcome, n) in store.write_outcomes() {
            let counter = self.settled.with_label_values(&[outcome]);
            counter.inc_by(n.saturating_sub(counter.get()));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The figures of `partnership_summary_rollup`, by its `what` label.
const ROLLUP_FIGURES: [&str; 4] = ["programs", "smes", "participations", "bytes"];

/// The method a call asked for, as metric labels: one of the methods this
/// server has, or `unknown` for every other path, so callers cannot grow
/// the label set.
#[derive(Debug, Clone)]
pub struct CallLabels {
    service: Arc<str>,
    method: Arc<str>,
}

impl CallLabels {
    /// Whether the call is to health or reflection (tools such as grpcurl
    /// ask reflection before every call), not to the API.
    pub fn is_tooling(&self) -> bool {
        self.service.starts_with("grpc.health.") || self.service.starts_with("grpc.reflection.")
    }

    /// `package.Service` and `Method` (`unknown` for paths no method has).
    pub fn service_and_method(&self) -> (&str, &str) {
        (&self.service, &self.method)
    }

    /// `/package.Service/Method`, or `unknown`.
    pub fn path(&self) -> String {
        if &*self.service == UNKNOWN {
            UNKNOWN.to_owned()
        } else {
            format!("/{}/{}", self.service, self.method)
        }
    }
}

const UNKNOWN: &str = "unknown";

/// Every `/package.Service/Method` in encoded descriptor sets.
pub fn methods_of(descriptor_sets: &[&[u8]]) -> Result<Vec<(String, String)>, prost::DecodeError> {
    use prost::Message;
    let mut out = Vec::new();
    for bytes in descriptor_sets {
        let set = prost_types::FileDescriptorSet::decode(*bytes)?;
        for file in &set.file {
            for service in &file.service {
                let full = format!("{}.{}", file.package(), service.name());
                for method in &service.method {
                    out.push((full.clone(), method.name().to_owned()));
                }
            }
        }
    }
    Ok(out)
}

/// An `ErrorInfo` reason as a label: this server's reasons are short
/// upper-case words; anything else (a reason a layer below made up) is
/// `OTHER`, so the label set stays closed.
fn reason_label(reason: Option<&str>) -> &str {
    match reason {
        None => "NONE",
        Some(r)
            if !r.is_empty()
                && r.len() <= 40
                && r.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
        {
            r
        }
        Some(_) => "OTHER",
    }
}

/// Canonical code name as in grpc-ecosystem's metrics (`OK`, `NotFound`, …).
fn code_label(code: tonic::Code) -> String {
    match code {
        tonic::Code::Ok => "OK".to_owned(),
        other => format!("{other:?}"),
    }
}

impl Metrics {
    /// The labels of a request path.
    pub fn labels(&self, path: &str) -> CallLabels {
        match self.methods.get(path) {
            Some(labels) => labels.clone(),
            None => CallLabels {
                service: UNKNOWN.into(),
                method: UNKNOWN.into(),
            },
        }
    }

    pub fn started(&self, labels: &CallLabels) {
        self.in_flight
            .with_label_values(&[&*labels.service, &*labels.method])
            .inc();
    }

    pub fn finished(
        &self,
        labels: &CallLabels,
        transport: &str,
        caller: &str,
        code: tonic::Code,
        reason: Option<&str>,
        elapsed: std::time::Duration,
    ) {
        let (service, method) = (&*labels.service, &*labels.method);
        if code != tonic::Code::Ok {
            self.errors
                .with_label_values(&[service, method, reason_label(reason)])
                .inc();
        }
        self.in_flight.with_label_values(&[service, method]).dec();
        self.latency
            .with_label_values(&[service, method, transport])
            .observe(elapsed.as_secs_f64());
        self.handled
            .with_label_values(&[service, method, &code_label(code), caller, transport])
            .inc();
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
