//! Replay determinism and snapshots (mirrors `src/snapshot.rs`): a seeded
//! random workload with a manual clock runs against a persistent server;
//! the state it ends with must equal the state recovered from snapshot +
//! log, and the state recovered from the log alone (a second run with
//! snapshots off, same seed, same clock steps). A second test changes keys
//! while a snapshot of 100 000 keys is being written (the snapshot spans
//! many engine ticks), flushes in the middle of one, and abandons one at
//! shutdown; recovery must still give exactly the live state.
//!
//! `USHER_SNAPSHOT_SEEDS=N` runs the determinism test over N seeds.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use usher::client::{args, Client};
use usher::clock::{Clock, ManualClock};
use usher::config::Config;
use usher::log::{segment_name, FsyncPolicy};
use usher::protocol::{Arg, Reply};
use usher::recovery::{recover, Recovered};
use usher::state::{State, StateLimits, Value};

use crate::support::rng::Rng;
use crate::support::server::{start_with_clock, stop, test_config};

const T0: u64 = 1_700_000_000_000;
/// Longest wait for a snapshot to finish.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);

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

/// The keys a client could see at `now_ms` (expired ones the timer has not
/// reaped yet left out: when the timer runs is not part of the workload).
fn visible(dump: &Dump, now_ms: u64) -> Dump {
    dump.iter()
        .filter(|(_, _, deadline)| deadline.is_none_or(|d| d > now_ms))
        .cloned()
        .collect()
}

/// First difference between two dumps, for a readable failure.
fn first_difference(a: &Dump, b: &Dump) -> String {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return format!("{x:?} != {y:?}");
        }
    }
    format!("lengths {} and {}", a.len(), b.len())
}

#[track_caller]
fn assert_same(a: &Dump, b: &Dump, what: &str) {
    assert!(a == b, "{what}: {}", first_difference(a, b));
}

fn persistent(dir: &Path, snapshots: bool) -> Config {
    Config {
        persist: true,
        dir: dir.to_path_buf(),
        fsync: FsyncPolicy::No,
        snapshot_interval_ms: 0,
        snapshot_log_bytes_max: if snapshots { 20_000 } else { 0 },
        ..test_config()
    }
}

fn recover_dir(dir: &Path) -> Recovered {
    match recover(dir, State::new(StateLimits::default()), false) {
        Ok(recovered) => recovered,
        Err(error) => panic!("recovery failed: {error}"),
    }
}

async fn call(client: &mut Client, command: &[Arg]) -> Reply {
    tokio::time::timeout(Duration::from_secs(10), client.call(command))
        .await
        .expect("reply in time")
        .expect("call")
}

async fn pipeline(client: &mut Client, commands: &[Vec<Arg>]) -> Vec<Reply> {
    tokio::time::timeout(Duration::from_secs(10), client.pipeline(commands))
        .await
        .expect("replies in time")
        .expect("pipeline")
}

async fn snapshot_in_progress(client: &mut Client) -> bool {
    let reply = call(client, &args(["INFO", "persistence"])).await;
    let Reply::Bulk(text) = reply else {
        panic!("INFO replied {reply:?}");
    };
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("snapshot_in_progress:"))
        .unwrap_or_else(|| panic!("no snapshot_in_progress in {text}"));
    assert!(
        !text.contains("last_snapshot_status:err"),
        "a snapshot failed: {text}"
    );
    line.trim() == "1"
}

