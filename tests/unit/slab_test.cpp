// Unit tests of the slab layer: the size-class table (exhaustively) and the
// central slab lists' state transitions, on a real heap.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sys/mman.h>

#include <csignal>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "config/config.h"
#include "heap/heap.h"
#include "pagemap/pagemap.h"
#include "slab/desc_pool.h"
#include "slab/slab.h"
#include "slab/spans.h"
#include "support/child.h"

using namespace lm;

namespace {
heap::Heap g_heap;
struct Init {
  Init() {
    config::parse_environment();
    g_heap.init(heap::os_source());
    slab::init(&g_heap);
  }
} g_init;
}  // namespace

TEST_CASE("slab: every size up to the largest class maps to the smallest class that fits") {
  for (size_t n = 0; n <= slab::kMaxSize; ++n) {
    unsigned c = slab::size_class(n);
    REQUIRE(c < slab::kClasses);
    REQUIRE(slab::class_size(c) >= n);
    if (c > 0) REQUIRE(slab::class_size(c - 1) < n);
  }
}

TEST_CASE("slab: classes are 16-aligned, increasing, four per doubling to 512, four page-packed to 1 KiB, eight above") {
  for (unsigned c = 0; c < slab::kClasses; ++c) {
    CHECK(slab::class_size(c) % 16 == 0);
    if (c > 0) CHECK(slab::class_size(c) > slab::class_size(c - 1));
  }
  CHECK(slab::class_size(7) == 128);
  CHECK(slab::class_size(11) == 256);
  CHECK(slab::class_size(15) == 512);
  CHECK(slab::class_size(19) == 1024);
  for (unsigned c = 12; c < 16; ++c) CHECK(slab::class_size(c) == slab::class_size(c - 4) * 2);
  // 513..1024: 4096 / 7, 6, 5 rounded down to 16, then 1024.
  for (unsigned c = 16; c < 19; ++c) {
    size_t size = slab::class_size(c);
    CAPTURE(size);
    CHECK(size == 4096 / (23 - c) / 16 * 16);
    CHECK(slab::page_packed(size));
  }
  for (unsigned c = 28; c < slab::kClasses; ++c) {
    CAPTURE(c);
    CHECK(slab::class_size(c) == slab::class_size(c - 8) * 2);
  }
  CHECK(slab::class_size(20) == 1152);
  // The sizes that motivated eight per doubling (sqlite3's page cache).
  CHECK(slab::class_size(slab::size_class(1032)) == 1152);
  CHECK(slab::class_size(slab::size_class(4104)) == 4608);
  CHECK(slab::class_size(slab::size_class(4368)) == 4608);
}

namespace {
// Waste of an n-byte request in its class, as a fraction of the class size.
double waste_of(size_t n) {
  size_t s = slab::class_size(slab::size_class(n));
  return static_cast<double>(s - n) / static_cast<double>(s);
}
}  // namespace

TEST_CASE("slab: mean internal waste over all sizes is 4.3%, the worst above 128 B 20.2% and above 1 KiB 11.1%") {
  double sum = 0, worst128 = 0, worst1k = 0;
  for (size_t n = 1; n <= slab::kMaxSize; ++n) {
    double w = waste_of(n);
    sum += w;
    if (n > 128) worst128 = std::max(worst128, w);
    if (n > 1024) worst1k = std::max(worst1k, w);
  }
  double mean = sum / slab::kMaxSize;
  MESSAGE("mean internal waste: " << mean * 100 << "%, worst above 128 B " << worst128 * 100 << "%, above 1 KiB "
                                  << worst1k * 100 << "%");
  // Four per doubling throughout measured 8.0% and 20.0% (16385 B).
  CHECK(mean > 0.040);
  CHECK(mean < 0.044);
  CHECK(worst128 == doctest::Approx(207.0 / 1024).epsilon(1e-9));  // 817 B in the 1024-byte class
  CHECK(worst1k == doctest::Approx(2047.0 / 18432).epsilon(1e-9));  // 16385 B in the 18432-byte class
  CHECK(waste_of(817) == worst128);
  CHECK(waste_of(16385) == worst1k);
}

