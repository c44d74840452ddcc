//! What every call passes through: metrics, TLS and mutual TLS, gRPC-Web.

use partnership::pb;
use partnership::pb::company_service_client::CompanyServiceClient;
use partnership::server::{ServerConfig, TlsConfig};
use prost::Message;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::support::{App, TestDb, create_company, http, http1};

/// The samples of a `/metrics` scrape.
pub struct Samples(Vec<prometheus_parse::Sample>);

impl Samples {
    /// The value of the sample `name` whose labels include `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                // A histogram's value here is its +Inf bucket: the count.
                prometheus_parse::Value::Histogram(ref buckets) => buckets
                    .iter()
                    .find(|b| b.less_than.is_infinite())
                    .map_or(f64::NAN, |b| b.count),
                prometheus_parse::Value::Summary(_) => f64::NAN,
            })
    }

    /// How many series there are in all.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

pub async fn scrape(app: &App) -> Samples {
    let request = http::Request::get(format!("http://{}/metrics", app.metrics_addr))
        .body(Default::default())
        .expect("request");
    let (status, headers, body) = http1(request).await;
    assert_eq!(status, 200);
    assert!(
        headers
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    Samples::parse(std::str::from_utf8(&body).expect("utf-8"))
}

impl Samples {
    /// The samples of a Prometheus text exposition.
    pub fn parse(text: &str) -> Self {
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("Prometheus text format");
        Samples(scrape.samples)
    }
}

pub async fn metrics_count_rpcs_by_method_and_code(mut app: App) {
    create_company(&mut app, "acme", "").await;
    for _ in 0..2 {
        app.companies
            .get_company(pb::GetCompanyRequest {
                name: "companies/acme".into(),
            })
            .await
            .expect("get");
    }
    for _ in 0..3 {
        let _ = app
            .companies
            .get_company(pb::GetCompanyRequest {
                name: "companies/missing".into(),
            })
            .await;
    }
    let samples = scrape(&app).await;
    let get = [
        ("grpc_service", "partnership.v1.CompanyService"),
        ("grpc_method", "GetCompany"),
    ];
    let handled = |code: &str| {
        let mut labels = get.to_vec();
        labels.push(("grpc_code", code));
        samples.find("grpc_server_handled_total", &labels)
    };
    assert_eq!(handled("OK"), Some(2.0));
    assert_eq!(handled("NotFound"), Some(3.0));
    assert_eq!(
        samples.find(
            "grpc_server_handled_total",
            &[("grpc_method", "CreateCompany"), ("grpc_code", "OK")]
        ),
        Some(1.0)
    );
    assert_eq!(
        samples.find("grpc_server_handling_seconds_count", &get),
        Some(5.0)
    );
    assert_eq!(
        samples.find("grpc_server_handling_seconds", &get),
        Some(5.0)
    );
    assert_eq!(samples.find("grpc_server_in_flight", &get), Some(0.0));
    assert_eq!(samples.find("partnership_build_info", &[]), Some(1.0));
    assert!(
        samples
            .find("partnership_db_pool_connections", &[("state", "idle")])
            .is_some()
    );
    // The process itself: memory, CPU, descriptors.
    assert!(
        samples
            .find("process_resident_memory_bytes", &[])
            .is_some_and(|b| b > 1e6)
    );
    assert!(
        samples
            .find("process_open_fds", &[])
            .is_some_and(|n| n > 0.0)
    );
    assert!(samples.find("process_cpu_seconds_total", &[]).is_some());
    app.stop().await;
}

pub struct Pki {
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    client_cert: String,
    client_key: String,
    /// A second client, signed by the same CA, named `stranger`.
    stranger_cert: String,
    stranger_key: String,
}

/// When the test CA and the test server certificate expire.
const CA_NOT_AFTER: (i32, u8, u8) = (2036, 1, 2);
const SERVER_NOT_AFTER: (i32, u8, u8) = (2031, 5, 17);

/// Unix seconds of midnight UTC on `date`.
fn unix_seconds((y, m, d): (i32, u8, u8)) -> f64 {
    let date = chrono::NaiveDate::from_ymd_opt(y, u32::from(m), u32::from(d)).expect("date");
    #[allow(clippy::cast_precision_loss)]
    let seconds = date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp() as f64;
    seconds
}

pub fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let (y, m, d) = CA_NOT_AFTER;
    ca_params.not_after = rcgen::date_time_ymd(y, m, d);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let server_key = KeyPair::generate().expect("key");
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let (y, m, d) = SERVER_NOT_AFTER;
    server_params.not_after = rcgen::date_time_ymd(y, m, d);
    let server_cert = server_params
        .signed_by(&server_key, &ca)
        .expect("server cert");
    let client_key = KeyPair::generate().expect("key");
    let client_cert = CertificateParams::new(vec!["ministry-client".to_owned()])
        .expect("params")
        .signed_by(&client_key, &ca)
        .expect("client cert");
    let stranger_key = KeyPair::generate().expect("key");
    let stranger_cert = CertificateParams::new(vec!["stranger".to_owned()])
        .expect("params")
        .signed_by(&stranger_key, &ca)
        .expect("client cert");
    Pki {
        ca: ca.pem(),
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
        client_cert: client_cert.pem(),
        client_key: client_key.serialize_pem(),
        stranger_cert: stranger_cert.pem(),
        stranger_key: stranger_key.serialize_pem(),
    }
}

