//! The per-user change streams, at the hub: snapshot then deltas, resume after a
//! `Last-Event-ID`, a slow subscriber resynced instead of queued without bound, and,
//! under a fold running concurrently, no change missed or sent twice at subscribe time.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sessiond::live::hub::SUBSCRIBER_QUEUE;
use sessiond::live::{Change, ChangeHub, Frame, Subscription};
use sessiond::projection::{Fold, FoldConfig, Position, Projection, Session};

fn setup() -> (Arc<Projection>, Fold, Arc<ChangeHub>) {
    let projection = Arc::new(Projection::new());
    let hub = Arc::new(ChangeHub::new(Arc::clone(&projection)));
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    fold.observe(hub.observer());
    (projection, fold, hub)
}

struct Lines {
    next: i64,
}

impl Lines {
    fn apply(&mut self, fold: &mut Fold, line: &str) {
        self.next += 1;
        fold.apply(
            common::event(line),
            Position {
                stream: 0,
                offset: self.next,
            },
        );
    }
}

fn drain(sub: &mut Subscription) -> Vec<Frame> {
    let mut frames = std::mem::take(&mut sub.initial);
    while let Ok(frame) = sub.receiver.try_recv() {
        frames.push(frame);
    }
    frames
}

fn describe(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match &f.change {
            Change::Snapshot(s) => format!(
                "snapshot[{}]",
                s.iter()
                    .map(|s| s.id.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Change::Upsert(s) => format!("upsert {}", s.id),
            Change::Remove(id) => format!("remove {id}"),
        })
        .collect()
}

#[test]
fn a_subscriber_gets_a_snapshot_then_every_change_to_its_own_sessions() {
    let (_projection, mut fold, hub) = setup();
    let mut lines = Lines { next: 0 };
    lines.apply(
        &mut fold,
        &common::started("a", "S-1", "2026-11-24T09:00:00Z", "U-1"),
    );
    lines.apply(
        &mut fold,
        &common::started("b", "S-2", "2026-11-24T09:00:01Z", "U-2"),
    );

    let mut sub = hub.subscribe("U-1", None);
    lines.apply(
        &mut fold,
        &common::line(
            "c",
            "S-1",
            "2026-11-24T09:00:02Z",
            r#""sessionHeld":{"heldByUserId":"U-1"}"#,
        ),
    );
    lines.apply(
        &mut fold,
        &common::line("d", "S-2", "2026-11-24T09:00:03Z", r#""sessionResumed":{}"#),
    );
    // U-1 joins U-2's session, then leaves it.
    lines.apply(
        &mut fold,
        &common::line(
            "e",
            "S-2",
            "2026-11-24T09:00:04Z",
            r#""memberJoined":{"identity":"m1","endpointId":"U-1"}"#,
        ),
    );
    lines.apply(
        &mut fold,
        &common::line(
            "f",
            "S-2",
            "2026-11-24T09:00:05Z",
            r#""memberMuteChanged":{"identity":"m1","muted":true}"#,
        ),
    );
    lines.apply(
        &mut fold,
        &common::line(
            "g",
            "S-2",
            "2026-11-24T09:00:06Z",
            r#""memberLeft":{"identity":"m1"}"#,
        ),
    );
    lines.apply(
        &mut fold,
        &common::line("h", "S-1", "2026-11-24T09:00:07Z", r#""sessionEnded":{}"#),
    );

    let frames = drain(&mut sub);
    assert_eq!(
        describe(&frames),
        [
            "snapshot[S-1]",
            "upsert S-1",
            "upsert S-2",
            "upsert S-2",
            "remove S-2",
            "remove S-1"
        ]
    );
    let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "ids increase: {seqs:?}"
    );
    if let Change::Upsert(s) = &frames[3].change {
        assert!(s.members[0].muted, "the upsert carries the new state");
    }
}

#[test]
fn a_reconnect_with_last_event_id_resumes_without_loss_or_repeat() {
    let (_projection, mut fold, hub) = setup();
    let mut lines = Lines { next: 0 };
    lines.apply(
        &mut fold,
        &common::started("a", "S-1", "2026-11-24T09:00:00Z", "U-1"),
    );
    let mut first = hub.subscribe("U-1", None);
    lines.apply(
        &mut fold,
        &common::line("b", "S-1", "2026-11-24T09:00:01Z", r#""sessionHeld":{}"#),
    );
    let seen = drain(&mut first);
    let last_id = hub.event_id(seen.last().unwrap().seq);
    hub.unsubscribe(&first);
    drop(first);

    // While disconnected.
    lines.apply(
        &mut fold,
        &common::line("c", "S-1", "2026-11-24T09:00:02Z", r#""sessionResumed":{}"#),
    );
    lines.apply(
        &mut fold,
        &common::started("d", "S-3", "2026-11-24T09:00:03Z", "U-1"),
    );

    let mut resumed = hub.subscribe("U-1", Some(&last_id));
    assert_eq!(describe(&drain(&mut resumed)), ["upsert S-1", "upsert S-3"]);

    // Caught up already: nothing is resent.
    let now = hub.event_id(hub_last_seq(&hub, "U-1"));
    let mut again = hub.subscribe("U-1", Some(&now));
    assert!(drain(&mut again).is_empty());

    // An id from another process, or garbage, or this process's epoch with a sequence
    // number no change has (the largest u64, found by the last_event_id fuzz target): a
    // fresh snapshot.
    let far_future = hub.event_id(u64::MAX);
    for other in ["0badbeef-3", "nonsense", "1-1", far_future.as_str()] {
        let mut fresh = hub.subscribe("U-1", Some(other));
        assert_eq!(
            describe(&drain(&mut fresh)),
            ["snapshot[S-1,S-3]"],
            "{other}"
        );
    }
}

/// The seq of the user's newest change, read through a throwaway subscription.
fn hub_last_seq(hub: &ChangeHub, user: &str) -> u64 {
    let mut sub = hub.subscribe(user, None);
    let seq = drain(&mut sub)[0].seq;
    hub.unsubscribe(&sub);
    seq
}

#[test]
fn a_slow_subscriber_is_resynced_and_does_not_hold_back_others() {
    let (projection, mut fold, hub) = setup();
    let mut lines = Lines { next: 0 };
    lines.apply(
        &mut fold,
        &common::started("a", "S-1", "2026-11-24T09:00:00Z", "U-1"),
    );
    let mut slow = hub.subscribe("U-1", None);
    let mut fast = hub.subscribe("U-1", None);
    let mut fast_frames = drain(&mut fast);
    for n in 0..(SUBSCRIBER_QUEUE + 50) {
        lines.apply(
            &mut fold,
            &common::line(
                &format!("x{n}"),
                "S-1",
                "2026-11-24T09:00:01Z",
                &format!(r#""logAppended":{{"message":"{n}"}}"#),
            ),
        );
        fast_frames.extend(drain(&mut fast));
    }
    assert_eq!(
        fast_frames.len(),
        1 + SUBSCRIBER_QUEUE + 50,
        "the fast one got everything"
    );
    assert!(
        slow.lagged.load(Ordering::Acquire),
        "the slow one is marked"
    );
    let _ = std::mem::take(&mut slow.initial);
    let snapshot = hub.resync(&mut slow).expect("a resync");
    let Change::Snapshot(sessions) = &snapshot.change else {
        panic!("a snapshot")
    };
    assert_eq!(
        sessions[0].log.len(),
        SUBSCRIBER_QUEUE + 50,
        "the current state"
    );
    assert!(
        slow.receiver.try_recv().is_err(),
        "nothing stale left queued"
    );
    lines.apply(
        &mut fold,
        &common::line("y", "S-1", "2026-11-24T09:00:02Z", r#""sessionResumed":{}"#),
    );
    assert_eq!(
        describe(&drain(&mut slow)),
        ["upsert S-1"],
        "and it streams again"
    );
    assert_eq!(hub.resyncs(), 1);
    drop(projection);
}

/// A user's sessions by id, as a subscriber rebuilds them from its frames.
fn rebuild(view: &mut BTreeMap<String, Arc<Session>>, frame: &Frame) {
    match &frame.change {
        Change::Snapshot(sessions) => {
            *view = sessions
                .iter()
                .map(|s| (s.id.to_string(), Arc::clone(s)))
                .collect();
        }
        Change::Upsert(s) => {
            let old = view.insert(s.id.to_string(), Arc::clone(s));
            assert!(
                !old.is_some_and(|old| Arc::ptr_eq(&old, s)),
                "an upsert repeats what the subscriber already has"
            );
        }
        Change::Remove(id) => {
            assert!(
                view.remove(&**id).is_some(),
                "a remove for a session it had"
            );
        }
    }
}

#[test]
fn subscribing_while_the_fold_runs_misses_nothing_and_repeats_nothing() {
    let (projection, mut fold, hub) = setup();
    let events: Vec<_> = sessiond::simulate::Simulator::new(sessiond::simulate::SimConfig {
        seed: 11,
        accounts: 2,
        users: 6,
        rate: 50.0,
        start: sessiond::time::EventTime::parse_rfc3339("2026-11-24T08:00:00Z").unwrap(),
    })
    .take(30_000)
    .filter_map(|sim| sessiond::events::validate::validate(sim.event).ok())
    .collect();
    // The simulator's agents: whoever owns a session early in the run.
    let users: Vec<String> = {
        let probe = Arc::new(Projection::new());
        let mut f = Fold::new(FoldConfig::default(), Arc::clone(&probe));
        for (i, e) in events.iter().take(5_000).cloned().enumerate() {
            f.apply(
                e,
                Position {
                    stream: 0,
                    offset: i as i64,
                },
            );
        }
        common::owners(&probe)
    };
    assert!(users.len() >= 3, "{users:?}");
    let done = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> =
        users
            .iter()
            .cloned()
            .map(|user| {
                let hub = Arc::clone(&hub);
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    // Subscribe late, at a different moment for each user.
                    std::thread::sleep(std::time::Duration::from_micros(user.len() as u64 * 300));
                    let mut sub = hub.subscribe(&user, None);
                    let mut view = BTreeMap::new();
                    let mut seqs = Vec::new();
                    for frame in std::mem::take(&mut sub.initial) {
                        seqs.push(frame.seq);
                        rebuild(&mut view, &frame);
                    }
                    loop {
                        if sub.lagged.load(Ordering::Acquire) {
                            let frame = hub.resync(&mut sub).unwrap();
                            rebuild(&mut view, &frame);
                            continue;
                        }
                        match sub.receiver.try_recv() {
                            Ok(frame) => {
                                assert!(seqs.last().is_none_or(|l| frame.seq > *l
                                    || matches!(frame.change, Change::Snapshot(_))));
                                seqs.push(frame.seq);
                                rebuild(&mut view, &frame);
                            }
                            Err(_) if done.load(Ordering::Acquire) => {
                                if sub.receiver.try_recv().is_err()
                                    && !sub.lagged.load(Ordering::Acquire)
                                {
                                    break;
                                }
                            }
                            Err(_) => std::thread::yield_now(),
                        }
                    }
                    // Drain what came after `done` was seen.
                    while let Ok(frame) = sub.receiver.try_recv() {
                        rebuild(&mut view, &frame);
                    }
                    (user, view)
                })
            })
            .collect();
    for (i, event) in events.into_iter().enumerate() {
        fold.apply(
            event,
            Position {
                stream: 0,
                offset: i as i64,
            },
        );
    }
    done.store(true, Ordering::Release);
    for watcher in watchers {
        let (user, view) = watcher.join().unwrap();
        let want: BTreeMap<String, Arc<Session>> = projection
            .sessions_for_user(&user)
            .into_iter()
            .map(|s| (s.id.to_string(), s))
            .collect();
        assert_eq!(
            view.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{user}"
        );
        for (id, session) in &want {
            assert_eq!(**session, *view[id], "{user} {id}");
        }
    }
}
