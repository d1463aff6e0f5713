//! A real, unmodified ServiceStack client against the real binary: `sessiond serve` on an
//! event log written here, driven by `@servicestack/client`'s `JsonServiceClient` with the
//! published page's DTOs (`tests/servicestack/client.test.mjs`, which holds the expected
//! responses for the fixture below).
//!
//! Needs Node.js and `npm ci --prefix tests/servicestack`; fails (never skips) without them.

mod common;

use common::{KillOnDrop, http_get_full};

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{line, started};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use sessiond::api::auth::{TokenRequest, mint_token};

const SECRET: &str = "servicestack-client-test-secret";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A line with an actor: `body` is the kind's key and object.
fn by(actor: &str, id: &str, session: &str, time: &str, body: &str) -> String {
    format!(
        r#"{{"eventId":"{id}","sessionId":"{session}","occurredAt":"{time}","actorId":"{actor}",{body}}}"#
    )
}

/// The event log: what U-1 must see is S-300, S-100, S-200 (by dateCreated, then id).
fn event_log() -> Vec<String> {
    vec![
        // S-200: U-1's own, just started; same dateCreated as S-100, written first.
        started("e-200-1", "S-200", "2026-11-24T09:02:00Z", "U-1"),
        // S-300: U-1's own, answered, a muted member, a customer breadcrumb, a log entry.
        r#"{"eventId":"e-300-1","sessionId":"S-300","occurredAt":"2026-11-24T09:00:00.250Z","accountId":"A-1","actorId":"U-1","sessionStarted":{"accountName":"Acme","endpointId":"U-1","endpointName":"Alice Desk","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","toAddress":"+15550199","fromAddress":"+15550100","fromName":"Bob Caller","callSid":"CA300","displayName":"Bob Caller"}}"#.to_owned(),
        line(
            "e-300-2",
            "S-300",
            "2026-11-24T09:00:01Z",
            r#""memberJoined":{"identity":"client:bob","displayName":"Bob","isOriginalMember":true,"applicationData":{"crmId":"42"},"callState":"MEMBER_CALL_STATE_CONNECTED","role":"MEMBER_ROLE_CALLER","callSid":"CA300-bob"}"#,
        ),
        by(
            "U-1",
            "e-300-3",
            "S-300",
            "2026-11-24T09:00:02Z",
            r#""sessionAnswered":{"answeredById":"U-1","answeredByName":"Alice"}"#,
        ),
        line(
            "e-300-4",
            "S-300",
            "2026-11-24T09:00:03Z",
            r#""memberJoined":{"identity":"agent:U-1","endpointId":"U-1","displayName":"Alice","avatarUrl":"https://example.com/alice.png","callState":"MEMBER_CALL_STATE_CONNECTED","role":"MEMBER_ROLE_AGENT","callSid":"CA300-alice"}"#,
        ),
        by(
            "U-1",
            "e-300-5",
            "S-300",
            "2026-11-24T09:00:04Z",
            r#""memberMuteChanged":{"identity":"agent:U-1","muted":true}"#,
        ),
        by(
            "U-9",
            "e-300-6",
            "S-300",
            "2026-11-24T09:00:04.500Z",
            r#""customerAssigned":{"customerId":"C-2","customerName":"Support","customerBreadcrumb":[{"id":"C-1","name":"Acme Corp"},{"id":"C-2","name":"Support"}]}"#,
        ),
        // No actor: lastModifiedBy stays U-9.
        line(
            "e-300-7",
            "S-300",
            "2026-11-24T09:00:05.125Z",
            r#""logAppended":{"message":"Answered by Alice"}"#,
        ),
        // S-400: U-2's, with someone else as a member. Not U-1's.
        started("e-400-1", "S-400", "2026-11-24T09:01:00Z", "U-2"),
        line(
            "e-400-2",
            "S-400",
            "2026-11-24T09:01:01Z",
            r#""memberJoined":{"identity":"agent:U-5","endpointId":"U-5","callState":"MEMBER_CALL_STATE_CONNECTED","role":"MEMBER_ROLE_AGENT"}"#,
        ),
        // S-500: U-1's, ended. Not active.
        started("e-500-1", "S-500", "2026-11-24T09:00:10Z", "U-1"),
        line(
            "e-500-2",
            "S-500",
            "2026-11-24T09:03:00Z",
            r#""sessionEnded":{"outcome":"Completed","wasMissed":false}"#,
        ),
        // S-100: U-3's, U-1 only a (ringing transfer) member.
        started("e-100-1", "S-100", "2026-11-24T09:02:00Z", "U-3"),
        line(
            "e-100-2",
            "S-100",
            "2026-11-24T09:02:01Z",
            r#""memberJoined":{"identity":"agent:U-1","endpointId":"U-1","displayName":"Alice","callState":"MEMBER_CALL_STATE_RINGING","role":"MEMBER_ROLE_TRANSFER"}"#,
        ),
        // S-600: U-4's; U-1 joined and left. No longer U-1's.
        started("e-600-1", "S-600", "2026-11-24T09:01:30Z", "U-4"),
        line(
            "e-600-2",
            "S-600",
            "2026-11-24T09:01:31Z",
            r#""memberJoined":{"identity":"agent:U-1","endpointId":"U-1","callState":"MEMBER_CALL_STATE_CONNECTED","role":"MEMBER_ROLE_AGENT"}"#,
        ),
        line(
            "e-600-3",
            "S-600",
            "2026-11-24T09:01:40Z",
            r#""memberLeft":{"identity":"agent:U-1"}"#,
        ),
    ]
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("<could not read {}: {e}>", path.display()))
}

