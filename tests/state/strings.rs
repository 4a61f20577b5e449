//! Unit tests of `State` for src/state/strings.rs: GET, SET and its options,
//! INCR/DECR/INCRBY/DECRBY and INCRBOUND, with explicit time (no sleeping).
//!
//! Expected replies and error texts are Redis's (checked against
//! redis-server 7.0) or, for INCRBOUND, the texts `protocol/SPEC.md` gives.

use crate::support::state::*;
use proptest::prelude::*;
use usher_protocol::Reply;

const OVERFLOW: &str = "ERR increment or decrement would overflow";
const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const SET_EXPIRE: &str = "ERR invalid expire time in 'set' command";

// ---------------------------------------------------------------- GET / SET

#[test]
fn get_missing_is_nil_and_set_then_get() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "GET k"), nil());
    assert_eq!(run(&mut s, T0, "SET k v"), ok());
    assert_eq!(run(&mut s, T0, "GET k"), bulk("v"));
    assert_eq!(run(&mut s, T0, "SET k w"), ok());
    assert_eq!(run(&mut s, T0, "GET k"), bulk("w"));
    assert_eq!(run(&mut s, T0, "TYPE k"), simple("string"));
}

#[test]
fn set_without_ttl_option_clears_the_ttl() {
    let mut s = state();
    run(&mut s, T0, "SET k v EX 100");
    assert_eq!(run(&mut s, T0, "TTL k"), int(100));
    assert_eq!(run(&mut s, T0 + 1, "SET k v2"), ok());
    assert_eq!(run(&mut s, T0 + 1, "TTL k"), int(-1));
    // The old deadline must not fire either (lazily or actively).
    assert_eq!(s.next_timer_ms(), None);
    assert_eq!(s.run_timers(T0 + 200_000, 100), 0);
    assert_eq!(run(&mut s, T0 + 200_000, "GET k"), bulk("v2"));
}

#[test]
fn set_keepttl_keeps_the_deadline() {
    let mut s = state();
    run(&mut s, T0, "SET k v PX 1000");
    assert_eq!(run(&mut s, T0 + 400, "SET k v2 KEEPTTL"), ok());
    assert_eq!(run(&mut s, T0 + 400, "PTTL k"), int(600));
    assert_eq!(run(&mut s, T0 + 999, "GET k"), bulk("v2"));
    assert_eq!(run(&mut s, T0 + 1000, "GET k"), nil());
    // On a key without TTL (or a missing key) KEEPTTL leaves no TTL.
    run(&mut s, T0, "SET n v");
    assert_eq!(run(&mut s, T0, "SET n w KEEPTTL"), ok());
    assert_eq!(run(&mut s, T0, "TTL n"), int(-1));
    assert_eq!(run(&mut s, T0, "SET fresh w KEEPTTL"), ok());
    assert_eq!(run(&mut s, T0, "TTL fresh"), int(-1));
}

#[test]
fn set_get_returns_the_old_value() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "SET k v1 GET"), nil());
    assert_eq!(run(&mut s, T0, "SET k v2 GET"), bulk("v1"));
    assert_eq!(run(&mut s, T0, "GET k"), bulk("v2"));
    // A counter's old value comes back as its text.
    run(&mut s, T0, "SET c 41");
    run(&mut s, T0, "INCR c");
    assert_eq!(run(&mut s, T0, "SET c x GET"), bulk("42"));
    assert_eq!(run(&mut s, T0, "GET c"), bulk("x"));
    // An expired key has no old value.
    run(&mut s, T0, "SET e old PX 10");
    assert_eq!(run(&mut s, T0 + 10, "SET e new GET"), nil());
    assert_eq!(run(&mut s, T0 + 10, "GET e"), bulk("new"));
}

#[test]
fn set_nx_and_xx() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "SET k v XX"), nil());
    assert_eq!(run(&mut s, T0, "EXISTS k"), int(0));
    assert_eq!(run(&mut s, T0, "SET k v NX"), ok());
    assert_eq!(run(&mut s, T0, "SET k w NX"), nil());
    assert_eq!(run(&mut s, T0, "GET k"), bulk("v"));
    assert_eq!(run(&mut s, T0, "SET k w XX"), ok());
    assert_eq!(run(&mut s, T0, "GET k"), bulk("w"));
    // A failed NX leaves the TTL alone too.
    run(&mut s, T0, "SET t v PX 500");
    assert_eq!(run(&mut s, T0, "SET t w NX EX 100"), nil());
    assert_eq!(run(&mut s, T0, "PTTL t"), int(500));
    // An expired key counts as absent for both.
    assert_eq!(run(&mut s, T0 + 500, "SET t w XX"), nil());
    assert_eq!(run(&mut s, T0 + 500, "SET t w NX"), ok());
    assert_eq!(run(&mut s, T0 + 500, "PTTL t"), int(-1));
}

#[test]
fn set_get_with_nx_and_xx() {
    let mut s = state();
    // NX GET on an existing key: old value, no write.
    run(&mut s, T0, "SET k v");
    assert_eq!(run(&mut s, T0, "SET k x NX GET"), bulk("v"));
    assert_eq!(run(&mut s, T0, "GET k"), bulk("v"));
    // NX GET on a missing key: nil, and the write happens.
    assert_eq!(run(&mut s, T0, "SET m x NX GET"), nil());
    assert_eq!(run(&mut s, T0, "GET m"), bulk("x"));
    // XX GET on a missing key: nil, no key created.
    assert_eq!(run(&mut s, T0, "SET n x XX GET"), nil());
    assert_eq!(run(&mut s, T0, "EXISTS n"), int(0));
    // XX GET on an existing key: old value, and the write happens.
    assert_eq!(run(&mut s, T0, "SET k y GET XX"), bulk("v"));
    assert_eq!(run(&mut s, T0, "GET k"), bulk("y"));
}

#[test]
fn set_relative_and_absolute_deadlines() {
    let mut s = state();
    run(&mut s, T0, "SET ex v EX 10");
    run(&mut s, T0, "SET px v PX 1234");
    run(&mut s, T0, &format!("SET exat v EXAT {}", T0_S + 7));
    run(&mut s, T0, &format!("SET pxat v PXAT {}", T0 + 500));
    assert_eq!(run(&mut s, T0, "PTTL ex"), int(10_000));
    assert_eq!(run(&mut s, T0, "PTTL px"), int(1234));
    assert_eq!(run(&mut s, T0, "PTTL exat"), int(7000));
    assert_eq!(run(&mut s, T0, "PTTL pxat"), int(500));
    // Relative times count from the time of the SET, not of the reader.
    run(&mut s, T0 + 250, "SET late v PX 100");
    assert_eq!(run(&mut s, T0 + 300, "PTTL late"), int(50));
    assert_eq!(s.next_timer_ms(), Some(T0 + 350));
    // Option names are case-insensitive.
    assert_eq!(run(&mut s, T0, "set lower v px 5 nx get"), nil());
    assert_eq!(run(&mut s, T0, "PTTL lower"), int(5));
}

