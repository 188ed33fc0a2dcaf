// core.cpp: initialisation, routing between heap and large, realloc across
// layers, glibc's introspection functions and the fork protocol.
//
// The fast paths are in fast_path.h; this file holds everything they defer
// to. Call tree of the slow side:
//   redzone mode: every entry below goes to redzone:: first (its blocks come
//   from rz_backing_alloc: heap or large), bootstrap blocks excepted.
//   malloc_slow -> ensure_init -> thread_setup -> refill (slab::take)
//               -> alloc_any -> heap.alloc | large::alloc
//   free_slow   -> slab: double-free check, flush (slab::give)
//               -> heap.free | large::free | bootstrap (ignored) | report
//   realloc     -> same class (slab), resize in place (heap), mremap
//                  (large), else move
#include "core/core.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/auxv.h>

#include "base/pressure.h"
#include "config/config.h"
#include "libmalloc.h"
#include "core/fast_path.h"
#include "heap/heap.h"
#include "large/large.h"
#include "os/os.h"
#include "pagemap/pagemap.h"
#include "redzone/redzone.h"
#include "report/report.h"
#include "slab/desc_pool.h"
#include "slab/slab.h"
#include "slab/spans.h"
#include "stats/stats.h"

// What pthread_atfork calls. pthread_atfork itself is a three-line wrapper
// that the link takes from libc_nonshared.a and puts at the very end of the
// text, past the redzone code: calling it faulted that code in
// (docs/architecture.md, Text layout). __dso_handle is weak, as in that
// wrapper: a link without crtbegin still links.
extern "C" int __register_atfork(void (*prepare)(), void (*parent)(), void (*child)(), void* dso);
extern "C" __attribute__((weak, visibility("hidden"))) void* __dso_handle;

