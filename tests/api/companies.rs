//! Companies and SMEs: the standard methods and their rules (API.md).

use partnership::pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{
    App, assert_status, business_number, company, count_companies, create_company, create_program,
    sme,
};

fn create_req(c: pb::Company, id: &str, request_id: &str) -> pb::CreateCompanyRequest {
    pb::CreateCompanyRequest {
        company: Some(c),
        company_id: id.to_owned(),
        request_id: request_id.to_owned(),
    }
}

pub async fn create_returns_resource_with_server_fields(mut app: App) {
    let mut c = company("  Samsung Electronics  ", "1248100998");
    c.ksic_code = "26111".into();
    c.corporate_number = "1301110006246".into();
    c.region = pb::Region::Gyeonggi as i32;
    c.employee_count = Some(120_000);
    c.annual_revenue_krw = Some(300_000_000_000_000);
    c.create_time = Some(prost_types::Timestamp {
        seconds: 1,
        nanos: 0,
    });
    let created = app
        .companies
        .create_company(create_req(c, "", ""))
        .await
        .expect("create")
        .into_inner();
    assert!(created.name.starts_with("companies/c"), "{}", created.name);
    assert_eq!(created.display_name, "Samsung Electronics");
    assert_eq!(created.business_number, "124-81-00998");
    assert_eq!(created.corporate_number, "130111-0006246");
    assert_eq!(created.ksic_code, "C26111");
    assert_eq!(created.ksic_revision, 11);
    assert_eq!(created.annual_revenue_krw, Some(300_000_000_000_000));
    assert!(!created.etag.is_empty());
    let create_time = created.create_time.expect("create_time");
    assert_ne!(create_time.seconds, 1, "output-only create_time is ignored");
    assert_eq!(created.update_time, Some(create_time));
    assert!(created.delete_time.is_none());

    let got = app
        .companies
        .get_company(pb::GetCompanyRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, created);
    app.stop().await;
}

pub async fn create_with_taken_id_is_already_exists(mut app: App) {
    create_company(&mut app, "acme", "").await;
    let again = app
        .companies
        .create_company(create_req(company("Other", ""), "acme", ""))
        .await;
    assert_status(again, Code::AlreadyExists, Some("company_id"));
    assert_eq!(count_companies(&mut app).await, 1);
    app.stop().await;
}

pub async fn duplicate_live_business_number_is_already_exists(mut app: App) {
    let first = create_company(&mut app, "first", "124-81-00998").await;
    let dup = app
        .companies
        .create_company(create_req(company("Dup", "1248100998"), "dup", ""))
        .await;
    assert_status(dup, Code::AlreadyExists, Some("company.business_number"));

    // After the first is deleted the number is free again…
    app.companies
        .delete_company(pb::DeleteCompanyRequest {
            name: first.name.clone(),
            ..Default::default()
        })
        .await
        .expect("delete");
    app.companies
        .create_company(create_req(company("Second", "1248100998"), "second", ""))
        .await
        .expect("number of a deleted company can be reused");
    // …and the first cannot come back while the second holds it.
    let undelete = app
        .companies
        .undelete_company(pb::UndeleteCompanyRequest {
            name: first.name.clone(),
            etag: String::new(),
        })
        .await;
    assert_status(undelete, Code::AlreadyExists, None);
    app.stop().await;
}

