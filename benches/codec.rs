//! Both codecs on the requests and replies a ticket sale sends most: a SET
//! request (decode) and a GET reply (encode), plus the shared argument
//! parser. One group per codec.
//!
//! Run: `cargo bench --bench codec`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use usher::client::args;
use usher::protocol::resp::{self, RespDecoder, RespVersion};
use usher::protocol::{binary, parse, Arg, Decoded, Limits, Reply};

const KEY: &str = "session:event-42:user-1000017";
/// A 64-byte value, the size of a small session or hold record.
const VALUE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn set_args() -> Vec<Arg> {
    args(["SET", KEY, VALUE, "PX", "60000"])
}

fn get_reply() -> Reply {
    Reply::Bulk(Bytes::from_static(VALUE.as_bytes()))
}

fn binary_codec(c: &mut Criterion) {
    let limits = Limits::default();
    let mut frame = BytesMut::new();
    binary::encode_request(&mut frame, 1, None, &set_args());
    let frame = frame.freeze();

    let mut group = c.benchmark_group("binary");
    group.throughput(Throughput::Elements(1));
    let mut decoded = Vec::new();
    group.bench_function("decode_request_set", |b| {
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
    let reply = get_reply();
    let mut out = BytesMut::with_capacity(1024);
    group.bench_function("encode_reply_get", |b| {
        b.iter(|| {
            out.clear();
            binary::encode_reply(&mut out, black_box(7), black_box(&reply));
            black_box(&out);
        })
    });
    group.finish();
}

fn resp_codec(c: &mut Criterion) {
    let mut frame = BytesMut::new();
    let words: Vec<&[u8]> = ["SET", KEY, VALUE, "PX", "60000"]
        .iter()
        .map(|w| w.as_bytes())
        .collect();
    resp::encode_request(&words, &mut frame);
    let frame = frame.freeze();

    let mut group = c.benchmark_group("resp");
    group.throughput(Throughput::Elements(1));
    let mut decoder = RespDecoder::new(Limits::default());
    let mut decoded = Vec::new();
    group.bench_function("decode_request_set", |b| {
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
    let reply = get_reply();
    let mut out = BytesMut::with_capacity(1024);
    group.bench_function("encode_reply_get", |b| {
        b.iter(|| {
            out.clear();
            resp::encode_reply(black_box(&reply), RespVersion::Resp2, &mut out);
            black_box(&out);
        })
    });
    group.finish();
}

fn parse_request(c: &mut Criterion) {
    let template = set_args();
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_set", |b| {
        b.iter_batched_ref(
            || template.clone(),
            |arguments| black_box(parse(arguments)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, binary_codec, resp_codec, parse_request);
criterion_main!(benches);
