//! The live stream end to end: the binary reading tansu, a client on
//! `/sessions/active/stream` over plain HTTP. A snapshot first; an `upsert` for a session
//! produced afterwards, within a second; a `remove` when it ends; the cookie works too.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::broker::{Broker, unique_topics};
use common::{serve, token_with_roles};
use prost::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sessiond::events::wire;
use sessiond::kafka::produce::producer;

const SECRET: &str = "stream-secret";

/// An SSE event as read off the wire.
#[derive(Debug)]
struct SseEvent {
    name: String,
    id: String,
    data: serde_json::Value,
}

struct SseClient {
    reader: BufReader<TcpStream>,
}

impl SseClient {
    fn connect(port: u16, auth: &str, last_event_id: Option<&str>) -> (u16, Self) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET /sessions/active/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{auth}{resume}\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header == "\r\n" {
                break;
            }
        }
        (status, Self { reader })
    }

    /// The next event, skipping comments (heartbeats) and chunk-size lines.
    fn next(&mut self) -> SseEvent {
        let (mut name, mut id, mut data) = (String::new(), String::new(), String::new());
        loop {
            let mut line = String::new();
            self.reader
                .read_line(&mut line)
                .expect("an event within the read timeout");
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(v) = line.strip_prefix("event: ") {
                name = v.to_owned();
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            } else if line.is_empty() && !name.is_empty() {
                return SseEvent {
                    name,
                    id,
                    data: serde_json::from_str(&data).expect("JSON data"),
                };
            }
        }
    }
}

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

    let auth = format!("Authorization: Bearer {token}\r\n");
    let mut client = tokio::task::spawn_blocking(move || {
        let (status, mut client) = SseClient::connect(port, &auth, None);
        assert_eq!(status, 200);
        let snapshot = client.next();
        assert_eq!(snapshot.name, "snapshot");
        let ids: Vec<&str> = snapshot.data["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["S-before"]);
        client
    })
    .await
    .unwrap();

    let produced = Instant::now();
    send(
        &producer,
        &calls,
        &common::started("e3", "S-new", "2026-11-24T09:01:00Z", "U-live"),
    )
    .await;
    let (upsert, client_back) = tokio::task::spawn_blocking(move || {
        let event = client.next();
        (event, client)
    })
    .await
    .unwrap();
    client = client_back;
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
    let (remove, last_id) = tokio::task::spawn_blocking(move || {
        let event = client.next();
        let id = event.id.clone();
        (event, id)
    })
    .await
    .unwrap();
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
    let cookie = format!("Cookie: ss-tok={token}\r\n");
    tokio::task::spawn_blocking(move || {
        let (status, mut client) = SseClient::connect(port, &cookie, Some(&last_id));
        assert_eq!(status, 200);
        let event = client.next();
        assert_eq!(event.name, "upsert", "{event:?}");
        assert_eq!(event.data["callState"], "Hold");
        let (status, _) = SseClient::connect(port, "", None);
        assert_eq!(status, 401, "no token, no stream");
    })
    .await
    .unwrap();
    drop(service);
}
