// api_libmalloc_test.cpp: libmalloc's own behaviour, skipped against glibc:
// it is the allocator in use, its extensions (include/libmalloc.h),
// LIBMALLOC_OPTIONS (help, verbose, stats, log_path, bad input) and the
// glibc-style abort on corruption, each checked in a child process.
#include <algorithm>
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api_support.h"
#include "libmalloc.h"

using apitest::contains;
using apitest::lines;
using apitest::opaque;
using apitest::run_self;

namespace {

size_t count_lines_with(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (const std::string& line : lines(text)) n += contains(line, needle);
  return n;
}

// Runs a corruption child mode and checks its fatal report: SIGABRT,
// exactly one line on stderr, starting "libmalloc: FUNC(): " and naming the
// pointer the child printed. Twice: plain, and with MALLOC_PERTURB_ set
// (free then fills blocks, which must not happen before the pointer is
// validated), unless `perturbed` is false (a perturb byte turns the thread
// caches off: no bin to damage).
void check_fatal_report(const std::vector<std::string>& mode, const char* func, const char* kind,
                        bool perturbed = true) {
  for (std::string perturb : {"MALLOC_PERTURB_=0", "MALLOC_PERTURB_=87"}) {
    if (!perturbed && perturb != "MALLOC_PERTURB_=0") continue;
    CAPTURE(perturb);
    auto r = run_self(mode, {perturb});
    CAPTURE(r.out);
    CAPTURE(r.err);
    CAPTURE(r.status);
    CHECK(r.aborted());
    std::string pointer = r.out.substr(0, r.out.find('\n'));
    CHECK(pointer.rfind("0x", 0) == 0);
    auto err_lines = lines(r.err);
    CHECK(err_lines.size() == 1);
    if (err_lines.empty()) continue;
    const std::string& line = err_lines[0];
    CHECK(line.rfind(std::string("libmalloc: ") + func + "(): ", 0) == 0);
    CHECK(contains(line, kind));
    CHECK(contains(line, pointer));
  }
}

void* g_sink;

}  // namespace

// Corruption child modes: each prints the pointer it misuses, then misuses it.
CHILD_MODE("double-free") {
  size_t n = strtoul(args.at(0).c_str(), nullptr, 10);
  void* p = malloc(n);
  void* other = malloc(n);  // a live neighbour, so the block is not the last
  printf("%s\n", apitest::hex_pointer(p).c_str());
  fflush(stdout);
  free(p);
  free(opaque(p));
  g_sink = other;
  return 0;
}

// A block freed, sent back to its slab by malloc_trim, taken back into the
// thread's bin by a refill (a later malloc of its class), then freed again.
CHILD_MODE("double-free-refilled") {
  void* a[8];
  for (void*& p : a) p = malloc(64);
  for (void* p : a) free(p);
  malloc_trim(0);
  void* x = malloc(64);
  void* victim = nullptr;
  for (void* p : a)
    if (p != x) {
      victim = p;
      break;
    }
  printf("%s\n", apitest::hex_pointer(victim).c_str());
  fflush(stdout);
  free(opaque(victim));
  g_sink = x;
  return 0;
}

// A 64 KiB block freed by one thread is parked by it (kept for its next
// malloc); another thread frees it again, or the program reallocs it.
CHILD_MODE("double-free-other-thread") {
  void* p = malloc(65536);
  void* other = malloc(65536);  // a live neighbour
  printf("%s\n", apitest::hex_pointer(p).c_str());
  fflush(stdout);
  free(p);
  std::thread t([p] { free(opaque(p)); });
  t.join();
  g_sink = other;
  return 0;
}

// `slab-list-written KIND`: 3000 objects of 48 bytes freed (most reach their
// slabs' free lists), then one of them written through a dangling pointer
// (KIND zero: cleared; KIND link: its first word pointed at another freed
// object), then 3000 more mallocs. The slab's list was followed blindly:
// cleared, it was cut and malloc spun forever under the class lock; pointed
// elsewhere, malloc handed out live blocks again.
CHILD_MODE("slab-list-written") {
  static void* v[3000];
  for (void*& p : v) p = malloc(48);
  for (void* p : v) free(p);
  void* victim = v[100];
  printf("%s\n", apitest::hex_pointer(victim).c_str());
  fflush(stdout);
  if (args.at(0) == "zero") memset(opaque(victim), 0, 48);
  else *static_cast<void**>(opaque(victim)) = v[99];
  for (int i = 0; i < 3000; ++i) g_sink = malloc(48);
  return 0;
}

