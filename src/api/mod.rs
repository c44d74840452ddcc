//! The gRPC services: decode the request into domain types, call the store,
//! encode the result. Nothing else happens here.

mod convert;
mod enterprise;
mod error;
mod insight;
mod journal;
mod list;
mod mask;
mod program;
mod reason;
mod resource;

pub use enterprise::{CompanyApi, SmeApi};
pub(crate) use error::failure;
pub use error::{Action, ApiError, ERROR_DOMAIN, cause_chain, deadline_passed};
pub use insight::InsightApi;
pub use journal::{
    AuditApi, ChangeFeedApi, FEED_BATCH, FEED_POLL, FeedSettings, list_audit_events,
};
pub use program::ProgramApi;
pub use reason::Reason;