async fn tls_client(
    app: &App,
    pki: &Pki,
    with_identity: bool,
) -> Result<CompanyServiceClient<Channel>, tonic::transport::Error> {
    let identity = with_identity.then(|| Identity::from_pem(&pki.client_cert, &pki.client_key));
    tls_client_as(app, pki, identity).await
}

async fn tls_client_as(
    app: &App,
    pki: &Pki,
    identity: Option<Identity>,
) -> Result<CompanyServiceClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost");
    if let Some(identity) = identity {
        tls = tls.identity(identity);
    }
    let channel = Channel::from_shared(format!("https://{}", app.addr))
        .expect("uri")
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(CompanyServiceClient::new(channel))
}

pub async fn tls_serves_encrypted_calls(db: TestDb) {
    let pki = pki();
    let app = App::spawn_with(
        &db,
        ServerConfig {
            tls: Some(TlsConfig {
                cert: pki.server_cert.clone().into_bytes(),
                key: pki.server_key.clone().into_bytes(),
                client_ca: None,
            }),
            ..ServerConfig::default()
        },
    )
    .await;
    let mut client = tls_client(&app, &pki, false).await.expect("TLS connect");
    client
        .list_companies(pb::ListCompaniesRequest::default())
        .await
        .expect("call over TLS");
    // The certificate's expiry is exported (for the expiry alert); there
    // is no client CA.
    let samples = scrape(&app).await;
    let expiry = "partnership_tls_certificate_expiry_timestamp_seconds";
    assert_eq!(
        samples.find(expiry, &[("certificate", "server")]),
        Some(unix_seconds(SERVER_NOT_AFTER))
    );
    assert_eq!(samples.find(expiry, &[("certificate", "client_ca")]), None);
    // Plaintext is refused.
    let plain = Channel::from_shared(format!("http://{}", app.addr))
        .expect("uri")
        .connect()
        .await;
    if let Ok(channel) = plain {
        let r = CompanyServiceClient::new(channel)
            .list_companies(pb::ListCompaniesRequest::default())
            .await;
        assert!(r.is_err(), "plaintext call succeeded on a TLS port");
    }
    app.stop().await;
}

/// A server that requires client certificates signed by `pki`'s CA.
async fn spawn_mutual_tls(db: &TestDb, pki: &Pki) -> App {
    spawn_mutual_tls_with(db, pki, None).await
}

async fn spawn_mutual_tls_with(
    db: &TestDb,
    pki: &Pki,
    auth: Option<std::sync::Arc<partnership::auth::Auth>>,
) -> App {
    let tls = TlsConfig {
        cert: pki.server_cert.clone().into_bytes(),
        key: pki.server_key.clone().into_bytes(),
        client_ca: Some(pki.ca.clone().into_bytes()),
    };
    let config = ServerConfig {
        tls: Some(tls),
        auth,
        ..ServerConfig::default()
    };
    App::spawn_with(db, config).await
}

