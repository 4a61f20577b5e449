//! Preallocated log segments (`log_segment_bytes`, `src/wal.rs`): the log
//! moves into zero-filled spare files prepared by a background thread; every
//! segment it leaves is cut to its last record; a crash leaves zeros only at
//! the end of the last segment, which recovery cuts; nothing acknowledged is
//! lost and no spare file is left behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use usher::recovery::recover;
use usher::state::{Effect, Key, State, StateLimits, Value};
use usher::wal::{parse_segment_name, FsyncPolicy, Wal, SEGMENT_HEADER_BYTES};

/// Small segments, so that a test fills several.
const SEGMENT_BYTES: u64 = 64 * 1024;
/// Segments a test fills before it stops writing.
const SEGMENTS: usize = 4;

fn record(n: u64) -> Vec<Effect> {
    vec![Effect::Put {
        key: Key::copy_from_slice(format!("key:{}", n % 300).as_bytes()),
        value: Value::string(format!("{n}:{}", "v".repeat(700)).as_bytes()),
        deadline_ms: None,
    }]
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

#[test]
fn segments_are_preallocated_and_cut_when_the_log_leaves_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wal =
        Wal::create(dir.path(), 0, FsyncPolicy::Always, SEGMENT_BYTES).expect("create the log");
    let records = fill(&mut wal, dir.path());
    let all = segments(dir.path());
    // Every segment the log left ends at its last record, with no zeros.
    for path in &all[..all.len() - 1] {
        let length = std::fs::metadata(path).expect("stat").len();
        assert_eq!(records_end(path) as u64, length, "{}", path.display());
        assert!(length > SEGMENT_HEADER_BYTES as u64, "{}", path.display());
    }
    // The one in use was a spare: full size, zeros after its records.
    let last = &all[all.len() - 1];
    assert_eq!(std::fs::metadata(last).expect("stat").len(), SEGMENT_BYTES);
    assert!((records_end(last) as u64) < SEGMENT_BYTES);

    wal.close().expect("close");
    drop(wal);
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
fn a_crash_leaves_zeros_only_at_the_end_and_recovery_cuts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wal =
        Wal::create(dir.path(), 0, FsyncPolicy::Always, SEGMENT_BYTES).expect("create the log");
    let records = fill(&mut wal, dir.path());
    // A crash: no close, so the segment in use keeps its preallocated zeros
    // (dropping stops the spare thread, as the process dying would).
    drop(wal);
    let all = segments(dir.path());
    let last = all[all.len() - 1].clone();
    assert_eq!(std::fs::metadata(&last).expect("stat").len(), SEGMENT_BYTES);
    let end = records_end(&last) as u64;

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
