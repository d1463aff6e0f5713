//! An event-log file (`serve --events`, `replay --events`): read line by line, each line
//! decoded and folded in order.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sessiond::ingest::event_log::Lines;
use sessiond::projection::{Fold, FoldConfig, Projection};
use sessiond::record::{RecordCounts, fold_record};

fuzz_target!(|data: &[u8]| {
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    let mut counts = RecordCounts::default();
    let mut lines = Lines::new(std::io::Cursor::new(data));
    while let Ok(Some((position, decoded, _))) = lines.next_record() {
        let _ = fold_record(&mut fold, &mut counts, position, decoded);
    }
    // Reads see only whole sessions, whatever the input.
    for session in projection.all() {
        assert!(!session.id.is_empty());
    }
});
