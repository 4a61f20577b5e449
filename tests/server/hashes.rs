//! Hashes over TCP with the `redis` crate, in RESP2 and RESP3: reply
//! shapes (HGETALL a map in RESP3, HRANDFIELD WITHVALUES pairs in RESP3,
//! HINCRBYFLOAT a bulk string), Redis's error texts, arity, WRONGTYPE,
//! missing keys, negative counts, overflow and many pairs in one HSET.

use redis::{ProtocolVersion, Value};

use crate::support::redis::{bulk, command as redis_command};
use crate::support::server::{start, stop, test_config};

async fn connect(
    addr: std::net::SocketAddr,
    protocol: ProtocolVersion,
) -> redis::aio::MultiplexedConnection {
    crate::support::redis::connect(addr, protocol).await
}

async fn value(conn: &mut redis::aio::MultiplexedConnection, words: &[&str]) -> Value {
    redis_command(words)
        .query_async(conn)
        .await
        .unwrap_or_else(|error| panic!("{words:?}: {error}"))
}

async fn error(conn: &mut redis::aio::MultiplexedConnection, words: &[&str]) -> String {
    let command = redis_command(words);
    let result: redis::RedisResult<Value> = command.query_async(conn).await;
    match result {
        Err(error) => error.to_string(),
        Ok(value) => panic!("{words:?} answered {value:?}, not an error"),
    }
}

