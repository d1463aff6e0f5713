//! The real binary against the test broker: the broker killed for 10 s and restarted (its
//! data directory kept) while sessiond runs. Reads never fail, readiness reports the
//! outage, and after recovery the projection equals a fresh replay.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::broker::{Broker, SaslSsl, unique_topics};
use common::{KillOnDrop, http_get_full};
use sessiond::api::auth::{TokenRequest, mint_token};
use sessiond::contract::dto::{GetActiveSessionsResponse, SessionInfo};
use sessiond::ingest::event_log;
use sessiond::kafka::produce::{Topics, produce_lines};
use sessiond::projection::{Fold, FoldConfig, Projection};

const DEMO: &str = include_str!("../examples/demo.jsonl");
const SECRET: &str = "outage-secret";

fn token(user: &str) -> String {
    mint_token(&TokenRequest {
        secret: SECRET.into(),
        sub: user.into(),
        roles: vec!["User".into()],
        ttl: Duration::from_secs(600),
        issuer: None,
        audience: None,
    })
    .unwrap()
}

/// Whether every user's `/sessions/active` answers 200 with the expected response.
fn serves_every_user(port: u16, expected: &[(String, serde_json::Value)]) -> bool {
    expected.iter().all(|(user, want)| {
        let (status, _, body) = http_get_full(port, "/sessions/active", Some(&token(user)));
        status == 200
            && serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .as_ref()
                == Some(want)
    })
}

/// Each user's expected response, from folding the whole file.
fn expected_responses() -> Vec<(String, serde_json::Value)> {
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    event_log::load(DEMO.as_bytes(), "expected", &mut fold).unwrap();
    let users = common::owners(&projection);
    users
        .into_iter()
        .map(|user| {
            let response = GetActiveSessionsResponse {
                sessions: projection
                    .sessions_for_user(&user)
                    .iter()
                    .map(|s| SessionInfo::from(&**s))
                    .collect(),
            };
            (user, serde_json::to_value(response).unwrap())
        })
        .collect()
}

