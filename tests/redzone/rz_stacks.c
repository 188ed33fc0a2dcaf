// rz_stacks.c: stack capture where the stack is not where it was at the
// thread's first capture (stacks.sh and clean.sh run it). Built at -O0
// with frame pointers.
//   deep-exit       exit() 2000 frames deep, blocks held by the frames'
//                   locals: no leak (the main stack grew after the first
//                   capture; the scan once read only its first extent)
//   deep-frames     an overflow of a block allocated 2000 frames deep: its
//                   allocation stack is full (was cut to the first page)
//   coro-first      the first allocation on a coroutine's stack, then blocks
//                   held by main's locals at exit(): no leak
//   coro-stale      the first allocation on coroutine A's stack, mapped with
//                   B's (one line of /proc/self/maps); B is unmapped, A
//                   allocates again: no crash (was SIGSEGV)
//   altstack-first  the thread's first allocation in a signal handler on an
//                   8 KiB alternate stack: no crash
//   altstack-report an overflow reported from a handler on an 8 KiB
//                   alternate stack: the report, then "END"
//   wrapper         an overflow of a block from xmalloc (no frame pointer,
//                   rbp left alone) called by user_fn: the stack names
//                   xmalloc, user_fn, main in a row
//   stale-frame     a double free of a block stale_g allocated through
//                   stale_f (with a frame), after stale_x had called
//                   stale_f: stale_x's return address left among stale_f's
//                   locals must not appear (stale_f, stale_g, main)
//   cache-ways      one allocating function at one depth under 8 callers,
//                   in turns (the capture cache keeps several traces per
//                   call site and depth): each of 8 overflows names its
//                   block's own caller
//   text-table      a pointer into a data table in .text (rz_text_table.S)
//                   on the stack while allocating: no crash (reading the
//                   "GOT slot" its bytes name was SIGSEGV)
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static volatile char g_touch;
// Called through a pointer: GCC takes a direct exit() at the bottom of the
// recursion for a path that never returns (-Winfinite-recursion).
static void (*volatile g_exit)(int) = exit;

__attribute__((noinline)) static void deep(int n, int bug) {
  char* volatile held = malloc(64);  // live until exit: held by this frame only
  volatile char pad[1500];
  pad[n % 1500] = (char)n;
  if (n > 0) {
    deep(n - 1, bug);
  } else {
    if (bug) {
      char* p = malloc(10);
      p[10] = 1;
      free(p);
      printf("END\n");
    }
    g_exit(0);
  }
  g_touch = pad[n % 1500];
  free(held);
}

static ucontext_t uc_main, uc_a;
static void coro_first_body(void) { free(malloc(32)); }

#define CORO_STACK (64 * 1024)
__attribute__((noinline)) static void* path2(void) { return malloc(48); }
static void coro_stale_body(void) {
  free(malloc(32));  // the thread's first capture
  swapcontext(&uc_a, &uc_main);
  free(path2());  // after B's stack was unmapped
}

static int g_report;
static void on_signal(int sig) {
  (void)sig;
  char* volatile p = malloc(10);
  if (g_report) p[10] = 1;
  free(p);
}
static int altstack(int report) {
  size_t size = 8192;  // SIGSTKSZ before glibc 2.34
  char* m = mmap(NULL, size + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED || mprotect(m, 4096, PROT_NONE) != 0) return 2;  // a guard page below
  stack_t ss = {.ss_sp = m + 4096, .ss_size = size, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) return 2;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR1, &sa, NULL);
  g_report = report;
  raise(SIGUSR1);
  printf("END\n");
  return 0;
}

// No frame pointer, and rbp untouched: the frame-pointer chain from the
// caller's rbp skips user_fn.
__attribute__((noinline, optimize("O2", "omit-frame-pointer"))) void* xmalloc(size_t n) {
  void* p = malloc(n);
  if (!p) abort();
  memset(p, 0, n);
  return p;
}
__attribute__((noinline)) static char* user_fn(size_t n) {
  char* r = xmalloc(n);
  __asm__ volatile("" ::: "memory");
  return r;
}

