//! A Kafka record's key and value, as the consumer hands them over: decoded, and whatever
//! decodes is folded. The first byte splits the input into key and value.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sessiond::events::decode::decode_record;
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::record::{RecordCounts, fold_record};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let (key, value) = rest.split_at(split);
    // A key of length 0 stands for a record without one.
    let key = (!key.is_empty()).then_some(key);
    let mut fold = Fold::new(FoldConfig::default(), Arc::new(Projection::new()));
    let mut counts = RecordCounts::default();
    let position = Position {
        stream: 0,
        offset: 0,
    };
    let _ = fold_record(&mut fold, &mut counts, position, decode_record(value, key));
    assert_eq!(counts.records, 1, "every record is counted once");
});
