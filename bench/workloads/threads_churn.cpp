// bench/workloads/threads_churn.cpp: many short-lived threads. Waves of threads start,
// each allocates a set of blocks, frees half of them in random order and exits leaving the
// rest, which the main thread frees after the join: thread-cache set-up and tear-down,
// and frees of memory whose allocating thread is gone.
#include "common.h"

#include <thread>
#include <vector>

using wl::Block;

int main(int argc, char** argv) {
  wl::Args args(argc, argv);
  const long total = args.get("total", 2000);   // threads started in all
  const long wave = args.get("wave", 8);        // threads alive at once
  const long blocks = args.get("blocks", 500);  // blocks per thread

  wl::Checksum ck;
  std::vector<std::vector<Block>> left(wave, std::vector<Block>(blocks));
  uint64_t main_local = 0;
  for (long base = 0; base < total; base += wave) {
    long n = total - base < wave ? total - base : wave;
    std::vector<std::thread> pool;
    for (long w = 0; w < n; ++w) {
      pool.emplace_back([&, w, id = base + w] {
        wl::Rng rng(uint64_t(id) + 1);
        std::vector<Block>& bl = left[w];
        for (long i = 0; i < blocks; ++i) {
          Block& b = bl[i];
          b.size = rng.chance(2) ? rng.range(1024, 16384) : rng.range(16, 512);
          b.tag = wl::mix(uint64_t(id), uint64_t(i));
          b.p = std::malloc(b.size);
          if (!b.p) { ck.error(); b.size = 0; continue; }
          wl::stamp(b.p, b.size, b.tag);
        }
        // Free a random half; the rest outlives the thread.
        uint64_t local = 0;
        for (long i = 0; i < blocks / 2; ++i) {
          Block& b = bl[rng.next() % blocks];
          if (b.p) { wl::check_free(ck, b.p, b.size, b.tag, local); b.p = nullptr; }
        }
        ck.add(local);
      });
    }
    for (auto& th : pool) th.join();
    for (long w = 0; w < n; ++w)
      for (auto& b : left[w])
        if (b.p) { wl::check_free(ck, b.p, b.size, b.tag, main_local); b.p = nullptr; }
  }
  ck.add(main_local);
  wl::print_metric("threads", double(total));
  wl::print_result("threads_churn", ck);
  return ck.errors.load() ? 1 : 0;
}
