//! Preallocated log segments (`log_segment_bytes`, `src/log/`): the log
//! moves into zero-filled spare files prepared by a background thread, and
//! the sync thread names them; a segment the log left keeps its zeros after
//! its last record, which recovery reads as the segment's end; a crash
//! before a spare is named leaves it to recovery, which finds it by its
//! header; nothing acknowledged is lost and no spare file is left behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use usher::log::{parse_segment_name, segment_name, FsyncPolicy, Wal, SEGMENT_HEADER_BYTES};
use usher::recovery::recover;
use usher::state::{Effect, Key, KeyEffect, State, StateLimits, Value};

/// Small segments, so that a test fills several.
const SEGMENT_BYTES: u64 = 64 * 1024;
/// Segments a test fills before it stops writing.
const SEGMENTS: usize = 4;

fn record(n: u64) -> Vec<Effect> {
    vec![Effect::Key(KeyEffect::Put {
        key: Key::copy_from_slice(format!("key:{}", n % 300).as_bytes()),
        value: Value::string(format!("{n}:{}", "v".repeat(700)).as_bytes()),
        deadline_ms: None,
    })]
}

/// The log segments in `dir`, by first position.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .expect("list dir")
        .flatten()
        .filter_map(|entry| {
            let lsn = parse_segment_name(entry.file_name().to_str()?)?;
            Some((lsn, entry.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

fn spare_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("list dir")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "tmp"))
        .collect()
}

/// Where the records of a segment end, read with the documented framing;
/// the bytes after that must all be zeros.
fn records_end(path: &Path) -> usize {
    let data = std::fs::read(path).expect("read segment");
    let mut offset = SEGMENT_HEADER_BYTES;
    while offset + 8 <= data.len() {
        let length =
            u32::from_le_bytes(data[offset..offset + 4].try_into().expect("4 bytes")) as usize;
        if length == 0 {
            break;
        }
        offset += 8 + length;
    }
    assert!(
        data[offset.min(data.len())..].iter().all(|b| *b == 0),
        "{} holds something other than zeros after its records",
        path.display()
    );
    offset
}

/// Commits records one per batch until the log has moved into `SEGMENTS`
/// segments (spares are prepared in the background, so this waits for
/// them); returns how many records were committed.
fn fill(wal: &mut Wal, dir: &Path) -> u64 {
    let started = Instant::now();
    let mut n = 0;
    while segments(dir).len() < SEGMENTS {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the log never moved into {SEGMENTS} segments"
        );
        let mut effects = record(n);
        wal.append(&mut effects);
        wal.commit().expect("commit");
        n += 1;
        if n % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    n
}

fn expected(records: u64) -> Vec<(Bytes, Value)> {
    let mut state = State::new(StateLimits::default());
    for n in 0..records {
        for effect in record(n) {
            state.replay(&effect).expect("replays");
        }
    }
    dump(&state)
}

fn dump(state: &State) -> Vec<(Bytes, Value)> {
    let mut all: Vec<(Bytes, Value)> = state
        .keyspace
        .iter()
        .map(|(key, entry)| (key.to_bytes(), entry.value.clone()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Recovers `dir` as the server would at start-up and checks that it holds
/// exactly the first `records` records.
#[track_caller]
fn assert_recovers(dir: &Path, records: u64) {
    let recovered = recover(dir, State::new(StateLimits::default()), false)
        .unwrap_or_else(|error| panic!("recovery failed: {error}"));
    assert_eq!(recovered.next_lsn, records, "records recovered");
    assert_eq!(dump(&recovered.state), expected(records));
}

/// Waits (bounded) until the sync thread has named every spare the log
/// moved into, so that the named segments are the whole log.
fn wait_for_names(dir: &Path, first_lsn: u64) {
    let started = Instant::now();
    while !segments(dir)
        .iter()
        .any(|path| path.ends_with(segment_name(first_lsn)))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the segment starting at {first_lsn} was never named"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn segments_keep_their_zeros_until_the_log_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wal =
        Wal::create(dir.path(), 0, FsyncPolicy::Always, SEGMENT_BYTES).expect("create the log");
    let records = fill(&mut wal, dir.path());
    let all = segments(dir.path());
    // The first segment grew as written; the others were spares: full
    // size, records, then zeros (the log does not cut them as it leaves).
    let first = &all[0];
    assert_eq!(
        records_end(first) as u64,
        std::fs::metadata(first).expect("stat").len()
    );
    for path in &all[1..] {
        let length = std::fs::metadata(path).expect("stat").len();
        assert_eq!(length, SEGMENT_BYTES, "{}", path.display());
        assert!(
            records_end(path) > SEGMENT_HEADER_BYTES,
            "{}",
            path.display()
        );
        assert!((records_end(path) as u64) < SEGMENT_BYTES);
    }

    wal.close().expect("close");
    drop(wal);
    // A clean close waits for the sync thread's names and cuts the zeros
    // of the segment in use.
    let all = segments(dir.path());
    let last = &all[all.len() - 1];
    let length = std::fs::metadata(last).expect("stat").len();
    assert_eq!(
        records_end(last) as u64,
        length,
        "a clean close cuts the zeros"
    );
    assert_eq!(
        spare_files(dir.path()),
        Vec::<PathBuf>::new(),
        "spares left"
    );

    assert_recovers(dir.path(), records);
}

#[test]
fn after_a_crash_recovery_reads_zeros_as_segment_ends_and_cuts_the_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wal =
        Wal::create(dir.path(), 0, FsyncPolicy::Always, SEGMENT_BYTES).expect("create the log");
    let records = fill(&mut wal, dir.path());
    // A crash: no close, so every spare keeps its preallocated zeros
    // (dropping stops the spare thread, as the process dying would).
    drop(wal);
    let all = segments(dir.path());
    let last = all[all.len() - 1].clone();
    assert_eq!(std::fs::metadata(&last).expect("stat").len(), SEGMENT_BYTES);
    let end = records_end(&last) as u64;
    let middle = all[all.len() - 2].clone();
    assert_eq!(
        std::fs::metadata(&middle).expect("stat").len(),
        SEGMENT_BYTES
    );

    let recovered = recover(dir.path(), State::new(StateLimits::default()), false)
        .unwrap_or_else(|error| panic!("recovery refused the preallocated tail: {error}"));
    assert_eq!(
        recovered.next_lsn, records,
        "every committed record is back"
    );
    assert_eq!(dump(&recovered.state), expected(records));
    assert_eq!(
        std::fs::metadata(&last).expect("stat").len(),
        end,
        "recovery cuts the zeros after the last record"
    );
    assert_eq!(
        std::fs::metadata(&middle).expect("stat").len(),
        SEGMENT_BYTES,
        "recovery changes no segment but the last"
    );

    // The log continues after a restart, into new preallocated segments.
    let mut wal = Wal::create(
        dir.path(),
        recovered.next_lsn,
        FsyncPolicy::Always,
        SEGMENT_BYTES,
    )
    .expect("continue the log");
    let before = segments(dir.path()).len();
    let started = Instant::now();
    let mut n = records;
    while segments(dir.path()).len() < before + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no new segment"
        );
        let mut effects = record(n);
        wal.append(&mut effects);
        wal.commit().expect("commit");
        n += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    wal.close().expect("close");
    drop(wal);
    assert_recovers(dir.path(), n);
}

/// A crashed log whose segments after the first were spares: the log as a
/// crash may leave it, its segment paths, and how many records it holds.
fn crashed_log(dir: &Path) -> (Vec<PathBuf>, u64) {
    let mut wal = Wal::create(dir, 0, FsyncPolicy::Always, SEGMENT_BYTES).expect("create the log");
    let records = fill(&mut wal, dir);
    drop(wal);
    (segments(dir), records)
}

/// Gives a named segment back the temporary name of a spare, as if the
/// sync thread had not renamed it before the crash.
fn unname(segment: &Path, number: u64) -> PathBuf {
    let spare = segment.with_file_name(format!("log-spare-{number}.tmp"));
    std::fs::rename(segment, &spare).expect("rename");
    spare
}

#[test]
fn spares_the_log_moved_into_before_a_crash_are_found_by_their_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (all, records) = crashed_log(dir.path());
    assert!(all.len() >= 3, "{all:?}");
    // The segment in use and the one before it were never named; an unused
    // spare (zeros) lies next to them.
    let last = all[all.len() - 1].clone();
    let middle = all[all.len() - 2].clone();
    let spare_last = unname(&last, 7);
    let spare_middle = unname(&middle, 3);
    let unused = dir.path().join("log-spare-8.tmp");
    std::fs::write(&unused, vec![0u8; SEGMENT_BYTES as usize]).expect("write");

    let recovered = recover(dir.path(), State::new(StateLimits::default()), false)
        .unwrap_or_else(|error| panic!("recovery refused the spares in use: {error}"));
    assert_eq!(recovered.next_lsn, records, "every record is back");
    assert_eq!(dump(&recovered.state), expected(records));
    // Recovery gave them their names (the next run reuses the spare names)
    // and removed the unused spare.
    assert_eq!(segments(dir.path()), all);
    assert!(!spare_last.exists() && !spare_middle.exists());
    assert_eq!(spare_files(dir.path()), Vec::<PathBuf>::new());
    assert_eq!(
        records_end(&last) as u64,
        std::fs::metadata(&last).expect("stat").len(),
        "the zeros of the last segment are cut"
    );
    assert_recovers(dir.path(), records);
}

#[test]
fn a_gap_after_a_segment_ending_in_zeros_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (all, _) = crashed_log(dir.path());
    assert!(all.len() >= 3, "{all:?}");
    // Zeros where the last records of a middle segment were: the next
    // segment's header names a later position, so records are missing.
    let middle = &all[1];
    let end = records_end(middle);
    let mut bytes = std::fs::read(middle).expect("read");
    let length = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes")) as usize;
    let second_record = SEGMENT_HEADER_BYTES + 8 + length;
    assert!(second_record < end, "the segment holds two records");
    bytes[second_record..].fill(0);
    std::fs::write(middle, &bytes).expect("write");
    let before: Vec<Vec<u8>> = all
        .iter()
        .map(|path| std::fs::read(path).expect("read"))
        .collect();

    let error = match recover(dir.path(), State::new(StateLimits::default()), false) {
        Ok(recovered) => panic!("recovered {} records past a gap", recovered.next_lsn),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("log gap"), "{error}");
    assert!(error.contains(&all[2].display().to_string()), "{error}");
    let after: Vec<Vec<u8>> = all
        .iter()
        .map(|path| std::fs::read(path).expect("read"))
        .collect();
    assert!(before == after, "a refused recovery changed a segment");
}

