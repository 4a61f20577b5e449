//! Seat maps through `State::apply` with explicit times: every reply shape
//! of SEAT.*, TTL edges, limits, and release by the timer with no request.

use usher::client::args;
use usher::protocol::{ErrorCode, Reply};
use usher::state::{State, StateLimits, Value};

use crate::support;

const T0: u64 = 1_000_000;

fn run(state: &mut State, now: u64, words: &[&str]) -> Reply {
    let request = match usher::protocol::parse(&args(words)) {
        Ok(request) => request,
        Err(error) => return Reply::Error(error),
    };
    let reply = state.apply(&request, now);
    state.check_invariants();
    reply
}

fn s(text: &'static str) -> Reply {
    Reply::simple(text)
}

fn int(value: i64) -> Reply {
    Reply::Int(value)
}

fn ints(values: &[i64]) -> Reply {
    Reply::Array(values.iter().map(|&v| Reply::Int(v)).collect())
}

fn arr(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

fn code(reply: &Reply) -> Option<ErrorCode> {
    match reply {
        Reply::Error(error) => Some(error.code),
        _ => None,
    }
}

fn info(state: &mut State, now: u64, key: &str) -> Vec<(String, i64)> {
    match run(state, now, &["SEAT.INFO", key]) {
        Reply::Map(pairs) => pairs
            .into_iter()
            .map(|(name, value)| match (name, value) {
                (Reply::Bulk(name), Reply::Int(value)) => {
                    (String::from_utf8_lossy(&name).into_owned(), value)
                }
                other => panic!("unexpected SEAT.INFO field {other:?}"),
            })
            .collect(),
        other => panic!("unexpected SEAT.INFO reply {other:?}"),
    }
}

fn counts(state: &mut State, now: u64, key: &str) -> [i64; 4] {
    let fields = info(state, now, key);
    let get = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| *value)
            .unwrap_or(-1)
    };
    [get("free"), get("held"), get("sold"), get("holders")]
}

/// The seat map at `key`, read without running any command (so without
/// lazy expiry).
fn seat_map<'a>(state: &'a State, key: &str) -> &'a usher::state::seats::SeatMap {
    let entry = state
        .keyspace
        .iter()
        .find(|(name, _)| name.as_ref() == key.as_bytes())
        .map(|(_, entry)| entry)
        .expect("event exists");
    match &entry.value {
        Value::Seats(map) => map,
        other => panic!("not a seat map: {other:?}"),
    }
}

fn new_state() -> State {
    State::new(StateLimits::default())
}

#[test]
fn create_and_info_defaults() {
    let mut state = new_state();
    assert_eq!(run(&mut state, T0, &["SEAT.CREATE", "ev", "10"]), Reply::OK);
    assert_eq!(
        run(&mut state, T0, &["SEAT.INFO", "ev"]),
        Reply::Map(vec![
            (Reply::bulk_static(b"total"), int(10)),
            (Reply::bulk_static(b"free"), int(10)),
            (Reply::bulk_static(b"held"), int(0)),
            (Reply::bulk_static(b"sold"), int(0)),
            (Reply::bulk_static(b"limit"), int(3)),
            (Reply::bulk_static(b"holders"), int(0)),
        ])
    );
    assert_eq!(run(&mut state, T0, &["TYPE", "ev"]), s("seats"));
    assert_eq!(
        code(&run(&mut state, T0, &["GET", "ev"])),
        Some(ErrorCode::WrongType)
    );
    assert_eq!(
        code(&run(&mut state, T0, &["INCR", "ev"])),
        Some(ErrorCode::WrongType)
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.CREATE", "ev2", "5", "LIMIT", "7"]),
        Reply::OK
    );
    assert!(info(&mut state, T0, "ev2").contains(&("limit".to_string(), 7)));
}

