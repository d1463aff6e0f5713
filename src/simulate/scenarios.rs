//! The kinds of session the simulator writes, modelled on `scripts/gen-demo.py`: queue
//! calls that ring several agents, missed calls, outbound calls, chats and faxes, with
//! holds, transfers, conferences, mutes, customers, details and notes along the way.

use std::collections::BTreeMap;

use super::script::{Finished, Gen, Leg, Script, outside_member};
use super::world::{self, Account, Customer, World};
use crate::events::wire::{
    self, CallState, Channel, DialState, Direction, MemberCallState, MemberRole, QueueState,
};

/// Share of sessions with a first member whose `MemberJoined` comes before the session's
/// `SessionStarted` (about 5% of all sessions, since faxes have no members).
const AHEAD: f64 = 0.06;

const IVR_MENU: &[&str] = &[
    "1 (New appointment)",
    "2 (Billing)",
    "3 (Existing request)",
    "4 (Speak to the front desk)",
    "9 (Emergency)",
];

const TALK_NOTES: &[&str] = &[
    "Customer confirmed address and callback number",
    "Sent confirmation email",
    "Appointment booked for tomorrow 10:00-12:00",
    "Looked up notes from the previous visit",
    "Quoted the standard rate; customer will think it over",
    "Created a follow-up task for the team",
    "Customer asked for a copy of the last invoice",
    "Explained the next steps and the expected timeline",
];

const OUTCOMES: &[&str] = &[
    "Completed",
    "Appointment booked",
    "Resolved",
    "Callback scheduled",
    "Quote sent",
];

const CONFERENCE_GUESTS: &[&str] = &["field tech", "interpreter", "specialist", "vendor"];

const CHAT_PAGES: &[&str] = &["/contact", "/pricing", "/account", "/services", "/book"];

/// Writes the script of one new session of `account`.
pub(super) fn build(g: &mut Gen, w: &World, account: &Account) -> Finished {
    let mut s = Script::new(g, w, account);
    if account.agents.is_empty() {
        // Nobody to ring: faxes arrive, callers wait in the queue and give up.
        if s.g.chance(0.5) {
            inbound_fax(&mut s);
        } else {
            inbound_call(&mut s, false);
        }
        return s.finish();
    }
    let r = s.g.uniform((0.0, 1.0));
    if r < 0.38 {
        inbound_call(&mut s, true);
    } else if r < 0.46 {
        inbound_call(&mut s, false);
    } else if r < 0.70 {
        outbound_call(&mut s);
    } else if r < 0.88 {
        chat(&mut s);
    } else if r < 0.94 {
        inbound_fax(&mut s);
    } else {
        outbound_fax(&mut s);
    }
    s.finish()
}

/// The customer a session is about, if the platform matched one (`p`).
fn maybe_customer<'w>(s: &mut Script<'w>, p: f64) -> Option<&'w Customer> {
    let account = s.account;
    s.g.chance(p).then(|| s.g.customer(account))
}

/// A `SessionStarted` with the account's name, the given channel and direction, and the
/// default initial states spelled out.
fn started(account: &Account, channel: Channel, direction: Direction) -> wire::SessionStarted {
    wire::SessionStarted {
        account_name: account.name.clone(),
        channel: channel as i32,
        direction: direction as i32,
        dial_state: DialState::Active as i32,
        call_state: CallState::Ringing as i32,
        queue_state: QueueState::None as i32,
        ..Default::default()
    }
}

fn with_customer(started: &mut wire::SessionStarted, c: Option<&Customer>) {
    if let Some(c) = c {
        started.customer_id.clone_from(&c.id);
        started.customer_name.clone_from(&c.name);
        started.customer_breadcrumb.clone_from(&c.breadcrumb);
    }
}

