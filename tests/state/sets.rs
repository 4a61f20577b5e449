//! Sets through `State::apply`: Redis's replies and error texts (checked
//! against redis-server 7.0), limits, determinism of random draws, and a
//! property test against a `HashSet` model. Mirrors `src/state/set/`.

use std::collections::{BTreeSet, HashSet};

use bytes::Bytes;
use proptest::prelude::*;
use usher::client::args;
use usher::protocol::{parse, ErrorCode, Reply};
use usher::state::{State, StateLimits, Value};

const NOW: u64 = 1_700_000_000_000;
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn run_at(state: &mut State, now_ms: u64, words: &[&str]) -> Reply {
    let arguments = args(words);
    match parse(&arguments) {
        Ok(request) => {
            let reply = state.apply(&request, now_ms);
            state.check_invariants();
            reply
        }
        Err(error) => Reply::Error(error),
    }
}

fn run(state: &mut State, words: &[&str]) -> Reply {
    run_at(state, NOW, words)
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

/// The members of a set or array reply, sorted (sets have no order).
fn members(reply: &Reply) -> Vec<String> {
    let items = match reply {
        Reply::Set(items) | Reply::Array(items) => items,
        other => panic!("expected a set or array, got {other:?}"),
    };
    let mut out: Vec<String> = items
        .iter()
        .map(|item| String::from_utf8(item.bulk_bytes().expect("bulk").to_vec()).expect("utf8"))
        .collect();
    out.sort();
    out
}

fn sorted(items: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|item| item.to_string()).collect();
    out.sort();
    out
}

