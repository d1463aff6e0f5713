//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod broker;
pub mod nginx;
pub mod sse;

use std::sync::Arc;

use sessiond::events::Event;
use sessiond::events::decode::{Decoded, decode_json};
use sessiond::projection::{Fold, FoldConfig, Outcome, Position, Projection};

/// Parses one event-log line, panicking with the reason if it is not a valid event.
pub fn event(line: &str) -> Event {
    match decode_json(line) {
        Decoded::Event(e) => e,
        other => panic!("not a valid event: {other:?}\n{line}"),
    }
}

/// Every user who sees a session of `projection`, sorted, without repeats.
pub fn owners(projection: &Projection) -> Vec<String> {
    let owners: std::collections::BTreeSet<String> = projection
        .all()
        .iter()
        .flat_map(|s| {
            s.owners()
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    owners.into_iter().collect()
}

/// A fold over a fresh projection.
pub fn fold() -> Fold {
    Fold::new(FoldConfig::default(), Arc::new(Projection::new()))
}

/// Feeds lines to the fold as one stream, line numbers as offsets.
pub struct Feeder {
    pub fold: Fold,
    next: i64,
}

impl Feeder {
    pub fn new(fold: Fold) -> Self {
        Self { fold, next: 1 }
    }

    pub fn feed(&mut self, line: &str) -> Outcome {
        let position = Position {
            stream: 0,
            offset: self.next,
        };
        self.next += 1;
        self.fold.apply(event(line), position)
    }

    pub fn projection(&self) -> &Projection {
        self.fold.projection()
    }
}

/// A `SessionStarted` line for `session` owned by `endpoint` at `time` (RFC 3339).
pub fn started(id: &str, session: &str, time: &str, endpoint: &str) -> String {
    format!(
        r#"{{"eventId":"{id}","sessionId":"{session}","occurredAt":"{time}","accountId":"A-1","actorId":"{endpoint}","sessionStarted":{{"accountName":"Acme","endpointId":"{endpoint}","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","fromAddress":"+15550100"}}}}"#
    )
}

/// Any event line: `body` is the kind's key and object, e.g. `"sessionResumed":{}`.
pub fn line(id: &str, session: &str, time: &str, body: &str) -> String {
    format!(r#"{{"eventId":"{id}","sessionId":"{session}","occurredAt":"{time}",{body}}}"#)
}

/// `--kafka-option` arguments for a producer whose records a test later reads up to the
/// end offsets seen at start (replay): none against Apache Kafka; one record per batch
/// against tansu 0.6 (`SESSIOND_TEST_BROKER=tansu`), whose high watermark is its last
/// batch's base offset + 1, so a replay would stop short of a batched end.
pub fn tansu_producer_options() -> Vec<&'static str> {
    if std::env::var("SESSIOND_TEST_BROKER").as_deref() == Ok("tansu") {
        vec!["--kafka-option", "batch.num.messages=1"]
    } else {
        Vec::new()
    }
}

/// Kills and reaps a child process on drop, so a failing test leaves no server behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET to 127.0.0.1; returns (status, body). The response headers are
/// in [`http_get_full`].
pub fn http_get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let (status, _, body) = http_get_full(port, path, token);
    (status, body)
}

/// A plain HTTP/1.0 GET on 127.0.0.1: the status and the body, or why there is none (for
/// polling a process that may not be listening yet).
pub fn try_http_get(port: u16, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, body))
}

/// A plain HTTP/1.1 GET to 127.0.0.1; returns (status, lower-cased header block, body),
/// with status 0 when nothing listens on the port.
pub fn http_get_full(port: u16, path: &str, token: Option<&str>) -> (u16, String, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new(), String::new());
    };
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

