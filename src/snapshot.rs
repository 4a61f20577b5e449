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
//! this yields exactly the state at the end of the log. After the keys, the
//! `REQ` table's entries are walked and filtered the same way, by id (a
//! namespace apart from keys): each entry is created by one `ReqRemember`
//! and removed by one `ReqForget` or `FlushAll`.
//!
//! Why not fork(): the engine shares its process with the network threads,
//! and fork's page-table copy stalls the engine for tens of milliseconds per
//! gigabyte, which breaks the p99 target; copy-on-write structures would tax
//! every write. The incremental walk costs engine CPU spread over many
//! ticks (bounded by `timer_budget_percent`) and never blocks on disk: when
//! the writer falls behind, serialization pauses instead. A single very
//! large key (a huge seat map or queue) is serialized in one slice.
//!
//! File format (little-endian), version 2, named
//! `snapshot-<S, 20 digits>.usnap`, written as `.tmp` first:
//!
//! ```text
//! file    := header chunk* trailer
//! header  := "USHERSNP" version:u32 reserved:u32 start_lsn:u64        (24 bytes)
//! chunk   := length:u32 crc:u32 entry*                                (crc32c of the entries)
//! entry   := 1 key:(u32 length + bytes) position:u64 deadline:u64 value
//!          | 2 id:(u32 length + bytes) position:u64 fingerprint:u64 deadline:u64 reply
//!                                                (values and replies: state/effect.rs)
//! trailer := 0xFFFFFFFF:u32 crc:u32 end_lsn:u64 entries:u64           (crc32c of the 16 bytes)
//! ```
//! Entry kind 1 is a key, kind 2 a remembered `REQ` reply; `entries` counts
//! both. (Version 1 had key entries only, without the kind byte.)

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use crate::state::effect::{
    decode_reply, decode_value, encode_reply, encode_value, put_bytes, DecodeError, Reader,
};
use crate::state::{State, Value};
use crate::wal::{self, sync_dir};

