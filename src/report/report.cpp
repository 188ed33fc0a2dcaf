// report.cpp: formatting and delivery of fatal reports.
#include "report/report.h"

#include <atomic>
#include <cstdarg>

#include "config/config.h"
#include "os/os.h"

namespace lm::report {

namespace {
std::atomic<int> g_fd{-1};
std::atomic<int> g_fd_pid{0};

[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char* fmt, ...) {
  {
    os::Writer w(output_fd());
    va_list ap;
    va_start(ap, fmt);
    w.vprintf(fmt, ap);
    va_end(ap);
  }
  os::die();
}
}  // namespace

int output_fd() {
  const char* path = config::options().log_path;
  if (path[0] == '\0') return 2;
  int pid = os::getpid();
  if (g_fd_pid.load(std::memory_order_relaxed) == pid) return g_fd.load(std::memory_order_relaxed);
  char full[300];
  os::format(full, sizeof full, "%s.%d", path, pid);
  int fd = os::open_append(full);
  if (fd < 0) fd = 2;
  g_fd.store(fd, std::memory_order_relaxed);
  g_fd_pid.store(pid, std::memory_order_relaxed);
  return fd;
}

void double_free(const char* func, const void* p) { fatal("libmalloc: %s: double free of %p\n", func, p); }

void invalid_pointer(const char* func, const void* p) { fatal("libmalloc: %s: invalid pointer %p\n", func, p); }

void corrupted(const char* func, const void* p, const char* what) {
  fatal("libmalloc: %s: %s at %p (heap corruption)\n", func, what, p);
}

void warn(const char* fmt, ...) {
  os::Writer w(output_fd());
  w.puts("libmalloc: ");
  va_list ap;
  va_start(ap, fmt);
  w.vprintf(fmt, ap);
  va_end(ap);
  w.put('\n');
}

}  // namespace lm::report
