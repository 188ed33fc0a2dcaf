// api_thread_test.cpp: the allocator under threads: many threads with
// content checks, blocks freed by another thread than their allocator,
// threads exiting with live blocks, and fork from a threaded process.
// Every loop is bounded by a count, never by time.
#include <doctest/doctest.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "api_support.h"
#ifdef LM_TEST_LINKED
#include "core/core.h"
#include "core/thread_cache.h"
#include "slab/slab.h"
#endif

using apitest::check;
using apitest::fill;

namespace {

struct Rng {
  uint64_t state;
  uint32_t next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  }
  // Mostly small sizes, some page-sized, a few above the mmap threshold.
  size_t size() {
    uint32_t r = next() % 1000;
    if (r < 900) return next() % 512;
    if (r < 990) return 512 + next() % 16000;
    return 100000 + next() % 300000;
  }
};

struct Block {
  unsigned char* p = nullptr;
  size_t n = 0;
  uint32_t seed = 0;
};

// Sparse marks, every `stride`-th byte and the last, so that the races
// below get many operations per second.
void mark(unsigned char* p, size_t n, uint8_t v, size_t stride) {
  for (size_t i = 0; i < n; i += stride) p[i] = v;
  p[n - 1] = v;
}
bool marked(const unsigned char* p, size_t n, uint8_t v, size_t stride) {
  for (size_t i = 0; i < n; i += stride)
    if (p[i] != v) return false;
  return n == 0 || p[n - 1] == v;
}
// realloc of a marked block of n bytes to m: null when it fails; else the
// marks of the first min(n, m) bytes (what realloc keeps) must be there.
unsigned char* realloc_marked(unsigned char* p, size_t n, uint8_t v, size_t m, size_t stride,
                              std::atomic<int>& damaged) {
  auto* q = static_cast<unsigned char*>(realloc(p, m));
  if (q == nullptr) return nullptr;
  size_t kept = m < n ? m : n;
  for (size_t k = 0; k + 1 < kept; k += stride)
    if (q[k] != v) ++damaged;
  return q;
}

// Runs this test binary's CHILD_MODE `mode` and expects a clean exit with
// "ok" on its output.
void check_child_ok(const char* mode) {
  auto r = apitest::run_self({mode});
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  CHECK(apitest::contains(r.out, "ok\n"));
}

// A block's pattern depends on its seed, so overlap with or reuse by any
// other live block shows up as a mismatch.
void write_block(Block& b) { fill(b.p, b.n, b.seed); }
bool block_ok(const Block& b) { return check(b.p, b.n, b.seed); }

