// api_glibc_test.cpp: what a program can observe of glibc's allocator and
// must observe of libmalloc too: where blocks live (/proc/self/maps), the
// mmap threshold and its three knobs (mallopt, MALLOC_MMAP_THRESHOLD_,
// GLIBC_TUNABLES), malloc_trim and RSS, mallopt's return values, mallinfo2,
// malloc_stats and malloc_info formats. Placement checks run in a fresh child
// process so that earlier tests cannot have moved any threshold.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "api_support.h"

using apitest::contains;
using apitest::run_self;

namespace {
constexpr size_t kKiB = 1024, kMiB = 1024 * 1024;

// glibc raises its mmap threshold each time a mapped block is freed (its
// dynamic threshold), so tests that count mappings first pin it at 128 KiB,
// libmalloc's fixed default.
void pin_mmap_threshold() { REQUIRE(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1); }

// What malloc_info(0, ...) writes.
std::string malloc_info_text() {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  REQUIRE(f != nullptr);
  CHECK(malloc_info(0, f) == 0);
  fclose(f);
  std::string xml(buf, len);
  free(buf);
  return xml;
}
}  // namespace

// `where [mallopt-threshold=N] [mmap-max=N] SIZE...`: allocates each size
// (all kept alive) and prints "heap" or "outside" for each, one per line.
CHILD_MODE("where") {
  for (const std::string& a : args) {
    if (a.rfind("mallopt-threshold=", 0) == 0) {
      if (mallopt(M_MMAP_THRESHOLD, atoi(a.c_str() + 18)) != 1) return 3;
      continue;
    }
    if (a.rfind("mmap-max=", 0) == 0) {
      if (mallopt(M_MMAP_MAX, atoi(a.c_str() + 9)) != 1) return 3;
      continue;
    }
    void* p = malloc(strtoul(a.c_str(), nullptr, 10));
    if (p == nullptr) return 4;
    memset(p, 1, 64);
    printf("%s\n", apitest::in_brk_heap(p) ? "heap" : "outside");
  }
  return 0;
}

TEST_CASE("api: a 64 KiB block lies inside [heap] and a 1 MiB block outside it") {
  auto r = run_self({"where", "65536", "1048576", "65536"});
  CHECK(r.exited_ok());
  CHECK(r.out == "heap\noutside\nheap\n");
}

TEST_CASE("api: the 128 KiB threshold splits heap and mmap exactly" * LIBMALLOC_ONLY) {
  // glibc only mmaps when its top chunk cannot serve the request, so the
  // boundary is exact in libmalloc's contract only.
  auto r = run_self({"where", "131071", "131072", "120000", "140000"});
  CHECK(r.exited_ok());
  CHECK(r.out == "heap\noutside\nheap\noutside\n");
}

TEST_CASE("api: after mallopt(M_MMAP_THRESHOLD, 4 MiB) a 1 MiB block comes from [heap]") {
  auto r = run_self({"where", "mallopt-threshold=4194304", "1048576", "8388608"});
  CHECK(r.exited_ok());
  CHECK(r.out == "heap\noutside\n");
}

TEST_CASE("api: mallopt(M_MMAP_THRESHOLD) above 32 MiB, or negative, is taken as glibc 2.36 takes it") {
  auto r = run_self({"where", "mallopt-threshold=67108864", "41943040"});
  CHECK(r.exited_ok());
  CHECK(r.out == "heap\n");
  r = run_self({"where", "mallopt-threshold=-1", "1048576", "41943040"});
  CHECK(r.exited_ok());
  CHECK(r.out == "heap\nheap\n");
}

TEST_CASE("api: MALLOC_MMAP_THRESHOLD_=4194304 makes a 1 MiB block come from [heap]") {
  auto r = run_self({"where", "1048576", "8388608"}, {"MALLOC_MMAP_THRESHOLD_=4194304"});
  CHECK(r.exited_ok());
  CHECK(r.out == "heap\noutside\n");
}

TEST_CASE("api: GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304 makes a 1 MiB block come from [heap]") {
  auto r = run_self({"where", "1048576", "8388608"},
                    {"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304"});
  CHECK(r.exited_ok());
  CHECK(r.out == "heap\noutside\n");
}

// glibc reads the numbers with strtoul's base 0: a leading 0 is octal
// (0400000 = 131072; read as decimal 400000, the block went to [heap]).
TEST_CASE("api: MALLOC_MMAP_THRESHOLD_ and GLIBC_TUNABLES read a leading 0 as octal") {
  auto r = run_self({"where", "200000", "100000"}, {"MALLOC_MMAP_THRESHOLD_=0400000"});
  CHECK(r.exited_ok());
  CHECK(r.out == "outside\nheap\n");
  r = run_self({"where", "200000", "100000"}, {"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=0400000"});
  CHECK(r.exited_ok());
  CHECK(r.out == "outside\nheap\n");
}

// glibc's loader reads these numbers with its own strtoul: leading blanks
// and a sign are allowed, and a negative value wraps around (-1 is SIZE_MAX:
// no block is mapped). They were reported as bad values and ignored.
TEST_CASE("api: MALLOC_*_ and GLIBC_TUNABLES take a sign and blanks as glibc does") {
  for (std::string env : {"MALLOC_MMAP_THRESHOLD_=-1", "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=-1",
                          "MALLOC_MMAP_THRESHOLD_= \t-1"}) {
    CAPTURE(env);
    auto r = run_self({"where", "8388608"}, {env});
    CHECK(r.exited_ok());
    CHECK(r.out == "heap\n");
    CHECK(r.err == "");
  }
  auto r = run_self({"where", "200000"}, {"MALLOC_MMAP_THRESHOLD_=+65536"});
  CHECK(r.exited_ok());
  CHECK(r.out == "outside\n");
  CHECK(r.err == "");
}

