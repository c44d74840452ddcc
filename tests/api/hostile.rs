//! Input a caller from another system might send on purpose or by mistake:
//! forged page tokens, control characters, unknown methods, oversized
//! messages. Each gets a clean answer and changes nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use partnership::pb;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use tonic::Code;

use crate::support::{App, assert_status, business_number, create_company, create_program};
use crate::transport::scrape;

/// A valid page token of `ListCompanies`, decoded: its JSON body.
async fn token_body(app: &mut App) -> serde_json::Value {
    let page = app
        .companies
        .list_companies(pb::ListCompaniesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(!page.next_page_token.is_empty());
    let json = URL_SAFE_NO_PAD
        .decode(&page.next_page_token)
        .expect("our tokens are base64url");
    serde_json::from_slice(&json).expect("our tokens are JSON")
}

fn encode(body: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(body).expect("JSON"))
}

async fn list_with(
    app: &mut App,
    token: String,
) -> Result<pb::ListCompaniesResponse, tonic::Status> {
    app.companies
        .list_companies(pb::ListCompaniesRequest {
            page_size: 1,
            page_token: token,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Issue: a token whose cursor time is out of range gave INTERNAL. Every
/// field of a decoded cursor is checked; whatever does not decode into a
/// valid cursor of this query is INVALID_ARGUMENT.
pub async fn forged_page_tokens_are_invalid_argument(mut app: App) {
    for i in 0..3 {
        create_company(&mut app, &format!("c{i}"), &business_number(i)).await;
    }
    let valid = token_body(&mut app).await;
    let forged = [
        ("o", serde_json::json!([i64::MAX])),
        ("o", serde_json::json!([i64::MIN])),
        ("o", serde_json::json!([-1])),
        ("o", serde_json::json!([253_402_300_800_000_000_i64])), // year 10000
        ("o", serde_json::json!(["yesterday"])),
        ("o", serde_json::json!([1.5])),
        ("o", serde_json::json!([null])),
        ("o", serde_json::json!([])),
        ("o", serde_json::json!([1, 2])),
        // A version 2 token carries no version 1 time.
        ("t", serde_json::json!(1)),
        ("n", serde_json::json!(-1)),
        ("n", serde_json::json!("many")),
        ("k", serde_json::json!([])),
        ("k", serde_json::json!(["c0", "c1"])),
        ("k", serde_json::json!(["NOT AN ID"])),
        ("k", serde_json::json!(["c0\u{0}"])),
        ("k", serde_json::json!([7])),
        ("k", serde_json::json!("c0")),
        ("v", serde_json::json!(1)),
        ("v", serde_json::json!(3)),
        ("q", serde_json::json!("0000000000000000")),
    ];
    for (field, value) in forged {
        let mut body = valid.clone();
        body[field] = value.clone();
        let r = list_with(&mut app, encode(&body)).await;
        assert_status(r, Code::InvalidArgument, Some("page_token"));
    }
    // Random strings, and valid tokens with random bytes changed, from a
    // seeded generator: never anything but INVALID_ARGUMENT (or, for a
    // mutation that still decodes into a valid cursor, a page).
    let valid_token = encode(&valid);
    let mut runner = TestRunner::deterministic();
    let random = proptest::string::string_regex("[A-Za-z0-9_=+/-]{1,120}|.{1,40}").expect("regex");
    let mutated =
        proptest::collection::vec((0..valid_token.len(), 0u8..128), 1..4).prop_map(move |edits| {
            let mut bytes = valid_token.clone().into_bytes();
            for (at, b) in edits {
                bytes[at] = b;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        });
    let cursors = (
        proptest::num::i64::ANY,
        proptest::collection::vec(".{0,70}", 0..3),
    )
        .prop_map(move |(t, k)| {
            let mut body = valid.clone();
            body["o"] = serde_json::json!([t]);
            body["k"] = serde_json::json!(k);
            encode(&body)
        });
    let strategy = proptest::prop_oneof![random, mutated, cursors];
    for _ in 0..200 {
        let token = strategy.new_tree(&mut runner).expect("generate").current();
        match list_with(&mut app, token.clone()).await {
            Ok(_) => {}
            Err(s) => assert_eq!(s.code(), Code::InvalidArgument, "token {token:?}: {s:?}"),
        }
    }
    app.stop().await;
}

/// A participations token carries two keys; one key is not a cursor of it.
pub async fn forged_participation_tokens_are_invalid_argument(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    create_program(&mut app, "p1", &host.name).await;
    for i in 0..2 {
        let sme = crate::support::create_sme(&mut app, &format!("s{i}")).await;
        app.programs
            .create_participation(pb::CreateParticipationRequest {
                parent: "programs/p1".into(),
                participation: Some(pb::Participation {
                    sme: sme.name,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .expect("participation");
    }
    let list = |token: String| pb::ListParticipationsRequest {
        parent: "programs/-".into(),
        page_size: 1,
        page_token: token,
        ..Default::default()
    };
    let page = app
        .programs
        .list_participations(list(String::new()))
        .await
        .expect("list")
        .into_inner();
    let json = URL_SAFE_NO_PAD
        .decode(&page.next_page_token)
        .expect("base64url");
    let mut body: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
    assert_eq!(body["k"].as_array().map(Vec::len), Some(2));
    body["k"] = serde_json::json!(["p1"]);
    let r = app.programs.list_participations(list(encode(&body))).await;
    assert_status(r, Code::InvalidArgument, Some("page_token"));
    app.stop().await;
}

/// Issue: NUL in a program's description gave INTERNAL on PostgreSQL. One
/// text policy holds for every text field on every backend: NUL and
/// control characters are refused (descriptions may hold tabs and line
/// breaks), and nothing is written.
pub async fn control_characters_are_refused_in_every_text_field(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let bad = ["a\u{0}b", "a\u{7}b", "\u{0}"];
    for text in bad {
        let r = app
            .companies
            .create_company(pb::CreateCompanyRequest {
                company: Some(crate::support::company(text, "")),
                ..Default::default()
            })
            .await;
        assert_status(r, Code::InvalidArgument, Some("company.display_name"));
        let r = app
            .smes
            .create_sme(pb::CreateSmeRequest {
                sme: Some(crate::support::sme(text)),
                ..Default::default()
            })
            .await;
        assert_status(r, Code::InvalidArgument, Some("sme.display_name"));
        let r = app
            .programs
            .create_program(pb::CreateProgramRequest {
                program: Some(crate::support::program(text, &host.name)),
                ..Default::default()
            })
            .await;
        assert_status(r, Code::InvalidArgument, Some("program.display_name"));
        let r = app
            .programs
            .create_program(pb::CreateProgramRequest {
                program: Some(pb::Program {
                    description: format!("first line\n{text}"),
                    ..crate::support::program("Described", &host.name)
                }),
                ..Default::default()
            })
            .await;
        assert_status(r, Code::InvalidArgument, Some("program.description"));
    }
    let program = create_program(&mut app, "p1", &host.name).await;
    let sme = crate::support::create_sme(&mut app, "s1").await;
    for outcome in [
        pb::Outcome {
            metric: "defects\u{0}".into(),
            ..Default::default()
        },
        pb::Outcome {
            metric: "defects".into(),
            unit: "%\u{0}".into(),
            ..Default::default()
        },
        pb::Outcome {
            metric: "defects".into(),
            description: "halved\u{0}".into(),
            ..Default::default()
        },
    ] {
        let r = app
            .programs
            .create_participation(pb::CreateParticipationRequest {
                parent: program.name.clone(),
                participation: Some(pb::Participation {
                    sme: sme.name.clone(),
                    outcomes: vec![outcome],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await;
        assert_status(r, Code::InvalidArgument, Some("participation.outcomes[0]"));
    }
    // An update is held to the same rule and leaves the record as it was.
    let r = app
        .programs
        .update_program(pb::UpdateProgramRequest {
            program: Some(pb::Program {
                name: program.name.clone(),
                description: "x\u{0}".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("program.description"));
    let now = app
        .programs
        .get_program(pb::GetProgramRequest {
            name: program.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(now, program);
    // Nothing was created by the refused calls.
    assert_eq!(crate::support::count_companies(&mut app).await, 1);
    let programs = app
        .programs
        .list_programs(pb::ListProgramsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(programs.total_size, 1);
    // Tabs and line breaks are allowed in descriptions, and round-trip.
    let text = "Line one\n\tLine two\r\n";
    let created = app
        .programs
        .create_program(pb::CreateProgramRequest {
            program: Some(pb::Program {
                description: text.into(),
                ..crate::support::program("Multi-line", &host.name)
            }),
            ..Default::default()
        })
        .await
        .expect("multi-line description")
        .into_inner();
    assert_eq!(created.description, text.trim());
    app.stop().await;
}

/// Issue: calls to distinct unknown paths each added series to `/metrics`.
/// Labels come from the methods the server has; everything else is one
/// `unknown` bucket.
pub async fn unknown_methods_share_one_metrics_bucket(app: App) {
    use std::str::FromStr;
    let call = |i: usize| {
        let channel = app.channel.clone();
        async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready().await.expect("ready");
            let path = http::uri::PathAndQuery::from_str(&format!("/evil.Service{i}/Method{i}"))
                .expect("path");
            let codec = tonic_prost::ProstCodec::<(), ()>::default();
            grpc.unary(tonic::Request::new(()), path, codec).await
        }
    };
    let r = call(0).await;
    assert_eq!(r.map(|_| ()).unwrap_err().code(), Code::Unimplemented);
    let before = scrape(&app).await;
    for i in 1..300 {
        let r = call(i).await;
        assert_eq!(r.map(|_| ()).unwrap_err().code(), Code::Unimplemented);
    }
    let after = scrape(&app).await;
    assert_eq!(after.len(), before.len(), "series grew with unknown paths");
    let unknown = [
        ("grpc_service", "unknown"),
        ("grpc_method", "unknown"),
        ("grpc_code", "Unimplemented"),
    ];
    assert_eq!(
        after.find("grpc_server_handled_total", &unknown),
        Some(300.0)
    );
    app.stop().await;
}

/// Streams are counted with the status of their trailers; a stream the
/// caller abandons is counted as CANCELLED, and in-flight goes back to 0.
pub async fn streams_are_counted_from_trailers_and_when_cancelled(app: App) {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

    // A bidirectional stream that ends normally.
    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    while let Some(r) = responses.message().await.expect("reflection response") {
        assert!(r.message_response.is_some());
    }
    // A server stream the caller drops after the first message.
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    watch.message().await.expect("first status");
    drop(watch);

    let reflection_ok = [
        ("grpc_service", "grpc.reflection.v1.ServerReflection"),
        ("grpc_method", "ServerReflectionInfo"),
        ("grpc_code", "OK"),
    ];
    let watch_labels = [
        ("grpc_service", "grpc.health.v1.Health"),
        ("grpc_method", "Watch"),
    ];
    let mut cancelled = watch_labels.to_vec();
    cancelled.push(("grpc_code", "Cancelled"));
    let mut seen = None;
    for _ in 0..50 {
        let samples = scrape(&app).await;
        seen = Some((
            samples.find("grpc_server_handled_total", &reflection_ok),
            samples.find("grpc_server_handled_total", &cancelled),
            samples.find("grpc_server_in_flight", &watch_labels),
        ));
        if seen == Some((Some(1.0), Some(1.0), Some(0.0))) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, Some((Some(1.0), Some(1.0), Some(0.0))));
    app.stop().await;
}

/// Issue: a request over the receive limit got OUT_OF_RANGE. It is
/// RESOURCE_EXHAUSTED, nothing is written, and the server goes on serving.
pub async fn requests_over_the_message_limit_are_resource_exhausted(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let huge = "가".repeat(2 * 1024 * 1024); // 6 MiB of UTF-8, over the 4 MiB default
    let r = app
        .programs
        .create_program(pb::CreateProgramRequest {
            program: Some(pb::Program {
                description: huge,
                ..crate::support::program("Huge", &host.name)
            }),
            ..Default::default()
        })
        .await;
    let status = r.expect_err("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let page = app
        .programs
        .list_programs(pb::ListProgramsRequest::default())
        .await
        .expect("still serving")
        .into_inner();
    assert_eq!(page.total_size, 0);
    create_program(&mut app, "after", &host.name).await;
    app.stop().await;
}

/// How many seeded inputs `hostile_input_is_served_or_refused_naming_the_field`
/// sends: `PARTNERSHIP_FUZZ_CASES`, 60 by default (`.ci/run` raises it).
/// Every one is sent, however long that takes, so a run checks the same
/// inputs on any machine.
fn fuzz_cases() -> usize {
    std::env::var("PARTNERSHIP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// Checks one answer to hostile input: OK or a refusal about the request
/// (an INVALID_ARGUMENT names the field in `BadRequest`); never INTERNAL,
/// UNKNOWN or any failure of the server.
fn clean<T>(rpc: &str, input: &str, result: Result<T, tonic::Status>) {
    let Err(status) = result else { return };
    match status.code() {
        Code::InvalidArgument => {
            let details = tonic_types::StatusExt::get_error_details(&status);
            let named = details
                .bad_request()
                .is_some_and(|b| !b.field_violations.is_empty());
            assert!(
                named,
                "{rpc} {input:?}: INVALID_ARGUMENT without BadRequest: {status:?}"
            );
        }
        Code::NotFound | Code::AlreadyExists | Code::FailedPrecondition => {}
        other => panic!("{rpc} {input:?}: {other:?}: {status:?}"),
    }
}

/// Property test over gRPC: random and grammar-shaped text in every field a
/// parser reads (resource names, business and corporate numbers, KSIC
/// codes, dates, field masks, page tokens, filters, order_by, search,
/// group_by) is served (OK, or NOT_FOUND and the like for a well-formed
/// name) or refused with INVALID_ARGUMENT naming the field, never INTERNAL,
/// UNKNOWN or another server fault, on every backend. Seeded, with a fixed
/// number of cases, so a failure repeats.
pub async fn hostile_input_is_served_or_refused_naming_the_field(mut app: App) {
    use partnership::pb::insight_service_client::InsightServiceClient;
    let host = create_company(&mut app, "host", &crate::support::business_number(0)).await;
    create_program(&mut app, "p1", &host.name).await;
    let mut insight = InsightServiceClient::new(app.channel.clone());
    let cases = fuzz_cases();
    let inputs = fuzz_inputs(cases);
    let mut done = 0;
    for (s, n) in inputs {
        let get = pb::GetCompanyRequest { name: s.clone() };
        clean("GetCompany", &s, app.companies.get_company(get).await);
        let get = pb::GetParticipationRequest { name: s.clone() };
        clean(
            "GetParticipation",
            &s,
            app.programs.get_participation(get).await,
        );
        let get = pb::ListPartnersRequest {
            name: s.clone(),
            page_token: s.clone(),
            ..Default::default()
        };
        clean("ListPartners", &s, insight.list_partners(get).await);
        let company = pb::Company {
            display_name: format!("Fuzz {done}"),
            business_number: s.clone(),
            corporate_number: s.clone(),
            ksic_code: s.clone(),
            ..Default::default()
        };
        let create = pb::CreateCompanyRequest {
            company: Some(company),
            ..Default::default()
        };
        clean(
            "CreateCompany",
            &s,
            app.companies.create_company(create).await,
        );
        let mut program = crate::support::program(&format!("Fuzz {done}"), &host.name);
        program.start_date = Some(partnership::pb::google::r#type::Date {
            year: n,
            month: n.wrapping_shr(8),
            day: n.wrapping_shr(16),
        });
        let create = pb::CreateProgramRequest {
            program: Some(program),
            ..Default::default()
        };
        clean(
            "CreateProgram",
            &s,
            app.programs.create_program(create).await,
        );
        let update = pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: host.name.clone(),
                display_name: "Host".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![s.clone()],
            }),
        };
        clean(
            "UpdateCompany",
            &s,
            app.companies.update_company(update).await,
        );
        let list = pb::ListCompaniesRequest {
            filter: s.clone(),
            ..Default::default()
        };
        clean(
            "ListCompanies.filter",
            &s,
            app.companies.list_companies(list).await,
        );
        let list = pb::ListCompaniesRequest {
            order_by: s.clone(),
            ..Default::default()
        };
        clean(
            "ListCompanies.order_by",
            &s,
            app.companies.list_companies(list).await,
        );
        let list = pb::ListCompaniesRequest {
            page_token: s.clone(),
            page_size: n,
            ..Default::default()
        };
        clean(
            "ListCompanies.page_token",
            &s,
            app.companies.list_companies(list).await,
        );
        let list = pb::ListSmesRequest {
            filter: s.clone(),
            search: s.clone(),
            ..Default::default()
        };
        clean("ListSmes", &s, app.smes.list_smes(list).await);
        let list = pb::ListProgramsRequest {
            filter: s.clone(),
            order_by: s.clone(),
            ..Default::default()
        };
        clean("ListPrograms", &s, app.programs.list_programs(list).await);
        let list = pb::ListParticipationsRequest {
            parent: "programs/-".into(),
            filter: s.clone(),
            ..Default::default()
        };
        clean(
            "ListParticipations",
            &s,
            app.programs.list_participations(list).await,
        );
        let summarize = pb::SummarizeProgramsRequest {
            filter: s.clone(),
            group_by: vec![s.clone()],
        };
        clean(
            "SummarizePrograms",
            &s,
            insight.summarize_programs(summarize).await,
        );
        done += 1;
    }
    assert_eq!(done, cases, "every input is sent");
    app.stop().await;
}

/// `cases` inputs from a seeded generator: any text, or pieces of the
/// grammars (names, filters, orders, dates, an injection attempt) mixed
/// up, each with a random integer for sizes and dates.
fn fuzz_inputs(cases: usize) -> Vec<(String, i32)> {
    let piece = proptest::prop_oneof![
        proptest::strategy::Just("companies/".to_owned()),
        proptest::strategy::Just("programs/p1/participations/".to_owned()),
        proptest::strategy::Just(" AND ".to_owned()),
        proptest::strategy::Just(" OR NOT ".to_owned()),
        proptest::strategy::Just("(\"삼성*\")".to_owned()),
        proptest::strategy::Just("programs.kind = ".to_owned()),
        proptest::strategy::Just("display_name desc, ".to_owned()),
        proptest::strategy::Just("start_date >= 2025-13-40".to_owned()),
        proptest::strategy::Just("update_time < \"2025-01-01T00:00:00Z\"".to_owned()),
        proptest::strategy::Just("'; DROP TABLE companies; --".to_owned()),
        "[0-9-]{1,14}",
        "[a-z_.:=<>!*]{1,12}",
        "\\PC{0,6}",
    ];
    let strategy = (
        proptest::prop_oneof![
            ".{0,60}",
            proptest::collection::vec(piece, 0..10).prop_map(|v| v.concat()),
        ],
        proptest::num::i32::ANY,
    );
    let mut runner = TestRunner::deterministic();
    (0..cases)
        .map(|_| strategy.new_tree(&mut runner).expect("generate").current())
        .collect()
}
