//! Reads off a PostgreSQL standby (`--database-read-url`): read-your-writes
//! across service replicas, and the primary answering while the standby
//! is away.

use std::time::{Duration, Instant};

use partnership::pb;
use partnership::pb::sme_service_client::SmeServiceClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::faults::OwnPostgres;
use crate::process::launch_connected;
use crate::support::sme;

fn answered_by(metrics: &str, by: &str) -> f64 {
    metrics
        .lines()
        .find(|l| {
            l.starts_with("partnership_replica_reads_total")
                && l.contains(&format!("answered_by=\"{by}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

/// Two service replicas read off a standby that applies WAL 40 ms late;
/// eight callers each update their SME through one replica and read it
/// straight back through the other, 1,000 times in all: no read is older
/// than the caller's write (every read sees the etag the write answered),
/// and the standby answered reads. With the standby killed, reads go on
/// (the primary answers) and its health name says NOT_SERVING.
pub async fn reads_off_a_standby_never_miss_the_callers_writes() {
    let (primary, standby) = tokio::task::spawn_blocking(|| {
        OwnPostgres::streaming_pair("recovery_min_apply_delay = '40ms'")
    })
    .await
    .expect("a primary and a lagging standby");
    let flags = [
        "--metrics-listen",
        "127.0.0.1:0",
        "--database-read-url",
        &standby.url(),
        "--database-read-wait",
        "2s",
        "--health-interval",
        "1",
    ];
    let (a, channel_a) = launch_connected(&primary.url(), &flags).await;
    let (b, channel_b) = launch_connected(&primary.url(), &flags).await;
    let mut setup = SmeServiceClient::new(channel_a.clone());
    for c in 0..8 {
        setup
            .create_sme(pb::CreateSmeRequest {
                sme: Some(sme(&format!("reader {c} v0"))),
                sme_id: format!("c{c}"),
                ..Default::default()
            })
            .await
            .expect("create");
    }
    let mut callers = Vec::new();
    for c in 0..8 {
        let (ca, cb) = (channel_a.clone(), channel_b.clone());
        callers.push(tokio::spawn(async move {
            let mut stale = Vec::new();
            for n in 1..=125 {
                // Writes and reads alternate between the replicas.
                let (w, r) = if n % 2 == 0 { (&ca, &cb) } else { (&cb, &ca) };
                let written = SmeServiceClient::new(w.clone())
                    .update_sme(pb::UpdateSmeRequest {
                        sme: Some(pb::Sme {
                            name: format!("smes/c{c}"),
                            display_name: format!("reader {c} v{n}"),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["display_name".into()],
                        }),
                    })
                    .await
                    .expect("update")
                    .into_inner();
                let mut reads = SmeServiceClient::new(r.clone());
                let read = reads
                    .get_sme(pb::GetSmeRequest {
                        name: written.name.clone(),
                    })
                    .await
                    .expect("get")
                    .into_inner();
                if read.etag != written.etag {
                    stale.push(format!("get {} v{n}: {}", written.name, read.display_name));
                }
                if n % 10 == 0 {
                    let page = reads
                        .list_smes(pb::ListSmesRequest {
                            filter: format!("display_name = \"reader {c} v{n}\""),
                            ..Default::default()
                        })
                        .await
                        .expect("list")
                        .into_inner();
                    if page.smes.len() != 1 {
                        stale.push(format!(
                            "list {} v{n}: {} found",
                            written.name,
                            page.smes.len()
                        ));
                    }
                }
            }
            stale
        }));
    }
    let mut stale = Vec::new();
    for caller in callers {
        stale.extend(caller.await.expect("caller"));
    }
    assert!(stale.is_empty(), "{} stale reads: {stale:?}", stale.len());
    let served: f64 = [a.metrics_text().await, b.metrics_text().await]
        .iter()
        .map(|m| answered_by(m, "replica"))
        .sum();
    assert!(
        served >= 500.0,
        "the standby answered {served} of 1,100 reads"
    );

    // The standby goes away: reads go on, answered by the primary, and the
    // replica's health name says so while the service still serves.
    standby.kill();
    let mut health = HealthClient::new(channel_b.clone());
    let mut reads = SmeServiceClient::new(channel_b.clone());
    let since = Instant::now();
    loop {
        let replica = health
            .check(HealthCheckRequest {
                service: "partnership.ReadReplica".into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        if replica == tonic_health::pb::health_check_response::ServingStatus::NotServing as i32 {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the replica's health still says SERVING"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let whole = health
        .check(HealthCheckRequest::default())
        .await
        .expect("health")
        .into_inner()
        .status;
    assert_eq!(
        whole,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    for c in 0..8 {
        reads
            .get_sme(pb::GetSmeRequest {
                name: format!("smes/c{c}"),
            })
            .await
            .expect("read with the standby away");
    }
    assert!(answered_by(&b.metrics_text().await, "primary_unreachable") >= 8.0);
    drop((a, b, primary));
}
