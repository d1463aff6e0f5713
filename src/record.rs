//! A record on its way into the fold, from any source (the event-log file, Kafka, replay):
//! once decoded by its source, it is folded and counted here, in the one counter type every
//! source shares.

use std::collections::BTreeMap;

use crate::events::decode::Decoded;
use crate::events::validate::BadRecord;
use crate::position::Position;
use crate::projection::{Fold, Outcome};

/// What reading records found, besides what the fold counts itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordCounts {
    /// Records read and taken (for a file: its non-blank lines).
    pub records: u64,
    /// Events the fold applied on arrival.
    pub applied: u64,
    /// Events that waited on their session's start on arrival.
    pub buffered: u64,
    /// Events the fold skipped, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Bad records, by reason code.
    pub bad: BTreeMap<&'static str, u64>,
    /// Records of kinds this schema does not know.
    pub unknown_kinds: u64,
    /// Bad records copied to a dead-letter topic.
    pub dead_lettered: u64,
    /// Records read again below a partition's position (after checking a resume point,
    /// or redelivered by a broker) and dropped before the fold: not in `records`.
    pub reread: u64,
    /// Events left out because they occurred after replay's `--until`.
    pub after_cutoff: u64,
}

impl RecordCounts {
    /// Bad records in all.
    pub fn bad_total(&self) -> u64 {
        self.bad.values().sum()
    }
}

/// Why a record was not folded.
#[derive(Debug, Clone, PartialEq)]
pub enum NotFolded {
    /// A kind from a newer producer: counted and skipped.
    UnknownKind,
    /// A record that can never be applied: the source logs it and may dead-letter it.
    Bad(BadRecord),
}

/// Folds one decoded record read at `position` and counts it.
pub fn fold_record(
    fold: &mut Fold,
    counts: &mut RecordCounts,
    position: Position,
    decoded: Decoded,
) -> Result<Outcome, NotFolded> {
    counts.records += 1;
    match decoded {
        Decoded::Event(event) => {
            let outcome = fold.apply(event, position);
            match outcome {
                Outcome::Applied => counts.applied += 1,
                Outcome::Buffered => counts.buffered += 1,
                Outcome::Skipped(reason) => *counts.skipped.entry(reason.code()).or_default() += 1,
            }
            Ok(outcome)
        }
        Decoded::UnknownKind => {
            counts.unknown_kinds += 1;
            Err(NotFolded::UnknownKind)
        }
        Decoded::Bad(reason) => {
            *counts.bad.entry(reason.code()).or_default() += 1;
            Err(NotFolded::Bad(reason))
        }
    }
}
