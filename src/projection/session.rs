//! The fold's view of one active session, and how each event kind changes it.

use std::collections::BTreeMap;

use crate::events::{Crumb, EventKind, FieldUpdate, SessionId};
use crate::model::{
    FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionHoldReasons,
    SessionMemberCallState, SessionMemberRoles, SessionQueueStates,
};
use crate::time::EventTime;

/// A session as the fold holds it: every field the API shows, in domain types.
///
/// Sessions in the projection are active (started, not ended), so there is no `ended` or
/// `date_completed` here; the API writes them as `false` and null.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The session id.
    pub id: SessionId,
    /// `dateCreated`: when `SessionStarted` occurred.
    pub created_at: EventTime,
    /// `createdBy`: the actor of `SessionStarted`.
    pub created_by: Option<String>,
    /// `dateLastModified`: the latest `occurred_at` applied.
    pub last_modified_at: EventTime,
    /// `lastModifiedBy`: the actor of the latest applied event that had one.
    pub last_modified_by: Option<String>,
    /// `accountId`.
    pub account_id: Option<String>,
    /// `accountName`.
    pub account_name: Option<String>,
    /// `dialState`.
    pub dial_state: SessionDialState,
    /// `callState`.
    pub call_state: SessionCallState,
    /// `queueState`.
    pub queue_state: SessionQueueStates,
    /// `customerId`.
    pub customer_id: Option<String>,
    /// `customerName`.
    pub customer_name: Option<String>,
    /// `customerBreadcrumb`.
    pub customer_breadcrumb: Vec<Crumb>,
    /// `endpointId`: the user (endpoint) the session belongs to.
    pub endpoint_id: Option<String>,
    /// `endpointName`.
    pub endpoint_name: Option<String>,
    /// `channel`.
    pub channel: FlowChannels,
    /// `direction`.
    pub direction: SessionDirections,
    /// `destination`.
    pub destination: Option<String>,
    /// `toAddress`.
    pub to_address: Option<String>,
    /// `fromAddress`.
    pub from_address: Option<String>,
    /// `fromName`.
    pub from_name: Option<String>,
    /// `fromPhoneNumber`.
    pub from_phone_number: Option<String>,
    /// `callbackNumber`.
    pub callback_number: Option<String>,
    /// `callSid`.
    pub call_sid: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `consoleData`.
    pub console_data: Option<String>,
    /// `outcome`.
    pub outcome: Option<String>,
    /// `answeredById`.
    pub answered_by_id: Option<String>,
    /// `answeredByName`.
    pub answered_by_name: Option<String>,
    /// `queueMemberId`.
    pub queue_member_id: Option<String>,
    /// `ringQueueId`.
    pub ring_queue_id: Option<String>,
    /// `heldByUserId`.
    pub held_by_user_id: Option<String>,
    /// `holdQueueName`.
    pub hold_queue_name: Option<String>,
    /// `holdReason`.
    pub hold_reason: SessionHoldReasons,
    /// `conferenceSid`.
    pub conference_sid: Option<String>,
    /// `mostRecentParticipantCallSid`.
    pub most_recent_participant_call_sid: Option<String>,
    /// `wasMissed` (only an ended session can have been missed, so false while active).
    pub was_missed: bool,
    /// `log`, oldest first.
    pub log: Vec<LogEntry>,
    /// `members`, in the order they first joined.
    pub members: Vec<Member>,
}

/// One `log` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When the entry was appended (the event's `occurred_at`).
    pub date: EventTime,
    /// The text.
    pub message: Option<String>,
}

/// One member (leg) of a session, keyed by `identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique within the session.
    pub identity: String,
    /// The member's endpoint (a user id when the member is a user).
    pub endpoint_id: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `avatarUrl`.
    pub avatar_url: Option<String>,
    /// `isOriginalMember`.
    pub is_original_member: bool,
    /// `applicationData`.
    pub application_data: BTreeMap<String, String>,
    /// `callState`.
    pub call_state: SessionMemberCallState,
    /// `role`.
    pub role: SessionMemberRoles,
    /// `callSid`.
    pub call_sid: Option<String>,
    /// `muted`.
    pub muted: bool,
}

/// What applying one event to a session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The session's fields changed.
    Updated,
    /// The event names a member the session does not have; nothing changed.
    UnknownMember,
}

impl Session {
    /// Whether `user` may see this session: it is the session's endpoint or a current
    /// member's endpoint.
    pub fn is_owned_by(&self, user: &str) -> bool {
        self.endpoint_id.as_deref() == Some(user)
            || self
                .members
                .iter()
                .any(|m| m.endpoint_id.as_deref() == Some(user))
    }

