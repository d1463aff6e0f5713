//! `sessiond dump`: the topics back out as an event-log file, so a production incident can
//! be replayed locally with `serve --events`. Reads every partition up to the end offsets
//! seen at start (or `--until`), and merges them by record timestamp, each partition in
//! its own order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaSettings;
use crate::events::wire;

/// What to dump.
#[derive(Debug, Clone)]
pub struct DumpRange {
    /// Records with a timestamp at or after this (milliseconds since the epoch), or all.
    pub from_millis: Option<i64>,
    /// Records with a timestamp at or before this (milliseconds since the epoch), or up to
    /// the end offsets seen at start.
    pub until_millis: Option<i64>,
}

/// What a dump wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpReport {
    /// Event lines written.
    pub written: u64,
    /// Records that are not a `SessionEvent`, left out (the dead-letter topics have them).
    pub undecodable: u64,
}

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The broker could not be asked or read.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// Writing the output failed.
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
    /// A topic has no partitions (or does not exist).
    #[error("topic {0} not found")]
    NoTopic(String),
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// A partition's decoded records, in offset order: (timestamp, JSON line).
type PartitionLines = std::collections::VecDeque<(i64, String)>;

/// Writes the topics' events in `range` to `out`, one JSON line each.
pub fn dump(
    settings: &KafkaSettings,
    topics: &[String],
    range: &DumpRange,
    out: &mut impl Write,
) -> Result<DumpReport, DumpError> {
    let consumer: BaseConsumer = settings
        .client_config()
        .set("group.id", "sessiond-dump")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?;
    let mut ends = Vec::new();
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len() as i32)
            .filter(|n| *n > 0)
            .ok_or_else(|| DumpError::NoTopic(topic.clone()))?;
        for p in 0..partitions {
            let (low, high) = consumer.fetch_watermarks(topic, p, TIMEOUT)?;
            if high > low {
                ends.push((topic.clone(), p, high));
                let start = match range.from_millis {
                    Some(ms) => Offset::Offset(ms),
                    None => Offset::Beginning,
                };
                assignment.add_partition_offset(topic, p, start)?;
            }
        }
    }
    if range.from_millis.is_some() && assignment.count() > 0 {
        assignment = consumer.offsets_for_times(assignment, TIMEOUT)?;
    }
    // A partition with nothing at or after `from` comes back at its end: nothing to read.
    let mut remaining: Vec<(String, i32, i64)> = ends
        .into_iter()
        .filter(
            |(t, p, high)| match assignment.find_partition(t, *p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o < *high,
                Some(Offset::End) => false,
                _ => true,
            },
        )
        .collect();
    consumer.assign(&assignment)?;

    let mut report = DumpReport::default();
    let mut read: BTreeMap<(usize, i32), PartitionLines> = BTreeMap::new();
    let mut idle_since = Instant::now();
    while !remaining.is_empty() {
        let Some(result) = consumer.poll(Duration::from_millis(200)) else {
            if idle_since.elapsed() > Duration::from_secs(60) {
                return Err(DumpError::Kafka(KafkaError::Canceled));
            }
            continue;
        };
        idle_since = Instant::now();
        let message = result?;
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        let Some(slot) = remaining
            .iter()
            .position(|(t, p, _)| t == topic && *p == partition)
        else {
            continue;
        };
        let high = remaining[slot].2;
        let timestamp = message.timestamp().to_millis().unwrap_or(0);
        let past_until = range.until_millis.is_some_and(|until| timestamp > until);
        if offset + 1 >= high || past_until {
            remaining.swap_remove(slot);
            if past_until || offset >= high {
                continue;
            }
        }
        match wire::SessionEvent::decode(message.payload().unwrap_or_default()) {
            Ok(event) => {
                let line = serde_json::to_string(&event).map_err(std::io::Error::other)?;
                let topic_index = topics.iter().position(|t| t == topic).unwrap_or(usize::MAX);
                read.entry((topic_index, partition))
                    .or_default()
                    .push_back((timestamp, line));
            }
            Err(_) => report.undecodable += 1,
        }
    }
    report.written = merge(read, out)?;
    out.flush()?;
    Ok(report)
}

/// Writes the partitions' lines merged by timestamp; each partition keeps its own order
/// even where its timestamps go backwards.
fn merge(
    mut read: BTreeMap<(usize, i32), PartitionLines>,
    out: &mut impl Write,
) -> std::io::Result<u64> {
    let mut heads: BinaryHeap<Reverse<(i64, (usize, i32))>> = read
        .iter()
        .filter_map(|(key, lines)| lines.front().map(|(ts, _)| Reverse((*ts, *key))))
        .collect();
    let mut written = 0;
    while let Some(Reverse((_, key))) = heads.pop() {
        let Some(lines) = read.get_mut(&key) else {
            continue;
        };
        if let Some((_, line)) = lines.pop_front() {
            writeln!(out, "{line}")?;
            written += 1;
        }
        if let Some((ts, _)) = lines.front() {
            heads.push(Reverse((*ts, key)));
        }
    }
    Ok(written)
}