#[test]
fn set_with_a_past_deadline_deletes_and_replies_ok() {
    let mut s = state();
    run(&mut s, T0, "SET k v");
    assert_eq!(run(&mut s, T0, "SET k w EXAT 1"), ok());
    assert_eq!(run(&mut s, T0, "EXISTS k"), int(0));
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    // With GET: the old value, and the key is still gone.
    run(&mut s, T0, "SET k v");
    assert_eq!(run(&mut s, T0, "SET k w PXAT 1 GET"), bulk("v"));
    assert_eq!(run(&mut s, T0, "EXISTS k"), int(0));
    // On a missing key: OK, nothing created.
    assert_eq!(run(&mut s, T0, "SET m w PXAT 5"), ok());
    assert_eq!(run(&mut s, T0, "SET m w EXAT 1 GET"), nil());
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    // A deadline equal to now is already past; one millisecond later is not.
    assert_eq!(run(&mut s, T0, &format!("SET now v PXAT {T0}")), ok());
    assert_eq!(run(&mut s, T0, "EXISTS now"), int(0));
    assert_eq!(
        run(&mut s, T0, &format!("SET soon v PXAT {}", T0 + 1)),
        ok()
    );
    assert_eq!(run(&mut s, T0, "PTTL soon"), int(1));
    assert_eq!(s.next_timer_ms(), Some(T0 + 1));
}

#[test]
fn set_deadline_errors() {
    let mut s = state();
    run(&mut s, T0, "SET k v PX 700");
    for option in [
        "EX 0",
        "EX -1",
        "PX 0",
        "PX -5",
        "EXAT 0",
        "PXAT -1",
        // Seconds that overflow when turned into milliseconds.
        "EX 9223372036854775807",
        "EXAT 9223372036854775807",
        // Milliseconds that overflow when added to now.
        "PX 9223372036854775807",
        "EX 9223372036854775",
    ] {
        let reply = run(&mut s, T0, &format!("SET k w {option}"));
        assert_error(&reply, SET_EXPIRE);
    }
    assert_error(&run(&mut s, T0, "SET k w EX abc"), NOT_INTEGER);
    for option in [
        "EX 10 PX 10",
        "EX 10 KEEPTTL",
        "KEEPTTL PXAT 10",
        "NX XX",
        "XX NX",
        "EX",
        "BOGUS",
    ] {
        let reply = run(&mut s, T0, &format!("SET k w {option}"));
        assert_error(&reply, SYNTAX);
    }
    assert_error(
        &run(&mut s, T0, "SET k"),
        "ERR wrong number of arguments for 'set' command",
    );
    assert_eq!(run(&mut s, T0, "GET k"), bulk("v"));
    assert_eq!(run(&mut s, T0, "PTTL k"), int(700));
    // The largest absolute deadline is accepted.
    assert_eq!(run(&mut s, T0, "SET k w PXAT 9223372036854775807"), ok());
    assert_eq!(run(&mut s, T0, "PTTL k"), int(i64::MAX - T0 as i64));
}

#[test]
fn values_are_stored_byte_for_byte() {
    let mut s = state();
    let values: [&[u8]; 14] = [
        b"007",
        b"+1",
        b" 1",
        b"1 ",
        b"-0",
        b"00",
        b"1.0",
        b"1e3",
        b"",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"0x10",
        b"\x00\xff\r\n",
        b"-",
    ];
    for value in values {
        assert_eq!(run_words(&mut s, T0, &[b"SET", b"k", value]), ok());
        assert_eq!(run_words(&mut s, T0, &[b"GET", b"k"]), bulk_bytes(value));
        assert_eq!(run_words(&mut s, T0, &[b"TYPE", b"k"]), simple("string"));
        for command in ["INCR k", "DECR k", "INCRBY k 1", "DECRBY k 1"] {
            assert_error(&run(&mut s, T0, command), NOT_INTEGER);
        }
        assert_error(&run(&mut s, T0, "INCRBOUND k 1"), NOT_INTEGER);
        assert_eq!(run_words(&mut s, T0, &[b"GET", b"k"]), bulk_bytes(value));
    }
    // Canonical integers come back as the same text.
    for value in [
        "0",
        "-1",
        "42",
        "9223372036854775807",
        "-9223372036854775808",
    ] {
        run(&mut s, T0, &format!("SET k {value}"));
        assert_eq!(run(&mut s, T0, "GET k"), bulk(value));
    }
}

// ------------------------------------------------------- INCR / DECR family

#[test]
fn incr_family_basics() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "INCR c"), int(1));
    assert_eq!(run(&mut s, T0, "TTL c"), int(-1));
    assert_eq!(run(&mut s, T0, "INCR c"), int(2));
    assert_eq!(run(&mut s, T0, "INCRBY c 10"), int(12));
    assert_eq!(run(&mut s, T0, "DECR c"), int(11));
    assert_eq!(run(&mut s, T0, "DECRBY c 20"), int(-9));
    assert_eq!(run(&mut s, T0, "INCRBY c -1"), int(-10));
    assert_eq!(run(&mut s, T0, "DECRBY c -10"), int(0));
    assert_eq!(run(&mut s, T0, "GET c"), bulk("0"));
    assert_eq!(run(&mut s, T0, "DECR d"), int(-1));
    assert_eq!(run(&mut s, T0, "DECRBY e 5"), int(-5));
    assert_eq!(run(&mut s, T0, "INCRBY f -7"), int(-7));
    // A string that happens to be a canonical integer counts.
    run(&mut s, T0, "SET g 99");
    assert_eq!(run(&mut s, T0, "INCR g"), int(100));
    assert_eq!(run(&mut s, T0, "GET g"), bulk("100"));
}

#[test]
fn incr_overflow_is_an_error_and_changes_nothing() {
    let mut s = state();
    run(&mut s, T0, "SET max 9223372036854775807");
    for command in [
        "INCR max",
        "INCRBY max 1",
        "DECRBY max -1",
        "INCRBY max 9223372036854775807",
    ] {
        assert_error(&run(&mut s, T0, command), OVERFLOW);
    }
    assert_eq!(run(&mut s, T0, "GET max"), bulk("9223372036854775807"));
    assert_eq!(run(&mut s, T0, "INCRBY max 0"), int(i64::MAX));
    assert_eq!(run(&mut s, T0, "DECR max"), int(i64::MAX - 1));

    run(&mut s, T0, "SET min -9223372036854775808");
    for command in ["DECR min", "INCRBY min -1", "DECRBY min 1"] {
        assert_error(&run(&mut s, T0, command), OVERFLOW);
    }
    assert_eq!(run(&mut s, T0, "GET min"), bulk("-9223372036854775808"));
    assert_eq!(run(&mut s, T0, "INCR min"), int(i64::MIN + 1));

    // DECRBY by i64::MIN cannot be negated (Redis's own message).
    assert_error(
        &run(&mut s, T0, "DECRBY zero -9223372036854775808"),
        "ERR decrement would overflow",
    );
    assert_eq!(run(&mut s, T0, "EXISTS zero"), int(0));
    // INCRBY by i64::MIN from 0 is fine; from -1 it overflows.
    assert_eq!(
        run(&mut s, T0, "INCRBY zero -9223372036854775808"),
        int(i64::MIN)
    );
    run(&mut s, T0, "SET m1 -1");
    assert_error(&run(&mut s, T0, "INCRBY m1 -9223372036854775808"), OVERFLOW);
    assert_eq!(run(&mut s, T0, "GET m1"), bulk("-1"));
    // Counting down to the edge and one past it.
    run(&mut s, T0, "SET n -9223372036854775806");
    assert_eq!(run(&mut s, T0, "DECRBY n 1"), int(i64::MIN + 1));
    assert_eq!(run(&mut s, T0, "DECRBY n 1"), int(i64::MIN));
    assert_error(&run(&mut s, T0, "DECRBY n 1"), OVERFLOW);
}

