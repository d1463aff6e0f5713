//! The live stream (`GET /sessions/active/stream`) of the release binary reading the test
//! broker (Apache Kafka, or tansu with `SESSIOND_TEST_BROKER=tansu`):
//!
//! - **freshness**: from producing an event (just before `send`, producer with
//!   `linger.ms=0`) to its SSE `upsert`/`remove` arriving at a client, one event at a time,
//!   each after a random pause of up to 25 ms (10 warm-up events not counted): p50, p90,
//!   p99 and max (target: p99 under 50 ms), with sessiond's consumer settings and, side by
//!   side in the same run, with librdkafka's default `fetch.wait.max.ms=500`; with the
//!   producer's acknowledgement time and the idle CPU of sessiond and the broker for each;
//! - **1,000 and 19,000 concurrent streams** on one instance, one per user (as many
//!   distinct users, so each stream also has its own per-user view in the hub), held by
//!   client processes of their own ([`fleet`]: at most 9,500 streams each, so no process
//!   needs more than the 20,000 descriptors one may hold): the server's RSS per stream
//!   (target: at most 16 KiB), then one event per user produced at once, whether every
//!   stream received its own `upsert` (the bench exits non-zero unless all did), and the
//!   freshness of each (its send to its arrival) at that load;
//! - **where a connection's memory goes** ([`anatomy`]): the service in a process of its
//!   own with its heap counted by allocation size, once with idle keep-alive connections
//!   and once with streams.
//!
//! `cargo bench --bench live` (scripts/bench runs it). The summary is printed and saved to
//! `$CARGO_TARGET_DIR/live-bench.txt`, each server's log to `live-bench-<name>.log` next to
//! it. `LIVE_EVENTS` (default 1000), `LIVE_BASELINE_EVENTS` (default 200: each takes about
//! 0.5 s), `LIVE_STREAMS` (default `1000,19000`: the stream counts, comma-separated, each a
//! fresh service) and `LIVE_ANATOMY` (default 2000 connections; 0 skips it) set the counts;
//! `LIVE_TRACE_SIZE=N` makes an anatomy run print where its first allocations of exactly
//! N bytes were made (run it alone: `LIVE_ROLE=anatomy LIVE_USERS=50 LIVE_MODE=stream`).

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "anatomy.rs"]
mod anatomy;
#[path = "fleet.rs"]
mod fleet;
#[path = "kit.rs"]
mod kit;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sessiond::events::wire;
use sessiond::ingest::kafka::consumer::CONSUMER_DEFAULTS;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use common::broker;
use common::sse::{SseEvent, SseStream};
use fleet::{Fleet, Mode};
use kit::ms;

/// The HS256 secret the service verifies and the bench signs with.
const SECRET: &str = "live-bench-secret";
/// Partitions of each topic.
const PARTITIONS: i32 = 3;
/// The freshness target for p99.
const TARGET_P99: Duration = Duration::from_millis(50);
/// Events produced and received before measuring (connections, metadata, first fetches).
const WARMUP: usize = 10;
/// How long any one expected SSE event may take before the bench gives up on it.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Each event is produced after a random pause up to this long since the previous one
/// arrived, so events land anywhere in the consumer's fetch cycle, not always at its start.
const PAUSE: Duration = Duration::from_millis(25);
/// How long the idle CPU of sessiond and the broker is sampled for.
const IDLE_SAMPLE: Duration = Duration::from_secs(5);
/// Server memory per open stream the bench holds the service to, in KiB.
const TARGET_KIB: f64 = 16.0;
/// How long the server is left alone before its RSS is read (the allocator returns freed
/// pages after a short delay).
const SETTLE: Duration = Duration::from_secs(2);

// The service's allocator, counting what the anatomy runs keep (see `anatomy`).
#[global_allocator]
static GLOBAL: anatomy::Counting = anatomy::Counting;

