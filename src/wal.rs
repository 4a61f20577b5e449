//! The append-only log: segment files of checksummed records, one record
//! per engine batch, written once and synced per policy before the batch's
//! replies go out (group commit).
//!
//! File format (little-endian), version 1:
//!
//! ```text
//! segment  := header record*
//! header   := "USHERLOG" version:u32 reserved:u32 first_lsn:u64      (24 bytes)
//! record   := length:u32 crc:u32 payload                             (crc32c of payload)
//! payload  := lsn:u64 count:u32 effect{count}                        (effects: state/effect.rs)
//! ```
//!
//! Segments are named `log-<first_lsn, 20 digits>.ulog`. Record `lsn`s are
//! consecutive across segments. A snapshot taken at `lsn = S` starts a new
//! segment at `S`; once the snapshot is safely on disk the segments before
//! it are deleted, so the log does not grow forever.
//!
//! Preallocation (`log_segment_bytes`): a background thread writes spare
//! files full of zeros (`log-spare-N.tmp`, synced with their directory
//! entry), and the log moves into one when a record does not fit its
//! segment or a snapshot starts a new one. Moving costs the engine one
//! `pwrite` of the header: the `usher-log-sync` thread then syncs the
//! segment left (unless `always` synced every record already) before it
//! ever syncs the new one, renames the spare to its segment name and syncs
//! the directory. So:
//! - a segment ends in zeros after its last record (cut only when the log
//!   closes, or at recovery for the last one); recovery reads a zero tail
//!   as the segment's end, and the next segment's header, which must start
//!   at the position after the last record, proves nothing was lost;
//! - a crash before the rename leaves a spare holding records; recovery
//!   knows it by its header and gives it its name. A spare whose header is
//!   zeros was never used.
//!
//! A record is all or nothing: a torn last record (crash mid-write) is
//! dropped at recovery, and since replies are sent only after the record is
//! written and synced, nothing it held was acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::state::Effect;

pub const SEGMENT_MAGIC: &[u8; 8] = b"USHERLOG";
pub const SEGMENT_VERSION: u32 = 1;
pub const SEGMENT_HEADER_BYTES: usize = 24;
/// `length` + `crc` before each record's payload.
pub const RECORD_HEADER_BYTES: usize = 8;
/// `lsn` + `count` at the start of each payload.
pub const PAYLOAD_HEADER_BYTES: usize = 12;
/// Smallest preallocated segment (`log_segment_bytes`, when not 0).
pub const SEGMENT_BYTES_MIN: u64 = 64 * 1024;
/// Zeros written, then synced, per step while preparing a spare segment, so
/// its writeback reaches the disk in slices rather than as one burst that
/// would stall the engine's own fsyncs behind it. Measured under `fsync
/// always` (SET of 200 B at 50,000/s, 15 s, 6 alternating runs each):
/// syncing every 1 MiB gave p99 5.8–15.9 ms and p99.9 14–29 ms, against
/// 14–29 ms and 30–68 ms syncing every 4 MiB; INCR -P 16 throughput was the
/// same (1.14–1.18M/s against 1.12–1.17M/s).
const ZERO_CHUNK_BYTES: usize = 1024 * 1024;

/// When the log is flushed to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Before every batch's replies: nothing acknowledged is ever lost.
    Always,
    /// Once a second, by a background thread: at most about a second of
    /// acknowledged writes is lost on power failure (none on a process crash).
    Everysec,
    /// Never explicitly; the operating system decides. Survives a process
    /// crash, not a power failure.
    No,
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Everysec => "everysec",
            FsyncPolicy::No => "no",
        })
    }
}

pub fn segment_name(first_lsn: u64) -> String {
    format!("log-{first_lsn:020}.ulog")
}

/// Parses a segment file name back into its first lsn.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("log-")?
        .strip_suffix(".ulog")?
        .parse()
        .ok()
}

