//! Whether this replica may take traffic: loading, ready, or ready but stale (behind the
//! log or cut off from the broker). Ingest writes it; `/readyz` and the read API read it.

use std::sync::RwLock;

/// The replica's readiness, shared between ingest and the API.
#[derive(Debug, Default)]
pub struct Readiness {
    state: RwLock<State>,
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

    /// Whether the initial load is complete (stale or not).
    pub fn is_loaded(&self) -> bool {
        !matches!(self.get(), State::Loading(_))
    }

    /// Whether the replica should take traffic.
    pub fn is_ready(&self) -> bool {
        matches!(self.get(), State::Ready)
    }

    /// Why the replica is not ready, if it is not.
    pub fn not_ready_reason(&self) -> Option<String> {
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
