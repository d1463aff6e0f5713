//! The `Last-Event-ID` a reconnecting stream sends: any string, or one that starts with
//! this process's epoch (so the sequence number after it is parsed), against a hub that
//! has published a few changes to the user (so a resume has something to replay).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sessiond::events::decode::decode_json;
use sessiond::live::ChangeHub;
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::record::{RecordCounts, fold_record};

const USER: &str = "E-1";
const EVENTS: [&str; 3] = [
    r#"{"eventId":"E1","sessionId":"S-1","occurredAt":"2026-11-24T08:00:12Z","accountId":"A","sessionStarted":{"endpointId":"E-1","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING"}}"#,
    r#"{"eventId":"E2","sessionId":"S-2","occurredAt":"2026-11-24T08:00:13Z","accountId":"A","sessionStarted":{"endpointId":"E-1","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING"}}"#,
    r#"{"eventId":"E3","sessionId":"S-1","occurredAt":"2026-11-24T08:00:14Z","accountId":"A","sessionEnded":{}}"#,
];

fuzz_target!(|input: (bool, String)| {
    let (with_epoch, rest) = input;
    let projection = Arc::new(Projection::new());
    let hub = Arc::new(ChangeHub::new(Arc::clone(&projection)));
    // Watched before the changes, so the hub keeps them for resumes.
    let first = hub.subscribe(USER, None);
    let mut fold = Fold::new(FoldConfig::default(), projection);
    fold.observe(hub.observer());
    let mut counts = RecordCounts::default();
    for (offset, event) in EVENTS.iter().enumerate() {
        let position = Position {
            stream: 0,
            offset: offset as i64,
        };
        let _ = fold_record(&mut fold, &mut counts, position, decode_json(event));
    }
    let id = if with_epoch {
        let prefix = hub.event_id(0);
        format!("{}{rest}", &prefix[..prefix.len() - 1])
    } else {
        rest
    };
    let resumed = hub.subscribe(USER, Some(&id));
    hub.unsubscribe(&resumed);
    hub.unsubscribe(&first);
});
