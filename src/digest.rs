//! A digest of the visible projection: every active session exactly as the API writes it
//! (SessionInfo JSON), in id order. Two replicas with the same digest serve the same
//! sessions; the fold makes it independent of how the two topics interleaved.

use sha2::{Digest, Sha256};

use crate::contract::dto::SessionInfo;
use crate::projection::{Projection, Session};

/// `sha256:<hex>` of the projection's sessions in id order.
pub fn digest(projection: &Projection) -> String {
    digest_sessions(projection.all_unordered())
}

/// [`digest`] of these sessions, in any order.
pub fn digest_sessions(mut sessions: Vec<std::sync::Arc<Session>>) -> String {
    sessions.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let mut hasher = Sha256::new();
    for session in sessions {
        let json = serde_json::to_vec(&SessionInfo::from(&*session)).unwrap_or_default();
        // Length-prefixed, so no two different lists of sessions hash the same bytes.
        hasher.update((json.len() as u64).to_le_bytes());
        hasher.update(&json);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}