async fn wait_snapshot_done(client: &mut Client) {
    let deadline = tokio::time::Instant::now() + SNAPSHOT_TIMEOUT;
    while snapshot_in_progress(client).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the snapshot did not finish within {SNAPSHOT_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Starts a snapshot, waiting first for one already running.
async fn start_snapshot(client: &mut Client) {
    loop {
        match call(client, &args(["SNAPSHOT"])).await {
            Reply::Simple(_) => return,
            Reply::Error(error) if error.message.contains("already in progress") => {
                wait_snapshot_done(client).await;
            }
            other => panic!("SNAPSHOT replied {other:?}"),
        }
    }
}

// --- replay determinism ---

/// One random command over a small key space, so keys are overwritten,
/// deleted, expired and re-created often. `flush` allows FLUSHALL (not near
/// the end, so the final state has keys to compare).
fn random_command(rng: &mut Rng, now_ms: u64, flush: bool) -> Vec<String> {
    let key = |rng: &mut Rng| format!("k{}", rng.below(150));
    let words: Vec<String> = match rng.below(1000) {
        0..=199 => {
            let mut words = vec!["SET".to_string(), key(rng), format!("v{}", rng.below(1000))];
            match rng.below(8) {
                0 | 1 => words.extend(["PX".to_string(), (1 + rng.below(400)).to_string()]),
                2 => words.extend(["EX".to_string(), (1 + rng.below(2)).to_string()]),
                3 => words.push("KEEPTTL".to_string()),
                4 => words.push("NX".to_string()),
                5 => words.extend(["XX".to_string(), "GET".to_string()]),
                _ => {}
            }
            words
        }
        200..=239 => vec![
            "SET".to_string(),
            key(rng),
            rng.below(100).to_string(),
            "PXAT".to_string(),
            (now_ms + rng.below(500)).to_string(),
        ],
        240..=389 => vec!["INCR".to_string(), key(rng)],
        390..=429 => vec![
            "INCRBY".to_string(),
            key(rng),
            (rng.below(21) as i64 - 10).to_string(),
        ],
        430..=529 => {
            let delta = if rng.below(3) == 0 { "-1" } else { "1" };
            vec![
                "INCRBOUND".to_string(),
                key(rng),
                delta.to_string(),
                "MIN".to_string(),
                "0".to_string(),
                "MAX".to_string(),
                "20".to_string(),
            ]
        }
        530..=609 => vec!["DEL".to_string(), key(rng), key(rng)],
        610..=689 => vec!["PEXPIRE".to_string(), key(rng), rng.below(500).to_string()],
        690..=709 => vec!["EXPIRE".to_string(), key(rng), "0".to_string()],
        710..=759 => vec!["PERSIST".to_string(), key(rng)],
        760..=899 => vec!["GET".to_string(), key(rng)],
        900..=997 => vec!["EXISTS".to_string(), key(rng)],
        _ if flush => vec!["FLUSHALL".to_string()],
        _ => vec!["EXISTS".to_string(), key(rng)],
    };
    words
}

const BATCHES: usize = 240;

/// Runs the seeded workload; with `snapshots`, also takes SNAPSHOTs during
/// it. Returns every reply and the final time.
async fn workload(addr: SocketAddr, clock: &ManualClock, seed: u64, snapshots: bool) -> Vec<Reply> {
    let mut rng = Rng::new(seed);
    let mut client = Client::connect(addr).await.expect("connect");
    let mut replies = Vec::new();
    let mut now = T0;
    for batch in 0..BATCHES {
        // The last one leaves few records after it, so that replay filtering
        // errors are not masked by later writes to the same keys.
        if snapshots && (batch % 60 == 30 || batch == BATCHES - 3) {
            start_snapshot(&mut client).await;
        }
        let size = 1 + rng.below(40) as usize;
        let commands: Vec<Vec<Arg>> = (0..size)
            .map(|_| args(random_command(&mut rng, now, batch < BATCHES - 20)))
            .collect();
        replies.extend(pipeline(&mut client, &commands).await);
        let step = rng.below(60);
        clock.advance(step);
        now += step;
    }
    replies
}

async fn determinism(seed: u64) {
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );

    // (a) snapshots during the workload: recovery = snapshot + log.
    let clock_a = ManualClock::new(T0);
    let running = start_with_clock(persistent(dir_a.path(), true), clock_a.clone()).await;
    let replies_a = workload(running.addr, &clock_a, seed, true).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    wait_snapshot_done(&mut client).await;
    drop(client);
    let live_a = dump(&stop(running).await);
    let recovered_a = recover_dir(dir_a.path());
    assert!(
        recovered_a.report.snapshot.is_some(),
        "seed {seed}: run (a) recovered without a snapshot"
    );
    assert!(
        !dir_a.path().join(segment_name(0)).exists(),
        "seed {seed}: the log before the snapshot was not dropped"
    );
    assert_same(
        &dump(&recovered_a.state),
        &live_a,
        &format!("seed {seed}: snapshot + log vs live state"),
    );

    // (b) no snapshots, same seed and clock steps: recovery = log alone.
    let clock_b = ManualClock::new(T0);
    let running = start_with_clock(persistent(dir_b.path(), false), clock_b.clone()).await;
    let replies_b = workload(running.addr, &clock_b, seed, false).await;
    let live_b = dump(&stop(running).await);
    let recovered_b = recover_dir(dir_b.path());
    assert!(recovered_b.report.snapshot.is_none());
    assert_same(
        &dump(&recovered_b.state),
        &live_b,
        &format!("seed {seed}: log alone vs live state"),
    );

    // The two runs answered alike and hold the same visible state.
    assert_eq!(replies_a.len(), replies_b.len());
    if let Some(index) = (0..replies_a.len()).find(|i| replies_a[*i] != replies_b[*i]) {
        panic!(
            "seed {seed}: reply {index} differs: {:?} vs {:?}",
            replies_a[index], replies_b[index]
        );
    }
    let now = clock_a.now_ms();
    assert_same(
        &visible(&dump(&recovered_a.state), now),
        &visible(&dump(&recovered_b.state), now),
        &format!("seed {seed}: snapshot + log vs log alone"),
    );
    assert!(
        !live_a.is_empty(),
        "seed {seed}: the workload left nothing to compare"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_from_snapshot_and_log_or_log_alone_equals_the_live_state() {
    let seeds: u64 = std::env::var("USHER_SNAPSHOT_SEEDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(2);
    for seed in 0..seeds {
        determinism(0x5eed_0000 + seed).await;
    }
}

// --- changes while a snapshot is being written ---

const KEYS: usize = 100_000;
/// Snapshots a step of the test may start before one spans the batches it
/// needs (see `changes_during_a_snapshot_are_recovered_exactly`).
const SNAPSHOT_ATTEMPTS: usize = 5;

async fn populate(client: &mut Client, prefix: &str, keys: std::ops::Range<usize>, rng: &mut Rng) {
    let commands: Vec<Vec<Arg>> = keys
        .map(|i| {
            let mut words = vec![
                "SET".to_string(),
                format!("{prefix}:{i}"),
                format!("value {i}"),
            ];
            if rng.below(10) == 0 {
                words.extend(["PX".to_string(), (1 + rng.below(2_000)).to_string()]);
            }
            args(words)
        })
        .collect();
    for chunk in commands.chunks(1000) {
        pipeline(client, chunk).await;
    }
}

/// A batch of changes over the whole key space: overwrites, deletes,
/// re-creations of deleted keys, counters, deadlines.
fn churn(rng: &mut Rng) -> Vec<Vec<Arg>> {
    (0..50)
        .map(|_| {
            let key = format!("key:{}", rng.below(KEYS as u64 + 5_000));
            let words: Vec<String> = match rng.below(10) {
                0..=2 => vec!["SET".into(), key, format!("changed {}", rng.next())],
                3..=4 => vec!["DEL".into(), key],
                5 => vec!["INCR".into(), format!("counter:{}", rng.below(100))],
                6 => vec!["PEXPIRE".into(), key, (1 + rng.below(300)).to_string()],
                7 => vec!["PERSIST".into(), key],
                _ => vec!["SET".into(), key, "recreated".into(), "NX".into()],
            };
            args(words)
        })
        .collect()
}

/// Runs batches (from `batch`) while the snapshot is in progress; returns
/// how many were answered while it still was.
async fn churn_during_snapshot(
    client: &mut Client,
    clock: &ManualClock,
    rng: &mut Rng,
    batches_max: usize,
    batch: &mut impl FnMut(&mut Rng) -> Vec<Vec<Arg>>,
) -> usize {
    let mut overlapped = 0;
    for _ in 0..batches_max {
        pipeline(client, &batch(rng)).await;
        clock.advance(rng.below(20));
        if !snapshot_in_progress(client).await {
            break;
        }
        overlapped += 1;
    }
    overlapped
}

/// Starts snapshots until one spans at least 5 batches, a bounded number of
/// times (an idle engine gives a snapshot all its time, so on a machine busy
/// enough to starve this client a snapshot can end within a batch or two);
/// returns the batches the last one spanned.
async fn snapshot_spanning_batches(
    client: &mut Client,
    clock: &ManualClock,
    rng: &mut Rng,
    batch: &mut impl FnMut(&mut Rng) -> Vec<Vec<Arg>>,
) -> usize {
    let mut overlapped = 0;
    for _ in 0..SNAPSHOT_ATTEMPTS {
        start_snapshot(client).await;
        overlapped = churn_during_snapshot(client, clock, rng, 10_000, batch).await;
        wait_snapshot_done(client).await;
        if overlapped >= 5 {
            break;
        }
    }
    overlapped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_during_a_snapshot_are_recovered_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let config = Config {
        // A small timer budget: the snapshot of 100 000 keys is written a
        // few hundred keys per engine tick, between request batches.
        timer_budget_percent: 1,
        ..persistent(dir.path(), false)
    };
    let running = start_with_clock(config, clock.clone()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    let mut rng = Rng::new(0xc0ff_ee00);
    populate(&mut client, "key", 0..KEYS, &mut rng).await;

    // Overwrites, deletes and re-creations while the snapshot walks. Each
    // step below tries again until its snapshot spans the batches it needs.
    let overlapped = snapshot_spanning_batches(&mut client, &clock, &mut rng, &mut churn).await;
    assert!(
        overlapped >= 5,
        "only {overlapped} batches ran during the snapshot: it did not span many ticks"
    );

    // A FLUSHALL in the middle of a snapshot, then keys created again.
    for _ in 0..20 {
        pipeline(&mut client, &churn(&mut rng)).await;
    }
    let mut flushed_during_snapshot = false;
    for _ in 0..SNAPSHOT_ATTEMPTS {
        start_snapshot(&mut client).await;
        if churn_during_snapshot(&mut client, &clock, &mut rng, 5, &mut churn).await == 5 {
            flushed_during_snapshot = true;
            break;
        }
        wait_snapshot_done(&mut client).await;
    }
    assert!(
        flushed_during_snapshot,
        "no snapshot lasted 5 batches, so none could see a FLUSHALL"
    );
    assert_eq!(
        call(&mut client, &args(["FLUSHALL"])).await,
        Reply::OK,
        "FLUSHALL"
    );
    populate(&mut client, "key", 0..3_000, &mut rng).await;
    churn_during_snapshot(&mut client, &clock, &mut rng, 10_000, &mut churn).await;
    wait_snapshot_done(&mut client).await;

    // A snapshot still running at shutdown is abandoned. (New names: keys
    // a replay wrongly kept through the FLUSHALL must not be masked.)
    populate(&mut client, "late", 0..KEYS, &mut rng).await;
    let mut running_at_shutdown = false;
    for _ in 0..SNAPSHOT_ATTEMPTS {
        start_snapshot(&mut client).await;
        pipeline(&mut client, &churn(&mut rng)).await;
        if snapshot_in_progress(&mut client).await {
            running_at_shutdown = true;
            break;
        }
    }
    assert!(
        running_at_shutdown,
        "every snapshot finished before shutdown"
    );
    drop(client);
    let live = dump(&stop(running).await);

    // Shutdown waits for the abandoned snapshot's writer, which removes its
    // temporary file; the log's spare segment is removed too.
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "shutdown left {leftovers:?}");

    let recovered = recover_dir(dir.path());
    assert!(recovered.report.snapshot.is_some());
    assert_same(
        &dump(&recovered.state),
        &live,
        "recovered vs live state after changes during snapshots",
    );
}

// --- large values: prefaulted buffers ---

fn apply_words(state: &mut State, words: &[String]) {
    let request = usher::protocol::parse(&args(words.iter().map(String::as_str)))
        .unwrap_or_else(|error| panic!("{words:?} does not parse: {error}"));
    let reply = state.apply(&request, T0);
    assert!(!reply.is_error(), "{words:?}: {reply:?}");
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// The size hint a snapshot prefaults by is close to the real encoding
/// when members are of one length: within 5 %, for every large type.
#[test]
fn encoded_len_hints_are_close_to_the_encoding() {
    use usher::state::value::{encode_value, encoded_len_hint};
    let mut state = State::new(StateLimits::default());
    apply_words(&mut state, &words("QUEUE.CONFIG room TTL 60000"));
    apply_words(&mut state, &words("SEAT.CREATE event 20000 LIMIT 3"));
    apply_words(&mut state, &words("STOCK.CONFIG sku 100000 LIMIT 5"));
    apply_words(&mut state, &words("QUEUE.CONFIG quiet"));
    for i in 0..5000 {
        apply_words(&mut state, &words(&format!("ZADD board {i} user:{i:08}")));
        apply_words(&mut state, &words(&format!("QUEUE.JOIN room user:{i:08}")));
        apply_words(&mut state, &words(&format!("QUEUE.JOIN quiet user:{i:08}")));
    }
    apply_words(&mut state, &words("QUEUE.ADMIT room 1500"));
    for i in 0..3000 {
        let (a, b) = (2 * i, 2 * i + 1);
        let hold = format!("SEAT.HOLD event holder:{i:08} 60000 {a} {b}");
        apply_words(&mut state, &words(&hold));
        let reserve = format!("STOCK.RESERVE sku holder:{i:08} 2 60000");
        apply_words(&mut state, &words(&reserve));
    }
    apply_words(&mut state, &["SET".into(), "text".into(), "x".repeat(5000)]);
    apply_words(&mut state, &words("SET number 12345"));
    for key in ["board", "room", "quiet", "event", "sku", "text", "number"] {
        let entry = state.keyspace.peek(key.as_bytes()).expect("key built");
        let mut encoded = Vec::new();
        encode_value(&entry.value, &mut encoded);
        let (actual, hint) = (encoded.len(), encoded_len_hint(&entry.value));
        assert!(
            hint * 100 >= actual * 95 && hint * 100 <= actual * 105 + 6400,
            "{key}: hint {hint} bytes for an encoding of {actual}"
        );
    }
}

/// Large values (here anything over 4 KiB encoded) are serialized into
/// buffers the writer prefaults, while requests go on changing them, and
/// even deleting and re-creating them; recovery gives the live state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_changed_during_a_snapshot_are_recovered_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let config = Config {
        timer_budget_percent: 1,
        snapshot_prefault_value_bytes: 4096,
        ..persistent(dir.path(), false)
    };
    let running = start_with_clock(config, clock.clone()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    let mut rng = Rng::new(0x1a_76e0);
    populate(&mut client, "key", 0..20_000, &mut rng).await;
    let large = |i: usize| -> Vec<Vec<Arg>> {
        let text = [
            format!("ZADD board:{} {i} user:{i:08}", i % 7),
            format!("QUEUE.JOIN room:{} user:{i:08}", i % 5),
            format!("SEAT.HOLD event:{} holder:{i:08} 600000 {}", i % 3, i / 3),
        ];
        text.iter().map(|t| args(t.split_whitespace())).collect()
    };
    let mut setup: Vec<Vec<Arg>> = Vec::new();
    for n in 0..5 {
        setup.push(args(words(&format!("QUEUE.CONFIG room:{n}"))));
    }
    for n in 0..3 {
        setup.push(args(words(&format!("SEAT.CREATE event:{n} 100000"))));
    }
    pipeline(&mut client, &setup).await;
    let commands: Vec<Vec<Arg>> = (0..6000).flat_map(large).collect();
    for chunk in commands.chunks(1000) {
        pipeline(&mut client, chunk).await;
    }

    let mut next = 6000;
    let mut changes = |rng: &mut Rng| {
        let mut batch = churn(rng);
        batch.extend((next..next + 20).flat_map(large));
        next += 20;
        let key = rng.below(7);
        match rng.below(20) {
            0 => batch.push(args(words(&format!("DEL board:{key}")))),
            1 => batch.push(args(words(&format!("QUEUE.ADMIT room:{} 50", key % 5)))),
            _ => {}
        }
        batch
    };
    let overlapped = snapshot_spanning_batches(&mut client, &clock, &mut rng, &mut changes).await;
    assert!(
        overlapped >= 5,
        "only {overlapped} batches ran during the snapshot"
    );
    let reply = call(&mut client, &args(["INFO", "persistence"])).await;
    let Reply::Bulk(text) = reply else {
        panic!("INFO replied {reply:?}");
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let prefaulted: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("last_snapshot_prefaulted_values:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no last_snapshot_prefaulted_values in {text}"));
    // The 5 rooms and 3 events are never deleted, and each encodes to well
    // over 4 KiB; the boards may be deleted while the walk goes on.
    assert!(
        prefaulted >= 8,
        "{prefaulted} values were prefaulted: {text}"
    );
    drop(client);
    let live = dump(&stop(running).await);
    let recovered = recover_dir(dir.path());
    assert!(recovered.report.snapshot.is_some());
    assert_same(
        &dump(&recovered.state),
        &live,
        "recovered vs live state after large values changed during a snapshot",
    );
}
