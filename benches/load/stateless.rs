//! A stateless replica's time to ready (issue 11): with at least 10 million records of
//! history in the topics and at least 100,000 sessions active at their end, an empty-disk
//! replica restoring from the checkpoint topic (target: ready within 3 s of process start)
//! against an empty-disk replica with no checkpoint, which folds both topics from the
//! beginning; both in the same run, with the ratio. Along the way: the release binary's
//! resident memory with no session, after the full fold and after the restore, and where a
//! restoring start's time goes (reading and decoding the checkpoint, the broker's
//! partitions, the resume check, catching up).
//!
//! 1. **The history** is simulator traffic (`sessiond::simulate`, validated and folded
//!    here as well, to know how many sessions are active) produced to a call and a member
//!    topic of [`PARTITIONS`] partitions each, keyed by session id, with big lz4 batches.
//!    It is made once and kept: the broker is a durable Apache Kafka node of the tests'
//!    kit (tests/common/broker.rs) whose data lives in `~/.cache/sessiond/bench-kafka`
//!    (`SESSIOND_BENCH_KAFKA_DIR`), and `dataset-v*.txt` there records what the topics hold;
//!    a later run whose topics still end where the file says reuses them (made again
//!    otherwise: a few minutes). `rm -r` the directory to free its ~1.5 GB.
//! 2. **The full fold** (ii): the release binary with no snapshot directory and a checkpoint
//!    topic new to this run, so no checkpoint: spawn to `/readyz` 200. Then SIGTERM: its
//!    shutdown checkpoint goes to the topic, as a fleet's first replica leaves it.
//! 3. **The restores** (i), [`RESTORES`] times: the same command, empty disk, the topic now
//!    holding that checkpoint: spawn to `/readyz` 200, checked to have restored from the
//!    topic and to hold the same projection (digest) as the full fold. Killed (SIGKILL),
//!    so each finds the same checkpoint.
//! 4. **The floor**: the same command against two empty topics (process start, broker
//!    handshake), and its memory with no session.
//!
//! The checkpoint is taken at the end of the topics, so a restore's catching up is only the
//! resume check (up to 64 records read again per partition). In a running fleet the newest
//! checkpoint is up to about 1.5 × `--snapshot-interval` old, and a new replica also folds
//! what came after it, at the full fold's records/s (printed here): docs/scaling.md adds it.
//!
//! `cargo bench --bench stateless` (scripts/bench runs it). The summary is also written to
//! `$CARGO_TARGET_DIR/stateless-bench.txt`. `SESSIOND_BENCH_PROBE=1` only runs the
//! simulator and the fold (no broker) and prints how the active sessions grow, to choose
//! [`sim_config`].

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "kit.rs"]
mod kit;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use sessiond::events::validate::validate;
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::simulate::{SimConfig, SimTopic, Simulator};

use common::broker;
use common::try_http_get as get;
use kit::{median, ms, parse_debug_duration, rss_kib, spread};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Records of history the topics must hold, at least.
const HISTORY: u64 = 10_000_000;
/// Sessions active at the topics' end, at least.
const ACTIVE: usize = 100_000;
/// Partitions per topic.
const PARTITIONS: i32 = 6;
/// Restores from the checkpoint topic timed (each one is cheap).
const RESTORES: usize = 5;
/// Empty-disk, checkpoint-topic restore to ready, from process start.
const TARGET: Duration = Duration::from_secs(3);
/// Bumped whenever the dataset's recipe changes, so an old cache is not reused.
const DATASET: &str = "v1";
const SECRET: &str = "x";

/// The traffic: a large contact-center platform. Chosen with `SESSIOND_BENCH_PROBE=1` so
/// that about [`ACTIVE`] sessions are active when [`HISTORY`] records have been written.
fn sim_config() -> SimConfig {
    SimConfig {
        seed: 11,
        rate: 20_000.0,
        users: 40_000,
        accounts: 400,
        ..SimConfig::default()
    }
}

