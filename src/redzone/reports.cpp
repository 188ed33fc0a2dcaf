// reports.cpp: the text of redzone-mode reports, in AddressSanitizer's
// layout (DESIGN.md, "Redzone mode reports"): the ERROR line naming the
// kind and address, what happened and the current stack, where the address
// lies relative to the block, the block's free and allocation stacks, a
// SUMMARY line and the shadow bytes around the address. Then abort unless
// halt_on_error=0. Written with os::Writer to report::output_fd().
#include <algorithm>
#include <atomic>

#include "base/lock.h"
#include "redzone/internal.h"
#include "report/report.h"

namespace lm::redzone {

namespace {

constinit Mutex g_report_lock;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kOverflow: return "heap-buffer-overflow";
    case Kind::kUseAfterFree: return "heap-use-after-free";
    case Kind::kDoubleFree: return "double-free";
    case Kind::kBadFree: return "bad-free";
    case Kind::kMismatch: return "alloc-dealloc-mismatch";
    case Kind::kLeak: return "memory-leak";
  }
  return "unknown-crash";
}

const char* family_name(Family f) {
  switch (f) {
    case Family::kNew: return "operator new";
    case Family::kNewArray: return "operator new []";
    case Family::kMalloc: break;
  }
  return "malloc";
}

// "free()" -> "free"; "operator delete[]" stays.
void put_entry_name(os::Writer& w, const char* func) {
  for (const char* c = func; *c && *c != '('; ++c) w.put(*c);
}

void print_stored(os::Writer& w, uint32_t id) {
  stack::Trace t;
  stack::load(id, &t);
  stack::print(w, t);
}

void print_location(os::Writer& w, uptr a, const BlockInfo& b) {
  if (b.size == ~size_t{0}) {
    w.printf("%p lies in the overwritten header below the block at %p (its size is lost)\n", ptr(a), ptr(b.user));
    return;
  }
  uptr end = b.user + b.size;
  if (a < b.user) w.printf("%p is located %zu bytes to the left of", ptr(a), b.user - a);
  else if (a >= end) w.printf("%p is located %zu bytes to the right of", ptr(a), a - end);
  else w.printf("%p is located %zu bytes inside of", ptr(a), a - b.user);
  w.printf(" %zu-byte region [%p,%p)\n", b.size, ptr(b.user), ptr(end));
  long off = static_cast<long>(a - b.user);
  w.printf("block %p, size %zu: the address is at offset %ld from its start\n", ptr(b.user), b.size, off);
}

// Addresses libmalloc keeps no shadow for (stack, globals, other mappings)
// print as "..".
void print_shadow_map(os::Writer& w, uptr a) {
  w.puts("Shadow bytes around the buggy address:\n");
  uptr guilty = align_down(a, 8);
  uptr row = align_down(a, 128);  // 16 granules of 8 bytes per row
  for (int i = -5; i <= 5; ++i) {
    uptr r = row + static_cast<uptr>(static_cast<long>(i) * 128);
    w.printf("%s%p:", i == 0 ? "=>" : "  ", ptr(r));
    for (unsigned j = 0; j < 16; ++j) {
      uptr g = r + j * 8;
      const char* before = g == guilty ? "[" : (j > 0 && g - 8 == guilty) ? "" : " ";
      const uint8_t* s = shadow::byte_for(g);
      if (s) w.printf("%s%02x%s", before, *s, g == guilty ? "]" : "");
      else w.printf("%s..%s", before, g == guilty ? "]" : "");
    }
    w.put('\n');
  }
  w.puts("Shadow byte legend (one shadow byte represents 8 application bytes):\n"
         "  Addressable:           00\n"
         "  Partially addressable: 01 02 03 04 05 06 07 \n"
         "  Heap left redzone:       fa\n"
         "  Freed heap region:       fd\n"
         "  Heap right redzone:      fb\n"
         "  No shadow (not libmalloc's heap): ..\n");
}

// Set once the checks at exit begin. A program's SIGABRT handler is for
// crashes while it runs: called for a report at exit, gcc's printed an
// internal compiler error (its diagnostics were gone by then) and make
// failed on that, not on the leak.
std::atomic<bool> g_at_exit{false};

void finish(os::Writer& w) {
  if (halt_on_error()) {
    w.printf("==%d==ABORTING\n", os::getpid());
    w.flush();
    os::die(!g_at_exit.load(std::memory_order_relaxed));
  }
  w.put('\n');  // the program goes on: a blank line before whatever follows
  w.flush();
}

}  // namespace

void reports_at_exit() { g_at_exit.store(true, std::memory_order_relaxed); }

