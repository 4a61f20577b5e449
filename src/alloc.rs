//! A global allocator wrapper that counts live heap bytes, for INFO's
//! `used_memory` and for the memory benchmarks (the server binary installs
//! it; a program that does not reports 0), and that gives every large
//! allocation its own mapping, so that it grows without being copied (see
//! [`MAPPED_ALLOCATION_BYTES_MIN`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);

pub struct CountingAllocator;

// SAFETY: small allocations are forwarded to the system allocator
// unchanged. Large ones (`mapped`) are anonymous mappings of their own, which
// are zeroed, page-aligned (so any alignment `mapped` accepts is met) and
// released only by `dealloc` or `realloc`; Rust hands `dealloc` and `realloc`
// the layout an allocation was made or last resized with, so `mapped` of that
// layout tells which of the two owns it.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = if mapped(layout.size(), layout.align()) {
            map(layout.size())
        } else {
            System.alloc(layout)
        };
        if !pointer.is_null() {
            ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        if mapped(layout.size(), layout.align()) {
            unmap(pointer, layout.size());
        } else {
            System.dealloc(pointer, layout);
        }
        ALLOCATED_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = if mapped(layout.size(), layout.align()) {
            // A new anonymous mapping reads as zeros.
            map(layout.size())
        } else {
            System.alloc_zeroed(layout)
        };
        if !pointer.is_null() {
            ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        let moved = match (mapped(layout.size(), align), mapped(new_size, align)) {
            (false, false) => System.realloc(pointer, layout, new_size),
            // Page-table entries move; the bytes stay where they are.
            (true, true) => remap(pointer, layout.size(), new_size),
            // Across the threshold, at most `MAPPED_ALLOCATION_BYTES_MIN`
            // bytes are copied.
            (false, true) => {
                let grown = map(new_size);
                if !grown.is_null() {
                    std::ptr::copy_nonoverlapping(pointer, grown, layout.size());
                    System.dealloc(pointer, layout);
                }
                grown
            }
            (true, false) => {
                let shrunk = System.alloc(Layout::from_size_align_unchecked(new_size, align));
                if !shrunk.is_null() {
                    std::ptr::copy_nonoverlapping(pointer, shrunk, new_size);
                    unmap(pointer, layout.size());
                }
                shrunk
            }
        };
        if !moved.is_null() {
            ALLOCATED_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        moved
    }
}

/// Bytes in a page: the alignment every mapping has, and the unit of
/// `/proc/self/statm` (the page size on the platforms usher runs on).
const PAGE_BYTES: usize = 4096;

/// Whether an allocation of this size and alignment is a mapping of its own.
fn mapped(size: usize, align: usize) -> bool {
    cfg!(target_os = "linux") && size >= MAPPED_ALLOCATION_BYTES_MIN && align <= PAGE_BYTES
}

/// A new zeroed anonymous mapping of `size` bytes, or null.
#[cfg(target_os = "linux")]
unsafe fn map(size: usize) -> *mut u8 {
    let pointer = libc::mmap(
        std::ptr::null_mut(),
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if pointer == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        pointer.cast()
    }
}

/// The mapping at `pointer` resized to `new_size` bytes, moved if it cannot
/// grow where it is; null (and the old mapping intact) if that fails.
#[cfg(target_os = "linux")]
unsafe fn remap(pointer: *mut u8, old_size: usize, new_size: usize) -> *mut u8 {
    let moved = libc::mremap(pointer.cast(), old_size, new_size, libc::MREMAP_MAYMOVE);
    if moved == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        moved.cast()
    }
}

#[cfg(target_os = "linux")]
unsafe fn unmap(pointer: *mut u8, size: usize) {
    // Fails only for an address range that is not a mapping, which the
    // allocator's contract rules out.
    let result = libc::munmap(pointer.cast(), size);
    debug_assert_eq!(result, 0, "munmap of an allocation failed");
}

// Elsewhere nothing is mapped (`mapped` is always false), so these are
// never called.
#[cfg(not(target_os = "linux"))]
unsafe fn map(_size: usize) -> *mut u8 {
    std::ptr::null_mut()
}

#[cfg(not(target_os = "linux"))]
unsafe fn remap(_pointer: *mut u8, _old_size: usize, _new_size: usize) -> *mut u8 {
    std::ptr::null_mut()
}

#[cfg(not(target_os = "linux"))]
unsafe fn unmap(_pointer: *mut u8, _size: usize) {}

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
    pages * PAGE_BYTES as u64
}

