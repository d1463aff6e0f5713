//! Properties of the fold (event-model.md, "what the fold guarantees"), over random valid
//! sessions split across the call and member topics.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use sessiond::events::Event;
use sessiond::projection::{Fold, FoldConfig, FoldImage, Position, Projection, Session};

const CALLS: u32 = 1;
const MEMBERS: u32 = 2;
const USERS: [&str; 4] = ["U-1", "U-2", "U-3", "U-4"];

/// One session's script: its call events and member events, each in producer order.
#[derive(Debug, Clone)]
struct Script {
    calls: Vec<String>,
    members: Vec<String>,
    ended: bool,
    /// Who owns it at the end, by an independent model: the endpoint and the endpoints of
    /// members that joined and did not leave.
    owners: BTreeSet<String>,
}

/// What a step of a session does, before it is written out as an event line.
#[derive(Debug, Clone)]
enum Step {
    Call(u8),
    Join { identity: u8, user: u8 },
    Leave { identity: u8 },
    MemberChange { identity: u8, kind: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..8).prop_map(Step::Call),
        (0u8..3, 0u8..4).prop_map(|(identity, user)| Step::Join { identity, user }),
        (0u8..3).prop_map(|identity| Step::Leave { identity }),
        (0u8..3, 0u8..3).prop_map(|(identity, kind)| Step::MemberChange { identity, kind }),
    ]
}

fn script_strategy() -> impl Strategy<Value = (u8, Vec<Step>, bool)> {
    (0u8..4, prop::collection::vec(step(), 0..14), any::<bool>())
}

