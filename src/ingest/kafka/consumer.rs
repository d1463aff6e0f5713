//! The Kafka source: every partition of the configured topics, assigned (no consumer group,
//! no rebalances), read from the beginning in order and applied through the same
//! validation and fold as the event-log file, with (topic, partition, offset) as position.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::connectivity::{Connectivity, IngestContext};
use super::dead_letter::{DeadLetters, Origin};
use super::{KafkaSettings, admin};
use crate::events::decode::{Decoded, decode_record};
use crate::live::FeedBarrier;
use crate::live::feed::FeedShared;
use crate::projection::{Fold, Position};
use crate::readiness::Readiness;
use crate::snapshot::{Checkpoint, SavedStream, SnapshotWriter};
use crate::status::{Status, StreamName, StreamPosition};
use crate::telemetry;

/// How the Kafka source runs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Brokers and client properties.
    pub kafka: KafkaSettings,
    /// Topics to read (call and member topics).
    pub topics: Vec<String>,
    /// Dead-letter topics are `<topic><suffix>`; `None` turns dead letters off.
    pub dead_letter_suffix: Option<String>,
    /// After catching up, more unread records than this makes the replica stale.
    pub max_lag: u64,
    /// After catching up, this long without a broker makes the replica stale.
    pub stale_after: Duration,
    /// How often to look for partitions added to the topics.
    pub metadata_refresh: Duration,
}

/// What the source has seen, besides what the fold counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Records read.
    pub records: u64,
    /// Bad records, by reason code.
    pub bad: BTreeMap<&'static str, u64>,
    /// Records of kinds this schema does not know.
    pub unknown_kinds: u64,
    /// Bad records copied to a dead-letter topic.
    pub dead_lettered: u64,
}

/// Why the source could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// librdkafka refused the client configuration.
    #[error("creating the Kafka consumer: {0}")]
    Client(#[from] KafkaError),
}

/// One partition's progress.
#[derive(Debug, Clone, Copy)]
struct PartitionState {
    stream: u32,
    /// The offset of the next record to read.
    next_offset: i64,
    /// The high watermark seen at start: reaching it is catching up.
    start_high: i64,
}

/// The Kafka source, owning the fold while it runs.
pub struct KafkaIngest {
    config: IngestConfig,
    consumer: BaseConsumer<IngestContext>,
    connectivity: Arc<Connectivity>,
    readiness: Arc<Readiness>,
    status: Arc<Status>,
    caught_up: bool,
    state: SourceState,
    /// Where a restored checkpoint left each partition: (topic, partition) → (stream,
    /// next offset).
    resume: HashMap<(String, i32), (u32, i64)>,
    snapshots: Option<(SnapshotWriter, Duration)>,
    feed: Option<Arc<FeedShared>>,
}

/// What reading records changes; apart from the consumer, which lends the records.
struct SourceState {
    topics: Vec<String>,
    /// By topic index (as in `topics`), then partition id.
    partitions: Vec<Vec<PartitionState>>,
    next_stream: u32,
    fold: Fold,
    dead_letters: Option<DeadLetters>,
    stats: IngestStats,
}

impl std::fmt::Debug for KafkaIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaIngest")
            .field("topics", &self.config.topics)
            .field("stats", &self.state.stats)
            .finish_non_exhaustive()
    }
}

const POLL_TIMEOUT: Duration = Duration::from_millis(100);
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
const TICK: Duration = Duration::from_millis(250);
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

impl KafkaIngest {
    /// Creates the consumer (and the dead-letter producer); nothing is fetched yet.
    pub fn new(
        config: IngestConfig,
        fold: Fold,
        readiness: Arc<Readiness>,
        status: Arc<Status>,
    ) -> Result<Self, IngestError> {
        let context = IngestContext::default();
        let connectivity = Arc::clone(&context.connectivity);
        let mut client = config.kafka.client_config();
        for (key, value) in CONSUMER_DEFAULTS {
            if client.get(key).is_none() {
                client.set(key, value);
            }
        }
        let consumer: BaseConsumer<IngestContext> = client
            // Assigned partitions, no group: positions live in the fold's snapshot, not in
            // committed offsets.
            .set("group.id", "sessiond")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", "1000")
            .create_with_context(context)?;
        let dead_letters = match &config.dead_letter_suffix {
            Some(suffix) => Some(DeadLetters::new(&config.kafka, suffix)?),
            None => None,
        };
        Ok(Self {
            state: SourceState {
                topics: config.topics.clone(),
                partitions: Vec::new(),
                next_stream: 0,
                fold,
                dead_letters,
                stats: IngestStats::default(),
            },
            config,
            consumer,
            connectivity,
            readiness,
            status,
            caught_up: false,
            resume: HashMap::new(),
            snapshots: None,
            feed: None,
        })
    }