#[test]
fn incr_argument_errors() {
    let mut s = state();
    for command in [
        "INCRBY c abc",
        "INCRBY c 1.5",
        "INCRBY c +1",
        "INCRBY c 007",
        "INCRBY c 9223372036854775808",
        "DECRBY c -9223372036854775809",
    ] {
        assert_error(&run(&mut s, T0, command), NOT_INTEGER);
    }
    assert_error(
        &run(&mut s, T0, "INCR"),
        "ERR wrong number of arguments for 'incr' command",
    );
    assert_error(
        &run(&mut s, T0, "INCRBY c"),
        "ERR wrong number of arguments for 'incrby' command",
    );
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
}

#[test]
fn incr_keeps_the_ttl() {
    let mut s = state();
    run(&mut s, T0, "SET c 5 PX 1000");
    assert_eq!(run(&mut s, T0 + 300, "INCR c"), int(6));
    assert_eq!(run(&mut s, T0 + 300, "PTTL c"), int(700));
    assert_eq!(run(&mut s, T0 + 400, "DECRBY c 3"), int(3));
    assert_eq!(run(&mut s, T0 + 400, "PTTL c"), int(600));
    assert_eq!(s.next_timer_ms(), Some(T0 + 1000));
    // Once expired, INCR starts again from 0 without a TTL.
    assert_eq!(run(&mut s, T0 + 1000, "INCR c"), int(1));
    assert_eq!(run(&mut s, T0 + 1000, "PTTL c"), int(-1));
    assert_eq!(s.next_timer_ms(), None);
}

// --------------------------------------------------------------- INCRBOUND

#[test]
fn incrbound_hundred_coupons() {
    let mut s = state();
    for caller in 1..=100 {
        assert_eq!(
            run(&mut s, T0, "INCRBOUND coupons:42 1 MAX 100"),
            bound(caller, true),
            "caller {caller}"
        );
    }
    for _ in 0..50 {
        assert_eq!(
            run(&mut s, T0, "INCRBOUND coupons:42 1 MAX 100"),
            bound(100, false)
        );
    }
    assert_eq!(run(&mut s, T0, "GET coupons:42"), bulk("100"));
}

#[test]
fn incrbound_min_floor_with_negative_delta() {
    let mut s = state();
    run(&mut s, T0, "SET stock 3");
    assert_eq!(run(&mut s, T0, "INCRBOUND stock -5 MIN 0"), bound(3, false));
    assert_eq!(run(&mut s, T0, "INCRBOUND stock -2 MIN 0"), bound(1, true));
    assert_eq!(run(&mut s, T0, "INCRBOUND stock -1 MIN 0"), bound(0, true));
    assert_eq!(run(&mut s, T0, "INCRBOUND stock -1 MIN 0"), bound(0, false));
    assert_eq!(run(&mut s, T0, "GET stock"), bulk("0"));
    // A floor below zero.
    assert_eq!(
        run(&mut s, T0, "INCRBOUND debt -10 MIN -15"),
        bound(-10, true)
    );
    assert_eq!(
        run(&mut s, T0, "INCRBOUND debt -10 MIN -15"),
        bound(-10, false)
    );
    assert_eq!(
        run(&mut s, T0, "INCRBOUND debt -5 MIN -15"),
        bound(-15, true)
    );
}

#[test]
fn incrbound_missing_key_counts_zero_and_is_not_created_when_refused() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "INCRBOUND m 5 MAX 3"), bound(0, false));
    assert_eq!(run(&mut s, T0, "INCRBOUND m -1 MIN 0"), bound(0, false));
    assert_eq!(
        run(&mut s, T0, "INCRBOUND m 1 MIN 2 MAX 3"),
        bound(0, false)
    );
    assert_eq!(run(&mut s, T0, "EXISTS m"), int(0));
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    assert_eq!(run(&mut s, T0, "INCRBOUND m 2 MAX 3"), bound(2, true));
    assert_eq!(run(&mut s, T0, "GET m"), bulk("2"));
    assert_eq!(run(&mut s, T0, "TTL m"), int(-1));
    // An expired key counts as missing.
    run(&mut s, T0, "SET e 50 PX 10");
    assert_eq!(run(&mut s, T0 + 10, "INCRBOUND e 1 MAX 5"), bound(1, true));
    assert_eq!(run(&mut s, T0 + 10, "PTTL e"), int(-1));
}

#[test]
fn incrbound_bounds_are_inclusive() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "INCRBOUND k 5 MIN 5 MAX 5"), bound(5, true));
    assert_eq!(run(&mut s, T0, "INCRBOUND k 0 MIN 5 MAX 5"), bound(5, true));
    assert_eq!(
        run(&mut s, T0, "INCRBOUND k 1 MIN 5 MAX 5"),
        bound(5, false)
    );
    assert_eq!(
        run(&mut s, T0, "INCRBOUND k -1 MIN 5 MAX 5"),
        bound(5, false)
    );
    assert_eq!(run(&mut s, T0, "INCRBOUND k 5 MAX 10"), bound(10, true));
    assert_eq!(run(&mut s, T0, "INCRBOUND k -10 MIN 0"), bound(0, true));
    // Keyword order and case do not matter.
    assert_eq!(run(&mut s, T0, "incrbound k 3 max 3 min 3"), bound(3, true));
    // A current value already outside the bounds: only moves into them apply.
    run(&mut s, T0, "SET over 150");
    assert_eq!(
        run(&mut s, T0, "INCRBOUND over 0 MAX 100"),
        bound(150, false)
    );
    assert_eq!(
        run(&mut s, T0, "INCRBOUND over -10 MAX 100"),
        bound(150, false)
    );
    assert_eq!(
        run(&mut s, T0, "INCRBOUND over -50 MAX 100"),
        bound(100, true)
    );
}

