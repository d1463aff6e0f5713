//! Event time: instants as nanoseconds since the Unix epoch, and their wire formats.

use std::fmt;

/// An instant on the platform's clock, in nanoseconds since 1970-01-01T00:00:00Z.
///
/// The fold only ever compares and subtracts these; it never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(pub i64);

impl EventTime {
    /// Builds an instant from a protobuf timestamp, or `None` when it does not fit.
    pub fn from_parts(seconds: i64, nanos: i32) -> Option<Self> {
        if !(0..1_000_000_000).contains(&nanos) {
            return None;
        }
        seconds
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(i64::from(nanos)))
            .map(Self)
    }

    /// The (seconds, nanos) pair of a protobuf timestamp.
    pub fn to_parts(self) -> (i64, i32) {
        let seconds = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as i32;
        (seconds, nanos)
    }

    /// Adds a duration, saturating at the end of time.
    pub fn saturating_add(self, d: std::time::Duration) -> Self {
        let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(nanos))
    }

    /// Parses an RFC 3339 instant such as `2026-11-24T09:15:02.125Z`.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos()).ok().map(Self)
    }

    /// The API's date format: UTC RFC 3339 with milliseconds, e.g. `2026-11-24T09:15:02.125Z`.
    pub fn to_api_string(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0)) {
            Ok(t) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.millisecond()
            ),
            // Unreachable for i64 nanoseconds (1677..2262), kept total for safety.
            Err(_) => write!(f, "{}ns", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc() {
        let t = EventTime::parse_rfc3339("2026-11-24T10:15:02.125987+01:00").unwrap();
        assert_eq!(t.to_api_string(), "2026-11-24T09:15:02.125Z");
        let t = EventTime::parse_rfc3339("2026-11-24T09:00:00Z").unwrap();
        assert_eq!(t.to_api_string(), "2026-11-24T09:00:00.000Z");
    }

    #[test]
    fn rejects_out_of_range_parts() {
        assert_eq!(EventTime::from_parts(0, -1), None);
        assert_eq!(EventTime::from_parts(0, 1_000_000_000), None);
        assert_eq!(EventTime::from_parts(i64::MAX / 2, 0), None);
        let t = EventTime::from_parts(-5, 250).unwrap();
        assert_eq!(t.to_parts(), (-5, 250));
    }
}
