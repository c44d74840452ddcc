//! The API layer's error and its one mapping to `tonic::Status`
//! (`google.rpc.Status` with `ErrorInfo`, `BadRequest`,
//! `PreconditionFailure`, `ResourceInfo`, `RetryInfo`). This is the only
//! place that knows gRPC codes, `ErrorInfo` reasons and request field paths
//! of store errors.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

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
        "INVALID_ARGUMENT",
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
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// A refusal the caller can act on.
struct Rejection {
    code: Code,
    reason: &'static str,
    /// The request field at fault.
    field: Option<String>,
    /// The resource concerned, for `ResourceInfo`.
    resource: Option<String>,
}

impl Rejection {
    fn new(code: Code, reason: &'static str) -> Self {
        Self {
            code,
            reason,
            field: None,
            resource: None,
        }
    }

    fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn resource(mut self, name: &str) -> Self {
        self.resource = Some(name.to_owned());
        self
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
    Some(match error {
        E::NotFound { name } => Rejection::new(Code::NotFound, "RESOURCE_NOT_FOUND").resource(name),
        E::AlreadyExists { name } => Rejection::new(Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS")
            .field(format!("{singular}_id"))
            .resource(name),
        E::Deleted { name } => {
            Rejection::new(Code::FailedPrecondition, "RESOURCE_DELETED").resource(name)
        }
        E::AlreadyDeleted { name } => {
            Rejection::new(Code::NotFound, "ALREADY_DELETED").resource(name)
        }
        E::NotDeleted { name } => Rejection::new(Code::AlreadyExists, "NOT_DELETED")
            .field("name")
            .resource(name),
        E::BusinessNumberTaken { holder, .. } => {
            Rejection::new(Code::AlreadyExists, "BUSINESS_NUMBER_TAKEN")
                .field(if undeleting {
                    "name".to_owned()
                } else {
                    format!("{singular}.business_number")
                })
                .resource(holder)
        }
        E::AlreadyParticipates { existing, .. } => {
            Rejection::new(Code::AlreadyExists, "SME_ALREADY_PARTICIPATES")
                .field(reference_field(Reference::Sme, action))
                .resource(existing)
        }
        E::ReferenceMissing { reference, name } => {
            let rejection = match reference {
                Reference::Program => Rejection::new(Code::NotFound, "RESOURCE_NOT_FOUND"),
                Reference::HostCompany => {
                    Rejection::new(Code::FailedPrecondition, "HOST_COMPANY_NOT_FOUND")
                }
                Reference::CoHost => Rejection::new(Code::FailedPrecondition, "CO_HOST_NOT_FOUND"),
                Reference::Sme => Rejection::new(Code::FailedPrecondition, "SME_NOT_FOUND"),
            };
            rejection
                .field(reference_field(*reference, action))
                .resource(name)
        }
        E::ReferenceDeleted { reference, name } => Rejection::new(
            Code::FailedPrecondition,
            match reference {
                Reference::Program => "PROGRAM_DELETED",
                Reference::HostCompany => "HOST_COMPANY_DELETED",
                Reference::CoHost => "CO_HOST_DELETED",
                Reference::Sme => "SME_DELETED",
            },
        )
        .field(reference_field(*reference, action))
        .resource(name),
        E::LiveChildren { name, .. } => {
            Rejection::new(Code::FailedPrecondition, "HAS_LIVE_CHILDREN")
                .field("force")
                .resource(name)
        }
        E::StaleRevision { name, .. } => Rejection::new(Code::Aborted, "ETAG_MISMATCH")
            .field("etag")
            .resource(name),
        E::RequestIdReused(_) => {
            Rejection::new(Code::InvalidArgument, "REQUEST_ID_REUSED").field("request_id")
        }
        E::Contended(_) => Rejection::new(Code::Aborted, "CONCURRENT_WRITE"),
        // Unwrapped by the mapping below before it gets here.
        E::Item { error, .. } => return rejection(error, collection, action),
        E::Invalid(_)
        | E::Unavailable(_)
        | E::Overloaded { .. }
        | E::WaitTimedOut { .. }
        | E::TimedOut(_)
        | E::UnsupportedUrl(_)
        | E::SchemaTooNew(_)
        | E::Corrupt { .. }
        | E::Internal(_) => return None,
    })
}

/// `error` and its sources, outermost first: what the log shows.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

fn with_retry(code: Code, reason: &str, message: &str, after: Duration) -> Status {
    failure(code, reason, message, &[], Some(after))
}

/// `ErrorInfo` of `reason` and `metadata`, and a `RetryInfo` when the
/// caller should come back after a while.
fn info(reason: &str, metadata: &[(&str, String)], retry_after: Option<Duration>) -> ErrorDetails {
    let mut details = ErrorDetails::new();
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
    if retry_after.is_some() {
        details.set_retry_info(retry_after);
    }
    details
}

/// A status of `code` whose details are [`info`].
fn failure(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    metadata: &[(&str, String)],
    retry_after: Option<Duration>,
) -> Status {
    Status::with_error_details(code, message, info(reason, metadata, retry_after))
}

/// A call cut off at its deadline (or the server's call timeout) before
/// its service answered. Whether a write it was making landed is not
/// known here: reading it back, or repeating a create with the same
/// `request_id`, tells.
pub fn deadline_passed() -> Status {
    failure(
        Code::DeadlineExceeded,
        "DEADLINE_EXCEEDED",
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
            Refusal::Unauthenticated(_) => {
                failure(Code::Unauthenticated, "UNAUTHENTICATED", message, &[], None)
            }
            Refusal::MissingScope {
                caller,
                scope,
                method,
            } => failure(
                Code::PermissionDenied,
                "SCOPE_MISSING",
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
                    "RATE_LIMITED",
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
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
            Refusal::Overloaded { max, retry_after } => failure(
                Code::Unavailable,
                "OVERLOADED",
                message,
                &[("max_concurrent_calls", max.to_string())],
                Some(retry_after),
            ),
        }
    }
}

/// The one mapping of errors to `tonic::Status`.
impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let (error, collection, action) = match err {
            ApiError::Invalid(v) => return bad_request(&v),
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
            return match &error {
                StoreError::Unavailable(_) => {
                    tracing::warn!(error = %cause_chain(&error), "database unavailable");
                    with_retry(
                        Code::Unavailable,
                        "DATABASE_UNAVAILABLE",
                        "the database is unavailable; retry later",
                        Duration::from_secs(1),
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
                        Code::Unavailable,
                        "OVERLOADED",
                        error.to_string(),
                        &[("max_waiting_calls", waiting.to_string())],
                        Some(*retry_after),
                    )
                }
                StoreError::WaitTimedOut { .. } => {
                    tracing::info!(error = %error, "deadline passed waiting for a connection");
                    failure(
                        Code::DeadlineExceeded,
                        "DEADLINE_EXCEEDED",
                        error.to_string(),
                        &[],
                        None,
                    )
                }
                StoreError::TimedOut(_) => {
                    tracing::info!(error = %cause_chain(&error), "statement stopped at the deadline");
                    failure(
                        Code::DeadlineExceeded,
                        "DEADLINE_EXCEEDED",
                        "the call's deadline (or the server's --call-timeout) passed; the database stopped its statement and nothing was changed",
                        &[],
                        None,
                    )
                }
                _ => {
                    tracing::error!(error = %cause_chain(&error), "internal error");
                    failure(
                        Code::Internal,
                        "INTERNAL",
                        "internal error; it has been logged with the request id",
                        &[],
                        None,
                    )
                }
            };
        };
        rejection.field = rejection.field.map(under);
        let message = match &at {
            Some(at) => format!("{at}: {error}"),
            None => error.to_string(),
        };
        if rejection.code == Code::Aborted && rejection.reason == "CONCURRENT_WRITE" {
            return with_retry(
                Code::Aborted,
                rejection.reason,
                &message,
                Duration::from_millis(50),
            );
        }
        // One scheme for every error: `fields` lists the request fields at
        // fault (comma-separated), `resource` names the resource concerned.
        let mut metadata = HashMap::new();
        if let Some(field) = &rejection.field {
            metadata.insert("fields".to_owned(), field.clone());
        }
        if let Some(resource) = &rejection.resource {
            metadata.insert("resource".to_owned(), resource.clone());
        }
        let mut details = ErrorDetails::new();
        details.set_error_info(rejection.reason, ERROR_DOMAIN, metadata);
        if let Some(field) = &rejection.field {
            match rejection.code {
                Code::InvalidArgument => {
                    details.add_bad_request_violation(field.clone(), message.clone());
                }
                Code::FailedPrecondition => {
                    details.add_precondition_failure_violation(
                        rejection.reason,
                        field.clone(),
                        message.clone(),
                    );
                }
                _ => {}
            }
        }
        if let Some(resource) = &rejection.resource {
            details.set_resource_info(
                resource_type(resource),
                resource.clone(),
                "",
                message.clone(),
            );
        }
        Status::with_error_details(rejection.code, message, details)
    }
}

fn resource_type(name: &str) -> &'static str {
    let collection = if name.contains("/participations/") {
        Collection::Participations
    } else if name.starts_with("companies/") {
        Collection::Companies
    } else if name.starts_with("smes/") {
        Collection::Smes
    } else {
        Collection::Programs
    };
    collection.resource_type()
}

#[cfg(test)]
mod tests {
    /// Every `ErrorInfo` reason the service sends is documented in the
    /// README's table of reasons.
    #[test]
    fn every_reason_is_documented() {
        let readme = include_str!("../../README.md");
        let sources = [
            include_str!("error.rs"),
            include_str!("../server/limits.rs"),
        ];
        let mut reasons = Vec::new();
        for source in sources {
            for literal in source.split('"').skip(1).step_by(2) {
                let is_reason = literal.len() > 3
                    && literal.contains('_')
                    && literal.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                if is_reason {
                    reasons.push(literal);
                }
            }
        }
        assert!(reasons.len() > 15, "found only {reasons:?}");
        for reason in reasons {
            assert!(
                readme.contains(&format!("`{reason}`")),
                "reason {reason} is not in the README's table"
            );
        }
    }
}
