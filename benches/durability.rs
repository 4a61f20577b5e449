//! The durability path without the network: log append + commit of a
//! typical engine batch, and snapshot write and load of 10⁵ keys. Files go
//! to a temporary directory.
//!
//! - `wal/append_commit`: one batch's effects encoded into a record
//!   (`Wal::append`) and written (`Wal::commit`, fsync policy `no`: one
//!   write(2) per batch), as the engine thread does before replying.
//! - `snapshot/write_100k_keys`: `SnapshotJob` driven to the end as the
//!   engine drives it (no time budget), including the file's fsync and
//!   rename, which depend on the disk.
//! - `snapshot/load_100k_keys`: `snapshot::load` into an empty state.
//!
//! A batch is 50 requests, the size one engine round takes at 50 clients
//! unpipelined: 20 INCR, 10 SET with PX, 10 two-seat SEAT.HOLD, 10
//! QUEUE.JOIN. Keys hold 64-byte values, seats and queues their usual data.
//!
//! Run: `cargo bench --bench durability`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use usher::client::args;
use usher::log::{parse_segment_name, FsyncPolicy, Wal};
use usher::protocol::{parse, Request};
use usher::snapshot::{self, SnapshotJob};
use usher::state::{Effect, State, StateLimits};

const NOW_MS: u64 = 1_700_000_000_000;
const SNAPSHOT_KEYS: usize = 100_000;
/// Batches written between two clean-ups of the log directory, so the
/// bench does not fill the disk.
const BATCHES_PER_SEGMENT: u64 = 20_000;

fn request(text: &str) -> Request {
    let arguments = args(text.split_whitespace());
    match parse(&arguments) {
        Ok(request) => request,
        Err(error) => panic!("bench request {text:?} does not parse: {error}"),
    }
}

fn apply(state: &mut State, text: &str) {
    let reply = state.apply(&request(text), NOW_MS);
    assert!(!reply.is_error(), "{text}: {reply:?}");
}

/// The effects of one typical batch, recorded by a real `State`.
fn typical_batch() -> Vec<Effect> {
    let mut state = State::new(StateLimits::default());
    apply(&mut state, "SEAT.CREATE concert:7 20000 LIMIT 3");
    apply(&mut state, "QUEUE.CONFIG sale:42 TTL 600000");
    for i in 0..20 {
        apply(&mut state, &format!("SET counter:{i} 1000"));
    }
    state.keyspace.set_recording(true);
    let value = "v".repeat(64);
    for i in 0..10 {
        apply(&mut state, &format!("INCR counter:{i}"));
        apply(&mut state, &format!("INCR counter:{}", i + 10));
        apply(
            &mut state,
            &format!("SET session:user-{i} {value} PX 60000"),
        );
        apply(
            &mut state,
            &format!(
                "SEAT.HOLD concert:7 user-{i} 600000 {} {}",
                100 + 2 * i,
                101 + 2 * i
            ),
        );
        apply(&mut state, &format!("QUEUE.JOIN sale:42 user-{i}"));
    }
    let effects = std::mem::take(state.keyspace.effects_mut());
    assert_eq!(effects.len(), 50, "one effect per request: {effects:?}");
    effects
}

