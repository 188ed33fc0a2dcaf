// rz_roots.c MODE: blocks reachable only from roots the leak scan (redzone
// mode, detect_leaks=1) used to miss; run by clean.sh, which expects no report.
//   tls-main      the main thread's __thread variable holds the block while
//                 another thread calls exit(): the main thread's TLS is in a
//                 mapping of the loader's, not in its stack
//   quiet-thread  a thread that never allocated holds the block on its
//                 stack (it received the pointer through a pipe) while main
//                 exits: no stack capture ever recorded its stack
//   zero-global   100 malloc(0) blocks held by a global array (the last one,
//                 0 bytes at the highest address, was not found by address)
//   guarded-bss   a PROT_NONE page inside the program's own .bss (the scan
//                 of writable segments crashed on it); also with munmap
//   unmapped-bss  the same page unmapped
//   held N        (leaks_sweep.sh) N blocks of 32 bytes held by a global
//                 array, and one of 77 bytes leaked: the leak check's own
//                 lists, mapped next to the main thread's TLS (the kernel
//                 merges the lines), were scanned as a root with it, and
//                 no leak was reported for some N
//   lost N [SIZE] (leaks.sh) N blocks, SIZE+i bytes each (SIZE 40 unless
//                 given), held only by a global array that is cleared: every
//                 one must be reported
//   exited-tls    (leaks.sh) a thread's __thread variable and its stack each
//   exited-stack  hold a block when it exits: glibc keeps its stack (TLS
//                 included) for reuse, and the scan took that mapping for a
//                 quiet thread's stack: neither leak was reported
//   exited-stack-tid [LAST]  (leaks_exited.sh) exited-stack, printing the
//                 thread's id and the high half of its descriptor's address;
//                 LAST written to ns_last_pid first (the next id)
//   exited-oddsize (leaks.sh) exited-stack, the thread's stack size no page
//                 multiple (the 555 bytes were not reported; so too
//                 exited-stack in rz_roots_tls128, built with RZ_TLS128)
//   guard-top     (leaks.sh) a stack-shaped mapping whose top page is a
//                 guard page (MADV_GUARD_INSTALL); one block of 33 leaked
//                 (the scan faulted at exit)
//   main-exit     (leaks.sh) the main thread calls pthread_exit while two
//                 threads hold blocks on their stacks; one block of 55
//                 leaked (both held ones were reported)
//   setstack-lower (leaks.sh) a thread on a stack of the program's own, in
//                 the lower half of its mapping, holds a block; one of 66
//                 leaked (the held one was reported)
//   setstack-first (leaks.sh) exited-stack after a thread on a stack of the
//                 program's own with an unaligned top (the 555 bytes were
//                 not reported)
//   exited-result (leaks.sh) a thread's return value, taken by
//                 pthread_join and dropped: a leak (the exited thread's
//                 cached descriptor still holds it: it must not be a root)
//   coro-held     a suspended coroutine (mmap'd stack between guard pages)
//                 holds a block, after a thread allocated: the exited-stack
//                 test read the word where a glibc descriptor would be (0)
//                 and skipped the live stack (a false leak)
//   custom-first  the first thread to allocate runs on a stack of the
//                 program's own (a wrong layout learnt); a default-stack
//                 thread that never allocated holds a block at exit
//   quiet-reused  quiet-thread on the cached stack of a thread that
//                 allocated (and freed) and exited: its stack is a live
//                 thread's again, a root (no report)
//   many-running N (leaks.sh) N threads each hold a block on their stack and
//                 wait while a child process exits, with one block of 777
//                 bytes leaked: only that one is reported, and the child's
//                 peak RSS stays under 64 MiB + 1 MiB per thread (the scan
//                 read the whole 8 MiB stack mapping of every running
//                 thread, and on kernels that back a read fault with a
//                 fresh page that made it all resident: 830 MB for 100)
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static __thread char* t_held;
#ifdef RZ_TLS128
// Thread-local data wanting 128-byte alignment (rz_roots_tls128): glibc
// then puts every thread's descriptor 64 bytes below its stack mapping's
// end, and a layout learnt only from descriptors at the very end was never
// learnt: exited threads' leaks went unreported.
static __thread char t_aligned[128] __attribute__((aligned(128)));
#endif
static int g_to_holder[2], g_from_holder[2];

