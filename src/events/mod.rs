//! The events: wire types generated from `proto/`, their validated domain form, and the
//! codecs that turn records (protobuf bytes, event-log lines) into one or the other.

pub mod decode;
pub mod enums;
pub mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::{
    FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionHoldReasons,
    SessionMemberCallState, SessionMemberRoles, SessionQueueStates,
};
use crate::time::EventTime;

/// Types generated from package `evovoice.sessions.v1` (`proto/evovoice/sessions/v1/`: the
/// events, and the `SessionInfo` record of the change feed and snapshots), with proto3
/// JSON serde.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod wire {
    include!(concat!(env!("OUT_DIR"), "/evovoice.sessions.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/evovoice.sessions.v1.serde.rs"));
}

/// A session id, shared cheaply between the fold's maps and indexes.
pub type SessionId = Arc<str>;

/// An update to an `optional` string field: `None` leaves it, `Some(None)` clears it,
/// `Some(Some(v))` sets it.
pub type FieldUpdate = Option<Option<String>>;

/// A validated event: what the fold consumes.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The producer's unique id for this event, if it gave one.
    pub event_id: Option<String>,
    /// The session this event belongs to.
    pub session_id: SessionId,
    /// When it happened on the platform.
    pub occurred_at: EventTime,
    /// The session's account.
    pub account_id: Option<String>,
    /// The user who caused the change.
    pub actor_id: Option<String>,
    /// What happened.
    pub kind: EventKind,
}

/// One entry of a customer breadcrumb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crumb {
    /// The customer's id.
    pub id: Option<String>,
    /// The customer's name.
    pub name: Option<String>,
}

/// The fields of `SessionStarted`, defaults already resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub account_name: Option<String>,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_breadcrumb: Vec<Crumb>,
    pub endpoint_id: Option<String>,
    pub endpoint_name: Option<String>,
    pub channel: FlowChannels,
    pub direction: SessionDirections,
    pub destination: Option<String>,
    pub to_address: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub from_phone_number: Option<String>,
    pub callback_number: Option<String>,
    pub call_sid: Option<String>,
    pub display_name: Option<String>,
    pub dial_state: SessionDialState,
    pub call_state: SessionCallState,
    pub queue_state: SessionQueueStates,
}

/// The fields of `SessionDetailsChanged`: each present field overwrites.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DetailsChanged {
    pub display_name: FieldUpdate,
    pub console_data: FieldUpdate,
    pub destination: FieldUpdate,
    pub callback_number: FieldUpdate,
    pub to_address: FieldUpdate,
    pub from_address: FieldUpdate,
    pub from_name: FieldUpdate,
    pub outcome: FieldUpdate,
}

/// The fields of `MemberJoined`, defaults already resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    pub identity: String,
    pub endpoint_id: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub is_original_member: bool,
    pub application_data: BTreeMap<String, String>,
    pub call_state: SessionMemberCallState,
    pub role: SessionMemberRoles,
    pub call_sid: Option<String>,
    pub muted: bool,
}

/// The fields of `MemberUpdated`: present fields overwrite, map entries merge.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberUpdate {
    pub identity: String,
    pub display_name: FieldUpdate,
    pub avatar_url: FieldUpdate,
    pub role: Option<SessionMemberRoles>,
    pub application_data: BTreeMap<String, String>,
}

/// Every kind of event the fold knows, in domain terms.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    SessionStarted(Box<Started>),
    DialStateChanged(SessionDialState),
    CallStateChanged(SessionCallState),
    QueueStateChanged {
        queue_state: SessionQueueStates,
        ring_queue_id: FieldUpdate,
        queue_member_id: FieldUpdate,
    },
    SessionAnswered {
        answered_by_id: Option<String>,
        answered_by_name: Option<String>,
    },
    SessionHeld {
        held_by_user_id: Option<String>,
        hold_queue_name: Option<String>,
        reason: SessionHoldReasons,
    },
    SessionResumed,
    ConferenceStarted {
        conference_sid: Option<String>,
    },
    CustomerAssigned {
        customer_id: Option<String>,
        customer_name: Option<String>,
        customer_breadcrumb: Vec<Crumb>,
    },
    SessionDetailsChanged(Box<DetailsChanged>),
    LogAppended {
        message: Option<String>,
    },
    SessionEnded {
        outcome: Option<String>,
        was_missed: bool,
    },
    MemberJoined(Box<Joined>),
    MemberCallStateChanged {
        identity: String,
        call_state: SessionMemberCallState,
    },
    MemberMuteChanged {
        identity: String,
        muted: bool,
    },
    MemberUpdated(Box<MemberUpdate>),
    MemberLeft {
        identity: String,
    },
}

/// Every kind's name, in [`EventKind::index`] order.
pub const KIND_NAMES: [&str; 17] = [
    "SessionStarted",
    "DialStateChanged",
    "CallStateChanged",
    "QueueStateChanged",
    "SessionAnswered",
    "SessionHeld",
    "SessionResumed",
    "ConferenceStarted",
    "CustomerAssigned",
    "SessionDetailsChanged",
    "LogAppended",
    "SessionEnded",
    "MemberJoined",
    "MemberCallStateChanged",
    "MemberMuteChanged",
    "MemberUpdated",
    "MemberLeft",
];

impl EventKind {
    /// [`EventKind::index`] of `SessionStarted`.
    pub const STARTED_INDEX: usize = 0;

    /// The kind's name as in the schema (`SessionStarted`, `MemberLeft`, ...).
    pub fn name(&self) -> &'static str {
        KIND_NAMES[self.index()]
    }

    /// The kind's position in [`KIND_NAMES`], for counting by kind without a map.
    pub fn index(&self) -> usize {
        match self {
            Self::SessionStarted(_) => 0,
            Self::DialStateChanged(_) => 1,
            Self::CallStateChanged(_) => 2,
            Self::QueueStateChanged { .. } => 3,
            Self::SessionAnswered { .. } => 4,
            Self::SessionHeld { .. } => 5,
            Self::SessionResumed => 6,
            Self::ConferenceStarted { .. } => 7,
            Self::CustomerAssigned { .. } => 8,
            Self::SessionDetailsChanged(_) => 9,
            Self::LogAppended { .. } => 10,
            Self::SessionEnded { .. } => 11,
            Self::MemberJoined(_) => 12,
            Self::MemberCallStateChanged { .. } => 13,
            Self::MemberMuteChanged { .. } => 14,
            Self::MemberUpdated(_) => 15,
            Self::MemberLeft { .. } => 16,
        }
    }

    /// Whether this is a member kind (normally carried on the member topic).
    pub fn is_member_event(&self) -> bool {
        matches!(
            self,
            Self::MemberJoined(_)
                | Self::MemberCallStateChanged { .. }
                | Self::MemberMuteChanged { .. }
                | Self::MemberUpdated(_)
                | Self::MemberLeft { .. }
        )
    }
}
