//! A checkpoint as Kafka records: its bytes cut into chunks small enough for a default
//! broker's message size limit, and a manifest that names them, each with its own
//! checksum. Pure framing, no Kafka client: `topic` writes and reads these records.
//!
//! The checkpoint topic has two partitions. Partition [`MANIFEST_PARTITION`] holds one
//! manifest per checkpoint, keyed `slot-<s>`; partition [`CHUNK_PARTITION`] holds the
//! chunks, keyed `slot-<s>/<index>`. There are [`SLOTS`] slots, used in turn (checkpoint
//! `seq` goes to slot `seq % SLOTS`), so compaction keeps the newest checkpoint of each
//! slot and nothing else: while one slot is being overwritten, the two before it stay
//! complete.
//!
//! A chunk record's value:
//!
//! | bytes  | field                                           |
//! |--------|-------------------------------------------------|
//! | 0..8   | [`CHUNK_MAGIC`]                                 |
//! | 8..12  | format version, `u32` LE ([`FORMAT_VERSION`])   |
//! | 12..20 | checkpoint sequence number, `u64` LE            |
//! | 20..28 | writer nonce, `u64` LE                          |
//! | 28..32 | chunk index, `u32` LE                           |
//! | 32..36 | chunk count, `u32` LE                           |
//! | 36..40 | CRC-32 (IEEE) of the chunk's payload, `u32` LE  |
//! | 40..   | the payload: the checkpoint's bytes, this part  |
//!
//! A manifest record's value:
//!
//! | bytes  | field                                               |
//! |--------|-----------------------------------------------------|
//! | 0..8   | [`MANIFEST_MAGIC`]                                  |
//! | 8..12  | format version, `u32` LE                            |
//! | 12..20 | checkpoint sequence number, `u64` LE                |
//! | 20..28 | writer nonce, `u64` LE                              |
//! | 28..32 | chunk count, `u32` LE                               |
//! | 32..40 | the checkpoint's length, `u64` LE                   |
//! | 40..44 | CRC-32 of the whole checkpoint, `u32` LE            |
//! | 44..52 | when it was taken, nanoseconds since the epoch      |
//! | 52..60 | offset of its first chunk in the chunk partition    |
//! | 60..68 | offset of its last chunk                            |
//! | 68..70 | length of the writer's name, `u16` LE               |
//! | 70..   | the writer's name (UTF-8), then CRC-32 of all before|
//!
//! (sequence number, nonce) is the checkpoint's id: a chunk belongs to the checkpoint whose
//! id it carries, so chunks of another checkpoint written over the same keys (a later one,
//! or one written at the same time by another replica) are never mixed in.

use std::fmt;

/// The first eight bytes of a chunk record's value.
pub const CHUNK_MAGIC: [u8; 8] = *b"SESCHNK\0";
/// The first eight bytes of a manifest record's value.
pub const MANIFEST_MAGIC: [u8; 8] = *b"SESCKPT\0";
/// The record layout this build writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The partition of the checkpoint topic that holds the manifests.
pub const MANIFEST_PARTITION: i32 = 0;
/// The partition of the checkpoint topic that holds the chunks.
pub const CHUNK_PARTITION: i32 = 1;
/// How many checkpoints compaction keeps: the one being written, and the two before it.
pub const SLOTS: u64 = 3;
/// The most checkpoint bytes in one chunk: with its header and key, well under the
/// 1,000,000-byte message limit of librdkafka and of a default broker (`message.max.bytes`,
/// `max.message.bytes`), so a default cluster takes it.
pub const CHUNK_BYTES: usize = 512 * 1024;

const CHUNK_HEADER: usize = 40;
const MANIFEST_FIXED: usize = 70;

/// A checkpoint's identity in the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckpointId {
    /// Its sequence number: one more than the newest the writer saw in the topic.
    pub seq: u64,
    /// A random number of the writer's, so two replicas that take the same sequence
    /// number at the same time do not take each other's chunks.
    pub nonce: u64,
}

impl CheckpointId {
    /// The slot it is written to.
    pub fn slot(&self) -> u64 {
        self.seq % SLOTS
    }
}

impl fmt::Display for CheckpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:016x})", self.seq, self.nonce)
    }
}

/// The key of a slot's manifest.
pub fn manifest_key(slot: u64) -> String {
    format!("slot-{slot}")
}

/// The key of a slot's chunk.
pub fn chunk_key(slot: u64, index: u32) -> String {
    format!("slot-{slot}/{index}")
}

/// One chunk, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The checkpoint it belongs to.
    pub id: CheckpointId,
    /// Its place, from 0.
    pub index: u32,
    /// How many chunks the checkpoint has.
    pub count: u32,
    /// Its part of the checkpoint's bytes (checksum verified).
    pub payload: &'a [u8],
}

