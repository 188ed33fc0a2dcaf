// rz_ctor_lib.c: a library whose constructor leaks a block (leaks.sh via
// rz_ctor): allocated under the loader's frames, it is still the library's
// leak, not the loader's.
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static void drop(void) {
  char* volatile p = malloc(4321);
  memset(p, 1, 10);
  p = NULL;
}

__attribute__((constructor)) static void rz_ctor_lib_init(void) { drop(); }

int rz_ctor_lib_loaded(void) { return 1; }
