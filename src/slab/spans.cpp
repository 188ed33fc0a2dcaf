// spans.cpp: page runs for slab spans, carved from 1 MiB heap chunks (see
// spans.h for why).
#include "slab/spans.h"

#include <sys/mman.h>

#include "base/lock.h"
#include "heap/heap.h"
#include "os/os.h"
#include "slab/desc_pool.h"
#include "stats/stats.h"

namespace lm::slab::spans {

struct Chunk {
  Chunk* next;  // chunks with a free page, by address: first fit favours
  Chunk* prev;  // low addresses, so the heap's top can shrink
  uptr base;
  uint64_t used[kChunkPages / 64];   // page in a span
  uint64_t dirty[kChunkPages / 64];  // free page that may be resident
  uint64_t freed_ms;                 // when a span was last freed here
  uint32_t free_pages;
  uint32_t longest;  // no free run is longer than this (a hint, reset on free)
  bool listed;
  bool lazy;  // some free pages were purged with MADV_FREE (resident until the kernel wants them)
};
static_assert(sizeof(Chunk) <= kDescBytes);

namespace {

constinit Mutex g_lock;
heap::Heap* g_heap = nullptr;
Chunk* g_list = nullptr;  // chunks with free pages
size_t g_chunks = 0;
// One wholly free chunk is kept rather than given back at once, so a class
// that empties and refills its only slab does not split and coalesce a heap
// block each time; the lowest-addressed one, so that it never pins the top
// of the heap when the program frees everything.
Chunk* g_reserve = nullptr;
size_t g_free_pages = 0;   // over all chunks
size_t g_dirty_pages = 0;  // free pages that may be resident

inline bool bit(const uint64_t* bits, size_t i) { return bits[i / 64] >> (i % 64) & 1; }
inline void set_bit(uint64_t* bits, size_t i) { bits[i / 64] |= uint64_t{1} << (i % 64); }
inline void clear_bit(uint64_t* bits, size_t i) { bits[i / 64] &= ~(uint64_t{1} << (i % 64)); }

void list_insert(Chunk* c) {
  Chunk** at = &g_list;
  Chunk* prev = nullptr;
  while (*at && (*at)->base < c->base) {
    prev = *at;
    at = &(*at)->next;
  }
  c->next = *at;
  c->prev = prev;
  if (c->next) c->next->prev = c;
  *at = c;
  c->listed = true;
}

void list_remove(Chunk* c) {
  if (c->prev) c->prev->next = c->next;
  else g_list = c->next;
  if (c->next) c->next->prev = c->prev;
  c->listed = false;
}

// First page of a run of k free pages in c, or -1 (then c->longest is exact).
long find_run(Chunk* c, size_t k) {
  size_t run = 0, longest = 0;
  for (size_t i = 0; i < kChunkPages; ++i) {
    if (i % 64 == 0 && c->used[i / 64] == ~uint64_t{0}) {
      run = 0;
      i += 63;
      continue;
    }
    if (bit(c->used, i)) {
      run = 0;
      continue;
    }
    if (++run == k) return static_cast<long>(i + 1 - k);
    if (run > longest) longest = run;
  }
  c->longest = static_cast<uint32_t>(longest);
  return -1;
}

uptr take(Chunk* c, size_t first, size_t k) {
  if (c == g_reserve) g_reserve = nullptr;
  for (size_t i = first; i < first + k; ++i) {
    set_bit(c->used, i);
    if (bit(c->dirty, i)) {
      clear_bit(c->dirty, i);
      --g_dirty_pages;
    }
  }
  c->free_pages -= static_cast<uint32_t>(k);
  g_free_pages -= k;
  if (c->free_pages == 0) list_remove(c);
  return c->base + first * kPage;
}

Chunk* new_chunk() {
  bool fresh = false;
  void* mem = g_heap->alloc_aligned(kPage, kChunkBytes, &fresh);
  if (!mem) return nullptr;
  auto* c = static_cast<Chunk*>(desc_alloc());
  if (!c) {
    g_heap->free_span(mem);
    return nullptr;
  }
  *c = Chunk{};
  c->base = addr(mem);
  // Memory the heap had used before may be resident: then every page counts
  // as dirty until a purge says otherwise.
  if (!fresh)
    for (uint64_t& w : c->dirty) w = ~uint64_t{0};
  c->free_pages = kChunkPages;
  c->longest = kChunkPages;
  c->freed_ms = os::recent_ms();
  list_insert(c);
  ++g_chunks;
  g_free_pages += kChunkPages;
  if (!fresh) g_dirty_pages += kChunkPages;
  return c;
}

void release(Chunk* c) {
  if (c == g_reserve) g_reserve = nullptr;
  list_remove(c);
  --g_chunks;
  g_free_pages -= kChunkPages;
  for (uint64_t w : c->dirty) g_dirty_pages -= popcount64(w);
  g_heap->free_span(ptr(c->base));
  desc_free(c);
}

// Purges c's free pages: the dirty ones, or with all (malloc_trim) also
// those an earlier pass purged lazily with MADV_FREE. (All free pages every
// time made each malloc_trim madvise the same untouched pages again and
// return 1 with nothing released, where glibc returns 0.)
size_t purge_chunk(Chunk* c, int advice, bool all) {
  // (Only for good: decay with decay_ms=0 purges with MADV_FREE and would
  // advise the same pages on every pass.)
  all = all && c->lazy && advice != MADV_FREE;
  if (all && advice != MADV_FREE) c->lazy = false;
  size_t purged = 0;
  for (size_t i = 0; i < kChunkPages;) {
    if (bit(c->used, i) || (!all && !bit(c->dirty, i))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < kChunkPages && !bit(c->used, j) && (all || bit(c->dirty, j))) ++j;
    if (os::advise(ptr(c->base + i * kPage), (j - i) * kPage, advice)) {
      for (size_t q = i; q < j; ++q) {
        if (bit(c->dirty, q)) {
          clear_bit(c->dirty, q);
          --g_dirty_pages;
        }
      }
      purged += (j - i) * kPage;
      if (advice == MADV_FREE) c->lazy = true;
    }
    i = j;
  }
  if (purged) stats::count(stats::k_purged_pages, purged / kPage);
  return purged;
}

}  // namespace

void init(heap::Heap* heap) {
  g_heap = heap;
}

Span alloc(size_t bytes) {
  size_t k = bytes / kPage;
  LockGuard guard(g_lock);
  for (Chunk* c = g_list; c; c = c->next) {
    if (c->free_pages < k || c->longest < k) continue;
    long i = find_run(c, k);
    if (i >= 0) return Span{take(c, static_cast<size_t>(i), k), c};
  }
  Chunk* c = new_chunk();
  if (!c) return Span{0, nullptr};
  return Span{take(c, 0, k), c};
}

void free(Span s, size_t bytes) {
  size_t k = bytes / kPage;
  LockGuard guard(g_lock);
  Chunk* c = s.chunk;
  size_t first = (s.base - c->base) / kPage;
  for (size_t i = first; i < first + k; ++i) {
    clear_bit(c->used, i);
    set_bit(c->dirty, i);
  }
  c->free_pages += static_cast<uint32_t>(k);
  c->longest = kChunkPages;
  c->freed_ms = os::recent_ms();
  g_free_pages += k;
  g_dirty_pages += k;
  if (!c->listed) list_insert(c);
  if (c->free_pages == kChunkPages) {
    if (!g_reserve) {
      g_reserve = c;
    } else {
      Chunk* higher = c->base > g_reserve->base ? c : g_reserve;
      g_reserve = c->base > g_reserve->base ? g_reserve : c;
      release(higher);
    }
  }
}

size_t dirty_bytes() { return __atomic_load_n(&g_dirty_pages, __ATOMIC_RELAXED) * kPage; }
size_t free_bytes() { return __atomic_load_n(&g_free_pages, __ATOMIC_RELAXED) * kPage; }

size_t purge_bytes(size_t want) {
  LockGuard guard(g_lock);
  size_t purged = 0;
  for (Chunk* c = g_list; c && purged < want; c = c->next) purged += purge_chunk(c, MADV_DONTNEED, false);
  return purged;
}

size_t purge_now() { return purge_bytes(~size_t{0}); }

size_t decay(uint64_t now, size_t min_age, int advice) {
  LockGuard guard(g_lock);
  size_t done = 0;
  for (Chunk* c = g_list; c;) {
    Chunk* next = c->next;
    // (freed_ms may be a little ahead of now: another thread's clock read.)
    if (min_age == 0 || (c->freed_ms <= now && now - c->freed_ms >= min_age)) {
      if (c->free_pages == kChunkPages) {
        release(c);
        done += kChunkBytes;
      } else {
        done += purge_chunk(c, advice, min_age == 0);
      }
    }
    c = next;
  }
  return done;
}

Stats stats() {
  LockGuard guard(g_lock);
  return Stats{g_chunks, g_chunks * kChunkBytes, g_free_pages * kPage, g_dirty_pages * kPage};
}

void lock_for_fork() { g_lock.lock(); }
void unlock_for_fork() { g_lock.unlock(); }
void reset_for_fork_child() { g_lock.reset_after_fork(); }

}  // namespace lm::slab::spans
