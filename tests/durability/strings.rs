//! Strings and generic key commands across a restart: RENAME, RENAMENX,
//! COPY, MSET, MSETNX, APPEND, SETRANGE, GETEX, GETDEL, SETEX and
//! INCRBYFLOAT replayed from their effects (through the byte encoding),
//! and a real server recovered from its log alone and from a snapshot
//! plus the log after it.

use std::time::{Duration, Instant};

use usher::client::{args, Client};
use usher::clock::ManualClock;
use usher::config::Config;
use usher::encoding::Reader;
use usher::log::FsyncPolicy;
use usher::protocol::{parse, Reply};
use usher::state::{Effect, KeyEffect, State, StateLimits, Value};

use crate::support::server;

const T0: u64 = 1_700_000_000_000;

/// Commands that leave strings, counters, a sorted set, a queue and a seat
/// map under new names, with deadlines; `{T}` is replaced by a time 60 s
/// after the commands run.
const COMMANDS: &[&str] = &[
    "MSET a 1 b two c 3.5 long xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "MSETNX a 9 fresh0 1",
    "MSETNX fresh 1 fresh2 2",
    "APPEND a 23",
    "APPEND long tail",
    "APPEND new start",
    "SETRANGE b 5 range",
    "SETRANGE padded 3 abc",
    "SETRANGE long 0 LONG",
    "SETEX timed 100 v",
    "PSETEX ptimed 5000 v",
    "GETEX timed PX 20000",
    "GETEX ptimed PERSIST",
    "SET del-me v",
    "GETDEL del-me",
    "INCRBYFLOAT c 0.25",
    "INCRBYFLOAT f 10.5",
    "GETSET gs first",
    "GETSET gs second",
    "SET moving v EX 300",
    "RENAME moving moved",
    "RENAMENX fresh fresh2",
    "RENAMENX fresh renamed-nx",
    "COPY moved copied",
    "COPY b a REPLACE",
    "ZADD z 1 m 2 n",
    "RENAME z z-renamed",
    "COPY z-renamed z-copy",
    "ZADD z-copy 3 o",
    "QUEUE.CONFIG q CAPACITY 1 TTL 100000",
    "QUEUE.JOIN q m1",
    "QUEUE.JOIN q m2",
    "RENAME q q-renamed",
    "COPY q-renamed q-copy",
    "SEAT.CREATE ev 10",
    "SEAT.HOLD ev h 100000 1 2",
    "RENAME ev ev-renamed",
    "COPY ev-renamed ev-copy",
    "SEAT.HOLD ev-copy h2 50000 3",
    "SET stays v",
    "APPEND stays +",
];

fn apply(state: &mut State, now_ms: u64, words: &str) -> Reply {
    let arguments = args(words.split_whitespace());
    match parse(&arguments) {
        Ok(request) => state.apply(&request, now_ms),
        Err(error) => Reply::Error(error),
    }
}

