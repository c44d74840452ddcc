//! Callers asking for the same page at the same time share one read.
//!
//! A dashboard's first page, the newest records of a collection, the page
//! a crowd of clients polls: under load many calls ask for the very same
//! page at once, and each reading it alone costs the database, the driver
//! and the decoder the same work again. So the reads of a page are keyed
//! by everything that decides their answer (the page's SQL with its
//! values, and what the page token carries beside it); a read that finds
//! no read of its key under way starts one at once (a lone caller waits
//! for nothing), and the reads of that key arriving while it runs leave
//! together, as one read, as soon as it ends.
//!
//! A read still sees every write acknowledged before it arrived: a waiting
//! read only ever joins a read that starts after it was queued, never one
//! already under way. The shared read runs in a task of its own under the
//! latest deadline of the callers it serves, so a caller that goes away
//! never takes the others' answers with it, and callers that went away
//! before it started are left out (with none left, it is not run). When the
//! shared read cannot reach the database (or runs out of time, or finds the
//! server at capacity) every caller it served hears so; any other failure
//! lets each caller read alone, and meet its own error.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

use super::deadline;
use super::{Page, StoreError};

/// One map of reads under way per table, made on its first read.
#[derive(Default)]
pub(super) struct SharedPages {
    lanes: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    counts: Arc<Counts>,
}

/// What the shared reads did, since the start.
#[derive(Default)]
struct Counts {
    /// Pages read from the database.
    reads: AtomicU64,
    /// Callers answered by those reads (more than `reads` when reads were
    /// shared).
    callers: AtomicU64,
}

/// Pages read, and the callers they answered, since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageReadStats {
    pub reads: u64,
    pub callers: u64,
}

/// What a waiting read is told.
enum Answer<D> {
    Page(Page<D>),
    /// The shared read failed in a way reading alone would only meet again.
    Failed(StoreError),
    /// The shared read could not answer for this caller: it reads alone.
    ReadAlone,
}

struct Waiter<D> {
    answer: oneshot::Sender<Answer<D>>,
    /// The caller's deadline, when sooner than the server's call timeout.
    deadline: Option<Instant>,
    /// The caller's span, when spans are exported: a shared read is traced
    /// under the first of its calls.
    span: Option<tracing::Span>,
}

/// The reads of one table: per key, the callers waiting for the next read
/// of it. A key is present while a runner serves it.
struct Lane<D> {
    keys: Mutex<HashMap<String, Vec<Waiter<D>>>>,
}

impl SharedPages {
    pub(super) fn stats(&self) -> PageReadStats {
        PageReadStats {
            reads: self.counts.reads.load(Ordering::Relaxed),
            callers: self.counts.callers.load(Ordering::Relaxed),
        }
    }

    fn lane<D: Send + 'static>(&self, table: TypeId) -> Arc<Lane<D>> {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        let lane = lanes.entry(table).or_insert_with(|| {
            Arc::new(Lane::<D> {
                keys: Mutex::new(HashMap::new()),
            })
        });
        // A TypeId maps to one table and so one data type; a fresh lane
        // would still be correct, only unshared.
        lane.clone().downcast::<Lane<D>>().unwrap_or_else(|_| {
            Arc::new(Lane {
                keys: Mutex::new(HashMap::new()),
            })
        })
    }

    /// The page `key` names (of the table `table`), read by `read` in a task shared with the
    /// callers asking for the same key meanwhile. `None` when the shared
    /// read could not answer for this caller: it then reads alone.
    pub(super) async fn read<D, F, R>(
        &self,
        table: TypeId,
        key: String,
        read: F,
    ) -> Option<Result<Page<D>, StoreError>>
    where
        D: Clone + Send + 'static,
        F: Fn() -> R + Send + 'static,
        R: Future<Output = Result<Page<D>, StoreError>> + Send + 'static,
    {
        let lane = self.lane::<D>(table);
        let (answer, answered) = oneshot::channel();
        let waiter = Waiter {
            answer,
            deadline: deadline::current(),
            span: crate::telemetry::exporting().then(tracing::Span::current),
        };
        let start = {
            let mut keys = lane.keys.lock().unwrap_or_else(PoisonError::into_inner);
            match keys.get_mut(&key) {
                Some(waiting) => {
                    waiting.push(waiter);
                    false
                }
                None => {
                    keys.insert(key.clone(), vec![waiter]);
                    true
                }
            }
        };
        if start {
            tokio::spawn(run(
                Runner {
                    lane,
                    key,
                    given_up: false,
                    counts: self.counts.clone(),
                },
                read,
            ));
        }
        match answered.await {
            Ok(Answer::Page(page)) => Some(Ok(page)),
            Ok(Answer::Failed(e)) => Some(Err(e)),
            // A runner that panicked dropped the sender.
            Ok(Answer::ReadAlone) | Err(_) => None,
        }
    }
}

