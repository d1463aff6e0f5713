//! The Kafka source: every partition of the configured topics, read in order through the
//! [`KafkaReader`], checked against the [`PartitionTable`] (positions, resume checks),
//! decoded and folded through the shared record path with (topic, partition, offset) as
//! position, bad records dead-lettered. The [`Driver`] runs it: `KafkaIngest` is the two
//! together, as the server and the tests use them.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedHeaders, Message};
use tokio_util::sync::CancellationToken;

use super::dead_letter::{DeadLetters, Origin};
use super::partitions::{Admit, PartitionTable, StartAt};
use super::reader::KafkaReader;
use crate::events::decode::decode_record;
use crate::events::validate::BadRecord;
use crate::ingest::driver::{self, Driver, Polled, Progress, Source};
use crate::kafka::{KafkaSettings, admin};
use crate::position::StreamPosition;
use crate::projection::Fold;
use crate::readiness::Readiness;
use crate::record::{NotFolded, RecordCounts, fold_record};
use crate::status::Status;
use crate::telemetry;

pub use super::reader::CONSUMER_DEFAULTS;

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

/// The Kafka source run by the driver.
pub type KafkaIngest = Driver<KafkaSource>;

/// Every partition of the topics, read and folded; see the module documentation.
#[derive(Debug)]
pub struct KafkaSource {
    config: IngestConfig,
    reader: KafkaReader,
    partitions: PartitionTable,
    dead_letters: Option<DeadLetters>,
    /// Whether the end offsets seen at start have been reached.
    caught_up: bool,
}

impl KafkaSource {
    /// Creates the consumer (and the dead-letter producer); nothing is fetched yet.
    pub fn new(config: IngestConfig) -> Result<Self, IngestError> {
        let reader = KafkaReader::new(&config.kafka, config.topics.clone())?;
        let dead_letters = match &config.dead_letter_suffix {
            Some(suffix) => Some(DeadLetters::new(&config.kafka, suffix)?),
            None => None,
        };
        Ok(Self {
            partitions: PartitionTable::new(config.topics.clone()),
            config,
            reader,
            dead_letters,
            caught_up: false,
        })
    }

    /// Resumes each saved partition from its saved offset, under its saved stream number,
    /// as the fold restored from the same checkpoint expects.
    pub fn resume_from(&mut self, streams: &[StreamPosition]) {
        self.partitions.resume_from(streams);
    }

