//! Test harness: every test gets its own server on port 0 and its own freshly
//! migrated database, on each backend whose URL is set.

use std::time::Duration;

use std::net::SocketAddr;

use partnership::pb;
use partnership::pb::company_service_client::CompanyServiceClient;
use partnership::pb::program_service_client::ProgramServiceClient;
use partnership::pb::sme_service_client::SmeServiceClient;
use partnership::server::{self, ServerConfig};
use partnership::store::{DbConfig, Store};
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
        }
    }

    pub fn env_var(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => Some("PARTNERSHIP_TEST_POSTGRES_URL"),
            Self::MySql => Some("PARTNERSHIP_TEST_MYSQL_URL"),
        }
    }

    /// The server URL from the environment; `None` means skip.
    pub fn base_url(self) -> Option<String> {
        match self.env_var() {
            None => Some(String::new()),
            Some(var) => std::env::var(var).ok().filter(|v| !v.is_empty()),
        }
    }
}

/// A database made for one test and dropped after it.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    admin_url: String,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

fn replace_db(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("database URL has a scheme");
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}/{db}{query}")
}

impl TestDb {
    pub async fn create(backend: Backend) -> TestDb {
        let name = format!("partnership_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
                TestDb {
                    backend,
                    url,
                    admin_url: String::new(),
                    name,
                    _dir: Some(dir),
                }
            }
            _ => {
                let admin_url = backend.base_url().expect("backend URL is set");
                let admin = Database::connect(&admin_url).await.expect("connect admin");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                TestDb {
                    backend,
                    url: replace_db(&admin_url, &name),
                    admin_url,
                    name,
                    _dir: None,
                }
            }
        }
    }

    pub async fn drop_db(&self) {
        self.dropper().run().await;
    }

    /// What drops this database, to keep after the database is handed on.
    pub fn dropper(&self) -> DropDb {
        DropDb {
            backend: self.backend,
            admin_url: self.admin_url.clone(),
            name: self.name.clone(),
        }
    }

    pub fn config(&self) -> DbConfig {
        DbConfig {
            url: self.url.clone(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(60),
            statement_timeout: Some(Duration::from_secs(60)),
            queue: partnership::store::QueueConfig {
                max_waiting: 128,
                max_wait: Duration::from_secs(60),
            },
            read_url: None,
            read_wait: Duration::from_millis(200),
        }
    }
}

/// Drops a test database (nothing to do on SQLite: its directory goes).
pub struct DropDb {
    backend: Backend,
    admin_url: String,
    name: String,
}

impl DropDb {
    pub async fn run(self) {
        if self.backend == Backend::Sqlite {
            return;
        }
        if let Ok(admin) = Database::connect(&self.admin_url).await {
            let sql = match self.backend {
                Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                _ => format!("DROP DATABASE IF EXISTS {}", self.name),
            };
            let _ = admin.execute_unprepared(&sql).await;
            let _ = admin.close().await;
        }
    }
}

