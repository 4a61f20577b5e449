//! Lists over TCP with the `redis` crate, in RESP2 and RESP3: replies,
//! error texts (Redis 7's, checked against redis-server), arity, WRONGTYPE,
//! missing keys, and the reply shapes that differ between the protocols
//! (read as raw bytes).

use crate::support::redis::{bulk, bulks, command as redis_command, error_text};
use crate::support::server::{start, stop, test_config, RespConn};

use redis::{ProtocolVersion, Value};

async fn connect(
    addr: std::net::SocketAddr,
    protocol: ProtocolVersion,
) -> redis::aio::MultiplexedConnection {
    crate::support::redis::connect(addr, protocol).await
}

/// Runs a command; an error reply becomes its text (`CODE detail`).
async fn call(
    conn: &mut redis::aio::MultiplexedConnection,
    words: &[&str],
) -> Result<Value, String> {
    let command = redis_command(words);
    command
        .query_async::<Value>(conn)
        .await
        .map_err(|error| error_text(&error))
}

fn ints(items: &[i64]) -> Value {
    Value::Array(items.iter().map(|&item| Value::Int(item)).collect())
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_commands_over_resp2_and_resp3() {
    let running = start(test_config()).await;
    for protocol in [ProtocolVersion::RESP2, ProtocolVersion::RESP3] {
        let mut c = connect(running.addr, protocol).await;
        let ok = |reply: Result<Value, String>| reply.expect("not an error");
        ok(call(&mut c, &["FLUSHALL"]).await);
        assert_eq!(
            ok(call(&mut c, &["LPUSH", "l", "b", "a"]).await),
            Value::Int(2)
        );
        assert_eq!(
            ok(call(&mut c, &["RPUSH", "l", "c", "d", "e"]).await),
            Value::Int(5)
        );
        assert_eq!(
            ok(call(&mut c, &["LPUSHX", "none", "x"]).await),
            Value::Int(0)
        );
        assert_eq!(ok(call(&mut c, &["RPUSHX", "l", "f"]).await), Value::Int(6));
        assert_eq!(
            ok(call(&mut c, &["LRANGE", "l", "0", "-1"]).await),
            bulks(&["a", "b", "c", "d", "e", "f"])
        );
        assert_eq!(
            ok(call(&mut c, &["LRANGE", "l", "-2", "100"]).await),
            bulks(&["e", "f"])
        );
        assert_eq!(ok(call(&mut c, &["LLEN", "l"]).await), Value::Int(6));
        assert_eq!(ok(call(&mut c, &["LINDEX", "l", "-1"]).await), bulk("f"));
        assert_eq!(ok(call(&mut c, &["LINDEX", "l", "6"]).await), Value::Nil);
        assert_eq!(
            ok(call(&mut c, &["LSET", "l", "-6", "A"]).await),
            Value::Okay
        );
        assert_eq!(
            call(&mut c, &["LSET", "l", "6", "x"]).await,
            Err("ERR index out of range".into())
        );
        assert_eq!(
            call(&mut c, &["LSET", "none", "0", "x"]).await,
            Err("ERR no such key".into())
        );
        assert_eq!(ok(call(&mut c, &["LPOP", "l"]).await), bulk("A"));
        assert_eq!(
            ok(call(&mut c, &["RPOP", "l", "2"]).await),
            bulks(&["f", "e"])
        );
        assert_eq!(
            ok(call(&mut c, &["LPOP", "l", "0"]).await),
            Value::Array(vec![])
        );
        assert_eq!(ok(call(&mut c, &["LPOP", "none"]).await), Value::Nil);
        assert_eq!(
            ok(call(&mut c, &["TYPE", "l"]).await),
            Value::SimpleString("list".into())
        );

        // LREM: positive from the head, negative from the tail, 0 all.
        ok(call(&mut c, &["DEL", "r"]).await);
        ok(call(&mut c, &["RPUSH", "r", "x", "y", "x", "y", "x"]).await);
        assert_eq!(
            ok(call(&mut c, &["LREM", "r", "1", "x"]).await),
            Value::Int(1)
        );
        assert_eq!(
            ok(call(&mut c, &["LREM", "r", "-1", "x"]).await),
            Value::Int(1)
        );
        assert_eq!(
            ok(call(&mut c, &["LRANGE", "r", "0", "-1"]).await),
            bulks(&["y", "x", "y"])
        );
        assert_eq!(
            ok(call(&mut c, &["LREM", "r", "0", "y"]).await),
            Value::Int(2)
        );
        assert_eq!(
            ok(call(&mut c, &["LTRIM", "r", "1", "0"]).await),
            Value::Okay
        );
        assert_eq!(ok(call(&mut c, &["EXISTS", "r"]).await), Value::Int(0));

        // LPOS and its options.
        ok(call(&mut c, &["RPUSH", "p", "a", "b", "a", "c", "a"]).await);
        assert_eq!(
            ok(call(&mut c, &["LPOS", "p", "a", "RANK", "-1"]).await),
            Value::Int(4)
        );
        assert_eq!(
            ok(call(&mut c, &["LPOS", "p", "a", "COUNT", "0", "MAXLEN", "3"]).await),
            ints(&[0, 2])
        );
        assert_eq!(ok(call(&mut c, &["LPOS", "p", "z"]).await), Value::Nil);
        assert_eq!(
            call(&mut c, &["LPOS", "p", "a", "RANK", "0"]).await,
            Err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".into())
        );

        // LMOVE, the same key rotating.
        assert_eq!(
            ok(call(&mut c, &["LMOVE", "p", "p", "RIGHT", "LEFT"]).await),
            bulk("a")
        );
        assert_eq!(ok(call(&mut c, &["LINDEX", "p", "0"]).await), bulk("a"));
        assert_eq!(
            ok(call(&mut c, &["LMOVE", "p", "q", "LEFT", "RIGHT"]).await),
            bulk("a")
        );
        assert_eq!(
            ok(call(&mut c, &["LMOVE", "none", "q", "LEFT", "RIGHT"]).await),
            Value::Nil
        );

        // Wrong types and arity.
        ok(call(&mut c, &["SET", "s", "x"]).await);
        for words in [
            &["LPUSH", "s", "a"][..],
            &["LLEN", "s"],
            &["LPOP", "s"],
            &["LRANGE", "s", "0", "1"],
            &["LMOVE", "p", "s", "LEFT", "LEFT"],
        ] {
            assert_eq!(
                call(&mut c, words).await,
                Err(WRONGTYPE.into()),
                "{words:?}"
            );
        }
        assert_eq!(
            call(&mut c, &["RPUSH", "l"]).await,
            Err("ERR wrong number of arguments for 'rpush' command".into())
        );
        assert_eq!(
            call(&mut c, &["LPOP", "l", "-1"]).await,
            Err("ERR value is out of range, must be positive".into())
        );
        assert_eq!(
            call(&mut c, &["LINDEX", "l", "one"]).await,
            Err("ERR value is not an integer or out of range".into())
        );
        assert_eq!(
            call(&mut c, &["LMOVE", "p", "q", "UP", "LEFT"]).await,
            Err("ERR syntax error".into())
        );
    }
    stop(running).await;
}

/// The replies whose shape differs between RESP2 and RESP3, byte for
/// byte as Redis 7 sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nil_shapes_match_redis_in_both_protocols() {
    let running = start(test_config()).await;
    let mut resp2 = RespConn::connect(running.addr).await;
    let mut resp3 = RespConn::connect(running.addr).await;
    resp3.call(&["HELLO", "3"]).await;
    for (conn, nil, nil_array) in [
        (&mut resp2, &b"$-1\r\n"[..], &b"*-1\r\n"[..]),
        (&mut resp3, b"_\r\n", b"_\r\n"),
    ] {
        for (words, expected) in [
            (&["LPOP", "none"][..], nil),
            (&["RPOP", "none", "1"], nil_array),
            (&["LPOP", "none", "0"], nil_array),
            (&["LINDEX", "none", "0"], nil),
            (&["LPOS", "none", "a"], nil),
            (&["LPOS", "none", "a", "COUNT", "0"], b"*0\r\n"),
            (&["LMOVE", "none", "d", "LEFT", "LEFT"], nil),
            (&["BLPOP", "none", "0.001"], nil_array),
            (&["BLMOVE", "none", "d", "LEFT", "LEFT", "0.001"], nil_array),
        ] {
            conn.send_command(words).await;
            conn.expect(expected).await;
        }
        conn.send_command(&["RPUSH", "k", "a"]).await;
        conn.expect(b":1\r\n").await;
        conn.send_command(&["LPOP", "k", "0"]).await;
        conn.expect(b"*0\r\n").await;
        conn.send_command(&["LPOP", "k", "5"]).await;
        conn.expect(b"*1\r\n$1\r\na\r\n").await;
    }
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_items_and_lists_are_refused() {
    let config = usher::config::Config {
        value_bytes_max: 8,
        list_items_max: 2,
        ..test_config()
    };
    let running = start(config).await;
    let mut c = connect(running.addr, ProtocolVersion::RESP2).await;
    let refused = call(&mut c, &["RPUSH", "l", "short", "much-too-long"]).await;
    assert!(
        matches!(&refused, Err(text) if text.contains("value_bytes_max")),
        "{refused:?}"
    );
    assert_eq!(call(&mut c, &["EXISTS", "l"]).await, Ok(Value::Int(0)));
    assert_eq!(
        call(&mut c, &["RPUSH", "l", "a", "b"]).await,
        Ok(Value::Int(2))
    );
    assert_eq!(
        call(&mut c, &["LPUSH", "l", "c"]).await,
        Err("ERR list would exceed list_items_max (2)".into())
    );
    let refused = call(&mut c, &["LSET", "l", "0", "much-too-long"]).await;
    assert!(
        matches!(&refused, Err(text) if text.contains("value_bytes_max")),
        "{refused:?}"
    );
    assert_eq!(
        call(&mut c, &["LRANGE", "l", "0", "-1"]).await,
        Ok(bulks(&["a", "b"]))
    );
    stop(running).await;
}
