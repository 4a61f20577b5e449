//! Fault injection on real data directories (mirrors `src/recovery.rs`):
//! torn and zero-filled log tails, flipped bits in the middle of the log and
//! in snapshots, truncated and partial snapshots, a crash between a
//! snapshot's rename and the removal of what it replaces, log gaps, a log
//! that ends before the snapshot it follows, an abandoned snapshot,
//! `usher-server check [--repair]` and the data directory lock.
//!
//! Logs are written with `usher::log::Wal` and snapshots with
//! `usher::snapshot::SnapshotJob`, exactly as the engine does, so every byte
//! offset is known; the expected state is rebuilt by replaying the same
//! effects into a fresh `State`. After each fault the directory is recovered
//! again, as the server would at start-up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use usher::clock::ManualClock;
use usher::config::Config;
use usher::log::record::SECTOR_BYTES;
use usher::log::{segment_name, FsyncPolicy, Wal, SEGMENT_BYTES_MIN, SEGMENT_HEADER_BYTES};
use usher::recovery::{recover, Recovered, RecoveryError};
use usher::snapshot::{snapshot_name, SnapshotDone, SnapshotJob};
use usher::state::{Effect, Key, KeyEffect, State, StateLimits, Value};

const T0: u64 = 1_700_000_000_000;

fn fresh() -> State {
    State::new(StateLimits::default())
}

type Dump = Vec<(Bytes, Value, Option<u64>)>;

