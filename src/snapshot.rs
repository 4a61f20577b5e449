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
//! the writer falls behind, serialization pauses instead.
//!
//! A single very large key (a huge seat map or queue) is serialized in one
//! slice. Into fresh memory, two thirds of that slice are page faults: the
//! output buffer for a 2·10⁶-member key is 42–96 MB. So before a
//! value whose encoding should take [`LARGE_VALUE_BYTES`] or more, the job
//! asks the writer thread for a buffer of the hinted size
//! ([`encoded_len_hint`]) with every page already touched, and waits for
//! it without holding the engine; the key is then serialized into warm
//! memory, on its own chunk. Copying such a key to serialize it elsewhere
//! would not help: the copy took longer than the serialization (66 against
//! 46 ms for a queue, 153 against 62 for a sorted set, 204 against 85 for
//! seats). Figures: `cargo bench --bench growth`.
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
use std::hash::BuildHasher;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use crate::encoding::{put_bytes, DecodeError, Reader};
use crate::log::{self, sync_dir};
use crate::state::idempotency::effects::{decode_reply, encode_reply};
use crate::state::keymap;
use crate::state::keyspace::Entry;
use crate::state::keyspace::KeyHasher;
use crate::state::value::{decode_value, encode_value, encoded_len_hint};
use crate::state::{Key, State, Value};

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
/// Values expected to encode to at least this many bytes are serialized
/// into a buffer the writer prefaulted (see the module docs); the default
/// of `snapshot_prefault_value_bytes`.
pub const LARGE_VALUE_BYTES: usize = 4 * 1024 * 1024;
/// Only values with at least one item per this many bytes of the threshold
/// are hinted (the hint samples members): items of 256 bytes and more are
/// rare, and missing one costs page faults, nothing else.
const LARGE_ITEM_BYTES: usize = 256;

/// The buffer asked for a value with this size hint: a quarter more, since
/// the hint takes sampled member lengths for all, and the value may grow
/// while the buffer is prepared.
pub fn prefault_bytes(hint: usize) -> usize {
    hint.saturating_add(hint / 4).saturating_add(64 * 1024)
}

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
    /// Send back an empty buffer of this capacity with every page touched.
    Prefault(usize),
    /// Free a prefaulted buffer that was not needed after all.
    Discard(Vec<u8>),
    Finish {
        end_lsn: u64,
        entries: u64,
        prefaulted: u64,
    },
}

/// The prefaulted buffer for the next large value.
enum LargeBuffer {
    None,
    /// Asked of the writer, not yet taken.
    Requested,
    Ready(Vec<u8>),
}

/// What one look at the next key did.
enum Capture {
    Captured,
    /// A large value waits for its buffer, or its chunk for the writer.
    Waiting,
    /// Every key and `REQ` entry is serialized.
    Done,
}

