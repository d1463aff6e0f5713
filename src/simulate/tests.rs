use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::events::Event;
use crate::events::decode::{Decoded, decode_json};
use crate::events::validate::validate;
use crate::projection::{Fold, FoldConfig, Outcome, Position, Projection};

fn sim(seed: u64) -> Simulator {
    Simulator::new(SimConfig {
        seed,
        ..SimConfig::default()
    })
}

fn domain(e: &SimEvent) -> Event {
    validate(e.event.clone()).unwrap_or_else(|bad| panic!("{bad}: {:?}", e.event))
}

fn at(e: &SimEvent) -> EventTime {
    let ts = e.event.occurred_at.expect("occurred_at is set");
    EventTime::from_parts(ts.seconds, ts.nanos).expect("in range")
}

fn body(e: &SimEvent) -> &Body {
    e.event.body.as_ref().expect("body is set")
}

#[test]
fn the_default_clock_starts_on_the_demo_morning() {
    let start = EventTime::parse_rfc3339("2026-11-24T09:00:00Z").unwrap();
    assert_eq!(SimConfig::default().start, start);
    assert_eq!(at(&sim(1).next_event()), start);
}

#[test]
fn the_same_seed_gives_the_same_events() {
    let a: Vec<SimEvent> = sim(42).take(5_000).collect();
    let b: Vec<SimEvent> = sim(42).take(5_000).collect();
    assert_eq!(a, b);
}

#[test]
fn another_seed_gives_other_events() {
    let a: Vec<SimEvent> = sim(1).take(5_000).collect();
    let b: Vec<SimEvent> = sim(2).take(5_000).collect();
    assert_ne!(a, b);
    let ids = |v: &[SimEvent]| {
        v.iter()
            .map(|e| e.event.event_id.clone())
            .collect::<Vec<_>>()
    };
    assert!(ids(&a).iter().zip(ids(&b)).all(|(x, y)| *x != y));
}

#[test]
fn every_event_validates_and_round_trips_through_json() {
    let mut s = sim(1);
    let users: HashSet<String> = s.users().into_iter().collect();
    let mut event_ids = HashSet::new();
    let mut last = EventTime(i64::MIN);
    for e in s.by_ref().take(20_000) {
        let event = domain(&e);
        let member = event.kind.is_member_event();
        let expected = if member {
            SimTopic::Members
        } else {
            SimTopic::Calls
        };
        assert_eq!(e.topic, expected, "{:?}", e.event);
        let json = serde_json::to_string(&e.event).unwrap();
        assert_eq!(decode_json(&json), Decoded::Event(event.clone()), "{json}");

        assert!(event_ids.insert(e.event.event_id.clone()), "{json}");
        assert_eq!(e.event.event_id.len(), 26);
        assert!(e.event.session_id.starts_with("SIM-1-"), "{json}");
        assert!(e.event.account_id.starts_with("A-"), "{json}");
        if let Some(actor) = &event.actor_id {
            assert!(users.contains(actor), "{json}");
        }
        assert!(event.occurred_at >= last, "time went back: {json}");
        last = event.occurred_at;
    }
}

/// Feeds events to a fold as two streams (calls 0, members 1) with growing offsets.
struct Feeder {
    fold: Fold,
    offsets: [i64; 2],
}

impl Feeder {
    fn new(projection: &Arc<Projection>) -> Self {
        Self {
            fold: Fold::new(FoldConfig::default(), Arc::clone(projection)),
            offsets: [0, 0],
        }
    }

    fn feed(&mut self, e: &SimEvent) -> Outcome {
        let stream = match e.topic {
            SimTopic::Calls => 0,
            SimTopic::Members => 1,
        };
        let position = Position {
            stream: stream as u32,
            offset: self.offsets[stream],
        };
        self.offsets[stream] += 1;
        self.fold.apply(domain(e), position)
    }
}

fn users_seen_by_projection(projection: &Projection, users: &[String]) -> Vec<String> {
    users
        .iter()
        .filter(|u| !projection.sessions_for_user(u).is_empty())
        .cloned()
        .collect()
}

