//! Durability of lists: a seeded random workload of every list command
//! (with expiry, DEL, SET over list keys, FLUSHALL and timer runs) whose
//! effects go through their byte encoding and are replayed into a fresh
//! state, and on top of a copy made through value encodings as a snapshot
//! would; then a real server with persistence, restarted from its log
//! alone and from a snapshot plus the log.
//!
//! `USHER_LIST_REPLAY_SEEDS` (default 8) and `USHER_LIST_REPLAY_STEPS`
//! (default 600) make the random runs longer.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use usher::client::{args, Client};
use usher::clock::ManualClock;
use usher::config::Config;
use usher::encoding::Reader;
use usher::log::FsyncPolicy;
use usher::protocol::{parse, Reply};
use usher::recovery::recover;
use usher::state::value::{decode_value, encode_value};
use usher::state::{Effect, State, StateLimits, Value};

use crate::support::rng::Rng;
use crate::support::server::{start_with_clock, stop, test_config};

const T0: u64 = 1_700_000_000_000;
const LISTS: &[&str] = &["list:a", "list:b", "list:c"];

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

fn item(rng: &mut Rng) -> String {
    match rng.below(10) {
        // Long items are stored boxed, short ones in place.
        0 => format!("long-{}", "x".repeat(20 + rng.below(40) as usize)),
        1 => String::new(),
        _ => format!("i{}", rng.below(6)),
    }
}

fn side(rng: &mut Rng) -> String {
    rng.pick(&["LEFT", "RIGHT"]).to_string()
}

fn signed(rng: &mut Rng, span: u64) -> String {
    (rng.below(2 * span + 1) as i64 - span as i64).to_string()
}