static void* quitter(void* arg) {
  (void)arg;
  usleep(50000);
  printf("exit from a second thread\n");
  fflush(stdout);
  exit(0);
}

static void* holder(void* arg) {
  (void)arg;
  char* volatile mine = NULL;
  if (read(g_to_holder[0], (void*)&mine, sizeof mine) != sizeof mine) return NULL;
  char c = 1;
  if (write(g_from_holder[1], &c, 1) != 1) return NULL;
  for (;;) pause();
  return mine;
}

__attribute__((noinline)) static void give(void) {
  char* p = malloc(200);
  memset(p, 1, 200);
  if (write(g_to_holder[1], &p, sizeof p) != sizeof p) exit(2);
  p = NULL;
}

// Overwrites the dead stack below main's frame, where give()'s copy of the
// pointer was.
__attribute__((noinline)) static void scrub(void) {
  volatile char junk[8192];
  memset((char*)junk, 0, sizeof junk);
}

static void* keeper_tls(void* arg) {
  (void)arg;
  t_held = malloc(321);
  return NULL;
}

static void* keeper_stack(void* arg) {
  (void)arg;
  char* volatile mine = malloc(555);
  mine[0] = 1;
  return NULL;
}

// keeper_stack that also says its thread id and the high half of its
// descriptor's address (for leaks_exited.sh's tid-alias case).
static int g_keeper_tid;
static unsigned g_keeper_high;
static void* keeper_stack_tid(void* arg) {
  g_keeper_tid = gettid();
  g_keeper_high = (unsigned)((unsigned long)pthread_self() >> 32);
  return keeper_stack(arg);
}

// Returns a block; main takes it from pthread_join and drops it: a leak,
// though glibc's cached descriptor of the thread still holds the result.
static void* keeper_result(void* arg) {
  (void)arg;
  return malloc(222);
}

static int join_and_drop_result(void) {
  pthread_t t;
  void* volatile r = NULL;
  if (pthread_create(&t, NULL, keeper_result, NULL) != 0 || pthread_join(t, (void**)&r) != 0 || !r) return 2;
  r = NULL;
  return 0;
}

static void* allocator(void* arg) {
  (void)arg;
  free(malloc(100));
  return NULL;
}

static int run_and_join(void* (*fn)(void*)) {
  pthread_t t;
#ifdef RZ_TLS128
  t_aligned[0] = 1;
#endif
  return pthread_create(&t, NULL, fn, NULL) == 0 && pthread_join(t, NULL) == 0 ? 0 : 2;
}

// A mapping shaped like a thread stack (read-write above an inaccessible
// page) whose top page is a guard page madvise(MADV_GUARD_INSTALL) put
// there (Linux 6.13; elsewhere the advice fails and nothing is guarded):
// the scan looked for a descriptor there and faulted at exit. One leak.
static void* alloc_free(void* arg) {
  (void)arg;
  free(malloc(10));
  return NULL;
}
static void leak(size_t size);
static int guard_top(void) {
  if (run_and_join(alloc_free) != 0) return 2;  // (a thread's layout learnt)
  char* m = mmap(NULL, 6 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  // [0] inaccessible, [1, 5) read-write with [4] guarded, [5] read-only (no
  // merging with a mapping above).
  if (m == MAP_FAILED || mprotect(m, 4096, PROT_NONE) != 0 || mprotect(m + 5 * 4096, 4096, PROT_READ) != 0) return 2;
  m[4096] = 1;
  printf("guard install: %d\n", madvise(m + 4 * 4096, 4096, 102 /* MADV_GUARD_INSTALL */));
  leak(33);
  return 0;
}

// exited-stack with a stack size that is no page multiple: glibc puts the
// descriptor ~2.4 KiB below the mapping's end (the same failure).
static int exited_oddsize(void) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_t t;
  if (pthread_attr_setstacksize(&attr, 100000) != 0 || pthread_create(&t, &attr, keeper_stack, NULL) != 0 ||
      pthread_join(t, NULL) != 0)
    return 2;
  return 0;
}

// A thread that never allocates receives a block through a pipe and holds
// it on its stack while main exits.
static int quiet_holder(void) {
  pthread_t t;
  if (pipe(g_to_holder) != 0 || pipe(g_from_holder) != 0) return 2;
  if (pthread_create(&t, NULL, holder, NULL) != 0) return 2;
  give();
  scrub();
  char c;
  if (read(g_from_holder[0], &c, 1) != 1) return 2;
  printf("exit with the block held by a thread that never allocated\n");
  return 0;
}

