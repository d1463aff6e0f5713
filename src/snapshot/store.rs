//! The snapshot file store: checkpoints as files in one directory, written atomically and
//! read back only when their header and checksum hold. The payload is opaque here (the
//! caller encodes and decodes it); this module deals only in files and bytes.
//!
//! A file is a fixed [`HEADER_LEN`]-byte header followed by the payload:
//!
//! | bytes  | field                                         |
//! |--------|-----------------------------------------------|
//! | 0..8   | [`MAGIC`]                                     |
//! | 8..12  | format version, `u32` LE ([`FORMAT_VERSION`]) |
//! | 12..20 | payload length, `u64` LE                      |
//! | 20..24 | CRC-32 (IEEE) of the payload, `u32` LE        |
//! | 24..32 | sequence number, `u64` LE                     |
//!
//! and is named `snapshot-<sequence number, 20 digits zero-padded>.snap`, so names sort
//! the way sequence numbers do. The header repeats the sequence number so that a file
//! copied or renamed to another snapshot's name is refused rather than taken for it.
//!
//! Everything here is blocking file I/O: from async code, call it on a blocking thread
//! (`tokio::task::spawn_blocking`). One store per directory: two processes writing the
//! same directory would take the same sequence numbers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"SESSNAP\0";

/// The header layout this build writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// The header's size in bytes: magic, version, payload length, checksum, sequence number.
pub const HEADER_LEN: usize = 8 + 4 + 8 + 4 + 8;

/// How many snapshots a write leaves in the directory: the newest, and the one before it
/// to fall back on should the newest turn out unreadable.
pub const KEEP: usize = 2;

const NAME_PREFIX: &str = "snapshot-";
const NAME_SUFFIX: &str = ".snap";
const TMP_SUFFIX: &str = ".tmp";
const SEQ_DIGITS: usize = 20;

/// Why a snapshot could not be written or read. Every variant names the file (or, for
/// [`StoreError::SeqExhausted`], the directory).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The operating system refused a read, write, rename or sync.
    #[error("snapshot {}: {action}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, e.g. "writing the temporary file".
        action: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The file's name is not `snapshot-<20 digits>.snap`, so its sequence number cannot
    /// be checked against the header.
    #[error(
        "snapshot {}: not a snapshot file name (expected snapshot-<20-digit sequence>.snap)",
        .path.display()
    )]
    NotSnapshotName {
        /// The file.
        path: PathBuf,
    },
    /// The file does not start with [`MAGIC`]: it is not a snapshot at all.
    #[error(
        "snapshot {}: wrong magic: the file starts with \"{}\", a snapshot with \"{}\"",
        .path.display(), .found.escape_ascii(), MAGIC.escape_ascii()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// Its first bytes (fewer than eight when the file is shorter).
        found: Vec<u8>,
    },
    /// The header is of a format version this build does not know (written by a newer
    /// sessiond, most likely).
    #[error(
        "snapshot {}: unsupported format version {version} (this build reads version {FORMAT_VERSION} only)",
        .path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in its header.
        version: u32,
    },
    /// The file is shorter than the header: the write was cut off before the header was
    /// complete.
    #[error(
        "snapshot {}: truncated header: the file is {size} bytes, shorter than the {HEADER_LEN}-byte header",
        .path.display()
    )]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// The payload length in the header is not what follows the header in the file: the
    /// file was truncated, or something was appended to it.
    #[error(
        "snapshot {}: length mismatch: the header declares a {declared}-byte payload, the file holds {actual} bytes after the header",
        .path.display()
    )]
    LengthMismatch {
        /// The file.
        path: PathBuf,
        /// The payload length in the header.
        declared: u64,
        /// The bytes after the header.
        actual: u64,
    },
    /// The payload's checksum is not the one in the header: the payload is corrupted.
    #[error(
        "snapshot {}: checksum mismatch: the payload's CRC-32 is {actual:#010x}, the header recorded {expected:#010x}",
        .path.display()
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The checksum in the header.
        expected: u32,
        /// The checksum of the payload read.
        actual: u32,
    },
    /// The header's sequence number is not the one in the file name: the file was copied
    /// or renamed from another snapshot.
    #[error(
        "snapshot {}: sequence mismatch: the name says {name}, the header says {header}",
        .path.display()
    )]
    SeqMismatch {
        /// The file.
        path: PathBuf,
        /// The sequence number in its name.
        name: u64,
        /// The sequence number in its header.
        header: u64,
    },
    /// The directory already holds a snapshot numbered `u64::MAX`, so no later one can be
    /// named.
    #[error(
        "snapshot directory {}: sequence numbers exhausted (a snapshot numbered {} exists)",
        .dir.display(), u64::MAX
    )]
    SeqExhausted {
        /// The directory.
        dir: PathBuf,
    },
}

