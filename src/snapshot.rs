//! Snapshots: the whole state at a log position, written without stalling
//! the engine, and loaded at start-up.
//!
//! Mechanism: an incremental, "fuzzy" snapshot on the engine thread. When a
//! snapshot starts, the log rotates to a new segment at `S`. Between
//! batches, within the timer budget, the engine serializes keys a slice at a
//! time (walking positions downwards, as SCAN does, so every key that lives
//! through the snapshot is visited) and hands full chunks to a writer thread
//! that does all file I/O. Each key is stored with the log position `p` at
//! which it was captured: it already reflects every record before `p`.
//! Recovery loads the snapshot and replays the log from `S`, applying an
//! effect on key `K` at position `q` only if `q >= p(K)`. Because every
//! effect names one key and a key's (re)creation is logged as a full `Put`,
//! this yields exactly the state at the end of the log.
//!
//! Why not fork(): the engine shares its process with the network threads,
//! and fork's page-table copy stalls the engine for tens of milliseconds per
//! gigabyte, which breaks the p99 target; copy-on-write structures would tax
//! every write. The incremental walk costs engine CPU spread over many
//! ticks (bounded by `timer_budget_percent`) and never blocks on disk: when
//! the writer falls behind, serialization pauses instead. A single very
//! large key (a huge seat map or queue) is serialized in one slice.
//!
//! File format (little-endian), version 1, named
//! `snapshot-<S, 20 digits>.usnap`, written as `.tmp` first:
//!
//! ```text
//! file    := header chunk* trailer
//! header  := "USHERSNP" version:u32 reserved:u32 start_lsn:u64        (24 bytes)
//! chunk   := length:u32 crc:u32 entry*                                (crc32c of the entries)
//! entry   := key:(u32 length + bytes) position:u64 deadline:u64 value (state/effect.rs values)
//! trailer := 0xFFFFFFFF:u32 crc:u32 end_lsn:u64 entries:u64           (crc32c of the 16 bytes)
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use crate::state::effect::{decode_value, encode_value, put_bytes, Reader};
use crate::state::{State, Value};
use crate::wal::{self, sync_dir};

pub const SNAPSHOT_MAGIC: &[u8; 8] = b"USHERSNP";
pub const SNAPSHOT_VERSION: u32 = 1;
pub const SNAPSHOT_HEADER_BYTES: usize = 24;
const TRAILER_MARK: u32 = u32::MAX;
/// Chunks are handed to the writer at about this size.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Chunks that may wait for the writer before serialization pauses.
const CHUNKS_IN_FLIGHT_MAX: usize = 16;
/// Keys serialized between two looks at the clock.
const KEYS_PER_STEP: usize = 256;

pub fn snapshot_name(start_lsn: u64) -> String {
    format!("snapshot-{start_lsn:020}.usnap")
}

pub fn parse_snapshot_name(name: &str) -> Option<u64> {
    name.strip_prefix("snapshot-")?
        .strip_suffix(".usnap")?
        .parse()
        .ok()
}

enum ToWriter {
    Chunk(Vec<u8>),
    Finish { end_lsn: u64, entries: u64 },
}

/// What a finished snapshot reports.
#[derive(Debug, Clone)]
pub struct SnapshotDone {
    pub path: PathBuf,
    pub start_lsn: u64,
    pub entries: u64,
    pub bytes: u64,
}

/// A snapshot in progress, driven by the engine.
pub struct SnapshotJob {
    pub start_lsn: u64,
    /// One past the next position to visit; 0 = all visited.
    cursor: usize,
    chunk: Vec<u8>,
    /// A full chunk the writer could not take yet.
    held: Option<Vec<u8>>,
    entries: u64,
    finished: bool,
    /// Tells the writer that the log is durable up to the snapshot's end
    /// position; taken by the engine once every key is serialized.
    log_durable: Option<Sender<bool>>,
    to_writer: Sender<ToWriter>,
    from_writer: Receiver<Result<SnapshotDone, String>>,
}