/// Over mutual TLS a client certificate's name (here its DNS subject
/// alternative name) can name a caller in the callers' file, with that
/// caller's scopes; a certificate the file does not name gets nowhere, and
/// a bad bearer token is refused even with a good certificate.
pub async fn mutual_tls_certificates_name_callers(db: TestDb) {
    use partnership::auth::Scope;
    let pki = pki();
    let file =
        crate::access::CallersFile::new(&[("token-holder", &[Scope::Read, Scope::Write], "")]);
    let mut text = std::fs::read_to_string(&file.path).expect("read callers");
    text.push_str(
        "[[callers]]\nname = \"ministry\"\ncertificate_names = [\"ministry-client\"]\nscopes = [\"read\"]\n",
    );
    std::fs::write(&file.path, text).expect("write callers");
    let app = spawn_mutual_tls_with(&db, &pki, Some(file.auth())).await;
    let mut ministry = tls_client(&app, &pki, true).await.expect("mTLS connect");
    ministry
        .list_companies(pb::ListCompaniesRequest::default())
        .await
        .expect("the certificate's caller reads");
    let status = ministry
        .create_company(pb::CreateCompanyRequest {
            company: Some(crate::support::company("Mapped", "")),
            company_id: "mapped".into(),
            ..Default::default()
        })
        .await
        .expect_err("the certificate's caller may not write");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("\"ministry\""), "{status:?}");
    let r = ministry
        .list_companies(crate::access::bearer(
            pb::ListCompaniesRequest::default(),
            "pt_wrong",
        ))
        .await;
    assert_eq!(
        r.map(|_| ()).unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    // A token still works over the same connection, as its own caller.
    ministry
        .create_company(crate::access::bearer(
            pb::CreateCompanyRequest {
                company: Some(crate::support::company("By token", "")),
                company_id: "by-token".into(),
                ..Default::default()
            },
            file.token("token-holder"),
        ))
        .await
        .expect("the token's caller writes");
    let stranger = Identity::from_pem(&pki.stranger_cert, &pki.stranger_key);
    let mut stranger = tls_client_as(&app, &pki, Some(stranger))
        .await
        .expect("mTLS connect");
    let r = stranger
        .list_companies(pb::ListCompaniesRequest::default())
        .await;
    assert_eq!(
        r.map(|_| ()).unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    app.stop().await;
}

pub async fn mutual_tls_requires_a_client_certificate(db: TestDb) {
    let pki = pki();
    let app = spawn_mutual_tls(&db, &pki).await;
    let mut client = tls_client(&app, &pki, true).await.expect("mTLS connect");
    client
        .list_companies(pb::ListCompaniesRequest::default())
        .await
        .expect("call with a client certificate");
    let without = match tls_client(&app, &pki, false).await {
        Err(_) => None,
        Ok(mut c) => Some(c.list_companies(pb::ListCompaniesRequest::default()).await),
    };
    assert!(
        !matches!(without, Some(Ok(_))),
        "a call without a client certificate succeeded"
    );
    let samples = scrape(&app).await;
    let expiry = "partnership_tls_certificate_expiry_timestamp_seconds";
    assert_eq!(
        samples.find(expiry, &[("certificate", "client_ca")]),
        Some(unix_seconds(CA_NOT_AFTER))
    );
    app.stop().await;
}

fn grpc_web_frame(message: &impl Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(bytes.len()).expect("small").to_be_bytes());
    frame.extend_from_slice(&bytes);
    frame
}

pub async fn grpc_web_over_http1_with_cors(db: TestDb) {
    grpc_web_with_cors(db, false).await;
}

/// The same over HTTP/2, where a browser's call passes CORS and gRPC-Web
/// although gRPC's own calls, on the same connection kind, skip both.
pub async fn grpc_web_over_http2_with_cors(db: TestDb) {
    grpc_web_with_cors(db, true).await;
}

