//! Tests of the real binary: durability across SIGKILL, graceful shutdown on
//! SIGTERM, and the `migrate` subcommand.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use partnership::pb;
use partnership::pb::company_service_client::CompanyServiceClient;

/// A server process.
pub struct Server {
    child: Child,
    pub addr: String,
    /// The `/metrics` address, when the server was started with one.
    pub metrics_addr: Option<String>,
    /// Everything the server has logged so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Kills the process and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The text of the server's `/metrics` (it was started with a
    /// metrics listener).
    pub async fn metrics_text(&self) -> String {
        let addr = self.metrics_addr.clone().expect("metrics address");
        let request = http::Request::get(format!("http://{addr}/metrics"))
            .body(Default::default())
            .expect("request");
        let (_, _, body) = crate::support::http1(request).await;
        String::from_utf8_lossy(&body).into_owned()
    }

    /// The log lines so far that contain every one of `words`.
    pub fn log_lines(&self, words: &[&str]) -> Vec<String> {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        log.into_iter()
            .filter(|line| words.iter().all(|w| line.contains(w)))
            .collect()
    }
}

/// A test that fails half-way leaves no server behind.
impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `partnership serve` on `db_url` and waits until it listens.
pub fn start(db_url: &str) -> Server {
    launch(db_url, &[], None)
}

/// [`start`] from async code, and a channel to the server.
pub async fn start_connected(db_url: &str) -> (Server, tonic::transport::Channel) {
    launch_connected(db_url, &[]).await
}

/// [`launch`] with `flags` from async code, and a channel to the server.
pub async fn launch_connected(db_url: &str, flags: &[&str]) -> (Server, tonic::transport::Channel) {
    launch_env_connected(db_url, flags, &[]).await
}

/// [`launch_env`] from async code, and a channel to the server.
pub async fn launch_env_connected(
    db_url: &str,
    flags: &[&str],
    env: &[(&str, &str)],
) -> (Server, tonic::transport::Channel) {
    let url = db_url.to_owned();
    let owned = |list: &[&str]| {
        list.iter()
            .map(|f| (*f).to_owned())
            .collect::<Vec<String>>()
    };
    let flags = owned(flags);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let server = tokio::task::spawn_blocking(move || {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        launch_env(&url, &flags, None, &env)
    })
    .await
    .expect("server starts");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    (server, channel)
}

/// Starts `partnership serve` on `db_url` with `flags` (and, with
/// `fd_limit`, at most that many open files) and waits until it listens.
/// The metrics listener is off unless `flags` name one.
pub fn launch(db_url: &str, flags: &[&str], fd_limit: Option<u32>) -> Server {
    launch_env(db_url, flags, fd_limit, &[])
}

/// [`launch`] with environment variables set (e.g. `RUST_LOG`).
pub fn launch_env(
    db_url: &str,
    flags: &[&str],
    fd_limit: Option<u32>,
    env: &[(&str, &str)],
) -> Server {
    let bin = env!("CARGO_BIN_EXE_partnership");
    let mut command = match fd_limit {
        Some(n) => {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), bin]);
            c
        }
        None => Command::new(bin),
    };
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    if !flags.contains(&"--metrics-listen") {
        command.args(["--metrics-listen", "off"]);
    }
    let mut child = command
        .args(["--database-url", db_url, "--shutdown-grace", "10"])
        .args(flags)
        .env("PARTNERSHIP_LOG_FORMAT", "text")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start partnership");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = Arc::new(Mutex::new(Vec::new()));
    let address = |line: &str| {
        line.split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    };
    let mut metrics_addr = None;
    let addr = loop {
        assert!(
            Instant::now() < deadline,
            "server did not report its address"
        );
        let line = lines.next().expect("server exited").expect("read line");
        if let Ok(mut log) = log.lock() {
            log.push(line.clone());
        }
        if line.contains("metrics listening") {
            metrics_addr = address(&line);
        } else if line.contains("listening")
            && let Some(addr) = address(&line)
        {
            break addr;
        }
    };
    // Keep reading the output, so the server never blocks on a full pipe
    // and the test can look at what it logged.
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Ok(mut log) = sink.lock() {
                log.push(line);
            }
        }
    });
    Server {
        child,
        addr,
        metrics_addr,
        log,
    }
}

