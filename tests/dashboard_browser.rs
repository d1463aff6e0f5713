//! The live dashboard in a real browser against the real binary: Kafka, `sessiond serve
//! --brokers`, and Debian's headless Chromium driven by playwright-core
//! (`tests/browser/dashboard.mjs`). The page signs in from `#token=…`, goes live on the
//! stream's first snapshot, and shows a session started afterwards; the test keeps a
//! full-page screenshot at `$CARGO_TARGET_DIR/dashboard-screenshot.png`.
//!
//! Needs Apache Kafka's jars (or `KAFKA_BROKERS`), Node.js, `/usr/bin/chromium` and
//! `npm ci --prefix tests/browser` (`scripts/setup-test-deps` installs them all); fails,
//! never skips, without them.

mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::broker::{Broker, free_port, unique_topics};
use common::{KillOnDrop, http_get_full, line};
use sessiond::api::auth::{TokenRequest, mint_token};
use sessiond::kafka::produce::{Topics, produce_lines};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const SECRET: &str = "dashboard-browser-secret";
/// The user whose dashboard is opened.
const USER: &str = "U-acme-dana";
/// The session started once the page is live.
const NEW_SESSION: &str = "S-dash-new";
const CHROMIUM: &str = "/usr/bin/chromium";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Chromium's start plus the script's own 15 s for the page to go live.
const LIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// The script's 15 s for the row, plus the screenshot.
const SEEN_TIMEOUT: Duration = Duration::from_secs(45);