/// A running server and clients to it.
pub struct App {
    /// The server's database, for tests that open a second connection.
    pub db: DbConfig,
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub companies: CompanyServiceClient<Channel>,
    pub smes: SmeServiceClient<Channel>,
    pub programs: ProgramServiceClient<Channel>,
    pub channel: Channel,
    /// Drops the test database under the running server.
    db_killer: Option<(String, String)>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl App {
    pub async fn spawn(db: &TestDb) -> App {
        Self::spawn_with(db, ServerConfig::default()).await
    }

    /// Starts a server with `config` (health checked every 200 ms).
    pub async fn spawn_with(db: &TestDb, config: ServerConfig) -> App {
        Self::spawn_on(db, db.config(), config).await
    }

    /// Starts a server with `config` on `db` reached as `db_config` says
    /// (through a proxy, say).
    pub async fn spawn_on(db: &TestDb, db_config: DbConfig, config: ServerConfig) -> App {
        // PARTNERSHIP_TEST_LOG=1 shows the servers' logs, to debug a test.
        if std::env::var_os("PARTNERSHIP_TEST_LOG").is_some() {
            let telemetry =
                partnership::telemetry::init(partnership::config::LogFormat::Text, None)
                    .expect("logging");
            std::mem::forget(telemetry);
        }
        let store = Store::connect(&db_config).await.expect("connect store");
        store.migrate().await.expect("migrate");
        let listener = server::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let metrics = server::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind metrics");
        let metrics_addr = metrics.local_addr().expect("metrics addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let tls = config.tls.clone();
        let config = ServerConfig {
            health_interval: Duration::from_millis(200),
            ..config
        };
        let listeners = server::Listeners {
            grpc: listener,
            metrics: Some(metrics),
        };
        let handle = tokio::spawn(async move {
            server::serve(store, listeners, config, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        let channel = match tls {
            // TLS tests build their own channels.
            Some(_) => Channel::from_shared(format!("http://{addr}"))
                .expect("uri")
                .connect_lazy(),
            None => Channel::from_shared(format!("http://{addr}"))
                .expect("uri")
                .connect()
                .await
                .expect("connect"),
        };
        App {
            db: db_config,
            addr,
            metrics_addr,
            companies: CompanyServiceClient::new(channel.clone()),
            smes: SmeServiceClient::new(channel.clone()),
            programs: ProgramServiceClient::new(channel.clone()),
            channel,
            db_killer: (db.backend == Backend::Postgres)
                .then(|| (db.admin_url.clone(), db.name.clone())),
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Drops the database with `FORCE`, ending the server's connections.
    pub async fn kill_database(&self) {
        let (admin_url, name) = self.db_killer.clone().expect("PostgreSQL test");
        let admin = Database::connect(&admin_url).await.expect("connect admin");
        admin
            .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .expect("drop database");
        let _ = admin.close().await;
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }
}

/// Asserts `status` has `code`, an `ErrorInfo` in our domain, and, when
/// `field` is given, names it in `BadRequest`, `PreconditionFailure` or the
/// `ErrorInfo` metadata.
pub fn assert_status(
    result: Result<impl std::fmt::Debug, Status>,
    code: Code,
    field: Option<&str>,
) {
    let status = match result {
        Ok(v) => panic!("expected {code:?}, got OK: {v:?}"),
        Err(s) => s,
    };
    assert_eq!(status.code(), code, "status: {status:?}");
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo detail");
    assert_eq!(info.domain, "partnership.gov.kr");
    // One metadata scheme: the keys the README's table names, nothing else.
    for key in info.metadata.keys() {
        assert!(
            matches!(
                key.as_str(),
                "fields"
                    | "resource"
                    | "limit_bytes"
                    | "message_bytes"
                    | "caller"
                    | "scope"
                    | "method"
                    | "per_second"
                    | "max_concurrent_calls"
                    | "max_waiting_calls"
                    | "repeat_with_same_request_id"
            ),
            "unexpected ErrorInfo.metadata key {key}: {status:?}"
        );
    }
    assert!(
        info.reason
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_'),
        "reason {}",
        info.reason
    );
    if let Some(field) = field {
        let in_bad_request = details
            .bad_request()
            .is_some_and(|b| b.field_violations.iter().any(|v| v.field == field));
        let in_precondition = details
            .precondition_failure()
            .is_some_and(|p| p.violations.iter().any(|v| v.subject == field));
        let in_metadata = info
            .metadata
            .get("fields")
            .is_some_and(|f| f.split(',').any(|f| f == field));
        assert!(
            in_metadata,
            "ErrorInfo.metadata.fields does not name {field}: {status:?}"
        );
        assert!(
            in_bad_request || in_precondition || in_metadata,
            "field {field} not named in {status:?}"
        );
    }
}

pub fn company(display_name: &str, business_number: &str) -> pb::Company {
    pb::Company {
        display_name: display_name.to_owned(),
        business_number: business_number.to_owned(),
        size: pb::EnterpriseSize::Large as i32,
        ..Default::default()
    }
}

pub fn sme(display_name: &str) -> pb::Sme {
    pb::Sme {
        display_name: display_name.to_owned(),
        size: pb::EnterpriseSize::Small as i32,
        ..Default::default()
    }
}

pub fn program(display_name: &str, host: &str) -> pb::Program {
    pb::Program {
        display_name: display_name.to_owned(),
        host_company: host.to_owned(),
        kind: pb::ProgramKind::SmartFactory as i32,
        ..Default::default()
    }
}

pub fn date(year: i32, month: i32, day: i32) -> Option<partnership::pb::google::r#type::Date> {
    Some(partnership::pb::google::r#type::Date { year, month, day })
}

/// Creates a company with a given id and returns it.
pub async fn create_company(app: &mut App, id: &str, bn: &str) -> pb::Company {
    app.companies
        .create_company(pb::CreateCompanyRequest {
            company: Some(company(&format!("Company {id}"), bn)),
            company_id: id.to_owned(),
            request_id: String::new(),
        })
        .await
        .expect("create company")
        .into_inner()
}

pub async fn create_sme(app: &mut App, id: &str) -> pb::Sme {
    app.smes
        .create_sme(pb::CreateSmeRequest {
            sme: Some(sme(&format!("SME {id}"))),
            sme_id: id.to_owned(),
            request_id: String::new(),
        })
        .await
        .expect("create sme")
        .into_inner()
}

/// How many SMEs [`create_smes`] creates per BatchCreateSmes call.
pub const SMES_PER_BATCH: usize = 1000;

/// Creates `smes` (id, record) with BatchCreateSmes, [`SMES_PER_BATCH`] at
/// a time, in order.
pub async fn create_smes(app: &mut App, smes: impl IntoIterator<Item = (String, pb::Sme)>) {
    let all: Vec<_> = smes.into_iter().collect();
    for chunk in all.chunks(SMES_PER_BATCH) {
        let requests = chunk
            .iter()
            .map(|(id, sme)| pb::CreateSmeRequest {
                sme: Some(sme.clone()),
                sme_id: id.clone(),
                request_id: String::new(),
            })
            .collect();
        app.smes
            .batch_create_smes(pb::BatchCreateSmesRequest {
                requests,
                request_id: String::new(),
            })
            .await
            .expect("batch create smes");
    }
}

pub async fn create_program(app: &mut App, id: &str, host: &str) -> pb::Program {
    app.programs
        .create_program(pb::CreateProgramRequest {
            program: Some(program(&format!("Program {id}"), host)),
            program_id: id.to_owned(),
            request_id: String::new(),
        })
        .await
        .expect("create program")
        .into_inner()
}

pub async fn count_companies(app: &mut App) -> i32 {
    app.companies
        .list_companies(pb::ListCompaniesRequest {
            show_deleted: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .total_size
}

/// Valid business numbers for tests: `n`-th number with a correct check digit.
pub fn business_number(n: u32) -> String {
    let body = format!("{:09}", 100_810_000 + n);
    let d: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
    let w = [1, 3, 7, 1, 3, 7, 1, 3, 5];
    let mut s: u32 = d.iter().zip(w).map(|(a, b)| a * b).sum();
    s += d[8] * 5 / 10;
    format!("{body}{}", (10 - s % 10) % 10)
}

/// One HTTP/1.1 exchange: the status, the headers and the whole body.
pub async fn http1(
    request: http::Request<http_body_util::Full<bytes::Bytes>>,
) -> (http::StatusCode, http::HeaderMap, bytes::Bytes) {
    http(request, false).await
}

/// `request` over HTTP/1.1, or over HTTP/2 with prior knowledge (as gRPC
/// clients speak it): the status, headers (trailers merged in) and body.
pub async fn http(
    request: http::Request<http_body_util::Full<bytes::Bytes>>,
    http2: bool,
) -> (http::StatusCode, http::HeaderMap, bytes::Bytes) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(http2)
        .build_http();
    let response = client.request(request).await.expect("HTTP exchange");
    let (mut parts, body) = response.into_parts();
    let collected = body.collect().await.expect("response body");
    if let Some(trailers) = collected.trailers() {
        parts.headers.extend(trailers.clone());
    }
    (parts.status, parts.headers, collected.to_bytes())
}