pub async fn request_id_returns_first_result_and_creates_nothing(mut app: App) {
    let rid = "6f1c1f9e-3c57-4b0c-9f7e-2a9f0f1d2c3b";
    let first = app
        .companies
        .create_company(create_req(company("Idem", ""), "", rid))
        .await
        .expect("create")
        .into_inner();
    // Change it, then retry the create: the first result comes back.
    app.companies
        .update_company(pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: first.name.clone(),
                display_name: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("update");
    let again = app
        .companies
        .create_company(create_req(company("Idem", ""), "", rid))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(count_companies(&mut app).await, 1);

    let reused = app
        .companies
        .create_company(create_req(company("Different", ""), "", rid))
        .await;
    assert_status(reused, Code::InvalidArgument, Some("request_id"));
    let not_uuid = app
        .companies
        .create_company(create_req(company("X", ""), "", "not-a-uuid"))
        .await;
    assert_status(not_uuid, Code::InvalidArgument, Some("request_id"));
    assert_eq!(count_companies(&mut app).await, 1);
    app.stop().await;
}

pub async fn get_rules(mut app: App) {
    for bad in [
        "acme",
        "companies/",
        "companies/Acme",
        "smes/acme",
        "companies/a/b",
    ] {
        let r = app
            .companies
            .get_company(pb::GetCompanyRequest { name: bad.into() })
            .await;
        assert_status(r, Code::InvalidArgument, Some("name"));
    }
    let r = app
        .companies
        .get_company(pb::GetCompanyRequest {
            name: "companies/nobody".into(),
        })
        .await;
    assert_status(r, Code::NotFound, None);

    let c = create_company(&mut app, "gone", "").await;
    app.companies
        .delete_company(pb::DeleteCompanyRequest {
            name: c.name.clone(),
            ..Default::default()
        })
        .await
        .expect("delete");
    let got = app
        .companies
        .get_company(pb::GetCompanyRequest { name: c.name })
        .await
        .expect("soft-deleted is still returned")
        .into_inner();
    assert!(got.delete_time.is_some());
    app.stop().await;
}

pub async fn list_pages_with_keyset_tokens(mut app: App) {
    let mut names = Vec::new();
    for i in 0..7 {
        names.push(create_company(&mut app, &format!("c{i}"), "").await.name);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .companies
            .list_companies(pb::ListCompaniesRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        assert_eq!(page.total_size, 7);
        assert!(page.companies.len() <= 3);
        seen.extend(page.companies.into_iter().map(|c| c.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, names, "every company once, oldest first");

    // Default and maximum page sizes.
    let all = app
        .companies
        .list_companies(pb::ListCompaniesRequest {
            page_size: 5000,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.companies.len(), 7);
    assert!(all.next_page_token.is_empty());

    // Deleted ones only with show_deleted.
    app.companies
        .delete_company(pb::DeleteCompanyRequest {
            name: names[0].clone(),
            ..Default::default()
        })
        .await
        .expect("delete");
    let live = app
        .companies
        .list_companies(pb::ListCompaniesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(live.total_size, 6);
    let with_deleted = app
        .companies
        .list_companies(pb::ListCompaniesRequest {
            show_deleted: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(with_deleted.total_size, 7);
    app.stop().await;
}

pub async fn list_rejects_bad_paging_and_bad_queries(mut app: App) {
    for i in 0..3 {
        create_company(&mut app, &format!("c{i}"), "").await;
    }
    let r = app
        .companies
        .list_companies(pb::ListCompaniesRequest {
            page_size: -1,
            ..Default::default()
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("page_size"));

    let first = app
        .companies
        .list_companies(pb::ListCompaniesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    // The token belongs to show_deleted = false.
    let r = app
        .companies
        .list_companies(pb::ListCompaniesRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            show_deleted: true,
            ..Default::default()
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("page_token"));
    // And to companies, not SMEs.
    let r = app
        .smes
        .list_smes(pb::ListSmesRequest {
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("page_token"));
    let r = app
        .companies
        .list_companies(pb::ListCompaniesRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("page_token"));
    for (filter, order_by, field) in [
        ("size = HUGE", "", "filter"),
        ("", "display_name sideways", "order_by"),
    ] {
        let r = app
            .companies
            .list_companies(pb::ListCompaniesRequest {
                filter: filter.into(),
                order_by: order_by.into(),
                ..Default::default()
            })
            .await;
        assert_status(r, Code::InvalidArgument, Some(field));
    }
    app.stop().await;
}

pub async fn update_mask_rules(mut app: App) {
    let mut c = company("Hyundai Motor", "");
    c.region = pb::Region::Seoul as i32;
    c.employee_count = Some(70_000);
    let created = app
        .companies
        .create_company(create_req(c, "hyundai", ""))
        .await
        .expect("create")
        .into_inner();

    // No mask: the fields set in the request.
    let updated = app
        .companies
        .update_company(pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: created.name.clone(),
                display_name: "Hyundai Motor Company".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.display_name, "Hyundai Motor Company");
    assert_eq!(
        updated.region,
        pb::Region::Seoul as i32,
        "unset fields kept"
    );
    assert_eq!(updated.employee_count, Some(70_000));
    assert_ne!(updated.etag, created.etag);
    assert_eq!(updated.create_time, created.create_time);

    // An explicit mask changes only its paths; output-only paths are ignored.
    let updated = app
        .companies
        .update_company(pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: created.name.clone(),
                display_name: "ignored".into(),
                region: pb::Region::Ulsan as i32,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["region".into(), "create_time".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.region, pb::Region::Ulsan as i32);
    assert_eq!(updated.display_name, "Hyundai Motor Company");

    // `*` replaces every mutable field, clearing the unset ones.
    let updated = app
        .companies
        .update_company(pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: created.name.clone(),
                ..company("Hyundai", "")
            }),
            update_mask: Some(FieldMask {
                paths: vec!["*".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.display_name, "Hyundai");
    assert_eq!(updated.region, 0);
    assert_eq!(updated.employee_count, None);

    let r = app
        .companies
        .update_company(pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: created.name.clone(),
                display_name: "x".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["no_such_field".into()],
            }),
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("update_mask"));
    let r = app
        .companies
        .update_company(pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: "companies/missing".into(),
                display_name: "x".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    assert_status(r, Code::NotFound, None);
    app.stop().await;
}

pub async fn update_with_stale_etag_is_aborted(mut app: App) {
    let created = create_company(&mut app, "etag", "").await;
    let fresh = app
        .companies
        .update_company(pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: created.name.clone(),
                display_name: "First".into(),
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("update with current etag")
        .into_inner();
    let stale = app
        .companies
        .update_company(pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: created.name.clone(),
                display_name: "Second".into(),
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    assert_status(stale, Code::Aborted, Some("etag"));
    let got = app
        .companies
        .get_company(pb::GetCompanyRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, fresh);
    app.stop().await;
}

pub async fn delete_and_undelete_rules(mut app: App) {
    let created = create_company(&mut app, "del", "").await;
    let r = app
        .companies
        .delete_company(pb::DeleteCompanyRequest {
            name: created.name.clone(),
            etag: "stale".into(),
            force: false,
        })
        .await;
    assert_status(r, Code::Aborted, Some("etag"));
    let deleted = app
        .companies
        .delete_company(pb::DeleteCompanyRequest {
            name: created.name.clone(),
            etag: created.etag.clone(),
            force: false,
        })
        .await
        .expect("delete")
        .into_inner();
    assert!(deleted.delete_time.is_some());
    let again = app
        .companies
        .delete_company(pb::DeleteCompanyRequest {
            name: created.name.clone(),
            ..Default::default()
        })
        .await;
    assert_status(again, Code::NotFound, None);
    let restored = app
        .companies
        .undelete_company(pb::UndeleteCompanyRequest {
            name: created.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("undelete")
        .into_inner();
    assert!(restored.delete_time.is_none());
    let r = app
        .companies
        .undelete_company(pb::UndeleteCompanyRequest {
            name: created.name.clone(),
            etag: String::new(),
        })
        .await;
    assert_status(r, Code::AlreadyExists, None);
    let r = app
        .companies
        .delete_company(pb::DeleteCompanyRequest {
            name: "companies/missing".into(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::NotFound, None);
    app.stop().await;
}

pub async fn delete_company_with_live_programs_needs_force(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let program = create_program(&mut app, "prog", &host.name).await;
    crate::support::create_sme(&mut app, "partner").await;
    app.programs
        .create_participation(pb::CreateParticipationRequest {
            parent: program.name.clone(),
            participation: Some(pb::Participation {
                sme: "smes/partner".into(),
                ..Default::default()
            }),
            participation_id: "part".into(),
            request_id: String::new(),
        })
        .await
        .expect("participation");
    let r = app
        .companies
        .delete_company(pb::DeleteCompanyRequest {
            name: host.name.clone(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::FailedPrecondition, Some("force"));
    let still = app
        .programs
        .get_program(pb::GetProgramRequest {
            name: program.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(still.delete_time.is_none());

    app.companies
        .delete_company(pb::DeleteCompanyRequest {
            name: host.name.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .expect("forced delete");
    let program = app
        .programs
        .get_program(pb::GetProgramRequest {
            name: program.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(
        program.delete_time.is_some(),
        "program deleted with its host"
    );
    let part = app
        .programs
        .get_participation(pb::GetParticipationRequest {
            name: format!("{}/participations/part", program.name),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(part.delete_time.is_some(), "participation deleted too");
    app.stop().await;
}

pub async fn bad_input_is_invalid_argument_and_changes_nothing(mut app: App) {
    let cases: Vec<(pb::Company, &str, &str)> = vec![
        (
            company("Bad digit", "124-81-00997"),
            "",
            "company.business_number",
        ),
        (company("Short", "12481009"), "", "company.business_number"),
        (
            pb::Company {
                size: pb::EnterpriseSize::Small as i32,
                ..company("Wrong size", "")
            },
            "",
            "company.size",
        ),
        (
            pb::Company {
                size: 0,
                ..company("No size", "")
            },
            "",
            "company.size",
        ),
        (company("   ", ""), "", "company.display_name"),
        (company(&"x".repeat(201), ""), "", "company.display_name"),
        (
            pb::Company {
                annual_revenue_krw: Some(-1),
                ..company("Negative", "")
            },
            "",
            "company.annual_revenue_krw",
        ),
        (
            pb::Company {
                employee_count: Some(-5),
                ..company("Negative", "")
            },
            "",
            "company.employee_count",
        ),
        (
            pb::Company {
                ksic_code: "A26".into(),
                ..company("Ksic", "")
            },
            "",
            "company.ksic_code",
        ),
        (
            pb::Company {
                corporate_number: "130111-0006247".into(),
                ..company("Corp", "")
            },
            "",
            "company.corporate_number",
        ),
        (company("Bad id", ""), "Bad_Id", "company_id"),
        (company("Bad id", ""), "1abc", "company_id"),
    ];
    for (c, id, field) in cases {
        let r = app.companies.create_company(create_req(c, id, "")).await;
        assert_status(r, Code::InvalidArgument, Some(field));
    }
    let r = app
        .companies
        .create_company(pb::CreateCompanyRequest::default())
        .await;
    assert_status(r, Code::InvalidArgument, Some("company"));
    assert_eq!(count_companies(&mut app).await, 0, "nothing was stored");

    // An update with a bad field changes nothing either.
    let created = create_company(&mut app, "keep", &business_number(1)).await;
    let r = app
        .companies
        .update_company(pb::UpdateCompanyRequest {
            company: Some(pb::Company {
                name: created.name.clone(),
                display_name: "New".into(),
                business_number: "124-81-00997".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("company.business_number"));
    let got = app
        .companies
        .get_company(pb::GetCompanyRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, created);
    app.stop().await;
}

pub async fn sme_size_classes(mut app: App) {
    let r = app
        .smes
        .create_sme(pb::CreateSmeRequest {
            sme: Some(pb::Sme {
                size: pb::EnterpriseSize::Large as i32,
                ..sme("Too big")
            }),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::InvalidArgument, Some("sme.size"));
    for size in [
        pb::EnterpriseSize::Medium,
        pb::EnterpriseSize::Small,
        pb::EnterpriseSize::Micro,
    ] {
        let created = app
            .smes
            .create_sme(pb::CreateSmeRequest {
                sme: Some(pb::Sme {
                    size: size as i32,
                    ..sme("Fits")
                }),
                ..Default::default()
            })
            .await
            .expect("create sme")
            .into_inner();
        assert!(created.name.starts_with("smes/"));
        assert_eq!(created.size, size as i32);
    }
    let listed = app
        .smes
        .list_smes(pb::ListSmesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_size, 3);
    app.stop().await;
}
