//! Seats, stock and exactly-once retries over real TCP: 50 connections
//! racing for the same 100 seats, SEAT commands through a third-party RESP
//! client, the binary protocol's idempotency key, and the engine's timer
//! releasing a hold with no request.

use std::collections::BTreeMap;
use std::time::Duration;

use usher::client::{args, Client};
use usher::clock::{ManualClock, SystemClock};
use usher::config::Config;
use usher::protocol::{ErrorCode, Reply};
use usher::state::Value;

fn config() -> Config {
    Config {
        port: 0,
        persist: false,
        ..Config::default()
    }
}

fn ints(reply: &Reply) -> Vec<i64> {
    match reply {
        Reply::Array(items) => items
            .iter()
            .map(|item| match item {
                Reply::Int(value) => *value,
                other => panic!("not an integer: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// Each connection is one holder: it looks at the map, holds one or two
/// free seats, confirms them, and stops at its limit or when everything is
/// sold. Returns the seats it was sold.
async fn buyer(addr: std::net::SocketAddr, number: u64) -> Vec<i64> {
    let mut client = Client::connect(addr).await.expect("connects");
    let holder = format!("buyer{number}");
    let mut random = number.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bought = Vec::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 10_000, "{holder} makes no progress");
        let status = client
            .call(&args(["SEAT.STATUS", "race", "0", "100"]))
            .await
            .expect("status");
        let status = ints(&status);
        let free: Vec<usize> = (0..status.len()).filter(|&s| status[s] == 0).collect();
        if free.is_empty() {
            if status.iter().all(|&s| s == 2) {
                return bought;
            }
            // Others hold the rest and will confirm them.
            tokio::task::yield_now().await;
            continue;
        }
        let mut command = vec![
            "SEAT.HOLD".to_string(),
            "race".into(),
            holder.clone(),
            "60000".into(),
        ];
        for _ in 0..1 + (random % 2) {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            command.push(free[(random % free.len() as u64) as usize].to_string());
        }
        let reply = client.call(&args(&command)).await.expect("hold");
        let Reply::Array(items) = &reply else {
            panic!("unexpected hold reply {reply:?}");
        };
        match &items[0] {
            tag if *tag == Reply::simple("held") => {
                let sold = client
                    .call(&args(["SEAT.CONFIRM", "race", &holder]))
                    .await
                    .expect("confirm");
                let Reply::Array(items) = &sold else {
                    panic!("unexpected confirm reply {sold:?}");
                };
                assert_eq!(items[0], Reply::simple("sold"));
                bought.extend(ints(&items[1]));
            }
            tag if *tag == Reply::simple("taken") => {}
            tag if *tag == Reply::simple("limit") => {
                if bought.len() == 4 {
                    return bought;
                }
            }
            other => panic!("unexpected hold reply tag {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_connections_race_for_one_hundred_seats() {
    let server = usher::server::start(config(), ManualClock::new(1_000_000))
        .await
        .expect("server starts");
    let addr = server.addr;
    let mut admin = Client::connect(addr).await.expect("connects");
    let created = admin
        .call(&args(["SEAT.CREATE", "race", "100", "LIMIT", "4"]))
        .await
        .expect("create");
    assert_eq!(created, Reply::OK);
    let buyers: Vec<_> = (0..50).map(|n| tokio::spawn(buyer(addr, n))).collect();
    let mut owners: BTreeMap<i64, usize> = BTreeMap::new();
    for (number, task) in buyers.into_iter().enumerate() {
        let seats = task.await.expect("buyer finished");
        assert!(seats.len() <= 4, "buyer {number} exceeded its limit");
        for seat in seats {
            if let Some(other) = owners.insert(seat, number) {
                panic!("seat {seat} sold to buyers {other} and {number}");
            }
        }
    }
    assert_eq!(owners.len(), 100, "every seat sold exactly once");
    assert_eq!(
        owners.keys().copied().collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
    let info = admin
        .call(&args(["SEAT.INFO", "race"]))
        .await
        .expect("info");
    let Reply::Map(fields) = info else {
        panic!("SEAT.INFO is a map");
    };
    let sold = fields
        .iter()
        .find(|(name, _)| *name == Reply::bulk_static(b"sold"))
        .map(|(_, value)| value.clone());
    assert_eq!(sold, Some(Reply::Int(100)));
    // Each buyer's own view agrees with what it was told.
    for (seat, number) in owners.iter().take(10) {
        let holder = format!("buyer{number}");
        let reply = admin
            .call(&args(["SEAT.HOLDER", "race", &holder]))
            .await
            .expect("holder");
        let Reply::Array(items) = reply else {
            panic!("SEAT.HOLDER is an array");
        };
        assert!(ints(&items[1]).contains(seat));
    }
    drop(admin);
    let state = server.shutdown().await;
    state.check_invariants();
}

#[tokio::test]
async fn seat_commands_through_a_redis_client() {
    let server = usher::server::start(config(), SystemClock)
        .await
        .expect("server starts");
    let client = redis::Client::open(format!("redis://{}/", server.addr)).expect("url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connects");
    let created: String = redis::cmd("SEAT.CREATE")
        .arg("show")
        .arg(10)
        .query_async(&mut connection)
        .await
        .expect("create");
    assert_eq!(created, "OK");
    let (tag, ttl, seats): (String, i64, Vec<u32>) = redis::cmd("SEAT.HOLD")
        .arg(&["show", "alice", "60000", "7", "3"])
        .query_async(&mut connection)
        .await
        .expect("hold");
    assert_eq!((tag.as_str(), ttl, seats), ("held", 60000, vec![3, 7]));
    let (tag, seats): (String, Vec<u32>) = redis::cmd("SEAT.HOLD")
        .arg(&["show", "bob", "60000", "3", "4"])
        .query_async(&mut connection)
        .await
        .expect("hold");
    assert_eq!((tag.as_str(), seats), ("taken", vec![3]));
    // REQ over RESP: the retry gets the first reply.
    for _ in 0..2 {
        let (tag, seats): (String, Vec<u32>) = redis::cmd("REQ")
            .arg(&["pay-1", "SEAT.CONFIRM", "show", "alice"])
            .query_async(&mut connection)
            .await
            .expect("confirm");
        assert_eq!((tag.as_str(), seats), ("sold", vec![3, 7]));
    }
    let status: Vec<i64> = redis::cmd("SEAT.STATUS")
        .arg(&["show", "2", "6"])
        .query_async(&mut connection)
        .await
        .expect("status");
    assert_eq!(status, vec![0, 2, 0, 0, 0, 2]);
    let error = redis::cmd("SEAT.CONFIRM")
        .arg(&["show", "alice"])
        .query_async::<redis::Value>(&mut connection)
        .await
        .expect_err("nothing held");
    assert_eq!(error.code(), Some("NOTHELD"));
    let kind: String = redis::cmd("TYPE")
        .arg("show")
        .query_async(&mut connection)
        .await
        .expect("type");
    assert_eq!(kind, "seats");
    drop(connection);
    server.shutdown().await.check_invariants();
}

#[tokio::test]
async fn the_binary_idempotency_key_runs_a_command_once() {
    let server = usher::server::start(config(), SystemClock)
        .await
        .expect("server starts");
    let mut client = Client::connect(server.addr).await.expect("connects");
    client
        .call(&args(["STOCK.CONFIG", "coupon", "100", "LIMIT", "1"]))
        .await
        .expect("config");
    let take = args(["STOCK.TAKE", "coupon", "alice", "1"]);
    let first = client
        .call_idempotent(b"order-17", &take)
        .await
        .expect("take");
    let expected = Reply::Array(vec![Reply::simple("sold"), Reply::Int(1), Reply::Int(99)]);
    assert_eq!(first, expected);
    // The client timed out and retries: same reply, nothing taken twice.
    let retry = client
        .call_idempotent(b"order-17", &take)
        .await
        .expect("retry");
    assert_eq!(retry, expected);
    // The frame key and the REQ prefix share one table.
    let prefixed = client
        .call(&args([
            "REQ",
            "order-17",
            "STOCK.TAKE",
            "coupon",
            "alice",
            "1",
        ]))
        .await
        .expect("req");
    assert_eq!(prefixed, expected);
    let other = client
        .call_idempotent(b"order-17", &args(["STOCK.TAKE", "coupon", "bob", "1"]))
        .await
        .expect("mismatch");
    assert!(matches!(other, Reply::Error(e) if e.code == ErrorCode::IdempotencyMismatch));
    let ping = client
        .call_idempotent(b"order-18", &args(["PING"]))
        .await
        .expect("ping");
    assert!(matches!(ping, Reply::Error(e) if e.code == ErrorCode::Syntax));
    let info = client
        .call(&args(["STOCK.INFO", "coupon"]))
        .await
        .expect("info");
    let Reply::Map(fields) = info else {
        panic!("STOCK.INFO is a map");
    };
    assert_eq!(fields[3].1, Reply::Int(1), "sold once");
    drop(client);
    server.shutdown().await.check_invariants();
}

/// The engine releases an expired hold with no request. This test waits in
/// real time because what it checks is the engine's wake-up, not TTL logic
/// (which the `State` tests cover with explicit times).
#[tokio::test]
async fn the_engine_timer_releases_a_hold_with_no_request() {
    let server = usher::server::start(config(), SystemClock)
        .await
        .expect("server starts");
    let mut client = Client::connect(server.addr).await.expect("connects");
    client
        .call(&args(["SEAT.CREATE", "ev", "10"]))
        .await
        .expect("create");
    client
        .call(&args(["STOCK.CONFIG", "sku", "10"]))
        .await
        .expect("config");
    let held = client
        .call(&args(["SEAT.HOLD", "ev", "alice", "50", "1", "2"]))
        .await
        .expect("hold");
    assert!(!held.is_error());
    let reserved = client
        .call(&args(["STOCK.RESERVE", "sku", "alice", "3", "50"]))
        .await
        .expect("reserve");
    assert!(!reserved.is_error());
    drop(client);
    // Deadline + 100 ms, with room for a loaded machine.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let state = server.shutdown().await;
    state.check_invariants();
    for (key, entry) in state.keyspace.iter() {
        match &entry.value {
            Value::Seats(map) => assert_eq!(map.held(), 0, "hold on {key:?} not released"),
            Value::Stock(stock) => assert_eq!(stock.held(), 0, "reservation not released"),
            other => panic!("unexpected value {other:?}"),
        }
    }
    assert!(state.holds.is_empty());
}
