//! A session's script: the list of events it will emit, each a delay after the one before,
//! written by a scenario when the session arrives. The builder keeps its own view of who
//! is a member, so no member event can name a member that has not joined.

use std::collections::BTreeMap;

use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

use super::world::{Account, Agent, Customer, World};
use crate::events::wire::{self, session_event::Body};

/// A delay before a step, in seconds: drawn uniformly from `lo..=hi`.
pub(super) type Dt = (f64, f64);

/// One scheduled event of a session.
pub(super) struct Step {
    /// Milliseconds after the previous step of the same session (or its arrival).
    pub delay_ms: u32,
    /// The agent who causes it, if one does (an index into the world's agents).
    pub actor: Option<usize>,
    /// For `MemberJoined`: the agent who is the new member, if one is.
    pub member_agent: Option<usize>,
    pub body: Body,
}

/// The generator's mutable state shared by all scenarios: randomness and agent load.
pub(super) struct Gen {
    pub rng: ChaCha8Rng,
    /// Per agent: sessions that count the agent as involved and have not released them.
    pub load: Vec<u32>,
}

impl Gen {
    /// Starts from a seeded generator; nobody in `world` is busy.
    pub fn new(rng: ChaCha8Rng, world: &World) -> Self {
        Self {
            rng,
            load: vec![0; world.agents.len()],
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A number uniform in `lo..=hi`.
    pub fn uniform(&mut self, (lo, hi): Dt) -> f64 {
        self.rng.random_range(lo..=hi)
    }

    /// An integer uniform in `lo..=hi`.
    pub fn int(&mut self, lo: u32, hi: u32) -> u32 {
        self.rng.random_range(lo..=hi)
    }

    /// A Twilio-like SID: two letters and 32 hex digits (`CA` call, `CF` conference, ...).
    pub fn sid(&mut self, prefix: &str) -> String {
        let hi = self.rng.next_u64();
        let lo = self.rng.next_u64();
        format!("{prefix}{hi:016x}{lo:016x}")
    }

    /// Up to `k` agents of `account` not in `exclude`, the least busy first (ties broken at
    /// random), each now counted as busy once more.
    pub fn pick_agents(&mut self, account: &Account, k: usize, exclude: &[usize]) -> Vec<usize> {
        let mut candidates: Vec<(u32, u32, usize)> = account
            .agents
            .iter()
            .filter(|a| !exclude.contains(a))
            .map(|&a| (self.load[a], self.rng.next_u32(), a))
            .collect();
        candidates.sort_unstable();
        let picked: Vec<usize> = candidates.into_iter().take(k).map(|c| c.2).collect();
        for &a in &picked {
            self.load[a] += 1;
        }
        picked
    }

    /// One of the account's customers, uniformly.
    pub fn customer<'w>(&mut self, account: &'w Account) -> &'w Customer {
        super::world::pick(&mut self.rng, &account.customers)
    }
}

/// A finished script, ready to be played.
pub(super) struct Finished {
    pub steps: Vec<Step>,
    /// The agent whose endpoint the session is on (outbound calls and faxes).
    pub endpoint_agent: Option<usize>,
    /// Agents counted busy for this session (released when they leave or it ends).
    pub reserved: Vec<usize>,
}

/// Who a member of the session being written is.
struct Member {
    identity: String,
    agent: Option<usize>,
}

/// A session's script being written for one account.
pub(super) struct Script<'a> {
    pub g: &'a mut Gen,
    pub w: &'a World,
    pub account: &'a Account,
    steps: Vec<Step>,
    endpoint_agent: Option<usize>,
    reserved: Vec<usize>,
    members: Vec<Member>,
}

impl<'a> Script<'a> {
    /// An empty script for a session of `account`.
    pub fn new(g: &'a mut Gen, w: &'a World, account: &'a Account) -> Self {
        Self {
            g,
            w,
            account,
            steps: Vec::new(),
            endpoint_agent: None,
            reserved: Vec::new(),
            members: Vec::new(),
        }
    }

    /// The script, once its last step (`SessionEnded`) is written.
    pub fn finish(self) -> Finished {
        debug_assert!(matches!(
            self.steps.last().map(|s| &s.body),
            Some(Body::SessionEnded(_))
        ));
        Finished {
            steps: self.steps,
            endpoint_agent: self.endpoint_agent,
            reserved: self.reserved,
        }
    }

