//! Health, reflection and request ids.

use partnership::pb;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::App;

pub async fn health_and_reflection_are_served(app: App) {
    let mut health = HealthClient::new(app.channel.clone());
    for service in [
        "",
        "partnership.v1.CompanyService",
        "partnership.v1.ProgramService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }

    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as V1Alpha;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaReq;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResp;
    let mut alpha = V1Alpha::new(app.channel.clone());
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(AlphaReq::ListServices(String::new())),
    };
    let mut stream = alpha
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("v1alpha reflection")
        .into_inner();
    let response = stream.message().await.expect("message").expect("one");
    let Some(AlphaResp::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "partnership.v1.CompanyService",
        "partnership.v1.SmeService",
        "partnership.v1.ProgramService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient as V1;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest as V1Req;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse as V1Resp;
    let mut v1 = V1::new(app.channel.clone());
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(V1Req::FileContainingSymbol(
            "partnership.v1.ProgramService".to_owned(),
        )),
    };
    let mut stream = v1
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("v1 reflection")
        .into_inner();
    let response = stream.message().await.expect("message").expect("one");
    assert!(matches!(
        response.message_response,
        Some(V1Resp::FileDescriptorResponse(_))
    ));
    app.stop().await;
}

pub async fn request_id_header_is_echoed(mut app: App) {
    let mut request = tonic::Request::new(pb::ListCompaniesRequest::default());
    request.metadata_mut().insert(
        "x-request-id",
        "caller-chosen-id-42".parse().expect("ascii"),
    );
    let response = app.companies.list_companies(request).await.expect("list");
    assert_eq!(
        response
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("caller-chosen-id-42")
    );
    let generated = app
        .companies
        .list_companies(pb::ListCompaniesRequest::default())
        .await
        .expect("list");
    let id = generated
        .metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("generated request id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    app.stop().await;
}

/// PostgreSQL only: the test drops the server's database under it.
pub async fn database_down_is_unavailable_and_not_serving(mut app: App) {
    crate::support::create_company(&mut app, "before", "").await;
    app.kill_database().await;

    let mut health = HealthClient::new(app.channel.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: "partnership.v1.CompanyService".to_owned(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status;
        if status == ServingStatus::NotServing as i32 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "health stayed SERVING"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        let r = app
            .companies
            .get_company(pb::GetCompanyRequest {
                name: "companies/before".into(),
            })
            .await
            .map(|r| r.into_inner());
        let message = r
            .as_ref()
            .err()
            .map(|s| s.message().to_owned())
            .unwrap_or_default();
        crate::support::assert_status(r, tonic::Code::Unavailable, None);
        assert!(
            !message.to_lowercase().contains("database \"") && !message.contains("sqlx"),
            "driver detail leaked: {message}"
        );
    }
    app.stop().await;
}

pub async fn seed_demo_is_idempotent_and_marked(mut app: App) {
    use partnership::seed::{demo_record_count, seed_demo};
    // A real record already holds Samsung Electronics' business number.
    let own = crate::support::create_company(&mut app, "not-demo", "124-81-00998").await;
    assert!(!own.demo);

    let store = partnership::store::Store::connect(&app.db)
        .await
        .expect("connect");
    let first = seed_demo(&store).await.expect("seed");
    assert_eq!(first.created, demo_record_count());
    assert_eq!(first.already_present, 0);
    let second = seed_demo(&store).await.expect("seed again");
    assert_eq!(second.created, 0, "seeding twice creates nothing");
    assert_eq!(second.already_present, demo_record_count());
    store.close().await;

    let programs = app
        .programs
        .list_programs(pb::ListProgramsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(programs.total_size, 6);
    assert!(programs.programs.iter().all(|p| p.demo));
    let companies = app
        .companies
        .list_companies(pb::ListCompaniesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(companies.total_size, 11);
    let samsung = app
        .companies
        .get_company(pb::GetCompanyRequest {
            name: "companies/samsung-electronics".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(samsung.demo);
    assert_eq!(
        samsung.business_number, "",
        "the demo record does not take a real number"
    );
    // Korean names, with the English one beside them: the README's Korean
    // search and prefix filter find the demo records.
    assert_eq!(samsung.display_name, "삼성전자 (Samsung Electronics)");
    for (search, filter) in [("삼성", ""), ("", "display_name = \"삼성*\"")] {
        let found = app
            .companies
            .list_companies(pb::ListCompaniesRequest {
                search: search.into(),
                filter: filter.into(),
                order_by: "display_name".into(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        assert_eq!(
            found
                .companies
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["companies/samsung-electronics"],
            "search {search:?}, filter {filter:?}"
        );
    }
    let smart_factory = app
        .programs
        .list_programs(pb::ListProgramsRequest {
            search: "스마트공장".into(),
            ..Default::default()
        })
        .await
        .expect("search programs")
        .into_inner();
    assert_eq!(smart_factory.total_size, 1);
    let parts = app
        .programs
        .list_participations(pb::ListParticipationsRequest {
            parent: "programs/samsung-smart-factory".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(parts.participations.len(), 1);
    let hongseong = &parts.participations[0];
    assert_eq!(hongseong.sme, "smes/hongseong-industry");
    assert!(hongseong.demo);
    assert_eq!(hongseong.outcomes.len(), 4);
    assert!(hongseong.outcomes.iter().all(|o| !o.description.is_empty()));
    app.stop().await;
}