#[test]
fn create_refusals() {
    let mut state = State::new(StateLimits {
        seats_per_event_max: 100,
        ..StateLimits::default()
    });
    run(&mut state, T0, &["SEAT.CREATE", "ev", "10"]);
    let again = run(&mut state, T0, &["SEAT.CREATE", "ev", "10"]);
    assert_eq!(code(&again), Some(ErrorCode::KeyExists));
    run(&mut state, T0, &["SET", "str", "x"]);
    assert_eq!(
        code(&run(&mut state, T0, &["SEAT.CREATE", "str", "10"])),
        Some(ErrorCode::WrongType)
    );
    assert_eq!(
        code(&run(&mut state, T0, &["SEAT.CREATE", "big", "101"])),
        Some(ErrorCode::Limit)
    );
    assert_eq!(
        code(&run(&mut state, T0, &["SEAT.CREATE", "zero", "0"])),
        Some(ErrorCode::OutOfRange)
    );
    assert_eq!(
        code(&run(
            &mut state,
            T0,
            &["SEAT.CREATE", "x", "5", "LIMIT", "0"]
        )),
        Some(ErrorCode::OutOfRange)
    );
    assert_eq!(
        code(&run(&mut state, T0, &["SEAT.CREATE", "x", "5", "LIMIT"])),
        Some(ErrorCode::Syntax)
    );
    assert_eq!(
        code(&run(&mut state, T0, &["SEAT.CREATE", "x", "5", "CAP", "2"])),
        Some(ErrorCode::Syntax)
    );
    assert_eq!(run(&mut state, T0, &["EXISTS", "big", "zero", "x"]), int(0));
}

#[test]
fn hold_reply_shapes() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "10", "LIMIT", "4"]);
    assert_eq!(
        run(
            &mut state,
            T0,
            &["SEAT.HOLD", "ev", "alice", "5000", "3", "1"]
        ),
        arr(vec![s("held"), int(5000), ints(&[1, 3])])
    );
    // Seats alice already holds are not conflicts; the list is every seat
    // she now holds, and the deadline is reset.
    assert_eq!(
        run(
            &mut state,
            T0 + 1000,
            &["SEAT.HOLD", "ev", "alice", "9000", "3", "2"]
        ),
        arr(vec![s("held"), int(9000), ints(&[1, 2, 3])])
    );
    assert_eq!(
        run(&mut state, T0 + 2000, &["SEAT.HOLDER", "ev", "alice"]),
        arr(vec![s("held"), int(8000), ints(&[1, 2, 3])])
    );
    // Held by someone else: taken, and nothing changes for bob.
    assert_eq!(
        run(
            &mut state,
            T0 + 2000,
            &["SEAT.HOLD", "ev", "bob", "5000", "0", "2", "3", "4"]
        ),
        arr(vec![s("taken"), ints(&[2, 3])])
    );
    assert_eq!(
        run(&mut state, T0 + 2000, &["SEAT.HOLDER", "ev", "bob"]),
        arr(vec![s("none")])
    );
    assert_eq!(
        run(&mut state, T0 + 2000, &["SEAT.STATUS", "ev", "0", "10"]),
        ints(&[0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    );
    // Over the limit (4): alice holds 3 and asks for 2 more.
    assert_eq!(
        run(
            &mut state,
            T0 + 2000,
            &["SEAT.HOLD", "ev", "alice", "5000", "5", "6"]
        ),
        arr(vec![s("limit"), int(3)])
    );
    assert_eq!(counts(&mut state, T0 + 2000, "ev"), [7, 3, 0, 1]);
    // A seat named twice counts once.
    assert_eq!(
        run(
            &mut state,
            T0 + 2000,
            &["SEAT.HOLD", "ev", "alice", "5000", "5", "5"]
        ),
        arr(vec![s("held"), int(5000), ints(&[1, 2, 3, 5])])
    );
}

#[test]
fn taken_is_reported_before_limit_and_for_sold_seats() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "10", "LIMIT", "1"]);
    run(&mut state, T0, &["SEAT.HOLD", "ev", "alice", "5000", "0"]);
    run(&mut state, T0, &["SEAT.CONFIRM", "ev", "alice"]);
    assert_eq!(
        run(
            &mut state,
            T0,
            &["SEAT.HOLD", "ev", "bob", "5000", "0", "1"]
        ),
        arr(vec![s("taken"), ints(&[0])])
    );
    run(&mut state, T0, &["SEAT.HOLD", "ev", "bob", "5000", "1"]);
    assert_eq!(
        run(&mut state, T0, &["SEAT.HOLD", "ev", "bob", "5000", "2"]),
        arr(vec![s("limit"), int(1)])
    );
}

