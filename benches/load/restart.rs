//! Restart from a snapshot with 100,000 active sessions: what a checkpoint of that state
//! costs (the image taken on the fold's thread, its protobuf encoding, the durable write,
//! its size) and how long the release binary takes from spawn to `/readyz` 200 when it
//! starts from it (target: under 2 s), against the same binary starting with no snapshot on
//! the same empty topics (the floor: process start and broker handshake), in the same run.
//!
//! The state is real simulator traffic (validated and folded like ingest does) until
//! 100,000 sessions are active at once. The checkpoint names the topics' partitions at
//! offset 0 and the topics are empty, so a restart reads no record: what is timed is
//! restoring the snapshot and getting ready.
//!
//! `cargo bench --bench restart` (scripts/bench runs it). The binary is the one cargo
//! builds along with a bench (`CARGO_BIN_EXE_sessiond`): `$CARGO_TARGET_DIR/release/sessiond`,
//! with the release profile's settings (the bench profile inherits them), rebuilt whenever
//! it is out of date. The summary is also written to `$CARGO_TARGET_DIR/restart-bench.txt`.
//! A start's log (`RUST_LOG=info`) gives where its time went: restoring the snapshot, the
//! broker's partitions, the first readiness check. Restoring is mostly faulting in the
//! ~0.5 GB it allocates: on a VM that hands freed memory back to its host (virtio-balloon
//! free page reporting), a start a few seconds after the last one pays for that twice over,
//! which is most of the spread between runs.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "kit.rs"]
mod kit;

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use sessiond::events::Event;
use sessiond::events::validate::validate;
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::simulate::{SimConfig, SimTopic, Simulator};
use sessiond::snapshot::Checkpoint;
use sessiond::snapshot::checkpoint;
use sessiond::snapshot::store::SnapshotStore;

use common::broker;
use common::try_http_get as get;
use kit::{median, ms, parse_debug_duration, spread};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Active sessions the snapshot must hold.
const ACTIVE: usize = 100_000;
/// Repetitions of every measurement.
const RUNS: usize = 5;
/// Partitions per topic, as in the ingest bench.
const PARTITIONS: i32 = 3;
/// Restart to ready, from process start.
const TARGET: Duration = Duration::from_secs(2);
const SECRET: &str = "x";

