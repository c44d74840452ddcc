//! HTTP/JSON for callers that do not speak gRPC (AIP-127): every method
//! at the path its `google.api.http` option gives, on the gRPC port,
//! transcoded from the descriptors (nothing written route by route).
//!
//! A JSON call is turned into the gRPC call it stands for and passed, in
//! process, through the same layers as every gRPC call (authentication,
//! scopes, rate and load limits, deadlines, request ids, the log line and
//! metrics of the call, labelled `transport="http"`); its answer is turned
//! back into JSON. Errors are Google's JSON error envelope with AIP-193's
//! HTTP status; server streams are newline-delimited JSON that is read
//! from the service as the caller reads it.

mod errors;
pub mod openapi;
mod rules;
mod stream;
mod transcode;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use tonic::body::Body;

pub use rules::{BodyRule, Route, RuleError, routes};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a call arrived, for its metrics and log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    GrpcWeb,
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::GrpcWeb => "grpc-web",
            Self::Http => "http",
        }
    }
}

/// A JSON call that could not be made into its request message: answered
/// with this status by [`RejectedLayer`], inside the calls layer, so the
/// caller is authenticated first and the refusal is logged and counted
/// like any other.
#[derive(Debug, Clone)]
pub struct Rejected(pub tonic::Status);

/// The headers a JSON call carries over to its gRPC call.
const CARRIED: [HeaderName; 6] = [
    header::AUTHORIZATION,
    header::USER_AGENT,
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("grpc-timeout"),
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
];

/// Google's header for a JSON call's deadline, in seconds (`2.5`); turned
/// into `grpc-timeout` unless that is sent too.
const SERVER_TIMEOUT: HeaderName = HeaderName::from_static("x-server-timeout");

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// Where the gRPC health check (`grpc.health.v1.Health/Check`, `?service=`
/// for one service) answers JSON callers: load balancers and probes that
/// speak only HTTP.
pub const HEALTH_PATH: &str = "/healthz";

/// The API's descriptors (and the health service's), and every route:
/// those of the `google.api.http` options, and `GET /healthz`.
pub fn descriptors() -> Result<(DescriptorPool, Vec<Route>), RestError> {
    let mut pool = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET)?;
    pool.decode_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)?;
    let mut routes = routes(&pool)?;
    routes.push(rules::fixed(
        &pool,
        Method::GET,
        HEALTH_PATH,
        "grpc.health.v1.Health",
        "Check",
    )?);
    Ok((pool, routes))
}

/// The routes, the descriptors they were read from, and the OpenAPI
/// document written from them.
pub struct Transcoder {
    routes: Vec<Route>,
    status_type: MessageDescriptor,
    openapi: Bytes,
    max_body: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("descriptor set: {0}")]
    Descriptors(#[from] prost_reflect::DescriptorError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("the descriptor set lacks {0}")]
    Missing(&'static str),
}

impl Transcoder {
    /// The transcoder of the API's descriptor set; a JSON body may be up
    /// to `max_body` bytes.
    pub fn new(max_body: usize) -> Result<Self, RestError> {
        let (pool, routes) = descriptors()?;
        let status_type = pool
            .get_message_by_name("google.rpc.Status")
            .ok_or(RestError::Missing("google.rpc.Status"))?;
        let openapi = Bytes::from(openapi::document_json(&pool, &routes));
        Ok(Self {
            routes,
            status_type,
            openapi,
            max_body,
        })
    }

    /// The route of `method` and `path`, with its bound fields; or the
    /// answer for a path no method has (404) or a verb it lacks (405).
    fn find<'a>(&'a self, method: &Method, path: &str) -> Result<Found<'a>, Box<Response<Body>>> {
        let mut allowed = Vec::new();
        for route in &self.routes {
            if let Some(bound) = route.template.matches(path) {
                if route.verb == method {
                    return Ok(Found { route, bound });
                }
                allowed.push(route.verb.as_str());
            }
        }
        Err(Box::new(self.no_route(method, path, &allowed)))
    }

    fn no_route(&self, method: &Method, path: &str, allowed: &[&str]) -> Response<Body> {
        if allowed.is_empty() {
            let status =
                tonic::Status::not_found(format!("no method at {path}; see {OPENAPI_PATH}"));
            return errors::response(&status, &self.status_type);
        }
        let allow = allowed.join(", ");
        let status = tonic::Status::unimplemented(format!("{path} takes {allow}, not {method}"));
        let mut response =
            errors::response_as(&status, &self.status_type, StatusCode::METHOD_NOT_ALLOWED);
        if let Ok(v) = HeaderValue::from_str(&allow) {
            response.headers_mut().insert(header::ALLOW, v);
        }
        response
    }
}

