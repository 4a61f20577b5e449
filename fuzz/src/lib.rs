//! What every fuzz target shares: an allocator that aborts on any single
//! allocation larger than [`ALLOCATION_BYTES_MAX`] (a decoder that sizes a
//! buffer from a length field it has not checked against the bytes it holds
//! is caught at once, whatever the fuzzer's input size), and the decoder
//! limits the protocol targets run with.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BytesMut;
use usher_protocol::{Decoded, Limits};

/// The frame limit the protocol targets configure, and the largest single
/// allocation any target may make. Inputs are at most a few KiB (libFuzzer's
/// `-max_len`), so nothing honest comes near it.
pub const ALLOCATION_BYTES_MAX: usize = 1024 * 1024;

/// `seats_per_event_max` of the log and snapshot targets: a seat map's
/// memory is its seat count (4 bytes a seat), which only this limit bounds.
pub const SEATS_MAX: u64 = 200_000;

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

/// Set once an allocation was refused: the report below allocates.
static REFUSED: AtomicBool = AtomicBool::new(false);

/// Whether the allocation of `size` bytes is refused: always, unless the
/// thread is panicking (reporting a panic reads the binary's debug
/// sections into large buffers) or a refusal is being reported.
fn too_large(size: usize) -> bool {
    if std::thread::panicking() || REFUSED.swap(true, Ordering::SeqCst) {
        return false;
    }
    let _ = writeln!(
        std::io::stderr(),
        "\nfuzz: an allocation of {size} bytes, above ALLOCATION_BYTES_MAX ({ALLOCATION_BYTES_MAX}), at\n{}",
        std::backtrace::Backtrace::force_capture()
    );
    std::process::abort()
}

// SAFETY: every call is forwarded to the system allocator unchanged, after
// a size check that aborts the process (the report it prints may allocate,
// and those allocations pass).
unsafe impl GlobalAlloc for LimitedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_BYTES_MAX && too_large(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_BYTES_MAX && too_large(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        System.dealloc(pointer, layout)
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOCATION_BYTES_MAX && too_large(new_size) {
            return std::ptr::null_mut();
        }
        System.realloc(pointer, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: LimitedAllocator = LimitedAllocator;

/// Feeds `data` in pieces of `piece` bytes to `step` until it answers
/// invalid or wants more than there is: the frames and whether it ended
/// invalid.
pub fn drive<T>(
    data: &[u8],
    piece: usize,
    mut step: impl FnMut(&mut BytesMut) -> Decoded<T>,
) -> (Vec<T>, bool) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    loop {
        match step(&mut buf) {
            Decoded::Frame(frame) => frames.push(frame),
            Decoded::Incomplete if fed == data.len() => return (frames, false),
            Decoded::Incomplete => {
                let next = (fed + piece).min(data.len());
                buf.extend_from_slice(&data[fed..next]);
                fed = next;
            }
            Decoded::Invalid(_) => return (frames, true),
        }
    }
}
