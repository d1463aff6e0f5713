//! Read cost: one user's active sessions with 10k and with 1M sessions in the projection.
//! The per-user index should make both cost the same (target: medians within 20%).
//! `json_response` is the body as the API serves it (assembled from each session's cached
//! JSON); `json_response_uncached` renders every session from scratch, as it used to.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sessiond::contract::Format;
use sessiond::contract::assemble::render_sessions;
use sessiond::contract::dto::{GetActiveSessionsResponse, SessionInfo};
use sessiond::contract::render;
use sessiond::events::{Event, EventKind, Started};
use sessiond::model::{
    FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionQueueStates,
};
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::time::EventTime;

// The binary's allocator, so the figures are the service's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The user whose sessions are read; every size gives them the same five sessions.
const READER: &str = "U-reader";
const READER_SESSIONS: usize = 5;
/// Other users each own this many sessions.
const SESSIONS_PER_USER: usize = 4;

fn start(i: usize, endpoint: String) -> Event {
    Event {
        event_id: Some(format!("e-{i}")),
        session_id: Arc::from(format!("S-{i:08}")),
        occurred_at: EventTime(1_795_000_000_000_000_000 + i as i64 * 1_000_000),
        account_id: Some(format!("A-{}", i % 50)),
        actor_id: Some(endpoint.clone()),
        kind: EventKind::SessionStarted(Box::new(Started {
            account_name: Some("Acme".into()),
            customer_id: None,
            customer_name: None,
            customer_breadcrumb: Vec::new(),
            endpoint_id: Some(endpoint),
            endpoint_name: Some("Agent".into()),
            channel: FlowChannels::Voice,
            direction: SessionDirections::Incoming,
            destination: None,
            to_address: Some("+15550100".into()),
            from_address: Some("+15550199".into()),
            from_name: None,
            from_phone_number: None,
            callback_number: None,
            call_sid: Some(format!("CA{i:032x}")),
            display_name: None,
            dial_state: SessionDialState::Active,
            call_state: SessionCallState::Ringing,
            queue_state: SessionQueueStates::None,
        })),
    }
}

fn projection_with(total: usize) -> Arc<Projection> {
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    let reader_every = total / READER_SESSIONS;
    for i in 0..total {
        let endpoint = if i % reader_every == 0 {
            READER.to_owned()
        } else {
            format!("U-{}", i / SESSIONS_PER_USER)
        };
        let position = Position {
            stream: 0,
            offset: i as i64,
        };
        fold.apply(start(i, endpoint), position);
    }
    assert_eq!(projection.len(), total);
    assert_eq!(projection.sessions_for_user(READER).len(), READER_SESSIONS);
    projection
}

fn read_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_one_user");
    for total in [10_000usize, 1_000_000] {
        let projection = projection_with(total);
        group.bench_with_input(
            BenchmarkId::new("sessions_for_user", total),
            &projection,
            |b, p| {
                b.iter(|| black_box(p.sessions_for_user(black_box(READER))));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("json_response", total),
            &projection,
            |b, p| {
                b.iter(|| {
                    let sessions = p.sessions_for_user(black_box(READER));
                    black_box(render_sessions(
                        Format::Json,
                        "GetActiveSessions",
                        &sessions,
                    ))
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("json_response_uncached", total),
            &projection,
            |b, p| {
                b.iter(|| {
                    let response = GetActiveSessionsResponse {
                        sessions: p
                            .sessions_for_user(black_box(READER))
                            .iter()
                            .map(|s| SessionInfo::from(&**s))
                            .collect(),
                    };
                    black_box(render(Format::Json, &response))
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, read_cost);
criterion_main!(benches);
