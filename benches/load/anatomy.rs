//! Where a stream's memory goes: the service run inside this process (`LIVE_ROLE=anatomy`,
//! the same library and allocator as the binary, folding an event-log file of one session
//! per user), its heap counted by allocation size, and connections held by client
//! processes ([`crate::fleet`]). Printed per connection: the resident set it adds, the
//! heap it keeps (more than the resident set when a buffer has pages never touched; less
//! when the allocator holds freed memory), and the sizes of the allocations it keeps,
//! which name their owners.
//!
//! What the sizes were on 2026-11-29 (hyper 1.12, hyper-util 0.1.21, tokio 1.54, axum 0.8):
//! 16,384 B is hyper's HTTP/1 read buffer, grown from 8 KiB while the first request is
//! read, because hyper-util's protocol detection hands hyper the first 24 bytes apart and
//! the next read reserves another 8 KiB (a realloc that copies, and makes resident, the
//! old 8 KiB; `LIVE_TRACE_SIZE=16384` shows it); 8,192 B is hyper's write buffer for
//! response heads; 5,888 B is the connection's task, sized by its largest state, the TLS
//! one (a `TlsStream` is 1.2 KB, hyper-util's connection over it as much again); about
//! 840 B is the stream's body (axum's `Sse`, its keep-alive timer, the stream's future);
//! the hub's per-user channel and view and the subscriber's queue are 100 to 160 B each.

use std::alloc::{GlobalAlloc, Layout};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use sessiond::api::auth::{AuthSettings, Authenticator};
use sessiond::api::limits::LimitsConfig;
use sessiond::edge::EdgeConfig;
use sessiond::server::{ServeConfig, Source, serve};

use crate::fleet::{self, Fleet, Mode};

/// Allocations are counted by size in steps of this many bytes, up to [`LARGEST`].
const STEP: usize = 16;
/// Larger allocations share the last bucket.
const LARGEST: usize = 64 * 1024;
const BUCKETS: usize = LARGEST / STEP + 2;

/// mimalloc, as the binary uses it, counting live allocations and bytes by size.
pub struct Counting;

static COUNTS: [AtomicI64; BUCKETS] = [const { AtomicI64::new(0) }; BUCKETS];
static BYTES: [AtomicI64; BUCKETS] = [const { AtomicI64::new(0) }; BUCKETS];

fn bucket(size: usize) -> usize {
    if size > LARGEST {
        BUCKETS - 1
    } else {
        size.div_ceil(STEP)
    }
}

/// With `LIVE_TRACE_SIZE=N`, the first few allocations of exactly N bytes once armed
/// print where they were made (to name an owner the sizes alone do not).
static TRACE_SIZE: AtomicUsize = AtomicUsize::new(0);
static TRACED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static TRACING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn trace(size: usize) {
    if size == 0 || size != TRACE_SIZE.load(Ordering::Relaxed) {
        return;
    }
    if TRACING.with(|t| t.replace(true)) {
        return;
    }
    if TRACED.fetch_add(1, Ordering::Relaxed) < 3 {
        eprintln!(
            "allocation of {size} bytes:\n{}",
            std::backtrace::Backtrace::force_capture()
        );
    }
    TRACING.with(|t| t.set(false));
}

fn count(size: usize, sign: i64) {
    if sign > 0 {
        trace(size);
    }
    let b = bucket(size);
    COUNTS[b].fetch_add(sign, Ordering::Relaxed);
    BYTES[b].fetch_add(sign * size as i64, Ordering::Relaxed);
}

// SAFETY: every call is passed to mimalloc unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(layout.size(), -1);
        count(new_size, 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// Live allocations and bytes per size bucket.
fn census() -> Vec<(i64, i64)> {
    COUNTS
        .iter()
        .zip(&BYTES)
        .map(|(c, b)| (c.load(Ordering::Relaxed), b.load(Ordering::Relaxed)))
        .collect()
}

/// The anatomy process: serves, lets a fleet of `mode` connections open, and prints what
/// they cost.
pub fn run() {
    let users: usize = std::env::var("LIVE_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("LIVE_USERS");
    let mode = match std::env::var("LIVE_MODE").as_deref() {
        Ok("keepalive") => Mode::KeepAlive,
        _ => Mode::Stream,
    };
    crate::raise_fd_limit(users + 1024);
    // As the binary does at start (src/main.rs): no transparent huge pages.
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    let dir = tempfile::tempdir().expect("temp dir");
    let events = dir.path().join("events.jsonl");
    let mut clock = crate::EventClock::default();
    let lines: Vec<String> = (0..users)
        .map(|u| clock.started(&fleet::session(u), &fleet::user(u)))
        .collect();
    std::fs::write(&events, lines.join("\n") + "\n").expect("events file");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let port = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let port = listener.local_addr().expect("addr").port();
        let config = ServeConfig {
            source: Source::EventLog(events.clone()),
            auth: Authenticator::new(&AuthSettings {
                secrets: vec![crate::SECRET.to_owned()],
                ..AuthSettings::default()
            })
            .expect("auth"),
            fold: Default::default(),
            history_depth: sessiond::server::DEFAULT_HISTORY_DEPTH,
            snapshots: None,
            changes_topic: None,
            edge: EdgeConfig::default(),
            limits: LimitsConfig {
                rate_per_minute: 0,
                ..LimitsConfig::default()
            },
        };
        tokio::spawn(async move { serve(listener, config).await.expect("serve") });
        while crate::ready_status(port).await != Some(200) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        port
    });
    let settle = || std::thread::sleep(Duration::from_secs(2));
    settle();
    let me = std::process::id();
    let (rss_before, heap_before) = (crate::rss_kib(me), census());
    if let Some(size) = std::env::var("LIVE_TRACE_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        TRACE_SIZE.store(size, Ordering::Relaxed);
    }
    let fleet = Fleet::open(port, crate::SECRET, users, mode);
    settle();
    let (rss_after, heap_after) = (crate::rss_kib(me), census());
    drop(fleet);

    let per = |x: i64| x as f64 / users as f64;
    let mut rows: Vec<(usize, f64, f64)> = heap_before
        .iter()
        .zip(&heap_after)
        .enumerate()
        .map(|(b, (before, after))| (b, per(after.0 - before.0), per(after.1 - before.1)))
        .filter(|(_, n, _)| n.abs() >= 0.05)
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    let heap: f64 = rows.iter().map(|r| r.2).sum();
    let rss = (rss_after as f64 - rss_before as f64) * 1024.0 / users as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "    {users} {} connections: {:.1} KiB resident each; heap kept {:.1} KiB each (resident minus heap {:.1} KiB: negative where buffers have pages never touched); kept allocations by size:",
        if mode == Mode::Stream {
            "stream"
        } else {
            "idle keep-alive"
        },
        rss / 1024.0,
        heap / 1024.0,
        (rss - heap) / 1024.0
    );
    for (b, n, bytes) in rows.iter().take(14) {
        let size = if *b == BUCKETS - 1 {
            format!(">{LARGEST}")
        } else {
            format!("{}..{}", (b * STEP).saturating_sub(STEP - 1), b * STEP)
        };
        let _ = writeln!(out, "      {size:>12} B  x{n:5.2}  {:8.0} B", bytes);
    }
    print!("{out}");
}