impl StoreError {
    /// The file (or directory) the error is about.
    pub fn path(&self) -> &Path {
        match self {
            StoreError::Io { path, .. }
            | StoreError::NotSnapshotName { path }
            | StoreError::BadMagic { path, .. }
            | StoreError::UnsupportedVersion { path, .. }
            | StoreError::TruncatedHeader { path, .. }
            | StoreError::LengthMismatch { path, .. }
            | StoreError::ChecksumMismatch { path, .. }
            | StoreError::SeqMismatch { path, .. } => path,
            StoreError::SeqExhausted { dir } => dir,
        }
    }
}

/// A snapshot [`SnapshotStore::write`] made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenSnapshot {
    /// Its file.
    pub path: PathBuf,
    /// Its sequence number.
    pub seq: u64,
    /// The file's size: header and payload.
    pub bytes: u64,
}

/// The snapshot [`SnapshotStore::load_newest`] loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded<T> {
    /// Its file.
    pub path: PathBuf,
    /// Its sequence number.
    pub seq: u64,
    /// Its payload, decoded.
    pub value: T,
}

/// What [`SnapshotStore::load_newest`] found: the snapshot it loaded, if any, and every
/// newer one it had to pass over, with why (for the caller to log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOutcome<T> {
    /// The newest snapshot that was valid and decoded; `None` when there was none.
    pub loaded: Option<Loaded<T>>,
    /// The snapshots tried before it, newest first, each with a readable reason that
    /// names the file.
    pub rejected: Vec<(PathBuf, String)>,
}

/// The snapshots in one directory: writes the next one, lists and reads them back.
#[derive(Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    /// The highest sequence number in use (0 when there is none); the next write takes
    /// the one after it.
    last_seq: u64,
}