/// Every key with its value and deadline, sorted by key.
fn dump(state: &State) -> Dump {
    let mut all: Dump = state
        .keyspace
        .iter()
        .map(|(key, entry)| (key.to_bytes(), entry.value.clone(), entry.deadline_ms()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn put(key: &str, value: Value, deadline_ms: Option<u64>) -> Effect {
    Effect::Key(KeyEffect::Put {
        key: Key::copy_from_slice(key.as_bytes()),
        value,
        deadline_ms,
    })
}

fn text(value: &str) -> Value {
    Value::string(value.as_bytes())
}

fn key(name: &str) -> Key {
    Key::copy_from_slice(name.as_bytes())
}

/// Five records touching every kind of effect; the last one is the largest
/// so that truncating it leaves many offsets to try.
fn records() -> Vec<Vec<Effect>> {
    vec![
        vec![
            put("a", Value::Int(1), None),
            put("b", text("hello"), Some(T0 + 1_000)),
        ],
        vec![put("c", text(&"c".repeat(50)), None)],
        vec![
            Effect::Key(KeyEffect::Deadline {
                key: key("b"),
                deadline_ms: None,
            }),
            Effect::Key(KeyEffect::Delete { key: key("a") }),
        ],
        vec![
            put("a", Value::Int(-2), Some(T0 + 5)),
            Effect::Key(KeyEffect::Expired { key: key("c") }),
        ],
        vec![
            put("d", text(&"d".repeat(40)), Some(T0 + 9_000)),
            put("e", Value::Int(i64::MAX), None),
            Effect::Key(KeyEffect::Delete { key: key("b") }),
            Effect::Key(KeyEffect::FlushAll),
            put("f", text("after the flush"), None),
        ],
    ]
}

/// The state after replaying `records` in order.
fn replayed(records: &[Vec<Effect>]) -> Dump {
    let mut state = fresh();
    for record in records {
        for effect in record {
            state.replay(effect).expect("effect replays");
        }
    }
    dump(&state)
}

/// Appends each record with its own commit (one record per batch).
fn append_records(wal: &mut Wal, records: &[Vec<Effect>]) {
    for record in records {
        let mut effects = record.clone();
        wal.append(&mut effects);
        wal.commit().expect("commit");
    }
}

/// Writes `records` as one log segment starting at position 0.
fn write_log(dir: &Path, records: &[Vec<Effect>]) -> PathBuf {
    let mut wal = Wal::create(dir, 0, FsyncPolicy::No, 0).expect("create the log");
    append_records(&mut wal, records);
    wal.close().expect("close");
    dir.join(segment_name(0))
}

/// `(start, end)` byte offsets of every record in a segment, read with the
/// documented framing (`length:u32 crc:u32 payload`).
fn record_spans(path: &Path) -> Vec<(usize, usize)> {
    let data = std::fs::read(path).expect("read segment");
    let mut spans = Vec::new();
    let mut offset = SEGMENT_HEADER_BYTES;
    while offset < data.len() {
        let length =
            u32::from_le_bytes(data[offset..offset + 4].try_into().expect("4 bytes")) as usize;
        spans.push((offset, offset + 8 + length));
        offset += 8 + length;
    }
    assert_eq!(offset, data.len(), "records do not end where the file does");
    spans
}

fn recover_dir(dir: &Path) -> Result<Recovered, RecoveryError> {
    recover(dir, fresh(), false)
}

#[track_caller]
fn recover_ok(dir: &Path) -> Recovered {
    match recover_dir(dir) {
        Ok(recovered) => recovered,
        Err(error) => panic!("recovery failed: {error}"),
    }
}

#[track_caller]
fn recover_err(dir: &Path) -> String {
    match recover_dir(dir) {
        Ok(recovered) => panic!(
            "recovery accepted a damaged directory: {} keys, report {:?}",
            recovered.state.keyspace.len(),
            recovered.report
        ),
        Err(error) => error.0,
    }
}

/// File names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list dir")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Runs `usher-server check DIR [--repair]`; returns (exit code, stdout).
fn check(dir: &Path, repair: bool) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_usher-server"));
    command.arg("check").arg(dir);
    if repair {
        command.arg("--repair");
    }
    let output = command.output().expect("run usher-server check");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (
        output.status.code().expect("check exits with a code"),
        format!("{stdout}{stderr}"),
    )
}

/// Drives a snapshot of `state` at `start_lsn` to completion, capturing
/// every key at `position`, as the engine does.
fn write_snapshot(dir: &Path, state: &State, start_lsn: u64, position: u64) -> SnapshotDone {
    let mut job = SnapshotJob::start(dir, state, start_lsn).expect("start snapshot");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        job.step(state, position, || false);
        // The records before `position` were committed by the caller.
        if let Some(log_durable) = job.take_log_durable() {
            log_durable.send(true).expect("the snapshot writer waits");
        }
        if let Some(result) = job.poll() {
            return result.expect("snapshot written");
        }
        assert!(Instant::now() < deadline, "snapshot did not finish in time");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A directory holding: snapshot at position 3 (records 0..3), and a log
/// segment at 3 with records 3 and 4. Returns (snapshot path, expected).
fn snapshot_dir(dir: &Path) -> (PathBuf, Dump) {
    let all = records();
    let mut wal = Wal::create(dir, 0, FsyncPolicy::No, 0).expect("create the log");
    append_records(&mut wal, &all[..3]);
    let start = wal.rotate().expect("rotate");
    assert_eq!(start, 3);
    let mut state = fresh();
    for effect in all[..3].iter().flatten() {
        state.replay(effect).expect("effect replays");
    }
    let done = write_snapshot(dir, &state, start, start);
    append_records(&mut wal, &all[3..]);
    wal.close().expect("close");
    drop(wal);
    assert!(
        !dir.join(segment_name(0)).exists(),
        "the log before the snapshot was not removed"
    );
    (done.path, replayed(&all))
}

// --- the log's tail ---

#[test]
fn torn_last_record_at_every_byte_is_cut_and_earlier_records_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = records();
    let segment = write_log(dir.path(), &all);
    let original = std::fs::read(&segment).expect("read");
    let spans = record_spans(&segment);
    assert_eq!(spans.len(), all.len());
    let (last_start, last_end) = spans[spans.len() - 1];
    let before_last = replayed(&all[..all.len() - 1]);
    assert!(last_end - last_start > 100, "the last record is too small");

    for cut in last_start..last_end {
        std::fs::remove_dir_all(dir.path()).expect("clear");
        std::fs::create_dir(dir.path()).expect("mkdir");
        std::fs::write(&segment, &original[..cut]).expect("write truncated");

        let recovered = recover_ok(dir.path());
        assert_eq!(
            dump(&recovered.state),
            before_last,
            "cut at {cut}: wrong state"
        );
        assert_eq!(recovered.next_lsn, all.len() as u64 - 1, "cut at {cut}");
        if cut > last_start {
            let damage = recovered.report.damage.as_ref().expect("damage reported");
            assert!(damage.torn_tail, "cut at {cut}: {damage:?}");
            assert_eq!(damage.offset, last_start as u64, "cut at {cut}");
        }
        let length = std::fs::metadata(&segment).expect("stat").len();
        assert_eq!(
            length, last_start as u64,
            "cut at {cut}: the torn record was not cut off"
        );

        // The log continues where the good records end, and a second
        // recovery sees both.
        let mut wal = Wal::create(dir.path(), recovered.next_lsn, FsyncPolicy::No, 0)
            .expect("continue the log");
        append_records(&mut wal, &[vec![put("z", Value::Int(cut as i64), None)]]);
        wal.close().expect("close");
        drop(wal);
        let again = recover_ok(dir.path());
        assert!(again.report.damage.is_none(), "cut at {cut}");
        let mut expected = all[..all.len() - 1].to_vec();
        expected.push(vec![put("z", Value::Int(cut as i64), None)]);
        assert_eq!(dump(&again.state), replayed(&expected), "cut at {cut}");
    }
}

#[test]
fn a_torn_segment_header_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = records();
    let mut wal = Wal::create(dir.path(), 0, FsyncPolicy::No, 0).expect("create");
    append_records(&mut wal, &all);
    wal.rotate().expect("rotate");
    drop(wal);
    let second = dir.path().join(segment_name(all.len() as u64));
    let header = std::fs::read(&second).expect("read");
    for cut in 0..SEGMENT_HEADER_BYTES {
        std::fs::write(&second, &header[..cut]).expect("write");
        let recovered = recover_ok(dir.path());
        assert_eq!(dump(&recovered.state), replayed(&all), "cut at {cut}");
        assert_eq!(recovered.next_lsn, all.len() as u64);
        assert!(!second.exists(), "cut at {cut}: the stub segment stays");
    }
}

#[test]
fn zero_filled_tail_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = records();
    let segment = write_log(dir.path(), &all);
    let original = std::fs::read(&segment).expect("read");

    // Space the file system allocated after the last record but the crash
    // never filled.
    for zeros in [1, 7, 8, 12, 100, 4096] {
        let mut bytes = original.clone();
        bytes.resize(original.len() + zeros, 0);
        std::fs::write(&segment, &bytes).expect("write");
        let recovered = recover_ok(dir.path());
        assert_eq!(dump(&recovered.state), replayed(&all), "{zeros} zeros");
        assert_eq!(recovered.next_lsn, all.len() as u64);
        assert_eq!(
            std::fs::metadata(&segment).expect("stat").len(),
            original.len() as u64,
            "{zeros} zeros were not cut"
        );
    }

    // The last write only partly reached the disk, which writes whole
    // sectors: its record reads as zeros from a sector boundary on (or is
    // all zeros: the clean end).
    let mut big = all.clone();
    big.push(vec![put("g", text(&"g".repeat(1500)), None)]);
    std::fs::remove_file(&segment).expect("clear");
    let segment = write_log(dir.path(), &big);
    let original = std::fs::read(&segment).expect("read");
    let (last_start, last_end) = *record_spans(&segment).last().expect("records");
    let boundaries: Vec<usize> = (SECTOR_BYTES..last_end)
        .step_by(SECTOR_BYTES)
        .filter(|boundary| *boundary > last_start)
        .collect();
    assert!(boundaries.len() >= 2, "the last record crosses sectors");
    for from in std::iter::once(last_start).chain(boundaries) {
        let mut bytes = original.clone();
        bytes[from..].fill(0);
        std::fs::write(&segment, &bytes).expect("write");
        let recovered = recover_ok(dir.path());
        assert_eq!(dump(&recovered.state), replayed(&all), "zeros from {from}");
        assert_eq!(
            std::fs::metadata(&segment).expect("stat").len(),
            last_start as u64
        );
    }
}

