//! Writes whose connection fails as they commit: the server finds out
//! whether they landed before it answers. A proxy between the server and
//! the database cuts the connection on the first bytes after a COMMIT (the
//! database committed, its answer is lost) or instead of forwarding the
//! COMMIT (nothing committed), and can then keep the database out of reach.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use partnership::pb;
use partnership::pb::audit_service_client::AuditServiceClient;
use partnership::server::ServerConfig;
use prost_types::FieldMask;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{App, TestDb, assert_status, sme};

/// Where the proxy cuts the next COMMIT's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// On the database's first bytes after the COMMIT: it committed.
    AfterCommit,
    /// Instead of forwarding the COMMIT: it cannot commit.
    BeforeCommit,
}

#[derive(Default)]
struct Armed {
    cut: Option<Cut>,
    /// Then close every connection and refuse new ones until restored.
    then_outage: bool,
}

struct ProxyState {
    target: std::sync::Mutex<SocketAddr>,
    armed: std::sync::Mutex<Armed>,
    /// Cuts made so far.
    cuts: AtomicUsize,
    refusing: AtomicBool,
    /// Bumped to close every open connection.
    closing: watch::Sender<u64>,
}

impl ProxyState {
    /// The cut armed for a COMMIT now passing, disarmed as it is taken.
    fn take(&self) -> Option<(Cut, bool)> {
        let mut armed = self.armed.lock().ok()?;
        let cut = armed.cut.take()?;
        Some((cut, std::mem::take(&mut armed.then_outage)))
    }

    fn cut_made(&self, outage: bool) {
        self.cuts.fetch_add(1, Ordering::SeqCst);
        if outage {
            self.refusing.store(true, Ordering::SeqCst);
            self.closing.send_modify(|n| *n += 1);
        }
    }
}

/// A TCP proxy in front of the test's database server.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(ProxyState {
            target: std::sync::Mutex::new(target),
            armed: std::sync::Mutex::default(),
            cuts: AtomicUsize::new(0),
            refusing: AtomicBool::new(false),
            closing: watch::Sender::new(0),
        });
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if state.refusing.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    tokio::spawn(pipe(state.clone(), client));
                }
            }
        });
        Proxy { addr, state, task }
    }

    /// Cuts the connection of the next COMMIT as `cut` says; with
    /// `then_outage`, the database is then out of reach until
    /// [`Proxy::restore`].
    fn arm(&self, cut: Cut, then_outage: bool) {
        let mut armed = self.state.armed.lock().expect("proxy state");
        *armed = Armed {
            cut: Some(cut),
            then_outage,
        };
    }

    fn disarm(&self) {
        *self.state.armed.lock().expect("proxy state") = Armed::default();
    }

    fn cuts(&self) -> usize {
        self.state.cuts.load(Ordering::SeqCst)
    }

    fn restore(&self) {
        self.state.refusing.store(false, Ordering::SeqCst);
    }

    /// Closes every connection and refuses new ones, as a balancer with no
    /// healthy backend.
    fn outage(&self) {
        self.state.refusing.store(true, Ordering::SeqCst);
        self.state.closing.send_modify(|n| *n += 1);
    }

    /// Sends new connections to `target` from now on, and takes them again.
    fn switch_to(&self, target: SocketAddr) {
        if let Ok(mut t) = self.state.target.lock() {
            *t = target;
        }
        self.restore();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.state.closing.send_modify(|n| *n += 1);
    }
}

/// Carries one connection both ways until either side closes, a cut, or
/// the proxy closes every connection.
async fn pipe(state: Arc<ProxyState>, mut client: TcpStream) {
    let Ok(target) = state.target.lock().map(|t| *t) else {
        return;
    };
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let mut closing = state.closing.subscribe();
    closing.borrow_and_update();
    let (mut from_client, mut to_client) = client.split();
    let (mut from_server, mut to_server) = server.split();
    // Set when a COMMIT went through armed to cut on the answer.
    let cut_on_answer: std::sync::Mutex<Option<bool>> = std::sync::Mutex::new(None);
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let bytes = &buf[..n];
            if bytes.windows(6).any(|w| w == b"COMMIT")
                && let Some((cut, outage)) = state.take()
            {
                match cut {
                    Cut::BeforeCommit => {
                        state.cut_made(outage);
                        return;
                    }
                    Cut::AfterCommit => {
                        if let Ok(mut c) = cut_on_answer.lock() {
                            *c = Some(outage);
                        }
                    }
                }
            }
            if to_server.write_all(bytes).await.is_err() {
                return;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from_server.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let armed = cut_on_answer.lock().ok().and_then(|mut c| c.take());
            if let Some(outage) = armed {
                state.cut_made(outage);
                return;
            }
            if to_client.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
        _ = closing.changed() => {}
    }
    // Both connections close as they drop.
}

