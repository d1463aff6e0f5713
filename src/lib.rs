//! sessiond: a live, in-memory projection of every active telephony session, folded from
//! the platform's call and member events and served as Evo Voice's `GetActiveSessions` API.

pub mod api;
pub mod codec;
pub mod demo;
pub mod digest;
pub mod events;
pub mod history;
pub mod ingest;
pub mod live;
pub mod model;
pub mod projection;
pub mod readiness;
pub mod replay;
pub mod server;
pub mod simulate;
pub mod snapshot;
pub mod status;
pub mod telemetry;
pub mod time;
