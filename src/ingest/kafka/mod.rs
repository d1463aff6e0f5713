//! The Kafka source: the consumer that feeds the fold from every partition of both topics,
//! its partition table, dead letters and connectivity, the bounded reader replay uses, and
//! the `dump` tool.

pub mod bounded;
pub mod connectivity;
pub mod consumer;
pub mod dead_letter;
pub mod dump;
pub mod partitions;
pub mod reader;
