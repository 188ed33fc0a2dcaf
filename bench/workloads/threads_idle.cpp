// bench/workloads/threads_idle.cpp: many threads alive at once, as in a server with
// a thread per connection or a big thread pool. Each thread does a burst of work (rounds
// of blocks of 16 B-8 KiB allocated, written, checked and freed, most sizes reused from
// round to round), keeps a few blocks as its connection state, and then waits, alive,
// until every thread has done the same; only then do they exit. What matters is the
// memory the allocator holds for threads that are not running: their caches.
//   metric.idle_rss_kb  VmRSS while every thread waits (all alive, all done)
#include "common.h"

#include <barrier>
#include <thread>
#include <vector>

using wl::Block;

int main(int argc, char** argv) {
  wl::Args args(argc, argv);
  const long threads = args.get("threads", 1000);
  const long rounds = args.get("rounds", 20);
  const long blocks = args.get("blocks", 40);  // per round
  const long keep = args.get("keep", 8);       // kept while waiting

  wl::Checksum ck;
  std::barrier done(threads + 1);
  std::barrier leave(threads + 1);
  std::vector<std::thread> pool;
  pool.reserve(size_t(threads));
  for (long t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      wl::Rng rng(uint64_t(t) + 1);
      uint64_t local = 0;
      std::vector<Block> round(static_cast<size_t>(blocks)), kept(static_cast<size_t>(keep));
      for (long r = 0; r < rounds; ++r) {
        for (long i = 0; i < blocks; ++i) {
          Block& b = round[size_t(i)];
          // A thread's sizes drift slowly: each round's request sizes are its last ones
          // grown by up to an eighth (a message or a document that grows), restarting small.
          b.size = r == 0 || b.size > 8192 ? size_t(rng.chance(70) ? rng.range(16, 512) : rng.range(512, 4096))
                                           : b.size + rng.range(0, b.size / 8 + 1);
          b.tag = wl::mix(uint64_t(t), uint64_t(r * blocks + i));
          b.p = std::malloc(b.size);
          if (!b.p) { ck.error(); b.size = 0; continue; }
          wl::stamp(b.p, b.size, b.tag);
        }
        for (auto& b : round)
          if (b.p) { wl::check_free(ck, b.p, b.size, b.tag, local); b.p = nullptr; }
      }
      for (long i = 0; i < keep; ++i) {
        Block& b = kept[size_t(i)];
        b.size = rng.range(16, 2048);
        b.tag = wl::mix(uint64_t(t) + 0x9e37, uint64_t(i));
        b.p = std::malloc(b.size);
        if (!b.p) { ck.error(); b.size = 0; continue; }
        wl::stamp(b.p, b.size, b.tag);
      }
      done.arrive_and_wait();
      leave.arrive_and_wait();
      for (auto& b : kept)
        if (b.p) wl::check_free(ck, b.p, b.size, b.tag, local);
      ck.add(local);
    });
  }
  done.arrive_and_wait();
  long idle = wl::proc_status_kb("VmRSS");
  leave.arrive_and_wait();
  for (auto& th : pool) th.join();
  wl::print_metric("idle_rss_kb", double(idle));
  wl::print_metric("threads", double(threads));
  wl::print_result("threads_idle", ck);
  return ck.errors.load() ? 1 : 0;
}