/// A log of `records()` written as the server writes it with
/// `log_segment_bytes` (`segment_bytes`, 0 for none), stopped cleanly, so
/// that its last segment ends with its last record; and that segment (with
/// preallocation, the log moves into a spare once one is ready).
fn clean_log(dir: &Path, segment_bytes: u64) -> PathBuf {
    let mut wal = Wal::create(dir, 0, FsyncPolicy::Always, segment_bytes).expect("create");
    append_records(&mut wal, &records());
    wal.close().expect("close");
    drop(wal);
    let last = listing(dir)
        .into_iter()
        .rfind(|name| name.starts_with("log-") && name.ends_with(".ulog"))
        .expect("a segment");
    dir.join(last)
}

/// A whole last record with a byte flipped is damage, not a torn write:
/// recovery refuses naming the file and offset, `check` fails, and
/// `check --repair` cuts it saying how many records are lost.
fn assert_flipped_last_record_refused(dir: &Path, segment: &Path, zeros_after: usize) {
    let mut original = std::fs::read(segment).expect("read");
    let (start, end) = *record_spans(segment).last().expect("records");
    original.resize(original.len() + zeros_after, 0);
    // The length field too: a longer one names bytes the file does not
    // hold (or zeros after the record), as a write cut short would, but
    // the checksum holds for the record's real length.
    for byte in start..end {
        let mut bytes = original.clone();
        bytes[byte] ^= 0xFF;
        std::fs::write(segment, &bytes).expect("write");
        let message = recover_err(dir);
        assert!(
            message.contains(&segment.display().to_string())
                && message.contains(&format!("offset {start}")),
            "byte {byte}: {message}"
        );
        assert_eq!(std::fs::read(segment).expect("read"), bytes, "byte {byte}");
    }
    let mut bytes = original.clone();
    bytes[end - 1] ^= 0x01;
    std::fs::write(segment, &bytes).expect("write");
    let (code, output) = check(dir, false);
    assert_eq!(code, 1, "check: {output}");
    assert!(output.contains(&format!("offset {start}")), "{output}");
    let (code, output) = check(dir, true);
    assert_eq!(code, 0, "check --repair: {output}");
    let lost = records().len() - 1;
    assert!(
        output.contains(&format!("1 record(s) from log position {lost} on")),
        "repair does not say what is lost: {output}"
    );
    let recovered = recover_ok(dir);
    assert_eq!(dump(&recovered.state), replayed(&records()[..lost]));
    assert_eq!(recovered.next_lsn, lost as u64);
}