// Waits up to timeout_s for pid; kills it on timeout. Returns waitpid status
// or -1 on timeout.
int wait_bounded(pid_t pid, int timeout_s) {
  int status = 0;
  for (long ms = 0; ms < timeout_s * 1000L; ms += 5) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

TEST_CASE("api: many threads allocate, reallocate and free with content checks") {
  constexpr int kThreads = 8, kOps = 20000, kSlots = 64;
  std::atomic<int> damaged{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &damaged, &failed] {
      Rng rng{static_cast<uint64_t>(t) * 7919 + 1};
      Block slots[kSlots];
      for (int op = 0; op < kOps; ++op) {
        Block& b = slots[rng.next() % kSlots];
        if (b.p != nullptr && !block_ok(b)) ++damaged;
        uint32_t kind = rng.next() % 4;
        size_t n = rng.size();
        if (kind == 0 && b.p != nullptr) {
          n += 1;  // realloc(p, 0) would free the block
          auto* q = static_cast<unsigned char*>(realloc(b.p, n));
          if (q == nullptr) { ++failed; continue; }
          if (!check(q, n < b.n ? n : b.n, b.seed)) ++damaged;
          b.p = q;
        } else {
          free(b.p);
          b.p = static_cast<unsigned char*>(kind == 1 ? calloc(n, 1) : malloc(n));
          if (b.p == nullptr) { ++failed; continue; }
          if (kind == 1 && !apitest::all_bytes(b.p, n, 0)) ++damaged;
        }
        b.n = n;
        b.seed = rng.next();
        write_block(b);
      }
      for (Block& b : slots) {
        if (b.p != nullptr && !block_ok(b)) ++damaged;
        free(b.p);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(damaged == 0);
  CHECK(failed == 0);
}

// Sizes around the slab limit and the mmap threshold, where heap blocks,
// parked heap blocks and mappings trade places by realloc, with malloc_trim
// dropping cached mappings so that addresses come back. (A realloc that moved
// a mapping cleared its old header's page-map entry after mremap, when
// another thread's new mapping could already have registered its header
// there: "free(): invalid pointer" on a live block in half the runs of this
// test.)
TEST_CASE("api: threads mix malloc, calloc, posix_memalign and realloc from 1 B to 272 KiB with malloc_trim") {
  constexpr int kThreads = 4, kOps = 150000, kSlots = 64;
  constexpr size_t kStride = 64;
  std::atomic<int> damaged{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Rng rng{static_cast<uint64_t>(t) * 104729 + 3};
      auto size = [&rng]() -> size_t {
        switch (rng.next() % 4) {
          case 0: return 1 + rng.next() % 4096;
          case 1: return 4097 + rng.next() % 28672;
          default: return 32769 + rng.next() % 240000;
        }
      };
      unsigned char* p[kSlots] = {};
      size_t n[kSlots] = {};
      uint8_t v[kSlots] = {};
      for (int op = 0; op < kOps; ++op) {
        int i = static_cast<int>(rng.next() % kSlots);
        if (p[i] != nullptr && !marked(p[i], n[i], v[i], kStride)) ++damaged;
        uint32_t kind = rng.next() % 5;
        size_t m = size();
        if (kind == 0 && p[i] != nullptr) {
          auto* q = realloc_marked(p[i], n[i], v[i], m, kStride, damaged);
          if (q == nullptr) { ++failed; continue; }
          p[i] = q;
        } else {
          free(p[i]);
          p[i] = nullptr;
          if (kind == 1) {
            p[i] = static_cast<unsigned char*>(calloc(m, 1));
            if (p[i] != nullptr && (p[i][0] != 0 || p[i][m / 2] != 0 || p[i][m - 1] != 0)) ++damaged;
          } else if (kind == 2) {
            void* q = nullptr;
            if (posix_memalign(&q, size_t{64} << (rng.next() % 7), m) == 0) p[i] = static_cast<unsigned char*>(q);
          } else {
            p[i] = static_cast<unsigned char*>(malloc(m));
          }
          if (p[i] == nullptr) { ++failed; continue; }
        }
        n[i] = m;
        v[i] = static_cast<uint8_t>(rng.next());
        mark(p[i], m, v[i], kStride);
        if (op % 4096 == 0 && rng.next() % 2) malloc_trim(0);
      }
      for (int i = 0; i < kSlots; ++i) {
        if (p[i] != nullptr && !marked(p[i], n[i], v[i], kStride)) ++damaged;
        free(p[i]);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(damaged == 0);
  CHECK(failed == 0);
}

// `threshold-churn`: while three threads allocate, reallocate and free
// blocks of 16 KiB to 1.5 MiB with content marks, a fourth moves the mmap
// threshold between 128 KiB and 4 MiB (and the trim threshold with it) and
// calls malloc_trim: each change is a tuning change the other threads pick
// up at their next slow path, with blocks moving between heap and mappings
// by realloc meanwhile. Prints "ok" when every block kept its marks. (A
// child: the thresholds stay changed in its process only.)
CHILD_MODE("threshold-churn") {
  constexpr int kWorkers = 3, kOps = 1200, kSlots = 32;
  constexpr size_t kStride = 512;
  std::atomic<int> damaged{0}, failed{0}, running{kWorkers};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWorkers; ++t) {
    threads.emplace_back([&, t] {
      Rng rng{static_cast<uint64_t>(t) * 7919 + 11};
      unsigned char* p[kSlots] = {};
      size_t n[kSlots] = {};
      uint8_t v[kSlots] = {};
      for (int op = 0; op < kOps; ++op) {
        int i = static_cast<int>(rng.next() % kSlots);
        if (p[i] != nullptr && !marked(p[i], n[i], v[i], kStride)) ++damaged;
        size_t m = (size_t{16} << 10) + rng.next() % (size_t{3} << 19);
        if (p[i] != nullptr && rng.next() % 2) {
          auto* q = realloc_marked(p[i], n[i], v[i], m, kStride, damaged);
          if (q == nullptr) { ++failed; continue; }
          p[i] = q;
        } else {
          free(p[i]);
          p[i] = static_cast<unsigned char*>(rng.next() % 4 ? malloc(m) : calloc(1, m));
          if (p[i] == nullptr) { ++failed; continue; }
        }
        n[i] = m;
        v[i] = static_cast<uint8_t>(rng.next() | 1);
        mark(p[i], m, v[i], kStride);
      }
      for (int i = 0; i < kSlots; ++i) {
        if (p[i] != nullptr && !marked(p[i], n[i], v[i], kStride)) ++damaged;
        free(p[i]);
      }
      --running;
    });
  }
  threads.emplace_back([&] {
    Rng rng{5};
    for (unsigned k = 0; running.load() > 0; ++k) {
      int big = k % 2;
      mallopt(M_MMAP_THRESHOLD, big ? 4 << 20 : 128 << 10);
      mallopt(M_TRIM_THRESHOLD, big ? 8 << 20 : 128 << 10);
      if (rng.next() % 4 == 0) malloc_trim(0);
      struct timespec pause = {0, 200000};
      nanosleep(&pause, nullptr);
    }
  });
  for (auto& th : threads) th.join();
  if (damaged || failed) {
    printf("damaged %d failed %d\n", damaged.load(), failed.load());
    return 1;
  }
  printf("ok\n");
  return 0;
}

TEST_CASE("api: threads allocate across the mmap threshold while another thread keeps moving it") {
  check_child_ok("threshold-churn");
}

TEST_CASE("api: blocks allocated by one thread are verified and freed by another") {
  constexpr int kProducers = 3, kConsumers = 3, kPerProducer = 30000;
  constexpr size_t kMaxQueued = 4096;
  std::mutex mu;
  std::condition_variable not_empty, not_full;
  std::deque<Block> queue;
  int producers_left = kProducers;
  std::atomic<int> damaged{0}, consumed{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kProducers; ++t) {
    threads.emplace_back([&, t] {
      Rng rng{static_cast<uint64_t>(t) + 100};
      for (int i = 0; i < kPerProducer; ++i) {
        Block b;
        b.n = rng.size();
        b.seed = rng.next();
        b.p = static_cast<unsigned char*>(malloc(b.n));
        if (b.p == nullptr) { ++damaged; continue; }
        write_block(b);
        std::unique_lock<std::mutex> lock(mu);
        not_full.wait(lock, [&] { return queue.size() < kMaxQueued; });
        queue.push_back(b);
        not_empty.notify_one();
      }
      std::lock_guard<std::mutex> lock(mu);
      --producers_left;
      not_empty.notify_all();
    });
  }
  for (int t = 0; t < kConsumers; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        Block b;
        {
          std::unique_lock<std::mutex> lock(mu);
          not_empty.wait(lock, [&] { return !queue.empty() || producers_left == 0; });
          if (queue.empty()) return;
          b = queue.front();
          queue.pop_front();
          not_full.notify_one();
        }
        if (!block_ok(b)) ++damaged;
        // Also allocate here, so each thread both frees remote blocks and
        // allocates its own.
        void* own = malloc(b.n / 2 + 1);
        memset(own, 0x11, b.n / 2 + 1);
        free(b.p);
        free(own);
        ++consumed;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(damaged == 0);
  CHECK(consumed == kProducers * kPerProducer);
}

// A ring of threads, each allocating batches of 4 to 32 KiB blocks and
// freeing the batches the previous thread made: bins above 4 KiB grow and
// shrink (busy), batches move through every transfer-cache shard. Every
// block is checked by the thread that frees it.
TEST_CASE("api: a ring of threads hands on batches of 4-32 KiB blocks, checked by the next thread") {
  constexpr int kThreads = 6, kRounds = 300, kBatch = 24;
  struct Slot {
    std::mutex mu;
    std::deque<std::vector<Block>> batches;
  };
  std::vector<Slot> slots(kThreads);
  std::atomic<int> damaged{0}, freed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Rng rng{static_cast<uint64_t>(t) * 31 + 5};
      auto drain = [&](Slot& in) {
        for (;;) {
          std::vector<Block> got;
          {
            std::lock_guard<std::mutex> lock(in.mu);
            if (in.batches.empty()) return;
            got = std::move(in.batches.front());
            in.batches.pop_front();
          }
          for (Block& b : got) {
            if (!block_ok(b)) ++damaged;
            free(b.p);
            ++freed;
          }
        }
      };
      for (int r = 0; r < kRounds; ++r) {
        std::vector<Block> batch(kBatch);
        // Mostly one class per batch (busy), sometimes mixed.
        size_t base = 4097 + rng.next() % 28000;
        for (Block& b : batch) {
          b.n = r % 4 == 0 ? 4097 + rng.next() % 28000 : base + rng.next() % 64;
          b.seed = rng.next();
          b.p = static_cast<unsigned char*>(malloc(b.n));
          if (b.p == nullptr) { ++damaged; continue; }
          write_block(b);
        }
        {
          std::lock_guard<std::mutex> lock(slots[(t + 1) % kThreads].mu);
          slots[(t + 1) % kThreads].batches.push_back(std::move(batch));
        }
        drain(slots[t]);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (Slot& s : slots)
    for (auto& batch : s.batches)
      for (Block& b : batch) {
        if (!block_ok(b)) ++damaged;
        free(b.p);
        ++freed;
      }
  CHECK(damaged == 0);
  CHECK(freed == kThreads * kRounds * kBatch);
}

TEST_CASE("api: a thread exits with live blocks that the main thread checks and frees") {
  constexpr int kRounds = 20, kThreads = 8, kBlocks = 500;
  int damaged = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::vector<Block>> made(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&made, t, round] {
        Rng rng{static_cast<uint64_t>(round * 100 + t)};
        // Churn first, so the thread holds cached free blocks at exit.
        for (int i = 0; i < 2000; ++i) free(malloc(rng.size()));
        for (int i = 0; i < kBlocks; ++i) {
          Block b{nullptr, rng.size(), rng.next()};
          b.p = static_cast<unsigned char*>(malloc(b.n));
          if (b.p != nullptr) write_block(b);
          made[t].push_back(b);
        }
      });
    }
    for (auto& th : threads) th.join();
    for (auto& blocks : made)
      for (Block& b : blocks) {
        if (b.p == nullptr || !block_ok(b)) ++damaged;
        free(b.p);
      }
  }
  CHECK(damaged == 0);
}

// POSIX lets a key destructor set its value again; glibc runs four rounds
// of destructors. A thread whose first allocation comes in the last round
// sets its cache up after libmalloc's own key had its turn, so its teardown
// never runs (its registry entry used to point into dead TLS: the next
// thread on that stack linked itself to itself and mallinfo2 spun forever).
namespace {
pthread_key_t g_late_key;
thread_local int t_late_rounds = 0;
void late_destructor(void* v) {
  if (++t_late_rounds < 4) {
    pthread_setspecific(g_late_key, v);
    return;
  }
  void* volatile p = malloc(100);
  free(p);
  void* volatile q = malloc(70000);  // above the slab classes: parked at free
  free(q);
}
void* late_thread(void*) {
  pthread_setspecific(g_late_key, reinterpret_cast<void*>(1));
  return nullptr;
}
}  // namespace

CHILD_MODE("late-first-allocation") {
  free(malloc(1));
  if (pthread_key_create(&g_late_key, late_destructor) != 0) return 2;
  // One after another (each reuses the last one's stack), then 24 at once
  // (more stacks than glibc caches: some are unmapped at exit).
  for (int i = 0; i < 4; ++i) {
    pthread_t t;
    if (pthread_create(&t, nullptr, late_thread, nullptr) != 0) return 3;
    pthread_join(t, nullptr);
    struct mallinfo2 mi = mallinfo2();
    if (mi.arena == 0) return 4;
  }
  pthread_t ts[24];
  for (pthread_t& t : ts)
    if (pthread_create(&t, nullptr, late_thread, nullptr) != 0) return 3;
  for (pthread_t& t : ts) pthread_join(t, nullptr);
  std::vector<std::thread> normal;
  for (int i = 0; i < 4; ++i) normal.emplace_back([] { free(malloc(200)); });
  for (auto& t : normal) t.join();
  struct mallinfo2 mi = mallinfo2();
  malloc_stats();
  return mi.arena > 0 ? 0 : 4;
}

TEST_CASE("api: threads whose first allocation comes in the last round of key destructors") {
  apitest::ChildResult r = apitest::run_self({"late-first-allocation"}, {"LIBMALLOC_OPTIONS=stats=1"}, 30);
  CAPTURE(r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.exited_ok());
}

// `late-parked N`: N such threads one after another; prints how much
// mallinfo2's uordblks grew. Each parks its 70000-byte block at the free in
// its last destructor round, and used to leave it parked for good (and in
// use to mallinfo2): 200 threads, 14 MB.
CHILD_MODE("late-parked") {
  int n = atoi(args.at(0).c_str());
  free(malloc(1));
  if (pthread_key_create(&g_late_key, late_destructor) != 0) return 2;
  size_t before = mallinfo2().uordblks;
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    if (pthread_create(&t, nullptr, late_thread, nullptr) != 0) return 3;
    pthread_join(t, nullptr);
  }
  size_t after = mallinfo2().uordblks;
  printf("%zd\n", static_cast<ssize_t>(after - before));
  return 0;
}

TEST_CASE("api: threads whose first allocation comes in the last round of key destructors leak no parked block") {
  apitest::ChildResult r = apitest::run_self({"late-parked", "200"}, {}, 60);
  CAPTURE(r.out);
  CAPTURE(r.err);
  REQUIRE(r.exited_ok());
  long grown = atol(r.out.c_str());
  // A few KiB of bin contents a thread may be lost (docs/architecture.md),
  // not the parked block.
  CHECK(grown < 200 * 70000 / 4);
}

TEST_CASE("api: fork from a threaded process; the child allocates and frees freely") {
  constexpr int kHammers = 4, kForks = 40;
  std::atomic<bool> stop{false};
  std::atomic<long> hammer_ops{0};
  Block inherited{nullptr, 5000, 42};
  inherited.p = static_cast<unsigned char*>(malloc(inherited.n));
  REQUIRE(inherited.p != nullptr);
  write_block(inherited);
  std::vector<std::thread> hammers;
  for (int t = 0; t < kHammers; ++t) {
    hammers.emplace_back([&, t] {
      Rng rng{static_cast<uint64_t>(t) + 777};
      void* keep[32] = {};
      // Bounded: at most 50 million operations even if stop never comes.
      for (long i = 0; i < 50000000 && !stop.load(std::memory_order_relaxed); ++i) {
        void*& slot = keep[rng.next() % 32];
        free(slot);
        slot = malloc(rng.size());
        hammer_ops.fetch_add(1, std::memory_order_relaxed);
      }
      for (void* p : keep) free(p);
    });
  }
  int good = 0;
  for (int f = 0; f < kForks; ++f) {
    pid_t pid = fork();
    if (pid < 0) {
      FAIL_CHECK("fork failed");
      break;
    }
    if (pid == 0) {
      // The child: only this thread exists; every lock must be usable.
      if (!block_ok(inherited)) _exit(10);
      free(inherited.p);
      Rng rng{static_cast<uint64_t>(f)};
      Block blocks[64];
      for (int i = 0; i < 3000; ++i) {
        Block& b = blocks[rng.next() % 64];
        if (b.p != nullptr && !block_ok(b)) _exit(11);
        free(b.p);
        b.n = rng.size();
        b.seed = rng.next();
        b.p = static_cast<unsigned char*>(malloc(b.n));
        if (b.p == nullptr) _exit(12);
        write_block(b);
      }
      void* big = malloc(3 << 20);
      if (big == nullptr) _exit(13);
      memset(big, 1, 3 << 20);
      free(big);
      // A thread in the child allocates too.
      pthread_t th;
      auto worker = [](void*) -> void* {
        void* ps[100];
        for (auto& p : ps) p = malloc(300);
        for (auto& p : ps) free(p);
        return malloc(10);
      };
      if (pthread_create(&th, nullptr, worker, nullptr) != 0) _exit(14);
      void* from_thread = nullptr;
      pthread_join(th, &from_thread);
      free(from_thread);
      for (Block& b : blocks) free(b.p);
      _exit(0);
    }
    int status = wait_bounded(pid, 30);
    CAPTURE(f);
    CAPTURE(status);
    CHECK((status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0));
    good += status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  stop = true;
  for (auto& th : hammers) th.join();
  CHECK(good == kForks);
  CHECK(hammer_ops.load() > 0);
  CHECK(block_ok(inherited));
  free(inherited.p);
}

TEST_CASE("api: many short-lived threads each allocate and free") {
  constexpr int kThreads = 300;
  std::atomic<int> damaged{0};
  for (int batch = 0; batch < kThreads / 10; ++batch) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 10; ++t)
      threads.emplace_back([&damaged, t, batch] {
        Rng rng{static_cast<uint64_t>(batch * 10 + t)};
        Block b{nullptr, rng.size() + 1, rng.next()};
        b.p = static_cast<unsigned char*>(malloc(b.n));
        write_block(b);
        for (int i = 0; i < 200; ++i) free(malloc(rng.size()));
        if (!block_ok(b)) ++damaged;
        free(b.p);
      });
    for (auto& th : threads) th.join();
  }
  CHECK(damaged == 0);
}

// Each thread's bins keep their stacks in an area of ~48 KiB (core.cpp,
// bin areas): an exited thread's serves the next thread, so threads started
// one after another map no new memory for them (glibc reuses their stacks).
TEST_CASE("api: threads started one after another reuse the bin areas of exited ones" * LIBMALLOC_ONLY) {
  auto run = [](int n) {
    for (int i = 0; i < n; ++i) {
      std::thread t([i] {
        void* p[64];
        for (int k = 0; k < 64; ++k) p[k] = malloc(16 + (k * 37 + i) % 2000);
        for (void* q : p) free(q);
      });
      t.join();
    }
  };
  run(4);
  long before = static_cast<long>(apitest::vm_size_bytes() / 1024);
  run(300);
  long after = static_cast<long>(apitest::vm_size_bytes() / 1024);
  REQUIRE(before > 0);
  CAPTURE(before);
  CAPTURE(after);
  // 300 areas would be 14 MiB.
  CHECK(after - before < 2048);
}

// 200 threads at once, each using bins of many classes, then all exit: their
// bin areas are not all kept (each ~48 KiB, mostly resident), and
// malloc_trim purges the ones kept for later threads.
CHILD_MODE("thread-burst") {
  constexpr int kThreads = 200;
  static pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, nullptr, kThreads);
  size_t before = apitest::rss_bytes();
  std::vector<pthread_t> threads(kThreads);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (pthread_t& t : threads)
    if (pthread_create(&t, &attr, [](void*) -> void* {
          static thread_local void* held[256];
          for (size_t n = 16; n <= 4096; n += n < 512 ? 16 : 128) {
            size_t k = std::min<size_t>(std::max<size_t>(16384 / n, 4), 256);
            for (size_t i = 0; i < k; ++i) memset(held[i] = malloc(n), 1, n);
            for (size_t i = 0; i < k; ++i) free(held[i]);
          }
          pthread_barrier_wait(&barrier);
          return nullptr;
        }, nullptr) != 0)
      return 2;
  for (pthread_t& t : threads) pthread_join(t, nullptr);
  malloc_trim(0);
  size_t after = apitest::rss_bytes();
  printf("%zd\n", static_cast<ssize_t>(after - before) / 1024);
  return 0;
}

