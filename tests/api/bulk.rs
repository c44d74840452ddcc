//! Bulk and sync: BatchGet (AIP-231), BatchCreate (AIP-233, atomic) and the
//! Export streams, on every backend.

use partnership::pb;
use tonic::Code;

use partnership::pb::insight_service_client::InsightServiceClient;

use crate::support::{
    App, SMES_PER_BATCH, assert_status, business_number, count_companies, create_company,
    create_smes, sme,
};

fn create(id: &str, name: &str, bn: &str) -> pb::CreateCompanyRequest {
    pb::CreateCompanyRequest {
        company: Some(pb::Company {
            display_name: name.into(),
            business_number: bn.into(),
            size: pb::EnterpriseSize::Large as i32,
            ..Default::default()
        }),
        company_id: id.into(),
        request_id: String::new(),
    }
}

fn batch(
    requests: Vec<pb::CreateCompanyRequest>,
    request_id: &str,
) -> pb::BatchCreateCompaniesRequest {
    pb::BatchCreateCompaniesRequest {
        requests,
        request_id: request_id.into(),
    }
}

pub async fn batch_get_returns_in_order_all_or_nothing(mut app: App) {
    for id in ["a1", "b2", "c3"] {
        create_company(&mut app, id, "").await;
    }
    app.companies
        .delete_company(pb::DeleteCompanyRequest {
            name: "companies/b2".into(),
            ..Default::default()
        })
        .await
        .expect("delete");
    let names = |v: &[&str]| pb::BatchGetCompaniesRequest {
        names: v.iter().map(|s| (*s).to_owned()).collect(),
    };
    let got = app
        .companies
        .batch_get_companies(names(&[
            "companies/c3",
            "companies/a1",
            "companies/b2",
            "companies/c3",
        ]))
        .await
        .expect("batch get")
        .into_inner();
    let order: Vec<&str> = got.companies.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        order,
        [
            "companies/c3",
            "companies/a1",
            "companies/b2",
            "companies/c3"
        ]
    );
    assert!(
        got.companies[2].delete_time.is_some(),
        "deleted ones are returned"
    );

    let r = app
        .companies
        .batch_get_companies(names(&["companies/a1", "companies/nobody"]))
        .await;
    assert_status(r, Code::NotFound, None);
    let r = app
        .companies
        .batch_get_companies(names(&["companies/a1", "smes/a1"]))
        .await;
    assert_status(r, Code::InvalidArgument, Some("names[1]"));
    let r = app.companies.batch_get_companies(names(&[])).await;
    assert_status(r, Code::InvalidArgument, Some("names"));
    let many: Vec<String> = (0..1001).map(|i| format!("companies/x{i}")).collect();
    let r = app
        .companies
        .batch_get_companies(pb::BatchGetCompaniesRequest { names: many })
        .await;
    assert_status(r, Code::InvalidArgument, Some("names"));
    let got = app
        .smes
        .batch_get_smes(pb::BatchGetSmesRequest {
            names: vec!["smes/none".into()],
        })
        .await;
    assert_status(got, Code::NotFound, None);
    app.stop().await;
}