#[test]
fn limit_counts_held_and_bought() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "10"]);
    run(
        &mut state,
        T0,
        &["SEAT.HOLD", "ev", "alice", "5000", "0", "1"],
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.CONFIRM", "ev", "alice"]),
        arr(vec![s("sold"), ints(&[0, 1])])
    );
    assert_eq!(
        run(
            &mut state,
            T0,
            &["SEAT.HOLD", "ev", "alice", "5000", "2", "3"]
        ),
        arr(vec![s("limit"), int(2)])
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.HOLD", "ev", "alice", "5000", "2"]),
        arr(vec![s("held"), int(5000), ints(&[2])])
    );
    // While she holds seats, HOLDER shows the holds.
    assert_eq!(
        run(&mut state, T0 + 1, &["SEAT.HOLDER", "ev", "alice"]),
        arr(vec![s("held"), int(4999), ints(&[2])])
    );
    // Naming a seat she bought is no conflict and adds nothing.
    assert_eq!(
        run(
            &mut state,
            T0 + 1,
            &["SEAT.HOLD", "ev", "alice", "100", "0"]
        ),
        arr(vec![s("held"), int(100), ints(&[2])])
    );
    assert_eq!(
        run(&mut state, T0 + 1, &["SEAT.CONFIRM", "ev", "alice"]),
        arr(vec![s("sold"), ints(&[2])])
    );
    assert_eq!(
        run(&mut state, T0 + 1, &["SEAT.HOLDER", "ev", "alice"]),
        arr(vec![s("sold"), ints(&[0, 1, 2])])
    );
    assert_eq!(counts(&mut state, T0 + 1, "ev"), [7, 0, 3, 1]);
}

#[test]
fn confirm_without_holds_is_an_error() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "10"]);
    assert_eq!(
        code(&run(&mut state, T0, &["SEAT.CONFIRM", "ev", "nobody"])),
        Some(ErrorCode::NotHeld)
    );
    run(&mut state, T0, &["SEAT.HOLD", "ev", "alice", "1000", "4"]);
    // Payment arrives exactly at the deadline: too late.
    assert_eq!(
        code(&run(
            &mut state,
            T0 + 1000,
            &["SEAT.CONFIRM", "ev", "alice"]
        )),
        Some(ErrorCode::NotHeld)
    );
    assert_eq!(counts(&mut state, T0 + 1000, "ev"), [10, 0, 0, 0]);
}

#[test]
fn hold_ttl_edges() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "4"]);
    run(&mut state, T0, &["SEAT.HOLD", "ev", "alice", "100", "0"]);
    // 1 ms before the deadline the hold is still there.
    assert_eq!(
        run(&mut state, T0 + 99, &["SEAT.HOLDER", "ev", "alice"]),
        arr(vec![s("held"), int(1), ints(&[0])])
    );
    assert_eq!(
        run(&mut state, T0 + 99, &["SEAT.HOLD", "ev", "bob", "100", "0"]),
        arr(vec![s("taken"), ints(&[0])])
    );
    // At the deadline it is gone.
    assert_eq!(
        run(&mut state, T0 + 100, &["SEAT.HOLDER", "ev", "alice"]),
        arr(vec![s("none")])
    );
    assert_eq!(
        run(
            &mut state,
            T0 + 100,
            &["SEAT.HOLD", "ev", "bob", "100", "0"]
        ),
        arr(vec![s("held"), int(100), ints(&[0])])
    );
}

#[test]
fn timer_releases_holds_with_no_request() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "10"]);
    run(
        &mut state,
        T0,
        &["SEAT.HOLD", "ev", "alice", "300", "1", "2"],
    );
    run(&mut state, T0, &["SEAT.HOLD", "ev", "bob", "200", "3"]);
    run(&mut state, T0, &["SEAT.HOLD", "ev", "carol", "100", "4"]);
    run(&mut state, T0, &["SEAT.CONFIRM", "ev", "carol"]);
    run(&mut state, T0, &["SEAT.HOLD", "ev", "carol", "100", "5"]);
    // Bob's deadline is reset later; the timer must follow the new one.
    run(&mut state, T0 + 50, &["SEAT.HOLD", "ev", "bob", "400", "3"]);
    assert_eq!(state.next_timer_ms(), Some(T0 + 100));
    state.run_timers(T0 + 99, usize::MAX);
    assert_eq!(seat_map(&state, "ev").held(), 4);
    state.run_timers(T0 + 100, usize::MAX);
    state.check_invariants();
    // Carol's hold went; her sold seat stays sold.
    let map = seat_map(&state, "ev");
    assert_eq!((map.held(), map.sold(), map.holders()), (3, 1, 3));
    assert!(state.next_timer_ms().is_some_and(|due| due > T0 + 100));
    // Bob's old deadline (T0 + 200) is stale: nothing of his goes then.
    state.run_timers(T0 + 300, usize::MAX);
    state.check_invariants();
    let map = seat_map(&state, "ev");
    assert_eq!((map.held(), map.sold(), map.holders()), (1, 1, 2));
    state.run_timers(T0 + 450, usize::MAX);
    state.check_invariants();
    let map = seat_map(&state, "ev");
    assert_eq!((map.free(), map.held(), map.sold()), (9, 0, 1));
    assert_eq!(state.next_timer_ms(), None);
    assert!(state.holds.is_empty());
}

