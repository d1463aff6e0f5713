//! Writing checkpoints in the background (to the snapshot directory, the checkpoint topic,
//! or both), and finding the one to start from.
//!
//! The fold's thread only takes the image (cheap: active sessions are shared, not copied)
//! and hands it over; encoding and the durable write happen on the writer's own thread,
//! so neither reads nor the fold wait for the disk.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::checkpoint::{self, Checkpoint};
use super::store::{LoadOutcome, SnapshotStore};
use super::topic::{CheckpointTopic, TopicWrite};
use crate::live::FeedBarrier;
use crate::status::Status;

/// How long a snapshot waits for the change feed to deliver what it contains.
const FEED_WAIT: Duration = Duration::from_secs(30);

/// Where and how often to write checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    /// The snapshot directory (created if missing), if any.
    pub dir: Option<PathBuf>,
    /// The checkpoint topic (created if missing), if any.
    pub topic: Option<String>,
    /// How often to write one while running (one is also written on shutdown).
    pub interval: Duration,
}

/// What a checkpoint is handed to the writer with.
type Job = (Checkpoint, Option<FeedBarrier>, Turn);

/// Whether a checkpoint is a periodic one or the last before shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    Periodic,
    Last,
}

/// The background writer.
#[derive(Debug)]
pub struct SnapshotWriter {
    sender: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl SnapshotWriter {
    /// Starts the writer thread over a snapshot directory, a checkpoint topic, or both; it
    /// reports each write in `status`. In the topic, a periodic checkpoint waits a random
    /// part of a quarter of `interval`, then is skipped when the newest one there (another
    /// replica's) is younger than half of `interval` (see `topic`'s "Who writes").
    pub fn start(
        mut store: Option<SnapshotStore>,
        mut topic: Option<CheckpointTopic>,
        interval: Duration,
        status: Arc<Status>,
    ) -> std::io::Result<Self> {
        // One checkpoint in hand at most: if the disk is slower than the interval, the
        // fold skips a turn instead of queueing images.
        let (sender, receiver) = sync_channel::<Job>(0);
        let thread = std::thread::Builder::new()
            .name("sessiond-snapshot".into())
            .spawn(move || {
                for (checkpoint, barrier, turn) in receiver {
                    // A checkpoint whose changes the feed has not delivered would, after a
                    // crash, resume past changes nobody downstream ever saw.
                    if let Some(barrier) = barrier
                        && !barrier.wait(FEED_WAIT)
                    {
                        tracing::warn!("the change feed is behind; skipping this snapshot");
                        continue;
                    }
                    let started = Instant::now();
                    let bytes = checkpoint::encode(&checkpoint);
                    if let Some(store) = &mut store {
                        write_file(store, &bytes, &checkpoint, started, &status);
                    }
                    if let Some(topic) = &mut topic {
                        let fresh_within = (turn == Turn::Periodic).then(|| {
                            // Replicas started together have their turns at the same
                            // moments: a random wait lets the first one's checkpoint be
                            // seen (as fresh) by the others before they look.
                            std::thread::sleep(interval.mul_f64(rand::random::<f64>() / 4.0));
                            interval / 2
                        });
                        write_topic(topic, &bytes, &checkpoint, fresh_within, &status);
                    }
                }
            })?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Hands a checkpoint to the writer unless it is still busy with the last one;
    /// returns whether it was taken.
    /// With a `barrier`, the write waits until the change feed has delivered every change
    /// the checkpoint contains.
    pub fn offer(&self, checkpoint: Checkpoint, barrier: Option<FeedBarrier>) -> bool {
        let Some(sender) = &self.sender else {
            return false;
        };
        match sender.try_send((checkpoint, barrier, Turn::Periodic)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::debug!("the snapshot writer is busy; skipping this turn");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Writes `last` and waits for it to be on disk (for a graceful shutdown).
    pub fn finish(mut self, last: Checkpoint, barrier: Option<FeedBarrier>) {
        if let Some(sender) = self.sender.take() {
            let _ = sender.send((last, barrier, Turn::Last));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes a snapshot file, reporting it in the log, the metrics and `status`.
fn write_file(
    store: &mut SnapshotStore,
    bytes: &[u8],
    checkpoint: &Checkpoint,
    started: Instant,
    status: &Status,
) {
    match store.write(bytes) {
        Ok(written) => {
            let millis = started.elapsed().as_millis() as u64;
            let counts = checkpoint::summary(checkpoint);
            tracing::info!(
                file = %written.path.display(),
                bytes = written.bytes,
                millis,
                ?counts,
                "snapshot written"
            );
            crate::telemetry::publish_snapshot(written.bytes, started.elapsed());
            status.update(|r| {
                r.last_snapshot = Some((written.path.display().to_string(), written.bytes, millis));
            });
        }
        Err(error) => {
            tracing::error!(%error, "writing a snapshot failed; the previous ones are kept");
        }
    }
}

/// Writes a checkpoint to the topic (or skips it, when `fresh_within` is given and another
/// replica's is fresh), reporting it in the log, the metrics and `status`.
fn write_topic(
    topic: &mut CheckpointTopic,
    bytes: &[u8],
    checkpoint: &Checkpoint,
    fresh_within: Option<Duration>,
    status: &Status,
) {
    let started = Instant::now();
    let said = match topic.write(bytes, checkpoint.taken_at, fresh_within) {
        Ok(TopicWrite::Written { id, chunks, bytes }) => {
            let millis = started.elapsed().as_millis() as u64;
            tracing::info!(topic = topic.name(), checkpoint = %id, chunks, bytes, millis, "checkpoint written to the topic");
            crate::telemetry::topic_checkpoint("written");
            format!(
                "{}: checkpoint {id} written, {chunks} chunks, {bytes} bytes, {millis} ms",
                topic.name()
            )
        }
        Ok(TopicWrite::Skipped {
            newest,
            writer,
            age,
        }) => {
            tracing::debug!(topic = topic.name(), newest = %newest, writer, ?age, "a fresh checkpoint is in the topic; skipping this one");
            crate::telemetry::topic_checkpoint("skipped");
            format!(
                "{}: skipped, checkpoint {newest} by {writer} is {} ms old",
                topic.name(),
                age.as_millis()
            )
        }
        Err(error) => {
            tracing::error!(%error, "writing a checkpoint to the topic failed; the previous ones are kept");
            crate::telemetry::topic_checkpoint("failed");
            format!("{error}")
        }
    };
    status.update(|r| r.last_topic_checkpoint = Some(said));
}

/// The newest usable checkpoint in `store` for these topics, with every snapshot that
/// was passed over and why.
pub fn load_newest(store: &SnapshotStore, topics: &[String]) -> LoadOutcome<Checkpoint> {
    store.load_newest(|bytes| decode_for(bytes, topics))
}

/// A checkpoint from its bytes, if it was taken reading only `topics`.
pub fn decode_for(bytes: &[u8], topics: &[String]) -> Result<Checkpoint, String> {
    let checkpoint = checkpoint::decode(bytes)?;
    if let Some(other) = checkpoint
        .streams
        .iter()
        .find(|s| !topics.contains(&s.name.topic))
    {
        return Err(format!(
            "it was taken reading topic {}, which this run does not read",
            other.name.topic
        ));
    }
    Ok(checkpoint)
}
