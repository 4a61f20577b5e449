//! Log records: encoding, and the one decoder that recovery, `usher-server
//! check`, the snapshot's replay filter and the commit tap's readers read
//! them with (grammar in `log/mod.rs`). Decoding checks the frame (length,
//! checksum) and the record's format version, and names the position and
//! effect count; the effects are decoded by [`decode_effects`], and
//! recovery judges what a bad frame means (torn tail or damage) from where
//! it is.

use crate::encoding::Reader;
use crate::state::Effect;

/// The record format this build writes, the first byte of every payload
/// in a segment of [`super::SEGMENT_VERSION`] 2 or later.
pub const RECORD_VERSION: u8 = 2;
/// `length` + `crc` before each record's payload.
pub const RECORD_HEADER_BYTES: usize = 8;
/// `version` + `lsn` + `count` at the start of each payload.
pub const PAYLOAD_HEADER_BYTES: usize = 13;
/// `lsn` + `count` at the start of a payload in a version-1 segment, whose
/// records name no version of their own.
const PAYLOAD_HEADER_BYTES_V1: usize = 12;
/// The smallest record of any version: its headers and no effect.
pub const RECORD_BYTES_MIN: usize = RECORD_HEADER_BYTES + PAYLOAD_HEADER_BYTES_V1;

/// What the bytes at a position in a segment hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A record whose checksum holds.
    Record {
        lsn: u64,
        /// How many effects `effects` holds.
        count: u32,
        /// The encoded effects (see [`decode_effects`]).
        effects: &'a [u8],
        /// The bytes the whole record takes, headers included.
        len: usize,
    },
    /// Only zeros from here on (at least one byte): space preallocated, or
    /// allocated by the file system, that no record reached.
    Zeros,
    /// The bytes end inside a record: what a write cut short leaves (a
    /// header cut short, a length running past the end, or a record ending
    /// exactly at the end whose checksum fails).
    Incomplete { reason: String },
    /// Bytes that are not a record, with more after them.
    Corrupt { reason: String },
    /// A whole record (its checksum holds) in a format newer than this
    /// build reads: written by a newer usher, not damage.
    Newer { version: u8 },
}

/// Appends one record at position `lsn` holding `effects` (drained) to
/// `out`.
pub fn encode(out: &mut Vec<u8>, lsn: u64, effects: &mut Vec<Effect>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER_BYTES]);
    out.push(RECORD_VERSION);
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&(effects.len() as u32).to_le_bytes());
    for effect in effects.drain(..) {
        effect.encode(out);
    }
    let payload = &out[start + RECORD_HEADER_BYTES..];
    let length = payload.len() as u32;
    let crc = crc32c::crc32c(payload);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn word(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Decodes the record at the start of `data` (the rest of a segment whose
/// header says `segment_version`).
pub fn decode(data: &[u8], segment_version: u32) -> Decoded<'_> {
    // Checked first: a zero length would read as a record too small.
    if !data.is_empty() && data.iter().all(|b| *b == 0) {
        return Decoded::Zeros;
    }
    frame(data, segment_version)
}

/// [`decode`] without the look for zeros, which reads to the end.
fn frame(data: &[u8], segment_version: u32) -> Decoded<'_> {
    if data.len() < RECORD_HEADER_BYTES {
        return Decoded::Incomplete {
            reason: format!("{} bytes of an incomplete record header", data.len()),
        };
    }
    let length = word(data, 0) as usize;
    let crc = word(data, 4);
    let header_bytes = match segment_version {
        1 => PAYLOAD_HEADER_BYTES_V1,
        _ => PAYLOAD_HEADER_BYTES,
    };
    if length < header_bytes {
        return Decoded::Corrupt {
            reason: format!("record length {length} is too small"),
        };
    }
    let Some(payload) = data.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + length) else {
        return Decoded::Incomplete {
            reason: format!("record of {length} bytes runs past the end of the file"),
        };
    };
    if crc32c::crc32c(payload) != crc {
        let reason = "record checksum mismatch".to_string();
        return match RECORD_HEADER_BYTES + length == data.len() {
            true => Decoded::Incomplete { reason },
            false => Decoded::Corrupt { reason },
        };
    }
    let fields = match segment_version {
        1 => payload,
        _ => match payload[0] {
            0 => {
                return Decoded::Corrupt {
                    reason: "record format version 0".into(),
                }
            }
            version if version > RECORD_VERSION => return Decoded::Newer { version },
            _ => &payload[1..],
        },
    };
    let lsn = u64::from(word(fields, 0)) | (u64::from(word(fields, 4)) << 32);
    Decoded::Record {
        lsn,
        count: word(fields, 8),
        effects: &payload[header_bytes..],
        len: RECORD_HEADER_BYTES + length,
    }
}

