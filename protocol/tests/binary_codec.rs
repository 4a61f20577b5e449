//! Binary protocol v1 codec: malformed, truncated and oversized frames, and
//! property tests (round trips, random input never panics or over-consumes).

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use usher_protocol::binary::{self, RequestHeader, HEADER_BYTES, IDEMPOTENCY_KEY_BYTES_MAX};
use usher_protocol::{Arg, ArgList, Decoded, ErrorCode, Limits, Reply, ServerError};

fn b(text: &str) -> Arg {
    Arg::Bytes(Bytes::copy_from_slice(text.as_bytes()))
}

fn request(id: u64, key: Option<&[u8]>, args: &[Arg]) -> BytesMut {
    let mut out = BytesMut::new();
    binary::encode_request(&mut out, id, key, args);
    out
}

fn reply(id: u64, value: &Reply) -> BytesMut {
    let mut out = BytesMut::new();
    binary::encode_reply(&mut out, id, value);
    out
}

fn decode(buf: &mut BytesMut, limits: &Limits) -> (Decoded<RequestHeader>, Vec<Arg>) {
    // A list left from an earlier request: decoding must replace it.
    let mut args = ArgList::from_args(&[b("stale")]);
    let outcome = binary::decode_request(buf, limits, &mut args);
    (outcome, args.to_args())
}

/// Hand-builds a request frame from a raw header and body.
fn raw_frame(kind: u8, flags: u8, id: u64, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_u8(binary::MAGIC);
    out.put_u8(binary::VERSION);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(body.len() as u32);
    out.put_u64(id);
    out.put_slice(body);
    out
}

/// A body with a u32 count followed by the given already-encoded arguments.
fn body(count: u32, encoded_args: &[u8]) -> Vec<u8> {
    let mut out = count.to_be_bytes().to_vec();
    out.extend_from_slice(encoded_args);
    out
}

fn bytes_arg(text: &[u8]) -> Vec<u8> {
    let mut out = vec![binary::ARG_BYTES];
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text);
    out
}

/// Asserts a request buffer is refused as a protocol error, and returns the
/// message for further checks.
fn assert_invalid(mut buf: BytesMut, limits: &Limits) -> String {
    let (outcome, args) = decode(&mut buf, limits);
    match outcome {
        Decoded::Invalid(error) => {
            assert_eq!(error.code, ErrorCode::Protocol);
            assert!(
                error.message.starts_with("ERR Protocol error: "),
                "{}",
                error.message
            );
            assert!(args.is_empty(), "no arguments survive an invalid frame");
            error.message.into_owned()
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn sample_requests() -> Vec<BytesMut> {
    vec![
        request(1, None, &[b("PING")]),
        request(7, None, &[b("SET"), b("k"), b("v")]),
        request(
            u64::MAX,
            Some(b"order-1"),
            &[b("INCRBOUND"), b("c"), Arg::Int(-1), b("MAX"), Arg::Int(9)],
        ),
        request(9, None, &[b("ECHO"), Arg::Double(2.5), b("")]),
    ]
}

#[test]
fn every_proper_prefix_is_incomplete_and_consumes_nothing() {
    let limits = Limits::default();
    for frame in sample_requests() {
        for end in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..end]);
            let (outcome, args) = decode(&mut buf, &limits);
            assert_eq!(outcome, Decoded::Incomplete, "prefix of {end} bytes");
            assert_eq!(
                &buf[..],
                &frame[..end],
                "prefix of {end} bytes was consumed"
            );
            assert!(args.is_empty());
        }
        let mut buf = frame.clone();
        assert!(matches!(decode(&mut buf, &limits).0, Decoded::Frame(_)));
        assert!(buf.is_empty());
    }
}

#[test]
fn every_proper_prefix_of_a_reply_is_incomplete() {
    let limits = Limits::default();
    let value = Reply::Array(vec![
        Reply::Int(1),
        Reply::Map(vec![(Reply::bulk_static(b"a"), Reply::Double(0.5))]),
        Reply::Error(ServerError::SYNTAX),
        Reply::Nil,
        Reply::Bool(true),
    ]);
    let frame = reply(3, &value);
    for end in 0..frame.len() {
        let mut buf = BytesMut::from(&frame[..end]);
        assert_eq!(
            binary::decode_reply(&mut buf, &limits),
            Decoded::Incomplete,
            "prefix of {end} bytes"
        );
        assert_eq!(buf.len(), end);
    }
    let mut buf = frame.clone();
    assert_eq!(
        binary::decode_reply(&mut buf, &limits),
        Decoded::Frame((3, value))
    );
    assert!(buf.is_empty());
}