/// The temporary name of the `number`th spare segment a run prepares.
fn spare_name(number: u64) -> String {
    format!("log-spare-{number}.tmp")
}

/// Whether `name` is a spare segment's: recovery reads the header of such
/// a file to learn whether the log moved into it (see [`spare_first_lsn`]).
pub fn is_spare_name(name: &str) -> bool {
    name.strip_prefix("log-spare-")
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|number| number.parse::<u64>().is_ok())
}

/// The first position a spare segment's header names, if the log moved
/// into it (an unused spare holds only zeros).
pub fn spare_first_lsn(path: &Path) -> io::Result<Option<u64>> {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    let file = File::open(path)?;
    match file.read_exact_at(&mut header, 0) {
        Ok(()) => {}
        // Shorter than a header: a spare cut short while being prepared.
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if &header[..8] != SEGMENT_MAGIC || version != SEGMENT_VERSION {
        return Ok(None);
    }
    let mut lsn = [0u8; 8];
    lsn.copy_from_slice(&header[16..24]);
    Ok(Some(u64::from_le_bytes(lsn)))
}

/// Syncs the directory so a created, renamed or deleted file entry survives
/// a power failure.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Why the log failed, once it has: nothing may be acknowledged again.
#[derive(Default)]
struct Failure(Option<String>);

impl Failure {
    fn fail(&mut self, message: String) {
        tracing::error!(%message, "log failure: the server stops acknowledging requests");
        self.0.get_or_insert(message);
    }

    fn get(&self) -> Option<String> {
        self.0.clone()
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

/// The engine's handle on the log. The engine encodes each batch's effects
/// as one record and writes it itself, on the engine thread, then syncs it
/// per policy before the batch's replies go out (group commit: one write
/// and at most one fsync per batch, however many clients). This is what
/// Redis does with `appendfsync always`; a separate writer thread that
/// overlapped the next batches with the fsync was measured against it and
/// lost: the thread hops and wake-ups cost more than the overlap gained
/// (`--fsync always`, INCR, 50 clients: 41–44k vs 66k requests/s
/// unpipelined, equal at -P 16). Everything else that touches the disk
/// runs on the `usher-log-sync` thread: `everysec`'s once-a-second fsync and
/// the syncs and renames of a segment switch.
pub struct Wal {
    policy: FsyncPolicy,
    /// The lsn the next record gets.
    next_lsn: u64,
    /// Encoded records not yet written.
    pending: Vec<u8>,
    /// The lsn of the first record in `pending`.
    pending_first_lsn: u64,
    /// Bytes logged since the last snapshot started (snapshot trigger).
    pub bytes_since_snapshot: u64,
    writer: Writer,
}

impl Wal {
    /// Starts a new segment at `next_lsn` in `dir`. With `segment_bytes`
    /// above 0, later segments are preallocated to that size (this first
    /// one grows until the first spare is ready).
    pub fn create(
        dir: &Path,
        next_lsn: u64,
        policy: FsyncPolicy,
        segment_bytes: u64,
    ) -> io::Result<Wal> {
        let (file, path) = create_segment(dir, next_lsn)?;
        let sync = LogSync::start(
            dir,
            file.try_clone()?,
            path.clone(),
            policy == FsyncPolicy::Everysec,
        )?;
        let spares = if segment_bytes > 0 {
            Some(Spares::start(dir, segment_bytes.max(SEGMENT_BYTES_MIN))?)
        } else {
            None
        };
        let writer = Writer {
            dir: dir.to_path_buf(),
            file,
            path,
            first_lsn: next_lsn,
            end: SEGMENT_HEADER_BYTES as u64,
            capacity: SEGMENT_HEADER_BYTES as u64,
            policy,
            sync,
            spares,
            counts: SegmentCounts::default(),
            failure: Failure::default(),
        };
        Ok(Wal {
            policy,
            next_lsn,
            pending: Vec::with_capacity(64 * 1024),
            pending_first_lsn: next_lsn,
            bytes_since_snapshot: 0,
            writer,
        })
    }

    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// Why the log failed, once it has: nothing may be acknowledged again.
    pub fn failure(&self) -> Option<String> {
        self.writer.failure.get()
    }

    /// How the log moved to new segments since it opened.
    pub fn segment_counts(&self) -> SegmentCounts {
        self.writer.counts
    }

    /// Encodes one record holding `effects` (drained) into the pending
    /// buffer. Nothing is written until a commit. No-op when empty.
    pub fn append(&mut self, effects: &mut Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        let start = self.pending.len();
        self.pending.extend_from_slice(&[0u8; RECORD_HEADER_BYTES]);
        self.pending.extend_from_slice(&self.next_lsn.to_le_bytes());
        self.pending
            .extend_from_slice(&(effects.len() as u32).to_le_bytes());
        for effect in effects.drain(..) {
            effect.encode(&mut self.pending);
        }
        let payload = &self.pending[start + RECORD_HEADER_BYTES..];
        let length = payload.len() as u32;
        let crc = crc32c::crc32c(payload);
        self.pending[start..start + 4].copy_from_slice(&length.to_le_bytes());
        self.pending[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        self.next_lsn += 1;
    }

    /// Writes the pending records and syncs them per policy; the failure
    /// message if the log has failed (now or before).
    pub fn commit(&mut self) -> Result<(), String> {
        self.bytes_since_snapshot += self.pending.len() as u64;
        self.writer.flush(&mut self.pending, self.pending_first_lsn);
        self.pending_first_lsn = self.next_lsn;
        match self.writer.failure.get() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Commits, then has `durable` told whether every record so far is on
    /// stable storage, whatever the fsync policy (a snapshot about to
    /// replace the log needs it there). Under `always` it is already;
    /// otherwise the sync thread tells once it has synced every segment in
    /// order, so the engine never waits for the disk here.
    pub fn commit_durable(&mut self, durable: crossbeam_channel::Sender<bool>) {
        if self.commit().is_err() {
            let _ = durable.send(false);
        } else if self.policy == FsyncPolicy::Always {
            let _ = durable.send(true);
        } else if let Err(error) = self.writer.sync.send(SyncJob::Durable(durable)) {
            self.writer
                .failure
                .fail(format!("cannot sync the log: {error}"));
        }
    }

    /// Starts a new segment at the next lsn, which is returned: the position
    /// a snapshot starts from. The segment left is synced per policy, as
    /// when the log moves on because a segment is full.
    pub fn rotate(&mut self) -> Result<u64, String> {
        if !self.pending.is_empty() {
            // A failure here is reported by the rotation below.
            let _ = self.commit();
        }
        self.writer.rotate(self.next_lsn).map(|()| self.next_lsn)
    }

    /// Writes and syncs everything (shutdown).
    pub fn close(&mut self) -> Result<(), String> {
        let result = self.commit();
        if self.writer.failure.is_none() {
            if let Err(error) = self.writer.close() {
                self.writer.failure.fail(format!(
                    "cannot sync the log {}: {error}",
                    self.writer.path.display()
                ));
            }
        }
        match self.failure() {
            Some(failure) => Err(failure),
            None => result,
        }
    }
}

/// Writes the segment in use, on the engine thread; everything that moving
/// to the next segment needs beyond a `pwrite` (syncing the segment left,
/// naming the new one, syncing the directory) goes to the `usher-log-sync`
/// thread, so a segment switch never waits for the disk.
struct Writer {
    dir: PathBuf,
    file: File,
    /// The segment's name (a spare gets it from the sync thread shortly
    /// after the log moves in; recovery finds it by its header until then).
    path: PathBuf,
    /// The position of the segment's first record.
    first_lsn: u64,
    /// Where the next record goes: the header and every record before it.
    end: u64,
    /// The file's length; from `end` up to here it holds preallocated zeros.
    capacity: u64,
    policy: FsyncPolicy,
    sync: LogSync,
    /// Preallocated segments, when `log_segment_bytes` is above 0.
    spares: Option<Spares>,
    counts: SegmentCounts,
    failure: Failure,
}

/// How the log moved to new segments since it opened (INFO persistence).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentCounts {
    /// Into a prepared spare: a header `pwrite` on the engine thread.
    pub prepared: u64,
    /// Into a file created and synced on the engine thread, because no
    /// spare was ready (or preallocation is off) when a snapshot rotated
    /// the log.
    pub unprepared: u64,
}

impl Writer {
    /// One write, and under `always` one sync, for everything gathered,
    /// whose first record has `first_lsn`; a failure is recorded in
    /// `failure`.
    fn flush(&mut self, bytes: &mut Vec<u8>, first_lsn: u64) {
        if self.failure.is_none() && !bytes.is_empty() {
            // An empty segment grows instead: a new one would start at the
            // same position.
            let full = self.end + bytes.len() as u64 > self.capacity
                && self.end > SEGMENT_HEADER_BYTES as u64;
            let result = if full {
                self.next_spare(first_lsn)
            } else {
                Ok(())
            };
            let result = result
                .and_then(|()| self.file.write_all_at(bytes, self.end))
                .and_then(|()| {
                    self.end += bytes.len() as u64;
                    self.capacity = self.capacity.max(self.end);
                    if self.policy == FsyncPolicy::Always {
                        self.file.sync_data()
                    } else {
                        Ok(())
                    }
                });
            if let Err(error) = result {
                self.failure.fail(format!(
                    "cannot write the log {}: {error}",
                    self.path.display()
                ));
            }
        }
        if let Some(error) = self.sync.failure() {
            self.failure.fail(error);
        }
        bytes.clear();
        // A large burst must not pin its buffer.
        if bytes.capacity() > 16 * 1024 * 1024 {
            *bytes = Vec::with_capacity(256 * 1024);
        }
    }

    /// Moves the log into a prepared spare segment starting at `first_lsn`,
    /// if one is ready; otherwise the current segment grows.
    fn next_spare(&mut self, first_lsn: u64) -> io::Result<()> {
        match self.spares.as_ref().and_then(Spares::take) {
            Some(spare) => self.install(spare, first_lsn),
            None => Ok(()),
        }
    }

    /// Makes a prepared spare the segment starting at `first_lsn`. Only its
    /// header is written here; it reaches the disk with the first record's
    /// sync (`always`) or the sync thread's. The spare keeps its temporary
    /// name until the sync thread renames it, and recovery reads a spare's
    /// header, so a crash in between loses nothing.
    fn install(&mut self, spare: Spare, first_lsn: u64) -> io::Result<()> {
        spare.file.write_all_at(&segment_header(first_lsn), 0)?;
        self.counts.prepared += 1;
        let path = self.dir.join(segment_name(first_lsn));
        self.leave_segment(spare.file, path.clone(), first_lsn, spare.bytes)?;
        self.sync.send(SyncJob::Name {
            temp: spare.path,
            path,
        })
    }

    /// Writes the next records into `file` (a new segment holding just its
    /// header, `capacity` bytes long, starting at `first_lsn`) and hands the
    /// segment left to the sync thread. Its zeros after the last record stay
    /// (recovery reads them as the segment's end; the next segment's header
    /// proves nothing was lost between them): cutting them would be a
    /// metadata write, and segments before a snapshot are deleted anyway.
    fn leave_segment(
        &mut self,
        file: File,
        path: PathBuf,
        first_lsn: u64,
        capacity: u64,
    ) -> io::Result<()> {
        let current = file.try_clone()?;
        let left = std::mem::replace(&mut self.file, file);
        let left_path = std::mem::replace(&mut self.path, path.clone());
        self.first_lsn = first_lsn;
        self.end = SEGMENT_HEADER_BYTES as u64;
        self.capacity = capacity;
        // Under `always` every record is synced already. Otherwise the
        // segment left is synced before the new one ever is, so a power
        // failure cannot keep later records and lose earlier ones.
        self.sync.send(SyncJob::Left {
            file: left,
            path: left_path,
            sync: self.policy != FsyncPolicy::Always,
        })?;
        self.sync.send(SyncJob::Current {
            file: current,
            path,
        })
    }

    fn rotate(&mut self, first_lsn: u64) -> Result<(), String> {
        if let Some(failure) = self.failure.get() {
            return Err(failure);
        }
        if self.first_lsn == first_lsn && self.end == SEGMENT_HEADER_BYTES as u64 {
            // The segment in use already starts there, empty.
            return Ok(());
        }
        let result = match self.spares.as_ref().and_then(Spares::take) {
            Some(spare) => self.install(spare, first_lsn),
            None => create_segment(&self.dir, first_lsn).and_then(|(file, path)| {
                self.counts.unprepared += 1;
                self.leave_segment(file, path, first_lsn, SEGMENT_HEADER_BYTES as u64)
            }),
        };
        result.map_err(|error| {
            let message = format!("cannot start a new log segment: {error}");
            self.failure.fail(message.clone());
            message
        })
    }

    /// Shutdown: waits for the sync thread to finish every job, then cuts
    /// the zeros after the last record and syncs the segment in use.
    fn close(&mut self) -> io::Result<()> {
        if let Some(error) = self.sync.finish() {
            return Err(io::Error::other(error));
        }
        if self.capacity > self.end {
            self.file.set_len(self.end)?;
            self.capacity = self.end;
        }
        self.file.sync_all()
    }
}

fn segment_header(first_lsn: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&first_lsn.to_le_bytes());
    header
}

/// A segment with this name can only be an empty one a crash left behind
/// (recovery starts the log after every record it holds).
fn refuse_overwrite(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(existing) if existing.len() > SEGMENT_HEADER_BYTES as u64 => {
            Err(io::Error::other(format!(
                "refusing to overwrite log segment {} that holds records",
                path.display()
            )))
        }
        _ => Ok(()),
    }
}

fn create_segment(dir: &Path, first_lsn: u64) -> io::Result<(File, PathBuf)> {
    let path = dir.join(segment_name(first_lsn));
    refuse_overwrite(&path)?;
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)?;
    file.write_all(&segment_header(first_lsn))?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok((file, path))
}

/// Spare segments kept ready. Two, because a snapshot's rotation often
/// comes right after a switch that took one: the snapshot trigger counts
/// log bytes, and `snapshot_log_bytes_max` is a multiple of the segment
/// size by default. With one, such a rotation finds none (seen with 4 MiB
/// segments and snapshots every 16 MiB; `tests/preallocation.rs` checks it)
/// and creates and syncs a segment on the engine thread.
const SPARES_READY: usize = 2;

/// The `usher-log-spare` background thread: keeps [`SPARES_READY`] spare
/// segment files written full of zeros and synced, ready for the engine to
/// take, so the engine never waits for that writing itself.
struct Spares {
    /// Holds every prepared spare.
    ready: Option<crossbeam_channel::Receiver<(File, PathBuf)>>,
    /// Wakes the thread, waiting with the channel full, when the engine
    /// takes a spare (dropped to end the thread).
    taken: Option<crossbeam_channel::Sender<()>>,
    /// The size of every spare.
    bytes: u64,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A prepared spare segment: zeros, synced, its directory entry too.
struct Spare {
    file: File,
    /// Its temporary name, [`spare_name`].
    path: PathBuf,
    bytes: u64,
}

impl Spares {
    fn start(dir: &Path, segment_bytes: u64) -> io::Result<Spares> {
        let (sender, ready) = crossbeam_channel::bounded(SPARES_READY);
        let (taken, wake) = crossbeam_channel::bounded::<()>(SPARES_READY);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (dir, stop) = (dir.to_path_buf(), stop.clone());
            std::thread::Builder::new()
                .name("usher-log-spare".into())
                .spawn(move || {
                    let mut number = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if sender.is_full() {
                            // Every spare prepared sits in the channel, so
                            // the engine can take them one right after the
                            // other (a send blocked on a full channel would
                            // only land after the thread is woken).
                            if wake.recv().is_err() {
                                // The log is closing.
                                return;
                            }
                            continue;
                        }
                        number += 1;
                        let temp = dir.join(spare_name(number));
                        // The log may acknowledge records in the spare
                        // before it is renamed, so its entry must survive a
                        // power failure too.
                        let prepared = prepare_spare(&temp, segment_bytes, &stop)
                            .and_then(|file| sync_dir(&dir).map(|()| file));
                        match prepared {
                            Ok(file) => {
                                if sender.send((file, temp.clone())).is_err() {
                                    // The log closed first.
                                    let _ = std::fs::remove_file(&temp);
                                    return;
                                }
                            }
                            Err(error) => {
                                let _ = std::fs::remove_file(&temp);
                                if stop.load(Ordering::Relaxed) {
                                    return;
                                }
                                tracing::warn!(file = %temp.display(), %error,
                                    "cannot preallocate a log segment; the log grows as written \
                                     and the next attempt is in 10 s");
                                for _ in 0..100 {
                                    if stop.load(Ordering::Relaxed) {
                                        return;
                                    }
                                    std::thread::sleep(Duration::from_millis(100));
                                }
                            }
                        }
                    }
                })?
        };
        Ok(Spares {
            ready: Some(ready),
            taken: Some(taken),
            bytes: segment_bytes,
            stop,
            thread: Some(thread),
        })
    }

    /// A prepared spare, if one is ready now (never waits).
    fn take(&self) -> Option<Spare> {
        let (file, path) = self.ready.as_ref()?.try_recv().ok()?;
        if let Some(taken) = &self.taken {
            let _ = taken.try_send(());
        }
        Some(Spare {
            file,
            path,
            bytes: self.bytes,
        })
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.taken = None;
        // Removes every prepared spare until the thread, seeing `stop` (or
        // the wake-up channel closed), ends and so disconnects the channel.
        if let Some(ready) = self.ready.take() {
            while let Ok((file, path)) = ready.recv() {
                drop(file);
                let _ = std::fs::remove_file(&path);
            }
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes `bytes` of zeros to a new file at `path` and syncs it, checking
/// `stop` between slices.
fn prepare_spare(path: &Path, bytes: u64, stop: &AtomicBool) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut written = 0u64;
    while written < bytes {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("the log is closing"));
        }
        let slice = (bytes - written).min(ZERO_CHUNK_BYTES as u64) as usize;
        file.write_all(&zeros[..slice])?;
        file.sync_data()?;
        written += slice as u64;
    }
    file.sync_all()?;
    Ok(file)
}

