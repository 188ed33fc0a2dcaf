// rz_heap_check.c: libmalloc_heap_check() with many problems, and racing
// with frees of damaged blocks (run by heap_check.sh with halt_on_error=0).
//   many: one block with two problems (its right redzone and a field of its
//     header) under 15 others with one each. A check collects 16 findings:
//     the block that would have been the 17th once wrote past the check's
//     array (SIGSEGV in the program's check, or at exit). Prints the check's
//     return value; everything is reported once, by this check or at exit.
//   race: one thread overflows each of 2000 blocks by a byte and frees it,
//     while another checks the heap in a loop. Each overflow must be
//     reported once: a free that found one reported it before claiming the
//     block, and the check reported it again meanwhile.
//   header: a write below a quarantined block breaks its header's seal;
//     three heap checks and the one at exit report it once (it was
//     reported by each). Prints the three checks' return values.
//   restore: the same on a live block whose bytes the program then puts
//     back: the second check finds nothing (the first one's mark read as
//     damage to the header's pad).
//   exit-many: 40 live blocks overflowed, no check before exit: all 40 are
//     reported at exit (only the first 16 were).
//   quarantined: a write into a freed block's left redzone (just below its
//     start) from its neighbour below: the heap check reports it (only
//     its leaving the quarantine did).
//   damaged-free: free() of a block whose header's seal was overwritten:
//     reported by the free, and not again at exit.
//   late-free: a mapped block freed again long after its memory went back
//     to the kernel: a bad free that names no block (the report described
//     another block far below, with its stacks).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int (*g_check)(void);
static volatile int g_stop;
enum { kRaceBlocks = 2000 };

static void* overflowing(void* arg) {
  (void)arg;
  for (int i = 0; i < kRaceBlocks; ++i) {
    size_t n = 100 + (size_t)(i % 7) * 16;
    char* p = malloc(n);
    memset(p, 1, n);
    ((volatile char*)p)[n] = 'X';
    for (volatile int k = 0; k < 2000; ++k) {
    }
    free(p);
  }
  g_stop = 1;
  return NULL;
}

static void* checking(void* arg) {
  (void)arg;
  while (!g_stop) g_check();
  return NULL;
}

int main(int argc, char** argv) {
  void* sym = dlsym(RTLD_DEFAULT, "libmalloc_heap_check");
  memcpy(&g_check, &sym, sizeof sym);  // (a cast is not ISO C)
  if (!g_check || argc < 2) return 2;
  if (strcmp(argv[1], "many") == 0) {
    volatile char* d = malloc(64);  // the oldest: the walk meets it last
    d[64] = 'X';                    // its right redzone
    d[-32] = 'Y';                   // its header's scratch link (below the seal)
    for (int i = 0; i < 15; ++i) {
      volatile char* b = malloc(64);
      b[64] = 'Z';
    }
    printf("heap check: %d\n", g_check());
    return 0;
  }
  if (strcmp(argv[1], "header") == 0) {
    char* a = malloc(64);
    char* b = malloc(64);
    volatile char* below = a < b ? b : a;  // (taken before the free: GCC warns of a use after it)
    free(a < b ? b : a);
    for (int i = 0; i < 200; ++i) free(malloc(64));  // on into the FIFO
    for (int i = 24; i > 16; --i) below[-i] = 'Q';  // the header's seal
    int c1 = g_check(), c2 = g_check(), c3 = g_check();
    printf("heap checks: %d %d %d\n", c1, c2, c3);
    free(a < b ? a : b);
    return 0;
  }
  if (strcmp(argv[1], "restore") == 0) {
    volatile char* p = malloc(64);
    char saved[8];
    for (int i = 0; i < 8; ++i) saved[i] = p[i - 24];  // the seal
    for (int i = 0; i < 8; ++i) p[i - 24] = 'Q';
    int c1 = g_check();
    for (int i = 0; i < 8; ++i) p[i - 24] = saved[i];
    int c2 = g_check();
    printf("heap checks: %d %d\n", c1, c2);
    free((void*)p);
    return 0;
  }
  if (strcmp(argv[1], "exit-many") == 0) {
    for (int i = 0; i < 40; ++i) {
      volatile char* b = malloc(48);
      b[48] = 'Z';
    }
    puts("40 overflows");
    return 0;
  }
  if (strcmp(argv[1], "quarantined") == 0) {
    char* a = malloc(32);
    char* b = malloc(32);
    if (b < a) {
      char* t = a;
      a = b;
      b = t;
    }
    volatile uintptr_t below = (uintptr_t)b - 1;  // (a number: GCC warns of a use after free)
    free(b);
    *(volatile char*)below = 'X';
    printf("heap check: %d\n", g_check());
    free(a);
    return 0;
  }
  if (strcmp(argv[1], "damaged-free") == 0) {
    volatile char* p = malloc(100);
    for (int i = 0; i < 8; ++i) p[i - 24] = 'Q';  // the seal
    free((void*)p);
    puts("freed");
    return 0;
  }
  if (strcmp(argv[1], "late-free") == 0) {
    char* keep = malloc(4 << 20);  // a block below, live
    volatile uintptr_t p = (uintptr_t)malloc(300000);  // (a number: GCC warns of the double free)
    free((void*)p);
    for (int i = 0; i < 12; ++i) free(malloc(1 << 20));  // out of the 4 MiB quarantine, unmapped
    free((void*)p);
    free(keep);
    puts("freed twice");
    return 0;
  }
  if (strcmp(argv[1], "race") == 0) {
    pthread_t a, b;
    if (pthread_create(&a, NULL, overflowing, NULL) || pthread_create(&b, NULL, checking, NULL)) return 2;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("overflows: %d\n", kRaceBlocks);
    return 0;
  }
  return 2;
}
