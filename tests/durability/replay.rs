//! Durability of sorted sets and queues: random workloads whose effects are
//! replayed into a fresh state (directly, through the binary effect
//! encoding, and on top of a decoded copy as a snapshot would give), full
//! value round trips through `encode_value`/`decode_value`, an in-process
//! engine that logs to a real WAL while a fuzzy snapshot is taken slice by
//! slice, and snapshot + log recovery of a real server.
//!
//! Equality is checked twice: structurally (keys, deadlines, values, every
//! queue's line and active members) and by behaviour (the same read
//! commands at the same time give the same replies *and* the same effects
//! on the original and the copy).
//!
//! `USHER_REPLAY_SEEDS` (default 12) and `USHER_REPLAY_STEPS` (default 700)
//! make the random runs longer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use usher::client::{args, Client};
use usher::clock::{Clock, ManualClock};
use usher::config::Config;
use usher::encoding::Reader;
use usher::log::{FsyncPolicy, Wal};
use usher::protocol::{parse, Reply};
use usher::snapshot::{SnapshotJob, LARGE_VALUE_BYTES};
use usher::state::hash::fields::FieldValue;
use usher::state::value::{decode_value, encode_value};
use usher::state::{
    Effect, HashEffect, Key, KeyEffect, QueueEffect, ReqEffect, SeatEffect, State, StateLimits,
    StockEffect, Value, ZsetEffect,
};

use crate::support::server;

const T0: u64 = 1_700_000_000_000;

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: a small seeded generator, so a failing seed can be rerun.
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

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn apply(state: &mut State, now_ms: u64, words: &[String]) -> Reply {
    let arguments = args(words);
    match parse(&arguments) {
        Ok(request) => state.apply(&request, now_ms),
        Err(error) => Reply::Error(error),
    }
}

fn run(state: &mut State, now_ms: u64, words: &[&str]) -> Reply {
    let words: Vec<String> = words.iter().map(|word| word.to_string()).collect();
    apply(state, now_ms, &words)
}

// ---------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------

const ZSETS: &[&str] = &["z0", "z1", "z2"];
const QUEUES: &[&str] = &["q0", "q1", "q2", "q3"];
/// Keys that change type now and then.
const ANY_KEYS: &[&str] = &["z0", "z1", "q0", "q1", "s0", "h0"];
const HASHES: &[&str] = &["h0", "h1"];

/// A hash field: 40 names, so a hash grows past its unindexed form.
fn field(rng: &mut Rng) -> String {
    format!("field-{:02}", rng.below(40))
}

fn hash_value(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!("text-{}", rng.below(100)),
        1 => (rng.below(1 << 40) as i64 - (1 << 39)).to_string(),
        _ => rng.below(300).to_string(),
    }
}

/// One random hash command.
fn hash_command(rng: &mut Rng) -> Vec<String> {
    let h = rng.pick(HASHES).to_string();
    match rng.below(10) {
        0..=3 => {
            let mut words = vec!["HSET".to_string(), h];
            for _ in 0..1 + rng.below(4) {
                words.push(field(rng));
                words.push(hash_value(rng));
            }
            words
        }
        4..=5 => vec![
            "HINCRBY".into(),
            h,
            field(rng),
            (rng.below(400) as i64 - 200).to_string(),
        ],
        6 => vec!["HINCRBYFLOAT".into(), h, field(rng), "0.25".into()],
        7..=8 => vec!["HDEL".into(), h, field(rng), field(rng)],
        _ => vec!["HRANDFIELD".into(), h, "-3".into(), "WITHVALUES".into()],
    }
}
const PARKED: &str = "parked";

fn member(rng: &mut Rng) -> String {
    format!("member-{:02}", rng.below(30))
}

fn score(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "inf".into(),
        1 => "-inf".into(),
        2 => format!("{}.5", rng.below(10) as i64 - 5),
        3 => "-0".into(),
        _ => (rng.below(11) as i64 - 5).to_string(),
    }
}

/// One random command, as words.
fn command(rng: &mut Rng) -> Vec<String> {
    let z = rng.pick(ZSETS).to_string();
    let q = rng.pick(QUEUES).to_string();
    let words: Vec<String> = match rng.below(120) {
        0..=11 => {
            let mut words = vec!["ZADD".to_string(), z];
            for flag in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                if rng.chance(12) {
                    words.push(flag.into());
                }
            }
            for _ in 0..1 + rng.below(3) {
                words.push(score(rng));
                words.push(member(rng));
            }
            words
        }
        12..=14 => vec!["ZINCRBY".into(), z, score(rng), member(rng)],
        15..=18 => vec!["ZREM".into(), z, member(rng), member(rng)],
        19..=20 => vec![
            rng.pick(&["ZPOPMIN", "ZPOPMAX"]).into(),
            z,
            rng.below(4).to_string(),
        ],
        21 => vec![
            "ZREMRANGEBYSCORE".into(),
            z,
            (rng.below(7) as i64 - 4).to_string(),
            format!("({}", rng.below(7) as i64 - 2),
        ],
        22 => vec![
            "ZREMRANGEBYRANK".into(),
            z,
            rng.below(3).to_string(),
            (rng.below(4) as i64 - 1).to_string(),
        ],
        23..=29 => {
            let mut words = vec!["QUEUE.CONFIG".to_string(), q];
            if rng.chance(60) {
                words.push("CAPACITY".into());
                words.push(rng.below(6).to_string());
            }
            if rng.chance(45) {
                words.push("RATE".into());
                words.push(rng.below(5).to_string());
                words.push("PER".into());
                words.push((100 + rng.below(3000)).to_string());
            }
            if rng.chance(50) {
                words.push("TTL".into());
                let ttl = if rng.chance(25) {
                    0
                } else {
                    200 + rng.below(5000)
                };
                words.push(ttl.to_string());
            }
            words
        }
        30..=54 => vec!["QUEUE.JOIN".into(), q, member(rng)],
        55..=62 => vec!["QUEUE.LEAVE".into(), q, member(rng)],
        63..=68 => vec!["QUEUE.ADMIT".into(), q, rng.below(4).to_string()],
        69..=73 => {
            let mut words = vec!["QUEUE.TOUCH".to_string(), q, member(rng)];
            if rng.chance(50) {
                words.push("TTL".into());
                words.push(rng.below(4000).to_string());
            }
            words
        }
        74..=78 => vec!["QUEUE.POS".into(), q, member(rng)],
        79..=80 => vec!["QUEUE.INFO".into(), q],
        81 => vec!["QUEUE.CLOSE".into(), q],
        82 => vec!["QUEUE.DROP".into(), q],
        83 => vec!["DEL".into(), rng.pick(ANY_KEYS).into()],
        84 => vec![
            "PEXPIRE".into(),
            rng.pick(ANY_KEYS).into(),
            (1 + rng.below(4000)).to_string(),
        ],
        85 => vec!["PERSIST".into(), rng.pick(ANY_KEYS).into()],
        86 => vec!["SET".into(), rng.pick(ANY_KEYS).into(), "text".into()],
        87 => vec!["INCR".into(), rng.pick(ANY_KEYS).into()],
        88 if rng.chance(10) => vec!["FLUSHALL".into()],
        89 => vec![
            rng.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"])
                .into(),
            rng.pick(ANY_KEYS).into(),
            "2".into(),
            z,
            rng.pick(ZSETS).into(),
        ],
        90 => vec![
            "ZRANGESTORE".into(),
            rng.pick(ZSETS).into(),
            z,
            rng.below(3).to_string(),
            (rng.below(4) as i64 - 1).to_string(),
        ],
        91 => vec![
            "ZMPOP".into(),
            "2".into(),
            z,
            rng.pick(ZSETS).into(),
            rng.pick(&["MIN", "MAX"]).into(),
            "COUNT".into(),
            (1 + rng.below(3)).to_string(),
        ],
        92 => vec![
            "ZREMRANGEBYLEX".into(),
            z,
            format!("[{}", member(rng)),
            "+".into(),
        ],
        93..=105 => hash_command(rng),
        // Whole values moving between keys, queues and sorted sets
        // included: their timers must follow them.
        106 => vec![
            rng.pick(&["RENAME", "RENAMENX"]).into(),
            rng.pick(ANY_KEYS).into(),
            rng.pick(ANY_KEYS).into(),
        ],
        107 => {
            let mut words = vec![
                "COPY".to_string(),
                rng.pick(ANY_KEYS).into(),
                rng.pick(ANY_KEYS).into(),
            ];
            if rng.chance(50) {
                words.push("REPLACE".into());
            }
            words
        }
        108 => vec!["APPEND".into(), rng.pick(ANY_KEYS).into(), member(rng)],
        109 => vec![
            "SETRANGE".into(),
            rng.pick(ANY_KEYS).into(),
            rng.below(20).to_string(),
            member(rng),
        ],
        110 => vec!["INCRBYFLOAT".into(), rng.pick(ANY_KEYS).into(), score(rng)],
        111 => vec![
            "GETEX".into(),
            rng.pick(ANY_KEYS).into(),
            "PX".into(),
            (1 + rng.below(4000)).to_string(),
        ],
        _ => vec!["QUEUE.JOIN".into(), q, member(rng)],
    };
    words
}

