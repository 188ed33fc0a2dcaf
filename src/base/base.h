// base.h: types, branch hints, alignment and bit utilities shared by every module.
// Owns nothing stateful; never calls libc.
#pragma once

#include <cstddef>
#include <cstdint>

#define LM_LIKELY(x) __builtin_expect(!!(x), 1)
#define LM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LM_FAST_PATH inline __attribute__((always_inline))
#define LM_SLOW_PATH __attribute__((noinline, cold))
#define LM_NOINLINE __attribute__((noinline))
#define LM_TLS_IE __attribute__((tls_model("initial-exec")))
#define LM_EXPORT __attribute__((visibility("default")))
// The program's return address, for the stacks redzone mode records: only
// meaningful in an exported entry point (not inlined into anything), which
// passes it down.
#define LM_CALLER ::lm::addr(__builtin_return_address(0))

namespace lm {

using uptr = std::uintptr_t;

constexpr bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
constexpr size_t align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }
constexpr size_t align_down(size_t x, size_t a) { return x & ~(a - 1); }
inline uptr addr(const void* p) { return reinterpret_cast<uptr>(p); }
template <class T = void>
inline T* ptr(uptr a) { return reinterpret_cast<T*>(a); }

// floor(log2(x)) for x > 0.
constexpr unsigned log2_floor(size_t x) { return 63u - static_cast<unsigned>(__builtin_clzll(x)); }

// a * b, or false when it overflows.
inline bool mul_overflows(size_t a, size_t b, size_t* out) { return __builtin_mul_overflow(a, b, out); }

// glibc's PROTECT_PTR, for the links of free lists kept inside freed objects
// (thread-cache bins, slab free lists): a link is stored XORed with its
// slot's address >> 12, so a stray write of a plain pointer (or of zeros)
// into a freed object is not followed as a link.
LM_FAST_PATH void* protect(void** slot, void* next) { return ptr((addr(slot) >> 12) ^ addr(next)); }
LM_FAST_PATH void* reveal(void** slot) { return ptr((addr(slot) >> 12) ^ addr(*slot)); }

}  // namespace lm
