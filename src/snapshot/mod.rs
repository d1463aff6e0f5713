//! Checkpoints of the projection, so a restart does not have to refold every event from
//! the beginning: `checkpoint` is the fold's state with its stream positions and its
//! protobuf form, `store` keeps them as files in `--snapshot-dir`, `chunks` and `topic`
//! keep them as records of a compacted Kafka topic (`--checkpoint-topic`), `writer` writes
//! them in the background, and `restore` finds the one to start from.

pub mod checkpoint;
pub mod chunks;
pub mod restore;
pub mod store;
pub mod topic;
pub mod writer;

pub use checkpoint::Checkpoint;
pub use writer::{SnapshotSettings, SnapshotWriter};
