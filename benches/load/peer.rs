//! sessiond side by side with its Kafka Streams peer (`benches/peers/kafka-streams`), on the
//! same Apache Kafka broker (the tests' harness, `tests/common/broker.rs`) and the same
//! events, one run each, one process at a time:
//! - **catch-up**: records/s from process start to having folded every record (sessiond:
//!   `/readyz` 200, which waits for the end offsets seen at start; the peer: the next offset
//!   it has folded, per input partition, reaching that partition's end offset);
//! - **answers**: every simulated user's active sessions, compared session by session: both
//!   must show each session to the same users, with the same fields and values (the two JSON
//!   writers' differences of form taken out). The report says how many sessions and (user,
//!   session) pairs were compared, how many sessions disagree, which fields, and both answers
//!   for the first few; the run fails if any disagree, since figures of two folds that
//!   disagree compare nothing;
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
//! `PEER_STORE` (`rocksdb`, or `memory`), `PEER_HEAP` (the peer's -Xmx, default `1g`),
//! `PEER_ANSWERS_ONLY=1` (stop after comparing the answers: no figures),
//! `SESSIOND_PEER_BUILD` (where the peer was built, default
//! `~/.cache/sessiond/peers/kafka-streams/target`).

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "kit.rs"]
mod kit;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
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
/// Disagreements shown in full (the rest are counted).
const EXAMPLES: usize = 5;

/// One user's answer: the active sessions by id, each as the JSON object it came as.
type Sessions = BTreeMap<String, serde_json::Value>;
/// Every user's answer.
type Shown = BTreeMap<String, Sessions>;

/// How long a restarted peer takes to serve `user` exactly `expected` again; stops it.
fn restart(mut proc: Process, user: &str, expected: &BTreeSet<String>) -> Duration {
    let took = proc.wait(|p| p.ids(user).as_ref() == Some(expected));
    proc.stop();
    took
}

