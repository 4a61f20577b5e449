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
        Reply::Array(vec![
            bulk("a"),
            Reply::Double(1.0),
            bulk("b"),
            Reply::Double(2.0)
        ])
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
    assert_eq!(
        run(&mut s, &["ZPOPMIN", "z"]),
        Reply::Array(vec![bulk("a"), Reply::Double(1.0)])
    );
    assert_eq!(
        run(&mut s, &["ZPOPMAX", "z", "2"]),
        Reply::Array(vec![
            bulk("e"),
            Reply::Double(5.0),
            bulk("d"),
            Reply::Double(4.0)
        ])
    );
    assert_eq!(run(&mut s, &["ZPOPMIN", "z", "0"]), bulks(&[]));
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
    let Reply::Array(all) = run_unchecked(&mut s, &["ZRANGE", "big", "0", "-1", "WITHSCORES"])
    else {
        panic!()
    };
    assert_eq!(all.len(), 2 * n);
    for (rank, pair) in all.chunks(2).enumerate() {
        let Reply::Bulk(member) = &pair[0] else {
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
                    let expected: Vec<Reply> = if first > last || first >= len {
                        Vec::new()
                    } else {
                        order[first as usize..=last as usize]
                            .iter()
                            .flat_map(|(m, sc)| [bulk(m), Reply::Double(*sc)])
                            .collect()
                    };
                    prop_assert_eq!(
                        run(&mut s, &["ZRANGE", "z", &start.to_string(), &stop.to_string(), "WITHSCORES"]),
                        Reply::Array(expected)
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
