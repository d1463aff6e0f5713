//! A validated [`Event`] back to its `SessionEvent`: the inverse of
//! [`validate`](crate::events::validate::validate).
//!
//! Validation reads "" as absent in a plain string, and, in a present `optional` string, as
//! "clear"; so `None` is written as "", a [`FieldUpdate`] of `None` leaves the field out,
//! and `Some(None)` writes "". Where validation resolves UNSPECIFIED to a default, the
//! resolved value is written explicitly, so a reader never depends on that default.

use super::{crumbs_to_wire, timestamp};
use crate::events::enums::WireEnum;
use crate::events::wire::{self, session_event::Body};
use crate::events::{Event, EventKind, FieldUpdate};

/// The `SessionEvent` that validates to `e`.
pub fn event_to_wire(e: &Event) -> wire::SessionEvent {
    wire::SessionEvent {
        event_id: text(&e.event_id),
        session_id: e.session_id.to_string(),
        occurred_at: Some(timestamp(e.occurred_at)),
        account_id: text(&e.account_id),
        actor_id: text(&e.actor_id),
        body: Some(body(&e.kind)),
    }
}

/// A plain string field: absent is "".
fn text(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// An `optional string` field: left out to leave the value, "" to clear it.
fn update(u: &FieldUpdate) -> Option<String> {
    u.as_ref().map(text)
}

fn body(kind: &EventKind) -> Body {
    match kind {
        EventKind::SessionStarted(s) => Body::SessionStarted(wire::SessionStarted {
            account_name: text(&s.account_name),
            customer_id: text(&s.customer_id),
            customer_name: text(&s.customer_name),
            customer_breadcrumb: crumbs_to_wire(&s.customer_breadcrumb),
            endpoint_id: text(&s.endpoint_id),
            endpoint_name: text(&s.endpoint_name),
            channel: s.channel.to_wire(),
            direction: s.direction.to_wire(),
            destination: text(&s.destination),
            to_address: text(&s.to_address),
            from_address: text(&s.from_address),
            from_name: text(&s.from_name),
            from_phone_number: text(&s.from_phone_number),
            callback_number: text(&s.callback_number),
            call_sid: text(&s.call_sid),
            display_name: text(&s.display_name),
            dial_state: s.dial_state.to_wire(),
            call_state: s.call_state.to_wire(),
            queue_state: s.queue_state.to_wire(),
        }),
        EventKind::DialStateChanged(s) => Body::DialStateChanged(wire::DialStateChanged {
            dial_state: s.to_wire(),
        }),
        EventKind::CallStateChanged(s) => Body::CallStateChanged(wire::CallStateChanged {
            call_state: s.to_wire(),
        }),
        EventKind::QueueStateChanged {
            queue_state,
            ring_queue_id,
            queue_member_id,
        } => Body::QueueStateChanged(wire::QueueStateChanged {
            queue_state: queue_state.to_wire(),
            ring_queue_id: update(ring_queue_id),
            queue_member_id: update(queue_member_id),
        }),
        EventKind::SessionAnswered {
            answered_by_id,
            answered_by_name,
        } => Body::SessionAnswered(wire::SessionAnswered {
            answered_by_id: text(answered_by_id),
            answered_by_name: text(answered_by_name),
        }),
        EventKind::SessionHeld {
            held_by_user_id,
            hold_queue_name,
            reason,
        } => Body::SessionHeld(wire::SessionHeld {
            held_by_user_id: text(held_by_user_id),
            hold_queue_name: text(hold_queue_name),
            reason: reason.to_wire(),
        }),
        EventKind::SessionResumed => Body::SessionResumed(wire::SessionResumed {}),
        EventKind::ConferenceStarted { conference_sid } => {
            Body::ConferenceStarted(wire::ConferenceStarted {
                conference_sid: text(conference_sid),
            })
        }
        EventKind::CustomerAssigned {
            customer_id,
            customer_name,
            customer_breadcrumb,
        } => Body::CustomerAssigned(wire::CustomerAssigned {
            customer_id: text(customer_id),
            customer_name: text(customer_name),
            customer_breadcrumb: crumbs_to_wire(customer_breadcrumb),
        }),
        EventKind::SessionDetailsChanged(d) => {
            Body::SessionDetailsChanged(wire::SessionDetailsChanged {
                display_name: update(&d.display_name),
                console_data: update(&d.console_data),
                destination: update(&d.destination),
                callback_number: update(&d.callback_number),
                to_address: update(&d.to_address),
                from_address: update(&d.from_address),
                from_name: update(&d.from_name),
                outcome: update(&d.outcome),
            })
        }
        EventKind::LogAppended { message } => Body::LogAppended(wire::LogAppended {
            message: text(message),
        }),
        EventKind::SessionEnded {
            outcome,
            was_missed,
        } => Body::SessionEnded(wire::SessionEnded {
            outcome: text(outcome),
            was_missed: *was_missed,
        }),
        EventKind::MemberJoined(j) => Body::MemberJoined(wire::MemberJoined {
            identity: j.identity.clone(),
            endpoint_id: text(&j.endpoint_id),
            display_name: text(&j.display_name),
            avatar_url: text(&j.avatar_url),
            is_original_member: j.is_original_member,
            application_data: j.application_data.clone(),
            call_state: j.call_state.to_wire(),
            role: j.role.to_wire(),
            call_sid: text(&j.call_sid),
            muted: j.muted,
        }),
        EventKind::MemberCallStateChanged {
            identity,
            call_state,
        } => Body::MemberCallStateChanged(wire::MemberCallStateChanged {
            identity: identity.clone(),
            call_state: call_state.to_wire(),
        }),
        EventKind::MemberMuteChanged { identity, muted } => {
            Body::MemberMuteChanged(wire::MemberMuteChanged {
                identity: identity.clone(),
                muted: *muted,
            })
        }
        EventKind::MemberUpdated(u) => Body::MemberUpdated(wire::MemberUpdated {
            identity: u.identity.clone(),
            display_name: update(&u.display_name),
            avatar_url: update(&u.avatar_url),
            // Unlike MemberJoined's, an UNSPECIFIED role here means "leave the role".
            role: u.role.map_or(0, WireEnum::to_wire),
            application_data: u.application_data.clone(),
        }),
        EventKind::MemberLeft { identity } => Body::MemberLeft(wire::MemberLeft {
            identity: identity.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::events::KIND_NAMES;
    use crate::events::validate::validate;
    use crate::simulate::fixtures;

    fn assert_round_trips(e: &Event) {
        let w = event_to_wire(e);
        assert_eq!(validate(w.clone()).as_ref(), Ok(e), "{w:?}");
    }

    #[test]
    fn every_demo_event_round_trips() {
        let mut kinds = [0; KIND_NAMES.len()];
        for e in fixtures::demo_events() {
            assert_round_trips(&e);
            kinds[e.kind.index()] += 1;
        }
        assert!(kinds.iter().all(|&n| n > 0), "kinds missing: {kinds:?}");
    }

    #[test]
    fn every_simulated_event_round_trips() {
        let mut kinds = [0; KIND_NAMES.len()];
        for seed in [1, 7, 42] {
            for e in fixtures::sim_events(seed, 7_000) {
                assert_round_trips(&e);
                kinds[e.kind.index()] += 1;
            }
        }
        assert!(kinds.iter().all(|&n| n > 0), "kinds missing: {kinds:?}");
    }

    fn decoded(line: &str) -> Event {
        match crate::events::decode::decode_json(line) {
            crate::events::decode::Decoded::Event(e) => e,
            other => panic!("{line}: {other:?}"),
        }
    }

    /// The cases where the wire has two spellings of one event: the codec picks the one
    /// that does not lean on a default.
    #[test]
    fn defaults_and_clears_are_written_explicitly() {
        let env = r#""sessionId":"S","accountId":"A","occurredAt":"2026-11-24T09:00:00Z""#;
        let started = decoded(&format!(
            r#"{{{env},"sessionStarted":{{"channel":"CHANNEL_CHAT","direction":"DIRECTION_OUTGOING"}}}}"#
        ));
        let Some(Body::SessionStarted(s)) = event_to_wire(&started).body else {
            panic!()
        };
        assert_eq!(s.dial_state, wire::DialState::Active as i32);
        assert_eq!(s.call_state, wire::CallState::Ringing as i32);
        assert_eq!(s.queue_state, wire::QueueState::None as i32);

        let details = decoded(&format!(
            r#"{{{env},"sessionDetailsChanged":{{"outcome":"","displayName":"D"}}}}"#
        ));
        let Some(Body::SessionDetailsChanged(d)) = event_to_wire(&details).body else {
            panic!()
        };
        assert_eq!(d.outcome.as_deref(), Some(""), "a clear stays a clear");
        assert_eq!(d.display_name.as_deref(), Some("D"));
        assert_eq!(d.console_data, None, "an absent field stays absent");

        let updated = decoded(&format!(r#"{{{env},"memberUpdated":{{"identity":"m"}}}}"#));
        let Some(Body::MemberUpdated(u)) = event_to_wire(&updated).body else {
            panic!()
        };
        assert_eq!(u.role, 0, "no role change is UNSPECIFIED");
        assert_round_trips(&started);
        assert_round_trips(&details);
        assert_round_trips(&updated);
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[a-c]{1,3}"]
    }

    fn opt() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    /// Mostly defined enum numbers (UNSPECIFIED included), sometimes an unknown one.
    fn num() -> impl Strategy<Value = i32> {
        prop_oneof![9 => 0..7i32, 1 => Just(42)]
    }

    fn crumbs() -> impl Strategy<Value = Vec<wire::CustomerCrumb>> {
        proptest::collection::vec(
            (text(), text()).prop_map(|(id, name)| wire::CustomerCrumb { id, name }),
            0..3,
        )
    }

    fn data() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map("[a-c]{0,2}", text(), 0..3)
    }

    fn started() -> impl Strategy<Value = Body> {
        (
            (text(), text(), text(), crumbs(), text(), text()),
            (num(), num(), text(), text(), text(), text()),
            (text(), text(), text(), text(), num(), num(), num()),
        )
            .prop_map(|(a, b, c)| {
                Body::SessionStarted(wire::SessionStarted {
                    account_name: a.0,
                    customer_id: a.1,
                    customer_name: a.2,
                    customer_breadcrumb: a.3,
                    endpoint_id: a.4,
                    endpoint_name: a.5,
                    channel: b.0,
                    direction: b.1,
                    destination: b.2,
                    to_address: b.3,
                    from_address: b.4,
                    from_name: b.5,
                    from_phone_number: c.0,
                    callback_number: c.1,
                    call_sid: c.2,
                    display_name: c.3,
                    dial_state: c.4,
                    call_state: c.5,
                    queue_state: c.6,
                })
            })
    }

    fn body_strategy() -> impl Strategy<Value = Body> {
        prop_oneof![
            started(),
            num().prop_map(|dial_state| Body::DialStateChanged(wire::DialStateChanged {
                dial_state
            })),
            num().prop_map(|call_state| Body::CallStateChanged(wire::CallStateChanged {
                call_state
            })),
            (num(), opt(), opt()).prop_map(|(queue_state, ring_queue_id, queue_member_id)| {
                Body::QueueStateChanged(wire::QueueStateChanged {
                    queue_state,
                    ring_queue_id,
                    queue_member_id,
                })
            }),
            (text(), text()).prop_map(|(answered_by_id, answered_by_name)| {
                Body::SessionAnswered(wire::SessionAnswered {
                    answered_by_id,
                    answered_by_name,
                })
            }),
            (text(), text(), num()).prop_map(|(held_by_user_id, hold_queue_name, reason)| {
                Body::SessionHeld(wire::SessionHeld {
                    held_by_user_id,
                    hold_queue_name,
                    reason,
                })
            }),
            Just(Body::SessionResumed(wire::SessionResumed {})),
            text().prop_map(
                |conference_sid| Body::ConferenceStarted(wire::ConferenceStarted {
                    conference_sid
                })
            ),
            (text(), text(), crumbs()).prop_map(|(customer_id, customer_name, b)| {
                Body::CustomerAssigned(wire::CustomerAssigned {
                    customer_id,
                    customer_name,
                    customer_breadcrumb: b,
                })
            }),
            ((opt(), opt(), opt(), opt()), (opt(), opt(), opt(), opt())).prop_map(|(a, b)| {
                Body::SessionDetailsChanged(wire::SessionDetailsChanged {
                    display_name: a.0,
                    console_data: a.1,
                    destination: a.2,
                    callback_number: a.3,
                    to_address: b.0,
                    from_address: b.1,
                    from_name: b.2,
                    outcome: b.3,
                })
            }),
            text().prop_map(|message| Body::LogAppended(wire::LogAppended { message })),
            (text(), any::<bool>()).prop_map(|(outcome, was_missed)| {
                Body::SessionEnded(wire::SessionEnded {
                    outcome,
                    was_missed,
                })
            }),
            (
                (text(), text(), text(), text(), any::<bool>()),
                (data(), num(), num(), text(), any::<bool>()),
            )
                .prop_map(|(a, b)| {
                    Body::MemberJoined(wire::MemberJoined {
                        identity: a.0,
                        endpoint_id: a.1,
                        display_name: a.2,
                        avatar_url: a.3,
                        is_original_member: a.4,
                        application_data: b.0,
                        call_state: b.1,
                        role: b.2,
                        call_sid: b.3,
                        muted: b.4,
                    })
                }),
            (text(), num()).prop_map(|(identity, call_state)| {
                Body::MemberCallStateChanged(wire::MemberCallStateChanged {
                    identity,
                    call_state,
                })
            }),
            (text(), any::<bool>()).prop_map(|(identity, muted)| {
                Body::MemberMuteChanged(wire::MemberMuteChanged { identity, muted })
            }),
            (text(), opt(), opt(), num(), data()).prop_map(
                |(identity, display_name, avatar_url, role, application_data)| {
                    Body::MemberUpdated(wire::MemberUpdated {
                        identity,
                        display_name,
                        avatar_url,
                        role,
                        application_data,
                    })
                }
            ),
            text().prop_map(|identity| Body::MemberLeft(wire::MemberLeft { identity })),
        ]
    }

    fn event_strategy() -> impl Strategy<Value = wire::SessionEvent> {
        let time = (-9_300_000_000i64..9_300_000_000, 0..1_000_000_000i32)
            .prop_map(|(seconds, nanos)| pbjson_types::Timestamp { seconds, nanos });
        (
            // Mostly a valid envelope, so that most cases reach the body.
            (
                text(),
                prop_oneof![1 => Just(String::new()), 9 => "[a-c]{1,3}"],
                proptest::option::weighted(0.95, time),
            ),
            (
                prop_oneof![1 => Just(String::new()), 9 => "[a-c]{1,3}"],
                text(),
                body_strategy(),
            ),
        )
            .prop_map(|(a, b)| wire::SessionEvent {
                event_id: a.0,
                session_id: a.1,
                occurred_at: a.2,
                account_id: b.0,
                actor_id: b.1,
                body: Some(b.2),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whatever validation accepts, from any spelling on the wire (empty strings,
        /// present or absent optionals, UNSPECIFIED enums), comes back unchanged.
        #[test]
        fn whatever_validates_round_trips(w in event_strategy()) {
            if let Ok(e) = validate(w) {
                prop_assert_eq!(validate(event_to_wire(&e)), Ok(e));
            }
        }
    }
}
