//! A `State` driven as the tests of `state/` drive it: commands are written as text,
//! parsed by the real parser (`usher_protocol::parse`, as both codecs do) and
//! applied at an explicit time, so tests read like a `redis-cli` session and
//! never sleep.
//!
//! Every helper that applies a command also checks the state's invariants and
//! that an error reply left every live key exactly as it was.

use std::collections::BTreeMap;

use bytes::Bytes;
use usher::state::{Entry, State, StateLimits};
use usher_protocol::{parse, Arg, Reply};

/// A realistic Unix time in milliseconds, on a whole second so that second-
/// and millisecond-based commands can be compared exactly.
pub const T0: u64 = 1_700_000_000_000;

/// `T0` in seconds.
pub const T0_S: u64 = T0 / 1000;

pub fn state() -> State {
    State::new(StateLimits::default())
}

pub fn state_with(limits: StateLimits) -> State {
    State::new(limits)
}

/// Applies a command given as whitespace-separated words at `now_ms`.
#[track_caller]
pub fn run(state: &mut State, now_ms: u64, command: &str) -> Reply {
    let words: Vec<&[u8]> = command.split_whitespace().map(str::as_bytes).collect();
    run_words(state, now_ms, &words)
}

/// Applies a command given as raw words (for values with spaces or any byte).
/// Parse errors are replied as the server does, without touching the state.
/// `BulkInt` replies are turned into the `Bulk` text both codecs send.
#[track_caller]
pub fn run_words(state: &mut State, now_ms: u64, words: &[&[u8]]) -> Reply {
    let before = live(state, now_ms);
    let args: Vec<Arg> = words
        .iter()
        .map(|word| Arg::Bytes(Bytes::copy_from_slice(word)))
        .collect();
    let reply = match parse(&args) {
        Ok(request) => state.apply(&request, now_ms),
        Err(error) => Reply::Error(error),
    };
    state.check_invariants();
    if reply.is_error() {
        assert_eq!(
            live(state, now_ms),
            before,
            "an error reply ({reply:?}) changed the state"
        );
    }
    normalize(reply)
}

/// Every live (not yet expired) key at `now_ms` with its entry.
pub fn live(state: &State, now_ms: u64) -> BTreeMap<Bytes, Entry> {
    state
        .keyspace
        .iter()
        .filter(|(_, entry)| entry.deadline_ms().is_none_or(|deadline| deadline > now_ms))
        .map(|(key, entry)| (key.to_bytes(), entry.clone()))
        .collect()
}

/// The reply as the wire sees it: an integer-backed string is a bulk string,
/// and an inline tuple the array it stands for (so tests can take it apart).
pub fn normalize(reply: Reply) -> Reply {
    match reply {
        Reply::BulkInt(number) => Reply::Bulk(Bytes::from(number.to_string())),
        Reply::Tuple(tuple) => normalize(tuple.to_array()),
        Reply::Array(items) => Reply::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

pub fn ok() -> Reply {
    Reply::OK
}

pub fn nil() -> Reply {
    Reply::Nil
}

pub fn int(value: i64) -> Reply {
    Reply::Int(value)
}

pub fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

pub fn bulk_bytes(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

pub fn simple(text: &'static str) -> Reply {
    Reply::simple(text)
}

/// An INCRBOUND reply: `[value, applied]`.
pub fn bound(value: i64, applied: bool) -> Reply {
    Reply::Array(vec![Reply::Int(value), Reply::Int(i64::from(applied))])
}

/// Asserts that `reply` is an error with exactly this message.
#[track_caller]
pub fn assert_error(reply: &Reply, message: &str) {
    match reply {
        Reply::Error(error) => assert_eq!(error.message, message),
        other => panic!("expected error {message:?}, got {other:?}"),
    }
}

/// Splits a SCAN reply into its cursor and keys.
#[track_caller]
pub fn scan_parts(reply: &Reply) -> (u64, Vec<Bytes>) {
    let Reply::Array(parts) = reply else {
        panic!("SCAN reply is not an array: {reply:?}");
    };
    assert_eq!(parts.len(), 2, "SCAN reply must have two elements");
    let Reply::Bulk(cursor) = &parts[0] else {
        panic!("SCAN cursor is not a bulk string: {reply:?}");
    };
    let cursor = std::str::from_utf8(cursor)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("SCAN cursor is not a number: {reply:?}"));
    let Reply::Array(items) = &parts[1] else {
        panic!("SCAN keys are not an array: {reply:?}");
    };
    let keys = items
        .iter()
        .map(|item| match item {
            Reply::Bulk(key) => key.clone(),
            other => panic!("SCAN key is not a bulk string: {other:?}"),
        })
        .collect();
    (cursor, keys)
}

/// Runs a whole SCAN iteration (`SCAN cursor <options>` until cursor 0).
/// Returns every key returned, in order, with repeats, and the call count.
#[track_caller]
pub fn scan_all(state: &mut State, now_ms: u64, options: &str) -> (Vec<Bytes>, usize) {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let reply = run(state, now_ms, &format!("SCAN {cursor} {options}"));
        let (next, found) = scan_parts(&reply);
        keys.extend(found);
        calls += 1;
        assert!(
            calls <= 1_000_000,
            "SCAN did not finish after {calls} calls"
        );
        if next == 0 {
            return (keys, calls);
        }
        cursor = next;
    }
}

/// Number of proptest cases: `PROPTEST_CASES` when set, else `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// `State::prefetch` is a cache hint: two states built by `setup` (text
/// commands, each of which must succeed), one of them with both prefetch
/// steps run for every command first, give the same reply to every command
/// (word lists, which must parse) and keep the same number of keys.
pub fn assert_prefetch_changes_no_reply(setup: &[&str], commands: &[&[&str]]) {
    let (mut plain, mut warmed) = (state(), state());
    for command in setup {
        for state in [&mut plain, &mut warmed] {
            let reply = run(state, T0, command);
            assert!(!reply.is_error(), "{command}: {reply:?}");
        }
    }
    let requests: Vec<_> = commands
        .iter()
        .map(|words| {
            let args: Vec<Arg> = words
                .iter()
                .map(|word| Arg::Bytes(Bytes::copy_from_slice(word.as_bytes())))
                .collect();
            parse(&args).expect("parses")
        })
        .collect();
    for entries in [false, true] {
        for request in &requests {
            warmed.prefetch(request, entries);
        }
    }
    for (words, request) in commands.iter().zip(&requests) {
        let expected = plain.apply(request, T0 + 1);
        assert_eq!(warmed.apply(request, T0 + 1), expected, "{words:?}");
        warmed.check_invariants();
    }
    assert_eq!(warmed.keyspace.len(), plain.keyspace.len());
}
