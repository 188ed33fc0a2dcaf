// core.cpp: initialisation, routing between heap and large, realloc across
// layers, glibc's introspection functions and the fork protocol.
//
// Call tree:
//   malloc -> ensure_init -> heap.alloc | large::alloc
//   free   -> pagemap::get -> heap.free | large::free | bootstrap (ignored)
//   realloc-> resize in place (heap) or mremap (large), else move
#include "core/core.h"

#include <atomic>
#include <cstring>
#include <malloc.h>
#include <pthread.h>
#include <sys/auxv.h>

#include "config/config.h"
#include "heap/heap.h"
#include "large/large.h"
#include "os/os.h"
#include "pagemap/pagemap.h"
#include "report/report.h"
#include "stats/stats.h"

namespace lm::core {

namespace {

constinit heap::Heap g_heap;
std::atomic<int> g_state{0};  // 0: not started, 1: initialising, 2: ready
thread_local bool t_in_init LM_TLS_IE = false;

// Like the kernel's bootmem before its buddy allocator is up: requests that
// arrive while initialisation itself is running (nothing in it should
// allocate, but libc may) are carved from this static area and never freed.
alignas(64) constinit char g_bootstrap[64 * 1024];
std::atomic<size_t> g_bootstrap_used{0};

bool in_bootstrap(const void* p) {
  return addr(p) >= addr(g_bootstrap) && addr(p) < addr(g_bootstrap) + sizeof(g_bootstrap);
}

void* bootstrap_alloc(size_t n, size_t align) {
  if (align < 16) align = 16;
  size_t used = g_bootstrap_used.load(std::memory_order_relaxed);
  for (;;) {
    size_t start = align_up(addr(g_bootstrap) + used + 16, align) - addr(g_bootstrap);
    if (start > sizeof(g_bootstrap) || n > sizeof(g_bootstrap) - start) return nullptr;
    if (g_bootstrap_used.compare_exchange_weak(used, start + n, std::memory_order_relaxed)) {
      // The size sits just below the block, for realloc and usable_size.
      std::memcpy(g_bootstrap + start - sizeof(size_t), &n, sizeof n);
      return g_bootstrap + start;
    }
  }
}

size_t bootstrap_size(const void* p) {
  size_t n;
  std::memcpy(&n, static_cast<const char*>(p) - sizeof n, sizeof n);
  return n;
}

void fork_prepare() {
  large::lock_for_fork();
  g_heap.lock_for_fork();
  pagemap::lock_for_fork();
}
void fork_parent() {
  pagemap::unlock_for_fork();
  g_heap.unlock_for_fork();
  large::unlock_for_fork();
}
void fork_child() {
  pagemap::reset_for_fork_child();
  g_heap.reset_for_fork_child();
  large::reset_for_fork_child();
}

uint64_t make_secret() {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  if (const void* r = reinterpret_cast<const void*>(getauxval(AT_RANDOM))) {
    uint64_t rnd;
    std::memcpy(&rnd, static_cast<const char*>(r) + 8, sizeof rnd);
    s ^= rnd;
  }
  return s ^ (addr(&s) << 16);
}

LM_SLOW_PATH bool init_slow() {
  if (t_in_init) return false;  // re-entered from our own initialisation
  int expected = 0;
  if (g_state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) {
    t_in_init = true;
    config::parse_environment();
    g_heap.init(heap::os_source());
    large::init(make_secret());
    g_state.store(2, std::memory_order_release);
    t_in_init = false;
    // After the state is ready: pthread_atfork may itself allocate.
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    return true;
  }
  while (g_state.load(std::memory_order_acquire) != 2) __builtin_ia32_pause();
  return true;
}

// False only while this thread is inside initialisation (use the bootstrap).
LM_FAST_PATH bool ensure_init() {
  if (LM_LIKELY(g_state.load(std::memory_order_acquire) == 2)) return true;
  return init_slow();
}

inline bool wants_mapping(size_t n) {
  const config::Tunables& t = config::tunables();
  return n >= t.mmap_threshold.load(std::memory_order_relaxed) &&
         large::live_blocks() < t.mmap_max.load(std::memory_order_relaxed);
}

inline void perturb_alloc(void* p, size_t n) {
  int perturb = config::tunables().perturb.load(std::memory_order_relaxed);
  if (LM_UNLIKELY(perturb)) std::memset(p, perturb ^ 0xff, n);
}

void* alloc_any(size_t n, bool zero) {
  if (wants_mapping(n)) {
    if (void* p = large::alloc(n, 16, zero)) return p;
  }
  if (void* p = g_heap.alloc(n, zero)) return p;
  // The heap cannot grow at all; a mapping may still be possible.
  if (n < config::tunables().mmap_threshold.load(std::memory_order_relaxed) &&
      config::tunables().mmap_max.load(std::memory_order_relaxed) > 0)
    return large::alloc(n, 16, zero);
  return nullptr;
}

enum class Owner { kHeap, kLarge, kBootstrap, kNone };

Owner owner_of(const void* p) {
  uptr e = pagemap::get(addr(p));
  if (e == pagemap::kHeap) return Owner::kHeap;
  if (large::owns(p)) return Owner::kLarge;
  if (in_bootstrap(p)) return Owner::kBootstrap;
  return Owner::kNone;
}

[[noreturn]] LM_SLOW_PATH void bad_pointer(const char* func, const void* p) {
  if (large::recently_unmapped(p)) report::double_free(func, p);
  report::invalid_pointer(func, p);
}

// Moves a block to a new one of n bytes, copying what fits.
void* move_block(void* p, size_t old_usable, size_t n, Owner owner) {
  void* q = alloc_any(n, false);
  if (!q) return nullptr;
  std::memcpy(q, p, old_usable < n ? old_usable : n);
  if (owner == Owner::kHeap) g_heap.free(p, "realloc()");
  else if (owner == Owner::kLarge) large::free(p, "realloc()");
  return q;
}

}  // namespace

void init() { ensure_init(); }

void* malloc(size_t n) {
  if (LM_UNLIKELY(!ensure_init())) return bootstrap_alloc(n, 16);
  void* p = alloc_any(n, false);
  if (p) perturb_alloc(p, n);
  return p;
}

void* calloc(size_t n, size_t size) {
  size_t total;
  if (mul_overflows(n, size, &total)) return nullptr;
  if (LM_UNLIKELY(!ensure_init())) return bootstrap_alloc(total, 16);  // static: zeroed
  return alloc_any(total, true);
}

void* memalign(size_t align, size_t n) {
  if (align < 16) align = 16;
  if (LM_UNLIKELY(!ensure_init())) return bootstrap_alloc(n, align);
  if (n > kMaxRequest - align) return nullptr;
  void* p = nullptr;
  if (wants_mapping(n + align)) p = large::alloc(n, align, false);
  if (!p) p = g_heap.alloc_aligned(align, n);
  if (!p && n + align < config::tunables().mmap_threshold.load(std::memory_order_relaxed))
    p = large::alloc(n, align, false);
  if (p) perturb_alloc(p, n);
  return p;
}

void free(void* p, const char* func) {
  if (!p) return;
  switch (owner_of(p)) {
    case Owner::kHeap: {
      int perturb = config::tunables().perturb.load(std::memory_order_relaxed);
      // glibc's free_perturb: the block less its header and footer.
      if (LM_UNLIKELY(perturb)) std::memset(p, perturb, heap::Heap::usable_size(p) - sizeof(size_t));
      g_heap.free(p, func);
      return;
    }
    case Owner::kLarge:
      large::free(p, func);
      return;
    case Owner::kBootstrap:
      return;
    case Owner::kNone:
      bad_pointer(func, p);
  }
}

void* realloc(void* p, size_t n) {
  if (n > kMaxRequest) return nullptr;
  size_t threshold = config::tunables().mmap_threshold.load(std::memory_order_relaxed);
  switch (owner_of(p)) {
    case Owner::kHeap: {
      if (!wants_mapping(n) && g_heap.resize_in_place(p, n, "realloc()")) return p;
      return move_block(p, heap::Heap::usable_size(p), n, Owner::kHeap);
    }
    case Owner::kLarge: {
      if (n >= threshold) {
        if (void* q = large::resize(p, n)) return q;
      } else if (void* q = move_block(p, large::usable_size(p), n, Owner::kLarge)) {
        return q;
      } else if (void* q = large::resize(p, n)) {
        return q;
      }
      return move_block(p, large::usable_size(p), n, Owner::kLarge);
    }
    case Owner::kBootstrap:
      return move_block(p, bootstrap_size(p), n, Owner::kBootstrap);
    case Owner::kNone:
      bad_pointer("realloc()", p);
  }
  return nullptr;
}

size_t usable_size(const void* p) {
  if (!p) return 0;
  switch (owner_of(p)) {
    case Owner::kHeap: return heap::Heap::usable_size(p);
    case Owner::kLarge: return large::usable_size(p);
    case Owner::kBootstrap: return bootstrap_size(p);
    case Owner::kNone: bad_pointer("malloc_usable_size()", p);
  }
  return 0;
}

int trim(size_t pad) {
  if (!ensure_init()) return 0;
  stats::count(stats::k_trims);
  bool released = large::trim() > 0;
  if (g_heap.trim(pad)) released = true;
  return released ? 1 : 0;
}

void fill_mallinfo2(struct mallinfo2* mi) {
  std::memset(mi, 0, sizeof *mi);
  if (!ensure_init()) return;
  heap::Snapshot h = g_heap.snapshot();
  large::Snapshot l = large::snapshot();
  mi->arena = h.system;
  mi->ordblks = h.free_blocks + (h.top ? 1 : 0);
  mi->hblks = l.live_blocks;
  mi->hblkhd = l.live_bytes;
  mi->usmblks = 0;  // glibc: always 0
  mi->uordblks = h.in_use;
  mi->fordblks = h.free;
  mi->keepcost = h.top;
}

void print_malloc_stats() {
  if (!ensure_init()) return;
  heap::Snapshot h = g_heap.snapshot();
  large::Snapshot l = large::snapshot();
  os::Writer w(2);
  w.printf("Arena 0:\n");
  w.printf("system bytes     = %10zu\n", h.system);
  w.printf("in use bytes     = %10zu\n", h.in_use);
  w.printf("Total (incl. mmap):\n");
  w.printf("system bytes     = %10zu\n", h.system + l.live_bytes);
  w.printf("in use bytes     = %10zu\n", h.in_use + l.live_bytes);
  w.printf("max mmap regions = %10zu\n", l.max_blocks);
  w.printf("max mmap bytes   = %10zu\n", l.max_bytes);
}

int print_malloc_info(int options, FILE* fp) {
  if (options != 0) return EINVAL;
  if (!ensure_init()) return 0;
  // Gather first: fprintf may allocate, and no lock of ours is held then.
  heap::Snapshot h = g_heap.snapshot();
  large::Snapshot l = large::snapshot();
  fprintf(fp, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n</sizes>\n");
  fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
  fprintf(fp, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", h.free_blocks, h.free - h.top);
  fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", h.system);
  fprintf(fp, "<system type=\"max\" size=\"%zu\"/>\n", h.max_system);
  fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", h.system);
  fprintf(fp, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", h.system);
  fprintf(fp, "</heap>\n");
  fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
  fprintf(fp, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", h.free_blocks, h.free - h.top);
  fprintf(fp, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", l.live_blocks, l.live_bytes);
  fprintf(fp, "<total type=\"mmap-cache\" count=\"%zu\" size=\"%zu\"/>\n", l.cached_blocks, l.cached_bytes);
  fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", h.system + l.live_bytes);
  fprintf(fp, "<system type=\"max\" size=\"%zu\"/>\n", h.max_system + l.max_bytes);
  fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", h.system + l.live_bytes);
  fprintf(fp, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", h.system + l.live_bytes);
  fprintf(fp, "</malloc>\n");
  return 0;
}

void print_report(int fd) {
  heap::Snapshot h = g_heap.snapshot();
  large::Snapshot l = large::snapshot();
  const config::Tunables& t = config::tunables();
  os::Writer w(fd);
  w.printf("== libmalloc stats (pid %d) ==\n", os::getpid());
  w.printf("heap:  system %zu bytes (max %zu), in use %zu, free %zu (top %zu) in %zu free blocks, "
           "%zu segments (%zu mapped)\n",
           h.system, h.max_system, h.in_use, h.free, h.top, h.free_blocks, h.segments, h.mapped_segments);
  w.printf("mmap:  %zu live blocks, %zu bytes (max %zu blocks, %zu bytes); cache %zu mappings, %zu bytes\n",
           l.live_blocks, l.live_bytes, l.max_blocks, l.max_bytes, l.cached_blocks, l.cached_bytes);
  w.printf("tuning: mmap_threshold %zu, trim_threshold %zu, top_pad %zu, adaptive top pad %zu\n",
           t.mmap_threshold.load(std::memory_order_relaxed), t.trim_threshold.load(std::memory_order_relaxed),
           t.top_pad.load(std::memory_order_relaxed), g_heap.adaptive_keep_for_testing());
  stats::print_counters(w);
}

int heap_check() {
  if (!ensure_init()) return 0;
  if (const char* err = g_heap.check()) {
    report::warn("heap check failed: %s", err);
    return -1;
  }
  return 0;
}

namespace {
// stats=1: the report at exit, after the program's own destructors.
__attribute__((destructor)) void report_at_exit() {
  if (g_state.load(std::memory_order_acquire) == 2 && config::options().stats) print_report(report::output_fd());
}
}  // namespace

}  // namespace lm::core
