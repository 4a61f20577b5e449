//! Start-up recovery and the `usher-server check` tool.
//!
//! Start = newest snapshot + replay of the log segments from its position.
//! A last record whose bytes prove a write cut short by a crash (the rule:
//! `log/mod.rs`) is cut off with a warning naming the file, the offset and
//! what the bytes show. Anything else that is wrong — a bad checksum,
//! whether or not the record is the last, a gap in the log, a snapshot that
//! fails its checks — stops the server with a message saying which file,
//! which offset, how many records a repair would cut and how to proceed,
//! because starting anyway would silently lose acknowledged sales. A log
//! segment written by a newer usher (a format version this build does not
//! know) is refused the same way and never cut, not even by `--repair`.
//! Every record is read through the codec in `log/record.rs`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::log::record::{self, Decoded};
use crate::log::segment::{self, HeaderError};
use crate::log::{self, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::snapshot::{self, Captured, Loaded};
use crate::state::effect::{Effect, ReplayError, Target};
use crate::state::State;

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
        .is_some_and(log::is_spare_name)
}

/// The log segments in `dir` by first position: the files named for it,
/// and the spares the log moved into (their header names it) that a crash
/// left before the sync thread renamed them. Unused spares hold zeros and
/// are left out. A segment written by a newer usher is refused here, before
/// anything is replayed or cut.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, RecoveryError> {
    let listing = std::fs::read_dir(dir)
        .map_err(|e| RecoveryError(format!("cannot list {}: {e}", dir.display())))?;
    let mut found = Vec::new();
    for entry in listing.flatten() {
        let path = entry.path();
        let named = entry.file_name().to_str().and_then(log::parse_segment_name);
        if named.is_none() && !is_spare(&path) {
            continue;
        }
        let header = segment::read_header(&path)
            .map_err(|e| RecoveryError(format!("cannot read {}: {e}", path.display())))?;
        if let Err(HeaderError::Newer(version)) = header {
            return Err(newer_version(&path, version));
        }
        let first = match named {
            Some(first) => Some(first),
            None => header.ok().map(|header| header.first_lsn),
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

fn newer_version(path: &Path, version: u32) -> RecoveryError {
    RecoveryError(format!(
        "log segment {} was written by a newer usher (log format version {version}; this build \
         reads versions up to {}). The server will not start, and nothing was changed: run a \
         build of usher that reads version {version}.",
        path.display(),
        log::SEGMENT_VERSION
    ))
}

fn newer_record(path: &Path, offset: usize, version: u8) -> RecoveryError {
    RecoveryError(format!(
        "log segment {} holds a record at offset {offset} written by a newer usher (record \
         format version {version}; this build reads versions up to {}). The server will not \
         start, and nothing was changed: run a build of usher that reads version {version}.",
        path.display(),
        log::record::RECORD_VERSION
    ))
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
        Some((lsn, path)) => load_snapshot(dir, path, *lsn, &found, &mut state, &mut report)?,
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
    let expected = replay_segments(&live, start_lsn, &mut state, &positions, &mut report)?;
    // Paired with the log's assertion that it writes positions one after
    // the other: replay advanced exactly one position per record.
    assert_eq!(
        expected,
        start_lsn + report.records,
        "replay skipped a position"
    );
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

/// Loads the snapshot at `path` (named for position `lsn`) into `state`;
/// its start and end positions and the positions its keys were captured at.
fn load_snapshot(
    dir: &Path,
    path: &Path,
    lsn: u64,
    found: &[(u64, PathBuf)],
    state: &mut State,
    report: &mut Report,
) -> Result<(u64, u64, Captured), RecoveryError> {
    let seats_max = state.limits.seats_per_event_max;
    let touched =
        snapshot::trailer_end_lsn(path).map(|end_lsn| touched_keys(found, lsn, end_lsn, seats_max));
    let loaded: Loaded = snapshot::load(path, state, touched.as_ref()).map_err(|error| {
        RecoveryError(format!(
            "{error}. The server will not start from a damaged snapshot: restore it from a \
             backup. Moving it out of {} starts from the remaining files, which is only complete \
             if `usher-server check` then shows the log starting at position 0.",
            dir.display()
        ))
    })?;
    if loaded.start_lsn != lsn {
        return Err(RecoveryError(format!(
            "snapshot {} says it starts at position {}, its name says {lsn}",
            path.display(),
            loaded.start_lsn
        )));
    }
    report.snapshot = Some((path.to_path_buf(), lsn));
    report.snapshot_entries = loaded.entries;
    Ok((lsn, loaded.end_lsn, loaded.positions))
}

/// Replays the segments from position `start_lsn` on, stopping at the
/// first damage (recorded in `report`); the position after the last record
/// replayed.
fn replay_segments(
    live: &[(u64, PathBuf)],
    start_lsn: u64,
    state: &mut State,
    positions: &Captured,
    report: &mut Report,
) -> Result<u64, RecoveryError> {
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
        report.damage = replay_segment(path, is_last, &mut expected, state, positions, report)?;
    }
    Ok(expected)
}

/// The keys that log records from `start_lsn` up to (not including)
/// `end_lsn` change: the records a snapshot's replay filter applies to, so
/// the only keys whose capture positions loading must keep. (A `FlushAll`
/// among them keeps the keys captured after it; each of those was created
/// again after it, by a record that names it.) Reading stops at the first
/// record that does not check out (or a gap): replay stops there too and
/// applies nothing after it.
fn touched_keys(
    segments: &[(u64, PathBuf)],
    start_lsn: u64,
    end_lsn: u64,
    seats_max: u64,
) -> snapshot::TouchedKeys {
    let mut touched = snapshot::TouchedKeys::with_hasher(foldhash::fast::FixedState::with_seed(7));
    let mut expected = start_lsn;
    let mut effects = Vec::new();
    for (first, path) in segments {
        if *first < start_lsn {
            continue;
        }
        if *first != expected || expected >= end_lsn {
            break;
        }
        let Ok(data) = std::fs::read(path) else {
            break;
        };
        let Ok(header) = segment::parse_header(&data) else {
            break;
        };
        let mut offset = SEGMENT_HEADER_BYTES;
        while expected < end_lsn {
            let rest = data.get(offset..).unwrap_or_default();
            if rest.len() < RECORD_HEADER_BYTES {
                break;
            }
            let (lsn, count, body, len) = match record::decode(rest, header.version) {
                Decoded::Record {
                    lsn,
                    count,
                    effects,
                    len,
                } => (lsn, count, effects, len),
                // Preallocated space after the segment's last record:
                // replay goes on to the next segment, and so does this.
                Decoded::Zeros => break,
                // Replay refuses a newer record, and stops at damage.
                Decoded::Incomplete { .. } | Decoded::Corrupt { .. } | Decoded::Newer { .. } => {
                    return touched
                }
            };
            effects.clear();
            if lsn != expected
                || record::decode_effects(body, count, seats_max, &mut effects).is_err()
            {
                return touched;
            }
            for effect in &effects {
                if let Target::Key(key) = effect.target() {
                    touched.insert(bytes::Bytes::copy_from_slice(key));
                }
            }
            expected += 1;
            offset += len;
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
                "cut an incomplete record at the end of the log"
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
        let named = dir.join(log::segment_name(*first));
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
    log::sync_dir(dir).map_err(|e| RecoveryError(format!("cannot sync {}: {e}", dir.display())))?;
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
         segment and {} later segment(s), {} record(s) from log position {} on.",
        damage.path.display(),
        damage.offset,
        damage.reason,
        dir.display(),
        dir.display(),
        size.saturating_sub(damage.offset),
        report.later_segments.len(),
        records_lost(damage, report),
        report.next_lsn
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
        let _ = log::sync_dir(dir);
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
    let version = match header_damage(path, &data, *expected)? {
        Ok(version) => version,
        Err((offset, reason, torn)) => return Ok(damage(offset, reason, torn)),
    };
    let mut offset = SEGMENT_HEADER_BYTES;
    let mut effects = Vec::new();
    while offset < data.len() {
        let (lsn, count, body, len) = match record::decode(&data[offset..], version) {
            Decoded::Record {
                lsn,
                count,
                effects,
                len,
            } => (lsn, count, effects, len),
            // A tail of zeros is space the file system allocated but the
            // crash never filled, or space the log preallocated and left
            // when it moved on to the next segment; then the next
            // segment's header must say it starts at `expected`, which the
            // caller checks: nothing between them is lost.
            Decoded::Zeros if !is_last => return Ok(None),
            Decoded::Zeros => {
                let reason = format!(
                    "{} bytes of zeros after the last record",
                    data.len() - offset
                );
                return Ok(damage(offset, reason, true));
            }
            // Cut automatically only when the bytes prove a write cut short
            // (the rule: `log/mod.rs`); anything else is damage.
            Decoded::Incomplete { reason } | Decoded::Corrupt { reason } => {
                let torn = match is_last {
                    true => record::torn_tail(&data, offset, *expected, version),
                    false => None,
                };
                return Ok(match torn {
                    Some(torn) => damage(offset, torn, true),
                    None => damage(offset, reason, false),
                });
            }
            Decoded::Newer { version } => return Err(newer_record(path, offset, version)),
        };
        if lsn != *expected {
            let reason = format!("record position {lsn}, expected {expected}");
            return Ok(damage(offset, reason, false));
        }
        effects.clear();
        let seats_max = state.limits.seats_per_event_max;
        if let Err(reason) = record::decode_effects(body, count, seats_max, &mut effects) {
            return Ok(damage(offset, reason, false));
        }
        for effect in &effects {
            if let Err(error) = apply_logged(state, effect, lsn, positions) {
                let reason = format!("effect does not fit the recovered state: {error}");
                return Ok(damage(offset, reason, false));
            }
        }
        report.records += 1;
        report.effects += effects.len() as u64;
        *expected += 1;
        offset += len;
    }
    Ok(None)
}

/// The format version of the segment at `path` holding `data`, expected to
/// start at position `expected`; or what is wrong with its header: the
/// offset, the reason and whether it may be a torn tail. A newer version is
/// an error of its own.
fn header_damage(
    path: &Path,
    data: &[u8],
    expected: u64,
) -> Result<Result<u32, (usize, String, bool)>, RecoveryError> {
    Ok(match segment::parse_header(data) {
        Ok(header) if header.first_lsn != expected => Err((
            16,
            format!(
                "header says position {}, expected {expected}",
                header.first_lsn
            ),
            false,
        )),
        Ok(header) => Ok(header.version),
        Err(HeaderError::Newer(version)) => return Err(newer_version(path, version)),
        Err(error @ HeaderError::Incomplete) => Err((0, error.to_string(), true)),
        Err(error @ HeaderError::BadMagic) => Err((0, error.to_string(), false)),
        Err(error @ HeaderError::Unsupported(_)) => Err((8, error.to_string(), false)),
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
            println!("the incomplete record at the end of the log is cut at the next start");
            return ExitCode::SUCCESS;
        }
        println!(
            "damaged: run `usher-server check {} --repair` to cut the log at that offset",
            dir.display()
        );
        return ExitCode::from(1);
    }
    repair_tool(dir, &scan, damage, state)
}

/// `check --repair` on a damaged directory: says what will be lost, cuts.
fn repair_tool(dir: &Path, scan: &Report, damage: &Damage, state: State) -> std::process::ExitCode {
    use std::process::ExitCode;
    let size = std::fs::metadata(&damage.path)
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "repair: cutting {} at offset {}: {} bytes of it and {} later segment(s) will be lost, \
         holding {} record(s) from log position {} on (the damaged one included; records past \
         the damage that cannot be read are not counted)",
        damage.path.display(),
        damage.offset,
        size.saturating_sub(damage.offset),
        scan.later_segments.len(),
        records_lost(damage, scan),
        scan.next_lsn
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

/// How many records a cut at `damage` loses: the damaged one (when its
/// header names a length that fits, it is stepped over) and those that
/// can be read after it, in its segment and the later ones.
fn records_lost(damage: &Damage, scan: &Report) -> u64 {
    let read = |path: &Path| std::fs::read(path).unwrap_or_default();
    let data = read(&damage.path);
    let version = match segment::parse_header(&data) {
        Ok(header) => header.version,
        Err(_) => log::SEGMENT_VERSION,
    };
    let mut lost = 0;
    let mut offset = (damage.offset as usize).max(SEGMENT_HEADER_BYTES);
    if offset == damage.offset as usize {
        lost += 1;
        let rest = data.get(offset..).unwrap_or_default();
        let length = rest.get(..4).map_or(0, |word| {
            u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize
        });
        offset = (offset + RECORD_HEADER_BYTES + length).min(data.len());
    }
    lost += count_records(&data, offset, version);
    for later in &scan.later_segments {
        let data = read(later);
        if let Ok(header) = segment::parse_header(&data) {
            lost += count_records(&data, SEGMENT_HEADER_BYTES, header.version);
        }
    }
    lost
}

/// The records that read from `offset` on, up to the first that does not.
fn count_records(data: &[u8], mut offset: usize, version: u32) -> u64 {
    let mut count = 0;
    while let Some(Decoded::Record { len, .. }) =
        data.get(offset..).map(|rest| record::decode(rest, version))
    {
        count += 1;
        offset += len;
    }
    count
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
            log::segment_name(*first)
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
