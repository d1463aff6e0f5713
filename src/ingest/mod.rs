//! Sources of events for the fold: the event-log file now, Kafka later.

pub mod event_log;
pub mod kafka;
