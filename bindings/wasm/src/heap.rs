//! The WebAssembly heap, grown in large steps.
//!
//! The standard allocator on `wasm32` grows linear memory by just what each
//! request needs, so a store of a million sessions grows it thousands of times,
//! 64 KiB at a time. V8 gives every grown memory a fresh `ArrayBuffer` and counts
//! its whole size as new external memory, so each grow pushes the JS heap toward
//! a full mark-compact: measured in Node 20, growing 400 MB 64 KiB at a time
//! costs 1,148 full collections and 1.5 s, in 100-page steps 14 and 12 ms. The
//! collections stall the whole server, not just this package.
//!
//! So this is the same allocator (dlmalloc, which std uses on `wasm32`) with one
//! change: when it needs memory, memory grows by a sixteenth of its size (at
//! least 1 MiB), so a heap of any size takes some dozens of grows, and at most a
//! sixteenth of it waits unused. The memory a grow adds
//! beyond the request is handed to dlmalloc and used by later allocations.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::ptr;

use dlmalloc::{Allocator, Dlmalloc};

const PAGE: usize = 64 * 1024;
/// The smallest grow, in pages (1 MiB).
const MIN_GROW_PAGES: usize = 16;

/// Linear memory as dlmalloc's source of system memory, grown in large steps.
struct GrowingMemory;

// SAFETY: the regions handed out are fresh pages from `memory.grow`, never handed
// out twice and never released (linear memory cannot shrink).
unsafe impl Allocator for GrowingMemory {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let needed = size.div_ceil(PAGE);
        let step = needed.max(wasm32::memory_size(0) / 16).max(MIN_GROW_PAGES);
        // Near the 4 GiB limit a large step may fail where the request fits.
        let (previous, pages) = match wasm32::memory_grow(0, step) {
            usize::MAX => (wasm32::memory_grow(0, needed), needed),
            previous => (previous, step),
        };
        if previous == usize::MAX {
            return (ptr::null_mut(), 0, 0);
        }
        let base = previous * PAGE;
        let size = pages * PAGE;
        // A region ending at the very top of the address space would let a pointer
        // wrap to 0; leave its last bytes out, as std's allocator does.
        let size = if base.wrapping_add(size) == 0 {
            size - 16
        } else {
            size
        };
        (base as *mut u8, size, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

struct Heap(UnsafeCell<Dlmalloc<GrowingMemory>>);

// SAFETY: this module is compiled only for wasm32 without the atomics feature,
// where there is one thread, so the allocator is never entered concurrently.
unsafe impl Sync for Heap {}

#[global_allocator]
static HEAP: Heap = Heap(UnsafeCell::new(Dlmalloc::new_with_allocator(GrowingMemory)));

// SAFETY: each method forwards to dlmalloc with the layout it was given; the
// `UnsafeCell` is only borrowed for the call, and calls never overlap (see `Sync`).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).malloc(layout.size(), layout.align())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).calloc(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        (*self.0.get()).free(ptr, layout.size(), layout.align())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size)
    }
}
