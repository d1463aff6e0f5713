//! `sessiond replay`: folds the event stream (an event-log file, or the topics from the
//! beginning) up to a cutoff and prints what the projection held then: every session, one
//! session, or one user's exact `GetActiveSessions` response, or just its digest; with
//! `--trace`, every event on the way and what it did.

pub mod trace;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::contract::Format;
use crate::contract::dto::{GetActiveSessionsResponse, SessionInfo};
use crate::events::decode::{Decoded, decode_record};
use crate::ingest::event_log;
use crate::ingest::kafka::bounded::{self, BoundedError, BoundedRecord, Ends, Plan, TimeLookup};
use crate::kafka::KafkaSettings;
use crate::position::StreamName;
use crate::projection::{Fold, FoldConfig, Position, Projection};
use crate::record::{NotFolded, RecordCounts, fold_record};
use crate::time::EventTime;
use trace::TraceSink;

/// Where the events come from.
#[derive(Debug, Clone)]
pub enum ReplaySource {
    /// An event-log file (`-` for standard input).
    EventLog(std::path::PathBuf),
    /// The topics, from the beginning.
    Kafka {
        /// How to reach the brokers.
        settings: KafkaSettings,
        /// The call and member topics.
        topics: Vec<String>,
    },
}

/// Where the replay stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cutoff {
    /// The whole file, or the topics up to the end offsets seen at start.
    #[default]
    End,
    /// Only events that occurred at or before `until` (by `occurred_at`).
    Time {
        /// The cutoff.
        until: EventTime,
        /// From brokers, each partition is read up to its first record stamped later
        /// than `until` + this (the broker's timestamp index finds it), on the premise
        /// that no event reaches the log later than this after it occurred; `None`
        /// reads to the end offsets seen at start. Ignored for a file.
        lateness: Option<std::time::Duration>,
    },
    /// Each named partition up to (not including) this offset; the others to the end
    /// offsets seen at start.
    Offsets(BTreeMap<(String, i32), i64>),
}

/// What to print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    /// Every active session, in id order.
    #[default]
    All,
    /// One session.
    Session(String),
    /// One user's `GetActiveSessions` response, exactly as the API would send it.
    User(String),
}

/// Everything `replay` needs.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The events.
    pub source: ReplaySource,
    /// Where to stop.
    pub cutoff: Cutoff,
    /// What to print.
    pub selection: Selection,
    /// Print every event on the way.
    pub trace: bool,
    /// JSON or XML.
    pub format: Format,
    /// Print the digest instead of the sessions.
    pub digest: bool,
    /// The fold's event-time windows (as the service was run with).
    pub fold: FoldConfig,
}

