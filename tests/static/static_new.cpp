// static_new.cpp: a C++ program, linked -static with libmalloc.a, that
// allocates only through operator new (it never names malloc, and nothing in
// it refers to std::__throw_bad_alloc). Two things used to go wrong here:
// a failing throwing operator new aborted ("no C++ runtime to throw") because
// libmalloc's weak reference did not pull std::__throw_bad_alloc from
// libstdc++.a; and, with operator new in an object of its own, nothing would
// pull libmalloc's malloc, so glibc's malloc.o would serve libc and
// libstdc++ (static_nm.sh checks the binary for that).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what);
    failures++;
  }
}

// Out of reach of any allocator; volatile so no call is folded away.
volatile std::size_t g_huge = std::size_t{1} << 62;
void* volatile g_sink;

template <typename F>
bool throws_bad_alloc(F f) {
  try {
    f();
  } catch (const std::bad_alloc&) {
    return true;
  }
  return false;
}

}  // namespace

int main() {
  // Ordinary use first: the blocks hold what was written.
  char* volatile a = new char[100];
  std::memset(a, 'x', 100);
  int* volatile b = new int(7);
  auto* c = static_cast<unsigned char*>(::operator new(256, std::align_val_t{128}));
  check(reinterpret_cast<std::uintptr_t>(c) % 128 == 0, "aligned operator new is aligned");
  std::memset(c, 0xab, 256);
  check(a[99] == 'x' && *b == 7 && c[255] == 0xab, "blocks keep their contents");
  delete[] a;
  delete b;
  ::operator delete(c, std::align_val_t{128});

  check(throws_bad_alloc([] { g_sink = ::operator new(g_huge); }), "operator new(huge) throws std::bad_alloc");
  check(throws_bad_alloc([] { g_sink = ::operator new[](g_huge); }), "operator new[](huge) throws std::bad_alloc");
  check(throws_bad_alloc([] { g_sink = ::operator new(g_huge, std::align_val_t{64}); }),
        "operator new(huge, align 64) throws std::bad_alloc");
  check(throws_bad_alloc([] { g_sink = ::operator new(16, std::align_val_t{48}); }),
        "operator new(16, align 48) throws std::bad_alloc");
  check(::operator new(g_huge, std::nothrow) == nullptr, "nothrow operator new(huge) returns nullptr");
  if (failures) return 1;
  std::printf("ok: operator new in a -static C++ program throws std::bad_alloc\n");
  return 0;
}
