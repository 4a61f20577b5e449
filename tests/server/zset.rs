//! The sorted-set commands beyond the sale path over TCP with the `redis`
//! crate, in RESP2 and RESP3: lex ranges, ZMSCORE, ZRANDMEMBER,
//! ZRANGESTORE, ZUNION/ZINTER/ZDIFF and their STORE forms, ZINTERCARD,
//! ZMPOP, ZRANK WITHSCORE on a missing member; and stored results across a
//! restart from the log and from a snapshot. BZMPOP's waiting is in
//! `blocking.rs`.

use std::time::Duration;

use redis::{ProtocolVersion, Value};
use usher::config::Config;

use crate::support::server::{start, stop, test_config};

const PROTOCOLS: [ProtocolVersion; 2] = [ProtocolVersion::RESP2, ProtocolVersion::RESP3];

async fn connect(
    addr: std::net::SocketAddr,
    protocol: ProtocolVersion,
) -> redis::aio::MultiplexedConnection {
    let info = redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port()),
        redis: redis::RedisConnectionInfo {
            db: 0,
            username: None,
            password: None,
            protocol,
        },
    };
    redis::Client::open(info)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection")
}

async fn call(conn: &mut redis::aio::MultiplexedConnection, words: &[&str]) -> Value {
    let mut command = redis::cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command
        .query_async::<Value>(conn)
        .await
        .unwrap_or_else(|error| panic!("{words:?}: {error}"))
}

async fn error(conn: &mut redis::aio::MultiplexedConnection, words: &[&str]) -> String {
    let mut command = redis::cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    match command.query_async::<Value>(conn).await {
        Ok(value) => panic!("{words:?}: expected an error, got {value:?}"),
        Err(error) => error.to_string(),
    }
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|item| bulk(item)).collect())
}

