//! Unit tests of `State` for src/state/keys.rs: DEL, EXISTS, TYPE, DBSIZE,
//! FLUSHALL, the EXPIRE family, TTL/PTTL, PERSIST, active expiry through
//! `State::run_timers`, the `keys_max` limit and SCAN, with explicit time
//! (no sleeping).
//!
//! Expected replies and error texts are Redis's (checked against
//! redis-server 7.0); the EXPIRE condition table was recorded from it.

use std::collections::BTreeSet;

use crate::support::state::*;
use bytes::Bytes;
use proptest::prelude::*;
use usher::state::{State, StateLimits, Value};
use usher_protocol::{ErrorCode, Reply};

// ------------------------------------------------- DEL, EXISTS, TYPE, DBSIZE

/// Words of one command that adds `count` members to sorted set `key`.
fn zadd_many(key: &str, count: usize) -> String {
    let members: Vec<String> = (0..count).map(|i| format!("{i} m{i}")).collect();
    format!("ZADD {key} {}", members.join(" "))
}

#[test]
fn large_removed_values_are_buried_for_the_freeing_thread() {
    let mut s = state();
    s.keyspace.graveyard.set_lazy(true);
    run(&mut s, T0, "ZADD small 1 a 2 b");
    run(&mut s, T0, &zadd_many("big", 65));
    run(&mut s, T0, &zadd_many("edge", 64));
    // Small values and values of exactly the threshold are freed at once.
    assert_eq!(run(&mut s, T0, "DEL small edge"), int(2));
    assert!(s.keyspace.graveyard.is_empty());
    // UNLINK is DEL: the key is gone at once, its value waits to be freed.
    assert_eq!(run(&mut s, T0, "UNLINK big nosuch"), int(1));
    assert_eq!(run(&mut s, T0, "EXISTS big"), int(0));
    assert_eq!(s.keyspace.graveyard.len(), 1);
    assert_eq!(s.keyspace.graveyard.take().len(), 1);

    // An overwrite buries the value it replaces.
    run(&mut s, T0, &zadd_many("big", 100));
    assert_eq!(run(&mut s, T0, "SET big v"), ok());
    assert_eq!(s.keyspace.graveyard.len(), 1);
    // So does expiry, by the timer or on access.
    run(&mut s, T0, "QUEUE.CONFIG room");
    for i in 0..70 {
        run(&mut s, T0, &format!("QUEUE.JOIN room u{i}"));
    }
    run(&mut s, T0, "PEXPIRE room 10");
    run(&mut s, T0, &zadd_many("lazy", 70));
    run(&mut s, T0, "PEXPIRE lazy 10");
    s.run_timers(T0 + 10, 1);
    assert_eq!(s.keyspace.graveyard.len(), 2);
    assert_eq!(run(&mut s, T0 + 10, "EXISTS lazy room"), int(0));
    assert_eq!(s.keyspace.graveyard.len(), 3);
    assert_eq!(s.keyspace.graveyard.buried_total, 4);

    // FLUSHALL buries the whole map and the deadline index once they are
    // large, whatever they hold.
    s.keyspace.graveyard.take();
    for i in 0..100 {
        run(&mut s, T0, &format!("SET k{i} v PX 1000"));
    }
    assert_eq!(run(&mut s, T0, "FLUSHALL"), ok());
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    assert_eq!(s.next_timer_ms(), None);
    assert_eq!(s.keyspace.graveyard.len(), 2);
    run(&mut s, T0, "SET after v");
    assert_eq!(run(&mut s, T0, "GET after"), bulk("v"));
}

#[test]
fn without_lazy_free_nothing_is_buried() {
    let mut s = state();
    run(&mut s, T0, &zadd_many("big", 1000));
    assert_eq!(run(&mut s, T0, "UNLINK big"), int(1));
    run(&mut s, T0, &zadd_many("big", 1000));
    run(&mut s, T0, "SET big v");
    assert_eq!(run(&mut s, T0, "FLUSHALL"), ok());
    assert!(s.keyspace.graveyard.is_empty());
    assert_eq!(s.keyspace.graveyard.buried_total, 0);
}

#[test]
fn del_and_exists_take_many_keys() {
    let mut s = state();
    for key in ["a", "b", "c"] {
        run(&mut s, T0, &format!("SET {key} 1"));
    }
    // EXISTS counts a key named twice twice; missing keys count 0.
    assert_eq!(run(&mut s, T0, "EXISTS a a b nosuch"), int(3));
    assert_eq!(run(&mut s, T0, "EXISTS nosuch"), int(0));
    // DEL counts each removed key once.
    assert_eq!(run(&mut s, T0, "DEL a a nosuch"), int(1));
    assert_eq!(run(&mut s, T0, "EXISTS a"), int(0));
    assert_eq!(run(&mut s, T0, "DEL b c"), int(2));
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    assert_eq!(run(&mut s, T0, "DEL b c"), int(0));
    for command in ["DEL", "EXISTS"] {
        assert_error(
            &run(&mut s, T0, command),
            &format!(
                "ERR wrong number of arguments for '{}' command",
                command.to_lowercase()
            ),
        );
    }
}

#[test]
fn expired_keys_do_not_count_for_del_exists_type() {
    let mut s = state();
    run(&mut s, T0, "SET a 1 PX 100");
    run(&mut s, T0, "SET b 1 PX 100");
    run(&mut s, T0, "SET c 1 PX 100");
    run(&mut s, T0, "SET keep 1");
    assert_eq!(run(&mut s, T0 + 100, "EXISTS a keep"), int(1));
    assert_eq!(run(&mut s, T0 + 100, "DEL b keep"), int(1));
    assert_eq!(run(&mut s, T0 + 100, "TYPE c"), simple("none"));
}

#[test]
fn type_and_dbsize_and_flushall() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "TYPE k"), simple("none"));
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    run(&mut s, T0, "SET k v");
    run(&mut s, T0, "INCR n");
    run(&mut s, T0, "SET t v PX 10");
    assert_eq!(run(&mut s, T0, "TYPE k"), simple("string"));
    assert_eq!(run(&mut s, T0, "TYPE n"), simple("string"));
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(3));
    assert_eq!(run(&mut s, T0, "FLUSHALL"), ok());
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    assert_eq!(run(&mut s, T0, "EXISTS k n t"), int(0));
    assert_eq!(s.next_timer_ms(), None, "FLUSHALL must drop deadlines too");
    assert_eq!(run(&mut s, T0, "FLUSHALL ASYNC"), ok());
    assert_eq!(run(&mut s, T0, "FLUSHALL sync"), ok());
    assert_error(&run(&mut s, T0, "FLUSHALL NOW"), "ERR syntax error");
    // The keyspace is usable afterwards.
    run(&mut s, T0, "SET t v PX 10");
    assert_eq!(s.next_timer_ms(), Some(T0 + 10));
}

// ------------------------------------------------------------- TTL edges

