//! Classifies a raw record (protobuf bytes from Kafka, or one event-log line) as an event,
//! an unknown kind from a newer producer, or a bad record.

use prost::Message;
use prost::bytes::Buf;
use prost::encoding::{DecodeContext, decode_key, skip_field};

use super::validate::{BadRecord, validate};
use super::{Event, wire};

/// What one record turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A valid event, ready for the fold.
    Event(Event),
    /// A well-formed envelope whose kind this schema does not know: counted and skipped.
    UnknownKind,
    /// A record that can never be applied: counted, logged and dead-lettered.
    Bad(BadRecord),
}

impl From<Result<Event, BadRecord>> for Decoded {
    fn from(r: Result<Event, BadRecord>) -> Self {
        match r {
            Ok(e) => Self::Event(e),
            Err(b) => Self::Bad(b),
        }
    }
}

/// Envelope fields outside the `body` oneof (numbers 1 to 5 in the pinned schema).
const ENVELOPE_FIELDS: std::ops::RangeInclusive<u32> = 1..=5;

/// Decodes a Kafka record: protobuf `SessionEvent` bytes whose key must be the session id.
pub fn decode_record(value: &[u8], key: Option<&[u8]>) -> Decoded {
    let event = match wire::SessionEvent::decode(value) {
        Ok(e) => e,
        Err(e) => return Decoded::Bad(BadRecord::Undecodable(e.to_string())),
    };
    if event.body.is_none() && has_unknown_top_level_field(value) {
        return Decoded::UnknownKind;
    }
    let session_id = event.session_id.clone();
    let decoded = Decoded::from(validate(event));
    if matches!(decoded, Decoded::Event(_)) && key != Some(session_id.as_bytes()) {
        return Decoded::Bad(BadRecord::KeyMismatch {
            key: key.map_or_else(
                || "<none>".to_owned(),
                |k| String::from_utf8_lossy(k).into_owned(),
            ),
            session_id,
        });
    }
    decoded
}

/// True when the message has a top-level field that is neither an envelope field nor a
/// known kind: prost drops such fields, so this looks at the bytes themselves.
fn has_unknown_top_level_field(mut buf: &[u8]) -> bool {
    let ctx = DecodeContext::default();
    while buf.has_remaining() {
        let Ok((tag, wire_type)) = decode_key(&mut buf) else {
            return false;
        };
        if !ENVELOPE_FIELDS.contains(&tag) {
            return true;
        }
        if skip_field(wire_type, tag, &mut buf, ctx.clone()).is_err() {
            return false;
        }
    }
    false
}

/// Decodes one event-log line: the proto3 JSON form of a `SessionEvent`.
pub fn decode_json(line: &str) -> Decoded {
    let event: wire::SessionEvent = match serde_json::from_str(line) {
        Ok(e) => e,
        Err(e) => return Decoded::Bad(BadRecord::Undecodable(e.to_string())),
    };
    if event.body.is_none() && has_unknown_json_key(line) {
        return Decoded::UnknownKind;
    }
    validate(event).into()
}

