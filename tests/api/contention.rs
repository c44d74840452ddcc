//! Writers contending for one record, through real server processes: two
//! on one PostgreSQL or MariaDB database, one on SQLite (a file has one
//! writer). No acknowledged update is lost and no call fails with a code
//! other than ABORTED for a stale etag.

use std::time::{Duration, Instant};

use partnership::pb;
use partnership::pb::company_service_client::CompanyServiceClient;
use partnership::pb::program_service_client::ProgramServiceClient;
use prost_types::FieldMask;
use tonic::Code;
use tonic::transport::Channel;

use crate::process::{Server, start};
use crate::support::{Backend, TestDb};

const CALLERS: usize = 32;
/// How long the callers keep writing.
const WRITING: Duration = Duration::from_secs(4);

/// One or two servers on `db`, and a channel to each.
async fn servers(db: &TestDb) -> (Vec<Server>, Vec<Channel>) {
    let count = if db.backend == Backend::Sqlite { 1 } else { 2 };
    let mut servers = Vec::new();
    let mut channels = Vec::new();
    for _ in 0..count {
        let url = db.url.clone();
        let server = tokio::task::spawn_blocking(move || start(&url))
            .await
            .expect("server starts");
        let channel = Channel::from_shared(format!("http://{}", server.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        channels.push(channel);
        servers.push(server);
    }
    (servers, channels)
}

/// A company and the program the callers contend for.
pub async fn contended_program(channel: &Channel) -> pb::Program {
    let host = CompanyServiceClient::new(channel.clone())
        .create_company(pb::CreateCompanyRequest {
            company: Some(crate::support::company("Host", "")),
            ..Default::default()
        })
        .await
        .expect("host")
        .into_inner();
    ProgramServiceClient::new(channel.clone())
        .create_program(pb::CreateProgramRequest {
            program: Some(pb::Program {
                budget_krw: Some(0),
                ..crate::support::program("Contended", &host.name)
            }),
            ..Default::default()
        })
        .await
        .expect("program")
        .into_inner()
}

/// 32 callers read, add one to the budget and write back with the etag
/// they read, retrying on ABORTED: the budget ends equal to the number of
/// acknowledged writes.
pub async fn etag_writers_on_one_record_lose_no_update(db: TestDb) {
    let (mut servers, channels) = servers(&db).await;
    let program = contended_program(&channels[0]).await;
    let stop = Instant::now() + WRITING;
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let mut client = ProgramServiceClient::new(channels[caller % channels.len()].clone());
        let name = program.name.clone();
        tasks.push(tokio::spawn(async move {
            let (mut acked, mut aborted) = (0u64, 0u64);
            while Instant::now() < stop {
                let current = client
                    .get_program(pb::GetProgramRequest { name: name.clone() })
                    .await
                    .unwrap_or_else(|s| panic!("get failed: {s:?}"))
                    .into_inner();
                let r = client
                    .update_program(pb::UpdateProgramRequest {
                        program: Some(pb::Program {
                            name: name.clone(),
                            budget_krw: Some(current.budget_krw.unwrap_or(0) + 1),
                            etag: current.etag,
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["budget_krw".into()],
                        }),
                    })
                    .await;
                match r {
                    Ok(_) => acked += 1,
                    Err(s) if s.code() == Code::Aborted => aborted += 1,
                    Err(s) => panic!("update failed with {s:?}"),
                }
            }
            (acked, aborted)
        }));
    }
    let (mut acked, mut aborted) = (0, 0);
    for task in tasks {
        let (a, b) = task.await.expect("caller");
        acked += a;
        aborted += b;
    }
    let last = ProgramServiceClient::new(channels[0].clone())
        .get_program(pb::GetProgramRequest {
            name: program.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(acked > 0, "no update went through");
    assert!(aborted > 0, "the callers never contended");
    assert_eq!(
        last.budget_krw,
        i64::try_from(acked).ok(),
        "acknowledged {acked} increments ({aborted} stale etags refused)"
    );
    for server in &mut servers {
        server.stop();
    }
}

/// 32 callers write two fields of one record without etags, half each
/// field: no call fails, and each field ends with the value of its last
/// acknowledged write (neither write undoes the other's field).
pub async fn unconditional_writers_on_one_record_all_succeed(db: TestDb) {
    let (mut servers, channels) = servers(&db).await;
    let program = contended_program(&channels[0]).await;
    let stop = Instant::now() + WRITING;
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let mut client = ProgramServiceClient::new(channels[caller % channels.len()].clone());
        let name = program.name.clone();
        let budget_writer = caller % 2 == 0;
        tasks.push(tokio::spawn(async move {
            // (update_time, value written) of each acknowledged write.
            let mut acked: Vec<((i64, i32), String)> = Vec::new();
            let mut n = 0i64;
            while Instant::now() < stop {
                n += 1;
                let (patch, path, value) = if budget_writer {
                    let budget = i64::try_from(caller).unwrap_or(0) * 1_000_000 + n;
                    let patch = pb::Program {
                        budget_krw: Some(budget),
                        ..Default::default()
                    };
                    (patch, "budget_krw", budget.to_string())
                } else {
                    let text = format!("caller {caller} write {n}");
                    let patch = pb::Program {
                        description: text.clone(),
                        ..Default::default()
                    };
                    (patch, "description", text)
                };
                let updated = client
                    .update_program(pb::UpdateProgramRequest {
                        program: Some(pb::Program {
                            name: name.clone(),
                            ..patch
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec![path.into()],
                        }),
                    })
                    .await
                    .unwrap_or_else(|s| panic!("unconditional update failed: {s:?}"))
                    .into_inner();
                let t = updated.update_time.expect("update_time");
                acked.push(((t.seconds, t.nanos), value));
            }
            (budget_writer, acked)
        }));
    }
    let mut last_budget: Option<((i64, i32), String)> = None;
    let mut last_description: Option<((i64, i32), String)> = None;
    for task in tasks {
        let (budget_writer, acked) = task.await.expect("caller");
        let last = if budget_writer {
            &mut last_budget
        } else {
            &mut last_description
        };
        for write in acked {
            if last.as_ref().is_none_or(|l| write.0 >= l.0) {
                *last = Some(write);
            }
        }
    }
    let now = ProgramServiceClient::new(channels[0].clone())
        .get_program(pb::GetProgramRequest {
            name: program.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    let (_, budget) = last_budget.expect("budget writes");
    let (_, description) = last_description.expect("description writes");
    assert_eq!(now.budget_krw.map(|b| b.to_string()), Some(budget));
    assert_eq!(now.description, description);
    for server in &mut servers {
        server.stop();
    }
}

/// Callers racing to create records that collide (the same business
/// number, the same request id) through every server: the database's
/// unique indexes catch what the checks before the write could not see, the
/// write runs again and answers precisely. Exactly one create wins, the
/// others are ALREADY_EXISTS naming the business number, the repeats of one
/// request all get its first response, and nothing is INTERNAL.
pub async fn racing_creates_get_precise_answers(db: TestDb) {
    let (mut servers, channels) = servers(&db).await;
    for round in 0..5u32 {
        let number = crate::support::business_number(round);
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut tasks = Vec::new();
        for caller in 0..CALLERS {
            let mut client = CompanyServiceClient::new(channels[caller % channels.len()].clone());
            let number = number.clone();
            let request_id = request_id.clone();
            tasks.push(tokio::spawn(async move {
                let by_number = client
                    .create_company(pb::CreateCompanyRequest {
                        company: Some(crate::support::company(&format!("Racer {caller}"), &number)),
                        ..Default::default()
                    })
                    .await;
                let by_request_id = client
                    .create_company(pb::CreateCompanyRequest {
                        company: Some(crate::support::company("Once", "")),
                        request_id,
                        ..Default::default()
                    })
                    .await;
                (by_number, by_request_id)
            }));
        }
        let mut winners = 0;
        let mut first: Option<pb::Company> = None;
        for task in tasks {
            let (by_number, by_request_id) = task.await.expect("caller");
            match by_number {
                Ok(_) => winners += 1,
                Err(s) => {
                    assert_eq!(s.code(), Code::AlreadyExists, "{s:?}");
                    let reason = tonic_types::StatusExt::get_error_details(&s)
                        .error_info()
                        .map(|i| i.reason.clone());
                    assert_eq!(reason.as_deref(), Some("BUSINESS_NUMBER_TAKEN"));
                }
            }
            let once = by_request_id
                .unwrap_or_else(|s| panic!("repeat of a request failed: {s:?}"))
                .into_inner();
            match &first {
                None => first = Some(once),
                Some(f) => assert_eq!(&once, f, "repeats must get the first response"),
            }
        }
        assert_eq!(winners, 1, "round {round}: exactly one create wins");
    }
    let page = CompanyServiceClient::new(channels[0].clone())
        .list_companies(pb::ListCompaniesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.total_size, 10, "5 winners and 5 requests created once");
    for server in &mut servers {
        server.stop();
    }
}
