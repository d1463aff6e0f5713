//! The fold's complete state as plain data: taken for a snapshot, and given back to
//! rebuild a fold (and its projection) that continues exactly where the first left off.

use std::collections::HashMap;
use std::sync::Arc;

use super::{AppliedIds, Book, Fold, FoldConfig, FoldStats, Phase, Position, Stamp};
use crate::events::{Event, SessionId};
use crate::projection::{Projection, Session};
use crate::time::EventTime;

/// Everything the fold knows, besides its configuration and observers.
///
/// Taking one is quick: active sessions are shared (`Arc`), not copied, so the fold is
/// held only for as long as it takes to copy its small per-session bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldImage {
    /// The highest `occurred_at` accepted.
    pub watermark: Option<EventTime>,
    /// The watermark at which expiry next runs.
    pub next_expiry: EventTime,
    /// The fold's counters.
    pub stats: FoldStats,
    /// Every session the fold remembers: active, pending and ended (tombstones).
    pub books: Vec<BookImage>,
}

/// One session's bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct BookImage {
    /// The session id.
    pub id: SessionId,
    /// Active, pending or ended.
    pub state: SessionState,
    /// The highest offset applied, per stream.
    pub positions: Vec<Position>,
    /// Fixed-seed hashes of the event ids applied, sorted.
    pub event_ids: Vec<u64>,
    /// The latest `occurred_at` applied.
    pub last_event_at: EventTime,
    /// The time the session is filed under in the idle order.
    pub idle_key: EventTime,
    /// What decided `lastModifiedBy`: (occurred_at, event id hash, actor hash).
    pub modified_by_stamp: Option<(EventTime, u64, u64)>,
}

/// Where a session stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionState {
    /// Started and not ended: the session as the API shows it.
    Active(Arc<Session>),
    /// Waiting for `SessionStarted`, with the events that came first.
    Pending {
        /// When its first event occurred.
        since: EventTime,
        /// The events waiting, with where they came from, in arrival order.
        events: Vec<(Position, Event)>,
    },
    /// Ended (or evicted) at this watermark; remembered to drop late events.
    Ended {
        /// When it ended.
        at: EventTime,
    },
}

/// Why an image cannot become a fold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestoreError {
    /// Two books for one session.
    #[error("session {0} appears twice")]
    DuplicateSession(String),
    /// An active book whose session has another id.
    #[error("book {book} holds session {session}")]
    MismatchedSession {
        /// The book's id.
        book: String,
        /// The session's id.
        session: String,
    },
    /// A pending session with nothing waiting.
    #[error("pending session {0} has no events")]
    EmptyPending(String),
}

/// Why the fold's state cannot be taken as an image: its bookkeeping disagrees with
/// itself. Never expected; a checkpoint of such a state would silently lose the session,
/// so none is taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// An active session's book whose session is not in the projection.
    #[error("active session {0} is missing from the projection")]
    MissingSession(String),
    /// An ended session's book with no tombstone in the expiry order.
    #[error("ended session {0} has no tombstone")]
    MissingTombstone(String),
}

impl Fold {
    /// The fold's state as data, for a snapshot.
    pub fn image(&self) -> Result<FoldImage, ImageError> {
        // Sized up front, here and for the books: growing them while the fold is held
        // would copy them over and over.
        let mut ended_at: HashMap<&str, EventTime, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(self.tombstone_order.len(), Default::default());
        ended_at.extend(self.tombstone_order.iter().map(|(at, id)| (&**id, *at)));
        let mut books = Vec::with_capacity(self.books.len() + self.tombstones.len());
        for id in &self.tombstones {
            let at = *ended_at
                .get(&**id)
                .ok_or_else(|| ImageError::MissingTombstone(id.to_string()))?;
            books.push(BookImage {
                id: Arc::clone(id),
                state: SessionState::Ended { at },
                positions: Vec::new(),
                event_ids: Vec::new(),
                // Not used once a session has ended; its end time stands in.
                last_event_at: at,
                idle_key: at,
                modified_by_stamp: None,
            });
        }
        for (id, book) in &self.books {
            let state = match &book.phase {
                Phase::Active => SessionState::Active(
                    self.projection
                        .get(id)
                        .ok_or_else(|| ImageError::MissingSession(id.to_string()))?,
                ),
                Phase::Pending { since, events } => SessionState::Pending {
                    since: *since,
                    events: events.clone(),
                },
            };
            let mut event_ids = book.event_ids.to_vec();
            event_ids.sort_unstable();
            books.push(BookImage {
                id: Arc::clone(id),
                state,
                positions: book.positions.to_vec(),
                event_ids,
                last_event_at: book.last_event_at,
                idle_key: book.idle_key,
                modified_by_stamp: book.modified_by_stamp,
            });
        }
        Ok(FoldImage {
            watermark: self.watermark,
            next_expiry: self.next_expiry,
            stats: self.stats.clone(),
            books,
        })
    }