fn main() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_sessiond"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let broker = broker::Broker::start();
    let (calls, members) = broker::unique_topics("restart");
    runtime.block_on(broker.create_topics(&[&calls, &members], PARTITIONS));
    let topics = [calls, members];

    // 1. A fold with 100,000 active sessions.
    let built = Instant::now();
    let (fold, events, simulated) = fold_until_active(ACTIVE);
    let active = fold.projection().len();
    let (pending, tombstones) = (fold.pending_count(), fold.tombstone_count());
    assert!(active >= ACTIVE, "only {active} active sessions");
    let sessions = fold.projection().all();
    let members: usize = sessions.iter().map(|s| s.members.len()).sum();
    let logs: usize = sessions.iter().map(|s| s.log.len()).sum();
    drop(sessions);
    eprintln!(
        "folded {events} simulated events ({:.0} s of traffic) in {:.1} s: {active} active \
         sessions ({:.1} members, {:.1} log entries each), {} pending, {} tombstones",
        simulated.as_secs_f64(),
        built.elapsed().as_secs_f64(),
        members as f64 / active as f64,
        logs as f64 / active as f64,
        pending,
        tombstones,
    );

    // 2. Image (the fold is held), encode, durable write.
    let streams = kit::streams_from_start(&topics, PARTITIONS);
    let snapshot_dir = tempfile::tempdir().expect("snapshot dir");
    let mut store = SnapshotStore::open(snapshot_dir.path()).expect("store");
    let (mut image_t, mut encode_t, mut write_t) = (Vec::new(), Vec::new(), Vec::new());
    let mut file_bytes = 0;
    for run in 1..=RUNS {
        let started = Instant::now();
        let image = fold.image().expect("a consistent fold");
        image_t.push(started.elapsed());
        let checkpoint = Checkpoint {
            streams: streams.clone(),
            image,
            taken_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64),
        };
        let started = Instant::now();
        let bytes = checkpoint::encode(&checkpoint);
        encode_t.push(started.elapsed());
        let started = Instant::now();
        let written = store.write(&bytes).expect("snapshot written");
        write_t.push(started.elapsed());
        file_bytes = written.bytes;
        eprintln!(
            "snapshot {run}: image {}, encode {}, write {} ({file_bytes} bytes)",
            ms(image_t[run - 1]),
            ms(encode_t[run - 1]),
            ms(write_t[run - 1]),
        );
    }
    drop(store);
    drop(fold);

    // 3. Restart from it, against starting with nothing; alternating, on the same topics.
    let empty_dir = tempfile::tempdir().expect("empty snapshot dir");
    let logs_dir = tempfile::tempdir().expect("log dir");
    let token = common::token_with_roles(SECRET, "bench-admin", &["SystemAdministrator"]);
    let start = |dir: &Path, log: PathBuf| Start {
        binary: &binary,
        brokers: &broker.brokers,
        topics: &topics,
        snapshot_dir: dir.to_path_buf(),
        log,
        token: &token,
    };
    let (mut restored, mut empty) = (Vec::new(), Vec::new());
    for round in 1..=RUNS {
        let from_snapshot = start(
            snapshot_dir.path(),
            logs_dir.path().join(format!("restore-{round}.log")),
        )
        .run(true);
        let from_nothing = start(
            empty_dir.path(),
            logs_dir.path().join(format!("empty-{round}.log")),
        )
        .run(false);
        eprintln!(
            "round {round}: from the snapshot {} ({}; restore took {}), from nothing {} ({})",
            ms(from_snapshot.ready),
            from_snapshot.timeline(),
            from_snapshot.restore.map_or("?".to_owned(), ms),
            ms(from_nothing.ready),
            from_nothing.timeline(),
        );
        restored.push(from_snapshot);
        empty.push(from_nothing);
    }

    // 4. The summary.
    let ready: Vec<Duration> = restored.iter().map(|s| s.ready).collect();
    let floor: Vec<Duration> = empty.iter().map(|s| s.ready).collect();
    let verdict = if median(&ready) < TARGET {
        "ok"
    } else {
        "OVER TARGET"
    };
    // Where a start's time goes: from milestone `from` (None: spawn) to `to` (None: the
    // first 200 seen), median over the runs that logged both.
    let phase = |starts: &[Started], from: Option<usize>, to: Option<usize>| {
        let at = |i: Option<usize>, s: &Started, otherwise: Duration| match i {
            None => Some(otherwise),
            Some(i) => s.milestones[i],
        };
        let runs: Vec<Duration> = starts
            .iter()
            .filter_map(|s| at(to, s, s.ready)?.checked_sub(at(from, s, Duration::ZERO)?))
            .collect();
        if runs.is_empty() {
            "?".to_owned()
        } else {
            format!("{:.0} ms", median(&runs).as_secs_f64() * 1e3)
        }
    };
    let mut summary = String::new();
    let mut line = |text: String| {
        summary.push_str(&text);
        summary.push('\n');
    };
    line(format!(
        "restart with {active} active sessions in the snapshot ({pending} pending, \
         {tombstones} tombstones), median [min..max] of {RUNS}:"
    ));
    line(format!(
        "  snapshot size:            {:.1} MB, {:.0} bytes/active session",
        file_bytes as f64 / 1e6,
        file_bytes as f64 / active as f64,
    ));
    line(format!("  image (fold held):        {}", spread(&image_t)));
    line(format!("  encode:                   {}", spread(&encode_t)));
    line(format!("  write (atomic + fsync):   {}", spread(&write_t)));
    line(format!(
        "  start to /readyz 200:     {}  (target < {} ms: {verdict})",
        spread(&ready),
        TARGET.as_millis(),
    ));
    line(format!(
        "    spawn to restored {}, then partitions assigned {}, caught up (first readiness tick) {}, 200 seen {}",
        phase(&restored, None, Some(RESTORED)),
        phase(&restored, Some(RESTORED), Some(ASSIGNED)),
        phase(&restored, Some(ASSIGNED), Some(CAUGHT_UP)),
        phase(&restored, Some(CAUGHT_UP), None),
    ));
    line(format!(
        "  empty start (no snapshot): {}  restart / empty = {:.1}",
        spread(&floor),
        median(&ready).as_secs_f64() / median(&floor).as_secs_f64(),
    ));
    line(format!(
        "    spawn to listening {}, then partitions assigned {}, caught up (first readiness tick) {}, 200 seen {}",
        phase(&empty, None, Some(LISTENING)),
        phase(&empty, Some(LISTENING), Some(ASSIGNED)),
        phase(&empty, Some(ASSIGNED), Some(CAUGHT_UP)),
        phase(&empty, Some(CAUGHT_UP), None),
    ));
    kit::headline(kit::Headline {
        figure: "restart with 100,000 active sessions: start to /readyz 200",
        sessiond: ms(median(&ready)),
        peer: format!("empty start {}", ms(median(&floor))),
        target: "< 2 s",
        met: Some(median(&ready) < TARGET),
    });
    kit::publish_summary("restart", &summary);
}

