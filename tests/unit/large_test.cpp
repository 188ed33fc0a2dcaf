// Unit tests of the large-block layer: mappings, the cache of freed
// mappings, mremap, alignment, ownership and double-free detection.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "config/config.h"
#include "large/large.h"
#include "os/os.h"
#include "stats/stats.h"
#include "support/child.h"

using namespace lm;

namespace {
struct Init {
  Init() {
    config::parse_environment();
    large::init(0x1234567);
  }
} g_init;
uintptr_t A(void* p) { return reinterpret_cast<uintptr_t>(p); }
}  // namespace

TEST_CASE("large: a block is page-backed, writable to its usable size, and ours") {
  auto* p = static_cast<char*>(large::alloc(1 << 20, 16, false));
  REQUIRE(p);
  CHECK(A(p) % 16 == 0);
  CHECK(large::usable_size(p) >= 1 << 20);
  std::memset(p, 3, large::usable_size(p));
  CHECK(large::owns(p));
  CHECK(!large::owns(p + 16));
  int local;
  CHECK(!large::owns(&local));
  large::free(p, "free()");
  large::trim();
}

TEST_CASE("large: a freed mapping is reused by the next request, zeroed for calloc") {
  large::trim();
  size_t hits = stats::read(stats::k_large_cache_hits);
  auto* p = static_cast<unsigned char*>(large::alloc(3 << 20, 16, false));
  std::memset(p, 0xff, 3 << 20);
  large::free(p, "free()");
  CHECK(large::snapshot().cached_blocks == 1);
  auto* q = static_cast<unsigned char*>(large::alloc(2 << 20, 16, true));
  CHECK(stats::read(stats::k_large_cache_hits) == hits + 1);
  for (size_t i = 0; i < (2u << 20); i += 997) REQUIRE(q[i] == 0);
  large::free(q, "free()");
  // A larger request grows a cached mapping with mremap.
  auto* r = static_cast<unsigned char*>(large::alloc(5 << 20, 16, true));
  CHECK(stats::read(stats::k_large_cache_hits) == hits + 2);
  for (size_t i = 0; i < (5u << 20); i += 997) REQUIRE(r[i] == 0);
  large::free(r, "free()");
  CHECK(large::trim() > 0);
  CHECK(large::snapshot().cached_blocks == 0);
}

TEST_CASE("large: a reused mapping's header is registered where it is, in place or moved by an alignment") {
  large::trim();
  size_t live = large::snapshot().live_blocks;
  // A mapping where some alignment up to 256 KiB puts a block's header a
  // page or more above where an unaligned block's is (the page map has an
  // entry per page). Not one that ends 4 KiB below a 512 KiB boundary (the
  // kernel may place a mapping right below another): then a candidate of
  // another size.
  auto fits = [](void* q, size_t a) { return ((A(q) + a - 1) & ~(a - 1)) - A(q) >= 4096; };
  void* cand[4] = {};
  size_t size = 0, align = 0;
  char* p = nullptr;
  for (int k = 0; k < 4 && !p; ++k) {
    size_t sz = (size_t{1} << 20) + k * 12288;
    cand[k] = large::alloc(sz, 16, false);
    REQUIRE(cand[k]);
    for (size_t a = 8192; a <= (256u << 10) && !p; a *= 2)
      if (fits(cand[k], a)) {
        p = static_cast<char*>(cand[k]);
        size = sz;
        align = a;
      }
  }
  REQUIRE(p);
  for (void* q : cand)
    if (q && q != p) large::free(q, "free()");
  large::trim();
  large::free(p, "free()");
  // Same request: same mapping, same header (its page-map entry kept).
  auto* q = static_cast<char*>(large::alloc(size, 16, false));
  CHECK(q == p);
  CHECK(large::owns(q));
  CHECK(large::snapshot().live_blocks == live + 1);
  std::memset(q, 5, size);
  large::free(q, "free()");
  CHECK(large::snapshot().live_blocks == live);
  // Aligned from the same mapping: the header moves up a page or more, and
  // the old address is no longer a block.
  auto* r = static_cast<char*>(large::alloc(size - align - 8192, align, false));
  REQUIRE(r);
  CHECK(A(r) % align == 0);
  CHECK(A(r) - A(p) >= 4096);
  CHECK(A(r) - A(p) < size);
  CHECK(large::owns(r));
  CHECK(!large::owns(p));
  CHECK(large::snapshot().live_blocks == live + 1);
  large::free(r, "free()");
  // And back: the header returns to the start.
  auto* s = static_cast<char*>(large::alloc(size, 16, false));
  CHECK(s == p);
  CHECK(large::owns(s));
  CHECK(!large::owns(r));
  large::free(s, "free()");
  CHECK(large::snapshot().live_blocks == live);
  large::trim();
}

