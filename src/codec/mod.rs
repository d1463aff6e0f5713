//! Codecs from the domain back to the wire: a projection [`Session`](crate::projection::Session)
//! to and from its `SessionInfo` record (the change feed's value and a snapshot's record),
//! and a validated [`Event`](crate::events::Event) to the `SessionEvent` it came from.
//!
//! Both are exact: `session_from_wire(session_to_wire(&s)) == Ok(s)`, and
//! `validate(event_to_wire(&e)) == Ok(e)` for every event that validation can produce.

mod event;
mod session;

pub use event::event_to_wire;
pub use session::{session_from_wire, session_to_wire};

use pbjson_types::Timestamp;
use thiserror::Error;

use crate::events::Crumb;
use crate::events::enums::{UnknownValue, WireEnum};
use crate::events::wire;
use crate::time::EventTime;

/// Why a `SessionInfo` record does not make a session. Every reason names the field, as
/// its proto name with list positions (`id`, `members[2].role`, `log[0].date`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// A field every session has is absent.
    #[error("{field} is missing")]
    Missing {
        /// The field.
        field: String,
    },
    /// An enum is UNSPECIFIED: every session has a definite value, so the writer was broken.
    #[error("{field} is UNSPECIFIED")]
    UnspecifiedEnum {
        /// The field.
        field: String,
    },
    /// An enum number that this schema does not define.
    #[error("{field} has unknown value {value}")]
    UnknownEnumValue {
        /// The field.
        field: String,
        /// The number received.
        value: i32,
    },
    /// A timestamp outside what the service can represent (years 1677 to 2262), or with
    /// nanoseconds outside `0..1e9`.
    #[error("{field} is out of range")]
    TimestampOutOfRange {
        /// The field.
        field: String,
    },
    /// The record is of an ended session (`ended` or `date_completed` set): the projection
    /// holds only active sessions, so it would lose those fields.
    #[error("{field} is set: the session has ended")]
    Ended {
        /// The field that says so.
        field: String,
    },
}

impl CodecError {
    /// The field the error is about.
    pub fn field(&self) -> &str {
        match self {
            Self::Missing { field }
            | Self::UnspecifiedEnum { field }
            | Self::UnknownEnumValue { field, .. }
            | Self::TimestampOutOfRange { field }
            | Self::Ended { field } => field,
        }
    }

    /// Puts the field under an element of a list: `role` becomes `members[2].role`.
    fn within(mut self, list: &str, index: usize) -> Self {
        let (Self::Missing { field }
        | Self::UnspecifiedEnum { field }
        | Self::UnknownEnumValue { field, .. }
        | Self::TimestampOutOfRange { field }
        | Self::Ended { field }) = &mut self;
        *field = format!("{list}[{index}].{field}");
        self
    }
}

/// The protobuf timestamp of an instant.
fn timestamp(t: EventTime) -> Timestamp {
    let (seconds, nanos) = t.to_parts();
    Timestamp { seconds, nanos }
}

/// The instant of a required timestamp field.
///
/// Computed in i128 so that every `EventTime` comes back, down to `i64::MIN` nanoseconds
/// (whose whole seconds alone do not fit in i64 nanoseconds).
fn instant(ts: Option<Timestamp>, field: &'static str) -> Result<EventTime, CodecError> {
    let ts = ts.ok_or_else(|| CodecError::Missing {
        field: field.to_owned(),
    })?;
    let out_of_range = || CodecError::TimestampOutOfRange {
        field: field.to_owned(),
    };
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(out_of_range());
    }
    let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    i64::try_from(nanos)
        .map(EventTime)
        .map_err(|_| out_of_range())
}

/// The domain value of a required enum field.
fn enum_value<T: WireEnum>(value: i32, field: &'static str) -> Result<T, CodecError> {
    match T::from_wire(value) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(CodecError::UnspecifiedEnum {
            field: field.to_owned(),
        }),
        Err(UnknownValue(value)) => Err(CodecError::UnknownEnumValue {
            field: field.to_owned(),
            value,
        }),
    }
}

/// A breadcrumb on the wire. `CustomerCrumb`'s fields are plain strings, so an absent id
/// or name is written as "" (as producers write it in events).
fn crumbs_to_wire(crumbs: &[Crumb]) -> Vec<wire::CustomerCrumb> {
    crumbs
        .iter()
        .map(|c| wire::CustomerCrumb {
            id: c.id.clone().unwrap_or_default(),
            name: c.name.clone().unwrap_or_default(),
        })
        .collect()
}
