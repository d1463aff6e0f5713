//! A traffic simulator: an endless, reproducible stream of realistic call and member
//! events from a few contact-center accounts, like `scripts/gen-demo.py`'s morning but
//! generated on the fly at a chosen rate.
//!
//! Each session is written as a whole script when it arrives (a scenario: a queue call
//! that rings several agents, a missed call, an outbound call, a chat, a fax, with holds,
//! transfers, conferences, mutes, customers, details and notes) and then played step by
//! step: a priority queue of (simulated time, sequence number) gives every active session's
//! next step and the next arrival, so the output is in time order and depends only on the
//! seed. A session is dropped from the simulator once its `SessionEnded` is out.
//!
//! ```
//! use sessiond::simulate::{SimConfig, Simulator};
//!
//! let mut sim = Simulator::new(SimConfig { seed: 7, ..SimConfig::default() });
//! let first = sim.next_event();
//! assert!(first.event.session_id.starts_with("SIM-7-"));
//! ```

#[cfg(test)]
pub(crate) mod fixtures;
pub mod live;
mod scenarios;
mod script;
mod world;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use self::script::{Gen, Step};
use self::world::World;
use crate::events::wire::{self, session_event::Body};
use crate::time::EventTime;

/// 2026-11-24T09:00:00Z, the default start of the simulated clock.
const DEFAULT_START: EventTime = EventTime(1_795_510_800 * 1_000_000_000);

/// Nanoseconds in a millisecond: step delays and arrivals are whole milliseconds.
const MS: i64 = 1_000_000;

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seeds every random choice: the same config always gives the same events.
    pub seed: u64,
    /// How many accounts (businesses) share the platform; at least one is simulated.
    pub accounts: usize,
    /// Agents in all, dealt round-robin over the accounts (`U-<account-slug>-<n>`).
    pub users: usize,
    /// Target events per second of simulated time (positive and finite). Sessions arrive
    /// at the steady rate from the start, so the event rate builds up over the first
    /// minute or two of simulated time, as the first sessions get going.
    pub rate: f64,
    /// Where the simulated clock starts.
    pub start: EventTime,
}

impl Default for SimConfig {
    /// Seed 1, 3 accounts, 12 agents, 20 events per second from 2026-11-24T09:00:00Z.
    fn default() -> Self {
        Self {
            seed: 1,
            accounts: 3,
            users: 12,
            rate: 20.0,
            start: DEFAULT_START,
        }
    }
}

/// The topic an event would travel on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimTopic {
    /// Call kinds (`voice.calls` by default).
    Calls,
    /// Member kinds (`voice.members` by default).
    Members,
}

impl SimTopic {
    /// Member kinds go on the member topic, everything else on the call topic.
    fn of(body: &Body) -> Self {
        match body {
            Body::MemberJoined(_)
            | Body::MemberCallStateChanged(_)
            | Body::MemberMuteChanged(_)
            | Body::MemberUpdated(_)
            | Body::MemberLeft(_) => Self::Members,
            _ => Self::Calls,
        }
    }
}

/// One generated event and the topic it belongs on.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    /// The topic: by the event's kind.
    pub topic: SimTopic,
    /// The event, every envelope field set (`actor_id` only when an agent acts).
    pub event: wire::SessionEvent,
}

/// The simulator: call [`next_event`](Simulator::next_event), or iterate.
pub struct Simulator {
    seed: u64,
    rate: f64,
    start: EventTime,
    world: World,
    generator: Gen,
    /// Every active session's next step, and the next arrival.
    agenda: BinaryHeap<Reverse<Due>>,
    /// Tie-breaker for equal times: first scheduled, first out.
    seq: u64,
    /// The next arrival, in exact seconds after `start` (stamped to the millisecond).
    next_arrival: f64,
    sessions: HashMap<u64, Live>,
    sessions_created: u64,
    events_emitted: u64,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("seed", &self.seed)
            .field("rate", &self.rate)
            .field("accounts", &self.world.accounts.len())
            .field("users", &self.world.agents.len())
            .field("sessions_created", &self.sessions_created)
            .field("live_sessions", &self.sessions.len())
            .field("events_emitted", &self.events_emitted)
            .finish_non_exhaustive()
    }
}