TEST_CASE("api: after a burst of 200 threads has exited, malloc_trim leaves no more than 4 MiB of it resident" *
          LIBMALLOC_ONLY) {
  auto r = apitest::run_self({"thread-burst"});
  CAPTURE(r.err);
  REQUIRE(r.exited_ok());
  long kb = strtol(r.out.c_str(), nullptr, 10);
  CAPTURE(kb);
  // Kept, their areas alone would be 200 x 48 KiB: 9.4 MiB.
  CHECK(kb < 4096);
}

#ifdef LM_TEST_LINKED
// Objects of class c out of the slabs (in thread caches or the program).
static size_t active_objects(unsigned c) { return lm::slab::class_stats(c).active; }

// A thread's first misses on a class take 1, then 2, 4, ... objects from the
// slabs (slow start), not half a bin at once: a class a thread uses a few
// times costs it few objects of touched memory.
CHILD_MODE("slow-start") {
  const unsigned c = lm::slab::size_class(96);
  if (lm::slab::cache_limit(c) / 2 < 16) return 2;
  size_t deltas[5] = {};
  std::thread t([&] {
    size_t start = active_objects(c);
    void* held[5];
    // Each malloc below misses or hits the bin; record how many objects
    // the slabs had handed out after each.
    for (int i = 0; i < 5; ++i) {
      held[i] = malloc(96);
      deltas[i] = active_objects(c) - start;
    }
    for (void* p : held) free(p);
  });
  t.join();
  // 1st: a miss takes 1; 2nd: a miss takes 1; 3rd: a miss takes 2 (one
  // handed out, one binned); 4th: a hit; 5th: a miss takes 4.
  const size_t want[5] = {1, 2, 4, 4, 8};
  for (int i = 0; i < 5; ++i)
    if (deltas[i] != want[i]) {
      printf("malloc %d: %zu objects taken, expected %zu\n", i + 1, deltas[i], want[i]);
      return 1;
    }
  printf("ok\n");
  return 0;
}

