//! Waiting rooms through `State::apply` and the state's timers, with an
//! explicit `now_ms` for every step (no sleeping), a property test against
//! an observational model, and one test over TCP with the `redis` crate.
//! Mirrors `src/state/queue.rs`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;
use usher::client::args;
use usher::protocol::{parse, ErrorCode, Reply};
use usher::state::{State, StateLimits, Value};

use crate::support;

const T0: u64 = 1_700_000_000_000;

fn run(state: &mut State, now_ms: u64, words: &[&str]) -> Reply {
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

/// Runs every timer due at `now_ms`, as the engine would over some ticks.
fn tick(state: &mut State, now_ms: u64) -> usize {
    let mut total = 0;
    while state.next_timer_ms().is_some_and(|due| due <= now_ms) {
        let done = state.run_timers(now_ms, 64);
        total += done;
        if done < 64 {
            break;
        }
    }
    state.check_invariants();
    total
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

fn waiting(position: i64) -> Reply {
    Reply::Array(vec![bulk("waiting"), Reply::Int(position)])
}

fn waiting_eta(position: i64, eta: i64) -> Reply {
    Reply::Array(vec![bulk("waiting"), Reply::Int(position), Reply::Int(eta)])
}

fn active(ttl: i64) -> Reply {
    Reply::Array(vec![bulk("active"), Reply::Int(ttl)])
}

fn none() -> Reply {
    Reply::Array(vec![bulk("none")])
}

fn members(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|item| bulk(item)).collect())
}

fn error_code(reply: &Reply) -> ErrorCode {
    match reply {
        Reply::Error(error) => error.code,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// QUEUE.INFO as a name → reply map.
fn info(state: &mut State, now_ms: u64, key: &str) -> BTreeMap<String, Reply> {
    let Reply::Map(pairs) = run(state, now_ms, &["QUEUE.INFO", key]) else {
        panic!("QUEUE.INFO did not answer a map");
    };
    pairs
        .into_iter()
        .map(|(name, value)| match name {
            Reply::Bulk(name) => (String::from_utf8(name.to_vec()).unwrap(), value),
            other => panic!("field name {other:?}"),
        })
        .collect()
}

fn fresh() -> State {
    State::new(StateLimits::default())
}

#[test]
fn unknown_queue_and_wrong_type() {
    let mut s = fresh();
    for command in [
        &["QUEUE.JOIN", "q", "a"][..],
        &["QUEUE.POS", "q", "a"],
        &["QUEUE.ADMIT", "q", "1"],
        &["QUEUE.TOUCH", "q", "a"],
        &["QUEUE.LEAVE", "q", "a"],
        &["QUEUE.CLOSE", "q"],
        &["QUEUE.INFO", "q"],
    ] {
        assert_eq!(
            error_code(&run(&mut s, T0, command)),
            ErrorCode::NoSuchKey,
            "{command:?}"
        );
    }
    assert_eq!(run(&mut s, T0, &["QUEUE.DROP", "q"]), Reply::Int(0));
    run(&mut s, T0, &["SET", "str", "x"]);
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.CONFIG", "str"])),
        ErrorCode::WrongType
    );
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.JOIN", "str", "a"])),
        ErrorCode::WrongType
    );
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.DROP", "str"])),
        ErrorCode::WrongType
    );
    run(&mut s, T0, &["QUEUE.CONFIG", "q"]);
    assert_eq!(
        error_code(&run(&mut s, T0, &["GET", "q"])),
        ErrorCode::WrongType
    );
    assert_eq!(
        error_code(&run(&mut s, T0, &["ZADD", "q", "1", "a"])),
        ErrorCode::WrongType
    );
}

#[test]
fn config_syntax_and_limits() {
    let mut s = State::new(StateLimits {
        queue_ttl_ms_max: 10_000,
        queue_rate_period_ms_max: 5_000,
        ..StateLimits::default()
    });
    let syntax = [
        &["QUEUE.CONFIG", "q", "CAPACITY"][..],
        &["QUEUE.CONFIG", "q", "RATE", "5"],
        &["QUEUE.CONFIG", "q", "RATE", "5", "IN", "10"],
        &["QUEUE.CONFIG", "q", "RATE", "5", "PER", "0"],
        &["QUEUE.CONFIG", "q", "CAPACITY", "-1"],
        &["QUEUE.CONFIG", "q", "TTL", "1", "TTL", "2"],
        &["QUEUE.CONFIG", "q", "COLOR", "red"],
        &["QUEUE.TOUCH", "q", "a", "TTL"],
        &["QUEUE.ADMIT", "q", "-1"],
    ];
    for command in syntax {
        assert_eq!(
            error_code(&run(&mut s, T0, command)),
            ErrorCode::Syntax,
            "{command:?}"
        );
    }
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.CONFIG", "q", "CAPACITY", "x"])),
        ErrorCode::NotInteger
    );
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.CONFIG", "q", "TTL", "10001"])),
        ErrorCode::Limit
    );
    assert_eq!(
        error_code(&run(
            &mut s,
            T0,
            &["QUEUE.CONFIG", "q", "RATE", "1", "PER", "5001"]
        )),
        ErrorCode::Limit
    );
    // None of the refused configs created the queue.
    assert_eq!(run(&mut s, T0, &["EXISTS", "q"]), Reply::Int(0));
    assert_eq!(
        run(
            &mut s,
            T0,
            &[
                "QUEUE.CONFIG",
                "q",
                "CAPACITY",
                "3",
                "RATE",
                "2",
                "PER",
                "5000",
                "TTL",
                "10000"
            ]
        ),
        Reply::OK
    );
    let fields = info(&mut s, T0, "q");
    assert_eq!(fields["capacity"], Reply::Int(3));
    assert_eq!(fields["rate"], Reply::Int(2));
    assert_eq!(fields["rate_period_ms"], Reply::Int(5000));
    assert_eq!(fields["ttl_ms"], Reply::Int(10_000));
    assert_eq!(fields["closed"], Reply::Bool(false));
    // 0 switches settings off.
    run(
        &mut s,
        T0,
        &[
            "QUEUE.CONFIG",
            "q",
            "CAPACITY",
            "0",
            "RATE",
            "0",
            "PER",
            "0",
            "TTL",
            "0",
        ],
    );
    let fields = info(&mut s, T0, "q");
    assert_eq!(fields["capacity"], Reply::Nil);
    assert_eq!(fields["rate"], Reply::Nil);
    assert_eq!(fields["ttl_ms"], Reply::Int(0));
}

