// spans.h: where slab spans come from. The heap hands out 1 MiB page-aligned
// blocks ("span chunks"); this module carves them into page runs for slabs,
// with a used and a dirty bitmap per chunk and no header inside the chunk.
//
// Why not a heap block per span: every heap block has a boundary tag, and a
// free heap block's first page (its tag and links) and last page (its
// neighbour's tag) stay resident when it is purged. Between slab spans that
// cost two pages per run of freed spans: 25 MiB of the 96 MiB libmalloc
// kept after malloc_trim in the burst-and-idle workload. Free page runs
// inside a chunk carry no tag, so every one of their pages can be purged.
//
// Chunks that become wholly free go back to the heap (one is kept as a
// reserve until it has stayed free for a decay period). Lock order: a slab
// class lock, then the span lock, then the heap's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/base.h"

namespace lm::heap {
class Heap;
}

namespace lm::slab::spans {

constexpr size_t kPage = 4096;
constexpr size_t kChunkBytes = size_t{1} << 20;
constexpr size_t kChunkPages = kChunkBytes / kPage;
constexpr size_t kMaxSpan = kChunkBytes / 2;

struct Chunk;

struct Span {
  uptr base;     // 0 when none could be had
  Chunk* chunk;  // pass back to free()
};

void init(heap::Heap* heap);
// Read without the lock, as estimates for pressure decisions: bytes of free
// pages that may be resident, and of all free pages.
size_t dirty_bytes();
size_t free_bytes();
// Purges every dirty free page at once (memory pressure).
size_t purge_now();
// Purges dirty free pages, chunk by chunk, until at least `want` bytes are
// purged or none is left. Returns the bytes purged.
size_t purge_bytes(size_t want);
// bytes: a multiple of kPage, at most kMaxSpan.
Span alloc(size_t bytes);
void free(Span s, size_t bytes);

// Purges the free pages of chunks that have had no span freed for min_age ms
// (0: all of them, as malloc_trim does, including pages an earlier pass
// purged with MADV_FREE), and gives wholly free chunks idle that long back to
// the heap. Returns the bytes purged or given back.
size_t decay(uint64_t now_ms, size_t min_age_ms, int advice);

struct Stats {
  size_t chunks;
  size_t chunk_bytes;  // all chunks
  size_t free_bytes;   // pages in no span
  size_t dirty_bytes;  // of those, the ones that may be resident
};
Stats stats();

void lock_for_fork();
void unlock_for_fork();
void reset_for_fork_child();

}  // namespace lm::slab::spans
