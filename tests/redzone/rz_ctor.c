// rz_ctor.c: linked with rz_ctor_lib, whose constructor leaks 4321 bytes
// (leaks.sh expects exactly that report).
#include <stdio.h>

int rz_ctor_lib_loaded(void);

int main(void) {
  printf("%d\n", rz_ctor_lib_loaded());
  return 0;
}
