//! Durable restarts against Apache Kafka: a replica killed with SIGKILL in the middle of a
//! simulated stream restarts from its last snapshot, resumes every partition from the
//! saved positions, and ends up equal to a replay from the beginning, with nothing applied
//! twice. A corrupted newest snapshot is reported and the previous one is used. On a
//! 3-node cluster, a partition leader killed mid-traffic loses nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::broker::{Broker, Cluster, free_port, unique_topics};
use common::{KillOnDrop, http_get, http_get_full, run_sessiond, token_with_roles, wait_until};
use prost::Message as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use sessiond::events::KIND_NAMES;
use sessiond::events::wire;
use sessiond::ingest::kafka::consumer::{IngestConfig, KafkaIngest};
use sessiond::kafka::KafkaSettings;
use sessiond::kafka::produce::Topics;
use sessiond::projection::{Fold, FoldConfig, Projection, Session};
use sessiond::simulate::{SimConfig, Simulator};
use sessiond::snapshot::{Checkpoint, checkpoint};

const SECRET: &str = "snapshot-secret";

/// Starts `serve --brokers` with snapshots every second; its stderr goes to `log`.
fn start_replica(brokers: &str, topics: &str, dir: &Path, log: &Path) -> (KillOnDrop, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .args(["serve", "--brokers", brokers, "--topics", topics])
        .args([
            "--snapshot-dir",
            dir.to_str().unwrap(),
            "--snapshot-interval",
            "1s",
        ])
        .args([
            "--http",
            &format!("127.0.0.1:{port}"),
            "--jwt-secret",
            SECRET,
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    (KillOnDrop(child), port)
}

/// A broker with fresh call and member topics (2 partitions), the `--topics` value, and
/// an empty work directory.
async fn setup(test: &str) -> (Broker, String, common::WorkDir) {
    let broker = Broker::start();
    let (calls, members) = unique_topics(test);
    broker.create_topics(&[&calls, &members], 2).await;
    (broker, format!("{calls},{members}"), common::work_dir(test))
}

fn admin_state(port: u16) -> Option<serde_json::Value> {
    let token = token_with_roles(SECRET, "ops", &["SystemAdministrator"]);
    let (status, body) = http_get(port, "/admin/state", Some(&token));
    (status == 200).then(|| serde_json::from_str(&body).expect("JSON"))
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "snap"));
    files.sort();
    files
}

