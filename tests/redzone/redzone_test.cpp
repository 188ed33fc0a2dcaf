// Unit tests of the redzone module in isolation: block layout and shadow
// encoding for every small size, alignment, quarantine poisoning, the
// checks (halt_on_error=0, so reports are printed and the test goes on), and
// the shadow answers that compiler-instrumented accesses get. Backing blocks
// come from glibc (these tests run on glibc's malloc), not from the heap.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <sys/mman.h>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "config/config.h"
#include "redzone/internal.h"
#include "redzone/redzone.h"

using namespace lm;
using redzone::Family;

namespace {

// The backend's calls are counted, and the blocks of 256 KiB and more (the
// chunks small blocks are carved from) remembered, so that tests can check
// that carved blocks never go back to it.
struct BigBlock {
  uptr lo, hi;
};
std::atomic<size_t> g_backend_allocs{0};
std::atomic<size_t> g_carved_frees{0};
std::mutex g_big_lock;
std::vector<BigBlock> g_big;  // the test's own memory: glibc's malloc

void* backing_alloc(size_t align, size_t n, bool zero, size_t* usable, bool* mapped, bool* zeroed) {
  (void)zero;  // (never a mapping: not zeroed)
  size_t size = align_up(n, align);
  *usable = size;
  *mapped = false;
  *zeroed = false;
  void* p = aligned_alloc(align, size);
  ++g_backend_allocs;
  if (p && n >= (size_t{256} << 10)) {
    std::lock_guard<std::mutex> g(g_big_lock);
    g_big.push_back({addr(p), addr(p) + size});
  }
  return p;
}
void backing_free(void* p) {
  {
    std::lock_guard<std::mutex> g(g_big_lock);
    for (const BigBlock& b : g_big)
      if (addr(p) >= b.lo && addr(p) < b.hi) {
        ++g_carved_frees;  // not a block of ours: glibc would abort
        return;
      }
  }
  ::free(p);
}

struct Setup {
  Setup() {
    setenv("LIBMALLOC_OPTIONS", "redzone=1:halt_on_error=0:quarantine_mb=1", 1);
    config::parse_environment();
    redzone::init(redzone::Backend{backing_alloc, backing_free}, 0x1234567);
  }
} g_setup;

uint8_t shadow_of(const void* p) { return *redzone::shadow::byte_for(addr(p)); }

char* rz_malloc(size_t n, size_t align = 16, Family f = Family::kMalloc) {
  return static_cast<char*>(redzone::alloc(n, align, f, false, 0));
}
void rz_free(void* p, Family f = Family::kMalloc) { redzone::free(p, f, "free()", 0); }

}  // namespace

TEST_CASE("redzone: every size up to 1 KiB: addressable bytes, partial tail, redzones on both sides") {
  for (size_t n = 0; n <= 1024; ++n) {
    char* p = rz_malloc(n);
    REQUIRE(p != nullptr);
    CHECK(addr(p) % 16 == 0);
    CHECK(redzone::usable_size(p, 0) == n);
    for (size_t g = 0; g < n / 8; ++g) CHECK(shadow_of(p + 8 * g) == redzone::kAddressable);
    if (n % 8) CHECK(shadow_of(p + n / 8 * 8) == n % 8);
    for (size_t k = 1; k <= 2; ++k) CHECK(shadow_of(p - 8 * k) == redzone::kLeftRedzone);
    CHECK(shadow_of(p + align_up(n, 8)) == redzone::kRightRedzone);
    CHECK(shadow_of(p + align_up(n, 8) + 8) == redzone::kRightRedzone);
    CHECK(redzone::shadow::first_bad(addr(p), n) == 0);
    if (n > 0) CHECK(redzone::shadow::first_bad(addr(p), n + 1) == addr(p) + n);
    CHECK(redzone::shadow::first_bad(addr(p) - 1, 1) == addr(p) - 1);
    std::memset(p, 0xab, n);
    rz_free(p);
  }
}