TEST_CASE("large: aligned blocks up to 1 MiB") {
  for (size_t align = 16; align <= (1 << 20); align *= 2) {
    auto* p = static_cast<char*>(large::alloc(300000, align, false));
    REQUIRE(p);
    CHECK(A(p) % align == 0);
    CHECK(large::usable_size(p) >= 300000);
    std::memset(p, 1, 300000);
    large::free(p, "free()");
  }
  large::trim();
}

TEST_CASE("large: resize keeps the content and updates the size") {
  auto* p = static_cast<unsigned char*>(large::alloc(200000, 16, false));
  for (int i = 0; i < 200000; ++i) p[i] = static_cast<unsigned char>(i * 7);
  auto* q = static_cast<unsigned char*>(large::resize(p, 8 << 20));
  REQUIRE(q);
  CHECK(large::usable_size(q) >= 8u << 20);
  for (int i = 0; i < 200000; ++i) REQUIRE(q[i] == static_cast<unsigned char>(i * 7));
  auto* r = static_cast<unsigned char*>(large::resize(q, 150000));
  REQUIRE(r);
  for (int i = 0; i < 150000; ++i) REQUIRE(r[i] == static_cast<unsigned char>(i * 7));
  CHECK(large::owns(r));
  large::free(r, "free()");
  large::trim();
}

TEST_CASE("large: live and maximum counts follow allocations") {
  large::Snapshot before = large::snapshot();
  void* a = large::alloc(1 << 20, 16, false);
  void* b = large::alloc(1 << 20, 16, false);
  CHECK(large::snapshot().live_blocks == before.live_blocks + 2);
  CHECK(large::snapshot().max_blocks >= 2);
  large::free(a, "free()");
  large::free(b, "free()");
  CHECK(large::snapshot().live_blocks == before.live_blocks);
  large::trim();
}

TEST_CASE("large: double free aborts, cached or unmapped") {
  auto child = [](auto f) { return lmtest::signal_of_child(f); };
  CHECK(child([] {
          void* p = large::alloc(1 << 20, 16, false);
          large::free(p, "free()");
          large::free(p, "free()");  // still cached: the cookie says freed
        }) == SIGABRT);
  CHECK(child([] {
          void* p = large::alloc(1 << 20, 16, false);
          large::free(p, "free()");
          large::trim();
          if (!large::owns(p) && large::recently_unmapped(p)) abort();
        }) == SIGABRT);
}

TEST_CASE("large: resize within the mapping moves only the block's end; growth is geometric") {
  large::trim();
  auto* p = static_cast<unsigned char*>(large::alloc(200000, 16, false));
  REQUIRE(p);
  for (int i = 0; i < 200000; ++i) p[i] = static_cast<unsigned char>(i);
  // Grow in small steps: only a logarithmic number of mremap calls.
  size_t remaps = stats::read(stats::k_large_remaps);
  for (size_t n = 200000; n <= 4000000; n += 4096) {
    p = static_cast<unsigned char*>(large::resize(p, n));
    REQUIRE(p);
    REQUIRE(large::usable_size(p) >= n);
    p[n - 1] = 1;
  }
  CHECK(stats::read(stats::k_large_remaps) - remaps < 12);
  for (int i = 0; i < 200000; i += 7) REQUIRE(p[i] == static_cast<unsigned char>(i));
  // A mild shrink keeps the mapping and its pages; the block end moves.
  remaps = stats::read(stats::k_large_remaps);
  p = static_cast<unsigned char*>(large::resize(p, 3000000));
  CHECK(stats::read(stats::k_large_remaps) == remaps);
  CHECK(large::usable_size(p) >= 3000000);
  CHECK(large::usable_size(p) < 3000000 + 4096);
  // A deep shrink gives the pages back.
  p = static_cast<unsigned char*>(large::resize(p, 300000));
  CHECK(stats::read(stats::k_large_remaps) == remaps + 1);
  CHECK(large::owns(p));
  large::free(p, "free()");
  large::trim();
}