/// Each reader sees the key at `d - 1` and not at `d`, in a fresh state so
/// that no earlier access reaps it.
#[test]
fn a_key_exists_until_its_deadline_lazily() {
    let d = T0 + 1000;
    let readers: [(&str, Reply, Reply); 6] = [
        ("GET k", bulk("v"), nil()),
        ("EXISTS k", int(1), int(0)),
        ("TYPE k", simple("string"), simple("none")),
        ("PTTL k", int(1), int(-2)),
        ("TTL k", int(0), int(-2)),
        ("PERSIST k", int(1), int(0)),
    ];
    for (command, before, after) in readers {
        let mut s = state();
        run(&mut s, T0, "SET k v PX 1000");
        assert_eq!(run(&mut s, d - 1, command), before, "{command} at d-1");
        let mut s = state();
        run(&mut s, T0, "SET k v PX 1000");
        assert_eq!(run(&mut s, d, command), after, "{command} at d");
        // Lazy expiry removed it: nothing is left for the timer.
        assert_eq!(run(&mut s, d, "DBSIZE"), int(0), "{command} at d");
        assert_eq!(s.next_timer_ms(), None);
    }
}

#[test]
fn a_key_expires_at_its_deadline_actively() {
    let mut s = state();
    let d = T0 + 1000;
    run(&mut s, T0, "SET k v PX 1000");
    run(&mut s, T0, "SET keep v");
    assert_eq!(s.next_timer_ms(), Some(d));
    assert_eq!(s.run_timers(d - 1, 100), 0);
    // DBSIZE counts keys not reaped yet (as Redis does), so it shows the
    // active cycle's work without touching the key.
    assert_eq!(run(&mut s, d - 1, "DBSIZE"), int(2));
    assert_eq!(s.run_timers(d, 100), 1);
    s.check_invariants();
    assert_eq!(run(&mut s, d, "DBSIZE"), int(1));
    assert_eq!(s.keyspace.expired_total, 1);
    assert_eq!(s.next_timer_ms(), None);
    assert_eq!(s.run_timers(d + 10_000, 100), 0);
    assert_eq!(run(&mut s, d, "GET keep"), bulk("v"));
}

#[test]
fn run_timers_is_bounded_and_goes_earliest_first() {
    let mut s = state();
    for i in 0..10u64 {
        // k0 has the latest deadline, k9 the earliest.
        run(&mut s, T0, &format!("SET k{i} v PX {}", 100 - i));
    }
    run(&mut s, T0, "SET late v PX 5000");
    let now = T0 + 100;
    assert_eq!(s.run_timers(now, 3), 3);
    s.check_invariants();
    let left: BTreeSet<Bytes> = live(&s, T0).into_keys().collect();
    for i in 7..10 {
        assert!(
            !left.contains(format!("k{i}").as_bytes()),
            "k{i} should be gone"
        );
    }
    for i in 0..7 {
        assert!(
            left.contains(format!("k{i}").as_bytes()),
            "k{i} should remain"
        );
    }
    assert_eq!(s.run_timers(now, 3), 3);
    assert_eq!(s.run_timers(now, 3), 3);
    assert_eq!(s.run_timers(now, 3), 1);
    assert_eq!(s.run_timers(now, 3), 0);
    assert_eq!(s.run_timers(now, 0), 0);
    s.check_invariants();
    assert_eq!(run(&mut s, now, "DBSIZE"), int(1));
    assert_eq!(s.next_timer_ms(), Some(T0 + 5000));
}

#[test]
fn ttl_rounds_to_the_nearest_second_and_pttl_is_exact() {
    let mut s = state();
    let cases: [(u64, i64); 9] = [
        (1, 0),
        (499, 0),
        (500, 1),
        (1000, 1),
        (1499, 1),
        (1500, 2),
        (2499, 2),
        (2500, 3),
        (100_000, 100),
    ];
    for (left, seconds) in cases {
        run(&mut s, T0, &format!("SET k v PX {left}"));
        assert_eq!(run(&mut s, T0, "TTL k"), int(seconds), "{left} ms left");
        assert_eq!(run(&mut s, T0, "PTTL k"), int(left as i64));
    }
    // The TTL counts down with time.
    run(&mut s, T0, "SET k v EX 10");
    assert_eq!(run(&mut s, T0 + 1, "PTTL k"), int(9999));
    assert_eq!(run(&mut s, T0 + 4400, "TTL k"), int(6));
    assert_eq!(run(&mut s, T0 + 4600, "TTL k"), int(5));
}

#[test]
fn ttl_of_persistent_and_missing_keys() {
    let mut s = state();
    run(&mut s, T0, "SET k v");
    assert_eq!(run(&mut s, T0, "TTL k"), int(-1));
    assert_eq!(run(&mut s, T0, "PTTL k"), int(-1));
    assert_eq!(run(&mut s, T0, "TTL nosuch"), int(-2));
    assert_eq!(run(&mut s, T0, "PTTL nosuch"), int(-2));
}

// ----------------------------------------------------------- EXPIRE family

/// Recorded from redis-server 7.0.15 with `EXPIREAT k <base + new> <options>`
/// on a key with no TTL (`none`), a TTL at `base + 100` (`ttl`) or no key
/// (`missing`); `past` is `EXPIREAT k 1`. After the arrow: the reply,
/// EXISTS, and the deadline relative to `base` in seconds (-1 none,
/// -2 missing).
const EXPIRE_TABLE: &str = "
    none    |       | 50   -> 1 1 50
    none    |       | 100  -> 1 1 100
    none    |       | 200  -> 1 1 200
    none    |       | past -> 1 0 -2
    none    | NX    | 50   -> 1 1 50
    none    | NX    | 100  -> 1 1 100
    none    | NX    | 200  -> 1 1 200
    none    | NX    | past -> 1 0 -2
    none    | XX    | 50   -> 0 1 -1
    none    | XX    | 100  -> 0 1 -1
    none    | XX    | 200  -> 0 1 -1
    none    | XX    | past -> 0 1 -1
    none    | GT    | 50   -> 0 1 -1
    none    | GT    | 100  -> 0 1 -1
    none    | GT    | 200  -> 0 1 -1
    none    | GT    | past -> 0 1 -1
    none    | LT    | 50   -> 1 1 50
    none    | LT    | 100  -> 1 1 100
    none    | LT    | 200  -> 1 1 200
    none    | LT    | past -> 1 0 -2
    none    | XX GT | 50   -> 0 1 -1
    none    | XX GT | 100  -> 0 1 -1
    none    | XX GT | 200  -> 0 1 -1
    none    | XX GT | past -> 0 1 -1
    none    | XX LT | 50   -> 0 1 -1
    none    | XX LT | 100  -> 0 1 -1
    none    | XX LT | 200  -> 0 1 -1
    none    | XX LT | past -> 0 1 -1
    none    | GT XX | 50   -> 0 1 -1
    none    | GT XX | 100  -> 0 1 -1
    none    | GT XX | 200  -> 0 1 -1
    none    | GT XX | past -> 0 1 -1
    none    | LT XX | 50   -> 0 1 -1
    none    | LT XX | 100  -> 0 1 -1
    none    | LT XX | 200  -> 0 1 -1
    none    | LT XX | past -> 0 1 -1
    ttl     |       | 50   -> 1 1 50
    ttl     |       | 100  -> 1 1 100
    ttl     |       | 200  -> 1 1 200
    ttl     |       | past -> 1 0 -2
    ttl     | NX    | 50   -> 0 1 100
    ttl     | NX    | 100  -> 0 1 100
    ttl     | NX    | 200  -> 0 1 100
    ttl     | NX    | past -> 0 1 100
    ttl     | XX    | 50   -> 1 1 50
    ttl     | XX    | 100  -> 1 1 100
    ttl     | XX    | 200  -> 1 1 200
    ttl     | XX    | past -> 1 0 -2
    ttl     | GT    | 50   -> 0 1 100
    ttl     | GT    | 100  -> 0 1 100
    ttl     | GT    | 200  -> 1 1 200
    ttl     | GT    | past -> 0 1 100
    ttl     | LT    | 50   -> 1 1 50
    ttl     | LT    | 100  -> 0 1 100
    ttl     | LT    | 200  -> 0 1 100
    ttl     | LT    | past -> 1 0 -2
    ttl     | XX GT | 50   -> 0 1 100
    ttl     | XX GT | 100  -> 0 1 100
    ttl     | XX GT | 200  -> 1 1 200
    ttl     | XX GT | past -> 0 1 100
    ttl     | XX LT | 50   -> 1 1 50
    ttl     | XX LT | 100  -> 0 1 100
    ttl     | XX LT | 200  -> 0 1 100
    ttl     | XX LT | past -> 1 0 -2
    ttl     | GT XX | 50   -> 0 1 100
    ttl     | GT XX | 100  -> 0 1 100
    ttl     | GT XX | 200  -> 1 1 200
    ttl     | GT XX | past -> 0 1 100
    ttl     | LT XX | 50   -> 1 1 50
    ttl     | LT XX | 100  -> 0 1 100
    ttl     | LT XX | 200  -> 0 1 100
    ttl     | LT XX | past -> 1 0 -2
