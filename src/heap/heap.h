// heap.h: the brk heap. Boundary-tagged blocks split on allocation and
// coalesced with free neighbours on free, segregated bins with a bitmap, a
// top block grown with brk (plus top pad) and shrunk past the trim threshold,
// and mmapped continuation regions when brk cannot grow. Owns its segments'
// memory and registers their pages in the page map. Does not know about size
// classes, large mappings or redzones. Every public member takes the heap
// lock itself; callers hold no lock of ours.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/base.h"
#include "base/lock.h"

namespace lm::heap {

// Block layout (glibc's boundary tags), 16-byte aligned:
//
//   chunk -> +-----------------------------------------+
//            | prev_size: size of the previous block,  |  valid only while the
//            |   if it is free (else its user data)    |  previous block is free
//            +-----------------------------------------+
//            | size of this block          | 0 | M | P |  P: previous block in use
//   mem   -> +-----------------------------------------+  M: never set here (large)
//            | user data; when free: fd, bk links      |
//            +- - - - - - - - - - - - - - - - - - - - -+
//   next  -> | prev_size (this block's last 8 bytes    |
//            |   when in use: usable = size - 8)       |
//
// Every segment ends in two 16-byte fenceposts marked in use, so coalescing
// never walks off a segment; the current segment ends in the top block.
struct Chunk {
  size_t prev_size;
  size_t head;
  Chunk* fd;  // free blocks only
  Chunk* bk;
};

constexpr size_t kPrevInUse = 1;
constexpr size_t kMapped = 2;
// A block its thread keeps for its next malloc (core's parked block): in use
// to the heap, freed to the program, so free and realloc report it.
constexpr size_t kParked = 4;
constexpr size_t kFlagMask = 7;
constexpr size_t kHeaderSize = 16;          // chunk -> mem
constexpr size_t kOverhead = sizeof(size_t);  // bytes of a block not usable
constexpr size_t kMinChunk = 32;            // fd and bk must fit
constexpr size_t kFenceSize = 32;           // two fenceposts

constexpr size_t chunk_size_for(size_t request) {
  size_t s = align_up(request + kOverhead, 16);
  return s < kMinChunk ? kMinChunk : s;
}

// Where a heap gets its memory: the real one uses brk and mmap; unit tests
// substitute fakes that can fail on demand.
struct Source {
  void* (*sbrk)(intptr_t increment);  // old break, or nullptr
  void* (*current_break)();
  void* (*map)(size_t size);          // a fresh zeroed region, or nullptr
  void (*unmap)(void* p, size_t size);
  bool register_pages;                // record segments in the page map
  // Maps size bytes exactly at `at` if nothing is there (a continuation
  // region grows back in place after a trim); null: never.
  bool (*map_at)(void* at, size_t size) = nullptr;
};
Source os_source();

// A run of pages, [begin, end): a free block's pages known to be purged.
struct Run {
  uptr begin = 0;
  uptr end = 0;
};

struct Snapshot {
  size_t system;       // bytes of all segments
  size_t purged;       // bytes of free blocks given back with madvise (not resident)
  size_t in_use;       // bytes of blocks handed out (headers included)
  size_t free;         // bytes of free blocks, top included
  size_t top;          // bytes of the top block
  size_t free_blocks;  // count of free blocks in bins
  size_t segments;     // count of segments
  size_t mapped_segments;
  size_t max_system;   // high-water mark of system
};

class Heap {
 public:
  constexpr Heap() = default;
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  // Must precede any other call. Does not allocate memory yet.
  void init(const Source& source);

  // A block of at least n usable bytes, 16-aligned, or nullptr when neither
  // brk nor mmap can supply it. With zero, the usable bytes read as zero
  // (memset skipped where the memory is fresh from the kernel).
  void* alloc(size_t n, bool zero);
  // As alloc, aligned to `align` (a power of two, at least 16). With fresh,
  // says whether the block came from memory never touched since the kernel
  // gave it (none of its pages resident).
  void* alloc_aligned(size_t align, size_t n, bool* fresh = nullptr);
  // Returns a block to the heap. Aborts with a report on double free or a
  // damaged header. Precondition: mem lies in a heap page (the caller checked
  // the page map).
  void free(void* mem, const char* func);
  // Takes back a block libmalloc held for itself (a slab span, a span
  // chunk), checked as free() checks it. With a trim threshold the user set,
  // it trims the top as a program's free does but leaves up to 512 KiB more
  // (see maybe_trim_top), for decay or the program's next free to trim.
  void free_span(void* mem);
  // Resizes mem in place to at least n usable bytes: true on success; false
  // leaves the block unchanged.
  bool resize_in_place(void* mem, size_t n, const char* func);
  // Usable bytes of a live block.
  static size_t usable_size(const void* mem);
  // The same for a pointer from the program (malloc_usable_size), checked
  // without the lock as far as a live block's header can be: a pointer
  // into a block's middle is reported (its "size" is whatever the program
  // wrote there) and the process aborts, as free() does.
  size_t checked_usable_size(const void* mem, const char* func) const;
  // The thread that frees a live block keeps it (core's parked block):
  // checked as free() checks it (reports and aborts the same way), then
  // marked kParked. take_parked() hands it out again; free_parked() frees it.
  // Both take the usable bytes the block had when parked, and report a
  // header that changed since (see checked_parked).
  // False, and not parked, for a block between a free block and the top
  // whose free would let the top reach the trim threshold: the caller frees
  // it, so that the heap shrinks as glibc's does.
  bool park(void* mem, const char* func);
  void take_parked(void* mem, size_t usable);
  // Frees a parked block (func: the call a damaged header is reported in).
  // With `kept` (the block parked in its place), true when kept had to be
  // freed too, by the rule of park().
  bool free_parked(void* mem, size_t usable, const char* func, void* kept = nullptr);

