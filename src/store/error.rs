//! The store's errors, in storage terms: which record, and what stands in the
//! way. Nothing here knows gRPC codes, `ErrorInfo` reasons or request field
//! paths; `api::error` maps each variant once. Database errors keep their
//! cause as `#[source]`, so the whole chain reaches the log.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

use crate::domain::{Collection, Violations};

/// A record that another record points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The company hosting a program.
    HostCompany,
    /// A company co-hosting a program.
    CoHost,
    /// The program a participation belongs to (its parent).
    Program,
    /// The SME taking part in a program.
    Sme,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::HostCompany => "host company",
            Self::CoHost => "co-hosting company",
            Self::Program => "program",
            Self::Sme => "SME",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Item `index` of a batch write was refused.
    #[error("item {index}: {error}")]
    Item {
        index: usize,
        #[source]
        error: Box<StoreError>,
    },
    #[error("{name} does not exist")]
    NotFound { name: String },
    #[error("{name} already exists")]
    AlreadyExists { name: String },
    /// A write to a soft-deleted record; undelete it first.
    #[error("{name} is deleted; undelete it first")]
    Deleted { name: String },
    #[error("{name} is already deleted")]
    AlreadyDeleted { name: String },
    #[error("{name} is not deleted")]
    NotDeleted { name: String },
    #[error("business number {number} already belongs to live {holder}")]
    BusinessNumberTaken { number: String, holder: String },
    #[error("{sme} already has a live participation in this program: {existing}")]
    AlreadyParticipates { sme: String, existing: String },
    #[error("{reference} {name} does not exist")]
    ReferenceMissing { reference: Reference, name: String },
    #[error("{reference} {name} is deleted")]
    ReferenceDeleted { reference: Reference, name: String },
    #[error("{name} has {count} live {}; delete them first or set force", .children.segment())]
    LiveChildren {
        name: String,
        count: u64,
        children: Collection,
    },
    /// The caller's etag names an older revision.
    #[error("etag {given:?} of {name} is stale; read it again and retry")]
    StaleRevision { name: String, given: String },
    #[error("request_id {0} was already used for a different request")]
    RequestIdReused(uuid::Uuid),
    /// The merged record of an update is not valid.
    #[error("{0}")]
    Invalid(Violations),
    /// Concurrent writers collided (a unique index or a deadlock) more often
    /// than the store retries; the caller may retry.
    #[error("the write collided with concurrent writes; retry")]
    Contended(#[source] DbErr),
    /// The database cannot be reached; the caller may retry. Nothing was
    /// written: a write whose connection failed as it committed is settled
    /// first, or is [`StoreError::OutcomeUnknown`].
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// The connection failed as a write committed, and the database could
    /// not be asked in time whether it landed: it may have.
    #[error(
        "the connection to the database failed as the write committed, and for {waited:?} the database could not be asked whether it landed"
    )]
    OutcomeUnknown {
        waited: std::time::Duration,
        #[source]
        cause: Box<StoreError>,
    },
    /// The server answers, but the database the URL names is not there.
    #[error(
        "database {name:?} does not exist on the server: create it (PostgreSQL: createdb {name}; MariaDB/MySQL: CREATE DATABASE `{name}`) or pass --create-database"
    )]
    DatabaseMissing { name: String },
    /// Every connection is busy and as many calls as the queue holds are
    /// waiting already; nothing was done, and the caller may retry after
    /// `retry_after`.
    #[error(
        "the server is at capacity: all {connections} database connections are busy and {waiting} calls are waiting for one; nothing was done, retry after {retry_after:?}"
    )]
    Overloaded {
        waiting: usize,
        connections: u32,
        retry_after: std::time::Duration,
    },
    /// The call's deadline (or the server's call timeout) passed while it
    /// waited for a connection, or for a point read it shares; nothing was
    /// done.
    #[error(
        "the call's deadline (or the server's --call-timeout) passed after {waited:?} waiting for the database; nothing was done"
    )]
    WaitTimedOut { waited: std::time::Duration },
    /// The database stopped the statement at the call's deadline (or at
    /// the server's call timeout).
    #[error("the statement ran out of time")]
    TimedOut(#[source] DbErr),
    /// The database was migrated by a newer version of this service.
    #[error(
        "the database has migrations this version does not know ({}); it was migrated by a newer partnership: run that version or a newer one",
        .0.join(", ")
    )]
    SchemaTooNew(Vec<String>),
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    /// A stored value does not parse: the database was changed by hand.
    #[error("stored {what} is not valid: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("database error")]
    Internal(#[source] DbErr),
}

impl From<Violations> for StoreError {
    fn from(v: Violations) -> Self {
        Self::Invalid(v)
    }
}

impl From<DbErr> for StoreError {
    /// Classifies a database error by driver error code, never by message
    /// text: lost or unreachable connections are [`StoreError::Unavailable`],
    /// collisions with a concurrent writer [`StoreError::Contended`] (the
    /// write loop retries those), the rest internal.
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            Self::Unavailable(err)
        } else if is_timeout(&err) {
            Self::TimedOut(err)
        } else if is_collision(&err) {
            Self::Contended(err)
        } else {
            Self::Internal(err)
        }
    }
}

impl StoreError {
    /// A shared statement's error as one reader's own, when reading alone
    /// would only meet it again; `None` for the rest (a row that does not
    /// decode, say), which each reader then meets alone, precisely.
    pub(super) fn shared(&self) -> Option<StoreError> {
        let cause = |e: &sea_orm::DbErr| sea_orm::DbErr::Custom(e.to_string());
        match self {
            StoreError::Unavailable(e) => Some(StoreError::Unavailable(cause(e))),
            StoreError::TimedOut(e) => Some(StoreError::TimedOut(cause(e))),
            StoreError::Overloaded {
                waiting,
                connections,
                retry_after,
            } => Some(StoreError::Overloaded {
                waiting: *waiting,
                connections: *connections,
                retry_after: *retry_after,
            }),
            StoreError::WaitTimedOut { waited } => {
                Some(StoreError::WaitTimedOut { waited: *waited })
            }
            _ => None,
        }
    }

