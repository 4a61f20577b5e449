//! Binary frame decoding: request frames (as the server reads them) and
//! reply frames (as the client reads them). Decoding in pieces gives what
//! decoding at once gives; a decoded request or reply encodes back to a
//! frame that decodes to the same thing.

#![no_main]

// Linked for its allocator, which refuses oversized allocations.
extern crate usher_fuzz;

use usher_fuzz::drive;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use usher_protocol::binary::{decode_reply, decode_request, encode_reply, encode_request};
use usher_protocol::{parse_list, Arg, ArgList, Decoded};

type Request = (u64, Option<Vec<u8>>, Vec<Arg>);

fn requests(data: &[u8], piece: usize) -> (Vec<Request>, bool) {
    let limits = usher_fuzz::limits();
    let mut args = ArgList::new();
    drive(data, piece, |buf| {
        match decode_request(buf, &limits, &mut args) {
            Decoded::Frame(header) => {
                if let Ok(request) = parse_list(&args) {
                    let _ = request.keys();
                }
                let key = header.idempotency_key.map(|key| key.to_vec());
                Decoded::Frame((header.request_id, key, args.to_args()))
            }
            Decoded::Incomplete => Decoded::Incomplete,
            Decoded::Invalid(error) => Decoded::Invalid(error),
        }
    })
}

fn request_round_trip((id, key, args): &Request) {
    let mut buf = BytesMut::new();
    encode_request(&mut buf, *id, key.as_deref(), args);
    let (again, invalid) = requests(&buf, buf.len());
    assert!(!invalid, "a request encoded from a decoded one is invalid");
    assert_eq!(again.len(), 1);
    let (id2, key2, args2) = &again[0];
    assert_eq!((id2, key2), (id, key));
    // NaN is refused by the decoder, so doubles compare by value.
    assert_eq!(args2, args);
}

fn replies(data: &[u8], piece: usize) -> (Vec<Vec<u8>>, bool) {
    let limits = usher_fuzz::limits();
    drive(data, piece, |buf| match decode_reply(buf, &limits) {
        Decoded::Frame((id, reply)) => {
            // Replies compare by their encoding: doubles may be NaN.
            let mut out = BytesMut::new();
            encode_reply(&mut out, id, &reply);
            Decoded::Frame(out.to_vec())
        }
        Decoded::Incomplete => Decoded::Incomplete,
        Decoded::Invalid(error) => Decoded::Invalid(error),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let piece = usize::from(mode >> 1) % 16 + 1;
    if mode & 1 == 0 {
        let whole = requests(data, data.len().max(1));
        assert_eq!(requests(data, piece), whole, "pieces of {piece} bytes");
        for request in &whole.0 {
            request_round_trip(request);
        }
    } else {
        let whole = replies(data, data.len().max(1));
        assert_eq!(replies(data, piece), whole, "pieces of {piece} bytes");
        for encoded in &whole.0 {
            let (again, invalid) = replies(encoded, encoded.len());
            assert!(!invalid && again.len() == 1, "a re-encoded reply");
            assert_eq!(&again[0], encoded, "reply round trip");
        }
    }
});
