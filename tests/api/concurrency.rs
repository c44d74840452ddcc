//! Many clients writing at once: no update is lost, stale etags are refused,
//! and no call fails with a locking error.

use partnership::pb;
use tonic::Code;

use crate::support::{App, create_company, create_sme, program, sme};

const CLIENTS: usize = 50;
const PROGRAMS_PER_CLIENT: usize = 20;

pub async fn concurrent_updates_lose_nothing(mut app: App) {
    let host = create_company(&mut app, "host", "").await;
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let mut programs = app.programs.clone();
        let host = host.name.clone();
        tasks.push(tokio::spawn(async move {
            let mut names = Vec::new();
            for i in 0..PROGRAMS_PER_CLIENT {
                let created = programs
                    .create_program(pb::CreateProgramRequest {
                        program: Some(program(&format!("c{client}-p{i}"), &host)),
                        ..Default::default()
                    })
                    .await
                    .unwrap_or_else(|s| panic!("create failed: {s:?}"))
                    .into_inner();
                let mut etag = created.etag.clone();
                for round in 1..=2 {
                    let updated = programs
                        .update_program(pb::UpdateProgramRequest {
                            program: Some(pb::Program {
                                name: created.name.clone(),
                                description: format!("round {round}"),
                                budget_krw: Some(round),
                                etag: etag.clone(),
                                ..Default::default()
                            }),
                            update_mask: None,
                        })
                        .await
                        .unwrap_or_else(|s| panic!("update failed: {s:?}"))
                        .into_inner();
                    etag = updated.etag;
                }
                // The etag of the create is stale now.
                let stale = programs
                    .update_program(pb::UpdateProgramRequest {
                        program: Some(pb::Program {
                            name: created.name.clone(),
                            description: "stale".into(),
                            etag: created.etag.clone(),
                            ..Default::default()
                        }),
                        update_mask: None,
                    })
                    .await;
                match stale {
                    Err(s) => assert_eq!(s.code(), Code::Aborted, "{s:?}"),
                    Ok(_) => panic!("stale etag accepted"),
                }
                names.push(created.name);
            }
            names
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    assert_eq!(all.len(), CLIENTS * PROGRAMS_PER_CLIENT);
    let mut token = String::new();
    let mut seen = 0;
    loop {
        let page = app
            .programs
            .list_programs(pb::ListProgramsRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        for p in &page.programs {
            assert_eq!(p.description, "round 2", "{}", p.name);
            assert_eq!(p.budget_krw, Some(2), "{}", p.name);
        }
        seen += page.programs.len();
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, CLIENTS * PROGRAMS_PER_CLIENT);

    // With one more program there are 1001: a page size above the maximum
    // is lowered to 1000, and the rest is on the next page.
    crate::support::create_program(&mut app, "one-more", &host.name).await;
    let page = app
        .programs
        .list_programs(pb::ListProgramsRequest {
            page_size: 5000,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.programs.len(), 1000);
    assert_eq!(page.total_size, 1001);
    assert!(!page.next_page_token.is_empty());
    // No page size means 50.
    let page = app
        .programs
        .list_programs(pb::ListProgramsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.programs.len(), 50);
    app.stop().await;
}

/// Many `GetSme` calls at once, which the store answers in shared
/// statements: each caller gets its own record (or its own NOT_FOUND), a
/// deleted record still reads as deleted, and a record created a moment ago
/// is read back by the next call.
pub async fn concurrent_gets_each_get_their_own_answer(mut app: App) {
    const SMES: usize = 40;
    for i in 0..SMES {
        create_sme(&mut app, &format!("g{i:02}")).await;
    }
    for i in (0..SMES).step_by(8) {
        app.smes
            .delete_sme(pb::DeleteSmeRequest {
                name: format!("smes/g{i:02}"),
                ..Default::default()
            })
            .await
            .expect("delete");
    }
    let mut tasks = Vec::new();
    for caller in 0..24usize {
        let mut smes = app.smes.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..40usize {
                // Mostly stored ids, some never created.
                let n = (caller * 7 + round * 13) % (SMES + 8);
                let name = format!("smes/g{n:02}");
                let got = smes.get_sme(pb::GetSmeRequest { name: name.clone() }).await;
                match got {
                    Ok(sme) if n < SMES => {
                        let sme = sme.into_inner();
                        assert_eq!(sme.name, name);
                        assert_eq!(sme.display_name, format!("SME g{n:02}"));
                        assert_eq!(sme.delete_time.is_some(), n.is_multiple_of(8), "{name}");
                    }
                    Err(s) if n >= SMES => assert_eq!(s.code(), Code::NotFound, "{s:?}"),
                    other => panic!("{name}: {other:?}"),
                }
                // Read-after-write while the others keep the reads busy.
                if round.is_multiple_of(10) {
                    let id = format!("new-{caller}-{round}");
                    smes.create_sme(pb::CreateSmeRequest {
                        sme: Some(sme(&format!("SME {id}"))),
                        sme_id: id.clone(),
                        request_id: String::new(),
                    })
                    .await
                    .expect("create");
                    let back = smes
                        .get_sme(pb::GetSmeRequest {
                            name: format!("smes/{id}"),
                        })
                        .await
                        .expect("a record just created reads back")
                        .into_inner();
                    assert_eq!(back.display_name, format!("SME {id}"));
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("caller task");
    }
}