impl SnapshotStore {
    /// Opens the store in `dir`, creating the directory if needed. Removes the temporary
    /// files (`snapshot-*.tmp`) a crash in the middle of a write left behind, and learns
    /// the highest sequence number present so the next write continues after it.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| with_path(e, "creating", &dir))?;
        for entry in fs::read_dir(&dir).map_err(|e| with_path(e, "listing", &dir))? {
            let entry = entry.map_err(|e| with_path(e, "listing", &dir))?;
            let name = entry.file_name();
            // Only our own temporary names: the directory may be shared with other files.
            let ours = name
                .to_str()
                .is_some_and(|n| n.starts_with(NAME_PREFIX) && n.ends_with(TMP_SUFFIX));
            if ours && !entry.file_type().is_ok_and(|t| t.is_dir()) {
                let path = entry.path();
                fs::remove_file(&path).map_err(|e| with_path(e, "removing", &path))?;
            }
        }
        let mut store = SnapshotStore { dir, last_seq: 0 };
        // From the names, valid or not: a corrupt file still holds its name, and the next
        // write must not take it.
        store.last_seq = store.listed()?.first().map_or(0, |(seq, _)| *seq);
        Ok(store)
    }

    /// The directory the snapshots are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The highest sequence number in use, 0 when the directory has no snapshot; the next
    /// write takes the one after it.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Writes `payload` as the next snapshot, atomically and durably, then removes all but
    /// the newest [`KEEP`] snapshots.
    ///
    /// A crash at any point leaves either the complete new snapshot or none of it (plus a
    /// temporary file that [`SnapshotStore::open`] removes), never a partial file under a
    /// snapshot name. Failing to remove an old snapshot does not fail the write (the new
    /// one is in place); it is logged, and the next write tries again.
    pub fn write(&mut self, payload: &[u8]) -> Result<WrittenSnapshot, StoreError> {
        let seq = self
            .last_seq
            .checked_add(1)
            .ok_or_else(|| StoreError::SeqExhausted {
                dir: self.dir.clone(),
            })?;
        let path = self.dir.join(file_name(seq));
        let tmp = self.dir.join(format!("{}{TMP_SUFFIX}", file_name(seq)));
        let header = Header {
            version: FORMAT_VERSION,
            payload_len: payload.len() as u64,
            crc: crc32fast::hash(payload),
            seq,
        }
        .encode();

        // Into a temporary file in the same directory first: a rename within one file
        // system replaces the name atomically, so a reader never sees a partial snapshot.
        if let Err(error) = write_synced(&tmp, &header, payload) {
            let _ = fs::remove_file(&tmp);
            return Err(error);
        }
        if let Err(source) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::Io {
                path: tmp,
                action: "renaming the temporary file into place",
                source,
            });
        }
        // The name is taken from here on, even if the directory sync below fails.
        self.last_seq = seq;

        // The rename changed the directory, not the file: until the directory itself is
        // synced, a crash can lose the new name even though the file's data is on disk.
        // And it must be durable before pruning, or a crash could keep the deletions of
        // the older snapshots but not the new one, leaving nothing to load.
        sync_dir(&self.dir).map_err(|source| StoreError::Io {
            path: self.dir.clone(),
            action: "syncing the directory after the rename",
            source,
        })?;

        self.prune();
        Ok(WrittenSnapshot {
            path,
            seq,
            bytes: (HEADER_LEN + payload.len()) as u64,
        })
    }

    /// The snapshot files in the directory, newest (highest sequence number) first. Files
    /// not named like a snapshot are left out; nothing is opened, so a listed file may
    /// still turn out invalid when read.
    pub fn candidates(&self) -> io::Result<Vec<PathBuf>> {
        Ok(self.listed()?.into_iter().map(|(_, path)| path).collect())
    }

    /// Reads the snapshot at `path`: checks its name, magic, version, length, sequence
    /// number and checksum, and returns its sequence number and payload.
    pub fn read(path: impl AsRef<Path>) -> Result<(u64, Vec<u8>), StoreError> {
        let path = path.as_ref();
        let io_error = |action| {
            move |source| StoreError::Io {
                path: path.to_owned(),
                action,
                source,
            }
        };
        let name_seq = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(parse_file_name)
            .ok_or_else(|| StoreError::NotSnapshotName {
                path: path.to_owned(),
            })?;

        let mut file = File::open(path).map_err(io_error("opening"))?;
        let size = file.metadata().map_err(io_error("reading metadata"))?.len();
        let mut raw = [0u8; HEADER_LEN];
        let present = usize::try_from(size).map_or(HEADER_LEN, |s| s.min(HEADER_LEN));
        file.read_exact(&mut raw[..present])
            .map_err(io_error("reading the header"))?;
        let header = Header::decode(path, &raw[..present], size)?;

        // Checked against the file's actual size before allocating, so a corrupt length
        // cannot ask for more memory than the file holds.
        let actual = size - HEADER_LEN as u64;
        if header.payload_len != actual {
            return Err(StoreError::LengthMismatch {
                path: path.to_owned(),
                declared: header.payload_len,
                actual,
            });
        }
        if header.seq != name_seq {
            return Err(StoreError::SeqMismatch {
                path: path.to_owned(),
                name: name_seq,
                header: header.seq,
            });
        }
        let len = usize::try_from(header.payload_len).map_err(|_| {
            io_error("reading the payload")(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "the payload does not fit in memory on this platform",
            ))
        })?;
        let mut payload = vec![0u8; len];
        file.read_exact(&mut payload)
            .map_err(io_error("reading the payload"))?;
        let crc = crc32fast::hash(&payload);
        if crc != header.crc {
            return Err(StoreError::ChecksumMismatch {
                path: path.to_owned(),
                expected: header.crc,
                actual: crc,
            });
        }
        Ok((header.seq, payload))
    }

    /// Loads the newest snapshot that is valid and that `decode` accepts, trying the
    /// candidates newest first: a file that fails its checks, or whose payload passes them
    /// but does not decode, is set aside with the reason and the one before it is tried.
    /// A directory that cannot be listed is reported as a rejection of the directory.
    pub fn load_newest<T>(
        &self,
        mut decode: impl FnMut(&[u8]) -> Result<T, String>,
    ) -> LoadOutcome<T> {
        let mut outcome = LoadOutcome {
            loaded: None,
            rejected: Vec::new(),
        };
        let candidates = match self.candidates() {
            Ok(candidates) => candidates,
            Err(error) => {
                let reason = format!("snapshot directory {}: {error}", self.dir.display());
                outcome.rejected.push((self.dir.clone(), reason));
                return outcome;
            }
        };
        for path in candidates {
            match Self::read(&path) {
                Ok((seq, payload)) => match decode(&payload) {
                    Ok(value) => {
                        outcome.loaded = Some(Loaded { path, seq, value });
                        break;
                    }
                    Err(reason) => {
                        let reason = format!(
                            "snapshot {}: the checksum holds but the payload does not decode: {reason}",
                            path.display()
                        );
                        outcome.rejected.push((path, reason));
                    }
                },
                Err(error) => outcome.rejected.push((path, error.to_string())),
            }
        }
        outcome
    }

    /// Snapshot files by name, with their sequence numbers, newest first.
    fn listed(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| with_path(e, "listing", &self.dir))? {
            let entry = entry.map_err(|e| with_path(e, "listing", &self.dir))?;
            let Some(seq) = entry.file_name().to_str().and_then(parse_file_name) else {
                continue;
            };
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            found.push((seq, entry.path()));
        }
        found.sort_unstable_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        Ok(found)
    }

    /// Removes all but the newest [`KEEP`] snapshots. Failures are logged, not returned:
    /// an extra old file costs only disk space, and the next write retries.
    fn prune(&self) {
        let listed = match self.listed() {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(%error, "could not list the snapshots to remove old ones");
                return;
            }
        };
        for (_, path) in listed.iter().skip(KEEP) {
            if let Err(error) = fs::remove_file(path) {
                tracing::warn!(path = %path.display(), %error, "could not remove an old snapshot");
            }
        }
    }
}

