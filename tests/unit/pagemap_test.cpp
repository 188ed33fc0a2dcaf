// Unit tests of the page map.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

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
