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
// The Family argument is a constant at each call site; it and `ret` (the
// program's return address: LM_CALLER in the exported entry point) are read
// only by the slow paths in redzone mode.
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

// `ret`: the program's return address, for redzone mode's stacks.
LM_SLOW_PATH void* malloc_slow(size_t n, Family family, uptr ret);
LM_SLOW_PATH void free_slow(void* p, const char* func, Family family, uptr ret);
// The fast paths' misses, tail-called (a jump) from the exported malloc,
// free and operator delete forms: their own return address is then the
// program's, read here rather than in the fast path (where GCC loads it on
// entry: the pair took 5.1 ns instead of 4.3). An entry point that does
// more after the call passes LM_CALLER to the *_slow functions instead.
LM_SLOW_PATH void* malloc_miss(size_t n, Family family);
LM_SLOW_PATH void free_miss(void* p, const char* func, Family family);
// Every kTickMask+1 cache hits of a bin: time-based work (decay purging) that
// must happen even in a program that never leaves the fast path.
LM_SLOW_PATH void tick();
constexpr uint64_t kTickMask = 255;

// An object from the thread's bin, else miss() (the slow path). One body
// for every caller: malloc's miss is a tail call, operator new's its own.
// (Written as a hit function that callers test, GCC laid the hit path out
// behind a taken branch, or in .text.unlikely.)
template <class Miss>
LM_FAST_PATH void* malloc_fast_or(size_t n, Miss miss) {
  if (LM_LIKELY(n <= slab::kMaxSize)) {
    Bin& b = t_cache.bins[slab::size_class(n)];
    uint32_t count = b.count;
    if (LM_LIKELY(count != 0)) {
      void* p = b.stack[count - 1];
      b.count = count - 1;
      static_cast<void**>(p)[1] = nullptr;  // clear the free key
      if (LM_UNLIKELY((++b.allocs & kTickMask) == 0)) tick();
      return p;
    }
  }
  return miss();
}

LM_FAST_PATH void* malloc_fast(size_t n, Family family = Family::kMalloc) {
  return malloc_fast_or(n, [&] { return malloc_miss(n, family); });
}

// Into the thread's bin: false when the slow path must take it.
LM_FAST_PATH bool free_hit(void* p) {
  pagemap::Entry e = pagemap::get(addr(p));
  if (LM_LIKELY(e > pagemap::kLargeHead)) {
    slab::Slab* s = slab::slab_of(e);
    Bin& b = t_cache.bins[s->size_class];
    void** slot = static_cast<void**>(p);
    uint32_t count = b.count;
    if (LM_LIKELY(count < b.limit && slot[1] != ptr(g_free_key) && slab::is_object_start(s, addr(p)))) {
      b.stack[count] = p;
      slot[1] = ptr(g_free_key);
      b.count = count + 1;
      return true;
    }
  }
  return false;
}

LM_FAST_PATH void free_fast(void* p, const char* func, Family family = Family::kMalloc) {
  if (LM_LIKELY(free_hit(p))) return;
  free_miss(p, func, family);
}

}  // namespace lm::core
