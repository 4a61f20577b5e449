//! The log's format versions: a segment, or a record, written by a newer
//! usher is refused with a message naming the file and the version, and is
//! never cut.

use std::path::{Path, PathBuf};
use std::process::Command;

use usher::log::record::RECORD_VERSION;
use usher::log::{
    segment_name, FsyncPolicy, Wal, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, SEGMENT_VERSION,
};
use usher::recovery::recover;
use usher::state::{Effect, Key, KeyEffect, State, StateLimits, Value};

fn put(name: &str) -> Vec<Effect> {
    vec![Effect::from(KeyEffect::Put {
        key: Key::copy_from_slice(name.as_bytes()),
        value: Value::string(b"value"),
        deadline_ms: None,
    })]
}

/// A log of records 0..4 in two segments (0..2 and 2..4).
fn write_log(dir: &Path) {
    let mut wal = Wal::create(dir, 0, FsyncPolicy::Always, 0).expect("the log opens");
    for n in 0..4 {
        if n == 2 {
            wal.rotate().expect("rotates");
        }
        wal.append(&mut put(&format!("k{n}")));
        wal.commit().expect("commits");
    }
    wal.close().expect("closes");
}

/// Writes `version` into the header of the segment at `path`.
fn set_version(path: &Path, version: u32) {
    let mut data = std::fs::read(path).expect("segment");
    data[8..12].copy_from_slice(&version.to_le_bytes());
    std::fs::write(path, data).expect("segment written");
}

fn snapshot_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| !path.ends_with("LOCK"))
        .map(|path| {
            let data = std::fs::read(&path).expect("file");
            (path, data)
        })
        .collect();
    files.sort();
    files
}

fn check(dir: &Path, repair: bool) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_usher-server"));
    command.arg("check").arg(dir);
    if repair {
        command.arg("--repair");
    }
    let output = command.output().expect("usher-server check runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), text)
}

fn assert_refused(dir: &Path, newer: &Path) {
    assert_refused_as(dir, newer, SEGMENT_VERSION + 1);
}

fn assert_refused_as(dir: &Path, newer: &Path, version: u32) {
    let before = snapshot_of(dir);
    for repair in [false, true] {
        let error = match recover(dir, State::new(StateLimits::default()), repair) {
            Ok(_) => panic!("a segment of version {version} must be refused"),
            Err(error) => error.0,
        };
        assert!(error.contains("written by a newer usher"), "{error}");
        assert!(error.contains(&newer.display().to_string()), "{error}");
        assert!(error.contains(&format!("version {version}")), "{error}");
        let (ok, text) = check(dir, repair);
        assert!(!ok, "check must fail: {text}");
        assert!(text.contains("written by a newer usher"), "{text}");
        assert_eq!(snapshot_of(dir), before, "nothing may be cut or removed");
    }
}

#[test]
fn a_newer_last_segment_is_refused_not_cut() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_log(dir.path());
    let last = dir.path().join(segment_name(2));
    set_version(&last, SEGMENT_VERSION + 1);
    assert_refused(dir.path(), &last);
}

#[test]
fn a_newer_segment_after_damage_is_refused_not_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_log(dir.path());
    // Damage in the middle of the first segment: repair would cut there
    // and remove every later segment.
    let first = dir.path().join(segment_name(0));
    let mut data = std::fs::read(&first).expect("segment");
    data[SEGMENT_HEADER_BYTES + 10] ^= 0xFF;
    std::fs::write(&first, data).expect("segment written");
    let last = dir.path().join(segment_name(2));
    set_version(&last, SEGMENT_VERSION + 1);
    assert_refused(dir.path(), &last);
}

#[test]
fn a_newer_spare_in_use_is_refused_not_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_log(dir.path());
    // The log moved into a spare a crash left unnamed, written by a newer
    // usher: its header names position 4.
    let last = dir.path().join(segment_name(2));
    let mut spare = std::fs::read(&last).expect("segment");
    spare.truncate(SEGMENT_HEADER_BYTES);
    spare[16..24].copy_from_slice(&4u64.to_le_bytes());
    spare[8..12].copy_from_slice(&(SEGMENT_VERSION + 1).to_le_bytes());
    spare.resize(4096, 0);
    let path = dir.path().join("log-spare-1.tmp");
    std::fs::write(&path, spare).expect("spare written");
    assert_refused(dir.path(), &path);
}

/// Every record names its own format: one of a newer format, whole and
/// with a sound checksum, in a segment this build reads, is refused like a
/// newer segment, even as the last record, where damage would be cut.
#[test]
fn a_record_of_a_newer_format_is_refused_not_cut() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_log(dir.path());
    let last = dir.path().join(segment_name(2));
    let mut data = std::fs::read(&last).expect("segment");
    // The segment's second record (position 3), the last of the log.
    let first_length = u32::from_le_bytes(
        data[SEGMENT_HEADER_BYTES..SEGMENT_HEADER_BYTES + 4]
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    let record = SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + first_length;
    let payload = record + RECORD_HEADER_BYTES;
    assert_eq!(data[payload], RECORD_VERSION, "records name their format");
    data[payload] = RECORD_VERSION + 1;
    let length = u32::from_le_bytes(data[record..record + 4].try_into().expect("4 bytes"));
    let crc = crc32c::crc32c(&data[payload..payload + length as usize]);
    data[record + 4..record + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&last, data).expect("segment written");
    assert_refused_as(dir.path(), &last, u32::from(RECORD_VERSION) + 1);
}

#[test]
fn the_current_version_still_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_log(dir.path());
    let recovered =
        recover(dir.path(), State::new(StateLimits::default()), false).expect("the log recovers");
    assert_eq!(recovered.next_lsn, 4);
    assert_eq!(recovered.state.keyspace.len(), 4);
}
