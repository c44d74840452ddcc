//! The queue in front of the database connections: every call's use of the
//! database first takes room for the connections it will hold at once,
//! here, and only then touches the pool.
//!
//! Why a queue of our own: a call that holds one pooled connection and
//! waits for a second one (a read transaction and the count beside its
//! page) deadlocks a crowd of such calls once half the pool is theirs; and
//! a call that waits for the pool meets its acquire timeout, which answers
//! "the database is unavailable" about a database that is merely busy.
//! Room here is taken for every connection a call will hold, all at once,
//! so no call ever waits while holding; the wait is bounded by the call's
//! own deadline (or the server's call timeout), not by the pool's acquire
//! timeout; the number of calls waiting is bounded, and past it a call is
//! refused at once as overloaded. The pool's acquire timeout is left to
//! what it is good at: noticing that connections cannot be opened.
//!
//! When the last health probe found the database out of reach, a call that
//! finds no room free is told so at once instead of queueing, and the calls
//! already waiting are told too.
//!
//! The pool holds one connection more than the room here, for the health
//! probe: a saturated pool never makes the probe fail and the service read
//! as down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::StoreError;
use super::deadline;

/// How long a caller refused for want of room is told to wait.
pub const OVERLOADED_RETRY_AFTER: Duration = Duration::from_millis(250);

/// Settings of a queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    /// Most calls waiting for room at once; more are refused at once.
    pub max_waiting: usize,
    /// The longest a call without a deadline of its own waits for room.
    pub max_wait: Duration,
}

/// Room on one set of connections, shared by the pools that draw on them
/// (PostgreSQL and MariaDB: reads and writes share one pool).
pub(super) struct Room {
    permits: Arc<Semaphore>,
    connections: u32,
    config: QueueConfig,
    waiting: AtomicUsize,
    reachable: watch::Sender<bool>,
    stats: QueueCounters,
}

/// What happened to the calls that queued, since the start.
#[derive(Default)]
struct QueueCounters {
    waits: AtomicU64,
    waited_micros: AtomicU64,
    overloaded: AtomicU64,
    timed_out: AtomicU64,
    unreachable: AtomicU64,
}

/// The queue's state, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct QueueStats {
    pub role: &'static str,
    /// Connections calls may hold at once.
    pub connections: u32,
    /// Calls waiting for room right now.
    pub waiting: usize,
    /// Calls that had to wait, and how long they waited in all.
    pub waits: u64,
    pub waited: Duration,
    /// Calls refused because too many were waiting already.
    pub overloaded: u64,
    /// Calls whose deadline passed while they waited.
    pub timed_out: u64,
    /// Calls refused at once while the database was out of reach.
    pub unreachable: u64,
}

impl Room {
    pub(super) fn new(connections: u32, config: QueueConfig) -> Arc<Self> {
        let connections = connections.max(1);
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(connections as usize)),
            connections,
            config,
            waiting: AtomicUsize::new(0),
            reachable: watch::Sender::new(true),
            stats: QueueCounters::default(),
        })
    }

    /// Records what the last health probe found.
    pub(super) fn set_reachable(&self, reachable: bool) {
        self.reachable.send_if_modified(|now| {
            let changed = *now != reachable;
            *now = reachable;
            changed
        });
    }

    fn is_reachable(&self) -> bool {
        *self.reachable.borrow()
    }

    /// Room for `want` connections if that many are free now, otherwise
    /// for one, waiting for it within the call's deadline.
    async fn take(self: &Arc<Self>, want: u32) -> Result<Permit, StoreError> {
        let want = want.clamp(1, self.connections);
        if let Ok(permit) = self.permits.clone().try_acquire_many_owned(want) {
            return Ok(Permit {
                connections: want,
                _permit: permit,
            });
        }
        if want > 1
            && let Ok(permit) = self.permits.clone().try_acquire_owned()
        {
            return Ok(Permit {
                connections: 1,
                _permit: permit,
            });
        }
        if !self.is_reachable() {
            self.stats.unreachable.fetch_add(1, Ordering::Relaxed);
            return Err(unreachable());
        }
        let waiting = Waiting::enter(self);
        if waiting.ahead >= self.config.max_waiting {
            self.stats.overloaded.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Overloaded {
                waiting: waiting.ahead,
                connections: self.connections,
                retry_after: OVERLOADED_RETRY_AFTER,
            });
        }
        let limit = deadline::left_to_work().unwrap_or(self.config.max_wait);
        let start = Instant::now();
        let mut reachable = self.reachable.subscribe();
        let outcome = tokio::select! {
            permit = self.permits.clone().acquire_owned() => match permit {
                Ok(permit) => Ok(Permit { connections: 1, _permit: permit }),
                // The semaphore is never closed while the store lives.
                Err(_) => Err(unreachable()),
            },
            _ = reachable.wait_for(|up| !*up) => {
                self.stats.unreachable.fetch_add(1, Ordering::Relaxed);
                Err(unreachable())
            }
            () = tokio::time::sleep(limit) => {
                self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(StoreError::WaitTimedOut {
                    waited: start.elapsed(),
                })
            }
        };
        let waited = start.elapsed();
        self.stats.waits.fetch_add(1, Ordering::Relaxed);
        self.stats.waited_micros.fetch_add(
            u64::try_from(waited.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        outcome
    }

    fn stats(&self, role: &'static str) -> QueueStats {
        let s = &self.stats;
        QueueStats {
            role,
            connections: self.connections,
            waiting: self.waiting.load(Ordering::Relaxed),
            waits: s.waits.load(Ordering::Relaxed),
            waited: Duration::from_micros(s.waited_micros.load(Ordering::Relaxed)),
            overloaded: s.overloaded.load(Ordering::Relaxed),
            timed_out: s.timed_out.load(Ordering::Relaxed),
            unreachable: s.unreachable.load(Ordering::Relaxed),
        }
    }
}