// glibc 2.36 takes GLIBC_TUNABLES over the MALLOC_*_ names.
TEST_CASE("api: GLIBC_TUNABLES wins over MALLOC_MMAP_THRESHOLD_") {
  auto r = run_self({"where", "1048576"},
                    {"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304", "MALLOC_MMAP_THRESHOLD_=65536"});
  CHECK(r.exited_ok());
  CHECK(r.out == "heap\n");
}

TEST_CASE("api: mallopt(M_MMAP_MAX, 0) serves large blocks from [heap]") {
  auto r = run_self({"where", "mmap-max=0", "1048576"});
  CHECK(r.exited_ok());
  CHECK(r.out == "heap\n");
}

// `perturb SIZE...`: prints for each new block whether every byte is 0x54,
// the complement of MALLOC_PERTURB_=171 (0xAB).
static int print_perturbed(const std::vector<std::string>& sizes) {
  for (const std::string& a : sizes) {
    size_t n = strtoul(a.c_str(), nullptr, 10);
    void* p = malloc(n);
    if (p == nullptr) return 4;
    printf("%s\n", apitest::all_bytes(p, n, 0x54) ? "perturbed" : "plain");
  }
  return 0;
}
CHILD_MODE("perturb") { return print_perturbed(args); }

TEST_CASE("api: MALLOC_PERTURB_ fills new blocks with the complement of its byte") {
  auto r = run_self({"perturb", "100000", "1048576"}, {"MALLOC_PERTURB_=171"});
  CHECK(r.exited_ok());
  CHECK(r.out == "perturbed\nperturbed\n");
}

// glibc's perturb tunable takes 0..255 and ignores other values (the low
// byte of 321, 0x41, was used: blocks filled with 0xbe).
TEST_CASE("api: MALLOC_PERTURB_ above 255 is ignored") {
  auto r = run_self({"perturb", "100000"}, {"MALLOC_PERTURB_=427"});  // 427 = 0x1ab: low byte 171
  CHECK(r.exited_ok());
  CHECK(r.out == "plain\n");
  r = run_self({"perturb", "100000"}, {"GLIBC_TUNABLES=glibc.malloc.perturb=427"});
  CHECK(r.exited_ok());
  CHECK(r.out == "plain\n");
}

// `perturb-mallopt SIZE...`: mallopt(M_PERTURB, 171) first, then as
// `perturb`: for each new block, whether every byte is 0x54.
CHILD_MODE("perturb-mallopt") {
  if (mallopt(M_PERTURB, 171) != 1) return 5;
  return print_perturbed(args);
}

// Set at run time, the perturb byte reaches every size, those the thread
// caches serve included (they handed out unperturbed objects of up to 32 KiB).
TEST_CASE("api: mallopt(M_PERTURB) fills new blocks of every size") {
  auto r = run_self({"perturb-mallopt", "24", "200", "1000", "5000", "20000", "40000", "100000"});
  CHECK(r.exited_ok());
  CHECK(r.out == "perturbed\nperturbed\nperturbed\nperturbed\nperturbed\nperturbed\nperturbed\n");
}

// Redzone mode perturbs new blocks too (it handed them out unfilled: a
// test suite that sets MALLOC_PERTURB_ to expose reads of uninitialised
// memory lost it in the debugging mode), small, heap and mapped alike.
TEST_CASE("api: perturb fills new blocks in redzone mode") {
  auto r = run_self({"perturb", "24", "200", "5000", "100000", "1048576"},
                    {"MALLOC_PERTURB_=171", "LIBMALLOC_OPTIONS=redzone=1"});
  CHECK(r.exited_ok());
  CHECK(r.out == "perturbed\nperturbed\nperturbed\nperturbed\nperturbed\n");
  r = run_self({"perturb-mallopt", "24", "5000", "1048576"}, {"LIBMALLOC_OPTIONS=redzone=1"});
  CHECK(r.exited_ok());
  CHECK(r.out == "perturbed\nperturbed\nperturbed\n");
}

// `perturb-off`: turns perturb off (the environment set it), then makes
// 20000 malloc/free pairs of 200 bytes and prints the hit rate of their
// class (224 bytes) in the thread caches, from the stats report.
CHILD_MODE("perturb-off") {
  if (mallopt(M_PERTURB, 0) != 1) return 5;
  for (int i = 0; i < 20000; ++i) {
    void* p = malloc(apitest::opaque(size_t{200}));
    memset(p, 1, 200);
    free(p);
  }
  char path[] = "/tmp/lm-perturb-off-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || !apitest::lm_print_stats(fd)) return 2;
  close(fd);
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("  size-224 ", 0) == 0) printf("%s\n", line.substr(line.find_last_of(' ') + 1).c_str());
  unlink(path);
  return 0;
}

// Perturbing turns the thread caches off; turned off again, they come back,
// whether the byte came from mallopt or from the environment. (From the
// environment it turned them off for good: 193 ns a pair instead of 11.)
TEST_CASE("api: mallopt(M_PERTURB, 0) turns the thread caches back on after MALLOC_PERTURB_" * LIBMALLOC_ONLY) {
  auto r = run_self({"perturb-off"}, {"MALLOC_PERTURB_=171"});
  CAPTURE(r.out);
  CAPTURE(r.err);
  REQUIRE(r.exited_ok());
  double rate = -1;
  REQUIRE(sscanf(r.out.c_str(), "%lf%%", &rate) == 1);
  CHECK(rate >= 90.0);
}

