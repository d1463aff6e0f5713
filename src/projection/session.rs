//! The fold's view of one active session, and how each event kind changes it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

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
    /// This version's bytes in the API's formats, made by the first reader that needs
    /// them and shared by every later one; emptied whenever the session changes.
    pub rendered: Renderings,
}

/// The forms a session is cached in, each a slot of [`Renderings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// `SessionInfo` as JSON.
    Json,
    /// `SessionInfo` as a DataContract XML element.
    Xml,
    /// `SessionInfo` as JSV.
    Jsv,
}

/// Bytes rendered from one version of a session. A session is changed only through
/// `Projection::update`, which empties them, so they always match the fields beside them.
///
/// Not part of a session's value: a clone starts empty (the fold clones a session only to
/// change it) and equality ignores it.
#[derive(Default)]
pub struct Renderings([OnceLock<Box<[u8]>>; 3]);

impl Renderings {
    /// The bytes of `form`, rendered now by `render` if no reader has yet.
    pub fn get_or_render(&self, form: Rendering, render: impl FnOnce() -> Vec<u8>) -> &[u8] {
        self.0[form as usize].get_or_init(|| render().into_boxed_slice())
    }

    /// Whether `form` has been rendered.
    pub fn has(&self, form: Rendering) -> bool {
        self.0[form as usize].get().is_some()
    }

    /// Forgets every rendering (the session is about to change).
    pub(crate) fn clear(&mut self) {
        for slot in &mut self.0 {
            slot.take();
        }
    }
}

impl Clone for Renderings {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Renderings {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Renderings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.iter().filter(|s| s.get().is_some()).count();
        write!(f, "Renderings({held})")
    }
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
    /// The event applied; these fields now hold different values (possibly none, when
    /// the event restated what the session already had).
    Updated(Fields),
    /// The event names a member the session does not have; nothing changed.
    UnknownMember,
}

/// The API fields of a session, one bit each: what an event changed, for traces and
/// history. Cheap to compute on the fold's hot path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fields(u32);

/// One table of the fields: each bit's constant (in `bit`, by bit order) and its API name
/// (in [`FIELD_NAMES`]) come from the same line, so the two cannot drift apart.
macro_rules! field_table {
    ($($bit:ident => $name:literal,)*) => {
        /// Bit numbers of [`Fields`], named after the API fields.
        mod bit {
            #[allow(non_camel_case_types, clippy::upper_case_acronyms, dead_code)]
            enum Bit {
                $($bit,)*
            }
            $(pub const $bit: u32 = Bit::$bit as u32;)*
        }

        /// The API name of each bit of [`Fields`], in bit order.
        pub const FIELD_NAMES: [&str; [$($name),*].len()] = [$($name),*];
    };
}

field_table! {
    DIAL_STATE => "dialState",
    CALL_STATE => "callState",
    QUEUE_STATE => "queueState",
    RING_QUEUE_ID => "ringQueueId",
    QUEUE_MEMBER_ID => "queueMemberId",
    ANSWERED_BY_ID => "answeredById",
    ANSWERED_BY_NAME => "answeredByName",
    HELD_BY_USER_ID => "heldByUserId",
    HOLD_QUEUE_NAME => "holdQueueName",
    HOLD_REASON => "holdReason",
    CONFERENCE_SID => "conferenceSid",
    CUSTOMER_ID => "customerId",
    CUSTOMER_NAME => "customerName",
    CUSTOMER_BREADCRUMB => "customerBreadcrumb",
    DISPLAY_NAME => "displayName",
    CONSOLE_DATA => "consoleData",
    DESTINATION => "destination",
    CALLBACK_NUMBER => "callbackNumber",
    TO_ADDRESS => "toAddress",
    FROM_ADDRESS => "fromAddress",
    FROM_NAME => "fromName",
    OUTCOME => "outcome",
    LOG => "log",
    MEMBERS => "members",
    MOST_RECENT_PARTICIPANT_CALL_SID => "mostRecentParticipantCallSid",
}