/// Every key with its deadline and value, sorted by key.
fn dump(state: &State) -> Vec<(Vec<u8>, Option<u64>, Value)> {
    let mut all: Vec<_> = state
        .keyspace
        .iter()
        .map(|(key, entry)| (key.to_vec(), entry.deadline_ms(), entry.value.clone()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The bytes a string reply carries (an integer-backed one as its text).
fn text(reply: &Reply) -> Option<Vec<u8>> {
    match reply {
        Reply::BulkInt(number) => Some(number.to_string().into_bytes()),
        other => other.bulk_bytes().map(<[u8]>::to_vec),
    }
}

fn through_bytes(effect: &Effect) -> Effect {
    let mut bytes = Vec::new();
    effect.encode(&mut bytes);
    let mut reader = Reader::new(&bytes);
    let decoded = Effect::decode(&mut reader).expect("an encoded effect decodes");
    assert!(reader.is_empty());
    decoded
}

#[test]
fn string_and_key_commands_replay_to_the_same_state() {
    let mut original = State::new(StateLimits::default());
    original.keyspace.set_recording(true);
    for words in COMMANDS {
        let reply = apply(&mut original, T0, words);
        assert!(!reply.is_error(), "{words}: {reply:?}");
    }
    let effects = std::mem::take(original.keyspace.effects_mut());
    let has = |wanted: fn(&Effect) -> bool| effects.iter().any(wanted);
    assert!(has(|e| matches!(e, Effect::Key(KeyEffect::Append { .. }))));
    assert!(has(|e| matches!(
        e,
        Effect::Key(KeyEffect::SetRange { .. })
    )));
    let mut copy = State::new(StateLimits::default());
    for effect in &effects {
        copy.replay(&through_bytes(effect))
            .unwrap_or_else(|error| panic!("{effect:?}: {error}"));
    }
    copy.rebuild_timers();
    copy.check_invariants();
    assert_eq!(dump(&original), dump(&copy));
    // Spot checks against what Redis replies.
    for (words, expected) in [
        ("GET a", "two\0\0range"),
        (
            "GET long",
            "LONGxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxtail",
        ),
        ("GET padded", "\0\0\0abc"),
        ("GET c", "3.75"),
        ("GET f", "10.5"),
        ("GET gs", "second"),
        ("GET copied", "v"),
        ("GET renamed-nx", "1"),
        ("GET stays", "v+"),
    ] {
        let reply = apply(&mut copy, T0, words);
        assert_eq!(text(&reply), Some(expected.as_bytes().to_vec()), "{words}");
    }
    for (words, expected) in [
        ("PTTL moved", 300_000),
        ("PTTL copied", 300_000),
        ("PTTL timed", 20_000),
        ("PTTL ptimed", -1),
        ("EXISTS del-me moving z q ev fresh fresh0", 0),
        ("ZCARD z-renamed", 2),
        ("ZCARD z-copy", 3),
    ] {
        assert_eq!(apply(&mut copy, T0, words), Reply::Int(expected), "{words}");
    }
}

// ---------------------------------------------------------------------------
// A real server
// ---------------------------------------------------------------------------

fn persistent_config(dir: &std::path::Path) -> Config {
    Config {
        persist: true,
        dir: dir.to_path_buf(),
        fsync: FsyncPolicy::No,
        snapshot_interval_ms: 0,
        snapshot_log_bytes_max: 0,
        ..server::test_config()
    }
}

async fn call(client: &mut Client, words: &str) -> Reply {
    tokio::time::timeout(
        server::TIMEOUT,
        client.call(&args(words.split_whitespace())),
    )
    .await
    .expect("a reply in time")
    .expect("a reply")
}

fn info_field(reply: &Reply, name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(reply.bulk_bytes()?).into_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::to_string))
}

/// Runs `first`, then a snapshot if asked (waiting until it is written),
/// then `then`, on a persistent server; stops it and recovers its
/// directory. Returns the server's last state and the recovered one.
async fn run_and_recover(first: &[&str], snapshot: bool, then: &[&str]) -> (State, State) {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let config = persistent_config(dir.path());
    let clock = ManualClock::new(T0);
    let running = server::start_with_clock(config.clone(), clock.clone()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    for words in first {
        let reply = call(&mut client, words).await;
        assert!(!reply.is_error(), "{words}: {reply:?}");
    }
    if snapshot {
        let reply = call(&mut client, "SNAPSHOT").await;
        assert_eq!(reply, Reply::simple("Snapshot started"));
        let deadline = Instant::now() + server::TIMEOUT;
        loop {
            let info = call(&mut client, "INFO persistence").await;
            if info_field(&info, "snapshot_in_progress").as_deref() == Some("0") {
                break;
            }
            assert!(Instant::now() < deadline, "the snapshot did not finish");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    clock.advance(10);
    for words in then {
        let reply = call(&mut client, words).await;
        assert!(!reply.is_error(), "{words}: {reply:?}");
    }
    drop(client);
    let state = server::stop(running).await;
    let recovered = usher::recovery::recover(dir.path(), State::new(config.state_limits()), false)
        .unwrap_or_else(|error| panic!("recovery failed: {error}"));
    assert_eq!(recovered.report.snapshot.is_some(), snapshot);
    let mut copy = recovered.state;
    copy.check_invariants();
    // A restarted server answers from the recovered state.
    let running = server::start_with_clock(config, clock.clone()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    let reply = call(&mut client, "DBSIZE").await;
    assert_eq!(reply, Reply::Int(state.keyspace.len() as i64));
    drop(client);
    server::stop(running).await;
    copy.rebuild_timers();
    (state, copy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_survive_a_restart_from_the_log() {
    let (state, recovered) = run_and_recover(COMMANDS, false, &[]).await;
    assert_eq!(dump(&state), dump(&recovered));
    assert_eq!(state.keyspace.len(), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_survive_a_restart_from_a_snapshot_and_the_log() {
    let (half, rest) = COMMANDS.split_at(COMMANDS.len() / 2);
    // Keys the snapshot holds change again after it, in the log.
    let mut after: Vec<&str> = rest.to_vec();
    after.extend([
        "APPEND a -after",
        "SETRANGE b 0 B",
        "RENAME c c-after",
        "COPY long long-copy",
        "GETEX timed PERSIST",
        "GETDEL gs",
        "MSET m1 x m2 y",
    ]);
    let (state, recovered) = run_and_recover(half, true, &after).await;
    assert_eq!(dump(&state), dump(&recovered));
    let mut recovered = recovered;
    let now = T0 + 10;
    let moved = apply(&mut recovered, now, "GET c-after");
    assert_eq!(text(&moved), Some(b"3.75".to_vec()));
    assert_eq!(apply(&mut recovered, now, "EXISTS c gs"), Reply::Int(0));
}
