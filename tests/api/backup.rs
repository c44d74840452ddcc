//! Backups of the embedded SQLite database taken while writers write, and
//! their restore: `partnership backup` and `partnership restore`, the
//! binary as an operator runs it.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use partnership::pb;
use partnership::store::DbConfig;

use crate::support::{App, TestDb, sme};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_partnership"))
        .args(args)
        .env("PARTNERSHIP_LOG_FORMAT", "text")
        .output()
        .expect("run partnership");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Creates SMEs from four writers until told to stop; each acknowledged
/// one's name and etag.
struct Writers {
    acked: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    fn start(app: &App) -> Self {
        let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tasks = (0..4)
            .map(|w| {
                let mut smes = app.smes.clone();
                let (acked, stop) = (acked.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        n += 1;
                        let made = smes
                            .create_sme(pb::CreateSmeRequest {
                                sme: Some(sme(&format!("백업 중 {w}-{n}"))),
                                sme_id: format!("w{w}-{n}"),
                                ..Default::default()
                            })
                            .await
                            .expect("create")
                            .into_inner();
                        acked.lock().expect("lock").push((made.name, made.etag));
                    }
                })
            })
            .collect();
        Self { acked, stop, tasks }
    }

    fn so_far(&self) -> Vec<(String, String)> {
        self.acked.lock().expect("lock").clone()
    }

    async fn finish(self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("writer");
        }
        self.acked.lock().expect("lock").len()
    }
}

/// Every record of `before` is on `app` with its etag, and once in its
/// journal as CREATED.
async fn holds_every_record(app: &App, before: &[(String, String)]) {
    let mut smes = app.smes.clone();
    for (name, etag) in before {
        let got = smes
            .get_sme(pb::GetSmeRequest { name: name.clone() })
            .await
            .unwrap_or_else(|s| panic!("{name} acknowledged before the backup: {s:?}"))
            .into_inner();
        assert_eq!(&got.etag, etag, "{name}");
    }
    let mut feed =
        pb::change_feed_service_client::ChangeFeedServiceClient::new(app.channel.clone());
    let mut request = tonic::Request::new(pb::WatchChangesRequest {
        collections: vec!["smes".into()],
        start_from_earliest: true,
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(3));
    let mut stream = feed
        .watch_changes(request)
        .await
        .expect("watch")
        .into_inner();
    let mut created: HashMap<String, u32> = HashMap::new();
    while let Ok(Some(message)) = stream.message().await {
        for change in message.changes {
            if change.kind == pb::ChangeKind::Created as i32 {
                *created.entry(change.resource).or_default() += 1;
            }
        }
        if before.iter().all(|(name, _)| created.contains_key(name)) {
            break;
        }
    }
    for (name, _) in before {
        assert_eq!(created.get(name), Some(&1), "{name}'s CREATED entry");
    }
}

/// A backup taken while four writers create SMEs holds every record
/// acknowledged before it started, with its etag, and the journal's entry
/// of each; a server starts on its restore and serves them. Restore
/// refuses to replace a database without --force, and one a server has
/// open even with it; a file that is not a backup is refused.
pub async fn a_backup_under_writes_restores_every_acknowledged_record(db: TestDb) {
    let app = App::spawn(&db).await;
    let writers = Writers::start(&app);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = writers.so_far();
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = dir.path().join("backup.db");
    let backup_arg = backup.display().to_string();
    let url = app.db.url.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(&["backup", "--database-url", &url, "--to", &backup_arg])
    })
    .await
    .expect("backup");
    assert!(ok, "backup: {out}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = writers.finish().await;
    assert!(
        before.len() >= 4 && after > before.len(),
        "writes went on: {} then {after}",
        before.len()
    );

    // A backup never overwrites a file.
    let (ok, out) = run(&[
        "backup",
        "--database-url",
        &app.db.url,
        "--to",
        &backup.display().to_string(),
    ]);
    assert!(!ok && out.contains("already exists"), "{out}");
    // Restore refuses the live database, with and without --force.
    let (ok, out) = run(&[
        "restore",
        "--from",
        &backup.display().to_string(),
        "--database-url",
        &app.db.url,
    ]);
    assert!(!ok && out.contains("--force"), "{out}");
    let (ok, out) = run(&[
        "restore",
        "--from",
        &backup.display().to_string(),
        "--database-url",
        &app.db.url,
        "--force",
    ]);
    assert!(!ok && out.contains("in use"), "{out}");
    let not_a_backup = dir.path().join("notes.txt");
    std::fs::write(&not_a_backup, "not a database").expect("write");
    let restored_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("restored.db").display()
    );
    let (ok, out) = run(&[
        "restore",
        "--from",
        &not_a_backup.display().to_string(),
        "--database-url",
        &restored_url,
    ]);
    assert!(!ok && out.contains("not a partnership backup"), "{out}");
    app.stop().await;

    let (ok, out) = run(&[
        "restore",
        "--from",
        &backup.display().to_string(),
        "--database-url",
        &restored_url,
    ]);
    assert!(ok, "restore: {out}");
    let restored = App::spawn_on(
        &db,
        DbConfig {
            url: restored_url,
            ..db.config()
        },
        Default::default(),
    )
    .await;
    holds_every_record(&restored, &before).await;
    restored.stop().await;
}

/// PostgreSQL, as the README says to back it up: `pg_dump -Fc` while four
/// writers create SMEs, `pg_restore` into a fresh database, and a server
/// started on it holds every record acknowledged before the dump began,
/// with its etag and its journal entry.
pub async fn a_pg_dump_under_writes_restores_every_acknowledged_record(db: TestDb) {
    let app = App::spawn(&db).await;
    let writers = Writers::start(&app);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = writers.so_far();
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("partnership.dump");
    let (url, file) = (app.db.url.clone(), dump.display().to_string());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("pg_dump")
            .args(["-Fc", "--dbname", &url, "--file", &file])
            .output()
            .expect("pg_dump (postgresql-client)")
    })
    .await
    .expect("pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    writers.finish().await;
    app.stop().await;

    let fresh = TestDb::create(db.backend).await;
    let out = Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname", &fresh.url])
        .arg(&dump)
        .output()
        .expect("pg_restore (postgresql-client)");
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = App::spawn(&fresh).await;
    holds_every_record(&restored, &before).await;
    restored.stop().await;
    fresh.drop_db().await;
}