#[test]
fn manual_queue_joins_in_order_and_is_idempotent() {
    let mut s = fresh();
    run(&mut s, T0, &["QUEUE.CONFIG", "q"]);
    assert_eq!(run(&mut s, T0, &["QUEUE.JOIN", "q", "a"]), waiting(1));
    assert_eq!(run(&mut s, T0, &["QUEUE.JOIN", "q", "b"]), waiting(2));
    assert_eq!(run(&mut s, T0, &["QUEUE.JOIN", "q", "c"]), waiting(3));
    // Joining again neither adds an entry nor moves anyone.
    assert_eq!(run(&mut s, T0 + 1, &["QUEUE.JOIN", "q", "a"]), waiting(1));
    assert_eq!(run(&mut s, T0 + 1, &["QUEUE.JOIN", "q", "c"]), waiting(3));
    assert_eq!(info(&mut s, T0, "q")["waiting"], Reply::Int(3));
    // No rate and no admissions yet: no estimate.
    assert_eq!(
        run(&mut s, T0, &["QUEUE.POS", "q", "b"]),
        waiting_eta(2, -1)
    );
    assert_eq!(run(&mut s, T0, &["QUEUE.POS", "q", "zz"]), none());
    // Without CAPACITY or RATE nobody is admitted by time alone.
    assert_eq!(tick(&mut s, T0 + 3_600_000), 0);
    assert_eq!(s.next_timer_ms(), None);
    assert_eq!(
        run(&mut s, T0 + 10, &["QUEUE.ADMIT", "q", "2"]),
        members(&["a", "b"])
    );
    assert_eq!(run(&mut s, T0 + 10, &["QUEUE.POS", "q", "a"]), active(-1));
    assert_eq!(run(&mut s, T0 + 10, &["QUEUE.JOIN", "q", "a"]), active(-1));
    // Observed rate: 2 admissions within the current second → 500 ms each.
    assert_eq!(
        run(&mut s, T0 + 10, &["QUEUE.POS", "q", "c"]),
        waiting_eta(1, 500)
    );
    assert_eq!(
        run(&mut s, T0 + 10, &["QUEUE.ADMIT", "q", "5"]),
        members(&["c"])
    );
    assert_eq!(
        run(&mut s, T0 + 10, &["QUEUE.ADMIT", "q", "5"]),
        members(&[])
    );
}