TEST_CASE("large: a growing block takes twice its need of a cached mapping; a new block takes a trimmed one") {
  large::trim();
  void* big = large::alloc(8 << 20, 16, false);
  large::free(big, "free()");
  void* grow = large::alloc(200000, 16, false, true);
  CHECK(grow == big);
  size_t keep = (2 * (200000 + large::kHeaderSize) + 4095) / 4096 * 4096;
  CHECK(large::snapshot().live_bytes == keep);        // room to grow
  CHECK(large::snapshot().cached_bytes == (8u << 20) + 4096 - keep);  // the rest, cached after it
  CHECK(large::usable_size(grow) < 200000 + 4096);    // but the block is its size
  large::free(grow, "free()");
  CHECK(large::snapshot().cached_blocks == 1);  // the block and its tail: one mapping again
  CHECK(large::snapshot().cached_bytes == (8u << 20) + 4096);
  large::trim();
  big = large::alloc(8 << 20, 16, false);
  large::free(big, "free()");
  void* plain = large::alloc(200000, 16, false);
  CHECK(large::snapshot().live_bytes < (1u << 20));   // trimmed to twice the need
  large::free(plain, "free()");
  large::trim();
}

TEST_CASE("large: a cached mapping 2-8 times a new block's size is split, its tail cached on its own") {
  large::trim();
  size_t unmaps = stats::read(stats::k_large_unmaps);
  size_t maps = stats::read(stats::k_large_maps);
  // Mapping sizes of whole pages: 3 MiB, then three blocks of 1 MiB.
  constexpr size_t kBlock = (1 << 20) - large::kHeaderSize;
  void* big = large::alloc(3 * (1 << 20) - large::kHeaderSize, 16, false);
  REQUIRE(big);
  std::memset(big, 0x11, 3 * (1 << 20) - large::kHeaderSize);
  large::free(big, "free()");
  void* parts[3];
  for (auto& p : parts) {
    p = large::alloc(kBlock, 16, false);
    REQUIRE(p);
    CHECK(large::owns(p));
    std::memset(p, 0x22, kBlock);
  }
  // All three come from the one mapping, each holding only its own share.
  CHECK(stats::read(stats::k_large_maps) == maps + 1);
  CHECK(large::snapshot().live_bytes == 3u << 20);
  CHECK(large::snapshot().cached_blocks == 0);
  CHECK(A(parts[1]) == A(parts[0]) + (1 << 20));
  CHECK(A(parts[2]) == A(parts[1]) + (1 << 20));
  for (void* p : parts) large::free(p, "free()");
  CHECK(large::snapshot().cached_blocks == 3);
  CHECK(large::trim() == 3u << 20);
  // A tail left in the cache (no block header: nothing to deregister) is
  // unmapped by trim.
  void* again = large::alloc(3 * (1 << 20) - large::kHeaderSize, 16, false);
  large::free(again, "free()");
  void* one = large::alloc(kBlock, 16, false);
  CHECK(large::owns(one));
  CHECK(large::snapshot().cached_blocks == 1);
  CHECK(large::trim() == 2u << 20);
  CHECK(large::snapshot().cached_blocks == 0);
  CHECK(large::owns(one));
  std::memset(one, 0x33, kBlock);
  large::free(one, "free()");
  CHECK(large::trim() == 1u << 20);
  CHECK(stats::read(stats::k_large_unmaps) > unmaps);
}

