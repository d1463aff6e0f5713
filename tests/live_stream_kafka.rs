//! The live stream end to end: the binary reading Apache Kafka, a client on
//! `/sessions/active/stream` over plain HTTP. A snapshot first; an `upsert` for a session
//! produced afterwards, within a second; a `remove` when it ends; the cookie works too.

mod common;

use std::time::{Duration, Instant};

use common::broker::{Broker, unique_topics};
use common::sse::SseStream;
use common::{serve, token_with_roles};
use prost::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sessiond::events::wire;
use sessiond::kafka::produce::producer;

const SECRET: &str = "stream-secret";

async fn send(producer: &FutureProducer, topic: &str, line: &str) {
    let event: wire::SessionEvent = serde_json::from_str(line).unwrap();
    let payload = event.encode_to_vec();
    producer
        .send(
            FutureRecord::to(topic)
                .key(event.session_id.as_bytes())
                .payload(&payload),
            Duration::from_secs(5),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_shows_a_snapshot_then_upserts_and_removes_as_they_are_produced() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("stream");
    broker.create_topics(&[&calls, &members], 2).await;
    let producer = producer(&broker.settings()).unwrap();
    send(
        &producer,
        &calls,
        &common::started("e1", "S-before", "2026-11-24T09:00:00Z", "U-live"),
    )
    .await;
    send(
        &producer,
        &calls,
        &common::started("e2", "S-someone-else", "2026-11-24T09:00:00Z", "U-other"),
    )
    .await;

    let brokers = broker.brokers.clone();
    let topics = format!("{calls},{members}");
    let (service, port) = tokio::task::spawn_blocking(move || {
        serve(
            &[
                "--brokers",
                &brokers,
                "--topics",
                &topics,
                "--jwt-secret",
                SECRET,
            ],
            Duration::from_secs(60),
        )
    })
    .await
    .unwrap();
    let token = token_with_roles(SECRET, "U-live", &["User"]);

    let mut client = SseStream::open(port, &token).await.expect("a stream");
    let snapshot = within_5s(client.next()).await;
    assert_eq!(snapshot.name, "snapshot");
    let ids: Vec<&str> = snapshot.data["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["S-before"]);

    let produced = Instant::now();
    send(
        &producer,
        &calls,
        &common::started("e3", "S-new", "2026-11-24T09:01:00Z", "U-live"),
    )
    .await;
    let upsert = within_5s(client.next()).await;
    let latency = produced.elapsed();
    assert_eq!(upsert.name, "upsert");
    assert_eq!(upsert.data["id"], "S-new");
    assert_eq!(upsert.data["endpointId"], "U-live");
    assert!(latency < Duration::from_secs(1), "upsert after {latency:?}");

    send(
        &producer,
        &calls,
        &common::line(
            "e4",
            "S-new",
            "2026-11-24T09:02:00Z",
            r#""sessionEnded":{}"#,
        ),
    )
    .await;
    let remove = within_5s(client.next()).await;
    let last_id = remove.id.clone();
    assert_eq!(remove.name, "remove");
    assert_eq!(remove.data, serde_json::json!({"id": "S-new"}));
    assert!(
        remove.id > upsert.id || remove.id.len() > upsert.id.len(),
        "ids increase"
    );

    // The cookie a browser's EventSource sends, resuming after the last id: nothing missed.
    send(
        &producer,
        &calls,
        &common::line(
            "e5",
            "S-before",
            "2026-11-24T09:03:00Z",
            r#""sessionHeld":{}"#,
        ),
    )
    .await;
    let cookie = format!("Cookie: ss-tok={token}\r\nLast-Event-ID: {last_id}\r\n");
    let (status, client) = SseStream::connect(port, &cookie).await.expect("a response");
    assert_eq!(status, 200);
    let event = within_5s(client.expect("a stream").next()).await;
    assert_eq!(event.name, "upsert", "{event:?}");
    assert_eq!(event.data["callState"], "Hold");
    let (status, _) = SseStream::connect(port, "").await.expect("a response");
    assert_eq!(status, 401, "no token, no stream");
    drop(service);
}

/// The next event, failing the test after 5 s.
async fn within_5s(
    next: impl std::future::Future<Output = Result<common::sse::SseEvent, String>>,
) -> common::sse::SseEvent {
    tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .expect("an event within 5 s")
        .expect("an event")
}
