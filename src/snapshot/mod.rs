//! Checkpoints of the projection, so a restart does not have to refold every event from
//! the beginning: `checkpoint` is the fold's state with its stream positions and its
//! protobuf form, `store` keeps them as files in `--snapshot-dir`, and `writer` writes
//! them in the background and finds the one to start from.

pub mod checkpoint;
pub mod store;
pub mod writer;

pub use checkpoint::Checkpoint;
pub use writer::{SnapshotSettings, SnapshotWriter};
