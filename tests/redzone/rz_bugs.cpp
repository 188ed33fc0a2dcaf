// rz_bugs.cpp: one deliberate heap bug per mode, for check_reports.py.
// `rz_bugs MODE` prints "EXPECT kind=K addr=0x.. block=0x.. size=N" on
// stderr (unbuffered) just before the bug, then commits it, then prints
// "CONTINUED" and exits 0 (reached only with halt_on_error=0).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

// Weak: resolved from the preloaded libmalloc.so, or from libmalloc.a.
extern "C" int libmalloc_heap_check(void) __attribute__((weak));

namespace {

// Keeps the compiler from seeing through pointers and sizes.
template <class T>
T opaque(T v) {
  asm volatile("" : "+r"(v));
  return v;
}

void expect(const char* kind, const void* addr, const void* block, size_t size) {
  fprintf(stderr, "EXPECT kind=%s addr=%p block=%p size=%zu\n", kind, addr, block, size);
}

char* g_keep;  // a root for the leak test's reachable block

// Classes with a destructor: new[] of them stores an element count (the
// array cookie) below the elements, which delete[] reads.
int g_dtors;
struct WithDtor {
  long v[3];
  ~WithDtor() { g_dtors += opaque(1); }
};
struct alignas(64) AlignedWithDtor {
  long v[3];
  ~AlignedWithDtor() { g_dtors += opaque(1); }
};

__attribute__((noinline)) void overflow(size_t n, size_t by) {
  char* p = opaque(static_cast<char*>(malloc(n)));
  memset(p, 1, n);
  expect("heap-buffer-overflow", p + n + by - 1, p, n);
  p[opaque(n + by - 1)] = 'x';
  free(p);
}

__attribute__((noinline)) void underflow(size_t n) {
  char* p = opaque(static_cast<char*>(malloc(n)));
  expect("heap-buffer-overflow", p - 1, p, n);
  p[opaque(-1L)] = 'x';
  free(p);
}

// Underflows that skip the fill and the seal and land in the block's header
// (docs/redzone.md, "Block layout": with the default redzone_size the
// 80-byte header starts 96 bytes below the block; its list links at 48 and
// 56, its state at 37, its magic at 0). One byte is changed at `below`
// bytes under the block. A damaged link made the list code crash; a damaged
// state or magic was reported as a bad free of a live block.
__attribute__((noinline)) void underflow_header(size_t below, bool heap_check) {
  char* p = opaque(static_cast<char*>(malloc(64)));
  char* q = opaque(static_cast<char*>(malloc(64)));  // a list neighbour
  bool link = below == 96 - 56 || below == 96 - 48;
  // With the header's magic or state gone the block's size is unknown.
  expect("heap-buffer-overflow", p - below, link ? p : nullptr, link ? 64 : 0);
  p[-opaque(static_cast<long>(below))] ^= 0x41;
  if (heap_check) {
    if (!libmalloc_heap_check || libmalloc_heap_check() != -1) exit(3);
  }
  free(p);
  free(q);
  for (int i = 0; i < 200; ++i) free(opaque(malloc(100)));  // p's batch enters the FIFO
}

__attribute__((noinline)) void use_after_free(size_t n, bool churn) {
  char* p = opaque(static_cast<char*>(malloc(n)));
  free(p);
  expect("heap-use-after-free", p + n / 2, p, n);
  p[opaque(n / 2)] = 'x';
  if (churn)  // push it out of a 1 MiB quarantine
    for (int i = 0; i < 64; ++i) free(opaque(malloc(64 * 1024)));
}

// In a forked child: the parent's freed blocks (inherited in the FIFO) are
// not re-checked when the child exits, but the child's own are: this one is
// written after free and pushed from the thread's queue into the FIFO by
// more frees, then found at the child's exit.
__attribute__((noinline)) void use_after_free_in_forked_child(size_t n) {
  for (int i = 0; i < 2000; ++i) free(opaque(malloc(100)));  // the parent's quarantine
  pid_t pid = fork();
  if (pid == 0) {
    char* p = opaque(static_cast<char*>(malloc(n)));
    free(p);
    expect("heap-use-after-free", p + n / 2, p, n);
    p[opaque(n / 2)] = 'x';
    for (int i = 0; i < 1000; ++i) free(opaque(malloc(64)));
    exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) abort();  // the child's report ended it: end as it did
}

// The block is freed by another thread, whose queue of freed blocks goes to
// the quarantine when it exits; main's churn then pushes it out.
__attribute__((noinline)) void use_after_cross_thread_free(size_t n) {
  char* p = opaque(static_cast<char*>(malloc(n)));
  std::thread([p] { free(p); }).join();
  expect("heap-use-after-free", p + n / 2, p, n);
  p[opaque(n / 2)] = 'x';
  for (int i = 0; i < 64; ++i) free(opaque(malloc(64 * 1024)));
}

// Blocks leaving quarantine are recycled for new blocks of their size: the
// churn is of the same size, and the damaged block is still reported.
__attribute__((noinline)) void use_after_free_same_size_churn(size_t n) {
  char* p = opaque(static_cast<char*>(malloc(n)));
  free(p);
  expect("heap-use-after-free", p + n / 2, p, n);
  p[opaque(n / 2)] = 'x';
  for (int i = 0; i < 40000; ++i) free(opaque(malloc(n)));
}

__attribute__((noinline)) void leak() {
  g_keep = static_cast<char*>(malloc(100));  // reachable: not reported
  char* p = opaque(static_cast<char*>(malloc(1234)));
  expect("memory-leak", p, p, 1234);
  p = nullptr;
}

// A leaked block that points into itself (a std::string's short buffer,
// getaddrinfo's ai_addr) is a direct leak: its own pointer made it
// indirect, and nothing was reported as direct.
__attribute__((noinline)) void leak_self() {
  struct Node {
    char* text;
    char buf[40];
  };
  auto* n = opaque(static_cast<Node*>(malloc(sizeof(Node))));
  n->text = n->buf;
  strcpy(n->buf, "short");
  expect("memory-leak", n, n, sizeof(Node));
  n = nullptr;
}

// Overwrites the stack below this frame, so no stale copy of a leaked
// pointer survives there.
__attribute__((noinline)) void scrub_stack() {
  volatile char buf[16384];
  for (size_t i = 0; i < sizeof buf; ++i) buf[i] = 0;
}

}  // namespace

