//! The read path's cached renderings change no byte: under a stream of changes (simulated
//! traffic, plus log lines and display names full of characters every format escapes), each
//! user's response assembled from the sessions' cached bytes equals the response rendered
//! from scratch, in every format, and so do the live stream's frames. Readers sometimes
//! keep the sessions they read (as a live stream's view does), so both ways a session
//! changes are exercised: in place, and copied because a reader holds the old version.

mod common;

use std::sync::Arc;

use proptest::prelude::*;
use sessiond::contract::assemble::{json_response, render_sessions, session_bytes};
use sessiond::contract::dto::{GetActiveSessionsResponse, SessionInfo};
use sessiond::contract::{Format, render_operation};
use sessiond::events::validate::validate;
use sessiond::events::{Event, EventKind};
use sessiond::projection::{Fold, FoldConfig, Position, Projection, Rendering, Session};
use sessiond::simulate::{SimConfig, Simulator};

/// Strings that every format treats specially somewhere (JSON, XML, JSV, CSV, HTML).
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("say \"hi\", <b>&amp;</b> {a:[1]}\r\nnext".to_owned()),
        Just("\u{1}\u{fffe} tab\there é 漢字 🎧".to_owned()),
        "[\"',:{}\\[\\]<>&\r\n a-z]{0,24}",
        any::<String>(),
    ]
}

/// An extra event for an active session: a log line or a display name.
fn extra(base: &Event, session: Arc<str>, n: usize, text: String, log: bool) -> Event {
    let kind = if log {
        EventKind::LogAppended {
            message: Some(text),
        }
    } else {
        let line = format!(
            r#"{{"eventId":"x","sessionId":"s","occurredAt":"2026-11-24T09:00:00Z","sessionDetailsChanged":{{"displayName":{}}}}}"#,
            serde_json::to_string(&text).unwrap()
        );
        match sessiond::events::decode::decode_json(&line) {
            sessiond::events::decode::Decoded::Event(e) => e.kind,
            other => panic!("not an event: {other:?}"),
        }
    };
    Event {
        event_id: Some(format!("extra-{n}")),
        session_id: session,
        occurred_at: base.occurred_at,
        account_id: None,
        actor_id: Some(format!("U-\"odd\"<{n}>")),
        kind,
    }
}

fn uncached(format: Format, operation: &str, sessions: &[Arc<Session>]) -> Vec<u8> {
    let response = GetActiveSessionsResponse {
        sessions: sessions.iter().map(|s| SessionInfo::from(&**s)).collect(),
    };
    render_operation(format, operation, &response)
}

