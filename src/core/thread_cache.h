// thread_cache.h: the per-thread object caches (the kernel's array_cache):
// per size class, a bounded stack of pointers to free objects, oldest at the
// bottom, in an area of ours mapped for the thread (core.cpp, bin areas).
// Owned by core/: only the owning thread touches its bins; the slab layer
// sees whole batches. A freed object's second word holds g_free_key, so that
// the common double free is caught as cheaply as glibc's tcache does; its
// first word is not used while it is cached (a write after free there
// damages nothing of ours).
#pragma once

#include <cstdint>

#include "base/base.h"
#include "slab/slab.h"

namespace lm::core {

struct Bin {
  void** stack;     // stack[0, count): the objects, most recently freed last
  uint32_t count;
  uint32_t limit;   // 0 until the thread is set up: every access misses
  uint64_t allocs;  // served from this bin (for the hit rate)
};

enum class ThreadState : uint8_t { kNew, kActive, kDead };

struct ThreadRecord;

struct ThreadCache {
  Bin bins[slab::kClasses];
  // Per bin, its slow-start refills so far, while they are below half its
  // limit (core.cpp, slow_start; kept out of Bin, which the fast paths index).
  uint8_t ramp[slab::kClasses];
  // Per bin, its limit; Bin::limit is less while the bin is still on its
  // starter stack (core.cpp, bin areas), which holds fewer objects.
  uint16_t full_limit[slab::kClasses];
  // Bins above 4 KiB hold one object unless busy (adapt_big_bin in
  // core.cpp): `events` counts the thread's misses and overflows of every
  // bin, last_event[c] its value at class c's last one.
  uint32_t events;
  uint32_t last_event[slab::kClasses];
  // The thread's most recently freed heap block above the slab classes
  // (core.cpp, park_heap_block), or null; its usable bytes.
  void* big;
  size_t big_size;
  uint64_t big_ms;   // when it was parked (os::recent_ms)
  bool big_enabled;  // off when blocks must reach the heap at once (tuning)
  uint64_t misses;  // allocations that went to the slow path
  unsigned epoch;   // the limits' generation these bins follow
  ThreadState state;
  uint8_t shard;      // its transfer-cache shard (core.cpp)
  uint8_t cache_shift;  // its limits are the policy's >> this (core.cpp, the thread caches' budget)
  ThreadRecord* record;  // its entry in the registry (core.cpp), or null
  void** area;           // its bins' stacks (core.cpp, bin areas), or null: no caching
};

extern constinit thread_local ThreadCache t_cache LM_TLS_IE;
extern uint64_t g_free_key;

}  // namespace lm::core
