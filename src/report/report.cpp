// report.cpp: formatting and delivery of fatal reports.
#include "report/report.h"

#include <atomic>
#include <cstdarg>

#include "config/config.h"
#include "os/os.h"

namespace lm::report {

namespace {
// The log_path file's descriptor and the process it belongs to, as
// pid << 32 | fd (0: none yet): one word, so that threads reporting at once
// agree on one file (the loser closes its own).
std::atomic<uint64_t> g_out{0};

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
  auto pid = static_cast<uint32_t>(os::getpid());
  uint64_t cur = g_out.load(std::memory_order_acquire);
  if (cur >> 32 == pid) return static_cast<int>(static_cast<uint32_t>(cur));
  char full[300];
  os::format(full, sizeof full, "%s.%u", path, pid);
  int fd = os::open_append(full);
  if (fd < 0) fd = 2;
  uint64_t mine = uint64_t{pid} << 32 | static_cast<uint32_t>(fd);
  if (g_out.compare_exchange_strong(cur, mine, std::memory_order_acq_rel)) return fd;
  if (fd > 2) os::close(fd);  // another thread's file won
  return cur >> 32 == pid ? static_cast<int>(static_cast<uint32_t>(cur)) : 2;
}

void reset_for_fork_child() {
  // The parent's file: still ours here (the child's code has not run yet),
  // so closed now rather than kept open for good (one descriptor per
  // generation of processes) or closed later, when the program may have
  // reused its number.
  uint64_t cur = g_out.exchange(0, std::memory_order_acq_rel);
  int fd = static_cast<int>(static_cast<uint32_t>(cur));
  if (cur != 0 && fd > 2) os::close(fd);
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