/// Each user's active session ids.
fn ids_by_user(shown: &Shown) -> BTreeMap<String, BTreeSet<String>> {
    shown
        .iter()
        .map(|(user, sessions)| (user.clone(), sessions.keys().cloned().collect()))
        .collect()
}

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
    let answers_only = std::env::var_os("PEER_ANSWERS_ONLY").is_some_and(|v| v != "0");
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
    let shown = run.shown(|user| proc.sessions(user));
    let answers = ids_by_user(&shown);
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
    if answers_only {
        proc.stop();
    } else {
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
        let empty = run.work.join("no-snapshots");
        let back = |name: &str, dir: &Path| restart(sessiond(name, dir), &busiest, &expected);
        s.restart = back("sessiond-2", &snapshots);
        s.restart_empty = back("sessiond-3", &empty);
    }

    // Kafka Streams.
    let state = run.work.join("streams-state");
    let app = format!("sessions-peer-{}", std::process::id());
    let streams =
        |name: &str, state: &Path| Process::streams(&peer, &run, name, state, &app, &store, &heap);
    let mut k = Figures::default();
    let mut proc = streams("streams-1", &state);
    let ends = run.end_offsets();
    // Caught up when every input partition's last record has been through the fold. (A
    // count of records processed reaching the number produced is not the same: a task that
    // moves between threads may process some records again.)
    k.catch_up = proc.wait(|p| p.caught_up(&ends));
    k.rss_caught_up = proc.rss_kib();
    eprintln!(
        "Kafka Streams caught up in {:.2} s ({})",
        k.catch_up.as_secs_f64(),
        proc.get("/progress", None).map(|r| r.1).unwrap_or_default()
    );
    let compared = compare::answers(&shown, &run.shown(|user| proc.sessions(user)));
    eprint!("{}", compared.report(EXAMPLES));
    if !compared.differ.is_empty() {
        // Asked again a while later: a disagreement that goes away was a fold still running.
        std::thread::sleep(Duration::from_secs(10));
        let again = compare::answers(&shown, &run.shown(|user| proc.sessions(user)));
        eprintln!(
            "asked again 10 s later: {} of {} sessions disagree ({})",
            again.differ.len(),
            again.sessions,
            proc.get("/progress", None).map(|r| r.1).unwrap_or_default()
        );
        for d in compared.differ.iter().take(EXAMPLES) {
            eprintln!(
                "sessiond replay --session {} --trace:\n{}",
                d.session,
                run.trace(&binary, &d.session)
            );
        }
        panic!(
            "the two folds disagree on {} of {} sessions (see above)",
            compared.differ.len(),
            compared.sessions
        );
    }
    if answers_only {
        proc.stop();
        return;
    }
    let path = format!("/sessions/active?user={busiest}");
    k.reads = run.reads(&runtime, proc.port, path.clone(), None);
    k.rss_after_reads = proc.rss_kib();
    k.response_bytes = proc.get(&path, None).expect("read").1.len();
    proc.stop();
    let empty = run.work.join("streams-state-empty");
    let back = |name: &str, dir: &Path| restart(streams(name, dir), &busiest, &expected);
    k.restart = back("streams-2", &state);
    k.restart_empty = back("streams-3", &empty);

    let mut summary = summary(
        &run,
        &s,
        &k,
        &store,
        &heap,
        &busiest,
        expected.len(),
        users.len(),
    );
    summary.push_str(&format!(
        "answers: {} sessions shown to some user ({} user-session pairs) compared, users and \
         fields: {} disagree\n",
        compared.sessions,
        compared.pairs,
        compared.differ.len()
    ));
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
    /// Every simulated user's active sessions, as `ask` answers them.
    fn shown(&self, ask: impl Fn(&str) -> Option<Sessions>) -> Shown {
        Simulator::new(sim_config())
            .users()
            .into_iter()
            .map(|u| {
                let sessions = ask(&u).unwrap_or_else(|| panic!("no answer for {u}"));
                (u, sessions)
            })
            .collect()
    }

    /// The end offset of every input partition (`topic:partition`).
    fn end_offsets(&self) -> BTreeMap<String, i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("a consumer");
        let mut ends = BTreeMap::new();
        for topic in &self.topics {
            for partition in 0..PARTITIONS {
                let (_, high) = consumer
                    .fetch_watermarks(topic, partition, Duration::from_secs(10))
                    .expect("end offsets");
                ends.insert(format!("{topic}:{partition}"), high);
            }
        }
        ends
    }

    /// `sessiond replay --session ID --trace`: what sessiond made of the session, event by
    /// event.
    fn trace(&self, binary: &Path, session: &str) -> String {
        let trace = Command::new(binary)
            .args(["replay", "--brokers", &self.brokers, "--topics"])
            .arg(self.topics.join(","))
            .args(["--session", session, "--trace"])
            .output()
            .expect("sessiond replay");
        format!(
            "{}{}",
            String::from_utf8_lossy(&trace.stdout),
            String::from_utf8_lossy(&trace.stderr)
        )
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

    /// The user's active sessions by id, if answered 200.
    fn sessions(&self, user: &str) -> Option<Sessions> {
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
                .map(|s| (s["id"].as_str().expect("id").to_owned(), s.clone()))
                .collect(),
        )
    }

    /// The user's active session ids, if answered 200.
    fn ids(&self, user: &str) -> Option<BTreeSet<String>> {
        self.sessions(user).map(|s| s.into_keys().collect())
    }

    /// Whether the peer has folded every record below `ends` (its `/progress` names the
    /// next offset of each partition it has processed).
    fn caught_up(&self, ends: &BTreeMap<String, i64>) -> bool {
        let Some(progress) = self
            .get("/progress", None)
            .ok()
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        else {
            return false;
        };
        ends.iter().all(|(partition, end)| {
            *end == 0
                || progress["offsets"][partition]
                    .as_i64()
                    .is_some_and(|next| next >= *end)
        })
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
        if !name.starts_with("read p99.9")
            && !name.starts_with("read max")
            && !name.starts_with("response")
        {
            kit::headline(kit::Headline {
                figure: &format!(
                    "Kafka Streams side by side ({} records, {store} store): {}",
                    kit::thousands(run.records as f64),
                    name.trim()
                ),
                sessiond: a,
                peer: format!("Kafka Streams {b}"),
                target: "",
                met: None,
            });
        }
    }
    out
}