pub const SNAPSHOT_MAGIC: &[u8; 8] = b"USHERSNP";
pub const SNAPSHOT_VERSION: u32 = 2;
const ENTRY_KEY: u8 = 1;
const ENTRY_REQ: u8 = 2;
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
    /// One past the next key position to visit; 0 = all visited.
    cursor: usize,
    /// The same for the `REQ` table, walked after the keys.
    req_cursor: usize,
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
    /// Changes whenever the job moves forward (keys serialized, a chunk
    /// handed over, the end reached); equal before and after a step means
    /// it is waiting for the writer.
    pub fn progress(&self) -> (usize, usize, u64, bool, bool) {
        (
            self.cursor,
            self.req_cursor,
            self.entries,
            self.held.is_some(),
            self.finished,
        )
    }

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
            req_cursor: state.idempotency.len(),
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
                if !self.capture_next(state, position) {
                    break;
                }
                if self.chunk.len() >= CHUNK_BYTES {
                    break;
                }
            }
            let walked = self.cursor == 0 && self.req_cursor == 0;
            if self.chunk.len() >= CHUNK_BYTES || (walked && !self.chunk.is_empty()) {
                self.held = Some(std::mem::replace(
                    &mut self.chunk,
                    Vec::with_capacity(CHUNK_BYTES + 4096),
                ));
                if !self.flush_held() {
                    return;
                }
            }
            if walked {
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

    /// Serializes the next key, or once the keys are done the next `REQ`
    /// entry; false when both walks are done. Cursors are clamped to the
    /// current sizes, since entries may have gone since the last step.
    fn capture_next(&mut self, state: &State, position: u64) -> bool {
        self.cursor = self.cursor.min(state.keyspace.len());
        if self.cursor > 0 {
            self.cursor -= 1;
            if let Some((key, entry)) = state.keyspace.at(self.cursor) {
                self.chunk.push(ENTRY_KEY);
                put_bytes(&mut self.chunk, key);
                self.chunk.extend_from_slice(&position.to_le_bytes());
                self.chunk
                    .extend_from_slice(&entry.deadline_ms.unwrap_or(0).to_le_bytes());
                encode_value(&entry.value, &mut self.chunk);
                self.entries += 1;
            }
            return true;
        }
        self.req_cursor = self.req_cursor.min(state.idempotency.len());
        if self.req_cursor > 0 {
            self.req_cursor -= 1;
            if let Some((id, remembered)) = state.idempotency.at(self.req_cursor) {
                self.chunk.push(ENTRY_REQ);
                put_bytes(&mut self.chunk, id);
                self.chunk.extend_from_slice(&position.to_le_bytes());
                self.chunk
                    .extend_from_slice(&remembered.fingerprint.to_le_bytes());
                self.chunk
                    .extend_from_slice(&remembered.deadline_ms.to_le_bytes());
                encode_reply(&remembered.reply, &mut self.chunk);
                self.entries += 1;
            }
            return true;
        }
        false
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

/// Log positions by key or id.
pub type PositionMap = std::collections::HashMap<Bytes, u64, foldhash::fast::FixedState>;

/// Where a snapshot captured each key and each `REQ` entry, for replay
/// filtering.
#[derive(Debug, Default)]
pub struct Captured {
    pub keys: PositionMap,
    pub req_ids: PositionMap,
}

/// What a loaded snapshot holds.
pub struct Loaded {
    pub start_lsn: u64,
    pub end_lsn: u64,
    pub entries: u64,
    pub positions: Captured,
}

/// One decoded snapshot entry.
enum Captures {
    Key {
        key: Bytes,
        deadline: u64,
        value: Value,
    },
    Req {
        id: Bytes,
        fingerprint: u64,
        deadline: u64,
        reply: usher_protocol::Reply,
    },
}

fn read_entry(reader: &mut Reader<'_>) -> Result<(Captures, u64), DecodeError> {
    match reader.u8()? {
        ENTRY_KEY => {
            let key = reader.bytes()?;
            let position = reader.u64()?;
            let deadline = reader.u64()?;
            let value = decode_value(reader)?;
            Ok((
                Captures::Key {
                    key,
                    deadline,
                    value,
                },
                position,
            ))
        }
        ENTRY_REQ => {
            let id = reader.bytes()?;
            let position = reader.u64()?;
            let fingerprint = reader.u64()?;
            let deadline = reader.u64()?;
            let reply = decode_reply(reader)?;
            Ok((
                Captures::Req {
                    id,
                    fingerprint,
                    deadline,
                    reply,
                },
                position,
            ))
        }
        kind => Err(DecodeError(format!("unknown entry kind {kind}"))),
    }
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
    let mut positions = Captured {
        keys: PositionMap::with_hasher(foldhash::fast::FixedState::with_seed(7)),
        req_ids: PositionMap::with_hasher(foldhash::fast::FixedState::with_seed(7)),
    };
    // Two threads: one checks and decodes chunks (checksums, allocation of
    // keys and values), this one inserts them; on two cores that nearly
    // halves the time to load a large snapshot.
    let mut entries = 0u64;
    let result = std::thread::scope(|scope| {
        let (batches, decoded) = crossbeam_channel::bounded(LOAD_BATCHES_IN_FLIGHT);
        scope.spawn(|| decode_chunks(data, &error, batches));
        for message in decoded.iter() {
            let batch = match message {
                Decoded::Batch(batch) => batch,
                Decoded::End(end_lsn) => return Ok(end_lsn),
                Decoded::Failed(failure) => return Err(failure),
            };
            for (captures, position, at) in batch {
                entries += 1;
                if let Err(reason) = restore(state, &mut positions, start_lsn, captures, position) {
                    // Dropping the receiver stops the decoder.
                    return Err(error(at, reason));
                }
            }
        }
        Err(error(0, "the snapshot decoder stopped".into()))
    });
    state.keyspace.set_recording(recording);
    let end_lsn = result?;
    Ok(Loaded {
        start_lsn,
        end_lsn,
        entries,
        positions,
    })
}

/// Batches of decoded entries waiting to be inserted, at most.
const LOAD_BATCHES_IN_FLIGHT: usize = 8;
/// Entries per batch handed from the decoder to the loader.
const LOAD_BATCH_ENTRIES: usize = 4096;

enum Decoded {
    /// Entries with their capture position and file offset.
    Batch(Vec<(Captures, u64, usize)>),
    /// The trailer was reached and checks out: the snapshot's end position.
    End(u64),
    Failed(SnapshotError),
}

/// Walks the chunks after the header, checking each checksum, and sends
/// decoded entries in batches, then the end position from the trailer.
fn decode_chunks(
    data: &[u8],
    error: &(dyn Fn(usize, String) -> SnapshotError + Sync),
    out: crossbeam_channel::Sender<Decoded>,
) {
    let mut offset = SNAPSHOT_HEADER_BYTES;
    let mut entries = 0u64;
    let mut batch = Vec::with_capacity(LOAD_BATCH_ENTRIES);
    let outcome = loop {
        if data.len() - offset < 8 {
            break Decoded::Failed(error(
                offset,
                "file ends without a trailer (incomplete snapshot)".into(),
            ));
        }
        let mut head = Reader::new(&data[offset..offset + 8]);
        let (length, crc) = match (head.u32(), head.u32()) {
            (Ok(length), Ok(crc)) => (length, crc),
            _ => break Decoded::Failed(error(offset, "unreadable chunk header".into())),
        };
        if length == TRAILER_MARK {
            if data.len() - offset < 24 {
                break Decoded::Failed(error(offset, "truncated trailer".into()));
            }
            let tail = &data[offset + 8..offset + 24];
            if crc32c::crc32c(tail) != crc {
                break Decoded::Failed(error(offset, "trailer checksum mismatch".into()));
            }
            let mut tail = Reader::new(tail);
            let end_lsn = tail.u64().unwrap_or(0);
            let count = tail.u64().unwrap_or(u64::MAX);
            if count != entries {
                break Decoded::Failed(error(
                    offset,
                    format!("trailer counts {count} entries, file has {entries}"),
                ));
            }
            if offset + 24 != data.len() {
                break Decoded::Failed(error(offset + 24, "bytes after the trailer".into()));
            }
            break Decoded::End(end_lsn);
        }
        let body_start = offset + 8;
        let body_end = body_start + length as usize;
        if body_end > data.len() {
            break Decoded::Failed(error(
                offset,
                format!("chunk of {length} bytes runs past the end of the file"),
            ));
        }
        let body = &data[body_start..body_end];
        if crc32c::crc32c(body) != crc {
            break Decoded::Failed(error(offset, "chunk checksum mismatch".into()));
        }
        let mut reader = Reader::new(body);
        let mut failed = None;
        while !reader.is_empty() {
            let at = body_start + reader.position();
            match read_entry(&mut reader) {
                Ok((captures, position)) => {
                    entries += 1;
                    batch.push((captures, position, at));
                    if batch.len() == LOAD_BATCH_ENTRIES {
                        let full =
                            std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH_ENTRIES));
                        if out.send(Decoded::Batch(full)).is_err() {
                            return;
                        }
                    }
                }
                Err(decode) => {
                    failed = Some(error(at, format!("bad entry: {decode}")));
                    break;
                }
            }
        }
        if let Some(failed) = failed {
            break Decoded::Failed(failed);
        }
        offset = body_end;
    };
    // Entries before a failure are still sent first, in order; the loader
    // stops at the failure either way.
    if !batch.is_empty() && out.send(Decoded::Batch(batch)).is_err() {
        return;
    }
    let _ = out.send(outcome);
}

