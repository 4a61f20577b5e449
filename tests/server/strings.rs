//! String commands over TCP through the `redis` crate, in RESP2 and RESP3:
//! MGET, MSET, MSETNX, SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX, APPEND,
//! STRLEN, SETRANGE, GETRANGE and INCRBYFLOAT, with Redis's replies, arity
//! errors, WRONGTYPE and the examples of Redis's manual pages.

use redis::aio::MultiplexedConnection;
use redis::{ProtocolVersion, Value};
use usher::server::Running;

use crate::support::redis::{bulk, call, error_text};
use crate::support::server::{start, stop, test_config};

/// A connection as the default user (no users file) speaking `protocol`.
async fn connect(server: &Running, protocol: ProtocolVersion) -> MultiplexedConnection {
    let addr = server.addr;
    crate::support::redis::connect(addr, protocol).await
}

/// The reply, which must not be an error.
async fn ok(conn: &mut MultiplexedConnection, words: &[&str]) -> Value {
    call(conn, words)
        .await
        .unwrap_or_else(|error| panic!("{words:?}: {error}"))
}

/// The error's full text as the server sent it.
async fn error(conn: &mut MultiplexedConnection, words: &[&str]) -> String {
    match call(conn, words).await {
        Ok(value) => panic!("{words:?} replied {value:?}, not an error"),
        Err(error) => error_text(&error),
    }
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

async fn with_each_protocol<F>(test: F)
where
    F: for<'a> Fn(
        &'a mut MultiplexedConnection,
        &'static str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>,
{
    let server = start(test_config()).await;
    for (protocol, prefix) in [
        (ProtocolVersion::RESP2, "r2"),
        (ProtocolVersion::RESP3, "r3"),
    ] {
        let mut conn = connect(&server, protocol).await;
        test(&mut conn, prefix).await;
    }
    stop(server).await.check_invariants();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mget_mset_msetnx_and_setnx() {
    with_each_protocol(|c, p| {
        Box::pin(async move {
            let (a, b, z) = (format!("{p}:a"), format!("{p}:b"), format!("{p}:z"));
            assert_eq!(ok(c, &["MSET", &a, "1", &b, "Hello"]).await, Value::Okay);
            ok(c, &["ZADD", &z, "1", "m"]).await;
            let reply = ok(c, &["MGET", &a, &b, "nosuch", &z]).await;
            let expected = vec![bulk("1"), bulk("Hello"), Value::Nil, Value::Nil];
            assert_eq!(reply, Value::Array(expected), "{p}");
            let n = format!("{p}:n");
            assert_eq!(ok(c, &["MSETNX", &n, "x", &a, "2"]).await, Value::Int(0));
            assert_eq!(ok(c, &["EXISTS", &n]).await, Value::Int(0));
            assert_eq!(
                ok(c, &["MSETNX", &n, "x", &format!("{p}:n2"), "y"]).await,
                Value::Int(1)
            );
            assert_eq!(ok(c, &["SETNX", &n, "again"]).await, Value::Int(0));
            assert_eq!(
                ok(c, &["SETNX", &format!("{p}:n3"), "v"]).await,
                Value::Int(1)
            );
            assert_eq!(
                error(c, &["MSET", &a, "1", &b]).await,
                "ERR wrong number of arguments for 'mset' command"
            );
            assert_eq!(
                error(c, &["MGET"]).await,
                "ERR wrong number of arguments for 'mget' command"
            );
            assert_eq!(
                error(c, &["SETNX", &a]).await,
                "ERR wrong number of arguments for 'setnx' command"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setex_getset_getdel_and_getex() {
    with_each_protocol(|c, p| {
        Box::pin(async move {
            let k = format!("{p}:k");
            assert_eq!(ok(c, &["SETEX", &k, "10", "Hello"]).await, Value::Okay);
            assert_eq!(ok(c, &["TTL", &k]).await, Value::Int(10));
            assert_eq!(ok(c, &["PSETEX", &k, "1500", "Hello"]).await, Value::Okay);
            assert!(matches!(ok(c, &["PTTL", &k]).await, Value::Int(1..=1500)));
            assert_eq!(
                error(c, &["SETEX", &k, "0", "v"]).await,
                "ERR invalid expire time in 'setex' command"
            );
            assert_eq!(ok(c, &["GETSET", &k, "World"]).await, bulk("Hello"));
            assert_eq!(ok(c, &["TTL", &k]).await, Value::Int(-1));
            assert_eq!(ok(c, &["GETEX", &k, "EX", "100"]).await, bulk("World"));
            assert_eq!(ok(c, &["TTL", &k]).await, Value::Int(100));
            assert_eq!(ok(c, &["GETEX", &k, "PERSIST"]).await, bulk("World"));
            assert_eq!(ok(c, &["TTL", &k]).await, Value::Int(-1));
            assert_eq!(ok(c, &["GETEX", "nosuch", "EX", "0"]).await, Value::Nil);
            assert_eq!(
                error(c, &["GETEX", &k, "EX", "0"]).await,
                "ERR invalid expire time in 'getex' command"
            );
            assert_eq!(
                error(c, &["GETEX", &k, "PERSIST", "EX", "1"]).await,
                "ERR syntax error"
            );
            assert_eq!(ok(c, &["GETDEL", &k]).await, bulk("World"));
            assert_eq!(ok(c, &["GETDEL", &k]).await, Value::Nil);
            let z = format!("{p}:z");
            ok(c, &["ZADD", &z, "1", "m"]).await;
            for words in [
                &["GETDEL", z.as_str()][..],
                &["GETEX", &z],
                &["GETSET", &z, "v"],
                &["APPEND", &z, "v"],
                &["STRLEN", &z],
                &["SETRANGE", &z, "0", "v"],
                &["GETRANGE", &z, "0", "1"],
                &["INCRBYFLOAT", &z, "1"],
            ] {
                assert_eq!(error(c, words).await, WRONGTYPE, "{words:?}");
            }
            assert_eq!(
                ok(c, &["TYPE", &z]).await,
                Value::SimpleString("zset".into())
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_strlen_setrange_and_getrange() {
    with_each_protocol(|c, p| {
        Box::pin(async move {
            let k = format!("{p}:k");
            assert_eq!(ok(c, &["APPEND", &k, "Hello"]).await, Value::Int(5));
            assert_eq!(ok(c, &["APPEND", &k, " World"]).await, Value::Int(11));
            assert_eq!(ok(c, &["STRLEN", &k]).await, Value::Int(11));
            assert_eq!(ok(c, &["STRLEN", "nosuch"]).await, Value::Int(0));
            assert_eq!(ok(c, &["SETRANGE", &k, "6", "Redis"]).await, Value::Int(11));
            assert_eq!(ok(c, &["GET", &k]).await, bulk("Hello Redis"));
            let padded = format!("{p}:padded");
            assert_eq!(
                ok(c, &["SETRANGE", &padded, "6", "Redis"]).await,
                Value::Int(11)
            );
            assert_eq!(
                ok(c, &["GET", &padded]).await,
                Value::BulkString(b"\0\0\0\0\0\0Redis".to_vec())
            );
            let s = format!("{p}:s");
            ok(c, &["SET", &s, "This is a string"]).await;
            for (start, end, expected) in [
                ("0", "3", "This"),
                ("-3", "-1", "ing"),
                ("0", "-1", "This is a string"),
                ("10", "100", "string"),
                ("-1", "-3", ""),
            ] {
                assert_eq!(ok(c, &["GETRANGE", &s, start, end]).await, bulk(expected));
            }
            // A counter is its decimal text to every string command.
            let n = format!("{p}:n");
            ok(c, &["SET", &n, "12345"]).await;
            assert_eq!(ok(c, &["GETRANGE", &n, "-2", "-1"]).await, bulk("45"));
            assert_eq!(ok(c, &["APPEND", &n, "6"]).await, Value::Int(6));
            assert_eq!(ok(c, &["INCR", &n]).await, Value::Int(123_457));
            assert_eq!(
                error(c, &["SETRANGE", &k, "-1", "x"]).await,
                "ERR offset is out of range"
            );
            assert_eq!(
                error(c, &["SETRANGE", &k, "536870912", "x"]).await,
                "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
            );
            assert_eq!(
                error(c, &["GETRANGE", &k, "a", "1"]).await,
                "ERR value is not an integer or out of range"
            );
            assert_eq!(
                error(c, &["APPEND", &k]).await,
                "ERR wrong number of arguments for 'append' command"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incrbyfloat_replies_redis_text() {
    with_each_protocol(|c, p| {
        Box::pin(async move {
            let k = format!("{p}:f");
            ok(c, &["SET", &k, "10.50"]).await;
            assert_eq!(ok(c, &["INCRBYFLOAT", &k, "0.1"]).await, bulk("10.6"));
            assert_eq!(ok(c, &["INCRBYFLOAT", &k, "-5"]).await, bulk("5.6"));
            ok(c, &["SET", &k, "5.0e3"]).await;
            assert_eq!(ok(c, &["INCRBYFLOAT", &k, "2.0e2"]).await, bulk("5200"));
            assert_eq!(ok(c, &["GET", &k]).await, bulk("5200"));
            assert_eq!(
                error(c, &["INCRBYFLOAT", &k, "inf"]).await,
                "ERR increment would produce NaN or Infinity"
            );
            assert_eq!(
                error(c, &["INCRBYFLOAT", &k, "x"]).await,
                "ERR value is not a valid float"
            );
        })
    })
    .await;
}