pub async fn batch_create_is_atomic_and_names_the_request_at_fault(mut app: App) {
    create_company(&mut app, "taken", &business_number(1)).await;
    let before = count_companies(&mut app).await;

    // Results in request order, ids generated where not given.
    let ok = app
        .companies
        .batch_create_companies(batch(
            vec![
                create("first", "First", &business_number(2)),
                create("", "Second", ""),
                create("third", "Third", &business_number(3)),
            ],
            "",
        ))
        .await
        .expect("batch create")
        .into_inner();
    let names: Vec<&str> = ok.companies.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names[0], "companies/first");
    assert!(names[1].starts_with("companies/c"));
    assert_eq!(names[2], "companies/third");
    assert_eq!(count_companies(&mut app).await, before + 3);

    // One refusal anywhere: nothing is created, and the request is named.
    let cases: Vec<(Vec<pb::CreateCompanyRequest>, Code, &str)> = vec![
        (
            vec![
                create("n1", "N1", &business_number(10)),
                create("n2", "N2", &business_number(1)),
            ],
            Code::AlreadyExists,
            "requests[1].company.business_number",
        ),
        (
            vec![
                create("n1", "N1", &business_number(11)),
                create("n2", "N2", &business_number(11)),
            ],
            Code::AlreadyExists,
            "requests[1].company.business_number",
        ),
        (
            vec![create("n1", "N1", ""), create("first", "Again", "")],
            Code::AlreadyExists,
            "requests[1].company_id",
        ),
        (
            vec![create("n1", "N1", ""), create("n1", "Twice", "")],
            Code::AlreadyExists,
            "requests[1].company_id",
        ),
        (
            vec![create("n1", "N1", ""), create("n2", "N2", "124-81-00997")],
            Code::InvalidArgument,
            "requests[1].company.business_number",
        ),
        (
            vec![create("Bad Id", "N1", "")],
            Code::InvalidArgument,
            "requests[0].company_id",
        ),
    ];
    for (requests, code, field) in cases {
        let r = app
            .companies
            .batch_create_companies(batch(requests, ""))
            .await;
        assert_status(r, code, Some(field));
        assert_eq!(
            count_companies(&mut app).await,
            before + 3,
            "{field}: nothing created"
        );
    }
    let mut with_own_id = create("n1", "N1", "");
    with_own_id.request_id = "6f1c2a4e-7b1d-4c55-9a0e-3d2b7c9e1a99".into();
    let r = app
        .companies
        .batch_create_companies(batch(vec![with_own_id], ""))
        .await;
    assert_status(r, Code::InvalidArgument, Some("requests[0].request_id"));
    let r = app
        .companies
        .batch_create_companies(batch(vec![], ""))
        .await;
    assert_status(r, Code::InvalidArgument, Some("requests"));
    let too_many: Vec<_> = (0..1001)
        .map(|i| create(&format!("m{i}"), "M", ""))
        .collect();
    let r = app
        .companies
        .batch_create_companies(batch(too_many, ""))
        .await;
    assert_status(r, Code::InvalidArgument, Some("requests"));

    // A batch request_id: the retry returns the first answer, creates nothing.
    let id = "6f1c2a4e-7b1d-4c55-9a0e-3d2b7c9e1a42";
    let requests = vec![create("r1", "R1", ""), create("", "R2", "")];
    let first = app
        .companies
        .batch_create_companies(batch(requests.clone(), id))
        .await
        .expect("first")
        .into_inner();
    let again = app
        .companies
        .batch_create_companies(batch(requests, id))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(count_companies(&mut app).await, before + 5);
    let r = app
        .companies
        .batch_create_companies(batch(vec![create("r3", "R3", "")], id))
        .await;
    assert_status(r, Code::InvalidArgument, Some("request_id"));

    // SMEs too.
    let smes = app
        .smes
        .batch_create_smes(pb::BatchCreateSmesRequest {
            requests: (0..3)
                .map(|i| pb::CreateSmeRequest {
                    sme: Some(pb::Sme {
                        display_name: format!("SME {i}"),
                        size: pb::EnterpriseSize::Small as i32,
                        ..Default::default()
                    }),
                    sme_id: format!("s{i}"),
                    request_id: String::new(),
                })
                .collect(),
            request_id: String::new(),
        })
        .await
        .expect("smes")
        .into_inner();
    assert_eq!(smes.smes.len(), 3);
    app.stop().await;
}

pub async fn exports_stream_every_record_once_in_batches(mut app: App) {
    const N: usize = 2_500;
    create_smes(
        &mut app,
        (0..N).map(|n| {
            let record = pb::Sme {
                employee_count: Some((n % 10) as i32),
                ..sme(&format!("SME {n}"))
            };
            (format!("s{n}"), record)
        }),
    )
    .await;
    app.smes
        .delete_sme(pb::DeleteSmeRequest {
            name: "smes/s7".into(),
            ..Default::default()
        })
        .await
        .expect("delete");
    let export = |filter: &str, show_deleted: bool| pb::ExportSmesRequest {
        filter: filter.into(),
        show_deleted,
    };
    let mut stream = app
        .smes
        .export_smes(export("", false))
        .await
        .expect("export")
        .into_inner();
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    while let Some(batch) = stream.message().await.expect("batch") {
        sizes.push(batch.smes.len());
        ids.extend(batch.smes.into_iter().map(|s| s.name));
    }
    assert_eq!(sizes, vec![1000, 1000, 499]);
    // Creation order: the batches in turn; one batch shares its create_time,
    // so within it the ids decide.
    let batch_of = |name: &str| {
        name.trim_start_matches("smes/s")
            .parse::<usize>()
            .map(|n| n / SMES_PER_BATCH)
            .unwrap_or(usize::MAX)
    };
    let mut want: Vec<String> = (0..N)
        .filter(|n| *n != 7)
        .map(|n| format!("smes/s{n}"))
        .collect();
    want.sort_by(|a, b| (batch_of(a), a).cmp(&(batch_of(b), b)));
    assert!(ids == want, "every live record once, in creation order");

    let mut stream = app
        .smes
        .export_smes(export("employee_count = 3", true))
        .await
        .expect("export")
        .into_inner();
    let mut count = 0;
    while let Some(batch) = stream.message().await.expect("batch") {
        assert!(batch.smes.iter().all(|s| s.employee_count == Some(3)));
        count += batch.smes.len();
    }
    assert_eq!(count, N / 10);
    let mut stream = app
        .smes
        .export_smes(export("employee_count = 7", true))
        .await
        .expect("export")
        .into_inner();
    let mut with_deleted = 0;
    while let Some(batch) = stream.message().await.expect("batch") {
        with_deleted += batch.smes.len();
    }
    assert_eq!(with_deleted, N / 10, "show_deleted includes smes/s7");

    let r = app.smes.export_smes(export("colour = RED", false)).await;
    assert_status(r.map(|_| ()), Code::InvalidArgument, Some("filter"));

    // Companies and programs export the same way.
    create_company(&mut app, "host", "").await;
    crate::support::create_program(&mut app, "p1", "companies/host").await;
    let mut companies = app
        .companies
        .export_companies(pb::ExportCompaniesRequest::default())
        .await
        .expect("export")
        .into_inner();
    let first = companies
        .message()
        .await
        .expect("batch")
        .expect("one batch");
    assert_eq!(first.companies.len(), 1);
    assert!(companies.message().await.expect("end").is_none());
    let mut programs = app
        .programs
        .export_programs(pb::ExportProgramsRequest {
            filter: "kind = SMART_FACTORY".into(),
            show_deleted: false,
        })
        .await
        .expect("export")
        .into_inner();
    let first = programs.message().await.expect("batch").expect("one batch");
    assert_eq!(first.programs.len(), 1);
    app.stop().await;
}