fn main() {
    if std::env::var_os("SESSIOND_BENCH_PROBE").is_some() {
        probe();
        return;
    }
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_sessiond"));
    let cache = std::env::var_os("SESSIOND_BENCH_KAFKA_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/sessiond/bench-kafka")
        },
        PathBuf::from,
    );
    std::fs::create_dir_all(&cache).expect("the bench broker's directory");
    let broker = broker::Broker::start_durable(&cache);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let topics = [
        format!("bench-history-{DATASET}.calls"),
        format!("bench-history-{DATASET}.members"),
    ];

    // 1. The history (made once, then reused).
    let dataset = ensure_dataset(&broker, &runtime, &cache, &topics);
    eprintln!(
        "history: {} records in {} partitions, {} sessions active at the end ({} pending, {} tombstones)",
        dataset.records,
        2 * PARTITIONS,
        dataset.active,
        dataset.pending,
        dataset.tombstones
    );

    let run_id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    let checkpoints = format!("bench-checkpoints-{run_id}");
    let logs = tempfile::tempdir().expect("log dir");
    let token = common::token_with_roles(SECRET, "bench-admin", &["SystemAdministrator"]);
    let start = |name: &str, topics: &[String], expect: Expect| Start {
        binary: &binary,
        brokers: &broker.brokers,
        topics: topics.to_vec(),
        checkpoint_topic: checkpoints.clone(),
        log: logs.path().join(format!("{name}.log")),
        token: &token,
        expect,
    };

    // 2. The full fold, which then leaves its checkpoint in the topic.
    let full = start("full-fold", &topics, Expect::FullFold).run(Exit::Terminate);
    eprintln!(
        "full fold (no checkpoint): ready in {} ({}), {} active, RSS {:.0} MB, exit after SIGTERM {}",
        ms(full.ready),
        full.timeline(),
        full.active,
        full.rss_kib as f64 / 1024.0,
        full.exit.map_or("?".to_owned(), ms),
    );
    assert!(
        full.active >= ACTIVE,
        "the full fold has only {} active sessions",
        full.active
    );
    assert!(
        full.log_text.contains("checkpoint written to the topic"),
        "the full fold's replica wrote no checkpoint at shutdown:\n{}",
        tail(&full.log_text)
    );

    // 3. Empty-disk restores from that checkpoint.
    // The last restore then serves a read load, as the agents' users.
    let users: &'static [(String, String)] = Simulator::new(sim_config())
        .users()
        .into_iter()
        .map(|user| {
            let token = common::token_with_roles(SECRET, &user, &["User"]);
            (user, token)
        })
        .collect::<Vec<_>>()
        .leak();
    let mut restores = Vec::new();
    for round in 1..=RESTORES {
        let exit = if round == RESTORES {
            Exit::ReadThenKill(users)
        } else {
            Exit::Kill
        };
        let restored = start(&format!("restore-{round}"), &topics, Expect::Restore).run(exit);
        eprintln!(
            "restore {round}: ready in {} ({}; restore took {}), RSS {:.0} MB",
            ms(restored.ready),
            restored.timeline(),
            restored.restore.map_or("?".to_owned(), ms),
            restored.rss_kib as f64 / 1024.0,
        );
        assert_eq!(
            restored.digest, full.digest,
            "a restored replica's projection differs from the full fold's"
        );
        restores.push(restored);
    }

    // 4. The floor: empty topics, no checkpoint.
    let empty_topics = [
        format!("bench-empty-{run_id}.calls"),
        format!("bench-empty-{run_id}.members"),
    ];
    runtime.block_on(broker.create_topics(
        &[empty_topics[0].as_str(), empty_topics[1].as_str()],
        PARTITIONS,
    ));
    let empty = Start {
        checkpoint_topic: format!("bench-checkpoints-{run_id}-empty"),
        ..start("empty", &empty_topics, Expect::Empty)
    }
    .run(Exit::Kill);

    // Leave the cached broker as it was: only the history stays.
    runtime.block_on(delete_topics(
        &broker.brokers,
        &[
            checkpoints.as_str(),
            &format!("bench-checkpoints-{run_id}-empty"),
            &empty_topics[0],
            &empty_topics[1],
            // The replica made their dead-letter topics.
            &format!("{}.dlq", empty_topics[0]),
            &format!("{}.dlq", empty_topics[1]),
        ],
    ));

    // 5. The summary.
    let ready: Vec<Duration> = restores.iter().map(|s| s.ready).collect();
    let restored_ready = median(&ready);
    let verdict = if restored_ready <= TARGET {
        "ok"
    } else {
        "OVER TARGET"
    };
    let phase = |from: Option<usize>, to: Option<usize>| {
        let runs: Vec<Duration> = restores
            .iter()
            .filter_map(|s| s.between(from, to))
            .collect();
        if runs.is_empty() {
            "?".to_owned()
        } else {
            format!("{:.0} ms", median(&runs).as_secs_f64() * 1e3)
        }
    };
    let restore_took: Vec<Duration> = restores.iter().filter_map(|s| s.restore).collect();
    let reading: Vec<Duration> = restores
        .iter()
        .filter_map(|s| Some(s.read_decode?.0))
        .collect();
    let decoding: Vec<Duration> = restores
        .iter()
        .filter_map(|s| Some(s.read_decode?.1))
        .collect();
    let median_or = |runs: &[Duration]| {
        if runs.is_empty() {
            "?".to_owned()
        } else {
            ms(median(runs))
        }
    };
    let mut summary = String::new();
    let mut line = |text: String| {
        summary.push_str(&text);
        summary.push('\n');
    };
    line(format!(
        "stateless replica: {} records of history in {} partitions, {} sessions active at the end \
         ({} tombstones), one run:",
        dataset.records,
        2 * PARTITIONS,
        full.active,
        full.tombstones,
    ));
    line(format!(
        "  (i)  empty disk, from the checkpoint topic: start to /readyz 200 {}  (median of {RESTORES}; target <= {} ms: {verdict})",
        spread(&ready),
        TARGET.as_millis(),
    ));
    line(format!(
        "       checkpoint restored in {} (chunks fetched and checked {}, decoded and folded in {}); spawn to restored {}, then partitions assigned {}, caught up (resume check, first readiness tick) {}, 200 seen {}",
        median_or(&restore_took),
        median_or(&reading),
        median_or(&decoding),
        phase(None, Some(RESTORED)),
        phase(Some(RESTORED), Some(ASSIGNED)),
        phase(Some(ASSIGNED), Some(CAUGHT_UP)),
        phase(Some(CAUGHT_UP), None),
    ));
    line(format!(
        "  (ii) empty disk, no checkpoint (full fold): start to /readyz 200 {}  ({:.0} records/s)",
        ms(full.ready),
        dataset.records as f64 / full.ready.as_secs_f64(),
    ));
    line(format!(
        "  full fold / restore = {:.1}",
        full.ready.as_secs_f64() / restored_ready.as_secs_f64()
    ));
    line(format!(
        "  floor (empty topics): start to /readyz 200 {}",
        ms(empty.ready)
    ));
    line(format!(
        "  resident memory after ready: no session {:.0} MB; full fold {:.0} MB; restored {:.0} MB (median)",
        empty.rss_kib as f64 / 1024.0,
        full.rss_kib as f64 / 1024.0,
        median_u64(restores.iter().map(|s| s.rss_kib).collect()) as f64 / 1024.0,
    ));
    if let Some(reads) = restores.last().and_then(|s| s.reads.as_ref()) {
        assert!(
            reads.failed == 0 && reads.ok > 0,
            "the read load got {} answers that were not 200 ({} were)",
            reads.failed,
            reads.ok
        );
        line(format!(
            "  reads: {:.0} GET /sessions/active per second ({READERS} keep-alive clients on this machine's cores, \
             {} answers in {:.1} s, {:.0} body bytes each, {} not 200), users drawn from {} agents",
            reads.ok as f64 / reads.took.as_secs_f64(),
            reads.ok,
            reads.took.as_secs_f64(),
            reads.sessions as f64 / reads.ok.max(1) as f64,
            reads.failed,
            users.len(),
        ));
    }
    line(format!(
        "  checkpoint: {}",
        restores
            .first()
            .and_then(|s| s.restored_from.clone())
            .unwrap_or_else(|| "?".to_owned())
    ));
    kit::headline(kit::Headline {
        figure: "empty-disk replica, 10M records of history: restore from --checkpoint-topic to ready",
        sessiond: ms(restored_ready),
        peer: format!(
            "full fold {} ({:.1}x)",
            ms(full.ready),
            full.ready.as_secs_f64() / restored_ready.as_secs_f64()
        ),
        target: "<= 3 s",
        met: Some(restored_ready <= TARGET),
    });
    kit::publish_summary("stateless", &summary);
}

