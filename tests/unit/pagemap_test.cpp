// Unit tests of the page map.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sys/mman.h>

#include <iterator>

#include "pagemap/pagemap.h"

using namespace lm;

TEST_CASE("pagemap: ranges are set and cleared page by page, across a leaf boundary") {
  uptr base = (uptr{5} << 30) - 3 * 4096;  // straddles the 1 GiB leaf boundary
  CHECK(pagemap::get(base) == pagemap::kNone);
  REQUIRE(pagemap::set_range(base + 10, base + 6 * 4096 - 1, pagemap::kHeap));
  for (int i = 0; i < 6; ++i) CHECK(pagemap::get(base + i * 4096 + 100) == pagemap::kHeap);
  CHECK(pagemap::get(base - 1) == pagemap::kNone);
  CHECK(pagemap::get(base + 6 * 4096) == pagemap::kNone);
  REQUIRE(pagemap::set_range(base + 2 * 4096, base + 3 * 4096, pagemap::kNone));
  CHECK(pagemap::get(base + 2 * 4096) == pagemap::kNone);
  CHECK(pagemap::get(base + 3 * 4096) == pagemap::kHeap);
}

TEST_CASE("pagemap: addresses beyond 47 bits are never ours") {
  CHECK(pagemap::get(uptr{1} << 47) == pagemap::kNone);
  CHECK(pagemap::get(~uptr{0}) == pagemap::kNone);
  CHECK(!pagemap::set_range(uptr{1} << 47, (uptr{1} << 47) + 4096, pagemap::kHeap));
}

TEST_CASE("pagemap: heap segments are ranges; slab pages inside them keep entries; a trimmed end shrinks its range") {
  uptr base = (uptr{7} << 30) + 16;  // a brk-like start, not page aligned
  CHECK(!pagemap::is_heap(base));
  REQUIRE(pagemap::add_heap(base, base + 64 * 4096));
  CHECK(pagemap::is_heap(base));
  CHECK(pagemap::is_heap(base + 64 * 4096 - 1));
  CHECK(!pagemap::is_heap(base + 64 * 4096));
  CHECK(!pagemap::is_heap(base - 1));
  CHECK(pagemap::get(base + 4096) == pagemap::kNone);  // no entry written
  // Growth at the end extends the same range (no new range used).
  unsigned ranges = pagemap::g_heap_range_count.load();
  REQUIRE(pagemap::add_heap(base + 64 * 4096, base + 128 * 4096));
  CHECK(pagemap::g_heap_range_count.load() == ranges);
  CHECK(pagemap::is_heap(base + 100 * 4096));
  // A slab span inside the heap: its pages answer with the descriptor, and
  // when it goes back to the heap (kHeap) the entries are cleared instead.
  uptr span = base - 16 + 8 * 4096;
  pagemap::Entry desc = 0x1000;
  REQUIRE(pagemap::set_range(span, span + 4 * 4096, desc));
  CHECK(pagemap::get(span + 5) == desc);
  CHECK(!pagemap::is_heap(span + 5));
  REQUIRE(pagemap::set_range(span, span + 4 * 4096, pagemap::kHeap));
  CHECK(pagemap::get(span + 5) == pagemap::kNone);
  CHECK(pagemap::is_heap(span + 5));
  // The top is trimmed: the range ends at the trim point, and grows back
  // from there without a new range.
  pagemap::remove_heap(base - 16 + 96 * 4096, base + 128 * 4096);
  CHECK(pagemap::is_heap(base - 16 + 96 * 4096 - 1));
  CHECK(!pagemap::is_heap(base - 16 + 96 * 4096));
  REQUIRE(pagemap::add_heap(base + 96 * 4096 - 16, base + 200 * 4096));
  CHECK(pagemap::g_heap_range_count.load() == ranges);
  CHECK(pagemap::is_heap(base + 150 * 4096));
}

TEST_CASE("pagemap: two trims in a row of a segment whose end is not page aligned both shrink its range") {
  uptr base = (uptr{11} << 30) + 48;  // a break someone left unaligned
  REQUIRE(pagemap::add_heap(base, base + 64 * 4096));
  uptr seg_end = base + 64 * 4096;
  // As Heap::trim_top does: remove [align_up(new_end), seg_end), then the
  // segment ends at new_end.
  auto trim = [&](size_t pages) {
    uptr new_end = seg_end - pages * 4096;
    pagemap::remove_heap((new_end + 4095) & ~uptr{4095}, seg_end);
    seg_end = new_end;
  };
  trim(16);
  CHECK(!pagemap::is_heap(seg_end + 4096));
  trim(16);
  CHECK(pagemap::is_heap(seg_end - 1));
  CHECK(!pagemap::is_heap(seg_end + 4096));
  CHECK(!pagemap::is_heap(seg_end + 10 * 4096));
}

TEST_CASE("pagemap: a leaf page whose entries are all cleared is purged, one still in use is not") {
  uptr base = uptr{9} << 30;  // a leaf of its own
  pagemap::Entry desc = 0x2000;
  // 1024 entries per 4 KiB leaf page: pages [0, 1024) share one leaf page,
  // [1024, 2048) the next.
  REQUIRE(pagemap::set_range(base, base + 2048 * 4096, desc));
  REQUIRE(pagemap::set_range(base, base + 1024 * 4096, pagemap::kNone));
  auto resident = [&](uptr a) {
    pagemap::Leaf* leaf = pagemap::g_root[a >> pagemap::kLeafShift].load();
    auto* entry = reinterpret_cast<char*>(leaf + ((a >> pagemap::kPageShift) & (pagemap::kLeafEntries - 1)));
    unsigned char v = 0;
    REQUIRE(mincore(reinterpret_cast<void*>(reinterpret_cast<uptr>(entry) & ~uptr{4095}), 4096, &v) == 0);
    return (v & 1) != 0;
  };
  CHECK(resident(base));
  size_t purged = pagemap::purge_unused();
  CHECK(purged >= 4096);
  CHECK(!resident(base));             // its entries were all cleared
  CHECK(resident(base + 1100 * 4096));  // still holds entries
  CHECK(pagemap::get(base + 10) == pagemap::kNone);
  CHECK(pagemap::get(base + 1023 * 4096) == pagemap::kNone);
  CHECK(pagemap::get(base + 1100 * 4096) == desc);  // the page still in use kept its entries
  // Purging again finds nothing new on this leaf, and the kept page survives.
  pagemap::purge_unused();
  CHECK(pagemap::get(base + 2047 * 4096) == desc);
  // Leaf pages that were purged read back as kNone and take new entries.
  REQUIRE(pagemap::set_range(base + 3 * 4096, base + 4 * 4096, desc));
  CHECK(pagemap::get(base + 3 * 4096) == desc);
}

TEST_CASE("pagemap: an entry holds any 32-bit value, and neighbouring pages keep their own") {
  uptr base = uptr{13} << 30;
  const pagemap::Entry values[] = {pagemap::kLargeHead + 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678};
  for (size_t i = 0; i < std::size(values); ++i) REQUIRE(pagemap::set_range(base + i * 4096, base + (i + 1) * 4096, values[i]));
  for (size_t i = 0; i < std::size(values); ++i) {
    CHECK(pagemap::get(base + i * 4096) == values[i]);
    CHECK(pagemap::get(base + i * 4096 + 4095) == values[i]);
  }
  CHECK(pagemap::get(base + std::size(values) * 4096) == pagemap::kNone);
  REQUIRE(pagemap::set_range(base, base + std::size(values) * 4096, pagemap::kNone));
}
