// Unit tests of the brk heap, on a fake brk (a reserved region whose break
// the test controls and can make fail) so that growth, trim, foreign sbrk
// and continuation regions can be provoked. Every test walks the heap with
// Heap::check() after each step.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "config/config.h"
#include "heap/heap.h"
#include "os/os.h"
#include "support/child.h"

using namespace lm;

namespace {

// ---- the fake brk ----
constexpr size_t kArena = size_t{1} << 30;
char* g_arena = nullptr;
char* g_break = nullptr;
bool g_fail_sbrk = false;
int g_sbrk_calls = 0;
int g_maps = 0;

void* fake_sbrk(intptr_t inc) {
  ++g_sbrk_calls;
  if (g_fail_sbrk && inc > 0) return nullptr;
  char* old = g_break;
  if (old + inc < g_arena || old + inc > g_arena + kArena) return nullptr;
  g_break += inc;
  return old;
}
void* fake_break() { return g_break; }
void* fake_map(size_t size) {
  ++g_maps;
  return os::map(size);
}
void fake_unmap(void* p, size_t size) { os::unmap(p, size); }

void reset_tunables() {
  config::Tunables& t = config::tunables();
  t.mmap_threshold = 128 * 1024;
  t.trim_threshold = 128 * 1024;
  t.top_pad = 128 * 1024;
  t.mmap_max = 65536;
  t.perturb = 0;
  t.trim_threshold_set = false;
  t.dynamic_threshold = false;
}

// A fresh heap on a fresh fake arena for each test.
struct Fixture {
  heap::Heap* h;
  Fixture() {
    if (!g_arena) {
      g_arena = static_cast<char*>(mmap(nullptr, kArena, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
      REQUIRE(g_arena != MAP_FAILED);
    }
    madvise(g_arena, kArena, MADV_DONTNEED);
    g_break = g_arena + 4096;  // a page-aligned start, as the kernel gives
    g_fail_sbrk = false;
    g_sbrk_calls = 0;
    g_maps = 0;
    reset_tunables();
    h = new heap::Heap();
    h->init(heap::Source{fake_sbrk, fake_break, fake_map, fake_unmap, false});
  }
  ~Fixture() { delete h; }
  void ok() {
    const char* err = h->check();
    INFO("heap check: " << (err ? err : "ok"));
    CHECK(err == nullptr);
  }
};

uintptr_t A(void* p) { return reinterpret_cast<uintptr_t>(p); }

}  // namespace

TEST_CASE_FIXTURE(Fixture, "heap: blocks are 16-aligned, usable as asked, and disjoint") {
  std::vector<std::pair<char*, size_t>> v;
  for (size_t n = 0; n < 3000; n += 7) {
    auto* p = static_cast<char*>(h->alloc(n, false));
    REQUIRE(p);
    CHECK(A(p) % 16 == 0);
    CHECK(heap::Heap::usable_size(p) >= n);
    std::memset(p, static_cast<int>(n & 0xff), heap::Heap::usable_size(p));
    v.push_back({p, n});
  }
  for (auto [p, n] : v)
    for (size_t i = 0; i < n; ++i) REQUIRE(static_cast<unsigned char>(p[i]) == (n & 0xff));
  ok();
  for (auto [p, n] : v) h->free(p, "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: free coalesces in every neighbour combination") {
  // Five neighbours and a guard so none touches the top.
  void* b[6];
  for (auto& p : b) p = h->alloc(200, false);
  for (int i = 0; i < 5; ++i) CHECK(A(b[i + 1]) - A(b[i]) == heap::chunk_size_for(200));
  size_t chunk = heap::chunk_size_for(200);

  h->free(b[1], "free()");  // neither neighbour free
  CHECK(h->snapshot().free_blocks == 1);
  ok();
  h->free(b[3], "free()");  // neither
  CHECK(h->snapshot().free_blocks == 2);
  h->free(b[2], "free()");  // both neighbours free: 1+2+3 become one
  CHECK(h->snapshot().free_blocks == 1);
  ok();
  h->free(b[0], "free()");  // next free (backward none)
  CHECK(h->snapshot().free_blocks == 1);
  h->free(b[4], "free()");  // previous free
  CHECK(h->snapshot().free_blocks == 1);
  ok();
  // The merged block serves a request of its whole size, at b[0].
  void* big = h->alloc(5 * chunk - heap::kOverhead, false);
  CHECK(big == b[0]);
  ok();
  h->free(big, "free()");
  h->free(b[5], "free()");  // merges into the top
  CHECK(h->snapshot().free_blocks == 0);
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: an exact-size free block is reused first") {
  std::vector<void*> v;
  for (int i = 0; i < 40; ++i) v.push_back(h->alloc(i * 24 + 8, false));
  for (int i = 0; i < 40; i += 2) h->free(v[i], "free()");
  ok();
  for (int i = 38; i >= 0; i -= 2) {
    void* p = h->alloc(i * 24 + 8, false);
    CHECK(p == v[i]);
  }
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: the top grows with brk and shrinks past the trim threshold") {
  std::vector<void*> v;
  for (int i = 0; i < 256; ++i) v.push_back(h->alloc(16 * 1024, false));
  CHECK(g_break - g_arena >= 4 * 1024 * 1024);
  ok();
  for (auto it = v.rbegin(); it != v.rend(); ++it) h->free(*it, "free()");
  ok();
  heap::Snapshot s = h->snapshot();
  CHECK(s.in_use < 4096);
  // Default trimming keeps the pad (top_pad or the adaptive one) and trims
  // once a whole trim threshold lies beyond it.
  size_t keep = std::max<size_t>(128 * 1024, h->adaptive_keep());
  CHECK(static_cast<size_t>(g_break - g_arena) < keep + 128 * 1024 + 2 * 4096);
}

TEST_CASE_FIXTURE(Fixture, "heap: a user-set trim threshold is honoured exactly") {
  config::mallopt(M_TRIM_THRESHOLD, 64 * 1024);
  config::mallopt(M_TOP_PAD, 0);
  std::vector<void*> v;
  for (int i = 0; i < 64; ++i) v.push_back(h->alloc(32 * 1024, false));
  for (int round = 0; round < 5; ++round) {
    for (auto it = v.rbegin(); it != v.rend(); ++it) h->free(*it, "free()");
    CHECK(h->snapshot().top < 64 * 1024 + 4096);
    for (auto& p : v) p = h->alloc(32 * 1024, false);
    ok();
  }
  for (auto p : v) h->free(p, "free()");
  CHECK(h->adaptive_keep() == 0);
}

// Our own spans (slabs, span chunks) coming back leave up to 512 KiB in the
// top under a user-set threshold: a class whose only slab empties and
// refills grew and shrank the heap each time (make -j2 with
// MALLOC_TRIM_THRESHOLD_=0 and MALLOC_TOP_PAD_=0: twice as slow). A
// program's free still trims as glibc's does, and decay trims what the spans
// left.
TEST_CASE_FIXTURE(Fixture, "heap: a user-set trim threshold trims on the program's frees, spans at decay") {
  config::mallopt(M_TRIM_THRESHOLD, 0);
  config::mallopt(M_TOP_PAD, 0);
  void* below = h->alloc(1000, false);
  int calls = g_sbrk_calls;
  for (int round = 0; round < 50; ++round) {
    void* span = h->alloc_aligned(4096, 64 * 1024);
    REQUIRE(span);
    h->free_span(span);
    ok();
  }
  // One growth for the first span; no shrink, no second growth.
  CHECK(g_sbrk_calls - calls == 1);
  CHECK(h->snapshot().top >= 64 * 1024);
  // Decay trims it once it has stayed free for decay_ms.
  uint64_t now = os::recent_ms();
  h->decay(now + 20000, 10000, false);
  ok();
  CHECK(h->snapshot().top < 2 * 4096);
  CHECK(g_sbrk_calls - calls == 2);
  // Spans leave at most 512 KiB in the top: a bigger one is trimmed at once.
  void* huge = h->alloc_aligned(4096, 2 << 20);
  REQUIRE(huge);
  h->free_span(huge);
  ok();
  CHECK(h->snapshot().top <= (512u << 10) + 2 * 4096);
  CHECK(h->snapshot().top >= 512u << 10);
  // A program's free into the top trims at once.
  void* span = h->alloc_aligned(4096, 64 * 1024);
  void* block = h->alloc(64 * 1024, false);
  h->free_span(span);
  calls = g_sbrk_calls;
  h->free(block, "free()");
  ok();
  CHECK(g_sbrk_calls - calls == 1);
  CHECK(h->snapshot().top < 2 * 4096);
  h->free(below, "free()");
}

// Decay trims the top under a user-set threshold only once the heap has not
// grown for decay_ms either: with thp=always it grows in 2 MiB steps, and a
// decay pass right after a step trimmed what the step had just added.
TEST_CASE_FIXTURE(Fixture, "heap: decay does not trim a top that has just grown") {
  auto& o = const_cast<config::Options&>(config::options());
  std::strcpy(o.thp, "always");
  config::mallopt(M_TRIM_THRESHOLD, 0);
  config::mallopt(M_TOP_PAD, 0);
  void* a = h->alloc(1000, false);
  os::now_ms();  // (the heap stamps with os::recent_ms(), the last clock read)
  h->free(h->alloc(100000, false), "free()");  // the last free into the top
  usleep(100 * 1000);
  os::now_ms();
  void* b = h->alloc(3 << 20, false);  // grows by 2 MiB steps: the top keeps the rest
  ok();
  size_t top = h->snapshot().top;
  REQUIRE(top > 64 * 1024);
  int calls = g_sbrk_calls;
  h->decay(os::now_ms() + 5, 50, false);  // the free is 100 ms old; the growth is not
  CHECK(g_sbrk_calls == calls);
  CHECK(h->snapshot().top == top);
  std::strcpy(o.thp, "default");
  h->free(b, "free()");
  h->free(a, "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: a breathing top stops paying a brk call per cycle") {
  std::vector<void*> v(64);
  int calls_after_warmup = 0;
  for (int round = 0; round < 100; ++round) {
    if (round == 10) calls_after_warmup = g_sbrk_calls;
    for (auto& p : v) p = h->alloc(16 * 1024, false);
    for (auto it = v.rbegin(); it != v.rend(); ++it) h->free(*it, "free()");
  }
  ok();
  // glibc calls brk to grow and to shrink in every round; once the adaptive
  // pad has learnt the cycle, libmalloc calls it no more.
  CHECK(g_sbrk_calls - calls_after_warmup == 0);
  CHECK(h->adaptive_keep() > 128 * 1024);
}

TEST_CASE_FIXTURE(Fixture, "heap: continues in mapped regions when brk cannot grow") {
  std::vector<void*> v;
  for (int i = 0; i < 10; ++i) v.push_back(h->alloc(1000, false));
  g_fail_sbrk = true;
  for (int i = 0; i < 3000; ++i) {
    auto* p = static_cast<char*>(h->alloc(1000 + i % 3000, false));
    REQUIRE(p);
    std::memset(p, 0x5a, 1000);
    v.push_back(p);
  }
  heap::Snapshot s = h->snapshot();
  CHECK(s.segments >= 2);
  CHECK(s.mapped_segments >= 1);
  CHECK(g_maps >= 1);
  ok();
  std::mt19937 rng(1);
  std::shuffle(v.begin(), v.end(), rng);
  for (size_t i = 0; i < v.size(); i += 2) h->free(v[i], "free()");
  ok();
  for (size_t i = 1; i < v.size(); i += 2) h->free(v[i], "free()");
  ok();
  g_fail_sbrk = false;
  void* p = h->alloc(100, false);
  CHECK(p);
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: a foreign sbrk between growths starts a new segment") {
  void* a = h->alloc(100, false);
  size_t first_top = h->snapshot().top;
  g_break += 8192 + 8;  // the program moved the break itself, unaligned
  void* b = h->alloc(first_top + 4096, false);  // needs growth
  REQUIRE(b);
  CHECK(A(b) % 16 == 0);
  CHECK(h->snapshot().segments == 2);
  ok();
  h->free(a, "free()");
  h->free(b, "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: aligned blocks at every power of two up to 64 KiB") {
  std::vector<void*> v;
  for (size_t align = 32; align <= 64 * 1024; align *= 2)
    for (size_t n : {1, 17, 100, 4000}) {
      void* p = h->alloc_aligned(align, n);
      REQUIRE(p);
      CHECK(A(p) % align == 0);
      CHECK(heap::Heap::usable_size(p) >= n);
      std::memset(p, 1, n);
      v.push_back(p);
      ok();
    }
  for (auto p : v) h->free(p, "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: resize in place grows into the top or a free neighbour and shrinks") {
  auto* a = static_cast<char*>(h->alloc(100, false));
  std::memset(a, 7, 100);
  CHECK(h->resize_in_place(a, 5000, "realloc()"));  // a borders the top
  CHECK(heap::Heap::usable_size(a) >= 5000);
  ok();
  auto* b = static_cast<char*>(h->alloc(100, false));
  auto* c = static_cast<char*>(h->alloc(3000, false));
  auto* d = static_cast<char*>(h->alloc(100, false));
  h->free(c, "free()");
  CHECK(h->resize_in_place(b, 2000, "realloc()"));  // absorbs part of c
  ok();
  CHECK(!h->resize_in_place(b, 100000, "realloc()"));  // d is in the way
  CHECK(h->resize_in_place(a, 50, "realloc()"));  // shrink
  CHECK(heap::Heap::usable_size(a) < 100);
  for (int i = 0; i < 50; ++i) CHECK(a[i] == 7);
  ok();
  h->free(a, "free()");
  h->free(b, "free()");
  h->free(d, "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: zeroed allocation clears reused blocks and skips fresh memory") {
  auto* p = static_cast<unsigned char*>(h->alloc(3000, false));
  std::memset(p, 0xff, 3000);
  auto* guard = h->alloc(10, false);
  h->free(p, "free()");
  auto* q = static_cast<unsigned char*>(h->alloc(3000, true));
  CHECK(q == p);
  for (int i = 0; i < 3000; ++i) REQUIRE(q[i] == 0);
  auto* r = static_cast<unsigned char*>(h->alloc(50000, true));  // from the top
  for (int i = 0; i < 50000; ++i) REQUIRE(r[i] == 0);
  std::memset(r, 0xee, 50000);
  h->free(r, "free()");  // back into the top, dirty
  auto* s = static_cast<unsigned char*>(h->alloc(60000, true));
  for (int i = 0; i < 60000; ++i) REQUIRE(s[i] == 0);
  h->free(q, "free()");
  h->free(s, "free()");
  h->free(guard, "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: trim releases the top and purges free interior pages") {
  std::vector<void*> v;
  for (int i = 0; i < 100; ++i) v.push_back(h->alloc(64 * 1024, false));
  for (auto p : v) std::memset(p, 1, 64 * 1024);
  for (int i = 0; i < 99; ++i) h->free(v[i], "free()");  // v[99] pins the top
  ok();
  CHECK(h->trim(0));
  ok();
  // The freed interior pages are no longer resident.
  size_t page = os::page_size();
  uintptr_t begin = (A(v[10]) + page) & ~(page - 1);
  unsigned char vec[8];
  REQUIRE(mincore(reinterpret_cast<void*>(begin), 8 * page, vec) == 0);
  for (unsigned char c : vec) CHECK((c & 1) == 0);
  h->free(v[99], "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: random operations keep every invariant and every byte") {
  std::mt19937 rng(42);
  struct Live {
    unsigned char* p;
    size_t n;
    unsigned char tag;
  };
  std::vector<Live> live;
  for (int step = 0; step < 30000; ++step) {
    unsigned op = rng() % 10;
    if (op < 5 || live.empty()) {
      size_t n = rng() % 8 == 0 ? rng() % 100000 : rng() % 2000;
      bool aligned = rng() % 16 == 0;
      auto* p = static_cast<unsigned char*>(aligned ? h->alloc_aligned(size_t{64} << (rng() % 6), n)
                                                    : h->alloc(n, rng() % 4 == 0));
      REQUIRE(p);
      auto tag = static_cast<unsigned char>(rng());
      std::memset(p, tag, n);
      live.push_back({p, n, tag});
    } else if (op < 8) {
      size_t i = rng() % live.size();
      for (size_t k = 0; k < live[i].n; k += 61) REQUIRE(live[i].p[k] == live[i].tag);
      h->free(live[i].p, "free()");
      live[i] = live.back();
      live.pop_back();
    } else {
      size_t i = rng() % live.size();
      size_t n = rng() % 6000;
      if (h->resize_in_place(live[i].p, n, "realloc()")) {
        size_t keep = n < live[i].n ? n : live[i].n;
        for (size_t k = 0; k < keep; ++k) REQUIRE(live[i].p[k] == live[i].tag);
        std::memset(live[i].p, live[i].tag, n);
        live[i].n = n;
      }
    }
    if (step % 500 == 0) {
      const char* err = h->check();
      REQUIRE(err == nullptr);
    }
  }
  for (auto& l : live) h->free(l.p, "free()");
  ok();
  CHECK(h->snapshot().in_use < 64);
}

using lmtest::signal_of_child;

TEST_CASE_FIXTURE(Fixture, "heap: double free and a damaged header abort") {
  void* a = h->alloc(100, false);
  void* b = h->alloc(100, false);
  (void)b;
  CHECK(signal_of_child([&] {
          h->free(a, "free()");
          h->free(a, "free()");
        }) == SIGABRT);
  CHECK(signal_of_child([&] {
          reinterpret_cast<size_t*>(a)[-1] = 0x13;  // size field overwritten
          h->free(a, "free()");
        }) == SIGABRT);
  CHECK(signal_of_child([&] { h->free(static_cast<char*>(a) + 8, "free()"); }) == SIGABRT);
  // The parent's heap is untouched by the children.
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: a block growing by coalescing is purged only where it is new") {
  // A program freeing a big structure piece by piece under memory pressure:
  // each free merges into the block the last purge left clean. Each purge
  // must madvise the new pages only, not the whole block again.
  constexpr size_t kBlock = 64 * 1024;
  constexpr int kCount = 64;
  size_t page = os::page_size();
  std::vector<void*> v;
  for (int i = 0; i < kCount; ++i) v.push_back(h->alloc(kBlock, false));
  void* pin = h->alloc(64, false);  // keeps the freed blocks off the top
  for (auto p : v) std::memset(p, 1, kBlock);
  size_t total = 0;
  for (int i = 0; i < kCount; ++i) {
    h->free(v[i], "free()");
    size_t purged = h->purge_now();
    // The freed block's pages, and the page its neighbour's header kept.
    CHECK(purged <= kBlock + 2 * page);
    total += purged;
    ok();
  }
  CHECK(total >= (kCount - 1) * kBlock);  // every page went back once ...
  CHECK(total <= kCount * (kBlock + page));  // ... not once per purge after it
  heap::Snapshot s = h->snapshot();
  CHECK(s.purged >= s.free - s.top - 2 * page);
  unsigned char vec[16];
  uintptr_t mid = (A(v[kCount / 2]) + page) & ~(page - 1);
  REQUIRE(mincore(reinterpret_cast<void*>(mid), 16 * page, vec) == 0);
  for (unsigned char c : vec) CHECK((c & 1) == 0);
  // A purged block is wholly clean: carving from it leaves nothing to purge.
  void* a = h->alloc(kBlock, false);
  std::memset(a, 2, kBlock);
  ok();
  CHECK(h->snapshot().purged >= s.purged - kBlock - 2 * page);
  CHECK(h->purge_now() == 0);
  ok();
  h->free(a, "free()");
  h->free(pin, "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: a block carved from a partly purged one keeps its run") {
  constexpr size_t kBlock = 64 * 1024;
  size_t page = os::page_size();
  std::vector<void*> v;
  for (int i = 0; i < 33; ++i) v.push_back(h->alloc(kBlock, false));
  void* pin = h->alloc(64, false);
  for (auto p : v) std::memset(p, 1, kBlock);
  for (int i = 0; i < 32; ++i) h->free(v[i], "free()");
  CHECK(h->purge_now() >= 31 * kBlock);  // v[0..31]: one block, all purged
  h->free(v[32], "free()");  // merges: a purged run, then 64 KiB of dirty pages
  ok();
  // Carved from the low end: the remainder keeps the rest of the run, so a
  // purge madvises v[32]'s pages only, not the whole remainder (2 MiB).
  void* a = h->alloc(16 * 1024, false);
  CHECK(A(a) < A(v[1]));
  std::memset(a, 3, 16 * 1024);
  ok();
  size_t purged = h->purge_now();
  CHECK(purged >= kBlock - 2 * page);
  CHECK(purged <= kBlock + 2 * page);
  ok();
  h->free(a, "free()");
  h->free(pin, "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: a damaged purged-run word aborts instead of purging other blocks") {
  // A write after free into the word that keeps a free block's purged run
  // must not steer a purge outside the block: the purge leaves the block
  // alone, and its next use reports the corruption.
  constexpr size_t kBlock = 64 * 1024;
  void* a = h->alloc(kBlock, false);
  void* b = h->alloc(kBlock, false);
  void* live = h->alloc(1 << 20, false);
  void* c = h->alloc(kBlock, false);
  h->alloc(64, false);  // keeps c off the top
  std::memset(live, 0x77, 1 << 20);
  h->free(a, "free()");
  // Its purged-run word: after prev_size, size, fd, bk and the stamp.
  reinterpret_cast<uint64_t*>(a)[3] = (uint64_t{200} << 32) | 200;
  CHECK(h->check() != nullptr);
  h->purge_now();
  const unsigned char* q = static_cast<const unsigned char*>(live);
  CHECK(std::all_of(q, q + (1 << 20), [](unsigned char x) { return x == 0x77; }));
  CHECK(signal_of_child([&] { h->free(b, "free()"); }) == SIGABRT);  // merges with a
  CHECK(signal_of_child([&] { (void)h->alloc(kBlock, false); }) == SIGABRT);  // takes a
  reinterpret_cast<uint64_t*>(a)[3] = 0;  // repaired: the heap is whole again
  ok();
  h->free(c, "free()");
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: decay purges a lazily purged block once; trim purges it for good") {
  constexpr size_t kBlock = 256 * 1024;
  void* a = h->alloc(kBlock, false);
  h->alloc(64, false);  // keeps a off the top
  std::memset(a, 1, kBlock);
  h->free(a, "free()");
  uint64_t now = os::now_ms() + 1;
  // decay_ms=0 with purge=free: every pass may run, and must not purge the
  // block again once it has (MADV_FREE), only what is still dirty.
  CHECK(h->decay(now, 0, true) >= kBlock - 2 * os::page_size());
  CHECK(h->decay(now + 1, 0, true) == 0);
  CHECK(h->decay(now + 2, 0, true) == 0);
  ok();
  // malloc_trim makes lazily purged pages go for good, once.
  h->trim(0);
  CHECK(h->snapshot().purged >= kBlock - 2 * os::page_size());
  CHECK(h->purge_now() == 0);
  ok();
}

TEST_CASE_FIXTURE(Fixture, "heap: check finds a free block whose bin links are damaged, and every free block in 10,000") {
  // The check tests each free block's links to its neighbours in O(1) and
  // counts what the bins reach (it searched the bin for each block: a
  // quadratic check under the heap's lock, 3.4 s for 100,000 free blocks).
  std::vector<void*> keep;
  for (int i = 0; i < 20000; ++i) keep.push_back(h->alloc(100 + (i % 50) * 16, false));
  for (size_t i = 0; i < keep.size(); i += 2) h->free(keep[i], "free()");
  ok();
  for (size_t k : {size_t{10}, size_t{5000}, keep.size() - 4}) {
    auto* links = static_cast<uintptr_t*>(keep[k]);  // fd, bk of the free block
    for (int word = 0; word < 2; ++word) {
      CAPTURE(k);
      CAPTURE(word);
      uintptr_t saved = links[word];
      links[word] = saved ? saved + 16 : A(keep[k + 2]) - 16;
      CHECK(h->check() != nullptr);
      links[word] = saved;
      ok();
    }
  }
  for (size_t i = 1; i < keep.size(); i += 2) h->free(keep[i], "free()");
  ok();
}
