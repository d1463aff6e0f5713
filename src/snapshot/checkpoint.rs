//! A checkpoint: the fold's image and the stream positions it corresponds to, as one
//! value, and its protobuf form (`proto/sessiond/snapshot/v1/snapshot.proto`).

use std::collections::BTreeMap;
use std::sync::Arc;

use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};

use crate::codec::{event_to_wire, session_from_wire, session_to_wire};
use crate::events::KIND_NAMES;
use crate::events::validate::validate;
use crate::position::{StreamName, StreamPosition};
use crate::projection::{BookImage, FoldImage, FoldStats, Position, SessionState, SkipReason};
use crate::time::EventTime;

/// Types generated from `proto/sessiond/snapshot/v1/snapshot.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/own/sessiond.snapshot.v1.rs"));
}

/// The checkpoint schema this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The replica's state at one point of every stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Every stream, by stream number.
    pub streams: Vec<StreamPosition>,
    /// The fold's state after exactly the records before those positions.
    pub image: FoldImage,
    /// When it was taken (wall clock, nanoseconds since the epoch).
    pub taken_at: i64,
}

fn wire_position(p: Position) -> proto::Position {
    proto::Position {
        stream: p.stream,
        offset: p.offset,
    }
}

fn position(p: proto::Position) -> Position {
    Position {
        stream: p.stream,
        offset: p.offset,
    }
}

/// `Checkpoint.fold` and `FoldState.books` in snapshot.proto: the books are encoded and
/// decoded one at a time (see [`encode`] and [`decode`]), not as one `Vec<proto::Book>`.
const CHECKPOINT_FOLD: u32 = 4;
const FOLD_BOOKS: u32 = 4;

/// The checkpoint as protobuf bytes.
///
/// Each book goes to the bytes as soon as it is converted: a `Vec<proto::Book>` of every
/// session first would be about 1 KB per book of its own (a `SessionInfo` inline), over
/// 150 MB with 100,000 active sessions. `fold` is the last field of `Checkpoint` and
/// `books` the last of `FoldState`, so the bytes are exactly prost's for the whole message.
pub fn encode(checkpoint: &Checkpoint) -> Vec<u8> {
    let image = &checkpoint.image;
    let stats = &image.stats;
    let fold = proto::FoldState {
        watermark: image.watermark.map(|w| w.0),
        next_expiry: image.next_expiry.0,
        stats: Some(proto::Stats {
            applied: KIND_NAMES
                .iter()
                .zip(stats.applied_by_kind)
                .filter(|(_, n)| *n > 0)
                .map(|(name, n)| ((*name).to_owned(), n))
                .collect(),
            skipped: stats
                .skipped
                .iter()
                .map(|(reason, n)| (reason.code().to_owned(), *n))
                .collect(),
            evicted_idle: stats.evicted_idle,
            orphaned_sessions: stats.orphaned_sessions,
            orphaned_events: stats.orphaned_events,
            tombstones_expired: stats.tombstones_expired,
        }),
        books: Vec::new(),
    };
    let head = proto::Checkpoint {
        schema_version: SCHEMA_VERSION,
        taken_at: checkpoint.taken_at,
        streams: checkpoint
            .streams
            .iter()
            .map(|s| proto::Stream {
                topic: s.name.topic.clone(),
                partition: s.name.partition,
                next_offset: s.next_offset,
            })
            .collect(),
        fold: None,
    };
    let mut books = Vec::new();
    for book in &image.books {
        encoding::encode_key(FOLD_BOOKS, WireType::LengthDelimited, &mut books);
        encode_book(book)
            .encode_length_delimited(&mut books)
            .expect("a Vec grows as needed");
    }
    let fold_len = fold.encoded_len() + books.len();
    let mut bytes = Vec::with_capacity(
        head.encoded_len()
            + encoding::key_len(CHECKPOINT_FOLD)
            + encoding::encoded_len_varint(fold_len as u64)
            + fold_len,
    );
    head.encode(&mut bytes).expect("a Vec grows as needed");
    encoding::encode_key(CHECKPOINT_FOLD, WireType::LengthDelimited, &mut bytes);
    encoding::encode_varint(fold_len as u64, &mut bytes);
    fold.encode(&mut bytes).expect("a Vec grows as needed");
    bytes.extend_from_slice(&books);
    bytes
}