// `perturb-flips N`: a second thread loops through the slow path (blocks
// above the slab classes), each call of which re-reads the thread's limits
// after a mallopt. The main thread turns perturb off and on N times; after
// each, the second thread takes the slow path once more and must then see
// caching off: a 64-byte block it frees and allocates again comes back
// filled with 0xa5 (0x5a's complement). Prints how many times it did not.
CHILD_MODE("perturb-flips") {
  int flips = atoi(args.at(0).c_str());
  std::atomic<int> request{0}, done{0}, stop{0}, stale{0};
  std::thread t([&] {
    void* volatile sink;
    for (;;) {
      if (request.load()) {
        void* h = malloc(apitest::opaque(size_t{40000}));
        sink = h;
        free(h);
        auto* p = static_cast<unsigned char*>(malloc(apitest::opaque(size_t{64})));
        memset(p, 0, 64);
        free(p);
        p = static_cast<unsigned char*>(malloc(apitest::opaque(size_t{64})));
        if (!apitest::all_bytes(p + 16, 48, 0xa5)) ++stale;
        sink = p;
        free(p);
        request.store(0);
        done.store(1);
        sched_yield();  // (back to the flipping thread when they share a CPU)
      }
      if (stop.load()) break;
      void* h = malloc(apitest::opaque(size_t{40000}));
      sink = h;
      free(h);
    }
    (void)sink;
  });
  for (int i = 0; i < flips; ++i) {
    mallopt(M_PERTURB, 0);
    for (int spin = 0; spin < (i % 64) * 4; ++spin) asm volatile("");
    mallopt(M_PERTURB, 0x5a);
    done.store(0);
    request.store(1);
    // Both threads yield: spinning, each kept the other off a loaded CPU
    // (one flip per time slice: past the 60 s limit while other suites ran).
    while (!done.load()) sched_yield();
  }
  stop.store(1);
  t.join();
  printf("%d\n", stale.load());
  return 0;
}

// A thread that was applying its limits when another thread's mallopt landed
// kept the old ones for good (it read the generation after the tunables):
// from 2 to 1413 of 10000 flips here, run to run.
TEST_CASE("api: a mallopt landing while a thread applies its limits reaches that thread" * LIBMALLOC_ONLY) {
  auto r = run_self({"perturb-flips", "10000"});
  CAPTURE(r.err);
  REQUIRE(r.exited_ok());
  CHECK(r.out == "0\n");
}

// `dynamic SIZE`: allocates, frees, and allocates again a block of SIZE,
// printing where each lies.
CHILD_MODE("dynamic") {
  size_t n = strtoul(args.at(0).c_str(), nullptr, 10);
  void* p = malloc(n);
  memset(p, 1, n);
  printf("%s\n", apitest::in_brk_heap(p) ? "heap" : "outside");
  free(p);
  void* q = malloc(n);
  printf("%s\n", apitest::in_brk_heap(q) ? "heap" : "outside");
  free(q);
  return 0;
}

TEST_CASE("api: with the dynamic threshold, freeing a 1 MiB mapped block moves the next to [heap]") {
  // glibc's default; libmalloc's dynamic_threshold=1 (glibc ignores it).
  auto r = run_self({"dynamic", "1048576"}, {"LIBMALLOC_OPTIONS=dynamic_threshold=1"});
  CHECK(r.exited_ok());
  CHECK(r.out == "outside\nheap\n");
}

TEST_CASE("api: the mmap threshold stays fixed by default" * LIBMALLOC_ONLY) {
  auto r = run_self({"dynamic", "1048576"});
  CHECK(r.exited_ok());
  CHECK(r.out == "outside\noutside\n");
}

// `free-all-rss`: fills 64 MiB of 4..64 KiB heap blocks, frees them all
// (newest first, then oldest first: both orders of coalescing) without
// calling malloc_trim, and prints "peak_MiB after_MiB brk_fell".
CHILD_MODE("free-all-rss") {
  std::vector<void*> blocks;
  blocks.reserve(20000);  // allocated first, so it does not pin the heap top
  size_t total = 0;
  unsigned seed = 99;
  const uintptr_t brk_start = apitest::brk_heap_end();
  while (total < 64 * kMiB) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 4 * kKiB + (seed >> 8) % (60 * kKiB);
    void* p = malloc(n);
    if (p == nullptr) return 4;
    memset(p, 0x33, n);
    blocks.push_back(p);
    total += n;
  }
  size_t peak = apitest::rss_bytes();
  const uintptr_t brk_peak = apitest::brk_heap_end();
  const size_t half = blocks.size() / 2;
  for (size_t i = blocks.size(); i-- > half;) free(blocks[i]);
  for (size_t i = 0; i < half; ++i) free(blocks[i]);
  size_t after = apitest::rss_bytes();
  const uintptr_t brk_end = apitest::brk_heap_end();
  printf("%zu %zu %d\n", peak / kMiB, after / kMiB,
         brk_peak > brk_start && brk_end < brk_peak - 32 * kMiB ? 1 : 0);
  return 0;
}

