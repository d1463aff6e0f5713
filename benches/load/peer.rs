//! sessiond side by side with its Kafka Streams peer (`benches/peers/kafka-streams`), on the
//! same Apache Kafka broker (the tests' harness, `tests/common/broker.rs`) and the same
//! events, one run each, one process at a time:
//! - **catch-up**: records/s from process start to having folded every record (sessiond:
//!   `/readyz` 200, which waits for the end offsets seen at start; the peer: its processed
//!   count reaching the number produced);
//! - **answers**: every simulated user's active session ids, compared between the two (a
//!   comparison of two folds that disagree would be meaningless, so a difference fails);
//! - **reads**: latency p50/p99/p99.9/max of one user's active sessions (the busiest user) at
//!   a fixed request rate, open loop (each request has a due time and its latency is counted
//!   from it, as wrk2 does, so a stall is not hidden), after a warm-up at the same rate;
//! - **restart** to serving the same history: stopped with SIGTERM (sessiond writes its
//!   snapshot, Kafka Streams its checkpoint files), started again on the same disk, timed to
//!   the first correct answer; and again on an empty disk (sessiond folds the topics again;
//!   Kafka Streams restores its stores from their changelog topics);
//! - **memory**: VmRSS after catch-up and after the reads.
//!
//! `scripts/bench-peer` builds the peer with Maven and runs this (`cargo bench --bench peer`);
//! the summary is also written to `$CARGO_TARGET_DIR/peer-bench.txt`. Settings:
//! `PEER_RECORDS` (default 1,000,000), `PEER_READ_RATE` (2,000/s), `PEER_READ_SECONDS` (20),
//! `PEER_STORE` (`rocksdb`, or `memory`), `PEER_HEAP` (the peer's -Xmx, default `1g`).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sessiond::simulate::{SimConfig, SimTopic, Simulator};

use common::broker;
use common::try_http_get as get;

const SECRET: &str = "x";
/// Partitions per topic, as in the ingest and restart benches (the peer needs both topics
/// to have the same count: they are co-partitioned by session id).
const PARTITIONS: i32 = 3;
/// Connections the read load is spread over.
const CONNECTIONS: usize = 16;
const WARMUP: Duration = Duration::from_secs(5);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
}

fn sim_config() -> SimConfig {
    // The ingest bench's traffic: 400 agents in 20 accounts.
    SimConfig {
        rate: 1_000.0,
        users: 400,
        accounts: 20,
        ..SimConfig::default()
    }
}