    /// A stored value that does not parse.
    pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }

    /// Whether running the write again on fresh data may succeed.
    pub(super) fn is_retryable(&self) -> bool {
        matches!(self, Self::Contended(_))
    }
}

fn driver_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// Whether `err` means the database cannot be reached right now (lost
/// connection, server shutting down, database gone) rather than a fault in
/// the request or the code.
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    if matches!(err, DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) {
        return true;
    }
    match driver_error(err) {
        Some(Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed) => true,
        Some(Sqlx::Database(db)) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL SQLSTATE: 08xxx connection exceptions, 57P01-57P03
            // shutdown / cannot connect now, 3D000 database does not exist,
            // 25006 a read-only server (a standby, or a former leader that
            // came back as one). MariaDB/MySQL error numbers: 1049 unknown
            // database, 1053 shutdown in progress, 1290/1836 read-only,
            // 2002/2003/2006/2013 server unreachable or gone.
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "3D000" | "25006"
                )
                || mysql_number(&**db).is_some_and(|n| {
                    matches!(n, 1049 | 1053 | 1290 | 1836 | 2002 | 2003 | 2006 | 2013)
                })
        }
        _ => false,
    }
}

/// Whether `err` says the database the URL names does not exist
/// (PostgreSQL 3D000, MariaDB/MySQL 1049).
pub(super) fn is_database_missing(err: &DbErr) -> bool {
    match driver_error(err) {
        Some(sea_orm::sqlx::Error::Database(db)) => {
            db.code().as_deref() == Some("3D000") || mysql_number(&**db) == Some(1049)
        }
        _ => false,
    }
}

/// Whether `err` says the database to create exists already (PostgreSQL).
pub(super) fn is_duplicate_database(err: &DbErr) -> bool {
    match driver_error(err) {
        // 42P04 duplicate database; 23505 when two creators race past the
        // catalog check (PostgreSQL's unique index on database names).
        Some(sea_orm::sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("42P04" | "23505"))
        }
        _ => false,
    }
}

/// Whether `err` is PostgreSQL refusing a function a server in recovery
/// cannot run (55000, object_not_in_prerequisite_state, which
/// `pg_current_wal_lsn()` raises on a standby).
pub(super) fn is_in_recovery(err: &DbErr) -> bool {
    match driver_error(err) {
        Some(sea_orm::sqlx::Error::Database(db)) => db.code().as_deref() == Some("55000"),
        _ => false,
    }
}

/// Whether the database cancelled the statement for its time limit
/// (PostgreSQL 57014, query_canceled: only `statement_timeout` cancels
/// this service's statements).
fn is_timeout(err: &DbErr) -> bool {
    match driver_error(err) {
        Some(sea_orm::sqlx::Error::Database(db)) => db.code().as_deref() == Some("57014"),
        _ => false,
    }
}

/// Whether `err` is a collision with a concurrent writer: a unique index
/// that a row committed meanwhile now occupies (the checks before the write
/// could not see it), or a deadlock / serialization failure. Running the
/// write again sees the other row, so its checks then name the conflict
/// precisely; no driver message is ever parsed.
fn is_collision(err: &DbErr) -> bool {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return true;
    }
    match driver_error(err) {
        // The driver found the connection out of step with the server when
        // it began a transaction (seen on MariaDB under heavy load): a
        // fresh attempt takes another connection.
        Some(sea_orm::sqlx::Error::BeginFailed) => true,
        Some(sea_orm::sqlx::Error::Database(db)) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: 40001 serialization failure, 40P01 deadlock.
            // MariaDB/MySQL: 1213 deadlock, 1205 lock wait timeout.
            // SQLite: 5 busy, 6 locked.
            matches!(code.as_ref(), "40001" | "40P01" | "5" | "6")
                || mysql_number(&**db).is_some_and(|n| matches!(n, 1213 | 1205))
        }
        _ => false,
    }
}

/// Whether `err` says a lock taken without waiting is held by another
/// transaction (MariaDB 1205 for `NOWAIT`, MySQL 3572).
pub(super) fn is_lock_busy(err: &DbErr) -> bool {
    match driver_error(err) {
        Some(sea_orm::sqlx::Error::Database(db)) => {
            mysql_number(&**db).is_some_and(|n| matches!(n, 1205 | 3572))
        }
        _ => false,
    }
}

fn mysql_number(db: &dyn sea_orm::sqlx::error::DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

    /// PostgreSQL's 55000 (what `pg_current_wal_lsn()` raises on a server
    /// in recovery) is told apart; the same state's other face, a primary
    /// asked to pause a recovery it is not in, gives it deterministically.
    /// Runs when `PARTNERSHIP_TEST_POSTGRES_URL` is set.
    #[tokio::test]
    async fn recovery_state_errors_are_told_apart() {
        let Ok(url) = std::env::var("PARTNERSHIP_TEST_POSTGRES_URL") else {
            eprintln!("skipped: PARTNERSHIP_TEST_POSTGRES_URL is not set");
            return;
        };
        let db = Database::connect(url).await.expect("connect");
        let err = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_wal_replay_pause()",
            ))
            .await
            .expect_err("a primary is not in recovery");
        assert!(super::is_in_recovery(&err), "{err:?}");
        let other = db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT 1/0"))
            .await
            .expect_err("division by zero");
        assert!(!super::is_in_recovery(&other), "{other:?}");
        let _ = db.close().await;
    }
}
