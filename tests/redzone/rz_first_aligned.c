/* rz_first_aligned.c: a correct C program whose first allocation is an
 * aligned one (argv[1] names the function), or (bad-free, bad-realloc,
 * bad-usable) an incorrect one whose first call passes a stack address. In redzone mode it must run as
 * without it: the block comes from the redzone layer even though libmalloc
 * initialises inside that very call (it used to be a plain heap block,
 * whose free() was then reported as a bad-free). C, not C++: libstdc++
 * would allocate first. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  const char* fn = argc > 1 ? argv[1] : "posix_memalign";
  void* p = NULL;
  /* A bug as the first call (first_bad.sh): a stack address. */
  char buf[32];
  void* volatile bad = buf;
  if (strcmp(fn, "bad-free") == 0) free(bad);
  if (strcmp(fn, "bad-realloc") == 0) p = realloc(bad, 100);
  if (strcmp(fn, "bad-usable") == 0) printf("%zu\n", malloc_usable_size(bad));
  if (strncmp(fn, "bad-", 4) == 0) return 0;
  if (strcmp(fn, "posix_memalign") == 0) {
    if (posix_memalign(&p, 4096, 4096) != 0) p = NULL;
  } else if (strcmp(fn, "aligned_alloc") == 0) {
    p = aligned_alloc(256, 1000);
  } else if (strcmp(fn, "memalign") == 0) {
    p = memalign(64, 100);
  } else if (strcmp(fn, "valloc") == 0) {
    p = valloc(10);
  }
  if (!p) return 1;
  memset(p, 0xab, 10);
  void* q = realloc(p, 20000);
  if (!q) return 1;
  free(q);
  printf("%s ok\n", fn);
  return 0;
}
