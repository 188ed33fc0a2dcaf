// desc_pool.h: the pool of 128-byte descriptors kept off-slab (slab
// descriptors and span chunks), in its own mapped memory so that no page of
// a span ever holds metadata. Thread-safe.
#pragma once

#include <cstddef>

namespace lm::slab {

constexpr size_t kDescBytes = 128;
void* desc_alloc();  // nullptr when the kernel refuses memory
void desc_free(void* d);

}  // namespace lm::slab