#[test]
fn a_flipped_byte_in_a_whole_last_record_is_refused_without_preallocation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segment = clean_log(dir.path(), 0);
    assert_flipped_last_record_refused(dir.path(), &segment, 0);
}

#[test]
fn a_flipped_byte_at_the_end_of_a_cleanly_closed_segment_is_refused() {
    // Preallocation on: the segment is cut to its last record at the
    // clean stop, and its unused successor is a spare of zeros.
    let dir = tempfile::tempdir().expect("tempdir");
    let segment = clean_log(dir.path(), SEGMENT_BYTES_MIN);
    assert_flipped_last_record_refused(dir.path(), &segment, 0);
}

#[test]
fn a_flipped_byte_in_a_last_record_before_preallocated_zeros_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segment = clean_log(dir.path(), 0);
    assert_flipped_last_record_refused(dir.path(), &segment, 4096);
}

#[test]
fn a_truncated_last_record_is_cut_and_check_accepts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segment = clean_log(dir.path(), 0);
    let (start, end) = *record_spans(&segment).last().expect("records");
    let bytes = std::fs::read(&segment).expect("read");
    std::fs::write(&segment, &bytes[..(start + end) / 2]).expect("write");
    let (code, output) = check(dir.path(), false);
    assert_eq!(code, 0, "check of a record cut short: {output}");
    assert!(output.contains("incomplete record"), "{output}");
    let recovered = recover_ok(dir.path());
    let lost = records().len() - 1;
    assert_eq!(dump(&recovered.state), replayed(&records()[..lost]));
    assert_eq!(
        std::fs::metadata(&segment).expect("stat").len(),
        start as u64
    );
}

// --- corruption before the tail ---