TEST_CASE("slab: a bin holds one object above 4 KiB, else 2 to kMaxBin: at most 32 KiB up to 1 KiB, 16 KiB above") {
  for (unsigned c = 0; c < slab::kClasses; ++c) {
    const size_t limit = slab::cache_limit(c), size = slab::class_size(c);
    CAPTURE(size);
    if (size > 4096) {
      CHECK(limit == 1);
      continue;
    }
    CHECK(limit >= 2);
    CHECK(limit <= slab::kMaxBin);
    const size_t budget = size > 1024 ? 16384 : 32768;
    CHECK(limit * size <= std::max<size_t>(budget, 2 * size));
    if (limit < slab::kMaxBin && limit > 2) CHECK((limit + 1) * size > budget);  // the whole budget, not less
  }
  CHECK(slab::cache_limit(slab::kClasses - 1) == 1);
  CHECK(slab::cache_limit(slab::size_class(4096)) == 4);
  CHECK(slab::cache_limit(slab::size_class(4097)) == 1);
  CHECK(slab::cache_limit(slab::size_class(1024)) == 32);
  CHECK(slab::cache_limit(slab::size_class(1025)) == 14);  // 1152-byte objects
  CHECK(slab::cache_limit(0) == slab::kMaxBin);  // 16-byte objects: 16 KiB
}

TEST_CASE("slab: a slab goes empty -> full -> partial -> empty, and empty slabs return to the span chunks") {
  const unsigned c = slab::size_class(1000);
  // No empty chunk kept from an earlier test (any order): this one's slabs
  // take a fresh chunk from the heap.
  slab::spans::decay(0, 0, MADV_DONTNEED);
  slab::ClassStats before = slab::class_stats(c);
  size_t heap_in_use = g_heap.snapshot().in_use;
  std::vector<void*> objs(4096);
  // Take enough to fill more than one slab.
  unsigned got = 0;
  while (got < 100) got += slab::take(c, objs.data() + got, 100 - got);
  slab::ClassStats mid = slab::class_stats(c);
  CHECK(mid.active == before.active + 100);
  CHECK(mid.slabs >= 2);
  CHECK(g_heap.snapshot().in_use > heap_in_use);
  std::set<void*> unique(objs.begin(), objs.begin() + 100);
  CHECK(unique.size() == 100);
  for (unsigned i = 0; i < 100; ++i) {
    auto* p = static_cast<char*>(objs[i]);
    CHECK(reinterpret_cast<uintptr_t>(p) % 16 == 0);
    pagemap::Entry e = pagemap::get(reinterpret_cast<uptr>(p));
    REQUIRE(e > pagemap::kLargeHead);
    slab::Slab* s = slab::slab_of(e);
    CHECK(s->size_class == c);
    CHECK(slab::is_object_start(s, reinterpret_cast<uptr>(p)));
    CHECK(!slab::is_object_start(s, reinterpret_cast<uptr>(p) + 16));
    std::fill(p, p + slab::class_size(c), static_cast<char>(i));
  }
  for (unsigned i = 0; i < 100; ++i) {
    auto* p = static_cast<char*>(objs[i]);
    CHECK(p[slab::class_size(c) - 1] == static_cast<char>(i));
  }
  // Give one back: its slab is partial and the object is on its free list.
  slab::Slab* s0 = slab::slab_of(pagemap::get(reinterpret_cast<uptr>(objs[0])));
  slab::give(c, &objs[0], 1);
  CHECK(slab::is_free_in_slab(s0, objs[0], "free()"));
  CHECK(!slab::is_free_in_slab(s0, objs[1], "free()"));
  // Give everything back: all slabs empty, their spans free in their chunk,
  // which is kept as the one reserve chunk until trim or decay.
  slab::give(c, objs.data() + 1, 99);
  slab::ClassStats after = slab::class_stats(c);
  CHECK(after.active == before.active);
  CHECK(after.slabs == before.slabs);
  slab::spans::Stats sp = slab::spans::stats();
  CHECK(sp.chunks == 1);
  CHECK(sp.free_bytes == sp.chunk_bytes);
  CHECK(g_heap.check() == nullptr);
  // Released pages belong to the heap again.
  CHECK(pagemap::is_heap(reinterpret_cast<uptr>(objs[5])));
  CHECK(pagemap::get(reinterpret_cast<uptr>(objs[5])) == pagemap::kNone);  // by its range, no entry
  // As malloc_trim does: the empty chunk goes back to the heap.
  CHECK(slab::spans::decay(0, 0, MADV_DONTNEED) == slab::spans::kChunkBytes);
  CHECK(slab::spans::stats().chunks == 0);
  // (Give or take the two fenceposts the heap keeps once its first segment
  // is closed: 32 bytes when this test runs first.)
  CHECK(g_heap.snapshot().in_use <= heap_in_use + heap::kFenceSize);
  CHECK(g_heap.check() == nullptr);
}