#[test]
fn a_snapshot_rotation_moves_into_a_spare() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wal =
        Wal::create(dir.path(), 0, FsyncPolicy::Everysec, SEGMENT_BYTES).expect("create the log");
    let mut n = 0;
    let started = Instant::now();
    // Rotate (as a snapshot does) until a rotation lands in a spare: the
    // new segment then has the preallocated size.
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "no spare used");
        let mut effects = record(n);
        wal.append(&mut effects);
        n += 1;
        let start = wal.rotate().expect("rotate");
        assert_eq!(start, n);
        wait_for_names(dir.path(), n);
        let all = segments(dir.path());
        let last = &all[all.len() - 1];
        assert_eq!(
            parse_segment_name(&last.file_name().unwrap().to_string_lossy()),
            Some(n)
        );
        if std::fs::metadata(last).expect("stat").len() == SEGMENT_BYTES {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for path in &segments(dir.path())[..] {
        records_end(path);
    }
    let mut effects = record(n);
    wal.append(&mut effects);
    wal.commit().expect("commit");
    n += 1;
    drop(wal);
    assert_recovers(dir.path(), n);
}

#[test]
fn a_rotation_right_after_a_switch_still_finds_a_spare() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wal =
        Wal::create(dir.path(), 0, FsyncPolicy::No, SEGMENT_BYTES).expect("create the log");
    let started = Instant::now();
    let mut n = 0;
    // A snapshot's rotation often comes just after the log moved into a
    // spare: the spare thread keeps a second one ready for it. Spares are
    // prepared in the background, so this retries (bounded) until one
    // rotation of that kind lands in a spare; with a single spare ready,
    // none ever could.
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no rotation right after a switch found a spare: {:?}",
            wal.segment_counts()
        );
        // Time to prepare both spares.
        std::thread::sleep(Duration::from_millis(50));
        let before = wal.segment_counts();
        while wal.segment_counts().prepared == before.prepared {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no rotation right after a switch found a spare: {:?}",
                wal.segment_counts()
            );
            let mut effects = record(n);
            wal.append(&mut effects);
            wal.commit().expect("commit");
            n += 1;
        }
        let switched = wal.segment_counts();
        wal.rotate().expect("rotate");
        let rotated = wal.segment_counts();
        if rotated.prepared == switched.prepared + 1 {
            assert_eq!(rotated.unprepared, switched.unprepared);
            break;
        }
        assert_eq!(rotated.unprepared, switched.unprepared + 1);
    }
    let mut effects = record(n);
    wal.append(&mut effects);
    wal.commit().expect("commit");
    n += 1;
    wal.close().expect("close");
    drop(wal);
    assert_eq!(spare_files(dir.path()), Vec::<PathBuf>::new());
    assert_recovers(dir.path(), n);
}

#[test]
fn segment_size_is_validated() {
    for (bytes, ok) in [(0, true), (1000, false), (65_535, false), (65_536, true)] {
        let text = bytes.to_string();
        let matches = usher::config::command()
            .try_get_matches_from(["--log-segment-bytes", &text])
            .expect("the flag parses");
        let config = usher::config::from_matches(&matches, None);
        assert_eq!(
            config.is_ok(),
            ok,
            "log_segment_bytes = {bytes}: {config:?}"
        );
    }
}