#[test]
fn timer_respects_its_budget() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "100", "LIMIT", "1"]);
    for seat in 0..50 {
        let holder = format!("h{seat}");
        let seat = seat.to_string();
        run(&mut state, T0, &["SEAT.HOLD", "ev", &holder, "10", &seat]);
    }
    let mut rounds = 0;
    while state.run_timers(T0 + 10, 8) == 8 {
        rounds += 1;
        state.check_invariants();
        assert!(rounds < 100, "the timer makes no progress");
    }
    assert!(rounds >= 5, "the budget was not respected");
    assert_eq!(seat_map(&state, "ev").held(), 0);
    assert_eq!(state.next_timer_ms(), None);
}

#[test]
fn release_named_and_all() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "10", "LIMIT", "5"]);
    run(&mut state, T0, &["SEAT.HOLD", "ev", "alice", "1000", "0"]);
    run(&mut state, T0, &["SEAT.CONFIRM", "ev", "alice"]);
    run(
        &mut state,
        T0,
        &["SEAT.HOLD", "ev", "alice", "1000", "1", "2", "3"],
    );
    run(&mut state, T0, &["SEAT.HOLD", "ev", "bob", "1000", "4"]);
    // Named: only seats alice holds count (0 is sold, 4 is bob's, 5 free).
    assert_eq!(
        run(
            &mut state,
            T0,
            &["SEAT.RELEASE", "ev", "alice", "0", "2", "4", "5"]
        ),
        int(1)
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.HOLDER", "ev", "alice"]),
        arr(vec![s("held"), int(1000), ints(&[1, 3])])
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.RELEASE", "ev", "alice"]),
        int(2)
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.RELEASE", "ev", "alice"]),
        int(0)
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.RELEASE", "ev", "nobody"]),
        int(0)
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.STATUS", "ev", "0", "6"]),
        ints(&[2, 0, 0, 0, 1, 0])
    );
    assert_eq!(counts(&mut state, T0, "ev"), [8, 1, 1, 2]);
    assert_eq!(
        run(&mut state, T0, &["SEAT.RELEASE", "ev", "bob", "4"]),
        int(1)
    );
    assert_eq!(counts(&mut state, T0, "ev"), [9, 0, 1, 1]);
    assert_eq!(state.next_timer_ms(), None);
}

#[test]
fn status_ranges() {
    let mut state = State::new(StateLimits {
        seat_status_count_max: 5,
        ..StateLimits::default()
    });
    run(&mut state, T0, &["SEAT.CREATE", "ev", "4"]);
    run(&mut state, T0, &["SEAT.HOLD", "ev", "a", "10", "3"]);
    assert_eq!(
        run(&mut state, T0, &["SEAT.STATUS", "ev", "2", "5"]),
        ints(&[0, 1])
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.STATUS", "ev", "4", "5"]),
        ints(&[])
    );
    assert_eq!(
        run(&mut state, T0, &["SEAT.STATUS", "ev", "0", "0"]),
        ints(&[])
    );
    assert_eq!(
        code(&run(&mut state, T0, &["SEAT.STATUS", "ev", "0", "6"])),
        Some(ErrorCode::Limit)
    );
    assert_eq!(
        code(&run(&mut state, T0, &["SEAT.STATUS", "ev", "-1", "2"])),
        Some(ErrorCode::OutOfRange)
    );
}