/// The fixed header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    version: u32,
    payload_len: u64,
    crc: u32,
    seq: u64,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut raw = [0u8; HEADER_LEN];
        raw[0..8].copy_from_slice(&MAGIC);
        raw[8..12].copy_from_slice(&self.version.to_le_bytes());
        raw[12..20].copy_from_slice(&self.payload_len.to_le_bytes());
        raw[20..24].copy_from_slice(&self.crc.to_le_bytes());
        raw[24..32].copy_from_slice(&self.seq.to_le_bytes());
        raw
    }

    /// Decodes `raw`, the first bytes of the file at `path` (all of them when it is shorter
    /// than a header), whose size is `size`. Checks magic and version as far as the bytes
    /// go before complaining that the header is cut short, so that a file that is not a
    /// snapshot, or is of a newer format, says so.
    fn decode(path: &Path, raw: &[u8], size: u64) -> Result<Header, StoreError> {
        let magic_len = raw.len().min(MAGIC.len());
        if raw[..magic_len] != MAGIC[..magic_len] {
            return Err(StoreError::BadMagic {
                path: path.to_owned(),
                found: raw[..magic_len].to_vec(),
            });
        }
        if let Some(version) = raw.get(8..12) {
            let version = u32::from_le_bytes(version.try_into().expect("4 bytes"));
            if version != FORMAT_VERSION {
                return Err(StoreError::UnsupportedVersion {
                    path: path.to_owned(),
                    version,
                });
            }
        }
        let Ok(raw) = <&[u8; HEADER_LEN]>::try_from(raw) else {
            return Err(StoreError::TruncatedHeader {
                path: path.to_owned(),
                size,
            });
        };
        let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
        Ok(Header {
            version: FORMAT_VERSION,
            payload_len: u64_at(12),
            crc: u32::from_le_bytes(raw[20..24].try_into().expect("4 bytes")),
            seq: u64_at(24),
        })
    }
}

