//! The driver: runs a source (the event-log file, or Kafka) against the fold and owns what
//! is the same for every source: readiness, the operator status and the metrics it
//! publishes, answering `/admin/state`'s requests for a view, and checkpoint timing.
//!
//! A source only reads and folds records ([`Source::step`]) and says where it stands
//! ([`Source::progress`]); the driver decides when to publish, when to take a checkpoint
//! and what readiness to show. As in tokio-console's aggregator, the state changes in one
//! place (the step) and the I/O happens apart from it (the publishing).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::live::FeedBarrier;
use crate::live::feed::FeedShared;
use crate::position::StreamPosition;
use crate::projection::{Fold, ImageError};
use crate::readiness::Readiness;
use crate::record::RecordCounts;
use crate::snapshot::{Checkpoint, SnapshotWriter};
use crate::status::Status;
use crate::telemetry;

/// What one [`Driver::poll_once`] (a source's step) did.
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
    /// The client reported an error (logged; the client retries on its own).
    Error,
    /// The source has no more records, ever (the end of a file).
    Exhausted,
}

/// Where a source stands, for readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Still reading what was there at start; why, for `/readyz`.
    Loading(String),
    /// Caught up, and keeping up.
    Ready,
    /// Caught up once, but behind now or cut off from its brokers; why.
    Stale(String),
}

/// What a source of records does for the driver.
pub trait Source {
    /// Gets ready to read (for Kafka: waits for the brokers and topics and assigns every
    /// partition), giving up when `stop` is cancelled; tells `waiting` why it waits.
    fn start(&mut self, stop: &CancellationToken, waiting: &dyn Fn(String));

    /// Reads at most one record (waiting at most `timeout`), and folds and counts it.
    fn step(&mut self, fold: &mut Fold, counts: &mut RecordCounts, timeout: Duration) -> Polled;

    /// Every stream's position (next offset to read), in stream-number order.
    fn positions(&self) -> Vec<StreamPosition>;

    /// Where reading stands now.
    fn progress(&mut self) -> Progress;

    /// Periodic upkeep, such as looking for partitions added since start.
    fn upkeep(&mut self) {}

    /// Publishes the source's own metrics (per-partition positions and lag).
    fn publish_metrics(&self) {}

    /// Flushes what the source still holds (dead letters) before it stops.
    fn finish(&mut self) {}
}

/// How often readiness, status and metrics are published, besides when the source idles.
const TICK: Duration = Duration::from_millis(250);
/// How long one step may wait for a record.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// Runs a source against the fold: see the module documentation.
pub struct Driver<S> {
    source: S,
    fold: Fold,
    counts: RecordCounts,
    readiness: Arc<Readiness>,
    status: Arc<Status>,
    upkeep_every: Duration,
    checkpoints: Option<(SnapshotWriter, Duration)>,
    feed: Option<Arc<FeedShared>>,
    ready_once: bool,
}

impl<S> std::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl<S: Source> Driver<S> {
    /// A driver of `source` over `fold`, publishing to `readiness` and `status`, and
    /// calling the source's upkeep every `upkeep_every`.
    pub fn new(
        source: S,
        fold: Fold,
        readiness: Arc<Readiness>,
        status: Arc<Status>,
        upkeep_every: Duration,
    ) -> Self {
        Self {
            source,
            fold,
            counts: RecordCounts::default(),
            readiness,
            status,
            upkeep_every,
            checkpoints: None,
            feed: None,
            ready_once: false,
        }
    }

    /// Hands a checkpoint to `writer` every `interval`, and a last one on shutdown.
    pub fn snapshot_with(mut self, writer: SnapshotWriter, interval: Duration) -> Self {
        self.checkpoints = Some((writer, interval));
        self
    }

    /// Makes snapshots wait for this change feed to deliver what they contain.
    pub fn with_feed(mut self, feed: Arc<FeedShared>) -> Self {
        self.feed = Some(feed);
        self
    }

    /// The source, for its own settings.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// Every stream's position (next offset to read), in stream-number order.
    pub fn positions(&self) -> Vec<StreamPosition> {
        self.source.positions()
    }

    /// What the source has counted so far.
    pub fn stats(&self) -> &RecordCounts {
        &self.counts
    }

    /// The fold, for its counters and projection.
    pub fn fold(&self) -> &Fold {
        &self.fold
    }

    /// The fold's state and every stream's position, as one unit.
    pub fn checkpoint(&self) -> Result<Checkpoint, ImageError> {
        let taken_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Ok(Checkpoint {
            streams: self.source.positions(),
            image: self.fold.image()?,
            taken_at,
        })
    }

