// api.cpp: the exported C entry points: the malloc family with glibc's
// semantics and errno conventions, glibc's introspection functions and the
// libmalloc_* extensions (C++ operator new and delete are in new.cpp). One
// object file on purpose: in a -static link, the first reference to malloc
// pulls this object in, and with it every symbol glibc's malloc.o would have
// provided, so glibc's allocator is never linked.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <unistd.h>

#include "config/config.h"
#include "core/core.h"
#include "core/fast_path.h"
#include "libmalloc.h"
#include "os/os.h"

namespace {

using lm::core::Family;
using lm::uptr;

LM_FAST_PATH void* set_enomem_if_null(void* p) {
  if (LM_UNLIKELY(!p)) errno = ENOMEM;
  return p;
}

LM_FAST_PATH void* realloc_impl(void* p, size_t n, uptr ret) {
  if (!p) return lm::core::malloc(n, Family::kMalloc, ret);
  if (n == 0) {  // glibc: realloc(p, 0) frees p and returns NULL
    lm::core::free(p, "realloc()", Family::kMalloc, ret);
    return nullptr;
  }
  return set_enomem_if_null(lm::core::realloc(p, n, ret));
}

// glibc's memalign rounds a non-power-of-two alignment up to the next one;
// EINVAL only above 2^63, ENOMEM for an alignment no block can have.
LM_FAST_PATH void* memalign_impl(size_t align, size_t n, uptr ret) {
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return nullptr;
  }
  if (!lm::is_pow2(align)) align = align < 16 ? 16 : size_t{1} << (lm::log2_floor(align) + 1);
  return set_enomem_if_null(lm::core::memalign(align, n, Family::kMalloc, ret));
}

LM_FAST_PATH void* valloc_impl(size_t n, uptr ret) {
  return set_enomem_if_null(lm::core::memalign(lm::os::page_size(), n, Family::kMalloc, ret));
}

LM_FAST_PATH void* pvalloc_impl(size_t n, uptr ret) {
  size_t page = lm::os::page_size();
  if (n > lm::kMaxRequest - page) {
    errno = ENOMEM;
    return nullptr;
  }
  size_t rounded = lm::align_up(n ? n : 1, page);
  return set_enomem_if_null(lm::core::memalign(page, rounded, Family::kMalloc, ret));
}

int mallopt_impl(int param, int value) {
  lm::core::init();  // the environment is parsed before mallopt overrides it
  int ok = lm::config::mallopt(param, value);
  lm::core::tuning_changed();
  return ok;
}

// glibc's int-typed mallinfo truncates; so does ours.
struct mallinfo mallinfo_impl() {
  struct mallinfo2 m2;
  lm::core::fill_mallinfo2(&m2);
  struct mallinfo mi;
  mi.arena = static_cast<int>(m2.arena);
  mi.ordblks = static_cast<int>(m2.ordblks);
  mi.smblks = static_cast<int>(m2.smblks);
  mi.hblks = static_cast<int>(m2.hblks);
  mi.hblkhd = static_cast<int>(m2.hblkhd);
  mi.usmblks = static_cast<int>(m2.usmblks);
  mi.fsmblks = static_cast<int>(m2.fsmblks);
  mi.uordblks = static_cast<int>(m2.uordblks);
  mi.fordblks = static_cast<int>(m2.fordblks);
  mi.keepcost = static_cast<int>(m2.keepcost);
  return mi;
}

}  // namespace

