//! Stream clients in processes of their own, so that neither the server nor any client
//! holds more descriptors than one process may (20,000 here): the bench starts itself again
//! with `LIVE_ROLE=client` for each share of the users.
//!
//! A client opens one stream per user of its share (64 connecting at a time), checks that
//! each begins with a snapshot of exactly that user's session, and prints `ready`. After
//! the bench writes `go` to its standard input, it prints when each stream's next event
//! arrived (`CLOCK_MONOTONIC`, which every process on the machine shares) or what went
//! wrong, then `done`, and keeps every connection open until its input closes.
//!
//! In `keepalive` mode a client makes one authenticated `GET /sessions/active` on each
//! connection instead and keeps the connection open and idle: what a connection costs the
//! server without a stream.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

use crate::common;
use crate::common::sse::SseStream;

/// Streams one client process opens at most: its descriptors stay well under 20,000.
pub const PER_PROCESS: usize = 9_500;
/// How long a client waits, after `go`, for every stream's event.
const EVENT_WAIT: Duration = Duration::from_secs(120);
/// Connections being opened at once per client: the listen backlog never overflows.
const OPENING: usize = 64;

/// What each connection of a client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live stream, then its next event.
    Stream,
    /// One authenticated GET, then idle.
    KeepAlive,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::KeepAlive => "keepalive",
        }
    }
}

/// The user id of user number `u`.
pub fn user(u: usize) -> String {
    format!("U-fan-{u:05}")
}

/// The session user number `u` has.
pub fn session(u: usize) -> String {
    format!("S-{}", user(u))
}

/// Now on the clock every process shares, in nanoseconds.
pub fn mono_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the struct passed.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// What the client processes reported.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Arrival time of each user's event, by user number.
    pub arrived: HashMap<usize, u64>,
    /// Streams that failed, got something else, or nothing.
    pub problems: Vec<String>,
}

/// Client processes holding one connection per user in `0..users`.
pub struct Fleet {
    children: Vec<(Child, Option<ChildStdin>)>,
    lines: std::sync::mpsc::Receiver<(usize, String)>,
}

impl Fleet {
    /// Starts the clients and waits until every connection is open (a stream past its
    /// snapshot). Panics, naming them, if any failed.
    pub fn open(port: u16, secret: &str, users: usize, mode: Mode) -> Self {
        let exe = std::env::current_exe().expect("current exe");
        let (tx, lines) = std::sync::mpsc::channel();
        let mut children = Vec::new();
        let mut from = 0;
        while from < users {
            let to = (from + PER_PROCESS).min(users);
            let mut child = Command::new(&exe)
                .env("LIVE_ROLE", "client")
                .env("LIVE_PORT", port.to_string())
                .env("LIVE_SECRET", secret)
                .env("LIVE_USERS", format!("{from}..{to}"))
                .env("LIVE_MODE", mode.name())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("starting a client process");
            let stdout = child.stdout.take().expect("stdout");
            let stdin = child.stdin.take();
            let n = children.len();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send((n, line)).is_err() {
                        break;
                    }
                }
                let _ = tx.send((n, "exit".to_owned()));
            });
            children.push((child, stdin));
            from = to;
        }
        let fleet = Self { children, lines };
        let mut ready = 0;
        let mut failures = Vec::new();
        while ready < fleet.children.len() {
            let (n, line) = fleet
                .lines
                .recv_timeout(Duration::from_secs(600))
                .expect("client processes silent for 10 minutes");
            match line.split_once(' ').unwrap_or((&line, "")) {
                ("ready", _) => ready += 1,
                ("fail", what) => failures.push(what.to_owned()),
                ("exit", _) => panic!("client process {n} exited before it was ready"),
                _ => {}
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {users} connections failed to open, first: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        fleet
    }

    /// Tells every client to start waiting for its events (call just before producing them).
    pub fn go(&mut self) {
        for (_, stdin) in &mut self.children {
            let stdin = stdin.as_mut().expect("stdin");
            stdin.write_all(b"go\n").expect("writing to a client");
            stdin.flush().expect("writing to a client");
        }
    }

    /// Waits for every client's report of its streams' events.
    pub fn outcome(&self) -> Outcome {
        let mut outcome = Outcome::default();
        let mut done = 0;
        while done < self.children.len() {
            let (n, line) = self
                .lines
                .recv_timeout(EVENT_WAIT + Duration::from_secs(60))
                .expect("client processes silent");
            let mut words = line.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("got"), Some(u), Some(at)) => {
                    outcome
                        .arrived
                        .insert(u.parse().expect("user"), at.parse().expect("time"));
                }
                (Some("done"), _, _) => done += 1,
                (Some("exit"), _, _) => panic!("client process {n} exited before reporting"),
                _ => outcome.problems.push(line),
            }
        }
        outcome
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for (child, stdin) in &mut self.children {
            // Closing its input lets a client close its connections and exit.
            drop(stdin.take());
            let _ = child.wait();
        }
    }
}

