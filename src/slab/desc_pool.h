// desc_pool.h: the pool of 128-byte descriptors kept off-slab (slab
// descriptors and span chunks), in its own memory so that no page of a span
// ever holds metadata. One contiguous region, so that the page map can name
// a descriptor by its slot index (slab.h: slab_of, entry_of). Thread-safe;
// its lock is taken after a class lock or the span lock, and nothing is
// taken under it.
#pragma once

#include <cstddef>

namespace lm::slab {

constexpr size_t kDescBytes = 128;

// A 128-byte descriptor slot (fresh slots are zeroed, reused ones are not),
// or nullptr when the region is used up or could not be reserved, or the
// kernel refuses to commit another step. Callers then do without a slab or
// chunk (core serves the request from the heap).
void* desc_alloc();
void desc_free(void* d);

// From now on the region hands out fresh slots only below `bytes` from its
// base (or below its reservation, if smaller): an exhausted region for
// tests. SIZE_MAX restores the reservation's own limit.
void desc_limit_for_testing(size_t bytes);

// Out of address space: gives back the reservation's tail beyond what is
// committed and beyond the share of the current RLIMIT_AS (see
// desc_pool.cpp) that a fresh reservation would take. For a limit set after
// the region was reserved, which then counts against it whole. Returns the
// bytes released (0: nothing to give).
size_t desc_release_unused();

struct DescStats {
  size_t reserved;   // address space of the region (0: not reserved yet, or refused)
  size_t committed;  // bytes made read-write, in 64 KiB steps
  size_t used;       // bytes below the high-water mark (including the skipped slots)
};
DescStats desc_stats();

void desc_lock_for_fork();
void desc_unlock_for_fork();
void desc_reset_for_fork_child();

}  // namespace lm::slab
