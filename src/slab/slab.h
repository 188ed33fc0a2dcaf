// slab.h: small objects in size classes, kmem_cache style. Each class has
// slabs (page runs of 1 MiB heap chunks, see spans.h; one class each, no per-object header)
// on partial, full and empty lists under a per-class lock: the "central"
// side. Per-thread caches live in core/, which takes and gives objects here
// in batches. A slab's pages name its descriptor in the page map (by slot
// index: slab_of, entry_of below), so free() finds class and slab from the
// pointer alone.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/base.h"
#include "base/lock.h"
#include "pagemap/pagemap.h"

namespace lm::heap {
class Heap;
}

namespace lm::slab::spans {
struct Chunk;
}

namespace lm::slab {

// Classes: 16..128 in steps of 16 (8 classes), four per power of two up to
// 512 (160, 192, ... 512: 8), then 576, 672, 816 and 1024 (4), then eight per
// power of two up to 32 KiB (1152, 1280, ... 32768: 40).
//
// 576, 672 and 816 instead of 640, 768 and 896: those sizes are 4096 / 7,
// 6 and 5 rounded down to 16, so their slabs are page packed (see Slab
// below) with at most 64 bytes left at the end of each page, and no object
// crosses a page boundary. A live object that crosses one keeps two pages
// resident once its neighbours are freed and purged: in the burst-and-idle
// workload, where 2% of the objects survive, RSS after malloc_trim went
// from 74.7 to 72.7 MiB. The price: a 513..1024-byte request wastes 75 B
// on average in these classes (63.5 B before), plus 3-11 B per object at
// the end of each page; the worst case is 20.2% (817 B in 1024) against
// 19.8% (513 B in 640).
//
// Eight per doubling above 1 KiB because real programs allocate "power of
// two plus a header" (sqlite3: 1032, 4104 and 4368 bytes, 19%, 20% and 15%
// waste at four per doubling, 10%, 11% and 5% at eight; its peak RSS 60.1 ->
// 55.7 MiB). Not above 512 as well: that measured the same for sqlite3 but
// cost the small-object workloads more (more classes where most objects
// live: more partly used slabs and bins). 32 KiB is the top of the range
// issue 4 allows: buffers up to 32 KiB then stay off the locked heap
// (docs/benchmarks.md: 2..32 KiB pairs at 0.3-0.5x glibc's time).
// slab_test.cpp measures the internal waste, mean and worst.
constexpr unsigned kClasses = 60;
constexpr size_t kMaxSize = 32768;
constexpr size_t kPageBytes = 4096;

constexpr size_t class_size(unsigned c) {
  if (c < 8) return (c + 1) * 16;
  if (c < 16) {
    unsigned k = (c - 8) / 4, j = (c - 8) % 4;
    return (size_t{128} << k) + (j + 1) * (size_t{32} << k);
  }
  if (c < 20) {
    constexpr size_t kPacked[4] = {576, 672, 816, 1024};
    return kPacked[c - 16];
  }
  unsigned k = (c - 20) / 8, j = (c - 20) % 8;
  return (size_t{1024} << k) + (j + 1) * (size_t{128} << k);
}
static_assert(class_size(7) == 128 && class_size(15) == 512 && class_size(19) == 1024);
static_assert(class_size(20) == 1152 && class_size(27) == 2048);
static_assert(class_size(kClasses - 1) == kMaxSize);

// Up to 1 KiB, the class of n is a table entry per 16 bytes (65 bytes:
// about one cache line); above, arithmetic.
struct SmallClassTable {
  uint8_t of[1024 / 16 + 1];  // of[(n + 15) / 16], n <= 1024
  constexpr SmallClassTable() : of() {
    unsigned c = 0;
    for (size_t i = 0; i <= 1024 / 16; ++i) {
      while (class_size(c) < i * 16) ++c;
      of[i] = static_cast<uint8_t>(c);
    }
  }
};
inline constexpr SmallClassTable kSmallClass{};

// The class of an n-byte request, n <= kMaxSize. O(1): a table up to
// 1 KiB; above, the highest set bit b of n - 1 and the next three bits
// below it (eight per doubling). Measured on malloc/free pairs of 256 B to
// 4 KiB (medians, 2-core AMD EPYC machine): a table 4.4-4.8 ns, one branch
// between two bit formulas 4.7-5.6 ns, branch-free selects 5.5-11 ns.
LM_FAST_PATH unsigned size_class(size_t n) {
  if (n <= 1024) return kSmallClass.of[(n + 15) >> 4];
  unsigned b = log2_floor(n - 1);
  return 20 + 8 * (b - 10) + static_cast<unsigned>(((n - 1) >> (b - 3)) & 7);
}

// Slab layout (a span of whole pages from the heap, page aligned; the
// descriptor lives off-slab in the descriptor region, named by the span's
// page-map entries):
//
//   base                                               base + span
//   +--------+------+------+-----+------+--------+
//   | colour | obj0 | obj1 | ... | objN | unused |
//   +--------+------+------+-----+------+--------+
//            first = base + colour
//
// A page-packed slab (page_packed() below) repeats that layout in every
// page: per_unit objects per 4 KiB unit, each page's objects starting at
// its colour offset, so none crosses a page; other slabs have one unit, the
// whole span. Object i is at first + (i / per_unit) units + (i % per_unit)
// objects.
//
// Objects past `carved` have never been handed out: they are carved on
// demand so that a new slab's pages are not touched before they are used.
struct alignas(64) Slab {
  // First cache line: what free() and refills read.
  Slab* next;
  void* free_list;  // objects returned to this slab, linked through word 0
  uptr first;       // address of object 0
  uint64_t recip;   // ceil(2^40 / size): index = (offset * recip) >> 40
  uint32_t size;
  uint32_t in_use;  // objects out of the slab (thread caches or the program)
  uint32_t carved;
  // is_object_start's bounds, so that free() needs no division and no
  // variable shift: object starts lie below first + carved_end (the start
  // of the first object not carved yet); within a unit, at offsets
  // (p - first) & unit_mask below unit_used (the bytes its objects fill).
  uint32_t carved_end;
  uint32_t unit_mask;  // 4095 when page packed, else all ones (one unit)
  uint32_t unit_used;  // per_unit * size when page packed, else all ones
  uint16_t size_class;
  uint8_t list;        // which class list holds it
  uint8_t unit_shift;  // log2 of the unit: 12 when page packed, else 40 (one unit)
  uint16_t per_unit;   // objects per unit
  uint8_t pad_[2];
  // Second: list links, capacity and decay. Whole pages holding only free
  // objects may be purged; the free objects on them are parked off the free
  // list (their links are gone) until the slab runs out of other objects.
  Slab* prev;
  uint32_t capacity;
  uptr base;              // the span's first byte
  uint64_t purged[2];     // bit i: page i of the span is purged
  uint64_t touched_ms;    // last take or give (os::recent_ms, may lag)
  spans::Chunk* chunk;    // where the span came from
  // Objects came back since the last purge pass. (A time stamp compared with
  // touched_ms missed them: touched_ms comes from the lagging coarse clock,
  // and 1.2 MiB of free pages per class stayed resident after malloc_trim.)
  uint8_t returned;
  uint8_t lazy;  // some purged pages were purged with MADV_FREE (malloc_trim purges them again)
  uint8_t pad2_[2];
  uint32_t span;  // the span's bytes (classes above kOneObjectBinsAbove: grows with use)
};
static_assert(sizeof(Slab) == 128);
// bench/heap_census.py reads descriptors with these offsets.
static_assert(offsetof(Slab, free_list) == 8 && offsetof(Slab, first) == 16 && offsetof(Slab, size) == 32 &&
              offsetof(Slab, unit_shift) == 59 && offsetof(Slab, capacity) == 72 && offsetof(Slab, base) == 80 &&
              offsetof(Slab, purged) == 88);

// Page-map entries name descriptors by slot index. Every descriptor (slabs'
// and span chunks') is a 128-byte slot of one contiguous region reserved at
// the first slab (desc_pool.cpp), so an entry is (desc - g_desc_base) >> 7:
// 32 bits, half the leaf memory of an address. Slots 0..kLargeHead are never
// handed out, so a descriptor's entry is > pagemap::kLargeHead.
//
// g_desc_base is written once, under the pool's lock, before the first
// descriptor is handed out, and never changes; an entry that names a
// descriptor is published (set_range, under the page map's lock) after that.
// A plain global, not an atomic: free() then decodes with a shift and an add
// from memory.
constexpr unsigned kDescShift = 7;
static_assert(sizeof(Slab) == size_t{1} << kDescShift);
extern uptr g_desc_base;

// The slab an entry e > pagemap::kLargeHead names.
LM_FAST_PATH Slab* slab_of(pagemap::Entry e) { return reinterpret_cast<Slab*>(g_desc_base + (uptr{e} << kDescShift)); }
// The page-map entry of s (a descriptor from the pool).
inline pagemap::Entry entry_of(const Slab* s) {
  return static_cast<pagemap::Entry>((addr(s) - g_desc_base) >> kDescShift);
}

// A slab's unit (Slab::unit_shift): a page when page packed, else one unit
// larger than any span, so that every offset falls in unit 0.
constexpr uint8_t kPackedUnitShift = 12;
constexpr uint8_t kWholeSpanUnitShift = 40;
static_assert(size_t{1} << kPackedUnitShift == kPageBytes);

// Is a class's slab page packed? When its objects do not divide a page and
// packing leaves at most 64 bytes (1.6%) at the end of each page.
constexpr bool page_packed(size_t size) {
  return size <= 1024 && kPageBytes % size != 0 && kPageBytes % size <= 64;
}
static_assert(page_packed(576) && page_packed(672) && page_packed(816) && !page_packed(320) && !page_packed(512));

// Address of object i of s (i < capacity).
inline uptr object_at(const Slab* s, size_t i) {
  return s->first + ((i / s->per_unit) << s->unit_shift) + (i % s->per_unit) * s->size;
}
// Index of the object starting at p (an object start of s).
inline size_t object_index(const Slab* s, uptr p) {
  uptr off = p - s->first, unit = off >> s->unit_shift;
  return unit * s->per_unit + (((off - (unit << s->unit_shift)) * s->recip) >> 40);
}

// True if p is the start of an object slot of s (not a header, not interior,
// not the end of a page-packed page).
LM_FAST_PATH bool is_object_start(const Slab* s, uptr p) {
  uptr off = p - s->first;  // huge when p < first: fails the first test
  uptr in = off & s->unit_mask;
  uint64_t k = (in * s->recip) >> 40;
  return off < s->carved_end && in < s->unit_used && k * s->size == in;
}

void init(heap::Heap* heap);

// Takes up to `want` objects of class c into out[]; returns how many (0 only
// when the heap is exhausted).
unsigned take(unsigned c, void** out, unsigned want);
// Returns n objects of class c to their slabs. Slabs that become empty go
// back to the heap (kEmptyReserve in slab.cpp says why none are kept).
// Reports (in func) an object that is not one of class c: a bin's stack
// damaged by a stray write into libmalloc's memory.
void give(unsigned c, void* const* objs, unsigned n, const char* func = "free()");
// Under the class lock: is p on its slab's free list? (double-free check)
bool is_free_in_slab(Slab* s, void* p, const char* func);  // (func: for a report of a damaged list)

// Empties every class's reserve of empty slabs into the heap (malloc_trim).
size_t release_empty();

// Decay: purges the whole free pages of partial slabs untouched for
// min_age_ms (0: all of them, for malloc_trim) and at most
// max_occupancy_pct full. Returns the bytes purged.
size_t purge(uint64_t now_ms, size_t min_age_ms, int advice, unsigned max_occupancy_pct = 100);

struct ClassStats {
  size_t object_size;
  size_t active;   // objects out of slabs
  size_t total;    // object slots in all slabs
  size_t slabs;
  size_t empty_slabs;
  size_t span;     // bytes per slab (the most: big classes start smaller)
  size_t span_bytes;  // bytes of all its slabs' spans
  size_t refills;  // batches taken
  size_t flushes;  // batches given back
  size_t purged;   // bytes of slab pages purged (not resident)
};
ClassStats class_stats(unsigned c);

// Objects a thread-cache bin of class c holds at most (about 32 KiB up to
// 1 KiB, 16 KiB up to kOneObjectBinsAbove, one object above); half of it is
// the batch moved at a time.
constexpr unsigned kMaxBin = 1024;
constexpr size_t kOneObjectBinsAbove = 4096;
unsigned cache_limit(unsigned c);
// The most a bin of class c may grow to while busy: cache_limit(c) for the
// classes up to kOneObjectBinsAbove; above, 64 KiB of objects (at least two).
unsigned busy_cache_limit(unsigned c);

void lock_for_fork();
void unlock_for_fork();
void reset_for_fork_child();

}  // namespace lm::slab
