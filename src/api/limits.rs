//! Per-user limits, so one token cannot degrade everyone: a request rate (a token bucket
//! per user, answered with 429 and `Retry-After` when empty) and a cap on live streams
//! (a new stream beyond it closes that user's oldest). Other users are never affected.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderMap;
use dashmap::DashMap;
use foldhash::fast::RandomState;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;

/// Requests per minute per user, by default.
pub const DEFAULT_RATE_LIMIT: u32 = 600;
/// Requests a user may make at once before the rate applies, by default.
pub const DEFAULT_RATE_BURST: u32 = 100;
/// Live streams per user, by default.
pub const DEFAULT_MAX_STREAMS_PER_USER: usize = 16;

/// The per-user limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Requests per minute per user (0: no limit).
    pub rate_per_minute: u32,
    /// Requests a user may make at once (the bucket's size).
    pub burst: u32,
    /// Live streams per user (at least 1).
    pub max_streams_per_user: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            rate_per_minute: DEFAULT_RATE_LIMIT,
            burst: DEFAULT_RATE_BURST,
            max_streams_per_user: DEFAULT_MAX_STREAMS_PER_USER,
        }
    }
}

/// The limits' state, shared by every handler.
pub struct UserLimits {
    rate: Option<DefaultKeyedRateLimiter<Box<str>>>,
    clock: DefaultClock,
    streams: Arc<StreamSlots>,
}

impl std::fmt::Debug for UserLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserLimits")
            .field("rate", &self.rate.is_some())
            .field("max_streams_per_user", &self.streams.max)
            .finish_non_exhaustive()
    }
}

impl Default for UserLimits {
    fn default() -> Self {
        Self::new(LimitsConfig::default())
    }
}

impl UserLimits {
    /// Limits as configured.
    pub fn new(config: LimitsConfig) -> Self {
        let rate = NonZeroU32::new(config.rate_per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
            DefaultKeyedRateLimiter::dashmap(Quota::per_minute(per_minute).allow_burst(burst))
        });
        Self {
            rate,
            clock: DefaultClock::default(),
            streams: Arc::new(StreamSlots {
                max: config.max_streams_per_user.max(1),
                users: DashMap::default(),
                next: AtomicU64::new(0),
            }),
        }
    }

    /// Takes one request from `user`'s bucket, or says when the next one is allowed.
    pub fn charge(&self, user: &str) -> Result<(), ApiError> {
        let Some(rate) = &self.rate else {
            return Ok(());
        };
        rate.check_key(&Box::from(user)).map_err(|not_until| {
            crate::telemetry::rate_limited();
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::TooManyRequests {
                // Whole seconds, rounded up: a client waiting that long is served.
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// A live-stream slot for `user`; when the user already holds the maximum, their
    /// oldest stream is told to end.
    pub fn open_stream(&self, user: &str) -> StreamSlot {
        self.streams.open(user)
    }

    /// Forgets the buckets of users that are full again (they would allow a burst
    /// anyway), so memory follows active users.
    pub fn sweep(&self) {
        if let Some(rate) = &self.rate {
            rate.retain_recent();
            rate.shrink_to_fit();
        }
    }
}

/// Verifies the request's token (fetching the JWKS again for an unknown `kid`), requires
/// one of `roles`, and charges the caller's request budget.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    roles: &[&str],
) -> Result<Principal, ApiError> {
    let principal = state.auth.authenticate_fresh(headers).await?;
    if !roles.iter().any(|role| principal.has_role(role)) {
        return Err(ApiError::InvalidRole);
    }
    state.limits.charge(&principal.user_id)?;
    Ok(principal)
}

/// Every user's open streams, oldest first.
struct StreamSlots {
    max: usize,
    users: DashMap<Box<str>, VecDeque<(u64, CancellationToken)>, RandomState>,
    next: AtomicU64,
}

impl StreamSlots {
    fn open(self: &Arc<Self>, user: &str) -> StreamSlot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let replaced = CancellationToken::new();
        let mut open = self.users.entry(Box::from(user)).or_default();
        while open.len() >= self.max {
            if let Some((_, oldest)) = open.pop_front() {
                oldest.cancel();
            }
        }
        open.push_back((id, replaced.clone()));
        StreamSlot {
            slots: Arc::clone(self),
            user: Box::from(user),
            id,
            replaced,
        }
    }

    fn close(&self, user: &str, id: u64) {
        self.users.remove_if_mut(user, |_, open| {
            open.retain(|(i, _)| *i != id);
            open.is_empty()
        });
    }
}

/// One open live stream; dropping it frees the slot.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    user: Box<str>,
    id: u64,
    /// Cancelled when a newer stream of the same user took this one's place.
    pub replaced: CancellationToken,
}

impl std::fmt::Debug for StreamSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSlots")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.slots.close(&self.user, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_over_the_rate_waits_and_others_do_not() {
        let limits = UserLimits::new(LimitsConfig {
            rate_per_minute: 60,
            burst: 3,
            max_streams_per_user: 2,
        });
        for _ in 0..3 {
            limits.charge("alice").expect("within the burst");
        }
        let Err(ApiError::TooManyRequests { retry_after_secs }) = limits.charge("alice") else {
            panic!("the fourth request is refused");
        };
        assert_eq!(retry_after_secs, 1, "one request a second refills");
        limits.charge("bob").expect("another user is unaffected");
    }

    #[test]
    fn a_zero_rate_is_no_limit() {
        let limits = UserLimits::new(LimitsConfig {
            rate_per_minute: 0,
            ..LimitsConfig::default()
        });
        for _ in 0..10_000 {
            limits.charge("alice").expect("no limit");
        }
    }

    #[test]
    fn a_stream_beyond_the_cap_replaces_the_oldest() {
        let limits = UserLimits::new(LimitsConfig {
            max_streams_per_user: 2,
            ..LimitsConfig::default()
        });
        let first = limits.open_stream("alice");
        let second = limits.open_stream("alice");
        let other = limits.open_stream("bob");
        assert!(!first.replaced.is_cancelled());
        let third = limits.open_stream("alice");
        assert!(first.replaced.is_cancelled(), "the oldest is told to end");
        assert!(!second.replaced.is_cancelled() && !third.replaced.is_cancelled());
        assert!(!other.replaced.is_cancelled(), "another user is unaffected");
        // A stream that ended frees its slot.
        drop(second);
        let fourth = limits.open_stream("alice");
        assert!(!third.replaced.is_cancelled() && !fourth.replaced.is_cancelled());
        drop((first, third, fourth, other));
        assert!(
            limits.streams.users.is_empty(),
            "nothing is kept for no stream"
        );
    }
}