#[test]
fn capacity_admits_at_once_and_refills_on_leave() {
    let mut s = fresh();
    run(
        &mut s,
        T0,
        &["QUEUE.CONFIG", "q", "CAPACITY", "2", "TTL", "60000"],
    );
    assert_eq!(run(&mut s, T0, &["QUEUE.JOIN", "q", "a"]), active(60_000));
    assert_eq!(
        run(&mut s, T0 + 5, &["QUEUE.JOIN", "q", "b"]),
        active(60_000)
    );
    assert_eq!(run(&mut s, T0 + 5, &["QUEUE.JOIN", "q", "c"]), waiting(1));
    assert_eq!(run(&mut s, T0 + 5, &["QUEUE.JOIN", "q", "d"]), waiting(2));
    assert_eq!(
        run(&mut s, T0 + 100, &["QUEUE.POS", "q", "a"]),
        active(59_900)
    );
    // ADMIT never goes beyond CAPACITY.
    assert_eq!(
        run(&mut s, T0 + 100, &["QUEUE.ADMIT", "q", "10"]),
        members(&[])
    );
    // Leaving an active slot admits the next waiter in the same command.
    assert_eq!(
        run(&mut s, T0 + 200, &["QUEUE.LEAVE", "q", "a"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut s, T0 + 200, &["QUEUE.POS", "q", "c"]),
        active(60_000)
    );
    // No RATE: the eta comes from the 3 admissions seen this second.
    assert_eq!(
        run(&mut s, T0 + 200, &["QUEUE.POS", "q", "d"]),
        waiting_eta(1, 334)
    );
    // Leaving a waiting member frees no slot.
    assert_eq!(
        run(&mut s, T0 + 300, &["QUEUE.LEAVE", "q", "d"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut s, T0 + 300, &["QUEUE.LEAVE", "q", "d"]),
        Reply::Int(0)
    );
    let fields = info(&mut s, T0 + 300, "q");
    assert_eq!(fields["active"], Reply::Int(2));
    assert_eq!(fields["waiting"], Reply::Int(0));
    assert_eq!(fields["left_total"], Reply::Int(2));
    assert_eq!(fields["admitted_total"], Reply::Int(3));
    assert_eq!(fields["joined_total"], Reply::Int(4));
    // Raising the capacity admits waiting members at once.
    run(&mut s, T0 + 400, &["QUEUE.JOIN", "q", "e"]);
    run(&mut s, T0 + 400, &["QUEUE.JOIN", "q", "f"]);
    run(&mut s, T0 + 400, &["QUEUE.CONFIG", "q", "CAPACITY", "3"]);
    assert_eq!(
        run(&mut s, T0 + 400, &["QUEUE.POS", "q", "e"]),
        active(60_000)
    );
    assert_eq!(
        run(&mut s, T0 + 400, &["QUEUE.POS", "q", "f"]),
        waiting_eta(1, 250)
    );
}

#[test]
fn expiry_runs_on_the_timer_and_refills() {
    let mut s = fresh();
    run(
        &mut s,
        T0,
        &["QUEUE.CONFIG", "q", "CAPACITY", "2", "TTL", "1000"],
    );
    for member in ["a", "b", "c", "d", "e"] {
        run(&mut s, T0, &["QUEUE.JOIN", "q", member]);
    }
    assert_eq!(s.next_timer_ms(), Some(T0 + 1000));
    assert_eq!(tick(&mut s, T0 + 999), 0);
    assert_eq!(run(&mut s, T0 + 999, &["QUEUE.POS", "q", "a"]), active(1));
    // At the deadline, with no request: a and b expire, c and d take over.
    assert_eq!(tick(&mut s, T0 + 1000), 4);
    let fields = info(&mut s, T0 + 1000, "q");
    assert_eq!(fields["expired_total"], Reply::Int(2));
    assert_eq!(fields["active"], Reply::Int(2));
    assert_eq!(fields["waiting"], Reply::Int(1));
    assert_eq!(run(&mut s, T0 + 1000, &["QUEUE.POS", "q", "a"]), none());
    assert_eq!(
        run(&mut s, T0 + 1000, &["QUEUE.POS", "q", "c"]),
        active(1000)
    );
    assert_eq!(
        run(&mut s, T0 + 1000, &["QUEUE.POS", "q", "e"]),
        waiting_eta(1, 500)
    );
    assert_eq!(s.next_timer_ms(), Some(T0 + 2000));
    // A late timer (engine busy) is caught up by the next command instead.
    assert_eq!(run(&mut s, T0 + 2500, &["QUEUE.POS", "q", "c"]), none());
    assert_eq!(
        run(&mut s, T0 + 2500, &["QUEUE.POS", "q", "e"]),
        active(1000)
    );
    // An expired member who joins again goes to the back as a newcomer.
    assert_eq!(
        run(&mut s, T0 + 2500, &["QUEUE.JOIN", "q", "a"]),
        active(1000)
    );
    assert_eq!(info(&mut s, T0 + 2500, "q")["joined_total"], Reply::Int(6));
}

#[test]
fn ttl_zero_means_no_expiry() {
    let mut s = fresh();
    run(
        &mut s,
        T0,
        &["QUEUE.CONFIG", "q", "CAPACITY", "1", "TTL", "0"],
    );
    assert_eq!(run(&mut s, T0, &["QUEUE.JOIN", "q", "a"]), active(-1));
    run(&mut s, T0, &["QUEUE.JOIN", "q", "b"]);
    assert_eq!(s.next_timer_ms(), None);
    assert_eq!(tick(&mut s, T0 + 365 * 86_400_000), 0);
    assert_eq!(
        run(&mut s, T0 + 365 * 86_400_000, &["QUEUE.POS", "q", "a"]),
        active(-1)
    );
    // Setting a TTL later applies to later admissions only.
    run(&mut s, T0, &["QUEUE.CONFIG", "q", "TTL", "50"]);
    run(&mut s, T0 + 10, &["QUEUE.LEAVE", "q", "a"]);
    assert_eq!(run(&mut s, T0 + 10, &["QUEUE.POS", "q", "b"]), active(50));
}

#[test]
fn rate_windows_have_exact_boundaries() {
    let mut s = fresh();
    run(
        &mut s,
        T0,
        &["QUEUE.CONFIG", "q", "RATE", "2", "PER", "1000"],
    );
    for member in ["a", "b", "c", "d", "e", "f", "g"] {
        run(&mut s, T0 + 10, &["QUEUE.JOIN", "q", member]);
    }
    assert_eq!(run(&mut s, T0 + 10, &["QUEUE.POS", "q", "b"]), active(-1));
    // Window 0 is spent; c is next, at the start of window 1.
    assert_eq!(
        run(&mut s, T0 + 10, &["QUEUE.POS", "q", "c"]),
        waiting_eta(1, 990)
    );
    assert_eq!(
        run(&mut s, T0 + 10, &["QUEUE.POS", "q", "e"]),
        waiting_eta(3, 1990)
    );
    assert_eq!(s.next_timer_ms(), Some(T0 + 1000));
    assert_eq!(tick(&mut s, T0 + 999), 0);
    assert_eq!(
        run(&mut s, T0 + 999, &["QUEUE.POS", "q", "c"]),
        waiting_eta(1, 1)
    );
    assert_eq!(tick(&mut s, T0 + 1000), 2);
    assert_eq!(run(&mut s, T0 + 1000, &["QUEUE.POS", "q", "d"]), active(-1));
    assert_eq!(
        run(&mut s, T0 + 1000, &["QUEUE.POS", "q", "e"]),
        waiting_eta(1, 1000)
    );
    // Manual ADMIT is not limited by the rate and does not use its budget.
    assert_eq!(
        run(&mut s, T0 + 1500, &["QUEUE.ADMIT", "q", "1"]),
        members(&["e"])
    );
    // Windows nobody used are simply skipped: f and g enter in window 5.
    assert_eq!(tick(&mut s, T0 + 5000), 2);
    assert_eq!(info(&mut s, T0 + 5000, "q")["waiting"], Reply::Int(0));
    assert_eq!(s.next_timer_ms(), None);
    // Window 5 is spent, so a joiner waits for window 6...
    assert_eq!(
        run(&mut s, T0 + 5001, &["QUEUE.JOIN", "q", "h"]),
        waiting(1)
    );
    assert_eq!(s.next_timer_ms(), Some(T0 + 6000));
    // ...while in a window with budget left, a joiner is admitted at once.
    tick(&mut s, T0 + 6000);
    assert_eq!(
        run(&mut s, T0 + 6001, &["QUEUE.JOIN", "q", "i"]),
        active(-1)
    );
    assert_eq!(
        run(&mut s, T0 + 6002, &["QUEUE.JOIN", "q", "j"]),
        waiting(1)
    );
}

#[test]
fn rate_and_capacity_together() {
    let mut s = fresh();
    run(
        &mut s,
        T0,
        &[
            "QUEUE.CONFIG",
            "q",
            "CAPACITY",
            "3",
            "RATE",
            "2",
            "PER",
            "100",
            "TTL",
            "250",
        ],
    );
    for i in 0..10 {
        run(&mut s, T0, &["QUEUE.JOIN", "q", &format!("m{i}")]);
    }
    let active_at = |s: &mut State, now: u64| match &info(s, now, "q")["active"] {
        Reply::Int(n) => *n,
        other => panic!("{other:?}"),
    };
    assert_eq!(active_at(&mut s, T0), 2);
    tick(&mut s, T0 + 100);
    // Rate would allow 2 more, capacity only 1.
    assert_eq!(active_at(&mut s, T0 + 100), 3);
    tick(&mut s, T0 + 200);
    assert_eq!(active_at(&mut s, T0 + 200), 3);
    // m0, m1 expire at 250 and are refilled within window 2's budget (2).
    tick(&mut s, T0 + 250);
    assert_eq!(active_at(&mut s, T0 + 250), 3);
    assert_eq!(
        run(&mut s, T0 + 250, &["QUEUE.POS", "q", "m4"]),
        active(250)
    );
    assert_eq!(info(&mut s, T0 + 250, "q")["admitted_total"], Reply::Int(5));
}

#[test]
fn closed_queue_refuses_joins_and_keeps_active() {
    let mut s = fresh();
    run(
        &mut s,
        T0,
        &["QUEUE.CONFIG", "q", "CAPACITY", "1", "TTL", "1000"],
    );
    for member in ["a", "b", "c"] {
        run(&mut s, T0, &["QUEUE.JOIN", "q", member]);
    }
    assert_eq!(run(&mut s, T0, &["QUEUE.CLOSE", "q"]), Reply::Int(2));
    assert_eq!(run(&mut s, T0, &["QUEUE.CLOSE", "q"]), Reply::Int(0));
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.JOIN", "q", "d"])),
        ErrorCode::QueueClosed
    );
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.JOIN", "q", "b"])),
        ErrorCode::QueueClosed
    );
    // The active member keeps its admission and may ask again.
    assert_eq!(run(&mut s, T0 + 1, &["QUEUE.JOIN", "q", "a"]), active(999));
    assert_eq!(run(&mut s, T0 + 1, &["QUEUE.POS", "q", "b"]), none());
    let fields = info(&mut s, T0 + 1, "q");
    assert_eq!(fields["closed"], Reply::Bool(true));
    assert_eq!(fields["dropped_total"], Reply::Int(2));
    assert_eq!(fields["waiting"], Reply::Int(0));
    tick(&mut s, T0 + 1000);
    assert_eq!(info(&mut s, T0 + 1000, "q")["active"], Reply::Int(0));
}

