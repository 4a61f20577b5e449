//! RESP codec: multibulk and inline requests (truncated, malformed,
//! oversized, quoting rules, pipelining), reply encoding, and property tests.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use usher_protocol::resp::{self, RespDecoder, RespVersion};
use usher_protocol::{Arg, ArgList, Decoded, ErrorCode, Limits, Reply, ServerError};

fn decoder() -> RespDecoder {
    RespDecoder::new(Limits::default())
}

fn words(list: &[&[u8]]) -> Vec<Arg> {
    list.iter()
        .map(|w| Arg::Bytes(Bytes::copy_from_slice(w)))
        .collect()
}

/// Decodes one request from `input`; returns the outcome, the arguments and
/// what is left in the buffer.
fn decode_with(decoder: &mut RespDecoder, input: &[u8]) -> (Decoded<()>, Vec<Arg>, Vec<u8>) {
    let mut buf = BytesMut::from(input);
    // A list left from an earlier request: decoding must replace it.
    let mut args = ArgList::from_args(&words(&[b"stale"]));
    let outcome = decoder.decode(&mut buf, &mut args);
    (outcome, args.to_args(), buf.to_vec())
}

fn decode(input: &[u8]) -> (Decoded<()>, Vec<Arg>, Vec<u8>) {
    decode_with(&mut decoder(), input)
}

/// Decodes exactly one whole request and returns its words.
fn one(input: &[u8]) -> Vec<Arg> {
    let (outcome, args, rest) = decode(input);
    assert_eq!(
        outcome,
        Decoded::Frame(()),
        "{:?}",
        String::from_utf8_lossy(input)
    );
    assert!(rest.is_empty(), "left over: {rest:?}");
    args
}

