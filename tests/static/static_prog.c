/* static_prog.c: a C program linked with libmalloc.a (dynamically and with
 * -static). It proves that libmalloc serves its allocations, including
 * those libc makes internally (strdup, getline, open_memstream, stdio
 * buffers): each must show in libmalloc's own counters and be freeable
 * by libmalloc's free. Prints its pid first (for the stats=1 check), then
 * "FAIL: ..." for each failed check, and exits 0 only when all passed. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libmalloc.h"

static int failures;

#define EXPECT(cond)                                            \
  do {                                                          \
    if (!(cond)) {                                              \
      printf("FAIL: %s (line %d)\n", #cond, __LINE__);          \
      ++failures;                                               \
    }                                                           \
  } while (0)

/* Bytes libmalloc has handed out, wherever from. */
static size_t in_use(void) {
  struct libmalloc_stats s;
  memset(&s, 0, sizeof s);
  if (libmalloc_get_stats(&s) != 0) return 0;
  return s.heap_in_use + s.mmap_in_use + s.slab_in_use;
}

int main(void) {
  printf("%d\n", (int)getpid());
  fflush(stdout);

  const char* version = libmalloc_version();
  EXPECT(version != NULL && version[0] != '\0');

  /* Plain allocations move the counters by at least their size. */
  struct libmalloc_stats before, after;
  EXPECT(libmalloc_get_stats(&before) == 0);
  void* heap_blocks[10];
  for (int i = 0; i < 10; ++i) {
    heap_blocks[i] = malloc(50 * 1024);
    memset(heap_blocks[i], i, 50 * 1024);
  }
  void* big = malloc(1 << 20);
  memset(big, 1, 1 << 20);
  EXPECT(libmalloc_get_stats(&after) == 0);
  EXPECT(after.heap_in_use >= before.heap_in_use + 10 * 50 * 1024);
  EXPECT(after.mmap_in_use >= before.mmap_in_use + (1 << 20));
  EXPECT(after.mmap_blocks == before.mmap_blocks + 1);
  for (int i = 0; i < 10; ++i) free(heap_blocks[i]);
  free(big);

  /* strdup: libc's own malloc call lands in libmalloc. */
  static char text[100001];
  memset(text, 'a', sizeof text - 1);
  size_t base = in_use();
  char* copy = strdup(text);
  EXPECT(copy != NULL && strlen(copy) == 100000);
  EXPECT(in_use() >= base + 100000);
  EXPECT(malloc_usable_size(copy) >= 100001);
  free(copy);

  /* getline grows its buffer with libc-internal realloc calls. */
  FILE* f = fmemopen(text, sizeof text - 1, "r");
  EXPECT(f != NULL);
  char* line = NULL;
  size_t cap = 0;
  base = in_use();
  EXPECT(getline(&line, &cap, f) == 100000);
  EXPECT(in_use() >= base + 100000);
  free(line);
  fclose(f);

  /* open_memstream: a buffer libc reallocates, then hands to the caller. */
  char* buf = NULL;
  size_t len = 0;
  FILE* m = open_memstream(&buf, &len);
  EXPECT(m != NULL);
  for (int i = 0; i < 30000; ++i) fprintf(m, "line %d\n", i);
  fclose(m);
  EXPECT(len > 200000);
  EXPECT(in_use() >= len);
  free(buf);

  /* stdio: fopen allocates the FILE and, on first read, its buffer. */
  base = in_use();
  FILE* self = fopen("/proc/self/maps", "r");
  EXPECT(self != NULL);
  EXPECT(fgetc(self) != EOF);
  EXPECT(in_use() > base);
  fclose(self);

  /* asprintf and the heap checker. */
  char* s = NULL;
  EXPECT(asprintf(&s, "%s-%d-%0500d", "x", 42, 7) > 500);
  free(s);
  EXPECT(libmalloc_heap_check() == 0);

  printf("%s\n", failures == 0 ? "all checks passed" : "some checks failed");
  return failures == 0 ? 0 : 1;
}
