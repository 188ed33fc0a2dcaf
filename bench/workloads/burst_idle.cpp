// bench/workloads/burst_idle.cpp: burst and idle (issue 6). Does the allocator give memory
// back by itself? Phase 1 allocates about 1.4 GiB in mixed sizes (90% of blocks uniform
// 16 B..1 KiB, 10% uniform 1 KiB..60 KiB), writing every byte; phase 2 frees 98% of the
// blocks in a random order (fixed seed); phase 3 stays lightly busy for `idle_ms` (one small
// malloc, write and free every millisecond), sampling RSS from /proc/self/statm every
// `sample_ms`; then malloc_trim(0) and one more sample. Finally the survivors are freed.
// This is the one workload timed by design: its idle phase is wall time. It measures RSS
// over time, never pass/fail on time.
//   rss_ms: T KB          one sample, T ms after the frees ended (0 = right after them)
//   metric.peak_rss_kb    VmHWM at the end of phase 1 (peak)
//   metric.burst_rss_kb   RSS after phase 1 (all blocks live)
//   metric.freed_rss_kb   RSS right after phase 2
//   metric.idle1_rss_kb   RSS 1 s into the idle phase
//   metric.final_rss_kb   RSS at the end of the idle phase, before malloc_trim
//   metric.trim_rss_kb    RSS after malloc_trim(0)
//   metric.trim_ret       malloc_trim's return value
//   metric.alloc_s, metric.free_s, metric.trim_s   phase durations
//   metric.idle_ops       malloc+free pairs done during the idle phase (ideally idle_ms)
#include "common.h"

#include <fcntl.h>
#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <vector>

namespace {

struct Block {
  void* p;
  uint32_t size;
};

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Resident set in KiB from /proc/self/statm (second field, in pages), read with open(2)
// and read(2) into a stack buffer so that sampling never allocates.
long statm_rss_kb() {
  static const long page_kb = sysconf(_SC_PAGESIZE) / 1024;
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[128];
  ssize_t len = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (len <= 0) return -1;
  buf[len] = 0;
  char* end = nullptr;
  std::strtol(buf, &end, 10);  // total program size
  long resident = std::strtol(end, nullptr, 10);
  return resident * page_kb;
}

void sleep_until(double t) {
  timespec ts;
  ts.tv_sec = time_t(t);
  ts.tv_nsec = long((t - double(ts.tv_sec)) * 1e9);
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  wl::Args args(argc, argv);
  const long total_mb = args.get("mb", 1434);        // bytes requested in phase 1 (1.4 GiB)
  const long free_pct = args.get("free", 98);        // percent of blocks freed in phase 2
  const long idle_ms = args.get("idle_ms", 5000);    // length of the idle phase
  const long sample_ms = args.get("sample_ms", 100); // RSS sampling period
  const long seed = args.get("seed", 6);

  wl::Checksum ck;
  wl::Rng rng{uint64_t(seed)};
  uint64_t local = 0;
  const uint64_t total = uint64_t(total_mb) << 20;

  // Phase 1: the burst. The block table is reserved up front (an upper bound of the count)
  // so its own growth does not interleave with the measured allocations.
  std::vector<Block> blocks;
  blocks.reserve(size_t(total / 400 + 16));  // mean block is ~3.6 KiB; 400 B is a safe floor
  double t0 = now_s();
  uint64_t bytes = 0;
  while (bytes < total) {
    uint32_t size = rng.chance(90) ? uint32_t(rng.range(16, 1024)) : uint32_t(rng.range(1025, 60 * 1024));
    void* p = std::malloc(size);
    if (!p) { ck.error(); break; }
    uint64_t tag = wl::mix(uint64_t(seed), blocks.size());
    std::memset(p, int(tag & 0xff), size);  // every byte written: the block is resident
    wl::stamp(p, size, tag);
    blocks.push_back({p, size});
    bytes += size;
  }
  double t1 = now_s();
  long burst_rss = statm_rss_kb();
  long peak_rss = wl::proc_status_kb("VmHWM");

  // Phase 2: free free_pct% of the blocks, chosen by a seeded shuffle.
  const size_t n = blocks.size();
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = uint32_t(i);
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.next() % i]);
  const size_t n_free = n * size_t(free_pct) / 100;
  double t2 = now_s();
  for (size_t k = 0; k < n_free; ++k) {
    Block& b = blocks[order[k]];
    wl::check_free(ck, b.p, b.size, wl::mix(uint64_t(seed), order[k]), local);
    b.p = nullptr;
  }
  std::vector<uint32_t>().swap(order);
  double t3 = now_s();

  // Phase 3: lightly busy. One small malloc, write, free per millisecond, on a fixed
  // schedule (absolute deadlines, so a slow call does not stretch the phase).
  std::vector<long> samples;  // pairs (ms, KiB); reserved so sampling does not allocate
  samples.reserve(size_t(2 * (idle_ms / (sample_ms > 0 ? sample_ms : 1) + 4)));
  samples.push_back(0);
  samples.push_back(statm_rss_kb());
  long idle_ops = 0, idle1_rss = -1;
  const double start = now_s();
  long next_sample = sample_ms;
  for (long tick = 1; tick <= idle_ms; ++tick) {
    sleep_until(start + double(tick) * 1e-3);
    uint64_t tag = wl::mix(uint64_t(seed) + 1, uint64_t(tick));
    size_t size = 16 + (tag % 241);  // 16..256 B
    void* p = std::malloc(size);
    if (!p) { ck.error(); continue; }
    wl::stamp(p, size, tag);
    wl::check_free(ck, p, size, tag, local);
    ++idle_ops;
    if (tick >= next_sample) {
      long rss = statm_rss_kb();
      samples.push_back(tick);
      samples.push_back(rss);
      if (tick == 1000) idle1_rss = rss;
      next_sample += sample_ms;
    }
  }
  long final_rss = statm_rss_kb();
  double t4 = now_s();
  int trim_ret = malloc_trim(0);
  double t5 = now_s();
  long trim_rss = statm_rss_kb();

  // The survivors: verified and freed last, so the checksum covers every block.
  for (size_t i = 0; i < n; ++i)
    if (blocks[i].p) wl::check_free(ck, blocks[i].p, blocks[i].size, wl::mix(uint64_t(seed), i), local);
  ck.add(local);

  for (size_t i = 0; i + 1 < samples.size(); i += 2) std::printf("rss_ms: %ld %ld\n", samples[i], samples[i + 1]);
  std::printf("rss_trim: %ld\n", trim_rss);
  wl::print_metric("blocks", double(n));
  wl::print_metric("burst_mb", double(bytes) / 1048576.0);
  wl::print_metric("peak_rss_kb", double(peak_rss));
  wl::print_metric("burst_rss_kb", double(burst_rss));
  wl::print_metric("freed_rss_kb", double(samples[1]));
  wl::print_metric("idle1_rss_kb", double(idle1_rss >= 0 ? idle1_rss : final_rss));
  wl::print_metric("final_rss_kb", double(final_rss));
  wl::print_metric("trim_rss_kb", double(trim_rss));
  wl::print_metric("trim_ret", double(trim_ret));
  wl::print_metric("alloc_s", t1 - t0);
  wl::print_metric("free_s", t3 - t2);
  wl::print_metric("idle_s", t4 - start);
  wl::print_metric("trim_s", t5 - t4);
  wl::print_metric("idle_ops", double(idle_ops));
  wl::print_result("burst_idle", ck);
  return ck.errors.load() ? 1 : 0;
}
