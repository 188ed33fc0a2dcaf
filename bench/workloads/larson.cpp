// bench/workloads/larson.cpp: a larson-style server workload. Threads own arrays of slots
// and replace a random slot's block with a new random-size block; some blocks are swapped
// with other threads through a shared exchange table, so blocks are freed by threads that
// did not allocate them. Work runs in epochs: each epoch starts fresh threads that inherit
// the previous epoch's slots, so memory of exited threads is freed by new ones (the
// pattern of Larson & Krishnan's server benchmark). The work is fixed (threads x epochs x
// ops); the checksum covers every block allocated and depends on nothing else.
#include "common.h"

#include <mutex>
#include <thread>
#include <vector>

namespace {

using wl::Block;

struct Exchange {
  std::mutex mu;
  Block b;
};

}  // namespace

int main(int argc, char** argv) {
  wl::Args args(argc, argv);
  const long threads = args.get("threads", 2);
  const long epochs = args.get("epochs", 4);
  const long ops = args.get("ops", 200000);        // per thread per epoch
  const long slots = args.get("slots", 1000);      // per thread
  const long min_size = args.get("min", 16);
  const long max_size = args.get("max", 1024);
  const long xchg_pct = args.get("xchg", 10);      // percent of ops that swap with the table
  const long table = args.get("table", 256);

  wl::Checksum ck;
  std::vector<std::vector<Block>> owned(threads, std::vector<Block>(slots));
  std::vector<Exchange> xt(table);

  for (long e = 0; e < epochs; ++e) {
    std::vector<std::thread> pool;
    for (long t = 0; t < threads; ++t) {
      pool.emplace_back([&, t, e] {
        wl::Rng rng(wl::mix(uint64_t(t) + 1, uint64_t(e) + 1));
        std::vector<Block>& mine = owned[t];
        uint64_t local = 0;
        for (long i = 0; i < ops; ++i) {
          Block& s = mine[rng.next() % slots];
          if (s.p) wl::check_free(ck, s.p, s.size, s.tag, local);
          s.size = rng.range(min_size, max_size);
          s.tag = wl::mix(wl::mix(uint64_t(t), uint64_t(e)), uint64_t(i));
          s.p = std::malloc(s.size);
          if (!s.p) { ck.error(); s.size = 0; continue; }
          wl::stamp(s.p, s.size, s.tag);
          if (rng.chance(unsigned(xchg_pct))) {
            Exchange& x = xt[rng.next() % table];
            std::lock_guard<std::mutex> g(x.mu);
            std::swap(x.b, s);
          }
        }
        ck.add(local);
      });
    }
    for (auto& th : pool) th.join();
  }
  uint64_t local = 0;
  for (auto& v : owned)
    for (auto& s : v)
      if (s.p) wl::check_free(ck, s.p, s.size, s.tag, local);
  for (auto& x : xt)
    if (x.b.p) wl::check_free(ck, x.b.p, x.b.size, x.b.tag, local);
  ck.add(local);
  wl::print_metric("ops", double(threads) * double(epochs) * double(ops));
  wl::print_result("larson", ck);
  return ck.errors.load() ? 1 : 0;
}
