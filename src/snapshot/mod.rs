//! Checkpoints of the projection, so a restart does not have to refold every event from
//! the beginning: `store` keeps them as files in `--snapshot-dir`.

pub mod store;
