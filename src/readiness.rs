//! Whether this replica may take traffic: loading, ready, or ready but stale (behind the
//! log or cut off from the broker), and whether it is shutting down. Ingest writes it;
//! `/readyz` and the read API read it.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// The reason `/readyz` gives once shutdown has started.
pub const SHUTTING_DOWN: &str = "shutting down";

/// The replica's readiness, shared between ingest and the API.
#[derive(Debug, Default)]
pub struct Readiness {
    state: RwLock<State>,
    /// Set once at shutdown, whatever ingest says afterwards.
    draining: AtomicBool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// The initial load (or catch-up to the end offsets seen at start) is under way.
    Loading(String),
    /// Caught up, or the event log is loaded.
    Ready,
    /// Was ready, but now behind or without a broker: reads answer from the last state.
    Stale(String),
}

impl Default for State {
    fn default() -> Self {
        Self::Loading("loading: starting".to_owned())
    }
}

impl Readiness {
    /// Says what the initial load is doing (or waiting for).
    pub fn set_loading(&self, detail: impl Into<String>) {
        self.set(State::Loading(detail.into()));
    }

    /// Marks the initial load complete (and any staleness over).
    pub fn set_ready(&self) {
        self.set(State::Ready);
    }

    /// Marks a replica that was ready as stale, with the reason.
    pub fn set_stale(&self, reason: impl Into<String>) {
        self.set(State::Stale(reason.into()));
    }

    /// Marks the replica as shutting down: it stops being ready for good, so a load
    /// balancer sends new traffic elsewhere while requests still in flight are served.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the initial load is complete (stale or not).
    pub fn is_loaded(&self) -> bool {
        !matches!(self.get(), State::Loading(_))
    }

    /// Whether the replica should take traffic.
    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::SeqCst) && matches!(self.get(), State::Ready)
    }

    /// Why the replica is not ready, if it is not.
    pub fn not_ready_reason(&self) -> Option<String> {
        if self.draining.load(Ordering::SeqCst) {
            return Some(SHUTTING_DOWN.to_owned());
        }
        match self.get() {
            State::Ready => None,
            State::Loading(detail) | State::Stale(detail) => Some(detail),
        }
    }

    /// Why the data served may be out of date, once loaded.
    pub fn stale_reason(&self) -> Option<String> {
        match self.get() {
            State::Stale(reason) => Some(reason),
            _ => None,
        }
    }

    fn get(&self) -> State {
        self.state
            .read()
            .map_or_else(|_| State::default(), |s| s.clone())
    }

    fn set(&self, state: State) {
        if let Ok(mut s) = self.state.write() {
            *s = state;
        }
    }
}