    /// A fold that continues from `image`, writing its active sessions into
    /// `projection` (which should be empty).
    pub fn restore(
        config: FoldConfig,
        projection: Arc<Projection>,
        image: FoldImage,
    ) -> Result<Self, RestoreError> {
        let mut fold = Fold::new(config, projection);
        fold.watermark = image.watermark;
        fold.next_expiry = image.next_expiry;
        fold.stats = image.stats;
        fold.books.reserve(image.books.len());
        // The orders are built once at the end, from sorted runs, rather than by one
        // insertion per session.
        let (mut idle, mut orphans, mut tombstones) = (Vec::new(), Vec::new(), Vec::new());
        for b in image.books {
            let id = Arc::clone(&b.id);
            if fold.books.contains_key(&id) || fold.tombstones.contains(&id) {
                return Err(RestoreError::DuplicateSession(id.to_string()));
            }
            let event_ids = AppliedIds::from_hashes(b.event_ids);
            let stamp: Option<Stamp> = b.modified_by_stamp;
            let mut owners = Vec::new();
            let phase = match b.state {
                SessionState::Active(session) => {
                    if session.id != id {
                        return Err(RestoreError::MismatchedSession {
                            book: id.to_string(),
                            session: session.id.to_string(),
                        });
                    }
                    owners = session.owners().into_iter().map(str::to_owned).collect();
                    for user in &owners {
                        fold.projection.index_add(user, &id);
                    }
                    fold.projection.insert_shared(session);
                    idle.push((b.idle_key, Arc::clone(&id)));
                    Phase::Active
                }
                SessionState::Pending { since, events } => {
                    if events.is_empty() {
                        return Err(RestoreError::EmptyPending(id.to_string()));
                    }
                    orphans.push((since, Arc::clone(&id)));
                    Phase::Pending { since, events }
                }
                SessionState::Ended { at } => {
                    tombstones.push((at, Arc::clone(&id)));
                    fold.tombstones.insert(id);
                    continue;
                }
            };
            fold.books.insert(
                id,
                Book {
                    phase,
                    positions: b.positions.into(),
                    event_ids,
                    last_event_at: b.last_event_at,
                    idle_key: b.idle_key,
                    modified_by_stamp: stamp,
                    owners,
                },
            );
        }
        fold.idle_order = idle.into_iter().collect();
        fold.orphan_order = orphans.into_iter().collect();
        fold.tombstone_order = tombstones.into_iter().collect();
        Ok(fold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::fixtures::sim_events;

    fn folded() -> Fold {
        let mut fold = Fold::new(FoldConfig::default(), Arc::new(Projection::new()));
        for (offset, event) in sim_events(3, 3_000).into_iter().enumerate() {
            fold.apply(
                event,
                Position {
                    stream: 0,
                    offset: offset as i64,
                },
            );
        }
        assert!(fold.projection().len() > 10 && fold.tombstone_count() > 10);
        fold
    }

    #[test]
    fn an_active_session_missing_from_the_projection_is_an_error_not_a_dropped_book() {
        let fold = folded();
        assert!(fold.image().is_ok());
        let id = fold.projection().all()[0].id.to_string();
        fold.projection.remove(&id);
        assert_eq!(fold.image(), Err(ImageError::MissingSession(id)));
    }

    #[test]
    fn an_ended_session_without_its_tombstone_is_an_error_not_a_dropped_book() {
        let mut fold = folded();
        let (_, id) = fold.tombstone_order.pop_first().expect("a tombstone");
        assert_eq!(
            fold.image(),
            Err(ImageError::MissingTombstone(id.to_string()))
        );
    }
}
