// pagemap.h: who owns each 4 KiB page of the address space. A two-level
// radix map (1 GiB per leaf) answers "is this pointer ours, and which layer
// owns it" in two dependent loads, without touching the pointer's memory, so
// free() of a foreign pointer is reported instead of crashing. Leaves are
// mapped lazily; the map is written under its own lock (taken after the
// heap's or the large cache's lock, never before) and read without one.
//
// The heap's segments are recorded as a few address ranges, not page by
// page: a page with no entry inside a heap range is a heap page. Only slab
// spans and large-block headers then have entries, so the leaves stay small
// (a page per entry would be 1 MiB of leaf per GiB of heap, resident for
// good), and a leaf page whose entries are all gone can be purged (trim).
//
// Entries are 32 bits: a slab page's entry is its descriptor's slot index in
// the slab layer's descriptor region (slab::entry_of / slab::slab_of), not
// its address. A 4 KiB leaf page then covers 4 MiB of address space, not 2,
// and half as many leaf pages stay resident under scattered slabs.
#pragma once

#include <atomic>

#include "base/base.h"
#include "base/lock.h"

namespace lm::pagemap {

// Entry values. Larger values name slab descriptors: slab.h encodes and
// decodes them, and never hands out a slot index <= kLargeHead.
using Entry = uint32_t;
constexpr Entry kNone = 0;
constexpr Entry kHeap = 1;       // a heap page outside the heap ranges (see add_heap)
constexpr Entry kLargeHead = 2;  // the page holding a large block's header

constexpr unsigned kPageShift = 12;
constexpr unsigned kLeafShift = 30;  // one leaf covers 1 GiB
constexpr unsigned kAddressBits = 47;
constexpr size_t kLeafEntries = size_t{1} << (kLeafShift - kPageShift);
constexpr size_t kRootEntries = size_t{1} << (kAddressBits - kLeafShift);

using Leaf = std::atomic<Entry>;
static_assert(sizeof(Leaf) == 4);
extern std::atomic<Leaf*> g_root[kRootEntries];

// The entry for the page holding address a (kNone for addresses never set).
LM_FAST_PATH Entry get(uptr a) {
  if (LM_UNLIKELY(a >> kAddressBits)) return kNone;
  Leaf* leaf = g_root[a >> kLeafShift].load(std::memory_order_acquire);
  if (LM_UNLIKELY(leaf == nullptr)) return kNone;
  return leaf[(a >> kPageShift) & (kLeafEntries - 1)].load(std::memory_order_relaxed);
}

// Heap ranges, read without a lock. A range only grows at its end, or
// shrinks there; the count only grows.
constexpr unsigned kMaxHeapRanges = 8;
struct HeapRange {
  std::atomic<uptr> begin;
  std::atomic<uptr> end;
};
extern HeapRange g_heap_ranges[kMaxHeapRanges];
extern std::atomic<unsigned> g_heap_range_count;

LM_FAST_PATH bool in_heap_range(uptr a) {
  unsigned n = g_heap_range_count.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    uptr b = g_heap_ranges[i].begin.load(std::memory_order_relaxed);
    if (a - b < g_heap_ranges[i].end.load(std::memory_order_relaxed) - b) return true;
  }
  return false;
}

// Is a, whose entry is e, inside a heap segment on a page no slab span or
// large block owns?
LM_FAST_PATH bool is_heap_entry(Entry e, uptr a) { return e == kHeap || (e == kNone && in_heap_range(a)); }
LM_FAST_PATH bool is_heap(uptr a) { return is_heap_entry(get(a), a); }

// Sets every page overlapping [begin, end) to value. kHeap inside a heap
// range is stored as kNone (the range says it). Returns false only when a
// leaf cannot be mapped (then nothing is guaranteed set; callers treat it
// as out of memory).
bool set_range(uptr begin, uptr end, Entry value);

// The heap's segments: [begin, end) becomes heap (a range, or entries once
// kMaxHeapRanges are in use), or stops being heap. Returns false as
// set_range does.
bool add_heap(uptr begin, uptr end);
void remove_heap(uptr begin, uptr end);

// Purges the leaf pages whose entries are all kNone (malloc_trim). Returns
// the bytes purged.
size_t purge_unused();

void lock_for_fork();
void unlock_for_fork();
void reset_for_fork_child();

}  // namespace lm::pagemap