fn wait(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_outage_is_reported_and_survived() {
    let dir = common::work_dir("outage");
    let mut broker = Broker::start_durable(&dir);
    let (calls, members) = unique_topics("outage");
    broker.create_topics(&[&calls, &members], 2).await;
    let topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    let lines: Vec<&str> = DEMO.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    produce_lines(&broker.settings(), &topics, first.join("\n").as_bytes())
        .await
        .unwrap();

    let port = common::broker::free_port();
    let _service = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_sessiond"))
            .args([
                "serve",
                "--brokers",
                &broker.brokers,
                "--topics",
                &format!("{calls},{members}"),
            ])
            .args([
                "--http",
                &format!("127.0.0.1:{port}"),
                "--jwt-secret",
                SECRET,
                "--stale-after",
                "2s",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let alice = token("U-acme-alice");
    tokio::task::spawn_blocking(move || {
        wait("ready", Duration::from_secs(60), move || {
            http_get_full(port, "/readyz", None).0 == 200
        })
    })
    .await
    .unwrap();

    // The outage: every read answers; readiness and the stale header report it.
    broker.stop();
    let alice_reads = alice.clone();
    let (saw_unready, saw_stale_header) = tokio::task::spawn_blocking(move || {
        let (mut unready, mut stale) = (None, false);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            let (status, headers, _) = http_get_full(port, "/sessions/active", Some(&alice_reads));
            assert_eq!(status, 200, "reads never fail during the outage");
            stale |= headers.contains("x-sessiond-stale: no broker");
            let (status, _, body) = http_get_full(port, "/readyz", None);
            if status == 503 {
                unready = Some(body);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        (unready, stale)
    })
    .await
    .unwrap();
    let reason = saw_unready.expect("/readyz reports the outage");
    assert!(reason.contains("no broker"), "{reason}");
    assert!(saw_stale_header, "reads say they are stale");

    // Recovery: the rest of the log arrives, and the projection equals a fresh replay.
    broker.restart();
    produce_lines(&broker.settings(), &topics, second.join("\n").as_bytes())
        .await
        .unwrap();
    let expected = expected_responses();
    assert!(expected.len() > 5);
    tokio::task::spawn_blocking(move || {
        let matches =
            || http_get_full(port, "/readyz", None).0 == 200 && serves_every_user(port, &expected);
        wait(
            "caught up and equal to a fresh replay",
            Duration::from_secs(60),
            Box::new(matches),
        );
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `serve` with `--kafka-option`s for a SASL_SSL listener and `password`; its log (info
/// level) goes to `log`.
fn serve_sasl_ssl(
    sasl: &SaslSsl,
    password: &str,
    topics: &str,
    port: u16,
    log: &std::path::Path,
) -> KillOnDrop {
    serve_with_options(sasl, sasl.options(password), topics, port, log)
}

/// `serve` against a SASL_SSL listener with these `--kafka-option`s.
fn serve_with_options(
    sasl: &SaslSsl,
    options: Vec<(String, String)>,
    topics: &str,
    port: u16,
    log: &std::path::Path,
) -> KillOnDrop {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sessiond"));
    command.args(["serve", "--brokers", &sasl.address, "--topics", topics]);
    for (key, value) in options {
        command.args(["--kafka-option", &format!("{key}={value}")]);
    }
    KillOnDrop(
        command
            .args([
                "--http",
                &format!("127.0.0.1:{port}"),
                "--jwt-secret",
                SECRET,
            ])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sasl_ssl_cluster_is_read_and_refused_credentials_are_reported() {
    const USER: &str = "sessiond";
    const PASSWORD: &str = "scram-secret-1";
    let broker = tokio::task::spawn_blocking(|| Broker::start_sasl_ssl(USER, PASSWORD))
        .await
        .unwrap();
    let sasl = broker.sasl_ssl().clone();
    let work = tempfile::tempdir().unwrap();
    let (calls, members) = unique_topics("sasl");
    let topics = format!("{calls},{members}");

    // Topics created, and events produced, over the secured listener only.
    sessiond::kafka::admin::ensure_topics(&sasl.settings(PASSWORD), &[calls, members], 2)
        .await
        .expect("creating topics over SASL_SSL");
    let events = work.path().join("demo.jsonl");
    std::fs::write(&events, DEMO).unwrap();
    let mut produce: Vec<String> = vec![
        "produce".into(),
        events.display().to_string(),
        "--brokers".into(),
        sasl.address.clone(),
        "--topics".into(),
        topics.clone(),
    ];
    for (key, value) in sasl.options(PASSWORD) {
        produce.extend(["--kafka-option".into(), format!("{key}={value}")]);
    }
    let produce: Vec<&str> = produce.iter().map(String::as_str).collect();
    let (ok, _, stderr) = common::run_sessiond(&produce);
    assert!(ok, "sessiond produce over SASL_SSL: {stderr}");

    // The right password: caught up, and serving what a replay of the file serves.
    let port = common::broker::free_port();
    let good_log = work.path().join("good.log");
    let _good = serve_sasl_ssl(&sasl, PASSWORD, &topics, port, &good_log);
    let expected = expected_responses();
    assert!(expected.len() > 5);
    let log = good_log.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(60);
        loop {
            let ready = http_get_full(port, "/readyz", None).0 == 200;
            if ready && serves_every_user(port, &expected) {
                eprintln!("SASL_SSL: ready and serving in {:?}", started.elapsed());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serving over SASL_SSL within 60 s; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();

    // A wrong password: the process keeps running, /readyz says why, the log says it once.
    let port = common::broker::free_port();
    let bad_log = work.path().join("bad.log");
    let mut bad = serve_sasl_ssl(&sasl, "not-the-password", &topics, port, &bad_log);
    let (reason, took) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            let (status, _, body) = http_get_full(port, "/readyz", None);
            if status == 503 && body.contains("authentication failed") {
                return (body, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "/readyz names the refused credentials within 30 s; last: {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    eprintln!("wrong password: /readyz after {took:?}: {reason}");
    assert!(
        reason.contains("loading: authentication failed: "),
        "{reason}"
    );
    assert!(reason.contains("SASL authentication error"), "{reason}");
    // Several of librdkafka's reconnect attempts later: still running, still saying why,
    // and the refusal logged once.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        bad.0.try_wait().unwrap().is_none(),
        "sessiond keeps running"
    );
    let (status, _, body) = http_get_full(port, "/readyz", None);
    assert_eq!(status, 503);
    assert!(body.contains("authentication failed"), "{body}");
    let log = std::fs::read_to_string(&bad_log).unwrap();
    if std::env::var_os("SESSIOND_KAFKA_VERBOSE").is_some() {
        eprintln!("--- sessiond's log with the wrong password ---\n{log}");
    }
    let refusals = log
        .lines()
        .filter(|l| l.contains("refused sessiond's credentials"))
        .count();
    assert_eq!(refusals, 1, "the refusal is logged once:\n{log}");
    // Not librdkafka's own line on every reconnect attempt either (those are debug lines).
    let mentions = log
        .lines()
        .filter(|l| l.contains("SASL authentication error"))
        .count();
    assert_eq!(
        mentions, 1,
        "only sessiond's line names the refusal:\n{log}"
    );
    drop(bad);

    // A CA that did not sign the broker's certificate: the handshake fails, and /readyz
    // says so rather than waiting on "no broker".
    let stranger = common::broker::make_tls(&work.path().join("stranger-ca")).0;
    let options = sasl
        .options(PASSWORD)
        .into_iter()
        .map(|(key, value)| match key.as_str() {
            "ssl.ca.location" => (key, stranger.display().to_string()),
            _ => (key, value),
        })
        .collect();
    let port = common::broker::free_port();
    let tls_log = work.path().join("tls.log");
    let _untrusting = serve_with_options(&sasl, options, &topics, port, &tls_log);
    let reason = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            let (status, _, body) = http_get_full(port, "/readyz", None);
            if status == 503 && body.contains("TLS handshake failed") {
                return body;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "/readyz names the failed TLS handshake within 30 s; last: {status} {body}\n{}",
                std::fs::read_to_string(&tls_log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    assert!(
        reason.contains("loading: TLS handshake failed: ")
            && reason.contains("certificate verify failed"),
        "{reason}"
    );
    drop(broker);
}