/// The address in a database URL (`scheme://user@host:port/db`).
fn server_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").expect("scheme").1;
    let host = rest.split('/').next().expect("host");
    let host = host.rsplit('@').next().expect("host");
    host.parse()
        .expect("database URL with an IP address and port")
}

/// A server on `db` whose every connection goes through a proxy.
async fn through_proxy(db: &TestDb) -> (App, Proxy) {
    let target = server_addr(&db.url);
    let proxy = Proxy::start(target).await;
    let mut config = db.config();
    config.url = db
        .url
        .replacen(&target.to_string(), &proxy.addr.to_string(), 1);
    // In plain text, so the proxy sees the COMMIT go by.
    let plain = match db.backend {
        crate::support::Backend::Postgres => "sslmode=disable",
        _ => "ssl-mode=disabled",
    };
    let sep = if config.url.contains('?') { '&' } else { '?' };
    config.url = format!("{}{sep}{plain}", config.url);
    // Short, so a settle that cannot connect keeps trying within its time.
    config.acquire_timeout = Duration::from_millis(500);
    let app = App::spawn_on(db, config, ServerConfig::default()).await;
    // The retention jobs run (and commit) once at the start: let them, so
    // the commits cut are the test's writes'.
    tokio::time::sleep(Duration::from_millis(500)).await;
    (app, proxy)
}

fn create(display_name: &str, request_id: Option<&str>) -> pb::CreateSmeRequest {
    pb::CreateSmeRequest {
        sme: Some(sme(display_name)),
        sme_id: String::new(),
        request_id: request_id.unwrap_or_default().to_owned(),
    }
}

fn with_deadline<T>(message: T, deadline: Option<Duration>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(d) = deadline {
        request.set_timeout(d);
    }
    request
}

/// How many live SMEs have each display name.
async fn smes_by_name(app: &App) -> HashMap<String, usize> {
    count_by_name(app.smes.clone()).await
}

