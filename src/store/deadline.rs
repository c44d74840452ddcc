//! The deadline of the call a statement serves, when the caller set one
//! sooner than the server's own call timeout. On PostgreSQL the store turns
//! the time left into the transaction's `statement_timeout`, so the
//! database stops a statement when its caller stops waiting instead of
//! running it to its end for nobody (a dropped future alone leaves the
//! statement running, and its connection waiting on it). Calls without
//! such a deadline are bounded by the connection's `statement_timeout`,
//! the server's call timeout (`DbConfig::statement_timeout`), which costs
//! no round trip.

use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static DEADLINE: Times;
}

/// When the current call must be done.
#[derive(Debug, Clone, Copy)]
struct Times {
    /// The caller's deadline, when sooner than the server's call timeout.
    deadline: Option<Instant>,
    /// When the call is cut off: the deadline, or the call timeout's end.
    cut_off: Option<Instant>,
}

/// Runs `f` with `deadline` as its call's deadline.
pub fn scope<F: Future>(deadline: Option<Instant>, f: F) -> impl Future<Output = F::Output> {
    DEADLINE.scope(
        Times {
            deadline,
            cut_off: deadline,
        },
        f,
    )
}

/// Runs `f` as a call with the caller's `deadline` (when sooner than the
/// server's call timeout) that is cut off at `cut_off` either way.
pub fn scope_call<F: Future>(
    deadline: Option<Instant>,
    cut_off: Instant,
    f: F,
) -> impl Future<Output = F::Output> {
    DEADLINE.scope(
        Times {
            deadline,
            cut_off: Some(cut_off),
        },
        f,
    )
}

/// The deadline of the current call, for work handed to another task.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|t| t.deadline).ok().flatten()
}

/// The time the current call has to work and still answer for itself
/// before it is cut off (by its deadline or by the server's call timeout),
/// less [`MARGIN`]; `None` outside a call.
pub fn left_to_answer() -> Option<Duration> {
    DEADLINE
        .try_with(|t| t.cut_off)
        .ok()
        .flatten()
        .map(|cut_off| {
            cut_off
                .saturating_duration_since(Instant::now())
                .saturating_sub(MARGIN)
        })
}

/// The time the current call has left, at least a millisecond; `None`
/// outside a call (startup, background work).
pub fn remaining() -> Option<Duration> {
    current().map(|d| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    })
}

/// How much sooner than the caller's deadline the database is told to
/// stop: time for the call to roll back and answer DEADLINE_EXCEEDED itself,
/// rather than be dropped mid-statement by the transport's timer.
const MARGIN: Duration = Duration::from_millis(25);

/// The time the current call has to do its work and still answer for
/// itself before its deadline: [`remaining`] less [`MARGIN`], at least a
/// millisecond; `None` outside a call with a deadline.
pub fn left_to_work() -> Option<Duration> {
    remaining().map(|left| left.saturating_sub(MARGIN).max(Duration::from_millis(1)))
}

/// The statement setting PostgreSQL's `statement_timeout` for the rest of
/// the transaction to [`left_to_work`], if there is a call with a deadline.
pub(super) fn postgres_timeout() -> Option<String> {
    left_to_work().map(|left| {
        let ms = left.as_millis().max(1);
        format!("SET LOCAL statement_timeout = {ms}")
    })
}
