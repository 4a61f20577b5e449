//! Sorted sets through `State::apply`: Redis replies and errors, and a
//! property test against a `BTreeMap` model. Mirrors `src/state/zset.rs`.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use usher::client::args;
use usher::protocol::{parse, ErrorCode, Reply};
use usher::state::{State, StateLimits};

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

/// Like [`run`] without the O(n) invariant check, for large sets.
fn run_unchecked(state: &mut State, words: &[&str]) -> Reply {
    let arguments = args(words);
    match parse(&arguments) {
        Ok(request) => state.apply(&request, NOW),
        Err(error) => Reply::Error(error),
    }
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|item| bulk(item)).collect())
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

#[test]
fn zadd_counts_added_and_changed() {
    let mut s = fresh();
    assert_eq!(
        run(&mut s, &["ZADD", "z", "1", "a", "2", "b"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut s, &["ZADD", "z", "5", "a", "3", "c"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut s, &["ZADD", "z", "CH", "6", "a", "3", "c", "1", "d"]),
        Reply::Int(2)
    );
    assert_eq!(run(&mut s, &["ZSCORE", "z", "a"]), Reply::Double(6.0));
    assert_eq!(run(&mut s, &["ZCARD", "z"]), Reply::Int(4));
    assert_eq!(run(&mut s, &["TYPE", "z"]), Reply::simple("zset"));
}

#[test]
fn zadd_conditions() {
    let mut s = fresh();
    run(&mut s, &["ZADD", "z", "5", "a"]);
    assert_eq!(
        run(&mut s, &["ZADD", "z", "NX", "1", "a", "1", "b"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut s, &["ZSCORE", "z", "a"]), Reply::Double(5.0));
    assert_eq!(
        run(&mut s, &["ZADD", "z", "XX", "7", "a", "1", "c"]),
        Reply::Int(0)
    );
    assert_eq!(run(&mut s, &["ZSCORE", "z", "a"]), Reply::Double(7.0));
    assert_eq!(run(&mut s, &["ZSCORE", "z", "c"]), Reply::Nil);
    // GT only raises, LT only lowers; both still add new members.
    assert_eq!(
        run(&mut s, &["ZADD", "z", "GT", "CH", "3", "a", "9", "d"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut s, &["ZSCORE", "z", "a"]), Reply::Double(7.0));
    assert_eq!(
        run(&mut s, &["ZADD", "z", "LT", "CH", "3", "a"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut s, &["ZSCORE", "z", "a"]), Reply::Double(3.0));
    // XX on a missing key creates nothing.
    assert_eq!(
        run(&mut s, &["ZADD", "none", "XX", "1", "a"]),
        Reply::Int(0)
    );
    assert_eq!(run(&mut s, &["EXISTS", "none"]), Reply::Int(0));
}

#[test]
fn zadd_incr_and_zincrby() {
    let mut s = fresh();
    assert_eq!(
        run(&mut s, &["ZADD", "z", "INCR", "2.5", "a"]),
        Reply::Double(2.5)
    );
    assert_eq!(
        run(&mut s, &["ZINCRBY", "z", "-1", "a"]),
        Reply::Double(1.5)
    );
    assert_eq!(
        run(&mut s, &["ZADD", "z", "NX", "INCR", "1", "a"]),
        Reply::Nil
    );
    assert_eq!(
        run(&mut s, &["ZINCRBY", "z", "inf", "a"]),
        Reply::Double(f64::INFINITY)
    );
    let nan = run(&mut s, &["ZINCRBY", "z", "-inf", "a"]);
    assert_eq!(
        error_text(&nan),
        "ERR resulting score is not a number (NaN)"
    );
    assert_eq!(
        run(&mut s, &["ZSCORE", "z", "a"]),
        Reply::Double(f64::INFINITY)
    );
}

#[test]
fn zadd_errors_match_redis() {
    let mut s = fresh();
    let cases: &[(&[&str], &str)] = &[
        (
            &["ZADD", "z", "NX", "XX", "1", "a"],
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "GT", "LT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "GT", "NX", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "INCR", "1", "a", "2", "b"],
            "ERR INCR option supports a single increment-element pair",
        ),
        (&["ZADD", "z", "1", "a", "2"], "ERR syntax error"),
        (&["ZADD", "z", "nan", "a"], "ERR value is not a valid float"),
        (&["ZADD", "z", "x", "a"], "ERR value is not a valid float"),
        (
            &["ZADD", "z", "1"],
            "ERR wrong number of arguments for 'zadd' command",
        ),
        (
            &["ZCOUNT", "z", "(1", "(x"],
            "ERR min or max is not a float",
        ),
        (
            &["ZRANGEBYSCORE", "z", "x", "1"],
            "ERR min or max is not a float",
        ),
        (
            &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"],
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (&["ZRANGE", "z", "0", "1", "REV", "REV"], "ERR syntax error"),
        (
            &["ZRANGE", "z", "(1", "2", "BYSCORE", "LIMIT", "0"],
            "ERR syntax error",
        ),
        (
            &["ZRANGE", "z", "a", "1"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZPOPMIN", "z", "-1"],
            "ERR value is out of range, must be positive",
        ),
        (
            &["ZREMRANGEBYRANK", "z", "a", "1"],
            "ERR value is not an integer or out of range",
        ),
        (&["ZRANK", "z", "a", "WITHSCORES"], "ERR syntax error"),
    ];
    for (command, expected) in cases {
        assert_eq!(error_text(&run(&mut s, command)), *expected, "{command:?}");
    }
    // None of them created the key.
    assert_eq!(run(&mut s, &["EXISTS", "z"]), Reply::Int(0));
}

#[test]
fn wrong_type_both_ways() {
    let mut s = fresh();
    run(&mut s, &["SET", "s", "x"]);
    run(&mut s, &["ZADD", "z", "1", "a"]);
    for command in [
        &["ZADD", "s", "1", "a"][..],
        &["ZSCORE", "s", "a"],
        &["ZRANGE", "s", "0", "-1"],
        &["ZRANK", "s", "a"],
        &["ZPOPMIN", "s"],
        &["GET", "z"],
        &["INCR", "z"],
        &["INCRBOUND", "z", "1", "MAX", "5"],
        &["SET", "z", "v", "GET"],
    ] {
        assert_eq!(
            run(&mut s, command),
            Reply::Error(usher::protocol::ServerError::WRONG_TYPE),
            "{command:?}"
        );
    }
    // SET without GET replaces a sorted set, as in Redis.
    assert_eq!(run(&mut s, &["SET", "z", "v"]), Reply::OK);
    assert_eq!(run(&mut s, &["TYPE", "z"]), Reply::simple("string"));
}

#[test]
fn ranks_and_ranges() {
    let mut s = fresh();
    run(
        &mut s,
        &[
            "ZADD", "z", "1", "a", "2", "b", "2", "c", "3", "d", "5", "e",
        ],
    );
    assert_eq!(run(&mut s, &["ZRANK", "z", "c"]), Reply::Int(2));
    assert_eq!(run(&mut s, &["ZREVRANK", "z", "c"]), Reply::Int(2));
    assert_eq!(run(&mut s, &["ZREVRANK", "z", "e"]), Reply::Int(0));
    assert_eq!(
        run(&mut s, &["ZRANK", "z", "d", "WITHSCORE"]),
        Reply::Array(vec![Reply::Int(3), Reply::Double(3.0)])
    );
    assert_eq!(run(&mut s, &["ZRANK", "z", "nope"]), Reply::Nil);
    assert_eq!(
        run(&mut s, &["ZRANGE", "z", "0", "-1"]),
        bulks(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "z", "-2", "100"]),
        bulks(&["d", "e"])
    );
    assert_eq!(run(&mut s, &["ZRANGE", "z", "3", "1"]), bulks(&[]));
    assert_eq!(
        run(&mut s, &["ZRANGE", "z", "0", "1", "REV"]),
        bulks(&["e", "d"])
    );
    assert_eq!(
        run(&mut s, &["ZREVRANGE", "z", "0", "1"]),
        bulks(&["e", "d"])
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        doubles(&[("a", 1.0), ("b", 2.0)])
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "missing", "0", "-1", "WITHSCORES"]),
        doubles(&[])
    );
    assert_eq!(
        run(&mut s, &["ZRANGEBYSCORE", "z", "(1", "3"]),
        bulks(&["b", "c", "d"])
    );
    assert_eq!(
        run(
            &mut s,
            &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2"]
        ),
        bulks(&["b", "c"])
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "z", "(5", "2", "BYSCORE", "REV"]),
        bulks(&["d", "c", "b"])
    );
    assert_eq!(
        run(
            &mut s,
            &["ZREVRANGEBYSCORE", "z", "+inf", "(2", "LIMIT", "0", "1"]
        ),
        bulks(&["e"])
    );
    assert_eq!(
        run(
            &mut s,
            &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "-1", "2"]
        ),
        bulks(&[])
    );
    assert_eq!(run(&mut s, &["ZRANGEBYSCORE", "z", "4", "2"]), bulks(&[]));
    assert_eq!(run(&mut s, &["ZCOUNT", "z", "2", "(5"]), Reply::Int(3));
    assert_eq!(run(&mut s, &["ZCOUNT", "z", "-inf", "+inf"]), Reply::Int(5));
    assert_eq!(run(&mut s, &["ZRANGE", "missing", "0", "-1"]), bulks(&[]));
}

#[test]
fn pops_and_range_removals() {
    let mut s = fresh();
    run(
        &mut s,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ],
    );
    // Without a count: a flat [member, score] in every protocol.
    assert_eq!(
        run(&mut s, &["ZPOPMIN", "z"]),
        Reply::Array(vec![bulk("a"), Reply::Double(1.0)])
    );
    // With one (even 1): pairs, `[[member, score]]` in RESP3.
    assert_eq!(
        run(&mut s, &["ZPOPMAX", "z", "2"]),
        doubles(&[("e", 5.0), ("d", 4.0)])
    );
    assert_eq!(run(&mut s, &["ZPOPMIN", "z", "1"]), doubles(&[("b", 2.0)]));
    run(&mut s, &["ZADD", "z", "2", "b"]);
    assert_eq!(run(&mut s, &["ZPOPMIN", "z", "0"]), doubles(&[]));
    run(&mut s, &["ZADD", "z", "10", "x", "11", "y"]);
    assert_eq!(
        run(&mut s, &["ZREMRANGEBYSCORE", "z", "(2", "10"]),
        Reply::Int(2)
    );
    assert_eq!(run(&mut s, &["ZRANGE", "z", "0", "-1"]), bulks(&["b", "y"]));
    assert_eq!(
        run(&mut s, &["ZREMRANGEBYRANK", "z", "-1", "-1"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut s, &["ZREM", "z", "b", "nope"]), Reply::Int(1));
    // The last removal deletes the key.
    assert_eq!(run(&mut s, &["EXISTS", "z"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["ZPOPMIN", "z"]), bulks(&[]));
}

#[test]
fn limits_give_clear_errors() {
    let limits = StateLimits {
        zset_members_max: 3,
        member_bytes_max: 4,
        reply_items_max: 2,
        ..StateLimits::default()
    };
    let mut s = State::new(limits);
    assert_eq!(
        run(&mut s, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
        Reply::Int(3)
    );
    let full = run(&mut s, &["ZADD", "z", "4", "d"]);
    assert_eq!(
        match &full {
            Reply::Error(e) => e.code,
            _ => panic!("{full:?}"),
        },
        ErrorCode::Limit
    );
    // Updating existing members is still allowed at the limit.
    assert_eq!(run(&mut s, &["ZADD", "z", "CH", "9", "a"]), Reply::Int(1));
    assert!(error_text(&run(&mut s, &["ZADD", "y", "1", "toolong"])).contains("limit"));
    assert!(error_text(&run(&mut s, &["ZRANGE", "z", "0", "-1"])).contains("reply_items_max"));
    assert_eq!(run(&mut s, &["ZRANGE", "z", "0", "1"]), bulks(&["b", "c"]));
    assert_eq!(run(&mut s, &["ZCARD", "z"]), Reply::Int(3));
}

#[test]
fn many_members_keep_order_and_ranks() {
    let mut s = fresh();
    let n = 5000;
    for i in 0..n {
        // Scores repeat so the member order breaks ties.
        let score = (i * 7919 % 100).to_string();
        run_unchecked(&mut s, &["ZADD", "big", &score, &format!("m{i:05}")]);
    }
    let Reply::Pairs(all) = run_unchecked(&mut s, &["ZRANGE", "big", "0", "-1", "WITHSCORES"])
    else {
        panic!()
    };
    assert_eq!(all.len(), n);
    for (rank, (member, _)) in all.iter().enumerate() {
        let Reply::Bulk(member) = member else {
            panic!()
        };
        let member = std::str::from_utf8(member).unwrap();
        assert_eq!(
            run_unchecked(&mut s, &["ZRANK", "big", member]),
            Reply::Int(rank as i64)
        );
    }
    // Remove most of them (exercises arena compaction) and check again.
    assert_eq!(
        run_unchecked(&mut s, &["ZREMRANGEBYRANK", "big", "10", "-10"]),
        Reply::Int(n as i64 - 19)
    );
    assert_eq!(run_unchecked(&mut s, &["ZCARD", "big"]), Reply::Int(19));
    s.check_invariants();
}

/// The model: member → score, ordered views computed by sorting.
fn model_order(model: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut items: Vec<(String, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    items.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then(a.0.cmp(&b.0)));
    items
}

#[derive(Clone, Debug)]
enum Op {
    Add(i8, u8),
    Rem(u8),
    Rank(u8),
    Range(i8, i8),
    Count(i8, i8, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<i8>(), 0u8..40).prop_map(|(s, m)| Op::Add(s % 10, m)),
        2 => (0u8..40).prop_map(Op::Rem),
        2 => (0u8..40).prop_map(Op::Rank),
        1 => (any::<i8>(), any::<i8>()).prop_map(|(a, b)| Op::Range(a % 45, b % 45)),
        1 => (any::<i8>(), any::<i8>(), any::<bool>()).prop_map(|(a, b, x)| Op::Count(a % 11, b % 11, x)),
    ]
}

fn cases() -> u32 {
    std::env::var("USHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn zset_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        let mut s = fresh();
        let mut model: BTreeMap<String, f64> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Add(score, m) => {
                    let member = format!("m{m}");
                    let added = i64::from(!model.contains_key(&member));
                    model.insert(member.clone(), f64::from(score));
                    prop_assert_eq!(run(&mut s, &["ZADD", "z", &score.to_string(), &member]), Reply::Int(added));
                }
                Op::Rem(m) => {
                    let member = format!("m{m}");
                    let removed = i64::from(model.remove(&member).is_some());
                    prop_assert_eq!(run(&mut s, &["ZREM", "z", &member]), Reply::Int(removed));
                }
                Op::Rank(m) => {
                    let member = format!("m{m}");
                    let expected = model_order(&model)
                        .iter()
                        .position(|(x, _)| *x == member)
                        .map_or(Reply::Nil, |rank| Reply::Int(rank as i64));
                    prop_assert_eq!(run(&mut s, &["ZRANK", "z", &member]), expected);
                }
                Op::Range(start, stop) => {
                    let order = model_order(&model);
                    let len = order.len() as i64;
                    let first = if start < 0 { (len + i64::from(start)).max(0) } else { i64::from(start) };
                    let last = if stop < 0 { len + i64::from(stop) } else { i64::from(stop).min(len - 1) };
                    let expected: Vec<(Reply, Reply)> = if first > last || first >= len {
                        Vec::new()
                    } else {
                        order[first as usize..=last as usize]
                            .iter()
                            .map(|(m, sc)| (bulk(m), Reply::Double(*sc)))
                            .collect()
                    };
                    prop_assert_eq!(
                        run(&mut s, &["ZRANGE", "z", &start.to_string(), &stop.to_string(), "WITHSCORES"]),
                        Reply::Pairs(expected)
                    );
                }
                Op::Count(a, b, exclusive) => {
                    let (lo, hi) = (f64::from(a.min(b)), f64::from(a.max(b)));
                    let expected = model
                        .values()
                        .filter(|&&sc| if exclusive { sc > lo && sc < hi } else { sc >= lo && sc <= hi })
                        .count();
                    let (lo_arg, hi_arg) = if exclusive {
                        (format!("({lo}"), format!("({hi}"))
                    } else {
                        (lo.to_string(), hi.to_string())
                    };
                    prop_assert_eq!(run(&mut s, &["ZCOUNT", "z", &lo_arg, &hi_arg]), Reply::Int(expected as i64));
                    let by_score = run(&mut s, &["ZRANGEBYSCORE", "z", &lo_arg, &hi_arg]);
                    let expected_members: Vec<Reply> = model_order(&model)
                        .iter()
                        .filter(|(_, sc)| if exclusive { *sc > lo && *sc < hi } else { *sc >= lo && *sc <= hi })
                        .map(|(m, _)| bulk(m))
                        .collect();
                    prop_assert_eq!(by_score, Reply::Array(expected_members));
                }
            }
            prop_assert_eq!(run(&mut s, &["ZCARD", "z"]), Reply::Int(model.len() as i64));
        }
    }
}

