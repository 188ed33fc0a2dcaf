// bench/micro.cpp: lm_bench_micro, the Google Benchmark micro benchmarks. One binary,
// linked against the C library only, run once per allocator by bench/run.py (no preload
// for glibc, LD_PRELOAD for the others). Every benchmark reports items_per_second, one
// item being one allocation (with its free), so the runner compares ns per operation.
//
// Groups (names are stable: the runner and docs/benchmarks.md use them):
//   pair/SIZE             malloc + first-byte write + free, 8 B .. 1 MiB (128 KiB boundary)
//   batch/SIZE/N/ORDER    allocate N blocks, free them in order (fifo) or shuffled
//   calloc/SIZE           calloc + free
//   realloc/STEP/MAX      grow one block from STEP to MAX bytes in STEP increments
//   aligned/ALIGN/SIZE    aligned_alloc + free
//   pair_mt/SIZE          malloc/free pairs in T threads at once (thread-cache scaling)
//   xthread/SIZE          T threads in a ring, each frees batches the previous one made
//
// Extra flag (before Google Benchmark's own): --lm_threads=1,2,4,8,16 sets the thread
// counts of pair_mt and xthread (default: powers of two up to nproc, and nproc).
#include <benchmark/benchmark.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

// The compiler may not elide or merge the allocations: the pointer escapes through
// DoNotOptimize and one byte is written, as any real user of the block would.
inline void touch(void* p) {
  benchmark::DoNotOptimize(p);
  static_cast<volatile char*>(p)[0] = 1;
}

