//! A contact center's day at accelerated time: 24 hours of simulator traffic whose rate
//! follows a weekday curve (quiet at night, a morning ramp, peaks late morning and mid
//! afternoon, a lunch dip, an evening tail), folded as fast as this machine allows, with
//! every simulated hour's traffic, active and pending sessions, tombstones, heap and the
//! lag a replica folding it in real time would have.
//!
//! The size is a fraction (`SESSIOND_DAY_SCALE`, default 0.002: 200 agents, about 2,000
//! sessions active at the peak, 15 million events) of the capacity model's platform in
//! docs/scaling.md: 1,000,000 sessions active at the peak and 100,000 agents, whose day is
//! about 7.3 billion events. The simulator, not the fold, sets the pace (about 60,000
//! events/s here), so the whole platform's day is out of reach of one run; memory and the
//! fold's share of each second scale linearly with the size, which docs/scaling.md uses.
//! The simulator's rate is set every simulated minute to the curve's value, scaled so that
//! the peak holds that fraction of a million sessions (`PEAK_RATE_PER_MILLION`, measured
//! with the simulator's steady state: 20,000 events/s keep about 106,000 sessions active,
//! `SESSIOND_BENCH_PROBE=1 cargo bench --bench stateless`).
//!
//! **Lag**: the fold's own time (decode, validate, apply) is measured per simulated
//! 10-second slice; a replica receiving the slice in real time falls behind by whatever
//! the slice took beyond 10 s, and catches up when later slices take less (a queue). The
//! largest such backlog of the day is the replica's worst lag from folding alone (broker
//! fetches add their own, see the ingest bench).
//!
//! **Memory**: the process's live heap (a counting allocator around mimalloc) holds the
//! fold and the simulator's scripts of the sessions it is playing; at the end the simulator
//! is dropped and the fold's heap alone is printed, with bytes per active session and
//! tombstone by the memory bench's split. Peak memory scales with the peak's active
//! sessions and the last 10 minutes' ended ones (tombstones), not with the day's events.
//!
//! `cargo bench --bench day` (scripts/bench runs it). The summary is also written to
//! `$CARGO_TARGET_DIR/day-bench.txt`.

#[path = "kit.rs"]
mod kit;

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use prost::Message as _;
use sessiond::events::validate::validate;
use sessiond::events::wire;
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::simulate::{SimConfig, SimTopic, Simulator};

/// mimalloc, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to mimalloc unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as the caller promised.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as the caller promised.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as the caller promised.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as the caller promised.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A weekday's traffic by hour (local time), as a fraction of the peak.
const CURVE: [f64; 24] = [
    0.05, 0.04, 0.03, 0.03, 0.03, 0.05, 0.10, 0.30, 0.70, 0.95, 1.00, 0.95, 0.75, 0.85, 0.95, 1.00,
    0.90, 0.70, 0.45, 0.30, 0.20, 0.15, 0.10, 0.07,
];
/// Events per second that keep a million sessions active in the simulator's steady state
/// (measured: see the module comment).
const PEAK_RATE_PER_MILLION: f64 = 190_000.0;
/// The platform at full scale.
const AGENTS: f64 = 100_000.0;
/// Agents per account (a contact center).
const AGENTS_PER_ACCOUNT: f64 = 100.0;
/// The lag model's slice of simulated time.
const SLICE: Duration = Duration::from_secs(10);

