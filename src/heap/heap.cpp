// heap.cpp: the brk heap of heap.h: bins, split, coalesce, growth, trim,
// continuation regions and the heap walker.
#include "heap/heap.h"

#include <algorithm>

#include <cstring>
#include <sys/mman.h>

#include "config/config.h"
#include "os/os.h"
#include "pagemap/pagemap.h"
#include "report/report.h"
#include "stats/stats.h"

namespace lm::heap {

namespace {

inline size_t csize(const Chunk* c) { return c->head & ~kFlagMask; }
inline Chunk* at(const void* c, size_t offset) { return ptr<Chunk>(addr(c) + offset); }
inline Chunk* mem2chunk(const void* mem) { return ptr<Chunk>(addr(mem) - kHeaderSize); }
inline void* chunk2mem(const Chunk* c) { return ptr(addr(c) + kHeaderSize); }
inline bool in_use(const Chunk* c) { return at(c, csize(c))->head & kPrevInUse; }

// The adaptive top pad never grows past this (see maybe_trim_top).
constexpr size_t kMaxAdaptiveKeep = 32u << 20;
// An idle top pad decays back after this long without heap growth.
constexpr uint64_t kKeepDecayMs = 1000;
// Under a user-set trim threshold, what slab spans going back may leave in
// the top beyond top_pad until decay (see maybe_trim_top): two of the
// largest heap-backed slab spans.
constexpr size_t kSpanTrimSlack = 512u << 10;
// Continuation regions are at least this big, so they stay few.
constexpr size_t kMinRegion = 1u << 20;

// Free blocks this big carry two words after their links. The stamp: when
// they became free (ms << 2), whether all their whole pages are purged (bit
// 0), and whether some were purged with MADV_FREE, lazily (bit 1: malloc_trim
// purges them again for good). The clean word: a run of their interior pages
// known to be purged, as page offsets from the interior's start (low and high
// 32 bits; all of it when bit 0 is set). A block that grows by coalescing
// keeps the larger purged run of its neighbours, so a purge madvises only the
// pages around it: a program freeing a big structure piece by piece under
// memory pressure would otherwise purge the same growing block again and
// again (jq's teardown: 4x its heap in madvised pages).
//
//   chunk -> | prev_size | head | fd | bk | stamp | clean | ...free pages... |
constexpr size_t kStampedMin = 3 * 4096;
constexpr uint64_t kPurgedBit = 1;
constexpr uint64_t kLazyBit = 2;
constexpr unsigned kStampShift = 2;
inline uint64_t& stamp_of(Chunk* c) { return *ptr<uint64_t>(addr(c) + sizeof(Chunk)); }
inline uint64_t& clean_of(Chunk* c) { return *ptr<uint64_t>(addr(c) + sizeof(Chunk) + sizeof(uint64_t)); }
// The whole pages inside a free block that can be purged without touching
// its header, links, stamp or clean word.
inline void interior(const Chunk* c, size_t size, size_t page, uptr* begin, uptr* end) {
  *begin = align_up(addr(c) + sizeof(Chunk) + 2 * sizeof(uint64_t), page);
  *end = align_down(addr(c) + size, page);
  if (*end < *begin) *end = *begin;
}
// The purged run of a stamped free block c of `size` bytes: [run->begin,
// run->end), empty when they are equal. False (and an empty run) when the
// clean word is damaged, by a write after free or an overflow: its run would
// reach outside the block, and a purge around it would madvise away other
// blocks' data.
inline bool clean_run(Chunk* c, size_t size, size_t page, Run* run) {
  uptr b, e;
  interior(c, size, page, &b, &e);
  if (stamp_of(c) & kPurgedBit) {
    *run = {b, e};
    return true;
  }
  uint64_t w = clean_of(c), lo = w & 0xffffffffu, hi = w >> 32;
  if (lo > hi || hi > (e - b) / page) {
    *run = {b, b};
    return false;
  }
  *run = {b + lo * page, b + hi * page};
  return true;
}
// The same where the caller's API function is known: a damaged word aborts.
inline Run checked_run(Chunk* c, size_t size, const char* func) {
  Run run;
  if (!clean_run(c, size, os::page_size(), &run))
    report::corrupted(func, chunk2mem(c), "corrupted free block (purged-run word)");
  return run;
}

void* real_sbrk(intptr_t increment) { return os::sbrk(increment); }
void* real_current_break() { return os::current_break(); }
void* real_map(size_t size) { return os::map(size); }
void real_unmap(void* p, size_t size) { os::unmap(p, size); }
bool real_map_at(void* at, size_t size) { return os::map_at(at, size); }

}  // namespace

Source os_source() { return Source{real_sbrk, real_current_break, real_map, real_unmap, true, real_map_at}; }

void Heap::init(const Source& source) {
  src_ = source;
  initialised_ = true;
}

// Bins 2..63 hold one exact size each (32..1008 bytes); from 1024 up, four
// bins per power of two. The order of bins follows the order of sizes, so a
// bitmap scan upwards from a request's bin finds only blocks that fit.
unsigned Heap::bin_index(size_t size) {
  if (size < 1024) return static_cast<unsigned>(size >> 4);
  unsigned b = log2_floor(size);
  return kSmallBins + (b - 10) * 4 + static_cast<unsigned>((size >> (b - 2)) & 3);
}
static_assert(64 + (47 - 10) * 4 + 3 < 216, "bins cover a 47-bit address space");

void Heap::bin_insert(Chunk* c, size_t size, uint64_t stamp, Run run) {
  if (size >= kStampedMin) {
    size_t page = os::page_size();
    uptr b, e;
    interior(c, size, page, &b, &e);
    if (stamp & kPurgedBit) run = {b, e};
    // What of the run lies in this block's interior (a remainder's header
    // may sit on a page of it: that page is resident again).
    uptr rb = run.begin > b ? run.begin : b, re = run.end < e ? run.end : e;
    if (re <= rb) rb = re = b;
    uint64_t st = stamp ? stamp : os::recent_ms() << kStampShift;
    st &= ~kPurgedBit;
    if (rb == b && re == e) st |= kPurgedBit;
    if (re == rb) st &= ~kLazyBit;
    stamp_of(c) = st;
    clean_of(c) = (uint64_t{(re - b) / page} << 32) | ((rb - b) / page);
    purged_ += re - rb;
  }
  unsigned i = bin_index(size);
  Chunk* head = bins_[i];
  c->fd = head;
  c->bk = nullptr;
  if (head) head->bk = c;
  bins_[i] = c;
  bitmap_[i / 64] |= uint64_t{1} << (i % 64);
  bin_bytes_ += size;
  ++bin_count_;
}

void Heap::bin_remove(Chunk* c, size_t size, const char* func) {
  unsigned i = bin_index(size);
  // Safe unlinking, as glibc: both neighbours must point back at c, and the
  // size agrees with the caller's and with the footer (glibc's "corrupted
  // size vs. prev_size"). An overflow that enlarged a free block's size got
  // past the links alone: carve() then handed out, or wrote headers into,
  // the live blocks the new size covered.
  if ((c->fd && c->fd->bk != c) || (c->bk ? c->bk->fd != c : bins_[i] != c))
    report::corrupted(func, chunk2mem(c), "corrupted free-list links");
  if (csize(c) != size || size > system_ || (src_.register_pages && !pagemap::is_heap(addr(c) + size + 8)) ||
      at(c, size)->prev_size != size)
    report::corrupted(func, chunk2mem(c), "corrupted size vs. prev_size");
  if (c->bk) c->bk->fd = c->fd;
  else bins_[i] = c->fd;
  if (c->fd) c->fd->bk = c->bk;
  if (!bins_[i]) bitmap_[i / 64] &= ~(uint64_t{1} << (i % 64));
  if (size >= kStampedMin) {
    Run run = checked_run(c, size, func);
    purged_ -= run.end - run.begin;
  }
  bin_bytes_ -= size;
  --bin_count_;
}

// The smallest block among the first kBinScan of the lowest non-empty bin
// that can hold nb, removed from its bin; nullptr if none.
Chunk* Heap::find_fit(size_t nb, const char* func, uint64_t* stamp, Run* run) {
  Chunk* c = find_fit_unstamped(nb, func);
  if (c && csize(c) >= kStampedMin) {
    *stamp = stamp_of(c);
    clean_run(c, csize(c), os::page_size(), run);  // its word checked by bin_remove
  }
  return c;
}

Chunk* Heap::find_fit_unstamped(size_t nb, const char* func) {
  unsigned i = bin_index(nb);
  if (i < kSmallBins) {
    if (Chunk* c = bins_[i]) {
      bin_remove(c, nb, func);
      return c;
    }
  } else {
    Chunk* best = nullptr;
    unsigned n = 0;
    for (Chunk* c = bins_[i]; c && n < kBinScan; c = c->fd, ++n) {
      size_t s = csize(c);
      if (s >= nb && (!best || s < csize(best))) {
        best = c;
        if (s == nb) break;
      }
    }
    if (best) {
      bin_remove(best, csize(best), func);
      return best;
    }
  }
  for (unsigned j = i + 1; j < kBins;) {
    uint64_t word = bitmap_[j / 64] >> (j % 64);
    if (!word) {
      j = (j / 64 + 1) * 64;
      continue;
    }
    j += static_cast<unsigned>(__builtin_ctzll(word));
    Chunk* best = bins_[j];
    unsigned n = 0;
    if (j >= kSmallBins)
      for (Chunk* c = best->fd; c && n < kBinScan; c = c->fd, ++n)
        if (csize(c) < csize(best)) best = c;
    bin_remove(best, csize(best), func);
    return best;
  }
  return nullptr;
}

// Makes c (out of any bin) an in-use block of nb bytes, freeing the tail.
void* Heap::carve(Chunk* c, size_t nb, bool zero, const char* func, uint64_t stamp, Run run) {
  size_t size = csize(c);
  if (size - nb >= kMinChunk) {
    Chunk* rest = at(c, nb);
    rest->head = (size - nb) | kPrevInUse;
    at(rest, size - nb)->prev_size = size - nb;
    // A purged block's tail stays purged (a later purge of it is a no-op),
    // and what of a purged run lies in the tail stays known.
    bin_insert(rest, size - nb, stamp, run);
    c->head = nb | (c->head & kPrevInUse);
  } else {
    at(c, size)->head |= kPrevInUse;
  }
  (void)func;
  void* mem = chunk2mem(c);
  if (zero) std::memset(mem, 0, csize(c) - kOverhead);
  return mem;
}

void* Heap::alloc_locked(size_t nb, bool zero, const char* func) {
  uint64_t stamp = 0;
  Run run;
  if (Chunk* c = find_fit(nb, func, &stamp, &run)) return carve(c, nb, zero, func, stamp, run);
  if (!top_ || checked_top_size(func) < nb + kMinChunk) {
    if (!grow(nb)) return nullptr;
  }
  Chunk* c = top_;
  size_t top_size = csize(c);
  top_ = at(c, nb);
  top_->head = (top_size - nb) | kPrevInUse;
  c->head = nb | (c->head & kPrevInUse);
  void* mem = chunk2mem(c);
  if (zero && clean_from_ > addr(mem)) {
    uptr dirty_end = addr(c) + nb + kOverhead;
    if (clean_from_ < dirty_end) dirty_end = clean_from_;
    std::memset(mem, 0, dirty_end - addr(mem));
  }
  if (clean_from_ < addr(top_) + kHeaderSize) clean_from_ = addr(top_) + kHeaderSize;
  return mem;
}

void* Heap::alloc(size_t n, bool zero) {
  if (n > kMaxRequest) return nullptr;
  LockGuard guard(lock_);
  return alloc_locked(chunk_size_for(n), zero, "malloc()");
}

void* Heap::alloc_aligned(size_t align, size_t n, bool* fresh) {
  if (fresh) *fresh = false;
  if (align <= 16) return alloc(n, false);
  if (n > kMaxRequest - align - kMinChunk) return nullptr;
  size_t nb = chunk_size_for(n);
  LockGuard guard(lock_);
  uptr clean = clean_from_;
  // Room for nb at any alignment, plus a leading free block of kMinChunk.
  void* mem = alloc_locked(nb + align + kMinChunk, false, "memalign()");
  if (!mem) return nullptr;
  // Carved from the untouched part of the top: not a page of it is resident.
  if (fresh) *fresh = clean != 0 && addr(mem) >= clean;
  Chunk* c = mem2chunk(mem);
  if (addr(mem) % align != 0) {
    uptr aligned = align_up(addr(mem) + kMinChunk, align);
    Chunk* ac = mem2chunk(ptr(aligned));
    size_t lead = addr(ac) - addr(c);
    size_t size = csize(c);
    ac->head = (size - lead) | kPrevInUse;
    c->head = lead | (c->head & kPrevInUse);
    free_chunk(c, lead, "memalign()");
    c = ac;
  }
  // Give back the tail beyond nb.
  size_t size = csize(c);
  if (size - nb >= kMinChunk) {
    Chunk* rest = at(c, nb);
    rest->head = (size - nb) | kPrevInUse;
    c->head = nb | (c->head & kPrevInUse);
    free_chunk(rest, size - nb, "memalign()");
  }
  return chunk2mem(c);
}

// Grows the heap so that top can hold nb plus a minimal remainder.
bool Heap::grow(size_t nb) {
  const config::Tunables& t = config::tunables();
  bool user_trim = t.trim_threshold_set.load(std::memory_order_relaxed);
  if (trimmed_since_grow_ && !user_trim) {
    // The top is breathing: trimmed, now growing again. Keep more next
    // time, so a program whose heap rises and falls stops paying brk calls.
    size_t pad = t.top_pad.load(std::memory_order_relaxed);
    size_t next = adaptive_keep_ ? adaptive_keep_ * 2 : (pad > 64 * 1024 ? pad : 64 * 1024) * 2;
    adaptive_keep_ = next < kMaxAdaptiveKeep ? next : kMaxAdaptiveKeep;
  }
  trimmed_since_grow_ = false;
  last_grow_ms_ = os::recent_ms();

  size_t pad = t.top_pad.load(std::memory_order_relaxed);
  if (pad > (1u << 30)) pad = 1u << 30;
  size_t page = os::page_size();
  size_t need = nb + kMinChunk + kFenceSize + pad;
  if (need < nb) return false;

  Segment* cur = nsegments_ ? &segments_[nsegments_ - 1] : nullptr;
  bool contiguous = cur && !cur->mapped && src_.current_break() == ptr(cur->end);
  size_t have = contiguous ? csize(top_) : 0;
  int thp = config::thp_advice();
  // With huge pages asked for, grow in whole 2 MiB steps so they can form.
  size_t step = thp == MADV_HUGEPAGE ? size_t{2} << 20 : page;
  size_t incr = align_up(need - (have < need ? have : need), step);
  if (incr <= static_cast<size_t>(INTPTR_MAX)) {
    void* old = src_.sbrk(static_cast<intptr_t>(incr));
    if (old) {
      stats::count(stats::k_brk_grow);
      if (thp) os::advise(old, incr, thp);
      if (contiguous && addr(old) == cur->end) {
        if (extend_segment(*cur, incr)) return true;
        give_back_break(addr(old), addr(old) + incr);
        return false;
      }
      uptr base = addr(old);
      uptr end = base + incr, brk_end = end;
      if (base % 16) {
        // Someone left the break unaligned: round our end up to 16 too.
        size_t fix = 16 - end % 16;
        if (src_.sbrk(static_cast<intptr_t>(fix)) == ptr(end)) brk_end = end += fix;
        else end = align_down(end, 16);
        base = align_up(base, 16);
      }
      if (end - base >= nb + kMinChunk && add_segment(base, end, false)) return true;
      give_back_break(addr(old), brk_end);
      return false;
    }
  }
  // brk is exhausted or blocked: continue in a mapped region. The top one
  // first grows back in place where a trim shrank it, as the break does: a
  // heap that rose and fell with brk blocked took a new region, and one of
  // the kMaxSegments slots, each time (after 256 malloc_trim calls every
  // request became a mapping of its own: 100000 mallocs of 64 bytes, 352
  // MB and 3.5 s).
  if (cur && cur->mapped && src_.map_at && cur->end % page == 0) {
    size_t top = csize(top_);
    size_t grow_by = align_up(need - (top < need ? top : need), step);
    if (grow_by && src_.map_at(ptr(cur->end), grow_by)) {
      if (thp) os::advise(ptr(cur->end), grow_by, thp);
      stats::count(stats::k_segment_maps);
      if (extend_segment(*cur, grow_by)) return true;
      src_.unmap(ptr(cur->end), grow_by);
      return false;
    }
  }
  size_t want = need + kFenceSize;
  size_t floor = system_ / 8 > kMinRegion ? system_ / 8 : kMinRegion;
  size_t size = align_up(want > floor ? want : floor, page);
  if (size < want) return false;
  void* region = src_.map(size);
  if (!region) return false;
  if (thp) os::advise(region, size, thp);
  stats::count(stats::k_segment_maps);
  if (!add_segment(addr(region), addr(region) + size, true)) {
    src_.unmap(region, size);
    return false;
  }
  return true;
}

// Growth of `begin` bytes of the break up to `end` that the heap could not
// take: given back while the break is still there.
void Heap::give_back_break(uptr begin, uptr end) {
  if (src_.current_break() == ptr(end)) src_.sbrk(-static_cast<intptr_t>(end - begin));
}

// The current segment grows by `by` bytes at its end, all of them the top's.
// False, with nothing changed, when the page map cannot take the pages.
bool Heap::extend_segment(Segment& seg, size_t by) {
  if (!register_range(seg.end, seg.end + by, true)) return false;
  seg.end += by;
  top_->head += by;
  system_ += by;
  if (system_ > max_system_) max_system_ = system_;
  return true;
}

// Starts a new segment whose whole extent becomes the top block. False, with
// nothing changed, when there is no slot for it or the page map cannot take
// its pages (a heap block free() would not know: "invalid pointer").
bool Heap::add_segment(uptr base, uptr end, bool mapped) {
  if (nsegments_ == kMaxSegments) return false;
  if (!register_range(base, end, true)) return false;
  if (top_) close_top_segment();
  segments_[nsegments_++] = Segment{base, end, mapped};
  top_ = ptr<Chunk>(base);
  top_->head = (end - base) | kPrevInUse;
  clean_from_ = base + kHeaderSize;
  system_ += end - base;
  if (system_ > max_system_) max_system_ = system_;
  return true;
}

// The top segment stops being the top: its top block ends in two fenceposts
// and what is left before them goes to the bins.
void Heap::close_top_segment() {
  size_t t = csize(top_);
  if (t >= kFenceSize + kMinChunk) {
    size_t rest = t - kFenceSize;
    Chunk* fp1 = at(top_, rest);
    fp1->prev_size = rest;
    fp1->head = 16;  // previous (rest) is free
    at(fp1, 16)->head = 16 | kPrevInUse;
    top_->head = rest | kPrevInUse;
    bin_insert(top_, rest);
  } else {
    Chunk* fp1 = top_;
    fp1->head = (t - 16) | (top_->head & kPrevInUse);
    at(fp1, t - 16)->head = 16 | kPrevInUse;
  }
  top_ = nullptr;
}

bool Heap::register_range(uptr begin, uptr end, bool add) {
  if (!src_.register_pages) return true;
  if (!add) {
    pagemap::remove_heap(begin, end);
    return true;
  }
  // A segment that starts mid-page shares that page with what lies below
  // (the previous segment's end): its entry is put back as it was after
  // the undo, which clears whole pages.
  pagemap::Entry first = pagemap::get(begin);
  if (pagemap::add_heap(begin, end)) return true;
  pagemap::remove_heap(begin, end);  // what a page-map leaf failure left half done
  if (first != pagemap::kNone) pagemap::set_range(begin, begin + 1, first);
  return false;
}

// The free block below c (c's prev-in-use bit clear), its size checked
// against c's footer word, as glibc does when it consolidates.
Chunk* Heap::checked_prev(Chunk* c, const char* func) {
  size_t psize = c->prev_size;
  Chunk* prev = at(c, 0 - psize);
  if (psize < kMinChunk || (psize & 15) || psize > system_ || csize(prev) != psize)
    report::corrupted(func, chunk2mem(c), "corrupted size vs. prev_size");
  return prev;
}

// The top's size, checked: the top always ends at its segment's end. An
// overflow into the top's header (glibc: "malloc(): corrupted top size")
// made malloc hand out memory past the heap and a trim give back the pages
// of live blocks, then crash. Lock held, top_ set.
size_t Heap::checked_top_size(const char* func) const {
  size_t t = csize(top_);
  if (addr(top_) + t != segments_[nsegments_ - 1].end) report::corrupted(func, chunk2mem(top_), "corrupted top size");
  return t;
}

// Frees c of `size` bytes: coalesces with free neighbours, then bins it or
// merges it into top. Lock held; c's header already validated.
void Heap::free_chunk(Chunk* c, size_t size, const char* func) {
  // The larger purged run of the free neighbours it absorbs stays known.
  Run keep;
  uint64_t lazy = 0;
  auto absorb = [&](Chunk* n, size_t nsize) {
    if (nsize < kStampedMin) return;
    Run r = checked_run(n, nsize, func);
    if (r.end - r.begin > keep.end - keep.begin) {
      keep = r;
      lazy = stamp_of(n) & kLazyBit;
    }
  };
  if (!(c->head & kPrevInUse)) {
    Chunk* prev = checked_prev(c, func);
    size_t psize = c->prev_size;
    absorb(prev, psize);
    bin_remove(prev, psize, func);
    c = prev;
    size += psize;
  }
  Chunk* next = at(c, size);
  if (next == top_) {
    c->head = (size + checked_top_size(func)) | kPrevInUse;
    top_ = c;
    top_stamp_ = os::recent_ms();
    top_purged_ = false;
    return;
  }
  size_t nsize = csize(next);
  if (!in_use(next)) {
    absorb(next, nsize);
    bin_remove(next, nsize, func);
    size += nsize;
  } else {
    next->head &= ~kPrevInUse;
  }
  c->head = size | kPrevInUse;
  at(c, size)->prev_size = size;
  bin_insert(c, size, (os::recent_ms() << kStampShift) | lazy, keep);
}

// free()'s checks of a block handed out (lock held): reports and aborts on
// a pointer that is not one, or one already freed (parked included).
// Could mem be a block of this heap, by its header alone?
inline bool plausible_header(const void* mem, const Chunk* c, size_t size, size_t system) {
  return !(addr(mem) & 15) && size >= kMinChunk && !(size & 15) && !(c->head & kMapped) && size <= system;
}

Chunk* Heap::checked_live(void* mem, const char* func) {
  Chunk* c = mem2chunk(mem);
  size_t size = csize(c);
  if (!plausible_header(mem, c, size, system_)) report::invalid_pointer(func, mem);
  // The top's first byte or inside it: freed, and merged into the top since
  // (a stale header there passes the tests below, and a parked block there
  // was handed out again while the top handed out the same bytes).
  if (in_top(c)) report::double_free(func, mem);
  if (!(c->head & kPrevInUse)) checked_prev(c, func);
  Chunk* next = at(c, size);
  if (src_.register_pages && !pagemap::is_heap(addr(next) + 8))
    report::invalid_pointer(func, mem);
  if (!(next->head & kPrevInUse)) {
    // A block freed whole left its size in its footer (the next block's
    // prev_size). Anything else there: an overflow that cleared the next
    // block's in-use bit (a string copied one byte too long) was reported
    // as a plain double free, pointing at the wrong bug; or the freed block
    // merged with a neighbour since. glibc says "double free or corruption".
    if (next->prev_size != size) report::corrupted(func, mem, "double free or corruption (!prev)");
    report::double_free(func, mem);
  }
  if (c->head & kParked) report::double_free(func, mem);
  size_t nsize = csize(next);
  if (nsize < 16 || (nsize & 15) || nsize > system_) report::corrupted(func, mem, "invalid next size");
  return c;
}

void Heap::free(void* mem, const char* func) {
  LockGuard guard(lock_);
  free_locked(mem, func);
}

void Heap::free_span(void* mem) {
  LockGuard guard(lock_);
  free_locked(mem, "free()", false);
}

void Heap::free_locked(void* mem, const char* func, bool by_program) {
  Chunk* c = checked_live(mem, func);
  size_t size = csize(c);
  // glibc's free_perturb, once the header is known good: the block less
  // its header and footer.
  if (int perturb = config::tunables().perturb.load(std::memory_order_relaxed))
    std::memset(mem, perturb, size - kHeaderSize);
  Chunk* old_top = top_;
  free_chunk(c, size, func);
  if (top_ != old_top) maybe_trim_top(by_program);
}

// A program freeing its blocks oldest first frees the one below the top
// last: parked, it kept the free tail below it from the top, and the heap
// never shrank (10 MB of 50 KB blocks stayed resident, idle, for good;
// glibc's top fell back at that free). So a block between a free block and
// the top, whose free would let the top reach the trim threshold, is not
// kept parked. One with an allocated block below it (a malloc/free pair
// carved from the top) still is.
bool Heap::pins_top_tail(const Chunk* c) const {
  return at(const_cast<Chunk*>(c), csize(c)) == top_ && !(c->head & kPrevInUse) &&
         c->prev_size + csize(c) + csize(top_) >= config::tunables().trim_threshold.load(std::memory_order_relaxed);
}

bool Heap::park(void* mem, const char* func) {
  LockGuard guard(lock_);
  Chunk* c = checked_live(mem, func);
  if (pins_top_tail(c)) return false;
  c->head |= kParked;
  return true;
}

// A parked block's header as park() left it (lock held). Its header lies
// just past the block below, which the program still uses: an overflow
// that enlarged the size made the heap hand out the live blocks the new
// size covered, later, with no report (glibc's unsorted-bin checks catch
// the same overflow: "malloc(): invalid size (unsorted)").
Chunk* Heap::checked_parked(void* mem, size_t usable, const char* func) {
  Chunk* c = mem2chunk(mem);
  if (!(c->head & kParked) || csize(c) - kOverhead != usable)
    report::corrupted(func, mem, "invalid size (parked block)");
  return c;
}

void Heap::take_parked(void* mem, size_t usable) {
  LockGuard guard(lock_);
  checked_parked(mem, usable, "malloc()")->head &= ~kParked;
}

bool Heap::free_parked(void* mem, size_t usable, const char* func, void* kept) {
  LockGuard guard(lock_);
  checked_parked(mem, usable, func)->head &= ~kParked;
  free_locked(mem, func);
  // The block just freed was often the one below kept (blocks freed in
  // address order): kept may now pin the free tail.
  if (!kept || !pins_top_tail(mem2chunk(kept))) return false;
  mem2chunk(kept)->head &= ~kParked;
  free_locked(kept, func);
  return true;
}

bool Heap::resize_in_place(void* mem, size_t n, const char* func) {
  if (n > kMaxRequest) return false;
  size_t nb = chunk_size_for(n);
  Chunk* c = mem2chunk(mem);
  LockGuard guard(lock_);
  size_t size = csize(c);
  if ((addr(mem) & 15) || size < kMinChunk || (size & 15) || (c->head & kMapped) || size > system_)
    report::invalid_pointer(func, mem);
  if (in_top(c)) report::double_free(func, mem);  // see checked_live
  Chunk* next = at(c, size);
  if (!(next->head & kPrevInUse)) {
    // A block freed whole left its size in its footer (the next block's
    // prev_size). Anything else there: an overflow that cleared the next
    // block's in-use bit (a string copied one byte too long) was reported
    // as a plain double free, pointing at the wrong bug; or the freed block
    // merged with a neighbour since. glibc says "double free or corruption".
    if (next->prev_size != size) report::corrupted(func, mem, "double free or corruption (!prev)");
    report::double_free(func, mem);
  }
  if (c->head & kParked) report::double_free(func, mem);
  if (nb > size) {
    if (next == top_) {
      if (size + checked_top_size(func) < nb + kMinChunk) {
        Segment& cur = segments_[nsegments_ - 1];
        if (cur.mapped || !grow(nb - size) || next != top_) return false;
        if (size + csize(top_) < nb + kMinChunk) return false;
      }
      size_t total = size + csize(top_);
      c->head = nb | (c->head & kPrevInUse);
      top_ = at(c, nb);
      top_->head = (total - nb) | kPrevInUse;
      if (clean_from_ < addr(top_) + kHeaderSize) clean_from_ = addr(top_) + kHeaderSize;
      return true;
    }
    if (in_use(next)) return false;
    size_t nsize = csize(next);
    if (size + nsize < nb) return false;
    bin_remove(next, nsize, func);
    size += nsize;
    at(c, size)->head |= kPrevInUse;
    c->head = size | (c->head & kPrevInUse);
  }
  if (size - nb >= kMinChunk) {
    Chunk* rest = at(c, nb);
    rest->head = (size - nb) | kPrevInUse;
    c->head = nb | (c->head & kPrevInUse);
    free_chunk(rest, size - nb, func);
  }
  return true;
}

size_t Heap::usable_size(const void* mem) { return csize(mem2chunk(mem)) - kOverhead; }

size_t Heap::checked_usable_size(const void* mem, const char* func) const {
  const Chunk* c = mem2chunk(const_cast<void*>(mem));
  size_t size = csize(c);
  if (!plausible_header(mem, c, size, __atomic_load_n(&system_, __ATOMIC_RELAXED))) report::invalid_pointer(func, mem);
  // The next block's header is only written by whoever changes that block;
  // its "previous in use" bit stays set while this block is live.
  const Chunk* next = at(const_cast<Chunk*>(c), size);
  if (src_.register_pages && !pagemap::is_heap(addr(next) + 8)) report::invalid_pointer(func, mem);
  if (!(__atomic_load_n(&next->head, __ATOMIC_RELAXED) & kPrevInUse)) report::invalid_pointer(func, mem);
  return size - kOverhead;
}

// glibc trims whenever the top reaches the trim threshold, down to top_pad,
// so a program freeing into the top pays a brk call per free. We do exactly
// that when the user set the threshold, for the program's frees. Our own
// slab spans and span chunks (by_program false), which glibc never sees,
// leave up to kSpanTrimSlack more: else a class whose only slab empties and
// refills (64 KiB or more at a time) shrank and grew the heap each time
// (with MALLOC_TRIM_THRESHOLD_=0 and MALLOC_TOP_PAD_=0, a `make -j2` of a
// small C project made ~4,000 brk calls instead of 690 and took twice as
// long: cc1 0.31 -> 0.48 s). Decay trims the rest (see decay()).
// By default we trim only once the top holds a whole threshold beyond what
// we keep, and keep an adaptive pad that doubles each time the heap grows
// right after a trim and halves after a second without growth: a breathing
// top costs a few brk calls, not one per cycle.
void Heap::maybe_trim_top(bool by_program) {
  const config::Tunables& t = config::tunables();
  size_t thresh = t.trim_threshold.load(std::memory_order_relaxed);
  size_t top = csize(top_);
  if (top < thresh) return;
  size_t keep = t.top_pad.load(std::memory_order_relaxed);
  if (!t.trim_threshold_set.load(std::memory_order_relaxed)) {
    if (adaptive_keep_ && os::recent_ms() - last_grow_ms_ > kKeepDecayMs) adaptive_keep_ /= 2;
    if (adaptive_keep_ > keep) keep = adaptive_keep_;
    if (top - thresh < keep) return;
  } else if (!by_program && keep < kSpanTrimSlack) {
    keep = kSpanTrimSlack;
  }
  trim_top(keep);
}

bool Heap::trim_top(size_t keep, const char* func) {
  if (!top_ || !nsegments_) return false;
  Segment& seg = segments_[nsegments_ - 1];
  size_t page = os::page_size();
  size_t top = checked_top_size(func);
  // (Subtracted on top's side: malloc_trim(pad) passes any pad, and a pad
  // near SIZE_MAX wrapped, released more than the top and crashed.)
  if (top < kMinChunk + page || top - kMinChunk - page < keep) return false;
  size_t release = align_down(top - kMinChunk - keep, page);
  if (release == 0) return false;
  uptr new_end = seg.end - release;
  if (seg.mapped) {
    if (seg.end % page) return false;
    src_.unmap(ptr(new_end), release);
  } else {
    if (src_.current_break() != ptr(seg.end)) return false;  // someone else moved it
    if (!src_.sbrk(-static_cast<intptr_t>(release))) return false;
  }
  stats::count(stats::k_brk_shrink);
  register_range(align_up(new_end, page), seg.end, false);
  trimmed_since_grow_ = true;
  seg.end = new_end;
  top_->head -= release;
  system_ -= release;
  // Pages above the new end come back zeroed; the rest of its page does not.
  uptr fresh = align_up(new_end, page);
  if (clean_from_ > fresh) clean_from_ = fresh;
  return true;
}

// Purges the whole pages of binned free blocks (and of the top) that have
// been free for at least min_age ms. Lock held.
size_t Heap::purge_free_pages(uint64_t now, size_t min_age, int advice, size_t top_keep) {
  size_t page = os::page_size();
  size_t purged = 0;
  for (unsigned i = bin_index(kStampedMin); i < kBins; ++i) {
    for (Chunk* c = bins_[i]; c; c = c->fd) {
      size_t size = csize(c);
      if (size < kStampedMin) continue;
      uint64_t& st = stamp_of(c);
      // min_age 0 with MADV_DONTNEED is malloc_trim or memory pressure: it
      // purges again what decay purged lazily (MADV_FREE pages still count
      // in RSS until the kernel needs them), and only that: purging every
      // purged block again on each call made malloc_trim return 1 with
      // nothing released, where glibc returns 0. (Decay with decay_ms=0
      // and purge=free must not: it would madvise them again each pass.)
      bool again = (st & kLazyBit) && min_age == 0 && advice == MADV_DONTNEED;
      uint64_t freed_ms = st >> kStampShift;
      if (((st & kPurgedBit) && !again) || freed_ms > now || now - freed_ms < min_age) continue;
      purged += purge_block(c, size, page, advice, again);
    }
  }
  if (top_ && !top_purged_ && top_stamp_ <= now && now - top_stamp_ >= min_age) purged += purge_top(advice, top_keep);
  if (purged) stats::count(stats::k_purged_pages, purged / page);
  return purged;
}

// Purges the whole pages inside free block c of `size` bytes (lock held):
// those around its purged run, or (`again`: malloc_trim after MADV_FREE) all
// of them. Returns the bytes purged. The stamp's bits and purged_ go
// together (bin_remove takes the run back off purged_): a block madvise
// refused (locked memory) stays as it was.
size_t Heap::purge_block(Chunk* c, size_t size, size_t page, int advice, bool again) {
  uptr b, e;
  interior(c, size, page, &b, &e);
  Run run;
  // A damaged clean word is left alone here (no API call to name): the
  // block's next removal from its bin reports it.
  if (!clean_run(c, size, page, &run)) return 0;
  size_t counted = run.end - run.begin;
  if (again) run = {b, b};
  bool ok = true;
  if (run.begin > b) ok = os::advise(ptr(b), run.begin - b, advice);
  if (ok && e > run.end) ok = os::advise(ptr(run.end), e - run.end, advice);
  if (!ok) return 0;
  purged_ += (e - b) - counted;
  uint64_t& st = stamp_of(c);
  uint64_t lazy = advice == MADV_FREE || (!again && (st & kLazyBit)) ? kLazyBit : 0;
  st = (st & ~kLazyBit) | kPurgedBit | lazy;
  return (e - b) - (run.end - run.begin);
}

// The top's whole pages below clean_from_ (above it, never touched since
// the segment was mapped or last purged), lock held. Returns the bytes
// purged.
size_t Heap::purge_top(int advice, size_t keep) {
  size_t page = os::page_size();
  uptr end = addr(top_) + checked_top_size("free()");
  if (keep > csize(top_)) keep = csize(top_);
  uptr b = align_up(addr(top_) + kHeaderSize + keep, page);
  uptr e = std::min(align_down(end, page), align_up(clean_from_, page));
  size_t purged = 0;
  if (e > b && os::advise(ptr(b), e - b, advice)) {
    purged = e - b;
    // DONTNEED pages read back as zero: calloc may skip them.
    if (advice == MADV_DONTNEED && (e >= clean_from_ || e == end) && clean_from_ > b) clean_from_ = b;
  }
  if (keep == 0) {
    top_purged_ = true;  // nothing to do until a free grows it again
    top_lazy_ = advice == MADV_FREE;
  }
  return purged;
}

size_t Heap::decay(uint64_t now, size_t decay_ms, bool use_free) {
  if (now - last_decay_ms_ < decay_ms / 4) return 0;
  LockGuard guard(lock_);
  if (now - last_decay_ms_ < decay_ms / 4) return 0;
  last_decay_ms_ = now;
  size_t done = 0;
  // The user's trim threshold, for what free_span left in the top: once no
  // free has reached the top and the heap has not grown for decay_ms (a top
  // purged already is trimmed too). (Growth counts: with thp=always the heap
  // grows in 2 MiB steps, and decay trimmed what a grow had just added.)
  const config::Tunables& t = config::tunables();
  if (t.trim_threshold_set.load(std::memory_order_relaxed) && top_ && top_stamp_ <= now &&
      now - top_stamp_ >= decay_ms && last_grow_ms_ <= now && now - last_grow_ms_ >= decay_ms &&
      csize(top_) >= t.trim_threshold.load(std::memory_order_relaxed)) {
    size_t before = system_;
    if (trim_top(t.top_pad.load(std::memory_order_relaxed))) done += before - system_;
  }
  return done + purge_free_pages(now, decay_ms, use_free ? MADV_FREE : MADV_DONTNEED);
}

size_t Heap::purge_now() {
  LockGuard guard(lock_);
  return purge_free_pages(~uint64_t{0} >> 1, 0, MADV_DONTNEED);
}

size_t Heap::purge_bytes(size_t want, bool top) {
  LockGuard guard(lock_);
  size_t page = os::page_size();
  size_t purged = 0;
  for (unsigned i = kBins; i-- > bin_index(kStampedMin) && purged < want;) {
    for (Chunk* c = bins_[i]; c && purged < want; c = c->fd) {
      size_t size = csize(c);
      if (size < kStampedMin) continue;
      if (stamp_of(c) & kPurgedBit) continue;
      purged += purge_block(c, size, page, MADV_DONTNEED, false);
    }
  }
  if (top && purged < want && top_ && !top_purged_) purged += purge_top(MADV_DONTNEED);
  if (purged) stats::count(stats::k_purged_pages, purged / page);
  return purged;
}

bool Heap::trim(size_t pad) {
  LockGuard guard(lock_);
  bool released = trim_top(pad, "malloc_trim()");
  if (top_lazy_) top_purged_ = false;  // purged lazily: for good now
  top_stamp_ = 0;
  // The top's first pad bytes stay resident, as glibc keeps them (a program
  // asking for a warm reserve got it purged, and 1 where glibc returns 0).
  if (purge_free_pages(~uint64_t{0} >> 1, 0, MADV_DONTNEED, pad)) released = true;
  return released;
}

Snapshot Heap::snapshot() {
  LockGuard guard(lock_);
  Snapshot s{};
  s.system = system_;
  s.top = top_ ? csize(top_) : 0;
  s.free = bin_bytes_ + s.top;
  s.in_use = system_ - s.free;
  s.free_blocks = bin_count_;
  s.purged = purged_;
  s.segments = nsegments_;
  for (unsigned i = 0; i < nsegments_; ++i) s.mapped_segments += segments_[i].mapped;
  s.max_system = max_system_;
  return s;
}

const char* Heap::check_segment(const Segment& s, size_t* free_bytes, size_t* free_blocks) {
  bool current = (&s == &segments_[nsegments_ - 1]);
  uptr stop = current ? addr(top_) : s.end - 16;  // top, or the second fencepost
  Chunk* c = ptr<Chunk>(s.base);
  if (!(c->head & kPrevInUse)) return "first block of a segment claims a free predecessor";
  bool prev_free = false;
  while (addr(c) < stop) {
    size_t size = csize(c);
    if (size < 16 || (size & 15) || addr(c) + size > stop) return "block size runs past its segment";
    Chunk* next = at(c, size);
    bool free = !(next->head & kPrevInUse);
    if (free) {
      if (prev_free) return "two adjacent free blocks";
      if (next->prev_size != size) return "free block's footer disagrees with its size";
      // Linked into its bin: its neighbours point back at it, and a block
      // with none before it heads the bin (check() then counts what the bins
      // reach). A search of the bin per block made the check quadratic, all
      // under the heap's lock: 3.4 s for 100,000 free blocks.
      unsigned i = bin_index(size);
      bool linked = (c->bk ? c->bk->fd == c : bins_[i] == c) && (!c->fd || c->fd->bk == c);
      if (!linked) return "free block missing from its bin";
      *free_bytes += size;
      ++*free_blocks;
    }
    prev_free = free;
    c = next;
  }
  if (addr(c) != stop) return "blocks do not end at the segment's end";
  if (current) {
    if (csize(top_) < kMinChunk) return "top block smaller than the minimum";
    if (addr(top_) + csize(top_) != s.end) return "top block does not end at the segment's end";
    if (prev_free) return "free block before the top";
  } else if (csize(c) != 16 || !(c->head & kPrevInUse)) {
    return "segment does not end in fenceposts";
  }
  return nullptr;
}

const char* Heap::check() {
  LockGuard guard(lock_);
  size_t free_bytes = 0, free_blocks = 0, total = 0;
  for (unsigned i = 0; i < nsegments_; ++i) {
    if (const char* err = check_segment(segments_[i], &free_bytes, &free_blocks)) return err;
    total += segments_[i].end - segments_[i].base;
  }
  if (free_bytes != bin_bytes_ || free_blocks != bin_count_) return "bin totals disagree with the walk";
  size_t page = os::page_size(), runs = 0;
  for (unsigned i = bin_index(kStampedMin); i < kBins; ++i)
    for (Chunk* b = bins_[i]; b; b = b->fd) {
      if (csize(b) < kStampedMin) continue;
      Run r;
      if (!clean_run(b, csize(b), page, &r)) return "purged run outside its block";
      runs += r.end - r.begin;
    }
  if (runs != purged_) return "purged runs disagree with the purged total";
  if (total != system_) return "segment sizes disagree with the system total";
  size_t reached = 0;
  for (unsigned i = 0; i < kBins; ++i) {
    bool bit = bitmap_[i / 64] >> (i % 64) & 1;
    if (bit != (bins_[i] != nullptr)) return "bin bitmap disagrees with the bins";
    for (Chunk* b = bins_[i]; b; b = b->fd) {
      if (bin_index(csize(b)) != i) return "block in the wrong bin";
      if (++reached > bin_count_) return "bins reach more blocks than they hold";
    }
  }
  if (reached != bin_count_) return "bins reach fewer blocks than they hold";
  return nullptr;
}

}  // namespace lm::heap