/// Waits for `/readyz`, failing loudly with the server's stderr if it exits or never gets ready.
fn wait_ready(server: &mut KillOnDrop, addr: SocketAddr, stderr: &Path) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = server.0.try_wait().expect("try_wait") {
            panic!(
                "sessiond exited before getting ready ({status}); stderr:\n{}",
                read(stderr)
            );
        }
        if http_get_full(addr.port(), "/readyz", None).0 == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sessiond not ready on http://{addr}/readyz after {READY_TIMEOUT:?}; stderr:\n{}",
            read(stderr)
        );
        sleep(Duration::from_millis(100));
    }
}

/// Waits for `child` up to `timeout`, killing it past that.
fn wait_with_timeout(child: &mut KillOnDrop, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.0.kill();
            let _ = child.0.wait();
            return None;
        }
        sleep(Duration::from_millis(50));
    }
}

fn token(secret: &str, roles: &[&str]) -> String {
    mint_token(&TokenRequest {
        secret: secret.into(),
        sub: "U-1".into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        ttl: Duration::from_secs(3600),
        issuer: None,
        audience: None,
    })
    .expect("mint token")
}

/// A correctly signed `User` token for U-1 that expired an hour ago (beyond any leeway).
fn expired_token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = serde_json::json!({
        "sub": "U-1",
        "iat": now - 7200,
        "exp": now - 3600,
        "roles": ["User"],
    });
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode")
}

#[test]
fn servicestack_json_service_client_reads_active_sessions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let client_dir = root.join("tests/servicestack");
    assert!(
        client_dir
            .join("node_modules/@servicestack/client/package.json")
            .is_file(),
        "{} is missing: run `npm ci --prefix tests/servicestack` (scripts/test does this)",
        client_dir
            .join("node_modules/@servicestack/client")
            .display()
    );

    let dir = common::work_dir("servicestack");
    let events = dir.join("events.jsonl");
    fs::write(&events, event_log().join("\n") + "\n").expect("write event log");

    let port = common::broker::free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let server_stderr = dir.join("sessiond.stderr");
    let mut server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_sessiond"))
            .arg("serve")
            .arg("--events")
            .arg(&events)
            .args(["--jwt-secret", SECRET, "--http", &addr.to_string()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&server_stderr).expect("create stderr file"))
            .spawn()
            .expect("spawn sessiond"),
    );
    wait_ready(&mut server, addr, &server_stderr);

    let client_out = dir.join("node.stdout");
    let client_err = dir.join("node.stderr");
    let mut node = KillOnDrop(
        Command::new("node")
            .arg(client_dir.join("client.test.mjs"))
            .current_dir(root)
            .env("SESSIOND_URL", format!("http://{addr}"))
            .env("SESSIOND_TOKEN", token(SECRET, &["User"]))
            .env(
                "SESSIOND_BAD_TOKEN",
                token("not-the-server-secret", &["User"]),
            )
            .env("SESSIOND_NOROLE_TOKEN", token(SECRET, &["Manager"]))
            .env("SESSIOND_EXPIRED_TOKEN", expired_token())
            .stdin(Stdio::null())
            .stdout(File::create(&client_out).expect("create stdout file"))
            .stderr(File::create(&client_err).expect("create stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("could not run `node` (Node.js 18+ is required): {e}")),
    );
    let status = wait_with_timeout(&mut node, CLIENT_TIMEOUT);

    let stdout = read(&client_out);
    let stderr = read(&client_err);
    println!("{stdout}");
    if !stderr.is_empty() {
        eprintln!("{stderr}");
    }
    let report = || {
        format!(
            "--- node stdout ---\n{stdout}\n--- node stderr ---\n{stderr}\n--- sessiond stderr ---\n{}",
            read(&server_stderr)
        )
    };
    match status {
        None => panic!(
            "node client.test.mjs did not finish within {CLIENT_TIMEOUT:?}\n{}",
            report()
        ),
        Some(s) if !s.success() => panic!("node client.test.mjs failed ({s})\n{}", report()),
        Some(_) => {}
    }
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" passed, 0 failed") && !last.starts_with("0 passed"),
        "unexpected summary line {last:?}\n{}",
        report()
    );
}
