//! Turns a decoded wire event into a domain [`Event`], or says exactly why it is bad.
//!
//! The rules are event-model.md's "Bad records" and "Strings": a missing session id or
//! timestamp, or an UNSPECIFIED enum where the schema gives it no meaning, makes a record
//! bad; an empty string means "absent" except in a present `optional` field, where it clears.

use std::sync::Arc;

use thiserror::Error;

use super::enums::{UnknownValue, WireEnum};
use super::wire::{self, session_event::Body};
use super::{Crumb, DetailsChanged, Event, EventKind, FieldUpdate, Joined, MemberUpdate, Started};
use crate::model::{
    FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionHoldReasons,
    SessionMemberCallState, SessionMemberRoles, SessionQueueStates,
};
use crate::time::EventTime;

/// Why a record cannot be applied. Each reason has a stable [`code`](BadRecord::code) for
/// counters and dead-letter headers, and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadRecord {
    /// The bytes or the line are not a `SessionEvent` at all.
    #[error("undecodable: {0}")]
    Undecodable(String),
    /// `session_id` is empty.
    #[error("missing session_id")]
    MissingSessionId,
    /// `occurred_at` is absent.
    #[error("missing occurred_at")]
    MissingTimestamp,
    /// `occurred_at` is outside what the service can represent (years 1677 to 2262).
    #[error("occurred_at out of range")]
    TimestampOutOfRange,
    /// The envelope carries no event kind at all.
    #[error("no event kind in the envelope")]
    MissingBody,
    /// `SessionStarted` without `account_id`.
    #[error("SessionStarted without account_id")]
    MissingAccountId,
    /// A member event without `identity`.
    #[error("{kind} without identity")]
    MissingIdentity {
        /// The event kind.
        kind: &'static str,
    },
    /// An enum is UNSPECIFIED where the schema gives that no meaning.
    #[error("{field} is UNSPECIFIED")]
    UnspecifiedEnum {
        /// The field, as `Kind.field`.
        field: &'static str,
    },
    /// An enum number that this schema does not define.
    #[error("{field} has unknown value {value}")]
    UnknownEnumValue {
        /// The field, as `Kind.field`.
        field: &'static str,
        /// The number received.
        value: i32,
    },
    /// The record's key is not the event's session id.
    #[error("record key {key:?} differs from session_id {session_id:?}")]
    KeyMismatch {
        /// The record key, lossily decoded.
        key: String,
        /// The envelope's session id.
        session_id: String,
    },
}

impl BadRecord {
    /// A short, stable label: the metric label and dead-letter header value.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Undecodable(_) => "undecodable",
            Self::MissingSessionId => "missing_session_id",
            Self::MissingTimestamp => "missing_timestamp",
            Self::TimestampOutOfRange => "timestamp_out_of_range",
            Self::MissingBody => "missing_body",
            Self::MissingAccountId => "missing_account_id",
            Self::MissingIdentity { .. } => "missing_identity",
            Self::UnspecifiedEnum { .. } => "unspecified_enum",
            Self::UnknownEnumValue { .. } => "unknown_enum_value",
            Self::KeyMismatch { .. } => "key_mismatch",
        }
    }
}

/// Checks a decoded envelope whose body is present and converts it to a domain event.
///
/// An envelope without a body is the caller's to classify (unknown kind or bad), since only
/// the raw record shows whether a newer producer put an unknown kind there.
pub fn validate(event: wire::SessionEvent) -> Result<Event, BadRecord> {
    if event.session_id.is_empty() {
        return Err(BadRecord::MissingSessionId);
    }
    let ts = event.occurred_at.ok_or(BadRecord::MissingTimestamp)?;
    let occurred_at =
        EventTime::from_parts(ts.seconds, ts.nanos).ok_or(BadRecord::TimestampOutOfRange)?;
    let body = event.body.ok_or(BadRecord::MissingBody)?;
    let account_id = present(event.account_id);
    if matches!(body, Body::SessionStarted(_)) && account_id.is_none() {
        return Err(BadRecord::MissingAccountId);
    }
    Ok(Event {
        event_id: present(event.event_id),
        session_id: Arc::from(event.session_id),
        occurred_at,
        account_id,
        actor_id: present(event.actor_id),
        kind: kind(body)?,
    })
}

