//! Per-user change streams. The fold tells the hub about every change; the hub keeps, for
//! each user someone is watching, that user's view of their active sessions, the recent
//! changes to it (for `Last-Event-ID` resumes) and the subscribers.
//!
//! Consistency: a subscriber's snapshot is the view itself, taken under the same lock the
//! fold publishes under, so every change is either in the snapshot or sent after it,
//! never both and never neither. The fold does no more than clone `Arc`s and try to send:
//! a subscriber whose queue is full is marked to resync, and gets a fresh snapshot instead
//! of an unbounded queue.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use foldhash::fast::RandomState;

use super::queue::{self, Receiver, Sender, TrySendError};
use crate::events::SessionId;
use crate::projection::{FoldObserver, Projection, Session};

/// Frames queued per subscriber before it is considered too slow and resynced.
pub const SUBSCRIBER_QUEUE: usize = 256;
/// Changes remembered per user for resumes.
pub const RESUME_WINDOW: usize = 1024;
/// How long a user's view outlives its last subscriber, so a reconnect can resume.
pub const LINGER: Duration = Duration::from_secs(120);

/// What a subscriber is sent.
#[derive(Debug, Clone)]
pub enum Change {
    /// The user's whole active set (sorted as the API sorts it).
    Snapshot(Vec<Arc<Session>>),
    /// A session to add or replace.
    Upsert(Arc<Session>),
    /// A session the user no longer sees.
    Remove(SessionId),
}

/// A change with its stream id.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Increasing within this process; the stream id is `<epoch>-<seq>`.
    pub seq: u64,
    /// The change.
    pub change: Change,
}

struct Subscriber {
    id: u64,
    sender: Sender,
    /// Set when its queue overflowed: it must resync before anything else.
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
struct UserChannel {
    /// The user's sessions as subscribers have been told.
    view: HashMap<SessionId, Arc<Session>, RandomState>,
    /// The last seq published to this user (or when the view was made).
    last_seq: u64,
    recent: VecDeque<(u64, Change)>,
    subscribers: Vec<Subscriber>,
    idle_since: Option<Instant>,
    /// Whether `view` has been made from the projection.
    initialized: bool,
}

impl UserChannel {
    fn snapshot(&self) -> Frame {
        let mut sessions: Vec<Arc<Session>> = self.view.values().cloned().collect();
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Frame {
            seq: self.last_seq,
            change: Change::Snapshot(sessions),
        }
    }
}

/// The hub: shared by the fold's observer and the stream handlers.
pub struct ChangeHub {
    projection: Arc<Projection>,
    users: DashMap<Box<str>, Arc<Mutex<UserChannel>>, RandomState>,
    seq: AtomicU64,
    next_subscriber: AtomicU64,
    /// Users with a view: the fold skips all work while nobody watches.
    watched: AtomicUsize,
    epoch: String,
    resyncs: AtomicU64,
}

impl std::fmt::Debug for ChangeHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeHub")
            .field("users", &self.users.len())
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

fn lock(channel: &Mutex<UserChannel>) -> MutexGuard<'_, UserChannel> {
    channel.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A live subscription: the frames to send first, then the queue.
#[derive(Debug)]
pub struct Subscription {
    /// Sent before anything from the queue (a snapshot, or the changes missed).
    pub initial: Vec<Frame>,
    /// Later changes.
    pub receiver: Receiver,
    /// Set when the subscriber must resync (see [`ChangeHub::resync`]).
    pub lagged: Arc<AtomicBool>,
    /// Whose stream.
    pub user: Box<str>,
    id: u64,
}

impl ChangeHub {
    /// A hub over the projection the fold writes.
    pub fn new(projection: Arc<Projection>) -> Self {
        Self {
            projection,
            users: DashMap::default(),
            seq: AtomicU64::new(0),
            next_subscriber: AtomicU64::new(0),
            watched: AtomicUsize::new(0),
            // Ids from another process must not resume here.
            epoch: format!("{:08x}", rand::random::<u32>()),
            resyncs: AtomicU64::new(0),
        }
    }

    /// The stream id of a frame.
    pub fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// Resyncs sent to slow subscribers so far.
    pub fn resyncs(&self) -> u64 {
        self.resyncs.load(Ordering::SeqCst)
    }

