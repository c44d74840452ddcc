//! The hot reads decode rows by position (`src/store/entity/row.rs`): what
//! Get, BatchGet, List and Export return is, byte for byte, what the write
//! returned (built from the record in memory, not read back), for records
//! with every optional field unset and with every one set: Korean text at
//! its longest, the largest numbers, the extreme dates; deleted ones too.

use partnership::pb;
use prost::Message;

use crate::support::{App, business_number, date};

/// The longest display name: 200 characters of Korean.
fn korean_name(tag: &str) -> String {
    let mut name: String = format!("{tag} 대원정밀주식회사").chars().collect();
    while name.chars().count() < 200 {
        name.push('협');
    }
    name
}

fn bytes(m: &impl Message) -> Vec<u8> {
    m.encode_to_vec()
}

/// A resource message, by its name.
trait Named {
    fn key(&self) -> &str;
}

macro_rules! named {
    ($($t:ty),+) => {$(
        impl Named for $t {
            fn key(&self) -> &str {
                &self.name
            }
        }
    )+};
}
named!(pb::Sme, pb::Company, pb::Program, pb::Participation);

/// Asserts each of `read` is, byte for byte, the one of `written` with its
/// name.
fn assert_same<M: Message + Named + std::fmt::Debug>(what: &str, written: &[M], read: &[M]) {
    assert_eq!(read.len(), written.len(), "{what}: {read:?}");
    for r in read {
        let w = written
            .iter()
            .find(|w| w.key() == r.key())
            .unwrap_or_else(|| panic!("{what}: {} was not written", r.key()));
        assert_eq!(bytes(r), bytes(w), "{what}: {r:?} read, {w:?} written");
    }
}

async fn smes(app: &mut App) -> Vec<pb::Sme> {
    let bare = pb::Sme {
        display_name: "x".into(),
        size: pb::EnterpriseSize::Micro as i32,
        ..Default::default()
    };
    let full = pb::Sme {
        display_name: korean_name("s"),
        business_number: business_number(77),
        corporate_number: "130111-0006246".into(),
        size: pb::EnterpriseSize::Medium as i32,
        ksic_code: "26111".into(),
        region: pb::Region::Busan as i32,
        employee_count: Some(i32::MAX),
        annual_revenue_krw: Some(i64::MAX),
        ..Default::default()
    };
    let mut written = Vec::new();
    for (id, sme) in [("bare", bare), ("full", full), ("gone", pb::Sme::default())] {
        let sme = if id == "gone" {
            pb::Sme {
                display_name: "지워진 기업".into(),
                size: pb::EnterpriseSize::Small as i32,
                ..Default::default()
            }
        } else {
            sme
        };
        let created = app
            .smes
            .create_sme(pb::CreateSmeRequest {
                sme: Some(sme),
                sme_id: id.into(),
                request_id: String::new(),
            })
            .await
            .expect("create sme")
            .into_inner();
        written.push(created);
    }
    let deleted = app
        .smes
        .delete_sme(pb::DeleteSmeRequest {
            name: "smes/gone".into(),
            ..Default::default()
        })
        .await
        .expect("delete sme")
        .into_inner();
    written[2] = deleted;
    written
}

