// rz_stackguard.c: thread stacks of the program's own (pthread_attr_setstack)
// whose top abuts memory that is not theirs: redzone mode's stack lookup must
// not read past the thread's descriptor at the top of its stack.
//   guard:    a guard page installed above the stack with
//             madvise(MADV_GUARD_INSTALL), which /proc/self/maps does not
//             show (Linux 6.13 and later; "unsupported" before);
//   protect:  a page mapped above it (one line in /proc/self/maps with the
//             stack), made unreadable once the thread has looked its stack
//             up; the thread then calls exit(), whose leak scan (with
//             detect_leaks=1) reads the thread's stack.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

enum { kStack = 256 * 1024 };
static pthread_barrier_t looked_up, protected_;
static int wait_between;

static void* worker(void* arg) {
  (void)arg;
  void* kept[64];
  for (int i = 0; i < 64; ++i) kept[i] = malloc(16 + i);
  if (wait_between) {
    pthread_barrier_wait(&looked_up);
    pthread_barrier_wait(&protected_);
  }
  for (int i = 0; i < 64; ++i) free(kept[i]);
  if (wait_between) {
    // exit() from this thread: the leak scan at exit reads its stack.
    printf("protect: ok\n");
    fflush(stdout);
    exit(0);
  }
  return malloc(24);  // freed by main
}

static int run(const char* mode) {
  long page = sysconf(_SC_PAGESIZE);
  char* region = mmap(NULL, kStack + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) return 3;
  char* above = region + kStack;
  if (!strcmp(mode, "guard")) {
    if (madvise(above, page, MADV_GUARD_INSTALL) != 0) {
      printf("guard: unsupported (%s)\n", strerror(errno));
      return 0;
    }
  } else {
    memset(above, 1, page);  // resident, readable, merged with the stack's line
    wait_between = 1;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstack(&attr, region, kStack);
  pthread_barrier_init(&looked_up, NULL, 2);
  pthread_barrier_init(&protected_, NULL, 2);
  pthread_t t;
  if (pthread_create(&t, &attr, worker, NULL) != 0) return 3;
  if (wait_between) {
    pthread_barrier_wait(&looked_up);
    if (mprotect(above, page, PROT_NONE) != 0) return 3;
    pthread_barrier_wait(&protected_);
  }
  void* last = NULL;
  pthread_join(t, &last);
  free(last);
  printf("%s: ok\n", mode);
  return 0;
}

int main(int argc, char** argv) {
  return run(argc > 1 ? argv[1] : "guard");
}
