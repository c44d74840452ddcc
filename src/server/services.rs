//! What this server serves: the API's services, health and reflection,
//! and the descriptor sets they are described by.

use tonic::transport::server::Router;

use super::settings::{LimitedService, MessageLimits};
use crate::api::{
    AuditApi, ChangeFeedApi, CompanyApi, FeedSettings, InsightApi, ProgramApi, SmeApi,
};
use crate::pb;
use crate::store::Store;

/// The API's services, written once: their names (whose health follows
/// the database), their message limits, and how each is added to the
/// router.
macro_rules! api_services {
    ($($make:expr => $module:ident :: $server:ident),+ $(,)?) => {
        /// Names of the services whose health follows the database.
        pub const SERVICES: &[&str] = &[$(pb::$module::SERVICE_NAME),+];

        super::settings::limited_service!(
            $(pb::$module::$server<T>,)+
            tonic_health::pb::health_server::HealthServer<T>,
        );

        /// Adds every API service on `store` to `router`.
        pub(super) fn add_api<L>(
            router: Router<L>,
            store: &Store,
            feed: &FeedSettings,
            limits: &MessageLimits,
        ) -> Router<L> {
            router$(.add_service(limits.apply(($make)(store, feed))))+
        }
    };
}

api_services!(
    |s: &Store, _: &FeedSettings| CompanyApi::server(s.clone()) =>
        company_service_server::CompanyServiceServer,
    |s: &Store, _: &FeedSettings| SmeApi::server(s.clone()) =>
        sme_service_server::SmeServiceServer,
    |s: &Store, _: &FeedSettings| ProgramApi::server(s.clone()) =>
        program_service_server::ProgramServiceServer,
    |s: &Store, _: &FeedSettings| InsightApi::server(s.clone()) =>
        insight_service_server::InsightServiceServer,
    |s: &Store, _: &FeedSettings| AuditApi::server(s.clone()) =>
        audit_service_server::AuditServiceServer,
    |s: &Store, f: &FeedSettings| ChangeFeedApi::server(s.clone(), f.clone()) =>
        change_feed_service_server::ChangeFeedServiceServer,
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
