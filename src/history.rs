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

/// An entry's fixed-size part; its ids' text is in its ring's `text`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    position: Position,
    event_id_len: Option<u32>,
    actor_id_len: Option<u32>,
    kind: &'static str,
    occurred_at: EventTime,
    result: StepResult,
}

impl Slot {
    fn text_len(&self) -> usize {
        (self.event_id_len.unwrap_or(0) + self.actor_id_len.unwrap_or(0)) as usize
    }
}

/// One session's recent events, oldest first: their fixed parts, and their ids' bytes in
/// one ring of text, so that recording an event allocates nothing once the session's
/// buffers have grown to its usual size (the fold records about a million a second).
#[derive(Debug, Default)]
struct Ring {
    slots: VecDeque<Slot>,
    text: VecDeque<u8>,
}

impl Ring {
    fn push(&mut self, depth: usize, step: &Step<'_>) {
        if self.slots.len() == depth
            && let Some(oldest) = self.slots.pop_front()
        {
            self.text.drain(..oldest.text_len());
        }
        let mut text_len = |s: Option<&str>| {
            s.map(|s| {
                self.text.extend(s.as_bytes());
                // Ids come from records of at most a few megabytes.
                u32::try_from(s.len()).unwrap_or(u32::MAX)
            })
        };
        let event_id_len = text_len(step.event_id);
        let actor_id_len = text_len(step.actor_id);
        self.slots.push_back(Slot {
            position: step.position,
            event_id_len,
            actor_id_len,
            kind: step.kind,
            occurred_at: step.occurred_at,
            result: step.result,
        });
    }

    fn entries(&self) -> Vec<HistoryEntry> {
        let mut at = 0;
        let mut take = |len: Option<u32>| {
            len.map(|len| {
                let end = at + len as usize;
                let bytes: Vec<u8> = self.text.range(at..end).copied().collect();
                at = end;
                // Written from `&str`s, whole.
                String::from_utf8(bytes)
                    .unwrap_or_default()
                    .into_boxed_str()
            })
        };
        self.slots
            .iter()
            .map(|slot| HistoryEntry {
                position: slot.position,
                event_id: take(slot.event_id_len),
                actor_id: take(slot.actor_id_len),
                kind: slot.kind,
                occurred_at: slot.occurred_at,
                result: slot.result,
            })
            .collect()
    }
}

/// The recent history of every active session.
#[derive(Debug)]
pub struct History {
    depth: usize,
    sessions: DashMap<SessionId, Ring, RandomState>,
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
        self.sessions.get(id).map(|ring| ring.entries())
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
        // A session restored from a snapshot has no history yet: it starts now. Its key
        // is the fold's own id, so finding it again compares pointers.
        let mut ring = match self.sessions.get_mut(step.session_id) {
            Some(ring) => ring,
            None => self
                .sessions
                .entry(Arc::clone(step.session_id))
                .or_insert_with(|| Ring {
                    slots: VecDeque::with_capacity(self.depth),
                    text: VecDeque::new(),
                }),
        };
        ring.push(self.depth, step);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::Fields;

    fn step<'a>(
        id: &'a SessionId,
        n: i64,
        event_id: Option<&'a str>,
        actor: Option<&'a str>,
    ) -> Step<'a> {
        Step {
            position: Position {
                stream: 0,
                offset: n,
            },
            session_id: id,
            event_id,
            actor_id: actor,
            kind: "LogAppended",
            occurred_at: EventTime(n),
            result: StepResult::Applied(Fields::default()),
        }
    }

    #[test]
    fn keeps_the_last_depth_entries_with_their_ids() {
        let history = Arc::new(History::new(3));
        let mut recorder = history.recorder();
        let id: SessionId = Arc::from("S-1");
        let ids: Vec<String> = (0..10)
            .map(|n| "é".repeat(n % 4) + &n.to_string())
            .collect();
        let actors: Vec<Option<String>> = (0..10)
            .map(|n| (n % 3 != 0).then(|| format!("actor-{}", "x".repeat(n * 7))))
            .collect();
        for n in 0..10 {
            let event_id = (n % 5 != 4).then_some(ids[n].as_str());
            recorder.step(&step(&id, n as i64, event_id, actors[n].as_deref()));
            let entries = history.of("S-1").unwrap();
            assert_eq!(entries.len(), (n + 1).min(3));
            for (k, entry) in entries.iter().enumerate() {
                let m = n + 1 - entries.len() + k;
                assert_eq!(entry.position.offset, m as i64);
                let want = (m % 5 != 4).then(|| ids[m].as_str());
                assert_eq!(entry.event_id.as_deref(), want);
                assert_eq!(entry.actor_id.as_deref(), actors[m].as_deref());
            }
        }
        recorder.removed("S-1", &[]);
        assert!(history.of("S-1").is_none());
    }
}