/// Jobs for the `usher-log-sync` thread, done in the order sent.
enum SyncJob {
    /// A segment the log has left: synced if `sync` (the records in it were
    /// not synced as written), then closed.
    Left {
        file: File,
        path: PathBuf,
        sync: bool,
    },
    /// A spare the log has moved into gets the segment name `path` (the
    /// directory is synced after the rename).
    Name { temp: PathBuf, path: PathBuf },
    /// The segment the log now writes: the one `everysec` syncs.
    Current { file: File, path: PathBuf },
    /// Tell, once every record written before this job is on stable
    /// storage, whether it made it.
    Durable(crossbeam_channel::Sender<bool>),
}

/// Jobs queued for the sync thread before the engine waits for it: only a
/// disk stalled for dozens of segment switches fills this.
const SYNC_JOBS_MAX: usize = 64;

/// The `usher-log-sync` background thread: syncs the segments the log has
/// left and names the spares it moved into (so the engine never waits for
/// the disk when the log moves on), syncs the segment in use once a second
/// under `everysec`, and answers the snapshot's wait for a durable log.
/// A failure is kept and stops all acknowledgements.
struct LogSync {
    jobs: Option<crossbeam_channel::Sender<SyncJob>>,
    failed: Arc<SyncFailure>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct SyncFailure {
    /// Set with the message, so the engine's check per batch is one load.
    any: AtomicBool,
    message: std::sync::Mutex<Option<String>>,
}

impl SyncFailure {
    fn fail(&self, message: String) {
        if let Ok(mut slot) = self.message.lock() {
            slot.get_or_insert(message);
        }
        self.any.store(true, Ordering::Release);
    }

