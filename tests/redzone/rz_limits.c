// rz_limits.c MODE: redzone mode under an address-space limit (limits.sh).
//   ring-retry  the quarantine ring's first mapping fails under a limit that
//               is lifted right after: blocks freed later must still wait in
//               the quarantine (a failure once turned it off for good).
//               Prints "handed back N" (N of 1000 freed 64-byte blocks that
//               the next 1000 allocations returned).
//   leak-nomem  leaks 10 blocks, then exits with no address space left: the
//               leak check cannot map its lists and must say so.
//   reclaim     under a limit 64 MiB above what is mapped, allocates
//               100-byte blocks until malloc fails, frees them all, then
//               asks for other sizes: they must be served (the freed memory
//               sat in the quarantine and in the 100-byte class, and
//               malloc kept failing). Prints "after freeing: ok".
//   shrink-nomem  a 64 MiB block cut to 30 MiB by realloc with 4 MiB of
//               address space left: a shrink never fails (it moved the block
//               and returned NULL when it could not). Prints "shrink: ok".
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static size_t vm_size(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t v = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmSize:", 7) == 0) v = strtoul(line + 7, NULL, 10) * 1024;
  fclose(f);
  return v;
}

static void limit_as(size_t bytes) {
  struct rlimit l;
  getrlimit(RLIMIT_AS, &l);
  l.rlim_cur = bytes;
  setrlimit(RLIMIT_AS, &l);
}

static char* g_a[1000];
static char* g_b[1000];
static void* volatile g_leaked;

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "ring-retry") == 0) {
    void* warm[300];
    for (int i = 0; i < 300; ++i) warm[i] = malloc(64);
    struct rlimit old;
    getrlimit(RLIMIT_AS, &old);
    limit_as(vm_size() + (1 << 20));
    for (int i = 0; i < 300; ++i) free(warm[i]);  // the first flush maps the ring
    setrlimit(RLIMIT_AS, &old);
    for (int i = 0; i < 1000; ++i) g_a[i] = malloc(64);
    for (int i = 0; i < 1000; ++i) free(g_a[i]);
    int back = 0;
    for (int i = 0; i < 1000; ++i) {
      g_b[i] = malloc(64);
      for (int j = 0; j < 1000; ++j)
        if (g_b[i] == g_a[j]) {
          ++back;
          break;
        }
    }
    for (int i = 0; i < 1000; ++i) free(g_b[i]);
    printf("handed back %d\n", back);
    return 0;
  }
  if (strcmp(mode, "leak-nomem") == 0) {
    for (int i = 0; i < 10; ++i) {
      g_leaked = malloc(100);
      memset(g_leaked, 1, 100);
    }
    g_leaked = NULL;
    fflush(stdout);
    limit_as(vm_size());
    return 0;
  }
  if (strcmp(mode, "shrink-nomem") == 0) {
    const size_t big = (size_t)64 << 20, small = (size_t)30 << 20;
    char* p = malloc(big);
    if (!p) return 2;
    memset(p, 'x', big);
    limit_as(vm_size() + (4 << 20));
    char* q = realloc(p, small);
    printf("shrink: %s\n", q && q[small - 1] == 'x' ? "ok" : "FAIL");
    free(q ? q : p);
    return 0;
  }
  if (strcmp(mode, "reclaim") == 0) {
    free(malloc(100));  // (set up first: chunks, ring, depot)
    limit_as(vm_size() + (64 << 20));
    void* head = NULL;
    size_t got = 0;
    for (void** p; (p = malloc(100)) != NULL; head = p, ++got) *p = head;
    while (head) {
      void* next = *(void**)head;
      free(head);
      head = next;
    }
    void* other[3] = {malloc(1000), malloc(5000), malloc(40000)};
    int ok = got > 0 && other[0] && other[1] && other[2];
    for (int i = 0; i < 3; ++i) free(other[i]);
    printf("after freeing: %s\n", ok ? "ok" : "FAIL");
    if (!ok) fprintf(stderr, "got %zu, others %p %p %p\n", got, other[0], other[1], other[2]);
    return 0;
  }
  fprintf(stderr, "unknown mode '%s'\n", mode);
  return 2;
}