impl SnapshotJob {
    /// Starts the writer thread for a snapshot at `start_lsn` (the log has
    /// just been rotated to that position).
    pub fn start(dir: &Path, state: &State, start_lsn: u64) -> io::Result<SnapshotJob> {
        let (to_writer, writer_rx) = crossbeam_channel::bounded(CHUNKS_IN_FLIGHT_MAX);
        let (writer_tx, from_writer) = crossbeam_channel::bounded(1);
        let (log_durable, log_durable_rx) = crossbeam_channel::bounded(1);
        let dir = dir.to_path_buf();
        std::thread::Builder::new()
            .name("usher-snapshot".into())
            .spawn(move || {
                let result = write_snapshot(&dir, start_lsn, &writer_rx, &log_durable_rx);
                let _ = writer_tx.send(result);
            })?;
        Ok(SnapshotJob {
            start_lsn,
            cursor: state.keyspace.len(),
            chunk: Vec::with_capacity(CHUNK_BYTES + 4096),
            held: None,
            entries: 0,
            finished: false,
            log_durable: Some(log_durable),
            to_writer,
            from_writer,
        })
    }

    /// Serializes keys until `out_of_time()` says stop, the writer is full,
    /// or every key is done. `position` is the log position the keys are
    /// captured at (the next lsn).
    pub fn step(&mut self, state: &State, position: u64, out_of_time: impl Fn() -> bool) {
        if self.finished {
            return;
        }
        if !self.flush_held() {
            return;
        }
        loop {
            for _ in 0..KEYS_PER_STEP {
                if self.cursor == 0 {
                    break;
                }
                self.cursor = self.cursor.min(state.keyspace.len());
                if self.cursor == 0 {
                    break;
                }
                self.cursor -= 1;
                if let Some((key, entry)) = state.keyspace.at(self.cursor) {
                    put_bytes(&mut self.chunk, key);
                    self.chunk.extend_from_slice(&position.to_le_bytes());
                    self.chunk
                        .extend_from_slice(&entry.deadline_ms.unwrap_or(0).to_le_bytes());
                    encode_value(&entry.value, &mut self.chunk);
                    self.entries += 1;
                }
                if self.chunk.len() >= CHUNK_BYTES {
                    break;
                }
            }
            if self.chunk.len() >= CHUNK_BYTES || (self.cursor == 0 && !self.chunk.is_empty()) {
                self.held = Some(std::mem::replace(
                    &mut self.chunk,
                    Vec::with_capacity(CHUNK_BYTES + 4096),
                ));
                if !self.flush_held() {
                    return;
                }
            }
            if self.cursor == 0 {
                let finish = ToWriter::Finish {
                    end_lsn: position,
                    entries: self.entries,
                };
                // The writer has room or is gone; a full channel only
                // delays the finish to the next step.
                match self.to_writer.try_send(finish) {
                    Ok(()) | Err(TrySendError::Disconnected(_)) => self.finished = true,
                    Err(TrySendError::Full(_)) => {}
                }
                return;
            }
            if out_of_time() {
                return;
            }
        }
    }

    /// Once every key is serialized (and only once): the sender through
    /// which the engine reports whether the log is durable up to the end
    /// position. Keys reflect log records that may not be on disk yet, so
    /// the snapshot must not replace the log before they are.
    pub fn take_log_durable(&mut self) -> Option<Sender<bool>> {
        if self.finished {
            self.log_durable.take()
        } else {
            None
        }
    }

    /// Hands a held chunk to the writer; false if it has no room yet.
    fn flush_held(&mut self) -> bool {
        let Some(chunk) = self.held.take() else {
            return true;
        };
        match self.to_writer.try_send(ToWriter::Chunk(chunk)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => true,
            Err(TrySendError::Full(ToWriter::Chunk(chunk))) => {
                self.held = Some(chunk);
                false
            }
            Err(TrySendError::Full(_)) => true,
        }
    }

    /// The writer's verdict once it is done; `None` while it works.
    pub fn poll(&self) -> Option<Result<SnapshotDone, String>> {
        match self.from_writer.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err("the snapshot writer stopped".into())),
        }
    }
}

