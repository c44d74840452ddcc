//! The partnership service: records of cooperation between Korea's large
//! companies and SMEs, served over gRPC.

pub mod api;
pub mod auth;
pub mod config;
pub mod domain;
pub mod generate;
pub mod metrics;
pub mod rest;
pub mod seed;
pub mod server;
pub mod store;
pub mod telemetry;

/// Code generated from `proto/` by `build.rs`.
pub mod pb {
    pub mod google {
        pub mod r#type {
            tonic::include_proto!("google.r#type");
        }
    }
    pub mod partnership {
        pub mod v1 {
            tonic::include_proto!("partnership.v1");
        }
    }
    pub use partnership::v1::*;

    /// The full path of every RPC, by service, generated from the proto.
    pub mod methods {
        include!(concat!(env!("OUT_DIR"), "/methods.rs"));
    }

    /// Encoded descriptors of `proto/`, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/partnership_descriptor.bin"));

    /// Every descriptor set the server serves (the API, health and
    /// reflection): what reflection lists and the method names metrics and
    /// access control know.
    pub const DESCRIPTOR_SETS: [&[u8]; 4] = [
        FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
}