/// Every user's response, cached against uncached, in every format; returns what was read.
fn check_all(projection: &Projection) -> Vec<Arc<Session>> {
    let users = common::owners(projection);
    let mut read = Vec::new();
    for user in &users {
        let sessions = projection.sessions_for_user(user);
        for format in Format::ALL {
            // Only HTML names the operation.
            let operation = if format == Format::Html {
                "GetMySessions"
            } else {
                "GetActiveSessions"
            };
            let cached = render_sessions(format, operation, &sessions);
            let fresh = uncached(format, operation, &sessions);
            assert_eq!(
                String::from_utf8_lossy(&cached),
                String::from_utf8_lossy(&fresh),
                "{format:?} for {user}"
            );
            assert_eq!(cached, fresh);
        }
        // The live stream's snapshot and upsert frames.
        let response = GetActiveSessionsResponse {
            sessions: sessions.iter().map(|s| SessionInfo::from(&**s)).collect(),
        };
        assert_eq!(
            json_response(&sessions),
            serde_json::to_vec(&response).unwrap()
        );
        for session in &sessions {
            assert_eq!(
                session_bytes(Rendering::Json, session),
                serde_json::to_vec(&SessionInfo::from(&**session)).unwrap()
            );
        }
        read.extend(sessions);
    }
    // The empty response too.
    for format in Format::ALL {
        assert_eq!(
            render_sessions(format, "GetActiveSessions", &[]),
            uncached(format, "GetActiveSessions", &[])
        );
    }
    read
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn cached_responses_equal_fresh_ones(
        seed in any::<u64>(),
        read_every in 4usize..40,
        hold in any::<bool>(),
        texts in prop::collection::vec((hostile(), any::<bool>(), any::<prop::sample::Index>()), 0..40),
    ) {
        let simulator = Simulator::new(SimConfig { seed, users: 6, accounts: 2, rate: 30.0, ..SimConfig::default() });
        let projection = Arc::new(Projection::new());
        let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
        let mut held: Vec<Arc<Session>> = Vec::new();
        let mut texts = texts.into_iter();
        let mut checks = 0;
        for (i, sim) in simulator.take(700).enumerate() {
            let event = validate(sim.event).expect("simulated events are valid");
            let base = event.clone();
            fold.apply(event, Position { stream: 0, offset: i as i64 });
            // Now and then a hostile string lands in an active session.
            if i % 15 == 0
                && let Some((text, log, pick)) = texts.next()
            {
                let active = projection.all();
                if !active.is_empty() {
                    let id = Arc::clone(&active[pick.index(active.len())].id);
                    let position = Position { stream: 1, offset: i as i64 };
                    fold.apply(extra(&base, id, i, text, log), position);
                }
            }
            if i % read_every == 0 {
                let read = check_all(&projection);
                checks += 1;
                // A reader that keeps what it read (a live stream's view) until the next read.
                held = if hold { read } else { Vec::new() };
            }
        }
        drop(held);
        check_all(&projection);
        prop_assert!(checks > 0);
    }
}

/// A session's renderings belong to its version: a change empties them, and a reader
/// holding the old version keeps the old bytes.
#[test]
fn a_change_renders_anew_and_old_readers_keep_their_bytes() {
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    let start = r#"{"eventId":"e1","sessionId":"S-1","occurredAt":"2026-11-24T09:00:00Z","accountId":"A-1","actorId":"U-1","sessionStarted":{"accountName":"Acme","endpointId":"U-1","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING"}}"#;
    let event = |line: &str| match sessiond::events::decode::decode_json(line) {
        sessiond::events::decode::Decoded::Event(e) => e,
        other => panic!("{other:?}"),
    };
    fold.apply(
        event(start),
        Position {
            stream: 0,
            offset: 1,
        },
    );
    let before = projection.sessions_for_user("U-1");
    let old = render_sessions(Format::Json, "GetActiveSessions", &before);
    assert!(before[0].rendered.has(Rendering::Json));
    let log = r#"{"eventId":"e2","sessionId":"S-1","occurredAt":"2026-11-24T09:00:01Z","logAppended":{"message":"hello"}}"#;
    fold.apply(
        event(log),
        Position {
            stream: 0,
            offset: 2,
        },
    );
    let after = projection.sessions_for_user("U-1");
    assert!(
        !after[0].rendered.has(Rendering::Json),
        "a change must empty the cache"
    );
    let new = render_sessions(Format::Json, "GetActiveSessions", &after);
    assert!(String::from_utf8(new).unwrap().contains("hello"));
    // The held version still answers with the bytes it had.
    assert_eq!(
        render_sessions(Format::Json, "GetActiveSessions", &before),
        old
    );
    drop(before);
    drop(after);
    // Changed in place (no reader holds it): the cache is emptied all the same.
    let read = projection.sessions_for_user("U-1");
    render_sessions(Format::Xml, "GetActiveSessions", &read);
    drop(read);
    let log = r#"{"eventId":"e3","sessionId":"S-1","occurredAt":"2026-11-24T09:00:02Z","logAppended":{"message":"again"}}"#;
    fold.apply(
        event(log),
        Position {
            stream: 0,
            offset: 3,
        },
    );
    let read = projection.sessions_for_user("U-1");
    assert!(!read[0].rendered.has(Rendering::Xml));
    let xml = String::from_utf8(render_sessions(Format::Xml, "GetActiveSessions", &read)).unwrap();
    assert!(xml.contains("again"));
}
