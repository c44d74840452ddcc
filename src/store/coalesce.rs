//! Point reads that arrive together share one statement.
//!
//! A `Get` under load is one primary-key `SELECT` per call, and on a busy
//! database most of its cost is the statement's round trip, not the row. So
//! reads of one table queue in a lane: a read that finds a free slot runs at
//! once (alone, with no added wait), and the reads that arrive while every
//! slot is busy leave together, as one `WHERE id IN (…)`, as soon as a slot
//! frees. The lookups a ministry dashboard fires in bursts become a few
//! statements, and a lone caller sees no difference.
//!
//! A read still sees every write acknowledged before it arrived: a waiting
//! read only ever joins a statement that starts after it was queued. Each
//! statement runs in a task of its own, so a caller that goes away never
//! takes the others' answers with it. When a shared statement cannot reach
//! the database, every queued read hears so at once, and so do the reads of
//! a statement in flight beside it (still waiting for a connection of its
//! own, most likely in vain); any other failure lets
//! each read run again alone, so each caller gets its own precise error.
//!
//! A statement takes its connection through the pool's queue like every
//! other call, and reads whose callers went away meanwhile are left out of
//! it. A runner gives its slot back however it ends (a guard): one that
//! panicked hands its queue to a fresh runner, so a lane never stalls.

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use tokio::sync::{oneshot, watch};

use super::entity::row;
use super::pool::Pool;
use super::table::{RecordKey, Table, decode, key_columns, key_condition};
use super::{StoreError, Stored};
use crate::domain::ResourceId;

/// Statements of one table that may run at once. Few, so that the reads
/// arriving meanwhile gather; more than one, so that a slow statement does
/// not hold up the next batch.
const SLOTS: usize = 2;
/// The most reads one statement carries.
const MAX_BATCH: usize = 64;
/// How long a statement runs before the reads arriving meanwhile take a
/// second slot rather than wait for it. Under load the reads gather
/// behind one statement at a time (a statement and its round trip cost
/// the database several times what one more key in it does: measured,
/// twice the Gets per second of PostgreSQL's CPU); a statement slower than
/// this, or a full batch waiting, starts a second. At 10,000,000 SMEs a
/// batch of random ids reads most of its rows from outside PostgreSQL's
/// buffers and takes 1.5–5 ms: at 5 ms the lane mostly kept to one
/// statement, one backend on one core, and Gets grew 2.4–2.9× from 1M;
/// at 1 ms they grew 1.1× (`BENCH_ONLY=get`, 1M and 10M in one run).
const SLOW: Duration = Duration::from_millis(1);

/// One lane per table, made on its first read.
#[derive(Default)]
pub(super) struct Coalescer {
    lanes: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

/// What a queued read is told.
enum Answer<D> {
    /// The record, or that there is none.
    Found(Option<Stored<D>>),
    /// The statement failed in a way reading alone would only meet again:
    /// the database is out of reach or out of time.
    Failed(StoreError),
    /// The statement could not answer for this read: it reads alone, and
    /// meets its own error if there is one.
    ReadAlone,
}

struct Waiter<T: Table> {
    key: T::Key,
    answer: oneshot::Sender<Answer<T::Data>>,
    /// The caller's span, when spans are exported: a shared statement is
    /// traced under the call of its first read.
    span: Option<tracing::Span>,
}

struct Lane<T: Table> {
    state: Mutex<LaneState<T>>,
    /// Why the latest statement that could not reach the database failed:
    /// the statements in flight beside it fail with it.
    unreachable: watch::Sender<Option<Arc<str>>>,
}

struct LaneState<T: Table> {
    waiting: VecDeque<Waiter<T>>,
    running: usize,
    /// When the latest statement started.
    started: Instant,
}

impl<T: Table> LaneState<T> {
    /// Whether a read just queued starts a runner: when none runs, or when
    /// a slot is free and the running statement is slow or a full batch
    /// waits.
    fn starts_runner(&self) -> bool {
        self.running == 0
            || (self.running < SLOTS
                && (self.waiting.len() >= MAX_BATCH || self.started.elapsed() >= SLOW))
    }
}

impl<T: Table> Lane<T> {
    fn new() -> Self {
        Self {
            state: Mutex::new(LaneState {
                waiting: VecDeque::new(),
                running: 0,
                started: Instant::now(),
            }),
            unreachable: watch::Sender::new(None),
        }
    }
}

impl Coalescer {
    fn lane<T: Table>(&self) -> Arc<Lane<T>> {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        let lane = lanes
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(Lane::<T>::new()));
        // A TypeId maps to one type, so the downcast cannot fail; a fresh
        // lane would still be correct, only unshared.
        lane.clone()
            .downcast::<Lane<T>>()
            .unwrap_or_else(|_| Arc::new(Lane::new()))
    }

