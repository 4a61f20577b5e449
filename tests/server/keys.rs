//! Generic key commands over TCP through the `redis` crate, in RESP2 and
//! RESP3: KEYS (and its limit), RENAME, RENAMENX, COPY, TOUCH, RANDOMKEY,
//! EXPIRETIME, PEXPIRETIME, FLUSHDB and OBJECT, with Redis's replies and
//! errors; and their rows as COMMAND reports them.

use redis::aio::MultiplexedConnection;
use redis::{ProtocolVersion, Value};
use usher::server::Running;

use usher::config::Config;

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

async fn with_each_protocol<F>(config: Config, test: F)
where
    F: for<'a> Fn(
        &'a mut MultiplexedConnection,
        &'static str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>,
{
    let server = start(config).await;
    for (protocol, prefix) in [
        (ProtocolVersion::RESP2, "r2"),
        (ProtocolVersion::RESP3, "r3"),
    ] {
        let mut conn = connect(&server, protocol).await;
        test(&mut conn, prefix).await;
    }
    stop(server).await.check_invariants();
}

/// The keys of a KEYS reply, sorted.
fn sorted_keys(reply: Value) -> Vec<String> {
    let Value::Array(items) = reply else {
        panic!("KEYS replied {reply:?}");
    };
    let mut keys: Vec<String> = items
        .into_iter()
        .map(|item| match item {
            Value::BulkString(bytes) => String::from_utf8(bytes).expect("text"),
            other => panic!("a key that is not a string: {other:?}"),
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_its_limit() {
    let config = Config {
        keys_reply_max: 4,
        ..test_config()
    };
    with_each_protocol(config, |c, p| {
        Box::pin(async move {
            ok(c, &["FLUSHDB"]).await;
            let names = ["firstname", "lastname", "age"].map(|name| format!("{p}:{name}"));
            ok(
                c,
                &[
                    "MSET", &names[0], "Jack", &names[1], "Stuntman", &names[2], "35",
                ],
            )
            .await;
            let mut expected = vec![names[0].clone(), names[1].clone()];
            expected.sort();
            assert_eq!(sorted_keys(ok(c, &["KEYS", "*name*"]).await), expected);
            assert_eq!(
                sorted_keys(ok(c, &["KEYS", &format!("{p}:a??")]).await),
                vec![names[2].clone()]
            );
            assert_eq!(sorted_keys(ok(c, &["KEYS", "*"]).await).len(), 3);
            ok(c, &["MSET", "x1", "1", "x2", "2"]).await;
            let refused = error(c, &["KEYS", "*"]).await;
            assert!(refused.contains("keys_reply_max (4)"), "{refused}");
            assert_eq!(sorted_keys(ok(c, &["KEYS", "x*"]).await), vec!["x1", "x2"]);
            assert_eq!(
                error(c, &["KEYS"]).await,
                "ERR wrong number of arguments for 'keys' command"
            );
            assert_eq!(ok(c, &["FLUSHDB", "ASYNC"]).await, Value::Okay);
            assert_eq!(ok(c, &["DBSIZE"]).await, Value::Int(0));
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_keeps_the_ttl_and_renamenx_and_copy() {
    with_each_protocol(test_config(), |c, p| {
        Box::pin(async move {
            let (a, b, d) = (format!("{p}:a"), format!("{p}:b"), format!("{p}:d"));
            ok(c, &["SET", &a, "Hello", "EX", "100"]).await;
            assert_eq!(ok(c, &["RENAME", &a, &b]).await, Value::Okay);
            assert_eq!(ok(c, &["GET", &b]).await, bulk("Hello"));
            assert_eq!(ok(c, &["TTL", &b]).await, Value::Int(100));
            assert_eq!(ok(c, &["EXISTS", &a]).await, Value::Int(0));
            assert_eq!(error(c, &["RENAME", &a, &b]).await, "ERR no such key");
            assert_eq!(ok(c, &["RENAME", &b, &b]).await, Value::Okay);
            ok(c, &["SET", &a, "World"]).await;
            assert_eq!(ok(c, &["RENAMENX", &a, &b]).await, Value::Int(0));
            assert_eq!(ok(c, &["RENAMENX", &a, &d]).await, Value::Int(1));
            assert_eq!(ok(c, &["GET", &d]).await, bulk("World"));
            // COPY: the TTL comes along; REPLACE overwrites.
            let copy = format!("{p}:copy");
            assert_eq!(ok(c, &["COPY", &b, &copy]).await, Value::Int(1));
            assert_eq!(ok(c, &["TTL", &copy]).await, Value::Int(100));
            assert_eq!(ok(c, &["COPY", &d, &copy]).await, Value::Int(0));
            assert_eq!(
                ok(c, &["COPY", &d, &copy, "DB", "0", "REPLACE"]).await,
                Value::Int(1)
            );
            assert_eq!(ok(c, &["GET", &copy]).await, bulk("World"));
            assert_eq!(ok(c, &["TTL", &copy]).await, Value::Int(-1));
            assert_eq!(
                error(c, &["COPY", &d, &copy, "DB", "1"]).await,
                "ERR DB index is out of range"
            );
            assert_eq!(
                error(c, &["COPY", &d, &d]).await,
                "ERR source and destination objects are the same"
            );
            let z = format!("{p}:z");
            ok(c, &["ZADD", &z, "1", "m", "2", "n"]).await;
            assert_eq!(
                ok(c, &["COPY", &z, &format!("{p}:z2")]).await,
                Value::Int(1)
            );
            assert_eq!(ok(c, &["ZCARD", &format!("{p}:z2")]).await, Value::Int(2));
            assert_eq!(
                error(c, &["RENAME", &a]).await,
                "ERR wrong number of arguments for 'rename' command"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_randomkey_and_expiretime() {
    with_each_protocol(test_config(), |c, p| {
        Box::pin(async move {
            ok(c, &["FLUSHDB"]).await;
            assert_eq!(ok(c, &["RANDOMKEY"]).await, Value::Nil);
            let k = format!("{p}:k");
            ok(c, &["SET", &k, "v", "PXAT", "4000000000999"]).await;
            assert_eq!(ok(c, &["RANDOMKEY"]).await, bulk(&k));
            assert_eq!(ok(c, &["TOUCH", &k, &k, "nosuch"]).await, Value::Int(2));
            assert_eq!(ok(c, &["EXPIRETIME", &k]).await, Value::Int(4_000_000_001));
            assert_eq!(
                ok(c, &["PEXPIRETIME", &k]).await,
                Value::Int(4_000_000_000_999)
            );
            ok(c, &["PERSIST", &k]).await;
            assert_eq!(ok(c, &["EXPIRETIME", &k]).await, Value::Int(-1));
            assert_eq!(ok(c, &["PEXPIRETIME", "nosuch"]).await, Value::Int(-2));
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_subcommands() {
    with_each_protocol(test_config(), |c, p| {
        Box::pin(async move {
            let (i, e, r) = (format!("{p}:i"), format!("{p}:e"), format!("{p}:r"));
            ok(c, &["SET", &i, "123"]).await;
            ok(c, &["SET", &e, "short"]).await;
            ok(c, &["SET", &r, &"x".repeat(100)]).await;
            for (key, encoding) in [(&i, "int"), (&e, "embstr"), (&r, "raw")] {
                assert_eq!(ok(c, &["OBJECT", "ENCODING", key]).await, bulk(encoding));
            }
            assert_eq!(ok(c, &["OBJECT", "ENCODING", "nosuch"]).await, Value::Nil);
            assert_eq!(ok(c, &["OBJECT", "IDLETIME", &e]).await, Value::Int(0));
            assert_eq!(ok(c, &["OBJECT", "REFCOUNT", &e]).await, Value::Int(1));
            let freq = error(c, &["OBJECT", "FREQ", &e]).await;
            assert!(
                freq.starts_with("ERR An LFU maxmemory policy is not selected"),
                "{freq}"
            );
            let Value::Array(help) = ok(c, &["OBJECT", "HELP"]).await else {
                panic!("OBJECT HELP is not an array");
            };
            assert_eq!(
                help.first(),
                Some(&Value::SimpleString(
                    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into()
                ))
            );
            assert_eq!(
                error(c, &["OBJECT", "NOPE", &e]).await,
                "ERR unknown subcommand 'NOPE'. Try OBJECT HELP."
            );
            assert_eq!(
                error(c, &["OBJECT", "ENCODING"]).await,
                "ERR wrong number of arguments for 'object|encoding' command"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_reports_the_new_rows() {
    let server = start(test_config()).await;
    let mut c = connect(&server, ProtocolVersion::RESP2).await;
    let Value::Array(rows) = ok(
        &mut c,
        &["COMMAND", "INFO", "MSET", "RENAME", "OBJECT", "KEYS"],
    )
    .await
    else {
        panic!("COMMAND INFO is not an array");
    };
    let keys_of = |row: &Value| -> (i64, i64, i64) {
        let Value::Array(fields) = row else {
            panic!("a row that is not an array: {row:?}");
        };
        let int = |at: usize| match &fields[at] {
            Value::Int(value) => *value,
            other => panic!("not an integer: {other:?}"),
        };
        (int(3), int(4), int(5))
    };
    // Redis's first key, last key and step for each.
    let positions: Vec<_> = rows.iter().map(keys_of).collect();
    assert_eq!(positions, vec![(1, -1, 2), (1, 2, 1), (2, 2, 1), (0, 0, 0)]);
    drop(c);
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_onto_a_waited_key_wakes_its_waiter() {
    let server = start(test_config()).await;
    let mut waiter = connect(&server, ProtocolVersion::RESP3).await;
    let mut writer = connect(&server, ProtocolVersion::RESP2).await;
    let popped = tokio::spawn(async move { call(&mut waiter, &["BZPOPMIN", "target", "5"]).await });
    // Give the BZPOPMIN time to park (it waits up to 5 s either way).
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    ok(&mut writer, &["ZADD", "source", "1.5", "m"]).await;
    assert_eq!(
        ok(&mut writer, &["RENAME", "source", "target"]).await,
        Value::Okay
    );
    let reply = popped.await.expect("the waiter runs").expect("a reply");
    let Value::Array(items) = reply else {
        panic!("BZPOPMIN replied {reply:?}");
    };
    assert_eq!(items[..2], [bulk("target"), bulk("m")]);
    assert_eq!(
        ok(&mut writer, &["EXISTS", "source", "target"]).await,
        Value::Int(0)
    );
    drop(writer);
    stop(server).await.check_invariants();
}