    /// The agent at index `i`.
    pub fn agent(&self, i: usize) -> &'a Agent {
        &self.w.agents[i]
    }

    /// Picks up to `k` agents of the account who are not in the session yet, least busy
    /// first, and counts them busy for this session.
    pub fn pick_agents(&mut self, k: usize) -> Vec<usize> {
        let mut involved = self.reserved.clone();
        involved.extend(self.endpoint_agent);
        let picked = self.g.pick_agents(self.account, k, &involved);
        self.reserved.extend_from_slice(&picked);
        picked
    }

    /// Makes the session belong to `agent`'s endpoint (outbound calls and faxes).
    pub fn set_endpoint_agent(&mut self, agent: usize) {
        self.endpoint_agent = Some(agent);
    }

    /// Whether `identity` is a member now.
    pub fn has_member(&self, identity: &str) -> bool {
        self.members.iter().any(|m| m.identity == identity)
    }

    /// Identities of current members who are agents, in join order.
    pub fn agent_identities(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| m.agent.is_some())
            .map(|m| m.identity.clone())
            .collect()
    }

    /// Adds a step a random `dt` after the previous one.
    fn push(&mut self, dt: Dt, actor: Option<usize>, body: Body) {
        let ms = (self.g.uniform(dt) * 1000.0).round().max(0.0);
        self.steps.push(Step {
            delay_ms: ms as u32,
            actor,
            member_agent: None,
            body,
        });
    }

    // ---- call kinds

    /// `SessionStarted`.
    pub fn started(&mut self, dt: Dt, actor: Option<usize>, s: wire::SessionStarted) {
        self.push(dt, actor, Body::SessionStarted(s));
    }

    /// `CallStateChanged`.
    pub fn call(&mut self, dt: Dt, actor: Option<usize>, state: wire::CallState) {
        let body = wire::CallStateChanged {
            call_state: state as i32,
        };
        self.push(dt, actor, Body::CallStateChanged(body));
    }

    /// `DialStateChanged`.
    pub fn dial(&mut self, dt: Dt, state: wire::DialState) {
        let body = wire::DialStateChanged {
            dial_state: state as i32,
        };
        self.push(dt, None, Body::DialStateChanged(body));
    }

    /// `QueueStateChanged`, with the ring queue and queue member ids when given.
    pub fn queue(
        &mut self,
        dt: Dt,
        state: wire::QueueState,
        ring_queue_id: Option<String>,
        queue_member_id: Option<String>,
    ) {
        let body = wire::QueueStateChanged {
            queue_state: state as i32,
            ring_queue_id,
            queue_member_id,
        };
        self.push(dt, None, Body::QueueStateChanged(body));
    }

    /// `SessionAnswered` by `agent`.
    pub fn answered(&mut self, dt: Dt, agent: usize) {
        let a = self.agent(agent);
        let body = wire::SessionAnswered {
            answered_by_id: a.id.clone(),
            answered_by_name: a.name.clone(),
        };
        self.push(dt, Some(agent), Body::SessionAnswered(body));
    }

    /// `SessionHeld` by `agent` in the account's hold queue, for a transfer or not.
    pub fn held(&mut self, dt: Dt, agent: usize, transfer: bool) {
        let reason = if transfer {
            wire::HoldReason::Transferring
        } else {
            wire::HoldReason::None
        };
        let body = wire::SessionHeld {
            held_by_user_id: self.agent(agent).id.clone(),
            hold_queue_name: self.account.queue.hold.clone(),
            reason: reason as i32,
        };
        self.push(dt, Some(agent), Body::SessionHeld(body));
    }

    /// `SessionResumed`.
    pub fn resumed(&mut self, dt: Dt, actor: Option<usize>) {
        self.push(dt, actor, Body::SessionResumed(wire::SessionResumed {}));
    }

    /// `ConferenceStarted` with a new conference SID.
    pub fn conference(&mut self, dt: Dt, actor: Option<usize>) {
        let body = wire::ConferenceStarted {
            conference_sid: self.g.sid("CF"),
        };
        self.push(dt, actor, Body::ConferenceStarted(body));
    }

    /// `CustomerAssigned` with the customer's breadcrumb.
    pub fn customer(&mut self, dt: Dt, actor: Option<usize>, c: &Customer) {
        let body = wire::CustomerAssigned {
            customer_id: c.id.clone(),
            customer_name: c.name.clone(),
            customer_breadcrumb: c.breadcrumb.clone(),
        };
        self.push(dt, actor, Body::CustomerAssigned(body));
    }

    /// `SessionDetailsChanged` with the fields given.
    pub fn details(&mut self, dt: Dt, actor: Option<usize>, d: wire::SessionDetailsChanged) {
        self.push(dt, actor, Body::SessionDetailsChanged(d));
    }

    /// `LogAppended`.
    pub fn note(&mut self, dt: Dt, actor: Option<usize>, message: String) {
        self.push(dt, actor, Body::LogAppended(wire::LogAppended { message }));
    }

    /// `SessionEnded`: always the script's last step, once every member has left.
    pub fn ended(&mut self, dt: Dt, actor: Option<usize>, outcome: &str, was_missed: bool) {
        debug_assert!(self.members.is_empty(), "members left behind at the end");
        let body = wire::SessionEnded {
            outcome: outcome.to_owned(),
            was_missed,
        };
        self.push(dt, actor, Body::SessionEnded(body));
    }

    // ---- member kinds

    /// `MemberJoined`; `agent` is the agent this member is, if any.
    pub fn join(
        &mut self,
        dt: Dt,
        actor: Option<usize>,
        agent: Option<usize>,
        j: wire::MemberJoined,
    ) {
        debug_assert!(!self.has_member(&j.identity), "{} joined twice", j.identity);
        self.members.push(Member {
            identity: j.identity.clone(),
            agent,
        });
        self.push(dt, actor, Body::MemberJoined(j));
        if let Some(step) = self.steps.last_mut() {
            step.member_agent = agent;
        }
    }

    /// An agent's leg joins (`leg`: with a call SID; chats have none).
    pub fn join_agent(&mut self, dt: Dt, actor: Option<usize>, agent: usize, leg: Leg) {
        let j = self.agent_member(agent, leg);
        self.join(dt, actor, Some(agent), j);
    }

    /// The `MemberJoined` body of `agent`'s leg.
    pub fn agent_member(&mut self, agent: usize, leg: Leg) -> wire::MemberJoined {
        let a = self.agent(agent);
        wire::MemberJoined {
            identity: a.identity.clone(),
            endpoint_id: a.id.clone(),
            display_name: a.name.clone(),
            avatar_url: a.avatar.clone(),
            is_original_member: leg.original,
            application_data: leg.app,
            call_state: leg.state as i32,
            role: leg.role as i32,
            call_sid: if leg.call {
                self.g.sid("CA")
            } else {
                String::new()
            },
            muted: leg.muted,
        }
    }

    /// `MemberCallStateChanged`.
    pub fn mstate(
        &mut self,
        dt: Dt,
        actor: Option<usize>,
        identity: &str,
        state: wire::MemberCallState,
    ) {
        debug_assert!(self.has_member(identity), "unknown member {identity}");
        let body = wire::MemberCallStateChanged {
            identity: identity.to_owned(),
            call_state: state as i32,
        };
        self.push(dt, actor, Body::MemberCallStateChanged(body));
    }

    /// `MemberMuteChanged`.
    pub fn mute(&mut self, dt: Dt, actor: Option<usize>, identity: &str, muted: bool) {
        debug_assert!(self.has_member(identity), "unknown member {identity}");
        let body = wire::MemberMuteChanged {
            identity: identity.to_owned(),
            muted,
        };
        self.push(dt, actor, Body::MemberMuteChanged(body));
    }

    /// `MemberUpdated`.
    pub fn mupdate(&mut self, dt: Dt, actor: Option<usize>, u: wire::MemberUpdated) {
        debug_assert!(
            self.has_member(&u.identity),
            "unknown member {}",
            u.identity
        );
        self.push(dt, actor, Body::MemberUpdated(u));
    }

    /// `MemberLeft`.
    pub fn left(&mut self, dt: Dt, actor: Option<usize>, identity: &str) {
        let before = self.members.len();
        self.members.retain(|m| m.identity != identity);
        debug_assert!(self.members.len() < before, "unknown member {identity}");
        let body = wire::MemberLeft {
            identity: identity.to_owned(),
        };
        self.push(dt, actor, Body::MemberLeft(body));
    }

    // ---- flows shared by scenarios

    /// The session starts and its first member joins: normally in that order, but when
    /// `ahead` the member's event comes first, stamped a few hundred milliseconds earlier
    /// (the member topic ran ahead of the call topic).
    pub fn open(
        &mut self,
        ahead: bool,
        actor: Option<usize>,
        started: wire::SessionStarted,
        first: wire::MemberJoined,
        first_agent: Option<usize>,
    ) {
        if ahead {
            self.join((0.0, 0.0), actor, first_agent, first);
            self.started((0.2, 0.5), actor, started);
        } else {
            self.started((0.0, 0.0), actor, started);
            self.join((0.25, 0.6), actor, first_agent, first);
        }
    }

    /// The session rings `agents` through the account's voice queue (or chat queue):
    /// QUEUED, then RINGING with a queue member id, then each agent's leg joins ringing.
    pub fn ring(&mut self, dt: Dt, chat: bool, agents: &[usize]) {
        let queue = if chat {
            &self.account.chat_queue
        } else {
            &self.account.queue
        };
        self.queue(dt, wire::QueueState::Queued, Some(queue.id.clone()), None);
        let n = self.g.int(100, 9999);
        let qm = format!("QM-{}-{n:04}", &queue.id[2..]);
        self.queue(
            (1.0, 2.5),
            wire::QueueState::Ringing,
            Some(queue.id.clone()),
            Some(qm),
        );
        for &agent in agents {
            let app = BTreeMap::from([
                ("station".to_owned(), self.agent(agent).station.clone()),
                ("ringStrategy".to_owned(), "ringall".to_owned()),
            ]);
            let leg = Leg::new(wire::MemberCallState::Ringing, wire::MemberRole::Agent)
                .call(!chat)
                .app(app);
            self.join_agent((0.1, 0.4), None, agent, leg);
        }
    }

    /// `agent` answers a ringing queue session; every other ringing agent drops off.
    pub fn pickup(&mut self, dt: Dt, agent: usize) {
        self.answered(dt, agent);
        let a = self.agent(agent);
        let identity = &a.identity;
        self.mstate(
            (0.1, 0.3),
            Some(agent),
            identity,
            wire::MemberCallState::Connected,
        );
        for other in self.agent_identities() {
            if other != *identity {
                self.left((0.1, 0.2), None, &other);
            }
        }
        self.queue((0.1, 0.3), wire::QueueState::Connected, None, None);
        self.dial((0.05, 0.15), wire::DialState::None);
        if self.g.chance(0.4) {
            let note = format!("Answered by {} at {}", a.name, a.station);
            self.note((0.2, 1.0), None, note);
        }
    }

    /// Everybody leaves, `first` first, and the session ends with `outcome`.
    pub fn hangup(&mut self, dt: Dt, first: &str, outcome: &str) {
        let mut order: Vec<String> = self.members.iter().map(|m| m.identity.clone()).collect();
        if let Some(i) = order.iter().position(|m| m == first) {
            let f = order.remove(i);
            order.insert(0, f);
        }
        let mut gap = dt;
        for identity in order {
            self.left(gap, None, &identity);
            gap = (0.2, 0.5);
        }
        self.ended((0.3, 0.6), None, outcome, false);
    }
}

