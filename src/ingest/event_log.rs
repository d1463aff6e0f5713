//! The event-log file source: one proto3-JSON `SessionEvent` per line. A bad line is
//! reported with its line number and skipped; the rest still loads. Positions are line
//! numbers, so loading the same file twice applies nothing twice.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::events::decode::{Decoded, decode_json};
use crate::projection::{Fold, Outcome, Position};

/// The stream number event-log positions carry.
pub const EVENT_LOG_STREAM: u32 = 0;

/// What loading an event log did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Events the fold applied.
    pub applied: u64,
    /// Events waiting for their session's start.
    pub buffered: u64,
    /// Events the fold skipped, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Lines of kinds this schema does not know.
    pub unknown_kinds: u64,
    /// Bad lines, by reason code.
    pub bad: BTreeMap<&'static str, u64>,
}

impl LoadReport {
    /// Bad lines in all.
    pub fn bad_total(&self) -> u64 {
        self.bad.values().sum()
    }
}

/// Folds every line of the file at `path`.
pub fn load_file(path: &Path, fold: &mut Fold) -> io::Result<LoadReport> {
    let file = File::open(path)?;
    load(BufReader::new(file), &path.display().to_string(), fold)
}

/// Folds every line read from `reader`; `name` labels the source in log lines.
pub fn load(mut reader: impl BufRead, name: &str, fold: &mut Fold) -> io::Result<LoadReport> {
    let mut report = LoadReport::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(report);
        }
        report.lines += 1;
        let line_number = report.lines;
        let decoded = match std::str::from_utf8(&buf) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => decode_json(line.trim_end()),
            Err(e) => Decoded::Bad(crate::events::validate::BadRecord::Undecodable(format!(
                "not UTF-8: {e}"
            ))),
        };
        match decoded {
            Decoded::Event(event) => {
                let position = Position {
                    stream: EVENT_LOG_STREAM,
                    offset: i64::try_from(line_number).unwrap_or(i64::MAX),
                };
                match fold.apply(event, position) {
                    Outcome::Applied => report.applied += 1,
                    Outcome::Buffered => report.buffered += 1,
                    Outcome::Skipped(reason) => {
                        *report.skipped.entry(reason.code()).or_default() += 1
                    }
                }
            }
            Decoded::UnknownKind => {
                report.unknown_kinds += 1;
                tracing::debug!(
                    source = name,
                    line = line_number,
                    "skipped an event of unknown kind"
                );
            }
            Decoded::Bad(reason) => {
                *report.bad.entry(reason.code()).or_default() += 1;
                tracing::warn!(source = name, line = line_number, %reason, "skipped a bad line");
            }
        }
    }
}