fn build(index: usize, endpoint: u8, steps: &[Step], ends: bool) -> Script {
    let session = format!("S-{index}");
    let time = |n: usize| format!("2026-11-24T09:{:02}:{:02}Z", index % 60, n.min(59));
    let mut calls = vec![common::started(
        &format!("{session}-c0"),
        &session,
        &time(0),
        USERS[endpoint as usize],
    )];
    let mut members = Vec::new();
    let mut current: BTreeMap<u8, u8> = BTreeMap::new();
    for (n, step) in steps.iter().enumerate() {
        let id = format!("{session}-{n}");
        let t = time(n + 1);
        match step {
            Step::Call(kind) => {
                let body = match kind {
                    0 => r#""callStateChanged":{"callState":"CALL_STATE_CONNECTED"}"#.to_owned(),
                    1 => r#""sessionHeld":{"heldByUserId":"U-1","reason":"HOLD_REASON_TRANSFERRING"}"#.to_owned(),
                    2 => r#""sessionResumed":{}"#.to_owned(),
                    3 => format!(r#""actorId":"U-{n}","logAppended":{{"message":"entry {n}"}}"#),
                    4 => r#""queueStateChanged":{"queueState":"QUEUE_STATE_QUEUED","ringQueueId":"Q"}"#.to_owned(),
                    5 => format!(r#""sessionDetailsChanged":{{"displayName":"d{n}"}}"#),
                    6 => r#""dialStateChanged":{"dialState":"DIAL_STATE_NONE"}"#.to_owned(),
                    _ => r#""sessionAnswered":{"answeredById":"U-2","answeredByName":"Bo"}"#.to_owned(),
                };
                calls.push(common::line(&id, &session, &t, &body));
            }
            Step::Join { identity, user } => {
                current.insert(*identity, *user);
                members.push(common::line(&id, &session, &t, &format!(
                    r#""actorId":"{}","memberJoined":{{"identity":"m{identity}","endpointId":"{}","callSid":"CA{n}"}}"#,
                    USERS[*user as usize], USERS[*user as usize]
                )));
            }
            Step::Leave { identity } => {
                current.remove(identity);
                members.push(common::line(
                    &id,
                    &session,
                    &t,
                    &format!(r#""memberLeft":{{"identity":"m{identity}"}}"#),
                ));
            }
            Step::MemberChange { identity, kind } => {
                let body = match kind {
                    0 => {
                        format!(r#""memberMuteChanged":{{"identity":"m{identity}","muted":true}}"#)
                    }
                    1 => format!(
                        r#""memberCallStateChanged":{{"identity":"m{identity}","callState":"MEMBER_CALL_STATE_HOLD"}}"#
                    ),
                    _ => format!(
                        r#""memberUpdated":{{"identity":"m{identity}","displayName":"n{n}","applicationData":{{"k{n}":"v"}}}}"#
                    ),
                };
                members.push(common::line(&id, &session, &t, &body));
            }
        }
    }
    if ends {
        calls.push(common::line(
            &format!("{session}-end"),
            &session,
            &time(steps.len() + 1),
            r#""sessionEnded":{"outcome":"done"}"#,
        ));
    }
    let mut owners: BTreeSet<String> = current
        .values()
        .map(|u| USERS[*u as usize].to_owned())
        .collect();
    owners.insert(USERS[endpoint as usize].to_owned());
    Script {
        calls,
        members,
        ended: ends,
        owners,
    }
}

/// A topic: the sessions' lines merged in an order that keeps each session's order.
fn topic(lists: Vec<&Vec<String>>, picks: &[usize], stream: u32) -> Vec<(Position, Event)> {
    let mut cursors = vec![0usize; lists.len()];
    let mut out = Vec::new();
    let total: usize = lists.iter().map(|l| l.len()).sum();
    let mut pick = picks.iter().cycle();
    while out.len() < total {
        let mut i = pick.next().copied().unwrap_or(0) % lists.len();
        while cursors[i] >= lists[i].len() {
            i = (i + 1) % lists.len();
        }
        let offset = out.len() as i64;
        out.push((
            Position { stream, offset },
            common::event(&lists[i][cursors[i]]),
        ));
        cursors[i] += 1;
    }
    out
}

/// Interleaves the two topics, keeping each topic's order: `choices[k]` picks the topic.
fn interleave<T: Clone>(a: &[T], b: &[T], choices: &[bool]) -> Vec<T> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut choice = choices.iter().cycle();
    while i < a.len() || j < b.len() {
        let take_a = j >= b.len() || (i < a.len() && *choice.next().unwrap_or(&true));
        if take_a {
            out.push(a[i].clone());
            i += 1;
        } else {
            out.push(b[j].clone());
            j += 1;
        }
    }
    out
}

fn run(events: &[(Position, Event)]) -> Fold {
    let mut fold = Fold::new(FoldConfig::default(), Arc::new(Projection::new()));
    for (position, event) in events {
        fold.apply(event.clone(), *position);
    }
    fold
}

/// Everything a reader can see: every session, and each user's result.
fn visible(projection: &Projection) -> (Vec<Session>, Vec<Vec<Arc<str>>>) {
    let all = projection.all().iter().map(|s| (**s).clone()).collect();
    let per_user = USERS
        .iter()
        .map(|u| {
            projection
                .sessions_for_user(u)
                .iter()
                .map(|s| Arc::clone(&s.id))
                .collect()
        })
        .collect();
    (all, per_user)
}

/// A topic's records in order.
type Topic = Vec<(Position, Event)>;

fn scenario() -> impl Strategy<Value = (Vec<Script>, Topic, Topic)> {
    (
        prop::collection::vec(script_strategy(), 1..6),
        prop::collection::vec(0usize..6, 1..40),
        prop::collection::vec(0usize..6, 1..40),
    )
        .prop_map(|(raw, call_picks, member_picks)| {
            let scripts: Vec<Script> = raw
                .iter()
                .enumerate()
                .map(|(i, (endpoint, steps, ends))| build(i, *endpoint, steps, *ends))
                .collect();
            let calls = topic(
                scripts.iter().map(|s| &s.calls).collect(),
                &call_picks,
                CALLS,
            );
            let members = topic(
                scripts.iter().map(|s| &s.members).collect(),
                &member_picks,
                MEMBERS,
            );
            (scripts, calls, members)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_interleaving_gives_the_same_projection(
        (_scripts, calls, members) in scenario(),
        choices_a in prop::collection::vec(any::<bool>(), 1..64),
        choices_b in prop::collection::vec(any::<bool>(), 1..64),
    ) {
        let calls_first: Vec<_> = calls.iter().chain(&members).cloned().collect();
        let members_first: Vec<_> = members.iter().chain(&calls).cloned().collect();
        let reference = visible(run(&calls_first).projection());
        prop_assert_eq!(&visible(run(&members_first).projection()), &reference);
        prop_assert_eq!(&visible(run(&interleave(&calls, &members, &choices_a)).projection()), &reference);
        prop_assert_eq!(&visible(run(&interleave(&calls, &members, &choices_b)).projection()), &reference);
    }

    #[test]
    fn redelivering_any_prefix_changes_nothing(
        (_scripts, calls, members) in scenario(),
        choices in prop::collection::vec(any::<bool>(), 1..64),
        cut in any::<prop::sample::Index>(),
        restart in any::<prop::sample::Index>(),
    ) {
        let events = interleave(&calls, &members, &choices);
        let once = visible(run(&events).projection());
        // A consumer that restarts at `restart` after reaching `cut` re-reads what it had.
        let cut = cut.index(events.len() + 1);
        let restart = restart.index(cut + 1);
        let redelivered: Vec<_> = events[..cut].iter().chain(&events[restart..]).cloned().collect();
        prop_assert_eq!(&visible(run(&redelivered).projection()), &once);
        // And the whole log applied twice.
        let twice: Vec<_> = events.iter().chain(&events).cloned().collect();
        prop_assert_eq!(&visible(run(&twice).projection()), &once);
    }

    #[test]
    fn users_see_exactly_their_active_sessions_and_ended_ones_never_return(
        (scripts, calls, members) in scenario(),
        choices in prop::collection::vec(any::<bool>(), 1..64),
    ) {
        let mut fold = run(&interleave(&calls, &members, &choices));
        for user in USERS {
            let expected: BTreeSet<String> = scripts
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.ended && s.owners.contains(user))
                .map(|(i, _)| format!("S-{i}"))
                .collect();
            let got: BTreeSet<String> = fold
                .projection()
                .sessions_for_user(user)
                .iter()
                .map(|s| s.id.to_string())
                .collect();
            prop_assert_eq!(got, expected, "user {}", user);
        }
        // Late copies of every event of the ended sessions, at new positions and with
        // new event ids: none of them brings an ended session back.
        let mut offset = 1_000_000;
        for (i, script) in scripts.iter().enumerate().filter(|(_, s)| s.ended) {
            for line in script.calls.iter().chain(&script.members) {
                let mut event = common::event(line);
                event.event_id = Some(format!("late-{offset}"));
                offset += 1;
                fold.apply(event, Position { stream: 9, offset });
            }
            let id = format!("S-{i}");
            prop_assert!(fold.projection().get(&id).is_none(), "{} came back", id);
        }
    }

    #[test]
    fn a_fold_restored_from_its_image_continues_exactly(
        (_scripts, calls, members) in scenario(),
        choices in prop::collection::vec(any::<bool>(), 1..64),
        cut in any::<prop::sample::Index>(),
    ) {
        let events = interleave(&calls, &members, &choices);
        let cut = cut.index(events.len() + 1);
        let whole = run(&events);

        let first = run(&events[..cut]);
        let image = first.image().expect("a consistent fold");
        let mut resumed = Fold::restore(FoldConfig::default(), Arc::new(Projection::new()), image.clone())
            .expect("an image restores");
        prop_assert_eq!(sorted(resumed.image().expect("a consistent fold")), sorted(image));
        // The checkpoint's positions are where it resumes, but a source may redeliver
        // records from before them: the restored dedupe memory must drop those.
        for (position, event) in events[cut.saturating_sub(3)..].iter().cloned() {
            resumed.apply(event, position);
        }
        prop_assert_eq!(visible(resumed.projection()), visible(whole.projection()));
        // Redelivered records are counted as skipped; everything else is the same.
        let (mut got, want) = (sorted(resumed.image().expect("a consistent fold")), sorted(whole.image().expect("a consistent fold")));
        prop_assert_eq!(got.stats.applied_by_kind, want.stats.applied_by_kind);
        got.stats = want.stats.clone();
        prop_assert_eq!(got, want);
    }
}

/// An image with its books in id order, for comparing two images.
fn sorted(mut image: FoldImage) -> FoldImage {
    image.books.sort_by(|a, b| a.id.cmp(&b.id));
    image
}
