//! `State::apply` alone: no network, no codec, no clock. Requests are parsed
//! up front (outside the timed region) and applied at a fixed `now_ms`, one
//! group per command: strings and counters (GET, SET, INCR, INCRBOUND),
//! sorted sets (ZADD, ZRANK), waiting rooms (QUEUE.JOIN, QUEUE.POS), seats
//! (SEAT.HOLD) and stock (STOCK.RESERVE).
//!
//! Commands that would change nothing when repeated (adding a member,
//! holding a seat) get a fresh argument per iteration: a stream of distinct
//! requests built in blocks, with the state rebuilt (untimed) every so often
//! so it stays near its starting size.
//!
//! `pipeline16_get_1m_keys` is the one group about memory rather than code:
//! 16 GETs of random keys among 10⁶ (far more than the caches hold), applied
//! one after another, or after `State::prefetch` warmed all 16 as the
//! reactor does for a pipeline.
//!
//! Run: `cargo bench --bench apply` (`-- queue` for one family).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use usher::client::args;
use usher::protocol::{parse, Request};
use usher::state::{State, StateLimits};

const NOW_MS: u64 = 1_700_000_000_000;
/// Keys already in the state, so lookups hit a realistically sized map.
const KEYS_PRESENT: usize = 100_000;
/// Members already in the sorted set or queue under test.
const MEMBERS_PRESENT: u64 = 100_000;
/// Seats of the event under test.
const SEATS: u64 = 1_000_000;
/// Requests built at a time for a stream.
const BLOCK: u64 = 4096;

