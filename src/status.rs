//! What the source reports about the fold for operators (`GET /admin/state`): where each
//! stream stands, the watermark and the counters, refreshed by the source as it reads.

use std::sync::{Mutex, PoisonError, RwLock};

use crate::ingest::kafka::consumer::IngestStats;
use crate::projection::{Fold, FoldStats, Position};
use crate::time::EventTime;

/// A stream's name: a topic partition, or the event-log file (partition 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName {
    /// The topic (or file name).
    pub topic: String,
    /// The partition (0 for a file).
    pub partition: i32,
}

/// One stream's progress: the offset of the next record to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPosition {
    /// Which stream.
    pub name: StreamName,
    /// The next offset to read (the line count, for a file).
    pub next_offset: i64,
}

/// The fold's state as last reported by the source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoldReport {
    /// The highest `occurred_at` accepted.
    pub watermark: Option<EventTime>,
    /// The fold's counters.
    pub stats: FoldStats,
    /// Sessions waiting for their start.
    pub pending_sessions: usize,
    /// Ended sessions remembered.
    pub tombstones: usize,
    /// Each stream's progress, in stream order.
    pub positions: Vec<StreamPosition>,
    /// What the source counted besides the fold.
    pub ingest: IngestStats,
    /// The snapshot this run started from, if any: its file and sequence number.
    pub restored_from: Option<String>,
    /// The last snapshot written: (file, bytes, milliseconds to write).
    pub last_snapshot: Option<(String, u64, u64)>,
}

impl FoldReport {
    /// Copies the fold's part of the report.
    pub fn take_fold(&mut self, fold: &Fold) {
        self.watermark = fold.watermark();
        self.stats.clone_from(fold.stats());
        self.pending_sessions = fold.pending_count();
        self.tombstones = fold.tombstone_count();
    }
}

/// Shared between the source (which writes) and the API (which reads).
#[derive(Debug, Default)]
pub struct Status {
    streams: RwLock<Vec<StreamName>>,
    report: Mutex<FoldReport>,
}

impl Status {
    /// An empty status.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the streams, in stream-number order.
    pub fn set_streams(&self, names: Vec<StreamName>) {
        *self.streams.write().unwrap_or_else(PoisonError::into_inner) = names;
    }

    /// The name of a position's stream, if the source named it.
    pub fn stream_name(&self, position: Position) -> Option<StreamName> {
        self.streams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(position.stream as usize)
            .cloned()
    }

    /// Changes the report.
    pub fn update(&self, f: impl FnOnce(&mut FoldReport)) {
        f(&mut self.report.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The last report.
    pub fn report(&self) -> FoldReport {
        self.report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
