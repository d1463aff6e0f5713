//! The fold: applies validated events, in the order one source delivers them, to the
//! projection. It is a pure function of its input: every notion of time comes from the
//! events' `occurred_at` and the watermark, never from a clock, so the same events always
//! give the same state and evict the same sessions at the same point.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use foldhash::fast::FixedState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use smallvec::SmallVec;

mod applied_ids;
mod image;

use applied_ids::AppliedIds;

pub use image::{BookImage, FoldImage, ImageError, RestoreError, SessionState};

use super::Projection;
use super::observe::{FoldObserver, Observers, ShortText, Step, StepResult};
use super::session::{Change, Session};
use crate::events::{Event, EventKind, KIND_NAMES, SessionId, Started};
pub use crate::position::Position;
use crate::time::EventTime;

/// The fold's event-time windows (event-model.md's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldConfig {
    /// How long an ended session is remembered so late events cannot resurrect it.
    pub tombstone_retention: Duration,
    /// A session with no event for longer than this is evicted (its end was lost).
    pub max_idle: Duration,
    /// A pending session whose `SessionStarted` has not come within this is dropped.
    pub orphan_ttl: Duration,
}

impl Default for FoldConfig {
    fn default() -> Self {
        Self {
            tombstone_retention: Duration::from_secs(10 * 60),
            max_idle: Duration::from_secs(12 * 60 * 60),
            orphan_ttl: Duration::from_secs(60 * 60),
        }
    }
}

/// Why the fold did not apply an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// Its position or event id was applied to the session before (redelivery), or it is
    /// a second `SessionStarted`.
    Duplicate,
    /// It came after the session ended.
    Late,
    /// A member event naming a member the session does not have.
    UnknownMember,
}

impl SkipReason {
    /// A short, stable label for counters and traces.
    pub fn code(self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::Late => "late",
            Self::UnknownMember => "unknown_member",
        }
    }
}

/// What the fold did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The event changed an active session (or started or ended one).
    Applied,
    /// The session has not started yet: the event waits on the pending session.
    Buffered,
    /// The event was not applied.
    Skipped(SkipReason),
}

/// Counters of what the fold has done, for logs, metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldStats {
    /// Events applied, by kind in [`KIND_NAMES`] order (buffered events count when they
    /// apply); [`FoldStats::applied`] names them.
    pub applied_by_kind: [u64; KIND_NAMES.len()],
    /// Events not applied, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Sessions evicted after `max_idle` with no event.
    pub evicted_idle: u64,
    /// Pending sessions dropped after `orphan_ttl`.
    pub orphaned_sessions: u64,
    /// Events dropped with those pending sessions.
    pub orphaned_events: u64,
    /// Tombstones forgotten after `tombstone_retention`.
    pub tombstones_expired: u64,
}

/// How much event time passes between expiry passes.
const EXPIRY_STEP: Duration = Duration::from_secs(1);

/// A fixed-seed hasher: hashes that are the same on every run keep the fold deterministic.
const FIXED: FixedState = FixedState::with_seed(0x5e55_10d5);

/// What decides `lastModifiedBy`: (occurred_at, event id hash, actor hash).
type Stamp = (EventTime, u64, u64);

impl FoldStats {
    /// Events applied, by kind name, leaving out kinds never applied.
    pub fn applied(&self) -> BTreeMap<&'static str, u64> {
        KIND_NAMES
            .iter()
            .zip(self.applied_by_kind)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| (*name, n))
            .collect()
    }
}

/// The fold's bookkeeping for one active or pending session, private to the writer.
#[derive(Debug)]
struct Book {
    phase: Phase,
    /// The highest offset applied per stream: a record at or below it is a redelivery.
    /// Kept in the book itself for a session's two topics, since every event reads it.
    positions: SmallVec<[Position; 2]>,
    /// Hashes of the event ids applied (fixed-seed, so the same on every run): a 64-bit
    /// hash keeps this memory small; two distinct ids of one session colliding is a
    /// 2^-64 event per pair.
    event_ids: AppliedIds,
    last_event_at: EventTime,
    /// The time this session is filed under in the idle order; `last_event_at` may have
    /// moved on since, which the expiry pass checks before evicting.
    idle_key: EventTime,
    /// The (occurred_at, event id hash, actor hash) that set `lastModifiedBy`: the
    /// greatest wins, so the result does not depend on how the two topics interleaved.
    modified_by_stamp: Option<Stamp>,
    owners: Vec<String>,
}