#[test]
fn double_replies_are_formatted_like_redis() {
    use usher::protocol::number::format_double;
    // Values checked against redis-server: shortest digits, %.17g layout.
    assert_eq!(format_double(1e20), "1e+20");
    assert_eq!(format_double(1.5e-7), "1.5e-07");
    assert_eq!(format_double(0.1), "0.1");
    assert_eq!(format_double(3.0), "3");
    assert_eq!(format_double(1e15), "1000000000000000");
    assert_eq!(format_double(1e16), "10000000000000000");
    assert_eq!(
        format_double(1.2345678901234568e17),
        "1.2345678901234568e+17"
    );
    assert_eq!(format_double(0.0001), "0.0001");
    assert_eq!(format_double(-2.5), "-2.5");
    assert_eq!(format_double(-0.0), "0");
    assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
}

/// `State::prefetch` is a cache hint: ZADD, ZSCORE and ZRANK on a sorted
/// set (new and existing members, several pairs), on a missing key and on
/// a key of another type give the same replies with it as without.
#[test]
fn prefetching_sorted_set_commands_leaves_replies_unchanged() {
    let commands: [&[&str]; 8] = [
        &["ZADD", "z", "1", "a", "2", "b"],
        &["ZADD", "z", "3", "c"],
        &["ZSCORE", "z", "b"],
        &["ZRANK", "z", "c"],
        &["ZRANK", "z", "nobody"],
        &["ZADD", "str", "1", "a"],
        &["ZSCORE", "missing", "a"],
        &["ZADD", "z", "XX", "5", "a"],
    ];
    support::state::assert_prefetch_changes_no_reply(&["ZADD z 0 seed", "SET str x"], &commands);
}

