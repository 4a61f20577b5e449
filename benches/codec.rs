//! Both codecs, both ways, on what a ticket sale sends most: a SET request
//! and a SEAT.HOLD request (encode and decode), a GET reply (a 64-byte
//! bulk string) and a SEAT.HOLD reply (a nested array), plus the shared
//! argument parser. One group per codec.
//!
//! The server decodes requests and encodes replies; clients do the rest.
//! The library has a RESP request encoder (tools and tests) but no RESP
//! reply decoder: the server never reads RESP replies, and RESP clients
//! bring their own (usher-load's scanner is in
//! tools/src/bin/usher-load.rs), so `resp/decode_reply_*` does not exist.
//!
//! Run: `cargo bench --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use usher::client::args;
use usher::protocol::resp::{self, RespDecoder, RespVersion};
use usher::protocol::{binary, parse_list, Arg, ArgList, Decoded, Limits, Reply};

const KEY: &str = "session:event-42:user-1000017";
/// A 64-byte value, the size of a small session or hold record.
const VALUE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn set_words() -> [&'static str; 5] {
    ["SET", KEY, VALUE, "PX", "60000"]
}

fn hold_words() -> [&'static str; 6] {
    [
        "SEAT.HOLD",
        "concert:7",
        "user-1000017",
        "600000",
        "101",
        "102",
    ]
}

fn get_reply() -> Reply {
    Reply::Bulk(Bytes::from_static(VALUE.as_bytes()))
}

/// `["held", 600000, [101, 102]]`.
fn hold_reply() -> Reply {
    Reply::Array(vec![
        Reply::simple("held"),
        Reply::Int(600_000),
        Reply::Array(vec![Reply::Int(101), Reply::Int(102)]),
    ])
}

fn binary_frame(words: &[&str]) -> Bytes {
    let mut frame = BytesMut::new();
    binary::encode_request(&mut frame, 1, None, &args(words.iter().copied()));
    frame.freeze()
}

fn resp_frame(words: &[&str]) -> Bytes {
    let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    let mut frame = BytesMut::new();
    resp::encode_request(&words, &mut frame);
    frame.freeze()
}

fn binary_codec(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("binary");
    group.throughput(Throughput::Elements(1));
    let mut decoded = ArgList::new();
    for (name, words) in [("set", &set_words()[..]), ("seat_hold", &hold_words()[..])] {
        let frame = binary_frame(words);
        group.bench_function(format!("decode_request_{name}"), |b| {
            b.iter_batched_ref(
                || BytesMut::from(&frame[..]),
                |buf| {
                    let outcome = binary::decode_request(buf, &limits, &mut decoded);
                    assert!(matches!(outcome, Decoded::Frame(_)));
                    black_box(&decoded);
                },
                BatchSize::SmallInput,
            )
        });
        let arguments: Vec<Arg> = args(words.iter().copied());
        let mut out = BytesMut::with_capacity(1024);
        group.bench_function(format!("encode_request_{name}"), |b| {
            b.iter(|| {
                out.clear();
                binary::encode_request(&mut out, black_box(7), None, black_box(&arguments));
                black_box(&out);
            })
        });
    }
    for (name, reply) in [("get", get_reply()), ("seat_hold", hold_reply())] {
        let mut out = BytesMut::with_capacity(1024);
        group.bench_function(format!("encode_reply_{name}"), |b| {
            b.iter(|| {
                out.clear();
                binary::encode_reply(&mut out, black_box(7), black_box(&reply));
                black_box(&out);
            })
        });
        let mut frame = BytesMut::new();
        binary::encode_reply(&mut frame, 7, &reply);
        let frame = frame.freeze();
        group.bench_function(format!("decode_reply_{name}"), |b| {
            b.iter_batched_ref(
                || BytesMut::from(&frame[..]),
                |buf| {
                    let outcome = binary::decode_reply(buf, &limits);
                    assert!(matches!(outcome, Decoded::Frame(_)));
                    black_box(outcome);
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn resp_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("resp");
    group.throughput(Throughput::Elements(1));
    let mut decoder = RespDecoder::new(Limits::default());
    let mut decoded = ArgList::new();
    for (name, words) in [("set", &set_words()[..]), ("seat_hold", &hold_words()[..])] {
        let frame = resp_frame(words);
        group.bench_function(format!("decode_request_{name}"), |b| {
            b.iter_batched_ref(
                || BytesMut::from(&frame[..]),
                |buf| {
                    let outcome = decoder.decode(buf, &mut decoded);
                    assert!(matches!(outcome, Decoded::Frame(())));
                    black_box(&decoded);
                },
                BatchSize::SmallInput,
            )
        });
        let byte_words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let mut out = BytesMut::with_capacity(1024);
        group.bench_function(format!("encode_request_{name}"), |b| {
            b.iter(|| {
                out.clear();
                resp::encode_request(black_box(&byte_words), &mut out);
                black_box(&out);
            })
        });
    }
    for (name, reply) in [("get", get_reply()), ("seat_hold", hold_reply())] {
        for (version_name, version) in
            [("resp2", RespVersion::Resp2), ("resp3", RespVersion::Resp3)]
        {
            let mut out = BytesMut::with_capacity(1024);
            group.bench_function(format!("encode_reply_{name}_{version_name}"), |b| {
                b.iter(|| {
                    out.clear();
                    resp::encode_reply(black_box(&reply), version, &mut out);
                    black_box(&out);
                })
            });
        }
    }
    group.finish();
}

fn parse_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    for (name, words) in [("set", &set_words()[..]), ("seat_hold", &hold_words()[..])] {
        // As the decoder leaves them: one frame, the arguments spans of it.
        let list = ArgList::from_args(&args(words.iter().copied()));
        group.bench_function(format!("parse_{name}"), |b| {
            b.iter(|| black_box(parse_list(black_box(&list))))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = binary_codec, resp_codec, parse_request
}
criterion_main!(benches);