/// An RFC 3339 time `ago` before now, so the page's timers show realistic durations.
fn ago(ago: Duration) -> String {
    (OffsetDateTime::now_utc() - ago)
        .format(&Rfc3339)
        .expect("format time")
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// A `SessionStarted` line: `fields` are the event's fields after `accountName`.
fn start(session: &str, at: &str, owner: &str, fields: &str) -> String {
    format!(
        r#"{{"eventId":"{session}-start","sessionId":"{session}","occurredAt":"{at}","accountId":"A-acme","actorId":"{owner}","sessionStarted":{{"accountName":"Acme Corp","endpointId":"{owner}",{fields}}}}}"#
    )
}

/// A member joining: `fields` follow `identity`.
fn member(session: &str, n: u32, at: &str, identity: &str, fields: &str) -> String {
    line(
        &format!("{session}-m{n}"),
        session,
        at,
        &format!(r#""memberJoined":{{"identity":"{identity}",{fields}}}"#),
    )
}

/// The user's sessions before the page opens (and one that is not theirs).
fn existing_sessions() -> Vec<String> {
    let (t12, t47, t5, t1, t3) = (
        ago(minutes(12)),
        ago(minutes(47)),
        ago(minutes(5)),
        ago(Duration::from_secs(40)),
        ago(minutes(3)),
    );
    let agent = format!(
        r#""endpointId":"{USER}","displayName":"Dana Reyes","callState":"MEMBER_CALL_STATE_CONNECTED","role":"MEMBER_ROLE_AGENT""#
    );
    vec![
        // An answered inbound queue call.
        start(
            "S-dash-1",
            &t12,
            USER,
            r#""channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","fromName":"Robert Chen","fromAddress":"+15550102231","toAddress":"+15550109000","customerName":"Chen Logistics""#,
        ),
        member(
            "S-dash-1",
            1,
            &t12,
            "client:+15550102231",
            r#""displayName":"Robert Chen","isOriginalMember":true,"callState":"MEMBER_CALL_STATE_CONNECTED","role":"MEMBER_ROLE_CALLER""#,
        ),
        line(
            "S-dash-1-q",
            "S-dash-1",
            &t12,
            r#""queueStateChanged":{"queueState":"QUEUE_STATE_CONNECTED","ringQueueId":"Q-support"}"#,
        ),
        member("S-dash-1", 2, &t12, &format!("agent:{USER}"), &agent),
        line(
            "S-dash-1-a",
            "S-dash-1",
            &t12,
            &format!(
                r#""sessionAnswered":{{"answeredById":"{USER}","answeredByName":"Dana Reyes"}}"#
            ),
        ),
        // An outbound call the user placed.
        start(
            "S-dash-2",
            &t47,
            USER,
            r#""channel":"CHANNEL_VOICE","direction":"DIRECTION_OUTGOING","displayName":"Northwind weekly","fromAddress":"+15550109000","toAddress":"+442079460018","callState":"CALL_STATE_CONNECTED""#,
        ),
        member("S-dash-2", 1, &t47, &format!("agent:{USER}"), &agent),
        // Someone else's call, being transferred to the user (ringing).
        start(
            "S-dash-3",
            &t5,
            "U-acme-bob",
            r#""channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","fromName":"Maria Gonzalez","fromAddress":"+15550147781","toAddress":"+15550109000""#,
        ),
        line(
            "S-dash-3-h",
            "S-dash-3",
            &t3,
            r#""sessionHeld":{"heldByUserId":"U-acme-bob","holdQueueName":"Billing","reason":"HOLD_REASON_TRANSFERRING"}"#,
        ),
        member(
            "S-dash-3",
            1,
            &t3,
            &format!("agent:{USER}"),
            &format!(
                r#""endpointId":"{USER}","displayName":"Dana Reyes","callState":"MEMBER_CALL_STATE_RINGING","role":"MEMBER_ROLE_TRANSFER""#
            ),
        ),
        // A web chat ringing the user.
        start(
            "S-dash-4",
            &t1,
            USER,
            r#""channel":"CHANNEL_CHAT","direction":"DIRECTION_INCOMING","fromName":"web visitor 8812","fromAddress":"chat:visitor-8812""#,
        ),
        // Not the user's.
        start(
            "S-dash-other",
            &t3,
            "U-acme-zed",
            r#""channel":"CHANNEL_FAX","direction":"DIRECTION_INCOMING","fromAddress":"+15550170000""#,
        ),
    ]
}

/// The session the page must show live: answered, a muted caller, held by the user.
fn new_session() -> Vec<String> {
    let s = NEW_SESSION;
    let (t0, t1) = (ago(Duration::from_secs(20)), ago(Duration::from_secs(5)));
    vec![
        start(
            s,
            &t0,
            USER,
            r#""channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","fromName":"Priya Natarajan","fromAddress":"+15550184420","toAddress":"+15550109000","callSid":"CA-dash-new""#,
        ),
        member(
            s,
            1,
            &t0,
            "client:+15550184420",
            r#""displayName":"Priya Natarajan","isOriginalMember":true,"callState":"MEMBER_CALL_STATE_CONNECTED","role":"MEMBER_ROLE_CALLER","muted":true"#,
        ),
        member(
            s,
            2,
            &t0,
            &format!("agent:{USER}"),
            &format!(
                r#""endpointId":"{USER}","displayName":"Dana Reyes","callState":"MEMBER_CALL_STATE_CONNECTED","role":"MEMBER_ROLE_AGENT""#
            ),
        ),
        line(
            &format!("{s}-a"),
            s,
            &t0,
            &format!(
                r#""sessionAnswered":{{"answeredById":"{USER}","answeredByName":"Dana Reyes"}}"#
            ),
        ),
        line(
            &format!("{s}-h"),
            s,
            &t1,
            &format!(
                r#""sessionHeld":{{"heldByUserId":"{USER}","holdQueueName":"Support hold","reason":"HOLD_REASON_NONE"}}"#
            ),
        ),
    ]
}

async fn produce(broker: &Broker, topics: &Topics, lines: &[String]) {
    let report = produce_lines(&broker.settings(), topics, lines.join("\n").as_bytes())
        .await
        .expect("producing events");
    assert!(report.bad_lines.is_empty(), "bad lines: {report:?}");
    assert_eq!(report.produced, lines.len() as u64);
}

/// Where the screenshot goes: `$CARGO_TARGET_DIR`, else the crate's `target/`.
fn screenshot_path() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |dir| root.join(dir));
    target.join("dashboard-screenshot.png")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("<could not read {}: {e}>", path.display()))
}

/// Fails now, with how to fix it, when the browser side cannot run.
fn require_browser_tools(browser_dir: &Path) {
    let node = Command::new("node").arg("--version").output();
    assert!(
        matches!(&node, Ok(out) if out.status.success()),
        "`node` is not runnable ({node:?}): Node.js 20+ is required (scripts/setup-test-deps installs it)"
    );
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run scripts/install-chromium (scripts/setup-test-deps does)"
    );
    let playwright = browser_dir.join("node_modules/playwright-core/package.json");
    assert!(
        playwright.is_file(),
        "{} is missing: run `npm ci --prefix tests/browser` (scripts/setup-test-deps does)",
        playwright.display()
    );
}

