// large.h: blocks at or above the mmap threshold, one private anonymous
// mapping each, resized with mremap. Freed mappings wait in a small bounded
// cache (mmap_cache_mb, decay_ms) so that the next large request reuses their
// resident pages instead of faulting fresh ones in. Owns the mappings and
// their page-map entries; knows nothing of the heap. Takes its own lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/base.h"

namespace lm::large {

// Block layout (the header sits right below the user's pointer):
//
//   base ->  +-------------------------------+
//            | padding for alignment         |  `offset` bytes, 0 unless aligned
//   hdr  ->  +-------------------------------+
//            | cookie = hdr ^ process secret |  tells our blocks from others;
//            | mapping size                  |  flipped while cached (double free)
//            | offset (hdr - base)           |
//            | chunk size | M (=2)           |  glibc's mmapped-chunk flag at mem-8
//   mem  ->  +-------------------------------+
//            | user data, up to base + size  |
constexpr size_t kHeaderSize = 32;

void init(uint64_t secret);
// Called (no lock of large's held) before a mapping or a remap makes the
// process grow by `bytes` of fresh pages: core pays for them with dirty free
// memory of the other layers.
void set_growth_hook(void (*hook)(size_t bytes));

// A mapped block of at least n usable bytes, aligned to `align` (a power of
// two >= 16), zeroed if asked; nullptr when the kernel refuses. With
// growing (realloc moving a block up), the largest cached mapping is split:
// the block takes twice its need, and the rest stays cached right after it
// for resize() to grow into (see large.cpp).
void* alloc(size_t n, size_t align, bool zero, bool growing = false);

// True if mem is the start of a live large block of ours, header intact.
bool owns(const void* mem);

// Frees a block for which owns() is true.
void free(void* mem, const char* func);

// Resizes: into the cached rest of its mapping when there is one, else with
// mremap (possibly moving). Returns the new pointer, or nullptr leaving the
// block unchanged.
void* resize(void* mem, size_t n);

size_t usable_size(const void* mem);

// madvise(advice) on the whole pages of [mem + offset, mem + offset + len)
// within a live block (owns(mem) true). False if the range leaves the block
// or the kernel refuses.
bool advise(void* mem, size_t offset, size_t len, int advice);

// True if mem was a large block freed recently: cached, or unmapped among the
// last 64 (for double-free reports).
bool recently_unmapped(const void* mem);

// Unmaps every cached mapping; returns the bytes released.
size_t trim();
// Unmaps the oldest cached mappings until at least `bytes` are gone, the
// cache is empty, or the oldest left is more than twice what is still
// wanted; returns the bytes unmapped (possibly more than `bytes`).
size_t release_oldest(size_t bytes);
// Bytes of cached mappings (read without the lock: an estimate).
size_t cached_bytes();
// Unmaps cached mappings unused for decay_ms.
void decay(uint64_t now_ms);

struct Snapshot {
  size_t live_blocks;
  size_t live_bytes;
  size_t max_blocks;
  size_t max_bytes;
  size_t cached_blocks;
  size_t cached_bytes;
};
Snapshot snapshot();
size_t live_blocks();

void lock_for_fork();
void unlock_for_fork();
void reset_for_fork_child();

}  // namespace lm::large