#[test]
fn bad_input_changes_nothing() {
    let mut state = State::new(StateLimits {
        hold_ttl_ms_max: 10_000,
        holder_bytes_max: 8,
        ..StateLimits::default()
    });
    run(&mut state, T0, &["SEAT.CREATE", "ev", "10"]);
    let cases: &[(&[&str], ErrorCode)] = &[
        (
            &["SEAT.HOLD", "ev", "a", "1000", "10"],
            ErrorCode::OutOfRange,
        ),
        (
            &["SEAT.HOLD", "ev", "a", "1000", "1", "-1"],
            ErrorCode::OutOfRange,
        ),
        (
            &["SEAT.HOLD", "ev", "a", "1000", "x"],
            ErrorCode::NotInteger,
        ),
        (
            &["SEAT.HOLD", "ev", "a", "0", "1"],
            ErrorCode::InvalidExpire,
        ),
        (
            &["SEAT.HOLD", "ev", "a", "-5", "1"],
            ErrorCode::InvalidExpire,
        ),
        (&["SEAT.HOLD", "ev", "a", "10001", "1"], ErrorCode::Limit),
        (
            &["SEAT.HOLD", "ev", "123456789", "10", "1"],
            ErrorCode::Limit,
        ),
        (&["SEAT.HOLD", "ev", "", "10", "1"], ErrorCode::OutOfRange),
        (&["SEAT.HOLD", "ev", "a", "10"], ErrorCode::WrongArity),
        (
            &["SEAT.HOLD", "missing", "a", "10", "1"],
            ErrorCode::NoSuchKey,
        ),
        (&["SEAT.RELEASE", "ev", "a", "11"], ErrorCode::OutOfRange),
        (&["SEAT.INFO", "missing"], ErrorCode::NoSuchKey),
        (&["SEAT.STATUS", "missing", "0", "1"], ErrorCode::NoSuchKey),
        (&["SEAT.CONFIRM", "ev"], ErrorCode::WrongArity),
    ];
    for (words, expected) in cases {
        let reply = run(&mut state, T0, words);
        assert_eq!(code(&reply), Some(*expected), "{words:?} gave {reply:?}");
    }
    run(&mut state, T0, &["SET", "str", "1"]);
    assert_eq!(
        code(&run(&mut state, T0, &["SEAT.HOLD", "str", "a", "10", "1"])),
        Some(ErrorCode::WrongType)
    );
    assert_eq!(counts(&mut state, T0, "ev"), [10, 0, 0, 0]);
    assert_eq!(run(&mut state, T0, &["DBSIZE"]), int(2));
}

#[test]
fn deleted_or_replaced_events_leave_the_timer_consistent() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "10"]);
    run(&mut state, T0, &["SEAT.HOLD", "ev", "a", "100", "1"]);
    run(&mut state, T0, &["DEL", "ev"]);
    run(&mut state, T0, &["SEAT.CREATE", "ev", "5"]);
    run(&mut state, T0, &["SEAT.HOLD", "ev", "b", "500", "2"]);
    // The stale registration at T0 + 100 is dropped without touching b.
    state.run_timers(T0 + 100, usize::MAX);
    state.check_invariants();
    assert_eq!(seat_map(&state, "ev").held(), 1);
    run(&mut state, T0 + 100, &["SET", "ev", "now a string"]);
    state.run_timers(T0 + 500, usize::MAX);
    state.check_invariants();
    assert_eq!(state.next_timer_ms(), None);
    run(&mut state, T0, &["SEAT.CREATE", "x", "5"]);
    run(&mut state, T0, &["SEAT.HOLD", "x", "b", "500", "2"]);
    run(&mut state, T0, &["FLUSHALL"]);
    assert_eq!(state.next_timer_ms(), None);
}

#[test]
fn slots_are_reused_and_holders_removed() {
    let mut state = new_state();
    run(&mut state, T0, &["SEAT.CREATE", "ev", "6", "LIMIT", "2"]);
    for round in 0..20u64 {
        let now = T0 + round * 10;
        let holder = format!("h{}", round % 7);
        let seat = (round % 6).to_string();
        run(&mut state, now, &["SEAT.HOLD", "ev", &holder, "15", &seat]);
        if round % 3 == 0 {
            run(&mut state, now, &["SEAT.RELEASE", "ev", &holder]);
        }
        state.run_timers(now, usize::MAX);
        state.check_invariants();
    }
    state.run_timers(T0 + 1000, usize::MAX);
    state.check_invariants();
    assert_eq!(counts(&mut state, T0 + 1000, "ev"), [6, 0, 0, 0]);
}

/// `State::prefetch` is a cache hint: for any request, existing or not,
/// of the right type or not, with seats in range or not, it neither panics
/// nor changes what the requests then do.
#[test]
fn prefetching_any_request_leaves_replies_unchanged() {
    let commands: [&[&str]; 8] = [
        &["SEAT.HOLD", "ev", "h1", "60000", "1", "2"],
        &["SEAT.HOLD", "ev", "h2", "60000", "2", "4000000000"],
        &["SEAT.HOLD", "ev", "h3", "60000", "9"],
        &["SEAT.HOLD", "str", "h1", "60000", "1"],
        &["SEAT.HOLD", "missing", "h1", "60000", "1"],
        &["SEAT.CONFIRM", "ev", "h1"],
        &["GET", "str"],
        &["DEL", "a", "b", "c", "d", "e", "f", "str"],
    ];
    support::state::assert_prefetch_changes_no_reply(
        &["SEAT.CREATE ev 10", "SET str x"],
        &commands,
    );
}
