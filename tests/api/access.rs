//! Who may call and how much: bearer tokens and client certificates from
//! the callers' file, scopes checked before existence, per-caller rate
//! limits, load shedding, and deadlines that reach the database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use partnership::auth::{Auth, Scope, token_entry};
use partnership::pb;
use partnership::server::ServerConfig;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::support::{App, Backend, TestDb, assert_status, business_number, company};
use crate::transport::{Samples, scrape};

/// A callers' file in a temporary directory, and the tokens it lets in.
pub struct CallersFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub tokens: Vec<(String, String)>,
}

impl CallersFile {
    /// A server that lets in the callers of this file.
    pub async fn serve(&self, db: &TestDb) -> App {
        App::spawn_with(
            db,
            ServerConfig {
                auth: Some(self.auth()),
                ..ServerConfig::default()
            },
        )
        .await
    }

    /// One caller per `(name, scopes, extra TOML lines)`, each with a
    /// fresh token.
    pub fn new(callers: &[(&str, &[Scope], &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("callers.toml");
        let mut text = String::new();
        let mut tokens = Vec::new();
        for (name, scopes, extra) in callers {
            let (token, entry) = token_entry(name, scopes).expect("entry");
            text.push_str(&entry);
            text.push_str(extra);
            text.push('\n');
            tokens.push(((*name).to_owned(), token));
        }
        std::fs::write(&path, text).expect("write callers");
        Self {
            _dir: dir,
            path,
            tokens,
        }
    }

    pub fn token(&self, name: &str) -> &str {
        self.tokens
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
            .expect("a caller of the file")
    }

    pub fn auth(&self) -> Arc<Auth> {
        Arc::new(Auth::load(&self.path).expect("valid callers file"))
    }
}

/// `message` with `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("ascii");
    request.metadata_mut().insert("authorization", value);
    request
}

/// An update of `name`'s display name, with a deadline `timeout` away.
fn rename(
    name: &str,
    display_name: &str,
    timeout: Duration,
) -> tonic::Request<pb::UpdateCompanyRequest> {
    let mut request = tonic::Request::new(pb::UpdateCompanyRequest {
        company: Some(pb::Company {
            name: name.into(),
            display_name: display_name.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["display_name".into()],
        }),
    });
    request.set_timeout(timeout);
    request
}

fn get(name: &str) -> pb::GetCompanyRequest {
    pb::GetCompanyRequest { name: name.into() }
}

fn create(id: &str, n: u32) -> pb::CreateCompanyRequest {
    pb::CreateCompanyRequest {
        company: Some(company(&format!("Company {id}"), &business_number(n))),
        company_id: id.into(),
        ..Default::default()
    }
}

fn handled(samples: &Samples, method: &str, code: &str, caller: &str) -> f64 {
    samples
        .find(
            "grpc_server_handled_total",
            &[
                ("grpc_method", method),
                ("grpc_code", code),
                ("caller", caller),
            ],
        )
        .unwrap_or(0.0)
}

/// No token, a bad token, a token without the scope (checked before the
/// resource is looked up), an admin RPC with a write token; health and
/// reflection open to all; the caller labels the metrics.
pub async fn tokens_and_scopes_are_checked_before_existence(db: TestDb) {
    let file = CallersFile::new(&[
        ("reader", &[Scope::Read], ""),
        ("writer", &[Scope::Read, Scope::Write], ""),
        ("operator", &[Scope::Admin], ""),
    ]);
    let mut app = file.serve(&db).await;
    let (reader, writer, operator) = (
        file.token("reader"),
        file.token("writer"),
        file.token("operator"),
    );

    // No credentials, or credentials the server does not know: the
    // resource's existence is not revealed.
    let r = app.companies.get_company(get("companies/nope")).await;
    assert_status(r, Code::Unauthenticated, None);
    for bad in ["pt_not-a-token", "", &reader[..reader.len() - 1]] {
        let r = app
            .companies
            .get_company(bearer(get("companies/nope"), bad))
            .await;
        assert_status(r, Code::Unauthenticated, None);
    }
    let mut basic = tonic::Request::new(get("companies/nope"));
    basic.metadata_mut().insert(
        "authorization",
        "Basic cmVhZGVyOnB3".parse().expect("ascii"),
    );
    assert_status(
        app.companies.get_company(basic).await,
        Code::Unauthenticated,
        None,
    );

    // Health and reflection need nothing.
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("health is open");
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            app.channel.clone(),
        );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection is open")
        .into_inner();
    assert!(answers.message().await.expect("answer").is_some());

