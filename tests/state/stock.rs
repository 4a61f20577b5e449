//! Stock through `State::apply` with explicit times: every reply shape of
//! STOCK.*, reservation TTL edges, limits, refunds, and the timer.

use usher::client::args;
use usher::protocol::{ErrorCode, Reply};
use usher::state::{State, StateLimits, Value};

use crate::support;

const T0: u64 = 5_000_000;

fn run(state: &mut State, now: u64, words: &[&str]) -> Reply {
    let request = match usher::protocol::parse(&args(words)) {
        Ok(request) => request,
        Err(error) => return Reply::Error(error),
    };
    let reply = state.apply(&request, now);
    state.check_invariants();
    reply
}

fn tagged(tag: &'static str, values: &[i64]) -> Reply {
    let mut items = vec![Reply::simple(tag)];
    items.extend(values.iter().map(|&v| Reply::Int(v)));
    Reply::Array(items)
}

fn code(reply: &Reply) -> Option<ErrorCode> {
    match reply {
        Reply::Error(error) => Some(error.code),
        _ => None,
    }
}

/// `[total, available, held, sold]` from STOCK.INFO, and the limit.
fn info(state: &mut State, now: u64, key: &str) -> ([i64; 4], Reply) {
    let Reply::Map(pairs) = run(state, now, &["STOCK.INFO", key]) else {
        panic!("STOCK.INFO is a map");
    };
    let names: Vec<Reply> = ["total", "available", "held", "sold", "limit"]
        .iter()
        .map(|name| Reply::bulk_static(name.as_bytes()))
        .collect();
    assert_eq!(
        pairs
            .iter()
            .map(|(name, _)| name.clone())
            .collect::<Vec<_>>(),
        names
    );
    let int = |index: usize| match pairs[index].1 {
        Reply::Int(value) => value,
        ref other => panic!("not an integer: {other:?}"),
    };
    ([int(0), int(1), int(2), int(3)], pairs[4].1.clone())
}

/// `(held, sold)` of the stock at `key`, read without running a command.
fn raw(state: &State, key: &str) -> (u64, u64) {
    let entry = state
        .keyspace
        .iter()
        .find(|(name, _)| name.as_ref() == key.as_bytes())
        .map(|(_, entry)| entry)
        .expect("sku exists");
    match &entry.value {
        Value::Stock(stock) => (stock.held(), stock.sold()),
        other => panic!("not stock: {other:?}"),
    }
}

#[test]
fn config_creates_and_changes() {
    let mut state = State::new(StateLimits::default());
    assert_eq!(
        run(&mut state, T0, &["STOCK.CONFIG", "sku", "10"]),
        Reply::OK
    );
    assert_eq!(
        run(&mut state, T0, &["TYPE", "sku"]),
        Reply::simple("stock")
    );
    assert_eq!(info(&mut state, T0, "sku"), ([10, 10, 0, 0], Reply::Nil));
    run(&mut state, T0, &["STOCK.RESERVE", "sku", "a", "3", "1000"]);
    run(&mut state, T0, &["STOCK.TAKE", "sku", "b", "4"]);
    // Below held + sold (7): refused, nothing changes.
    let refused = run(&mut state, T0, &["STOCK.CONFIG", "sku", "6"]);
    assert_eq!(code(&refused), Some(ErrorCode::OutOfRange));
    assert_eq!(
        run(&mut state, T0, &["STOCK.CONFIG", "sku", "7", "LIMIT", "4"]),
        Reply::OK
    );
    assert_eq!(info(&mut state, T0, "sku"), ([7, 0, 3, 4], Reply::Int(4)));
    // A limit below what b already has (4) is refused.
    let refused = run(&mut state, T0, &["STOCK.CONFIG", "sku", "7", "LIMIT", "3"]);
    assert_eq!(code(&refused), Some(ErrorCode::OutOfRange));
    // Without LIMIT the limit is kept.
    assert_eq!(
        run(&mut state, T0, &["STOCK.CONFIG", "sku", "20"]),
        Reply::OK
    );
    assert_eq!(info(&mut state, T0, "sku"), ([20, 13, 3, 4], Reply::Int(4)));
    run(&mut state, T0, &["SET", "str", "x"]);
    assert_eq!(
        code(&run(&mut state, T0, &["STOCK.CONFIG", "str", "5"])),
        Some(ErrorCode::WrongType)
    );
    assert_eq!(
        code(&run(&mut state, T0, &["GET", "sku"])),
        Some(ErrorCode::WrongType)
    );
    assert_eq!(
        code(&run(&mut state, T0, &["STOCK.CONFIG", "n", "-1"])),
        Some(ErrorCode::OutOfRange)
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.CONFIG", "empty", "0"]),
        Reply::OK
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.TAKE", "empty", "a", "1"]),
        tagged("soldout", &[0])
    );
}

