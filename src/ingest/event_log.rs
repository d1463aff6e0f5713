//! The event-log file source: one proto3-JSON `SessionEvent` per line. A bad line is
//! reported with its line number and skipped; the rest still loads. Positions are line
//! numbers, so loading the same file twice applies nothing twice.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::driver::{Polled, Progress, Source};
use crate::events::decode::{Decoded, decode_json};
use crate::events::validate::BadRecord;
use crate::position::{Position, StreamName, StreamPosition};
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
    reader: impl BufRead,
    mut each: impl FnMut(Position, Decoded, usize),
) -> io::Result<u64> {
    let mut lines = Lines::new(reader);
    while let Some((position, decoded, read)) = lines.next_record()? {
        each(position, decoded, read);
    }
    Ok(lines.count)
}

/// An event log's records, one decoded line at a time.
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    /// Lines read so far, blank ones included.
    count: u64,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader`.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            count: 0,
        }
    }

    /// Lines read so far, blank ones included.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The next non-blank line, decoded, at its position, with the bytes read for it
    /// (blank lines skipped on the way included); `None` at the end.
    pub fn next_record(&mut self) -> io::Result<Option<(Position, Decoded, usize)>> {
        let mut read_total = 0;
        loop {
            self.buf.clear();
            let read = self.reader.read_until(b'\n', &mut self.buf)?;
            if read == 0 {
                return Ok(None);
            }
            read_total += read;
            self.count += 1;
            let decoded = match std::str::from_utf8(&self.buf) {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => decode_json(line.trim_end()),
                Err(e) => Decoded::Bad(BadRecord::Undecodable(format!("not UTF-8: {e}"))),
            };
            let position = Position {
                stream: EVENT_LOG_STREAM,
                offset: i64::try_from(self.count).unwrap_or(i64::MAX),
            };
            return Ok(Some((position, decoded, read_total)));
        }
    }
}

/// An event-log file as a source for the [`Driver`](crate::ingest::driver::Driver):
/// folded once, line by line; ready at its end.
pub struct EventLogSource {
    name: String,
    lines: Lines<Box<dyn BufRead + Send>>,
    /// Whether the end was reached, or reading failed (and why).
    ended: Option<Result<(), String>>,
}

impl std::fmt::Debug for EventLogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLogSource")
            .field("name", &self.name)
            .field("lines", &self.lines.count)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl EventLogSource {
    /// The file at `path`, opened now so a missing file is an error before anything starts.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        Ok(Self::new(
            path.display().to_string(),
            Box::new(BufReader::new(file)),
        ))
    }

    /// Lines from `reader`, named `name` in logs and positions.
    pub fn new(name: String, reader: Box<dyn BufRead + Send>) -> Self {
        Self {
            name,
            lines: Lines::new(reader),
            ended: None,
        }
    }
}

impl Source for EventLogSource {
    fn start(&mut self, _stop: &CancellationToken, waiting: &dyn Fn(String)) {
        waiting(format!("loading: reading {}", self.name));
    }

    fn step(&mut self, fold: &mut Fold, counts: &mut RecordCounts, _timeout: Duration) -> Polled {
        if self.ended.is_some() {
            return Polled::Exhausted;
        }
        match self.lines.next_record() {
            Ok(Some((position, decoded, _))) => {
                match fold_record(fold, counts, position, decoded) {
                    Ok(_) => {}
                    Err(NotFolded::UnknownKind) => tracing::debug!(
                        source = self.name,
                        line = position.offset,
                        "skipped an event of unknown kind"
                    ),
                    Err(NotFolded::Bad(reason)) => {
                        tracing::warn!(source = self.name, line = position.offset, %reason, "skipped a bad line");
                    }
                }
                Polled::Record
            }
            Ok(None) => {
                tracing::info!(
                    file = self.name,
                    lines = self.lines.count(),
                    "event log loaded"
                );
                self.ended = Some(Ok(()));
                Polled::Exhausted
            }
            Err(error) => {
                tracing::error!(file = self.name, line = self.lines.count() + 1, %error, "reading the event log failed");
                self.ended = Some(Err(format!(
                    "reading {} failed at line {}: {error}",
                    self.name,
                    self.lines.count() + 1
                )));
                Polled::Exhausted
            }
        }
    }

    fn positions(&self) -> Vec<StreamPosition> {
        vec![StreamPosition {
            name: StreamName {
                topic: self.name.clone(),
                partition: 0,
            },
            next_offset: i64::try_from(self.lines.count() + 1).unwrap_or(i64::MAX),
        }]
    }

    fn progress(&mut self) -> Progress {
        match &self.ended {
            None => Progress::Loading(format!(
                "loading: reading {} (line {})",
                self.name,
                self.lines.count()
            )),
            Some(Ok(())) => Progress::Ready,
            // Never ready on part of the file.
            Some(Err(why)) => Progress::Loading(format!("not loaded: {why}")),
        }
    }
}