fn kind(body: Body) -> Result<EventKind, BadRecord> {
    Ok(match body {
        Body::SessionStarted(s) => EventKind::SessionStarted(Box::new(Started {
            account_name: present(s.account_name),
            customer_id: present(s.customer_id),
            customer_name: present(s.customer_name),
            customer_breadcrumb: crumbs(s.customer_breadcrumb),
            endpoint_id: present(s.endpoint_id),
            endpoint_name: present(s.endpoint_name),
            channel: channel(s.channel, "SessionStarted.channel")?,
            direction: direction(s.direction, "SessionStarted.direction")?,
            destination: present(s.destination),
            to_address: present(s.to_address),
            from_address: present(s.from_address),
            from_name: present(s.from_name),
            from_phone_number: present(s.from_phone_number),
            callback_number: present(s.callback_number),
            call_sid: present(s.call_sid),
            display_name: present(s.display_name),
            dial_state: enum_value(s.dial_state, "SessionStarted.dial_state")?
                .unwrap_or(SessionDialState::Active),
            call_state: enum_value(s.call_state, "SessionStarted.call_state")?
                .unwrap_or(SessionCallState::Ringing),
            queue_state: enum_value(s.queue_state, "SessionStarted.queue_state")?
                .unwrap_or(SessionQueueStates::None),
        })),
        Body::DialStateChanged(e) => EventKind::DialStateChanged(required(
            enum_value(e.dial_state, "DialStateChanged.dial_state")?,
            "DialStateChanged.dial_state",
        )?),
        Body::CallStateChanged(e) => EventKind::CallStateChanged(required(
            enum_value(e.call_state, "CallStateChanged.call_state")?,
            "CallStateChanged.call_state",
        )?),
        Body::QueueStateChanged(e) => EventKind::QueueStateChanged {
            queue_state: required(
                enum_value(e.queue_state, "QueueStateChanged.queue_state")?,
                "QueueStateChanged.queue_state",
            )?,
            ring_queue_id: update(e.ring_queue_id),
            queue_member_id: update(e.queue_member_id),
        },
        Body::SessionAnswered(e) => EventKind::SessionAnswered {
            answered_by_id: present(e.answered_by_id),
            answered_by_name: present(e.answered_by_name),
        },
        Body::SessionHeld(e) => EventKind::SessionHeld {
            held_by_user_id: present(e.held_by_user_id),
            hold_queue_name: present(e.hold_queue_name),
            reason: enum_value(e.reason, "SessionHeld.reason")?.unwrap_or(SessionHoldReasons::None),
        },
        Body::SessionResumed(_) => EventKind::SessionResumed,
        Body::ConferenceStarted(e) => EventKind::ConferenceStarted {
            conference_sid: present(e.conference_sid),
        },
        Body::CustomerAssigned(e) => EventKind::CustomerAssigned {
            customer_id: present(e.customer_id),
            customer_name: present(e.customer_name),
            customer_breadcrumb: crumbs(e.customer_breadcrumb),
        },
        Body::SessionDetailsChanged(e) => {
            EventKind::SessionDetailsChanged(Box::new(DetailsChanged {
                display_name: update(e.display_name),
                console_data: update(e.console_data),
                destination: update(e.destination),
                callback_number: update(e.callback_number),
                to_address: update(e.to_address),
                from_address: update(e.from_address),
                from_name: update(e.from_name),
                outcome: update(e.outcome),
            }))
        }
        Body::LogAppended(e) => EventKind::LogAppended {
            message: present(e.message),
        },
        Body::SessionEnded(e) => EventKind::SessionEnded {
            outcome: present(e.outcome),
            was_missed: e.was_missed,
        },
        Body::MemberJoined(e) => EventKind::MemberJoined(Box::new(Joined {
            identity: identity(e.identity, "MemberJoined")?,
            endpoint_id: present(e.endpoint_id),
            display_name: present(e.display_name),
            avatar_url: present(e.avatar_url),
            is_original_member: e.is_original_member,
            application_data: e.application_data,
            call_state: enum_value(e.call_state, "MemberJoined.call_state")?
                .unwrap_or(SessionMemberCallState::None),
            role: enum_value(e.role, "MemberJoined.role")?.unwrap_or(SessionMemberRoles::None),
            call_sid: present(e.call_sid),
            muted: e.muted,
        })),
        Body::MemberCallStateChanged(e) => EventKind::MemberCallStateChanged {
            identity: identity(e.identity, "MemberCallStateChanged")?,
            call_state: required(
                enum_value(e.call_state, "MemberCallStateChanged.call_state")?,
                "MemberCallStateChanged.call_state",
            )?,
        },
        Body::MemberMuteChanged(e) => EventKind::MemberMuteChanged {
            identity: identity(e.identity, "MemberMuteChanged")?,
            muted: e.muted,
        },
        Body::MemberUpdated(e) => EventKind::MemberUpdated(Box::new(MemberUpdate {
            identity: identity(e.identity, "MemberUpdated")?,
            display_name: update(e.display_name),
            avatar_url: update(e.avatar_url),
            role: enum_value(e.role, "MemberUpdated.role")?,
            application_data: e.application_data,
        })),
        Body::MemberLeft(e) => EventKind::MemberLeft {
            identity: identity(e.identity, "MemberLeft")?,
        },
    })
}

/// An empty string in an event means "absent".
fn present(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// A present `optional` field overwrites; a present "" clears.
fn update(s: Option<String>) -> FieldUpdate {
    s.map(present)
}

fn identity(s: String, kind: &'static str) -> Result<String, BadRecord> {
    present(s).ok_or(BadRecord::MissingIdentity { kind })
}

fn crumbs(list: Vec<wire::CustomerCrumb>) -> Vec<Crumb> {
    list.into_iter()
        .map(|c| Crumb {
            id: present(c.id),
            name: present(c.name),
        })
        .collect()
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, BadRecord> {
    value.ok_or(BadRecord::UnspecifiedEnum { field })
}

/// Maps a wire enum number to a domain value: `Ok(None)` for UNSPECIFIED (the caller
/// decides what that means), an error for a number the schema does not define.
fn enum_value<T: WireEnum>(value: i32, field: &'static str) -> Result<Option<T>, BadRecord> {
    T::from_wire(value).map_err(|UnknownValue(value)| BadRecord::UnknownEnumValue { field, value })
}

fn channel(value: i32, field: &'static str) -> Result<FlowChannels, BadRecord> {
    required(enum_value(value, field)?, field)
}

fn direction(value: i32, field: &'static str) -> Result<SessionDirections, BadRecord> {
    required(enum_value(value, field)?, field)
}
