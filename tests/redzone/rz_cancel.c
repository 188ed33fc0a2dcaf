// rz_cancel.c MODE: threads with a pending deferred pthread_cancel inside
// libmalloc, in redzone mode. malloc and free are no cancellation points
// (glibc's use its *_nocancel calls); libmalloc's reports and stack lookups
// read and wrote files through libc's open/read/write, which are.
//   first-malloc      (clean.sh) a thread's first malloc, with a cancel
//                     pending, returns: the stack lookup behind its first
//                     capture unwound the thread out of malloc.
//   report-cancelled  (exit_abort.sh) a thread with a cancel pending frees
//                     a block it overflowed: the report must end in abort.
//                     The thread was unwound out of the report holding its
//                     lock (no destructors run in libmalloc), and the next
//                     report hung for good.
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int g_ready, g_go;

static void* first_malloc(void* arg) {
  (void)arg;
  atomic_store(&g_ready, 1);
  while (!atomic_load(&g_go)) {
  }
  void* (*volatile m)(size_t) = malloc;  // (no call the compiler may fold)
  free(m(100));
  printf("malloc returned\n");  // (a cancellation point: the thread ends here)
  fflush(stdout);
  return NULL;
}

static void* overflowing(void* arg) {
  (void)arg;
  void* (*volatile m)(size_t) = malloc;
  free(m(8));  // the first capture (the stack lookup) done
  atomic_store(&g_ready, 1);
  while (!atomic_load(&g_go)) {
  }
  char* p = m(32);
  ((volatile char*)p)[32] = 'x';
  free(p);  // the report: it must abort
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  void* (*fn)(void*) = strcmp(argv[1], "first-malloc") == 0       ? first_malloc
                       : strcmp(argv[1], "report-cancelled") == 0 ? overflowing
                                                                   : NULL;
  if (!fn) return 2;
  pthread_t t;
  if (pthread_create(&t, NULL, fn, NULL) != 0) return 2;
  while (!atomic_load(&g_ready)) {
  }
  pthread_cancel(t);
  atomic_store(&g_go, 1);
  void* result = NULL;
  pthread_join(t, &result);
  if (fn == overflowing) {  // (not reached: the report aborted)
    char* q = malloc(48);
    ((volatile char*)q)[48] = 'y';
    free(q);
  }
  printf("joined: %s\n", result == PTHREAD_CANCELED ? "cancelled" : "returned");
  return 0;
}
