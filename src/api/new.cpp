// new.cpp: every form of C++ operator new and delete, and the new-handler
// protocol behind them. Its own object, apart from api.cpp, for libmalloc.a:
// the throwing forms need std::__throw_bad_alloc from libstdc++. libmalloc.so
// (built with LM_CXX_RUNTIME_WEAK) refers to it weakly, as it must: it is
// preloaded into C programs, and any program that calls operator new has
// libstdc++ loaded. In libmalloc.a the reference is strong, so that a -static
// C++ program that never named std::__throw_bad_alloc itself still gets it
// from libstdc++.a (a weak reference pulls no archive member; such a program
// used to abort where it should have thrown). A strong reference is safe
// there because the linker takes this object only for a program that calls
// operator new or delete, which is linked with libstdc++.
#include <cstddef>
#include <new>

#include "core/core.h"
#include "core/fast_path.h"
#include "os/os.h"

#if LM_CXX_RUNTIME_WEAK
#define LM_CXX_RUNTIME_REF __attribute__((weak))
#else
#define LM_CXX_RUNTIME_REF
#endif

extern "C" {
// std::get_new_handler is weak in both: a program that never set a handler
// need not link libsupc++'s new_handler.o, and then there is none to call.
std::new_handler lm_weak_get_new_handler() noexcept __asm__("_ZSt15get_new_handlerv") __attribute__((weak));
[[noreturn]] void lm_throw_bad_alloc() __asm__("_ZSt17__throw_bad_allocv") LM_CXX_RUNTIME_REF;

// Defined in api.cpp. Referring to it makes a static link that takes this
// object take api.cpp's too: a program that allocates only through operator
// new must still get libmalloc's malloc and free, not glibc's malloc.o.
extern const char lm_api_object;
}
[[gnu::used]] static const char* const lm_pulls_api_object = &lm_api_object;

namespace lm::api {
bool call_new_handler_nothrow(std::new_handler handler) noexcept;  // new_handler.cpp
}

namespace {

using lm::core::Family;
using lm::uptr;

// std::bad_alloc through libstdc++; in libmalloc.so, where the reference is
// weak, a message and abort when no C++ runtime is loaded (only a C program
// that calls operator new by its mangled name gets there).
[[noreturn]] LM_SLOW_PATH void throw_bad_alloc() {
#if LM_CXX_RUNTIME_WEAK
  if (lm_throw_bad_alloc) lm_throw_bad_alloc();
#else
  lm_throw_bad_alloc();
#endif
  static const char kMsg[] = "libmalloc: operator new: out of memory and no C++ runtime to throw std::bad_alloc\n";
  lm::os::write_all(2, kMsg, sizeof kMsg - 1);
  lm::os::die();
}

// operator new's failure path: call the new-handler until it gives up, then
// throw std::bad_alloc (or return nullptr for the nothrow forms).
LM_SLOW_PATH void* new_failed(size_t n, size_t align, bool nothrow, Family family, uptr ret) {
  for (;;) {
    std::new_handler handler = lm_weak_get_new_handler ? lm_weak_get_new_handler() : nullptr;
    if (!handler) break;
    if (!nothrow) handler();
    else if (!lm::api::call_new_handler_nothrow(handler)) return nullptr;
    void* p = align > 16 ? lm::core::memalign(align, n, family, ret) : lm::core::malloc(n, family, ret);
    if (p) return p;
  }
  if (nothrow) return nullptr;
  throw_bad_alloc();
}

// The miss of operator new's fast path, tail-called as malloc_miss is.
LM_SLOW_PATH void* new_miss(size_t n, Family family) {
  uptr ret = LM_CALLER;
  void* p = lm::core::malloc_slow(n, family, ret);
  return LM_LIKELY(p != nullptr) ? p : new_failed(n, 16, false, family, ret);
}
// The family (new or new[]) is a constant at each call site; redzone mode
// checks it against the matching delete.
LM_FAST_PATH void* new_impl(size_t n, Family family) {
  return lm::core::malloc_fast_or(n, [&] { return new_miss(n, family); });
}
LM_FAST_PATH void* new_nothrow(size_t n, Family family, uptr ret) {
  void* p = lm::core::malloc(n, family, ret);
  return LM_LIKELY(p != nullptr) ? p : new_failed(n, 16, true, family, ret);
}
LM_FAST_PATH void* new_aligned(size_t n, std::align_val_t al, bool nothrow, Family family, uptr ret) {
  size_t align = static_cast<size_t>(al);
  // An alignment that is not a power of two fails at once, without the
  // new-handler (which could not help), as libstdc++'s does.
  if (LM_UNLIKELY(!lm::is_pow2(align))) {
    if (nothrow) return nullptr;
    throw_bad_alloc();
  }
  void* p = lm::core::memalign(align, n, family, ret);
  return LM_LIKELY(p != nullptr) ? p : new_failed(n, align, nothrow, family, ret);
}

}  // namespace

constexpr Family kNew = Family::kNew;
constexpr Family kNewArray = Family::kNewArray;

LM_EXPORT void* operator new(size_t n) { return new_impl(n, kNew); }
LM_EXPORT void* operator new[](size_t n) { return new_impl(n, kNewArray); }
LM_EXPORT void* operator new(size_t n, const std::nothrow_t&) noexcept { return new_nothrow(n, kNew, LM_CALLER); }
LM_EXPORT void* operator new[](size_t n, const std::nothrow_t&) noexcept { return new_nothrow(n, kNewArray, LM_CALLER); }
LM_EXPORT void* operator new(size_t n, std::align_val_t a) { return new_aligned(n, a, false, kNew, LM_CALLER); }
LM_EXPORT void* operator new[](size_t n, std::align_val_t a) { return new_aligned(n, a, false, kNewArray, LM_CALLER); }
LM_EXPORT void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_aligned(n, a, true, kNew, LM_CALLER);
}
LM_EXPORT void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_aligned(n, a, true, kNewArray, LM_CALLER);
}

LM_EXPORT void operator delete(void* p) noexcept { lm::core::free_fast(p, "operator delete", kNew); }
LM_EXPORT void operator delete[](void* p) noexcept { lm::core::free_fast(p, "operator delete[]", kNewArray); }
LM_EXPORT void operator delete(void* p, size_t) noexcept { lm::core::free_fast(p, "operator delete", kNew); }
LM_EXPORT void operator delete[](void* p, size_t) noexcept {
  lm::core::free_fast(p, "operator delete[]", kNewArray);
}
LM_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept {
  lm::core::free(p, "operator delete", kNew, LM_CALLER);
}
LM_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept {
  lm::core::free(p, "operator delete[]", kNewArray, LM_CALLER);
}
LM_EXPORT void operator delete(void* p, std::align_val_t) noexcept { lm::core::free(p, "operator delete", kNew, LM_CALLER); }
LM_EXPORT void operator delete[](void* p, std::align_val_t) noexcept {
  lm::core::free(p, "operator delete[]", kNewArray, LM_CALLER);
}
LM_EXPORT void operator delete(void* p, size_t, std::align_val_t) noexcept {
  lm::core::free(p, "operator delete", kNew, LM_CALLER);
}
LM_EXPORT void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  lm::core::free(p, "operator delete[]", kNewArray, LM_CALLER);
}
LM_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  lm::core::free(p, "operator delete", kNew, LM_CALLER);
}
LM_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  lm::core::free(p, "operator delete[]", kNewArray, LM_CALLER);
}
