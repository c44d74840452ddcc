//! The API layer's error and its one mapping to `tonic::Status`
//! (`google.rpc.Status` with `ErrorInfo`, `BadRequest`, `ResourceInfo`).

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::Violations;
use crate::store::{RejectionKind, StoreError};

/// `ErrorInfo.domain` of every error.
pub const ERROR_DOMAIN: &str = "partnership.gov.kr";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: one or more fields are invalid.
    #[error("{0}")]
    Invalid(Violations),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Violations> for ApiError {
    fn from(v: Violations) -> Self {
        Self::Invalid(v)
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

/// The one mapping of errors to `tonic::Status`.
impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let rejection = match err {
            ApiError::Invalid(v) | ApiError::Store(StoreError::Invalid(v)) => {
                return bad_request(&v);
            }
            ApiError::Store(StoreError::Rejected(r)) => r,
            ApiError::Store(StoreError::Unavailable(detail)) => {
                tracing::warn!(error = %detail, "database unavailable");
                let mut details = ErrorDetails::new();
                details.set_error_info("DATABASE_UNAVAILABLE", ERROR_DOMAIN, HashMap::new());
                return Status::with_error_details(
                    Code::Unavailable,
                    "the database is unavailable; retry later",
                    details,
                );
            }
            ApiError::Store(
                e
                @ (StoreError::Internal(_) | StoreError::Config(_) | StoreError::DuplicateRequest),
            ) => {
                tracing::error!(error = %e, "internal error");
                let mut details = ErrorDetails::new();
                details.set_error_info("INTERNAL", ERROR_DOMAIN, HashMap::new());
                return Status::with_error_details(
                    Code::Internal,
                    "internal error; it has been logged with the request id",
                    details,
                );
            }
        };
        let code = match rejection.kind {
            RejectionKind::NotFound => Code::NotFound,
            RejectionKind::AlreadyExists => Code::AlreadyExists,
            RejectionKind::Aborted => Code::Aborted,
            RejectionKind::FailedPrecondition => Code::FailedPrecondition,
            RejectionKind::InvalidArgument => Code::InvalidArgument,
        };
        let mut metadata = HashMap::new();
        if let Some(field) = &rejection.field {
            metadata.insert("field".to_owned(), field.clone());
        }
        if let Some(resource) = &rejection.resource {
            metadata.insert("resource".to_owned(), resource.clone());
        }
        let mut details = ErrorDetails::new();
        details.set_error_info(rejection.reason, ERROR_DOMAIN, metadata);
        if let Some(field) = &rejection.field {
            match rejection.kind {
                RejectionKind::InvalidArgument => {
                    details.add_bad_request_violation(field.clone(), rejection.message.clone());
                }
                RejectionKind::FailedPrecondition => {
                    details.add_precondition_failure_violation(
                        rejection.reason,
                        field.clone(),
                        rejection.message.clone(),
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
                rejection.message.clone(),
            );
        }
        Status::with_error_details(code, rejection.message, details)
    }
}

fn resource_type(name: &str) -> &'static str {
    use crate::domain::Collection;
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
