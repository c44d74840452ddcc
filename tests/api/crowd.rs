//! A crowd of callers, every one with a deadline, against the real binary
//! with its default flags: three times as many callers as pooled database
//! connections, mixing every kind of read (point reads, plain, filtered and
//! searched first pages, BatchGet, Export, SummarizePrograms) with writers.
//! Every call is answered, or refused as documented shedding
//! (`OVERLOADED` with a `RetryInfo`); none is told the database is down
//! while it is idle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use partnership::pb;
use partnership::pb::company_service_client::CompanyServiceClient;
use partnership::pb::insight_service_client::InsightServiceClient;
use partnership::pb::program_service_client::ProgramServiceClient;
use partnership::pb::sme_service_client::SmeServiceClient;
use prost_types::FieldMask;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::process::start_connected;
use crate::support::TestDb;

/// The server's default `--db-max-connections`.
const DEFAULT_POOL: usize = 10;
/// Callers at once: three times the pool.
const CALLERS: usize = 3 * DEFAULT_POOL;
/// Calls each caller makes.
const ROUNDS: usize = 14;
/// The deadline every call sets, as integrators are told to.
const DEADLINE: Duration = Duration::from_secs(10);
/// SMEs on record, spread over regions.
const SMES: usize = 600;
/// Programs on record; each has a few participations.
const PROGRAMS: usize = 12;

const REGIONS: [pb::Region; 4] = [
    pb::Region::Seoul,
    pb::Region::Busan,
    pb::Region::Gyeonggi,
    pb::Region::Gyeongnam,
];

/// Names with Korean syllables, so searches match a few dozen of them.
const NAME_PARTS: [&str; 6] = [
    "홍성산업",
    "대한정밀",
    "성산기계",
    "미래소재",
    "한빛전자",
    "동해금속",
];

fn with_deadline<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(DEADLINE);
    request
}

/// The records the crowd reads and writes.
struct Fixture {
    smes: Vec<String>,
    programs: Vec<String>,
}

