// rz_dlclose.c LIBRARY: loads LIBRARY, waits past the stack capture's 50 ms
// between re-reads of the module list, allocates from inside it (so that
// its code joins the list), frees, and unloads it; 5 times. The frees that
// dlclose() makes after unmapping the library found stale stack words that
// pointed into its code, and the capture read that unmapped code (SIGSEGV).
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  for (int round = 0; round < 5; ++round) {
    void* h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
      printf("dlopen: %s\n", dlerror());
      return 1;
    }
    char* (*lib_alloc)(size_t);
    void* sym = dlsym(h, "lib_alloc");
    memcpy(&lib_alloc, &sym, sizeof sym);  // (ISO C has no object-to-function cast)
    if (!sym) return 1;
    usleep(60000);
    char* p = lib_alloc(100);
    if (p[99] != 'L') return 1;
    free(p);
    dlclose(h);
  }
  printf("ok: 5 rounds of dlopen, allocate inside, dlclose\n");
  return 0;
}
