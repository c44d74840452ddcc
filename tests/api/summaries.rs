//! SummarizePrograms from the in-memory rollup: the same totals the
//! database counts (a second server with `--summary-rollup off` counts them
//! afresh), built from the tables at start, kept current from the journal
//! through writes on either server, and exact after concurrent writers.

use std::time::{Duration, Instant};

use partnership::pb;
use partnership::pb::insight_service_client::InsightServiceClient;
use partnership::server::ServerConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::Code;
use tonic::transport::Channel;

type Programs = pb::program_service_client::ProgramServiceClient<Channel>;

use crate::programs::participation;
use crate::support::{App, TestDb, create_company, create_sme, create_smes, date, sme};

const SMES: usize = 40;
const PROGRAMS: usize = 12;

/// The groupings and filters compared; every group key appears alone and
/// in combination, and the filters reach the database's own conditions
/// (text, a traversal, a number).
const GROUPINGS: &[&[&str]] = &[
    &[],
    &["kind"],
    &["state"],
    &["host_company"],
    &["region"],
    &["start_year"],
    &["kind", "start_year"],
    &["host_company", "region", "state"],
    &["start_year", "region", "kind", "state", "host_company"],
];
const FILTERS: &[&str] = &[
    "",
    "region = GYEONGGI",
    "budget_krw >= 3000000000 OR start_date = null",
    "participations.sme = smes/s3",
    "display_name = \"Program 1*\"",
];

fn request(filter: &str, group_by: &[&str]) -> pb::SummarizeProgramsRequest {
    pb::SummarizeProgramsRequest {
        filter: filter.into(),
        group_by: group_by.iter().map(|s| (*s).to_owned()).collect(),
    }
}

async fn summarize(
    channel: &Channel,
    filter: &str,
    group_by: &[&str],
) -> pb::SummarizeProgramsResponse {
    InsightServiceClient::new(channel.clone())
        .summarize_programs(request(filter, group_by))
        .await
        .unwrap_or_else(|e| panic!("summarize {filter:?} by {group_by:?}: {e:?}"))
        .into_inner()
}

/// Program `n`: kinds, states, regions, years and budgets in turn, some
/// unset.
fn program(n: usize) -> pb::Program {
    let kinds = [
        pb::ProgramKind::SmartFactory,
        pb::ProgramKind::EsgSupplyChain,
        pb::ProgramKind::ProfitSharing,
    ];
    let states = [
        pb::ProgramState::Planned,
        pb::ProgramState::Active,
        pb::ProgramState::Completed,
    ];
    let regions = [
        pb::Region::Gyeonggi,
        pb::Region::Seoul,
        pb::Region::Unspecified,
    ];
    pb::Program {
        display_name: format!("Program {n}"),
        host_company: format!("companies/c{}", n % 3),
        kind: kinds[n % 3] as i32,
        state: states[(n / 3) % 3] as i32,
        region: regions[(n / 2) % 3] as i32,
        start_date: if n % 4 == 3 {
            None
        } else {
            date(2023 + (n % 3) as i32, 1 + (n % 12) as i32, 1)
        },
        budget_krw: (n % 5 != 4).then_some(1_000_000_000 * n as i64),
        ..Default::default()
    }
}

async fn create_program(programs: &mut Programs, n: usize) {
    programs
        .create_program(pb::CreateProgramRequest {
            program: Some(program(n)),
            program_id: format!("p{n}"),
            request_id: String::new(),
        })
        .await
        .expect("create program");
}

/// Creates participation `id` of `sme` in program `p`, and names it; an
/// SME takes part in a program once, so a second one is refused (`None`).
async fn join(
    programs: &mut Programs,
    p: usize,
    sme: &str,
    id: &str,
    support: Option<i64>,
) -> Option<String> {
    let mut part = participation(&format!("smes/{sme}"));
    part.support_amount_krw = support;
    match programs
        .create_participation(pb::CreateParticipationRequest {
            parent: format!("programs/p{p}"),
            participation: Some(part),
            participation_id: id.to_owned(),
            request_id: String::new(),
        })
        .await
    {
        Ok(created) => Some(created.into_inner().name),
        Err(e) if matches!(e.code(), Code::AlreadyExists | Code::FailedPrecondition) => None,
        Err(e) => panic!("create participation: {e:?}"),
    }
}

/// Companies, SMEs, programs and participations, written through `app`;
/// the participations' names.
async fn seed(app: &mut App) -> Vec<String> {
    for c in 0..3 {
        create_company(app, &format!("c{c}"), "").await;
    }
    create_smes(
        app,
        (0..SMES).map(|s| (format!("s{s}"), sme(&format!("SME {s}")))),
    )
    .await;
    for n in 0..PROGRAMS {
        create_program(&mut app.programs, n).await;
    }
    let mut rng = StdRng::seed_from_u64(7);
    let mut names = Vec::new();
    for i in 0..60 {
        let support = (i % 7 != 0).then(|| rng.random_range(1..1_000) * 1_000_000);
        let p = rng.random_range(0..PROGRAMS);
        let s = format!("s{}", rng.random_range(0..SMES));
        names.extend(join(&mut app.programs, p, &s, &format!("seed{i}"), support).await);
    }
    names
}