/// Runs `partnership generate` on `url` with a small dataset.
fn generate(url: &str, seed: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_partnership"))
        .args([
            "generate",
            "--database-url",
            url,
            "--companies",
            "5",
            "--smes",
            "300",
            "--programs",
            "40",
            "--participations",
            "400",
            "--seed",
            seed,
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run partnership generate")
}

/// Every record through an export: they all decode, so every stored value
/// is valid (the store checks each row it reads).
async fn exported(app: &mut App) -> (Vec<pb::Company>, Vec<pb::Sme>, Vec<pb::Program>) {
    let mut companies = Vec::new();
    let mut s = app
        .companies
        .export_companies(pb::ExportCompaniesRequest::default())
        .await
        .expect("export")
        .into_inner();
    while let Some(b) = s.message().await.expect("batch") {
        companies.extend(b.companies);
    }
    let mut smes = Vec::new();
    let mut s = app
        .smes
        .export_smes(pb::ExportSmesRequest::default())
        .await
        .expect("export")
        .into_inner();
    while let Some(b) = s.message().await.expect("batch") {
        smes.extend(b.smes);
    }
    let mut programs = Vec::new();
    let mut s = app
        .programs
        .export_programs(pb::ExportProgramsRequest::default())
        .await
        .expect("export")
        .into_inner();
    while let Some(b) = s.message().await.expect("batch") {
        programs.extend(b.programs);
    }
    (companies, smes, programs)
}

/// `partnership generate` loads valid, deterministic records, and refuses a
/// database that already holds some.
pub async fn generated_datasets_are_valid_and_deterministic(db: crate::support::TestDb) {
    let out = generate(&db.url, "7");
    assert!(out.status.success(), "generate: {out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("generated 745 rows"), "{said}");
    let again = generate(&db.url, "7");
    assert!(!again.status.success());
    // The reason is logged (logs go to stdout).
    let told = format!(
        "{}{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(told.contains("already holds records"), "{told}");

    let mut app = App::spawn(&db).await;
    let (companies, smes, programs) = exported(&mut app).await;
    assert_eq!((companies.len(), smes.len(), programs.len()), (5, 300, 40));
    assert!(
        smes.iter()
            .all(|s| !s.business_number.is_empty() && !s.ksic_code.is_empty())
    );
    let participations = app
        .programs
        .list_participations(pb::ListParticipationsRequest {
            parent: "programs/-".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(participations.total_size, 400);
    // Every host exists, and the queries work on generated data.
    let kinds = InsightServiceClient::new(app.channel.clone())
        .summarize_programs(pb::SummarizeProgramsRequest {
            filter: String::new(),
            group_by: vec!["kind".into()],
        })
        .await
        .expect("summarize")
        .into_inner();
    assert_eq!(
        kinds.groups.iter().map(|g| g.program_count).sum::<i64>(),
        40
    );
    assert_eq!(
        kinds
            .groups
            .iter()
            .map(|g| g.sme_count)
            .max()
            .map(|n| n > 0),
        Some(true)
    );
    app.stop().await;

    // The same seed gives the same records; another seed, others.
    for (seed, same) in [("7", true), ("8", false)] {
        let other = crate::support::TestDb::create(db.backend).await;
        let out = generate(&other.url, seed);
        assert!(out.status.success(), "generate: {out:?}");
        let mut app = App::spawn(&other).await;
        let (c2, s2, p2) = exported(&mut app).await;
        app.stop().await;
        other.drop_db().await;
        let names = |s: &[pb::Sme]| s.iter().map(|s| s.display_name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&smes) == names(&s2), same, "seed {seed}");
        if same {
            assert_eq!(companies, c2);
            assert_eq!(programs, p2);
        }
    }
}
