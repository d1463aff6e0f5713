//! Durable restarts against tansu: a replica killed with SIGKILL in the middle of a
//! simulated stream restarts from its last snapshot, resumes every partition from the
//! saved positions, and ends up equal to a replay from the beginning, with nothing applied
//! twice. A corrupted newest snapshot is reported and the previous one is used.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::broker::{Broker, free_port, unique_topics};
use common::{KillOnDrop, http_get, run_sessiond, token_with_roles, wait_until};

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
async fn setup(test: &str) -> (Broker, String, PathBuf) {
    let broker = Broker::start();
    let (calls, members) = unique_topics(test);
    broker.create_topics(&[&calls, &members], 2).await;
    let work = std::env::temp_dir().join(format!("sessiond-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    (broker, format!("{calls},{members}"), work)
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
    let (ok, out, err) = run_sessiond(&[
        "replay",
        "--brokers",
        brokers,
        "--topics",
        topics,
        "--digest",
    ]);
    assert!(ok, "{err}");
    let digest = out.lines().last().unwrap().to_owned();
    let applied = err
        .split(" applied")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no applied count in {err}"));
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
        // About 12 s of traffic from 30 agents; one record per batch, because tansu 0.6
        // reports the last batch's base offset + 1 as a partition's end, and replay stops
        // at the end offsets seen at start.
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
                .args(["--kafka-option", "batch.num.messages=1"])
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
        let (ok, _, err) = run_sessiond(&[
            "produce",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.jsonl"),
            "--brokers",
            &brokers,
            "--topics",
            &topics,
            "--kafka-option",
            "batch.num.messages=1",
        ]);
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
        let (ok, _, err) = run_sessiond(&[
            "produce",
            demo,
            "--brokers",
            &brokers,
            "--topics",
            &topics,
            "--kafka-option",
            "batch.num.messages=1",
        ]);
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