/// What the topics hold.
struct Dataset {
    records: u64,
    active: usize,
    pending: usize,
    tombstones: usize,
}

impl Dataset {
    fn to_text(&self, config: &SimConfig) -> String {
        format!(
            "records={}\nactive={}\npending={}\ntombstones={}\nconfig={config:?}\n",
            self.records, self.active, self.pending, self.tombstones
        )
    }

    fn from_text(text: &str, config: &SimConfig) -> Option<Self> {
        let field = |name: &str| -> Option<&str> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        };
        if field("config")? != format!("{config:?}") {
            return None;
        }
        Some(Self {
            records: field("records")?.parse().ok()?,
            active: field("active")?.parse().ok()?,
            pending: field("pending")?.parse().ok()?,
            tombstones: field("tombstones")?.parse().ok()?,
        })
    }
}

/// The topics' history: the one recorded in the cache when the topics still hold exactly
/// that many records, else made again.
fn ensure_dataset(
    broker: &broker::Broker,
    runtime: &tokio::runtime::Runtime,
    cache: &Path,
    topics: &[String; 2],
) -> Dataset {
    let config = sim_config();
    let marker = cache.join(format!("dataset-{DATASET}.txt"));
    if let Some(dataset) = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|text| Dataset::from_text(&text, &config))
    {
        // A broker just started may not answer for its partitions at once.
        let deadline = Instant::now() + Duration::from_secs(30);
        let held = loop {
            let held = records_held(&broker.brokers, topics);
            if held.is_some() || Instant::now() > deadline {
                break held;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        if held == Some(dataset.records) {
            eprintln!("reusing the history in {}", cache.display());
            return dataset;
        }
        eprintln!(
            "the cached topics hold {held:?} records, not {}: making the history again",
            dataset.records
        );
    }
    let _ = std::fs::remove_file(&marker);
    runtime.block_on(delete_topics(
        &broker.brokers,
        &[topics[0].as_str(), topics[1].as_str()],
    ));
    // Deleting is asynchronous in the broker: wait until the names are free.
    let deadline = Instant::now() + Duration::from_secs(60);
    while records_held(&broker.brokers, topics).is_some() {
        assert!(Instant::now() < deadline, "the old topics were not deleted");
        std::thread::sleep(Duration::from_millis(200));
    }
    runtime.block_on(broker.create_topics(&[topics[0].as_str(), topics[1].as_str()], PARTITIONS));
    let dataset = produce_history(&broker.brokers, topics, &config);
    let held = records_held(&broker.brokers, topics);
    assert_eq!(
        held,
        Some(dataset.records),
        "the topics do not hold what was produced"
    );
    std::fs::write(&marker, dataset.to_text(&config)).expect("writing the dataset marker");
    dataset
}

/// The sum of the topics' end offsets (`None`: a topic is missing).
fn records_held(brokers: &str, topics: &[String; 2]) -> Option<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-watermarks")
        .create()
        .expect("a consumer");
    let mut total = 0;
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .ok()?;
        let partitions = metadata.topics().first()?.partitions().len();
        if partitions == 0 {
            return None;
        }
        for partition in 0..partitions as i32 {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(10))
                .ok()?;
            total += (high - low) as u64;
        }
    }
    Some(total)
}