/// Sets up every queue and sorted set so the workload has something to
/// change from the start.
fn setup() -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for (index, q) in QUEUES.iter().enumerate() {
        let mut words = vec!["QUEUE.CONFIG".to_string(), q.to_string()];
        match index {
            0 => words.extend(["CAPACITY", "3", "TTL", "2000"].map(String::from)),
            1 => words.extend(["RATE", "2", "PER", "1000", "TTL", "1500"].map(String::from)),
            2 => words.extend(["CAPACITY", "2", "RATE", "1", "PER", "700"].map(String::from)),
            _ => words.extend(["TTL", "3000"].map(String::from)),
        }
        commands.push(words);
    }
    for z in ZSETS {
        commands.push(vec!["ZADD".into(), z.to_string(), "1".into(), "a".into()]);
    }
    // A parked queue the workload never touches: only a snapshot (or the
    // setup's effects) knows it, and its first expiry is far away.
    commands.push(
        ["QUEUE.CONFIG", PARKED, "CAPACITY", "1", "TTL", "1000000"]
            .map(String::from)
            .to_vec(),
    );
    for member in ["first", "second", "third"] {
        commands.push(vec!["QUEUE.JOIN".into(), PARKED.into(), member.into()]);
    }
    commands
}

/// Far enough ahead that the parked queue's first admission expires.
const FAR_AHEAD_MS: u64 = 2_000_000;

// ---------------------------------------------------------------------------
// Comparisons
// ---------------------------------------------------------------------------

type Members = Vec<(Vec<u8>, u64)>;

/// A value as plain data, so a difference prints readably.
#[derive(Debug, PartialEq)]
enum Dumped {
    Int(i64),
    Str(Vec<u8>),
    /// Members with their scores' bits, ascending.
    Zset(Members),
    /// Waiting ids oldest first, active ids with deadlines, settings.
    Queue {
        waiting: Vec<Vec<u8>>,
        active: Members,
        settings: usher::state::QueueSettings,
    },
    /// Fields and values, as text, by field.
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
}

fn dump_value(value: &Value) -> Dumped {
    match value {
        Value::Int(number) => Dumped::Int(*number),
        Value::Str(bytes) => Dumped::Str(bytes.to_vec()),
        Value::Short(short) => Dumped::Str(short.as_bytes().to_vec()),
        Value::Zset(zset) => Dumped::Zset(
            zset.iter()
                .map(|(member, score)| (member.to_vec(), score.to_bits()))
                .collect(),
        ),
        Value::Queue(queue) => Dumped::Queue {
            waiting: queue.waiting_members().map(<[u8]>::to_vec).collect(),
            active: queue
                .active_members()
                .into_iter()
                .map(|(member, deadline)| (member.to_vec(), deadline))
                .collect(),
            settings: queue.settings(),
        },
        Value::Hash(hash) => Dumped::Hash(
            hash.iter()
                .map(|(field, value)| {
                    let text = match value {
                        FieldValue::Int(number) => number.to_string().into_bytes(),
                        FieldValue::Bytes(bytes) => bytes.to_vec(),
                    };
                    (field.to_vec(), text)
                })
                .collect(),
        ),
        // Compared by the values' own equality below (lists and sets have
        // their own replay tests, tests/durability/lists.rs and sets.rs).
        Value::Seats(_) | Value::Stock(_) | Value::List(_) | Value::Set(_) => {
            Dumped::Str(Vec::new())
        }
    }
}

fn dump(state: &State) -> BTreeMap<Vec<u8>, (Option<u64>, Dumped)> {
    state
        .keyspace
        .iter()
        .map(|(key, entry)| {
            (
                key.to_vec(),
                (entry.deadline_ms(), dump_value(&entry.value)),
            )
        })
        .collect()
}

