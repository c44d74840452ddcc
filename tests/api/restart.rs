//! Durability: the real binary is killed (SIGKILL) after acknowledging
//! writes, restarted on the same SQLite file, and every write is there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use partnership::pb;
use partnership::pb::company_service_client::CompanyServiceClient;

struct Server {
    child: Child,
    addr: String,
}

fn start(db_url: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_partnership"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", db_url])
        .env("PARTNERSHIP_LOG_FORMAT", "text")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start partnership");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        assert!(
            Instant::now() < deadline,
            "server did not report its address"
        );
        let line = lines.next().expect("server exited").expect("read line");
        if let Some(rest) = line.split("addr=").nth(1)
            && line.contains("listening")
        {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    // Keep draining the output so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
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
