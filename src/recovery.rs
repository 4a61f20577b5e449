//! Start-up recovery and the `usher-server check` tool.
//!
//! Start = newest snapshot + replay of the log segments from its position.
//! A torn last record (a crash mid-write) is cut off with a warning naming
//! the file, the offset and the bytes dropped: nothing in it was ever
//! acknowledged. Anything else that is wrong — a bad checksum before the
//! tail, a gap in the log, a snapshot that fails its checks — stops the
//! server with a message saying which file, which offset and how to proceed,
//! because starting anyway would silently lose acknowledged sales.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::encoding::Reader;
use crate::snapshot::{self, Captured, Loaded};
use crate::state::effect::{Effect, ReplayError, Target};
use crate::state::State;
use crate::wal::{self, PAYLOAD_HEADER_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};

/// Why the data directory cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryError(pub String);

impl std::fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecoveryError {}

/// A problem found in a log segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub path: PathBuf,
    /// Where the first bad byte is; everything from here on is unusable.
    pub offset: u64,
    pub reason: String,
    /// Torn tail of the last segment (safe to cut) rather than corruption.
    pub torn_tail: bool,
    /// Everything from `offset` on is zeros: with `torn_tail`, space the
    /// log had preallocated (or the file system had allocated) that no
    /// record reached, which is what a crash normally leaves.
    pub zeros: bool,
}

/// What recovery or `check` found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub snapshot: Option<(PathBuf, u64)>,
    pub snapshot_entries: u64,
    pub segments: Vec<PathBuf>,
    pub records: u64,
    pub effects: u64,
    /// The lsn the next record gets.
    pub next_lsn: u64,
    pub damage: Option<Damage>,
    /// Segments after a damaged one (lost if the log is cut there).
    pub later_segments: Vec<PathBuf>,
    /// Files that an interrupted snapshot left behind, and unused spare
    /// segments.
    pub stale_files: Vec<PathBuf>,
    /// Spare segments the log moved into, with the first position their
    /// header names, that a crash left before they were renamed: recovery
    /// gives them their segment names.
    pub spares: Vec<(PathBuf, u64)>,
}

/// The result of a successful recovery.
pub struct Recovered {
    pub state: State,
    pub next_lsn: u64,
    pub report: Report,
}

/// Takes the data directory's lock for the life of the process.
pub fn lock_dir(dir: &Path) -> Result<File, RecoveryError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        RecoveryError(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RecoveryError(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(_) => Err(RecoveryError(format!(
            "data directory {} is in use by another usher-server (lock {} is held)",
            dir.display(),
            path.display()
        ))),
    }
}