";

#[test]
fn expire_conditions_match_redis() {
    let base_s = T0_S + 100_000;
    let mut rows = 0;
    for line in EXPIRE_TABLE.lines().filter(|line| !line.trim().is_empty()) {
        let (setup, outcome) = line.split_once("->").expect("row has an arrow");
        let fields: Vec<&str> = setup.split('|').map(str::trim).collect();
        let (key_state, options, target) = (fields[0], fields[1], fields[2]);
        let outcome: Vec<i64> = outcome
            .split_whitespace()
            .map(|n| n.parse().expect("number"))
            .collect();
        let at_s: i64 = match target {
            "past" => 1,
            relative => base_s as i64 + relative.parse::<i64>().expect("number"),
        };
        // Redis's EXPIREAT, and the same absolute deadline spelt the other
        // three ways (T0 is a whole second, so all four are exact).
        let forms = [
            format!("EXPIREAT k {at_s}"),
            format!("PEXPIREAT k {}", at_s * 1000),
            format!("EXPIRE k {}", at_s - T0_S as i64),
            format!("PEXPIRE k {}", at_s * 1000 - T0 as i64),
        ];
        for form in forms {
            let mut s = state();
            if key_state != "missing" {
                run(&mut s, T0, "SET k v");
            }
            if key_state == "ttl" {
                run(&mut s, T0, &format!("EXPIREAT k {}", base_s + 100));
            }
            let command = format!("{form} {options}");
            assert_eq!(
                run(&mut s, T0, &command),
                int(outcome[0]),
                "{line}: {command}"
            );
            assert_eq!(
                run(&mut s, T0, "EXISTS k"),
                int(outcome[1]),
                "{line}: {command}"
            );
            let pttl = match outcome[2] {
                -1 => -1,
                -2 => -2,
                relative => (base_s as i64 + relative) * 1000 - T0 as i64,
            };
            assert_eq!(run(&mut s, T0, "PTTL k"), int(pttl), "{line}: {command}");
        }
        rows += 1;
    }
    assert_eq!(rows, 72);
    // A missing key answers 0 whatever the options.
    for options in ["", "NX", "XX", "GT", "LT", "XX GT", "XX LT"] {
        let mut s = state();
        assert_eq!(run(&mut s, T0, &format!("EXPIRE k 10 {options}")), int(0));
        assert_eq!(run(&mut s, T0, &format!("EXPIRE k -10 {options}")), int(0));
        assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    }
}

#[test]
fn expire_into_the_past_deletes_and_replies_one() {
    for command in [
        "EXPIRE k -1".to_string(),
        "EXPIRE k 0".to_string(),
        "PEXPIRE k 0".to_string(),
        "PEXPIRE k -9223372036854775808".to_string(),
        "EXPIRE k -9223372036854775".to_string(),
        "EXPIREAT k 1".to_string(),
        "EXPIREAT k -5".to_string(),
        "PEXPIREAT k -5".to_string(),
        format!("PEXPIREAT k {T0}"),
        format!("EXPIREAT k {T0_S}"),
    ] {
        let mut s = state();
        run(&mut s, T0, "SET k v EX 100");
        assert_eq!(run(&mut s, T0, &command), int(1), "{command}");
        assert_eq!(run(&mut s, T0, "DBSIZE"), int(0), "{command}");
        assert_eq!(s.next_timer_ms(), None, "{command}");
    }
    let mut s = state();
    run(&mut s, T0, "SET k v");
    assert_eq!(run(&mut s, T0, &format!("PEXPIREAT k {}", T0 + 1)), int(1));
    assert_eq!(run(&mut s, T0, "PTTL k"), int(1));
    assert_eq!(run(&mut s, T0 + 1, "EXISTS k"), int(0));
}

#[test]
fn expire_amounts_that_overflow_are_errors() {
    let mut s = state();
    run(&mut s, T0, "SET k v PX 5000");
    for (command, name) in [
        ("EXPIRE k 9223372036854775807", "expire"),
        // Fits in milliseconds but not once now is added.
        ("EXPIRE k 9223372036854775", "expire"),
        ("EXPIRE k -9223372036854775808", "expire"),
        ("PEXPIRE k 9223372036854775807", "pexpire"),
        ("EXPIREAT k 9223372036854775807", "expireat"),
        ("EXPIREAT k -9223372036854775808", "expireat"),
        ("EXPIRE nosuch 9223372036854775807", "expire"),
        ("PEXPIRE nosuch 9223372036854775807 NX", "pexpire"),
    ] {
        let reply = run(&mut s, T0, command);
        assert_error(
            &reply,
            &format!("ERR invalid expire time in '{name}' command"),
        );
    }
    assert_eq!(run(&mut s, T0, "PTTL k"), int(5000));
    assert_eq!(run(&mut s, T0, "EXISTS nosuch"), int(0));
    // The largest absolute deadline in milliseconds is fine.
    assert_eq!(run(&mut s, T0, "PEXPIREAT k 9223372036854775807"), int(1));
    assert_eq!(run(&mut s, T0, "PTTL k"), int(i64::MAX - T0 as i64));
    assert_eq!(
        run(&mut s, T0, "TTL k"),
        int((i64::MAX - T0 as i64 + 500) / 1000)
    );
}

