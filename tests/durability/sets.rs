//! Durability of sets: seeded workloads whose effects are replayed into a
//! fresh state (through their bytes) and onto a copy made through the
//! value encoding mid-run, damaged set encodings refused, and a real
//! server recovered from its log alone and from a snapshot plus the log.
//!
//! `USHER_REPLAY_SEEDS` (default 12) and `USHER_REPLAY_STEPS` (default 700)
//! make the random runs longer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use usher::client::{args, Client};
use usher::config::Config;
use usher::encoding::Reader;
use usher::log::FsyncPolicy;
use usher::protocol::{parse, Reply};
use usher::state::value::{decode_value, encode_value};
use usher::state::{Effect, SetEffect, State, StateLimits, Value};

use crate::support::server;

const T0: u64 = 1_700_000_000_000;

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// splitmix64, so a failing seed can be rerun.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn run(state: &mut State, now_ms: u64, words: &[String]) -> Reply {
    let arguments = args(words);
    match parse(&arguments) {
        Ok(request) => state.apply(&request, now_ms),
        Err(error) => Reply::Error(error),
    }
}

/// A random set command over three keys and 40 members (long members
/// too, for two-byte record headers), with expiry and deletion.
fn command(rng: &mut Rng) -> Vec<String> {
    let key = |rng: &mut Rng| format!("s{}", rng.below(3));
    let member = |rng: &mut Rng| {
        let id = rng.below(40);
        if id.is_multiple_of(9) {
            format!("{id}-{}", "x".repeat(100))
        } else {
            format!("m{id}")
        }
    };
    let mut words: Vec<String> = match rng.below(14) {
        0..=4 => {
            let mut words = vec!["SADD".into(), key(rng)];
            for _ in 0..1 + rng.below(4) {
                words.push(member(rng));
            }
            words
        }
        5 | 6 => vec!["SREM".into(), key(rng), member(rng), member(rng)],
        7 => vec!["SPOP".into(), key(rng)],
        8 => vec!["SPOP".into(), key(rng), rng.below(5).to_string()],
        9 => vec!["SMOVE".into(), key(rng), key(rng), member(rng)],
        10 => {
            let store = ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"][rng.below(3) as usize];
            vec![store.into(), key(rng), key(rng), key(rng)]
        }
        11 => vec![
            "PEXPIRE".into(),
            key(rng),
            (1 + rng.below(3000)).to_string(),
        ],
        12 => vec!["DEL".into(), key(rng)],
        _ => vec!["SRANDMEMBER".into(), key(rng), "-3".into()],
    };
    words.shrink_to_fit();
    words
}

type Dump = BTreeMap<Vec<u8>, (Option<u64>, Vec<Vec<u8>>)>;

/// Every key with its deadline and its sorted members.
fn dump(state: &State) -> Dump {
    state
        .keyspace
        .iter()
        .map(|(key, entry)| {
            let mut members: Vec<Vec<u8>> = match &entry.value {
                Value::Set(set) => set.iter().map(<[u8]>::to_vec).collect(),
                other => panic!("only sets here, found {other:?}"),
            };
            members.sort();
            (key.to_vec(), (entry.deadline_ms(), members))
        })
        .collect()
}

fn through_bytes(effect: &Effect) -> Effect {
    let mut bytes = Vec::new();
    effect.encode(&mut bytes);
    let mut reader = Reader::new(&bytes);
    let decoded = Effect::decode(&mut reader).expect("an encoded effect decodes");
    assert!(reader.is_empty());
    assert_eq!(&decoded, effect);
    decoded
}

