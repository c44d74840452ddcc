//! Reads off a PostgreSQL standby (`--database-read-url`).
//!
//! Get, List, BatchGet, Export and the insight reads go to the standby;
//! writes, reads inside a write, the journal's feed and the summary rollup
//! stay on the primary. Read-your-writes holds for every caller on every
//! replica of the service, without anything from the caller: before a read
//! uses the standby, the primary is asked for its WAL position (every
//! write acknowledged before the read began is at or before it) and the
//! standby must have replayed up to it; a standby that has not within
//! `--database-read-wait` leaves that read to the primary. A standby out
//! of reach leaves every read to the primary until the health probe
//! reaches it again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::pool::Pool;
use super::{Store, StoreError, coalesce::Coalescer};

/// How often a read waiting for the standby asks it again.
const RECHECK: Duration = Duration::from_millis(2);

pub(super) struct Replica {
    pub(super) pool: Pool,
    pub(super) coalescer: Arc<Coalescer>,
    up: AtomicBool,
    max_wait: Duration,
    served: AtomicU64,
    waited_out: AtomicU64,
    unreachable: AtomicU64,
}

/// Reads answered by the standby and by the primary instead, since start.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicaStats {
    pub up: bool,
    /// Reads the standby answered.
    pub served: u64,
    /// Reads the primary answered because the standby had not replayed the
    /// primary's position within the wait.
    pub waited_out: u64,
    /// Reads the primary answered because the standby was out of reach.
    pub unreachable: u64,
}

impl Replica {
    pub(super) fn new(pool: Pool, max_wait: Duration) -> Self {
        Self {
            pool,
            coalescer: Default::default(),
            up: AtomicBool::new(true),
            max_wait,
            served: AtomicU64::new(0),
            waited_out: AtomicU64::new(0),
            unreachable: AtomicU64::new(0),
        }
    }

    pub(super) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
        self.pool.room().set_reachable(up);
    }

    pub(super) fn stats(&self) -> ReplicaStats {
        ReplicaStats {
            up: self.up.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
            waited_out: self.waited_out.load(Ordering::Relaxed),
            unreachable: self.unreachable.load(Ordering::Relaxed),
        }
    }
}

/// Where a read runs: the pool and the point-read batcher of the standby,
/// or of the primary.
pub(super) struct Reading<'a> {
    pub(super) pool: &'a Pool,
    pub(super) coalescer: &'a Coalescer,
}

impl Store {
    /// Where the read about to start runs (see the module's comment).
    pub(super) async fn reading(&self) -> Result<Reading<'_>, StoreError> {
        let primary = Reading {
            pool: &self.read,
            coalescer: &self.coalescer,
        };
        let Some(replica) = &self.replica else {
            return Ok(primary);
        };
        if !replica.up.load(Ordering::Relaxed) {
            replica.unreachable.fetch_add(1, Ordering::Relaxed);
            return Ok(primary);
        }
        let position = {
            let lease = self.write.one().await?;
            let row = lease
                .conn()
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_current_wal_lsn()::text",
                ))
                .await
                .map_err(|e| {
                    // The primary's address leads to a server still in
                    // recovery (a standby being promoted, as a balancer
                    // switches during a failover): the database is not
                    // ready for this read yet, and a retry will find it so.
                    if super::error::is_in_recovery(&e) {
                        StoreError::Unavailable(e)
                    } else {
                        e.into()
                    }
                })?;
            row.and_then(|r| r.try_get_by_index::<String>(0).ok())
        };
        let Some(position) = position else {
            return Ok(primary);
        };
        let until = Instant::now() + replica.max_wait;
        loop {
            match replayed(&replica.pool, &position).await {
                Ok(true) => {
                    replica.served.fetch_add(1, Ordering::Relaxed);
                    return Ok(Reading {
                        pool: &replica.pool,
                        coalescer: &replica.coalescer,
                    });
                }
                Ok(false) if Instant::now() + RECHECK < until => {
                    tokio::time::sleep(RECHECK).await;
                }
                Ok(false) => {
                    replica.waited_out.fetch_add(1, Ordering::Relaxed);
                    return Ok(primary);
                }
                // The standby's queue is full, or the call's deadline is
                // near: the primary, whose own queue decides.
                Err(StoreError::Overloaded { .. } | StoreError::WaitTimedOut { .. }) => {
                    replica.waited_out.fetch_add(1, Ordering::Relaxed);
                    return Ok(primary);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "read replica out of reach: reading from the primary");
                    replica.set_up(false);
                    replica.unreachable.fetch_add(1, Ordering::Relaxed);
                    return Ok(primary);
                }
            }
        }
    }

    /// Reads answered by the standby and by the primary instead; `None`
    /// without `--database-read-url`.
    pub fn replica_stats(&self) -> Option<ReplicaStats> {
        self.replica.as_ref().map(|r| r.stats())
    }
}

/// Whether the standby has replayed the primary's WAL up to `position`.
async fn replayed(pool: &Pool, position: &str) -> Result<bool, StoreError> {
    let lease = pool.one().await?;
    let row = lease
        .conn()
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)",
            [position.into()],
        ))
        .await?;
    Ok(row
        .and_then(|r| r.try_get_by_index::<bool>(0).ok())
        .unwrap_or(false))
}
