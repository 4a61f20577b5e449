//! Waiting-room figures: bytes per waiting member at 10⁶ members with
//! 22-byte ids, and JOIN / POS / LEAVE / ADMIT / expiry throughput through
//! `State::apply` and `State::run_timers`. Optionally the same data's size
//! in a real Redis sorted set.
//!
//! Run: `cargo bench --bench queue`. Environment:
//! - `USHER_BENCH_MEMBERS` (default 1000000): members to join.
//! - `USHER_BENCH_REDIS_PORT`: a redis-server on 127.0.0.1 to measure the
//!   same members in a sorted set (`ZADD`, then `MEMORY USAGE`). Without it
//!   the bench starts `redis-server --port <free> --save ''` itself if that
//!   binary is on PATH, and skips the comparison otherwise.
//!
//! Memory is measured with `usher::alloc::CountingAllocator` installed as
//! the global allocator: live heap bytes after the joins minus before, so
//! it counts what the allocator was asked for (no allocator overhead).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use usher::alloc::{allocated_bytes, CountingAllocator};
use usher::protocol::{Reply, Request};
use usher::state::{State, StateLimits};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const T0: u64 = 1_700_000_000_000;
const BATCH: usize = 100_000;

/// A 22-byte member id.
fn member(index: usize) -> Bytes {
    let id = format!("user-{index:017}");
    assert_eq!(id.len(), 22);
    Bytes::from(id)
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Applies requests built in batches (the building is not timed, nor
/// counted as memory); returns the time spent in `apply` and the net live
/// heap bytes `apply` added.
fn apply_all(
    state: &mut State,
    count: usize,
    now_ms: u64,
    build: impl Fn(usize) -> Request,
    check: impl Fn(&Reply),
) -> (Duration, isize) {
    let mut elapsed = Duration::ZERO;
    let mut grown = 0isize;
    let mut start = 0;
    while start < count {
        let end = (start + BATCH).min(count);
        let batch: Vec<Request> = (start..end).map(&build).collect();
        let before = allocated_bytes() as isize;
        let began = Instant::now();
        for request in &batch {
            let reply = state.apply(request, now_ms);
            check(&reply);
            black_box(reply);
        }
        elapsed += began.elapsed();
        grown += allocated_bytes() as isize - before;
        start = end;
    }
    (elapsed, grown)
}

fn main() {
    let members: usize = std::env::var("USHER_BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let key = Bytes::from_static(b"q");
    let mut state = State::new(StateLimits::default());
    let config = |capacity: Option<u64>, ttl_ms: Option<u64>| Request::QueueConfig {
        key: key.clone(),
        capacity,
        rate: None,
        ttl_ms,
    };
    let reply = state.apply(&config(None, Some(600_000)), T0);
    assert_eq!(reply, Reply::OK);

    println!("queue bench: {members} members, 22-byte ids");
    let (elapsed, grown) = apply_all(
        &mut state,
        members,
        T0,
        |i| Request::QueueJoin {
            key: key.clone(),
            member: member(i),
        },
        |reply| assert!(!reply.is_error(), "{reply:?}"),
    );
    println!(
        "JOIN   {:>12.0} ops/s  ({members} joins, {:.3} s in State::apply)",
        per_second(members, elapsed),
        elapsed.as_secs_f64()
    );
    println!(
        "memory {:>12.1} bytes per waiting member  ({grown} live heap bytes added by the joins)",
        grown as f64 / members as f64
    );

    // POS of members spread over the whole line (a fixed stride visits
    // every region of the Fenwick tree).
    let probes = members;
    let stride = 7_919;
    let (elapsed, _) = apply_all(
        &mut state,
        probes,
        T0,
        |i| Request::QueuePos {
            key: key.clone(),
            member: member((i * stride) % members),
        },
        |reply| assert!(matches!(reply, Reply::Tuple(tuple) if tuple.len() == 3)),
    );
    println!(
        "POS    {:>12.0} ops/s  ({probes} lookups with position and eta)",
        per_second(probes, elapsed)
    );

    // Admit 10⁵ (manual door), then time their expiry on the timer with
    // 10⁶ - 10⁵ still waiting and a capacity refilling every slot.
    let admitted = (members / 10).max(1);
    let began = Instant::now();
    let reply = state.apply(
        &Request::QueueAdmit {
            key: key.clone(),
            count: admitted as u64,
        },
        T0 + 1,
    );
    let elapsed = began.elapsed();
    assert!(matches!(&reply, Reply::Array(items) if items.len() == admitted));
    drop(reply);
    println!(
        "ADMIT  {:>12.0} members/s  ({admitted} in one QUEUE.ADMIT)",
        per_second(admitted, elapsed)
    );
    let reply = state.apply(&config(Some(admitted as u64), None), T0 + 1);
    assert_eq!(reply, Reply::OK);
    let deadline = T0 + 1 + 600_000;
    assert_eq!(state.next_timer_ms(), Some(deadline));
    let began = Instant::now();
    let mut effects = 0;
    let mut calls = Vec::new();
    loop {
        let call = Instant::now();
        let done = state.run_timers(deadline, 64);
        calls.push(call.elapsed());
        effects += done;
        if done < 64 {
            break;
        }
    }
    let elapsed = began.elapsed();
    calls.sort_unstable();
    let quantile = |q: f64| calls[((calls.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        "expiry {:>12.0} effects/s  ({effects} expiries + refills on the timer; run_timers(64) calls: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs)",
        per_second(effects, elapsed),
        quantile(0.5),
        quantile(0.99),
        quantile(1.0)
    );
    assert_eq!(effects, admitted + admitted.min(members - admitted));

    // LEAVE from the middle of the line.
    let leaves = (members / 10).max(1);
    let (elapsed, _) = apply_all(
        &mut state,
        leaves,
        deadline,
        |i| Request::QueueLeave {
            key: key.clone(),
            member: member(members - 1 - i * 3 % members),
        },
        |reply| assert!(matches!(reply, Reply::Int(_))),
    );
    println!(
        "LEAVE  {:>12.0} ops/s  ({leaves} leaves)",
        per_second(leaves, elapsed)
    );
    state.check_invariants();

    redis_comparison(members);
}

/// ZADDs the same members (score = arrival number) into a real Redis and
/// reads back its memory use for the key.
fn redis_comparison(members: usize) {
    let mut spawned = None;
    let port = match std::env::var("USHER_BENCH_REDIS_PORT") {
        Ok(port) => port,
        Err(_) => {
            let Some(port) = free_port() else {
                println!("redis  skipped: no free port");
                return;
            };
            match std::process::Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
            {
                Ok(child) => {
                    spawned = Some(child);
                    std::thread::sleep(Duration::from_millis(300));
                    port.to_string()
                }
                Err(_) => {
                    println!(
                        "redis  skipped: set USHER_BENCH_REDIS_PORT or put redis-server on PATH"
                    );
                    return;
                }
            }
        }
    };
    let result = measure_redis(&port, members);
    if let Some(mut child) = spawned {
        let _ = child.kill();
        let _ = child.wait();
    }
    match result {
        Ok((usage, used_memory_growth)) => println!(
            "redis  {:>12.1} bytes per member in a sorted set (MEMORY USAGE {usage}); used_memory grew {:.1} bytes per member",
            usage as f64 / members as f64,
            used_memory_growth as f64 / members as f64
        ),
        Err(error) => println!("redis  skipped: {error}"),
    }
}

fn free_port() -> Option<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    listener.local_addr().ok().map(|addr| addr.port())
}

fn used_memory(connection: &mut redis::Connection) -> redis::RedisResult<i64> {
    let text: String = redis::cmd("INFO").arg("memory").query(connection)?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0))
}

fn measure_redis(port: &str, members: usize) -> redis::RedisResult<(i64, i64)> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut connection = client.get_connection()?;
    let key = "usher-bench-waiting-room";
    redis::cmd("DEL").arg(key).query::<i64>(&mut connection)?;
    let before = used_memory(&mut connection)?;
    let mut start = 0;
    while start < members {
        let end = (start + 10_000).min(members);
        let mut command = redis::cmd("ZADD");
        command.arg(key);
        for index in start..end {
            command.arg(index).arg(member(index).as_ref());
        }
        command.query::<i64>(&mut connection)?;
        start = end;
    }
    let after = used_memory(&mut connection)?;
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .arg("SAMPLES")
        .arg(0)
        .query(&mut connection)?;
    redis::cmd("DEL").arg(key).query::<i64>(&mut connection)?;
    Ok((usage, after - before))
}