/// How many chunks `len` bytes take (at least one, so an empty checkpoint still has one).
pub fn chunk_count(len: usize, chunk_bytes: usize) -> u32 {
    u32::try_from(len.div_ceil(chunk_bytes.max(1)).max(1)).unwrap_or(u32::MAX)
}

/// The chunk records' values for `payload`, in order.
pub fn split(id: CheckpointId, payload: &[u8], chunk_bytes: usize) -> Vec<Vec<u8>> {
    let count = chunk_count(payload.len(), chunk_bytes);
    let mut parts: Vec<&[u8]> = payload.chunks(chunk_bytes.max(1)).collect();
    if parts.is_empty() {
        parts.push(&[]);
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| {
            let mut value = Vec::with_capacity(CHUNK_HEADER + part.len());
            value.extend_from_slice(&CHUNK_MAGIC);
            value.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            value.extend_from_slice(&id.seq.to_le_bytes());
            value.extend_from_slice(&id.nonce.to_le_bytes());
            value.extend_from_slice(&(index as u32).to_le_bytes());
            value.extend_from_slice(&count.to_le_bytes());
            value.extend_from_slice(&crc32fast::hash(part).to_le_bytes());
            value.extend_from_slice(part);
            value
        })
        .collect()
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// Checks magic and version of a record's value.
fn check_head(bytes: &[u8], magic: &[u8; 8], what: &str, min_len: usize) -> Result<(), String> {
    if bytes.len() < 8 || bytes[..8] != *magic {
        return Err(format!("not a {what} record (wrong magic)"));
    }
    if bytes.len() < 12 {
        return Err(format!("{what} record cut short ({} bytes)", bytes.len()));
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(format!(
            "{what} record of format version {version} (this build reads {FORMAT_VERSION})"
        ));
    }
    if bytes.len() < min_len {
        return Err(format!("{what} record cut short ({} bytes)", bytes.len()));
    }
    Ok(())
}

/// A chunk record's value read back, or why it is not a sound chunk.
pub fn decode_chunk(bytes: &[u8]) -> Result<Chunk<'_>, String> {
    check_head(bytes, &CHUNK_MAGIC, "chunk", CHUNK_HEADER)?;
    let chunk = Chunk {
        id: CheckpointId {
            seq: u64_at(bytes, 12),
            nonce: u64_at(bytes, 20),
        },
        index: u32_at(bytes, 28),
        count: u32_at(bytes, 32),
        payload: &bytes[CHUNK_HEADER..],
    };
    let expected = u32_at(bytes, 36);
    let actual = crc32fast::hash(chunk.payload);
    if actual != expected {
        return Err(format!(
            "chunk {} of checkpoint {}: checksum mismatch (CRC-32 {actual:#010x}, recorded {expected:#010x})",
            chunk.index, chunk.id
        ));
    }
    Ok(chunk)
}

/// What a checkpoint in the topic is and where its chunks are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The checkpoint's id.
    pub id: CheckpointId,
    /// How many chunks it has.
    pub chunks: u32,
    /// Its length in bytes.
    pub len: u64,
    /// The CRC-32 of its bytes.
    pub crc: u32,
    /// When it was taken (wall clock, nanoseconds since the epoch).
    pub taken_at: i64,
    /// The offset of its first chunk in the chunk partition.
    pub first_offset: i64,
    /// The offset of its last chunk.
    pub last_offset: i64,
    /// Who wrote it (a replica's host name).
    pub writer: String,
}

impl Manifest {
    /// The manifest record's value.
    pub fn encode(&self) -> Vec<u8> {
        let name = &self.writer.as_bytes()[..self.writer.len().min(u16::MAX as usize)];
        let mut value = Vec::with_capacity(MANIFEST_FIXED + name.len() + 4);
        value.extend_from_slice(&MANIFEST_MAGIC);
        value.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        value.extend_from_slice(&self.id.seq.to_le_bytes());
        value.extend_from_slice(&self.id.nonce.to_le_bytes());
        value.extend_from_slice(&self.chunks.to_le_bytes());
        value.extend_from_slice(&self.len.to_le_bytes());
        value.extend_from_slice(&self.crc.to_le_bytes());
        value.extend_from_slice(&self.taken_at.to_le_bytes());
        value.extend_from_slice(&self.first_offset.to_le_bytes());
        value.extend_from_slice(&self.last_offset.to_le_bytes());
        value.extend_from_slice(&(name.len() as u16).to_le_bytes());
        value.extend_from_slice(name);
        let crc = crc32fast::hash(&value);
        value.extend_from_slice(&crc.to_le_bytes());
        value
    }

