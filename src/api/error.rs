//! The API layer's error and its one mapping to `tonic::Status`
//! (`google.rpc.Status` with `ErrorInfo`, `BadRequest`,
//! `PreconditionFailure`, `ResourceInfo`, `RetryInfo`). This is the only
//! place that knows gRPC codes, `ErrorInfo` reasons and request field paths
//! of store errors.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::reason::Reason;
use crate::domain::{Collection, Violations};
use crate::store::{Reference, StoreError};

/// `ErrorInfo.domain` of every error.
pub const ERROR_DOMAIN: &str = "partnership.gov.kr";

/// What the request was doing when the store refused it; it decides which
/// request field an error names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Undelete,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: one or more fields are invalid.
    #[error("{0}")]
    Invalid(Violations),
    /// The store refused or failed a request about `collection`.
    #[error("{error}")]
    Store {
        #[source]
        error: StoreError,
        collection: Collection,
        action: Action,
    },
    /// The journal could not be read (the audit trail, the change feed).
    #[error("{0}")]
    Journal(#[source] StoreError),
    /// A change feed `resume_token` this journal cannot continue from.
    #[error(
        "the resume_token cannot be continued from: {detail}; export the collections again and watch from the export's resume_token"
    )]
    ResumeTokenExpired { detail: &'static str },
}

impl From<Violations> for ApiError {
    fn from(v: Violations) -> Self {
        Self::Invalid(v)
    }
}

impl ApiError {
    /// Wraps a store error of `action` on `collection`.
    pub fn store(collection: Collection, action: Action) -> impl FnOnce(StoreError) -> ApiError {
        move |error| ApiError::Store {
            error,
            collection,
            action,
        }
    }
}

fn bad_request(violations: &Violations) -> Status {
    let mut details = ErrorDetails::new();
    let fields: Vec<&str> = violations.0.iter().map(|v| v.field.as_str()).collect();
    details.set_error_info(
        Reason::InvalidArgument.as_str(),
        ERROR_DOMAIN,
        HashMap::from([("fields".to_owned(), fields.join(","))]),
    );
    for v in &violations.0 {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    let message = match violations.0.as_slice() {
        [one] => format!("invalid {}: {}", one.field, one.description),
        _ => violations.to_string(),
    };
    Status::with_error_details(Reason::InvalidArgument.code(), message, details)
}

/// A refusal the caller can act on.
struct Rejection {
    reason: Reason,
    /// The request field at fault.
    field: Option<String>,
    /// The resource concerned, for `ResourceInfo`, and its collection.
    resource: Option<(Collection, String)>,
}

impl Rejection {
    fn new(reason: Reason) -> Self {
        Self {
            reason,
            field: None,
            resource: None,
        }
    }

    fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn resource(mut self, collection: Collection, name: &str) -> Self {
        self.resource = Some((collection, name.to_owned()));
        self
    }
}

/// The collection of the record `reference` points to.
fn referenced(reference: Reference) -> Collection {
    match reference {
        Reference::HostCompany | Reference::CoHost => Collection::Companies,
        Reference::Program => Collection::Programs,
        Reference::Sme => Collection::Smes,
    }
}

/// The field of a record that another record points to: in an undelete the
/// record named by `name` is at fault, otherwise the referring field.
fn reference_field(reference: Reference, action: Action) -> &'static str {
    match (action, reference) {
        (Action::Undelete, _) => "name",
        (_, Reference::HostCompany) => "program.host_company",
        (_, Reference::CoHost) => "program.co_hosts",
        (_, Reference::Sme) => "participation.sme",
        (_, Reference::Program) => "parent",
    }
}

