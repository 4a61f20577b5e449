//! What every fuzz target shares: an allocator that aborts on any single
//! allocation larger than [`ALLOCATION_BYTES_MAX`] (a decoder that sizes a
//! buffer from a length field it has not checked against the bytes it holds
//! is caught at once, whatever the fuzzer's input size), and the decoder
//! limits the protocol targets run with.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

use usher_protocol::Limits;

/// The frame limit the protocol targets configure, and the largest single
/// allocation any target may make. Inputs are at most a few KiB (libFuzzer's
/// `-max_len`), so nothing honest comes near it.
pub const ALLOCATION_BYTES_MAX: usize = 1024 * 1024;

/// The decoder limits of the protocol targets: the frame limit above, the
/// server's defaults otherwise.
pub fn limits() -> Limits {
    Limits {
        frame_bytes_max: ALLOCATION_BYTES_MAX,
        ..Limits::default()
    }
}

/// The system allocator, refusing (by aborting the process, which libFuzzer
/// reports as a crash with the input) any allocation above the limit.
pub struct LimitedAllocator;

fn too_large(size: usize) -> ! {
    // No formatting: it could allocate.
    let _ = std::io::stderr().write_all(b"\nfuzz: an allocation larger than ALLOCATION_BYTES_MAX\n");
    let _ = size;
    std::process::abort()
}

// SAFETY: every call is forwarded to the system allocator unchanged, after
// a size check that only aborts.
unsafe impl GlobalAlloc for LimitedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_BYTES_MAX {
            too_large(layout.size());
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_BYTES_MAX {
            too_large(layout.size());
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        System.dealloc(pointer, layout)
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOCATION_BYTES_MAX {
            too_large(new_size);
        }
        System.realloc(pointer, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: LimitedAllocator = LimitedAllocator;
