//! A proptest smoke of the decoders the `fuzz/` targets run (the same
//! checks, on fewer and simpler inputs, in every `cargo test`): arbitrary
//! bytes never panic a decoder; decoding in pieces gives what decoding at
//! once gives; what a decoder accepts encodes back to the same arguments;
//! an incomplete frame never makes the decoder reserve past the frame
//! limit. Cases: `USHER_PROPTEST_CASES` (default 256).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use usher_protocol::binary::{self, decode_reply, decode_request, encode_request};
use usher_protocol::resp::{self, RespDecoder};
use usher_protocol::{parse, parse_list, Arg, ArgList, Decoded, Limits};

fn cases() -> u32 {
    std::env::var("USHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn limits() -> Limits {
    Limits {
        frame_bytes_max: 4096,
        args_max: 64,
        inline_bytes_max: 512,
    }
}

/// Frames (as owned arguments) until the decoder wants more than `data`
/// holds, fed `piece` bytes at a time, and whether it ended invalid; the
/// largest buffer capacity seen while a frame was incomplete.
fn drive(
    data: &[u8],
    piece: usize,
    mut step: impl FnMut(&mut BytesMut, &mut ArgList) -> Decoded<()>,
) -> ((Vec<Vec<Arg>>, bool), usize) {
    let mut buf = BytesMut::new();
    let mut args = ArgList::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    let mut capacity = 0;
    loop {
        match step(&mut buf, &mut args) {
            Decoded::Frame(()) => frames.push(args.to_args()),
            Decoded::Incomplete => {
                capacity = capacity.max(buf.capacity());
                if fed == data.len() {
                    return ((frames, false), capacity);
                }
                let next = (fed + piece).min(data.len());
                buf.extend_from_slice(&data[fed..next]);
                fed = next;
            }
            Decoded::Invalid(_) => return ((frames, true), capacity),
        }
    }
}

fn resp_frames(data: &[u8], piece: usize) -> ((Vec<Vec<Arg>>, bool), usize) {
    let mut decoder = RespDecoder::new(limits());
    drive(data, piece, |buf, args| decoder.decode(buf, args))
}

fn binary_frames(data: &[u8], piece: usize) -> ((Vec<Vec<Arg>>, bool), usize) {
    let limits = limits();
    drive(data, piece, |buf, args| {
        match decode_request(buf, &limits, args) {
            Decoded::Frame(_) => Decoded::Frame(()),
            Decoded::Incomplete => Decoded::Incomplete,
            Decoded::Invalid(error) => Decoded::Invalid(error),
        }
    })
}

/// Bytes that look like requests often enough to get past the first check.
fn resp_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"SET".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\"".to_vec()),
        (0u32..100_000).prop_map(|n| n.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..6),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

fn binary_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        any::<u32>(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(flags, length, id, body)| {
            let mut out = vec![
                binary::MAGIC,
                binary::VERSION,
                binary::KIND_REQUEST,
                flags & 1,
            ];
            out.extend_from_slice(&(length % 8192).to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&body);
            out
        })
}

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| Arg::Bytes(Bytes::from(b))),
        any::<i64>().prop_map(Arg::Int),
        any::<f64>()
            .prop_filter("NaN is refused", |v| !v.is_nan())
            .prop_map(Arg::Double),
    ]
}