#[test]
fn incrbound_overflow_is_out_of_bounds() {
    let mut s = state();
    run(&mut s, T0, "SET max 9223372036854775807");
    assert_eq!(run(&mut s, T0, "INCRBOUND max 1"), bound(i64::MAX, false));
    assert_eq!(
        run(&mut s, T0, "INCRBOUND max 1 MAX 9223372036854775807"),
        bound(i64::MAX, false)
    );
    run(&mut s, T0, "SET min -9223372036854775808");
    assert_eq!(
        run(&mut s, T0, "INCRBOUND min -1 MIN -9223372036854775808"),
        bound(i64::MIN, false)
    );
    assert_eq!(run(&mut s, T0, "INCRBOUND min -1"), bound(i64::MIN, false));
    assert_eq!(run(&mut s, T0, "GET max"), bulk("9223372036854775807"));
    assert_eq!(run(&mut s, T0, "GET min"), bulk("-9223372036854775808"));
    // Without bounds it behaves like INCRBY.
    assert_eq!(run(&mut s, T0, "INCRBOUND free 7"), bound(7, true));
    assert_eq!(run(&mut s, T0, "INCRBOUND free -9"), bound(-2, true));
}

#[test]
fn incrbound_keeps_ttl_and_rejects_bad_input() {
    let mut s = state();
    run(&mut s, T0, "SET k 1 PX 1000");
    assert_eq!(
        run(&mut s, T0 + 100, "INCRBOUND k 1 MAX 10"),
        bound(2, true)
    );
    assert_eq!(run(&mut s, T0 + 100, "PTTL k"), int(900));
    assert_error(
        &run(&mut s, T0, "INCRBOUND k 1 MIN 5 MAX 4"),
        "ERR MIN is greater than MAX",
    );
    for command in [
        "INCRBOUND k 1 MIN",
        "INCRBOUND k 1 MAX",
        "INCRBOUND k 1 MIN 0 MIN 0",
        "INCRBOUND k 1 MAX 3 MAX 4",
        "INCRBOUND k 1 CAP 3",
    ] {
        assert_error(&run(&mut s, T0, command), SYNTAX);
    }
    for command in [
        "INCRBOUND k x",
        "INCRBOUND k 1 MAX x",
        "INCRBOUND k 1 MIN 1.5",
    ] {
        assert_error(&run(&mut s, T0, command), NOT_INTEGER);
    }
    assert_eq!(run(&mut s, T0 + 100, "GET k"), bulk("2"));
}

// ---------------------------------------------------------------- property

/// A reference model of the string commands, written from Redis's
/// documented semantics (not from the code under test).
#[derive(Default)]
struct Model {
    /// key → (value, deadline)
    keys: std::collections::BTreeMap<String, (String, Option<u64>)>,
}

impl Model {
    fn live(&mut self, key: &str, now: u64) -> Option<&mut (String, Option<u64>)> {
        if self
            .keys
            .get(key)
            .is_some_and(|(_, d)| d.is_some_and(|d| d <= now))
        {
            self.keys.remove(key);
        }
        self.keys.get_mut(key)
    }

    fn counter(value: &str) -> Option<i64> {
        // Redis's string2ll: canonical decimal only.
        let parsed: i64 = value.parse().ok()?;
        (parsed.to_string() == value).then_some(parsed)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Get(usize),
    Set(usize, usize),
    SetPx(usize, usize, u64),
    SetKeepTtl(usize, usize),
    SetNx(usize, usize),
    SetXxGet(usize, usize),
    IncrBy(usize, i64),
    IncrBound(usize, i64, Option<i64>, Option<i64>),
    Advance(u64),
    Timers(usize),
}

const KEYS: [&str; 3] = ["a", "b", "c"];
const VALUES: [&str; 8] = [
    "0",
    "1",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "007",
    "x",
    "-0",
];

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let value = 0..VALUES.len();
    let delta = prop_oneof![
        -3i64..=3,
        Just(i64::MAX),
        Just(i64::MIN),
        Just(i64::MAX - 1),
        Just(i64::MIN + 1)
    ];
    let limit = prop_oneof![Just(None), (-5i64..=5).prop_map(Some)];
    prop_oneof![
        key.clone().prop_map(Op::Get),
        (key.clone(), value.clone()).prop_map(|(k, v)| Op::Set(k, v)),
        (key.clone(), value.clone(), 1u64..50).prop_map(|(k, v, t)| Op::SetPx(k, v, t)),
        (key.clone(), value.clone()).prop_map(|(k, v)| Op::SetKeepTtl(k, v)),
        (key.clone(), value.clone()).prop_map(|(k, v)| Op::SetNx(k, v)),
        (key.clone(), value).prop_map(|(k, v)| Op::SetXxGet(k, v)),
        (key.clone(), delta.clone()).prop_map(|(k, d)| Op::IncrBy(k, d)),
        (key, delta, limit.clone(), limit).prop_map(|(k, d, lo, hi)| Op::IncrBound(k, d, lo, hi)),
        (0u64..30).prop_map(Op::Advance),
        (0usize..3).prop_map(Op::Timers),
    ]
}

