//! The engine's longest pauses while state grows: every `State::apply` of a
//! stream that only adds (new keys, queue members, sorted-set members,
//! seat holders) is timed on its own, and the longest ones are reported.
//! One engine thread serves every client, so one slow apply delays them
//! all: a table rebuilt at once in a single apply would stop the engine
//! for hundreds of milliseconds at a few million entries, which is why the
//! tables grow a few buckets per insert.
//!
//! Then, for the one large key each stream built, the time to serialize it
//! (`encode_value`, what a snapshot does to a key in one engine slice) and
//! to delete it: the engine's share with lazy free (bury the value, hand it
//! over), the freeing thread's, and `DEL` freeing it on the engine thread.
//!
//! Run: `cargo bench --bench growth` (2·10⁶ entries per stream);
//! `GROWTH_ENTRIES=4000000 cargo bench --bench growth -- queue` for more
//! entries or one stream (`strings`, `queue`, `zset`, `seats`).

use std::time::{Duration, Instant};

use usher::alloc::CountingAllocator;
use usher::client::args;
use usher::protocol::{parse, Request};
use usher::snapshot::{prefault_bytes, prefaulted};
use usher::state::value::{encode_value, encoded_len_hint};
use usher::state::{State, StateLimits};

const NOW_MS: u64 = 1_700_000_000_000;
/// Applies slower than this are counted.
const SLOW: Duration = Duration::from_millis(1);

fn request(words: &[&str]) -> Request {
    let arguments = args(words.iter().copied());
    match parse(&arguments) {
        Ok(request) => request,
        Err(error) => panic!("bench request {words:?} does not parse: {error}"),
    }
}

fn apply_ok(state: &mut State, words: &[&str]) {
    let reply = state.apply(&request(words), NOW_MS);
    assert!(!reply.is_error(), "{words:?}: {reply:?}");
}

struct Stream {
    name: &'static str,
    /// The large key the stream builds ("" for plain strings).
    key: &'static str,
    setup: fn(&mut State, usize),
    words: fn(usize) -> Vec<String>,
}

const STREAMS: [Stream; 4] = [
    Stream {
        name: "strings",
        key: "",
        setup: |_, _| {},
        words: |i| vec!["SET".into(), format!("key:{i:012}"), "xxx".into()],
    },
    Stream {
        name: "queue",
        key: "room",
        setup: |state, _| apply_ok(state, &["QUEUE.CONFIG", "room"]),
        words: |i| vec!["QUEUE.JOIN".into(), "room".into(), format!("user:{i:012}")],
    },
    Stream {
        name: "zset",
        key: "board",
        setup: |_, _| {},
        words: |i| {
            let score = i.to_string();
            vec![
                "ZADD".into(),
                "board".into(),
                score,
                format!("user:{i:012}"),
            ]
        },
    },
    Stream {
        name: "seats",
        key: "event",
        setup: |state, entries| {
            let seats = (2 * entries).to_string();
            apply_ok(state, &["SEAT.CREATE", "event", &seats, "LIMIT", "3"]);
        },
        words: |i| {
            let holder = format!("holder:{i:012}");
            let (first, second) = ((2 * i).to_string(), (2 * i + 1).to_string());
            vec![
                "SEAT.HOLD".into(),
                "event".into(),
                holder,
                "600000".into(),
                first,
                second,
            ]
        },
    },
];

// The server's allocator, so that large allocations are placed as the
// server places them.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn main() {
    // As the server does at start-up.
    usher::alloc::pin_mapping_threshold();
    let entries: usize = std::env::var("GROWTH_ENTRIES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2_000_000);
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let mut limits = StateLimits::default();
    limits.seats_per_event_max = limits.seats_per_event_max.max(2 * entries as u64);
    for stream in &STREAMS {
        if !filters.is_empty() && !filters.iter().any(|f| stream.name.contains(f.as_str())) {
            continue;
        }
        let mut state = State::new(limits);
        (stream.setup)(&mut state, entries);
        let mut slow: Vec<(Duration, usize)> = Vec::new();
        let mut total = Duration::ZERO;
        for i in 0..entries {
            let words = (stream.words)(i);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let request = request(&words);
            let started = Instant::now();
            let reply = state.apply(&request, NOW_MS);
            let took = started.elapsed();
            total += took;
            assert!(!reply.is_error(), "{words:?}: {reply:?}");
            if took > SLOW {
                slow.push((took, i));
            }
        }
        slow.sort_unstable_by(|a, b| b.cmp(a));
        let longest: Vec<String> = slow
            .iter()
            .take(5)
            .map(|(took, at)| format!("{:.1} ms at {at}", took.as_secs_f64() * 1e3))
            .collect();
        println!(
            "{:8} {entries} applies in {:.2} s ({:.0} ns each); {} over {} ms; longest: {}",
            stream.name,
            total.as_secs_f64(),
            total.as_nanos() as f64 / entries as f64,
            slow.len(),
            SLOW.as_millis(),
            if longest.is_empty() {
                "-".to_string()
            } else {
                longest.join(", ")
            },
        );
        if stream.key.is_empty() {
            continue;
        }
        let Some(value) = state
            .keyspace
            .peek(stream.key.as_bytes())
            .map(|entry| entry.value.clone())
        else {
            panic!("{} was not built", stream.key);
        };
        let mut out = Vec::new();
        let started = Instant::now();
        encode_value(&value, &mut out);
        let encoded = started.elapsed();
        // What a snapshot does with a large value: the writer prefaults a
        // buffer of the hinted size, the engine serializes into it.
        let started = Instant::now();
        let mut warm = prefaulted(prefault_bytes(encoded_len_hint(&value)));
        let prefaulting = started.elapsed();
        let capacity = warm.capacity();
        let started = Instant::now();
        encode_value(&value, &mut warm);
        let encoded_warm = started.elapsed();
        assert_eq!(warm, out, "the same encoding");
        drop(warm);
        // The same key twice: once deleted with lazy free (the server's
        // default: the engine only buries it, a thread frees it), once
        // freed by DEL itself.
        state.keyspace.insert(b"copy", value, None);
        state.keyspace.graveyard.set_lazy(true);
        let started = Instant::now();
        apply_ok(&mut state, &["DEL", stream.key]);
        let doomed = state.keyspace.graveyard.take();
        let buried = started.elapsed();
        assert_eq!(doomed.len(), 1, "the large value is buried");
        let freed = std::thread::spawn(move || {
            let started = Instant::now();
            drop(doomed);
            started.elapsed()
        })
        .join()
        .unwrap_or_default();
        state.keyspace.graveyard.set_lazy(false);
        let started = Instant::now();
        apply_ok(&mut state, &["DEL", "copy"]);
        let deleted = started.elapsed();
        println!(
            "{:8} key '{}': serialized ({} bytes) in {:.1} ms into fresh memory, {:.1} ms into \
             a prefaulted buffer ({} bytes, prefaulted in {:.1} ms)\n{:8} DEL on the engine: \
             {:.3} ms with lazy free (then {:.1} ms on the freeing thread), {:.1} ms without",
            "",
            stream.key,
            out.len(),
            encoded.as_secs_f64() * 1e3,
            encoded_warm.as_secs_f64() * 1e3,
            capacity,
            prefaulting.as_secs_f64() * 1e3,
            "",
            buried.as_secs_f64() * 1e3,
            freed.as_secs_f64() * 1e3,
            deleted.as_secs_f64() * 1e3,
        );
    }
}
