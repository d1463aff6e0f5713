//! `replay --trace`: one line per event, in the order the fold saw them, with its position,
//! kind and what it did: the fields it changed (with their new values) or why it was not
//! applied.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use crate::contract::dto::SessionInfo;
use crate::position::StreamName;
use crate::projection::{FoldObserver, Position, Projection, Step, StepResult};
use crate::time::EventTime;

/// Where trace lines go, shared by the fold's observer and the replay's own notes (bad
/// records, unknown kinds, events after the cutoff), so both keep the log's order.
#[derive(Clone)]
pub struct TraceSink {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    streams: Arc<Mutex<Vec<StreamName>>>,
    /// Only this session's events, when set.
    session: Option<Arc<str>>,
}

impl std::fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSink")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// The longest value a trace line shows in full.
const MAX_VALUE: usize = 160;

impl TraceSink {
    /// Writes to `out`; with `session`, only that session's events.
    pub fn new(out: Box<dyn Write + Send>, session: Option<&str>) -> Self {
        Self {
            out: Arc::new(Mutex::new(out)),
            streams: Arc::default(),
            session: session.map(Arc::from),
        }
    }

    /// Names the streams, in stream-number order.
    pub fn set_streams(&self, names: Vec<StreamName>) {
        *self.streams.lock().unwrap_or_else(PoisonError::into_inner) = names;
    }

    /// `topic:partition@offset`.
    pub fn position(&self, position: Position) -> String {
        let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        match streams.get(position.stream as usize) {
            Some(name) => format!("{}:{}@{}", name.topic, name.partition, position.offset),
            None => format!("stream{}@{}", position.stream, position.offset),
        }
    }

    /// Whether events of `session` are traced.
    pub fn wants(&self, session: Option<&str>) -> bool {
        match (&self.session, session) {
            (None, _) => true,
            (Some(want), Some(got)) => **want == *got,
            (Some(_), None) => false,
        }
    }

    /// Writes one line.
    pub fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        // A closed pipe (`| head`) ends the output, not the replay.
        let _ = writeln!(out, "{text}");
    }

    /// A record that never reached the fold: bad, of an unknown kind, or after the cutoff.
    pub fn not_folded(
        &self,
        position: Position,
        session: Option<&str>,
        kind: &str,
        occurred_at: Option<EventTime>,
        why: &str,
    ) {
        if !self.wants(session) {
            return;
        }
        self.line(&format!(
            "{} {} {} {kind} -> {why}",
            self.position(position),
            occurred_at.map_or_else(|| "-".to_owned(), |t| t.to_api_string()),
            session.unwrap_or("-"),
        ));
    }

    /// Flushes the output.
    pub fn flush(&self) {
        let _ = self
            .out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush();
    }

    /// An observer that traces each step of the fold writing `projection`.
    pub fn observer(&self, projection: Arc<Projection>) -> Box<dyn FoldObserver> {
        Box::new(Tracer {
            sink: self.clone(),
            projection,
        })
    }
}

struct Tracer {
    sink: TraceSink,
    projection: Arc<Projection>,
}

impl Tracer {
    fn effect(&self, step: &Step<'_>) -> String {
        match step.result {
            StepResult::Started => match self.projection.get(step.session_id) {
                Some(s) => format!(
                    "started: endpointId={}, channel={}, direction={}",
                    s.endpoint_id.as_deref().unwrap_or("null"),
                    s.channel.as_str(),
                    s.direction.as_str()
                ),
                None => "started".to_owned(),
            },
            StepResult::Applied(fields) if fields.is_empty() => {
                "applied: no field changed".to_owned()
            }
            StepResult::Applied(fields) => {
                let values = self
                    .projection
                    .get(step.session_id)
                    .and_then(|s| serde_json::to_value(SessionInfo::from(&*s)).ok());
                let changes: Vec<String> = fields
                    .names()
                    .map(|name| {
                        let value = values.as_ref().and_then(|v| v.get(name));
                        format!("{name}={}", shorten(&describe(name, value)))
                    })
                    .collect();
                format!("applied: {}", changes.join(", "))
            }
            StepResult::Ended => "ended: session removed, tombstone kept".to_owned(),
            StepResult::Buffered => "buffered: waiting for SessionStarted".to_owned(),
            StepResult::Skipped(reason) => format!("skipped ({}): {}", reason.code(), why(reason)),
            StepResult::Orphaned => {
                "skipped (orphan): SessionStarted never came within the orphan window".to_owned()
            }
        }
    }
}

fn why(reason: crate::projection::SkipReason) -> &'static str {
    use crate::projection::SkipReason;
    match reason {
        SkipReason::Duplicate => "this position or event id was already applied to the session",
        SkipReason::Late => "the session had already ended",
        SkipReason::UnknownMember => "the session has no member with that identity",
    }
}

/// A field's new value, compactly: members as `identity(role, callState[, muted])`, the
/// log by its newest entry, everything else as JSON.
fn describe(name: &str, value: Option<&serde_json::Value>) -> String {
    let Some(value) = value else {
        return "null".to_owned();
    };
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(|x| x.as_str())
            .unwrap_or("?")
            .to_owned()
    };
    match (name, value.as_array()) {
        ("members", Some(members)) => {
            let list: Vec<String> = members
                .iter()
                .map(|m| {
                    let muted = if m.get("muted").and_then(|x| x.as_bool()) == Some(true) {
                        ", muted"
                    } else {
                        ""
                    };
                    format!(
                        "{}({}, {}{muted})",
                        text(m, "identity"),
                        text(m, "role"),
                        text(m, "callState")
                    )
                })
                .collect();
            format!("[{}]", list.join(", "))
        }
        ("log", Some(entries)) => match entries.last() {
            Some(last) => format!(
                "{} entries, newest {:?}",
                entries.len(),
                text(last, "message")
            ),
            None => "0 entries".to_owned(),
        },
        _ => value.to_string(),
    }
}

fn shorten(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

impl FoldObserver for Tracer {
    fn wants_steps(&self) -> bool {
        true
    }

    fn step(&mut self, step: &Step<'_>) {
        if !self.sink.wants(Some(step.session_id)) {
            return;
        }
        let line = format!(
            "{} {} {} {}{} -> {}",
            self.sink.position(step.position),
            step.occurred_at.to_api_string(),
            step.session_id,
            step.kind,
            step.event_id
                .map_or_else(String::new, |id| format!(" [{id}]")),
            self.effect(step)
        );
        self.sink.line(&line);
    }
}