fn texts(value: &Value) -> Vec<String> {
    let Value::Array(items) = value else {
        panic!("expected an array, got {value:?}");
    };
    let mut texts: Vec<String> = items
        .iter()
        .map(|item| match item {
            Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            other => panic!("expected a bulk string, got {other:?}"),
        })
        .collect();
    texts.sort();
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_commands_in_resp2_and_resp3() {
    let running = start(test_config()).await;
    for protocol in [ProtocolVersion::RESP2, ProtocolVersion::RESP3] {
        let resp3 = protocol == ProtocolVersion::RESP3;
        let mut c = connect(running.addr, protocol).await;
        let key = if resp3 { "h3" } else { "h2" };
        assert_eq!(
            value(&mut c, &["HSET", key, "a", "1", "b", "2.5"]).await,
            Value::Int(2)
        );
        assert_eq!(value(&mut c, &["HGET", key, "a"]).await, bulk("1"));
        assert_eq!(value(&mut c, &["HGET", key, "nope"]).await, Value::Nil);
        assert_eq!(value(&mut c, &["HGET", "missing", "a"]).await, Value::Nil);
        assert_eq!(
            value(&mut c, &["HMGET", key, "a", "nope"]).await,
            Value::Array(vec![bulk("1"), Value::Nil])
        );
        // HGETALL: a map in RESP3, a flat array in RESP2.
        let all = value(&mut c, &["HGETALL", key]).await;
        if resp3 {
            let Value::Map(pairs) = &all else {
                panic!("RESP3 HGETALL is a map: {all:?}");
            };
            let mut pairs = pairs.clone();
            pairs.sort_by_key(|(field, _)| format!("{field:?}"));
            assert_eq!(
                pairs,
                vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("2.5"))]
            );
        } else {
            assert_eq!(texts(&all), ["1", "2.5", "a", "b"]);
        }
        let empty = value(&mut c, &["HGETALL", "missing"]).await;
        assert!(
            matches!(&empty, Value::Map(p) if p.is_empty() && resp3)
                || matches!(&empty, Value::Array(a) if a.is_empty() && !resp3),
            "{empty:?}"
        );
        // HINCRBYFLOAT replies a bulk string in both protocols.
        assert_eq!(
            value(&mut c, &["HINCRBYFLOAT", key, "b", "0.5"]).await,
            bulk("3")
        );
        assert_eq!(
            value(&mut c, &["HINCRBYFLOAT", key, "f", "0.1"]).await,
            bulk("0.1")
        );
        assert_eq!(
            value(&mut c, &["HINCRBYFLOAT", key, "f", "0.2"]).await,
            bulk("0.3")
        );
        assert_eq!(
            value(&mut c, &["HINCRBY", key, "b", "-4"]).await,
            Value::Int(-1)
        );
        // HRANDFIELD WITHVALUES: pairs in RESP3, flat in RESP2.
        let pairs = value(&mut c, &["HRANDFIELD", key, "-4", "WITHVALUES"]).await;
        let Value::Array(items) = &pairs else {
            panic!("HRANDFIELD is an array: {pairs:?}");
        };
        if resp3 {
            assert_eq!(items.len(), 4);
            for item in items {
                assert!(
                    matches!(item, Value::Array(pair) if pair.len() == 2),
                    "{item:?}"
                );
            }
        } else {
            assert_eq!(items.len(), 8);
            assert!(items
                .iter()
                .all(|item| matches!(item, Value::BulkString(_))));
        }
        assert_eq!(
            texts(&value(&mut c, &["HRANDFIELD", key, "10"]).await),
            ["a", "b", "f"]
        );
        assert_eq!(value(&mut c, &["HRANDFIELD", "missing"]).await, Value::Nil);
        assert_eq!(
            value(&mut c, &["HRANDFIELD", "missing", "-2", "WITHVALUES"]).await,
            Value::Array(vec![])
        );
        let scan = value(&mut c, &["HSCAN", key, "0"]).await;
        let Value::Array(parts) = &scan else {
            panic!("HSCAN is an array: {scan:?}");
        };
        assert_eq!(parts[0], bulk("0"));
        assert_eq!(texts(&parts[1]).len(), 6);
        assert_eq!(
            value(&mut c, &["HDEL", key, "a", "b", "f", "x"]).await,
            Value::Int(3)
        );
        assert_eq!(value(&mut c, &["EXISTS", key]).await, Value::Int(0));
    }
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_errors_over_the_wire() {
    let running = start(test_config()).await;
    for protocol in [ProtocolVersion::RESP2, ProtocolVersion::RESP3] {
        let mut c = connect(running.addr, protocol).await;
        value(&mut c, &["SET", "s", "x"]).await;
        value(
            &mut c,
            &["HSET", "h", "n", "9223372036854775807", "t", "abc"],
        )
        .await;
        for (words, expected) in [
            (&["HSET", "s", "a", "1"][..], "WRONGTYPE"),
            (&["HGETALL", "s"], "WRONGTYPE"),
            (&["HRANDFIELD", "s", "-1"], "WRONGTYPE"),
            (
                &["HSET", "h", "a"],
                "wrong number of arguments for 'hset' command",
            ),
            (
                &["HSET", "h", "a", "1", "b"],
                "wrong number of arguments for 'hset' command",
            ),
            (
                &["HMSET", "h", "a", "1", "b"],
                "wrong number of arguments for 'hmset' command",
            ),
            (
                &["HGET", "h"],
                "wrong number of arguments for 'hget' command",
            ),
            (
                &["HLEN", "h", "x"],
                "wrong number of arguments for 'hlen' command",
            ),
            (
                &["HINCRBY", "h", "n", "1"],
                "increment or decrement would overflow",
            ),
            (&["HINCRBY", "h", "t", "1"], "hash value is not an integer"),
            (
                &["HINCRBY", "h", "n", "x"],
                "value is not an integer or out of range",
            ),
            (
                &["HINCRBYFLOAT", "h", "t", "1"],
                "hash value is not a float",
            ),
            (
                &["HINCRBYFLOAT", "h", "t", "inf"],
                "value is NaN or Infinity",
            ),
            (&["HRANDFIELD", "h", "1", "WITHVALUE"], "syntax error"),
            (&["HSCAN", "h", "x"], "invalid cursor"),
        ] {
            let text = error(&mut c, words).await;
            assert!(text.contains(expected), "{protocol:?} {words:?}: {text}");
        }
        // Nothing changed.
        assert_eq!(value(&mut c, &["HLEN", "h"]).await, Value::Int(2));
        assert_eq!(
            value(&mut c, &["HGET", "h", "n"]).await,
            bulk("9223372036854775807")
        );
        value(&mut c, &["DEL", "h", "s"]).await;
    }
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hset_with_many_pairs_and_a_large_hash() {
    let running = start(test_config()).await;
    let mut c = connect(running.addr, ProtocolVersion::RESP3).await;
    let mut command = redis::cmd("HSET");
    command.arg("big");
    for i in 0..5000 {
        command.arg(format!("field-{i}")).arg(i);
    }
    let added: i64 = command.query_async(&mut c).await.expect("HSET");
    assert_eq!(added, 5000);
    assert_eq!(value(&mut c, &["HLEN", "big"]).await, Value::Int(5000));
    assert_eq!(
        value(&mut c, &["HGET", "big", "field-4321"]).await,
        bulk("4321")
    );
    assert_eq!(
        value(&mut c, &["HINCRBY", "big", "field-127", "1"]).await,
        Value::Int(128)
    );
    let Value::Array(draws) = value(&mut c, &["HRANDFIELD", "big", "-3000"]).await else {
        panic!("an array");
    };
    assert_eq!(draws.len(), 3000);
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let Value::Array(parts) = value(&mut c, &["HSCAN", "big", &cursor, "COUNT", "500"]).await
        else {
            panic!("HSCAN is an array");
        };
        let Value::Array(items) = &parts[1] else {
            panic!("items");
        };
        for pair in items.chunks(2) {
            seen.insert(format!("{:?}", pair[0]));
        }
        let Value::BulkString(next) = &parts[0] else {
            panic!("cursor");
        };
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 5000);
    assert_eq!(
        value(&mut c, &["TYPE", "big"]).await,
        Value::SimpleString("hash".into())
    );
    assert_eq!(value(&mut c, &["DEL", "big"]).await, Value::Int(1));
    stop(running).await;
}

