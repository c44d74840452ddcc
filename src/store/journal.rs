//! The journal: every committed write appends one entry per changed record,
//! in the write's own transaction, so the journal cannot drift from the data
//! (a rolled-back write leaves no entry, a committed one always has its
//! entries). The audit trail lists it; the change feed follows it.
//!
//! # The feed's order
//!
//! Entries are numbered (`sequence`) when they are written, but writers
//! commit in another order, so a watcher reading "everything after the last
//! sequence I saw" could pass over an entry that commits late. The feed
//! orders entries by (`txid`, `sequence`) and delivers only entries below a
//! bound no later commit can fall under:
//!
//! - PostgreSQL: `txid` is the writing transaction's id
//!   (`pg_current_xact_id()`); the bound is the oldest transaction still
//!   running (`pg_snapshot_xmin(pg_current_snapshot())`). Every transaction
//!   below it has ended; any later commit has an id at or above it.
//! - MariaDB/MySQL: `txid` is a commit clock, `journal_state.clock`, bumped
//!   by the last statement before COMMIT. The row lock that bump takes is
//!   held until the commit, so clock order is commit order; the bound is the
//!   clock's committed value.
//! - SQLite: one writer at a time (`BEGIN IMMEDIATE`), so `sequence` is
//!   commit order; `txid` is 0 and the bound is the largest committed
//!   sequence.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QuerySelect,
};

use super::entity::journal::{self as entry, state};
use super::{Store, StoreError};
use crate::domain::{ChangeKind, Collection};

tokio::task_local! {
    static CALL: CallInfo;
}

/// Who makes the writes of the current call, and through which method.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The authenticated caller's name (`anonymous` while auth is off).
    pub caller: Arc<str>,
    /// The gRPC method, e.g. `partnership.v1.SmeService/UpdateSme`.
    pub method: Arc<str>,
}

/// Runs `f` as the call `call`: its writes are journaled under its caller
/// and method.
pub fn scope<F: std::future::Future>(
    call: CallInfo,
    f: F,
) -> impl std::future::Future<Output = F::Output> {
    CALL.scope(call, f)
}

/// The caller and method of the current call; writes outside a call (the
/// command line) are the `system`'s.
fn current_call() -> (String, String) {
    CALL.try_with(|c| (c.caller.to_string(), c.method.to_string()))
        .unwrap_or_else(|_| ("system".to_owned(), String::new()))
}

/// One changed record, as a write records it before its commit.
#[derive(Debug, Clone)]
pub(super) struct Change {
    collection: Collection,
    resource: String,
    kind: ChangeKind,
    before: Option<String>,
    after: String,
}

impl Change {
    /// The change of the record `resource` of `collection` from `before`
    /// to `after` (the JSON of its rows).
    pub(super) fn new(
        collection: Collection,
        resource: String,
        kind: ChangeKind,
        before: Option<String>,
        after: String,
    ) -> Self {
        Self {
            collection,
            resource,
            kind,
            before,
            after,
        }
    }
}

/// What finds a write's entries again once its COMMIT has been sent: the
/// id the server drew for the write, along the index of its `txid`.
#[derive(Debug, Clone)]
pub(super) struct Mark {
    /// PostgreSQL's transaction id, or the MariaDB/MySQL commit clock.
    pub(super) txid: i64,
    pub(super) write_id: String,
}

