/* rz_kasan.c: heap bugs caught at the faulting instruction by
 * compiler-assisted redzone mode (built with -fsanitize=kernel-address in
 * outline mode, run with LIBMALLOC_OPTIONS=redzone=1; see kasan.sh).
 * `rz_kasan MODE` prints "EXPECT kind=K addr=0x.. block=0x.. size=N" on
 * stderr before the bad access, and "CONTINUED" after it. `rz_kasan trimmed`
 * (run with quarantine_mb=1) maps pages of its own where the heap gave a
 * freed block back to the kernel and reads them: no report may follow.
 * `rz_kasan churn` (quarantine_mb=2) has threads allocate, reallocate and
 * free blocks of every size with every function, checking their contents
 * with instrumented accesses, while the thresholds move and malloc_trim
 * runs, with brk blocked: no report may follow. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile int sink;

__attribute__((noinline)) static int read_at(const int* p, long i) { return p[i]; }
__attribute__((noinline)) static void write_at(char* p, long i) { p[i] = 1; }

/* One churn thread: slots of blocks whose bytes are i + tag, checked before
 * each change and after each realloc. Returns the number of bad bytes. */
static void* churn(void* arg) {
  unsigned long long s = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
  enum { kSlots = 64, kOps = 6000 };
  unsigned char* p[kSlots] = {0};
  size_t n[kSlots] = {0};
  unsigned char tag[kSlots] = {0};
  uintptr_t bad = 0;
  for (int op = 0; op < kOps; ++op) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    int i = (int)(s % kSlots);
    unsigned what = (unsigned)(s >> 8) % 100;
    size_t m = (s >> 16) % 4 == 0 ? (s >> 20) % 300000 : (s >> 20) % 600;
    for (size_t k = 0; k < n[i]; ++k) bad += p[i][k] != (unsigned char)(k + tag[i]);
    if (what < 30) {
      unsigned char* q = realloc(p[i], m);
      if (!q && m) return (void*)~(uintptr_t)0;
      size_t kept = n[i] < m ? n[i] : m;
      for (size_t k = 0; k < kept; ++k) bad += q[k] != (unsigned char)(k + tag[i]);
      p[i] = m ? q : NULL;
    } else {
      free(p[i]);
      void* q = NULL;
      if (what < 50) q = calloc(1, m);
      else if (what < 60 && posix_memalign(&q, (size_t)16 << ((s >> 40) % 10), m)) q = NULL;
      else if (what >= 60) q = malloc(m);
      if (what < 50) for (size_t k = 0; q && k < m; ++k) bad += ((unsigned char*)q)[k] != 0;
      p[i] = q;
      if (!q && m) return (void*)~(uintptr_t)0;
    }
    n[i] = p[i] ? m : 0;
    tag[i] = (unsigned char)(s >> 32);
    for (size_t k = 0; k < n[i]; ++k) p[i][k] = (unsigned char)(k + tag[i]);
    if (what == 99) {
      mallopt(M_MMAP_THRESHOLD, (s >> 24) % 2 ? 128 << 10 : 32 << 20);
      malloc_trim(0);
    }
  }
  for (int i = 0; i < kSlots; ++i) free(p[i]);
  return (void*)bad;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* m = argv[1];
  if (!strcmp(m, "read-overflow")) {
    int* p = malloc(10 * sizeof(int));
    fprintf(stderr, "EXPECT kind=heap-buffer-overflow addr=%p block=%p size=40 access=READ:4\n", (void*)(p + 10),
            (void*)p);
    sink = read_at(p, 10);
    free(p);
  } else if (!strcmp(m, "read-overflow-huge")) {
    /* A block past 64 MiB: its report lacked the block (a capped shadow walk). */
    size_t n = (size_t)100 << 20;
    int* p = malloc(n);
    fprintf(stderr, "EXPECT kind=heap-buffer-overflow addr=%p block=%p size=%zu access=READ:4\n",
            (void*)(p + n / sizeof(int)), (void*)p, n);
    sink = read_at(p, (int)(n / sizeof(int)));
    free(p);
  } else if (!strcmp(m, "write-underflow")) {
    char* p = malloc(100);
    fprintf(stderr, "EXPECT kind=heap-buffer-overflow addr=%p block=%p size=100 access=WRITE:1\n", (void*)(p - 3),
            (void*)p);
    write_at(p, -3);
    free(p);
  } else if (!strcmp(m, "read-after-free")) {
    int* p = malloc(64);
    free(p);
    fprintf(stderr, "EXPECT kind=heap-use-after-free addr=%p block=%p size=64 access=READ:4\n", (void*)(p + 2),
            (void*)p);
    sink = read_at(p, 2);
  } else if (!strcmp(m, "clean")) {
    /* In-bounds accesses of every size, the partial last granule included. */
    char* p = malloc(13);
    for (int i = 0; i < 13; ++i) write_at(p, i);
    int* q = malloc(12 * sizeof(int));
    long sum = 0;
    for (int i = 0; i < 12; ++i) q[i] = i;
    for (int i = 0; i < 12; ++i) sum += read_at(q, i);
    long long* r = calloc(4, sizeof *r);
    r[3] = sum;
    printf("clean %ld %lld %d\n", sum, r[3], p[12]);
    free(p);
    free(q);
    free(r);
  } else if (!strcmp(m, "trimmed")) {
    /* A 20 MiB heap block (threshold raised) in a continuation region (a
     * mapping blocks brk), freed, out of quarantine, trimmed away: the
     * addresses are free for anyone's mmap, and must read as addressable. */
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    free(malloc(100));
    uintptr_t end = ((uintptr_t)sbrk(0) + page - 1) & ~(page - 1);
    void* wall = mmap((void*)end, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (wall != (void*)end) return 3;
    const size_t n = 20 << 20;
    char* p = malloc(n);
    if (!p) return 4;
    memset(p, 1, n);
    free(p);
    for (int i = 0; i < 4000; ++i) free(malloc(1000)); /* out of a 1 MiB quarantine */
    malloc_trim(0);
    int mapped = 0;
    long sum = 0;
    for (size_t off = 0; off + page <= n; off += n / 8) {
      uintptr_t a = ((uintptr_t)p + off + page - 1) & ~(page - 1);
      char* q = mmap((void*)a, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (q != (char*)a) continue;
      ++mapped;
      for (uintptr_t k = 0; k < page; k += 64) sum += read_at((const int*)(q + k), 0);
    }
    printf("trimmed %d %ld\n", mapped, sum);
  } else if (!strcmp(m, "churn")) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    free(malloc(100));
    uintptr_t end = ((uintptr_t)sbrk(0) + page - 1) & ~(page - 1);
    mmap((void*)end, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    mallopt(M_TRIM_THRESHOLD, 0);
    pthread_t t[3];
    for (uintptr_t k = 0; k < 3; ++k) pthread_create(&t[k], NULL, churn, (void*)k);
    uintptr_t bad = 0;
    for (int k = 0; k < 3; ++k) {
      void* r;
      pthread_join(t[k], &r);
      bad += (uintptr_t)r;
    }
    printf("churn %lu\n", (unsigned long)bad);
  } else {
    return 2;
  }
  fprintf(stderr, "CONTINUED\n");
  return 0;
}
