//! The Kafka reader: the one place the source talks to librdkafka's consumer. It finds
//! the topics' partitions and their watermarks, assigns them (no consumer group, no
//! rebalances), polls, seeks, and reports the consumer's positions and what the brokers
//! last said about high watermarks and connectivity. It decides nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};

use super::connectivity::{Connectivity, IngestContext};
use super::partitions::StartAt;
use crate::kafka::KafkaSettings;

/// Consumer properties sessiond sets unless `--kafka-option` sets them.
///
/// - `fetch.wait.max.ms`: how long a fetch may wait for records. A broker that holds every
///   fetch for about the whole wait, records or not (tansu), makes it the time an event
///   waits before sessiond sees it: with librdkafka's default of 500 ms, about 0.5 s from
///   produce to the stream; with 20 ms, p99 about 25 ms (`cargo bench --bench live`
///   measures both). A broker that answers as soon as records arrive (Apache Kafka) only
///   sees more empty fetches while idle.
/// - `fetch.queue.backoff.ms`: how long fetching pauses once the local queue is over its
///   thresholds, as it is while catching up (the fold is slower than fetching). With
///   librdkafka's 1 s default, one run in two of 200k records through tansu stalled for
///   about a second (130k records/s instead of 320k, `cargo bench --bench ingest`).
pub const CONSUMER_DEFAULTS: [(&str, &str); 2] = [
    ("fetch.wait.max.ms", "20"),
    ("fetch.queue.backoff.ms", "20"),
];

/// How long a metadata, watermark or seek call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A consumer of every partition of some topics, by assignment.
pub struct KafkaReader {
    consumer: BaseConsumer<IngestContext>,
    connectivity: Arc<Connectivity>,
    brokers: String,
    topics: Vec<String>,
}

impl std::fmt::Debug for KafkaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaReader")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl KafkaReader {
    /// Creates the consumer; nothing is fetched until partitions are assigned.
    pub fn new(settings: &KafkaSettings, topics: Vec<String>) -> Result<Self, KafkaError> {
        let context = IngestContext::default();
        let connectivity = Arc::clone(&context.connectivity);
        let mut client = settings.client_config();
        for (key, value) in CONSUMER_DEFAULTS {
            if client.get(key).is_none() {
                client.set(key, value);
            }
        }
        let consumer: BaseConsumer<IngestContext> = client
            // Assigned partitions, no group: positions live in the fold's checkpoint, not
            // in committed offsets.
            .set("group.id", "sessiond")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            // Always (librdkafka's default too, but not left to an option): events of an
            // aborted transaction must never apply. Reading stops at the last stable
            // offset, so an open transaction holds back what follows it, seen as lag.
            .set("isolation.level", "read_committed")
            .set("statistics.interval.ms", "1000")
            .create_with_context(context)?;
        Ok(Self {
            consumer,
            connectivity,
            brokers: settings.brokers.clone(),
            topics,
        })
    }

    /// The topics, in the configured order.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Each topic's partition count, or why it cannot be had.
    pub fn partition_counts(&self) -> Result<Vec<i32>, String> {
        self.topics
            .iter()
            .map(|topic| {
                let metadata = self
                    .consumer
                    .fetch_metadata(Some(topic), CALL_TIMEOUT)
                    .map_err(|e| format!("no metadata from {}: {e}", self.brokers))?;
                let t = metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic)
                    .ok_or_else(|| format!("topic {topic} not found"))?;
                if let Some(error) = t.error() {
                    return Err(format!("topic {topic}: {error:?}"));
                }
                match i32::try_from(t.partitions().len()) {
                    Ok(0) | Err(_) => Err(format!("topic {topic} has no partitions")),
                    Ok(n) => Ok(n),
                }
            })
            .collect()
    }

    /// For every partition of each topic, its (low, high) watermarks now.
    pub fn watermarks(&self, counts: &[i32]) -> Result<Vec<Vec<(i64, i64)>>, String> {
        self.topics
            .iter()
            .zip(counts)
            .map(|(topic, &count)| {
                (0..count)
                    .map(|p| {
                        self.consumer
                            .fetch_watermarks(topic, p, CALL_TIMEOUT)
                            .map_err(|e| format!("no end offsets for {topic}/{p}: {e}"))
                    })
                    .collect()
            })
            .collect()
    }

    /// Assigns exactly these partitions, each from where it says.
    pub fn assign(&self, starts: &[(String, i32, StartAt)]) -> KafkaResult<()> {
        self.consumer.assign(&list(starts))
    }

    /// Adds these partitions to the assignment, each from where it says.
    pub fn add(&self, starts: &[(String, i32, StartAt)]) -> KafkaResult<()> {
        if starts.is_empty() {
            return Ok(());
        }
        self.consumer.incremental_assign(&list(starts))
    }

    /// The next record or event, waiting at most `timeout`.
    pub fn poll(&self, timeout: Duration) -> Option<KafkaResult<BorrowedMessage<'_>>> {
        self.consumer.poll(timeout)
    }

    /// Reads a partition again from `offset`.
    pub fn seek(&self, topic: &str, partition: i32, offset: i64) -> KafkaResult<()> {
        self.consumer
            .seek(topic, partition, Offset::Offset(offset), CALL_TIMEOUT)
    }

    /// The consumer's position (last record handed out + 1) of every assigned partition
    /// that has one.
    pub fn positions(&self) -> Vec<(String, i32, i64)> {
        let Ok(list) = self.consumer.position() else {
            return Vec::new();
        };
        list.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(next) => Some((e.topic().to_owned(), e.partition(), next)),
                _ => None,
            })
            .collect()
    }

    /// The high watermark the brokers last reported for a partition.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.connectivity.high_watermark(topic, partition)
    }

    /// Whether a broker is up, and since when that has been so.
    pub fn connected(&self) -> (bool, Instant) {
        self.connectivity.state()
    }

    /// Why the brokers refused us (credentials or the TLS handshake), while no broker is
    /// up.
    pub fn auth_failure(&self) -> Option<String> {
        self.connectivity.auth_failure()
    }

    /// Waits `wait` while serving the client's callbacks (statistics, errors), which only
    /// run when the consumer is polled: for waiting before partitions are assigned, when
    /// no record can come.
    pub fn idle(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            // Errors reach the context's error callback before they come back here.
            let _ = self
                .consumer
                .poll(deadline.saturating_duration_since(Instant::now()));
            if Instant::now() >= deadline {
                return;
            }
        }
    }
}

fn list(starts: &[(String, i32, StartAt)]) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for (topic, partition, start) in starts {
        let offset = match start {
            StartAt::Beginning => Offset::Beginning,
            StartAt::Offset(next) => Offset::Offset(*next),
        };
        let _ = list.add_partition_offset(topic, *partition, offset);
    }
    list
}
