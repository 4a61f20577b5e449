//! Log records: encoding, and the one decoder that recovery, `usher-server
//! check`, the snapshot's replay filter and the commit tap's readers read
//! them with (grammar in `log/mod.rs`). Decoding checks the frame (length,
//! checksum) and the record's format version, and names the position and
//! effect count; the effects are decoded by [`decode_effects`], and
//! [`torn_tail`] says whether the bytes of a bad frame prove a write cut
//! short (the rule, and why, are in `log/mod.rs`).

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
    /// The bytes end inside a record: a header cut short, or a length
    /// running past the end. A write cut short leaves this, and so does a
    /// damaged length: [`torn_tail`] tells them apart.
    Incomplete { reason: String },
    /// All the bytes a record's header names are there, and they are not
    /// a record: a checksum that fails, a length too small, version 0.
    /// Damage, unless [`torn_tail`] finds the zeros of a write cut short.
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
        return Decoded::Corrupt {
            reason: "record checksum mismatch".into(),
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

/// The unit a disk writes whole: a write cut short by a crash leaves each
/// 512-byte sector (and each page, a multiple) of the file either as it was
/// or fully written, never part of one.
pub const SECTOR_BYTES: usize = 512;

/// Whether the bad record at `offset` in `data` (a whole segment file,
/// whose next record should have position `expected`) is a write cut
/// short, by the rule in `log/mod.rs`: the reason, naming what the bytes
/// show, or `None` when they do not prove it (damage, or the clean end of
/// zeros, which [`decode`] reads as [`Decoded::Zeros`]).
pub fn torn_tail(
    data: &[u8],
    offset: usize,
    expected: u64,
    segment_version: u32,
) -> Option<String> {
    let rest = data.get(offset..)?;
    // The last byte that is not zero: every write left its bytes up to
    // here; from the sector after it on, the file is as it was before.
    let written = offset + rest.iter().rposition(|b| *b != 0)? + 1;
    if rest.len() < RECORD_HEADER_BYTES {
        return Some(format!(
            "{} bytes of a record header at the end of the file",
            rest.len()
        ));
    }
    let length = word(rest, 0) as usize;
    let end = offset + RECORD_HEADER_BYTES + length;
    let unwritten = written.div_ceil(SECTOR_BYTES) * SECTOR_BYTES;
    if !starts_as_expected(
        &rest[..rest.len().min(unwritten - offset)],
        expected,
        segment_version,
    ) {
        return None;
    }
    // A write cut short leaves a record short of bytes; a damaged length
    // leaves a whole one, whose checksum holds for a length ending after
    // the last written byte, within the file and the written sector.
    let whole_end = data.len().min(unwritten) - offset;
    if whole_with_another_length(rest, written - offset, whole_end) {
        return None;
    }
    match frame(rest, segment_version) {
        Decoded::Record { .. } | Decoded::Zeros | Decoded::Newer { .. } => None,
        // A write cut short leaves nothing valid behind it: a record that
        // does is damage before it (its length, most likely).
        Decoded::Incomplete { .. }
            if later_record_follows(data, offset + 1, expected, segment_version) =>
        {
            None
        }
        Decoded::Incomplete { .. } => Some(format!(
            "the record's header names {} bytes, the file holds {}",
            RECORD_HEADER_BYTES + length,
            rest.len()
        )),
        // A byte changed among those written explains the checksum: a
        // whole record, damaged, whose own last bytes are zeros.
        Decoded::Corrupt { .. }
            if rest
                .get(RECORD_HEADER_BYTES..end - offset)
                .is_some_and(|payload| {
                    one_byte_changed(
                        payload,
                        word(rest, 4),
                        written.saturating_sub(offset + RECORD_HEADER_BYTES),
                    )
                }) =>
        {
            None
        }
        Decoded::Corrupt { .. } => (unwritten < end).then(|| {
            format!(
                "the record's bytes from offset {unwritten} (a sector boundary) to its end \
                     are zeros, as a write cut short leaves them"
            )
        }),
    }
}

/// Whether the checksum in the header at the start of `rest` holds for a
/// payload ending anywhere from `written` to `last` (offsets in `rest`):
/// then the record is whole and only its length field is wrong.
fn whole_with_another_length(rest: &[u8], written: usize, last: usize) -> bool {
    let first = written.max(RECORD_HEADER_BYTES);
    if rest.len() < RECORD_HEADER_BYTES || first > last {
        return false;
    }
    let crc = word(rest, 4);
    let mut running = crc32c::crc32c(&rest[RECORD_HEADER_BYTES..first]);
    for end in first..=last {
        if end > first {
            running = crc32c::crc32c_append(running, &rest[end - 1..end]);
        }
        if running == crc {
            return true;
        }
    }
    false
}

/// The CRC-32C polynomial, bit-reflected (as [`crc32c`] computes it).
const CRC32C_REFLECTED: u32 = 0x82F6_3B78;

/// Undoes the linear part of CRC-32C for one more zero byte (eight
/// reflected shifts, adding the polynomial when a one falls out): the
/// checksums of two payloads of one length differ by the linear CRC of
/// their difference, and a difference `k` bytes before the end is the
/// difference at the end followed by `k` zero bytes.
fn crc_zero_byte_undone(mut crc: u32) -> u32 {
    for _ in 0..8 {
        // The polynomial's top bit is set and a shift's is not, so the top
        // bit tells whether the polynomial was added.
        crc = if crc & 0x8000_0000 != 0 {
            ((crc ^ CRC32C_REFLECTED) << 1) | 1
        } else {
            crc << 1
        };
    }
    crc
}

/// Whether changing one byte among the first `written` of `payload` would
/// make its checksum `crc`: then its bytes are whole and one was damaged.
/// (A torn write differs from its record in whole sectors of zeros past
/// `written`; the chance that its checksum still names one changed byte
/// before them is one in 2³² per byte and value.)
fn one_byte_changed(payload: &[u8], crc: u32, written: usize) -> bool {
    let mut difference = crc32c::crc32c(payload) ^ crc;
    let zero = crc32c::crc32c(&[0]);
    // The differences one byte at the end makes, by its changed bits.
    let mut at_end = [0u32; 256];
    for (bits, slot) in at_end.iter_mut().enumerate() {
        *slot = crc32c::crc32c(&[bits as u8]) ^ zero;
    }
    at_end.sort_unstable();
    let written = written.min(payload.len());
    for back in 0..payload.len() {
        let position = payload.len() - 1 - back;
        if position < written && difference != 0 && at_end.binary_search(&difference).is_ok() {
            return true;
        }
        difference = crc_zero_byte_undone(difference);
    }
    false
}

/// Whether the bytes a write left of a record (`written`, from its start)
/// read as the start of the record the log expects there: a format this
/// build writes, and position `expected`, as far as they go.
fn starts_as_expected(written: &[u8], expected: u64, segment_version: u32) -> bool {
    let mut lsn_at = RECORD_HEADER_BYTES;
    if segment_version >= 2 {
        match written.get(RECORD_HEADER_BYTES) {
            Some(version) if *version == 0 || *version > RECORD_VERSION => return false,
            _ => lsn_at += 1,
        }
    }
    let lsn = expected.to_le_bytes();
    let present = written.get(lsn_at..).unwrap_or_default();
    present.iter().zip(lsn).all(|(byte, want)| *byte == want)
}

/// Decodes a record's `count` effects into `out`; an error if one does not
/// decode, names a seat map of more than `seats_max` seats (the configured
/// `seats_per_event_max`: a seat count sizes memory that no byte count
/// bounds), or bytes are left over.
pub fn decode_effects(
    effects: &[u8],
    count: u32,
    seats_max: u64,
    out: &mut Vec<Effect>,
) -> Result<(), String> {
    let mut reader = Reader::new(effects).with_seats_max(seats_max);
    // Every effect takes a byte at least: a count beyond the bytes is
    // damage, found below, and must not size an allocation.
    out.reserve((count as usize).min(effects.len()));
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

    const SEATS: u64 = 1000;
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
            decode_effects(body, count, SEATS, &mut decoded).expect("effects decode");
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
    fn a_seat_map_above_the_seat_limit_is_refused_before_it_is_allocated() {
        let put = |seats: u32| {
            Effect::from(KeyEffect::Put {
                key: Key::from(Bytes::from_static(b"event")),
                value: Value::Seats(Box::new(crate::state::seats::SeatMap::new(seats, 0))),
                deadline_ms: None,
            })
        };
        let mut record = Vec::new();
        encode(&mut record, 1, &mut vec![put(SEATS as u32)]);
        let Decoded::Record { count, effects, .. } = decode(&record, V) else {
            panic!("a record written is read back");
        };
        let mut decoded = Vec::new();
        decode_effects(effects, count, SEATS, &mut decoded).expect("at the limit");
        assert_eq!(decoded, vec![put(SEATS as u32)]);
        // The fuzzer's find: a seat count the bytes do not bound (here
        // 2³¹ - 1, which would take 8 GiB) sized the seat map.
        let mut huge = effects.to_vec();
        // The effect tag, the key (length and bytes), the deadline, the
        // value tag, then the seat count.
        let at = 1 + 4 + 5 + 8 + 1;
        huge[at..at + 4].copy_from_slice(&(u32::MAX >> 1).to_le_bytes());
        let error = decode_effects(&huge, count, SEATS, &mut decoded).expect_err("refused");
        assert!(error.contains("seats_per_event_max"), "{error}");
    }

    /// The linear part of CRC-32C for one more zero byte.
    fn crc_zero_byte(mut crc: u32) -> u32 {
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ CRC32C_REFLECTED
            } else {
                crc >> 1
            };
        }
        crc
    }

    #[test]
    fn a_changed_byte_is_found_from_the_checksum() {
        let payload: Vec<u8> = (0..700u32).map(|i| (i * 7 + 3) as u8).collect();
        let crc = crc32c::crc32c(&payload);
        assert!(
            !one_byte_changed(&payload, crc, payload.len()),
            "nothing changed"
        );
        for position in [0, 1, 250, 511, 698, 699] {
            for bits in [0x01, 0x80, 0xFF, 0x5A] {
                let mut damaged = payload.clone();
                damaged[position] ^= bits;
                assert!(
                    one_byte_changed(&damaged, crc, payload.len()),
                    "{position} ^ {bits:#x}"
                );
                // Not among the written bytes: not proof of damage.
                assert!(!one_byte_changed(&damaged, crc, position), "{position}");
                // The zero-byte shift undoes.
                let shifted = crc_zero_byte(crc32c::crc32c(&damaged[..position + 1]));
                assert_eq!(
                    crc_zero_byte_undone(shifted),
                    crc32c::crc32c(&damaged[..position + 1])
                );
            }
        }
        let mut two = payload.clone();
        two[10] ^= 1;
        two[600] ^= 1;
        assert!(
            !one_byte_changed(&two, crc, payload.len()),
            "two bytes changed"
        );
    }

    #[test]
    fn a_damaged_record_whose_zeros_cross_a_sector_is_not_torn() {
        // A record whose last bytes are zeros (a value of zeros) reaching
        // back across a sector boundary: zeros from the boundary on, as a
        // torn write leaves them, but one flipped byte explains the
        // checksum.
        let record = encoded(7, &[vec![0x5A; 600], vec![0; 300]]);
        let last = record.iter().rposition(|b| *b != 0).expect("bytes") + 1;
        // Placed so that its last written byte is 10 before a boundary.
        let offset = (SECTOR_BYTES - 10 + SECTOR_BYTES - last % SECTOR_BYTES) % SECTOR_BYTES;
        let data = placed(&record, offset, 4096);
        let written = offset + last;
        let boundary = written.div_ceil(SECTOR_BYTES) * SECTOR_BYTES;
        assert!(
            boundary < offset + record.len(),
            "the zeros cross a boundary"
        );
        for byte in [offset + 20, offset + 300, written - 1] {
            let mut damaged = data.clone();
            damaged[byte] ^= 0x10;
            assert_eq!(torn_tail(&damaged, offset, 7, V), None, "byte {byte}");
        }
        // Torn there: the sector from the boundary on never written.
        let mut torn = data.clone();
        let whole: Vec<u8> = encoded(7, &[vec![0x5A; 600], vec![0x33; 300]]);
        torn[offset..offset + whole.len()].copy_from_slice(&whole);
        torn[boundary..].fill(0);
        assert!(torn_tail(&torn, offset, 7, V).is_some());
    }

    #[test]
    fn a_checksum_failure_is_corrupt_wherever_the_record_ends() {
        let mut bytes = encoded(3, &[b"key".to_vec()]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        assert!(matches!(decode(&bytes, V), Decoded::Corrupt { .. }));
        bytes.push(1);
        assert!(matches!(decode(&bytes, V), Decoded::Corrupt { .. }));
    }

    /// `record` placed at `offset` in a file of `size` bytes, zeros around.
    fn placed(record: &[u8], offset: usize, size: usize) -> Vec<u8> {
        let mut data = vec![0u8; size.max(offset + record.len())];
        data[offset..offset + record.len()].copy_from_slice(record);
        data
    }

    #[test]
    fn a_record_cut_short_is_torn_at_every_length() {
        let record = encoded(7, &[vec![0x5A; 700], b"tail".to_vec()]);
        for offset in [0, 100, 509] {
            let whole = placed(&record, offset, 0);
            for cut in offset + 1..whole.len() {
                let data = &whole[..cut];
                assert!(
                    torn_tail(data, offset, 7, V).is_some(),
                    "offset {offset}, cut at {cut}: {:?}",
                    decode(&data[offset..], V)
                );
            }
        }
    }

    #[test]
    fn a_damaged_whole_record_is_not_torn_with_or_without_zeros_after() {
        // Short records (none crosses a sector boundary) ending in zeros,
        // as an INCR's does: its integer's high bytes.
        let mut effects = effects(&[b"counter".to_vec()]);
        effects.push(Effect::from(KeyEffect::Put {
            key: Key::from(Bytes::from_static(b"n")),
            value: Value::Int(144),
            deadline_ms: None,
        }));
        let mut record = Vec::new();
        encode(&mut record, 9, &mut effects);
        assert_eq!(record.last(), Some(&0), "the record ends in zeros");
        for zeros_after in [0, 1, 4096] {
            for byte in 0..record.len() {
                for flip in [0x01, 0x80, 0xFF] {
                    let mut data = placed(&record, 0, record.len() + zeros_after);
                    data[byte] ^= flip;
                    // A longer length too: the checksum holds for a
                    // shorter one, so the record is whole.
                    assert_eq!(
                        torn_tail(&data, 0, 9, V),
                        None,
                        "byte {byte} ^ {flip:#x}, {zeros_after} zeros after"
                    );
                }
            }
        }
    }

    #[test]
    fn zeros_from_a_sector_boundary_inside_a_record_are_a_torn_write() {
        let record = encoded(7, &[vec![0x5A; 1500]]);
        let offset = 300;
        let data = placed(&record, offset, 8192);
        let end = offset + record.len();
        for boundary in (SECTOR_BYTES..end).step_by(SECTOR_BYTES) {
            let mut torn = data.clone();
            torn[boundary..].fill(0);
            let reason = torn_tail(&torn, offset, 7, V);
            assert!(reason.is_some(), "zeros from {boundary}");
            // The same zeros from inside a sector: that sector was written,
            // and the record is torn only if a later boundary still falls
            // inside it.
            let mut partial = data.clone();
            partial[boundary + 1..].fill(0);
            partial[boundary] = 1;
            let later = (boundary + SECTOR_BYTES) < end;
            assert_eq!(
                torn_tail(&partial, offset, 7, V).is_some(),
                later,
                "{boundary}"
            );
        }
        // Zeros only after the record's end: a whole record, damaged.
        let mut damaged = data.clone();
        damaged[offset + 20] ^= 0x04;
        assert_eq!(torn_tail(&damaged, offset, 7, V), None);
    }

    #[test]
    fn bytes_that_do_not_start_the_expected_record_are_not_torn() {
        let record = encoded(7, &[vec![0x5A; 100]]);
        let cut = &record[..40];
        assert!(torn_tail(cut, 0, 7, V).is_some());
        assert_eq!(torn_tail(cut, 0, 8, V), None, "another position");
        let mut other = cut.to_vec();
        other[RECORD_HEADER_BYTES] = RECORD_VERSION + 1;
        assert_eq!(torn_tail(&other, 0, 7, V), None, "another format");
        assert_eq!(
            torn_tail(b"\xFFjunk at the end\n", 0, 7, V),
            None,
            "not a record"
        );
    }

    #[test]
    fn a_length_too_small_running_past_the_end_is_read_without_a_panic() {
        // The fuzzer's find: a length below the payload header's size is
        // refused as too small before it is checked against the bytes, so
        // the record named runs past them.
        let data = [11, 0, 0, 0, 0xA0, 0xB0, 0xC0, 0xD0, 2, 0];
        assert!(matches!(decode(&data, V), Decoded::Corrupt { .. }));
        assert_eq!(torn_tail(&data, 0, 0, V), None);
    }

    #[test]
    fn a_length_running_past_the_end_is_damage_when_a_record_follows() {
        let mut data = encoded(5, &[b"a".to_vec()]);
        data.extend_from_slice(&encoded(6, &[b"b".to_vec()]));
        data[2] = 0x01; // a length of 65 536 and more
        assert!(matches!(decode(&data, V), Decoded::Incomplete { .. }));
        assert_eq!(torn_tail(&data, 0, 5, V), None);
        data.truncate(20);
        assert!(torn_tail(&data, 0, 5, V).is_some());
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
        decode_effects(body, count, SEATS, &mut decoded).expect("effects decode");
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