TEST_CASE("redzone: alignments up to 64 KiB are honoured") {
  for (size_t a = 16; a <= 65536; a *= 2) {
    char* p = rz_malloc(100, a);
    REQUIRE(p != nullptr);
    CHECK(addr(p) % a == 0);
    CHECK(shadow_of(p - 8) == redzone::kLeftRedzone);
    rz_free(p);
  }
}

TEST_CASE("redzone: calloc-style allocation is zeroed") {
  auto* p = static_cast<unsigned char*>(redzone::alloc(5000, 16, Family::kMalloc, true, 0));
  bool zero = true;
  for (size_t i = 0; i < 5000; ++i) zero = zero && p[i] == 0;
  CHECK(zero);
  rz_free(p);
}

TEST_CASE("redzone: a freed block is poisoned and filled while quarantined") {
  char* p = rz_malloc(40);
  rz_free(p);
  for (size_t g = 0; g < 5; ++g) CHECK(shadow_of(p + 8 * g) == redzone::kFreed);
  CHECK(static_cast<unsigned char>(p[0]) == redzone::kFreedFill);
  CHECK(redzone::shadow::first_bad(addr(p) + 4, 4) == addr(p) + 4);
}

TEST_CASE("redzone: realloc moves and keeps the contents") {
  char* p = rz_malloc(10);
  std::memcpy(p, "0123456789", 10);
  char* q = static_cast<char*>(redzone::realloc(p, 1000, 0));
  REQUIRE(q != nullptr);
  CHECK(q != p);
  CHECK(std::memcmp(q, "0123456789", 10) == 0);
  CHECK(redzone::usable_size(q, 0) == 1000);
  rz_free(q);
}

TEST_CASE("redzone: a damaged redzone is found once by the heap check (halt_on_error=0)") {
  char* p = rz_malloc(24);
  CHECK(redzone::check_all(0) == 0);
  p[24] = 0;
  CHECK(redzone::check_all(0) == 1);
  CHECK(redzone::check_all(0) == 0);  // repaired after the report
  rz_free(p);
}

TEST_CASE("redzone: addresses without shadow are always fine") {
  int local = 0;
  CHECK(redzone::shadow::byte_for(addr(&local)) == nullptr);
  CHECK(redzone::shadow::first_bad(addr(&local), sizeof local) == 0);
  CHECK(redzone::shadow::byte_for(uptr{1} << 47) == nullptr);
}

// A range from the heap to the end of the address space (an instrumented
// memcpy with a negative length): the bad byte is found in the heap, and a
// range that starts past the heap's shadow returns (it walked 2^34
// non-canonical leaves, 20 s and more, before it did).
TEST_CASE("redzone: ranges that run past the user address space") {
  char* p = static_cast<char*>(rz_malloc(100));
  CHECK(redzone::shadow::first_bad(addr(p), ~uptr{0} - addr(p)) == addr(p) + 100);
  uptr past = (addr(p) | ((uptr{1} << 30) - 1)) + 1;  // the next 1 GiB: no shadow there
  if (redzone::shadow::byte_for(past) == nullptr) CHECK(redzone::shadow::first_bad(past, ~uptr{0} - past) == 0);
  CHECK(redzone::shadow::first_bad(uptr{1} << 47, 4096) == 0);
  CHECK(redzone::shadow::first_bad(~uptr{0} - 15, 16) == 0);
  rz_free(p);
}

// Is the page holding p resident? (mincore)
bool resident(const void* p) {
  unsigned char v = 0;
  REQUIRE(mincore(ptr(align_down(addr(p), 4096)), 4096, &v) == 0);
  return v & 1;
}