#[derive(Debug)]
enum Phase {
    /// Events arrived before `SessionStarted`; they apply when it comes.
    Pending {
        since: EventTime,
        events: Vec<(Position, Event)>,
    },
    Active,
}

impl Book {
    fn new(at: EventTime, phase: Phase) -> Self {
        Self {
            phase,
            positions: SmallVec::new(),
            event_ids: AppliedIds::default(),
            last_event_at: at,
            idle_key: at,
            modified_by_stamp: None,
            owners: Vec::new(),
        }
    }

    /// Records the event as seen; false if it was seen before.
    fn remember(&mut self, event: &Event, position: Position) -> bool {
        match self
            .positions
            .iter_mut()
            .find(|p| p.stream == position.stream)
        {
            Some(p) if p.offset >= position.offset => return false,
            Some(p) => p.offset = position.offset,
            None => self.positions.push(position),
        }
        match &event.event_id {
            Some(id) => self.event_ids.insert(FIXED.hash_one(id)),
            None => true,
        }
    }
}

/// The single writer of a [`Projection`].
#[derive(Debug)]
pub struct Fold {
    config: FoldConfig,
    projection: Arc<Projection>,
    books: HashMap<SessionId, Book, foldhash::fast::RandomState>,
    /// Sessions that ended or were evicted (tombstones): late events for them are dropped.
    /// Kept apart from the books since they are most of the sessions a fold remembers and
    /// need nothing but their id (the time they ended is in `tombstone_order`).
    tombstones: HashSet<SessionId, foldhash::fast::RandomState>,
    watermark: Option<EventTime>,
    /// The watermark at which expiry next runs.
    next_expiry: EventTime,
    /// Active sessions by last event time, pending ones by first, tombstones by end: the
    /// next to expire is always first.
    idle_order: BTreeSet<(EventTime, SessionId)>,
    orphan_order: BTreeSet<(EventTime, SessionId)>,
    tombstone_order: BTreeSet<(EventTime, SessionId)>,
    stats: FoldStats,
    observers: Observers,
    /// Cached from the observers, so the hot path asks a bool, not a list.
    wants_steps: bool,
    /// Applied events kept per active session, beside it in the projection (0: none).
    history_depth: usize,
}

/// The parts of an event a [`Step`] names, kept while the event itself is consumed.
struct StepMeta {
    position: Position,
    session_id: SessionId,
    event_id: Option<ShortText>,
    actor_id: Option<ShortText>,
    kind: &'static str,
    occurred_at: EventTime,
}

impl StepMeta {
    fn of(event: &Event, position: Position) -> Self {
        Self {
            position,
            session_id: Arc::clone(&event.session_id),
            event_id: event.event_id.as_deref().map(ShortText::new),
            actor_id: event.actor_id.as_deref().map(ShortText::new),
            kind: event.kind.name(),
            occurred_at: event.occurred_at,
        }
    }

    fn step(&self, result: StepResult) -> Step<'_> {
        Step {
            position: self.position,
            session_id: &self.session_id,
            event_id: self.event_id.as_deref(),
            actor_id: self.actor_id.as_deref(),
            kind: self.kind,
            occurred_at: self.occurred_at,
            result,
        }
    }
}

impl Fold {
    /// A fold writing into `projection`, which should be empty.
    pub fn new(config: FoldConfig, projection: Arc<Projection>) -> Self {
        Self {
            config,
            projection,
            books: HashMap::default(),
            tombstones: HashSet::default(),
            watermark: None,
            next_expiry: EventTime(i64::MIN),
            idle_order: BTreeSet::new(),
            orphan_order: BTreeSet::new(),
            tombstone_order: BTreeSet::new(),
            stats: FoldStats::default(),
            observers: Observers::default(),
            wants_steps: false,
            history_depth: 0,
        }
    }

