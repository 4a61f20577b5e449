//! `REQ id command ...` through `State::apply` with explicit times: replay of
//! remembered replies, the window's edges, id and command checks, the
//! bounded table and its timer.

use bytes::Bytes;
use usher::client::args;
use usher::protocol::request::fingerprint;
use usher::protocol::{Arg, ErrorCode, Reply};
use usher::state::{State, StateLimits};

const T0: u64 = 9_000_000;
const WINDOW: u64 = 10_000;

fn limits() -> StateLimits {
    StateLimits {
        idempotency_window_ms: WINDOW,
        idempotency_entries_max: 3,
        ..StateLimits::default()
    }
}

fn run(state: &mut State, now: u64, words: &[&str]) -> Reply {
    let request = match usher::protocol::parse(&args(words)) {
        Ok(request) => request,
        Err(error) => return Reply::Error(error),
    };
    let reply = state.apply(&request, now);
    state.check_invariants();
    reply
}

fn code(reply: &Reply) -> Option<ErrorCode> {
    match reply {
        Reply::Error(error) => Some(error.code),
        _ => None,
    }
}

#[test]
fn a_repeat_returns_the_first_reply_and_changes_nothing() {
    let mut state = State::new(limits());
    assert_eq!(
        run(&mut state, T0, &["REQ", "id1", "INCR", "c"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut state, T0 + 5, &["REQ", "id1", "INCR", "c"]),
        Reply::Int(1)
    );
    // The name's case does not matter.
    assert_eq!(
        run(&mut state, T0 + 5, &["req", "id1", "incr", "c"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut state, T0 + 5, &["GET", "c"]), Reply::BulkInt(1));
    assert_eq!(
        run(&mut state, T0 + 5, &["REQ", "id2", "INCR", "c"]),
        Reply::Int(2)
    );
    assert_eq!(state.idempotency.len(), 2);
}

#[test]
fn window_edges() {
    let mut state = State::new(limits());
    run(&mut state, T0, &["REQ", "id", "INCR", "c"]);
    assert_eq!(
        run(&mut state, T0 + WINDOW - 1, &["REQ", "id", "INCR", "c"]),
        Reply::Int(1)
    );
    // At the deadline the id is forgotten and the command runs again.
    assert_eq!(
        run(&mut state, T0 + WINDOW, &["REQ", "id", "INCR", "c"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut state, T0 + WINDOW + 1, &["REQ", "id", "INCR", "c"]),
        Reply::Int(2)
    );
}

#[test]
fn a_reused_id_with_another_command_is_refused() {
    let mut state = State::new(limits());
    run(&mut state, T0, &["REQ", "id", "INCRBY", "c", "5"]);
    for other in [
        &["REQ", "id", "INCRBY", "c", "6"][..],
        &["REQ", "id", "INCRBY", "d", "5"][..],
        &["REQ", "id", "DECRBY", "c", "5"][..],
    ] {
        let reply = run(&mut state, T0 + 1, other);
        assert_eq!(
            code(&reply),
            Some(ErrorCode::IdempotencyMismatch),
            "{other:?}"
        );
    }
    assert_eq!(run(&mut state, T0 + 1, &["GET", "c"]), Reply::BulkInt(5));
    assert_eq!(run(&mut state, T0 + 1, &["EXISTS", "d"]), Reply::Int(0));
}

#[test]
fn fingerprints_agree_across_codecs_and_differ_across_commands() {
    let text = args(["incrby", "k", "5"]);
    let typed = vec![
        Arg::Bytes(Bytes::from_static(b"INCRBY")),
        Arg::Bytes(Bytes::from_static(b"k")),
        Arg::Int(5),
    ];
    assert_eq!(fingerprint(&text), fingerprint(&typed));
    assert_ne!(fingerprint(&text), fingerprint(&args(["INCRBY", "K", "5"])));
    // Length prefixes keep argument boundaries apart.
    assert_ne!(
        fingerprint(&args(["SET", "ab", "c"])),
        fingerprint(&args(["SET", "a", "bc"]))
    );
}

#[test]
fn errors_are_remembered_as_the_outcome() {
    let mut state = State::new(limits());
    run(&mut state, T0, &["SEAT.CREATE", "ev", "5"]);
    let first = run(
        &mut state,
        T0,
        &["REQ", "pay", "SEAT.CONFIRM", "ev", "alice"],
    );
    assert_eq!(code(&first), Some(ErrorCode::NotHeld));
    run(&mut state, T0, &["SEAT.HOLD", "ev", "alice", "1000", "1"]);
    let again = run(
        &mut state,
        T0,
        &["REQ", "pay", "SEAT.CONFIRM", "ev", "alice"],
    );
    assert_eq!(again, first);
    assert_eq!(
        run(&mut state, T0, &["SEAT.STATUS", "ev", "1", "1"]),
        Reply::Array(vec![Reply::Int(1)])
    );
}

#[test]
fn a_repeated_hold_changes_nothing() {
    let mut state = State::new(limits());
    run(&mut state, T0, &["SEAT.CREATE", "ev", "5"]);
    let held = Reply::Array(vec![
        Reply::simple("held"),
        Reply::Int(1000),
        Reply::Array(vec![Reply::Int(2)]),
    ]);
    let hold = ["REQ", "h1", "SEAT.HOLD", "ev", "alice", "1000", "2"];
    assert_eq!(run(&mut state, T0, &hold), held);
    assert_eq!(run(&mut state, T0 + 400, &hold), held);
    // The repeat did not reset the deadline.
    assert_eq!(
        run(&mut state, T0 + 400, &["SEAT.HOLDER", "ev", "alice"]),
        Reply::Array(vec![
            Reply::simple("held"),
            Reply::Int(600),
            Reply::Array(vec![Reply::Int(2)]),
        ])
    );
}

#[test]
fn ids_and_wrapped_commands_are_checked() {
    let mut state = State::new(limits());
    let longest = "x".repeat(64);
    assert_eq!(
        run(&mut state, T0, &["REQ", &longest, "INCR", "c"]),
        Reply::Int(1)
    );
    let too_long = "x".repeat(65);
    let cases: &[(&[&str], ErrorCode)] = &[
        (&["REQ", &too_long, "INCR", "c"], ErrorCode::Limit),
        (&["REQ", "", "INCR", "c"], ErrorCode::Limit),
        (&["REQ", "a", "PING"], ErrorCode::Syntax),
        (&["REQ", "a", "INFO"], ErrorCode::Syntax),
        (&["REQ", "a", "QUIT"], ErrorCode::Syntax),
        (&["REQ", "a", "REQ", "b", "INCR", "c"], ErrorCode::Syntax),
        (&["REQ", "a", "req", "b", "INCR", "c"], ErrorCode::Syntax),
        (&["REQ", "a", "INCR"], ErrorCode::WrongArity),
        (&["REQ", "a", "NOSUCH", "x"], ErrorCode::UnknownCommand),
        (&["REQ", "a"], ErrorCode::WrongArity),
    ];
    for (words, expected) in cases {
        let reply = run(&mut state, T0, words);
        assert_eq!(code(&reply), Some(*expected), "{words:?} gave {reply:?}");
    }
    // None of them ran or was remembered.
    assert_eq!(run(&mut state, T0, &["GET", "c"]), Reply::BulkInt(1));
    assert_eq!(state.idempotency.len(), 1);
}

#[test]
fn the_table_is_bounded_and_expires_by_timer() {
    let mut state = State::new(limits());
    for (offset, id) in ["a", "b", "c"].iter().enumerate() {
        run(&mut state, T0 + offset as u64, &["REQ", id, "INCR", "n"]);
    }
    // Full of live entries: refused, and INCR did not run.
    let full = run(&mut state, T0 + 10, &["REQ", "d", "INCR", "n"]);
    assert_eq!(code(&full), Some(ErrorCode::Limit));
    assert_eq!(run(&mut state, T0 + 10, &["GET", "n"]), Reply::BulkInt(3));
    // Known ids are still answered.
    assert_eq!(
        run(&mut state, T0 + 10, &["REQ", "b", "INCR", "n"]),
        Reply::Int(2)
    );
    // Once "a" expires there is room again, without any timer run.
    assert_eq!(
        run(&mut state, T0 + WINDOW, &["REQ", "d", "INCR", "n"]),
        Reply::Int(4)
    );
    assert_eq!(state.idempotency.len(), 3);
    // The timer drops the rest when they are due, with no request.
    assert_eq!(state.next_timer_ms(), Some(T0 + 1 + WINDOW));
    assert_eq!(state.run_timers(T0 + 2 + WINDOW, usize::MAX), 2);
    state.check_invariants();
    assert_eq!(state.idempotency.len(), 1);
    assert_eq!(state.next_timer_ms(), Some(T0 + 2 * WINDOW));
    run(&mut state, T0 + WINDOW, &["FLUSHALL"]);
    assert!(state.idempotency.is_empty());
    assert_eq!(state.next_timer_ms(), None);
}

#[test]
fn a_req_counts_as_one_command() {
    let mut state = State::new(limits());
    run(&mut state, T0, &["REQ", "a", "INCR", "n"]);
    assert_eq!(state.stats.commands_processed, 1);
}