#[test]
fn reserve_reply_shapes() {
    let mut state = State::new(StateLimits::default());
    run(&mut state, T0, &["STOCK.CONFIG", "sku", "10", "LIMIT", "5"]);
    assert_eq!(
        run(&mut state, T0, &["STOCK.RESERVE", "sku", "a", "2", "1000"]),
        tagged("held", &[2, 8])
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.RESERVE", "sku", "a", "3", "1000"]),
        tagged("held", &[5, 5])
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.RESERVE", "sku", "a", "1", "1000"]),
        tagged("limit", &[5])
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.RESERVE", "sku", "b", "6", "1000"]),
        tagged("soldout", &[5])
    );
    // Sold out is reported before the limit.
    assert_eq!(
        run(&mut state, T0, &["STOCK.RESERVE", "sku", "a", "6", "1000"]),
        tagged("soldout", &[5])
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.RESERVE", "sku", "b", "5", "1000"]),
        tagged("held", &[5, 0])
    );
    assert_eq!(info(&mut state, T0, "sku").0, [10, 0, 10, 0]);
    assert_eq!(
        run(&mut state, T0, &["STOCK.CONFIRM", "sku", "a"]),
        Reply::Int(5)
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.CONFIRM", "sku", "a"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.RELEASE", "sku", "b"]),
        Reply::Int(5)
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.RELEASE", "sku", "b"]),
        Reply::Int(0)
    );
    assert_eq!(info(&mut state, T0, "sku").0, [10, 5, 0, 5]);
    // The limit counts bought units too.
    assert_eq!(
        run(&mut state, T0, &["STOCK.RESERVE", "sku", "a", "1", "1000"]),
        tagged("limit", &[5])
    );
}

#[test]
fn take_is_first_come_first_served() {
    let mut state = State::new(StateLimits::default());
    run(
        &mut state,
        T0,
        &["STOCK.CONFIG", "coupon", "100", "LIMIT", "1"],
    );
    let mut granted = 0;
    for user in 0..150 {
        let holder = format!("user{user}");
        match support::state::normalize(run(
            &mut state,
            T0,
            &["STOCK.TAKE", "coupon", &holder, "1"],
        )) {
            Reply::Array(items) if items[0] == Reply::simple("sold") => {
                granted += 1;
                assert_eq!(items[1], Reply::Int(1));
                assert_eq!(items[2], Reply::Int(100 - granted));
            }
            reply => assert_eq!(reply, tagged("soldout", &[0])),
        }
        // A second take by the same holder is over the limit, once sold out
        // it is sold out (checked first).
        let again = run(&mut state, T0, &["STOCK.TAKE", "coupon", &holder, "1"]);
        if user < 99 {
            assert_eq!(again, tagged("limit", &[1]));
        } else {
            assert_eq!(again, tagged("soldout", &[0]));
        }
    }
    assert_eq!(granted, 100);
    assert_eq!(info(&mut state, T0, "coupon").0, [100, 0, 0, 100]);
}

#[test]
fn refund_never_exceeds_what_was_bought() {
    let mut state = State::new(StateLimits::default());
    run(&mut state, T0, &["STOCK.CONFIG", "sku", "10"]);
    assert_eq!(
        run(&mut state, T0, &["STOCK.TAKE", "sku", "a", "3"]),
        tagged("sold", &[3, 7])
    );
    run(&mut state, T0, &["STOCK.RESERVE", "sku", "a", "2", "1000"]);
    assert_eq!(
        run(&mut state, T0, &["STOCK.REFUND", "sku", "a", "5"]),
        Reply::Int(3)
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.REFUND", "sku", "a", "1"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.REFUND", "sku", "z", "1"]),
        Reply::Int(0)
    );
    assert_eq!(info(&mut state, T0, "sku").0, [10, 8, 2, 0]);
    assert_eq!(
        run(&mut state, T0, &["STOCK.TAKE", "sku", "b", "2"]),
        tagged("sold", &[2, 6])
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.REFUND", "sku", "b", "1"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.TAKE", "sku", "b", "1"]),
        tagged("sold", &[2, 6])
    );
    assert_eq!(
        code(&run(&mut state, T0, &["STOCK.REFUND", "sku", "b", "0"])),
        Some(ErrorCode::OutOfRange)
    );
}