/// Smallest allocation that [`CountingAllocator`] makes a mapping of its
/// own, and so grows by remapping its pages (`mremap` moves page-table
/// entries, not bytes) instead of copying it. Smaller ones come from the C
/// allocator's heap, whose freed memory is reused without new page faults:
/// the snapshot's 1 MiB chunks and the log's write buffer stay there. With
/// 1 MiB instead, no apply over 1 ms in the queue and sorted-set streams of
/// `cargo bench --bench growth`; with 4 MiB, a few of up to 3.6 ms (vectors
/// of 1–4 MiB copied as they grow).
///
/// Why the wrapper maps them itself: glibc maps a large allocation only when
/// its heap has no free chunk big enough. A server that has freed many
/// small values (a sale's keys deleted or expired) has such chunks, so glibc
/// would serve its large vectors from the heap, and growing one would copy
/// it whole on the engine thread: 20 ms at 2²⁰ seat holders in `cargo bench
/// --bench growth`, where the seat stream runs after the others have freed
/// theirs.
pub const MAPPED_ALLOCATION_BYTES_MIN: usize = 4 << 20;

/// Keeps glibc from mapping allocations below
/// [`MAPPED_ALLOCATION_BYTES_MIN`] (glibc only; elsewhere nothing changes).
///
/// Why: glibc maps allocations of 128 KiB and up by default, but raises
/// that threshold, up to 32 MiB, each time such a mapping is freed, and
/// the engine frees one whenever a table finishes draining after growth.
/// Setting the threshold explicitly turns that adjustment off, so where an
/// allocation lives does not depend on what was freed before; the larger
/// ones never reach glibc (see [`CountingAllocator`]).
pub fn pin_mapping_threshold() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Both tests move the global byte count; one at a time.
    static COUNTED: Mutex<()> = Mutex::new(());

    fn fill(pointer: *mut u8, from: usize, to: usize) {
        for at in from..to {
            // SAFETY: the caller owns `pointer[..to]`.
            unsafe { *pointer.add(at) = (at % 251) as u8 };
        }
    }

    fn check(pointer: *const u8, to: usize) {
        for at in (0..to).step_by(4093) {
            // SAFETY: the caller owns `pointer[..to]`.
            assert_eq!(unsafe { *pointer.add(at) }, (at % 251) as u8, "byte {at}");
        }
    }

    #[test]
    fn resizing_keeps_the_bytes_on_both_sides_of_the_threshold() {
        const MIB: usize = 1 << 20;
        let _counted = COUNTED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let allocator = CountingAllocator;
        let align = 8;
        let before = allocated_bytes();
        // SAFETY: every pointer is used within the size it was last given,
        // and each layout is the one it was allocated or resized with.
        unsafe {
            let mut size = MIB;
            let mut pointer = allocator.alloc(Layout::from_size_align_unchecked(size, align));
            assert!(!pointer.is_null());
            fill(pointer, 0, size);
            // From the heap to a mapping, a larger mapping, back to the heap.
            for new_size in [8 * MIB, 40 * MIB, 2 * MIB] {
                let layout = Layout::from_size_align_unchecked(size, align);
                pointer = allocator.realloc(pointer, layout, new_size);
                assert!(!pointer.is_null());
                assert_eq!(allocated_bytes() - before, new_size);
                check(pointer, size.min(new_size));
                if new_size > size {
                    fill(pointer, size, new_size);
                }
                size = new_size;
            }
            check(pointer, size);
            allocator.dealloc(pointer, Layout::from_size_align_unchecked(size, align));
            assert_eq!(allocated_bytes(), before);

            let zeroed = allocator.alloc_zeroed(Layout::from_size_align_unchecked(8 * MIB, align));
            assert!((0..8 * MIB).step_by(4096).all(|at| *zeroed.add(at) == 0));
            allocator.dealloc(zeroed, Layout::from_size_align_unchecked(8 * MIB, align));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_allocation_is_a_mapping_of_its_own_even_when_the_heap_has_room() {
        let _counted = COUNTED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // 16 MiB of small allocations, freed below one that stays: a free
        // chunk in the heap big enough for the large allocation below.
        let small: Vec<Box<[u8; 4096]>> = (0..4096).map(|_| Box::new([1u8; 4096])).collect();
        let fence = Box::new([2u8; 64]);
        drop(small);
        let size = 8 << 20;
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: allocated and freed with the same layout.
        let pointer = unsafe { CountingAllocator.alloc(layout) };
        assert!(!pointer.is_null());
        let start = format!("{:x}-", pointer as usize);
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let own = maps.lines().any(|line| line.starts_with(&start));
        unsafe { CountingAllocator.dealloc(pointer, layout) };
        drop(fence);
        assert!(own, "{start} does not start a mapping");
    }
}
