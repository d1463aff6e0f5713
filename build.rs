//! Compiles every `.proto` file under `proto/` with protox (pure Rust, no `protoc`) into
//! prost types. The `.evovoice` packages also get the proto3 JSON mapping from pbjson, so
//! one `SessionEvent` reads as protobuf and as JSON.

use std::{
    env,
    path::{Path, PathBuf},
};

/// Where the schemas live; also the import root, so imports read
/// `evovoice/sessions/v1/events.proto`.
const PROTO_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A directory makes cargo rerun on any change beneath it, new files included.
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    // Every schema is compiled, so adding a file under proto/ needs no edit here. Sorted,
    // so the descriptor set (and the generated code) does not depend on directory order.
    let mut protos = Vec::new();
    find_protos(Path::new(PROTO_ROOT), &mut protos)?;
    protos.sort();

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("descriptors.bin");

    let file_descriptors = protox::compile(&protos, [PROTO_ROOT])?;
    let encoded = prost::Message::encode_to_vec(&file_descriptors);
    std::fs::write(&descriptor_path, &encoded)?;

    prost_build::Config::new()
        .compile_well_known_types()
        // Sorted maps keep member application data in a stable order on the wire.
        .btree_map(["."])
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(file_descriptors.clone())?;

    // The service's own schemas (snapshots) refer to the platform's types in
    // `events::wire` instead of getting copies; generated apart so the copies prost makes
    // of the platform's packages here overwrite nothing.
    let own_dir = out_dir.join("own");
    std::fs::create_dir_all(&own_dir)?;
    prost_build::Config::new()
        .compile_well_known_types()
        .btree_map(["."])
        .out_dir(&own_dir)
        .extern_path(".google.protobuf", "::pbjson_types")
        .extern_path(".evovoice.sessions.v1", "crate::events::wire")
        .compile_fds(file_descriptors)?;

    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        // Newer producers may add fields; proto3 JSON parsers are expected to skip them.
        .ignore_unknown_fields()
        .btree_map(["."])
        .build(&[".evovoice"])?;
    Ok(())
}

/// Collects the `.proto` files under `dir`, at any depth.
fn find_protos(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            find_protos(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            found.push(path);
        }
    }
    Ok(())
}