/// Structural equality: keys, deadlines, dumps, and the values' own
/// equality (which also covers queue counters, rate windows and eta
/// history).
fn assert_same(original: &State, copy: &State, context: &str) {
    copy.check_invariants();
    assert_eq!(dump(original), dump(copy), "{context}: dumps differ");
    for (key, entry) in original.keyspace.iter() {
        let other = copy
            .keyspace
            .iter()
            .find(|(other_key, _)| *other_key == key)
            .map(|(_, other)| other);
        assert!(
            other.is_some_and(|other| other.value == entry.value),
            "{context}: value of {key:?} differs (counters, rate window or history)"
        );
    }
}

/// Reads every key through commands at `now_ms`: TYPE, PTTL, the members
/// and scores of sorted sets, QUEUE.INFO and QUEUE.POS of every member (and
/// of one stranger) for queues. Returns the replies and the effects the
/// reads caused (catch-up admissions and expiries).
fn observe(state: &mut State, now_ms: u64) -> (Vec<Reply>, Vec<Effect>) {
    let recording = state.keyspace.set_recording(true);
    state.keyspace.effects_mut().clear();
    let mut keys: Vec<Bytes> = state
        .keyspace
        .iter()
        .map(|(key, _)| key.to_bytes())
        .collect();
    keys.sort();
    let mut replies = Vec::new();
    for key in keys {
        let key_text = String::from_utf8_lossy(&key).to_string();
        let kind = run(state, now_ms, &["TYPE", &key_text]);
        replies.push(kind.clone());
        replies.push(run(state, now_ms, &["PTTL", &key_text]));
        match kind {
            Reply::Simple(name) if name == "zset" => {
                replies.push(run(
                    state,
                    now_ms,
                    &["ZRANGE", &key_text, "0", "-1", "WITHSCORES"],
                ));
                replies.push(run(state, now_ms, &["ZCARD", &key_text]));
            }
            Reply::Simple(name) if name == "queue" => {
                replies.push(run(state, now_ms, &["QUEUE.INFO", &key_text]));
                let mut members: BTreeSet<Vec<u8>> = BTreeSet::new();
                if let Some((_, entry)) = state.keyspace.iter().find(|(k, _)| k.as_bytes() == key) {
                    if let Value::Queue(queue) = &entry.value {
                        members.extend(queue.waiting_members().map(<[u8]>::to_vec));
                        members.extend(
                            queue
                                .active_members()
                                .into_iter()
                                .map(|(member, _)| member.to_vec()),
                        );
                    }
                }
                members.insert(b"stranger".to_vec());
                for member in members {
                    let member = String::from_utf8_lossy(&member).to_string();
                    replies.push(run(state, now_ms, &["QUEUE.POS", &key_text, &member]));
                }
            }
            _ => replies.push(run(state, now_ms, &["GET", &key_text])),
        }
    }
    let effects = std::mem::take(state.keyspace.effects_mut());
    state.keyspace.set_recording(recording);
    (replies, effects)
}

/// Runs every timer due at `now_ms`; returns the effects, per key (copies
/// register their queues under different due times, so the order across
/// keys may differ, never the order within one).
fn run_timers(state: &mut State, now_ms: u64) -> BTreeMap<Vec<u8>, Vec<Effect>> {
    let recording = state.keyspace.set_recording(true);
    state.keyspace.effects_mut().clear();
    while state.run_timers(now_ms, 64) == 64 {}
    let mut by_key: BTreeMap<Vec<u8>, Vec<Effect>> = BTreeMap::new();
    for effect in state.keyspace.effects_mut().drain(..) {
        let key = effect.key().unwrap_or_default().to_vec();
        by_key.entry(key).or_default().push(effect);
    }
    state.keyspace.set_recording(recording);
    by_key
}

/// The engine's timers at `now_ms` do the same on both states. Far enough
/// ahead that includes the parked queue, which only the timer index
/// (rebuilt after recovery) can bring up.
fn assert_same_timers(original: &mut State, copy: &mut State, now_ms: u64, context: &str) {
    let timers = run_timers(original, now_ms);
    let parked = original
        .keyspace
        .iter()
        .any(|(key, _)| key.as_bytes() == PARKED.as_bytes());
    if now_ms >= T0 + FAR_AHEAD_MS && parked {
        assert!(
            timers.contains_key(PARKED.as_bytes()),
            "{context}: the parked queue had no timer work to compare"
        );
    }
    assert_eq!(timers, run_timers(copy, now_ms), "{context}: timers differ");
}

/// Behavioural equality at `now_ms`: the engine's timers, then the same
/// reads, give every copy the same effects and replies; all of them change
/// alike.
fn assert_same_behaviour(states: &mut [&mut State], now_ms: u64, context: &str) {
    let timers: Vec<_> = states
        .iter_mut()
        .map(|state| run_timers(state, now_ms))
        .collect();
    for (index, copy) in timers.iter().enumerate().skip(1) {
        assert_eq!(&timers[0], copy, "{context}: timers of copy {index} differ");
    }
    let observed: Vec<_> = states
        .iter_mut()
        .map(|state| observe(state, now_ms))
        .collect();
    for (index, copy) in observed.iter().enumerate().skip(1) {
        assert_eq!(
            observed[0].0, copy.0,
            "{context}: replies of copy {index} differ"
        );
        assert_eq!(
            observed[0].1, copy.1,
            "{context}: effects of reads on copy {index} differ"
        );
    }
}

/// Encodes an effect, decodes it, checks it comes back equal.
fn through_bytes(effect: &Effect) -> Effect {
    let mut bytes = Vec::new();
    effect.encode(&mut bytes);
    let mut reader = Reader::new(&bytes);
    let decoded = Effect::decode(&mut reader).expect("an encoded effect decodes");
    assert!(reader.is_empty(), "bytes left after {effect:?}");
    assert_eq!(&decoded, effect);
    decoded
}

/// Round-trips every value: decodes equal, with sound invariants, and
/// encodes again to the very same bytes.
fn round_trip_values(state: &State, context: &str) {
    for (key, entry) in state.keyspace.iter() {
        let mut bytes = Vec::new();
        encode_value(&entry.value, &mut bytes);
        let mut reader = Reader::new(&bytes);
        let decoded = decode_value(&mut reader).expect("an encoded value decodes");
        assert!(reader.is_empty(), "{context}: bytes left after {key:?}");
        assert_eq!(
            dump_value(&decoded),
            dump_value(&entry.value),
            "{context}: {key:?} changed in its round trip"
        );
        assert!(
            decoded == entry.value,
            "{context}: {key:?} changed in its round trip"
        );
        match &decoded {
            Value::Zset(zset) => zset.check_invariants(),
            Value::Queue(queue) => queue.check_invariants(),
            Value::Seats(map) => map.check_invariants(),
            Value::Stock(stock) => stock.check_invariants(),
            Value::List(list) => list.check_invariants(),
            Value::Hash(hash) => hash.check_invariants(),
            Value::Set(set) => set.check_invariants(),
            Value::Str(_) | Value::Short(_) | Value::Int(_) => {}
        }
        let mut again = Vec::new();
        encode_value(&decoded, &mut again);
        assert_eq!(bytes, again, "{context}: {key:?} re-encodes differently");
    }
}

