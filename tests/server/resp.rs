//! RESP over real TCP: raw bytes in, byte-exact replies out (multibulk and
//! inline requests, pipelining, RESP3 after `HELLO 3`, QUIT, malformed
//! input), and the `redis` crate as an unmodified third-party client.

use redis::AsyncCommands;

use crate::support::resp::Resp;
use crate::support::server::{start, stop, test_config, RespConn, TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multibulk_and_inline_replies_are_byte_exact() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;

    conn.send(b"PING\r\n").await;
    conn.expect(b"+PONG\r\n").await;
    conn.send(b"*1\r\n$4\r\nPING\r\n").await;
    conn.expect(b"+PONG\r\n").await;
    conn.send(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$2\r\n10\r\n")
        .await;
    conn.expect(b"+OK\r\n").await;
    conn.send(b"GET a\r\n").await;
    conn.expect(b"$2\r\n10\r\n").await;
    conn.send(b"INCR a\r\n").await;
    conn.expect(b":11\r\n").await;
    conn.send(b"*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n").await;
    conn.expect(b"$-1\r\n").await;
    conn.send(b"INCRBOUND coupons 1 MAX 1\r\n").await;
    conn.expect(b"*2\r\n:1\r\n:1\r\n").await;
    conn.send(b"INCRBOUND coupons 1 MAX 1\r\n").await;
    conn.expect(b"*2\r\n:1\r\n:0\r\n").await;
    conn.send(b"DEL a missing\r\n").await;
    conn.expect(b":1\r\n").await;
    conn.send(b"ECHO \"two words\\n\"\r\n").await;
    conn.expect(b"$10\r\ntwo words\n\r\n").await;
    // Inline commands end at LF alone too, as in Redis.
    conn.send(b"EXISTS coupons\n").await;
    conn.expect(b":1\r\n").await;
    // Empty lines and empty multibulk frames are skipped.
    conn.send(b"\r\n\r\n*0\r\nPING\r\n").await;
    conn.expect(b"+PONG\r\n").await;
    // Binary-safe values through multibulk.
    conn.send(b"*3\r\n$3\r\nSET\r\n$3\r\nbin\r\n$4\r\n\r\n\x00\xff\r\n")
        .await;
    conn.expect(b"+OK\r\n").await;
    conn.send(b"GET bin\r\n").await;
    conn.expect(b"$4\r\n\r\n\x00\xff\r\n").await;

    match conn.call(&["NOSUCHCOMMAND", "x"]).await {
        Resp::Error(text) => assert!(text.starts_with("ERR unknown command"), "{text}"),
        other => panic!("unknown command replied {other:?}"),
    }
    conn.send(b"GET\r\n").await;
    conn.expect(b"-ERR wrong number of arguments for 'get' command\r\n")
        .await;
    conn.send(b"INCR coupons notanumber\r\n").await;
    conn.expect(b"-ERR wrong number of arguments for 'incr' command\r\n")
        .await;
    conn.send(b"INCRBY coupons notanumber\r\n").await;
    conn.expect(b"-ERR value is not an integer or out of range\r\n")
        .await;
    // Still open and in step after error replies.
    conn.send(b"GET coupons\r\n").await;
    conn.expect(b"$1\r\n1\r\n").await;
    drop(conn);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_in_one_write_answer_in_order() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for i in 1..=500 {
        request.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
        expected.extend_from_slice(format!(":{i}\r\n").as_bytes());
        // Mix inline requests and connection-level commands into the batch.
        if i % 100 == 0 {
            request.extend_from_slice(format!("SET k{i} v{i}\r\nGET k{i}\r\nPING\r\n").as_bytes());
            expected.extend_from_slice(
                format!("+OK\r\n${}\r\nv{i}\r\n+PONG\r\n", format!("v{i}").len()).as_bytes(),
            );
        }
    }
    conn.send(&request).await;
    conn.expect(&expected).await;
    drop(conn);
    stop(running).await;
}

/// A client that sends its requests and then closes its side (as `nc` or a
/// script piping a file does) still gets every reply, with more requests
/// than one round serves (`pipeline_requests_max`), and the server closes
/// once it has answered; a frame cut short by the close is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_sent_before_a_half_close_are_all_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = usher::config::Config {
        pipeline_requests_max: 7,
        ..test_config()
    };
    let running = start(config).await;
    let mut stream = tokio::net::TcpStream::connect(running.addr)
        .await
        .expect("connect");
    let mut request = b"INCR n\r\n".repeat(100);
    request.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r"); // cut short
    stream.write_all(&request).await.expect("send");
    stream.shutdown().await.expect("half-close");
    let mut replies = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut replies))
        .await
        .expect("the server closes after answering")
        .expect("read");
    let expected: Vec<u8> = (1..=100)
        .flat_map(|i| format!(":{i}\r\n").into_bytes())
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&replies),
        String::from_utf8_lossy(&expected)
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_split_byte_by_byte_is_reassembled() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    for byte in b"*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$5\r\nvalue\r\nGET split\r\n" {
        conn.send(std::slice::from_ref(byte)).await;
    }
    conn.expect(b"+OK\r\n$5\r\nvalue\r\n").await;
    drop(conn);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_3_switches_to_resp3() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;

    // RESP2 first.
    conn.send(b"CONFIG GET key_bytes_max\r\n").await;
    conn.expect(b"*2\r\n$13\r\nkey_bytes_max\r\n$4\r\n4096\r\n")
        .await;

    conn.send(b"HELLO 3\r\n").await;
    let hello = conn.read().await;
    assert!(matches!(hello, Resp::Map(_)), "HELLO 3 replied {hello:?}");
    assert_eq!(hello.map_get("proto"), Some(&Resp::Int(3)));
    assert_eq!(hello.map_get("server"), Some(&Resp::bulk("usher")));

    conn.send(b"GET missing\r\n").await;
    conn.expect(b"_\r\n").await;
    conn.send(b"CONFIG GET key_bytes_max\r\n").await;
    conn.expect(b"%1\r\n$13\r\nkey_bytes_max\r\n$4\r\n4096\r\n")
        .await;
    conn.send(b"INCR n\r\n").await;
    conn.expect(b":1\r\n").await;

    // HELLO with a bad version is refused and changes nothing.
    conn.send(b"HELLO 4\r\n").await;
    conn.expect(b"-NOPROTO unsupported protocol version\r\n")
        .await;
    conn.send(b"GET missing\r\n").await;
    conn.expect(b"_\r\n").await;

    // A switch in the middle of a pipeline applies from the next request.
    conn.send(b"HELLO 2\r\nGET missing\r\nHELLO 3\r\nGET missing\r\n")
        .await;
    assert!(matches!(conn.read().await, Resp::Array(_)));
    conn.expect(b"$-1\r\n").await;
    assert!(matches!(conn.read().await, Resp::Map(_)));
    conn.expect(b"_\r\n").await;

    // And back to RESP2: the HELLO reply itself is a flat array.
    conn.send(b"HELLO 2\r\n").await;
    let hello = conn.read().await;
    assert!(matches!(hello, Resp::Array(_)), "HELLO 2 replied {hello:?}");
    assert_eq!(hello.map_get("proto"), Some(&Resp::Int(2)));
    conn.send(b"GET missing\r\n").await;
    conn.expect(b"$-1\r\n").await;
    drop(conn);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_replies_ok_then_closes() {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    // Requests after QUIT in the same write are not run.
    conn.send(b"SET before 1\r\nQUIT\r\nSET after 1\r\n").await;
    conn.expect(b"+OK\r\n+OK\r\n").await;
    conn.expect_closed().await;

    let mut check = RespConn::connect(running.addr).await;
    check.send(b"EXISTS before after\r\n").await;
    check.expect(b":1\r\n").await;
    drop(check);
    stop(running).await;
}

