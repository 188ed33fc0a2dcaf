// rz_dlclose_lib.c: a library that allocates in its constructor, in a
// function the program calls, and frees in its destructor (rz_dlclose.c).
#include <stdlib.h>
#include <string.h>

static char* g_keep;

__attribute__((constructor)) static void lib_init(void) {
  g_keep = malloc(1234);
  memset(g_keep, 1, 1234);
}
__attribute__((destructor)) static void lib_fini(void) { free(g_keep); }

char* lib_alloc(size_t n) {
  char* p = malloc(n);
  memset(p, 'L', n);
  return p;
}
