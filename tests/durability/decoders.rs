//! A proptest smoke of the on-disk decoders the `fuzz/` targets run (the
//! same checks, on fewer inputs, in every `cargo test`): log records and
//! snapshots of arbitrary bytes, and arbitrary payloads given a checksum
//! that holds (so the effect and entry decoders behind it are reached),
//! never panic; a record that decodes re-encodes to its bytes; a seat count
//! above `seats_per_event_max` is refused rather than allocated. Cases:
//! `USHER_PROPTEST_CASES` (default 256).

use std::path::Path;

use proptest::prelude::*;
use usher::log::record::{self, Decoded, RECORD_HEADER_BYTES, RECORD_VERSION};
use usher::log::SEGMENT_VERSION;
use usher::snapshot::{self, SNAPSHOT_HEADER_BYTES, SNAPSHOT_MAGIC, SNAPSHOT_VERSION};
use usher::state::{State, StateLimits};

const SEATS_MAX: u64 = 10_000;

fn cases() -> u32 {
    std::env::var("USHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// `payload` as a record whose length and checksum hold.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A record payload of this build's format at position 1 holding `count`
/// effects made of `body`: an effect tag, a small length, then anything.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    (
        0u32..4,
        prop::collection::vec(
            prop_oneof![
                (1u8..48).prop_map(|tag| vec![tag]),
                (0u32..40).prop_map(|n| n.to_le_bytes().to_vec()),
                prop::collection::vec(any::<u8>(), 0..12),
            ],
            0..12,
        ),
    )
        .prop_map(|(count, pieces)| {
            let mut out = vec![RECORD_VERSION];
            out.extend_from_slice(&1u64.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend(pieces.concat());
            out
        })
}

/// Decodes every record of `data`, checking what decodes re-encodes.
fn read_records(data: &[u8], version: u32) {
    let mut offset = 0;
    let mut expected = 0;
    let mut effects = Vec::new();
    while offset < data.len() {
        match record::decode(&data[offset..], version) {
            Decoded::Record {
                lsn,
                count,
                effects: body,
                len,
            } => {
                effects.clear();
                if record::decode_effects(body, count, SEATS_MAX, &mut effects).is_ok() {
                    let mut again = Vec::new();
                    for effect in &effects {
                        effect.encode(&mut again);
                    }
                    assert_eq!(again, body, "effects re-encode to their bytes");
                }
                offset += len;
                expected = lsn.wrapping_add(1);
            }
            _ => {
                let _ = record::torn_tail(data, offset, expected, version);
                return;
            }
        }
    }
}

fn load(bytes: &[u8]) {
    let mut state = State::new(StateLimits {
        seats_per_event_max: SEATS_MAX,
        ..StateLimits::default()
    });
    if snapshot::load_bytes(Path::new("smoke.usnap"), bytes, &mut state, None).is_ok() {
        // As recovery does once the log is replayed.
        state.rebuild_timers();
        state.check_invariants();
    }
}

/// A snapshot of `chunks` (entry bytes each) with every checksum holding.
fn sealed_snapshot(chunks: &[Vec<u8>], entries: u64) -> Vec<u8> {
    let mut out = SNAPSHOT_MAGIC.to_vec();
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 12]);
    assert_eq!(out.len(), SNAPSHOT_HEADER_BYTES);
    for chunk in chunks {
        out.extend_from_slice(&framed(chunk));
    }
    let mut trailer = 0u64.to_le_bytes().to_vec();
    trailer.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&trailer).to_le_bytes());
    out.extend_from_slice(&trailer);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn log_records_of_any_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..300),
        version in 1u32..=SEGMENT_VERSION,
    ) {
        read_records(&data, version);
    }

    #[test]
    fn checksummed_payloads_of_any_effects_never_panic(
        payloads in prop::collection::vec(payload(), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let data: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
        read_records(&data, SEGMENT_VERSION);
        let cut = cut.index(data.len() + 1);
        read_records(&data[..cut], SEGMENT_VERSION);
        prop_assert!(data.len() >= RECORD_HEADER_BYTES);
    }

    #[test]
    fn snapshots_of_any_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..200),
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 0..3),
        entries in 0u64..4,
    ) {
        load(&data);
        load(&sealed_snapshot(&chunks, entries));
    }
}

#[test]
fn a_snapshot_seat_map_above_the_seat_limit_is_refused() {
    // A key entry: kind 1, key "e", position, deadline, then a seat map
    // (value tag 5) of 2³¹ - 1 seats, limit 0, no holder slots.
    let mut entry = vec![1u8];
    entry.extend_from_slice(&1u32.to_le_bytes());
    entry.push(b'e');
    entry.extend_from_slice(&0u64.to_le_bytes());
    entry.extend_from_slice(&0u64.to_le_bytes());
    entry.push(5);
    entry.extend_from_slice(&(u32::MAX >> 1).to_le_bytes());
    entry.extend_from_slice(&0u64.to_le_bytes());
    entry.extend_from_slice(&0u32.to_le_bytes());
    let bytes = sealed_snapshot(&[entry], 1);
    let mut state = State::new(StateLimits {
        seats_per_event_max: SEATS_MAX,
        ..StateLimits::default()
    });
    let error = match snapshot::load_bytes(Path::new("big.usnap"), &bytes, &mut state, None) {
        Ok(_) => panic!("a seat map past the limit loaded"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("seats_per_event_max"), "{error}");
    assert!(error.contains("big.usnap"), "{error}");
}
