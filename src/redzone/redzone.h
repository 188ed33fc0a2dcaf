// redzone.h: the redzone debug mode (LIBMALLOC_OPTIONS=redzone=1). Owns the
// shadow memory (one byte per 8 bytes, AddressSanitizer's encoding), the
// redzoned block layout, the quarantine, the checks and their ASan-style
// reports, stack capture and its depot, the leak scan, and the answers to
// compiler-instrumented accesses (__asan_load4_noabort and friends, exported
// from api/kasan.cpp). Does not choose where backing memory comes from: core
// passes a Backend (heap or large) and routes every allocation entry here
// when the mode is on. Never allocates through libc and never calls malloc.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/base.h"

namespace lm::redzone {

// Which family allocated a block; a mismatched deallocation is reported.
enum class Family : unsigned char { kMalloc, kNew, kNewArray };

// Where redzoned blocks get their memory. Core supplies it; each function
// takes whatever lock its layer needs. redzone calls them holding no lock
// of its own.
struct Backend {
  // A block of at least n usable bytes aligned to `align` (a power of two,
  // >= 16), or nullptr. *usable receives its usable size; *mapped whether
  // it is its own mapping (its address range goes back to the kernel on
  // free, so its shadow is cleared rather than poisoned). With zero, a
  // mapping comes back zeroed (only its dirty part is written: a fresh one
  // is left untouched) and *zeroed says so; other blocks are not zeroed.
  void* (*alloc)(size_t align, size_t n, bool zero, size_t* usable, bool* mapped, bool* zeroed);
  // Gives a block from alloc back.
  void (*free)(void* p);
};

// Called once by core's initialisation when options().redzone is set, before
// any other call. Does not allocate.
void init(const Backend& backend, uint64_t secret);

// ---- allocation entries (core routes here in redzone mode) ----
// `ret` is the entry's return address (__builtin_return_address(0)), the
// first frame of the captured stack. All return nullptr when the backend is
// out of memory or n is impossible; none sets errno.
void* alloc(size_t n, size_t align, Family family, bool zero, uptr ret);
// Frees a block: checks that p is a live block's start, that `family`
// matches the allocation, and that both redzones are intact; then poisons,
// fills and quarantines it. Reports (and aborts unless halt_on_error=0).
void free(void* p, Family family, const char* func, uptr ret);
// Always moves (like ASan), after the same checks as free.
void* realloc(void* p, size_t n, uptr ret);
// The requested size of a live block; reports a pointer that is not one.
size_t usable_size(const void* p, uptr ret);

// Clears the shadow of [begin, end): memory the backend gives back to the
// kernel, which anything may map next. Does not allocate.
void forget(uptr begin, uptr end);

// libmalloc_heap_check(): every live block's redzones and every quarantined
// block's fill. Returns the number of problems found (each reported).
int check_all(uptr ret);
// At exit (core's destructor): the same checks, then the leak scan when
// detect_leaks=1. `frame` is the destructor's frame address: the stack
// below it is libmalloc's own, never a root.
void at_exit(uptr frame);

// Where redzone mode's memory is, for stats=1 (bytes of backing blocks,
// redzones and headers included).
struct Stats {
  size_t blocks;           // blocks allocated and not yet in the quarantine
  size_t quarantined;      // blocks in the quarantine
  size_t quarantine_bytes;
  size_t quarantine_limit;
  size_t recycled_bytes;   // left the quarantine, waiting for a block of their class
  size_t spare_bytes;      // carved blocks past the pool's cap (see spare_push)
  size_t chunk_bytes;      // chunks mapped to carve blocks from
};
Stats stats();

// Fork protocol: redzone's locks are leaves (never held while calling the
// backend), so core takes them first and releases them last.
void lock_for_fork();
void unlock_for_fork();
void reset_for_fork_child();
// In a forked child, what reset_for_fork_child does besides locks (all of
// it when fork took no lock: core's fork_child).
void note_fork_child();

// ---- compiler-assisted mode ----
// Checks [a, a+size) against the shadow; reports a bad access at `pc` (the
// instrumented instruction's return address into the program). Addresses
// without shadow are always fine.
void check_access(uptr a, size_t size, bool write, uptr pc, uptr bp, uptr sp);
// The same for a range a libc function reads or writes for the program
// (intercept.cpp), reported at its first bad byte as an access by func.
void check_range(uptr a, size_t size, bool write, uptr pc, uptr frame, const char* func);
// Points the GOT slots of the program's modules for libc's memory and string
// functions at checked versions (intercept.cpp). At start-up in redzone
// mode; then again when a stack walk sees modules loaded since.
void intercept_libc();

namespace shadow {
constexpr unsigned kLeafShift = 30;  // one leaf per 1 GiB of address space
constexpr unsigned kAddressBits = 47;
constexpr size_t kRootEntries = size_t{1} << (kAddressBits - kLeafShift);
extern std::atomic<uint8_t*> g_root[kRootEntries];

// The shadow byte of address a, or nullptr where no shadow exists.
LM_FAST_PATH const uint8_t* byte_for(uptr a) {
  if (LM_UNLIKELY(a >> kAddressBits)) return nullptr;
  uint8_t* leaf = g_root[a >> kLeafShift].load(std::memory_order_acquire);
  if (LM_UNLIKELY(leaf == nullptr)) return nullptr;
  return leaf + ((a & ((uptr{1} << kLeafShift) - 1)) >> 3);
}

// True when the size-byte access at a (size 1, 2, 4 or 8, not crossing an
// 8-byte granule when naturally aligned) is addressable: ASan's check.
LM_FAST_PATH bool small_access_ok(uptr a, size_t size) {
  const uint8_t* s = byte_for(a);
  if (LM_LIKELY(s == nullptr || *s == 0)) {
    if (LM_LIKELY(((a & 7) + size) <= 8 || s == nullptr)) return true;
  }
  return false;
}
}  // namespace shadow

}  // namespace lm::redzone