pub async fn reads_return_the_written_records_byte_for_byte(mut app: App) {
    // SMEs (companies share their table's shape and decoder).
    let written = smes(&mut app).await;
    let mut got = Vec::new();
    for w in &written {
        let one = app
            .smes
            .get_sme(pb::GetSmeRequest {
                name: w.name.clone(),
            })
            .await
            .expect("get sme")
            .into_inner();
        got.push(one);
    }
    assert_same("GetSme", &written, &got);
    let batch = app
        .smes
        .batch_get_smes(pb::BatchGetSmesRequest {
            names: written.iter().map(|s| s.name.clone()).collect(),
        })
        .await
        .expect("batch get smes")
        .into_inner()
        .smes;
    assert_same("BatchGetSmes", &written, &batch);
    let listed = app
        .smes
        .list_smes(pb::ListSmesRequest {
            show_deleted: true,
            ..Default::default()
        })
        .await
        .expect("list smes")
        .into_inner()
        .smes;
    assert_same("ListSmes", &written, &listed);
    let searched = app
        .smes
        .list_smes(pb::ListSmesRequest {
            search: "대원정밀".into(),
            ..Default::default()
        })
        .await
        .expect("search smes")
        .into_inner()
        .smes;
    assert_same("ListSmes search", &written[1..2], &searched);
    let mut export = app
        .smes
        .export_smes(pb::ExportSmesRequest {
            show_deleted: true,
            ..Default::default()
        })
        .await
        .expect("export smes")
        .into_inner();
    let mut exported = Vec::new();
    while let Some(batch) = export.message().await.expect("export batch") {
        exported.extend(batch.smes);
    }
    assert_same("ExportSmes", &written, &exported);

    // Companies: the company decoder, through Get and List.
    let company = app
        .companies
        .create_company(pb::CreateCompanyRequest {
            company: Some(pb::Company {
                display_name: korean_name("c"),
                business_number: business_number(78),
                corporate_number: "130111-0006246".into(),
                size: pb::EnterpriseSize::Large as i32,
                ksic_code: "26111".into(),
                region: pb::Region::Gyeonggi as i32,
                employee_count: Some(i32::MAX),
                annual_revenue_krw: Some(i64::MAX),
                ..Default::default()
            }),
            company_id: "host".into(),
            request_id: String::new(),
        })
        .await
        .expect("create company")
        .into_inner();
    let partner = app
        .companies
        .create_company(pb::CreateCompanyRequest {
            company: Some(pb::Company {
                display_name: "y".into(),
                size: pb::EnterpriseSize::MiddleStanding as i32,
                ..Default::default()
            }),
            company_id: "partner".into(),
            request_id: String::new(),
        })
        .await
        .expect("create company")
        .into_inner();
    let companies = [company.clone(), partner.clone()];
    let mut got = Vec::new();
    for c in &companies {
        let one = app
            .companies
            .get_company(pb::GetCompanyRequest {
                name: c.name.clone(),
            })
            .await
            .expect("get company")
            .into_inner();
        got.push(one);
    }
    assert_same("GetCompany", &companies, &got);
    let listed = app
        .companies
        .list_companies(pb::ListCompaniesRequest::default())
        .await
        .expect("list companies")
        .into_inner()
        .companies;
    assert_same("ListCompanies", &companies, &listed);

    // Programs: long Korean text, extreme dates, the largest budget,
    // co-hosts and funders; and one with nothing optional.
    let mut programs = Vec::new();
    for (id, p) in [
        (
            "bare",
            pb::Program {
                display_name: "p".into(),
                host_company: company.name.clone(),
                kind: pb::ProgramKind::SmartFactory as i32,
                ..Default::default()
            },
        ),
        (
            "full",
            pb::Program {
                display_name: korean_name("p"),
                description: "동반성장 — 협력사 생산성 향상\n".repeat(300),
                host_company: company.name.clone(),
                kind: pb::ProgramKind::EsgSupplyChain as i32,
                region: pb::Region::Jeju as i32,
                state: pb::ProgramState::Completed as i32,
                start_date: date(1, 1, 1),
                end_date: date(9999, 12, 31),
                budget_krw: Some(i64::MAX),
                co_hosts: vec![partner.name.clone()],
                funders: vec![pb::Funder {
                    display_name: "중소벤처기업부".into(),
                    contribution_krw: Some(i64::MAX),
                }],
                ..Default::default()
            },
        ),
    ] {
        let created = app
            .programs
            .create_program(pb::CreateProgramRequest {
                program: Some(p),
                program_id: id.into(),
                request_id: String::new(),
            })
            .await
            .expect("create program")
            .into_inner();
        programs.push(created);
    }
    let mut got = Vec::new();
    for p in &programs {
        let one = app
            .programs
            .get_program(pb::GetProgramRequest {
                name: p.name.clone(),
            })
            .await
            .expect("get program")
            .into_inner();
        got.push(one);
    }
    assert_same("GetProgram", &programs, &got);
    let listed = app
        .programs
        .list_programs(pb::ListProgramsRequest::default())
        .await
        .expect("list programs")
        .into_inner()
        .programs;
    assert_same("ListPrograms", &programs, &listed);
    let mut export = app
        .programs
        .export_programs(pb::ExportProgramsRequest::default())
        .await
        .expect("export programs")
        .into_inner();
    let mut exported = Vec::new();
    while let Some(batch) = export.message().await.expect("export batch") {
        exported.extend(batch.programs);
    }
    assert_same("ExportPrograms", &programs, &exported);

    // Participations: unmeasured outcomes and the largest support.
    let mut parts = Vec::new();
    for (sme, id, support, outcomes) in [
        ("smes/bare", "bare", None, vec![]),
        (
            "smes/full",
            "full",
            Some(i64::MAX),
            vec![
                pb::Outcome {
                    metric: "불량률".into(),
                    baseline: Some(f64::MAX),
                    achieved: None,
                    unit: "퍼센트".into(),
                    description: "측정 중".repeat(20),
                },
                pb::Outcome {
                    metric: "재고".into(),
                    baseline: None,
                    achieved: Some(-0.000_001),
                    unit: String::new(),
                    description: String::new(),
                },
            ],
        ),
    ] {
        let created = app
            .programs
            .create_participation(pb::CreateParticipationRequest {
                parent: "programs/full".into(),
                participation: Some(pb::Participation {
                    sme: sme.into(),
                    support_amount_krw: support,
                    joined_date: if support.is_some() {
                        date(2024, 2, 29)
                    } else {
                        None
                    },
                    outcomes,
                    ..Default::default()
                }),
                participation_id: id.into(),
                request_id: String::new(),
            })
            .await
            .expect("create participation")
            .into_inner();
        parts.push(created);
    }
    let mut got = Vec::new();
    for p in &parts {
        let one = app
            .programs
            .get_participation(pb::GetParticipationRequest {
                name: p.name.clone(),
            })
            .await
            .expect("get participation")
            .into_inner();
        got.push(one);
    }
    assert_same("GetParticipation", &parts, &got);
    let listed = app
        .programs
        .list_participations(pb::ListParticipationsRequest {
            parent: "programs/full".into(),
            ..Default::default()
        })
        .await
        .expect("list participations")
        .into_inner()
        .participations;
    assert_same("ListParticipations", &parts, &listed);
}