pub fn acknowledged_writes_survive_a_kill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}/restart.db?mode=rwc", dir.path().display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    let mut server = start(&db_url);
    let created: Vec<pb::Company> = runtime.block_on(async {
        let mut client = CompanyServiceClient::connect(format!("http://{}", server.addr))
            .await
            .expect("connect");
        let mut created = Vec::new();
        for i in 0..25 {
            created.push(
                client
                    .create_company(pb::CreateCompanyRequest {
                        company: Some(crate::support::company(&format!("Durable {i}"), "")),
                        ..Default::default()
                    })
                    .await
                    .expect("create")
                    .into_inner(),
            );
        }
        created
    });
    server.child.kill().expect("kill");
    server.child.wait().expect("wait");

    let mut server = start(&db_url);
    runtime.block_on(async {
        let mut client = CompanyServiceClient::connect(format!("http://{}", server.addr))
            .await
            .expect("connect");
        for c in &created {
            let got = client
                .get_company(pb::GetCompanyRequest {
                    name: c.name.clone(),
                })
                .await
                .expect("acknowledged write is there")
                .into_inner();
            assert_eq!(&got, c);
        }
    });
    server.child.kill().expect("kill");
    server.child.wait().expect("wait");
}

pub fn migrate_subcommand_prepares_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}/migrate.db?mode=rwc", dir.path().display());
    for _ in 0..2 {
        // Twice: applying migrations is idempotent.
        let status = Command::new(env!("CARGO_BIN_EXE_partnership"))
            .args(["migrate", "--database-url", &db_url])
            .stdout(Stdio::null())
            .status()
            .expect("run migrate");
        assert!(status.success(), "migrate failed: {status}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_partnership"))
        .args(["migrate", "--database-url", "oracle://nowhere"])
        .stdout(Stdio::null())
        .status()
        .expect("run migrate");
    assert!(!bad.success(), "an unsupported URL must fail");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&db_url).await.expect("connect");
        for table in [
            "companies",
            "smes",
            "programs",
            "participations",
            "request_ids",
        ] {
            db.execute_unprepared(&format!("SELECT COUNT(*) FROM {table}"))
                .await
                .unwrap_or_else(|e| panic!("table {table} missing: {e}"));
        }
    });
}

/// Lists every company name through the paged API.
async fn all_company_names(
    client: &mut CompanyServiceClient<tonic::transport::Channel>,
) -> Vec<String> {
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_companies(pb::ListCompaniesRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        names.extend(page.companies.into_iter().map(|c| c.name));
        if page.next_page_token.is_empty() {
            return names;
        }
        token = page.next_page_token;
    }
}

/// The code of a call refused during shutdown. A call sent on a stream the
/// server's GOAWAY already excluded was never processed, but tonic's client
/// reports it as INTERNAL ("h2 protocol error", GoAway NO_ERROR): it is
/// counted as the UNAVAILABLE it means.
fn refused_code(status: &tonic::Status) -> tonic::Code {
    let go_away = std::error::Error::source(status)
        .is_some_and(|e| format!("{e:?}").contains("GoAway(b\"\", NO_ERROR"));
    if status.code() == tonic::Code::Internal && go_away {
        tonic::Code::Unavailable
    } else {
        status.code()
    }
}

pub fn sigterm_drains_calls_and_exits_in_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}/shutdown.db?mode=rwc", dir.path().display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut server = start(&db_url);
    let addr = server.addr.clone();
    let pid = server.pid().to_string();

    let (acked, failures) = runtime.block_on(async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let mut writers = Vec::new();
        for w in 0..16 {
            let mut client = CompanyServiceClient::new(channel.clone());
            writers.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut failures = Vec::new();
                for i in 0..10_000 {
                    let r = client
                        .create_company(pb::CreateCompanyRequest {
                            company: Some(crate::support::company(&format!("W{w} {i}"), "")),
                            company_id: format!("w{w}-{i}"),
                            request_id: String::new(),
                        })
                        .await;
                    match r {
                        Ok(c) => acked.push(c.into_inner().name),
                        Err(status) => {
                            failures.push((format!("companies/w{w}-{i}"), refused_code(&status)));
                            if failures.len() >= 3 {
                                break;
                            }
                        }
                    }
                }
                (acked, failures)
            }));
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let term = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(term.success());
        let mut acked = Vec::new();
        let mut failures = Vec::new();
        for writer in writers {
            let (a, f) = writer.await.expect("writer");
            acked.extend(a);
            failures.extend(f);
        }
        (acked, failures)
    });

    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "server did not exit within the grace period"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    assert!(
        !acked.is_empty(),
        "no write was acknowledged before SIGTERM"
    );
    // Calls refused during shutdown fail with UNAVAILABLE. A call that races
    // the final close of its connection can be reported by the client as
    // CANCELLED; it was not processed (checked below), so it is safe to retry.
    for (_, code) in &failures {
        assert!(
            matches!(code, tonic::Code::Unavailable | tonic::Code::Cancelled),
            "failures: {failures:?}"
        );
    }

    // Every acknowledged write is stored, and nothing else is.
    let mut server = start(&db_url);
    let stored = runtime.block_on(async {
        let mut client = CompanyServiceClient::connect(format!("http://{}", server.addr))
            .await
            .expect("connect");
        all_company_names(&mut client).await
    });
    server.child.kill().expect("kill");
    server.child.wait().expect("wait");
    let mut acked = acked;
    let mut stored = stored;
    acked.sort();
    stored.sort();
    assert_eq!(stored.len(), acked.len(), "stored vs acknowledged");
    assert_eq!(stored, acked);
    for (name, code) in &failures {
        assert!(
            stored.binary_search(name).is_err(),
            "{name} failed with {code:?} but was stored"
        );
    }
}