/// A copy of `state` made as a snapshot would: every value through its
/// encoding, then the timer index rebuilt.
fn copy_through_encoding(state: &State) -> State {
    let mut copy = State::new(state.limits);
    for (key, entry) in state.keyspace.iter() {
        let mut bytes = Vec::new();
        encode_value(&entry.value, &mut bytes);
        let value = decode_value(&mut Reader::new(&bytes)).expect("an encoded value decodes");
        copy.keyspace.insert(key, value, entry.deadline_ms());
    }
    copy.rebuild_timers();
    copy
}

fn replay_all(state: &mut State, effects: &[Effect], context: &str) {
    for effect in effects {
        if let Err(error) = state.replay(effect) {
            panic!("{context}: replay of {effect:?} failed: {error}");
        }
    }
}

// ---------------------------------------------------------------------------
// Random workloads replayed in memory
// ---------------------------------------------------------------------------

/// Runs one seeded workload; after every step the effects are replayed
/// into `from_log` (built from effects alone, through their bytes) and into
/// `from_snapshot` (a copy through value encodings, taken mid-run, plus
/// the effects after it).
fn replay_workload(seed: u64, steps: u64) {
    let mut rng = Rng(seed);
    let limits = StateLimits::default();
    let mut original = State::with_seed(limits, seed);
    original.keyspace.set_recording(true);
    let mut from_log = State::new(limits);
    let mut from_snapshot: Option<State> = None;
    let snapshot_step = steps / 3 + rng.below(steps / 3 + 1);
    let mut now = T0;
    let mut kinds_seen: BTreeSet<&'static str> = BTreeSet::new();

    let mut commands = setup();
    commands.reverse();
    for step in 0..steps {
        let context = format!("seed {seed} step {step}");
        let words = if let Some(words) = commands.pop() {
            words
        } else if rng.chance(12) {
            now += rng.below(2500);
            Vec::new()
        } else if rng.chance(10) {
            // Timers in small slices, as the engine runs them under budget.
            let slice = 1 + rng.below(8) as usize;
            while original.next_timer_ms().is_some_and(|due| due <= now) {
                if original.run_timers(now, slice) < slice {
                    break;
                }
            }
            Vec::new()
        } else {
            command(&mut rng)
        };
        if !words.is_empty() {
            apply(&mut original, now, &words);
        }
        original.check_invariants();
        let effects = std::mem::take(original.keyspace.effects_mut());
        for effect in &effects {
            kinds_seen.insert(kind(effect));
        }
        let decoded: Vec<Effect> = effects.iter().map(through_bytes).collect();
        replay_all(&mut from_log, &decoded, &context);
        assert_same(
            &original,
            &from_log,
            &format!("{context} (log) after {words:?}"),
        );
        if let Some(copy) = &mut from_snapshot {
            replay_all(copy, &decoded, &context);
            assert_same(&original, copy, &format!("{context} (snapshot + log)"));
        }
        if step == snapshot_step {
            from_snapshot = Some(copy_through_encoding(&original));
        }
        if step % 25 == 0 {
            round_trip_values(&original, &context);
        }
        if step % 97 == 0 {
            // Reads cause the same catch-up on every copy; each copy does it
            // itself, so these effects are compared, not replayed.
            match &mut from_snapshot {
                Some(copy) => {
                    assert_same_behaviour(&mut [&mut original, &mut from_log, copy], now, &context)
                }
                None => assert_same_behaviour(&mut [&mut original, &mut from_log], now, &context),
            }
            assert_same(&original, &from_log, &context);
        }
    }
    // A last look far in the future: every deadline passes and every rate
    // window reopens, on each copy alike.
    let context = format!("seed {seed} end");
    let later = now + FAR_AHEAD_MS;
    let mut copy = from_snapshot.expect("the run took its snapshot copy");
    assert_same_behaviour(
        &mut [&mut original, &mut from_log, &mut copy],
        later,
        &context,
    );
    assert_same(&original, &from_log, &context);
    assert_same(&original, &copy, &context);
    assert!(
        kinds_seen.len() >= 10,
        "seed {seed}: the workload produced too few kinds of effect: {kinds_seen:?}"
    );
    assert!(
        kinds_seen.contains("HashSet") && kinds_seen.contains("HashRemove"),
        "seed {seed}: no hash field effects: {kinds_seen:?}"
    );
}

fn kind(effect: &Effect) -> &'static str {
    match effect {
        Effect::Key(KeyEffect::Put { .. }) => "Put",
        Effect::Key(KeyEffect::Delete { .. }) => "Delete",
        Effect::Key(KeyEffect::Expired { .. }) => "Expired",
        Effect::Key(KeyEffect::Deadline { .. }) => "Deadline",
        Effect::Key(KeyEffect::FlushAll) => "FlushAll",
        Effect::Key(KeyEffect::Append { .. }) => "Append",
        Effect::Key(KeyEffect::SetRange { .. }) => "SetRange",
        Effect::Zset(ZsetEffect::Set { .. }) => "ZsetSet",
        Effect::Zset(ZsetEffect::Remove { .. }) => "ZsetRemove",
        Effect::Hash(HashEffect::Set { .. }) => "HashSet",
        Effect::Hash(HashEffect::Remove { .. }) => "HashRemove",
        Effect::Queue(QueueEffect::Config { .. }) => "QueueConfig",
        Effect::Queue(QueueEffect::Join { .. }) => "QueueJoin",
        Effect::Queue(QueueEffect::Admit { .. }) => "QueueAdmit",
        Effect::Queue(QueueEffect::Expire { .. }) => "QueueExpire",
        Effect::Queue(QueueEffect::Leave { .. }) => "QueueLeave",
        Effect::Queue(QueueEffect::Touch { .. }) => "QueueTouch",
        Effect::Queue(QueueEffect::Close { .. }) => "QueueClose",
        // Seats, stock and REQ have their own replay test
        // (tests/seats_durability.rs); this workload makes none.
        Effect::Seat(SeatEffect::Hold { .. })
        | Effect::Seat(SeatEffect::Confirm { .. })
        | Effect::Seat(SeatEffect::Release { .. })
        | Effect::Seat(SeatEffect::HoldExpired { .. })
        | Effect::Stock(StockEffect::Config { .. })
        | Effect::Stock(StockEffect::Reserve { .. })
        | Effect::Stock(StockEffect::Confirm { .. })
        | Effect::Stock(StockEffect::Release { .. })
        | Effect::Stock(StockEffect::Take { .. })
        | Effect::Stock(StockEffect::Refund { .. })
        | Effect::Stock(StockEffect::ReservationExpired { .. })
        | Effect::Req(ReqEffect::Remember { .. })
        | Effect::Req(ReqEffect::Forget { .. }) => "seats, stock or REQ",
        Effect::List(_) => "list",
        // Sets have their own replay test (tests/durability/sets.rs).
        Effect::Set(_) => "set",
    }
}