async fn fixture(channel: &Channel) -> Fixture {
    let host = CompanyServiceClient::new(channel.clone())
        .create_company(pb::CreateCompanyRequest {
            company: Some(crate::support::company("Crowd Host", "")),
            ..Default::default()
        })
        .await
        .expect("host")
        .into_inner();
    let mut smes_client = SmeServiceClient::new(channel.clone());
    let mut smes = Vec::new();
    let records: Vec<_> = (0..SMES)
        .map(|i| pb::Sme {
            display_name: format!("{} {i}", NAME_PARTS[i % NAME_PARTS.len()]),
            region: REGIONS[i % REGIONS.len()] as i32,
            employee_count: Some((i % 90) as i32 + 1),
            ..crate::support::sme("")
        })
        .collect();
    for chunk in records.chunks(200) {
        let created = smes_client
            .batch_create_smes(pb::BatchCreateSmesRequest {
                requests: chunk
                    .iter()
                    .map(|sme| pb::CreateSmeRequest {
                        sme: Some(sme.clone()),
                        ..Default::default()
                    })
                    .collect(),
                request_id: String::new(),
            })
            .await
            .expect("batch create smes")
            .into_inner();
        smes.extend(created.smes.into_iter().map(|s| s.name));
    }
    let mut programs_client = ProgramServiceClient::new(channel.clone());
    let mut programs = Vec::new();
    for p in 0..PROGRAMS {
        let program = programs_client
            .create_program(pb::CreateProgramRequest {
                program: Some(pb::Program {
                    region: REGIONS[p % REGIONS.len()] as i32,
                    budget_krw: Some(1_000_000 * (p as i64 + 1)),
                    ..crate::support::program(&format!("Crowd program {p}"), &host.name)
                }),
                ..Default::default()
            })
            .await
            .expect("program")
            .into_inner();
        for s in 0..5 {
            programs_client
                .create_participation(pb::CreateParticipationRequest {
                    parent: program.name.clone(),
                    participation: Some(pb::Participation {
                        sme: smes[(p * 37 + s * 11) % smes.len()].clone(),
                        support_amount_krw: Some(10_000 * (s as i64 + 1)),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .expect("participation");
        }
        programs.push(program.name);
    }
    Fixture { smes, programs }
}

/// The clients of one caller.
#[derive(Clone)]
struct Clients {
    smes: SmeServiceClient<Channel>,
    programs: ProgramServiceClient<Channel>,
    insight: InsightServiceClient<Channel>,
}

/// Each kind of call the crowd makes, in turn.
const KINDS: [&str; 10] = [
    "GetSme",
    "ListSmes",
    "ListSmes filter",
    "ListSmes search",
    "ListPrograms filter",
    "BatchGetSmes",
    "ExportSmes",
    "SummarizePrograms",
    "CreateSme",
    "UpdateProgram",
];

/// The kinds whose first pages are counted (filtered lists, searches).
const COUNTED: [usize; 3] = [2, 3, 4];

/// Makes call `kind` and reports its status.
async fn call(c: &mut Clients, f: &Fixture, kind: usize, caller: usize, round: usize) -> Status {
    let pick = caller * 31 + round * 7;
    let first_page = |filter: &str, search: &str| pb::ListSmesRequest {
        page_size: 50,
        filter: filter.to_owned(),
        search: search.to_owned(),
        ..Default::default()
    };
    let result: Result<(), Status> = match KINDS[kind] {
        "GetSme" => c
            .smes
            .get_sme(with_deadline(pb::GetSmeRequest {
                name: f.smes[pick % f.smes.len()].clone(),
            }))
            .await
            .map(drop),
        "ListSmes" => c
            .smes
            .list_smes(with_deadline(first_page("", "")))
            .await
            .map(drop),
        "ListSmes filter" => c
            .smes
            .list_smes(with_deadline(first_page("region = REGION_BUSAN", "")))
            .await
            .map(drop),
        "ListSmes search" => c
            .smes
            .list_smes(with_deadline(first_page("", "성산")))
            .await
            .map(drop),
        "ListPrograms filter" => c
            .programs
            .list_programs(with_deadline(pb::ListProgramsRequest {
                page_size: 50,
                filter: "region = REGION_SEOUL AND budget_krw >= 1000".to_owned(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "BatchGetSmes" => c
            .smes
            .batch_get_smes(with_deadline(pb::BatchGetSmesRequest {
                names: (0..20)
                    .map(|i| f.smes[(pick + i * 13) % f.smes.len()].clone())
                    .collect(),
            }))
            .await
            .map(drop),
        "ExportSmes" => match c
            .smes
            .export_smes(with_deadline(pb::ExportSmesRequest::default()))
            .await
        {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                let mut seen = 0;
                loop {
                    match stream.message().await {
                        Ok(Some(batch)) => seen += batch.smes.len(),
                        Ok(None) => break,
                        Err(status) => return status,
                    }
                }
                if seen < SMES {
                    return Status::internal(format!("export ended after {seen} SMEs"));
                }
                Ok(())
            }
            Err(status) => Err(status),
        },
        "SummarizePrograms" => c
            .insight
            .summarize_programs(with_deadline(pb::SummarizeProgramsRequest {
                filter: String::new(),
                group_by: vec!["kind".to_owned(), "region".to_owned()],
            }))
            .await
            .map(drop),
        "CreateSme" => c
            .smes
            .create_sme(with_deadline(pb::CreateSmeRequest {
                sme: Some(crate::support::sme(&format!("크라우드 {caller}-{round}"))),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "UpdateProgram" => c
            .programs
            .update_program(with_deadline(pb::UpdateProgramRequest {
                program: Some(pb::Program {
                    name: f.programs[pick % f.programs.len()].clone(),
                    budget_krw: Some((pick as i64 + 1) * 1000),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["budget_krw".to_owned()],
                }),
            }))
            .await
            .map(drop),
        other => unreachable!("no call {other}"),
    };
    match result {
        Ok(()) => Status::ok(""),
        Err(status) => status,
    }
}

/// Whether `status` is documented shedding: OVERLOADED, with a RetryInfo.
fn is_shed(status: &Status) -> bool {
    let details = status.get_error_details();
    matches!(status.code(), Code::Unavailable | Code::ResourceExhausted)
        && details
            .error_info()
            .is_some_and(|info| info.reason == "OVERLOADED")
        && details.retry_info().is_some()
}

/// Issue: with deadlines on every call and a crowd larger than the pool,
/// filtered lists and searches held one pooled connection while waiting
/// for a second; past half the pool the callers deadlocked until the
/// acquire timeout and were told "the database is unavailable".
pub async fn a_crowd_with_deadlines_is_answered_or_shed(db: TestDb) {
    let (server, channel) = start_connected(&db.url).await;
    let fixture = Arc::new(fixture(&channel).await);
    let clients = Clients {
        smes: SmeServiceClient::new(channel.clone()),
        programs: ProgramServiceClient::new(channel.clone()),
        insight: InsightServiceClient::new(channel.clone()),
    };
    let start = Arc::new(tokio::sync::Barrier::new(CALLERS));
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let mut clients = clients.clone();
        let fixture = fixture.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut seen = Vec::new();
            for round in 0..ROUNDS {
                // A burst of counted first pages (filtered lists and
                // searches) first, then the whole mix.
                let kind = match round {
                    0 => COUNTED[caller % COUNTED.len()],
                    _ => (caller + round) % KINDS.len(),
                };
                let status = call(&mut clients, &fixture, kind, caller, round).await;
                seen.push((kind, status));
            }
            seen
        }));
    }
    let mut answered: BTreeMap<&str, usize> = BTreeMap::new();
    let mut shed = 0;
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        for (kind, status) in task.await.expect("caller") {
            if status.code() == Code::Ok {
                *answered.entry(KINDS[kind]).or_default() += 1;
            } else if is_shed(&status) {
                shed += 1;
            } else {
                let key = format!("{}: {:?} {}", KINDS[kind], status.code(), status.message());
                *failures.entry(key).or_default() += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "calls neither answered nor shed with RetryInfo: {failures:#?} (answered: {answered:?}, shed: {shed})"
    );
    let total: usize = answered.values().sum();
    assert_eq!(total + shed, CALLERS * ROUNDS);
    assert_eq!(
        answered.len(),
        KINDS.len(),
        "every kind of call was answered at least once: {answered:?}"
    );
    drop(server);
}

/// Issue: a call that waited for a busy pool met the pool's acquire timeout
/// and was told "the database is unavailable" while the database was
/// merely busy. Now, with the write connection busy (another process holds
/// SQLite's write lock) and `--db-max-waiting 2`: a writer waits within its
/// deadline (DEADLINE_EXCEEDED when it passes, nothing written), past two
/// waiting the next is refused at once with OVERLOADED and a RetryInfo,
/// health stays SERVING, reads go on, the metrics count each reason apart,
/// and the writers that waited all land once the lock is released.
pub async fn saturation_is_shed_not_an_outage() {
    use sea_orm::{ConnectionTrait, Database};
    use std::time::Instant;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    use crate::process::launch;
    use crate::transport::Samples;

    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/busy.db?mode=rwc", dir.path().display());
    let server_url = url.clone();
    let server = tokio::task::spawn_blocking(move || {
        launch(
            &server_url,
            &["--db-max-waiting", "2", "--metrics-listen", "127.0.0.1:0"],
            None,
        )
    })
    .await
    .expect("server");
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let program = crate::contention::contended_program(&channel).await;
    let rename = |text: &str, deadline: Duration| {
        let mut request = Request::new(pb::UpdateProgramRequest {
            program: Some(pb::Program {
                name: program.name.clone(),
                description: text.to_owned(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["description".to_owned()],
            }),
        });
        request.set_timeout(deadline);
        request
    };
    let writer = |request: Request<pb::UpdateProgramRequest>| {
        let mut client = ProgramServiceClient::new(channel.clone());
        tokio::spawn(async move { client.update_program(request).await })
    };
    let waiting = || async {
        let samples = Samples::parse(&server.metrics_text().await);
        samples
            .find(
                "partnership_db_queue",
                &[("pool", "write"), ("state", "waiting")],
            )
            .unwrap_or(0.0)
    };
    let until_waiting = |n: f64| async move {
        let until = Instant::now() + Duration::from_secs(10);
        while waiting().await < n {
            assert!(Instant::now() < until, "{n} writers never queued");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };

    let other = Database::connect(url.as_str()).await.expect("connect");
    other
        .execute_unprepared("BEGIN IMMEDIATE")
        .await
        .expect("hold the write lock");
    // One writer holds the write connection (waiting on the lock), one
    // waits for the connection.
    let held = writer(rename("first", Duration::from_secs(30)));
    let queued = writer(rename("second", Duration::from_secs(30)));
    until_waiting(1.0).await;

    // A writer whose deadline passes in the queue is told so, in time.
    let started = Instant::now();
    let status = ProgramServiceClient::new(channel.clone())
        .update_program(rename("too late", Duration::from_millis(400)))
        .await
        .expect_err("the deadline passes in the queue");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        status.get_details_error_info().map(|i| i.reason),
        Some("DEADLINE_EXCEEDED".to_owned()),
        "{status:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "answered after {:?}",
        started.elapsed()
    );

    // A third writer queues; past two waiting the next is shed at once.
    let third = writer(rename("third", Duration::from_secs(30)));
    until_waiting(2.0).await;
    let started = Instant::now();
    let status = ProgramServiceClient::new(channel.clone())
        .update_program(rename("shed", Duration::from_secs(30)))
        .await
        .expect_err("the queue is full");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "shed only after {:?}",
        started.elapsed()
    );
    assert!(is_shed(&status), "{status:?}");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        !status.message().contains("database is unavailable"),
        "{status:?}"
    );
    assert_eq!(
        status
            .get_details_error_info()
            .and_then(|i| i.metadata.get("max_waiting_calls").cloned()),
        Some("2".to_owned())
    );

    // The service is up: health says so, and reads are answered.
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("health")
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    ProgramServiceClient::new(channel.clone())
        .get_program(with_deadline(pb::GetProgramRequest {
            name: program.name.clone(),
        }))
        .await
        .expect("reads go on");

    let samples = Samples::parse(&server.metrics_text().await);
    let errors = |reason: &str| {
        samples
            .find(
                "partnership_call_errors_total",
                &[("grpc_method", "UpdateProgram"), ("reason", reason)],
            )
            .unwrap_or(0.0)
    };
    assert_eq!(errors("OVERLOADED"), 1.0);
    assert_eq!(errors("DEADLINE_EXCEEDED"), 1.0);
    assert_eq!(errors("DATABASE_UNAVAILABLE"), 0.0);
    let queue = |outcome: &str| {
        samples
            .find(
                "partnership_db_queue_calls_total",
                &[("pool", "write"), ("outcome", outcome)],
            )
            .unwrap_or(0.0)
    };
    assert_eq!(queue("overloaded"), 1.0);
    assert_eq!(queue("deadline"), 1.0);
    assert_eq!(queue("unreachable"), 0.0);

    // The log says why each failed call failed, and which field was at
    // fault.
    logged(
        &server,
        &["rpc finished", "UpdateProgram", "reason=OVERLOADED"],
    )
    .await;
    let invalid = ProgramServiceClient::new(channel.clone())
        .create_program(pb::CreateProgramRequest {
            program: Some(crate::support::program("", &program.host_company)),
            ..Default::default()
        })
        .await
        .expect_err("a program needs a name");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    logged(
        &server,
        &[
            "rpc finished",
            "CreateProgram",
            "reason=INVALID_ARGUMENT",
            "fields=program.display_name",
        ],
    )
    .await;
    // A successful health check (or reflection lookup, which grpcurl makes
    // before every call) is logged at debug only: the log shows the API.
    tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health answers");
    let after = ProgramServiceClient::new(channel.clone())
        .create_program(pb::CreateProgramRequest {
            program: Some(crate::support::program("", &program.host_company)),
            ..Default::default()
        })
        .await;
    assert!(after.is_err());
    let logged_before = |server: &crate::process::Server| {
        server
            .log_lines(&["rpc finished", "CreateProgram", "reason=INVALID_ARGUMENT"])
            .len()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while logged_before(&server) < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server
            .log_lines(&["rpc finished", "grpc.health.v1.Health"])
            .is_empty(),
        "a successful health check is not logged at info"
    );

    other.execute_unprepared("ROLLBACK").await.expect("release");
    for call in [held, queued, third] {
        call.await.expect("task").expect("a waiting writer lands");
    }
    let stored = ProgramServiceClient::new(channel)
        .get_program(pb::GetProgramRequest {
            name: program.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    // The waiting writers landed in the order they queued; the refused
    // ones changed nothing.
    assert_eq!(stored.description, "third");
    drop(server);
}

/// Waits until the server has logged a line with every one of `words`.
async fn logged(server: &crate::process::Server, words: &[&str]) {
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while server.log_lines(words).is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "no log line has {words:?}: {:?}",
            server.log_lines(&["rpc finished"])
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issue: Get, BatchGet and the coalesced point reads ignored the caller's
/// deadline. With `smes` locked by another transaction (PostgreSQL),
/// GetSme and BatchGetSmes calls with 400 ms deadlines are answered
/// DEADLINE_EXCEEDED by the service, in time; once the lock is gone, reads
/// of the table are answered again.
pub async fn point_reads_honour_the_deadline(db: TestDb) {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    use std::time::Instant;

    let (server, channel) = start_connected(&db.url).await;
    let mut smes = SmeServiceClient::new(channel);
    let sme = smes
        .create_sme(pb::CreateSmeRequest {
            sme: Some(crate::support::sme("잠긴 기업")),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();

    let admin = Database::connect(db.url.as_str()).await.expect("connect");
    let lock = admin.begin().await.expect("begin");
    lock.execute_unprepared("LOCK TABLE smes IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock smes");
    fn short<T>(message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(Duration::from_millis(400));
        request
    }
    // The service answers DEADLINE_EXCEEDED itself 25 ms before the
    // deadline; on a loaded machine the client's own timer (CANCELLED
    // "Timeout expired") may still be first now and then, so of a few
    // tries at least half must be the service's answer, and none late.
    let answered_in_time = |status: &Status, started: Instant| -> bool {
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "answered after {:?}: {status:?}",
            started.elapsed()
        );
        let ours = status.code() == Code::DeadlineExceeded
            && status.get_details_error_info().map(|i| i.reason)
                == Some("DEADLINE_EXCEEDED".to_owned());
        let clients_own = status.code() == Code::Cancelled && status.message() == "Timeout expired";
        assert!(ours || clients_own, "{status:?}");
        ours
    };
    let mut ours = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let status = smes
            .get_sme(short(pb::GetSmeRequest {
                name: sme.name.clone(),
            }))
            .await
            .expect_err("the table is locked");
        ours += usize::from(answered_in_time(&status, started));
        let started = Instant::now();
        let status = smes
            .batch_get_smes(short(pb::BatchGetSmesRequest {
                names: vec![sme.name.clone()],
            }))
            .await
            .expect_err("the table is locked");
        ours += usize::from(answered_in_time(&status, started));
    }
    assert!(ours >= 3, "the service answered only {ours} of 6 itself");

    lock.rollback().await.expect("release");
    let got = smes
        .get_sme(with_deadline(pb::GetSmeRequest {
            name: sme.name.clone(),
        }))
        .await
        .expect("answered once the lock is gone")
        .into_inner();
    assert_eq!(got.name, sme.name);
    drop(server);
}