fn encode_book(book: &BookImage) -> proto::Book {
    let state = match &book.state {
        SessionState::Active(session) => proto::book::State::Active(session_to_wire(session)),
        SessionState::Pending { since, events } => proto::book::State::Pending(proto::Pending {
            since: since.0,
            events: events
                .iter()
                .map(|(p, e)| proto::PendingEvent {
                    position: Some(wire_position(*p)),
                    event: Some(event_to_wire(e)),
                })
                .collect(),
        }),
        SessionState::Ended { at } => proto::book::State::EndedAt(at.0),
    };
    proto::Book {
        id: book.id.to_string(),
        state: Some(state),
        positions: book.positions.iter().copied().map(wire_position).collect(),
        event_ids: book.event_ids.clone(),
        last_event_at: book.last_event_at.0,
        idle_key: book.idle_key.0,
        modified_by: book
            .modified_by_stamp
            .map(|(at, event, actor)| proto::Stamp {
                at: at.0,
                event,
                actor,
            }),
    }
}

/// A checkpoint from protobuf bytes, or why they are not one this build can use.
///
/// The books are decoded one at a time, each straight into its [`BookImage`], for the
/// reason [`encode`] encodes them so.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    let not_a_checkpoint = |e: DecodeError| format!("not a checkpoint: {e}");
    let parts = Parts::split(bytes).map_err(not_a_checkpoint)?;
    let wire = proto::Checkpoint::decode(&*parts.rest).map_err(not_a_checkpoint)?;
    if wire.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "checkpoint schema version {} (this build reads {SCHEMA_VERSION})",
            wire.schema_version
        ));
    }
    let fold = parts.fold.ok_or("checkpoint without fold state")?;
    let fold = proto::FoldState::decode(&*fold).map_err(not_a_checkpoint)?;
    let wire_stats = fold.stats.unwrap_or_default();
    let mut stats = FoldStats::default();
    for (name, n) in wire_stats.applied {
        let index = KIND_NAMES
            .iter()
            .position(|k| *k == name)
            .ok_or_else(|| format!("unknown kind {name:?} in the counts"))?;
        stats.applied_by_kind[index] = n;
    }
    let reasons = [
        SkipReason::Duplicate,
        SkipReason::Late,
        SkipReason::UnknownMember,
    ];
    for (code, n) in wire_stats.skipped {
        let reason = reasons
            .into_iter()
            .find(|r| r.code() == code)
            .ok_or_else(|| format!("unknown skip reason {code:?} in the counts"))?;
        stats.skipped.insert(reason, n);
    }
    stats.evicted_idle = wire_stats.evicted_idle;
    stats.orphaned_sessions = wire_stats.orphaned_sessions;
    stats.orphaned_events = wire_stats.orphaned_events;
    stats.tombstones_expired = wire_stats.tombstones_expired;
    let mut books = Vec::with_capacity(parts.books.len());
    for book in parts.books {
        books.push(decode_book(
            proto::Book::decode(book).map_err(not_a_checkpoint)?,
        )?);
    }
    Ok(Checkpoint {
        streams: wire
            .streams
            .into_iter()
            .map(|s| StreamPosition {
                name: StreamName {
                    topic: s.topic,
                    partition: s.partition,
                },
                next_offset: s.next_offset,
            })
            .collect(),
        image: FoldImage {
            watermark: fold.watermark.map(EventTime),
            next_expiry: EventTime(fold.next_expiry),
            stats,
            books,
        },
        taken_at: wire.taken_at,
    })
}

/// A checkpoint's bytes taken apart at its books, without decoding them.
#[derive(Debug, Default)]
struct Parts<'a> {
    /// Every field of `Checkpoint` but `fold`.
    rest: Vec<u8>,
    /// Every field of `FoldState` but `books`, if there is a `fold`.
    fold: Option<Vec<u8>>,
    /// Each book's bytes, in order.
    books: Vec<&'a [u8]>,
}

impl<'a> Parts<'a> {
    /// As prost would read them: a message field that occurs more than once is merged
    /// (here: its fields concatenated in order), and a field with another wire type than
    /// its own is left in `rest` or `fold` for prost to refuse.
    fn split(mut bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut parts = Self::default();
        while !bytes.is_empty() {
            match next_field(&mut bytes)? {
                Field {
                    tag: CHECKPOINT_FOLD,
                    payload: Some(mut fold),
                    ..
                } => {
                    let rest = parts.fold.get_or_insert_with(Vec::new);
                    while !fold.is_empty() {
                        match next_field(&mut fold)? {
                            Field {
                                tag: FOLD_BOOKS,
                                payload: Some(book),
                                ..
                            } => parts.books.push(book),
                            other => rest.extend_from_slice(other.raw),
                        }
                    }
                }
                other => parts.rest.extend_from_slice(other.raw),
            }
        }
        Ok(parts)
    }
}