void emit(const Finding& f) {
  LockGuard guard(g_report_lock);
  os::Writer w(report::output_fd());
  int pid = os::getpid();
  // (No separator line above it, as ASan prints: the contract, DESIGN.md,
  // has the ERROR line first.)
  w.printf("==%d==ERROR: libmalloc: %s on address %p", pid, kind_name(f.kind), ptr(f.addr));
  if (f.access) w.printf(" at pc %p bp %p sp %p", ptr(f.pc), ptr(f.bp), ptr(f.sp));
  w.put('\n');
  switch (f.kind) {
    case Kind::kOverflow:
    case Kind::kUseAfterFree:
      if (f.access && f.func) {  // a libc call's range (intercept.cpp)
        w.printf("%s of size %zu at %p thread T%u, by the program's call to %s\n", f.write ? "WRITE" : "READ",
                 f.access_size, ptr(f.addr), f.tid, f.func);
      } else if (f.access) {
        w.printf("%s of size %zu at %p thread T%u\n", f.write ? "WRITE" : "READ", f.access_size, ptr(f.addr), f.tid);
      } else if (f.call) {
        w.printf("%s called on %p in thread T%u\n", f.func, ptr(f.addr), f.tid);
      } else if (f.func) {
        w.printf("WRITE of unknown size at %p, found by %s in thread T%u\n", ptr(f.addr), f.func, f.tid);
      } else {
        w.printf("WRITE of unknown size at %p, found %s in thread T%u\n", ptr(f.addr), f.when ? f.when : "", f.tid);
      }
      break;
    case Kind::kDoubleFree:
      w.printf("attempting double-free on %p in thread T%u:\n", ptr(f.addr), f.tid);
      break;
    case Kind::kBadFree:
      w.printf("attempting %s on address which was not malloc()-ed: %p in thread T%u\n",
               f.func ? f.func : "free()", ptr(f.addr), f.tid);
      break;
    case Kind::kMismatch:
      w.printf("alloc-dealloc-mismatch (%s vs ", family_name(f.block.family));
      put_entry_name(w, f.dealloc_name ? f.dealloc_name : "free");
      w.printf(") on %p in thread T%u\n", ptr(f.addr), f.tid);
      if (f.passed)
        w.printf("(it was given %p, %zu bytes below the block: delete[] of an object from a single new)\n", ptr(f.passed),
                 static_cast<size_t>(f.addr - f.passed));
      break;
    case Kind::kLeak:
      break;
  }
  if (f.current) stack::print(w, *f.current);
  if (f.has_block) {
    print_location(w, f.addr, f.block);
    if (f.damage_end != 0 && f.block.size != ~size_t{0}) {
      // How far the overflow went (ASan knows the access; this is what the
      // redzone's bytes still say).
      uptr lo = std::min(f.addr, f.damage_end), hi = std::max(f.addr, f.damage_end);
      w.printf("the redzone's changed bytes run from %p to %p: offsets %ld to %ld from the block's start\n", ptr(lo),
               ptr(hi), static_cast<long>(lo - f.block.user), static_cast<long>(hi - f.block.user));
    }
    if (f.block.size != ~size_t{0}) {
      if (f.block.freed) {
        w.printf("freed by thread T%u here:\n", f.block.free_tid);
        print_stored(w, f.block.free_stack);
        w.printf("previously allocated by thread T%u here:\n", f.block.alloc_tid);
      } else {
        w.printf("allocated by thread T%u here:\n", f.block.alloc_tid);
      }
      print_stored(w, f.block.alloc_stack);
    }
  } else if (f.kind == Kind::kBadFree) {
    uptr lo, hi;
    if (stack::thread_stack(&lo, &hi) && f.addr >= lo && f.addr < hi)
      w.printf("%p is located in the stack of thread T%u\n", ptr(f.addr), f.tid);
    else if (!shadow::byte_for(f.addr))
      w.printf("%p is not in memory libmalloc handed out\n", ptr(f.addr));
    else
      w.printf("%p is not the start of a live block (a heap redzone, or freed and reused memory)\n", ptr(f.addr));
  }
  w.printf("SUMMARY: libmalloc: %s", kind_name(f.kind));
  if (f.current) {
    stack::print_summary_frame(w, *f.current);
  } else if (f.has_block && f.block.size != ~size_t{0}) {
    // No stack of the access (found at exit or leaving quarantine): the
    // report's first stack, the free for a freed block, else the allocation.
    stack::Trace t;
    stack::load(f.block.freed ? f.block.free_stack : f.block.alloc_stack, &t);
    stack::print_summary_frame(w, t);
  }
  w.put('\n');
  print_shadow_map(w, f.addr);
  finish(w);
}

void emit_leak(const BlockInfo& b, bool direct) {
  LockGuard guard(g_report_lock);
  os::Writer w(report::output_fd());
  w.printf("==%d==ERROR: libmalloc: memory-leak on address %p\n", os::getpid(), ptr(b.user));
  w.printf("%s leak of %zu byte(s) in 1 object(s) allocated by thread T%u here:\n", direct ? "Direct" : "Indirect",
           b.size, b.alloc_tid);
  print_stored(w, b.alloc_stack);
  print_location(w, b.user, b);
  print_shadow_map(w, b.user);
  w.put('\n');
}

// Taken first at fork (before the shards): a thread in the middle of a
// report holds it, and emit() takes the stack's locks while symbolising.
void report_lock_for_fork() { g_report_lock.lock(); }
void report_unlock_for_fork() { g_report_lock.unlock(); }
void report_reset_for_fork_child() { g_report_lock.reset_after_fork(); }

void emit_leak_summary(size_t bytes, size_t blocks) {
  LockGuard guard(g_report_lock);
  os::Writer w(report::output_fd());
  w.printf("SUMMARY: libmalloc: memory-leak: %zu byte(s) leaked in %zu allocation(s).\n", bytes, blocks);
}

}  // namespace lm::redzone
