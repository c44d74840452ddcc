//! The partnership service: records of cooperation between Korea's large
//! companies and SMEs, served over gRPC.

pub mod api;
pub mod auth;
pub mod config;
pub mod domain;
pub mod generate;
pub mod metrics;
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

    /// Encoded descriptors of `proto/`, for reflection.
    /// The full path of every RPC, by service, generated from the proto.
    pub mod methods {
        include!(concat!(env!("OUT_DIR"), "/methods.rs"));
    }

    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/partnership_descriptor.bin"));
}