__attribute__((noinline)) void* stale_f(int n) {
  volatile char locals[48];  // left unwritten: stale words stay
  locals[0] = 1;
  g_touch = locals[0];
  return malloc((size_t)n);
}
__attribute__((noinline)) void* stale_x(int n) {
  void* p = stale_f(n);
  __asm__ volatile("" ::: "memory");
  return p;
}
static void* volatile g_sink;
__attribute__((noinline)) void stale_g(void) {
  void* a = stale_x(10);
  char* p = stale_f(20);  // stale_g -> stale_f, never through stale_x
  free(a);
  g_sink = p;
  free(p);
  free(g_sink);  // double free: the report shows p's allocation stack
  printf("END\n");
}

extern const unsigned char rz_text_table[];
__attribute__((noinline)) void* use_table(const unsigned char* volatile* slot) { return malloc(32 + (*slot)[11]); }
__attribute__((noinline)) static int text_table(void) {
  const unsigned char* volatile t = rz_text_table;  // a local pointing into .text
  void* p = use_table(&t);
  free(p);
  printf("ok\n");
  return 0;
}

// cache-ways: site() allocates at the same depth for every caller.
static char* g_ways_block[8];
__attribute__((noinline)) static void ways_site(int i) {
  free(g_ways_block[i]);
  g_ways_block[i] = malloc(16 + (size_t)i);
}
#define WAYS_CALLER(k) \
  __attribute__((noinline)) static void ways_caller_##k(void) { ways_site(k); }
WAYS_CALLER(0)
WAYS_CALLER(1)
WAYS_CALLER(2)
WAYS_CALLER(3)
WAYS_CALLER(4)
WAYS_CALLER(5)
WAYS_CALLER(6)
WAYS_CALLER(7)
static int cache_ways(void) {
  static void (*const callers[8])(void) = {ways_caller_0, ways_caller_1, ways_caller_2, ways_caller_3,
                                           ways_caller_4, ways_caller_5, ways_caller_6, ways_caller_7};
  for (int round = 0; round < 50; ++round)
    for (int k = 0; k < 8; ++k) callers[k]();
  for (int k = 0; k < 8; ++k) {
    g_ways_block[k][16 + k] = 1;  // one past the end
    fprintf(stderr, "CALLER %d\n", k);
    free(g_ways_block[k]);
  }
  printf("END\n");
  return 0;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "deep-exit") || !strcmp(mode, "deep-frames")) {
    free(malloc(1));  // the first capture, with the main stack still short
    deep(2000, !strcmp(mode, "deep-frames"));
  }
  if (!strcmp(mode, "coro-first")) {
    static char co_stack[CORO_STACK];  // static: nothing allocated before the coroutine runs
    getcontext(&uc_a);
    uc_a.uc_stack.ss_sp = co_stack;
    uc_a.uc_stack.ss_size = sizeof co_stack;
    uc_a.uc_link = &uc_main;
    makecontext(&uc_a, coro_first_body, 0);
    swapcontext(&uc_main, &uc_a);
    char* volatile kept = malloc(100);  // reachable from main's stack only
    printf("%d\n", kept != NULL);
    exit(0);
  }
  if (!strcmp(mode, "coro-stale")) {
    // One mapping for both stacks: one line of /proc/self/maps, as two
    // adjacent mappings would be.
    char* a = mmap(NULL, 2 * CORO_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) return 2;
    char* b = a + CORO_STACK;
    getcontext(&uc_a);
    uc_a.uc_stack.ss_sp = a;
    uc_a.uc_stack.ss_size = CORO_STACK;
    uc_a.uc_link = &uc_main;
    makecontext(&uc_a, coro_stale_body, 0);
    swapcontext(&uc_main, &uc_a);
    munmap(b, CORO_STACK);  // coroutine B's stack goes away
    swapcontext(&uc_main, &uc_a);
    printf("END\n");
    return 0;
  }
  if (!strcmp(mode, "altstack-first")) return altstack(0);
  if (!strcmp(mode, "altstack-report")) {
    free(malloc(1));
    return altstack(1);
  }
  if (!strcmp(mode, "wrapper")) {
    free(malloc(1));
    volatile size_t n = 10;
    char* p = user_fn(n);
    p[n] = 1;
    free(p);
    printf("END\n");
    return 0;
  }
  if (!strcmp(mode, "stale-frame")) {
    stale_g();
    return 0;
  }
  if (!strcmp(mode, "text-table")) return text_table();
  if (!strcmp(mode, "cache-ways")) return cache_ways();
  fprintf(stderr, "unknown mode '%s'\n", mode);
  return 2;
}
