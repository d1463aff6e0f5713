//! The event-log file source: one proto3-JSON `SessionEvent` per line. A bad line is
//! reported with its line number and skipped; the rest still loads. Positions are line
//! numbers, so loading the same file twice applies nothing twice.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::events::decode::{Decoded, decode_json};
use crate::events::validate::BadRecord;
use crate::position::Position;
use crate::projection::Fold;
use crate::record::{NotFolded, RecordCounts, fold_record};

/// The stream number event-log positions carry.
pub const EVENT_LOG_STREAM: u32 = 0;

/// What loading an event log did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Lines read, blank ones included: the next position is one past it.
    pub lines: u64,
    /// What the records were and what became of them.
    pub counts: RecordCounts,
}

/// Folds every line of the file at `path`.
pub fn load_file(path: &Path, fold: &mut Fold) -> io::Result<LoadReport> {
    let file = File::open(path)?;
    load(BufReader::new(file), &path.display().to_string(), fold)
}

/// Folds every line read from `reader`; `name` labels the source in log lines.
pub fn load(reader: impl BufRead, name: &str, fold: &mut Fold) -> io::Result<LoadReport> {
    let mut counts = RecordCounts::default();
    let lines = read_lines(reader, |position, decoded, _| {
        match fold_record(fold, &mut counts, position, decoded) {
            Ok(_) => {}
            Err(NotFolded::UnknownKind) => tracing::debug!(
                source = name,
                line = position.offset,
                "skipped an event of unknown kind"
            ),
            Err(NotFolded::Bad(reason)) => {
                tracing::warn!(source = name, line = position.offset, %reason, "skipped a bad line");
            }
        }
    })?;
    Ok(LoadReport { lines, counts })
}

/// Reads an event log line by line, handing each non-blank line to `each` decoded, at its
/// position (line numbers, from 1), with the bytes it took; returns how many lines there
/// were, blank ones included.
pub fn read_lines(
    mut reader: impl BufRead,
    mut each: impl FnMut(Position, Decoded, usize),
) -> io::Result<u64> {
    let mut buf = Vec::new();
    let mut lines = 0;
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf)?;
        if read == 0 {
            return Ok(lines);
        }
        lines += 1;
        let decoded = match std::str::from_utf8(&buf) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => decode_json(line.trim_end()),
            Err(e) => Decoded::Bad(BadRecord::Undecodable(format!("not UTF-8: {e}"))),
        };
        let position = Position {
            stream: EVENT_LOG_STREAM,
            offset: i64::try_from(lines).unwrap_or(i64::MAX),
        };
        each(position, decoded, read);
    }
}
