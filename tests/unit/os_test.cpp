// Unit tests of the platform layer: the allocation-free formatter, mappings.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "os/os.h"
#include "support/child.h"

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

// SOCK_SEQPACKET keeps each write(2) a message of its own.
TEST_CASE("os: Writer's writes end at line ends when its buffer fills") {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
  {
    os::Writer w(sv[0]);
    for (int i = 0; i < 100; ++i) w.printf("row %03d of a table that is wider than most, %s\n", i, "padded out");
    std::string long_line(3000, 'x');
    w.printf("%s\n", long_line.c_str());
  }
  close(sv[0]);
  std::string all;
  int messages = 0;
  char buf[8192];
  ssize_t n;
  while ((n = recv(sv[1], buf, sizeof buf, 0)) > 0) {
    ++messages;
    std::string msg(buf, static_cast<size_t>(n));
    CAPTURE(msg);
    // Only the 3000-byte line, longer than the buffer, may be cut.
    if (msg.find("row ") != std::string::npos) CHECK(msg.back() == '\n');
    all += msg;
  }
  close(sv[1]);
  CHECK(messages > 3);
  CHECK(all.size() == 100 * std::strlen("row 000 of a table that is wider than most, padded out\n") + 3001);
  CHECK(all.rfind("row 099 of a table that is wider than most, padded out\n") != std::string::npos);
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

TEST_CASE("os: a reservation gives no access until commit opens part of it") {
  constexpr size_t kGiB = size_t{1} << 30, kStep = 64 * 1024;
  errno = 1234;
  size_t size = kGiB;
  auto* p = static_cast<char*>(os::reserve(&size, 16 << 20));
  REQUIRE(p);
  CHECK(size == kGiB);
  CHECK(lmtest::signal_of_child([&] { *static_cast<volatile char*>(p) = 1; }) == SIGSEGV);
  REQUIRE(os::commit(p, kStep));
  for (size_t i = 0; i < kStep; i += 512) CHECK(p[i] == 0);
  std::memset(p, 0xab, kStep);
  CHECK(lmtest::signal_of_child([&] { static_cast<volatile char*>(p)[kStep] = 1; }) == SIGSEGV);
  REQUIRE(os::commit(p + kStep, kStep));  // the next step, as the descriptor pool grows
  CHECK(p[kStep - 1] == static_cast<char>(0xab));
  CHECK(p[2 * kStep - 1] == 0);
  os::unmap(p, size);
  CHECK(errno == 1234);
}

namespace {
// Bytes of address space this process has mapped (VmSize).
size_t vm_size() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f) {
    if (std::fscanf(f, "%lu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return pages * os::page_size();
}
}  // namespace

TEST_CASE("os: under an address-space limit a reservation halves down to its floor, then fails") {
  // In a child: the limit stays there. Exit code 0: all as expected.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    constexpr size_t kMiB = size_t{1} << 20;
    rlimit lim{};
    lim.rlim_cur = lim.rlim_max = vm_size() + 100 * kMiB;
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(10);
    size_t size = 1024 * kMiB;
    void* p = os::reserve(&size, 16 * kMiB);
    if (!p) _exit(11);
    if (size != 64 * kMiB) _exit(12);  // 1024, 512, 256, 128 refused
    os::unmap(p, size);
    lim.rlim_cur = lim.rlim_max = vm_size() + 8 * kMiB;
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(13);
    size = 1024 * kMiB;
    if (os::reserve(&size, 16 * kMiB) != nullptr) _exit(14);
    if (size != 1024 * kMiB) _exit(15);  // untouched on failure
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