static ucontext_t g_main_ctx, g_co_ctx;

static void coroutine(void) {
  char* volatile p = malloc(100);
  strcpy(p, "held by the coroutine");
  swapcontext(&g_co_ctx, &g_main_ctx);
  puts(p);  // (never resumed)
}

static int coro_held(void) {
  if (run_and_join(allocator) != 0) return 2;
  const size_t size = 64 * 1024;
  char* m = mmap(NULL, size + 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED || mprotect(m, 4096, PROT_NONE) != 0 || mprotect(m + 4096 + size, 4096, PROT_NONE) != 0) return 2;
  getcontext(&g_co_ctx);
  g_co_ctx.uc_stack.ss_sp = m + 4096;
  g_co_ctx.uc_stack.ss_size = size;
  g_co_ctx.uc_link = &g_main_ctx;
  makecontext(&g_co_ctx, coroutine, 0);
  swapcontext(&g_main_ctx, &g_co_ctx);
  printf("coroutine suspended\n");
  return 0;
}

static int custom_first(void) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  const size_t size = 1 << 20;
  void* stack = malloc(size);
  pthread_t t;
  if (pthread_attr_setstack(&attr, stack, size) != 0 || pthread_create(&t, &attr, allocator, NULL) != 0 ||
      pthread_join(t, NULL) != 0)
    return 2;
  free(stack);
  return quiet_holder();
}

static pthread_barrier_t g_running;

static void* running_holder(void* arg) {
  (void)arg;
  char* volatile held = malloc(64);
  memset(held, 3, 64);
  pthread_barrier_wait(&g_running);
  for (;;) pause();
  return NULL;
}

static void* volatile g_blocks[100];

static int many_running(int n) {
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    // No huge pages for the threads' stacks (THP=always on older kernels
    // backs them with 2 MiB pages, whatever the scan reads).
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    pthread_barrier_init(&g_running, NULL, (unsigned)n + 1);
    pthread_t t;
    for (int i = 0; i < n; ++i)
      if (pthread_create(&t, NULL, running_holder, NULL) != 0) _exit(2);
    pthread_barrier_wait(&g_running);
    g_blocks[0] = malloc(777);  // the leak
    g_blocks[0] = NULL;
    scrub();
    exit(0);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid) return 2;
  long limit_kb = (64 + n) * 1024L;
  printf("child: status %d, peak RSS %ld KiB (limit %ld)\n", status, ru.ru_maxrss, limit_kb);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
  return ru.ru_maxrss > limit_kb ? 4 : 0;
}
static char g_area[3 * 4096] __attribute__((aligned(4096)));

// Threads running on stacks given by `attr` (NULL: glibc's) hold a block of
// `size` bytes each on their stacks (running_holder's 64).
static void start_holders(pthread_attr_t* attr, int n) {
  pthread_t t;
  for (int i = 0; i < n; ++i)
    if (pthread_create(&t, attr, running_holder, NULL) != 0) exit(2);
}

// Leaks a block of `size` bytes (held by a global, then cleared).
static void leak(size_t size) {
  g_blocks[0] = malloc(size);
  g_blocks[0] = NULL;
  scrub();
}

static void* exit_later(void* arg) {
  (void)arg;
  usleep(50000);
  exit(0);
}

// The main thread leaves with pthread_exit while two threads hold blocks on
// their stacks; a third calls exit(). /proc/self/maps (the main thread's)
// reads empty by then: the scan found no stacks and reported both blocks.
static int main_exit(void) {
  pthread_barrier_init(&g_running, NULL, 3);
  start_holders(NULL, 2);
  pthread_barrier_wait(&g_running);
  leak(55);
  pthread_t t;
  if (pthread_create(&t, NULL, exit_later, NULL) != 0) return 2;
  pthread_exit(NULL);
}

// A thread on the lower half of a mapping of the program's own (the mapping
// goes on above the stack's top) holds a block: the scan wanted the mapping
// to end at the stack's top and skipped it (a false leak). One leak.
static int setstack_lower(void) {
  const size_t size = 256 << 10;
  char* m = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (m == MAP_FAILED || pthread_attr_setstack(&attr, m, size) != 0) return 2;
  pthread_barrier_init(&g_running, NULL, 2);
  start_holders(&attr, 1);
  pthread_barrier_wait(&g_running);
  leak(66);
  return 0;
}