#[test]
fn expire_syntax_errors() {
    let mut s = state();
    run(&mut s, T0, "SET k v PX 5000");
    let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    let gt_lt = "ERR GT and LT options at the same time are not compatible";
    for (options, message) in [
        ("NX XX", nx),
        ("XX NX", nx),
        ("NX GT", nx),
        ("LT NX", nx),
        ("GT LT", gt_lt),
        ("LT GT", gt_lt),
        ("XX GT LT", gt_lt),
        ("FOO", "ERR Unsupported option FOO"),
    ] {
        assert_error(&run(&mut s, T0, &format!("EXPIRE k 10 {options}")), message);
    }
    assert_error(
        &run(&mut s, T0, "EXPIRE k abc"),
        "ERR value is not an integer or out of range",
    );
    assert_error(
        &run(&mut s, T0, "EXPIRE k"),
        "ERR wrong number of arguments for 'expire' command",
    );
    assert_eq!(run(&mut s, T0, "PTTL k"), int(5000));
}

#[test]
fn expire_on_an_expired_key_is_zero() {
    let mut s = state();
    run(&mut s, T0, "SET k v PX 100");
    assert_eq!(run(&mut s, T0 + 100, "EXPIRE k 100"), int(0));
    assert_eq!(run(&mut s, T0 + 100, "EXISTS k"), int(0));
}

#[test]
fn expire_moves_the_timer() {
    let mut s = state();
    run(&mut s, T0, "SET k v PX 100");
    assert_eq!(run(&mut s, T0, "PEXPIRE k 1000"), int(1));
    assert_eq!(s.next_timer_ms(), Some(T0 + 1000));
    assert_eq!(s.run_timers(T0 + 100, 10), 0);
    assert_eq!(run(&mut s, T0 + 998, "GET k"), bulk("v"));
    // Moving it earlier works as well; the same deadline is not "sooner".
    assert_eq!(run(&mut s, T0 + 998, "PEXPIRE k 2 LT"), int(0));
    assert_eq!(run(&mut s, T0 + 998, "PEXPIRE k 1 LT"), int(1));
    assert_eq!(s.next_timer_ms(), Some(T0 + 999));
    assert_eq!(s.run_timers(T0 + 999, 10), 1);
    assert_eq!(run(&mut s, T0 + 999, "DBSIZE"), int(0));
}

#[test]
fn persist_removes_the_ttl() {
    let mut s = state();
    run(&mut s, T0, "SET k v PX 100");
    run(&mut s, T0, "SET n v");
    assert_eq!(run(&mut s, T0, "PERSIST n"), int(0));
    assert_eq!(run(&mut s, T0, "PERSIST nosuch"), int(0));
    assert_eq!(run(&mut s, T0, "PERSIST k"), int(1));
    assert_eq!(run(&mut s, T0, "PERSIST k"), int(0));
    assert_eq!(run(&mut s, T0, "TTL k"), int(-1));
    assert_eq!(s.next_timer_ms(), None);
    assert_eq!(s.run_timers(T0 + 100, 10), 0);
    assert_eq!(run(&mut s, T0 + 100_000, "GET k"), bulk("v"));
    // An expired key cannot be rescued.
    run(&mut s, T0, "SET e v PX 100");
    assert_eq!(run(&mut s, T0 + 100, "PERSIST e"), int(0));
    assert_eq!(run(&mut s, T0 + 100, "EXISTS e"), int(0));
}

// ---------------------------------------------------------------- keys_max

#[test]
fn keys_max_refuses_new_keys_and_changes_nothing() {
    let mut s = state_with(StateLimits {
        keys_max: 3,
        ..StateLimits::default()
    });
    for key in ["a", "b", "c"] {
        assert_eq!(run(&mut s, T0, &format!("SET {key} 1")), ok());
    }
    for command in [
        "SET d 1",
        "SET d 1 NX",
        "SET d 1 GET",
        "SET d 1 EX 10",
        "INCR d",
        "DECRBY d 3",
        "INCRBOUND d 1 MAX 10",
    ] {
        let reply = run(&mut s, T0, command);
        match &reply {
            Reply::Error(error) => {
                assert_eq!(error.code, ErrorCode::OutOfMemory, "{command}");
                assert!(error.message.starts_with("OOM "), "{command}: {error:?}");
            }
            other => panic!("{command}: expected OOM, got {other:?}"),
        }
    }
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(3));
    assert_eq!(run(&mut s, T0, "EXISTS d"), int(0));
    // What adds no key still works: overwrites, counters on existing keys,
    // refused INCRBOUNDs, conditional writes that do not happen.
    assert_eq!(run(&mut s, T0, "SET a 5 EX 10"), ok());
    assert_eq!(run(&mut s, T0, "INCR a"), int(6));
    assert_eq!(run(&mut s, T0, "INCRBOUND b 1 MAX 2"), bound(2, true));
    assert_eq!(run(&mut s, T0, "INCRBOUND d 5 MAX 2"), bound(0, false));
    assert_eq!(run(&mut s, T0, "SET d 1 XX"), nil());
    // A SET whose deadline is already past adds no key, so it is not refused
    // (Redis replies OK and leaves no key).
    assert_eq!(run(&mut s, T0, "SET d 1 PXAT 1"), ok());
    assert_eq!(run(&mut s, T0, "SET d 1 EXAT 1 GET"), nil());
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(3));
    // Room comes back after a DEL, and after an expiry is reaped.
    assert_eq!(run(&mut s, T0, "DEL c"), int(1));
    assert_eq!(run(&mut s, T0, "SET d 1"), ok());
    assert_error_code(&run(&mut s, T0, "SET e 1"), ErrorCode::OutOfMemory);
    assert_eq!(s.run_timers(T0 + 10_000, 10), 1);
    assert_eq!(run(&mut s, T0 + 10_000, "SET e 1"), ok());
    assert_eq!(run(&mut s, T0 + 10_000, "DBSIZE"), int(3));
}

#[test]
fn a_full_keyspace_drops_past_deadline_keys_before_refusing() {
    let mut s = state_with(StateLimits {
        keys_max: 3,
        ..StateLimits::default()
    });
    s.keyspace.set_recording(true);
    assert_eq!(run(&mut s, T0, "SET a 1 PX 100"), ok());
    assert_eq!(run(&mut s, T0, "SET b 1 PX 200"), ok());
    assert_eq!(run(&mut s, T0, "SET c 1"), ok());
    assert_error_code(&run(&mut s, T0 + 99, "SET d 1"), ErrorCode::OutOfMemory);
    // `a` is past its deadline but the timer has not run: the write that
    // needs its room removes it (and logs the expiry) instead of failing.
    s.keyspace.effects_mut().clear();
    assert_eq!(run(&mut s, T0 + 100, "SET d 1"), ok());
    assert_eq!(s.keyspace.len(), 3);
    let effects = std::mem::take(s.keyspace.effects_mut());
    assert!(
        matches!(&effects[0], usher::state::Effect::Key(usher::state::KeyEffect::Expired { key }) if &key[..] == b"a"),
        "{effects:?}"
    );
    assert_eq!(effects.len(), 2, "{effects:?}");
    // `b` is not due yet: still full.
    assert_error_code(&run(&mut s, T0 + 150, "INCR e"), ErrorCode::OutOfMemory);
    // Each command that creates a key finds its room the same way.
    let mut at = T0 + 1_000;
    for command in [
        "SET new 1",
        "INCR new",
        "INCRBOUND new 1 MAX 5",
        "ZADD new 1 m",
        "QUEUE.CONFIG new",
        "STOCK.CONFIG new 10",
        "SEAT.CREATE new 10",
    ] {
        assert_eq!(run(&mut s, at, "FLUSHALL"), ok());
        for setup in ["SET k1 1", "SET k2 1", "SET k3 1 PX 1"] {
            assert_eq!(run(&mut s, at, setup), ok(), "{command}");
        }
        let reply = run(&mut s, at + 1, command);
        assert!(!reply.is_error(), "{command}: {reply:?}");
        assert_eq!(
            run(&mut s, at + 1, "EXISTS new k1 k2 k3"),
            int(3),
            "{command}"
        );
        assert_eq!(s.keyspace.len(), 3, "{command}");
        at += 1_000;
    }
}

