// pagemap.h: who owns each 4 KiB page of the address space. A two-level
// radix map (1 GiB per leaf) answers "is this pointer ours, and which layer
// owns it" in two dependent loads, without touching the pointer's memory, so
// free() of a foreign pointer is reported instead of crashing. Leaves are
// mapped lazily; the map is written under its own lock (taken after the
// heap's or the large cache's lock, never before) and read without one.
#pragma once

#include <atomic>

#include "base/base.h"
#include "base/lock.h"

namespace lm::pagemap {

// Entry values. Larger values are slab descriptor addresses (issue 4).
constexpr uptr kNone = 0;
constexpr uptr kHeap = 1;       // a page of a heap segment (blocks with headers)
constexpr uptr kLargeHead = 2;  // the page holding a large block's header

constexpr unsigned kPageShift = 12;
constexpr unsigned kLeafShift = 30;  // one leaf covers 1 GiB
constexpr unsigned kAddressBits = 47;
constexpr size_t kLeafEntries = size_t{1} << (kLeafShift - kPageShift);
constexpr size_t kRootEntries = size_t{1} << (kAddressBits - kLeafShift);

using Leaf = std::atomic<uptr>;
extern std::atomic<Leaf*> g_root[kRootEntries];

// The entry for the page holding address a (kNone for addresses never set).
LM_FAST_PATH uptr get(uptr a) {
  if (LM_UNLIKELY(a >> kAddressBits)) return kNone;
  Leaf* leaf = g_root[a >> kLeafShift].load(std::memory_order_acquire);
  if (LM_UNLIKELY(leaf == nullptr)) return kNone;
  return leaf[(a >> kPageShift) & (kLeafEntries - 1)].load(std::memory_order_relaxed);
}

// Sets every page overlapping [begin, end) to value. Returns false only when
// a leaf cannot be mapped (then nothing is guaranteed set; callers treat it
// as out of memory).
bool set_range(uptr begin, uptr end, uptr value);

void lock_for_fork();
void unlock_for_fork();
void reset_for_fork_child();

}  // namespace lm::pagemap