// Stack modes: the first frame of the allocating (and freeing) stack must be
// the program's function that called the entry point, whichever it is: an
// entry point that called on into libmalloc lost its caller (calloc,
// realloc, the aligned forms and operator new named themselves instead).
extern "C" __attribute__((noinline)) char* rz_allocate_via(const char* fn, size_t n) {
  void* p = nullptr;
  auto is = [&](const char* name) { return strcmp(fn, name) == 0; };
  if (is("malloc")) p = malloc(n);
  else if (is("calloc")) p = calloc(1, n);
  else if (is("realloc")) p = realloc(opaque(malloc(4)), n);
  else if (is("reallocarray")) p = reallocarray(opaque(malloc(4)), 1, n);
  else if (is("posix_memalign")) {
    if (posix_memalign(&p, 64, n) != 0) p = nullptr;
  } else if (is("aligned_alloc")) p = aligned_alloc(128, n);
  else if (is("memalign")) p = memalign(256, n);
  else if (is("valloc")) p = valloc(n);
  else if (is("pvalloc")) p = pvalloc(n);
  else if (is("new")) p = ::operator new(n);
  else if (is("new-array")) p = ::operator new[](n);
  else if (is("new-nothrow")) p = ::operator new(n, std::nothrow);
  else if (is("new-aligned")) p = ::operator new(n, std::align_val_t{64});
  else if (is("new-aligned-nothrow")) p = ::operator new[](n, std::align_val_t{64}, std::nothrow);
  return opaque(static_cast<char*>(p));
}

