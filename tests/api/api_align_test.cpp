// api_align_test.cpp: posix_memalign, aligned_alloc, memalign, valloc and
// pvalloc: alignment from 16 to 1 MiB over many sizes, and their errors.
// Not here: plain malloc alignment (api_malloc_test.cpp).
#include <doctest/doctest.h>
#include <malloc.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "api_support.h"
#ifdef LM_TEST_LINKED
#include "pagemap/pagemap.h"
#endif

using apitest::check;
using apitest::fill;
using apitest::is_aligned;
using apitest::opaque;

namespace {
constexpr size_t kKiB = 1024, kMiB = 1024 * 1024;
const size_t kSizes[] = {1, 7, 16, 100, 4096, 10000, 64 * kKiB + 3, 200 * kKiB, kMiB + 1};

enum class Fn { posix_memalign, aligned_alloc, memalign };

void* aligned(Fn fn, size_t alignment, size_t size) {
  switch (fn) {
    case Fn::posix_memalign: {
      void* p = nullptr;
      return posix_memalign(&p, alignment, size) == 0 ? p : nullptr;
    }
    case Fn::aligned_alloc:
      return aligned_alloc(alignment, size);
    case Fn::memalign:
      return memalign(alignment, size);
  }
  return nullptr;
}

// Allocates every size at every power-of-two alignment from 16 to 1 MiB,
// all live at once per alignment, writes each whole usable block, checks
// alignment and that no write damaged a neighbour.
void check_alignments(Fn fn) {
  for (size_t alignment = 16; alignment <= kMiB; alignment *= 2) {
    CAPTURE(alignment);
    std::vector<void*> blocks;
    for (size_t size : kSizes) {
      void* p = aligned(fn, alignment, size);
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, alignment));
      CHECK(malloc_usable_size(p) >= size);
      fill(p, malloc_usable_size(p), static_cast<uint32_t>(size));
      blocks.push_back(p);
    }
    for (size_t i = 0; i < blocks.size(); ++i)
      CHECK(check(blocks[i], malloc_usable_size(blocks[i]), static_cast<uint32_t>(kSizes[i])));
    // realloc of an aligned block keeps the content (alignment need not stay).
    blocks[2] = realloc(blocks[2], 5000);
    REQUIRE(blocks[2] != nullptr);
    CHECK(check(blocks[2], 16, 16));
    for (void* p : blocks) free(p);
  }
}
}  // namespace

TEST_CASE("api: posix_memalign honours every alignment from 16 to 1 MiB") {
  check_alignments(Fn::posix_memalign);
}

TEST_CASE("api: aligned_alloc honours every alignment from 16 to 1 MiB") {
  check_alignments(Fn::aligned_alloc);
}

TEST_CASE("api: memalign honours every alignment from 16 to 1 MiB") {
  check_alignments(Fn::memalign);
}

TEST_CASE("api: small alignments (1 to 8) still give 16-aligned blocks") {
  for (size_t alignment : {1, 2, 4, 8}) {
    CAPTURE(alignment);
    void* a = memalign(alignment, 24);
    REQUIRE(a != nullptr);
    CHECK(is_aligned(a, 16));
    free(a);
  }
  void* p = nullptr;
  REQUIRE(posix_memalign(&p, sizeof(void*), 24) == 0);  // the smallest legal one
  CHECK(is_aligned(p, 16));
  free(p);
}

TEST_CASE("api: posix_memalign rejects a bad alignment with EINVAL") {
  const size_t bad[] = {0, 1, 2, 4, 12, 24, 48, 96, 100, 4097, 3 * 4096, SIZE_MAX};
  for (size_t alignment : bad) {
    CAPTURE(alignment);
    int sentinel = 0;
    void* p = &sentinel;
    CHECK(posix_memalign(&p, opaque(alignment), 64) == EINVAL);
    CHECK(p == &sentinel);  // not modified on failure
  }
}

TEST_CASE("api: posix_memalign reports ENOMEM for a huge request") {
  int sentinel = 0;
  void* p = &sentinel;
  CHECK(posix_memalign(&p, 64, opaque(SIZE_MAX / 2)) == ENOMEM);
  CHECK(posix_memalign(&p, 1 << 20, opaque(SIZE_MAX - 4096)) == ENOMEM);
  CHECK(p == &sentinel);
}