    /// Keeps the last `depth` events applied to each active session from now on, for
    /// [`Projection::history`] (0 keeps none).
    pub fn keep_history(&mut self, depth: usize) {
        self.history_depth = depth;
    }

    /// Adds an observer: it hears about every event and change from now on.
    pub fn observe(&mut self, observer: Box<dyn FoldObserver>) {
        self.observers.push(observer);
        self.wants_steps = self.observers.wants_steps();
    }

    /// The projection this fold writes.
    pub fn projection(&self) -> &Arc<Projection> {
        &self.projection
    }

    /// The highest `occurred_at` accepted so far.
    pub fn watermark(&self) -> Option<EventTime> {
        self.watermark
    }

    /// What the fold has done so far.
    pub fn stats(&self) -> &FoldStats {
        &self.stats
    }

    /// Where a session stands, in a word: `active`, `pending`, `ended`, or `unknown`.
    pub fn session_phase(&self, id: &str) -> &'static str {
        match self.books.get(id).map(|b| &b.phase) {
            Some(Phase::Active) => "active",
            Some(Phase::Pending { .. }) => "pending: waiting for SessionStarted",
            None if self.tombstones.contains(id) => "ended",
            None => "unknown: no event of it was folded",
        }
    }

    /// Sessions waiting for their `SessionStarted`.
    pub fn pending_count(&self) -> usize {
        self.orphan_order.len()
    }

    /// Ended sessions still remembered to drop late events.
    pub fn tombstone_count(&self) -> usize {
        self.tombstone_order.len()
    }

    /// Applies one event that came from `position`.
    pub fn apply(&mut self, event: Event, position: Position) -> Outcome {
        let at = event.occurred_at;
        let mut meta = self.wants_steps.then(|| StepMeta::of(&event, position));
        let result = self.route(event, position, &mut meta);
        if let Some(meta) = meta {
            self.observers.step(&meta.step(result));
        }
        let outcome = match result {
            StepResult::Started | StepResult::Applied(_) | StepResult::Ended => Outcome::Applied,
            StepResult::Buffered => Outcome::Buffered,
            StepResult::Skipped(reason) => Outcome::Skipped(reason),
            // Only expiry orphans events, never their arrival.
            StepResult::Orphaned => Outcome::Buffered,
        };
        if let Outcome::Skipped(reason) = outcome {
            *self.stats.skipped.entry(reason).or_default() += 1;
        } else {
            self.advance_watermark(at);
        }
        outcome
    }

    /// Routes the event by its session's phase. `meta` is reported here when events
    /// that waited for this one follow it, so observers hear of the start first.
    fn route(
        &mut self,
        mut event: Event,
        position: Position,
        meta: &mut Option<StepMeta>,
    ) -> StepResult {
        let book = match self.books.entry(Arc::clone(&event.session_id)) {
            Entry::Occupied(entry) => {
                // From here on the event carries the book's own id, so everything that
                // keeps the id (the session, the per-user index, the expiry orders) shares
                // one copy of it, and observers hear the same `Arc` every time: a map
                // keyed by it compares pointers, not strings.
                event.session_id = Arc::clone(entry.key());
                if let Some(meta) = meta.as_mut() {
                    meta.session_id = Arc::clone(entry.key());
                }
                entry.into_mut()
            }
            Entry::Vacant(_) if self.tombstones.contains(&event.session_id) => {
                return StepResult::Skipped(SkipReason::Late);
            }
            Entry::Vacant(entry) => entry.insert(Book::new(
                event.occurred_at,
                Phase::Pending {
                    since: event.occurred_at,
                    events: Vec::new(),
                },
            )),
        };
        if !book.remember(&event, position) {
            return StepResult::Skipped(SkipReason::Duplicate);
        }
        match (&mut book.phase, &event.kind) {
            (Phase::Pending { since, events }, EventKind::SessionStarted(_)) => {
                let since = *since;
                let buffered = std::mem::take(events);
                book.phase = Phase::Active;
                book.last_event_at = event.occurred_at;
                book.idle_key = event.occurred_at;
                self.orphan_order
                    .remove(&(since, Arc::clone(&event.session_id)));
                self.idle_order
                    .insert((event.occurred_at, Arc::clone(&event.session_id)));
                self.start(event, position);
                if let Some(meta) = meta.take() {
                    self.observers.step(&meta.step(StepResult::Started));
                }
                for (waiting_at, waiting) in buffered {
                    let meta = self.wants_steps.then(|| StepMeta::of(&waiting, waiting_at));
                    let result = self.apply_active(waiting, waiting_at);
                    if let StepResult::Skipped(reason) = result {
                        *self.stats.skipped.entry(reason).or_default() += 1;
                    }
                    if let Some(meta) = meta {
                        self.observers.step(&meta.step(result));
                    }
                }
                StepResult::Started
            }
            (Phase::Pending { since, events }, _) => {
                if events.is_empty() {
                    self.orphan_order
                        .insert((*since, Arc::clone(&event.session_id)));
                }
                events.push((position, event));
                StepResult::Buffered
            }
            (Phase::Active, EventKind::SessionStarted(_)) => {
                StepResult::Skipped(SkipReason::Duplicate)
            }
            (Phase::Active, _) => self.apply_active(event, position),
        }
    }

    /// Creates the session from its `SessionStarted`.
    fn start(&mut self, event: Event, position: Position) {
        let Event {
            event_id,
            session_id,
            occurred_at,
            account_id,
            actor_id,
            kind,
        } = event;
        let kind_name = kind.name();
        let EventKind::SessionStarted(started) = kind else {
            return;
        };
        self.stats.applied_by_kind[EventKind::STARTED_INDEX] += 1;
        if let (Some(actor), Some(book)) = (&actor_id, self.books.get_mut(&session_id)) {
            let event_hash = event_id.as_ref().map_or(0, |e| FIXED.hash_one(e));
            book.modified_by_stamp = Some((occurred_at, event_hash, FIXED.hash_one(actor)));
        }
        let session = Arc::new(new_session(
            Arc::clone(&session_id),
            occurred_at,
            account_id,
            actor_id,
            *started,
        ));
        let first = Step {
            position,
            session_id: &session_id,
            event_id: event_id.as_deref(),
            // The session keeps the actor as its creator.
            actor_id: session.created_by.as_deref(),
            kind: kind_name,
            occurred_at,
            result: StepResult::Started,
        };
        self.projection
            .start(Arc::clone(&session), self.history_depth, &first);
        if let Some(book) = self.books.get_mut(&session_id) {
            let owners = session.owners().into_iter().map(str::to_owned).collect();
            reindex(&self.projection, book, &session_id, owners);
        }
        if self.observers.wants_upserts() {
            self.announce(&session_id, &[]);
        }
    }

    /// Tells the observers the session's current state and who can see it.
    fn announce(&mut self, id: &SessionId, lost: &[String]) {
        let (Some(session), Some(book)) = (self.projection.get(id), self.books.get(id)) else {
            return;
        };
        self.observers.upserted(&session, &book.owners, lost);
    }

    /// Applies an event to an active session (including one buffered before the start).
    fn apply_active(&mut self, event: Event, position: Position) -> StepResult {
        let Event {
            event_id,
            session_id,
            occurred_at,
            actor_id,
            kind,
            ..
        } = event;
        let id = &session_id;
        let kind_index = kind.index();
        let kind_name = kind.name();
        let history_depth = self.history_depth;
        let changes_members = matches!(
            kind,
            EventKind::MemberJoined(_) | EventKind::MemberLeft { .. }
        );
        if let EventKind::SessionEnded { .. } = kind {
            self.end(id, occurred_at);
            self.stats.applied_by_kind[kind_index] += 1;
            return StepResult::Ended;
        }
        let Some(book) = self.books.get_mut(id) else {
            // An active session always has its book; treat a miss like a late event.
            return StepResult::Skipped(SkipReason::Late);
        };
        // Decided before the session is touched, so one map access applies everything.
        let stamp = actor_id.as_ref().map(|actor| {
            let event_hash = event_id.as_ref().map_or(0, |e| FIXED.hash_one(e));
            (occurred_at, event_hash, FIXED.hash_one(actor))
        });
        let new_actor = match (&actor_id, stamp) {
            (Some(actor), Some(stamp)) if book.modified_by_stamp.is_none_or(|s| stamp > s) => {
                Some(actor)
            }
            _ => None,
        };
        let mut moved_owners = None;
        let change = self.projection.update(id, |s, history| {
            let change = s.apply(occurred_at, kind);
            if let Change::Updated(fields) = change {
                // Most member events leave the owners as they were.
                if changes_members && !s.has_owners(&book.owners) {
                    let owners = s.owners().into_iter().map(str::to_owned).collect();
                    moved_owners = Some(owners);
                }
                s.last_modified_at = s.last_modified_at.max(occurred_at);
                if let Some(actor) = new_actor
                    && s.last_modified_by.as_ref() != Some(actor)
                {
                    s.last_modified_by = Some(actor.clone());
                }
                if history_depth > 0 {
                    let step = Step {
                        position,
                        session_id: id,
                        event_id: event_id.as_deref(),
                        actor_id: actor_id.as_deref(),
                        kind: kind_name,
                        occurred_at,
                        result: StepResult::Applied(fields),
                    };
                    history.push(history_depth, &step);
                }
            }
            change
        });
        match change {
            Some(Change::Updated(fields)) => {
                if new_actor.is_some() {
                    book.modified_by_stamp = stamp;
                }
                book.last_event_at = book.last_event_at.max(occurred_at);
                self.stats.applied_by_kind[kind_index] += 1;
                let lost = match moved_owners {
                    Some(owners) => reindex(&self.projection, book, id, owners),
                    None => Vec::new(),
                };
                if self.observers.wants_upserts() {
                    self.announce(id, &lost);
                }
                StepResult::Applied(fields)
            }
            Some(Change::UnknownMember) => StepResult::Skipped(SkipReason::UnknownMember),
            None => StepResult::Skipped(SkipReason::Late),
        }
    }

    /// Takes a session out of the projection and leaves a tombstone.
    fn end(&mut self, id: &SessionId, at: EventTime) {
        let Some((id, book)) = self.books.remove_entry(id) else {
            return;
        };
        let id = &id;
        // The index goes first so that no reader finds an id whose session is gone
        // and then, worse, a session it no longer owns.
        let owners = book.owners;
        for user in &owners {
            self.projection.index_remove(user, id);
        }
        self.idle_order.remove(&(book.idle_key, Arc::clone(id)));
        self.tombstones.insert(Arc::clone(id));
        self.tombstone_order.insert((at, Arc::clone(id)));
        self.projection.remove(id);
        if self.observers.wants_removals() {
            self.observers.removed(id, &owners);
        }
    }

    fn advance_watermark(&mut self, at: EventTime) {
        if self.watermark.is_some_and(|w| w >= at) {
            return;
        }
        self.watermark = Some(at);
        // Expiry runs once per EXPIRY_STEP of event time, not on every event: still a
        // function of the events alone, so replays expire the same sessions at the same
        // point, and no window is off by more than the step.
        if at >= self.next_expiry {
            self.next_expiry = at.saturating_add(EXPIRY_STEP);
            self.expire(at);
        }
    }

    /// Evicts idle sessions, drops orphans and forgets old tombstones, all by event time.
    fn expire(&mut self, watermark: EventTime) {
        let before = |d: Duration| {
            EventTime(
                watermark
                    .0
                    .saturating_sub(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            )
        };

        let idle_cutoff = before(self.config.max_idle);
        while let Some((at, id)) = first_before(&self.idle_order, idle_cutoff) {
            self.idle_order.remove(&(at, Arc::clone(&id)));
            // Filed under an older time: the session has had events since. Refile it under
            // its latest; the loop evicts it if that too is past the cutoff.
            if let Some(book) = self.books.get_mut(&id)
                && book.last_event_at > at
            {
                book.idle_key = book.last_event_at;
                self.idle_order.insert((book.last_event_at, id));
                continue;
            }
            self.end(&id, watermark);
            self.stats.evicted_idle += 1;
        }

        let orphan_cutoff = before(self.config.orphan_ttl);
        while let Some((since, id)) = first_before(&self.orphan_order, orphan_cutoff) {
            self.orphan_order.remove(&(since, Arc::clone(&id)));
            if let Some(Book {
                phase: Phase::Pending { events, .. },
                ..
            }) = self.books.remove(&id)
            {
                self.stats.orphaned_sessions += 1;
                self.stats.orphaned_events += events.len() as u64;
                if self.wants_steps {
                    for (position, event) in &events {
                        let meta = StepMeta::of(event, *position);
                        self.observers.step(&meta.step(StepResult::Orphaned));
                    }
                }
            }
        }

        let tombstone_cutoff = before(self.config.tombstone_retention);
        while let Some((at, id)) = first_before(&self.tombstone_order, tombstone_cutoff) {
            self.tombstone_order.remove(&(at, Arc::clone(&id)));
            self.tombstones.remove(&id);
            self.stats.tombstones_expired += 1;
        }
    }
}