#[test]
fn pipelined_frames_decode_in_order() {
    let limits = Limits::default();
    let mut buf = BytesMut::new();
    for frame in sample_requests() {
        buf.extend_from_slice(&frame);
    }
    let partial = request(99, None, &[b("GET"), b("k")]);
    buf.extend_from_slice(&partial[..HEADER_BYTES + 3]);
    let mut ids = Vec::new();
    loop {
        match decode(&mut buf, &limits) {
            (Decoded::Frame(header), args) => {
                assert!(!args.is_empty());
                ids.push(header.request_id);
            }
            (Decoded::Incomplete, _) => break,
            (Decoded::Invalid(error), _) => panic!("{error}"),
        }
    }
    assert_eq!(ids, vec![1, 7, u64::MAX, 9]);
    assert_eq!(
        buf.len(),
        HEADER_BYTES + 3,
        "the partial frame stays buffered"
    );
    buf.extend_from_slice(&partial[HEADER_BYTES + 3..]);
    let (outcome, args) = decode(&mut buf, &limits);
    assert!(matches!(
        outcome,
        Decoded::Frame(RequestHeader { request_id: 99, .. })
    ));
    assert_eq!(args, vec![b("GET"), b("k")]);
}

#[test]
fn decoded_arguments_keep_their_types() {
    let args = vec![
        b("X"),
        Arg::Int(i64::MIN),
        Arg::Int(i64::MAX),
        Arg::Double(f64::INFINITY),
        Arg::Double(-0.0),
        Arg::Bytes(Bytes::from_static(b"\x00\xff\r\n")),
    ];
    let mut buf = request(5, Some(&[b'k'; IDEMPOTENCY_KEY_BYTES_MAX]), &args);
    let (outcome, decoded) = decode(&mut buf, &Limits::default());
    match outcome {
        Decoded::Frame(header) => {
            assert_eq!(header.request_id, 5);
            assert_eq!(
                header.idempotency_key.as_deref(),
                Some(&[b'k'; IDEMPOTENCY_KEY_BYTES_MAX][..])
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(decoded, args);
    let Arg::Double(zero) = decoded[4] else {
        panic!()
    };
    assert!(zero.is_sign_negative(), "the sign of -0.0 survives");
}

#[test]
fn header_length_over_the_limit_is_refused_before_the_body_arrives() {
    let limits = Limits {
        frame_bytes_max: 64,
        ..Limits::default()
    };
    // Exactly at the limit: accepted.
    let text = vec![b'x'; 64 - HEADER_BYTES - 4 - 5];
    let frame = raw_frame(1, 0, 3, &body(1, &bytes_arg(&text)));
    assert_eq!(frame.len(), 64);
    let mut buf = frame.clone();
    assert!(matches!(decode(&mut buf, &limits).0, Decoded::Frame(_)));
    // One byte more: refused from the header alone.
    let text = vec![b'x'; 64 - HEADER_BYTES - 4 - 5 + 1];
    let frame = raw_frame(1, 0, 3, &body(1, &bytes_arg(&text)));
    let message = assert_invalid(BytesMut::from(&frame[..HEADER_BYTES]), &limits);
    assert!(message.contains("frame_bytes_max"), "{message}");
    assert_eq!(binary::peek_request_id(&frame), 3);
    // The largest length a header can state.
    let mut huge = raw_frame(1, 0, 4, &[]);
    huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_invalid(huge.clone(), &Limits::default());
    let mut huge_reply = huge;
    huge_reply[2] = binary::KIND_REPLY;
    assert!(matches!(
        binary::decode_reply(&mut huge_reply, &limits),
        Decoded::Invalid(_)
    ));
}

#[test]
fn bad_magic_is_refused_from_the_first_byte() {
    let message = assert_invalid(BytesMut::from(&b"*"[..]), &Limits::default());
    assert!(message.contains("magic"), "{message}");
    let mut frame = request(8, None, &[b("PING")]);
    frame[0] = 0xD6;
    assert_eq!(
        binary::peek_request_id(&frame),
        0,
        "no id without the magic"
    );
    assert_invalid(frame, &Limits::default());
}

#[test]
fn bad_version_kind_and_flags_are_refused() {
    let good = request(8, None, &[b("PING")]);
    let mut version = good.clone();
    version[1] = 2;
    let message = assert_invalid(version.clone(), &Limits::default());
    assert!(message.contains("version"), "{message}");
    assert_eq!(binary::peek_request_id(&version), 8);
    for kind in [0u8, binary::KIND_REPLY, 3, 0xFF] {
        let mut frame = good.clone();
        frame[2] = kind;
        assert_invalid(frame, &Limits::default());
    }
    for flags in [0x02u8, 0x03, 0x80, 0xFF] {
        let mut frame = good.clone();
        frame[3] = flags;
        // Refused from the header alone.
        assert_invalid(BytesMut::from(&frame[..HEADER_BYTES]), &Limits::default());
    }
    // A request frame is not a reply, and replies carry no flags.
    let mut as_reply = good.clone();
    assert!(matches!(
        binary::decode_reply(&mut as_reply, &Limits::default()),
        Decoded::Invalid(_)
    ));
    let mut flagged_reply = reply(1, &Reply::OK);
    flagged_reply[3] = 1;
    assert!(matches!(
        binary::decode_reply(&mut flagged_reply, &Limits::default()),
        Decoded::Invalid(_)
    ));
}

#[test]
fn bad_argument_tags_are_refused() {
    for tag in [0x00u8, 0x04, 0x7F, 0xFF] {
        let mut args = bytes_arg(b"GET");
        args.push(tag);
        args.extend_from_slice(&[0; 8]);
        let message = assert_invalid(raw_frame(1, 0, 1, &body(2, &args)), &Limits::default());
        assert!(message.contains("tag"), "{message}");
    }
}

#[test]
fn trailing_and_missing_body_bytes_are_refused() {
    let mut args = bytes_arg(b"PING");
    args.push(0);
    let message = assert_invalid(raw_frame(1, 0, 1, &body(1, &args)), &Limits::default());
    assert!(message.contains("left over"), "{message}");
    // The count promises two arguments, the body holds one.
    let message = assert_invalid(
        raw_frame(1, 0, 1, &body(2, &bytes_arg(b"PING"))),
        &Limits::default(),
    );
    assert!(message.contains("ends inside"), "{message}");
    // A string longer than the body.
    let mut args = bytes_arg(b"PING");
    args.truncate(args.len() - 1);
    assert_invalid(raw_frame(1, 0, 1, &body(1, &args)), &Limits::default());
    // Truncated integer and double payloads.
    for tag in [binary::ARG_INT, binary::ARG_DOUBLE] {
        let mut args = bytes_arg(b"ECHO");
        args.push(tag);
        args.extend_from_slice(&[0; 7]);
        assert_invalid(raw_frame(1, 0, 1, &body(2, &args)), &Limits::default());
    }
    // A body too short for the count itself.
    assert_invalid(raw_frame(1, 0, 1, &[0, 0, 1]), &Limits::default());
    assert_invalid(raw_frame(1, 0, 1, &[]), &Limits::default());
}

#[test]
fn zero_arguments_are_refused() {
    assert_invalid(raw_frame(1, 0, 1, &body(0, &[])), &Limits::default());
}

#[test]
fn too_many_arguments_are_refused() {
    let limits = Limits {
        args_max: 3,
        ..Limits::default()
    };
    let three = request(1, None, &[b("DEL"), b("a"), b("b")]);
    assert!(matches!(
        decode(&mut three.clone(), &limits).0,
        Decoded::Frame(_)
    ));
    let four = request(1, None, &[b("DEL"), b("a"), b("b"), b("c")]);
    let message = assert_invalid(four, &limits);
    assert!(message.contains("args_max"), "{message}");
    // A count far beyond the body is refused without allocating for it.
    assert_invalid(
        raw_frame(1, 0, 1, &body(u32::MAX, &bytes_arg(b"GET"))),
        &Limits::default(),
    );
}

#[test]
fn the_command_name_must_be_a_string() {
    for first in [Arg::Int(1), Arg::Double(1.0)] {
        let message = assert_invalid(request(1, None, &[first, b("x")]), &Limits::default());
        assert!(message.contains("command name"), "{message}");
    }
}

#[test]
fn nan_doubles_are_refused() {
    for bits in [
        0x7FF8_0000_0000_0000u64,
        0xFFF8_0000_0000_0000,
        0x7FF0_0000_0000_0001,
        0xFFFF_FFFF_FFFF_FFFF,
    ] {
        let mut args = bytes_arg(b"ECHO");
        args.push(binary::ARG_DOUBLE);
        args.extend_from_slice(&bits.to_be_bytes());
        let message = assert_invalid(raw_frame(1, 0, 1, &body(2, &args)), &Limits::default());
        assert!(message.contains("NaN"), "{message}");
    }
    // Infinities are numbers.
    let mut buf = request(1, None, &[b("ECHO"), Arg::Double(f64::NEG_INFINITY)]);
    assert!(matches!(
        decode(&mut buf, &Limits::default()).0,
        Decoded::Frame(_)
    ));
}

#[test]
fn idempotency_key_lengths_are_checked() {
    let rest = body(1, &bytes_arg(b"PING"));
    for length in [0usize, IDEMPOTENCY_KEY_BYTES_MAX + 1, 255] {
        let mut content = vec![length as u8];
        content.extend(std::iter::repeat_n(b'k', length));
        content.extend_from_slice(&rest);
        let message = assert_invalid(
            raw_frame(1, binary::FLAG_IDEMPOTENCY_KEY, 1, &content),
            &Limits::default(),
        );
        assert!(message.contains("idempotency key"), "{message}");
    }
    for length in [1usize, IDEMPOTENCY_KEY_BYTES_MAX] {
        let mut content = vec![length as u8];
        content.extend(std::iter::repeat_n(b'k', length));
        content.extend_from_slice(&rest);
        let mut buf = raw_frame(1, binary::FLAG_IDEMPOTENCY_KEY, 1, &content);
        match decode(&mut buf, &Limits::default()).0 {
            Decoded::Frame(header) => {
                assert_eq!(header.idempotency_key.map(|k| k.len()), Some(length))
            }
            other => panic!("{other:?}"),
        }
    }
    // The flag without room for the key length, or a key cut short.
    assert_invalid(
        raw_frame(1, binary::FLAG_IDEMPOTENCY_KEY, 1, &[]),
        &Limits::default(),
    );
    assert_invalid(
        raw_frame(1, binary::FLAG_IDEMPOTENCY_KEY, 1, &[5, b'k', b'k']),
        &Limits::default(),
    );
}

#[test]
fn peek_request_id_needs_a_whole_header() {
    let frame = request(0x0102_0304_0506_0708, None, &[b("PING")]);
    assert_eq!(binary::peek_request_id(&frame), 0x0102_0304_0506_0708);
    assert_eq!(
        binary::peek_request_id(&frame[..HEADER_BYTES]),
        0x0102_0304_0506_0708
    );
    assert_eq!(binary::peek_request_id(&frame[..HEADER_BYTES - 1]), 0);
    assert_eq!(binary::peek_request_id(&[]), 0);
}

fn decode_reply_body(value_bytes: &[u8]) -> Decoded<(u64, Reply)> {
    let mut buf = raw_frame(binary::KIND_REPLY, 0, 1, value_bytes);
    binary::decode_reply(&mut buf, &Limits::default())
}

#[test]
fn malformed_reply_values_are_refused() {
    let bad: Vec<Vec<u8>> = vec![
        vec![],                                                 // no value
        vec![0x09],                                             // unknown tag
        vec![0xFF],                                             // unknown tag
        vec![binary::VALUE_BOOL, 2],                            // boolean byte 2
        vec![binary::VALUE_INT, 0, 0, 0],                       // short integer
        vec![binary::VALUE_NIL, 0],                             // trailing byte
        vec![binary::VALUE_SIMPLE, 0, 0, 0, 2, 0xC3, 0x28],     // not UTF-8
        vec![binary::VALUE_ERROR, 0, 3, 0, 0, 0, 1, 0xFF],      // not UTF-8
        vec![binary::VALUE_BULK, 0, 0, 0, 9, b'a'],             // short string
        vec![binary::VALUE_ARRAY, 0xFF, 0xFF, 0xFF, 0xFF, 0],   // count beyond the body
        vec![binary::VALUE_MAP, 0x80, 0, 0, 0, 0, 0],           // count beyond the body
        vec![binary::VALUE_MAP, 0, 0, 0, 1, binary::VALUE_NIL], // key without value
    ];
    for value in bad {
        assert!(
            matches!(decode_reply_body(&value), Decoded::Invalid(ref e) if e.code == ErrorCode::Protocol),
            "{value:02x?} should be refused"
        );
    }
}

#[test]
fn reply_nesting_is_bounded() {
    let nested = |depth: usize| {
        let mut value = vec![];
        for _ in 0..depth {
            value.extend_from_slice(&[binary::VALUE_ARRAY, 0, 0, 0, 1]);
        }
        value.push(binary::VALUE_NIL);
        value
    };
    assert!(matches!(
        decode_reply_body(&nested(binary::REPLY_DEPTH_MAX)),
        Decoded::Frame(_)
    ));
    assert!(matches!(
        decode_reply_body(&nested(binary::REPLY_DEPTH_MAX + 1)),
        Decoded::Invalid(_)
    ));
    assert!(matches!(
        decode_reply_body(&nested(10_000)),
        Decoded::Invalid(_)
    ));
}

#[test]
fn unknown_error_codes_decode_as_generic_with_the_message() {
    let mut value = vec![binary::VALUE_ERROR];
    value.extend_from_slice(&999u16.to_be_bytes());
    value.extend_from_slice(&3u32.to_be_bytes());
    value.extend_from_slice(b"NEW");
    match decode_reply_body(&value) {
        Decoded::Frame((_, Reply::Error(error))) => {
            assert_eq!(error.code, ErrorCode::Generic);
            assert_eq!(error.message, "NEW");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bulk_int_replies_are_sent_as_strings() {
    let mut buf = reply(2, &Reply::BulkInt(-42));
    assert_eq!(
        binary::decode_reply(&mut buf, &Limits::default()),
        Decoded::Frame((2, Reply::bulk_static(b"-42")))
    );
}

// --- properties ---

fn arg_strategy() -> impl Strategy<Value = Arg> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Arg::Bytes(Bytes::from(v))),
        any::<i64>().prop_map(Arg::Int),
        any::<f64>()
            .prop_filter("NaN is refused", |v| !v.is_nan())
            .prop_map(Arg::Double),
    ]
}

fn args_strategy() -> impl Strategy<Value = Vec<Arg>> {
    (
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(arg_strategy(), 0..12),
    )
        .prop_map(|(name, rest)| {
            let mut args = vec![Arg::Bytes(Bytes::from(name))];
            args.extend(rest);
            args
        })
}

fn text_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..12).prop_map(|c| c.into_iter().collect())
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        Just(Reply::Nil),
        text_strategy().prop_map(|t| Reply::Simple(t.into())),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(|v| Reply::Bulk(Bytes::from(v))),
        any::<i64>().prop_map(Reply::BulkInt),
        any::<i64>().prop_map(Reply::Int),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |v| !v.is_nan())
            .prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Bool),
        (0..ErrorCode::ALL.len(), text_strategy())
            .prop_map(|(i, t)| Reply::Error(ServerError::new(ErrorCode::ALL[i], t))),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
            proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Reply::Map),
        ]
    })
}