    // A read token reads, and is refused every write before existence.
    let r = app
        .companies
        .get_company(bearer(get("companies/nope"), reader))
        .await;
    assert_status(r, Code::NotFound, None);
    app.companies
        .list_companies(bearer(pb::ListCompaniesRequest::default(), reader))
        .await
        .expect("a reader lists");
    let r = app
        .companies
        .create_company(bearer(create("c1", 1), reader))
        .await;
    let status = r.expect_err("a reader cannot create");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "SCOPE_MISSING");
    assert_eq!(
        info.metadata.get("scope").map(String::as_str),
        Some("write")
    );
    assert_eq!(
        info.metadata.get("caller").map(String::as_str),
        Some("reader")
    );
    let r = app
        .companies
        .delete_company(bearer(
            pb::DeleteCompanyRequest {
                name: "companies/nope".into(),
                ..Default::default()
            },
            reader,
        ))
        .await;
    assert_status(r, Code::PermissionDenied, None);

    // A write token writes, but cannot undelete (admin).
    let created = app
        .companies
        .create_company(bearer(create("c1", 1), writer))
        .await
        .expect("a writer creates")
        .into_inner();
    app.companies
        .delete_company(bearer(
            pb::DeleteCompanyRequest {
                name: created.name.clone(),
                ..Default::default()
            },
            writer,
        ))
        .await
        .expect("a writer deletes");
    let undelete = || pb::UndeleteCompanyRequest {
        name: created.name.clone(),
        ..Default::default()
    };
    let r = app
        .companies
        .undelete_company(bearer(undelete(), writer))
        .await;
    assert_status(r, Code::PermissionDenied, None);
    // The admin scope alone undeletes, and does not read: scopes do not
    // imply one another.
    app.companies
        .undelete_company(bearer(undelete(), operator))
        .await
        .expect("an operator undeletes");
    let r = app
        .companies
        .get_company(bearer(get(&created.name), operator))
        .await;
    assert_status(r, Code::PermissionDenied, None);

    let samples = scrape(&app).await;
    assert!(handled(&samples, "GetCompany", "Unauthenticated", "unauthenticated") >= 4.0);
    assert_eq!(
        handled(&samples, "CreateCompany", "PermissionDenied", "reader"),
        1.0
    );
    assert_eq!(handled(&samples, "CreateCompany", "OK", "writer"), 1.0);
    assert_eq!(handled(&samples, "UndeleteCompany", "OK", "operator"), 1.0);
    app.stop().await;
}

/// A caller past its bucket is told when to come back (RetryInfo); other
/// callers are not held up by it.
pub async fn rate_limits_are_per_caller_with_retry_info(db: TestDb) {
    let file = CallersFile::new(&[
        (
            "hasty",
            &[Scope::Read],
            "rate_limit = { per_second = 2, burst = 3 }",
        ),
        ("calm", &[Scope::Read], ""),
    ]);
    let mut app = file.serve(&db).await;
    let list = |token: &str| bearer(pb::ListCompaniesRequest::default(), token);
    for _ in 0..3 {
        app.companies
            .list_companies(list(file.token("hasty")))
            .await
            .expect("within the burst");
    }
    let status = app
        .companies
        .list_companies(list(file.token("hasty")))
        .await
        .expect_err("over the burst");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "RATE_LIMITED");
    let retry = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_millis(500),
        "{retry:?}"
    );
    // Others are not held up.
    for _ in 0..10 {
        app.companies
            .list_companies(list(file.token("calm")))
            .await
            .expect("another caller is unaffected");
    }
    tokio::time::sleep(retry).await;
    app.companies
        .list_companies(list(file.token("hasty")))
        .await
        .expect("let through after the RetryInfo delay");
    app.stop().await;
}

