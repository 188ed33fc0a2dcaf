// internal.h: what the redzone module's files share with each other (shadow
// writers, stack capture and depot, block header, reports). Private to
// src/redzone/: other modules include only redzone.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/base.h"
#include "os/os.h"
#include "redzone/redzone.h"

namespace lm::redzone {

// Shadow byte values: AddressSanitizer's heap codes, so that the shadow map
// in a report reads like ASan's.
constexpr uint8_t kAddressable = 0x00;   // 1..7: that many leading bytes addressable
constexpr uint8_t kLeftRedzone = 0xfa;   // ASan's kAsanHeapLeftRedzoneMagic
constexpr uint8_t kRightRedzone = 0xfb;  // ASan's (former) kAsanHeapRightRedzoneMagic
constexpr uint8_t kFreed = 0xfd;         // ASan's kAsanHeapFreeMagic

// Fill bytes of the memory itself (checked without compiler help). Never 0:
// the commonest overflow writes a terminating NUL.
constexpr uint8_t kLeftFill = 0xfa;
constexpr uint8_t kRightFill = 0xfb;
constexpr uint8_t kFreedFill = 0xfd;

namespace shadow {
// Makes shadow exist for [begin, end) (leaves are 128 MiB NORESERVE
// mappings, created under the shadow lock). False when the kernel refuses.
bool ensure(uptr begin, uptr end);
// Sets the shadow of [begin, end) (both 8-aligned) to v. Leaves must exist.
void set(uptr begin, uptr end, uint8_t v);
// Sets [begin, end) to 0 (a mapping going back to the kernel); beyond 4 MiB,
// returns whole shadow pages to the kernel.
void clear(uptr begin, uptr end);
// Sets [begin, end) to 0, returning whole shadow pages to the kernel.
void drop(uptr begin, uptr end);
// Faults in the shadow pages of [begin, end) in one call (MADV_POPULATE_WRITE).
void populate(uptr begin, uptr end);
// The first address in [a, a+size) whose access is bad, or 0 when all are fine.
uptr first_bad(uptr a, size_t size);
// The highest granule below the granule-aligned address a whose shadow byte
// is `value`, looking down as far as the shadow goes without a gap, and not
// below `floor`; 0 if none.
uptr last_below(uptr a, uint8_t value, uptr floor = 0);
void lock_for_fork();
void unlock_for_fork();
void reset_for_fork_child();
}  // namespace shadow

namespace stack {
constexpr unsigned kMaxFrames = 16;
struct Trace {
  unsigned n;
  uptr pc[kMaxFrames];  // return addresses (frame 0 may be an exact pc)
};
// Captures the calling thread's stack: `ret` first, then the frames above
// the stack slot that holds it (frame-pointer records where they look valid,
// else a scan for words that are return addresses: they point into an
// executable segment of a loaded module just after a call instruction).
// Never allocates, never takes a lock that is held while allocating.
LM_NOINLINE void capture(Trace* t, uptr ret);
// As capture, then save: the depot id of the calling thread's stack (0 when
// the depot is full or the stack empty). Remembers where each frame's return
// address lay on the stack, so that the next capture from the same call
// path at the same depth costs a compare per frame instead of a scan (the
// cached trace is used only when every one of its frames is found again at
// its slot).
LM_NOINLINE uint32_t capture_id(uptr ret);
// The depot: id of an identical trace stored before, else stores it. Once
// it is full, its first frame alone (the same way); 0 when there is no room
// for that either, or t is empty.
uint32_t save(const Trace& t);
void load(uint32_t id, Trace* t);
// Tests: the depot takes full traces for `bytes` more, then first frames
// for `reserve` more (once it exists); (0, 0): as mapped again.
void depot_room_for_testing(size_t bytes, size_t reserve);
// "    #N 0xADDR in FUNCTION (MODULE+0xOFFSET)" lines.
void print(os::Writer& w, const Trace& t);
// The first frame outside libmalloc's own entry points, as "(MODULE+0xOFF) in
// FUNCTION" for SUMMARY lines.
void print_summary_frame(os::Writer& w, const Trace& t);
// Small per-thread number (T0 is the first thread that allocated).
uint16_t thread_number();
// [lo, hi) of the calling thread's own stack mapping, when the calling code
// runs on it (not on a coroutine's stack or an alternate signal stack).
// Looked up once per thread (and again when the main thread's stack grew).
bool thread_stack(uptr* lo, uptr* hi);
// [lo, hi) of the calling thread's own stack, wherever the calling code runs.
bool own_stack(uptr* lo, uptr* hi);
// The /proc/self/maps line holding a, as [lo, hi).
bool mapping_of(uptr a, uptr* lo, uptr* hi);

// Writable PT_LOAD segments of loaded modules (leak roots).
struct Range {
  uptr lo, hi;
};
unsigned writable_segments(Range* out, unsigned cap);
// The stack mappings (glibc puts a thread's TLS and descriptor in its top)
// of the other threads that captured a stack and still run, each checked
// against /proc/self/maps: leak-scan roots. At most `cap`.
unsigned other_thread_stacks(Range* out, unsigned cap);
// Anonymous read-write mappings right above an inaccessible one: the shape
// of glibc's thread stacks (guard page below), so also of threads that never
// allocated and are not in other_thread_stacks' list. At most `cap`.
unsigned guarded_mappings(Range* out, unsigned cap);
// True when [lo, hi), such a mapping, is the stack of a thread that has
// exited (glibc caches them for reuse): the thread id in its descriptor is
// 0 or -1; *desc is then its descriptor's address (the descriptor runs to
// hi). False when that cannot be told (no thread's layout learnt yet).
bool dead_thread_stack(uptr lo, uptr hi, uptr* desc);
// The main thread's TLS mapping (outside its stack), once the main thread
// has captured a stack.
// `self`: its descriptor (the leak scan keeps the part of the range around it
// that holds no block).
bool main_thread_tls(Range* out, uptr* self);
// True when the dynamic loader called the allocator for the allocation
// with this stack (TLS vectors, link maps): such blocks are referenced from places no root scan
// sees (cached thread stacks), so the leak scan treats them as roots, as
// LeakSanitizer does.
bool from_loader(uint32_t stack_id);

void lock_for_fork();
void unlock_for_fork();
void reset_for_fork_child();
// In every forked child (whether or not fork took the locks).
void note_fork_child();
// Called (when set) at each stack walk, after the module cache is brought
// up to date: intercept.cpp patches modules loaded since its last pass.
extern void (*g_on_walk)();
// The loader's count of modules added, as of the module cache.
unsigned long long modules_added();
// Whether the page holding a is writable now (/proc/self/maps); false when
// no mapping holds it.
bool mapping_writable(uptr a, bool* writable);
}  // namespace stack

// ---- reports ----
enum class Kind { kOverflow, kUseAfterFree, kDoubleFree, kBadFree, kMismatch, kLeak };

// For intercept.cpp: whether detect_leaks scans the heap at exit (stale
// block addresses in dead stack then matter).
bool leak_scan_at_exit();
// For intercept.cpp: the bytes from a to the end of the live block that
// holds it (its start at most 64 KiB below a), which can be read; 0 when a
// is in no live block. Reads the shadow first.
size_t live_bytes_from(uptr a);

// A block as the report describes it (copied from its header).
struct BlockInfo {
  uptr user;
  size_t size;
  uint32_t alloc_stack;
  uint32_t free_stack;
  uint16_t alloc_tid;
  uint16_t free_tid;
  Family family;
  bool freed;
};

struct Finding {
  Kind kind;
  uptr addr;                   // the bad address (or the freed pointer)
  bool has_block;
  BlockInfo block;
  const char* func;            // entry that found it ("free()", ...), or null
  bool call;                   // the program called func on the address (not a write)
  uptr damage_end;             // kOverflow in a redzone: the damaged byte farthest from the block, or 0
  const char* when;            // "at exit", "when the block left quarantine", ...
  const stack::Trace* current; // stack of the call that found it, or null
  uint16_t tid;                // thread of that call
  // Instrumented access (compiler-assisted mode).
  bool access;
  bool write;
  size_t access_size;
  uptr pc, bp, sp;
  Family dealloc_family;       // kMismatch: the deallocator's family
  const char* dealloc_name;    // kMismatch: "free", "operator delete", ...
  uptr passed;                 // kMismatch: the pointer the deallocator got, when not the block's (delete[] of a new T)
};

// Prints the report; then aborts unless halt_on_error=0. Takes the report
// lock (never held while allocating).
void emit(const Finding& f);
// One leak (called for each direct and indirect leak, then the summary).
void emit_leak(const BlockInfo& b, bool direct);
void emit_leak_summary(size_t bytes, size_t blocks);
// From now on reports are made at exit: halting ends the process with
// SIGABRT's default action (see os::die).
void reports_at_exit();
void report_lock_for_fork();
void report_unlock_for_fork();
void report_reset_for_fork_child();
bool halt_on_error();

// Test hook: true when p is a freed block still in quarantine (a thread's
// queue or the FIFO).
bool quarantined_for_testing(const void* p);

}  // namespace lm::redzone