// Bins above 4 KiB hold one object, unless the thread moves many blocks of
// the class in a row (busy): then the bin grows, up to 64 KiB of objects.
CHILD_MODE("busy-big-bin") {
  const unsigned c = lm::slab::size_class(8192);
  if (lm::slab::cache_limit(c) != 1 || lm::slab::busy_cache_limit(c) != 8) return 2;
  size_t quiet = 0, busy = 0;
  std::thread t([&] {
    // Quiet: two blocks of the class, each miss and overflow nine misses of
    // other bins after the last (the first malloc of a class in a thread
    // misses): the bin stays at one object.
    std::vector<void*> others;
    size_t next_size = 16;
    auto nine_other_misses = [&] {
      for (int i = 0; i < 9; ++i, next_size += 16) others.push_back(malloc(next_size));
    };
    size_t start = active_objects(c);
    nine_other_misses();
    void* a = malloc(8192);
    nine_other_misses();
    void* b = malloc(8192);
    nine_other_misses();
    free(a);
    nine_other_misses();
    free(b);  // overflows the bin of one: a goes back to its slab
    quiet = active_objects(c) - start;
    // Busy: 32 blocks allocated, then freed, one after another: the bin
    // grows to 8 objects and flushes 4 at a time, which wait in the
    // transfer cache (still counted as active).
    void* held[32];
    for (void*& p : held) p = malloc(8192);
    for (void* p : held) free(p);
    busy = active_objects(c) - start;
    for (void* p : others) free(p);
  });
  t.join();
  if (quiet != 1 || busy < 4) {
    printf("kept %zu objects when quiet (expected 1), %zu when busy (expected at least 4)\n", quiet, busy);
    return 1;
  }
  printf("ok\n");
  return 0;
}

