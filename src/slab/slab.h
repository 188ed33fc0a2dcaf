// slab.h: small objects in size classes, kmem_cache style. Each class has
// slabs (page runs of 1 MiB heap chunks, see spans.h; one class each, no per-object header)
// on partial, full and empty lists under a per-class lock: the "central"
// side. Per-thread caches live in core/, which takes and gives objects here
// in batches. A slab's pages point to its descriptor in the page map, so
// free() finds class and slab from the pointer alone.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/base.h"
#include "base/lock.h"

namespace lm::heap {
class Heap;
}

namespace lm::slab::spans {
struct Chunk;
}

namespace lm::slab {

// Classes: 16..128 in steps of 16 (8 classes), four per power of two up to
// 1 KiB (160, 192, ... 1024: 12), then eight per power of two up to 32 KiB
// (1152, 1280, ... 32768: 40). Eight per doubling above 1 KiB because real
// programs allocate "power of two plus a header" (sqlite3: 1032, 4104 and
// 4368 bytes, 19%, 20% and 15% waste at four per doubling, 10%, 11% and 5%
// at eight; its peak RSS 60.1 -> 55.7 MiB). Not above 512 as well: that
// measured the same for sqlite3 but cost the small-object workloads more
// (more classes where most objects live: more partly used slabs and bins).
// 32 KiB is the top of the range issue 4 allows: buffers up to 32 KiB then
// stay off the locked heap (docs/benchmarks.md: 2..32 KiB pairs at
// 0.3-0.5x glibc's time). Internal waste, mean over all request sizes
// 1..32768: 4.3% (8.0% at four per doubling); worst above 128 bytes 19.8%
// (513 B -> 640 B), above 1 KiB 11.1% (16385 B -> 18432 B). slab_test.cpp
// measures both.
constexpr unsigned kClasses = 60;
constexpr size_t kMaxSize = 32768;

constexpr size_t class_size(unsigned c) {
  if (c < 8) return (c + 1) * 16;
  if (c < 20) {
    unsigned k = (c - 8) / 4, j = (c - 8) % 4;
    return (size_t{128} << k) + (j + 1) * (size_t{32} << k);
  }
  unsigned k = (c - 20) / 8, j = (c - 20) % 8;
  return (size_t{1024} << k) + (j + 1) * (size_t{128} << k);
}
static_assert(class_size(7) == 128 && class_size(8) == 160 && class_size(19) == 1024);
static_assert(class_size(20) == 1152 && class_size(27) == 2048);
static_assert(class_size(kClasses - 1) == kMaxSize);

// The class of an n-byte request, n <= kMaxSize. O(1): a shift for the first
// eight classes, the highest set bit b of n - 1 above, then the next two bits
// below b (four per doubling) up to 1 KiB, the next three (eight) above. The
// 1 KiB test is a branch on n, known before the bit scan. Branch-free selects
// measured slower (malloc/free pairs of 256 B to 4 KiB, medians, 2-core AMD
// EPYC machine): the max of the four- and eight-per-doubling indexes (a cmov)
// 6.5-11 ns and erratic, a shift and mask chosen by setcc 5.5-6 ns, a
// branch 4.7-5.6 ns, the 40-class table 4.4-4.8 ns.
LM_FAST_PATH unsigned size_class(size_t n) {
  if (n <= 128) return n == 0 ? 0 : static_cast<unsigned>((n - 1) >> 4);
  unsigned b = log2_floor(n - 1);
  if (n <= 1024) return 8 + (b - 7) * 4 + static_cast<unsigned>(((n - 1) >> (b - 2)) & 3);
  return 20 + 8 * (b - 10) + static_cast<unsigned>(((n - 1) >> (b - 3)) & 7);
}

// Slab layout (a span of whole pages from the heap, page aligned; the
// descriptor lives off-slab in a pool, pointed to by the span's page-map
// entries):
//
//   base                                               base + span
//   +--------+------+------+-----+------+--------+
//   | colour | obj0 | obj1 | ... | objN | unused |
//   +--------+------+------+-----+------+--------+
//            first = base + colour
//
// Objects past `carved` have never been handed out: they are carved on
// demand so that a new slab's pages are not touched before they are used.
struct alignas(64) Slab {
  // First cache line: what free() and refills read.
  Slab* next;
  Slab* prev;
  void* free_list;  // objects returned to this slab, linked through word 0
  uptr first;       // address of object 0
  uint64_t recip;   // ceil(2^40 / size): index = (offset * recip) >> 40
  uint32_t size;
  uint32_t capacity;
  uint32_t in_use;  // objects out of the slab (thread caches or the program)
  uint32_t carved;
  uint16_t size_class;
  uint8_t list;  // which class list holds it
  uint8_t pad_[5];
  // Second: decay. Whole pages holding only free objects may be purged; the
  // free objects on them are parked off the free list (their links are gone)
  // until the slab runs out of other objects.
  uptr base;              // the span's first byte
  uint64_t purged[2];     // bit i: page i of the span is purged
  uint64_t touched_ms;    // last take or give (os::recent_ms, may lag)
  spans::Chunk* chunk;    // where the span came from
  // Objects came back since the last purge pass. (A time stamp compared with
  // touched_ms missed them: touched_ms comes from the lagging coarse clock,
  // and 1.2 MiB of free pages per class stayed resident after malloc_trim.)
  uint8_t returned;
  uint8_t pad2_[23];
};
static_assert(sizeof(Slab) == 128);

// True if p is the start of an object slot of s (not a header, not interior).
LM_FAST_PATH bool is_object_start(const Slab* s, uptr p) {
  uptr off = p - s->first;
  uint64_t idx = (off * s->recip) >> 40;
  return p >= s->first && idx < s->carved && idx * s->size == off;
}

void init(heap::Heap* heap);

// Takes up to `want` objects of class c into out[]; returns how many (0 only
// when the heap is exhausted).
unsigned take(unsigned c, void** out, unsigned want);
// Returns n objects of class c to their slabs. Slabs that become empty go
// back to the heap (kEmptyReserve in slab.cpp says why none are kept).
void give(unsigned c, void* const* objs, unsigned n);
// Under the class lock: is p on its slab's free list? (double-free check)
bool is_free_in_slab(Slab* s, void* p);

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
  size_t span;     // bytes per slab
  size_t refills;  // batches taken
  size_t flushes;  // batches given back
  size_t purged;   // bytes of slab pages purged (not resident)
};
ClassStats class_stats(unsigned c);

// Objects per thread-cache bin of class c, and the batch moved at a time.
// Objects a thread-cache bin of class c holds at most (about 32 KiB).
constexpr unsigned kMaxBin = 1024;
unsigned cache_limit(unsigned c);

void lock_for_fork();
void unlock_for_fork();
void reset_for_fork_child();

}  // namespace lm::slab
