// report.cpp: formatting and delivery of fatal reports.
#include "report/report.h"

#include <sys/stat.h>

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
constexpr uint32_t kStderr = ~0u;  // in g_out: the log could not be opened
// The file the winner opened (fstat): the descriptor is used, and a forked
// child closes the parent's, only while the number still is that file. The
// program may have closed it since (a loop closing every descriptor) or put
// one of its own on it (dup2, as bash's exec 3>f): the next report went
// into the program's file, or nowhere. Threads that open at once open the
// same path, so they store the same identity.
std::atomic<uint64_t> g_out_dev{0}, g_out_ino{0};

bool is_log_file(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == g_out_dev.load(std::memory_order_relaxed) &&
         st.st_ino == g_out_ino.load(std::memory_order_relaxed);
}

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
  // The log's descriptor, or 2 when it could not be opened (kStderr). A log
  // opened on 0, 1 or 2 (the program had closed them) is checked as any.
  auto fd_of = [](uint64_t v) { return static_cast<uint32_t>(v) == kStderr ? 2 : static_cast<int>(static_cast<uint32_t>(v)); };
  // (Reports are rare: one fstat each.)
  if (cur >> 32 == pid && (static_cast<uint32_t>(cur) == kStderr || is_log_file(fd_of(cur)))) return fd_of(cur);
  char full[300];
  os::format(full, sizeof full, "%s.%u", path, pid);
  int fd = os::open_append(full);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0) {
    g_out_dev.store(st.st_dev, std::memory_order_relaxed);
    g_out_ino.store(st.st_ino, std::memory_order_relaxed);
  }
  // (A number that is no longer ours is not closed: it is the program's.)
  uint64_t mine = uint64_t{pid} << 32 | (fd >= 0 ? static_cast<uint32_t>(fd) : kStderr);
  if (g_out.compare_exchange_strong(cur, mine, std::memory_order_acq_rel)) return fd_of(mine);
  if (fd >= 0) os::close(fd);  // another thread's file won
  return cur >> 32 == pid ? fd_of(cur) : 2;
}

void reset_for_fork_child() {
  // The parent's file, closed rather than kept open for good (one descriptor
  // per generation of processes), but only while the number still holds it.
  uint64_t cur = g_out.exchange(0, std::memory_order_acq_rel);
  int fd = static_cast<int>(static_cast<uint32_t>(cur));
  if (cur != 0 && static_cast<uint32_t>(cur) != kStderr && is_log_file(fd)) os::close(fd);
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
