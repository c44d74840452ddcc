//! Every `ErrorInfo.reason` the service sends, with the gRPC code it goes
//! with: one list, which the error mapping, the transport limits and the
//! README's table of reasons (checked by a test) all follow.

use tonic::Code;

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $text:literal, $code:ident;)+) => {
        /// An `ErrorInfo.reason`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Reason {
            $($(#[$doc])* $variant,)+
        }

        impl Reason {
            /// Every reason.
            pub const ALL: &[Reason] = &[$(Reason::$variant,)+];

            /// The reason as `ErrorInfo.reason` spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $text,)+
                }
            }

            /// The status code a refusal or failure of this reason has.
            pub fn code(self) -> Code {
                match self {
                    $(Reason::$variant => Code::$code,)+
                }
            }
        }
    };
}

reasons! {
    /// Fields of the request are invalid (`BadRequest` names them).
    InvalidArgument => "INVALID_ARGUMENT", InvalidArgument;
    ResourceNotFound => "RESOURCE_NOT_FOUND", NotFound;
    ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS", AlreadyExists;
    ResourceDeleted => "RESOURCE_DELETED", FailedPrecondition;
    AlreadyDeleted => "ALREADY_DELETED", NotFound;
    NotDeleted => "NOT_DELETED", AlreadyExists;
    BusinessNumberTaken => "BUSINESS_NUMBER_TAKEN", AlreadyExists;
    SmeAlreadyParticipates => "SME_ALREADY_PARTICIPATES", AlreadyExists;
    HostCompanyNotFound => "HOST_COMPANY_NOT_FOUND", FailedPrecondition;
    CoHostNotFound => "CO_HOST_NOT_FOUND", FailedPrecondition;
    SmeNotFound => "SME_NOT_FOUND", FailedPrecondition;
    ProgramDeleted => "PROGRAM_DELETED", FailedPrecondition;
    HostCompanyDeleted => "HOST_COMPANY_DELETED", FailedPrecondition;
    CoHostDeleted => "CO_HOST_DELETED", FailedPrecondition;
    SmeDeleted => "SME_DELETED", FailedPrecondition;
    HasLiveChildren => "HAS_LIVE_CHILDREN", FailedPrecondition;
    EtagMismatch => "ETAG_MISMATCH", Aborted;
    RequestIdReused => "REQUEST_ID_REUSED", InvalidArgument;
    /// A change feed `resume_token` older than the journal keeps (or not of
    /// this journal): export again, then watch from the export's token.
    ResumeTokenExpired => "RESUME_TOKEN_EXPIRED", FailedPrecondition;
    /// A write collided with concurrent writes; `RetryInfo` says when to
    /// retry.
    ConcurrentWrite => "CONCURRENT_WRITE", Aborted;
    /// The database cannot be reached; nothing was written.
    DatabaseUnavailable => "DATABASE_UNAVAILABLE", Unavailable;
    /// The connection failed as a write committed and the database could
    /// not be asked in time whether it landed: repeat with the same
    /// `request_id`, or read the record back.
    OutcomeUnknown => "OUTCOME_UNKNOWN", Unavailable;
    /// Load, not an outage: too many calls at once, or waiting for the
    /// database.
    Overloaded => "OVERLOADED", Unavailable;
    DeadlineExceeded => "DEADLINE_EXCEEDED", DeadlineExceeded;
    Internal => "INTERNAL", Internal;
    Unauthenticated => "UNAUTHENTICATED", Unauthenticated;
    ScopeMissing => "SCOPE_MISSING", PermissionDenied;
    RateLimited => "RATE_LIMITED", ResourceExhausted;
    MessageTooLarge => "MESSAGE_TOO_LARGE", ResourceExhausted;
}

#[cfg(test)]
mod tests {
    use super::Reason;

    /// Every reason the service sends is documented in the README's table
    /// of reasons.
    #[test]
    fn every_reason_is_documented() {
        let readme = include_str!("../../README.md");
        for reason in Reason::ALL {
            let reason = reason.as_str();
            assert!(
                readme.contains(&format!("`{reason}`")),
                "reason {reason} is not in the README's table"
            );
        }
    }
}