/// The two systems' answers side by side, session by session.
mod compare {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Write;

    use serde_json::{Map, Value};

    use super::Shown;

    /// What one system showed of one session: to whom, and the session (normalized, as the
    /// first of them got it; `None` when no user was shown it).
    #[derive(Debug, Default, PartialEq)]
    pub struct Seen {
        pub users: BTreeSet<String>,
        pub session: Option<Value>,
    }

    /// A session the two systems answered differently.
    #[derive(Debug)]
    pub struct Difference {
        pub session: String,
        pub sessiond: Seen,
        pub streams: Seen,
    }

    /// The outcome of comparing every user's answer.
    #[derive(Debug)]
    pub struct Comparison {
        /// Sessions either system showed to some user.
        pub sessions: usize,
        /// (user, session) pairs either system showed.
        pub pairs: usize,
        /// The sessions they disagree on, by id.
        pub differ: Vec<Difference>,
    }

    /// Compares the two systems' answers session by session: the same users must be shown
    /// each session, and the session must have the same fields and values (after
    /// [`normalize`] takes out the two JSON writers' differences of form).
    pub fn answers(sessiond: &Shown, streams: &Shown) -> Comparison {
        let (a, b) = (by_session(sessiond), by_session(streams));
        let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let pairs = ids
            .iter()
            .map(|id| {
                let users = |m: &BTreeMap<String, Seen>| {
                    m.get(*id).map(|s| s.users.clone()).unwrap_or_default()
                };
                users(&a).union(&users(&b)).count()
            })
            .sum();
        let mut differ: Vec<Difference> = ids
            .iter()
            .filter(|id| a.get(**id) != b.get(**id))
            .map(|id| Difference {
                session: (*id).clone(),
                sessiond: take(&a, id),
                streams: take(&b, id),
            })
            .collect();
        // Sessions shown to different users first: they are the ones a user would notice.
        differ.sort_by_key(|d| d.sessiond.users == d.streams.users);
        Comparison {
            sessions: ids.len(),
            pairs,
            differ,
        }
    }

    fn take(m: &BTreeMap<String, Seen>, id: &str) -> Seen {
        m.get(id)
            .map(|s| Seen {
                users: s.users.clone(),
                session: s.session.clone(),
            })
            .unwrap_or_default()
    }

    fn by_session(shown: &Shown) -> BTreeMap<String, Seen> {
        let mut out: BTreeMap<String, Seen> = BTreeMap::new();
        for (user, sessions) in shown {
            for (id, session) in sessions {
                let seen = out.entry(id.clone()).or_default();
                seen.users.insert(user.clone());
                seen.session.get_or_insert_with(|| normalize(None, session));
            }
        }
        out
    }