/// Runs every measurement, prints the summary and saves it; or, started again by itself
/// with `LIVE_ROLE`, is one of its client processes or an anatomy run.
fn main() -> ExitCode {
    match std::env::var("LIVE_ROLE").as_deref() {
        Ok("client") => {
            fleet::run();
            return ExitCode::SUCCESS;
        }
        Ok("anatomy") => {
            anatomy::run();
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let events = env_count("LIVE_EVENTS", 1000);
    let baseline_events = env_count("LIVE_BASELINE_EVENTS", 200);
    let fanouts = env_counts("LIVE_STREAMS", &[1_000, 19_000]);
    let anatomy_users = env_count("LIVE_ANATOMY", 2_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let broker = broker::Broker::start();
    let logs = target_dir();
    let bench = Bench {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_sessiond")),
        broker,
        logs,
    };
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "live stream, release binary reading the test broker ({}), one instance, {PARTITIONS} partitions per topic:",
        bench.broker.brokers
    );
    let _ = writeln!(
        summary,
        "  freshness, produce (linger.ms=0, before send) -> SSE event at the client, one event at a time, each {} ms at most after the last arrived:",
        PAUSE.as_millis()
    );

    let variants = [
        Variant {
            name: "fresh",
            label: format!(
                "sessiond's consumer ({})",
                CONSUMER_DEFAULTS
                    .iter()
                    .find(|(key, _)| *key == "fetch.wait.max.ms")
                    .map_or_else(String::new, |(key, value)| format!("{key}={value}"))
            ),
            option: None,
            events,
        },
        Variant {
            name: "baseline",
            label: "fetch.wait.max.ms=500 (librdkafka default)".to_owned(),
            option: Some("fetch.wait.max.ms=500"),
            events: baseline_events,
        },
    ];
    let mut fresh_p99 = None;
    // `LIVE_EVENTS=0 LIVE_BASELINE_EVENTS=0` skips them (to measure only the streams).
    for variant in variants.iter().filter(|v| v.events > 0) {
        let result = runtime.block_on(bench.freshness(variant));
        eprintln!("{}: {}", variant.label, result.line());
        if variant.name == "fresh" {
            fresh_p99 = Some(result.latency.p99);
        }
        let _ = writeln!(summary, "    {:44} {}", variant.label, result.line());
        let _ = writeln!(
            summary,
            "    {:44}   producer ack {}; idle CPU: sessiond {:.1}%, broker {:.1}%",
            "",
            result.ack.short(),
            result.idle_cpu.0,
            result.idle_cpu.1
        );
    }
    if let Some(p99) = fresh_p99 {
        kit::headline(kit::Headline {
            figure: "live stream freshness, produce -> SSE event, one event at a time: p99",
            sessiond: ms(p99),
            peer: String::new(),
            target: "< 50 ms",
            met: Some(p99 < TARGET_P99),
        });
        let _ = writeln!(
            summary,
            "    p99 {} (target < {} ms: {})",
            ms(p99),
            TARGET_P99.as_millis(),
            if p99 < TARGET_P99 {
                "ok"
            } else {
                "OVER TARGET"
            }
        );
    }

    let mut served = true;
    for &streams in &fanouts {
        let fanout = runtime.block_on(bench.fanout(streams));
        served &= fanout.all_served();
        let _ = writeln!(
            summary,
            "  {streams} concurrent streams ({streams} distinct users, one stream each, each user with one active session; clients in {} processes):",
            streams.div_ceil(fleet::PER_PROCESS)
        );
        let _ = writeln!(
            summary,
            "    server RSS {:.1} MiB before, {:.1} MiB with every stream past its snapshot: {:.1} KiB per stream (target <= {TARGET_KIB} KiB: {}; all opened in {} ms)",
            fanout.rss_before as f64 / 1024.0,
            fanout.rss_after as f64 / 1024.0,
            fanout.kib_per_stream(),
            if fanout.kib_per_stream() <= TARGET_KIB {
                "ok"
            } else {
                "OVER TARGET"
            },
            fanout.opened.as_millis()
        );
        let _ = writeln!(
            summary,
            "    {}/{streams} streams received their upsert ({}), {} wrong or missing; one event per user produced at once (all acked {} ms after the first send), last upsert {} ms after the first send",
            fanout.received,
            if fanout.all_served() { "ok" } else { "MISSING" },
            fanout.wrong,
            fanout.acked.as_millis(),
            fanout.last.as_millis(),
        );
        kit::headline(kit::Headline {
            figure: &format!(
                "{} concurrent streams of {} users on one instance: server memory per idle stream, streams served",
                kit::thousands(streams as f64),
                kit::thousands(streams as f64)
            ),
            sessiond: format!(
                "{:.1} KiB; {}/{streams} got their change",
                fanout.kib_per_stream(),
                fanout.received
            ),
            peer: fanout
                .freshness
                .as_ref()
                .map(|f| {
                    format!(
                        "freshness under the burst of {streams} events: {}",
                        f.short()
                    )
                })
                .unwrap_or_default(),
            target: "<= 16 KiB, all served",
            met: Some(fanout.kib_per_stream() <= TARGET_KIB && fanout.all_served()),
        });
        if let Some(freshness) = &fanout.freshness {
            let _ = writeln!(
                summary,
                "    freshness under that burst, each event's send -> its upsert at its stream: {}",
                freshness.full()
            );
        }
    }
    if anatomy_users > 0 {
        let _ = writeln!(
            summary,
            "  where a connection's memory goes (the service in a process of its own, its heap counted by allocation size; one run each):"
        );
        for mode in ["keepalive", "stream"] {
            let output = Command::new(std::env::current_exe().expect("current exe"))
                .env("LIVE_ROLE", "anatomy")
                .env("LIVE_USERS", anatomy_users.to_string())
                .env("LIVE_MODE", mode)
                .stderr(Stdio::inherit())
                .output()
                .expect("starting the anatomy run");
            assert!(output.status.success(), "the {mode} anatomy run failed");
            summary.push_str(&String::from_utf8_lossy(&output.stdout));
        }
    }

    println!();
    print!("{summary}");
    let path = bench.logs.join("live-bench.txt");
    std::fs::write(&path, &summary).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    if served {
        ExitCode::SUCCESS
    } else {
        eprintln!("live bench: NOT every stream received its change (see the summary)");
        ExitCode::FAILURE
    }
}

/// One freshness measurement: the service with `option` added to its Kafka client settings.
struct Variant {
    /// Used in topic and user names.
    name: &'static str,
    /// Shown in the summary.
    label: String,
    /// An extra `--kafka-option`.
    option: Option<&'static str>,
    /// Events measured.
    events: usize,
}

/// What a freshness run measured.
struct Freshness {
    /// Events measured.
    events: usize,
    /// Just before `send` to the SSE event's arrival.
    latency: Percentiles,
    /// Just before `send` to the producer's delivery report.
    ack: Percentiles,
    /// (sessiond, broker) CPU in percent of one core while nothing is produced.
    idle_cpu: (f64, f64),
}

impl Freshness {
    /// The latency figures, for the summary.
    fn line(&self) -> String {
        format!("{} events: {}", self.events, self.latency.full())
    }
}

/// What the many-streams run measured.
struct Fanout {
    /// Streams opened (one per user).
    streams: usize,
    /// Server VmRSS (KiB) once ready, before any stream.
    rss_before: u64,
    /// Server VmRSS (KiB) once every stream has had its snapshot.
    rss_after: u64,
    /// From starting the clients to the last snapshot.
    opened: Duration,
    /// Streams that received their own upsert.
    received: usize,
    /// Streams that received something else, failed, or received nothing.
    wrong: usize,
    /// From the first send to the last delivery report.
    acked: Duration,
    /// From the first send to the last upsert's arrival.
    last: Duration,
    /// Each event's send (just before) to its upsert's arrival at its stream.
    freshness: Option<Percentiles>,
}

impl Fanout {
    /// Server memory per open stream, in KiB.
    fn kib_per_stream(&self) -> f64 {
        (self.rss_after as f64 - self.rss_before as f64) / self.streams as f64
    }

    /// Whether every stream received its own change and nothing else.
    fn all_served(&self) -> bool {
        self.received == self.streams && self.wrong == 0
    }
}

/// The broker and the binary every measurement uses.
struct Bench {
    binary: PathBuf,
    broker: broker::Broker,
    logs: PathBuf,
}

impl Bench {
    /// Topics of their own for one measurement.
    async fn topics(&self, name: &str) -> (String, String) {
        let n = std::process::id();
        let (calls, members) = (
            format!("live-{n}-{name}.calls"),
            format!("live-{n}-{name}.members"),
        );
        self.broker
            .create_topics(&[&calls, &members], PARTITIONS)
            .await;
        (calls, members)
    }

    /// A producer tuned for latency: no linger, one record per request when produced alone.
    fn producer(&self) -> FutureProducer {
        self.broker
            .settings()
            .client_config()
            .set("linger.ms", "0")
            .set("enable.idempotence", "true")
            .create()
            .expect("producer")
    }

    /// Freshness with `variant`'s settings: a fresh service, one stream, events one at a time.
    async fn freshness(&self, variant: &Variant) -> Freshness {
        let (calls, members) = self.topics(variant.name).await;
        let producer = self.producer();
        let user = format!("U-{}", variant.name);
        let mut clock = EventClock::default();
        send(
            &producer,
            &calls,
            &clock.started(&format!("S-{}-before", variant.name), &user),
        )
        .await;
        let service = Service::start(self, variant.name, &calls, &members, variant.option).await;

        let mut stream = SseStream::open(service.port, &token(&user))
            .await
            .expect("stream");
        let snapshot = stream.next().await.expect("snapshot");
        assert_eq!(snapshot.name, "snapshot", "{snapshot:?}");
        assert_eq!(
            snapshot.data["sessions"].as_array().map(Vec::len),
            Some(1),
            "{snapshot:?}"
        );
        let (arrivals, mut arrived) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Ok(event) = stream.next().await {
                if arrivals.send(event).is_err() {
                    break;
                }
            }
        });

        let mut latencies = Vec::with_capacity(variant.events);
        let mut acks = Vec::with_capacity(variant.events);
        for i in 0..WARMUP + variant.events {
            // Five events per session: each changes what the user sees, so each is one
            // SSE event, and no session's log grows past one entry.
            let session = format!("S-{}-{}", variant.name, i / 5);
            let (line, expect) = match i % 5 {
                0 => (clock.started(&session, &user), Expect::Upsert(None)),
                1 => (
                    clock.event(&session, r#""sessionHeld":{}"#),
                    Expect::Upsert(Some(("callState", "Hold".to_owned()))),
                ),
                2 => (
                    clock.event(&session, r#""sessionResumed":{}"#),
                    Expect::Upsert(None),
                ),
                3 => (
                    clock.event(&session, &format!(r#""logAppended":{{"message":"m-{i}"}}"#)),
                    Expect::Upsert(Some(("log", format!("m-{i}")))),
                ),
                _ => (
                    clock.event(&session, r#""sessionEnded":{}"#),
                    Expect::Remove,
                ),
            };
            let event = wire_event(&line);
            let payload = event.encode_to_vec();
            let pause = rand::random_range(0..PAUSE.as_micros() as u64);
            tokio::time::sleep(Duration::from_micros(pause)).await;
            let sent = Instant::now();
            producer
                .send(
                    FutureRecord::to(&calls)
                        .key(event.session_id.as_bytes())
                        .payload(&payload),
                    Duration::from_secs(5),
                )
                .await
                .map_err(|(e, _)| e)
                .expect("delivered");
            let acked = sent.elapsed();
            let sse = tokio::time::timeout(EVENT_TIMEOUT, arrived.recv())
                .await
                .unwrap_or_else(|_| panic!("no SSE event within {EVENT_TIMEOUT:?} for {line}"))
                .expect("the stream ended");
            expect.check(&sse, &session);
            if i >= WARMUP {
                latencies.push(sse.at - sent);
                acks.push(acked);
            }
        }
        reader.abort();
        let idle_cpu = idle_cpu(service.pid()).await;
        drop(service);
        Freshness {
            events: variant.events,
            latency: Percentiles::of(latencies),
            ack: Percentiles::of(acks),
            idle_cpu,
        }
    }

    /// `streams` streams of as many users on one service, held by client processes:
    /// memory per stream, then one event per user, each of which must reach its stream.
    async fn fanout(&self, streams: usize) -> Fanout {
        let name = format!("fanout-{streams}");
        let (calls, members) = self.topics(&name).await;
        let producer = self.producer();
        let mut clock = EventClock::default();
        let starts: Vec<String> = (0..streams)
            .map(|u| clock.started(&fleet::session(u), &fleet::user(u)))
            .collect();
        send_all(&producer, &calls, &starts).await;
        let service = Service::start(self, &name, &calls, &members, None).await;
        tokio::time::sleep(SETTLE).await;
        let rss_before = rss_kib(service.pid());

        let opened_at = Instant::now();
        let port = service.port;
        let mut clients =
            tokio::task::spawn_blocking(move || Fleet::open(port, SECRET, streams, Mode::Stream))
                .await
                .expect("opening the streams");
        let opened = opened_at.elapsed();
        tokio::time::sleep(SETTLE).await;
        let rss_after = rss_kib(service.pid());

        let helds: Vec<String> = (0..streams)
            .map(|u| clock.event(&fleet::session(u), r#""sessionHeld":{}"#))
            .collect();
        clients.go();
        let sent = send_all(&producer, &calls, &helds).await;
        let first_send = sent.iter().copied().min().unwrap_or_default();
        let acked = Duration::from_nanos(fleet::mono_ns() - first_send);
        let (outcome, clients) = tokio::task::spawn_blocking(move || (clients.outcome(), clients))
            .await
            .expect("collecting the events");
        drop(clients);
        for problem in outcome.problems.iter().take(10) {
            eprintln!("{problem}");
        }
        let freshness: Vec<Duration> = outcome
            .arrived
            .iter()
            .map(|(u, at)| Duration::from_nanos(at.saturating_sub(sent[*u])))
            .collect();
        let last = outcome
            .arrived
            .values()
            .max()
            .map_or(Duration::ZERO, |at| Duration::from_nanos(at - first_send));
        drop(service);
        Fanout {
            streams,
            rss_before,
            rss_after,
            opened,
            received: outcome.arrived.len(),
            wrong: outcome.problems.len(),
            acked,
            last,
            freshness: (!freshness.is_empty()).then(|| Percentiles::of(freshness)),
        }
    }
}

/// The SSE event the freshness loop waits for.
enum Expect {
    /// An upsert of the session, with this field (`log`: the last entry's message).
    Upsert(Option<(&'static str, String)>),
    /// A remove of the session.
    Remove,
}

impl Expect {
    /// Panics unless `event` is the expected change of `session`.
    fn check(&self, event: &SseEvent, session: &str) {
        let ok = match self {
            Self::Remove => event.name == "remove" && event.data["id"] == session,
            Self::Upsert(field) => {
                event.name == "upsert"
                    && event.data["id"] == session
                    && match field {
                        None => true,
                        Some(("log", message)) => event.data["log"]
                            .as_array()
                            .and_then(|log| log.last())
                            .is_some_and(|e| e["message"] == message.as_str()),
                        Some((name, value)) => event.data[*name] == value.as_str(),
                    }
            }
        };
        assert!(ok, "expected {} of {session}, got {event:?}", self.name());
    }

    /// What was expected, for the panic message.
    fn name(&self) -> &'static str {
        match self {
            Self::Upsert(_) => "an upsert",
            Self::Remove => "a remove",
        }
    }
}

/// Event lines with unique ids and increasing times.
#[derive(Default)]
struct EventClock {
    n: u64,
}

impl EventClock {
    /// The next event number and its time (RFC 3339), one second after the previous.
    fn next(&mut self) -> (u64, String) {
        self.n += 1;
        let at = OffsetDateTime::from_unix_timestamp(1_795_510_800 + self.n as i64)
            .expect("time")
            .format(&Rfc3339)
            .expect("RFC 3339");
        (self.n, at)
    }

    /// A `sessionStarted` of `session` owned by `user`.
    fn started(&mut self, session: &str, user: &str) -> String {
        let (n, at) = self.next();
        format!(
            r#"{{"eventId":"e-{n}","sessionId":"{session}","occurredAt":"{at}","accountId":"A-1","actorId":"{user}","sessionStarted":{{"accountName":"Acme","endpointId":"{user}","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","fromAddress":"+15550100"}}}}"#
        )
    }

    /// Any event of `session`: `body` is the kind's key and object.
    fn event(&mut self, session: &str, body: &str) -> String {
        let (n, at) = self.next();
        format!(r#"{{"eventId":"e-{n}","sessionId":"{session}","occurredAt":"{at}",{body}}}"#)
    }
}

/// An event-log line as the protobuf the topics carry.
fn wire_event(line: &str) -> wire::SessionEvent {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// Produces one line and waits for its delivery.
async fn send(producer: &FutureProducer, topic: &str, line: &str) {
    send_all(producer, topic, &[line.to_owned()]).await;
}

/// Produces every line at once, keyed by session id, and waits for every delivery;
/// returns when each was sent (just before, on [`fleet::mono_ns`]'s clock).
async fn send_all(producer: &FutureProducer, topic: &str, lines: &[String]) -> Vec<u64> {
    let mut pending = Vec::with_capacity(lines.len());
    let mut sent = Vec::with_capacity(lines.len());
    for line in lines {
        let event = wire_event(line);
        let payload = event.encode_to_vec();
        let record = FutureRecord::to(topic)
            .key(event.session_id.as_bytes())
            .payload(&payload);
        sent.push(fleet::mono_ns());
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("queued"),
        );
    }
    for delivery in pending {
        delivery
            .await
            .expect("delivered")
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    sent
}

/// A token with role `User` for `user`.
fn token(user: &str) -> String {
    common::token_with_roles(SECRET, user, &["User"])
}

/// `sessiond serve` on a free port, killed when dropped.
struct Service {
    child: Child,
    port: u16,
}

impl Service {
    /// Starts the binary on `calls,members` and waits until `/readyz` answers 200. Its
    /// log goes to `<target>/live-bench-<name>.log`.
    async fn start(
        bench: &Bench,
        name: &str,
        calls: &str,
        members: &str,
        option: Option<&str>,
    ) -> Self {
        let port = broker::free_port();
        let log_path = bench.logs.join(format!("live-bench-{name}.log"));
        let log = std::fs::File::create(&log_path).expect("server log");
        let mut command = Command::new(&bench.binary);
        command.args([
            "serve",
            "--brokers",
            &bench.broker.brokers,
            "--topics",
            &format!("{calls},{members}"),
            "--jwt-secret",
            SECRET,
            "--http",
            &format!("127.0.0.1:{port}"),
            // A load program, not a hostile client.
            "--rate-limit",
            "0",
        ]);
        if let Some(option) = option {
            command.args(["--kafka-option", option]);
        }
        let child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bench.binary.display()));
        let mut service = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ready_status(port).await != Some(200) {
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!("sessiond exited ({status}); see {}", log_path.display());
            }
            assert!(
                Instant::now() < deadline,
                "sessiond not ready within 60 s; see {}",
                log_path.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        service
    }

    /// The server process id.
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET /readyz`, or `None` while nothing answers.
async fn ready_status(port: u16) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

/// p50, p90, p99 and max of some durations.
struct Percentiles {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

impl Percentiles {
    /// The percentiles of `samples` (nearest rank).
    fn of(mut samples: Vec<Duration>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort();
        // Nearest rank: the smallest sample with at least q of all samples at or below it.
        let at = |q: f64| {
            samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        }
    }

    /// All four, in milliseconds.
    fn full(&self) -> String {
        format!(
            "p50 {}  p90 {}  p99 {}  max {}",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }

    /// p50 and p99, in milliseconds.
    fn short(&self) -> String {
        format!("p50 {}, p99 {}", ms(self.p50), ms(self.p99))
    }
}

/// A comma-separated list of counts from the environment (`0` or empty: none), or `default`.
fn env_counts(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name).map_or_else(
        |_| default.to_vec(),
        |v| {
            v.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .filter(|&n| n > 0)
                .collect()
        },
    )
}

/// A count from the environment, or `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where to write the summary and the servers' logs: `CARGO_TARGET_DIR`, else the target
/// directory this bench was built in.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // <target>/release/deps/live-<hash>
            std::env::current_exe()
                .ok()?
                .ancestors()
                .nth(3)
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Lets this process (and the server it starts, which inherits it) hold `wanted` files.
fn raise_fd_limit(wanted: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let wanted = wanted as libc::rlim_t;
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        assert!(
            limit.rlim_cur >= wanted,
            "need {wanted} open files, the hard limit is {}: raise it (ulimit -Hn)",
            limit.rlim_max
        );
    }
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// User + system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The pid of this process's child named `name` (the broker, started by the broker helper).
fn child_named(name: &str) -> Option<u32> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|children| {
            children
                .split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
}

/// CPU use (percent of one core) of sessiond and of the broker (Apache Kafka's JVM or
/// tansu) while nothing is produced.
async fn idle_cpu(sessiond: u32) -> (f64, f64) {
    let broker = child_named("java").or_else(|| child_named("tansu"));
    let ticks = |pid: Option<u32>| pid.and_then(cpu_ticks).unwrap_or(0);
    let before = (ticks(Some(sessiond)), ticks(broker));
    tokio::time::sleep(IDLE_SAMPLE).await;
    let after = (ticks(Some(sessiond)), ticks(broker));
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let percent = |a: u64, b: u64| (b - a) as f64 / hz / IDLE_SAMPLE.as_secs_f64() * 100.0;
    (percent(before.0, after.0), percent(before.1, after.1))
}