/// Deletes the log segments before the current one.
fn remove_old_segments(dir: &Path, current: u64) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let first = name.to_str().and_then(parse_segment_name);
        if first.is_some_and(|first| first < current) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn wal(c: &mut Criterion) {
    let batch = typical_batch();
    let mut encoded = Vec::new();
    for effect in &batch {
        effect.encode(&mut encoded);
    }
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("cannot create a temporary directory: {error}"),
    };
    let mut wal = match Wal::create(dir.path(), 0, FsyncPolicy::No, 0) {
        Ok(wal) => wal,
        Err(error) => panic!("cannot create the log: {error}"),
    };
    let mut group = c.benchmark_group("wal");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    let mut written: u64 = 0;
    let mut run = |wal: &mut Wal, iterations: u64| {
        let mut timed = Duration::ZERO;
        let mut copies: Vec<Vec<Effect>> = Vec::new();
        let mut done = 0;
        while done < iterations {
            if written > 0 && written.is_multiple_of(BATCHES_PER_SEGMENT) {
                let current = wal.rotate().unwrap_or_else(|e| panic!("rotate: {e}"));
                remove_old_segments(dir.path(), current);
            }
            let count =
                (iterations - done).min(BATCHES_PER_SEGMENT - written % BATCHES_PER_SEGMENT);
            copies.clear();
            copies.extend((0..count).map(|_| batch.clone()));
            let began = Instant::now();
            for effects in &mut copies {
                wal.append(effects);
                if let Err(error) = wal.commit() {
                    panic!("commit: {error}");
                }
            }
            timed += began.elapsed();
            done += count;
            written += count;
        }
        timed
    };
    // The engine writes each batch's record itself and then replies:
    // append + commit is what one batch costs it.
    group.bench_function("append_commit", |b| {
        b.iter_custom(|iterations| run(&mut wal, iterations))
    });
    group.finish();
    if let Err(error) = wal.close() {
        panic!("close: {error}");
    }
}

/// A state of `SNAPSHOT_KEYS` keys: 64-byte strings, a tenth of them with
/// a deadline, plus counters.
fn snapshot_state() -> State {
    let mut state = State::new(StateLimits::default());
    let value = "x".repeat(64);
    for i in 0..SNAPSHOT_KEYS {
        let text = match i % 10 {
            0 => format!("SET session:{i} {value} PX 600000"),
            1 | 2 => format!("SET counter:{i} {i}"),
            _ => format!("SET key:{i} {value}"),
        };
        apply(&mut state, &text);
    }
    state
}

/// Drives a snapshot of `state` to the end, as the engine does without a
/// time budget; returns the file's path.
fn write_snapshot(dir: &Path, state: &State, start_lsn: u64) -> PathBuf {
    let mut job = match SnapshotJob::start(dir, state, start_lsn) {
        Ok(job) => job,
        Err(error) => panic!("cannot start a snapshot: {error}"),
    };
    loop {
        job.step(state, start_lsn, || false);
        if let Some(log_durable) = job.take_log_durable() {
            // No log here: nothing before the snapshot's position to wait for.
            let _ = log_durable.send(true);
        }
        match job.poll() {
            Some(Ok(done)) => return done.path,
            Some(Err(error)) => panic!("snapshot failed: {error}"),
            None => std::thread::sleep(Duration::from_micros(50)),
        }
    }
}

fn snapshots(c: &mut Criterion) {
    let state = snapshot_state();
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("cannot create a temporary directory: {error}"),
    };
    let mut group = c.benchmark_group("snapshot");
    group.throughput(Throughput::Elements(SNAPSHOT_KEYS as u64));
    // Each snapshot gets the next start position; the writer deletes the
    // one before it once the new one is on disk.
    let mut start_lsn = 0;
    group.bench_function("write_100k_keys", |b| {
        b.iter(|| {
            start_lsn += 1;
            black_box(write_snapshot(dir.path(), &state, start_lsn))
        })
    });
    start_lsn += 1;
    let path = write_snapshot(dir.path(), &state, start_lsn);
    group.bench_function("load_100k_keys", |b| {
        b.iter_batched(
            || State::new(StateLimits::default()),
            |mut loaded| {
                match snapshot::load(&path, &mut loaded, None) {
                    Ok(done) => assert_eq!(done.entries, SNAPSHOT_KEYS as u64),
                    Err(error) => panic!("load: {error}"),
                }
                // Dropping the state is not part of loading.
                loaded
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group! {
    name = wal_benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = wal
}
criterion_group! {
    name = snapshot_benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = snapshots
}
criterion_main!(wal_benches, snapshot_benches);
