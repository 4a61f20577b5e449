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
//! files full of zeros (`log-spare-N.tmp`), and the log moves into one when
//! a record does not fit its segment or a snapshot starts a new one. The
//! segment in use is therefore followed by zeros up to its preallocated
//! size; it is cut to its last record before the log leaves it (and at
//! shutdown), so only the last segment can end in zeros, which recovery
//! drops like a torn record.
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
/// Zeros written per call while preparing a spare segment.
const ZERO_CHUNK_BYTES: usize = 1024 * 1024;
/// A spare being prepared is synced every this many bytes, so its writeback
/// reaches the disk in slices rather than as one burst that would stall the
/// engine's own fsyncs behind it.
const SPARE_SYNC_BYTES: u64 = 4 * 1024 * 1024;

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
/// unpipelined, equal at -P 16). `everysec` keeps its once-a-second fsync
/// thread.
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
        let syncer = match policy {
            FsyncPolicy::Everysec => Some(Syncer::start(file.try_clone()?)?),
            _ => None,
        };
        let spares = if segment_bytes > 0 {
            Some(Spares::start(dir, segment_bytes.max(SEGMENT_BYTES_MIN))?)
        } else {
            None
        };
        let writer = Writer {
            dir: dir.to_path_buf(),
            file,
            path,
            end: SEGMENT_HEADER_BYTES as u64,
            capacity: SEGMENT_HEADER_BYTES as u64,
            policy,
            syncer,
            spares,
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
        self.write_pending(false)
    }

    /// Like [`Wal::commit`], but the log is synced to stable storage
    /// whatever the fsync policy (a snapshot about to replace the log needs
    /// it on disk).
    pub fn commit_synced(&mut self) -> Result<(), String> {
        self.write_pending(true)
    }

    fn write_pending(&mut self, sync: bool) -> Result<(), String> {
        self.bytes_since_snapshot += self.pending.len() as u64;
        self.writer
            .flush(&mut self.pending, self.pending_first_lsn, sync);
        self.pending_first_lsn = self.next_lsn;
        match self.writer.failure.get() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Closes the current segment (synced) and starts a new one at the next
    /// lsn, which is returned: the position a snapshot starts from.
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
            if let Err(error) = self.writer.seal() {
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

/// Writes and syncs the segment file.
struct Writer {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    /// Where the next record goes: the header and every record before it.
    end: u64,
    /// The file's length; from `end` up to here it holds preallocated zeros.
    capacity: u64,
    policy: FsyncPolicy,
    syncer: Option<Syncer>,
    /// Preallocated segments, when `log_segment_bytes` is above 0.
    spares: Option<Spares>,
    failure: Failure,
}

impl Writer {
    /// One write and at most one sync for everything gathered, whose first
    /// record has `first_lsn`; a failure is recorded in `failure`.
    fn flush(&mut self, bytes: &mut Vec<u8>, first_lsn: u64, force_sync: bool) {
        let sync = force_sync || (self.policy == FsyncPolicy::Always && !bytes.is_empty());
        if self.failure.is_none() && (sync || !bytes.is_empty()) {
            let full = self.end + bytes.len() as u64 > self.capacity;
            let result = if full && !bytes.is_empty() {
                self.next_spare(first_lsn)
            } else {
                Ok(())
            };
            let result = result
                .and_then(|()| self.file.write_all_at(bytes, self.end))
                .and_then(|()| {
                    self.end += bytes.len() as u64;
                    self.capacity = self.capacity.max(self.end);
                    if sync {
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
            if let Some(error) = self.syncer.as_ref().and_then(Syncer::failure) {
                self.failure.fail(error);
            }
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
            Some(spare) => {
                self.seal()?;
                self.install(spare, first_lsn)
            }
            None => Ok(()),
        }
    }

    /// Cuts the preallocated zeros after the last record and syncs the
    /// segment, data and length: before the log moves on, so that only the
    /// last segment can ever end in zeros.
    fn seal(&mut self) -> io::Result<()> {
        if self.capacity > self.end {
            self.file.set_len(self.end)?;
            self.capacity = self.end;
        }
        self.file.sync_all()
    }

    /// Makes a prepared spare the segment starting at `first_lsn`: header,
    /// then the name, each synced before a record goes in.
    fn install(&mut self, (file, temp): (File, PathBuf), first_lsn: u64) -> io::Result<()> {
        let path = self.dir.join(segment_name(first_lsn));
        refuse_overwrite(&path)?;
        file.write_all_at(&segment_header(first_lsn), 0)?;
        file.sync_data()?;
        std::fs::rename(&temp, &path)?;
        sync_dir(&self.dir)?;
        let capacity = file.metadata()?.len();
        self.use_segment(file, path, capacity)
    }

    /// Writes the next records into `file` (a new segment holding just its
    /// header, `capacity` bytes long).
    fn use_segment(&mut self, file: File, path: PathBuf, capacity: u64) -> io::Result<()> {
        if let Some(syncer) = &mut self.syncer {
            syncer.switch(file.try_clone()?);
        }
        self.file = file;
        self.path = path;
        self.end = SEGMENT_HEADER_BYTES as u64;
        self.capacity = capacity;
        Ok(())
    }

    fn rotate(&mut self, first_lsn: u64) -> Result<(), String> {
        if let Some(failure) = self.failure.get() {
            return Err(failure);
        }
        let result = self.seal().and_then(|()| {
            if let Some(spare) = self.spares.as_ref().and_then(Spares::take) {
                return self.install(spare, first_lsn);
            }
            let (file, path) = create_segment(&self.dir, first_lsn)?;
            self.use_segment(file, path, SEGMENT_HEADER_BYTES as u64)
        });
        result.map_err(|error| {
            let message = format!("cannot start a new log segment: {error}");
            self.failure.fail(message.clone());
            message
        })
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

/// The `usher-log-spare` background thread: keeps one spare segment file
/// written full of zeros and synced, ready for the engine to take, so the
/// engine never waits for that writing itself.
struct Spares {
    /// Zero capacity: the thread waits with a finished spare until the
    /// engine takes it, then prepares the next one.
    ready: Option<crossbeam_channel::Receiver<(File, PathBuf)>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spares {
    fn start(dir: &Path, segment_bytes: u64) -> io::Result<Spares> {
        let (sender, ready) = crossbeam_channel::bounded(0);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (dir, stop) = (dir.to_path_buf(), stop.clone());
            std::thread::Builder::new()
                .name("usher-log-spare".into())
                .spawn(move || {
                    let mut number = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        number += 1;
                        let temp = dir.join(format!("log-spare-{number}.tmp"));
                        match prepare_spare(&temp, segment_bytes, &stop) {
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
            stop,
            thread: Some(thread),
        })
    }

    /// A prepared spare, if one is ready now (never waits).
    fn take(&self) -> Option<(File, PathBuf)> {
        self.ready.as_ref()?.try_recv().ok()
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver ends a send the thread is blocked in.
        self.ready = None;
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
        written += slice as u64;
        if written.is_multiple_of(SPARE_SYNC_BYTES) {
            file.sync_data()?;
        }
    }
    file.sync_all()?;
    Ok(file)
}

/// The `everysec` background thread: syncs the current segment once a
/// second and reports a failure, which stops all acknowledgements.
struct Syncer {
    file: Arc<std::sync::Mutex<File>>,
    failed: Arc<std::sync::Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    fn start(file: File) -> io::Result<Syncer> {
        let file = Arc::new(std::sync::Mutex::new(file));
        let failed = Arc::new(std::sync::Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (file, failed, stop) = (file.clone(), failed.clone(), stop.clone());
            std::thread::Builder::new()
                .name("usher-fsync".into())
                .spawn(move || loop {
                    std::thread::park_timeout(Duration::from_millis(1000));
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let result = match file.lock() {
                        Ok(file) => file.sync_data(),
                        Err(_) => return,
                    };
                    if let Err(error) = result {
                        if let Ok(mut failed) = failed.lock() {
                            *failed = Some(format!("background fsync failed: {error}"));
                        }
                        return;
                    }
                })?
        };
        Ok(Syncer {
            file,
            failed,
            stop,
            thread: Some(thread),
        })
    }

    fn switch(&mut self, file: File) {
        if let Ok(mut current) = self.file.lock() {
            *current = file;
        }
    }

    fn failure(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|failed| failed.clone())
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