/// `snapshot-<seq, 20 digits>.snap`: zero-padded so that names sort as numbers do.
fn file_name(seq: u64) -> String {
    format!(
        "{NAME_PREFIX}{seq:0width$}{NAME_SUFFIX}",
        width = SEQ_DIGITS
    )
}

/// The sequence number of a snapshot file name; `None` for any other name (temporary
/// files included).
fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Writes header and payload to a new file at `tmp` and syncs it, so its data is on disk
/// before the rename makes it visible under its final name.
fn write_synced(tmp: &Path, header: &[u8], payload: &[u8]) -> Result<(), StoreError> {
    let io_error = |action| {
        move |source| StoreError::Io {
            path: tmp.to_owned(),
            action,
            source,
        }
    };
    // Truncating, not `create_new`: a temporary file of the same name can only be left by
    // an earlier failed attempt of this very write.
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(io_error("creating the temporary file"))?;
    file.write_all(header)
        .and_then(|()| file.write_all(payload))
        .map_err(io_error("writing the temporary file"))?;
    // Without this, the rename could reach the disk before the data does, and a crash
    // would leave a complete-looking name over a truncated or empty file.
    file.sync_all()
        .map_err(io_error("syncing the temporary file"))
}

/// Makes the directory's entries (a rename, here) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// There is no portable way to sync a directory elsewhere: the rename is as durable as
/// the platform makes it on its own.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// `error`, with what was being done and to which path, for the messages of
/// [`SnapshotStore::open`] and [`SnapshotStore::candidates`], which return plain
/// `io::Error`s.
fn with_path(error: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("{action} {}: {error}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn identity(payload: &[u8]) -> Result<Vec<u8>, String> {
        Ok(payload.to_vec())
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// A store in a fresh directory, with `payloads` written in order.
    fn written(payloads: &[&[u8]]) -> (TempDir, SnapshotStore, Vec<WrittenSnapshot>) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SnapshotStore::open(dir.path()).unwrap();
        let written = payloads.iter().map(|p| store.write(p).unwrap()).collect();
        (dir, store, written)
    }

    fn truncate(path: &Path, len: u64) {
        OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(len)
            .unwrap();
    }

    fn patch(path: &Path, at: usize, bytes: &[u8]) {
        let mut data = fs::read(path).unwrap();
        data[at..at + bytes.len()].copy_from_slice(bytes);
        fs::write(path, data).unwrap();
    }

    /// Loading passes over `bad` (the newest) with a reason that names it and says `why`,
    /// and loads snapshot 1, "first".
    fn assert_falls_back(store: &SnapshotStore, bad: &Path, why: &str) {
        let outcome = store.load_newest(identity);
        let loaded = outcome.loaded.expect("the previous snapshot loads");
        assert_eq!(loaded.seq, 1);
        assert_eq!(loaded.value, b"first");
        assert_eq!(outcome.rejected.len(), 1, "{:?}", outcome.rejected);
        let (path, reason) = &outcome.rejected[0];
        assert_eq!(path, bad);
        assert!(reason.contains(&bad.display().to_string()), "{reason}");
        assert!(reason.contains(why), "{reason}");
    }

    #[test]
    fn a_written_snapshot_reads_back_with_the_documented_layout() {
        let (_dir, store, written) = written(&[b"hello"]);
        let w = &written[0];
        assert_eq!(w.seq, 1);
        assert_eq!(
            w.path.file_name().unwrap(),
            "snapshot-00000000000000000001.snap"
        );
        assert_eq!(w.bytes, HEADER_LEN as u64 + 5);
        assert_eq!(fs::metadata(&w.path).unwrap().len(), w.bytes);

        let raw = fs::read(&w.path).unwrap();
        assert_eq!(&raw[0..8], b"SESSNAP\0");
        assert_eq!(raw[8..12], FORMAT_VERSION.to_le_bytes());
        assert_eq!(raw[12..20], 5u64.to_le_bytes());
        assert_eq!(raw[20..24], crc32fast::hash(b"hello").to_le_bytes());
        assert_eq!(raw[24..32], 1u64.to_le_bytes());
        assert_eq!(&raw[32..], b"hello");

        assert_eq!(
            SnapshotStore::read(&w.path).unwrap(),
            (1, b"hello".to_vec())
        );
        let outcome = store.load_newest(identity);
        assert_eq!(
            outcome.loaded,
            Some(Loaded {
                path: w.path.clone(),
                seq: 1,
                value: b"hello".to_vec()
            })
        );
        assert!(outcome.rejected.is_empty());
        assert_eq!(names(store.dir()), ["snapshot-00000000000000000001.snap"]);
    }

    #[test]
    fn an_empty_payload_round_trips() {
        let (_dir, _store, written) = written(&[b""]);
        assert_eq!(
            SnapshotStore::read(&written[0].path).unwrap(),
            (1, Vec::new())
        );
    }

    #[test]
    fn four_writes_leave_the_newest_two() {
        let (dir, store, written) = written(&[b"1", b"2", b"3", b"4"]);
        assert_eq!(
            written.iter().map(|w| w.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(
            names(dir.path()),
            [
                "snapshot-00000000000000000003.snap",
                "snapshot-00000000000000000004.snap"
            ]
        );
        assert_eq!(
            store.candidates().unwrap(),
            [written[3].path.clone(), written[2].path.clone()]
        );
        assert_eq!(store.last_seq(), 4);
    }

    #[test]
    fn the_sequence_continues_after_reopening() {
        let (dir, store, _) = written(&[b"1", b"2"]);
        drop(store);
        let mut store = SnapshotStore::open(dir.path()).unwrap();
        assert_eq!(store.last_seq(), 2);
        let third = store.write(b"3").unwrap();
        assert_eq!(third.seq, 3);
        assert_eq!(
            SnapshotStore::read(&third.path).unwrap(),
            (3, b"3".to_vec())
        );

        // An unreadable newest file still holds its number: the next write goes past it.
        truncate(&third.path, 0);
        drop(store);
        let mut store = SnapshotStore::open(dir.path()).unwrap();
        assert_eq!(store.write(b"4").unwrap().seq, 4);
    }

    #[test]
    fn a_newest_file_cut_in_its_header_falls_back_to_the_previous() {
        let (_dir, store, written) = written(&[b"first", b"second"]);
        let newest = &written[1].path;
        truncate(newest, 10);
        assert!(matches!(
            SnapshotStore::read(newest),
            Err(StoreError::TruncatedHeader { size: 10, .. })
        ));
        assert_falls_back(&store, newest, "truncated header");

        truncate(newest, 0);
        assert!(matches!(
            SnapshotStore::read(newest),
            Err(StoreError::TruncatedHeader { size: 0, .. })
        ));
        assert_falls_back(&store, newest, "truncated header");
    }

    #[test]
    fn a_newest_file_cut_in_its_payload_falls_back_to_the_previous() {
        let (_dir, store, written) = written(&[b"first", b"second"]);
        let newest = &written[1].path;
        truncate(newest, HEADER_LEN as u64 + 2);
        assert!(matches!(
            SnapshotStore::read(newest),
            Err(StoreError::LengthMismatch {
                declared: 6,
                actual: 2,
                ..
            })
        ));
        assert_falls_back(&store, newest, "length mismatch");
    }

    #[test]
    fn bytes_appended_to_a_file_are_a_length_mismatch() {
        let (_dir, _store, written) = written(&[b"first"]);
        let mut data = fs::read(&written[0].path).unwrap();
        data.extend_from_slice(b"junk");
        fs::write(&written[0].path, data).unwrap();
        assert!(matches!(
            SnapshotStore::read(&written[0].path),
            Err(StoreError::LengthMismatch {
                declared: 5,
                actual: 9,
                ..
            })
        ));
    }

    #[test]
    fn a_flipped_payload_byte_is_a_checksum_error_and_falls_back() {
        let (_dir, store, written) = written(&[b"first", b"second"]);
        let newest = &written[1].path;
        let byte = fs::read(newest).unwrap()[HEADER_LEN + 1];
        patch(newest, HEADER_LEN + 1, &[byte ^ 0x01]);
        let Err(error) = SnapshotStore::read(newest) else {
            panic!("a corrupted payload was read");
        };
        assert!(
            matches!(error, StoreError::ChecksumMismatch { expected, actual, .. }
                if expected == crc32fast::hash(b"second") && actual != expected),
            "{error:?}"
        );
        assert_eq!(error.path(), newest);
        assert_falls_back(&store, newest, "checksum mismatch");
    }

    #[test]
    fn a_wrong_magic_is_rejected_as_such_and_falls_back() {
        let (_dir, store, written) = written(&[b"first", b"second"]);
        let newest = &written[1].path;
        patch(newest, 0, b"NOTSNAP!");
        assert!(matches!(
            SnapshotStore::read(newest),
            Err(StoreError::BadMagic { found, .. }) if found == b"NOTSNAP!"
        ));
        assert_falls_back(&store, newest, "wrong magic");

        // Even when the file is too short to hold a header.
        fs::write(newest, b"{}").unwrap();
        assert!(matches!(
            SnapshotStore::read(newest),
            Err(StoreError::BadMagic { found, .. }) if found == b"{}"
        ));
    }

    #[test]
    fn a_future_version_is_rejected_as_such_and_falls_back() {
        let (_dir, store, written) = written(&[b"first", b"second"]);
        let newest = &written[1].path;
        patch(newest, 8, &2u32.to_le_bytes());
        assert!(matches!(
            SnapshotStore::read(newest),
            Err(StoreError::UnsupportedVersion { version: 2, .. })
        ));
        assert_falls_back(&store, newest, "unsupported format version 2");

        // A newer format may have a longer header: the version is checked first.
        truncate(newest, 12);
        assert!(matches!(
            SnapshotStore::read(newest),
            Err(StoreError::UnsupportedVersion { version: 2, .. })
        ));
    }

    #[test]
    fn a_payload_the_decoder_rejects_falls_back() {
        let (_dir, store, written) = written(&[b"first", b"second"]);
        let outcome = store.load_newest(|payload| match payload {
            b"second" => Err("unknown field 7".to_owned()),
            other => Ok(other.to_vec()),
        });
        let loaded = outcome.loaded.unwrap();
        assert_eq!((loaded.seq, loaded.value), (1, b"first".to_vec()));
        assert_eq!(outcome.rejected.len(), 1);
        assert_eq!(outcome.rejected[0].0, written[1].path);
        assert!(
            outcome.rejected[0]
                .1
                .contains("the payload does not decode: unknown field 7"),
            "{}",
            outcome.rejected[0].1
        );
    }

    #[test]
    fn a_file_renamed_to_another_sequence_is_rejected() {
        let (dir, store, written) = written(&[b"first", b"second"]);
        let renamed = dir.path().join("snapshot-00000000000000000005.snap");
        fs::copy(&written[0].path, &renamed).unwrap();
        assert!(matches!(
            SnapshotStore::read(&renamed),
            Err(StoreError::SeqMismatch {
                name: 5,
                header: 1,
                ..
            })
        ));
        let outcome = store.load_newest(identity);
        assert_eq!(outcome.loaded.unwrap().seq, 2);
        assert_eq!(outcome.rejected.len(), 1);
        assert!(outcome.rejected[0].1.contains("sequence mismatch"));
    }

    #[test]
    fn when_every_snapshot_is_bad_nothing_is_loaded_and_all_are_reported() {
        let (_dir, store, written) = written(&[b"first", b"second"]);
        truncate(&written[0].path, 3);
        truncate(&written[1].path, 40);
        let outcome = store.load_newest(identity);
        assert_eq!(outcome.loaded, None);
        assert_eq!(
            outcome.rejected.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            [&written[1].path, &written[0].path]
        );
    }

    #[test]
    fn leftover_temporary_files_are_removed_on_open_and_never_loaded() {
        let (dir, store, written) = written(&[b"first", b"second"]);
        drop(store);
        // What a crash mid-write leaves: a complete-looking one and an empty one.
        let complete = dir.path().join("snapshot-00000000000000000003.snap.tmp");
        fs::copy(&written[1].path, &complete).unwrap();
        fs::write(
            dir.path().join("snapshot-00000000000000000004.snap.tmp"),
            b"",
        )
        .unwrap();
        fs::write(dir.path().join("notes.tmp"), b"not ours").unwrap();

        let mut store = SnapshotStore::open(dir.path()).unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "notes.tmp",
                "snapshot-00000000000000000001.snap",
                "snapshot-00000000000000000002.snap"
            ]
        );
        assert_eq!(store.last_seq(), 2);
        let outcome = store.load_newest(identity);
        assert_eq!(outcome.loaded.unwrap().seq, 2);
        assert!(outcome.rejected.is_empty());
        assert_eq!(store.write(b"third").unwrap().seq, 3);
    }

    #[test]
    fn other_files_are_not_candidates() {
        let (dir, store, written) = written(&[b"first"]);
        for other in [
            "README",
            "snapshot-1.snap",
            "snapshot-0000000000000000000x.snap",
            "snapshot-00000000000000000009.snap.bak",
            "snapshot-99999999999999999999.snap",
        ] {
            fs::write(dir.path().join(other), b"x").unwrap();
        }
        fs::create_dir(dir.path().join("snapshot-00000000000000000008.snap")).unwrap();
        assert_eq!(store.candidates().unwrap(), [written[0].path.clone()]);
        assert!(matches!(
            SnapshotStore::read(dir.path().join("snapshot-1.snap")),
            Err(StoreError::NotSnapshotName { .. })
        ));
    }

    #[test]
    fn an_empty_directory_loads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("state").join("snapshots");
        let store = SnapshotStore::open(&nested).unwrap();
        assert!(nested.is_dir());
        assert_eq!(store.last_seq(), 0);
        assert!(store.candidates().unwrap().is_empty());
        let outcome = store.load_newest(identity);
        assert_eq!(outcome.loaded, None);
        assert!(outcome.rejected.is_empty());
    }

    #[test]
    fn the_last_sequence_number_cannot_be_followed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(file_name(u64::MAX)), b"").unwrap();
        let mut store = SnapshotStore::open(dir.path()).unwrap();
        assert_eq!(store.last_seq(), u64::MAX);
        assert!(matches!(
            store.write(b"x"),
            Err(StoreError::SeqExhausted { .. })
        ));
    }

    #[test]
    fn a_50_mb_payload_round_trips() {
        let payload: Vec<u8> = (0..50u32 * 1024 * 1024)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let (_dir, mut store, _) = written(&[]);
        let w = store.write(&payload).unwrap();
        assert_eq!(w.bytes, HEADER_LEN as u64 + payload.len() as u64);
        let (seq, read) = SnapshotStore::read(&w.path).unwrap();
        assert_eq!(seq, 1);
        // Not assert_eq!: a failure would print 50 MB.
        assert!(read == payload, "the payload read back differs");
    }
}