#[test]
fn random_workloads_replay_to_the_same_state() {
    let seeds = env_count("USHER_REPLAY_SEEDS", 12);
    let steps = env_count("USHER_REPLAY_STEPS", 700);
    for seed in 0..seeds {
        replay_workload(0x5eed_0000 + seed, steps);
    }
}

// ---------------------------------------------------------------------------
// A fuzzy snapshot taken slice by slice while the log grows
// ---------------------------------------------------------------------------

/// Logs the effects recorded so far as one record, as the engine does after
/// each batch and each round of timers.
/// What the engine does once a snapshot has captured every key: tell its
/// writer when the log it depends on is durable.
fn signal_log_durable(job: &mut SnapshotJob, wal: &mut Wal) {
    if let Some(log_durable) = job.take_log_durable() {
        wal.commit_durable(log_durable);
    }
}

fn log(state: &mut State, wal: &mut Wal) {
    let effects = state.keyspace.effects_mut();
    if !effects.is_empty() {
        wal.append(effects);
        wal.commit().expect("log commit");
    }
}

fn filler(from: usize, to: usize) -> Vec<Vec<String>> {
    (from..to)
        .map(|index| vec!["SET".into(), format!("k{index:04}"), index.to_string()])
        .collect()
}

/// The engine's loop by hand: requests and timers logged record by record,
/// a snapshot started mid-run and serialized 256 keys per step while the
/// workload changes queues and sorted sets it has or has not reached yet.
/// Recovery (snapshot + log, with per-key positions) must give the state
/// the run ended with.
#[test]
fn fuzzy_snapshot_and_log_recover_the_same_state() {
    let seeds = env_count("USHER_REPLAY_SEEDS", 12).div_ceil(4).max(4);
    let (mut prefaulted, mut switched) = (0, 0);
    for seed in 0..seeds {
        let run = fuzzy_snapshot_run(0xf022_0000 + seed);
        prefaulted += run.prefaulted_values;
        switched += u64::from(run.segments_after_snapshot > 1);
    }
    assert!(prefaulted > 0, "no even seed serialized a prefaulted value");
    // Whether a run switches segments depends on how fast the spare thread
    // syncs its files: on a slow disk, more switching seeds get their turn.
    let mut extra = 0;
    while switched == 0 {
        assert!(
            extra < 64,
            "no run's log moved to another segment after the snapshot started"
        );
        let run = fuzzy_snapshot_run(0xf022_1002 + 4 * extra);
        switched += u64::from(run.segments_after_snapshot > 1);
        extra += 1;
    }
}

struct FuzzyRun {
    /// Values the snapshot serialized into prefaulted buffers.
    prefaulted_values: u64,
    /// Log segments recovery replayed after the snapshot.
    segments_after_snapshot: usize,
}

/// Size of the values of the big `SET`s that make a run's log switch
/// segments while its snapshot is written.
const BIG_VALUE_BYTES: usize = 4000;
/// Queues those runs join while the snapshot is written.
const BIG_QUEUES: u64 = 64;