    /// Resumes each saved partition from its saved offset, under its saved stream number,
    /// as the fold restored from the same checkpoint expects.
    pub fn resume_from(mut self, streams: &[SavedStream]) -> Self {
        self.resume = streams
            .iter()
            .enumerate()
            .map(|(stream, s)| {
                (
                    (s.name.topic.clone(), s.name.partition),
                    (stream as u32, s.next_offset),
                )
            })
            .collect();
        self.state.next_stream = streams.len() as u32;
        self
    }

    /// Hands a checkpoint to `writer` every `interval`, and a last one on shutdown.
    pub fn snapshot_with(mut self, writer: SnapshotWriter, interval: Duration) -> Self {
        self.snapshots = Some((writer, interval));
        self
    }

    /// Makes snapshots wait for this change feed to deliver what they contain.
    pub fn with_feed(mut self, feed: Arc<FeedShared>) -> Self {
        self.feed = Some(feed);
        self
    }

    fn feed_barrier(&self) -> Option<FeedBarrier> {
        self.feed.as_ref().map(FeedShared::barrier)
    }

    /// The fold's state and every partition's position, as one unit.
    fn checkpoint(&self) -> Checkpoint {
        let mut streams: Vec<(u32, SavedStream)> = self
            .state
            .topics
            .iter()
            .zip(&self.state.partitions)
            .flat_map(|(topic, parts)| {
                parts.iter().enumerate().map(move |(p, part)| {
                    (
                        part.stream,
                        SavedStream {
                            name: StreamName {
                                topic: topic.clone(),
                                partition: p as i32,
                            },
                            next_offset: part.next_offset,
                        },
                    )
                })
            })
            .collect();
        streams.sort_by_key(|(stream, _)| *stream);
        let taken_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Checkpoint {
            streams: streams.into_iter().map(|(_, s)| s).collect(),
            image: self.state.fold.image(),
            taken_at,
        }
    }

    /// What the source has seen so far.
    pub fn stats(&self) -> &IngestStats {
        &self.state.stats
    }

    /// The fold, for its counters and projection.
    pub fn fold(&self) -> &Fold {
        &self.state.fold
    }