TEST_CASE("api: a bin above 4 KiB keeps one object, and grows while its thread moves many blocks of the class") {
  check_child_ok("busy-big-bin");
}

// The thread caches' budget: with four times full_cache_threads() threads
// alive, every thread's bins apply a quarter of their limits at their next
// slow path (those below one object cache nothing, and a heap block of 96
// KiB is not parked: a quarter of 256 KiB is the most), and a thread freeing
// many blocks of a class keeps at most that quarter in its bin; once the threads have exited, the one left gets its full limits
// back, and so does a fork child of a thread among the many.
CHILD_MODE("cache-budget") {
  const unsigned small = lm::slab::size_class(96), big = lm::slab::size_class(5000);
  const unsigned full_small = lm::slab::cache_limit(small);
  if (full_small < 8 || lm::slab::cache_limit(big) != 1) return 2;
  free(malloc(96));  // this thread counts too: 4 * full_cache_threads() in all
  // Batches of 1 KiB blocks parked under the full limit (32, batches of 16),
  // for bins of limit 8 on their starter stacks (8 slots) to adopt later: at
  // most 8 objects each (16 once overwrote the next class's stack).
  const unsigned kib = lm::slab::size_class(1000);
  std::thread([] {
    std::vector<void*> blocks(3000);
    for (void*& p : blocks) p = malloc(1000);
    for (void* p : blocks) free(p);
  }).join();
  const unsigned n = 4 * lm::core::full_cache_threads() - 1;
  std::atomic<int> failed{0};
  std::barrier all(static_cast<std::ptrdiff_t>(n));
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      free(malloc(96));  // sets the cache up: the thread is counted
      all.arrive_and_wait();
      const lm::core::ThreadCache& tc = lm::core::t_cache;
      // A miss of a class not used yet is a slow path: it applies the limits.
      free(malloc(3000));
      if (tc.cache_shift != 2 || tc.full_limit[small] != full_small / 4 || tc.full_limit[big] != 0) {
        printf("thread %u: shift %u, limits %u and %u (expected 2, %u and 0)\n", i, unsigned(tc.cache_shift),
               unsigned(tc.full_limit[small]), unsigned(tc.full_limit[big]), full_small / 4);
        ++failed;
      }
      void* kib_block = malloc(1000);  // adopts a parked batch, capped by the starter stack
      const lm::core::Bin& kb = tc.bins[kib];
      if (kb.count > kb.limit || kb.limit > 8) {
        printf("thread %u: 1 KiB bin holds %u of limit %u\n", i, unsigned(kb.count), unsigned(kb.limit));
        ++failed;
      }
      memset(kib_block, 0x5a, 1000);
      free(kib_block);
      all.arrive_and_wait();
      if (i == 0) {
        // Alone at work: the others wait at the barrier below.
        std::vector<void*> blocks(4 * full_small);
        for (void*& p : blocks) p = malloc(96);
        for (void* p : blocks) free(p);
        size_t kept = tc.bins[small].count;
        void* block = malloc(96 * 1024);
        free(block);  // above the slab classes: parked with full caches, not now
        if (kept > full_small / 4 || lm::core::parked_bytes() != 0) {
          printf("kept %zu objects (at most %u expected), %zu bytes parked\n", kept, full_small / 4,
                 lm::core::parked_bytes());
          ++failed;
        }
        pid_t pid = fork();
        if (pid == 0) {
          free(malloc(5000));  // the child's first slow path after the fork
          _exit(tc.cache_shift == 0 && tc.full_limit[small] == full_small ? 0 : 1);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          printf("fork child: limits not restored (status %d)\n", status);
          ++failed;
        }
      }
      all.arrive_and_wait();
    });
  for (std::thread& t : threads) t.join();
  unsigned alone = 0;
  std::thread([&] {
    free(malloc(96));
    alone = lm::core::t_cache.full_limit[small];
  }).join();
  if (alone != full_small) {
    printf("a thread alone: limit %u (expected %u)\n", alone, full_small);
    ++failed;
  }
  if (failed) return 1;
  printf("ok\n");
  return 0;
}