// A freed 40-byte object realloc'ed to n bytes (40 when not given): to a
// size of its own class, kept in place, it was handed back as live (and the
// next malloc returned it too); to another class, it must be reported
// before its freed bytes are copied anywhere.
CHILD_MODE("realloc-freed-small") {
  size_t n = args.empty() ? 40 : strtoul(args.at(0).c_str(), nullptr, 10);
  void* p = malloc(40);
  void* other = malloc(40);
  printf("%s\n", apitest::hex_pointer(p).c_str());
  fflush(stdout);
  free(p);
  g_sink = realloc(opaque(p), n);
  g_sink = other;
  return 0;
}

// realloc of a pointer 16 bytes into an n-byte block, to m bytes.
CHILD_MODE("realloc-interior") {
  size_t n = strtoul(args.at(0).c_str(), nullptr, 10), m = strtoul(args.at(1).c_str(), nullptr, 10);
  char* p = static_cast<char*>(malloc(n));
  void* q = opaque(static_cast<void*>(p + 16));
  printf("%s\n", apitest::hex_pointer(q).c_str());
  fflush(stdout);
  g_sink = realloc(q, m);
  return 0;
}

// A string exactly the block's usable size copied with its NUL: the NUL
// lands on the next heap block's size byte and clears its in-use bit. It
// was reported as a plain double free.
CHILD_MODE("heap-off-by-one") {
  char* p = static_cast<char*>(malloc(50000));
  char* q = static_cast<char*>(malloc(50000));
  size_t u = malloc_usable_size(p);
  printf("%s\n", apitest::hex_pointer(p).c_str());
  fflush(stdout);
  memset(p, 'x', u);
  p[opaque(u)] = '\0';  // one byte too many
  free(opaque(p));
  g_sink = q;
  return 0;
}

// An overflow from p rewrites the size of the freed block a above it (parked
// by the thread in fast mode, in the heap's bins with perturb) to cover the
// live blocks g and b too; then the program allocates blocks of a's size.
CHILD_MODE("heap-freed-size-overflow") {
  constexpr size_t kSize = 50000;
  char* p = static_cast<char*>(malloc(kSize));
  char* a = static_cast<char*>(malloc(kSize));
  char* g = static_cast<char*>(malloc(kSize));
  char* b = static_cast<char*>(malloc(kSize));
  char* guard = static_cast<char*>(malloc(kSize));  // a live block past a's new end
  memset(g, 'G', kSize);
  printf("%s\n", apitest::hex_pointer(a).c_str());
  fflush(stdout);
  free(a);
  size_t u = malloc_usable_size(p);
  size_t* size_word = reinterpret_cast<size_t*>(p + opaque(u));  // a's size field
  *size_word += 2 * (malloc_usable_size(g) + sizeof(size_t));  // two blocks: g and b
  char* big = static_cast<char*>(malloc(3 * kSize));  // does not fit a
  if (big) memset(big, 1, 3 * kSize);
  for (int i = 0; i < 8; ++i) {
    char* v = static_cast<char*>(malloc(kSize));
    if (v) memset(v, 'V', kSize);
    g_sink = v;
  }
  for (size_t i = 0; i < kSize; ++i)
    if (g[i] != 'G') {
      printf("the live block was handed out again\n");
      return 1;
    }
  g_sink = b;
  g_sink = guard;
  return 0;
}