fn main() {
    let records: usize = env_or("PEER_RECORDS", 1_000_000);
    let rate: f64 = env_or("PEER_READ_RATE", 2_000.0);
    let read_for = Duration::from_secs(env_or("PEER_READ_SECONDS", 20));
    let store = std::env::var("PEER_STORE").unwrap_or_else(|_| "rocksdb".into());
    let heap = std::env::var("PEER_HEAP").unwrap_or_else(|_| "1g".into());
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_sessiond"));
    let peer = peer_build();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let broker = broker::Broker::start();
    let (calls, members) = broker::unique_topics("peer");
    runtime.block_on(broker.create_topics(&[&calls, &members], PARTITIONS));
    let produced_at = Instant::now();
    runtime.block_on(produce(&broker, &calls, &members, records));
    eprintln!(
        "produced {records} simulated events to {calls} and {members} in {:.1} s",
        produced_at.elapsed().as_secs_f64()
    );
    let users = Simulator::new(sim_config()).users();
    let work = tempfile::tempdir().expect("work dir");
    let run = Run {
        brokers: broker.brokers.clone(),
        topics: [calls, members],
        work: work.path().to_path_buf(),
        records,
        rate,
        read_for,
    };

    // sessiond.
    let snapshots = run.work.join("snapshots");
    let sessiond = |name: &str, snapshots: &Path| Process::sessiond(&binary, &run, name, snapshots);
    let mut s = Figures::default();
    let mut proc = sessiond("sessiond-1", &snapshots);
    s.catch_up = proc.wait(|p| p.get("/readyz", None).is_ok_and(|(st, _)| st == 200));
    s.rss_caught_up = proc.rss_kib();
    let answers = run.answers(|user| proc.sessions(user));
    let (busiest, expected) = answers
        .iter()
        .max_by_key(|(user, ids)| (ids.len(), std::cmp::Reverse((*user).clone())))
        .map(|(u, ids)| (u.clone(), ids.clone()))
        .expect("users");
    let active: usize = answers.values().map(BTreeSet::len).sum();
    eprintln!(
        "sessiond caught up in {:.2} s; {active} (user, active session) pairs; busiest user \
         {busiest} with {} sessions",
        s.catch_up.as_secs_f64(),
        expected.len()
    );
    let token = common::token_with_roles(SECRET, &busiest, &["User"]);
    s.reads = run.reads(
        &runtime,
        proc.port,
        "/sessions/active".into(),
        Some(token.clone()),
    );
    s.rss_after_reads = proc.rss_kib();
    s.response_bytes = proc
        .get("/sessions/active", Some(&token))
        .expect("read")
        .1
        .len();
    proc.stop();
    let mut proc = sessiond("sessiond-2", &snapshots);
    s.restart = proc.wait(|p| p.sessions(&busiest).as_ref() == Some(&expected));
    proc.stop();
    let mut proc = sessiond("sessiond-3", &run.work.join("no-snapshots"));
    s.restart_empty = proc.wait(|p| p.sessions(&busiest).as_ref() == Some(&expected));
    proc.stop();

    // Kafka Streams.
    let state = run.work.join("streams-state");
    let app = format!("sessions-peer-{}", std::process::id());
    let streams =
        |name: &str, state: &Path| Process::streams(&peer, &run, name, state, &app, &store, &heap);
    let mut k = Figures::default();
    let mut proc = streams("streams-1", &state);
    k.catch_up = proc.wait(|p| p.processed() >= records as u64);
    k.rss_caught_up = proc.rss_kib();
    eprintln!(
        "Kafka Streams caught up in {:.2} s ({})",
        k.catch_up.as_secs_f64(),
        proc.get("/progress", None).map(|r| r.1).unwrap_or_default()
    );
    let peer_answers = run.answers(|user| proc.sessions(user));
    let differ: Vec<_> = users
        .iter()
        .filter(|u| answers.get(*u) != peer_answers.get(*u))
        .collect();
    if let Some(user) = differ.first() {
        // What sessiond made of each session the two disagree on, event by event.
        let (a, b) = (&answers[*user], &peer_answers[*user]);
        for session in a.symmetric_difference(b) {
            let trace = Command::new(&binary)
                .args([
                    "replay",
                    "--brokers",
                    &run.brokers,
                    "--topics",
                    &run.topics.join(","),
                ])
                .args(["--session", session, "--trace"])
                .output()
                .expect("sessiond replay");
            eprintln!(
                "sessiond replay --session {session} --trace:\n{}{}",
                String::from_utf8_lossy(&trace.stdout),
                String::from_utf8_lossy(&trace.stderr)
            );
        }
    }
    assert!(
        differ.is_empty(),
        "the two folds disagree for {} of {} users, e.g. {}: sessiond {:?}, Kafka Streams {:?}",
        differ.len(),
        users.len(),
        differ[0],
        answers.get(differ[0]),
        peer_answers.get(differ[0])
    );
    let path = format!("/sessions/active?user={busiest}");
    k.reads = run.reads(&runtime, proc.port, path.clone(), None);
    k.rss_after_reads = proc.rss_kib();
    k.response_bytes = proc.get(&path, None).expect("read").1.len();
    proc.stop();
    let mut proc = streams("streams-2", &state);
    k.restart = proc.wait(|p| p.sessions(&busiest).as_ref() == Some(&expected));
    proc.stop();
    let mut proc = streams("streams-3", &run.work.join("streams-state-empty"));
    k.restart_empty = proc.wait(|p| p.sessions(&busiest).as_ref() == Some(&expected));
    proc.stop();

    let summary = summary(
        &run,
        &s,
        &k,
        &store,
        &heap,
        &busiest,
        expected.len(),
        users.len(),
    );
    print!("{summary}");
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    std::fs::write(Path::new(&target).join("peer-bench.txt"), &summary).expect("summary file");
    drop(work);
}

