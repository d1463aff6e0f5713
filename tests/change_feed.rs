//! The change feed on a real broker: `serve --changes-topic` produces every change to an
//! active session keyed by session id, as a SessionInfo protobuf, with a tombstone when
//! the session ends; read as a table, the topic equals the projection.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::broker::{Broker, unique_topics};
use common::serve;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use sessiond::codec::session_from_wire;
use sessiond::events::wire;
use sessiond::ingest::event_log;
use sessiond::kafka::produce::{Topics, produce_lines};
use sessiond::projection::{Fold, FoldConfig, Projection, Session};

const DEMO: &str = include_str!("../examples/demo.jsonl");

/// The topic read from the beginning as a table: the last value per key, tombstones
/// deleting; and how many records and tombstones it had.
fn read_table(brokers: &str, topic: &str) -> (BTreeMap<String, Session>, usize, usize) {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "change-feed-test")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    if partitions == 0 {
        return (BTreeMap::new(), 0, 0);
    }
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let (mut table, mut records, mut tombstones) = (BTreeMap::new(), 0, 0);
    let mut ended = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while ended < partitions && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                records += 1;
                let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
                match message.payload() {
                    None => {
                        tombstones += 1;
                        table.remove(&key);
                    }
                    Some(bytes) => {
                        let info = wire::SessionInfo::decode(bytes).expect("a SessionInfo");
                        let session = session_from_wire(info).expect("a whole session");
                        assert_eq!(&*session.id, key, "keyed by session id");
                        table.insert(key, session);
                    }
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            _ => {}
        }
    }
    (table, records, tombstones)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_change_feed_read_as_a_table_equals_the_projection() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("feed");
    let changes = format!("{calls}.changes");
    broker.create_topics(&[&calls, &members], 2).await;
    broker.create_topics(&[&changes], 3).await;
    let topics = format!("{calls},{members}");
    let brokers = broker.brokers.clone();
    let changes_arg = changes.clone();
    let (_service, _port) = tokio::task::spawn_blocking(move || {
        serve(
            &[
                "--brokers",
                &brokers,
                "--topics",
                &topics,
                "--jwt-secret",
                "x",
                "--changes-topic",
                &changes_arg,
            ],
            Duration::from_secs(60),
        )
    })
    .await
    .unwrap();
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
            let (table, records, tombstones) = read_table(&brokers, &changes);
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