async fn delete_topics(brokers: &str, topics: &[&str]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("an admin client");
    // Missing topics are fine: the results are not checked.
    let _ = admin.delete_topics(topics, &AdminOptions::new()).await;
}

/// Counts failed deliveries.
struct Deliveries {
    failed: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.first_error
                .lock()
                .expect("lock")
                .get_or_insert_with(|| error.to_string());
        }
    }
}

/// Simulator traffic onto the topics until at least [`HISTORY`] records are written and
/// at least [`ACTIVE`] sessions are active; folded here too, to count them.
fn produce_history(brokers: &str, topics: &[String; 2], config: &SimConfig) -> Dataset {
    let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("compression.type", "lz4")
        .set("linger.ms", "50")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("acks", "1")
        .create_with_context(Deliveries {
            failed: AtomicU64::new(0),
            first_error: std::sync::Mutex::new(None),
        })
        .expect("a producer");
    let started = Instant::now();
    let mut records = 0u64;
    let fold = simulate_and_fold(config, |batch| {
        for sim in batch {
            let topic = match sim.topic {
                SimTopic::Calls => &topics[0],
                SimTopic::Members => &topics[1],
            };
            let payload = sim.event.encode_to_vec();
            let mut record = BaseRecord::to(topic)
                .key(sim.event.session_id.as_bytes())
                .payload(&payload);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
            records += 1;
            if records.is_multiple_of(1_000_000) {
                eprintln!(
                    "  produced {records} records in {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    });
    producer
        .flush(Duration::from_secs(300))
        .expect("every record delivered");
    let failed = producer.context().failed.load(Ordering::Relaxed);
    assert_eq!(
        failed,
        0,
        "{failed} records not delivered: {:?}",
        producer.context().first_error.lock().expect("lock")
    );
    eprintln!(
        "produced {records} records in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Dataset {
        records,
        active: fold.projection().len(),
        pending: fold.pending_count(),
        tombstones: fold.tombstone_count(),
    }
}

/// Runs the simulator (on its own thread) and folds its events here until at least
/// [`HISTORY`] are folded and at least [`ACTIVE`] sessions are active, handing each batch
/// to `each` first; returns the fold.
fn simulate_and_fold(
    config: &SimConfig,
    mut each: impl FnMut(&[sessiond::simulate::SimEvent]),
) -> Fold {
    let (sender, receiver) = sync_channel::<Vec<sessiond::simulate::SimEvent>>(16);
    let config = config.clone();
    let simulator = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(4096);
        for sim in Simulator::new(config) {
            batch.push(sim);
            if batch.len() == batch.capacity() {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(4096));
                if sender.send(full).is_err() {
                    return;
                }
            }
        }
    });
    let mut fold = Fold::new(FoldConfig::default(), Arc::new(Projection::new()));
    let mut offsets = [0i64; 2];
    let mut folded = 0u64;
    let mut first = None;
    let started = Instant::now();
    'fold: for batch in receiver {
        each(&batch);
        for sim in batch {
            let stream = match sim.topic {
                SimTopic::Calls => 0,
                SimTopic::Members => 1,
            };
            let event = validate(sim.event).expect("the simulator's events are valid");
            first.get_or_insert(event.occurred_at.0);
            let last = event.occurred_at.0;
            let offset = &mut offsets[stream as usize];
            fold.apply(
                event,
                Position {
                    stream,
                    offset: *offset,
                },
            );
            *offset += 1;
            folded += 1;
            if folded.is_multiple_of(1_000_000) {
                eprintln!(
                    "  {folded} events ({:.0} s simulated, {:.0} s here): {} active, {} pending, {} tombstones",
                    (last - first.unwrap_or(last)) as f64 / 1e9,
                    started.elapsed().as_secs_f64(),
                    fold.projection().len(),
                    fold.pending_count(),
                    fold.tombstone_count()
                );
            }
        }
        if folded >= HISTORY && fold.projection().len() >= ACTIVE {
            break 'fold;
        }
        assert!(
            folded < 3 * HISTORY,
            "{folded} events and only {} active sessions: choose another sim_config",
            fold.projection().len()
        );
    }
    // Dropping the receiver stops the simulator.
    simulator.join().expect("simulator");
    fold
}

/// `SESSIOND_BENCH_PROBE=1`: how the active sessions grow with [`sim_config`], no broker.
fn probe() {
    let fold = simulate_and_fold(&sim_config(), |_| {});
    eprintln!(
        "{} active, {} pending, {} tombstones",
        fold.projection().len(),
        fold.pending_count(),
        fold.tombstone_count()
    );
}

/// What a start must find.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// No checkpoint: every partition from the beginning, the history's sessions.
    FullFold,
    /// Restored from the checkpoint topic.
    Restore,
    /// Empty topics, nothing to restore.
    Empty,
}