/// Where scripts/bench-peer built the peer (classes and lib/*.jar).
fn peer_build() -> PathBuf {
    let dir = std::env::var_os("SESSIOND_PEER_BUILD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/sessiond/peers/kafka-streams/target")
        });
    assert!(
        dir.join("classes/evovoice/peer/PeerApp.class").exists(),
        "the Kafka Streams peer is not built in {}: run scripts/bench-peer",
        dir.display()
    );
    dir
}

struct Run {
    brokers: String,
    topics: [String; 2],
    work: PathBuf,
    records: usize,
    rate: f64,
    read_for: Duration,
}

impl Run {
    fn answers(
        &self,
        ask: impl Fn(&str) -> Option<BTreeSet<String>>,
    ) -> BTreeMap<String, BTreeSet<String>> {
        Simulator::new(sim_config())
            .users()
            .into_iter()
            .map(|u| {
                let ids = ask(&u).unwrap_or_else(|| panic!("no answer for {u}"));
                (u, ids)
            })
            .collect()
    }

    fn reads(
        &self,
        runtime: &tokio::runtime::Runtime,
        port: u16,
        path: String,
        token: Option<String>,
    ) -> Reads {
        let warm = runtime.block_on(fixed_rate(port, &path, token.as_deref(), self.rate, WARMUP));
        assert_eq!(warm.failed, 0, "failed reads while warming up");
        runtime.block_on(fixed_rate(
            port,
            &path,
            token.as_deref(),
            self.rate,
            self.read_for,
        ))
    }
}

#[derive(Default)]
struct Figures {
    catch_up: Duration,
    rss_caught_up: u64,
    reads: Reads,
    rss_after_reads: u64,
    response_bytes: usize,
    restart: Duration,
    restart_empty: Duration,
}

/// A server under test; killed when dropped unless stopped.
struct Process {
    child: Child,
    port: u16,
    log: PathBuf,
    started: Instant,
}