TEST_CASE("api: with many threads, each thread's caches hold less (the thread caches' budget)") {
  check_child_ok("cache-budget");
}

// Objects one thread frees in bulk wait in the transfer cache as batches,
// and another thread's empty bin adopts one of those batches, whichever
// transfer shard each thread parks in, without a refill from the slabs. For
// every class whose bins hold more than one object (those whose limit is
// odd, 384 bytes for one, once flushed a batch one object too large to park).
CHILD_MODE("transfer-adopt") {
  int failed = 0;
  for (unsigned c = 0; c < lm::slab::kClasses && lm::slab::class_size(c) <= lm::slab::kOneObjectBinsAbove; ++c) {
    const size_t size = lm::slab::class_size(c);
    std::vector<void*> blocks(4 * lm::slab::cache_limit(c));
    std::thread a([&] {
      for (void*& p : blocks) p = malloc(size);
    });
    a.join();
    std::thread b([&] {
      for (void* p : blocks) free(p);  // bins overflow: batches are parked
    });
    b.join();
    size_t refills_before = lm::slab::class_stats(c).refills;
    void* got = nullptr;
    std::thread t([&] { got = malloc(size); });  // a third thread, another shard
    t.join();
    size_t refills_after = lm::slab::class_stats(c).refills;
    free(got);
    if (got == nullptr || refills_after != refills_before) {
      printf("size %zu: malloc in a third thread refilled from the slabs (%zu -> %zu refills)\n", size,
             refills_before, refills_after);
      ++failed;
    }
  }
  if (failed) return 1;
  printf("ok\n");
  return 0;
}