TEST_CASE("redzone: an unmapped block up to 4 MiB keeps its shadow pages, zeroed; a larger one and trimmed heap memory return them") {
  // Address space of our own, so that nothing else's shadow shares the pages.
  const size_t span = size_t{64} << 20;
  void* m = mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  REQUIRE(m != MAP_FAILED);
  const uptr base = align_up(addr(m), size_t{8} << 20);
  const uptr small_end = base + (size_t{4} << 20), big = base + (size_t{16} << 20);
  const uptr big_end = big + (size_t{8} << 20);
  REQUIRE(redzone::shadow::ensure(base, big_end));
  redzone::shadow::set(base, small_end, redzone::kFreed);
  redzone::shadow::set(big, big_end, redzone::kFreed);
  redzone::shadow::clear(base, small_end);
  redzone::shadow::clear(big, big_end);
  const uint8_t* s = redzone::shadow::byte_for(base);
  const uint8_t* b = redzone::shadow::byte_for(big);
  // (Residency first: reading a returned page maps one in again.)
  size_t kept = 0, returned = 0;
  for (size_t off = 0; off < (size_t{4} << 20) / 8; off += 4096) kept += resident(s + off);
  for (size_t off = 4096; off + 4096 < (size_t{8} << 20) / 8; off += 4096) returned += !resident(b + off);
  CHECK(kept == (size_t{4} << 20) / 8 / 4096);
  CHECK(returned == (size_t{8} << 20) / 8 / 4096 - 2);
  CHECK(redzone::shadow::first_bad(base, small_end - base) == 0);
  CHECK(redzone::shadow::first_bad(big, big_end - big) == 0);
  // Heap memory trimmed away (redzone::forget) returns its shadow pages at
  // any size: they may never have been touched.
  const uptr trimmed = base + (size_t{32} << 20), trimmed_end = trimmed + (size_t{1} << 20);
  REQUIRE(redzone::shadow::ensure(trimmed, trimmed_end));
  redzone::shadow::set(trimmed, trimmed_end, redzone::kLeftRedzone);
  redzone::forget(trimmed, trimmed_end);
  const uint8_t* t = redzone::shadow::byte_for(trimmed);
  size_t dropped = 0;
  for (size_t off = 0; off < (size_t{1} << 20) / 8; off += 4096) dropped += !resident(t + off);
  CHECK(dropped == (size_t{1} << 20) / 8 / 4096);
  CHECK(redzone::shadow::first_bad(trimmed, trimmed_end - trimmed) == 0);
  munmap(m, span);
}

TEST_CASE("redzone: a block freed by another thread is poisoned, filled and quarantined") {
  char* p = nullptr;
  std::thread([&] { p = rz_malloc(40); }).join();
  REQUIRE(p != nullptr);
  std::memset(p, 1, 40);
  rz_free(p);
  CHECK(redzone::quarantined_for_testing(p));
  CHECK(shadow_of(p) == redzone::kFreed);
  CHECK(static_cast<unsigned char>(p[39]) == redzone::kFreedFill);
  char* q = rz_malloc(40);
  std::thread([q] { rz_free(q); }).join();
  CHECK(redzone::quarantined_for_testing(q));
  CHECK(shadow_of(q + 32) == redzone::kFreed);
}

// The tests run with quarantine_mb=1: freeing 4 MiB of 3000-byte blocks
// pushes every earlier block out. The churn's own last blocks stay
// quarantined, and one may start where an earlier block did (its memory
// recycled as spare and split: the same left redzone puts the block at the
// same address; seen after other tests with --order-by=rand): g_churned
// remembers where they were.
std::vector<char*> g_churned;
void churn() {
  g_churned.clear();
  for (size_t done = 0; done < (4u << 20); done += 3000) {
    char* q = rz_malloc(3000);
    g_churned.push_back(q);
    rz_free(q);
  }
}

// p left the quarantine: it is not quarantined, or what is there now is one
// of the churn's blocks.
bool left_quarantine(const void* p) {
  if (!redzone::quarantined_for_testing(p)) return true;
  for (char* q : g_churned)
    if (q == p) return true;
  return false;
}

TEST_CASE("redzone: a thread's queued frees enter the quarantine when it exits, and leave it") {
  char* p = nullptr;
  std::thread([&] {
    p = rz_malloc(100);
    rz_free(p);  // one block: stays in the thread's queue until it exits
  }).join();
  CHECK(redzone::quarantined_for_testing(p));
  churn();
  CHECK(left_quarantine(p));
}