fn copy_through_encoding(state: &State) -> State {
    let mut copy = State::new(state.limits);
    for (key, entry) in state.keyspace.iter() {
        let mut bytes = Vec::new();
        encode_value(&entry.value, &mut bytes);
        let mut reader = Reader::new(&bytes);
        let value = decode_value(&mut reader).expect("an encoded set decodes");
        assert!(reader.is_empty());
        assert!(value == entry.value, "{key:?} changed in its round trip");
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

fn replay_workload(seed: u64, steps: u64) {
    let mut rng = Rng(seed);
    let mut original = State::with_seed(StateLimits::default(), seed);
    original.keyspace.set_recording(true);
    let mut from_log = State::new(StateLimits::default());
    let mut from_snapshot: Option<State> = None;
    let snapshot_step = steps / 3 + rng.below(steps / 3 + 1);
    let mut now = T0;
    let (mut adds, mut removes) = (0, 0);
    for step in 0..steps {
        let context = format!("seed {seed} step {step}");
        now += rng.below(40);
        let words = command(&mut rng);
        run(&mut original, now, &words);
        original.check_invariants();
        let effects = std::mem::take(original.keyspace.effects_mut());
        for effect in &effects {
            match effect {
                Effect::Set(SetEffect::Add { .. }) => adds += 1,
                Effect::Set(SetEffect::Remove { .. }) => removes += 1,
                _ => {}
            }
        }
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
            copy.check_invariants();
            assert_eq!(dump(&original), dump(copy), "{context} (snapshot + log)");
        }
        if step == snapshot_step {
            from_snapshot = Some(copy_through_encoding(&original));
        }
    }
    assert!(
        adds > 0 && removes > 0,
        "seed {seed}: the workload changed too little"
    );
}

#[test]
fn set_effects_replay_to_the_same_sets() {
    let seeds = env_count("USHER_REPLAY_SEEDS", 12);
    let steps = env_count("USHER_REPLAY_STEPS", 700);
    for seed in 0..seeds {
        replay_workload(0x5e75_0000 + seed, steps);
    }
}

#[test]
fn damaged_set_encodings_are_refused() {
    let mut state = State::new(StateLimits::default());
    run(
        &mut state,
        T0,
        &["SADD", "s", "a", "bb", "ccc"].map(String::from),
    );
    let entry = state.keyspace.peek(b"s").expect("the set exists");
    let mut bytes = Vec::new();
    encode_value(&entry.value, &mut bytes);
    // Every cut is refused.
    for length in 0..bytes.len() {
        assert!(
            decode_value(&mut Reader::new(&bytes[..length])).is_err(),
            "cut at {length}"
        );
    }
    // Layout: tag, seed:u64, rng:u64, epoch:u32, count:u64, members.
    let mut zero_rng = bytes.clone();
    zero_rng[9..17].fill(0);
    assert!(decode_value(&mut Reader::new(&zero_rng)).is_err());
    let mut huge_count = bytes.clone();
    huge_count[21..29].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(decode_value(&mut Reader::new(&huge_count)).is_err());
    // A repeated member.
    let mut repeated = Vec::from(&bytes[..29]);
    for member in [&b"a"[..], b"a", b"ccc"] {
        repeated.extend_from_slice(&(member.len() as u32).to_le_bytes());
        repeated.extend_from_slice(member);
    }
    assert!(decode_value(&mut Reader::new(&repeated)).is_err());
}

#[test]
fn set_effects_that_do_not_fit_are_refused() {
    let mut state = State::new(StateLimits::default());
    run(&mut state, T0, &["SADD", "s", "a"].map(String::from));
    run(&mut state, T0, &["SET", "str", "x"].map(String::from));
    let key = |name: &str| usher::state::Key::copy_from_slice(name.as_bytes());
    let member = |text: &str| bytes::Bytes::copy_from_slice(text.as_bytes());
    for effect in [
        SetEffect::Add {
            key: key("s"),
            member: member("a"),
        },
        SetEffect::Remove {
            key: key("s"),
            member: member("zz"),
        },
        SetEffect::Add {
            key: key("str"),
            member: member("a"),
        },
    ] {
        assert!(
            state.replay(&Effect::Set(effect.clone())).is_err(),
            "{effect:?}"
        );
    }
    // A missing key is skipped (deleted before a snapshot reached it).
    let missing = SetEffect::Add {
        key: key("gone"),
        member: member("a"),
    };
    assert_eq!(state.replay(&Effect::Set(missing)), Ok(()));
}

async fn call(client: &mut Client, words: &[&str]) -> Reply {
    let command = args(words);
    tokio::time::timeout(Duration::from_secs(10), client.call(&command))
        .await
        .expect("a reply in time")
        .expect("a reply")
}

fn info_field(reply: &Reply, name: &str) -> Option<String> {
    let Reply::Bulk(text) = reply else {
        return None;
    };
    String::from_utf8_lossy(text)
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::to_string))
}

async fn workload(client: &mut Client, rng: &mut Rng, steps: usize) {
    for _ in 0..steps {
        let words = command(rng);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        call(client, &words).await;
    }
}

async fn recovers(snapshot: bool) {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let config = Config {
        persist: true,
        dir: dir.path().to_path_buf(),
        fsync: FsyncPolicy::No,
        snapshot_interval_ms: 0,
        snapshot_log_bytes_max: 0,
        ..server::test_config()
    };
    let running = server::start(config.clone()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    let mut rng = Rng(0x5e75_f00d + u64::from(snapshot));
    // A set big enough to be compacted and to go to the freeing thread.
    let mut words = vec!["SADD".to_string(), "big".to_string()];
    words.extend((0..3000).map(|i| format!("id:{i:019}")));
    let words_ref: Vec<&str> = words.iter().map(String::as_str).collect();
    assert_eq!(call(&mut client, &words_ref).await, Reply::Int(3000));
    workload(&mut client, &mut rng, 300).await;
    if snapshot {
        let reply = call(&mut client, &["SNAPSHOT"]).await;
        assert_eq!(reply, Reply::simple("Snapshot started"));
        let deadline = Instant::now() + server::TIMEOUT;
        loop {
            let info = call(&mut client, &["INFO", "persistence"]).await;
            if info_field(&info, "snapshot_in_progress").as_deref() == Some("0") {
                break;
            }
            assert!(Instant::now() < deadline, "the snapshot did not finish");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for i in 0..2000 {
        call(&mut client, &["SREM", "big", &format!("id:{i:019}")]).await;
    }
    call(&mut client, &["SPOP", "big", "10"]).await;
    workload(&mut client, &mut rng, 300).await;
    drop(client);
    let state = server::stop(running).await;
    state.check_invariants();
    let recovered = usher::recovery::recover(dir.path(), State::new(config.state_limits()), false)
        .unwrap_or_else(|error| panic!("recovery failed: {error}"));
    assert_eq!(recovered.report.snapshot.is_some(), snapshot);
    recovered.state.check_invariants();
    assert_eq!(dump(&state), dump(&recovered.state));
    assert!(dump(&state).contains_key(&b"big"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_recovers_sets_from_the_log_alone() {
    recovers(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_recovers_sets_from_a_snapshot_and_the_log() {
    recovers(true).await;
}
