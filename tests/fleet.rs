//! A fleet: three stateless replicas (checkpoints in Kafka only, no snapshot directory)
//! behind a real nginx (Debian's package, started here on free ports with its own
//! configuration and temporary directory), under continuous simulated traffic against
//! Apache Kafka. One replica is SIGKILLed, another stopped and started again with nothing
//! on disk (it restores from the checkpoint topic), and the first started again the same
//! way, while a client reads through nginx and SSE clients stay connected through it.
//! Every read through nginx succeeds, every replica converges to the digest of a fold from
//! the beginning, and every SSE client ends with exactly its user's sessions.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::broker::{Broker, free_port, unique_topics};
use common::sse::SseStream;
use common::{KillOnDrop, http_get, token_with_roles, wait_until};

const SECRET: &str = "fleet-secret";
/// The users whose sessions the SSE clients and the reader follow (the simulator deals 12
/// agents round-robin over its three accounts, numbered from 1).
const USERS: [&str; 6] = [
    "U-acme-1",
    "U-acme-2",
    "U-northwind-1",
    "U-northwind-2",
    "U-blueharbor-1",
    "U-blueharbor-3",
];

/// Starts nginx in the foreground, one process, balancing `upstreams` on `port`: reads go
/// to the next replica on a refused connection, a timeout, 502 or 503 (a replica loading);
/// streams are not buffered.
fn start_nginx(work: &Path, port: u16, upstreams: &[u16]) -> KillOnDrop {
    let servers: String = upstreams
        .iter()
        .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;\n"))
        .collect();
    let http = format!(
        r#"    upstream sessiond {{
{servers}        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_connect_timeout 1s;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 3;
        location / {{
            proxy_pass http://sessiond;
        }}
        location = /sessions/active/stream {{
            proxy_pass http://sessiond;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}"#
    );
    let child = common::nginx::configure(work, "master_process off;", &http)
        .spawn()
        .expect("start nginx");
    let guard = KillOnDrop(child);
    wait_until("nginx listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    guard
}

/// Starts a stateless replica on `port`: checkpoints in the topic only, every 2 s.
fn start_replica(
    brokers: &str,
    topics: &str,
    checkpoints: &str,
    port: u16,
    log: &Path,
) -> KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .args(["serve", "--brokers", brokers, "--topics", topics])
        .args([
            "--checkpoint-topic",
            checkpoints,
            "--snapshot-interval",
            "2s",
        ])
        .args([
            "--http",
            &format!("127.0.0.1:{port}"),
            "--jwt-secret",
            SECRET,
        ])
        .args(["--log-format", "json"])
        // The reader reads as fast as it can, far past a person's request budget.
        .args(["--rate-limit", "0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

fn admin_state(port: u16) -> Option<serde_json::Value> {
    let token = token_with_roles(SECRET, "ops", &["SystemAdministrator"]);
    let (status, body) = http_get(port, "/admin/state", Some(&token));
    (status == 200).then(|| serde_json::from_str(&body).expect("JSON"))
}

fn ready(port: u16) -> bool {
    http_get(port, "/readyz", None).0 == 200
}

/// A user's sessions as `GET /sessions/active` answers them on `port`, by id.
fn sessions(port: u16, token: &str) -> Option<BTreeMap<String, serde_json::Value>> {
    let (status, body) = http_get(port, "/sessions/active", Some(token));
    (status == 200)
        .then(|| by_id(&serde_json::from_str::<serde_json::Value>(&body).unwrap()["sessions"]))
}

fn by_id(sessions: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    sessions
        .as_array()
        .expect("a sessions array")
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s.clone()))
        .collect()
}

/// What an SSE client holds: its table of sessions, and how often it had to reconnect.
#[derive(Default)]
struct Client {
    table: std::sync::Mutex<BTreeMap<String, serde_json::Value>>,
    reconnects: AtomicU64,
    snapshots: AtomicU64,
}

/// Follows `user`'s stream through nginx until `stop`, as a browser's EventSource would:
/// applies the snapshot frame and every change, and on a dropped connection reconnects with
/// `Last-Event-ID` (another replica answers with a fresh snapshot frame).
async fn follow(port: u16, token: String, client: Arc<Client>, stop: Arc<AtomicBool>) {
    let mut last_id = String::new();
    while !stop.load(Ordering::Acquire) {
        let mut headers = format!("Authorization: Bearer {token}\r\n");
        if !last_id.is_empty() {
            headers.push_str(&format!("Last-Event-ID: {last_id}\r\n"));
        }
        let stream = match SseStream::connect(port, &headers).await {
            Ok((200, Some(stream))) => Some(stream),
            _ => None,
        };
        if let Some(mut stream) = stream {
            loop {
                let event = tokio::select! {
                    event = stream.next() => event,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {
                        if stop.load(Ordering::Acquire) { return; }
                        continue;
                    }
                };
                let Ok(event) = event else { break };
                let mut table = client.table.lock().unwrap();
                match event.name.as_str() {
                    "snapshot" => {
                        *table = by_id(&event.data["sessions"]);
                        client.snapshots.fetch_add(1, Ordering::Relaxed);
                    }
                    "upsert" => {
                        table.insert(event.data["id"].as_str().unwrap().to_owned(), event.data);
                    }
                    "remove" => {
                        table.remove(event.data["id"].as_str().unwrap());
                    }
                    // The replica is shutting down (or the stream was replaced): the
                    // client reconnects through the balancer, resuming after `last_id`.
                    "end" => {
                        assert_eq!(event.data["reason"], "shutdown", "{:?}", event.data);
                        break;
                    }
                    other => panic!("unexpected event {other}"),
                }
                last_id = event.id;
            }
        }
        client.reconnects.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_behind_nginx_survives_a_kill_and_empty_disk_restarts() {
    let broker = Broker::start();
    let (calls, members) = unique_topics("fleet");
    broker.create_topics(&[&calls, &members], 2).await;
    let topics = format!("{calls},{members}");
    let checkpoints = format!("{calls}.checkpoints");
    let brokers = broker.brokers.clone();
    let work = common::work_dir("fleet");

    // About 40 s of traffic: 12 agents, 60 events a second.
    let mut simulator = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_sessiond"))
            .args(["simulate", "--brokers", &brokers, "--topics", &topics])
            .args([
                "--rate",
                "60",
                "--duration",
                "40s",
                "--users",
                "12",
                "--seed",
                "3",
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let log = |name: &str| work.join(format!("{name}.log"));
    let mut replicas: Vec<Option<KillOnDrop>> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            Some(start_replica(
                &brokers,
                &topics,
                &checkpoints,
                *port,
                &log(&format!("r{i}")),
            ))
        })
        .collect();
    let ports_ = ports.clone();
    tokio::task::spawn_blocking(move || {
        wait_until("three replicas ready", Duration::from_secs(60), || {
            ports_.iter().all(|p| ready(*p))
        });
    })
    .await
    .unwrap();
    let lb = free_port();
    let _nginx = start_nginx(&work, lb, &ports);

    // A reader through nginx, all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, reads) = (Arc::clone(&stop), Arc::clone(&reads));
        let tokens: Vec<String> = USERS
            .iter()
            .map(|u| token_with_roles(SECRET, u, &["User"]))
            .collect();
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                let (status, body) =
                    http_get(lb, "/sessions/active", Some(&tokens[i % tokens.len()]));
                if status != 200 {
                    failures.push(format!("{status} {body}"));
                }
                reads.fetch_add(1, Ordering::Relaxed);
                i += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            failures
        })
    };
    // SSE clients through nginx, two per replica by nginx's round robin.
    let clients: Vec<Arc<Client>> = USERS.iter().map(|_| Arc::default()).collect();
    let followers: Vec<_> = USERS
        .iter()
        .zip(&clients)
        .map(|(user, client)| {
            tokio::spawn(follow(
                lb,
                token_with_roles(SECRET, user, &["User"]),
                Arc::clone(client),
                Arc::clone(&stop),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(6)).await;
    // r0: SIGKILL.
    let mut r0 = replicas[0].take().unwrap();
    r0.0.kill().unwrap();
    r0.0.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // r1: a graceful stop, and a start with nothing on disk.
    // As Kubernetes does it: SIGTERM; the replica serves through its grace period (5 s by
    // default), ends its streams with a retry hint, drains, writes its last checkpoint and
    // exits, well before a kubelet's SIGKILL.
    let mut r1 = replicas[1].take().unwrap();
    unsafe { libc::kill(r1.0.id() as i32, libc::SIGTERM) };
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while r1.0.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "r1 exits within 15 s of SIGTERM, streams open or not"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    replicas[1] = Some(start_replica(
        &brokers,
        &topics,
        &checkpoints,
        ports[1],
        &log("r1-again"),
    ));
    let p1 = ports[1];
    let restored = tokio::task::spawn_blocking(move || {
        wait_until("r1 ready again", Duration::from_secs(60), || ready(p1));
        admin_state(p1).unwrap()
    })
    .await
    .unwrap();
    let from = restored["restoredFrom"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        from.starts_with(&format!("checkpoint topic {checkpoints}: checkpoint ")),
        "{restored}"
    );
    // r0: back, with nothing on disk either.
    replicas[0] = Some(start_replica(
        &brokers,
        &topics,
        &checkpoints,
        ports[0],
        &log("r0-again"),
    ));

    let (digest, ports_, brokers_, topics_) = (
        tokio::task::spawn_blocking(move || {
            assert!(simulator.0.wait().unwrap().success(), "the simulator ran");
        }),
        ports.clone(),
        brokers.clone(),
        topics.clone(),
    );
    digest.await.unwrap();
    let digest = tokio::task::spawn_blocking(move || {
        let (digest, _) = common::replay_digest(&brokers_, &topics_);
        wait_until(
            "every replica equals the replay",
            Duration::from_secs(60),
            || {
                ports_
                    .iter()
                    .all(|p| admin_state(*p).is_some_and(|s| s["digest"] == digest.as_str()))
            },
        );
        digest
    })
    .await
    .unwrap();
    for port in &ports {
        let state = admin_state(*port).unwrap();
        assert_eq!(state["digest"], digest.as_str());
    }
    let r0 = admin_state(ports[0]).unwrap();
    assert!(
        r0["restoredFrom"]
            .as_str()
            .is_some_and(|f| f.starts_with("checkpoint topic")),
        "{r0}"
    );

    // Every SSE client holds exactly its user's sessions.
    let p2 = ports[2];
    let clients_ = clients.clone();
    tokio::task::spawn_blocking(move || {
        wait_until(
            "every stream equals its user's sessions",
            Duration::from_secs(30),
            || {
                USERS.iter().zip(&clients_).all(|(user, client)| {
                    let token = token_with_roles(SECRET, user, &["User"]);
                    sessions(p2, &token)
                        .is_some_and(|expected| *client.table.lock().unwrap() == expected)
                })
            },
        );
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Release);
    for follower in followers {
        follower.await.unwrap();
    }
    let failures = reader.join().unwrap();
    let reads = reads.load(Ordering::Relaxed);
    let reconnects: u64 = clients
        .iter()
        .map(|c| c.reconnects.load(Ordering::Relaxed))
        .sum();
    let snapshots: u64 = clients
        .iter()
        .map(|c| c.snapshots.load(Ordering::Relaxed))
        .sum();
    eprintln!(
        "{reads} reads through nginx, {} failed; {reconnects} stream reconnects, {snapshots} snapshot frames",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "reads through nginx failed: {failures:?}"
    );
    assert!(reads > 500, "the reader kept reading: {reads}");
    assert!(
        reconnects >= 1,
        "a stream was cut by the kill or the restart and came back"
    );
    let held: usize = clients.iter().map(|c| c.table.lock().unwrap().len()).sum();
    assert!(held > 0, "the followed users have sessions at the end");
}
