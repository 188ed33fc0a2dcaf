// rz_check_race.c: 4 threads allocate and free (no bug at all) while a
// fifth calls libmalloc_heap_check() in a loop (run by clean.sh). A check
// that met a block a free had just claimed read the free's fields as damage
// (a false heap-buffer-overflow at the header's free_tid: the program
// aborted) and zeroed them. Prints "heap checks with problems: 0".
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kThreads = 4, kRounds = 10000 };
static volatile int g_stop;
static int (*g_check)(void);

static void* worker(void* arg) {
  (void)arg;
  for (int i = 0; i < kRounds; ++i) {
    void* p[8];
    for (int k = 0; k < 8; ++k) p[k] = malloc(16 + (size_t)k * 24);
    for (int k = 0; k < 8; ++k) free(p[k]);
  }
  return NULL;
}

static void* checker(void* arg) {
  int* bad = arg;
  while (!g_stop) *bad += g_check() != 0;
  return NULL;
}

int main(void) {
  // Found at run time: on glibc (the plain run) there is none to call.
  void* sym = dlsym(RTLD_DEFAULT, "libmalloc_heap_check");
  memcpy(&g_check, &sym, sizeof sym);  // (a cast is not ISO C)
  pthread_t w[kThreads], c;
  int bad = 0;
  if (g_check && pthread_create(&c, NULL, checker, &bad) != 0) return 2;
  for (int k = 0; k < kThreads; ++k)
    if (pthread_create(&w[k], NULL, worker, NULL) != 0) return 2;
  for (int k = 0; k < kThreads; ++k) pthread_join(w[k], NULL);
  g_stop = 1;
  if (g_check) pthread_join(c, NULL);
  printf("heap checks with problems: %d\n", bad);
  return 0;
}