fn check(s: &mut usher::state::State, model: &mut Model, now: u64, op: &Op) {
    match op {
        Op::Get(k) => {
            let key = KEYS[*k];
            let expected = model.live(key, now).map_or(nil(), |(v, _)| bulk(v));
            assert_eq!(run(s, now, &format!("GET {key}")), expected);
        }
        Op::Set(k, v) | Op::SetPx(k, v, _) | Op::SetKeepTtl(k, v) => {
            let (key, value) = (KEYS[*k], VALUES[*v]);
            let old_deadline = model.live(key, now).and_then(|(_, d)| *d);
            let (command, deadline) = match op {
                Op::SetPx(_, _, ms) => (format!("SET {key} {value} PX {ms}"), Some(now + ms)),
                Op::SetKeepTtl(..) => (format!("SET {key} {value} KEEPTTL"), old_deadline),
                _ => (format!("SET {key} {value}"), None),
            };
            assert_eq!(run(s, now, &command), ok());
            model.keys.insert(key.into(), (value.into(), deadline));
        }
        Op::SetNx(k, v) => {
            let (key, value) = (KEYS[*k], VALUES[*v]);
            let expected = if model.live(key, now).is_some() {
                nil()
            } else {
                model.keys.insert(key.into(), (value.into(), None));
                ok()
            };
            assert_eq!(run(s, now, &format!("SET {key} {value} NX")), expected);
        }
        Op::SetXxGet(k, v) => {
            let (key, value) = (KEYS[*k], VALUES[*v]);
            let expected = match model.live(key, now) {
                Some(entry) => {
                    let old = bulk(&entry.0);
                    *entry = (value.into(), None);
                    old
                }
                None => nil(),
            };
            assert_eq!(run(s, now, &format!("SET {key} {value} XX GET")), expected);
        }
        Op::IncrBy(k, delta) => {
            let key = KEYS[*k];
            let current = model.live(key, now).map(|(v, d)| (v.clone(), *d));
            let reply = run(s, now, &format!("INCRBY {key} {delta}"));
            let (number, deadline) = match &current {
                None => (0, None),
                Some((v, d)) => match Model::counter(v) {
                    Some(n) => (n, *d),
                    None => return assert_error(&reply, NOT_INTEGER),
                },
            };
            match number.checked_add(*delta) {
                None => assert_error(&reply, OVERFLOW),
                Some(next) => {
                    assert_eq!(reply, int(next));
                    model.keys.insert(key.into(), (next.to_string(), deadline));
                }
            }
        }
        Op::IncrBound(k, delta, lo, hi) => {
            let key = KEYS[*k];
            let mut command = format!("INCRBOUND {key} {delta}");
            if let Some(lo) = lo {
                command.push_str(&format!(" MIN {lo}"));
            }
            if let Some(hi) = hi {
                command.push_str(&format!(" MAX {hi}"));
            }
            let reply = run(s, now, &command);
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo > hi {
                    // Refused by the parser: the key is not even looked at.
                    return assert_error(&reply, "ERR MIN is greater than MAX");
                }
            }
            let current = model.live(key, now).map(|(v, d)| (v.clone(), *d));
            let (number, deadline) = match &current {
                None => (0, None),
                Some((v, d)) => match Model::counter(v) {
                    Some(n) => (n, *d),
                    None => return assert_error(&reply, NOT_INTEGER),
                },
            };
            let next = number
                .checked_add(*delta)
                .filter(|n| lo.is_none_or(|lo| *n >= lo) && hi.is_none_or(|hi| *n <= hi));
            match next {
                None => assert_eq!(reply, bound(number, false)),
                Some(next) => {
                    assert_eq!(reply, bound(next, true));
                    model.keys.insert(key.into(), (next.to_string(), deadline));
                }
            }
        }
        Op::Advance(_) | Op::Timers(_) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(64)))]

    /// Random string-command sequences agree with the reference model at
    /// every step, and the state's invariants hold throughout.
    #[test]
    fn strings_follow_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut s = state();
        let mut model = Model::default();
        let mut now = T0;
        for op in &ops {
            match op {
                Op::Advance(ms) => now += ms,
                Op::Timers(max) => {
                    // Due keys go earliest first; which of several with the
                    // same deadline goes first does not matter to the model.
                    let mut due: Vec<(u64, String)> = model
                        .keys
                        .iter()
                        .filter_map(|(k, (_, d))| d.filter(|d| *d <= now).map(|d| (d, k.clone())))
                        .collect();
                    due.sort();
                    let removed = s.run_timers(now, *max);
                    prop_assert_eq!(removed, due.len().min(*max));
                    for (_, key) in due.iter().take(removed) {
                        model.keys.remove(key);
                    }
                }
                _ => check(&mut s, &mut model, now, op),
            }
            s.check_invariants();
            // Every key the model holds live is live in the state, and no other.
            let expected: Vec<String> = model
                .keys
                .iter()
                .filter(|(_, (_, d))| d.is_none_or(|d| d > now))
                .map(|(k, _)| k.clone())
                .collect();
            let actual: Vec<String> = live(&s, now)
                .keys()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            prop_assert_eq!(actual, expected);
        }
    }
}

// ------------------------------------------------- MGET, MSET, MSETNX, SETNX

#[test]
fn mget_answers_nil_for_missing_keys_and_other_types() {
    let mut s = state();
    run(&mut s, T0, "SET a 1");
    run(&mut s, T0, "SET b text");
    run(&mut s, T0, "ZADD z 1 m");
    run(&mut s, T0, "SET gone v PX 10");
    let reply = run(&mut s, T0 + 10, "MGET a b z nosuch gone a");
    let expected = vec![bulk("1"), bulk("text"), nil(), nil(), nil(), bulk("1")];
    assert_eq!(reply, Reply::Array(expected));
    assert_error(
        &run(&mut s, T0, "MGET"),
        "ERR wrong number of arguments for 'mget' command",
    );
}

#[test]
fn mset_replaces_every_type_and_clears_ttls() {
    let mut s = state();
    run(&mut s, T0, "SET a old EX 100");
    run(&mut s, T0, "ZADD z 1 m");
    assert_eq!(run(&mut s, T0, "MSET a 1 z zz new n a 2"), ok());
    // A key named twice gets its last value.
    assert_eq!(
        run(&mut s, T0, "MGET a z new"),
        Reply::Array(vec![bulk("2"), bulk("zz"), bulk("n")])
    );
    assert_eq!(run(&mut s, T0, "TTL a"), int(-1));
    assert_eq!(run(&mut s, T0, "TYPE z"), simple("string"));
    for bad in ["MSET", "MSET a", "MSET a 1 b"] {
        assert_error(
            &run(&mut s, T0, bad),
            "ERR wrong number of arguments for 'mset' command",
        );
    }
    assert_error(
        &run(&mut s, T0, "MSETNX a 1 b"),
        "ERR wrong number of arguments for 'msetnx' command",
    );
}

#[test]
fn msetnx_is_all_or_nothing() {
    let mut s = state();
    run(&mut s, T0, "SET b exists");
    assert_eq!(run(&mut s, T0, "MSETNX a 1 b 2 c 3"), int(0));
    assert_eq!(run(&mut s, T0, "EXISTS a c"), int(0));
    assert_eq!(run(&mut s, T0, "GET b"), bulk("exists"));
    assert_eq!(run(&mut s, T0, "MSETNX a 1 c 3"), int(1));
    assert_eq!(
        run(&mut s, T0, "MGET a c"),
        Reply::Array(vec![bulk("1"), bulk("3")])
    );
    // An expired key does not count as existing.
    run(&mut s, T0, "SET e v PX 5");
    assert_eq!(run(&mut s, T0 + 5, "MSETNX e new"), int(1));
    assert_eq!(run(&mut s, T0 + 5, "GET e"), bulk("new"));
}

#[test]
fn mset_checks_room_for_every_new_key_before_writing_any() {
    let limits = usher::state::StateLimits {
        keys_max: 3,
        ..usher::state::StateLimits::default()
    };
    let mut s = state_with(limits);
    run(&mut s, T0, "SET a 1");
    let reply = run(&mut s, T0, "MSET a 2 b 2 c 2 d 2");
    assert!(reply.is_error(), "{reply:?}");
    assert_eq!(run(&mut s, T0, "GET a"), bulk("1"));
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(1));
    // Repeats of one new key count once.
    assert_eq!(run(&mut s, T0, "MSET b 1 b 2 c 3 a 9"), ok());
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(3));
}

#[test]
fn setnx_sets_only_a_missing_key() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "SETNX k v"), int(1));
    assert_eq!(run(&mut s, T0, "SETNX k w"), int(0));
    assert_eq!(run(&mut s, T0, "GET k"), bulk("v"));
    run(&mut s, T0, "ZADD z 1 m");
    assert_eq!(run(&mut s, T0, "SETNX z w"), int(0));
    assert_error(
        &run(&mut s, T0, "SETNX k"),
        "ERR wrong number of arguments for 'setnx' command",
    );
}

