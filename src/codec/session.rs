//! A projection [`Session`] to and from `SessionInfo`, the record of the change feed and
//! of snapshot files.
//!
//! Every field of `Session` has its own field in the record, strings keep null apart from
//! "" (`optional string`) and dates keep their nanoseconds, so the round trip is exact.
//! The one thing the schema cannot hold is a breadcrumb id or name that is `Some("")`:
//! `CustomerCrumb` is shared with the events, whose plain strings read "" as absent, so
//! no session built from events has one.

use std::sync::Arc;

use super::{CodecError, crumbs_to_wire, enum_value, instant, timestamp};
use crate::events::enums::WireEnum;
use crate::events::{Crumb, wire};
use crate::projection::{LogEntry, Member, Session};

/// The `SessionInfo` record of an active session (`ended` false, no `date_completed`).
pub fn session_to_wire(s: &Session) -> wire::SessionInfo {
    // Every field named, so a new one cannot be left out unnoticed.
    let Session {
        id,
        created_at,
        created_by,
        last_modified_at,
        last_modified_by,
        account_id,
        account_name,
        dial_state,
        call_state,
        queue_state,
        customer_id,
        customer_name,
        customer_breadcrumb,
        endpoint_id,
        endpoint_name,
        channel,
        direction,
        destination,
        to_address,
        from_address,
        from_name,
        from_phone_number,
        callback_number,
        call_sid,
        display_name,
        console_data,
        outcome,
        answered_by_id,
        answered_by_name,
        queue_member_id,
        ring_queue_id,
        held_by_user_id,
        hold_queue_name,
        hold_reason,
        conference_sid,
        most_recent_participant_call_sid,
        was_missed,
        log,
        members,
        rendered: _,
    } = s;
    wire::SessionInfo {
        id: Some(id.to_string()),
        date_created: Some(timestamp(*created_at)),
        date_last_modified: Some(timestamp(*last_modified_at)),
        created_by: created_by.clone(),
        last_modified_by: last_modified_by.clone(),
        dial_state: dial_state.to_wire(),
        call_state: call_state.to_wire(),
        queue_state: queue_state.to_wire(),
        account_id: account_id.clone(),
        account_name: account_name.clone(),
        customer_id: customer_id.clone(),
        customer_breadcrumb: crumbs_to_wire(customer_breadcrumb),
        customer_name: customer_name.clone(),
        endpoint_id: endpoint_id.clone(),
        endpoint_name: endpoint_name.clone(),
        date_completed: None,
        destination: destination.clone(),
        to_address: to_address.clone(),
        from_address: from_address.clone(),
        from_name: from_name.clone(),
        answered_by_name: answered_by_name.clone(),
        queue_member_id: queue_member_id.clone(),
        channel: channel.to_wire(),
        ended: false,
        outcome: outcome.clone(),
        call_sid: call_sid.clone(),
        console_data: console_data.clone(),
        hold_queue_name: hold_queue_name.clone(),
        held_by_user_id: held_by_user_id.clone(),
        hold_reason: hold_reason.to_wire(),
        conference_sid: conference_sid.clone(),
        display_name: display_name.clone(),
        log: log.iter().map(log_to_wire).collect(),
        members: members.iter().map(member_to_wire).collect(),
        callback_number: callback_number.clone(),
        answered_by_id: answered_by_id.clone(),
        direction: direction.to_wire(),
        from_phone_number: from_phone_number.clone(),
        most_recent_participant_call_sid: most_recent_participant_call_sid.clone(),
        was_missed: *was_missed,
        ring_queue_id: ring_queue_id.clone(),
    }
}

