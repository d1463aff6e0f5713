//! The Kafka source against a real broker (Apache Kafka, or `KAFKA_BROKERS`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::broker::{Broker, unique_topics};
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sessiond::events::wire;
use sessiond::ingest::event_log;
use sessiond::ingest::kafka::consumer::{IngestConfig, spawn};
use sessiond::ingest::kafka::dump::{DumpRange, dump};
use sessiond::kafka::KafkaSettings;
use sessiond::kafka::produce::{Topics, produce_lines};
use sessiond::projection::{Fold, FoldConfig, Projection, Session, SkipReason};
use sessiond::readiness::Readiness;
use sessiond::record::RecordCounts;
use tokio_util::sync::CancellationToken;

const DEMO: &str = include_str!("../examples/demo.jsonl");

/// The projection the event-log source makes of `log`: what Kafka must match.
fn folded_from_file(log: &str) -> Vec<Session> {
    let mut fold = Fold::new(FoldConfig::default(), Arc::new(Projection::new()));
    event_log::load(log.as_bytes(), "expected", &mut fold).unwrap();
    fold.projection()
        .all()
        .iter()
        .map(|s| (**s).clone())
        .collect()
}

struct Running {
    projection: Arc<Projection>,
    readiness: Arc<Readiness>,
    stop: CancellationToken,
    handle: std::thread::JoinHandle<(Fold, RecordCounts)>,
}

impl Running {
    fn start(settings: KafkaSettings, topics: &Topics, dlq: bool) -> Self {
        sessiond::telemetry::install();
        let projection = Arc::new(Projection::new());
        let readiness = Arc::new(Readiness::default());
        let stop = CancellationToken::new();
        let config = IngestConfig {
            kafka: settings,
            topics: vec![topics.calls.clone(), topics.members.clone()],
            dead_letter_suffix: dlq.then(|| ".dlq".to_owned()),
            max_lag: 10_000,
            stale_after: Duration::from_secs(2),
            metadata_refresh: Duration::from_secs(1),
        };
        let fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
        let handle = spawn(
            config,
            fold,
            Arc::clone(&readiness),
            Arc::default(),
            stop.clone(),
        )
        .unwrap();
        Self {
            projection,
            readiness,
            stop,
            handle,
        }
    }

    /// Waits for readiness, then for the projection to equal `expected`. tansu 0.6.0
    /// reports a partition's end as its last record *batch* + 1, so readiness can come a
    /// few records before the real end; against Kafka the two waits end together.
    fn wait_ready_with(&self, expected: &[Session]) {
        wait_until(Duration::from_secs(60), "ready", || {
            self.readiness.is_ready()
        });
        wait_until(
            Duration::from_secs(10),
            "equal to the event log's projection",
            || sessions(&self.projection) == expected,
        );
    }

    fn finish(self) -> (Fold, RecordCounts) {
        self.stop.cancel();
        self.handle
            .join()
            .expect("the ingest thread does not panic")
    }
}

fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "not {what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sum of the published positions (next offset to read) of these topics' partitions.
fn read_positions(topics: &[&str]) -> u64 {
    sessiond::telemetry::render()
        .lines()
        .filter(|l| l.starts_with("sessiond_partition_position{"))
        .filter(|l| topics.iter().any(|t| l.contains(&format!("topic=\"{t}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn sessions(projection: &Projection) -> Vec<Session> {
    projection.all().iter().map(|s| (**s).clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_through_kafka_equals_the_event_log() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("demo");
    broker.create_topics(&[&calls, &members], 3).await;
    let topics = Topics { calls, members };
    let report = produce_lines(&broker.settings(), &topics, DEMO.as_bytes())
        .await
        .unwrap();
    assert_eq!(report.produced, DEMO.lines().count() as u64);

    let running = Running::start(broker.settings(), &topics, true);
    let expected = folded_from_file(DEMO);
    assert!(!expected.is_empty());
    running.wait_ready_with(&expected);
    for session in &expected {
        for user in session.owners() {
            let from_kafka: Vec<_> = running
                .projection
                .sessions_for_user(user)
                .iter()
                .map(|s| s.id.clone())
                .collect();
            assert!(
                from_kafka.contains(&session.id),
                "{user} sees {}",
                session.id
            );
        }
    }
    // Each partition's position, end and lag are published (a tick after catching up).
    std::thread::sleep(Duration::from_millis(600));
    let metrics = sessiond::telemetry::render();
    for topic in [&topics.calls, &topics.members] {
        for partition in 0..3 {
            let lag =
                format!("sessiond_partition_lag{{topic=\"{topic}\",partition=\"{partition}\"}} 0");
            assert!(metrics.contains(&lag), "missing {lag}\n{metrics}");
        }
    }
    assert_eq!(
        read_positions(&[&topics.calls, &topics.members]),
        report.produced,
        "positions add up to the records produced"
    );
    let (fold, stats) = running.finish();
    assert_eq!(stats.records, report.produced);
    assert!(stats.bad.is_empty(), "{stats:?}");
    // Whether the demo's late memberLeft counts as late depends on how the topics
    // interleaved; nothing is ever a duplicate on a first read.
    assert_eq!(fold.stats().skipped.get(&SkipReason::Duplicate), None);
}

/// A record as sent: topic, key, value.
type RawRecord = (String, Option<Vec<u8>>, Option<Vec<u8>>);

/// Garbage of every kind the source must survive: not protobuf, a key that is not the
/// session id, no session id, no timestamp, an unknown kind, an empty value.
fn garbage(i: usize) -> (Option<Vec<u8>>, Option<Vec<u8>>, &'static str) {
    let valid = |session: &str| wire::SessionEvent {
        session_id: session.into(),
        occurred_at: Some(pbjson_types::Timestamp {
            seconds: 1_795_000_000,
            nanos: 0,
        }),
        body: Some(wire::session_event::Body::SessionResumed(
            wire::SessionResumed {},
        )),
        ..Default::default()
    };
    match i % 6 {
        0 => (
            Some(b"junk".to_vec()),
            Some(vec![0xff, 0x00, 0x13, 0x37, (i % 251) as u8]),
            "undecodable",
        ),
        1 => (
            Some(b"S-other".to_vec()),
            Some(valid("S-garbage").encode_to_vec()),
            "key_mismatch",
        ),
        2 => (
            Some(b"".to_vec()),
            Some(valid("").encode_to_vec()),
            "missing_session_id",
        ),
        3 => {
            let mut e = valid("S-g3");
            e.occurred_at = None;
            (
                Some(b"S-g3".to_vec()),
                Some(e.encode_to_vec()),
                "missing_timestamp",
            )
        }
        4 => {
            // Field 60: a kind from a newer producer.
            let mut bytes = wire::SessionEvent {
                session_id: "S-g4".into(),
                ..Default::default()
            }
            .encode_to_vec();
            bytes.extend_from_slice(&[0xE2, 0x03, 0x00]);
            (Some(b"S-g4".to_vec()), Some(bytes), "unknown_kind")
        }
        _ => (Some(b"S-g5".to_vec()), None, "missing_session_id"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_is_dead_lettered_and_every_good_event_applied() {
    const GARBAGE_PER_TOPIC: usize = 2_000;
    let broker = Broker::start();
    let (calls, members) = unique_topics("garbage");
    broker.create_topics(&[&calls, &members], 2).await;
    let topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    let producer: FutureProducer = broker.settings().client_config().create().unwrap();

    // Good events with garbage between them, on both topics.
    let lines: Vec<&str> = DEMO.lines().collect();
    let rounds = GARBAGE_PER_TOPIC / 4;
    let mut records: Vec<RawRecord> = Vec::new();
    let mut expected_bad = std::collections::BTreeMap::<&str, u64>::new();
    let mut sent_garbage = 0;
    for n in 0..rounds {
        for line in &lines[n * lines.len() / rounds..(n + 1) * lines.len() / rounds] {
            let event: wire::SessionEvent = serde_json::from_str(line).unwrap();
            let topic = topics.for_event(&event).to_owned();
            records.push((
                topic,
                Some(event.session_id.clone().into_bytes()),
                Some(event.encode_to_vec()),
            ));
        }
        for topic in [&calls, &members] {
            for k in 0..4 {
                let (key, value, reason) = garbage(n * 4 + k);
                records.push((topic.clone(), key, value));
                *expected_bad.entry(reason).or_default() += 1;
                sent_garbage += 1;
            }
        }
    }
    let mut deliveries = Vec::new();
    for (topic, key, value) in &records {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    assert_eq!(sent_garbage, 2 * GARBAGE_PER_TOPIC);

    let running = Running::start(broker.settings(), &topics, true);
    // Every good event applied.
    running.wait_ready_with(&folded_from_file(DEMO));
    // The garbage after the last good record, too.
    let records = (lines.len() + 2 * GARBAGE_PER_TOPIC) as u64;
    wait_until(Duration::from_secs(10), "every record read", || {
        read_positions(&[&calls, &members]) == records
    });
    let (_, stats) = running.finish();
    assert_eq!(stats.records, records);

    let unknown = expected_bad.remove("unknown_kind").unwrap_or_default();
    assert_eq!(stats.unknown_kinds, unknown);
    assert_eq!(
        stats
            .bad
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect::<std::collections::BTreeMap<_, _>>(),
        expected_bad
    );
    let dead = expected_bad.values().sum::<u64>();
    assert_eq!(stats.dead_lettered, dead);

    // Every bad record is in its topic's dead-letter topic, with its origin and reason.
    let consumer: BaseConsumer = broker
        .settings()
        .client_config()
        .set("group.id", "t")
        .create()
        .unwrap();
    let mut list = rdkafka::TopicPartitionList::new();
    for topic in [&calls, &members] {
        list.add_partition_offset(&format!("{topic}.dlq"), 0, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut seen = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen < dead && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let headers = m.headers().expect("dead letters carry headers");
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            };
            let source = header("sessiond-source-topic").expect("source topic header");
            assert_eq!(format!("{source}.dlq"), m.topic());
            assert!(
                header("sessiond-source-offset").is_some()
                    && header("sessiond-source-partition").is_some()
            );
            assert!(
                header("sessiond-reason").is_some_and(|r| expected_bad.contains_key(r.as_str()))
            );
            seen += 1;
        }
    }
    assert_eq!(seen, dead, "dead letters delivered");
}

#[tokio::test(flavor = "multi_thread")]
async fn dump_gives_back_a_log_that_replays_to_the_same_projection() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("dump");
    broker.create_topics(&[&calls, &members], 3).await;
    let topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    produce_lines(&broker.settings(), &topics, DEMO.as_bytes())
        .await
        .unwrap();

    let settings = broker.settings();
    let names = vec![calls, members];
    let (report, dumped) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let range = DumpRange {
            from_millis: None,
            until_millis: None,
        };
        let report = dump(&settings, &names, &range, &mut out).unwrap();
        (report, String::from_utf8(out).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(report.written as usize, DEMO.lines().count());
    assert_eq!(report.undecodable, 0);
    assert_eq!(folded_from_file(&dumped), folded_from_file(DEMO));

    // --until before anything was produced: nothing.
    let settings = broker.settings();
    let names = vec![topics.calls.clone(), topics.members.clone()];
    let empty = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let range = DumpRange {
            from_millis: None,
            until_millis: Some(0),
        };
        dump(&settings, &names, &range, &mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(empty.is_empty(), "{}", String::from_utf8_lossy(&empty));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_comes_up_after_sessiond_is_waited_for() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("sessiond=info")
        .with_test_writer()
        .try_init();
    let port = common::broker::free_port();
    let settings = KafkaSettings {
        brokers: format!("127.0.0.1:{port}"),
        options: Vec::new(),
    };
    let (calls, members) = unique_topics("late-broker");
    let topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    let running = Running::start(settings, &topics, true);
    std::thread::sleep(Duration::from_secs(2));
    let waiting = running
        .readiness
        .not_ready_reason()
        .expect("not ready without a broker");
    assert!(waiting.starts_with("loading"), "{waiting}");

    let broker = Broker::start_on(port);
    broker.create_topics(&[&calls, &members], 2).await;
    produce_lines(&broker.settings(), &topics, DEMO.as_bytes())
        .await
        .unwrap();
    // It may have caught up with empty topics before the records came: wait for them too.
    let expected = folded_from_file(DEMO);
    wait_until(
        Duration::from_secs(60),
        "caught up with the late broker",
        || running.readiness.is_ready() && sessions(&running.projection) == expected,
    );
    let (_, stats) = running.finish();
    assert_eq!(stats.records, DEMO.lines().count() as u64);
}

/// Retention (here DeleteRecords) removed a partition's first records before sessiond
/// read them: it says so at start, naming the partition and where it now begins, and folds
/// what is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_partition_whose_first_records_were_deleted_is_reported_at_start() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("retention");
    broker.create_topics(&[&calls, &members], 1).await;
    let producer = sessiond::kafka::produce::producer(&broker.settings()).unwrap();
    let topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    for n in 0..5 {
        let line = common::started(
            &format!("E-{n}"),
            &format!("S-{n}"),
            "2026-11-24T09:00:00Z",
            "U-1",
        );
        let event: wire::SessionEvent = serde_json::from_str(&line).unwrap();
        sessiond::kafka::produce::send_event(&producer, &topics, &event)
            .await
            .unwrap();
    }
    let admin: rdkafka::admin::AdminClient<_> = broker
        .settings()
        .client_config()
        .create()
        .expect("an admin client");
    let mut before = rdkafka::TopicPartitionList::new();
    before
        .add_partition_offset(&calls, 0, rdkafka::Offset::Offset(3))
        .unwrap();
    admin
        .delete_records(&before, &rdkafka::admin::AdminOptions::new())
        .await
        .expect("records deleted");

    let work = common::work_dir("retention");
    let log = work.join("sessiond.log");
    let port = common::broker::free_port();
    let mut child = common::KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_sessiond"))
            .args(["serve", "--brokers", &broker.brokers])
            .args(["--topics", &format!("{calls},{members}")])
            .args(["--jwt-secret", "s", "--http", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let token = common::token_with_roles("s", "U-1", &["User"]);
    let ids = || common::active_session_ids(port, &token).unwrap_or_default();
    wait_until(Duration::from_secs(30), "the remaining sessions", || {
        ids() == ["S-3", "S-4"]
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let warning = text
        .lines()
        .find(|l| l.contains("first records were deleted"))
        .unwrap_or_else(|| panic!("no warning in the log:\n{text}"));
    assert!(
        warning.contains(&calls) && warning.contains("first_offset=3"),
        "{warning}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.contains("first records were deleted") && l.contains(&members)),
        "the untouched partition is not reported"
    );
    let _ = child.0.kill();
}