/// A range removal that takes every member deletes the key in one step:
/// one `Delete` effect (not one per member) and the set handed to the
/// graveyard whole; a range that leaves members keeps the per-member
/// effects.
#[test]
fn removing_every_member_by_range_deletes_the_key_at_once() {
    for (command, low, high) in [
        ("ZREMRANGEBYRANK", "0", "-1"),
        ("ZREMRANGEBYSCORE", "-inf", "+inf"),
        ("ZREMRANGEBYRANK", "-200", "500"),
    ] {
        let mut s = State::new(StateLimits::default());
        s.keyspace.graveyard.set_lazy(true);
        for n in 0..100 {
            run(&mut s, &["ZADD", "z", &n.to_string(), &format!("m{n}")]);
        }
        run(&mut s, &["PEXPIRE", "z", "100000"]);
        s.keyspace.set_recording(true);
        assert_eq!(
            run(&mut s, &[command, "z", low, high]),
            Reply::Int(100),
            "{command} {low} {high}"
        );
        let effects = std::mem::take(s.keyspace.effects_mut());
        assert_eq!(effects.len(), 1, "{command} {low} {high}: {effects:?}");
        assert!(
            matches!(&effects[0], usher::state::Effect::Key(usher::state::KeyEffect::Delete { key }) if key.as_bytes() == b"z"),
            "{command} {low} {high}: {effects:?}"
        );
        assert_eq!(
            s.keyspace.graveyard.len(),
            1,
            "the set went to the graveyard whole"
        );
        assert_eq!(run(&mut s, &["EXISTS", "z"]), Reply::Int(0));
        assert_eq!(run(&mut s, &["ZCARD", "z"]), Reply::Int(0));
    }
    // Leaving one member: an effect per removed member, the key stays.
    let mut s = State::new(StateLimits::default());
    for n in 0..100 {
        run(&mut s, &["ZADD", "z", &n.to_string(), &format!("m{n}")]);
    }
    s.keyspace.set_recording(true);
    assert_eq!(
        run(&mut s, &["ZREMRANGEBYRANK", "z", "1", "-1"]),
        Reply::Int(99)
    );
    assert_eq!(std::mem::take(s.keyspace.effects_mut()).len(), 99);
    assert_eq!(run(&mut s, &["ZRANGE", "z", "0", "-1"]), bulks(&["m0"]));
}