// Resident KiB from /proc/self/statm, read without allocating (an ifstream's
// buffer, allocated between the blocks' frees, changes the heap's layout).
static long statm_resident_kib() {
  int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return -1;
  char text[128];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = '\0';
  long total = 0, resident = 0;
  if (sscanf(text, "%ld %ld", &total, &resident) != 2) return -1;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// `free-oldest-first SIZE COUNT`: COUNT blocks of SIZE bytes (10 MB: below
// the dirty free memory at which libmalloc purges anyway), freed oldest
// first, so that the block below the heap's top goes last; prints
// "brk_fell_KiB rss_before_KiB rss_after_KiB". Allocates nothing between
// the frees.
CHILD_MODE("free-oldest-first") {
  if (args.size() != 2) return 2;
  const size_t size = strtoul(args[0].c_str(), nullptr, 10), count = strtoul(args[1].c_str(), nullptr, 10);
  static void* blocks[20000];
  if (count > 20000) return 2;
  for (size_t i = 0; i < count; ++i) {
    blocks[i] = malloc(size);
    if (blocks[i] == nullptr) return 4;
    memset(blocks[i], 0x33, size);
  }
  const char* brk_peak = static_cast<const char*>(sbrk(0));
  long before = statm_resident_kib();
  for (size_t i = 0; i < count; ++i) free(blocks[i]);
  long after = statm_resident_kib();
  const char* brk_end = static_cast<const char*>(sbrk(0));
  printf("%ld %ld %ld\n", static_cast<long>(brk_peak - brk_end) / 1024, before, after);
  return 0;
}

// DESIGN.md: a trim threshold the user sets is honoured at free() time
// through the slab layer and the caches, so RSS falls without malloc_trim.
TEST_CASE("api: with a trim threshold set, freeing every heap block gives the memory back") {
  auto r = run_self({"free-all-rss"}, {"MALLOC_TRIM_THRESHOLD_=131072"});
  CHECK(r.exited_ok());
  size_t peak = 0, after = 0;
  int brk_fell = 0;
  REQUIRE(sscanf(r.out.c_str(), "%zu %zu %d", &peak, &after, &brk_fell) == 3);
  CAPTURE(r.out);
  CHECK(after + 48 < peak);
  CHECK(brk_fell == 1);
}

// By default libmalloc keeps the thread caches' last blocks and returns
// interior free pages only after a delay (or malloc_trim), as jemalloc and
// mimalloc do; the heap top must still shrink with brk at free() time.
TEST_CASE("api: by default, freeing every heap block shrinks the heap top without malloc_trim") {
  auto r = run_self({"free-all-rss"});
  CHECK(r.exited_ok());
  size_t peak = 0, after = 0;
  int brk_fell = 0;
  REQUIRE(sscanf(r.out.c_str(), "%zu %zu %d", &peak, &after, &brk_fell) == 3);
  CAPTURE(r.out);
  CHECK(after + 24 < peak);
  CHECK(brk_fell == 1);
}

// The same, freed oldest first: the thread kept the block below the top
// parked for its next malloc, and that pinned the whole free tail below it
// (the heap never shrank, even idle). glibc's top falls back at that free.
TEST_CASE("api: freeing heap blocks oldest first shrinks the heap top") {
  auto r = run_self({"free-oldest-first", "50000", "200"});
  CHECK(r.exited_ok());
  long fell = 0, before = 0, after = 0;
  REQUIRE(sscanf(r.out.c_str(), "%ld %ld %ld", &fell, &before, &after) == 3);
  CAPTURE(r.out);
  CHECK(fell > 8 * 1024);           // of the ~9.8 MB the blocks took
  CHECK(after + 6 * 1024 < before);
}

// DESIGN.md: with a trim threshold set, "a program that frees most of its
// small blocks sees its RSS fall without waiting for a decay period". 10 MB
// of 1000-byte blocks freed oldest first stayed resident: the span chunk
// holding the objects the thread's bin kept pinned the free heap below it,
// and the purge at free() waited for 32 MiB of dirty memory.
TEST_CASE("api: with a trim threshold set, freeing small blocks oldest first lowers RSS") {
  for (const char* size : {"1000", "500"}) {
    auto r = run_self({"free-oldest-first", size, strcmp(size, "1000") == 0 ? "10000" : "20000"},
                      {"MALLOC_TRIM_THRESHOLD_=131072"});
    CHECK(r.exited_ok());
    long fell = 0, before = 0, after = 0;
    REQUIRE(sscanf(r.out.c_str(), "%ld %ld %ld", &fell, &before, &after) == 3);
    CAPTURE(size);
    CAPTURE(r.out);
    CHECK(after + 6 * 1024 < before);
  }
}

// `large-rss`: 16 touched 4 MiB blocks, all freed, then malloc_trim(0);
// prints "peak_MiB after_free_MiB after_trim_MiB".
CHILD_MODE("large-rss") {
  void* blocks[16];
  for (auto& b : blocks) {
    b = malloc(4 * kMiB);
    if (b == nullptr) return 4;
    memset(b, 0x44, 4 * kMiB);
  }
  size_t peak = apitest::rss_bytes();
  for (auto& b : blocks) free(b);
  size_t after_free = apitest::rss_bytes();
  malloc_trim(0);
  size_t after_trim = apitest::rss_bytes();
  printf("%zu %zu %zu\n", peak / kMiB, after_free / kMiB, after_trim / kMiB);
  return 0;
}

TEST_CASE("api: freed large blocks are returned to the OS by malloc_trim(0) at the latest") {
  auto r = run_self({"large-rss"});
  CHECK(r.exited_ok());
  size_t peak = 0, after_free = 0, after_trim = 0;
  REQUIRE(sscanf(r.out.c_str(), "%zu %zu %zu", &peak, &after_free, &after_trim) == 3);
  CAPTURE(r.out);
  CHECK(peak >= 64);
  CHECK(after_trim + 56 < peak);
}

// `large-resplit`: writes and frees a 24 MiB block, then writes three of
// 8 MiB (as GNU sort does with -S 50M, at 50 and 17 MB: its buffers, too,
// are whole numbers of pages with the allocator's header), and prints the
// growth of RSS in MiB from before the first block.
CHILD_MODE("large-resplit") {
  size_t before = apitest::rss_bytes();
  void* big = malloc(24 * kMiB - 64);
  if (!big) return 4;
  memset(big, 0x11, 24 * kMiB - 64);
  free(big);
  void* parts[3];
  for (auto& p : parts) {
    p = malloc(8 * kMiB - 64);
    if (!p) return 4;
    memset(p, 0x22, 8 * kMiB - 64);
  }
  size_t after = apitest::rss_bytes();
  for (auto& p : parts) free(p);
  printf("%zu\n", (after - before) / kMiB);
  return 0;
}

// A freed mapping reused for a block a third its size: the block takes its
// head and the rest serves the next requests. Handed out whole, the first
// 8 MiB block kept all 24 MiB resident and the others were mapped afresh
// (RSS +40 MiB; glibc, which unmaps the big one, +24).
TEST_CASE("api: a freed large mapping serves several smaller blocks without keeping its whole size") {
  auto r = run_self({"large-resplit"});
  CHECK(r.exited_ok());
  CAPTURE(r.out);
  CHECK(strtoul(r.out.c_str(), nullptr, 10) <= 28);
}

TEST_CASE("api: mallopt returns 1 on success and 0 for a bad value") {
  CHECK(mallopt(M_MMAP_THRESHOLD, 256 * 1024) == 1);
  CHECK(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1);
  CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1);
  CHECK(mallopt(M_TOP_PAD, 128 * 1024) == 1);
  CHECK(mallopt(M_MMAP_MAX, 65536) == 1);
  CHECK(mallopt(M_ARENA_MAX, 8) == 1);
  CHECK(mallopt(M_PERTURB, 0) == 1);
  CHECK(mallopt(M_MXFAST, 64) == 1);
  CHECK(mallopt(M_MXFAST, 1000) == 0);  // above glibc's MAX_FAST_SIZE
  CHECK(mallopt(M_MXFAST, -1) == 0);
}

