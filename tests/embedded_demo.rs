//! `sessiond` with no arguments: embedded Kafka, simulated traffic, and a printed token
//! whose user has live sessions right away.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http_get;

#[test]
fn the_embedded_default_prints_a_working_curl_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .env("SESSIOND_HTTP", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut printed = Vec::new();
    let curl = loop {
        let line = lines_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                panic!("no curl line within 60 s; printed:\n{}", printed.join("\n"))
            });
        printed.push(line.clone());
        if line.trim_start().starts_with("curl ") {
            break line;
        }
    };
    let token = curl
        .split("Bearer ")
        .nth(1)
        .and_then(|t| t.split('\'').next())
        .expect("a token in the curl line");
    assert!(
        curl.contains(&format!("http://localhost:{port}/sessions/active")),
        "{curl}"
    );
    let (status, body) = http_get(port, "/sessions/active", Some(token));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{body}");
    let response: serde_json::Value = serde_json::from_str(&body).unwrap();
    let sessions = response["sessions"].as_array().unwrap();
    assert!(
        !sessions.is_empty(),
        "the printed user has live sessions: {body}"
    );
    assert!(
        printed.iter().any(|l| l.contains("embedded Kafka")),
        "{printed:?}"
    );
}
