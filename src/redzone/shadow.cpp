// shadow.cpp: the shadow memory of redzone mode. One shadow byte per 8 bytes
// of address space, in a two-level map like the page map: a root of 2^17
// slots, one leaf per 1 GiB (128 MiB of MAP_NORESERVE address space, faulted
// in per 4 KiB only where blocks were poisoned). Leaves are created under
// the shadow lock and never removed; readers take no lock.
#include <cstring>

#include "base/lock.h"
#include "redzone/internal.h"

namespace lm::redzone::shadow {

constinit std::atomic<uint8_t*> g_root[kRootEntries] = {};

namespace {
constinit Mutex g_lock;
constexpr size_t kLeafBytes = (size_t{1} << kLeafShift) >> 3;
static_assert(kLeafBytes == 128u << 20, "a shadow leaf covers 1 GiB at 1/8");
constexpr uptr kLeafMask = (uptr{1} << kLeafShift) - 1;
constexpr size_t kKeepShadowOf = size_t{4} << 20;
constexpr size_t kLargeZero = size_t{8} << 20;  // (1 MiB of shadow)

uint8_t* leaf_of(uptr a) { return g_root[a >> kLeafShift].load(std::memory_order_acquire); }
}  // namespace

bool ensure(uptr begin, uptr end) {
  if (end <= begin) return true;
  if ((end - 1) >> kAddressBits) return false;
  for (uptr slot = begin >> kLeafShift; slot <= (end - 1) >> kLeafShift; ++slot) {
    if (g_root[slot].load(std::memory_order_acquire)) continue;
    LockGuard guard(g_lock);
    if (g_root[slot].load(std::memory_order_relaxed)) continue;
    auto* leaf = static_cast<uint8_t*>(os::map_noreserve(kLeafBytes));
    if (!leaf) return false;
    g_root[slot].store(leaf, std::memory_order_release);
  }
  return true;
}

// Calls fn(shadow pointer, count) for each leaf-contained piece of [begin, end).
template <class Fn>
void for_each_piece(uptr begin, uptr end, Fn&& fn) {
  while (begin < end) {
    uptr leaf_end = (begin | kLeafMask) + 1;
    uptr piece_end = end < leaf_end ? end : leaf_end;
    if (uint8_t* leaf = leaf_of(begin)) fn(leaf + ((begin & kLeafMask) >> 3), (piece_end - begin) >> 3);
    begin = piece_end;
  }
}

namespace {
void zero(uptr begin, uptr end, bool keep);
}  // namespace

void set(uptr begin, uptr end, uint8_t v) {
  // A large range made addressable (a mapped block) gives its whole shadow
  // pages back rather than writing zeros: those of a fresh mapping were
  // never touched, and a 512 MiB block's 64 MiB of shadow became resident.
  if (v == 0 && end - begin >= kLargeZero) {
    zero(begin, end, false);
    return;
  }
  for_each_piece(begin, end, [v](uint8_t* s, size_t n) { std::memset(s, v, n); });
}

namespace {
// Sets [begin, end) to 0; unless `keep`, whole shadow pages go back to the
// kernel (they read as zero again).
void zero(uptr begin, uptr end, bool keep) {
  for_each_piece(begin, end, [keep](uint8_t* s, size_t n) {
    uptr lo = align_up(addr(s), 4096), hi = align_down(addr(s) + n, 4096);
    if (!keep && hi > lo + 4096) {
      std::memset(s, 0, lo - addr(s));
      // (Locked pages, mlockall: the kernel refuses, and a freed block's
      // shadow stayed for the next block there: a false use after free.)
      if (!os::purge(ptr(lo), hi - lo)) std::memset(ptr(lo), 0, hi - lo);
      std::memset(ptr(hi), 0, addr(s) + n - hi);
    } else {
      std::memset(s, 0, n);
    }
  });
}
}  // namespace

// A mapping up to kKeepShadowOf keeps its shadow pages, zeroed: the kernel
// hands the same addresses to the next mappings, whose blocks would fault
// them in again. On the development machine a first touch costs 11-20 us;
// returning them made the spectrum workload (blocks of 16 B to 4 MiB) spend
// a third of its redzone time refaulting shadow: 2.2 s against 1.25 s kept,
// for 4% more peak RSS (MADV_FREE in place of the memset: 1.9 s). Larger
// mappings still give their shadow back, so that one huge block freed does
// not leave an eighth of its size resident.
void clear(uptr begin, uptr end) { zero(begin, end, end - begin <= kKeepShadowOf); }

// Heap memory trimmed away: its shadow pages may never have been touched
// (a top never handed out), and zeroing them would fault them in.
void drop(uptr begin, uptr end) { zero(begin, end, false); }

void populate(uptr begin, uptr end) {
  constexpr int kMadvPopulateWrite = 23;  // MADV_POPULATE_WRITE, Linux 5.14
  for_each_piece(begin, end, [](uint8_t* s, size_t n) {
    uptr lo = align_down(addr(s), 4096), hi = align_up(addr(s) + n, 4096);
    os::advise(ptr(lo), hi - lo, kMadvPopulateWrite);
  });
}

uptr first_bad(uptr a, size_t size) {
  if (size == 0) return 0;
  // No shadow above the user address space: a range running past it (a
  // negative memcpy length) was walked a leaf at a time through 2^34
  // non-canonical leaves, 20 s and more.
  constexpr uptr kTop = (uptr{1} << kAddressBits) - 1;
  if (a > kTop) return 0;
  uptr last = a + size - 1;
  if (last < a || last > kTop) last = kTop;
  for (uptr g = a & ~uptr{7};;) {
    uptr leaf_last = g | kLeafMask;  // the leaf's last address
    uptr stop = last < leaf_last ? last : leaf_last;
    if (const uint8_t* s = byte_for(g)) {
      // The granules g .. stop: their shadow bytes, 8 at a time while 0.
      const uint8_t* end = s + ((stop - g) >> 3) + 1;
      for (const uint8_t* q = s; q < end;) {
        if ((addr(q) & 7) == 0 && end - q >= 8 && *reinterpret_cast<const uint64_t*>(q) == 0) {
          q += 8;
          continue;
        }
        uint8_t v = *q;
        if (v != 0) {
          uptr gq = g + (static_cast<uptr>(q - s) << 3);
          uptr first = gq > a ? gq : a;
          if (v >= 0x80) return first;
          // 1..7: bytes [gq, gq+v) addressable.
          uptr bad = gq + v;
          if (bad <= last) return bad > a ? bad : a;
        }
        ++q;
      }
    }
    if (stop == last) return 0;
    g = leaf_last + 1;
  }
}

uptr last_below(uptr a, uint8_t value, uptr floor) {
  while (a >= 8 && a - 8 >= floor) {
    const uint8_t* s = byte_for(a - 8);
    if (!s) return 0;
    uptr leaf_lo = std::max((a - 8) & ~kLeafMask, align_down(floor, 8));
    const uint8_t* first = byte_for(leaf_lo);
    if (const void* hit = memrchr(first, value, static_cast<size_t>(s - first) + 1))
      return leaf_lo + (static_cast<uptr>(static_cast<const uint8_t*>(hit) - first) << 3);
    a = leaf_lo;
  }
  return 0;
}

void lock_for_fork() { g_lock.lock(); }
void unlock_for_fork() { g_lock.unlock(); }
void reset_for_fork_child() { g_lock.reset_after_fork(); }

}  // namespace lm::redzone::shadow
