// rz_big.c MODE: large blocks in redzone mode touch no more memory than the
// program does (run by clean.sh: same output as without libmalloc, and no
// report). Each mode prints one line, "... ok" or what went wrong.
//   malloc        a 256 MiB block, one byte written: its 32 MiB of shadow
//                 was written whole (all zero), and stayed resident.
//   calloc        the same through calloc: the fresh mapping was zeroed by
//                 hand (256 MiB resident); it reads zero at every page.
//   calloc-dirty  calloc of a size just freed, with quarantine_mb=0: the
//                 mapping comes back from the cache, and must read zero.
//   shrink        ten 64 MiB buffers, 100 bytes written, cut to those 100 by
//                 realloc: kept in place, the cut-off part became right
//                 redzone and was written whole (640 MiB resident).
//   grow          a 100-byte block grown to 256 MiB by realloc: the room
//                 left to grow into (half as much again) was written whole.
//   align4g       memalign with a 4 GiB alignment: its left redzone's size
//                 was truncated to 32 bits, and free reported a false
//                 overflow 4 GiB away, then crashed.
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long resident_mib(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  long size = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = 0;
    fclose(f);
  }
  return rss * 4096 / (1 << 20);
}

static int within(const char* what, long before, long limit_mib) {
  long grew = resident_mib() - before;
  if (grew > limit_mib) {
    printf("%s: %ld MiB became resident (at most %ld expected)\n", what, grew, limit_mib);
    return 1;
  }
  printf("%s: ok\n", what);
  return 0;
}

static int zero_at_pages(const char* p, size_t n) {
  for (size_t i = 0; i < n; i += 4096)
    if (p[i] != 0) return 0;
  return p[n - 1] == 0;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  const size_t big = (size_t)256 << 20;
  long before = resident_mib();
  if (strcmp(mode, "malloc") == 0) {
    char* volatile p = malloc(big);
    if (!p) return 2;
    p[12345] = 1;
    int bad = within("malloc(256 MiB), one byte written", before, 32);
    free(p);
    return bad;
  }
  if (strcmp(mode, "calloc") == 0) {
    char* volatile p = calloc(1, big);
    if (!p) return 2;
    p[12345] = 1;
    int bad = within("calloc(256 MiB), one byte written", before, 32);
    p[12345] = 0;
    if (!zero_at_pages(p, big)) {
      puts("calloc(256 MiB): not zero");
      bad = 1;
    }
    free(p);
    return bad;
  }
  if (strcmp(mode, "calloc-dirty") == 0) {
    const size_t n = (size_t)8 << 20;
    char* p = malloc(n);
    if (!p) return 2;
    memset(p, 0xab, n);
    free(p);
    char* q = calloc(1, n);
    if (!q) return 2;
    size_t i = 0;
    while (i < n && q[i] == 0) ++i;
    printf("calloc of a freed 8 MiB size: %s\n", i == n ? "zero" : "not zero");
    free(q);
    return i == n ? 0 : 1;
  }
  if (strcmp(mode, "shrink") == 0) {
    char* keep[10];
    for (int i = 0; i < 10; ++i) {
      char* p = malloc((size_t)64 << 20);
      if (!p) return 2;
      memset(p, 'a' + i, 100);
      keep[i] = realloc(p, 100);
      if (!keep[i] || keep[i][99] != 'a' + i) return 3;
    }
    int bad = within("ten 64 MiB buffers cut to 100 bytes", before, 160);
    for (int i = 0; i < 10; ++i) free(keep[i]);
    return bad;
  }
  if (strcmp(mode, "grow") == 0) {
    char* p = malloc(100);
    if (!p) return 2;
    memset(p, 7, 100);
    before = resident_mib();
    char* q = realloc(p, big);
    if (!q || q[99] != 7) return 3;
    int bad = within("100 bytes grown to 256 MiB", before, 64);
    free(q);
    return bad;
  }
  if (strcmp(mode, "align4g") == 0) {
    const size_t align = (size_t)1 << 32;
    char* p = memalign(align, 100);  // (glibc: a block; redzone mode: NULL, ENOMEM)
    if (p && (uintptr_t)p % align != 0) {
      puts("memalign(4 GiB, 100): misaligned");
      return 1;
    }
    if (p) p[0] = 1;
    free(p);
    puts("memalign(4 GiB, 100) and free: ok");
    return 0;
  }
  fprintf(stderr, "unknown mode '%s'\n", mode);
  return 2;
}
