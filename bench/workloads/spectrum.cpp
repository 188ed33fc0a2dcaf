// bench/workloads/spectrum.cpp: sizes across the whole range, 16 B to 4 MiB, drawn
// log-uniformly (as many 16-32 B blocks as 2-4 MiB ones), into a window of live slots
// replaced at random. Crosses every size class, the 128 KiB mmap threshold and the
// large-block path; each block's pages are written once.
#include "common.h"

#include <thread>
#include <vector>

using wl::Block;

int main(int argc, char** argv) {
  wl::Args args(argc, argv);
  const long threads = args.get("threads", 1);
  const long ops = args.get("ops", 20000);     // per thread
  const long window = args.get("window", 200); // live blocks per thread
  const long min_size = args.get("min", 16);
  const long max_size = args.get("max", 4 << 20);

  wl::Checksum ck;
  std::vector<std::thread> pool;
  for (long t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      wl::Rng rng(uint64_t(t) + 101);
      std::vector<Block> live(window);
      uint64_t local = 0;
      for (long i = 0; i < ops; ++i) {
        Block& b = live[rng.next() % window];
        if (b.p) wl::check_free(ck, b.p, b.size, b.tag, local);
        b.size = rng.log_range(min_size, max_size);
        b.tag = wl::mix(uint64_t(t), uint64_t(i));
        b.p = std::malloc(b.size);
        if (!b.p) { ck.error(); b.size = 0; continue; }
        wl::stamp(b.p, b.size, b.tag);
      }
      for (auto& b : live)
        if (b.p) wl::check_free(ck, b.p, b.size, b.tag, local);
      ck.add(local);
    });
  }
  for (auto& th : pool) th.join();
  wl::print_result("spectrum", ck);
  return ck.errors.load() ? 1 : 0;
}
