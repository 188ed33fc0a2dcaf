/* libmalloc.h: libmalloc's public extensions to the C allocator API.
 * Everything else libmalloc exports is glibc's <malloc.h> / <stdlib.h> API.
 * All functions are safe to call from any thread; none allocates. */
#ifndef LIBMALLOC_H
#define LIBMALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A snapshot of the allocator's state, in bytes unless named a count. */
struct libmalloc_stats {
  size_t heap_system;      /* bytes obtained for the heap (brk + continuation regions) */
  size_t heap_in_use;      /* bytes in use by the program, as mallinfo2's uordblks */
  size_t heap_free;        /* heap_system - heap_in_use, as mallinfo2's fordblks:
                              free heap blocks (top included), unused slab slots,
                              free span-chunk pages, cached objects */
  size_t heap_top;         /* bytes in the top block (what brk can give back) */
  size_t heap_segments;    /* count of heap segments (1 + continuation regions) */
  size_t mmap_in_use;      /* bytes of live mmapped blocks */
  size_t mmap_blocks;      /* count of live mmapped blocks */
  size_t mmap_cached;      /* bytes of freed mappings kept for reuse */
  size_t slab_in_use;      /* bytes of slab objects handed out */
  size_t slab_total;       /* bytes of slabs, used or not */
  size_t mmap_threshold;   /* the mmap threshold in force */
  size_t trim_threshold;   /* the trim threshold in force */
};

/* Fills *out; returns 0. */
int libmalloc_get_stats(struct libmalloc_stats* out);

/* Writes the stats=1 report (slab table, heap and mmap totals) to fd. */
void libmalloc_print_stats(int fd);

/* Walks the whole heap and checks every block header (and, in redzone mode,
 * every live block's redzones). Returns 0 when all is consistent; otherwise
 * reports the first problem on stderr and returns -1 (or aborts, in redzone
 * mode with halt_on_error=1). */
int libmalloc_heap_check(void);

/* Copies the current value of option `name` (as LIBMALLOC_OPTIONS spells
 * it) as text into buf. Returns 0, or -1 when no such option exists. */
int libmalloc_get_option(const char* name, char* buf, size_t buflen);

/* Access hints for a large (mapped) block: madvise(advice) on the whole
 * pages of [p + offset, p + offset + len), for example MADV_WILLNEED to
 * read ahead, MADV_SEQUENTIAL or MADV_RANDOM, MADV_HUGEPAGE. The pages that
 * hold libmalloc's header are never discarded. Returns 0, or -1 with errno
 * EINVAL when p is not a live block of at least the mmap threshold or the
 * range leaves the block (and with the kernel's errno when it refuses). */
int libmalloc_advise(void* p, size_t offset, size_t len, int advice);

/* The library version, e.g. "0.1.0". */
const char* libmalloc_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LIBMALLOC_H */