#[test]
fn flipped_bit_in_a_middle_record_is_refused_naming_file_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = records();
    let segment = write_log(dir.path(), &all);
    let original = std::fs::read(&segment).expect("read");
    let spans = record_spans(&segment);
    let (start, end) = spans[2];

    for byte in start..end {
        for bit in 0..8 {
            let mut bytes = original.clone();
            bytes[byte] ^= 1 << bit;
            std::fs::write(&segment, &bytes).expect("write");
            let message = recover_err(dir.path());
            assert!(
                message.contains(&segment.display().to_string()),
                "byte {byte} bit {bit}: the error does not name the file: {message}"
            );
            assert!(
                message.contains(&format!("offset {start}")),
                "byte {byte} bit {bit}: the error does not name offset {start}: {message}"
            );
            assert!(
                message.contains("--repair"),
                "byte {byte} bit {bit}: the error does not say how to proceed: {message}"
            );
            assert_eq!(
                std::fs::read(&segment).expect("read"),
                bytes,
                "byte {byte} bit {bit}: a refused recovery changed the file"
            );
        }
    }
}

#[test]
fn flipped_bit_at_the_end_of_an_older_segment_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = records();
    let mut wal = Wal::create(dir.path(), 0, FsyncPolicy::No, 0).expect("create");
    append_records(&mut wal, &all[..3]);
    wal.rotate().expect("rotate");
    append_records(&mut wal, &all[3..]);
    wal.close().expect("close");
    drop(wal);
    let first = dir.path().join(segment_name(0));
    let (start, end) = *record_spans(&first).last().expect("records");
    let mut bytes = std::fs::read(&first).expect("read");
    bytes[end - 1] ^= 0x10;
    std::fs::write(&first, &bytes).expect("write");
    let message = recover_err(dir.path());
    assert!(
        message.contains(&first.display().to_string()) && message.contains(&format!("{start}")),
        "{message}"
    );
}

#[test]
fn check_reports_damage_and_repair_cuts_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = records();
    let segment = write_log(dir.path(), &all);
    let spans = record_spans(&segment);
    let (start, _) = spans[2];
    let mut bytes = std::fs::read(&segment).expect("read");
    // A bit in the middle record's checksum.
    bytes[start + 5] ^= 0x01;
    std::fs::write(&segment, &bytes).expect("write");

    let (code, output) = check(dir.path(), false);
    assert_eq!(code, 1, "check of a damaged log: {output}");
    assert!(
        output.contains(&segment.display().to_string()) && output.contains(&format!("{start}")),
        "check does not name the file and offset: {output}"
    );
    assert_eq!(
        std::fs::read(&segment).expect("read"),
        bytes,
        "check without --repair changed the file"
    );

    let (code, output) = check(dir.path(), true);
    assert_eq!(code, 0, "check --repair: {output}");
    assert!(
        output.contains("lost"),
        "repair does not say what is lost: {output}"
    );
    assert_eq!(
        std::fs::metadata(&segment).expect("stat").len(),
        start as u64,
        "repair did not cut at the bad record"
    );
    let recovered = recover_ok(dir.path());
    assert!(recovered.report.damage.is_none());
    assert_eq!(dump(&recovered.state), replayed(&all[..2]));
    assert_eq!(recovered.next_lsn, 2);

    let (code, output) = check(dir.path(), false);
    assert_eq!(code, 0, "check after repair: {output}");
}

#[test]
fn a_missing_middle_segment_is_refused_and_repair_keeps_the_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = records();
    let mut wal = Wal::create(dir.path(), 0, FsyncPolicy::No, 0).expect("create");
    append_records(&mut wal, &all[..2]);
    wal.rotate().expect("rotate");
    append_records(&mut wal, &all[2..4]);
    wal.rotate().expect("rotate");
    append_records(&mut wal, &all[4..]);
    wal.close().expect("close");
    drop(wal);
    std::fs::remove_file(dir.path().join(segment_name(2))).expect("remove the middle");

    let message = recover_err(dir.path());
    assert!(
        message.contains(&dir.path().join(segment_name(4)).display().to_string())
            && message.contains("gap"),
        "{message}"
    );
    let (code, output) = check(dir.path(), false);
    assert_eq!(code, 1, "{output}");
    let (code, output) = check(dir.path(), true);
    assert_eq!(code, 0, "{output}");
    let recovered = recover_ok(dir.path());
    assert_eq!(dump(&recovered.state), replayed(&all[..2]));
    assert_eq!(recovered.next_lsn, 2);
    assert_eq!(listing(dir.path()), vec!["LOCK", &segment_name(0)]);
}