pub fn seed_demo_subcommand_is_idempotent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}/demo.db?mode=rwc", dir.path().display());
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_partnership"))
            .args(["seed-demo", "--database-url", &db_url])
            .output()
            .expect("run seed-demo");
        assert!(out.status.success(), "seed-demo failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let total = partnership::seed::demo_record_count();
    assert!(run().contains(&format!("{total} records created, 0 already present")));
    assert!(run().contains(&format!("0 records created, {total} already present")));
}

/// A listener that cannot bind names itself and its address.
pub fn a_taken_address_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}/bind.db?mode=rwc", dir.path().display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    for (flag, what) in [("--listen", "gRPC"), ("--metrics-listen", "metrics")] {
        let mut args = vec!["serve", "--database-url", &db_url];
        if flag == "--listen" {
            args.extend(["--listen", &addr, "--metrics-listen", "off"]);
        } else {
            args.extend(["--listen", "127.0.0.1:0", "--metrics-listen", &addr]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_partnership"))
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run partnership");
        assert!(!out.status.success(), "bound a taken address");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&addr) && text.contains(what) && text.contains(flag),
            "{text}"
        );
    }
}

/// The output of the binary run with `args`, stdout and stderr together.
fn output_of(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_partnership"))
        .args(args)
        .output()
        .expect("run the binary");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `partnership --help` is short and says where the server's options are;
/// `serve --help` lists them under headings, the database second.
pub fn help_groups_the_flags_under_headings() {
    let (ok, top) = output_of(&["--help"]);
    assert!(ok, "{top}");
    assert!(
        top.lines().count() <= 40,
        "{} lines:\n{top}",
        top.lines().count()
    );
    assert!(
        top.contains("seed-demo") && top.contains("serve --help"),
        "{top}"
    );
    assert!(
        !top.contains("--tls-cert"),
        "the serve flags stay out of the top help: {top}"
    );
    let (ok, serve) = output_of(&["serve", "--help"]);
    assert!(ok, "{serve}");
    let mut last = 0;
    for heading in [
        "Listen",
        "Database",
        "TLS",
        "Auth",
        "Limits",
        "Observability",
    ] {
        let at = serve
            .find(&format!("\n{heading}:\n"))
            .unwrap_or_else(|| panic!("no heading {heading}:\n{serve}"));
        assert!(at > last, "{heading} out of order:\n{serve}");
        last = at;
    }
    let position = |flag: &str| serve.find(flag).unwrap_or_else(|| panic!("no {flag}"));
    assert!(position("--database-url") < position("--auth-config"));
    assert!(position("--listen") < position("--database-url"));
}

/// `migrate` on a database its server does not have says so once, with how
/// to create it, and changes nothing; with --create-database the database
/// is created and migrated, and a second run finds it there.
pub async fn a_missing_database_is_named_once_or_created(db: crate::support::TestDb) {
    // The URL now names a database the server does not have.
    db.drop_db().await;
    let (ok, text) = output_of(&["migrate", "--database-url", &db.url]);
    assert!(!ok, "migrate on a missing database must fail:\n{text}");
    assert!(
        text.contains("does not exist on the server") && text.contains("--create-database"),
        "{text}"
    );
    assert_eq!(
        text.matches("does not exist").count(),
        1,
        "the cause once:\n{text}"
    );
    assert!(!text.contains("at line"), "no driver noise:\n{text}");
    for _ in 0..2 {
        let (ok, text) = output_of(&["migrate", "--create-database", "--database-url", &db.url]);
        assert!(ok, "{text}");
        assert!(text.contains("migrations applied"), "{text}");
    }
    let store = partnership::store::Store::connect(&db.config())
        .await
        .expect("the created database");
    assert!(!store.has_records().await.expect("tables exist"));
    store.close().await;
}
