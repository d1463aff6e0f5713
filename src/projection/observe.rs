//! What the fold tells observers: each event's fate (for traces) and each
//! change to an active session (for live streams and the change feed). Observers run on
//! the fold's thread, so they must be quick and must never block.

use std::sync::Arc;

use smallvec::SmallVec;

use super::session::{Fields, Session};
use super::{Position, SkipReason};
use crate::events::SessionId;
use crate::time::EventTime;

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepResult {
    /// `SessionStarted`: the session now exists.
    Started,
    /// The event changed these fields of an active session.
    Applied(Fields),
    /// `SessionEnded`: the session is gone (a tombstone remains).
    Ended,
    /// The session has not started: the event waits for its `SessionStarted`.
    Buffered,
    /// The event was not applied.
    Skipped(SkipReason),
    /// The event waited for a `SessionStarted` that never came within the orphan window,
    /// and was dropped with its pending session.
    Orphaned,
}

impl StepResult {
    /// Whether the event changed the projection.
    pub fn is_applied(self) -> bool {
        matches!(self, Self::Started | Self::Applied(_) | Self::Ended)
    }
}

/// A copy of a short string (an event id, an actor id) that needs no allocation up to
/// 40 bytes: the fold copies two per event for a step observer, at a million events a
/// second.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ShortText(SmallVec<[u8; 40]>);

impl ShortText {
    /// A copy of `s`.
    pub fn new(s: &str) -> Self {
        Self(SmallVec::from_slice(s.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ever made from a `&str`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for ShortText {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for ShortText {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<ShortText> for String {
    fn from(s: ShortText) -> Self {
        s.as_str().to_owned()
    }
}

/// One event as the fold handled it. Events that waited for their session's start are
/// reported twice: buffered when they came, then applied (or orphaned) later.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// Where the event came from.
    pub position: Position,
    /// Its session (the fold's own id, so an observer can keep it without a copy).
    pub session_id: &'a SessionId,
    /// The producer's event id.
    pub event_id: Option<&'a str>,
    /// Who caused it.
    pub actor_id: Option<&'a str>,
    /// Its kind's name.
    pub kind: &'static str,
    /// When it happened.
    pub occurred_at: EventTime,
    /// What the fold did with it.
    pub result: StepResult,
}

/// Receives what the fold does. Every method has an empty default, and the fold skips
/// the work of describing changes nobody asked for. `wants_steps` is asked once, when the
/// observer is added; the other two at every change, since whether anyone listens (a
/// live stream, say) comes and goes.
pub trait FoldObserver: Send {
    /// Whether [`FoldObserver::step`] should be called.
    fn wants_steps(&self) -> bool {
        false
    }

    /// Whether [`FoldObserver::upserted`] should be called now.
    fn wants_upserts(&self) -> bool {
        false
    }

    /// Whether [`FoldObserver::removed`] should be called now.
    fn wants_removals(&self) -> bool {
        false
    }

    /// One event's fate.
    fn step(&mut self, _step: &Step<'_>) {}

    /// An active session was created or changed. `owners` may see it now; `lost` could
    /// see it before this change and no longer can.
    fn upserted(&mut self, _session: &Arc<Session>, _owners: &[String], _lost: &[String]) {}

    /// A session ended or was evicted; `owners` could see it until now.
    fn removed(&mut self, _id: &str, _owners: &[String]) {}
}

/// Several observers as one, in order.
#[derive(Default)]
pub struct Observers(Vec<Box<dyn FoldObserver>>);

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observers({})", self.0.len())
    }
}

impl Observers {
    /// Adds an observer after the others.
    pub fn push(&mut self, observer: Box<dyn FoldObserver>) {
        self.0.push(observer);
    }
}

impl FoldObserver for Observers {
    fn wants_steps(&self) -> bool {
        self.0.iter().any(|o| o.wants_steps())
    }

    fn wants_upserts(&self) -> bool {
        self.0.iter().any(|o| o.wants_upserts())
    }

    fn wants_removals(&self) -> bool {
        self.0.iter().any(|o| o.wants_removals())
    }

    fn step(&mut self, step: &Step<'_>) {
        for o in &mut self.0 {
            if o.wants_steps() {
                o.step(step);
            }
        }
    }

    fn upserted(&mut self, session: &Arc<Session>, owners: &[String], lost: &[String]) {
        for o in &mut self.0 {
            if o.wants_upserts() {
                o.upserted(session, owners, lost);
            }
        }
    }

    fn removed(&mut self, id: &str, owners: &[String]) {
        for o in &mut self.0 {
            if o.wants_removals() {
                o.removed(id, owners);
            }
        }
    }
}