    /// A manifest record's value read back, or why it is not a sound manifest.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        check_head(bytes, &MANIFEST_MAGIC, "manifest", MANIFEST_FIXED + 4)?;
        let name_len = usize::from(u16::from_le_bytes([bytes[68], bytes[69]]));
        if bytes.len() != MANIFEST_FIXED + name_len + 4 {
            return Err(format!(
                "manifest record of {} bytes, its fields say {}",
                bytes.len(),
                MANIFEST_FIXED + name_len + 4
            ));
        }
        let end = MANIFEST_FIXED + name_len;
        let expected = u32_at(bytes, end);
        let actual = crc32fast::hash(&bytes[..end]);
        if actual != expected {
            return Err(format!(
                "manifest checksum mismatch (CRC-32 {actual:#010x}, recorded {expected:#010x})"
            ));
        }
        let manifest = Self {
            id: CheckpointId {
                seq: u64_at(bytes, 12),
                nonce: u64_at(bytes, 20),
            },
            chunks: u32_at(bytes, 28),
            len: u64_at(bytes, 32),
            crc: u32_at(bytes, 40),
            taken_at: i64_at(bytes, 44),
            first_offset: i64_at(bytes, 52),
            last_offset: i64_at(bytes, 60),
            writer: String::from_utf8_lossy(&bytes[MANIFEST_FIXED..end]).into_owned(),
        };
        if manifest.chunks == 0 || manifest.last_offset < manifest.first_offset {
            return Err(format!(
                "manifest of checkpoint {} names no chunks",
                manifest.id
            ));
        }
        Ok(manifest)
    }
}

/// A checkpoint's chunks gathered from the chunk partition, checked against its manifest.
#[derive(Debug)]
pub struct Assembly {
    manifest: Manifest,
    parts: Vec<Option<Vec<u8>>>,
    /// The first problem with a chunk of this checkpoint, if any.
    problem: Option<String>,
}

impl Assembly {
    /// Gathering the chunks `manifest` names.
    pub fn new(manifest: &Manifest) -> Self {
        Self {
            manifest: manifest.clone(),
            parts: vec![None; manifest.chunks.min(1 << 20) as usize],
            problem: None,
        }
    }

    /// Takes a chunk record's value (`None`: a tombstone) read from the chunk partition;
    /// records of other checkpoints are passed over.
    pub fn offer(&mut self, value: Option<&[u8]>) {
        let Some(value) = value else { return };
        match decode_chunk(value) {
            Ok(chunk) if chunk.id == self.manifest.id => {
                if chunk.count != self.manifest.chunks || chunk.index >= chunk.count {
                    self.problem.get_or_insert(format!(
                        "chunk {} says {} chunks, the manifest {}",
                        chunk.index, chunk.count, self.manifest.chunks
                    ));
                } else if let Some(slot) = self.parts.get_mut(chunk.index as usize) {
                    *slot = Some(chunk.payload.to_vec());
                }
            }
            Ok(_) => {}
            // A corrupt record may be any checkpoint's: it only matters if one of ours
            // turns out missing, and then this is the likely reason.
            Err(reason) => {
                self.problem.get_or_insert(reason);
            }
        }
    }

    /// Whether every chunk is in.
    pub fn is_complete(&self) -> bool {
        self.parts.iter().all(Option::is_some)
    }

