//! What this server serves: the API's services, health and reflection,
//! and the descriptor sets they are described by.

use tonic::transport::server::Router;

use super::settings::{LimitedService, MessageLimits};
use crate::api::{CompanyApi, InsightApi, ProgramApi, SmeApi};
use crate::pb;
use crate::store::Store;

/// The API's services, written once: their names (whose health follows
/// the database), their message limits, and how each is added to the
/// router.
macro_rules! api_services {
    ($($api:ident => $module:ident :: $server:ident),+ $(,)?) => {
        /// Names of the services whose health follows the database.
        pub const SERVICES: &[&str] = &[$(pb::$module::SERVICE_NAME),+];

        super::settings::limited_service!(
            $(pb::$module::$server<T>,)+
            tonic_health::pb::health_server::HealthServer<T>,
        );

        /// Adds every API service on `store` to `router`.
        pub(super) fn add_api<L>(router: Router<L>, store: &Store, limits: &MessageLimits) -> Router<L> {
            router$(.add_service(limits.apply($api::server(store.clone()))))+
        }
    };
}

api_services!(
    CompanyApi => company_service_server::CompanyServiceServer,
    SmeApi => sme_service_server::SmeServiceServer,
    ProgramApi => program_service_server::ProgramServiceServer,
    InsightApi => insight_service_server::InsightServiceServer,
);

/// Reflection v1 and v1alpha; each lists the other too, so `list` shows
/// both whichever a client speaks.
pub(super) fn reflection() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    tonic_reflection::server::Error,
> {
    // Every set this server serves (the builder keeps the first of a file
    // registered twice, such as its own reflection service's).
    let builder = || {
        pb::DESCRIPTOR_SETS
            .iter()
            .fold(tonic_reflection::server::Builder::configure(), |b, set| {
                b.register_encoded_file_descriptor_set(set)
            })
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}
