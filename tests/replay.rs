//! `sessiond replay` on event-log files: a cutoff gives what `serve` holds on the file cut
//! there, byte for byte per user and by digest; `--trace` says what each event did.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{http_get, run_sessiond, serve, token_with_roles};
use sessiond::time::EventTime;

const DEMO_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.jsonl");
const SECRET: &str = "replay-secret";

/// `contents` as the file `name` in a scratch directory, removed with the returned guard.
fn temp_file(name: &str, contents: &str) -> (common::WorkDir, std::path::PathBuf) {
    let dir = common::work_dir("replay");
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

/// Every endpoint id the file mentions: the users whose responses are compared.
fn users(log: &str) -> BTreeSet<String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            v.get("sessionStarted")
                .or_else(|| v.get("memberJoined"))
                .and_then(|b| b.get("endpointId"))
                .and_then(|e| e.as_str())
                .map(str::to_owned)
        })
        .collect()
}

/// The lines of the file whose event occurred at or before `until`.
fn cut(log: &str, until: EventTime) -> String {
    log.lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("demo lines are JSON");
            let at = v["occurredAt"].as_str().expect("occurredAt");
            EventTime::parse_rfc3339(at).expect("a time") <= until
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

#[test]
fn replay_until_equals_serving_the_file_cut_there() {
    let demo = std::fs::read_to_string(DEMO_PATH).unwrap();
    let until = "2026-11-24T10:15:00Z";
    let cut_log = cut(&demo, EventTime::parse_rfc3339(until).unwrap());
    assert!(cut_log.lines().count() < demo.lines().count());
    let (_dir, cut_path) = temp_file("cut.jsonl", &cut_log);

    let (ok, replayed, stderr) = run_sessiond(&[
        "replay", "--events", DEMO_PATH, "--until", until, "--digest",
    ]);
    assert!(ok, "{stderr}");
    let digest = last_line(&replayed).to_owned();
    assert!(digest.starts_with("sha256:"), "{replayed}");
    let (_, whole, _) = run_sessiond(&["replay", "--events", DEMO_PATH, "--digest"]);
    assert_ne!(last_line(&whole), digest, "the cutoff changes what is held");

    let (_service, port) = serve(
        &[
            "--events",
            cut_path.to_str().unwrap(),
            "--jwt-secret",
            SECRET,
        ],
        Duration::from_secs(30),
    );
    let admin = token_with_roles(SECRET, "ops", &["SystemAdministrator"]);
    let (status, state) = http_get(port, "/admin/state", Some(&admin));
    assert_eq!(status, 200, "{state}");
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["digest"], digest.as_str(), "{state}");
    assert!(state["counts"]["activeSessions"].as_u64().unwrap() > 0);

    let mut compared = 0;
    for user in users(&demo) {
        let (ok, replayed, stderr) = run_sessiond(&[
            "replay", "--events", DEMO_PATH, "--until", until, "--user", &user,
        ]);
        assert!(ok, "{stderr}");
        let token = token_with_roles(SECRET, &user, &["User"]);
        let (status, served) = http_get(port, "/sessions/active", Some(&token));
        assert_eq!(status, 200);
        assert_eq!(replayed.trim_end(), served, "user {user}");
        compared += usize::from(served.contains("\"id\""));
    }
    assert!(compared >= 3, "several users have sessions at the cutoff");

    // And XML, as the API would send it.
    let (_, xml, _) = run_sessiond(&[
        "replay",
        "--events",
        DEMO_PATH,
        "--until",
        until,
        "--user",
        "U-acme-alice",
        "--format",
        "xml",
    ]);
    let token = token_with_roles(SECRET, "U-acme-alice", &["User"]);
    let (_, served_xml) = http_get(port, "/sessions/active.xml", Some(&token));
    assert_eq!(xml.trim_end(), served_xml);
}

#[test]
fn trace_shows_each_event_and_why_skipped_ones_were_skipped() {
    let s = "S-trace";
    let log = [
        common::started("e1", s, "2026-11-24T09:00:00Z", "U-1"),
        common::line(
            "e2",
            s,
            "2026-11-24T09:00:05Z",
            r#""sessionHeld":{"heldByUserId":"U-1","reason":"HOLD_REASON_TRANSFERRING"}"#,
        ),
        // The same event again (a producer retry): a duplicate.
        common::line(
            "e2",
            s,
            "2026-11-24T09:00:05Z",
            r#""sessionHeld":{"heldByUserId":"U-1","reason":"HOLD_REASON_TRANSFERRING"}"#,
        ),
        common::started("o1", "S-other", "2026-11-24T09:00:06Z", "U-2"),
        common::line("e3", s, "2026-11-24T09:00:09Z", r#""sessionEnded":{}"#),
        // After the end: late.
        common::line(
            "e4",
            s,
            "2026-11-24T09:00:07Z",
            r#""logAppended":{"message":"late"}"#,
        ),
        "{not json".to_owned(),
    ]
    .join("\n");
    let (_dir, path) = temp_file("trace.jsonl", &log);
    let file = path.to_str().unwrap();

    let (ok, out, stderr) = run_sessiond(&["replay", "--events", file, "--trace"]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = out.lines().collect();
    let at = |n: usize| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{file}:0@{n} ")))
            .copied()
            .unwrap_or_else(|| panic!("no trace line for line {n}:\n{out}"))
    };
    assert!(
        at(1).contains("SessionStarted [e1] -> started: endpointId=U-1"),
        "{out}"
    );
    assert!(
        at(2).contains(r#"SessionHeld [e2] -> applied: callState="Hold", heldByUserId="U-1", holdReason="Transferring""#),
        "{}",
        at(2)
    );
    assert!(at(3).contains("-> skipped (duplicate)"), "{}", at(3));
    assert!(at(4).contains("S-other SessionStarted"), "{}", at(4));
    assert!(at(5).contains("SessionEnded [e3] -> ended"), "{}", at(5));
    assert!(
        at(6).contains("-> skipped (late): the session had already ended"),
        "{}",
        at(6)
    );
    assert!(at(7).contains("-> skipped (bad: undecodable)"), "{}", at(7));

    // One session's trace leaves the others out.
    let (ok, out, _) = run_sessiond(&[
        "replay",
        "--events",
        file,
        "--trace",
        "--session",
        "S-other",
    ]);
    assert!(ok);
    assert!(out.contains("S-other SessionStarted"));
    assert!(!out.contains("S-trace"), "{out}");
    // It prints the session last.
    assert!(out.contains(r#""id": "S-other""#), "{out}");
}

#[test]
fn replay_explains_what_it_cannot_do() {
    let (ok, _, stderr) = run_sessiond(&[
        "replay",
        "--events",
        DEMO_PATH,
        "--until-offsets",
        "voice.calls:0:10",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("--until-offsets names topic partitions"),
        "{stderr}"
    );

    let (ok, _, stderr) = run_sessiond(&["replay", "--events", DEMO_PATH, "--session", "S-nope"]);
    assert!(!ok);
    assert!(
        stderr.contains("session S-nope is not active at the cutoff (unknown"),
        "{stderr}"
    );

    let (ok, _, stderr) = run_sessiond(&["replay", "--events", DEMO_PATH, "--until", "10:42"]);
    assert!(!ok);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
}