/// What a reply looks like after a trip over the wire: integers stored as
/// strings arrive as bulk strings.
fn after_wire(reply: &Reply) -> Reply {
    match reply {
        Reply::BulkInt(value) => Reply::Bulk(Bytes::from(value.to_string())),
        Reply::Array(items) => Reply::Array(items.iter().map(after_wire).collect()),
        Reply::Map(pairs) => Reply::Map(
            pairs
                .iter()
                .map(|(k, v)| (after_wire(k), after_wire(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Random bytes, or a valid header in front of random bytes so that the
/// body decoder is reached too.
fn wire_strategy(kind: u8) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (
            0u8..4,
            proptest::collection::vec(any::<u8>(), 0..64),
            any::<u64>()
        )
            .prop_map(move |(flags, rest, id)| {
                let mut out = raw_frame(kind, flags & 1, id, &rest).to_vec();
                if flags & 2 != 0 {
                    // Sometimes claim a different body length.
                    out[7] ^= rest.first().copied().unwrap_or(1);
                }
                out
            }),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(
        id in any::<u64>(),
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=IDEMPOTENCY_KEY_BYTES_MAX)),
        args in args_strategy(),
    ) {
        let mut buf = request(id, key.as_deref(), &args);
        let total = buf.len();
        buf.extend_from_slice(b"\xD5next");
        let mut decoded = ArgList::new();
        match binary::decode_request(&mut buf, &Limits::default(), &mut decoded) {
            Decoded::Frame(header) => {
                prop_assert_eq!(header.request_id, id);
                prop_assert_eq!(header.idempotency_key.as_deref(), key.as_deref());
            }
            other => prop_assert!(false, "decoding gave {:?}", other),
        }
        prop_assert_eq!(decoded.to_args(), args);
        prop_assert_eq!(&buf[..], &b"\xD5next"[..], "exactly {} bytes consumed", total);
    }

    #[test]
    fn replies_round_trip(id in any::<u64>(), value in reply_strategy()) {
        let mut buf = reply(id, &value);
        match binary::decode_reply(&mut buf, &Limits::default()) {
            Decoded::Frame((got_id, got)) => {
                prop_assert_eq!(got_id, id);
                prop_assert_eq!(got, after_wire(&value));
            }
            other => prop_assert!(false, "decoding gave {:?}", other),
        }
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn random_requests_never_panic_or_overconsume(bytes in wire_strategy(binary::KIND_REQUEST)) {
        let limits = Limits { frame_bytes_max: 256, args_max: 8, ..Limits::default() };
        let mut buf = BytesMut::from(&bytes[..]);
        let mut args = ArgList::new();
        loop {
            let before = buf.len();
            match binary::decode_request(&mut buf, &limits, &mut args) {
                Decoded::Frame(_) => {
                    prop_assert!(buf.len() < before, "a frame consumes bytes");
                    prop_assert!(before - buf.len() >= HEADER_BYTES);
                    prop_assert!(!args.is_empty());
                }
                Decoded::Incomplete => {
                    prop_assert_eq!(&buf[..], &bytes[bytes.len() - before..]);
                    break;
                }
                Decoded::Invalid(error) => {
                    prop_assert_eq!(error.code, ErrorCode::Protocol);
                    break;
                }
            }
        }
    }

    #[test]
    fn random_replies_never_panic_or_overconsume(bytes in wire_strategy(binary::KIND_REPLY)) {
        let limits = Limits { frame_bytes_max: 256, ..Limits::default() };
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            let before = buf.len();
            match binary::decode_reply(&mut buf, &limits) {
                Decoded::Frame(_) => prop_assert!(before - buf.len() > HEADER_BYTES),
                Decoded::Incomplete => {
                    prop_assert_eq!(buf.len(), before);
                    break;
                }
                Decoded::Invalid(_) => break,
            }
        }
    }
}

/// Pairs go out flat, `key, value, key, value...` (as RESP2 sends them),
/// and come back as that flat array.
#[test]
fn pairs_are_sent_flat() {
    let pairs = Reply::Pairs(vec![
        (Reply::bulk_static(b"a"), Reply::Double(1.0)),
        (Reply::bulk_static(b"b"), Reply::Double(2.5)),
    ]);
    let flat = Reply::Array(vec![
        Reply::bulk_static(b"a"),
        Reply::Double(1.0),
        Reply::bulk_static(b"b"),
        Reply::Double(2.5),
    ]);
    let encoded = reply(3, &pairs);
    assert_eq!(encoded, reply(3, &flat), "the same bytes as the flat array");
    let mut buf = encoded.clone();
    assert_eq!(
        binary::decode_reply(&mut buf, &Limits::default()),
        Decoded::Frame((3, flat))
    );
    assert!(buf.is_empty());
    assert!(pairs.encoded_bytes_bound() >= encoded.len());
    assert_eq!(
        reply(4, &Reply::Pairs(Vec::new())),
        reply(4, &Reply::Array(Vec::new()))
    );
}
