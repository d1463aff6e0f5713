#!/usr/bin/env python3
"""Generate examples/demo.jsonl: one morning of a small contact center, as an event log.

    python3 scripts/gen-demo.py            # writes examples/demo.jsonl, validates, summarizes
    python3 scripts/gen-demo.py -o FILE    # writes somewhere else
    python3 scripts/gen-demo.py --check    # validates the existing file, writes nothing

Python 3 standard library only. Deterministic: every id, SID and event id comes from one
random.Random seeded with SEED, and scenarios are built in a fixed order, so running the
script twice gives the same file byte for byte.

The format is the project's event-log file (see /work/shared/design/event-model.md): one
`SessionEvent` per line in proto3 JSON (lowerCamelCase, enums by full name, `occurredAt`
as RFC 3339 UTC, the oneof as one key). Lines are in `occurredAt` order.

Scenario: Tuesday 2026-11-24, 08:00-10:30 UTC, three accounts on one platform
-----------------------------------------------------------------------------
* Acme Plumbing (A-acme-plumbing): agents U-acme-alice (Alice Moreno), U-acme-bob
  (Bob Kowalski), U-acme-carla (Carla Jensen), U-acme-dev (Dev Raman, dispatcher).
  Main line rings the "Service Desk" queue; a web chat; an office fax.
* Northwind Dental (A-northwind-dental): U-northwind-nina (Nina Park), U-northwind-omar
  (Omar Haddad), U-northwind-priya (Priya Shah, billing). Front desk queue, a text line
  (SMS chat), a fax line for labs and insurers.
* Blue Harbor Insurance (A-blueharbor-insurance): U-blueharbor-quinn (Quinn Foster),
  U-blueharbor-rosa (Rosa Delgado), U-blueharbor-sam (Sam Whitfield, supervisor),
  U-blueharbor-tess (Tess Okonkwo, sales). Claims and Sales queues, web chat, fax.

Inbound calls arrive on a phone-number endpoint (E-...), not on a user, so agents see them
only while they are members (ringing or connected). Outbound calls and faxes belong to the
agent who placed them (endpointId = the agent). Covered along the morning: queue calls that
ring several agents (QUEUED -> RINGING, agents join RINGING, one answers, the others leave),
outbound calls, holds with and without transfer (warm transfers end with the Transfer
member promoted to Agent via memberUpdated), conferences (conferenceStarted, extra legs with
callSid, a supervisor joining muted to coach), mutes, chats (web and SMS, fromPhoneNumber),
faxes both ways, customers matched by caller id or assigned by the agent (breadcrumbs),
sessionDetailsChanged (displayName, consoleData, outcome), log entries, missed calls
(abandoned in queue, voicemail: wasMissed true) and many completed calls.

Edge paths on purpose:
* Pending path: in S-acme-0004, S-acme-0015, S-northwind-0006 and S-blueharbor-0010 a member
  event comes a few hundred milliseconds BEFORE the session's sessionStarted (the member
  topic ran ahead; it is stamped earlier too, so the file stays in time order). The fold
  must park it on a pending session and apply it when sessionStarted arrives.
* Tombstone path: in S-acme-0002 the agent's memberLeft arrives 1.2 s AFTER sessionEnded; the
  fold must drop it (inside the 10 minute tombstone window) and not resurrect the session.
* No duplicate event ids, no orphans, no bad records: otherwise a clean demo.

Active at the end of the file (last event 10:29:41): 16 sessions, 28 ended (5 missed).
Demo user: **U-acme-alice** (Alice Moreno, Acme Plumbing) sees 3 sessions:
  S-acme-0011  inbound, Henderson Residence follow-up, caller on hold (no transfer)
  S-acme-0012  web chat with the Okafor Family, connected
  S-acme-0015  her own outbound call to Ferguson Supply (checking a part), connected
Other users with at least 2 active sessions:
  U-acme-bob          S-acme-0013 (conference with Dev + field tech), S-acme-0014 (web chat)
  U-northwind-nina    S-northwind-0010 (her outbound call), S-northwind-0011 (SMS chat)
  U-northwind-omar    S-northwind-0013 (his outbound fax, sending), S-northwind-0014 (ringing)
  U-northwind-priya   S-northwind-0012 (connected), S-northwind-0014 (ringing)
  U-blueharbor-quinn  S-blueharbor-0010 (held, transferring to Rosa), S-blueharbor-0012 (chat)
  U-blueharbor-rosa   S-blueharbor-0010 (transfer target), S-blueharbor-0013 (web chat)
  U-blueharbor-tess   S-blueharbor-0011 (coached by Sam), S-blueharbor-0014 (outbound fax)
And one each: U-acme-carla (S-acme-0016, ringing), U-acme-dev (S-acme-0013),
U-blueharbor-sam (S-blueharbor-0011, muted coach). Session ids are numbered per account in
order of creation. The summary printed at the end is computed from the file itself, by a
small fold, not copied from this text.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

SEED = 20261124
DAY = datetime(2026, 11, 24, tzinfo=timezone.utc)
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "examples" / "demo.jsonl"
DEMO_USER = "U-acme-alice"
AVATAR_BASE = "https://cdn.evovoice.example/avatars"

# --------------------------------------------------------------------------- the cast


class Account(NamedTuple):
    id: str
    name: str


class User(NamedTuple):
    id: str  # endpoint id = JWT sub
    name: str
    station: str

    @property
    def avatar(self) -> str:
        return f"{AVATAR_BASE}/{self.id}.png"

    @property
    def identity(self) -> str:
        return f"client:{self.id}"


class Line(NamedTuple):
    id: str  # a non-user endpoint: phone number, chat widget, fax line
    name: str
    address: str


class Queue(NamedTuple):
    id: str
    name: str
    hold: str  # hold queue name used when an agent parks a caller


class Customer(NamedTuple):
    id: str
    name: str
    phone: str
    cnam: str  # caller-id name as delivered by the carrier
    crumbs: tuple  # ancestors, as (id, name) pairs; the customer itself is appended

    def breadcrumb(self) -> list:
        return [{"id": i, "name": n} for i, n in self.crumbs] + [{"id": self.id, "name": self.name}]


ACME = Account("A-acme-plumbing", "Acme Plumbing")
NORTHWIND = Account("A-northwind-dental", "Northwind Dental")
BLUEHARBOR = Account("A-blueharbor-insurance", "Blue Harbor Insurance")

ALICE = User("U-acme-alice", "Alice Moreno", "acme-desk-1")
BOB = User("U-acme-bob", "Bob Kowalski", "acme-desk-2")
CARLA = User("U-acme-carla", "Carla Jensen", "acme-desk-3")
DEV = User("U-acme-dev", "Dev Raman", "acme-dispatch")
NINA = User("U-northwind-nina", "Nina Park", "nw-frontdesk-1")
OMAR = User("U-northwind-omar", "Omar Haddad", "nw-frontdesk-2")
PRIYA = User("U-northwind-priya", "Priya Shah", "nw-billing")
QUINN = User("U-blueharbor-quinn", "Quinn Foster", "bh-claims-4")
ROSA = User("U-blueharbor-rosa", "Rosa Delgado", "bh-claims-7")
SAM = User("U-blueharbor-sam", "Sam Whitfield", "bh-supervisor")
TESS = User("U-blueharbor-tess", "Tess Okonkwo", "bh-sales-2")
USERS = [ALICE, BOB, CARLA, DEV, NINA, OMAR, PRIYA, QUINN, ROSA, SAM, TESS]

ACME_MAIN = Line("E-acme-mainline", "Acme Plumbing Main Line", "+15550140100")
ACME_CHAT = Line("E-acme-webchat", "acmeplumbing.example Web Chat", "chat:acmeplumbing.example")
ACME_FAX = Line("E-acme-fax", "Acme Office Fax", "+15550140190")
NW_FRONT = Line("E-northwind-frontdesk", "Northwind Front Desk", "+15550172200")
NW_TEXT = Line("E-northwind-textline", "Northwind Text Line", "+15550172211")
NW_FAX = Line("E-northwind-fax", "Northwind Fax", "+15550172290")
BH_CLAIMS = Line("E-blueharbor-claims", "Blue Harbor Claims Line", "+15550188300")
BH_SALES = Line("E-blueharbor-sales", "Blue Harbor Sales Line", "+15550188310")
BH_CHAT = Line("E-blueharbor-webchat", "blueharbor.example Web Chat", "chat:blueharbor.example")
BH_FAX = Line("E-blueharbor-fax", "Blue Harbor Claims Fax", "+15550188390")

Q_ACME = Queue("Q-acme-service", "Service Desk", "Service Desk Hold")
Q_ACME_CHAT = Queue("Q-acme-webchat", "Web Chat", "Web Chat Hold")
Q_NW = Queue("Q-northwind-frontdesk", "Front Desk", "Front Desk Hold")
Q_NW_TEXT = Queue("Q-northwind-text", "Text Messages", "Text Hold")
Q_BH_CLAIMS = Queue("Q-blueharbor-claims", "Claims", "Claims Hold")
Q_BH_SALES = Queue("Q-blueharbor-sales", "Sales", "Sales Hold")
Q_BH_CHAT = Queue("Q-blueharbor-webchat", "Web Chat", "Web Chat Hold")

_RES = (("C-acme-residential", "Residential"),)
_COM = (("C-acme-commercial", "Commercial"),)
HENDERSON = Customer("C-acme-1042", "Henderson Residence", "+15550132841", "HENDERSON M", _RES)
OKAFOR = Customer("C-acme-1187", "Okafor Family", "+15550139902", "OKAFOR C", _RES)
GONZALEZ = Customer("C-acme-1320", "Maria Gonzalez", "+15550135574", "GONZALEZ MARIA", _RES)
LAKESIDE = Customer("C-acme-2210", "Lakeside Diner", "+15550146610", "LAKESIDE DINER", _COM)
RIVERSIDE = Customer("C-acme-2231", "Riverside Apartments HOA", "+15550147712", "RIVERSIDE APTS", _COM)
BRIGHTON = Customer("C-acme-2248", "Brighton Street Laundromat", "+15550148820", "BRIGHTON LNDRY", _COM)

_DT = (("C-northwind-downtown", "Downtown Clinic"),)
_EG = (("C-northwind-eastgate", "Eastgate Clinic"),)
BLAKE = Customer("C-northwind-5012", "Jordan Blake", "+15550175530", "BLAKE JORDAN", _DT)
CHEN = Customer("C-northwind-5077", "Emily Chen", "+15550176614", "CHEN EMILY", _DT)
REED = Customer("C-northwind-5103", "Marcus Reed", "+15550177208", "REED MARCUS", _EG)
ALVAREZ = Customer("C-northwind-5140", "Sofia Alvarez", "+15550178841", "ALVAREZ S", _EG)
WHITAKER = Customer("C-northwind-5166", "Tom Whitaker", "+15550179925", "WHITAKER THOMAS", _DT)
KARIMI = Customer("C-northwind-5190", "Aisha Karimi", "+15550174456", "WIRELESS CALLER", _EG)

_PA = (("C-blueharbor-personal", "Personal Lines"), ("C-blueharbor-personal-auto", "Auto"))
_PH = (("C-blueharbor-personal", "Personal Lines"), ("C-blueharbor-personal-home", "Home"))
_CF = (("C-blueharbor-commercial", "Commercial Lines"), ("C-blueharbor-commercial-fleet", "Fleet"))
_CB = (("C-blueharbor-commercial", "Commercial Lines"), ("C-blueharbor-commercial-bop", "Business Owners"))
LIN = Customer("C-blueharbor-30417", "Grace Lin", "+15550181123", "LIN GRACE", _PA)
FOWLER = Customer("C-blueharbor-30452", "Derek Fowler", "+15550182247", "FOWLER DEREK", _PH)
MOVERS = Customer("C-blueharbor-40118", "Harbor Movers LLC", "+15550183368", "HARBOR MOVERS", _CF)
PATEL = Customer("C-blueharbor-30488", "Patel Family", "+15550184471", "PATEL R", _PH)
NGUYEN = Customer("C-blueharbor-40155", "Nguyen Bakery", "+15550185592", "NGUYEN BAKERY", _CB)
MOREAU = Customer("C-blueharbor-30501", "Lucas Moreau", "+15550186614", "MOREAU LUCAS", _PA)

# --------------------------------------------------------------------------- ids

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Ids:
    """Every generated identifier, from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.queue_members: Counter = Counter()

    def sid(self, prefix: str) -> str:
        """A Twilio-like SID: two letters and 32 hex digits (CA call, CF conference, ...)."""
        return prefix + format(self.rng.getrandbits(128), "032x")

    def ulid(self, t: datetime) -> str:
        ms = (t - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
        n = (ms << 80) | self.rng.getrandbits(80)
        return "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(26)))

    def queue_member(self, queue: Queue) -> str:
        self.queue_members[queue.id] += 1
        return f"QM-{queue.id[2:]}-{400 + self.queue_members[queue.id]:04d}"


# --------------------------------------------------------------------------- building events


def rfc3339(t: datetime) -> str:
    t = t.astimezone(timezone.utc)
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class World:
    def __init__(self, seed: int) -> None:
        self.ids = Ids(seed)
        self.pending: list = []  # (time, seq, envelope without eventId)
        self.counters: Counter = Counter()

    def session(self, account: Account, start: str) -> "Session":
        key = account.id.split("-")[1]
        self.counters[key] += 1
        sid = f"S-{key}-{self.counters[key]:04d}"
        h, m, s = start.split(":")
        t = DAY + timedelta(hours=int(h), minutes=int(m), seconds=float(s))
        return Session(self, sid, account, t)

    def emit(self, t: datetime, session: "Session", kind: str, body: dict, actor) -> None:
        env = {"sessionId": session.id, "occurredAt": rfc3339(t), "accountId": session.account.id}
        if actor:
            env["actorId"] = actor.id if isinstance(actor, User) else actor
        env[kind] = body
        self.pending.append((t, len(self.pending), env))

    def lines(self) -> list:
        """Sorted by time (stable), with ULID event ids assigned in file order."""
        out = []
        for t, _, env in sorted(self.pending, key=lambda x: (x[0], x[1])):
            out.append(json.dumps({"eventId": self.ids.ulid(t), **env}, ensure_ascii=False,
                                  separators=(",", ":")))
        return out


class Session:
    """One session's events, on its own clock. Every method takes `dt`, the seconds since
    the previous event of this session."""

    def __init__(self, world: World, sid: str, account: Account, t: datetime) -> None:
        self.w, self.id, self.account, self.t = world, sid, account, t
        self.members: dict = {}  # identity -> role, in join order
        self.call_sid = ""
        self.queued = False
        self.caller = ""

    def _e(self, dt: float, kind: str, body: dict, actor=None) -> None:
        self.t += timedelta(milliseconds=round(dt * 1000))
        self.w.emit(self.t, self, kind, body, actor)

    # ---- call kinds
    def started(self, dt: float, actor=None, **body) -> None:
        body = {"accountName": self.account.name, **body}
        body.setdefault("dialState", "DIAL_STATE_ACTIVE")
        body.setdefault("callState", "CALL_STATE_RINGING")
        body.setdefault("queueState", "QUEUE_STATE_NONE")
        self._e(dt, "sessionStarted", body, actor)

    def dial(self, dt, state, actor=None):
        self._e(dt, "dialStateChanged", {"dialState": f"DIAL_STATE_{state}"}, actor)

    def call(self, dt, state, actor=None):
        self._e(dt, "callStateChanged", {"callState": f"CALL_STATE_{state}"}, actor)

    def queue(self, dt, state, ring_queue_id=None, queue_member_id=None, actor=None):
        body = {"queueState": f"QUEUE_STATE_{state}"}
        if ring_queue_id is not None:
            body["ringQueueId"] = ring_queue_id
        if queue_member_id is not None:
            body["queueMemberId"] = queue_member_id
        self._e(dt, "queueStateChanged", body, actor)

    def answered(self, dt, agent: User):
        self._e(dt, "sessionAnswered", {"answeredById": agent.id, "answeredByName": agent.name}, agent)

    def held(self, dt, agent: User, hold_queue: str, transferring=False):
        reason = "HOLD_REASON_TRANSFERRING" if transferring else "HOLD_REASON_NONE"
        self._e(dt, "sessionHeld",
                {"heldByUserId": agent.id, "holdQueueName": hold_queue, "reason": reason}, agent)

    def resumed(self, dt, actor=None):
        self._e(dt, "sessionResumed", {}, actor)

    def conference(self, dt, actor=None) -> str:
        sid = self.w.ids.sid("CF")
        self._e(dt, "conferenceStarted", {"conferenceSid": sid}, actor)
        return sid

    def customer(self, dt, c: Customer, actor=None):
        self._e(dt, "customerAssigned", {"customerId": c.id, "customerName": c.name,
                                         "customerBreadcrumb": c.breadcrumb()}, actor)

    def details(self, dt, actor=None, **fields):
        self._e(dt, "sessionDetailsChanged", fields, actor)

    def note(self, dt, message, actor=None):
        self._e(dt, "logAppended", {"message": message}, actor)

    def ended(self, dt, outcome, missed=False, actor=None):
        self._e(dt, "sessionEnded", {"outcome": outcome, "wasMissed": missed}, actor)

    # ---- member kinds
    def join(self, dt, identity, *, name, state, role, endpoint="", avatar="", original=False,
             app=None, call_sid="", muted=False, actor=None) -> str:
        body = {"identity": identity}
        if endpoint:
            body["endpointId"] = endpoint
        body["displayName"] = name
        if avatar:
            body["avatarUrl"] = avatar
        body["isOriginalMember"] = original
        if app:
            body["applicationData"] = app
        body["callState"] = f"MEMBER_CALL_STATE_{state}"
        body["role"] = f"MEMBER_ROLE_{role}"
        if call_sid:
            body["callSid"] = call_sid
        body["muted"] = muted
        self._e(dt, "memberJoined", body, actor)
        self.members[identity] = role
        return identity

    def agent(self, dt, user: User, state="RINGING", role="AGENT", original=False, app=None,
              muted=False, leg=True, actor=None) -> str:
        """An agent's leg joins. `leg=False` for chat (no call SID)."""
        return self.join(dt, user.identity, name=user.name, endpoint=user.id, avatar=user.avatar,
                         state=state, role=role, original=original, app=app, muted=muted,
                         call_sid=self.w.ids.sid("CA") if leg else "", actor=actor)

    def mstate(self, dt, identity, state, actor=None):
        self._e(dt, "memberCallStateChanged",
                {"identity": identity, "callState": f"MEMBER_CALL_STATE_{state}"}, actor)

    def mute(self, dt, identity, muted, actor=None):
        self._e(dt, "memberMuteChanged", {"identity": identity, "muted": muted}, actor)

    def mupdate(self, dt, identity, actor=None, role=None, app=None, **fields):
        body = {"identity": identity, **fields}
        if role:
            body["role"] = f"MEMBER_ROLE_{role}"
            self.members[identity] = role
        if app:
            body["applicationData"] = app
        self._e(dt, "memberUpdated", body, actor)

    def left(self, dt, identity, actor=None):
        self._e(dt, "memberLeft", {"identity": identity}, actor)
        self.members.pop(identity, None)

    # ---- flows
    def inbound(self, dt, line: Line, number: str, cnam: str, *, display: str,
                customer: Customer | None = None, app=None, pending=False) -> str:
        """A PSTN call arrives on a line: sessionStarted and the caller's leg.
        `pending`: the caller's memberJoined is stamped (and filed) before sessionStarted."""
        self.call_sid = self.w.ids.sid("CA")
        body = dict(endpointId=line.id, endpointName=line.name, channel="CHANNEL_VOICE",
                    direction="DIRECTION_INCOMING", toAddress=line.address, fromAddress=number,
                    fromName=cnam, fromPhoneNumber=number, callbackNumber=number,
                    callSid=self.call_sid, displayName=display)
        if customer:
            body.update(customerId=customer.id, customerName=customer.name,
                        customerBreadcrumb=customer.breadcrumb())
        self.caller = f"pstn:{number}"

        def caller_joins(d):
            self.join(d, self.caller, name=customer.name if customer else cnam.title(),
                      state="CONNECTED", role="CALLER", original=True, app=app,
                      call_sid=self.call_sid)

        if pending:
            caller_joins(dt)
            self.started(0.38, **body)
        else:
            self.started(dt, **body)
            caller_joins(0.41)
        return self.caller

    def chat_in(self, dt, line: Line, visitor: str, name: str, phone: str, *, display: str,
                customer: Customer | None = None, app=None, pending=False) -> str:
        self.call_sid = self.w.ids.sid("CH")
        body = dict(endpointId=line.id, endpointName=line.name, channel="CHANNEL_CHAT",
                    direction="DIRECTION_INCOMING", toAddress=line.address,
                    fromAddress=phone if line is NW_TEXT else f"chat:{visitor}",
                    fromName=name, fromPhoneNumber=phone, callbackNumber=phone,
                    callSid=self.call_sid, displayName=display)
        if customer:
            body.update(customerId=customer.id, customerName=customer.name,
                        customerBreadcrumb=customer.breadcrumb())
        self.caller = f"chat:{visitor}"

        def visitor_joins(d):
            self.join(d, self.caller, name=name, state="CONNECTED", role="CALLER", original=True,
                      app=app)

        if pending:
            visitor_joins(dt)
            self.started(0.29, **body)
        else:
            self.started(dt, **body)
            visitor_joins(0.35)
        return self.caller

    def outbound(self, dt, agent: User, line: Line, number: str, name: str, *,
                 customer: Customer | None = None, pending=False, app=None) -> str:
        """An agent dials out: the session belongs to the agent (endpointId = agent)."""
        self.call_sid = self.w.ids.sid("CA")
        body = dict(endpointId=agent.id, endpointName=agent.name, channel="CHANNEL_VOICE",
                    direction="DIRECTION_OUTGOING", destination=number, toAddress=number,
                    fromAddress=line.address, fromName=self.account.name,
                    callbackNumber=line.address, callSid=self.call_sid, displayName=name)
        if customer:
            body.update(customerId=customer.id, customerName=customer.name,
                        customerBreadcrumb=customer.breadcrumb())

        def agent_joins(d):
            self.agent(d, agent, state="CONNECTED", original=True, app=app, actor=agent)

        if pending:
            agent_joins(dt)
            self.started(0.27, actor=agent, **body)
        else:
            self.started(dt, actor=agent, **body)
            agent_joins(0.33)
        self.caller = self.join(0.6, f"pstn:{number}", name=name, state="RINGING", role="NONE",
                                call_sid=self.w.ids.sid("CA"))
        return self.caller

    def connect_outbound(self, dt, actor: User):
        self.mstate(dt, self.caller, "CONNECTED")
        self.call(0.2, "CONNECTED", actor)
        self.dial(0.1, "NONE")

    def ring(self, dt, q: Queue, agents: list, leg=True) -> None:
        self.queued = True
        self.queue(dt, "QUEUED", ring_queue_id=q.id)
        self.queue(1.6, "RINGING", ring_queue_id=q.id, queue_member_id=self.w.ids.queue_member(q))
        for a in agents:
            self.agent(0.25, a, state="RINGING", leg=leg,
                       app={"station": a.station, "ringStrategy": "ringall"})

    def pickup(self, dt, agent: User) -> str:
        """The agent answers a queue call; everyone else still ringing drops off."""
        self.answered(dt, agent)
        self.mstate(0.2, agent.identity, "CONNECTED", agent)
        for ident, role in list(self.members.items()):
            if role == "AGENT" and ident != agent.identity and ident.startswith("client:"):
                self.left(0.15, ident)
        self.queue(0.2, "CONNECTED")
        self.dial(0.1, "NONE")
        return agent.identity

    def hangup(self, dt, outcome, *, first=None, actor=None, late_left=None) -> None:
        """Everybody leaves (`first` first, default the caller) and the session ends.
        `late_left`: that identity's memberLeft comes 1.2 s after sessionEnded instead."""
        order = list(self.members)
        first = first or self.caller
        if first in order:
            order.remove(first)
            order.insert(0, first)
        gap = dt
        for ident in order:
            if ident == late_left:
                continue
            self.left(gap, ident)
            gap = 0.3
        self.ended(0.4, outcome, actor=actor)
        if late_left:
            self.left(1.2, late_left)

    def missed(self, dt, outcome, note) -> None:
        """Nobody answered: ringing agents drop, the caller goes, the session ends missed."""
        first = True
        for ident, role in list(self.members.items()):
            if role == "AGENT":
                self.left(dt if first else 0.15, ident)
                first = False
        self.queue(0.3, "DISCONNECTED")
        self.note(0.2, note)
        self.left(0.6, self.caller)
        self.ended(0.3, outcome, missed=True)


# --------------------------------------------------------------------------- the morning


def acme(w: World) -> None:
    # 0001 Henderson: water heater leak. Rings three, Bob answers; hold without transfer.
    s = w.session(ACME, "08:02:07")
    caller = s.inbound(0, ACME_MAIN, HENDERSON.phone, HENDERSON.cnam, customer=HENDERSON,
                       display="Henderson Residence", app={"ivrPath": "1", "language": "en-US"})
    s.note(9.4, "IVR: caller selected 1 (Service & Repairs)")
    s.ring(0.7, Q_ACME, [ALICE, BOB, CARLA])
    s.pickup(13.8, BOB)
    s.details(24.1, BOB, displayName="Henderson: water heater leaking",
              consoleData="Water heater leak. 50 gal gas unit (2014), shutoff closed by caller.")
    s.held(71.5, BOB, Q_ACME.hold)
    s.mstate(0.4, caller, "HOLD")
    s.note(0.3, "Bob Kowalski: checking technician availability", BOB)
    s.resumed(63.2, BOB)
    s.mstate(0.3, caller, "CONNECTED")
    s.note(41.0, "Appointment booked: today 11:00-13:00, technician Marco Ruiz", BOB)
    s.details(6.2, BOB, outcome="Appointment booked")
    s.hangup(88.9, "Completed")

    # 0002 Unknown caller (new customer Okafor); Alice answers and creates the customer.
    #      Tombstone path: Alice's memberLeft arrives after sessionEnded.
    s = w.session(ACME, "08:11:15")
    caller = s.inbound(0, ACME_MAIN, OKAFOR.phone, OKAFOR.cnam, display=OKAFOR.phone)
    s.ring(8.5, Q_ACME, [ALICE, CARLA])
    s.pickup(8.3, ALICE)
    s.note(55.0, "New customer created: Okafor Family, 18 Birch Lane", ALICE)
    s.customer(2.4, OKAFOR, ALICE)
    s.mupdate(0.5, caller, ALICE, displayName="Chidi Okafor", app={"crmContactId": "CRM-88213"})
    s.details(30.8, ALICE, displayName="Okafor: kitchen drain clog",
              consoleData="Kitchen sink drain clogged, slow for a week. No garbage disposal.")
    s.hangup(241.6, "Completed", late_left=ALICE.identity)

    # 0003 Abandoned in queue: nobody picks up within 40 s.
    s = w.session(ACME, "08:19:42")
    s.inbound(0, ACME_MAIN, "+15550191377", "WIRELESS CALLER", display="+15550191377")
    s.ring(6.6, Q_ACME, [BOB, CARLA])
    s.missed(38.4, "Abandoned in queue", "Caller hung up after 40 s in queue")

    # 0004 Alice calls the abandoned caller back (pending path: her leg before start).
    s = w.session(ACME, "08:21:09")
    s.outbound(0, ALICE, ACME_MAIN, "+15550191377", "Callback +15550191377", pending=True)
    s.connect_outbound(9.8, ALICE)
    s.note(20.0, "Caller is Maria Gonzalez, existing customer; reports no hot water", ALICE)
    s.customer(3.1, GONZALEZ, ALICE)
    s.details(1.0, ALICE, displayName="Gonzalez: no hot water (callback)",
              callbackNumber="+15550191377")
    s.hangup(152.4, "Completed", first=s.caller)

    # 0005 Web chat, Carla answers.
    s = w.session(ACME, "08:30:26")
    v = s.chat_in(0, ACME_CHAT, "web-7f3k2", "Priscilla", "+15550130498",
                  display="Web chat: Priscilla",
                  app={"page": "/services/drain-cleaning", "browser": "Safari 18"})
    s.ring(1.2, Q_ACME_CHAT, [CARLA], leg=False)
    s.pickup(21.7, CARLA)
    s.note(95.0, "Quoted drain cleaning: $149 flat rate", CARLA)
    s.details(240.0, CARLA, displayName="Web chat: Priscilla (drain quote)")
    s.hangup(442.3, "Completed", first=v)

    # 0006 Riverside HOA: burst pipe. Bob answers; warm transfer to Dev (dispatch).
    s = w.session(ACME, "08:35:50")
    caller = s.inbound(0, ACME_MAIN, RIVERSIDE.phone, RIVERSIDE.cnam, customer=RIVERSIDE,
                       display="Riverside Apartments HOA", app={"ivrPath": "9", "priority": "emergency"})
    s.note(5.2, "IVR: caller selected 9 (Emergency)")
    s.ring(0.6, Q_ACME, [ALICE, BOB])
    s.pickup(5.9, BOB)
    s.details(18.0, BOB, displayName="Riverside HOA: burst pipe, unit 4B",
              consoleData="EMERGENCY: burst supply line in 4B ceiling; main shut off.")
    s.held(61.3, BOB, Q_ACME.hold, transferring=True)
    s.mstate(0.3, caller, "HOLD")
    s.note(0.2, "Bob Kowalski: transferring to Dispatch (Dev Raman)", BOB)
    dev = s.agent(1.1, DEV, state="RINGING", role="TRANSFER", actor=BOB)
    s.mstate(6.4, dev, "CONNECTED", DEV)
    s.note(44.0, "Consult: Dev sending on-call tech, ETA 45 min", BOB)
    s.resumed(3.3, BOB)
    s.mstate(0.3, caller, "CONNECTED")
    s.left(12.5, BOB.identity, BOB)
    s.mupdate(0.4, dev, DEV, role="AGENT", app={"transferredFrom": BOB.id})
    s.note(388.0, "Tech dispatched: Marco Ruiz, truck 3", DEV)
    s.hangup(74.5, "Completed")

    # 0007 Supplier invoice by fax.
    s = w.session(ACME, "08:50:02")
    s.call_sid = w.ids.sid("FX")
    s.started(0, endpointId=ACME_FAX.id, endpointName=ACME_FAX.name, channel="CHANNEL_FAX",
              direction="DIRECTION_INCOMING", toAddress=ACME_FAX.address,
              fromAddress="+15550160042", fromName="FERGUSON SUPPLY", fromPhoneNumber="+15550160042",
              callSid=s.call_sid, displayName="Fax from Ferguson Supply")
    s.call(3.6, "CONNECTED")
    s.dial(0.1, "NONE")
    s.note(70.2, "Fax received: 4 pages")
    s.ended(0.8, "Fax received")

    # 0008 Lakeside Diner: Alice answers, conferences the field tech in.
    s = w.session(ACME, "09:05:18")
    caller = s.inbound(0, ACME_MAIN, LAKESIDE.phone, LAKESIDE.cnam, customer=LAKESIDE,
                       display="Lakeside Diner")
    s.ring(9.4, Q_ACME, [ALICE, CARLA])
    s.pickup(6.7, ALICE)
    s.details(30.2, ALICE, displayName="Lakeside Diner: grease trap backing up")
    s.conference(48.6, ALICE)
    tech = s.join(2.3, "pstn:+15550160777", name="Marco Ruiz (field tech)", state="RINGING",
                  role="NONE", call_sid=w.ids.sid("CA"), app={"staff": "field-tech", "truck": "3"},
                  actor=ALICE)
    s.mstate(9.1, tech, "CONNECTED")
    s.mute(35.0, ALICE.identity, True, ALICE)
    s.mute(140.2, ALICE.identity, False, ALICE)
    s.left(61.0, tech)
    s.note(30.0, "Marco on site by 10:30; diner to stop using dish station", ALICE)
    s.hangup(620.0, "Completed")

    # 0009 Nobody answers: voicemail, a missed call.
    s = w.session(ACME, "09:45:27")
    s.inbound(0, ACME_MAIN, "+15550193050", "CITY OF EASTON", display="+15550193050")
    s.ring(8.2, Q_ACME, [BOB, CARLA])
    s.missed(30.0, "Voicemail", "No agent answered in 30 s; voicemail recorded (0:47)")

    # 0010 Alice returns the voicemail.
    s = w.session(ACME, "09:52:14")
    s.outbound(0, ALICE, ACME_MAIN, "+15550193050", "City of Easton Permits",
               app={"station": ALICE.station})
    s.connect_outbound(18.5, ALICE)
    s.note(300.0, "Permit #EP-2026-3311 inspection moved to Friday", ALICE)
    s.hangup(250.0, "Completed", first=s.caller)

    # ---- still active at 10:30 ----
    # 0011 Henderson follow-up; Alice answers, later parks the caller on hold (no transfer).
    s = w.session(ACME, "10:05:02")
    henderson_followup = s.id
    caller = s.inbound(0, ACME_MAIN, HENDERSON.phone, HENDERSON.cnam, customer=HENDERSON,
                       display="Henderson Residence", app={"ivrPath": "1", "language": "en-US"})
    s.note(9.0, "IVR: caller selected 1 (Service & Repairs)")
    s.ring(0.6, Q_ACME, [ALICE, BOB, CARLA])
    s.pickup(7.4, ALICE)
    s.details(40.0, ALICE, displayName="Henderson: follow-up, replacement quote",
              consoleData="Tech recommends replacing 2014 water heater. Quote pending parts.")
    s.note(600.0, "Customer wants 50 gal high-efficiency model; checking stock", ALICE)
    s.held(660.0, ALICE, Q_ACME.hold)
    s.mstate(0.4, caller, "HOLD")

    # 0012 Web chat with the Okafor family; Alice takes it between calls.
    s = w.session(ACME, "10:09:11")
    v = s.chat_in(0, ACME_CHAT, "web-q81zd", "Chidi Okafor", OKAFOR.phone, customer=OKAFOR,
                  display="Web chat: Chidi Okafor", app={"page": "/account/appointments"})
    s.ring(1.0, Q_ACME_CHAT, [ALICE, CARLA], leg=False)
    s.pickup(26.4, ALICE)
    s.note(120.0, "Customer asks to move drain appointment to Friday", ALICE)
    s.details(300.0, ALICE, displayName="Web chat: Okafor reschedule")
    s.note(540.0, "Offered Fri 08:00-10:00 or 13:00-15:00", ALICE)

    # 0013 Lakeside Diner again: Bob answers, conferences Dev and the field tech.
    s = w.session(ACME, "10:12:45")
    caller = s.inbound(0, ACME_MAIN, LAKESIDE.phone, LAKESIDE.cnam, customer=LAKESIDE,
                       display="Lakeside Diner")
    s.ring(6.9, Q_ACME, [BOB, CARLA])
    s.pickup(5.1, BOB)
    s.details(22.0, BOB, displayName="Lakeside Diner: floor drain overflowing",
              consoleData="Second visit today. Floor drain overflowing near walk-in.")
    s.conference(120.0, BOB)
    s.agent(1.4, DEV, state="RINGING", role="NONE", actor=BOB)
    s.mstate(5.2, DEV.identity, "CONNECTED", DEV)
    tech = s.join(20.0, "pstn:+15550160777", name="Marco Ruiz (field tech)", state="RINGING",
                  role="NONE", call_sid=w.ids.sid("CA"), app={"staff": "field-tech", "truck": "3"},
                  actor=DEV)
    s.mstate(7.7, tech, "CONNECTED")
    s.mute(3.0, caller, True, BOB)
    s.note(1.0, "Bob Kowalski muted the caller while the team confers", BOB)
    s.mute(95.0, caller, False, BOB)
    s.mute(2.0, tech, True)

    # 0014 Web chat from Brighton Street Laundromat; Bob multitasks.
    s = w.session(ACME, "10:18:30")
    v = s.chat_in(0, ACME_CHAT, "web-b77ma", "Brighton Street Laundromat", BRIGHTON.phone,
                  customer=BRIGHTON, display="Web chat: Brighton Laundromat",
                  app={"page": "/commercial", "browser": "Chrome 131"})
    s.ring(0.9, Q_ACME_CHAT, [BOB], leg=False)
    s.pickup(44.0, BOB)
    s.note(160.0, "Asking about invoice INV-20931", BOB)

    # 0015 Alice calls the supplier while Henderson holds (pending path).
    s = w.session(ACME, "10:27:21")
    s.outbound(0, ALICE, ACME_MAIN, "+15550160042", "Ferguson Supply - Eastside", pending=True,
               app={"station": ALICE.station, "relatedSession": henderson_followup})
    s.connect_outbound(12.0, ALICE)
    s.note(40.0, "Asking for Rheem 50 gal HE in stock", ALICE)

    # 0016 New queue call, ringing Carla right now.
    s = w.session(ACME, "10:29:31")
    s.inbound(0, ACME_MAIN, "+15550197214", "WIRELESS CALLER", display="+15550197214")
    s.ring(7.8, Q_ACME, [CARLA])


def northwind(w: World) -> None:
    # 0001 Jordan Blake reschedules a cleaning; Nina answers.
    s = w.session(NORTHWIND, "08:00:12")
    s.inbound(0, NW_FRONT, BLAKE.phone, BLAKE.cnam, customer=BLAKE, display="Jordan Blake")
    s.ring(6.5, Q_NW, [NINA, OMAR, PRIYA])
    s.pickup(9.6, NINA)
    s.note(160.0, "Cleaning moved to Dec 2, 15:30, Dr. Ito", NINA)
    s.hangup(25.0, "Completed")

    # 0002 Lab sends a fax.
    s = w.session(NORTHWIND, "08:03:44")
    s.call_sid = w.ids.sid("FX")
    s.started(0, endpointId=NW_FAX.id, endpointName=NW_FAX.name, channel="CHANNEL_FAX",
              direction="DIRECTION_INCOMING", toAddress=NW_FAX.address, fromAddress="+15550161180",
              fromName="CROWN BRIDGE LAB", fromPhoneNumber="+15550161180", callSid=s.call_sid,
              displayName="Fax from Crown & Bridge Dental Lab")
    s.call(2.9, "CONNECTED")
    s.dial(0.1, "NONE")
    s.note(48.3, "Fax received: 2 pages (case #CB-77120, crown ready)")
    s.ended(0.7, "Fax received")

    # 0003 Omar leaves a reminder; nobody picks up.
    s = w.session(NORTHWIND, "08:07:20")
    s.outbound(0, OMAR, NW_FRONT, CHEN.phone, CHEN.name, customer=CHEN)
    s.connect_outbound(24.0, OMAR)
    s.note(2.0, "Reached voicemail; left appointment reminder", OMAR)
    s.details(31.0, OMAR, outcome="Left voicemail")
    s.hangup(1.5, "Left voicemail", first=OMAR.identity, actor=OMAR)

    # 0004 Marcus Reed, billing question: Priya answers, customer matched by the agent.
    s = w.session(NORTHWIND, "08:12:05")
    caller = s.inbound(0, NW_FRONT, "+15550177299", "REED M", display="+15550177299")
    s.note(7.4, "IVR: caller selected 3 (Billing)")
    s.ring(0.5, Q_NW, [OMAR, PRIYA])
    s.pickup(12.2, PRIYA)
    s.customer(48.0, REED, PRIYA)
    s.mupdate(0.4, caller, PRIYA, displayName="Marcus Reed (work phone)",
              app={"patientId": "NW-5103"})
    s.details(2.0, PRIYA, displayName="Marcus Reed: statement question",
              consoleData="Balance $212.40 after insurance; EOB dated Nov 3.")
    s.note(260.0, "Payment plan set up: 3 x $70.80", PRIYA)
    s.hangup(92.0, "Completed")

    # 0005 Abandoned in queue.
    s = w.session(NORTHWIND, "08:22:48")
    s.inbound(0, NW_FRONT, "+15550194406", "WIRELESS CALLER", display="+15550194406")
    s.ring(6.0, Q_NW, [NINA, OMAR])
    s.missed(22.6, "Abandoned in queue", "Caller hung up after 25 s in queue")

    # 0006 SMS chat from Sofia Alvarez (pending path: her member before start).
    s = w.session(NORTHWIND, "08:40:03")
    v = s.chat_in(0, NW_TEXT, "sms-15550178841", ALVAREZ.name, ALVAREZ.phone, customer=ALVAREZ,
                  display="Text: Sofia Alvarez", pending=True, app={"carrier": "T-Mobile"})
    s.ring(0.8, Q_NW_TEXT, [NINA], leg=False)
    s.pickup(65.0, NINA)
    s.note(240.0, "Patient asks if crown is ready; confirmed pickup appt Dec 1", NINA)
    s.hangup(590.0, "Completed", first=v)

    # 0007 Tom Whitaker: Omar answers, cold transfer to Priya (billing).
    s = w.session(NORTHWIND, "08:45:31")
    caller = s.inbound(0, NW_FRONT, WHITAKER.phone, WHITAKER.cnam, customer=WHITAKER,
                       display="Tom Whitaker", app={"ivrPath": "1", "language": "en-US"})
    s.ring(7.3, Q_NW, [NINA, OMAR])
    s.pickup(7.0, OMAR)
    s.note(70.0, "Question is about insurance coverage; transferring to billing", OMAR)
    s.held(3.0, OMAR, Q_NW.hold, transferring=True)
    s.mstate(0.3, caller, "HOLD")
    priya = s.agent(1.0, PRIYA, state="RINGING", role="TRANSFER", actor=OMAR)
    s.left(2.5, OMAR.identity, OMAR)
    s.mstate(9.8, priya, "CONNECTED", PRIYA)
    s.resumed(0.6, PRIYA)
    s.mstate(0.3, caller, "CONNECTED")
    s.mupdate(0.3, priya, PRIYA, role="AGENT")
    s.details(60.0, PRIYA, displayName="Tom Whitaker: coverage for implant",
              consoleData="Delta Shield PPO. Implant 50% after deductible; pre-auth needed.")
    s.note(400.0, "Pre-authorization to be faxed to Delta Shield today", PRIYA)
    s.hangup(60.0, "Completed")

    # 0008 Priya faxes the pre-authorization.
    s = w.session(NORTHWIND, "09:10:22")
    s.call_sid = w.ids.sid("FX")
    s.started(0, PRIYA, endpointId=PRIYA.id, endpointName=PRIYA.name, channel="CHANNEL_FAX",
              direction="DIRECTION_OUTGOING", destination="+15550162290",
              toAddress="+15550162290", fromAddress=NW_FAX.address, fromName=NORTHWIND.name,
              callSid=s.call_sid, displayName="Fax to Delta Shield Dental Claims",
              customerId=WHITAKER.id, customerName=WHITAKER.name,
              customerBreadcrumb=WHITAKER.breadcrumb())
    s.call(6.1, "CONNECTED")
    s.dial(0.1, "NONE")
    s.note(95.0, "Fax sent: 5 pages", PRIYA)
    s.ended(0.9, "Fax sent")

    # 0009 Aisha Karimi: Priya answers, hold without transfer.
    s = w.session(NORTHWIND, "09:50:09")
    caller = s.inbound(0, NW_FRONT, KARIMI.phone, KARIMI.cnam, customer=KARIMI,
                       display="Aisha Karimi")
    s.note(5.9, "IVR: caller selected 3 (Billing)")
    s.ring(0.5, Q_NW, [OMAR, PRIYA])
    s.pickup(10.0, PRIYA)
    s.held(95.0, PRIYA, Q_NW.hold)
    s.mstate(0.4, caller, "HOLD")
    s.resumed(120.0, PRIYA)
    s.mstate(0.3, caller, "CONNECTED")
    s.note(210.0, "Refund of $45 overpayment issued", PRIYA)
    s.details(3.0, PRIYA, outcome="Refund issued")
    s.hangup(120.0, "Completed")

    # ---- still active at 10:30 ----
    # 0010 Nina calls a patient about insurance pre-auth.
    s = w.session(NORTHWIND, "10:08:27")
    s.outbound(0, NINA, NW_FRONT, WHITAKER.phone, WHITAKER.name, customer=WHITAKER,
               app={"station": NINA.station})
    s.connect_outbound(13.3, NINA)
    s.details(30.0, NINA, displayName="Tom Whitaker: pre-auth update")
    s.note(200.0, "Explained pre-auth timeline (5-7 business days)", NINA)

    # 0011 SMS chat from Jordan Blake; Nina answers.
    s = w.session(NORTHWIND, "10:15:40")
    s.chat_in(0, NW_TEXT, "sms-15550175530", BLAKE.name, BLAKE.phone, customer=BLAKE,
              display="Text: Jordan Blake")
    s.ring(0.7, Q_NW_TEXT, [NINA], leg=False)
    s.pickup(80.0, NINA)
    s.note(180.0, "Patient asks about parking at Downtown Clinic", NINA)

    # 0012 Marcus Reed: Priya answers, mutes to look something up.
    s = w.session(NORTHWIND, "10:18:02")
    caller = s.inbound(0, NW_FRONT, REED.phone, REED.cnam, customer=REED, display="Marcus Reed")
    s.ring(5.9, Q_NW, [OMAR, PRIYA])
    s.pickup(6.6, PRIYA)
    s.mute(60.0, PRIYA.identity, True, PRIYA)
    s.mute(25.0, PRIYA.identity, False, PRIYA)
    s.details(90.0, PRIYA, displayName="Marcus Reed: payment plan change")

    # 0013 Omar faxes x-rays to a specialist, still sending.
    s = w.session(NORTHWIND, "10:22:05")
    s.call_sid = w.ids.sid("FX")
    s.started(0, OMAR, endpointId=OMAR.id, endpointName=OMAR.name, channel="CHANNEL_FAX",
              direction="DIRECTION_OUTGOING", destination="+15550165533",
              toAddress="+15550165533", fromAddress=NW_FAX.address, fromName=NORTHWIND.name,
              callSid=s.call_sid, displayName="Fax to Eastgate Oral Surgery",
              customerId=REED.id, customerName=REED.name, customerBreadcrumb=REED.breadcrumb())
    s.call(7.4, "CONNECTED")
    s.dial(0.1, "NONE")
    s.note(30.0, "Sending page 1 of 12", OMAR)
    s.note(240.0, "Sending page 7 of 12", OMAR)

    # 0014 Queue call ringing Omar and Priya right now.
    s = w.session(NORTHWIND, "10:29:12")
    s.inbound(0, NW_FRONT, "+15550194406", "WIRELESS CALLER", display="+15550194406")
    s.ring(5.5, Q_NW, [OMAR, PRIYA])


def blueharbor(w: World) -> None:
    # 0001 Grace Lin reports a fender bender; Quinn answers and opens a claim.
    s = w.session(BLUEHARBOR, "08:01:33")
    caller = s.inbound(0, BH_CLAIMS, LIN.phone, LIN.cnam, customer=LIN, display="Grace Lin",
                       app={"policy": "BH-AU-55821"})
    s.note(11.0, "IVR: caller selected 1 (Report a claim), policy BH-AU-55821 entered")
    s.ring(0.6, Q_BH_CLAIMS, [QUINN, ROSA])
    s.pickup(7.9, QUINN)
    s.note(180.0, "Claim CLM-2026-11873 opened: rear-end collision, no injuries", QUINN)
    s.mupdate(0.5, caller, QUINN, app={"claimNumber": "CLM-2026-11873"})
    s.details(1.5, QUINN, displayName="Grace Lin: CLM-2026-11873 auto",
              consoleData="Auto claim CLM-2026-11873. Rear-end, I-90 exit 12. Rental approved.")
    s.hangup(540.0, "Completed")

    # 0002 Tess calls a sales lead.
    s = w.session(BLUEHARBOR, "08:05:02")
    s.outbound(0, TESS, BH_SALES, "+15550187738", "Hannah Brooks (lead)",
               app={"station": TESS.station, "campaign": "home-bundle-q4"})
    s.connect_outbound(16.0, TESS)
    s.note(300.0, "Quote sent: home + auto bundle, $164/mo", TESS)
    s.details(1.0, TESS, outcome="Quote sent")
    s.hangup(41.0, "Completed", first=s.caller)

    # 0003 Abandoned in the claims queue.
    s = w.session(BLUEHARBOR, "08:16:55")
    s.inbound(0, BH_CLAIMS, "+15550196620", "WIRELESS CALLER", display="+15550196620")
    s.ring(9.6, Q_BH_CLAIMS, [ROSA, TESS])
    s.missed(51.0, "Abandoned in queue", "Caller hung up after 52 s in queue")

    # 0004 Harbor Movers truck breakdown: Rosa answers, conferences Bayside Towing,
    #      Sam listens in muted.
    s = w.session(BLUEHARBOR, "08:18:20")
    caller = s.inbound(0, BH_CLAIMS, MOVERS.phone, MOVERS.cnam, customer=MOVERS,
                       display="Harbor Movers LLC", app={"policy": "BH-CF-10077"})
    s.note(8.0, "IVR: caller selected 2 (Roadside assistance)")
    s.ring(0.6, Q_BH_CLAIMS, [ROSA, TESS])
    s.pickup(5.5, ROSA)
    s.details(25.0, ROSA, displayName="Harbor Movers: box truck breakdown",
              consoleData="Fleet unit 14 (Isuzu NPR) stalled on Route 9 northbound.")
    s.conference(70.0, ROSA)
    tow = s.join(1.8, "pstn:+15550163345", name="Bayside Towing", state="RINGING", role="NONE",
                 call_sid=w.ids.sid("CA"), app={"vendorId": "V-tow-0087"}, actor=ROSA)
    s.mstate(12.5, tow, "CONNECTED")
    s.agent(40.0, SAM, state="CONNECTED", role="NONE", muted=True,
            app={"mode": "monitor"}, actor=SAM)
    s.note(0.3, "Sam Whitfield is monitoring", SAM)
    s.note(150.0, "Tow dispatched, ETA 35 min, to Harbor Movers yard", ROSA)
    s.left(4.0, tow)
    s.left(60.0, SAM.identity, SAM)
    s.hangup(200.0, "Completed")

    # 0005 Derek Fowler, new home policy question: Tess answers, warm transfer to Quinn.
    s = w.session(BLUEHARBOR, "08:25:11")
    caller = s.inbound(0, BH_SALES, FOWLER.phone, FOWLER.cnam, customer=FOWLER,
                       display="Derek Fowler")
    s.ring(3.0, Q_BH_SALES, [TESS, ROSA])
    s.pickup(6.0, TESS)
    s.note(90.0, "Caller actually has a water damage claim; transferring to Claims", TESS)
    s.held(2.0, TESS, Q_BH_SALES.hold, transferring=True)
    s.mstate(0.3, caller, "HOLD")
    quinn = s.agent(1.2, QUINN, state="RINGING", role="TRANSFER", actor=TESS)
    s.mstate(8.0, quinn, "CONNECTED", QUINN)
    s.note(30.0, "Tess briefed Quinn on the water damage", TESS)
    s.resumed(2.0, TESS)
    s.mstate(0.3, caller, "CONNECTED")
    s.left(15.0, TESS.identity, TESS)
    s.mupdate(0.4, quinn, QUINN, role="AGENT", app={"transferredFrom": TESS.id})
    s.details(20.0, QUINN, displayName="Derek Fowler: water damage, kitchen")
    s.note(240.0, "Claim CLM-2026-11880 opened; adjuster visit Wed", QUINN)
    s.hangup(60.0, "Completed")

    # 0006 Web chat: Nguyen Bakery asks about coverage; Rosa answers.
    s = w.session(BLUEHARBOR, "08:40:47")
    v = s.chat_in(0, BH_CHAT, "web-n4x9p", "Linh Nguyen", NGUYEN.phone, customer=NGUYEN,
                  display="Web chat: Nguyen Bakery", app={"page": "/business/bop"})
    s.ring(1.0, Q_BH_CHAT, [ROSA], leg=False)
    s.pickup(30.0, ROSA)
    s.note(300.0, "Explained equipment breakdown endorsement", ROSA)
    s.details(420.0, ROSA, outcome="Endorsement quote requested")
    s.hangup(200.0, "Completed", first=v)

    # 0007 Body-shop estimate arrives by fax.
    s = w.session(BLUEHARBOR, "08:45:30")
    s.call_sid = w.ids.sid("FX")
    s.started(0, endpointId=BH_FAX.id, endpointName=BH_FAX.name, channel="CHANNEL_FAX",
              direction="DIRECTION_INCOMING", toAddress=BH_FAX.address,
              fromAddress="+15550166601", fromName="PRECISION AUTO BODY",
              fromPhoneNumber="+15550166601", callSid=s.call_sid,
              displayName="Fax from Precision Auto Body", customerId=LIN.id,
              customerName=LIN.name, customerBreadcrumb=LIN.breadcrumb())
    s.call(3.0, "CONNECTED")
    s.dial(0.1, "NONE")
    s.note(61.0, "Fax received: 3 pages (estimate for CLM-2026-11873)")
    s.ended(0.6, "Fax received")

    # 0008 Lucas Moreau disputes a claim: Rosa answers, warm transfer to Sam (supervisor).
    s = w.session(BLUEHARBOR, "09:20:14")
    caller = s.inbound(0, BH_CLAIMS, MOREAU.phone, MOREAU.cnam, customer=MOREAU,
                       display="Lucas Moreau")
    s.ring(9.0, Q_BH_CLAIMS, [QUINN, ROSA])
    s.pickup(6.2, ROSA)
    s.details(60.0, ROSA, displayName="Lucas Moreau: disputes total-loss value",
              consoleData="CLM-2026-11544 total loss. Customer disputes ACV ($14,200).")
    s.held(240.0, ROSA, Q_BH_CLAIMS.hold, transferring=True)
    s.mstate(0.3, caller, "HOLD")
    sam = s.agent(1.0, SAM, state="RINGING", role="TRANSFER", actor=ROSA)
    s.mstate(5.0, sam, "CONNECTED", SAM)
    s.resumed(60.0, ROSA)
    s.mstate(0.3, caller, "CONNECTED")
    s.left(20.0, ROSA.identity, ROSA)
    s.mupdate(0.4, sam, SAM, role="AGENT", displayName="Sam Whitfield (Supervisor)")
    s.note(500.0, "Supervisor agreed to independent appraisal", SAM)
    s.hangup(300.0, "Completed")

    # 0009 Sales line rings out to voicemail: missed.
    s = w.session(BLUEHARBOR, "09:30:05")
    s.inbound(0, BH_SALES, "+15550198847", "BROOKS HANNAH", display="+15550198847")
    s.ring(2.0, Q_BH_SALES, [TESS])
    s.missed(30.0, "Voicemail", "No agent answered in 30 s; voicemail recorded (0:31)")

    # ---- still active at 10:30 ----
    # 0010 Derek Fowler calls back (pending path); Quinn answers and is transferring to Rosa.
    s = w.session(BLUEHARBOR, "10:02:10")
    caller = s.inbound(0, BH_CLAIMS, FOWLER.phone, FOWLER.cnam, customer=FOWLER,
                       display="Derek Fowler", pending=True, app={"policy": "BH-HO-20931"})
    s.note(8.0, "IVR: caller selected 3 (Existing claim)")
    s.ring(0.6, Q_BH_CLAIMS, [QUINN, ROSA, TESS])
    s.pickup(9.0, QUINN)
    s.details(40.0, QUINN, displayName="Derek Fowler: CLM-2026-11880 mold concern")
    s.note(600.0, "Mold suspected behind cabinets; needs remediation specialist", QUINN)
    s.held(630.0, QUINN, Q_BH_CLAIMS.hold, transferring=True)
    s.mstate(0.3, caller, "HOLD")
    rosa = s.agent(1.0, ROSA, state="RINGING", role="TRANSFER", actor=QUINN)
    s.mstate(6.5, rosa, "CONNECTED", ROSA)
    s.note(1.0, "Quinn consulting with Rosa (property specialist)", QUINN)

    # 0011 Patel family asks about an umbrella policy: Tess answers, Sam coaches muted.
    s = w.session(BLUEHARBOR, "10:10:03")
    caller = s.inbound(0, BH_SALES, PATEL.phone, PATEL.cnam, customer=PATEL,
                       display="Patel Family")
    s.ring(2.5, Q_BH_SALES, [TESS, ROSA])
    s.pickup(5.0, TESS)
    s.details(60.0, TESS, displayName="Patel Family: umbrella policy",
              consoleData="Existing home policy BH-HO-18820. Interested in $1M umbrella.")
    s.conference(240.0, SAM)
    s.agent(1.0, SAM, state="CONNECTED", role="NONE", muted=True, app={"mode": "coach"},
            actor=SAM)
    s.note(0.4, "Sam Whitfield is coaching (muted)", SAM)
    s.mute(300.0, TESS.identity, True, TESS)
    s.mute(20.0, TESS.identity, False, TESS)

    # 0012 Web chat from Grace Lin; Quinn answers between calls.
    s = w.session(BLUEHARBOR, "10:14:19")
    s.chat_in(0, BH_CHAT, "web-g3l1n", LIN.name, LIN.phone, customer=LIN,
              display="Web chat: Grace Lin", app={"page": "/claims/status"})
    s.ring(1.1, Q_BH_CHAT, [QUINN], leg=False)
    s.pickup(35.0, QUINN)
    s.note(200.0, "Shared rental car extension form", QUINN)

    # 0013 Web chat from a prospect; Rosa answers.
    s = w.session(BLUEHARBOR, "10:19:48")
    s.chat_in(0, BH_CHAT, "web-h8c2r", "Hannah Brooks", "+15550187738",
              display="Web chat: Hannah Brooks", app={"page": "/quote/bundle"})
    s.ring(1.0, Q_BH_CHAT, [ROSA], leg=False)
    s.pickup(20.0, ROSA)
    s.details(90.0, ROSA, displayName="Web chat: Hannah Brooks (bundle quote)")

    # 0014 Tess faxes a signed application to an underwriter, still sending.
    s = w.session(BLUEHARBOR, "10:26:40")
    s.call_sid = w.ids.sid("FX")
    s.started(0, TESS, endpointId=TESS.id, endpointName=TESS.name, channel="CHANNEL_FAX",
              direction="DIRECTION_OUTGOING", destination="+15550167720",
              toAddress="+15550167720", fromAddress=BH_FAX.address, fromName=BLUEHARBOR.name,
              callSid=s.call_sid, displayName="Fax to Keystone Underwriters",
              customerId=PATEL.id, customerName=PATEL.name, customerBreadcrumb=PATEL.breadcrumb())
    s.call(5.0, "CONNECTED")
    s.dial(0.1, "NONE")
    s.note(20.0, "Sending page 2 of 9", TESS)


def build(seed: int = SEED) -> list:
    w = World(seed)
    acme(w)
    northwind(w)
    blueharbor(w)
    return w.lines()


# --------------------------------------------------------------------------- validation

KINDS = ["sessionStarted", "dialStateChanged", "callStateChanged", "queueStateChanged",
         "sessionAnswered", "sessionHeld", "sessionResumed", "conferenceStarted",
         "customerAssigned", "sessionDetailsChanged", "logAppended", "sessionEnded",
         "memberJoined", "memberCallStateChanged", "memberMuteChanged", "memberUpdated",
         "memberLeft"]
MEMBER_KINDS = {k for k in KINDS if k.startswith("member")}
ENVELOPE = {"eventId", "sessionId", "occurredAt", "accountId", "actorId"}
ENUMS = {  # field name -> (prefix, allowed suffixes); UNSPECIFIED is never written here
    "dialState": ("DIAL_STATE_", {"NONE", "ACTIVE"}),
    "queueState": ("QUEUE_STATE_", {"NONE", "QUEUED", "RINGING", "CONNECTED", "HOLD", "DISCONNECTED"}),
    "reason": ("HOLD_REASON_", {"NONE", "TRANSFERRING"}),
    "channel": ("CHANNEL_", {"VOICE", "CHAT", "FAX"}),
    "direction": ("DIRECTION_", {"INCOMING", "OUTGOING"}),
    "role": ("MEMBER_ROLE_", {"NONE", "CALLER", "AGENT", "TRANSFER"}),
}
CALL_STATES = ("CALL_STATE_", {"DISCONNECTED", "RINGING", "CONNECTED", "HOLD", "PASSIVE"})
MEMBER_STATES = ("MEMBER_CALL_STATE_", {"NONE", "RINGING", "CONNECTED", "HOLD"})
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
SID = re.compile(r"^(CA|CF|CH|FX)[0-9a-f]{32}$")
TOMBSTONE = timedelta(minutes=10)


def parse_time(s: str) -> datetime:
    if not RFC3339_UTC.match(s):
        raise ValueError(f"not RFC 3339 UTC: {s!r}")
    base, _, frac = s[:-1].partition(".")
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return t + timedelta(microseconds=int((frac + "000000")[:6])) if frac else t


def validate(lines: list) -> dict:
    """Checks the file and folds it (a small model of the service's fold) to find what is
    active at the end. Raises AssertionError with the line number on the first problem."""
    ids: set = set()
    sessions: dict = {}
    kinds: Counter = Counter()
    prev = None
    dropped_late = 0
    for n, line in enumerate(lines, 1):
        where = f"line {n}"
        ev = json.loads(line)
        assert isinstance(ev, dict), where
        body_keys = [k for k in ev if k not in ENVELOPE]
        assert len(body_keys) == 1 and body_keys[0] in KINDS, f"{where}: kinds {body_keys}"
        kind = body_keys[0]
        body = ev[kind]
        kinds[kind] += 1
        for k in ("eventId", "sessionId", "occurredAt", "accountId"):
            assert isinstance(ev.get(k), str) and ev[k], f"{where}: missing {k}"
        assert ev["eventId"] not in ids, f"{where}: duplicate eventId {ev['eventId']}"
        ids.add(ev["eventId"])
        t = parse_time(ev["occurredAt"])
        assert prev is None or t >= prev, f"{where}: out of chronological order"
        prev = t
        check_enums(kind, body, where)
        for key in ("callSid", "conferenceSid"):
            if key in body:
                assert SID.match(body[key]), f"{where}: bad {key} {body[key]}"

        sid = ev["sessionId"]
        s = sessions.setdefault(sid, {"account": ev["accountId"], "started": None, "ended": None,
                                      "endpoint": "", "members": {}, "pending": 0, "missed": False,
                                      "channel": "", "call": "", "display": "", "late": 0})
        assert s["account"] == ev["accountId"], f"{where}: account changed"
        if s["ended"] is not None:
            assert t - s["ended"] <= TOMBSTONE, f"{where}: late event outside tombstone window"
            dropped_late += 1
            s["late"] += 1
            continue
        if s["started"] is None and kind != "sessionStarted":
            assert kind in MEMBER_KINDS, f"{where}: {kind} before sessionStarted"
            s["pending"] += 1
        m = s["members"]
        if kind == "sessionStarted":
            assert s["started"] is None, f"{where}: started twice"
            assert body.get("channel") and body.get("direction"), f"{where}: channel/direction"
            s.update(started=t, endpoint=body.get("endpointId", ""), channel=body["channel"],
                     call=body.get("callState", "CALL_STATE_RINGING"),
                     display=body.get("displayName", ""))
        elif kind == "memberJoined":
            assert body["identity"] not in m, f"{where}: {body['identity']} joined twice"
            m[body["identity"]] = {"endpoint": body.get("endpointId", ""),
                                   "state": body.get("callState"), "role": body.get("role"),
                                   "muted": body.get("muted", False)}
        elif kind in MEMBER_KINDS:
            assert body["identity"] in m, f"{where}: unknown member {body['identity']}"
            if kind == "memberLeft":
                del m[body["identity"]]
            elif kind == "memberCallStateChanged":
                m[body["identity"]]["state"] = body["callState"]
            elif kind == "memberMuteChanged":
                m[body["identity"]]["muted"] = body["muted"]
            elif kind == "memberUpdated" and "role" in body:
                m[body["identity"]]["role"] = body["role"]
        elif kind == "sessionAnswered":
            assert any(x["endpoint"] == body["answeredById"] for x in m.values()), where
            s["call"] = "CALL_STATE_CONNECTED"
        elif kind == "sessionHeld":
            assert any(x["endpoint"] == body["heldByUserId"] for x in m.values()), where
            s["call"] = "CALL_STATE_HOLD"
        elif kind == "sessionResumed":
            s["call"] = "CALL_STATE_CONNECTED"
        elif kind == "callStateChanged":
            s["call"] = body["callState"]
        elif kind == "sessionDetailsChanged" and "displayName" in body:
            s["display"] = body["displayName"]
        elif kind == "sessionEnded":
            s.update(ended=t, missed=body.get("wasMissed", False), call="CALL_STATE_DISCONNECTED")

    never = [sid for sid, s in sessions.items() if s["started"] is None]
    assert not never, f"sessions without sessionStarted: {never}"
    for sid, s in sessions.items():
        if s["ended"] is not None:
            assert not s["members"] or s["late"], f"{sid}: ended with members left"
    active_by_user: dict = defaultdict(list)
    for sid, s in sessions.items():
        if s["ended"] is None:
            owners = {s["endpoint"]} | {x["endpoint"] for x in s["members"].values()}
            for u in sorted(o for o in owners if o.startswith("U-")):
                active_by_user[u].append(sid)
    return {"lines": len(lines), "sessions": sessions, "kinds": kinds,
            "active_by_user": active_by_user, "dropped_late": dropped_late,
            "first": lines and json.loads(lines[0])["occurredAt"],
            "last": lines and json.loads(lines[-1])["occurredAt"]}


def check_enums(kind: str, body: dict, where: str) -> None:
    for key, value in body.items():
        if key == "callState":
            prefix, allowed = MEMBER_STATES if kind.startswith("member") else CALL_STATES
        elif key in ENUMS:
            prefix, allowed = ENUMS[key]
        else:
            continue
        assert value.startswith(prefix) and value[len(prefix):] in allowed, \
            f"{where}: {kind}.{key} = {value!r}"


def summarize(r: dict) -> None:
    sessions = r["sessions"]
    ended = [s for s in sessions.values() if s["ended"] is not None]
    active = {sid: s for sid, s in sessions.items() if s["ended"] is None}
    print(f"{r['lines']} events, {r['first']} .. {r['last']}")
    by_acct = Counter(s["account"] for s in sessions.values())
    print(f"sessions: {len(sessions)} total ("
          + ", ".join(f"{a} {c}" for a, c in sorted(by_acct.items())) + ")")
    print(f"  ended: {len(ended)} (missed: {sum(s['missed'] for s in ended)}), "
          f"active at end: {len(active)}")
    ch = Counter(s["channel"].removeprefix("CHANNEL_").lower() for s in sessions.values())
    print("  channels: " + ", ".join(f"{k} {v}" for k, v in sorted(ch.items())))
    pend = [sid for sid, s in sessions.items() if s["pending"]]
    print(f"  member events before sessionStarted (pending path): {', '.join(pend)}")
    print(f"  events after sessionEnded (tombstone drops): {r['dropped_late']}")
    print("event kinds: " + ", ".join(f"{k} {r['kinds'][k]}" for k in KINDS))
    print("active at end, per user:")
    for u in USERS:
        got = r["active_by_user"].get(u.id, [])
        mark = "  <- demo user" if u.id == DEMO_USER else ""
        print(f"  {u.id:<20} {len(got)}{mark}")
        for sid in got:
            s = active[sid]
            print(f"      {sid:<18} {s['channel'].removeprefix('CHANNEL_'):<5} "
                  f"{s['call'].removeprefix('CALL_STATE_'):<10} {s['display']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="validate the existing file only")
    args = ap.parse_args()
    if args.check:
        lines = args.out.read_text(encoding="utf-8").splitlines()
    else:
        lines = build()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    try:
        summary = validate(lines)
    except (AssertionError, ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"INVALID: {e}", file=sys.stderr)
        return 1
    summarize(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
