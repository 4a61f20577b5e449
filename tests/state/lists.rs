//! Unit tests of `State` for `src/state/list/`: the list commands with
//! Redis's replies and error texts (checked against redis-server 7.0), the
//! limits, expiry, and a property test against a `VecDeque` model.

use std::collections::VecDeque;

use proptest::prelude::*;
use usher::protocol::Reply;
use usher::state::StateLimits;

use crate::support::state::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INTEGER: &str = "ERR value is not an integer or out of range";

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|item| bulk(item)).collect())
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|&item| int(item)).collect())
}

/// A state with list `l` holding `items`, head first.
fn with_list(items: &str) -> usher::state::State {
    let mut s = state();
    assert_eq!(
        run(&mut s, T0, &format!("RPUSH l {items}")),
        int(items.split_whitespace().count() as i64)
    );
    s
}

#[test]
fn pushes_at_both_ends_and_reports_the_length() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "LPUSH l a b c"), int(3));
    assert_eq!(run(&mut s, T0, "RPUSH l d e"), int(5));
    assert_eq!(
        run(&mut s, T0, "LRANGE l 0 -1"),
        bulks(&["c", "b", "a", "d", "e"])
    );
    assert_eq!(run(&mut s, T0, "LLEN l"), int(5));
    assert_eq!(run(&mut s, T0, "TYPE l"), simple("list"));
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(1));
}

#[test]
fn pushx_only_pushes_to_an_existing_list() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "LPUSHX l a"), int(0));
    assert_eq!(run(&mut s, T0, "RPUSHX l a"), int(0));
    assert_eq!(run(&mut s, T0, "EXISTS l"), int(0));
    run(&mut s, T0, "RPUSH l x");
    assert_eq!(run(&mut s, T0, "LPUSHX l a b"), int(3));
    assert_eq!(run(&mut s, T0, "RPUSHX l z"), int(4));
    assert_eq!(
        run(&mut s, T0, "LRANGE l 0 -1"),
        bulks(&["b", "a", "x", "z"])
    );
}

#[test]
fn pops_one_or_many_and_the_last_pop_deletes_the_key() {
    let mut s = with_list("a b c d");
    assert_eq!(run(&mut s, T0, "LPOP l"), bulk("a"));
    assert_eq!(run(&mut s, T0, "RPOP l"), bulk("d"));
    assert_eq!(run(&mut s, T0, "LPOP l 0"), Reply::Array(vec![]));
    assert_eq!(run(&mut s, T0, "RPOP l 5"), bulks(&["c", "b"]));
    assert_eq!(run(&mut s, T0, "EXISTS l"), int(0));
    // A missing key: nil without a count, a nil array with one (even 0).
    assert_eq!(run(&mut s, T0, "LPOP l"), nil());
    assert_eq!(run(&mut s, T0, "LPOP l 1"), Reply::NilArray);
    assert_eq!(run(&mut s, T0, "RPOP l 0"), Reply::NilArray);
    for count in ["-1", "x", "1.5"] {
        assert_error(
            &run(&mut s, T0, &format!("LPOP l {count}")),
            "ERR value is out of range, must be positive",
        );
    }
    assert_error(
        &run(&mut s, T0, "LPOP l 1 2"),
        "ERR wrong number of arguments for 'lpop' command",
    );
}

#[test]
fn wrong_type_and_arity_errors() {
    let mut s = state();
    run(&mut s, T0, "SET s x");
    for command in [
        "LPUSH s a",
        "RPUSHX s a",
        "LPOP s",
        "RPOP s 2",
        "LLEN s",
        "LRANGE s 0 -1",
        "LINDEX s 0",
        "LSET s 0 a",
        "LREM s 0 a",
        "LTRIM s 0 1",
        "LPOS s a",
        "LMOVE s d LEFT RIGHT",
        "BLPOP s 0",
        "BLMOVE s d LEFT RIGHT 0",
    ] {
        assert_error(&run(&mut s, T0, command), WRONGTYPE);
    }
    run(&mut s, T0, "RPUSH l a");
    assert_error(&run(&mut s, T0, "GET l"), WRONGTYPE);
    assert_error(&run(&mut s, T0, "INCR l"), WRONGTYPE);
    assert_error(&run(&mut s, T0, "LMOVE l s LEFT RIGHT"), WRONGTYPE);
    assert_eq!(run(&mut s, T0, "LLEN l"), int(1));
    for (command, name) in [
        ("LPUSH l", "lpush"),
        ("RPUSHX l", "rpushx"),
        ("LLEN", "llen"),
        ("LRANGE l 0", "lrange"),
        ("LINDEX l", "lindex"),
        ("LSET l 0", "lset"),
        ("LREM l 0", "lrem"),
        ("LTRIM l 0", "ltrim"),
        ("LPOS l", "lpos"),
        ("LMOVE l d LEFT", "lmove"),
        ("BLPOP l", "blpop"),
        ("BRPOP l", "brpop"),
        ("BLMOVE l d LEFT RIGHT", "blmove"),
    ] {
        assert_error(
            &run(&mut s, T0, command),
            &format!("ERR wrong number of arguments for '{name}' command"),
        );
    }
}