/// Appends `changes` to the journal inside the write's transaction, as its
/// last statements (see the module's notes on order), under `write_id`.
/// Returns what finds them again after a failed commit: `None` when there
/// is nothing to find (no changes) or no connection to lose (SQLite).
pub(super) async fn append(
    txn: &DatabaseTransaction,
    changes: &[Change],
    request_id: Option<&str>,
    write_id: &str,
) -> Result<Option<Mark>, StoreError> {
    if changes.is_empty() {
        return Ok(None);
    }
    let backend = txn.get_database_backend();
    let (caller, method) = current_call();
    let (txid, mut known): (SimpleExpr, Option<i64>) = match backend {
        DbBackend::Postgres => (Expr::cust("pg_current_xact_id()::text::bigint"), None),
        DbBackend::MySql => {
            let bump = Query::update()
                .table(state::Entity)
                .value(state::Column::Clock, Expr::col(state::Column::Clock).add(1))
                .and_where(state::Column::Id.eq(1))
                .to_owned();
            txn.execute(&bump).await?;
            let clock: Option<i64> = state::Entity::find_by_id(1)
                .select_only()
                .column(state::Column::Clock)
                .into_tuple()
                .one(txn)
                .await?;
            let clock = clock.ok_or_else(|| StoreError::corrupt("journal_state", "no row"))?;
            (Expr::val(clock), Some(clock))
        }
        _ => (Expr::val(0i64), None),
    };
    let t = super::now();
    // At most this many entries per statement, well within every database's
    // limit of bound values.
    for chunk in changes.chunks(500) {
        let mut insert = Query::insert();
        insert.into_table(entry::Entity).columns([
            entry::Column::Txid,
            entry::Column::CommitTime,
            entry::Column::Caller,
            entry::Column::Method,
            entry::Column::RequestId,
            entry::Column::Collection,
            entry::Column::Resource,
            entry::Column::Kind,
            entry::Column::Before,
            entry::Column::After,
            entry::Column::WriteId,
        ]);
        for c in chunk {
            insert
                .values([
                    txid.clone(),
                    t.into(),
                    caller.as_str().into(),
                    method.as_str().into(),
                    request_id.map(str::to_owned).into(),
                    c.collection.segment().into(),
                    c.resource.as_str().into(),
                    c.kind.as_str().into(),
                    c.before.clone().into(),
                    c.after.as_str().into(),
                    write_id.into(),
                ])
                .map_err(|e| StoreError::corrupt("journal insert", e))?;
        }
        if backend == DbBackend::Postgres && known.is_none() {
            // The transaction id comes back with the first statement, in
            // its round trip.
            insert.returning_col(entry::Column::Txid);
            let row = txn
                .query_one(&insert)
                .await?
                .ok_or_else(|| StoreError::corrupt("journal insert", "returned no row"))?;
            known = Some(row.try_get_by_index::<i64>(0)?);
        } else {
            txn.execute(&insert).await?;
        }
    }
    Ok(known.map(|txid| Mark {
        txid,
        write_id: write_id.to_owned(),
    }))
}

/// What this process has journaled and how its watchers keep up, for the
/// metrics.
#[derive(Default)]
pub(super) struct Journal {
    /// Bumped after every commit that journaled something: watchers of this
    /// process wake at once instead of at their next poll.
    signal: tokio::sync::watch::Sender<u64>,
    appended: Mutex<HashMap<(Collection, ChangeKind), u64>>,
    watchers: Mutex<HashMap<u64, Option<DateTime<Utc>>>>,
    next_watcher: AtomicU64,
}

impl Journal {
    /// Counts and announces the changes of a committed write.
    pub(super) fn committed(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        if let Ok(mut appended) = self.appended.lock() {
            for c in changes {
                *appended.entry((c.collection, c.kind)).or_default() += 1;
            }
        }
        self.signal.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The journal's figures for the metrics.
#[derive(Debug, Clone, Default)]
pub struct JournalStats {
    /// Entries this process appended, by collection and kind.
    pub appended: Vec<(Collection, ChangeKind, u64)>,
    /// Watchers connected to this process.
    pub watchers: usize,
    /// How far the furthest-behind watcher is: now less the commit time of
    /// the last change it was sent (zero for watchers caught up).
    pub lag: std::time::Duration,
}

/// A watcher of the feed, counted while it lives.
pub struct Watcher {
    journal: Arc<Journal>,
    id: u64,
    signal: tokio::sync::watch::Receiver<u64>,
}

impl Watcher {
    /// Records how far this watcher is: the commit time of the last change
    /// it was sent, or `None` when it has everything committed.
    pub fn behind(&self, last_sent: Option<DateTime<Utc>>) {
        if let Ok(mut w) = self.journal.watchers.lock() {
            w.insert(self.id, last_sent);
        }
    }

    /// Marks the journal as seen; [`Watcher::changed`] then waits for the
    /// next commit of this process.
    pub fn mark_seen(&mut self) {
        self.signal.borrow_and_update();
    }

    /// Waits until this process commits a journaled write after the last
    /// [`Watcher::mark_seen`].
    pub async fn changed(&mut self) {
        if self.signal.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Ok(mut w) = self.journal.watchers.lock() {
            w.remove(&self.id);
        }
    }
}

impl Store {
    /// A watcher of the feed in this process (counted in the metrics).
    pub fn watcher(&self) -> Watcher {
        let id = self.journal.next_watcher.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut w) = self.journal.watchers.lock() {
            w.insert(id, None);
        }
        Watcher {
            journal: self.journal.clone(),
            id,
            signal: self.journal.signal.subscribe(),
        }
    }

    /// The journal's figures for the metrics.
    pub fn journal_stats(&self) -> JournalStats {
        let appended = self
            .journal
            .appended
            .lock()
            .map(|a| a.iter().map(|((c, k), n)| (*c, *k, *n)).collect())
            .unwrap_or_default();
        let now = Utc::now();
        let (watchers, lag) = self
            .journal
            .watchers
            .lock()
            .map(|w| {
                let lag = w
                    .values()
                    .flatten()
                    .map(|t| (now - *t).to_std().unwrap_or_default())
                    .max()
                    .unwrap_or_default();
                (w.len(), lag)
            })
            .unwrap_or_default();
        JournalStats {
            appended,
            watchers,
            lag,
        }
    }
}