/// Decodes a record's `count` effects into `out`; an error if one does not
/// decode or bytes are left over.
pub fn decode_effects(effects: &[u8], count: u32, out: &mut Vec<Effect>) -> Result<(), String> {
    let mut reader = Reader::new(effects);
    out.reserve(count as usize);
    for _ in 0..count {
        let effect =
            Effect::decode(&mut reader).map_err(|error| format!("undecodable effect: {error}"))?;
        out.push(effect);
    }
    if !reader.is_empty() {
        return Err("bytes left over after the record's effects".into());
    }
    Ok(())
}

/// Whether a record with a later position than `expected` starts anywhere
/// in `data` from `from` on: then the bad bytes before it are damage, not
/// a torn tail (a write cut short leaves nothing valid behind it).
pub fn later_record_follows(data: &[u8], from: usize, expected: u64, segment_version: u32) -> bool {
    if data.len() < from + RECORD_BYTES_MIN {
        return false;
    }
    // Every record takes at least `RECORD_BYTES_MIN` bytes, which bounds
    // the positions the rest of the data can hold.
    let positions_max = ((data.len() - from) / RECORD_BYTES_MIN) as u64 + 1;
    (from..=data.len() - RECORD_BYTES_MIN).any(|at| match frame(&data[at..], segment_version) {
        Decoded::Record { lsn, .. } => lsn > expected && lsn - expected <= positions_max,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    use crate::log::SEGMENT_VERSION as V;
    use crate::state::{Key, KeyEffect, Value};

    fn effects(keys: &[Vec<u8>]) -> Vec<Effect> {
        keys.iter()
            .map(|key| {
                Effect::from(KeyEffect::Put {
                    key: Key::from(Bytes::copy_from_slice(key)),
                    value: Value::string(key),
                    deadline_ms: None,
                })
            })
            .collect()
    }

    fn encoded(lsn: u64, keys: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, lsn, &mut effects(keys));
        out
    }

    proptest! {
        #[test]
        fn records_round_trip(lsn in any::<u64>(), keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 0..6)) {
            let bytes = encoded(lsn, &keys);
            let Decoded::Record { lsn: read, count, effects: body, len } = decode(&bytes, V) else {
                panic!("a record written is read back");
            };
            prop_assert_eq!((read, count as usize, len), (lsn, keys.len(), bytes.len()));
            let mut decoded = Vec::new();
            decode_effects(body, count, &mut decoded).expect("effects decode");
            prop_assert_eq!(decoded, effects(&keys));
        }

        #[test]
        fn every_truncation_is_incomplete(lsn in any::<u64>(), keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 0..4)) {
            let bytes = encoded(lsn, &keys);
            for cut in 1..bytes.len() {
                let decoded = decode(&bytes[..cut], V);
                let zeros = bytes[..cut].iter().all(|b| *b == 0);
                prop_assert!(
                    matches!(decoded, Decoded::Incomplete { .. }) || zeros,
                    "cut at {}: {:?}", cut, decoded
                );
            }
        }

        #[test]
        fn a_flipped_bit_is_never_a_record(lsn in any::<u64>(), keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 0..4), bit in any::<usize>(), tail in 0usize..3) {
            let mut bytes = encoded(lsn, &keys);
            let bit = bit % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            // More bytes after it (the next record, or zeros) must not
            // change the verdict.
            bytes.extend(std::iter::repeat_n(0xAB, tail));
            let decoded = decode(&bytes, V);
            prop_assert!(!matches!(decoded, Decoded::Record { .. } | Decoded::Zeros), "{:?}", decoded);
        }
    }

    #[test]
    fn zeros_are_the_end_of_the_records() {
        assert_eq!(decode(&[0u8; 5], V), Decoded::Zeros);
        assert_eq!(decode(&[0u8; 4096], V), Decoded::Zeros);
        let mut bytes = encoded(3, &[b"k".to_vec()]);
        let len = bytes.len();
        bytes.extend_from_slice(&[0u8; 100]);
        assert!(matches!(decode(&bytes, V), Decoded::Record { len: read, .. } if read == len));
        assert_eq!(decode(&bytes[len..], V), Decoded::Zeros);
        assert!(matches!(decode(&[], V), Decoded::Incomplete { .. }));
    }

    #[test]
    fn checksum_failures_are_incomplete_only_at_the_end() {
        let mut bytes = encoded(3, &[b"key".to_vec()]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        assert!(matches!(decode(&bytes, V), Decoded::Incomplete { .. }));
        bytes.push(1);
        assert!(matches!(decode(&bytes, V), Decoded::Corrupt { .. }));
    }

    #[test]
    fn a_later_record_is_found_behind_damage() {
        let mut data = encoded(5, &[b"a".to_vec()]);
        data[0] = 0xFF; // a length running past the end
        let next = encoded(6, &[b"b".to_vec()]);
        data.extend_from_slice(&next);
        assert!(later_record_follows(&data, 1, 5, V));
        assert!(!later_record_follows(&data, 1, 6, V));
    }

    /// A version-1 record: no version byte before its position.
    fn encoded_v1(lsn: u64, keys: &[Vec<u8>]) -> Vec<u8> {
        let mut payload = lsn.to_le_bytes().to_vec();
        payload.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        for effect in effects(keys) {
            effect.encode(&mut payload);
        }
        let mut out = (payload.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn records_of_version_1_segments_are_read_by_their_layout() {
        let keys = [b"old".to_vec(), b"format".to_vec()];
        let bytes = encoded_v1(9, &keys);
        let Decoded::Record {
            lsn,
            count,
            effects: body,
            len,
        } = decode(&bytes, 1)
        else {
            panic!("a version-1 record reads in a version-1 segment");
        };
        assert_eq!((lsn, count, len), (9, 2, bytes.len()));
        let mut decoded = Vec::new();
        decode_effects(body, count, &mut decoded).expect("effects decode");
        assert_eq!(decoded, effects(&keys));
        // The same bytes in a segment of this build's version are not a
        // record of another position.
        assert!(!matches!(decode(&bytes, V), Decoded::Record { lsn: 9, .. }));
        assert!(encoded(9, &keys).len() == bytes.len() + 1);
    }

    /// Sets a record's version byte and its checksum to match.
    fn with_version(mut bytes: Vec<u8>, version: u8) -> Vec<u8> {
        bytes[RECORD_HEADER_BYTES] = version;
        let crc = crc32c::crc32c(&bytes[RECORD_HEADER_BYTES..]);
        bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn a_newer_record_version_is_newer_and_version_0_is_damage() {
        let bytes = encoded(4, &[b"k".to_vec()]);
        assert_eq!(bytes[RECORD_HEADER_BYTES], RECORD_VERSION);
        let newer = with_version(bytes.clone(), RECORD_VERSION + 1);
        assert_eq!(
            decode(&newer, V),
            Decoded::Newer {
                version: RECORD_VERSION + 1
            }
        );
        let zero = with_version(bytes, 0);
        assert!(matches!(decode(&zero, V), Decoded::Corrupt { .. }));
    }
}