/// Asks `kept` until it answers from its rollup (a resume token), at most
/// 30 s.
async fn wait_for_rollup(kept: &Channel) {
    let started = Instant::now();
    while summarize(kept, "", &[]).await.resume_token.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the rollup was not built within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every grouping under every filter: the rollup's answer is the
/// database's, group for group.
async fn assert_same(kept: &Channel, counted: &Channel, when: &str) {
    for filter in FILTERS {
        for group_by in GROUPINGS {
            let fresh = summarize(counted, filter, group_by).await;
            assert!(
                fresh.resume_token.is_empty(),
                "--summary-rollup off counts in the database"
            );
            let from_rollup = summarize(kept, filter, group_by).await;
            assert!(
                !from_rollup.resume_token.is_empty(),
                "{when}: answered without the rollup"
            );
            assert_eq!(
                from_rollup.groups, fresh.groups,
                "{when}: {filter:?} by {group_by:?}"
            );
        }
    }
}

/// One random write: participations created, changed, deleted and
/// restored (from `names`, which grows); programs changed, deleted with
/// their participations, restored, and new ones. Refusals (a program
/// deleted meanwhile, an SME already in) are part of the mix.
async fn random_write(
    programs: &mut Programs,
    rng: &mut StdRng,
    names: &mut Vec<String>,
    tag: &str,
) {
    let p = rng.random_range(0..PROGRAMS);
    let some = names[rng.random_range(0..names.len())].clone();
    let amount = |rng: &mut StdRng| {
        rng.random_bool(0.8)
            .then(|| rng.random_range(1..500) * 1_000)
    };
    match rng.random_range(0..9) {
        0..=2 => {
            let sme = format!("s{}", rng.random_range(0..SMES));
            let support = amount(rng);
            names.extend(join(programs, p, &sme, tag, support).await);
        }
        3 => {
            let changed = pb::Participation {
                name: some,
                support_amount_krw: amount(rng),
                ..Default::default()
            };
            let _ = programs
                .update_participation(pb::UpdateParticipationRequest {
                    participation: Some(changed),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["support_amount_krw".into()],
                    }),
                })
                .await;
        }
        4 => {
            let _ = programs
                .delete_participation(pb::DeleteParticipationRequest {
                    name: some,
                    ..Default::default()
                })
                .await;
        }
        5 => {
            let _ = programs
                .undelete_participation(pb::UndeleteParticipationRequest {
                    name: some,
                    ..Default::default()
                })
                .await;
        }
        6 => {
            let mut changed = program(rng.random_range(0..PROGRAMS));
            changed.name = format!("programs/p{p}");
            let _ = programs
                .update_program(pb::UpdateProgramRequest {
                    program: Some(changed),
                    update_mask: Some(prost_types::FieldMask {
                        paths: ["kind", "state", "region", "start_date", "budget_krw"]
                            .map(String::from)
                            .to_vec(),
                    }),
                })
                .await;
        }
        7 => {
            let _ = programs
                .delete_program(pb::DeleteProgramRequest {
                    name: format!("programs/p{p}"),
                    force: true,
                    ..Default::default()
                })
                .await;
        }
        _ => {
            let _ = programs
                .undelete_program(pb::UndeleteProgramRequest {
                    name: format!("programs/p{p}"),
                    ..Default::default()
                })
                .await;
        }
    }
}

pub async fn summaries_from_the_rollup_match_a_fresh_count(db: TestDb) {
    // `counted` counts in the database on every call; the data is there
    // before `kept` starts, so its rollup is read from the tables.
    let mut counted = App::spawn_with(
        &db,
        ServerConfig {
            summary_rollup: false,
            ..Default::default()
        },
    )
    .await;
    let names = seed(&mut counted).await;
    let mut kept = App::spawn(&db).await;
    let (k, c) = (kept.channel.clone(), counted.channel.clone());
    wait_for_rollup(&k).await;
    assert_same(&k, &c, "after the build").await;

    // A write acknowledged by either server is in the next summary of the
    // other at once (read your writes, across replicas).
    let before = summarize(&k, "", &[]).await.groups[0].clone();
    create_sme(&mut counted, "newcomer").await;
    let joined = join(&mut counted.programs, 0, "newcomer", "ryw", Some(7)).await;
    assert!(joined.is_some(), "a new SME joins");
    let after = summarize(&k, "", &[]).await.groups[0].clone();
    assert_eq!(after.sme_count, before.sme_count + 1, "{after:?}");
    assert_eq!(after.total_support_krw, before.total_support_krw + 7);
    create_program(&mut kept.programs, PROGRAMS + 1).await;
    let counted_now = summarize(&c, "", &[]).await.groups[0].program_count;
    assert_eq!(
        counted_now,
        after.program_count + 1,
        "a program created there"
    );

    // Writers on both servers while summaries are asked of the rollup.
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let mut programs = Programs::new(if w % 2 == 0 { c.clone() } else { k.clone() });
            let mut names = names.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(100 + w);
                for i in 0..40 {
                    random_write(&mut programs, &mut rng, &mut names, &format!("w{w}-{i}")).await;
                }
            })
        })
        .collect();
    let reader = {
        let k = k.clone();
        tokio::spawn(async move {
            let mut asked = 0;
            for group_by in GROUPINGS.iter().cycle().take(60) {
                let r = summarize(&k, "", group_by).await;
                assert!(!r.resume_token.is_empty(), "answered without the rollup");
                asked += 1;
            }
            asked
        })
    };
    for w in writers {
        w.await.expect("writer");
    }
    assert_eq!(reader.await.expect("reader"), 60);
    assert_same(&k, &c, "after concurrent writers").await;

    // The token is the change feed's: watching from it is accepted.
    let token = summarize(&k, "", &[]).await.resume_token;
    let watch = pb::change_feed_service_client::ChangeFeedServiceClient::new(k.clone())
        .watch_changes(pb::WatchChangesRequest {
            resume_token: token,
            ..Default::default()
        })
        .await;
    assert!(watch.is_ok(), "watch from the summary's token: {watch:?}");

    kept.stop().await;
    counted.stop().await;
}