/// Brings the per-user index from the users in `book` to `owners` (the session's users
/// now, sorted); returns the users who can no longer see it.
fn reindex(
    projection: &Projection,
    book: &mut Book,
    id: &SessionId,
    owners: Vec<String>,
) -> Vec<String> {
    for user in owners.iter().filter(|u| !book.owners.contains(u)) {
        projection.index_add(user, id);
    }
    let lost: Vec<String> = std::mem::replace(&mut book.owners, owners)
        .into_iter()
        .filter(|u| !book.owners.contains(u))
        .collect();
    for user in &lost {
        projection.index_remove(user, id);
    }
    lost
}

fn first_before(
    order: &BTreeSet<(EventTime, SessionId)>,
    cutoff: EventTime,
) -> Option<(EventTime, SessionId)> {
    order
        .first()
        .filter(|(at, _)| *at < cutoff)
        .map(|(at, id)| (*at, Arc::clone(id)))
}

fn new_session(
    id: SessionId,
    at: EventTime,
    account_id: Option<String>,
    actor_id: Option<String>,
    s: Started,
) -> Session {
    Session {
        id,
        created_at: at,
        created_by: actor_id.clone(),
        last_modified_at: at,
        last_modified_by: actor_id,
        account_id,
        account_name: s.account_name,
        dial_state: s.dial_state,
        call_state: s.call_state,
        queue_state: s.queue_state,
        customer_id: s.customer_id,
        customer_name: s.customer_name,
        customer_breadcrumb: s.customer_breadcrumb,
        endpoint_id: s.endpoint_id,
        endpoint_name: s.endpoint_name,
        channel: s.channel,
        direction: s.direction,
        destination: s.destination,
        to_address: s.to_address,
        from_address: s.from_address,
        from_name: s.from_name,
        from_phone_number: s.from_phone_number,
        callback_number: s.callback_number,
        call_sid: s.call_sid,
        display_name: s.display_name,
        console_data: None,
        outcome: None,
        answered_by_id: None,
        answered_by_name: None,
        queue_member_id: None,
        ring_queue_id: None,
        held_by_user_id: None,
        hold_queue_name: None,
        hold_reason: crate::model::SessionHoldReasons::None,
        conference_sid: None,
        most_recent_participant_call_sid: None,
        was_missed: false,
        log: Vec::new(),
        members: Vec::new(),
        rendered: super::Renderings::default(),
    }
}
