//! Every call, however it ends (completed, refused, cancelled by the caller,
//! deadline passed, connection dropped), is one span, one "rpc finished"
//! log line and one count in the metrics, with its final status (and, for
//! an error, its `ErrorInfo` reason, so OVERLOADED and DATABASE_UNAVAILABLE
//! are told apart although both are UNAVAILABLE; the log line also names
//! the request fields at fault). The status
//! is read from the response headers (trailers-only responses, every unary
//! error) or from the trailers at the end of the body (streams); a call
//! whose future or body is dropped before either ends as DEADLINE_EXCEEDED
//! when its caller's deadline has passed, CANCELLED otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame};
use pin_project_lite::pin_project;
use tracing::{Instrument, Span, debug, info};

use tokio::sync::OwnedSemaphorePermit;

use super::access::Gate;
use crate::metrics::{CallLabels, Metrics};
use crate::store::{deadline, journal};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The tower layer that admits and records every call. A call whose
/// caller's deadline comes before `call_timeout` runs with that deadline
/// in scope, so the store can have the database give up when the caller
/// does; a call still running at its deadline (or `call_timeout`) is cut
/// off with DEADLINE_EXCEEDED.
pub fn layer<S>(
    metrics: Arc<Metrics>,
    gate: Arc<Gate>,
    call_timeout: Duration,
) -> impl tower::Layer<S, Service = Calls<S>> + Clone {
    tower::layer::layer_fn(move |inner| Calls {
        inner,
        metrics: metrics.clone(),
        gate: gate.clone(),
        call_timeout,
    })
}

#[derive(Clone)]
pub struct Calls<S> {
    inner: S,
    metrics: Arc<Metrics>,
    gate: Arc<Gate>,
    call_timeout: Duration,
}

/// How a call ended: its code and, for an error, the `ErrorInfo` reason
/// its details carry and the request fields they name at fault.
struct Outcome {
    code: tonic::Code,
    reason: Option<String>,
    fields: Option<String>,
}

impl Outcome {
    fn code(code: tonic::Code) -> Self {
        Self {
            code,
            reason: None,
            fields: None,
        }
    }

    fn of(status: &tonic::Status) -> Self {
        use tonic_types::StatusExt;
        let info = (status.code() != tonic::Code::Ok)
            .then(|| status.get_details_error_info())
            .flatten();
        let (reason, fields) = match info {
            Some(mut info) => (Some(info.reason), info.metadata.remove("fields")),
            None => (None, None),
        };
        Self {
            code: status.code(),
            reason,
            fields,
        }
    }
}

/// The outcome a gRPC status header or trailer carries (the details are
/// decoded only for errors).
fn status_in(headers: &HeaderMap) -> Option<Outcome> {
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32)?;
    if code == tonic::Code::Ok {
        return Some(Outcome::code(code));
    }
    Some(
        tonic::Status::from_header_map(headers)
            .map_or_else(|| Outcome::code(code), |status| Outcome::of(&status)),
    )
}

/// The caller's deadline: its `grpc-timeout` from the start of the call.
fn deadline(headers: &HeaderMap, start: Instant) -> Option<Instant> {
    let timeout = crate::rest::grpc_timeout(headers.get("grpc-timeout")?.to_str().ok()?)?;
    start.checked_add(timeout)
}

/// The headers that tie a response to its call: its trace id and request
/// id. Both are new on every call, so they are sent as never-indexed
/// literals: HPACK would otherwise add each to the connection's table,
/// evicting the headers every response repeats, and search the table's
/// growing run of them on every response (about a twentieth of the
/// server's CPU on a point read, in a profile).
struct Stamp {
    trace_id: HeaderValue,
    request_id: Option<HeaderValue>,
}

impl Stamp {
    fn on(self, headers: &mut HeaderMap) {
        let mut trace_id = self.trace_id;
        trace_id.set_sensitive(true);
        headers.insert(crate::telemetry::TRACE_ID, trace_id);
        if let Some(mut request_id) = self.request_id {
            request_id.set_sensitive(true);
            headers.insert(REQUEST_ID, request_id);
        }
    }
}

/// One call in flight; records it exactly once, when it ends or is dropped.
struct Call {
    metrics: Arc<Metrics>,
    labels: CallLabels,
    transport: crate::rest::Transport,
    caller: Arc<str>,
    /// The call's place in the server's limit, given back when it ends.
    _permit: Option<OwnedSemaphorePermit>,
    span: Span,
    start: Instant,
    deadline: Option<Instant>,
    done: bool,
}

impl Call {
    fn finish(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.start.elapsed();
        let Outcome {
            code,
            reason,
            fields,
        } = outcome;
        self.metrics.finished(
            &self.labels,
            self.transport.as_str(),
            &self.caller,
            code,
            reason.as_deref(),
            elapsed,
        );
        self.span.record("code", tracing::field::debug(code));
        crate::telemetry::call_ended(&self.span, code);
        if let Some(reason) = &reason {
            self.span.record("reason", tracing::field::display(reason));
        }
        if let Some(fields) = &fields {
            self.span.record("fields", tracing::field::display(fields));
        }
        // Microseconds are as fine as a log reader needs.
        let latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        // A successful health check or reflection lookup (grpcurl makes one
        // before every call) is logged at debug, so the log shows the API.
        if code == tonic::Code::Ok && self.labels.is_tooling() {
            self.span.in_scope(|| debug!(latency_ms, "rpc finished"));
        } else {
            self.span.in_scope(|| info!(latency_ms, "rpc finished"));
        }
    }
}