    fn get(&self) -> Option<String> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        match self.message.lock() {
            Ok(slot) => slot.clone(),
            Err(_) => Some("the log sync thread failed".into()),
        }
    }
}

impl LogSync {
    fn start(dir: &Path, file: File, path: PathBuf, everysec: bool) -> io::Result<LogSync> {
        let (jobs, receiver) = crossbeam_channel::bounded(SYNC_JOBS_MAX);
        let failed = Arc::new(SyncFailure::default());
        let thread = {
            let (dir, failed) = (dir.to_path_buf(), failed.clone());
            std::thread::Builder::new()
                .name("usher-log-sync".into())
                .spawn(move || sync_thread(&dir, receiver, (file, path), everysec, &failed))?
        };
        Ok(LogSync {
            jobs: Some(jobs),
            failed,
            thread: Some(thread),
        })
    }

    /// Queues a job; waits only if [`SYNC_JOBS_MAX`] are queued already.
    fn send(&self, job: SyncJob) -> io::Result<()> {
        match &self.jobs {
            Some(jobs) if jobs.send(job).is_ok() => Ok(()),
            _ => Err(io::Error::other("the log sync thread has stopped")),
        }
    }

    fn failure(&self) -> Option<String> {
        self.failed.get()
    }

    /// Lets the thread finish every queued job and waits for it; the
    /// failure, if any.
    fn finish(&mut self) -> Option<String> {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                self.failed.fail("the log sync thread panicked".into());
            }
        }
        self.failure()
    }
}

