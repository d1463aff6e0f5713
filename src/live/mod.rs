//! Live push: what changes the fold makes, delivered as they happen to whoever watches
//! (per-user streams for browsers and dashboards).

pub mod hub;

pub use hub::{Change, ChangeHub, Frame, Subscription};