/// How close to its deadline a call dropped by its caller counts as past
/// it: the caller's timer started before the request reached the server,
/// so its own cancel at the deadline arrives a little before the server's
/// reckoning of it.
const DEADLINE_SLACK: Duration = Duration::from_millis(20);

/// A call dropped before its end: its deadline passed, or its caller
/// cancelled it or went away.
impl Drop for Call {
    fn drop(&mut self) {
        let code = match self.deadline {
            Some(deadline) if Instant::now() + DEADLINE_SLACK >= deadline => {
                tonic::Code::DeadlineExceeded
            }
            _ => tonic::Code::Cancelled,
        };
        self.finish(Outcome::code(code));
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Calls<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<CallBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let labels = self.metrics.labels(req.uri().path());
        let transport = req
            .extensions()
            .get::<crate::rest::Transport>()
            .copied()
            .unwrap_or(crate::rest::Transport::Grpc);
        let request_id = req.headers().get(REQUEST_ID).cloned();
        let (caller, permit, refusal) = match self.gate.admit(&req) {
            Ok(a) => (a.caller, a.permit, None),
            Err(r) => (r.caller, None, Some(r.refusal)),
        };
        // Who the call's writes are journaled under.
        let journaled_as = journal::CallInfo {
            caller: caller.clone(),
            method: req.uri().path().trim_start_matches('/').into(),
        };
        let span = tracing::info_span!(
            "rpc",
            method = %labels.path(),
            transport = transport.as_str(),
            caller = %caller,
            request_id = request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
            trace_id = tracing::field::Empty,
            otel.name = tracing::field::Empty,
            otel.kind = tracing::field::Empty,
            code = tracing::field::Empty,
            reason = tracing::field::Empty,
            fields = tracing::field::Empty,
        );
        // The call's place in its caller's trace (see `telemetry`).
        if crate::telemetry::exporting() {
            let (service, method) = labels.service_and_method();
            span.record("otel.name", format!("{service}/{method}"));
            span.record("otel.kind", "server");
            crate::telemetry::describe_call(&span, service, method);
        }
        let trace_id = crate::telemetry::join(&span, req.headers());
        span.record("trace_id", tracing::field::display(trace_id));
        let stamp = Stamp {
            trace_id: crate::telemetry::header_value(trace_id),
            request_id,
        };
        self.metrics.started(&labels);
        let start = Instant::now();
        let callers_deadline = deadline(req.headers(), start);
        let mut call = Call {
            metrics: self.metrics.clone(),
            labels,
            transport,
            caller,
            _permit: permit,
            span: span.clone(),
            start,
            deadline: callers_deadline,
            done: false,
        };
        if let Some(refusal) = refusal {
            let status = tonic::Status::from(refusal);
            call.finish(Outcome::of(&status));
            let mut response = status
                .into_http::<ResBody>()
                .map(|body| CallBody { inner: body, call });
            stamp.on(response.headers_mut());
            return Box::pin(std::future::ready(Ok(response)));
        }
        let sooner = callers_deadline.filter(|d| *d < start + self.call_timeout);
        let cut_off = sooner.unwrap_or(start + self.call_timeout);
        Box::pin(
            async move {
                let work = deadline::scope_call(
                    sooner,
                    cut_off,
                    journal::scope(journaled_as, inner.call(req)),
                );
                // The service answers for itself just before the deadline
                // (the store stops its waits and statements early); should
                // it not have by the deadline, the call is cut off here with
                // DEADLINE_EXCEEDED and its reason, rather than the
                // transport's CANCELLED "Timeout expired".
                let Ok(result) = tokio::time::timeout_at(cut_off.into(), work).await else {
                    let status = crate::api::deadline_passed();
                    call.finish(Outcome::of(&status));
                    let mut response = status
                        .into_http::<ResBody>()
                        .map(|body| CallBody { inner: body, call });
                    stamp.on(response.headers_mut());
                    return Ok(response);
                };
                let mut response = match result {
                    Ok(response) => response,
                    Err(e) => {
                        call.finish(Outcome::code(tonic::Code::Internal));
                        return Err(e);
                    }
                };
                stamp.on(response.headers_mut());
                if let Some(outcome) = status_in(response.headers()) {
                    call.finish(outcome);
                }
                Ok(response.map(|body| CallBody { inner: body, call }))
            }
            .instrument(span),
        )
    }
}

pin_project! {
    /// A response body that records its call when its trailers arrive, when
    /// it ends, or when it is dropped unfinished.
    pub struct CallBody<B> {
        #[pin]
        inner: B,
        call: Call,
    }
}

impl<B: Body> Body for CallBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.call
                        .finish(status_in(trailers).unwrap_or(Outcome::code(tonic::Code::Unknown)));
                }
            }
            Poll::Ready(Some(Err(_))) => this.call.finish(Outcome::code(tonic::Code::Unknown)),
            // A body that ends without trailers carried a trailers-only
            // response (recorded already) or was cut short.
            Poll::Ready(None) => this.call.finish(Outcome::code(tonic::Code::Unknown)),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