/// Puts one decoded entry into the state, unless the same key or id was
/// already captured later.
fn restore(
    state: &mut State,
    positions: &mut Captured,
    start_lsn: u64,
    captures: Captures,
    position: u64,
) -> Result<(), String> {
    match captures {
        Captures::Key {
            key,
            deadline,
            value,
        } => {
            // A key visited twice keeps its later capture.
            if !positions.keys.is_empty()
                && positions
                    .keys
                    .get(&key)
                    .is_some_and(|known| *known > position)
            {
                return Ok(());
            }
            // A key captured at the snapshot's start takes every later
            // effect, exactly as a key with no entry does, so only later
            // captures need remembering.
            if position > start_lsn {
                positions.keys.insert(key.clone(), position);
            } else if !positions.keys.is_empty() {
                positions.keys.remove(&key);
            }
            state
                .keyspace
                .load(key, value, (deadline != 0).then_some(deadline));
        }
        Captures::Req {
            id,
            fingerprint,
            deadline,
            reply,
        } => {
            if deadline == 0 {
                return Err("REQ entry without a deadline".into());
            }
            // The same rules as for keys, in the ids' own namespace.
            if positions
                .req_ids
                .get(&id)
                .is_some_and(|known| *known > position)
            {
                return Ok(());
            }
            if position > start_lsn {
                positions.req_ids.insert(id.clone(), position);
            } else {
                positions.req_ids.remove(&id);
            }
            state.idempotency.restore(id, fingerprint, deadline, reply);
        }
    }
    Ok(())
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