/// The session a `SessionInfo` record describes, or the first field that makes it unusable:
/// no `id` or dates, an UNSPECIFIED or unknown enum, or the record of an ended session.
pub fn session_from_wire(w: wire::SessionInfo) -> Result<Session, CodecError> {
    // A Session has no room for these; accepting them would silently drop them.
    if w.ended {
        return Err(CodecError::Ended {
            field: "ended".to_owned(),
        });
    }
    if w.date_completed.is_some() {
        return Err(CodecError::Ended {
            field: "date_completed".to_owned(),
        });
    }
    Ok(Session {
        id: Arc::from(w.id.ok_or_else(|| CodecError::Missing {
            field: "id".to_owned(),
        })?),
        created_at: instant(w.date_created, "date_created")?,
        created_by: w.created_by,
        last_modified_at: instant(w.date_last_modified, "date_last_modified")?,
        last_modified_by: w.last_modified_by,
        account_id: w.account_id,
        account_name: w.account_name,
        dial_state: enum_value(w.dial_state, "dial_state")?,
        call_state: enum_value(w.call_state, "call_state")?,
        queue_state: enum_value(w.queue_state, "queue_state")?,
        customer_id: w.customer_id,
        customer_name: w.customer_name,
        customer_breadcrumb: w.customer_breadcrumb.into_iter().map(crumb).collect(),
        endpoint_id: w.endpoint_id,
        endpoint_name: w.endpoint_name,
        channel: enum_value(w.channel, "channel")?,
        direction: enum_value(w.direction, "direction")?,
        destination: w.destination,
        to_address: w.to_address,
        from_address: w.from_address,
        from_name: w.from_name,
        from_phone_number: w.from_phone_number,
        callback_number: w.callback_number,
        call_sid: w.call_sid,
        display_name: w.display_name,
        console_data: w.console_data,
        outcome: w.outcome,
        answered_by_id: w.answered_by_id,
        answered_by_name: w.answered_by_name,
        queue_member_id: w.queue_member_id,
        ring_queue_id: w.ring_queue_id,
        held_by_user_id: w.held_by_user_id,
        hold_queue_name: w.hold_queue_name,
        hold_reason: enum_value(w.hold_reason, "hold_reason")?,
        conference_sid: w.conference_sid,
        most_recent_participant_call_sid: w.most_recent_participant_call_sid,
        was_missed: w.was_missed,
        log: collect(w.log, "log", log_from_wire)?,
        members: collect(w.members, "members", member_from_wire)?,
        rendered: crate::projection::Renderings::default(),
    })
}

fn log_to_wire(e: &LogEntry) -> wire::SessionLogInfo {
    wire::SessionLogInfo {
        date: Some(timestamp(e.date)),
        message: e.message.clone(),
    }
}

fn log_from_wire(w: wire::SessionLogInfo) -> Result<LogEntry, CodecError> {
    Ok(LogEntry {
        date: instant(w.date, "date")?,
        message: w.message,
    })
}

fn member_to_wire(m: &Member) -> wire::SessionMemberInfo {
    // Every field named, so a new one cannot be left out unnoticed.
    let Member {
        identity,
        endpoint_id,
        display_name,
        avatar_url,
        is_original_member,
        application_data,
        call_state,
        role,
        call_sid,
        muted,
    } = m;
    wire::SessionMemberInfo {
        identity: Some(identity.clone()),
        endpoint_id: endpoint_id.clone(),
        display_name: display_name.clone(),
        is_original_member: *is_original_member,
        avatar_url: avatar_url.clone(),
        application_data: application_data.clone(),
        call_state: call_state.to_wire(),
        role: role.to_wire(),
        call_sid: call_sid.clone(),
        muted: *muted,
    }
}

fn member_from_wire(w: wire::SessionMemberInfo) -> Result<Member, CodecError> {
    Ok(Member {
        identity: w.identity.ok_or_else(|| CodecError::Missing {
            field: "identity".to_owned(),
        })?,
        endpoint_id: w.endpoint_id,
        display_name: w.display_name,
        avatar_url: w.avatar_url,
        is_original_member: w.is_original_member,
        application_data: w.application_data,
        call_state: enum_value(w.call_state, "call_state")?,
        role: enum_value(w.role, "role")?,
        call_sid: w.call_sid,
        muted: w.muted,
    })
}

/// "" is absent, as validation reads a crumb in an event.
fn crumb(w: wire::CustomerCrumb) -> Crumb {
    let present = |s: String| (!s.is_empty()).then_some(s);
    Crumb {
        id: present(w.id),
        name: present(w.name),
    }
}