/// Sends a good request followed by `bad` in one write; expects `+OK`, then
/// exactly `error`, then close, and no state change from `bad` or anything
/// after it.
async fn protocol_error_closes(bad: &[u8], error: &[u8]) {
    let running = start(test_config()).await;
    let mut conn = RespConn::connect(running.addr).await;
    let mut request = b"SET before 1\r\n".to_vec();
    request.extend_from_slice(bad);
    conn.send(&request).await;
    conn.expect(b"+OK\r\n").await;
    conn.expect(error).await;
    conn.expect_closed().await;

    let mut check = RespConn::connect(running.addr).await;
    check.send(b"DBSIZE\r\nGET before\r\n").await;
    check.expect(b":1\r\n$1\r\n1\r\n").await;
    drop(check);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bulk_length_is_a_protocol_error() {
    protocol_error_closes(
        b"*3\r\n$3\r\nSET\r\n$x\r\nk\r\n$1\r\nv\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    )
    .await;
    protocol_error_closes(
        b"*3\r\n$3\r\nSET\r\n$-5\r\nk\r\n$1\r\nv\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_malformed_requests_are_protocol_errors() {
    protocol_error_closes(
        b"*x\r\n$3\r\nSET\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    )
    .await;
    protocol_error_closes(
        b"*3\r\n$3\r\nSET\r\n:1\r\n$1\r\nv\r\n",
        b"-ERR Protocol error: expected '$', got ':'\r\n",
    )
    .await;
    protocol_error_closes(
        b"*3\r\n$3\r\nSET\r\n$1\r\nkXX$1\r\nv\r\n",
        b"-ERR Protocol error: bulk string not terminated by CRLF\r\n",
    )
    .await;
    protocol_error_closes(
        b"SET \"unterminated value\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_refused_before_they_arrive() {
    let config = usher::config::Config {
        frame_bytes_max: 1024,
        inline_bytes_max: 64,
        ..test_config()
    };
    let running = start(config).await;
    // A bulk length beyond frame_bytes_max is refused from the header alone.
    let mut conn = RespConn::connect(running.addr).await;
    conn.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n")
        .await;
    conn.expect(b"-ERR Protocol error: request larger than frame_bytes_max (1024 bytes)\r\n")
        .await;
    conn.expect_closed().await;
    // An inline line longer than inline_bytes_max, without its newline yet.
    let mut conn = RespConn::connect(running.addr).await;
    conn.send(&[b'x'; 100]).await;
    conn.expect(b"-ERR Protocol error: too big inline request\r\n")
        .await;
    conn.expect_closed().await;

    let mut check = RespConn::connect(running.addr).await;
    check.send(b"DBSIZE\r\n").await;
    check.expect(b":0\r\n").await;
    drop(check);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_per_request_errors() {
    let config = usher::config::Config {
        key_bytes_max: 8,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    conn.send(b"SET ninebytes v\r\nSET eight888 v\r\n").await;
    conn.expect(
        b"-ERR key length in bytes (key_bytes_max) exceeds the configured limit of 8\r\n+OK\r\n",
    )
    .await;
    conn.send(b"DBSIZE\r\n").await;
    conn.expect(b":1\r\n").await;
    drop(conn);
    stop(running).await;
}

// --- the `redis` crate as a third-party client ---

async fn redis_connection(addr: std::net::SocketAddr) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://{addr}/")).expect("redis URL");
    tokio::time::timeout(TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .expect("redis connects in time")
        .expect("redis connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_commands() {
    let running = start(test_config()).await;
    let mut con = redis_connection(running.addr).await;

    let () = con.set("name", "usher").await.expect("SET");
    let name: String = con.get("name").await.expect("GET");
    assert_eq!(name, "usher");
    let missing: Option<String> = con.get("missing").await.expect("GET missing");
    assert_eq!(missing, None);

    let n: i64 = con.incr("n", 5).await.expect("INCRBY");
    assert_eq!(n, 5);
    let n: i64 = con.incr("n", 1).await.expect("INCRBY");
    assert_eq!(n, 6);
    let n: i64 = con.decr("n", 2).await.expect("DECRBY");
    assert_eq!(n, 4);

    let set: bool = con.expire("name", 100).await.expect("EXPIRE");
    assert!(set);
    let ttl: i64 = con.ttl("name").await.expect("TTL");
    assert!((99..=100).contains(&ttl), "TTL {ttl}");
    let ttl: i64 = con.ttl("n").await.expect("TTL");
    assert_eq!(ttl, -1);

    let deleted: i64 = con.del(&["n", "missing"]).await.expect("DEL");
    assert_eq!(deleted, 1);
    let exists: bool = con.exists("n").await.expect("EXISTS");
    assert!(!exists);

    // INCRBOUND through the generic command API.
    let mut granted = 0;
    for _ in 0..5 {
        let (value, applied): (i64, i64) = redis::cmd("INCRBOUND")
            .arg("coupons")
            .arg(1)
            .arg("MAX")
            .arg(3)
            .query_async(&mut con)
            .await
            .expect("INCRBOUND");
        granted += applied;
        assert_eq!(value, granted);
    }
    assert_eq!(granted, 3);

    // A server error is a typed error on the client side.
    let error = redis::cmd("INCR")
        .arg("name")
        .query_async::<i64>(&mut con)
        .await
        .expect_err("INCR on text fails");
    assert!(
        error.to_string().contains("not an integer"),
        "unexpected error {error}"
    );

    drop(con);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_pipeline_and_scan() {
    let running = start(test_config()).await;
    let mut con = redis_connection(running.addr).await;

    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.set(format!("item:{i}"), i).ignore();
    }
    pipe.set("other", "x").ignore();
    pipe.incr("item:7", 100);
    pipe.get("item:7");
    pipe.cmd("DBSIZE");
    let (incremented, value, size): (i64, String, i64) =
        pipe.query_async(&mut con).await.expect("pipeline");
    assert_eq!((incremented, value.as_str(), size), (107, "107", 301));

    // SCAN with MATCH across many cursor rounds finds every key once.
    let mut keys: Vec<String> = Vec::new();
    {
        let mut iter: redis::AsyncIter<String> = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg("item:*")
            .arg("COUNT")
            .arg(10)
            .clone()
            .iter_async(&mut con)
            .await
            .expect("SCAN");
        while let Some(key) = tokio::time::timeout(TIMEOUT, iter.next_item())
            .await
            .expect("SCAN step in time")
        {
            keys.push(key);
        }
    }
    keys.sort();
    let mut expected: Vec<String> = (0..300).map(|i| format!("item:{i}")).collect();
    expected.sort();
    assert_eq!(keys, expected);

    // The typed helper too.
    let mut all: Vec<String> = Vec::new();
    {
        let mut iter = con.scan::<String>().await.expect("SCAN");
        while let Some(key) = iter.next_item().await {
            all.push(key);
        }
    }
    assert_eq!(all.len(), 301);

    drop(con);
    let state = stop(running).await;
    assert_eq!(state.keyspace.len(), 301);
}