/// One random command, as words.
fn command(rng: &mut Rng) -> Vec<String> {
    let l = rng.pick(LISTS).to_string();
    let other = rng.pick(LISTS).to_string();
    match rng.below(100) {
        0..=29 => {
            let name = rng
                .pick(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"])
                .to_string();
            let mut words = vec![name, l];
            for _ in 0..1 + rng.below(4) {
                words.push(item(rng));
            }
            words
        }
        30..=44 => {
            let mut words = vec![rng.pick(&["LPOP", "RPOP"]).to_string(), l];
            if rng.chance(50) {
                words.push(rng.below(4).to_string());
            }
            words
        }
        45..=51 => vec!["LSET".into(), l, signed(rng, 6), item(rng)],
        52..=59 => vec!["LREM".into(), l, signed(rng, 3), item(rng)],
        60..=65 => vec!["LTRIM".into(), l, signed(rng, 5), signed(rng, 8)],
        66..=77 => vec!["LMOVE".into(), l, other, side(rng), side(rng)],
        78..=81 => vec![
            rng.pick(&["BLPOP", "BRPOP"]).to_string(),
            l,
            other,
            "0".into(),
        ],
        82..=84 => vec!["BLMOVE".into(), l, other, side(rng), side(rng), "0".into()],
        85..=88 => vec!["LRANGE".into(), l, "0".into(), "-1".into()],
        89..=90 => vec!["DEL".into(), l],
        91..=93 => vec!["PEXPIRE".into(), l, (1 + rng.below(3000)).to_string()],
        94 => vec!["PERSIST".into(), l],
        95 => vec!["SET".into(), l, "text".into()],
        96 if rng.chance(20) => vec!["FLUSHALL".into()],
        _ => vec!["RPUSH".into(), l, item(rng)],
    }
}

fn apply(state: &mut State, now_ms: u64, words: &[String]) -> Reply {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match parse(&args(words)) {
        Ok(request) => state.apply(&request, now_ms),
        Err(error) => Reply::Error(error),
    }
}

type Dump = Vec<(Bytes, Value, Option<u64>)>;

fn dump(state: &State) -> Dump {
    let mut all: Dump = state
        .keyspace
        .iter()
        .map(|(key, entry)| (key.to_bytes(), entry.value.clone(), entry.deadline_ms()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn through_bytes(effect: &Effect) -> Effect {
    let mut bytes = Vec::new();
    effect.encode(&mut bytes);
    let mut reader = Reader::new(&bytes);
    let decoded = Effect::decode(&mut reader).expect("an encoded effect decodes");
    assert!(reader.is_empty(), "bytes left after {effect:?}");
    assert_eq!(&decoded, effect);
    decoded
}

/// A copy made as a snapshot would: every value through its encoding.
fn copy_through_encoding(state: &State) -> State {
    let mut copy = State::new(state.limits);
    for (key, entry) in state.keyspace.iter() {
        let mut bytes = Vec::new();
        encode_value(&entry.value, &mut bytes);
        let mut reader = Reader::new(&bytes);
        let value = decode_value(&mut reader).expect("an encoded value decodes");
        assert!(reader.is_empty());
        assert_eq!(value, entry.value);
        copy.keyspace.insert(key, value, entry.deadline_ms());
    }
    copy
}

fn replay_all(state: &mut State, effects: &[Effect], context: &str) {
    for effect in effects {
        if let Err(error) = state.replay(effect) {
            panic!("{context}: replay of {effect:?} failed: {error}");
        }
    }
}

fn effect_kind(effect: &Effect) -> String {
    let text = format!("{effect:?}");
    text.split([' ', '{', '('])
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn replay_workload(seed: u64, steps: u64) -> BTreeSet<String> {
    let mut rng = Rng::new(seed);
    let limits = StateLimits::default();
    let mut original = State::new(limits);
    original.keyspace.set_recording(true);
    let mut from_log = State::new(limits);
    let mut from_snapshot: Option<State> = None;
    let snapshot_step = steps / 3 + rng.below(steps / 3 + 1);
    let mut now = T0;
    let mut kinds = BTreeSet::new();
    for step in 0..steps {
        let context = format!("seed {seed} step {step}");
        let mut words = Vec::new();
        if rng.chance(8) {
            now += rng.below(1500);
        } else if rng.chance(8) {
            original.run_timers(now, 1 + rng.below(4) as usize);
        } else {
            words = command(&mut rng);
            apply(&mut original, now, &words);
        }
        original.check_invariants();
        let effects = std::mem::take(original.keyspace.effects_mut());
        kinds.extend(effects.iter().map(effect_kind));
        let decoded: Vec<Effect> = effects.iter().map(through_bytes).collect();
        replay_all(&mut from_log, &decoded, &context);
        from_log.check_invariants();
        assert_eq!(
            dump(&original),
            dump(&from_log),
            "{context} (log) after {words:?}"
        );
        if let Some(copy) = &mut from_snapshot {
            replay_all(copy, &decoded, &context);
            assert_eq!(dump(&original), dump(copy), "{context} (snapshot + log)");
        }
        if step == snapshot_step {
            from_snapshot = Some(copy_through_encoding(&original));
        }
    }
    kinds
}

#[test]
fn random_list_workloads_replay_to_the_same_state() {
    let seeds = env_count("USHER_LIST_REPLAY_SEEDS", 8);
    let steps = env_count("USHER_LIST_REPLAY_STEPS", 600);
    let mut kinds = BTreeSet::new();
    for seed in 0..seeds {
        kinds.extend(replay_workload(0x1157_0000 + seed, steps));
    }
    // Every list effect, creation and deletion showed up.
    for wanted in [
        "List Push",
        "List Pop",
        "List Set",
        "List Trim",
        "List Remove",
        "Key Put",
        "Key Delete",
        "Key Expired",
    ] {
        assert!(
            kinds.iter().any(|kind| kind.starts_with(wanted)),
            "no {wanted} effect in {kinds:?}"
        );
    }
}

#[test]
fn effects_that_do_not_fit_the_list_are_refused_and_change_nothing() {
    use usher::state::{Key, ListEffect};
    let mut state = State::new(StateLimits::default());
    state.apply(&parse(&args(["RPUSH", "l", "a", "b"])).expect("parses"), T0);
    let before = dump(&state);
    let key = Key::copy_from_slice(b"l");
    for effect in [
        ListEffect::Pop {
            key: key.clone(),
            left: true,
            count: 3,
        },
        ListEffect::Set {
            key: key.clone(),
            index: 2,
            item: Bytes::from_static(b"x"),
        },
        ListEffect::Trim {
            key: key.clone(),
            first: 1,
            end: 3,
        },
        ListEffect::Trim {
            key: key.clone(),
            first: 1,
            end: 1,
        },
        ListEffect::Remove {
            key: key.clone(),
            positions: vec![1, 0],
        },
        ListEffect::Remove {
            key: key.clone(),
            positions: vec![2],
        },
    ] {
        assert!(
            state.replay(&Effect::List(effect.clone())).is_err(),
            "{effect:?}"
        );
        assert_eq!(dump(&state), before, "{effect:?} changed the list");
    }
}

// --- a real server restarted ---

fn persistent(dir: &Path) -> Config {
    Config {
        persist: true,
        dir: dir.to_path_buf(),
        fsync: FsyncPolicy::No,
        snapshot_interval_ms: 0,
        snapshot_log_bytes_max: 0,
        ..test_config()
    }
}

async fn call(client: &mut Client, words: &[&str]) -> Reply {
    tokio::time::timeout(
        Duration::from_secs(10),
        client.call(&args(words.iter().copied())),
    )
    .await
    .expect("reply in time")
    .expect("call")
}

async fn workload(client: &mut Client, rng: &mut Rng, commands: usize) {
    for _ in 0..commands {
        let words = command(rng);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        // A blocking command on empty lists would wait for ever: the
        // clock is manual.
        if words[0] == "FLUSHALL" || words[0].starts_with('B') {
            continue;
        }
        call(client, &words).await;
    }
}

async fn snapshot_done(client: &mut Client) -> bool {
    let Reply::Bulk(text) = call(client, &["INFO", "persistence"]).await else {
        panic!("INFO did not reply text");
    };
    String::from_utf8_lossy(&text).contains("snapshot_in_progress:0")
}

fn recovered(dir: &Path) -> State {
    match recover(dir, State::new(StateLimits::default()), false) {
        Ok(recovered) => recovered.state,
        Err(error) => panic!("recovery failed: {error}"),
    }
}

#[tokio::test]
async fn lists_survive_a_restart_from_the_log_and_from_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let running = start_with_clock(persistent(dir.path()), clock.clone()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    let mut rng = Rng::new(0x1157);
    let long: Vec<String> = (0..500).map(|i| format!("item-{i}")).collect();
    let mut words = vec!["RPUSH", "big"];
    words.extend(long.iter().map(String::as_str));
    assert_eq!(call(&mut client, &words).await, Reply::Int(500));
    workload(&mut client, &mut rng, 400).await;
    drop(client);
    let live = stop(running).await;
    assert!(
        live.keyspace
            .iter()
            .any(|(_, entry)| matches!(entry.value, Value::List(_))),
        "the workload left no list to recover"
    );
    assert_eq!(dump(&recovered(dir.path())), dump(&live), "from the log");

    // Again, with a snapshot and more changes after it.
    let running = start_with_clock(persistent(dir.path()), clock.clone()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    workload(&mut client, &mut rng, 100).await;
    assert_eq!(
        call(&mut client, &["SNAPSHOT"]).await,
        Reply::simple("Snapshot started")
    );
    workload(&mut client, &mut rng, 100).await;
    for _ in 0..5_000 {
        if snapshot_done(&mut client).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        snapshot_done(&mut client).await,
        "the snapshot did not finish"
    );
    workload(&mut client, &mut rng, 200).await;
    drop(client);
    let live = stop(running).await;
    let state = match recover(dir.path(), State::new(StateLimits::default()), false) {
        Ok(recovered) => {
            assert!(recovered.report.snapshot.is_some(), "no snapshot was used");
            recovered.state
        }
        Err(error) => panic!("recovery failed: {error}"),
    };
    assert_eq!(dump(&state), dump(&live), "from the snapshot and the log");
}