    /// The record of `key`, read in a statement shared with the reads of
    /// the same table queued meanwhile. `None` when the statement could not
    /// answer for it: the caller then reads alone.
    pub(super) async fn get<T: Table>(
        &self,
        pool: &Pool,
        key: &T::Key,
    ) -> Option<Result<Option<Stored<T::Data>>, StoreError>> {
        let lane = self.lane::<T>();
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut state = lane.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.waiting.push_back(Waiter {
                key: key.clone(),
                answer,
                span: crate::telemetry::exporting().then(tracing::Span::current),
            });
            let start = state.starts_runner();
            if start {
                state.running += 1;
            }
            start
        };
        if start {
            tokio::spawn(run(Runner {
                lane,
                pool: pool.clone(),
            }));
        }
        match answered.await {
            Ok(Answer::Found(found)) => Some(Ok(found)),
            Ok(Answer::Failed(e)) => Some(Err(e)),
            // A runner that panicked dropped the sender.
            Ok(Answer::ReadAlone) | Err(_) => None,
        }
    }
}

/// A lane's runner, holding one of its slots; the slot is given back when
/// the runner is dropped, however it ends.
struct Runner<T: Table> {
    lane: Arc<Lane<T>>,
    pool: Pool,
}

impl<T: Table> Drop for Runner<T> {
    /// Gives the slot back; reads still queued (those that arrived after the
    /// last look, or all of them when the runner panicked) are handed to a
    /// fresh runner on the same slot, so none waits for a Get that may
    /// never come.
    fn drop(&mut self) {
        let mut state = self
            .lane
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !state.waiting.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(run(Runner {
                lane: self.lane.clone(),
                pool: self.pool.clone(),
            }));
            return;
        }
        state.running -= 1;
    }
}

/// Runs the lane's queued reads, a batch per statement, until none waits.
async fn run<T: Table>(runner: Runner<T>) {
    let lane = &runner.lane;
    loop {
        let mut batch: Vec<Waiter<T>> = {
            let mut state = lane.state.lock().unwrap_or_else(PoisonError::into_inner);
            // Callers that went away no longer need their reads.
            state.waiting.retain(|w| !w.answer.is_closed());
            if state.waiting.is_empty() {
                return;
            }
            let n = state.waiting.len().min(MAX_BATCH);
            state.started = Instant::now();
            state.waiting.drain(..n).collect()
        };
        let keys: Vec<&T::Key> = batch.iter().map(|w| &w.key).collect();
        let span = batch.first().and_then(|w| w.span.clone());
        let read = async {
            let read = async {
                match runner.pool.one().await {
                    Ok(lease) => read_batch::<T>(lease.conn(), &keys).await,
                    Err(e) => Err(e),
                }
            };
            match span {
                Some(span) => tracing::Instrument::instrument(read, span).await,
                None => read.await,
            }
        };
        // A statement in flight beside one that found the database out of
        // reach fails with it: its reads queued while the other was trying
        // to connect, and would otherwise wait out a connection attempt of
        // their own after that one (a second statement starts behind a slow
        // one: during an outage, reads waited 1.85 s of their 2 s deadline).
        let mut beside = lane.unreachable.subscribe();
        let found = tokio::select! {
            found = read => found,
            Ok(()) = beside.changed() => Err(StoreError::Unavailable(DbErr::Custom(
                beside.borrow().as_deref().unwrap_or("the database is out of reach").to_owned(),
            ))),
        };
        if let Err(e) = &found
            && e.shared().is_some()
        {
            if let StoreError::Unavailable(cause) = e {
                lane.unreachable
                    .send_replace(Some(cause.to_string().into()));
            }
            // The database was out of reach (or of time, or the server at
            // capacity) until now: the reads that queued meanwhile hear so
            // at once, rather than each batch waiting out the same again.
            let mut state = lane.state.lock().unwrap_or_else(PoisonError::into_inner);
            batch.extend(state.waiting.drain(..));
        }
        for waiter in batch {
            let answer = match &found {
                Ok(rows) => Answer::Found(rows.get(&waiter.key.name(T::COLLECTION)).cloned()),
                Err(e) => e.shared().map_or(Answer::ReadAlone, Answer::Failed),
            };
            // A caller that went away no longer listens.
            let _ = waiter.answer.send(answer);
        }
    }
}