extern "C" {

// The fast paths are inlined here; their slow paths set errno on failure.
// malloc and free start on a cache line: where the linker happened to put
// them moved the malloc/free pair by 0.3 ns (4.4 to 4.7-5.0 ns) from one
// unrelated change to the next.
LM_EXPORT __attribute__((aligned(64))) void* malloc(size_t n) { return lm::core::malloc_fast(n); }

LM_EXPORT __attribute__((aligned(64))) void free(void* p) { lm::core::free_fast(p, "free()"); }

LM_EXPORT void* calloc(size_t n, size_t size) { return set_enomem_if_null(lm::core::calloc(n, size, LM_CALLER)); }

LM_EXPORT void* realloc(void* p, size_t n) { return realloc_impl(p, n, LM_CALLER); }

LM_EXPORT void* reallocarray(void* p, size_t n, size_t size) {
  size_t total;
  if (lm::mul_overflows(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc_impl(p, total, LM_CALLER);
}

LM_EXPORT void* memalign(size_t align, size_t n) { return memalign_impl(align, n, LM_CALLER); }

// glibc 2.36 accepts any alignment here, as memalign does.
LM_EXPORT void* aligned_alloc(size_t align, size_t n) { return memalign_impl(align, n, LM_CALLER); }

LM_EXPORT int posix_memalign(void** out, size_t align, size_t n) {
  if (align % sizeof(void*) != 0 || !lm::is_pow2(align)) return EINVAL;
  int saved = errno;
  void* p = lm::core::memalign(align, n, Family::kMalloc, LM_CALLER);
  errno = saved;
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

LM_EXPORT void* valloc(size_t n) { return valloc_impl(n, LM_CALLER); }

LM_EXPORT void* pvalloc(size_t n) { return pvalloc_impl(n, LM_CALLER); }

LM_EXPORT size_t malloc_usable_size(void* p) { return lm::core::usable_size(p, LM_CALLER); }

LM_EXPORT int mallopt(int param, int value) { return mallopt_impl(param, value); }

LM_EXPORT int malloc_trim(size_t pad) { return lm::core::trim(pad); }

LM_EXPORT void malloc_stats(void) { lm::core::print_malloc_stats(); }

LM_EXPORT int malloc_info(int options, FILE* fp) { return lm::core::print_malloc_info(options, fp); }

LM_EXPORT struct mallinfo2 mallinfo2(void) {
  struct mallinfo2 mi;
  lm::core::fill_mallinfo2(&mi);
  return mi;
}

LM_EXPORT struct mallinfo mallinfo(void) { return mallinfo_impl(); }

// glibc exports its implementations under these names too; some programs
// and libraries call them directly, and a static link must find them here.
LM_EXPORT void* __libc_malloc(size_t n) { return lm::core::malloc_fast(n); }
LM_EXPORT void __libc_free(void* p) { lm::core::free_fast(p, "free()"); }
LM_EXPORT void* __libc_calloc(size_t n, size_t s) { return set_enomem_if_null(lm::core::calloc(n, s, LM_CALLER)); }
LM_EXPORT void* __libc_realloc(void* p, size_t n) { return realloc_impl(p, n, LM_CALLER); }
LM_EXPORT void* __libc_memalign(size_t a, size_t n) { return memalign_impl(a, n, LM_CALLER); }
LM_EXPORT void* __libc_valloc(size_t n) { return valloc_impl(n, LM_CALLER); }
LM_EXPORT void* __libc_pvalloc(size_t n) { return pvalloc_impl(n, LM_CALLER); }
LM_EXPORT int __libc_mallopt(int param, int value) { return mallopt_impl(param, value); }
LM_EXPORT struct mallinfo __libc_mallinfo(void) { return mallinfo_impl(); }
LM_EXPORT void cfree(void* p) { lm::core::free_fast(p, "free()"); }

// ---- libmalloc extensions (include/libmalloc.h) ----

LM_EXPORT int libmalloc_get_stats(struct libmalloc_stats* out) {
  lm::core::fill_stats(out);
  return 0;
}

LM_EXPORT void libmalloc_print_stats(int fd) {
  lm::core::init();
  lm::core::print_report(fd);
}

LM_EXPORT int libmalloc_heap_check(void) { return lm::core::heap_check(LM_CALLER); }

LM_EXPORT int libmalloc_get_option(const char* name, char* buf, size_t buflen) {
  lm::core::init();
  return lm::config::get_option(name, buf, buflen);
}

LM_EXPORT int libmalloc_advise(void* p, size_t offset, size_t len, int advice) {
  int rc = lm::core::advise(p, offset, len, advice);
  if (rc != 0) errno = rc;
  return rc == 0 ? 0 : -1;
}

LM_EXPORT const char* libmalloc_version(void) { return "0.1.0"; }

// new.cpp refers to this, so a static link that takes operator new takes
// this object too (its comment says why).
extern const char lm_api_object = 0;

}  // extern "C"