    /// One form for both JSON writers: sessiond writes `ServiceStack`'s JSON (enums by
    /// their API name, dates with milliseconds, `false` and empty lists written out, nulls
    /// left out), the peer protobuf's JSON mapping (enums by proto name, dates with as many
    /// fraction digits as needed, defaults left out). Values that mean "nothing" are
    /// dropped, enum names lose their proto prefix and become `PascalCase`, and dates are
    /// written with nine fraction digits.
    pub fn normalize(key: Option<&str>, value: &Value) -> Value {
        match value {
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .filter(|(_, v)| !nothing(v))
                    .map(|(k, v)| (k.clone(), normalize(Some(k), v)))
                    .collect::<Map<String, Value>>(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| normalize(key, v)).collect()),
            Value::String(text) => Value::String(match key {
                Some(k) if k.starts_with("date") => date(text),
                Some(k) if ENUMS.contains(&k) => enum_name(text),
                _ => text.clone(),
            }),
            other => other.clone(),
        }
    }

    /// The fields whose values are enums, in either JSON.
    const ENUMS: [&str; 7] = [
        "dialState",
        "callState",
        "queueState",
        "holdReason",
        "channel",
        "direction",
        "role",
    ];

    /// Proto enum prefixes, longest first (`MEMBER_CALL_STATE_` before `CALL_STATE_`).
    const PREFIXES: [&str; 8] = [
        "MEMBER_CALL_STATE_",
        "MEMBER_ROLE_",
        "HOLD_REASON_",
        "QUEUE_STATE_",
        "CALL_STATE_",
        "DIAL_STATE_",
        "DIRECTION_",
        "CHANNEL_",
    ];

    fn nothing(v: &Value) -> bool {
        match v {
            Value::Null | Value::Bool(false) => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }
    }

    /// `CALL_STATE_CONNECTED` and `Connected` both become `Connected`.
    fn enum_name(text: &str) -> String {
        let Some(rest) = PREFIXES.iter().find_map(|p| text.strip_prefix(p)) else {
            return text.to_owned();
        };
        rest.split('_')
            .map(|word| {
                let lower = word.to_ascii_lowercase();
                let mut chars = lower.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// An RFC 3339 UTC date with nine fraction digits (`...:27Z` and `...:27.000Z` agree).
    fn date(text: &str) -> String {
        let Some(body) = text.strip_suffix('Z') else {
            return text.to_owned();
        };
        let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
        format!("{whole}.{fraction:0<9}Z")
    }

    impl Comparison {
        /// What was compared and, for the first `examples` disagreements, both answers.
        pub fn report(&self, examples: usize) -> String {
            let users_differ = self
                .differ
                .iter()
                .filter(|d| d.sessiond.users != d.streams.users)
                .count();
            let (mut fields_differ, mut by_field) = (0, BTreeMap::<String, usize>::new());
            for d in &self.differ {
                if let (Some(a), Some(b)) = (&d.sessiond.session, &d.streams.session)
                    && a != b
                {
                    fields_differ += 1;
                    for (field, _, _) in fields(a, b) {
                        *by_field.entry(field).or_default() += 1;
                    }
                }
            }
            let mut out = format!(
                "answers compared: {} sessions shown to some user ({} user-session pairs); {} \
                 disagree: {users_differ} shown to different users, {fields_differ} with different \
                 fields\n",
                self.sessions,
                self.pairs,
                self.differ.len(),
            );
            if !by_field.is_empty() {
                let fields: Vec<String> =
                    by_field.iter().map(|(f, n)| format!("{f} {n}")).collect();
                let _ = writeln!(out, "  sessions differing per field: {}", fields.join(", "));
            }
            for d in self.differ.iter().take(examples) {
                let _ = writeln!(out, "  {}:", d.session);
                let _ = writeln!(out, "    sessiond shows it to      {}", users(&d.sessiond));
                let _ = writeln!(out, "    Kafka Streams shows it to {}", users(&d.streams));
                match (&d.sessiond.session, &d.streams.session) {
                    (Some(a), Some(b)) => {
                        for (field, x, y) in fields(a, b) {
                            let _ = writeln!(out, "    {field}: sessiond {x}, Kafka Streams {y}");
                        }
                    }
                    (Some(only), None) => {
                        let _ = writeln!(out, "    sessiond's answer: {only}");
                    }
                    (None, Some(only)) => {
                        let _ = writeln!(out, "    Kafka Streams' answer: {only}");
                    }
                    (None, None) => {}
                }
            }
            if self.differ.len() > examples {
                let _ = writeln!(out, "  ... and {} more", self.differ.len() - examples);
            }
            out
        }
    }

    fn users(seen: &Seen) -> String {
        if seen.users.is_empty() {
            "no user".into()
        } else {
            seen.users.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    }

    /// The top-level fields two sessions differ in, with both values (`-` for absent).
    fn fields(a: &Value, b: &Value) -> Vec<(String, String, String)> {
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return vec![("session".into(), a.to_string(), b.to_string())];
        };
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let show = |v: Option<&Value>| v.map_or_else(|| "-".to_owned(), Value::to_string);
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| (k.clone(), show(a.get(k)), show(b.get(k))))
            .collect()
    }
}