/// `replay --brokers … --digest`: (digest, applied, duplicates) from its output.
fn replay(brokers: &str, topics: &str) -> (String, u64, u64) {
    let (digest, err) = common::replay_digest(brokers, topics);
    let applied = common::number_before(&err, " applied");
    let duplicates = err
        .split("\"duplicate\": ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .map_or(0, |n| n.parse().unwrap());
    (digest, applied, duplicates)
}

fn applied_total(state: &serde_json::Value) -> u64 {
    state["counts"]["applied"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_replica_restarts_from_its_snapshot_and_equals_a_replay() {
    let (broker, topics, work) = setup("snapshots").await;
    let brokers = broker.brokers.clone();
    let dir = work.join("snapshots");

    tokio::task::spawn_blocking(move || {
        // About 12 s of traffic from 30 agents, produced in batches (but against tansu:
        // `tansu_producer_options`).
        let mut simulator = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_sessiond"))
                .args(["simulate", "--brokers", &brokers, "--topics", &topics])
                .args([
                    "--rate",
                    "250",
                    "--duration",
                    "12s",
                    "--users",
                    "30",
                    "--seed",
                    "4",
                ])
                .args(["--start", "2026-11-24T08:00:00Z"])
                .args(common::tansu_producer_options())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );

        let (mut first, port) = start_replica(&brokers, &topics, &dir, &work.join("first.log"));
        wait_until(
            "a snapshot with sessions in it",
            Duration::from_secs(60),
            || {
                admin_state(port).is_some_and(|s| {
                    s["counts"]["activeSessions"].as_u64().unwrap_or(0) > 10
                        && s["lastSnapshot"].is_object()
                })
            },
        );
        std::thread::sleep(Duration::from_millis(1500));
        let before = admin_state(port).unwrap();
        first.0.kill().unwrap(); // SIGKILL: no shutdown snapshot
        first.0.wait().unwrap();
        let killed_at = applied_total(&before);

        let log = work.join("second.log");
        let (_second, port) = start_replica(&brokers, &topics, &dir, &log);
        wait_until(
            "the restarted replica answers",
            Duration::from_secs(30),
            || admin_state(port).is_some(),
        );
        let restored = admin_state(port).unwrap();
        let from = restored["restoredFrom"]
            .as_str()
            .expect("restored from a snapshot");
        assert!(from.ends_with(".snap"), "{restored}");
        assert!(
            std::fs::read_to_string(&log)
                .unwrap()
                .contains("restored from snapshot")
        );
        assert!(simulator.0.wait().unwrap().success(), "the simulator ran");

        let (digest, applied, duplicates) = replay(&brokers, &topics);
        assert!(applied > killed_at, "the stream went on after the kill");
        wait_until(
            "the restarted replica equals the replay",
            Duration::from_secs(60),
            || admin_state(port).is_some_and(|s| s["digest"] == digest.as_str()),
        );
        let state = admin_state(port).unwrap();
        assert_eq!(
            applied_total(&state),
            applied,
            "every event applied exactly once: {state}"
        );
        assert_eq!(
            state["counts"]["skipped"]["duplicate"]
                .as_u64()
                .unwrap_or(0),
            duplicates,
            "no record was applied again after the restart: {state}"
        );
        assert!(state["counts"]["activeSessions"].as_u64().unwrap() > 10);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_newest_snapshot_is_reported_and_the_previous_one_used() {
    let (broker, topics, work) = setup("corrupt").await;
    let brokers = broker.brokers.clone();
    let dir = work.join("snapshots");

    tokio::task::spawn_blocking(move || {
        let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.jsonl");
        let mut args = vec!["produce", demo, "--brokers", &brokers, "--topics", &topics];
        args.extend(common::tansu_producer_options());
        let (ok, _, err) = run_sessiond(&args);
        assert!(ok, "{err}");
        let (digest, _, _) = replay(&brokers, &topics);

        let (first, port) = start_replica(&brokers, &topics, &dir, &work.join("first.log"));
        wait_until("two snapshots", Duration::from_secs(60), || {
            snapshots(&dir).len() == 2
                && admin_state(port).is_some_and(|s| s["digest"] == digest.as_str())
        });
        // A graceful stop writes a last one.
        let pid = first.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let mut first = first;
        assert!(first.0.wait().unwrap().success(), "a clean shutdown");
        let files = snapshots(&dir);
        assert_eq!(files.len(), 2, "the last two are kept: {files:?}");

        // Flip a byte in the middle of the newest one.
        let newest = files[1].clone();
        let mut bytes = std::fs::read(&newest).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        std::fs::write(&newest, bytes).unwrap();

        let log = work.join("second.log");
        let (_second, port) = start_replica(&brokers, &topics, &dir, &log);
        wait_until("ready after the fallback", Duration::from_secs(60), || {
            http_get(port, "/readyz", None).0 == 200
        });
        let state = admin_state(port).unwrap();
        let previous = files[0].display().to_string();
        assert_eq!(
            state["restoredFrom"].as_str(),
            Some(previous.as_str()),
            "{state}"
        );
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(log.contains("snapshot unusable"), "{log}");
        assert!(log.contains("checksum mismatch"), "{log}");
        assert!(log.contains(&newest.display().to_string()), "{log}");
        assert_eq!(state["digest"], digest.as_str());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_until_against_the_broker_equals_replaying_the_file() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("replay-until");
    broker.create_topics(&[&calls, &members], 3).await;
    let topics = format!("{calls},{members}");
    let brokers = broker.brokers.clone();
    tokio::task::spawn_blocking(move || {
        let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.jsonl");
        let mut args = vec!["produce", demo, "--brokers", &brokers, "--topics", &topics];
        args.extend(common::tansu_producer_options());
        let (ok, _, err) = run_sessiond(&args);
        assert!(ok, "{err}");
        for until in [
            "2026-11-24T09:00:00Z",
            "2026-11-24T10:15:00Z",
            "2026-11-24T10:21:30Z",
        ] {
            let from_file =
                run_sessiond(&["replay", "--events", demo, "--until", until, "--digest"]);
            let from_broker = run_sessiond(&[
                "replay",
                "--brokers",
                &brokers,
                "--topics",
                &topics,
                "--until",
                until,
                "--digest",
            ]);
            assert!(from_broker.0, "{}", from_broker.2);
            assert_eq!(
                from_broker.1.lines().last(),
                from_file.1.lines().last(),
                "at {until}"
            );
            // The records were stamped now, years after their events: the timestamp index
            // cannot bound this read, and the replay noticed rather than stopping short.
            assert!(
                from_broker
                    .2
                    .contains("read to the end, because the first record past"),
                "{}",
                from_broker.2
            );
            let file_user = run_sessiond(&[
                "replay",
                "--events",
                demo,
                "--until",
                until,
                "--user",
                "U-acme-alice",
            ]);
            let broker_user = run_sessiond(&[
                "replay",
                "--brokers",
                &brokers,
                "--topics",
                &topics,
                "--until",
                until,
                "--user",
                "U-acme-alice",
            ]);
            assert_eq!(broker_user.1, file_user.1, "U-acme-alice at {until}");
        }
        // --until-offsets: nothing of the member topic and the first 40 records of each
        // call partition is a strict part of the whole.
        let offsets = format!(
            "{calls}:0:40,{calls}:1:40,{calls}:2:40,{members}:0:0,{members}:1:0,{members}:2:0"
        );
        let (ok, out, err) = run_sessiond(&[
            "replay",
            "--brokers",
            &brokers,
            "--topics",
            &topics,
            "--until-offsets",
            &offsets,
            "--trace",
        ]);
        assert!(ok, "{err}");
        let traced = out.lines().filter(|l| l.contains(" -> ")).count();
        assert_eq!(
            traced, 120,
            "exactly the records before those offsets:\n{out}"
        );
        assert!(!out.contains(&format!("{members}:")), "no member record");
    })
    .await
    .unwrap();
}

/// The count in `replay`'s "replayed N records" summary line.
fn replayed_records(stderr: &str) -> u64 {
    common::number_before(stderr, " records:")
}

/// Live traffic is stamped as it happens, so `replay --until T` from the broker reads only
/// up to where the timestamp index says T (plus the lateness allowed) was passed, and
/// still folds exactly what replaying the dumped file up to T folds.
#[tokio::test(flavor = "multi_thread")]
async fn replay_until_reads_up_to_the_timestamp_index_and_equals_the_file() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("replay-lookup");
    broker.create_topics(&[&calls, &members], 3).await;
    let topics = format!("{calls},{members}");
    let brokers = broker.brokers.clone();
    tokio::task::spawn_blocking(move || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let start = sessiond::time::EventTime(i64::try_from(now.as_nanos()).unwrap());
        let (ok, _, err) = run_sessiond(&[
            "simulate",
            "--brokers",
            &brokers,
            "--topics",
            &topics,
            "--rate",
            "400",
            "--duration",
            "8s",
            "--users",
            "40",
            "--seed",
            "7",
            "--start",
            &start.to_api_string(),
        ]);
        assert!(ok, "{err}");
        let work = common::work_dir("replay-lookup");
        let dump = work.join("dump.jsonl");
        let (ok, lines, err) = run_sessiond(&["dump", "--brokers", &brokers, "--topics", &topics]);
        assert!(ok, "{err}");
        std::fs::write(&dump, &lines).unwrap();
        let total = lines.lines().count() as u64;
        let dump_path = dump.to_str().unwrap();

        let until = start.saturating_add(Duration::from_secs(3)).to_api_string();
        let broker_replay = |lateness: &str, extra: &[&str]| {
            let mut args = vec![
                "replay",
                "--brokers",
                &brokers,
                "--topics",
                &topics,
                "--until",
                &until,
                "--until-lateness",
                lateness,
            ];
            args.extend(extra);
            let (ok, out, err) = run_sessiond(&args);
            assert!(ok, "{err}");
            (out, err)
        };
        let (file_digest, file_err) = {
            let (ok, out, err) = run_sessiond(&[
                "replay", "--events", dump_path, "--until", &until, "--digest",
            ]);
            assert!(ok, "{err}");
            (out.lines().last().unwrap().to_owned(), err)
        };
        assert!(replayed_records(&file_err) == total, "{file_err}");

        let (bounded, bounded_err) = broker_replay("1s", &["--digest"]);
        assert_eq!(
            bounded.lines().last().unwrap(),
            file_digest,
            "{bounded_err}"
        );
        let read = replayed_records(&bounded_err);
        assert!(
            read < total * 3 / 4,
            "the timestamp index bounded the read: {read} of {total} records\n{bounded_err}"
        );
        assert!(
            bounded_err.contains("up to its first record stamped later than --until + 1s")
                && !bounded_err.contains("read to the end"),
            "{bounded_err}"
        );

        let (whole, whole_err) = broker_replay("none", &["--digest"]);
        assert_eq!(whole.lines().last().unwrap(), file_digest, "{whole_err}");
        assert_eq!(replayed_records(&whole_err), total, "{whole_err}");

        // One user's response, byte for byte, from the bounded read and from the file.
        let user = lines
            .lines()
            .find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                v.pointer("/sessionStarted/endpointId")
                    .and_then(|u| u.as_str())
                    .map(str::to_owned)
            })
            .expect("a SessionStarted with an endpoint in the dump");
        let (from_broker, _) = broker_replay("1s", &["--user", &user]);
        let (ok, from_file, err) = run_sessiond(&[
            "replay", "--events", dump_path, "--until", &until, "--user", &user,
        ]);
        assert!(ok, "{err}");
        assert_eq!(from_broker, from_file, "{user}");
        assert!(from_file.contains("\"sessions\""), "{from_file}");
        let _ = std::fs::remove_file(&dump);
    })
    .await
    .unwrap();
}

/// A Kafka source over `topics`, starting from `checkpoint` (or from the beginning), for a
/// test to drive a record at a time.
fn driven_source(brokers: &str, topics: &[String], checkpoint: Option<Checkpoint>) -> KafkaIngest {
    let projection = Arc::new(Projection::new());
    let (fold, streams) = match checkpoint {
        Some(Checkpoint { streams, image, .. }) => (
            Fold::restore(FoldConfig::default(), projection, image).expect("a consistent image"),
            streams,
        ),
        None => (Fold::new(FoldConfig::default(), projection), Vec::new()),
    };
    let config = IngestConfig {
        kafka: KafkaSettings {
            brokers: brokers.to_owned(),
            options: Vec::new(),
        },
        topics: topics.to_vec(),
        dead_letter_suffix: None,
        max_lag: 10_000,
        stale_after: Duration::from_secs(10),
        metadata_refresh: Duration::from_secs(60),
    };
    let mut source = KafkaIngest::kafka(config, fold, Arc::default(), Arc::default())
        .expect("a Kafka client")
        .resume_from(&streams);
    source.start(&tokio_util::sync::CancellationToken::new());
    source
}

/// Polls until `done`, failing after a minute.
fn drive(source: &mut KafkaIngest, what: &str, mut done: impl FnMut(&KafkaIngest) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(source) {
        assert!(
            Instant::now() < deadline,
            "not {what} within 60 s: at {:?}, {:?}",
            source
                .positions()
                .iter()
                .map(|p| (p.name.partition, p.next_offset))
                .collect::<Vec<_>>(),
            source.stats()
        );
        source.poll_once(Duration::from_millis(50));
    }
}

/// Polls until every partition's position is `end` in all, then a little longer, to see
/// that nothing more comes.
fn drive_to_end(source: &mut KafkaIngest, end: i64) {
    drive(source, &format!("read to offset sum {end}"), |s| {
        s.positions().iter().map(|p| p.next_offset).sum::<i64>() >= end
    });
    for _ in 0..5 {
        source.poll_once(Duration::from_millis(20));
    }
}

/// The checkpoint as the snapshot file would give it back.
fn through_protobuf(checkpoint: Checkpoint) -> Checkpoint {
    checkpoint::decode(&checkpoint::encode(&checkpoint)).expect("decodes")
}

/// A producer that puts everything sent within a second to one partition into one batch.
fn batching_producer(brokers: &str) -> FutureProducer {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "1000")
        .set("batch.num.messages", "10000")
        .create()
        .expect("a producer")
}

/// Sends every event at once (so they share batches), then waits for all to be delivered.
async fn produce_batched(
    producer: &FutureProducer,
    topics: &Topics,
    events: &[wire::SessionEvent],
) {
    let deliveries: Vec<_> = events
        .iter()
        .map(|event| {
            let payload = event.encode_to_vec();
            producer
                .send_result(
                    FutureRecord::to(topics.for_event(event))
                        .key(event.session_id.as_bytes())
                        .payload(&payload),
                )
                .map_err(|(e, _)| e)
                .expect("queued")
        })
        .collect();
    producer.flush(Duration::from_secs(10)).expect("flushed");
    for delivery in deliveries {
        delivery.await.expect("delivered").expect("delivered");
    }
}

fn sim_events(seed: u64, n: usize) -> Vec<wire::SessionEvent> {
    Simulator::new(SimConfig {
        seed,
        users: 30,
        rate: 400.0,
        ..SimConfig::default()
    })
    .take(n)
    .map(|e| e.event)
    .collect()
}

/// What two replicas that read the same records must agree on, whatever order they read
/// the two topics in: the digest; the active, pending and tombstone counts; how many call
/// events of each kind applied (a session's call events are one partition, in order); and
/// how many events were folded in all. Member events are compared only in that total: one
/// that arrives after its session's `SessionEnded` is late, or applied just before the end,
/// depending on which topic was read first, and the projection is the same either way.
#[derive(Debug, PartialEq, Eq)]
struct Agreed {
    digest: String,
    active: usize,
    pending: usize,
    tombstones: usize,
    call_events_applied: Vec<u64>,
    folded: u64,
    orphaned_and_evicted: (u64, u64, u64),
}

fn agreed(source: &KafkaIngest) -> Agreed {
    let fold = source.fold();
    let stats = fold.stats();
    let calls = KIND_NAMES
        .iter()
        .position(|k| *k == "MemberJoined")
        .unwrap();
    Agreed {
        digest: sessiond::digest::digest(fold.projection()),
        active: fold.projection().len(),
        pending: fold.pending_count(),
        tombstones: fold.tombstone_count(),
        call_events_applied: stats.applied_by_kind[..calls].to_vec(),
        folded: stats.applied_by_kind.iter().sum::<u64>() + stats.skipped.values().sum::<u64>(),
        orphaned_and_evicted: (
            stats.orphaned_sessions,
            stats.orphaned_events,
            stats.evicted_idle,
        ),
    }
}

/// The moment the bug needs: a checkpoint taken after 4 of the 10 records of one batch.
/// A broker that serves a fetch from inside a batch by starting at the next one (tansu 0.6)
/// would, on resume, skip the other 6 unless the source checks its resume point.
#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_taken_inside_a_record_batch_resumes_without_losing_the_rest_of_it() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("mid-batch");
    broker.create_topics(&[&calls, &members], 1).await;
    let topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    let names = vec![calls, members];
    let producer = batching_producer(&broker.brokers);
    let started = |n: usize| -> wire::SessionEvent {
        let time = format!("2026-11-24T09:00:{n:02}Z");
        serde_json::from_str(&common::started(
            &format!("E-{n}"),
            &format!("S-{n}"),
            &time,
            "U-1",
        ))
        .unwrap()
    };
    produce_batched(
        &producer,
        &topics,
        &(0..10).map(started).collect::<Vec<_>>(),
    )
    .await;

    let brokers = broker.brokers.clone();
    let names_first = names.clone();
    let checkpoint = tokio::task::spawn_blocking(move || {
        let mut first = driven_source(&brokers, &names_first, None);
        drive(&mut first, "4 records read", |s| s.stats().records == 4);
        let checkpoint = first.checkpoint().expect("a consistent fold");
        assert_eq!(checkpoint.streams[0].next_offset, 4, "inside the batch");
        assert_eq!(first.fold().projection().len(), 4);
        checkpoint
        // Dropped here, with no last checkpoint: as a SIGKILL would.
    })
    .await
    .unwrap();

    // A later batch, so a broker that skipped the rest of the first would still let the
    // resumed source reach the end.
    produce_batched(&producer, &topics, &[started(10)]).await;

    let brokers = broker.brokers.clone();
    tokio::task::spawn_blocking(move || {
        let mut resumed = driven_source(&brokers, &names, Some(through_protobuf(checkpoint)));
        drive_to_end(&mut resumed, 11);
        let mut fresh = driven_source(&brokers, &names, None);
        drive_to_end(&mut fresh, 11);
        let ids: Vec<String> = resumed
            .fold()
            .projection()
            .all()
            .iter()
            .map(|s| s.id.to_string())
            .collect();
        let mut expected: Vec<String> = (0..=10).map(|n| format!("S-{n}")).collect();
        expected.sort();
        assert_eq!(
            ids, expected,
            "every session of the batch, and the later one"
        );
        assert_eq!(
            resumed.stats().records,
            7,
            "the 6 after the checkpoint and the later one"
        );
        assert_eq!(agreed(&resumed), agreed(&fresh));
    })
    .await
    .unwrap();
}

/// Kills a replica (drops it without a last checkpoint) at random points of a simulated
/// stream produced in multi-record batches, restarts it from its last checkpoint each time,
/// and compares it with a fresh replica that read everything once: by digest, counters,
/// and active, pending and tombstone counts.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_and_restarted_at_random_points_equals_a_fresh_one() {
    let seed: u64 = std::env::var("SESSIOND_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed {seed} (SESSIOND_TEST_SEED={seed} repeats the kill points)");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    let broker = Broker::start();
    let (calls, members) = unique_topics("kill-points");
    broker.create_topics(&[&calls, &members], 3).await;
    let topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    let names = vec![calls, members];
    let producer = batching_producer(&broker.brokers);
    let events = sim_events(11, 6_000);
    let chunks: Vec<&[wire::SessionEvent]> = events.chunks(750).collect();

    let mut produced = 0;
    let mut checkpoint = None;
    let mut restarts = 0;
    for chunk in chunks {
        produce_batched(&producer, &topics, chunk).await;
        produced += chunk.len() as i64;
        // Read a random part of what is there, checkpoint, read a little more, and die.
        let (read_before, read_after) = (rng.random_range(1..700), rng.random_range(0..50));
        let brokers = broker.brokers.clone();
        let names = names.clone();
        let resume = checkpoint.take().map(through_protobuf);
        checkpoint = Some(
            tokio::task::spawn_blocking(move || {
                let mut replica = driven_source(&brokers, &names, resume);
                let at = |s: &KafkaIngest| s.positions().iter().map(|p| p.next_offset).sum::<i64>();
                let target = (at(&replica) + read_before).min(produced);
                drive(&mut replica, "the kill point", |s| at(s) >= target);
                let checkpoint = replica.checkpoint().expect("a consistent fold");
                let lost = (at(&replica) + read_after).min(produced);
                drive(&mut replica, "the work lost in the kill", |s| at(s) >= lost);
                checkpoint
            })
            .await
            .unwrap(),
        );
        restarts += 1;
    }

    let brokers = broker.brokers.clone();
    let total = produced;
    tokio::task::spawn_blocking(move || {
        let mut restarted = driven_source(&brokers, &names, checkpoint.map(through_protobuf));
        drive_to_end(&mut restarted, total);
        let mut fresh = driven_source(&brokers, &names, None);
        drive_to_end(&mut fresh, total);
        let (got, want) = (agreed(&restarted), agreed(&fresh));
        assert!(want.active > 10, "a stream with active sessions: {want:?}");
        assert!(want.tombstones > 10, "and ended ones: {want:?}");
        assert_eq!(got, want, "seed {seed}, {restarts} restarts");
    })
    .await
    .unwrap();
}