// An overflow from a grows the size of the free block b above it a little
// (b in the heap's bins: the thread parked another block after it), then
// the program allocates b's size: carving b wrote a free block's header
// into the live block c.
CHILD_MODE("heap-binned-size-grown") {
  constexpr size_t kSize = 40000;
  char* a = static_cast<char*>(malloc(kSize));
  char* b = static_cast<char*>(malloc(kSize));
  char* c = static_cast<char*>(malloc(kSize));
  char* guard = static_cast<char*>(malloc(kSize));
  memset(c, 'C', kSize);
  printf("%s\n", apitest::hex_pointer(b).c_str());
  fflush(stdout);
  free(b);
  free(opaque(malloc(70000)));  // parked in b's place: b goes to its bin
  reinterpret_cast<size_t*>(a + opaque(malloc_usable_size(a)))[0] += 0x3a0;  // b's size
  g_sink = malloc(kSize);
  for (size_t i = 0; i < kSize; ++i)
    if (c[i] != 'C') {
      printf("the heap wrote into a live block\n");
      return 1;
    }
  g_sink = guard;
  return 0;
}

// A stale double free of g after g merged into the top and the top handed
// its bytes out again: parked, g was later handed out while the top handed
// out the same memory.
CHILD_MODE("heap-double-free-into-top") {
  constexpr size_t kSize = 40000;
  char* b = static_cast<char*>(malloc(kSize));
  char* c = static_cast<char*>(malloc(kSize));
  char* g = static_cast<char*>(malloc(kSize));
  printf("%s\n", apitest::hex_pointer(g).c_str());
  fflush(stdout);
  free(c);
  free(g);
  free(opaque(malloc(70000)));  // carved at c: g's old header lies inside it
  free(opaque(g));
  char* p = static_cast<char*>(malloc(kSize));
  char* q = static_cast<char*>(malloc(kSize));
  if (p == q) printf("the same block was handed out twice\n");
  g_sink = b;
  return 1;
}

// An overflow from the highest block into the top's header enlarges the
// top; then malloc_trim. (A trim gave back the pages of live blocks, then
// crashed.)
CHILD_MODE("heap-top-size-grown") {
  constexpr size_t kSize = 40000;
  setvbuf(stdout, nullptr, _IONBF, 0);  // nothing allocated after v: v[63] stays below the top
  char* v[64];
  for (char*& p : v) {
    p = static_cast<char*>(malloc(kSize));
    memset(p, 'A', kSize);
  }
  char* last = v[63];
  size_t u = malloc_usable_size(last);
  printf("%p\n", static_cast<void*>(last + u + sizeof(size_t)));  // the top's address
  reinterpret_cast<size_t*>(last + opaque(u))[0] += size_t{1} << 20;
  malloc_trim(0);
  g_sink = malloc(60000);
  for (char* p : v)
    if (p[0] != 'A') printf("a live block was lost\n");
  return 1;
}

// A write after free over the first two words of a small object in the
// thread's bin (a program's `p->next = NULL` after free), then the bin fills
// and flushes its older half, or (with "trim") malloc_trim empties it; then
// as many blocks again, which must all be distinct and writable.
CHILD_MODE("bin-object-written") {
  constexpr int kCount = 2000;
  static void* tmp[kCount];
  for (void*& p : tmp) p = malloc(64);
  for (int i = 1; i < 4; ++i) free(tmp[i]);
  free(tmp[0]);
  static_cast<uint64_t*>(opaque(tmp[0]))[0] = 0;
  static_cast<uint64_t*>(opaque(tmp[0]))[1] = 0x4141414141414141;
  if (!args.empty() && args[0] == "trim") malloc_trim(0);
  for (int i = 4; i < kCount; ++i) free(tmp[i]);
  for (int i = 0; i < kCount; ++i) {
    tmp[i] = malloc(64);
    if (!tmp[i]) return 2;
    memset(tmp[i], i & 0xff, 64);
  }
  std::sort(tmp, tmp + kCount);
  bool distinct = std::adjacent_find(tmp, tmp + kCount) == tmp + kCount;
  printf("%s\n", distinct ? "distinct" : "repeated");
  for (void* p : tmp) free(p);
  return 0;
}