TEST_CASE("api: memalign with a huge alignment fails cleanly") {
  errno = 0;
  CHECK(memalign(opaque(size_t{1} << 62), 16) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(aligned_alloc(opaque(size_t{1} << 62), 16) == nullptr);
  CHECK(errno != 0);
  // glibc 2.36: EINVAL only above 2^63; 2^63 itself, and what rounds up to
  // it, is ENOMEM. posix_memalign leaves *out alone either way.
  for (size_t alignment : {size_t{1} << 63, (size_t{1} << 62) + 1}) {
    CAPTURE(alignment);
    errno = 0;
    CHECK(memalign(opaque(alignment), 10) == nullptr);
    CHECK(errno == ENOMEM);
  }
  errno = 0;
  CHECK(memalign(opaque((size_t{1} << 63) + 1), 10) == nullptr);
  CHECK(errno == EINVAL);
  void* out = &out;
  CHECK(posix_memalign(&out, opaque(size_t{1} << 63), 10) == ENOMEM);
  CHECK(out == &out);
}

TEST_CASE("api: valloc and pvalloc return page-aligned blocks; pvalloc rounds up to pages") {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t size : {size_t{1}, size_t{100}, page - 1, page, page + 1, 3 * page + 17, 300 * kKiB, 2 * kMiB}) {
    CAPTURE(size);
    void* v = valloc(size);
    REQUIRE(v != nullptr);
    CHECK(is_aligned(v, page));
    CHECK(malloc_usable_size(v) >= size);
    fill(v, malloc_usable_size(v), 1);
    void* pv = pvalloc(size);
    REQUIRE(pv != nullptr);
    CHECK(is_aligned(pv, page));
    size_t rounded = (size + page - 1) / page * page;
    CHECK(malloc_usable_size(pv) >= rounded);
    fill(pv, rounded, 2);  // the whole last page is the caller's
    CHECK(check(v, malloc_usable_size(v), 1));
    CHECK(check(pv, rounded, 2));
    free(v);
    free(pv);
  }
  void* z = pvalloc(0);
  CHECK(z != nullptr);
  CHECK(is_aligned(z, page));
  free(z);
}

#ifdef LM_TEST_LINKED
TEST_CASE("api: alignments up to 64 take slab objects for every size up to 32 KiB - 64") {
  // docs/architecture.md: such requests come from a slab class whose size
  // is a multiple of 64. Several blocks per size, so that more than the
  // first object of a slab (which is 64-aligned in any class) is used.
  for (size_t alignment : {32, 64}) {
    for (size_t n = 1; n <= 32768 - 64; n += n < 1024 ? 8 : 500) {
      void* p[8];
      for (void*& q : p) {
        q = memalign(alignment, n);
        REQUIRE(q != nullptr);
        if (!is_aligned(q, alignment) || lm::pagemap::get(reinterpret_cast<uintptr_t>(q)) <= lm::pagemap::kLargeHead) {
          CAPTURE(alignment);
          CAPTURE(n);
          CAPTURE(malloc_usable_size(q));
          FAIL_CHECK("not a slab object");
        }
      }
      for (void* q : p) free(q);
    }
  }
}
#endif

#ifdef LM_TEST_LINKED
TEST_CASE("api: alignments of 128 to 4096 take slab objects up to 32 KiB when the rounding spares a quarter at most") {
  // docs/architecture.md: the request is rounded up to a power of two up to
  // 4 KiB, a multiple of 4 KiB above, whose class has no colour; taken when
  // that is the alignment itself or at most a quarter more than asked, else
  // an aligned heap block (no more than a quarter to spare either). Several
  // blocks per size, so later objects of a slab are checked as well as the
  // first; each is written whole and checked after its neighbours were.
  for (size_t alignment = 128; alignment <= 4096; alignment *= 2) {
    for (size_t n = 1; n <= 32768; n += n < 4096 ? 61 : 1500) {
      size_t m = (n + alignment - 1) / alignment * alignment;
      m = m <= 4096 ? std::bit_ceil(m) : (m + 4095) / 4096 * 4096;
      const bool slab = m <= alignment || m - n <= n / 4;
      void* p[6];
      for (size_t i = 0; i < 6; ++i) {
        void* q = p[i] = aligned(static_cast<Fn>(i % 3), alignment, n);
        REQUIRE(q != nullptr);
        bool is_slab = lm::pagemap::get(reinterpret_cast<uintptr_t>(q)) > lm::pagemap::kLargeHead;
        size_t usable = malloc_usable_size(q);
        if (!is_aligned(q, alignment) || is_slab != slab || usable < n || (!slab && usable - n > n / 4 + 16)) {
          CAPTURE(alignment);
          CAPTURE(n);
          CAPTURE(malloc_usable_size(q));
          FAIL_CHECK("not an aligned slab object");
        }
        fill(q, n, static_cast<uint32_t>(n + i));
      }
      for (size_t i = 0; i < 6; ++i) CHECK(check(p[i], n, static_cast<uint32_t>(n + i)));
      for (void* q : p) free(q);
    }
  }
}
#endif