#[track_caller]
fn assert_error_code(reply: &Reply, code: ErrorCode) {
    match reply {
        Reply::Error(error) => assert_eq!(error.code, code),
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

// -------------------------------------------------------------------- SCAN

fn fill(s: &mut State, keys: impl IntoIterator<Item = String>) -> BTreeSet<Bytes> {
    let mut all = BTreeSet::new();
    for key in keys {
        assert_eq!(run(s, T0, &format!("SET {key} v")), ok());
        all.insert(Bytes::from(key));
    }
    all
}

#[test]
fn scan_of_an_empty_keyspace() {
    let mut s = state();
    let (cursor, keys) = scan_parts(&run(&mut s, T0, "SCAN 0"));
    assert_eq!(cursor, 0);
    assert!(keys.is_empty());
}

#[test]
fn a_full_scan_returns_every_key() {
    let mut s = state();
    let all = fill(&mut s, (0..257).map(|i| format!("key:{i}")));
    for options in ["", "COUNT 1", "COUNT 7", "COUNT 100", "COUNT 100000"] {
        let (keys, calls) = scan_all(&mut s, T0, options);
        let found: BTreeSet<Bytes> = keys.iter().cloned().collect();
        assert_eq!(found, all, "SCAN {options}");
        assert!(calls >= 1);
        if options == "COUNT 1" {
            assert!(calls > 1, "COUNT 1 should take several calls");
        }
    }
    // A COUNT beyond the keyspace finishes in one call, cursor 0.
    let (cursor, keys) = scan_parts(&run(&mut s, T0, "SCAN 0 COUNT 1000"));
    assert_eq!(cursor, 0);
    assert_eq!(keys.len(), all.len());
}

#[test]
fn scan_match_and_type() {
    let mut s = state();
    fill(&mut s, (0..30).map(|i| format!("user:{i}")));
    fill(&mut s, (0..10).map(|i| format!("seat:{i}")));
    let (keys, _) = scan_all(&mut s, T0, "MATCH user:* COUNT 4");
    let found: BTreeSet<Bytes> = keys.into_iter().collect();
    let users: BTreeSet<Bytes> = (0..30).map(|i| Bytes::from(format!("user:{i}"))).collect();
    assert_eq!(found, users);
    let (keys, _) = scan_all(&mut s, T0, "MATCH seat:[0-4]");
    assert_eq!(keys.len(), 5);
    let (keys, _) = scan_all(&mut s, T0, "MATCH nothing*");
    assert!(keys.is_empty());
    let (keys, _) = scan_all(&mut s, T0, "TYPE string");
    assert_eq!(keys.len(), 40);
    let (keys, _) = scan_all(&mut s, T0, "TYPE STRING MATCH seat:*");
    assert_eq!(keys.len(), 10);
    let (keys, _) = scan_all(&mut s, T0, "TYPE hash");
    assert!(keys.is_empty());
}

#[test]
fn scan_skips_expired_keys() {
    let mut s = state();
    fill(&mut s, (0..10).map(|i| format!("keep:{i}")));
    for i in 0..10 {
        run(&mut s, T0, &format!("SET gone:{i} v PX 50"));
    }
    let (keys, _) = scan_all(&mut s, T0 + 50, "COUNT 3");
    assert!(keys.iter().all(|key| key.starts_with(b"keep:")), "{keys:?}");
    assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), 10);
}

#[test]
fn scan_count_is_capped_by_scan_count_max() {
    let mut s = state_with(StateLimits {
        scan_count_max: 5,
        ..StateLimits::default()
    });
    let all = fill(&mut s, (0..20).map(|i| format!("k{i}")));
    let (cursor, keys) = scan_parts(&run(&mut s, T0, "SCAN 0 COUNT 1000"));
    assert!(keys.len() <= 5, "{keys:?}");
    assert_ne!(cursor, 0);
    let (keys, calls) = scan_all(&mut s, T0, "COUNT 1000");
    assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), all);
    assert!(calls >= 4);
}

#[test]
fn scan_argument_errors() {
    let mut s = state();
    fill(&mut s, ["a".to_string()]);
    for command in ["SCAN abc", "SCAN 1.5"] {
        assert_error(&run(&mut s, T0, command), "ERR invalid cursor");
    }
    for command in [
        "SCAN 0 COUNT 0",
        "SCAN 0 COUNT -1",
        "SCAN 0 COUNT",
        "SCAN 0 MATCH",
        "SCAN 0 TYPE",
        "SCAN 0 BOGUS",
    ] {
        assert_error(&run(&mut s, T0, command), "ERR syntax error");
    }
    assert_error(
        &run(&mut s, T0, "SCAN 0 COUNT abc"),
        "ERR value is not an integer or out of range",
    );
    // A cursor SCAN never handed out still gets a well-formed answer.
    for cursor in ["1", "12345", "18446744073709551615"] {
        let (_, keys) = scan_parts(&run(&mut s, T0, &format!("SCAN {cursor} COUNT 100")));
        assert!(keys.len() <= 1);
    }
}

