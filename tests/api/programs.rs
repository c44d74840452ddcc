//! Programs and participations.

use partnership::pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{
    App, assert_status, create_company, create_program, create_sme, date, program,
};

pub fn participation(sme: &str) -> pb::Participation {
    pb::Participation {
        sme: sme.to_owned(),
        support_amount_krw: Some(50_000_000),
        joined_date: date(2026, 3, 10),
        outcomes: vec![pb::Outcome {
            metric: "inventory cost".into(),
            baseline: Some(100.0),
            achieved: Some(72.5),
            unit: "percent".into(),
            description: String::new(),
        }],
        ..Default::default()
    }
}

pub async fn create_participation(
    app: &mut App,
    parent: &str,
    sme: &str,
    id: &str,
) -> Result<pb::Participation, tonic::Status> {
    app.programs
        .create_participation(pb::CreateParticipationRequest {
            parent: parent.to_owned(),
            participation: Some(participation(sme)),
            participation_id: id.to_owned(),
            request_id: String::new(),
        })
        .await
        .map(|r| r.into_inner())
}

pub async fn program_references_and_dates(mut app: App) {
    let host = create_company(&mut app, "hanwha-ocean", "").await;
    let mut p = program("Profit sharing with Daewon", &host.name);
    p.kind = pb::ProgramKind::ProfitSharing as i32;
    p.start_date = date(2026, 1, 1);
    p.end_date = date(2026, 12, 31);
    p.budget_krw = Some(1_000_000_000);
    let created = app
        .programs
        .create_program(pb::CreateProgramRequest {
            program: Some(p.clone()),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    assert_eq!(created.host_company, host.name);
    assert_eq!(created.state, pb::ProgramState::Planned as i32);
    assert_eq!(created.end_date, date(2026, 12, 31));

    let missing_host = app
        .programs
        .create_program(pb::CreateProgramRequest {
            program: Some(program("Orphan", "companies/nobody")),
            ..Default::default()
        })
        .await;
    assert_status(
        missing_host,
        Code::FailedPrecondition,
        Some("program.host_company"),
    );

    let bad: Vec<(pb::Program, &str)> = vec![
        (
            pb::Program {
                start_date: date(2026, 6, 1),
                end_date: date(2026, 5, 31),
                ..p.clone()
            },
            "program.end_date",
        ),
        (
            pb::Program {
                start_date: date(2026, 2, 30),
                ..p.clone()
            },
            "program.start_date",
        ),
        (
            pb::Program {
                budget_krw: Some(-1),
                ..p.clone()
            },
            "program.budget_krw",
        ),
        (
            pb::Program {
                host_company: "smes/x".into(),
                ..p.clone()
            },
            "program.host_company",
        ),
        (
            pb::Program {
                kind: 0,
                ..p.clone()
            },
            "program.kind",
        ),
        (
            pb::Program {
                kind: 99,
                ..p.clone()
            },
            "program.kind",
        ),
    ];
    for (program, field) in bad {
        let r = app
            .programs
            .create_program(pb::CreateProgramRequest {
                program: Some(program),
                ..Default::default()
            })
            .await;
        assert_status(r, Code::InvalidArgument, Some(field));
    }
    let all = app
        .programs
        .list_programs(pb::ListProgramsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.total_size, 1, "bad input stored nothing");
    app.stop().await;
}

pub async fn participation_rules(mut app: App) {
    let host = create_company(&mut app, "samsung", "").await;
    let program = create_program(&mut app, "smart", &host.name).await;
    create_sme(&mut app, "hongseong").await;

    let created = create_participation(&mut app, &program.name, "smes/hongseong", "hs")
        .await
        .expect("create");
    assert_eq!(created.name, "programs/smart/participations/hs");
    assert_eq!(created.outcomes.len(), 1);
    assert_eq!(created.outcomes[0].achieved, Some(72.5));

    let dup = create_participation(&mut app, &program.name, "smes/hongseong", "hs2").await;
    assert_status(dup, Code::AlreadyExists, Some("participation.sme"));
    let no_program = create_participation(&mut app, "programs/none", "smes/hongseong", "").await;
    assert_status(no_program, Code::NotFound, None);
    let no_sme = create_participation(&mut app, &program.name, "smes/nobody", "").await;
    assert_status(no_sme, Code::FailedPrecondition, Some("participation.sme"));

    let bad = app
        .programs
        .create_participation(pb::CreateParticipationRequest {
            parent: program.name.clone(),
            participation: Some(pb::Participation {
                support_amount_krw: Some(-10),
                ..participation("smes/hongseong")
            }),
            ..Default::default()
        })
        .await;
    assert_status(
        bad,
        Code::InvalidArgument,
        Some("participation.support_amount_krw"),
    );
    let bad = app
        .programs
        .create_participation(pb::CreateParticipationRequest {
            parent: program.name.clone(),
            participation: Some(pb::Participation {
                outcomes: vec![pb::Outcome {
                    metric: " ".into(),
                    ..Default::default()
                }],
                ..participation("smes/hongseong")
            }),
            ..Default::default()
        })
        .await;
    assert_status(
        bad,
        Code::InvalidArgument,
        Some("participation.outcomes[0]"),
    );

    let got = app
        .programs
        .get_participation(pb::GetParticipationRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, created);
    let r = app
        .programs
        .get_participation(pb::GetParticipationRequest {
            name: "programs/smart/participations".into(),
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("name"));

    // Delete, then the SME may join again; the old one cannot come back.
    app.programs
        .delete_participation(pb::DeleteParticipationRequest {
            name: created.name.clone(),
            ..Default::default()
        })
        .await
        .expect("delete");
    create_participation(&mut app, &program.name, "smes/hongseong", "hs3")
        .await
        .expect("rejoin");
    let r = app
        .programs
        .undelete_participation(pb::UndeleteParticipationRequest {
            name: created.name.clone(),
            etag: String::new(),
        })
        .await;
    assert_status(r, Code::AlreadyExists, None);
    app.stop().await;
}

pub async fn participations_list_under_parent_and_wildcard(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let a = create_program(&mut app, "a", &host.name).await;
    let b = create_program(&mut app, "b", &host.name).await;
    for i in 0..3 {
        create_sme(&mut app, &format!("s{i}")).await;
        create_participation(&mut app, &a.name, &format!("smes/s{i}"), "")
            .await
            .expect("create");
    }
    create_participation(&mut app, &b.name, "smes/s0", "")
        .await
        .expect("create");

    let under_a = app
        .programs
        .list_participations(pb::ListParticipationsRequest {
            parent: a.name.clone(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(under_a.total_size, 3);
    assert_eq!(under_a.participations.len(), 2);
    let rest = app
        .programs
        .list_participations(pb::ListParticipationsRequest {
            parent: a.name.clone(),
            page_size: 2,
            page_token: under_a.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(rest.participations.len(), 1);
    assert!(rest.next_page_token.is_empty());

    // A token from program a is not valid for program b.
    let r = app
        .programs
        .list_participations(pb::ListParticipationsRequest {
            parent: b.name.clone(),
            page_size: 2,
            page_token: under_a.next_page_token.clone(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("page_token"));

    let every = app
        .programs
        .list_participations(pb::ListParticipationsRequest {
            parent: "programs/-".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(every.total_size, 4);

    let r = app
        .programs
        .list_participations(pb::ListParticipationsRequest {
            parent: "programs/missing".into(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::NotFound, None);
    app.stop().await;
}

pub async fn delete_program_with_participations_needs_force(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let p = create_program(&mut app, "p", &host.name).await;
    create_sme(&mut app, "s").await;
    let part = create_participation(&mut app, &p.name, "smes/s", "x")
        .await
        .expect("create");
    let r = app
        .programs
        .delete_program(pb::DeleteProgramRequest {
            name: p.name.clone(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::FailedPrecondition, Some("force"));
    let deleted = app
        .programs
        .delete_program(pb::DeleteProgramRequest {
            name: p.name.clone(),
            force: true,
            etag: p.etag.clone(),
        })
        .await
        .expect("forced delete")
        .into_inner();
    assert!(deleted.delete_time.is_some());
    let part = app
        .programs
        .get_participation(pb::GetParticipationRequest { name: part.name })
        .await
        .expect("get")
        .into_inner();
    assert!(part.delete_time.is_some());
    // A deleted program cannot take participations.
    let r = create_participation(&mut app, &p.name, "smes/s", "y").await;
    assert_status(r, Code::FailedPrecondition, Some("parent"));
    // Undelete needs a live host.
    app.programs
        .undelete_program(pb::UndeleteProgramRequest {
            name: p.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("undelete");
    app.stop().await;
}

pub async fn update_program_and_participation(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let other = create_company(&mut app, "other", "").await;
    let p = create_program(&mut app, "p", &host.name).await;
    let updated = app
        .programs
        .update_program(pb::UpdateProgramRequest {
            program: Some(pb::Program {
                name: p.name.clone(),
                state: pb::ProgramState::Active as i32,
                host_company: other.name.clone(),
                start_date: date(2026, 3, 1),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.state, pb::ProgramState::Active as i32);
    assert_eq!(updated.host_company, other.name);
    assert_eq!(updated.display_name, p.display_name);

    let r = app
        .programs
        .update_program(pb::UpdateProgramRequest {
            program: Some(pb::Program {
                name: p.name.clone(),
                end_date: date(2026, 2, 1),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("program.end_date"));
    let r = app
        .programs
        .update_program(pb::UpdateProgramRequest {
            program: Some(pb::Program {
                name: p.name.clone(),
                host_company: "companies/nobody".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    assert_status(r, Code::FailedPrecondition, Some("program.host_company"));

    create_sme(&mut app, "s").await;
    let part = create_participation(&mut app, &p.name, "smes/s", "x")
        .await
        .expect("create");
    let updated = app
        .programs
        .update_participation(pb::UpdateParticipationRequest {
            participation: Some(pb::Participation {
                name: part.name.clone(),
                outcomes: vec![],
                support_amount_krw: Some(1),
                etag: part.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["outcomes".into(), "support_amount_krw".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert!(updated.outcomes.is_empty());
    assert_eq!(updated.support_amount_krw, Some(1));
    assert_eq!(updated.joined_date, part.joined_date);
    let r = app
        .programs
        .update_participation(pb::UpdateParticipationRequest {
            participation: Some(pb::Participation {
                name: part.name.clone(),
                support_amount_krw: Some(2),
                etag: part.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    assert_status(r, Code::Aborted, Some("etag"));
    app.stop().await;
}

pub async fn delete_sme_with_participations_needs_force(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let p = create_program(&mut app, "p", &host.name).await;
    let s = create_sme(&mut app, "s").await;
    let part = create_participation(&mut app, &p.name, "smes/s", "x")
        .await
        .expect("create");
    let r = app
        .smes
        .delete_sme(pb::DeleteSmeRequest {
            name: s.name.clone(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::FailedPrecondition, Some("force"));
    app.smes
        .delete_sme(pb::DeleteSmeRequest {
            name: s.name.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .expect("forced delete");
    let part = app
        .programs
        .get_participation(pb::GetParticipationRequest { name: part.name })
        .await
        .expect("get")
        .into_inner();
    assert!(part.delete_time.is_some());
    // A participation cannot come back while its SME is deleted.
    let r = app
        .programs
        .undelete_participation(pb::UndeleteParticipationRequest {
            name: part.name.clone(),
            etag: String::new(),
        })
        .await;
    assert_status(r, Code::FailedPrecondition, Some("name"));
    app.stop().await;
}

/// An outcome's figures are optional: one not measured reads back as
/// absent, a measured 0 as 0.
pub async fn outcome_figures_can_be_unmeasured(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let program = crate::support::create_program(&mut app, "p1", &host.name).await;
    let sme = crate::support::create_sme(&mut app, "s1").await;
    let created = app
        .programs
        .create_participation(pb::CreateParticipationRequest {
            parent: program.name.clone(),
            participation: Some(pb::Participation {
                sme: sme.name.clone(),
                outcomes: vec![
                    pb::Outcome {
                        metric: "inventory cost".into(),
                        description: "reduced".into(),
                        ..Default::default()
                    },
                    pb::Outcome {
                        metric: "defects".into(),
                        baseline: Some(0.0),
                        achieved: Some(0.0),
                        unit: "per 1,000".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    let got = app
        .programs
        .get_participation(pb::GetParticipationRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.outcomes[0].baseline, None);
    assert_eq!(got.outcomes[0].achieved, None);
    assert_eq!(got.outcomes[1].baseline, Some(0.0));
    assert_eq!(got.outcomes[1].achieved, Some(0.0));
    let other = crate::support::create_sme(&mut app, "s2").await;
    let r = app
        .programs
        .create_participation(pb::CreateParticipationRequest {
            parent: program.name.clone(),
            participation: Some(pb::Participation {
                sme: other.name,
                outcomes: vec![pb::Outcome {
                    metric: "yield".into(),
                    achieved: Some(f64::NAN),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    crate::support::assert_status(r, Code::InvalidArgument, Some("participation.outcomes[0]"));
    app.stop().await;
}

/// A program may name co-hosting companies and co-funders: co-hosts are
/// validated like the host (live companies, not the host, no repeats),
/// funders like any name and amount; both round-trip and can be updated.
pub async fn co_hosts_and_funders(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let partner = create_company(&mut app, "partner", "").await;
    let gone = create_company(&mut app, "gone", "").await;
    app.companies
        .delete_company(pb::DeleteCompanyRequest {
            name: gone.name.clone(),
            ..Default::default()
        })
        .await
        .expect("delete");
    let with = |co_hosts: Vec<String>, funders: Vec<pb::Funder>| pb::CreateProgramRequest {
        program: Some(pb::Program {
            co_hosts,
            funders,
            ..crate::support::program("Win-win smart factory", &host.name)
        }),
        ..Default::default()
    };
    let ministry = pb::Funder {
        display_name: "Ministry of SMEs and Startups".into(),
        contribution_krw: Some(1_000_000_000),
    };
    let created = app
        .programs
        .create_program(with(vec![partner.name.clone()], vec![ministry.clone()]))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(created.co_hosts, vec![partner.name.clone()]);
    assert_eq!(created.funders, vec![ministry.clone()]);
    let got = app
        .programs
        .get_program(pb::GetProgramRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, created);

    let cases = [
        (
            vec!["companies/missing".to_owned()],
            Code::FailedPrecondition,
            "program.co_hosts",
            "CO_HOST_NOT_FOUND",
        ),
        (
            vec![gone.name.clone()],
            Code::FailedPrecondition,
            "program.co_hosts",
            "CO_HOST_DELETED",
        ),
        (
            vec![host.name.clone()],
            Code::InvalidArgument,
            "program.co_hosts",
            "INVALID_ARGUMENT",
        ),
        (
            vec![partner.name.clone(), partner.name.clone()],
            Code::InvalidArgument,
            "program.co_hosts",
            "INVALID_ARGUMENT",
        ),
        (
            vec!["smes/not-a-company".to_owned()],
            Code::InvalidArgument,
            "program.co_hosts",
            "INVALID_ARGUMENT",
        ),
    ];
    for (co_hosts, code, field, reason) in cases {
        let r = app
            .programs
            .create_program(with(co_hosts.clone(), vec![]))
            .await;
        let reason_of = r.as_ref().err().and_then(|s| {
            tonic_types::StatusExt::get_error_details(s)
                .error_info()
                .map(|i| i.reason.clone())
        });
        assert_eq!(reason_of.as_deref(), Some(reason), "{co_hosts:?}");
        crate::support::assert_status(r, code, Some(field));
    }
    for (funder, field) in [
        (
            pb::Funder {
                display_name: " ".into(),
                contribution_krw: None,
            },
            "program.funders[0].display_name",
        ),
        (
            pb::Funder {
                display_name: "Fund".into(),
                contribution_krw: Some(-1),
            },
            "program.funders[0].contribution_krw",
        ),
    ] {
        let r = app
            .programs
            .create_program(with(vec![], vec![funder]))
            .await;
        crate::support::assert_status(r, Code::InvalidArgument, Some(field));
    }

    // An update replaces the lists named in the mask.
    let updated = app
        .programs
        .update_program(pb::UpdateProgramRequest {
            program: Some(pb::Program {
                name: created.name.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["co_hosts".into(), "funders".into()],
            }),
        })
        .await
        .expect("clear")
        .into_inner();
    assert!(updated.co_hosts.is_empty() && updated.funders.is_empty());
    app.stop().await;
}