TEST_CASE("api: a batch parked by a thread that frees is adopted by another thread, without a slab refill, in every class") {
  check_child_ok("transfer-adopt");
}

// A heap block above the slab classes that a thread frees stays in use to
// the heap, parked for the thread's next malloc that fits it (within a
// quarter); one that does not fit sends it back first; thread exit,
// malloc_trim and a trim threshold set by mallopt send it back too. To the
// program (mallinfo2) a parked block is free.
CHILD_MODE("parked-heap-block") {
  using lm::core::parked_bytes;
  auto in_use = [] { return mallinfo2().uordblks; };
  std::string failures;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) failures += std::string(what) + "; ";
  };
  const size_t chunk_64k = 65536 + 16;  // the heap block of malloc(65536)
  std::thread t([&] {
    void* volatile warm = malloc(16);  // the thread's cache is set up
    void* p = malloc(65536);
    size_t held = in_use();
    free(p);
    expect(parked_bytes() == chunk_64k, "free(64 KiB) did not park the block");
    expect(in_use() + 65536 <= held, "mallinfo2 counts the parked block in use");
    void* q = malloc(60000);
    expect(q == p, "malloc(60000) did not reuse the parked 64 KiB block");
    expect(parked_bytes() == 0, "malloc(60000) left a block parked");
    free(q);
    void* r = malloc(40000);  // a quarter too small: the parked block goes back first
    expect(r != nullptr && parked_bytes() == 0, "malloc(40000) left the 64 KiB block parked");
    free(r);
    expect(parked_bytes() >= 40000, "free(40000) did not park the block");
    void* small = malloc(32768);  // a slab class: not parked, and the parked block stays
    free(small);
    expect(parked_bytes() >= 40000, "a slab-class free or malloc unparked the block");
    malloc_trim(0);
    expect(parked_bytes() == 0, "malloc_trim left the block parked");
    void* s = malloc(50000);
    free(s);  // parked again, until the thread exits
    expect(parked_bytes() >= 50000, "free(50000) did not park the block");
    free(warm);
  });
  t.join();
  expect(parked_bytes() == 0, "thread exit left its block parked");
  // A trim threshold set by the program: frees reach the heap at once.
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
  std::thread u([&] {
    void* p = malloc(65536);
    free(p);
    expect(parked_bytes() == 0, "with M_TRIM_THRESHOLD set, free(64 KiB) parked the block");
  });
  u.join();
  if (!failures.empty()) {
    printf("%s\n", failures.c_str());
    return 1;
  }
  printf("ok\n");
  return 0;
}