// `trim-churn`: with a trim threshold and top pad of 0 (as
// MALLOC_TRIM_THRESHOLD_=0 MALLOC_TOP_PAD_=0 set them), allocates and frees
// one 2000-byte block 1000 times above a kept one, and prints how often the
// program break moved (sampled after each call).
CHILD_MODE("trim-churn") {
  if (mallopt(M_TRIM_THRESHOLD, 0) != 1 || mallopt(M_TOP_PAD, 0) != 1) return 3;
  void* keep = malloc(100);
  int moves = 0;
  void* brk = sbrk(0);
  for (int i = 0; i < 1000; ++i) {
    void* p = malloc(2000);
    if (!p) return 4;
    memset(p, 1, 2000);
    if (sbrk(0) != brk) ++moves;
    brk = sbrk(0);
    free(p);
    if (sbrk(0) != brk) ++moves;
    brk = sbrk(0);
  }
  free(keep);
  printf("%d\n", moves);
  return 0;
}

// glibc trims a top of at least 64 KiB only, so one small block's churn never
// moves its break. libmalloc moved it twice per cycle: the block's slab
// emptied, its span went back to the heap and the top was trimmed, and the
// next malloc grew it again (make -j2 ran twice as long).
TEST_CASE("api: one block's churn under trim threshold 0 does not move the break each time") {
  auto r = run_self({"trim-churn"});
  CHECK(r.exited_ok());
  CAPTURE(r.out);
  CHECK(atoi(r.out.c_str()) <= 2);
}

// `trim-again`: frees a mix of small and heap blocks, then prints what three
// malloc_trim(0) calls in a row return.
CHILD_MODE("trim-again") {
  std::vector<void*> blocks;
  for (int i = 0; i < 4000; ++i) blocks.push_back(malloc(16 + i % 1000));
  for (int i = 0; i < 40; ++i) blocks.push_back(malloc(40000 + i * 1000));
  for (void* p : blocks) memset(p, 1, 16);
  void* keep = malloc(64);  // a small survivor, so the slabs cannot all go
  for (size_t i = 0; i < blocks.size(); i += 2) free(blocks[i]);
  for (size_t i = 1; i < blocks.size(); i += 2) free(blocks[i]);
  int a = malloc_trim(0), b = malloc_trim(0), c = malloc_trim(0);
  printf("%d %d %d\n", a, b, c);
  free(keep);
  return 0;
}

// libmalloc knows which free pages it has purged for good: a second call
// with nothing freed in between releases nothing, makes no madvise call and
// returns 0. (It madvised the same pages again on every call and returned 1
// each time. glibc, too, madvises its binned free chunks again on every call
// and returns 1 while it has any: this child prints "1 1 1" there.)
TEST_CASE("api: malloc_trim(0) returns 0 when an earlier call left nothing to release" * LIBMALLOC_ONLY) {
  auto r = run_self({"trim-again"});
  CHECK(r.exited_ok());
  CHECK(r.out == "1 0 0\n");
}

TEST_CASE("api: malloc_trim(0) lowers RSS after most blocks are freed") {
  // 96 MiB in 4..64 KiB heap blocks; free 15 of 16 and keep the rest, plus
  // one block allocated last, so the top of the heap cannot simply shrink.
  std::vector<void*> blocks;
  size_t total = 0;
  unsigned seed = 12345;
  while (total < 96 * kMiB) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 4 * kKiB + (seed >> 8) % (60 * kKiB);
    void* p = malloc(n);
    REQUIRE(p != nullptr);
    memset(p, 0x5A, n);
    blocks.push_back(p);
    total += n;
  }
  void* last = malloc(64);
  REQUIRE(last != nullptr);
  size_t peak = apitest::rss_bytes();
  for (size_t i = 0; i < blocks.size(); ++i)
    if (i % 16 != 0) free(blocks[i]);
  int trimmed = malloc_trim(0);
  size_t after = apitest::rss_bytes();
  CAPTURE(peak);
  CAPTURE(after);
  CHECK(trimmed == 1);
  CHECK(after + 60 * kMiB < peak);
  for (size_t i = 0; i < blocks.size(); i += 16) {
    CHECK(apitest::all_bytes(blocks[i], 4 * kKiB, 0x5A));  // survivors intact
    free(blocks[i]);
  }
  free(last);
}