/// The writer thread: temp file, chunks, trailer, fsync, atomic rename,
/// fsync of the directory, then removal of what the snapshot replaces.
fn write_snapshot(
    dir: &Path,
    start_lsn: u64,
    chunks: &Receiver<ToWriter>,
    log_durable: &Receiver<bool>,
) -> Result<SnapshotDone, String> {
    let final_path = dir.join(snapshot_name(start_lsn));
    let temp_path = dir.join(format!("{}.tmp", snapshot_name(start_lsn)));
    let result = (|| -> io::Result<(u64, u64)> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp_path)?;
        let mut out = BufWriter::with_capacity(CHUNK_BYTES, file);
        out.write_all(SNAPSHOT_MAGIC)?;
        out.write_all(&SNAPSHOT_VERSION.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&start_lsn.to_le_bytes())?;
        let mut bytes = SNAPSHOT_HEADER_BYTES as u64;
        loop {
            match chunks.recv() {
                Ok(ToWriter::Chunk(chunk)) => {
                    out.write_all(&(chunk.len() as u32).to_le_bytes())?;
                    out.write_all(&crc32c::crc32c(&chunk).to_le_bytes())?;
                    out.write_all(&chunk)?;
                    bytes += 8 + chunk.len() as u64;
                }
                Ok(ToWriter::Finish { end_lsn, entries }) => {
                    let mut tail = [0u8; 16];
                    tail[..8].copy_from_slice(&end_lsn.to_le_bytes());
                    tail[8..].copy_from_slice(&entries.to_le_bytes());
                    out.write_all(&TRAILER_MARK.to_le_bytes())?;
                    out.write_all(&crc32c::crc32c(&tail).to_le_bytes())?;
                    out.write_all(&tail)?;
                    bytes += 24;
                    let file = out.into_inner().map_err(|e| e.into_error())?;
                    file.sync_all()?;
                    if log_durable.recv() != Ok(true) {
                        return Err(io::Error::other(
                            "the log up to the snapshot's end position did not become durable",
                        ));
                    }
                    return Ok((entries, bytes));
                }
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::Interrupted,
                        "snapshot abandoned before it finished",
                    ))
                }
            }
        }
    })();
    let (entries, bytes) = match result {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&temp_path);
            return Err(format!("snapshot {}: {error}", final_path.display()));
        }
    };
    std::fs::rename(&temp_path, &final_path)
        .and_then(|()| sync_dir(dir))
        .map_err(|error| format!("snapshot {}: {error}", final_path.display()))?;
    // The snapshot is durable: older snapshots and log segments before its
    // position are no longer needed. A crash here leaves them behind, and
    // recovery ignores and removes them.
    remove_superseded(dir, start_lsn);
    Ok(SnapshotDone {
        path: final_path,
        start_lsn,
        entries,
        bytes,
    })
}

/// Deletes snapshots and log segments older than the snapshot at `start_lsn`.
pub fn remove_superseded(dir: &Path, start_lsn: u64) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let older = parse_snapshot_name(name)
            .or_else(|| wal::parse_segment_name(name))
            .is_some_and(|lsn| lsn < start_lsn);
        if older {
            if let Err(error) = std::fs::remove_file(entry.path()) {
                tracing::warn!(file = %entry.path().display(), %error, "cannot remove a superseded file");
            }
        }
    }
    let _ = sync_dir(dir);
}

/// A snapshot that failed to load: which file, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError {
    pub path: PathBuf,
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "snapshot {} is invalid at byte offset {}: {}",
            self.path.display(),
            self.offset,
            self.reason
        )
    }
}

/// What a loaded snapshot holds.
pub struct Loaded {
    pub start_lsn: u64,
    pub end_lsn: u64,
    pub entries: u64,
    /// Log position each key was captured at, for replay filtering.
    pub positions: std::collections::HashMap<Bytes, u64, foldhash::fast::FixedState>,
}