/// One field of a message, as read by [`next_field`].
struct Field<'a> {
    tag: u32,
    /// The payload, if the field is length-delimited.
    payload: Option<&'a [u8]>,
    /// The whole field, key included.
    raw: &'a [u8],
}

/// The next field of a message, which `bytes` then starts after.
fn next_field<'a>(bytes: &mut &'a [u8]) -> Result<Field<'a>, DecodeError> {
    let start: &'a [u8] = bytes;
    let (tag, wire_type) = encoding::decode_key(bytes)?;
    let payload = if wire_type == WireType::LengthDelimited {
        let len = encoding::decode_varint(bytes)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= bytes.len())
            .ok_or_else(|| {
                // What prost reports for the same bytes.
                let mut short = &start[..0];
                encoding::skip_field(wire_type, tag, &mut short, DecodeContext::default())
                    .expect_err("a field longer than the bytes left")
            })?;
        let (payload, tail) = bytes.split_at(len);
        *bytes = tail;
        Some(payload)
    } else {
        encoding::skip_field(wire_type, tag, bytes, DecodeContext::default())?;
        None
    };
    Ok(Field {
        tag,
        payload,
        raw: &start[..start.len() - bytes.len()],
    })
}

fn decode_book(book: proto::Book) -> Result<BookImage, String> {
    let id: Arc<str> = Arc::from(book.id.as_str());
    let state = match book.state {
        Some(proto::book::State::Active(info)) => SessionState::Active(Arc::new(
            session_from_wire(info).map_err(|e| format!("session {id}: {e}"))?,
        )),
        Some(proto::book::State::Pending(pending)) => SessionState::Pending {
            since: EventTime(pending.since),
            events: pending
                .events
                .into_iter()
                .map(|e| {
                    let position = position(e.position.unwrap_or_default());
                    let event = validate(e.event.unwrap_or_default())
                        .map_err(|bad| format!("pending event of {id}: {bad}"))?;
                    Ok((position, event))
                })
                .collect::<Result<Vec<_>, String>>()?,
        },
        Some(proto::book::State::EndedAt(at)) => SessionState::Ended { at: EventTime(at) },
        None => return Err(format!("session {id} has no state")),
    };
    Ok(BookImage {
        id,
        state,
        positions: book.positions.into_iter().map(position).collect(),
        event_ids: book.event_ids,
        last_event_at: EventTime(book.last_event_at),
        idle_key: EventTime(book.idle_key),
        modified_by_stamp: book
            .modified_by
            .map(|s| (EventTime(s.at), s.event, s.actor)),
    })
}