namespace {
// Resident pages of the mapping holding `block`, `bytes` long from its start.
size_t resident_pages(void* block, size_t bytes) {
  static unsigned char vec[(32 << 20) / 4096];
  uintptr_t base = A(block) & ~uintptr_t{4095};
  REQUIRE(bytes <= sizeof vec * 4096);
  REQUIRE(os::residency(reinterpret_cast<void*>(base), bytes, vec));
  size_t resident = 0;
  for (size_t i = 0; i < bytes / 4096; ++i) resident += vec[i] & 1;
  return resident;
}

constexpr size_t kGrowBig = 16 << 20;

// A 16 MiB mapping, written, freed into the cache, then taken by a block of
// 200000 bytes that realloc moves up from the heap (growing): its head.
void* growing_block_in_cached_mapping(bool dirty = true) {
  large::trim();
  void* big = large::alloc(kGrowBig - large::kHeaderSize, 16, false);
  REQUIRE(big);
  if (dirty) std::memset(big, 0x11, kGrowBig - large::kHeaderSize);
  large::free(big, "free()");
  void* grow = large::alloc(200000, 16, false, true);
  REQUIRE(grow == big);
  CHECK(large::snapshot().cached_blocks == 1);  // the tail
  return grow;
}
}  // namespace

TEST_CASE("large: a growing block grows into the cached tail of its mapping, pages and all") {
  // A buffer grown to 16 MiB by small reallocs, freed, grown again: the
  // second growth finds its pages resident (purged, every round faulted them
  // all again: 3.7x glibc's time), with no remap.
  constexpr size_t kBig = kGrowBig;
  size_t remaps = stats::read(stats::k_large_remaps);
  void* grow = growing_block_in_cached_mapping();
  for (size_t n = 300000; n < kBig - large::kHeaderSize; n += n / 4) {
    void* q = large::resize(grow, n);
    REQUIRE(q == grow);
    CHECK(static_cast<unsigned char*>(q)[n - 1] == 0x11);  // the old pages, not fresh ones
  }
  REQUIRE(large::resize(grow, kBig - large::kHeaderSize) == grow);
  CHECK(stats::read(stats::k_large_remaps) == remaps);
  CHECK(large::snapshot().cached_blocks == 0);
  CHECK(large::snapshot().live_bytes == kBig);
  CHECK(resident_pages(grow, kBig) == kBig / 4096);
  // Past the old mapping: mremap, as before.
  void* more = large::resize(grow, kBig + (1 << 20));
  REQUIRE(more);
  CHECK(stats::read(stats::k_large_remaps) == remaps + 1);
  large::free(more, "free()");
  large::trim();
}

TEST_CASE("large: a growing block's cached tail decays on its own") {
  constexpr size_t kBig = kGrowBig;
  void* grow = growing_block_in_cached_mapping();
  CHECK(resident_pages(grow, kBig) == kBig / 4096);  // still all resident: the tail is cached
  CHECK(large::snapshot().cached_bytes == kBig - large::snapshot().live_bytes);
  large::trim();  // (as decay does after decay_ms): the tail is unmapped, the block keeps its head
  CHECK(large::snapshot().cached_bytes == 0);
  CHECK(static_cast<unsigned char*>(grow)[199999] == 0x11);
  // The block still grows (now by mremap, into fresh pages).
  void* q = large::resize(grow, 4 << 20);
  REQUIRE(q);
  static_cast<unsigned char*>(q)[(4 << 20) - 1] = 1;
  large::free(q, "free()");
  large::trim();
}

TEST_CASE("large: a growing block's tail is held a tenth of decay_ms, then its growth maps afresh") {
  auto& o = const_cast<config::Options&>(config::options());
  size_t decay = o.decay_ms;
  o.decay_ms = 200;  // the tail is held 20 ms
  void* grow = growing_block_in_cached_mapping(false);
  usleep(40 * 1000);
  // The next growth past the head finds the tail expired (on the clock, with
  // no other allocator call in between): it is unmapped, the block remapped.
  size_t remaps = stats::read(stats::k_large_remaps);
  void* q = large::resize(grow, 1 << 20);
  REQUIRE(q);
  CHECK(stats::read(stats::k_large_remaps) == remaps + 1);
  CHECK(large::snapshot().cached_blocks == 0);
  large::free(q, "free()");
  large::trim();
  o.decay_ms = decay;
}