TEST_CASE("slab: give() aborts on an object of another class, also after a run of objects of one slab") {
  // A flushed bin whose stack a stray write damaged: give() finds each
  // object's slab by its span when the object lies in the slab it looked
  // up last, else by the page map, and checks that slab's class.
  const unsigned c = slab::size_class(256), other = slab::size_class(64);
  std::vector<void*> objs(9);
  unsigned got = 0;
  while (got < 8) got += slab::take(c, objs.data() + got, 8 - got);
  void* stranger = nullptr;
  REQUIRE(slab::take(other, &stranger, 1) == 1);
  slab::Slab* s = slab::slab_of(pagemap::get(reinterpret_cast<uptr>(objs[0])));
  for (unsigned i = 1; i < 8; ++i)
    REQUIRE(slab::slab_of(pagemap::get(reinterpret_cast<uptr>(objs[i]))) == s);  // one slab: a run
  objs[8] = stranger;
  CHECK(lmtest::signal_of_child([&] { slab::give(c, objs.data(), 9); }) == SIGABRT);
  // A heap pointer (no slab at all) among them.
  void* block = g_heap.alloc(100, false);
  REQUIRE(block != nullptr);
  objs[8] = block;
  CHECK(lmtest::signal_of_child([&] { slab::give(c, objs.data(), 9); }) == SIGABRT);
  // The same objects without the stranger go back.
  slab::ClassStats before = slab::class_stats(c);
  slab::give(c, objs.data(), 8);
  slab::give(other, &stranger, 1);
  g_heap.free(block, "free()");
  CHECK(slab::class_stats(c).active == before.active - 8);
}

TEST_CASE("spans: page runs are carved first-fit, freed runs are reused, and one empty chunk is kept") {
  using namespace slab::spans;
  const size_t k64 = 64 * 1024, k256 = 256 * 1024;
  Span a = alloc(k64), b = alloc(k256), c = alloc(k64);
  REQUIRE(a.base != 0);
  REQUIRE(b.base != 0);
  REQUIRE(c.base != 0);
  CHECK(a.base % kPage == 0);
  CHECK(a.chunk == b.chunk);
  CHECK(b.base == a.base + k64);
  CHECK(c.base == b.base + k256);
  // Pages are usable memory, and a run's neighbours are untouched by it.
  std::fill_n(reinterpret_cast<char*>(a.base), k64, 'a');
  std::fill_n(reinterpret_cast<char*>(b.base), k256, 'b');
  std::fill_n(reinterpret_cast<char*>(c.base), k64, 'c');
  // A freed run is dirty; a smaller request reuses its start.
  free(b, k256);
  CHECK(stats().dirty_bytes >= k256);
  Span d = alloc(k64);
  CHECK(d.base == b.base);
  CHECK(reinterpret_cast<char*>(a.base)[k64 - 1] == 'a');
  CHECK(reinterpret_cast<char*>(c.base)[0] == 'c');
  // A request bigger than any free run of the chunk comes from the next chunk.
  Span big[4];
  for (Span& s : big) {
    s = alloc(k256);
    REQUIRE(s.base != 0);
  }
  CHECK(stats().chunks == 2);
  // Purging (as malloc_trim) drops free pages from RSS but keeps used ones.
  decay(0, 0, MADV_DONTNEED);
  CHECK(stats().dirty_bytes == 0);
  CHECK(reinterpret_cast<char*>(c.base)[k64 - 1] == 'c');
  // Free everything: one chunk stays as the reserve, the other goes back.
  for (Span s : {a, c, d}) free(s, k64);
  for (Span s : big) free(s, k256);
  CHECK(stats().chunks == 1);
  CHECK(stats().free_bytes == kChunkBytes);
  decay(0, 0, MADV_DONTNEED);
  CHECK(stats().chunks == 0);
  CHECK(g_heap.check() == nullptr);
}