TEST_CASE("redzone: blocks leaving quarantine are reused for their size, fully redzoned again") {
  char* p = rz_malloc(200);
  rz_free(p);
  p[10] = 'x';  // use after free: found while the block is quarantined
  CHECK(redzone::check_all(0) == 1);
  churn();
  CHECK(left_quarantine(p));
  // Recycled memory serves new blocks of the class: p's comes back. (As
  // the same block, or, when the pool was full and p's memory became spare,
  // merged with its neighbours, as a block a little way off: within one
  // block's span either side. This depends on the module's state: in file
  // order the first 1000 allocations get it; after some other tests
  // (--order-by=rand) p's memory may sit in a spare remainder too small for
  // the class, and never come back for it.)
  std::vector<char*> got;
  char* reused = nullptr;
  for (int i = 0; i < 1000 && !reused; ++i) {
    char* q = rz_malloc(200);
    got.push_back(q);
    if (q + 512 > p && q < p + 512) reused = q;
  }
  REQUIRE(reused != nullptr);
  CHECK(redzone::usable_size(reused, 0) == 200);
  CHECK(redzone::shadow::first_bad(addr(reused), 200) == 0);
  CHECK(redzone::shadow::first_bad(addr(reused), 201) == addr(reused) + 200);
  CHECK(shadow_of(reused - 8) == redzone::kLeftRedzone);
  CHECK(redzone::check_all(0) == 0);
  for (char* q : got) rz_free(q);
}

namespace {
// Both captures run at the same stack depth, from the same call site.
LM_NOINLINE void capture_both(uint32_t* cached, uint32_t* fresh) {
  uptr ret = addr(__builtin_return_address(0));
  *cached = redzone::stack::capture_id(ret);
  redzone::stack::Trace t;
  redzone::stack::capture(&t, ret);
  *fresh = redzone::stack::save(t);
  asm volatile("" ::: "memory");
}
LM_NOINLINE void capture_both_deeper(uint32_t* cached, uint32_t* fresh) {
  capture_both(cached, fresh);
  asm volatile("" ::: "memory");
}

// The first frame of trace `id` (0 when there is none).
uptr first_frame(uint32_t id) {
  redzone::stack::Trace t;
  redzone::stack::load(id, &t);
  return t.n ? t.pc[0] : 0;
}
}  // namespace

// What the cache promises: the same path (the same call site, at the same
// depth, with the same return addresses where the first walk found them)
// gets the trace that walk saved, and another path another trace. Not that
// a fresh walk would find the same frames: where frame-pointer records
// fail, the walk scans the stack for return addresses and takes stale ones
// too (with --order-by=rand, 13 stale copies of one address left by an
// earlier test filled a trace), and two walks from different frames (the
// cache's and capture()'s) may take different ones (docs/redzone.md,
// Limits). Both start at the caller.
TEST_CASE("redzone: a cached stack capture names the trace of the same path, and the caller") {
  uint32_t a[2], f[2], b1, g1;
  // In a thread of its own: its stack holds no stale return addresses left
  // by earlier tests. (On the main thread, after some other tests with
  // --order-by=rand, a stale word the first walk took as a frame changed
  // before the second, and the cache missed, as it must: 3 seeds in 30.)
  std::thread([&] {
    // One call site (a loop the compiler cannot unroll): the same path
    // twice, so the second capture is a cache hit.
    volatile int rounds = 2;
    for (int i = 0; i < rounds; i = i + 1) capture_both(&a[i], &f[i]);
    capture_both_deeper(&b1, &g1);
  }).join();
  CHECK(a[0] != 0);
  // The hit names the trace it cached.
  CHECK(a[1] == a[0]);
  CHECK(first_frame(a[0]) == first_frame(f[0]));
  CHECK(first_frame(a[1]) == first_frame(f[1]));
  CHECK(first_frame(b1) == first_frame(g1));
  CHECK(first_frame(b1) != 0);
  CHECK(b1 != a[0]);  // another path: another trace
}

