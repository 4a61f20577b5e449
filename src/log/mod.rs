//! The append-only log: segment files of checksummed records, one record
//! per engine batch, written once and synced per policy before the batch's
//! replies go out (group commit).
//!
//! - `segment.rs`: segment names and the header, parsed in one place;
//! - `record.rs`: the record codec every reader of the log goes through;
//! - `spares.rs`: the `usher-log-spare` thread (preallocated segments);
//! - `sync.rs`: the `usher-log-sync` thread and the log's failure;
//! - `tap.rs`: [`CommitTap`], which sees every record once it is durable;
//! - here: [`Wal`], the engine's handle, and the writer.
//!
//! File format (little-endian):
//!
//! ```text
//! segment  := header record*  zero*
//! header   := "USHERLOG" version:u32 reserved:u32 first_lsn:u64      (24 bytes)
//! record   := length:u32 crc:u32 payload                             (crc32c of payload)
//! payload  := format:u8 lsn:u64 count:u32 effect{count}              (version 2 segments)
//!           | lsn:u64 count:u32 effect{count}                        (version 1 segments)
//! effect   := see state/effect.rs
//! ```
//!
//! Versions: the header's `version` is the segment's format; from version
//! 2 on, every record also names its own format in its first payload byte
//! (inside the checksum), so a record read apart from its segment (by a
//! commit tap's subscriber, a replica, a change feed) says how to read it.
//! This build writes segment version 2 with record format 2
//! ([`SEGMENT_VERSION`], [`record::RECORD_VERSION`]) and reads segments of
//! versions 1 and 2; every start writes a new segment, so a directory
//! upgraded in place holds older segments before newer ones. A segment (or
//! a spare the log moved into) whose version is higher, or a whole record
//! whose format is, was written by a newer usher: recovery and `check`
//! refuse the data directory with an error naming the file (and the
//! record's offset) and the version, and never treat it as damage to cut
//! (`--repair` included), since it may well be sound. Version 0 is no
//! usher's and counts as damage. A new format raises the number; this
//! build keeps reading every older one.
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
//! A record is all or nothing: replies are sent only after its write (and
//! sync, per policy) returned. Recovery cuts a bad record automatically
//! only when its bytes prove that write was cut short
//! ([`record::torn_tail`]); any other bad record, last or not, stops the
//! start with its file and offset until `usher-server check --repair`,
//! which says how many records it cuts. What a write cut short can leave,
//! and so the patterns that prove one (each only at the end of the last
//! segment, and only if the bytes the write left begin as the record
//! expected there: a format this build writes, the next position):
//! - a file that ends inside the record's 8-byte header, or before the
//!   last byte its header names (a write that extended the file, cut
//!   short: without preallocation, or in a segment grown past its
//!   preallocated size), unless a record with a later position follows
//!   somewhere behind it, which a write cut short cannot leave;
//! - in space that held zeros before the write (preallocated, or extended
//!   by the file system and never filled): the record's bytes from a
//!   512-byte sector boundary (of the file) to its end are zeros, and so
//!   is everything after it. A disk writes whole sectors, and a process
//!   killed in a `pwrite` stops at a page (a multiple), so a write cut
//!   short leaves a sector either fully written or as it was: the zeros
//!   start at a boundary. A whole record that fails its checksum with
//!   non-zero bytes in its last sector, followed by zeros or by nothing, is
//!   damage (a flipped bit, a bad sector), not a torn write, and is
//!   refused. A damaged record whose own last bytes are zeros reaching
//!   back across a sector boundary (an integer's high bytes, a string of
//!   zeros) looks torn there; when one changed byte among those before the
//!   zeros explains its checksum (CRC-32C pins down any single changed
//!   byte), it is refused as damage. Damage to several bytes of such a
//!   record is the one case read as torn. (A torn record whose checksum
//!   happens to name one changed byte, about one in 2³² per byte and value,
//!   is refused: the safe side.)
//! - either way, the record must not be whole with another length: when
//!   its checksum holds for a payload ending after its last written byte
//!   (within the file and that byte's sector), the bytes are all there and
//!   only the length field is damaged, which is refused.
//! - zeros from the record's first byte on are the clean end: space no
//!   write reached. Zeros in a record's header followed by written bytes
//!   (sectors written out of order) prove nothing and are refused.
//!
//! A cut is logged with the reason the bytes give; nothing claims the
//! record was never acknowledged.