namespace lm::core {

void pay_mapping_growth(size_t n);  // large's growth hook (below)

constinit thread_local ThreadCache t_cache LM_TLS_IE = {};
uint64_t g_free_key = 0;

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

// ---- thread caches ----

constinit Mutex g_registry_lock;
constinit Mutex g_pressure_lock;  // a leaf: see relieve_free_pressure
std::atomic<unsigned> g_threads{0};  // how many
uint64_t g_dead_allocs[slab::kClasses];  // hits of exited threads
uint64_t g_adopted[slab::kClasses];      // batches bins took from the transfer caches
pthread_key_t g_thread_key;
bool g_redzone = false;    // redzone mode: set once, before g_state is 2
void* rz_backing_alloc(size_t align, size_t n, bool zero, size_t* usable, bool* mapped, bool* zeroed);
void rz_backing_free(void* p);
heap::Source rz_heap_source();

void transfer_map();  // below

// ---- the registry of thread caches (statistics, parked blocks) ----
//
// Its entries live in memory of ours, not in the threads' TLS: a thread
// whose first allocation comes in the last round of pthread key destructors
// sets its cache up after its own key's destructor had its turn, so it never
// leaves the registry. Linked through the caches themselves, its stale entry
// pointed into TLS that glibc reinitialises for the next thread on that
// stack (which then linked itself to itself: mallinfo2 spun forever) or
// unmaps. Now such an entry is dropped when a new cache appears at its
// address, and walks skip and drop the entries of threads that are gone.
// Dropping it frees the heap block the thread had parked (the entry keeps
// its address: up to 256 KiB a thread, which stayed parked for good, so a
// program starting such threads over and over grew without bound). The
// objects in the dead thread's bins are lost: a few KiB a thread.
}  // namespace
struct ThreadRecord {
  ThreadRecord* next;
  ThreadRecord* prev;
  ThreadCache* tc;
  int tid;
  // Copies of tc->big_size and tc->big, written by its thread (set_parked):
  // mallinfo2 reads the size, never another thread's TLS, so it needs no
  // liveness check (a tgkill per thread: 1.2 ms a call with 500 threads);
  // the block is freed when the entry of a thread gone without its teardown
  // is dropped (drop_stale).
  size_t parked;
  void* parked_block;
  void** area;  // tc->area, recycled when the entry is dropped (drop_stale)
};
namespace {

ThreadRecord* g_registry = nullptr;
ThreadRecord* g_spare_records = nullptr;  // linked through next
char* g_record_carve = nullptr;
size_t g_record_carve_left = 0;

// The thread caches' budget. Every thread's bins at their full limits hold
// up to ~0.9 MiB, and a thread that stops allocating keeps what it holds: a
// program with many more threads than CPUs then holds most of its memory in
// caches of threads that are not running (python3 with 1000 threads doing
// json work at once peaked at 266 MB, glibc 92: its tcache stops at 1032
// bytes). So above g_full_cache_threads threads (64, or four times the CPUs),
// each doubling of the thread count halves every bin's limit and the heap
// block a thread may park (cache_shift), and bins whose limit falls below one
// object cache nothing: the caches together stay within what
// g_full_cache_threads threads hold with full ones. The registry bumps the
// limits' generation when the shift changes, and every thread applies the
// new limits at its next slow path (apply_limits).
unsigned g_full_cache_threads = 64;  // set at init (bin_layout_init)
constexpr unsigned kMaxCacheShift = 10;

unsigned cache_shift(unsigned threads) {
  unsigned shift = 0;
  while (shift < kMaxCacheShift && threads > (g_full_cache_threads << shift)) ++shift;
  return shift;
}

void limits_changed();  // below: bumps the limits' generation

// Under the registry lock, after g_threads moved from `before`.
void thread_count_changed(unsigned before) {
  if (cache_shift(before) != cache_shift(g_threads.load(std::memory_order_relaxed))) limits_changed();
}

void record_unlink(ThreadRecord* r) {
  if (r->prev) r->prev->next = r->next;
  else g_registry = r->next;
  if (r->next) r->next->prev = r->prev;
  r->next = g_spare_records;
  g_spare_records = r;
  thread_count_changed(g_threads.fetch_sub(1, std::memory_order_relaxed));
}

ThreadRecord* record_new() {
  if (ThreadRecord* r = g_spare_records) {
    g_spare_records = r->next;
    return r;
  }
  if (g_record_carve_left < sizeof(ThreadRecord)) {
    constexpr size_t kChunk = 16 * 1024;
    g_record_carve = static_cast<char*>(os::map(kChunk));
    g_record_carve_left = g_record_carve ? kChunk : 0;
    if (!g_record_carve) return nullptr;
  }
  auto* r = reinterpret_cast<ThreadRecord*>(g_record_carve);
  g_record_carve += sizeof(ThreadRecord);
  g_record_carve_left -= sizeof(ThreadRecord);
  return r;
}

// ---- bin areas ----
//
// A thread's bins keep their objects as stacks of pointers, all in one area
// mapped for the thread: bin c's stack at g_bin_offset[c], as deep as the
// largest limit its class can reach (slab::busy_cache_limit), about 47 KiB
// of address space of which only what the bins fill becomes resident.
// Linked through the objects themselves (as glibc's tcache is), a flush
// walked the bin down to its cut and on through the objects it gave back, a
// refill wrote a link into every object it took, and every malloc read its
// object's link: batches of 1000 blocks of 64-256 bytes took 2-3 times
// mimalloc's time. The areas of exited threads wait here for the next ones
// (under the registry lock), so that a program starting threads over and
// over makes no system call for them; beyond kSpareAreas they are unmapped
// (a burst of 1500 threads kept 72 MB resident after they had all exited),
// and malloc_trim purges the ones kept.
//
// A bin starts on a starter stack of kStarter entries, all of them side by
// side in the area's first two pages, and moves to its own stack (grow_bin) once
// its refills or its frees need more room. On their own stacks from the
// start, a thread that allocated a few blocks of each of 30 classes touched
// a page per few classes, 7 or 8 in all: 1000 such threads held 30 MB of
// bin areas (their blocks: 27 MB).
uint32_t g_bin_offset[slab::kClasses];
// The stacks start 2 KiB into the area: at its start, the 16-byte class's
// stack shared its page offset with the first objects of its slabs' pages,
// and a malloc/free pair of 16 bytes took 8.3 ns instead of 4.3 (4K
// aliasing: the bin's load waited on the store of the object's free key).
// The starter stacks lie there: those of the classes up to 3 KiB in the
// first page, the rest in the second.
constexpr size_t kBinAreaSkew = 2048 / sizeof(void*);
constexpr unsigned kStarter = 8;
static_assert((kBinAreaSkew + slab::kClasses * kStarter) * sizeof(void*) <= 2 * 4096, "the starter stacks fill two pages");
size_t g_bin_area_bytes = 0;
void** g_spare_areas = nullptr;  // linked through their first word
unsigned g_spare_count = 0;
constexpr unsigned kSpareAreas = 8;

void bin_layout_init() {
  size_t at = kBinAreaSkew + slab::kClasses * kStarter;
  for (unsigned c = 0; c < slab::kClasses; ++c) {
    g_bin_offset[c] = static_cast<uint32_t>(at);
    at += slab::busy_cache_limit(c);
  }
  g_bin_area_bytes = align_up(at * sizeof(void*), os::page_size());
  g_full_cache_threads = std::max(64u, 4 * os::cpu_count());
}

void** starter_stack(const ThreadCache& tc, unsigned c) { return tc.area + kBinAreaSkew + c * kStarter; }

// Sets bin c's limit: what it may hold, at most kStarter objects while it is
// on its starter stack.
void set_limit(ThreadCache& tc, unsigned c, unsigned limit) {
  tc.full_limit[c] = static_cast<uint16_t>(limit);
  Bin& b = tc.bins[c];
  b.limit = tc.area && b.stack == starter_stack(tc, c) && limit > kStarter ? kStarter : limit;
}

// Moves bin c from its starter stack to its own, where it holds its whole
// limit. False if it was not short of its limit.
bool grow_bin(ThreadCache& tc, unsigned c) {
  Bin& b = tc.bins[c];
  if (b.limit >= tc.full_limit[c]) return false;
  void** own = tc.area + g_bin_offset[c];
  std::memcpy(own, b.stack, b.count * sizeof(void*));
  b.stack = own;
  b.limit = tc.full_limit[c];
  return true;
}

// Under the registry lock. Null when no memory could be mapped: the thread
// then caches nothing.
void** area_take() {
  if (void** a = g_spare_areas) {
    g_spare_areas = static_cast<void**>(a[0]);
    --g_spare_count;
    return a;
  }
  return static_cast<void**>(os::map(g_bin_area_bytes));
}
// Under the registry lock; its bins must be empty or abandoned.
void area_give(void** a) {
  if (!a) return;
  if (g_spare_count >= kSpareAreas) {
    os::unmap(a, g_bin_area_bytes);
    return;
  }
  a[0] = g_spare_areas;
  g_spare_areas = a;
  ++g_spare_count;
}

// malloc_trim: the pages of the spare areas but the first (which holds the
// link) go back.
void areas_purge() {
  LockGuard guard(g_registry_lock);
  size_t page = os::page_size();
  for (void** a = g_spare_areas; a; a = static_cast<void**>(a[0]))
    if (g_bin_area_bytes > page) os::purge(reinterpret_cast<char*>(a) + page, g_bin_area_bytes - page);
}

// Under the registry lock: drops the entry of a thread that is gone without
// its teardown, and frees the heap block it had parked. (Registry, then
// heap: the lock order of fork_prepare.) The objects in its bins are lost;
// its area serves the next thread.
void drop_stale(ThreadRecord* r) {
  void* parked = r->parked_block;
  size_t usable = r->parked;
  area_give(r->area);
  record_unlink(r);
  if (parked) g_heap.free_parked(parked, usable, "free()");
}

// Under the registry lock: is r's thread still running? (Only a thread that
// never reached its teardown can be gone while listed. A sandbox that
// refuses tgkill leaves every entry.)
bool record_alive(const ThreadRecord* r) {
  int saved = errno;
  bool gone = os::thread_gone(r->tid);
  errno = saved;
  return !gone;
}

void registry_add(ThreadCache* tc) {
  LockGuard guard(g_registry_lock);
  for (ThreadRecord* r = g_registry; r; r = r->next)
    if (r->tc == tc) {  // a cache that missed its teardown, at the same address
      drop_stale(r);
      break;
    }
  // (A forked child's thread keeps its area, its bins' stacks and what they hold.)
  if (!tc->area) {
    tc->area = area_take();
    for (unsigned c = 0; c < slab::kClasses; ++c) tc->bins[c].stack = tc->area ? starter_stack(*tc, c) : nullptr;
  }
  ThreadRecord* r = record_new();
  tc->record = r;
  if (!r) return;  // unlisted: its statistics are missed
  r->tc = tc;
  r->tid = os::gettid();
  r->parked = tc->big_size;
  r->parked_block = tc->big;
  r->area = tc->area;
  r->prev = nullptr;
  r->next = g_registry;
  if (g_registry) g_registry->prev = r;
  g_registry = r;
  unsigned before = g_threads.fetch_add(1, std::memory_order_relaxed);
  if (before == 1) transfer_map();  // the second thread
  thread_count_changed(before);
}

// At thread exit, its bins empty: the area goes to the next thread.
void registry_remove(ThreadCache* tc) {
  LockGuard guard(g_registry_lock);
  area_give(tc->area);
  tc->area = nullptr;
  for (Bin& b : tc->bins) b.stack = nullptr;
  ThreadRecord* r = tc->record;
  tc->record = nullptr;
  if (!r || r->tc != tc) return;
  for (unsigned c = 0; c < slab::kClasses; ++c) g_dead_allocs[c] += tc->bins[c].allocs;
  record_unlink(r);
}

// Calls f(cache) for every listed thread still running, dropping the
// entries of those that are gone. Under the registry lock.
template <class F>
void each_live_cache(F f) {
  for (ThreadRecord* r = g_registry, *next; r; r = next) {
    next = r->next;
    if (r->tc != &t_cache && !record_alive(r)) {
      drop_stale(r);
      continue;
    }
    f(*r->tc);
  }
}

// When upkeep last ran: a coarse clock for everything that ages.
std::atomic<uint64_t> g_last_upkeep_ms{0};

// ---- transfer caches ----
//
// Between the thread caches and the slabs, per class, a small stack of whole
// batches (tcmalloc's transfer cache): a thread that flushes a full batch
// parks it here, and a thread whose bin ran empty adopts a parked batch as
// its bin. A batch is a copy of the bin's pointers (in g_transfer_store), so
// no object is touched; only when the stack is full or empty do objects go
// to or come from their slabs. This is what makes cross-thread frees (one
// thread allocates, another frees) scale. (Linked through the objects, as
// it was before the bins became stacks, adopting a batch walked the freeing
// thread's objects from the other core's cache: xthread/1024 took 1.3 times
// as long.)
//
// Each class's stack is split in kTransferShards, threads spread over them
// in the order they start (ThreadCache::shard): a thread parks in its own
// shard and adopts from it first, then from the others (parking in another
// when its own is full), so that threads that both free and allocate a
// class (a ring of threads handing blocks on) do not all take one lock per
// batch. The slots are split too: the bytes a class may park stay what they
// were (with every shard as large as the single stack, producer-consumer's
// median peak RSS rose from 6.3 to 7.4 MiB). On the 16-core machine, 16
// threads, medians of 5 (904e375 -> split, own shard only -> split with
// spill): xthread/1024 1873 -> 512 -> 400 ns per batch, xthread/8192
// 7851 -> 4603 -> 1784; larson/16 0.324 -> 0.315 -> 0.328 s and prodcons/16
// 0.558 -> 0.559 -> 0.576 s (noise: 0.29-0.34 and 0.53-0.59 across rounds).

constexpr unsigned kTransferShards = 4;
constexpr unsigned kShardSlots = 16;  // batches per shard at most
struct alignas(64) Transfer {
  Mutex lock;
  unsigned n;
  uint64_t touched_ms;
  uint16_t counts[kShardSlots];  // batch i: counts[i] pointers at transfer_store(shard, c, i)
};
static_assert(sizeof(Transfer) == 64);
// The stacks, [shard][class]: mapped when a second thread registers (under
// the registry lock, which fork_prepare holds too), so that a process that
// never has two threads, a forking shell among them, never has them. In
// .bss, fork_prepare's locking made all 19 pages resident: a C program that
// forks had 244 KiB of anonymous RSS against 168 without the forks.
// Null: no batch is parked anywhere.
using TransferRow = Transfer[slab::kClasses];
TransferRow* g_transfer = nullptr;
TransferRow* transfer_rows() { return __atomic_load_n(&g_transfer, __ATOMIC_ACQUIRE); }

// Calls fn on every stack, when they exist (fork handlers and the child).
template <class Fn>
void each_transfer(Fn&& fn) {
  if (TransferRow* rows = g_transfer)
    for (unsigned i = 0; i < kTransferShards; ++i)
      for (Transfer& t : rows[i]) fn(t);
}

// The batches' pointers, after the rows in the same mapping: per shard, per
// class, g_transfer_slots[c] slots of g_batch_max[c] pointers (about 1.5 MiB
// of address space, resident as far as batches were parked).
void** g_transfer_store = nullptr;
uint32_t g_store_offset[slab::kClasses];  // in pointers, within a shard's part
size_t g_store_per_shard = 0;
// The most objects a batch holds: half the largest limit of the class's bins.
uint16_t g_batch_max[slab::kClasses];

void** transfer_store(unsigned shard, unsigned c, unsigned slot) {
  return g_transfer_store + shard * g_store_per_shard + g_store_offset[c] + size_t{slot} * g_batch_max[c];
}
// Before a stack's lock is taken: its lines were last written by another
// thread's core, and a copy that missed on them under the lock made the
// threads queue on it (xthread/1024 at 2 threads: 8% of the time in the
// futex).
void prefetch_store(void** at, unsigned count, bool write) {
  for (unsigned i = 0; i < count; i += 8) {
    if (write) __builtin_prefetch(at + i, 1);
    else __builtin_prefetch(at + i, 0);
  }
}

// Registry lock held. (Mapped memory is zero: every stack unlocked and empty.
// If the mapping fails, threads give their batches to the slabs.)
void transfer_map() {
  if (g_transfer) return;
  size_t rows = align_up(sizeof(TransferRow) * kTransferShards, 4096);
  void* m = os::map(align_up(rows + g_store_per_shard * kTransferShards * sizeof(void*), 4096));
  if (!m) return;
  g_transfer_store = reinterpret_cast<void**>(static_cast<char*>(m) + rows);
  __atomic_store_n(&g_transfer, static_cast<TransferRow*>(m), __ATOMIC_RELEASE);
}
// Batches per shard of each class, apart from g_transfer.
constinit uint8_t g_transfer_slots[slab::kClasses] = {};
// Set (for good) at a class's first parked batch, so that a bin's miss and
// the decay pass read the stacks of those classes only: reading an untouched
// page costs a page of RSS like writing it (this kernel backs even reads
// with a page of its own), and the 240 stacks span 19 pages. (When they
// lived in .bss, a single-threaded program's bin misses made all of them
// resident: a small C program's .bss went from 104 to 32 KiB with the flag.)
constinit uint8_t g_transfer_used[slab::kClasses] = {};
std::atomic<unsigned> g_next_shard{0};

void transfer_init() {
  for (unsigned c = 0; c < slab::kClasses; ++c) {
    // Up to ~1 MiB of objects per class, between 4 and 64 batches, split
    // over the shards, at least 2 per shard. The classes above 4 KiB (bins
    // of one object, which park batches only while busy: adapt_big_bin)
    // get 8: up to 256 KiB parked per class, drained after decay_ms. (One
    // per shard: xthread/8192 at 16 threads 1784 -> 3284 ns per batch.)
    size_t batch_bytes = (slab::cache_limit(c) / 2) * slab::class_size(c);
    size_t slots = batch_bytes ? (1u << 20) / batch_bytes : 4;
    slots = (slots < 4 ? 4 : slots > 64 ? 64 : slots) / kTransferShards;
    g_transfer_slots[c] = static_cast<uint8_t>(slots < 2 ? 2 : slots);
    unsigned most = slab::busy_cache_limit(c) / 2;
    g_batch_max[c] = static_cast<uint16_t>(most < 1 ? 1 : most);
    g_store_offset[c] = static_cast<uint32_t>(g_store_per_shard);
    g_store_per_shard += size_t{g_transfer_slots[c]} * g_batch_max[c];
  }
}

// Into the shard's stack, else into the first other shard with room (read
// without its lock first: a hint), so the class parks as many batches as
// one unsplit stack would.
bool transfer_put(unsigned shard, unsigned c, void* const* objs, unsigned count) {
  TransferRow* rows = transfer_rows();
  if (!rows || count == 0 || count > g_batch_max[c]) return false;
  const unsigned slots = g_transfer_slots[c];
  for (unsigned i = 0; i < kTransferShards; ++i) {
    unsigned k = (shard + i) % kTransferShards;
    Transfer& t = rows[k][c];
    unsigned hint = __atomic_load_n(&t.n, __ATOMIC_RELAXED);
    if (i > 0 && hint >= slots) continue;
    if (hint < slots) prefetch_store(transfer_store(k, c, hint), count, true);
    LockGuard guard(t.lock);
    if (t.n == slots) continue;
    std::memcpy(transfer_store(k, c, t.n), objs, count * sizeof(void*));
    t.counts[t.n] = static_cast<uint16_t>(count);
    __atomic_store_n(&t.n, t.n + 1, __ATOMIC_RELAXED);  // read unlocked as a hint
    t.touched_ms = g_last_upkeep_ms.load(std::memory_order_relaxed);
    if (!__atomic_load_n(&g_transfer_used[c], __ATOMIC_RELAXED)) __atomic_store_n(&g_transfer_used[c], 1, __ATOMIC_RELAXED);
    return true;
  }
  return false;
}

// A batch from the shard's stack, else from the first other shard that has
// one (read without its lock first: a hint), copied to out[] (room for
// g_batch_max[c]). Returns how many objects, 0 if none was parked. With
// `most` below a batch, takes that many off the top batch only (a drain
// with a small buffer).
unsigned transfer_get(unsigned shard, unsigned c, void** out, unsigned most = ~0u) {
  if (!__atomic_load_n(&g_transfer_used[c], __ATOMIC_RELAXED)) return 0;  // nothing was ever parked
  TransferRow* rows = transfer_rows();
  if (!rows) return 0;
  for (unsigned i = 0; i < kTransferShards; ++i) {
    unsigned k = (shard + i) % kTransferShards;
    Transfer& t = rows[k][c];
    unsigned hint = __atomic_load_n(&t.n, __ATOMIC_RELAXED);
    if (i > 0 && hint == 0) continue;
    if (hint > 0) prefetch_store(transfer_store(k, c, hint - 1), g_batch_max[c], false);
    LockGuard guard(t.lock);
    if (t.n == 0) continue;
    unsigned top = t.n - 1, count = t.counts[top];
    if (count > most) {
      t.counts[top] = static_cast<uint16_t>(count - most);
      std::memcpy(out, transfer_store(k, c, top) + (count - most), most * sizeof(void*));
      return most;
    }
    __atomic_store_n(&t.n, top, __ATOMIC_RELAXED);  // read unlocked as a hint
    std::memcpy(out, transfer_store(k, c, top), count * sizeof(void*));
    return count;
  }
  return 0;
}

// Returns every parked batch of class c to the slabs (trim, decay), a few
// objects at a time: a batch may be larger than what a thread's stack
// should hold, and giving under the stack's lock would take a class lock
// inside it.
void transfer_drain(unsigned c, const char* func = "free()") {
  void* objs[64];
  while (unsigned n = transfer_get(0, c, objs, 64)) slab::give(c, objs, n, func);
}

// Gives back all but the `keep` most recently freed objects of bin c: the
// oldest go first, as the kernel's array_cache flushes, so that a program
// that frees its newest blocks first does not leave its oldest pinned in
// the cache (their slabs could not empty). A full batch is parked in the
// transfer cache (its pointers copied).
void flush_bin(ThreadCache& tc, unsigned c, unsigned keep, bool to_transfer = true, const char* func = "free()") {
  Bin& b = tc.bins[c];
  if (b.count <= keep) return;
  unsigned remaining = b.count - keep;
  bool parked = false;
  // Parking only pays when another thread may adopt the batch; a lone
  // thread's objects go straight back, so its slabs can empty.
  if (to_transfer && remaining == tc.full_limit[c] / 2 && g_threads.load(std::memory_order_relaxed) > 1)
    parked = transfer_put(tc.shard, c, b.stack, remaining);
  if (!parked) slab::give(c, b.stack, remaining, func);
  std::memmove(b.stack, b.stack + remaining, keep * sizeof(void*));
  b.count = keep;
}

// Bins above 4 KiB hold one object (slab::cache_limit): two or four of each
// of those classes in every thread were a megabyte of producer-consumer's
// peak, for messages that are 1% of its traffic. But a thread that moves
// many such blocks (I/O buffers handed to another thread to free) would then
// take a class lock per object, contended by the thread on the other side.
// So a bin that misses or overflows again within kBusyEvents of the
// thread's misses and overflows (of all bins) is busy and doubles its
// limit, up to 64 KiB of objects; one that misses or overflows less often
// goes back to one object. Called at each miss and overflow of a bin. (A
// grown bin shrinks only at its class's next miss or overflow: a thread
// that stops using the class keeps up to 64 KiB of it until then, or until
// it exits or calls malloc_trim.)
constexpr uint32_t kBusyEvents = 8;

void adapt_big_bin(ThreadCache& tc, unsigned c) {
  uint32_t now = ++tc.events;
  if (slab::class_size(c) <= slab::kOneObjectBinsAbove) return;
  bool busy = tc.last_event[c] != 0 && now - tc.last_event[c] <= kBusyEvents;
  tc.last_event[c] = now;
  unsigned most = slab::busy_cache_limit(c) >> tc.cache_shift, least = slab::cache_limit(c) >> tc.cache_shift;
  set_limit(tc, c, busy ? std::min(tc.full_limit[c] * 2u, most) : least);
}

// ---- the thread's parked heap block ----
//
// Requests above the largest class go to the heap, through its bins,
// splitting and coalescing: a malloc/free pair of 64 KiB took 30 ns, twice
// glibc's and mimalloc's. So each thread keeps the last heap block it freed
// of (kMaxSize, kBigMax] bytes, below the mmap threshold, for its next malloc
// that fits it with at most a quarter to spare (glibc's tcache stops at 1032
// bytes; jemalloc's caches large classes up to 32 KiB). Freeing another such
// block parks it and frees the older. The heap marks the block parked under
// its lock, after free()'s checks, so that another thread's free, a realloc
// or a faked header is still reported; to the heap it stays in use, as
// glibc's tcache chunks do. It goes back at thread exit, malloc_trim (this
// thread's), a tuning change, a malloc it does not fit, and the thread's
// first tick decay_ms after it was parked (see tick).
constexpr size_t kBigMax = 256 * 1024;

void refresh_thread(ThreadCache& tc);

// big_size is read by other threads for statistics (parked_bytes): 0 when
// nothing is parked.
void set_parked(ThreadCache& tc, void* p, size_t usable) {
  tc.big = p;
  if (p) tc.big_ms = os::recent_ms();
  __atomic_store_n(&tc.big_size, usable, __ATOMIC_RELAXED);
  if (tc.record) {
    __atomic_store_n(&tc.record->parked, usable, __ATOMIC_RELAXED);
    tc.record->parked_block = p;
  }
}

// func: the call a damaged header is reported in.
void unpark_heap_block(ThreadCache& tc, const char* func = "free()") {
  if (void* p = tc.big) {
    size_t usable = tc.big_size;
    set_parked(tc, nullptr, 0);
    g_heap.free_parked(p, usable, func);
  }
}

// Parks p (a heap block the thread frees) if it qualifies; *older is then
// the block parked before (null if none) and *older_usable its usable
// bytes, for the caller to free_parked(). False if p is not parked: the
// caller frees it.
bool park_heap_block(ThreadCache& tc, void* p, const char* func, void** older, size_t* older_usable) {
  if (p == tc.big) report::double_free(func, p);
  refresh_thread(tc);
  if (!tc.big_enabled || tc.state != ThreadState::kActive) return false;
  size_t usable = heap::Heap::usable_size(p);  // (a bad pointer's is checked below or by free())
  if (usable <= slab::kMaxSize || usable > (kBigMax >> tc.cache_shift) ||
      usable >= config::tunables().mmap_threshold.load(std::memory_order_relaxed))
    return false;
  // Under the heap's lock, with free()'s checks: another thread's free or
  // realloc of the parked block, or this thread's realloc, is then reported
  // as a double free, as it was before it was parked.
  if (!g_heap.park(p, func)) return false;
  *older = tc.big;
  *older_usable = tc.big_size;
  set_parked(tc, p, usable);
  return true;
}

void flush_all(ThreadCache& tc, const char* func = "free()") {
  for (unsigned c = 0; c < slab::kClasses; ++c) flush_bin(tc, c, 0, false, func);
  unpark_heap_block(tc, func);
}

// Bin limits follow the tuning: with a trim threshold the user set, classes
// above 1 KiB are not cached (glibc's tcache stops at 1032 bytes), so their
// frees reach the slabs, the heap and its trim at once.
std::atomic<unsigned> g_limits_epoch{1};

void limits_changed() { g_limits_epoch.fetch_add(1, std::memory_order_release); }

// A perturb byte turns caching off, set at start-up or by mallopt(M_PERTURB)
// later: a cached object would skip the fill (objects of every class up to
// 32 KiB were handed out unperturbed). Turned off again, caching comes back.
//
// The generation is read before the tunables (tuning_changed bumps it after
// mallopt stored them): a mallopt that lands while the bins below are
// flushed leaves the thread one generation behind, so its next slow path
// comes back here. (Read after, such a change was missed for good: 40 of
// 5000 perturb flips under another thread's slow-path loop.)
void apply_limits(ThreadCache& tc) {
  unsigned epoch = g_limits_epoch.load(std::memory_order_acquire);
  bool trim_set = config::tunables().trim_threshold_set.load(std::memory_order_relaxed);
  bool no_cache = g_redzone || config::tunables().perturb.load(std::memory_order_relaxed) != 0;
  unsigned shift = cache_shift(g_threads.load(std::memory_order_relaxed));
  tc.cache_shift = static_cast<uint8_t>(shift);
  for (unsigned c = 0; c < slab::kClasses; ++c) {
    unsigned limit = !tc.area || no_cache || (trim_set && slab::class_size(c) > 1024) ? 0 : slab::cache_limit(c) >> shift;
    set_limit(tc, c, limit);
    flush_bin(tc, c, limit, false);
  }
  // Trim and mmap thresholds apply to every free: nothing parked.
  unpark_heap_block(tc);
  tc.big_enabled = !no_cache && !trim_set && (kBigMax >> shift) > slab::kMaxSize;
  tc.epoch = epoch;
}

// Thread exit (pthread key destructor): everything cached goes back, and the
// thread's later allocations (other destructors) bypass the cache.
void thread_teardown(void* arg) {
  auto* tc = static_cast<ThreadCache*>(arg);
  if (tc != &t_cache || tc->state != ThreadState::kActive) return;
  tc->state = ThreadState::kDead;
  for (unsigned c = 0; c < slab::kClasses; ++c) set_limit(*tc, c, 0);
  tc->big_enabled = false;
  flush_all(*tc);
  registry_remove(tc);
}

LM_SLOW_PATH void thread_setup() {
  ThreadCache& tc = t_cache;
  // Dead while setting up: pthread_setspecific may allocate, and those
  // allocations must not use the cache being built.
  tc.state = ThreadState::kDead;
  pthread_setspecific(g_thread_key, &tc);
  registry_add(&tc);
  tc.shard = static_cast<uint8_t>(g_next_shard.fetch_add(1, std::memory_order_relaxed) % kTransferShards);
  apply_limits(tc);
  tc.state = ThreadState::kActive;
}

// redzone's locks are leaves (never held across a call into heap or large),
// so they are taken before all of core's and released after them.
// On a thread's slow paths: sets its cache up on first use (once libmalloc
// is ready), or re-reads its limits after mallopt changed them.
void refresh_thread(ThreadCache& tc) {
  if (tc.state == ThreadState::kNew) {
    if (g_state.load(std::memory_order_acquire) == 2) thread_setup();
  } else if (LM_UNLIKELY(tc.epoch != g_limits_epoch.load(std::memory_order_relaxed)) &&
             tc.state == ThreadState::kActive) {
    apply_limits(tc);
  }
}

// fork_prepare took no lock: the process has only ever had one thread, as
// glibc's fork takes its malloc locks only then too. The only code that can
// hold one of our locks is the code a signal handler's fork interrupted,
// which goes on in both processes and releases it (taking it here waited
// for good: a redzone flush interrupted by a handler that forks).
bool g_fork_unlocked = false;

void fork_prepare() {
  if (__libc_single_threaded) {
    g_fork_unlocked = true;
    return;
  }
  if (g_redzone) redzone::lock_for_fork();
  g_registry_lock.lock();
  g_pressure_lock.lock();
  slab::lock_for_fork();
  large::lock_for_fork();
  g_heap.lock_for_fork();
  pagemap::lock_for_fork();
  // Last: no other lock is taken while one of these is held. Reset in the
  // child without being held, a lock taken mid-update (a batch counted but
  // not yet written) would hand the child a garbage list.
  each_transfer([](Transfer& t) { t.lock.lock(); });
  t_holds_fork_locks = true;
}
void fork_parent() {
  if (g_fork_unlocked) {
    g_fork_unlocked = false;
    return;
  }
  t_holds_fork_locks = false;
  each_transfer([](Transfer& t) { t.lock.unlock(); });
  pagemap::unlock_for_fork();
  g_heap.unlock_for_fork();
  large::unlock_for_fork();
  slab::unlock_for_fork();
  g_pressure_lock.unlock();
  g_registry_lock.unlock();
  if (g_redzone) redzone::unlock_for_fork();
}
void fork_child() {
  report::reset_for_fork_child();
  if (g_fork_unlocked) {
    g_fork_unlocked = false;
    if (g_redzone) redzone::note_fork_child();
    return;
  }
  pagemap::reset_for_fork_child();
  g_heap.reset_for_fork_child();
  large::reset_for_fork_child();
  slab::reset_for_fork_child();
  each_transfer([](Transfer& t) { t.lock.reset_after_fork(); });
  g_pressure_lock.reset_after_fork();
  g_registry_lock.reset_after_fork();
  if (g_redzone) redzone::reset_for_fork_child();
  t_holds_fork_locks = false;
  t_lock_depth = 0;  // every lock reset, none held
  // Only this thread survives; the others' caches are abandoned (their
  // objects stay allocated in the child, a bounded leak).
  while (g_registry) record_unlink(g_registry);
  g_threads.store(0, std::memory_order_relaxed);
  t_cache.record = nullptr;
  if (t_cache.state == ThreadState::kActive) registry_add(&t_cache);
  limits_changed();  // one thread now: its bins' budget is the whole (cache_shift)
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
    g_heap.init(config::options().redzone ? rz_heap_source() : heap::os_source());
    slab::init(&g_heap);
    bin_layout_init();
    transfer_init();
    uint64_t secret = make_secret();
    large::init(secret);
    large::set_growth_hook(pay_mapping_growth);
    g_free_key = secret * 0x9e3779b97f4a7c15ull | 1;
    if (config::options().redzone) {
      redzone::init(redzone::Backend{rz_backing_alloc, rz_backing_free}, secret * 0xbf58476d1ce4e5b9ull);
      g_redzone = true;
    }
    pthread_key_create(&g_thread_key, thread_teardown);
    g_state.store(2, std::memory_order_release);
    t_in_init = false;
    // After the state is ready: registering may itself allocate.
    __register_atfork(fork_prepare, fork_parent, fork_child, &__dso_handle);
    if (g_redzone && config::options().intercept) redzone::intercept_libc();
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

// Out of memory or address space: gives back the address space libmalloc
// holds in reserve, the slab descriptor region's unused tail (1 GiB, which
// counts whole against an RLIMIT_AS the program sets after start-up: under
// `setrlimit(RLIMIT_AS, 512 MiB)` a 1 MiB malloc failed at once) and the
// cache of freed mappings. True when something went back: worth one retry.
bool release_reserves() {
  bool released = slab::desc_release_unused() != 0;
  if (large::trim() != 0) released = true;
  return released;
}

// f(), and once more after release_reserves() if it gave nothing.
template <class F>
void* or_after_release(F f) {
  void* p = f();
  if (LM_UNLIKELY(!p) && release_reserves()) p = f();
  return p;
}

void* alloc_any_once(size_t n, bool zero) {
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

void* alloc_any(size_t n, bool zero) {
  return or_after_release([&] { return alloc_any_once(n, zero); });
}

// Redzone mode's backing blocks: own mappings at or above the threshold,
// else heap blocks (never slabs: a redzoned block's size is not a class).
void* rz_backing_alloc_once(size_t align, size_t n, bool zero, size_t* usable, bool* mapped, bool* zeroed) {
  *mapped = false;
  *zeroed = false;
  if (wants_mapping(n)) {
    if (void* p = large::alloc(n, align, zero)) {
      *usable = large::usable_size(p);
      *mapped = true;
      *zeroed = zero;
      return p;
    }
  }
  void* p = align <= 16 ? g_heap.alloc(n, false) : g_heap.alloc_aligned(align, n);
  if (p) {
    *usable = heap::Heap::usable_size(p);
    return p;
  }
  if (n < config::tunables().mmap_threshold.load(std::memory_order_relaxed) &&
      config::tunables().mmap_max.load(std::memory_order_relaxed) > 0) {
    if ((p = large::alloc(n, align, zero))) {
      *usable = large::usable_size(p);
      *mapped = true;
      *zeroed = zero;
    }
  }
  return p;
}

void* rz_backing_alloc(size_t align, size_t n, bool zero, size_t* usable, bool* mapped, bool* zeroed) {
  return or_after_release([&] { return rz_backing_alloc_once(align, n, zero, usable, mapped, zeroed); });
}

void rz_backing_free(void* p) {
  if (pagemap::is_heap(addr(p))) g_heap.free(p, "free()");
  else large::free(p, "free()");
}

// Redzone mode's heap source: memory the heap gives back to the kernel (a
// trimmed top, of the break or of a continuation region) has its shadow
// cleared first. The heap's free blocks read as left redzone; a mapping of
// the program's own that later lands at those addresses (or a break the
// program moves itself) read as poisoned, and its first instrumented access
// was reported as a heap-buffer-overflow. Cleared before, not after: once
// the memory is unmapped, a new block of ours may be mapped there and
// poisoned, and clearing then would wipe its redzones.
void* rz_heap_sbrk(intptr_t increment) {
  if (increment < 0) {
    uptr end = addr(os::current_break());
    redzone::forget(end - static_cast<uptr>(-increment), end);
  }
  return os::sbrk(increment);
}
void rz_heap_unmap(void* p, size_t size) {
  redzone::forget(addr(p), addr(p) + size);
  os::unmap(p, size);
}
heap::Source rz_heap_source() {
  heap::Source source = heap::os_source();
  source.sbrk = rz_heap_sbrk;
  source.unmap = rz_heap_unmap;
  return source;
}

enum class Owner { kSlab, kHeap, kLarge, kBootstrap, kNone };

Owner owner_of(const void* p) {
  pagemap::Entry e = pagemap::get(addr(p));
  if (e > pagemap::kLargeHead) return slab::is_object_start(slab::slab_of(e), addr(p)) ? Owner::kSlab : Owner::kNone;
  if (pagemap::is_heap_entry(e, addr(p))) return Owner::kHeap;
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
  void* q = n > old_usable && wants_mapping(n) ? large::alloc(n, 16, false, true) : nullptr;
  if (!q) q = malloc_fast(n);
  if (!q) return nullptr;
  std::memcpy(q, p, old_usable < n ? old_usable : n);
  if (owner == Owner::kSlab) free_fast(p, "realloc()");
  else if (owner == Owner::kHeap) g_heap.free(p, "realloc()");
  else if (owner == Owner::kLarge) large::free(p, "realloc()");
  return q;
}

}  // namespace

void init() { ensure_init(); }

unsigned full_cache_threads() { return g_full_cache_threads; }

void tuning_changed() {
  limits_changed();
  if (t_cache.state == ThreadState::kActive) apply_limits(t_cache);
}

void* malloc_slow_inner(size_t n);

// Time-based upkeep, from ticks and slow paths: at most every few ms.
void upkeep_now();

// From slow paths: reading the clock costs ~20 ns, so only on every 32nd
// call of a thread. (Ticks, already one per 256 cache hits, call upkeep_now.)
void upkeep() {
  static thread_local unsigned calls LM_TLS_IE = 0;
  if ((++calls & 31) == 1) upkeep_now();
}

// Heap growth while partial slabs sit mostly empty (a program that freed
// many small objects and now wants other sizes) is memory pressure: their
// free pages go back at once instead of after decay_ms, so the growth does
// not stack on top of them. Only slabs at most a quarter full: those are
// unlikely to fill again soon.
std::atomic<size_t> g_system_at_last_pressure{0};
constexpr size_t kPressureGrowth = 8u << 20;

void relieve_pressure(uint64_t now) {
  size_t system = g_heap.system_bytes();
  size_t last = g_system_at_last_pressure.load(std::memory_order_relaxed);
  if (system < last + kPressureGrowth) {
    if (system + kPressureGrowth < last) g_system_at_last_pressure.store(system, std::memory_order_relaxed);
    return;
  }
  if (!g_system_at_last_pressure.compare_exchange_strong(last, system, std::memory_order_relaxed)) return;
  slab::purge(now, 0, MADV_DONTNEED, 25);
  // Freed mappings kept for reuse are dirty memory too: a program whose heap
  // grows has moved on from them. (sqlite3's benchmark script, which frees a
  // 16 MiB group_concat string and then builds heap: peak RSS 56.6 -> 52.3
  // MB, glibc 46.3; spectrum and large unchanged; 3 interleaved runs.)
  large::trim();
}

// Heap growth is paid from the cache of freed mappings first (the oldest
// mappings are unmapped, as the debt below says). Their pages are dirty
// memory the program is not using, and a
// program that grows its heap has moved on from them (or wants memory of
// another kind); kept until decay_ms or 8 MiB of growth (relieve_pressure),
// they stacked on top of the growth. The large-block workload's peak RSS:
// 69.8 -> 66.7 MiB (medians of 5 interleaved runs).
//
// Growth is owed until paid, and paid in whole mappings: the oldest goes
// once the debt reaches half its size, and what it paid beyond the debt is
// credit for later growth (so 1 MiB of growth does not unmap a 64 MiB
// mapping, nor does each cycle of a top that shrinks and regrows). The debt
// is at most what the cache holds (growth while it was empty owes nothing
// to mappings freed later), and a shrinking heap takes its growth back.
std::atomic<size_t> g_system_seen{0};
std::atomic<ptrdiff_t> g_growth_debt{0};  // negative: credit

void pay_growth_from_cache() {
  size_t system = g_heap.system_bytes();
  size_t seen = g_system_seen.load(std::memory_order_relaxed);
  if (system <= seen) {
    if (system < seen && g_system_seen.compare_exchange_strong(seen, system, std::memory_order_relaxed)) {
      ptrdiff_t debt = g_growth_debt.load(std::memory_order_relaxed);
      ptrdiff_t back = static_cast<ptrdiff_t>(seen - system);
      if (debt > 0) g_growth_debt.store(debt > back ? debt - back : 0, std::memory_order_relaxed);
    }
    return;
  }
  if (!g_system_seen.compare_exchange_strong(seen, system, std::memory_order_relaxed)) return;
  ptrdiff_t debt = g_growth_debt.fetch_add(static_cast<ptrdiff_t>(system - seen), std::memory_order_relaxed) +
                   static_cast<ptrdiff_t>(system - seen);
  auto cached = static_cast<ptrdiff_t>(large::cached_bytes());
  if (debt > cached) {
    g_growth_debt.store(cached, std::memory_order_relaxed);
    debt = cached;
  }
  if (debt <= 0) return;
  size_t released = large::release_oldest(static_cast<size_t>(debt));
  if (released) g_growth_debt.fetch_sub(static_cast<ptrdiff_t>(released), std::memory_order_relaxed);
}

// The other way round: a large mapping (or its growth by mremap) of n fresh
// bytes is paid first with the dirty free pages of the heap and of the span
// chunks, up to n bytes (the largest free blocks first). A program that
// grows a big buffer after freeing heap memory (sqlite3 building a 16 MiB
// group_concat string after an UPDATE freed its 17 MiB journal, dirty and in
// 322 pieces, under the pressure floor) otherwise holds both: its peak RSS
// 52.2 -> 42.4 MB (glibc 46.2), for 18% more page faults when the heap
// reuses the pages (docs/architecture.md, "Trim and decay"). Only up to n: purging all
// of them cost the fragmentation workload 28% of its time. Below 1 MiB it is
// not worth walking the heap's bins for.
constexpr size_t kPayMin = size_t{1} << 20;

void pay_mapping_growth(size_t n) {
  if (n < kPayMin || g_heap.dirty_bytes() + slab::spans::dirty_bytes() < kPayMin) return;
  // The top last: the heap grows there, so its pages are the likeliest to
  // be wanted again soon.
  size_t paid = g_heap.purge_bytes(n, false);
  if (paid < n) paid += slab::spans::purge_bytes(n - paid);
  if (paid < n) g_heap.purge_bytes(n - paid, true);
}

// A program that frees most of its memory should see its RSS fall at once,
// not after a decay period (see PressureGate): after a free that reached the
// heap or the slabs, the dirty pages of the heap's free blocks and of the
// span chunks are weighed against what the program still holds.
PressureGate g_pressure;  // under g_pressure_lock

// With a trim threshold the user set, the floor is that threshold (at least
// 1 MiB, so that a threshold of 0 does not purge at every free): glibc's
// trim at free() reaches only the top of its heap, but ours is pinned more
// often (by span chunks holding the objects still cached in thread bins), and
// the contract is that RSS falls (DESIGN.md). 10 MB of 1000-byte blocks
// freed oldest first stayed resident with MALLOC_TRIM_THRESHOLD_=131072.
size_t pressure_floor() {
  const config::Tunables& t = config::tunables();
  if (!t.trim_threshold_set.load(std::memory_order_relaxed)) return PressureGate::kFloor;
  size_t thresh = t.trim_threshold.load(std::memory_order_relaxed);
  return std::clamp(thresh, size_t{1} << 20, PressureGate::kFloor);
}

void relieve_free_pressure() {
  size_t dirty = g_heap.dirty_bytes() + slab::spans::dirty_bytes();
  size_t floor = pressure_floor();
  if (LM_LIKELY(!g_pressure.may_purge(dirty, os::recent_ms(), floor))) return;
  // Held: heap blocks in use less the chunks' free pages. Slabs count whole,
  // however sparse: purging around a mass free of small objects would fault
  // the pages back in as soon as the program allocates again.
  size_t spare = slab::spans::free_bytes(), heap_used = g_heap.in_use_bytes();
  size_t held = heap_used > spare ? heap_used - spare : 0;
  {
    LockGuard guard(g_pressure_lock);
    if (!g_pressure.should_purge(dirty, held, os::recent_ms(), floor)) return;
  }
  g_heap.purge_now();
  slab::spans::purge_now();
}

void upkeep_now() {
  uint64_t now = os::now_ms();
  relieve_pressure(now);
  pay_growth_from_cache();
  uint64_t last = g_last_upkeep_ms.load(std::memory_order_relaxed);
  if (now - last < 16) return;
  if (!g_last_upkeep_ms.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  const config::Options& o = config::options();
  int advice = o.purge[0] == 'f' ? MADV_FREE : MADV_DONTNEED;
  static std::atomic<uint64_t> last_slab_pass{0};
  uint64_t last_pass = last_slab_pass.load(std::memory_order_relaxed);
  if (now - last_pass >= o.decay_ms / 4 && last_slab_pass.compare_exchange_strong(last_pass, now)) {
    // Batches parked for a whole decay period go back to their slabs, so
    // the slabs can empty and their pages be purged.
    for (unsigned c = 0; c < slab::kClasses; ++c) {
      TransferRow* rows = transfer_rows();
      if (!rows || !__atomic_load_n(&g_transfer_used[c], __ATOMIC_RELAXED)) continue;
      for (unsigned i = 0; i < kTransferShards; ++i)
        if (__atomic_load_n(&rows[i][c].n, __ATOMIC_RELAXED) && now - rows[i][c].touched_ms >= o.decay_ms) {
          transfer_drain(c);
          break;
        }
    }
    slab::purge(now, o.decay_ms, advice);
    slab::spans::decay(now, o.decay_ms, advice);
  }
  g_heap.decay(now, o.decay_ms, advice == MADV_FREE);
  large::decay(now);
}

// A small object straight from the slabs, bypassing the thread cache (slow
// mode, or a thread being set up or torn down).
void* slab_alloc_direct(size_t n) {
  void* p = nullptr;
  if (slab::take(slab::size_class(n), &p, 1) == 0) return alloc_any(n, false);
  static_cast<void**>(p)[1] = nullptr;
  return p;
}

LM_SLOW_PATH void tick() {
  // A block parked for decay_ms goes back (its thread still allocates, but
  // not in its range); ticks and slow paths are this thread's own.
  ThreadCache& tc = t_cache;
  uint64_t now = os::recent_ms();
  if (tc.big && now >= tc.big_ms && now - tc.big_ms >= config::options().decay_ms) unpark_heap_block(tc);
  upkeep_now();
}

LM_SLOW_PATH void* malloc_slow(size_t n, Family family, uptr ret) {
  upkeep();
  void* p;
  if (LM_UNLIKELY(!ensure_init())) p = bootstrap_alloc(n, 16);
  else if (g_redzone) p = redzone::alloc(n, 16, family, false, ret);
  else p = malloc_slow_inner(n);
  if (LM_UNLIKELY(!p)) errno = ENOMEM;
  return p;
}

// Slow start, as tcmalloc's thread caches do: a bin's first refills take
// 1, 1, 2, 4, ... objects (the ramp-th takes slow_start(ramp)), so a class a
// thread uses a few times does not hold a batch of its slabs' objects, each
// touched (its free key written). With 1, 2, 4, ...: a class used twice kept
// a third object, one used four times three more, and 2000 threads alive at
// once, each with 100 blocks of 30-odd classes, peaked at 124 MB against 116.
constexpr unsigned slow_start(unsigned ramp) { return ramp == 0 ? 1 : 1u << (ramp - 1); }

void* malloc_slow_inner(size_t n) {
  if (LM_UNLIKELY(!ensure_init())) return bootstrap_alloc(n, 16);
  if (n > slab::kMaxSize) {
    ThreadCache& tc = t_cache;
    refresh_thread(tc);  // a tuning change unparks it
    if (void* p = tc.big) {
      if (n <= tc.big_size && tc.big_size - n <= n / 4) {
        size_t usable = tc.big_size;
        set_parked(tc, nullptr, 0);
        g_heap.take_parked(p, usable);
        return p;  // (no perturb: parking is off with it)
      }
      // It does not fit: back to the heap first, where it may merge with
      // the top or the free block this request is about to be carved from,
      // rather than stay parked between them for a size the thread no
      // longer asks for.
      unpark_heap_block(tc, "malloc()");
    }
    void* p = alloc_any(n, false);
    if (p) perturb_alloc(p, n);
    return p;
  }
  ThreadCache& tc = t_cache;
  refresh_thread(tc);
  unsigned c = slab::size_class(n);
  Bin& b = tc.bins[c];
  if (tc.state != ThreadState::kActive || b.limit == 0) {
    void* p = slab_alloc_direct(n);
    if (p) perturb_alloc(p, n);
    return p;
  }
  if (b.count) return malloc_fast(n);  // set up just now: the bin may be full
  ++tc.misses;
  adapt_big_bin(tc, c);
  // A bin on its starter stack grows once the slow start below outgrows it.
  if (slow_start(tc.ramp[c]) > b.limit) grow_bin(tc, c);
  bool ramping = b.limit < tc.full_limit[c];  // on its starter stack, short of its limit
  // On its starter stack: a bin short of its limit, or one whose whole limit
  // fits there (8 or less, as with the budget's shift), whose b.limit is then
  // at most kStarter too. (Deciding by `ramping` alone, a bin of limit 8 took
  // a batch of 16 parked under a larger limit, over the next class's stack.)
  bool on_starter = b.stack == starter_stack(tc, c);
  // The bin is empty: adopt a parked batch as its contents (at most
  // g_batch_max[c], half what its own stack holds; on the starter stack,
  // what that holds, and the slow start moves on). A refill for the stats=1
  // table, and this malloc a miss (malloc_fast counts a hit: the table
  // showed 99% for a bin that missed every eighth call).
  if (unsigned adopted = transfer_get(tc.shard, c, b.stack, on_starter ? b.limit : ~0u)) {
    if (ramping) ++tc.ramp[c];
    b.count = adopted;
    __atomic_fetch_add(&g_adopted[c], 1, __ATOMIC_RELAXED);
    void* p = malloc_fast(n);
    --b.allocs;
    return p;
  }
  // Refill half the bin, at most kRefillMax objects at once, straight into
  // its stack, after a slow start (slow_start).
  constexpr unsigned kRefillMax = 256;
  unsigned want = tc.full_limit[c] / 2 > 0 ? tc.full_limit[c] / 2 : 1;
  if (slow_start(tc.ramp[c]) < want) want = slow_start(tc.ramp[c]++);
  // (A starter stack holds it: a slow start past kStarter grew the bin above.)
  unsigned got = slab::take(c, b.stack, want < kRefillMax ? want : kRefillMax);
  if (got == 0) return alloc_any(n, false);
  // Their free keys written here, together: most are freshly carved, and
  // their first touch (a page fault for a new page) costs less in one run
  // than one by one in the fast path, between the program's own work (the
  // frag workload took 1.29 times as long). The key, not zero: they are free,
  // and a second free of one (freed, flushed, refilled) is then caught.
  for (unsigned i = 0; i < got; ++i) static_cast<void**>(b.stack[i])[1] = ptr(g_free_key);
  std::reverse(b.stack, b.stack + got);
  b.count = got - 1;
  void* p = b.stack[got - 1];
  static_cast<void**>(p)[1] = nullptr;
  return p;
}

// A slab object whose second word holds the free key is probably free (or
// holds data that happens to equal the key): looked for in this thread's bin
// and its slab's free list, and reported as a double free if found there.
void check_not_freed(slab::Slab* s, void* p, const char* func) {
  void** slot = static_cast<void**>(p);
  if (LM_LIKELY(slot[1] != ptr(g_free_key))) return;
  const Bin& b = t_cache.bins[s->size_class];
  for (uint32_t i = 0; i < b.count; ++i)
    if (b.stack[i] == p) report::double_free(func, p);
  if (slab::is_free_in_slab(s, p, func)) report::double_free(func, p);
}

LM_SLOW_PATH void free_slow(void* p, const char* func, Family family, uptr ret) {
  if (!p) return;
  // Initialised first, so that in redzone mode a bad pointer as the
  // program's first call gets the redzone report, not fast mode's message.
  ensure_init();
  if (LM_UNLIKELY(g_redzone)) {
    if (!in_bootstrap(p)) redzone::free(p, family, func, ret);
    upkeep();
    return;
  }
  pagemap::Entry e = pagemap::get(addr(p));
  if (e > pagemap::kLargeHead) {
    slab::Slab* s = slab::slab_of(e);
    if (!slab::is_object_start(s, addr(p))) report::invalid_pointer(func, p);
    unsigned c = s->size_class;
    ThreadCache& tc = t_cache;
    void** slot = static_cast<void**>(p);
    check_not_freed(s, p, func);
    refresh_thread(tc);
    Bin& b = tc.bins[c];
    if (tc.state != ThreadState::kActive || b.limit == 0) {
      int perturb = config::tunables().perturb.load(std::memory_order_relaxed);
      if (LM_UNLIKELY(perturb)) std::memset(p, perturb, s->size);
      slot[1] = ptr(g_free_key);
      slab::give(c, &p, 1);
      relieve_free_pressure();
      return;
    }
    if (b.count >= b.limit) {
      adapt_big_bin(tc, c);
      if (b.count >= b.limit) grow_bin(tc, c);
      if (b.count >= b.limit) {
        // The older half goes: limit / 2 objects, the size of a batch that
        // refills take and the transfer cache parks (flush_bin parks only
        // that size), so an odd limit keeps the larger half. (Keeping
        // limit / 2 flushed one object more than a batch: the ten classes
        // whose limit is odd (80, 96, 384, 448, 1408 ... 3072 bytes) never
        // parked, and producer-consumer took a slab lock per batch of them:
        // 12K refills each against 20 for their neighbours.) A bin of one
        // flushes its object.
        flush_bin(tc, c, b.limit > 1 ? b.limit - b.limit / 2 : 0);
        relieve_free_pressure();
      }
    }
    b.stack[b.count++] = p;
    slot[1] = ptr(g_free_key);
    return;
  }
  switch (owner_of(p)) {
    case Owner::kHeap: {
      void* older = nullptr;
      size_t older_usable = 0;
      if (!park_heap_block(t_cache, p, func, &older, &older_usable)) {
        g_heap.free(p, func);
        relieve_free_pressure();
      } else if (older) {
        if (g_heap.free_parked(older, older_usable, func, p)) set_parked(t_cache, nullptr, 0);
        relieve_free_pressure();
      }
      upkeep();
      return;
    }
    case Owner::kLarge:
      large::free(p, func);
      return;
    case Owner::kBootstrap:
      return;
    case Owner::kSlab:
    case Owner::kNone:
      bad_pointer(func, p);
  }
}

void* malloc(size_t n, Family family, uptr ret) {
  return malloc_fast_or(n, [&] { return malloc_slow(n, family, ret); });
}

void free(void* p, const char* func, Family family, uptr ret) {
  if (!free_hit(p)) free_slow(p, func, family, ret);
}

LM_SLOW_PATH void* malloc_miss(size_t n, Family family) { return malloc_slow(n, family, LM_CALLER); }
LM_SLOW_PATH void free_miss(void* p, const char* func, Family family) { free_slow(p, func, family, LM_CALLER); }

void* calloc(size_t n, size_t size, uptr ret) {
  size_t total;
  if (mul_overflows(n, size, &total)) return nullptr;
  if (LM_UNLIKELY(!ensure_init())) return bootstrap_alloc(total, 16);  // static: zeroed
  if (LM_UNLIKELY(g_redzone)) return redzone::alloc(total, 16, Family::kMalloc, true, ret);
  if (total <= slab::kMaxSize) {
    void* p = malloc_fast_or(total, [&] { return malloc_slow(total, Family::kMalloc, ret); });
    if (p) std::memset(p, 0, total);
    return p;
  }
  return alloc_any(total, true);
}

void* memalign(size_t align, size_t n, Family family, uptr ret) {
  // Initialised first: redzone mode is known only then (a program whose
  // first allocation was aligned got a plain heap block, and its free a
  // bad-free report).
  if (LM_UNLIKELY(!ensure_init())) return bootstrap_alloc(n, align);
  if (LM_UNLIKELY(g_redzone)) return redzone::alloc(n, align, family, false, ret);
  if (align <= 16) return malloc(n, family, ret);
  // Alignments up to a cache line come from the slabs: a class whose size is
  // a multiple of 64 has 64-aligned objects (spans are page aligned and
  // colours are whole cache lines). Not every multiple of 64 maps to one:
  // 640 and 704..768 map to the page-packed 672 and 816, whose objects are
  // not all 64-aligned, so the size steps up to the next class that is (at
  // most three steps: 640 -> 1024). When no slab could be had (descriptors
  // used up) malloc fell back to a 16-aligned heap block: that one goes back
  // and the request is aligned below.
  //
  // Alignments of 128 to 4096 come from the classes of a power of two up to
  // 4 KiB and of a multiple of 4 KiB above: their spans hold a whole number
  // of objects (no slack, so no colour) from a page-aligned base, so every
  // object is aligned to its size's largest power-of-two factor, up to a
  // page. The request is rounded up to such a size, as jemalloc rounds it
  // to an aligned class: memalign(4096, 64) costs a 4 KiB object (glibc's
  // costs a page of address space too, and leaves the rest to later
  // requests), but only with at most a quarter to spare beyond what the
  // alignment costs. From the heap it took 50 ns a pair against jemalloc's 12.
  if (align <= 4096 && n <= slab::kMaxSize) {
    size_t m = 0;
    if (align <= 64 && n <= slab::kMaxSize - 64) {
      m = align_up(n ? n : 1, 64);
      while (slab::class_size(slab::size_class(m)) % 64 != 0) m += 64;
    } else if (align > 64) {
      size_t want = n ? n : 1;
      m = align_up(want, align);
      m = m <= 4096 ? std::bit_ceil(m) : align_up(m, 4096);
      // Unless the alignment is what costs the space (memalign(4096, 64)),
      // at most a quarter to spare: memalign(128, 4200) took 8 KiB (the
      // heap's aligned block: 4.2).
      if (m > align && m - want > want / 4) m = 0;
    }
    if (m) {
      void* p = malloc(m, family, ret);
      if (LM_LIKELY(!p || !(addr(p) & (align - 1)))) return p;
      free(p, "memalign()", family, ret);
    }
  }
  if (align > kMaxRequest || n > kMaxRequest - align) return nullptr;
  void* p = or_after_release([&] {
    void* q = wants_mapping(n + align) ? large::alloc(n, align, false) : nullptr;
    if (!q) q = g_heap.alloc_aligned(align, n);
    if (!q && n + align < config::tunables().mmap_threshold.load(std::memory_order_relaxed))
      q = large::alloc(n, align, false);
    return q;
  });
  if (p) perturb_alloc(p, n);
  return p;
}

void* realloc(void* p, size_t n, uptr ret) {
  if (n > kMaxRequest) return nullptr;
  ensure_init();  // (as free_slow)
  if (LM_UNLIKELY(g_redzone)) {
    if (!in_bootstrap(p)) return redzone::realloc(p, n, ret);
    void* q = redzone::alloc(n, 16, Family::kMalloc, false, ret);
    if (q) std::memcpy(q, p, bootstrap_size(p) < n ? bootstrap_size(p) : n);
    return q;
  }
  // A slab object first, found as free() finds it (owner_of would look it
  // up again): a string grown a few bytes at a time mostly stays in its
  // class.
  pagemap::Entry e = pagemap::get(addr(p));
  if (e > pagemap::kLargeHead) {
    slab::Slab* s = slab::slab_of(e);
    if (!slab::is_object_start(s, addr(p))) report::invalid_pointer("realloc()", p);
    size_t usable = s->size;
    // (Kept in place, a freed object was handed back as live: the next
    // malloc of the class returned it again.)
    check_not_freed(s, p, "realloc()");
    if (n <= usable && n >= usable / 2) return p;
    return move_block(p, usable, n, Owner::kSlab);
  }
  switch (owner_of(p)) {
    case Owner::kHeap: {
      if (!wants_mapping(n)) {
        if (g_heap.resize_in_place(p, n, "realloc()")) return p;
        // The thread's parked block may be what keeps it from growing (it
        // was freed after this block was carved, just above it).
        if (t_cache.big && n > heap::Heap::usable_size(p)) {
          unpark_heap_block(t_cache, "realloc()");
          if (g_heap.resize_in_place(p, n, "realloc()")) return p;
        }
      }
      return move_block(p, heap::Heap::usable_size(p), n, Owner::kHeap);
    }
    case Owner::kLarge: {
      if (n >= config::tunables().mmap_threshold.load(std::memory_order_relaxed)) {
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
    case Owner::kSlab:  // (handled above: no slab entry here)
    case Owner::kNone:
      bad_pointer("realloc()", p);
  }
  return nullptr;
}

size_t usable_size(const void* p, uptr ret) {
  if (!p) return 0;
  ensure_init();  // (as free_slow)
  if (LM_UNLIKELY(g_redzone))
    return in_bootstrap(p) ? bootstrap_size(p) : redzone::usable_size(p, ret);
  switch (owner_of(p)) {
    case Owner::kSlab: return slab::slab_of(pagemap::get(addr(p)))->size;
    case Owner::kHeap: return g_heap.checked_usable_size(p, "malloc_usable_size()");
    case Owner::kLarge: return large::usable_size(p);
    case Owner::kBootstrap: return bootstrap_size(p);
    case Owner::kNone: bad_pointer("malloc_usable_size()", p);
  }
  return 0;
}

int trim(size_t pad) {
  if (!ensure_init()) return 0;
  stats::count(stats::k_trims);
  if (t_cache.state == ThreadState::kActive) flush_all(t_cache, "malloc_trim()");
  areas_purge();
  for (unsigned c = 0; c < slab::kClasses; ++c) transfer_drain(c, "malloc_trim()");
  slab::release_empty();
  bool released = slab::purge(os::now_ms(), 0, MADV_DONTNEED) > 0;
  if (slab::spans::decay(os::now_ms(), 0, MADV_DONTNEED) > 0) released = true;
  if (large::trim() > 0) released = true;
  if (g_heap.trim(pad)) released = true;
  if (pagemap::purge_unused() > 0) released = true;
  return released ? 1 : 0;
}

namespace {
// Objects of class c parked in the transfer caches (free to every thread).
size_t transfer_objects(unsigned c) {
  size_t n = 0;
  if (TransferRow* rows = transfer_rows())
    for (unsigned k = 0; k < kTransferShards; ++k) {
      Transfer& t = rows[k][c];
      LockGuard guard(t.lock);
      for (unsigned i = 0; i < t.n; ++i) n += t.counts[i];
    }
  return n;
}

struct SlabTotals {
  size_t free_objects;  // slots not held by the program (other threads' caches count as held)
  size_t free_bytes;
  size_t active_objects;
  size_t active_bytes;
  size_t span_bytes;
};
// Objects parked in the transfer caches are free to the program, so they
// count as free here; so do those in the calling thread's own cache. (A
// program that checks for leaks by comparing uordblks before and after a
// cycle saw its leaked block hidden, or a leak where there was none, as the
// cache filled or emptied: up to 32 KiB per size class. Other threads'
// caches cannot be read safely, their TLS may be gone: their objects count
// as in use, as glibc's tcache chunks do.)
SlabTotals slab_totals() {
  SlabTotals t{};
  const ThreadCache& tc = t_cache;
  bool own = tc.state == ThreadState::kActive;
  for (unsigned c = 0; c < slab::kClasses; ++c) {
    slab::ClassStats s = slab::class_stats(c);
    size_t parked = transfer_objects(c) + (own ? tc.bins[c].count : 0);
    size_t active = s.active > parked ? s.active - parked : 0;
    t.free_objects += s.total - active;
    t.free_bytes += (s.total - active) * s.object_size;
    t.active_bytes += active * s.object_size;
    t.active_objects += active;
    t.span_bytes += s.span_bytes;
  }
  return t;
}
}  // namespace

// Heap bytes parked by threads (see park_heap_block): in use to the heap,
// free to the program.
size_t parked_bytes(size_t* blocks) {
  size_t total = 0, n = 0;
  LockGuard guard(g_registry_lock);
  for (const ThreadRecord* r = g_registry; r; r = r->next)
    if (size_t usable = __atomic_load_n(&r->parked, __ATOMIC_RELAXED)) {
      total += usable + heap::kOverhead;
      ++n;
    }
  if (blocks) *blocks = n;
  return total;
}

// glibc's fields, with the slab layer folded in: slab spans are heap blocks
// in use to the heap, so their unused slots move from uordblks to fordblks,
// and smblks/fsmblks (glibc's fastbin fields) count them. So do the threads'
// parked heap blocks.
void fill_mallinfo2(struct mallinfo2* mi) {
  std::memset(mi, 0, sizeof *mi);
  if (!ensure_init()) return;
  heap::Snapshot h = g_heap.snapshot();
  large::Snapshot l = large::snapshot();
  SlabTotals st = slab_totals();
  // Unused slots of slabs, free pages of span chunks and parked blocks: heap
  // blocks in use to the heap, free to the program.
  size_t unused = st.span_bytes - st.active_bytes + slab::spans::stats().free_bytes + parked_bytes();
  // (Read after the heap's snapshot: a block carved and parked in between
  // would count here only.)
  if (unused > h.in_use) unused = h.in_use;
  mi->arena = h.system;
  mi->ordblks = h.free_blocks + (h.top ? 1 : 0);
  mi->smblks = st.free_objects;
  mi->hblks = l.live_blocks;
  mi->hblkhd = l.live_bytes;
  mi->usmblks = 0;  // glibc: always 0
  mi->fsmblks = st.free_bytes;
  mi->uordblks = h.in_use - unused;
  mi->fordblks = h.free + unused;
  mi->keepcost = h.top;
}

void fill_stats(struct libmalloc_stats* out) {
  std::memset(out, 0, sizeof *out);
  if (!ensure_init()) return;
  struct mallinfo2 mi;
  fill_mallinfo2(&mi);
  heap::Snapshot h = g_heap.snapshot();
  large::Snapshot l = large::snapshot();
  SlabTotals st = slab_totals();
  out->heap_system = mi.arena;
  out->heap_in_use = mi.uordblks;
  out->heap_free = mi.fordblks;
  out->heap_top = mi.keepcost;
  out->heap_segments = h.segments;
  out->mmap_in_use = l.live_bytes;
  out->mmap_blocks = l.live_blocks;
  out->mmap_cached = l.cached_bytes;
  out->slab_in_use = st.active_bytes;
  out->slab_total = st.span_bytes;
  const config::Tunables& t = config::tunables();
  out->mmap_threshold = t.mmap_threshold.load(std::memory_order_relaxed);
  out->trim_threshold = t.trim_threshold.load(std::memory_order_relaxed);
}

void print_malloc_stats() {
  if (!ensure_init()) return;
  // In use as mallinfo2 counts it (uordblks, as glibc's malloc_stats
  // does): slab slots and parked blocks the program does not hold are free.
  struct mallinfo2 mi;
  fill_mallinfo2(&mi);
  large::Snapshot l = large::snapshot();
  // Through the stderr stream, as glibc writes it: a program that points
  // stderr elsewhere or buffers it gets the lines there and in order (they
  // went to fd 2 directly, ahead of the stream's buffered text). Formatted
  // first: no lock of ours is held while stdio runs.
  char text[512];
  os::format(text, sizeof text,
             "Arena 0:\n"
             "system bytes     = %10zu\n"
             "in use bytes     = %10zu\n"
             "Total (incl. mmap):\n"
             "system bytes     = %10zu\n"
             "in use bytes     = %10zu\n"
             "max mmap regions = %10zu\n"
             "max mmap bytes   = %10zu\n",
             mi.arena, mi.uordblks, mi.arena + l.live_bytes, mi.uordblks + l.live_bytes, l.max_blocks, l.max_bytes);
  // glibc's malloc_stats is no cancellation point; the stdio write is.
  int cancel_state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  fputs(text, stderr);
  pthread_setcancelstate(cancel_state, nullptr);
}

int print_malloc_info(int options, FILE* fp) {
  if (options != 0) return EINVAL;
  if (!ensure_init()) return 0;
  // Gather first: fprintf may allocate, and no lock of ours is held then.
  heap::Snapshot h = g_heap.snapshot();
  large::Snapshot l = large::snapshot();
  SlabTotals st = slab_totals();
  slab::spans::Stats sp = slab::spans::stats();
  size_t parked_blocks = 0;
  size_t parked = parked_bytes(&parked_blocks);
  // "rest": the free blocks and the top, as glibc counts them (and as
  // mallinfo2's ordblks and fordblks do); the top was left out.
  size_t rest_blocks = h.free_blocks + (h.top ? 1 : 0);
  fprintf(fp, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n</sizes>\n");
  fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
  fprintf(fp, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", rest_blocks, h.free);
  fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", h.system);
  fprintf(fp, "<system type=\"max\" size=\"%zu\"/>\n", h.max_system);
  fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", h.system);
  fprintf(fp, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", h.system);
  fprintf(fp, "</heap>\n");
  fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
  fprintf(fp, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", rest_blocks, h.free);
  fprintf(fp, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", l.live_blocks, l.live_bytes);
  fprintf(fp, "<total type=\"mmap-cache\" count=\"%zu\" size=\"%zu\"/>\n", l.cached_blocks, l.cached_bytes);
  fprintf(fp, "<total type=\"slab\" count=\"%zu\" size=\"%zu\"/>\n", st.free_objects, st.free_bytes);
  // Every <total> has glibc's count and size (parsers read both): objects,
  // blocks or pages.
  fprintf(fp, "<total type=\"slab-in-use\" count=\"%zu\" size=\"%zu\"/>\n", st.active_objects, st.active_bytes);
  fprintf(fp, "<total type=\"thread-parked\" count=\"%zu\" size=\"%zu\"/>\n", parked_blocks, parked);
  fprintf(fp, "<total type=\"span-free\" count=\"%zu\" size=\"%zu\" dirty=\"%zu\"/>\n", sp.free_bytes / os::page_size(),
          sp.free_bytes, sp.dirty_bytes);
  fprintf(fp, "<total type=\"heap-purged\" count=\"%zu\" size=\"%zu\"/>\n", h.purged / os::page_size(), h.purged);
  // The whole process's <system> and <aspace> are the sum of its heaps', as
  // glibc's: mapped blocks are only in <total type="mmap"> (adding them here
  // counted them twice for a tool that adds the two).
  fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", h.system);
  fprintf(fp, "<system type=\"max\" size=\"%zu\"/>\n", h.max_system);
  fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", h.system);
  fprintf(fp, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", h.system);
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
  size_t parked[slab::kClasses];  // per class, objects in the transfer caches (not active)
  {
    // Where the memory is, per layer: "dirty" is free but resident (reused
    // without page faults), "purged" was given back with madvise.
    size_t slab_unused = 0, slab_purged = 0;
    for (unsigned c = 0; c < slab::kClasses; ++c) {
      slab::ClassStats cs = slab::class_stats(c);
      parked[c] = transfer_objects(c);
      slab_unused += cs.span_bytes - (cs.active > parked[c] ? cs.active - parked[c] : 0) * cs.object_size;
      slab_purged += cs.purged;
    }
    size_t heap_free_slab = h.free;  // the heap's own free blocks and top
    slab::spans::Stats sp = slab::spans::stats();
    w.printf("memory: heap free %zu (dirty %zu, purged %zu); slabs unused %zu (dirty %zu, purged %zu); "
             "span chunks %zu, free %zu (dirty %zu, purged %zu); mmap cache %zu (dirty)\n",
             heap_free_slab, heap_free_slab - (h.purged < heap_free_slab ? h.purged : heap_free_slab), h.purged,
             slab_unused, slab_unused - (slab_purged < slab_unused ? slab_purged : slab_unused), slab_purged,
             sp.chunk_bytes, sp.free_bytes, sp.dirty_bytes, sp.free_bytes - sp.dirty_bytes, l.cached_bytes);
  }
  if (g_redzone) {
    redzone::Stats r = redzone::stats();
    w.printf("redzone: %zu blocks allocated (queued frees included); quarantine %zu blocks, %zu bytes (limit %zu); "
             "recycled %zu bytes, spare %zu; chunks %zu bytes\n",
             r.blocks, r.quarantined, r.quarantine_bytes, r.quarantine_limit, r.recycled_bytes, r.spare_bytes,
             r.chunk_bytes);
  }
  w.printf("tuning: mmap_threshold %zu, trim_threshold %zu, top_pad %zu, adaptive top pad %zu\n",
           t.mmap_threshold.load(std::memory_order_relaxed), t.trim_threshold.load(std::memory_order_relaxed),
           t.top_pad.load(std::memory_order_relaxed), g_heap.adaptive_keep());
  // Per-class cache hits: live threads' counters (read racily: statistics)
  // plus those of exited threads.
  uint64_t hits[slab::kClasses] = {};
  {
    LockGuard guard(g_registry_lock);
    for (unsigned c = 0; c < slab::kClasses; ++c) hits[c] = g_dead_allocs[c];
    each_live_cache([&](ThreadCache& tc) {
      for (unsigned c = 0; c < slab::kClasses; ++c) hits[c] += __atomic_load_n(&tc.bins[c].allocs, __ATOMIC_RELAXED);
    });
  }
  w.printf("slabs (like /proc/slabinfo; active objects include those in thread caches, not those parked for "
           "other threads; refills include adopted batches):\n");
  w.printf("  %-10s %8s %12s %12s %8s %7s %9s %10s %10s %8s\n", "class", "objsize", "active_objs", "num_objs",
           "slabs", "empty", "slab_kb", "refills", "flushes", "hit_rate");
  for (unsigned c = 0; c < slab::kClasses; ++c) {
    slab::ClassStats s = slab::class_stats(c);
    uint64_t refills = s.refills + __atomic_load_n(&g_adopted[c], __ATOMIC_RELAXED);
    if (s.slabs == 0 && refills == 0) continue;
    size_t active = s.active > parked[c] ? s.active - parked[c] : 0;
    uint64_t total = hits[c] + refills;
    unsigned permille = total ? static_cast<unsigned>(hits[c] * 1000 / total) : 0;
    char name[16];
    os::format(name, sizeof name, "size-%zu", s.object_size);
    w.printf("  %-10s %8zu %12zu %12zu %8zu %7zu %9zu %10zu %10zu %6u.%u%%\n", name, s.object_size, active, s.total,
             s.slabs, s.empty_slabs, s.span / 1024, static_cast<size_t>(refills), s.flushes, permille / 10,
             permille % 10);
  }
  stats::print_counters(w);
}

int advise(void* p, size_t offset, size_t len, int advice) {
  if (!p || !ensure_init() || g_redzone || pagemap::get(addr(p)) > pagemap::kLargeHead || !large::owns(p)) return EINVAL;
  return large::advise(p, offset, len, advice) ? 0 : EINVAL;
}

int heap_check(uptr ret) {
  if (!ensure_init()) return 0;
  int bad = g_redzone ? redzone::check_all(ret) : 0;
  if (const char* err = g_heap.check()) {
    report::warn("heap check failed: %s", err);
    return -1;
  }
  return bad ? -1 : 0;
}

namespace {
// With LIBMALLOC_OPTIONS set, libmalloc starts with the program rather than
// at its first allocation, so that help=1, verbose=1 and the messages about
// bad items appear in a program that never allocates too (/bin/true printed
// nothing; DESIGN.md promises them at start-up). Without it, nothing is done
// before the first allocation.
__attribute__((constructor)) void init_if_configured() {
  if (std::getenv("LIBMALLOC_OPTIONS") != nullptr) ensure_init();
}

}  // namespace

// libmalloc.so's DT_FINI (meson.build: -Wl,-fini=lm_fini), in place of the C
// runtime's empty _fini, which the link puts after the redzone code: calling
// it at exit faulted that code in (docs/architecture.md, Text layout).
extern "C" __attribute__((visibility("hidden"))) void lm_fini() {}

namespace {
// stats=1: the report at exit, after the program's own destructors.
// Redzone mode: every live block's redzones, the quarantine's fills, leaks.
__attribute__((destructor)) void report_at_exit() {
  if (g_state.load(std::memory_order_acquire) != 2) return;
  if (t_lock_depth != 0) {
    // exit() from a signal handler that interrupted this thread inside
    // libmalloc: the locks the report needs may be the ones it holds.
    if (g_redzone || config::options().stats)
      report::warn("exit() was called while this thread was inside the allocator (from a signal handler?): "
                   "the exit report is skipped");
    return;
  }
  // Not cancellable: a thread calling exit() with a cancel request pending
  // was cancelled at sigtimedwait below, inside exit(): the handlers after
  // this one never ran, and the process hung.
  int cancel_state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  // With SIGPIPE blocked, and one it raised discarded: stderr a pipe whose
  // reader is gone (`prog 2>&1 | head`) killed the program with SIGPIPE
  // here, changing its exit status for a report it asked for.
  sigset_t pipe_only, saved;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &saved);
  sigset_t pending;
  bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  if (g_redzone) redzone::at_exit(addr(__builtin_frame_address(0)));
  if (config::options().stats) print_report(report::output_fd());
  if (!was_pending) {
    timespec zero{};
    int saved_errno = errno;
    sigtimedwait(&pipe_only, nullptr, &zero);
    errno = saved_errno;
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  pthread_setcancelstate(cancel_state, nullptr);
}
}  // namespace

}  // namespace lm::core