/// A route that matched, and the fields its path binds.
struct Found<'a> {
    route: &'a Route,
    bound: Vec<(&'a str, String)>,
}

/// The layer that answers JSON calls (and `GET /openapi.json`) and passes
/// every gRPC and gRPC-Web call through, tagged with its transport.
pub fn layer<S>(
    transcoder: Arc<Transcoder>,
) -> impl tower::Layer<S, Service = Transcode<S>> + Clone {
    tower::layer::layer_fn(move |inner| Transcode {
        inner,
        transcoder: transcoder.clone(),
    })
}

#[derive(Clone)]
pub struct Transcode<S> {
    inner: S,
    transcoder: Arc<Transcoder>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ResBody> tower::Service<Request<Body>> for Transcode<S>
where
    S: tower::Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let grpc = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|ct| ct.starts_with("application/grpc"));
        let path = req.uri().path();
        let ours = path.starts_with("/v1/") || path == OPENAPI_PATH || path == HEALTH_PATH;
        if grpc.is_some() || !ours {
            let transport = match grpc {
                Some(ct) if ct.starts_with("application/grpc-web") => Transport::GrpcWeb,
                _ => Transport::Grpc,
            };
            req.extensions_mut().insert(transport);
            let call = inner.call(req);
            return Box::pin(async move { Ok(call.await?.map(Body::new)) });
        }
        let transcoder = self.transcoder.clone();
        Box::pin(async move {
            if req.uri().path() == OPENAPI_PATH {
                return Ok(openapi_response(&transcoder, req.method()));
            }
            let Found { route, bound } = match transcoder.find(req.method(), req.uri().path()) {
                Ok(found) => found,
                Err(response) => return Ok(*response),
            };
            let (parts, body) = req.into_parts();
            let query = parts.uri.query().map(str::to_owned);
            let mut grpc_request = grpc_request(route, &parts.headers);
            *grpc_request.extensions_mut() = parts.extensions;
            grpc_request.extensions_mut().insert(Transport::Http);
            let message = match read_body(body, transcoder.max_body).await {
                Ok(bytes) => transcode::request(route, bound, query.as_deref(), &bytes)
                    .map_err(|bad| tonic::Status::from(crate::api::ApiError::Invalid(bad.0))),
                Err(status) => Err(status),
            };
            match message {
                Ok(message) => {
                    *grpc_request.body_mut() =
                        Body::new(http_body_util::Full::new(transcode::frame(&message)));
                }
                Err(status) => {
                    grpc_request.extensions_mut().insert(Rejected(status));
                }
            }
            // A stream ends at the caller's deadline here, as a gRPC client
            // would end it on its side.
            let deadline = grpc_request
                .headers()
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .and_then(grpc_timeout)
                .and_then(|t| tokio::time::Instant::now().checked_add(t));
            let response = inner.call(grpc_request).await?;
            Ok(answer(route, &transcoder.status_type, response, deadline).await)
        })
    }
}