/// The newest five SMEs, newest first: the page the crowd below asks for.
fn newest_smes() -> pb::ListSmesRequest {
    pb::ListSmesRequest {
        page_size: 5,
        order_by: "create_time desc".into(),
        ..Default::default()
    }
}

/// Callers asking for the same page at the same moment share one read of
/// it (`src/store/pages.rs`), and each still sees every write acknowledged
/// before its call began: while a crowd keeps the newest-first page always
/// being read, one caller creates an SME and then asks for that page, round
/// after round, and finds the SME it just created on top. (A caller let
/// into a read already under way, begun before its write landed, would
/// miss it.) The metrics show the crowd's reads were shared.
pub async fn shared_pages_see_every_acknowledged_write(mut app: App) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let stop = Arc::new(AtomicBool::new(false));
    let crowd: Vec<_> = (0..16)
        .map(|_| {
            let (mut smes, stop) = (app.smes.clone(), stop.clone());
            tokio::spawn(async move {
                let mut pages = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    smes.list_smes(newest_smes()).await.expect("crowd's list");
                    pages += 1;
                }
                pages
            })
        })
        .collect();
    for round in 0..40 {
        let created = crate::support::create_sme(&mut app, &format!("fresh-{round}")).await;
        let page = app
            .smes
            .list_smes(newest_smes())
            .await
            .expect("list after create")
            .into_inner();
        assert_eq!(
            page.smes.first().map(|s| s.name.as_str()),
            Some(created.name.as_str()),
            "round {round}: the page read after the create was acknowledged"
        );
        assert_eq!(page.total_size, round + 1, "round {round}");
    }
    stop.store(true, Ordering::Relaxed);
    let mut pages = 0;
    for member in crowd {
        pages += member.await.expect("crowd member");
    }
    assert!(pages > 0);
    let samples = crate::transport::scrape(&app).await;
    let count = |what| {
        samples
            .find("partnership_page_reads_total", &[("what", what)])
            .unwrap_or_else(|| panic!("partnership_page_reads_total{{what={what:?}}}"))
    };
    let (reads, callers) = (count("reads"), count("callers"));
    assert!(
        callers >= f64::from(pages) && reads < callers,
        "{pages} crowd pages and 40 more: {reads} reads answered {callers} callers"
    );
}
