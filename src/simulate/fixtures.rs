//! Test inputs shared by the unit tests (codecs, checkpoints, the fold's image): the demo
//! event log, simulator traffic, and the projection they fold into.

use std::sync::Arc;

use crate::events::Event;
use crate::events::decode::{Decoded, decode_json};
use crate::events::validate::validate;
use crate::projection::{Fold, FoldConfig, Position, Projection};
use crate::simulate::{SimConfig, Simulator};

/// Every valid event of `examples/demo.jsonl`, in file order.
pub fn demo_events() -> Vec<Event> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.jsonl");
    let text = std::fs::read_to_string(path).expect("examples/demo.jsonl is readable");
    let events: Vec<Event> = text
        .lines()
        .filter_map(|line| match decode_json(line) {
            Decoded::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(events.len() > 500, "only {} demo events", events.len());
    events
}

/// The first `n` events the simulator makes with `seed`, validated.
pub fn sim_events(seed: u64, n: usize) -> Vec<Event> {
    Simulator::new(SimConfig {
        seed,
        ..SimConfig::default()
    })
    .take(n)
    .map(|e| validate(e.event.clone()).unwrap_or_else(|bad| panic!("{bad}: {:?}", e.event)))
    .collect()
}

/// The projection after folding `events` in order.
pub fn fold(events: Vec<Event>) -> Arc<Projection> {
    fold_with(events, |_, _| {})
}

/// The projection after folding `events` in order, calling `after(i, projection)` once
/// event `i` is applied.
pub fn fold_with(events: Vec<Event>, mut after: impl FnMut(usize, &Projection)) -> Arc<Projection> {
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    for (i, event) in events.into_iter().enumerate() {
        let offset = i64::try_from(i).expect("fits");
        fold.apply(event, Position { stream: 0, offset });
        after(i, &projection);
    }
    projection
}