// --- snapshots ---

#[test]
fn snapshot_plus_log_recovers_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, expected) = snapshot_dir(dir.path());
    let recovered = recover_ok(dir.path());
    assert_eq!(dump(&recovered.state), expected);
    assert!(recovered.report.snapshot.is_some());
    assert_eq!(recovered.next_lsn, 5);
    assert_eq!(recovered.report.records, 2);
}

#[test]
fn flipped_bit_in_a_snapshot_is_refused_naming_file_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (snapshot, _) = snapshot_dir(dir.path());
    let original = std::fs::read(&snapshot).expect("read");
    let name = snapshot.display().to_string();
    for byte in 0..original.len() {
        // The reserved header word carries no meaning (nothing reads it).
        if (12..16).contains(&byte) {
            continue;
        }
        for bit in 0..8 {
            let mut bytes = original.clone();
            bytes[byte] ^= 1 << bit;
            std::fs::write(&snapshot, &bytes).expect("write");
            let message = recover_err(dir.path());
            assert!(
                message.contains(&name),
                "byte {byte} bit {bit}: the error does not name the file: {message}"
            );
            // Bytes 16..24 hold the start position, checked against the
            // file name; everything else is reported with its offset.
            if !(16..24).contains(&byte) {
                assert!(
                    message.contains("offset"),
                    "byte {byte} bit {bit}: no offset in: {message}"
                );
            }
        }
    }
    std::fs::write(&snapshot, &original).expect("restore");
    recover_ok(dir.path());

    let mut bytes = original.clone();
    bytes[SEGMENT_HEADER_BYTES + 10] ^= 0x40;
    std::fs::write(&snapshot, &bytes).expect("write");
    let (code, output) = check(dir.path(), false);
    assert_eq!(code, 1, "check of a damaged snapshot: {output}");
    assert!(output.contains(&name), "{output}");
}

#[test]
fn a_snapshot_of_many_chunks_loads_every_key_and_reports_its_first_damage() {
    // Enough keys for several chunks, so both loading threads get some:
    // short and long strings, integers, and keys with deadlines.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = fresh();
    for i in 0..40_000u64 {
        let value = match i % 3 {
            0 => Value::string(format!("short-{i}").as_bytes()),
            1 => Value::string(format!("{i:->60}").as_bytes()),
            _ => Value::Int(i as i64 - 20_000),
        };
        let deadline = (i % 5 == 0).then_some(T0 + i);
        state
            .replay(&put(&format!("key:{i}"), value, deadline))
            .expect("effect replays");
    }
    let done = write_snapshot(dir.path(), &state, 0, 0);
    let original = std::fs::read(&done.path).expect("read");
    assert!(original.len() > 2 * 1024 * 1024, "too few chunks");
    let recovered = recover_ok(dir.path());
    assert_eq!(dump(&recovered.state), dump(&state));
    assert_eq!(
        recovered.state.keyspace.with_deadline(),
        state.keyspace.with_deadline()
    );

    // Damage near the end only, then near the start too: the first bad
    // chunk in the file is the one reported.
    let mut bytes = original.clone();
    let last = original.len() - 24 - 100;
    bytes[last] ^= 0x10;
    std::fs::write(&done.path, &bytes).expect("write");
    let message = recover_err(dir.path());
    assert!(message.contains("checksum"), "{message}");
    assert!(!message.contains("byte offset 24:"), "{message}");
    bytes[100] ^= 0x10;
    std::fs::write(&done.path, &bytes).expect("write");
    let message = recover_err(dir.path());
    assert!(
        message.contains("byte offset 24: chunk checksum"),
        "{message}"
    );
}

