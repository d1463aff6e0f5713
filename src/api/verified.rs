//! Tokens already verified, so a client that sends the same token on every request pays
//! for one signature check, not one per request. Bounded (the least useful entries go
//! first), keyed by the whole token string, and only ever holding tokens that verified.
//!
//! A hit is only as good as a fresh verification would be: it expires when the token
//! does (with the same leeway), and it counts only while the JWKS holds the very key set
//! it was verified against, so a refresh that drops a key (rotation) drops its tokens
//! too. Roles are checked on every request from the cached principal, as before.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::keys::VerifyKey;

/// Tokens kept at most.
pub const CAPACITY: usize = 16_384;
/// Longer tokens are verified every time rather than kept (a bound on the cache's memory).
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The JWKS key set a token was verified against (`None` without a JWKS).
pub type KeySet = Option<Arc<Vec<VerifyKey>>>;

struct Entry<P> {
    principal: P,
    expires_at: u64,
    keys: KeySet,
}

/// The cache, of what each token verified as (`P`, the caller).
pub struct VerifiedTokens<P> {
    entries: quick_cache::sync::Cache<Box<str>, Arc<Entry<P>>>,
    leeway: u64,
}

impl<P> std::fmt::Debug for VerifiedTokens<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("len", &self.entries.len())
            .finish()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl<P: Clone> VerifiedTokens<P> {
    /// A cache of at most `capacity` tokens, each kept until `leeway` after its `exp`.
    pub fn new(capacity: usize, leeway: Duration) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            leeway: leeway.as_secs(),
        }
    }

    /// The caller `token` was verified as, if it was, against `keys` (the JWKS keys held
    /// now), and it has not expired since.
    pub fn get(&self, token: &str, keys: &KeySet) -> Option<P> {
        let entry = self.entries.get(token)?;
        let same_keys = match (&entry.keys, keys) {
            (None, None) => true,
            (Some(then), Some(now)) => Arc::ptr_eq(then, now),
            _ => false,
        };
        // As jsonwebtoken decides it: expired once `exp < now - leeway`.
        let live = entry.expires_at >= now().saturating_sub(self.leeway);
        if same_keys && live {
            Some(entry.principal.clone())
        } else {
            self.entries.remove(token);
            None
        }
    }

    /// Remembers a token that has just verified against `keys` as `principal`, with
    /// `exp` (seconds since the epoch) `expires_at`.
    pub fn insert(&self, token: &str, principal: P, expires_at: u64, keys: KeySet) {
        if token.len() > MAX_TOKEN_BYTES {
            return;
        }
        self.entries.insert(
            Box::from(token),
            Arc::new(Entry {
                principal,
                expires_at,
                keys,
            }),
        );
    }

    /// How many tokens are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeySet {
        Some(Arc::new(Vec::new()))
    }

    #[test]
    fn a_hit_needs_the_same_keys_and_an_unexpired_token() {
        let cache = VerifiedTokens::new(8, Duration::from_secs(60));
        let held = keys();
        cache.insert("t1", "alice", now() + 3600, held.clone());
        assert_eq!(cache.get("t1", &held), Some("alice"));
        assert_eq!(cache.get("t2", &held), None);
        // The JWKS was fetched again (a rotation): the token must verify anew.
        assert_eq!(cache.get("t1", &keys()), None);
        assert_eq!(cache.get("t1", &held), None, "a stale entry is dropped");
        // Expired past the leeway: gone; within it: still good, as jsonwebtoken decides.
        cache.insert("old", "bob", now() - 61, None);
        assert_eq!(cache.get("old", &None), None);
        cache.insert("late", "bob", now() - 30, None);
        assert_eq!(cache.get("late", &None), Some("bob"));
        assert_eq!(cache.get("late", &held), None);
    }

    #[test]
    fn it_is_bounded_and_skips_huge_tokens() {
        let cache = VerifiedTokens::new(16, Duration::from_secs(60));
        for n in 0..1000 {
            cache.insert(&format!("token-{n}"), n, now() + 3600, None);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        let huge = "x".repeat(MAX_TOKEN_BYTES + 1);
        cache.insert(&huge, 1, now() + 3600, None);
        assert_eq!(cache.get(&huge, &None), None);
    }
}
