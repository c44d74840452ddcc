//! Settling a write whose connection failed as it committed.
//!
//! When the connection breaks after COMMIT was sent (the database killed,
//! a failover, a proxy cutting in), the database may have committed the
//! write or not, and the error says nothing either way. Rather than answer
//! "unavailable" for a write that may have landed, the store finds out on
//! another connection, within the call's time: every journaling write
//! carries an id drawn for it ([`Mark`]), stored with its journal entries
//! in the same transaction, so the entries are there exactly when the write
//! committed.
//!
//! A write still running on the server (its COMMIT in progress, or a
//! synchronous standby not yet confirming) is waited out first, so a write
//! is never found absent and then commit behind the answer:
//!
//! - PostgreSQL: the write's transaction id is in the current snapshot's
//!   list of running transactions until it ends, for every session; once it
//!   is not, its entries are visible exactly when it committed. An id past
//!   the snapshot's end was never begun on this server (a standby promoted
//!   before the write reached it), and a transaction id the new leader
//!   handed out again is told apart by the write's id.
//! - MariaDB/MySQL: the write holds the `journal_state` row lock until it
//!   ends (it bumped the commit clock): once the committed clock has
//!   reached the write's txid, or the lock is free when tried without
//!   waiting, the write has ended and the store looks.
//!
//! SQLite has no connection to lose: a failed COMMIT there rolled back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::error::is_lock_busy;
use super::journal::Mark;
use super::{Store, StoreError, pool};

/// How often the store asks again while the database is out of reach or
/// the write is still running.
const PAUSE: Duration = Duration::from_millis(100);

/// How long settling may take outside a call (the command line, jobs).
const WITHOUT_CALL: Duration = Duration::from_secs(30);

/// What a failed commit turned out to be.
#[derive(Debug)]
pub(super) enum Settled {
    /// The write committed: its answer stands.
    Landed,
    /// The write did not commit, and cannot any more: nothing was written.
    /// Holds the commit's failure.
    NotLanded(StoreError),
}

/// What one look found.
enum Found {
    Landed,
    Absent,
    /// The write's transaction has not ended yet.
    Running,
}

/// How the failed commits of this process were settled, for the metrics.
#[derive(Default)]
pub(super) struct Settlements {
    landed: AtomicU64,
    not_landed: AtomicU64,
    unknown: AtomicU64,
}

impl Store {
    /// Writes whose connection failed as they committed, by what settling
    /// found: `(outcome, count)` for `landed`, `not_landed`, `unknown`.
    pub fn write_outcomes(&self) -> Vec<(&'static str, u64)> {
        let s = &self.settlements;
        vec![
            ("landed", s.landed.load(Ordering::Relaxed)),
            ("not_landed", s.not_landed.load(Ordering::Relaxed)),
            ("unknown", s.unknown.load(Ordering::Relaxed)),
        ]
    }

    /// Finds out whether the write of `mark`, whose COMMIT failed with
    /// `failure`, landed: within the time the call has left to answer, or
    /// [`StoreError::OutcomeUnknown`] when the database cannot tell by then.
    pub(super) async fn settle(
        &self,
        lease: &pool::Lease,
        mark: &Mark,
        failure: StoreError,
    ) -> Result<Settled, StoreError> {
        let started = Instant::now();
        let budget = super::deadline::left_to_answer().unwrap_or(WITHOUT_CALL);
        let until = started + budget;
        tracing::warn!(
            txid = mark.txid,
            write_id = %mark.write_id,
            error = %failure,
            "the connection failed as a write committed; finding out whether it landed"
        );
        let settlements = &self.settlements;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, self.look(lease, mark)).await {
                Ok(Ok(Found::Landed)) => {
                    settlements.landed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(write_id = %mark.write_id, waited = ?started.elapsed(), "the write had landed");
                    return Ok(Settled::Landed);
                }
                Ok(Ok(Found::Absent)) => {
                    settlements.not_landed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(write_id = %mark.write_id, waited = ?started.elapsed(), "the write had not landed");
                    return Ok(Settled::NotLanded(failure));
                }
                Ok(Ok(Found::Running)) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "cannot settle the write yet"),
                Err(_) => break,
            }
            let left = until.saturating_duration_since(Instant::now());
            tokio::time::sleep(PAUSE.min(left)).await;
        }
        settlements.unknown.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(write_id = %mark.write_id, waited = ?started.elapsed(), "whether the write landed is not known");
        Err(StoreError::OutcomeUnknown {
            waited: started.elapsed(),
            cause: Box::new(failure),
        })
    }

    /// One look at whether the write of `mark` landed.
    async fn look(&self, lease: &pool::Lease, mark: &Mark) -> Result<Found, StoreError> {
        let conn = lease.conn();
        let values = [mark.txid.into(), mark.write_id.clone().into()];
        match self.backend() {
            DbBackend::Postgres => {
                // A standby (not yet promoted, or a former leader come back
                // as one) may not have replayed the commit yet: wait.
                let sql = "SELECT CASE \
                    WHEN pg_is_in_recovery() THEN 'running' \
                    WHEN t.x >= pg_snapshot_xmax(t.s) THEN 'absent' \
                    WHEN NOT pg_visible_in_snapshot(t.x, t.s) THEN 'running' \
                    WHEN EXISTS (SELECT 1 FROM journal WHERE txid = $1 AND write_id = $2) \
                        THEN 'landed' \
                    ELSE 'absent' END \
                    FROM (SELECT $1::bigint::text::xid8 AS x, pg_current_snapshot() AS s) AS t";
                let row = conn
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        sql,
                        values,
                    ))
                    .await?
                    .ok_or_else(|| StoreError::corrupt("write outcome", "no row"))?;
                Ok(match row.try_get_by_index::<String>(0)?.as_str() {
                    "landed" => Found::Landed,
                    "running" => Found::Running,
                    _ => Found::Absent,
                })
            }
            DbBackend::MySql => {
                // The write holds the clock row's lock from its bump to its
                // end, so either says it has ended: the committed clock has
                // reached its txid (a later bump had to wait for it), or the
                // lock is free. Under load the first answers at once, when
                // idle the second. Each look is autocommit statements: no
                // COMMIT of its own to lose.
                let clock = conn
                    .query_one_raw(Statement::from_string(
                        DbBackend::MySql,
                        "SELECT clock FROM journal_state WHERE id = 1",
                    ))
                    .await?
                    .ok_or_else(|| StoreError::corrupt("journal_state", "no row"))?
                    .try_get_by_index::<i64>(0)?;
                if clock < mark.txid {
                    let locked = conn
                        .execute_unprepared(
                            "SELECT clock FROM journal_state WHERE id = 1 FOR UPDATE NOWAIT",
                        )
                        .await;
                    match locked {
                        Err(e) if is_lock_busy(&e) => return Ok(Found::Running),
                        Err(e) => return Err(e.into()),
                        Ok(_) => {}
                    }
                }
                // The write has ended: a read now sees its entries if it
                // committed.
                let row = conn
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::MySql,
                        "SELECT EXISTS (SELECT 1 FROM journal WHERE txid = ? AND write_id = ?)",
                        values,
                    ))
                    .await?
                    .ok_or_else(|| StoreError::corrupt("write outcome", "no row"))?;
                let landed = row.try_get_by_index::<i64>(0)? != 0;
                Ok(if landed { Found::Landed } else { Found::Absent })
            }
            // A failed COMMIT on SQLite rolled back; no mark is made there.
            _ => Ok(Found::Absent),
        }
    }
}
