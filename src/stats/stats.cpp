// stats.cpp: counter storage and printing.
#include "stats/stats.h"

#include "os/os.h"

namespace lm::stats {

constinit std::atomic<size_t> g_counters[kCounterCount] = {};

namespace {
struct CounterInfo {
  const char* name;
  const char* help;
};
constexpr CounterInfo kInfo[] = {
#define LM_COUNTER(name, help) {#name, help},
#include "stats/stats.def"
#undef LM_COUNTER
};
}  // namespace

void print_counters(os::Writer& w) {
  w.printf("events:\n");
  for (unsigned i = 0; i < kCounterCount; ++i)
    w.printf("  %-18s %12zu  %s\n", kInfo[i].name, read(static_cast<Counter>(i)), kInfo[i].help);
}

}  // namespace lm::stats