#[test]
fn ranges_and_indexes_count_negative_from_the_tail() {
    let mut s = with_list("a b c d e");
    assert_eq!(run(&mut s, T0, "LRANGE l 1 3"), bulks(&["b", "c", "d"]));
    assert_eq!(run(&mut s, T0, "LRANGE l -2 -1"), bulks(&["d", "e"]));
    assert_eq!(run(&mut s, T0, "LRANGE l -100 1"), bulks(&["a", "b"]));
    assert_eq!(run(&mut s, T0, "LRANGE l 3 100"), bulks(&["d", "e"]));
    assert_eq!(run(&mut s, T0, "LRANGE l 3 1"), bulks(&[]));
    assert_eq!(run(&mut s, T0, "LRANGE l 5 10"), bulks(&[]));
    assert_eq!(run(&mut s, T0, "LRANGE missing 0 -1"), bulks(&[]));
    assert_error(&run(&mut s, T0, "LRANGE l x 1"), NOT_INTEGER);
    assert_eq!(run(&mut s, T0, "LINDEX l 0"), bulk("a"));
    assert_eq!(run(&mut s, T0, "LINDEX l -1"), bulk("e"));
    assert_eq!(run(&mut s, T0, "LINDEX l -5"), bulk("a"));
    assert_eq!(run(&mut s, T0, "LINDEX l -6"), nil());
    assert_eq!(run(&mut s, T0, "LINDEX l 5"), nil());
    assert_eq!(run(&mut s, T0, "LINDEX missing 0"), nil());
    assert_error(&run(&mut s, T0, "LINDEX l x"), NOT_INTEGER);
}

#[test]
fn lset_replaces_within_the_list_only() {
    let mut s = with_list("a b c");
    assert_eq!(run(&mut s, T0, "LSET l 1 B"), ok());
    assert_eq!(run(&mut s, T0, "LSET l -1 C"), ok());
    assert_eq!(run(&mut s, T0, "LRANGE l 0 -1"), bulks(&["a", "B", "C"]));
    assert_error(&run(&mut s, T0, "LSET l 3 x"), "ERR index out of range");
    assert_error(&run(&mut s, T0, "LSET l -4 x"), "ERR index out of range");
    assert_error(&run(&mut s, T0, "LSET missing 0 x"), "ERR no such key");
    assert_error(&run(&mut s, T0, "LSET l x y"), NOT_INTEGER);
}

#[test]
fn lrem_count_sign_picks_the_direction() {
    let mut s = with_list("a b a c a b a");
    assert_eq!(run(&mut s, T0, "LREM l 2 a"), int(2));
    assert_eq!(
        run(&mut s, T0, "LRANGE l 0 -1"),
        bulks(&["b", "c", "a", "b", "a"])
    );
    assert_eq!(run(&mut s, T0, "LREM l -1 b"), int(1));
    assert_eq!(
        run(&mut s, T0, "LRANGE l 0 -1"),
        bulks(&["b", "c", "a", "a"])
    );
    assert_eq!(run(&mut s, T0, "LREM l 0 a"), int(2));
    assert_eq!(run(&mut s, T0, "LRANGE l 0 -1"), bulks(&["b", "c"]));
    assert_eq!(run(&mut s, T0, "LREM l 0 zzz"), int(0));
    assert_eq!(run(&mut s, T0, "LREM missing 0 a"), int(0));
    assert_error(&run(&mut s, T0, "LREM l x a"), NOT_INTEGER);
    let mut s = with_list("x x x");
    assert_eq!(run(&mut s, T0, "LREM l -5 x"), int(3));
    assert_eq!(run(&mut s, T0, "EXISTS l"), int(0));
}

