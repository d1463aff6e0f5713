//! The last events applied to each active session, with where they came from and what
//! they changed: what `GET /sessions/{id}/history` shows an operator. Kept by a fold
//! observer, bounded per session, dropped when the session ends.

use std::collections::VecDeque;
use std::sync::Arc;

use dashmap::DashMap;
use foldhash::fast::RandomState;

use crate::events::SessionId;
use crate::projection::{FoldObserver, Position, Step, StepResult};
use crate::time::EventTime;

/// One applied event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Where it came from.
    pub position: Position,
    /// The producer's event id.
    pub event_id: Option<Box<str>>,
    /// Who caused it.
    pub actor_id: Option<Box<str>>,
    /// Its kind.
    pub kind: &'static str,
    /// When it happened.
    pub occurred_at: EventTime,
    /// What it did (started the session, or changed these fields).
    pub result: StepResult,
}

/// The recent history of every active session.
#[derive(Debug)]
pub struct History {
    depth: usize,
    sessions: DashMap<SessionId, VecDeque<HistoryEntry>, RandomState>,
}

impl History {
    /// Keeps the last `depth` applied events per session (0 keeps none).
    pub fn new(depth: usize) -> Self {
        Self {
            depth,
            sessions: DashMap::default(),
        }
    }

    /// The session's last applied events, oldest first; `None` if it is not active (or
    /// history is off).
    pub fn of(&self, id: &str) -> Option<Vec<HistoryEntry>> {
        self.sessions
            .get(id)
            .map(|entries| entries.iter().cloned().collect())
    }

    /// How many events are kept per session.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// An observer that records into this history, for the fold.
    pub fn recorder(self: &Arc<Self>) -> Box<dyn FoldObserver> {
        Box::new(Recorder(Arc::clone(self)))
    }

    fn record(&self, step: &Step<'_>) {
        let entry = HistoryEntry {
            position: step.position,
            event_id: step.event_id.map(Box::from),
            actor_id: step.actor_id.map(Box::from),
            kind: step.kind,
            occurred_at: step.occurred_at,
            result: step.result,
        };
        // A session restored from a snapshot has no history yet: it starts now.
        let mut entries = match self.sessions.get_mut(step.session_id) {
            Some(entries) => entries,
            None => self.sessions.entry(Arc::from(step.session_id)).or_default(),
        };
        if entries.len() == self.depth {
            entries.pop_front();
        }
        entries.push_back(entry);
    }
}

struct Recorder(Arc<History>);

impl FoldObserver for Recorder {
    fn wants_steps(&self) -> bool {
        self.0.depth > 0
    }

    fn wants_removals(&self) -> bool {
        self.0.depth > 0
    }

    fn step(&mut self, step: &Step<'_>) {
        // Only what changed an active session; ends remove the history below.
        if matches!(step.result, StepResult::Started | StepResult::Applied(_)) {
            self.0.record(step);
        }
    }

    fn removed(&mut self, id: &str, _owners: &[String]) {
        self.0.sessions.remove(id);
    }
}
