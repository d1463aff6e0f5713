//! The partition table: every assigned partition's stream number, position, ends seen at
//! start and whether its resume point has been checked. Pure bookkeeping, no Kafka client:
//! the consumer asks it what to do with each record it reads.
//!
//! A partition resumed from a checkpoint is *unchecked* until the broker proves it continues
//! at the saved offset. Some brokers serve a fetch from an offset inside a record batch by
//! starting at the next batch (tansu 0.6 does: it returns the batches whose base offset is
//! at or after the fetch offset), so a checkpoint taken mid-batch would resume past the rest
//! of that batch and lose it without a word. So a resumed partition is read from a little
//! before its saved offset (dropping what was applied already), until the broker serves a
//! record before the saved offset, or the record at it, or the consumer's position passes
//! it with no record (offsets without records: transaction markers). A first record after
//! the saved offset means the broker skipped: the table asks for a rewind further back,
//! widening it until a record at or before the saved offset comes, or the partition's
//! start is reached (then the gap really is the broker's, retention's say, and is logged).
//! An unchecked partition counts as not caught up.

use std::collections::HashMap;

use crate::position::{StreamName, StreamPosition};
use crate::projection::Position;

/// How far before its saved offset a resumed partition is read from at first; each rewind
/// after that doubles the distance.
const FIRST_REWIND: i64 = 64;

/// Where the consumer starts reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// Its first retained record.
    Beginning,
    /// A saved position (from a checkpoint).
    Offset(i64),
}

/// What to do with a record just read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Apply it at this position.
    Apply(Position),
    /// Drop it: it lies below the partition's position, so it was read (and applied)
    /// before; a rewind, or a broker that redelivers, brings such records.
    Reread,
    /// Drop it and read the partition again from this offset: the broker skipped past the
    /// saved position.
    Rewind(i64),
    /// Not a partition this table holds.
    Unknown,
}

/// Whether a partition's resume point is known to be sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Read from the beginning, or the broker served the record at (or before) the saved
    /// position.
    Checked,
    /// Resumed at `saved`, reading from `from` (at or before it); no record has proven the
    /// broker continues at `saved` yet.
    Unchecked {
        saved: i64,
        from: i64,
        /// Whether a rewind moved the read since the assignment: the consumer's position
        /// may then belong to the read it replaced.
        rewound: bool,
    },
}

/// One partition's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// The stream number its positions carry in the fold.
    pub stream: u32,
    /// The offset of the next record to read.
    pub next_offset: i64,
    /// The low watermark seen at start: a rewind never goes below it.
    pub low: i64,
    /// The high watermark seen at start: reaching it is catching up.
    pub start_high: i64,
    resume: Resume,
}

impl Partition {
    /// Whether it is being read from before its saved offset, which is yet to be proven.
    fn reading_before_saved(&self) -> bool {
        matches!(self.resume, Resume::Unchecked { saved, from, .. } if from < saved)
    }
}

/// Every partition of the topics, by topic (in the configured order), then partition id.
#[derive(Debug, Clone, Default)]
pub struct PartitionTable {
    topics: Vec<String>,
    partitions: Vec<Vec<Partition>>,
    next_stream: u32,
    /// Where a restored checkpoint left each partition: (topic, partition) → (stream,
    /// next offset).
    saved: HashMap<(String, i32), (u32, i64)>,
}

