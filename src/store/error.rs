//! The store's error type: a rejection the caller can act on, or a database
//! failure that is logged and never shown.

use sea_orm::DbErr;

use crate::domain::Violations;

/// What kind of rejection, one per canonical gRPC code the store produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    NotFound,
    AlreadyExists,
    Aborted,
    FailedPrecondition,
    InvalidArgument,
}

/// A request the store refuses, with what the caller needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    /// UPPER_SNAKE_CASE reason for `ErrorInfo`.
    pub reason: &'static str,
    pub message: String,
    /// The request field at fault, if one is.
    pub field: Option<String>,
    /// The resource concerned, for `ResourceInfo`.
    pub resource: Option<String>,
}

impl Rejection {
    pub fn new(kind: RejectionKind, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            reason,
            message: message.into(),
            field: None,
            resource: None,
        }
    }

    pub fn not_found(name: &str) -> Self {
        Self::new(
            RejectionKind::NotFound,
            "RESOURCE_NOT_FOUND",
            format!("{name} does not exist"),
        )
        .resource(name)
    }

    pub fn aborted(message: String) -> Self {
        Self::new(RejectionKind::Aborted, "ETAG_MISMATCH", message).field("etag")
    }

    /// Replaces the reason and message.
    pub fn reason(mut self, reason: &'static str, message: impl Into<String>) -> Self {
        self.reason = reason;
        self.message = message.into();
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn resource(mut self, name: impl Into<String>) -> Self {
        self.resource = Some(name.into());
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", .0.message)]
    Rejected(Rejection),
    #[error("{0}")]
    Invalid(Violations),
    /// The database cannot be reached; the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database configuration: {0}")]
    Config(String),
    /// A concurrent create with the same `request_id` committed first; the
    /// store answers with that one's response instead. Never leaves `store`.
    #[error("request_id raced with a concurrent call")]
    DuplicateRequest,
    /// Anything else; details go to the log only.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<Rejection> for StoreError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

impl From<Violations> for StoreError {
    fn from(v: Violations) -> Self {
        Self::Invalid(v)
    }
}

impl StoreError {
    /// Classifies a database error: lost or unreachable connections are
    /// UNAVAILABLE, the rest internal.
    pub fn from_db(err: DbErr) -> Self {
        use sea_orm::RuntimeErr;
        let unavailable = match &err {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                is_unavailable(e)
            }
            _ => false,
        };
        if unavailable {
            Self::Unavailable(err.to_string())
        } else {
            Self::Internal(err.to_string())
        }
    }

    /// Whether `err` is a unique-constraint violation.
    pub fn unique_violation(err: &DbErr) -> Option<String> {
        match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(m)) => Some(m),
            _ => None,
        }
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        Self::from_db(err)
    }
}

/// Whether a driver error means the database cannot be reached right now
/// (lost connection, server shutting down, database gone) rather than a
/// fault in the request or the code.
fn is_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        Sqlx::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL SQLSTATE: 08xxx connection exceptions, 57P01-57P03
            // shutdown / cannot connect now, 3D000 database does not exist.
            // MariaDB/MySQL error numbers: 1049 unknown database, 1053
            // shutdown in progress, 2002/2003/2006/2013 server unreachable
            // or gone.
            code.starts_with("08")
                || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "3D000")
                || db
                    .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
                    .is_some_and(|e| matches!(e.number(), 1049 | 1053 | 2002 | 2003 | 2006 | 2013))
        }
        _ => false,
    }
}
