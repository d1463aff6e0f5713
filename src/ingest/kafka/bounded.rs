//! Reading the topics once, from the beginning to fixed end offsets: what `replay` folds.
//! The ends are the high watermarks seen at start, or earlier offsets the caller names,
//! so a replay is a fixed prefix of the log however fast producers write.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::kafka::KafkaSettings;
use crate::position::StreamName;

/// One partition's range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRange {
    /// The partition; its stream number is its index in [`Plan::partitions`].
    pub name: StreamName,
    /// The first offset still in the log.
    pub low: i64,
    /// Records before this offset are read.
    pub end: i64,
}

/// Every partition of the topics, in topic then partition order (the order the live
/// consumer numbers its streams in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The partitions and their ranges.
    pub partitions: Vec<PartitionRange>,
}

impl Plan {
    /// Records the plan will read.
    pub fn total(&self) -> u64 {
        self.partitions
            .iter()
            .map(|p| u64::try_from(p.end - p.low).unwrap_or(0))
            .sum()
    }
}

/// A record read.
#[derive(Debug)]
pub struct BoundedRecord<'a> {
    /// Its partition's stream number.
    pub stream: u32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<&'a [u8]>,
    /// Its value.
    pub payload: Option<&'a [u8]>,
}

/// Why the topics could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BoundedError {
    /// The broker refused or failed.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// A topic is missing or has no partitions.
    #[error("topic {0} not found")]
    NoTopic(String),
    /// An `--until-offsets` entry names a partition the topics do not have.
    #[error("{topic}:{partition} is not a partition of the topics read")]
    UnknownPartition {
        /// The topic named.
        topic: String,
        /// The partition named.
        partition: i32,
    },
    /// Nothing arrived for too long.
    #[error("no records for {0:?} with partitions still unread; is the broker up?")]
    Stalled(Duration),
}

const TIMEOUT: Duration = Duration::from_secs(10);
const STALL: Duration = Duration::from_secs(60);

/// Reads `topics` from the beginning: each partition up to `until` (topic, partition) →
/// offset when named there, else up to its high watermark now. Offsets beyond the high
/// watermark are clamped to it.
pub fn read(
    settings: &KafkaSettings,
    topics: &[String],
    until: &BTreeMap<(String, i32), i64>,
    on_plan: impl FnOnce(&Plan),
    mut on_record: impl FnMut(BoundedRecord<'_>),
) -> Result<Plan, BoundedError> {
    let consumer: BaseConsumer = settings
        .client_config()
        .set("group.id", "sessiond-replay")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()?;
    let plan = plan(&consumer, topics, until)?;
    on_plan(&plan);

    let mut next: Vec<i64> = plan.partitions.iter().map(|p| p.low).collect();
    let mut assignment = TopicPartitionList::new();
    for p in plan.partitions.iter().filter(|p| p.end > p.low) {
        assignment.add_partition_offset(&p.name.topic, p.name.partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let stream_of = |topic: &str, partition: i32| {
        plan.partitions
            .iter()
            .position(|p| p.name.topic == topic && p.name.partition == partition)
    };
    let done = |next: &[i64]| plan.partitions.iter().zip(next).all(|(p, n)| *n >= p.end);

    let mut last_progress = Instant::now();
    while !done(&next) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                last_progress = Instant::now();
                let Some(stream) = stream_of(message.topic(), message.partition()) else {
                    continue;
                };
                let offset = message.offset();
                if offset >= plan.partitions[stream].end {
                    next[stream] = next[stream].max(offset);
                    continue;
                }
                next[stream] = offset + 1;
                on_record(BoundedRecord {
                    stream: stream as u32,
                    offset,
                    key: message.key(),
                    payload: message.payload(),
                });
            }
            // The end signal names no topic; positions say which partitions are through
            // (past transaction markers, too, which are never delivered as records).
            Some(Err(KafkaError::PartitionEOF(_))) => {
                last_progress = Instant::now();
                if let Ok(positions) = consumer.position() {
                    for element in positions.elements() {
                        if let (Offset::Offset(at), Some(stream)) = (
                            element.offset(),
                            stream_of(element.topic(), element.partition()),
                        ) {
                            next[stream] = next[stream].max(at);
                        }
                    }
                }
            }
            Some(Err(error)) => tracing::debug!(%error, "consumer error while replaying"),
            None if last_progress.elapsed() > STALL => return Err(BoundedError::Stalled(STALL)),
            None => {}
        }
    }
    Ok(plan)
}

fn plan(
    consumer: &BaseConsumer,
    topics: &[String],
    until: &BTreeMap<(String, i32), i64>,
) -> Result<Plan, BoundedError> {
    let mut partitions = Vec::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
        let count = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len() as i32)
            .filter(|n| *n > 0)
            .ok_or_else(|| BoundedError::NoTopic(topic.clone()))?;
        for partition in 0..count {
            let (low, high) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
            let end = until
                .get(&(topic.clone(), partition))
                .map_or(high, |&u| u.clamp(low, high));
            partitions.push(PartitionRange {
                name: StreamName {
                    topic: topic.clone(),
                    partition,
                },
                low,
                end,
            });
        }
    }
    if let Some((topic, partition)) = until.keys().find(|(topic, partition)| {
        !partitions
            .iter()
            .any(|p| &p.name.topic == topic && p.name.partition == *partition)
    }) {
        return Err(BoundedError::UnknownPartition {
            topic: topic.clone(),
            partition: *partition,
        });
    }
    Ok(Plan { partitions })
}
