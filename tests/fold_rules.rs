//! Each rule of event-model.md's fold, one test each.

mod common;

use common::{Feeder, event, fold, line, started};
use sessiond::model::{
    SessionCallState, SessionDialState, SessionHoldReasons, SessionMemberCallState,
    SessionMemberRoles, SessionQueueStates,
};
use sessiond::projection::{Fold, FoldConfig, Outcome, Position, Projection, SkipReason};
use std::sync::Arc;
use std::time::Duration;

const T0: &str = "2026-11-24T09:00:00Z";

#[test]
fn session_started_creates_with_defaults() {
    let mut f = Feeder::new(fold());
    assert_eq!(f.feed(&started("e1", "S-1", T0, "U-1")), Outcome::Applied);
    let s = f.projection().get("S-1").expect("active");
    assert_eq!(s.dial_state, SessionDialState::Active);
    assert_eq!(s.call_state, SessionCallState::Ringing);
    assert_eq!(s.queue_state, SessionQueueStates::None);
    assert_eq!(s.created_by.as_deref(), Some("U-1"));
    assert_eq!(s.created_at.to_api_string(), "2026-11-24T09:00:00.000Z");
    assert_eq!(s.account_id.as_deref(), Some("A-1"));
    assert_eq!(s.from_address.as_deref(), Some("+15550100"));
    assert_eq!(s.to_address, None, "an empty string is absent");
}