fn words() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn resp_decoding_does_not_depend_on_how_the_bytes_arrive(
        data in prop_oneof![resp_bytes(), prop::collection::vec(any::<u8>(), 0..200)],
        piece in 1usize..17,
    ) {
        let (whole, capacity) = resp_frames(&data, data.len().max(1));
        prop_assert_eq!(resp_frames(&data, piece).0, whole.clone());
        prop_assert!(capacity <= limits().frame_bytes_max.max(data.len()));
        for frame in &whole.0 {
            let args = ArgList::from_args(frame);
            prop_assert_eq!(format!("{:?}", parse_list(&args)), format!("{:?}", parse(frame)));
        }
    }

    #[test]
    fn binary_decoding_does_not_depend_on_how_the_bytes_arrive(
        data in prop_oneof![binary_bytes(), prop::collection::vec(any::<u8>(), 0..200)],
        piece in 1usize..17,
    ) {
        let (whole, capacity) = binary_frames(&data, data.len().max(1));
        prop_assert_eq!(binary_frames(&data, piece).0, whole);
        // An incomplete frame reserves at most its own length, which the
        // header check bounds by the frame limit.
        prop_assert!(capacity <= limits().frame_bytes_max, "capacity {}", capacity);
        let mut buf = BytesMut::from(&data[..]);
        let _ = decode_reply(&mut buf, &limits());
    }

    #[test]
    fn resp_requests_round_trip(words in words()) {
        let mut buf = BytesMut::new();
        let borrowed: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
        resp::encode_request(&borrowed, &mut buf);
        let ((frames, invalid), _) = resp_frames(&buf, 3);
        prop_assert!(!invalid);
        let expected: Vec<Arg> = words.iter().map(|w| Arg::Bytes(Bytes::copy_from_slice(w))).collect();
        prop_assert_eq!(frames, vec![expected]);
    }

    #[test]
    fn binary_requests_round_trip(
        id in any::<u64>(),
        key in prop::option::of(prop::collection::vec(any::<u8>(), 1..=64)),
        name in prop::collection::vec(any::<u8>(), 0..8),
        rest in prop::collection::vec(arg(), 0..6),
    ) {
        let mut args = vec![Arg::Bytes(Bytes::from(name))];
        args.extend(rest);
        let mut buf = BytesMut::new();
        encode_request(&mut buf, id, key.as_deref(), &args);
        let mut list = ArgList::new();
        let Decoded::Frame(header) = decode_request(&mut buf, &limits(), &mut list) else {
            panic!("an encoded request decodes");
        };
        prop_assert_eq!(header.request_id, id);
        prop_assert_eq!(header.idempotency_key.map(|k| k.to_vec()), key);
        prop_assert_eq!(list.to_args(), args);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn argument_lists_parse_the_same_either_way(
        name in prop_oneof![
            Just(b"SET".to_vec()), Just(b"SEAT.HOLD".to_vec()), Just(b"ZADD".to_vec()),
            Just(b"QUEUE.CONFIG".to_vec()), Just(b"CLIENT".to_vec()), Just(b"HELLO".to_vec()),
            prop::collection::vec(any::<u8>(), 0..8),
        ],
        rest in prop::collection::vec(arg(), 0..8),
    ) {
        let mut args = vec![Arg::Bytes(Bytes::from(name))];
        args.extend(rest);
        let list = parse_list(&ArgList::from_args(&args));
        prop_assert_eq!(format!("{list:?}"), format!("{:?}", parse(&args)));
    }
}

#[test]
fn a_length_field_never_sizes_memory_past_the_frame_limit() {
    let limits = limits();
    // A binary header naming a body one byte over the limit: refused with
    // nothing reserved, before any of the body arrives.
    let mut over = BytesMut::new();
    over.extend_from_slice(&[binary::MAGIC, binary::VERSION, binary::KIND_REQUEST, 0]);
    over.extend_from_slice(
        &((limits.frame_bytes_max - binary::HEADER_BYTES + 1) as u32).to_be_bytes(),
    );
    over.extend_from_slice(&7u64.to_be_bytes());
    let capacity = over.capacity();
    let mut args = ArgList::new();
    assert!(matches!(
        decode_request(&mut over, &limits, &mut args),
        Decoded::Invalid(_)
    ));
    assert_eq!(over.capacity(), capacity);
    // RESP: a bulk length past the limit, and a count past `args_max`.
    let mut decoder = RespDecoder::new(limits);
    for input in [
        &b"*1\r\n$4097\r\n"[..],
        b"*65\r\n",
        b"*1\r\n$99999999999\r\n",
    ] {
        let mut buf = BytesMut::from(input);
        let capacity = buf.capacity();
        assert!(
            matches!(decoder.decode(&mut buf, &mut args), Decoded::Invalid(_)),
            "{input:?}"
        );
        assert_eq!(buf.capacity(), capacity, "{input:?}");
    }
}