fn main() {
    let scale: f64 = std::env::var("SESSIOND_DAY_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.002);
    assert!(
        scale > 0.0 && scale <= 1.0,
        "SESSIOND_DAY_SCALE must be in (0, 1]"
    );
    let peak_rate = PEAK_RATE_PER_MILLION * scale;
    let agents = (AGENTS * scale).round() as usize;
    let config = SimConfig {
        seed: 24,
        rate: peak_rate * CURVE[0],
        users: agents,
        accounts: ((agents as f64 / AGENTS_PER_ACCOUNT).ceil() as usize).max(1),
        ..SimConfig::default()
    };
    let start = config.start.0;
    let mut simulator = Simulator::new(config);
    let mut fold = Fold::new(FoldConfig::default(), Arc::new(Projection::new()));
    eprintln!("a day at scale {scale}: {agents} agents, peak {peak_rate:.0} events/s (simulated)");

    let minute = 60 * 1_000_000_000i64;
    let slice = SLICE.as_nanos() as i64;
    let mut offsets = [0i64; 2];
    let (mut events, mut bytes) = (0u64, 0u64);
    let (mut backlog, mut worst_lag) = (Duration::ZERO, Duration::ZERO);
    let (mut peak_active, mut peak_heap) = (0usize, 0isize);
    let mut slice_end = start + slice;
    let mut slice_busy = Duration::ZERO;
    let mut rows = Vec::new();
    let mut hour = Hour::default();
    let day_started = Instant::now();
    let mut hour_started = Instant::now();
    let mut rate_minute = 0i64;
    loop {
        let sim = simulator.next_event();
        let at = sim
            .event
            .occurred_at
            .map_or(start, |t| t.seconds * 1_000_000_000 + i64::from(t.nanos));
        while at >= slice_end {
            // A slice ends: the queue model's backlog.
            backlog = (backlog + slice_busy).saturating_sub(SLICE);
            worst_lag = worst_lag.max(backlog);
            slice_busy = Duration::ZERO;
            slice_end += slice;
        }
        let minutes = (at - start) / minute;
        if minutes >= 24 * 60 {
            break;
        }
        if minutes != rate_minute {
            rate_minute = minutes;
            let h = (minutes / 60) as usize;
            // Each hour's rate eases into the next one's over the hour.
            let within = (minutes % 60) as f64 / 60.0;
            let level = CURVE[h] + (CURVE[(h + 1) % 24] - CURVE[h]) * within;
            simulator.set_rate(peak_rate * level);
            if h != hour.index {
                let active = fold.projection().len();
                rows.push(hour.finish(&fold, hour_started.elapsed(), worst_lag));
                hour = Hour {
                    index: h,
                    ..Hour::default()
                };
                hour_started = Instant::now();
                peak_active = peak_active.max(active);
            }
        }
        let folding = Instant::now();
        let record = sim.event.encode_to_vec();
        bytes += record.len() as u64;
        let decoded = wire::SessionEvent::decode(record.as_slice()).expect("decodes");
        let event = validate(decoded).expect("the simulator's events are valid");
        let stream = match sim.topic {
            SimTopic::Calls => 0,
            SimTopic::Members => 1,
        };
        fold.apply(
            event,
            Position {
                stream,
                offset: offsets[stream as usize],
            },
        );
        offsets[stream as usize] += 1;
        let took = folding.elapsed();
        slice_busy += took;
        hour.fold_time += took;
        hour.events += 1;
        events += 1;
        if events.is_multiple_of(65_536) {
            peak_heap = peak_heap.max(LIVE.load(Ordering::Relaxed));
            peak_active = peak_active.max(fold.projection().len());
        }
    }
    rows.push(hour.finish(&fold, hour_started.elapsed(), worst_lag));
    let wall = day_started.elapsed();
    let (active, pending, tombstones) = (
        fold.projection().len(),
        fold.pending_count(),
        fold.tombstone_count(),
    );
    let with_simulator = LIVE.load(Ordering::Relaxed);
    drop(simulator);
    let fold_heap = LIVE.load(Ordering::Relaxed);

    let mut summary = String::new();
    let mut line = |text: String| {
        summary.push_str(&text);
        summary.push('\n');
    };
    line(format!(
        "a contact center's day at scale {scale} ({agents} agents, peak {peak_rate:.0} events/s), one run:"
    ));
    line(
        "  hour  events/s   active  pending  tombstones  heap MB  fold busy  worst lag so far"
            .to_owned(),
    );
    for row in rows.iter().filter(|r| r.events > 0) {
        line(format!(
            "  {:02}:00 {:>8.0} {:>8} {:>8} {:>11} {:>8.0} {:>9.1}% {:>10.0} ms",
            row.index,
            row.events as f64 / 3600.0,
            row.active,
            row.pending,
            row.tombstones,
            row.heap as f64 / 1e6,
            100.0 * row.fold_time.as_secs_f64() / 3600.0,
            row.lag.as_secs_f64() * 1e3,
        ));
    }
    line(format!(
        "  the day: {events} events ({:.1} GB of records) folded in {:.0} s ({:.0}x real time; the fold alone {:.0} events/s)",
        bytes as f64 / 1e9,
        wall.as_secs_f64(),
        86_400.0 / wall.as_secs_f64(),
        events as f64
            / rows
                .iter()
                .map(|r| r.fold_time)
                .sum::<Duration>()
                .as_secs_f64(),
    ));
    line(format!(
        "  peak: {peak_active} active sessions; heap at most {:.0} MB (fold and simulator)",
        peak_heap as f64 / 1e6
    ));
    line(format!(
        "  at midnight: {active} active, {pending} pending, {tombstones} tombstones; heap {:.0} MB with the simulator, {:.0} MB the fold alone",
        with_simulator as f64 / 1e6,
        fold_heap as f64 / 1e6,
    ));
    line(format!(
        "  worst lag of a replica folding the day in real time (fold time only, 10 s slices): {:.0} ms",
        worst_lag.as_secs_f64() * 1e3
    ));
    kit::headline(kit::Headline {
        figure: "a contact center's day (1% of the platform): worst lag folding in real time",
        sessiond: format!("{:.0} ms", worst_lag.as_secs_f64() * 1e3),
        peer: format!(
            "peak {peak_active} active; heap at most {:.0} MB",
            peak_heap as f64 / 1e6
        ),
        target: "",
        met: None,
    });
    kit::publish_summary("day", &summary);
}

/// One simulated hour's figures.
#[derive(Default)]
struct Hour {
    index: usize,
    events: u64,
    fold_time: Duration,
    active: usize,
    pending: usize,
    tombstones: usize,
    heap: isize,
    lag: Duration,
}

impl Hour {
    fn finish(self, fold: &Fold, _wall: Duration, lag: Duration) -> Self {
        Self {
            active: fold.projection().len(),
            pending: fold.pending_count(),
            tombstones: fold.tombstone_count(),
            heap: LIVE.load(Ordering::Relaxed),
            lag,
            ..self
        }
    }
}