#[test]
fn call_kinds_change_their_fields() {
    let mut f = Feeder::new(fold());
    f.feed(&started("e1", "S-1", T0, "U-1"));
    f.feed(&line(
        "e2",
        "S-1",
        "2026-11-24T09:00:01Z",
        r#""queueStateChanged":{"queueState":"QUEUE_STATE_RINGING","ringQueueId":"Q-1"}"#,
    ));
    f.feed(&line(
        "e3",
        "S-1",
        "2026-11-24T09:00:02Z",
        r#""sessionAnswered":{"answeredById":"U-2","answeredByName":"Bo"}"#,
    ));
    let s = f.projection().get("S-1").unwrap();
    assert_eq!(s.queue_state, SessionQueueStates::Ringing);
    assert_eq!(s.ring_queue_id.as_deref(), Some("Q-1"));
    assert_eq!(s.call_state, SessionCallState::Connected);
    assert_eq!(s.answered_by_name.as_deref(), Some("Bo"));

    f.feed(&line("e4", "S-1", "2026-11-24T09:00:03Z", r#""sessionHeld":{"heldByUserId":"U-2","holdQueueName":"Hold","reason":"HOLD_REASON_TRANSFERRING"}"#));
    let s = f.projection().get("S-1").unwrap();
    assert_eq!(s.call_state, SessionCallState::Hold);
    assert_eq!(s.hold_reason, SessionHoldReasons::Transferring);
    assert_eq!(s.held_by_user_id.as_deref(), Some("U-2"));

    f.feed(&line(
        "e5",
        "S-1",
        "2026-11-24T09:00:04Z",
        r#""sessionResumed":{}"#,
    ));
    let s = f.projection().get("S-1").unwrap();
    assert_eq!(s.call_state, SessionCallState::Connected);
    assert_eq!(s.hold_reason, SessionHoldReasons::None);
    assert_eq!(
        (s.held_by_user_id.clone(), s.hold_queue_name.clone()),
        (None, None)
    );

    // Present optional fields overwrite, "" clears, absent ones stay.
    f.feed(&line(
        "e6",
        "S-1",
        "2026-11-24T09:00:05Z",
        r#""sessionDetailsChanged":{"displayName":"VIP","fromAddress":""}"#,
    ));
    let s = f.projection().get("S-1").unwrap();
    assert_eq!(s.display_name.as_deref(), Some("VIP"));
    assert_eq!(s.from_address, None);
    assert_eq!(s.account_name.as_deref(), Some("Acme"));
    // The queue ids stay unless given.
    f.feed(&line(
        "e7",
        "S-1",
        "2026-11-24T09:00:06Z",
        r#""queueStateChanged":{"queueState":"QUEUE_STATE_CONNECTED"}"#,
    ));
    assert_eq!(
        f.projection().get("S-1").unwrap().ring_queue_id.as_deref(),
        Some("Q-1")
    );
}

#[test]
fn log_is_oldest_first_and_last_modified_tracks_the_latest() {
    let mut f = Feeder::new(fold());
    f.feed(&started("e1", "S-1", T0, "U-1"));
    f.feed(&line(
        "e2",
        "S-1",
        "2026-11-24T09:00:05Z",
        r#""actorId":"U-9","logAppended":{"message":"second"}"#,
    ));
    f.feed(&line(
        "e3",
        "S-1",
        "2026-11-24T09:00:03Z",
        r#""logAppended":{"message":"first"}"#,
    ));
    let s = f.projection().get("S-1").unwrap();
    let messages: Vec<_> = s.log.iter().map(|e| e.message.clone().unwrap()).collect();
    assert_eq!(messages, ["first", "second"]);
    assert_eq!(
        s.last_modified_at.to_api_string(),
        "2026-11-24T09:00:05.000Z"
    );
    assert_eq!(s.last_modified_by.as_deref(), Some("U-9"));
}

#[test]
fn members_join_change_and_leave() {
    let mut f = Feeder::new(fold());
    f.feed(&started("e1", "S-1", T0, "U-1"));
    f.feed(&line("e2", "S-1", "2026-11-24T09:00:01Z", r#""memberJoined":{"identity":"m1","endpointId":"U-2","callSid":"CA1","applicationData":{"a":"1"}}"#));
    let s = f.projection().get("S-1").unwrap();
    assert_eq!(s.members[0].role, SessionMemberRoles::None);
    assert_eq!(s.members[0].call_state, SessionMemberCallState::None);
    assert_eq!(s.most_recent_participant_call_sid.as_deref(), Some("CA1"));
    assert_eq!(f.projection().sessions_for_user("U-2").len(), 1);

    f.feed(&line(
        "e3",
        "S-1",
        "2026-11-24T09:00:02Z",
        r#""memberCallStateChanged":{"identity":"m1","callState":"MEMBER_CALL_STATE_CONNECTED"}"#,
    ));
    f.feed(&line(
        "e4",
        "S-1",
        "2026-11-24T09:00:03Z",
        r#""memberMuteChanged":{"identity":"m1","muted":true}"#,
    ));
    f.feed(&line("e5", "S-1", "2026-11-24T09:00:04Z", r#""memberUpdated":{"identity":"m1","role":"MEMBER_ROLE_AGENT","applicationData":{"b":"2"}}"#));
    let s = f.projection().get("S-1").unwrap();
    let m = &s.members[0];
    assert_eq!(m.call_state, SessionMemberCallState::Connected);
    assert!(m.muted);
    assert_eq!(m.role, SessionMemberRoles::Agent);
    assert_eq!(m.application_data.len(), 2, "map entries merge");

    // UNSPECIFIED role on MemberUpdated means unchanged.
    f.feed(&line(
        "e6",
        "S-1",
        "2026-11-24T09:00:05Z",
        r#""memberUpdated":{"identity":"m1","displayName":"Bo"}"#,
    ));
    assert_eq!(
        f.projection().get("S-1").unwrap().members[0].role,
        SessionMemberRoles::Agent
    );

    assert_eq!(
        f.feed(&line(
            "e7",
            "S-1",
            "2026-11-24T09:00:06Z",
            r#""memberLeft":{"identity":"nobody"}"#
        )),
        Outcome::Skipped(SkipReason::UnknownMember)
    );
    f.feed(&line(
        "e8",
        "S-1",
        "2026-11-24T09:00:07Z",
        r#""memberLeft":{"identity":"m1"}"#,
    ));
    assert!(f.projection().get("S-1").unwrap().members.is_empty());
    assert!(
        f.projection().sessions_for_user("U-2").is_empty(),
        "a former member no longer sees it"
    );
    assert_eq!(f.projection().sessions_for_user("U-1").len(), 1);
}

#[test]
fn member_events_before_the_start_wait_and_stay_invisible() {
    let mut f = Feeder::new(fold());
    assert_eq!(
        f.feed(&line(
            "m1",
            "S-1",
            T0,
            r#""memberJoined":{"identity":"m1","endpointId":"U-2"}"#
        )),
        Outcome::Buffered
    );
    assert!(f.projection().get("S-1").is_none());
    assert!(f.projection().sessions_for_user("U-2").is_empty());
    assert_eq!(f.fold.pending_count(), 1);
    f.feed(&started("e1", "S-1", "2026-11-24T09:00:01Z", "U-1"));
    assert_eq!(f.fold.pending_count(), 0);
    assert_eq!(f.projection().sessions_for_user("U-2").len(), 1);
}

#[test]
fn duplicates_by_position_and_by_event_id_are_skipped() {
    let mut fold = fold();
    let start = event(&started("e1", "S-1", T0, "U-1"));
    let at = |offset| Position { stream: 3, offset };
    assert_eq!(fold.apply(start.clone(), at(10)), Outcome::Applied);
    assert_eq!(
        fold.apply(start.clone(), at(10)),
        Outcome::Skipped(SkipReason::Duplicate)
    );
    let log = event(&line("e2", "S-1", T0, r#""logAppended":{"message":"x"}"#));
    assert_eq!(fold.apply(log.clone(), at(11)), Outcome::Applied);
    // Same event id at a new position (a producer retry): still one log entry.
    assert_eq!(
        fold.apply(log, at(12)),
        Outcome::Skipped(SkipReason::Duplicate)
    );
    assert_eq!(fold.projection().get("S-1").unwrap().log.len(), 1);
    assert_eq!(fold.stats().skipped[&SkipReason::Duplicate], 2);
}

#[test]
fn ended_sessions_leave_and_late_events_do_not_resurrect_them() {
    let mut f = Feeder::new(fold());
    f.feed(&started("e1", "S-1", T0, "U-1"));
    f.feed(&line(
        "e2",
        "S-1",
        "2026-11-24T09:01:00Z",
        r#""sessionEnded":{"outcome":"done","wasMissed":true}"#,
    ));
    assert!(f.projection().get("S-1").is_none());
    assert!(f.projection().sessions_for_user("U-1").is_empty());
    assert_eq!(
        f.feed(&line(
            "e3",
            "S-1",
            "2026-11-24T09:01:01Z",
            r#""memberJoined":{"identity":"m1","endpointId":"U-1"}"#
        )),
        Outcome::Skipped(SkipReason::Late)
    );
    assert_eq!(
        f.feed(&started("e4", "S-1", "2026-11-24T09:01:02Z", "U-1")),
        Outcome::Skipped(SkipReason::Late)
    );
    assert!(f.projection().get("S-1").is_none());
    assert_eq!(f.fold.tombstone_count(), 1);
    assert_eq!(f.fold.session_phase("S-1"), "ended");
    // A fold restored from an image keeps the tombstone.
    let image = f.fold.image().unwrap();
    let mut restored = Fold::restore(
        FoldConfig::default(),
        Arc::new(Projection::new()),
        image.clone(),
    )
    .unwrap();
    assert_eq!(restored.image().unwrap(), image);
    assert_eq!(
        restored.apply(
            event(&line(
                "e6",
                "S-1",
                "2026-11-24T09:01:03Z",
                r#""logAppended":{"message":"x"}"#
            )),
            Position {
                stream: 0,
                offset: 99
            }
        ),
        Outcome::Skipped(SkipReason::Late)
    );
    // The tombstone is forgotten once the watermark passes the retention window.
    f.feed(&started("e5", "S-2", "2026-11-24T09:12:00Z", "U-1"));
    assert_eq!(f.fold.tombstone_count(), 0);
    assert_eq!(f.fold.stats().tombstones_expired, 1);
    assert_eq!(
        f.fold.session_phase("S-1"),
        "unknown: no event of it was folded"
    );
}

#[test]
fn idle_sessions_and_orphans_expire_by_event_time() {
    let config = FoldConfig {
        max_idle: Duration::from_secs(60),
        orphan_ttl: Duration::from_secs(30),
        ..FoldConfig::default()
    };
    let mut f = Feeder::new(Fold::new(config, Arc::new(Projection::new())));
    f.feed(&started("e1", "S-idle", T0, "U-1"));
    f.feed(&line(
        "m1",
        "S-orphan",
        T0,
        r#""memberJoined":{"identity":"m1"}"#,
    ));
    f.feed(&started("e2", "S-busy", "2026-11-24T09:00:50Z", "U-1"));
    assert_eq!(
        f.fold.stats().orphaned_sessions,
        1,
        "pending 50 s > 30 s TTL"
    );
    assert_eq!(f.fold.stats().orphaned_events, 1);
    assert!(
        f.projection().get("S-idle").is_some(),
        "50 s idle is not yet > 60 s"
    );
    f.feed(&line(
        "e3",
        "S-busy",
        "2026-11-24T09:01:01Z",
        r#""logAppended":{"message":"still here"}"#,
    ));
    assert!(
        f.projection().get("S-idle").is_none(),
        "61 s idle is evicted"
    );
    assert!(f.projection().get("S-busy").is_some());
    assert_eq!(f.fold.stats().evicted_idle, 1);
    assert_eq!(f.projection().sessions_for_user("U-1").len(), 1);
}

#[test]
fn results_are_ordered_by_date_created_then_id() {
    let mut f = Feeder::new(fold());
    f.feed(&started("e1", "S-b", "2026-11-24T09:00:02Z", "U-1"));
    f.feed(&started("e2", "S-c", "2026-11-24T09:00:01Z", "U-1"));
    f.feed(&started("e3", "S-a", "2026-11-24T09:00:02Z", "U-1"));
    let ids: Vec<_> = f
        .projection()
        .sessions_for_user("U-1")
        .iter()
        .map(|s| s.id.to_string())
        .collect();
    assert_eq!(ids, ["S-c", "S-a", "S-b"]);
}

#[test]
fn history_keeps_what_started_and_changed_a_session_in_the_order_it_applied() {
    let mut f = Feeder::new(fold());
    f.fold.keep_history(3);
    // Waits for the start (position 1), then applies right after it.
    f.feed(&line(
        "m1",
        "S-1",
        T0,
        r#""memberJoined":{"identity":"m1","endpointId":"U-2"}"#,
    ));
    f.feed(&started("e1", "S-1", "2026-11-24T09:00:01Z", "U-1"));
    let history = f.projection().history("S-1").expect("active");
    let seen: Vec<_> = history
        .iter()
        .map(|e| (e.kind, e.position.offset, e.event_id.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("SessionStarted", 2, Some("e1")),
            ("MemberJoined", 1, Some("m1"))
        ]
    );
    assert_eq!(history[0].actor_id.as_deref(), Some("U-1"));

    // A duplicate changes nothing and is not kept; the oldest entry gives way at depth 3.
    f.feed(&line("e2", "S-1", T0, r#""logAppended":{"message":"a"}"#));
    f.feed(&line("e2", "S-1", T0, r#""logAppended":{"message":"a"}"#));
    f.feed(&line("e3", "S-1", T0, r#""logAppended":{"message":"b"}"#));
    let ids: Vec<_> = f
        .projection()
        .history("S-1")
        .unwrap()
        .into_iter()
        .map(|e| e.event_id.unwrap().to_string())
        .collect();
    assert_eq!(ids, ["m1", "e2", "e3"]);

    // Ending the session forgets its history; a fold that keeps none records nothing.
    f.feed(&line(
        "e4",
        "S-1",
        "2026-11-24T09:01:00Z",
        r#""sessionEnded":{"outcome":"done"}"#,
    ));
    assert!(f.projection().history("S-1").is_none());
    let mut quiet = Feeder::new(fold());
    quiet.feed(&started("e1", "S-2", T0, "U-1"));
    assert_eq!(quiet.projection().history("S-2"), Some(Vec::new()));
}
