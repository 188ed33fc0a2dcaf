// api_malloc_test.cpp: malloc, free, realloc, calloc, reallocarray and
// malloc_usable_size at their edges, with glibc's semantics: zero sizes,
// impossible sizes, overflow, content kept across the mmap threshold, errno.
// Not here: the alignment functions (api_align_test.cpp), C++ (api_cxx_test.cpp).
#include <doctest/doctest.h>
#include <malloc.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "api_support.h"

using apitest::check;
using apitest::fill;
using apitest::opaque;

namespace {
constexpr size_t kKiB = 1024, kMiB = 1024 * 1024;
constexpr size_t kThreshold = 128 * kKiB;
// Sizes around every boundary a glibc-like allocator has: tiny, page,
// just below and at the 128 KiB mmap threshold, and well above it.
const size_t kEdgeSizes[] = {1,     15,    16,    17,     24,     100,     1000,   4095,    4096,
                             4097,  65536, 100000, kThreshold - 1, kThreshold, kThreshold + 1,
                             300000, kMiB, 3 * kMiB + 5};
}  // namespace

TEST_CASE("api: malloc(0) returns unique, non-null, aligned pointers") {
  std::set<void*> seen;
  std::vector<void*> blocks;
  for (int i = 0; i < 200; ++i) {
    void* p = malloc(opaque(size_t{0}));
    REQUIRE(p != nullptr);
    CHECK(apitest::is_aligned(p, 16));
    CHECK(seen.insert(p).second);
    blocks.push_back(p);
  }
  for (void* p : blocks) free(p);
}

TEST_CASE("api: free(NULL) does nothing and leaves errno alone") {
  errno = 4242;
  free(nullptr);
  CHECK(errno == 4242);
}

TEST_CASE("api: realloc(NULL, n) behaves as malloc(n)") {
  for (size_t n : kEdgeSizes) {
    CAPTURE(n);
    void* p = realloc(nullptr, n);
    REQUIRE(p != nullptr);
    CHECK(malloc_usable_size(p) >= n);
    fill(p, n, 3);
    CHECK(check(p, n, 3));
    free(p);
  }
}

TEST_CASE("api: realloc(p, 0) frees and returns NULL") {
  for (size_t n : kEdgeSizes) {
    CAPTURE(n);
    void* p = malloc(n);
    REQUIRE(p != nullptr);
    CHECK(realloc(p, opaque(size_t{0})) == nullptr);
  }
  // (That the block is freed is checked through mallinfo2 in api_glibc_test.)
}

TEST_CASE("api: realloc keeps the content while growing and shrinking across the mmap threshold") {
  // Heap -> mmap -> bigger mmap -> heap -> smaller heap, each step checked.
  const size_t steps[] = {16,        100,    1000,   64 * kKiB, kThreshold - 8, kThreshold,
                          200 * kKiB, kMiB,   4 * kMiB, 300 * kKiB, kThreshold - 16, 100 * kKiB,
                          50 * kKiB, 4096,   24,     1,         kMiB,       40};
  void* p = malloc(steps[0]);
  REQUIRE(p != nullptr);
  fill(p, steps[0], 0);
  size_t size = steps[0];
  for (size_t i = 1; i < sizeof steps / sizeof steps[0]; ++i) {
    size_t next = steps[i];
    CAPTURE(size);
    CAPTURE(next);
    void* q = realloc(p, next);
    REQUIRE(q != nullptr);
    CHECK(apitest::is_aligned(q, 16));
    CHECK(malloc_usable_size(q) >= next);
    CHECK(check(q, size < next ? size : next, static_cast<uint32_t>(i - 1)));
    fill(q, next, static_cast<uint32_t>(i));
    p = q;
    size = next;
  }
  free(p);
}