/// What a replay counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// What the records were and what became of them (within the cutoff's offsets).
    pub counts: RecordCounts,
    /// Sessions active at the cutoff.
    pub active_sessions: usize,
    /// Sessions waiting for their start at the cutoff.
    pub pending_sessions: usize,
    /// The highest event time applied.
    pub watermark: Option<EventTime>,
    /// From brokers with a time cutoff: whether the broker's timestamp index bounded the
    /// read.
    pub time_lookup: Option<TimeLookup>,
    /// The longest an event read took to reach the log: its record's timestamp minus its
    /// `occurred_at` (from brokers only; record timestamps are milliseconds).
    pub max_delay: Option<std::time::Duration>,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The topics could not be read.
    #[error(transparent)]
    Kafka(#[from] BoundedError),
    /// `--until-offsets` only makes sense against a broker.
    #[error("--until-offsets names topic partitions; use --until TIME with --events")]
    OffsetsWithFile,
    /// The session asked for is not active at the cutoff.
    #[error("session {id} is not active at the cutoff ({state})")]
    NotActive {
        /// The session.
        id: String,
        /// What it is instead.
        state: &'static str,
    },
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

/// The fold with what feeds and watches it.
struct Replayer {
    fold: Fold,
    cutoff_time: Option<EventTime>,
    trace: Option<TraceSink>,
    summary: ReplaySummary,
}

impl Replayer {
    /// Notes how long after it occurred an event's record was stamped.
    fn delay(&mut self, decoded: &Decoded, record_millis: Option<i64>) {
        let (Decoded::Event(event), Some(millis)) = (decoded, record_millis) else {
            return;
        };
        let stamped = i128::from(millis) * 1_000_000;
        let delay = stamped - i128::from(event.occurred_at.0);
        if let Ok(nanos) = u64::try_from(delay) {
            let delay = std::time::Duration::from_nanos(nanos);
            self.summary.max_delay = Some(self.summary.max_delay.map_or(delay, |d| d.max(delay)));
        }
    }

    fn record(&mut self, position: Position, decoded: Decoded) {
        if let Decoded::Event(event) = &decoded
            && self.cutoff_time.is_some_and(|t| event.occurred_at > t)
        {
            self.summary.counts.records += 1;
            self.summary.counts.after_cutoff += 1;
            if let Some(trace) = &self.trace {
                trace.not_folded(
                    position,
                    Some(&event.session_id),
                    event.kind.name(),
                    Some(event.occurred_at),
                    "not folded: occurred after --until",
                );
            }
            return;
        }
        let taken = fold_record(&mut self.fold, &mut self.summary.counts, position, decoded);
        if let (Err(not_folded), Some(trace)) = (taken, &self.trace) {
            let effect = match not_folded {
                NotFolded::UnknownKind => "skipped (unknown kind)".to_owned(),
                NotFolded::Bad(reason) => format!("skipped (bad: {}): {reason}", reason.code()),
            };
            trace.not_folded(position, None, "?", None, &effect);
        }
    }
}

/// A progress bar on a terminal; hidden otherwise, so scripts and pipes stay quiet.
fn progress(total: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Folds the source up to the cutoff; returns the projection and the counts. Trace lines
/// (with `options.trace`) go to `out` as the fold goes.
pub fn fold(
    options: &ReplayOptions,
    out: Box<dyn std::io::Write + Send>,
) -> Result<(Arc<Projection>, Fold, ReplaySummary), ReplayError> {
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(options.fold, Arc::clone(&projection));
    let trace = options.trace.then(|| {
        let session = match &options.selection {
            Selection::Session(id) => Some(id.as_str()),
            _ => None,
        };
        TraceSink::new(out, session)
    });
    if let Some(trace) = &trace {
        fold.observe(trace.observer(Arc::clone(&projection)));
    }
    let mut replayer = Replayer {
        fold,
        cutoff_time: match &options.cutoff {
            Cutoff::Time { until, .. } => Some(*until),
            _ => None,
        },
        trace,
        summary: ReplaySummary::default(),
    };
    match &options.source {
        ReplaySource::EventLog(path) => {
            if matches!(options.cutoff, Cutoff::Offsets(_)) {
                return Err(ReplayError::OffsetsWithFile);
            }
            replay_file(path, &mut replayer)?;
        }
        ReplaySource::Kafka { settings, topics } => {
            let ends = match &options.cutoff {
                Cutoff::Offsets(offsets) => Ends::Offsets(offsets.clone()),
                Cutoff::Time {
                    until,
                    lateness: Some(lateness),
                } => Ends::StampedAfter {
                    millis: stamp_millis(until.saturating_add(*lateness)),
                    until: *until,
                },
                _ => Ends::HighWatermarks,
            };
            let bar = progress(0, "records");
            let trace = replayer.trace.clone();
            let plan = bounded::read(
                settings,
                topics,
                &ends,
                |plan: &Plan| {
                    if let Some(trace) = &trace {
                        trace.set_streams(plan.partitions.iter().map(|p| p.name.clone()).collect());
                    }
                    bar.set_length(plan.total());
                },
                |record: BoundedRecord<'_>| {
                    bar.inc(1);
                    let position = Position {
                        stream: record.stream,
                        offset: record.offset,
                    };
                    let decoded = decode_record(record.payload.unwrap_or_default(), record.key);
                    replayer.delay(&decoded, record.timestamp);
                    replayer.record(position, decoded);
                },
            )?;
            bar.finish_and_clear();
            if matches!(options.cutoff, Cutoff::Time { .. }) {
                replayer.summary.time_lookup = Some(plan.time_lookup);
            }
        }
    }
    if let Some(trace) = &replayer.trace {
        trace.flush();
    }
    let mut summary = replayer.summary;
    summary.active_sessions = projection.len();
    summary.pending_sessions = replayer.fold.pending_count();
    summary.watermark = replayer.fold.watermark();
    Ok((projection, replayer.fold, summary))
}

/// The last whole millisecond at or before `t`: record timestamps are milliseconds.
fn stamp_millis(t: EventTime) -> i64 {
    t.0.div_euclid(1_000_000)
}

fn replay_file(path: &std::path::Path, replayer: &mut Replayer) -> Result<(), ReplayError> {
    let name = path.display().to_string();
    let io = |source| ReplayError::Io {
        path: name.clone(),
        source,
    };
    let (reader, size): (Box<dyn BufRead>, u64) = if path.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), 0)
    } else {
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(std::io::BufReader::new(file)), size)
    };
    if let Some(trace) = &replayer.trace {
        trace.set_streams(vec![StreamName {
            topic: name.clone(),
            partition: 0,
        }]);
    }
    let bar = progress(size, "bytes");
    // Line numbers are the positions, as `serve --events` numbers them.
    event_log::read_lines(reader, |position, decoded, read| {
        bar.inc(read as u64);
        replayer.record(position, decoded);
    })
    .map_err(io)?;
    bar.finish_and_clear();
    Ok(())
}

/// What `replay` prints for the selection, in the format (without the digest).
pub fn render(
    projection: &Projection,
    fold: &Fold,
    selection: &Selection,
    format: Format,
) -> Result<Vec<u8>, ReplayError> {
    let sessions: Vec<SessionInfo> = match selection {
        Selection::All => projection
            .all()
            .iter()
            .map(|s| SessionInfo::from(&**s))
            .collect(),
        Selection::User(user) => projection
            .sessions_for_user(user)
            .iter()
            .map(|s| SessionInfo::from(&**s))
            .collect(),
        Selection::Session(id) => match projection.get(id) {
            Some(s) => {
                let info = SessionInfo::from(&*s);
                return Ok(match format {
                    Format::Json => serde_json::to_vec_pretty(&info).unwrap_or_default(),
                    _ => crate::contract::render(
                        format,
                        &GetActiveSessionsResponse {
                            sessions: vec![info],
                        },
                    ),
                });
            }
            None => {
                return Err(ReplayError::NotActive {
                    id: id.clone(),
                    state: fold.session_phase(id),
                });
            }
        },
    };
    let response = GetActiveSessionsResponse { sessions };
    Ok(match (selection, format) {
        (Selection::Session(_) | Selection::All, Format::Json) => {
            serde_json::to_vec_pretty(&response).unwrap_or_default()
        }
        // A user's response is byte for byte what the API sends.
        _ => crate::contract::render(format, &response),
    })
}