// `mallinfo2`: in a fresh process (glibc serves even a 1 MiB request from a
// large enough free heap chunk, so counts of mappings need a clean heap),
// checks mallinfo2's fields and prints "failed: CONDITION" for each miss.
#define EXPECT(cond) ((cond) ? (void)0 : (void)printf("failed: %s\n", #cond))
CHILD_MODE("mallinfo2") {
  struct mallinfo2 before = mallinfo2();
  std::vector<void*> small;
  for (int i = 0; i < 100; ++i) small.push_back(malloc(1000));
  void* big[3];
  for (auto& b : big) b = malloc(kMiB);
  struct mallinfo2 during = mallinfo2();
  EXPECT(during.arena > 0);
  EXPECT(during.uordblks >= before.uordblks + 100 * 1000);
  EXPECT(during.hblks == before.hblks + 3);
  EXPECT(during.hblkhd >= before.hblkhd + 3 * kMiB);
  EXPECT(during.arena >= during.uordblks);
  EXPECT(during.usmblks == 0);  // unused since glibc 2.26
  free(big[0]);
  // realloc(p, 0) frees: one mapping fewer.
  EXPECT(realloc(big[1], 0) == nullptr);
  struct mallinfo2 one_left = mallinfo2();
  EXPECT(one_left.hblks == before.hblks + 1);
  free(big[2]);
  for (void* p : small) free(p);
  struct mallinfo2 after = mallinfo2();
  EXPECT(after.hblks == before.hblks);
  EXPECT(after.hblkhd == before.hblkhd);
  EXPECT(after.uordblks < during.uordblks);
  EXPECT(after.fordblks > 0 || after.arena == 0);
  printf("done\n");
  return 0;
}

// The leak check programs do with mallinfo2: uordblks after a cycle that
// leaks one block, against before it (after a warm-up cycle), grows by
// that block. Objects in libmalloc's thread cache counted as in use: the
// delta was 0 (the leak hidden) or a cache's worth.
TEST_CASE("api: mallinfo2's uordblks shows one leaked block after a cycle") {
  for (size_t n : {16, 100, 1000, 3000}) {
    CAPTURE(n);
    std::vector<void*> p(2000);
    for (auto& q : p) q = malloc(n);
    for (void* q : p) free(q);
    size_t before = mallinfo2().uordblks;
    for (auto& q : p) q = malloc(n);
    for (size_t i = 0; i + 1 < p.size(); ++i) free(p[i]);
    size_t after = mallinfo2().uordblks;
    CHECK(after >= before + n);
    CHECK(after <= before + n + 128);
    free(p.back());
    CHECK(mallinfo2().uordblks <= before + 128);
  }
}

TEST_CASE("api: mallinfo2 counts heap bytes in use and mapped blocks") {
  auto r = run_self({"mallinfo2"});
  CHECK(r.exited_ok());
  CHECK(r.out == "done\n");
}

TEST_CASE("api: mallinfo agrees with mallinfo2 on small counts") {
  pin_mmap_threshold();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  void* big = malloc(2 * kMiB);
  struct mallinfo old = mallinfo();
  struct mallinfo2 now = mallinfo2();
  CHECK(static_cast<size_t>(old.hblks) == now.hblks);
  CHECK(old.arena > 0);
  free(big);
#pragma GCC diagnostic pop
}

TEST_CASE("api: malloc_stats prints glibc's format to stderr") {
  pin_mmap_threshold();
  void* big = malloc(2 * kMiB);
  std::string text = apitest::capture_stderr([] { malloc_stats(); });
  free(big);
  CAPTURE(text);
  const char* expected[] = {"Arena 0:", "system bytes", "in use bytes", "Total (incl. mmap):",
                            "system bytes", "in use bytes", "max mmap regions", "max mmap bytes"};
  size_t at = 0;
  for (const char* e : expected) {
    size_t found = text.find(e, at);
    CHECK_MESSAGE(found != std::string::npos, "missing, in order: " << e);
    if (found != std::string::npos) at = found + strlen(e);
  }
  CHECK(text.rfind("Arena 0:\n", 0) == 0);
  // Each figure line reads "NAME = NUMBER" with NAME padded to 16 columns.
  unsigned long value = 0;
  size_t mmaps = text.find("max mmap regions");
  REQUIRE(mmaps != std::string::npos);
  CHECK(sscanf(text.c_str() + mmaps, "max mmap regions = %lu", &value) == 1);
  CHECK(value >= 1);
}

// `stats-stream`: points the stderr stream at a temporary file, calls
// malloc_stats, and prints whether the report went into that file.
CHILD_MODE("stats-stream") {
  FILE* saved = stderr;
  FILE* f = tmpfile();
  if (!f) return 2;
  stderr = f;
  malloc_stats();
  fflush(f);
  stderr = saved;
  rewind(f);
  char line[128] = "";
  const char* where = fgets(line, sizeof line, f) && strcmp(line, "Arena 0:\n") == 0 ? "stream" : "elsewhere";
  printf("%s\n", where);
  fclose(f);
  return 0;
}

// glibc writes malloc_stats through the stderr stream, so a program that
// redirects or buffers stderr gets the report there, in order.
TEST_CASE("api: malloc_stats writes through the stderr stream") {
  auto r = run_self({"stats-stream"});
  CHECK(r.exited_ok());
  CHECK(r.out == "stream\n");
  CHECK(!contains(r.err, "Arena 0:"));
}

