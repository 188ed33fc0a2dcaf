// bench/workloads/large.cpp: the large-block workload (mimalloc-bench's malloc-large
// pattern). A few live buffers of 256 KiB to 25 MiB are replaced at random; each new
// buffer's pages are written once. When an allocator gives freed large memory back to the
// kernel at once, every replacement faults its pages in again; one that keeps and reuses
// it does not. Reports peak and final RSS too, the other side of that trade.
#include "common.h"

#include <vector>

using wl::Block;

int main(int argc, char** argv) {
  wl::Args args(argc, argv);
  const long live = args.get("live", 5);
  const long ops = args.get("ops", 200);
  const long min_size = args.get("min", 256 << 10);
  const long max_size = args.get("max", 25 << 20);

  wl::Checksum ck;
  wl::Rng rng(2024);
  std::vector<Block> bufs(live);
  uint64_t local = 0;
  for (long i = 0; i < ops; ++i) {
    Block& b = bufs[rng.next() % live];
    if (b.p) wl::check_free(ck, b.p, b.size, b.tag, local);
    b.size = rng.log_range(min_size, max_size);
    b.tag = wl::mix(99, uint64_t(i));
    b.p = std::malloc(b.size);
    if (!b.p) { ck.error(); b.size = 0; continue; }
    wl::stamp(b.p, b.size, b.tag);  // one write per 4 KiB page
  }
  for (auto& b : bufs)
    if (b.p) wl::check_free(ck, b.p, b.size, b.tag, local);
  ck.add(local);
  wl::print_metric("final_rss_kb", double(wl::proc_status_kb("VmRSS")));
  wl::print_result("large", ck);
  return ck.errors.load() ? 1 : 0;
}