impl Drop for LogSync {
    fn drop(&mut self) {
        self.finish();
    }
}

fn sync_thread(
    dir: &Path,
    jobs: crossbeam_channel::Receiver<SyncJob>,
    (mut current, mut current_path): (File, PathBuf),
    everysec: bool,
    failed: &SyncFailure,
) {
    const PERIOD: Duration = Duration::from_secs(1);
    let mut tick = std::time::Instant::now() + PERIOD;
    loop {
        let job = if everysec {
            match jobs.recv_deadline(tick) {
                Ok(job) => Some(job),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match jobs.recv() {
                Ok(job) => Some(job),
                Err(_) => return,
            }
        };
        let result = match job {
            None => {
                tick = std::time::Instant::now() + PERIOD;
                current
                    .sync_data()
                    .map_err(|error| (current_path.clone(), error))
            }
            Some(SyncJob::Left { file, path, sync }) => match sync {
                true => file.sync_data().map_err(|error| (path, error)),
                false => Ok(()),
            },
            Some(SyncJob::Name { temp, path }) => refuse_overwrite(&path)
                .and_then(|()| std::fs::rename(&temp, &path))
                .and_then(|()| sync_dir(dir))
                .map_err(|error| (path, error)),
            Some(SyncJob::Current { file, path }) => {
                (current, current_path) = (file, path);
                Ok(())
            }
            Some(SyncJob::Durable(tell)) => {
                let result = current.sync_data();
                let _ = tell.send(result.is_ok() && failed.get().is_none());
                result.map_err(|error| (current_path.clone(), error))
            }
        };
        if let Err((path, error)) = result {
            failed.fail(format!(
                "cannot sync the log {} in the background: {error}",
                path.display()
            ));
        }
    }
}