// ------------------------------------------------------ SETEX, PSETEX, GETSET

#[test]
fn setex_and_psetex_set_a_ttl() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "SETEX k 10 v"), ok());
    assert_eq!(run(&mut s, T0, "PTTL k"), int(10_000));
    assert_eq!(run(&mut s, T0, "PSETEX p 1500 v"), ok());
    assert_eq!(run(&mut s, T0, "PTTL p"), int(1500));
    assert_eq!(run(&mut s, T0 + 1500, "GET p"), nil());
    assert_error(
        &run(&mut s, T0, "SETEX k 0 v"),
        "ERR invalid expire time in 'setex' command",
    );
    assert_error(
        &run(&mut s, T0, "PSETEX k -1 v"),
        "ERR invalid expire time in 'psetex' command",
    );
    assert_error(&run(&mut s, T0, "SETEX k abc v"), NOT_INTEGER);
    assert_error(
        &run(&mut s, T0, "SETEX k 9223372036854775807 v"),
        "ERR invalid expire time in 'setex' command",
    );
    assert_error(
        &run(&mut s, T0, "SETEX k 1"),
        "ERR wrong number of arguments for 'setex' command",
    );
    // SETEX replaces a value of another type.
    run(&mut s, T0, "ZADD z 1 m");
    assert_eq!(run(&mut s, T0, "SETEX z 5 v"), ok());
    assert_eq!(run(&mut s, T0, "TYPE z"), simple("string"));
}

#[test]
fn getset_replies_the_old_value_and_clears_the_ttl() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "GETSET k v"), nil());
    run(&mut s, T0, "EXPIRE k 100");
    assert_eq!(run(&mut s, T0, "GETSET k w"), bulk("v"));
    assert_eq!(run(&mut s, T0, "TTL k"), int(-1));
    run(&mut s, T0, "ZADD z 1 m");
    assert_error(
        &run(&mut s, T0, "GETSET z w"),
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
    assert_eq!(run(&mut s, T0, "TYPE z"), simple("zset"));
}

// ---------------------------------------------------------- GETDEL, GETEX

#[test]
fn getdel_replies_and_deletes() {
    let mut s = state();
    run(&mut s, T0, "SET k 42");
    assert_eq!(run(&mut s, T0, "GETDEL k"), bulk("42"));
    assert_eq!(run(&mut s, T0, "EXISTS k"), int(0));
    assert_eq!(run(&mut s, T0, "GETDEL k"), nil());
    run(&mut s, T0, "ZADD z 1 m");
    assert_error(
        &run(&mut s, T0, "GETDEL z"),
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
    assert_eq!(run(&mut s, T0, "EXISTS z"), int(1));
}

#[test]
fn getex_sets_and_removes_the_ttl() {
    let mut s = state();
    run(&mut s, T0, "SET k v");
    assert_eq!(run(&mut s, T0, "GETEX k"), bulk("v"));
    assert_eq!(run(&mut s, T0, "TTL k"), int(-1));
    assert_eq!(run(&mut s, T0, "GETEX k EX 100"), bulk("v"));
    assert_eq!(run(&mut s, T0, "PTTL k"), int(100_000));
    assert_eq!(run(&mut s, T0, "GETEX k PX 500"), bulk("v"));
    assert_eq!(run(&mut s, T0, "PTTL k"), int(500));
    assert_eq!(
        run(&mut s, T0, &format!("GETEX k EXAT {}", T0_S + 7)),
        bulk("v")
    );
    assert_eq!(run(&mut s, T0, "PTTL k"), int(7000));
    assert_eq!(
        run(&mut s, T0, &format!("GETEX k PXAT {}", T0 + 250)),
        bulk("v")
    );
    assert_eq!(run(&mut s, T0, "PTTL k"), int(250));
    assert_eq!(run(&mut s, T0, "GETEX k PERSIST"), bulk("v"));
    assert_eq!(run(&mut s, T0, "TTL k"), int(-1));
    assert_eq!(s.next_timer_ms(), None);
    // A deadline in the past deletes the key; the value is still replied.
    assert_eq!(
        run(&mut s, T0, &format!("GETEX k PXAT {}", T0 - 1)),
        bulk("v")
    );
    assert_eq!(run(&mut s, T0, "EXISTS k"), int(0));
}

#[test]
fn getex_errors_follow_redis_order() {
    let mut s = state();
    run(&mut s, T0, "SET k v");
    run(&mut s, T0, "ZADD z 1 m");
    assert_error(&run(&mut s, T0, "GETEX k PERSIST EX 10"), SYNTAX);
    assert_error(&run(&mut s, T0, "GETEX k EX 10 PX 10"), SYNTAX);
    assert_error(&run(&mut s, T0, "GETEX k PX"), SYNTAX);
    assert_error(&run(&mut s, T0, "GETEX k FOO"), SYNTAX);
    assert_error(
        &run(&mut s, T0, "GETEX k EX 0"),
        "ERR invalid expire time in 'getex' command",
    );
    assert_error(
        &run(&mut s, T0, "GETEX k EX -1"),
        "ERR invalid expire time in 'getex' command",
    );
    assert_error(&run(&mut s, T0, "GETEX k EX abc"), NOT_INTEGER);
    // The amount is looked at only once a string was found.
    assert_eq!(run(&mut s, T0, "GETEX nosuch EX 0"), nil());
    assert_eq!(run(&mut s, T0, "GETEX nosuch EX abc"), nil());
    assert_error(
        &run(&mut s, T0, "GETEX z EX 0"),
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
    assert_eq!(run(&mut s, T0, "TTL k"), int(-1));
}

// ------------------------------------------------------- APPEND, STRLEN

#[test]
fn append_grows_strings_and_counters_and_keeps_the_ttl() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "APPEND k Hello"), int(5));
    assert_eq!(run(&mut s, T0, "APPEND k World"), int(10));
    assert_eq!(run(&mut s, T0, "GET k"), bulk("HelloWorld"));
    run(&mut s, T0, "SET n 12345");
    run(&mut s, T0, "INCR n");
    run(&mut s, T0, "EXPIRE n 100");
    assert_eq!(run(&mut s, T0, "APPEND n 7"), int(6));
    assert_eq!(run(&mut s, T0, "GET n"), bulk("123467"));
    assert_eq!(run(&mut s, T0, "INCR n"), int(123_468));
    assert_eq!(run(&mut s, T0, "TTL n"), int(100));
    // Past the inline capacity and back.
    let long = "x".repeat(60);
    assert_eq!(run(&mut s, T0, &format!("APPEND k {long}")), int(70));
    assert_eq!(run(&mut s, T0, "STRLEN k"), int(70));
    assert_eq!(run(&mut s, T0, "APPEND k \"\""), int(72));
    run(&mut s, T0, "ZADD z 1 m");
    assert_error(
        &run(&mut s, T0, "APPEND z x"),
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
}