TEST_CASE("spans: decay with MADV_FREE purges a free run once; malloc_trim purges it for good, once") {
  using namespace slab::spans;
  decay(0, 0, MADV_DONTNEED);  // no chunk kept from an earlier test
  const size_t k64 = 64 * 1024, k256 = 256 * 1024;
  Span a = alloc(k64), b = alloc(k256), c = alloc(k64);
  REQUIRE(c.base == b.base + k256);
  std::fill_n(reinterpret_cast<char*>(a.base), k64 + k256 + k64, 'x');
  free(b, k256);
  // decay_ms=0 with purge=free: every pass may run; the first purges the
  // run lazily, the next ones must not advise the same pages again.
  CHECK(decay(0, 0, MADV_FREE) >= k256);
  CHECK(decay(0, 0, MADV_FREE) == 0);
  CHECK(decay(0, 0, MADV_FREE) == 0);
  // malloc_trim (age 0, MADV_DONTNEED) purges lazily purged pages again, once.
  CHECK(decay(0, 0, MADV_DONTNEED) >= k256);
  CHECK(decay(0, 0, MADV_DONTNEED) == 0);
  CHECK(reinterpret_cast<char*>(a.base)[0] == 'x');
  CHECK(reinterpret_cast<char*>(c.base)[k64 - 1] == 'x');
  free(a, k64);
  free(c, k64);
  decay(0, 0, MADV_DONTNEED);
  CHECK(stats().chunks == 0);
  CHECK(g_heap.check() == nullptr);
}

TEST_CASE("slab: above 4 KiB a class's first slab holds one object, and each slab it holds doubles the next, up to eight") {
  const unsigned c = slab::kClasses - 1;  // 32 KiB: spans of whole pages
  REQUIRE(slab::class_stats(c).slabs == 0);
  void* objs[23];
  const unsigned got = slab::take(c, objs, 23);
  REQUIRE(got == 23);
  slab::ClassStats st = slab::class_stats(c);
  CHECK(st.slabs == 5);  // 1 + 2 + 4 + 8 + 8
  CHECK(st.total == 23);
  CHECK(st.span_bytes == 23 * slab::class_size(c));
  CHECK(st.span == 8 * slab::class_size(c));
  slab::give(c, objs, 23);
  CHECK(slab::class_stats(c).slabs == 0);
  // 4608 B: one object in two pages; the rest of the second page is the slab's.
  const unsigned odd = slab::size_class(4608);
  REQUIRE(slab::class_size(odd) == 4608);
  CHECK(slab::take(odd, objs, 1) == 1);
  st = slab::class_stats(odd);
  CHECK(st.slabs == 1);
  CHECK(st.total == 1);
  CHECK(st.span_bytes == 8192);
  const slab::Slab* one = slab::slab_of(pagemap::get(addr(objs[0])));
  CHECK(one->span == 8192);
  CHECK(pagemap::get(one->base + 8191) == pagemap::get(addr(objs[0])));
  slab::give(odd, objs, 1);
  CHECK(slab::class_stats(odd).slabs == 0);
  CHECK(g_heap.check() == nullptr);
}