impl PartitionTable {
    /// An empty table for these topics.
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            ..Self::default()
        }
    }

    /// Resumes each saved partition from its saved offset, under its saved stream number
    /// (a checkpoint lists its streams in stream-number order).
    pub fn resume_from(&mut self, streams: &[StreamPosition]) {
        self.saved = streams
            .iter()
            .enumerate()
            .map(|(stream, s)| {
                (
                    (s.name.topic.clone(), s.name.partition),
                    (stream as u32, s.next_offset),
                )
            })
            .collect();
        self.next_stream = streams.len() as u32;
    }

    /// The topics, in the configured order.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Whether any partition has been laid out.
    pub fn is_empty(&self) -> bool {
        self.partitions.iter().all(Vec::is_empty)
    }

    /// How many partitions there are.
    pub fn len(&self) -> usize {
        self.partitions.iter().map(Vec::len).sum()
    }

    /// Lays out every partition from its (low, high) watermarks at start, by topic, and
    /// says where to start each: saved ones at their saved offset, the rest at the
    /// beginning.
    pub fn lay_out(&mut self, watermarks: Vec<Vec<(i64, i64)>>) -> Vec<(String, i32, StartAt)> {
        let mut starts = Vec::new();
        let mut partitions = Vec::with_capacity(watermarks.len());
        for (t, offsets) in watermarks.into_iter().enumerate() {
            let topic = &self.topics[t];
            let mut parts = Vec::with_capacity(offsets.len());
            for (p, (low, high)) in offsets.into_iter().enumerate() {
                let p = p as i32;
                let (partition, start) = match self.saved.get(&(topic.clone(), p)) {
                    Some(&(stream, saved)) => {
                        // A little before the saved offset, and no later than the last
                        // record the broker reports (a broker whose high watermark is its
                        // last batch's base + 1 must serve that batch).
                        let from = saved
                            .saturating_sub(FIRST_REWIND)
                            .min(high - 1)
                            .max(low)
                            .min(saved);
                        (
                            Partition {
                                stream,
                                next_offset: saved,
                                low,
                                start_high: high,
                                resume: Resume::Unchecked {
                                    saved,
                                    from,
                                    rewound: false,
                                },
                            },
                            StartAt::Offset(from),
                        )
                    }
                    None => {
                        let stream = self.next_stream;
                        self.next_stream += 1;
                        (
                            Partition {
                                stream,
                                next_offset: low,
                                low,
                                start_high: high,
                                resume: Resume::Checked,
                            },
                            StartAt::Beginning,
                        )
                    }
                };
                starts.push((topic.clone(), p, start));
                parts.push(partition);
            }
            partitions.push(parts);
        }
        self.partitions = partitions;
        starts
    }

    /// Adds the partitions beyond those known, given each topic's partition count now;
    /// returns the new ones, to read from the beginning.
    pub fn add_partitions(&mut self, counts: &[i32]) -> Vec<(String, i32)> {
        let mut added = Vec::new();
        for (t, &count) in counts.iter().enumerate() {
            let Some(known) = self.partitions.get_mut(t) else {
                continue;
            };
            for p in known.len() as i32..count {
                known.push(Partition {
                    stream: self.next_stream,
                    next_offset: 0,
                    low: 0,
                    start_high: 0,
                    resume: Resume::Checked,
                });
                self.next_stream += 1;
                added.push((self.topics[t].clone(), p));
            }
        }
        added
    }

    fn get_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Partition> {
        let t = self.topics.iter().position(|t| t == topic)?;
        self.partitions
            .get_mut(t)?
            .get_mut(usize::try_from(partition).ok()?)
    }

    /// Decides what to do with the record at `offset` of a partition, and moves the
    /// partition's position past it when it is to be applied.
    pub fn admit(&mut self, topic: &str, partition: i32, offset: i64) -> Admit {
        let Some(p) = self.get_mut(topic, partition) else {
            return Admit::Unknown;
        };
        if offset < p.next_offset {
            // The broker served a record before the saved position: it reads on from a
            // batch start, so nothing after the saved position is skipped.
            if matches!(p.resume, Resume::Unchecked { .. }) {
                p.resume = Resume::Checked;
            }
            return Admit::Reread;
        }
        if let Resume::Unchecked { saved, from, .. } = p.resume {
            if offset > saved {
                let back = (saved - from).saturating_mul(2).max(FIRST_REWIND);
                let to = saved.saturating_sub(back).max(p.low);
                if to < from {
                    p.resume = Resume::Unchecked {
                        saved,
                        from: to,
                        rewound: true,
                    };
                    return Admit::Rewind(to);
                }
                tracing::warn!(
                    topic,
                    partition,
                    saved,
                    first = offset,
                    "resumed partition has no records between its saved position and the first one served (retention, or offsets without records)"
                );
            }
            p.resume = Resume::Checked;
        }
        p.next_offset = offset + 1;
        Admit::Apply(Position {
            stream: p.stream,
            offset,
        })
    }

    /// A rewind asked for by [`admit`](Self::admit) could not be made: the next record
    /// read after the saved position asks again.
    pub fn rewind_failed(&mut self, topic: &str, partition: i32) {
        if let Some(p) = self.get_mut(topic, partition)
            && let Resume::Unchecked { saved, rewound, .. } = p.resume
        {
            p.resume = Resume::Unchecked {
                saved,
                from: saved,
                rewound,
            };
        }
    }

    /// Takes the consumer's position of a partition (last read + 1), which at a
    /// partition's end can be past the last record (transaction markers).
    pub fn sync_position(&mut self, topic: &str, partition: i32, next: i64) {
        let Some(p) = self.get_mut(topic, partition) else {
            return;
        };
        match p.resume {
            Resume::Checked => p.next_offset = p.next_offset.max(next),
            // The read from before the saved offset passed it without a record: only
            // offsets without records (markers) lay there.
            Resume::Unchecked {
                saved,
                rewound: false,
                ..
            } if next >= saved => {
                p.resume = Resume::Checked;
                p.next_offset = p.next_offset.max(next);
            }
            // Still to pass it, or the position may be that of a read a rewind replaced.
            Resume::Unchecked { .. } => {}
        }
    }

    /// How many partitions are behind the end offsets seen at start, and by how many
    /// records in all.
    pub fn behind_start(&self) -> (usize, i64) {
        self.partitions
            .iter()
            .flatten()
            .filter(|p| p.next_offset < p.start_high || p.reading_before_saved())
            .fold((0, 0), |(n, records), p| {
                (n + 1, records + (p.start_high - p.next_offset).max(0))
            })
    }

    /// Records not yet read, given each partition's latest high watermark (`None`: not
    /// known, counted as nothing to read).
    pub fn lag(&self, high: impl Fn(&str, i32) -> Option<i64>) -> u64 {
        self.iter()
            .map(|(topic, partition, p)| {
                let high = high(topic, partition).unwrap_or(p.next_offset);
                u64::try_from(high - p.next_offset).unwrap_or(0)
            })
            .sum()
    }

    /// Every partition with its topic and id, by topic, then partition.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, &Partition)> {
        self.topics
            .iter()
            .zip(&self.partitions)
            .flat_map(|(topic, parts)| {
                parts
                    .iter()
                    .enumerate()
                    .map(move |(p, part)| (topic.as_str(), p as i32, part))
            })
    }

    /// Every partition's position, in stream-number order (as a checkpoint saves them).
    pub fn positions(&self) -> Vec<StreamPosition> {
        let mut positions: Vec<(u32, StreamPosition)> = self
            .iter()
            .map(|(topic, partition, p)| {
                (
                    p.stream,
                    StreamPosition {
                        name: StreamName {
                            topic: topic.to_owned(),
                            partition,
                        },
                        next_offset: p.next_offset,
                    },
                )
            })
            .collect();
        positions.sort_by_key(|(stream, _)| *stream);
        positions.into_iter().map(|(_, p)| p).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(topics: &[&str]) -> PartitionTable {
        PartitionTable::new(topics.iter().map(|t| (*t).to_owned()).collect())
    }

    fn saved(topic: &str, partition: i32, next_offset: i64) -> StreamPosition {
        StreamPosition {
            name: StreamName {
                topic: topic.to_owned(),
                partition,
            },
            next_offset,
        }
    }

    /// How a broker serves a fetch from inside a record batch.
    #[derive(Clone, Copy, PartialEq)]
    enum Broker {
        /// From the batch holding the offset; the client drops the records before it.
        ApacheKafka,
        /// From the next batch whose base is at or after the offset, and with a high
        /// watermark of the last batch's base + 1 (tansu 0.6).
        SkipsIntoNextBatch,
    }

    /// A partition as record batches from offset 0: (records, whether it is a control
    /// batch such as a transaction marker, which the client passes over without a record).
    struct Log {
        broker: Broker,
        batches: Vec<(i64, i64, bool)>,
    }

    impl Log {
        fn new(broker: Broker, batches: &[(i64, bool)]) -> Self {
            let mut base = 0;
            let batches = batches
                .iter()
                .map(|&(n, control)| {
                    let batch = (base, base + n, control);
                    base += n;
                    batch
                })
                .collect();
            Self { broker, batches }
        }

        fn data(broker: Broker, sizes: &[i64]) -> Self {
            Self::new(
                broker,
                &sizes.iter().map(|&n| (n, false)).collect::<Vec<_>>(),
            )
        }

        /// (low, high) watermarks as the broker reports them.
        fn watermarks(&self) -> (i64, i64) {
            let end = self.batches.last().map_or(0, |b| b.1);
            match self.broker {
                Broker::ApacheKafka => (0, end),
                Broker::SkipsIntoNextBatch => (0, self.batches.last().map_or(0, |b| b.0 + 1)),
            }
        }

        /// A fetch from `from` to the end: the data records delivered (the client drops
        /// those before `from`) and the consumer's position after it.
        fn read_from(&self, from: i64) -> (Vec<i64>, i64) {
            let served = self
                .batches
                .iter()
                .filter(|(base, end, _)| match self.broker {
                    Broker::ApacheKafka => *end > from,
                    Broker::SkipsIntoNextBatch => *base >= from && from < self.watermarks().1,
                });
            let mut records = Vec::new();
            let mut position = from;
            for &(base, end, control) in served {
                if !control {
                    records.extend((base..end).filter(|o| *o >= from));
                }
                position = end;
            }
            (records, position)
        }
    }

    /// Resumes a table at `saved_offset` of `log` and reads it as a consumer would,
    /// following rewinds, with the end-of-partition position at the end; returns the
    /// offsets applied and the table.
    fn resume(log: &Log, saved_offset: i64) -> (Vec<i64>, PartitionTable) {
        let mut t = table(&["calls"]);
        t.resume_from(&[saved("calls", 0, saved_offset)]);
        let starts = t.lay_out(vec![vec![log.watermarks()]]);
        let StartAt::Offset(mut from) = starts[0].2 else {
            panic!("a resumed partition starts at an offset");
        };
        let mut applied = Vec::new();
        'fetch: loop {
            let (records, position) = log.read_from(from);
            for offset in records {
                match t.admit("calls", 0, offset) {
                    Admit::Apply(position) => applied.push(position.offset),
                    Admit::Reread => {}
                    Admit::Rewind(to) => {
                        from = to;
                        continue 'fetch;
                    }
                    Admit::Unknown => panic!("unknown partition"),
                }
            }
            t.sync_position("calls", 0, position);
            return (applied, t);
        }
    }

    #[test]
    fn a_resume_inside_a_batch_loses_nothing_on_either_broker() {
        let sizes = [3, 5, 9, 2, 7, 1, 4, 90, 6];
        for broker in [Broker::ApacheKafka, Broker::SkipsIntoNextBatch] {
            let log = Log::data(broker, &sizes);
            // Inside the third batch, inside the big one beyond the first rewind, inside
            // the last, at a batch's start, and at the end.
            for saved_offset in [3 + 5 + 4, 31 + 70, 124, 121, 3, 127] {
                let (applied, t) = resume(&log, saved_offset);
                assert_eq!(
                    applied,
                    (saved_offset..127).collect::<Vec<_>>(),
                    "resumed at {saved_offset}"
                );
                assert_eq!(t.behind_start(), (0, 0));
            }
        }
        let log = Log::data(Broker::SkipsIntoNextBatch, &[3, 5, 9]);
        assert_eq!(
            log.read_from(4).0,
            vec![8, 9, 10, 11, 12, 13, 14, 15, 16],
            "the model skips"
        );
        assert!(
            log.read_from(9).0.is_empty(),
            "and serves nothing past its high watermark"
        );
    }

    #[test]
    fn a_resume_reads_at_most_the_first_rewind_again_from_apache_kafka() {
        let log = Log::data(Broker::ApacheKafka, &[100, 100, 100]);
        let mut t = table(&["calls"]);
        t.resume_from(&[saved("calls", 0, 250)]);
        let starts = t.lay_out(vec![vec![log.watermarks()]]);
        assert_eq!(starts[0].2, StartAt::Offset(250 - FIRST_REWIND));
        assert_eq!(
            t.behind_start(),
            (1, 50),
            "not caught up before it is checked"
        );
        let (applied, _) = resume(&log, 250);
        assert_eq!(applied, (250..300).collect::<Vec<_>>());
    }

    #[test]
    fn a_resume_at_a_transaction_marker_is_caught_up_without_a_record() {
        // Data, then a commit marker at offset 10 that ends the partition: saved at 11.
        let log = Log::new(Broker::ApacheKafka, &[(10, false), (1, true)]);
        let (applied, t) = resume(&log, 11);
        assert!(applied.is_empty());
        assert_eq!(t.behind_start(), (0, 0));
        // Saved at the marker itself: the position passes it.
        let (applied, t) = resume(&log, 10);
        assert!(applied.is_empty());
        assert_eq!(t.behind_start(), (0, 0));
        // Nothing but a marker before the saved offset (a transaction that wrote to other
        // partitions only): no record comes at all, the position passes it.
        let log = Log::new(Broker::ApacheKafka, &[(1, true)]);
        let (applied, t) = resume(&log, 1);
        assert!(applied.is_empty());
        assert_eq!(t.behind_start(), (0, 0));
    }

    #[test]
    fn a_gap_that_is_the_brokers_own_is_accepted_once_the_start_is_reached() {
        // Retention removed everything before 100 after the checkpoint was taken at 40.
        let mut t = table(&["calls"]);
        t.resume_from(&[saved("calls", 0, 40)]);
        let starts = t.lay_out(vec![vec![(100, 120)]]);
        assert_eq!(starts[0].2, StartAt::Offset(40));
        assert_eq!(
            t.admit("calls", 0, 100),
            Admit::Apply(Position {
                stream: 0,
                offset: 100
            })
        );
        // Offsets with no records before the first one served: a rewind to the start
        // finds nothing, then it is accepted.
        let mut t = table(&["calls"]);
        t.resume_from(&[saved("calls", 0, 200)]);
        assert_eq!(t.lay_out(vec![vec![(0, 300)]])[0].2, StartAt::Offset(136));
        assert_eq!(t.admit("calls", 0, 260), Admit::Rewind(72));
        assert_eq!(t.admit("calls", 0, 260), Admit::Rewind(0));
        assert_eq!(
            t.admit("calls", 0, 260),
            Admit::Apply(Position {
                stream: 0,
                offset: 260
            })
        );
    }

    #[test]
    fn records_below_the_position_are_dropped_as_reread() {
        let mut t = table(&["calls"]);
        t.lay_out(vec![vec![(0, 5)]]);
        assert!(matches!(t.admit("calls", 0, 0), Admit::Apply(_)));
        assert!(matches!(t.admit("calls", 0, 1), Admit::Apply(_)));
        assert_eq!(t.admit("calls", 0, 0), Admit::Reread);
        assert_eq!(t.admit("calls", 0, 1), Admit::Reread);
        assert_eq!(t.admit("other", 0, 1), Admit::Unknown);
        assert_eq!(t.admit("calls", 7, 1), Admit::Unknown);
    }

    #[test]
    fn a_rewind_ignores_old_positions_and_a_failed_one_is_asked_again() {
        let mut t = table(&["calls"]);
        t.resume_from(&[saved("calls", 0, 30)]);
        assert_eq!(t.lay_out(vec![vec![(0, 40)]])[0].2, StartAt::Offset(0));
        let mut t = table(&["calls"]);
        t.resume_from(&[saved("calls", 0, 300)]);
        assert_eq!(t.lay_out(vec![vec![(0, 400)]])[0].2, StartAt::Offset(236));
        assert_eq!(t.admit("calls", 0, 330), Admit::Rewind(172));
        // The position of the read the rewind replaced.
        t.sync_position("calls", 0, 331);
        assert_eq!(t.behind_start(), (1, 100));
        t.rewind_failed("calls", 0);
        assert_eq!(t.admit("calls", 0, 330), Admit::Rewind(236));
        assert_eq!(t.admit("calls", 0, 298), Admit::Reread);
        assert_eq!(t.admit("calls", 0, 299), Admit::Reread);
        assert!(matches!(t.admit("calls", 0, 300), Admit::Apply(_)));
        assert_eq!(t.behind_start(), (1, 99));
    }

    #[test]
    fn streams_are_numbered_in_order_and_kept_across_a_resume() {
        let mut t = table(&["calls", "members"]);
        let starts = t.lay_out(vec![vec![(0, 5), (0, 0)], vec![(2, 9)]]);
        assert_eq!(
            starts,
            vec![
                ("calls".to_owned(), 0, StartAt::Beginning),
                ("calls".to_owned(), 1, StartAt::Beginning),
                ("members".to_owned(), 0, StartAt::Beginning),
            ]
        );
        assert_eq!(t.behind_start(), (2, 12));
        assert_eq!(t.add_partitions(&[3, 1]), vec![("calls".to_owned(), 2)]);
        assert!(matches!(
            t.admit("members", 0, 2),
            Admit::Apply(Position {
                stream: 2,
                offset: 2
            })
        ));
        assert!(matches!(
            t.admit("calls", 2, 0),
            Admit::Apply(Position {
                stream: 3,
                offset: 0
            })
        ));
        let saved = t.positions();
        assert_eq!(
            saved
                .iter()
                .map(|s| (s.name.topic.as_str(), s.name.partition, s.next_offset))
                .collect::<Vec<_>>(),
            vec![
                ("calls", 0, 0),
                ("calls", 1, 0),
                ("members", 0, 3),
                ("calls", 2, 1)
            ]
        );
        assert_eq!(t.lag(|topic, _| (topic == "calls").then_some(4)), 4 + 4 + 3);

        let mut resumed = table(&["calls", "members"]);
        resumed.resume_from(&saved);
        let starts = resumed.lay_out(vec![vec![(0, 5), (0, 0), (0, 1)], vec![(2, 9)]]);
        assert_eq!(starts[3], ("members".to_owned(), 0, StartAt::Offset(2)));
        assert!(matches!(resumed.admit("calls", 2, 0), Admit::Reread));
        assert!(matches!(
            resumed.admit("members", 0, 3),
            Admit::Apply(Position {
                stream: 2,
                offset: 3
            })
        ));
        assert_eq!(resumed.len(), 4);
    }
}