/// Waits for a line equal to `want` from the script, failing on exit, timeout or `FAIL`.
fn expect_line(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    want: &str,
    timeout: Duration,
    report: &dyn Fn(&[String]) -> String,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = line.trim() == want;
                seen.push(line);
                if done {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!(
                    "no {want} from dashboard.mjs within {timeout:?}\n{}",
                    report(seen)
                )
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!(
                    "dashboard.mjs ended before printing {want}\n{}",
                    report(seen)
                )
            }
        }
    }
}

#[test]
fn the_dashboard_shows_a_new_session_live_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser_dir = root.join("tests/browser");
    require_browser_tools(&browser_dir);

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let broker = Broker::start();
    let (calls, members) = unique_topics("dashboard");
    runtime.block_on(broker.create_topics(&[&calls, &members], 2));
    let topics = Topics {
        calls: calls.clone(),
        members: members.clone(),
    };
    runtime.block_on(produce(&broker, &topics, &existing_sessions()));

    let dir = common::work_dir("dashboard");
    let server_stderr = dir.join("sessiond.stderr");
    let port = free_port();
    let mut server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_sessiond"))
            .args(["serve", "--brokers", &broker.brokers])
            .args(["--topics", &format!("{calls},{members}")])
            .args(["--jwt-secret", SECRET])
            .args(["--http", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&server_stderr).expect("stderr file"))
            .spawn()
            .expect("spawn sessiond"),
    );
    let deadline = Instant::now() + READY_TIMEOUT;
    while http_get_full(port, "/readyz", None).0 != 200 {
        if let Some(status) = server.0.try_wait().expect("try_wait") {
            panic!(
                "sessiond exited ({status}); stderr:\n{}",
                read(&server_stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "sessiond not ready within {READY_TIMEOUT:?}; stderr:\n{}",
            read(&server_stderr)
        );
        sleep(Duration::from_millis(100));
    }
    let (status, headers, body) = http_get_full(port, "/", None);
    assert_eq!(status, 200, "GET / answers the dashboard");
    assert!(headers.contains("content-type: text/html"), "{headers}");
    assert!(body.contains("/dashboard/app.js"), "{body}");

    let token = mint_token(&TokenRequest {
        secret: SECRET.into(),
        sub: USER.into(),
        roles: vec!["User".into()],
        ttl: Duration::from_secs(3600),
        issuer: None,
        audience: None,
    })
    .expect("mint token");

    let screenshot = screenshot_path();
    let _ = fs::remove_file(&screenshot);
    let script_stderr = dir.join("node.stderr");
    let mut node = KillOnDrop(
        Command::new("node")
            .arg(browser_dir.join("dashboard.mjs"))
            .current_dir(root)
            .env("BASE_URL", format!("http://127.0.0.1:{port}"))
            .env("TOKEN", &token)
            .env("SESSION_ID", NEW_SESSION)
            .env("SCREENSHOT", &screenshot)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&script_stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("could not run `node`: {e}")),
    );
    let stdout = node.0.stdout.take().expect("piped stdout");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("dashboard.mjs: {line}");
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let report = |seen: &[String]| {
        format!(
            "--- dashboard.mjs stdout ---\n{}\n--- dashboard.mjs stderr ---\n{}\n--- sessiond stderr ---\n{}",
            seen.join("\n"),
            read(&script_stderr),
            read(&server_stderr)
        )
    };

    let mut seen = Vec::new();
    expect_line(&lines, &mut seen, "LIVE", LIVE_TIMEOUT, &report);
    // Only now does the session start: the page must get it from the stream.
    runtime.block_on(produce(&broker, &topics, &new_session()));
    expect_line(&lines, &mut seen, "SEEN", SEEN_TIMEOUT, &report);

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = node.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "dashboard.mjs did not exit after SEEN\n{}",
            report(&seen)
        );
        sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "dashboard.mjs failed ({status})\n{}",
        report(&seen)
    );
    let png = fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(
        png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG screenshot ({} bytes)",
        screenshot.display(),
        png.len()
    );
    println!("screenshot: {}", screenshot.display());
    drop(server);
    let _ = fs::remove_dir_all(&dir);
}
