//! RESP request decoding: every frame in the input is decoded and parsed
//! into a request; decoding the input fed in pieces gives the same frames
//! and verdict as decoding it at once; every frame re-encoded as multibulk
//! decodes to the same arguments.

#![no_main]

// Linked for its allocator, which refuses oversized allocations.
extern crate usher_fuzz;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use usher_protocol::resp::{encode_request, RespDecoder};
use usher_protocol::{parse_list, Arg, ArgList, Decoded};

/// What decoding a whole input gives: each frame's arguments, then whether
/// the input ended in an invalid frame.
type Outcome = (Vec<Vec<Arg>>, bool);

fn decode(data: &[u8], piece: usize) -> Outcome {
    let mut decoder = RespDecoder::new(usher_fuzz::limits());
    let mut args = ArgList::new();
    usher_fuzz::drive(data, piece, |buf| match decoder.decode(buf, &mut args) {
        Decoded::Frame(()) => {
            assert!(!args.is_empty(), "a frame without arguments");
            if let Ok(request) = parse_list(&args) {
                let _ = request.keys();
            }
            Decoded::Frame(args.to_args())
        }
        Decoded::Incomplete => Decoded::Incomplete,
        Decoded::Invalid(error) => Decoded::Invalid(error),
    })
}

fn round_trip(args: &[Arg]) {
    let words: Vec<&[u8]> = args
        .iter()
        .map(|arg| match arg {
            Arg::Bytes(bytes) => &bytes[..],
            _ => panic!("RESP decodes strings only"),
        })
        .collect();
    let mut buf = BytesMut::new();
    encode_request(&words, &mut buf);
    let mut decoder = RespDecoder::new(usher_fuzz::limits());
    let mut again = ArgList::new();
    assert_eq!(decoder.decode(&mut buf, &mut again), Decoded::Frame(()));
    assert_eq!(again.to_args(), args, "multibulk round trip");
    assert!(buf.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(data, data.len().max(1));
    let piece = data.first().map_or(1, |byte| usize::from(byte % 16) + 1);
    assert_eq!(decode(data, piece), whole, "pieces of {piece} bytes");
    for frame in &whole.0 {
        round_trip(frame);
    }
});
