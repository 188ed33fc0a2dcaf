// kasan.cpp: the runtime half of compiler-assisted redzone mode. Programs
// built with GCC's or Clang's -fsanitize=kernel-address in outline mode (see
// docs/redzone.md for the exact flags) call these before each load and
// store, as the Linux kernel's KASAN does; libmalloc answers from its shadow
// (redzone=1), reporting the faulting access with its stack. Addresses
// without shadow (stack, globals, other mappings, or redzone mode off) are
// always fine. The rest of what that instrumentation may emit (globals,
// stack and alloca poisoning, dynamic-init order, no-return) is accepted and
// ignored: libmalloc tracks heap blocks only. Separate from api.cpp so that a
// static link pulls it in only for instrumented programs.
#include <cstring>

#include "redzone/redzone.h"

namespace {

using lm::uptr;
namespace rz = lm::redzone;

LM_NOINLINE void access_slow(uptr a, size_t size, bool write, uptr pc) {
  uptr frame = lm::addr(__builtin_frame_address(0));
  rz::check_access(a, size, write, pc, frame, frame);
}

// One shadow load for the common case (no shadow, or a fully addressable
// granule holding the whole access); everything else is decided precisely.
#define LM_CHECK_SMALL(a, size, write)                                                      \
  do {                                                                                       \
    if (LM_UNLIKELY(!rz::shadow::small_access_ok(a, size)))                                  \
      access_slow(a, size, write, lm::addr(__builtin_return_address(0)));                    \
  } while (0)
// A range is looked at when either end has shadow (one that starts outside
// the heap's shadow and runs into it, or crosses into a leaf, is checked).
#define LM_CHECK_RANGE(a, size, write)                                                      \
  do {                                                                                       \
    if (rz::shadow::byte_for(a) != nullptr ||                                               \
        ((size) > 1 && a + (size) - 1 > a && rz::shadow::byte_for(a + (size) - 1) != nullptr)) \
      access_slow(a, size, write, lm::addr(__builtin_return_address(0)));                    \
  } while (0)

}  // namespace

extern "C" {

#define LM_ASAN_SIZED(size)                                                                    \
  LM_EXPORT void __asan_load##size##_noabort(uptr a) { LM_CHECK_SMALL(a, size, false); }       \
  LM_EXPORT void __asan_store##size##_noabort(uptr a) { LM_CHECK_SMALL(a, size, true); }       \
  LM_EXPORT void __asan_load##size(uptr a) { LM_CHECK_SMALL(a, size, false); }                 \
  LM_EXPORT void __asan_store##size(uptr a) { LM_CHECK_SMALL(a, size, true); }                 \
  LM_EXPORT void __asan_report_load##size##_noabort(uptr a) { LM_CHECK_RANGE(a, size, false); } \
  LM_EXPORT void __asan_report_store##size##_noabort(uptr a) { LM_CHECK_RANGE(a, size, true); } \
  LM_EXPORT void __asan_report_load##size(uptr a) { LM_CHECK_RANGE(a, size, false); }         \
  LM_EXPORT void __asan_report_store##size(uptr a) { LM_CHECK_RANGE(a, size, true); }

LM_ASAN_SIZED(1)
LM_ASAN_SIZED(2)
LM_ASAN_SIZED(4)
LM_ASAN_SIZED(8)

#define LM_ASAN_RANGE(name, size_expr, write) \
  LM_EXPORT void name(uptr a) { LM_CHECK_RANGE(a, size_expr, write); }
LM_ASAN_RANGE(__asan_load16_noabort, 16, false)
LM_ASAN_RANGE(__asan_store16_noabort, 16, true)
LM_ASAN_RANGE(__asan_load16, 16, false)
LM_ASAN_RANGE(__asan_store16, 16, true)
LM_ASAN_RANGE(__asan_report_load16_noabort, 16, false)
LM_ASAN_RANGE(__asan_report_store16_noabort, 16, true)
LM_ASAN_RANGE(__asan_report_load16, 16, false)
LM_ASAN_RANGE(__asan_report_store16, 16, true)

#define LM_ASAN_N(name, write) \
  LM_EXPORT void name(uptr a, size_t n) { LM_CHECK_RANGE(a, n, write); }
LM_ASAN_N(__asan_loadN_noabort, false)
LM_ASAN_N(__asan_storeN_noabort, true)
LM_ASAN_N(__asan_loadN, false)
LM_ASAN_N(__asan_storeN, true)
LM_ASAN_N(__asan_report_load_n_noabort, false)
LM_ASAN_N(__asan_report_store_n_noabort, true)
LM_ASAN_N(__asan_report_load_n, false)
LM_ASAN_N(__asan_report_store_n, true)

// Instrumented mem* intrinsics (Clang may emit these instead of memcpy).
LM_EXPORT void* __asan_memcpy(void* dst, const void* src, size_t n) {
  LM_CHECK_RANGE(lm::addr(src), n, false);
  LM_CHECK_RANGE(lm::addr(dst), n, true);
  return std::memcpy(dst, src, n);
}
LM_EXPORT void* __asan_memmove(void* dst, const void* src, size_t n) {
  LM_CHECK_RANGE(lm::addr(src), n, false);
  LM_CHECK_RANGE(lm::addr(dst), n, true);
  return std::memmove(dst, src, n);
}
LM_EXPORT void* __asan_memset(void* dst, int c, size_t n) {
  LM_CHECK_RANGE(lm::addr(dst), n, true);
  return std::memset(dst, c, n);
}

// Accepted and ignored: libmalloc shadows heap blocks only.
LM_EXPORT void __asan_handle_no_return() {}
LM_EXPORT void __asan_register_globals(void*, size_t) {}
LM_EXPORT void __asan_unregister_globals(void*, size_t) {}
LM_EXPORT void __asan_register_image_globals(uptr*) {}
LM_EXPORT void __asan_unregister_image_globals(uptr*) {}
LM_EXPORT void __asan_register_elf_globals(uptr*, void*, void*) {}
LM_EXPORT void __asan_unregister_elf_globals(uptr*, void*, void*) {}
LM_EXPORT void __asan_before_dynamic_init(const char*) {}
LM_EXPORT void __asan_after_dynamic_init() {}
LM_EXPORT void __asan_alloca_poison(uptr, size_t) {}
LM_EXPORT void __asan_allocas_unpoison(uptr, uptr) {}
LM_EXPORT void __asan_poison_stack_memory(uptr, size_t) {}
LM_EXPORT void __asan_unpoison_stack_memory(uptr, size_t) {}
LM_EXPORT void __asan_set_shadow_00(uptr, size_t) {}
LM_EXPORT void __asan_set_shadow_f1(uptr, size_t) {}
LM_EXPORT void __asan_set_shadow_f2(uptr, size_t) {}
LM_EXPORT void __asan_set_shadow_f3(uptr, size_t) {}
LM_EXPORT void __asan_set_shadow_f5(uptr, size_t) {}
LM_EXPORT void __asan_set_shadow_f8(uptr, size_t) {}

}  // extern "C"
