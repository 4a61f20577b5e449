//! Hashes through `State::apply`: Redis replies and errors, limits, the
//! effects a change records, and a property test against a `BTreeMap`
//! model. Mirrors `src/state/hash/`.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use usher::client::args;
use usher::protocol::{parse, ErrorCode, Reply};
use usher::state::{Effect, HashEffect, KeyEffect, State, StateLimits};

use crate::support;

const NOW: u64 = 1_700_000_000_000;

fn run(state: &mut State, words: &[&str]) -> Reply {
    let arguments = args(words);
    match parse(&arguments) {
        Ok(request) => {
            let reply = state.apply(&request, NOW);
            state.check_invariants();
            reply
        }
        Err(error) => Reply::Error(error),
    }
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

fn error_text(reply: &Reply) -> String {
    match reply {
        Reply::Error(error) => error.message.to_string(),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn fresh() -> State {
    State::new(StateLimits::default())
}

/// The bulk strings of an array reply, sorted (hash order is unspecified).
fn sorted_texts(reply: &Reply) -> Vec<String> {
    let Reply::Array(items) = reply else {
        panic!("expected an array, got {reply:?}");
    };
    let mut texts: Vec<String> = items.iter().map(text).collect();
    texts.sort();
    texts
}

fn text(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Reply::BulkInline(inline) => String::from_utf8_lossy(inline.as_bytes()).into_owned(),
        Reply::BulkInt(number) => number.to_string(),
        other => panic!("expected a string, got {other:?}"),
    }
}

/// HGETALL as sorted (field, value) pairs.
fn all_pairs(state: &mut State, key: &str) -> Vec<(String, String)> {
    let Reply::Map(pairs) = run(state, &["HGETALL", key]) else {
        panic!("HGETALL is a map");
    };
    let mut pairs: Vec<(String, String)> = pairs.iter().map(|(f, v)| (text(f), text(v))).collect();
    pairs.sort();
    pairs
}

#[test]
fn hset_hget_and_friends() {
    let mut s = fresh();
    assert_eq!(
        run(&mut s, &["HSET", "h", "a", "1", "b", "two", "a", "3"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut s, &["HSET", "h", "b", "2", "c", "x"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut s, &["HMSET", "h", "d", "4"]), Reply::OK);
    assert_eq!(text(&run(&mut s, &["HGET", "h", "a"])), "3");
    assert_eq!(run(&mut s, &["HGET", "h", "nope"]), Reply::Nil);
    assert_eq!(run(&mut s, &["HGET", "missing", "a"]), Reply::Nil);
    let Reply::Array(values) = run(&mut s, &["HMGET", "h", "a", "nope", "c"]) else {
        panic!("HMGET is an array");
    };
    assert_eq!(text(&values[0]), "3");
    assert_eq!(values[1], Reply::Nil);
    assert_eq!(text(&values[2]), "x");
    assert_eq!(
        run(&mut s, &["HMGET", "missing", "a", "b"]),
        Reply::Array(vec![Reply::Nil, Reply::Nil])
    );
    assert_eq!(run(&mut s, &["HLEN", "h"]), Reply::Int(4));
    assert_eq!(run(&mut s, &["HLEN", "missing"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["HEXISTS", "h", "a"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["HEXISTS", "h", "z"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["HSTRLEN", "h", "a"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["HSET", "h", "n", "-1234"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["HSTRLEN", "h", "n"]), Reply::Int(5));
    assert_eq!(run(&mut s, &["HSTRLEN", "h", "z"]), Reply::Int(0));
    assert_eq!(
        sorted_texts(&run(&mut s, &["HKEYS", "h"])),
        ["a", "b", "c", "d", "n"]
    );
    assert_eq!(
        sorted_texts(&run(&mut s, &["HVALS", "h"])),
        ["-1234", "2", "3", "4", "x"]
    );
    assert_eq!(run(&mut s, &["HKEYS", "missing"]), Reply::Array(vec![]));
    assert_eq!(run(&mut s, &["HGETALL", "missing"]), Reply::Map(vec![]));
    assert_eq!(run(&mut s, &["TYPE", "h"]), Reply::simple("hash"));
    assert_eq!(run(&mut s, &["HSETNX", "h", "a", "9"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["HSETNX", "h", "new", "9"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["HSETNX", "other", "f", "v"]), Reply::Int(1));
    assert_eq!(text(&run(&mut s, &["HGET", "h", "a"])), "3");
}

#[test]
fn integers_keep_their_text() {
    let mut s = fresh();
    // Only canonical integers are stored as numbers; the rest read back
    // byte for byte.
    for value in [
        "007",
        "-0",
        "+5",
        " 5",
        "1.0",
        "9223372036854775808",
        "-9223372036854775808",
        "0",
    ] {
        run(&mut s, &["HSET", "h", "f", value]);
        assert_eq!(text(&run(&mut s, &["HGET", "h", "f"])), value);
        assert_eq!(
            run(&mut s, &["HSTRLEN", "h", "f"]),
            Reply::Int(value.len() as i64)
        );
    }
}

#[test]
fn hdel_of_the_last_field_deletes_the_key() {
    let mut s = fresh();
    run(&mut s, &["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(run(&mut s, &["HDEL", "h", "a", "nope", "a"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["EXISTS", "h"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["HDEL", "h", "b"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["EXISTS", "h"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["HDEL", "h", "b"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["DBSIZE"]), Reply::Int(0));
}

#[test]
fn wrong_type_and_arity() {
    let mut s = fresh();
    run(&mut s, &["SET", "s", "x"]);
    for words in [
        &["HSET", "s", "a", "1"][..],
        &["HMSET", "s", "a", "1"],
        &["HSETNX", "s", "a", "1"],
        &["HGET", "s", "a"],
        &["HMGET", "s", "a"],
        &["HGETALL", "s"],
        &["HDEL", "s", "a"],
        &["HEXISTS", "s", "a"],
        &["HLEN", "s"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HINCRBY", "s", "a", "1"],
        &["HINCRBYFLOAT", "s", "a", "1"],
        &["HSTRLEN", "s", "a"],
        &["HSCAN", "s", "0"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "2"],
    ] {
        let reply = run(&mut s, words);
        assert_eq!(
            error_text(&reply),
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "{words:?}"
        );
    }
    run(&mut s, &["HSET", "h", "f", "1"]);
    assert_eq!(
        error_text(&run(&mut s, &["GET", "h"])),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    for (words, name) in [
        (&["HSET", "h", "a"][..], "hset"),
        (&["HSET", "h", "a", "1", "b"], "hset"),
        (&["HMSET", "h", "a", "1", "b"], "hmset"),
        (&["HGET", "h"], "hget"),
        (&["HGET", "h", "a", "b"], "hget"),
        (&["HDEL", "h"], "hdel"),
        (&["HINCRBY", "h", "a"], "hincrby"),
        (&["HRANDFIELD"], "hrandfield"),
        (&["HSCAN", "h"], "hscan"),
    ] {
        assert_eq!(
            error_text(&run(&mut s, words)),
            format!("ERR wrong number of arguments for '{name}' command"),
            "{words:?}"
        );
    }
    assert_eq!(text(&run(&mut s, &["HGET", "h", "f"])), "1");
}

#[test]
fn hincrby_errors_and_overflow() {
    let mut s = fresh();
    assert_eq!(run(&mut s, &["HINCRBY", "h", "n", "5"]), Reply::Int(5));
    assert_eq!(run(&mut s, &["HINCRBY", "h", "n", "-7"]), Reply::Int(-2));
    // Across every integer width, in place and not.
    let mut expected = -2i64;
    for delta in [
        100,
        30_000,
        2_000_000_000,
        5_000_000_000,
        -5_000_000_000,
        -2_000_030_100,
    ] {
        expected += delta;
        assert_eq!(
            run(&mut s, &["HINCRBY", "h", "n", &delta.to_string()]),
            Reply::Int(expected)
        );
    }
    assert_eq!(
        text(&run(&mut s, &["HGET", "h", "n"])),
        expected.to_string()
    );
    run(
        &mut s,
        &["HSET", "h", "big", &i64::MAX.to_string(), "text", "abc"],
    );
    assert_eq!(
        error_text(&run(&mut s, &["HINCRBY", "h", "big", "1"])),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        error_text(&run(&mut s, &["HINCRBY", "h", "text", "1"])),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        error_text(&run(&mut s, &["HINCRBY", "h", "n", "x"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        text(&run(&mut s, &["HGET", "h", "big"])),
        i64::MAX.to_string()
    );
    assert_eq!(
        run(&mut s, &["HINCRBY", "h", "big", "-1"]),
        Reply::Int(i64::MAX - 1)
    );
}

#[test]
fn hincrbyfloat_formats_like_redis() {
    let mut s = fresh();
    // Replies checked against redis-server 7.0.
    for (delta, expected) in [
        ("0.1", "0.1"),
        ("0.2", "0.3"),
        ("-0.3", "0"),
        ("1e20", "100000000000000000000"),
        ("-1e20", "0"),
        ("1e-7", "0.0000001"),
        ("5", "5.0000001"),
        ("-5.0000001", "0"),
        ("2.5", "2.5"),
    ] {
        assert_eq!(
            run(&mut s, &["HINCRBYFLOAT", "h", "f", delta]),
            bulk(expected),
            "+{delta}"
        );
        assert_eq!(text(&run(&mut s, &["HGET", "h", "f"])), expected);
    }
    run(&mut s, &["HSET", "h", "e", "1.5e3", "text", "abc"]);
    assert_eq!(run(&mut s, &["HINCRBYFLOAT", "h", "e", "1"]), bulk("1501"));
    assert_eq!(
        error_text(&run(&mut s, &["HINCRBYFLOAT", "h", "text", "1"])),
        "ERR hash value is not a float"
    );
    assert_eq!(
        error_text(&run(&mut s, &["HINCRBYFLOAT", "h", "e", "inf"])),
        "ERR value is NaN or Infinity"
    );
    assert_eq!(
        error_text(&run(&mut s, &["HINCRBYFLOAT", "h", "e", "abc"])),
        "ERR value is not a valid float"
    );
    run(&mut s, &["HSET", "h", "huge", "1.7976931348623157e308"]);
    assert_eq!(
        error_text(&run(
            &mut s,
            &["HINCRBYFLOAT", "h", "huge", "1.7976931348623157e308"]
        )),
        "ERR increment would produce NaN or Infinity"
    );
    // The result of an integer sum is stored as an integer: HINCRBY works.
    assert_eq!(run(&mut s, &["HINCRBY", "h", "e", "1"]), Reply::Int(1502));
}

#[test]
fn hrandfield_counts_and_values() {
    let mut s = fresh();
    assert_eq!(run(&mut s, &["HRANDFIELD", "h"]), Reply::Nil);
    assert_eq!(run(&mut s, &["HRANDFIELD", "h", "3"]), Reply::Array(vec![]));
    assert_eq!(
        run(&mut s, &["HRANDFIELD", "h", "-3", "WITHVALUES"]),
        Reply::Array(vec![])
    );
    for i in 0..50 {
        run(&mut s, &["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
    }
    let one = text(&run(&mut s, &["HRANDFIELD", "h"]));
    assert!(one.starts_with('f'));
    // Deterministic given the state and the time.
    assert_eq!(text(&run(&mut s, &["HRANDFIELD", "h"])), one);
    assert_eq!(run(&mut s, &["HRANDFIELD", "h", "0"]), Reply::Array(vec![]));
    let distinct = sorted_texts(&run(&mut s, &["HRANDFIELD", "h", "20"]));
    let mut unique = distinct.clone();
    unique.dedup();
    assert_eq!((distinct.len(), unique.len()), (20, 20));
    let all = sorted_texts(&run(&mut s, &["HRANDFIELD", "h", "500"]));
    assert_eq!(all.len(), 50);
    let Reply::Array(repeats) = run(&mut s, &["HRANDFIELD", "h", "-200"]) else {
        panic!("an array");
    };
    assert_eq!(repeats.len(), 200);
    let Reply::Pairs(pairs) = run(&mut s, &["HRANDFIELD", "h", "-5", "WITHVALUES"]) else {
        panic!("pairs");
    };
    assert_eq!(pairs.len(), 5);
    for (field, value) in &pairs {
        assert_eq!(text(field).replacen('f', "v", 1), text(value));
    }
    assert_eq!(
        error_text(&run(&mut s, &["HRANDFIELD", "h", "1", "WITHVALUE"])),
        "ERR syntax error"
    );
    assert_eq!(
        error_text(&run(&mut s, &["HRANDFIELD", "h", "x"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error_text(&run(
            &mut s,
            &["HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"]
        )),
        "ERR value is out of range"
    );
    assert_eq!(
        error_text(&run(&mut s, &["HRANDFIELD", "h", "-9223372036854775808"])),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    // A reply larger than reply_items_max is refused.
    let mut small = State::new(StateLimits {
        reply_items_max: 10,
        ..StateLimits::default()
    });
    run(&mut small, &["HSET", "h", "a", "1"]);
    assert_eq!(
        error_code(&run(&mut small, &["HRANDFIELD", "h", "-11"])),
        ErrorCode::Limit
    );
    assert!(
        matches!(run(&mut small, &["HRANDFIELD", "h", "11"]), Reply::Array(items) if items.len() == 1)
    );
}

fn error_code(reply: &Reply) -> ErrorCode {
    match reply {
        Reply::Error(error) => error.code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn limits_refuse_and_change_nothing() {
    let mut s = State::new(StateLimits {
        hash_fields_max: 3,
        member_bytes_max: 4,
        reply_items_max: 2,
        ..StateLimits::default()
    });
    assert_eq!(
        run(&mut s, &["HSET", "h", "a", "1", "b", "2"]),
        Reply::Int(2)
    );
    let over = run(&mut s, &["HSET", "h", "c", "3", "d", "4"]);
    assert_eq!(
        error_text(&over),
        "ERR hash would exceed hash_fields_max (3)"
    );
    assert_eq!(error_code(&over), ErrorCode::Limit);
    // Fields already there and repeats do not count.
    assert_eq!(
        run(&mut s, &["HSET", "h", "a", "9", "c", "3", "c", "4"]),
        Reply::Int(1)
    );
    assert_eq!(
        error_code(&run(&mut s, &["HINCRBY", "h", "d", "1"])),
        ErrorCode::Limit
    );
    assert_eq!(
        error_code(&run(&mut s, &["HSETNX", "h", "d", "1"])),
        ErrorCode::Limit
    );
    assert_eq!(
        error_code(&run(&mut s, &["HSET", "h", "long!", "1"])),
        ErrorCode::Limit
    );
    assert_eq!(
        error_code(&run(&mut s, &["HSET", "new", "long!", "1"])),
        ErrorCode::Limit
    );
    assert_eq!(run(&mut s, &["EXISTS", "new"]), Reply::Int(0));
    assert_eq!(
        error_code(&run(&mut s, &["HGETALL", "h"])),
        ErrorCode::Limit
    );
    assert_eq!(error_code(&run(&mut s, &["HKEYS", "h"])), ErrorCode::Limit);
    assert_eq!(run(&mut s, &["HLEN", "h"]), Reply::Int(3));
}

#[test]
fn hscan_visits_every_field_present_throughout() {
    let mut s = fresh();
    for i in 0..300 {
        run(&mut s, &["HSET", "h", &format!("f{i}"), &i.to_string()]);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let Reply::Array(parts) = run(&mut s, &["HSCAN", "h", &cursor, "COUNT", "7"]) else {
            panic!("HSCAN is an array");
        };
        let Reply::Array(items) = &parts[1] else {
            panic!("items");
        };
        for pair in items.chunks(2) {
            seen.insert(text(&pair[0]));
        }
        // Changes while scanning: removals before and after the cursor,
        // and additions.
        run(&mut s, &["HDEL", "h", &format!("f{}", 299 - calls)]);
        run(&mut s, &["HSET", "h", &format!("new{calls}"), "1"]);
        calls += 1;
        cursor = text(&parts[0]);
        if cursor == "0" {
            break;
        }
    }
    for i in 0..300 - calls {
        assert!(seen.contains(&format!("f{i}")), "f{i} missed");
    }
    let Reply::Array(parts) = run(
        &mut s,
        &["HSCAN", "h", "0", "MATCH", "f1?", "COUNT", "1000"],
    ) else {
        panic!("HSCAN is an array");
    };
    assert_eq!(parts[0], bulk("0"));
    assert_eq!(sorted_texts(&parts[1]).len(), 20);
    assert_eq!(
        error_text(&run(&mut s, &["HSCAN", "h", "x"])),
        "ERR invalid cursor"
    );
    assert_eq!(
        error_text(&run(&mut s, &["HSCAN", "h", "0", "COUNT", "0"])),
        "ERR syntax error"
    );
    assert_eq!(
        run(&mut s, &["HSCAN", "missing", "0"]),
        Reply::Array(vec![bulk("0"), Reply::Array(vec![])])
    );
}

#[test]
fn changes_record_field_effects_and_a_put_for_a_new_key() {
    let mut s = fresh();
    s.keyspace.set_recording(true);
    run(&mut s, &["HSET", "h", "a", "1", "b", "x"]);
    run(&mut s, &["HINCRBY", "h", "a", "4"]);
    run(&mut s, &["HSET", "h", "b", "y"]);
    run(&mut s, &["HDEL", "h", "a", "nope"]);
    run(&mut s, &["HDEL", "h", "b"]);
    run(&mut s, &["HGET", "h", "a"]);
    let effects: Vec<Effect> = s.keyspace.effects_mut().drain(..).collect();
    assert!(matches!(&effects[0], Effect::Key(KeyEffect::Put { .. })));
    let kinds: Vec<String> = effects[1..]
        .iter()
        .map(|effect| match effect {
            Effect::Hash(HashEffect::Set { field, value, .. }) => {
                format!("set {} {value:?}", String::from_utf8_lossy(field))
            }
            Effect::Hash(HashEffect::Remove { field, .. }) => {
                format!("remove {}", String::from_utf8_lossy(field))
            }
            Effect::Key(KeyEffect::Delete { .. }) => "delete".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "set a Int(5)",
            "set b Bytes(b\"y\")",
            "remove a",
            "remove b",
            "delete"
        ]
    );
}

/// `State::prefetch` is a cache hint: HSET, HGET and HINCRBY give the same
/// replies with it as without.
#[test]
fn prefetching_hash_commands_leaves_replies_unchanged() {
    let commands: [&[&str]; 6] = [
        &["HSET", "h", "a", "1"],
        &["HGET", "h", "a"],
        &["HINCRBY", "h", "a", "2"],
        &["HINCRBY", "h", "new", "2"],
        &["HGET", "str", "a"],
        &["HGET", "missing", "a"],
    ];
    support::state::assert_prefetch_changes_no_reply(&["HSET h seed 0", "SET str x"], &commands);
}

#[derive(Debug, Clone)]
enum Op {
    Set(Vec<(u8, i16)>),
    SetText(u8, String),
    Del(Vec<u8>),
    Incr(u8, i64),
    Get(u8),
}

fn op() -> impl Strategy<Value = Op> {
    // Few field names so that changes hit existing fields, and enough to
    // cross the indexed form's threshold.
    let field = 0u8..60;
    prop_oneof![
        3 => proptest::collection::vec((field.clone(), any::<i16>()), 1..6).prop_map(Op::Set),
        1 => (field.clone(), "[a-z]{0,12}").prop_map(|(f, v)| Op::SetText(f, v)),
        2 => proptest::collection::vec(field.clone(), 1..4).prop_map(Op::Del),
        2 => (field.clone(), -100_000i64..100_000).prop_map(|(f, d)| Op::Incr(f, d)),
        1 => field.prop_map(Op::Get),
    ]
}

fn cases() -> u32 {
    std::env::var("USHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn name(field: u8) -> String {
    // Some fields long enough for the escaped length form.
    if field.is_multiple_of(7) {
        format!("a-long-field-name-of-more-than-31-bytes-{field}")
    } else {
        format!("f{field}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn hash_matches_model(ops in proptest::collection::vec(op(), 1..250)) {
        let mut s = fresh();
        let mut model: BTreeMap<String, String> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Set(pairs) => {
                    let mut words = vec!["HSET".to_string(), "h".to_string()];
                    let mut added = std::collections::BTreeSet::new();
                    for (field, value) in &pairs {
                        words.push(name(*field));
                        words.push(value.to_string());
                        if !model.contains_key(&name(*field)) {
                            added.insert(name(*field));
                        }
                    }
                    for (field, value) in &pairs {
                        model.insert(name(*field), value.to_string());
                    }
                    let words: Vec<&str> = words.iter().map(String::as_str).collect();
                    prop_assert_eq!(run(&mut s, &words), Reply::Int(added.len() as i64));
                }
                Op::SetText(field, value) => {
                    let added = !model.contains_key(&name(field));
                    model.insert(name(field), value.clone());
                    prop_assert_eq!(run(&mut s, &["HSET", "h", &name(field), &value]), Reply::Int(i64::from(added)));
                }
                Op::Del(fields) => {
                    let mut words = vec!["HDEL".to_string(), "h".to_string()];
                    let mut removed = 0;
                    for field in fields {
                        words.push(name(field));
                        if model.remove(&name(field)).is_some() {
                            removed += 1;
                        }
                    }
                    let words: Vec<&str> = words.iter().map(String::as_str).collect();
                    prop_assert_eq!(run(&mut s, &words), Reply::Int(removed));
                }
                Op::Incr(field, delta) => {
                    let reply = run(&mut s, &["HINCRBY", "h", &name(field), &delta.to_string()]);
                    let old = model.get(&name(field)).cloned().unwrap_or_else(|| "0".into());
                    match old.parse::<i64>().ok().filter(|n| n.to_string() == old) {
                        Some(number) => {
                            prop_assert_eq!(reply, Reply::Int(number + delta));
                            model.insert(name(field), (number + delta).to_string());
                        }
                        None => prop_assert_eq!(error_text(&reply), "ERR hash value is not an integer"),
                    }
                }
                Op::Get(field) => {
                    let reply = run(&mut s, &["HGET", "h", &name(field)]);
                    match model.get(&name(field)) {
                        Some(value) => prop_assert_eq!(text(&reply), value.clone()),
                        None => prop_assert_eq!(reply, Reply::Nil),
                    }
                }
            }
            prop_assert_eq!(run(&mut s, &["HLEN", "h"]), Reply::Int(model.len() as i64));
            prop_assert_eq!(run(&mut s, &["EXISTS", "h"]), Reply::Int(i64::from(!model.is_empty())));
        }
        let expected: Vec<(String, String)> = model.into_iter().collect();
        prop_assert_eq!(all_pairs(&mut s, "h"), expected);
    }
}