fn unreachable() -> StoreError {
    StoreError::Unavailable(DbErr::Custom(
        "the database did not answer the last health probe".to_owned(),
    ))
}

/// A call's place among those waiting, given up however its wait ends.
struct Waiting<'a> {
    room: &'a Room,
    /// How many were waiting before this call.
    ahead: usize,
}

impl<'a> Waiting<'a> {
    fn enter(room: &'a Room) -> Self {
        let ahead = room.waiting.fetch_add(1, Ordering::Relaxed);
        Self { room, ahead }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.room.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Room for some connections, held until dropped.
struct Permit {
    connections: u32,
    _permit: OwnedSemaphorePermit,
}

/// A pool of connections behind its queue.
#[derive(Clone)]
pub(super) struct Pool {
    conn: DatabaseConnection,
    room: Arc<Room>,
    role: &'static str,
}

impl Pool {
    pub(super) fn new(conn: DatabaseConnection, room: Arc<Room>, role: &'static str) -> Self {
        Self { conn, room, role }
    }

    /// Room for one connection, and the pool to take it from.
    pub(super) async fn one(&self) -> Result<Lease, StoreError> {
        self.lease(1).await
    }

    /// Room for two connections if both are free now, otherwise for one:
    /// a call that could use a second connection alongside the first (a
    /// count beside its page) takes it only when nobody has to wait for it.
    pub(super) async fn up_to_two(&self) -> Result<Lease, StoreError> {
        self.lease(2).await
    }

    async fn lease(&self, want: u32) -> Result<Lease, StoreError> {
        let permit = self.room.take(want).await?;
        Ok(Lease {
            conn: self.conn.clone(),
            permit,
        })
    }

    /// The pool itself, without queueing: for startup, migrations, bulk
    /// loads and the health probe, never for a call's work.
    pub(super) fn unqueued(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub(super) fn room(&self) -> &Room {
        &self.room
    }

    pub(super) fn stats(&self) -> QueueStats {
        self.room.stats(self.role)
    }
}

/// Room for one or two connections of a pool, held until dropped; the
/// statements run through it never wait for the pool.
pub(super) struct Lease {
    conn: DatabaseConnection,
    permit: Permit,
}

impl Lease {
    /// How many connections this lease may hold at once.
    pub(super) fn connections(&self) -> u32 {
        self.permit.connections
    }

    pub(super) fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(connections: u32, max_waiting: usize) -> Arc<Room> {
        Room::new(
            connections,
            QueueConfig {
                max_waiting,
                max_wait: Duration::from_secs(5),
            },
        )
    }

    #[tokio::test]
    async fn two_when_free_else_one() {
        let room = room(3, 8);
        let a = room.take(2).await.expect("two free");
        assert_eq!(a.connections, 2);
        let b = room.take(2).await.expect("one left");
        assert_eq!(b.connections, 1);
        drop((a, b));
    }

    #[tokio::test]
    async fn past_the_queue_bound_is_overloaded() {
        let room = room(1, 1);
        let held = room.take(1).await.expect("free");
        let first = tokio::spawn({
            let room = room.clone();
            async move { room.take(1).await.map(|p| p.connections) }
        });
        while room.waiting.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = room.take(1).await;
        assert!(
            matches!(refused, Err(StoreError::Overloaded { waiting: 1, .. })),
            "{:?}",
            refused.err()
        );
        drop(held);
        assert_eq!(first.await.expect("task").expect("room"), 1);
        assert_eq!(room.stats("t").overloaded, 1);
    }

    #[tokio::test]
    async fn the_deadline_bounds_the_wait() {
        let room = room(1, 8);
        let _held = room.take(1).await.expect("free");
        let deadline = Instant::now() + Duration::from_millis(80);
        let waited = deadline::scope(Some(deadline), room.take(1)).await;
        assert!(matches!(waited, Err(StoreError::WaitTimedOut { .. })));
        // Answered just before the deadline, so the call answers itself.
        let now = Instant::now();
        assert!(now < deadline && now + Duration::from_millis(40) >= deadline);
        assert_eq!(room.stats("t").timed_out, 1);
    }

    #[tokio::test]
    async fn an_unreachable_database_is_told_at_once_and_to_the_waiting() {
        let room = room(1, 8);
        let held = room.take(1).await.expect("free");
        let waiting = tokio::spawn({
            let room = room.clone();
            async move { room.take(1).await.map(|p| p.connections) }
        });
        while room.waiting.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        room.set_reachable(false);
        assert!(matches!(
            waiting.await.expect("task"),
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            room.take(1).await,
            Err(StoreError::Unavailable(_))
        ));
        drop(held);
        // Room that is free is still given: the probe may be wrong, and a
        // statement finds out for itself.
        assert!(room.take(1).await.is_ok());
        room.set_reachable(true);
        assert_eq!(room.stats("t").unreachable, 2);
    }
}
