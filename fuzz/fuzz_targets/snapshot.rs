//! Snapshot decoding (`usher::snapshot::load_bytes`). With bit 0 of the
//! first input byte set, the rest is given a snapshot header, and each
//! chunk's checksum and the trailer's are set to hold, so that the entry
//! decoder behind them is reached. A snapshot that loads leaves a state
//! whose invariants hold.

#![no_main]

// Linked for its allocator, which refuses oversized allocations.
extern crate usher_fuzz;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use usher::snapshot::{self, SNAPSHOT_HEADER_BYTES, SNAPSHOT_MAGIC, SNAPSHOT_VERSION};
use usher::state::{State, StateLimits};

/// Sets every chunk's checksum and the trailer's to match their bytes.
fn seal(data: &mut [u8]) {
    let mut offset = SNAPSHOT_HEADER_BYTES;
    while offset + 8 <= data.len() {
        let length = u32::from_le_bytes([
            data[offset],
            data[offset + 1],
            data[offset + 2],
            data[offset + 3],
        ]);
        let (start, end) = if length == u32::MAX {
            (offset + 8, offset + 24)
        } else {
            (offset + 8, offset + 8 + length as usize)
        };
        if end > data.len() {
            return;
        }
        let crc = crc32c::crc32c(&data[start..end]);
        data[offset + 4..offset + 8].copy_from_slice(&crc.to_le_bytes());
        offset = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = Vec::with_capacity(rest.len() + SNAPSHOT_HEADER_BYTES);
    if mode & 1 != 0 {
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        bytes.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&[0; 12]);
        bytes.extend_from_slice(rest);
        seal(&mut bytes);
    } else {
        bytes.extend_from_slice(rest);
    }
    let mut state = State::new(StateLimits {
        seats_per_event_max: usher_fuzz::SEATS_MAX,
        ..StateLimits::default()
    });
    if snapshot::load_bytes(Path::new("fuzz.usnap"), &bytes, &mut state, None).is_ok() {
        // As recovery does once the log is replayed.
        state.rebuild_timers();
        state.check_invariants();
    }
});
