// os_linux.cpp: Linux implementations of os.h. Each function keeps errno as
// it found it; madvise and mremap choices are justified where they are made.
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "os/os.h"

namespace lm::os {

namespace {
class ErrnoKeeper {
 public:
  ErrnoKeeper() : saved_(errno) {}
  ~ErrnoKeeper() { errno = saved_; }

 private:
  int saved_;
};
}  // namespace

constinit std::atomic<size_t> g_page_size{0};

size_t read_page_size() {
  // From the auxiliary vector, as sysconf reads it, without faulting in
  // sysconf's page of libc (the initialisation reads AT_RANDOM there too).
  ErrnoKeeper keep;
  unsigned long v = getauxval(AT_PAGESZ);
  size_t ps = v ? static_cast<size_t>(v) : 4096;
  g_page_size.store(ps, std::memory_order_relaxed);
  return ps;
}

void* sbrk(intptr_t increment) {
  ErrnoKeeper keep;
  void* old = ::sbrk(increment);
  return old == reinterpret_cast<void*>(-1) ? nullptr : old;
}

void* current_break() { return ::sbrk(0); }

void* map(size_t size) {
  ErrnoKeeper keep;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

bool map_at(void* at, size_t size) {
  ErrnoKeeper keep;
  void* p = mmap(at, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return false;
  if (p != at) {  // a kernel before 4.17 takes the flag as a hint
    munmap(p, size);
    return false;
  }
  return true;
}

void* map_populated(size_t size) {
  ErrnoKeeper keep;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void* map_noreserve(size_t size) {
  ErrnoKeeper keep;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void* reserve(size_t* size, size_t min_size) {
  ErrnoKeeper keep;
  for (size_t want = *size; want >= min_size && want > 0; want /= 2) {
    void* p = mmap(nullptr, want, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      *size = want;
      return p;
    }
  }
  return nullptr;
}

// A private mapping made writable by mprotect is charged then, not when it
// was reserved: in strict overcommit mode the refusal comes here, as a
// clean false, rather than as a fault later.
bool commit(void* p, size_t size) {
  ErrnoKeeper keep;
  return mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
}

size_t address_space_limit() {
  ErrnoKeeper keep;
  rlimit lim{};
  if (getrlimit(RLIMIT_AS, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return static_cast<size_t>(lim.rlim_cur);
}

void unmap(void* p, size_t size) {
  ErrnoKeeper keep;
  munmap(p, size);
}

void* remap(void* p, size_t old_size, size_t new_size, bool may_move) {
  ErrnoKeeper keep;
  void* q = mremap(p, old_size, new_size, may_move ? MREMAP_MAYMOVE : 0);
  return q == MAP_FAILED ? nullptr : q;
}

void* remap_to(void* p, size_t old_size, size_t new_size, void* dest) {
  ErrnoKeeper keep;
  void* q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
  return q == MAP_FAILED ? nullptr : q;
}

// MADV_DONTNEED rather than MADV_FREE: the RSS drop is immediate and visible
// to the user (MADV_FREE pages still count until the kernel needs them).
bool purge(void* p, size_t size) { return advise(p, size, MADV_DONTNEED); }

bool advise(void* p, size_t size, int advice) {
  ErrnoKeeper keep;
  return madvise(p, size, advice) == 0;
}

bool residency(const void* p, size_t size, unsigned char* out) {
  ErrnoKeeper keep;
  return mincore(const_cast<void*>(p), size, out) == 0;
}

// The file calls below go straight to the kernel: libc's open, read, write
// and close are cancellation points, and a thread with a pending
// pthread_cancel was unwound out of a report (libmalloc is built without
// exceptions: no destructor ran, so the report lock stayed held, and the
// next report, fork and the exit checks hung) or out of its first malloc in
// redzone mode (its stack lookup reads /proc/self/maps). glibc's malloc
// uses its *_nocancel forms likewise.
void write_all(int fd, const char* buf, size_t len) {
  ErrnoKeeper keep;
  while (len > 0) {
    ssize_t n = syscall(SYS_write, fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    buf += n;
    len -= static_cast<size_t>(n);
  }
}

int open_append(const char* path) {
  ErrnoKeeper keep;
  return static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
}

int open_read(const char* path) {
  ErrnoKeeper keep;
  return static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
}

long read(int fd, void* buf, size_t n) {
  ErrnoKeeper keep;
  for (;;) {
    ssize_t r = syscall(SYS_read, fd, buf, n);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

long read_at(int fd, void* buf, size_t n, uint64_t off) {
  ErrnoKeeper keep;
  for (;;) {
    ssize_t r = syscall(SYS_pread64, fd, buf, n, off);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

void close(int fd) {
  ErrnoKeeper keep;
  syscall(SYS_close, fd);
}

long ioctl(int fd, unsigned long request, void* arg) {
  ErrnoKeeper keep;
  long r = syscall(SYS_ioctl, fd, request, arg);
  return r < 0 ? -errno : r;
}

const void* map_file(int fd, size_t* size) {
  ErrnoKeeper keep;
  off_t end = lseek(fd, 0, SEEK_END);
  if (end <= 0) return nullptr;
  void* p = mmap(nullptr, static_cast<size_t>(end), PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return nullptr;
  *size = static_cast<size_t>(end);
  return p;
}

long read_link(const char* path, char* buf, size_t cap) {
  ErrnoKeeper keep;
  if (cap == 0) return -1;
  ssize_t n = ::readlink(path, buf, cap - 1);
  if (n < 0) return -1;
  buf[n] = '\0';
  return n;
}

int getpid() { return static_cast<int>(::getpid()); }
int gettid() { return static_cast<int>(syscall(SYS_gettid)); }

uintptr_t tid_address() {
  constexpr int kGetTidAddress = 40;  // PR_GET_TID_ADDRESS
  int saved = errno;
  int* at = nullptr;
  if (syscall(SYS_prctl, kGetTidAddress, &at, 0, 0, 0) != 0) at = nullptr;
  errno = saved;
  return reinterpret_cast<uintptr_t>(at);
}

unsigned cpu_count() {
  uint64_t set[16] = {};  // room for 1024 CPUs; the raw call returns the bytes it wrote
  int saved = errno;
  long bytes = syscall(SYS_sched_getaffinity, 0, sizeof set, set);
  errno = saved;
  unsigned n = 0;
  for (long i = 0; i < bytes / 8; ++i) n += popcount64(set[i]);
  return n ? n : 1;
}
bool thread_gone(int tid) { return syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH; }

namespace {
std::atomic<uint64_t> g_recent_ms{0};
}

uint64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  uint64_t ms = static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
  g_recent_ms.store(ms, std::memory_order_relaxed);
  return ms;
}

uint64_t recent_ms() { return g_recent_ms.load(std::memory_order_relaxed); }

void die(bool program_handler) {
  // abort() raises SIGABRT like glibc's malloc_printerr; _exit only if a
  // handler returns.
  if (!program_handler) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGABRT, &dfl, nullptr);
    sigset_t abrt;
    sigemptyset(&abrt);
    sigaddset(&abrt, SIGABRT);
    pthread_sigmask(SIG_UNBLOCK, &abrt, nullptr);
  }
  abort();
}

// ---- formatting ----

namespace {
// Renders v in `base` into the end of buf; returns the start.
char* render_unsigned(char* end, unsigned long long v, unsigned base) {
  char* p = end;
  do {
    unsigned d = static_cast<unsigned>(v % base);
    *--p = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v != 0);
  return p;
}

// The shared engine of Writer::vprintf and format(): calls sink(ctx, chars, n).
template <class Sink>
void vformat(Sink&& sink, const char* fmt, va_list ap) {
  char num[32];
  auto pad_out = [&](const char* s, size_t n, int width, bool left, char pad) {
    size_t w = width > 0 ? static_cast<size_t>(width) : 0;
    if (!left && pad == '0' && n < w && (*s == '-')) {  // sign before zeros
      sink(s, 1);
      ++s;
      --n;
      --w;
    }
    if (!left)
      for (size_t i = n; i < w; ++i) sink(&pad, 1);
    sink(s, n);
    if (left)
      for (size_t i = n; i < w; ++i) sink(" ", 1);
  };
  for (const char* f = fmt; *f; ++f) {
    if (*f != '%') {
      const char* run = f;
      while (f[1] && f[1] != '%') ++f;
      sink(run, static_cast<size_t>(f - run + 1));
      continue;
    }
    ++f;
    bool left = false;
    char pad = ' ';
    for (;; ++f) {
      if (*f == '-') left = true;
      else if (*f == '0') pad = '0';
      else break;
    }
    int width = 0;
    while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
    int longs = 0;
    bool size_t_len = false;
    for (;; ++f) {
      if (*f == 'l') ++longs;
      else if (*f == 'z') size_t_len = true;
      else break;
    }
    char* end = num + sizeof(num);
    switch (*f) {
      case 's': {
        const char* s = va_arg(ap, const char*);
        if (!s) s = "(null)";
        size_t n = 0;
        while (s[n]) ++n;
        pad_out(s, n, width, left, ' ');
        break;
      }
      case 'c': {
        char c = static_cast<char>(va_arg(ap, int));
        pad_out(&c, 1, width, left, ' ');
        break;
      }
      case 'd':
      case 'i': {
        long long v = size_t_len ? static_cast<long long>(va_arg(ap, ssize_t))
                      : longs    ? va_arg(ap, long)
                                 : va_arg(ap, int);
        unsigned long long mag = v < 0 ? 0ull - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
        char* p = render_unsigned(end, mag, 10);
        if (v < 0) *--p = '-';
        pad_out(p, static_cast<size_t>(end - p), width, left, pad);
        break;
      }
      case 'u':
      case 'x': {
        unsigned long long v = size_t_len ? va_arg(ap, size_t)
                               : longs    ? va_arg(ap, unsigned long)
                                          : va_arg(ap, unsigned);
        char* p = render_unsigned(end, v, *f == 'u' ? 10 : 16);
        pad_out(p, static_cast<size_t>(end - p), width, left, pad);
        break;
      }
      case 'p': {
        char* p = render_unsigned(end, reinterpret_cast<uintptr_t>(va_arg(ap, void*)), 16);
        *--p = 'x';
        *--p = '0';
        pad_out(p, static_cast<size_t>(end - p), width, left, ' ');
        break;
      }
      case '%':
        sink("%", 1);
        break;
      case '\0':
        return;
      default:
        sink(f - 1, 2);
        break;
    }
  }
}
}  // namespace

void Writer::printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
}

void Writer::vprintf(const char* fmt, va_list ap) {
  vformat([this](const char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) put(s[i]);
  }, fmt, ap);
}

void Writer::flush() {
  if (len_ > 0 && fd_ >= 0) write_all(fd_, buf_, len_);
  len_ = 0;
}

// A full buffer writes its whole lines and keeps the partial last one, so
// that the reports of processes sharing one stderr (make -j under stats=1)
// interleave between lines, not inside them. A line longer than the buffer
// goes out in pieces.
void Writer::spill() {
  size_t end = len_;
  while (end > 0 && buf_[end - 1] != '\n') --end;
  if (end == 0) return flush();
  if (fd_ >= 0) write_all(fd_, buf_, end);
  std::memmove(buf_, buf_ + end, len_ - end);
  len_ -= end;
}

size_t format(char* out, size_t cap, const char* fmt, ...) {
  size_t len = 0;
  va_list ap;
  va_start(ap, fmt);
  vformat([&](const char* s, size_t n) {
    for (size_t i = 0; i < n && len + 1 < cap; ++i) out[len++] = s[i];
  }, fmt, ap);
  va_end(ap);
  if (cap > 0) out[len] = '\0';
  return len;
}

}  // namespace lm::os