#[test]
fn strlen_counts_bytes_of_strings_and_counters() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "STRLEN nosuch"), int(0));
    run(&mut s, T0, "SET n -1234");
    assert_eq!(run(&mut s, T0, "STRLEN n"), int(5));
    assert_eq!(
        run_words(&mut s, T0, &[b"SET", b"b", &[0, 1, 2, 0xff]]),
        ok()
    );
    assert_eq!(run(&mut s, T0, "STRLEN b"), int(4));
    run(&mut s, T0, "ZADD z 1 m");
    assert_error(
        &run(&mut s, T0, "STRLEN z"),
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
}

#[test]
fn append_and_setrange_are_bounded_by_string_bytes_max() {
    let limits = usher::state::StateLimits {
        string_bytes_max: 10,
        ..usher::state::StateLimits::default()
    };
    let mut s = state_with(limits);
    let too_long = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    assert_eq!(run(&mut s, T0, "APPEND k 12345"), int(5));
    assert_eq!(run(&mut s, T0, "APPEND k 67890"), int(10));
    assert_error(&run(&mut s, T0, "APPEND k x"), too_long);
    assert_error(&run(&mut s, T0, "APPEND fresh 12345678901"), too_long);
    assert_error(&run(&mut s, T0, "SETRANGE k 10 x"), too_long);
    assert_eq!(run(&mut s, T0, "SETRANGE k 9 x"), int(10));
    assert_error(&run(&mut s, T0, "SETRANGE other 8 xyz"), too_long);
    assert_error(
        &run(&mut s, T0, "SETRANGE other 9223372036854775807 x"),
        too_long,
    );
    assert_eq!(run(&mut s, T0, "EXISTS other fresh"), int(0));
    assert_eq!(run(&mut s, T0, "GET k"), bulk("123456789x"));
}

// ----------------------------------------------------- SETRANGE, GETRANGE

