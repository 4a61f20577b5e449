//! The sorted-set commands beyond the sale path over TCP with the `redis`
//! crate, in RESP2 and RESP3: lex ranges, ZMSCORE, ZRANDMEMBER,
//! ZRANGESTORE, ZUNION/ZINTER/ZDIFF and their STORE forms, ZINTERCARD,
//! ZMPOP, ZRANK WITHSCORE on a missing member; and stored results across a
//! restart from the log and from a snapshot. BZMPOP's waiting is in
//! `blocking.rs`.

use std::time::Duration;

use redis::{ProtocolVersion, Value};
use usher::config::Config;

use crate::support::redis::{bulk, bulks, command as redis_command};
use crate::support::server::{start, stop, test_config, RespConn};

const PROTOCOLS: [ProtocolVersion; 2] = [ProtocolVersion::RESP2, ProtocolVersion::RESP3];

async fn connect(
    addr: std::net::SocketAddr,
    protocol: ProtocolVersion,
) -> redis::aio::MultiplexedConnection {
    crate::support::redis::connect(addr, protocol).await
}

async fn call(conn: &mut redis::aio::MultiplexedConnection, words: &[&str]) -> Value {
    redis_command(words)
        .query_async::<Value>(conn)
        .await
        .unwrap_or_else(|error| panic!("{words:?}: {error}"))
}

async fn error(conn: &mut redis::aio::MultiplexedConnection, words: &[&str]) -> String {
    let command = redis_command(words);
    match command.query_async::<Value>(conn).await {
        Ok(value) => panic!("{words:?}: expected an error, got {value:?}"),
        Err(error) => error.to_string(),
    }
}

/// A score as the protocol sends it: a bulk string in RESP2, a double in
/// RESP3.
fn score(protocol: ProtocolVersion, value: f64, text: &str) -> Value {
    match protocol {
        ProtocolVersion::RESP2 => bulk(text),
        ProtocolVersion::RESP3 => Value::Double(value),
    }
}

