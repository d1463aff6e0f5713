//! The Kafka source: every partition of the configured topics, assigned (no consumer group,
//! no rebalances), read from the beginning in order and applied through the same
//! validation and fold as the event-log file, with (topic, partition, offset) as position.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::connectivity::{Connectivity, IngestContext};
use super::dead_letter::{DeadLetters, Origin};
use super::partitions::{Admit, PartitionTable, StartAt};
use crate::events::decode::decode_record;
use crate::kafka::{KafkaSettings, admin};
use crate::live::FeedBarrier;
use crate::live::feed::FeedShared;
use crate::position::StreamPosition;
use crate::projection::{Fold, ImageError};
use crate::readiness::Readiness;
use crate::record::{NotFolded, RecordCounts, fold_record};
use crate::snapshot::{Checkpoint, SnapshotWriter};
use crate::status::Status;
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

/// Why the source could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// librdkafka refused the client configuration.
    #[error("creating the Kafka consumer: {0}")]
    Client(#[from] KafkaError),
    /// The ingest thread could not be started.
    #[error("starting the ingest thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The Kafka source, owning the fold while it runs.
///
/// [`run`](Self::run) drives it until stopped; tests drive it a record at a time with
/// [`start`](Self::start), [`poll_once`](Self::poll_once) and
/// [`checkpoint`](Self::checkpoint).
pub struct KafkaIngest {
    config: IngestConfig,
    consumer: BaseConsumer<IngestContext>,
    connectivity: Arc<Connectivity>,
    readiness: Arc<Readiness>,
    status: Arc<Status>,
    caught_up: bool,
    state: SourceState,
    snapshots: Option<(SnapshotWriter, Duration)>,
    feed: Option<Arc<FeedShared>>,
}

/// What reading records changes; apart from the consumer, which lends the records.
struct SourceState {
    partitions: PartitionTable,
    fold: Fold,
    dead_letters: Option<DeadLetters>,
    stats: RecordCounts,
}

/// What one [`KafkaIngest::poll_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// Read a record and took it (applied, buffered, skipped by the fold, or a bad one
    /// dead-lettered): it counts in [`RecordCounts::records`].
    Record,
    /// Read a record and dropped it: below the partition's position, or the broker was
    /// asked to read the partition again from further back.
    Dropped,
    /// Reached the end of a partition.
    PartitionEnd,
    /// Nothing arrived within the timeout.
    Idle,
    /// The client reported an error (logged; librdkafka retries on its own).
    Error,
}