/// True when the JSON object has a key that is not an envelope field: with no known kind
/// present, that key is a kind from a newer producer.
fn has_unknown_json_key(line: &str) -> bool {
    const ENVELOPE: [&str; 10] = [
        "eventId",
        "event_id",
        "sessionId",
        "session_id",
        "occurredAt",
        "occurred_at",
        "accountId",
        "account_id",
        "actorId",
        "actor_id",
    ];
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
        .map(|m| m.keys().any(|k| !ENVELOPE.contains(&k.as_str())))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started_json(extra: &str) -> String {
        format!(
            r#"{{"eventId":"e1","sessionId":"S-1","occurredAt":"2026-11-24T09:00:00Z","accountId":"A-1"{extra}}}"#
        )
    }

    #[test]
    fn reads_the_documented_example_line() {
        let line = r#"{"eventId":"01JD","sessionId":"S-1","occurredAt":"2026-11-24T09:00:00Z","accountId":"A-1","actorId":"U-7","sessionStarted":{"accountName":"Acme","endpointId":"U-7","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","fromAddress":"+15550100"}}"#;
        let Decoded::Event(e) = decode_json(line) else {
            panic!("not an event: {:?}", decode_json(line));
        };
        assert_eq!(&*e.session_id, "S-1");
        assert_eq!(e.kind.name(), "SessionStarted");
        assert_eq!(e.actor_id.as_deref(), Some("U-7"));
    }

    #[test]
    fn unknown_kind_is_its_own_outcome_in_json() {
        let line = started_json(r#","sessionTeleported":{"to":"Mars"}"#);
        assert_eq!(decode_json(&line), Decoded::UnknownKind);
        assert_eq!(
            decode_json(&started_json("")),
            Decoded::Bad(BadRecord::MissingBody)
        );
    }

    #[test]
    fn unknown_kind_is_its_own_outcome_in_protobuf() {
        let mut bytes = wire::SessionEvent {
            session_id: "S-1".into(),
            ..Default::default()
        }
        .encode_to_vec();
        // Field 60, length-delimited, empty: a kind this schema does not define.
        bytes.extend_from_slice(&[0xE2, 0x03, 0x00]);
        assert_eq!(decode_record(&bytes, Some(b"S-1")), Decoded::UnknownKind);
    }

    #[test]
    fn bad_records_say_why() {
        let cases = [
            ("not json", "undecodable"),
            (
                r#"{"sessionId":"S","occurredAt":"2026-11-24T09:00:00Z","sessionResumed":{}}"#,
                "",
            ),
            (
                r#"{"occurredAt":"2026-11-24T09:00:00Z","sessionResumed":{}}"#,
                "missing_session_id",
            ),
            (
                r#"{"sessionId":"S","sessionResumed":{}}"#,
                "missing_timestamp",
            ),
            (
                r#"{"sessionId":"S","occurredAt":"2026-11-24T09:00:00Z","sessionStarted":{"channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING"}}"#,
                "missing_account_id",
            ),
            (
                r#"{"sessionId":"S","accountId":"A","occurredAt":"2026-11-24T09:00:00Z","sessionStarted":{"direction":"DIRECTION_INCOMING"}}"#,
                "unspecified_enum",
            ),
            (
                r#"{"sessionId":"S","occurredAt":"2026-11-24T09:00:00Z","callStateChanged":{}}"#,
                "unspecified_enum",
            ),
            (
                r#"{"sessionId":"S","occurredAt":"2026-11-24T09:00:00Z","callStateChanged":{"callState":"CALL_STATE_SINGING"}}"#,
                "undecodable",
            ),
            (
                r#"{"sessionId":"S","occurredAt":"2026-11-24T09:00:00Z","memberLeft":{}}"#,
                "missing_identity",
            ),
        ];
        for (line, code) in cases {
            match decode_json(line) {
                Decoded::Bad(b) => assert_eq!(b.code(), code, "{line}"),
                Decoded::Event(_) => assert_eq!(code, "", "{line} was accepted"),
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    #[test]
    fn unspecified_means_default_where_the_schema_allows_it() {
        let line = r#"{"sessionId":"S","accountId":"A","occurredAt":"2026-11-24T09:00:00Z","sessionStarted":{"channel":"CHANNEL_CHAT","direction":"DIRECTION_OUTGOING"}}"#;
        let Decoded::Event(e) = decode_json(line) else {
            panic!()
        };
        let crate::events::EventKind::SessionStarted(s) = e.kind else {
            panic!()
        };
        assert_eq!(s.dial_state, crate::model::SessionDialState::Active);
        assert_eq!(s.call_state, crate::model::SessionCallState::Ringing);
        assert_eq!(s.queue_state, crate::model::SessionQueueStates::None);
    }

    #[test]
    fn protobuf_key_must_equal_session_id() {
        let bytes = wire::SessionEvent {
            session_id: "S-1".into(),
            occurred_at: Some(pbjson_types::Timestamp {
                seconds: 1,
                nanos: 0,
            }),
            body: Some(wire::session_event::Body::SessionResumed(
                wire::SessionResumed {},
            )),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(matches!(
            decode_record(&bytes, Some(b"S-1")),
            Decoded::Event(_)
        ));
        assert!(matches!(
            decode_record(&bytes, Some(b"S-2")),
            Decoded::Bad(BadRecord::KeyMismatch { .. })
        ));
        assert!(matches!(
            decode_record(&bytes, None),
            Decoded::Bad(BadRecord::KeyMismatch { .. })
        ));
        assert!(matches!(
            decode_record(b"\xff\xff\xff", Some(b"S-1")),
            Decoded::Bad(BadRecord::Undecodable(_))
        ));
    }
}
