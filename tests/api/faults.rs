//! Faults production brings, against the real binary with its default
//! flags: the database going away and coming back, callers giving up,
//! connections that never speak, running out of file descriptors, and
//! replicas migrating one database at once.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use partnership::pb;
use partnership::pb::company_service_client::CompanyServiceClient;
use partnership::pb::program_service_client::ProgramServiceClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::process::{Server, launch, start};
use crate::support::TestDb;

async fn channel(server: &Server) -> Channel {
    Channel::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

/// A PostgreSQL cluster of the test's own, in a temporary directory, so it
/// can be stopped and started without touching the shared server.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    fn as_postgres(program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program).args(args);
        c
    }

    pub fn new() -> Self {
        let pg = Self::init();
        pg.start();
        pg
    }

    fn bin() -> PathBuf {
        std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL binaries under /usr/lib/postgresql")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("pg_ctl").exists())
            .expect("pg_ctl")
    }

    /// A directory of its own, owned by `postgres`, and a free port.
    fn place() -> (PathBuf, tempfile::TempDir, u16) {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(status.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        (Self::bin(), dir, port)
    }

    /// A new cluster, not started.
    fn init() -> Self {
        let (bin, dir, port) = Self::place();
        let data = dir.path().join("data");
        let status = Self::as_postgres(
            &bin.join("initdb"),
            &["-A", "trust", "-U", "postgres", "-D"],
        )
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("initdb");
        assert!(status.success(), "initdb failed");
        Self { bin, dir, port }
    }

    /// Appends `lines` to the cluster's `postgresql.conf`.
    fn configure(&self, lines: &str) {
        use std::io::Write;
        let path = self.dir.path().join("data").join("postgresql.conf");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .expect("postgresql.conf");
        writeln!(file, "{lines}").expect("configure");
    }

    /// A leader whose every commit waits for a synchronous standby, and
    /// that standby (streaming from it, started): a pair as Patroni runs
    /// it with `synchronous_mode`.
    pub fn synchronous_pair() -> (Self, Self) {
        let leader = Self::init();
        // remote_apply: a commit waits until the standby has replayed it,
        // so more commits are in flight at any moment (a stricter mode than
        // Patroni's synchronous_mode, which waits for the standby's flush).
        leader.configure(
            "synchronous_standby_names = '*'\nsynchronous_commit = remote_apply\nwal_sender_timeout = '5s'",
        );
        leader.start();
        let standby = Self::standby_of(&leader, "");
        (leader, standby)
    }

    /// A leader and an asynchronous standby streaming from it (started),
    /// the standby configured with `standby_lines` too (e.g. a
    /// `recovery_min_apply_delay` that makes it lag).
    pub fn streaming_pair(standby_lines: &str) -> (Self, Self) {
        let leader = Self::init();
        leader.configure("wal_sender_timeout = '5s'");
        leader.start();
        let standby = Self::standby_of(&leader, standby_lines);
        (leader, standby)
    }

    /// A standby of `leader` from its base backup, started.
    fn standby_of(leader: &Self, lines: &str) -> Self {
        let (bin, dir, port) = Self::place();
        let data = dir.path().join("data");
        let status = Self::as_postgres(
            &bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        )
        .args(["-p", &leader.port.to_string(), "-D"])
        .arg(&data)
        .status()
        .expect("pg_basebackup");
        assert!(status.success(), "pg_basebackup failed");
        let standby = Self { bin, dir, port };
        // Promoted, it must not wait for a standby of its own.
        standby.configure(&format!("synchronous_standby_names = ''\n{lines}"));
        standby.start();
        standby
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the postmaster and its processes with SIGKILL, as a lost host.
    pub fn kill(&self) {
        let pid_file = self.dir.path().join("data").join("postmaster.pid");
        let text = std::fs::read_to_string(pid_file).expect("postmaster.pid");
        let pid = text.lines().next().expect("pid").trim().to_owned();
        let children = Command::new("pgrep")
            .args(["-P", &pid])
            .output()
            .expect("pgrep");
        let mut pids = vec![pid];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
        // A child may end by itself meanwhile: the postmaster is what must go.
        let _ = Command::new("kill")
            .arg("-9")
            .args(&pids)
            .stderr(std::process::Stdio::null())
            .status();
        let alive = || {
            Command::new("kill")
                .args(["-0", &pids[0]])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let since = Instant::now();
        while alive() {
            assert!(since.elapsed() < Duration::from_secs(5), "postmaster lives");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Promotes this standby to leader, waiting until it takes writes.
    pub fn promote(&self) {
        self.pg_ctl(&["promote"]);
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.path().display()
        );
        let status = Self::as_postgres(&self.bin.join("pg_ctl"), &["-D"])
            .arg(&data)
            .args(["-l"])
            .arg(&log)
            .args(["-o", &options, "-w"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("pg_ctl");
        assert!(status.success(), "pg_ctl {args:?} failed");
    }

    pub fn start(&self) {
        self.pg_ctl(&["start"]);
    }

    /// Stops at once, as a crash or a lost host would.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Self::as_postgres(&self.bin.join("pg_ctl"), &["-D"])
            .arg(&data)
            .args(["stop", "-m", "immediate"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

async fn serving(health: &mut HealthClient<Channel>) -> Option<bool> {
    let r = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()?;
    Some(r.into_inner().status == ServingStatus::Serving as i32)
}

/// Issue: with default flags, calls with a 2 s deadline ended as
/// DEADLINE_EXCEEDED during an outage and health said SERVING. Now, with
/// the defaults: UNAVAILABLE well within the deadline, NOT_SERVING within a
/// couple of health intervals, and both recover by themselves soon after
/// the database is back.
pub async fn database_outage_with_default_flags() {
    let pg = tokio::task::spawn_blocking(OwnPostgres::new)
        .await
        .expect("own PostgreSQL");
    let url = pg.url();
    let server = tokio::task::spawn_blocking(move || start(&url))
        .await
        .expect("server");
    let channel = channel(&server).await;
    let companies = CompanyServiceClient::new(channel.clone());
    let mut health = HealthClient::new(channel.clone());
    let get = |mut client: CompanyServiceClient<Channel>| async move {
        let mut request = tonic::Request::new(pb::GetCompanyRequest {
            name: "companies/missing".into(),
        });
        request.set_timeout(Duration::from_secs(2));
        let started = Instant::now();
        let code = match client.get_company(request).await {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        };
        (code, started.elapsed())
    };
    assert_eq!(get(companies.clone()).await.0, Code::NotFound);
    assert_eq!(serving(&mut health).await, Some(true));

    // Load from 8 callers throughout.
    let stop_load = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..8 {
        let client = companies.clone();
        let stop = stop_load.clone();
        load.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (code, took) = get(client.clone()).await;
                seen.push((Instant::now(), code, took));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let down = Instant::now();
    tokio::task::block_in_place(|| pg.stop());
    let mut not_serving_after = None;
    while down.elapsed() < Duration::from_secs(6) {
        if not_serving_after.is_none() && serving(&mut health).await == Some(false) {
            not_serving_after = Some(down.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, took) = get(companies.clone()).await;
    assert_eq!(code, Code::Unavailable, "during the outage");
    assert!(
        took < Duration::from_millis(1500),
        "UNAVAILABLE took {took:?}"
    );
    let not_serving_after = not_serving_after.expect("health never said NOT_SERVING");
    assert!(
        not_serving_after < Duration::from_secs(3),
        "NOT_SERVING only after {not_serving_after:?}"
    );

    let up = Instant::now();
    tokio::task::block_in_place(|| pg.start());
    let back = up.elapsed();
    let mut ok_after = None;
    let mut serving_after = None;
    while up.elapsed() < back + Duration::from_secs(10)
        && (ok_after.is_none() || serving_after.is_none())
    {
        if ok_after.is_none() && get(companies.clone()).await.0 == Code::NotFound {
            ok_after = Some(up.elapsed() - back);
        }
        if serving_after.is_none() && serving(&mut health).await == Some(true) {
            serving_after = Some(up.elapsed() - back);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_load.store(true, std::sync::atomic::Ordering::Relaxed);
    let ok_after = ok_after.expect("calls never recovered");
    let serving_after = serving_after.expect("health never recovered");
    assert!(
        ok_after < Duration::from_secs(2),
        "calls back after {ok_after:?}"
    );
    assert!(
        serving_after < Duration::from_secs(2),
        "SERVING after {serving_after:?}"
    );

    // No caller waited out its deadline: every call that failed said
    // UNAVAILABLE, in well under the 2 s it allowed: within about one
    // connection attempt (1 s), also when its read was queued behind
    // another's attempt (it hears that one's failure; it waited 1.85 s for
    // an attempt of its own after it, before).
    for task in load {
        for (at, code, took) in task.await.expect("caller") {
            assert!(
                matches!(code, Code::NotFound | Code::Unavailable),
                "{code:?} at {:?} after the database went down",
                at.checked_duration_since(down)
            );
            assert!(took < Duration::from_millis(1500), "{code:?} took {took:?}");
        }
    }
    assert_eq!(
        get(CompanyServiceClient::new(channel)).await.0,
        Code::NotFound
    );
    drop(server);
}

/// Issue: a call whose client deadline passed left no log line and no
/// count. A call slowed by a held database lock, with a 300 ms deadline, is
/// logged as `rpc finished` with DEADLINE_EXCEEDED and counted as such.
pub async fn calls_past_their_deadline_are_logged_and_counted() {
    use sea_orm::{ConnectionTrait, Database};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/slow.db?mode=rwc", dir.path().display());
    let server_url = url.clone();
    let server = tokio::task::spawn_blocking(move || {
        launch(&server_url, &["--metrics-listen", "127.0.0.1:0"], None)
    })
    .await
    .expect("server");
    let channel = channel(&server).await;
    let program = crate::contention::contended_program(&channel).await;
    let mut programs = ProgramServiceClient::new(channel);

    // Another writer holds the database: the update waits for it.
    let other = Database::connect(url.as_str()).await.expect("connect");
    other
        .execute_unprepared("BEGIN IMMEDIATE")
        .await
        .expect("hold the write lock");
    let mut request = tonic::Request::new(pb::UpdateProgramRequest {
        program: Some(pb::Program {
            name: program.name.clone(),
            description: "slowed".into(),
            ..Default::default()
        }),
        update_mask: None,
    });
    request.set_timeout(Duration::from_millis(300));
    let r = programs.update_program(request).await;
    // The server answers DEADLINE_EXCEEDED at the deadline; the client's
    // own timer, at the same moment, says CANCELLED ("Timeout expired"),
    // and either may arrive first.
    let code = r.map(|_| ()).unwrap_err().code();
    assert!(
        matches!(code, Code::DeadlineExceeded | Code::Cancelled),
        "{code:?}"
    );
    other.execute_unprepared("ROLLBACK").await.expect("release");

    let mut logged = Vec::new();
    for _ in 0..50 {
        logged = server.log_lines(&["rpc finished", "UpdateProgram", "DeadlineExceeded"]);
        if !logged.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        logged.len(),
        1,
        "log: {:?}",
        server.log_lines(&["UpdateProgram"])
    );
    let text = server.metrics_text().await;
    let counted = text.lines().any(|l| {
        l.starts_with("grpc_server_handled_total")
            && l.contains("grpc_method=\"UpdateProgram\"")
            && l.contains("grpc_code=\"DeadlineExceeded\"")
            && l.ends_with(" 1")
    });
    assert!(counted, "{text}");
    drop(server);
}

/// CPU time (user + system) of process `pid` so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    // Linux reports in clock ticks of 1/100 s.
    Duration::from_millis(ticks * 10)
}

/// Issue: idle connections stayed open forever, and at the descriptor
/// limit the accept loop spun a core. A silent connection is closed after
/// `--connection-idle-timeout`; at the limit the server keeps serving the
/// connections it has and stays idle itself.
pub async fn silent_connections_are_closed_and_descriptor_exhaustion_does_not_spin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/conn.db?mode=rwc", dir.path().display());
    let server = tokio::task::spawn_blocking(move || {
        launch(
            &url,
            &[
                "--connection-idle-timeout",
                "1",
                "--db-max-connections",
                "2",
            ],
            Some(64),
        )
    })
    .await
    .expect("server");
    let mut companies = CompanyServiceClient::new(channel(&server).await);
    let get = pb::GetCompanyRequest {
        name: "companies/missing".into(),
    };
    let addr = server.addr.clone();

    // A connection that never sends a byte is closed after about a second.
    let silent = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            let mut socket = TcpStream::connect(&addr).expect("connect");
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let started = Instant::now();
            let mut buf = [0u8; 64];
            let closed = matches!(socket.read(&mut buf), Ok(0) | Err(_));
            (closed, started.elapsed())
        })
    };
    let (closed, after) = silent.await.expect("silent connection");
    assert!(closed, "the silent connection was not closed");
    assert!(after < Duration::from_secs(5), "closed after {after:?}");

    // Past the descriptor limit: more connections than the process may
    // open. The connection it has keeps being served, and it does not spin.
    let flood: Vec<TcpStream> = (0..150)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    let pid = server.pid();
    let before = cpu_time(pid);
    let started = Instant::now();
    for _ in 0..10 {
        let r = companies.get_company(get.clone()).await;
        assert_eq!(r.map(|_| ()).unwrap_err().code(), Code::NotFound);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let used = cpu_time(pid).saturating_sub(before);
    let wall = started.elapsed();
    assert!(
        used < wall / 4,
        "the server used {used:?} of CPU in {wall:?} at the descriptor limit"
    );
    assert!(
        !server
            .log_lines(&["accepting a connection failed"])
            .is_empty(),
        "the accept errors were not logged"
    );
    drop(flood);
    // Once descriptors are free again, new connections are served.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut fresh = CompanyServiceClient::new(channel(&server).await);
    let r = fresh.get_company(get).await;
    assert_eq!(r.map(|_| ()).unwrap_err().code(), Code::NotFound);
    drop(server);
}

/// Issue: of three servers started together on a fresh database, two
/// exited with a duplicate-key error from concurrent migrations. They take
/// turns now, and all three serve.
pub async fn replicas_starting_together_all_serve(db: TestDb) {
    let mut starting = Vec::new();
    for _ in 0..3 {
        let url = db.url.clone();
        starting.push(tokio::task::spawn_blocking(move || start(&url)));
    }
    let mut servers = Vec::new();
    for s in starting {
        servers.push(s.await.expect("every replica starts and serves"));
    }
    for server in &servers {
        let r = CompanyServiceClient::new(channel(server).await)
            .list_companies(pb::ListCompaniesRequest::default())
            .await;
        assert!(r.is_ok(), "{r:?}");
    }
}

/// A replica older than the database's schema refuses to run, saying why.
pub async fn an_older_version_refuses_a_newer_schema(db: TestDb) {
    use sea_orm::{ConnectionTrait, Database};
    let migrate = |url: String| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_partnership"))
                .args(["migrate", "--database-url", &url])
                .env("NO_COLOR", "1")
                .output()
                .expect("run migrate")
        })
    };
    let first = migrate(db.url.clone()).await.expect("migrate");
    assert!(first.status.success());
    let conn = Database::connect(db.url.as_str()).await.expect("connect");
    conn.execute_unprepared(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m99991231_000001_from_the_future', 0)",
    )
    .await
    .expect("a migration of a newer version");
    let _ = conn.close().await;
    let refused = migrate(db.url.clone()).await.expect("migrate");
    assert!(
        !refused.status.success(),
        "an older version ran on a newer schema"
    );
    let output = String::from_utf8_lossy(&refused.stdout);
    assert!(
        output.contains("m99991231_000001_from_the_future") && output.contains("newer"),
        "{output}"
    );
}

/// A health probe that gives up on a slow ping must not leave the ping's
/// answer on the connection (the MySQL driver's ping is not cancel-safe):
/// writes acknowledged after many abandoned pings are all there.
pub async fn abandoned_pings_leave_connections_in_step(db: TestDb) {
    use partnership::domain::{DisplayName, Enterprise, EnterpriseSize, ResourceId};
    use partnership::store::{Companies, Store};
    let store = Store::connect(&partnership::store::DbConfig {
        max_connections: 2,
        ..db.config()
    })
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    for i in 0..100 {
        // Gives up almost at once: the ping is abandoned mid-flight.
        let _ = store.ping(Duration::from_nanos(1)).await;
        let id = ResourceId::parse(&format!("c{i}")).expect("id");
        let data = Enterprise {
            display_name: DisplayName::parse(&format!("Company {i}")).expect("name"),
            business_number: None,
            corporate_number: None,
            size: EnterpriseSize::Large,
            ksic: None,
            region: None,
            employee_count: None,
            annual_revenue_krw: None,
        };
        store
            .create::<Companies>(id.clone(), data, false, None, |_| Vec::new())
            .await
            .unwrap_or_else(|e| panic!("create {i}: {e:?}"));
        store
            .get::<Companies>(&id)
            .await
            .unwrap_or_else(|e| panic!("acknowledged company {i} is missing: {e:?}"));
    }
    store.close().await;
}
