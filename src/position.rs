//! Where a record came from: a stream (a topic partition, or the event-log file) and an
//! offset in it. The lowest layer: the fold keeps positions for redelivery, sources and
//! checkpoints keep them per stream.

/// A record's place: the source's number for its stream, and its offset (or line number)
/// there. Offsets only grow within a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The source's number for the stream.
    pub stream: u32,
    /// The record's offset (or line number) in the stream.
    pub offset: i64,
}

/// A stream's name: a topic partition, or the event-log file (partition 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName {
    /// The topic (or file name).
    pub topic: String,
    /// The partition (0 for a file).
    pub partition: i32,
}

/// One stream's progress: the offset of the next record to read. A checkpoint saves one
/// per stream, in stream-number order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPosition {
    /// Which stream.
    pub name: StreamName,
    /// The next offset to read (the line count, for a file).
    pub next_offset: i64,
}
