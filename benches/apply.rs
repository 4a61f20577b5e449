//! `State::apply` alone: no network, no codec, no clock. Requests are parsed
//! once up front and applied at a fixed `now_ms`, one group per command.
//!
//! Run: `cargo bench --bench apply`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use usher::client::args;
use usher::protocol::{parse, Request};
use usher::state::{State, StateLimits};

const NOW_MS: u64 = 1_700_000_000_000;
/// Keys already in the state, so lookups hit a realistically sized map.
const KEYS_PRESENT: usize = 100_000;

fn request(words: &[&str]) -> Request {
    let mut arguments = args(words.iter().copied());
    match parse(&mut arguments) {
        Ok(request) => request,
        Err(error) => panic!("bench request {words:?} does not parse: {error}"),
    }
}

/// A state holding `KEYS_PRESENT` string keys `key:N` with 64-byte values.
fn populated_state() -> State {
    let mut state = State::new(StateLimits::default());
    let value = "x".repeat(64);
    for i in 0..KEYS_PRESENT {
        let key = format!("key:{i}");
        let reply = state.apply(&request(&["SET", &key, &value]), NOW_MS);
        assert!(!reply.is_error(), "{reply:?}");
    }
    state
}

fn bench_command(c: &mut Criterion, name: &str, setup: &[&[&str]], words: &[&str]) {
    let mut state = populated_state();
    for words in setup {
        let reply = state.apply(&request(words), NOW_MS);
        assert!(!reply.is_error(), "{reply:?}");
    }
    let request = request(words);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("apply", |b| {
        b.iter(|| state.apply(black_box(&request), black_box(NOW_MS)))
    });
    group.finish();
    state.check_invariants();
}

fn apply(c: &mut Criterion) {
    bench_command(c, "get_hit", &[], &["GET", "key:4242"]);
    bench_command(c, "get_miss", &[], &["GET", "no-such-key"]);
    // A short value (a status, an id), which the state keeps inline.
    bench_command(
        c,
        "get_hit_short",
        &[&["SET", "short", "sold:4242"]],
        &["GET", "short"],
    );
    // Overwrites one existing key, the steady state of a hot key.
    bench_command(
        c,
        "set",
        &[],
        &[
            "SET",
            "key:4242",
            "0123456789012345678901234567890123456789012345678901234567890123",
        ],
    );
    bench_command(c, "set_px", &[], &["SET", "key:4242", "v", "PX", "60000"]);
    bench_command(c, "incr", &[&["SET", "counter", "0"]], &["INCR", "counter"]);
    bench_command(
        c,
        "incrbound_granted",
        &[&["SET", "coupons", "0"]],
        &["INCRBOUND", "coupons", "1", "MAX", "9223372036854775807"],
    );
    // The sold-out path: every caller after the cap.
    bench_command(
        c,
        "incrbound_refused",
        &[&["SET", "coupons", "100"]],
        &["INCRBOUND", "coupons", "1", "MAX", "100"],
    );
}

criterion_group!(benches, apply);
criterion_main!(benches);