TEST_CASE("api: realloc growing by small steps keeps every byte written so far") {
  // The pattern of a string builder: many small in-place or moving growths.
  auto* p = static_cast<unsigned char*>(malloc(1));
  REQUIRE(p != nullptr);
  p[0] = 0;
  size_t size = 1;
  int bad = 0;
  for (int step = 0; step < 3000 && bad == 0; ++step) {
    size_t next = size + 97 + static_cast<size_t>(step % 13) * 11;
    auto* q = static_cast<unsigned char*>(realloc(p, next));
    REQUIRE(q != nullptr);
    for (size_t i = size; i < next; ++i) q[i] = static_cast<unsigned char>(i % 251);
    // Spot checks every step, the whole block every 250 steps.
    if (q[0] != 0 || q[size - 1] != (size - 1) % 251) ++bad;
    if (step % 250 == 0)
      for (size_t i = 0; i < next; ++i) bad += q[i] != i % 251;
    p = q;
    size = next;
  }
  CHECK(bad == 0);
  CHECK(size > 300 * kKiB);  // the loop crossed the mmap threshold
  free(p);
}

TEST_CASE("api: a failing realloc returns NULL, sets ENOMEM and keeps the block") {
  for (size_t n : {size_t{64}, 200 * kKiB}) {
    CAPTURE(n);
    void* p = malloc(n);
    REQUIRE(p != nullptr);
    fill(p, n, 9);
    errno = 0;
    CHECK(realloc(p, opaque(SIZE_MAX)) == nullptr);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(realloc(p, opaque(size_t{PTRDIFF_MAX} + 1)) == nullptr);
    CHECK(errno == ENOMEM);
    CHECK(check(p, n, 9));
    free(p);
  }
}

TEST_CASE("api: calloc returns zeroed memory of every size") {
  for (size_t n : kEdgeSizes) {
    CAPTURE(n);
    auto* p = static_cast<unsigned char*>(calloc(1, n));
    REQUIRE(p != nullptr);
    CHECK(apitest::all_bytes(p, n, 0));
    free(p);
  }
  auto* q = static_cast<unsigned char*>(calloc(1000, 33));
  REQUIRE(q != nullptr);
  CHECK(apitest::all_bytes(q, 33000, 0));
  free(q);
}

TEST_CASE("api: calloc zeroes memory that was dirtied and freed before") {
  for (size_t n : kEdgeSizes) {
    CAPTURE(n);
    // Dirty several blocks of this size, free them, then calloc the same
    // size as often: each calloc likely reuses one of the dirty blocks.
    void* dirty[8];
    for (auto& d : dirty) {
      d = malloc(n);
      REQUIRE(d != nullptr);
      memset(d, 0xA5, malloc_usable_size(d));
    }
    for (auto& d : dirty) free(d);
    void* clean[8];
    for (auto& c : clean) {
      c = calloc(n, 1);
      REQUIRE(c != nullptr);
      CHECK(apitest::all_bytes(c, n, 0));
    }
    for (auto& c : clean) free(c);
  }
}