TEST_CASE("api: malloc_stats' arena figures are mallinfo2's arena and uordblks") {
  // Small blocks in use and free ones held by the allocator: both report
  // the same split (libmalloc's unused slab slots counted free in both).
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; ++i) blocks.push_back(malloc(48 + i % 200));
  for (size_t i = 0; i < blocks.size(); i += 2) free(blocks[i]);
  // (Read next to each other: capturing stderr allocates, and a block taken
  // from the thread's cache counts as in use.)
  static struct mallinfo2 mi;
  std::string text = apitest::capture_stderr([] {
    mi = mallinfo2();
    malloc_stats();
  });
  for (size_t i = 1; i < blocks.size(); i += 2) free(blocks[i]);
  CAPTURE(text);
  unsigned long system = 0, in_use = 0;
  REQUIRE(sscanf(text.c_str(), "Arena 0:\nsystem bytes = %lu\nin use bytes = %lu", &system, &in_use) == 2);
  CHECK(system == mi.arena);
  CHECK(in_use == mi.uordblks);
}

// `trim-pad PAD`: frees 30 MB of heap blocks (the top takes them), then
// malloc_trim(PAD); prints the RSS growth kept after the trim, in MiB.
CHILD_MODE("trim-pad") {
  size_t pad = strtoull(args.at(0).c_str(), nullptr, 10);
  if (mallopt(M_TRIM_THRESHOLD, -1) != 1) return 2;  // nothing trimmed at free
  std::vector<char*> blocks;
  blocks.reserve(300);  // nothing of ours between the blocks: they all merge into the top
  size_t base = apitest::rss_bytes();
  for (int i = 0; i < 300; ++i) {
    blocks.push_back(static_cast<char*>(malloc(apitest::opaque(size_t{100000}))));
    if (blocks.back() == nullptr) return 3;
    memset(blocks.back(), 1, 100000);
  }
  for (char* p : blocks) free(p);
  malloc_trim(pad);
  size_t after = apitest::rss_bytes();
  printf("%zd\n", (static_cast<ssize_t>(after) - static_cast<ssize_t>(base)) / static_cast<ssize_t>(kMiB));
  return 0;
}

// malloc_trim's pad is free memory left at the top of the heap: it stays
// resident, as glibc keeps it (it was purged with the rest).
TEST_CASE("api: malloc_trim(pad) keeps pad bytes of the heap top resident") {
  auto r0 = run_self({"trim-pad", "0"});
  auto r10 = run_self({"trim-pad", std::to_string(10 * kMiB)});
  CAPTURE(r0.out);
  CAPTURE(r10.out);
  REQUIRE(r0.exited_ok());
  REQUIRE(r10.exited_ok());
  long kept0 = atol(r0.out.c_str()), kept10 = atol(r10.out.c_str());
  CHECK(kept0 < 4);
  CHECK(kept10 >= 8);
  CHECK(kept10 < 16);
}

// `trim-huge-pad`: malloc_trim with pads near SIZE_MAX, a live block just
// below the free top; prints "ok" if the block is intact and the break did
// not move.
CHILD_MODE("trim-huge-pad") {
  auto* live = static_cast<unsigned char*>(malloc(apitest::opaque(size_t{40000})));
  void* gone = malloc(apitest::opaque(size_t{100000}));
  if (live == nullptr || gone == nullptr) return 2;
  memset(live, 0x5c, 40000);
  free(gone);
  void* brk_before = sbrk(0);
  for (size_t d : {size_t{1}, size_t{64}, size_t{4096}, size_t{4128}}) malloc_trim(SIZE_MAX - d + 1);
  if (!apitest::all_bytes(live, 40000, 0x5c)) return 3;
  if (sbrk(0) != brk_before) return 4;
  free(live);
  printf("ok\n");
  return 0;
}

// A pad near SIZE_MAX wrapped in the trim's arithmetic: the top went whole,
// or more than the top (the live block's last page and the top's header
// were given back with brk, and the process crashed).
TEST_CASE("api: malloc_trim with a pad near SIZE_MAX keeps the top and every live byte") {
  auto r = run_self({"trim-huge-pad"});
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  CHECK(r.out == "ok\n");
}

// The whole process's <system type="current"> is the sum of its heaps', as
// glibc's: a live mapped block is counted in <total type="mmap"> only.
TEST_CASE("api: malloc_info's process totals leave mapped blocks to the mmap total") {
  void* big = malloc(apitest::opaque(size_t{4 * kMiB}));
  REQUIRE(big != nullptr);
  std::string xml = malloc_info_text();
  free(big);
  CAPTURE(xml);
  size_t heaps = 0, total = 0, v = 0;
  bool in_heap = false;
  for (const std::string& line : apitest::lines(xml)) {
    if (line.rfind("<heap ", 0) == 0) in_heap = true;
    if (line.rfind("</heap>", 0) == 0) in_heap = false;
    if (sscanf(line.c_str(), "<system type=\"current\" size=\"%zu\"/>", &v) == 1) (in_heap ? heaps : total) += v;
  }
  CHECK(heaps > 0);
  CHECK(total == heaps);
}

// `info-rest`: 20 heap blocks freed in reverse order (they join the top);
// prints the <total type="rest"> count and size of malloc_info's heap and
// mallinfo2's keepcost (the top), read after it. glibc counts the top in
// "rest" (as in ordblks and fordblks); libmalloc left it out.
CHILD_MODE("info-rest") {
  std::vector<void*> blocks;
  for (int i = 0; i < 20; ++i) blocks.push_back(malloc(40000));
  for (size_t i = blocks.size(); i-- > 0;) free(blocks[i]);
  size_t count = 0, size = 0;
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);  // (malloc_info_text's checks need doctest's context)
  if (!f || malloc_info(0, f) != 0) return 2;
  fclose(f);
  size_t keepcost = mallinfo2().keepcost;
  std::string xml(buf, len);
  free(buf);
  for (const std::string& line : apitest::lines(xml))
    if (sscanf(line.c_str(), "<total type=\"rest\" count=\"%zu\" size=\"%zu\"", &count, &size) == 2) break;
  printf("rest %zu %zu keepcost %zu\n", count, size, keepcost);
  return 0;
}

