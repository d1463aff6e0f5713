//! Checkpoints kept in Kafka (`--checkpoint-topic`) against Apache Kafka: the topic holds
//! three slots and no more (tombstones for what a smaller checkpoint leaves), a replica
//! skips its turn when another's checkpoint is fresh, a replica with an empty disk starts
//! from the topic's newest checkpoint and equals a fold from the beginning, and torn or
//! corrupt checkpoints are passed over with their reason.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::broker::{Broker, free_port, unique_topics};
use common::{KillOnDrop, http_get, token_with_roles, wait_until};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use sessiond::kafka::KafkaSettings;
use sessiond::snapshot::chunks::{
    self, CHUNK_PARTITION, CheckpointId, MANIFEST_PARTITION, Manifest, chunk_key, manifest_key,
};
use sessiond::snapshot::topic::{CheckpointTopic, TopicWrite};

const SECRET: &str = "checkpoint-topic-secret";

/// A topic's partition read from the beginning as a table: the last value per key,
/// tombstones deleting.
fn table(brokers: &str, topic: &str, partition: i32) -> BTreeMap<String, Vec<u8>> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "checkpoint-topic-test")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let mut table = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(std::time::Instant::now() < deadline, "reading {topic}");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
                match m.payload() {
                    Some(value) => table.insert(key, value.to_vec()),
                    None => table.remove(&key),
                };
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return table,
            _ => {}
        }
    }
}