TEST_CASE("slab: purging free pages of partial slabs keeps live objects and hands parked ones out once") {
  const unsigned c = slab::size_class(500);
  std::vector<void*> objs(1000);
  unsigned got = 0;
  while (got < objs.size()) got += slab::take(c, objs.data() + got, static_cast<unsigned>(objs.size()) - got);
  const size_t size = slab::class_size(c);
  for (size_t i = 0; i < objs.size(); ++i) std::fill_n(static_cast<char*>(objs[i]), size, static_cast<char>(i));
  // Keep every 50th object: most pages hold only free objects.
  std::vector<void*> live, dead;
  for (size_t i = 0; i < objs.size(); ++i) (i % 50 == 0 ? live : dead).push_back(objs[i]);
  slab::give(c, dead.data(), static_cast<unsigned>(dead.size()));
  size_t purged = slab::purge(~uint64_t{0} >> 1, 0, MADV_DONTNEED);
  CHECK(purged > 0);
  CHECK(slab::class_stats(c).purged == purged);
  for (size_t i = 0; i < objs.size(); i += 50) {
    auto* p = static_cast<char*>(objs[i]);
    CHECK(p[0] == static_cast<char>(i));
    CHECK(p[size - 1] == static_cast<char>(i));
  }
  // Take everything free again: each object exactly once, none of the live.
  std::vector<void*> again(dead.size());
  got = 0;
  while (got < again.size()) got += slab::take(c, again.data() + got, static_cast<unsigned>(again.size()) - got);
  std::set<void*> unique(again.begin(), again.end());
  CHECK(unique.size() == again.size());
  for (void* p : live) CHECK(unique.count(p) == 0);
  slab::give(c, again.data(), static_cast<unsigned>(again.size()));
  slab::give(c, live.data(), static_cast<unsigned>(live.size()));
  CHECK(g_heap.check() == nullptr);
}

namespace {
bool resident(uptr a) {
  unsigned char v = 0;
  REQUIRE(mincore(reinterpret_cast<void*>(a & ~uptr{4095}), 4096, &v) == 0);
  return (v & 1) != 0;
}
}  // namespace

TEST_CASE("slab: purge takes the last page of a fully carved slab, and objects freed after a pass are purged by the next") {
  // 320-byte objects do not divide a 64 KiB span (nor a page: the slab is
  // not page packed): its last page holds the tail of the last objects and
  // the unused slack.
  const unsigned c = slab::size_class(320);
  REQUIRE(slab::class_size(c) == 320);
  REQUIRE(!slab::page_packed(320));
  std::vector<void*> objs(800);
  unsigned got = 0;
  while (got < objs.size()) got += slab::take(c, objs.data() + got, static_cast<unsigned>(objs.size()) - got);
  for (void* p : objs) std::fill_n(static_cast<char*>(p), 320, 'x');
  // Keep the objects that lie wholly in the first page of their span; free
  // the rest except a second group, freed after the first pass.
  std::vector<void*> live, first_wave, second_wave;
  std::set<uptr> spans;
  for (void* p : objs) {
    slab::Slab* s = slab::slab_of(pagemap::get(addr(p)));
    REQUIRE(s->capacity == 65536 / 320);
    bool full = s->carved == s->capacity;
    if (full) spans.insert(s->base);
    uptr off = addr(p) - s->base;
    if (off + 320 <= 4096) live.push_back(p);
    else if (off < 32768) first_wave.push_back(p);
    else second_wave.push_back(p);
  }
  REQUIRE(!spans.empty());
  slab::give(c, first_wave.data(), static_cast<unsigned>(first_wave.size()));
  const uint64_t now = ~uint64_t{0} >> 1;
  CHECK(slab::purge(now, 0, MADV_DONTNEED) > 0);
  // The objects of the upper half were out during that pass; now they come
  // back, and the next pass must purge their pages too.
  slab::give(c, second_wave.data(), static_cast<unsigned>(second_wave.size()));
  CHECK(slab::purge(now, 0, MADV_DONTNEED) > 0);
  for (uptr base : spans) {
    CHECK(resident(base));                   // live objects
    CHECK(!resident(base + 8 * 4096));       // freed in the second wave
    CHECK(!resident(base + 15 * 4096));      // the last page of a fully carved slab
  }
  for (void* p : live) CHECK(static_cast<char*>(p)[319] == 'x');
  slab::give(c, live.data(), static_cast<unsigned>(live.size()));
  CHECK(g_heap.check() == nullptr);
}