impl Process {
    fn sessiond(binary: &Path, run: &Run, name: &str, snapshots: &Path) -> Self {
        let port = broker::free_port();
        let log = run.work.join(format!("{name}.log"));
        let mut command = Command::new(binary);
        command
            .args([
                "serve",
                "--brokers",
                &run.brokers,
                "--topics",
                &run.topics.join(","),
            ])
            .arg("--snapshot-dir")
            .arg(snapshots)
            .args(["--jwt-secret", SECRET, "--rate-limit", "0", "--http"])
            .arg(format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        Self::spawn(command, port, log)
    }

    #[allow(clippy::too_many_arguments)]
    fn streams(
        build: &Path,
        run: &Run,
        name: &str,
        state: &Path,
        app: &str,
        store: &str,
        heap: &str,
    ) -> Self {
        let port = broker::free_port();
        let log = run.work.join(format!("{name}.log"));
        let java = std::env::var_os("JAVA_HOME")
            .map(|h| PathBuf::from(h).join("bin/java"))
            .filter(|j| j.exists())
            .unwrap_or_else(|| "java".into());
        let mut command = Command::new(java);
        command
            .arg(format!("-Xmx{heap}"))
            .arg("-cp")
            .arg(format!(
                "{}:{}/*",
                build.join("classes").display(),
                build.join("lib").display()
            ))
            .arg("evovoice.peer.PeerApp")
            .args(["--bootstrap", &run.brokers])
            .args(["--calls", &run.topics[0], "--members", &run.topics[1]])
            .args(["--application-id", app, "--store", store, "--threads", "2"])
            .arg("--state-dir")
            .arg(state)
            .args(["--http", &format!("127.0.0.1:{port}")]);
        Self::spawn(command, port, log)
    }

    fn spawn(mut command: Command, port: u16, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let started = Instant::now();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("starting the server");
        Self {
            child,
            port,
            log,
            started,
        }
    }

    /// Time from spawn until `done` holds (polled every 10 ms; 10 minutes at most).
    fn wait(&mut self, done: impl Fn(&Self) -> bool) -> Duration {
        loop {
            if done(self) {
                return self.started.elapsed();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited with {status}:\n{}",
                    self.log.display(),
                    self.log_tail()
                );
            }
            assert!(
                self.started.elapsed() < Duration::from_secs(600),
                "not done within 10 minutes:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn get(&self, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
        get(self.port, path, token)
    }

    /// The user's active session ids (the `"id"` of each session), if answered 200.
    fn sessions(&self, user: &str) -> Option<BTreeSet<String>> {
        // sessiond takes the user from the token, the peer from the query.
        let token = common::token_with_roles(SECRET, user, &["User"]);
        let (status, body) = self
            .get(&format!("/sessions/active?user={user}"), Some(&token))
            .ok()?;
        if status != 200 {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        Some(
            json["sessions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["id"].as_str().expect("id").to_owned())
                .collect(),
        )
    }

    fn processed(&self) -> u64 {
        self.get("/progress", None)
            .ok()
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| v["processed"].as_u64())
            .unwrap_or(0)
    }

    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// SIGTERM, and wait for a clean exit (sessiond writes its snapshot, Kafka Streams
    /// closes and writes its checkpoint files).
    fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} did not stop within 60 s of SIGTERM", self.log.display());
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read latencies (µs), from each request's due time.
#[derive(Default)]
struct Reads {
    latencies: Vec<u64>,
    failed: usize,
    took: Duration,
}

impl Reads {
    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1] as f64 / 1e3
    }
}

/// `rate` requests a second for `duration`, spread over [`CONNECTIONS`] keep-alive
/// connections; request i is due at i / rate, and its latency runs from then to its last
/// body byte.
async fn fixed_rate(
    port: u16,
    path: &str,
    token: Option<&str>,
    rate: f64,
    duration: Duration,
) -> Reads {
    let total = (rate * duration.as_secs_f64()) as usize;
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let path = path.to_owned();
        let auth = token.map(|t| format!("Bearer {t}"));
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(connection);
            let (mut latencies, mut failed) = (Vec::new(), 0);
            for i in (c..total).step_by(CONNECTIONS) {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due).await;
                let mut request = hyper::Request::get(&path).header("host", "127.0.0.1");
                if let Some(auth) = &auth {
                    request = request.header("authorization", auth);
                }
                let request = request.body(Empty::<Bytes>::new()).expect("request");
                let ok = match sender.send_request(request).await {
                    Ok(response) => {
                        let status = response.status();
                        response.into_body().collect().await.is_ok() && status == 200
                    }
                    Err(_) => false,
                };
                latencies.push(due.elapsed().as_micros() as u64);
                if !ok {
                    failed += 1;
                }
            }
            (latencies, failed)
        }));
    }
    let began = Instant::now();
    let mut reads = Reads::default();
    for task in tasks {
        let (latencies, failed) = task.await.expect("load task");
        reads.latencies.extend(latencies);
        reads.failed += failed;
    }
    reads.took = began.elapsed();
    reads.latencies.sort_unstable();
    reads
}