/// More calls than `max_concurrent_calls` at once: the extra call is
/// refused at once (UNAVAILABLE, OVERLOADED, RetryInfo), not queued; health
/// still answers; the calls held up finish.
pub async fn calls_over_the_limit_are_shed_not_queued(db: TestDb) {
    use sea_orm::{ConnectionTrait, Database};
    let mut app = App::spawn_with(
        &db,
        ServerConfig {
            max_concurrent_calls: 2,
            ..ServerConfig::default()
        },
    )
    .await;
    for i in 0..2 {
        crate::support::create_company(&mut app, &format!("c{i}"), &business_number(i)).await;
    }
    // Another writer holds the SQLite database: updates wait for it.
    let other = Database::connect(db.url.as_str()).await.expect("connect");
    other
        .execute_unprepared("BEGIN IMMEDIATE")
        .await
        .expect("hold the write lock");
    let mut held = Vec::new();
    for i in 0..2 {
        let mut client = app.companies.clone();
        held.push(tokio::spawn(async move {
            let request = rename(&format!("companies/c{i}"), "held", Duration::from_secs(20));
            client.update_company(request).await
        }));
    }
    let in_flight = |s: &Samples| {
        s.find("grpc_server_in_flight", &[("grpc_method", "UpdateCompany")])
            .unwrap_or(0.0)
    };
    let until = Instant::now() + Duration::from_secs(10);
    while in_flight(&scrape(&app).await) < 2.0 {
        assert!(Instant::now() < until, "the updates never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let status = app
        .companies
        .get_company(get("companies/c0"))
        .await
        .expect_err("over the limit");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused only after {:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.get_details_error_info().map(|i| i.reason),
        Some("OVERLOADED".to_owned())
    );
    assert!(status.get_details_retry_info().is_some());
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("health answers when the server is full");
    other.execute_unprepared("ROLLBACK").await.expect("release");
    for call in held {
        call.await.expect("task").expect("a held update finishes");
    }
    app.companies
        .get_company(get("companies/c0"))
        .await
        .expect("room again");
    app.stop().await;
}

/// PostgreSQL: a statement whose caller's deadline passes is cancelled by
/// the database, not left waiting in `pg_stat_activity`.
pub async fn expired_deadlines_cancel_the_statement(db: TestDb) {
    use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
    assert_eq!(db.backend, Backend::Postgres);
    let mut app = App::spawn(&db).await;
    crate::support::create_company(&mut app, "locked", &business_number(7)).await;
    let other = Database::connect(db.url.as_str()).await.expect("connect");
    let holder = other.begin().await.expect("begin");
    holder
        .execute_unprepared("SELECT 1 FROM companies WHERE id = 'locked' FOR UPDATE")
        .await
        .expect("lock the row");
    let waiting = || async {
        let row = other
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND wait_event_type = 'Lock'",
            ))
            .await
            .expect("activity")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count")
    };
    let mut client = app.companies.clone();
    let update = tokio::spawn(async move {
        let request = rename("companies/locked", "waits", Duration::from_millis(800));
        client.update_company(request).await
    });
    // The update's statement waits on the lock while its caller waits...
    let until = Instant::now() + Duration::from_secs(5);
    while waiting().await == 0 {
        assert!(
            Instant::now() < until,
            "the update never waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let code = update.await.expect("task").map(|_| ()).unwrap_err().code();
    assert!(
        matches!(code, Code::DeadlineExceeded | Code::Cancelled),
        "{code:?}"
    );
    // ...and is gone soon after the deadline, though the lock is still held.
    let until = Instant::now() + Duration::from_secs(1);
    while waiting().await > 0 {
        assert!(
            Instant::now() < until,
            "the statement is still waiting a second after its deadline"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.rollback().await.expect("release");
    let _ = other.close().await;
    // The row is unchanged and writable.
    let request = rename("companies/locked", "now", Duration::from_secs(5));
    let updated = app
        .companies
        .update_company(request)
        .await
        .expect("update after the lock")
        .into_inner();
    assert_eq!(updated.display_name, "now");
    app.stop().await;
}

/// Runs the binary with `args` to its end (at most 30 s): exit success and
/// everything it printed (stdout, then stderr).
fn run_binary(args: &[&str]) -> (bool, String, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_partnership"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start partnership");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => break,
            None if Instant::now() > until => {
                let _ = child.kill();
                panic!("partnership {args:?} did not exit");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Without a callers' file the server keeps to loopback: a non-loopback
/// `--listen` is refused (saying what to do) unless `--insecure-no-auth`
/// is given, and the log says auth is off. `token new` prints a token and
/// the entry that lets it in.
pub fn without_auth_the_server_keeps_to_loopback() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/loopback.db?mode=rwc", dir.path().display());
    let (ok, out, err) = run_binary(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--metrics-listen",
        "off",
        "--database-url",
        &url,
    ]);
    assert!(!ok, "served beyond loopback without auth: {out}");
    let said = format!("{out}{err}");
    assert!(
        said.contains("refusing to listen on 0.0.0.0:0 without --auth-config")
            && said.contains("--insecure-no-auth"),
        "{said}"
    );

    let mut insecure = crate::process::launch(&url, &["--insecure-no-auth"], None);
    assert!(!insecure.log_lines(&["auth is off"]).is_empty());
    insecure.stop();
    let mut server = crate::process::launch(&url, &[], None);
    assert_eq!(
        server.log_lines(&["auth is off"]).len(),
        1,
        "{:?}",
        server.log_lines(&[""])
    );
    server.stop();

    // `token new`: the token alone on stdout, the entry on stderr; the
    // entry lets the token in.
    let (ok, out, err) = run_binary(&["token", "new", "dash-board", "--scopes", "read,admin"]);
    assert!(ok, "{err}");
    let token = out.trim();
    assert!(token.starts_with("pt_") && !token.contains('\n'), "{out}");
    let entry = &err[err.find("[[callers]]").expect("an entry")..];
    assert!(!err.contains(token), "the token is printed once");
    let path = dir.path().join("callers.toml");
    std::fs::write(&path, entry).expect("write");
    let auth = Auth::load(&path).expect("the printed entry parses");
    assert_eq!(auth.names(), vec![Arc::<str>::from("dash-board")]);
    let header = format!("Bearer {token}");
    let caller = auth
        .authenticate(Some(header.as_bytes()), Vec::new)
        .expect("the printed token is let in");
    assert!(caller.scopes.contains(Scope::Read) && caller.scopes.contains(Scope::Admin));
    // `--append` writes the entry into the file; two appends, two callers.
    let appended = dir.path().join("appended.toml");
    let appended_arg = appended.display().to_string();
    let mut minted = Vec::new();
    for name in ["first", "second"] {
        let (ok, out, err) = run_binary(&[
            "token",
            "new",
            name,
            "--scopes",
            "write",
            "--append",
            &appended_arg,
        ]);
        assert!(ok && err.contains("appended"), "{out}{err}");
        minted.push(out.trim().to_owned());
    }
    let auth = Auth::load(&appended).expect("appended entries parse");
    assert_eq!(auth.names().len(), 2);
    for token in &minted {
        let header = format!("Bearer {token}");
        assert!(auth.authenticate(Some(header.as_bytes()), Vec::new).is_ok());
        let file = std::fs::read_to_string(&appended).expect("read");
        assert!(!file.contains(token.trim_start_matches("pt_")));
    }
    let (ok, out, err) = run_binary(&["token", "new", "Bad Name", "--scopes", "read"]);
    assert!(!ok && out.contains("not a caller name"), "{out}{err}");
    let (ok, out, err) = run_binary(&["token", "new", "x", "--scopes", "root"]);
    assert!(!ok && err.contains("unknown scope"), "{out}{err}");
}

/// The real binary on PostgreSQL with a password in its URL, auth on and
/// debug logging: SIGHUP revokes a token without a restart, a broken file
/// keeps the callers in force, the caller names every log line and
/// metrics series, and no token, token hash or password appears in the
/// log, the metrics, or the errors callers get.
pub async fn sighup_reloads_callers_and_no_secret_leaks(db: TestDb) {
    use partnership::auth::TokenHash;
    let file = CallersFile::new(&[
        ("reader", &[Scope::Read], ""),
        ("writer", &[Scope::Read, Scope::Write], ""),
    ]);
    let password = format!("pw{}", uuid::Uuid::new_v4().simple());
    let url = db
        .url
        .replacen("://postgres@", &format!("://postgres:{password}@"), 1);
    assert!(url.contains(&password), "the test URL names user postgres");
    let path = file.path.display().to_string();
    let server = tokio::task::spawn_blocking(move || {
        crate::process::launch_env(
            &url,
            &["--auth-config", &path, "--metrics-listen", "127.0.0.1:0"],
            None,
            &[("RUST_LOG", "debug")],
        )
    })
    .await
    .expect("server");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut companies = pb::company_service_client::CompanyServiceClient::new(channel);
    let (reader, writer) = (
        file.token("reader").to_owned(),
        file.token("writer").to_owned(),
    );
    let mut answers = Vec::new();
    companies
        .list_companies(bearer(pb::ListCompaniesRequest::default(), &reader))
        .await
        .expect("reader lists");
    companies
        .create_company(bearer(create("w1", 1), &writer))
        .await
        .expect("writer creates");
    for request in [
        bearer(create("r1", 2), &reader),
        bearer(create("x1", 3), &format!("{reader}x")),
        bearer(create("x2", 4), &TokenHash::of(&writer).to_config()),
    ] {
        let status = companies
            .create_company(request)
            .await
            .expect_err("refused");
        answers.push(format!("{status:?}"));
    }

    let hup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -HUP");
    };
    let wait_for_log = |words: &'static [&'static str], n: usize| {
        let server = &server;
        async move {
            let until = Instant::now() + Duration::from_secs(10);
            while server.log_lines(words).len() < n {
                assert!(Instant::now() < until, "no log line with {words:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // A broken file (quoting a hash on the bad line) leaves both callers in.
    let good = std::fs::read_to_string(&file.path).expect("read");
    std::fs::write(
        &file.path,
        format!(
            "{good}\n[[callers]\nname = \"late\"\ntoken_hashes = [\"{}\"]\n",
            TokenHash::of(&reader).to_config()
        ),
    )
    .expect("write");
    hup(server.pid());
    wait_for_log(&["auth config not reloaded"], 1).await;
    companies
        .list_companies(bearer(pb::ListCompaniesRequest::default(), &reader))
        .await
        .expect("the callers in force stay after a broken file");
    // A file without the reader revokes its token, without a restart.
    let (_, writer_entry) = good.split_at(good.find("name = \"writer\"").expect("writer") - 12);
    std::fs::write(&file.path, writer_entry).expect("write");
    hup(server.pid());
    wait_for_log(&["auth config reloaded", "callers=1"], 1).await;
    let status = companies
        .list_companies(bearer(pb::ListCompaniesRequest::default(), &reader))
        .await
        .expect_err("revoked");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    answers.push(format!("{status:?}"));
    companies
        .list_companies(bearer(pb::ListCompaniesRequest::default(), &writer))
        .await
        .expect("the writer stays");

    // The caller names the log lines and the metrics.
    let lines = server.log_lines(&["rpc finished", "ListCompanies", "caller=reader"]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        server
            .log_lines(&["rpc finished", "CreateCompany", "caller=writer", "code=Ok"])
            .len(),
        1
    );
    assert_eq!(
        server
            .log_lines(&["rpc finished", "caller=unauthenticated"])
            .len(),
        3
    );
    let metrics_text = server.metrics_text().await;
    assert!(
        metrics_text.contains("caller=\"reader\"") && metrics_text.contains("caller=\"writer\""),
        "{metrics_text}"
    );

    // A database error names no password either.
    let bad_url = format!("postgres://postgres:{password}@127.0.0.1:1/nowhere");
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || run_binary(&["migrate", "--database-url", &bad_url]))
            .await
            .expect("migrate");
    assert!(!ok);

    let log = server.log_lines(&[""]).join("\n");
    assert!(log.contains("DEBUG"), "the run logged at debug level");
    let everything = format!(
        "{log}\n{metrics_text}\n{}\n{out}\n{err}",
        answers.join("\n")
    );
    let mut secrets = vec![password.clone()];
    for token in [&reader, &writer] {
        secrets.push(token.trim_start_matches("pt_").to_owned());
        let hash = TokenHash::of(token).to_config();
        secrets.push(hash.trim_start_matches("sha256:").to_owned());
    }
    for secret in &secrets {
        assert!(
            !everything.contains(secret.as_str()),
            "a secret leaked: {secret} in\n{everything}"
        );
    }
    drop(server);
}

/// Issue: a 16 KiB `authorization` header got HTTP 431 from the HTTP/2
/// layer, with no `grpc-status` (a gRPC caller saw UNKNOWN). Headers of
/// 16 and 64 KiB now reach the gate: a bad token is UNAUTHENTICATED, and a
/// good one with 64 KiB of other metadata (a forwarded certificate chain,
/// say) is served.
pub async fn large_headers_get_a_grpc_status(db: TestDb) {
    let file = CallersFile::new(&[("reader", &[Scope::Read], "")]);
    let mut app = file.serve(&db).await;
    for kib in [16, 64] {
        let forged = format!("pt_{}", "a".repeat(kib * 1024));
        let r = app
            .companies
            .get_company(bearer(get("companies/nope"), &forged))
            .await;
        assert_status(r, Code::Unauthenticated, None);

        let mut request = bearer(get("companies/nope"), file.token("reader"));
        let certificate = "b".repeat(kib * 1024);
        request.metadata_mut().insert(
            "x-forwarded-client-cert",
            MetadataValue::try_from(certificate.as_str()).expect("ascii"),
        );
        let r = app.companies.get_company(request).await;
        assert_status(r, Code::NotFound, None);
    }
    app.stop().await;
}
