//! Blocking commands over real sockets: BZPOPMIN and BZPOPMAX park in the
//! engine's wait registry until a write wakes them or their timeout passes
//! (`src/wait.rs`, `src/reactor.rs`, `src/state/blocking.rs`). Timeouts run
//! on a manual clock; the tests wait on the `blocked_clients` gauge, never
//! for time to pass.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::resp::Resp;
use crate::support::server::{
    eventually, request_frame, start, start_with_clock, stop, test_config, BinaryConn, RespConn,
};
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use usher::clock::ManualClock;
use usher::config::Config;
use usher::protocol::{Reply, Request};
use usher::server::Running;

const T0: u64 = 1_700_000_000_000;

/// Waits until exactly `count` requests are parked.
async fn blocked(running: &Running, count: u64) {
    let stats = running.stats.clone();
    eventually(&format!("{count} clients are blocked"), move || {
        let stats = stats.clone();
        async move { stats.blocked_clients.load(Ordering::Relaxed) == count }
    })
    .await;
}

/// The RESP2 reply `[key, member, score]`.
fn popped(key: &str, member: &str, score: &str) -> Resp {
    Resp::Array(vec![Resp::bulk(key), Resp::bulk(member), Resp::bulk(score)])
}

/// Asserts that nothing arrives on `conn` for a short while (the server
/// has already finished the rounds that could have answered).
async fn nothing_more(conn: &mut RespConn) {
    let read = tokio::time::timeout(
        Duration::from_millis(50),
        conn.stream.read_buf(&mut conn.buf),
    );
    assert!(read.await.is_err(), "unexpected bytes: {:?}", conn.buf);
    assert!(conn.buf.is_empty(), "unexpected bytes: {:?}", conn.buf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bzpopmin_waits_until_a_zadd_from_another_connection() {
    let running = start(test_config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter.send_command(&["BZPOPMIN", "z", "0"]).await;
    blocked(&running, 1).await;
    assert_eq!(
        writer.call(&["ZADD", "z", "5", "m", "7", "n"]).await,
        Resp::Int(2)
    );
    waiter
        .expect(b"*3\r\n$1\r\nz\r\n$1\r\nm\r\n$1\r\n5\r\n")
        .await;
    blocked(&running, 0).await;
    assert_eq!(writer.call(&["ZCARD", "z"]).await, Resp::Int(1));
    // A key that is not empty answers at once, and the connection goes on.
    assert_eq!(
        waiter.call(&["BZPOPMIN", "z", "0"]).await,
        popped("z", "n", "7")
    );
    assert_eq!(waiter.call(&["EXISTS", "z"]).await, Resp::Int(0));
    stop(running).await;
}

/// A blocked client is served right after the write that wakes it, before
/// the writer's next request: a pop pipelined behind the ZADD finds the set
/// already taken, as in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_is_served_before_the_next_request_of_the_same_pipeline() {
    let running = start(test_config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter.send_command(&["BZPOPMIN", "z", "0"]).await;
    blocked(&running, 1).await;
    // Both in one write, so the server reads them in one round.
    let mut pipeline = bytes::BytesMut::new();
    for words in [&["ZADD", "z", "1", "m"][..], &["ZPOPMIN", "z"]] {
        let words: Vec<&[u8]> = words.iter().map(|word| word.as_bytes()).collect();
        usher::protocol::resp::encode_request(&words, &mut pipeline);
    }
    writer.send(&pipeline).await;
    assert_eq!(writer.read().await, Resp::Int(1));
    assert_eq!(writer.read().await, Resp::Array(vec![]));
    assert_eq!(waiter.read().await, popped("z", "m", "1"));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bzpopmax_takes_the_first_non_empty_key_left_to_right() {
    let running = start(test_config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    writer.call(&["ZADD", "a", "1", "p", "2", "q"]).await;
    writer.call(&["ZADD", "b", "9", "r"]).await;
    assert_eq!(
        waiter.call(&["BZPOPMAX", "a", "b", "0"]).await,
        popped("a", "q", "2")
    );
    assert_eq!(
        waiter.call(&["BZPOPMAX", "missing", "b", "a", "0"]).await,
        popped("b", "r", "9")
    );
    writer.call(&["DEL", "a"]).await;

    waiter.send_command(&["BZPOPMAX", "a", "b", "0"]).await;
    blocked(&running, 1).await;
    writer.call(&["ZADD", "b", "1", "x", "2", "y"]).await;
    assert_eq!(waiter.read().await, popped("b", "y", "2"));
    assert_eq!(
        writer.call(&["ZRANGE", "b", "0", "-1"]).await,
        Resp::Array(vec![Resp::bulk("x")])
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_and_bad_timeouts_are_refused() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    conn.call(&["SET", "s", "text"]).await;
    conn.call(&["ZADD", "z", "1", "m"]).await;
    let wrong = conn.call(&["BZPOPMIN", "missing", "s", "z", "0"]).await;
    assert!(
        matches!(&wrong, Resp::Error(e) if e.starts_with("WRONGTYPE")),
        "{wrong:?}"
    );
    // The first non-empty key wins before a later key's type is looked at.
    assert_eq!(
        conn.call(&["BZPOPMIN", "z", "s", "0"]).await,
        popped("z", "m", "1")
    );
    let negative = conn.call(&["BZPOPMIN", "z", "-1"]).await;
    assert_eq!(negative, Resp::Error("ERR timeout is negative".into()));
    let text = conn.call(&["BZPOPMAX", "z", "soon"]).await;
    assert_eq!(
        text,
        Resp::Error("ERR timeout is not a float or out of range".into())
    );
    let arity = conn.call(&["BZPOPMAX", "z"]).await;
    assert!(
        matches!(&arity, Resp::Error(e) if e.contains("wrong number")),
        "{arity:?}"
    );
    // A wrong type met on wake-up is answered too, as Redis does.
    conn.send_command(&["BZPOPMIN", "w", "0"]).await;
    blocked(&running, 1).await;
    let mut writer = RespConn::connect(running.addr).await;
    writer.call(&["SET", "w", "text"]).await;
    let woken = conn.read().await;
    assert!(
        matches!(&woken, Resp::Error(e) if e.starts_with("WRONGTYPE")),
        "{woken:?}"
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_answers_the_null_array_on_the_engine_clock() {
    let clock = ManualClock::new(T0);
    let running = start_with_clock(test_config(), clock.clone()).await;
    let mut resp2 = RespConn::connect(running.addr).await;
    let mut resp3 = RespConn::connect(running.addr).await;
    let mut other = RespConn::connect(running.addr).await;
    resp3.call(&["HELLO", "3"]).await;
    resp2.send_command(&["BZPOPMIN", "z", "1.5"]).await;
    resp3.send_command(&["BZPOPMAX", "z", "2"]).await;
    blocked(&running, 2).await;

    clock.advance(1_499);
    // Any round looks at the deadlines.
    assert_eq!(other.call(&["PING"]).await, Resp::Simple("PONG".into()));
    assert_eq!(running.stats.blocked_clients.load(Ordering::Relaxed), 2);
    nothing_more(&mut resp2).await;

    clock.advance(1);
    other.call(&["PING"]).await;
    resp2.expect(b"*-1\r\n").await;
    assert_eq!(running.stats.blocked_clients.load(Ordering::Relaxed), 1);
    clock.advance(500);
    other.call(&["PING"]).await;
    resp3.expect(b"_\r\n").await;
    blocked(&running, 0).await;
    // A member added after the timeout stays.
    other.call(&["ZADD", "z", "1", "m"]).await;
    assert_eq!(other.call(&["ZCARD", "z"]).await, Resp::Int(1));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_wakes_up_for_the_nearest_deadline() {
    // Timers alone would let the loop sleep 100 ticks (100 s here): the
    // deadline must shorten the wait.
    let config = Config {
        timer_tick_ms: 1_000,
        ..test_config()
    };
    let clock = ManualClock::new(T0);
    let running = start_with_clock(config, clock.clone()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    waiter.send_command(&["BZPOPMIN", "z", "0.2"]).await;
    blocked(&running, 1).await;
    clock.advance(200);
    waiter.expect(b"*-1\r\n").await;
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_on_one_key_are_served_first_come_first_served() {
    let running = start(test_config()).await;
    let mut waiters = Vec::new();
    for count in 1..=3 {
        let mut conn = RespConn::connect(running.addr).await;
        conn.send_command(&["BZPOPMIN", "z", "0"]).await;
        blocked(&running, count).await;
        waiters.push(conn);
    }
    let mut writer = RespConn::connect(running.addr).await;
    writer.call(&["ZADD", "z", "3", "c", "1", "a"]).await;
    assert_eq!(waiters[0].read().await, popped("z", "a", "1"));
    assert_eq!(waiters[1].read().await, popped("z", "c", "3"));
    blocked(&running, 1).await;
    nothing_more(&mut waiters[2]).await;
    writer.call(&["ZADD", "z", "2", "b"]).await;
    assert_eq!(waiters[2].read().await, popped("z", "b", "2"));
    assert_eq!(writer.call(&["EXISTS", "z"]).await, Resp::Int(0));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_whose_connection_closed_is_skipped() {
    let running = start(test_config()).await;
    let mut gone = RespConn::connect(running.addr).await;
    gone.send_command(&["BZPOPMIN", "z", "0"]).await;
    blocked(&running, 1).await;
    let mut next = RespConn::connect(running.addr).await;
    next.send_command(&["BZPOPMIN", "z", "0"]).await;
    blocked(&running, 2).await;
    drop(gone);
    blocked(&running, 1).await;
    let mut writer = RespConn::connect(running.addr).await;
    writer.call(&["ZADD", "z", "1", "m"]).await;
    assert_eq!(next.read().await, popped("z", "m", "1"));

    // With no one else waiting, the member stays for whoever comes next.
    let mut gone = RespConn::connect(running.addr).await;
    gone.send_command(&["BZPOPMAX", "z", "0"]).await;
    blocked(&running, 1).await;
    drop(gone);
    blocked(&running, 0).await;
    writer.call(&["ZADD", "z", "2", "n"]).await;
    assert_eq!(
        writer.call(&["BZPOPMAX", "z", "0"]).await,
        popped("z", "n", "2")
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_pipelined_after_a_blocked_one_wait_behind_it() {
    let running = start(test_config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter
        .send(b"PING\r\n*3\r\n$8\r\nBZPOPMIN\r\n$1\r\nz\r\n$1\r\n0\r\n*2\r\n$5\r\nZCARD\r\n$1\r\nz\r\n*2\r\n$4\r\nECHO\r\n$4\r\nlast\r\n")
        .await;
    blocked(&running, 1).await;
    waiter.expect(b"+PONG\r\n").await;
    writer.call(&["ZADD", "x", "1", "m"]).await;
    nothing_more(&mut waiter).await;
    writer.call(&["ZADD", "z", "1", "m", "2", "n"]).await;
    // The pop first, then ZCARD sees what it left.
    assert_eq!(waiter.read().await, popped("z", "m", "1"));
    assert_eq!(waiter.read().await, Resp::Int(1));
    assert_eq!(waiter.read().await, Resp::bulk("last"));
    stop(running).await;
}

/// A server that logs to `dir` and takes no snapshot of its own.
fn persistent(dir: &std::path::Path) -> Config {
    Config {
        persist: true,
        dir: dir.to_path_buf(),
        snapshot_interval_ms: 0,
        snapshot_log_bytes_max: 0,
        ..test_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woken_pop_is_logged_and_gone_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || persistent(dir.path());
    let running = start(config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter.send_command(&["BZPOPMIN", "z", "0"]).await;
    blocked(&running, 1).await;
    writer.call(&["ZADD", "z", "1", "m", "2", "n"]).await;
    assert_eq!(waiter.read().await, popped("z", "m", "1"));
    stop(running).await;

    let running = start(config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    let members = conn.call(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]).await;
    assert_eq!(members, Resp::Array(vec![Resp::bulk("n"), Resp::bulk("2")]));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_scores_are_doubles() {
    let running = start(test_config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter.call(&["HELLO", "3"]).await;
    writer.call(&["ZADD", "z", "1.5", "m"]).await;
    waiter.send_command(&["BZPOPMIN", "z", "0"]).await;
    waiter.expect(b"*3\r\n$1\r\nz\r\n$1\r\nm\r\n,1.5\r\n").await;
    waiter.send_command(&["BZPOPMAX", "z", "0"]).await;
    blocked(&running, 1).await;
    writer.call(&["ZADD", "z", "-2", "n"]).await;
    waiter.expect(b"*3\r\n$1\r\nz\r\n$1\r\nn\r\n,-2\r\n").await;
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_clients_are_bounded() {
    let config = Config {
        blocked_clients_max: 2,
        ..test_config()
    };
    let running = start(config).await;
    let mut first = RespConn::connect(running.addr).await;
    let mut second = RespConn::connect(running.addr).await;
    let mut third = RespConn::connect(running.addr).await;
    first.send_command(&["BZPOPMIN", "z", "0"]).await;
    blocked(&running, 1).await;
    second.send_command(&["BZPOPMIN", "z", "0"]).await;
    blocked(&running, 2).await;
    let refused = third.call(&["BZPOPMIN", "z", "0"]).await;
    assert_eq!(
        refused,
        Resp::Error(
            "ERR blocked_clients_max (2) reached: too many clients are blocked, retry later".into()
        )
    );
    // The refused client is not blocked; once there is room it may wait.
    assert_eq!(third.call(&["PING"]).await, Resp::Simple("PONG".into()));
    third.call(&["ZADD", "z", "1", "m"]).await;
    assert_eq!(first.read().await, popped("z", "m", "1"));
    third.send_command(&["BZPOPMIN", "z", "0"]).await;
    blocked(&running, 2).await;
    let info = first.call(&["INFO", "clients"]).await;
    let Resp::Bulk(info) = info else {
        panic!("INFO replied {info:?}");
    };
    assert!(String::from_utf8_lossy(&info).contains("blocked_clients:2"));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_protocol_parks_the_same_way() {
    let running = start(test_config()).await;
    let mut waiter = BinaryConn::connect(running.addr).await;
    waiter
        .send(&request_frame(7, &["BZPOPMAX", "z", "0"]))
        .await;
    waiter.send(&request_frame(8, &["ZCARD", "z"])).await;
    blocked(&running, 1).await;
    let mut writer = RespConn::connect(running.addr).await;
    writer.call(&["ZADD", "z", "4", "m"]).await;
    let expected = Reply::Array(vec![
        Reply::Bulk(Bytes::from_static(b"z")),
        Reply::Bulk(Bytes::from_static(b"m")),
        Reply::Double(4.0),
    ]);
    assert_eq!(waiter.read().await, (7, expected));
    assert_eq!(waiter.read().await, (8, Reply::Int(0)));
    waiter
        .send(&request_frame(9, &["BZPOPMAX", "z", "0.001"]))
        .await;
    assert_eq!(waiter.read().await, (9, Reply::Nil));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_submissions_never_wait_and_shutdown_answers_the_blocked() {
    let running = start(test_config()).await;
    let pop = Request::BzPop {
        keys: vec![Bytes::from_static(b"z")],
        max: false,
        timeout_ms: 0,
    };
    let replies = running.submit(vec![pop]).expect("submitted");
    let replies = tokio::task::spawn_blocking(move || replies.recv().expect("answered"));
    assert_eq!(replies.await.expect("joined"), vec![Reply::NilArray]);

    let mut waiter = RespConn::connect(running.addr).await;
    // One write, so the server has read the PING too (bytes it has not read
    // when it stops are not answered).
    waiter
        .send(b"*3\r\n$8\r\nBZPOPMIN\r\n$1\r\nz\r\n$1\r\n0\r\nPING\r\n")
        .await;
    blocked(&running, 1).await;
    stop(running).await;
    let refused = waiter.read().await;
    assert_eq!(
        refused,
        Resp::Error("SHUTDOWN server is shutting down".into())
    );
    // What it sent after the blocked request was received, so it is answered.
    assert_eq!(waiter.read().await, Resp::Simple("PONG".into()));
    waiter.expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_req_a_blocking_command_never_waits_and_its_nil_is_remembered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || persistent(dir.path());
    let running = start(config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    conn.send_command(&["REQ", "r1", "BZPOPMIN", "z", "0"])
        .await;
    conn.expect(b"*-1\r\n").await;
    stop(running).await;

    // After a restart the remembered reply is still the null array, even
    // though the key could now be popped.
    let running = start(config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    conn.call(&["ZADD", "z", "1", "m"]).await;
    conn.send_command(&["REQ", "r1", "BZPOPMIN", "z", "0"])
        .await;
    conn.expect(b"*-1\r\n").await;
    assert_eq!(conn.call(&["ZCARD", "z"]).await, Resp::Int(1));
    stop(running).await;
}

/// The RESP2 reply of BZMPOP: `[key, [[member, score], ...]]`.
fn mpopped(key: &str, pairs: &[(&str, &str)]) -> Resp {
    Resp::Array(vec![
        Resp::bulk(key),
        Resp::Array(
            pairs
                .iter()
                .map(|(member, score)| Resp::Array(vec![Resp::bulk(member), Resp::bulk(score)]))
                .collect(),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bzmpop_waits_until_a_zadd_from_another_connection() {
    let running = start(test_config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter
        .send_command(&["BZMPOP", "0", "2", "y", "z", "MAX", "COUNT", "2"])
        .await;
    blocked(&running, 1).await;
    writer
        .call(&["ZADD", "z", "5", "m", "7", "n", "1", "o"])
        .await;
    assert_eq!(waiter.read().await, mpopped("z", &[("n", "7"), ("m", "5")]));
    blocked(&running, 0).await;
    assert_eq!(writer.call(&["ZCARD", "z"]).await, Resp::Int(1));
    // A non-empty key answers at once.
    assert_eq!(
        waiter.call(&["BZMPOP", "0", "2", "y", "z", "MIN"]).await,
        mpopped("z", &[("o", "1")])
    );
    assert_eq!(waiter.call(&["EXISTS", "z"]).await, Resp::Int(0));
    // A key of another type before the first sorted set: WRONGTYPE.
    writer.call(&["SET", "y", "v"]).await;
    let refused = waiter.call(&["BZMPOP", "0", "1", "y", "MIN"]).await;
    assert!(
        matches!(&refused, Resp::Error(e) if e.starts_with("WRONGTYPE")),
        "{refused:?}"
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bzmpop_times_out_with_the_null_array() {
    let clock = ManualClock::new(T0);
    let running = start_with_clock(test_config(), clock.clone()).await;
    let mut resp2 = RespConn::connect(running.addr).await;
    let mut resp3 = RespConn::connect(running.addr).await;
    let mut other = RespConn::connect(running.addr).await;
    resp3.call(&["HELLO", "3"]).await;
    resp2.send_command(&["BZMPOP", "1", "1", "z", "MIN"]).await;
    resp3.send_command(&["BZMPOP", "2", "1", "z", "MAX"]).await;
    blocked(&running, 2).await;
    clock.advance(999);
    other.call(&["PING"]).await;
    nothing_more(&mut resp2).await;
    clock.advance(1);
    other.call(&["PING"]).await;
    resp2.expect(b"*-1\r\n").await;
    clock.advance(1_000);
    other.call(&["PING"]).await;
    resp3.expect(b"_\r\n").await;
    blocked(&running, 0).await;
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bzmpop_waiters_are_served_first_come_first_served() {
    let running = start(test_config()).await;
    let mut waiters = Vec::new();
    for count in 1..=3 {
        let mut conn = RespConn::connect(running.addr).await;
        conn.send_command(&["BZMPOP", "0", "1", "z", "MIN"]).await;
        blocked(&running, count).await;
        waiters.push(conn);
    }
    let mut writer = RespConn::connect(running.addr).await;
    writer.call(&["ZADD", "z", "3", "c", "1", "a"]).await;
    assert_eq!(waiters[0].read().await, mpopped("z", &[("a", "1")]));
    assert_eq!(waiters[1].read().await, mpopped("z", &[("c", "3")]));
    blocked(&running, 1).await;
    nothing_more(&mut waiters[2]).await;
    writer.call(&["ZADD", "z", "2", "b"]).await;
    assert_eq!(waiters[2].read().await, mpopped("z", &[("b", "2")]));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bzmpop_in_resp3_nests_double_scores() {
    let running = start(test_config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter.call(&["HELLO", "3"]).await;
    waiter.send_command(&["BZMPOP", "0", "1", "z", "MIN"]).await;
    blocked(&running, 1).await;
    writer.call(&["ZADD", "z", "1.5", "m"]).await;
    waiter
        .expect(b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n")
        .await;
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woken_bzmpop_is_logged_and_gone_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || persistent(dir.path());
    let running = start(config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter.send_command(&["BZMPOP", "0", "1", "z", "MIN"]).await;
    blocked(&running, 1).await;
    writer.call(&["ZADD", "z", "1", "m", "2", "n"]).await;
    assert_eq!(waiter.read().await, mpopped("z", &[("m", "1")]));
    stop(running).await;

    let running = start(config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    let members = conn.call(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]).await;
    assert_eq!(members, Resp::Array(vec![Resp::bulk("n"), Resp::bulk("2")]));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_result_wakes_bzmpop_on_its_destination() {
    let running = start(test_config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    writer.call(&["ZADD", "src", "1", "a", "2", "b"]).await;
    waiter
        .send_command(&["BZMPOP", "0", "1", "dst", "MAX"])
        .await;
    blocked(&running, 1).await;
    assert_eq!(
        writer.call(&["ZUNIONSTORE", "dst", "1", "src"]).await,
        Resp::Int(2)
    );
    assert_eq!(waiter.read().await, mpopped("dst", &[("b", "2")]));
    waiter.send_command(&["BZPOPMIN", "dst2", "0"]).await;
    blocked(&running, 1).await;
    writer.call(&["ZRANGESTORE", "dst2", "src", "0", "0"]).await;
    assert_eq!(waiter.read().await, popped("dst2", "a", "1"));
    stop(running).await;
}

/// The RESP2 reply `[key, item]` of BLPOP and BRPOP.
fn list_popped(key: &str, item: &str) -> Resp {
    Resp::Array(vec![Resp::bulk(key), Resp::bulk(item)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brpop_waits_until_an_lpush_from_another_connection() {
    let running = start(test_config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter
        .send_command(&["BRPOP", "missing", "jobs", "0"])
        .await;
    blocked(&running, 1).await;
    assert_eq!(
        writer.call(&["LPUSH", "jobs", "first", "second"]).await,
        Resp::Int(2)
    );
    assert_eq!(waiter.read().await, list_popped("jobs", "first"));
    blocked(&running, 0).await;
    assert_eq!(
        writer.call(&["LRANGE", "jobs", "0", "-1"]).await,
        Resp::Array(vec![Resp::bulk("second")])
    );
    // A list that is not empty answers at once.
    assert_eq!(
        waiter.call(&["BLPOP", "jobs", "0"]).await,
        list_popped("jobs", "second")
    );
    assert_eq!(waiter.call(&["EXISTS", "jobs"]).await, Resp::Int(0));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_waiters_are_served_first_come_first_served() {
    let running = start(test_config()).await;
    let mut waiters = Vec::new();
    for count in 1..=3 {
        let mut conn = RespConn::connect(running.addr).await;
        conn.send_command(&["BLPOP", "q", "0"]).await;
        blocked(&running, count).await;
        waiters.push(conn);
    }
    let mut writer = RespConn::connect(running.addr).await;
    assert_eq!(writer.call(&["RPUSH", "q", "a", "b"]).await, Resp::Int(2));
    assert_eq!(waiters[0].read().await, list_popped("q", "a"));
    assert_eq!(waiters[1].read().await, list_popped("q", "b"));
    blocked(&running, 1).await;
    nothing_more(&mut waiters[2]).await;
    writer.call(&["RPUSH", "q", "c"]).await;
    assert_eq!(waiters[2].read().await, list_popped("q", "c"));
    assert_eq!(writer.call(&["EXISTS", "q"]).await, Resp::Int(0));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_timeouts_answer_the_null_array_in_resp2_and_null_in_resp3() {
    let clock = ManualClock::new(T0);
    let running = start_with_clock(test_config(), clock.clone()).await;
    let mut resp2 = RespConn::connect(running.addr).await;
    let mut resp3 = RespConn::connect(running.addr).await;
    let mut mover = RespConn::connect(running.addr).await;
    let mut other = RespConn::connect(running.addr).await;
    resp3.call(&["HELLO", "3"]).await;
    resp2.send_command(&["BLPOP", "q", "1"]).await;
    resp3.send_command(&["BRPOP", "q", "2"]).await;
    mover
        .send_command(&["BLMOVE", "q", "d", "LEFT", "RIGHT", "2"])
        .await;
    blocked(&running, 3).await;
    clock.advance(999);
    other.call(&["PING"]).await;
    nothing_more(&mut resp2).await;
    clock.advance(1);
    other.call(&["PING"]).await;
    resp2.expect(b"*-1\r\n").await;
    clock.advance(1_000);
    other.call(&["PING"]).await;
    resp3.expect(b"_\r\n").await;
    mover.expect(b"*-1\r\n").await;
    blocked(&running, 0).await;
    // Pushed after the timeouts: nobody takes it.
    other.call(&["RPUSH", "q", "x"]).await;
    assert_eq!(other.call(&["LLEN", "q"]).await, Resp::Int(1));
    assert_eq!(other.call(&["EXISTS", "d"]).await, Resp::Int(0));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_list_waiter_leaves_nothing_behind() {
    let running = start(test_config()).await;
    let mut gone = RespConn::connect(running.addr).await;
    gone.send_command(&["BLPOP", "q", "0"]).await;
    blocked(&running, 1).await;
    let mut gone_mover = RespConn::connect(running.addr).await;
    gone_mover
        .send_command(&["BLMOVE", "q", "d", "LEFT", "LEFT", "0"])
        .await;
    blocked(&running, 2).await;
    drop(gone);
    drop(gone_mover);
    blocked(&running, 0).await;
    let mut writer = RespConn::connect(running.addr).await;
    writer.call(&["RPUSH", "q", "kept"]).await;
    assert_eq!(
        writer.call(&["LRANGE", "q", "0", "-1"]).await,
        Resp::Array(vec![Resp::bulk("kept")])
    );
    assert_eq!(writer.call(&["EXISTS", "d"]).await, Resp::Int(0));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blmove_waits_for_its_source_and_wakes_a_waiter_on_its_destination() {
    let running = start(test_config()).await;
    let mut mover = RespConn::connect(running.addr).await;
    let mut popper = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    mover
        .send_command(&["BLMOVE", "in", "out", "RIGHT", "LEFT", "0"])
        .await;
    blocked(&running, 1).await;
    popper.send_command(&["BLPOP", "out", "0"]).await;
    blocked(&running, 2).await;
    // A write to the destination alone does not wake the mover.
    writer.call(&["RPUSH", "out", "direct"]).await;
    assert_eq!(popper.read().await, list_popped("out", "direct"));
    nothing_more(&mut mover).await;
    popper.send_command(&["BLPOP", "out", "0"]).await;
    blocked(&running, 2).await;
    writer.call(&["RPUSH", "in", "a", "b"]).await;
    assert_eq!(mover.read().await, Resp::bulk("b"));
    // The moved item woke the waiter on the destination.
    assert_eq!(popper.read().await, list_popped("out", "b"));
    blocked(&running, 0).await;
    assert_eq!(
        writer.call(&["LRANGE", "in", "0", "-1"]).await,
        Resp::Array(vec![Resp::bulk("a")])
    );
    assert_eq!(writer.call(&["EXISTS", "out"]).await, Resp::Int(0));
    // RESP3: the moved item is a plain bulk string too.
    mover.call(&["HELLO", "3"]).await;
    mover
        .send_command(&["BLMOVE", "in", "out", "LEFT", "RIGHT", "0"])
        .await;
    mover.expect(b"$1\r\na\r\n").await;
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woken_list_pop_is_logged_and_gone_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || persistent(dir.path());
    let running = start(config()).await;
    let mut waiter = RespConn::connect(running.addr).await;
    let mut writer = RespConn::connect(running.addr).await;
    waiter.send_command(&["BLPOP", "q", "0"]).await;
    blocked(&running, 1).await;
    writer.call(&["RPUSH", "q", "a", "b"]).await;
    assert_eq!(waiter.read().await, list_popped("q", "a"));
    stop(running).await;

    let running = start(config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(
        conn.call(&["LRANGE", "q", "0", "-1"]).await,
        Resp::Array(vec![Resp::bulk("b")])
    );
    stop(running).await;
}
