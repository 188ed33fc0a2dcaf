// slab.cpp: the central side of the slab layer: per-class slab lists, slab
// creation from span chunks (slab/spans.h), carving, and release of empty slabs.
#include "slab/slab.h"

#include <sys/mman.h>

#include "heap/heap.h"
#include "os/os.h"
#include "pagemap/pagemap.h"
#include "report/report.h"
#include "slab/desc_pool.h"
#include "slab/spans.h"
#include "stats/stats.h"

namespace lm::slab {

namespace {

enum List : uint8_t { kPartial, kFull, kEmpty };

struct alignas(64) Cache {
  Mutex lock;
  Slab* lists[3];
  size_t counts[3];
  size_t active;
  size_t refills;
  size_t flushes;
  unsigned colour;  // next slab's colour, in cache lines
};

constinit Cache g_classes[kClasses] = {};
heap::Heap* g_heap = nullptr;

// Empty slabs kept per class before their span goes back: none. The span
// allocator keeps a freed span's pages resident (until trim or decay), so a
// class that empties and refills costs a bitmap update, not page faults;
// and an empty slab kept per class would hold pages no other class can use.
constexpr size_t kEmptyReserve = 0;

// Tried (2026-11-23): 64 KiB for every class (2 objects of 32 KiB) lowered
// strbuild's peak RSS 22.6 -> 21.2 MiB, but raised burst-and-idle's RSS after
// malloc_trim 72080 -> 73248 KiB (glibc 72256: issue 6's goal), and 4 objects
// per span 72392: more spans are more heap blocks whose boundary pages stay
// resident between survivors. Chunking those spans too: 73844.
constexpr size_t span_for(unsigned c) {
  size_t size = class_size(c);
  size_t want = size <= 1024 ? 64 * 1024 : 8 * size;
  return align_up(want < 64 * 1024 ? 64 * 1024 : want, 4096);
}
static_assert(span_for(kClasses - 1) == 262144, "the largest class's slab holds 8 objects");

// Objects in a span of `span` bytes of class c: per page times pages when
// page packed.
constexpr size_t capacity_of(unsigned c, size_t span) {
  size_t size = class_size(c);
  return page_packed(size) ? kPageBytes / size * (span / kPageBytes) : span / size;
}

// The span of class c's next slab, `held` slabs held already. Above
// kOneObjectBinsAbove a class starts with a slab of one object (its span
// rounded to whole pages), and each slab it holds doubles the next, up to
// span_for(c). A class a program uses now and then (producer-consumer's
// 4-64 KiB messages, 1%: 26 classes with one or two live objects each) held a
// slab of eight objects apiece, heap blocks that were dirtied object by
// object and came back dirty: 3.7 MiB of the heap's free blocks at exit,
// peak RSS 8.6 MiB against glibc's 4.4. With slabs of one object, such a
// class's memory is the heap's, reused across sizes as glibc's is. (Also
// sizing by the most objects the class had out at once since it last held no
// slab was worse: strbuild 21.5 -> 22.2 MiB, spectrum 143.7 -> 148.6 MiB.)
size_t span_for_next(unsigned c, size_t held) {
  size_t size = class_size(c);
  if (size <= kOneObjectBinsAbove) return span_for(c);
  size_t objects = size_t{1} << (held < 3 ? held : 3);
  return std::min(align_up(objects * size, kPageBytes), span_for(c));
}

// purge_slab()'s bitmaps: at most 128 pages (Slab::purged) and 4096 objects
// (free_bits) per slab, for every class.
constexpr bool spans_fit_bitmaps() {
  for (unsigned c = 0; c < kClasses; ++c)
    if (span_for(c) > 128 * 4096 || span_for(c) / class_size(c) > 4096) return false;
  return true;
}
static_assert(spans_fit_bitmaps());

}  // namespace

namespace {

// A slab's free list links its objects through their first word, encoded with
// glibc's safe-linking (protect() in base.h). Each link is checked as
// it is followed: null or the start of a carved object of the same slab. A
// write after free into an object on the list (zeros, or a pointer to
// another freed object) made take() hand out live blocks again, or cut the
// list and spin forever under the class lock; it is reported as corruption
// instead.
void set_link(void* slot, void* next) { *static_cast<void**>(slot) = protect(static_cast<void**>(slot), next); }

void* next_link(const Slab* s, void* slot, const char* func = "malloc()") {
  void* next = reveal(static_cast<void**>(slot));
  if (LM_UNLIKELY(next && !is_object_start(s, addr(next))))
    report::corrupted(func, slot, "corrupted slab free list (written after free?)");
  return next;
}

void list_push(Cache& k, Slab* s, List l) {
  s->list = l;
  s->prev = nullptr;
  s->next = k.lists[l];
  if (s->next) s->next->prev = s;
  k.lists[l] = s;
  ++k.counts[l];
}

void list_remove(Cache& k, Slab* s) {
  if (s->prev) s->prev->next = s->next;
  else k.lists[s->list] = s->next;
  if (s->next) s->next->prev = s->prev;
  --k.counts[s->list];
}

void move(Cache& k, Slab* s, List l) {
  if (s->list == l) return;
  list_remove(k, s);
  list_push(k, s, l);
}

constexpr size_t kChunkedMax = 1024;  // largest class whose spans are chunked

void release_span(spans::Span sp, size_t bytes) {
  if (sp.chunk) spans::free(sp, bytes);
  else g_heap->free_span(ptr(sp.base));
}

Slab* new_slab(Cache& k, unsigned c) {
  size_t span = span_for_next(c, k.counts[kPartial] + k.counts[kFull] + k.counts[kEmpty]);
  auto* s = static_cast<Slab*>(desc_alloc());
  if (!s) return nullptr;
  // Small classes' spans come from span chunks; the larger classes' spans,
  // which churn as medium blocks grow through them, are heap blocks.
  spans::Span got{0, nullptr};
  if (class_size(c) <= kChunkedMax) got = spans::alloc(span);
  else got.base = addr(g_heap->alloc_aligned(4096, span));
  if (!got.base) {
    desc_free(s);
    return nullptr;
  }
  void* mem = ptr(got.base);
  size_t size = class_size(c);
  bool packed = page_packed(size);
  auto capacity = static_cast<uint32_t>(capacity_of(c, span));
  auto per_unit = static_cast<uint16_t>(packed ? kPageBytes / size : capacity);
  // Colouring: successive slabs start their objects at different cache-line
  // offsets within the slack (of a page when page packed), so hot objects
  // of different slabs do not all map to the same cache sets.
  size_t slack = (packed ? kPageBytes : span) - per_unit * size;
  size_t lines = slack / 64 + 1;
  size_t colour = (k.colour++ % lines) * 64;
  s->next = s->prev = nullptr;
  s->free_list = nullptr;
  s->base = addr(mem);
  s->first = addr(mem) + colour;
  s->recip = ((uint64_t{1} << 40) + size - 1) / size;
  s->size = static_cast<uint32_t>(size);
  s->capacity = capacity;
  s->unit_shift = packed ? kPackedUnitShift : kWholeSpanUnitShift;
  s->per_unit = per_unit;
  s->unit_mask = packed ? kPageBytes - 1 : ~uint32_t{0};
  s->unit_used = packed ? static_cast<uint32_t>(per_unit * size) : ~uint32_t{0};
  s->in_use = 0;
  s->carved = 0;
  s->carved_end = 0;
  s->size_class = static_cast<uint16_t>(c);
  s->purged[0] = s->purged[1] = 0;
  s->touched_ms = 0;
  s->returned = 0;
  s->lazy = 0;
  s->chunk = got.chunk;
  s->span = static_cast<uint32_t>(span);
  if (!pagemap::set_range(addr(mem), addr(mem) + span, entry_of(s))) {
    pagemap::set_range(addr(mem), addr(mem) + span, pagemap::kHeap);
    release_span(got, span);
    desc_free(s);
    return nullptr;
  }
  return s;
}

constexpr size_t kPage = 4096;

inline bool page_purged(const Slab* s, size_t i) { return s->purged[i / 64] >> (i % 64) & 1; }
inline bool any_purged(const Slab* s) { return (s->purged[0] | s->purged[1]) != 0; }

// True if object i overlaps a purged page.
bool on_purged_page(const Slab* s, size_t i) {
  uptr b = object_at(s, i) - s->base;
  uptr e = b + s->size - 1;
  for (size_t pg = b / kPage; pg <= e / kPage; ++pg)
    if (page_purged(s, pg)) return true;
  return false;
}

// Puts the objects parked on purged pages back on the free list (their pages
// fault back in as they are used). Class lock held.
void unpark(Slab* s) {
  for (size_t i = 0; i < s->carved; ++i) {
    if (!on_purged_page(s, i)) continue;
    void* p = ptr(object_at(s, i));
    set_link(p, s->free_list);
    s->free_list = p;
  }
  s->purged[0] = s->purged[1] = 0;
  s->lazy = 0;
  s->returned = 1;  // its pages hold free objects again, resident as they are used
}

// Purges the pages of s that hold only free objects. Class lock held.
size_t purge_slab(Slab* s, int advice) {
  size_t npages = s->span / kPage;
  // Which carved objects are free: on the free list or parked.
  uint64_t free_bits[4096 / 64] = {};
  unsigned steps = 0;
  for (void* q = s->free_list; q && steps <= s->capacity; q = next_link(s, q), ++steps) {
    size_t i = object_index(s, addr(q));
    free_bits[i / 64] |= uint64_t{1} << (i % 64);
  }
  uint64_t keep[2] = {0, 0};
  for (size_t i = 0; i < s->carved; ++i) {
    if (free_bits[i / 64] >> (i % 64) & 1) continue;
    if (on_purged_page(s, i)) continue;  // parked
    uptr b = object_at(s, i) - s->base;
    uptr e = b + s->size - 1;
    for (size_t pg = b / kPage; pg <= e / kPage; ++pg) keep[pg / 64] |= uint64_t{1} << (pg % 64);
  }
  // Only pages wholly below the carved end: objects carved later must never
  // overlap a purged page, or unpark() would free them while in use. Once
  // every object is carved, the span's last page (objects and the unused
  // tail) may go too: it was left resident in every slab whose objects do not
  // divide the span, 5 MiB after malloc_trim in the burst-and-idle workload.
  size_t last = npages - 1;
  if (s->carved < s->capacity) {
    uptr carved_end = s->carved ? object_at(s, s->carved - 1) + s->size - s->base : 0;
    if (carved_end < kPage) return 0;
    last = carved_end / kPage - 1;
  }
  size_t purged = 0;
  uint64_t fresh[2] = {0, 0};
  for (size_t pg = 0; pg <= last; ++pg) {
    if ((keep[pg / 64] >> (pg % 64) & 1) || page_purged(s, pg)) continue;
    size_t run = pg;
    while (run + 1 <= last && !(keep[(run + 1) / 64] >> ((run + 1) % 64) & 1) && !page_purged(s, run + 1)) ++run;
    if (os::advise(ptr(s->base + pg * kPage), (run - pg + 1) * kPage, advice)) {
      for (size_t q = pg; q <= run; ++q) fresh[q / 64] |= uint64_t{1} << (q % 64);
      purged += (run - pg + 1) * kPage;
    }
    pg = run;
  }
  if (!purged) return 0;
  stats::count(stats::k_purged_pages, purged / kPage);
  if (advice == MADV_FREE) s->lazy = 1;
  s->purged[0] |= fresh[0];
  s->purged[1] |= fresh[1];
  // Drop the objects on purged pages from the free list: their links were
  // just discarded with the pages.
  void* kept = nullptr;
  void* tail = nullptr;
  for (size_t i = 0; i < s->carved; ++i) {
    if (!(free_bits[i / 64] >> (i % 64) & 1) || on_purged_page(s, i)) continue;
    void* p = ptr(object_at(s, i));
    if (tail) set_link(tail, p);
    else kept = p;
    tail = p;
  }
  if (tail) set_link(tail, nullptr);
  s->free_list = kept;
  return purged;
}

void release_slab(Slab* s) {
  size_t span = s->span;
  pagemap::set_range(s->base, s->base + span, pagemap::kHeap);
  release_span(spans::Span{s->base, s->chunk}, span);
  desc_free(s);
}

}  // namespace

void init(heap::Heap* heap) {
  g_heap = heap;
  spans::init(heap);
}

unsigned cache_limit(unsigned c) {
  // About 32 KiB of objects per bin, between 2 and kMaxBin objects (one
  // above 4 KiB, below). (A floor of
  // 8 held 256 KiB per bin of the largest classes in every thread: with it,
  // the realloc workload peaked 2.3 MiB higher and producer-consumer 1.4.)
  // Above 1 KiB, with eight classes per doubling, 16 KiB per bin: the same
  // bytes per doubling as four classes of 32 KiB. (Measured, medians of 3
  // interleaved runs: strbuild peak 22.3 MiB with 32 KiB bins there, 21.8
  // with 16 KiB, 21.2 with the 40-class table. Halving the bins of the
  // 512-1024 B classes too cost larson 10% when those classes were eight
  // per doubling.)
  //
  // Above 4 KiB, one object: the last one freed, for the next malloc of the
  // class (a malloc/free pair stays on the fast path). Two objects of each of
  // these 26 classes, in a producer's and a consumer's bins, were ~1 MiB of
  // producer-consumer's peak (whose messages of 4-64 KiB are 1%); with one,
  // its median peak RSS fell 7.2 -> 6.7 MiB (12 interleaved runs), and the
  // wall times of prodcons, spectrum, large and strbuild did not move (6 runs).
  size_t size = class_size(c);
  if (size > kOneObjectBinsAbove) return 1;
  size_t n = (size > 1024 ? 16 * 1024 : 32 * 1024) / size;
  return static_cast<unsigned>(n < 2 ? 2 : n > kMaxBin ? kMaxBin : n);
}

unsigned busy_cache_limit(unsigned c) {
  size_t size = class_size(c);
  if (size <= kOneObjectBinsAbove) return cache_limit(c);
  size_t n = 64 * 1024 / size;
  return static_cast<unsigned>(n < 2 ? 2 : n);
}

unsigned take(unsigned c, void** out, unsigned want) {
  Cache& k = g_classes[c];
  LockGuard guard(k.lock);
  unsigned got = 0;
  while (got < want) {
    Slab* s = k.lists[kPartial];
    if (!s) s = k.lists[kEmpty];
    if (!s) {
      s = new_slab(k, c);
      if (!s) break;
      list_push(k, s, kEmpty);
    }
    s->touched_ms = os::recent_ms();
    if (!s->free_list && s->carved == s->capacity && any_purged(s)) unpark(s);
    while (got < want && s->free_list) {
      void* p = s->free_list;
      s->free_list = next_link(s, p);
      out[got++] = p;
      ++s->in_use;
    }
    if (got < want && s->carved < s->capacity) {
      // One division per batch: then step object by object, and over the
      // end of each page of a page-packed slab.
      uptr p = object_at(s, s->carved);
      unsigned k = s->carved % s->per_unit;
      const uptr gap = s->unit_shift == kPackedUnitShift ? kPage - size_t{s->per_unit} * s->size : 0;
      do {
        out[got++] = ptr(p);
        ++s->carved;
        ++s->in_use;
        p += s->size;
        if (++k == s->per_unit) {
          k = 0;
          p += gap;
        }
      } while (got < want && s->carved < s->capacity);
      s->carved_end = static_cast<uint32_t>(p - s->first);
    }
    // Objects neither in use, on the list nor left to carve: the list was
    // cut (a write after free); taking this slab again would spin forever.
    if (LM_UNLIKELY(got < want && s->in_use < s->capacity && s->carved == s->capacity && !any_purged(s)))
      report::corrupted("malloc()", ptr(s->base), "slab free list lost objects (written after free?)");
    move(k, s, s->in_use == s->capacity ? kFull : kPartial);
  }
  k.active += got;
  ++k.refills;
  return got;
}

void give(unsigned c, void* const* objs, unsigned n, const char* func) {
  Cache& k = g_classes[c];
  Slab* to_release = nullptr;  // linked through next, released unlocked
  {
    LockGuard guard(k.lock);
    uint64_t now = os::recent_ms();
    // The last slab looked up, and its span: a bin flushes objects of a few
    // slabs in runs (allocated together, freed together), and an object
    // inside the span needs no page-map lookup.
    Slab* s = nullptr;
    uptr lo = 0, len = 0;
    for (unsigned i = 0; i < n; ++i) {
      void* p = objs[i];
      // On a slab of this class (a thread cache's stack overwritten by a
      // stray write into libmalloc's memory). Not is_object_start: every
      // object came through free()'s test of it; that test cost 7% of a
      // burst of frees (about 1 ns an object).
      if (addr(p) - lo >= len) {
        pagemap::Entry e = pagemap::get(addr(p));
        s = slab_of(e);
        if (e <= pagemap::kLargeHead || s->size_class != c)
          report::corrupted(func, p, "thread-cache object not of its class");
        lo = s->base;
        len = s->span;
      }
      set_link(p, s->free_list);
      s->free_list = p;
      s->touched_ms = now;
      s->returned = 1;
      --s->in_use;
      if (s->in_use == 0) {
        move(k, s, kEmpty);
        if (k.counts[kEmpty] > kEmptyReserve) {
          // Beyond the reserve, release the highest-addressed empty slab
          // (with kEmptyReserve 0, the one that just emptied; a reserve
          // would keep the lowest, nearest the heap's start).
          Slab* victim = s;
          for (Slab* e = k.lists[kEmpty]; e; e = e->next)
            if (e->base > victim->base) victim = e;
          list_remove(k, victim);
          victim->next = to_release;
          to_release = victim;
        }
      } else if (s->list == kFull) {
        move(k, s, kPartial);
      }
    }
    k.active -= n;
    ++k.flushes;
  }
  while (to_release) {
    Slab* s = to_release;
    to_release = s->next;
    release_slab(s);
  }
}

bool is_free_in_slab(Slab* s, void* p, const char* func) {
  Cache& k = g_classes[s->size_class];
  LockGuard guard(k.lock);
  unsigned steps = 0;
  for (void* q = s->free_list; q && steps <= s->capacity; q = next_link(s, q, func), ++steps)
    if (q == p) return true;
  return false;
}

size_t release_empty() {
  size_t released = 0;
  for (unsigned c = 0; c < kClasses; ++c) {
    Cache& k = g_classes[c];
    for (;;) {
      Slab* s;
      {
        LockGuard guard(k.lock);
        s = k.lists[kEmpty];
        if (!s) break;
        list_remove(k, s);
      }
      released += s->span;
      release_slab(s);
    }
  }
  return released;
}

size_t purge(uint64_t now, size_t min_age, int advice, unsigned max_occupancy_pct) {
  size_t purged = 0;
  for (unsigned c = 0; c < kClasses; ++c) {
    Cache& k = g_classes[c];
    LockGuard guard(k.lock);
    for (Slab* s = k.lists[kPartial]; s; s = s->next) {
      if (size_t{s->in_use} * 100 > size_t{s->capacity} * max_occupancy_pct) continue;
      if (min_age == 0 && s->lazy && max_occupancy_pct == 100 && advice != MADV_FREE) {
        // malloc_trim: purge again what decay purged lazily (MADV_FREE
        // pages count in RSS until the kernel needs them); only then, not
        // pages purged for good. (Not decay with decay_ms=0: it purges
        // with MADV_FREE and would advise the same pages on every pass.)
        for (size_t pg = 0; pg < 128; ++pg)
          if (page_purged(s, pg)) os::advise(ptr(s->base + pg * kPage), kPage, advice);
        if (advice != MADV_FREE) s->lazy = 0;
      }
      // (touched_ms may be a little ahead of now: another thread's clock read.)
      if (!s->returned || s->touched_ms > now || now - s->touched_ms < min_age) continue;
      purged += purge_slab(s, advice);
      s->returned = 0;
    }
  }
  return purged;
}

ClassStats class_stats(unsigned c) {
  Cache& k = g_classes[c];
  LockGuard guard(k.lock);
  ClassStats st{};
  st.object_size = class_size(c);
  st.active = k.active;
  st.slabs = k.counts[kPartial] + k.counts[kFull] + k.counts[kEmpty];
  st.empty_slabs = k.counts[kEmpty];
  st.span = span_for(c);
  for (Slab* l : k.lists)
    for (Slab* s = l; s; s = s->next) {
      st.total += s->capacity;
      st.span_bytes += s->span;
    }
  st.refills = k.refills;
  st.flushes = k.flushes;
  for (Slab* s = k.lists[kPartial]; s; s = s->next)
    st.purged += (popcount64(s->purged[0]) + popcount64(s->purged[1])) * kPage;
  return st;
}

void lock_for_fork() {
  for (Cache& k : g_classes) k.lock.lock();
  spans::lock_for_fork();
  desc_lock_for_fork();
}
void unlock_for_fork() {
  desc_unlock_for_fork();
  spans::unlock_for_fork();
  for (Cache& k : g_classes) k.lock.unlock();
}
void reset_for_fork_child() {
  desc_reset_for_fork_child();
  spans::reset_for_fork_child();
  for (Cache& k : g_classes) k.lock.reset_after_fork();
}

}  // namespace lm::slab
