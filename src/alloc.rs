//! A global allocator wrapper that counts live heap bytes, for INFO's
//! `used_memory` and for the memory benchmarks (the server binary installs
//! it; a program that does not reports 0), and the huge-page advice for
//! the few large arrays that requests index at random.

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

/// Smallest array worth asking huge pages for: one 2 MiB page.
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Asks the kernel to back the whole 2 MiB pages inside `items`' buffer
/// (its capacity, not only its length) with
/// transparent huge pages (Linux, where THP is in `madvise` mode, as it
/// often is). For arrays indexed at random by requests (the keyspace's
/// entries and buckets) a 4 KiB page per access misses the TLB as often as
/// the cache; one 2 MiB page covers 512 of them. A hint: failure (another
/// OS, THP off) changes nothing, and the server forks nothing, so no
/// copy-on-write cost comes with it.
pub fn advise_huge_pages<T>(items: &Vec<T>) {
    let bytes = items.capacity().saturating_mul(std::mem::size_of::<T>());
    if bytes < HUGE_PAGE_BYTES {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let start = items.as_ptr() as usize;
        let first = start.next_multiple_of(HUGE_PAGE_BYTES);
        let end = (start + bytes) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        if end > first {
            // SAFETY: the range lies inside `items`' buffer and is page
            // aligned; MADV_HUGEPAGE only changes how the kernel backs it,
            // never its contents.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
}