CHILD_MODE("realloc-after-free") {
  void* p = malloc(65536);
  void* other = malloc(65536);
  printf("%s\n", apitest::hex_pointer(p).c_str());
  fflush(stdout);
  free(p);
  g_sink = realloc(opaque(p), 60000);
  g_sink = other;
  return 0;
}

CHILD_MODE("free-stack") {
  char on_stack[64];
  void* p = opaque(static_cast<void*>(on_stack + 16));
  printf("%s\n", apitest::hex_pointer(p).c_str());
  fflush(stdout);
  free(p);
  return 0;
}

CHILD_MODE("free-interior") {
  size_t n = strtoul(args.at(0).c_str(), nullptr, 10);
  char* p = static_cast<char*>(malloc(n));
  void* q = opaque(static_cast<void*>(p + 16));
  printf("%s\n", apitest::hex_pointer(q).c_str());
  fflush(stdout);
  free(q);
  return 0;
}

// malloc_usable_size of a pointer `offset` bytes into an n-byte block.
CHILD_MODE("usable-interior") {
  size_t n = strtoul(args.at(0).c_str(), nullptr, 10), offset = strtoul(args.at(1).c_str(), nullptr, 10);
  char* p = static_cast<char*>(malloc(n));
  memset(p, 0, n);
  void* q = opaque(static_cast<void*>(p + offset));
  printf("%s\n", apitest::hex_pointer(q).c_str());
  fflush(stdout);
  printf("%zu\n", malloc_usable_size(q));
  return 0;
}

CHILD_MODE("realloc-stack") {
  char on_stack[64];
  void* p = opaque(static_cast<void*>(on_stack + 16));
  printf("%s\n", apitest::hex_pointer(p).c_str());
  fflush(stdout);
  g_sink = realloc(p, 100);
  return 0;
}

// Overwrites the 16 bytes before a block (its header, for heap and mapped
// blocks), then frees it.
CHILD_MODE("smash-header") {
  size_t n = strtoul(args.at(0).c_str(), nullptr, 10);
  char* p = static_cast<char*>(malloc(n));
  void* keep = malloc(n);  // a live neighbour
  printf("%s\n", apitest::hex_pointer(p).c_str());
  fflush(stdout);
  memset(opaque(p) - 16, 0x41, 16);
  free(p);
  g_sink = keep;
  return 0;
}

CHILD_MODE("pid") {
  void* p = malloc(1000);
  void* q = malloc(1 << 20);
  printf("%d\n", static_cast<int>(getpid()));
  free(p);
  free(q);
  return 0;
}

#ifndef LM_TEST_LINKED
// Whether the page holding p is mapped in this process: bit 63 of its
// /proc/self/pagemap entry (readable without privileges), or -1.
int page_present(const void* p) {
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  uint64_t entry = 0;
  off_t at = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / 4096 * sizeof entry);
  ssize_t got = pread(fd, &entry, sizeof entry, at);
  close(fd);
  return got == sizeof entry ? static_cast<int>(entry >> 63) : -1;
}

