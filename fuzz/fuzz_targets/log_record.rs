//! Log record decoding (`usher::log::record`), as recovery, `check` and
//! commit-tap readers use it. The first input byte picks the segment
//! version (bit 0) and whether the rest is taken as a record's payload and
//! given a length and checksum that hold (bit 1), so that the effects
//! decoder behind the checksum is reached. Records that decode re-encode to
//! the same bytes.

#![no_main]

// Linked for its allocator, which refuses oversized allocations.
extern crate usher_fuzz;

use libfuzzer_sys::fuzz_target;
use usher::log::record::{self, Decoded, RECORD_HEADER_BYTES};

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let version = if mode & 1 == 0 { 1 } else { 2 };
    let bytes = if mode & 2 != 0 {
        framed(rest)
    } else {
        rest.to_vec()
    };
    let mut offset = 0;
    let mut expected = 0;
    let mut effects = Vec::new();
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        match record::decode(rest, version) {
            Decoded::Record {
                lsn,
                count,
                effects: body,
                len,
            } => {
                assert!(len >= RECORD_HEADER_BYTES && len <= rest.len());
                effects.clear();
                if record::decode_effects(body, count, usher_fuzz::SEATS_MAX, &mut effects).is_ok()
                {
                    assert_eq!(effects.len(), count as usize);
                    let mut again = Vec::new();
                    for effect in &effects {
                        effect.encode(&mut again);
                    }
                    assert_eq!(again, body, "effects re-encode to their bytes");
                    // The record's own format byte: this build writes
                    // only its own, and reads older ones' bytes the same.
                    if version == 2 && rest[RECORD_HEADER_BYTES] == record::RECORD_VERSION {
                        let mut copy = effects.clone();
                        let mut record_bytes = Vec::new();
                        record::encode(&mut record_bytes, lsn, &mut copy);
                        assert_eq!(record_bytes, &rest[..len], "record round trip");
                    }
                }
                offset += len;
                expected = lsn.wrapping_add(1);
            }
            Decoded::Zeros => {
                assert!(rest.iter().all(|byte| *byte == 0));
                break;
            }
            Decoded::Incomplete { .. } | Decoded::Corrupt { .. } | Decoded::Newer { .. } => {
                let _ = record::torn_tail(&bytes, offset, expected, version);
                break;
            }
        }
    }
});
