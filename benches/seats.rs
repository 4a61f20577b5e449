//! Seat map figures: bytes per seat for a 10⁶-seat event with 10⁵ holders,
//! and SEAT.HOLD throughput through `State::apply`.
//!
//! Memory is measured with `usher::alloc::CountingAllocator` installed as
//! this program's global allocator: live heap bytes after building the
//! event minus live heap bytes before (requests are built and dropped one
//! at a time, so only what the state keeps is counted). The resident-set
//! growth over the same span is printed beside it; it also counts allocator
//! overhead and freed pages not yet returned to the system.
//!
//! Run with `cargo bench --bench seats` (all scenarios) or
//! `cargo bench --bench seats -- uuid` (scenarios whose name contains a word;
//! `throughput` for the speed figures).

use std::hint::black_box;
use std::time::Instant;

use usher::alloc::{allocated_bytes, resident_bytes, CountingAllocator};
use usher::client::args;
use usher::protocol::{Reply, Request};
use usher::state::{State, StateLimits};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SEATS: u32 = 1_000_000;
const HOLDERS: u32 = 100_000;
const NOW: u64 = 1_700_000_000_000;

fn request(words: &[String]) -> Request {
    match usher::protocol::parse(&args(words)) {
        Ok(request) => request,
        Err(error) => panic!("{words:?} does not parse: {error}"),
    }
}

fn apply(state: &mut State, words: &[String]) -> Reply {
    let reply = state.apply(&request(words), NOW);
    assert!(!reply.is_error(), "{words:?}: {reply:?}");
    reply
}

/// Builds the event with `HOLDERS` holders of `per_holder` seats each,
/// confirming every `confirm_every`-th holder's seats; prints bytes/seat.
fn memory(label: &str, per_holder: u32, id: fn(u32) -> String, confirm_every: u32) {
    let mut state = State::new(StateLimits::default());
    let heap_before = allocated_bytes();
    let rss_before = resident_bytes();
    let limit = per_holder.to_string();
    apply(
        &mut state,
        &["SEAT.CREATE", "ev", &SEATS.to_string(), "LIMIT", &limit].map(String::from),
    );
    let stride = SEATS / HOLDERS;
    for holder in 0..HOLDERS {
        let mut words = vec![
            "SEAT.HOLD".to_string(),
            "ev".into(),
            id(holder),
            "600000".into(),
        ];
        words.extend((0..per_holder).map(|k| (holder * stride + k).to_string()));
        apply(&mut state, &words);
        if confirm_every != 0 && holder % confirm_every == 0 {
            apply(
                &mut state,
                &["SEAT.CONFIRM".to_string(), "ev".into(), id(holder)],
            );
        }
    }
    let heap = allocated_bytes() - heap_before;
    let rss = resident_bytes().saturating_sub(rss_before);
    state.check_invariants();
    println!(
        "memory  {label:<46} heap {:>6.2} B/seat ({:>5.1} MB)   rss growth {:>6.2} B/seat",
        heap as f64 / f64::from(SEATS),
        heap as f64 / 1e6,
        rss as f64 / f64::from(SEATS),
    );
    drop(black_box(state));
}

/// `(name, seats per holder, holder id, confirm every n-th holder or 0)`.
type Scenario = (&'static str, u32, fn(u32) -> String, u32);

fn short_id(holder: u32) -> String {
    format!("user:{holder}")
}

fn uuid_id(holder: u32) -> String {
    format!("{holder:08x}-9c1e-4f6a-8b2d-5e7f00c0ffee")
}

/// Applies prepared requests and prints the rate.
fn rate(label: &str, state: &mut State, requests: &[Request], expect: &'static str) {
    let started = Instant::now();
    for request in requests {
        let reply = state.apply(request, NOW);
        debug_assert!(
            matches!(&reply, Reply::Tuple(tuple) if tuple.head().map(|word| word.text()) == Some(expect))
        );
        black_box(reply);
    }
    let elapsed = started.elapsed();
    println!(
        "speed   {label:<46} {:>10.0} ops/s  ({} ops in {:.1} ms)",
        requests.len() as f64 / elapsed.as_secs_f64(),
        requests.len(),
        elapsed.as_secs_f64() * 1e3
    );
}

fn throughput() {
    let mut state = State::new(StateLimits::default());
    apply(
        &mut state,
        &["SEAT.CREATE", "ev", &SEATS.to_string()].map(String::from),
    );
    let holds: Vec<Request> = (0..HOLDERS * 3)
        .map(|n| {
            let first = (n * 3 % SEATS).to_string();
            request(&[
                "SEAT.HOLD".into(),
                "ev".into(),
                short_id(n),
                "600000".into(),
                first,
            ])
        })
        .collect();
    rate("SEAT.HOLD, new holder, 1 seat", &mut state, &holds, "held");
    let again: Vec<Request> = (0..HOLDERS * 3)
        .map(|n| {
            let next = (n * 3 % SEATS + 1).to_string();
            request(&[
                "SEAT.HOLD".into(),
                "ev".into(),
                short_id(n),
                "600000".into(),
                next,
            ])
        })
        .collect();
    rate(
        "SEAT.HOLD, holder adds a 2nd seat",
        &mut state,
        &again,
        "held",
    );
    let conflicts: Vec<Request> = (0..HOLDERS * 3)
        .map(|n| {
            let seat = (n * 3 % SEATS).to_string();
            request(&[
                "SEAT.HOLD".into(),
                "ev".into(),
                format!("late:{n}"),
                "600000".into(),
                seat,
            ])
        })
        .collect();
    rate(
        "SEAT.HOLD, seat taken (refused)",
        &mut state,
        &conflicts,
        "taken",
    );
    let started = Instant::now();
    let released = state.run_timers(NOW + 600_000, usize::MAX);
    let elapsed = started.elapsed();
    println!(
        "timer   {:<46} {:>10.0} holders/s ({} items in {:.1} ms)",
        "expiry releasing 2-seat holds",
        released as f64 / elapsed.as_secs_f64(),
        released,
        elapsed.as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // should stay quick.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("run with `cargo bench --bench seats` for figures");
        return;
    }
    // Optional words after `--` pick scenarios by name (`cargo bench --bench
    // seats -- uuid`); the resident-set figure is only clean for the first
    // scenario of a run, since later ones reuse memory freed before them.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    println!("event of {SEATS} seats, {HOLDERS} holders (counting allocator; rss from /proc)");
    let scenarios: [Scenario; 4] = [
        ("3 seats/holder held, ids 'user:N'", 3, short_id, 0),
        ("3 seats/holder, 1 in 2 holders bought", 3, short_id, 2),
        ("3 seats/holder held, 36-byte uuid ids", 3, uuid_id, 0),
        ("10 seats/holder held (every seat)", 10, short_id, 0),
    ];
    for (label, per_holder, id, confirm_every) in scenarios {
        if wanted(label) {
            memory(label, per_holder, id, confirm_every);
        }
    }
    if wanted("throughput") {
        throughput();
    }
}
