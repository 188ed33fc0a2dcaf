// pagemap.cpp: leaf allocation and range updates for pagemap.h.
#include "pagemap/pagemap.h"

#include "os/os.h"

namespace lm::pagemap {

// 2^17 root slots of 8 bytes: 1 MiB of bss, resident only where touched.
constinit std::atomic<Leaf*> g_root[kRootEntries] = {};
constinit HeapRange g_heap_ranges[kMaxHeapRanges] = {};
constinit std::atomic<unsigned> g_heap_range_count{0};

namespace {
constinit Mutex g_lock;
constexpr size_t kLeafBytes = kLeafEntries * sizeof(Leaf);
// Root slots that have a leaf, so that purge_unused need not read all of
// g_root (its untouched bss pages would fault in). Past kMaxListed leaves
// (1 TiB of address space in use) the purge is skipped.
constexpr size_t kMaxListed = 1024;
constinit uint32_t g_leaf_slots[kMaxListed] = {};
constinit size_t g_leaves = 0;
static_assert(kLeafBytes == 1u << 20, "a leaf is 1 MiB of address space, faulted in per 4 KiB");
}  // namespace

namespace {

// Lock held. Writes value to the pages overlapping [begin, end); an entry
// that already holds it is not written, so clearing never faults in a
// purged leaf page.
bool store_range(uptr begin, uptr end, Entry value) {
  for (uptr page = begin >> kPageShift; page <= (end - 1) >> kPageShift; ++page) {
    uptr a = page << kPageShift;
    std::atomic<Leaf*>& slot = g_root[a >> kLeafShift];
    Leaf* leaf = slot.load(std::memory_order_relaxed);
    if (leaf == nullptr) {
      if (value == kNone) continue;  // nothing to clear
      leaf = static_cast<Leaf*>(os::map_noreserve(kLeafBytes));
      if (leaf == nullptr) return false;
      slot.store(leaf, std::memory_order_release);
      if (g_leaves < kMaxListed) g_leaf_slots[g_leaves] = static_cast<uint32_t>(a >> kLeafShift);
      ++g_leaves;
    }
    Leaf& entry = leaf[page & (kLeafEntries - 1)];
    if (entry.load(std::memory_order_relaxed) != value) entry.store(value, std::memory_order_relaxed);
  }
  return true;
}

// Lock held. The range holding all of [begin, end), or nullptr.
HeapRange* range_holding(uptr begin, uptr end) {
  unsigned n = g_heap_range_count.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    HeapRange& r = g_heap_ranges[i];
    if (begin >= r.begin.load(std::memory_order_relaxed) && end <= r.end.load(std::memory_order_relaxed)) return &r;
  }
  return nullptr;
}

bool valid(uptr end) { return !((end - 1) >> kAddressBits); }

}  // namespace

bool set_range(uptr begin, uptr end, Entry value) {
  if (end <= begin) return true;
  if (!valid(end)) return false;
  LockGuard guard(g_lock);
  if (value == kHeap && range_holding(begin, end)) value = kNone;
  return store_range(begin, end, value);
}

bool add_heap(uptr begin, uptr end) {
  if (end <= begin) return true;
  if (!valid(end)) return false;
  LockGuard guard(g_lock);
  unsigned n = g_heap_range_count.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    // Growth at a range's end (which a trim may have left up to a page
    // past the segment's end) extends it.
    HeapRange& r = g_heap_ranges[i];
    uptr re = r.end.load(std::memory_order_relaxed);
    if (begin >= r.begin.load(std::memory_order_relaxed) && begin <= re) {
      if (end > re) r.end.store(end, std::memory_order_release);
      return true;
    }
  }
  if (n < kMaxHeapRanges) {
    // A range is never reused once emptied: a reader could see a new begin
    // with an old end below it.
    g_heap_ranges[n].begin.store(begin, std::memory_order_relaxed);
    g_heap_ranges[n].end.store(end, std::memory_order_relaxed);
    g_heap_range_count.store(n + 1, std::memory_order_release);
    return true;
  }
  return store_range(begin, end, kHeap);
}

void remove_heap(uptr begin, uptr end) {
  if (end <= begin || !valid(end)) return;
  LockGuard guard(g_lock);
  unsigned n = g_heap_range_count.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    // A trim removes the segment's tail, whose end may lie up to a page
    // below the range's (an earlier trim rounded the range up to a page).
    HeapRange& r = g_heap_ranges[i];
    uptr rb = r.begin.load(std::memory_order_relaxed), re = r.end.load(std::memory_order_relaxed);
    if (begin >= rb && begin < re && end + (uptr{1} << kPageShift) > re) r.end.store(begin, std::memory_order_release);
  }
  store_range(begin, end, kNone);
}

size_t purge_unused() {
  LockGuard guard(g_lock);
  constexpr size_t kPage = size_t{1} << kPageShift;
  constexpr size_t kPerPage = kPage / sizeof(Leaf);
  size_t purged = 0;
  if (g_leaves > kMaxListed) return 0;
  for (size_t i = 0; i < g_leaves; ++i) {
    Leaf* leaf = g_root[g_leaf_slots[i]].load(std::memory_order_relaxed);
    if (leaf == nullptr) continue;
    unsigned char resident[kLeafBytes / kPage];
    if (!os::residency(leaf, kLeafBytes, resident)) continue;
    for (size_t pg = 0; pg < kLeafBytes / kPage; ++pg) {
      if (!(resident[pg] & 1)) continue;
      Leaf* first = leaf + pg * kPerPage;
      bool empty = true;
      for (size_t k = 0; k < kPerPage && empty; ++k) empty = first[k].load(std::memory_order_relaxed) == kNone;
      // Readers racing with the purge read zero either way.
      if (empty && os::purge(first, kPage)) purged += kPage;
    }
  }
  return purged;
}

void lock_for_fork() { g_lock.lock(); }
void unlock_for_fork() { g_lock.unlock(); }
void reset_for_fork_child() { g_lock.reset_after_fork(); }

}  // namespace lm::pagemap