#[test]
fn sadd_srem_scard_and_membership() {
    let mut s = fresh();
    assert_eq!(run(&mut s, &["SADD", "s", "a", "b", "a"]), Reply::Int(2));
    assert_eq!(run(&mut s, &["SADD", "s", "b", "c"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["SCARD", "s"]), Reply::Int(3));
    assert_eq!(run(&mut s, &["SCARD", "nokey"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["SISMEMBER", "s", "a"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["SISMEMBER", "s", "z"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["SISMEMBER", "nokey", "a"]), Reply::Int(0));
    assert_eq!(
        run(&mut s, &["SMISMEMBER", "s", "a", "z", "c"]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(0), Reply::Int(1)])
    );
    assert_eq!(
        run(&mut s, &["SMISMEMBER", "nokey", "a"]),
        Reply::Array(vec![Reply::Int(0)])
    );
    assert_eq!(run(&mut s, &["TYPE", "s"]), Reply::simple("set"));
    assert_eq!(run(&mut s, &["SREM", "s", "a", "z", "a"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["SREM", "nokey", "a"]), Reply::Int(0));
    assert_eq!(
        members(&run(&mut s, &["SMEMBERS", "s"])),
        sorted(&["b", "c"])
    );
    // The last removal deletes the key.
    assert_eq!(run(&mut s, &["SREM", "s", "b", "c"]), Reply::Int(2));
    assert_eq!(run(&mut s, &["EXISTS", "s"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["SMEMBERS", "s"]), Reply::Set(Vec::new()));
    assert_eq!(run(&mut s, &["DBSIZE"]), Reply::Int(0));
}

#[test]
fn every_command_on_a_string_is_wrongtype_and_changes_nothing() {
    let mut s = fresh();
    run(&mut s, &["SET", "str", "x"]);
    run(&mut s, &["SADD", "s", "a"]);
    for words in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SCARD", "str"],
        &["SMEMBERS", "str"],
        &["SPOP", "str"],
        &["SPOP", "str", "0"],
        &["SRANDMEMBER", "str"],
        &["SRANDMEMBER", "str", "0"],
        &["SSCAN", "str", "0"],
        &["SMOVE", "str", "s", "a"],
        &["SMOVE", "s", "str", "a"],
        &["SMOVE", "s", "str", "zz"],
        &["SINTER", "nokey", "str"],
        &["SINTER", "s", "str"],
        &["SUNION", "s", "str"],
        &["SDIFF", "nokey", "str"],
        &["SINTERSTORE", "d", "s", "str"],
        &["SUNIONSTORE", "d", "str"],
        &["SDIFFSTORE", "d", "s", "str"],
        &["SINTERCARD", "2", "nokey", "str"],
    ] {
        assert_eq!(error_text(&run(&mut s, words)), WRONGTYPE, "{words:?}");
    }
    assert_eq!(run(&mut s, &["GET", "str"]), bulk("x"));
    assert_eq!(members(&run(&mut s, &["SMEMBERS", "s"])), sorted(&["a"]));
    assert_eq!(run(&mut s, &["EXISTS", "d"]), Reply::Int(0));
    // A set is not a string either.
    assert_eq!(error_text(&run(&mut s, &["GET", "s"])), WRONGTYPE);
    assert_eq!(error_text(&run(&mut s, &["INCR", "s"])), WRONGTYPE);
}

#[test]
fn arity_and_argument_errors_are_redis_s() {
    let mut s = fresh();
    run(&mut s, &["SADD", "s", "a", "b", "c"]);
    for (words, text) in [
        (&["SADD", "s"][..], "ERR wrong number of arguments for 'sadd' command"),
        (&["SREM", "s"], "ERR wrong number of arguments for 'srem' command"),
        (&["SISMEMBER", "s"], "ERR wrong number of arguments for 'sismember' command"),
        (&["SISMEMBER", "s", "a", "b"], "ERR wrong number of arguments for 'sismember' command"),
        (&["SMISMEMBER", "s"], "ERR wrong number of arguments for 'smismember' command"),
        (&["SCARD"], "ERR wrong number of arguments for 'scard' command"),
        (&["SMEMBERS", "s", "x"], "ERR wrong number of arguments for 'smembers' command"),
        (&["SPOP"], "ERR wrong number of arguments for 'spop' command"),
        (&["SMOVE", "s", "d"], "ERR wrong number of arguments for 'smove' command"),
        (&["SINTER"], "ERR wrong number of arguments for 'sinter' command"),
        (&["SINTERSTORE", "d"], "ERR wrong number of arguments for 'sinterstore' command"),
        (&["SINTERCARD", "1"], "ERR wrong number of arguments for 'sintercard' command"),
        (&["SSCAN", "s"], "ERR wrong number of arguments for 'sscan' command"),
        (&["SPOP", "s", "-1"], "ERR value is out of range, must be positive"),
        (&["SPOP", "s", "x"], "ERR value is out of range, must be positive"),
        (&["SPOP", "s", "1", "2"], "ERR syntax error"),
        (&["SRANDMEMBER", "s", "x"], "ERR value is not an integer or out of range"),
        (
            &["SRANDMEMBER", "s", "-9223372036854775808"],
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ),
        (&["SRANDMEMBER", "s", "1", "2"], "ERR syntax error"),
        (&["SINTERCARD", "0", "s"], "ERR numkeys should be greater than 0"),
        (&["SINTERCARD", "-1", "s"], "ERR numkeys should be greater than 0"),
        (&["SINTERCARD", "x", "s"], "ERR numkeys should be greater than 0"),
        (&["SINTERCARD", "3", "s"], "ERR Number of keys can't be greater than number of args"),
        (&["SINTERCARD", "1", "s", "LIMIT", "-1"], "ERR LIMIT can't be negative"),
        (&["SINTERCARD", "1", "s", "LIMIT", "x"], "ERR LIMIT can't be negative"),
        (&["SINTERCARD", "1", "s", "LIMIT"], "ERR syntax error"),
        (&["SINTERCARD", "1", "s", "FOO", "1"], "ERR syntax error"),
        (&["SSCAN", "s", "x"], "ERR invalid cursor"),
        (&["SSCAN", "s", "0", "COUNT", "0"], "ERR syntax error"),
        (&["SSCAN", "s", "0", "MATCH"], "ERR syntax error"),
        (&["SSCAN", "s", "0", "TYPE", "set"], "ERR syntax error"),
    ] {
        assert_eq!(error_text(&run(&mut s, words)), text, "{words:?}");
    }
    assert_eq!(run(&mut s, &["SCARD", "s"]), Reply::Int(3));
}

#[test]
fn spop_and_srandmember_counts() {
    let mut s = fresh();
    run(&mut s, &["SADD", "s", "a", "b", "c", "d", "e"]);
    let all = sorted(&["a", "b", "c", "d", "e"]);
    // Missing keys.
    assert_eq!(run(&mut s, &["SPOP", "nokey"]), Reply::Nil);
    assert_eq!(run(&mut s, &["SPOP", "nokey", "2"]), Reply::Set(Vec::new()));
    assert_eq!(run(&mut s, &["SRANDMEMBER", "nokey"]), Reply::Nil);
    assert_eq!(
        run(&mut s, &["SRANDMEMBER", "nokey", "2"]),
        Reply::Array(Vec::new())
    );
    assert_eq!(
        run(&mut s, &["SRANDMEMBER", "nokey", "-2"]),
        Reply::Array(Vec::new())
    );
    // Zero counts.
    assert_eq!(run(&mut s, &["SPOP", "s", "0"]), Reply::Set(Vec::new()));
    assert_eq!(
        run(&mut s, &["SRANDMEMBER", "s", "0"]),
        Reply::Array(Vec::new())
    );
    // SRANDMEMBER: distinct with a positive count, capped at the size;
    // repeats allowed with a negative one, exactly that many.
    let three = members(&run(&mut s, &["SRANDMEMBER", "s", "3"]));
    assert_eq!(three.len(), 3);
    assert_eq!(three.iter().collect::<HashSet<_>>().len(), 3);
    assert!(three.iter().all(|m| all.contains(m)));
    assert_eq!(members(&run(&mut s, &["SRANDMEMBER", "s", "10"])), all);
    let many = members(&run(&mut s, &["SRANDMEMBER", "s", "-12"]));
    assert_eq!(many.len(), 12);
    assert!(many.iter().all(|m| all.contains(m)));
    let Reply::Bulk(one) = run(&mut s, &["SRANDMEMBER", "s"]) else {
        panic!("SRANDMEMBER replies a bulk string");
    };
    assert!(all.contains(&String::from_utf8(one.to_vec()).unwrap()));
    assert_eq!(run(&mut s, &["SCARD", "s"]), Reply::Int(5));
    // SPOP removes what it returns.
    let Reply::Bulk(popped) = run(&mut s, &["SPOP", "s"]) else {
        panic!("SPOP replies a bulk string");
    };
    let popped = String::from_utf8(popped.to_vec()).unwrap();
    assert_eq!(run(&mut s, &["SISMEMBER", "s", &popped]), Reply::Int(0));
    let two = run(&mut s, &["SPOP", "s", "2"]);
    assert!(matches!(two, Reply::Set(_)), "SPOP with a count is a set");
    let two = members(&two);
    assert_eq!(two.len(), 2);
    assert!(!two.contains(&popped));
    for member in &two {
        assert_eq!(run(&mut s, &["SISMEMBER", "s", member]), Reply::Int(0));
    }
    assert_eq!(run(&mut s, &["SCARD", "s"]), Reply::Int(2));
    // A count of the size or more takes everything, and the key.
    let rest = members(&run(&mut s, &["SPOP", "s", "5"]));
    let mut seen: BTreeSet<String> = rest.into_iter().collect();
    seen.extend(two);
    seen.insert(popped);
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), all);
    assert_eq!(run(&mut s, &["EXISTS", "s"]), Reply::Int(0));
}

#[test]
fn random_draws_are_deterministic_given_the_state_and_reach_every_member() {
    let commands: Vec<Vec<String>> = (0..40)
        .map(|i| vec!["SADD".into(), "s".into(), format!("member-{i}")])
        .collect();
    let mut draws = Vec::new();
    for _ in 0..2 {
        let mut s = fresh();
        for words in &commands {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            run(&mut s, &words);
        }
        let mut replies = Vec::new();
        for _ in 0..200 {
            replies.push(run(&mut s, &["SRANDMEMBER", "s"]));
        }
        replies.push(run(&mut s, &["SPOP", "s", "7"]));
        replies.push(run(&mut s, &["SRANDMEMBER", "s", "-9"]));
        draws.push(replies);
    }
    assert_eq!(draws[0], draws[1]);
    // Not stuck on one member: 200 draws over 40 members reach most.
    let distinct: HashSet<_> = draws[0][..200]
        .iter()
        .map(|reply| format!("{reply:?}"))
        .collect();
    assert!(
        distinct.len() > 20,
        "only {} distinct draws",
        distinct.len()
    );
}

#[test]
fn smove_edge_cases() {
    let mut s = fresh();
    run(&mut s, &["SADD", "src", "a", "b"]);
    run(&mut s, &["SET", "str", "x"]);
    // A missing source is 0 before any type check, as in Redis.
    assert_eq!(run(&mut s, &["SMOVE", "nokey", "str", "a"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["SMOVE", "nokey", "src", "a"]), Reply::Int(0));
    // Same key: 1 if the member is there, nothing moves.
    assert_eq!(run(&mut s, &["SMOVE", "src", "src", "a"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["SMOVE", "src", "src", "zz"]), Reply::Int(0));
    // Absent member: 0, nothing created.
    assert_eq!(run(&mut s, &["SMOVE", "src", "dst", "zz"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["EXISTS", "dst"]), Reply::Int(0));
    // A move creates the destination.
    assert_eq!(run(&mut s, &["SMOVE", "src", "dst", "a"]), Reply::Int(1));
    assert_eq!(members(&run(&mut s, &["SMEMBERS", "src"])), sorted(&["b"]));
    assert_eq!(members(&run(&mut s, &["SMEMBERS", "dst"])), sorted(&["a"]));
    // Into a set that has it already: removed from the source only; the
    // emptied source is deleted.
    run(&mut s, &["SADD", "dst", "b"]);
    assert_eq!(run(&mut s, &["SMOVE", "src", "dst", "b"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["EXISTS", "src"]), Reply::Int(0));
    assert_eq!(
        members(&run(&mut s, &["SMEMBERS", "dst"])),
        sorted(&["a", "b"])
    );
}

#[test]
fn combining_sets_and_storing_the_result() {
    let mut s = fresh();
    run(&mut s, &["SADD", "a", "1", "2", "3", "4"]);
    run(&mut s, &["SADD", "b", "3", "4", "5"]);
    run(&mut s, &["SADD", "c", "4", "6"]);
    let inter = run(&mut s, &["SINTER", "a", "b"]);
    assert!(matches!(inter, Reply::Set(_)));
    assert_eq!(members(&inter), sorted(&["3", "4"]));
    assert_eq!(
        members(&run(&mut s, &["SINTER", "a", "b", "c"])),
        sorted(&["4"])
    );
    assert_eq!(
        run(&mut s, &["SINTER", "a", "nokey"]),
        Reply::Set(Vec::new())
    );
    assert_eq!(
        members(&run(&mut s, &["SUNION", "a", "b", "nokey", "c"])),
        sorted(&["1", "2", "3", "4", "5", "6"])
    );
    assert_eq!(
        members(&run(&mut s, &["SDIFF", "a", "b"])),
        sorted(&["1", "2"])
    );
    assert_eq!(
        members(&run(&mut s, &["SDIFF", "a", "nokey"])),
        sorted(&["1", "2", "3", "4"])
    );
    assert_eq!(
        run(&mut s, &["SDIFF", "nokey", "a"]),
        Reply::Set(Vec::new())
    );
    assert_eq!(run(&mut s, &["SINTERCARD", "2", "a", "b"]), Reply::Int(2));
    assert_eq!(
        run(&mut s, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut s, &["SINTERCARD", "2", "a", "b", "LIMIT", "0"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(
            &mut s,
            &["SINTERCARD", "1", "a", "LIMIT", "1", "LIMIT", "3"]
        ),
        Reply::Int(3)
    );
    assert_eq!(
        run(&mut s, &["SINTERCARD", "2", "a", "nokey"]),
        Reply::Int(0)
    );
    // STORE overwrites any type and its time to live.
    run(&mut s, &["SET", "d", "old", "EX", "100"]);
    assert_eq!(run(&mut s, &["SINTERSTORE", "d", "a", "b"]), Reply::Int(2));
    assert_eq!(
        members(&run(&mut s, &["SMEMBERS", "d"])),
        sorted(&["3", "4"])
    );
    assert_eq!(run(&mut s, &["TTL", "d"]), Reply::Int(-1));
    assert_eq!(run(&mut s, &["SUNIONSTORE", "d", "b", "c"]), Reply::Int(4));
    assert_eq!(
        members(&run(&mut s, &["SMEMBERS", "d"])),
        sorted(&["3", "4", "5", "6"])
    );
    // The destination may be a source.
    assert_eq!(run(&mut s, &["SDIFFSTORE", "d", "d", "c"]), Reply::Int(2));
    assert_eq!(
        members(&run(&mut s, &["SMEMBERS", "d"])),
        sorted(&["3", "5"])
    );
    // An empty result deletes the destination.
    assert_eq!(
        run(&mut s, &["SINTERSTORE", "d", "a", "nokey"]),
        Reply::Int(0)
    );
    assert_eq!(run(&mut s, &["EXISTS", "d"]), Reply::Int(0));
    run(&mut s, &["SET", "d", "x"]);
    assert_eq!(run(&mut s, &["SDIFFSTORE", "d", "a", "a"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["EXISTS", "d"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["SUNIONSTORE", "d", "nokey"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["EXISTS", "d"]), Reply::Int(0));
}

#[test]
fn sscan_returns_every_member_and_matches_patterns() {
    let mut s = fresh();
    for i in 0..500 {
        run(&mut s, &["SADD", "s", &format!("m{i}")]);
    }
    assert_eq!(
        run(&mut s, &["SSCAN", "nokey", "0"]),
        Reply::Array(vec![bulk("0"), Reply::Array(Vec::new())])
    );
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let Reply::Array(parts) = run(
            &mut s,
            &["SSCAN", "s", &cursor, "MATCH", "m1*", "COUNT", "37"],
        ) else {
            panic!("SSCAN replies an array");
        };
        cursor = String::from_utf8(parts[0].bulk_bytes().unwrap().to_vec()).unwrap();
        seen.extend(members(&parts[1]));
        calls += 1;
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 5, "COUNT was not followed");
    let expected: BTreeSet<String> = (0..500)
        .map(|i| format!("m{i}"))
        .filter(|m| m.starts_with("m1"))
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn limits_refuse_and_change_nothing() {
    let limits = StateLimits {
        set_members_max: 3,
        member_bytes_max: 8,
        reply_items_max: 2,
        ..StateLimits::default()
    };
    let mut s = State::new(limits);
    assert_eq!(run(&mut s, &["SADD", "s", "a", "b"]), Reply::Int(2));
    let over = run(&mut s, &["SADD", "s", "c", "d"]);
    assert_eq!(
        error_text(&over),
        "ERR set would exceed set_members_max (3)"
    );
    let Reply::Error(error) = over else {
        unreachable!()
    };
    assert_eq!(error.code, ErrorCode::Limit);
    // Members already there do not count.
    assert_eq!(
        run(&mut s, &["SADD", "s", "a", "b", "c", "c"]),
        Reply::Int(1)
    );
    assert!(run(&mut s, &["SADD", "s", "123456789"]).is_error());
    assert!(run(&mut s, &["SADD", "t", "x", "123456789"]).is_error());
    assert_eq!(run(&mut s, &["EXISTS", "t"]), Reply::Int(0));
    // Replies over reply_items_max are refused.
    assert!(run(&mut s, &["SMEMBERS", "s"]).is_error());
    assert!(run(&mut s, &["SPOP", "s", "3"]).is_error());
    assert!(run(&mut s, &["SRANDMEMBER", "s", "-3"]).is_error());
    assert!(run(&mut s, &["SUNION", "s"]).is_error());
    assert_eq!(run(&mut s, &["SCARD", "s"]), Reply::Int(3));
    // SMOVE into a full set.
    run(&mut s, &["SADD", "u", "z"]);
    assert!(run(&mut s, &["SMOVE", "u", "s", "z"]).is_error());
    assert_eq!(run(&mut s, &["SCARD", "u"]), Reply::Int(1));
    // STORE over set_members_max.
    run(&mut s, &["SADD", "v", "p", "q"]);
    assert!(run(&mut s, &["SUNIONSTORE", "w", "s", "v"]).is_error());
    assert_eq!(run(&mut s, &["EXISTS", "w"]), Reply::Int(0));
}

#[test]
fn sets_expire_and_scan_by_type() {
    let mut s = fresh();
    run(&mut s, &["SADD", "s", "a"]);
    run(&mut s, &["SET", "str", "x"]);
    run(&mut s, &["PEXPIRE", "s", "10"]);
    assert_eq!(
        run(&mut s, &["SCAN", "0", "TYPE", "set"]),
        Reply::Array(vec![bulk("0"), Reply::Array(vec![bulk("s")])])
    );
    assert_eq!(run_at(&mut s, NOW + 10, &["SCARD", "s"]), Reply::Int(0));
    assert_eq!(run_at(&mut s, NOW + 10, &["SADD", "s", "b"]), Reply::Int(1));
    assert_eq!(run_at(&mut s, NOW + 10, &["TTL", "s"]), Reply::Int(-1));
}

#[test]
fn large_sets_shrink_back_after_removals() {
    let mut s = fresh();
    let n = 20_000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut words = vec!["SADD".to_string(), "big".to_string()];
        words.extend(chunk.iter().map(|i| format!("id:{i:019}")));
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let arguments = args(&words);
        s.apply(&parse(&arguments).unwrap(), NOW);
    }
    s.check_invariants();
    let arena = |s: &State| match &s.keyspace.peek(b"big").unwrap().value {
        Value::Set(set) => set.arena_bytes(),
        _ => unreachable!(),
    };
    let full = arena(&s);
    assert_eq!(full, n * 23, "one header byte and 22 bytes per member");
    for i in 0..n - 10 {
        let member = format!("id:{i:019}");
        let arguments = args(["SREM", "big", &member]);
        s.apply(&parse(&arguments).unwrap(), NOW);
    }
    s.check_invariants();
    assert_eq!(run(&mut s, &["SCARD", "big"]), Reply::Int(10));
    assert!(
        arena(&s) <= 10 * 23 + 256,
        "arena of {} bytes after shrinking",
        arena(&s)
    );
}

#[derive(Clone, Debug)]
enum Op {
    Add(u8, u8),
    Rem(u8, u8),
    IsMember(u8, u8),
    Pop(u8, Option<u8>),
    RandMember(u8, i8),
    Move(u8, u8, u8),
    Combine(u8, u8, u8),
    Store(u8, u8, u8, u8),
    InterCard(u8, u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 0u8..30).prop_map(|(k, m)| Op::Add(k, m)),
        3 => (0u8..3, 0u8..30).prop_map(|(k, m)| Op::Rem(k, m)),
        2 => (0u8..3, 0u8..30).prop_map(|(k, m)| Op::IsMember(k, m)),
        2 => (0u8..3, proptest::option::of(0u8..6)).prop_map(|(k, c)| Op::Pop(k, c)),
        1 => (0u8..3, any::<i8>()).prop_map(|(k, c)| Op::RandMember(k, c % 8)),
        2 => (0u8..3, 0u8..3, 0u8..30).prop_map(|(a, b, m)| Op::Move(a, b, m)),
        2 => (0u8..3, 0u8..3, 0u8..3).prop_map(|(op, a, b)| Op::Combine(op, a, b)),
        1 => (0u8..3, 0u8..3, 0u8..3, 0u8..3).prop_map(|(op, d, a, b)| Op::Store(op, d, a, b)),
        1 => (0u8..3, 0u8..3, 0u8..4).prop_map(|(a, b, l)| Op::InterCard(a, b, l)),
    ]
}

fn cases() -> u32 {
    std::env::var("USHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

type Model = [HashSet<String>; 3];

fn combine_model(model: &Model, op: u8, a: usize, b: usize) -> BTreeSet<String> {
    let (x, y) = (&model[a], &model[b]);
    match op {
        0 => x.intersection(y).cloned().collect(),
        1 => x.union(y).cloned().collect(),
        _ => x.difference(y).cloned().collect(),
    }
}

const OPS: [&str; 3] = ["SINTER", "SUNION", "SDIFF"];
const STORES: [&str; 3] = ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn sets_match_a_hashset_model(ops in proptest::collection::vec(op(), 1..150)) {
        let mut s = fresh();
        let mut model: Model = Default::default();
        let key = |k: u8| format!("k{k}");
        for op in ops {
            match op {
                Op::Add(k, m) => {
                    let member = format!("m{m}");
                    let added = i64::from(model[k as usize].insert(member.clone()));
                    prop_assert_eq!(run(&mut s, &["SADD", &key(k), &member]), Reply::Int(added));
                }
                Op::Rem(k, m) => {
                    let member = format!("m{m}");
                    let removed = i64::from(model[k as usize].remove(&member));
                    prop_assert_eq!(run(&mut s, &["SREM", &key(k), &member]), Reply::Int(removed));
                }
                Op::IsMember(k, m) => {
                    let member = format!("m{m}");
                    let present = i64::from(model[k as usize].contains(&member));
                    prop_assert_eq!(run(&mut s, &["SISMEMBER", &key(k), &member]), Reply::Int(present));
                }
                Op::Pop(k, count) => {
                    let set = &mut model[k as usize];
                    match count {
                        None => match run(&mut s, &["SPOP", &key(k)]) {
                            Reply::Nil => prop_assert!(set.is_empty()),
                            Reply::Bulk(member) => {
                                let member = String::from_utf8(member.to_vec()).unwrap();
                                prop_assert!(set.remove(&member));
                            }
                            other => prop_assert!(false, "SPOP gave {:?}", other),
                        },
                        Some(count) => {
                            let popped = members(&run(&mut s, &["SPOP", &key(k), &count.to_string()]));
                            prop_assert_eq!(popped.len(), set.len().min(count as usize));
                            for member in popped {
                                prop_assert!(set.remove(&member));
                            }
                        }
                    }
                }
                Op::RandMember(k, count) => {
                    let set = &model[k as usize];
                    let drawn = members(&run(&mut s, &["SRANDMEMBER", &key(k), &count.to_string()]));
                    let expected = if count < 0 {
                        if set.is_empty() { 0 } else { count.unsigned_abs() as usize }
                    } else {
                        set.len().min(count as usize)
                    };
                    prop_assert_eq!(drawn.len(), expected);
                    prop_assert!(drawn.iter().all(|m| set.contains(m)));
                    if count > 0 {
                        prop_assert_eq!(drawn.iter().collect::<HashSet<_>>().len(), drawn.len());
                    }
                }
                Op::Move(a, b, m) => {
                    let member = format!("m{m}");
                    let moved = model[a as usize].contains(&member);
                    if a != b && moved {
                        model[a as usize].remove(&member);
                        model[b as usize].insert(member.clone());
                    }
                    prop_assert_eq!(run(&mut s, &["SMOVE", &key(a), &key(b), &member]), Reply::Int(i64::from(moved)));
                }
                Op::Combine(op, a, b) => {
                    let expected: Vec<String> = combine_model(&model, op, a as usize, b as usize).into_iter().collect();
                    prop_assert_eq!(members(&run(&mut s, &[OPS[op as usize], &key(a), &key(b)])), expected);
                }
                Op::Store(op, d, a, b) => {
                    let result = combine_model(&model, op, a as usize, b as usize);
                    let reply = run(&mut s, &[STORES[op as usize], &key(d), &key(a), &key(b)]);
                    prop_assert_eq!(reply, Reply::Int(result.len() as i64));
                    model[d as usize] = result.into_iter().collect();
                }
                Op::InterCard(a, b, limit) => {
                    let count = combine_model(&model, 0, a as usize, b as usize).len();
                    let expected = if limit == 0 { count } else { count.min(limit as usize) };
                    prop_assert_eq!(
                        run(&mut s, &["SINTERCARD", "2", &key(a), &key(b), "LIMIT", &limit.to_string()]),
                        Reply::Int(expected as i64)
                    );
                }
            }
            for k in 0..3u8 {
                let set = &model[k as usize];
                prop_assert_eq!(run(&mut s, &["SCARD", &key(k)]), Reply::Int(set.len() as i64));
                prop_assert_eq!(run(&mut s, &["EXISTS", &key(k)]), Reply::Int(i64::from(!set.is_empty())));
                let mut expected: Vec<String> = set.iter().cloned().collect();
                expected.sort();
                prop_assert_eq!(members(&run(&mut s, &["SMEMBERS", &key(k)])), expected);
            }
        }
    }
}
