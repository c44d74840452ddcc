//! HTTP/JSON (AIP-127 transcoding): every method answers over HTTP as it
//! does over gRPC, refusals carry the gRPC code with AIP-193's HTTP
//! status, and streams flow as the caller reads.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use partnership::auth::Scope;
use partnership::server::ServerConfig;

use crate::access::CallersFile;
use crate::support::{App, TestDb, business_number, http1};
use crate::transport::scrape;

fn pool() -> DescriptorPool {
    DescriptorPool::decode(partnership::pb::FILE_DESCRIPTOR_SET).expect("descriptors")
}

/// `partnership.v1.CompanyService/GetCompany`.
fn method(path: &str) -> MethodDescriptor {
    let (service, name) = path.split_once('/').expect("service/method");
    pool()
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == name))
        .unwrap_or_else(|| panic!("no method {path}"))
}

/// A gRPC codec of messages known only by their descriptors.
#[derive(Clone)]
struct Dynamic(MessageDescriptor);

struct DynamicEncoder;
struct DynamicDecoder(MessageDescriptor);

impl Codec for Dynamic {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;
    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }
    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.0.clone())
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;
    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

/// A gRPC call of `path` with the request written as JSON; a stream's
/// messages (the first `take`, or all) as a JSON array.
async fn grpc_take(
    app: &App,
    path: &str,
    request: Value,
    token: Option<&str>,
    take: usize,
) -> Result<Value, Status> {
    let method = method(path);
    let message = DynamicMessage::deserialize(method.input(), request).expect("request JSON");
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii"),
        );
    }
    let mut client = tonic::client::Grpc::new(app.channel.clone());
    client.ready().await.expect("ready");
    let grpc_path: http::uri::PathAndQuery = format!("/{path}").parse().expect("path");
    let codec = Dynamic(method.output());
    if method.is_server_streaming() {
        let mut stream = client
            .server_streaming(request, grpc_path, codec)
            .await?
            .into_inner();
        let mut out = Vec::new();
        while out.len() < take {
            match stream.message().await? {
                Some(m) => out.push(serde_json::to_value(&m).expect("JSON")),
                None => break,
            }
        }
        Ok(Value::Array(out))
    } else {
        let answer = client.unary(request, grpc_path, codec).await?.into_inner();
        Ok(serde_json::to_value(&answer).expect("JSON"))
    }
}

async fn grpc(app: &App, path: &str, request: Value) -> Value {
    grpc_take(app, path, request, None, usize::MAX)
        .await
        .unwrap_or_else(|s| panic!("{path}: {s:?}"))
}

/// One JSON call: the status, headers and body (a stream's lines as an
/// array).
async fn call(
    app: &App,
    verb: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap, Value) {
    let mut request = http::Request::builder()
        .method(verb)
        .uri(format!("http://{}{path}", app.addr));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let request = request.body(Full::new(body)).expect("request");
    let (status, headers, body) = http1(request).await;
    let ndjson = headers
        .get("content-type")
        .is_some_and(|v| v == "application/x-ndjson");
    let value = if ndjson {
        Value::Array(
            body.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).expect("a JSON line"))
                .collect(),
        )
    } else if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
    };
    (status, headers, value)
}

async fn ok(app: &App, verb: Method, path: &str, body: Option<Value>) -> Value {
    let (status, _, value) = call(app, verb.clone(), path, body, &[]).await;
    assert_eq!(status, StatusCode::OK, "{verb} {path}: {value}");
    value
}

/// The same read both ways: the same answer. A `resumeToken` (an
/// export's or a summary's journal position) is left out: on PostgreSQL
/// it holds the server's transaction horizon, which other databases on the
/// same server move between the two calls.
async fn read_both(app: &App, grpc_path: &str, request: Value, http_path: &str) -> Value {
    let over_http = ok(app, Method::GET, http_path, None).await;
    let over_grpc = grpc(app, grpc_path, request).await;
    assert_eq!(
        without_resume_tokens(over_http.clone()),
        without_resume_tokens(over_grpc),
        "GET {http_path} and {grpc_path}"
    );
    over_http
}

