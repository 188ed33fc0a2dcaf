// rz_stale_scan.c: a stack whose frame-pointer chain ends early (mid() and
// main() have none, built -O2) over an array never written (run by
// stacks.sh, mode stale-scan, with LD_BIND_NOW=1). The walk then scans for
// return addresses, and the array still holds what start-up left at that
// depth: libmalloc's own frames (its option parsing) and the loader's. Both
// once filled the allocation stack, and main was lost past the 16-frame
// limit. The allocation stack must read inner, mid, ..., main with no frame
// of libmalloc or the loader (libc's start-up words may remain).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void* volatile g_keep;

__attribute__((noinline)) void churn(void) {
  volatile char pad[256];
  __asm__ volatile("" : : "r"(pad) : "memory");
  for (int i = 0; i < 8; ++i) free(malloc(100 + (size_t)i));
}

__attribute__((noinline, optimize("no-omit-frame-pointer"))) void inner(void) {
  char* p = malloc(77);
  volatile size_t end = 77;  // (a constant index: the compiler sees the overflow)
  ((volatile char*)p)[end] = 1;  // reported by the free below, with p's allocation stack
  free(p);
  __asm__ volatile("" : : : "memory");
}

__attribute__((noinline)) void mid(void) {
  volatile char room[1024];  // never written
  __asm__ volatile("" : : "r"(room) : "memory");
  inner();
  __asm__ volatile("" : : : "memory");
}

int main(int argc, char** argv) {
  if (argc < 2 || strncmp(argv[1], "stale-scan", 10) != 0) return 2;
  churn();
  mid();
  puts("END");
  return 0;
}
