//! The projection: active sessions by id (each with its last applied events) and a
//! per-user index, read concurrently by the API while one fold writes them.

pub mod fold;
pub mod history;
pub mod observe;
pub mod session;

use std::hash::BuildHasher;
use std::sync::Arc;

use dashmap::DashMap;
use foldhash::fast::{FixedState, RandomState};

use crate::events::SessionId;
pub use fold::{
    BookImage, Fold, FoldConfig, FoldImage, FoldStats, ImageError, Outcome, Position, RestoreError,
    SessionState, SkipReason,
};
pub use history::HistoryEntry;
use history::Ring;
pub use observe::{FoldObserver, ShortText, Step, StepResult};
pub use session::{FIELD_NAMES, Fields, LogEntry, Member, Rendering, Renderings, Session};

/// The shared, readable state: what `GET /sessions/active` is served from.
///
/// Values are `Arc` snapshots: a reader clones the `Arc` out and never holds a map guard
/// while it works, so it always sees one consistent version of a session.
#[derive(Debug, Default)]
pub struct Projection {
    sessions: DashMap<SessionId, Active, RandomState>,
    by_user: DashMap<Box<str>, Vec<Indexed>, RandomState>,
}

/// One active session as the projection holds it: its current version, and the last
/// events the fold applied to it (kept here so that recording one costs no second map
/// access, and ending the session forgets them).
#[derive(Debug)]
struct Active {
    session: Arc<Session>,
    history: Ring,
}

impl Active {
    fn new(session: Arc<Session>) -> Self {
        Self {
            session,
            history: Ring::default(),
        }
    }
}

/// One session in a user's index, with its id's hash: the fold looks a session up in the
/// list at every change of its owners, and comparing hashes first spares it reading the
/// text of every other session the user has (each its own allocation, rarely in cache).
#[derive(Debug, Clone)]
struct Indexed {
    hash: u64,
    id: SessionId,
}

/// Hashes ids for the per-user index (any fixed seed: the hashes never leave the process).
const ID_HASH: FixedState = FixedState::with_seed(0x1d_5e55);

fn id_hash(id: &str) -> u64 {
    ID_HASH.hash_one(id)
}

impl Projection {
    /// An empty projection.
    pub fn new() -> Self {
        Self::default()
    }

    /// The active sessions `user` may see, ordered by `dateCreated`, then `id`.
    ///
    /// Costs O(that user's sessions): the per-user index names them, and each is checked
    /// against its current members, since the index is updated just after the session.
    pub fn sessions_for_user(&self, user: &str) -> Vec<Arc<Session>> {
        let ids = match self.by_user.get(user) {
            Some(ids) => ids.clone(),
            None => return Vec::new(),
        };
        let mut sessions: Vec<Arc<Session>> = ids
            .iter()
            .filter_map(|entry| self.get(&entry.id))
            .filter(|s| s.is_owned_by(user))
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        sessions
    }

    /// One active session by id.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.get(id).map(|s| Arc::clone(&s.session))
    }

    /// The last events applied to an active session, oldest first (none unless the fold
    /// keeps history); `None` if the session is not active.
    pub fn history(&self, id: &str) -> Option<Vec<HistoryEntry>> {
        self.sessions.get(id).map(|s| s.history.entries())
    }

    /// Every active session, ordered by id.
    pub fn all(&self) -> Vec<Arc<Session>> {
        let mut all: Vec<Arc<Session>> = self
            .sessions
            .iter()
            .map(|s| Arc::clone(&s.session))
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Every active session, in no particular order (cheaper than [`all`](Self::all)).
    pub fn all_unordered(&self) -> Vec<Arc<Session>> {
        let mut all = Vec::with_capacity(self.sessions.len());
        all.extend(self.sessions.iter().map(|s| Arc::clone(&s.session)));
        all
    }

    /// How many sessions are active.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is active.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Forgets every session (a restore that failed half-way starts over from empty).
    pub fn clear(&self) {
        self.sessions.clear();
        self.by_user.clear();
    }

    /// Adds a session that has just started, with `started` as its first history entry
    /// when `history_depth` keeps any.
    fn start(&self, session: Arc<Session>, history_depth: usize, started: &Step<'_>) {
        let mut active = Active::new(session);
        if history_depth > 0 {
            active.history.push(history_depth, started);
        }
        self.sessions.insert(Arc::clone(&active.session.id), active);
    }

    /// Adds a session restored from an image (its history starts empty).
    fn insert_shared(&self, session: Arc<Session>) {
        self.sessions
            .insert(Arc::clone(&session.id), Active::new(session));
    }

    /// Changes a session in place unless a reader still holds its current snapshot, in
    /// which case the reader keeps the old version (and its renderings) and the map gets
    /// a new one. Either way the new version starts with no renderings. `f` also gets the
    /// session's history, to record the event that changed it.
    fn update<R>(&self, id: &str, f: impl FnOnce(&mut Session, &mut Ring) -> R) -> Option<R> {
        let mut entry = self.sessions.get_mut(id)?;
        let Active { session, history } = entry.value_mut();
        let session = Arc::make_mut(session);
        session.rendered.clear();
        Some(f(session, history))
    }

    fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.remove(id).map(|(_, s)| s.session)
    }

    fn index_add(&self, user: &str, id: &SessionId) {
        // A user seen before needs no copy of their name.
        let mut ids = match self.by_user.get_mut(user) {
            Some(ids) => ids,
            None => self.by_user.entry(Box::from(user)).or_default(),
        };
        let hash = id_hash(id);
        if !ids
            .iter()
            .any(|e| e.hash == hash && (Arc::ptr_eq(&e.id, id) || e.id == *id))
        {
            ids.push(Indexed {
                hash,
                id: Arc::clone(id),
            });
        }
    }

    fn index_remove(&self, user: &str, id: &SessionId) {
        let emptied = match self.by_user.get_mut(user) {
            Some(mut ids) => {
                let hash = id_hash(id);
                // The fold files and removes a session under one shared id, so its text is
                // compared (read from elsewhere in memory) only if that ever differs.
                ids.retain(|e| e.hash != hash || !(Arc::ptr_eq(&e.id, id) || e.id == *id));
                ids.is_empty()
            }
            None => false,
        };
        if emptied {
            self.by_user.remove_if(user, |_, ids| ids.is_empty());
        }
    }
}
