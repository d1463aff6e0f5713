//! Memory per active session and per tombstone, as the release binary holds them: its
//! resident memory (VmRSS) once ready, started from a snapshot with no session, with
//! 100,000 and with 500,000 active sessions, and with those 500,000 sessions ended (then
//! held as tombstones only), against two empty topics of the tests' broker
//! (tests/common/broker.rs). Memory per tombstone is the last state's memory over the
//! empty one's, per tombstone; memory per active session is what is left of a state's
//! growth after its tombstones, per active session. docs/scaling.md and the resource
//! requests in deploy/sessiond.yaml take their figures from here.
//!
//! The states are real simulator traffic (a platform of 200,000 agents in 2,000
//! accounts, 200,000 events/s), validated and folded as ingest does, until that many sessions are active at
//! once; the ended state adds a `SessionEnded` for every active session. Each snapshot
//! names the topics' partitions at offset 0 and the topics are empty: what the binary
//! holds once ready is the state restored, the runtime, and the allocator's slack.
//! Resident memory is read once the replica is ready and again 3 s later (the allocator
//! hands back what the restore's buffers used); the later reading counts.
//!
//! `cargo bench --bench memory` (scripts/bench runs it). The summary is also written to
//! `$CARGO_TARGET_DIR/memory-bench.txt`.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "kit.rs"]
mod kit;

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessiond::events::Event;
use sessiond::events::validate::validate;
use sessiond::events::wire::{self, session_event::Body};
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::simulate::{SimConfig, SimTopic, Simulator};
use sessiond::snapshot::Checkpoint;
use sessiond::snapshot::checkpoint;
use sessiond::snapshot::store::SnapshotStore;

use common::broker;
use common::try_http_get as get;
use kit::rss_kib;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The active-session counts measured (besides none, and the largest one ended).
const STATES: [usize; 2] = [100_000, 500_000];
/// Partitions per topic.
const PARTITIONS: i32 = 3;
const SECRET: &str = "x";

/// One measured state.
struct Point {
    name: String,
    active: usize,
    pending: usize,
    tombstones: usize,
    snapshot_bytes: u64,
    rss_ready_kib: u64,
    rss_kib: u64,
}

fn main() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_sessiond"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let broker = broker::Broker::start();
    let (calls, members) = broker::unique_topics("memory");
    runtime.block_on(broker.create_topics(&[&calls, &members], PARTITIONS));
    let topics = [calls, members];
    let streams = kit::streams_from_start(&topics, PARTITIONS);
    let token = common::token_with_roles(SECRET, "bench-admin", &["SystemAdministrator"]);
    let work = tempfile::tempdir().expect("work dir");
    let measure = |name: &str, fold: Option<&Fold>| -> Point {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).expect("snapshot dir");
        let mut snapshot_bytes = 0;
        if let Some(fold) = fold {
            let checkpoint = Checkpoint {
                streams: streams.clone(),
                image: fold.image().expect("a consistent fold"),
                taken_at: 0,
            };
            let bytes = checkpoint::encode(&checkpoint);
            let mut store = SnapshotStore::open(&dir).expect("store");
            snapshot_bytes = store.write(&bytes).expect("snapshot written").bytes;
        }
        let (active, pending, tombstones, rss_ready_kib, rss_kib) =
            start(&binary, &broker.brokers, &topics, &dir, &token, name);
        let point = Point {
            name: name.to_owned(),
            active,
            pending,
            tombstones,
            snapshot_bytes,
            rss_ready_kib,
            rss_kib,
        };
        eprintln!(
            "{name}: {active} active, {pending} pending, {tombstones} tombstones; RSS {:.1} MB once ready, {:.1} MB 3 s later",
            rss_ready_kib as f64 / 1024.0,
            rss_kib as f64 / 1024.0
        );
        let _ = std::fs::remove_dir_all(&dir);
        point
    };

    let mut points = vec![measure("none", None)];
    let mut builder = Builder::new();
    for active in STATES {
        let started = Instant::now();
        builder.fold_until_active(active);
        eprintln!(
            "folded {} events in {:.0} s: {} active",
            builder.events,
            started.elapsed().as_secs_f64(),
            builder.fold.projection().len()
        );
        points.push(measure(
            &format!("{}k active", active / 1000),
            Some(&builder.fold),
        ));
    }
    builder.end_every_session();
    points.push(measure(
        &format!("{}k ended", STATES[STATES.len() - 1] / 1000),
        Some(&builder.fold),
    ));

    // The figures: tombstones from the ended state, then active sessions from the others.
    let base = points[0].rss_kib as f64 * 1024.0;
    let ended = &points[points.len() - 1];
    let per_tombstone = (ended.rss_kib as f64 * 1024.0 - base) / ended.tombstones as f64;
    let mut summary = String::new();
    let mut line = |text: String| {
        summary.push_str(&text);
        summary.push('\n');
    };
    line(
        "memory of the release binary once ready (VmRSS 3 s after /readyz 200), one run:"
            .to_owned(),
    );
    for p in &points {
        line(format!(
            "  {:12} {:>7} active {:>7} pending {:>8} tombstones  snapshot {:>6.1} MB  RSS {:>7.1} MB (at ready {:.1} MB)",
            p.name,
            p.active,
            p.pending,
            p.tombstones,
            p.snapshot_bytes as f64 / 1e6,
            p.rss_kib as f64 / 1024.0,
            p.rss_ready_kib as f64 / 1024.0,
        ));
    }
    line(format!(
        "  per tombstone: {per_tombstone:.0} bytes (the ended state over none)"
    ));
    for p in &points[1..points.len() - 1] {
        let grown = p.rss_kib as f64 * 1024.0 - base - per_tombstone * p.tombstones as f64;
        kit::headline(kit::Headline {
            figure: &format!("resident memory per active session, at {}", p.name),
            sessiond: format!("{:.0} bytes", grown / p.active as f64),
            peer: format!("per tombstone {per_tombstone:.0} bytes"),
            target: "",
            met: None,
        });
        line(format!(
            "  per active session, at {}: {:.0} bytes (after its {} tombstones; {:.0} bytes with them)",
            p.name,
            grown / p.active as f64,
            p.tombstones,
            (p.rss_kib as f64 * 1024.0 - base) / p.active as f64,
        ));
    }
    kit::publish_summary("memory", &summary);
}

