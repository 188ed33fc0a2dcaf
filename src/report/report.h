// report.h: fatal reports of misuse and heap corruption, shared by every
// module. One [[noreturn]] function per kind; each writes one line starting
// "libmalloc: " that names the pointer (glibc's malloc_printerr style), to
// stderr or log_path, then aborts. Never allocates.
#pragma once

#include "base/base.h"

namespace lm::report {

// The descriptor reports and statistics go to: stderr, or log_path.PID
// (opened on first use, reopened in a forked child).
int output_fd();
// In a forked child (core's fork_child): closes the parent's log file; the
// child opens its own PATH.PID at its first report.
void reset_for_fork_child();

// free()/realloc() of a block that is already free. Likely bug: two owners
// of one pointer, or a missing `p = NULL` after free.
[[noreturn]] LM_SLOW_PATH void double_free(const char* func, const void* p);

// A pointer libmalloc never returned (stack, global, another allocator's,
// or an interior pointer). Likely bug: freeing the wrong thing.
[[noreturn]] LM_SLOW_PATH void invalid_pointer(const char* func, const void* p);

// A block header or free-list link that no correct program could produce.
// Likely bug: a buffer overflow from a neighbouring block.
[[noreturn]] LM_SLOW_PATH void corrupted(const char* func, const void* p, const char* what);

// A non-fatal warning line ("libmalloc: ..."), e.g. for bad options.
void warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace lm::report