/// Folds simulated traffic until `active` sessions are active at once; returns the fold,
/// the events folded and the simulated time they span. The simulator runs on its own
/// thread (it is the slower half); events go to the partition their session id hashes to.
fn fold_until_active(active: usize) -> (Fold, u64, Duration) {
    let (sender, receiver) = sync_channel::<Vec<(u32, Event)>>(16);
    let simulator = std::thread::spawn(move || {
        let sim = Simulator::new(SimConfig {
            rate: 20_000.0,
            users: 40_000,
            accounts: 400,
            ..SimConfig::default()
        });
        let hasher = BuildHasherDefault::<DefaultHasher>::default();
        let mut batch = Vec::with_capacity(4096);
        for sim in sim {
            let topic = match sim.topic {
                SimTopic::Calls => 0,
                SimTopic::Members => 1,
            };
            let partition = (hasher.hash_one(&sim.event.session_id) % PARTITIONS as u64) as u32;
            let event = validate(sim.event).expect("the simulator's events are valid");
            batch.push((topic * PARTITIONS as u32 + partition, event));
            if batch.len() == batch.capacity() {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(4096));
                if sender.send(full).is_err() {
                    return;
                }
            }
        }
    });
    let mut fold = Fold::new(FoldConfig::default(), Arc::new(Projection::new()));
    let mut offsets = [0i64; 2 * PARTITIONS as usize];
    let (mut events, mut first, mut last) = (0u64, None, 0);
    'fold: for batch in receiver {
        for (stream, event) in batch {
            first.get_or_insert(event.occurred_at.0);
            last = event.occurred_at.0;
            let offset = &mut offsets[stream as usize];
            fold.apply(
                event,
                Position {
                    stream,
                    offset: *offset,
                },
            );
            *offset += 1;
            events += 1;
            if fold.projection().len() >= active {
                break 'fold;
            }
        }
    }
    // Dropping the receiver stops the simulator.
    simulator.join().expect("simulator");
    let span = Duration::from_nanos((last - first.unwrap_or(last)) as u64);
    (fold, events, span)
}

/// One start of the binary, timed from spawn to the first `/readyz` 200.
struct Start<'a> {
    binary: &'a Path,
    brokers: &'a str,
    topics: &'a [String; 2],
    snapshot_dir: PathBuf,
    log: PathBuf,
    token: &'a str,
}

struct Started {
    ready: Duration,
    /// What the binary logged as the restore's own time.
    restore: Option<Duration>,
    /// When its log's [`MILESTONES`] came, after spawn.
    milestones: [Option<Duration>; MILESTONES.len()],
}

/// Lines of the binary's log (at `info`) that mark how far a start has got.
const MILESTONES: [(&str, &str); 4] = [
    ("serving GET", "listening"),
    ("restored from snapshot", "restored"),
    ("assigned every partition", "assigned"),
    ("caught up: folded every record", "caught up"),
];
const LISTENING: usize = 0;
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
}

impl Start<'_> {
    fn run(self, expect_restore: bool) -> Started {
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
                "--snapshot-dir",
            ])
            .arg(&self.snapshot_dir)
            // No snapshot written while the runs go on: every run starts from the same one.
            .args([
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
        let guard = Kill(&mut child);
        let ready = loop {
            if let Ok((200, _)) = get(port, "/readyz", None) {
                break started.elapsed();
            }
            if let Ok(Some(status)) = guard.0.try_wait() {
                panic!("sessiond exited with {status}: {}", self.log_text());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "not ready within 60 s: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let (status, body) = get(port, "/admin/state", Some(self.token)).expect("/admin/state");
        assert_eq!(status, 200, "/admin/state: {body}");
        let state: serde_json::Value = serde_json::from_str(&body).expect("/admin/state JSON");
        let active = state["counts"]["activeSessions"].as_u64().unwrap_or(0) as usize;
        if expect_restore {
            assert!(
                active >= ACTIVE,
                "{active} active sessions after the restart"
            );
            assert!(
                state["restoredFrom"].is_string(),
                "restoredFrom is not set: {}",
                state["restoredFrom"]
            );
        } else {
            assert_eq!(active, 0, "active sessions without a snapshot");
            assert!(state["restoredFrom"].is_null());
        }
        drop(guard);
        let text = self.log_text();
        Started {
            ready,
            restore: restore_took(&text),
            milestones: milestones(&text, spawned_at),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Kills the process (as a crash would: no last snapshot) when dropped.
struct Kill<'a>(&'a mut Child);

impl Drop for Kill<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `took=` of the binary's "restored from snapshot" line.
fn restore_took(log: &str) -> Option<Duration> {
    let line = log.lines().find(|l| l.contains("restored from snapshot"))?;
    let took = line.split("took=").nth(1)?.split_whitespace().next()?;
    parse_debug_duration(took)
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