/// What happens between two SCAN calls.
#[derive(Clone, Debug)]
enum Mutation {
    /// SET a new key.
    Insert,
    /// DEL one of the changing keys.
    Delete(usize),
    /// PEXPIRE one of the changing keys so it is gone after the next Advance.
    Expire(usize),
    /// Overwrite a stable key (must not move or hide it).
    Overwrite(usize),
    /// Let time pass.
    Advance,
    /// Run the active expiry cycle.
    Timers(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::Insert),
        3 => any::<usize>().prop_map(Mutation::Delete),
        2 => any::<usize>().prop_map(Mutation::Expire),
        1 => any::<usize>().prop_map(Mutation::Overwrite),
        1 => Just(Mutation::Advance),
        1 => (0usize..4).prop_map(Mutation::Timers),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(64)))]

    /// Keys present for the whole iteration are returned at least once even
    /// when other keys are inserted, deleted and expired between calls;
    /// every key returned was live when it was returned; the iteration ends.
    #[test]
    fn scan_returns_keys_present_throughout(
        stable_count in 0usize..40,
        changing_count in 0usize..40,
        counts in proptest::collection::vec(1usize..12, 1..20),
        gaps in proptest::collection::vec(proptest::collection::vec(mutation(), 0..5), 1..40),
        seed in any::<u64>(),
    ) {
        let mut s = State::with_seed(StateLimits::default(), seed);
        let mut now = T0;
        let mut stable = Vec::new();
        let mut changing = Vec::new();
        let mut created = 0usize;
        // Interleave the two kinds so stable keys sit at every position.
        for i in 0..stable_count.max(changing_count) {
            if i < stable_count {
                let key = format!("stable:{i}");
                prop_assert_eq!(run(&mut s, now, &format!("SET {key} v")), ok());
                stable.push(key);
            }
            if i < changing_count {
                let key = format!("changing:{created}");
                created += 1;
                prop_assert_eq!(run(&mut s, now, &format!("SET {key} v")), ok());
                changing.push(key);
            }
        }
        let initial_len = stable.len() + changing.len();
        let mut seen = BTreeSet::new();
        let mut cursor = 0u64;
        let mut calls = 0usize;
        loop {
            let count = counts[calls % counts.len()];
            let reply = run(&mut s, now, &format!("SCAN {cursor} COUNT {count}"));
            let (next, keys) = scan_parts(&reply);
            let alive: BTreeSet<Bytes> = live(&s, now).into_keys().collect();
            for key in keys {
                prop_assert!(alive.contains(&key), "returned a key not live: {:?}", key);
                seen.insert(key);
            }
            calls += 1;
            prop_assert!(calls <= initial_len + 1, "SCAN took {} calls for {} keys", calls, initial_len);
            if next == 0 {
                break;
            }
            cursor = next;
            for step in &gaps[calls % gaps.len()] {
                match step {
                    Mutation::Insert => {
                        let key = format!("changing:{created}");
                        created += 1;
                        prop_assert_eq!(run(&mut s, now, &format!("SET {key} v")), ok());
                        changing.push(key);
                    }
                    Mutation::Delete(pick) if !changing.is_empty() => {
                        let key = changing.swap_remove(pick % changing.len());
                        // It may already have expired.
                        run(&mut s, now, &format!("DEL {key}"));
                    }
                    Mutation::Expire(pick) if !changing.is_empty() => {
                        let key = &changing[pick % changing.len()];
                        run(&mut s, now, &format!("PEXPIRE {key} 5"));
                    }
                    Mutation::Overwrite(pick) if !stable.is_empty() => {
                        let key = &stable[pick % stable.len()];
                        prop_assert_eq!(run(&mut s, now, &format!("SET {key} w")), ok());
                    }
                    Mutation::Advance => now += 5,
                    Mutation::Timers(max) => {
                        s.run_timers(now, *max);
                        s.check_invariants();
                    }
                    _ => {}
                }
            }
        }
        for key in &stable {
            prop_assert!(seen.contains(key.as_bytes()), "stable key {} was never returned", key);
        }
    }
}

// ------------------------------------------------------- random sequences

const WORDS: &[&str] = &[
    "GET",
    "SET",
    "INCR",
    "DECR",
    "INCRBY",
    "DECRBY",
    "INCRBOUND",
    "DEL",
    "EXISTS",
    "TYPE",
    "EXPIRE",
    "PEXPIRE",
    "EXPIREAT",
    "PEXPIREAT",
    "TTL",
    "PTTL",
    "PERSIST",
    "SCAN",
    "DBSIZE",
    "FLUSHALL",
    "PING",
    "INFO",
    "NX",
    "XX",
    "GT",
    "LT",
    "GET",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "MIN",
    "MAX",
    "MATCH",
    "COUNT",
    "TYPE",
    "string",
    "*",
    "k*",
    "a",
    "b",
    "c",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "100",
    "007",
    "+1",
    "-0",
    "1.5",
    "",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1700000000",
    "1700000000000",
    "18446744073709551615",
];

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let word = prop_oneof![
        8 => proptest::sample::select(WORDS).prop_map(|w| w.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..6),
    ];
    // Mostly a known command name first, then anything.
    (
        proptest::sample::select(&WORDS[..21]),
        proptest::collection::vec(word, 0..7),
    )
        .prop_map(|(name, mut rest)| {
            rest.insert(0, name.as_bytes().to_vec());
            rest
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(64)))]

    /// Random (mostly malformed) command sequences never panic, keep the
    /// invariants after every step (checked inside `run_words`, which also
    /// checks that error replies change nothing) and never exceed keys_max.
    #[test]
    fn random_commands_never_panic(
        steps in proptest::collection::vec((command(), 0u64..2000, 0usize..3), 1..150),
    ) {
        let limits = StateLimits { keys_max: 4, scan_count_max: 3, ..StateLimits::default() };
        let mut s = State::new(limits);
        let mut now = T0;
        for (words, advance, timers) in &steps {
            now += advance;
            let words: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
            run_words(&mut s, now, &words);
            if *timers > 0 {
                s.run_timers(now, *timers);
                s.check_invariants();
            }
            prop_assert!(s.keyspace.len() <= limits.keys_max);
        }
    }
}

// ------------------------------------------------------------------- KEYS

