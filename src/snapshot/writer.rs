//! Writing checkpoints in the background, and finding the one to start from.
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
use crate::live::FeedBarrier;
use crate::status::Status;

/// How long a snapshot waits for the change feed to deliver what it contains.
const FEED_WAIT: Duration = Duration::from_secs(30);

/// Where and how often to write snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    /// The directory (created if missing).
    pub dir: PathBuf,
    /// How often to write one while running (one is also written on shutdown).
    pub interval: Duration,
}

/// The background writer.
#[derive(Debug)]
pub struct SnapshotWriter {
    sender: Option<SyncSender<(Checkpoint, Option<FeedBarrier>)>>,
    thread: Option<JoinHandle<()>>,
}

impl SnapshotWriter {
    /// Starts the writer thread over `store`; it reports each write in `status`.
    pub fn start(mut store: SnapshotStore, status: Arc<Status>) -> std::io::Result<Self> {
        // One checkpoint in hand at most: if the disk is slower than the interval, the
        // fold skips a turn instead of queueing images.
        let (sender, receiver) = sync_channel::<(Checkpoint, Option<FeedBarrier>)>(0);
        let thread = std::thread::Builder::new()
            .name("sessiond-snapshot".into())
            .spawn(move || {
                for (checkpoint, barrier) in receiver {
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
                    match store.write(&bytes) {
                        Ok(written) => {
                            let millis = started.elapsed().as_millis() as u64;
                            let counts = checkpoint::summary(&checkpoint);
                            tracing::info!(
                                file = %written.path.display(),
                                bytes = written.bytes,
                                millis,
                                ?counts,
                                "snapshot written"
                            );
                            crate::telemetry::publish_snapshot(written.bytes, started.elapsed());
                            status.update(|r| {
                                r.last_snapshot =
                                    Some((written.path.display().to_string(), written.bytes, millis));
                            });
                        }
                        Err(error) => tracing::error!(%error, "writing a snapshot failed; the previous ones are kept"),
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
        match sender.try_send((checkpoint, barrier)) {
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
            let _ = sender.send((last, barrier));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The newest usable checkpoint in `store` for these topics, with every snapshot that
/// was passed over and why.
pub fn load_newest(store: &SnapshotStore, topics: &[String]) -> LoadOutcome<Checkpoint> {
    store.load_newest(|bytes| {
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
    })
}
