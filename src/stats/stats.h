// stats.h: event counters (stats.def) and the shared table printer. The
// layers own their own gauges (bytes in use, free, cached); core composes the
// full stats=1 report from them.
#pragma once

#include <atomic>
#include <cstddef>

#include "base/base.h"

namespace lm::os {
class Writer;
}

namespace lm::stats {

enum Counter : unsigned {
#define LM_COUNTER(name, help) k_##name,
#include "stats/stats.def"
#undef LM_COUNTER
  kCounterCount
};

extern std::atomic<size_t> g_counters[kCounterCount];

inline void count(Counter c, size_t n = 1) { g_counters[c].fetch_add(n, std::memory_order_relaxed); }
inline size_t read(Counter c) { return g_counters[c].load(std::memory_order_relaxed); }
// For a counter whose writers all hold one lock: a load and a store, not a
// read-modify-write (whose barrier was a seventh of a cached 256 KiB
// malloc/free pair).
inline void count_locked(Counter c, size_t n = 1) {
  g_counters[c].store(g_counters[c].load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Prints "name  value  help" for every counter.
void print_counters(os::Writer& w);

}  // namespace lm::stats