impl Fields {
    /// Whether no field changed.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The changed fields' API names, in [`FIELD_NAMES`] order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FIELD_NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
    }

    /// The raw bits, for compact storage.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Fields from raw bits (unknown bits are dropped).
    pub fn from_bits(bits: u32) -> Self {
        Self(bits & ((1 << FIELD_NAMES.len()) - 1))
    }

    fn mark(&mut self, bit: u32) {
        self.0 |= 1 << bit;
    }

    /// Sets `field` to `value`, marking `bit` if that changed it.
    fn put<T: PartialEq>(&mut self, field: &mut T, value: T, bit: u32) {
        if *field != value {
            *field = value;
            self.mark(bit);
        }
    }

    /// Applies an optional-field update, marking `bit` if it changed the field.
    fn update(&mut self, field: &mut Option<String>, update: FieldUpdate, bit: u32) {
        if let Some(value) = update {
            self.put(field, value, bit);
        }
    }
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

    /// Whether `owners` (sorted, without repeats) are exactly the users who may see this
    /// session: what [`Session::owners`] would return, found without allocating.
    pub fn has_owners(&self, owners: &[String]) -> bool {
        let listed = |user: &String| owners.binary_search(user).is_ok();
        self.endpoint_id.as_ref().is_none_or(listed)
            && self
                .members
                .iter()
                .all(|m| m.endpoint_id.as_ref().is_none_or(listed))
            && owners.iter().all(|user| self.is_owned_by(user))
    }

    fn member_mut(&mut self, identity: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.identity == identity)
    }

    /// Applies a non-start event's effect and says which fields it changed.
    /// `SessionStarted` creates sessions and `SessionEnded` removes them; the fold handles
    /// those two.
    pub fn apply(&mut self, at: EventTime, kind: EventKind) -> Change {
        use bit::*;
        let mut changed = Fields::default();
        let c = &mut changed;
        match kind {
            EventKind::SessionStarted(_) | EventKind::SessionEnded { .. } => {}
            EventKind::DialStateChanged(s) => c.put(&mut self.dial_state, s, DIAL_STATE),
            EventKind::CallStateChanged(s) => c.put(&mut self.call_state, s, CALL_STATE),
            EventKind::QueueStateChanged {
                queue_state,
                ring_queue_id,
                queue_member_id,
            } => {
                c.put(&mut self.queue_state, queue_state, QUEUE_STATE);
                c.update(&mut self.ring_queue_id, ring_queue_id, RING_QUEUE_ID);
                c.update(&mut self.queue_member_id, queue_member_id, QUEUE_MEMBER_ID);
            }
            EventKind::SessionAnswered {
                answered_by_id,
                answered_by_name,
            } => {
                c.put(&mut self.answered_by_id, answered_by_id, ANSWERED_BY_ID);
                c.put(
                    &mut self.answered_by_name,
                    answered_by_name,
                    ANSWERED_BY_NAME,
                );
                c.put(
                    &mut self.call_state,
                    SessionCallState::Connected,
                    CALL_STATE,
                );
            }
            EventKind::SessionHeld {
                held_by_user_id,
                hold_queue_name,
                reason,
            } => {
                c.put(&mut self.held_by_user_id, held_by_user_id, HELD_BY_USER_ID);
                c.put(&mut self.hold_queue_name, hold_queue_name, HOLD_QUEUE_NAME);
                c.put(&mut self.hold_reason, reason, HOLD_REASON);
                c.put(&mut self.call_state, SessionCallState::Hold, CALL_STATE);
            }
            EventKind::SessionResumed => {
                c.put(&mut self.held_by_user_id, None, HELD_BY_USER_ID);
                c.put(&mut self.hold_queue_name, None, HOLD_QUEUE_NAME);
                c.put(&mut self.hold_reason, SessionHoldReasons::None, HOLD_REASON);
                c.put(
                    &mut self.call_state,
                    SessionCallState::Connected,
                    CALL_STATE,
                );
            }
            EventKind::ConferenceStarted { conference_sid } => {
                c.put(&mut self.conference_sid, conference_sid, CONFERENCE_SID);
            }
            EventKind::CustomerAssigned {
                customer_id,
                customer_name,
                customer_breadcrumb,
            } => {
                c.put(&mut self.customer_id, customer_id, CUSTOMER_ID);
                c.put(&mut self.customer_name, customer_name, CUSTOMER_NAME);
                c.put(
                    &mut self.customer_breadcrumb,
                    customer_breadcrumb,
                    CUSTOMER_BREADCRUMB,
                );
            }
            EventKind::SessionDetailsChanged(d) => {
                let d = *d;
                c.update(&mut self.display_name, d.display_name, DISPLAY_NAME);
                c.update(&mut self.console_data, d.console_data, CONSOLE_DATA);
                c.update(&mut self.destination, d.destination, DESTINATION);
                c.update(
                    &mut self.callback_number,
                    d.callback_number,
                    CALLBACK_NUMBER,
                );
                c.update(&mut self.to_address, d.to_address, TO_ADDRESS);
                c.update(&mut self.from_address, d.from_address, FROM_ADDRESS);
                c.update(&mut self.from_name, d.from_name, FROM_NAME);
                c.update(&mut self.outcome, d.outcome, OUTCOME);
            }
            EventKind::LogAppended { message } => {
                // Oldest first even when a producer's clock put entries out of order;
                // equal dates keep arrival order.
                let at_index = self.log.partition_point(|e| e.date <= at);
                self.log.insert(at_index, LogEntry { date: at, message });
                c.mark(LOG);
            }
            EventKind::MemberJoined(j) => {
                let j = *j;
                if j.call_sid.is_some() {
                    c.put(
                        &mut self.most_recent_participant_call_sid,
                        j.call_sid.clone(),
                        MOST_RECENT_PARTICIPANT_CALL_SID,
                    );
                }
                let member = Member {
                    identity: j.identity,
                    endpoint_id: j.endpoint_id,
                    display_name: j.display_name,
                    avatar_url: j.avatar_url,
                    is_original_member: j.is_original_member,
                    application_data: j.application_data,
                    call_state: j.call_state,
                    role: j.role,
                    call_sid: j.call_sid,
                    muted: j.muted,
                };
                match self.member_mut(&member.identity) {
                    Some(existing) => c.put(existing, member, MEMBERS),
                    None => {
                        self.members.push(member);
                        c.mark(MEMBERS);
                    }
                }
            }
            EventKind::MemberCallStateChanged {
                identity,
                call_state,
            } => match self.member_mut(&identity) {
                Some(m) => c.put(&mut m.call_state, call_state, MEMBERS),
                None => return Change::UnknownMember,
            },
            EventKind::MemberMuteChanged { identity, muted } => match self.member_mut(&identity) {
                Some(m) => c.put(&mut m.muted, muted, MEMBERS),
                None => return Change::UnknownMember,
            },
            EventKind::MemberUpdated(u) => match self.member_mut(&u.identity) {
                Some(m) => {
                    let u = *u;
                    c.update(&mut m.display_name, u.display_name, MEMBERS);
                    c.update(&mut m.avatar_url, u.avatar_url, MEMBERS);
                    if let Some(role) = u.role {
                        c.put(&mut m.role, role, MEMBERS);
                    }
                    for (key, value) in u.application_data {
                        if m.application_data.get(&key) != Some(&value) {
                            m.application_data.insert(key, value);
                            c.mark(MEMBERS);
                        }
                    }
                }
                None => return Change::UnknownMember,
            },
            EventKind::MemberLeft { identity } => {
                let before = self.members.len();
                self.members.retain(|m| m.identity != identity);
                if self.members.len() == before {
                    return Change::UnknownMember;
                }
                c.mark(MEMBERS);
            }
        }
        Change::Updated(changed)
    }
}