/// How a start ends.
enum Exit {
    /// SIGTERM: the shutdown checkpoint is written.
    Terminate,
    /// SIGKILL: nothing written.
    Kill,
    /// Reads for [`READ_FOR`] from [`READERS`] keep-alive clients, each request as one of
    /// `users` (their tokens), then SIGKILL.
    ReadThenKill(&'static [(String, String)]),
}

/// Clients of the read load.
const READERS: usize = 4;
/// How long the read load runs.
const READ_FOR: Duration = Duration::from_secs(5);

/// One start of the binary, timed from spawn to the first `/readyz` 200.
struct Start<'a> {
    binary: &'a Path,
    brokers: &'a str,
    topics: Vec<String>,
    checkpoint_topic: String,
    log: PathBuf,
    token: &'a str,
    expect: Expect,
}

struct Started {
    ready: Duration,
    active: usize,
    tombstones: u64,
    digest: String,
    restored_from: Option<String>,
    /// Resident memory (VmRSS) once ready.
    rss_kib: u64,
    /// What the binary logged as the restore's own time.
    restore: Option<Duration>,
    /// Of which reading the checkpoint's chunks, and decoding and restoring it.
    read_decode: Option<(Duration, Duration)>,
    /// When its log's [`MILESTONES`] came, after spawn.
    milestones: [Option<Duration>; MILESTONES.len()],
    /// SIGTERM to exit.
    exit: Option<Duration>,
    /// The read load's outcome, when it ran.
    reads: Option<Reads>,
    log_text: String,
}

