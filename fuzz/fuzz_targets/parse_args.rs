//! Request parsing from arguments (`usher_protocol::parse_list` and
//! `parse`): the input is a list of arguments separated by newlines; one
//! that starts with 0x01 or 0x02 and holds 8 more bytes is an integer or a
//! double (as the binary protocol carries them). Both parsers must agree.

#![no_main]

// Linked for its allocator, which refuses oversized allocations.
extern crate usher_fuzz;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use usher_protocol::{parse, parse_list, Arg, ArgList};

fn argument(bytes: &[u8]) -> Arg {
    match bytes {
        [0x01, rest @ ..] if rest.len() == 8 => {
            Arg::Int(i64::from_be_bytes(rest.try_into().unwrap_or_default()))
        }
        [0x02, rest @ ..] if rest.len() == 8 => {
            Arg::Double(f64::from_be_bytes(rest.try_into().unwrap_or_default()))
        }
        _ => Arg::Bytes(Bytes::copy_from_slice(bytes)),
    }
}

fuzz_target!(|data: &[u8]| {
    let args: Vec<Arg> = data.split(|byte| *byte == b'\n').map(argument).collect();
    let list = parse_list(&ArgList::from_args(&args));
    let owned = parse(&args);
    assert_eq!(
        format!("{list:?}"),
        format!("{owned:?}"),
        "parse and parse_list"
    );
    if let Ok(request) = list {
        let _ = request.keys();
        let _ = request.is_connection_level();
    }
});