namespace {
LM_NOINLINE uint32_t capture_here() {
  uint32_t id = redzone::stack::capture_id(addr(__builtin_return_address(0)));
  asm volatile("" ::: "memory");
  return id;
}
// Leaves 12 copies of its own return address in its frame (as spilled
// registers and dead slots do), then captures from a callee: a walk that
// scans this frame finds them all.
LM_NOINLINE uint32_t capture_over_copies() {
  volatile uptr junk[12];
  uptr me = addr(__builtin_return_address(0));
  for (auto& j : junk) j = me;
  uint32_t id = capture_here();
  asm volatile("" ::: "memory");
  return id + static_cast<uint32_t>(junk[0] & 0);
}
}  // namespace

TEST_CASE("redzone: once the stack depot is full, a new trace keeps its first frame; stored ones stay whole") {
  namespace st = redzone::stack;
  auto make = [](uptr first, uptr rest) {
    st::Trace t;
    t.n = 8;
    t.pc[0] = first;
    for (unsigned i = 1; i < t.n; ++i) t.pc[i] = rest + i;
    return t;
  };
  st::Trace known = make(0x5000, 0x9000000);
  uint32_t known_id = st::save(known);
  REQUIRE(known_id != 0);
  // Room for 10 more traces of 8 frames (16 + 8 * 8 bytes each), then for
  // first frames (24 bytes each).
  st::depot_room_for_testing(10 * 80, 4096);
  uint32_t ids[40];
  for (unsigned i = 0; i < 40; ++i) ids[i] = st::save(make(0x6000 + (i % 4) * 16, 0xa000000 + i * 64));
  uint32_t again = st::save(known);
  st::Trace single;
  single.n = 1;
  single.pc[0] = 0x6800;
  uint32_t single_id = st::save(single);  // a new trace of one frame: in the reserve too
  st::depot_room_for_testing(0, 0);
  CHECK(single_id != 0);
  for (unsigned i = 0; i < 40; ++i) {
    CAPTURE(i);
    REQUIRE(ids[i] != 0);
    st::Trace t;
    st::load(ids[i], &t);
    CHECK(t.pc[0] == 0x6000 + (i % 4) * 16);
    CHECK(t.n == (i < 10 ? 8u : 1u));
    if (i >= 14) CHECK(ids[i] == ids[i - 4]);  // one entry per first frame
  }
  CHECK(again == known_id);
  st::Trace t;
  st::load(known_id, &t);
  CHECK(t.n == 8);
}

TEST_CASE("redzone: the stack depot's hash table grows with its traces, each found again under its id") {
  namespace st = redzone::stack;
  // 300K distinct traces: the table grows from 64K buckets past 256K.
  constexpr uint32_t kTraces = 300000;
  std::vector<uint32_t> ids(kTraces);
  auto make = [](uint32_t i) {
    st::Trace t;
    t.n = 2;
    t.pc[0] = 0x10000000 + uptr{i} * 16;
    t.pc[1] = 0x7000;
    return t;
  };
  for (uint32_t i = 0; i < kTraces; ++i) ids[i] = st::save(make(i));
  bool all_saved = true, all_found = true, all_loaded = true;
  for (uint32_t i = 0; i < kTraces; ++i) {
    all_saved = all_saved && ids[i] != 0;
    all_found = all_found && st::save(make(i)) == ids[i];
    st::Trace t;
    st::load(ids[i], &t);
    all_loaded = all_loaded && t.n == 2 && t.pc[0] == make(i).pc[0];
  }
  CHECK(all_saved);
  CHECK(all_found);
  CHECK(all_loaded);
}

TEST_CASE("redzone: stale copies of a return address do not fill a stack trace") {
  uint32_t id = capture_over_copies();
  REQUIRE(id != 0);
  redzone::stack::Trace t;
  redzone::stack::load(id, &t);
  CHECK(t.n >= 2);
  unsigned repeats = 0;
  for (unsigned i = 1; i < t.n; ++i) repeats += t.pc[i] == t.pc[i - 1];
  CHECK(repeats == 0);
}

namespace {
std::atomic<int> g_walk_hooks{0};
void count_walk_hook() { g_walk_hooks.fetch_add(1); }
}  // namespace

