//! Operator endpoints: `GET /admin/state` (what the replica holds, as a digest, with its
//! positions and counters) and `GET /sessions/{id}/history` (why a session looks the way
//! it does).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::limits;
use crate::projection::{HistoryEntry, Position, StepResult};
use crate::status::Status;

/// The role `/admin/state` requires.
pub const ADMIN_ROLE: &str = "SystemAdministrator";
/// The roles that may read a session's history.
pub const HISTORY_ROLES: [&str; 2] = ["Manager", ADMIN_ROLE];

/// How long `/admin/state` waits for the source to take its view between two records.
const VIEW_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The body of `GET /admin/state`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminState {
    /// [`crate::digest::digest`] of the projection now.
    pub digest: String,
    /// The highest event time accepted (RFC 3339), if any.
    pub watermark: Option<String>,
    /// `ready`, or why not.
    pub readiness: String,
    /// Each stream's next offset to read.
    pub positions: Vec<PositionJson>,
    /// The counters.
    pub counts: Counts,
    /// The snapshot this run started from.
    pub restored_from: Option<String>,
    /// The last snapshot written.
    pub last_snapshot: Option<SnapshotJson>,
    /// What the checkpoint topic's writer did last (written, skipped, failed).
    pub last_topic_checkpoint: Option<String>,
}

/// A stream position, by topic and partition.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PositionJson {
    /// The topic (or file).
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset (of the next record to read, in `/admin/state`; of the event itself, in a
    /// history).
    pub offset: i64,
}

/// The last snapshot written.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotJson {
    /// Its file.
    pub file: String,
    /// Its size.
    pub bytes: u64,
    /// How long writing it took.
    pub write_millis: u64,
}

/// What the fold and the source have counted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Sessions active now.
    pub active_sessions: usize,
    /// Sessions waiting for their start.
    pub pending_sessions: usize,
    /// Ended sessions remembered.
    pub tombstones: usize,
    /// Records read.
    pub records: u64,
    /// Events applied, by kind.
    pub applied: BTreeMap<&'static str, u64>,
    /// Events not applied, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Bad records, by reason.
    pub bad: BTreeMap<&'static str, u64>,
    /// Records of unknown kinds.
    pub unknown_kinds: u64,
    /// Bad records dead-lettered.
    pub dead_lettered: u64,
    /// Records read again below a partition's position and dropped before the fold.
    pub reread: u64,
    /// Sessions evicted as idle.
    pub evicted_idle: u64,
    /// Pending sessions dropped.
    pub orphaned_sessions: u64,
    /// Events dropped with them.
    pub orphaned_events: u64,
    /// Tombstones forgotten.
    pub tombstones_expired: u64,
}

pub(super) async fn state(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(e) = limits::authorize(&state, &headers, &[ADMIN_ROLE]).await {
        return e.into_response();
    }
    // Counts, positions and digest from one point of the fold, not read a few records
    // apart.
    let view = state
        .status
        .consistent_view(&state.projection, VIEW_WAIT)
        .await;
    let report = &view.report;
    let sessions = view.sessions.clone();
    let active_sessions = sessions.len();
    let digest = tokio::task::spawn_blocking(move || crate::digest::digest_sessions(sessions))
        .await
        .unwrap_or_default();
    let body = AdminState {
        digest,
        watermark: report.watermark.map(|w| w.to_api_string()),
        readiness: state
            .readiness
            .not_ready_reason()
            .unwrap_or_else(|| "ready".to_owned()),
        positions: report
            .positions
            .iter()
            .map(|p| PositionJson {
                topic: p.name.topic.clone(),
                partition: p.name.partition,
                offset: p.next_offset,
            })
            .collect(),
        counts: Counts {
            active_sessions,
            pending_sessions: report.pending_sessions,
            tombstones: report.tombstones,
            records: report.counts.records,
            applied: report.stats.applied(),
            skipped: report
                .stats
                .skipped
                .iter()
                .map(|(reason, n)| (reason.code(), *n))
                .collect(),
            bad: report.counts.bad.clone(),
            unknown_kinds: report.counts.unknown_kinds,
            dead_lettered: report.counts.dead_lettered,
            reread: report.counts.reread,
            evicted_idle: report.stats.evicted_idle,
            orphaned_sessions: report.stats.orphaned_sessions,
            orphaned_events: report.stats.orphaned_events,
            tombstones_expired: report.stats.tombstones_expired,
        },
        restored_from: report.restored_from.clone(),
        last_snapshot: report
            .last_snapshot
            .as_ref()
            .map(|(file, bytes, write_millis)| SnapshotJson {
                file: file.clone(),
                bytes: *bytes,
                write_millis: *write_millis,
            }),
        last_topic_checkpoint: report.last_topic_checkpoint.clone(),
    };
    Json(body).into_response()
}

/// The body of `GET /sessions/{id}/history`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionHistory {
    /// The session.
    pub id: String,
    /// How many events are kept per session.
    pub depth: usize,
    /// Its last applied events, oldest first.
    pub events: Vec<HistoryJson>,
}

/// One applied event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryJson {
    /// Where it came from.
    pub position: Option<PositionJson>,
    /// The producer's event id.
    pub event_id: Option<String>,
    /// Its kind.
    pub kind: &'static str,
    /// When it happened.
    pub occurred_at: String,
    /// Who caused it.
    pub actor_id: Option<String>,
    /// `started`, or `applied`.
    pub effect: &'static str,
    /// The SessionInfo fields it changed.
    pub changed: Vec<&'static str>,
}

/// A position by its stream's name.
pub fn position_json(status: &Status, position: Position) -> Option<PositionJson> {
    status.stream_name(position).map(|name| PositionJson {
        topic: name.topic,
        partition: name.partition,
        offset: position.offset,
    })
}

fn history_json(status: &Status, entry: HistoryEntry) -> HistoryJson {
    let (effect, changed) = match entry.result {
        StepResult::Started => ("started", Vec::new()),
        StepResult::Applied(fields) => ("applied", fields.names().collect()),
        _ => ("other", Vec::new()),
    };
    HistoryJson {
        position: position_json(status, entry.position),
        event_id: entry.event_id.map(String::from),
        kind: entry.kind,
        occurred_at: entry.occurred_at.to_api_string(),
        actor_id: entry.actor_id.map(String::from),
        effect,
        changed,
    }
}

pub(super) async fn history(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = limits::authorize(&state, &headers, &HISTORY_ROLES).await {
        return e.into_response();
    }
    let Some(entries) = state.projection.history(&id) else {
        return ApiError::SessionNotFound.into_response();
    };
    Json(SessionHistory {
        id,
        depth: state.history_depth,
        events: entries
            .into_iter()
            .map(|e| history_json(&state.status, e))
            .collect(),
    })
    .into_response()
}
