// bench/glibc_shim.cpp: a preload shim that forwards the malloc family to glibc's own
// allocator (__libc_malloc and friends). Debian's redis-server links jemalloc, so running
// it with no preload measures jemalloc, not glibc; preloading this shim restores glibc.
// Only for the benchmark runner; not part of libmalloc.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <new>

extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void* __libc_valloc(size_t);
void* __libc_pvalloc(size_t);

#define SHIM_EXPORT __attribute__((visibility("default")))

SHIM_EXPORT void* malloc(size_t n) { return __libc_malloc(n); }
SHIM_EXPORT void free(void* p) { __libc_free(p); }
SHIM_EXPORT void* calloc(size_t n, size_t s) { return __libc_calloc(n, s); }
SHIM_EXPORT void* realloc(void* p, size_t n) { return __libc_realloc(p, n); }
SHIM_EXPORT void* memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
SHIM_EXPORT void* valloc(size_t n) { return __libc_valloc(n); }
SHIM_EXPORT void* pvalloc(size_t n) { return __libc_pvalloc(n); }
SHIM_EXPORT void* aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }

SHIM_EXPORT void* reallocarray(void* p, size_t n, size_t s) {
  size_t total;
  if (__builtin_mul_overflow(n, s, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_realloc(p, total);
}

SHIM_EXPORT int posix_memalign(void** out, size_t a, size_t n) {
  if (a < sizeof(void*) || (a & (a - 1)) != 0) return EINVAL;
  int saved = errno;
  void* p = __libc_memalign(a, n);
  if (!p) return ENOMEM;
  errno = saved;
  *out = p;
  return 0;
}

// glibc's malloc_usable_size is not reachable under another name, and a program that links
// jemalloc would find jemalloc's; read glibc's chunk header instead (size field below the
// pointer; bit 1 = mmapped chunk, which has 16 bytes of overhead instead of 8).
SHIM_EXPORT size_t malloc_usable_size(void* p) {
  if (!p) return 0;
  uint64_t sz = reinterpret_cast<const uint64_t*>(p)[-1];
  uint64_t size = sz & ~uint64_t(7);
  return (sz & 2) ? size - 16 : size - 8;
}
}  // extern "C"

// C++ operators, so a program whose new/delete would resolve to jemalloc's exports uses
// glibc as well.
SHIM_EXPORT void* operator new(size_t n) {
  void* p = __libc_malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
SHIM_EXPORT void* operator new[](size_t n) { return operator new(n); }
SHIM_EXPORT void* operator new(size_t n, const std::nothrow_t&) noexcept { return __libc_malloc(n ? n : 1); }
SHIM_EXPORT void* operator new[](size_t n, const std::nothrow_t&) noexcept { return __libc_malloc(n ? n : 1); }
SHIM_EXPORT void operator delete(void* p) noexcept { __libc_free(p); }
SHIM_EXPORT void operator delete[](void* p) noexcept { __libc_free(p); }
SHIM_EXPORT void operator delete(void* p, size_t) noexcept { __libc_free(p); }
SHIM_EXPORT void operator delete[](void* p, size_t) noexcept { __libc_free(p); }
SHIM_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { __libc_free(p); }
SHIM_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { __libc_free(p); }