/// Members with their scores as Redis 7.2 sends them: flat in RESP2 (the
/// score as text), `[member, score]` arrays in RESP3 (the score a double).
fn scored(protocol: ProtocolVersion, items: &[(&str, f64, &str)]) -> Value {
    match protocol {
        ProtocolVersion::RESP2 => Value::Array(
            items
                .iter()
                .flat_map(|(member, _, text)| [bulk(member), bulk(text)])
                .collect(),
        ),
        ProtocolVersion::RESP3 => Value::Array(
            items
                .iter()
                .map(|(member, value, _)| Value::Array(vec![bulk(member), Value::Double(*value)]))
                .collect(),
        ),
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
        // Every member left ("c", "d") scores 0.
        let Value::Array(drawn) = call(&mut conn, &["ZRANDMEMBER", "z", "-5", "WITHSCORES"]).await
        else {
            panic!("an array");
        };
        match protocol {
            ProtocolVersion::RESP2 => {
                assert_eq!(drawn.len(), 10);
                for pair in drawn.chunks(2) {
                    assert!(pair[0] == bulk("c") || pair[0] == bulk("d"), "{pair:?}");
                    assert_eq!(pair[1], bulk("0"));
                }
            }
            ProtocolVersion::RESP3 => {
                assert_eq!(drawn.len(), 5);
                for pair in &drawn {
                    let Value::Array(pair) = pair else {
                        panic!("a [member, score] array: {pair:?}");
                    };
                    assert!(pair[0] == bulk("c") || pair[0] == bulk("d"), "{pair:?}");
                    assert_eq!(pair[1..], [Value::Double(0.0)]);
                }
            }
        }
        assert_eq!(
            call(&mut conn, &["ZRANDMEMBER", "missing", "2", "WITHSCORES"]).await,
            bulks(&[])
        );
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
            scored(
                protocol,
                &[("x", 1.0, "1"), ("z", 4.0, "4"), ("y", 5.0, "5")]
            )
        );
        assert_eq!(
            call(
                &mut conn,
                &["ZINTER", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"]
            )
            .await,
            scored(protocol, &[("y", 2.0, "2")])
        );
        assert_eq!(
            call(&mut conn, &["ZDIFF", "2", "b", "a", "WITHSCORES"]).await,
            scored(protocol, &[("z", 4.0, "4")])
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

/// The bytes of each scored reply, RESP2 and RESP3, as Redis 7.2 sends
/// them (checked against `redis-server`): RESP2 flat with scores as bulk
/// text, RESP3 `[member, score]` arrays with `,` doubles, except ZPOPMIN /
/// ZPOPMAX without a count, flat in both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scored_replies_byte_for_byte() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    // (request, RESP2 bytes, RESP3 bytes); the set is {a: 1, b: 2.5, c: 3}
    // before each (restored after the pops).
    let cases: [(&[&str], &[u8], &[u8]); 12] = [
        (
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            b"*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n",
            b"*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        ),
        (
            &["ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", "1", "1"],
            b"*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
            b"*1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n",
        ),
        (
            &["ZREVRANGE", "z", "0", "0", "WITHSCORES"],
            b"*2\r\n$1\r\nc\r\n$1\r\n3\r\n",
            b"*1\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        ),
        (
            &["ZREVRANGEBYSCORE", "z", "(3", "2", "WITHSCORES"],
            b"*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
            b"*1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n",
        ),
        (
            &["ZRANGE", "z", "(1", "3", "BYSCORE", "WITHSCORES", "LIMIT", "1", "1"],
            b"*2\r\n$1\r\nc\r\n$1\r\n3\r\n",
            b"*1\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        ),
        (
            &["ZRANGE", "missing", "0", "-1", "WITHSCORES"],
            b"*0\r\n",
            b"*0\r\n",
        ),
        (
            &["ZRANDMEMBER", "one", "1", "WITHSCORES"],
            b"*2\r\n$1\r\nm\r\n$4\r\n-0.5\r\n",
            b"*1\r\n*2\r\n$1\r\nm\r\n,-0.5\r\n",
        ),
        (
            &["ZUNION", "2", "z", "one", "WEIGHTS", "1", "2", "WITHSCORES"],
            b"*8\r\n$1\r\nm\r\n$2\r\n-1\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n",
            b"*4\r\n*2\r\n$1\r\nm\r\n,-1\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        ),
        (
            &["ZINTER", "2", "z", "z", "WITHSCORES"],
            b"*6\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n5\r\n$1\r\nc\r\n$1\r\n6\r\n",
            b"*3\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,5\r\n*2\r\n$1\r\nc\r\n,6\r\n",
        ),
        (
            &["ZDIFF", "2", "z", "one", "WITHSCORES"],
            b"*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n",
            b"*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        ),
        (
            &["ZPOPMIN", "z"],
            b"*2\r\n$1\r\na\r\n$1\r\n1\r\n",
            b"*2\r\n$1\r\na\r\n,1\r\n",
        ),
        (
            &["ZPOPMAX", "z", "1"],
            b"*2\r\n$1\r\nc\r\n$1\r\n3\r\n",
            b"*1\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        ),
    ];
    for resp3 in [false, true] {
        if resp3 {
            conn.call(&["HELLO", "3"]).await;
        }
        for (words, resp2_bytes, resp3_bytes) in cases {
            conn.call(&["ZADD", "z", "1", "a", "2.5", "b", "3", "c"])
                .await;
            conn.call(&["ZADD", "one", "-0.5", "m"]).await;
            conn.send_command(words).await;
            conn.expect(if resp3 { resp3_bytes } else { resp2_bytes })
                .await;
        }
        for words in [
            &["ZPOPMIN", "z", "2"][..],
            &["ZPOPMAX", "missing"],
            &["ZPOPMAX", "missing", "2"],
            &["ZRANDMEMBER", "missing", "2", "WITHSCORES"],
        ] {
            conn.call(&["DEL", "z"]).await;
            conn.send_command(words).await;
            conn.expect(b"*0\r\n").await;
        }
        conn.call(&["ZADD", "z", "1", "a", "2.5", "b"]).await;
        conn.send_command(&["ZPOPMIN", "z", "2"]).await;
        conn.expect(if resp3 {
            b"*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n" as &[u8]
        } else {
            b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n"
        })
        .await;
    }
    stop(running).await;
}

/// The binary protocol sends members with their scores flat, as RESP2
/// does (scores typed doubles), whatever the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_protocol_scores_are_flat() {
    use usher::client::{args, Client};
    use usher::protocol::Reply;
    let running = start(test_config()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    let member = |text: &'static str| Reply::bulk_static(text.as_bytes());
    let flat = |items: &[(&'static str, f64)]| {
        Reply::Array(
            items
                .iter()
                .flat_map(|(name, score)| [member(name), Reply::Double(*score)])
                .collect(),
        )
    };
    let reply = client
        .call(&args(["ZADD", "z", "1", "a", "2.5", "b", "3", "c"]))
        .await
        .expect("call");
    assert_eq!(reply, Reply::Int(3));
    for (words, expected) in [
        (
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"][..],
            flat(&[("a", 1.0), ("b", 2.5), ("c", 3.0)]),
        ),
        (
            &["ZREVRANGEBYSCORE", "z", "+inf", "(1", "WITHSCORES"],
            flat(&[("c", 3.0), ("b", 2.5)]),
        ),
        (
            &["ZUNION", "1", "z", "WEIGHTS", "2", "WITHSCORES"],
            flat(&[("a", 2.0), ("b", 5.0), ("c", 6.0)]),
        ),
        (&["ZPOPMIN", "z"], flat(&[("a", 1.0)])),
        (&["ZPOPMAX", "z", "1"], flat(&[("c", 3.0)])),
        (
            &["ZRANDMEMBER", "z", "1", "WITHSCORES"],
            flat(&[("b", 2.5)]),
        ),
    ] {
        let reply = client
            .call(&args(words.iter().copied()))
            .await
            .expect("call");
        assert_eq!(reply, expected, "{words:?}");
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
