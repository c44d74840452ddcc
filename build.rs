//! Compiles `proto/` with protox (no system `protoc`) into tonic services and
//! prost messages, and writes the encoded descriptor set that reflection
//! serves.

use std::{env, fs, path::PathBuf};

/// Compiled into Rust and served by reflection.
const PROTOS: &[&str] = &[
    "proto/partnership/v1/enterprise.proto",
    "proto/partnership/v1/company.proto",
    "proto/partnership/v1/sme.proto",
    "proto/partnership/v1/program.proto",
    "proto/partnership/v1/insight.proto",
    "proto/partnership/v1/journal.proto",
];

/// Served by reflection only, so tools such as grpcurl can decode the error
/// details (the Rust code uses tonic-types for them); the transcoder
/// writes them as JSON.
const REFLECTION_ONLY: &[&str] = &[
    "proto/google/rpc/status.proto",
    "proto/google/rpc/error_details.proto",
];

/// A constant of each RPC's full path (`/package.Service/Method`), in a
/// module per service: the names the code uses for methods, from the proto.
fn method_paths(fds: &prost_types::FileDescriptorSet) -> String {
    let mut out = String::new();
    for file in &fds.file {
        let package = file.package();
        for service in &file.service {
            out.push_str(&format!(
                "/// The methods of `{package}.{}`.\npub mod {} {{\n",
                service.name(),
                snake(service.name())
            ));
            for method in &service.method {
                out.push_str(&format!(
                    "    pub const {}: &str = \"/{package}.{}/{}\";\n",
                    snake(method.name()).to_uppercase(),
                    service.name(),
                    method.name()
                ));
            }
            out.push_str("}\n");
        }
    }
    out
}

/// `CreateCompany` as `create_company`.
fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // Encoded by protox itself, which keeps the methods' extension options
    // (`google.api.http`, read by the HTTP/JSON transcoder); a
    // `prost_types` set would drop them.
    let all = protox::Compiler::new(["proto"])?
        .include_source_info(true)
        .include_imports(true)
        .open_files(PROTOS.iter().chain(REFLECTION_ONLY))?
        .encode_file_descriptor_set();
    fs::write(out_dir.join("partnership_descriptor.bin"), all)?;
    fs::write(out_dir.join("methods.rs"), method_paths(&fds))?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