/// Lines of the binary's log (at `info`) that mark how far a start has got.
const MILESTONES: [(&str, &str); 4] = [
    ("serving GET", "listening"),
    ("restored from the checkpoint topic", "restored"),
    ("assigned every partition", "assigned"),
    ("caught up: folded every record", "caught up"),
];
const RESTORED: usize = 1;
const ASSIGNED: usize = 2;
const CAUGHT_UP: usize = 3;

impl Started {
    /// E.g. `listening 4, restored 612, assigned 668, caught up 968` (ms after spawn).
    fn timeline(&self) -> String {
        MILESTONES
            .iter()
            .zip(&self.milestones)
            .filter_map(|((_, name), at)| Some(format!("{name} {:.0}", (*at)?.as_secs_f64() * 1e3)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// From milestone `from` (None: spawn) to `to` (None: the first 200 seen).
    fn between(&self, from: Option<usize>, to: Option<usize>) -> Option<Duration> {
        let at = |i: Option<usize>, otherwise: Duration| match i {
            None => Some(otherwise),
            Some(i) => self.milestones[i],
        };
        at(to, self.ready)?.checked_sub(at(from, Duration::ZERO)?)
    }
}

impl Start<'_> {
    fn run(self, exit: Exit) -> Started {
        let port = broker::free_port();
        let log = std::fs::File::create(&self.log).expect("log file");
        let spawned_at = time::OffsetDateTime::now_utc();
        let started = Instant::now();
        let mut child = Command::new(self.binary)
            .args([
                "serve",
                "--brokers",
                self.brokers,
                "--topics",
                &self.topics.join(","),
                "--checkpoint-topic",
                &self.checkpoint_topic,
                // Only the shutdown checkpoint: every restore finds the same one.
                "--snapshot-interval",
                "1h",
                "--jwt-secret",
                SECRET,
                // A load program, not a hostile client.
                "--rate-limit",
                "0",
                "--http",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting sessiond");
        let mut guard = Kill(Some(&mut child));
        let limit = match self.expect {
            Expect::FullFold => Duration::from_secs(900),
            _ => Duration::from_secs(120),
        };
        let ready = loop {
            if let Ok((200, _)) = get(port, "/readyz", None) {
                break started.elapsed();
            }
            if let Ok(Some(status)) = guard.child().try_wait() {
                panic!("sessiond exited with {status}: {}", tail(&self.log_text()));
            }
            assert!(
                started.elapsed() < limit,
                "not ready within {limit:?}: {}",
                tail(&self.log_text())
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let rss_kib = rss_kib(guard.child().id());
        let (status, body) = get(port, "/admin/state", Some(self.token)).expect("/admin/state");
        assert_eq!(status, 200, "/admin/state: {body}");
        let state: serde_json::Value = serde_json::from_str(&body).expect("/admin/state JSON");
        let active = state["counts"]["activeSessions"].as_u64().unwrap_or(0) as usize;
        let tombstones = state["counts"]["tombstones"].as_u64().unwrap_or(0);
        let restored_from = state["restoredFrom"].as_str().map(str::to_owned);
        match self.expect {
            Expect::FullFold => {
                assert!(restored_from.is_none(), "restored from {restored_from:?}")
            }
            Expect::Restore => {
                assert!(
                    restored_from
                        .as_deref()
                        .is_some_and(|f| f.starts_with("checkpoint topic")),
                    "not restored from the checkpoint topic: {restored_from:?}"
                );
                assert!(
                    active >= ACTIVE,
                    "{active} active sessions after the restore"
                );
            }
            Expect::Empty => assert_eq!(active, 0, "active sessions on empty topics"),
        }
        let mut reads = None;
        let exit_took = match exit {
            Exit::Kill => {
                drop(guard);
                None
            }
            Exit::ReadThenKill(users) => {
                reads = Some(read_load(port, users));
                drop(guard);
                None
            }
            Exit::Terminate => {
                let child = guard.0.take().expect("the child");
                let signalled = Instant::now();
                // SAFETY: kill(2) on our own child's pid.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                let deadline = signalled + Duration::from_secs(120);
                loop {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "no exit within 120 s of SIGTERM: {}",
                            tail(&self.log_text())
                        );
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Some(signalled.elapsed())
            }
        };
        let text = self.log_text();
        Started {
            ready,
            active,
            tombstones,
            digest: state["digest"].to_string(),
            restored_from,
            rss_kib,
            restore: restore_took(&text),
            read_decode: read_decode(&text),
            milestones: milestones(&text, spawned_at),
            exit: exit_took,
            reads,
            log_text: text,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What the read load got.
struct Reads {
    /// 200 answers.
    ok: u64,
    /// Bytes of their bodies.
    sessions: u64,
    /// Any other answer.
    failed: u64,
    took: Duration,
}

/// [`READERS`] clients, each on one keep-alive connection, asking `GET /sessions/active`
/// back to back for [`READ_FOR`], each request as the next of `users` (id, token).
fn read_load(port: u16, users: &'static [(String, String)]) -> Reads {
    let started = Instant::now();
    let threads: Vec<_> = (0..READERS)
        .map(|reader| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let mut reader_buf = std::io::BufReader::new(stream.try_clone().expect("clone"));
                let (mut ok, mut sessions, mut failed) = (0u64, 0u64, 0u64);
                let mut i = reader;
                while started.elapsed() < READ_FOR {
                    let (_, token) = &users[i % users.len()];
                    i += READERS;
                    write!(
                        stream,
                        "GET /sessions/active HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
                    )
                    .expect("request");
                    let (status, body) = read_response(&mut reader_buf);
                    if status == 200 {
                        ok += 1;
                        sessions += body.len() as u64;
                    } else {
                        failed += 1;
                    }
                }
                (ok, sessions, failed)
            })
        })
        .collect();
    let mut reads = Reads {
        ok: 0,
        sessions: 0,
        failed: 0,
        took: Duration::ZERO,
    };
    for thread in threads {
        let (ok, sessions, failed) = thread.join().expect("reader");
        reads.ok += ok;
        reads.sessions += sessions;
        reads.failed += failed;
    }
    reads.took = started.elapsed();
    reads
}

/// One HTTP/1.1 response with a `Content-Length` body: its status and body.
fn read_response(reader: &mut impl std::io::BufRead) -> (u16, String) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {status_line:?}"));
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).expect("header");
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Kills the process (as a crash would: no last checkpoint) when dropped.
struct Kill<'a>(Option<&'a mut Child>);

impl Kill<'_> {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the child")
    }
}

impl Drop for Kill<'_> {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `took=` of the binary's "restored from the checkpoint topic" line.
fn restore_took(log: &str) -> Option<Duration> {
    let line = log
        .lines()
        .find(|l| l.contains("restored from the checkpoint topic"))?;
    let took = line.split("took=").nth(1)?.split_whitespace().next()?;
    parse_debug_duration(took)
}

/// The `read=` and `decode=` of the binary's "checkpoint topic read" line.
fn read_decode(log: &str) -> Option<(Duration, Duration)> {
    let line = log.lines().find(|l| l.contains("checkpoint topic read"))?;
    let field = |name: &str| {
        let value = line.split(name).nth(1)?.split_whitespace().next()?;
        parse_debug_duration(value)
    };
    Some((field(" read=")?, field(" decode=")?))
}

/// When each of [`MILESTONES`] was logged, after `spawned_at`.
fn milestones(log: &str, spawned_at: time::OffsetDateTime) -> [Option<Duration>; MILESTONES.len()] {
    MILESTONES.map(|(needle, _)| {
        let line = log.lines().find(|l| l.contains(needle))?;
        let stamp = line.split_whitespace().next()?;
        let at = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .ok()?;
        Duration::try_from(at - spawned_at).ok()
    })
}

/// The last lines of a log, for a failure's message.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn median_u64(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}
