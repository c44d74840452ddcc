//! The gRPC services: decode the request into domain types, call the store,
//! encode the result. Nothing else happens here.

mod convert;
mod enterprise;
mod error;
mod list;
mod mask;
mod program;

pub use enterprise::{CompanyApi, SmeApi};
pub use error::{ApiError, ERROR_DOMAIN};
pub use program::ProgramApi;
