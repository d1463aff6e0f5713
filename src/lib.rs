//! sessiond: a live, in-memory projection of every active telephony session, folded from
//! the platform's call and member events and served as Evo Voice's `GetActiveSessions` API.
//!
//! # Glossary
//! - **event**: one validated fact about a session (`events::Event`), from the call or the
//!   member topic; its producer's form is the wire `SessionEvent`.
//! - **record**: what a source reads before it is an event: a Kafka message or one line of
//!   an event-log file. It decodes to an event, an unknown kind, or a bad record.
//! - **partition**: a Kafka topic partition; **stream**: the fold's number for where
//!   records come from (a partition, or the event-log file), carried in every
//!   **position** (stream, offset).
//! - **source**: what reads records and folds them (the event-log file, Kafka); the
//!   **driver** runs a source and owns readiness, status, metrics and checkpoint timing.
//! - **fold**: the single writer that applies events to the **projection** (the active
//!   sessions by id and by user, which the API reads). A session's **book** is the fold's
//!   own bookkeeping of it; **pending** sessions wait for their start, **tombstones**
//!   remember ended ones.
//! - **change**: what one event did to a session, as observers hear it: an upsert or a
//!   removal.
//! - **checkpoint**: the fold's image and every stream's position, as one value;
//!   **snapshot** is its file in `--snapshot-dir`. The first frame of a live stream is
//!   its *snapshot frame*.
//! - **live stream**: a user's Server-Sent Events (`/sessions/active/stream`);
//!   **change feed**: every change produced to a compacted topic.
//! - **contract**: the response shapes of the published API page (DTOs, JSON, XML).
//!
//! # Layers
//! The modules below are declared lowest layer first: a module uses only modules declared
//! before it (a unit test checks every `crate::` path), so dependencies point one way:
//! events and positions, the fold, codecs and the contract, Kafka clients, then the sources
//! and sinks, the serve loop, and the API and tools on top.

pub mod model;
pub mod time;
pub mod position;
pub mod events;
pub mod projection;
pub mod record;
pub mod contract;
pub mod digest;
pub mod codec;
pub mod kafka;
pub mod simulate;
pub mod telemetry;
pub mod readiness;
pub mod status;
pub mod live;
pub mod snapshot;
pub mod ingest;
pub mod replay;
pub mod api;
pub mod edge;
pub mod server;
pub mod demo;

#[cfg(test)]
mod layers;
