//! Live push: what changes the fold makes, delivered as they happen to whoever watches
//! (per-user streams for browsers and dashboards, and the change feed topic for downstream
//! services).

pub mod feed;
pub mod hub;
pub mod queue;

pub use feed::{ChangeFeed, FeedBarrier};
pub use hub::{Change, ChangeHub, Frame, Subscription};