#[test]
fn touch_extends_only_active_members() {
    let mut s = fresh();
    run(
        &mut s,
        T0,
        &["QUEUE.CONFIG", "q", "CAPACITY", "1", "TTL", "1000"],
    );
    run(&mut s, T0, &["QUEUE.JOIN", "q", "a"]);
    run(&mut s, T0, &["QUEUE.JOIN", "q", "b"]);
    assert_eq!(
        run(&mut s, T0 + 500, &["QUEUE.TOUCH", "q", "a"]),
        active(1000)
    );
    assert_eq!(tick(&mut s, T0 + 1000), 0);
    assert_eq!(
        run(&mut s, T0 + 1000, &["QUEUE.POS", "q", "a"]),
        active(500)
    );
    assert_eq!(
        run(&mut s, T0 + 1000, &["QUEUE.TOUCH", "q", "a", "TTL", "5000"]),
        active(5000)
    );
    assert_eq!(s.next_timer_ms(), Some(T0 + 6000));
    assert_eq!(run(&mut s, T0 + 1000, &["QUEUE.TOUCH", "q", "b"]), none());
    assert_eq!(run(&mut s, T0 + 1000, &["QUEUE.TOUCH", "q", "zz"]), none());
    // TTL 0 on a touch removes the deadline.
    assert_eq!(
        run(&mut s, T0 + 1000, &["QUEUE.TOUCH", "q", "a", "TTL", "0"]),
        active(-1)
    );
    assert_eq!(s.next_timer_ms(), None);
    // A member past its deadline cannot be touched back to life.
    run(&mut s, T0 + 1000, &["QUEUE.TOUCH", "q", "a", "TTL", "10"]);
    assert_eq!(run(&mut s, T0 + 1010, &["QUEUE.TOUCH", "q", "a"]), none());
    assert_eq!(
        run(&mut s, T0 + 1010, &["QUEUE.POS", "q", "b"]),
        active(1000)
    );
}

