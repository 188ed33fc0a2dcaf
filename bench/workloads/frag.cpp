// bench/workloads/frag.cpp: fragmentation. Phase 1 allocates many small blocks, phase 2
// frees most of them at random (leaving a sparse survivor in most pages), phase 3
// allocates blocks of other, larger sizes, which a fragmented heap cannot place in the
// holes. Reports RSS at each step: how much memory the allocator holds on to.
//   metric.peak_rss_kb   VmHWM at the end (the run's peak)
//   metric.phase3_rss_kb VmRSS with phase-1 survivors and phase-3 blocks live
//   metric.survivor_rss_kb VmRSS after phase 3 is freed (survivors only)
//   metric.final_rss_kb  VmRSS after everything is freed (no malloc_trim)
#include "common.h"

#include <vector>

using wl::Block;

int main(int argc, char** argv) {
  wl::Args args(argc, argv);
  const long n1 = args.get("small", 400000);   // phase-1 blocks (16..512 B)
  const long keep_pct = args.get("keep", 10);  // percent of phase-1 blocks that survive
  const long n3 = args.get("large", 40000);    // phase-3 blocks (600..4000 B)
  const long rounds = args.get("rounds", 2);

  wl::Checksum ck;
  wl::Rng rng(7);
  uint64_t local = 0;
  long rss_phase3 = 0, rss_survivors = 0;
  std::vector<Block> survivors;
  for (long r = 0; r < rounds; ++r) {
    std::vector<Block> small(n1);
    for (long i = 0; i < n1; ++i) {
      Block& b = small[i];
      b.size = rng.range(16, 512);
      b.tag = wl::mix(uint64_t(r) * 3 + 1, uint64_t(i));
      b.p = std::malloc(b.size);
      if (!b.p) { ck.error(); b.size = 0; continue; }
      wl::stamp(b.p, b.size, b.tag);
    }
    for (long i = 0; i < n1; ++i) {
      Block& b = small[i];
      if (rng.chance(unsigned(keep_pct))) {
        survivors.push_back(b);
      } else if (b.p) {
        wl::check_free(ck, b.p, b.size, b.tag, local);
      }
    }
    std::vector<Block> large(n3);
    for (long i = 0; i < n3; ++i) {
      Block& b = large[i];
      b.size = rng.range(600, 4000);
      b.tag = wl::mix(uint64_t(r) * 3 + 2, uint64_t(i));
      b.p = std::malloc(b.size);
      if (!b.p) { ck.error(); b.size = 0; continue; }
      wl::stamp(b.p, b.size, b.tag);
    }
    long rss = wl::proc_status_kb("VmRSS");
    if (rss > rss_phase3) rss_phase3 = rss;
    for (auto& b : large)
      if (b.p) wl::check_free(ck, b.p, b.size, b.tag, local);
    rss_survivors = wl::proc_status_kb("VmRSS");
  }
  for (auto& b : survivors)
    if (b.p) wl::check_free(ck, b.p, b.size, b.tag, local);
  survivors.clear();
  survivors.shrink_to_fit();
  long rss_final = wl::proc_status_kb("VmRSS");
  ck.add(local);
  wl::print_metric("peak_rss_kb", double(wl::proc_status_kb("VmHWM")));
  wl::print_metric("phase3_rss_kb", double(rss_phase3));
  wl::print_metric("survivor_rss_kb", double(rss_survivors));
  wl::print_metric("final_rss_kb", double(rss_final));
  wl::print_result("frag", ck);
  return ck.errors.load() ? 1 : 0;
}