/// `/admin/state` while events stream in: its counts, positions and sessions come from one
/// point of the fold, so they agree with each other in every answer (a session is active
/// exactly when started and neither ended nor evicted; a replica that read from the
/// beginning has read as many records as its positions add up to).
#[tokio::test(flavor = "multi_thread")]
async fn admin_state_is_taken_at_one_point_of_the_fold_while_events_stream_in() {
    let (broker, topics, work) = setup("admin-view").await;
    let brokers = broker.brokers.clone();
    tokio::task::spawn_blocking(move || {
        let (_replica, port) = start_replica(
            &brokers,
            &topics,
            &work.join("snapshots"),
            &work.join("replica.log"),
        );
        wait_until("the replica answers", Duration::from_secs(30), || {
            admin_state(port).is_some()
        });
        let mut simulator = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_sessiond"))
                .args(["simulate", "--brokers", &brokers, "--topics", &topics])
                .args(["--rate", "1500", "--duration", "6s", "--seed", "5"])
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut answers = 0;
        let mut moving = 0;
        let mut last_records = 0;
        while simulator.0.try_wait().unwrap().is_none() {
            let state = admin_state(port).expect("/admin/state answers");
            let counts = &state["counts"];
            let applied = |kind: &str| counts["applied"][kind].as_u64().unwrap_or(0);
            assert_eq!(
                applied("SessionStarted")
                    - applied("SessionEnded")
                    - counts["evictedIdle"].as_u64().unwrap(),
                counts["activeSessions"].as_u64().unwrap(),
                "active sessions and counts from one point: {state}"
            );
            let positions: u64 = state["positions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["offset"].as_u64().unwrap())
                .sum();
            assert_eq!(
                positions,
                counts["records"].as_u64().unwrap(),
                "positions and records from one point: {state}"
            );
            let records = counts["records"].as_u64().unwrap();
            if records > last_records {
                moving += 1;
                last_records = records;
            }
            answers += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            answers >= 20 && moving >= 10,
            "asked while the fold was moving: {answers} answers, {moving} of them further on"
        );
    })
    .await
    .unwrap();
}

/// Events written by a transactional producer: committed ones apply, an aborted one never
/// shows, and the commit and abort markers that end each partition (its end offset is past
/// its last data record) hold readiness neither at the first start nor after a restart from
/// the snapshot taken at shutdown, whose positions are past the markers.
#[tokio::test(flavor = "multi_thread")]
async fn transactions_apply_when_committed_and_their_markers_do_not_hold_readiness() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("transactions");
    broker.create_topics(&[&calls, &members], 1).await;
    let topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    let brokers = broker.brokers.clone();
    let work = common::work_dir("transactions");
    tokio::task::spawn_blocking(move || {
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("transactional.id", format!("sessiond-test-{}", std::process::id()))
            .create()
            .expect("a transactional producer");
        let timeout = Duration::from_secs(30);
        producer.init_transactions(timeout).expect("transactions");
        let transaction = |sessions: &[&str], commit: bool| {
            producer.begin_transaction().unwrap();
            for session in sessions {
                let joined = r#""memberJoined":{"identity":"agent:U-txn","endpointId":"U-txn","role":"MEMBER_ROLE_AGENT","callState":"MEMBER_CALL_STATE_CONNECTED"}"#;
                for line in [
                    common::started(&format!("{session}-s"), session, "2026-11-24T09:00:00Z", "U-txn"),
                    common::line(&format!("{session}-j"), session, "2026-11-24T09:00:01Z", joined),
                ] {
                    let event: wire::SessionEvent = serde_json::from_str(&line).unwrap();
                    let payload = event.encode_to_vec();
                    producer
                        .send(
                            BaseRecord::to(topics.for_event(&event))
                                .key(session.as_bytes())
                                .payload(&payload),
                        )
                        .map_err(|(e, _)| e)
                        .expect("queued");
                }
            }
            // Written to the log either way: an abort then marks them aborted.
            producer.flush(timeout).expect("flushed");
            if commit {
                producer.commit_transaction(timeout).expect("committed");
            } else {
                producer.abort_transaction(timeout).expect("aborted");
            }
        };
        transaction(&["S-txn-1", "S-txn-2"], true);
        transaction(&["S-aborted"], false);
        transaction(&["S-txn-3"], true);
        // Calls: 2 records, a commit marker, 1 aborted record, an abort marker, 1 record, a
        // commit marker.
        let (_, end) = producer
            .client()
            .fetch_watermarks(&calls, 0, timeout)
            .expect("watermarks");
        assert_eq!(end, 7, "the call partition ends with a marker");

        let topics_arg = format!("{calls},{members}");
        let dir = work.join("snapshots");
        let user = common::token_with_roles(SECRET, "U-txn", &["User"]);
        let sessions = |port: u16| -> Vec<String> {
            common::active_session_ids(port, &user).expect("/sessions/active answers 200")
        };
        let ready = |port: u16| common::http_get(port, "/readyz", None).0 == 200;

        let (mut first, port) =
            start_replica(&brokers, &topics_arg, &dir, &work.join("first.log"));
        wait_until("ready past the markers", Duration::from_secs(30), || ready(port));
        assert_eq!(sessions(port), ["S-txn-1", "S-txn-2", "S-txn-3"]);
        let state = admin_state(port).unwrap();
        assert_eq!(state["counts"]["records"], 6, "the aborted records never came: {state}");
        assert_eq!(state["counts"]["applied"]["MemberJoined"], 3, "{state}");
        let positions: Vec<i64> = state["positions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["offset"].as_i64().unwrap())
            .collect();
        assert_eq!(positions, [7, 7], "positions past the markers: {state}");

        // SIGTERM: a last snapshot, at positions past the markers.
        unsafe { libc::kill(first.0.id() as i32, libc::SIGTERM) };
        assert!(first.0.wait().unwrap().success());
        let (_second, port) =
            start_replica(&brokers, &topics_arg, &dir, &work.join("second.log"));
        wait_until(
            "ready again, restored at the markers",
            Duration::from_secs(30),
            || ready(port),
        );
        let state = admin_state(port).unwrap();
        assert!(state["restoredFrom"].is_string(), "{state}");
        assert_eq!(sessions(port), ["S-txn-1", "S-txn-2", "S-txn-3"]);
    })
    .await
    .unwrap();
}

/// The sum of `topics`' end offsets (high watermarks) on `brokers`.
fn end_offsets(brokers: &str, topics: &[&str]) -> i64 {
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let mut sum = 0;
    for topic in topics {
        let metadata = rdkafka::consumer::Consumer::fetch_metadata(
            &consumer,
            Some(topic),
            Duration::from_secs(10),
        )
        .unwrap();
        for partition in metadata.topics()[0].partitions() {
            let (_, high) = rdkafka::consumer::Consumer::fetch_watermarks(
                &consumer,
                topic,
                partition.id(),
                Duration::from_secs(10),
            )
            .unwrap();
            sum += high;
        }
    }
    sum
}

/// Three Apache Kafka nodes, topics of 3 partitions replicated on all three
/// (`min.insync.replicas=2`), a replica reading them (and writing the change feed), and the
/// simulator producing (idempotent, `acks=all`). The leader of a partition is killed with
/// SIGKILL mid-traffic: reads keep answering 200 while it is down, the partitions move to
/// the other nodes, and after it is back and the traffic is over the replica equals a replay
/// from the beginning, every event applied once, the log holds exactly what the simulator
/// produced, and the change feed read as a table equals the projection.
#[tokio::test(flavor = "multi_thread")]
async fn a_leader_killed_while_traffic_flows_loses_nothing() {
    let began = Instant::now();
    let mut cluster = Cluster::start(3);
    let started_in = cluster.started_in;
    let (calls, members) = unique_topics("failover");
    let changes = format!("{calls}.changes");
    cluster.create_topics(&[&calls, &members], 3).await;
    // The feed's own topic, replicated (serve would create it with one replica).
    cluster.create_compacted_topic(&changes, 3).await;
    let topics = format!("{calls},{members}");
    let work = common::work_dir("failover");
    eprintln!(
        "cluster {} started in {started_in:?}, topics ready at {:?}; node RSS {:?} KiB",
        cluster.bootstrap,
        began.elapsed(),
        cluster.rss_kib()
    );

    let (brokers, names) = tokio::task::spawn_blocking(move || {
        let brokers = cluster.bootstrap.clone();
        let port = free_port();
        let _replica = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_sessiond"))
                .args(["serve", "--brokers", &brokers, "--topics", &topics])
                .args(["--changes-topic", &changes, "--stale-after", "2s"])
                .args([
                    "--http",
                    &format!("127.0.0.1:{port}"),
                    "--jwt-secret",
                    SECRET,
                ])
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(work.join("replica.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        wait_until("the replica ready", Duration::from_secs(60), || {
            http_get(port, "/readyz", None).0 == 200
        });

        let (seed, users) = (7, 30);
        let sim_log = work.join("simulate.log");
        let mut simulator = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_sessiond"))
                .args(["simulate", "--brokers", &brokers, "--topics", &topics])
                .args(["--rate", "300", "--duration", "20s"])
                .args(["--users", &users.to_string(), "--seed", &seed.to_string()])
                .args(["--start", "2026-11-24T08:00:00Z"])
                .args(["--kafka-option", "acks=all"])
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&sim_log).unwrap())
                .spawn()
                .unwrap(),
        );
        let user = Simulator::new(SimConfig {
            seed,
            users,
            ..SimConfig::default()
        })
        .users()[0]
            .clone();
        let token = token_with_roles(SECRET, &user, &["User"]);

        wait_until(
            "traffic through the replica",
            Duration::from_secs(30),
            || admin_state(port).is_some_and(|s| applied_total(&s) > 150),
        );
        let victim = cluster.leader(&calls, 0).expect("calls/0 has a leader");
        let applied_at_kill = applied_total(&admin_state(port).unwrap());
        let leaders_before: Vec<_> = [&calls, &members, &changes]
            .iter()
            .map(|t| (t.to_string(), cluster.partitions(t)))
            .collect();
        let killed = Instant::now();
        cluster.kill(victim);
        eprintln!(
            "killed node {victim} (leader of {calls}/0) at {:?}, {applied_at_kill} applied; \
             leaders before: {leaders_before:?}",
            began.elapsed()
        );

        // While it is down: every read answers 200 (stale or not).
        let (mut reads, mut stale_reads, mut not_ready) = (0, 0, 0);
        let mut stale_reasons = std::collections::BTreeSet::new();
        let mut readiness = std::collections::BTreeSet::new();
        let mut new_leader = None;
        while killed.elapsed() < Duration::from_secs(6) {
            let (status, head, body) = http_get_full(port, "/sessions/active", Some(&token));
            assert_eq!(
                status,
                200,
                "a read {:?} after killing node {victim} answered {status}: {head}\n{body}",
                killed.elapsed()
            );
            reads += 1;
            if let Some(reason) = head
                .lines()
                .find_map(|l| l.strip_prefix("x-sessiond-stale:"))
            {
                stale_reads += 1;
                stale_reasons.insert(reason.trim().to_owned());
            }
            let (ready, _, why) = http_get_full(port, "/readyz", None);
            if ready != 200 {
                not_ready += 1;
            }
            readiness.insert(format!("{ready} {}", why.trim()));
            if new_leader.is_none() && reads % 2 == 0 {
                new_leader = cluster
                    .leader(&calls, 0)
                    .filter(|&l| l != victim)
                    .map(|l| (l, killed.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let new_leader = new_leader.unwrap_or_else(|| {
            (
                cluster.wait_for_new_leader(&calls, 0, victim, Duration::from_secs(20)),
                killed.elapsed(),
            )
        });
        let applied_down = applied_total(&admin_state(port).unwrap());
        eprintln!(
            "while node {victim} was down: {reads} reads, all 200, {stale_reads} stale \
             {stale_reasons:?}; /readyz not 200 {not_ready} times, said {readiness:?}; \
             {calls}/0 led by node {} after {:?}; applied {applied_at_kill} -> {applied_down}; \
             leaders now {:?}",
            new_leader.0,
            new_leader.1,
            [&calls, &members, &changes]
                .iter()
                .map(|t| cluster.partitions(t))
                .collect::<Vec<_>>()
        );
        assert!(
            applied_down > applied_at_kill,
            "the traffic went on through the other nodes while node {victim} was down"
        );

        let restarting = Instant::now();
        cluster.restart(victim);
        eprintln!(
            "node {victim} restarted in {:?}; RSS {:?} KiB",
            restarting.elapsed(),
            cluster.rss_kib()
        );

        let status = simulator.0.wait().unwrap();
        let sim_output = std::fs::read_to_string(&sim_log).unwrap();
        assert!(status.success(), "the simulator failed:\n{sim_output}");
        let produced: i64 = sim_output
            .split("produced ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no produced count in:\n{sim_output}"));
        let in_log = end_offsets(&brokers, &[&calls, &members]);
        assert_eq!(
            in_log, produced,
            "the log holds exactly what the simulator produced (none lost, none twice)"
        );

        // The restarted node caught up: every partition in sync on all three again.
        cluster.wait_for_in_sync(&[&calls, &members, &changes], Duration::from_secs(30));

        let (digest, applied, duplicates) = replay(&brokers, &topics);
        let replica_log = work.join("replica.log");
        let mut last = serde_json::Value::Null;
        let deadline = Instant::now() + Duration::from_secs(60);
        while last["digest"].as_str() != Some(digest.as_str()) {
            assert!(
                Instant::now() < deadline,
                "the replica equals the replay ({digest}, {applied} applied) within 60 s: {last}\n\
                 --- replica log ---\n{}",
                std::fs::read_to_string(&replica_log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
            last = admin_state(port).unwrap_or_default();
        }
        assert_eq!(
            applied_total(&last),
            applied,
            "every event applied exactly once: {last}"
        );
        assert_eq!(
            last["counts"]["skipped"]["duplicate"].as_u64().unwrap_or(0),
            duplicates,
            "no record applied twice: {last}"
        );
        assert!(applied > 1_000, "a real stream: {applied} applied");
        eprintln!(
            "{produced} produced, {applied} applied, {duplicates} duplicates skipped; \
             the replica equals the replay ({digest}) at {:?}",
            began.elapsed()
        );

        // The change feed, read as a table, equals the projection of the whole log.
        let names = vec![calls.clone(), members.clone()];
        let mut fresh = driven_source(&brokers, &names, None);
        drive_to_end(&mut fresh, in_log);
        assert_eq!(
            sessiond::digest::digest(fresh.fold().projection()),
            digest,
            "an in-process fold equals the replay"
        );
        let expected: BTreeMap<String, Session> = fresh
            .fold()
            .projection()
            .all()
            .iter()
            .map(|s| (s.id.to_string(), (**s).clone()))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (table, records, tombstones) =
                common::change_feed::change_table(&brokers, &changes);
            if table == expected {
                eprintln!(
                    "the change feed ({records} records, {tombstones} tombstones) equals the \
                     projection ({} sessions) at {:?}",
                    expected.len(),
                    began.elapsed()
                );
                break;
            }
            let missing: Vec<_> = expected
                .keys()
                .filter(|k| !table.contains_key(*k))
                .take(5)
                .collect();
            let extra: Vec<_> = table
                .keys()
                .filter(|k| !expected.contains_key(*k))
                .take(5)
                .collect();
            let differ: Vec<_> = expected
                .iter()
                .filter(|(k, v)| table.get(*k).is_some_and(|t| t != *v))
                .map(|(k, _)| k)
                .take(5)
                .collect();
            assert!(
                Instant::now() < deadline,
                "the change feed as a table equals the projection: {} vs {} sessions; \
                 missing {missing:?}, extra {extra:?}, different {differ:?}",
                table.len(),
                expected.len()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        // What the clients said about the failover, for whoever reads the output.
        for (who, log) in [("replica", &replica_log), ("simulator", &sim_log)] {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let warnings: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            eprintln!("{who}: {} warnings or errors", warnings.len());
            for line in warnings.iter().take(8) {
                eprintln!("  {line}");
            }
        }
        let _ = std::fs::remove_dir_all(&work);
        (brokers, names)
    })
    .await
    .unwrap();
    eprintln!("done in {:?} ({brokers}, {names:?})", began.elapsed());
}
