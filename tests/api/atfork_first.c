// atfork_first.c: a program that registers its own pthread_atfork handlers
// before its first allocation, so before libmalloc registers its own (at
// its first malloc), and allocates in all three. POSIX runs prepare
// handlers in reverse order of registration and parent/child handlers in
// order: the program's run inside libmalloc's fork window, with every
// allocator lock held by the forking thread. glibc allows malloc there;
// libmalloc deadlocked (fork never returned). Run preloaded, linked with
// libmalloc.a, and in redzone mode; with other threads allocating, so that
// the locks are really taken.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const size_t kSizes[] = {24, 700, 5000, 40000, 200000, 3 << 20};
static atomic_int g_calls[3];
static atomic_int g_stop;

// Small, slab-sized, heap-sized and mmapped blocks, written and checked.
static void allocate_some(int which) {
  void* keep[sizeof kSizes / sizeof kSizes[0]];
  for (size_t i = 0; i < sizeof kSizes / sizeof kSizes[0]; ++i) {
    keep[i] = malloc(kSizes[i]);
    if (!keep[i]) abort();
    memset(keep[i], 'a' + (int)i, kSizes[i]);
  }
  keep[0] = realloc(keep[0], 100000);
  if (!keep[0] || ((char*)keep[0])[23] != 'a') abort();
  for (size_t i = 0; i < sizeof kSizes / sizeof kSizes[0]; ++i) free(keep[i]);
  atomic_fetch_add(&g_calls[which], 1);
}
static void prepare(void) { allocate_some(0); }
static void parent(void) { allocate_some(1); }
static void child(void) { allocate_some(2); }

static void* churn(void* arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    void* p = malloc(64 + (size_t)(rand() % 9000));
    free(p);
    void* q = malloc(150000);
    free(q);
  }
  return NULL;
}

int main(void) {
  // First thing: before anything in this program has called malloc.
  if (pthread_atfork(prepare, parent, child) != 0) return 2;
  alarm(30);  // a deadlock ends as SIGALRM, not as the test's timeout
  pthread_t t[2];
  for (int i = 0; i < 2; ++i)
    if (pthread_create(&t[i], NULL, churn, NULL) != 0) return 2;
  usleep(20000);
  for (int round = 0; round < 20; ++round) {
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      // The child's handler ran; the child allocates on as usual.
      allocate_some(2);
      _exit(atomic_load(&g_calls[2]) == 2 ? 0 : 3);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "FAIL: child %d ended with status %#x\n", round, status);
      return 1;
    }
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < 2; ++i) pthread_join(t[i], NULL);
  if (atomic_load(&g_calls[0]) != 20 || atomic_load(&g_calls[1]) != 20) {
    fprintf(stderr, "FAIL: prepare ran %d times, parent %d\n", atomic_load(&g_calls[0]), atomic_load(&g_calls[1]));
    return 1;
  }
  // Under libmalloc (preloaded or linked) it must be libmalloc that served.
  const char* want = getenv("LM_EXPECT_LIBMALLOC");
  if (want && *want == '1' && !dlsym(RTLD_DEFAULT, "libmalloc_version")) {
    fprintf(stderr, "FAIL: libmalloc is not loaded\n");
    return 1;
  }
  printf("ok: 20 forks with allocating atfork handlers registered first\n");
  return 0;
}
