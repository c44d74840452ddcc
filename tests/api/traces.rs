//! Traces across systems: a call that arrives with a W3C `traceparent`
//! is exported (over OTLP, to a minimal collector run here: a tonic
//! server of the OTLP trace service) as a server span that is the child
//! of the caller's span, with its database statements as client spans
//! beneath it, named by kind and table and carrying no values; its trace
//! id is on the `rpc finished` log line and returned as `x-trace-id`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use partnership::pb;
use partnership::pb::company_service_client::CompanyServiceClient;
use tonic::metadata::MetadataValue;

use crate::support::{TestDb, company};

/// A span as the collector received it, with its service's name.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    scope: String,
    span: Span,
}

/// The OTLP trace service, keeping every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self
            .spans
            .lock()
            .map_err(|_| tonic::Status::internal("poisoned"))?;
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| text(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
                for span in scope_spans.spans {
                    kept.push(Received {
                        service: service.clone(),
                        scope: scope.clone(),
                        span,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    /// Serves the collector on a free loopback port; its address.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind collector");
        let addr = listener.local_addr().expect("collector address");
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        format!("http://{addr}")
    }

    fn of_trace(&self, trace_id: &[u8]) -> Vec<Received> {
        self.spans
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|r| r.span.trace_id == trace_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The spans of `trace_id` once its server span named `name` and at
    /// least one statement under it have arrived (10 s at most).
    async fn wait_for(&self, trace_id: &[u8], name: &str) -> Vec<Received> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let spans = self.of_trace(trace_id);
            let server = spans.iter().find(|r| r.span.name == name);
            if let Some(server) = server
                && spans
                    .iter()
                    .any(|r| r.span.parent_span_id == server.span.span_id)
            {
                return spans;
            }
            assert!(
                Instant::now() < until,
                "no span {name} with statements in trace {}: got {spans:#?}",
                hex::encode(trace_id)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn value(attributes: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|AnyValue { value }| value)
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match value(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match value(attributes, key)? {
        any_value::Value::IntValue(i) => Some(i),
        _ => None,
    }
}

/// Every string an exported span carries: its name, attribute values and
/// status message.
fn strings_of(span: &Span) -> Vec<String> {
    let mut out = vec![span.name.clone()];
    for kv in &span.attributes {
        if let Some(any_value::Value::StringValue(s)) = kv.value.clone().and_then(|v| v.value) {
            out.push(s);
        }
    }
    if let Some(status) = &span.status {
        out.push(status.message.clone());
    }
    out
}

/// Waits (5 s at most: the test reads the server's output on a thread of
/// its own) for a log line with every one of `words` and `trace_id=`.
async fn logs_trace(server: &crate::process::Server, words: &[&str], trace: &str) {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let logged = server.log_lines(words);
        if logged
            .iter()
            .any(|l| l.contains(&format!("trace_id={trace}")))
        {
            return;
        }
        assert!(
            Instant::now() < until,
            "no line with trace_id={trace}: {logged:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn traceparent(trace_id: &str, parent: &str, sampled: bool) -> String {
    format!(
        "00-{trace_id}-{parent}-{}",
        if sampled { "01" } else { "00" }
    )
}

fn with_trace<T>(message: T, traceparent: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = traceparent.parse().expect("traceparent value");
    request.metadata_mut().insert("traceparent", value);
    request
        .metadata_mut()
        .insert("tracestate", MetadataValue::from_static("ministry=7f3a"));
    request
}

/// A GetCompany of `name` sent with `traceparent` (and a trace state).
fn get_traced(name: &str, traceparent: &str) -> tonic::Request<pb::GetCompanyRequest> {
    with_trace(
        pb::GetCompanyRequest {
            name: name.to_owned(),
        },
        traceparent,
    )
}

fn trace_id_header<T>(response: &tonic::Response<T>) -> String {
    response
        .metadata()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("x-trace-id in the response metadata")
}

/// The server span of `name` in `spans`, and the statements under it.
fn server_and_statements<'a>(spans: &'a [Received], name: &str) -> (&'a Span, Vec<&'a Span>) {
    let server = &spans
        .iter()
        .find(|r| r.span.name == name)
        .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
        .span;
    let statements = spans
        .iter()
        .map(|r| &r.span)
        .filter(|s| s.parent_span_id == server.span_id)
        .collect();
    (server, statements)
}

pub async fn a_call_joins_its_callers_trace(db: TestDb) {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let (server, channel) = crate::process::launch_env_connected(
        &db.url,
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "50")],
    )
    .await;
    let mut companies = CompanyServiceClient::new(channel);
    let system = match db.backend {
        crate::support::Backend::Sqlite => "sqlite",
        crate::support::Backend::Postgres => "postgresql",
        crate::support::Backend::MySql => "mysql",
    };

    // A create that arrives as the child of a caller's span.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let secret_name = "추적 시험 주식회사";
    let created = companies
        .create_company(with_trace(
            pb::CreateCompanyRequest {
                company_id: "traced".into(),
                company: Some(company(secret_name, "220-81-62517")),
                ..Default::default()
            },
            &traceparent(trace, caller_span, true),
        ))
        .await
        .expect("create");
    assert_eq!(trace_id_header(&created), trace);
    let trace_bytes = hex::decode(trace).expect("hex");
    let name = "partnership.v1.CompanyService/CreateCompany";
    let spans = collector.wait_for(&trace_bytes, name).await;
    let (server_span, statements) = server_and_statements(&spans, name);
    assert_eq!(
        server_span.parent_span_id,
        hex::decode(caller_span).expect("hex")
    );
    assert_eq!(server_span.kind, span::SpanKind::Server as i32);
    assert_eq!(server_span.trace_state, "ministry=7f3a");
    let attrs = &server_span.attributes;
    assert_eq!(text(attrs, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        text(attrs, "rpc.service").as_deref(),
        Some("partnership.v1.CompanyService")
    );
    assert_eq!(text(attrs, "rpc.method").as_deref(), Some("CreateCompany"));
    assert_eq!(int(attrs, "rpc.grpc.status_code"), Some(0));
    assert_eq!(text(attrs, "transport").as_deref(), Some("grpc"));
    assert_eq!(text(attrs, "trace_id").as_deref(), Some(trace));
    let received = spans
        .iter()
        .find(|r| r.span.span_id == server_span.span_id)
        .expect("server span");
    assert_eq!(received.service, "partnership");
    assert_eq!(received.scope, "partnership");
    // The statements: children of the call, within its time, named by
    // kind and table; the insert into companies among them.
    assert!(!statements.is_empty());
    for statement in &statements {
        assert_eq!(
            statement.kind,
            span::SpanKind::Client as i32,
            "{statement:?}"
        );
        assert_eq!(statement.trace_id, trace_bytes);
        assert!(
            statement.start_time_unix_nano >= server_span.start_time_unix_nano
                && statement.end_time_unix_nano <= server_span.end_time_unix_nano
                && statement.start_time_unix_nano <= statement.end_time_unix_nano,
            "{statement:?} outside {server_span:?}"
        );
        assert_eq!(
            text(&statement.attributes, "db.system.name").as_deref(),
            Some(system)
        );
        let operation = text(&statement.attributes, "db.operation.name").expect("operation");
        let expected_name = match text(&statement.attributes, "db.collection.name") {
            Some(table) => format!("{operation} {table}"),
            None => operation.clone(),
        };
        assert_eq!(statement.name, expected_name);
    }
    assert!(
        statements.iter().any(|s| s.name == "INSERT companies"),
        "{:?}",
        statements.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    // No value the caller sent is in any span.
    for r in &spans {
        for s in strings_of(&r.span) {
            assert!(
                !s.contains("추적") && !s.contains("220-81-62517") && !s.contains("2208162517"),
                "a value in {:?}: {s}",
                r.span.name
            );
        }
    }
    // The log line names the trace.
    logs_trace(&server, &["rpc finished", "CreateCompany"], trace).await;

    // A caller's mistake: NOT_FOUND, its code on the span, not an error
    // status (the server did not fail).
    let trace2 = "0af7651916cd43dd8448eb211c80319c";
    let missing = companies
        .get_company(get_traced(
            "companies/nobody",
            &traceparent(trace2, "b7ad6b7169203331", true),
        ))
        .await;
    let status = missing.expect_err("not found");
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get("x-trace-id")
            .and_then(|v| v.to_str().ok()),
        Some(trace2)
    );
    let name = "partnership.v1.CompanyService/GetCompany";
    let spans = collector
        .wait_for(&hex::decode(trace2).expect("hex"), name)
        .await;
    let (server_span, _) = server_and_statements(&spans, name);
    assert_eq!(
        int(&server_span.attributes, "rpc.grpc.status_code"),
        Some(5)
    );
    assert_ne!(
        server_span.status.as_ref().map(|s| s.code),
        Some(status::StatusCode::Error as i32)
    );

    // JSON over HTTP joins the trace the same way, and says its trace id.
    let trace3 = "5c1a4f0e7d9b2a3c8e6f1d0b9a8c7e6d";
    let request = http::Request::get(format!("http://{}/v1/companies/traced", server.addr))
        .header("traceparent", traceparent(trace3, "1122334455667788", true))
        .body(Default::default())
        .expect("request");
    let (code, headers, _) = crate::support::http1(request).await;
    assert_eq!(code, http::StatusCode::OK);
    assert_eq!(
        headers.get("x-trace-id").and_then(|v| v.to_str().ok()),
        Some(trace3)
    );
    let spans = collector
        .wait_for(&hex::decode(trace3).expect("hex"), name)
        .await;
    let (server_span, statements) = server_and_statements(&spans, name);
    assert_eq!(
        server_span.parent_span_id,
        hex::decode("1122334455667788").expect("hex")
    );
    assert_eq!(
        text(&server_span.attributes, "transport").as_deref(),
        Some("http")
    );
    assert!(
        statements
            .iter()
            .all(|s| { text(&s.attributes, "db.operation.name").as_deref() != Some("INSERT") })
    );

    // A call without a traceparent starts a trace of its own (a root
    // span), and is told its id.
    let own = companies
        .get_company(pb::GetCompanyRequest {
            name: "companies/traced".into(),
        })
        .await
        .expect("get");
    let own_trace = trace_id_header(&own);
    assert_eq!(own_trace.len(), 32);
    assert!(![trace, trace2, trace3].contains(&own_trace.as_str()));
    let spans = collector
        .wait_for(&hex::decode(&own_trace).expect("hex"), name)
        .await;
    let (server_span, _) = server_and_statements(&spans, name);
    assert!(server_span.parent_span_id.is_empty(), "{server_span:?}");

    // A caller that did not sample its trace: the trace id is kept, and
    // nothing of it is exported.
    let unsampled = "aaaabbbbccccddddeeeeffff00001111";
    let answered = companies
        .get_company(get_traced(
            "companies/traced",
            &traceparent(unsampled, "2233445566778899", false),
        ))
        .await
        .expect("get");
    assert_eq!(trace_id_header(&answered), unsampled);
    // Later calls' spans arrive, and the unsampled one's never does.
    let later = "99998888777766665555444433332222";
    companies
        .get_company(get_traced(
            "companies/traced",
            &traceparent(later, "3344556677889900", true),
        ))
        .await
        .expect("get");
    collector
        .wait_for(&hex::decode(later).expect("hex"), name)
        .await;
    assert!(
        collector
            .of_trace(&hex::decode(unsampled).expect("hex"))
            .is_empty()
    );
    drop(server);
}

/// Without an OTLP endpoint (or with an empty one) nothing is exported, but the trace id still
/// travels: the caller's is returned and logged; a call without one gets
/// a new one.
pub async fn without_an_exporter_the_trace_id_still_travels(db: TestDb) {
    // An empty endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT=` in an .env) is off.
    let (server, channel) =
        crate::process::launch_env_connected(&db.url, &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])
            .await;
    let mut companies = CompanyServiceClient::new(channel);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let status = companies
        .get_company(get_traced(
            "companies/nobody",
            &traceparent(trace, "00f067aa0ba902b7", true),
        ))
        .await
        .expect_err("not found");
    assert_eq!(
        status
            .metadata()
            .get("x-trace-id")
            .and_then(|v| v.to_str().ok()),
        Some(trace)
    );
    logs_trace(&server, &["rpc finished", "GetCompany", "NotFound"], trace).await;
    // Over HTTP too, on an error answer.
    let request = http::Request::get(format!("http://{}/v1/companies/nobody", server.addr))
        .header("traceparent", traceparent(trace, "00f067aa0ba902b7", true))
        .body(Default::default())
        .expect("request");
    let (code, headers, _) = crate::support::http1(request).await;
    assert_eq!(code, http::StatusCode::NOT_FOUND);
    assert_eq!(
        headers.get("x-trace-id").and_then(|v| v.to_str().ok()),
        Some(trace)
    );
    assert_eq!(headers.get_all("x-request-id").iter().count(), 1);
    let fresh = companies
        .list_companies(pb::ListCompaniesRequest::default())
        .await
        .expect("list");
    let made = trace_id_header(&fresh);
    assert!(made.len() == 32 && made != trace && made.chars().all(|c| c.is_ascii_hexdigit()));
    drop(server);
}