    /// Runs until `stop` is set: discovers partitions (waiting for brokers and topics as
    /// long as it takes), then reads and folds. Returns the fold and the counters.
    pub fn run(mut self, stop: &AtomicBool) -> (Fold, IngestStats) {
        self.discover(stop);
        self.ensure_dead_letter_topics();
        // At once, not a tick later: a replica restored from a snapshot at the topics' end
        // is ready now.
        self.tick();
        let mut last_tick = Instant::now();
        let mut last_refresh = Instant::now();
        let mut last_snapshot = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            match self.consumer.poll(POLL_TIMEOUT) {
                Some(Ok(message)) => self.state.handle(&detach(&message)),
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    if let Ok(positions) = self.consumer.position() {
                        self.state.sync_positions(&positions);
                    }
                }
                Some(Err(error)) => tracing::debug!(%error, "consumer error"),
                // Idle: a good moment to make `/admin/state` exact.
                None => self.publish_status(),
            }
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                self.tick();
            }
            if last_refresh.elapsed() >= self.config.metadata_refresh {
                last_refresh = Instant::now();
                self.add_new_partitions();
            }
            if let Some((writer, interval)) = &self.snapshots
                && last_snapshot.elapsed() >= *interval
            {
                last_snapshot = Instant::now();
                let started = Instant::now();
                let checkpoint = self.checkpoint();
                tracing::debug!(took = ?started.elapsed(), "took a checkpoint");
                writer.offer(checkpoint, self.feed_barrier());
            }
        }
        if let Some((writer, _)) = self.snapshots.take() {
            // Only a fold that discovered its partitions has positions worth saving.
            if !self.state.partitions.is_empty() {
                writer.finish(self.checkpoint(), self.feed_barrier());
            }
        }
        if let Some(dead_letters) = &self.state.dead_letters {
            dead_letters.flush(Duration::from_secs(10));
        }
        (self.state.fold, self.state.stats)
    }

    /// Waits for the topics, notes each partition's end offsets, and assigns them all from
    /// the beginning.
    fn discover(&mut self, stop: &AtomicBool) {
        let mut backoff = Duration::from_millis(200);
        let mut last_problem = String::new();
        while !stop.load(Ordering::Relaxed) {
            match self
                .partition_counts()
                .and_then(|counts| self.start_offsets(&counts))
            {
                Ok(starts) => {
                    self.assign(starts);
                    tracing::info!(
                        topics = ?self.config.topics,
                        partitions = self.state.partitions.iter().map(Vec::len).sum::<usize>(),
                        "assigned every partition from the beginning"
                    );
                    return;
                }
                Err(problem) => {
                    if problem != last_problem {
                        tracing::warn!(%problem, "waiting for the brokers and topics; retrying with backoff");
                        last_problem = problem.clone();
                    }
                    self.readiness.set_loading(format!("loading: {problem}"));
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Creates the dead-letter topics that do not exist yet, in the background so reading
    /// starts at once; a broker that refuses is logged, and dead letters then wait in
    /// librdkafka's queue until someone creates the topics.
    fn ensure_dead_letter_topics(&self) {
        let Some(dead_letters) = &self.state.dead_letters else {
            return;
        };
        let topics: Vec<String> = self
            .config
            .topics
            .iter()
            .map(|t| dead_letters.topic_for(t))
            .collect();
        let settings = self.config.kafka.clone();
        let spawned = std::thread::Builder::new().name("sessiond-dlq-topics".into()).spawn(move || {
            let created = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|rt| rt.block_on(admin::ensure_topics(&settings, &topics, 1)).map_err(|e| e.to_string()));
            if let Err(error) = created {
                tracing::warn!(%error, ?topics, "could not make sure the dead-letter topics exist");
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "could not start creating the dead-letter topics");
        }
    }

    /// Each topic's partition count, or why it cannot be had.
    fn partition_counts(&self) -> Result<Vec<i32>, String> {
        self.config
            .topics
            .iter()
            .map(|topic| {
                let metadata = self
                    .consumer
                    .fetch_metadata(Some(topic), METADATA_TIMEOUT)
                    .map_err(|e| format!("no metadata from {}: {e}", self.config.kafka.brokers))?;
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

    /// For every partition, its (low, high) watermarks at start.
    fn start_offsets(&self, counts: &[i32]) -> Result<Vec<Vec<(i64, i64)>>, String> {
        self.config
            .topics
            .iter()
            .zip(counts)
            .map(|(topic, &count)| {
                (0..count)
                    .map(|p| {
                        self.consumer
                            .fetch_watermarks(topic, p, METADATA_TIMEOUT)
                            .map_err(|e| format!("no end offsets for {topic}/{p}: {e}"))
                    })
                    .collect()
            })
            .collect()
    }

    fn assign(&mut self, starts: Vec<Vec<(i64, i64)>>) {
        let mut list = TopicPartitionList::new();
        let state = &mut self.state;
        let resume = &self.resume;
        state.partitions = starts
            .into_iter()
            .enumerate()
            .map(|(t, offsets)| {
                offsets
                    .into_iter()
                    .enumerate()
                    .map(|(p, (low, high))| {
                        let key = (state.topics[t].clone(), p as i32);
                        let (stream, offset, next_offset) = match resume.get(&key) {
                            Some(&(stream, next)) => (stream, Offset::Offset(next), next),
                            None => {
                                let stream = state.next_stream;
                                state.next_stream += 1;
                                (stream, Offset::Beginning, low)
                            }
                        };
                        let _ = list.add_partition_offset(&state.topics[t], p as i32, offset);
                        PartitionState {
                            stream,
                            next_offset,
                            start_high: high,
                        }
                    })
                    .collect()
            })
            .collect();
        if let Err(error) = self.consumer.assign(&list) {
            tracing::error!(%error, "assigning partitions failed");
        }
    }

    /// Assigns partitions added to the topics since start, from their beginning.
    fn add_new_partitions(&mut self) {
        let Ok(counts) = self.partition_counts() else {
            return;
        };
        let mut list = TopicPartitionList::new();
        let state = &mut self.state;
        for (t, &count) in counts.iter().enumerate() {
            let Some(known) = state.partitions.get_mut(t) else {
                continue;
            };
            for p in known.len() as i32..count {
                let _ = list.add_partition_offset(&self.config.topics[t], p, Offset::Beginning);
                known.push(PartitionState {
                    stream: state.next_stream,
                    next_offset: 0,
                    start_high: 0,
                });
                state.next_stream += 1;
                tracing::info!(topic = %self.config.topics[t], partition = p, "assigned a new partition");
            }
        }
        if list.count() > 0
            && let Err(error) = self.consumer.incremental_assign(&list)
        {
            tracing::error!(%error, "assigning new partitions failed");
        }
    }

    /// Publishes the counters and each partition's position, end and lag.
    fn publish(&self) {
        self.publish_status();
        telemetry::publish_fold(&self.state.fold);
        telemetry::publish_ingest(&self.state.stats);
        for (topic, parts) in self.config.topics.iter().zip(&self.state.partitions) {
            for (p, state) in parts.iter().enumerate() {
                let high = self
                    .connectivity
                    .high_watermark(topic, p as i32)
                    .unwrap_or(state.start_high)
                    .max(state.next_offset);
                telemetry::publish_partition(topic, p as i32, state.next_offset, high);
            }
        }
    }

    /// Tells `/admin/state` where each partition stands and what the fold has counted.
    fn publish_status(&self) {
        let state = &self.state;
        let mut names = Vec::new();
        let mut positions = Vec::new();
        for (topic, parts) in state.topics.iter().zip(&state.partitions) {
            for (p, part) in parts.iter().enumerate() {
                let name = StreamName {
                    topic: topic.clone(),
                    partition: p as i32,
                };
                positions.push((
                    part.stream,
                    StreamPosition {
                        name: name.clone(),
                        next_offset: part.next_offset,
                    },
                ));
                names.push((part.stream, name));
            }
        }
        names.sort_by_key(|(stream, _)| *stream);
        positions.sort_by_key(|(stream, _)| *stream);
        self.status
            .set_streams(names.into_iter().map(|(_, name)| name).collect());
        self.status.update(|r| {
            r.take_fold(&state.fold);
            r.positions = positions.into_iter().map(|(_, p)| p).collect();
            r.ingest.clone_from(&state.stats);
        });
    }

    /// Updates readiness: caught up to the end offsets seen at start, then fresh or stale.
    fn tick(&mut self) {
        self.publish();
        let (connected, since) = self.connectivity.state();
        let no_broker = (!connected && since.elapsed() >= self.config.stale_after)
            .then(|| format!("no broker for {}s", since.elapsed().as_secs()));
        if !self.caught_up {
            let (behind, remaining) = self.state.behind_start();
            if behind == 0 {
                self.caught_up = true;
                tracing::info!(
                    active_sessions = self.state.fold.projection().len(),
                    records = self.state.stats.records,
                    "caught up with the end offsets seen at start"
                );
                self.readiness.set_ready();
            } else {
                let mut detail = format!(
                    "loading: {behind} partitions behind the end offsets seen at start ({remaining} records to go)"
                );
                if let Some(no_broker) = no_broker {
                    detail.push_str(&format!("; {no_broker}"));
                }
                self.readiness.set_loading(detail);
            }
            return;
        }
        let lag = self.state.lag(&self.connectivity);
        let reason = no_broker.or_else(|| {
            (lag > self.config.max_lag)
                .then(|| format!("behind by {lag} records (max {})", self.config.max_lag))
        });
        let was_stale = self.readiness.stale_reason().is_some();
        match reason {
            Some(reason) => {
                if !was_stale {
                    tracing::warn!(%reason, "stale: serving the last state");
                }
                self.readiness.set_stale(reason);
            }
            None => {
                if was_stale {
                    tracing::info!(lag, "fresh again");
                }
                self.readiness.set_ready();
            }
        }
    }
}

impl SourceState {
    fn handle(&mut self, message: &Record<'_>) {
        self.stats.records += 1;
        let Some(t) = self.topics.iter().position(|t| t == message.topic) else {
            return;
        };
        let Some(state) = self.partitions[t].get_mut(message.partition as usize) else {
            return;
        };
        state.next_offset = message.offset + 1;
        let position = Position {
            stream: state.stream,
            offset: message.offset,
        };
        match decode_record(message.payload.unwrap_or_default(), message.key) {
            Decoded::Event(event) => {
                self.fold.apply(event, position);
            }
            Decoded::UnknownKind => self.stats.unknown_kinds += 1,
            Decoded::Bad(reason) => {
                *self.stats.bad.entry(reason.code()).or_default() += 1;
                tracing::warn!(
                    topic = message.topic,
                    partition = message.partition,
                    offset = message.offset,
                    %reason,
                    "skipped a bad record"
                );
                if let Some(dead_letters) = &self.dead_letters {
                    let origin = Origin {
                        topic: message.topic,
                        partition: message.partition,
                        offset: message.offset,
                    };
                    dead_letters.send(
                        origin,
                        message.key,
                        message.payload,
                        message.headers,
                        &reason,
                    );
                    self.stats.dead_lettered += 1;
                }
            }
        }
    }

    /// Takes the consumer's positions (last read + 1): at a partition's end they can be past
    /// the last record's offset (transaction markers, for one).
    fn sync_positions(&mut self, positions: &TopicPartitionList) {
        for element in positions.elements() {
            let (Offset::Offset(next), Some(t)) = (
                element.offset(),
                self.topics.iter().position(|t| t == element.topic()),
            ) else {
                continue;
            };
            if let Some(state) = self.partitions[t].get_mut(element.partition() as usize) {
                state.next_offset = state.next_offset.max(next);
            }
        }
    }

    fn behind_start(&self) -> (usize, i64) {
        self.partitions
            .iter()
            .flatten()
            .filter(|p| p.next_offset < p.start_high)
            .fold((0, 0), |(n, records), p| {
                (n + 1, records + (p.start_high - p.next_offset))
            })
    }

    /// Records not yet read, by the high watermarks librdkafka last reported.
    fn lag(&self, connectivity: &Connectivity) -> u64 {
        self.topics
            .iter()
            .zip(&self.partitions)
            .flat_map(|(topic, parts)| {
                parts.iter().enumerate().map(move |(p, state)| {
                    let high = connectivity
                        .high_watermark(topic, p as i32)
                        .unwrap_or(state.next_offset);
                    u64::try_from(high - state.next_offset).unwrap_or(0)
                })
            })
            .sum()
    }
}

/// The parts of a Kafka message the source uses.
struct Record<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    headers: Option<&'a rdkafka::message::BorrowedHeaders>,
}

fn detach<'a>(m: &'a BorrowedMessage<'_>) -> Record<'a> {
    Record {
        topic: m.topic(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key(),
        payload: m.payload(),
        headers: m.headers(),
    }
}

/// Runs the Kafka source on its own thread until `stop` is set.
pub fn spawn(
    config: IngestConfig,
    fold: Fold,
    readiness: Arc<Readiness>,
    status: Arc<Status>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<(Fold, IngestStats)>, IngestError> {
    spawn_ingest(KafkaIngest::new(config, fold, readiness, status)?, stop)
}

/// Runs a configured source on its own thread until `stop` is set.
pub fn spawn_ingest(
    ingest: KafkaIngest,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<(Fold, IngestStats)>, IngestError> {
    Ok(std::thread::Builder::new()
        .name("sessiond-ingest".into())
        .spawn(move || ingest.run(&stop))
        .map_err(|e| KafkaError::ClientCreation(e.to_string()))?)
}
