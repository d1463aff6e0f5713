//! The event ids a session has applied, kept as 64-bit hashes: what catches a producer's
//! retry that comes back at a new position.

use std::collections::HashSet;

use foldhash::fast::FixedState;

use super::FIXED;

/// Hashes of the event ids a session has applied. Most sessions apply a few dozen
/// events: their hashes sit in one short list that is scanned in place (a few cache
/// lines, nothing rehashed as it grows). A session that goes on moves them to a set.
#[derive(Debug, Clone)]
pub(super) enum AppliedIds {
    List(Vec<u64>),
    Set(HashSet<u64, FixedState>),
}

/// The most hashes kept in a list (256 bytes, four cache lines).
const LIST_MAX: usize = 32;

impl Default for AppliedIds {
    fn default() -> Self {
        Self::List(Vec::new())
    }
}

impl AppliedIds {
    /// Hashes restored from an image.
    pub(super) fn from_hashes(hashes: Vec<u64>) -> Self {
        if hashes.len() <= LIST_MAX {
            Self::List(hashes)
        } else {
            let mut set = HashSet::with_capacity_and_hasher(hashes.len(), FIXED);
            set.extend(hashes);
            Self::Set(set)
        }
    }

    /// Records `hash`; false if it was recorded before.
    pub(super) fn insert(&mut self, hash: u64) -> bool {
        match self {
            Self::List(list) if list.contains(&hash) => false,
            Self::List(list) if list.len() < LIST_MAX => {
                list.push(hash);
                true
            }
            Self::List(list) => {
                let mut set = HashSet::with_capacity_and_hasher(2 * LIST_MAX, FIXED);
                set.extend(list.drain(..));
                set.insert(hash);
                *self = Self::Set(set);
                true
            }
            Self::Set(set) => set.insert(hash),
        }
    }

    /// Every hash recorded, in no particular order.
    pub(super) fn to_vec(&self) -> Vec<u64> {
        match self {
            Self::List(list) => list.clone(),
            Self::Set(set) => set.iter().copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_new_once_whether_listed_or_in_the_set() {
        let mut ids = AppliedIds::default();
        for n in 0..100u64 {
            assert!(ids.insert(n * 7919), "{n} is new");
            assert_eq!(matches!(ids, AppliedIds::Set(_)), n >= LIST_MAX as u64);
            for seen in 0..=n {
                assert!(!ids.insert(seen * 7919), "{seen} was seen");
            }
        }
        let mut all = ids.to_vec();
        all.sort_unstable();
        assert_eq!(all, (0..100u64).map(|n| n * 7919).collect::<Vec<_>>());
        let restored = AppliedIds::from_hashes(all.clone());
        assert!(matches!(restored, AppliedIds::Set(_)));
        let few = AppliedIds::from_hashes(all[..3].to_vec());
        assert!(matches!(few, AppliedIds::List(ref l) if l.len() == 3));
    }
}