/// Loads a snapshot into `state` (recording off). The file is memory-mapped
/// and checked chunk by chunk; any mismatch is an error naming the offset.
pub fn load(path: &Path, state: &mut State) -> Result<Loaded, SnapshotError> {
    let error = |offset: usize, reason: String| SnapshotError {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let file = File::open(path).map_err(|e| error(0, format!("cannot open: {e}")))?;
    // SAFETY: the file is ours (the data directory is locked) and is not
    // modified while mapped; snapshots are written once and renamed.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| error(0, format!("cannot map: {e}")))?;
    let data: &[u8] = &map;
    if data.len() < SNAPSHOT_HEADER_BYTES || &data[..8] != SNAPSHOT_MAGIC {
        return Err(error(
            0,
            "not an usher snapshot (bad magic or too short)".into(),
        ));
    }
    let mut header = Reader::new(&data[8..SNAPSHOT_HEADER_BYTES]);
    let version = header.u32().map_err(|e| error(8, e.0))?;
    if version != SNAPSHOT_VERSION {
        return Err(error(8, format!("unsupported snapshot version {version}")));
    }
    let _reserved = header.u32().map_err(|e| error(12, e.0))?;
    let start_lsn = header.u64().map_err(|e| error(16, e.0))?;
    // The trailer's entry count sizes the keyspace once instead of letting
    // it grow (and rehash) step by step; it is verified again at the end.
    if let Some(count) = trailer_entries(data) {
        state.keyspace.reserve(count);
    }
    let recording = state.keyspace.set_recording(false);
    let mut positions =
        std::collections::HashMap::with_hasher(foldhash::fast::FixedState::with_seed(7));
    let mut offset = SNAPSHOT_HEADER_BYTES;
    let mut entries = 0u64;
    let result = loop {
        if data.len() - offset < 8 {
            break Err(error(
                offset,
                "file ends without a trailer (incomplete snapshot)".into(),
            ));
        }
        let mut head = Reader::new(&data[offset..offset + 8]);
        let (length, crc) = match (head.u32(), head.u32()) {
            (Ok(length), Ok(crc)) => (length, crc),
            _ => break Err(error(offset, "unreadable chunk header".into())),
        };
        if length == TRAILER_MARK {
            if data.len() - offset < 24 {
                break Err(error(offset, "truncated trailer".into()));
            }
            let tail = &data[offset + 8..offset + 24];
            if crc32c::crc32c(tail) != crc {
                break Err(error(offset, "trailer checksum mismatch".into()));
            }
            let mut tail = Reader::new(tail);
            let end_lsn = tail.u64().unwrap_or(0);
            let count = tail.u64().unwrap_or(u64::MAX);
            if count != entries {
                break Err(error(
                    offset,
                    format!("trailer counts {count} entries, file has {entries}"),
                ));
            }
            if offset + 24 != data.len() {
                break Err(error(offset + 24, "bytes after the trailer".into()));
            }
            break Ok(end_lsn);
        }
        let body_start = offset + 8;
        let body_end = body_start + length as usize;
        if body_end > data.len() {
            break Err(error(
                offset,
                format!("chunk of {length} bytes runs past the end of the file"),
            ));
        }
        let body = &data[body_start..body_end];
        if crc32c::crc32c(body) != crc {
            break Err(error(offset, "chunk checksum mismatch".into()));
        }
        let mut reader = Reader::new(body);
        let mut failed = None;
        while !reader.is_empty() {
            let at = body_start + reader.position();
            let parsed = (|| {
                let key = reader.bytes()?;
                let position = reader.u64()?;
                let deadline = reader.u64()?;
                let value: Value = decode_value(&mut reader)?;
                Ok::<_, crate::state::effect::DecodeError>((key, position, deadline, value))
            })();
            match parsed {
                Ok((key, position, deadline, value)) => {
                    entries += 1;
                    // A key visited twice keeps its later capture.
                    if !positions.is_empty()
                        && positions.get(&key).is_some_and(|known| *known > position)
                    {
                        continue;
                    }
                    // A key captured at the snapshot's start takes every
                    // later effect, exactly as a key with no entry does, so
                    // only later captures need remembering.
                    if position > start_lsn {
                        positions.insert(key.clone(), position);
                    } else if !positions.is_empty() {
                        positions.remove(&key);
                    }
                    state
                        .keyspace
                        .load(key, value, (deadline != 0).then_some(deadline));
                }
                Err(decode) => {
                    failed = Some(error(at, format!("bad entry: {decode}")));
                    break;
                }
            }
        }
        if let Some(failed) = failed {
            break Err(failed);
        }
        offset = body_end;
    };
    state.keyspace.set_recording(recording);
    let end_lsn = result?;
    Ok(Loaded {
        start_lsn,
        end_lsn,
        entries,
        positions,
    })
}

/// The entry count from a checksummed trailer at the end of `data`, if the
/// trailer is there and intact; at most a sane bound.
fn trailer_entries(data: &[u8]) -> Option<usize> {
    let trailer = data.get(data.len().checked_sub(24)?..)?;
    let mut reader = Reader::new(trailer);
    let mark = reader.u32().ok()?;
    let crc = reader.u32().ok()?;
    if mark != TRAILER_MARK || crc32c::crc32c(&trailer[8..]) != crc {
        return None;
    }
    let _end_lsn = reader.u64().ok()?;
    let entries = reader.u64().ok()?;
    // Every entry takes at least 21 bytes; a count beyond that is not to be
    // trusted with an allocation.
    usize::try_from(entries)
        .ok()
        .filter(|count| *count <= data.len() / 21)
}