fn open_topic(settings: &KafkaSettings, topic: &str, writer: &str) -> CheckpointTopic {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(sessiond::kafka::admin::ensure_checkpoint_topic(
            settings, topic,
        ))
        .unwrap();
    let mut last = None;
    for _ in 0..50 {
        match CheckpointTopic::open(settings, topic, writer) {
            Ok(t) => return t,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("checkpoint topic: {last:?}");
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn the_topic_keeps_three_checkpoints_and_a_fresh_one_skips_a_turn() {
    let broker = Broker::start();
    let settings = broker.settings();
    let (topic, _) = unique_topics("checkpoints");
    let brokers = broker.brokers.clone();
    tokio::task::spawn_blocking(move || {
        let mut a = open_topic(&settings, &topic, "replica-a").with_chunk_bytes(100);
        // Four checkpoints of 10 chunks, then one of 3: it goes to the first one's slot.
        let payload = |n: usize, fill: u8| vec![fill; n];
        for fill in 1..=4u8 {
            let written = a.write(&payload(1_000, fill), now_nanos(), None).unwrap();
            assert!(
                matches!(written, TopicWrite::Written { chunks: 10, id, .. } if id.seq == u64::from(fill)),
                "{written:?}"
            );
        }
        let small = a.write(&payload(300, 5), now_nanos(), None).unwrap();
        assert!(matches!(small, TopicWrite::Written { chunks: 3, id, .. } if id.seq == 5 && id.slot() == 2));

        // Compaction keeps a key's last record: three manifests, and exactly their chunks.
        let manifests = table(&brokers, &topic, MANIFEST_PARTITION);
        assert_eq!(
            manifests.keys().collect::<Vec<_>>(),
            ["slot-0", "slot-1", "slot-2"]
        );
        let mut expected = Vec::new();
        for (key, value) in &manifests {
            let m = Manifest::decode(value).unwrap();
            assert_eq!(key, &manifest_key(m.id.slot()));
            expected.extend((0..m.chunks).map(|i| chunk_key(m.id.slot(), i)));
        }
        expected.sort();
        let chunk_keys: Vec<String> = table(&brokers, &topic, CHUNK_PARTITION)
            .into_keys()
            .collect();
        assert_eq!(chunk_keys, expected, "the 7 keys the small one left are tombstoned");
        assert_eq!(chunk_keys.len(), 10 + 10 + 3);

        // Another replica, new to the topic, reads the newest back.
        let mut b = open_topic(&settings, &topic, "replica-b");
        let load = b.load_newest(|bytes| Ok(bytes.to_vec())).unwrap();
        let loaded = load.loaded.unwrap();
        assert_eq!(loaded.value, payload(300, 5));
        assert_eq!(loaded.manifest.writer, "replica-a");
        assert!(load.rejected.is_empty());

        // A's checkpoint is seconds old: B's periodic turn is skipped, its last is not.
        let skipped = b
            .write(&payload(50, 6), now_nanos(), Some(Duration::from_secs(60)))
            .unwrap();
        assert!(
            matches!(&skipped, TopicWrite::Skipped { newest, writer, .. } if newest.seq == 5 && writer == "replica-a"),
            "{skipped:?}"
        );
        let fresh_enough = b
            .write(&payload(50, 6), now_nanos(), Some(Duration::from_millis(1)))
            .unwrap();
        assert!(matches!(fresh_enough, TopicWrite::Written { id, .. } if id.seq == 6));
        // And A sees it before its next write.
        let next = a.write(&payload(50, 7), now_nanos(), None).unwrap();
        assert!(matches!(next, TopicWrite::Written { id, .. } if id.seq == 7));
    })
    .await
    .unwrap();
}

/// Starts `serve --brokers` with a checkpoint topic (and no snapshot directory) and
/// checkpoints every second; its stderr goes to `log`.
fn start_replica(brokers: &str, topics: &str, checkpoints: &str, log: &Path) -> (KillOnDrop, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .args(["serve", "--brokers", brokers, "--topics", topics])
        .args([
            "--checkpoint-topic",
            checkpoints,
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
        // The name its manifests carry: the log's, "first" or "second".
        .env("HOSTNAME", log.file_stem().unwrap())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    (KillOnDrop(child), port)
}

fn admin_state(port: u16) -> Option<serde_json::Value> {
    let token = token_with_roles(SECRET, "ops", &["SystemAdministrator"]);
    let (status, body) = http_get(port, "/admin/state", Some(&token));
    (status == 200).then(|| serde_json::from_str(&body).expect("JSON"))
}

/// `replay --brokers … --digest`: (digest, records, applied).
fn replay(brokers: &str, topics: &str) -> (String, u64, u64) {
    let (digest, err) = common::replay_digest(brokers, topics);
    (
        digest,
        common::number_before(&err, " records:"),
        common::number_before(&err, " applied"),
    )
}

fn applied_total(state: &serde_json::Value) -> u64 {
    state["counts"]["applied"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

/// A broker with fresh call and member topics (2 partitions), the `--topics` value, a
/// checkpoint topic name and a work directory; and `sessiond simulate` producing about
/// 12 s of traffic from 30 agents.
async fn setup(test: &str) -> (Broker, String, String, common::WorkDir, KillOnDrop) {
    let broker = Broker::start();
    let (calls, members) = unique_topics(test);
    broker.create_topics(&[&calls, &members], 2).await;
    let topics = format!("{calls},{members}");
    let work = common::work_dir(test);
    let simulator = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_sessiond"))
            .args([
                "simulate",
                "--brokers",
                &broker.brokers,
                "--topics",
                &topics,
            ])
            .args(["--rate", "250", "--duration", "12s", "--users", "30"])
            .args(["--seed", "11", "--start", "2026-11-24T08:00:00Z"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    (
        broker,
        topics,
        format!("{calls}.checkpoints"),
        work,
        simulator,
    )
}

/// Waits until the replica on `port` equals the replay of the topics, then checks it
/// applied every event exactly once.
fn assert_equals_replay(port: u16, brokers: &str, topics: &str) -> serde_json::Value {
    let (digest, records, applied) = replay(brokers, topics);
    wait_until(
        "the restored replica equals the replay",
        Duration::from_secs(60),
        || admin_state(port).is_some_and(|s| s["digest"] == digest.as_str()),
    );
    let state = admin_state(port).unwrap();
    assert_eq!(applied_total(&state), applied, "each event once: {state}");
    assert!(
        state["counts"]["records"].as_u64().unwrap() < records,
        "it read only what came after its checkpoint, not all {records} records: {state}"
    );
    assert!(state["counts"]["activeSessions"].as_u64().unwrap() > 10);
    state
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_disk_replica_starts_from_the_topic_and_equals_a_full_fold() {
    let (broker, topics, checkpoints, work, mut simulator) = setup("ckpt-restore").await;
    let brokers = broker.brokers.clone();
    tokio::task::spawn_blocking(move || {
        let (mut first, port) =
            start_replica(&brokers, &topics, &checkpoints, &work.join("first.log"));
        wait_until(
            "a checkpoint with sessions in the topic",
            Duration::from_secs(60),
            || {
                admin_state(port).is_some_and(|s| {
                    s["counts"]["activeSessions"].as_u64().unwrap_or(0) > 10
                        && s["lastTopicCheckpoint"]
                            .as_str()
                            .is_some_and(|t| t.contains("written"))
                })
            },
        );
        std::thread::sleep(Duration::from_millis(1500));
        first.0.kill().unwrap(); // SIGKILL: no checkpoint at shutdown
        first.0.wait().unwrap();

        // A new replica with nothing on disk, while the traffic goes on.
        let log = work.join("second.log");
        let (_second, port) = start_replica(&brokers, &topics, &checkpoints, &log);
        wait_until("the new replica restored", Duration::from_secs(30), || {
            admin_state(port).is_some_and(|s| s["restoredFrom"].is_string())
        });
        let state = admin_state(port).unwrap();
        let from = state["restoredFrom"].as_str().expect("restored");
        assert!(
            from.starts_with(&format!("checkpoint topic {checkpoints}: checkpoint ")),
            "{state}"
        );
        assert!(from.contains(" written by first "), "{from}");
        assert!(simulator.0.wait().unwrap().success(), "the simulator ran");
        assert_equals_replay(port, &brokers, &topics);
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(log.contains("restored from the checkpoint topic"), "{log}");
    })
    .await
    .unwrap();
}

/// Produces `payload` as checkpoint `id` in its slot, cut into `chunk_bytes` chunks, with
/// `damage` applied to the chunk records first; the manifest is for the undamaged bytes.
async fn inject(
    brokers: &str,
    topic: &str,
    id: CheckpointId,
    payload: &[u8],
    chunk_bytes: usize,
    damage: impl FnOnce(&mut Vec<Vec<u8>>),
) {
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let mut values = chunks::split(id, payload, chunk_bytes);
    let count = values.len() as u32;
    damage(&mut values);
    let mut offsets = Vec::new();
    for (index, value) in values.iter().enumerate() {
        let key = chunk_key(id.slot(), index as u32);
        let offset = producer
            .send(
                FutureRecord::to(topic)
                    .partition(CHUNK_PARTITION)
                    .key(&key)
                    .payload(value),
                Duration::from_secs(10),
            )
            .await
            .unwrap()
            .offset;
        offsets.push(offset);
    }
    let manifest = Manifest {
        id,
        chunks: count,
        len: payload.len() as u64,
        crc: crc32fast::hash(payload),
        taken_at: now_nanos(),
        first_offset: offsets[0],
        last_offset: *offsets.last().unwrap(),
        writer: "injected".into(),
    };
    producer
        .send(
            FutureRecord::to(topic)
                .partition(MANIFEST_PARTITION)
                .key(&manifest_key(id.slot()))
                .payload(&manifest.encode()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn torn_and_corrupt_checkpoints_are_passed_over_with_their_reason() {
    let (broker, topics, checkpoints, work, mut simulator) = setup("ckpt-corrupt").await;
    let brokers = broker.brokers.clone();
    let (first_log, topics_, checkpoints_, brokers_) = (
        work.join("first.log"),
        topics.clone(),
        checkpoints.clone(),
        brokers.clone(),
    );
    // A replica writes checkpoints until the traffic ends, then stops gracefully.
    let newest = tokio::task::spawn_blocking(move || {
        let (first, port) = start_replica(&brokers_, &topics_, &checkpoints_, &first_log);
        assert!(simulator.0.wait().unwrap().success(), "the simulator ran");
        wait_until("a checkpoint written", Duration::from_secs(60), || {
            admin_state(port).is_some_and(|s| {
                s["lastTopicCheckpoint"]
                    .as_str()
                    .is_some_and(|t| t.contains("written"))
            })
        });
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
        let mut topic = open_topic(
            &KafkaSettings {
                brokers: brokers_.clone(),
                options: vec![],
            },
            &checkpoints_,
            "test",
        );
        let load = topic.load_newest(|bytes| Ok(bytes.to_vec())).unwrap();
        let loaded = load.loaded.expect("a checkpoint in the topic");
        (loaded.manifest.id, loaded.value)
    })
    .await
    .unwrap();
    let (id, payload) = newest;

    // Newer than it: a checkpoint with a flipped byte in a chunk, and a torn one whose
    // last chunks never came (a writer killed mid-write).
    let corrupt = CheckpointId {
        seq: id.seq + 1,
        nonce: 1,
    };
    inject(&brokers, &checkpoints, corrupt, &payload, 4_096, |values| {
        let at = values[1].len() - 10;
        values[1][at] ^= 0x5a;
    })
    .await;
    let torn = CheckpointId {
        seq: id.seq + 2,
        nonce: 2,
    };
    inject(&brokers, &checkpoints, torn, &payload, 4_096, |values| {
        values.truncate(values.len() / 2);
    })
    .await;
    assert!(
        payload.len() > 3 * 4_096,
        "several chunks: {}",
        payload.len()
    );

    tokio::task::spawn_blocking(move || {
        let log = work.join("second.log");
        let (_second, port) = start_replica(&brokers, &topics, &checkpoints, &log);
        wait_until(
            "ready after passing over two",
            Duration::from_secs(60),
            || http_get(port, "/readyz", None).0 == 200,
        );
        let state = admin_state(port).unwrap();
        let from = state["restoredFrom"].as_str().expect("restored");
        assert!(
            from.contains(&format!("checkpoint {id} written by first ")),
            "{state}"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let torn_line = text
            .lines()
            .find(|l| {
                l.contains("checkpoint in the topic unusable") && l.contains(&torn.to_string())
            })
            .unwrap_or_else(|| panic!("the torn one is reported: {text}"));
        assert!(torn_line.contains("is torn: chunk"), "{torn_line}");
        let corrupt_line = text
            .lines()
            .find(|l| {
                l.contains("checkpoint in the topic unusable") && l.contains(&corrupt.to_string())
            })
            .unwrap_or_else(|| panic!("the corrupt one is reported: {text}"));
        assert!(corrupt_line.contains("checksum mismatch"), "{corrupt_line}");
        assert_equals_replay_after_end(port, &brokers, &topics);
    })
    .await
    .unwrap();
}

/// As [`assert_equals_replay`], for a replica restored after the traffic ended: it read
/// nothing but what it reread to check its positions.
fn assert_equals_replay_after_end(port: u16, brokers: &str, topics: &str) {
    let (digest, _, applied) = replay(brokers, topics);
    wait_until("equal to the replay", Duration::from_secs(60), || {
        admin_state(port).is_some_and(|s| s["digest"] == digest.as_str())
    });
    let state = admin_state(port).unwrap();
    assert_eq!(applied_total(&state), applied, "each event once: {state}");
}