    /// The checkpoint's bytes, or why it is torn or corrupt.
    pub fn finish(self) -> Result<Vec<u8>, String> {
        let id = self.manifest.id;
        if let Some(missing) = self.parts.iter().position(Option::is_none) {
            let have = self.parts.iter().filter(|p| p.is_some()).count();
            let mut reason = format!(
                "checkpoint {id} is torn: chunk {missing} of {} is missing ({have} present; overwritten by a later checkpoint, or never written)",
                self.manifest.chunks
            );
            if let Some(problem) = self.problem {
                reason.push_str(&format!("; also found: {problem}"));
            }
            return Err(reason);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(self.manifest.len).unwrap_or(0));
        for part in self.parts.into_iter().flatten() {
            bytes.extend_from_slice(&part);
        }
        if bytes.len() as u64 != self.manifest.len {
            return Err(format!(
                "checkpoint {id}: its chunks hold {} bytes, the manifest says {}",
                bytes.len(),
                self.manifest.len
            ));
        }
        let crc = crc32fast::hash(&bytes);
        if crc != self.manifest.crc {
            return Err(format!(
                "checkpoint {id}: checksum mismatch over the whole (CRC-32 {crc:#010x}, recorded {:#010x})",
                self.manifest.crc
            ));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: CheckpointId = CheckpointId { seq: 7, nonce: 42 };

    fn manifest(payload: &[u8], chunks: u32) -> Manifest {
        Manifest {
            id: ID,
            chunks,
            len: payload.len() as u64,
            crc: crc32fast::hash(payload),
            taken_at: 1_795_510_800_000_000_000,
            first_offset: 10,
            last_offset: 10 + i64::from(chunks) - 1,
            writer: "replica-a".into(),
        }
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn chunks_reassemble_to_the_checkpoint_in_any_order_among_others() {
        let bytes = payload(10_000);
        let chunks = split(ID, &bytes, 1_000);
        assert_eq!(chunks.len(), 10);
        assert!(chunks.iter().all(|c| c.len() <= 1_000 + CHUNK_HEADER));
        let other = split(CheckpointId { seq: 7, nonce: 43 }, &payload(3_000), 1_000);
        let mut assembly = Assembly::new(&manifest(&bytes, 10));
        for value in chunks.iter().rev().chain(&other) {
            assembly.offer(Some(value));
        }
        assembly.offer(None);
        assert!(assembly.is_complete());
        assert_eq!(assembly.finish().unwrap(), bytes);
    }

    #[test]
    fn an_empty_checkpoint_is_one_chunk() {
        let chunks = split(ID, &[], CHUNK_BYTES);
        assert_eq!(chunks.len(), 1);
        let mut assembly = Assembly::new(&manifest(&[], 1));
        assembly.offer(Some(&chunks[0]));
        assert_eq!(assembly.finish().unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn a_missing_chunk_is_a_torn_checkpoint() {
        let bytes = payload(5_000);
        let chunks = split(ID, &bytes, 1_000);
        let mut assembly = Assembly::new(&manifest(&bytes, 5));
        for (i, value) in chunks.iter().enumerate() {
            if i != 3 {
                assembly.offer(Some(value));
            }
        }
        let err = assembly.finish().unwrap_err();
        assert!(err.contains("torn: chunk 3 of 5 is missing"), "{err}");
    }

    #[test]
    fn a_flipped_byte_is_found_in_the_chunk_and_named() {
        let bytes = payload(5_000);
        let mut chunks = split(ID, &bytes, 1_000);
        chunks[2][CHUNK_HEADER + 5] ^= 1;
        assert!(
            decode_chunk(&chunks[2])
                .unwrap_err()
                .contains("chunk 2 of checkpoint 7")
        );
        let mut assembly = Assembly::new(&manifest(&bytes, 5));
        for value in &chunks {
            assembly.offer(Some(value));
        }
        let err = assembly.finish().unwrap_err();
        assert!(err.contains("chunk 2 of 5 is missing"), "{err}");
        assert!(err.contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn chunks_that_do_not_add_up_to_the_manifest_are_refused() {
        let bytes = payload(2_000);
        let chunks = split(ID, &bytes, 1_000);
        let mut wrong = manifest(&bytes, 2);
        wrong.crc ^= 1;
        let mut assembly = Assembly::new(&wrong);
        chunks.iter().for_each(|c| assembly.offer(Some(c)));
        assert!(
            assembly
                .finish()
                .unwrap_err()
                .contains("checksum mismatch over the whole")
        );
        let mut wrong = manifest(&bytes, 2);
        wrong.len += 1;
        let mut assembly = Assembly::new(&wrong);
        chunks.iter().for_each(|c| assembly.offer(Some(c)));
        assert!(assembly.finish().unwrap_err().contains("the manifest says"));
    }

    #[test]
    fn a_manifest_round_trips_and_refuses_damage() {
        let m = manifest(b"abc", 1);
        let value = m.encode();
        assert_eq!(Manifest::decode(&value), Ok(m));
        let mut bad = value.clone();
        bad[30] ^= 1;
        assert!(
            Manifest::decode(&bad)
                .unwrap_err()
                .contains("manifest checksum mismatch")
        );
        assert!(
            Manifest::decode(&value[..value.len() - 1])
                .unwrap_err()
                .contains("bytes")
        );
        let mut future = value.clone();
        future[8] = 2;
        assert!(
            Manifest::decode(&future)
                .unwrap_err()
                .contains("format version 2")
        );
        assert!(
            Manifest::decode(b"hello")
                .unwrap_err()
                .contains("wrong magic")
        );
        assert!(decode_chunk(&value).unwrap_err().contains("wrong magic"));
    }

    #[test]
    fn slots_take_turns() {
        let slots: Vec<u64> = (1..=6)
            .map(|seq| CheckpointId { seq, nonce: 0 }.slot())
            .collect();
        assert_eq!(slots, [1, 2, 0, 1, 2, 0]);
        assert_eq!(manifest_key(2), "slot-2");
        assert_eq!(chunk_key(2, 17), "slot-2/17");
    }
}
