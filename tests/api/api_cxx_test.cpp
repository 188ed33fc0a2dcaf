// api_cxx_test.cpp: every C++ operator new and delete form (plain, array,
// nothrow, sized, align_val_t): alignment, failure (bad_alloc or nullptr),
// the new_handler protocol, and that malloc_usable_size sees the blocks.
// Not here: the C functions.
#include <doctest/doctest.h>
#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <set>
#include <vector>

#include "api_support.h"

using apitest::check;
using apitest::fill;
using apitest::is_aligned;
using apitest::opaque;

namespace {
constexpr size_t kKiB = 1024, kMiB = 1024 * 1024;
const size_t kSizes[] = {0, 1, 16, 100, 4096, 100 * kKiB, 200 * kKiB, 2 * kMiB};

struct alignas(256) Wide {
  unsigned char bytes[256];
};

void* volatile g_sink;  // takes results that a test expects never to get

int g_handler_calls = 0;
void handler_then_give_up() {
  ++g_handler_calls;
  std::set_new_handler(nullptr);  // the next failure throws
}
// The standard's other way for a handler to give up.
void handler_that_throws() {
  ++g_handler_calls;
  throw std::bad_alloc();
}
}  // namespace

TEST_CASE("api: plain, array, nothrow and sized operator new/delete round-trip") {
  for (size_t n : kSizes) {
    CAPTURE(n);
    void* a = ::operator new(n);
    void* b = ::operator new[](n);
    void* c = ::operator new(n, std::nothrow);
    void* d = ::operator new[](n, std::nothrow);
    for (void* p : {a, b, c, d}) {
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, 16));
      CHECK(malloc_usable_size(p) >= n);
      fill(p, n, static_cast<uint32_t>(n));
    }
    for (void* p : {a, b, c, d}) CHECK(check(p, n, static_cast<uint32_t>(n)));
    ::operator delete(a);
    ::operator delete[](b, n);
    ::operator delete(c, std::nothrow);
    ::operator delete[](d, std::nothrow);
    void* e = ::operator new(n);
    ::operator delete(e, n);
  }
}

TEST_CASE("api: operator new(0) returns distinct pointers") {
  std::set<void*> seen;
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) {
    void* p = ::operator new(opaque(size_t{0}));
    CHECK(seen.insert(p).second);
    blocks.push_back(p);
  }
  for (void* p : blocks) ::operator delete(p);
}

TEST_CASE("api: align_val_t forms honour alignments from 16 to 1 MiB") {
  for (size_t alignment = 16; alignment <= kMiB; alignment *= 2) {
    CAPTURE(alignment);
    auto al = std::align_val_t{alignment};
    for (size_t n : {size_t{1}, size_t{64}, size_t{5000}, 300 * kKiB}) {
      CAPTURE(n);
      void* a = ::operator new(n, al);
      void* b = ::operator new[](n, al);
      void* c = ::operator new(n, al, std::nothrow);
      void* d = ::operator new[](n, al, std::nothrow);
      for (void* p : {a, b, c, d}) {
        REQUIRE(p != nullptr);
        CHECK(is_aligned(p, alignment));
        fill(p, n, 7);
      }
      for (void* p : {a, b, c, d}) CHECK(check(p, n, 7));
      ::operator delete(a, n, al);
      ::operator delete[](b, al);
      ::operator delete(c, al, std::nothrow);
      ::operator delete[](d, n, al);
    }
  }
}

TEST_CASE("api: new-expressions of over-aligned types use the aligned forms") {
  auto* one = new Wide;
  auto* many = new Wide[7];
  CHECK(is_aligned(one, 256));
  CHECK(is_aligned(many, 256));
  memset(many, 0x3C, sizeof(Wide) * 7);
  delete one;
  delete[] many;
  std::vector<Wide> v(33);
  CHECK(is_aligned(v.data(), 256));
}