#[test]
fn queue_is_a_key() {
    let mut s = fresh();
    run(
        &mut s,
        T0,
        &["QUEUE.CONFIG", "q", "CAPACITY", "1", "TTL", "100"],
    );
    run(&mut s, T0, &["QUEUE.JOIN", "q", "a"]);
    run(&mut s, T0, &["SET", "s", "1"]);
    assert_eq!(run(&mut s, T0, &["TYPE", "q"]), Reply::simple("queue"));
    assert_eq!(run(&mut s, T0, &["EXISTS", "q", "s"]), Reply::Int(2));
    assert_eq!(
        run(&mut s, T0, &["SCAN", "0", "TYPE", "queue"]),
        Reply::Array(vec![bulk("0"), members(&["q"])])
    );
    // Deleting the queue leaves a stale timer entry that is dropped quietly.
    assert_eq!(run(&mut s, T0, &["DEL", "q"]), Reply::Int(1));
    assert_eq!(s.next_timer_ms(), Some(T0 + 100));
    assert_eq!(tick(&mut s, T0 + 100), 1);
    assert_eq!(s.next_timer_ms(), None);
    // A new queue under the same key starts from scratch.
    run(&mut s, T0 + 200, &["QUEUE.CONFIG", "q"]);
    assert_eq!(run(&mut s, T0 + 200, &["QUEUE.JOIN", "q", "a"]), waiting(1));
    assert_eq!(run(&mut s, T0 + 200, &["QUEUE.DROP", "q"]), Reply::Int(1));
    assert_eq!(run(&mut s, T0 + 200, &["EXISTS", "q"]), Reply::Int(0));
    run(
        &mut s,
        T0,
        &["QUEUE.CONFIG", "q2", "CAPACITY", "1", "TTL", "100"],
    );
    run(&mut s, T0, &["QUEUE.JOIN", "q2", "a"]);
    assert_eq!(run(&mut s, T0, &["FLUSHALL"]), Reply::OK);
    assert_eq!(s.next_timer_ms(), None);
}

#[test]
fn member_and_size_limits() {
    let mut s = State::new(StateLimits {
        queue_members_max: 2,
        member_bytes_max: 5,
        reply_items_max: 10,
        ..StateLimits::default()
    });
    run(&mut s, T0, &["QUEUE.CONFIG", "q"]);
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.JOIN", "q", "toolong"])),
        ErrorCode::Limit
    );
    run(&mut s, T0, &["QUEUE.JOIN", "q", "a"]);
    run(&mut s, T0, &["QUEUE.JOIN", "q", "b"]);
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.JOIN", "q", "c"])),
        ErrorCode::Limit
    );
    assert_eq!(run(&mut s, T0, &["QUEUE.JOIN", "q", "a"]), waiting(1));
    assert_eq!(
        error_code(&run(&mut s, T0, &["QUEUE.ADMIT", "q", "11"])),
        ErrorCode::Limit
    );
    assert_eq!(info(&mut s, T0, "q")["waiting"], Reply::Int(2));
}

