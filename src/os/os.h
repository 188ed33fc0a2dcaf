// os.h: the platform contract. The only module that makes system calls.
// Shared invariants: nothing here allocates, takes a lock of ours, or leaves
// errno changed (callers set errno themselves, as glibc does). Functions that
// obtain memory return nullptr on failure; memory from the kernel is zeroed.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstddef>
#include <cstdint>

#include "base/base.h"

namespace lm::os {

// The system page size, read once (getauxval does not allocate).
extern std::atomic<size_t> g_page_size;
LM_SLOW_PATH size_t read_page_size();
inline size_t page_size() {
  size_t ps = g_page_size.load(std::memory_order_relaxed);
  return LM_LIKELY(ps != 0) ? ps : read_page_size();
}

// Moves the program break by `increment` bytes through libc's sbrk, so that a
// program calling sbrk itself stays consistent with us. Returns the old break,
// or nullptr when the kernel refuses (RLIMIT_DATA, a mapping in the way).
void* sbrk(intptr_t increment);
// The current program break.
void* current_break();

// A private anonymous read-write mapping of `size` bytes (a page multiple).
void* map(size_t size);
// Like map, but exactly at `at` (page aligned), and only if nothing is mapped
// there (MAP_FIXED_NOREPLACE): false otherwise.
bool map_at(void* at, size_t size);
// Like map, with every page faulted in now (MAP_POPULATE).
void* map_populated(size_t size);
// Like map, but reserves address space only (MAP_NORESERVE): for page maps.
void* map_noreserve(size_t size);
// Address space with no access (PROT_NONE): no memory and no commit charge
// until commit() opens part of it. Asks for *size bytes; when the kernel
// refuses (RLIMIT_AS, no room), for *size / 2, / 4, ... down to min_size.
// *size receives what was reserved; nullptr when even min_size is refused.
void* reserve(size_t* size, size_t min_size);
// Makes [p, p + size) of a reservation read-write (mprotect, page multiples):
// it is then ordinary zeroed memory, charged against the commit limit. False
// when the kernel refuses.
bool commit(void* p, size_t size);
// The address-space limit (RLIMIT_AS, soft) in bytes; SIZE_MAX when none.
size_t address_space_limit();
void unmap(void* p, size_t size);
// Resizes a mapping in place or, with may_move, wherever the kernel likes.
void* remap(void* p, size_t old_size, size_t new_size, bool may_move);
// Moves and resizes a mapping onto [dest, dest + new_size), which the caller
// owns (a reservation): whatever is mapped there is replaced. nullptr when
// the kernel refuses (the mapping then stays where it was).
void* remap_to(void* p, size_t old_size, size_t new_size, void* dest);
// MADV_DONTNEED: the pages read back as zero and stop counting in RSS.
bool purge(void* p, size_t size);
// Generic madvise; false when the kernel refuses the advice.
bool advise(void* p, size_t size, int advice);
// mincore: bit 0 of out[i] is set when page i of [p, p + size) is resident.
bool residency(const void* p, size_t size, unsigned char* out);

// Writes all of buf to fd, retrying on EINTR and short writes.
void write_all(int fd, const char* buf, size_t len);
int open_append(const char* path);
int getpid();
int gettid();
// Where the kernel clears the calling thread's id when it exits
// (CLONE_CHILD_CLEARTID: in glibc's thread descriptor, what pthread_join
// waits on); 0 where the kernel does not tell (PR_GET_TID_ADDRESS needs
// CONFIG_CHECKPOINT_RESTORE). errno is kept.
uintptr_t tid_address();
// The CPUs this process may run on (sched_getaffinity, read each call), at least 1.
unsigned cpu_count();
// Has thread `tid` of this process exited? (tgkill with no signal: ESRCH.)
bool thread_gone(int tid);
// Milliseconds from a monotonic clock (coarse, through the vDSO: ~20 ns).
uint64_t now_ms();
// The last value now_ms() returned to anyone: free to read, and as fresh as
// the allocator's periodic upkeep (a few ms). For ageing, not for timing.
uint64_t recent_ms();
// abort(). With program_handler false, SIGABRT's default action first: for
// reports at exit, where a program's crash handler finds its state torn down.
[[noreturn]] void die(bool program_handler = true);

// Read-only file access for redzone reports (symbol tables, /proc/self/maps).
// Unbuffered, never allocates; -1 / nullptr on failure.
int open_read(const char* path);
long read(int fd, void* buf, size_t n);
// pread(2): n bytes at offset off, without moving the file position.
long read_at(int fd, void* buf, size_t n, uint64_t off);
void close(int fd);
// ioctl(2), not through libc's symbol (a program may interpose it): its
// result, or -errno on failure (errno itself is kept).
long ioctl(int fd, unsigned long request, void* arg);
// Maps the whole file read-only (private); *size receives its length.
const void* map_file(int fd, size_t* size);
// readlink(2) NUL-terminated into buf; its length or -1.
long read_link(const char* path, char* buf, size_t cap);

// printf-style formatting into a fixed buffer, flushed to a descriptor.
// Supports %s %c %d %i %u %x %p %% with l/z length, '-' and '0' flags and a
// width. Never allocates.
class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) {}
  ~Writer() { flush(); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void printf(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void vprintf(const char* fmt, va_list ap);
  void put(char c) {
    if (len_ == sizeof(buf_)) spill();
    buf_[len_++] = c;
  }
  void puts(const char* s) {
    while (*s) put(*s++);
  }
  void flush();

 private:
  void spill();
  void put_padded(const char* s, size_t n, int width, bool left, char pad);
  int fd_;
  size_t len_ = 0;
  char buf_[1024];
};

// Formats into a caller's buffer (always NUL-terminated); returns the length.
size_t format(char* out, size_t cap, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

}  // namespace lm::os