fn without_resume_tokens(mut value: Value) -> Value {
    match &mut value {
        Value::Object(o) => {
            o.remove("resumeToken");
        }
        Value::Array(lines) => lines.iter_mut().for_each(|line| {
            if let Value::Object(o) = line {
                o.remove("resumeToken");
            }
        }),
        _ => {}
    }
    value
}

/// A write over HTTP answers the record gRPC then reads.
async fn write_then_read(
    app: &App,
    verb: Method,
    http_path: &str,
    body: Option<Value>,
    get: &str,
) -> Value {
    let written = ok(app, verb.clone(), http_path, body).await;
    let name = written["name"].as_str().expect("a resource name");
    let read = grpc(app, get, json!({ "name": name })).await;
    assert_eq!(written, read, "{verb} {http_path} and {get}");
    written
}

const COMPANY: &str = "partnership.v1.CompanyService";
const SME: &str = "partnership.v1.SmeService";
const PROGRAM: &str = "partnership.v1.ProgramService";

/// Every method of every service, over HTTP/JSON and over gRPC, answers
/// the same records: each read both ways, each write over HTTP read back
/// over gRPC (Korean text, 64-bit numbers, enums, dates and timestamps
/// included).
pub async fn every_method_answers_as_over_grpc(app: App) {
    let bn = business_number(1);
    // The standard methods of companies and SMEs.
    for (service, collection, singular, body) in [
        (
            COMPANY,
            "companies",
            "company",
            json!({"displayName": "한빛전자 주식회사", "businessNumber": bn, "size": "ENTERPRISE_SIZE_LARGE", "region": "REGION_SEOUL"}),
        ),
        (
            SME,
            "smes",
            "sme",
            json!({"displayName": "홍성정밀", "size": "ENTERPRISE_SIZE_SMALL", "employeeCount": 42, "annualRevenueKrw": "9223372036854775807", "ksicCode": "26111"}),
        ),
    ] {
        let resource = if singular == "company" {
            "Company"
        } else {
            "Sme"
        };
        let request_id = format!("4f6c2f1e-3f0a-4c55-9d57-{:012}", collection.len());
        let plural = if singular == "company" {
            "Companies"
        } else {
            "Smes"
        };
        let get = format!("{service}/Get{resource}");
        let created = write_then_read(
            &app,
            Method::POST,
            &format!("/v1/{collection}?{singular}Id=first&requestId={request_id}"),
            Some(body.clone()),
            &get,
        )
        .await;
        assert_eq!(created["name"], format!("{collection}/first"));
        // The same request id again: the first answer, nothing created.
        let again = ok(
            &app,
            Method::POST,
            &format!("/v1/{collection}?{singular}Id=first&requestId={request_id}"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(again, created);
        read_both(
            &app,
            &get,
            json!({"name": format!("{collection}/first")}),
            &format!("/v1/{collection}/first"),
        )
        .await;
        let updated = write_then_read(
            &app,
            Method::PATCH,
            &format!("/v1/{collection}/first?updateMask=displayName"),
            Some(json!({"displayName": "새 이름", "etag": created["etag"]})),
            &get,
        )
        .await;
        assert_eq!(updated["displayName"], "새 이름");
        let batch = ok(
            &app,
            Method::POST,
            &format!("/v1/{collection}:batchCreate"),
            Some(json!({"requests": [
                {format!("{singular}Id"): "second", singular: {"displayName": "둘째", "size": body["size"]}},
                {format!("{singular}Id"): "third", singular: {"displayName": "셋째", "size": body["size"]}},
            ]})),
        )
        .await;
        let names = ["second", "third"].map(|id| format!("{collection}/{id}"));
        let batch_get = read_both(
            &app,
            &format!("{service}/BatchGet{plural}"),
            json!({"names": names}),
            &format!(
                "/v1/{collection}:batchGet?names={}&names={}",
                names[0], names[1]
            ),
        )
        .await;
        assert_eq!(batch, batch_get);
        write_then_read(
            &app,
            Method::DELETE,
            &format!(
                "/v1/{collection}/third?etag={}",
                batch[collection][1]["etag"].as_str().expect("etag")
            ),
            None,
            &get,
        )
        .await;
        write_then_read(
            &app,
            Method::POST,
            &format!("/v1/{collection}/third:undelete"),
            None,
            &get,
        )
        .await;
        let list = read_both(
            &app,
            &format!("{service}/List{plural}"),
            json!({"pageSize": 2, "orderBy": "display_name desc"}),
            &format!("/v1/{collection}?pageSize=2&orderBy=display_name%20desc"),
        )
        .await;
        let token = list["nextPageToken"].as_str().expect("a second page");
        read_both(
            &app,
            &format!("{service}/List{plural}"),
            json!({"pageSize": 2, "orderBy": "display_name desc", "pageToken": token}),
            &format!("/v1/{collection}?pageSize=2&orderBy=display_name%20desc&pageToken={token}"),
        )
        .await;
        read_both(
            &app,
            &format!("{service}/List{plural}"),
            json!({"search": "셋", "showDeleted": true}),
            &format!("/v1/{collection}?search=%EC%85%8B&showDeleted=true"),
        )
        .await;
        let export = read_both(
            &app,
            &format!("{service}/Export{plural}"),
            json!({"filter": "display_name != \"none\""}),
            &format!("/v1/{collection}:export?filter=display_name%20!%3D%20%22none%22"),
        )
        .await;
        let exported: usize = export
            .as_array()
            .expect("lines")
            .iter()
            .map(|line| line[collection].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(exported, 3);
    }

    // Programs, participations and the insights over them.
    let get_program = format!("{PROGRAM}/GetProgram");
    let program = write_then_read(
        &app,
        Method::POST,
        "/v1/programs?programId=smart",
        Some(json!({"displayName": "스마트공장 구축 지원", "hostCompany": "companies/first", "kind": "PROGRAM_KIND_SMART_FACTORY", "budgetKrw": "1500000000", "startDate": {"year": 2026, "month": 3, "day": 10}})),
        &get_program,
    )
    .await;
    read_both(
        &app,
        &get_program,
        json!({"name": "programs/smart"}),
        "/v1/programs/smart",
    )
    .await;
    write_then_read(
        &app,
        Method::PATCH,
        "/v1/programs/smart?updateMask=budgetKrw",
        Some(json!({"budgetKrw": "2000000000", "etag": program["etag"]})),
        &get_program,
    )
    .await;
    read_both(
        &app,
        &format!("{PROGRAM}/ListPrograms"),
        json!({"filter": "kind = SMART_FACTORY"}),
        "/v1/programs?filter=kind%20%3D%20SMART_FACTORY",
    )
    .await;
    let get_participation = format!("{PROGRAM}/GetParticipation");
    write_then_read(
        &app,
        Method::POST,
        "/v1/programs/smart/participations?participationId=hs",
        Some(json!({"sme": "smes/first", "supportAmountKrw": "50000000", "joinedDate": {"year": 2026, "month": 3, "day": 10}, "outcomes": [{"metric": "재고 비용", "baseline": 100.0, "achieved": 72.5, "unit": "percent"}]})),
        &get_participation,
    )
    .await;
    read_both(
        &app,
        &get_participation,
        json!({"name": "programs/smart/participations/hs"}),
        "/v1/programs/smart/participations/hs",
    )
    .await;
    write_then_read(
        &app,
        Method::PATCH,
        "/v1/programs/smart/participations/hs?updateMask=supportAmountKrw",
        Some(json!({"supportAmountKrw": "70000000"})),
        &get_participation,
    )
    .await;
    read_both(
        &app,
        &format!("{PROGRAM}/ListParticipations"),
        json!({"parent": "programs/smart"}),
        "/v1/programs/smart/participations",
    )
    .await;
    read_both(
        &app,
        "partnership.v1.InsightService/SummarizePrograms",
        json!({"groupBy": ["kind", "start_year"]}),
        "/v1/programs:summarize?groupBy=kind&groupBy=start_year",
    )
    .await;
    for partner_of in ["companies/first", "smes/first"] {
        let partners = read_both(
            &app,
            "partnership.v1.InsightService/ListPartners",
            json!({"name": partner_of}),
            &format!("/v1/{partner_of}:listPartners"),
        )
        .await;
        assert_eq!(
            partners["partners"].as_array().map(Vec::len),
            Some(1),
            "{partners}"
        );
    }
    write_then_read(
        &app,
        Method::DELETE,
        "/v1/programs/smart/participations/hs",
        None,
        &get_participation,
    )
    .await;
    write_then_read(
        &app,
        Method::POST,
        "/v1/programs/smart/participations/hs:undelete",
        None,
        &get_participation,
    )
    .await;
    write_then_read(
        &app,
        Method::DELETE,
        "/v1/programs/smart?force=true",
        None,
        &get_program,
    )
    .await;
    write_then_read(
        &app,
        Method::POST,
        "/v1/programs/smart:undelete",
        Some(json!({})),
        &get_program,
    )
    .await;
    read_both(
        &app,
        &format!("{PROGRAM}/ExportPrograms"),
        json!({"showDeleted": true}),
        "/v1/programs:export?showDeleted=true",
    )
    .await;

    // The journal: the audit trail, and the change feed's first changes.
    read_both(
        &app,
        "partnership.v1.AuditService/ListAuditEvents",
        json!({"pageSize": 5, "filter": "resource = \"smes/*\""}),
        "/v1/auditEvents?pageSize=5&filter=resource%20%3D%20%22smes%2F*%22",
    )
    .await;
    let (status, _, changes) = call(
        &app,
        Method::GET,
        "/v1/changes:watch?collections=smes&startFromEarliest=true",
        None,
        &[("x-server-timeout", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let lines = changes.as_array().expect("lines");
    let last = lines.last().expect("lines");
    assert_eq!(
        last["error"]["status"], "DEADLINE_EXCEEDED",
        "the stream ends at its deadline: {last}"
    );
    // The changes, however they were batched into messages (each message's
    // resume token holds PostgreSQL's horizon, which other databases move).
    let changes_of = |messages: &[Value]| -> Vec<Value> {
        messages
            .iter()
            .flat_map(|m| m["changes"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let over_http = changes_of(&lines[..lines.len() - 1]);
    assert!(!over_http.is_empty());
    let mut over_grpc = Vec::new();
    for take in 1..=over_http.len() {
        let messages = grpc_take(
            &app,
            "partnership.v1.ChangeFeedService/WatchChanges",
            json!({"collections": ["smes"], "startFromEarliest": true}),
            None,
            take,
        )
        .await
        .expect("watch over gRPC");
        over_grpc = changes_of(messages.as_array().expect("messages"));
        if over_grpc.len() >= over_http.len() {
            break;
        }
    }
    assert_eq!(over_http, over_grpc);

    // The OpenAPI document is served, as committed.
    let (status, _, served) = call(&app, Method::GET, "/openapi.json", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let committed: Value =
        serde_json::from_str(include_str!("../../docs/openapi.json")).expect("docs/openapi.json");
    assert_eq!(served, committed);
    let documented = committed["paths"].as_object().expect("paths");
    let operations: usize = documented
        .values()
        .map(|p| p.as_object().map_or(0, serde_json::Map::len))
        .sum();
    // 35 methods (ListPartners bound twice) and the health check.
    assert_eq!(operations, 37);
    let health = ok(&app, Method::GET, "/healthz", None).await;
    assert_eq!(health, json!({"status": "SERVING"}));
}

/// The `ErrorInfo` reason and `BadRequest` fields of an error envelope.
fn reason_and_fields(envelope: &Value) -> (String, Vec<String>) {
    let details = envelope["error"]["details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let of_type = |t: &str| {
        details
            .iter()
            .find(|d| d["@type"] == format!("type.googleapis.com/google.rpc.{t}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let reason = of_type("ErrorInfo")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let fields = of_type("BadRequest")["fieldViolations"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|f| f["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (reason, fields)
}

/// AIP-193's HTTP status of a gRPC code.
fn http_status_of(code: tonic::Code) -> u16 {
    use tonic::Code::*;
    match code {
        Ok => 200,
        Cancelled => 499,
        InvalidArgument | FailedPrecondition | OutOfRange => 400,
        DeadlineExceeded => 504,
        NotFound => 404,
        AlreadyExists | Aborted => 409,
        PermissionDenied => 403,
        Unauthenticated => 401,
        ResourceExhausted => 429,
        Unimplemented => 501,
        Unavailable => 503,
        Unknown | Internal | DataLoss => 500,
    }
}

/// One call refused both ways: the HTTP status is AIP-193's for the gRPC
/// code, and the envelope carries the same code, message, reason and
/// fields.
async fn refused_both(
    app: &App,
    token: Option<&str>,
    (verb, http_path, body): (Method, &str, Option<Value>),
    (grpc_path, request): (&str, Value),
    expected: tonic::Code,
) -> Value {
    use tonic_types::StatusExt;
    let status = grpc_take(app, grpc_path, request, token, 1)
        .await
        .expect_err("refused over gRPC");
    assert_eq!(status.code(), expected, "{grpc_path}: {status:?}");
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let (http_status, http_headers, envelope) =
        call(app, verb.clone(), http_path, body, &headers).await;
    assert_eq!(
        http_status.as_u16(),
        http_status_of(expected),
        "{verb} {http_path}: {envelope}"
    );
    assert_eq!(envelope["error"]["code"], http_status.as_u16());
    assert_eq!(envelope["error"]["message"], status.message());
    let grpc_reason = status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default();
    let grpc_fields: Vec<String> = status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert_eq!(
        reason_and_fields(&envelope),
        (grpc_reason, grpc_fields),
        "{envelope}"
    );
    if expected == tonic::Code::Unauthenticated {
        assert_eq!(
            http_headers.get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
    }
    if expected == tonic::Code::ResourceExhausted {
        assert!(http_headers.contains_key("retry-after"), "{http_headers:?}");
    }
    envelope
}

/// Auth, scopes, rate limits, validation, not found and conflicts refuse a
/// JSON call as they refuse the gRPC call; a JSON call that is not a
/// request (bad JSON, an unknown parameter, a path or verb no method has)
/// is refused naming what is wrong, after authentication; every refusal is
/// logged and counted with `transport="http"`.
pub async fn refusals_carry_the_grpc_code_as_http_status(db: TestDb) {
    use tonic::Code;
    let file = CallersFile::new(&[
        ("reader", &[Scope::Read], ""),
        ("writer", &[Scope::Read, Scope::Write], ""),
        (
            "hasty",
            &[Scope::Read],
            "rate_limit = { per_second = 1, burst = 1 }",
        ),
    ]);
    let app = file.serve(&db).await;
    let (reader, writer) = (file.token("reader"), file.token("writer"));
    let get_nope = (Method::GET, "/v1/companies/nope", None);
    let grpc_get_nope = (
        "partnership.v1.CompanyService/GetCompany",
        json!({"name": "companies/nope"}),
    );
    refused_both(
        &app,
        None,
        get_nope.clone(),
        grpc_get_nope.clone(),
        Code::Unauthenticated,
    )
    .await;
    refused_both(
        &app,
        Some("pt_not-a-token"),
        get_nope.clone(),
        grpc_get_nope.clone(),
        Code::Unauthenticated,
    )
    .await;
    refused_both(
        &app,
        Some(reader),
        get_nope.clone(),
        grpc_get_nope.clone(),
        Code::NotFound,
    )
    .await;
    let company = json!({"displayName": "Acme", "size": "ENTERPRISE_SIZE_LARGE"});
    let create = |id: &str| {
        (
            Method::POST,
            format!("/v1/companies?companyId={id}"),
            Some(company.clone()),
        )
    };
    let grpc_create = |id: &str| {
        (
            "partnership.v1.CompanyService/CreateCompany",
            json!({"companyId": id, "company": company}),
        )
    };
    let (verb, path, body) = create("acme");
    refused_both(
        &app,
        Some(reader),
        (verb, &path, body),
        grpc_create("acme"),
        Code::PermissionDenied,
    )
    .await;
    let created = ok_as(
        &app,
        writer,
        Method::POST,
        "/v1/companies?companyId=acme",
        Some(company.clone()),
    )
    .await;
    let (verb, path, body) = create("acme");
    refused_both(
        &app,
        Some(writer),
        (verb, &path, body),
        grpc_create("acme"),
        Code::AlreadyExists,
    )
    .await;
    let (verb, path, _) = create("bad");
    let envelope = refused_both(
        &app,
        Some(writer),
        (verb, &path, Some(json!({"displayName": " ", "size": "ENTERPRISE_SIZE_LARGE", "businessNumber": "123"}))),
        (
            "partnership.v1.CompanyService/CreateCompany",
            json!({"companyId": "bad", "company": {"displayName": " ", "size": "ENTERPRISE_SIZE_LARGE", "businessNumber": "123"}}),
        ),
        Code::InvalidArgument,
    )
    .await;
    assert_eq!(reason_and_fields(&envelope).1.len(), 2, "{envelope}");
    refused_both(
        &app,
        Some(writer),
        (Method::PATCH, "/v1/companies/acme?updateMask=displayName", Some(json!({"displayName": "x", "etag": "0000"}))),
        (
            "partnership.v1.CompanyService/UpdateCompany",
            json!({"company": {"name": "companies/acme", "displayName": "x", "etag": "0000"}, "updateMask": "displayName"}),
        ),
        Code::Aborted,
    )
    .await;
    refused_both(
        &app,
        Some(writer),
        (Method::POST, "/v1/programs", Some(json!({"displayName": "p", "hostCompany": "companies/none", "kind": "PROGRAM_KIND_SMART_FACTORY"}))),
        (
            "partnership.v1.ProgramService/CreateProgram",
            json!({"program": {"displayName": "p", "hostCompany": "companies/none", "kind": "PROGRAM_KIND_SMART_FACTORY"}}),
        ),
        Code::FailedPrecondition,
    )
    .await;
    refused_both(
        &app,
        Some(reader),
        (Method::GET, "/v1/smes?pageSize=-1", None),
        (
            "partnership.v1.SmeService/ListSmes",
            json!({"pageSize": -1}),
        ),
        Code::InvalidArgument,
    )
    .await;
    let hasty = file.token("hasty");
    let _ = grpc_take(
        &app,
        "partnership.v1.SmeService/ListSmes",
        json!({}),
        Some(hasty),
        1,
    )
    .await;
    refused_both(
        &app,
        Some(hasty),
        (Method::GET, "/v1/smes", None),
        ("partnership.v1.SmeService/ListSmes", json!({})),
        Code::ResourceExhausted,
    )
    .await;

    // What the transcoder refuses itself: authentication first, then the
    // field at fault.
    let bearer = format!("Bearer {writer}");
    let as_writer = [("authorization", bearer.as_str())];
    let bad_json = |headers: &'static [(&'static str, &'static str)]| headers;
    let (status, _, _) = call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!("not an object")),
        bad_json(&[]),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "authenticated before the body is read"
    );
    for (verb, path, body, field) in [
        (
            Method::POST,
            "/v1/companies:batchCreate",
            Some(json!([1, 2])),
            "body",
        ),
        (
            Method::POST,
            "/v1/companies",
            Some(json!({"displayName": "x", "nope": 1})),
            "body",
        ),
        (Method::GET, "/v1/companies?nope=1", None, "nope"),
        (
            Method::GET,
            "/v1/companies?showDeleted=maybe",
            None,
            "showDeleted",
        ),
        (
            Method::GET,
            "/v1/companies?pageSize=1&pageSize=2",
            None,
            "pageSize",
        ),
        (
            Method::PATCH,
            "/v1/companies/acme?updateMask=displayName",
            Some(json!({"name": "companies/other"})),
            "company.name",
        ),
        (Method::GET, "/v1/companies/acme", Some(json!({})), "body"),
    ] {
        let (status, _, envelope) = call(&app, verb.clone(), path, body, &as_writer).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{verb} {path}: {envelope}");
        assert_eq!(envelope["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(
            reason_and_fields(&envelope).1,
            vec![field.to_owned()],
            "{verb} {path}: {envelope}"
        );
    }
    let (status, _, envelope) = call(&app, Method::GET, "/v1/nowhere", None, &as_writer).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{envelope}");
    let (status, headers, envelope) =
        call(&app, Method::PUT, "/v1/companies/acme", None, &as_writer).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{envelope}");
    assert_eq!(envelope["error"]["code"], 405);
    assert_eq!(
        headers.get("allow").map(|v| v.as_bytes()),
        Some(&b"GET, PATCH, DELETE"[..])
    );
    // Nothing refused changed anything.
    let now = ok_as(&app, writer, Method::GET, "/v1/companies/acme", None).await;
    assert_eq!(now, created);

    let samples = scrape(&app).await;
    for (method, code) in [
        ("GetCompany", "Unauthenticated"),
        ("CreateCompany", "InvalidArgument"),
        ("CreateCompany", "AlreadyExists"),
        ("ListSmes", "ResourceExhausted"),
    ] {
        let n = samples
            .find(
                "grpc_server_handled_total",
                &[
                    ("grpc_method", method),
                    ("grpc_code", code),
                    ("transport", "http"),
                ],
            )
            .unwrap_or(0.0);
        assert!(n >= 1.0, "{method} {code} over HTTP is counted: {n}");
    }
}

async fn ok_as(app: &App, token: &str, verb: Method, path: &str, body: Option<Value>) -> Value {
    let bearer = format!("Bearer {token}");
    let (status, _, value) = call(
        app,
        verb.clone(),
        path,
        body,
        &[("authorization", bearer.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verb} {path}: {value}");
    value
}

/// An export over HTTP is read from the service as the caller reads it: a
/// caller that stops reading holds the call open (it neither finishes nor
/// runs ahead), then gets every record once it reads on; a caller that
/// goes away cancels the call.
pub async fn streams_flow_as_the_caller_reads(db: TestDb) {
    let app = App::spawn_with(&db, ServerConfig::default()).await;
    const SMES: usize = 20_000;
    for batch in 0..SMES / 1000 {
        let requests: Vec<Value> = (0..1000)
            .map(|i| json!({"smeId": format!("s{batch}-{i}"), "sme": {"displayName": format!("중소기업 {batch}-{i} with a longer trade name to fill the stream"), "size": "ENTERPRISE_SIZE_SMALL", "annualRevenueKrw": "123456789012"}}))
            .collect();
        ok(
            &app,
            Method::POST,
            "/v1/smes:batchCreate",
            Some(json!({"requests": requests})),
        )
        .await;
    }
    let export = |samples: &crate::transport::Samples, code: &str| {
        samples
            .find(
                "grpc_server_handled_total",
                &[
                    ("grpc_method", "ExportSmes"),
                    ("grpc_code", code),
                    ("transport", "http"),
                ],
            )
            .unwrap_or(0.0)
    };

    // A caller with a small receive window that reads a little, then waits.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(app.addr).await.expect("connect");
    stream
        .write_all(format!("GET /v1/smes:export HTTP/1.1\r\nhost: {}\r\n\r\n", app.addr).as_bytes())
        .await
        .expect("request");
    let mut received = vec![0u8; 16 * 1024];
    stream
        .read_exact(&mut received)
        .await
        .expect("the first bytes");
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&received[..64])
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let samples = scrape(&app).await;
    assert_eq!(
        export(&samples, "OK"),
        0.0,
        "the export waits for its caller"
    );
    let in_flight = samples
        .find("grpc_server_in_flight", &[("grpc_method", "ExportSmes")])
        .unwrap_or(0.0);
    assert_eq!(in_flight, 1.0, "the export is still open");
    // Reading on: every record, once.
    let mut rest = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buffer).await.expect("read");
        rest.extend_from_slice(&buffer[..n]);
        // The last chunk of a chunked body.
        if n == 0 || rest.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    received.extend_from_slice(&rest);
    let text = String::from_utf8_lossy(&received);
    let records = text.matches("\"name\":\"smes/").count();
    assert_eq!(records, SMES, "every record once");
    assert!(!text.contains("\"error\""));
    let samples = scrape(&app).await;
    assert_eq!(export(&samples, "OK"), 1.0);

    // A caller that goes away mid-stream cancels the export.
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    stream
        .write_all(format!("GET /v1/smes:export HTTP/1.1\r\nhost: {}\r\n\r\n", app.addr).as_bytes())
        .await
        .expect("request");
    let mut first = vec![0u8; 4096];
    stream
        .read_exact(&mut first)
        .await
        .expect("the first bytes");
    drop(stream);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let samples = scrape(&app).await;
        if export(&samples, "Cancelled") >= 1.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the abandoned export was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        export(&scrape(&app).await, "OK"),
        1.0,
        "it did not run to its end"
    );
}