/// What a finished snapshot reports.
#[derive(Debug, Clone)]
pub struct SnapshotDone {
    pub path: PathBuf,
    pub start_lsn: u64,
    pub entries: u64,
    pub bytes: u64,
    /// Values serialized into prefaulted buffers of their own.
    pub prefaulted_values: u64,
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
    large: LargeBuffer,
    /// Prefaulted buffers from the writer.
    buffers: Receiver<Vec<u8>>,
    /// Threshold of [`LARGE_VALUE_BYTES`]'s kind; 0 = never prefault.
    prefault_value_bytes: usize,
    prefaulted_values: u64,
    entries: u64,
    finished: bool,
    /// Tells the writer that the log is durable up to the snapshot's end
    /// position; taken by the engine once every key is serialized.
    log_durable: Option<Sender<bool>>,
    to_writer: Sender<ToWriter>,
    from_writer: Receiver<Result<SnapshotDone, String>>,
    /// Joined when the job is dropped, so an abandoned snapshot's writer has
    /// removed its temporary file before the server exits.
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SnapshotJob {
    /// Disconnects from the writer (an unfinished snapshot is abandoned: the
    /// writer removes its temporary file) and waits for it to end.
    fn drop(&mut self) {
        self.log_durable = None;
        let (disconnected, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.to_writer, disconnected));
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Where a snapshot job stands (see [`SnapshotJob::progress`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotProgress {
    /// One past the next key position to visit; 0 = all visited.
    pub cursor: usize,
    /// The same for the `REQ` table.
    pub req_cursor: usize,
    /// Entries serialized so far.
    pub entries: u64,
    /// A chunk is waiting for room in the writer's queue.
    pub holding_chunk: bool,
    /// Every entry is serialized.
    pub finished: bool,
}

impl SnapshotJob {
    /// Changes whenever the job moves forward (keys serialized, a chunk
    /// handed over, the end reached); equal before and after a step means
    /// it is waiting for the writer.
    pub fn progress(&self) -> SnapshotProgress {
        SnapshotProgress {
            cursor: self.cursor,
            req_cursor: self.req_cursor,
            entries: self.entries,
            holding_chunk: self.held.is_some(),
            finished: self.finished,
        }
    }

    /// Starts the writer thread for a snapshot at `start_lsn` (the log has
    /// just been rotated to that position).
    pub fn start(dir: &Path, state: &State, start_lsn: u64) -> io::Result<SnapshotJob> {
        let (to_writer, writer_rx) = crossbeam_channel::bounded(CHUNKS_IN_FLIGHT_MAX);
        let (writer_tx, from_writer) = crossbeam_channel::bounded(1);
        let (log_durable, log_durable_rx) = crossbeam_channel::bounded(1);
        // One buffer at a time is ever asked for.
        let (buffers_tx, buffers) = crossbeam_channel::bounded(1);
        let unclaimed = buffers.clone();
        let dir = dir.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("usher-snapshot".into())
            .spawn(move || {
                let pipes = WriterPipes {
                    chunks: writer_rx,
                    log_durable: log_durable_rx,
                    buffers: buffers_tx,
                    unclaimed,
                };
                let result = write_snapshot(&dir, start_lsn, &pipes);
                let _ = writer_tx.send(result);
            })?;
        Ok(SnapshotJob {
            start_lsn,
            cursor: state.keyspace.len(),
            req_cursor: state.idempotency.len(),
            chunk: fresh_chunk(),
            held: None,
            large: LargeBuffer::None,
            buffers,
            prefault_value_bytes: LARGE_VALUE_BYTES,
            prefaulted_values: 0,
            entries: 0,
            finished: false,
            log_durable: Some(log_durable),
            to_writer,
            from_writer,
            writer: Some(writer),
        })
    }

    /// Sets the size from which a value is serialized into a prefaulted
    /// buffer (`snapshot_prefault_value_bytes`; 0 = never).
    pub fn with_prefault_value_bytes(mut self, bytes: usize) -> SnapshotJob {
        self.prefault_value_bytes = bytes;
        self
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
                match self.capture_next(state, position) {
                    Capture::Captured => {}
                    Capture::Waiting => return,
                    Capture::Done => break,
                }
                // A large value's own chunk leaves at once.
                if !self.flush_held() {
                    return;
                }
                if self.chunk.len() >= CHUNK_BYTES {
                    break;
                }
            }
            let walked = self.cursor == 0 && self.req_cursor == 0;
            if (self.chunk.len() >= CHUNK_BYTES || walked) && !self.send_chunk() {
                return;
            }
            if walked {
                if let LargeBuffer::Ready(unused) =
                    std::mem::replace(&mut self.large, LargeBuffer::None)
                {
                    // Freed by the writer: unmapping it here would be a
                    // pause of its own.
                    if let Err(TrySendError::Full(ToWriter::Discard(unused))) =
                        self.to_writer.try_send(ToWriter::Discard(unused))
                    {
                        self.large = LargeBuffer::Ready(unused);
                        return;
                    }
                }
                let finish = ToWriter::Finish {
                    end_lsn: position,
                    entries: self.entries,
                    prefaulted: self.prefaulted_values,
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
    /// entry (`Done` when both walks are done; `Waiting` while a large
    /// value waits for its buffer). Cursors are clamped to the current
    /// sizes, since entries may have gone since the last step.
    fn capture_next(&mut self, state: &State, position: u64) -> Capture {
        self.cursor = self.cursor.min(state.keyspace.len());
        if self.cursor > 0 {
            if let Some((key, entry)) = state.keyspace.at(self.cursor - 1) {
                let threshold = self.prefault_value_bytes;
                if threshold > 0 && entry.value.items() * LARGE_ITEM_BYTES >= threshold {
                    let hint = encoded_len_hint(&entry.value);
                    if hint >= threshold {
                        return self.capture_large(key, entry, position, hint);
                    }
                }
                put_key_entry(&mut self.chunk, key, entry, position);
                self.entries += 1;
            }
            self.cursor -= 1;
            return Capture::Captured;
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
            return Capture::Captured;
        }
        Capture::Done
    }

    /// Serializes the large value at the cursor into a prefaulted buffer of
    /// its own, which becomes the held chunk; first asks for the buffer and
    /// sends the chunk so far (entries stay in walk order). Waits, without
    /// moving the cursor, while either is not done.
    fn capture_large(&mut self, key: &[u8], entry: &Entry, position: u64, hint: usize) -> Capture {
        let mut buffer = match std::mem::replace(&mut self.large, LargeBuffer::None) {
            LargeBuffer::Ready(buffer) => buffer,
            LargeBuffer::Requested => match self.buffers.try_recv() {
                Ok(buffer) => buffer,
                Err(TryRecvError::Empty) => {
                    self.large = LargeBuffer::Requested;
                    return Capture::Waiting;
                }
                // The writer is gone and the snapshot with it; the value
                // is serialized anyway, to finish the walk.
                Err(TryRecvError::Disconnected) => Vec::new(),
            },
            LargeBuffer::None => {
                match self
                    .to_writer
                    .try_send(ToWriter::Prefault(prefault_bytes(hint)))
                {
                    Ok(()) => {
                        self.large = LargeBuffer::Requested;
                        return Capture::Waiting;
                    }
                    Err(TrySendError::Full(_)) => return Capture::Waiting,
                    Err(TrySendError::Disconnected(_)) => Vec::new(),
                }
            }
        };
        if !self.send_chunk() {
            self.large = LargeBuffer::Ready(buffer);
            return Capture::Waiting;
        }
        put_key_entry(&mut buffer, key, entry, position);
        self.entries += 1;
        self.prefaulted_values += 1;
        self.cursor -= 1;
        self.held = Some(buffer);
        Capture::Captured
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

    /// Hands the chunk being filled, if it has anything, to the writer
    /// (through `held`); false if the writer has no room yet.
    fn send_chunk(&mut self) -> bool {
        if !self.chunk.is_empty() {
            self.held = Some(std::mem::replace(&mut self.chunk, fresh_chunk()));
        }
        self.flush_held()
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

/// An empty chunk with room for [`CHUNK_BYTES`] and the entry that
/// crosses it.
fn fresh_chunk() -> Vec<u8> {
    Vec::with_capacity(CHUNK_BYTES + 4096)
}

/// One key entry: kind, key, capture position, deadline, value.
fn put_key_entry(out: &mut Vec<u8>, key: &[u8], entry: &Entry, position: u64) {
    out.push(ENTRY_KEY);
    put_bytes(out, key);
    out.extend_from_slice(&position.to_le_bytes());
    out.extend_from_slice(&entry.deadline_ms().unwrap_or(0).to_le_bytes());
    encode_value(&entry.value, out);
}

/// A buffer of `bytes` capacity whose pages are all touched, so that
/// writing into it faults nothing; empty if the memory is not there (the
/// engine then grows its own buffer, as it would have anyway).
pub fn prefaulted(bytes: usize) -> Vec<u8> {
    let mut buffer = Vec::new();
    if buffer.try_reserve_exact(bytes).is_err() {
        return buffer;
    }
    buffer.resize(bytes, 0);
    buffer.clear();
    buffer
}

/// The writer's ends of the job's channels.
struct WriterPipes {
    chunks: Receiver<ToWriter>,
    log_durable: Receiver<bool>,
    buffers: Sender<Vec<u8>>,
    /// The job's end of `buffers`, to free a buffer it never took.
    unclaimed: Receiver<Vec<u8>>,
}

/// The writer thread: temp file, chunks, trailer, fsync, atomic rename,
/// fsync of the directory, then removal of what the snapshot replaces.
/// It also prefaults buffers for large values and frees unused ones.
fn write_snapshot(dir: &Path, start_lsn: u64, pipes: &WriterPipes) -> Result<SnapshotDone, String> {
    let WriterPipes {
        chunks,
        log_durable,
        buffers,
        unclaimed,
    } = pipes;
    let final_path = dir.join(snapshot_name(start_lsn));
    let temp_path = dir.join(format!("{}.tmp", snapshot_name(start_lsn)));
    let result = (|| -> io::Result<(u64, u64, u64)> {
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
                Ok(ToWriter::Prefault(capacity)) => {
                    // The job asks for one buffer at a time, so the
                    // channel has room.
                    let _ = buffers.try_send(prefaulted(capacity));
                }
                Ok(ToWriter::Discard(buffer)) => drop(buffer),
                Ok(ToWriter::Finish {
                    end_lsn,
                    entries,
                    prefaulted,
                }) => {
                    while unclaimed.try_recv().is_ok() {}
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
                    return Ok((entries, bytes, prefaulted));
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
    let (entries, bytes, prefaulted_values) = match result {
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
        prefaulted_values,
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
            .or_else(|| log::parse_segment_name(name))
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

impl SnapshotError {
    fn at(path: &Path, offset: usize, reason: String) -> SnapshotError {
        SnapshotError {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason,
        }
    }
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
        /// Built on the decoding thread: a short key is in place (no
        /// allocation), a long one moves into the map without a copy.
        key: Key,
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
            let key = Key::copy_from_slice(reader.slice()?);
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
///
/// Loading is bound by cache misses in the key map, not by decoding, so it
/// runs in two phases. First, two threads each check and decode half of
/// the chunks (allocating keys and values), hash every key with the map's
/// own hasher, and sort the entries into partitions by the region of the
/// map's table their hash lands in. Then this thread inserts partition by
/// partition with the precomputed hashes: each partition touches one small
/// region of the table, which stays in cache, instead of a random place in
/// hundreds of megabytes per key. Nothing is inserted unless the whole file
/// checks out.
///
/// `touched` names the keys that log records between the snapshot's start
/// and end positions change (see [`trailer_end_lsn`]); only their capture
/// positions are needed for replay, and keeping them for every key captured
/// after the start (most keys, when the snapshot ran under writes) costs a
/// copy and a random insert per key. `None` keeps them all.
pub fn load(
    path: &Path,
    state: &mut State,
    touched: Option<&TouchedKeys>,
) -> Result<Loaded, SnapshotError> {
    let error = |reason: String| SnapshotError::at(path, 0, reason);
    let file = File::open(path).map_err(|e| error(format!("cannot open: {e}")))?;
    // SAFETY: the file is ours (the data directory is locked) and is not
    // modified while mapped; snapshots are written once and renamed.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| error(format!("cannot map: {e}")))?;
    // Read front to back by two threads, each sequentially.
    let _ = map.advise(memmap2::Advice::Sequential);
    load_bytes(path, &map, state, touched)
}

/// [`load`] of a snapshot's bytes (`path` names it in errors): the decoder
/// itself, which the fuzz targets drive without a file.
pub fn load_bytes(
    path: &Path,
    data: &[u8],
    state: &mut State,
    touched: Option<&TouchedKeys>,
) -> Result<Loaded, SnapshotError> {
    let error = |offset: usize, reason: String| SnapshotError::at(path, offset, reason);
    let start_lsn = read_header(data, &error)?;
    let started = std::time::Instant::now();
    let tracked = Tracked {
        start_lsn,
        touched,
        seats_max: state.limits.seats_per_event_max,
    };
    let (halves, partitions, trailer) = decode_all(data, state, tracked, &error)?;
    let decoded_ms = started.elapsed().as_millis() as u64;
    let entries = trailer.entries;
    let positions = insert_all(state, halves, partitions, start_lsn, &error)?;
    tracing::info!(
        file = %path.display(),
        entries,
        decode_ms = decoded_ms,
        insert_ms = started.elapsed().as_millis() as u64 - decoded_ms,
        "snapshot loaded"
    );
    Ok(Loaded {
        start_lsn,
        end_lsn: trailer.end_lsn,
        entries,
        positions,
    })
}

/// Checks the snapshot header and returns its start position.
fn read_header(
    data: &[u8],
    error: &dyn Fn(usize, String) -> SnapshotError,
) -> Result<u64, SnapshotError> {
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
    header.u64().map_err(|e| error(16, e.0))
}

/// The first phase of [`load`]: two threads check and decode half of the
/// chunks each, into partitions by table region. Nothing is inserted; any
/// damage is an error naming the first bad byte in file order.
fn decode_all(
    data: &[u8],
    state: &mut State,
    tracked: Tracked<'_>,
    error: &dyn Fn(usize, String) -> SnapshotError,
) -> Result<([Decoded; 2], Partitions, Trailer), SnapshotError> {
    let (chunks, walked) = walk_chunks(data, error);
    // The trailer's entry count sizes the keyspace once instead of letting
    // it grow (and rehash) step by step, and sizes the partitions to the
    // table that results; it is checked against the entries decoded.
    let expected = walked.as_ref().map_or(0, |trailer| trailer.entries);
    // An entry takes more than 8 bytes of the file: a count beyond that is
    // wrong (and checked below), and must not size the map.
    let expected = expected.min(data.len() as u64 / 8);
    state.keyspace.reserve(expected as usize);
    let chunk_bytes = chunks.iter().map(|chunk| chunk.end - chunk.start).sum();
    let partitions = Partitions::for_keys(expected, chunk_bytes);
    let hasher = state.keyspace.key_hasher();
    let half = split_half(&chunks);
    let (first, second) = std::thread::scope(|scope| {
        let second =
            scope.spawn(|| decode_chunks(data, &chunks[half..], &hasher, partitions, tracked));
        let first = decode_chunks(data, &chunks[..half], &hasher, partitions, tracked);
        (first, second.join())
    });
    let second = match second {
        Ok(second) => second,
        Err(_) => return Err(error(0, "the snapshot decoder panicked".into())),
    };
    // The first bad byte in file order is the one reported.
    if let Some((offset, reason)) = first.failure.as_ref().or(second.failure.as_ref()) {
        return Err(error(*offset, reason.clone()));
    }
    if let (Some(last), Some((first_position, at))) = (first.last_position, second.first_position) {
        if first_position < last {
            return Err(error(at, POSITIONS_BACKWARDS.into()));
        }
    }
    let trailer = walked?;
    let entries = first.entries + second.entries;
    if entries != trailer.entries {
        return Err(error(
            trailer.offset,
            format!(
                "trailer counts {} entries, file has {entries}",
                trailer.entries
            ),
        ));
    }
    Ok(([first, second], partitions, trailer))
}

/// The second phase of [`load`]: inserts what both halves decoded,
/// partition by partition (recording off), and returns the capture
/// positions replay needs.
fn insert_all(
    state: &mut State,
    mut halves: [Decoded; 2],
    partitions: Partitions,
    start_lsn: u64,
    error: &dyn Fn(usize, String) -> SnapshotError,
) -> Result<Captured, SnapshotError> {
    let recording = state.keyspace.set_recording(false);
    let mut positions = Captured {
        keys: PositionMap::with_hasher(foldhash::fast::FixedState::with_seed(7)),
        req_ids: PositionMap::with_hasher(foldhash::fast::FixedState::with_seed(7)),
    };
    // Partition by partition; which half a key came from does not matter,
    // since a key captured twice keeps its later capture whatever the order.
    let mut with_deadline = 0u64;
    for partition in 0..partitions.count {
        for half in &mut halves {
            for key in std::mem::take(&mut half.keys[partition]) {
                with_deadline += u64::from(key.deadline != 0);
                restore_key(state, &mut positions, start_lsn, key);
            }
        }
    }
    // A pass over every key; none is needed when no deadline came or was.
    if with_deadline > 0 || state.keyspace.with_deadline() > 0 {
        state.keyspace.rebuild_deadline_index();
    }
    let mut result = Ok(());
    for half in &mut halves {
        for (req, position, at) in std::mem::take(&mut half.reqs) {
            if let Err(reason) = restore_req(state, &mut positions, start_lsn, req, position) {
                result = Err(error(at, reason));
                break;
            }
        }
    }
    state.keyspace.set_recording(recording);
    result.map(|()| positions)
}

/// The end position a snapshot's trailer gives, if the trailer is there and
/// intact (read before loading, to find the log records that replay
/// filters).
pub fn trailer_end_lsn(path: &Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path).ok()?;
    file.seek(SeekFrom::End(-24)).ok()?;
    let mut trailer = [0u8; 24];
    file.read_exact(&mut trailer).ok()?;
    let mut reader = Reader::new(&trailer);
    let mark = reader.u32().ok()?;
    let crc = reader.u32().ok()?;
    if mark != TRAILER_MARK || crc32c::crc32c(&trailer[8..]) != crc {
        return None;
    }
    reader.u64().ok()
}

/// A chunk's body in the file, with the checksum its header gives.
struct Chunk {
    start: usize,
    end: usize,
    crc: u32,
}

/// What a checked trailer says.
struct Trailer {
    offset: usize,
    end_lsn: u64,
    entries: u64,
}

/// Walks the chunk headers after the file header up to the trailer,
/// without reading the chunks. Returns the chunks found and the trailer,
/// or the first structural fault (the chunks before it are still returned,
/// so that damage inside them, earlier in the file, is reported first).
fn walk_chunks(
    data: &[u8],
    error: &dyn Fn(usize, String) -> SnapshotError,
) -> (Vec<Chunk>, Result<Trailer, SnapshotError>) {
    let mut chunks = Vec::new();
    let mut offset = SNAPSHOT_HEADER_BYTES;
    let outcome = loop {
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
            let entries = tail.u64().unwrap_or(u64::MAX);
            if offset + 24 != data.len() {
                break Err(error(offset + 24, "bytes after the trailer".into()));
            }
            // Every entry takes at least 21 bytes: a count beyond that is
            // wrong, and must not size an allocation.
            if entries > (data.len() / 21) as u64 {
                break Err(error(
                    offset,
                    format!("trailer counts {entries} entries, more than the file can hold"),
                ));
            }
            break Ok(Trailer {
                offset,
                end_lsn,
                entries,
            });
        }
        let start = offset + 8;
        let end = start + length as usize;
        if end > data.len() {
            break Err(error(
                offset,
                format!("chunk of {length} bytes runs past the end of the file"),
            ));
        }
        chunks.push(Chunk { start, end, crc });
        offset = end;
    };
    (chunks, outcome)
}

/// The index that splits `chunks` into two runs of about equal bytes.
fn split_half(chunks: &[Chunk]) -> usize {
    let total: usize = chunks.iter().map(|chunk| chunk.end - chunk.start).sum();
    let mut bytes = 0;
    for (index, chunk) in chunks.iter().enumerate() {
        if bytes >= total / 2 {
            return index;
        }
        bytes += chunk.end - chunk.start;
    }
    chunks.len()
}

/// How decoded keys are grouped: by the high bits of the table position
/// their hash gives (their home bucket, `keymap::home_bucket`), for a
/// table sized for the snapshot's key count.
#[derive(Clone, Copy)]
struct Partitions {
    count: usize,
    /// The snapshot's entries and chunk bytes, to size the partitions.
    keys: u64,
    bytes: usize,
    /// Buckets of the key map's table once it holds `keys`.
    buckets: usize,
    shift: u32,
}

impl Partitions {
    /// Most partitions: each thread keeps one vector per partition.
    const COUNT_MAX_BITS: u32 = 8;
    /// Fewest table buckets per partition: smaller ones buy nothing.
    const BUCKETS_MIN_BITS: u32 = 12;

    fn for_keys(keys: u64, bytes: usize) -> Partitions {
        let buckets = keymap::buckets_for(keys as usize);
        let bucket_bits = buckets.trailing_zeros();
        let bits = bucket_bits
            .saturating_sub(Self::BUCKETS_MIN_BITS)
            .min(Self::COUNT_MAX_BITS);
        Partitions {
            count: 1 << bits,
            keys,
            bytes,
            buckets,
            shift: bucket_bits - bits,
        }
    }

    fn of(&self, hash: u64) -> usize {
        keymap::home_bucket(hash, self.buckets) >> self.shift
    }
}

/// A decoded key entry waiting to be inserted.
struct PendingKey {
    hash: u64,
    key: Key,
    position: u64,
    deadline: u64,
    value: Value,
}

/// What one decoding thread found.
struct Decoded {
    /// Key entries by partition.
    keys: Vec<Vec<PendingKey>>,
    /// `REQ` entries in file order, with capture position and file offset.
    reqs: Vec<(Captures, u64, usize)>,
    entries: u64,
    /// The first entry's capture position and offset, and the last's.
    first_position: Option<(u64, usize)>,
    last_position: Option<u64>,
    /// The first fault: file offset and reason.
    failure: Option<(usize, String)>,
}

/// The snapshot walk captures entries at the next log position of the
/// moment, which never goes back, so positions never decrease through the
/// file. Loading relies on it: all captures of a key land in one partition
/// and are inserted in file order, so the latest one wins.
const POSITIONS_BACKWARDS: &str = "capture position lower than the entry before it";

/// Keys that log records between a snapshot's start and end positions
/// change: the only keys whose capture positions replay needs.
pub type TouchedKeys = std::collections::HashSet<Bytes, foldhash::fast::FixedState>;

/// Which capture positions loading keeps.
#[derive(Clone, Copy)]
struct Tracked<'a> {
    start_lsn: u64,
    /// `None`: every key captured after the start.
    touched: Option<&'a TouchedKeys>,
    /// The most seats a seat map may have (`seats_per_event_max`).
    seats_max: u64,
}

impl Tracked<'_> {
    /// The position to keep for `key` captured at `position`: the start
    /// position (which needs no keeping) unless replay needs the real one.
    /// A key that no record in the snapshot's window touches has the same
    /// value in every capture and takes every later effect.
    fn position(&self, key: &[u8], position: u64) -> u64 {
        let needed =
            position > self.start_lsn && self.touched.is_none_or(|touched| touched.contains(key));
        if needed {
            position
        } else {
            self.start_lsn
        }
    }
}

/// Checks and decodes a run of chunks, hashing each key and sorting it into
/// its partition; stops at the first fault.
fn decode_chunks(
    data: &[u8],
    chunks: &[Chunk],
    hasher: &KeyHasher,
    partitions: Partitions,
    tracked: Tracked<'_>,
) -> Decoded {
    // Each partition's expected share of this run's entries, with room for
    // a few standard deviations, so that partitions rarely grow (and copy).
    let run_bytes: usize = chunks.iter().map(|chunk| chunk.end - chunk.start).sum();
    let share = (partitions.keys as f64 * run_bytes as f64
        / (partitions.bytes.max(1) as f64 * partitions.count as f64)) as usize;
    let room = share + 4 * share.isqrt() + 16;
    let mut decoded = Decoded {
        keys: (0..partitions.count)
            .map(|_| Vec::with_capacity(room))
            .collect(),
        reqs: Vec::new(),
        entries: 0,
        first_position: None,
        last_position: None,
        failure: None,
    };
    for chunk in chunks {
        let body = &data[chunk.start..chunk.end];
        if crc32c::crc32c(body) != chunk.crc {
            decoded.failure = Some((chunk.start - 8, "chunk checksum mismatch".into()));
            return decoded;
        }
        let mut reader = Reader::new(body).with_seats_max(tracked.seats_max);
        while !reader.is_empty() {
            let at = chunk.start + reader.position();
            let (captures, position) = match read_entry(&mut reader) {
                Ok(read) => read,
                Err(decode) => {
                    decoded.failure = Some((at, format!("bad entry: {decode}")));
                    return decoded;
                }
            };
            if decoded.last_position.is_some_and(|last| position < last) {
                decoded.failure = Some((at, POSITIONS_BACKWARDS.into()));
                return decoded;
            }
            decoded.first_position.get_or_insert((position, at));
            decoded.last_position = Some(position);
            match captures {
                Captures::Key {
                    key,
                    deadline,
                    value,
                } => {
                    let hash = hasher.hash_one(&key[..]);
                    let position = tracked.position(&key, position);
                    decoded.keys[partitions.of(hash)].push(PendingKey {
                        hash,
                        key,
                        position,
                        deadline,
                        value,
                    });
                }
                req => decoded.reqs.push((req, position, at)),
            }
            decoded.entries += 1;
        }
    }
    decoded
}

/// Puts one decoded key into the state. A key visited twice keeps its
/// later capture: captures of a key arrive in file order (see
/// [`POSITIONS_BACKWARDS`]), so the later one simply replaces the earlier.
fn restore_key(state: &mut State, positions: &mut Captured, start_lsn: u64, pending: PendingKey) {
    let PendingKey {
        hash,
        key,
        position,
        deadline,
        value,
    } = pending;
    // A key captured at the snapshot's start takes every later effect,
    // exactly as a key with no entry does, so only later captures need
    // remembering.
    if position > start_lsn {
        positions.keys.insert(key.to_bytes(), position);
    }
    state
        .keyspace
        .load_hashed(hash, key, value, (deadline != 0).then_some(deadline));
}

/// Puts one decoded `REQ` entry into the state, unless the same id was
/// already captured later.
fn restore_req(
    state: &mut State,
    positions: &mut Captured,
    start_lsn: u64,
    captures: Captures,
    position: u64,
) -> Result<(), String> {
    let Captures::Req {
        id,
        fingerprint,
        deadline,
        reply,
    } = captures
    else {
        return Err("a key entry among the REQ entries".into());
    };
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
    Ok(())
}
