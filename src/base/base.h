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

// Bits set in x. (__builtin_popcountll without -mpopcnt calls libgcc's
// __popcountdi2, which the link places after the redzone code: see
// docs/architecture.md, Text layout.)
constexpr unsigned popcount64(uint64_t x) {
  x -= (x >> 1) & 0x5555555555555555ull;
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return static_cast<unsigned>((x * 0x0101010101010101ull) >> 56);
}

// a * b, or false when it overflows.
inline bool mul_overflows(size_t a, size_t b, size_t* out) { return __builtin_mul_overflow(a, b, out); }

// glibc's PROTECT_PTR, for the links of free lists kept inside freed objects
// (the slabs' free lists): a link is stored XORed with its
// slot's address >> 12, so a stray write of a plain pointer (or of zeros)
// into a freed object is not followed as a link.
LM_FAST_PATH void* protect(void** slot, void* next) { return ptr((addr(slot) >> 12) ^ addr(next)); }
LM_FAST_PATH void* reveal(void** slot) { return ptr((addr(slot) >> 12) ^ addr(*slot)); }

}  // namespace lm
