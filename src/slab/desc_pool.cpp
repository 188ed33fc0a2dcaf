// desc_pool.cpp: the descriptor region of desc_pool.h: reserved once, made
// read-write in 64 KiB steps as the high-water mark rises, freed slots kept
// on a list. Owns g_desc_base, which slab.h's entry encoding reads.
//
//   g_desc_base                                                   + reserved
//   +-----+-------+-------+-----+---------+- - - - - - - - - - - - - -+
//   | 0-2 | slot3 | slot4 | ... | (ready) |  PROT_NONE, not committed  |
//   +-----+-------+-------+-----+---------+- - - - - - - - - - - - - -+
//   never handed out      ^ used          ^ committed (64 KiB multiple)
#include "slab/desc_pool.h"

#include "base/lock.h"
#include "os/os.h"
#include "slab/slab.h"

namespace lm::slab {

constinit uptr g_desc_base = 0;

namespace {

// Descriptors live off-slab, so that every page of a span holds objects and
// any of them can be purged (an on-slab descriptor pins the first page of
// every partly used slab: measured 20 MiB of 95 in the burst-and-idle
// workload).
static_assert(kDescBytes == sizeof(Slab));

// 1 GiB of address space: 8M descriptors, one per slab of at least 64 KiB,
// so 512 GiB of slabs; a slot index then needs 23 bits of the entry's 32.
// Only committed steps cost memory, but the whole reservation counts against
// an address-space limit (RLIMIT_AS): under one, the region takes at most
// 1/256 of it, which still covers the most slabs the limit allows twice over
// (a descriptor is 1/512 of its slab at least). Measured under a 200 MiB
// limit, a program allocating until malloc fails: 59 MiB when the region
// only halved until the kernel accepted it (128 MiB), 174 MiB with this
// share (glibc: 197). The floor, 4 MiB (32K descriptors, 2 GiB of 64 KiB
// slabs), is also where halving stops when the kernel refuses.
constexpr size_t kRegionBytes = size_t{1} << 30;
constexpr size_t kRegionFloor = size_t{4} << 20;
constexpr size_t kLimitShare = 256;
// Committed 64 KiB (512 descriptors) at a time: one mprotect per 512 new
// slabs. (Only the slots handed out are touched, so resident pages follow
// the high-water mark.)
constexpr size_t kStep = 64 * 1024;
// Slots 0..kLargeHead would encode as kNone, kHeap, kLargeHead.
constexpr size_t kFirstSlot = pagemap::kLargeHead + 1;

constinit Mutex g_lock;
void* g_free = nullptr;     // freed slots, linked through word 0
bool g_tried = false;       // the reservation was attempted
size_t g_reserved = 0;      // bytes of address space at g_desc_base
size_t g_limit = SIZE_MAX;  // desc_limit_for_testing
size_t g_committed = 0;     // read-write bytes from g_desc_base
size_t g_used = 0;          // high-water mark: bytes ever handed out from g_desc_base

// Lock held. Reserves the region on the first call. A refusal is final:
// the process then runs without slabs (the heap serves small requests),
// rather than trying again at every slab it wants.
bool ensure_region() {
  if (g_tried) return g_reserved != 0;
  g_tried = true;
  size_t size = kRegionBytes;
  size_t limit = os::address_space_limit();
  while (size > kRegionFloor && size > limit / kLimitShare) size /= 2;
  void* p = os::reserve(&size, kRegionFloor);
  if (!p) return false;
  g_reserved = size;
  g_used = kFirstSlot * kDescBytes;
  g_desc_base = addr(p);
  return true;
}

}  // namespace

void* desc_alloc() {
  LockGuard guard(g_lock);
  if (g_free) {
    void* d = g_free;
    g_free = *static_cast<void**>(d);
    return d;
  }
  if (!ensure_region()) return nullptr;
  size_t end = g_reserved < g_limit ? g_reserved : g_limit;
  if (g_used + kDescBytes > end) return nullptr;
  uptr base = g_desc_base;
  if (g_used + kDescBytes > g_committed) {
    if (!os::commit(ptr(base + g_committed), kStep)) return nullptr;
    g_committed += kStep;
  }
  void* d = ptr(base + g_used);
  g_used += kDescBytes;
  return d;
}

size_t desc_release_unused() {
  LockGuard guard(g_lock);
  if (g_reserved == 0) return 0;
  size_t keep = g_reserved, limit = os::address_space_limit();
  while (keep > kRegionFloor && keep > limit / kLimitShare) keep /= 2;
  if (keep < g_committed) keep = align_up(g_committed, kStep);
  if (keep >= g_reserved) return 0;
  os::unmap(ptr(g_desc_base + keep), g_reserved - keep);
  size_t released = g_reserved - keep;
  g_reserved = keep;
  return released;
}

void desc_free(void* d) {
  LockGuard guard(g_lock);
  *static_cast<void**>(d) = g_free;
  g_free = d;
}

void desc_limit_for_testing(size_t bytes) {
  LockGuard guard(g_lock);
  g_limit = bytes;
}

DescStats desc_stats() {
  LockGuard guard(g_lock);
  return DescStats{g_reserved, g_committed, g_used};
}

void desc_lock_for_fork() { g_lock.lock(); }
void desc_unlock_for_fork() { g_lock.unlock(); }
void desc_reset_for_fork_child() { g_lock.reset_after_fork(); }

}  // namespace lm::slab