fn fuzzy_snapshot_run(seed: u64) -> FuzzyRun {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let limits = StateLimits::default();
    let mut rng = Rng(seed);
    let mut state = State::with_seed(limits, seed);
    state.keyspace.set_recording(true);
    // Seeds 2 and 3 of every 4 log into small preallocated segments and add
    // big writes while the snapshot runs, so the log moves through several
    // segments, each ending in zeros, between the snapshot's start and end
    // positions: recovery must read past those zeros for the keys the log
    // touched there.
    let switching = seed % 4 >= 2;
    let segment_bytes = if switching { 64 * 1024 } else { 0 };
    let mut wal =
        Wal::create(dir.path(), 0, FsyncPolicy::No, segment_bytes).expect("the log opens");
    let mut now = T0;
    // Filler around the queues and sorted sets, so the snapshot needs
    // several slices and reaches them in the middle of the run.
    let mut setup = setup();
    let later = setup.split_off(2);
    // The walk goes from the newest key to the oldest, so these come first.
    let mut commands: Vec<Vec<String>> = (0..if switching { BIG_QUEUES } else { 0 })
        .map(|index| {
            ["QUEUE.CONFIG", &format!("bq{index}"), "TTL", "1000000"]
                .map(String::from)
                .to_vec()
        })
        .collect();
    commands.extend(filler(0, 1000));
    commands.extend(setup);
    commands.extend(filler(1000, 2000));
    commands.extend(later);
    commands.extend(filler(2000, 3000));
    let setup_steps = commands.len() as u64;
    commands.reverse();
    let steps = 600;
    let snapshot_at = setup_steps + 100 + rng.below(100);
    let mut job: Option<SnapshotJob> = None;
    let prefault_value_bytes = if seed.is_multiple_of(2) {
        64
    } else {
        LARGE_VALUE_BYTES
    };
    let mut prefaulted_values = 0;
    let mut snapshot_done = false;
    let mut slices = 0;
    let mut keys_at_snapshot = 0;
    for step in 0..setup_steps + steps {
        let words = match commands.pop() {
            Some(words) => words,
            None if rng.chance(12) => {
                now += rng.below(2500);
                Vec::new()
            }
            None if rng.chance(10) => {
                while state.run_timers(now, 16) == 16 {}
                Vec::new()
            }
            None => command(&mut rng),
        };
        if !words.is_empty() {
            apply(&mut state, now, &words);
        }
        if switching && job.is_some() {
            let value = format!("{step:0width$}", width = BIG_VALUE_BYTES);
            apply(
                &mut state,
                now,
                &["SET".into(), format!("big{}", step % 8), value],
            );
            // Each queue gets joins for 4 steps only, many of them after
            // the log moved on, and the snapshot walks them last: replaying
            // a join the snapshot holds does not fit, so recovery must know
            // that the log touched them.
            let queue = format!("bq{}", ((step - snapshot_at) / 4).min(BIG_QUEUES - 1));
            let join = ["QUEUE.JOIN".into(), queue.clone(), format!("u{step}")];
            let mut joined = apply(&mut state, now, &join);
            if matches!(joined, Reply::Error(_)) {
                // The workload's FLUSHALL removed the queue.
                let words = ["QUEUE.CONFIG", &queue, "TTL", "1000000"].map(String::from);
                apply(&mut state, now, &words);
                joined = apply(&mut state, now, &join);
            }
            assert!(!matches!(joined, Reply::Error(_)), "{joined:?}");
            if step % 8 == 0 {
                // Time for the spare thread to prepare the next segment.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        log(&mut state, &mut wal);
        if step == snapshot_at {
            keys_at_snapshot = state.keyspace.len();
            let start = wal.rotate().expect("the log rotates");
            let job_started =
                SnapshotJob::start(dir.path(), &state, start).expect("snapshot starts");
            // Even seeds serialize every queue, sorted set and seat map as
            // a large value: into a prefaulted buffer that the writer
            // prepares while the workload goes on changing the value.
            job = Some(job_started.with_prefault_value_bytes(prefault_value_bytes));
        }
        // A slice every few steps, so the workload changes keys before and
        // after the snapshot reaches them.
        if let Some(running) = job.as_mut().filter(|_| step % 4 == 0) {
            running.step(&state, wal.next_lsn(), || true);
            signal_log_durable(running, &mut wal);
            slices += 1;
            match running.poll() {
                None => {}
                Some(Ok(done)) => {
                    prefaulted_values = done.prefaulted_values;
                    snapshot_done = true;
                    job = None;
                }
                Some(Err(error)) => panic!("seed {seed}: snapshot failed: {error}"),
            }
        }
    }
    let deadline = Instant::now() + server::TIMEOUT;
    while let Some(running) = &mut job {
        running.step(&state, wal.next_lsn(), || true);
        signal_log_durable(running, &mut wal);
        match running.poll() {
            None => {
                assert!(
                    Instant::now() < deadline,
                    "seed {seed}: snapshot never ended"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            Some(Ok(done)) => {
                prefaulted_values = done.prefaulted_values;
                snapshot_done = true;
                job = None;
            }
            Some(Err(error)) => panic!("seed {seed}: snapshot failed: {error}"),
        }
    }
    assert!(snapshot_done);
    // Odd seeds never prefault; whether an even seed does depends on what
    // a FLUSHALL left by the time the walk got there (the caller checks
    // that some even seed did).
    assert!(
        seed.is_multiple_of(2) || prefaulted_values == 0,
        "seed {seed}: {prefaulted_values} values serialized into prefaulted buffers"
    );
    // A FLUSHALL shortly before the snapshot leaves it a handful of keys,
    // which the writer may finish within two slices (sooner in the runs
    // that sleep for the spare thread).
    assert!(
        slices >= 3 || keys_at_snapshot < 1000,
        "seed {seed}: the snapshot of {keys_at_snapshot} keys took only {slices} slice(s)"
    );
    wal.close().expect("the log closes");
    drop(wal);

    let recovered = usher::recovery::recover(dir.path(), State::new(limits), false)
        .unwrap_or_else(|error| panic!("seed {seed}: recovery failed: {error}"));
    assert!(
        recovered.report.snapshot.is_some(),
        "seed {seed}: no snapshot used"
    );
    assert!(
        recovered.report.records > 0,
        "seed {seed}: no log after the snapshot"
    );
    let mut copy = recovered.state;
    let context = format!("seed {seed} fuzzy snapshot");
    assert_same(&state, &copy, &context);
    // Timers first: reads would re-register every queue they touch.
    assert_same_timers(&mut state, &mut copy, now, &context);
    assert_same_timers(&mut state, &mut copy, now + FAR_AHEAD_MS, &context);
    assert_same_behaviour(&mut [&mut state, &mut copy], now + FAR_AHEAD_MS, &context);
    FuzzyRun {
        prefaulted_values,
        segments_after_snapshot: recovered.report.segments.len(),
    }
}

// ---------------------------------------------------------------------------
// The real server: snapshot in the middle, shutdown, recovery
// ---------------------------------------------------------------------------

async fn call(client: &mut Client, words: &[String]) -> Reply {
    tokio::time::timeout(server::TIMEOUT, client.call(&args(words)))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_recovers_queues_and_zsets_from_snapshot_and_log() {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let clock = ManualClock::new(T0);
    let config = Config {
        persist: true,
        dir: dir.path().to_path_buf(),
        fsync: FsyncPolicy::No,
        snapshot_interval_ms: 0,
        snapshot_log_bytes_max: 0,
        ..server::test_config()
    };
    let running = server::start_with_clock(config.clone(), clock.clone()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    let mut rng = Rng(0x5e4e_0001);
    let mut commands = setup();
    commands.extend(filler(0, 50));
    commands.reverse();
    let steps = 500;
    for step in 0..steps {
        let words = match commands.pop() {
            Some(words) => words,
            None if rng.chance(12) => {
                // Time moves; the next request wakes the engine, whose
                // timers then admit and expire on their own.
                clock.advance(rng.below(2500));
                vec!["DBSIZE".into()]
            }
            None => command(&mut rng),
        };
        call(&mut client, &words).await;
        if step == steps / 2 {
            let reply = call(&mut client, &["SNAPSHOT".into()]).await;
            assert_eq!(reply, Reply::simple("Snapshot started"));
        }
    }
    // The snapshot ends on the engine's own time; then more work goes to
    // the log after it.
    let deadline = Instant::now() + server::TIMEOUT;
    loop {
        let info = call(&mut client, &["INFO".into(), "persistence".into()]).await;
        if info_field(&info, "snapshot_in_progress").as_deref() == Some("0") {
            assert_eq!(
                info_field(&info, "last_snapshot_status").as_deref(),
                Some("ok")
            );
            break;
        }
        assert!(Instant::now() < deadline, "the snapshot did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..150 {
        let words = if rng.chance(10) {
            clock.advance(rng.below(2500));
            vec!["DBSIZE".into()]
        } else {
            command(&mut rng)
        };
        call(&mut client, &words).await;
    }
    drop(client);
    let mut state = server::stop(running).await;
    state.check_invariants();

    let recovered = usher::recovery::recover(dir.path(), State::new(config.state_limits()), false)
        .unwrap_or_else(|error| panic!("recovery failed: {error}"));
    assert!(
        recovered.report.snapshot.is_some(),
        "recovery used no snapshot"
    );
    assert!(
        recovered.report.records > 0,
        "no log records after the snapshot"
    );
    let queues = state
        .keyspace
        .iter()
        .filter(|(_, entry)| matches!(entry.value, Value::Queue(_)))
        .count();
    assert!(queues > 0, "the workload left no queue to compare");
    let mut copy = recovered.state;
    let now = clock.now_ms();
    assert_same(&state, &copy, "server");
    // Timers first: reads would re-register every queue they touch.
    assert_same_timers(&mut state, &mut copy, now, "server");
    assert_same_timers(&mut state, &mut copy, now + FAR_AHEAD_MS, "server later");
    assert_same_behaviour(
        &mut [&mut state, &mut copy],
        now + FAR_AHEAD_MS,
        "server later",
    );
}

// ---------------------------------------------------------------------------
// Damaged values and effects that do not fit
// ---------------------------------------------------------------------------

/// A state with one sorted set and one queue that has waiting, active (with
/// and without deadlines) members, a rate window and eta history.
fn sample_state() -> State {
    let mut state = State::new(StateLimits::default());
    for words in [
        &["ZADD", "z", "1", "a", "2.5", "b", "-inf", "c"][..],
        &[
            "QUEUE.CONFIG",
            "q",
            "CAPACITY",
            "3",
            "RATE",
            "5",
            "PER",
            "1000",
            "TTL",
            "900",
        ],
        &["QUEUE.JOIN", "q", "w1"],
        &["QUEUE.JOIN", "q", "w2"],
        &["QUEUE.JOIN", "q", "w3"],
        &["QUEUE.TOUCH", "q", "w1", "TTL", "0"],
        &["QUEUE.JOIN", "q", "w4"],
        &["QUEUE.JOIN", "q", "w5"],
    ] {
        run(&mut state, T0, words);
    }
    state.check_invariants();
    state
}

fn encoded(state: &State, key: &str) -> Vec<u8> {
    let (_, entry) = state
        .keyspace
        .iter()
        .find(|(stored, _)| &stored[..] == key.as_bytes())
        .expect("the sample key exists");
    let mut bytes = Vec::new();
    encode_value(&entry.value, &mut bytes);
    bytes
}

/// Every truncation and every single-byte change of an encoded sorted set
/// and queue either decodes to a value whose invariants hold or is refused
/// with an error: never a panic, never a broken value.
#[test]
fn damaged_values_are_refused_or_sound() {
    let state = sample_state();
    for key in ["z", "q"] {
        let bytes = encoded(&state, key);
        for length in 0..bytes.len() {
            assert!(
                decode_value(&mut Reader::new(&bytes[..length])).is_err(),
                "{key}: a value cut to {length} of {} bytes decoded",
                bytes.len()
            );
        }
        let mut refused = 0;
        for index in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[index] ^= flip;
                match decode_value(&mut Reader::new(&damaged)) {
                    Ok(Value::Zset(zset)) => zset.check_invariants(),
                    Ok(Value::Queue(queue)) => queue.check_invariants(),
                    Ok(_) => {}
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(refused > 0, "{key}: no damage was ever refused");
    }
}

#[test]
fn specific_damage_is_refused_with_a_reason() {
    let state = sample_state();
    // The sorted set: tag, seed, rng, count, then (member, score)s.
    let zset = encoded(&state, "z");
    let mut zero_rng = zset.clone();
    zero_rng[9..17].fill(0);
    let mut nan = zset.clone();
    let first_score = 1 + 8 + 8 + 8 + 4 + 1;
    nan[first_score..first_score + 8].copy_from_slice(&f64::NAN.to_bits().to_le_bytes());
    let mut repeated = zset.clone();
    // Members "c", "a", "b" in score order: rename "a" to "c".
    let second_member = first_score + 8 + 4;
    assert_eq!(repeated[second_member], b'a');
    repeated[second_member] = b'c';
    for (name, bytes, reason) in [
        ("zero generator", zero_rng, "zero generator"),
        ("NaN score", nan, "NaN"),
        ("repeated member", repeated, "repeated"),
    ] {
        match decode_value(&mut Reader::new(&bytes)) {
            Err(error) => assert!(error.0.contains(reason), "{name}: {error}"),
            Ok(_) => panic!("{name}: decoded"),
        }
    }
    // The queue: closing it in the bytes while members wait is refused.
    let queue = encoded(&state, "q");
    let closed_at = 1 + 8 + 7 * 8;
    assert_eq!(queue[closed_at], 0);
    let mut closed = queue.clone();
    closed[closed_at] = 1;
    let error = decode_value(&mut Reader::new(&closed)).expect_err("closed with waiting members");
    assert!(error.0.contains("closed"), "{error}");
    let mut flag = queue.clone();
    flag[closed_at] = 2;
    assert!(decode_value(&mut Reader::new(&flag)).is_err());
}

#[test]
fn effects_that_do_not_fit_are_replay_errors() {
    let key = Key::copy_from_slice(b"q");
    let member = |name: &'static str| Bytes::from_static(name.as_bytes());
    let cases = [
        Effect::Queue(QueueEffect::Admit {
            key: key.clone(),
            member: member("w5"),
            at_ms: T0,
            deadline_ms: None,
            automatic: false,
        }),
        Effect::Queue(QueueEffect::Join {
            key: key.clone(),
            member: member("w4"),
        }),
        Effect::Queue(QueueEffect::Expire {
            key: key.clone(),
            member: member("w1"),
        }),
        Effect::Queue(QueueEffect::Leave {
            key: key.clone(),
            member: member("nobody"),
        }),
        Effect::Queue(QueueEffect::Touch {
            key: key.clone(),
            member: member("w5"),
            deadline_ms: Some(T0 + 5),
        }),
        Effect::Zset(ZsetEffect::Remove {
            key: Key::copy_from_slice(b"z"),
            member: member("nobody"),
        }),
        Effect::Zset(ZsetEffect::Set {
            key: key.clone(),
            member: member("a"),
            score: 1.0,
        }),
    ];
    for effect in cases {
        let mut state = sample_state();
        let before = dump(&state);
        assert!(state.replay(&effect).is_err(), "{effect:?} was replayed");
        assert_eq!(before, dump(&state), "{effect:?} changed the state");
    }
    // A delta on a key that is gone is skipped: the key was deleted before
    // a snapshot reached it, and its Delete follows in the log.
    let mut state = sample_state();
    let effect = Effect::Queue(QueueEffect::Join {
        key: Key::copy_from_slice(b"gone"),
        member: member("x"),
    });
    assert_eq!(state.replay(&effect), Ok(()));
    assert_eq!(state.keyspace.len(), 2);
}

/// A big queue with heavy churn: its line is renumbered and its arena
/// chunks evacuated along the way, which must not show in replay, neither
/// from the log alone nor on top of a decoded copy.
#[test]
fn large_queue_churn_replays() {
    let limits = StateLimits::default();
    let mut original = State::with_seed(limits, 3);
    original.keyspace.set_recording(true);
    let mut from_log = State::new(limits);
    let mut from_snapshot: Option<State> = None;
    let id = |index: u64| format!("user-{index:06}-abcdefghijkl");
    let mut now = T0;
    let mut script: Vec<Vec<String>> = Vec::new();
    let words = |items: &[&str]| items.iter().map(|item| item.to_string()).collect();
    script.push(words(&["QUEUE.CONFIG", "big", "TTL", "3000"]));
    for index in 0..12_000 {
        script.push(vec!["QUEUE.JOIN".into(), "big".into(), id(index)]);
    }
    for index in (0..12_000).filter(|index| index % 6 != 0) {
        script.push(vec!["QUEUE.LEAVE".into(), "big".into(), id(index)]);
    }
    script.push(words(&["QUEUE.ADMIT", "big", "500"]));
    let snapshot_at = script.len();
    script.push(words(&[
        "QUEUE.CONFIG",
        "big",
        "CAPACITY",
        "300",
        "RATE",
        "100",
        "PER",
        "1000",
    ]));
    for index in 12_000..14_000 {
        script.push(vec!["QUEUE.JOIN".into(), "big".into(), id(index)]);
    }
    for (step, words) in script.iter().enumerate() {
        if step % 1000 == 999 {
            now += 700;
            while original.run_timers(now, 64) == 64 {}
        }
        apply(&mut original, now, words);
        let effects = std::mem::take(original.keyspace.effects_mut());
        replay_all(&mut from_log, &effects, "churn");
        if let Some(copy) = &mut from_snapshot {
            replay_all(copy, &effects, "churn (snapshot)");
        }
        if step == snapshot_at {
            from_snapshot = Some(copy_through_encoding(&original));
        }
    }
    for _ in 0..40 {
        now += 400;
        while original.run_timers(now, 64) == 64 {}
        let effects = std::mem::take(original.keyspace.effects_mut());
        replay_all(&mut from_log, &effects, "churn timers");
        if let Some(copy) = &mut from_snapshot {
            replay_all(copy, &effects, "churn timers (snapshot)");
        }
    }
    original.check_invariants();
    let mut copy = from_snapshot.expect("the copy was taken");
    assert_same(&original, &from_log, "churn");
    assert_same(&original, &copy, "churn (snapshot)");
    round_trip_values(&original, "churn");
    assert_same_timers(&mut original, &mut copy, now, "churn");
    assert_same_behaviour(&mut [&mut original, &mut from_log, &mut copy], now, "churn");
}

/// Closing a crowd: more members waiting than the rebuild threshold (4096)
/// and than are active, so `QUEUE.CLOSE` rebuilds the member table from the
/// active members and hands the old one to the graveyard. The queue left
/// must be the one the log and a decoded copy rebuild, and behave alike
/// after: active members keep their deadlines (some have none) and expire
/// in the same order, the dropped are gone.
#[test]
fn closing_a_crowd_replays_and_behaves_alike() {
    for (waiting, rebuilt) in [(6_000u64, true), (1_000, false)] {
        let context = format!("close of {waiting}");
        let limits = StateLimits::default();
        let mut original = State::with_seed(limits, 11);
        original.keyspace.set_recording(true);
        original.keyspace.graveyard.set_lazy(true);
        let id = |index: u64| format!("fan-{index:06}");
        let mut now = T0;
        run(&mut original, now, &["QUEUE.CONFIG", "crowd"]);
        for index in 0..waiting + 130 {
            run(&mut original, now, &["QUEUE.JOIN", "crowd", &id(index)]);
        }
        // The first hundred leave, so the members admitted next do not sit
        // in the table's first slots, and a rebuilt table renumbers them.
        for index in 0..100 {
            run(&mut original, now, &["QUEUE.LEAVE", "crowd", &id(index)]);
        }
        // Active without a deadline, then with two different ones.
        run(&mut original, now, &["QUEUE.ADMIT", "crowd", "10"]);
        now += 1;
        run(
            &mut original,
            now,
            &["QUEUE.CONFIG", "crowd", "TTL", "1000"],
        );
        run(&mut original, now, &["QUEUE.ADMIT", "crowd", "10"]);
        now += 1;
        run(&mut original, now, &["QUEUE.CONFIG", "crowd", "TTL", "500"]);
        run(&mut original, now, &["QUEUE.ADMIT", "crowd", "10"]);
        // Some of the crowd left first: the line has gaps.
        for index in (130..waiting + 130).step_by(7) {
            run(&mut original, now, &["QUEUE.LEAVE", "crowd", &id(index)]);
        }
        let left = (130..waiting + 130).step_by(7).count() as i64;
        let before = original.keyspace.graveyard.len();
        assert_eq!(
            run(&mut original, now, &["QUEUE.CLOSE", "crowd"]),
            Reply::Int(waiting as i64 - left),
            "{context}"
        );
        assert_eq!(
            original.keyspace.graveyard.len() - before,
            usize::from(rebuilt),
            "{context}: the old table went to the graveyard only when rebuilt"
        );
        original.check_invariants();
        let effects: Vec<Effect> = std::mem::take(original.keyspace.effects_mut())
            .iter()
            .map(through_bytes)
            .collect();
        let mut from_log = State::new(limits);
        replay_all(&mut from_log, &effects, &context);
        let mut copy = copy_through_encoding(&original);
        assert_same(&original, &from_log, &context);
        assert_same(&original, &copy, &context);
        round_trip_values(&original, &context);
        assert_eq!(
            run(&mut original, now, &["QUEUE.POS", "crowd", &id(140)]),
            run(&mut original, now, &["QUEUE.POS", "crowd", "stranger"]),
            "{context}: a dropped member is gone"
        );
        for at in [now, T0 + 503, T0 + 1002, T0 + 5000] {
            assert_same_behaviour(
                &mut [&mut original, &mut from_log, &mut copy],
                at,
                &format!("{context} at +{}", at - T0),
            );
        }
        let Reply::Map(info) = run(&mut original, T0 + 5000, &["QUEUE.INFO", "crowd"]) else {
            panic!("{context}: QUEUE.INFO is a map");
        };
        let field = |name: &str| {
            info.iter()
                .find(|(key, _)| *key == Reply::Bulk(Bytes::copy_from_slice(name.as_bytes())))
                .map(|(_, value)| value.clone())
        };
        assert_eq!(field("active"), Some(Reply::Int(10)), "{context}");
        assert_eq!(field("expired_total"), Some(Reply::Int(20)), "{context}");
        assert_eq!(field("waiting"), Some(Reply::Int(0)), "{context}");
    }
}
