// Unit tests of the platform layer: the allocation-free formatter, mappings.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include "os/os.h"

using namespace lm;

namespace {
std::string fmt(const char* f, auto... args) {
  char buf[256];
  os::format(buf, sizeof buf, f, args...);
  return buf;
}
}  // namespace

TEST_CASE("os: format agrees with snprintf on every supported conversion") {
  char ref[256];
  auto same = [&](const std::string& got, const char* f, auto... args) {
    std::snprintf(ref, sizeof ref, f, args...);
    CHECK(got == std::string(ref));
  };
  same(fmt("%d|%i|%u", -42, 7, 42u), "%d|%i|%u", -42, 7, 42u);
  same(fmt("%ld|%lu|%zu|%zd", LONG_MIN, ULONG_MAX, SIZE_MAX, (ssize_t)-5), "%ld|%lu|%zu|%zd", LONG_MIN, ULONG_MAX, SIZE_MAX, (ssize_t)-5);
  same(fmt("%x|%lx|%zx", 0xbeefu, 0xdeadbeefcafeul, (size_t)255), "%x|%lx|%zx", 0xbeefu, 0xdeadbeefcafeul, (size_t)255);
  same(fmt("[%8d][%-8d][%08d][%-6s][%6s][%c]", 42, 42, -42, "ab", "ab", 'z'), "[%8d][%-8d][%08d][%-6s][%6s][%c]", 42, 42, -42, "ab", "ab", 'z');
  same(fmt("%p", (void*)0x1234abcd), "%p", (void*)0x1234abcd);
  same(fmt("100%% %s", "sure"), "100%% %s", "sure");
}

TEST_CASE("os: format truncates to the buffer and terminates") {
  char buf[8];
  size_t n = os::format(buf, sizeof buf, "%s", "abcdefghijkl");
  CHECK(n == 7);
  CHECK(std::string(buf) == "abcdefg");
}

TEST_CASE("os: Writer writes everything to its descriptor, past its buffer size") {
  FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    os::Writer w(fileno(f));
    for (int i = 0; i < 500; ++i) w.printf("line %04d\n", i);
  }
  std::rewind(f);
  char line[64];
  int count = 0;
  while (std::fgets(line, sizeof line, f)) {
    char want[64];
    std::snprintf(want, sizeof want, "line %04d\n", count);
    CHECK(std::string(line) == want);
    ++count;
  }
  CHECK(count == 500);
  std::fclose(f);
}

TEST_CASE("os: map returns zeroed writable memory and keeps errno") {
  errno = 1234;
  size_t size = 16 * os::page_size();
  auto* p = static_cast<unsigned char*>(os::map(size));
  REQUIRE(p);
  for (size_t i = 0; i < size; i += 512) CHECK(p[i] == 0);
  std::memset(p, 0xab, size);
  CHECK(os::purge(p, size));
  for (size_t i = 0; i < size; i += 512) CHECK(p[i] == 0);
  void* q = os::remap(p, size, 2 * size, true);
  REQUIRE(q);
  os::unmap(q, 2 * size);
  CHECK(errno == 1234);
}
