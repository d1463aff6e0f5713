//! The change feed (`--changes-topic`): every change to an active session produced to a
//! topic keyed by session id, its value the session as `evovoice.sessions.v1.SessionInfo`,
//! and a tombstone (null value) when it ends, so the topic can be compacted and read as a
//! table by downstream services.
//!
//! The fold only queues the changed session (an `Arc`); a producer thread encodes and
//! sends each change in order. When the broker falls so far behind that the queue is
//! full, further changes are coalesced to the latest state per session until it catches
//! up, so a slow broker costs intermediate states of a compacted table, never the fold's
//! speed or memory without bound. Delivery is at least once: failed records are sent again, and a
//! snapshot is only written once every change it contains is delivered
//! ([`FeedBarrier`]), so a restart from it cannot lose one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;
use prost::Message as _;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message as _};

use crate::codec::session_to_wire;
use crate::events::SessionId;
use crate::kafka::KafkaSettings;
use crate::projection::{FoldObserver, Projection, Session};

/// How long the producer thread waits for more changes before sending what it has.
const BATCH_WAIT: Duration = Duration::from_millis(2);

/// Changes queued before they are coalesced.
pub const QUEUE_LIMIT: usize = 100_000;

/// One change: the session's new state, or `None` (a tombstone).
type Record = (SessionId, Option<Arc<Session>>);

#[derive(Default)]
struct Pending {
    /// Every change, in fold order.
    queue: Vec<Record>,
    /// Once the queue is full: the latest state per session. Everything in it is newer
    /// than everything in `queue`, which is sent first.
    overflow: HashMap<SessionId, Option<Arc<Session>>, RandomState>,
    /// Bumped with every change recorded.
    generation: u64,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.overflow.is_empty()
    }

    /// The next changes to send, oldest first.
    fn take(&mut self) -> Vec<Record> {
        if self.queue.is_empty() {
            self.overflow.drain().collect()
        } else {
            std::mem::take(&mut self.queue)
        }
    }
}

/// Why the change feed could not start.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// librdkafka refused the producer's configuration.
    #[error("creating the change-feed producer: {0}")]
    Client(#[from] KafkaError),
    /// The producer thread could not be started.
    #[error("starting the change-feed thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// What the fold's observer, the producer thread and snapshot writers share.
pub struct FeedShared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Every change up to this generation has been delivered.
    delivered: AtomicU64,
    delivered_signal: (Mutex<()>, Condvar),
    stop: AtomicBool,
    produced: AtomicU64,
}

impl std::fmt::Debug for FeedShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedShared")
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl FeedShared {
    fn record(&self, id: SessionId, state: Option<Arc<Session>>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.overflow.is_empty() && pending.queue.len() < QUEUE_LIMIT {
            pending.queue.push((id, state));
        } else {
            if pending.overflow.is_empty() {
                tracing::warn!(
                    "the change feed is behind; coalescing changes per session until it catches up"
                );
            }
            pending.overflow.insert(id, state);
        }
        pending.generation += 1;
        drop(pending);
        self.wake.notify_one();
    }

    /// A barrier at the changes recorded so far.
    pub fn barrier(self: &Arc<Self>) -> FeedBarrier {
        let generation = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .generation;
        FeedBarrier {
            feed: Arc::clone(self),
            generation,
        }
    }

    /// Records delivered so far.
    pub fn produced(&self) -> u64 {
        self.produced.load(Ordering::Relaxed)
    }
}

/// Waits until every change recorded before it was made is delivered.
#[derive(Debug, Clone)]
pub struct FeedBarrier {
    feed: Arc<FeedShared>,
    generation: u64,
}

impl FeedBarrier {
    /// Whether the changes were delivered within `timeout`.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, signal) = &self.feed.delivered_signal;
        let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while self.feed.delivered.load(Ordering::Acquire) < self.generation {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = signal
                .wait_timeout(guard, left.min(Duration::from_millis(100)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// Counts deliveries; remembers the keys of failed ones to send again.
struct FeedContext {
    failed: Mutex<Vec<Vec<u8>>>,
}

/// rdkafka's default, except that connection failures repeated on every reconnect attempt
/// are debug lines: the consumer reports those once per change.
impl ClientContext for FeedContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::kafka::log_librdkafka(level, fac, log_message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        if crate::kafka::is_connection_error(&error) {
            tracing::debug!(%error, reason, "change feed: kafka client error");
        } else {
            tracing::error!(%error, reason, "change feed: kafka client error");
        }
    }
}

impl ProducerContext for FeedContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((error, message)) = result {
            tracing::warn!(%error, "a change-feed record was not delivered; sending it again");
            if let Some(key) = message.key() {
                self.failed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(key.to_vec());
            }
        }
    }
}

/// The change feed: an observer for the fold and the thread that produces.
pub struct ChangeFeed {
    shared: Arc<FeedShared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed").finish_non_exhaustive()
    }
}