// A cache hit skips the stack walk, and with it the walk's look for modules
// loaded since (intercept.cpp patches their calls into libc then): a
// thread's every 64th hit looks anyway.
TEST_CASE("redzone: cached stack captures still look for new modules now and then") {
  void (*saved)() = __atomic_load_n(&redzone::stack::g_on_walk, __ATOMIC_ACQUIRE);
  __atomic_store_n(&redzone::stack::g_on_walk, &count_walk_hook, __ATOMIC_RELEASE);
  g_walk_hooks = 0;
  constexpr int kRounds = 200;
  uint32_t ids[kRounds];
  std::thread([&] {
    volatile int rounds = kRounds;
    for (int i = 0; i < rounds; i = i + 1) ids[i] = capture_here();
  }).join();
  __atomic_store_n(&redzone::stack::g_on_walk, saved, __ATOMIC_RELEASE);
  int hits = 0;
  for (int i = 1; i < kRounds; ++i) hits += ids[i] == ids[0];
  REQUIRE(hits == kRounds - 1);
  // The first capture's walk, then every 64th hit.
  CHECK(g_walk_hooks.load() == 1 + (kRounds - 1) / 64);
}

TEST_CASE("redzone: small blocks are carved from chunks, a backend call per chunk, not per block") {
  std::vector<char*> got;
  size_t before = g_backend_allocs.load();
  for (int i = 0; i < 2000; ++i) got.push_back(rz_malloc(300));
  // 2000 blocks of about 450 bytes: some recycled, the rest carved from
  // chunks of 256 KiB, 512 KiB, 1 MiB ...: a handful of calls.
  CHECK(g_backend_allocs.load() - before <= 4);
  for (char* q : got) {
    CHECK(redzone::usable_size(q, 0) == 300);
    CHECK(redzone::shadow::first_bad(addr(q), 300) == 0);
    CHECK(redzone::shadow::first_bad(addr(q), 301) == addr(q) + 300);
    CHECK(shadow_of(q - 8) == redzone::kLeftRedzone);
  }
  // A carved block's overflow is found like any other's.
  got[7][300] = 'x';
  CHECK(redzone::check_all(0) == 1);
  got[7][300] = static_cast<char>(0xfb);  // the right redzone's fill, restored
  CHECK(redzone::check_all(0) == 0);
  for (char* q : got) rz_free(q);
}

TEST_CASE("redzone: carved blocks never go back to the backend, even past the pool's cap") {
  // 96 MiB of 32 KiB blocks through a 1 MiB quarantine: the recycling pool
  // (64 MiB) overflows, and what it cannot hold would go back to the
  // backend; carved blocks are kept instead, and serve later requests.
  std::vector<char*> got;
  for (size_t done = 0; done < (size_t{96} << 20); done += 32 << 10) got.push_back(rz_malloc(32 << 10));
  for (char* q : got) rz_free(q);
  churn();
  CHECK(g_carved_frees.load() == 0);
  size_t before = g_backend_allocs.load();
  std::vector<char*> again;
  for (size_t i = 0; i < got.size() / 2; ++i) again.push_back(rz_malloc(32 << 10));
  CHECK(g_backend_allocs.load() == before);  // all recycled
  CHECK(redzone::check_all(0) == 0);
  for (char* q : again) rz_free(q);
  churn();
  CHECK(g_carved_frees.load() == 0);
}