  // Returns free memory to the kernel: the top beyond pad with brk, and whole
  // free pages inside free blocks with madvise. True if anything was released.
  bool trim(size_t pad);

  // Decay: purges the whole pages of free blocks (and of the top) that have
  // stayed free for decay_ms, with MADV_DONTNEED or, with use_free,
  // MADV_FREE. Cheap to call often: it walks the bins at most every
  // decay_ms / 4. Returns the bytes purged.
  size_t decay(uint64_t now_ms, size_t decay_ms, bool use_free);

  // Purges the whole pages of every free block at once (memory pressure).
  size_t purge_now();
  // Purges whole free pages, of the largest free blocks first, then (with
  // `top`) of the top, until at least `want` bytes are purged or none is
  // left. Returns the bytes purged.
  size_t purge_bytes(size_t want, bool top);
  // Bytes of binned free blocks not purged, and of everything else (blocks
  // in use and the top): read without the lock, as estimates for pressure
  // decisions.
  size_t dirty_bytes() const {
    size_t b = __atomic_load_n(&bin_bytes_, __ATOMIC_RELAXED), p = __atomic_load_n(&purged_, __ATOMIC_RELAXED);
    return b > p ? b - p : 0;
  }
  size_t in_use_bytes() const {
    size_t s = __atomic_load_n(&system_, __ATOMIC_RELAXED), b = __atomic_load_n(&bin_bytes_, __ATOMIC_RELAXED);
    return s > b ? s - b : 0;
  }

  Snapshot snapshot();
  // Bytes of all segments, read without the lock (a statistic).
  size_t system_bytes() const { return __atomic_load_n(&system_, __ATOMIC_RELAXED); }
  // Walks every segment and checks every invariant; returns nullptr when the
  // heap is consistent, else a description of the first problem.
  const char* check();

  void lock_for_fork() { lock_.lock(); }
  void unlock_for_fork() { lock_.unlock(); }
  void reset_for_fork_child() { lock_.reset_after_fork(); }

  // The adaptive top pad in force (stats=1 prints it).
  size_t adaptive_keep() const { return adaptive_keep_; }

 private:
  struct Segment {
    uptr base;
    uptr end;
    bool mapped;  // a continuation region (else brk)
  };
  static constexpr unsigned kBins = 216;
  static constexpr unsigned kSmallBins = 64;
  static constexpr unsigned kMaxSegments = 256;
  static constexpr unsigned kBinScan = 32;

  static unsigned bin_index(size_t size);
  void bin_insert(Chunk* c, size_t size, uint64_t stamp = 0, Run run = {});
  void bin_remove(Chunk* c, size_t size, const char* func);
  Chunk* find_fit(size_t nb, const char* func, uint64_t* stamp, Run* run);
  Chunk* find_fit_unstamped(size_t nb, const char* func);
  void* carve(Chunk* c, size_t nb, bool zero, const char* func, uint64_t stamp = 0, Run run = {});
  void* alloc_locked(size_t nb, bool zero, const char* func);
  bool grow(size_t nb);
  bool add_segment(uptr base, uptr end, bool mapped);
  bool extend_segment(Segment& seg, size_t by);
  void give_back_break(uptr begin, uptr end);
  void close_top_segment();
  Chunk* checked_live(void* mem, const char* func);
  Chunk* checked_prev(Chunk* c, const char* func);
  // c is the top or lies inside it (lock held).
  bool in_top(const Chunk* c) const {
    return top_ && addr(c) >= addr(top_) && addr(c) < segments_[nsegments_ - 1].end;
  }
  size_t checked_top_size(const char* func) const;
  bool pins_top_tail(const Chunk* c) const;  // see park()
  Chunk* checked_parked(void* mem, size_t usable, const char* func);  // see take_parked()
  void free_locked(void* mem, const char* func, bool by_program = true);
  void free_chunk(Chunk* c, size_t size, const char* func);
  void maybe_trim_top(bool by_program);
  // Gives the top beyond keep back to the kernel (and notes the trim for
  // the adaptive pad); true if anything went.
  bool trim_top(size_t keep, const char* func = "free()");
  size_t purge_free_pages(uint64_t now, size_t min_age, int advice, size_t top_keep = 0);
  size_t purge_block(Chunk* c, size_t size, size_t page, int advice, bool again);
  size_t purge_top(int advice, size_t keep = 0);
  bool register_range(uptr begin, uptr end, bool add);
  const char* check_segment(const Segment& s, size_t* free_bytes, size_t* free_blocks);

  Mutex lock_;
  Source src_{};
  bool initialised_ = false;
  Chunk* bins_[kBins] = {};
  uint64_t bitmap_[(kBins + 63) / 64] = {};
  Chunk* top_ = nullptr;
  uptr clean_from_ = 0;  // memory of the top segment above this is untouched
  Segment segments_[kMaxSegments] = {};
  unsigned nsegments_ = 0;
  size_t system_ = 0;
  size_t max_system_ = 0;
  size_t bin_bytes_ = 0;
  size_t bin_count_ = 0;
  size_t adaptive_keep_ = 0;
  bool trimmed_since_grow_ = false;
  uint64_t last_grow_ms_ = 0;
  uint64_t last_decay_ms_ = 0;
  uint64_t top_stamp_ = 0;   // when the top last grew by a free (see stamps)
  bool top_purged_ = false;  // its whole pages were purged since
  bool top_lazy_ = false;    // ... with MADV_FREE (malloc_trim purges them again)
  size_t purged_ = 0;        // bytes of binned blocks marked purged
};

}  // namespace lm::heap
