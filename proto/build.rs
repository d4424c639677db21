//! Generates the gRPC code from proto/seshat.proto with the system's protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/seshat.proto");
    tonic_prost_build::configure().compile_protos(&["proto/seshat.proto"], &["proto"])?;
    Ok(())
}