#[test]
fn the_fold_agrees_with_the_simulator() {
    let projection = Arc::new(Projection::new());
    let mut feeder = Feeder::new(&projection);
    let mut s = sim(3);
    let users = s.users();
    let mut buffered = 0;
    for i in 0..20_000 {
        let e = s.next_event();
        if feeder.feed(&e) == Outcome::Buffered {
            buffered += 1;
        }
        if i % 1_000 == 999 {
            assert_eq!(
                s.users_with_live_sessions(),
                users_seen_by_projection(&projection, &users),
                "after {} events",
                i + 1
            );
        }
    }
    // Stop where no session waits for its start: a cut can fall between an early member
    // event and its SessionStarted.
    for _ in 0..1_000 {
        if feeder.fold.pending_count() == 0 {
            break;
        }
        feeder.feed(&s.next_event());
    }
    let stats = feeder.fold.stats();
    assert!(buffered > 0, "no member event came before its session");
    assert_eq!(feeder.fold.pending_count(), 0);
    assert!(stats.skipped.is_empty(), "skipped: {:?}", stats.skipped);
    assert_eq!(stats.orphaned_sessions, 0);
    assert_eq!(stats.evicted_idle, 0);
    let live = s.users_with_live_sessions();
    assert!(!live.is_empty());
    assert_eq!(live, users_seen_by_projection(&projection, &users));
    let started = s.sessions.values().filter(|l| l.started).count();
    assert_eq!(projection.len(), started);
}

/// Events per simulated second over the first `seconds`, overall and after a warm-up.
fn observed_rate(rate: f64, seconds: i64, warm_up: i64) -> (f64, f64) {
    let mut s = Simulator::new(SimConfig {
        rate,
        ..SimConfig::default()
    });
    let start = SimConfig::default().start.0;
    let end = start + seconds * 1_000_000_000;
    let steady_from = start + warm_up * 1_000_000_000;
    let (mut all, mut steady) = (0u64, 0u64);
    loop {
        let t = at(&s.next_event()).0;
        if t >= end {
            break;
        }
        all += 1;
        if t >= steady_from {
            steady += 1;
        }
    }
    (
        all as f64 / seconds as f64,
        steady as f64 / (seconds - warm_up) as f64,
    )
}

#[test]
fn the_observed_rate_is_close_to_the_target() {
    for (rate, seconds) in [(20.0, 3_600), (500.0, 900)] {
        let (overall, steady) = observed_rate(rate, seconds, 300);
        println!(
            "rate {rate}: {overall:.1}/s over {seconds} s, {steady:.1}/s after a 300 s warm-up"
        );
        assert!((overall / rate - 1.0).abs() < 0.25, "{rate}: {overall}");
        assert!((steady / rate - 1.0).abs() < 0.15, "{rate}: {steady}");
    }
}