impl std::fmt::Debug for KafkaIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaIngest")
            .field("topics", &self.state.partitions.topics())
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
                partitions: PartitionTable::new(config.topics.clone()),
                fold,
                dead_letters,
                stats: RecordCounts::default(),
            },
            config,
            consumer,
            connectivity,
            readiness,
            status,
            caught_up: false,
            snapshots: None,
            feed: None,
        })
    }

    /// Resumes each saved partition from its saved offset, under its saved stream number,
    /// as the fold restored from the same checkpoint expects.
    pub fn resume_from(mut self, streams: &[StreamPosition]) -> Self {
        self.state.partitions.resume_from(streams);
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
    pub fn checkpoint(&self) -> Result<Checkpoint, ImageError> {
        let taken_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Ok(Checkpoint {
            streams: self.state.partitions.positions(),
            image: self.state.fold.image()?,
            taken_at,
        })
    }

    /// Takes a checkpoint for `writer`, or logs why the fold's state cannot be one.
    fn checkpoint_for_writer(&self) -> Option<Checkpoint> {
        let started = Instant::now();
        match self.checkpoint() {
            Ok(checkpoint) => {
                tracing::debug!(took = ?started.elapsed(), "took a checkpoint");
                Some(checkpoint)
            }
            Err(error) => {
                tracing::error!(%error, "the fold's state is inconsistent; no snapshot taken");
                telemetry::snapshot_refused();
                None
            }
        }
    }

    /// Every partition's position (next offset to read), in stream-number order.
    pub fn positions(&self) -> Vec<StreamPosition> {
        self.state.partitions.positions()
    }

    /// What the source has seen so far.
    pub fn stats(&self) -> &RecordCounts {
        &self.state.stats
    }

    /// The fold, for its counters and projection.
    pub fn fold(&self) -> &Fold {
        &self.state.fold
    }

    /// Runs until `stop` is cancelled: discovers partitions (waiting for brokers and topics
    /// as long as it takes), then reads and folds. Returns the fold and the counters.
    pub fn run(mut self, stop: &CancellationToken) -> (Fold, RecordCounts) {
        self.start(stop);
        let mut last_tick = Instant::now();
        let mut last_refresh = Instant::now();
        let mut last_snapshot = Instant::now();
        while !stop.is_cancelled() {
            if self.poll_once(POLL_TIMEOUT) == Polled::Idle {
                // A good moment to make `/admin/state` exact.
                self.publish_status();
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
                if let Some(checkpoint) = self.checkpoint_for_writer() {
                    writer.offer(checkpoint, self.feed_barrier());
                }
            }
        }
        self.finish()
    }

    /// Discovers the partitions (waiting for brokers and topics until `stop` is
    /// cancelled), assigns them, and publishes the first readiness.
    pub fn start(&mut self, stop: &CancellationToken) {
        self.discover(stop);
        self.ensure_dead_letter_topics();
        // At once, not a tick later: a replica restored from a snapshot at the topics' end
        // is ready now.
        self.tick();
    }

    /// Reads at most one record (or event) and takes it; answers a pending request for
    /// the state's view first.
    pub fn poll_once(&mut self, timeout: Duration) -> Polled {
        if self.status.view_requested() {
            self.publish_status();
            self.status.answer_view(self.state.fold.projection());
        }
        match self.consumer.poll(timeout) {
            Some(Ok(message)) => {
                let record = detach(&message);
                match self.state.handle(&record) {
                    Handled::Taken => Polled::Record,
                    Handled::Dropped => Polled::Dropped,
                    Handled::Rewind(to) => {
                        let (topic, partition) = (record.topic.to_owned(), record.partition);
                        drop(message);
                        self.rewind(&topic, partition, to);
                        Polled::Dropped
                    }
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                if let Ok(positions) = self.consumer.position() {
                    self.state.sync_positions(&positions);
                }
                Polled::PartitionEnd
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "consumer error");
                Polled::Error
            }
            None => Polled::Idle,
        }
    }

    /// Reads a partition again from `to`, as the partition table asked.
    fn rewind(&mut self, topic: &str, partition: i32, to: i64) {
        tracing::info!(
            topic,
            partition,
            to,
            "the broker skipped past a resumed partition's saved position; reading it again from further back"
        );
        if let Err(error) =
            self.consumer
                .seek(topic, partition, Offset::Offset(to), METADATA_TIMEOUT)
        {
            tracing::warn!(%error, topic, partition, "could not rewind; will try again");
            self.state.partitions.rewind_failed(topic, partition);
        }
    }

    /// Stops reading: hands the writer a last checkpoint and waits for it, and flushes the
    /// dead letters. Returns the fold and the counters.
    pub fn finish(mut self) -> (Fold, RecordCounts) {
        self.status.set_live(false);
        if let Some((writer, _)) = self.snapshots.take() {
            // Only a fold that discovered its partitions has positions worth saving.
            if !self.state.partitions.is_empty()
                && let Some(checkpoint) = self.checkpoint_for_writer()
            {
                writer.finish(checkpoint, self.feed_barrier());
            }
        }
        if let Some(dead_letters) = &self.state.dead_letters {
            dead_letters.flush(Duration::from_secs(10));
        }
        (self.state.fold, self.state.stats)
    }

    /// Waits for the topics, notes each partition's end offsets, and assigns them all: from
    /// the beginning, or from a restored checkpoint's positions.
    fn discover(&mut self, stop: &CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        let mut last_problem = String::new();
        while !stop.is_cancelled() {
            match self
                .partition_counts()
                .and_then(|counts| self.start_offsets(&counts))
            {
                Ok(watermarks) => {
                    self.assign(watermarks);
                    self.status.set_live(true);
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

    fn assign(&mut self, watermarks: Vec<Vec<(i64, i64)>>) {
        let starts = self.state.partitions.lay_out(watermarks);
        let mut list = TopicPartitionList::new();
        let mut resumed = 0;
        for (topic, partition, start) in &starts {
            let offset = match start {
                StartAt::Beginning => Offset::Beginning,
                StartAt::Offset(next) => {
                    resumed += 1;
                    Offset::Offset(*next)
                }
            };
            let _ = list.add_partition_offset(topic, *partition, offset);
        }
        tracing::info!(
            topics = ?self.state.partitions.topics(),
            partitions = starts.len(),
            resumed,
            from_the_beginning = starts.len() - resumed,
            "assigned every partition: resumed ones at their saved positions, the rest from the beginning"
        );
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
        for (topic, partition) in self.state.partitions.add_partitions(&counts) {
            let _ = list.add_partition_offset(&topic, partition, Offset::Beginning);
            tracing::info!(%topic, partition, "assigned a new partition");
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
        for (topic, partition, p) in self.state.partitions.iter() {
            let high = self
                .connectivity
                .high_watermark(topic, partition)
                .unwrap_or(p.start_high)
                .max(p.next_offset);
            telemetry::publish_partition(topic, partition, p.next_offset, high);
        }
    }

    /// Tells `/admin/state` where each partition stands and what the fold has counted.
    fn publish_status(&self) {
        let state = &self.state;
        let positions = state.partitions.positions();
        self.status
            .set_streams(positions.iter().map(|p| p.name.clone()).collect());
        self.status.update(|r| {
            r.take_fold(&state.fold);
            r.positions = positions;
            r.counts.clone_from(&state.stats);
        });
    }

    /// Updates readiness: caught up to the end offsets seen at start, then fresh or stale.
    fn tick(&mut self) {
        self.publish();
        let (connected, since) = self.connectivity.state();
        let no_broker = (!connected && since.elapsed() >= self.config.stale_after)
            .then(|| format!("no broker for {}s", since.elapsed().as_secs()));
        if !self.caught_up {
            let (behind, remaining) = self.state.partitions.behind_start();
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
        let connectivity = &self.connectivity;
        let lag = self
            .state
            .partitions
            .lag(|topic, partition| connectivity.high_watermark(topic, partition));
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

/// What the source did with a record.
enum Handled {
    /// Counted, and applied or dead-lettered.
    Taken,
    /// Dropped before the fold: read before.
    Dropped,
    /// Dropped; the partition is to be read again from this offset.
    Rewind(i64),
}

impl SourceState {
    fn handle(&mut self, message: &Record<'_>) -> Handled {
        let position = match self
            .partitions
            .admit(message.topic, message.partition, message.offset)
        {
            Admit::Apply(position) => position,
            Admit::Reread => {
                self.stats.reread += 1;
                return Handled::Dropped;
            }
            Admit::Rewind(to) => return Handled::Rewind(to),
            Admit::Unknown => {
                self.stats.records += 1;
                return Handled::Taken;
            }
        };
        let decoded = decode_record(message.payload.unwrap_or_default(), message.key);
        if let Err(NotFolded::Bad(reason)) =
            fold_record(&mut self.fold, &mut self.stats, position, decoded)
        {
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
        Handled::Taken
    }

    /// Takes the consumer's positions (last read + 1): at a partition's end they can be past
    /// the last record's offset (transaction markers, for one).
    fn sync_positions(&mut self, positions: &TopicPartitionList) {
        for element in positions.elements() {
            if let Offset::Offset(next) = element.offset() {
                self.partitions
                    .sync_position(element.topic(), element.partition(), next);
            }
        }
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

/// Runs the Kafka source on its own thread until `stop` is cancelled.
pub fn spawn(
    config: IngestConfig,
    fold: Fold,
    readiness: Arc<Readiness>,
    status: Arc<Status>,
    stop: CancellationToken,
) -> Result<std::thread::JoinHandle<(Fold, RecordCounts)>, IngestError> {
    spawn_ingest(KafkaIngest::new(config, fold, readiness, status)?, stop)
}

/// Runs a configured source on its own thread until `stop` is cancelled.
pub fn spawn_ingest(
    ingest: KafkaIngest,
    stop: CancellationToken,
) -> Result<std::thread::JoinHandle<(Fold, RecordCounts)>, IngestError> {
    Ok(std::thread::Builder::new()
        .name("sessiond-ingest".into())
        .spawn(move || ingest.run(&stop))?)
}
