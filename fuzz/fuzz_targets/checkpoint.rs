//! A checkpoint's bytes (a snapshot file's payload): decoded, and a fold restored from
//! whatever decodes, then fed one more event so the restored indexes are used.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sessiond::events::decode::decode_json;
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::record::{RecordCounts, fold_record};
use sessiond::snapshot::checkpoint;

const EVENT: &str = r#"{"eventId":"E1","sessionId":"S-1","occurredAt":"2026-11-24T08:00:12Z","accountId":"A","sessionEnded":{}}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(checkpoint) = checkpoint::decode(data) else {
        return;
    };
    let projection = Arc::new(Projection::new());
    let Ok(mut fold) = Fold::restore(FoldConfig::default(), projection, checkpoint.image) else {
        return;
    };
    let mut counts = RecordCounts::default();
    let position = Position {
        stream: 0,
        offset: i64::MAX,
    };
    let _ = fold_record(&mut fold, &mut counts, position, decode_json(EVENT));
    let _ = fold.image();
});
