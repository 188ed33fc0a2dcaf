// fast_path.h: the inlined malloc and free fast paths.
//
// Call tree:
//   malloc(n) -> size_class -> pop t_cache.bins[c]            (hit: return)
//             -> malloc_slow: init, redzone (every call in redzone mode),
//                thread setup, refill, the thread's parked heap block,
//                heap, large
//   free(p)   -> pagemap::get -> slab? -> key check, push bin  (fits: return)
//             -> free_slow: redzone, flush, double-free check, heap (or
//                park it for the thread), large, bootstrap
// The Family argument is a constant at each call site; only the slow paths
// (redzone mode) look at it.
//
// The fast paths run only when every condition below holds; anything else
// (uninitialised library or thread, redzone mode, empty or full bin, a
// non-slab block, a suspected double free) takes the one slow call. No lock,
// no atomic read-modify-write, no errno change.
#pragma once

#include "core/core.h"
#include "core/thread_cache.h"
#include "pagemap/pagemap.h"
#include "slab/slab.h"

namespace lm::core {

LM_SLOW_PATH void* malloc_slow(size_t n, Family family);
// Every kTickMask+1 cache hits of a bin: time-based work (decay purging) that
// must happen even in a program that never leaves the fast path.
LM_SLOW_PATH void tick();
constexpr uint64_t kTickMask = 255;
LM_SLOW_PATH void free_slow(void* p, const char* func, Family family);

LM_FAST_PATH void* malloc_fast(size_t n, Family family = Family::kMalloc) {
  if (LM_LIKELY(n <= slab::kMaxSize)) {
    Bin& b = t_cache.bins[slab::size_class(n)];
    void* p = b.head;
    // A link that is not 16-aligned was overwritten: the slow path reports it.
    if (LM_LIKELY(p != nullptr && (addr(p) & 15) == 0)) {
      void** slot = static_cast<void**>(p);
      b.head = reveal(slot);
      --b.count;
      slot[1] = nullptr;  // clear the free key
      if (LM_UNLIKELY((++b.allocs & kTickMask) == 0)) tick();
      return p;
    }
  }
  return malloc_slow(n, family);
}

LM_FAST_PATH void free_fast(void* p, const char* func, Family family = Family::kMalloc) {
  pagemap::Entry e = pagemap::get(addr(p));
  if (LM_LIKELY(e > pagemap::kLargeHead)) {
    slab::Slab* s = slab::slab_of(e);
    Bin& b = t_cache.bins[s->size_class];
    void** slot = static_cast<void**>(p);
    if (LM_LIKELY(b.count < b.limit && slot[1] != ptr(g_free_key) && slab::is_object_start(s, addr(p)))) {
      *slot = protect(slot, b.head);
      slot[1] = ptr(g_free_key);
      b.head = p;
      ++b.count;
      return;
    }
  }
  free_slow(p, func, family);
}

}  // namespace lm::core