    /// Subscribes to `user`'s changes. With a `last_event_id` this process issued and
    /// still remembers, the changes after it come first; otherwise a snapshot does.
    pub fn subscribe(&self, user: &str, last_event_id: Option<&str>) -> Subscription {
        let channel = Arc::clone(
            self.users
                .entry(Box::from(user))
                .or_insert_with(|| {
                    self.watched.fetch_add(1, Ordering::SeqCst);
                    Arc::new(Mutex::new(UserChannel::default()))
                })
                .value(),
        );
        let mut ch = lock(&channel);
        if !ch.initialized {
            ch.initialized = true;
            // A new view: made under the lock the fold publishes under, from the
            // projection it has already written. A change written but not yet published
            // is found in the view when it comes, and not sent twice.
            ch.last_seq = self.seq.load(Ordering::Acquire);
            for session in self.projection.sessions_for_user(user) {
                ch.view.insert(Arc::clone(&session.id), session);
            }
        }
        ch.idle_since = None;
        let resumed = last_event_id
            .and_then(|id| {
                id.strip_prefix(&self.epoch)?
                    .strip_prefix('-')?
                    .parse::<u64>()
                    .ok()
            })
            .and_then(|after| {
                if after == ch.last_seq {
                    return Some(Vec::new());
                }
                // Resumable only if nothing after `after` has been forgotten.
                let oldest = ch.recent.front().map(|(seq, _)| *seq)?;
                // `after` comes from the client: the largest u64 must not overflow.
                (oldest <= after.saturating_add(1) && after < ch.last_seq).then(|| {
                    ch.recent
                        .iter()
                        .filter(|(seq, _)| *seq > after)
                        .map(|(seq, change)| Frame {
                            seq: *seq,
                            change: change.clone(),
                        })
                        .collect()
                })
            });
        let initial = resumed.unwrap_or_else(|| vec![ch.snapshot()]);
        let (sender, receiver) = queue::queue(SUBSCRIBER_QUEUE);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.next_subscriber.fetch_add(1, Ordering::SeqCst);
        ch.subscribers.push(Subscriber {
            id,
            sender,
            lagged: Arc::clone(&lagged),
        });
        Subscription {
            initial,
            receiver,
            lagged,
            user: Box::from(user),
            id,
        }
    }

    /// A fresh snapshot for a subscriber that fell behind: its queue is emptied under the
    /// publishing lock, so nothing queued before the snapshot is sent after it.
    pub fn resync(&self, subscription: &mut Subscription) -> Option<Frame> {
        let channel = self
            .users
            .get(&subscription.user)
            .map(|c| Arc::clone(c.value()))?;
        let ch = lock(&channel);
        while subscription.receiver.try_recv().is_ok() {}
        subscription.lagged.store(false, Ordering::Release);
        self.resyncs.fetch_add(1, Ordering::SeqCst);
        Some(ch.snapshot())
    }

    /// Forgets a subscriber (its stream ended).
    pub fn unsubscribe(&self, subscription: &Subscription) {
        if let Some(channel) = self.users.get(&subscription.user) {
            let mut ch = lock(channel.value());
            ch.subscribers.retain(|s| s.id != subscription.id);
            if ch.subscribers.is_empty() {
                ch.idle_since = Some(Instant::now());
            }
        }
    }

    /// Drops the views of users nobody has watched for [`LINGER`].
    pub fn sweep(&self) {
        let before = self.users.len();
        self.users.retain(|_, channel| {
            let ch = lock(channel);
            !(ch.subscribers.is_empty() && ch.idle_since.is_some_and(|t| t.elapsed() >= LINGER))
        });
        let dropped = before.saturating_sub(self.users.len());
        self.watched.fetch_sub(dropped, Ordering::SeqCst);
    }

    /// Users with a view (watched now, or recently).
    pub fn watched_users(&self) -> usize {
        self.watched.load(Ordering::SeqCst)
    }

    fn publish(&self, user: &str, change: Change) {
        let Some(channel) = self.users.get(user).map(|c| Arc::clone(c.value())) else {
            return;
        };
        let mut ch = lock(&channel);
        match &change {
            Change::Upsert(session) => {
                if ch
                    .view
                    .get(&session.id)
                    .is_some_and(|seen| Arc::ptr_eq(seen, session))
                {
                    return;
                }
                ch.view.insert(Arc::clone(&session.id), Arc::clone(session));
            }
            Change::Remove(id) => {
                if ch.view.remove(id).is_none() {
                    return;
                }
            }
            Change::Snapshot(_) => return,
        }
        let seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
        ch.last_seq = seq;
        if ch.recent.len() == RESUME_WINDOW {
            ch.recent.pop_front();
        }
        ch.recent.push_back((seq, change.clone()));
        ch.subscribers.retain(|s| {
            if s.lagged.load(Ordering::Acquire) {
                return true;
            }
            match s.sender.try_send(Frame {
                seq,
                change: change.clone(),
            }) {
                Ok(()) => true,
                Err(TrySendError::Full) => {
                    s.lagged.store(true, Ordering::Release);
                    true
                }
                Err(TrySendError::Closed) => false,
            }
        });
        if ch.subscribers.is_empty() && ch.idle_since.is_none() {
            ch.idle_since = Some(Instant::now());
        }
    }

    /// The fold's observer that feeds this hub.
    pub fn observer(self: &Arc<Self>) -> Box<dyn FoldObserver> {
        Box::new(HubFeed(Arc::clone(self)))
    }
}

struct HubFeed(Arc<ChangeHub>);

impl FoldObserver for HubFeed {
    // While nobody watches, the fold does not even look the changed session up.
    fn wants_upserts(&self) -> bool {
        self.0.watched.load(Ordering::SeqCst) > 0
    }

    fn wants_removals(&self) -> bool {
        self.0.watched.load(Ordering::SeqCst) > 0
    }

    fn upserted(&mut self, session: &Arc<Session>, owners: &[String], lost: &[String]) {
        for user in owners {
            self.0.publish(user, Change::Upsert(Arc::clone(session)));
        }
        for user in lost {
            self.0
                .publish(user, Change::Remove(Arc::clone(&session.id)));
        }
    }

    fn removed(&mut self, id: &str, owners: &[String]) {
        let id: SessionId = Arc::from(id);
        for user in owners {
            self.0.publish(user, Change::Remove(Arc::clone(&id)));
        }
    }
}
