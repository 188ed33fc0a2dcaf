// pagemap.cpp: leaf allocation and range updates for pagemap.h.
#include "pagemap/pagemap.h"

#include "os/os.h"

namespace lm::pagemap {

// 2^17 root slots of 8 bytes: 1 MiB of bss, resident only where touched.
constinit std::atomic<Leaf*> g_root[kRootEntries] = {};

namespace {
constinit Mutex g_lock;
constexpr size_t kLeafBytes = kLeafEntries * sizeof(Leaf);
static_assert(kLeafBytes == 2u << 20, "a leaf is 2 MiB of address space, faulted in per 4 KiB");
}  // namespace

bool set_range(uptr begin, uptr end, uptr value) {
  if (end <= begin) return true;
  if ((end - 1) >> kAddressBits) return false;
  LockGuard guard(g_lock);
  for (uptr page = begin >> kPageShift; page <= (end - 1) >> kPageShift; ++page) {
    uptr a = page << kPageShift;
    std::atomic<Leaf*>& slot = g_root[a >> kLeafShift];
    Leaf* leaf = slot.load(std::memory_order_relaxed);
    if (leaf == nullptr) {
      if (value == kNone) continue;  // nothing to clear
      leaf = static_cast<Leaf*>(os::map_noreserve(kLeafBytes));
      if (leaf == nullptr) return false;
      slot.store(leaf, std::memory_order_release);
    }
    leaf[page & (kLeafEntries - 1)].store(value, std::memory_order_relaxed);
  }
  return true;
}

void lock_for_fork() { g_lock.lock(); }
void unlock_for_fork() { g_lock.unlock(); }
void reset_for_fork_child() { g_lock.reset_after_fork(); }

}  // namespace lm::pagemap