#[test]
fn reservation_ttl_edges_and_timer() {
    let mut state = State::new(StateLimits::default());
    run(&mut state, T0, &["STOCK.CONFIG", "sku", "10"]);
    run(&mut state, T0, &["STOCK.RESERVE", "sku", "a", "2", "100"]);
    run(&mut state, T0, &["STOCK.TAKE", "sku", "a", "1"]);
    run(&mut state, T0, &["STOCK.RESERVE", "sku", "b", "3", "200"]);
    // A second reservation resets a's deadline for both of its units.
    run(
        &mut state,
        T0 + 50,
        &["STOCK.RESERVE", "sku", "a", "1", "100"],
    );
    assert_eq!(state.next_timer_ms(), Some(T0 + 150));
    assert_eq!(info(&mut state, T0 + 149, "sku").0, [10, 3, 6, 1]);
    // Exactly at the deadline a's units are back (lazily, on access).
    assert_eq!(
        run(&mut state, T0 + 150, &["STOCK.CONFIRM", "sku", "a"]),
        Reply::Int(0)
    );
    assert_eq!(info(&mut state, T0 + 150, "sku").0, [10, 6, 3, 1]);
    // b's go with the timer, with no request; bought units stay sold.
    assert_eq!(state.next_timer_ms(), Some(T0 + 200));
    state.run_timers(T0 + 199, usize::MAX);
    assert_eq!(raw(&state, "sku"), (3, 1));
    state.run_timers(T0 + 200, usize::MAX);
    state.check_invariants();
    assert_eq!(raw(&state, "sku"), (0, 1));
    assert_eq!(state.next_timer_ms(), None);
}

#[test]
fn bad_input_changes_nothing() {
    let mut state = State::new(StateLimits {
        hold_ttl_ms_max: 1000,
        holders_per_key_max: 2,
        ..StateLimits::default()
    });
    run(&mut state, T0, &["STOCK.CONFIG", "sku", "10"]);
    let cases: &[(&[&str], ErrorCode)] = &[
        (
            &["STOCK.RESERVE", "sku", "a", "0", "100"],
            ErrorCode::OutOfRange,
        ),
        (
            &["STOCK.RESERVE", "sku", "a", "-2", "100"],
            ErrorCode::OutOfRange,
        ),
        (
            &["STOCK.RESERVE", "sku", "a", "1", "0"],
            ErrorCode::InvalidExpire,
        ),
        (
            &["STOCK.RESERVE", "sku", "a", "1", "1001"],
            ErrorCode::Limit,
        ),
        (
            &["STOCK.RESERVE", "sku", "a", "x", "10"],
            ErrorCode::NotInteger,
        ),
        (
            &["STOCK.RESERVE", "nosku", "a", "1", "10"],
            ErrorCode::NoSuchKey,
        ),
        (&["STOCK.TAKE", "sku", "", "1"], ErrorCode::OutOfRange),
        (&["STOCK.TAKE", "sku", "a"], ErrorCode::WrongArity),
        (&["STOCK.INFO", "nosku"], ErrorCode::NoSuchKey),
        (
            &["STOCK.CONFIG", "sku", "5", "LIMIT", "0"],
            ErrorCode::OutOfRange,
        ),
    ];
    for (words, expected) in cases {
        let reply = run(&mut state, T0, words);
        assert_eq!(code(&reply), Some(*expected), "{words:?} gave {reply:?}");
    }
    assert_eq!(info(&mut state, T0, "sku").0, [10, 10, 0, 0]);
    // holders_per_key_max: a third holder is refused, existing ones go on.
    run(&mut state, T0, &["STOCK.TAKE", "sku", "a", "1"]);
    run(&mut state, T0, &["STOCK.RESERVE", "sku", "b", "1", "100"]);
    assert_eq!(
        code(&run(&mut state, T0, &["STOCK.TAKE", "sku", "c", "1"])),
        Some(ErrorCode::Limit)
    );
    assert_eq!(
        run(&mut state, T0, &["STOCK.TAKE", "sku", "a", "1"]),
        tagged("sold", &[2, 7])
    );
    assert_eq!(info(&mut state, T0, "sku").0, [10, 7, 1, 2]);
}

/// `State::prefetch` is a cache hint: prefetching reservations (of a SKU,
/// of a missing key, of a key of another type) changes none of the replies.
#[test]
fn prefetching_reservations_leaves_replies_unchanged() {
    let commands: [&[&str]; 6] = [
        &["STOCK.RESERVE", "sku", "h1", "2", "60000"],
        &["STOCK.RESERVE", "sku", "h2", "9", "60000"],
        &["STOCK.RESERVE", "sku", "h1", "1", "60000"],
        &["STOCK.RESERVE", "str", "h1", "1", "60000"],
        &["STOCK.RESERVE", "missing", "h1", "1", "60000"],
        &["STOCK.CONFIRM", "sku", "h1"],
    ];
    support::state::assert_prefetch_changes_no_reply(
        &["STOCK.CONFIG sku 10", "SET str x"],
        &commands,
    );
}