#[test]
fn ltrim_keeps_a_range_and_an_empty_one_deletes_the_key() {
    let mut s = with_list("a b c d e");
    assert_eq!(run(&mut s, T0, "LTRIM l 1 -2"), ok());
    assert_eq!(run(&mut s, T0, "LRANGE l 0 -1"), bulks(&["b", "c", "d"]));
    assert_eq!(run(&mut s, T0, "LTRIM l 0 100"), ok());
    assert_eq!(run(&mut s, T0, "LLEN l"), int(3));
    assert_eq!(run(&mut s, T0, "LTRIM l 2 1"), ok());
    assert_eq!(run(&mut s, T0, "EXISTS l"), int(0));
    assert_eq!(run(&mut s, T0, "LTRIM missing 0 1"), ok());
    assert_error(&run(&mut s, T0, "LTRIM l 0 x"), NOT_INTEGER);
}

#[test]
fn lpos_rank_count_and_maxlen() {
    let mut s = with_list("a b a c a");
    assert_eq!(run(&mut s, T0, "LPOS l a"), int(0));
    assert_eq!(run(&mut s, T0, "LPOS l a RANK 2"), int(2));
    assert_eq!(run(&mut s, T0, "LPOS l a RANK -1"), int(4));
    assert_eq!(run(&mut s, T0, "LPOS l a RANK 4"), nil());
    assert_eq!(run(&mut s, T0, "LPOS l a COUNT 0"), ints(&[0, 2, 4]));
    assert_eq!(run(&mut s, T0, "LPOS l a COUNT 2"), ints(&[0, 2]));
    assert_eq!(
        run(&mut s, T0, "LPOS l a RANK -1 COUNT 0"),
        ints(&[4, 2, 0])
    );
    assert_eq!(run(&mut s, T0, "LPOS l a COUNT 0 MAXLEN 3"), ints(&[0, 2]));
    assert_eq!(run(&mut s, T0, "LPOS l a RANK -2 MAXLEN 3"), int(2));
    assert_eq!(run(&mut s, T0, "LPOS l z"), nil());
    assert_eq!(run(&mut s, T0, "LPOS l z COUNT 2"), ints(&[]));
    assert_eq!(run(&mut s, T0, "LPOS missing a"), nil());
    assert_eq!(run(&mut s, T0, "LPOS missing a COUNT 0"), ints(&[]));
    assert_error(
        &run(&mut s, T0, "LPOS l a RANK 0"),
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
    );
    assert_error(
        &run(&mut s, T0, "LPOS l a COUNT -1"),
        "ERR COUNT can't be negative",
    );
    assert_error(
        &run(&mut s, T0, "LPOS l a COUNT x"),
        "ERR COUNT can't be negative",
    );
    assert_error(
        &run(&mut s, T0, "LPOS l a MAXLEN -1"),
        "ERR MAXLEN can't be negative",
    );
    assert_error(&run(&mut s, T0, "LPOS l a FOO 1"), "ERR syntax error");
    assert_error(&run(&mut s, T0, "LPOS l a COUNT"), "ERR syntax error");
}

#[test]
fn lmove_moves_between_keys_and_rotates_one() {
    let mut s = with_list("a b c");
    assert_eq!(run(&mut s, T0, "LMOVE l l RIGHT LEFT"), bulk("c"));
    assert_eq!(run(&mut s, T0, "LRANGE l 0 -1"), bulks(&["c", "a", "b"]));
    assert_eq!(run(&mut s, T0, "LMOVE l l LEFT RIGHT"), bulk("c"));
    assert_eq!(run(&mut s, T0, "LRANGE l 0 -1"), bulks(&["a", "b", "c"]));
    assert_eq!(run(&mut s, T0, "LMOVE l d LEFT RIGHT"), bulk("a"));
    assert_eq!(run(&mut s, T0, "LMOVE l d right left"), bulk("c"));
    assert_eq!(run(&mut s, T0, "LRANGE d 0 -1"), bulks(&["c", "a"]));
    assert_eq!(run(&mut s, T0, "LMOVE l d LEFT LEFT"), bulk("b"));
    assert_eq!(run(&mut s, T0, "EXISTS l"), int(0));
    assert_eq!(run(&mut s, T0, "LMOVE l d LEFT LEFT"), nil());
    assert_error(&run(&mut s, T0, "LMOVE d l UP LEFT"), "ERR syntax error");
    // A one-item list rotated onto itself keeps its key and its deadline.
    let mut s = with_list("only");
    run(&mut s, T0, "PEXPIRE l 5000");
    assert_eq!(run(&mut s, T0, "LMOVE l l LEFT RIGHT"), bulk("only"));
    assert_eq!(run(&mut s, T0, "PTTL l"), int(5000));
    // A missing source answers nil before the destination's type is seen.
    run(&mut s, T0, "SET str x");
    assert_eq!(run(&mut s, T0, "LMOVE missing str LEFT LEFT"), nil());
}