/// How an agent's leg joins.
pub(super) struct Leg {
    state: wire::MemberCallState,
    role: wire::MemberRole,
    call: bool,
    original: bool,
    muted: bool,
    app: BTreeMap<String, String>,
}

impl Leg {
    /// A voice leg (with a call SID) in `state` with `role`.
    pub fn new(state: wire::MemberCallState, role: wire::MemberRole) -> Self {
        Self {
            state,
            role,
            call: true,
            original: false,
            muted: false,
            app: BTreeMap::new(),
        }
    }

    /// With a call SID (voice) or without (chat).
    pub fn call(mut self, call: bool) -> Self {
        self.call = call;
        self
    }

    /// The session's original member.
    pub fn original(mut self) -> Self {
        self.original = true;
        self
    }

    /// Joins muted.
    pub fn muted(mut self) -> Self {
        self.muted = true;
        self
    }

    /// With application data.
    pub fn app(mut self, app: BTreeMap<String, String>) -> Self {
        self.app = app;
        self
    }
}

/// A member joining from the phone network or a chat widget (not an agent).
pub(super) fn outside_member(
    identity: String,
    display_name: String,
    role: wire::MemberRole,
    state: wire::MemberCallState,
    call_sid: String,
) -> wire::MemberJoined {
    wire::MemberJoined {
        identity,
        display_name,
        call_state: state as i32,
        role: role as i32,
        call_sid,
        ..Default::default()
    }
}
