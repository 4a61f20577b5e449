//! MULTI, EXEC, DISCARD, WATCH and UNWATCH over real sockets: queued
//! replies, the EXEC array, EXECABORT after a queuing error, errors found
//! when the transaction runs, watched keys changed by another client, a
//! timer or a flush, the queue limits, and the `redis` crate's atomic
//! pipeline (the shape redis-py's default pipeline sends).

use std::sync::atomic::Ordering;

use crate::support::resp::Resp;
use crate::support::server::{eventually, start, start_with_clock, stop, test_config, RespConn};
use usher::clock::ManualClock;
use usher::config::Config;

const T0: u64 = 1_700_000_000_000;

fn simple(text: &str) -> Resp {
    Resp::Simple(text.into())
}

fn error(text: &str) -> Resp {
    Resp::Error(text.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_commands_run_in_order_on_exec() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(conn.call(&["MULTI"]).await, simple("OK"));
    assert_eq!(conn.call(&["INCR", "n"]).await, simple("QUEUED"));
    assert_eq!(conn.call(&["INCRBY", "n", "5"]).await, simple("QUEUED"));
    assert_eq!(conn.call(&["PING"]).await, simple("QUEUED"));
    assert_eq!(conn.call(&["GET", "n"]).await, simple("QUEUED"));
    // Nothing ran yet: another client sees no key.
    let mut other = RespConn::connect(running.addr).await;
    assert_eq!(other.call(&["EXISTS", "n"]).await, Resp::Int(0));
    assert_eq!(
        conn.call(&["EXEC"]).await,
        Resp::Array(vec![
            Resp::Int(1),
            Resp::Int(6),
            simple("PONG"),
            Resp::bulk("6"),
        ])
    );
    assert_eq!(other.call(&["GET", "n"]).await, Resp::bulk("6"));
    // An empty transaction replies an empty array.
    assert_eq!(conn.call(&["MULTI"]).await, simple("OK"));
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Array(vec![]));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queuing_error_aborts_the_whole_transaction() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(conn.call(&["MULTI"]).await, simple("OK"));
    assert_eq!(conn.call(&["SET", "k", "v"]).await, simple("QUEUED"));
    let Resp::Error(unknown) = conn.call(&["NOSUCHCOMMAND", "x"]).await else {
        panic!("an unknown command is refused");
    };
    assert!(
        unknown.starts_with("ERR unknown command 'NOSUCHCOMMAND'"),
        "{unknown}"
    );
    assert_eq!(
        conn.call(&["GET"]).await,
        error("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        conn.call(&["EXEC"]).await,
        error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(conn.call(&["EXISTS", "k"]).await, Resp::Int(0));
    // The connection is out of the transaction afterwards.
    assert_eq!(conn.call(&["EXEC"]).await, error("ERR EXEC without MULTI"));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_found_when_running_does_not_stop_the_others() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    conn.call(&["SET", "s", "text"]).await;
    assert_eq!(conn.call(&["MULTI"]).await, simple("OK"));
    assert_eq!(conn.call(&["INCR", "s"]).await, simple("QUEUED"));
    assert_eq!(
        conn.call(&["SET", "a", "1", "BADOPTION"]).await,
        simple("QUEUED")
    );
    assert_eq!(conn.call(&["SET", "b", "2"]).await, simple("QUEUED"));
    assert_eq!(
        conn.call(&["EXEC"]).await,
        Resp::Array(vec![
            error("ERR value is not an integer or out of range"),
            error("ERR syntax error"),
            simple("OK"),
        ])
    );
    assert_eq!(conn.call(&["GET", "b"]).await, Resp::bulk("2"));
    assert_eq!(conn.call(&["EXISTS", "a"]).await, Resp::Int(0));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misplaced_transaction_commands_get_redis_errors() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(conn.call(&["EXEC"]).await, error("ERR EXEC without MULTI"));
    assert_eq!(
        conn.call(&["DISCARD"]).await,
        error("ERR DISCARD without MULTI")
    );
    assert_eq!(conn.call(&["MULTI"]).await, simple("OK"));
    assert_eq!(
        conn.call(&["MULTI"]).await,
        error("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        conn.call(&["WATCH", "k"]).await,
        error("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(conn.call(&["SET", "k", "v"]).await, simple("QUEUED"));
    // Neither error aborted the transaction.
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Array(vec![simple("OK")]));
    // DISCARD drops what was queued.
    assert_eq!(conn.call(&["MULTI"]).await, simple("OK"));
    assert_eq!(conn.call(&["DEL", "k"]).await, simple("QUEUED"));
    assert_eq!(conn.call(&["DISCARD"]).await, simple("OK"));
    assert_eq!(conn.call(&["GET", "k"]).await, Resp::bulk("v"));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_fails_when_another_client_changes_a_watched_key() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    let mut other = RespConn::connect(running.addr).await;
    conn.call(&["SET", "stock", "10"]).await;
    assert_eq!(
        conn.call(&["WATCH", "stock", "unrelated"]).await,
        simple("OK")
    );
    assert_eq!(other.call(&["DECR", "stock"]).await, Resp::Int(9));
    conn.call(&["MULTI"]).await;
    conn.call(&["DECRBY", "stock", "5"]).await;
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Nil);
    assert_eq!(conn.call(&["GET", "stock"]).await, Resp::bulk("9"));
    // EXEC unwatched everything: the next transaction runs.
    other.call(&["DECR", "stock"]).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["DECRBY", "stock", "5"]).await;
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Array(vec![Resp::Int(3)]));
    // A change to another key, or none at all, lets it run.
    conn.call(&["WATCH", "stock"]).await;
    other.call(&["SET", "unrelated", "x"]).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["INCR", "stock"]).await;
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Array(vec![Resp::Int(4)]));
    // A write that changes nothing is not a change (DEL of a missing key).
    conn.call(&["WATCH", "missing"]).await;
    other.call(&["DEL", "missing"]).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["INCR", "stock"]).await;
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Array(vec![Resp::Int(5)]));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_after_a_watched_change_is_a_null_array_in_resp3_too() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    let mut other = RespConn::connect(running.addr).await;
    conn.call(&["HELLO", "3"]).await;
    conn.call(&["WATCH", "k"]).await;
    other.call(&["SET", "k", "1"]).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["SET", "k", "2"]).await;
    conn.send_command(&["EXEC"]).await;
    conn.expect(b"_\r\n").await;
    // The connection's own writes after WATCH count as changes too.
    conn.call(&["WATCH", "k"]).await;
    conn.call(&["SET", "k", "3"]).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["SET", "k", "4"]).await;
    conn.send_command(&["EXEC"]).await;
    conn.expect(b"_\r\n").await;
    assert_eq!(conn.call(&["GET", "k"]).await, Resp::bulk("3"));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwatch_and_discard_forget_the_watched_keys() {
    let running = start(test_config()).await;
    let watched = running.stats.clone();
    let mut conn = RespConn::connect(running.addr).await;
    let mut other = RespConn::connect(running.addr).await;
    conn.call(&["WATCH", "a", "b"]).await;
    assert_eq!(watched.watched_keys.load(Ordering::Relaxed), 2);
    assert_eq!(conn.call(&["UNWATCH"]).await, simple("OK"));
    other.call(&["SET", "a", "1"]).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["INCR", "a"]).await;
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Array(vec![Resp::Int(2)]));

    conn.call(&["WATCH", "a"]).await;
    conn.call(&["MULTI"]).await;
    assert_eq!(conn.call(&["DISCARD"]).await, simple("OK"));
    assert_eq!(watched.watched_keys.load(Ordering::Relaxed), 0);
    other.call(&["SET", "a", "5"]).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["INCR", "a"]).await;
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Array(vec![Resp::Int(6)]));

    // A closed connection leaves nothing watched.
    let mut gone = RespConn::connect(running.addr).await;
    gone.call(&["WATCH", "x", "y", "z"]).await;
    assert_eq!(watched.watched_keys.load(Ordering::Relaxed), 3);
    drop(gone);
    let stats = running.stats.clone();
    eventually("the closed connection's watches are gone", move || {
        let stats = stats.clone();
        async move { stats.watched_keys.load(Ordering::Relaxed) == 0 }
    })
    .await;
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_flush_of_a_watched_key_fail_the_exec() {
    let clock = ManualClock::new(T0);
    let running = start_with_clock(test_config(), clock.clone()).await;
    let mut conn = RespConn::connect(running.addr).await;
    let mut other = RespConn::connect(running.addr).await;
    conn.call(&["SET", "k", "v", "PX", "1000"]).await;
    conn.call(&["WATCH", "k"]).await;
    // The deadline passes; no timer has to have run.
    clock.advance(1_000);
    conn.call(&["MULTI"]).await;
    conn.call(&["SET", "k", "new"]).await;
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Nil);
    // A key already gone when watched does not count as changed by time.
    conn.call(&["WATCH", "k"]).await;
    clock.advance(10_000);
    conn.call(&["MULTI"]).await;
    conn.call(&["SET", "k", "new"]).await;
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Array(vec![simple("OK")]));
    // FLUSHALL changes every key.
    conn.call(&["WATCH", "k"]).await;
    other.call(&["FLUSHALL"]).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["SET", "k", "after"]).await;
    assert_eq!(conn.call(&["EXEC"]).await, Resp::Nil);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sale_and_blocking_commands_run_inside_a_transaction() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    conn.call(&["SEAT.CREATE", "ev", "10"]).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["SEAT.HOLD", "ev", "alice", "60000", "1", "2"])
        .await;
    conn.call(&["INCRBOUND", "sold", "2", "MAX", "5"]).await;
    // A blocking command never waits inside a transaction.
    conn.call(&["BZPOPMIN", "empty", "0"]).await;
    conn.call(&["SEAT.CONFIRM", "ev", "alice"]).await;
    let Resp::Array(replies) = conn.call(&["EXEC"]).await else {
        panic!("EXEC replies an array");
    };
    assert_eq!(replies.len(), 4);
    assert_eq!(
        replies[1],
        Resp::Array(vec![Resp::Int(2), Resp::Int(1)]),
        "INCRBOUND"
    );
    assert_eq!(replies[2], Resp::Nil, "BZPOPMIN times out at once");
    let Resp::Array(confirm) = &replies[3] else {
        panic!("SEAT.CONFIRM replies an array: {:?}", replies[3]);
    };
    assert_eq!(confirm[0], simple("sold"));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_limits_refuse_and_abort() {
    let config = Config {
        multi_commands_max: 2,
        multi_bytes_max: 64,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    conn.call(&["MULTI"]).await;
    conn.call(&["INCR", "a"]).await;
    conn.call(&["INCR", "a"]).await;
    assert_eq!(
        conn.call(&["INCR", "a"]).await,
        error("ERR commands queued in a transaction (multi_commands_max) exceeds the configured limit of 2")
    );
    assert_eq!(
        conn.call(&["EXEC"]).await,
        error("EXECABORT Transaction discarded because of previous errors.")
    );
    conn.call(&["MULTI"]).await;
    let big = "x".repeat(80);
    let Resp::Error(text) = conn.call(&["SET", "a", &big]).await else {
        panic!("over multi_bytes_max is refused");
    };
    assert!(text.contains("multi_bytes_max"), "{text}");
    assert_eq!(
        conn.call(&["EXEC"]).await,
        error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(conn.call(&["EXISTS", "a"]).await, Resp::Int(0));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_crate_atomic_pipeline_runs_once() {
    let running = start(test_config()).await;
    let addr = running.addr;
    for protocol in [redis::ProtocolVersion::RESP2, redis::ProtocolVersion::RESP3] {
        let info = redis::ConnectionInfo {
            addr: redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port()),
            redis: redis::RedisConnectionInfo {
                protocol,
                ..Default::default()
            },
        };
        let client = redis::Client::open(info).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let key = format!("pipe:{protocol:?}");
        let (first, second, value): (i64, i64, String) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .incr(&key, 10)
            .get(&key)
            .query_async(&mut conn)
            .await
            .expect("the atomic pipeline");
        assert_eq!((first, second, value.as_str()), (1, 11, "11"));
        // It ran exactly once.
        let now: i64 = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("GET");
        assert_eq!(now, 11);
    }
    stop(running).await;
}