TEST_CASE("large: a mapping above 32 MiB is unmapped at free, not cached") {
  large::trim();
  size_t unmaps = stats::read(stats::k_large_unmaps);
  void* p = large::alloc(40 << 20, 16, false);
  REQUIRE(p);
  large::free(p, "free()");
  CHECK(large::snapshot().cached_blocks == 0);
  CHECK(stats::read(stats::k_large_unmaps) == unmaps + 1);
  void* q = large::alloc(30 << 20, 16, false);
  large::free(q, "free()");
  CHECK(large::snapshot().cached_blocks == 1);
  large::trim();
}

namespace {
// Caps this process's address space at what it maps now plus `extra` bytes
// (RLIMIT_AS): for the children below.
bool limit_address_space(size_t extra) {
  FILE* f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  bool ok = f && fscanf(f, "%lu", &pages) == 1;
  if (f) fclose(f);
  rlimit lim{};
  lim.rlim_cur = lim.rlim_max = pages * 4096 + extra;
  return ok && setrlimit(RLIMIT_AS, &lim) == 0;
}
}  // namespace

TEST_CASE("large: when the page map cannot register a block's header, no block is handed out") {
  // In a child: the block's mapping is made to land in a GiB that has no
  // page-map leaf yet (the space from where the kernel would put it down to
  // the GiB boundary below is taken first), under an address-space limit
  // that the mapping fits and the 1 MiB leaf does not. Exit code 0: as
  // expected; 3: a block came back that free() could not find.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    constexpr uintptr_t kGiB = uintptr_t{1} << 30;
    // Larger than any cached mapping of the other cases (none is reused) and
    // than the holes between libraries.
    constexpr size_t kBlock = size_t{64} << 20;
    void* probe = mmap(nullptr, kBlock + (1 << 20), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED) _exit(10);
    uintptr_t top = A(probe) + kBlock + (1 << 20), floor = A(probe) & ~(kGiB - 1);
    munmap(probe, kBlock + (1 << 20));
    if (mmap(reinterpret_cast<void*>(floor), top - floor, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED)
      _exit(11);
    if (!limit_address_space(kBlock + (512 << 10))) _exit(12);
    void* p = large::alloc(kBlock - 4096, 16, false);
    if (p && !large::owns(p)) _exit(3);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("large: a block that mremap moves where the page map cannot register its header is not handed out") {
  // As above, in a child, for large::resize: the block is made to move (a
  // page is mapped just past it) into a GiB with no page-map leaf yet (the
  // space from where the kernel would put the grown block down to the GiB
  // boundary below is taken first), under an address-space limit that the
  // growth fits and the 1 MiB leaf does not. Exit code 0: as expected; 3: a
  // block came back that free() could not find; 4-6: the setup did not hold
  // (the kernel refused the growth, or grew the block in place).
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    constexpr uintptr_t kGiB = uintptr_t{1} << 30;
    constexpr size_t kSmall = size_t{8} << 20, kBig = size_t{72} << 20;
    void* p = large::alloc(kSmall - 4096, 16, false);
    if (!p) _exit(10);
    uintptr_t base = A(p) - 32;  // 16-aligned: the header is the mapping's first bytes
    mmap(reinterpret_cast<void*>(base + kSmall), 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
         0);
    void* probe = mmap(nullptr, kBig, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED) _exit(11);
    uintptr_t top = A(probe) + kBig, floor = A(probe) & ~(kGiB - 1);
    munmap(probe, kBig);
    if (mmap(reinterpret_cast<void*>(floor), top - floor, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
             -1, 0) == MAP_FAILED)
      _exit(12);
    if (!limit_address_space((kBig - kSmall) + (512 << 10))) _exit(13);
    void* q = large::resize(p, kBig - 4096);
    if (q && !large::owns(q)) _exit(3);
    if (!q) _exit(large::owns(p) ? 0 : 5);  // refused: the block stays where it was
    if (q == p) _exit(6);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