/// How many live SMEs `client`'s server has of each display name.
async fn count_by_name(
    mut client: pb::sme_service_client::SmeServiceClient<tonic::transport::Channel>,
) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_smes(pb::ListSmesRequest {
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await
            .expect("list SMEs")
            .into_inner();
        for s in page.smes {
            *out.entry(s.display_name).or_default() += 1;
        }
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

/// Waits until the server reaches its database again after an outage.
async fn reachable_again(app: &App) {
    let mut client = app.smes.clone();
    for _ in 0..200 {
        let r = client
            .list_smes(pb::ListSmesRequest {
                page_size: 1,
                ..Default::default()
            })
            .await;
        if r.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the database never came back");
}

/// The kinds of the journal's entries for `name`, sorted.
async fn journaled(app: &App, name: &str) -> Vec<String> {
    let page = AuditServiceClient::new(app.channel.clone())
        .list_audit_events(pb::ListAuditEventsRequest {
            page_size: 100,
            filter: format!("resource = \"{name}\""),
            ..Default::default()
        })
        .await
        .expect("audit events")
        .into_inner();
    let mut kinds: Vec<String> = page
        .audit_events
        .iter()
        .map(|e| e.kind().as_str_name().to_owned())
        .collect();
    kinds.sort();
    kinds
}

/// Settled writes counted in the metrics under `outcome`.
async fn settled(app: &App, outcome: &str) -> f64 {
    crate::transport::scrape(app)
        .await
        .find(
            "partnership_write_outcomes_settled_total",
            &[("outcome", outcome)],
        )
        .unwrap_or(0.0)
}

/// Issue: a write in flight when the database's connection broke was
/// answered UNAVAILABLE "retry later" although it had committed, so a
/// caller without a `request_id` created it twice. Now the server asks the
/// database again before it answers: a write that landed is answered with
/// its result, one that did not is run once more, and one it cannot settle
/// in the call's time is UNAVAILABLE `OUTCOME_UNKNOWN`, to repeat with the
/// same `request_id`. Told OK, a write is there once; never a duplicate.
pub async fn a_write_cut_off_at_its_commit_is_settled(db: TestDb) {
    let (app, proxy) = through_proxy(&db).await;
    let mut smes = app.smes.clone();

    // Committed, its answer lost: OK, there once, without and with a
    // request_id.
    for (label, rid) in [("landed", None), ("landed-rid", Some(uuid()))] {
        proxy.arm(Cut::AfterCommit, false);
        let cuts = proxy.cuts();
        let created = smes
            .create_sme(create(label, rid.as_deref()))
            .await
            .unwrap_or_else(|s| panic!("{label}: a write that landed is answered OK: {s:?}"))
            .into_inner();
        assert_eq!(proxy.cuts(), cuts + 1, "{label}: the proxy cut the commit");
        assert_eq!(smes_by_name(&app).await.get(label), Some(&1), "{label}");
        assert_eq!(
            journaled(&app, &created.name).await,
            ["CHANGE_KIND_CREATED"]
        );
    }

    // An update whose commit answer is lost: OK, applied once.
    let target = smes
        .create_sme(create("to-update", None))
        .await
        .expect("create")
        .into_inner();
    proxy.arm(Cut::AfterCommit, false);
    let cuts = proxy.cuts();
    let updated = smes
        .update_sme(pb::UpdateSmeRequest {
            sme: Some(pb::Sme {
                name: target.name.clone(),
                display_name: "updated".into(),
                etag: target.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .expect("an update that landed is answered OK")
        .into_inner();
    assert_eq!(proxy.cuts(), cuts + 1);
    assert_eq!(updated.display_name, "updated");
    assert_eq!(
        journaled(&app, &target.name).await,
        ["CHANGE_KIND_CREATED", "CHANGE_KIND_UPDATED"]
    );

    // The COMMIT never reached the database: run once more, there once.
    proxy.arm(Cut::BeforeCommit, false);
    let cuts = proxy.cuts();
    smes.create_sme(create("rerun", None))
        .await
        .expect("a write that did not land is run again");
    assert_eq!(proxy.cuts(), cuts + 1);
    assert_eq!(smes_by_name(&app).await.get("rerun"), Some(&1));

    // Committed, then the database out of reach past the deadline:
    // OUTCOME_UNKNOWN within the deadline; the repeat with the same
    // request_id answers as the write did, and creates nothing twice.
    for (label, cut, rid) in [
        ("unknown-landed", Cut::AfterCommit, Some(uuid())),
        ("unknown-lost", Cut::BeforeCommit, Some(uuid())),
        ("unknown-landed-no-rid", Cut::AfterCommit, None),
    ] {
        proxy.arm(cut, true);
        let started = std::time::Instant::now();
        let deadline = Duration::from_millis(1500);
        let answer = smes
            .create_sme(with_deadline(create(label, rid.as_deref()), Some(deadline)))
            .await;
        let took = started.elapsed();
        let status = answer.as_ref().err().cloned();
        assert_status(answer, Code::Unavailable, None);
        let status = status.expect("an error");
        let info = status
            .get_error_details()
            .error_info()
            .cloned()
            .expect("info");
        assert_eq!(info.reason, "OUTCOME_UNKNOWN", "{label}: {status:?}");
        assert_eq!(
            info.metadata
                .get("repeat_with_same_request_id")
                .map(String::as_str),
            Some("true")
        );
        assert!(took < deadline, "{label}: answered after {took:?}");
        proxy.restore();
        reachable_again(&app).await;
        let present = smes_by_name(&app).await.get(label).copied().unwrap_or(0);
        assert_eq!(
            present,
            usize::from(cut == Cut::AfterCommit),
            "{label}: the server ran nothing again while the outcome was unknown"
        );
        if let Some(rid) = rid {
            smes.create_sme(create(label, Some(&rid)))
                .await
                .unwrap_or_else(|s| panic!("{label}: the repeat is answered: {s:?}"));
            assert_eq!(smes_by_name(&app).await.get(label), Some(&1), "{label}");
        }
    }
    proxy.disarm();

    let counts = (
        settled(&app, "landed").await,
        settled(&app, "not_landed").await,
        settled(&app, "unknown").await,
    );
    assert!(
        counts.0 >= 3.0 && counts.1 >= 1.0 && counts.2 >= 3.0,
        "settled (landed, not landed, unknown): {counts:?}"
    );
    app.stop().await;
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Writers creating SMEs while the proxy cuts a commit every 15 ms, after
/// it reaches the database or (one time in three) before: every write told OK is there once,
/// every write told DATABASE_UNAVAILABLE is absent, with and without
/// `request_id`.
pub async fn writers_through_cut_commits_are_told_the_truth(db: TestDb) {
    let (app, proxy) = through_proxy(&db).await;
    let proxy = Arc::new(proxy);
    let stop = Arc::new(AtomicBool::new(false));
    let cutter = tokio::spawn({
        let proxy = proxy.clone();
        let stop = stop.clone();
        async move {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let cut = if n.is_multiple_of(3) {
                    Cut::BeforeCommit
                } else {
                    Cut::AfterCommit
                };
                proxy.arm(cut, false);
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            proxy.disarm();
        }
    });
    let mut writers = Vec::new();
    for w in 0..6 {
        let mut smes = app.smes.clone();
        writers.push(tokio::spawn(async move {
            let mut told = Vec::new();
            for i in 0..30 {
                let label = format!("w{w}-{i}");
                let rid = (i % 2 == 0).then(uuid);
                let answer = smes.create_sme(create(&label, rid.as_deref())).await;
                let reason = answer.as_ref().err().map(|s| {
                    s.get_error_details()
                        .error_info()
                        .map(|i| i.reason.clone())
                        .unwrap_or_else(|| format!("{:?}", s.code()))
                });
                told.push((label, reason));
            }
            told
        }));
    }
    let mut told = Vec::new();
    for w in writers {
        told.extend(w.await.expect("writer"));
    }
    stop.store(true, Ordering::SeqCst);
    cutter.await.expect("cutter");
    let cuts = proxy.cuts();
    assert!(cuts >= 10, "only {cuts} commits were cut");
    let present = smes_by_name(&app).await;
    for (label, reason) in &told {
        let n = present.get(label).copied().unwrap_or(0);
        match reason.as_deref() {
            None => assert_eq!(n, 1, "{label} was told OK"),
            Some("DATABASE_UNAVAILABLE") => {
                assert_eq!(n, 0, "{label} was told nothing was written")
            }
            Some(other) => panic!("{label}: unexpected {other}"),
        }
    }
    let ok = told.iter().filter(|(_, r)| r.is_none()).count();
    assert!(
        ok >= told.len() / 2,
        "only {ok} of {} writes succeeded",
        told.len()
    );
    app.stop().await;
}

/// Acceptance: through a leader failover under write load, no write that
/// landed is answered "database unavailable". A leader whose commits wait
/// for a synchronous standby, the server reaching it through a proxy (as
/// through HAProxy); eight writers create SMEs (half with a `request_id`,
/// every call with a 10 s deadline); the leader is killed with SIGKILL
/// just as it acknowledges a commit (the acknowledgement lost on the way),
/// the balancer has no backend while the standby is promoted, then sends
/// connections to it. Every write told OK is there once, every write told
/// DATABASE_UNAVAILABLE is absent, and an OUTCOME_UNKNOWN repeated with its
/// `request_id` ends with the record there once.
pub async fn writes_through_a_leader_failover_are_answered_truthfully() {
    use crate::faults::OwnPostgres;
    let (leader, standby) = tokio::task::spawn_blocking(OwnPostgres::synchronous_pair)
        .await
        .expect("a leader and its synchronous standby");
    let proxy = Arc::new(Proxy::start(leader.addr()).await);
    let url = format!(
        "postgres://postgres@{}/postgres?sslmode=disable",
        proxy.addr
    );
    let (mut server, channel) =
        crate::process::launch_connected(&url, &["--metrics-listen", "127.0.0.1:0"]).await;
    let smes = pb::sme_service_client::SmeServiceClient::new(channel.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let mut smes = smes.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut told = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let label = format!("w{w}-{i}");
                let rid = (i % 2 == 0).then(uuid);
                let request = with_deadline(
                    create(&label, rid.as_deref()),
                    Some(Duration::from_secs(10)),
                );
                let answer = smes.create_sme(request).await;
                let reason = answer.as_ref().err().map(|s| {
                    s.get_error_details()
                        .error_info()
                        .map(|i| i.reason.clone())
                        .unwrap_or_else(|| format!("{:?}", s.code()))
                });
                if reason.is_some() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                told.push((label, rid, reason));
            }
            told
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The leader is lost the moment it has acknowledged a commit (which
    // its standby has replayed), before the acknowledgement reaches the
    // server: the balancer drops every connection, then the host dies.
    proxy.arm(Cut::AfterCommit, true);
    for _ in 0..200 {
        if proxy.cuts() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(proxy.cuts(), 1, "no commit went by");
    tokio::task::block_in_place(|| leader.kill());
    proxy.outage();
    tokio::task::block_in_place(|| standby.promote());
    proxy.switch_to(standby.addr());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut told = Vec::new();
    for w in writers {
        told.extend(w.await.expect("writer"));
    }
    let mut smes = smes.clone();
    for (label, rid, reason) in &told {
        if let (Some("OUTCOME_UNKNOWN"), Some(rid)) = (reason.as_deref(), rid) {
            smes.create_sme(create(label, Some(rid)))
                .await
                .unwrap_or_else(|s| panic!("{label}: the repeat is answered: {s:?}"));
        }
    }
    let present = count_by_name(smes.clone()).await;
    let mut tally: HashMap<&str, usize> = HashMap::new();
    for (label, rid, reason) in &told {
        let n = present.get(label).copied().unwrap_or(0);
        *tally.entry(reason.as_deref().unwrap_or("OK")).or_default() += 1;
        match reason.as_deref() {
            None => assert_eq!(n, 1, "{label} was told OK"),
            Some("DATABASE_UNAVAILABLE") => {
                assert_eq!(n, 0, "{label} landed but was told nothing was written")
            }
            Some("OUTCOME_UNKNOWN") if rid.is_some() => assert_eq!(n, 1, "{label}"),
            Some("OUTCOME_UNKNOWN") => assert!(n <= 1, "{label} is there {n} times"),
            Some(other) => panic!("{label}: unexpected {other}"),
        }
    }
    let written_after = told
        .iter()
        .rev()
        .take(8)
        .filter(|(_, _, r)| r.is_none())
        .count();
    assert!(
        written_after > 0,
        "no write succeeded on the new leader: {tally:?}"
    );
    let metrics = server.metrics_text().await;
    let settled: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("partnership_write_outcomes_settled_total"))
        .collect();
    eprintln!("failover: {tally:?}; {}", settled.join(", "));
    let landed = settled
        .iter()
        .find_map(|l| {
            l.strip_prefix("partnership_write_outcomes_settled_total{outcome=\"landed\"} ")
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        landed >= 1.0,
        "the write cut at the kill was settled as landed"
    );
    server.stop();
}

/// A write that reaches a read-only PostgreSQL (a standby, or a former
/// leader come back as one, behind a balancer slow to notice) is
/// UNAVAILABLE `DATABASE_UNAVAILABLE`, nothing written, as an unreachable
/// leader is: not INTERNAL.
pub async fn a_write_to_a_read_only_database_is_unavailable(db: TestDb) {
    use sea_orm::{ConnectionTrait, Database};
    let name = db.url.rsplit('/').next().expect("database name").to_owned();
    let app = App::spawn(&db).await;
    // The server's own database, which stays writable.
    let admin_url = db.backend.base_url().expect("PostgreSQL URL");
    let admin = Database::connect(&admin_url).await.expect("connect");
    // Read-only for every session from now on: the server's sessions are
    // ended, so it opens new ones.
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on"
        ))
        .await
        .expect("read-only");
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .expect("end the server's sessions");
    // The pool notices its ended sessions as it hands them out.
    for _ in 0..20 {
        let _ = app
            .smes
            .clone()
            .list_smes(pb::ListSmesRequest::default())
            .await;
    }
    let answer = app.smes.clone().create_sme(create("read-only", None)).await;
    let status = answer.as_ref().err().cloned();
    assert_status(answer, Code::Unavailable, None);
    let info = status
        .expect("an error")
        .get_error_details()
        .error_info()
        .cloned()
        .expect("info");
    assert_eq!(info.reason, "DATABASE_UNAVAILABLE");
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = off"
        ))
        .await
        .expect("writable");
    let _ = admin.close().await;
    assert_eq!(smes_by_name(&app).await.get("read-only"), None);
    app.stop().await;
}