// The first thread runs on a stack of the program's own whose top is no
// page's end (its descriptor elsewhere than glibc puts it): the layout was
// taken for "mixed" for good, and the exited thread's stack below scanned
// as a live one (its 555-byte block not reported).
static int setstack_first(void) {
  const size_t size = (256 << 10) + 1000;
  char* stack = malloc(size);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (pthread_attr_setstack(&attr, stack + 8, size - 8) != 0) return 2;
  pthread_barrier_init(&g_running, NULL, 3);
  start_holders(&attr, 1);
  start_holders(NULL, 1);
  pthread_barrier_wait(&g_running);
  return run_and_join(keeper_stack);
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (strcmp(argv[1], "zero-global") == 0) {
    printf("100 blocks of 0 bytes\n");  // (stdout's buffer first: the last block is the highest)
    fflush(stdout);
    for (int i = 0; i < 100; ++i) g_blocks[i] = malloc(0);
    return 0;
  }
  if (strcmp(argv[1], "guarded-bss") == 0 || strcmp(argv[1], "unmapped-bss") == 0) {
    g_blocks[0] = malloc(10);
    g_area[0] = 1;
    if (strcmp(argv[1], "guarded-bss") == 0 ? mprotect(g_area + 4096, 4096, PROT_NONE) != 0
                                            : munmap(g_area + 4096, 4096) != 0)
      return 3;
    printf("a page of .bss is gone\n");
    return 0;
  }
  if (strcmp(argv[1], "held") == 0 && argc > 2) {
    int n = atoi(argv[2]);
    void** keep = malloc((size_t)n * sizeof *keep);
    for (int i = 0; i < n; ++i) keep[i] = malloc(32);
    g_blocks[0] = keep;
    g_blocks[1] = malloc(77);  // the leak
    g_blocks[1] = NULL;
    return 0;
  }
  if (strcmp(argv[1], "many-running") == 0 && argc > 2) return many_running(atoi(argv[2]));
  if (strcmp(argv[1], "lost") == 0 && argc > 2) {
    int n = atoi(argv[2]);
    if (n > 100) return 2;
    size_t size = argc > 3 ? strtoul(argv[3], NULL, 10) : 40;
    for (int i = 0; i < n; ++i) g_blocks[i] = malloc(size + (size_t)i);
    for (int i = 0; i < n; ++i) g_blocks[i] = NULL;
    scrub();
    return 0;
  }
  pthread_t t;
  if (strcmp(argv[1], "tls-main") == 0) {
    t_held = malloc(300);
    memset(t_held, 2, 300);
    if (pthread_create(&t, NULL, quitter, NULL) != 0) return 2;
    for (;;) pause();
  }
  if (strcmp(argv[1], "coro-held") == 0) return coro_held();
  if (strcmp(argv[1], "custom-first") == 0) return custom_first();
  if (strcmp(argv[1], "exited-tls") == 0) return run_and_join(keeper_tls);
  if (strcmp(argv[1], "exited-result") == 0) return join_and_drop_result();
  if (strcmp(argv[1], "exited-stack") == 0) return run_and_join(keeper_stack);
  if (strcmp(argv[1], "exited-oddsize") == 0) return exited_oddsize();
  if (strcmp(argv[1], "guard-top") == 0) return guard_top();
  if (strcmp(argv[1], "main-exit") == 0) return main_exit();
  if (strcmp(argv[1], "setstack-lower") == 0) return setstack_lower();
  if (strcmp(argv[1], "setstack-first") == 0) return setstack_first();
  if (strcmp(argv[1], "exited-stack-tid") == 0) {
    if (argc > 2) {  // the id the thread should get, less one (root only)
      int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
      if (fd < 0 || write(fd, argv[2], strlen(argv[2])) != (ssize_t)strlen(argv[2])) return 2;
      close(fd);
    }
    int rc = run_and_join(keeper_stack_tid);
    printf("tid %d high %u\n", g_keeper_tid, g_keeper_high);
    return rc;
  }
  if (strcmp(argv[1], "quiet-reused") == 0 && run_and_join(allocator) != 0) return 2;
  if (strcmp(argv[1], "quiet-thread") == 0 || strcmp(argv[1], "quiet-reused") == 0) return quiet_holder();
  return 2;
}
