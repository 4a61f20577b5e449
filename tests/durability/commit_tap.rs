//! The commit tap: a tap registered on the engine sees exactly the records
//! the log holds, as written, in position order, each once it is durable
//! per policy, and nothing of a commit that failed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use usher::client::args;
use usher::clock::ManualClock;
use usher::config::Config;
use usher::engine::{Durability, Engine};
use usher::log::record::{self, Decoded};
use usher::log::segment::parse_header;
use usher::log::{
    CommitTap, CommittedBatch, FsyncPolicy, Wal, SEGMENT_HEADER_BYTES, SEGMENT_VERSION,
};
use usher::protocol::{parse, Reply};
use usher::state::{State, StateLimits};
use usher::stats::ServerStats;

const T0: u64 = 1_700_000_000_000;

/// The file-size limit of the failure test applies to the whole process:
/// the tests of this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A batch as the tap saw it.
#[derive(Debug)]
struct Seen {
    version: u32,
    first_lsn: u64,
    last_lsn: u64,
    records: Vec<u8>,
}

/// Keeps what it is shown, after checking the log on disk already holds
/// those bytes.
struct Recorder {
    dir: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl CommitTap for Recorder {
    fn committed(&mut self, batch: &CommittedBatch<'_>) {
        assert_eq!(batch.version, SEGMENT_VERSION);
        let batch = Seen {
            version: batch.version,
            first_lsn: batch.first_lsn,
            last_lsn: batch.last_lsn,
            records: batch.records.to_vec(),
        };
        let on_disk = records_on_disk(&self.dir);
        for record in records_seen(std::slice::from_ref(&batch)) {
            assert!(
                on_disk.contains(&record),
                "record {} shown before the log holds it as shown",
                record.0
            );
        }
        self.seen.lock().expect("seen").push(batch);
    }
}

/// Every whole record in the segments of `dir`, in position order, with
/// its bytes.
fn records_on_disk(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ulog"))
        .collect();
    segments.sort();
    let mut records = Vec::new();
    for path in segments {
        // A finished snapshot removes the segments before it at any time;
        // the newest, which holds what was just committed, stays.
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => panic!("segment {}: {error}", path.display()),
        };
        let version = parse_header(&data).expect("a segment header").version;
        let mut offset = SEGMENT_HEADER_BYTES;
        while offset < data.len() {
            let Decoded::Record { lsn, len, .. } = record::decode(&data[offset..], version) else {
                break;
            };
            records.push((lsn, data[offset..offset + len].to_vec()));
            offset += len;
        }
    }
    records
}

/// The records the tap saw, split with the codec, checking each batch's
/// positions.
fn records_seen(seen: &[Seen]) -> Vec<(u64, Vec<u8>)> {
    let mut records = Vec::new();
    for batch in seen {
        let mut offset = 0;
        let mut lsn = batch.first_lsn;
        while offset < batch.records.len() {
            let Decoded::Record { lsn: read, len, .. } =
                record::decode(&batch.records[offset..], batch.version)
            else {
                panic!("a tapped batch holds whole records only");
            };
            assert_eq!(read, lsn);
            records.push((read, batch.records[offset..offset + len].to_vec()));
            offset += len;
            lsn += 1;
        }
        assert_eq!(
            lsn - 1,
            batch.last_lsn,
            "the batch's positions name its records"
        );
    }
    records
}

fn engine(
    dir: &Path,
    policy: FsyncPolicy,
    clock: ManualClock,
) -> (Engine<ManualClock>, Arc<Mutex<Vec<Seen>>>) {
    let wal = Wal::create(dir, 0, policy, 0).expect("the log opens");
    let durability = Durability {
        dir: dir.to_path_buf(),
        wal,
        snapshot: None,
        last_snapshot_ms: 0,
        last_snapshot: None,
    };
    let mut engine = Engine::new(
        State::new(StateLimits::default()),
        clock,
        Arc::new(Config::default()),
        Arc::new(ServerStats::default()),
    )
    .with_durability(durability);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tap = Recorder {
        dir: dir.to_path_buf(),
        seen: seen.clone(),
    };
    assert!(engine.add_commit_tap(Box::new(tap)).is_ok());
    (engine, seen)
}

