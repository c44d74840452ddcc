//! The journal: every committed change has exactly one entry per record,
//! read back as an audit trail and followed as a change feed.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use partnership::pb;
use partnership::pb::audit_service_client::AuditServiceClient;
use partnership::pb::change_feed_service_client::ChangeFeedServiceClient;
use prost_types::FieldMask;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tokio::sync::mpsc;
use tonic::Code;
use tonic::transport::Channel;

use crate::programs::create_participation;
use crate::support::{
    App, Backend, TestDb, assert_status, business_number, company, create_company, create_program,
    create_sme, sme,
};

fn audit(app: &App) -> AuditServiceClient<Channel> {
    AuditServiceClient::new(app.channel.clone())
}

fn feed(channel: &Channel) -> ChangeFeedServiceClient<Channel> {
    ChangeFeedServiceClient::new(channel.clone())
}

/// Every audit event matching `filter`, in `order_by`, read a few at a time
/// through the page tokens.
async fn events(app: &App, filter: &str, order_by: &str) -> Vec<pb::AuditEvent> {
    let mut client = audit(app);
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 3,
                page_token: page_token.clone(),
                filter: filter.to_owned(),
                order_by: order_by.to_owned(),
            })
            .await
            .expect("list audit events")
            .into_inner();
        assert!(page.audit_events.len() <= 3);
        out.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

/// The name inside a record state.
fn state_name(state: Option<&pb::ResourceState>) -> String {
    use pb::resource_state::Resource as R;
    match state.and_then(|s| s.resource.as_ref()) {
        Some(R::Company(c)) => c.name.clone(),
        Some(R::Sme(s)) => s.name.clone(),
        Some(R::Program(p)) => p.name.clone(),
        Some(R::Participation(p)) => p.name.clone(),
        None => String::new(),
    }
}

fn sme_state(state: Option<&pb::ResourceState>) -> pb::Sme {
    match state.and_then(|s| s.resource.clone()) {
        Some(pb::resource_state::Resource::Sme(s)) => s,
        other => panic!("not an SME: {other:?}"),
    }
}

const KIND_CREATED: i32 = pb::ChangeKind::Created as i32;
const KIND_UPDATED: i32 = pb::ChangeKind::Updated as i32;
const KIND_DELETED: i32 = pb::ChangeKind::Deleted as i32;
const KIND_UNDELETED: i32 = pb::ChangeKind::Undeleted as i32;