/// A score as the protocol sends it: a bulk string in RESP2, a double in
/// RESP3.
fn score(protocol: ProtocolVersion, value: f64, text: &str) -> Value {
    match protocol {
        ProtocolVersion::RESP2 => bulk(text),
        ProtocolVersion::RESP3 => Value::Double(value),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lex_ranges_and_scores_in_both_protocols() {
    let running = start(test_config()).await;
    for protocol in PROTOCOLS {
        let mut conn = connect(running.addr, protocol).await;
        call(&mut conn, &["DEL", "z", "s"]).await;
        call(
            &mut conn,
            &["ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d"],
        )
        .await;
        assert_eq!(
            call(&mut conn, &["ZRANGEBYLEX", "z", "(a", "[c"]).await,
            bulks(&["b", "c"])
        );
        assert_eq!(
            call(
                &mut conn,
                &["ZREVRANGEBYLEX", "z", "+", "-", "LIMIT", "0", "2"]
            )
            .await,
            bulks(&["d", "c"])
        );
        assert_eq!(
            call(&mut conn, &["ZRANGE", "z", "[b", "+", "BYLEX"]).await,
            bulks(&["b", "c", "d"])
        );
        assert_eq!(
            call(&mut conn, &["ZLEXCOUNT", "z", "-", "(c"]).await,
            Value::Int(2)
        );
        assert!(error(&mut conn, &["ZRANGEBYLEX", "z", "a", "+"])
            .await
            .contains("min or max not valid string range item"));
        assert_eq!(
            call(&mut conn, &["ZMSCORE", "z", "a", "nope"]).await,
            Value::Array(vec![score(protocol, 0.0, "0"), Value::Nil])
        );
        assert_eq!(
            call(&mut conn, &["ZMSCORE", "missing", "a"]).await,
            Value::Array(vec![Value::Nil])
        );
        // ZRANK WITHSCORE of a missing member: a nil array in RESP2 (the
        // crate reads `*-1` as nil too), null in RESP3.
        assert_eq!(
            call(&mut conn, &["ZRANK", "z", "nope", "WITHSCORE"]).await,
            Value::Nil
        );
        assert_eq!(
            call(&mut conn, &["ZRANK", "z", "b", "WITHSCORE"]).await,
            Value::Array(vec![Value::Int(1), score(protocol, 0.0, "0")])
        );
        assert_eq!(
            call(&mut conn, &["ZREMRANGEBYLEX", "z", "[a", "[b"]).await,
            Value::Int(2)
        );
        assert_eq!(
            call(&mut conn, &["ZRANDMEMBER", "missing"]).await,
            Value::Nil
        );
        assert_eq!(
            call(&mut conn, &["ZRANDMEMBER", "missing", "2"]).await,
            bulks(&[])
        );
        let Value::Array(drawn) = call(&mut conn, &["ZRANDMEMBER", "z", "-5", "WITHSCORES"]).await
        else {
            panic!("an array");
        };
        assert_eq!(drawn.len(), 10);
        call(&mut conn, &["SET", "s", "v"]).await;
        for words in [
            &["ZLEXCOUNT", "s", "-", "+"][..],
            &["ZMSCORE", "s", "a"],
            &["ZRANDMEMBER", "s"],
            &["ZUNION", "2", "z", "s"],
            &["ZMPOP", "1", "s", "MIN"],
            &["ZRANGESTORE", "d", "s", "0", "-1"],
        ] {
            assert!(
                error(&mut conn, words).await.contains("WRONGTYPE"),
                "{words:?}"
            );
        }
        for (words, name) in [
            (&["ZLEXCOUNT", "z", "-"][..], "zlexcount"),
            (&["ZMSCORE", "z"], "zmscore"),
            (&["ZRANDMEMBER"], "zrandmember"),
            (&["ZRANGESTORE", "d", "z", "0"], "zrangestore"),
            (&["ZINTERCARD", "1"], "zintercard"),
            (&["ZMPOP", "1", "z"], "zmpop"),
            (&["BZMPOP", "0", "1", "z"], "bzmpop"),
            (&["ZDIFFSTORE", "d", "1"], "zdiffstore"),
        ] {
            let text = error(&mut conn, words).await;
            assert!(
                text.contains(&format!("wrong number of arguments for '{name}' command")),
                "{words:?}: {text}"
            );
        }
    }
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combinations_and_zmpop_in_both_protocols() {
    let running = start(test_config()).await;
    for protocol in PROTOCOLS {
        let mut conn = connect(running.addr, protocol).await;
        call(&mut conn, &["DEL", "a", "b", "dst"]).await;
        call(&mut conn, &["ZADD", "a", "1", "x", "2", "y"]).await;
        call(&mut conn, &["ZADD", "b", "3", "y", "4", "z"]).await;
        assert_eq!(
            call(&mut conn, &["ZUNION", "2", "a", "b", "WITHSCORES"]).await,
            Value::Array(vec![
                bulk("x"),
                score(protocol, 1.0, "1"),
                bulk("z"),
                score(protocol, 4.0, "4"),
                bulk("y"),
                score(protocol, 5.0, "5"),
            ])
        );
        assert_eq!(
            call(
                &mut conn,
                &[
                    "ZINTER",
                    "2",
                    "a",
                    "b",
                    "WEIGHTS",
                    "2",
                    "1",
                    "AGGREGATE",
                    "MAX"
                ]
            )
            .await,
            bulks(&["y"])
        );
        assert_eq!(
            call(&mut conn, &["ZDIFF", "2", "a", "b"]).await,
            bulks(&["x"])
        );
        assert_eq!(
            call(&mut conn, &["ZINTERCARD", "2", "a", "b"]).await,
            Value::Int(1)
        );
        assert_eq!(
            call(&mut conn, &["ZUNIONSTORE", "dst", "2", "a", "missing"]).await,
            Value::Int(2)
        );
        assert_eq!(
            call(&mut conn, &["ZINTERSTORE", "dst", "2", "a", "missing"]).await,
            Value::Int(0)
        );
        assert_eq!(call(&mut conn, &["EXISTS", "dst"]).await, Value::Int(0));
        assert_eq!(
            call(&mut conn, &["ZRANGESTORE", "dst", "b", "0", "0", "REV"]).await,
            Value::Int(1)
        );
        assert_eq!(
            call(&mut conn, &["ZRANGE", "dst", "0", "-1"]).await,
            bulks(&["z"])
        );
        for (words, text) in [
            (
                &["ZUNIONSTORE", "dst", "0", "a"][..],
                "at least 1 input key is needed for 'zunionstore' command",
            ),
            (&["ZUNION", "2", "a", "b", "WEIGHTS", "1"], "syntax error"),
            (
                &["ZMPOP", "1", "a", "MIN", "COUNT", "0"],
                "count should be greater than 0",
            ),
            (
                &["ZINTERCARD", "1", "a", "LIMIT", "-1"],
                "LIMIT can't be negative",
            ),
        ] {
            let got = error(&mut conn, words).await;
            assert!(got.contains(text), "{words:?}: {got}");
        }
        assert_eq!(
            call(
                &mut conn,
                &["ZMPOP", "2", "missing", "a", "MAX", "COUNT", "5"]
            )
            .await,
            Value::Array(vec![
                bulk("a"),
                Value::Array(vec![
                    Value::Array(vec![bulk("y"), score(protocol, 2.0, "2")]),
                    Value::Array(vec![bulk("x"), score(protocol, 1.0, "1")]),
                ]),
            ])
        );
        assert_eq!(
            call(&mut conn, &["ZMPOP", "1", "a", "MIN"]).await,
            Value::Nil
        );
    }
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

async fn snapshot_in_progress(conn: &mut redis::aio::MultiplexedConnection) -> bool {
    let Value::BulkString(text) = call(conn, &["INFO", "persistence"]).await else {
        panic!("INFO did not reply text");
    };
    String::from_utf8_lossy(&text)
        .lines()
        .any(|line| line.trim() == "snapshot_in_progress:1")
}

/// Stores results, restarts (from the log alone, or from a snapshot taken
/// after the stores and the log after it) and reads them back.
async fn stored_results_survive_a_restart(with_snapshot: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(persistent(dir.path())).await;
    let mut conn = connect(running.addr, ProtocolVersion::RESP2).await;
    call(&mut conn, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]).await;
    call(&mut conn, &["ZADD", "b", "10", "y"]).await;
    call(&mut conn, &["SET", "gone", "v"]).await;
    call(
        &mut conn,
        &["ZUNIONSTORE", "u", "2", "a", "b", "WEIGHTS", "1", "2"],
    )
    .await;
    call(
        &mut conn,
        &["ZRANGESTORE", "r", "a", "(1", "+inf", "BYSCORE"],
    )
    .await;
    call(&mut conn, &["ZINTERSTORE", "gone", "2", "a", "missing"]).await;
    if with_snapshot {
        call(&mut conn, &["SNAPSHOT"]).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while snapshot_in_progress(&mut conn).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "snapshot did not finish"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    call(&mut conn, &["ZDIFFSTORE", "d", "2", "a", "b"]).await;
    drop(conn);
    stop(running).await;

    let running = start(persistent(dir.path())).await;
    let mut conn = connect(running.addr, ProtocolVersion::RESP2).await;
    assert_eq!(
        call(&mut conn, &["ZRANGE", "u", "0", "-1", "WITHSCORES"]).await,
        bulks(&["x", "1", "z", "3", "y", "22"])
    );
    assert_eq!(
        call(&mut conn, &["ZRANGE", "r", "0", "-1", "WITHSCORES"]).await,
        bulks(&["y", "2", "z", "3"])
    );
    assert_eq!(
        call(&mut conn, &["ZRANGE", "d", "0", "-1"]).await,
        bulks(&["x", "z"])
    );
    assert_eq!(call(&mut conn, &["EXISTS", "gone"]).await, Value::Int(0));
    drop(conn);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_results_survive_a_restart_from_the_log() {
    stored_results_survive_a_restart(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_results_survive_a_restart_from_a_snapshot() {
    stored_results_survive_a_restart(true).await;
}