TEST_CASE("slab: a page-packed slab puts whole objects in each page and rejects the end of a page as an object") {
  for (size_t size : {size_t{576}, size_t{672}, size_t{816}, size_t{448}, size_t{48}}) {
    CAPTURE(size);
    REQUIRE(slab::page_packed(size));
    const unsigned c = slab::size_class(size);
    REQUIRE(slab::class_size(c) == size);
    const size_t per_page = 4096 / size;
    std::vector<void*> objs(300);
    unsigned got = 0;
    while (got < objs.size()) got += slab::take(c, objs.data() + got, static_cast<unsigned>(objs.size()) - got);
    std::set<void*> unique(objs.begin(), objs.end());
    CHECK(unique.size() == objs.size());
    std::set<uptr> pages_seen;
    for (size_t i = 0; i < objs.size(); ++i) {
      uptr p = addr(objs[i]);
      slab::Slab* s = slab::slab_of(pagemap::get(p));
      REQUIRE(s != nullptr);
      CHECK(s->per_unit == per_page);
      CHECK(s->capacity == per_page * 16);  // 64 KiB spans
      // Within one page, and at the index the layout says.
      const uptr first_page = p >> 12, last_page = (p + size - 1) >> 12;
      CHECK(first_page == last_page);
      CHECK(slab::is_object_start(s, p));
      CHECK(!slab::is_object_start(s, p + 16));
      size_t idx = slab::object_index(s, p);
      CHECK(slab::object_at(s, idx) == p);
      const uptr in_page = (s->first & 4095) + idx % per_page * size;
      CHECK((p & 4095) == in_page);
      std::fill_n(static_cast<char*>(objs[i]), size, static_cast<char>(i));
      pages_seen.insert(p >> 12);
    }
    // The end of a page past its last object is no object, even once
    // every slot of that page is carved.
    slab::Slab* s = slab::slab_of(pagemap::get(addr(objs[0])));
    uptr tail = s->first + per_page * size;
    if ((tail & 4095) != 0 && s->carved > per_page) CHECK(!slab::is_object_start(s, tail));
    // Nor is a slot not carved yet, nor anything below the first object.
    slab::Slab* last = slab::slab_of(pagemap::get(addr(objs.back())));
    if (last->carved < last->capacity) {
      CHECK(!slab::is_object_start(last, slab::object_at(last, last->carved)));
      CHECK(slab::is_object_start(last, slab::object_at(last, last->carved - 1)));
    }
    CHECK(!slab::is_object_start(s, s->first - size));
    CHECK(pages_seen.size() >= objs.size() / per_page);
    for (size_t i = 0; i < objs.size(); ++i) {
      CHECK(static_cast<char*>(objs[i])[0] == static_cast<char>(i));
      CHECK(static_cast<char*>(objs[i])[size - 1] == static_cast<char>(i));
    }
    slab::give(c, objs.data(), static_cast<unsigned>(objs.size()));
  }
  CHECK(g_heap.check() == nullptr);
}

