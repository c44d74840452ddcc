//! Logging and tracing: tracing to stdout, text or JSON, filtered by
//! `RUST_LOG`; and, when an OTLP endpoint is given, every call's span (a
//! child of the caller's W3C `traceparent`) and its database statements
//! exported to it with OpenTelemetry.
//!
//! Without an endpoint nothing of OpenTelemetry runs on a call's path but
//! reading its `traceparent`: the call still carries a trace id (the
//! caller's, or a new one), logged on its `rpc finished` line and returned
//! as `x-trace-id`, so logs on both sides can be matched.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The instrumentation scope of every span this server exports.
pub const SCOPE: &str = "partnership";

/// The response header that carries a call's trace id.
pub const TRACE_ID: http::HeaderName = http::HeaderName::from_static("x-trace-id");

/// Set once spans are exported: calls then join their callers' traces and
/// database statements become spans.
static EXPORTING: OnceLock<()> = OnceLock::new();

/// Whether spans are exported (an OTLP endpoint was given).
pub fn exporting() -> bool {
    EXPORTING.get().is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("--otlp-endpoint {endpoint:?}: {source}")]
    Exporter {
        endpoint: String,
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error(
        "--otlp-endpoint {0:?}: expected an http:// or https:// URL, e.g. http://127.0.0.1:4317"
    )]
    Endpoint(String),
}

/// What `init` set up; `shutdown` sends the spans not yet exported.
#[must_use]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is left (at most the exporter's timeout); called as
    /// the process exits.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The batch exporter's shutdown blocks until it has sent.
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "spans not exported at exit"),
            Err(e) => tracing::warn!(error = %e, "spans not exported at exit"),
        }
    }
}

/// Installs the global subscriber; `RUST_LOG` overrides the default `info`.
/// With `otlp_endpoint` (gRPC OTLP, e.g. `http://collector:4317`), spans
/// of calls and their statements are exported there in batches; the
/// standard `OTEL_*` variables (service name, resource attributes,
/// sampler, batch delay, headers, timeout) apply.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> Result<Telemetry, TelemetryError> {
    // tonic reports refused TLS handshakes (a missing or untrusted client
    // certificate) at debug level only; an operator needs to see them.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(
            "info,sqlx=warn,sea_orm=warn,h2=warn,tower=warn,tonic::transport::server::io_stream=debug,opentelemetry=warn",
        )
    });
    // An empty value (`OTEL_EXPORTER_OTLP_ENDPOINT=` in an .env) is unset.
    let provider = otlp_endpoint
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(provider)
        .transpose()?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // Without spans to export, RUST_LOG filters everything (a global
    // filter); with them, only the log (a per-layer filter), so that
    // calls' spans reach the exporter whatever the log shows. Each layer
    // is added as itself: a single per-layer-filtered layer, or one boxed
    // or in a Vec, lost log lines (an event its filter refused, such as a
    // driver's notice under `sqlx=warn`, left later events on its thread
    // refused), and a `None` layer enabled every callsite.
    macro_rules! install {
        ($log:expr) => {
            // A subscriber is already installed (tests start several servers).
            let _ = match &provider {
                None => tracing_subscriber::registry()
                    .with(filter)
                    .with($log)
                    .try_init(),
                Some(provider) => tracing_subscriber::registry()
                    .with($log.with_filter(filter))
                    .with(span_layer(provider.tracer(SCOPE)))
                    .try_init(),
            };
        };
    }
    match format {
        LogFormat::Text => {
            install!(tracing_subscriber::fmt::layer().with_ansi(ansi));
        }
        // The call's span once, as `span` (not again under `spans`).
        LogFormat::Json => {
            install!(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .json()
                    .with_span_list(false)
            );
        }
    }
    if let Some(provider) = &provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
        let _ = EXPORTING.set(());
    }
    Ok(Telemetry { provider })
}

/// The layer that turns this server's spans (calls, statements) into
/// OpenTelemetry spans, whatever RUST_LOG lets the log show; of its events
/// only warnings and errors become span events (the `rpc finished` line
/// would repeat the span's own attributes).
fn span_layer<S>(tracer: opentelemetry_sdk::trace::SdkTracer) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let own = tracing_subscriber::filter::filter_fn(|m| {
        let limit = if m.is_span() {
            tracing::Level::INFO
        } else {
            tracing::Level::WARN
        };
        m.target().starts_with(SCOPE) && *m.level() <= limit
    });
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_filter(own)
}

fn provider(endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(TelemetryError::Endpoint(endpoint.to_owned()));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: endpoint.to_owned(),
            source,
        })?;
    let mut resource = opentelemetry_sdk::Resource::builder().with_attribute(
        opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    );
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(SCOPE);
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// The call's place in a trace: with spans exported, `span` is made a
/// child of the caller's `traceparent` (its own trace when there is
/// none); either way the trace id the call goes by is returned.
pub fn join(span: &Span, headers: &HeaderMap) -> TraceId {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if exporting() {
        // Fails only for a span no subscriber records (filtered out).
        let _ = span.set_parent(parent);
        let own = span.context().span().span_context().trace_id();
        if own != TraceId::INVALID {
            return own;
        }
    } else {
        let callers = parent.span().span_context().trace_id();
        if callers != TraceId::INVALID {
            return callers;
        }
    }
    TraceId::from(rand::random::<u128>().max(1))
}

/// A trace id as a header value (32 lowercase hex digits).
pub fn header_value(trace_id: TraceId) -> HeaderValue {
    // 32 hex digits are always a valid header value.
    HeaderValue::from_str(&trace_id.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// Marks an exported call span with its gRPC method and, once it ends,
/// its status code (an error status for the server's failures, as
/// OpenTelemetry's RPC conventions say: not for callers' mistakes).
pub fn describe_call(span: &Span, service: &str, method: &str) {
    if !exporting() {
        return;
    }
    span.set_attribute("rpc.system", "grpc");
    span.set_attribute("rpc.service", service.to_owned());
    span.set_attribute("rpc.method", method.to_owned());
}

pub fn call_ended(span: &Span, code: tonic::Code) {
    if !exporting() {
        return;
    }
    use tonic::Code::*;
    span.set_attribute("rpc.grpc.status_code", code as i64);
    if matches!(
        code,
        Unknown | DeadlineExceeded | Unimplemented | Internal | Unavailable | DataLoss
    ) {
        span.set_status(opentelemetry::trace::Status::error(format!("{code:?}")));
    }
}

/// Reads W3C trace context from request headers.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_trace_id_is_kept_and_a_missing_one_made() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let span = Span::none();
        assert_eq!(
            join(&span, &headers).to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // Malformed (a zero trace id, a bad version) is ignored.
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "not a traceparent",
        ] {
            headers.insert("traceparent", HeaderValue::from_static(bad));
            let made = join(&span, &headers);
            assert_ne!(made, TraceId::INVALID);
            assert_ne!(made.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        }
        assert_eq!(header_value(made_id()).len(), 32);
    }

    fn made_id() -> TraceId {
        join(&Span::none(), &HeaderMap::new())
    }
}