fn list(dir: &Path, parse: fn(&str) -> Option<u64>) -> Result<Vec<(u64, PathBuf)>, RecoveryError> {
    let listing = std::fs::read_dir(dir)
        .map_err(|e| RecoveryError(format!("cannot list {}: {e}", dir.display())))?;
    let mut found: Vec<(u64, PathBuf)> = listing
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            parse(name.to_str()?).map(|lsn| (lsn, entry.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

fn is_spare(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(wal::is_spare_name)
}

/// The log segments in `dir` by first position: the files named for it,
/// and the spares the log moved into (their header names it) that a crash
/// left before the sync thread renamed them. Unused spares hold zeros and
/// are left out.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, RecoveryError> {
    let listing = std::fs::read_dir(dir)
        .map_err(|e| RecoveryError(format!("cannot list {}: {e}", dir.display())))?;
    let mut found = Vec::new();
    for entry in listing.flatten() {
        let path = entry.path();
        let named = entry.file_name().to_str().and_then(wal::parse_segment_name);
        let first = match named {
            Some(first) => Some(first),
            None if is_spare(&path) => wal::spare_first_lsn(&path)
                .map_err(|e| RecoveryError(format!("cannot read {}: {e}", path.display())))?,
            None => None,
        };
        if let Some(first) = first {
            found.push((first, path));
        }
    }
    // A named segment sorts before a spare at the same position; replay
    // then finds a gap at the second unless the first holds no record.
    found.sort();
    Ok(found)
}

/// Reads the snapshot and replays the log into `state` without changing
/// any file: what `recover` would find, and `check` reports.
pub fn scan(dir: &Path, mut state: State) -> Result<(State, Report), RecoveryError> {
    let mut report = Report::default();
    let found = segments(dir)?;
    for (first, path) in &found {
        if is_spare(path) {
            report.spares.push((path.clone(), *first));
        }
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let in_use = report.spares.iter().any(|(path, _)| *path == entry.path());
        if entry.file_name().to_string_lossy().ends_with(".tmp") && !in_use {
            report.stale_files.push(entry.path());
        }
    }
    let snapshots = list(dir, snapshot::parse_snapshot_name)?;
    let (start_lsn, end_lsn, positions) = match snapshots.last() {
        Some((lsn, path)) => {
            let touched =
                snapshot::trailer_end_lsn(path).map(|end_lsn| touched_keys(&found, *lsn, end_lsn));
            let loaded: Loaded =
                snapshot::load(path, &mut state, touched.as_ref()).map_err(|error| {
                    RecoveryError(format!(
                    "{error}. The server will not start from a damaged snapshot: restore it from \
                     a backup. Moving it out of {} starts from the remaining files, which is \
                     only complete if `usher-server check` then shows the log starting at \
                     position 0.",
                    dir.display()
                ))
                })?;
            if loaded.start_lsn != *lsn {
                return Err(RecoveryError(format!(
                    "snapshot {} says it starts at position {}, its name says {lsn}",
                    path.display(),
                    loaded.start_lsn
                )));
            }
            report.snapshot = Some((path.clone(), *lsn));
            report.snapshot_entries = loaded.entries;
            (*lsn, loaded.end_lsn, loaded.positions)
        }
        None => (0, 0, Default::default()),
    };
    // Older snapshots and segments before the snapshot are leftovers of a
    // crash between the snapshot's rename and their removal.
    for (lsn, path) in &snapshots {
        if *lsn < start_lsn {
            report.stale_files.push(path.clone());
        }
    }
    let mut live: Vec<(u64, PathBuf)> = Vec::new();
    for (first, path) in found {
        if first < start_lsn {
            report.stale_files.push(path);
        } else {
            live.push((first, path));
        }
    }
    let mut expected = start_lsn;
    let last_index = live.len().saturating_sub(1);
    for (index, (first, path)) in live.iter().enumerate() {
        if report.damage.is_some() {
            report.later_segments.push(path.clone());
            continue;
        }
        report.segments.push(path.clone());
        if *first != expected {
            report.damage = Some(Damage {
                path: path.clone(),
                offset: 0,
                reason: format!("log gap: segment starts at position {first}, expected {expected}"),
                torn_tail: false,
                zeros: false,
            });
            continue;
        }
        let is_last = index == last_index;
        report.damage = replay_segment(
            path,
            is_last,
            &mut expected,
            &mut state,
            &positions,
            &mut report,
        )?;
    }
    if expected < end_lsn {
        // Keys were captured after records the log no longer holds: the
        // state would mix two moments, and the log would hand out those
        // positions again (replay skips them for keys captured later).
        let snapshot = report
            .snapshot
            .as_ref()
            .map(|(path, _)| path.display().to_string());
        return Err(RecoveryError(format!(
            "snapshot {} holds keys captured up to log position {end_lsn}, but the log after it \
             ends at position {expected}: records the snapshot depends on are missing, so no \
             consistent state can be rebuilt. Restore the missing log segments from a backup.",
            snapshot.unwrap_or_default()
        )));
    }
    report.next_lsn = expected;
    // Snapshot loading inserts queues without replaying effects.
    state.rebuild_timers();
    Ok((state, report))
}

/// The keys that log records from `start_lsn` up to (not including)
/// `end_lsn` change: the records a snapshot's replay filter applies to, so
/// the only keys whose capture positions loading must keep. (A `FlushAll`
/// among them keeps the keys captured after it; each of those was created
/// again after it, by a record that names it.) Reading stops at the first record that does not check out (or a
/// gap): replay stops there too and applies nothing after it.
fn touched_keys(
    segments: &[(u64, PathBuf)],
    start_lsn: u64,
    end_lsn: u64,
) -> snapshot::TouchedKeys {
    let mut touched = snapshot::TouchedKeys::with_hasher(foldhash::fast::FixedState::with_seed(7));
    let mut expected = start_lsn;
    for (first, path) in segments {
        let first = *first;
        if first < start_lsn {
            continue;
        }
        if first != expected || expected >= end_lsn {
            break;
        }
        let Ok(data) = std::fs::read(path) else {
            break;
        };
        let header_ok = data.len() >= SEGMENT_HEADER_BYTES && &data[..8] == wal::SEGMENT_MAGIC;
        if !header_ok {
            break;
        }
        let mut offset = SEGMENT_HEADER_BYTES;
        while expected < end_lsn {
            let Some(rest) = data
                .get(offset..)
                .filter(|rest| rest.len() >= RECORD_HEADER_BYTES)
            else {
                break;
            };
            if rest.iter().all(|b| *b == 0) {
                // Preallocated space after the segment's last record: replay
                // goes on to the next segment, and so does this.
                break;
            }
            let length = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            let Some(payload) = rest.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + length) else {
                return touched;
            };
            if crc32c::crc32c(payload) != crc {
                return touched;
            }
            let mut reader = Reader::new(payload);
            let (Ok(lsn), Ok(count)) = (reader.u64(), reader.u32()) else {
                return touched;
            };
            if lsn != expected {
                return touched;
            }
            for _ in 0..count {
                let Ok(effect) = Effect::decode(&mut reader) else {
                    return touched;
                };
                match effect.target() {
                    Target::Key(key) => {
                        touched.insert(bytes::Bytes::copy_from_slice(key));
                    }
                    Target::ReqId(_) | Target::All => {}
                }
            }
            expected += 1;
            offset += RECORD_HEADER_BYTES + length;
        }
    }
    touched
}

/// Recovers the state from `dir` into `state` (empty, recording off): the
/// scan, then a torn tail is cut and leftovers removed. With `repair`, a
/// damaged log is cut at the first bad record instead of refusing.
pub fn recover(dir: &Path, state: State, repair: bool) -> Result<Recovered, RecoveryError> {
    let (state, report) = scan(dir, state)?;
    if let Some(damage) = &report.damage {
        if !(damage.torn_tail || repair) {
            return Err(RecoveryError(refusal(dir, damage, &report)));
        }
        cut(damage, &report)?;
        if damage.torn_tail && damage.zeros {
            tracing::info!(
                file = %damage.path.display(),
                offset = damage.offset,
                "cut the preallocated space after the last record of the log"
            );
        } else if damage.torn_tail {
            tracing::warn!(
                file = %damage.path.display(),
                offset = damage.offset,
                reason = %damage.reason,
                "dropped a torn record at the end of the log (it was never acknowledged)"
            );
        }
    }
    let report = name_spares(dir, report)?;
    for stale in &report.stale_files {
        let _ = std::fs::remove_file(stale);
    }
    state.check_invariants();
    Ok(Recovered {
        next_lsn: report.next_lsn,
        state,
        report,
    })
}

/// Renames the spare segments the log had moved into to their segment
/// names, as the sync thread would have (the next run's spares reuse the
/// temporary names). Runs after a cut, which may have removed some;
/// spares before the snapshot are stale and removed instead.
fn name_spares(dir: &Path, mut report: Report) -> Result<Report, RecoveryError> {
    if report.spares.is_empty() {
        return Ok(report);
    }
    for (spare, first) in &report.spares {
        if !spare.exists() || report.stale_files.contains(spare) {
            continue;
        }
        let named = dir.join(wal::segment_name(*first));
        std::fs::rename(spare, &named).map_err(|e| {
            RecoveryError(format!(
                "cannot rename log segment {} to {}: {e}",
                spare.display(),
                named.display()
            ))
        })?;
        tracing::info!(from = %spare.display(), to = %named.display(),
            "named a log segment the server had not renamed before it stopped");
        for path in report.segments.iter_mut() {
            if path == spare {
                *path = named.clone();
            }
        }
    }
    wal::sync_dir(dir).map_err(|e| RecoveryError(format!("cannot sync {}: {e}", dir.display())))?;
    Ok(report)
}

fn refusal(dir: &Path, damage: &Damage, report: &Report) -> String {
    let size = std::fs::metadata(&damage.path)
        .map(|m| m.len())
        .unwrap_or(0);
    format!(
        "log segment {} is damaged at byte offset {}: {}. The server will not start, because \
         the records from there on would be lost. `usher-server check {}` describes the damage; \
         `usher-server check {} --repair` cuts the log at that offset, losing {} bytes of this \
         segment and {} later segment(s).",
        damage.path.display(),
        damage.offset,
        damage.reason,
        dir.display(),
        dir.display(),
        size.saturating_sub(damage.offset),
        report.later_segments.len()
    )
}

/// Cuts the log at the damage: truncates that segment (or removes it if
/// even its header is bad) and removes every later segment.
fn cut(damage: &Damage, report: &Report) -> Result<(), RecoveryError> {
    let io =
        |e: std::io::Error| RecoveryError(format!("cannot repair {}: {e}", damage.path.display()));
    if damage.offset < SEGMENT_HEADER_BYTES as u64 {
        std::fs::remove_file(&damage.path).map_err(io)?;
    } else {
        let file = OpenOptions::new()
            .write(true)
            .open(&damage.path)
            .map_err(io)?;
        file.set_len(damage.offset).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    for later in &report.later_segments {
        std::fs::remove_file(later).map_err(io)?;
    }
    if let Some(dir) = damage.path.parent() {
        let _ = wal::sync_dir(dir);
    }
    Ok(())
}

/// Replays one segment; returns the damage found, if any.
fn replay_segment(
    path: &Path,
    is_last: bool,
    expected: &mut u64,
    state: &mut State,
    positions: &Captured,
    report: &mut Report,
) -> Result<Option<Damage>, RecoveryError> {
    let data = std::fs::read(path)
        .map_err(|e| RecoveryError(format!("cannot read {}: {e}", path.display())))?;
    let damage = |offset: usize, reason: String, torn: bool| {
        Some(Damage {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason,
            torn_tail: torn && is_last,
            zeros: data[offset.min(data.len())..].iter().all(|b| *b == 0),
        })
    };
    if data.len() < SEGMENT_HEADER_BYTES {
        return Ok(damage(0, "segment header is incomplete".into(), true));
    }
    if &data[..8] != wal::SEGMENT_MAGIC {
        return Ok(damage(
            0,
            "not an usher log segment (bad magic)".into(),
            false,
        ));
    }
    let mut header = Reader::new(&data[8..SEGMENT_HEADER_BYTES]);
    let version = header.u32().unwrap_or(0);
    let _reserved = header.u32().unwrap_or(0);
    let first = header.u64().unwrap_or(u64::MAX);
    if version != wal::SEGMENT_VERSION {
        return Ok(damage(
            8,
            format!("unsupported log version {version}"),
            false,
        ));
    }
    if first != *expected {
        return Ok(damage(
            16,
            format!("header says position {first}, expected {expected}"),
            false,
        ));
    }
    let mut offset = SEGMENT_HEADER_BYTES;
    while offset < data.len() {
        let rest = &data[offset..];
        // A tail of zeros is space the file system allocated but the crash
        // never filled, or space the log preallocated and left when it
        // moved on to the next segment.
        let zeros = rest.iter().all(|b| *b == 0);
        if zeros && !is_last {
            // The next segment's header must say it starts at `expected`,
            // which the caller checks: nothing between them is lost.
            return Ok(None);
        }
        if rest.len() < RECORD_HEADER_BYTES {
            return Ok(damage(
                offset,
                format!("{} bytes of an incomplete record header", rest.len()),
                true,
            ));
        }
        let length = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if length < PAYLOAD_HEADER_BYTES {
            return Ok(damage(
                offset,
                format!("record length {length} is too small"),
                zeros,
            ));
        }
        if RECORD_HEADER_BYTES + length > rest.len() {
            // A torn write leaves nothing valid behind it; a damaged length
            // in the middle of the log does.
            let torn = !valid_record_after(&data, offset + 1, *expected);
            return Ok(damage(
                offset,
                format!("record of {length} bytes runs past the end of the file"),
                torn,
            ));
        }
        let payload = &rest[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + length];
        let ends_file = RECORD_HEADER_BYTES + length == rest.len();
        if crc32c::crc32c(payload) != crc {
            return Ok(damage(
                offset,
                "record checksum mismatch".into(),
                ends_file || zeros,
            ));
        }
        let mut reader = Reader::new(payload);
        let lsn = reader.u64().unwrap_or(u64::MAX);
        let count = reader.u32().unwrap_or(0);
        if lsn != *expected {
            return Ok(damage(
                offset,
                format!("record position {lsn}, expected {expected}"),
                false,
            ));
        }
        let mut effects = Vec::with_capacity(count as usize);
        for _ in 0..count {
            match Effect::decode(&mut reader) {
                Ok(effect) => effects.push(effect),
                Err(error) => {
                    return Ok(damage(
                        offset,
                        format!("undecodable effect: {error}"),
                        false,
                    ));
                }
            }
        }
        if !reader.is_empty() {
            return Ok(damage(
                offset,
                "bytes left over after the record's effects".into(),
                false,
            ));
        }
        for effect in &effects {
            if let Err(error) = apply_logged(state, effect, lsn, positions) {
                return Ok(damage(
                    offset,
                    format!("effect does not fit the recovered state: {error}"),
                    false,
                ));
            }
        }
        report.records += 1;
        report.effects += effects.len() as u64;
        *expected += 1;
        offset += RECORD_HEADER_BYTES + length;
    }
    Ok(None)
}

/// Whether a well-formed record with a later position starts anywhere in
/// `data` from `from` on: then the damage before it is not a torn tail.
fn valid_record_after(data: &[u8], from: usize, expected: u64) -> bool {
    let record_min = RECORD_HEADER_BYTES + PAYLOAD_HEADER_BYTES;
    if data.len() < from + record_min {
        return false;
    }
    // Every record takes at least `record_min` bytes, which bounds the
    // positions the rest of the file can hold.
    let positions_max = ((data.len() - from) / record_min) as u64 + 1;
    (from..=data.len() - record_min).any(|at| {
        let word = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let length = word(at) as usize;
        let crc = word(at + 4);
        let lsn = u64::from(word(at + 8)) | (u64::from(word(at + 12)) << 32);
        lsn > expected
            && lsn - expected <= positions_max
            && length >= PAYLOAD_HEADER_BYTES
            && length <= data.len() - at - RECORD_HEADER_BYTES
            && crc32c::crc32c(&data[at + RECORD_HEADER_BYTES..at + RECORD_HEADER_BYTES + length])
                == crc
    })
}

/// Applies a logged effect unless the snapshot already captured its key (or
/// `REQ` id) at a later position.
fn apply_logged(
    state: &mut State,
    effect: &Effect,
    lsn: u64,
    positions: &Captured,
) -> Result<(), ReplayError> {
    let captured_after = |map: &snapshot::PositionMap, name: &[u8]| {
        map.get(name).is_some_and(|captured| lsn < *captured)
    };
    match effect.target() {
        Target::Key(key) => {
            if captured_after(&positions.keys, key) {
                return Ok(());
            }
            state.replay(effect)
        }
        Target::ReqId(id) => {
            if captured_after(&positions.req_ids, id) {
                return Ok(());
            }
            state.replay(effect)
        }
        Target::All => {
            // FlushAll: keys and REQ entries captured after it already
            // reflect it and stay; everything older goes, as `apply` does.
            state
                .keyspace
                .retain_keys(|key| captured_after(&positions.keys, key));
            state
                .idempotency
                .retain_ids(|id| captured_after(&positions.req_ids, id));
            Ok(())
        }
    }
}

/// `usher-server check DIR [--repair]`: prints what the directory holds and
/// what is wrong; exit code 0 when it is usable as it is (or was repaired),
/// 1 when it is damaged, 2 when it cannot be read.
pub fn check_tool(dir: &Path, repair: bool) -> std::process::ExitCode {
    use std::process::ExitCode;
    if !dir.is_dir() {
        eprintln!("usher-server check: {} is not a directory", dir.display());
        return ExitCode::from(2);
    }
    let _lock = match lock_dir(dir) {
        Ok(lock) => lock,
        Err(error) => {
            eprintln!("usher-server check: {error}");
            return ExitCode::from(2);
        }
    };
    let state = State::new(crate::state::StateLimits {
        keys_max: usize::MAX,
        ..Default::default()
    });
    // A dry run first: report without changing anything.
    let scan = match scan(dir, state.clone_empty()) {
        Ok((_, report)) => report,
        Err(error) => {
            println!("{error}");
            return ExitCode::from(1);
        }
    };
    print_report(&scan);
    let Some(damage) = &scan.damage else {
        println!("ok: the data directory is consistent");
        return ExitCode::SUCCESS;
    };
    if !repair {
        if damage.torn_tail && damage.zeros {
            println!("the preallocated space after the last record is cut at the next start");
            return ExitCode::SUCCESS;
        }
        if damage.torn_tail {
            println!("the torn tail is dropped automatically at the next start");
            return ExitCode::SUCCESS;
        }
        println!(
            "damaged: run `usher-server check {} --repair` to cut the log at that offset",
            dir.display()
        );
        return ExitCode::from(1);
    }
    let size = std::fs::metadata(&damage.path)
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "repair: cutting {} at offset {}: {} bytes of it and {} later segment(s) will be lost",
        damage.path.display(),
        damage.offset,
        size.saturating_sub(damage.offset),
        scan.later_segments.len()
    );
    for later in &scan.later_segments {
        println!("repair: removing {}", later.display());
    }
    match recover(dir, state, true) {
        Ok(recovered) => {
            println!(
                "repaired: {} keys recovered, the log continues at position {}",
                recovered.state.keyspace.len(),
                recovered.next_lsn
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("repair failed: {error}");
            ExitCode::from(1)
        }
    }
}

fn print_report(report: &Report) {
    match &report.snapshot {
        Some((path, lsn)) => println!(
            "snapshot: {} (position {lsn}, {} keys)",
            path.display(),
            report.snapshot_entries
        ),
        None => println!("snapshot: none"),
    }
    println!(
        "log: {} segment(s), {} record(s), {} effect(s); next position {}",
        report.segments.len(),
        report.records,
        report.effects,
        report.next_lsn
    );
    for (spare, first) in &report.spares {
        println!(
            "spare in use: {} holds the segment starting at position {first}; it is renamed to {} \
             at the next start",
            spare.display(),
            wal::segment_name(*first)
        );
    }
    if let Some(damage) = &report.damage {
        println!(
            "{}: {} at byte offset {}: {}",
            if damage.torn_tail && damage.zeros {
                "preallocated space"
            } else if damage.torn_tail {
                "torn tail"
            } else {
                "DAMAGE"
            },
            damage.path.display(),
            damage.offset,
            damage.reason
        );
    }
}
