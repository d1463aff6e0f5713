//! `sessiond replay`: folds the event stream (an event-log file, or the topics from the
//! beginning) up to a cutoff and prints what the projection held then: every session, one
//! session, or one user's exact `GetActiveSessions` response, or just its digest; with
//! `--trace`, every event on the way and what it did.

pub mod trace;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::api::dto::{GetActiveSessionsResponse, SessionInfo};
use crate::api::negotiate::Format;
use crate::events::decode::{Decoded, decode_json, decode_record};
use crate::ingest::kafka::KafkaSettings;
use crate::ingest::kafka::bounded::{self, BoundedError, BoundedRecord, Plan};
use crate::projection::{Fold, FoldConfig, Outcome, Position, Projection};
use crate::status::StreamName;
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
    /// Only events that occurred at or before this time (by `occurred_at`).
    Time(EventTime),
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
    /// Records read (within the cutoff's offsets).
    pub records: u64,
    /// Events applied.
    pub applied: u64,
    /// Events waiting for a start when the replay stopped, or applied after waiting.
    pub buffered: u64,
    /// Events not applied, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Bad records, by reason.
    pub bad: BTreeMap<&'static str, u64>,
    /// Records of unknown kinds.
    pub unknown_kinds: u64,
    /// Events left out because they occurred after `--until`.
    pub after_cutoff: u64,
    /// Sessions active at the cutoff.
    pub active_sessions: usize,
    /// Sessions waiting for their start at the cutoff.
    pub pending_sessions: usize,
    /// The highest event time applied.
    pub watermark: Option<EventTime>,
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
    fn record(&mut self, position: Position, decoded: Decoded) {
        self.summary.records += 1;
        match decoded {
            Decoded::Event(event) => {
                if self.cutoff_time.is_some_and(|t| event.occurred_at > t) {
                    self.summary.after_cutoff += 1;
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
                match self.fold.apply(event, position) {
                    Outcome::Applied => self.summary.applied += 1,
                    Outcome::Buffered => self.summary.buffered += 1,
                    Outcome::Skipped(reason) => {
                        *self.summary.skipped.entry(reason.code()).or_default() += 1;
                    }
                }
            }
            Decoded::UnknownKind => {
                self.summary.unknown_kinds += 1;
                if let Some(trace) = &self.trace {
                    trace.not_folded(position, None, "?", None, "skipped (unknown kind)");
                }
            }
            Decoded::Bad(reason) => {
                *self.summary.bad.entry(reason.code()).or_default() += 1;
                if let Some(trace) = &self.trace {
                    trace.not_folded(
                        position,
                        None,
                        "?",
                        None,
                        &format!("skipped (bad: {}): {reason}", reason.code()),
                    );
                }
            }
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
            Cutoff::Time(t) => Some(*t),
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
            let until = match &options.cutoff {
                Cutoff::Offsets(offsets) => offsets.clone(),
                _ => BTreeMap::new(),
            };
            let bar = progress(0, "records");
            let trace = replayer.trace.clone();
            bounded::read(
                settings,
                topics,
                &until,
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
                    replayer.record(
                        position,
                        decode_record(record.payload.unwrap_or_default(), record.key),
                    );
                },
            )?;
            bar.finish_and_clear();
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
    let mut reader = reader;
    let mut buf = Vec::new();
    // Line numbers are the positions, as `serve --events` numbers them.
    let mut line_number: i64 = 0;
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if read == 0 {
            break;
        }
        bar.inc(read as u64);
        line_number += 1;
        let decoded = match std::str::from_utf8(&buf) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => decode_json(line.trim_end()),
            Err(e) => Decoded::Bad(crate::events::validate::BadRecord::Undecodable(format!(
                "not UTF-8: {e}"
            ))),
        };
        let position = Position {
            stream: crate::ingest::event_log::EVENT_LOG_STREAM,
            offset: line_number,
        };
        replayer.record(position, decoded);
    }
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
                    Format::Xml => crate::api::render(
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
        // A user's response is byte for byte what the API sends.
        (Selection::User(_), _) | (_, Format::Xml) => crate::api::render(format, &response),
        (_, Format::Json) => serde_json::to_vec_pretty(&response).unwrap_or_default(),
    })
}