#[test]
fn a_snapshot_whose_capture_positions_go_backwards_is_refused() {
    // Loading inserts a key's captures in file order, the latest last,
    // which holds because positions never decrease through the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = fresh();
    for name in ["a", "b"] {
        state
            .replay(&put(name, Value::Int(1), None))
            .expect("effect replays");
    }
    let done = write_snapshot(dir.path(), &state, 0, 7);
    let mut bytes = std::fs::read(&done.path).expect("read");
    // One chunk after the 24-byte header (length, crc, body) holding two
    // key entries of 31 bytes: kind, key length, 1-byte key, position,
    // deadline, integer value (tag and 8 bytes).
    let length = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes")) as usize;
    let body = 32;
    assert_eq!(length, 2 * 31, "unexpected snapshot layout");
    for (entry, position) in [(0, 7u64), (1, 6)] {
        let at = body + entry * 31 + 6;
        assert_eq!(&bytes[at..at + 8], &7u64.to_le_bytes());
        bytes[at..at + 8].copy_from_slice(&position.to_le_bytes());
    }
    let crc = crc32c::crc32c(&bytes[body..body + length]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&done.path, &bytes).expect("write");
    let message = recover_err(dir.path());
    assert!(
        message.contains("capture position lower") && message.contains("offset 63"),
        "{message}"
    );
}

#[test]
fn truncated_snapshot_or_missing_trailer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (snapshot, _) = snapshot_dir(dir.path());
    let original = std::fs::read(&snapshot).expect("read");
    for cut in 0..original.len() {
        std::fs::write(&snapshot, &original[..cut]).expect("write");
        let message = recover_err(dir.path());
        assert!(
            message.contains(&snapshot.display().to_string()),
            "cut at {cut}: {message}"
        );
    }
    std::fs::write(&snapshot, &original[..original.len() - 24]).expect("write");
    let message = recover_err(dir.path());
    assert!(message.contains("trailer"), "{message}");
}

#[test]
fn an_abandoned_snapshot_leaves_no_temporary_file_once_dropped() {
    // Several chunks, so that the writer has written some and waits for
    // more when the job is dropped (as at shutdown).
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = fresh();
    for i in 0..40_000u64 {
        let value = Value::string(format!("{i:->60}").as_bytes());
        state
            .replay(&put(&format!("key:{i}"), value, None))
            .expect("effect replays");
    }
    let mut job = SnapshotJob::start(dir.path(), &state, 0).expect("start snapshot");
    let temp = dir.path().join(format!("{}.tmp", snapshot_name(0)));
    let deadline = Instant::now() + Duration::from_secs(10);
    // Serialize a few keys at a time until the writer has created its file.
    let mut steps = 0;
    while !temp.exists() {
        let calls = std::cell::Cell::new(0);
        job.step(&state, 0, || {
            calls.set(calls.get() + 1);
            calls.get() > 50
        });
        steps += 1;
        assert!(Instant::now() < deadline, "the writer never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(job.poll().is_none(), "finished after {steps} small steps");
    drop(job);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|entry| entry.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_partial_snapshot_tmp_file_is_ignored_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (snapshot, expected) = snapshot_dir(dir.path());
    let bytes = std::fs::read(&snapshot).expect("read");
    // A later snapshot that a crash interrupted before its rename.
    let tmp = dir.path().join(format!("{}.tmp", snapshot_name(5)));
    std::fs::write(&tmp, &bytes[..bytes.len() / 2]).expect("write tmp");
    let recovered = recover_ok(dir.path());
    assert_eq!(dump(&recovered.state), expected);
    assert!(!tmp.exists(), "the partial snapshot was not removed");
    assert!(snapshot.exists());
}

#[test]
fn crash_between_snapshot_rename_and_cleanup_leaves_stale_files_that_recovery_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backup = tempfile::tempdir().expect("tempdir");
    let all = records();
    let mut wal = Wal::create(dir.path(), 0, FsyncPolicy::No, 0).expect("create");
    append_records(&mut wal, &all[..2]);
    let mut state = fresh();
    for effect in all[..2].iter().flatten() {
        state.replay(effect).expect("effect replays");
    }
    let first = wal.rotate().expect("rotate");
    write_snapshot(dir.path(), &state, first, first);
    append_records(&mut wal, &all[2..4]);
    for effect in all[2..4].iter().flatten() {
        state.replay(effect).expect("effect replays");
    }
    // Keep what the second snapshot will supersede.
    for name in listing(dir.path()) {
        std::fs::copy(dir.path().join(&name), backup.path().join(&name)).expect("backup");
    }
    let second = wal.rotate().expect("rotate");
    write_snapshot(dir.path(), &state, second, second);
    append_records(&mut wal, &all[4..]);
    wal.close().expect("close");
    drop(wal);
    let after_cleanup = listing(dir.path());
    assert_eq!(
        after_cleanup,
        vec![segment_name(second), snapshot_name(second)]
    );

    // The crash came after the rename, before the old files were deleted.
    for name in listing(backup.path()) {
        if !dir.path().join(&name).exists() {
            std::fs::copy(backup.path().join(&name), dir.path().join(&name)).expect("restore");
        }
    }
    assert!(listing(dir.path()).contains(&snapshot_name(first)));
    assert!(listing(dir.path()).contains(&segment_name(first)));
    let recovered = recover_ok(dir.path());
    assert_eq!(dump(&recovered.state), replayed(&all));
    assert_eq!(
        recovered.report.snapshot.as_ref().map(|s| s.1),
        Some(second)
    );
    assert_eq!(listing(dir.path()), after_cleanup, "stale files stay");
}

#[test]
fn a_missing_snapshot_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (snapshot, _) = snapshot_dir(dir.path());
    std::fs::remove_file(&snapshot).expect("remove");
    // The log before the snapshot is gone too: starting from the log alone
    // would silently lose records 0..3.
    let message = recover_err(dir.path());
    assert!(message.contains("gap"), "{message}");
}

