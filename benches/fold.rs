//! The fold alone, from memory: simulated events (already validated) applied to a fresh
//! fold, in records per second (target: at least 1,000,000/s). A second figure includes
//! decoding each record from protobuf bytes, as the Kafka source does, and a third what
//! `serve` adds (each session's history, and the live-stream hub observing).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use sessiond::events::Event;
use sessiond::events::decode::{Decoded, decode_record};
use sessiond::events::validate::validate;
use sessiond::live::ChangeHub;
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::server::DEFAULT_HISTORY_DEPTH;
use sessiond::simulate::{SimConfig, SimTopic, Simulator};

const EVENTS: usize = 200_000;

// The binary's allocator, so the figures are the service's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn simulated() -> Vec<(Position, sessiond::events::wire::SessionEvent)> {
    let simulator = Simulator::new(SimConfig {
        rate: 1_000.0,
        users: 400,
        accounts: 20,
        ..SimConfig::default()
    });
    simulator
        .take(EVENTS)
        .enumerate()
        .map(|(i, sim)| {
            let stream = match sim.topic {
                SimTopic::Calls => 0,
                SimTopic::Members => 1,
            };
            (
                Position {
                    stream,
                    offset: i as i64,
                },
                sim.event,
            )
        })
        .collect()
}

fn fold_throughput(c: &mut Criterion) {
    let wire = simulated();
    let events: Vec<(Position, Event)> = wire
        .iter()
        .map(|(p, e)| (*p, validate(e.clone()).expect("simulated events are valid")))
        .collect();
    let records: Vec<(Position, Vec<u8>, String)> = wire
        .iter()
        .map(|(p, e)| (*p, e.encode_to_vec(), e.session_id.clone()))
        .collect();

    let mut group = c.benchmark_group("fold");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    group.bench_function("apply", |b| {
        b.iter_batched(
            || {
                (
                    Fold::new(FoldConfig::default(), Arc::new(Projection::new())),
                    events.clone(),
                )
            },
            |(mut fold, events)| {
                for (position, event) in events {
                    black_box(fold.apply(event, position));
                }
                fold
            },
            BatchSize::LargeInput,
        );
    });
    // As `serve` runs it: keeping each session's history (default depth) and feeding the
    // live-stream hub (nobody subscribed, the usual case for most users).
    group.bench_function("apply_as_served", |b| {
        b.iter_batched(
            || {
                let projection = Arc::new(Projection::new());
                let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
                fold.keep_history(DEFAULT_HISTORY_DEPTH);
                fold.observe(Arc::new(ChangeHub::new(projection)).observer());
                (fold, events.clone())
            },
            |(mut fold, events)| {
                for (position, event) in events {
                    black_box(fold.apply(event, position));
                }
                fold
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("decode_and_apply", |b| {
        b.iter_batched(
            || Fold::new(FoldConfig::default(), Arc::new(Projection::new())),
            |mut fold| {
                for (position, bytes, key) in &records {
                    if let Decoded::Event(event) = decode_record(bytes, Some(key.as_bytes())) {
                        black_box(fold.apply(event, *position));
                    }
                }
                fold
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, fold_throughput);
criterion_main!(benches);