fn invalid_with(limits: Limits, input: &[u8]) -> String {
    let (outcome, _, _) = decode_with(&mut RespDecoder::new(limits), input);
    match outcome {
        Decoded::Invalid(error) => {
            assert_eq!(error.code, ErrorCode::Protocol);
            assert!(
                error.message.starts_with("ERR Protocol error: "),
                "{}",
                error.message
            );
            error.message.into_owned()
        }
        other => panic!(
            "{:?} should be invalid, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn invalid(input: &[u8]) -> String {
    invalid_with(Limits::default(), input)
}

#[test]
fn multibulk_request() {
    assert_eq!(
        one(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"),
        words(&[b"SET", b"k", b""])
    );
    // Binary-safe contents, CRLF inside a bulk included.
    assert_eq!(
        one(b"*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\x00\xff\r\n"),
        words(&[b"ECHO", b"\r\n\x00\xff"])
    );
}

#[test]
fn every_proper_prefix_is_incomplete_and_consumes_nothing() {
    let frames: [&[u8]; 4] = [
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123456789\r\n",
        b"*1\r\n$4\r\nPING\r\n",
        b"SET k \"a b\"\r\n",
        b"PING\n",
    ];
    for frame in frames {
        let mut decoder = decoder();
        for end in 0..frame.len() {
            let (outcome, args, rest) = decode_with(&mut decoder, &frame[..end]);
            assert_eq!(outcome, Decoded::Incomplete, "prefix {:?}", &frame[..end]);
            assert_eq!(rest, &frame[..end], "nothing consumed");
            assert!(args.is_empty());
        }
        let (outcome, _, rest) = decode_with(&mut decoder, frame);
        assert_eq!(outcome, Decoded::Frame(()));
        assert!(rest.is_empty());
    }
}

#[test]
fn bad_multibulk_lengths_are_refused() {
    for input in [
        &b"*abc\r\n"[..],
        b"*1x\r\n",
        b"*+1\r\n",
        b"*01\r\n",
        b"* 1\r\n",
        b"*\r\n",
        b"*99999999999999999999999\r\n",
    ] {
        let message = invalid(input);
        assert!(message.contains("multibulk length"), "{message}");
    }
    // A header line that never ends.
    let mut long = b"*".to_vec();
    long.extend_from_slice(&[b'1'; 40]);
    invalid(&long);
}

#[test]
fn bad_bulk_lengths_are_refused() {
    for input in [
        &b"*1\r\n$-1\r\n"[..],
        b"*1\r\n$abc\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$+3\r\nfoo\r\n",
        b"*1\r\n$03\r\nfoo\r\n",
    ] {
        let message = invalid(input);
        assert!(message.contains("bulk length"), "{message}");
    }
    let mut long = b"*1\r\n$".to_vec();
    long.extend_from_slice(&[b'9'; 40]);
    invalid(&long);
}

#[test]
fn bulk_must_end_with_crlf() {
    for input in [
        &b"*1\r\n$3\r\nfooXX"[..],
        b"*1\r\n$3\r\nfoo\n\r",
        b"*1\r\n$3\r\nfoo\rX",
        b"*2\r\n$3\r\nfoo\r\n$1\r\nabc\r\n",
    ] {
        let message = invalid(input);
        assert!(message.contains("CRLF"), "{message}");
    }
}

#[test]
fn a_dollar_is_expected_before_each_bulk() {
    for input in [
        &b"*1\r\n:3\r\n"[..],
        b"*2\r\n$1\r\na\r\n+b\r\n",
        b"*1\r\nPING\r\n",
    ] {
        let message = invalid(input);
        assert!(message.contains("expected '$'"), "{message}");
    }
}

#[test]
fn oversized_requests_are_refused() {
    let limits = Limits {
        frame_bytes_max: 64,
        args_max: 3,
        inline_bytes_max: 16,
    };
    // The bulk header alone tells the request is too large.
    let message = invalid_with(limits, b"*1\r\n$100\r\n");
    assert!(message.contains("frame_bytes_max"), "{message}");
    invalid_with(limits, b"*1\r\n$9223372036854775807\r\n");
    // Many small bulks add up.
    let mut many = b"*3\r\n".to_vec();
    for _ in 0..3 {
        many.extend_from_slice(b"$20\r\n01234567890123456789\r\n");
    }
    invalid_with(limits, &many);
    // A frame of exactly frame_bytes_max is accepted.
    let mut exact = b"*1\r\n$".to_vec();
    let fill = 64 - exact.len() - 2 - 2 - 2;
    exact.extend_from_slice(fill.to_string().as_bytes());
    exact.extend_from_slice(b"\r\n");
    exact.resize(exact.len() + fill, b'x');
    exact.extend_from_slice(b"\r\n");
    assert_eq!(exact.len(), 64);
    let (outcome, args, _) = decode_with(&mut RespDecoder::new(limits), &exact);
    assert_eq!(outcome, Decoded::Frame(()));
    assert_eq!(args.len(), 1);
    // Too many arguments.
    let message = invalid_with(limits, b"*4\r\n");
    assert!(message.contains("args_max"), "{message}");
    invalid_with(limits, b"a b c d\r\n");
    // Inline lines: 16 bytes before the `\n` (a `\r` counts) are accepted;
    // longer lines are refused with or without the newline having arrived.
    for line in [&b"ECHO 01234567890\n"[..], b"ECHO 0123456789\r\n"] {
        let (outcome, ..) = decode_with(&mut RespDecoder::new(limits), line);
        assert_eq!(outcome, Decoded::Frame(()));
    }
    let message = invalid_with(limits, b"ECHO 01234567890\r\n");
    assert!(message.contains("inline"), "{message}");
    invalid_with(limits, b"ECHO 012345678901\n");
    invalid_with(limits, b"ECHO 012345678901");
}

#[test]
fn inline_words_and_quotes() {
    assert_eq!(one(b"SET k v\r\n"), words(&[b"SET", b"k", b"v"]));
    assert_eq!(one(b"  SET \t k   v  \n"), words(&[b"SET", b"k", b"v"]));
    assert_eq!(
        one(b"SET \"a b\" 'c d'\r\n"),
        words(&[b"SET", b"a b", b"c d"])
    );
    assert_eq!(
        one(b"ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\"\r\n"),
        words(&[b"ECHO", b"\n\r\t\x08\x07\\\""])
    );
    assert_eq!(
        one(b"ECHO \"\\x41\\x4a\\x00\\xfF\"\r\n"),
        words(&[b"ECHO", b"AJ\x00\xff"])
    );
    // \x without two hex digits is just an escaped 'x'; other escapes are
    // the character itself.
    assert_eq!(one(b"ECHO \"\\xZZ\\q\"\r\n"), words(&[b"ECHO", b"xZZq"]));
    // Single quotes only understand \'.
    assert_eq!(
        one(b"ECHO 'it\\'s' 'a\\nb'\r\n"),
        words(&[b"ECHO", b"it's", b"a\\nb"])
    );
    // Quotes may start inside a word and an empty quoted word counts.
    assert_eq!(
        one(b"ECHO ab\"c d\" \"\"\r\n"),
        words(&[b"ECHO", b"abc d", b""])
    );
}

#[test]
fn unbalanced_quotes_are_refused() {
    for input in [
        &b"ECHO \"abc\r\n"[..],
        b"ECHO 'abc\r\n",
        b"ECHO \"a\"b\r\n",
        b"ECHO 'a'b\r\n",
        b"ECHO \"abc\\\"\r\n",
    ] {
        let message = invalid(input);
        assert!(message.contains("unbalanced quotes"), "{message}");
    }
}

#[test]
fn split_args_matches_redis() {
    assert_eq!(resp::split_args(b""), Some(vec![]));
    assert_eq!(resp::split_args(b"   "), Some(vec![]));
    assert_eq!(
        resp::split_args(b"a \"b c\" d"),
        Some(vec![b"a".to_vec(), b"b c".to_vec(), b"d".to_vec()])
    );
    assert_eq!(resp::split_args(b"\"unterminated"), None);
}

#[test]
fn empty_lines_and_empty_arrays_are_skipped() {
    let (outcome, args, rest) = decode(b"\r\n\n   \r\n*0\r\n*-1\r\n*-7\r\nPING\r\n");
    assert_eq!(outcome, Decoded::Frame(()));
    assert_eq!(args, words(&[b"PING"]));
    assert!(rest.is_empty());
    // Only skippable input: everything consumed, nothing decoded.
    let (outcome, args, rest) = decode(b"\r\n*0\r\n\n");
    assert_eq!(outcome, Decoded::Incomplete);
    assert!(args.is_empty());
    assert!(rest.is_empty());
}

#[test]
fn pipelined_requests_in_one_buffer() {
    let input =
        b"*1\r\n$4\r\nPING\r\nSET a 1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\nINCR a\n*2\r\n$3\r\nGET";
    let mut decoder = decoder();
    let mut buf = BytesMut::from(&input[..]);
    let mut args = ArgList::new();
    let mut seen = Vec::new();
    while let Decoded::Frame(()) = decoder.decode(&mut buf, &mut args) {
        seen.push(args.to_args());
    }
    assert_eq!(
        seen,
        vec![
            words(&[b"PING"]),
            words(&[b"SET", b"a", b"1"]),
            words(&[b"GET", b"a"]),
            words(&[b"INCR", b"a"]),
        ]
    );
    assert_eq!(&buf[..], b"*2\r\n$3\r\nGET", "the partial request waits");
    buf.extend_from_slice(b"\r\n$1\r\nb\r\n");
    assert_eq!(decoder.decode(&mut buf, &mut args), Decoded::Frame(()));
    assert_eq!(args.to_args(), words(&[b"GET", b"b"]));
    assert!(buf.is_empty());
}

fn encoded(reply: &Reply, version: RespVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    resp::encode_reply(reply, version, &mut out);
    out.to_vec()
}

#[test]
fn replies_in_resp2_and_resp3() {
    use RespVersion::{Resp2, Resp3};
    let cases: Vec<(Reply, &[u8], &[u8])> = vec![
        (Reply::OK, b"+OK\r\n", b"+OK\r\n"),
        (Reply::bulk_static(b"v"), b"$1\r\nv\r\n", b"$1\r\nv\r\n"),
        (Reply::BulkInt(-5), b"$2\r\n-5\r\n", b"$2\r\n-5\r\n"),
        (Reply::Int(7), b":7\r\n", b":7\r\n"),
        (
            Reply::Int(i64::MIN),
            b":-9223372036854775808\r\n",
            b":-9223372036854775808\r\n",
        ),
        (
            Reply::BulkInt(i64::MAX),
            b"$19\r\n9223372036854775807\r\n",
            b"$19\r\n9223372036854775807\r\n",
        ),
        (Reply::Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
        (
            Reply::Double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        ),
        (Reply::Nil, b"$-1\r\n", b"_\r\n"),
        (Reply::Bool(true), b":1\r\n", b"#t\r\n"),
        (Reply::Bool(false), b":0\r\n", b"#f\r\n"),
        (
            Reply::Array(vec![Reply::Int(1), Reply::Nil]),
            b"*2\r\n:1\r\n$-1\r\n",
            b"*2\r\n:1\r\n_\r\n",
        ),
        (
            Reply::Map(vec![(Reply::bulk_static(b"a"), Reply::Int(1))]),
            b"*2\r\n$1\r\na\r\n:1\r\n",
            b"%1\r\n$1\r\na\r\n:1\r\n",
        ),
        (
            Reply::Pairs(vec![
                (Reply::bulk_static(b"a"), Reply::Double(1.0)),
                (Reply::bulk_static(b"b"), Reply::Double(2.5)),
            ]),
            b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
            b"*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n",
        ),
        (Reply::Pairs(Vec::new()), b"*0\r\n", b"*0\r\n"),
        (
            Reply::Error(ServerError::SYNTAX),
            b"-ERR syntax error\r\n",
            b"-ERR syntax error\r\n",
        ),
    ];
    for (reply, resp2, resp3) in cases {
        assert_eq!(encoded(&reply, Resp2), resp2, "{reply:?} in RESP2");
        assert_eq!(encoded(&reply, Resp3), resp3, "{reply:?} in RESP3");
    }
}

#[test]
fn line_replies_cannot_break_the_framing() {
    let error = Reply::Error(ServerError::generic("ERR a\r\nb\nc"));
    assert_eq!(encoded(&error, RespVersion::Resp2), b"-ERR a  b c\r\n");
    let simple = Reply::Simple("x\ry".into());
    assert_eq!(encoded(&simple, RespVersion::Resp3), b"+x y\r\n");
}

// --- properties ---

proptest! {
    /// Integer lines and integer bulks are written digit by digit at their final places;
    /// the standard library's formatting is the reference, and text already
    /// in the buffer must stay in front.
    #[test]
    fn integer_lines_match_standard_formatting(
        value in prop_oneof![
            any::<i64>(),
            -1_000i64..1_000,
            Just(i64::MIN), Just(i64::MAX), Just(0), Just(9), Just(10), Just(-10),
            Just(999_999_999_999_999_999), Just(1_000_000_000_000_000_000),
            Just(999_999_999), Just(1_000_000_000), Just(-123_456_789),
        ]
    ) {
        let mut out = BytesMut::from(&b"+OK\r\n"[..]);
        resp::encode_reply(&Reply::Int(value), RespVersion::Resp2, &mut out);
        resp::encode_reply(&Reply::Array(vec![Reply::Int(value); 2]), RespVersion::Resp3, &mut out);
        resp::encode_reply(&Reply::BulkInt(value), RespVersion::Resp2, &mut out);
        let line = format!(":{value}\r\n");
        let text = value.to_string();
        let bulk = format!("${}\r\n{text}\r\n", text.len());
        let expected = format!("+OK\r\n{line}*2\r\n{line}{line}{bulk}");
        prop_assert_eq!(String::from_utf8_lossy(&out), expected);
    }

    #[test]
    fn multibulk_requests_round_trip(
        args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..12)
    ) {
        let slices: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let mut buf = BytesMut::new();
        resp::encode_request(&slices, &mut buf);
        // A second request behind it must stay untouched.
        buf.extend_from_slice(b"*1\r\n$4\r\nPI");
        let mut decoded = ArgList::new();
        prop_assert_eq!(decoder().decode(&mut buf, &mut decoded), Decoded::Frame(()));
        let expected: Vec<Arg> = args.into_iter().map(|a| Arg::Bytes(Bytes::from(a))).collect();
        prop_assert_eq!(decoded.to_args(), expected);
        prop_assert_eq!(&buf[..], &b"*1\r\n$4\r\nPI"[..]);
    }

    #[test]
    fn random_input_never_panics_or_overconsumes(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..96),
            // Mostly protocol characters, to reach deeper states.
            proptest::collection::vec(
                prop_oneof![
                    Just(b'*'), Just(b'$'), Just(b'\r'), Just(b'\n'), Just(b'"'), Just(b'\''),
                    Just(b'\\'), Just(b' '), Just(b'x'), Just(b'-'), b'0'..=b'9', any::<u8>()
                ],
                0..96,
            ),
        ]
    ) {
        let limits = Limits { frame_bytes_max: 128, args_max: 8, inline_bytes_max: 48 };
        let mut decoder = RespDecoder::new(limits);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut args = ArgList::new();
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf, &mut args) {
                Decoded::Frame(()) => {
                    prop_assert!(buf.len() < before, "a frame consumes bytes");
                    prop_assert!(!args.is_empty());
                    prop_assert!(args.len() <= limits.args_max);
                }
                // Incomplete may drop skipped empty lines, never more.
                Decoded::Incomplete => {
                    prop_assert!(buf.len() <= before);
                    break;
                }
                Decoded::Invalid(error) => {
                    prop_assert_eq!(error.code, ErrorCode::Protocol);
                    break;
                }
            }
        }
    }
}