/// Members with their scores, as WITHSCORES replies them: pairs (flat in
/// RESP2, `[member, score]` arrays in RESP3).
fn doubles(items: &[(&str, f64)]) -> Reply {
    Reply::Pairs(
        items
            .iter()
            .map(|(member, score)| (bulk(member), Reply::Double(*score)))
            .collect(),
    )
}

#[test]
fn zrank_withscore_on_a_missing_member_is_a_nil_array() {
    let mut s = fresh();
    run(&mut s, &["ZADD", "z", "1", "a"]);
    assert_eq!(
        run(&mut s, &["ZRANK", "z", "nope", "WITHSCORE"]),
        Reply::NilArray
    );
    assert_eq!(
        run(&mut s, &["ZREVRANK", "missing", "a", "WITHSCORE"]),
        Reply::NilArray
    );
    assert_eq!(run(&mut s, &["ZRANK", "missing", "a"]), Reply::Nil);
}

#[test]
fn lex_ranges() {
    let mut s = fresh();
    run(
        &mut s,
        &[
            "ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e",
        ],
    );
    assert_eq!(
        run(&mut s, &["ZRANGEBYLEX", "z", "-", "+"]),
        bulks(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(
        run(&mut s, &["ZRANGEBYLEX", "z", "(a", "[c"]),
        bulks(&["b", "c"])
    );
    assert_eq!(
        run(&mut s, &["ZRANGEBYLEX", "z", "[b", "(d"]),
        bulks(&["b", "c"])
    );
    assert_eq!(run(&mut s, &["ZRANGEBYLEX", "z", "[c", "[b"]), bulks(&[]));
    assert_eq!(run(&mut s, &["ZRANGEBYLEX", "z", "+", "-"]), bulks(&[]));
    assert_eq!(
        run(&mut s, &["ZRANGEBYLEX", "z", "-", "+", "LIMIT", "1", "2"]),
        bulks(&["b", "c"])
    );
    assert_eq!(
        run(
            &mut s,
            &["ZREVRANGEBYLEX", "z", "+", "-", "LIMIT", "1", "2"]
        ),
        bulks(&["d", "c"])
    );
    assert_eq!(
        run(&mut s, &["ZREVRANGEBYLEX", "z", "[d", "(a"]),
        bulks(&["d", "c", "b"])
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "z", "[b", "[c", "BYLEX"]),
        bulks(&["b", "c"])
    );
    assert_eq!(
        run(
            &mut s,
            &["ZRANGE", "z", "+", "[c", "BYLEX", "REV", "LIMIT", "0", "1"]
        ),
        bulks(&["e"])
    );
    assert_eq!(run(&mut s, &["ZLEXCOUNT", "z", "[b", "+"]), Reply::Int(4));
    assert_eq!(run(&mut s, &["ZLEXCOUNT", "z", "(e", "+"]), Reply::Int(0));
    assert_eq!(
        run(&mut s, &["ZLEXCOUNT", "nokey", "-", "+"]),
        Reply::Int(0)
    );
    for words in [
        &["ZRANGEBYLEX", "z", "a", "+"][..],
        &["ZLEXCOUNT", "z", "-", "b"],
        &["ZREMRANGEBYLEX", "z", "++", "-"],
        &["ZRANGE", "z", "a", "b", "BYLEX"],
    ] {
        assert_eq!(
            error_text(&run(&mut s, words)),
            "ERR min or max not valid string range item",
            "{words:?}"
        );
    }
    assert_eq!(
        error_text(&run(
            &mut s,
            &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]
        )),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(
        run(&mut s, &["ZREMRANGEBYLEX", "z", "[b", "(d"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "z", "0", "-1"]),
        bulks(&["a", "d", "e"])
    );
    assert_eq!(
        run(&mut s, &["ZREMRANGEBYLEX", "z", "-", "+"]),
        Reply::Int(3)
    );
    assert_eq!(run(&mut s, &["EXISTS", "z"]), Reply::Int(0));
    // Unequal scores: unspecified, as in Redis, but no panic.
    run(
        &mut s,
        &["ZADD", "u", "3", "a", "1", "b", "2", "c", "0", "d"],
    );
    run(&mut s, &["ZRANGEBYLEX", "u", "[b", "[c"]);
    run(&mut s, &["ZLEXCOUNT", "u", "(a", "+"]);
    run(&mut s, &["ZREMRANGEBYLEX", "u", "[a", "[c"]);
    run(&mut s, &["SET", "str", "v"]);
    assert_eq!(
        error_text(&run(&mut s, &["ZLEXCOUNT", "str", "-", "+"])),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn zmscore_and_zrandmember() {
    let mut s = fresh();
    run(&mut s, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        run(&mut s, &["ZMSCORE", "z", "a", "nope", "c"]),
        Reply::Array(vec![Reply::Double(1.0), Reply::Nil, Reply::Double(3.0)])
    );
    assert_eq!(
        run(&mut s, &["ZMSCORE", "nokey", "a", "b"]),
        Reply::Array(vec![Reply::Nil, Reply::Nil])
    );
    assert_eq!(run(&mut s, &["ZRANDMEMBER", "nokey"]), Reply::Nil);
    assert_eq!(run(&mut s, &["ZRANDMEMBER", "nokey", "3"]), bulks(&[]));
    assert_eq!(run(&mut s, &["ZRANDMEMBER", "z", "0"]), bulks(&[]));
    let members = ["a", "b", "c"];
    let one = run(&mut s, &["ZRANDMEMBER", "z"]);
    assert!(members.iter().any(|m| one == bulk(m)), "{one:?}");
    // Positive: distinct, at most the set.
    let Reply::Array(two) = run(&mut s, &["ZRANDMEMBER", "z", "2"]) else {
        panic!("an array");
    };
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    let Reply::Pairs(all) = run(&mut s, &["ZRANDMEMBER", "z", "10", "WITHSCORES"]) else {
        panic!("pairs");
    };
    assert_eq!(all.len(), 3);
    // Negative: exactly that many, repeats allowed, each with its score.
    let Reply::Pairs(many) = run(&mut s, &["ZRANDMEMBER", "z", "-20", "WITHSCORES"]) else {
        panic!("pairs");
    };
    assert_eq!(many.len(), 20);
    for (member, drawn_score) in &many {
        let score = run(
            &mut s,
            &[
                "ZSCORE",
                "z",
                std::str::from_utf8(member.bulk_bytes().unwrap()).unwrap(),
            ],
        );
        assert_eq!(*drawn_score, score);
    }
    assert_eq!(
        run(&mut s, &["ZRANDMEMBER", "nokey", "3", "WITHSCORES"]),
        doubles(&[])
    );
    // Every member turns up over many draws.
    let Reply::Array(draws) = run(&mut s, &["ZRANDMEMBER", "z", "-300"]) else {
        panic!("an array");
    };
    for m in members {
        assert!(draws.contains(&bulk(m)), "{m} never drawn");
    }
    // Deterministic given the state: a clone draws the same.
    let mut twin = fresh();
    let mut original = fresh();
    for state in [&mut twin, &mut original] {
        run(
            state,
            &["ZADD", "r", "1", "a", "2", "b", "3", "c", "4", "d"],
        );
    }
    for _ in 0..5 {
        assert_eq!(
            run(&mut twin, &["ZRANDMEMBER", "r", "-3"]),
            run(&mut original, &["ZRANDMEMBER", "r", "-3"])
        );
    }
    assert_eq!(
        error_text(&run(&mut s, &["ZRANDMEMBER", "z", "1", "FOO"])),
        "ERR syntax error"
    );
    assert_eq!(
        error_text(&run(
            &mut s,
            &["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"]
        )),
        "ERR value is out of range"
    );
    // Over reply_items_max: an error, not a giant reply.
    let mut small = State::new(StateLimits {
        reply_items_max: 10,
        ..StateLimits::default()
    });
    run(&mut small, &["ZADD", "z", "1", "a"]);
    assert!(run(&mut small, &["ZRANDMEMBER", "z", "-11"]).is_error());
}

#[test]
fn union_inter_diff() {
    let mut s = fresh();
    run(&mut s, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
    run(&mut s, &["ZADD", "b", "10", "y", "20", "z", "30", "w"]);
    assert_eq!(
        run(&mut s, &["ZUNION", "2", "a", "b", "WITHSCORES"]),
        doubles(&[("x", 1.0), ("y", 12.0), ("z", 23.0), ("w", 30.0)])
    );
    assert_eq!(
        run(
            &mut s,
            &[
                "ZUNION",
                "2",
                "a",
                "b",
                "WEIGHTS",
                "2",
                "0.5",
                "AGGREGATE",
                "MAX",
                "WITHSCORES"
            ]
        ),
        doubles(&[("x", 2.0), ("y", 5.0), ("z", 10.0), ("w", 15.0)])
    );
    assert_eq!(
        run(
            &mut s,
            &["ZINTER", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"]
        ),
        doubles(&[("y", 2.0), ("z", 3.0)])
    );
    assert_eq!(run(&mut s, &["ZINTER", "2", "a", "b"]), bulks(&["y", "z"]));
    assert_eq!(run(&mut s, &["ZINTER", "2", "a", "nokey"]), bulks(&[]));
    assert_eq!(
        run(&mut s, &["ZDIFF", "2", "a", "b", "WITHSCORES"]),
        doubles(&[("x", 1.0)])
    );
    assert_eq!(run(&mut s, &["ZDIFF", "2", "nokey", "a"]), bulks(&[]));
    assert_eq!(
        run(&mut s, &["ZUNION", "2", "nokey", "a"]),
        bulks(&["x", "y", "z"])
    );
    // inf + -inf sums to 0 and 0 * inf weighs 0, as in Redis.
    run(&mut s, &["ZADD", "p", "+inf", "m"]);
    run(&mut s, &["ZADD", "n", "-inf", "m"]);
    assert_eq!(
        run(&mut s, &["ZUNION", "2", "p", "n", "WITHSCORES"]),
        doubles(&[("m", 0.0)])
    );
    assert_eq!(
        run(&mut s, &["ZUNION", "1", "p", "WEIGHTS", "0", "WITHSCORES"]),
        doubles(&[("m", 0.0)])
    );
    assert_eq!(run(&mut s, &["ZINTERCARD", "2", "a", "b"]), Reply::Int(2));
    assert_eq!(
        run(&mut s, &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut s, &["ZINTERCARD", "2", "a", "b", "LIMIT", "0"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut s, &["ZINTERCARD", "2", "a", "nokey"]),
        Reply::Int(0)
    );
}

#[test]
fn store_forms_replace_the_destination() {
    let mut s = fresh();
    run(&mut s, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
    run(&mut s, &["ZADD", "b", "10", "y"]);
    run(&mut s, &["SET", "dst", "old"]);
    run(&mut s, &["EXPIRE", "dst", "100"]);
    assert_eq!(
        run(&mut s, &["ZUNIONSTORE", "dst", "2", "a", "b"]),
        Reply::Int(3)
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        doubles(&[("x", 1.0), ("z", 3.0), ("y", 12.0)])
    );
    assert_eq!(run(&mut s, &["TTL", "dst"]), Reply::Int(-1));
    assert_eq!(
        run(
            &mut s,
            &["ZINTERSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"]
        ),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        doubles(&[("y", 22.0)])
    );
    assert_eq!(
        run(&mut s, &["ZDIFFSTORE", "dst", "2", "a", "b"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "dst", "0", "-1"]),
        bulks(&["x", "z"])
    );
    // A source may be the destination.
    assert_eq!(
        run(&mut s, &["ZUNIONSTORE", "a", "2", "a", "a"]),
        Reply::Int(3)
    );
    assert_eq!(run(&mut s, &["ZSCORE", "a", "z"]), Reply::Double(6.0));
    // An empty result deletes the destination.
    assert_eq!(
        run(&mut s, &["ZINTERSTORE", "dst", "2", "a", "nokey"]),
        Reply::Int(0)
    );
    assert_eq!(run(&mut s, &["EXISTS", "dst"]), Reply::Int(0));
    // ZRANGESTORE.
    assert_eq!(
        run(&mut s, &["ZRANGESTORE", "r", "a", "1", "-1"]),
        Reply::Int(2)
    );
    assert_eq!(run(&mut s, &["ZRANGE", "r", "0", "-1"]), bulks(&["y", "z"]));
    assert_eq!(
        run(
            &mut s,
            &[
                "ZRANGESTORE",
                "r",
                "a",
                "+inf",
                "-inf",
                "BYSCORE",
                "REV",
                "LIMIT",
                "0",
                "1"
            ]
        ),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut s, &["ZRANGE", "r", "0", "-1", "WITHSCORES"]),
        doubles(&[("z", 6.0)])
    );
    assert_eq!(
        run(&mut s, &["ZRANGESTORE", "r", "nokey", "0", "-1"]),
        Reply::Int(0)
    );
    assert_eq!(run(&mut s, &["EXISTS", "r"]), Reply::Int(0));
    assert_eq!(
        error_text(&run(
            &mut s,
            &["ZRANGESTORE", "r", "a", "0", "-1", "WITHSCORES"]
        )),
        "ERR syntax error"
    );
    run(&mut s, &["SET", "str", "v"]);
    assert_eq!(
        error_text(&run(&mut s, &["ZRANGESTORE", "r", "str", "0", "-1"])),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    // Over zset_members_max: an error, the destination untouched.
    let mut small = State::new(StateLimits {
        zset_members_max: 3,
        ..StateLimits::default()
    });
    run(&mut small, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
    run(&mut small, &["ZADD", "b", "1", "w"]);
    run(&mut small, &["ZADD", "dst", "1", "q"]);
    assert!(run(&mut small, &["ZUNIONSTORE", "dst", "2", "a", "b"]).is_error());
    assert_eq!(
        run(&mut small, &["ZRANGE", "dst", "0", "-1"]),
        bulks(&["q"])
    );
}

#[test]
fn combination_errors_match_redis() {
    let mut s = fresh();
    run(&mut s, &["ZADD", "z", "1", "a"]);
    run(&mut s, &["SET", "str", "v"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["ZUNION", "0", "z"],
            "ERR at least 1 input key is needed for 'zunion' command",
        ),
        (
            &["ZUNIONSTORE", "d", "0", "z"],
            "ERR at least 1 input key is needed for 'zunionstore' command",
        ),
        (
            &["ZINTERCARD", "0", "z"],
            "ERR at least 1 input key is needed for 'zintercard' command",
        ),
        (&["ZINTERCARD", "3", "z"], "ERR syntax error"),
        (
            &["ZINTERCARD", "1", "z", "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
        (
            &["ZUNION", "2", "z", "y", "WEIGHTS", "1"],
            "ERR syntax error",
        ),
        (
            &["ZUNION", "2", "z", "y", "WEIGHTS", "1", "x"],
            "ERR weight value is not a float",
        ),
        (&["ZUNION", "3", "z", "y"], "ERR syntax error"),
        (
            &["ZUNION", "x", "z"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZINTER", "2", "z", "y", "AGGREGATE", "foo"],
            "ERR syntax error",
        ),
        (&["ZDIFF", "1", "z", "WEIGHTS", "1"], "ERR syntax error"),
        (
            &["ZUNIONSTORE", "d", "1", "z", "WITHSCORES"],
            "ERR syntax error",
        ),
        (
            &["ZUNION", "2", "z", "str"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        // Redis checks the inputs' types before the options.
        (
            &["ZUNION", "2", "z", "str", "FOO"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            &["ZINTERSTORE", "d", "1", "z", "WEIGHTS"],
            "ERR syntax error",
        ),
        (
            &["ZINTERCARD", "2", "str", "z", "LIMIT", "-1"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (&["ZINTERCARD", "1", "z", "LIMIT"], "ERR syntax error"),
        (
            &["ZINTERCARD", "2", "str", "z"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            &["ZUNION", "1"],
            "ERR wrong number of arguments for 'zunion' command",
        ),
        (
            &["ZUNIONSTORE", "d", "1"],
            "ERR wrong number of arguments for 'zunionstore' command",
        ),
    ];
    for (words, expected) in cases {
        assert_eq!(error_text(&run(&mut s, words)), *expected, "{words:?}");
    }
}

#[test]
fn zmpop() {
    let mut s = fresh();
    run(&mut s, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    let popped = |key: &str, pairs: &[(&str, f64)]| {
        Reply::Array(vec![
            bulk(key),
            Reply::Array(
                pairs
                    .iter()
                    .map(|(m, sc)| Reply::Array(vec![bulk(m), Reply::Double(*sc)]))
                    .collect(),
            ),
        ])
    };
    assert_eq!(
        run(&mut s, &["ZMPOP", "2", "nokey", "z", "MIN"]),
        popped("z", &[("a", 1.0)])
    );
    assert_eq!(
        run(&mut s, &["ZMPOP", "1", "z", "MAX", "COUNT", "10"]),
        popped("z", &[("c", 3.0), ("b", 2.0)])
    );
    assert_eq!(run(&mut s, &["EXISTS", "z"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["ZMPOP", "1", "z", "MIN"]), Reply::NilArray);
    run(&mut s, &["SET", "str", "v"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["ZMPOP", "0", "z", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["ZMPOP", "x", "z", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["ZMPOP", "1", "z", "MIN", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "2"],
            "ERR syntax error",
        ),
        (&["ZMPOP", "1", "z", "FOO"], "ERR syntax error"),
        (&["ZMPOP", "2", "z", "MIN"], "ERR syntax error"),
        (
            &["ZMPOP", "2", "str", "z", "MIN"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            &["BZMPOP", "0.1", "0", "z", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["BZMPOP", "x", "1", "z", "MIN"],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["ZMPOP", "1", "z"],
            "ERR wrong number of arguments for 'zmpop' command",
        ),
    ];
    for (words, expected) in cases {
        assert_eq!(error_text(&run(&mut s, words)), *expected, "{words:?}");
    }
    // Outside a blocking context BZMPOP answers at once.
    assert_eq!(
        run(&mut s, &["BZMPOP", "0", "1", "z", "MIN"]),
        Reply::NilArray
    );
}

/// Redis's lex order of a sorted set whose scores are all equal.
fn lex_expected(model: &BTreeMap<String, f64>, lo: &str, hi: &str) -> Vec<String> {
    let inside = |bound: &str, member: &str, low: bool| match bound.as_bytes()[0] {
        b'-' => low,
        b'+' => !low,
        b'[' if low => member >= &bound[1..],
        b'[' => member <= &bound[1..],
        _ if low => member > &bound[1..],
        _ => member < &bound[1..],
    };
    model
        .keys()
        .filter(|m| inside(lo, m, true) && inside(hi, m, false))
        .cloned()
        .collect()
}

fn lex_bound() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("-".to_string()),
        1 => Just("+".to_string()),
        4 => (any::<bool>(), 0u8..12).prop_map(|(inclusive, m)| format!("{}m{m:02}", if inclusive { '[' } else { '(' })),
    ]
}

#[derive(Clone, Debug)]
enum SetOp {
    Add(bool, i8, u8),
    Lex(String, String),
    Combine(u8, i8, i8, u8),
}

fn set_op() -> impl Strategy<Value = SetOp> {
    prop_oneof![
        4 => (any::<bool>(), any::<i8>(), 0u8..12).prop_map(|(k, s, m)| SetOp::Add(k, s % 4, m)),
        1 => (lex_bound(), lex_bound()).prop_map(|(a, b)| SetOp::Lex(a, b)),
        2 => (0u8..3, any::<i8>(), any::<i8>(), 0u8..3).prop_map(|(o, w1, w2, g)| SetOp::Combine(o, w1 % 4, w2 % 4, g)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Lex ranges on a set of equal scores, and ZUNIONSTORE / ZINTERSTORE /
    /// ZDIFFSTORE of two sets with weights and aggregates, against maps.
    #[test]
    fn lex_and_combinations_match_model(ops in proptest::collection::vec(set_op(), 1..120)) {
        let mut s = fresh();
        // "lex" holds every member at score 0; "a" and "b" any scores.
        let mut lex: BTreeMap<String, f64> = BTreeMap::new();
        let mut sets = [BTreeMap::<String, f64>::new(), BTreeMap::new()];
        for op in ops {
            match op {
                SetOp::Add(second, score, m) => {
                    let member = format!("m{m:02}");
                    let key = if second { "b" } else { "a" };
                    sets[usize::from(second)].insert(member.clone(), f64::from(score));
                    run(&mut s, &["ZADD", key, &score.to_string(), &member]);
                    lex.insert(member.clone(), 0.0);
                    run(&mut s, &["ZADD", "lex", "0", &member]);
                }
                SetOp::Lex(lo, hi) => {
                    let expected = lex_expected(&lex, &lo, &hi);
                    let members: Vec<&str> = expected.iter().map(String::as_str).collect();
                    prop_assert_eq!(run(&mut s, &["ZRANGEBYLEX", "lex", &lo, &hi]), bulks(&members));
                    prop_assert_eq!(run(&mut s, &["ZLEXCOUNT", "lex", &lo, &hi]), Reply::Int(expected.len() as i64));
                    let reversed: Vec<&str> = members.iter().rev().copied().collect();
                    prop_assert_eq!(run(&mut s, &["ZREVRANGEBYLEX", "lex", &hi, &lo]), bulks(&reversed));
                }
                SetOp::Combine(op, w1, w2, how) => {
                    let (w1, w2) = (f64::from(w1), f64::from(w2));
                    let agg = |x: f64, y: f64| match how {
                        0 => x + y,
                        1 => x.min(y),
                        _ => x.max(y),
                    };
                    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
                    let (a, b) = (&sets[0], &sets[1]);
                    let name = match op {
                        0 => {
                            for (m, sc) in a { expected.insert(m.clone(), sc * w1); }
                            for (m, sc) in b {
                                let v = sc * w2;
                                let total = expected.get(m).map_or(v, |x| agg(*x, v));
                                expected.insert(m.clone(), total);
                            }
                            "ZUNIONSTORE"
                        }
                        1 => {
                            for (m, sc) in a {
                                if let Some(other) = b.get(m) {
                                    expected.insert(m.clone(), agg(sc * w1, other * w2));
                                }
                            }
                            "ZINTERSTORE"
                        }
                        _ => {
                            for (m, sc) in a {
                                if !b.contains_key(m) { expected.insert(m.clone(), *sc); }
                            }
                            "ZDIFFSTORE"
                        }
                    };
                    let aggregate = ["SUM", "MIN", "MAX"][usize::from(how)];
                    let mut words = vec![name, "dst", "2", "a", "b"];
                    let (w1s, w2s) = (w1.to_string(), w2.to_string());
                    if op != 2 {
                        words.extend(["WEIGHTS", &w1s, &w2s, "AGGREGATE", aggregate]);
                    }
                    prop_assert_eq!(run(&mut s, &words), Reply::Int(expected.len() as i64));
                    let ordered = model_order(&expected);
                    let pairs: Vec<(&str, f64)> = ordered.iter().map(|(m, sc)| (m.as_str(), *sc)).collect();
                    prop_assert_eq!(run(&mut s, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]), doubles(&pairs));
                    prop_assert_eq!(run(&mut s, &["ZINTERCARD", "2", "a", "b"]),
                        Reply::Int(a.keys().filter(|m| b.contains_key(*m)).count() as i64));
                }
            }
        }
    }
}

#[test]
fn plain_sets_are_inputs_whose_members_score_one() {
    let mut s = fresh();
    run(&mut s, &["ZADD", "z", "5", "a", "2", "b"]);
    run(&mut s, &["SADD", "s", "b", "c"]);
    assert_eq!(
        run(&mut s, &["ZUNION", "2", "z", "s", "WITHSCORES"]),
        doubles(&[("c", 1.0), ("b", 3.0), ("a", 5.0)])
    );
    assert_eq!(
        run(
            &mut s,
            &["ZINTERSTORE", "dst", "2", "s", "z", "WEIGHTS", "10", "1"]
        ),
        Reply::Int(1)
    );
    assert_eq!(run(&mut s, &["ZSCORE", "dst", "b"]), Reply::Double(12.0));
    assert_eq!(run(&mut s, &["ZDIFF", "2", "s", "z"]), bulks(&["c"]));
    assert_eq!(run(&mut s, &["ZINTERCARD", "2", "s", "z"]), Reply::Int(1));
    // Another type is still refused.
    run(&mut s, &["SET", "str", "x"]);
    assert!(run(&mut s, &["ZUNION", "2", "z", "str"]).is_error());
}
