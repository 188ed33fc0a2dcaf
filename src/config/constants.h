// constants.h: compile-time constants of the allocator. Runtime options live
// in options.def; these are the facts the code's layout depends on.
#pragma once

#include <cstddef>

namespace lm {

// Every block is aligned to this, as glibc's MALLOC_ALIGNMENT on x86-64.
constexpr size_t kAlignment = 16;
// glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the dynamic threshold's cap.
constexpr size_t kMaxDynamicThreshold = 32u << 20;
// Requests above this are impossible (glibc: PTRDIFF_MAX less a margin).
constexpr size_t kMaxRequest = (~size_t{0} >> 1) - (1u << 16);

static_assert((kAlignment & (kAlignment - 1)) == 0);

}  // namespace lm