/// The client process (`LIVE_ROLE=client`).
pub fn run() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} unset"));
    let port: u16 = var("LIVE_PORT").parse().expect("LIVE_PORT");
    let secret = var("LIVE_SECRET");
    let (from, to) = var("LIVE_USERS")
        .split_once("..")
        .map(|(a, b)| (a.parse().expect("from"), b.parse().expect("to")))
        .expect("LIVE_USERS from..to");
    let mode = match var("LIVE_MODE").as_str() {
        "keepalive" => Mode::KeepAlive,
        _ => Mode::Stream,
    };
    crate::raise_fd_limit(to - from + 256);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(clients(port, &secret, from..to, mode));
}

async fn clients(port: u16, secret: &str, users: std::ops::Range<usize>, mode: Mode) {
    let count = users.len();
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<String>();
    let opening = Arc::new(Semaphore::new(OPENING));
    for u in users {
        let token = common::token_with_roles(secret, &user(u), &["User"]);
        let (opened_tx, event_tx, opening) =
            (opened_tx.clone(), event_tx.clone(), Arc::clone(&opening));
        tokio::spawn(async move {
            let permit = opening.acquire_owned().await.expect("semaphore");
            match mode {
                Mode::Stream => {
                    let opened = open_stream(port, &token, u).await;
                    drop(permit);
                    let mut stream = match opened {
                        Ok(stream) => stream,
                        Err(e) => {
                            let _ = opened_tx.send(Err(format!("{} {e}", user(u))));
                            return;
                        }
                    };
                    let _ = opened_tx.send(Ok(()));
                    let report = match stream.next().await {
                        Ok(e)
                            if e.name == "upsert"
                                && e.data["id"] == session(u).as_str()
                                && e.data["callState"] == "Hold" =>
                        {
                            format!("got {u} {}", mono_ns())
                        }
                        other => format!("wrong {u} {other:?}"),
                    };
                    let _ = event_tx.send(report);
                    // Hold the connection until the process exits.
                    let _ = stream.next().await;
                    std::future::pending::<()>().await;
                }
                Mode::KeepAlive => {
                    let opened = keep_alive(port, &token).await;
                    drop(permit);
                    match opened {
                        Ok(connection) => {
                            let _ = opened_tx.send(Ok(()));
                            let _connection = connection;
                            std::future::pending::<()>().await;
                        }
                        Err(e) => {
                            let _ = opened_tx.send(Err(format!("{} {e}", user(u))));
                        }
                    }
                }
            }
        });
    }
    drop((opened_tx, event_tx));
    let mut out = std::io::stdout().lock();
    for _ in 0..count {
        match opened_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => writeln!(out, "fail {e}").expect("stdout"),
            None => break,
        }
    }
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    drop(out);

    // Standard input, line by line (read on a thread: tokio's is not enabled here).
    let (input_tx, mut input) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if input_tx.send(line).is_err() {
                break;
            }
        }
    });
    if mode == Mode::Stream && input.recv().await.as_deref() == Some("go") {
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        let mut reports = Vec::with_capacity(count);
        while reports.len() < count {
            match tokio::time::timeout_at(deadline, event_rx.recv()).await {
                Ok(Some(report)) => reports.push(report),
                Ok(None) | Err(_) => break,
            }
        }
        let mut out = std::io::stdout().lock();
        for report in &reports {
            writeln!(out, "{report}").expect("stdout");
        }
        if reports.len() < count {
            writeln!(
                out,
                "missing {} streams had no event within {EVENT_WAIT:?}",
                count - reports.len()
            )
            .expect("stdout");
        }
        writeln!(out, "done").expect("stdout");
        out.flush().expect("stdout");
    }
    // Until the bench closes our input.
    while input.recv().await.is_some() {}
}

/// A stream of user `u`, past its snapshot (which must be exactly that user's session).
async fn open_stream(port: u16, token: &str, u: usize) -> Result<SseStream, String> {
    let mut stream = SseStream::open(port, token).await?;
    let snapshot = stream.next().await?;
    let ids: Vec<&str> = snapshot.data["sessions"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["id"].as_str()).collect())
        .unwrap_or_default();
    if snapshot.name != "snapshot" || ids != [session(u).as_str()] {
        return Err(format!("unexpected first event {snapshot:?}"));
    }
    Ok(stream)
}

/// A connection that has made one authenticated request and is idle.
async fn keep_alive(port: u16, token: &str) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut reader = tokio::io::BufReader::new(stream);
    reader
        .get_mut()
        .write_all(
            format!(
                "GET /sessions/active HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .map_err(|e| format!("request: {e}"))?;
    let (status, headers) = common::sse::read_head(&mut reader).await?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    let length = headers
        .iter()
        .find_map(|h| h.strip_prefix("content-length:"))
        .map_or(Ok(0), |v| {
            v.trim().parse().map_err(|_| format!("length {v:?}"))
        })?;
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(reader.into_inner())
}