/// The binary protocol sends HRANDFIELD WITHVALUES flat (`field, value,
/// ...`, as RESP2 does), and HGETALL as a map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_protocol_pairs_and_maps() {
    use usher::client::{args, Client};
    use usher::protocol::Reply;
    let running = start(test_config()).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    let reply = client
        .call(&args(["HSET", "h", "a", "1", "b", "x"]))
        .await
        .expect("call");
    assert_eq!(reply, Reply::Int(2));
    let reply = client
        .call(&args(["HRANDFIELD", "h", "-3", "WITHVALUES"]))
        .await
        .expect("call");
    let Reply::Array(items) = reply else {
        panic!("an array: {reply:?}");
    };
    assert_eq!(items.len(), 6);
    for pair in items.chunks(2) {
        let expected: &[u8] = match pair[0].bulk_bytes() {
            Some(b"a") => b"1",
            Some(b"b") => b"x",
            _ => panic!("a field: {pair:?}"),
        };
        assert_eq!(pair[1].bulk_bytes(), Some(expected), "{pair:?}");
    }
    let reply = client.call(&args(["HGETALL", "h"])).await.expect("call");
    assert!(
        matches!(&reply, Reply::Map(pairs) if pairs.len() == 2),
        "{reply:?}"
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_values_are_refused_like_string_values() {
    let config = usher::config::Config {
        value_bytes_max: 8,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = connect(running.addr, ProtocolVersion::RESP2).await;
    for words in [
        &["HSET", "h", "f", "much-too-long"][..],
        &["HSET", "h", "a", "ok", "f", "much-too-long"],
        &["HSETNX", "h", "f", "much-too-long"],
        &["HMSET", "h", "f", "much-too-long"],
    ] {
        let refused = error(&mut conn, words).await;
        assert!(refused.contains("value_bytes_max"), "{words:?}: {refused}");
    }
    assert_eq!(value(&mut conn, &["EXISTS", "h"]).await, Value::Int(0));
    assert_eq!(
        value(&mut conn, &["HSET", "h", "f", "short"]).await,
        Value::Int(1)
    );
    stop(running).await;
}