/// An entry of the agenda.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: i64,
    seq: u64,
    what: What,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    /// A new session arrives.
    Arrival,
    /// A session (by number) plays its next step.
    Step(u64),
}

/// A session whose script is being played.
struct Live {
    id: String,
    account: usize,
    steps: std::vec::IntoIter<Step>,
    /// Its `SessionStarted` is out.
    started: bool,
    endpoint_agent: Option<usize>,
    /// Current members: identity and, for agents, which agent.
    members: Vec<(String, Option<usize>)>,
    /// Agents it still counts as busy.
    reserved: Vec<usize>,
}

impl Simulator {
    /// A simulator for `config`, its clock at `config.start`, with no session yet.
    ///
    /// # Panics
    /// If `config.rate` is not a positive finite number.
    pub fn new(config: SimConfig) -> Self {
        assert!(
            config.rate.is_finite() && config.rate > 0.0,
            "rate must be positive and finite, got {}",
            config.rate
        );
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let world = World::new(&mut rng, config.accounts, config.users);
        let generator = Gen::new(rng, &world);
        let mut sim = Self {
            seed: config.seed,
            rate: config.rate,
            start: config.start,
            world,
            generator,
            agenda: BinaryHeap::new(),
            seq: 0,
            next_arrival: 0.0,
            sessions: HashMap::new(),
            sessions_created: 0,
            events_emitted: 0,
        };
        sim.schedule(config.start.0, What::Arrival);
        sim
    }

    /// The next event; the stream is endless.
    ///
    /// `event.occurred_at` is simulated time and never decreases: a member event that
    /// comes before its session's `SessionStarted` (about 5% of sessions, as when the
    /// member topic runs ahead) is stamped a few hundred milliseconds before it.
    pub fn next_event(&mut self) -> SimEvent {
        loop {
            let Reverse(due) = self
                .agenda
                .pop()
                .expect("the next arrival is always scheduled");
            match due.what {
                What::Arrival => self.arrive(due.at),
                What::Step(n) => return self.play(n, due.at),
            }
        }
    }

    /// Changes the target rate (events per second of simulated time) from the next
    /// arrival on, for traffic that follows a curve (a contact center's day); sessions
    /// already arrived play on as written.
    ///
    /// # Panics
    /// If `rate` is not a positive finite number.
    pub fn set_rate(&mut self, rate: f64) {
        assert!(
            rate.is_finite() && rate > 0.0,
            "rate must be positive and finite, got {rate}"
        );
        self.rate = rate;
    }

