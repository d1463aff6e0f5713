//! Sources of records for the fold: the event-log file, and Kafka.

pub mod driver;
pub mod event_log;
pub mod kafka;
