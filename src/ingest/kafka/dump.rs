//! `sessiond dump`: the topics back out as an event-log file, so a production incident can
//! be replayed locally with `serve --events`. Reads every partition to its end (leaving
//! out records after `--until`), and merges them by record timestamp, each partition in
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

use crate::events::wire;
use crate::kafka::KafkaSettings;

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
    let mut report = DumpReport::default();
    let mut read: BTreeMap<(usize, i32), PartitionLines> = BTreeMap::new();
    for (index, topic) in topics.iter().enumerate() {
        read_topic(settings, topic, index, range, &mut read, &mut report)?;
    }
    report.written = merge(read, out)?;
    out.flush()?;
    Ok(report)
}

/// Reads one topic's partitions to their ends. One consumer per topic, because the
/// end-of-partition signal names a partition number but not its topic.
fn read_topic(
    settings: &KafkaSettings,
    topic: &str,
    index: usize,
    range: &DumpRange,
    read: &mut BTreeMap<(usize, i32), PartitionLines>,
    report: &mut DumpReport,
) -> Result<(), DumpError> {
    let consumer: BaseConsumer = settings
        .client_config()
        .set("group.id", "sessiond-dump")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len() as i32)
        .filter(|n| *n > 0)
        .ok_or_else(|| DumpError::NoTopic(topic.to_owned()))?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        let start = range.from_millis.map_or(Offset::Beginning, Offset::Offset);
        assignment.add_partition_offset(topic, p, start)?;
    }
    if range.from_millis.is_some() {
        assignment = consumer.offsets_for_times(assignment, TIMEOUT)?;
    }
    consumer.assign(&assignment)?;

    // A partition is done once it has reported its end with nothing read after that;
    // records past `until` are left out.
    let mut at_end = vec![false; partitions as usize];
    let mut last_progress = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            None if at_end.iter().all(|e| *e) => return Ok(()),
            None if last_progress.elapsed() > Duration::from_secs(60) => {
                return Err(DumpError::Kafka(KafkaError::Canceled));
            }
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                if let Some(end) = at_end.get_mut(p as usize) {
                    *end = true;
                }
                last_progress = Instant::now();
            }
            Some(Err(error)) => return Err(error.into()),
            Some(Ok(message)) => {
                last_progress = Instant::now();
                let partition = message.partition();
                if let Some(end) = at_end.get_mut(partition as usize) {
                    *end = false;
                }
                let timestamp = message.timestamp().to_millis().unwrap_or(0);
                if range.until_millis.is_some_and(|until| timestamp > until) {
                    continue;
                }
                match wire::SessionEvent::decode(message.payload().unwrap_or_default()) {
                    Ok(event) => {
                        let line = serde_json::to_string(&event).map_err(std::io::Error::other)?;
                        read.entry((index, partition))
                            .or_default()
                            .push_back((timestamp, line));
                    }
                    Err(_) => report.undecodable += 1,
                }
            }
        }
    }
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