// A thread that goes on allocating small blocks gives its parked block back
// after decay_ms.
CHILD_MODE("parked-heap-block-decay") {
  void* p = malloc(65536);
  free(p);
  if (lm::core::parked_bytes() == 0) {
    printf("free(64 KiB) did not park the block\n");
    return 1;
  }
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, nullptr);
  for (int i = 0; i < 4096; ++i) {
    void* volatile q = malloc(16);
    free(q);
  }
  if (lm::core::parked_bytes() != 0) {
    printf("the block was still parked 20 ms later, past decay_ms=5\n");
    return 1;
  }
  printf("ok\n");
  return 0;
}

TEST_CASE("api: a parked heap block goes back after decay_ms while its thread allocates small blocks") {
  auto r = apitest::run_self({"parked-heap-block-decay"}, {"LIBMALLOC_OPTIONS=decay_ms=5"});
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  CHECK(apitest::contains(r.out, "ok\n"));
}

TEST_CASE("api: a freed heap block above the slab classes is parked for its thread's next fitting malloc") {
  check_child_ok("parked-heap-block");
}

// A thread's bins start on starter stacks of 8 objects, side by side in the
// first two pages of its bin area, so that a few blocks of many classes
// touch those pages only; a bin that needs more room moves to its own stack
// with what it holds.
CHILD_MODE("starter-stacks") {
  int result = 0;
  std::thread t([&] {
    const lm::core::ThreadCache& tc = lm::core::t_cache;
    auto offset = [&](unsigned c) {
      return reinterpret_cast<uintptr_t>(tc.bins[c].stack) - reinterpret_cast<uintptr_t>(tc.area);
    };
    std::vector<Block> blocks;
    uint32_t seed = 1;
    // Three blocks of each class up to 4 KiB.
    for (unsigned k = 0; k < lm::slab::kClasses && lm::slab::class_size(k) <= 4096; ++k)
      for (int i = 0; i < 3; ++i) {
        size_t n = lm::slab::class_size(k) - 8;
        Block b{static_cast<unsigned char*>(malloc(n)), n, ++seed};
        write_block(b);
        blocks.push_back(b);
      }
    for (Block& b : blocks) {
      if (!block_ok(b)) result = 1;
      free(b.p);
    }
    unsigned used = 0;
    for (unsigned c = 0; c < lm::slab::kClasses; ++c) {
      if (tc.bins[c].count == 0) continue;
      ++used;
      if (offset(c) >= 2 * 4096) {
        printf("class %u (%zu B) holds %u objects on a stack %zu bytes into the area\n", c,
               lm::slab::class_size(c), tc.bins[c].count, static_cast<size_t>(offset(c)));
        result = 2;
      }
    }
    if (used < 30) {
      printf("only %u bins hold objects\n", used);
      result = 3;
    }
    // 100 blocks of 96 bytes, freed together: the bin outgrows its starter
    // stack; the blocks come back intact, each once.
    const unsigned c = lm::slab::size_class(96);
    for (int round = 0; round < 2; ++round) {
      std::vector<Block> many;
      for (int i = 0; i < 100; ++i) {
        Block b{static_cast<unsigned char*>(malloc(96)), 96, ++seed};
        write_block(b);
        many.push_back(b);
      }
      for (Block& b : many)
        if (!block_ok(b)) result = 4;
      for (Block& b : many) free(b.p);
      if (offset(c) < 2 * 4096 || tc.bins[c].count < 16) {
        printf("after 100 frees the 96-byte bin holds %u objects, %zu bytes into the area\n", tc.bins[c].count,
               static_cast<size_t>(offset(c)));
        result = 5;
      }
    }
  });
  t.join();
  if (result == 0) printf("ok\n");
  return result;
}

TEST_CASE("api: a thread's bins start on starter stacks in the first pages of its bin area, and grow out of them") {
  check_child_ok("starter-stacks");
}

TEST_CASE("api: a thread's bin refills slowly at first: 1, 1, 2, 4 objects, then half its limit") {
  check_child_ok("slow-start");
}
#endif
