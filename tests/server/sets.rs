//! Sets over real sockets: the `redis` crate over RESP2 and RESP3 (reply
//! types: RESP3 sets for SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a
//! count, arrays for SRANDMEMBER), the exact bytes of both RESP versions,
//! the binary protocol's array, and Redis's error texts on the wire.

use redis::Value as RedisValue;
use usher::protocol::Reply;

use crate::support::redis::command as redis_command;
use crate::support::resp::Resp;
use crate::support::server::{request_frame, start, stop, test_config, BinaryConn, RespConn};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

async fn redis_conn(
    addr: std::net::SocketAddr,
    protocol: redis::ProtocolVersion,
) -> redis::aio::MultiplexedConnection {
    crate::support::redis::connect(addr, protocol).await
}

async fn query(conn: &mut redis::aio::MultiplexedConnection, words: &[&str]) -> RedisValue {
    redis_command(words)
        .query_async(conn)
        .await
        .unwrap_or_else(|error| panic!("{words:?}: {error}"))
}

async fn query_error(conn: &mut redis::aio::MultiplexedConnection, words: &[&str]) -> String {
    let command = redis_command(words);
    let result: redis::RedisResult<RedisValue> = command.query_async(conn).await;
    result.expect_err("an error reply").to_string()
}

/// The sorted members of a set or array reply; whether it was a set.
fn members(value: &RedisValue) -> (Vec<String>, bool) {
    let (items, is_set) = match value {
        RedisValue::Set(items) => (items, true),
        RedisValue::Array(items) => (items, false),
        other => panic!("expected a set or array, got {other:?}"),
    };
    let mut out: Vec<String> = items
        .iter()
        .map(|item| match item {
            RedisValue::BulkString(bytes) => String::from_utf8(bytes.clone()).expect("utf8"),
            other => panic!("expected a bulk string, got {other:?}"),
        })
        .collect();
    out.sort();
    (out, is_set)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_crate_sees_sets_in_resp3_and_arrays_in_resp2() {
    let running = start(test_config()).await;
    for protocol in [redis::ProtocolVersion::RESP2, redis::ProtocolVersion::RESP3] {
        let resp3 = protocol == redis::ProtocolVersion::RESP3;
        let mut conn = redis_conn(running.addr, protocol).await;
        let k = |name: &str| format!("{name}:{resp3}");
        let (a, b, d) = (k("a"), k("b"), k("d"));
        assert_eq!(
            query(&mut conn, &["SADD", &a, "1", "2", "3", "2"]).await,
            RedisValue::Int(3)
        );
        assert_eq!(
            query(&mut conn, &["SADD", &b, "2", "3", "4"]).await,
            RedisValue::Int(3)
        );
        assert_eq!(
            query(&mut conn, &["SISMEMBER", &a, "1"]).await,
            RedisValue::Int(1)
        );
        assert_eq!(
            query(&mut conn, &["SMISMEMBER", &a, "1", "9"]).await,
            RedisValue::Array(vec![RedisValue::Int(1), RedisValue::Int(0)])
        );
        assert_eq!(query(&mut conn, &["SCARD", &a]).await, RedisValue::Int(3));
        for (words, expected) in [
            (vec!["SMEMBERS", a.as_str()], strings(&["1", "2", "3"])),
            (vec!["SINTER", a.as_str(), b.as_str()], strings(&["2", "3"])),
            (
                vec!["SUNION", a.as_str(), b.as_str()],
                strings(&["1", "2", "3", "4"]),
            ),
            (vec!["SDIFF", a.as_str(), b.as_str()], strings(&["1"])),
        ] {
            let (got, is_set) = members(&query(&mut conn, &words).await);
            assert_eq!(got, expected, "{words:?}");
            assert_eq!(is_set, resp3, "{words:?} over {protocol:?}");
        }
        let (drawn, is_set) = members(&query(&mut conn, &["SRANDMEMBER", &a, "-5"]).await);
        assert_eq!(drawn.len(), 5);
        assert!(!is_set, "SRANDMEMBER with a count is an array");
        assert_eq!(
            query(&mut conn, &["SRANDMEMBER", &k("none")]).await,
            RedisValue::Nil
        );
        assert_eq!(
            query(&mut conn, &["SPOP", &k("none")]).await,
            RedisValue::Nil
        );
        let (popped, is_set) = members(&query(&mut conn, &["SPOP", &b, "2"]).await);
        assert_eq!(popped.len(), 2);
        assert_eq!(is_set, resp3, "SPOP with a count");
        assert_eq!(query(&mut conn, &["SCARD", &b]).await, RedisValue::Int(1));
        // SMOVE, the STORE forms, SINTERCARD.
        assert_eq!(
            query(&mut conn, &["SMOVE", &a, &d, "1"]).await,
            RedisValue::Int(1)
        );
        assert_eq!(
            query(&mut conn, &["SMOVE", &a, &d, "1"]).await,
            RedisValue::Int(0)
        );
        assert_eq!(
            query(&mut conn, &["SUNIONSTORE", &d, &a, &d]).await,
            RedisValue::Int(3)
        );
        assert_eq!(
            query(&mut conn, &["SINTERCARD", "1", &d, "LIMIT", "2"]).await,
            RedisValue::Int(2)
        );
        assert_eq!(
            query(&mut conn, &["SINTERSTORE", &d, &d, &k("none")]).await,
            RedisValue::Int(0)
        );
        assert_eq!(query(&mut conn, &["EXISTS", &d]).await, RedisValue::Int(0));
        // SSCAN: [cursor, [members]] in both.
        let RedisValue::Array(parts) = query(&mut conn, &["SSCAN", &a, "0", "COUNT", "100"]).await
        else {
            panic!("SSCAN replies an array");
        };
        assert_eq!(parts[0], RedisValue::BulkString(b"0".to_vec()));
        assert_eq!(members(&parts[1]).0, strings(&["2", "3"]));
        // Errors, with Redis's texts.
        query(&mut conn, &["SET", &k("str"), "x"]).await;
        let error = query_error(&mut conn, &["SADD", &k("str"), "a"]).await;
        assert!(error.contains("WRONGTYPE"), "{error}");
        let error = query_error(&mut conn, &["SPOP", &a, "-1"]).await;
        assert!(error.contains("must be positive"), "{error}");
    }
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_bytes_are_redis_s_in_both_versions() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    conn.send_command(&["SADD", "one", "a"]).await;
    conn.expect(b":1\r\n").await;
    conn.send_command(&["SMEMBERS", "one"]).await;
    conn.expect(b"*1\r\n$1\r\na\r\n").await;
    conn.send_command(&["SMEMBERS", "none"]).await;
    conn.expect(b"*0\r\n").await;
    conn.send_command(&["SPOP", "none"]).await;
    conn.expect(b"$-1\r\n").await;
    assert!(matches!(conn.call(&["HELLO", "3"]).await, Resp::Map(_)));
    for (words, bytes) in [
        (&["SMEMBERS", "one"][..], &b"~1\r\n$1\r\na\r\n"[..]),
        (&["SINTER", "one", "one"], b"~1\r\n$1\r\na\r\n"),
        (&["SUNION", "one"], b"~1\r\n$1\r\na\r\n"),
        (&["SDIFF", "one"], b"~1\r\n$1\r\na\r\n"),
        (&["SMEMBERS", "none"], b"~0\r\n"),
        (&["SPOP", "none", "2"], b"~0\r\n"),
        (&["SRANDMEMBER", "one", "1"], b"*1\r\n$1\r\na\r\n"),
        (&["SRANDMEMBER", "none", "2"], b"*0\r\n"),
        (&["SRANDMEMBER", "none"], b"_\r\n"),
        (&["SPOP", "none"], b"_\r\n"),
        (&["SSCAN", "none", "0"], b"*2\r\n$1\r\n0\r\n*0\r\n"),
        (&["SPOP", "one", "1"], b"~1\r\n$1\r\na\r\n"),
        (&["EXISTS", "one"], b":0\r\n"),
    ] {
        conn.send_command(words).await;
        conn.expect(bytes).await;
    }
    conn.send_command(&["SET", "str", "x"]).await;
    conn.expect(b"+OK\r\n").await;
    for (words, text) in [
        (&["SMEMBERS", "str"][..], WRONGTYPE),
        (&["SINTER", "none", "str"], WRONGTYPE),
        (
            &["SCARD"],
            "ERR wrong number of arguments for 'scard' command",
        ),
        (
            &["SINTERCARD", "0", "a"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["SINTERCARD", "1", "a", "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
        (&["SSCAN", "a", "x"], "ERR invalid cursor"),
    ] {
        assert_eq!(
            conn.call(words).await,
            Resp::Error(text.to_string()),
            "{words:?}"
        );
    }
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_protocol_sends_a_set_as_an_array() {
    let running = start(test_config()).await;
    let mut conn = BinaryConn::connect(running.addr).await;
    conn.send(&request_frame(1, &["SADD", "s", "a"])).await;
    assert_eq!(conn.read().await, (1, Reply::Int(1)));
    conn.send(&request_frame(2, &["SMEMBERS", "s"])).await;
    assert_eq!(
        conn.read().await,
        (2, Reply::Array(vec![Reply::bulk_static(b"a")]))
    );
    stop(running).await;
}