/// A fold fed by the simulator, grown in steps.
struct Builder {
    fold: Fold,
    simulator: Simulator,
    offsets: [i64; 2 * PARTITIONS as usize],
    events: u64,
    /// The last event's time.
    last_at: Option<pbjson_types::Timestamp>,
}

impl Builder {
    fn new() -> Self {
        Self {
            fold: Fold::new(FoldConfig::default(), Arc::new(Projection::new())),
            simulator: Simulator::new(SimConfig {
                seed: 5,
                // Steady state about 1,000,000 active: 500,000 come on the way up.
                rate: 200_000.0,
                users: 200_000,
                accounts: 2_000,
                ..SimConfig::default()
            }),
            offsets: [0; 2 * PARTITIONS as usize],
            events: 0,
            last_at: None,
        }
    }

    /// Folds an event onto its topic's partition (by session id, as a producer keys it).
    fn apply(&mut self, topic: SimTopic, event: Event) {
        let hasher = BuildHasherDefault::<DefaultHasher>::default();
        let topic = match topic {
            SimTopic::Calls => 0,
            SimTopic::Members => 1,
        };
        let partition = (hasher.hash_one(&event.session_id) % PARTITIONS as u64) as u32;
        let stream = topic * PARTITIONS as u32 + partition;
        let offset = &mut self.offsets[stream as usize];
        self.fold.apply(
            event,
            Position {
                stream,
                offset: *offset,
            },
        );
        *offset += 1;
        self.events += 1;
    }

    /// Folds simulator traffic until `active` sessions are active at once.
    fn fold_until_active(&mut self, active: usize) {
        while self.fold.projection().len() < active {
            assert!(
                self.events < 20_000_000,
                "{} events and only {} active sessions",
                self.events,
                self.fold.projection().len()
            );
            let sim = self.simulator.next_event();
            self.last_at = sim.event.occurred_at;
            let event = validate(sim.event).expect("the simulator's events are valid");
            self.apply(sim.topic, event);
        }
    }

    /// Ends every active session, one `SessionEnded` each at the last event's time.
    fn end_every_session(&mut self) {
        let last_at = self.last_at.expect("some traffic");
        for (n, session) in self.fold.projection().all().into_iter().enumerate() {
            let ended = wire::SessionEvent {
                event_id: format!("bench-end-{n}"),
                session_id: session.id.to_string(),
                occurred_at: Some(last_at),
                account_id: session.account_id.clone().unwrap_or_default(),
                actor_id: String::new(),
                body: Some(Body::SessionEnded(wire::SessionEnded {
                    outcome: "completed".to_owned(),
                    was_missed: false,
                })),
            };
            let event = validate(ended).expect("a valid SessionEnded");
            self.apply(SimTopic::Calls, event);
        }
        assert_eq!(self.fold.projection().len(), 0, "sessions left active");
    }
}

/// Starts the binary from the snapshot in `dir`; once ready, its counts and resident
/// memory (at ready, and 3 s later).
fn start(
    binary: &Path,
    brokers: &str,
    topics: &[String; 2],
    dir: &Path,
    token: &str,
    name: &str,
) -> (usize, usize, usize, u64, u64) {
    let port = broker::free_port();
    let log = tempfile::NamedTempFile::new().expect("log file");
    let mut child = Command::new(binary)
        .args(["serve", "--brokers", brokers, "--topics", &topics.join(",")])
        .arg("--snapshot-dir")
        .arg(dir)
        .args([
            "--snapshot-interval",
            "1h",
            "--jwt-secret",
            SECRET,
            "--rate-limit",
            "0",
            "--http",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log.reopen().expect("log"))
        .spawn()
        .expect("starting sessiond");
    let started = Instant::now();
    let outcome = (|| {
        loop {
            if let Ok((200, _)) = get(port, "/readyz", None) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err("not ready within 120 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let at_ready = rss_kib(child.id());
        std::thread::sleep(Duration::from_secs(3));
        let settled = rss_kib(child.id());
        let (status, body) =
            get(port, "/admin/state", Some(token)).map_err(|e| format!("/admin/state: {e}"))?;
        if status != 200 {
            return Err(format!("/admin/state: {status} {body}"));
        }
        let state: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("/admin/state: {e}"))?;
        let count = |name: &str| state["counts"][name].as_u64().unwrap_or(0) as usize;
        Ok((
            count("activeSessions"),
            count("pendingSessions"),
            count("tombstones"),
            at_ready,
            settled,
        ))
    })();
    let _ = child.kill();
    let _ = child.wait();
    outcome.unwrap_or_else(|why| {
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        panic!("{name}: {why}\n{text}")
    })
}
