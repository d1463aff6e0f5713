//! Reading the topics once, from the beginning to fixed end offsets: what `replay` folds.
//! The ends are the high watermarks seen at start, earlier offsets the caller names, or
//! the first records stamped after a time (found by the broker's timestamp index), so a
//! replay is a fixed prefix of the log however fast producers write.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::events::decode::{Decoded, decode_record};
use crate::kafka::KafkaSettings;
use crate::position::StreamName;
use crate::time::EventTime;

/// One partition's range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRange {
    /// The partition; its stream number is its index in [`Plan::partitions`].
    pub name: StreamName,
    /// The first offset still in the log.
    pub low: i64,
    /// Records before this offset are read.
    pub end: i64,
    /// The high watermark seen at start.
    pub high: i64,
}

/// Where each partition's read ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ends {
    /// The high watermarks seen at start.
    #[default]
    HighWatermarks,
    /// (topic, partition) → offset for the partitions named (clamped to the high
    /// watermark); the high watermarks seen at start for the others.
    Offsets(BTreeMap<(String, i32), i64>),
    /// Before the first record stamped later than `millis` (milliseconds since the
    /// epoch), or the high watermark where there is none; but to the high watermark
    /// where the first record past that end is not an event that occurred after `until`
    /// (the partition's record timestamps do not follow its events' times, as when an
    /// old event log was produced today).
    StampedAfter {
        /// The record timestamp bound.
        millis: i64,
        /// The event-time cutoff the bound was derived from.
        until: EventTime,
    },
}

/// How the ends of an [`Ends::StampedAfter`] read were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeLookup {
    /// No time bound was asked for.
    NotAsked,
    /// The broker's timestamp index gave every partition's end, except for these
    /// partitions, read to their high watermarks because the first record past the
    /// looked-up end was not an event after the cutoff.
    Found {
        /// The partitions read to the end after all.
        extended: Vec<StreamName>,
    },
    /// The broker could not look up timestamps (librdkafka's mock cluster, an old
    /// broker): every partition is read to its high watermark instead.
    Unavailable(String),
}

/// Every partition of the topics, in topic then partition order (the order the live
/// consumer numbers its streams in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The partitions and their ranges.
    pub partitions: Vec<PartitionRange>,
    /// Whether a time bound came from the broker's timestamp index.
    pub time_lookup: TimeLookup,
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
    /// Its timestamp (milliseconds since the epoch), when it has one.
    pub timestamp: Option<i64>,
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

/// Reads `topics` from the beginning, each partition up to its end as `ends` says.
pub fn read(
    settings: &KafkaSettings,
    topics: &[String],
    ends: &Ends,
    on_plan: impl FnOnce(&Plan),
    mut on_record: impl FnMut(BoundedRecord<'_>),
) -> Result<Plan, BoundedError> {
    let consumer: BaseConsumer = settings
        .client_config()
        .set("group.id", "sessiond-replay")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()?;
    let mut plan = plan(&consumer, topics, ends)?;
    on_plan(&plan);
    let until = match ends {
        Ends::StampedAfter { until, .. } => Some(*until),
        _ => None,
    };
    // A time-bounded partition that stops short of its high watermark must see the first
    // record past its end before it is done, to check that record occurred after `until`.
    let mut unchecked: Vec<bool> = plan
        .partitions
        .iter()
        .map(|p| until.is_some() && p.end < p.high)
        .collect();

    let mut next: Vec<i64> = plan.partitions.iter().map(|p| p.low).collect();
    let mut assignment = TopicPartitionList::new();
    for (p, unchecked) in plan.partitions.iter().zip(&unchecked) {
        if p.end > p.low || *unchecked {
            assignment.add_partition_offset(&p.name.topic, p.name.partition, Offset::Beginning)?;
        }
    }
    consumer.assign(&assignment)?;
    let stream_of = |plan: &Plan, topic: &str, partition: i32| {
        plan.partitions
            .iter()
            .position(|p| p.name.topic == topic && p.name.partition == partition)
    };
    let done = |plan: &Plan, next: &[i64], unchecked: &[bool]| {
        plan.partitions
            .iter()
            .zip(next)
            .zip(unchecked)
            .all(|((p, n), u)| *n >= p.end && !u)
    };

    let mut last_progress = Instant::now();
    while !done(&plan, &next, &unchecked) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                last_progress = Instant::now();
                let Some(stream) = stream_of(&plan, message.topic(), message.partition()) else {
                    continue;
                };
                let offset = message.offset();
                let range = &mut plan.partitions[stream];
                if offset >= range.end && unchecked[stream] {
                    unchecked[stream] = false;
                    let after = matches!(
                        decode_record(message.payload().unwrap_or_default(), message.key()),
                        Decoded::Event(event) if until.is_some_and(|t| event.occurred_at > t)
                    );
                    if !after {
                        range.end = range.high;
                        if let TimeLookup::Found { extended } = &mut plan.time_lookup {
                            extended.push(range.name.clone());
                        }
                    }
                }
                if offset >= range.end {
                    next[stream] = next[stream].max(offset);
                    continue;
                }
                next[stream] = offset + 1;
                on_record(BoundedRecord {
                    stream: stream as u32,
                    offset,
                    timestamp: message.timestamp().to_millis(),
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
                            stream_of(&plan, element.topic(), element.partition()),
                        ) {
                            next[stream] = next[stream].max(at);
                            // Past its high watermark with no record seen: only markers
                            // (an aborted transaction's records) were left.
                            if at >= plan.partitions[stream].high {
                                unchecked[stream] = false;
                            }
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

fn plan(consumer: &BaseConsumer, topics: &[String], ends: &Ends) -> Result<Plan, BoundedError> {
    let no_offsets = BTreeMap::new();
    let until = match ends {
        Ends::Offsets(offsets) => offsets,
        _ => &no_offsets,
    };
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
                high,
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
    let time_lookup = match ends {
        Ends::StampedAfter { millis, .. } => match stamped_after(consumer, &partitions, *millis) {
            Ok(firsts) => {
                for (range, first) in partitions.iter_mut().zip(firsts) {
                    if let Some(first) = first {
                        range.end = first.clamp(range.low, range.end);
                    }
                }
                TimeLookup::Found {
                    extended: Vec::new(),
                }
            }
            Err(error) => TimeLookup::Unavailable(error.to_string()),
        },
        _ => TimeLookup::NotAsked,
    };
    Ok(Plan {
        partitions,
        time_lookup,
    })
}

/// Each partition's first offset stamped later than `millis` (`None`: no such record).
fn stamped_after(
    consumer: &BaseConsumer,
    partitions: &[PartitionRange],
    millis: i64,
) -> Result<Vec<Option<i64>>, KafkaError> {
    let mut query = TopicPartitionList::new();
    for p in partitions {
        // The broker answers with the first offset stamped at or after the target.
        query.add_partition_offset(
            &p.name.topic,
            p.name.partition,
            Offset::Offset(millis.saturating_add(1)),
        )?;
    }
    let answer = consumer.offsets_for_times(query, TIMEOUT)?;
    partitions
        .iter()
        .map(|p| {
            let element = answer
                .find_partition(&p.name.topic, p.name.partition)
                .ok_or(KafkaError::OffsetFetch(
                    rdkafka::types::RDKafkaErrorCode::UnknownPartition,
                ))?;
            element.error()?;
            Ok(match element.offset() {
                Offset::Offset(first) => Some(first),
                _ => None,
            })
        })
        .collect()
}