#[test]
fn big_backlogs_are_admitted_within_the_timer_budget() {
    let mut s = fresh();
    run(&mut s, T0, &["QUEUE.CONFIG", "q"]);
    for i in 0..1000 {
        let arguments = args(["QUEUE.JOIN", "q", &format!("m{i}")]);
        s.apply(&parse(&arguments).unwrap(), T0);
    }
    run(&mut s, T0, &["QUEUE.CONFIG", "q", "CAPACITY", "1000"]);
    // A command does a bounded amount of catching up; the timer the rest.
    let active_now = match &info(&mut s, T0, "q")["active"] {
        Reply::Int(n) => *n,
        other => panic!("{other:?}"),
    };
    assert!(active_now < 1000, "all admitted inline: {active_now}");
    assert_eq!(s.next_timer_ms(), Some(T0));
    assert_eq!(s.run_timers(T0, 64), 64);
    tick(&mut s, T0);
    assert_eq!(info(&mut s, T0, "q")["active"], Reply::Int(1000));
    assert_eq!(s.next_timer_ms(), None);
}

#[test]
fn positions_stay_exact_through_churn() {
    let mut s = fresh();
    run(&mut s, T0, &["QUEUE.CONFIG", "q"]);
    let mut line: Vec<String> = Vec::new();
    let mut rng = 0x1234_5678_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut joined = 0;
    for round in 0..20_000 {
        let roll = next() % 10;
        if roll < 5 || line.is_empty() {
            let member = format!("user-{joined:016}");
            joined += 1;
            let arguments = args(["QUEUE.JOIN", "q", &member]);
            s.apply(&parse(&arguments).unwrap(), T0);
            line.push(member);
        } else if roll < 8 {
            let index = (next() % line.len() as u64) as usize;
            let member = line.remove(index);
            let arguments = args(["QUEUE.LEAVE", "q", &member]);
            assert_eq!(s.apply(&parse(&arguments).unwrap(), T0), Reply::Int(1));
        } else {
            let count = (next() % 5) as usize;
            let arguments = args(["QUEUE.ADMIT", "q", &count.to_string()]);
            let admitted = s.apply(&parse(&arguments).unwrap(), T0);
            let expected: Vec<String> = line.drain(..count.min(line.len())).collect();
            let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
            assert_eq!(admitted, members(&expected));
        }
        if round % 997 == 0 && !line.is_empty() {
            s.check_invariants();
            for probe in [0, line.len() / 2, line.len() - 1] {
                let reply = run(&mut s, T0, &["QUEUE.POS", "q", &line[probe]]);
                let Reply::Array(items) = support::state::normalize(reply) else {
                    panic!()
                };
                assert_eq!(items[1], Reply::Int(probe as i64 + 1));
            }
        }
    }
    let queue = match &s.keyspace.get_live(b"q", T0).unwrap().value {
        Value::Queue(queue) => queue
            .waiting_members()
            .map(|m| m.to_vec())
            .collect::<Vec<_>>(),
        _ => panic!(),
    };
    let expected: Vec<Vec<u8>> = line.iter().map(|m| m.as_bytes().to_vec()).collect();
    assert_eq!(queue, expected);
}

#[test]
fn sparse_lines_are_renumbered_and_the_arena_shrinks() {
    let mut s = fresh();
    run(&mut s, T0, &["QUEUE.CONFIG", "q"]);
    let apply = |s: &mut State, words: &[&str]| {
        let arguments = args(words);
        s.apply(&parse(&arguments).unwrap(), T0)
    };
    let id = |i: usize| format!("user-{i:017}");
    for i in 0..20_000 {
        apply(&mut s, &["QUEUE.JOIN", "q", &id(i)]);
    }
    let arena = |s: &mut State| match &s.keyspace.get_live(b"q", T0).unwrap().value {
        Value::Queue(queue) => queue.arena_bytes(),
        _ => panic!(),
    };
    let full = arena(&mut s);
    assert!(full >= 20_000 * 23, "{full}");
    // Everyone but every 20th member leaves, from all over the line: the
    // gaps trigger renumbering and the sparse chunks are evacuated.
    for i in (0..20_000).filter(|i| i % 20 != 0) {
        assert_eq!(apply(&mut s, &["QUEUE.LEAVE", "q", &id(i)]), Reply::Int(1));
    }
    s.check_invariants();
    assert!(
        arena(&mut s) <= 2 * 65_536,
        "arena kept {} bytes",
        arena(&mut s)
    );
    for (position, i) in (0..20_000).filter(|i| i % 20 == 0).enumerate() {
        if position % 97 == 0 {
            let Reply::Array(items) =
                support::state::normalize(run(&mut s, T0, &["QUEUE.POS", "q", &id(i)]))
            else {
                panic!()
            };
            assert_eq!(items[1], Reply::Int(position as i64 + 1));
        }
    }
    // The line still works after it was rebuilt.
    assert_eq!(apply(&mut s, &["QUEUE.JOIN", "q", "late"]), waiting(1001));
    assert_eq!(
        apply(&mut s, &["QUEUE.ADMIT", "q", "2"]),
        members(&[&id(0), &id(20)])
    );
    s.check_invariants();
}