/// The code, reason and field of each refusal; `None` for failures.
fn rejection(error: &StoreError, collection: Collection, action: Action) -> Option<Rejection> {
    use StoreError as E;
    let singular = collection.singular();
    let undeleting = action == Action::Undelete;
    // The record named by a refusal is of the call's collection, unless
    // the refusal is about a record it points to.
    Some(match error {
        E::NotFound { name } => Rejection::new(Reason::ResourceNotFound).resource(collection, name),
        E::AlreadyExists { name } => Rejection::new(Reason::ResourceAlreadyExists)
            .field(format!("{singular}_id"))
            .resource(collection, name),
        E::Deleted { name } => Rejection::new(Reason::ResourceDeleted).resource(collection, name),
        E::AlreadyDeleted { name } => {
            Rejection::new(Reason::AlreadyDeleted).resource(collection, name)
        }
        E::NotDeleted { name } => Rejection::new(Reason::NotDeleted)
            .field("name")
            .resource(collection, name),
        E::BusinessNumberTaken { holder, .. } => Rejection::new(Reason::BusinessNumberTaken)
            .field(if undeleting {
                "name".to_owned()
            } else {
                format!("{singular}.business_number")
            })
            .resource(collection, holder),
        E::AlreadyParticipates { existing, .. } => Rejection::new(Reason::SmeAlreadyParticipates)
            .field(reference_field(Reference::Sme, action))
            .resource(Collection::Participations, existing),
        E::ReferenceMissing { reference, name } => Rejection::new(match reference {
            Reference::Program => Reason::ResourceNotFound,
            Reference::HostCompany => Reason::HostCompanyNotFound,
            Reference::CoHost => Reason::CoHostNotFound,
            Reference::Sme => Reason::SmeNotFound,
        })
        .field(reference_field(*reference, action))
        .resource(referenced(*reference), name),
        E::ReferenceDeleted { reference, name } => Rejection::new(match reference {
            Reference::Program => Reason::ProgramDeleted,
            Reference::HostCompany => Reason::HostCompanyDeleted,
            Reference::CoHost => Reason::CoHostDeleted,
            Reference::Sme => Reason::SmeDeleted,
        })
        .field(reference_field(*reference, action))
        .resource(referenced(*reference), name),
        E::LiveChildren { name, .. } => Rejection::new(Reason::HasLiveChildren)
            .field("force")
            .resource(collection, name),
        E::StaleRevision { name, .. } => Rejection::new(Reason::EtagMismatch)
            .field("etag")
            .resource(collection, name),
        E::RequestIdReused(_) => Rejection::new(Reason::RequestIdReused).field("request_id"),
        E::Contended(_) => Rejection::new(Reason::ConcurrentWrite),
        // Unwrapped by the mapping below before it gets here.
        E::Item { error, .. } => return rejection(error, collection, action),
        E::Invalid(_)
        | E::Unavailable(_)
        | E::OutcomeUnknown { .. }
        | E::DatabaseMissing { .. }
        | E::Overloaded { .. }
        | E::WaitTimedOut { .. }
        | E::TimedOut(_)
        | E::UnsupportedUrl(_)
        | E::SchemaTooNew(_)
        | E::Corrupt { .. }
        | E::Internal(_) => return None,
    })
}

/// `error` and its sources, outermost first: what the log shows. A source
/// whose text the chain already holds (many errors repeat their cause's
/// message in their own) is not repeated.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

/// `ErrorInfo` of `reason` and `metadata`, and a `RetryInfo` when the
/// caller should come back after a while.
fn info(
    reason: Reason,
    metadata: &[(&str, String)],
    retry_after: Option<Duration>,
) -> ErrorDetails {
    let mut details = ErrorDetails::new();
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    details.set_error_info(reason.as_str(), ERROR_DOMAIN, metadata);
    if retry_after.is_some() {
        details.set_retry_info(retry_after);
    }
    details
}

/// A status of `reason` whose details are [`info`].
pub(crate) fn failure(
    reason: Reason,
    message: impl Into<String>,
    metadata: &[(&str, String)],
    retry_after: Option<Duration>,
) -> Status {
    Status::with_error_details(reason.code(), message, info(reason, metadata, retry_after))
}

/// A call cut off at its deadline (or the server's call timeout) before
/// its service answered. Whether a write it was making landed is not
/// known here: reading it back, or repeating a create with the same
/// `request_id`, tells.
pub fn deadline_passed() -> Status {
    failure(
        Reason::DeadlineExceeded,
        "the call's deadline (or the server's --call-timeout) passed before it finished; a write may or may not have landed: read the record back, or repeat a create with the same request_id",
        &[],
        None,
    )
}

/// Calls refused before their service: who may call, how often, how many.
impl From<crate::auth::Refusal> for Status {
    fn from(refusal: crate::auth::Refusal) -> Self {
        use crate::auth::Refusal;
        let message = refusal.to_string();
        match refusal {
            Refusal::Unauthenticated(_) => failure(Reason::Unauthenticated, message, &[], None),
            Refusal::MissingScope {
                caller,
                scope,
                method,
            } => failure(
                Reason::ScopeMissing,
                message,
                &[
                    ("caller", caller.to_string()),
                    ("scope", scope.to_string()),
                    ("method", method),
                ],
                None,
            ),
            Refusal::RateLimited {
                caller,
                per_second,
                retry_after,
            } => {
                let mut details = info(
                    Reason::RateLimited,
                    &[
                        ("caller", caller.to_string()),
                        ("per_second", per_second.to_string()),
                    ],
                    Some(retry_after),
                );
                details.add_quota_failure_violation(
                    format!("caller:{caller}"),
                    format!("at most {per_second} calls per second"),
                );
                Status::with_error_details(Reason::RateLimited.code(), message, details)
            }
            Refusal::Overloaded { max, retry_after } => failure(
                Reason::Overloaded,
                message,
                &[("max_concurrent_calls", max.to_string())],
                Some(retry_after),
            ),
        }
    }
}