extern "C" __attribute__((noinline)) void rz_free_via(const char* fn, char* p, size_t n) {
  auto is = [&](const char* name) { return strcmp(fn, name) == 0; };
  if (is("new")) ::operator delete(p);
  else if (is("new-sized")) ::operator delete(p, n);
  else if (is("new-array")) ::operator delete[](p);
  else if (is("new-array-sized")) ::operator delete[](p, n);
  else if (is("new-aligned")) ::operator delete(p, std::align_val_t{64});
  else if (is("new-aligned-sized")) ::operator delete(p, n, std::align_val_t{64});
  else if (is("new-array-aligned")) ::operator delete[](p, std::align_val_t{64});
  else free(p);
}

namespace {
// Overflows a block from `fn` by one byte (the free reports it).
void stack_overflow(const char* fn) {
  const size_t n = strcmp(fn, "pvalloc") == 0 ? 4096 : 24;
  char* p = rz_allocate_via(fn, n);
  expect("heap-buffer-overflow", p + n, p, n);
  p[opaque(n)] = 0;
  const char* dealloc = strcmp(fn, "new-array") == 0             ? "new-array"
                        : strcmp(fn, "new-aligned") == 0           ? "new-aligned"
                        : strcmp(fn, "new-aligned-nothrow") == 0   ? "new-array-aligned"
                        : strncmp(fn, "new", 3) == 0               ? "new"
                                                                   : "free";
  rz_free_via(dealloc, p, n);
}
// Frees a block twice through the delete form `fn`.
void stack_double_free(const char* fn) {
  const char* alloc = strncmp(fn, "new-array", 9) == 0     ? "new-array"
                      : strncmp(fn, "new-aligned", 11) == 0 ? "new-aligned"
                      : strncmp(fn, "new", 3) == 0          ? "new"
                                                            : "malloc";
  char* p = rz_allocate_via(alloc, 24);
  rz_free_via(fn, p, 24);
  expect("double-free", p, p, 24);
  rz_free_via(fn, p, 24);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* m = argv[1];
  auto is = [&](const char* name) { return strcmp(m, name) == 0; };
  if (is("overflow1-small")) overflow(20, 1);
  else if (is("overflow16-small")) overflow(32, 16);
  else if (is("overflow-span")) {
    char* p = opaque(static_cast<char*>(malloc(40)));
    expect("heap-buffer-overflow", p + 40, p, 40);
    for (size_t i = 0; i < 16; ++i) p[opaque(40 + i)] = 'x';  // 16 bytes past the end
    free(p);
  } else if (is("overflow1-heap")) overflow(64 * 1024, 1);
  else if (is("overflow16-heap")) overflow(64 * 1024, 16);
  else if (is("overflow1-mmap")) overflow(1 << 20, 1);
  else if (is("overflow16-mmap")) overflow(1 << 20, 16);
  else if (is("underflow-small")) underflow(24);
  else if (is("underflow-mmap")) underflow(1 << 20);
  else if (is("underflow-header-next")) underflow_header(96 - 56, false);
  else if (is("underflow-header-prev")) underflow_header(96 - 48, false);
  else if (is("underflow-header-state")) underflow_header(96 - 37, false);
  else if (is("underflow-header-magic")) underflow_header(96 - 3, false);
  else if (is("overflow-heap-check-link")) underflow_header(96 - 56, true);
  else if (is("overflow-at-exit")) {
    char* p = opaque(static_cast<char*>(malloc(10)));
    expect("heap-buffer-overflow", p + 10, p, 10);
    p[opaque(10)] = 0;
  } else if (is("overflow-heap-check")) {
    char* p = opaque(static_cast<char*>(malloc(48)));
    expect("heap-buffer-overflow", p + 50, p, 48);
    p[opaque(50)] = 0;
    if (!libmalloc_heap_check || libmalloc_heap_check() != -1) return 3;
    free(p);
  } else if (is("overflow-realloc")) {
    char* p = opaque(static_cast<char*>(malloc(16)));
    expect("heap-buffer-overflow", p + 16, p, 16);
    p[opaque(16)] = 0;
    p = static_cast<char*>(realloc(p, 100));
    free(p);
  } else if (is("overflow-after-inplace-realloc")) {
    // realloc grows a block in place when its backing block has room (a
    // moved block leaves room to grow); the new end is checked as the old.
    char* p = opaque(static_cast<char*>(malloc(100)));
    p = opaque(static_cast<char*>(realloc(p, 200)));  // moves, leaves room to 300
    char* q = opaque(static_cast<char*>(realloc(p, 280)));
    if (q != p) return 4;  // grew in place
    expect("heap-buffer-overflow", q + 280, q, 280);
    q[opaque(280)] = 0;
    free(q);
  } else if (is("uaf-exit")) use_after_free(40, false);
  else if (is("uaf-quarantine")) use_after_free(40, true);
  else if (is("uaf-fork-child")) use_after_free_in_forked_child(40);
  else if (is("uaf-cross-thread")) use_after_cross_thread_free(40);
  else if (is("uaf-recycled")) use_after_free_same_size_churn(40);
  else if (is("uaf-usable-size")) {
    char* p = opaque(static_cast<char*>(malloc(30)));
    free(p);
    expect("heap-use-after-free", p, p, 30);
    if (malloc_usable_size(p) != 0) return 3;  // (reported; nothing usable)
  } else if (is("double-free")) {
    char* p = opaque(static_cast<char*>(malloc(30)));
    free(p);
    expect("double-free", p, p, 30);
    free(p);
  } else if (is("bad-free-stack")) {
    alignas(16) char buf[64];
    char* p = opaque(buf);
    expect("bad-free", p, nullptr, 0);
    free(p);
  } else if (is("bad-free-interior")) {
    char* p = opaque(static_cast<char*>(malloc(40)));
    expect("bad-free", p + 16, p, 40);
    free(p + opaque(16));
    free(p);
  } else if (is("new-array-free")) {
    int* a = opaque(new int[10]);
    expect("alloc-dealloc-mismatch", a, a, 40);
    free(a);
  } else if (is("malloc-delete")) {
    void* p = opaque(malloc(24));
    expect("alloc-dealloc-mismatch", p, p, 24);
    ::operator delete(p);
  } else if (is("new-delete-array")) {
    long* p = opaque(new long);
    expect("alloc-dealloc-mismatch", p, p, 8);
    delete[] p;
  } else if (is("new-delete-array-dtor")) {
    // delete[] reads an element count below the object: it must read 0 (no
    // destructor runs past the block) and the call must be reported.
    WithDtor* p = opaque(new WithDtor);
    expect("alloc-dealloc-mismatch", p, p, sizeof(WithDtor));
    delete[] p;
    if (g_dtors != 0) return 4;
  } else if (is("new-delete-array-interior")) {
    // delete[] of a pointer into the block below a new'd one, at a power of
    // two below the new'd one's start: a bad free of the lower block; the
    // new'd block (whose 8 bytes below read 0) must not be freed.
    char* a = opaque(new char[512]);
    WithDtor* b = opaque(new WithDtor);
    b->v[0] = 42;
    char* p = reinterpret_cast<char*>(b) - 512;
    if (p <= a || p >= a + 512) return 5;  // (the layout this test needs)
    expect("bad-free", p, a, 512);
    ::operator delete[](opaque(p));
    if (b->v[0] != 42) return 4;
    delete b;
    delete[] a;
  } else if (is("new-delete-array-dtor-aligned")) {
    AlignedWithDtor* p = opaque(new AlignedWithDtor);
    expect("alloc-dealloc-mismatch", p, p, sizeof(AlignedWithDtor));
    delete[] p;
    if (g_dtors != 0) return 4;
  } else if (strncmp(m, "stack-alloc-", 12) == 0) {
    stack_overflow(m + 12);
  } else if (strncmp(m, "stack-free-", 11) == 0) {
    stack_double_free(m + 11);
  } else if (is("leak")) {
    leak();
    scrub_stack();
  } else if (is("leak-self")) {
    leak_self();
    scrub_stack();
  } else {
    return 2;
  }
  fprintf(stderr, "CONTINUED\n");
  return 0;
}