/// A `grpc-timeout` header's value (`<digits><unit>`, units H, M, S, m,
/// u, n) as a duration.
pub fn grpc_timeout(value: &str) -> Option<Duration> {
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The gRPC call a JSON call stands for (its body set by the caller).
fn grpc_request(route: &Route, headers: &HeaderMap) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    *request.method_mut() = Method::POST;
    *request.version_mut() = http::Version::HTTP_2;
    *request.uri_mut() = http::Uri::try_from(route.grpc_path.as_str()).unwrap_or_default();
    let out = request.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    out.insert(header::TE, HeaderValue::from_static("trailers"));
    for name in CARRIED {
        for value in headers.get_all(&name) {
            out.append(name.clone(), value.clone());
        }
    }
    if !out.contains_key("grpc-timeout")
        && let Some(timeout) = headers
            .get(SERVER_TIMEOUT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
    {
        let millis = Duration::from_secs_f64(timeout.min(1e9)).as_millis().max(1);
        // grpc-timeout takes at most 8 digits.
        let value = if millis < 100_000_000 {
            format!("{millis}m")
        } else {
            format!("{}S", (millis / 1000).min(99_999_999))
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.insert("grpc-timeout", v);
        }
    }
    request
}

/// The body of a JSON call, at most `max` bytes.
async fn read_body(body: Body, max: usize) -> Result<Bytes, tonic::Status> {
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(crate::api::failure(
            crate::api::Reason::MessageTooLarge,
            format!("request body over the server's limit of {max} bytes for JSON"),
            &[("limit_bytes", max.to_string())],
            None,
        )),
        Err(e) => Err(tonic::Status::invalid_argument(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

/// The JSON answer of the gRPC answer `response`.
async fn answer<B>(
    route: &Route,
    status_type: &MessageDescriptor,
    response: Response<B>,
    deadline: Option<tokio::time::Instant>,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // The error answer of `status`, with the answer's own headers (its
    // request and trace ids).
    let error = |status: &tonic::Status, headers: &HeaderMap| {
        let mut out = errors::response(status, status_type);
        copy_response_headers(headers, out.headers_mut());
        out
    };
    // A trailers-only answer: every refusal, and every unary error.
    if let Some(status) = status_of(response.headers()) {
        return error(&status, response.headers());
    }
    let output = route.method.output();
    if route.method.is_server_streaming() {
        let (parts, body) = response.into_parts();
        let mut out = Response::new(Body::new(stream::JsonLines::new(
            body,
            output,
            status_type.clone(),
            deadline,
        )));
        copy_response_headers(&parts.headers, out.headers_mut());
        out.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        return out;
    }
    let (parts, body) = response.into_parts();
    let collected = match body.collect().await {
        Ok(c) => c,
        Err(e) => {
            let e: BoxError = e.into();
            return error(
                &tonic::Status::internal(format!("the answer was cut short: {e}")),
                &parts.headers,
            );
        }
    };
    let trailers = collected.trailers().cloned().unwrap_or_default();
    if let Some(status) = status_of(&trailers) {
        return error(&status, &parts.headers);
    }
    let mut data = BytesMut::from(collected.to_bytes());
    let message = match transcode::next_frame(&mut data) {
        Ok(Some(bytes)) => DynamicMessage::decode(output, bytes)
            .map_err(|e| tonic::Status::internal(format!("the answer could not be decoded: {e}"))),
        Ok(None) => Err(tonic::Status::internal("the answer had no message")),
        Err(e) => Err(tonic::Status::internal(e)),
    };
    match message {
        Ok(message) => {
            let unhealthy = not_serving(route, &message);
            let mut out = Response::new(Body::new(http_body_util::Full::new(Bytes::from(
                transcode::json(&message),
            ))));
            if unhealthy {
                *out.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            copy_response_headers(&parts.headers, out.headers_mut());
            out.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            out
        }
        Err(status) => error(&status, &parts.headers),
    }
}

/// A health answer other than SERVING, which an HTTP probe reads from the
/// status (503), as a gRPC one reads it from the message.
fn not_serving(route: &Route, message: &DynamicMessage) -> bool {
    route.template.text == HEALTH_PATH
        && message
            .get_field_by_name("status")
            .and_then(|v| v.as_enum_number())
            .is_some_and(|status| status != SERVING)
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: i32 = 1;

/// The gRPC status in `headers` unless it is OK (or absent).
fn status_of(headers: &HeaderMap) -> Option<tonic::Status> {
    let code = headers.get("grpc-status")?;
    if code.as_bytes() == b"0" {
        return None;
    }
    tonic::Status::from_header_map(headers)
}

/// What of the gRPC answer's headers a JSON caller sees: the server's
/// response metadata, less the gRPC framing ones.
fn copy_response_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let n = name.as_str();
        if n == "content-type"
            || n == "vary"
            || n.starts_with("grpc-")
            || n.starts_with("access-control-")
        {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

fn openapi_response(transcoder: &Transcoder, method: &Method) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let mut r = Response::new(Body::new(http_body_util::Full::new(
        transcoder.openapi.clone(),
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The layer, inside the calls layer, that answers a [`Rejected`] call
/// with its status.
#[derive(Clone)]
pub struct RejectedLayer;

impl<S> tower::Layer<S> for RejectedLayer {
    type Service = AnswerRejected<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AnswerRejected { inner }
    }
}

#[derive(Clone)]
pub struct AnswerRejected<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for AnswerRejected<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match req.extensions().get::<Rejected>() {
            Some(Rejected(status)) => {
                let response = status.clone().into_http();
                Box::pin(std::future::ready(Ok(response)))
            }
            None => Box::pin(self.inner.call(req)),
        }
    }
}