/// The status of a store error that is not a refusal: the database
/// unreachable or busy, the deadline passed, or a fault of ours (logged).
fn failed(error: &StoreError) -> Status {
    match error {
        StoreError::Unavailable(_) => {
            tracing::warn!(error = %cause_chain(error), "database unavailable");
            failure(
                Reason::DatabaseUnavailable,
                "the database is unavailable; nothing was written; retry later",
                &[],
                Some(Duration::from_secs(1)),
            )
        }
        // Settling the write found no answer within the call's time.
        StoreError::OutcomeUnknown { .. } => {
            tracing::warn!(error = %cause_chain(error), "write outcome unknown");
            failure(
                Reason::OutcomeUnknown,
                "the connection to the database failed as the write committed, and the database could not be asked in time whether it landed: it may have. Repeat the call with the same request_id (a create then answers as it first did, creating nothing twice), or read the record back (its etag tells whether an update or delete landed)",
                &[("repeat_with_same_request_id", "true".to_owned())],
                Some(Duration::from_secs(1)),
            )
        }
        // The database answers, but every connection is busy and the
        // queue is full: load, not an outage.
        StoreError::Overloaded {
            waiting,
            retry_after,
            ..
        } => {
            tracing::info!(error = %error, "shed: the database queue is full");
            failure(
                Reason::Overloaded,
                error.to_string(),
                &[("max_waiting_calls", waiting.to_string())],
                Some(*retry_after),
            )
        }
        StoreError::WaitTimedOut { .. } => {
            tracing::info!(error = %error, "deadline passed waiting for a connection");
            failure(Reason::DeadlineExceeded, error.to_string(), &[], None)
        }
        StoreError::TimedOut(_) => {
            tracing::info!(error = %cause_chain(error), "statement stopped at the deadline");
            failure(
                Reason::DeadlineExceeded,
                "the call's deadline (or the server's --call-timeout) passed; the database stopped its statement and nothing was changed",
                &[],
                None,
            )
        }
        _ => {
            tracing::error!(error = %cause_chain(error), "internal error");
            failure(
                Reason::Internal,
                "internal error; it has been logged with the request id",
                &[],
                None,
            )
        }
    }
}

/// The one mapping of errors to `tonic::Status`.
impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let (error, collection, action) = match err {
            ApiError::Invalid(v) => return bad_request(&v),
            ApiError::Journal(error) => return failed(&error),
            expired @ ApiError::ResumeTokenExpired { .. } => {
                let rejection = Rejection::new(Reason::ResumeTokenExpired).field("resume_token");
                return refused(&rejection, expired.to_string());
            }
            ApiError::Store {
                error,
                collection,
                action,
            } => (error, collection, action),
        };
        // An item of a batch: its fields are under `requests[i]`.
        let (error, at) = match error {
            StoreError::Item { index, error } => (*error, Some(format!("requests[{index}]"))),
            other => (other, None),
        };
        let under = |field: String| match &at {
            Some(at) => format!("{at}.{field}"),
            None => field,
        };
        if let StoreError::Invalid(v) = &error {
            let mut v = v.clone();
            for violation in &mut v.0 {
                violation.field = under(std::mem::take(&mut violation.field));
            }
            return bad_request(&v);
        }
        let Some(mut rejection) = rejection(&error, collection, action) else {
            return failed(&error);
        };
        rejection.field = rejection.field.map(under);
        let message = match &at {
            Some(at) => format!("{at}: {error}"),
            None => error.to_string(),
        };
        refused(&rejection, message)
    }
}

/// The status of a refusal: `ErrorInfo` with the fields at fault and the
/// resource concerned, and `BadRequest`, `PreconditionFailure`,
/// `ResourceInfo` or `RetryInfo` as the reason calls for.
fn refused(rejection: &Rejection, message: String) -> Status {
    if rejection.reason == Reason::ConcurrentWrite {
        return failure(
            rejection.reason,
            message,
            &[],
            Some(Duration::from_millis(50)),
        );
    }
    // One scheme for every error: `fields` lists the request fields at
    // fault (comma-separated), `resource` names the resource concerned.
    let mut metadata = HashMap::new();
    if let Some(field) = &rejection.field {
        metadata.insert("fields".to_owned(), field.clone());
    }
    if let Some((_, resource)) = &rejection.resource {
        metadata.insert("resource".to_owned(), resource.clone());
    }
    let reason = rejection.reason.as_str();
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
    if let Some(field) = &rejection.field {
        match rejection.reason.code() {
            Code::InvalidArgument => {
                details.add_bad_request_violation(field.clone(), message.clone());
            }
            Code::FailedPrecondition => {
                details.add_precondition_failure_violation(reason, field.clone(), message.clone());
            }
            _ => {}
        }
    }
    if let Some((collection, resource)) = &rejection.resource {
        details.set_resource_info(
            collection.resource_type(),
            resource.clone(),
            "",
            message.clone(),
        );
    }
    Status::with_error_details(rejection.reason.code(), message, details)
}

#[cfg(test)]
mod tests {
    use super::cause_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layer(text: &'static str, source: Option<Layer>) -> Layer {
        Layer {
            text,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn a_cause_is_said_once() {
        let repeated = layer(
            "tcp connect error",
            Some(layer(
                "tcp connect error",
                Some(layer("Connection refused", None)),
            )),
        );
        assert_eq!(
            cause_chain(&repeated),
            "tcp connect error: Connection refused"
        );
        let nested = layer("cannot start", Some(layer("address in use", None)));
        assert_eq!(cause_chain(&nested), "cannot start: address in use");
    }
}
