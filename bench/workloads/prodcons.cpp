// bench/workloads/prodcons.cpp: producer-consumer queues. Half the threads allocate
// messages of random sizes and push them into single-producer single-consumer rings;
// the other half pop, verify and free them, so nearly every free is a cross-thread free
// of memory from a live thread. threads=T runs max(1,T/2) producer/consumer pairs.
#include "common.h"

#include <sched.h>

#include <thread>
#include <vector>

namespace {

struct Msg {
  void* p;
  size_t size;
  uint64_t tag;
};

// A bounded SPSC ring; full/empty waits yield the CPU so oversubscribed runs progress.
struct Ring {
  static constexpr size_t kCap = 1024;  // power of two; deep enough that pairs rarely stall
  alignas(64) std::atomic<size_t> head{0};
  alignas(64) std::atomic<size_t> tail{0};
  alignas(64) Msg buf[kCap];
  void push(const Msg& m) {
    size_t t = tail.load(std::memory_order_relaxed);
    while (t - head.load(std::memory_order_acquire) == kCap) sched_yield();
    buf[t & (kCap - 1)] = m;
    tail.store(t + 1, std::memory_order_release);
  }
  Msg pop() {
    size_t h = head.load(std::memory_order_relaxed);
    while (tail.load(std::memory_order_acquire) == h) sched_yield();
    Msg m = buf[h & (kCap - 1)];
    head.store(h + 1, std::memory_order_release);
    return m;
  }
};

}  // namespace

int main(int argc, char** argv) {
  wl::Args args(argc, argv);
  const long threads = args.get("threads", 2);
  const long msgs = args.get("msgs", 500000);  // per producer
  const long min_size = args.get("min", 16);
  const long max_size = args.get("max", 2048);
  const long big_pct = args.get("big", 1);    // percent of messages of 4-64 KiB
  const long pairs = threads / 2 > 0 ? threads / 2 : 1;

  wl::Checksum ck;
  std::vector<Ring> rings(pairs);
  std::vector<std::thread> pool;
  for (long k = 0; k < pairs; ++k) {
    pool.emplace_back([&, k] {
      wl::Rng rng(uint64_t(k) + 1);
      for (long i = 0; i < msgs; ++i) {
        Msg m;
        m.size = rng.chance(unsigned(big_pct)) ? rng.range(4096, 65536) : rng.range(min_size, max_size);
        m.tag = wl::mix(uint64_t(k), uint64_t(i));
        m.p = std::malloc(m.size);
        if (!m.p) { ck.error(); m.size = 0; }
        else wl::stamp(m.p, m.size, m.tag);
        rings[k].push(m);
      }
    });
    pool.emplace_back([&, k] {
      uint64_t local = 0;
      for (long i = 0; i < msgs; ++i) {
        Msg m = rings[k].pop();
        if (m.p) wl::check_free(ck, m.p, m.size, m.tag, local);
      }
      ck.add(local);
    });
  }
  for (auto& th : pool) th.join();
  wl::print_metric("ops", double(pairs) * double(msgs));
  wl::print_result("prodcons", ck);
  return ck.errors.load() ? 1 : 0;
}