#[test]
fn all_kinds_and_paths_appear() {
    let events: Vec<SimEvent> = sim(1).take(20_000).collect();
    let kinds: BTreeSet<&str> = events.iter().map(|e| domain(e).kind.name()).collect();
    assert_eq!(kinds, crate::events::KIND_NAMES.into_iter().collect());

    let any = |f: &dyn Fn(&Body) -> bool| events.iter().any(|e| f(body(e)));
    let ch = |c: wire::Channel, d: wire::Direction| move |b: &Body| matches!(b, Body::SessionStarted(s) if s.channel == c as i32 && s.direction == d as i32);
    use wire::{Channel, Direction, HoldReason, MemberRole, QueueState};
    assert!(any(&ch(Channel::Voice, Direction::Incoming)));
    assert!(any(&ch(Channel::Voice, Direction::Outgoing)));
    assert!(any(&ch(Channel::Fax, Direction::Incoming)));
    assert!(any(&ch(Channel::Fax, Direction::Outgoing)));
    assert!(any(&|b| matches!(b, Body::SessionStarted(s)
        if s.channel == Channel::Chat as i32 && !s.from_phone_number.is_empty())));
    assert!(any(&|b| matches!(b, Body::SessionStarted(s)
        if s.direction == Direction::Outgoing as i32 && s.endpoint_id.starts_with("U-"))));
    assert!(any(&|b| matches!(b, Body::QueueStateChanged(q)
        if q.queue_state == QueueState::Ringing as i32
            && q.ring_queue_id.is_some() && q.queue_member_id.is_some())));
    assert!(any(&|b| matches!(b, Body::SessionHeld(h)
        if h.reason == HoldReason::Transferring as i32)));
    assert!(any(
        &|b| matches!(b, Body::SessionHeld(h) if h.reason == HoldReason::None as i32)
    ));
    assert!(any(
        &|b| matches!(b, Body::MemberJoined(j) if j.role == MemberRole::Transfer as i32)
    ));
    assert!(any(&|b| matches!(b, Body::MemberJoined(j)
        if j.role == MemberRole::None as i32 && !j.call_sid.is_empty())));
    assert!(any(&|b| matches!(b, Body::MemberJoined(j) if j.muted)));
    assert!(any(
        &|b| matches!(b, Body::MemberUpdated(u) if u.role == MemberRole::Agent as i32)
    ));
    assert!(any(
        &|b| matches!(b, Body::CustomerAssigned(c) if c.customer_breadcrumb.len() >= 2)
    ));
    assert!(any(&|b| matches!(b, Body::SessionEnded(e) if e.was_missed)));
    assert!(any(
        &|b| matches!(b, Body::SessionEnded(e) if !e.was_missed)
    ));
    assert!(any(
        &|b| matches!(b, Body::SessionDetailsChanged(d) if d.outcome.is_some())
    ));

    // A queue call that rang several agents, one answered and the others left.
    let mut rang: HashMap<&str, usize> = HashMap::new();
    let mut several = false;
    for e in &events {
        match body(e) {
            Body::MemberJoined(j) if j.call_state == wire::MemberCallState::Ringing as i32 => {
                *rang.entry(&e.event.session_id).or_default() += 1;
            }
            Body::SessionAnswered(_) => {
                several |= rang
                    .get(e.event.session_id.as_str())
                    .is_some_and(|n| *n > 1);
            }
            _ => {}
        }
    }
    assert!(several);
}

#[test]
fn some_member_events_come_before_their_session_started() {
    let mut first: HashMap<String, (EventTime, bool)> = HashMap::new();
    let mut ahead = 0;
    let mut starts = 0;
    for e in sim(1).take(20_000) {
        let t = at(&e);
        let is_start = matches!(body(&e), Body::SessionStarted(_));
        let (t0, start_first) = *first
            .entry(e.event.session_id.clone())
            .or_insert((t, is_start));
        if is_start {
            starts += 1;
            if !start_first {
                ahead += 1;
                assert!(
                    t0 < t,
                    "{}: the early member event is stamped earlier",
                    e.event.session_id
                );
            }
        }
    }
    let share = f64::from(ahead) / f64::from(starts);
    println!(
        "{ahead} of {starts} sessions had a member event first ({:.1}%)",
        share * 100.0
    );
    assert!((0.02..0.10).contains(&share), "{share}");
}

#[test]
fn finished_sessions_are_dropped() {
    let mut s = sim(5);
    let mut most = 0;
    for _ in 0..200_000 {
        s.next_event();
        most = most.max(s.sessions.len());
    }
    println!(
        "{} sessions created, {} live now, at most {most} at once",
        s.sessions_created,
        s.sessions.len()
    );
    assert!(s.sessions_created > 5_000);
    assert!(most < 400, "{most}");
    assert_eq!(s.agenda.len(), s.sessions.len() + 1);
    let busy: u32 = s.generator.load.iter().sum();
    let reserved: usize = s.sessions.values().map(|l| l.reserved.len()).sum();
    assert_eq!(busy as usize, reserved);
}