/// The runner of one key; the key is given up when it is dropped, however
/// it ends (a runner that panicked drops its callers' senders, and they
/// read alone).
struct Runner<D> {
    lane: Arc<Lane<D>>,
    key: String,
    /// The key was given up with nobody waiting.
    given_up: bool,
    counts: Arc<Counts>,
}

impl<D> Drop for Runner<D> {
    fn drop(&mut self) {
        if !self.given_up {
            let mut keys = self
                .lane
                .keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            keys.remove(&self.key);
        }
    }
}

/// Reads the key's page for the callers queued, again for those who queued
/// meanwhile, until none waits.
async fn run<D, F, R>(mut runner: Runner<D>, read: F)
where
    D: Clone + Send + 'static,
    F: Fn() -> R + Send + 'static,
    R: Future<Output = Result<Page<D>, StoreError>> + Send + 'static,
{
    loop {
        let batch: Vec<Waiter<D>> = {
            let mut keys = runner
                .lane
                .keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(waiting) = keys.get_mut(&runner.key) else {
                return;
            };
            // Callers that went away no longer need the page.
            waiting.retain(|w| !w.answer.is_closed());
            if waiting.is_empty() {
                // Given up under the lock: a caller arriving after this
                // starts a runner of its own.
                keys.remove(&runner.key);
                runner.given_up = true;
                return;
            }
            std::mem::take(waiting)
        };
        // The latest deadline of the callers served, none if any has none.
        let latest = batch
            .iter()
            .map(|w| w.deadline)
            .try_fold(None, |latest: Option<Instant>, d| {
                d.map(|d| Some(latest.map_or(d, |l| l.max(d))))
            })
            .flatten();
        let span = batch.iter().find_map(|w| w.span.clone());
        runner.counts.reads.fetch_add(1, Ordering::Relaxed);
        let work = deadline::scope(latest, read());
        let found = match span {
            Some(span) => tracing::Instrument::instrument(work, span).await,
            None => work.await,
        };
        let answered = answer(batch, found);
        runner.counts.callers.fetch_add(answered, Ordering::Relaxed);
    }
}

