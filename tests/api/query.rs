//! Lists that answer questions: AIP-160 filters (every operator and
//! traversal), AIP-132 orders with keyset pages, name search, and the
//! INVALID_ARGUMENT of each bad query, on every backend.

use std::collections::HashSet;

use partnership::pb;
use tonic::Code;

use partnership::pb::insight_service_client::InsightServiceClient;

use crate::support::{App, assert_status, business_number, create_smes, date, sme};

/// The ids (last name segment) of resource names.
fn ids<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    names
        .into_iter()
        .map(|n| n.rsplit('/').next().unwrap_or_default().to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    sorted(v.iter().map(|s| (*s).to_owned()).collect())
}

/// Every program matching `filter` in `order_by`, paging two at a time.
async fn programs(
    app: &mut App,
    filter: &str,
    order_by: &str,
) -> Result<Vec<String>, tonic::Status> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .programs
            .list_programs(pb::ListProgramsRequest {
                page_size: 2,
                page_token: token.clone(),
                filter: filter.into(),
                order_by: order_by.into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        out.extend(ids(page.programs.iter().map(|p| &p.name)));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
}

/// Every SME matching `filter` and `search` in `order_by`, two at a time.
async fn smes(
    app: &mut App,
    filter: &str,
    order_by: &str,
    search: &str,
) -> Result<Vec<String>, tonic::Status> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .smes
            .list_smes(pb::ListSmesRequest {
                page_size: 2,
                page_token: token.clone(),
                filter: filter.into(),
                order_by: order_by.into(),
                search: search.into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        out.extend(ids(page.smes.iter().map(|s| &s.name)));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
}

async fn new_company(app: &mut App, id: &str, name: &str, bn: &str) {
    app.companies
        .create_company(pb::CreateCompanyRequest {
            company: Some(pb::Company {
                display_name: name.into(),
                business_number: bn.into(),
                size: pb::EnterpriseSize::Large as i32,
                ..Default::default()
            }),
            company_id: id.into(),
            request_id: String::new(),
        })
        .await
        .expect("create company");
}

async fn new_sme(app: &mut App, id: &str, s: pb::Sme) {
    app.smes
        .create_sme(pb::CreateSmeRequest {
            sme: Some(s),
            sme_id: id.into(),
            request_id: String::new(),
        })
        .await
        .expect("create sme");
}

async fn new_program(app: &mut App, id: &str, p: pb::Program) {
    app.programs
        .create_program(pb::CreateProgramRequest {
            program: Some(p),
            program_id: id.into(),
            request_id: String::new(),
        })
        .await
        .expect("create program");
}

async fn join(
    app: &mut App,
    program: &str,
    sme: &str,
    amount: Option<i64>,
    joined: (i32, i32, i32),
) {
    app.programs
        .create_participation(pb::CreateParticipationRequest {
            parent: format!("programs/{program}"),
            participation: Some(pb::Participation {
                sme: format!("smes/{sme}"),
                support_amount_krw: amount,
                joined_date: date(joined.0, joined.1, joined.2),
                ..Default::default()
            }),
            participation_id: format!("{sme}-in-{program}"),
            request_id: String::new(),
        })
        .await
        .expect("create participation");
}

/// Two hosts, five programs, four SMEs, five participations.
async fn world(app: &mut App) -> String {
    new_company(app, "samsung", "삼성전자", &business_number(1)).await;
    new_company(app, "lg", "LG Electronics", &business_number(2)).await;
    let program = |name: &str, host: &str, kind: pb::ProgramKind| pb::Program {
        display_name: name.into(),
        host_company: format!("companies/{host}"),
        kind: kind as i32,
        ..Default::default()
    };
    let mut p = program(
        "삼성 스마트공장 2025",
        "samsung",
        pb::ProgramKind::SmartFactory,
    );
    p.start_date = date(2025, 3, 1);
    p.end_date = date(2025, 12, 31);
    p.budget_krw = Some(5_000_000_000);
    p.region = pb::Region::Gyeonggi as i32;
    p.state = pb::ProgramState::Active as i32;
    new_program(app, "sf-2025", p).await;
    let mut p = program(
        "삼성 스마트공장 2024",
        "samsung",
        pb::ProgramKind::SmartFactory,
    );
    p.start_date = date(2024, 3, 1);
    p.budget_krw = Some(3_000_000_000);
    p.state = pb::ProgramState::Completed as i32;
    new_program(app, "sf-2024", p).await;
    let mut p = program(
        "Samsung ESG supply chain",
        "samsung",
        pb::ProgramKind::EsgSupplyChain,
    );
    p.start_date = date(2025, 7, 1);
    p.budget_krw = Some(1_000_000_000);
    p.region = pb::Region::Gyeongnam as i32;
    p.state = pb::ProgramState::Active as i32;
    new_program(app, "esg-samsung", p).await;
    // Taken after the first three programs: `update_time` filters split here.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mid = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut p = program("LG ESG 100%_club", "lg", pb::ProgramKind::EsgSupplyChain);
    p.start_date = date(2025, 1, 15);
    p.budget_krw = Some(1_000_000_000);
    p.region = pb::Region::Gyeongnam as i32;
    new_program(app, "esg-lg", p).await;
    let p = program("LG profit sharing", "lg", pb::ProgramKind::ProfitSharing);
    new_program(app, "ps-lg", p).await;

    let sme = |name: &str, region: pb::Region, employees: Option<i32>, n: u32| pb::Sme {
        display_name: name.into(),
        size: pb::EnterpriseSize::Small as i32,
        region: region as i32,
        employee_count: employees,
        business_number: if n == 0 {
            String::new()
        } else {
            business_number(n)
        },
        ksic_code: "26111".into(),
        ..Default::default()
    };
    new_sme(
        app,
        "daewon",
        sme("대원정밀", pb::Region::Gyeongnam, Some(120), 11),
    )
    .await;
    new_sme(
        app,
        "hanil",
        sme("Hanil Precision", pb::Region::Gyeongnam, Some(45), 12),
    )
    .await;
    new_sme(
        app,
        "busan-tech",
        sme("부산테크", pb::Region::Busan, None, 13),
    )
    .await;
    new_sme(
        app,
        "seoul-soft",
        sme("Seoul Soft", pb::Region::Unspecified, Some(45), 0),
    )
    .await;

    join(app, "sf-2025", "daewon", Some(50_000_000), (2025, 3, 10)).await;
    join(app, "esg-samsung", "daewon", Some(20_000_000), (2025, 8, 1)).await;
    join(app, "esg-lg", "hanil", Some(30_000_000), (2025, 2, 1)).await;
    join(app, "sf-2024", "busan-tech", None, (2024, 4, 1)).await;
    join(app, "ps-lg", "seoul-soft", Some(5_000_000), (2026, 1, 5)).await;
    mid
}

pub async fn filters_cover_every_operator(mut app: App) {
    let mid = world(&mut app).await;
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("kind = SMART_FACTORY".into(), vec!["sf-2025", "sf-2024"]),
        ("kind = PROGRAM_KIND_SMART_FACTORY".into(), vec!["sf-2025", "sf-2024"]),
        ("kind != SMART_FACTORY".into(), vec!["esg-samsung", "esg-lg", "ps-lg"]),
        ("budget_krw > 1000000000".into(), vec!["sf-2025", "sf-2024"]),
        ("budget_krw >= 3000000000".into(), vec!["sf-2025", "sf-2024"]),
        ("budget_krw < 3000000000".into(), vec!["esg-samsung", "esg-lg"]),
        ("budget_krw <= 1000000000".into(), vec!["esg-samsung", "esg-lg"]),
        ("budget_krw = null".into(), vec!["ps-lg"]),
        ("budget_krw:*".into(), vec!["sf-2025", "sf-2024", "esg-samsung", "esg-lg"]),
        (
            "start_date >= 2025-01-01 AND start_date < 2025-07-01".into(),
            vec!["sf-2025", "esg-lg"],
        ),
        ("end_date = 2025-12-31".into(), vec!["sf-2025"]),
        (
            r#"host_company = "companies/samsung""#.into(),
            vec!["sf-2025", "sf-2024", "esg-samsung"],
        ),
        (
            r#"kind = SMART_FACTORY AND host_company = "companies/samsung" AND start_date >= 2025-01-01"#.into(),
            vec!["sf-2025"],
        ),
        (r#"display_name = "삼성*""#.into(), vec!["sf-2025", "sf-2024"]),
        (r#"display_name = "*2024""#.into(), vec!["sf-2024"]),
        (r#"display_name = "*esg*""#.into(), vec!["esg-samsung", "esg-lg"]),
        ("display_name:스마트공장".into(), vec!["sf-2025", "sf-2024"]),
        (r#"display_name = "LG profit sharing""#.into(), vec!["ps-lg"]),
        // LIKE metacharacters in caller text are literal.
        (r#"display_name:"100%_""#.into(), vec!["esg-lg"]),
        (r#"display_name:"%""#.into(), vec!["esg-lg"]),
        ("region = GYEONGNAM".into(), vec!["esg-samsung", "esg-lg"]),
        // `!=` and NOT include records whose region is unset.
        ("region != GYEONGNAM".into(), vec!["sf-2025", "sf-2024", "ps-lg"]),
        ("NOT region = GYEONGNAM".into(), vec!["sf-2025", "sf-2024", "ps-lg"]),
        ("-region = GYEONGGI".into(), vec!["sf-2024", "esg-samsung", "esg-lg", "ps-lg"]),
        ("region = null".into(), vec!["sf-2024", "ps-lg"]),
        ("region != null".into(), vec!["sf-2025", "esg-samsung", "esg-lg"]),
        ("state = ACTIVE".into(), vec!["sf-2025", "esg-samsung"]),
        (
            "(kind = ESG_SUPPLY_CHAIN OR kind = PROFIT_SHARING) AND state = PLANNED".into(),
            vec!["esg-lg", "ps-lg"],
        ),
        (
            "kind = ESG_SUPPLY_CHAIN OR kind = PROFIT_SHARING state = PLANNED".into(),
            vec!["esg-lg", "ps-lg"],
        ),
        (
            r#"participations.sme = "smes/daewon""#.into(),
            vec!["sf-2025", "esg-samsung"],
        ),
        (
            r#"NOT participations.sme = "smes/daewon""#.into(),
            vec!["sf-2024", "esg-lg", "ps-lg"],
        ),
        (format!(r#"update_time > "{mid}""#), vec!["esg-lg", "ps-lg"]),
        (format!(r#"create_time <= "{mid}""#), vec!["sf-2025", "sf-2024", "esg-samsung"]),
        ("update_time > 2000-01-01".into(), vec!["sf-2025", "sf-2024", "esg-samsung", "esg-lg", "ps-lg"]),
    ];
    for (filter, want) in cases {
        let got = programs(&mut app, &filter, "")
            .await
            .unwrap_or_else(|e| panic!("{filter}: {e:?}"));
        assert_eq!(sorted(got), strs(&want), "filter {filter}");
    }

    // A traversal counts only live participations of live programs.
    app.programs
        .delete_participation(pb::DeleteParticipationRequest {
            name: "programs/esg-samsung/participations/daewon-in-esg-samsung".into(),
            ..Default::default()
        })
        .await
        .expect("delete participation");
    let got = programs(&mut app, r#"participations.sme = "smes/daewon""#, "")
        .await
        .expect("list");
    assert_eq!(got, strs(&["sf-2025"]));
    app.stop().await;
}

pub async fn sme_and_participation_filters_traverse(mut app: App) {
    world(&mut app).await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("programs.kind = ESG_SUPPLY_CHAIN", vec!["daewon", "hanil"]),
        (
            "region = GYEONGNAM AND programs.kind = ESG_SUPPLY_CHAIN",
            vec!["daewon", "hanil"],
        ),
        (
            "programs.kind = SMART_FACTORY",
            vec!["daewon", "busan-tech"],
        ),
        (
            r#"programs.host_company = "companies/lg""#,
            vec!["hanil", "seoul-soft"],
        ),
        (
            "programs.kind:*",
            vec!["daewon", "hanil", "busan-tech", "seoul-soft"],
        ),
        ("employee_count >= 50", vec!["daewon"]),
        ("employee_count = 45", vec!["hanil", "seoul-soft"]),
        ("employee_count != 45", vec!["daewon", "busan-tech"]),
        ("region = REGION_BUSAN", vec!["busan-tech"]),
        ("size = SMALL AND region = null", vec!["seoul-soft"]),
        (
            "ksic_code = C26111",
            vec!["daewon", "hanil", "busan-tech", "seoul-soft"],
        ),
        (
            r#"ksic_code = "C26*""#,
            vec!["daewon", "hanil", "busan-tech", "seoul-soft"],
        ),
        ("display_name = 대원정밀", vec!["daewon"]),
        ("business_number = null", vec!["seoul-soft"]),
    ];
    for (filter, want) in cases {
        let got = smes(&mut app, filter, "", "")
            .await
            .unwrap_or_else(|e| panic!("{filter}: {e:?}"));
        assert_eq!(sorted(got), strs(&want), "filter {filter}");
    }
    // A business number with or without dashes.
    let bn = business_number(12);
    let plain: String = bn.chars().filter(char::is_ascii_digit).collect();
    let dashed = format!("{}-{}-{}", &plain[..3], &plain[3..5], &plain[5..]);
    for number in [plain, dashed] {
        let got = smes(
            &mut app,
            &format!(r#"business_number = "{number}""#),
            "",
            "",
        )
        .await
        .expect("list");
        assert_eq!(got, strs(&["hanil"]), "{number}");
    }

    // Participations of one SME in every program, and their own fields.
    let list = |filter: &str, order_by: &str| pb::ListParticipationsRequest {
        parent: "programs/-".into(),
        filter: filter.into(),
        order_by: order_by.into(),
        ..Default::default()
    };
    for (filter, want) in [
        (
            r#"sme = "smes/daewon""#,
            vec!["daewon-in-sf-2025", "daewon-in-esg-samsung"],
        ),
        (
            "support_amount_krw >= 30000000",
            vec!["daewon-in-sf-2025", "hanil-in-esg-lg"],
        ),
        ("support_amount_krw = null", vec!["busan-tech-in-sf-2024"]),
        ("joined_date < 2025-01-01", vec!["busan-tech-in-sf-2024"]),
        (
            "update_time > 2020-01-01 AND joined_date >= 2026-01-01",
            vec!["seoul-soft-in-ps-lg"],
        ),
    ] {
        let page = app
            .programs
            .list_participations(list(filter, ""))
            .await
            .unwrap_or_else(|e| panic!("{filter}: {e:?}"))
            .into_inner();
        assert_eq!(
            sorted(ids(page.participations.iter().map(|p| &p.name))),
            strs(&want),
            "{filter}"
        );
        assert_eq!(page.total_size as usize, want.len(), "{filter}");
    }
    let page = app
        .programs
        .list_participations(list("", "support_amount_krw desc"))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        ids(page.participations.iter().map(|p| &p.name)),
        vec![
            "busan-tech-in-sf-2024",
            "daewon-in-sf-2025",
            "hanil-in-esg-lg",
            "daewon-in-esg-samsung",
            "seoul-soft-in-ps-lg",
        ],
        "descending puts unset amounts first"
    );
    app.stop().await;
}

pub async fn orders_page_in_order_with_ties_by_id(mut app: App) {
    world(&mut app).await;
    // Extra ties on employee_count and display_name.
    for (id, name, employees) in [
        ("a-tie", "Tie", Some(45)),
        ("z-tie", "Tie", Some(45)),
        ("m-tie", "Tie", None),
    ] {
        new_sme(
            &mut app,
            id,
            pb::Sme {
                display_name: name.into(),
                size: pb::EnterpriseSize::Micro as i32,
                employee_count: employees,
                ..Default::default()
            },
        )
        .await;
    }
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "employee_count",
            vec![
                "a-tie",
                "hanil",
                "seoul-soft",
                "z-tie",
                "daewon",
                "busan-tech",
                "m-tie",
            ],
        ),
        (
            "employee_count desc",
            vec![
                "m-tie",
                "busan-tech",
                "daewon",
                "z-tie",
                "seoul-soft",
                "hanil",
                "a-tie",
            ],
        ),
        (
            "employee_count desc, display_name",
            vec![
                "m-tie",
                "busan-tech",
                "daewon",
                "hanil",
                "seoul-soft",
                "a-tie",
                "z-tie",
            ],
        ),
        (
            "display_name asc, employee_count desc",
            // Ties run the way of the last key: ids descending here.
            vec![
                "hanil",
                "seoul-soft",
                "m-tie",
                "z-tie",
                "a-tie",
                "daewon",
                "busan-tech",
            ],
        ),
        (
            "create_time desc",
            vec![
                "m-tie",
                "z-tie",
                "a-tie",
                "seoul-soft",
                "busan-tech",
                "hanil",
                "daewon",
            ],
        ),
    ];
    for (order_by, want) in cases {
        let got = smes(&mut app, "", order_by, "")
            .await
            .unwrap_or_else(|e| panic!("{order_by}: {e:?}"));
        assert_eq!(
            got,
            want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "order_by {order_by}"
        );
    }
    // Ordered and filtered together.
    let got = smes(&mut app, "employee_count:*", "employee_count desc", "")
        .await
        .expect("list");
    assert_eq!(got, vec!["daewon", "z-tie", "seoul-soft", "hanil", "a-tie"]);
    let got = programs(&mut app, "budget_krw:*", "budget_krw desc, start_date")
        .await
        .expect("list");
    assert_eq!(got, vec!["sf-2025", "sf-2024", "esg-lg", "esg-samsung"]);
    let got = programs(&mut app, "", "start_date desc")
        .await
        .expect("list");
    assert_eq!(
        got,
        vec!["ps-lg", "esg-samsung", "sf-2025", "esg-lg", "sf-2024"]
    );

    // A token belongs to its order.
    let first = app
        .smes
        .list_smes(pb::ListSmesRequest {
            page_size: 1,
            order_by: "display_name".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let r = app
        .smes
        .list_smes(pb::ListSmesRequest {
            page_size: 1,
            page_token: first.next_page_token,
            order_by: "display_name desc".into(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("page_token"));
    app.stop().await;
}

pub async fn search_matches_names_and_business_numbers(mut app: App) {
    world(&mut app).await;
    let bn = business_number(11);
    let digits: String = bn.chars().filter(char::is_ascii_digit).collect();
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("대원".into(), vec!["daewon"]),
        ("precision".into(), vec!["hanil"]),
        ("HANIL".into(), vec!["hanil"]),
        ("테크".into(), vec!["busan-tech"]),
        ("o".into(), vec!["hanil", "seoul-soft"]),
        (digits.clone(), vec!["daewon"]),
        (
            format!("{}-{}-{}", &digits[..3], &digits[3..5], &digits[5..]),
            vec!["daewon"],
        ),
        // Digits across the dashes.
        (digits[4..9].to_owned(), vec!["daewon"]),
        ("%".into(), vec![]),
        ("_".into(), vec![]),
        ("nobody".into(), vec![]),
    ];
    for (search, want) in cases {
        let got = smes(&mut app, "", "", &search)
            .await
            .unwrap_or_else(|e| panic!("{search}: {e:?}"));
        assert_eq!(sorted(got), strs(&want), "search {search}");
    }
    // Combined with a filter by AND, and on companies and programs.
    let got = smes(&mut app, "employee_count = 45", "", "o")
        .await
        .expect("list");
    assert_eq!(sorted(got), strs(&["hanil", "seoul-soft"]));
    let got = smes(&mut app, "region = GYEONGNAM", "", "o")
        .await
        .expect("list");
    assert_eq!(got, strs(&["hanil"]));
    let companies = app
        .companies
        .list_companies(pb::ListCompaniesRequest {
            search: "electronics".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(ids(companies.companies.iter().map(|c| &c.name)), vec!["lg"]);
    let found = app
        .programs
        .list_programs(pb::ListProgramsRequest {
            search: "스마트".into(),
            filter: "start_date >= 2025-01-01".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(ids(found.programs.iter().map(|p| &p.name)), vec!["sf-2025"]);
    assert_eq!(found.total_size, 1);

    // A renamed SME is found by its new name, in any case, and no longer by
    // its old one: what a search matches follows every write (on PostgreSQL
    // a lower-cased copy of the name kept by the database).
    app.smes
        .update_sme(pb::UpdateSmeRequest {
            sme: Some(pb::Sme {
                name: "smes/seoul-soft".into(),
                display_name: "Gangnam WIDGETS".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .expect("rename");
    for (search, filter, want) in [
        ("widget", "", vec!["seoul-soft"]),
        ("NAM wid", "", vec!["seoul-soft"]),
        ("Seoul Soft", "", vec![]),
        ("", r#"display_name = "gangnam*""#, vec!["seoul-soft"]),
        ("", r#"display_name = "*Widgets""#, vec!["seoul-soft"]),
        ("", r#"display_name = "seoul*""#, vec![]),
    ] {
        let got = smes(&mut app, filter, "", search)
            .await
            .unwrap_or_else(|e| panic!("{search} {filter}: {e:?}"));
        assert_eq!(got, strs(&want), "search {search:?}, filter {filter:?}");
    }
    app.stop().await;
}

/// Searches matching more than a page: 900 SMEs whose names hold
/// "Gadget" among 4,100 named "Widget …", all of them in the first two
/// thirds of the table. The first page of a search that matches up to
/// 1,000 records is sorted and counted in one statement on PostgreSQL
/// (though a probe of its first matches, crowded at the table's start,
/// puts them above that), and one that matches more is read by walking
/// the order's index (the planner may not fetch and sort every match);
/// either way the pages hold every match once in the requested order, and
/// `total_size` is exact where the count is (SQLite always, the others up
/// to 1,000).
pub async fn searches_page_and_count_many_matches(mut app: App) {
    const N: usize = 4_100;
    const GADGETS: usize = 900;
    let name = |i: usize| {
        if i.is_multiple_of(3) && i / 3 < GADGETS {
            format!("Widget Gadget {i:05}")
        } else {
            format!("Widget {i:05}")
        }
    };
    create_smes(
        &mut app,
        (0..N).map(|i| (format!("w{i:05}"), sme(&name(i)))),
    )
    .await;
    let url = app.db.url.clone();
    // Where `total_size` of a first page is an exact count of the matches.
    let exact = |matching: usize| url.starts_with("sqlite:") || matching <= 1_000;
    // By name, and in the default order (creation, here the names'), whose
    // walk on PostgreSQL reads the index alone and fetches the page by id.
    let orders = [("display_name desc", true), ("", false)];
    for ((search, matching), (order_by, descending)) in [("gADGET", GADGETS), ("widget", N)]
        .into_iter()
        .flat_map(|s| orders.map(|o| (s, o)))
    {
        // Created in the order of their numbers, one id after another.
        let mut want: Vec<String> = (0..N)
            .map(name)
            .filter(|n| n.to_lowercase().contains(&search.to_lowercase()))
            .collect();
        assert_eq!(want.len(), matching);
        if descending {
            want.sort_unstable_by(|a, b| b.cmp(a));
        }
        let mut got = Vec::new();
        let mut token = String::new();
        loop {
            let page = app
                .smes
                .list_smes(pb::ListSmesRequest {
                    page_size: 50,
                    page_token: token.clone(),
                    search: search.into(),
                    order_by: order_by.into(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{search} {order_by}: {e:?}"))
                .into_inner();
            if token.is_empty() {
                let total = usize::try_from(page.total_size).expect("total");
                if exact(matching) {
                    assert_eq!(total, matching, "total_size of {search}");
                } else {
                    // More than 1,000 seen (PostgreSQL) or estimated.
                    assert!(total > 1_000, "total_size of {search}: {total}");
                }
            }
            got.extend(page.smes.into_iter().map(|s| s.display_name));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(got, want, "pages of {search} {order_by}");
    }
    app.stop().await;
}

/// PostgreSQL: the server's migrations have the planner sample every
/// stored lower-cased name finely (10,000 histogram entries), so it can
/// tell how many names a search matches and choose between sorting the
/// matches and walking the order (a 433-match string at 10M SMEs, put at
/// 102,000 by the default histogram, was walked through 1.1M index
/// entries); and a search answers with those statistics in place.
pub async fn search_names_are_sampled_finely(mut app: App) {
    use sea_orm::{ConnectionTrait, Database, Statement};
    create_smes(
        &mut app,
        (0..30).map(|i| (format!("f{i:05}"), sme(&format!("정밀부품 {i}")))),
    )
    .await;
    let db = Database::connect(app.db.url.as_str())
        .await
        .expect("connect");
    for table in ["companies", "smes", "programs"] {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT attstattarget::int4 AS target FROM pg_attribute \
                     WHERE attrelid = '{table}'::regclass AND attname = 'search_name'"
                ),
            ))
            .await
            .expect("query")
            .expect("search_name column");
        let target: i32 = row.try_get("", "target").expect("target");
        assert_eq!(target, 10_000, "statistics target of {table}.search_name");
    }
    db.execute_unprepared("ANALYZE smes")
        .await
        .expect("analyze");
    let page = app
        .smes
        .list_smes(pb::ListSmesRequest {
            search: "밀부품".into(),
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert_eq!(page.total_size, 30);
    assert_eq!(page.smes.len(), 30);
    db.close().await.expect("close");
    app.stop().await;
}

pub async fn bad_queries_are_invalid_argument_and_inject_nothing(mut app: App) {
    world(&mut app).await;
    let bad_filters = [
        "colour = RED",
        "kind = PURPLE",
        "kind > SMART_FACTORY",
        "budget_krw > lots",
        "budget_krw > 99999999999999999999",
        "start_date > 2025-02-30",
        "update_time > \"yesterday\"",
        "update_time > 2025-01-01T00:00:00Z",
        "display_name < \"m\"",
        "host_company = \"smes/daewon\"",
        "host_company = samsung",
        "kind = null",
        "samsung",
        "kind = (state = ACTIVE)",
        "regex(display_name, \"x\")",
        "(kind = SMART_FACTORY",
        "kind = SMART_FACTORY)",
        "kind = SMART_FACTORY AND",
        "participations.program = \"programs/x\"",
        "display_name = \"x\u{0}\"",
        "display_name = \"x'; DROP TABLE programs; --\" OR 1 = 1",
    ];
    for filter in bad_filters {
        let r = programs(&mut app, filter, "").await;
        assert_status(r, Code::InvalidArgument, Some("filter"));
    }
    let deep = format!("{}kind = SMART_FACTORY{}", "(".repeat(40), ")".repeat(40));
    assert_status(
        programs(&mut app, &deep, "").await,
        Code::InvalidArgument,
        Some("filter"),
    );
    let wide = vec!["budget_krw > 1"; 40].join(" OR ");
    assert_status(
        programs(&mut app, &wide, "").await,
        Code::InvalidArgument,
        Some("filter"),
    );
    let long = format!("display_name = \"{}\"", "가".repeat(3000));
    assert_status(
        programs(&mut app, &long, "").await,
        Code::InvalidArgument,
        Some("filter"),
    );
    for order_by in [
        "kind",
        "colour",
        "display_name sideways",
        "display_name, display_name",
        "display_name; DROP TABLE programs",
        "display_name desc, budget_krw, start_date, end_date",
        "participations.sme",
    ] {
        let r = programs(&mut app, "", order_by).await;
        assert_status(r, Code::InvalidArgument, Some("order_by"));
    }
    for search in ["x\u{0}", "line\nbreak"] {
        let r = smes(&mut app, "", "", search).await;
        assert_status(r, Code::InvalidArgument, Some("search"));
    }
    // Quotes in values are values: nothing matches, and nothing was run.
    for filter in [
        r#"display_name = "x' OR '1'='1""#,
        r#"display_name = "'); DELETE FROM programs; --""#,
        r#"display_name:"\" OR 1=1 --""#,
    ] {
        let got = programs(&mut app, filter, "").await.expect(filter);
        assert!(got.is_empty(), "{filter}: {got:?}");
    }
    let got = smes(&mut app, "", "", "' OR 1=1 --").await.expect("search");
    assert!(got.is_empty());
    // Every record is still there.
    assert_eq!(programs(&mut app, "", "").await.expect("list").len(), 5);
    assert_eq!(smes(&mut app, "", "", "").await.expect("list").len(), 4);
    app.stop().await;
}

/// Pages through a filtered, ordered list of 10,000 records while other
/// callers insert records that sort everywhere in it: every record that
/// existed before the first page comes back exactly once.
pub async fn paging_under_concurrent_inserts_returns_each_record_once(mut app: App) {
    const RECORDS: usize = 10_000;
    const WRITERS: usize = 8;
    let create = |mut client: partnership::pb::sme_service_client::SmeServiceClient<
        tonic::transport::Channel,
    >,
                  range: std::ops::Range<usize>,
                  prefix: &'static str| async move {
        for i in range {
            client
                .create_sme(pb::CreateSmeRequest {
                    sme: Some(pb::Sme {
                        display_name: format!("{:05}", (i * 7919) % 100_000),
                        size: pb::EnterpriseSize::Small as i32,
                        // Every other record matches the filter.
                        employee_count: Some((i % 2) as i32 * 10),
                        ..Default::default()
                    }),
                    sme_id: format!("{prefix}{i}").to_lowercase(),
                    request_id: String::new(),
                })
                .await
                .expect("create sme");
        }
    };
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let start = w * RECORDS / WRITERS;
        let end = (w + 1) * RECORDS / WRITERS;
        tasks.push(tokio::spawn(create(app.smes.clone(), start..end, "s")));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let filter = "employee_count > 0";
    let order_by = "display_name desc";
    let expected: HashSet<String> = (0..RECORDS)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("s{i}"))
        .collect();

    // Inserts during the paging: names interleave with the existing ones.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let inserter = {
        let stop = stop.clone();
        let client = app.smes.clone();
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                create(client.clone(), (RECORDS + i)..(RECORDS + i + 1), "n").await;
                i += 1;
            }
            i
        })
    };
    let mut seen: Vec<String> = Vec::new();
    let mut token = String::new();
    let mut first_total = None;
    loop {
        let page = app
            .smes
            .list_smes(pb::ListSmesRequest {
                page_size: 97,
                page_token: token.clone(),
                filter: filter.into(),
                order_by: order_by.into(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        first_total.get_or_insert(page.total_size);
        seen.extend(ids(page.smes.iter().map(|s| &s.name)));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let inserted = inserter.await.expect("inserter");
    assert!(inserted > 0, "no insert ran while paging");
    let old: Vec<&String> = seen.iter().filter(|id| id.starts_with('s')).collect();
    let unique: HashSet<&String> = old.iter().copied().collect();
    assert_eq!(old.len(), unique.len(), "a record came back twice");
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !unique.contains(id))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "records never returned: {missing:?}");
    assert_eq!(unique.len(), expected.len());
    let all_unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(all_unique.len(), seen.len(), "a new record came back twice");
    // Beyond the exact limit total_size is an estimate, never below it.
    let total = first_total.unwrap_or_default();
    assert!(total > 1000, "total_size {total}");
    app.stop().await;
}

fn group(g: &pb::ProgramGroup) -> (Vec<(String, String)>, i64, i64, i64, i64) {
    let mut keys: Vec<(String, String)> = g.keys.clone().into_iter().collect();
    keys.sort();
    (
        keys,
        g.program_count,
        g.sme_count,
        g.total_budget_krw,
        g.total_support_krw,
    )
}

fn keys(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    v.sort();
    v
}

pub async fn insights_summarize_programs_and_list_partners(mut app: App) {
    world(&mut app).await;
    let mut insight = InsightServiceClient::new(app.channel.clone());
    let summarize = |filter: &str, group_by: &[&str]| pb::SummarizeProgramsRequest {
        filter: filter.into(),
        group_by: group_by.iter().map(|s| (*s).to_owned()).collect(),
    };
    // Everything in one group.
    let all = insight
        .summarize_programs(summarize("", &[]))
        .await
        .expect("summarize")
        .into_inner();
    assert_eq!(all.groups.len(), 1);
    assert_eq!(
        group(&all.groups[0]),
        (vec![], 5, 4, 10_000_000_000, 105_000_000)
    );
    // By kind and start year; unset years are "" and come last.
    let by = insight
        .summarize_programs(summarize("", &["kind", "start_year"]))
        .await
        .expect("summarize")
        .into_inner();
    let got: Vec<_> = by.groups.iter().map(group).collect();
    assert_eq!(
        got,
        vec![
            (
                keys(&[("kind", "ESG_SUPPLY_CHAIN"), ("start_year", "2025")]),
                2,
                2,
                2_000_000_000,
                50_000_000
            ),
            (
                keys(&[("kind", "PROFIT_SHARING"), ("start_year", "")]),
                1,
                1,
                0,
                5_000_000
            ),
            (
                keys(&[("kind", "SMART_FACTORY"), ("start_year", "2024")]),
                1,
                1,
                3_000_000_000,
                0
            ),
            (
                keys(&[("kind", "SMART_FACTORY"), ("start_year", "2025")]),
                1,
                1,
                5_000_000_000,
                50_000_000
            ),
        ]
    );
    // By host, within a filter: the host's resource name is the key.
    let by_host = insight
        .summarize_programs(summarize(
            "kind = ESG_SUPPLY_CHAIN OR region = null",
            &["host_company", "region"],
        ))
        .await
        .expect("summarize")
        .into_inner();
    let got: Vec<_> = by_host.groups.iter().map(group).collect();
    assert_eq!(
        got,
        vec![
            (
                keys(&[("host_company", "companies/lg"), ("region", "GYEONGNAM")]),
                1,
                1,
                1_000_000_000,
                30_000_000
            ),
            (
                keys(&[("host_company", "companies/lg"), ("region", "")]),
                1,
                1,
                0,
                5_000_000
            ),
            (
                keys(&[
                    ("host_company", "companies/samsung"),
                    ("region", "GYEONGNAM")
                ]),
                1,
                1,
                1_000_000_000,
                20_000_000
            ),
            (
                keys(&[("host_company", "companies/samsung"), ("region", "")]),
                1,
                1,
                3_000_000_000,
                0
            ),
        ]
    );
    let by_state = insight
        .summarize_programs(summarize("", &["state"]))
        .await
        .expect("summarize")
        .into_inner();
    let states: Vec<(String, i64)> = by_state
        .groups
        .iter()
        .map(|g| (g.keys["state"].clone(), g.program_count))
        .collect();
    assert_eq!(
        states,
        vec![
            ("ACTIVE".into(), 2),
            ("COMPLETED".into(), 1),
            ("PLANNED".into(), 2)
        ]
    );
    for (filter, group_by, field) in [
        ("kind = PURPLE", vec!["kind"], "filter"),
        ("", vec!["budget"], "group_by"),
        ("", vec!["kind", "kind"], "group_by"),
    ] {
        let r = insight
            .summarize_programs(summarize(filter, &group_by))
            .await;
        assert_status(r, Code::InvalidArgument, Some(field));
    }

    // Partners: Samsung's SMEs, largest support first; Daewon's hosts.
    let partners = |name: &str, page_size: i32, page_token: String| pb::ListPartnersRequest {
        name: name.into(),
        page_size,
        page_token,
    };
    let samsung = insight
        .list_partners(partners("companies/samsung", 0, String::new()))
        .await
        .expect("partners")
        .into_inner();
    let got: Vec<(String, i64, i64)> = samsung
        .partners
        .iter()
        .map(|p| (p.partner.clone(), p.program_count, p.total_support_krw))
        .collect();
    assert_eq!(
        got,
        vec![
            ("smes/daewon".into(), 2, 70_000_000),
            ("smes/busan-tech".into(), 1, 0),
        ]
    );
    let daewon = insight
        .list_partners(partners("smes/daewon", 0, String::new()))
        .await
        .expect("partners")
        .into_inner();
    assert_eq!(daewon.partners.len(), 1);
    assert_eq!(daewon.partners[0].partner, "companies/samsung");
    assert_eq!(daewon.partners[0].program_count, 2);
    // Paged one at a time: the same partners in the same order.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = insight
            .list_partners(partners("companies/lg", 1, token.clone()))
            .await
            .expect("partners")
            .into_inner();
        paged.extend(page.partners.iter().map(|p| p.partner.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, vec!["smes/hanil", "smes/seoul-soft"]);
    let r = insight
        .list_partners(partners("companies/nobody", 0, String::new()))
        .await;
    assert_status(r, Code::NotFound, None);
    let r = insight
        .list_partners(partners("programs/sf-2025", 0, String::new()))
        .await;
    assert_status(r, Code::InvalidArgument, Some("name"));
    let r = insight
        .list_partners(partners("companies/lg", 0, "forged".into()))
        .await;
    assert_status(r, Code::InvalidArgument, Some("page_token"));
    app.stop().await;
}
