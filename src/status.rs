//! What the source reports about the fold for operators (`GET /admin/state`): where each
//! stream stands, the watermark and the counters, refreshed by the source as it reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::position::{StreamName, StreamPosition};
use crate::projection::{Fold, FoldStats, Position, Projection, Session};
use crate::record::RecordCounts;
use crate::time::EventTime;

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
    pub counts: RecordCounts,
    /// The checkpoint this run started from, if any: its file, or the checkpoint topic and
    /// the checkpoint's id and writer.
    pub restored_from: Option<String>,
    /// The last snapshot written: (file, bytes, milliseconds to write).
    pub last_snapshot: Option<(String, u64, u64)>,
    /// What the last turn of the checkpoint topic's writer did (written, skipped, failed).
    pub last_topic_checkpoint: Option<String>,
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

/// The report and the active sessions, taken at one point of the fold.
#[derive(Debug, Clone, Default)]
pub struct StateView {
    /// The report as of that point.
    pub report: FoldReport,
    /// Every active session then, in no particular order.
    pub sessions: Vec<Arc<Session>>,
}

/// Shared between the source (which writes) and the API (which reads).
#[derive(Debug)]
pub struct Status {
    streams: RwLock<Vec<StreamName>>,
    report: Mutex<FoldReport>,
    /// Whether a source is changing the state and answers requests for a view of it.
    live: AtomicBool,
    /// How many views have been asked for; the source answers the newest.
    views_requested: AtomicU64,
    /// How many of them the newest answer covers (as in `views`, without its lock: the
    /// source asks between every two records).
    views_answered: AtomicU64,
    /// The newest answer: (requests it answers, the view).
    views: watch::Sender<(u64, Option<Arc<StateView>>)>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            streams: RwLock::default(),
            report: Mutex::default(),
            live: AtomicBool::new(false),
            views_requested: AtomicU64::new(0),
            views_answered: AtomicU64::new(0),
            views: watch::Sender::new((0, None)),
        }
    }
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

    /// Says whether a source is changing the state (and so answers view requests).
    pub fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
    }

    /// Whether someone waits for a view the source has not given yet; cheap enough to
    /// ask between records.
    pub fn view_requested(&self) -> bool {
        self.views_requested.load(Ordering::Acquire) > self.views_answered.load(Ordering::Acquire)
    }

    /// Answers every request so far with the current report and `projection`'s sessions:
    /// called by the source between records, so both belong to the same point of the fold.
    pub fn answer_view(&self, projection: &Projection) {
        let requested = self.views_requested.load(Ordering::Acquire);
        let view = StateView {
            report: self.report(),
            sessions: projection.all_unordered(),
        };
        self.views.send_replace((requested, Some(Arc::new(view))));
        self.views_answered.store(requested, Ordering::Release);
    }

    /// The report and the sessions at one point of the fold: asked of the running source
    /// (which answers between two records), or read directly when no source is changing
    /// them. A source that does not answer within `wait` (stuck on a broker call) gets a
    /// direct read, which may be a few records apart.
    pub async fn consistent_view(&self, projection: &Projection, wait: Duration) -> Arc<StateView> {
        let direct = || {
            Arc::new(StateView {
                report: self.report(),
                sessions: projection.all_unordered(),
            })
        };
        if !self.live.load(Ordering::Acquire) {
            return direct();
        }
        let mut answers = self.views.subscribe();
        let ticket = self.views_requested.fetch_add(1, Ordering::AcqRel) + 1;
        let answered = tokio::time::timeout(
            wait,
            answers.wait_for(|(answered, view)| *answered >= ticket && view.is_some()),
        )
        .await;
        match answered {
            Ok(Ok(answer)) => answer.1.clone().unwrap_or_else(direct),
            _ => direct(),
        }
    }
}