TEST_CASE("api: malloc_info's rest total includes the top, as glibc's") {
  auto r = run_self({"info-rest"});
  CHECK(r.exited_ok());
  size_t count = 0, size = 0, keepcost = 0;
  CAPTURE(r.out);
  REQUIRE(sscanf(r.out.c_str(), "rest %zu %zu keepcost %zu", &count, &size, &keepcost) == 3);
  CHECK(keepcost > 0);
  CHECK(count >= 1);
  CHECK(size >= keepcost);
}

TEST_CASE("api: malloc_info writes XML starting with <malloc version=") {
  std::string xml = malloc_info_text();
  CAPTURE(xml);
  CHECK(xml.rfind("<malloc version=", 0) == 0);
  CHECK(contains(xml, "</malloc>"));
  // Every <total> carries type, count and size, as glibc's do (a parser
  // reading count crashed on libmalloc's own totals, which had none).
  size_t totals = 0;
  for (const std::string& line : apitest::lines(xml)) {
    if (line.rfind("<total ", 0) != 0) continue;
    ++totals;
    CAPTURE(line);
    CHECK(contains(line, " type=\""));
    CHECK(contains(line, " count=\""));
    CHECK(contains(line, " size=\""));
  }
  CHECK(totals >= 4);
  FILE* g = fopen("/dev/null", "w");
  REQUIRE(g != nullptr);
  CHECK(malloc_info(1, g) != 0);  // options must be 0
  fclose(g);
}

// `brk-blocked`: puts a mapping right above the program break, so brk can
// no longer grow, then allocates 64 MiB of 1..64 KiB blocks, checks every
// byte, frees them, and prints "ok N" with N the blocks that lie above the
// blocking mapping (served from mapped continuation regions, not brk).
CHILD_MODE("brk-blocked") {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  free(malloc(100));  // the heap exists
  auto end = reinterpret_cast<uintptr_t>(sbrk(0));
  end = (end + page - 1) & ~(page - 1);
  void* wall = mmap(reinterpret_cast<void*>(end), 1 << 20, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (wall != reinterpret_cast<void*>(end)) return 3;
  std::vector<std::pair<unsigned char*, size_t>> blocks;
  size_t total = 0;
  unsigned seed = 7;
  while (total < 64 * kMiB) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 1 + (seed >> 8) % (64 * kKiB);
    auto* p = static_cast<unsigned char*>(malloc(n));
    if (p == nullptr) return 4;
    memset(p, static_cast<int>(n & 0xff), n);
    blocks.push_back({p, n});
    total += n;
  }
  size_t elsewhere = 0;
  for (auto [p, n] : blocks) {
    for (size_t i = 0; i < n; i += 97)
      if (p[i] != (n & 0xff)) return 5;
    elsewhere += reinterpret_cast<uintptr_t>(p) < end || reinterpret_cast<uintptr_t>(p) >= end + (1 << 20);
  }
  for (auto [p, n] : blocks) free(p);
  printf("ok %zu\n", elsewhere == blocks.size() ? blocks.size() : 0);
  return 0;
}

static int count_maps_lines() {
  FILE* f = fopen("/proc/self/maps", "r");
  if (f == nullptr) return -1;
  int n = 0;
  char line[512];
  while (fgets(line, sizeof line, f)) ++n;
  fclose(f);
  return n;
}

// `brk-blocked-cycles N`: brk blocked as above, then N times a 100000-byte
// block is allocated, written, freed and malloc_trim(0) called (the heap
// grows into a continuation region and is trimmed back), then 20000 blocks
// of 64 bytes. Prints how many /proc/self/maps lines the cycles added and
// how many the small blocks added.
CHILD_MODE("brk-blocked-cycles") {
  int cycles = atoi(args.at(0).c_str());
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  free(malloc(100));
  auto end = (reinterpret_cast<uintptr_t>(sbrk(0)) + page - 1) & ~(page - 1);
  end += 64 * kKiB;
  void* wall = mmap(reinterpret_cast<void*>(end), page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (wall != reinterpret_cast<void*>(end)) return 3;
  int before = count_maps_lines();
  for (int i = 0; i < cycles; ++i) {
    auto* p = static_cast<char*>(malloc(apitest::opaque(size_t{100000})));
    if (p == nullptr) return 4;
    memset(p, 1, 100000);
    free(p);
    malloc_trim(0);
  }
  int after_cycles = count_maps_lines();
  std::vector<void*> small;
  for (int i = 0; i < 20000; ++i) {
    small.push_back(malloc(apitest::opaque(size_t{64})));
    if (small.back() == nullptr) return 5;
    memset(small.back(), 2, 64);
  }
  int after_small = count_maps_lines();
  for (void* p : small) free(p);
  printf("%d %d\n", after_cycles - before, after_small - after_cycles);
  return 0;
}

// Each cycle took a new continuation region (a trim had shrunk the last one)
// and one of the heap's 256 segment slots; with none left, every request
// became a mapping of its own (20000 small blocks: 20000 more mappings).
// Now the region grows back in place, as the break would.
TEST_CASE("api: a heap that grows and is trimmed again and again with brk blocked keeps its regions") {
  auto r = run_self({"brk-blocked-cycles", "300"});
  CAPTURE(r.out);
  CAPTURE(r.err);
  REQUIRE(r.exited_ok());
  int cycles_lines = -1, small_lines = -1;
  REQUIRE(sscanf(r.out.c_str(), "%d %d", &cycles_lines, &small_lines) == 2);
  CHECK(cycles_lines < 32);
  CHECK(small_lines < 32);
}

TEST_CASE("api: when a mapping blocks brk, the heap continues in mapped regions") {
  auto r = run_self({"brk-blocked"});
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.exited_ok());
  size_t n = 0;
  CHECK(sscanf(r.out.c_str(), "ok %zu", &n) == 1);
  CHECK(n > 1000);
}