TEST_CASE("api: operator new throws std::bad_alloc for an impossible size") {
  const size_t huge = opaque(SIZE_MAX / 2);
  CHECK_THROWS_AS(g_sink = ::operator new(huge), std::bad_alloc);
  CHECK_THROWS_AS(g_sink = ::operator new[](huge), std::bad_alloc);
  CHECK_THROWS_AS(g_sink = ::operator new(huge, std::align_val_t{64}), std::bad_alloc);
  CHECK_THROWS_AS(g_sink = ::operator new[](huge, std::align_val_t{4096}), std::bad_alloc);
  CHECK_THROWS_AS(g_sink = ::operator new(opaque(SIZE_MAX)), std::bad_alloc);
}

TEST_CASE("api: nothrow operator new returns nullptr for an impossible size") {
  const size_t huge = opaque(SIZE_MAX / 2);
  CHECK(::operator new(huge, std::nothrow) == nullptr);
  CHECK(::operator new[](huge, std::nothrow) == nullptr);
  CHECK(::operator new(huge, std::align_val_t{64}, std::nothrow) == nullptr);
  CHECK(::operator new[](huge, std::align_val_t{64}, std::nothrow) == nullptr);
}

TEST_CASE("api: a failing operator new calls the new_handler before throwing") {
  g_handler_calls = 0;
  std::new_handler old = std::set_new_handler(handler_then_give_up);
  CHECK_THROWS_AS(g_sink = ::operator new(opaque(SIZE_MAX / 2)), std::bad_alloc);
  CHECK(g_handler_calls == 1);
  std::set_new_handler(old);
}

TEST_CASE("api: a failing nothrow operator new calls the new_handler before returning nullptr") {
  g_handler_calls = 0;
  std::new_handler old = std::set_new_handler(handler_then_give_up);
  CHECK(::operator new(opaque(SIZE_MAX / 2), std::nothrow) == nullptr);
  CHECK(g_handler_calls == 1);
  std::set_new_handler(old);
}

TEST_CASE("api: blocks from new and malloc coexist in standard containers") {
  std::vector<std::vector<int>> nested;
  for (int i = 0; i < 2000; ++i) nested.emplace_back(static_cast<size_t>(i % 300), i);
  long sum = 0;
  for (auto& v : nested)
    for (int x : v) sum += x;
  long expect = 0;
  for (int i = 0; i < 2000; ++i) expect += static_cast<long>(i % 300) * i;
  CHECK(sum == expect);
}

TEST_CASE("api: every nothrow operator new returns nullptr when the new_handler throws bad_alloc") {
  // libstdc++'s nothrow forms catch it; thrown through a noexcept function
  // it would end the program in std::terminate.
  std::new_handler old = std::set_new_handler(handler_that_throws);
  const size_t huge = opaque(SIZE_MAX / 2);
  g_handler_calls = 0;
  CHECK(::operator new(huge, std::nothrow) == nullptr);
  CHECK(::operator new[](huge, std::nothrow) == nullptr);
  CHECK(::operator new(huge, std::align_val_t{64}, std::nothrow) == nullptr);
  CHECK(::operator new[](huge, std::align_val_t{4096}, std::nothrow) == nullptr);
  CHECK(g_handler_calls == 4);
  // The throwing forms let it through.
  CHECK_THROWS_AS(g_sink = ::operator new(huge), std::bad_alloc);
  CHECK(g_handler_calls == 5);
  std::set_new_handler(old);
}

TEST_CASE("api: an alignment that is not a power of two fails without calling the new_handler") {
  std::new_handler old = std::set_new_handler(handler_then_give_up);
  g_handler_calls = 0;
  CHECK_THROWS_AS(g_sink = ::operator new(16, std::align_val_t{48}), std::bad_alloc);
  CHECK(::operator new[](16, std::align_val_t{24}, std::nothrow) == nullptr);
  CHECK(g_handler_calls == 0);
  std::set_new_handler(old);
}