/// Simulated traffic, produced once, keyed by session id (as `sessiond simulate` does).
async fn produce(broker: &broker::Broker, calls: &str, members: &str, records: usize) {
    let producer: FutureProducer = broker
        .settings()
        .client_config()
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .create()
        .expect("producer");
    let mut pending = Vec::new();
    for sim in Simulator::new(sim_config()).take(records) {
        let topic = match sim.topic {
            SimTopic::Calls => calls,
            SimTopic::Members => members,
        };
        let payload = prost::Message::encode_to_vec(&sim.event);
        let record = FutureRecord::to(topic)
            .key(sim.event.session_id.as_bytes())
            .payload(&payload);
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("queued"),
        );
        if pending.len() >= 50_000 {
            for delivery in pending.drain(..) {
                delivery
                    .await
                    .expect("delivered")
                    .map_err(|(e, _)| e)
                    .expect("delivered");
            }
        }
    }
    for delivery in pending {
        delivery
            .await
            .expect("delivered")
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
}

#[allow(clippy::too_many_arguments)]
fn summary(
    run: &Run,
    s: &Figures,
    k: &Figures,
    store: &str,
    heap: &str,
    busiest: &str,
    sessions: usize,
    users: usize,
) -> String {
    let mut out = String::new();
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let per_s = |d: Duration| format!("{:.0}", run.records as f64 / d.as_secs_f64());
    let mib = |kib: u64| format!("{:.0} MiB", kib as f64 / 1024.0);
    let ms = |r: &Reads, p: f64| format!("{:.2} ms", r.percentile(p));
    let rows: Vec<(String, String, String)> = vec![
        (
            "records/s, start to caught up".into(),
            per_s(s.catch_up),
            per_s(k.catch_up),
        ),
        (
            "  start to caught up".into(),
            secs(s.catch_up),
            secs(k.catch_up),
        ),
        (
            "restart to serving, same disk".into(),
            secs(s.restart),
            secs(k.restart),
        ),
        (
            "restart to serving, empty disk".into(),
            secs(s.restart_empty),
            secs(k.restart_empty),
        ),
        (
            format!("read p50 at {:.0}/s", run.rate),
            ms(&s.reads, 0.5),
            ms(&k.reads, 0.5),
        ),
        (
            format!("read p99 at {:.0}/s", run.rate),
            ms(&s.reads, 0.99),
            ms(&k.reads, 0.99),
        ),
        (
            "read p99.9".into(),
            ms(&s.reads, 0.999),
            ms(&k.reads, 0.999),
        ),
        ("read max".into(), ms(&s.reads, 1.0), ms(&k.reads, 1.0)),
        (
            "failed reads".into(),
            s.reads.failed.to_string(),
            k.reads.failed.to_string(),
        ),
        (
            "response bytes".into(),
            s.response_bytes.to_string(),
            k.response_bytes.to_string(),
        ),
        (
            "RSS caught up".into(),
            mib(s.rss_caught_up),
            mib(k.rss_caught_up),
        ),
        (
            "RSS after the reads".into(),
            mib(s.rss_after_reads),
            mib(k.rss_after_reads),
        ),
    ];
    out.push_str(&format!(
        "\nsessiond vs Kafka Streams ({store} store, -Xmx{heap}, 2 stream threads, at-least-once), \
         same Apache Kafka {}, {} records in 2 topics x {PARTITIONS} partitions, {users} users, \
         reads of {busiest} ({sessions} sessions), {:.0}/s for {} s over {CONNECTIONS} \
         connections after a {} s warm-up:\n",
        broker::KAFKA_VERSION,
        run.records,
        run.rate,
        run.read_for.as_secs(),
        WARMUP.as_secs()
    ));
    out.push_str(&format!(
        "| {:32} | {:>12} | {:>14} |\n",
        "", "sessiond", "Kafka Streams"
    ));
    out.push_str(&format!("|{:-<34}|{:->14}|{:->16}|\n", "", ":", ":"));
    for (name, a, b) in rows {
        out.push_str(&format!("| {name:32} | {a:>12} | {b:>14} |\n"));
    }
    out
}