/// Decodes each element of a list, naming the element in an error.
fn collect<W, T>(
    list: Vec<W>,
    name: &str,
    decode: impl Fn(W) -> Result<T, CodecError>,
) -> Result<Vec<T>, CodecError> {
    list.into_iter()
        .enumerate()
        .map(|(i, w)| decode(w).map_err(|e| e.within(name, i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::events::wire;
    use crate::simulate::fixtures;
    use crate::time::EventTime;

    /// Checks the round trip directly, through protobuf bytes, and through proto3 JSON
    /// (the change feed may be read as either).
    fn assert_round_trips(s: &Session) {
        let w = session_to_wire(s);
        assert!(!w.ended && w.date_completed.is_none());
        assert_eq!(session_from_wire(w.clone()).as_ref(), Ok(s), "direct");
        let bytes = w.encode_to_vec();
        let decoded = wire::SessionInfo::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded, w);
        assert_eq!(session_from_wire(decoded).as_ref(), Ok(s), "bytes");
        let json = serde_json::to_string(&w).expect("serializes");
        let parsed: wire::SessionInfo = serde_json::from_str(&json).expect("parses");
        assert_eq!(session_from_wire(parsed).as_ref(), Ok(s), "json: {json}");
    }

    #[test]
    fn every_session_of_the_demo_round_trips() {
        let sessions = fixtures::fold(fixtures::demo_events()).all();
        assert!(sessions.len() >= 5, "only {} sessions", sessions.len());
        for s in sessions {
            assert_round_trips(&s);
        }
    }

    #[test]
    fn every_session_of_a_simulator_run_round_trips() {
        let mut checked = 0;
        let mut with_members = 0;
        for seed in [1, 7, 42] {
            let projection = fixtures::fold_with(fixtures::sim_events(seed, 7_000), |i, p| {
                // Mid-run snapshots catch sessions on hold, queued, ringing, ...
                if i % 500 == 0 {
                    for s in p.all() {
                        assert_round_trips(&s);
                        checked += 1;
                        with_members += usize::from(!s.members.is_empty());
                    }
                }
            });
            for s in projection.all() {
                assert_round_trips(&s);
                checked += 1;
            }
        }
        assert!(checked > 500, "only {checked} sessions checked");
        assert!(with_members > 100, "only {with_members} with members");
    }

    /// Values no fold makes but a Session can hold: "" apart from null, the ends of time.
    #[test]
    fn edge_values_round_trip() {
        let base = fixtures::fold(fixtures::demo_events())
            .all()
            .into_iter()
            .find(|s| !s.members.is_empty() && !s.log.is_empty())
            .expect("a demo session with members and a log");
        let mut s = (*base).clone();
        s.id = Arc::from("");
        s.created_at = EventTime(i64::MIN);
        s.last_modified_at = EventTime(i64::MAX);
        s.created_by = Some(String::new());
        s.last_modified_by = None;
        s.console_data = Some(String::new());
        s.outcome = None;
        s.customer_breadcrumb = vec![Crumb {
            id: None,
            name: Some("n".into()),
        }];
        s.log[0].date = EventTime(-1);
        s.log[0].message = Some(String::new());
        s.members[0].identity = String::new();
        s.members[0].display_name = Some(String::new());
        s.members[0]
            .application_data
            .insert(String::new(), String::new());
        assert_round_trips(&s);
    }

    fn valid() -> wire::SessionInfo {
        let s = fixtures::fold(fixtures::demo_events())
            .all()
            .into_iter()
            .find(|s| s.members.len() >= 2 && !s.log.is_empty())
            .expect("a demo session with two members and a log");
        session_to_wire(&s)
    }

    fn rejects(w: wire::SessionInfo, error: CodecError) {
        let field = error.field().to_owned();
        let got = session_from_wire(w).expect_err("accepted");
        assert_eq!(got, error);
        assert!(got.to_string().contains(&field), "{got}");
    }

    #[test]
    fn broken_records_are_rejected_naming_the_field() {
        let missing = |f: &str| CodecError::Missing { field: f.into() };
        rejects(
            wire::SessionInfo {
                id: None,
                ..valid()
            },
            missing("id"),
        );
        rejects(
            wire::SessionInfo {
                date_created: None,
                ..valid()
            },
            missing("date_created"),
        );
        rejects(
            wire::SessionInfo {
                channel: 99,
                ..valid()
            },
            CodecError::UnknownEnumValue {
                field: "channel".into(),
                value: 99,
            },
        );
        rejects(
            wire::SessionInfo {
                call_state: wire::CallState::Unspecified as i32,
                ..valid()
            },
            CodecError::UnspecifiedEnum {
                field: "call_state".into(),
            },
        );
        rejects(
            wire::SessionInfo {
                date_last_modified: Some(pbjson_types::Timestamp {
                    seconds: 0,
                    nanos: -1,
                }),
                ..valid()
            },
            CodecError::TimestampOutOfRange {
                field: "date_last_modified".into(),
            },
        );
        rejects(
            wire::SessionInfo {
                ended: true,
                ..valid()
            },
            CodecError::Ended {
                field: "ended".into(),
            },
        );
        rejects(
            wire::SessionInfo {
                date_completed: Some(pbjson_types::Timestamp::default()),
                ..valid()
            },
            CodecError::Ended {
                field: "date_completed".into(),
            },
        );
    }

    #[test]
    fn broken_list_elements_are_named_by_position() {
        let mut w = valid();
        w.members[1].role = -3;
        rejects(
            w,
            CodecError::UnknownEnumValue {
                field: "members[1].role".into(),
                value: -3,
            },
        );
        let mut w = valid();
        w.members[0].identity = None;
        rejects(
            w,
            CodecError::Missing {
                field: "members[0].identity".into(),
            },
        );
        let mut w = valid();
        w.log[0].date = Some(pbjson_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        });
        rejects(
            w,
            CodecError::TimestampOutOfRange {
                field: "log[0].date".into(),
            },
        );
    }

    /// Every field set (every string, list and map non-empty, every bool true), so that
    /// proto3 JSON, which leaves out defaults, writes every field.
    fn filled() -> Session {
        let mut s = (*fixtures::fold(fixtures::demo_events()).all()[0]).clone();
        for f in [
            &mut s.created_by,
            &mut s.last_modified_by,
            &mut s.account_id,
            &mut s.account_name,
            &mut s.customer_id,
            &mut s.customer_name,
            &mut s.endpoint_id,
            &mut s.endpoint_name,
            &mut s.destination,
            &mut s.to_address,
            &mut s.from_address,
            &mut s.from_name,
            &mut s.from_phone_number,
            &mut s.callback_number,
            &mut s.call_sid,
            &mut s.display_name,
            &mut s.console_data,
            &mut s.outcome,
            &mut s.answered_by_id,
            &mut s.answered_by_name,
            &mut s.queue_member_id,
            &mut s.ring_queue_id,
            &mut s.held_by_user_id,
            &mut s.hold_queue_name,
            &mut s.conference_sid,
            &mut s.most_recent_participant_call_sid,
        ] {
            *f = Some("x".into());
        }
        s.was_missed = true;
        s.customer_breadcrumb = vec![Crumb {
            id: Some("c".into()),
            name: Some("n".into()),
        }];
        s.log = vec![LogEntry {
            date: s.created_at,
            message: Some("m".into()),
        }];
        s.members = vec![Member {
            identity: "i".into(),
            endpoint_id: Some("e".into()),
            display_name: Some("d".into()),
            avatar_url: Some("a".into()),
            is_original_member: true,
            application_data: [("k".to_owned(), "v".to_owned())].into(),
            call_state: crate::model::SessionMemberCallState::Connected,
            role: crate::model::SessionMemberRoles::Agent,
            call_sid: Some("c".into()),
            muted: true,
        }];
        s
    }

    /// The keys of a value's JSON object, in the order they are written.
    fn keys(value: &impl serde::Serialize) -> Vec<String> {
        struct Keys(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl<'de> serde::de::Visitor<'de> for Visitor {
                    type Value = Keys;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Keys, A::Error> {
                        let mut keys = Vec::new();
                        while let Some((k, serde::de::IgnoredAny)) = map.next_entry()? {
                            keys.push(k);
                        }
                        Ok(Keys(keys))
                    }
                }
                d.deserialize_map(Visitor)
            }
        }
        let json = serde_json::to_string(value).unwrap();
        serde_json::from_str::<Keys>(&json).unwrap().0
    }

    /// The record's proto3 JSON names the fields as the API does, in the page's order
    /// (which the API's DTOs follow), so the schema mirrors the published SessionInfo.
    #[test]
    fn json_names_and_order_are_the_pages() {
        let s = filled();
        assert_round_trips(&s);
        let mut w = session_to_wire(&s);
        // What only an ended session has, so that the lists compare in full.
        w.ended = true;
        w.date_completed = w.date_created;
        let mut dto = crate::contract::dto::SessionInfo::from(&s);
        dto.ended = true;
        dto.date_completed = dto.date_created.clone();

        assert_eq!(keys(&w).len(), 41);
        assert_eq!(keys(&w), keys(&dto));
        assert_eq!(keys(&w.members[0]), keys(&dto.members[0]));
        assert_eq!(keys(&w.log[0]), keys(&dto.log[0]));
        assert_eq!(
            keys(&w.customer_breadcrumb[0]),
            keys(&dto.customer_breadcrumb[0])
        );
    }
}
