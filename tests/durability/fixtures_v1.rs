//! Data directories written by the format-version-1 code (`tests/fixtures/`)
//! must load unchanged: each is recovered from a copy and its state dumped
//! and compared with the dump the version-1 code made of it.

use std::path::{Path, PathBuf};
use std::process::Command;

use usher::log::record::{self, Decoded};
use usher::log::segment::parse_header;
use usher::log::{FsyncPolicy, Wal, SEGMENT_HEADER_BYTES};
use usher::recovery::recover;
use usher::state::idempotency::effects::encode_reply;
use usher::state::value::encode_value;
use usher::state::{Effect, Key, KeyEffect, State, StateLimits, Value};

const FIXTURES: [&str; 2] = ["snapshot-and-log", "log-only"];

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1")
        .join(name)
}

fn copy_fixture(name: &str) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(fixture_dir(name)).expect("fixture dir") {
        let entry = entry.expect("fixture entry");
        std::fs::copy(entry.path(), temp.path().join(entry.file_name())).expect("copy fixture");
    }
    temp
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every key sorted with its deadline and encoded value, then every `REQ`
/// entry sorted by id, then the next log position.
fn dump(state: &State, next_lsn: u64) -> String {
    let mut keys: Vec<String> = state
        .keyspace
        .iter()
        .map(|(key, entry)| {
            let mut value = Vec::new();
            encode_value(&entry.value, &mut value);
            let deadline = entry.deadline_ms().map_or("none".into(), |d| d.to_string());
            format!(
                "key {} deadline {deadline} value {}\n",
                hex(key),
                hex(&value)
            )
        })
        .collect();
    keys.sort();
    let mut reqs: Vec<String> = state
        .idempotency
        .iter()
        .map(|(id, remembered)| {
            let mut reply = Vec::new();
            encode_reply(&remembered.reply, &mut reply);
            format!(
                "req {} fingerprint {} deadline {} reply {}\n",
                hex(id),
                remembered.fingerprint,
                remembered.deadline_ms,
                hex(&reply)
            )
        })
        .collect();
    reqs.sort();
    format!("{}{}next_lsn {next_lsn}\n", keys.concat(), reqs.concat())
}

#[test]
fn version_1_directories_recover_to_the_same_state() {
    for name in FIXTURES {
        let dir = copy_fixture(name);
        let recovered = recover(dir.path(), State::new(StateLimits::default()), false)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(
            recovered.report.damage.is_none()
                || recovered
                    .report
                    .damage
                    .as_ref()
                    .is_some_and(|d| d.torn_tail && d.zeros),
            "{name}: {:?}",
            recovered.report.damage
        );
        let actual = dump(&recovered.state, recovered.next_lsn);
        let expected_path = fixture_dir(name).with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path).expect("golden dump");
        assert_eq!(
            actual,
            expected,
            "{name}: recovered state differs from {}",
            expected_path.display()
        );
    }
}

/// Upgrading in place: the current build recovers a version-1 directory,
/// logs new records into a segment of its own beside the old ones, and a
/// second recovery reads both.
#[test]
fn a_version_1_directory_takes_new_records_and_recovers_them() {
    for name in FIXTURES {
        let dir = copy_fixture(name);
        let mut first = recover(dir.path(), State::new(StateLimits::default()), false)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let effects: Vec<Effect> = vec![
            KeyEffect::Put {
                key: Key::copy_from_slice(b"upgrade:new"),
                value: Value::string(b"written by this build"),
                deadline_ms: None,
            }
            .into(),
            KeyEffect::Delete {
                key: Key::copy_from_slice(b"upgrade:new"),
            }
            .into(),
            KeyEffect::Put {
                key: Key::copy_from_slice(b"upgrade:kept"),
                value: Value::Int(7),
                deadline_ms: Some(4_102_444_800_000),
            }
            .into(),
        ];
        let mut wal = Wal::create(dir.path(), first.next_lsn, FsyncPolicy::Always, 0)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        for effect in &effects {
            wal.append(&mut vec![effect.clone()]);
            wal.commit()
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            first.state.replay(effect).expect("replays in memory");
        }
        wal.close().expect("the log closes");
        drop(wal);
        let second = recover(dir.path(), State::new(StateLimits::default()), false)
            .unwrap_or_else(|error| panic!("{name} after new records: {error}"));
        assert_eq!(second.next_lsn, first.next_lsn + effects.len() as u64);
        assert_eq!(
            dump(&second.state, second.next_lsn),
            dump(&first.state, first.next_lsn + effects.len() as u64),
            "{name}: the old and new records recover to another state"
        );
    }
}

#[test]
fn check_accepts_version_1_directories() {
    for name in FIXTURES {
        let dir = copy_fixture(name);
        let output = Command::new(env!("CARGO_BIN_EXE_usher-server"))
            .arg("check")
            .arg(dir.path())
            .output()
            .expect("run usher-server check");
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// The effect tags of every record in the segments of `dir`, in log order.
fn logged_tags(dir: &Path) -> Vec<u8> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ulog"))
        .collect();
    segments.sort();
    let mut tags = Vec::new();
    for path in segments {
        let data = std::fs::read(&path).expect("segment");
        let header = parse_header(&data).expect("a version-1 header");
        assert_eq!(header.version, 1);
        let mut offset = SEGMENT_HEADER_BYTES;
        while offset < data.len() {
            match record::decode(&data[offset..], header.version) {
                Decoded::Record {
                    count,
                    effects,
                    len,
                    ..
                } => {
                    let mut decoded = Vec::new();
                    record::decode_effects(effects, count, u64::MAX, &mut decoded)
                        .expect("effects");
                    for effect in decoded {
                        let mut encoded = Vec::new();
                        effect.encode(&mut encoded);
                        tags.push(encoded[0]);
                    }
                    offset += len;
                }
                Decoded::Zeros => break,
                other => panic!("{}: {other:?} at {offset}", path.display()),
            }
        }
    }
    tags
}

#[test]
fn the_log_only_fixture_holds_every_effect_tag() {
    let tags = logged_tags(&fixture_dir("log-only"));
    for tag in (1..=14).chain(32..=44) {
        assert!(
            tags.contains(&tag),
            "no effect with tag {tag} in the log-only fixture"
        );
    }
}