    /// Runs until `stop` is cancelled or the source is exhausted; returns the fold and the
    /// counts.
    pub fn run(mut self, stop: &CancellationToken) -> (Fold, RecordCounts) {
        self.start(stop);
        let mut last_tick = Instant::now();
        let mut last_upkeep = Instant::now();
        let mut last_checkpoint = Instant::now();
        while !stop.is_cancelled() {
            match self.poll_once(POLL_TIMEOUT) {
                Polled::Exhausted => break,
                // A good moment to make `/admin/state` exact.
                Polled::Idle => self.publish_status(),
                _ => {}
            }
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                self.tick();
            }
            if last_upkeep.elapsed() >= self.upkeep_every {
                last_upkeep = Instant::now();
                self.source.upkeep();
            }
            if let Some((writer, interval)) = &self.checkpoints
                && last_checkpoint.elapsed() >= *interval
            {
                last_checkpoint = Instant::now();
                if let Some(checkpoint) = self.checkpoint_for_writer() {
                    writer.offer(checkpoint, self.feed_barrier());
                }
            }
        }
        self.tick();
        self.finish()
    }

    /// Starts the source and publishes the first readiness at once: a replica restored
    /// from a snapshot at the topics' end is ready now, not a tick later.
    pub fn start(&mut self, stop: &CancellationToken) {
        let readiness = Arc::clone(&self.readiness);
        self.source
            .start(stop, &|detail| readiness.set_loading(detail));
        self.status.set_live(true);
        self.tick();
    }

    /// Reads at most one record and takes it; answers a pending request for the state's
    /// view first.
    pub fn poll_once(&mut self, timeout: Duration) -> Polled {
        if self.status.view_requested() {
            self.publish_status();
            self.status.answer_view(self.fold.projection());
        }
        self.source.step(&mut self.fold, &mut self.counts, timeout)
    }

    /// Stops: hands the writer a last checkpoint and waits for it, and lets the source
    /// flush. Returns the fold and the counts.
    pub fn finish(mut self) -> (Fold, RecordCounts) {
        self.status.set_live(false);
        self.publish();
        if let Some((writer, _)) = self.checkpoints.take() {
            // Only a source that laid out its streams has positions worth saving.
            if !self.source.positions().is_empty()
                && let Some(checkpoint) = self.checkpoint_for_writer()
            {
                writer.finish(checkpoint, self.feed_barrier());
            }
        }
        self.source.finish();
        (self.fold, self.counts)
    }

    fn feed_barrier(&self) -> Option<FeedBarrier> {
        self.feed.as_ref().map(FeedShared::barrier)
    }

    /// Takes a checkpoint for the writer, or logs why the fold's state cannot be one.
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

    /// Publishes the status and every metric.
    fn publish(&self) {
        self.publish_status();
        telemetry::publish_fold(&self.fold);
        telemetry::publish_ingest(&self.counts);
        self.source.publish_metrics();
    }

    /// Tells `/admin/state` where each stream stands and what the fold has counted.
    fn publish_status(&self) {
        let positions = self.source.positions();
        self.status
            .set_streams(positions.iter().map(|p| p.name.clone()).collect());
        self.status.update(|r| {
            r.take_fold(&self.fold);
            r.positions = positions;
            r.counts.clone_from(&self.counts);
        });
    }

    /// Publishes, and shows the source's progress as readiness, logging each change.
    fn tick(&mut self) {
        self.publish();
        match self.source.progress() {
            Progress::Loading(detail) => self.readiness.set_loading(detail),
            Progress::Ready => {
                if !self.ready_once {
                    self.ready_once = true;
                    tracing::info!(
                        active_sessions = self.fold.projection().len(),
                        pending_sessions = self.fold.pending_count(),
                        records = self.counts.records,
                        bad = self.counts.bad_total(),
                        unknown_kinds = self.counts.unknown_kinds,
                        "caught up: folded every record there was at start"
                    );
                } else if self.readiness.stale_reason().is_some() {
                    tracing::info!("fresh again");
                }
                self.readiness.set_ready();
            }
            Progress::Stale(reason) => {
                if self.readiness.stale_reason().is_none() {
                    tracing::warn!(%reason, "stale: serving the last state");
                }
                self.readiness.set_stale(reason);
            }
        }
    }
}

/// Runs a driver on its own thread until `stop` is cancelled (or its source is
/// exhausted).
pub fn spawn<S: Source + Send + 'static>(
    driver: Driver<S>,
    stop: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<(Fold, RecordCounts)>> {
    std::thread::Builder::new()
        .name("sessiond-ingest".into())
        .spawn(move || driver.run(&stop))
}
