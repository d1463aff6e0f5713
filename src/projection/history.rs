//! The last events applied to each active session, with where they came from and what
//! they changed: what `GET /sessions/{id}/history` shows an operator. Kept beside the
//! session in the projection, so the fold records an event in the same map access that
//! applies it; bounded per session, and gone when the session ends.

use smallvec::SmallVec;

use super::{Position, Step, StepResult};
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

/// One entry as kept: its fixed part and its ids' bytes side by side, so that writing it
/// touches one place. Ids of up to [`INLINE_IDS`] bytes together (a ULID and a user id
/// fit) need no allocation at all; longer ones spill to the heap once, and the slot keeps
/// that buffer for the entries that later take its place.
#[derive(Debug)]
struct Slot {
    position: Position,
    occurred_at: EventTime,
    kind: &'static str,
    result: StepResult,
    /// The event id's length in `ids`, if it had one; the actor id follows it.
    event_id_len: Option<u32>,
    has_actor: bool,
    ids: SmallVec<[u8; INLINE_IDS]>,
}

/// Bytes of ids a slot holds without allocating (a slot is then two cache lines).
const INLINE_IDS: usize = 64;

impl Slot {
    fn new(step: &Step<'_>) -> Self {
        let mut slot = Self {
            position: step.position,
            occurred_at: step.occurred_at,
            kind: step.kind,
            result: step.result,
            event_id_len: None,
            has_actor: false,
            ids: SmallVec::new(),
        };
        slot.write_ids(step);
        slot
    }

    /// Becomes `step`'s entry, reusing its buffer.
    fn overwrite(&mut self, step: &Step<'_>) {
        self.position = step.position;
        self.occurred_at = step.occurred_at;
        self.kind = step.kind;
        self.result = step.result;
        self.ids.clear();
        self.write_ids(step);
    }

    fn write_ids(&mut self, step: &Step<'_>) {
        self.event_id_len = step.event_id.map(|id| {
            self.ids.extend_from_slice(id.as_bytes());
            // Ids come from records of at most a few megabytes.
            u32::try_from(id.len()).unwrap_or(u32::MAX)
        });
        self.has_actor = step.actor_id.is_some();
        if let Some(actor) = step.actor_id {
            self.ids.extend_from_slice(actor.as_bytes());
        }
    }

    fn entry(&self) -> HistoryEntry {
        // Written whole from `&str`s, so both halves are UTF-8.
        let text = |bytes: &[u8]| Box::from(std::str::from_utf8(bytes).unwrap_or_default());
        let split = self
            .event_id_len
            .map_or(0, |len| len as usize)
            .min(self.ids.len());
        HistoryEntry {
            position: self.position,
            event_id: self.event_id_len.map(|_| text(&self.ids[..split])),
            actor_id: self.has_actor.then(|| text(&self.ids[split..])),
            kind: self.kind,
            occurred_at: self.occurred_at,
            result: self.result,
        }
    }
}

/// One session's recent events: up to `depth` slots used in turn, `oldest` the next to be
/// overwritten once all are in use. Recording an event allocates nothing once the
/// session's slots exist (the fold records about a million a second).
#[derive(Debug, Default)]
pub(crate) struct Ring {
    slots: Vec<Slot>,
    oldest: usize,
}

impl Ring {
    /// Keeps `step` as the newest of at most `depth` entries.
    pub(crate) fn push(&mut self, depth: usize, step: &Step<'_>) {
        if self.slots.len() < depth {
            if self.slots.len() == self.slots.capacity() {
                // A short session keeps a few slots; one that goes on gets the rest at once.
                let more = if self.slots.is_empty() {
                    depth.min(4)
                } else {
                    depth - self.slots.len()
                };
                self.slots.reserve_exact(more);
            }
            self.slots.push(Slot::new(step));
        } else if let Some(slot) = self.slots.get_mut(self.oldest) {
            slot.overwrite(step);
            self.oldest = (self.oldest + 1) % self.slots.len();
        }
    }

    /// The entries, oldest first.
    pub(crate) fn entries(&self) -> Vec<HistoryEntry> {
        let (newer, older) = self.slots.split_at(self.oldest);
        older.iter().chain(newer).map(Slot::entry).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::events::SessionId;
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
        // Depths below, at and above the slots a new session starts with; ids short enough
        // to sit in a slot and long enough to spill (slots are reused either way).
        for depth in [1, 3, 4, 8] {
            let mut ring = Ring::default();
            let id: SessionId = Arc::from("S-1");
            let ids: Vec<String> = (0..20)
                .map(|n| "é".repeat(n % 4) + &n.to_string())
                .collect();
            let actors: Vec<Option<String>> = (0..20)
                .map(|n| (n % 3 != 0).then(|| format!("actor-{}", "x".repeat((n % 10) * 7))))
                .collect();
            for n in 0..20 {
                let event_id = (n % 5 != 4).then_some(ids[n].as_str());
                ring.push(depth, &step(&id, n as i64, event_id, actors[n].as_deref()));
                let entries = ring.entries();
                assert_eq!(entries.len(), (n + 1).min(depth));
                for (k, entry) in entries.iter().enumerate() {
                    let m = n + 1 - entries.len() + k;
                    assert_eq!(entry.position.offset, m as i64);
                    let want = (m % 5 != 4).then(|| ids[m].as_str());
                    assert_eq!(entry.event_id.as_deref(), want);
                    assert_eq!(entry.actor_id.as_deref(), actors[m].as_deref());
                }
            }
        }
    }
}