pub mod record;
pub mod segment;
mod spares;
mod sync;
pub mod tap;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::Effect;

pub use record::{PAYLOAD_HEADER_BYTES, RECORD_HEADER_BYTES};
pub use segment::{
    is_spare_name, parse_segment_name, segment_name, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC,
    SEGMENT_VERSION,
};
pub use tap::{CommitTap, CommittedBatch};

use segment::{encode_header, refuse_overwrite};
use spares::{Spare, Spares};
use sync::{Failure, LogSync, SyncJob};

/// Smallest preallocated segment (`log_segment_bytes`, when not 0).
pub const SEGMENT_BYTES_MIN: u64 = 64 * 1024;

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

/// Syncs the directory so a created, renamed or deleted file entry survives
/// a power failure.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
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
    /// Told of every commit once it is durable per policy.
    taps: Vec<Box<dyn CommitTap>>,
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
            written_lsn: next_lsn,
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
            taps: Vec::new(),
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
        record::encode(&mut self.pending, self.next_lsn, effects);
        self.next_lsn += 1;
    }

    /// Registers a tap told of every commit from now on (see [`CommitTap`]).
    pub fn add_tap(&mut self, tap: Box<dyn CommitTap>) {
        self.taps.push(tap);
    }

    /// Writes the pending records and syncs them per policy, then shows
    /// them to the taps; the failure message if the log has failed (now or
    /// before), and then the taps see nothing.
    pub fn commit(&mut self) -> Result<(), String> {
        self.bytes_since_snapshot += self.pending.len() as u64;
        self.writer
            .flush(&self.pending, self.pending_first_lsn, self.next_lsn);
        let result = match self.writer.failure.get() {
            Some(failure) => Err(failure),
            None => Ok(()),
        };
        if result.is_ok() && !self.pending.is_empty() && !self.taps.is_empty() {
            let batch = CommittedBatch {
                version: SEGMENT_VERSION,
                first_lsn: self.pending_first_lsn,
                last_lsn: self.next_lsn - 1,
                records: &self.pending,
            };
            for tap in &mut self.taps {
                tap.committed(&batch);
            }
        }
        self.pending_first_lsn = self.next_lsn;
        self.pending.clear();
        // A large burst must not pin its buffer.
        if self.pending.capacity() > 16 * 1024 * 1024 {
            self.pending = Vec::with_capacity(256 * 1024);
        }
        result
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
    /// The position the next record written must have: the log holds
    /// every position before it, each once.
    written_lsn: u64,
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
    /// One write, and under `always` one sync, for the records gathered
    /// in `bytes`, from `first_lsn` up to (not including) `next_lsn`; a
    /// failure is recorded in `failure`.
    fn flush(&mut self, bytes: &[u8], first_lsn: u64, next_lsn: u64) {
        if self.failure.is_none() && !bytes.is_empty() {
            // Paired with recovery's check that replay advanced one
            // position per record: no position is skipped or written twice.
            assert_eq!(
                first_lsn, self.written_lsn,
                "log positions must be contiguous"
            );
            assert!(next_lsn > first_lsn, "records without positions");
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
                    self.written_lsn = next_lsn;
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
        spare.file.write_all_at(&encode_header(first_lsn), 0)?;
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
        assert_eq!(
            first_lsn, self.written_lsn,
            "a segment must start at the next position"
        );
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

/// Creates a segment file holding just its header, synced; an error names
/// the file (or the directory, for its sync).
fn create_segment(dir: &Path, first_lsn: u64) -> io::Result<(File, PathBuf)> {
    let path = dir.join(segment_name(first_lsn));
    let named = |error: io::Error| {
        io::Error::new(
            error.kind(),
            format!("cannot create the log segment {}: {error}", path.display()),
        )
    };
    refuse_overwrite(&path)?;
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(named)?;
    file.write_all(&encode_header(first_lsn)).map_err(named)?;
    file.sync_all().map_err(named)?;
    sync_dir(dir).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot sync the data directory {}: {error}", dir.display()),
        )
    })?;
    Ok((file, path))
}