pub async fn every_change_is_journaled_once_with_its_states(mut app: App) {
    let started = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    // A create with a request id, repeated: one entry.
    let request_id = uuid::Uuid::new_v4().to_string();
    let create = pb::CreateCompanyRequest {
        company: Some(company("Hanul Motors", &business_number(1))),
        company_id: "hanul".into(),
        request_id: request_id.clone(),
    };
    let first = app.companies.create_company(create.clone()).await;
    let first = first.expect("create").into_inner();
    let again = app.companies.create_company(create).await.expect("repeat");
    assert_eq!(first, again.into_inner());
    let created_sme = create_sme(&mut app, "parts-1").await;
    create_program(&mut app, "smart-factory", "companies/hanul").await;
    create_participation(&mut app, "programs/smart-factory", "smes/parts-1", "p1")
        .await
        .expect("participation");
    let renamed = app
        .smes
        .update_sme(pb::UpdateSmeRequest {
            sme: Some(pb::Sme {
                display_name: "Parts One Renamed".into(),
                employee_count: Some(42),
                ..created_sme.clone()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into(), "employee_count".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();

    // Refused and failed calls leave nothing.
    let taken = app
        .companies
        .create_company(pb::CreateCompanyRequest {
            company: Some(company("Other", "")),
            company_id: "hanul".into(),
            request_id: String::new(),
        })
        .await;
    assert_status(taken, Code::AlreadyExists, None);
    let stale = app
        .smes
        .update_sme(pb::UpdateSmeRequest {
            sme: Some(pb::Sme {
                display_name: "Stale".into(),
                ..created_sme.clone()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await;
    assert_status(stale, Code::Aborted, Some("etag"));
    let unforced = app
        .companies
        .delete_company(pb::DeleteCompanyRequest {
            name: "companies/hanul".into(),
            ..Default::default()
        })
        .await;
    assert_status(unforced, Code::FailedPrecondition, Some("force"));
    let invalid = app
        .smes
        .create_sme(pb::CreateSmeRequest {
            sme: Some(pb::Sme {
                display_name: String::new(),
                ..sme("x")
            }),
            sme_id: "bad".into(),
            request_id: String::new(),
        })
        .await;
    assert_status(invalid, Code::InvalidArgument, None);

    // A forced delete takes the participation along: two entries.
    app.smes
        .delete_sme(pb::DeleteSmeRequest {
            name: "smes/parts-1".into(),
            force: true,
            ..Default::default()
        })
        .await
        .expect("forced delete");
    app.smes
        .undelete_sme(pb::UndeleteSmeRequest {
            name: "smes/parts-1".into(),
            ..Default::default()
        })
        .await
        .expect("undelete");
    // A batch of three: three entries, under the batch's request id.
    let batch_id = uuid::Uuid::new_v4().to_string();
    let batch = pb::BatchCreateSmesRequest {
        requests: (1..=3)
            .map(|i| pb::CreateSmeRequest {
                sme: Some(sme(&format!("Batch {i}"))),
                sme_id: format!("batch-{i}"),
                request_id: String::new(),
            })
            .collect(),
        request_id: batch_id.clone(),
    };
    app.smes
        .batch_create_smes(batch.clone())
        .await
        .expect("batch");
    app.smes
        .batch_create_smes(batch)
        .await
        .expect("batch again");

    let all = events(&app, "", "commit_time").await;
    let seen: Vec<(&str, i32, &str)> = all
        .iter()
        .map(|e| (e.resource.as_str(), e.kind, e.method.as_str()))
        .collect();
    let expected = vec![
        (
            "companies/hanul",
            KIND_CREATED,
            "partnership.v1.CompanyService/CreateCompany",
        ),
        (
            "smes/parts-1",
            KIND_CREATED,
            "partnership.v1.SmeService/CreateSme",
        ),
        (
            "programs/smart-factory",
            KIND_CREATED,
            "partnership.v1.ProgramService/CreateProgram",
        ),
        (
            "programs/smart-factory/participations/p1",
            KIND_CREATED,
            "partnership.v1.ProgramService/CreateParticipation",
        ),
        (
            "smes/parts-1",
            KIND_UPDATED,
            "partnership.v1.SmeService/UpdateSme",
        ),
        (
            "programs/smart-factory/participations/p1",
            KIND_DELETED,
            "partnership.v1.SmeService/DeleteSme",
        ),
        (
            "smes/parts-1",
            KIND_DELETED,
            "partnership.v1.SmeService/DeleteSme",
        ),
        (
            "smes/parts-1",
            KIND_UNDELETED,
            "partnership.v1.SmeService/UndeleteSme",
        ),
        (
            "smes/batch-1",
            KIND_CREATED,
            "partnership.v1.SmeService/BatchCreateSmes",
        ),
        (
            "smes/batch-2",
            KIND_CREATED,
            "partnership.v1.SmeService/BatchCreateSmes",
        ),
        (
            "smes/batch-3",
            KIND_CREATED,
            "partnership.v1.SmeService/BatchCreateSmes",
        ),
    ];
    assert_eq!(seen, expected);
    let sequences: Vec<i64> = all.iter().map(|e| e.sequence).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    for e in &all {
        assert_eq!(e.caller, "anonymous");
        assert_eq!(state_name(e.after.as_ref()), e.resource);
        let t = e.commit_time.expect("commit time");
        assert!(t.seconds >= started.timestamp(), "{t:?}");
        match e.kind {
            KIND_CREATED => assert!(e.before.is_none(), "{e:?}"),
            _ => assert_eq!(state_name(e.before.as_ref()), e.resource),
        }
    }
    assert_eq!(all[0].request_id, request_id);
    assert!(all[1..8].iter().all(|e| e.request_id.is_empty()));
    assert!(all[8..].iter().all(|e| e.request_id == batch_id));

    // The update's states and changed fields.
    let update = &all[4];
    assert_eq!(sme_state(update.before.as_ref()), created_sme);
    assert_eq!(sme_state(update.after.as_ref()), renamed);
    assert_eq!(update.changed_fields, ["display_name", "employee_count"]);
    // The delete's state after is the soft-deleted record.
    let deleted = sme_state(all[6].after.as_ref());
    assert!(deleted.delete_time.is_some());
    assert!(all[6].changed_fields.is_empty());
    assert!(sme_state(all[7].after.as_ref()).delete_time.is_none());

    // Newest first by default.
    let newest_first = events(&app, "", "").await;
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(newest_first, reversed);

    // Filters.
    let count = |filter: &'static str| {
        let app = &app;
        async move { events(app, filter, "").await.len() }
    };
    assert_eq!(count(r#"resource = "smes/*""#).await, 7);
    assert_eq!(count(r#"resource = "smes/parts-1""#).await, 4);
    assert_eq!(count("kind = DELETED").await, 2);
    assert_eq!(count("kind = CHANGE_KIND_CREATED").await, 7);
    assert_eq!(count("kind != CREATED").await, 4);
    assert_eq!(
        count(r#"method = "partnership.v1.SmeService/DeleteSme""#).await,
        2
    );
    assert_eq!(count(r#"caller = "anonymous""#).await, 11);
    assert_eq!(count(r#"caller = "someone-else""#).await, 0);
    assert_eq!(count("request_id:*").await, 4);
    assert_eq!(count("NOT request_id:*").await, 7);
    assert_eq!(
        events(&app, &format!(r#"request_id = "{request_id}""#), "")
            .await
            .len(),
        1
    );
    assert_eq!(count(r#"commit_time >= "2000-01-01""#).await, 11);
    assert_eq!(count(r#"commit_time < "2000-01-01""#).await, 0);
    assert_eq!(
        count(r#"resource = "smes/*" AND (kind = DELETED OR kind = UNDELETED)"#).await,
        2
    );

    // Bad requests name their field and change nothing.
    let mut client = audit(&app);
    for (filter, order_by, page_token, field) in [
        ("size = SME", "", "", "filter"),
        ("kind = GONE", "", "", "filter"),
        (r#"commit_time > "yesterday""#, "", "", "filter"),
        (r#"caller > "a""#, "", "", "filter"),
        ("resource = ", "", "", "filter"),
        ("", "sequence", "", "order_by"),
        ("", "", "not-a-token", "page_token"),
    ] {
        let r = client
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 0,
                page_token: page_token.to_owned(),
                filter: filter.to_owned(),
                order_by: order_by.to_owned(),
            })
            .await;
        assert_status(r, Code::InvalidArgument, Some(field));
    }
    // A page token belongs to its query.
    let page = client
        .list_audit_events(pb::ListAuditEventsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    let r = client
        .list_audit_events(pb::ListAuditEventsRequest {
            page_size: 2,
            page_token: page.next_page_token,
            filter: "kind = DELETED".into(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("page_token"));
    assert_eq!(events(&app, "", "").await.len(), 11);

    // The metrics count what this process journaled.
    let samples = crate::transport::scrape(&app).await;
    let appended = samples.find(
        "partnership_journal_entries_total",
        &[("collection", "smes"), ("kind", "CREATED")],
    );
    assert_eq!(appended, Some(4.0));
    assert_eq!(samples.find("partnership_feed_watchers", &[]), Some(0.0));
}

/// One message of a watch, as the test saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    changes: Vec<pb::ChangeEvent>,
    token: String,
}

/// Follows the feed from `request` in a task of its own; what arrives is
/// sent to the receiver, and the stream's error (if any) last.
async fn watch(
    channel: &Channel,
    request: pb::WatchChangesRequest,
) -> Result<mpsc::UnboundedReceiver<Result<Seen, tonic::Status>>, tonic::Status> {
    let mut stream = feed(channel).watch_changes(request).await?.into_inner();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match stream.message().await {
                Ok(Some(m)) => {
                    let seen = Seen {
                        at: Instant::now(),
                        changes: m.changes,
                        token: m.resume_token,
                    };
                    if tx.send(Ok(seen)).is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// Takes changes from `rx` until `enough` says so or `within` passes;
/// returns them and the last token.
async fn take_changes(
    rx: &mut mpsc::UnboundedReceiver<Result<Seen, tonic::Status>>,
    within: Duration,
    enough: impl Fn(&[pb::ChangeEvent]) -> bool,
) -> (Vec<pb::ChangeEvent>, String) {
    let deadline = Instant::now() + within;
    let mut changes = Vec::new();
    let mut token = String::new();
    while !enough(&changes) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Ok(seen))) => {
                changes.extend(seen.changes);
                token = seen.token;
            }
            Ok(Some(Err(e))) => panic!("the feed failed: {e:?}"),
            Ok(None) => panic!("the feed ended"),
            Err(_) => break,
        }
    }
    (changes, token)
}

pub async fn feed_tokens_heartbeats_and_expiry(db: TestDb) {
    let config = partnership::server::ServerConfig {
        feed_heartbeat: Duration::from_millis(200),
        ..Default::default()
    };
    let mut app = App::spawn_with(&db, config).await;
    create_company(&mut app, "old", &business_number(2)).await;

    // Bad requests name their field.
    let mut client = feed(&app.channel);
    for (request, field) in [
        (
            pb::WatchChangesRequest {
                resume_token: "bm90LWEtdG9rZW4".into(),
                ..Default::default()
            },
            "resume_token",
        ),
        (
            pb::WatchChangesRequest {
                resume_token: "%%%".into(),
                ..Default::default()
            },
            "resume_token",
        ),
        (
            pb::WatchChangesRequest {
                collections: vec!["smes".into(), "people".into()],
                ..Default::default()
            },
            "collections",
        ),
    ] {
        let r = client.watch_changes(request).await.map(|_| ());
        assert_status(r, Code::InvalidArgument, Some(field));
    }

    // From the earliest: the create; then heartbeats while idle, each with
    // the current token.
    let mut rx = watch(
        &app.channel,
        pb::WatchChangesRequest {
            start_from_earliest: true,
            ..Default::default()
        },
    )
    .await
    .expect("watch");
    let (changes, early_token) =
        take_changes(&mut rx, Duration::from_secs(10), |c| !c.is_empty()).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].resource, "companies/old");
    assert_eq!(changes[0].kind, KIND_CREATED);
    let mut beats = Vec::new();
    while beats.len() < 3 {
        let seen = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a heartbeat within 5 s")
            .expect("stream open")
            .expect("no error");
        assert!(seen.changes.is_empty(), "no changes were made");
        assert!(!seen.token.is_empty());
        beats.push(seen.at);
    }
    let gap = beats[2] - beats[1];
    assert!(
        gap >= Duration::from_millis(150) && gap < Duration::from_secs(2),
        "heartbeats {gap:?} apart"
    );

    // Only the collections asked for.
    let mut smes_only = watch(
        &app.channel,
        pb::WatchChangesRequest {
            collections: vec!["smes".into()],
            resume_token: early_token.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("watch smes");
    create_company(&mut app, "skipped", &business_number(3)).await;
    create_sme(&mut app, "wanted").await;
    let (changes, _) =
        take_changes(&mut smes_only, Duration::from_secs(10), |c| !c.is_empty()).await;
    let names: Vec<&str> = changes.iter().map(|c| c.resource.as_str()).collect();
    assert_eq!(names, ["smes/wanted"]);

    // A journal longer than a batch comes in full batches, in order, once.
    let many = (0..1500).map(|i| (format!("many-{i}"), sme(&format!("Many {i}"))));
    crate::support::create_smes(&mut app, many).await;
    let mut long = watch(
        &app.channel,
        pb::WatchChangesRequest {
            resume_token: early_token.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("watch");
    let mut sizes = Vec::new();
    let mut sequences = Vec::new();
    while sequences.len() < 1502 {
        let seen = tokio::time::timeout(Duration::from_secs(10), long.recv())
            .await
            .expect("a batch")
            .expect("open")
            .expect("ok");
        sizes.push(seen.changes.len());
        sequences.extend(seen.changes.iter().map(|c| c.sequence));
    }
    // (On PostgreSQL a transaction still open elsewhere in the cluster may
    // hold back part of it for a moment, so the first message may be
    // smaller.)
    assert!(
        sizes.iter().all(|n| *n <= 1000) && sizes.contains(&1000),
        "batches of at most 1000, one full: {sizes:?}"
    );
    assert_eq!(sequences.len(), 1502);
    assert!(sequences.windows(2).all(|w| w[0] < w[1]));
    drop(long);

    // Entries past retention are deleted; a token from before them is
    // refused, telling the caller to export again.
    let store = partnership::store::Store::connect(&app.db)
        .await
        .expect("store");
    let purged = store
        .purge_journal(chrono::Utc::now() + chrono::TimeDelta::seconds(1))
        .await
        .expect("purge");
    assert_eq!(purged, 1503);
    let expired = client
        .watch_changes(pb::WatchChangesRequest {
            resume_token: early_token,
            ..Default::default()
        })
        .await
        .map(|_| ());
    assert_status(expired, Code::FailedPrecondition, Some("resume_token"));
    if let Err(status) = client
        .watch_changes(pb::WatchChangesRequest {
            resume_token: pb_token_ahead(),
            ..Default::default()
        })
        .await
    {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    } else {
        panic!("a token ahead of the journal was accepted");
    }
    assert_eq!(events(&app, "", "").await.len(), 0, "the audit trail too");
    store.close().await;
    app.stop().await;
}

/// A well-formed token far ahead of any journal.
fn pb_token_ahead() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "f1:{}:{}",
        i64::MAX / 2,
        i64::MAX / 2
    ))
}

/// A second connection to the server's database, for the test's own
/// statements.
async fn connect(db: &TestDb) -> DatabaseConnection {
    Database::connect(&db.url).await.expect("connect")
}

/// Makes any journal insert for a resource named `*held*` wait inside its
/// transaction, after its entry is written: until the test's lock on
/// `hold_gate` goes (PostgreSQL, MariaDB), or for a while (SQLite, whose
/// one writer cannot be held by another connection's lock).
async fn install_hold(conn: &DatabaseConnection, backend: Backend) {
    let statements: Vec<String> = match backend {
        Backend::Postgres => vec![
            "CREATE TABLE hold_gate (id INT PRIMARY KEY)".into(),
            "INSERT INTO hold_gate VALUES (1)".into(),
            "CREATE FUNCTION hold_journal() RETURNS trigger AS $$ BEGIN \
             IF NEW.resource LIKE '%held%' THEN PERFORM 1 FROM hold_gate WHERE id = 1 FOR UPDATE; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql"
                .into(),
            "CREATE TRIGGER hold AFTER INSERT ON journal FOR EACH ROW EXECUTE FUNCTION hold_journal()"
                .into(),
        ],
        Backend::MySql => vec![
            "CREATE TABLE hold_gate (id INT PRIMARY KEY) ENGINE=InnoDB".into(),
            "INSERT INTO hold_gate VALUES (1)".into(),
            "CREATE TRIGGER hold AFTER INSERT ON journal FOR EACH ROW BEGIN \
             IF NEW.resource LIKE '%held%' THEN SELECT id INTO @held FROM hold_gate WHERE id = 1 FOR UPDATE; END IF; END"
                .into(),
        ],
        Backend::Sqlite => {
            let mut s = vec!["CREATE TABLE hold_gate (id INTEGER PRIMARY KEY)".to_owned()];
            s.push(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300) \
                 INSERT INTO hold_gate (id) SELECT x FROM n"
                    .to_owned(),
            );
            s.push(
                "CREATE TRIGGER hold AFTER INSERT ON journal WHEN NEW.resource LIKE '%held%' BEGIN \
                 SELECT count(*) FROM hold_gate a, hold_gate b, hold_gate c WHERE a.id + b.id + c.id > 0; END"
                    .to_owned(),
            );
            s
        }
    };
    for sql in statements {
        conn.execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Renames `smes/{id}`.
async fn rename(channel: Channel, id: &str, to: &str) -> Result<(), tonic::Status> {
    let mut smes = pb::sme_service_client::SmeServiceClient::new(channel);
    smes.update_sme(pb::UpdateSmeRequest {
        sme: Some(pb::Sme {
            name: format!("smes/{id}"),
            display_name: to.to_owned(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["display_name".into()],
        }),
    })
    .await
    .map(|_| ())
}

pub async fn the_feed_never_passes_a_late_commit(db: TestDb) {
    let backend = db.backend;
    let mut app = App::spawn(&db).await;
    for id in ["held-1", "later-1", "later-2", "later-3"] {
        create_sme(&mut app, id).await;
    }
    let conn = connect(&db).await;
    install_hold(&conn, backend).await;
    let mut rx = watch(&app.channel, pb::WatchChangesRequest::default())
        .await
        .expect("watch");
    // The first message (a heartbeat) says the stream is following.
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("first message")
        .expect("open")
        .expect("ok");
    assert!(first.changes.is_empty());

    // Hold the gate, so the next write of `held-1` stops after journaling.
    let gate = match backend {
        Backend::Sqlite => None,
        _ => {
            use sea_orm::TransactionTrait;
            let txn = conn.begin().await.expect("begin");
            txn.execute_unprepared("SELECT id FROM hold_gate WHERE id = 1 FOR UPDATE")
                .await
                .expect("lock the gate");
            Some(txn)
        }
    };
    let held = tokio::spawn(rename(app.channel.clone(), "held-1", "Held"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = tokio::spawn({
        let channel = app.channel.clone();
        async move {
            for i in 1..=3 {
                rename(channel.clone(), &format!("later-{i}"), "Later").await?;
            }
            Ok::<_, tonic::Status>(Instant::now())
        }
    });
    if backend == Backend::Postgres {
        // The later writes commit while the held one is open...
        let done = tokio::time::timeout(Duration::from_secs(10), async {
            while !later.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            done.is_ok(),
            "later writes did not commit around the held one"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        // ...and yet the watcher has delivered none of them: they sort
        // after the held one's slot.
        // (Watching "from now" may also bring the creates above, committed
        // just before the watch began while another transaction of the
        // cluster was open: the feed's start never misses a change, and may
        // bring a few from just before it.)
        while let Ok(Some(seen)) = tokio::time::timeout(Duration::from_millis(10), rx.recv()).await
        {
            let seen = seen.expect("ok");
            let updates: Vec<_> = seen
                .changes
                .iter()
                .filter(|c| c.kind == KIND_UPDATED)
                .collect();
            assert!(
                updates.is_empty(),
                "delivered past an open transaction: {updates:?}"
            );
        }
    }
    if let Some(gate) = gate {
        tokio::time::sleep(Duration::from_millis(300)).await;
        gate.commit().await.expect("release the gate");
    }
    held.await.expect("join").expect("held write");
    later.await.expect("join").expect("later writes");
    let updated = |c: &[pb::ChangeEvent]| c.iter().filter(|c| c.kind == KIND_UPDATED).count();
    let (changes, _) = take_changes(&mut rx, Duration::from_secs(20), |c| updated(c) >= 4).await;
    let changes: Vec<pb::ChangeEvent> = changes
        .into_iter()
        .filter(|c| c.kind == KIND_UPDATED)
        .collect();
    let names: Vec<&str> = changes.iter().map(|c| c.resource.as_str()).collect();
    assert_eq!(
        names,
        [
            "smes/held-1",
            "smes/later-1",
            "smes/later-2",
            "smes/later-3"
        ],
        "in commit order, each once"
    );
    // Nothing more arrives.
    let (extra, _) = take_changes(&mut rx, Duration::from_millis(500), |c| updated(c) > 0).await;
    assert_eq!(updated(&extra), 0, "repeated: {extra:?}");
    // What the feed delivered is what the journal holds.
    let journal: Vec<i64> = events(&app, r#"kind = UPDATED"#, "commit_time")
        .await
        .iter()
        .map(|e| e.sequence)
        .collect();
    let mut delivered: Vec<i64> = changes.iter().map(|c| c.sequence).collect();
    delivered.sort_unstable();
    let mut journal_sorted = journal.clone();
    journal_sorted.sort_unstable();
    assert_eq!(delivered, journal_sorted);
    let _ = conn.close().await;
    app.stop().await;
}

/// Every exported record by name, and the first message's resume token.
async fn export_all(channel: &Channel) -> (BTreeMap<String, pb::ResourceState>, String) {
    use pb::resource_state::Resource as R;
    let mut out = BTreeMap::new();
    let mut companies = pb::company_service_client::CompanyServiceClient::new(channel.clone());
    let mut smes = pb::sme_service_client::SmeServiceClient::new(channel.clone());
    let mut programs = pb::program_service_client::ProgramServiceClient::new(channel.clone());
    let request = |show_deleted| (String::new(), show_deleted);
    let (filter, show_deleted) = request(true);
    let mut token = String::new();
    let mut stream = companies
        .export_companies(pb::ExportCompaniesRequest {
            filter: filter.clone(),
            show_deleted,
        })
        .await
        .expect("export companies")
        .into_inner();
    let mut first = true;
    while let Some(m) = stream.message().await.expect("batch") {
        assert_eq!(
            m.resume_token.is_empty(),
            !first,
            "only the first message has the token"
        );
        if first {
            token = m.resume_token.clone();
        }
        first = false;
        for c in m.companies {
            out.insert(
                c.name.clone(),
                pb::ResourceState {
                    resource: Some(R::Company(c)),
                },
            );
        }
    }
    let mut stream = smes
        .export_smes(pb::ExportSmesRequest {
            filter: filter.clone(),
            show_deleted,
        })
        .await
        .expect("export smes")
        .into_inner();
    while let Some(m) = stream.message().await.expect("batch") {
        for s in m.smes {
            out.insert(
                s.name.clone(),
                pb::ResourceState {
                    resource: Some(R::Sme(s)),
                },
            );
        }
    }
    let mut stream = programs
        .export_programs(pb::ExportProgramsRequest {
            filter,
            show_deleted,
        })
        .await
        .expect("export programs")
        .into_inner();
    while let Some(m) = stream.message().await.expect("batch") {
        for p in m.programs {
            out.insert(
                p.name.clone(),
                pb::ResourceState {
                    resource: Some(R::Program(p)),
                },
            );
        }
    }
    assert!(!token.is_empty(), "the export carries a resume token");
    (out, token)
}

pub async fn a_mirror_that_exports_then_watches_converges(mut app: App) {
    for i in 0..20 {
        create_company(&mut app, &format!("host-{i}"), &business_number(100 + i)).await;
        create_sme(&mut app, &format!("sme-{i}")).await;
    }
    for i in 0..5 {
        create_program(
            &mut app,
            &format!("prog-{i}"),
            &format!("companies/host-{i}"),
        )
        .await;
    }
    // Eight writers create, rename, delete and bring back records.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8u32 {
        let channel = app.channel.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut smes = pb::sme_service_client::SmeServiceClient::new(channel.clone());
            let mut companies =
                pb::company_service_client::CompanyServiceClient::new(channel.clone());
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let target = format!("sme-{}", (w * 7 + n) % 20);
                match n % 4 {
                    0 => {
                        let _ = smes
                            .create_sme(pb::CreateSmeRequest {
                                sme: Some(sme(&format!("New {w}-{n}"))),
                                sme_id: format!("new-{w}-{n}"),
                                request_id: String::new(),
                            })
                            .await;
                    }
                    1 => {
                        let _ = rename(channel.clone(), &target, &format!("Renamed {w}-{n}")).await;
                    }
                    2 => {
                        let _ = smes
                            .delete_sme(pb::DeleteSmeRequest {
                                name: format!("smes/{target}"),
                                force: true,
                                ..Default::default()
                            })
                            .await;
                    }
                    _ => {
                        let _ = smes
                            .undelete_sme(pb::UndeleteSmeRequest {
                                name: format!("smes/{target}"),
                                ..Default::default()
                            })
                            .await;
                        let _ = companies
                            .update_company(pb::UpdateCompanyRequest {
                                company: Some(pb::Company {
                                    name: format!("companies/host-{}", n % 20),
                                    display_name: format!("Host {w}-{n}"),
                                    ..Default::default()
                                }),
                                update_mask: Some(FieldMask {
                                    paths: vec!["display_name".into()],
                                }),
                            })
                            .await;
                    }
                }
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The mirror: export everything, then follow from the export's token.
    let (mut mirror, token) = export_all(&app.channel).await;
    let mut rx = watch(
        &app.channel,
        pb::WatchChangesRequest {
            collections: vec!["companies".into(), "smes".into(), "programs".into()],
            resume_token: token,
            ..Default::default()
        },
    )
    .await
    .expect("watch");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut writes = 0;
    for w in writers {
        writes += w.await.expect("writer");
    }
    assert!(writes > 40, "the writers wrote ({writes} calls)");
    // A last write marks the end: once the mirror has it, it has all.
    create_company(&mut app, "marker", &business_number(999)).await;
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !mirror.contains_key("companies/marker") {
        assert!(Instant::now() < deadline, "the mirror never caught up");
        let message = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("feed message")
            .expect("open")
            .expect("ok");
        for change in message.changes {
            assert!(
                seen.insert(change.sequence),
                "change {} twice",
                change.sequence
            );
            let state = change.state.expect("state");
            mirror.insert(change.resource, state);
        }
    }
    let (fresh, _) = export_all(&app.channel).await;
    assert_eq!(mirror.len(), fresh.len());
    for (name, record) in &fresh {
        assert_eq!(mirror.get(name), Some(record), "{name}");
    }
}

/// Writers that run until stopped, each write acknowledged recorded.
fn burst(
    channel: &Channel,
    writers: u32,
    prefix: &str,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Vec<tokio::task::JoinHandle<Vec<String>>>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handles = (0..writers)
        .map(|w| {
            let channel = channel.clone();
            let stop = stop.clone();
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let mut client = pb::company_service_client::CompanyServiceClient::new(channel);
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let id = format!("{prefix}-{w}-{n}");
                    let mut request = tonic::Request::new(pb::CreateCompanyRequest {
                        company: Some(company(&format!("Burst {w} {n}"), "")),
                        company_id: id.clone(),
                        request_id: String::new(),
                    });
                    request.set_timeout(Duration::from_secs(5));
                    match client.create_company(request).await {
                        Ok(_) => acked.push(format!("companies/{id}")),
                        Err(_) => return acked,
                    }
                }
                acked
            })
        })
        .collect();
    (stop, handles)
}

/// Reads the feed from `token` (earliest when empty) until `want` changes
/// have come, or the stream fails.
async fn read_feed(channel: &Channel, token: &str, want: usize) -> (Vec<pb::ChangeEvent>, String) {
    let mut rx = watch(
        channel,
        pb::WatchChangesRequest {
            resume_token: token.to_owned(),
            start_from_earliest: token.is_empty(),
            ..Default::default()
        },
    )
    .await
    .expect("watch");
    take_changes(&mut rx, Duration::from_secs(30), |c| c.len() >= want).await
}

/// The journal's sequences, oldest first.
async fn journal_sequences(channel: &Channel) -> Vec<i64> {
    let mut client = AuditServiceClient::new(channel.clone());
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 1000,
                page_token,
                order_by: "commit_time".into(),
                ..Default::default()
            })
            .await
            .expect("audit")
            .into_inner();
        out.extend(page.audit_events.iter().map(|e| e.sequence));
        if page.next_page_token.is_empty() {
            out.sort_unstable();
            return out;
        }
        page_token = page.next_page_token;
    }
}

/// A watcher reads part of the feed, the server is killed during a burst of
/// writes (and, with `outage`, its PostgreSQL stops and starts), and the
/// watcher resumes with its token: what it read is the journal, once, in
/// order, and every acknowledged write has its entry.
async fn resume_through(db_url: &str, outage: Option<&crate::faults::OwnPostgres>) {
    let (mut server, channel) = crate::process::start_connected(db_url).await;
    let (stop, writers) = burst(&channel, 8, "first");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }
    assert!(!acked.is_empty());
    let (part, token) = read_feed(&channel, "", 1).await;
    assert!(!part.is_empty() && !token.is_empty());

    // A second burst, cut by SIGKILL.
    let (_stop, writers) = burst(&channel, 8, "second");
    tokio::time::sleep(Duration::from_millis(400)).await;
    tokio::task::block_in_place(|| server.stop());
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }
    if let Some(pg) = outage {
        tokio::task::block_in_place(|| pg.stop());
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::task::block_in_place(|| pg.start());
    }
    let (_server, channel) = crate::process::start_connected(db_url).await;
    let journal = journal_sequences(&channel).await;
    let (rest, _) = read_feed(&channel, &token, journal.len() - part.len()).await;
    // Each entry once (on PostgreSQL in commit order, which concurrent
    // writers make other than sequence order).
    let mut read: Vec<i64> = part.iter().chain(&rest).map(|c| c.sequence).collect();
    read.sort_unstable();
    assert_eq!(
        read, journal,
        "the feed read across the restart is the journal"
    );
    let resources: HashSet<&str> = part
        .iter()
        .chain(&rest)
        .map(|c| c.resource.as_str())
        .collect();
    for name in &acked {
        assert!(
            resources.contains(name.as_str()),
            "acknowledged {name} has no entry"
        );
    }
}

pub fn a_watcher_resumes_across_a_killed_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/resume.db?mode=rwc", dir.path().display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(resume_through(&url, None));
    // The operator's view of the same journal, without a client.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_partnership"))
        .args([
            "audit",
            "--database-url",
            &url,
            "--resource",
            "companies/first-0-1",
        ])
        .output()
        .expect("partnership audit");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("CompanyService/CreateCompany CREATED companies/first-0-1"),
        "{text}"
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_partnership"))
        .args(["audit", "--database-url", &url, "--filter", "size = SME"])
        .output()
        .expect("partnership audit");
    assert!(!bad.status.success());
}

pub async fn a_watcher_resumes_across_a_database_outage() {
    let pg = tokio::task::spawn_blocking(crate::faults::OwnPostgres::new)
        .await
        .expect("own PostgreSQL");
    let url = pg.url();
    resume_through(&url, Some(&pg)).await;
}

pub async fn the_audit_trail_needs_its_own_scope_and_names_callers(db: TestDb) {
    use crate::access::{CallersFile, bearer};
    use partnership::auth::Scope;
    let file = CallersFile::new(&[
        ("registry", &[Scope::Read, Scope::Write, Scope::Admin], ""),
        ("inspector", &[Scope::Audit], ""),
        ("mirror", &[Scope::Read], ""),
    ]);
    let mut app = file.serve(&db).await;
    let (registry, inspector, mirror) = (
        file.token("registry"),
        file.token("inspector"),
        file.token("mirror"),
    );
    app.companies
        .create_company(bearer(
            pb::CreateCompanyRequest {
                company: Some(company("Audited", "")),
                company_id: "audited".into(),
                request_id: String::new(),
            },
            registry,
        ))
        .await
        .expect("create");
    let list = || pb::ListAuditEventsRequest::default();
    let mut client = audit(&app);
    // Read, write and admin do not reach the audit trail.
    for token in [registry, mirror] {
        let r = client.list_audit_events(bearer(list(), token)).await;
        assert_status(r, Code::PermissionDenied, None);
    }
    assert_status(
        client.list_audit_events(list()).await,
        Code::Unauthenticated,
        None,
    );
    let page = client
        .list_audit_events(bearer(list(), inspector))
        .await
        .expect("the audit scope reads the trail")
        .into_inner();
    assert_eq!(page.audit_events.len(), 1);
    assert_eq!(page.audit_events[0].caller, "registry");
    // The feed needs read: the auditor alone may not follow it.
    let mut feed_client = feed(&app.channel);
    let watch_request = || pb::WatchChangesRequest {
        start_from_earliest: true,
        ..Default::default()
    };
    let r = feed_client
        .watch_changes(bearer(watch_request(), inspector))
        .await
        .map(|_| ());
    assert_status(r, Code::PermissionDenied, None);
    let mut stream = feed_client
        .watch_changes(bearer(watch_request(), mirror))
        .await
        .expect("read follows the feed")
        .into_inner();
    let first = stream.message().await.expect("message").expect("some");
    assert_eq!(first.changes.len(), 1);
    assert_eq!(first.changes[0].resource, "companies/audited");
    app.stop().await;
}