// The fast mode's traffic (every size range, alignment, realloc, threads
// that free each other's blocks and exit, fork, trim, the info calls), then
// whether the pages of malloc and of the last of the redzone's code are
// mapped: "malloc REDZONE", each 1 or 0.
CHILD_MODE("text-pages") {
  std::vector<void*> blocks;
  for (size_t n = 1; n <= (4u << 20); n = n * 5 / 4 + 1) blocks.push_back(malloc(n));
  for (size_t a = 16; a <= 65536; a *= 4) blocks.push_back(aligned_alloc(a, a * 3));
  blocks.push_back(calloc(1000, 100));
  blocks.push_back(realloc(malloc(100), 200000));
  std::vector<void*> handed(64);
  std::thread producer([&] {
    for (void*& p : handed) p = malloc(300);
  });
  producer.join();
  std::thread consumer([&] {
    for (void* p : handed) free(p);
    free(malloc(70000));
  });
  consumer.join();
  pid_t child = fork();
  if (child == 0) {
    free(malloc(5000));
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  for (void* p : blocks) free(p);
  malloc_trim(0);
  struct mallinfo2 info = mallinfo2();
  FILE* null = fopen("/dev/null", "w");
  malloc_info(0, null);
  fclose(null);
  // The redzone code's last exported function: kasan.cpp comes last.
  const void* last = nullptr;
  for (const char* name : {"__asan_load1_noabort", "__asan_store16_noabort", "__asan_loadN_noabort",
                           "__asan_set_shadow_f8", "__asan_report_load8_noabort", "__asan_alloca_poison"}) {
    void* f = dlsym(RTLD_DEFAULT, name);
    if (f && (!last || f > last)) last = f;
  }
  if (!last) return 2;
  int fast = page_present(reinterpret_cast<void*>(&malloc)), redzone = page_present(last);
  if (fast < 0 || redzone < 0) {
    printf("no pagemap\n");  // a kernel or sandbox without /proc/self/pagemap
    return 0;
  }
  printf("%d %d\n", fast, redzone);
  return info.arena > 0 && WIFEXITED(status) ? 0 : 3;
}
#endif

TEST_CASE("api: libmalloc is the allocator in use" * LIBMALLOC_ONLY) {
  const char* version = apitest::lm_version();
  REQUIRE(version != nullptr);
  CHECK(strlen(version) > 0);
  libmalloc_stats before{}, during{};
  REQUIRE(apitest::lm_get_stats(&before));
  void* big = malloc(1 << 20);
  void* mid = malloc(64 << 10);
  REQUIRE(apitest::lm_get_stats(&during));
  CHECK(during.mmap_blocks == before.mmap_blocks + 1);
  CHECK(during.mmap_in_use >= before.mmap_in_use + (1 << 20));
  CHECK(during.heap_in_use >= before.heap_in_use + (64 << 10));
  CHECK(during.mmap_threshold == 128 * 1024);
  free(big);
  free(mid);
}

#ifndef LM_TEST_LINKED
// docs/architecture.md, Text layout: libmalloc.so puts the redzone mode's
// code after the fast path's, so a program in fast mode never maps it (the
// kernel maps a file's pages around a fault 64 KiB at a time).
TEST_CASE("api: a program in fast mode does not map the redzone mode's code" * LIBMALLOC_ONLY) {
  auto r = run_self({"text-pages"});
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  if (r.out == "no pagemap\n") {
    MESSAGE("/proc/self/pagemap is not readable here: nothing to check");
    return;
  }
  CHECK(r.out == "1 0\n");
}
#endif

TEST_CASE("api: libmalloc_heap_check passes after a mixed workload" * LIBMALLOC_ONLY) {
  std::vector<void*> blocks;
  for (int i = 0; i < 3000; ++i) blocks.push_back(malloc(static_cast<size_t>(i * 37 % 9000)));
  for (size_t i = 0; i < blocks.size(); i += 2) free(blocks[i]);
  CHECK(apitest::lm_heap_check() == 0);
  for (size_t i = 1; i < blocks.size(); i += 2) free(blocks[i]);
  CHECK(apitest::lm_heap_check() == 0);
}

TEST_CASE("api: libmalloc_get_option reads options and refuses unknown names" * LIBMALLOC_ONLY) {
  char buf[64] = {};
  CHECK(apitest::lm_get_option("stats", buf, sizeof buf) == 0);
  CHECK(apitest::lm_get_option("mmap_threshold", buf, sizeof buf) == 0);
  CHECK(std::string(buf) == "131072");
  CHECK(apitest::lm_get_option("no_such_option", buf, sizeof buf) == -1);
}

TEST_CASE("api: LIBMALLOC_OPTIONS=help=1 prints the option table on stderr" * LIBMALLOC_ONLY) {
  auto r = run_self({"noop"}, {"LIBMALLOC_OPTIONS=help=1"});
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  CHECK(r.out == "ok\n");
  for (const char* name : {"redzone", "stats", "halt_on_error", "detect_leaks", "quarantine_mb",
                           "redzone_size", "log_path", "verbose", "dynamic_threshold"})
    CHECK_MESSAGE(count_lines_with(r.err, name) >= 1, "option missing from help: " << name);
}

TEST_CASE("api: LIBMALLOC_OPTIONS=verbose=1 prints the options in force" * LIBMALLOC_ONLY) {
  auto r = run_self({"noop"}, {"LIBMALLOC_OPTIONS=verbose=1:mmap_threshold=262144"});
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  CHECK(r.out == "ok\n");
  CHECK(contains(r.err, "mmap_threshold"));
  CHECK((contains(r.err, "262144") || contains(r.err, "256K") || contains(r.err, "256k")));
}

TEST_CASE("api: an unknown LIBMALLOC_OPTIONS name is reported once and ignored" * LIBMALLOC_ONLY) {
  auto r = run_self({"noop"}, {"LIBMALLOC_OPTIONS=no_such_option=1"});
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  CHECK(r.out == "ok\n");
  CHECK(count_lines_with(r.err, "no_such_option") == 1);
}

TEST_CASE("api: a malformed LIBMALLOC_OPTIONS value is reported and ignored" * LIBMALLOC_ONLY) {
  auto r = run_self({"noop"}, {"LIBMALLOC_OPTIONS=dynamic_threshold=maybe"});
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  CHECK(r.out == "ok\n");
  CHECK(count_lines_with(r.err, "dynamic_threshold") == 1);
  auto s = run_self({"noop"}, {"LIBMALLOC_OPTIONS=mmap_threshold=12x"});
  CAPTURE(s.err);
  CHECK(s.exited_ok());
  CHECK(count_lines_with(s.err, "mmap_threshold") == 1);
}

TEST_CASE("api: garbage in LIBMALLOC_OPTIONS never stops the program" * LIBMALLOC_ONLY) {
  const char* garbage[] = {"LIBMALLOC_OPTIONS=", "LIBMALLOC_OPTIONS=:::", "LIBMALLOC_OPTIONS===",
                           "LIBMALLOC_OPTIONS=stats", "LIBMALLOC_OPTIONS=stats=1=2:=:x",
                           "LIBMALLOC_OPTIONS=log_path=" /* empty string is the default */};
  for (const char* env : garbage) {
    CAPTURE(env);
    auto r = run_self({"noop"}, {env});
    CHECK(r.exited_ok());
    CHECK(r.out == "ok\n");
  }
  std::string long_value = "LIBMALLOC_OPTIONS=log_path=/tmp/" + std::string(5000, 'x');
  auto r = run_self({"noop"}, {long_value});
  CHECK(r.exited_ok());
  CHECK(r.out == "ok\n");
}

TEST_CASE("api: stats=1 prints a report at exit headed '== libmalloc stats (pid N) =='" * LIBMALLOC_ONLY) {
  auto r = run_self({"pid"}, {"LIBMALLOC_OPTIONS=stats=1"});
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  REQUIRE(!r.out.empty());
  std::string header = "== libmalloc stats (pid " + std::to_string(r.pid) + ") ==";
  CHECK(r.out == std::to_string(r.pid) + "\n");
  auto err_lines = lines(r.err);
  REQUIRE(!err_lines.empty());
  CHECK(err_lines[0] == header);
  CHECK(err_lines.size() > 3);
}

TEST_CASE("api: log_path sends the stats report to PATH.PID instead of stderr" * LIBMALLOC_ONLY) {
  char dir[] = "/tmp/lm_logpath_XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string base = std::string(dir) + "/report";
  auto r = run_self({"pid"}, {"LIBMALLOC_OPTIONS=stats=1:log_path=" + base});
  CHECK(r.exited_ok());
  CHECK(!contains(r.err, "== libmalloc stats"));
  std::string path = base + "." + std::to_string(r.pid);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  CAPTURE(path);
  CHECK(contains(ss.str(), "== libmalloc stats (pid " + std::to_string(r.pid) + ") =="));
  unlink(path.c_str());
  rmdir(dir);
}

TEST_CASE("api: an off-by-one NUL into the next heap block is reported as corruption, not a double free" * LIBMALLOC_ONLY) {
  check_fatal_report({"heap-off-by-one"}, "free", "double free or corruption");
}

TEST_CASE("api: an overflow that enlarges a freed heap block's size aborts before the heap reuses it" * LIBMALLOC_ONLY) {
  // Fast mode: "invalid size (parked block)"; with perturb (no parking) the
  // heap's bins find it: "corrupted free-list links".
  check_fatal_report({"heap-freed-size-overflow"}, "malloc", "(heap corruption)");
}

TEST_CASE("api: an overflow that grows a binned heap block's size aborts at the next malloc" * LIBMALLOC_ONLY) {
  check_fatal_report({"heap-binned-size-grown"}, "malloc", "corrupted size vs. prev_size");
}

TEST_CASE("api: a stale double free of a heap block that merged into the top aborts" * LIBMALLOC_ONLY) {
  // "corrupted size vs. prev_size" (g's stale header); with perturb, whose
  // fill of the new block rewrote that header, "invalid pointer".
  check_fatal_report({"heap-double-free-into-top"}, "free", "");
}

TEST_CASE("api: an overflow that grows the top's size aborts at malloc_trim, before a page is given back" * LIBMALLOC_ONLY) {
  check_fatal_report({"heap-top-size-grown"}, "malloc_trim", "corrupted top size");
}

// The bins keep their objects in stacks of their own (core.cpp, bin areas):
// a write after free into a cached object damages nothing of libmalloc's.
// (Linked through the objects, the zeroed link cut the bin: an abort at the
// flush, as glibc's tcache aborts when it reaches such a link.)
TEST_CASE("api: a write after free over a cached object's first words damages no bin: every later block is distinct" *
          LIBMALLOC_ONLY) {
  for (std::string trim : {"", "trim"}) {
    CAPTURE(trim);
    std::vector<std::string> mode{"bin-object-written"};
    if (!trim.empty()) mode.push_back(trim);
    auto r = run_self(mode, {"MALLOC_PERTURB_=0"});
    CAPTURE(r.err);
    CHECK(r.exited_ok());
    CHECK(r.err.empty());
    CHECK(r.out == "distinct\n");
  }
}

TEST_CASE("api: realloc of a freed small block aborts as a double free, to its own size class or another" *
          LIBMALLOC_ONLY) {
  check_fatal_report({"realloc-freed-small"}, "realloc", "double free");
  check_fatal_report({"realloc-freed-small", "30"}, "realloc", "double free");
  check_fatal_report({"realloc-freed-small", "400"}, "realloc", "double free");
}

TEST_CASE("api: realloc of an interior pointer (p+16) aborts as an invalid pointer, small, heap or mapped" *
          LIBMALLOC_ONLY) {
  for (const char* n : {"64", "48", "40000", "1048576"})
    for (const char* m : {"32", "64", "4096"}) {
      CAPTURE(n);
      CAPTURE(m);
      check_fatal_report({"realloc-interior", n, m}, "realloc", "invalid pointer");
    }
}

TEST_CASE("api: a write after free into a slab's free list aborts naming the object" * LIBMALLOC_ONLY) {
  check_fatal_report({"slab-list-written", "zero"}, "malloc", "corrupted slab free list");
  check_fatal_report({"slab-list-written", "link"}, "malloc", "corrupted slab free list");
}

TEST_CASE("api: double free of a 64-byte heap block aborts naming the pointer" * LIBMALLOC_ONLY) {
  check_fatal_report({"double-free", "64"}, "free", "double free");
}

TEST_CASE("api: double free of a small block that went back to its slab and was refilled into the bin aborts" *
          LIBMALLOC_ONLY) {
  // (Not with a perturb byte: no bin then, and malloc_trim releases the
  // emptied slab, so the second free names an invalid pointer.)
  check_fatal_report({"double-free-refilled"}, "free", "double free", false);
}

TEST_CASE("api: double free of a 1 MiB mapped block aborts naming the pointer" * LIBMALLOC_ONLY) {
  check_fatal_report({"double-free", "1048576"}, "free", "double free");
}

TEST_CASE("api: double free of a 4 KiB heap block aborts naming the pointer" * LIBMALLOC_ONLY) {
  check_fatal_report({"double-free", "4096"}, "free", "double free");
}

TEST_CASE("api: double free of a 64 KiB heap block (parked by its thread) aborts naming the pointer" * LIBMALLOC_ONLY) {
  check_fatal_report({"double-free", "65536"}, "free", "double free");
}

TEST_CASE("api: a second free of a 64 KiB heap block from another thread aborts naming the pointer" * LIBMALLOC_ONLY) {
  check_fatal_report({"double-free-other-thread"}, "free", "double free");
}

TEST_CASE("api: realloc of a freed 64 KiB heap block aborts as a double free" * LIBMALLOC_ONLY) {
  check_fatal_report({"realloc-after-free"}, "realloc", "double free");
}

TEST_CASE("api: free of a stack address aborts as an invalid pointer" * LIBMALLOC_ONLY) {
  check_fatal_report({"free-stack"}, "free", "invalid pointer");
}

TEST_CASE("api: free of an interior pointer (p+16) aborts as an invalid pointer" * LIBMALLOC_ONLY) {
  check_fatal_report({"free-interior", "64"}, "free", "invalid pointer");
  check_fatal_report({"free-interior", "1048576"}, "free", "invalid pointer");
}

TEST_CASE("api: malloc_usable_size of an interior pointer aborts as an invalid pointer" * LIBMALLOC_ONLY) {
  // A heap block's "header" there is the program's data: it read 2^64 - 8.
  for (const char* offset : {"16", "32", "4096"}) {
    CAPTURE(offset);
    check_fatal_report({"usable-interior", "40000", offset}, "malloc_usable_size", "invalid pointer");
  }
  check_fatal_report({"usable-interior", "64", "16"}, "malloc_usable_size", "invalid pointer");
  check_fatal_report({"usable-interior", "1048576", "16"}, "malloc_usable_size", "invalid pointer");
}

TEST_CASE("api: realloc of a stack address aborts as an invalid pointer" * LIBMALLOC_ONLY) {
  check_fatal_report({"realloc-stack"}, "realloc", "invalid pointer");
}

TEST_CASE("api: free of a block whose header was overwritten aborts naming the pointer" * LIBMALLOC_ONLY) {
  check_fatal_report({"smash-header", "65536"}, "free", "");
  check_fatal_report({"smash-header", "1048576"}, "free", "");
}

// `handoff`: one thread allocates 8 KiB blocks in batches of 32 and another
// frees them, 300 times; then the stats=1 table's size-8192 line goes to
// stdout. The allocating thread's bin (at most 8 such objects) refills from
// batches the freeing thread parked: at most 7 of 8 of its mallocs can hit.
// Adopting a parked batch counted as a hit and not as a refill (99.3%).
CHILD_MODE("handoff") {
  for (int round = 0; round < 300; ++round) {
    std::vector<void*> batch;
    for (int i = 0; i < 32; ++i) batch.push_back(malloc(8192));
    std::thread([&] {
      for (void* p : batch) free(p);
    }).join();
  }
  char path[] = "/tmp/lm_handoff.XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 2;
  unlink(path);
  if (!apitest::lm_print_stats(fd)) return 3;
  lseek(fd, 0, SEEK_SET);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  close(fd);
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find("size-8192 ") != std::string::npos) printf("%s\n", line.c_str());
  return 0;
}

TEST_CASE("api: stats=1's hit rate counts a batch adopted from another thread as a miss" * LIBMALLOC_ONLY) {
  auto r = run_self({"handoff"});
  REQUIRE(r.exited_ok());
  CAPTURE(r.out);
  char name[32];
  size_t size = 0, active = 0, total = 0, slabs = 0, empty = 0, kb = 0, refills = 0, flushes = 0;
  double rate = 0;
  REQUIRE(sscanf(r.out.c_str(), "%31s %zu %zu %zu %zu %zu %zu %zu %zu %lf%%", name, &size, &active, &total, &slabs,
                 &empty, &kb, &refills, &flushes, &rate) == 10);
  CHECK(size == 8192);
  CHECK(refills >= 300 * 32 / 8);
  CHECK(rate <= 90.0);
}
