//! What runs beside the calls: the health service kept in step with the
//! database, expired request ids purged, and journal entries past their
//! retention deleted.

use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use super::services::SERVICES;
use crate::store::Store;

/// How often journal entries past their retention are deleted.
pub(super) const JOURNAL_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// How often the summary rollup catches up with the journal between calls.
pub(super) const ROLLUP_INTERVAL: Duration = Duration::from_secs(1);

/// Longest pause between attempts to build the summary rollup.
const ROLLUP_RETRY_MAX: Duration = Duration::from_secs(60);

/// How often expired request ids are purged.
pub(super) const REQUEST_ID_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

pub(super) async fn set_all(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    for service in SERVICES {
        health.set_service_status(service, status).await;
    }
}

/// The health name of the read replica (`--database-read-url`): SERVING
/// while reads go to it, NOT_SERVING while the primary answers them.
pub(super) const READ_REPLICA: &str = "partnership.ReadReplica";

/// Keeps the health service in step with the database: NOT_SERVING while it
/// cannot be reached.
pub(super) async fn watch_database(store: Store, health: HealthReporter, every: Duration) {
    let mut healthy = true;
    let mut replica_up = true;
    let every = every.max(Duration::from_millis(100));
    // A probe that hangs (a database host gone silent) counts as a failure
    // once the next probe is due.
    let probe_timeout = every;
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        let ok = store.ping(probe_timeout).await.is_ok();
        // The read replica has a health name of its own: while it is out of
        // reach the primary answers the reads, so the service still serves.
        if let Some(up) = store.ping_replica(probe_timeout).await
            && up != replica_up
        {
            if up {
                info!("read replica reachable again: reads go to it");
            } else {
                warn!("read replica unreachable: reads go to the primary");
            }
            let status = if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(READ_REPLICA, status).await;
            replica_up = up;
        }
        if ok == healthy {
            continue;
        }
        if ok {
            info!("database reachable again: serving");
            set_all(&health, ServingStatus::Serving).await;
        } else {
            warn!("database unreachable: not serving");
            set_all(&health, ServingStatus::NotServing).await;
        }
        healthy = ok;
    }
}

/// Deletes expired request ids every `every`, starting now.
pub(super) async fn purge_request_ids(store: Store, every: Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        match store.purge_request_ids().await {
            Ok(n) if n > 0 => info!(purged = n, "expired request ids purged"),
            Ok(_) => {}
            Err(e) => warn!(error = %crate::api::cause_chain(&e), "purging request ids failed"),
        }
    }
}

/// Deletes journal entries older than `retention` every `every`, starting
/// now: the only thing that ever deletes an entry.
pub(super) async fn purge_journal(store: Store, retention: Duration, every: Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        let Some(before) = chrono::TimeDelta::from_std(retention)
            .ok()
            .and_then(|r| chrono::Utc::now().checked_sub_signed(r))
        else {
            continue; // A retention longer than history: nothing is old enough.
        };
        match store.purge_journal(before).await {
            Ok(n) if n > 0 => info!(
                purged = n,
                ?retention,
                "journal entries past retention deleted"
            ),
            Ok(_) => {}
            Err(e) => warn!(error = %crate::api::cause_chain(&e), "purging the journal failed"),
        }
    }
}

/// Builds the summary rollup, then keeps it current every `every` (so a
/// summary has little to catch up on) and rebuilds it when it had to be
/// dropped; a failed build is tried again, waiting longer each time.
pub(super) async fn keep_summary_rollup(store: Store, every: Duration) {
    let mut pause = every;
    loop {
        let started = std::time::Instant::now();
        match store.keep_rollup().await {
            Ok(Some(stats)) => {
                info!(
                    programs = stats.programs,
                    smes = stats.smes,
                    participations = stats.participations,
                    megabytes = stats.bytes / (1 << 20),
                    seconds = started.elapsed().as_secs_f64(),
                    "summary rollup built"
                );
                pause = every;
            }
            Ok(None) => pause = every,
            Err(e) => {
                warn!(error = %crate::api::cause_chain(&e), "keeping the summary rollup failed");
                pause = (pause * 2).min(ROLLUP_RETRY_MAX);
            }
        }
        tokio::time::sleep(pause).await;
    }
}