/// A frame that arrives a byte at a time is scanned once, not from its
/// start at every byte: 16,384 empty arguments (about 100 KB) fed byte by
/// byte. Scanning from the start at each byte would visit about 8·10⁸
/// argument headers, most of a minute in a debug build; scanned once it
/// takes milliseconds. An inline line fed the same way likewise.
#[test]
fn a_frame_fed_a_byte_at_a_time_is_scanned_once() {
    let count = 16_384;
    let mut frame = format!("*{count}\r\n").into_bytes();
    for _ in 0..count {
        frame.extend_from_slice(b"$0\r\n\r\n");
    }
    let inline = [vec![b'a'; 60_000], b"\r\n".to_vec()].concat();
    for input in [frame, inline] {
        let mut decoder = RespDecoder::new(Limits {
            args_max: count,
            ..Limits::default()
        });
        let (mut buf, mut args) = (BytesMut::new(), ArgList::default());
        let started = std::time::Instant::now();
        for (at, byte) in input.iter().enumerate() {
            buf.extend_from_slice(&[*byte]);
            let outcome = decoder.decode(&mut buf, &mut args);
            if at + 1 < input.len() {
                assert_eq!(outcome, Decoded::Incomplete, "at byte {at}");
            } else {
                assert_eq!(outcome, Decoded::Frame(()));
            }
        }
        assert!(buf.is_empty());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?} for {} bytes",
            started.elapsed(),
            input.len()
        );
    }
}