impl ChangeFeed {
    /// Starts producing to `topic`; `projection` gives the current state of a session
    /// whose record must be sent again.
    pub fn start(
        settings: &KafkaSettings,
        topic: &str,
        projection: Arc<Projection>,
    ) -> Result<Self, FeedError> {
        let producer: ThreadedProducer<FeedContext> = settings
            .client_config()
            // Each session's records stay in order through retries, and none is dropped
            // while the process lives.
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "0")
            .set("linger.ms", "1")
            .create_with_context(FeedContext {
                failed: Mutex::new(Vec::new()),
            })?;
        let shared = Arc::new(FeedShared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            delivered: AtomicU64::new(0),
            delivered_signal: (Mutex::new(()), Condvar::new()),
            stop: AtomicBool::new(false),
            produced: AtomicU64::new(0),
        });
        let thread_shared = Arc::clone(&shared);
        let topic = topic.to_owned();
        let thread = std::thread::Builder::new()
            .name("sessiond-changes".into())
            .spawn(move || run(&producer, &topic, &thread_shared, &projection))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// What the snapshot writer waits on.
    pub fn shared(&self) -> &Arc<FeedShared> {
        &self.shared
    }

    /// The fold's observer that records changes for this feed.
    pub fn observer(&self) -> Box<dyn FoldObserver> {
        Box::new(FeedRecorder(Arc::clone(&self.shared)))
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    producer: &ThreadedProducer<FeedContext>,
    topic: &str,
    shared: &FeedShared,
    projection: &Projection,
) {
    loop {
        let (batch, generation) = {
            let mut pending = shared
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            while pending.is_empty() && !shared.stop.load(Ordering::Acquire) {
                pending = shared
                    .wake
                    .wait_timeout(pending, Duration::from_millis(100))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if pending.is_empty() {
                break;
            }
            // The generation covers everything taken only once the overflow is taken
            // too; until then the barrier waits for the next round.
            let batch = pending.take();
            let covered = if pending.is_empty() {
                pending.generation
            } else {
                0
            };
            (batch, covered)
        };
        for (id, state) in batch {
            send(producer, topic, &id, state.as_deref());
        }
        // Delivered means acknowledged by the brokers; only then may a snapshot that
        // contains these changes be written.
        let _ = producer.flush(Duration::from_secs(30));
        let failed = std::mem::take(
            &mut *producer
                .context()
                .failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if failed.is_empty() {
            shared.delivered.fetch_max(generation, Ordering::AcqRel);
            shared.delivered_signal.1.notify_all();
        } else {
            crate::telemetry::changes_failed(failed.len() as u64);
            for key in failed {
                let id: SessionId = Arc::from(String::from_utf8_lossy(&key).as_ref());
                let state = projection.get(&id);
                shared.record(id, state);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(BATCH_WAIT);
    }
}

fn send(producer: &ThreadedProducer<FeedContext>, topic: &str, id: &str, state: Option<&Session>) {
    let payload = state.map(|s| session_to_wire(s).encode_to_vec());
    loop {
        let mut record: BaseRecord<'_, str, Vec<u8>> = BaseRecord::to(topic).key(id);
        if let Some(payload) = &payload {
            record = record.payload(payload);
        }
        match producer.send(record) {
            Ok(()) => {
                crate::telemetry::change_produced(payload.is_none());
                return;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((error, _)) => {
                tracing::error!(%error, session = id, "cannot produce to the change feed");
                return;
            }
        }
    }
}

struct FeedRecorder(Arc<FeedShared>);

impl FoldObserver for FeedRecorder {
    fn wants_upserts(&self) -> bool {
        true
    }

    fn wants_removals(&self) -> bool {
        true
    }

    fn upserted(&mut self, session: &Arc<Session>, _owners: &[String], _lost: &[String]) {
        self.0
            .record(Arc::clone(&session.id), Some(Arc::clone(session)));
    }

    fn removed(&mut self, id: &str, _owners: &[String]) {
        self.0.record(Arc::from(id), None);
    }
}