    /// Waits for the topics, notes each partition's end offsets, and assigns them all: from
    /// the beginning, or from a restored checkpoint's positions.
    fn discover(&mut self, stop: &CancellationToken, waiting: &dyn Fn(String)) {
        let mut backoff = Duration::from_millis(200);
        let mut last_problem = String::new();
        while !stop.is_cancelled() {
            match self
                .reader
                .partition_counts()
                .and_then(|counts| self.reader.watermarks(&counts))
            {
                Ok(watermarks) => {
                    let starts = self.partitions.lay_out(watermarks);
                    let resumed = starts
                        .iter()
                        .filter(|(_, _, s)| matches!(s, StartAt::Offset(_)))
                        .count();
                    tracing::info!(
                        topics = ?self.config.topics,
                        partitions = starts.len(),
                        resumed,
                        from_the_beginning = starts.len() - resumed,
                        "assigned every partition: resumed ones at their saved positions, the rest from the beginning"
                    );
                    for (topic, partition, p) in self.partitions.iter() {
                        if p.low > 0 && p.next_offset <= p.low {
                            tracing::warn!(
                                topic,
                                partition,
                                first_offset = p.low,
                                "the partition's first records were deleted (retention or DeleteRecords) before this replica read them: they are not folded, so sessions they started are missing, and later events of those sessions wait as pending until dropped"
                            );
                        }
                    }
                    if let Err(error) = self.reader.assign(&starts) {
                        tracing::error!(%error, "assigning partitions failed");
                    }
                    return;
                }
                Err(problem) => {
                    // Lets the error callback tell why no broker answered.
                    self.reader.idle(Duration::from_millis(100));
                    let refused = self.reader.auth_failure();
                    let problem = refused.clone().unwrap_or(problem);
                    if problem != last_problem {
                        // A refusal was logged when it was seen.
                        if refused.is_none() {
                            tracing::warn!(%problem, "waiting for the brokers and topics; retrying with backoff");
                        }
                        last_problem = problem.clone();
                    }
                    waiting(format!("loading: {problem}"));
                    self.reader.idle(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Creates the dead-letter topics that do not exist yet, in the background so reading
    /// starts at once; a broker that refuses is logged, and dead letters then wait in
    /// librdkafka's queue until someone creates the topics.
    fn ensure_dead_letter_topics(&self) {
        let Some(dead_letters) = &self.dead_letters else {
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

    /// Dead-letters a bad record (when dead letters are on).
    fn dead_letter(&self, record: &Record<'_>, reason: &BadRecord, counts: &mut RecordCounts) {
        tracing::warn!(
            topic = record.topic,
            partition = record.partition,
            offset = record.offset,
            %reason,
            "skipped a bad record"
        );
        if let Some(dead_letters) = &self.dead_letters {
            let origin = Origin {
                topic: record.topic,
                partition: record.partition,
                offset: record.offset,
            };
            dead_letters.send(origin, record.key, record.payload, record.headers, reason);
            counts.dead_lettered += 1;
        }
    }
}

impl Source for KafkaSource {
    fn start(&mut self, stop: &CancellationToken, waiting: &dyn Fn(String)) {
        self.discover(stop, waiting);
        self.ensure_dead_letter_topics();
    }

    fn step(&mut self, fold: &mut Fold, counts: &mut RecordCounts, timeout: Duration) -> Polled {
        match self.reader.poll(timeout) {
            Some(Ok(message)) => {
                let record = Record {
                    topic: message.topic(),
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key(),
                    payload: message.payload(),
                    headers: message.headers(),
                };
                match self
                    .partitions
                    .admit(record.topic, record.partition, record.offset)
                {
                    Admit::Apply(position) => {
                        let decoded = decode_record(record.payload.unwrap_or_default(), record.key);
                        if let Err(NotFolded::Bad(reason)) =
                            fold_record(fold, counts, position, decoded)
                        {
                            self.dead_letter(&record, &reason, counts);
                        }
                        Polled::Record
                    }
                    Admit::Reread => {
                        counts.reread += 1;
                        Polled::Dropped
                    }
                    Admit::Rewind(to) => {
                        rewind(
                            &self.reader,
                            &mut self.partitions,
                            record.topic,
                            record.partition,
                            to,
                        );
                        Polled::Dropped
                    }
                    Admit::Unknown => {
                        counts.records += 1;
                        Polled::Record
                    }
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                // At a partition's end the consumer's position can be past the last
                // record (transaction markers).
                for (topic, partition, next) in self.reader.positions() {
                    self.partitions.sync_position(&topic, partition, next);
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

    fn positions(&self) -> Vec<StreamPosition> {
        self.partitions.positions()
    }

    /// Caught up to the end offsets seen at start (until then, loading), then fresh or
    /// stale by lag and broker connectivity.
    fn progress(&mut self) -> Progress {
        let (connected, since) = self.reader.connected();
        // Refused credentials will not fix themselves: said at once, not after stale_after.
        let no_broker = match self.reader.auth_failure() {
            Some(refused) if !connected => Some(refused),
            _ => (!connected && since.elapsed() >= self.config.stale_after)
                .then(|| format!("no broker for {}s", since.elapsed().as_secs())),
        };
        if self.partitions.is_empty() {
            let mut detail = "loading: waiting for the brokers and topics".to_owned();
            if let Some(no_broker) = no_broker {
                detail.push_str(&format!("; {no_broker}"));
            }
            return Progress::Loading(detail);
        }
        if !self.caught_up {
            let (behind, remaining) = self.partitions.behind_start();
            if behind > 0 {
                let mut detail = format!(
                    "loading: {behind} partitions behind the end offsets seen at start ({remaining} records to go)"
                );
                if let Some(no_broker) = no_broker {
                    detail.push_str(&format!("; {no_broker}"));
                }
                return Progress::Loading(detail);
            }
            self.caught_up = true;
            return Progress::Ready;
        }
        let reader = &self.reader;
        let lag = self
            .partitions
            .lag(|topic, partition| reader.high_watermark(topic, partition));
        match no_broker.or_else(|| {
            (lag > self.config.max_lag)
                .then(|| format!("behind by {lag} records (max {})", self.config.max_lag))
        }) {
            Some(reason) => Progress::Stale(reason),
            None => Progress::Ready,
        }
    }

    /// Assigns partitions added to the topics since start, from their beginning.
    fn upkeep(&mut self) {
        let Ok(counts) = self.reader.partition_counts() else {
            return;
        };
        let added: Vec<_> = self
            .partitions
            .add_partitions(&counts)
            .into_iter()
            .map(|(topic, partition)| {
                tracing::info!(%topic, partition, "assigned a new partition");
                (topic, partition, StartAt::Beginning)
            })
            .collect();
        if let Err(error) = self.reader.add(&added) {
            tracing::error!(%error, "assigning new partitions failed");
        }
    }

    /// Each partition's position, end and lag.
    fn publish_metrics(&self) {
        for (topic, partition, p) in self.partitions.iter() {
            let high = self
                .reader
                .high_watermark(topic, partition)
                .unwrap_or(p.start_high)
                .max(p.next_offset);
            telemetry::publish_partition(topic, partition, p.next_offset, high);
        }
    }

    fn finish(&mut self) {
        if let Some(dead_letters) = &self.dead_letters {
            dead_letters.flush(Duration::from_secs(10));
        }
    }
}

/// Reads a partition again from `to`, as the partition table asked.
fn rewind(
    reader: &KafkaReader,
    partitions: &mut PartitionTable,
    topic: &str,
    partition: i32,
    to: i64,
) {
    tracing::info!(
        topic,
        partition,
        to,
        "the broker skipped past a resumed partition's saved position; reading it again from further back"
    );
    if let Err(error) = reader.seek(topic, partition, to) {
        tracing::warn!(%error, topic, partition, "could not rewind; will try again");
        partitions.rewind_failed(topic, partition);
    }
}

/// The parts of a Kafka message the source uses.
struct Record<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    headers: Option<&'a BorrowedHeaders>,
}

impl Driver<KafkaSource> {
    /// The Kafka source over `fold`, with the driver publishing to `readiness` and
    /// `status`; nothing is fetched yet.
    pub fn kafka(
        config: IngestConfig,
        fold: Fold,
        readiness: Arc<Readiness>,
        status: Arc<Status>,
    ) -> Result<Self, IngestError> {
        let upkeep = config.metadata_refresh;
        Ok(Driver::new(
            KafkaSource::new(config)?,
            fold,
            readiness,
            status,
            upkeep,
        ))
    }

    /// Resumes each saved partition from its saved offset, under its saved stream number,
    /// as the fold restored from the same checkpoint expects.
    pub fn resume_from(mut self, streams: &[StreamPosition]) -> Self {
        self.source_mut().resume_from(streams);
        self
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
    spawn_ingest(KafkaIngest::kafka(config, fold, readiness, status)?, stop)
}

/// Runs a configured Kafka source on its own thread until `stop` is cancelled.
pub fn spawn_ingest(
    ingest: KafkaIngest,
    stop: CancellationToken,
) -> Result<std::thread::JoinHandle<(Fold, RecordCounts)>, IngestError> {
    Ok(driver::spawn(ingest, stop)?)
}
