//! A global allocator wrapper that counts live heap bytes, for INFO's
//! `used_memory` and for the memory benchmarks (the server binary installs
//! it; a program that does not reports 0).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);

pub struct CountingAllocator;

// SAFETY: every call is forwarded to the system allocator unchanged; the
// wrapper only adds relaxed counter updates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = System.alloc(layout);
        if !pointer.is_null() {
            ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        System.dealloc(pointer, layout);
        ALLOCATED_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = System.alloc_zeroed(layout);
        if !pointer.is_null() {
            ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = System.realloc(pointer, layout, new_size);
        if !moved.is_null() {
            ALLOCATED_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        moved
    }
}

/// Live heap bytes allocated through [`CountingAllocator`].
pub fn allocated_bytes() -> usize {
    ALLOCATED_BYTES.load(Ordering::Relaxed)
}

/// Resident set size of this process in bytes, from `/proc` (0 elsewhere).
pub fn resident_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Smallest allocation the C allocator maps on its own (and so can grow
/// in place, by remapping its pages, instead of copying it). Smaller ones
/// come from the heap, whose freed memory is reused without new page
/// faults: the snapshot's 1 MiB chunks and the log's write buffer stay
/// there. With 1 MiB instead, no apply over 1 ms in the queue and sorted-set
/// streams of `cargo bench --bench growth`; with 4 MiB, a few of up to
/// 3.6 ms (vectors of 1–4 MiB copied as they grow).
pub const MAPPED_ALLOCATION_BYTES_MIN: usize = 4 << 20;

/// Makes every allocation of at least [`MAPPED_ALLOCATION_BYTES_MIN`] its
/// own mapping, for good (glibc only; elsewhere nothing changes).
///
/// Why: glibc maps allocations of 128 KiB and up by default, but raises
/// that threshold, up to 32 MiB, each time such a mapping is freed, and
/// the engine frees one whenever a table finishes draining after growth.
/// From then on, a vector of up to 32 MiB lives in the heap, and growing
/// it copies it whole on the engine thread: measured 8.5–28 ms pauses at
/// 2²⁰ queue members, sorted-set members and seat holders
/// (`cargo bench --bench growth`). A mapped vector grows by `mremap`,
/// which moves page-table entries, not bytes. Setting the threshold
/// explicitly also turns its adjustment off.
pub fn map_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's tuning; it is called
        // before the server starts its threads.
        unsafe {
            libc::mallopt(
                libc::M_MMAP_THRESHOLD,
                MAPPED_ALLOCATION_BYTES_MIN as libc::c_int,
            );
        }
    }
}