#[test]
fn blocking_commands_in_apply_go_ahead_or_answer_their_timeout_reply() {
    let mut s = with_list("a b");
    assert_eq!(run(&mut s, T0, "BLPOP missing l 0"), bulks(&["l", "a"]));
    assert_eq!(run(&mut s, T0, "BRPOP l 1.5"), bulks(&["l", "b"]));
    assert_eq!(run(&mut s, T0, "BLPOP l missing 0"), Reply::NilArray);
    assert_eq!(run(&mut s, T0, "BLMOVE l d LEFT LEFT 0"), nil());
    run(&mut s, T0, "RPUSH l x");
    assert_eq!(run(&mut s, T0, "BLMOVE l d LEFT LEFT 0"), bulk("x"));
    assert_eq!(run(&mut s, T0, "LRANGE d 0 -1"), bulks(&["x"]));
    assert_error(&run(&mut s, T0, "BLPOP l -1"), "ERR timeout is negative");
    assert_error(
        &run(&mut s, T0, "BLPOP l x"),
        "ERR timeout is not a float or out of range",
    );
}

#[test]
fn lists_expire_like_any_key() {
    let mut s = with_list("a b");
    assert_eq!(run(&mut s, T0, "PEXPIRE l 100"), int(1));
    assert_eq!(run(&mut s, T0 + 99, "LLEN l"), int(2));
    assert_eq!(run(&mut s, T0 + 100, "LLEN l"), int(0));
    assert_eq!(run(&mut s, T0 + 100, "RPUSH l c"), int(1));
    assert_eq!(run(&mut s, T0 + 100, "PTTL l"), int(-1));
    let (keys, _) = scan_all(&mut s, T0 + 100, "TYPE list");
    assert_eq!(keys, vec![bytes::Bytes::from_static(b"l")]);
    let (keys, _) = scan_all(&mut s, T0 + 100, "TYPE string");
    assert!(keys.is_empty());
}

#[test]
fn over_list_items_max_is_an_error_that_changes_nothing() {
    let limits = StateLimits {
        list_items_max: 3,
        reply_items_max: 2,
        ..StateLimits::default()
    };
    let mut s = state_with(limits);
    let message = "ERR list would exceed list_items_max (3)";
    assert_error(&run(&mut s, T0, "RPUSH l a b c d"), message);
    assert_eq!(run(&mut s, T0, "EXISTS l"), int(0));
    assert_eq!(run(&mut s, T0, "RPUSH l a b"), int(2));
    assert_error(&run(&mut s, T0, "LPUSH l c d"), message);
    assert_eq!(run(&mut s, T0, "LPUSH l c"), int(3));
    assert_error(&run(&mut s, T0, "RPUSHX l e"), message);
    run(&mut s, T0, "RPUSH m x");
    assert_error(&run(&mut s, T0, "LMOVE m l LEFT LEFT"), message);
    // Rotating a full list does not grow it.
    assert_eq!(run(&mut s, T0, "LMOVE l l LEFT RIGHT"), bulk("c"));
    // Replies are bounded by reply_items_max.
    for command in ["LRANGE l 0 -1", "LPOP l 3"] {
        let reply = run(&mut s, T0, command);
        assert!(
            matches!(&reply, Reply::Error(error) if error.message.contains("reply_items_max")),
            "{command}: {reply:?}"
        );
    }
    run(&mut s, T0, "RPUSH m2 a a a");
    let reply = run(&mut s, T0, "LPOS m2 a COUNT 0");
    assert!(
        matches!(&reply, Reply::Error(error) if error.message.contains("reply_items_max")),
        "{reply:?}"
    );
    assert_eq!(run(&mut s, T0, "LPOS m2 a COUNT 2"), ints(&[0, 1]));
    assert_eq!(run(&mut s, T0, "LRANGE l 0 1"), bulks(&["a", "b"]));
    assert_eq!(run(&mut s, T0, "LLEN l"), int(3));
}