TEST_CASE("slab: descriptors are slots of one region that grows 64 KiB at a time; their entries round-trip above kLargeHead") {
  // More descriptors than the free list can hold after the other cases and
  // more than one 64 KiB step (512 slots) of fresh ones.
  constexpr size_t kStep = 64 * 1024;
  slab::DescStats before = slab::desc_stats();
  std::vector<void*> ds;
  std::set<pagemap::Entry> entries;
  for (int i = 0; i < 1500; ++i) {
    void* d = slab::desc_alloc();
    REQUIRE(d != nullptr);
    ds.push_back(d);
  }
  slab::DescStats after = slab::desc_stats();
  REQUIRE(after.reserved >= (size_t{4} << 20));
  CHECK(after.committed % kStep == 0);
  CHECK(after.committed >= before.committed + kStep);
  CHECK(after.used <= after.committed);
  for (void* d : ds) {
    uptr off = addr(d) - slab::g_desc_base;
    CHECK(off % slab::kDescBytes == 0);
    CHECK(off < after.used);
    auto* s = static_cast<slab::Slab*>(d);
    pagemap::Entry e = slab::entry_of(s);
    CHECK(e > pagemap::kLargeHead);
    CHECK(e == off / slab::kDescBytes);
    CHECK(slab::slab_of(e) == s);
    entries.insert(e);
    std::memset(d, 0xa5, slab::kDescBytes);  // every slot handed out is writable
  }
  CHECK(entries.size() == ds.size());
  // Past the committed part the reservation gives no access.
  char* beyond = reinterpret_cast<char*>(slab::g_desc_base + after.committed);
  CHECK(lmtest::signal_of_child([&] { *static_cast<volatile char*>(beyond) = 1; }) == SIGSEGV);
  for (void* d : ds) slab::desc_free(d);
}

TEST_CASE("slab: with the descriptor region used up, take() gets nothing and keeps no span; a freed descriptor is reused") {
  const unsigned chunked = slab::size_class(48), heap_span = slab::size_class(3000);
  REQUIRE(slab::class_stats(chunked).slabs == 0);
  REQUIRE(slab::class_stats(heap_span).slabs == 0);
  // At least one slot handed out and back, if this test runs first (any
  // order): the drain below then finds one to keep back.
  slab::desc_free(slab::desc_alloc());
  slab::desc_limit_for_testing(0);  // no fresh slots
  // The limit goes back whatever happens below: left at 0 by a failed
  // REQUIRE, it failed every later test's slabs (a hang, a crash).
  struct Restore {
    ~Restore() { slab::desc_limit_for_testing(SIZE_MAX); }
  } restore;
  std::vector<void*> drained;      // the free list's
  while (void* d = slab::desc_alloc()) {
    drained.push_back(d);
    REQUIRE(drained.size() < 1000000);
  }
  size_t heap_in_use = g_heap.snapshot().in_use;
  slab::spans::Stats spans_before = slab::spans::stats();
  void* objs[64];
  CHECK(slab::take(chunked, objs, 64) == 0);
  CHECK(slab::take(heap_span, objs, 4) == 0);
  CHECK(slab::class_stats(chunked).slabs == 0);
  CHECK(slab::class_stats(heap_span).slabs == 0);
  CHECK(g_heap.snapshot().in_use == heap_in_use);
  CHECK(slab::spans::stats().free_bytes == spans_before.free_bytes);
  CHECK(g_heap.check() == nullptr);
  // One descriptor back: one slab.
  REQUIRE(!drained.empty());
  slab::desc_free(drained.back());
  drained.pop_back();
  unsigned got = slab::take(heap_span, objs, 4);
  CHECK(got == 4);
  CHECK(slab::class_stats(heap_span).slabs == 1);
  CHECK(slab::take(chunked, objs + 4, 1) == 0);  // that was the only one
  slab::give(heap_span, objs, got);
  slab::desc_limit_for_testing(SIZE_MAX);
  for (void* d : drained) slab::desc_free(d);
  CHECK(slab::take(chunked, objs, 64) == 64);
  slab::give(chunked, objs, 64);
  CHECK(g_heap.check() == nullptr);
}