/// Runs one batch of requests; its replies and its commit ticket.
fn batch(engine: &mut Engine<ManualClock>, requests: &[&[&str]]) -> (Vec<Reply>, u64) {
    let round = engine.begin_batch();
    let replies = requests
        .iter()
        .map(|words| {
            let request = parse(&args(words.iter())).expect("a valid request");
            engine.apply_or_refuse(&round, &request)
        })
        .collect();
    (replies, engine.end_batch())
}

fn run_workload(policy: FsyncPolicy) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(T0);
    let (mut engine, seen) = engine(dir.path(), policy, clock.clone());
    for round in 0..20 {
        let key = format!("k{round}");
        let requests: [&[&str]; 4] = [
            &["SET", &key, "value", "PX", "50"],
            &["INCR", "counter"],
            &["GET", "counter"],
            &["ZADD", "board", "1", &key],
        ];
        let (_, ticket) = batch(&mut engine, &requests);
        assert!(!engine.commit_failed(ticket));
        if round == 10 {
            // A snapshot rotates the log: its batch's records go out with
            // the rotation's commit.
            let (replies, _) = batch(&mut engine, &[&["SET", "before", "snap"], &["SNAPSHOT"]]);
            assert_eq!(replies[1], Reply::simple("Snapshot started"));
        }
        // Reads only: no commit, nothing to show.
        let before = seen.lock().expect("seen").len();
        batch(&mut engine, &[&["GET", "counter"]]);
        assert_eq!(seen.lock().expect("seen").len(), before);
        // Expiry by the engine's timer is logged, and shown, too.
        clock.advance(100);
        engine.run_timers();
    }
    engine.finish();
    let seen = seen.lock().expect("seen");
    let tapped = records_seen(&seen);
    let positions: Vec<u64> = tapped.iter().map(|(lsn, _)| *lsn).collect();
    assert_eq!(positions, (0..tapped.len() as u64).collect::<Vec<_>>());
    assert!(tapped.len() > 20, "{} records", tapped.len());
    // The snapshot removed the segments before it; every record tapped was
    // checked against the log when it was shown, and the log left holds
    // exactly the last records the tap saw.
    let on_disk = records_on_disk(dir.path());
    assert!(on_disk.len() > 5, "{} records", on_disk.len());
    assert_eq!(
        tapped[tapped.len() - on_disk.len()..],
        on_disk[..],
        "the tap saw exactly the log"
    );
}

#[test]
fn the_tap_sees_exactly_the_log_under_always() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_workload(FsyncPolicy::Always);
}

#[test]
fn the_tap_sees_exactly_the_log_under_everysec() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_workload(FsyncPolicy::Everysec);
}

/// Sets the process's file-size limit (`RLIM_INFINITY` lifts it).
fn limit_file_size(bytes: libc::rlim_t) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain system calls on valid arguments; SIGXFSZ is ignored so
    // a write past the limit fails with EFBIG instead of ending the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[test]
fn the_tap_sees_nothing_of_a_failed_commit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut engine, seen) = engine(dir.path(), FsyncPolicy::Always, ManualClock::new(T0));
    let (_, ticket) = batch(&mut engine, &[&["SET", "small", "1"]]);
    assert!(!engine.commit_failed(ticket));
    let segment = dir.path().join(usher::log::segment_name(0));
    let written = std::fs::metadata(&segment).expect("segment").len();
    limit_file_size(written + 16);
    let big = "x".repeat(4096);
    let (replies, ticket) = batch(&mut engine, &[&["SET", "big", &big]]);
    limit_file_size(libc::RLIM_INFINITY);
    assert_eq!(replies[0], Reply::simple("OK"));
    assert!(
        engine.commit_failed(ticket),
        "the write past the limit fails"
    );
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.len(), 1, "only the first commit is shown");
    assert_eq!((seen[0].first_lsn, seen[0].last_lsn), (0, 0));
}