#[test]
fn items_of_any_length_and_bytes_survive() {
    let mut s = state();
    let long = vec![0xffu8; 1000];
    let words: [&[u8]; 5] = [b"RPUSH", b"l", b"", &long, b"\x00\r\n"];
    assert_eq!(run_words(&mut s, T0, &words), int(3));
    assert_eq!(
        run(&mut s, T0, "LRANGE l 0 -1"),
        Reply::Array(vec![bulk(""), bulk_bytes(&long), bulk_bytes(b"\x00\r\n")])
    );
    assert_eq!(
        run(&mut s, T0, "RPOP l 2"),
        Reply::Array(vec![bulk_bytes(b"\x00\r\n"), bulk_bytes(&long)])
    );
}

// ------------------------------------------------------------------ model

#[derive(Clone, Debug)]
enum Op {
    Push(bool, Vec<u8>),
    Pop(bool, Option<u8>),
    Range(i8, i8),
    Index(i8),
    Set(i8, u8),
    Rem(i8, u8),
    Trim(i8, i8),
    Pos(u8, i8, Option<u8>, u8),
    Move(bool, bool, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<bool>(), proptest::collection::vec(0u8..4, 1..4)).prop_map(|(l, v)| Op::Push(l, v)),
        3 => (any::<bool>(), proptest::option::of(0u8..5)).prop_map(|(l, c)| Op::Pop(l, c)),
        1 => (any::<i8>(), any::<i8>()).prop_map(|(a, b)| Op::Range(a % 12, b % 12)),
        1 => any::<i8>().prop_map(|i| Op::Index(i % 12)),
        1 => (any::<i8>(), 0u8..4).prop_map(|(i, v)| Op::Set(i % 12, v)),
        2 => (any::<i8>(), 0u8..4).prop_map(|(c, v)| Op::Rem(c % 4, v)),
        1 => (any::<i8>(), any::<i8>()).prop_map(|(a, b)| Op::Trim(a % 12, b % 12)),
        2 => (0u8..4, any::<i8>(), proptest::option::of(0u8..3), 0u8..6)
            .prop_map(|(v, r, c, m)| Op::Pos(v, if r % 4 == 0 { 1 } else { r % 4 }, c, m)),
        2 => (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, b, c)| Op::Move(a, b, c)),
    ]
}

/// Redis's index window: `[first, end)`.
fn window(len: usize, start: i64, stop: i64) -> (usize, usize) {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        (0, 0)
    } else {
        (start as usize, stop as usize + 1)
    }
}

fn value(v: u8) -> String {
    format!("v{v}")
}

fn side(left: bool) -> &'static str {
    if left {
        "LEFT"
    } else {
        "RIGHT"
    }
}