    /// Sessions whose script is still playing (arrived and not yet ended).
    pub fn live_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Endpoint ids of users who currently have at least one active session (as endpoint
    /// or current member), sorted. A session is active from its `SessionStarted` until its
    /// `SessionEnded`, counting only events already returned.
    pub fn users_with_live_sessions(&self) -> Vec<String> {
        let mut users = BTreeSet::new();
        for live in self.sessions.values().filter(|l| l.started) {
            let agents = live.endpoint_agent.into_iter();
            let members = live.members.iter().filter_map(|(_, a)| *a);
            users.extend(agents.chain(members).map(|a| &self.world.agents[a].id));
        }
        users.into_iter().cloned().collect()
    }

    /// All agent user ids (endpoint ids), sorted.
    pub fn users(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.world.agents.iter().map(|a| a.id.clone()).collect();
        ids.sort();
        ids
    }

    fn schedule(&mut self, at: i64, what: What) {
        self.seq += 1;
        self.agenda.push(Reverse(Due {
            at,
            seq: self.seq,
            what,
        }));
    }

    /// A new session arrives at `at`: its script is written and its first step scheduled,
    /// and so is the next arrival, after an exponential gap whose mean is this session's
    /// event count over the rate, so that events average `rate` per second.
    fn arrive(&mut self, at: i64) {
        let n = self.sessions_created;
        self.sessions_created += 1;
        let accounts = self.world.accounts.len() as u32;
        let account = self.generator.rng.random_range(0..accounts) as usize;
        let script = scenarios::build(
            &mut self.generator,
            &self.world,
            &self.world.accounts[account],
        );
        let count = script.steps.len() as f64;
        let first = at + i64::from(script.steps[0].delay_ms) * MS;
        self.sessions.insert(
            n,
            Live {
                id: format!("SIM-{}-{n}", self.seed),
                account,
                steps: script.steps.into_iter(),
                started: false,
                endpoint_agent: script.endpoint_agent,
                members: Vec::new(),
                reserved: script.reserved,
            },
        );
        self.schedule(first, What::Step(n));

        let u: f64 = self.generator.rng.random();
        self.next_arrival += -(1.0 - u).ln() * count / self.rate;
        let next = self.start.0 + (self.next_arrival * 1000.0).floor() as i64 * MS;
        self.schedule(next.max(at), What::Arrival);
    }

    /// Session `n` plays its next step at `at`.
    fn play(&mut self, n: u64, at: i64) -> SimEvent {
        let event_id = self.event_id(at);
        let live = self
            .sessions
            .get_mut(&n)
            .expect("scheduled sessions are live");
        let step = live.steps.next().expect("a scheduled session has a step");
        observe(live, &step, &mut self.generator.load);
        let (seconds, nanos) = EventTime(at).to_parts();
        let topic = SimTopic::of(&step.body);
        let event = wire::SessionEvent {
            event_id,
            session_id: live.id.clone(),
            occurred_at: Some(pbjson_types::Timestamp { seconds, nanos }),
            account_id: self.world.accounts[live.account].id.clone(),
            actor_id: step
                .actor
                .map(|a| self.world.agents[a].id.clone())
                .unwrap_or_default(),
            body: Some(step.body),
        };
        match live.steps.as_slice().first() {
            Some(next) => {
                let next_at = at + i64::from(next.delay_ms) * MS;
                self.schedule(next_at, What::Step(n));
            }
            None => {
                if let Some(done) = self.sessions.remove(&n) {
                    for a in done.reserved {
                        self.generator.load[a] -= 1;
                    }
                }
            }
        }
        SimEvent { topic, event }
    }

    /// A ULID-like event id: 48 bits of milliseconds, 40 random bits, and a 40-bit counter
    /// that makes every id unique.
    fn event_id(&mut self, at: i64) -> String {
        const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let ms = (at.div_euclid(MS) as u64) & ((1 << 48) - 1);
        let random = self.generator.rng.next_u64() >> 24;
        let counter = self.events_emitted & ((1 << 40) - 1);
        self.events_emitted += 1;
        let n = (u128::from(ms) << 80) | (u128::from(random) << 40) | u128::from(counter);
        (0..26)
            .rev()
            .map(|i| CROCKFORD[((n >> (5 * i)) & 31) as usize] as char)
            .collect()
    }
}

/// Keeps the session's view (started, members, busy agents) in line with a step that is
/// being emitted.
fn observe(live: &mut Live, step: &Step, load: &mut [u32]) {
    match &step.body {
        Body::SessionStarted(_) => live.started = true,
        Body::MemberJoined(j) => live.members.push((j.identity.clone(), step.member_agent)),
        Body::MemberLeft(l) => {
            let Some(i) = live.members.iter().position(|(id, _)| *id == l.identity) else {
                return;
            };
            let (_, agent) = live.members.remove(i);
            let reserved = agent.and_then(|a| live.reserved.iter().position(|r| *r == a));
            if let Some(r) = reserved {
                load[live.reserved.swap_remove(r)] -= 1;
            }
        }
        _ => {}
    }
}

impl Iterator for Simulator {
    type Item = SimEvent;

    /// Always `Some`: the stream never ends.
    fn next(&mut self) -> Option<SimEvent> {
        Some(self.next_event())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}
