//! Compiles `proto/` with protox (pure Rust, no `protoc`) into prost types with the
//! proto3 JSON mapping from pbjson, so one `SessionEvent` reads as protobuf and as JSON.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/evovoice/sessions/v1/events.proto"];
    println!("cargo:rerun-if-changed=proto");

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("descriptors.bin");

    let file_descriptors = protox::compile(protos, ["proto"])?;
    let encoded = prost::Message::encode_to_vec(&file_descriptors);
    std::fs::write(&descriptor_path, &encoded)?;

    prost_build::Config::new()
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .compile_well_known_types()
        // Sorted maps keep member application data in a stable order on the wire.
        .btree_map(["."])
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_protos(&protos, &["proto"])?;

    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        // Newer producers may add fields; proto3 JSON parsers are expected to skip them.
        .ignore_unknown_fields()
        .btree_map(["."])
        .build(&[".evovoice"])?;
    Ok(())
}