async fn grpc_web_with_cors(db: TestDb, http2: bool) {
    let origin = "https://dashboard.example.go.kr";
    let mut app = App::spawn_with(
        &db,
        ServerConfig {
            cors_origins: vec![origin.to_owned()],
            ..ServerConfig::default()
        },
    )
    .await;
    create_company(&mut app, "acme", "").await;

    let url = format!(
        "http://{}/partnership.v1.CompanyService/GetCompany",
        app.addr
    );
    let preflight = |from: &str| {
        http::Request::options(&url)
            .header("origin", from)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-grpc-web")
            .body(Default::default())
            .expect("request")
    };
    let allowed = |headers: &http::HeaderMap| {
        headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };

    // Preflight from the allowed origin; a browser may send a bearer token.
    let (status, headers, _) = http(preflight(origin), http2).await;
    assert!(status.is_success(), "preflight status {status}");
    assert_eq!(allowed(&headers).as_deref(), Some(origin));
    let allowed_headers = headers
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );

    // The call itself, as a browser sends it.
    let body = grpc_web_frame(&pb::GetCompanyRequest {
        name: "companies/acme".into(),
    });
    let request = http::Request::post(&url)
        .header("origin", origin)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(body.into())
        .expect("request");
    let (status, headers, body) = http(request, http2).await;
    assert_eq!(status, 200);
    assert!(
        headers
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("application/grpc-web"))
    );
    assert_eq!(allowed(&headers).as_deref(), Some(origin));
    // Frames: one data frame with the message, then a trailer frame.
    assert_eq!(body[0], 0, "data frame first");
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let company = pb::Company::decode(&body[5..5 + len]).expect("a Company");
    assert_eq!(company.name, "companies/acme");
    let trailer = &body[5 + len..];
    assert_eq!(trailer[0] & 0x80, 0x80, "trailer frame");
    let trailer_text = String::from_utf8_lossy(&trailer[5..]).to_ascii_lowercase();
    assert!(trailer_text.contains("grpc-status:0"), "{trailer_text}");

    // An origin not on the list gets no CORS grant.
    let (_, headers, _) = http(preflight("https://evil.example"), http2).await;
    assert_eq!(allowed(&headers), None);

    if http2 {
        // A gRPC call (no origin, not gRPC-Web) is answered without the
        // browser layers: no CORS headers, but its request and trace ids.
        // gRPC frames its messages as gRPC-Web does.
        let body = grpc_web_frame(&pb::GetCompanyRequest {
            name: "companies/acme".into(),
        });
        let request = http::Request::post(&url)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(body.into())
            .expect("request");
        let (status, headers, body) = http(request, true).await;
        assert_eq!(status, 200);
        assert_eq!(
            headers.get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"0"[..]),
            "{headers:?}"
        );
        assert_eq!(
            headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/grpc"[..])
        );
        assert!(headers.get("vary").is_none(), "{headers:?}");
        assert_eq!(allowed(&headers), None);
        assert!(headers.contains_key("x-request-id"), "{headers:?}");
        assert!(headers.contains_key("x-trace-id"), "{headers:?}");
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let company = pb::Company::decode(&body[5..5 + len]).expect("a Company");
        assert_eq!(company.name, "companies/acme");
    }
    app.stop().await;
}

/// Runs `partnership health` with `args`: whether it succeeded, and what it
/// printed.
async fn health_command(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_partnership"))
            .arg("health")
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run partnership health");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .expect("health command")
}

/// Issue: `partnership health` could not present a client certificate, so
/// the container HEALTHCHECK failed under mutual TLS, and its failures did
/// not say what to do. It can now, and each failure names the address and
/// the remedy.
pub async fn health_command_speaks_mutual_tls_and_says_what_failed(db: TestDb) {
    let pki = pki();
    let app = spawn_mutual_tls(&db, &pki).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write PEM");
        path.display().to_string()
    };
    let ca = file("ca.pem", &pki.ca);
    let cert = file("client.pem", &pki.client_cert);
    let key = file("client.key", &pki.client_key);
    let addr = app.addr.to_string();
    let with = |extra: &[&str]| {
        let mut args = vec!["--addr".to_owned(), addr.clone()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };

    let (ok, out) = health_command(with(&[
        "--tls-ca",
        &ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]))
    .await;
    assert!(ok, "health under mutual TLS failed: {out}");
    assert!(out.contains("SERVING"), "{out}");

    let (ok, out) = health_command(with(&["--tls-ca", &ca])).await;
    assert!(!ok, "health without a client certificate succeeded");
    assert!(out.contains(&addr) && out.contains("--tls-cert"), "{out}");

    let (ok, out) = health_command(with(&[])).await;
    assert!(!ok);
    assert!(out.contains(&addr) && out.contains("--tls-ca"), "{out}");
    app.stop().await;

    // Nothing listens on the port any more.
    let (ok, out) = health_command(with(&["--timeout", "1"])).await;
    assert!(!ok);
    assert!(out.contains(&addr) && out.contains("--addr"), "{out}");
}