fn title_case(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A PSTN call arrives on the main line and rings agents through the queue; one answers
/// (`answered`) or nobody does and the call is missed.
fn inbound_call(s: &mut Script<'_>, answered: bool) {
    let account = s.account;
    let customer = maybe_customer(s, 0.6);
    let number = customer.map_or_else(|| world::phone_number(&mut s.g.rng), |c| c.phone.clone());
    let cnam = match customer {
        Some(c) => c.cnam.clone(),
        None if s.g.chance(0.5) => "WIRELESS CALLER".to_owned(),
        None => world::person(&mut s.g.rng).to_uppercase(),
    };
    let display = customer.map_or_else(|| number.clone(), |c| c.name.clone());
    let call_sid = s.g.sid("CA");
    let mut start = started(account, Channel::Voice, Direction::Incoming);
    start.endpoint_id.clone_from(&account.main.id);
    start.endpoint_name.clone_from(&account.main.name);
    start.to_address.clone_from(&account.main.address);
    start.from_address.clone_from(&number);
    start.from_name.clone_from(&cnam);
    start.from_phone_number.clone_from(&number);
    start.callback_number.clone_from(&number);
    start.call_sid.clone_from(&call_sid);
    start.display_name.clone_from(&display);
    with_customer(&mut start, customer);

    let caller = format!("pstn:{number}");
    let name = customer.map_or_else(|| title_case(&cnam), |c| c.name.clone());
    let mut first = outside_member(
        caller.clone(),
        name,
        MemberRole::Caller,
        MemberCallState::Connected,
        call_sid,
    );
    first.is_original_member = true;
    if s.g.chance(0.4) {
        first.application_data = BTreeMap::from([
            ("ivrPath".to_owned(), s.g.int(1, 9).to_string()),
            ("language".to_owned(), "en-US".to_owned()),
        ]);
    }
    let ahead = s.g.chance(AHEAD);
    s.open(ahead, None, start, first, None);
    if s.g.chance(0.5) {
        let choice = world::pick(&mut s.g.rng, IVR_MENU);
        s.note((4.0, 12.0), None, format!("IVR: caller selected {choice}"));
    }

    let k = s.g.int(1, 3) as usize;
    let ringing = s.pick_agents(k);
    s.ring((0.5, 8.0), false, &ringing);
    if !answered || ringing.is_empty() {
        missed(s, &caller, false);
        return;
    }
    let agent = *world::pick(&mut s.g.rng, &ringing);
    s.pickup((3.0, 12.0), agent);
    talk(s, &caller, agent, true, customer.is_some(), &display);
    let outcome = *world::pick(&mut s.g.rng, OUTCOMES);
    s.hangup((5.0, 20.0), &caller, outcome);
}

/// Nobody answers a queued session: ringing agents drop, the queue gives up, the caller
/// goes, and the session ends missed.
fn missed(s: &mut Script<'_>, caller: &str, chat: bool) {
    let waited = s.g.uniform((15.0, 40.0));
    let mut gap = (waited, waited);
    for agent in s.agent_identities() {
        s.left(gap, None, &agent);
        gap = (0.1, 0.2);
    }
    s.queue((0.2, 0.4), QueueState::Disconnected, None, None);
    let (outcome, note) = if chat {
        (
            "Abandoned in queue",
            format!("Visitor left the chat after {waited:.0} s in queue"),
        )
    } else if s.g.chance(0.5) {
        (
            "Voicemail",
            format!(
                "No agent answered in {waited:.0} s; voicemail recorded (0:{:02})",
                s.g.int(10, 59)
            ),
        )
    } else {
        (
            "Abandoned in queue",
            format!(
                "Caller hung up after {waited:.0} s in the {} queue",
                s.account.queue.name
            ),
        )
    };
    s.note((0.1, 0.3), None, note);
    s.left((0.4, 0.8), None, caller);
    s.ended((0.2, 0.4), None, outcome, true);
}

/// The middle of a connected session with `agent`: details, customer, notes, and for
/// voice mutes, a hold (with or without transfer) and a conference. Returns the agent who
/// has the session at the end (a transfer changes it).
fn talk(
    s: &mut Script<'_>,
    caller: &str,
    mut agent: usize,
    voice: bool,
    customer_known: bool,
    display: &str,
) -> usize {
    let account = s.account;
    if s.g.chance(0.6) {
        let topic = *world::pick(&mut s.g.rng, account.topics);
        let details = wire::SessionDetailsChanged {
            display_name: Some(format!("{display}: {topic}")),
            console_data: s
                .g
                .chance(0.5)
                .then(|| format!("Caller reports: {topic}. Priority {}.", s.g.int(1, 3))),
            ..Default::default()
        };
        s.details((5.0, 20.0), Some(agent), details);
    }
    if !customer_known && s.g.chance(0.6) {
        let c = s.g.customer(account);
        s.note(
            (5.0, 20.0),
            Some(agent),
            format!("Customer identified: {}", c.name),
        );
        s.customer((1.0, 4.0), Some(agent), c);
        if s.g.chance(0.5) {
            let update = wire::MemberUpdated {
                identity: caller.to_owned(),
                display_name: Some(c.name.clone()),
                application_data: BTreeMap::from([(
                    "crmContactId".to_owned(),
                    format!("CRM-{}", s.g.int(10_000, 99_999)),
                )]),
                ..Default::default()
            };
            s.mupdate((0.3, 1.0), Some(agent), update);
        }
    }
    let notes = if voice { s.g.int(0, 2) } else { s.g.int(1, 4) };
    for _ in 0..notes {
        let note = *world::pick(&mut s.g.rng, TALK_NOTES);
        s.note((8.0, 30.0), Some(agent), note.to_owned());
    }
    if voice && s.g.chance(0.2) {
        let me = &s.agent(agent).identity;
        s.mute((5.0, 25.0), Some(agent), me, true);
        s.mute((5.0, 20.0), Some(agent), me, false);
    }
    if voice && s.g.chance(0.4) {
        agent = if s.g.chance(0.5) {
            transfer(s, caller, agent)
        } else {
            hold(s, caller, agent);
            agent
        };
    }
    if voice && s.g.chance(0.15) {
        conference(s, agent);
    }
    if s.g.chance(0.7) {
        let outcome = *world::pick(&mut s.g.rng, OUTCOMES);
        let details = wire::SessionDetailsChanged {
            outcome: Some(outcome.to_owned()),
            ..Default::default()
        };
        s.details((3.0, 15.0), Some(agent), details);
    }
    agent
}

/// The agent parks the caller and comes back.
fn hold(s: &mut Script<'_>, caller: &str, agent: usize) {
    s.held((10.0, 40.0), agent, false);
    s.mstate((0.2, 0.5), None, caller, MemberCallState::Hold);
    if s.g.chance(0.5) {
        let name = &s.agent(agent).name;
        s.note(
            (0.2, 0.5),
            Some(agent),
            format!("{name}: checking availability"),
        );
    }
    s.resumed((10.0, 40.0), Some(agent));
    s.mstate((0.2, 0.5), None, caller, MemberCallState::Connected);
}

/// A warm transfer: the agent holds the caller (TRANSFERRING), a colleague joins as
/// Transfer, they consult, the caller is resumed, the first agent leaves and the colleague
/// is promoted to Agent. Falls back to a plain hold when nobody else is free.
fn transfer(s: &mut Script<'_>, caller: &str, agent: usize) -> usize {
    let Some(&target) = s.pick_agents(1).first() else {
        hold(s, caller, agent);
        return agent;
    };
    let (from, to) = (s.agent(agent), s.agent(target));
    s.held((10.0, 40.0), agent, true);
    s.mstate((0.2, 0.5), None, caller, MemberCallState::Hold);
    s.note(
        (0.2, 0.5),
        Some(agent),
        format!("{}: transferring to {}", from.name, to.name),
    );
    let leg = Leg::new(MemberCallState::Ringing, MemberRole::Transfer);
    s.join_agent((0.8, 1.5), Some(agent), target, leg);
    s.mstate(
        (3.0, 10.0),
        Some(target),
        &to.identity,
        MemberCallState::Connected,
    );
    s.note(
        (5.0, 25.0),
        Some(agent),
        format!("Consulting with {}", to.name),
    );
    s.resumed((1.0, 5.0), Some(agent));
    s.mstate((0.2, 0.5), None, caller, MemberCallState::Connected);
    s.left((3.0, 10.0), Some(agent), &from.identity);
    let update = wire::MemberUpdated {
        identity: to.identity.clone(),
        role: MemberRole::Agent as i32,
        application_data: BTreeMap::from([("transferredFrom".to_owned(), from.id.clone())]),
        ..Default::default()
    };
    s.mupdate((0.3, 0.6), Some(target), update);
    target
}

/// The agent starts a conference: a colleague joins muted to coach, or an outside party
/// is dialled in; either stays a while and leaves.
fn conference(s: &mut Script<'_>, agent: usize) {
    s.conference((10.0, 40.0), Some(agent));
    let coach = if s.g.chance(0.4) {
        s.pick_agents(1).first().copied()
    } else {
        None
    };
    if let Some(coach) = coach {
        let leg = Leg::new(MemberCallState::Connected, MemberRole::None)
            .muted()
            .app(BTreeMap::from([("mode".to_owned(), "coach".to_owned())]));
        s.join_agent((1.0, 2.0), Some(coach), coach, leg);
        let c = s.agent(coach);
        s.note(
            (0.3, 0.6),
            Some(coach),
            format!("{} is coaching (muted)", c.name),
        );
        s.left((15.0, 60.0), Some(coach), &c.identity);
        return;
    }
    let identity = loop {
        let id = format!("pstn:{}", world::phone_number(&mut s.g.rng));
        if !s.has_member(&id) {
            break id;
        }
    };
    let guest = *world::pick(&mut s.g.rng, CONFERENCE_GUESTS);
    let name = format!("{} ({guest})", world::person(&mut s.g.rng));
    let call_sid = s.g.sid("CA");
    let mut j = outside_member(
        identity.clone(),
        name,
        MemberRole::None,
        MemberCallState::Ringing,
        call_sid,
    );
    j.application_data = BTreeMap::from([("staff".to_owned(), guest.to_owned())]);
    s.join((2.0, 4.0), Some(agent), None, j);
    s.mstate((3.0, 8.0), None, &identity, MemberCallState::Connected);
    if s.g.chance(0.3) {
        s.mute((5.0, 15.0), Some(agent), &identity, true);
        s.mute((5.0, 20.0), Some(agent), &identity, false);
    }
    s.left((15.0, 60.0), None, &identity);
}

/// An agent dials out: the session is on the agent's endpoint. The far end answers, or
/// rings out.
fn outbound_call(s: &mut Script<'_>) {
    let account = s.account;
    let Some(&agent) = s.pick_agents(1).first() else {
        inbound_call(s, false);
        return;
    };
    s.set_endpoint_agent(agent);
    let a = s.agent(agent);
    let customer = maybe_customer(s, 0.6);
    let number = customer.map_or_else(|| world::phone_number(&mut s.g.rng), |c| c.phone.clone());
    let display = customer.map_or_else(|| format!("Callback {number}"), |c| c.name.clone());
    let call_sid = s.g.sid("CA");
    let mut start = started(account, Channel::Voice, Direction::Outgoing);
    start.endpoint_id.clone_from(&a.id);
    start.endpoint_name.clone_from(&a.name);
    start.destination.clone_from(&number);
    start.to_address.clone_from(&number);
    start.from_address.clone_from(&account.main.address);
    start.from_name.clone_from(&account.name);
    start.callback_number.clone_from(&account.main.address);
    start.call_sid.clone_from(&call_sid);
    start.display_name.clone_from(&display);
    with_customer(&mut start, customer);

    let app = BTreeMap::from([("station".to_owned(), a.station.clone())]);
    let leg = Leg::new(MemberCallState::Connected, MemberRole::Agent)
        .original()
        .app(app);
    let mut first = s.agent_member(agent, leg);
    first.call_sid = call_sid;
    let ahead = s.g.chance(AHEAD);
    s.open(ahead, Some(agent), start, first, Some(agent));

    let remote = format!("pstn:{number}");
    let name = customer.map_or_else(|| number.clone(), |c| c.name.clone());
    let call_sid = s.g.sid("CA");
    let j = outside_member(
        remote.clone(),
        name,
        MemberRole::None,
        MemberCallState::Ringing,
        call_sid,
    );
    s.join((0.4, 0.9), None, None, j);
    if s.g.chance(0.15) {
        let rang = s.g.uniform((15.0, 30.0));
        s.left((rang, rang), None, &remote);
        s.note(
            (0.2, 0.5),
            Some(agent),
            format!("No answer after {rang:.0} s"),
        );
        s.left((0.5, 2.0), Some(agent), &a.identity);
        s.ended((0.2, 0.5), Some(agent), "No answer", false);
        return;
    }
    s.mstate((4.0, 15.0), None, &remote, MemberCallState::Connected);
    s.call((0.1, 0.3), Some(agent), CallState::Connected);
    s.dial((0.05, 0.15), DialState::None);
    talk(s, &remote, agent, true, customer.is_some(), &display);
    let outcome = *world::pick(&mut s.g.rng, OUTCOMES);
    s.hangup((5.0, 20.0), &remote, outcome);
}

/// A web chat or an SMS conversation arrives and rings agents through the chat queue.
fn chat(s: &mut Script<'_>) {
    let account = s.account;
    let sms = s.g.chance(0.35);
    let line = if sms {
        &account.textline
    } else {
        &account.webchat
    };
    let customer = maybe_customer(s, 0.5);
    let phone = customer.map_or_else(|| world::phone_number(&mut s.g.rng), |c| c.phone.clone());
    let name = customer.map_or_else(|| world::person(&mut s.g.rng), |c| c.name.clone());
    let (identity, from_address, display) = if sms {
        let id = format!("sms:{phone}");
        (id, phone.clone(), format!("Text: {name}"))
    } else {
        let handle = visitor_handle(s);
        let id = format!("chat:{handle}");
        (id.clone(), id, format!("Web chat: {name}"))
    };
    let mut start = started(account, Channel::Chat, Direction::Incoming);
    start.endpoint_id.clone_from(&line.id);
    start.endpoint_name.clone_from(&line.name);
    start.to_address.clone_from(&line.address);
    start.from_address = from_address;
    start.from_name.clone_from(&name);
    start.from_phone_number.clone_from(&phone);
    start.callback_number.clone_from(&phone);
    start.call_sid = s.g.sid("CH");
    start.display_name.clone_from(&display);
    with_customer(&mut start, customer);

    let mut first = outside_member(
        identity.clone(),
        name,
        MemberRole::Caller,
        MemberCallState::Connected,
        String::new(),
    );
    first.is_original_member = true;
    if !sms {
        let page = *world::pick(&mut s.g.rng, CHAT_PAGES);
        first.application_data = BTreeMap::from([("page".to_owned(), page.to_owned())]);
    }
    let ahead = s.g.chance(AHEAD);
    s.open(ahead, None, start, first, None);

    let k = s.g.int(1, 2) as usize;
    let ringing = s.pick_agents(k);
    s.ring((0.5, 2.0), true, &ringing);
    if ringing.is_empty() || s.g.chance(0.1) {
        missed(s, &identity, true);
        return;
    }
    let agent = *world::pick(&mut s.g.rng, &ringing);
    s.pickup((5.0, 20.0), agent);
    talk(s, &identity, agent, false, customer.is_some(), &display);
    s.hangup((10.0, 40.0), &identity, "Resolved");
}

/// A short random visitor handle for a web chat (`web-7f3k2`).
fn visitor_handle(s: &mut Script<'_>) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let tail: String = (0..5)
        .map(|_| *world::pick(&mut s.g.rng, ALPHABET) as char)
        .collect();
    format!("web-{tail}")
}

/// A fax arrives on the account's fax line.
fn inbound_fax(s: &mut Script<'_>) {
    let account = s.account;
    let customer = maybe_customer(s, 0.4);
    let number = customer.map_or_else(|| world::phone_number(&mut s.g.rng), |c| c.phone.clone());
    let sender = customer.map_or_else(|| number.clone(), |c| c.name.clone());
    let mut start = started(account, Channel::Fax, Direction::Incoming);
    start.endpoint_id.clone_from(&account.fax.id);
    start.endpoint_name.clone_from(&account.fax.name);
    start.to_address.clone_from(&account.fax.address);
    start.from_address.clone_from(&number);
    start.from_name = customer.map_or_else(|| "FAX".to_owned(), |c| c.cnam.clone());
    start.from_phone_number.clone_from(&number);
    start.call_sid = s.g.sid("FX");
    start.display_name = format!("Fax from {sender}");
    with_customer(&mut start, customer);
    s.started((0.0, 0.0), None, start);
    s.call((2.0, 5.0), None, CallState::Connected);
    s.dial((0.05, 0.15), DialState::None);
    let pages = s.g.int(1, 12);
    let secs = 10.0 + 4.0 * f64::from(pages);
    s.note(
        (secs * 0.8, secs * 1.2),
        None,
        format!("Fax received: {pages} pages"),
    );
    s.ended((0.3, 1.0), None, "Fax received", false);
}

/// An agent sends a fax: the session is on the agent's endpoint.
fn outbound_fax(s: &mut Script<'_>) {
    let account = s.account;
    let Some(&agent) = s.pick_agents(1).first() else {
        inbound_fax(s);
        return;
    };
    s.set_endpoint_agent(agent);
    let a = s.agent(agent);
    let customer = maybe_customer(s, 0.7);
    let number = customer.map_or_else(|| world::phone_number(&mut s.g.rng), |c| c.phone.clone());
    let to = customer.map_or_else(|| number.clone(), |c| c.name.clone());
    let mut start = started(account, Channel::Fax, Direction::Outgoing);
    start.endpoint_id.clone_from(&a.id);
    start.endpoint_name.clone_from(&a.name);
    start.destination.clone_from(&number);
    start.to_address.clone_from(&number);
    start.from_address.clone_from(&account.fax.address);
    start.from_name.clone_from(&account.name);
    start.call_sid = s.g.sid("FX");
    start.display_name = format!("Fax to {to}");
    with_customer(&mut start, customer);
    s.started((0.0, 0.0), Some(agent), start);
    s.call((3.0, 8.0), None, CallState::Connected);
    s.dial((0.05, 0.15), DialState::None);
    let pages = s.g.int(2, 10);
    let mut page = 1;
    while page < pages {
        s.note(
            (5.0, 12.0),
            Some(agent),
            format!("Sending page {page} of {pages}"),
        );
        page += s.g.int(1, 4);
    }
    s.ended((5.0, 12.0), Some(agent), "Fax sent", false);
}