    /// Every user who may see this session, sorted and without repeats.
    pub fn owners(&self) -> Vec<&str> {
        let mut owners: Vec<&str> = self
            .endpoint_id
            .iter()
            .chain(self.members.iter().filter_map(|m| m.endpoint_id.as_ref()))
            .map(String::as_str)
            .collect();
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    fn member_mut(&mut self, identity: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.identity == identity)
    }

    /// Applies a non-start event's effect. `SessionStarted` creates sessions and
    /// `SessionEnded` removes them; the fold handles those two.
    pub fn apply(&mut self, at: EventTime, kind: EventKind) -> Change {
        match kind {
            EventKind::SessionStarted(_) | EventKind::SessionEnded { .. } => {}
            EventKind::DialStateChanged(s) => self.dial_state = s,
            EventKind::CallStateChanged(s) => self.call_state = s,
            EventKind::QueueStateChanged {
                queue_state,
                ring_queue_id,
                queue_member_id,
            } => {
                self.queue_state = queue_state;
                set(&mut self.ring_queue_id, ring_queue_id);
                set(&mut self.queue_member_id, queue_member_id);
            }
            EventKind::SessionAnswered {
                answered_by_id,
                answered_by_name,
            } => {
                self.answered_by_id = answered_by_id;
                self.answered_by_name = answered_by_name;
                self.call_state = SessionCallState::Connected;
            }
            EventKind::SessionHeld {
                held_by_user_id,
                hold_queue_name,
                reason,
            } => {
                self.held_by_user_id = held_by_user_id;
                self.hold_queue_name = hold_queue_name;
                self.hold_reason = reason;
                self.call_state = SessionCallState::Hold;
            }
            EventKind::SessionResumed => {
                self.held_by_user_id = None;
                self.hold_queue_name = None;
                self.hold_reason = SessionHoldReasons::None;
                self.call_state = SessionCallState::Connected;
            }
            EventKind::ConferenceStarted { conference_sid } => {
                self.conference_sid = conference_sid;
            }
            EventKind::CustomerAssigned {
                customer_id,
                customer_name,
                customer_breadcrumb,
            } => {
                self.customer_id = customer_id;
                self.customer_name = customer_name;
                self.customer_breadcrumb = customer_breadcrumb;
            }
            EventKind::SessionDetailsChanged(d) => {
                let d = *d;
                set(&mut self.display_name, d.display_name);
                set(&mut self.console_data, d.console_data);
                set(&mut self.destination, d.destination);
                set(&mut self.callback_number, d.callback_number);
                set(&mut self.to_address, d.to_address);
                set(&mut self.from_address, d.from_address);
                set(&mut self.from_name, d.from_name);
                set(&mut self.outcome, d.outcome);
            }
            EventKind::LogAppended { message } => {
                // Oldest first even when a producer's clock put entries out of order;
                // equal dates keep arrival order.
                let at_index = self.log.partition_point(|e| e.date <= at);
                self.log.insert(at_index, LogEntry { date: at, message });
            }
            EventKind::MemberJoined(j) => {
                let member = Member {
                    identity: j.identity.clone(),
                    endpoint_id: j.endpoint_id.clone(),
                    display_name: j.display_name.clone(),
                    avatar_url: j.avatar_url.clone(),
                    is_original_member: j.is_original_member,
                    application_data: j.application_data.clone(),
                    call_state: j.call_state,
                    role: j.role,
                    call_sid: j.call_sid.clone(),
                    muted: j.muted,
                };
                match self.member_mut(&j.identity) {
                    Some(existing) => *existing = member,
                    None => self.members.push(member),
                }
                if j.call_sid.is_some() {
                    self.most_recent_participant_call_sid
                        .clone_from(&j.call_sid);
                }
            }
            EventKind::MemberCallStateChanged {
                identity,
                call_state,
            } => match self.member_mut(&identity) {
                Some(m) => m.call_state = call_state,
                None => return Change::UnknownMember,
            },
            EventKind::MemberMuteChanged { identity, muted } => match self.member_mut(&identity) {
                Some(m) => m.muted = muted,
                None => return Change::UnknownMember,
            },
            EventKind::MemberUpdated(u) => match self.member_mut(&u.identity) {
                Some(m) => {
                    let u = *u;
                    set(&mut m.display_name, u.display_name);
                    set(&mut m.avatar_url, u.avatar_url);
                    if let Some(role) = u.role {
                        m.role = role;
                    }
                    m.application_data.extend(u.application_data);
                }
                None => return Change::UnknownMember,
            },
            EventKind::MemberLeft { identity } => {
                let before = self.members.len();
                self.members.retain(|m| m.identity != identity);
                if self.members.len() == before {
                    return Change::UnknownMember;
                }
            }
        }
        Change::Updated
    }
}

fn set(field: &mut Option<String>, update: FieldUpdate) {
    if let Some(value) = update {
        *field = value;
    }
}
