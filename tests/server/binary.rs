//! The binary protocol v1 over real TCP: commands through
//! `usher::client::Client`, pipelining, error codes, and malformed frames
//! sent as raw bytes.

use bytes::{BufMut, BytesMut};
use usher::client::{args, Client};
use usher::protocol::{binary, ErrorCode, Reply};

use crate::support::server::{request_frame, start, stop, test_config, BinaryConn, TIMEOUT};

fn bulk(text: &str) -> Reply {
    Reply::Bulk(bytes::Bytes::copy_from_slice(text.as_bytes()))
}

fn pair(value: i64, applied: i64) -> Reply {
    Reply::Array(vec![Reply::Int(value), Reply::Int(applied)])
}

fn error_code(reply: &Reply) -> ErrorCode {
    match reply {
        Reply::Error(error) => error.code,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

async fn call(client: &mut Client, words: &[&str]) -> Reply {
    tokio::time::timeout(TIMEOUT, client.call(&args(words.iter().copied())))
        .await
        .expect("reply in time")
        .expect("call")
}

async fn client(running: &usher::server::Running) -> Client {
    Client::connect(running.addr).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_counters_and_ttl() {
    let running = start(test_config()).await;
    let mut c = client(&running).await;

    assert_eq!(call(&mut c, &["PING"]).await, Reply::simple("PONG"));
    assert_eq!(call(&mut c, &["SET", "greeting", "hello"]).await, Reply::OK);
    assert_eq!(call(&mut c, &["GET", "greeting"]).await, bulk("hello"));
    assert_eq!(call(&mut c, &["GET", "missing"]).await, Reply::Nil);

    assert_eq!(call(&mut c, &["INCR", "n"]).await, Reply::Int(1));
    assert_eq!(call(&mut c, &["INCRBY", "n", "41"]).await, Reply::Int(42));
    assert_eq!(call(&mut c, &["GET", "n"]).await, bulk("42"));

    // INCRBOUND: applied while within the bounds, refused unchanged after.
    assert_eq!(
        call(&mut c, &["INCRBOUND", "seats", "1", "MAX", "2"]).await,
        pair(1, 1)
    );
    assert_eq!(
        call(&mut c, &["INCRBOUND", "seats", "1", "MAX", "2"]).await,
        pair(2, 1)
    );
    assert_eq!(
        call(&mut c, &["INCRBOUND", "seats", "1", "MAX", "2"]).await,
        pair(2, 0)
    );
    assert_eq!(
        call(&mut c, &["INCRBOUND", "seats", "-5", "MIN", "0"]).await,
        pair(2, 0)
    );
    assert_eq!(call(&mut c, &["GET", "seats"]).await, bulk("2"));

    // TTL: -2 for a missing key, -1 without expiry, then the set value.
    assert_eq!(call(&mut c, &["TTL", "nothing"]).await, Reply::Int(-2));
    assert_eq!(call(&mut c, &["TTL", "greeting"]).await, Reply::Int(-1));
    assert_eq!(
        call(&mut c, &["EXPIRE", "greeting", "100"]).await,
        Reply::Int(1)
    );
    match call(&mut c, &["TTL", "greeting"]).await {
        // The real clock moves a little between the two requests.
        Reply::Int(ttl) => assert!((99..=100).contains(&ttl), "TTL {ttl}"),
        other => panic!("TTL replied {other:?}"),
    }
    assert_eq!(
        call(&mut c, &["EXPIRE", "nothing", "100"]).await,
        Reply::Int(0)
    );

    drop(c);
    let state = stop(running).await;
    state.check_invariants();
    assert_eq!(state.keyspace.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_integer_arguments() {
    let running = start(test_config()).await;
    let mut c = client(&running).await;
    let command = vec![
        usher::protocol::Arg::Bytes("INCRBY".into()),
        usher::protocol::Arg::Bytes("k".into()),
        usher::protocol::Arg::Int(-7),
    ];
    assert_eq!(c.call(&command).await.expect("call"), Reply::Int(-7));
    drop(c);
    stop(running).await;
}

async fn pipeline_keeps_order(pipeline_requests_max: usize) {
    let config = usher::config::Config {
        pipeline_requests_max,
        ..test_config()
    };
    let running = start(config).await;
    let mut c = client(&running).await;
    let mut commands = Vec::new();
    for i in 0..1000 {
        commands.push(match i % 3 {
            0 => args(["INCR", "counter"]),
            1 => args(["SET".to_string(), format!("key:{i}"), format!("value:{i}")]),
            _ => args(["GET".to_string(), format!("key:{}", i - 1)]),
        });
    }
    // `Client::pipeline` fails with `OutOfOrder` if any reply carries
    // another request's id.
    let replies = tokio::time::timeout(TIMEOUT, c.pipeline(&commands))
        .await
        .expect("replies in time")
        .expect("pipeline");
    assert_eq!(replies.len(), 1000);
    for (i, reply) in replies.iter().enumerate() {
        let expected = match i % 3 {
            0 => Reply::Int(i as i64 / 3 + 1),
            1 => Reply::OK,
            _ => bulk(&format!("value:{}", i - 1)),
        };
        assert_eq!(*reply, expected, "reply {i}");
    }
    // The connection is still in step after the pipeline.
    assert_eq!(call(&mut c, &["GET", "counter"]).await, bulk("334"));
    drop(c);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_of_1000_keeps_order_and_ids() {
    pipeline_keeps_order(1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_longer_than_one_round_keeps_order() {
    // 1000 requests in rounds of 7 exercise the "round full" path.
    pipeline_keeps_order(7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_carry_their_codes() {
    let config = usher::config::Config {
        key_bytes_max: 16,
        value_bytes_max: 32,
        ..test_config()
    };
    let running = start(config).await;
    let mut c = client(&running).await;
    assert_eq!(call(&mut c, &["SET", "text", "abc"]).await, Reply::OK);

    let cases: &[(&[&str], ErrorCode)] = &[
        (&["NOSUCHCOMMAND", "x"], ErrorCode::UnknownCommand),
        (&["GET"], ErrorCode::WrongArity),
        (&["SET", "k", "v", "BOGUS"], ErrorCode::Syntax),
        (&["INCR", "text"], ErrorCode::NotInteger),
        (&["INCRBY", "n", "notanumber"], ErrorCode::NotInteger),
        (&["SET", "k", "v", "EX", "0"], ErrorCode::InvalidExpire),
        (&["SET", "a-key-of-17-bytes", "v"], ErrorCode::Limit),
        (&["GET", "a-key-of-17-bytes"], ErrorCode::Limit),
        (
            &["SET", "k", "a value that is longer than 32 bytes"],
            ErrorCode::Limit,
        ),
    ];
    for (words, code) in cases {
        let reply = call(&mut c, words).await;
        assert_eq!(error_code(&reply), *code, "{words:?} replied {reply:?}");
    }
    assert_eq!(
        call(&mut c, &["SET", "big", "9223372036854775807"]).await,
        Reply::OK
    );
    assert_eq!(
        error_code(&call(&mut c, &["INCR", "big"]).await),
        ErrorCode::Overflow
    );
    // A key of exactly key_bytes_max is fine.
    assert_eq!(
        call(&mut c, &["SET", "sixteen-byte-key", "v"]).await,
        Reply::OK
    );
    // None of the refused requests changed anything.
    assert_eq!(call(&mut c, &["DBSIZE"]).await, Reply::Int(3));
    assert_eq!(call(&mut c, &["GET", "text"]).await, bulk("abc"));
    drop(c);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_command_keeps_the_connection_open() {
    let running = start(test_config()).await;
    let mut conn = BinaryConn::connect(running.addr).await;
    conn.send(&request_frame(7, &["FROBNICATE", "k"])).await;
    let (id, reply) = conn.read().await;
    assert_eq!(id, 7);
    assert_eq!(error_code(&reply), ErrorCode::UnknownCommand);
    conn.send(&request_frame(8, &["PING"])).await;
    assert_eq!(conn.read().await, (8, Reply::simple("PONG")));
    drop(conn);
    stop(running).await;
}

/// Sends `good` frames and then `bad` bytes in one write; expects the good
/// frames' replies, then a protocol error (code 8) with `bad_id`, then close,
/// and no state change beyond the good frames.
async fn bad_frame_after_good_ones(bad: &[u8], bad_id: u64) {
    let running = start(test_config()).await;
    let mut conn = BinaryConn::connect(running.addr).await;
    let mut out = BytesMut::new();
    out.extend_from_slice(&request_frame(1, &["SET", "before", "1"]));
    out.extend_from_slice(&request_frame(2, &["INCR", "before"]));
    out.extend_from_slice(bad);
    // Nothing after the bad frame runs.
    out.extend_from_slice(&request_frame(3, &["SET", "after", "1"]));
    conn.send(&out).await;
    assert_eq!(conn.read().await, (1, Reply::OK));
    assert_eq!(conn.read().await, (2, Reply::Int(2)));
    let (id, reply) = conn.read().await;
    assert_eq!(id, bad_id);
    assert_eq!(error_code(&reply), ErrorCode::Protocol, "{reply:?}");
    conn.expect_closed().await;

    let mut c = client(&running).await;
    assert_eq!(call(&mut c, &["GET", "before"]).await, bulk("2"));
    assert_eq!(call(&mut c, &["EXISTS", "after"]).await, Reply::Int(0));
    assert_eq!(call(&mut c, &["DBSIZE"]).await, Reply::Int(1));
    drop(c);
    stop(running).await;
}

fn header(magic: u8, version: u8, kind: u8, flags: u8, body: u32, id: u64) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_u8(magic);
    out.put_u8(version);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(body);
    out.put_u64(id);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_magic_is_a_protocol_error() {
    // The magic byte is checked before the header is complete, so the id is
    // unknown and the error carries 0.
    let mut bad = request_frame(9, &["PING"]);
    bad[0] = 0x42;
    bad_frame_after_good_ones(&bad, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_version_is_a_protocol_error() {
    let mut bad = request_frame(9, &["PING"]);
    bad[1] = 2;
    bad_frame_after_good_ones(&bad, 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_kind_from_a_client_is_a_protocol_error() {
    let mut bad = request_frame(9, &["PING"]);
    bad[2] = binary::KIND_REPLY;
    bad_frame_after_good_ones(&bad, 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_header_is_a_protocol_error() {
    // Only the header is sent: the server must refuse it from the length
    // alone, without waiting for (or allocating) the body.
    let bad = header(
        binary::MAGIC,
        binary::VERSION,
        binary::KIND_REQUEST,
        0,
        u32::MAX,
        9,
    );
    bad_frame_after_good_ones(&bad, 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_inconsistent_bodies_are_protocol_errors() {
    // Argument count says 2, body holds 1.
    let mut body = BytesMut::new();
    body.put_u32(2);
    body.put_u8(binary::ARG_BYTES);
    body.put_u32(4);
    body.put_slice(b"PING");
    let mut bad = header(
        binary::MAGIC,
        binary::VERSION,
        binary::KIND_REQUEST,
        0,
        body.len() as u32,
        11,
    );
    bad.extend_from_slice(&body);
    bad_frame_after_good_ones(&bad, 11).await;

    // An unknown argument tag.
    let mut body = BytesMut::new();
    body.put_u32(1);
    body.put_u8(0x7F);
    let mut bad = header(
        binary::MAGIC,
        binary::VERSION,
        binary::KIND_REQUEST,
        0,
        body.len() as u32,
        12,
    );
    bad.extend_from_slice(&body);
    bad_frame_after_good_ones(&bad, 12).await;

    // Unknown header flags.
    let mut bad = request_frame(13, &["PING"]);
    bad[3] = 0x80;
    bad_frame_after_good_ones(&bad, 13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_larger_than_frame_bytes_max_is_refused() {
    let config = usher::config::Config {
        frame_bytes_max: 256,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = BinaryConn::connect(running.addr).await;
    let value = "v".repeat(300);
    conn.send(&request_frame(5, &["SET", "k", &value])).await;
    let (id, reply) = conn.read().await;
    assert_eq!(id, 5);
    assert_eq!(error_code(&reply), ErrorCode::Protocol);
    conn.expect_closed().await;
    let mut c = client(&running).await;
    assert_eq!(call(&mut c, &["DBSIZE"]).await, Reply::Int(0));
    drop(c);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_split_across_writes_is_reassembled() {
    let running = start(test_config()).await;
    let mut conn = BinaryConn::connect(running.addr).await;
    let frame = request_frame(21, &["SET", "split", "value"]);
    for chunk in frame.chunks(3) {
        conn.send(chunk).await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(conn.read().await, (21, Reply::OK));
    drop(conn);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_over_the_binary_protocol() {
    let running = start(test_config()).await;
    let mut conn = BinaryConn::connect(running.addr).await;
    let mut out = BytesMut::new();
    out.extend_from_slice(&request_frame(1, &["MULTI"]));
    out.extend_from_slice(&request_frame(2, &["INCR", "n"]));
    out.extend_from_slice(&request_frame(3, &["INCRBY", "n", "4"]));
    out.extend_from_slice(&request_frame(4, &["EXEC"]));
    conn.send(&out).await;
    assert_eq!(conn.read().await, (1, Reply::OK));
    assert_eq!(conn.read().await, (2, Reply::simple("QUEUED")));
    assert_eq!(conn.read().await, (3, Reply::simple("QUEUED")));
    assert_eq!(
        conn.read().await,
        (4, Reply::Array(vec![Reply::Int(1), Reply::Int(5)]))
    );
    stop(running).await;
}