/// Applies `op` to the model and returns the reply Redis would give.
fn model_step(
    model: &mut VecDeque<String>,
    other: &mut VecDeque<String>,
    op: &Op,
) -> (String, Reply) {
    match op {
        Op::Push(left, values) => {
            let items: Vec<String> = values.iter().map(|&v| value(v)).collect();
            for item in &items {
                if *left {
                    model.push_front(item.clone());
                } else {
                    model.push_back(item.clone());
                }
            }
            let name = if *left { "LPUSH" } else { "RPUSH" };
            (
                format!("{name} l {}", items.join(" ")),
                int(model.len() as i64),
            )
        }
        Op::Pop(left, count) => {
            let name = if *left { "LPOP" } else { "RPOP" };
            let existed = !model.is_empty();
            let mut pop = || {
                if *left {
                    model.pop_front()
                } else {
                    model.pop_back()
                }
            };
            match count {
                None => (format!("{name} l"), pop().map_or(nil(), |item| bulk(&item))),
                Some(count) => {
                    let popped: Vec<Reply> = (0..*count)
                        .filter_map(|_| pop())
                        .map(|item| bulk(&item))
                        .collect();
                    let reply = if existed {
                        Reply::Array(popped)
                    } else {
                        Reply::NilArray
                    };
                    (format!("{name} l {count}"), reply)
                }
            }
        }
        Op::Range(start, stop) => {
            let (first, end) = window(model.len(), i64::from(*start), i64::from(*stop));
            let items = model.range(first..end).map(|item| bulk(item)).collect();
            (format!("LRANGE l {start} {stop}"), Reply::Array(items))
        }
        Op::Index(index) => {
            let at = if *index < 0 {
                model.len() as i64 + i64::from(*index)
            } else {
                i64::from(*index)
            };
            let reply = usize::try_from(at)
                .ok()
                .and_then(|at| model.get(at))
                .map_or(nil(), |item| bulk(item));
            (format!("LINDEX l {index}"), reply)
        }
        Op::Set(index, v) => {
            let command = format!("LSET l {index} {}", value(*v));
            if model.is_empty() {
                return (
                    command,
                    Reply::Error(usher::protocol::ServerError::NO_SUCH_KEY),
                );
            }
            let at = if *index < 0 {
                model.len() as i64 + i64::from(*index)
            } else {
                i64::from(*index)
            };
            match usize::try_from(at).ok().and_then(|at| model.get_mut(at)) {
                Some(item) => {
                    *item = value(*v);
                    (command, ok())
                }
                None => (
                    command,
                    Reply::Error(usher::protocol::ServerError::out_of_range(
                        "ERR index out of range",
                    )),
                ),
            }
        }
        Op::Rem(count, v) => {
            let item = value(*v);
            let wanted = if *count == 0 {
                usize::MAX
            } else {
                count.unsigned_abs() as usize
            };
            let mut removed = 0;
            let mut kept: Vec<String> = Vec::new();
            let items: Vec<String> = if *count < 0 {
                model.iter().rev().cloned().collect()
            } else {
                model.iter().cloned().collect()
            };
            for candidate in items {
                if candidate == item && removed < wanted {
                    removed += 1;
                } else {
                    kept.push(candidate);
                }
            }
            if *count < 0 {
                kept.reverse();
            }
            *model = kept.into();
            (format!("LREM l {count} {item}"), int(removed as i64))
        }
        Op::Trim(start, stop) => {
            let (first, end) = window(model.len(), i64::from(*start), i64::from(*stop));
            *model = model.range(first..end).cloned().collect();
            (format!("LTRIM l {start} {stop}"), ok())
        }
        Op::Pos(v, rank, count, maxlen) => {
            let item = value(*v);
            let mut command = format!("LPOS l {item} RANK {rank} MAXLEN {maxlen}");
            if let Some(count) = count {
                command.push_str(&format!(" COUNT {count}"));
            }
            let compared = if *maxlen == 0 {
                model.len()
            } else {
                (*maxlen as usize).min(model.len())
            };
            let positions: Vec<usize> = if *rank > 0 {
                (0..compared).filter(|&at| model[at] == item).collect()
            } else {
                (0..compared)
                    .map(|back| model.len() - 1 - back)
                    .filter(|&at| model[at] == item)
                    .collect()
            };
            let skip = rank.unsigned_abs() as usize - 1;
            let found = positions.into_iter().skip(skip);
            let reply = match count {
                None => found.take(1).next().map_or(nil(), |at| int(at as i64)),
                Some(0) => Reply::Array(found.map(|at| int(at as i64)).collect()),
                Some(count) => Reply::Array(
                    found
                        .take(*count as usize)
                        .map(|at| int(at as i64))
                        .collect(),
                ),
            };
            (command, reply)
        }
        Op::Move(to_other, from_left, to_left) => {
            let destination = if *to_other { "o" } else { "l" };
            let command = format!(
                "LMOVE l {destination} {} {}",
                side(*from_left),
                side(*to_left)
            );
            let popped = if *from_left {
                model.pop_front()
            } else {
                model.pop_back()
            };
            let Some(item) = popped else {
                return (command, nil());
            };
            let target = if *to_other { other } else { model };
            if *to_left {
                target.push_front(item.clone());
            } else {
                target.push_back(item.clone());
            }
            (command, bulk(&item))
        }
    }
}

/// Cases per property: `USHER_PROPTEST_CASES` when set, else 64.
fn cases() -> u32 {
    std::env::var("USHER_PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn lists_match_a_vecdeque_model(ops in proptest::collection::vec(op(), 1..150)) {
        let mut s = state();
        let mut model = VecDeque::new();
        let mut other = VecDeque::new();
        for op in &ops {
            let (command, expected) = model_step(&mut model, &mut other, op);
            let reply = run(&mut s, T0, &command);
            prop_assert_eq!(&reply, &expected, "{}", command);
            let items: Vec<Reply> = model.iter().map(|item| bulk(item)).collect();
            prop_assert_eq!(run(&mut s, T0, "LRANGE l 0 -1"), Reply::Array(items));
            prop_assert_eq!(run(&mut s, T0, "EXISTS l"), int(i64::from(!model.is_empty())));
            prop_assert_eq!(run(&mut s, T0, "LLEN o"), int(other.len() as i64));
        }
    }
}
