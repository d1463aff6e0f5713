//! The change feed on a real broker: `serve --changes-topic` produces every change to an
//! active session keyed by session id, as a SessionInfo protobuf, with a tombstone when
//! the session ends; read as a table, the topic equals the projection.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::broker::{Broker, unique_topics};
use common::serve;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sessiond::ingest::event_log;
use sessiond::kafka::produce::{Topics, produce_lines};
use sessiond::projection::{Fold, FoldConfig, Projection, Session};

const DEMO: &str = include_str!("../examples/demo.jsonl");

#[tokio::test(flavor = "multi_thread")]
async fn the_change_feed_read_as_a_table_equals_the_projection() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("feed");
    let changes = format!("{calls}.changes");
    broker.create_topics(&[&calls, &members], 2).await;
    broker.create_topics(&[&changes], 3).await;
    let _service = serve_with_feed(&broker.brokers, &calls, &members, &changes).await;
    produce_lines(
        &broker.settings(),
        &Topics {
            calls: calls.clone(),
            members: members.clone(),
        },
        DEMO.as_bytes(),
    )
    .await
    .unwrap();

    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    event_log::load(DEMO.as_bytes(), "expected", &mut fold).unwrap();
    let expected: BTreeMap<String, Session> = projection
        .all()
        .iter()
        .map(|s| (s.id.to_string(), (**s).clone()))
        .collect();
    assert!(expected.len() > 10);

    let brokers = broker.brokers.clone();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (table, records, tombstones) =
                common::change_feed::change_table(&brokers, &changes);
            if table == expected {
                // Every session of the log started and changed; the ended ones left a
                // tombstone each.
                assert!(records > expected.len() * 5, "{records} records");
                assert!(tombstones >= 20, "{tombstones} tombstones");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the feed as a table equals the projection: {} vs {} sessions",
                table.len(),
                expected.len()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await
    .unwrap();
}

/// The change feed after Kafka's log cleaner really compacted it (segments rolled every
/// 100 ms, the cleaner run on them): fewer records than offsets are left, and read as a
/// table the topic still equals the projection, including a change made after the rest.
#[tokio::test(flavor = "multi_thread")]
async fn the_change_feed_after_real_compaction_still_equals_the_projection() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("compacted");
    let changes = format!("{calls}.changes");
    broker.create_topics(&[&calls, &members], 2).await;
    let admin: rdkafka::admin::AdminClient<_> = broker
        .settings()
        .client_config()
        .create()
        .expect("an admin client");
    let topic =
        rdkafka::admin::NewTopic::new(&changes, 1, rdkafka::admin::TopicReplication::Fixed(1))
            .set("cleanup.policy", "compact")
            .set("segment.ms", "100")
            .set("min.cleanable.dirty.ratio", "0.001")
            .set("min.compaction.lag.ms", "0")
            .set("delete.retention.ms", "100");
    for created in admin
        .create_topics([&topic], &rdkafka::admin::AdminOptions::new())
        .await
        .expect("created")
    {
        created.expect("the change topic");
    }
    let _service = serve_with_feed(&broker.brokers, &calls, &members, &changes).await;
    let kafka_topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    produce_lines(&broker.settings(), &kafka_topics, DEMO.as_bytes())
        .await
        .unwrap();

    // One more change once the demo's are out, so the segment holding them rolls and can
    // be cleaned (the active segment never is).
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    event_log::load(DEMO.as_bytes(), "expected", &mut fold).unwrap();
    let session = projection.all()[0].id.to_string();
    let at = fold.watermark().expect("a watermark").to_api_string();
    let held = common::line(
        "after-compaction",
        &session,
        &at,
        r#""logAppended":{"message":"written after the rest"}"#,
    );
    let brokers = broker.brokers.clone();
    let changes_topic = changes.clone();
    let before: BTreeMap<String, Session> = projection
        .all()
        .iter()
        .map(|s| (s.id.to_string(), (**s).clone()))
        .collect();
    let before_changes = before.clone();
    tokio::task::spawn_blocking(move || {
        wait_for_table(&brokers, &changes_topic, &before_changes, |_, _| true);
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    produce_lines(&broker.settings(), &kafka_topics, held.as_bytes())
        .await
        .unwrap();
    // Folded with the demo as one log: line numbers are positions, so on its own the line
    // would be taken for a redelivery.
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    let whole = format!("{}\n{held}\n", DEMO.trim_end());
    event_log::load(whole.as_bytes(), "expected", &mut fold).unwrap();
    let expected: BTreeMap<String, Session> = projection
        .all()
        .iter()
        .map(|s| (s.id.to_string(), (**s).clone()))
        .collect();
    assert!(
        expected != before,
        "the last change shows in the projection"
    );

    let brokers = broker.brokers.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .unwrap();
        let (_, end) = consumer
            .fetch_watermarks(&changes, 0, Duration::from_secs(10))
            .unwrap();
        // The cleaner runs every 15 s (log.cleaner.backoff.ms) on a segment that rolled.
        wait_for_table(&brokers, &changes, &expected, |records, _| {
            (records as i64) < end
        });
    })
    .await
    .unwrap();
}

/// Reads the topic as a table until it equals `expected` and `also(records, tombstones)`
/// holds, for at most 90 s.
fn wait_for_table(
    brokers: &str,
    topic: &str,
    expected: &BTreeMap<String, Session>,
    also: impl Fn(usize, usize) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (table, records, tombstones) = common::change_feed::change_table(brokers, topic);
        if &table == expected && also(records, tombstones) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the topic as a table ({} sessions, {records} records, {tombstones} tombstones) equals the projection ({} sessions) after compaction",
            table.len(),
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(1000));
    }
}

/// `serve` reading the topics and producing the change feed to `changes`, ready.
async fn serve_with_feed(
    brokers: &str,
    calls: &str,
    members: &str,
    changes: &str,
) -> common::KillOnDrop {
    let args: Vec<String> = [
        "--brokers",
        brokers,
        "--topics",
        &format!("{calls},{members}"),
        "--jwt-secret",
        "x",
        "--changes-topic",
        changes,
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serve(&args, Duration::from_secs(60)).0
    })
    .await
    .unwrap()
}