type Rows<D> = HashMap<String, Stored<D>>;

/// The rows of `keys`, by resource name.
async fn read_batch<T: Table>(
    db: &DatabaseConnection,
    keys: &[&T::Key],
) -> Result<Rows<T::Data>, StoreError> {
    let rows = row::all(db, T::Entity::find().filter(keys_condition::<T>(keys))).await?;
    // A row that does not decode fails the batch: which reader's row it was
    // is unknown, so every reader reads alone and its own meets the error.
    rows.into_iter()
        .map(|row| decode::<T>(row).map(|(key, stored)| (key.name(T::COLLECTION), stored)))
        .collect()
}

/// The rows of `keys`: `id IN (…)` for one key column, padded to a power of
/// two by repeating the last key, so a table has a handful of statement
/// shapes for the driver's prepared-statement cache rather than one per
/// batch size.
fn keys_condition<T: Table>(keys: &[&T::Key]) -> Condition {
    if let [column] = key_columns::<T>()[..] {
        let mut ids: Vec<&str> = keys
            .iter()
            .filter_map(|k| k.values().first().map(|v| ResourceId::as_str(v)))
            .collect();
        if let Some(&last) = ids.last() {
            ids.resize(ids.len().next_power_of_two(), last);
        }
        return Condition::all().add(Expr::col(column).is_in(ids));
    }
    keys.iter()
        .fold(Condition::any(), |c, k| c.add(key_condition::<T>(k)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::enterprise::Smes;
    use crate::store::entity::sme;
    use sea_orm::sea_query::{PostgresQueryBuilder, Query};

    fn sql(ids: &[&str]) -> String {
        let keys: Vec<ResourceId> = ids
            .iter()
            .map(|id| ResourceId::parse(id).expect("valid id"))
            .collect();
        let refs: Vec<&ResourceId> = keys.iter().collect();
        Query::select()
            .column(sme::Column::Id)
            .from(sme::Entity)
            .cond_where(keys_condition::<Smes>(&refs))
            .to_string(PostgresQueryBuilder)
            .replace('"', "")
    }

    #[test]
    fn batches_are_padded_to_a_power_of_two() {
        assert_eq!(sql(&["a"]), "SELECT id FROM smes WHERE id IN ('a')");
        assert_eq!(
            sql(&["a", "b", "c"]),
            "SELECT id FROM smes WHERE id IN ('a', 'b', 'c', 'c')"
        );
        assert_eq!(sql(&["a"; 5]).matches("'a'").count(), 8);
    }
}

#[cfg(test)]
mod runner_tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use sea_orm::DatabaseTransaction;

    use super::super::table::Children;
    use super::super::{Companies, DbConfig, QueueConfig, Store, StoreError, now};
    use super::*;
    use crate::domain::{Collection, DisplayName, Enterprise, EnterpriseSize};

    static PANIC: AtomicBool = AtomicBool::new(false);

    /// Companies, read by a runner that panics while [`PANIC`] is set.
    struct Panicky;

    impl Table for Panicky {
        type Entity = <Companies as Table>::Entity;
        type Key = ResourceId;
        type Data = Enterprise;
        const COLLECTION: Collection = Collection::Companies;

        fn column(field: crate::domain::Field) -> Option<super::super::table::Column<Self>> {
            Companies::column(field)
        }

        fn from_row(
            model: <Self::Entity as EntityTrait>::Model,
        ) -> Result<(ResourceId, Enterprise), StoreError> {
            assert!(!PANIC.load(Ordering::SeqCst), "a runner panics");
            Companies::from_row(model)
        }

        fn to_row(
            key: &ResourceId,
            data: &Enterprise,
        ) -> <Self::Entity as EntityTrait>::ActiveModel {
            Companies::to_row(key, data)
        }

        async fn check_write(
            txn: &DatabaseTransaction,
            key: &ResourceId,
            data: &Enterprise,
            before: Option<&Enterprise>,
        ) -> Result<(), StoreError> {
            Companies::check_write(txn, key, data, before).await
        }

        fn children(_: &ResourceId) -> Option<Children> {
            None
        }
    }

    /// Issue: a runner that panicked never gave its slot back; after two
    /// such panics every Get of the table waited for ever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_runner_that_panics_gives_its_slot_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&DbConfig {
            url: format!("sqlite://{}/t.db?mode=rwc", dir.path().display()),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: None,
            queue: QueueConfig {
                max_waiting: 16,
                max_wait: Duration::from_secs(5),
            },
            read_url: None,
            read_wait: Duration::from_millis(200),
        })
        .await
        .expect("connect");
        store.migrate().await.expect("migrate");
        let id = ResourceId::parse("acme").expect("a valid id");
        let data = Enterprise {
            display_name: DisplayName::parse("Acme").expect("name"),
            business_number: None,
            corporate_number: None,
            size: EnterpriseSize::Large,
            ksic: None,
            region: None,
            employee_count: None,
            annual_revenue_krw: None,
        };
        store
            .load::<Companies>(vec![(id.clone(), data, now())])
            .await
            .expect("load");

        PANIC.store(true, Ordering::SeqCst);
        for _ in 0..=SLOTS {
            // The runner panics; its reader is told to read alone.
            let read = tokio::time::timeout(
                Duration::from_secs(5),
                store.coalescer.get::<Panicky>(&store.read, &id),
            )
            .await
            .expect("a Get after panicking runners is answered");
            assert!(read.is_none(), "answered by a panicking runner");
        }
        PANIC.store(false, Ordering::SeqCst);
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            store.coalescer.get::<Panicky>(&store.read, &id),
        )
        .await
        .expect("a Get after panicking runners is answered");
        let found = read.expect("shared statement").expect("read");
        assert_eq!(found.map(|s| s.name), Some("companies/acme".to_owned()));
    }

    #[test]
    fn a_second_statement_starts_only_behind_a_slow_one_or_a_full_batch() {
        let mut state = LaneState::<Companies> {
            waiting: VecDeque::new(),
            running: 0,
            started: Instant::now(),
        };
        assert!(state.starts_runner(), "none runs");
        state.running = 1;
        assert!(!state.starts_runner(), "one runs, just started");
        let id = ResourceId::parse("acme").expect("a valid id");
        for _ in 0..MAX_BATCH {
            state.waiting.push_back(Waiter {
                key: id.clone(),
                answer: oneshot::channel().0,
                span: None,
            });
        }
        assert!(state.starts_runner(), "a full batch waits");
        state.waiting.clear();
        state.started = Instant::now() - SLOW;
        assert!(state.starts_runner(), "the running one is slow");
        state.running = SLOTS;
        assert!(!state.starts_runner(), "no slot is free");
    }
}