/// Counts by kind, for logs.
pub fn summary(checkpoint: &Checkpoint) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for book in &checkpoint.image.books {
        let key = match book.state {
            SessionState::Active(_) => "active",
            SessionState::Pending { .. } => "pending",
            SessionState::Ended { .. } => "tombstones",
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::{Fold, FoldConfig, Projection};
    use crate::simulate::fixtures::{demo_events, sim_events};

    fn checkpoint_after(events: Vec<crate::events::Event>) -> Checkpoint {
        let mut fold = Fold::new(FoldConfig::default(), Arc::new(Projection::new()));
        for (offset, event) in events.into_iter().enumerate() {
            fold.apply(
                event,
                Position {
                    stream: (offset % 3) as u32,
                    offset: offset as i64,
                },
            );
        }
        Checkpoint {
            streams: (0..3)
                .map(|p| StreamPosition {
                    name: StreamName {
                        topic: "voice.calls".into(),
                        partition: p,
                    },
                    next_offset: 100 + i64::from(p),
                })
                .collect(),
            image: fold.image().expect("a consistent fold"),
            taken_at: 1_795_510_800_000_000_000,
        }
    }

    #[test]
    fn a_checkpoint_survives_its_protobuf_form_exactly() {
        // The demo's ended sessions are long forgotten by its end; the simulator's recent
        // ones are still tombstones.
        for (events, tombstones) in [(demo_events(), false), (sim_events(7, 20_000), true)] {
            let checkpoint = checkpoint_after(events);
            let counts = summary(&checkpoint);
            assert!(counts.get("active").copied().unwrap_or(0) > 0, "{counts:?}");
            assert_eq!(counts.contains_key("tombstones"), tombstones, "{counts:?}");
            assert_eq!(decode(&encode(&checkpoint)).as_ref(), Ok(&checkpoint));
        }
    }

    #[test]
    fn pending_sessions_and_their_events_survive() {
        let mut events = demo_events();
        // The first events of sessions whose starts never came.
        let mut orphans: Vec<_> = events
            .iter()
            .filter(|e| !matches!(e.kind, crate::events::EventKind::SessionStarted(_)))
            .take(5)
            .cloned()
            .collect();
        for (i, e) in orphans.iter_mut().enumerate() {
            e.session_id = Arc::from(format!("S-pending-{}", i % 2));
        }
        events.extend(orphans);
        let checkpoint = checkpoint_after(events);
        assert_eq!(summary(&checkpoint).get("pending"), Some(&2));
        assert_eq!(decode(&encode(&checkpoint)).as_ref(), Ok(&checkpoint));
    }

    #[test]
    fn the_bytes_are_prosts_for_the_whole_message() {
        let checkpoint = checkpoint_after(sim_events(7, 20_000));
        let bytes = encode(&checkpoint);
        let wire = proto::Checkpoint::decode(&*bytes).unwrap();
        assert!(wire.fold.as_ref().is_some_and(|f| f.books.len() > 100));
        assert!(wire.encode_to_vec() == bytes, "not prost's bytes");
        // Without a book, too.
        let empty = encode(&checkpoint_after(Vec::new()));
        assert_eq!(
            proto::Checkpoint::decode(&*empty).unwrap().encode_to_vec(),
            empty
        );
    }

    #[test]
    fn a_fold_given_in_two_parts_is_merged_as_prost_merges_it() {
        let checkpoint = checkpoint_after(sim_events(7, 20_000));
        let mut wire = proto::Checkpoint::decode(&*encode(&checkpoint)).unwrap();
        let mut first = wire.fold.take().unwrap();
        let second = proto::FoldState {
            books: first.books.split_off(first.books.len() / 2),
            watermark: first.watermark.take(),
            ..proto::FoldState::default()
        };
        let mut bytes = proto::Checkpoint {
            fold: Some(first),
            ..wire.clone()
        }
        .encode_to_vec();
        bytes.extend(
            proto::Checkpoint {
                fold: Some(second),
                ..proto::Checkpoint::default()
            }
            .encode_to_vec(),
        );
        assert_eq!(decode(&bytes).as_ref(), Ok(&checkpoint));
        assert_eq!(
            proto::Checkpoint::decode(&*bytes).unwrap().encode_to_vec(),
            encode(&checkpoint)
        );
    }

    #[test]
    fn cut_or_overlong_bytes_are_not_a_checkpoint() {
        let bytes = encode(&checkpoint_after(sim_events(7, 2_000)));
        // Cut anywhere in the fold (the last field).
        for len in [bytes.len() / 4, bytes.len() / 2, bytes.len() - 1] {
            let err = decode(&bytes[..len]).unwrap_err();
            assert!(err.starts_with("not a checkpoint"), "{len}: {err}");
        }
        // A fold whose length runs past the end.
        let mut bytes = Vec::new();
        encoding::encode_key(CHECKPOINT_FOLD, WireType::LengthDelimited, &mut bytes);
        encoding::encode_varint(1_000, &mut bytes);
        bytes.extend_from_slice(&[0; 10]);
        let err = decode(&bytes).unwrap_err();
        assert!(err.starts_with("not a checkpoint"), "{err}");
        // A fold that is not length-delimited.
        let mut bytes = Vec::new();
        encoding::encode_key(CHECKPOINT_FOLD, WireType::Varint, &mut bytes);
        encoding::encode_varint(7, &mut bytes);
        let err = decode(&bytes).unwrap_err();
        assert!(err.starts_with("not a checkpoint"), "{err}");
    }

    #[test]
    fn other_schema_versions_and_garbage_are_refused() {
        let mut wire = proto::Checkpoint::decode(&*encode(&checkpoint_after(Vec::new()))).unwrap();
        wire.schema_version = SCHEMA_VERSION + 1;
        let err = decode(&wire.encode_to_vec()).unwrap_err();
        assert!(err.contains("schema version 2"), "{err}");
        assert!(
            decode(b"\xff\xff\xff")
                .unwrap_err()
                .starts_with("not a checkpoint")
        );
    }
}