// ---------------------------------------------------------------------------
// Property test against an observational model
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Step {
    Join(u8),
    Leave(u8),
    Admit(u8),
    Touch(u8),
    Pos(u8),
    /// Advance time; `true` = the engine's timer runs, `false` = it lags.
    Wait(u16, bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0u8..24).prop_map(Step::Join),
        2 => (0u8..24).prop_map(Step::Leave),
        1 => (0u8..4).prop_map(Step::Admit),
        1 => (0u8..24).prop_map(Step::Touch),
        1 => (0u8..24).prop_map(Step::Pos),
        3 => (0u16..300, any::<bool>()).prop_map(|(dt, timer)| Step::Wait(dt, timer)),
    ]
}

fn cases() -> u32 {
    std::env::var("USHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96)
}

fn queue_view(state: &mut State, now: u64) -> (Vec<String>, BTreeMap<String, u64>) {
    match &state
        .keyspace
        .get_live(b"q", now)
        .expect("queue exists")
        .value
    {
        Value::Queue(queue) => (
            queue
                .waiting_members()
                .map(|m| String::from_utf8(m.to_vec()).unwrap())
                .collect(),
            queue
                .active_members()
                .into_iter()
                .map(|(m, deadline)| (String::from_utf8(m.to_vec()).unwrap(), deadline))
                .collect(),
        ),
        _ => panic!("not a queue"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn queue_keeps_its_promises(
        capacity in 0u64..4,
        rate in 0u64..3,
        period in 1u64..200,
        ttl in prop_oneof![Just(0u64), 1u64..400],
        steps in proptest::collection::vec(step(), 1..120),
    ) {
        let mut s = fresh();
        let mut now = T0;
        let rate_arg = if rate == 0 { ("0".to_string(), "0".to_string()) } else { (rate.to_string(), period.to_string()) };
        prop_assert_eq!(
            run(&mut s, now, &["QUEUE.CONFIG", "q", "CAPACITY", &capacity.to_string(),
                "RATE", &rate_arg.0, "PER", &rate_arg.1, "TTL", &ttl.to_string()]),
            Reply::OK
        );
        // Arrival number of each present member, renewed on every fresh join.
        let mut arrival: BTreeMap<String, u64> = BTreeMap::new();
        let mut arrivals = 0u64;
        // Automatic admissions per rate window.
        let mut per_window: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut waiting_before, mut active_before) = queue_view(&mut s, now);
        for step in steps {
            let mut manual = false;
            match step {
                Step::Join(m) => {
                    let member = format!("m{m}");
                    let reply = run(&mut s, now, &["QUEUE.JOIN", "q", &member]);
                    prop_assert!(!reply.is_error(), "{:?}", reply);
                    let present = waiting_before.contains(&member) || active_before.get(&member)
                        .is_some_and(|&d| d == 0 || d > now);
                    if !present {
                        arrivals += 1;
                        arrival.insert(member, arrivals);
                    }
                }
                Step::Leave(m) => {
                    let member = format!("m{m}");
                    run(&mut s, now, &["QUEUE.LEAVE", "q", &member]);
                }
                Step::Admit(n) => {
                    manual = true;
                    run(&mut s, now, &["QUEUE.ADMIT", "q", &n.to_string()]);
                }
                Step::Touch(m) => {
                    let member = format!("m{m}");
                    run(&mut s, now, &["QUEUE.TOUCH", "q", &member]);
                }
                Step::Pos(m) => {
                    let member = format!("m{m}");
                    let reply = run(&mut s, now, &["QUEUE.POS", "q", &member]);
                    let (waiting_now, _) = queue_view(&mut s, now);
                    if let Some(index) = waiting_now.iter().position(|x| *x == member) {
                        let Reply::Array(items) = support::state::normalize(reply) else { panic!() };
                        prop_assert_eq!(&items[1], &Reply::Int(index as i64 + 1));
                    }
                }
                Step::Wait(dt, timer) => {
                    now += u64::from(dt);
                    if timer {
                        tick(&mut s, now);
                    }
                }
            }
            let (waiting_now, active_now) = queue_view(&mut s, now);
            // Nobody is both waiting and active, nor waiting twice.
            let waiting_set: BTreeSet<&String> = waiting_now.iter().collect();
            prop_assert_eq!(waiting_set.len(), waiting_now.len());
            for member in &waiting_now {
                prop_assert!(!active_now.contains_key(member), "{} waiting and active", member);
            }
            // The line is in arrival order.
            let order: Vec<u64> = waiting_now.iter().map(|m| arrival[m]).collect();
            prop_assert!(order.windows(2).all(|w| w[0] < w[1]), "line out of order: {:?}", waiting_now);
            // Whoever was admitted in this step arrived before everyone
            // still waiting.
            let admitted: Vec<&String> = active_now
                .keys()
                .filter(|m| !active_before.contains_key(*m) || waiting_before.contains(m))
                .collect();
            if let (Some(latest), Some(&first_waiting)) = (
                admitted.iter().map(|m| arrival[*m]).max(),
                order.first(),
            ) {
                prop_assert!(latest < first_waiting, "admitted out of arrival order");
            }
            // CAPACITY is never exceeded.
            if capacity > 0 {
                prop_assert!(active_now.len() as u64 <= capacity);
            }
            // RATE: automatic admissions per window stay within the rate.
            if rate > 0 && !manual {
                let window = (now - T0) / period;
                let count = per_window.entry(window).or_default();
                *count += admitted.len() as u64;
                prop_assert!(*count <= rate, "{} admitted in window {}", count, window);
            }
            // No active member outlives its deadline once the timer ran.
            if let Step::Wait(_, true) = step {
                prop_assert!(active_now.values().all(|&d| d == 0 || d > now));
                // With CAPACITY alone admission is work-conserving.
                if capacity > 0 && rate == 0 && !waiting_now.is_empty() {
                    prop_assert_eq!(active_now.len() as u64, capacity);
                }
            }
            waiting_before = waiting_now;
            active_before = active_now;
        }
    }
}

// ---------------------------------------------------------------------------
// Over TCP with a third-party Redis client
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_client_speaks_zsets_and_queues() {
    let config = usher::config::Config {
        bind: "127.0.0.1".into(),
        port: 0,
        persist: false,
        ..usher::config::Config::default()
    };
    let server = usher::server::start(config, usher::clock::SystemClock)
        .await
        .expect("server starts");
    let client = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let added: i64 = redis::cmd("ZADD")
        .arg("z")
        .arg(2)
        .arg("b")
        .arg(1.5)
        .arg("a")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(added, 2);
    let rank: i64 = redis::cmd("ZRANK")
        .arg("z")
        .arg("b")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(rank, 1);
    let score: f64 = redis::cmd("ZSCORE")
        .arg("z")
        .arg("a")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(score, 1.5);
    let range: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("z")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(range, vec![("a".to_string(), 1.5), ("b".to_string(), 2.0)]);
    let ok: String = redis::cmd("QUEUE.CONFIG")
        .arg("q")
        .arg("CAPACITY")
        .arg(1)
        .arg("TTL")
        .arg(60_000)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(ok, "OK");
    let first: (String, i64) = redis::cmd("QUEUE.JOIN")
        .arg("q")
        .arg("alice")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(first.0, "active");
    assert!(first.1 > 59_000 && first.1 <= 60_000, "{first:?}");
    let second: (String, i64) = redis::cmd("QUEUE.JOIN")
        .arg("q")
        .arg("bob")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(second, ("waiting".to_string(), 1));
    let kind: String = redis::cmd("TYPE")
        .arg("q")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(kind, "queue");
    let closed: redis::RedisResult<(String, i64)> = async {
        redis::cmd("QUEUE.CLOSE")
            .arg("q")
            .query_async::<i64>(&mut con)
            .await?;
        redis::cmd("QUEUE.JOIN")
            .arg("q")
            .arg("carol")
            .query_async(&mut con)
            .await
    }
    .await;
    let error = closed.expect_err("joining a closed queue fails");
    assert!(error.to_string().contains("closed"), "{error}");
    drop(con);
    server.shutdown().await;
}

/// The engine's own timer expires and refills with no request arriving:
/// the clock is manual, so the TTL passes without waiting for it; the test
/// only gives the engine thread a moment to wake up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_timer_expires_and_refills_without_requests() {
    let clock = usher::clock::ManualClock::new(T0);
    let config = usher::config::Config {
        bind: "127.0.0.1".into(),
        port: 0,
        persist: false,
        ..usher::config::Config::default()
    };
    let server = usher::server::start(config, clock.clone())
        .await
        .expect("server starts");
    let mut client = usher::client::Client::connect(server.addr).await.unwrap();
    let replies = client
        .pipeline(&[
            args(["QUEUE.CONFIG", "q", "CAPACITY", "1", "TTL", "50"]),
            args(["QUEUE.JOIN", "q", "a"]),
            args(["QUEUE.JOIN", "q", "b"]),
        ])
        .await
        .unwrap();
    assert_eq!(replies, vec![Reply::OK, active(50), waiting(1)]);
    clock.advance(60);
    // The engine sleeps at most until the due time it computed (50 ms of
    // real time here) before looking at the clock again.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    drop(client);
    let mut state = server.shutdown().await;
    match &state.keyspace.get_live(b"q", T0 + 60).unwrap().value {
        Value::Queue(queue) => {
            assert_eq!(queue.waiting(), 0, "b was not admitted by the timer");
            let active: Vec<_> = queue
                .active_members()
                .into_iter()
                .map(|(m, d)| (m.to_vec(), d))
                .collect();
            assert_eq!(active, vec![(b"b".to_vec(), T0 + 110)]);
        }
        _ => panic!("not a queue"),
    }
}

/// `State::prefetch` is a cache hint: QUEUE.JOIN and QUEUE.POS on a queue,
/// on a missing key and on a key of another type give the same replies
/// with it as without.
#[test]
fn prefetching_queue_steps_leaves_replies_unchanged() {
    let commands: [&[&str]; 7] = [
        &["QUEUE.JOIN", "room", "a"],
        &["QUEUE.JOIN", "room", "b"],
        &["QUEUE.POS", "room", "b"],
        &["QUEUE.POS", "room", "nobody"],
        &["QUEUE.JOIN", "str", "a"],
        &["QUEUE.POS", "missing", "a"],
        &["QUEUE.JOIN", "room", "a"],
    ];
    support::state::assert_prefetch_changes_no_reply(
        &["QUEUE.CONFIG room", "SET str x"],
        &commands,
    );
}