#[test]
fn setrange_overwrites_and_pads_with_zero_bytes() {
    let mut s = state();
    run_words(&mut s, T0, &[b"SET", b"k1", b"Hello World"]);
    assert_eq!(run(&mut s, T0, "SETRANGE k1 6 Redis"), int(11));
    assert_eq!(run(&mut s, T0, "GET k1"), bulk("Hello Redis"));
    assert_eq!(run(&mut s, T0, "SETRANGE k2 6 Redis"), int(11));
    assert_eq!(run(&mut s, T0, "GET k2"), bulk_bytes(b"\0\0\0\0\0\0Redis"));
    // On a counter: its text.
    run(&mut s, T0, "SET n 12345");
    assert_eq!(run(&mut s, T0, "SETRANGE n 1 9"), int(5));
    assert_eq!(run(&mut s, T0, "GET n"), bulk("19345"));
    assert_eq!(run(&mut s, T0, "INCR n"), int(19346));
    // An empty value changes nothing and creates nothing.
    assert_eq!(
        run_words(&mut s, T0, &[b"SETRANGE", b"none", b"3", b""]),
        int(0)
    );
    assert_eq!(run(&mut s, T0, "EXISTS none"), int(0));
    assert_eq!(
        run_words(&mut s, T0, &[b"SETRANGE", b"k1", b"100", b""]),
        int(11)
    );
    // The TTL stays.
    run(&mut s, T0, "EXPIRE k1 50");
    run(&mut s, T0, "SETRANGE k1 0 J");
    assert_eq!(run(&mut s, T0, "TTL k1"), int(50));
    assert_eq!(run(&mut s, T0, "GET k1"), bulk("Jello Redis"));
    assert_error(
        &run(&mut s, T0, "SETRANGE k1 -1 x"),
        "ERR offset is out of range",
    );
    assert_error(&run(&mut s, T0, "SETRANGE k1 abc x"), NOT_INTEGER);
    run(&mut s, T0, "ZADD z 1 m");
    assert_error(
        &run(&mut s, T0, "SETRANGE z 0 x"),
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
}

#[test]
fn getrange_follows_redis_offsets() {
    let mut s = state();
    run_words(&mut s, T0, &[b"SET", b"k", b"This is a string"]);
    let cases = [
        ("0 3", "This"),
        ("-3 -1", "ing"),
        ("0 -1", "This is a string"),
        ("10 100", "string"),
        ("-100 3", "This"),
        ("5 3", ""),
        ("-1 -3", ""),
        ("16 20", ""),
        ("-1 -1", "g"),
    ];
    for (range, expected) in cases {
        assert_eq!(
            run(&mut s, T0, &format!("GETRANGE k {range}")),
            bulk(expected),
            "{range}"
        );
    }
    run(&mut s, T0, "SET n 123456");
    assert_eq!(run(&mut s, T0, "GETRANGE n -3 -1"), bulk("456"));
    assert_eq!(run(&mut s, T0, "GETRANGE nosuch 0 1"), bulk(""));
    run_words(&mut s, T0, &[b"SET", b"e", b""]);
    assert_eq!(run(&mut s, T0, "GETRANGE e 0 -1"), bulk(""));
    assert_error(&run(&mut s, T0, "GETRANGE k a 1"), NOT_INTEGER);
    run(&mut s, T0, "ZADD z 1 m");
    assert_error(
        &run(&mut s, T0, "GETRANGE z 0 1"),
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
}

// ------------------------------------------------------------ INCRBYFLOAT

#[test]
fn incrbyfloat_prints_as_redis_does() {
    let mut s = state();
    run(&mut s, T0, "SET f 10.50");
    assert_eq!(run(&mut s, T0, "INCRBYFLOAT f 0.1"), bulk("10.6"));
    assert_eq!(run(&mut s, T0, "INCRBYFLOAT f -5"), bulk("5.6"));
    run(&mut s, T0, "SET g 5.0e3");
    assert_eq!(run(&mut s, T0, "INCRBYFLOAT g 2.0e2"), bulk("5200"));
    // An integral result is stored as the integer it reads as.
    assert_eq!(run(&mut s, T0, "INCR g"), int(5201));
    run(&mut s, T0, "SET h 3.0e3");
    assert_eq!(run(&mut s, T0, "INCRBYFLOAT h 0"), bulk("3000"));
    assert_eq!(
        run(&mut s, T0, "INCRBYFLOAT missing 1e20"),
        bulk("100000000000000000000")
    );
    assert_eq!(run(&mut s, T0, "INCRBYFLOAT tiny 1e-20"), bulk("0"));
    assert_eq!(run(&mut s, T0, "INCRBYFLOAT neg -1.5"), bulk("-1.5"));
    run(&mut s, T0, "SET c 7");
    run(&mut s, T0, "EXPIRE c 100");
    assert_eq!(run(&mut s, T0, "INCRBYFLOAT c 0.25"), bulk("7.25"));
    assert_eq!(run(&mut s, T0, "GET c"), bulk("7.25"));
    assert_eq!(run(&mut s, T0, "TTL c"), int(100));
}

#[test]
fn incrbyfloat_refuses_bad_numbers_and_infinities() {
    let mut s = state();
    let nan_or_inf = "ERR increment would produce NaN or Infinity";
    run(&mut s, T0, "SET g 1");
    assert_error(&run(&mut s, T0, "INCRBYFLOAT g inf"), nan_or_inf);
    run(&mut s, T0, "SET big 1.7e308");
    assert_error(&run(&mut s, T0, "INCRBYFLOAT big 1.7e308"), nan_or_inf);
    assert_error(
        &run(&mut s, T0, "INCRBYFLOAT g abc"),
        "ERR value is not a valid float",
    );
    assert_error(
        &run(&mut s, T0, "INCRBYFLOAT g nan"),
        "ERR value is not a valid float",
    );
    run(&mut s, T0, "SET s abc");
    assert_error(
        &run(&mut s, T0, "INCRBYFLOAT s 1"),
        "ERR value is not a valid float",
    );
    run(&mut s, T0, "ZADD z 1 m");
    assert_error(
        &run(&mut s, T0, "INCRBYFLOAT z 1"),
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
    assert_error(&run(&mut s, T0, "INCRBYFLOAT nosuch inf"), nan_or_inf);
    assert_eq!(run(&mut s, T0, "EXISTS nosuch"), int(0));
}

#[test]
fn float_text_is_plain_and_short() {
    use usher::state::strings::float_text;
    assert_eq!(float_text(10.6), "10.6");
    assert_eq!(float_text(3000.0), "3000");
    assert_eq!(float_text(-0.0), "0");
    assert_eq!(float_text(0.1 + 0.2), "0.30000000000000004");
    assert_eq!(float_text(1e-20), "0");
    assert_eq!(float_text(1.5e-17), "0.00000000000000002");
    assert_eq!(float_text(-2.5e-18), "0");
    assert_eq!(float_text(1e21), "1000000000000000000000");
}

// ------------------------------------- byte-string commands against a model

/// One command on the one key of [`bytes_follow_the_model`].
#[derive(Clone, Debug)]
enum ByteOp {
    Set(String),
    Append(String),
    SetRange(u64, String),
    GetRange(i64, i64),
    Strlen,
    Incr,
    GetDel,
}

fn byte_op() -> impl Strategy<Value = ByteOp> {
    let text = prop_oneof![
        Just(String::new()),
        "[a-c]{1,3}",
        "[0-9]{1,3}",
        Just("-12".to_string()),
        "[x]{30,50}",
    ];
    prop_oneof![
        text.clone().prop_map(ByteOp::Set),
        text.clone().prop_map(ByteOp::Append),
        (0u64..60, text).prop_map(|(offset, text)| ByteOp::SetRange(offset, text)),
        (-70i64..70, -70i64..70).prop_map(|(start, end)| ByteOp::GetRange(start, end)),
        Just(ByteOp::Strlen),
        Just(ByteOp::Incr),
        Just(ByteOp::GetDel),
    ]
}

/// GETRANGE on `bytes` as Redis's manual describes it.
fn model_range(bytes: &[u8], start: i64, end: i64) -> Vec<u8> {
    let len = bytes.len() as i64;
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return Vec::new();
    }
    let first = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let last = if end < 0 {
        (len + end).max(0)
    } else {
        end.min(len - 1)
    };
    if first > last {
        return Vec::new();
    }
    bytes[first as usize..=last as usize].to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(64)))]

    /// APPEND, SETRANGE, GETRANGE, STRLEN, INCR and GETDEL on one key agree
    /// with a byte vector, whether the value is stored as text or as a
    /// counter.
    #[test]
    fn bytes_follow_the_model(ops in proptest::collection::vec(byte_op(), 1..60)) {
        let mut s = state();
        let mut model: Option<Vec<u8>> = None;
        for op in &ops {
            let words: Vec<Vec<u8>> = match op {
                ByteOp::Set(text) => vec![b"SET".to_vec(), b"k".to_vec(), text.clone().into_bytes()],
                ByteOp::Append(text) => vec![b"APPEND".to_vec(), b"k".to_vec(), text.clone().into_bytes()],
                ByteOp::SetRange(offset, text) => vec![
                    b"SETRANGE".to_vec(),
                    b"k".to_vec(),
                    offset.to_string().into_bytes(),
                    text.clone().into_bytes(),
                ],
                ByteOp::GetRange(start, end) => vec![
                    b"GETRANGE".to_vec(),
                    b"k".to_vec(),
                    start.to_string().into_bytes(),
                    end.to_string().into_bytes(),
                ],
                ByteOp::Strlen => vec![b"STRLEN".to_vec(), b"k".to_vec()],
                ByteOp::Incr => vec![b"INCR".to_vec(), b"k".to_vec()],
                ByteOp::GetDel => vec![b"GETDEL".to_vec(), b"k".to_vec()],
            };
            let refs: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
            let reply = run_words(&mut s, T0, &refs);
            let current = model.clone().unwrap_or_default();
            let expected = match op {
                ByteOp::Set(text) => {
                    model = Some(text.clone().into_bytes());
                    ok()
                }
                ByteOp::Append(text) => {
                    let mut next = current;
                    next.extend_from_slice(text.as_bytes());
                    let length = next.len() as i64;
                    model = Some(next);
                    int(length)
                }
                ByteOp::SetRange(offset, text) => {
                    let offset = *offset as usize;
                    if text.is_empty() {
                        int(model.as_ref().map_or(0, |bytes| bytes.len() as i64))
                    } else {
                        let mut next = current;
                        if next.len() < offset + text.len() {
                            next.resize(offset + text.len(), 0);
                        }
                        next[offset..offset + text.len()].copy_from_slice(text.as_bytes());
                        let length = next.len() as i64;
                        model = Some(next);
                        int(length)
                    }
                }
                ByteOp::GetRange(start, end) => bulk_bytes(&model_range(&current, *start, *end)),
                ByteOp::Strlen => int(current.len() as i64),
                ByteOp::Incr => {
                    let number = match &model {
                        None => Some(0),
                        Some(bytes) => usher_protocol::number::parse_i64(bytes),
                    };
                    match number {
                        Some(number) => {
                            model = Some((number + 1).to_string().into_bytes());
                            int(number + 1)
                        }
                        None => Reply::Error(usher_protocol::ServerError::NOT_INTEGER),
                    }
                }
                ByteOp::GetDel => match model.take() {
                    Some(bytes) => bulk_bytes(&bytes),
                    None => nil(),
                },
            };
            prop_assert_eq!(&reply, &expected, "{:?}", op);
            let stored = run(&mut s, T0, "GET k");
            let modelled = model.as_deref().map_or(nil(), bulk_bytes);
            prop_assert_eq!(stored, modelled, "after {:?}", op);
        }
    }
}