void bm_pair(benchmark::State& state, size_t size) {
  for (auto _ : state) {
    void* p = std::malloc(size);
    touch(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

// The shuffled order is fixed (seeded), so every allocator frees in the same order.
void bm_batch(benchmark::State& state, size_t size, size_t n, bool shuffled) {
  std::vector<void*> ptrs(n);
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  if (shuffled) std::shuffle(order.begin(), order.end(), std::mt19937(12345));
  for (auto _ : state) {
    for (size_t i = 0; i < n; ++i) {
      ptrs[i] = std::malloc(size);
      touch(ptrs[i]);
    }
    for (size_t i = 0; i < n; ++i) std::free(ptrs[order[i]]);
  }
  state.SetItemsProcessed(state.iterations() * int64_t(n));
}

void bm_calloc(benchmark::State& state, size_t size) {
  for (auto _ : state) {
    void* p = std::calloc(1, size);
    touch(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

void bm_realloc(benchmark::State& state, size_t step, size_t max) {
  for (auto _ : state) {
    void* p = nullptr;
    for (size_t n = step; n <= max; n += step) {
      p = std::realloc(p, n);
      static_cast<volatile char*>(p)[n - 1] = 1;
    }
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations() * int64_t(max / step));
}

void bm_aligned(benchmark::State& state, size_t align, size_t size) {
  for (auto _ : state) {
    void* p = std::aligned_alloc(align, (size + align - 1) / align * align);
    touch(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

// Each thread keeps a small working set, like a real thread would, and replaces it.
void bm_pair_mt(benchmark::State& state, size_t size) {
  constexpr size_t kLive = 64;
  void* live[kLive] = {};
  size_t i = 0;
  for (auto _ : state) {
    void*& slot = live[i++ & (kLive - 1)];
    std::free(slot);
    slot = std::malloc(size);
    touch(slot);
  }
  for (void* p : live) std::free(p);
  state.SetItemsProcessed(state.iterations());
}

// Cross-thread free: thread k allocates a batch and hands it to thread k+1 (mod T)
// through a single-producer single-consumer ring; each thread frees every batch it has
// received. A producer facing a full ring drains its own input while it waits (so a cycle
// of waiting threads always progresses) and frees its batch itself only when the consumer
// has finished its iterations (counted as local_free_pct). After the timed loop (Google
// Benchmark holds a barrier there) thread 0 frees what is left in the rings.
constexpr size_t kBatch = 32;
constexpr size_t kRingSlots = 64;  // power of two
constexpr int kMaxThreads = 256;

struct alignas(64) XRing {
  std::atomic<size_t> head{0};
  alignas(64) std::atomic<size_t> tail{0};
  alignas(64) std::atomic<bool> done{false};  // the consumer has run all its iterations
  alignas(64) void* slots[kRingSlots][kBatch];
};
XRing* g_rings = nullptr;  // kMaxThreads rings, allocated once in main

// Frees every batch waiting in r; the caller is r's only consumer.
void drain(XRing& r) {
  size_t hd = r.head.load(std::memory_order_relaxed);
  size_t tl = r.tail.load(std::memory_order_acquire);
  for (; hd != tl; ++hd)
    for (void* p : r.slots[hd & (kRingSlots - 1)]) std::free(p);
  r.head.store(hd, std::memory_order_release);
}

void bm_xthread(benchmark::State& state, size_t size) {
  const int t = state.thread_index();
  const int n = state.threads();
  XRing& out = g_rings[t];
  XRing& in = g_rings[(t + n - 1) % n];
  int64_t local_frees = 0;
  int64_t left = int64_t(state.max_iterations);
  void* batch[kBatch];
  in.done.store(false);
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) {
      batch[i] = std::malloc(size);
      touch(batch[i]);
    }
    size_t tl = out.tail.load(std::memory_order_relaxed);
    bool sent = false;
    for (;;) {
      if (tl - out.head.load(std::memory_order_acquire) < kRingSlots) {
        std::memcpy(out.slots[tl & (kRingSlots - 1)], batch, sizeof batch);
        out.tail.store(tl + 1, std::memory_order_release);
        sent = true;
        break;
      }
      if (out.done.load(std::memory_order_acquire)) break;
      drain(in);
      sched_yield();
    }
    if (!sent) {
      for (void* p : batch) std::free(p);
      local_frees += int64_t(kBatch);
    }
    drain(in);
    if (--left == 0) in.done.store(true, std::memory_order_release);
  }
  if (t == 0) {
    for (int k = 0; k < n; ++k) drain(g_rings[k]);
  }
  state.SetItemsProcessed(state.iterations() * int64_t(kBatch));
  state.counters["local_free_pct"] = benchmark::Counter(
      100.0 * double(local_frees) / double(std::max<int64_t>(1, state.iterations() * int64_t(kBatch))),
      benchmark::Counter::kAvgThreads);
}

std::vector<int> parse_threads(const char* s) {
  std::vector<int> v;
  while (*s) {
    int x = std::atoi(s);
    if (x > 0 && x <= kMaxThreads) v.push_back(x);
    const char* c = std::strchr(s, ',');
    if (!c) break;
    s = c + 1;
  }
  return v;
}

std::vector<int> default_threads() {
  int ncpu = int(sysconf(_SC_NPROCESSORS_ONLN));
  if (ncpu < 1) ncpu = 1;
  std::vector<int> v;
  for (int t = 1; t < ncpu; t *= 2) v.push_back(t);
  v.push_back(ncpu);
  return v;
}

template <class F>
void add(const std::string& name, F f) {
  benchmark::RegisterBenchmark(name.c_str(), f);
}

void register_all(const std::vector<int>& threads) {
  const size_t sizes[] = {8,    16,    24,    32,    48,    64,     96,     128,    256,       512,
                          1024, 2048,  4096,  8192,  16384, 32768,  65536,  131056, 131072,    262144,
                          1 << 20};
  for (size_t s : sizes) add("pair/" + std::to_string(s), [s](benchmark::State& st) { bm_pair(st, s); });
  for (size_t s : {16, 64, 256, 1024})
    for (size_t n : {1000, 10000})
      for (bool sh : {false, true})
        add("batch/" + std::to_string(s) + "/" + std::to_string(n) + (sh ? "/shuffled" : "/fifo"),
            [=](benchmark::State& st) { bm_batch(st, s, n, sh); });
  for (size_t s : {64, 4096, 65536, 262144, 1 << 20})
    add("calloc/" + std::to_string(s), [s](benchmark::State& st) { bm_calloc(st, s); });
  add("realloc/16/65536", [](benchmark::State& st) { bm_realloc(st, 16, 65536); });
  add("realloc/256/1048576", [](benchmark::State& st) { bm_realloc(st, 256, 1 << 20); });
  for (size_t a : {32, 64, 4096})
    for (size_t s : {64, 1000})
      add("aligned/" + std::to_string(a) + "/" + std::to_string(s),
          [=](benchmark::State& st) { bm_aligned(st, a, s); });
  for (size_t s : {64, 512}) {
    auto* b = benchmark::RegisterBenchmark(("pair_mt/" + std::to_string(s)).c_str(),
                                           [s](benchmark::State& st) { bm_pair_mt(st, s); });
    for (int t : threads) b->Threads(t);
    b->UseRealTime();
  }
  for (size_t s : {64, 1024, 8192}) {
    auto* b = benchmark::RegisterBenchmark(("xthread/" + std::to_string(s)).c_str(),
                                           [s](benchmark::State& st) { bm_xthread(st, s); });
    bool any = false;
    for (int t : threads) {
      if (t >= 2) {
        b->Threads(t);
        any = true;
      }
    }
    if (!any) b->Threads(2);
    b->UseRealTime();
  }
  // A big buffer rebuilt by appends, as a server's request body or a file read
  // into memory: each round regrows it where the last one freed it. Last:
  // glibc mmaps the buffer once it passes 128 KiB, and freeing it raises its
  // dynamic mmap threshold to 16 MiB, which changed its figures in every case
  // after this one (aligned/64/64 47 -> 590 ns, xthread/8192 6900 -> 150 ns).
  add("realloc/65536/16777216", [](benchmark::State& st) { bm_realloc(st, 65536, 16 << 20); });
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--lm_threads=", 13) == 0) threads = parse_threads(argv[i] + 13);
    else rest.push_back(argv[i]);
  }
  if (threads.empty()) threads = default_threads();
  g_rings = new XRing[kMaxThreads];
  register_all(threads);
  int rargc = int(rest.size());
  rest.push_back(nullptr);
  benchmark::Initialize(&rargc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rargc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  delete[] g_rings;
  return 0;
}
