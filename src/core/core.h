// core.h: the router. Owns lazy initialisation, the fork protocol and the
// choice of layer: on allocation by size (heap below the mmap threshold,
// large at or above it), on free by owner (page map, then large header).
// Entry points return nullptr on failure and never touch errno; api/ sets it.
#pragma once

#include <cstddef>
#include <cstdio>

#include "base/base.h"
#include "redzone/redzone.h"

struct mallinfo2;
struct libmalloc_stats;

namespace lm::core {

// Which family allocated a block (checked in redzone mode): malloc/free,
// new/delete, new[]/delete[]. A constant at every call site.
using Family = redzone::Family;

// Initialises libmalloc if no allocation has yet (idempotent, thread-safe).
void init();
// After mallopt: thread caches re-read their limits (this thread at once,
// others at their next slow path).
void tuning_changed();
// How many threads may hold full thread caches; beyond, each doubling of the
// thread count halves every thread's bin limits (core.cpp: the budget).
unsigned full_cache_threads();

// `ret`: the program's return address (LM_CALLER in the exported entry
// point), the first frame of the stacks redzone mode records and reports.
void* malloc(size_t n, Family family, uptr ret);
void* calloc(size_t n, size_t size, uptr ret);  // nullptr on overflow too
void* realloc(void* p, size_t n, uptr ret);     // p non-null, n > 0
void* memalign(size_t align, size_t n, Family family, uptr ret);  // align: a power of two
void free(void* p, const char* func, Family family, uptr ret);
size_t usable_size(const void* p, uptr ret);

int trim(size_t pad);
void fill_mallinfo2(struct mallinfo2* out);
size_t parked_bytes(size_t* blocks = nullptr);  // heap blocks threads keep for their next malloc: in use to the heap, free to the program
void fill_stats(struct libmalloc_stats* out);  // include/libmalloc.h
void print_malloc_stats();                 // glibc's malloc_stats format, stderr
int print_malloc_info(int options, FILE* fp);  // glibc's malloc_info XML
void print_report(int fd);                 // the stats=1 report
int heap_check(uptr ret);
// libmalloc_advise: 0, or the errno value to report.
int advise(void* p, size_t offset, size_t len, int advice);  // heap invariants, and in redzone mode every block's redzones

}  // namespace lm::core