/// The items of an array reply.
#[track_caller]
fn items(reply: Reply) -> Vec<Reply> {
    match reply {
        Reply::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn keys_matches_live_keys_by_glob() {
    let mut s = state();
    run(&mut s, T0, "MSET firstname Jack lastname Stuntman age 35");
    run(&mut s, T0, "SET gone v PX 5");
    let found = |s: &mut State, pattern: &str| -> BTreeSet<Bytes> {
        match run(s, T0 + 5, &format!("KEYS {pattern}")) {
            Reply::Array(items) => items
                .into_iter()
                .map(|item| Bytes::copy_from_slice(item.bulk_bytes().expect("a key")))
                .collect(),
            other => panic!("KEYS replied {other:?}"),
        }
    };
    let names = |list: &[&str]| -> BTreeSet<Bytes> {
        list.iter()
            .map(|name| Bytes::copy_from_slice(name.as_bytes()))
            .collect()
    };
    assert_eq!(found(&mut s, "*name*"), names(&["firstname", "lastname"]));
    assert_eq!(found(&mut s, "a??"), names(&["age"]));
    assert_eq!(found(&mut s, "*"), names(&["firstname", "lastname", "age"]));
    assert_eq!(found(&mut s, "nomatch*"), names(&[]));
    assert_error(
        &run(&mut s, T0, "KEYS"),
        "ERR wrong number of arguments for 'keys' command",
    );
}

#[test]
fn keys_past_its_limit_is_an_error_with_no_keys() {
    let limits = StateLimits {
        keys_reply_max: 3,
        ..StateLimits::default()
    };
    let mut s = state_with(limits);
    run(&mut s, T0, "MSET a 1 b 2 c 3 other 4");
    assert_eq!(items(run(&mut s, T0, "KEYS ?")).len(), 3);
    let reply = run(&mut s, T0, "KEYS *");
    match &reply {
        Reply::Error(error) => {
            assert_eq!(error.code, ErrorCode::Limit);
            assert!(
                error.message.contains("keys_reply_max"),
                "{}",
                error.message
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

// -------------------------------------------------------- RENAME, RENAMENX

#[test]
fn rename_moves_the_value_and_its_ttl() {
    let mut s = state();
    run(&mut s, T0, "SET a v EX 100");
    run(&mut s, T0, "SET b old");
    assert_eq!(run(&mut s, T0, "RENAME a b"), ok());
    assert_eq!(run(&mut s, T0, "EXISTS a"), int(0));
    assert_eq!(run(&mut s, T0, "GET b"), bulk("v"));
    assert_eq!(run(&mut s, T0, "TTL b"), int(100));
    // The deadline goes with the value: the key expires under its new name.
    assert_eq!(s.next_timer_ms(), Some(T0 + 100_000));
    s.run_timers(T0 + 100_000, 10);
    assert_eq!(run(&mut s, T0 + 100_000, "DBSIZE"), int(0));
    // Without a TTL the destination's TTL is gone too.
    run(&mut s, T0, "SET c 1");
    run(&mut s, T0, "SET d 2 EX 10");
    assert_eq!(run(&mut s, T0, "RENAME c d"), ok());
    assert_eq!(run(&mut s, T0, "TTL d"), int(-1));
    assert_eq!(run(&mut s, T0, "GET d"), bulk("1"));
}

#[test]
fn rename_errors_and_renaming_onto_itself() {
    let mut s = state();
    assert_error(&run(&mut s, T0, "RENAME nosuch x"), "ERR no such key");
    assert_error(&run(&mut s, T0, "RENAMENX nosuch x"), "ERR no such key");
    run(&mut s, T0, "SET gone v PX 5");
    assert_error(&run(&mut s, T0 + 5, "RENAME gone x"), "ERR no such key");
    run(&mut s, T0, "SET k v EX 10");
    assert_eq!(run(&mut s, T0, "RENAME k k"), ok());
    assert_eq!(run(&mut s, T0, "RENAMENX k k"), int(0));
    assert_eq!(run(&mut s, T0, "GET k"), bulk("v"));
    assert_eq!(run(&mut s, T0, "TTL k"), int(10));
    assert_error(
        &run(&mut s, T0, "RENAME k"),
        "ERR wrong number of arguments for 'rename' command",
    );
}

#[test]
fn renamenx_renames_only_onto_a_missing_key() {
    let mut s = state();
    run(&mut s, T0, "SET a 1");
    run(&mut s, T0, "SET b 2");
    assert_eq!(run(&mut s, T0, "RENAMENX a b"), int(0));
    assert_eq!(
        run(&mut s, T0, "MGET a b"),
        Reply::Array(vec![bulk("1"), bulk("2")])
    );
    assert_eq!(run(&mut s, T0, "RENAMENX a c"), int(1));
    assert_eq!(
        run(&mut s, T0, "MGET a c"),
        Reply::Array(vec![nil(), bulk("1")])
    );
    // An expired destination counts as missing.
    run(&mut s, T0, "SET e v PX 5");
    assert_eq!(run(&mut s, T0 + 5, "RENAMENX c e"), int(1));
}

#[test]
fn rename_carries_sorted_sets_and_their_members() {
    let mut s = state();
    run(&mut s, T0, "ZADD z 1 a 2 b");
    assert_eq!(run(&mut s, T0, "RENAME z y"), ok());
    assert_eq!(run(&mut s, T0, "ZRANK y b"), int(1));
    assert_eq!(run(&mut s, T0, "ZADD y 3 c"), int(1));
    assert_eq!(run(&mut s, T0, "ZCARD y"), int(3));
    assert_eq!(run(&mut s, T0, "EXISTS z"), int(0));
}

#[test]
fn rename_keeps_queue_and_hold_timers_working() {
    let mut s = state();
    run(&mut s, T0, "QUEUE.CONFIG q CAPACITY 1 TTL 1000");
    run(&mut s, T0, "QUEUE.JOIN q m1");
    run(&mut s, T0, "QUEUE.JOIN q m2");
    run(&mut s, T0, "SEAT.CREATE ev 10");
    run(&mut s, T0, "SEAT.HOLD ev h 500 1 2");
    assert_eq!(run(&mut s, T0, "RENAME q q2"), ok());
    assert_eq!(run(&mut s, T0, "RENAME ev ev2"), ok());
    // The hold lapses and the admission expires under the new names.
    let mut now = T0;
    while let Some(due) = s.next_timer_ms().filter(|due| *due <= T0 + 1_500) {
        now = due;
        s.run_timers(now, 100);
        s.check_invariants();
    }
    assert!(now >= T0 + 1_000, "the timers stopped at {now}");
    // Before any read (reads catch up on their own): the timer admitted m2.
    let Some(Value::Queue(queue)) = s.keyspace.peek(b"q2").map(|entry| &entry.value) else {
        panic!("q2 is not a queue");
    };
    assert_eq!((queue.waiting(), queue.active()), (0, 1));
    assert_eq!(
        run(&mut s, now, "SEAT.STATUS ev2 1 2"),
        Reply::Array(vec![int(0), int(0)])
    );
    let pos = run(&mut s, now, "QUEUE.POS q2 m2");
    assert_eq!(items(pos).first(), Some(&bulk("active")));
}

// ------------------------------------------------------------------- COPY

#[test]
fn copy_copies_the_value_and_its_ttl() {
    let mut s = state();
    run(&mut s, T0, "SET a v PX 5000");
    assert_eq!(run(&mut s, T0, "COPY a b"), int(1));
    assert_eq!(
        run(&mut s, T0, "MGET a b"),
        Reply::Array(vec![bulk("v"), bulk("v")])
    );
    assert_eq!(run(&mut s, T0, "PTTL b"), int(5000));
    // The copy is its own value.
    run(&mut s, T0, "APPEND b x");
    assert_eq!(
        run(&mut s, T0, "MGET a b"),
        Reply::Array(vec![bulk("v"), bulk("vx")])
    );
    assert_eq!(run(&mut s, T0, "COPY a b"), int(0));
    assert_eq!(run(&mut s, T0, "COPY a b REPLACE"), int(1));
    assert_eq!(run(&mut s, T0, "GET b"), bulk("v"));
    assert_eq!(run(&mut s, T0, "COPY a c DB 0 REPLACE"), int(1));
    assert_eq!(run(&mut s, T0, "COPY nosuch d"), int(0));
    assert_eq!(run(&mut s, T0, "EXISTS d"), int(0));
    run(&mut s, T0, "ZADD z 1 m 2 n");
    assert_eq!(run(&mut s, T0, "COPY z z2"), int(1));
    run(&mut s, T0, "ZREM z m");
    assert_eq!(run(&mut s, T0, "ZCARD z2"), int(2));
}

#[test]
fn copy_errors() {
    let mut s = state();
    run(&mut s, T0, "SET a v");
    assert_error(
        &run(&mut s, T0, "COPY a a"),
        "ERR source and destination objects are the same",
    );
    assert_error(
        &run(&mut s, T0, "COPY a b DB 1"),
        "ERR DB index is out of range",
    );
    assert_error(
        &run(&mut s, T0, "COPY a b DB -1"),
        "ERR DB index is out of range",
    );
    assert_error(
        &run(&mut s, T0, "COPY a b DB x"),
        "ERR value is not an integer or out of range",
    );
    assert_error(&run(&mut s, T0, "COPY a b DB"), "ERR syntax error");
    assert_error(&run(&mut s, T0, "COPY a b FOO"), "ERR syntax error");
    assert_error(
        &run(&mut s, T0, "COPY a"),
        "ERR wrong number of arguments for 'copy' command",
    );
    let limits = StateLimits {
        keys_max: 1,
        ..StateLimits::default()
    };
    let mut full = state_with(limits);
    run(&mut full, T0, "SET a v");
    let reply = run(&mut full, T0, "COPY a b");
    assert!(
        matches!(&reply, Reply::Error(error) if error.code == ErrorCode::OutOfMemory),
        "{reply:?}"
    );
}

// ------------------------------------------- TOUCH, RANDOMKEY, EXPIRETIME

#[test]
fn touch_counts_existing_keys() {
    let mut s = state();
    run(&mut s, T0, "MSET a 1 b 2");
    assert_eq!(run(&mut s, T0, "TOUCH a a b nosuch"), int(3));
    assert_error(
        &run(&mut s, T0, "TOUCH"),
        "ERR wrong number of arguments for 'touch' command",
    );
}

#[test]
fn randomkey_draws_live_keys_deterministically_and_changes_nothing() {
    let mut s = state();
    assert_eq!(run(&mut s, T0, "RANDOMKEY"), nil());
    let names: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    for name in &names {
        run(&mut s, T0, &format!("SET {name} v"));
    }
    run(&mut s, T0, "SET gone v PX 5");
    let mut twin = state();
    run(&mut twin, T0, "RANDOMKEY");
    for name in &names {
        run(&mut twin, T0, &format!("SET {name} v"));
    }
    run(&mut twin, T0, "SET gone v PX 5");
    let mut seen = BTreeSet::new();
    for step in 0..200 {
        s.keyspace.set_recording(true);
        let reply = run(&mut s, T0 + 5 + step, "RANDOMKEY");
        assert!(
            s.keyspace.effects_mut().is_empty(),
            "RANDOMKEY logged an effect"
        );
        s.keyspace.set_recording(false);
        assert_eq!(
            run(&mut twin, T0 + 5 + step, "RANDOMKEY"),
            reply,
            "same state, same draw"
        );
        let key = reply.bulk_bytes().map(<[u8]>::to_vec).expect("a key");
        assert_ne!(key, b"gone".to_vec(), "an expired key was drawn");
        seen.insert(key);
    }
    assert!(seen.len() > 10, "the draws cover only {} keys", seen.len());
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(21));
}

#[test]
fn expiretime_and_pexpiretime() {
    let mut s = state();
    run(&mut s, T0, "SET plain v");
    assert_eq!(run(&mut s, T0, "EXPIRETIME nosuch"), int(-2));
    assert_eq!(run(&mut s, T0, "PEXPIRETIME nosuch"), int(-2));
    assert_eq!(run(&mut s, T0, "EXPIRETIME plain"), int(-1));
    assert_eq!(run(&mut s, T0, "PEXPIRETIME plain"), int(-1));
    run(&mut s, T0, &format!("SET t v PXAT {}", T0 + 10_999));
    assert_eq!(run(&mut s, T0, "PEXPIRETIME t"), int((T0 + 10_999) as i64));
    // Seconds are rounded to nearest, as Redis does.
    assert_eq!(run(&mut s, T0, "EXPIRETIME t"), int(T0_S as i64 + 11));
    run(&mut s, T0, &format!("SET u v PXAT {}", T0 + 10_499));
    assert_eq!(run(&mut s, T0, "EXPIRETIME u"), int(T0_S as i64 + 10));
}

// ------------------------------------------------------- FLUSHDB, OBJECT

#[test]
fn flushdb_is_flushall() {
    let mut s = state();
    run(&mut s, T0, "MSET a 1 b 2");
    assert_eq!(run(&mut s, T0, "FLUSHDB"), ok());
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    run(&mut s, T0, "SET a 1");
    assert_eq!(run(&mut s, T0, "FLUSHDB ASYNC"), ok());
    assert_eq!(run(&mut s, T0, "FLUSHDB sync"), ok());
    assert_eq!(run(&mut s, T0, "DBSIZE"), int(0));
    assert_error(&run(&mut s, T0, "FLUSHDB foo"), "ERR syntax error");
}

#[test]
fn object_reports_encodings_and_fixed_answers() {
    let mut s = state();
    let long = "x".repeat(45);
    run(&mut s, T0, "SET i 12345");
    run(&mut s, T0, "SET e short");
    run(&mut s, T0, &format!("SET r {long}"));
    run(&mut s, T0, "ZADD z 1 m");
    run(&mut s, T0, "QUEUE.CONFIG q CAPACITY 1");
    for (key, encoding) in [
        ("i", "int"),
        ("e", "embstr"),
        ("r", "raw"),
        ("z", "skiplist"),
        ("q", "queue"),
    ] {
        assert_eq!(
            run(&mut s, T0, &format!("OBJECT ENCODING {key}")),
            bulk(encoding),
            "{key}"
        );
    }
    // APPEND keeps a string a string, as Redis's `raw`.
    run(&mut s, T0, "APPEND i 6");
    assert_eq!(run(&mut s, T0, "OBJECT ENCODING i"), bulk("embstr"));
    assert_eq!(run(&mut s, T0, "OBJECT ENCODING nosuch"), nil());
    assert_eq!(run(&mut s, T0, "OBJECT IDLETIME e"), int(0));
    assert_eq!(run(&mut s, T0, "OBJECT REFCOUNT e"), int(1));
    assert_eq!(run(&mut s, T0, "OBJECT IDLETIME nosuch"), nil());
    assert_eq!(run(&mut s, T0, "OBJECT freq nosuch"), nil());
    let freq = run(&mut s, T0, "OBJECT FREQ e");
    assert!(
        matches!(&freq, Reply::Error(error) if error.message.starts_with("ERR An LFU maxmemory policy is not selected")),
        "{freq:?}"
    );
    let help = run(&mut s, T0, "OBJECT HELP");
    assert_eq!(items(help).len(), 15);
    assert_error(
        &run(&mut s, T0, "OBJECT FOO e"),
        "ERR unknown subcommand 'FOO'. Try OBJECT HELP.",
    );
    assert_error(
        &run(&mut s, T0, "OBJECT ENCODING"),
        "ERR wrong number of arguments for 'object|encoding' command",
    );
    assert_error(
        &run(&mut s, T0, "OBJECT ENCODING a b"),
        "ERR wrong number of arguments for 'object|encoding' command",
    );
    assert_error(
        &run(&mut s, T0, "OBJECT HELP x"),
        "ERR wrong number of arguments for 'object|help' command",
    );
    assert_error(
        &run(&mut s, T0, "OBJECT"),
        "ERR wrong number of arguments for 'object' command",
    );
}
