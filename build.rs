//! Compiles `proto/` with protox (no system `protoc`) into tonic services and
//! prost messages, and writes the encoded descriptor set that reflection
//! serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

/// Compiled into Rust and served by reflection.
const PROTOS: &[&str] = &[
    "proto/partnership/v1/enterprise.proto",
    "proto/partnership/v1/company.proto",
    "proto/partnership/v1/sme.proto",
    "proto/partnership/v1/program.proto",
    "proto/partnership/v1/insight.proto",
];

/// Served by reflection only, so tools such as grpcurl can decode the error
/// details; the Rust code uses tonic-types for them.
const REFLECTION_ONLY: &[&str] = &[
    "proto/google/rpc/status.proto",
    "proto/google/rpc/error_details.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let all = protox::compile(PROTOS.iter().chain(REFLECTION_ONLY), ["proto"])?;
    fs::write(
        out_dir.join("partnership_descriptor.bin"),
        all.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