/// Tells each caller of `batch` what the shared read found; how many it
/// answered with the page.
fn answer<D: Clone>(mut batch: Vec<Waiter<D>>, found: Result<Page<D>, StoreError>) -> u64 {
    let mut answered = 0;
    match found {
        Ok(page) => {
            // Every caller but the last gets a copy; the last the page.
            let last = batch.pop();
            for waiter in batch {
                if !waiter.answer.is_closed()
                    && waiter.answer.send(Answer::Page(page.clone())).is_ok()
                {
                    answered += 1;
                }
            }
            if let Some(waiter) = last
                && waiter.answer.send(Answer::Page(page)).is_ok()
            {
                answered += 1;
            }
        }
        Err(e) => {
            for waiter in batch {
                let _ = waiter
                    .answer
                    .send(e.shared().map_or(Answer::ReadAlone, Answer::Failed));
            }
        }
    }
    answered
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use sea_orm::DbErr;
    use tokio::sync::Semaphore;

    use super::*;

    /// The pages' records: any data will do.
    type Data = u32;
    const TABLE: TypeId = TypeId::of::<Data>();

    type PageRead = std::pin::Pin<Box<dyn Future<Output = Result<Page<Data>, StoreError>> + Send>>;

    /// A read that waits for a permit of `gate`, then answers a page whose
    /// `total_size` is its own number (1, 2, …), or `fail`'s error.
    #[derive(Clone)]
    struct Reader {
        gate: Arc<Semaphore>,
        started: Arc<AtomicUsize>,
        fail: Option<fn() -> StoreError>,
    }

    impl Reader {
        fn new(fail: Option<fn() -> StoreError>) -> Self {
            Self {
                gate: Arc::new(Semaphore::new(0)),
                started: Arc::new(AtomicUsize::new(0)),
                fail,
            }
        }

        fn read(&self) -> impl Fn() -> PageRead + Send + 'static {
            let reader = self.clone();
            move || {
                let reader = reader.clone();
                Box::pin(async move {
                    let n = reader.started.fetch_add(1, Ordering::SeqCst) + 1;
                    let permit = reader.gate.acquire().await;
                    permit
                        .map_err(|_| StoreError::corrupt("gate", "closed"))?
                        .forget();
                    match reader.fail {
                        Some(fail) => Err(fail()),
                        None => Ok(Page {
                            items: Vec::new(),
                            next: None,
                            total_size: n as u64,
                        }),
                    }
                })
            }
        }

        async fn until_started(&self, n: usize) {
            while self.started.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    fn ask(
        pages: &Arc<SharedPages>,
        reader: &Reader,
    ) -> tokio::task::JoinHandle<Option<Result<u64, String>>> {
        let (pages, read) = (pages.clone(), reader.read());
        tokio::spawn(async move {
            pages
                .read::<Data, _, _>(TABLE, "k".to_owned(), read)
                .await
                .map(|r| r.map(|p| p.total_size).map_err(|e| e.to_string()))
        })
    }

    /// Waits until `n` callers queue for the key's next read.
    async fn until_queued(pages: &SharedPages, n: usize) {
        let lane = pages.lane::<Data>(TABLE);
        loop {
            let queued = lane
                .keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get("k")
                .map_or(0, Vec::len);
            if queued >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn callers_arriving_during_a_read_share_the_next_one_not_it() {
        let pages = Arc::new(SharedPages::default());
        let reader = Reader::new(None);
        let first = ask(&pages, &reader);
        reader.until_started(1).await;
        // Arrived while read 1 runs: it may predate their writes.
        let later: Vec<_> = (0..5).map(|_| ask(&pages, &reader)).collect();
        until_queued(&pages, 5).await;
        reader.gate.add_permits(1);
        assert_eq!(first.await.expect("task"), Some(Ok(1)));
        reader.until_started(2).await;
        reader.gate.add_permits(1);
        for caller in later {
            assert_eq!(caller.await.expect("task"), Some(Ok(2)));
        }
        assert_eq!(reader.started.load(Ordering::SeqCst), 2);
        assert_eq!(
            pages.stats(),
            PageReadStats {
                reads: 2,
                callers: 6
            }
        );
        // The key was given up: the next caller reads at once.
        let again = ask(&pages, &reader);
        reader.until_started(3).await;
        reader.gate.add_permits(1);
        assert_eq!(again.await.expect("task"), Some(Ok(3)));
    }

    #[tokio::test]
    async fn callers_gone_before_their_read_are_left_out() {
        let pages = Arc::new(SharedPages::default());
        let reader = Reader::new(None);
        let first = ask(&pages, &reader);
        reader.until_started(1).await;
        let gone = ask(&pages, &reader);
        until_queued(&pages, 1).await;
        gone.abort();
        assert!(gone.await.is_err());
        reader.gate.add_permits(1);
        assert_eq!(first.await.expect("task"), Some(Ok(1)));
        // Nobody is left for a second read: none is run.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(reader.started.load(Ordering::SeqCst), 1);
        assert_eq!(pages.stats().reads, 1);
    }

    #[tokio::test]
    async fn an_unreachable_database_is_told_to_all_other_failures_read_alone() {
        for (fail, shared) in [
            (
                (|| StoreError::Unavailable(DbErr::Custom("down".to_owned())))
                    as fn() -> StoreError,
                true,
            ),
            (|| StoreError::corrupt("row", "bad"), false),
        ] {
            let pages = Arc::new(SharedPages::default());
            let reader = Reader::new(Some(fail));
            let first = ask(&pages, &reader);
            reader.until_started(1).await;
            let second = ask(&pages, &reader);
            until_queued(&pages, 1).await;
            reader.gate.add_permits(2);
            for caller in [first, second] {
                match caller.await.expect("task") {
                    Some(Err(e)) => assert!(shared && e.contains("unavailable"), "{e}"),
                    None => assert!(!shared),
                    Some(Ok(n)) => panic!("answered page {n}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn a_read_that_panics_lets_its_callers_read_alone() {
        let pages = Arc::new(SharedPages::default());
        let read = || async { panic!("a read that panics") };
        let answered = pages.read::<Data, _, _>(TABLE, "k".to_owned(), read).await;
        assert!(answered.is_none());
        // The key was given up.
        let reader = Reader::new(None);
        reader.gate.add_permits(1);
        assert_eq!(ask(&pages, &reader).await.expect("task"), Some(Ok(1)));
    }
}
