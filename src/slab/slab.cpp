// slab.cpp: the central side of the slab layer: per-class slab lists, slab
// creation from the heap, carving, and release of empty slabs.
#include "slab/slab.h"

#include "heap/heap.h"
#include "os/os.h"
#include "pagemap/pagemap.h"
#include "report/report.h"

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

// Empty slabs kept per class before they go back to the heap: none. The
// heap keeps a released span's pages resident (until trim or decay), so a
// class that empties and refills costs a heap split and coalesce, not page
// faults; and an empty slab kept near the top of the heap would stop brk
// from shrinking (measured: 20 MiB of a 64 MiB heap held back that way).
constexpr size_t kEmptyReserve = 0;

constexpr size_t span_for(unsigned c) {
  size_t size = class_size(c);
  size_t want = size <= 1024 ? 64 * 1024 : 8 * size + sizeof(Slab);
  return align_up(want < 64 * 1024 ? 64 * 1024 : want, 4096);
}
static_assert(span_for(kClasses - 1) == 266240, "the largest class's slab holds 8 objects");

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

Slab* new_slab(Cache& k, unsigned c) {
  size_t span = span_for(c);
  void* mem = g_heap->alloc_aligned(4096, span);
  if (!mem) return nullptr;
  auto* s = static_cast<Slab*>(mem);
  size_t size = class_size(c);
  size_t room = span - sizeof(Slab);
  auto capacity = static_cast<uint32_t>(room / size);
  // Colouring: successive slabs start their objects at different cache-line
  // offsets within the slack, so hot objects of different slabs do not all
  // map to the same cache sets.
  size_t slack = room - capacity * size;
  size_t lines = slack / 64 + 1;
  size_t colour = (k.colour++ % lines) * 64;
  s->next = s->prev = nullptr;
  s->free_list = nullptr;
  s->first = addr(mem) + sizeof(Slab) + colour;
  s->recip = ((uint64_t{1} << 40) + size - 1) / size;
  s->size = static_cast<uint32_t>(size);
  s->capacity = capacity;
  s->in_use = 0;
  s->carved = 0;
  s->size_class = static_cast<uint16_t>(c);
  if (!pagemap::set_range(addr(mem), addr(mem) + span, addr(s))) {
    g_heap->free(mem, "malloc()");
    return nullptr;
  }
  return s;
}

void release_slab(Slab* s) {
  size_t span = span_for(s->size_class);
  pagemap::set_range(addr(s), addr(s) + span, pagemap::kHeap);
  g_heap->free(s, "free()");
}

}  // namespace

void init(heap::Heap* heap) { g_heap = heap; }

unsigned cache_limit(unsigned c) {
  // About 32 KiB of objects per bin, between 8 and 256 objects.
  size_t n = 32 * 1024 / class_size(c);
  return static_cast<unsigned>(n < 8 ? 8 : n > 256 ? 256 : n);
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
    while (got < want && s->free_list) {
      void* p = s->free_list;
      s->free_list = *static_cast<void**>(p);
      out[got++] = p;
      ++s->in_use;
    }
    while (got < want && s->carved < s->capacity) {
      out[got++] = ptr(s->first + size_t{s->carved} * s->size);
      ++s->carved;
      ++s->in_use;
    }
    move(k, s, s->in_use == s->capacity ? kFull : kPartial);
  }
  k.active += got;
  ++k.refills;
  return got;
}

void give(unsigned c, void* const* objs, unsigned n) {
  Cache& k = g_classes[c];
  Slab* to_release[8];
  unsigned nrelease = 0;
  {
    LockGuard guard(k.lock);
    size_t reserve = kEmptyReserve;
    for (unsigned i = 0; i < n; ++i) {
      void* p = objs[i];
      auto* s = reinterpret_cast<Slab*>(pagemap::get(addr(p)));
      *static_cast<void**>(p) = s->free_list;
      s->free_list = p;
      --s->in_use;
      if (s->in_use == 0) {
        move(k, s, kEmpty);
        if (k.counts[kEmpty] > reserve && nrelease < 8) {
          // Keep the lowest-addressed empty slabs, release the highest.
          Slab* victim = s;
          for (Slab* e = k.lists[kEmpty]; e; e = e->next)
            if (addr(e) > addr(victim)) victim = e;
          list_remove(k, victim);
          to_release[nrelease++] = victim;
        }
      } else if (s->list == kFull) {
        move(k, s, kPartial);
      }
    }
    k.active -= n;
    ++k.flushes;
  }
  for (unsigned i = 0; i < nrelease; ++i) release_slab(to_release[i]);
}

bool is_free_in_slab(Slab* s, void* p) {
  Cache& k = g_classes[s->size_class];
  LockGuard guard(k.lock);
  unsigned steps = 0;
  for (void* q = s->free_list; q && steps <= s->capacity; q = *static_cast<void**>(q), ++steps)
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
      released += span_for(c);
      release_slab(s);
    }
  }
  return released;
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
  st.total = st.slabs * ((span_for(c) - sizeof(Slab)) / class_size(c));
  st.refills = k.refills;
  st.flushes = k.flushes;
  return st;
}

void lock_for_fork() {
  for (Cache& k : g_classes) k.lock.lock();
}
void unlock_for_fork() {
  for (Cache& k : g_classes) k.lock.unlock();
}
void reset_for_fork_child() {
  for (Cache& k : g_classes) k.lock.reset_after_fork();
}

}  // namespace lm::slab
