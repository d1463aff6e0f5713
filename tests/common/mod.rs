//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use sessiond::events::decode::{decode_json, Decoded};
use sessiond::events::Event;
use sessiond::projection::{Fold, FoldConfig, Outcome, Position, Projection};

/// Parses one event-log line, panicking with the reason if it is not a valid event.
pub fn event(line: &str) -> Event {
    match decode_json(line) {
        Decoded::Event(e) => e,
        other => panic!("not a valid event: {other:?}\n{line}"),
    }
}

/// A fold over a fresh projection.
pub fn fold() -> Fold {
    Fold::new(FoldConfig::default(), Arc::new(Projection::new()))
}

/// Feeds lines to the fold as one stream, line numbers as offsets.
pub struct Feeder {
    pub fold: Fold,
    next: i64,
}

impl Feeder {
    pub fn new(fold: Fold) -> Self {
        Self { fold, next: 1 }
    }

    pub fn feed(&mut self, line: &str) -> Outcome {
        let position = Position { stream: 0, offset: self.next };
        self.next += 1;
        self.fold.apply(event(line), position)
    }

    pub fn projection(&self) -> &Projection {
        self.fold.projection()
    }
}

/// A `SessionStarted` line for `session` owned by `endpoint` at `time` (RFC 3339).
pub fn started(id: &str, session: &str, time: &str, endpoint: &str) -> String {
    format!(
        r#"{{"eventId":"{id}","sessionId":"{session}","occurredAt":"{time}","accountId":"A-1","actorId":"{endpoint}","sessionStarted":{{"accountName":"Acme","endpointId":"{endpoint}","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","fromAddress":"+15550100"}}}}"#
    )
}

/// Any event line: `body` is the kind's key and object, e.g. `"sessionResumed":{}`.
pub fn line(id: &str, session: &str, time: &str, body: &str) -> String {
    format!(r#"{{"eventId":"{id}","sessionId":"{session}","occurredAt":"{time}",{body}}}"#)
}