TEST_CASE("api: calloc and reallocarray overflow return NULL with ENOMEM") {
  const size_t half = opaque(SIZE_MAX / 2 + 1);
  errno = 0;
  CHECK(calloc(half, opaque(size_t{2})) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(calloc(opaque(size_t{1} << 32), opaque(size_t{1} << 32)) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(calloc(opaque(SIZE_MAX), opaque(SIZE_MAX)) == nullptr);
  CHECK(errno == ENOMEM);

  errno = 0;
  CHECK(reallocarray(nullptr, half, 2) == nullptr);
  CHECK(errno == ENOMEM);
  void* p = malloc(100);
  REQUIRE(p != nullptr);
  fill(p, 100, 5);
  errno = 0;
  CHECK(reallocarray(p, opaque(size_t{1} << 33), size_t{1} << 33) == nullptr);
  CHECK(errno == ENOMEM);
  CHECK(check(p, 100, 5));  // the block is untouched
  void* q = reallocarray(p, 50, 4);
  REQUIRE(q != nullptr);
  CHECK(malloc_usable_size(q) >= 200);
  CHECK(check(q, 100, 5));
  free(q);
}

TEST_CASE("api: impossible sizes return NULL with ENOMEM") {
  const size_t impossible[] = {SIZE_MAX, SIZE_MAX - 15, size_t{PTRDIFF_MAX} + 1, size_t{PTRDIFF_MAX},
                               size_t{1} << 62};
  for (size_t n : impossible) {
    CAPTURE(n);
    n = opaque(n);
    errno = 0;
    CHECK(malloc(n) == nullptr);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(calloc(1, n) == nullptr);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(realloc(nullptr, n) == nullptr);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(memalign(64, n) == nullptr);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(aligned_alloc(4096, n) == nullptr);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(valloc(n) == nullptr);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(pvalloc(n) == nullptr);
    CHECK(errno == ENOMEM);
    void* sentinel = &errno;
    void* out = sentinel;
    CHECK(posix_memalign(&out, 64, n) == ENOMEM);
    CHECK(out == sentinel);  // not modified on failure
  }
}

TEST_CASE("api: every result is aligned to 16") {
  std::vector<void*> blocks;
  for (size_t n = 0; n <= 1100; ++n) blocks.push_back(malloc(n));
  for (size_t n = 1; n < 4 * kMiB; n = n * 5 / 3 + 7) blocks.push_back(malloc(n));
  for (size_t n = 1; n < 300 * kKiB; n = n * 3 + 1) blocks.push_back(calloc(n, 1));
  int misaligned = 0, null = 0;
  for (void* p : blocks) {
    null += p == nullptr;
    misaligned += !apitest::is_aligned(p, 16);
  }
  CHECK(null == 0);
  CHECK(misaligned == 0);
  for (auto& p : blocks) {
    p = realloc(p, 40);
    CHECK(apitest::is_aligned(p, 16));
    free(p);
  }
}

TEST_CASE("api: malloc_usable_size covers the request and all of it is writable") {
  CHECK(malloc_usable_size(nullptr) == 0);
  std::vector<void*> blocks;
  for (size_t n = 0; n <= 2100; ++n) blocks.push_back(malloc(n));
  for (size_t n = 2100; n < 8 * kMiB; n = n * 9 / 7) blocks.push_back(malloc(n));
  int too_small = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    void* p = blocks[i];
    REQUIRE(p != nullptr);
    size_t usable = malloc_usable_size(p);
    too_small += usable < (i <= 2100 ? i : 2100);
    fill(p, usable, static_cast<uint32_t>(i));  // every usable byte
  }
  CHECK(too_small == 0);
  int damaged = 0;
  for (size_t i = 0; i < blocks.size(); ++i)
    damaged += !check(blocks[i], malloc_usable_size(blocks[i]), static_cast<uint32_t>(i));
  CHECK(damaged == 0);  // writing a block's usable tail damaged no neighbour
  for (void* p : blocks) free(p);
}

TEST_CASE("api: successful calls leave errno unchanged") {
  errno = 4242;
  for (size_t n : kEdgeSizes) {
    void* p = malloc(n);
    void* c = calloc(n, 1);
    p = realloc(p, n * 2 + 1);
    p = realloc(p, n / 2 + 1);
    void* a = memalign(256, n);
    void* v = valloc(n);
    void* pv = pvalloc(n);
    void* aa = aligned_alloc(64, n);
    void* pm = nullptr;
    CHECK(posix_memalign(&pm, 128, n) == 0);
    void* ra = reallocarray(nullptr, n, 3);
    (void)malloc_usable_size(p);
    for (void* x : {p, c, a, v, pv, aa, pm, ra}) {
      CHECK(x != nullptr);
      free(x);
    }
  }
  void* z = malloc(10);
  CHECK(realloc(z, 0) == nullptr);
  free(nullptr);
  (void)malloc_trim(0);
  CHECK(errno == 4242);
}
