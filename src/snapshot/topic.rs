//! Checkpoints kept in a compacted Kafka topic (`--checkpoint-topic`), so a replica with an
//! empty disk starts from the fleet's newest checkpoint instead of folding every retained
//! record. The records are [`super::chunks`]'; this module writes and reads them.
//!
//! **Who writes.** Every replica may write, but one skips its turn when the topic's newest
//! checkpoint (anyone's) was taken less than half an interval ago; each turn first waits a
//! random part of a quarter interval, so replicas started together do not all look at once. So a fleet of any size
//! writes at most about two checkpoints per interval, and the newest is never older than
//! about one and a half intervals while any replica runs. A leader elected through a
//! consumer group would write exactly one, but it brings a group coordinator, rebalances,
//! and a window after a leader dies (the session timeout) with no checkpoints; the skip
//! needs nothing but the topic. Two replicas that decide to write at the same moment take
//! the same sequence number and slot: their chunks carry different ids, so neither is taken
//! for the other, at worst both are torn, and the two checkpoints before stay complete.
//!
//! **Bounded size.** Checkpoints go to [`SLOTS`] slots in turn, under the same keys each
//! time, and the keys a smaller checkpoint no longer uses get tombstones, so compaction
//! keeps three checkpoints. The topic is created with short segments so compaction can
//! start soon (`segment.ms` 10 minutes, `segment.bytes` 64 MiB).

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::chunks::{
    Assembly, CHUNK_BYTES, CHUNK_PARTITION, CheckpointId, MANIFEST_PARTITION, Manifest, chunk_key,
    manifest_key, split,
};
use crate::kafka::KafkaSettings;

/// How long one broker call (metadata, watermarks) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading one checkpoint, or delivering one, may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the checkpoint topic cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// No broker answered (yet): worth trying again.
    #[error("checkpoint topic {topic}: {detail}")]
    Unreachable {
        /// The topic.
        topic: String,
        /// What failed.
        detail: String,
    },
    /// The topic is there but cannot hold checkpoints: trying again will not help.
    #[error("checkpoint topic {topic}: {detail}")]
    Unusable {
        /// The topic.
        topic: String,
        /// Why.
        detail: String,
    },
}

/// What [`CheckpointTopic::write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicWrite {
    /// Wrote a checkpoint.
    Written {
        /// Its id.
        id: CheckpointId,
        /// Its chunks.
        chunks: u32,
        /// Its bytes (the checkpoint, without record headers).
        bytes: u64,
    },
    /// Skipped: the topic's newest checkpoint is fresh enough.
    Skipped {
        /// The newest checkpoint's id.
        newest: CheckpointId,
        /// Who wrote it.
        writer: String,
        /// How old it is.
        age: Duration,
    },
}

/// The checkpoint [`CheckpointTopic::load_newest`] restored.
#[derive(Debug)]
pub struct TopicLoaded<T> {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its payload, decoded.
    pub value: T,
}

/// What [`CheckpointTopic::load_newest`] found: the newest usable checkpoint, and every
/// newer one passed over with why.
#[derive(Debug)]
pub struct TopicLoad<T> {
    /// The checkpoint restored, if any.
    pub loaded: Option<TopicLoaded<T>>,
    /// Newer checkpoints passed over, newest first: (id, reason).
    pub rejected: Vec<(CheckpointId, String)>,
}

/// The checkpoint consumer's context: reaching a partition's end is how every read ends,
/// not an error worth a log line.
struct Quiet;

impl ClientContext for Quiet {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::PartitionEOF(_)) {
            tracing::warn!(%error, reason, "checkpoint topic consumer");
        }
    }
}

impl ConsumerContext for Quiet {}

/// Delivery reports of the checkpoint producer, by record index.
struct Deliveries(Sender<(usize, Result<i64, String>)>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, index: Box<usize>) {
        let outcome = match result {
            Ok(message) => Ok(message.offset()),
            Err((error, _)) => Err(error.to_string()),
        };
        let _ = self.0.send((*index, outcome));
    }
}