#[test]
fn a_log_that_ends_before_the_snapshot_it_follows_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = records();
    let mut wal = Wal::create(dir.path(), 0, FsyncPolicy::No, 0).expect("create");
    append_records(&mut wal, &all[..2]);
    let start = wal.rotate().expect("rotate");
    let mut state = fresh();
    for effect in all[..2].iter().flatten() {
        state.replay(effect).expect("effect replays");
    }
    // Records 2 and 3 are logged while the snapshot is in progress, and its
    // keys are captured after them.
    append_records(&mut wal, &all[2..4]);
    for effect in all[2..4].iter().flatten() {
        state.replay(effect).expect("effect replays");
    }
    wal.close().expect("close");
    drop(wal);
    write_snapshot(dir.path(), &state, start, start + 2);
    recover_ok(dir.path());

    // Lose the last record the snapshot depends on (a power failure with
    // fsync = no, or an operator's cut): the snapshot then holds effects
    // the log does not, and positions the log would hand out again.
    let segment = dir.path().join(segment_name(start));
    let spans = record_spans(&segment);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .expect("open");
    file.set_len(spans[0].1 as u64).expect("truncate");
    drop(file);
    let message = recover_err(dir.path());
    assert!(
        message.contains(&snapshot_name(start)),
        "the error does not name the snapshot: {message}"
    );
}

// --- the data directory lock ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        bind: "127.0.0.1".into(),
        port: 0,
        persist: true,
        dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let clock = ManualClock::new(T0);
    let first = usher::server::start(config.clone(), clock.clone())
        .await
        .expect("the first server starts");
    let second = usher::server::start(config.clone(), clock.clone()).await;
    let error = match second {
        Ok(_) => panic!("a second server started on a locked directory"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("in use") && error.contains("LOCK"),
        "the refusal does not explain the lock: {error}"
    );
    let (code, output) = tokio::task::block_in_place(|| check(dir.path(), false));
    assert_eq!(code, 2, "check ran on a locked directory: {output}");

    tokio::time::timeout(Duration::from_secs(5), first.shutdown())
        .await
        .expect("shutdown in time");
    let third = usher::server::start(config, clock)
        .await
        .expect("the directory is free again after shutdown");
    tokio::time::timeout(Duration::from_secs(5), third.shutdown())
        .await
        .expect("shutdown in time");
}