#[test]
fn agents_prefer_being_free() {
    // Plenty of agents for the traffic: nobody should be in many sessions at once.
    let mut s = Simulator::new(SimConfig {
        accounts: 4,
        users: 200,
        ..SimConfig::default()
    });
    let mut most = 0;
    for i in 0..40_000 {
        s.next_event();
        if i % 100 == 0 {
            let mut per_agent = vec![0; s.world.agents.len()];
            for live in s.sessions.values() {
                let agents: BTreeSet<usize> = live
                    .members
                    .iter()
                    .filter_map(|(_, a)| *a)
                    .chain(live.endpoint_agent)
                    .collect();
                for a in agents {
                    per_agent[a] += 1;
                }
            }
            most = most.max(per_agent.into_iter().max().unwrap_or(0));
        }
    }
    println!("most sessions one agent was in at once: {most}");
    assert!(most <= 3, "{most}");
}

#[test]
fn users_are_agents_named_per_account() {
    let s = sim(1);
    let users = s.users();
    assert_eq!(users.len(), 12);
    for slug in ["acme", "northwind", "blueharbor"] {
        let mine: Vec<&String> = users
            .iter()
            .filter(|u| u.starts_with(&format!("U-{slug}-")))
            .collect();
        assert_eq!(mine.len(), 4, "{slug}: {users:?}");
    }
    let names: HashSet<&str> = s.world.agents.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names.len(), 12);
    assert!(s.users_with_live_sessions().is_empty());
}

#[test]
fn odd_configs_still_make_valid_traffic() {
    for (accounts, users) in [(0, 0), (1, 0), (10, 3), (20, 40)] {
        let mut s = Simulator::new(SimConfig {
            accounts,
            users,
            rate: 50.0,
            ..SimConfig::default()
        });
        assert_eq!(s.users().len(), users);
        let projection = Arc::new(Projection::new());
        let mut feeder = Feeder::new(&projection);
        for e in s.by_ref().take(3_000) {
            feeder.feed(&e);
        }
        assert!(feeder.fold.stats().skipped.is_empty());
        assert_eq!(
            s.users_with_live_sessions(),
            users_seen_by_projection(&projection, &s.users())
        );
        let accounts_seen: HashSet<String> =
            s.world.accounts.iter().map(|a| a.id.clone()).collect();
        assert_eq!(accounts_seen.len(), accounts.max(1));
    }
}

#[test]
fn a_new_rate_takes_over_from_the_next_arrival() {
    // 1,000 simulated seconds at 50/s, then 1,000 at 500/s: the second half has about ten
    // times the events of the first (measured after each half's warm-up).
    let mut s = sim(3);
    let start = SimConfig::default().start.0;
    let second = |n: i64| start + n * 1_000_000_000;
    s.set_rate(50.0);
    let (mut slow, mut fast) = (0u64, 0u64);
    let mut switched = false;
    loop {
        let t = at(&s.next_event()).0;
        if !switched && t >= second(1_000) {
            s.set_rate(500.0);
            switched = true;
        }
        if t >= second(2_000) {
            break;
        }
        if (second(300)..second(1_000)).contains(&t) {
            slow += 1;
        } else if t >= second(1_300) {
            fast += 1;
        }
    }
    let ratio = fast as f64 / slow as f64;
    assert!(
        (7.0..13.0).contains(&ratio),
        "{fast} vs {slow} events: {ratio:.1}"
    );
    assert!(s.live_sessions() > 0);
}

#[test]
#[should_panic(expected = "rate must be positive")]
fn a_zero_rate_is_refused() {
    Simulator::new(SimConfig {
        rate: 0.0,
        ..SimConfig::default()
    });
}

#[test]
fn generation_speed() {
    // A million events in release builds; fewer in debug ones, which are much slower.
    let n = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    let mut s = Simulator::new(SimConfig {
        rate: 1_000.0,
        users: 400,
        accounts: 8,
        ..SimConfig::default()
    });
    let started = Instant::now();
    let mut last = EventTime(0);
    for e in s.by_ref().take(n) {
        last = at(&std::hint::black_box(e));
    }
    let elapsed = started.elapsed();
    let simulated = (last.0 - SimConfig::default().start.0) as f64 / 1e9;
    println!(
        "{n} events in {elapsed:.2?} ({:.0} events/s); {simulated:.0} simulated s; \
         {} live sessions at the end",
        n as f64 / elapsed.as_secs_f64(),
        s.sessions.len()
    );
}