pub mod http {
    //! Driving the API router in process.

    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, Response};
    use http_body_util::BodyExt;
    use sessiond::api::auth::{AuthSettings, Authenticator};
    use sessiond::api::{AppState, Readiness, router};
    use sessiond::projection::Projection;
    use tower::ServiceExt;

    pub const SECRET: &str = "test-secret";

    /// A router over `projection`, verifying HS256 tokens signed with [`SECRET`].
    pub fn app(projection: Arc<Projection>) -> axum::Router {
        app_with(
            projection,
            AuthSettings {
                secrets: vec![SECRET.into()],
                ..Default::default()
            },
        )
    }

    /// A router over `projection` with the given token settings.
    pub fn app_with(projection: Arc<Projection>, settings: AuthSettings) -> axum::Router {
        let readiness = Arc::new(Readiness::default());
        readiness.set_ready();
        router(AppState {
            projection: Arc::clone(&projection),
            auth: Arc::new(Authenticator::new(&settings).expect("auth settings")),
            readiness,
            status: Arc::default(),
            history_depth: 0,
            hub: Arc::new(sessiond::live::ChangeHub::new(Arc::clone(&projection))),
            limits: Arc::default(),
            shutdown: Default::default(),
        })
    }

    /// Sends one request; returns the response and its body as a string.
    pub async fn send(app: &axum::Router, request: Request<Body>) -> (Response<Body>, String) {
        let response = app.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (
            Response::from_parts(parts, Body::empty()),
            String::from_utf8(bytes.to_vec()).expect("utf-8"),
        )
    }
}

/// Polls `ok` every 100 ms until it holds, failing the test after `limit`.
pub fn wait_until(what: &str, limit: std::time::Duration, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} within {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// An HS256 token for `user` with `roles`, valid for an hour (long enough for a benchmark).
pub fn token_with_roles(secret: &str, user: &str, roles: &[&str]) -> String {
    sessiond::api::auth::mint_token(&sessiond::api::auth::TokenRequest {
        secret: secret.into(),
        sub: user.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        ttl: std::time::Duration::from_secs(3600),
        issuer: None,
        audience: None,
    })
    .expect("token")
}

/// The ids of the sessions `GET /sessions/active` returns with `token`, in its order; `None`
/// unless it answers 200.
pub fn active_session_ids(port: u16, token: &str) -> Option<Vec<String>> {
    let (status, body) = http_get(port, "/sessions/active", Some(token));
    if status != 200 {
        return None;
    }
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    Some(
        body["sessions"]
            .as_array()
            .expect("a sessions array")
            .iter()
            .map(|s| s["id"].as_str().expect("an id").to_owned())
            .collect(),
    )
}

/// Runs `sessiond` with `args` to completion; returns (success, stdout, stderr).
pub fn run_sessiond(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run sessiond");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts `sessiond serve` with `args` and `--http` on a free port, and waits until
/// `/readyz` answers 200; returns the process and its port.
/// `replay --brokers … --topics … --digest`: the digest and the summary on stderr.
pub fn replay_digest(brokers: &str, topics: &str) -> (String, String) {
    let (ok, out, err) = run_sessiond(&[
        "replay",
        "--brokers",
        brokers,
        "--topics",
        topics,
        "--digest",
    ]);
    assert!(ok, "{err}");
    (out.lines().last().unwrap_or_default().to_owned(), err)
}

/// The number just before `what` in a `replay` summary (`replayed 12 records: 10 applied`).
pub fn number_before(summary: &str, what: &str) -> u64 {
    summary
        .split(what)
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {what} in {summary}"))
}

pub fn serve(args: &[&str], ready_within: std::time::Duration) -> (KillOnDrop, u16) {
    let port = broker::free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .arg("serve")
        .args(args)
        .args(["--http", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start sessiond");
    let guard = KillOnDrop(child);
    wait_until("sessiond ready", ready_within, || {
        http_get(port, "/readyz", None).0 == 200
    });
    (guard, port)
}

pub mod change_feed {
    //! Reading the change feed back.

    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use prost::Message as _;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message as _;
    use rdkafka::{Offset, TopicPartitionList};
    use sessiond::codec::session_from_wire;
    use sessiond::events::wire;
    use sessiond::projection::Session;

    /// A change-feed topic read from the beginning as a table: the last value per key, tombstones
    /// deleting; and how many records and tombstones it had.
    pub fn change_table(brokers: &str, topic: &str) -> (BTreeMap<String, Session>, usize, usize) {
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
}

/// A test's scratch directory (`sessiond-{name}-…` in the system's temp dir), removed
/// when the test ends; kept, and its path printed, when the test fails, for its logs.
pub struct WorkDir(tempfile::TempDir);

/// Makes a fresh scratch directory for `name`.
pub fn work_dir(name: &str) -> WorkDir {
    WorkDir(
        tempfile::Builder::new()
            .prefix(&format!("sessiond-{name}-"))
            .tempdir()
            .expect("a scratch directory"),
    )
}

impl std::ops::Deref for WorkDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl AsRef<std::path::Path> for WorkDir {
    fn as_ref(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.disable_cleanup(true);
            eprintln!("kept {} for the failed test", self.0.path().display());
        }
    }
}