fn request(words: &[&str]) -> Request {
    let arguments = args(words.iter().copied());
    match parse(&arguments) {
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

/// Times `apply` over a stream of distinct requests: iteration `i` applies
/// `make(i)`. `fresh` builds the starting state, again after every
/// `reset_every` requests (outside the timed region).
fn bench_stream(
    c: &mut Criterion,
    name: &str,
    fresh: impl Fn() -> State,
    make: impl Fn(u64) -> Request,
    reset_every: u64,
) {
    let mut state = fresh();
    let mut applied: u64 = 0;
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("apply", |b| {
        b.iter_custom(|iterations| {
            let mut timed = Duration::ZERO;
            let mut done = 0;
            while done < iterations {
                if applied > 0 && applied.is_multiple_of(reset_every) {
                    state = fresh();
                }
                let until_reset = reset_every - applied % reset_every;
                let count = BLOCK.min(iterations - done).min(until_reset);
                let requests: Vec<Request> = (applied..applied + count).map(&make).collect();
                let began = Instant::now();
                for request in &requests {
                    black_box(state.apply(black_box(request), NOW_MS));
                }
                timed += began.elapsed();
                done += count;
                applied += count;
            }
            timed
        })
    });
    group.finish();
    state.check_invariants();
}

/// `populated_state` plus the requests in `setup`.
fn state_with(setup: &[Vec<String>]) -> State {
    let mut state = populated_state();
    for words in setup {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let reply = state.apply(&request(&words), NOW_MS);
        assert!(!reply.is_error(), "{words:?}: {reply:?}");
    }
    state
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}

/// A parsed request from a `format!`ed line.
fn line(text: String) -> Request {
    let words: Vec<&str> = text.split_whitespace().collect();
    request(&words)
}

/// A state with sorted set `z` of `MEMBERS_PRESENT` members `m<i>`, score i.
fn zset_state() -> State {
    let mut setup = Vec::new();
    for start in (0..MEMBERS_PRESENT).step_by(1000) {
        let mut command = words("ZADD z");
        for i in start..(start + 1000).min(MEMBERS_PRESENT) {
            command.push(i.to_string());
            command.push(format!("m{i}"));
        }
        setup.push(command);
    }
    state_with(&setup)
}

/// A state with queue `q` (CAPACITY 0: admission by QUEUE.ADMIT only) of
/// `MEMBERS_PRESENT` waiting members `user-<i>`.
fn queue_state() -> State {
    let mut setup = vec![words("QUEUE.CONFIG q TTL 600000")];
    setup.extend((0..MEMBERS_PRESENT).map(|i| words(&format!("QUEUE.JOIN q user-{i}"))));
    state_with(&setup)
}

fn strings(c: &mut Criterion) {
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

fn zsets(c: &mut Criterion) {
    // New members, scores ascending (arrival order): the waiting-room model.
    bench_stream(
        c,
        "zadd_new",
        zset_state,
        |i| line(format!("ZADD z {} n{i}", MEMBERS_PRESENT + i)),
        1_000_000,
    );
    // An existing member moves to a new score.
    bench_stream(
        c,
        "zadd_update",
        zset_state,
        |i| {
            let member = (i * 7919) % MEMBERS_PRESENT;
            line(format!("ZADD z {} m{member}", MEMBERS_PRESENT + i))
        },
        u64::MAX,
    );
    // Members spread over the whole set (a fixed prime stride).
    bench_stream(
        c,
        "zrank",
        zset_state,
        |i| line(format!("ZRANK z m{}", (i * 7919) % MEMBERS_PRESENT)),
        u64::MAX,
    );
}

fn queues(c: &mut Criterion) {
    bench_stream(
        c,
        "queue_join",
        queue_state,
        |i| line(format!("QUEUE.JOIN q new-{i}")),
        1_000_000,
    );
    bench_stream(
        c,
        "queue_pos",
        queue_state,
        |i| line(format!("QUEUE.POS q user-{}", (i * 7919) % MEMBERS_PRESENT)),
        u64::MAX,
    );
}

fn seats(c: &mut Criterion) {
    let event = || state_with(&[words(&format!("SEAT.CREATE ev {SEATS} LIMIT 3"))]);
    // Two free seats per new holder; the event is rebuilt before it fills.
    bench_stream(
        c,
        "seat_hold_2_free",
        event,
        |i| {
            let first = (2 * i) % SEATS;
            line(format!("SEAT.HOLD ev h{i} 600000 {first} {}", first + 1))
        },
        SEATS / 4,
    );
    // Every seat already held by someone else: the refused path.
    let full = || {
        let mut setup = vec![words(&format!("SEAT.CREATE ev {SEATS} LIMIT 3"))];
        setup.extend((0..SEATS / 2).map(|h| {
            words(&format!(
                "SEAT.HOLD ev owner{h} 600000 {} {}",
                2 * h,
                2 * h + 1
            ))
        }));
        state_with(&setup)
    };
    bench_stream(
        c,
        "seat_hold_2_taken",
        full,
        |i| {
            let first = (2 * i * 7919) % SEATS;
            line(format!("SEAT.HOLD ev late{i} 600000 {first} {}", first + 1))
        },
        u64::MAX,
    );
}

fn stock(c: &mut Criterion) {
    let sku = || state_with(&[words("STOCK.CONFIG sku 1000000000 LIMIT 4")]);
    bench_stream(
        c,
        "stock_reserve",
        sku,
        |i| line(format!("STOCK.RESERVE sku h{i} 2 600000")),
        1_000_000,
    );
    // Sold out: every reservation refused.
    let sold_out = || {
        let mut state = state_with(&[words("STOCK.CONFIG sku 1 LIMIT 4")]);
        let reply = state.apply(&request(&["STOCK.TAKE", "sku", "first", "1"]), NOW_MS);
        assert!(!reply.is_error(), "{reply:?}");
        state
    };
    bench_stream(
        c,
        "stock_reserve_soldout",
        sold_out,
        |i| line(format!("STOCK.RESERVE sku h{i} 1 600000")),
        u64::MAX,
    );
}

/// 16 GETs of random keys, with and without the reactor's two prefetch
/// steps first, among 10⁵ keys (the comparison script's key range; the
/// keyspace's table fits the L2 cache of some machines) and 10⁶ keys (it
/// fits none).
fn pipelines(c: &mut Criterion) {
    pipeline(c, "pipeline16_get_100k_keys", 100_000);
    pipeline(c, "pipeline16_get_1m_keys", 1_000_000);
}

fn pipeline(c: &mut Criterion, group_name: &str, keys: u64) {
    let mut state = State::new(StateLimits::default());
    // Static key names: building a request then costs no allocation and no
    // reference count, so both variants time the same lookups.
    let names: Vec<&'static str> = (0..keys)
        .map(|i| &*Box::leak(format!("key:{i}").into_boxed_str()))
        .collect();
    for name in &names {
        let reply = state.apply(&request(&["SET", name, "v"]), NOW_MS);
        assert!(!reply.is_error(), "{reply:?}");
    }
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(16));
    for prefetch in [false, true] {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let name = if prefetch {
            "prefetch_then_apply"
        } else {
            "apply"
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let batch: [Request; 16] = std::array::from_fn(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let name = names[(seed % keys) as usize];
                    Request::Get(bytes::Bytes::from_static(name.as_bytes()))
                });
                if prefetch {
                    for request in &batch {
                        state.prefetch(request, false);
                    }
                    for request in &batch {
                        state.prefetch(request, true);
                    }
                }
                for request in &batch {
                    black_box(state.apply(request, NOW_MS));
                }
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = strings, zsets, queues, seats, stock, pipelines
}
criterion_main!(benches);