TEST_CASE("redzone: spare carved blocks merge with their neighbours and serve larger and smaller sizes") {
  // As above: 96 MiB of 32 KiB blocks overflow the pool, and about 30 MiB
  // of carved blocks, adjacent in their chunks, become spare. A program
  // whose sizes then grow (50000 bytes: a class no 32 KiB block fits) or
  // shrink gets them from the spare blocks, merged or split, not from new
  // chunks: without the merge each class kept its own spare blocks, and
  // every class a program passed through held what it once held.
  std::vector<char*> got;
  for (size_t done = 0; done < (size_t{96} << 20); done += 32 << 10) got.push_back(rz_malloc(32 << 10));
  for (char* q : got) rz_free(q);
  churn();
  size_t before = g_backend_allocs.load();
  std::vector<char*> grown, shrunk;
  for (int i = 0; i < 200; ++i) grown.push_back(rz_malloc(50000));  // about 11 MiB
  CHECK(g_backend_allocs.load() == before);
  for (int i = 0; i < 4000; ++i) shrunk.push_back(rz_malloc(1000));  // about 5 MiB
  CHECK(g_backend_allocs.load() == before);
  for (char* q : grown) {
    CHECK(redzone::usable_size(q, 0) == 50000);
    CHECK(redzone::shadow::first_bad(addr(q), 50000) == 0);
    CHECK(redzone::shadow::first_bad(addr(q), 50001) == addr(q) + 50000);
  }
  for (char* q : shrunk) std::memset(q, 0x33, 1000);
  for (char* q : grown) std::memset(q, 0x44, 50000);
  bool intact = true;  // no two blocks share memory
  for (char* q : shrunk)
    for (int i = 0; i < 1000; ++i) intact = intact && q[i] == 0x33;
  CHECK(intact);
  CHECK(redzone::check_all(0) == 0);
  for (char* q : grown) rz_free(q);
  for (char* q : shrunk) rz_free(q);
  churn();
  CHECK(g_carved_frees.load() == 0);
  CHECK(redzone::check_all(0) == 0);
}

TEST_CASE("redzone: the quarantine's ring grows as blocks arrive, keeping every one in order") {
  // The ring starts at 4096 entries; 8000 of the smallest blocks (128-byte
  // spans, 1000 KiB: within the 1 MiB quarantine) make it double, with its
  // head wherever earlier tests left it.
  std::vector<char*> v;
  for (int i = 0; i < 8000; ++i) v.push_back(rz_malloc(1));
  for (char* q : v) rz_free(q);
  bool all = true;
  for (char* q : v) all = all && redzone::quarantined_for_testing(q);
  CHECK(all);
  // The heap check walks the ring: a use after free of the first, the
  // middle and the last block freed is found in each.
  v[0][0] = v[4000][0] = v[7999][0] = 'x';
  CHECK(redzone::check_all(0) == 3);
  v[0][0] = v[4000][0] = v[7999][0] = static_cast<char>(0xfd);  // the freed fill, restored
  CHECK(redzone::check_all(0) == 0);
  churn();
  bool none = true;
  for (char* q : v) none = none && left_quarantine(q);
  CHECK(none);
  CHECK(redzone::check_all(0) == 0);
}

TEST_CASE("redzone: 20 threads (shards shared) allocate and free blocks of random sizes, contents intact") {
  // Threads 1 and 17 share a shard (16 shards): two threads of a shard may
  // map a chunk at the same time, and the second install leaves the rest of
  // the first as one block (it went back to the backend from the middle of
  // a chunk before). Blocks up to 120 KB also exercise carving, spare
  // blocks, merging and splitting under contention.
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 20; ++t)
    threads.emplace_back([t, &bad] {
      uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(t + 1);
      auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
      };
      struct Live {
        char* p;
        size_t n;
        char fill;
      };
      std::vector<Live> live(64, Live{nullptr, 0, 0});
      for (int i = 0; i < 4000; ++i) {
        Live& l = live[next() % live.size()];
        if (l.p) {
          for (size_t k = 0; k < l.n; k += 97)
            if (l.p[k] != l.fill) ++bad;
          rz_free(l.p);
        }
        uint64_t r = next();
        l.n = r % 8 == 0 ? 4096 + r % (120 * 1024) : 1 + r % 3000;
        l.fill = static_cast<char>(r >> 32);
        l.p = rz_malloc(l.n);
        if (!l.p) {
          ++bad;
          continue;
        }
        std::memset(l.p, l.fill, l.n);
      }
      for (Live& l : live)
        if (l.p) rz_free(l.p);
    });
  for (auto& th : threads) th.join();
  churn();
  CHECK(bad.load() == 0);
  CHECK(g_carved_frees.load() == 0);
  CHECK(redzone::check_all(0) == 0);
}