/// The checkpoint topic: reads its manifests and checkpoints, and writes new ones.
/// Blocking: call it from a blocking thread.
pub struct CheckpointTopic {
    topic: String,
    consumer: BaseConsumer<Quiet>,
    producer: BaseProducer<Deliveries>,
    delivered: Receiver<(usize, Result<i64, String>)>,
    /// The newest manifest seen in each slot.
    slots: BTreeMap<u64, Manifest>,
    /// The next offset to read in the manifest partition.
    manifests_next: i64,
    writer: String,
    chunk_bytes: usize,
}

impl std::fmt::Debug for CheckpointTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointTopic")
            .field("topic", &self.topic)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl CheckpointTopic {
    /// Connects to the topic (which must exist, with two partitions) as `writer` (the name
    /// manifests carry, e.g. the host name).
    pub fn open(settings: &KafkaSettings, topic: &str, writer: &str) -> Result<Self, TopicError> {
        let unusable = |detail: String| TopicError::Unusable {
            topic: topic.to_owned(),
            detail,
        };
        let consumer: BaseConsumer<Quiet> = settings
            .client_config()
            .set("group.id", "sessiond-checkpoints")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "20")
            // A chunk is at most about 512 KiB; fetching several at once reads a
            // checkpoint at the broker's pace, not a round trip per chunk.
            .set("max.partition.fetch.bytes", "16777216")
            .create_with_context(Quiet)
            .map_err(|e| unusable(format!("creating the consumer: {e}")))?;
        let (sender, delivered) = channel();
        let producer: BaseProducer<Deliveries> = settings
            .client_config()
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "60000")
            .create_with_context(Deliveries(sender))
            .map_err(|e| unusable(format!("creating the producer: {e}")))?;
        let topic_handle = Self {
            topic: topic.to_owned(),
            consumer,
            producer,
            delivered,
            slots: BTreeMap::new(),
            manifests_next: 0,
            writer: writer.to_owned(),
            chunk_bytes: CHUNK_BYTES,
        };
        topic_handle.check_partitions()?;
        Ok(topic_handle)
    }

    /// Cuts checkpoints into chunks of at most `bytes` (tests use small ones).
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.topic
    }

    fn unreachable(&self, detail: impl std::fmt::Display) -> TopicError {
        TopicError::Unreachable {
            topic: self.topic.clone(),
            detail: detail.to_string(),
        }
    }

    fn check_partitions(&self) -> Result<(), TopicError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), CALL_TIMEOUT)
            .map_err(|e| self.unreachable(format!("no metadata: {e}")))?;
        let Some(topic) = metadata.topics().iter().find(|t| t.name() == self.topic) else {
            return Err(self.unreachable("not found"));
        };
        match topic.error() {
            None => {}
            Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
                return Err(self.unreachable("not found (yet)"));
            }
            Some(error) => {
                return Err(TopicError::Unusable {
                    topic: self.topic.clone(),
                    detail: format!("{error:?}"),
                });
            }
        }
        let partitions = topic.partitions().len();
        if partitions != 2 {
            return Err(TopicError::Unusable {
                topic: self.topic.clone(),
                detail: format!(
                    "it has {partitions} partitions; a checkpoint topic has 2 (manifests, chunks): let sessiond create it, or create it compacted with 2"
                ),
            });
        }
        Ok(())
    }

    /// Reads `partition` from `from` up to `last` (inclusive) or its end, handing each
    /// record's offset and value to `take`, which returns whether to go on.
    fn read(
        &self,
        partition: i32,
        from: i64,
        last: i64,
        take: impl FnMut(i64, Option<&[u8]>) -> bool,
    ) -> Result<(), TopicError> {
        let read = self.read_assigned(partition, from, last, take);
        // Nothing is fetched between reads, and nothing of this read is left queued for
        // the next one.
        let _ = self.consumer.unassign();
        read
    }

    fn read_assigned(
        &self,
        partition: i32,
        from: i64,
        last: i64,
        mut take: impl FnMut(i64, Option<&[u8]>) -> bool,
    ) -> Result<(), TopicError> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&self.topic, partition, Offset::Offset(from))
            .map_err(|e| self.unreachable(e))?;
        self.consumer
            .assign(&list)
            .map_err(|e| self.unreachable(format!("assigning partition {partition}: {e}")))?;
        let deadline = Instant::now() + TRANSFER_TIMEOUT;
        loop {
            match self.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    if message.partition() != partition {
                        continue;
                    }
                    let offset = message.offset();
                    if offset > last || !take(offset, message.payload()) || offset == last {
                        return Ok(());
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) if p == partition => return Ok(()),
                Some(Err(error)) if Instant::now() > deadline => {
                    return Err(self.unreachable(format!("reading partition {partition}: {error}")));
                }
                Some(Err(_)) => {}
                None if Instant::now() > deadline => {
                    return Err(self.unreachable(format!(
                        "reading partition {partition}: nothing for {TRANSFER_TIMEOUT:?}"
                    )));
                }
                None => {}
            }
        }
    }

    /// Reads the manifests written since the last call.
    fn refresh(&mut self) -> Result<(), TopicError> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(&self.topic, MANIFEST_PARTITION, CALL_TIMEOUT)
            .map_err(|e| self.unreachable(format!("no watermarks: {e}")))?;
        let from = self.manifests_next.max(low);
        if high <= from {
            return Ok(());
        }
        let mut found = Vec::new();
        self.read(MANIFEST_PARTITION, from, high - 1, |offset, value| {
            found.push((offset, value.map(Manifest::decode)));
            true
        })?;
        for (offset, manifest) in found {
            self.manifests_next = offset + 1;
            match manifest {
                Some(Ok(manifest)) => {
                    self.slots.insert(manifest.id.slot(), manifest);
                }
                Some(Err(reason)) => {
                    tracing::warn!(topic = self.topic, offset, %reason, "a record in the checkpoint topic's manifest partition is not a manifest; passed over");
                }
                None => {}
            }
        }
        Ok(())
    }

    /// The newest checkpoint the topic names (complete or not).
    pub fn newest(&self) -> Option<&Manifest> {
        self.slots.values().max_by_key(|m| (m.id.seq, m.taken_at))
    }

    /// Loads the newest checkpoint that is complete, sound, and that `decode` accepts,
    /// trying older ones in turn.
    pub fn load_newest<T>(
        &mut self,
        mut decode: impl FnMut(&[u8]) -> Result<T, String>,
    ) -> Result<TopicLoad<T>, TopicError> {
        self.refresh()?;
        let mut manifests: Vec<Manifest> = self.slots.values().cloned().collect();
        manifests.sort_by_key(|m| std::cmp::Reverse((m.id.seq, m.taken_at)));
        let mut rejected = Vec::new();
        for manifest in manifests {
            let mut assembly = Assembly::new(&manifest);
            self.read(
                CHUNK_PARTITION,
                manifest.first_offset,
                manifest.last_offset,
                |_, value| {
                    assembly.offer(value);
                    !assembly.is_complete()
                },
            )?;
            match assembly.finish().and_then(|bytes| decode(&bytes)) {
                Ok(value) => {
                    return Ok(TopicLoad {
                        loaded: Some(TopicLoaded { manifest, value }),
                        rejected,
                    });
                }
                Err(reason) => rejected.push((manifest.id, reason)),
            }
        }
        Ok(TopicLoad {
            loaded: None,
            rejected,
        })
    }

    /// Produces `records` (key, value; `None` a tombstone) to `partition` and waits for
    /// them; returns their offsets in order.
    fn produce(
        &self,
        partition: i32,
        records: &[(String, Option<Vec<u8>>)],
    ) -> Result<Vec<i64>, TopicError> {
        for (index, (key, value)) in records.iter().enumerate() {
            let mut record = BaseRecord::with_opaque_to(&self.topic, Box::new(index))
                .partition(partition)
                .key(key.as_bytes());
            if let Some(value) = value {
                record = record.payload(value);
            }
            let mut record = record;
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        self.producer.poll(Duration::from_millis(50));
                    }
                    Err((error, _)) => {
                        return Err(self.unreachable(format!("producing: {error}")));
                    }
                }
            }
        }
        let mut offsets = vec![None; records.len()];
        let deadline = Instant::now() + TRANSFER_TIMEOUT;
        let mut left = records.len();
        while left > 0 {
            self.producer.poll(Duration::from_millis(20));
            while let Ok((index, outcome)) = self.delivered.try_recv() {
                let offset = outcome.map_err(|e| self.unreachable(format!("producing: {e}")))?;
                if let Some(slot) = offsets.get_mut(index)
                    && slot.replace(offset).is_none()
                {
                    left -= 1;
                }
            }
            if Instant::now() > deadline {
                return Err(self.unreachable("producing: not delivered in time"));
            }
        }
        Ok(offsets.into_iter().flatten().collect())
    }

    /// Writes `payload` (an encoded checkpoint taken at `taken_at`) as the next checkpoint,
    /// unless `fresh_within` is given and the topic's newest checkpoint is younger.
    pub fn write(
        &mut self,
        payload: &[u8],
        taken_at: i64,
        fresh_within: Option<Duration>,
    ) -> Result<TopicWrite, TopicError> {
        self.refresh()?;
        let newest = self.newest().cloned();
        if let (Some(fresh), Some(newest)) = (fresh_within, &newest) {
            let age =
                Duration::from_nanos(u64::try_from(now_nanos() - newest.taken_at).unwrap_or(0));
            if age < fresh {
                return Ok(TopicWrite::Skipped {
                    newest: newest.id,
                    writer: newest.writer.clone(),
                    age,
                });
            }
        }
        let id = CheckpointId {
            seq: newest.map_or(1, |m| m.id.seq + 1),
            nonce: rand::random(),
        };
        let slot = id.slot();
        let chunks: Vec<(String, Option<Vec<u8>>)> = split(id, payload, self.chunk_bytes)
            .into_iter()
            .enumerate()
            .map(|(index, value)| (chunk_key(slot, index as u32), Some(value)))
            .collect();
        let count = chunks.len() as u32;
        let offsets = self.produce(CHUNK_PARTITION, &chunks)?;
        drop(chunks);
        let (Some(first), Some(last)) = (offsets.first(), offsets.last()) else {
            return Err(self.unreachable("producing: no offsets delivered"));
        };
        let manifest = Manifest {
            id,
            chunks: count,
            len: payload.len() as u64,
            crc: crc32fast::hash(payload),
            taken_at,
            first_offset: *first,
            last_offset: *last,
            writer: self.writer.clone(),
        };
        self.produce(
            MANIFEST_PARTITION,
            &[(manifest_key(slot), Some(manifest.encode()))],
        )?;
        // The keys the slot's previous checkpoint used beyond this one's: compaction keeps
        // a key's last record, so without a tombstone they would stay forever.
        if let Some(previous) = self.slots.get(&slot)
            && previous.chunks > count
        {
            let tombstones: Vec<(String, Option<Vec<u8>>)> = (count..previous.chunks)
                .map(|index| (chunk_key(slot, index), None))
                .collect();
            self.produce(CHUNK_PARTITION, &tombstones)?;
        }
        self.slots.insert(slot, manifest);
        Ok(TopicWrite::Written {
            id,
            chunks: count,
            bytes: payload.len() as u64,
        })
    }
}

/// The wall clock, in nanoseconds since the epoch.
fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// This replica's name in the manifests it writes: `HOSTNAME` (a pod's name), else
/// `sessiond-<process id>`.
pub fn writer_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("sessiond-{}", std::process::id()))
}
