// intercept.cpp: redzone mode's checks of the program's calls to libc's
// memory and string functions (memcpy, strcpy, strlen, ...), as
// AddressSanitizer's runtime checks them when it is preloaded: an overflow
// or a use after free that goes through such a call is reported at the call,
// with its stack, rather than when the block is freed (or, for a read, not
// at all).
//
// Without instrumentation there is nothing to hook but the calls between
// modules. libmalloc.so cannot simply export memcpy: every preloaded
// program, in fast mode too, would then pay a check on every memcpy, and
// libmalloc.a would clash with libc.a. So in redzone mode only, at start-up,
// the program's modules have their GOT slots for these functions (the
// PLT's jump slots, and the GLOB_DAT slots of -fno-plt calls and function
// pointers) pointed at the checked versions below; the checked versions call
// libc through libmalloc's own slots, which are left alone. Libraries loaded
// later are patched after the first stack walk that sees them (stack.cpp
// calls back at each walk, and at a thread's every 64th capture that the
// stack-capture cache answers without one). A dlopen wrapper did it at first, and was dropped: glibc's
// dlopen searches its caller's RUNPATH and $ORIGIN (the caller was
// libmalloc), and patching right after one thread's dlopen met another
// thread's library half loaded (glibc lists a module before relocating it:
// a lazy slot got the load address added to our pointer, and a RELRO page
// made read-only before the loader's last writes faulted). Hence the rules
// in patch_relocs and write_slot: a slot not yet relocated, or a RELRO page
// still writable, waits for a later pass.
//
// Not covered: calls inside libc itself and inside the module that holds
// libmalloc (an executable linked with libmalloc.a), calls the compiler
// inlined (a constant-size memcpy at -O2), statically linked libc, and a
// library's calls between its load and that callback.
#include <elf.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <iconv.h>
#include <link.h>
#include <netdb.h>
#include <netinet/in.h>
#include <strings.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pwd.h>
#include <regex.h>
#include <spawn.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <utime.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>

#include "base/lock.h"
#include "os/os.h"
#include "redzone/internal.h"
#include "redzone/redzone.h"

namespace lm::redzone {
namespace {

// A range [a, a + n) the program reads or writes through libc: looked at
// when either end has shadow; reported at its first bad byte (as ASan's
// interceptors do), at the program's call.
//
// check_range leaves the range's address in its frame, below this one: a
// block's address there, in stack that a frame of the program's later
// leaves unwritten (__libc_start_call_main's unwinding buffer, for a block
// a library constructor allocated and checked in a memset), kept the block
// reachable to detect_leaks for good. So its frame is cleared after it.
// (Its clean path and shadow::first_bad's take under 256 bytes; a report's
// frame is larger, but the report names the block: it stays reachable only
// with halt_on_error=0.) Only with detect_leaks: the 64 stores were 38% of
// a sort's time in redzone mode (its strcoll checks).
LM_NOINLINE void clear_below() {
  volatile uint64_t frames[64];
  for (auto& w : frames) w = 0;
}
LM_NOINLINE void range_slow(uptr a, size_t n, bool write, uptr pc, const char* func) {
  uptr frame = addr(__builtin_frame_address(0));
  check_range(a, n, write, pc, frame, func);
  if (leak_scan_at_exit()) clear_below();
}
LM_FAST_PATH void range(const void* p, size_t n, bool write, uptr pc, const char* func) {
  uptr a = addr(p);
  if (n == 0) return;
  if (shadow::byte_for(a) != nullptr || (a + n - 1 > a && shadow::byte_for(a + n - 1) != nullptr))
    range_slow(a, n, write, pc, func);
}
#define LM_PC lm::addr(__builtin_return_address(0))

// A string libc reads whole (its terminator included), where it is not null.
LM_FAST_PATH void string_read(const char* s, uptr pc, const char* func) {
  if (s) range(s, strlen(s) + 1, false, pc, func);
}

size_t bounded_len(const char* s, size_t n) { return strnlen(s, n); }

constexpr size_t kNoLimit = ~size_t{0};

// A vectored call's buffers (writev, readv, sendmsg, recvmsg): the iovec
// array itself is read; then each buffer in order, up to `bytes` in all
// (what the call transferred).
LM_NOINLINE void vector_ranges(const iovec* iov, size_t count, size_t bytes, bool write, uptr pc, const char* func) {
  if (count > IOV_MAX) return;  // (the kernel would have refused it)
  range(iov, count * sizeof(iovec), false, pc, func);
  for (size_t i = 0; i < count && bytes > 0; ++i) {
    size_t len = iov[i].iov_len < bytes ? iov[i].iov_len : bytes;
    range(iov[i].iov_base, len, write, pc, func);
    bytes -= len;
  }
}

// A vectored call's result: the r bytes it moved, when it succeeded.
LM_FAST_PATH ssize_t moved(ssize_t r, const iovec* iov, size_t count, bool write, uptr pc, const char* func) {
  if (r > 0) vector_ranges(iov, count, size_t(r), write, pc, func);
  return r;
}

// Input into a buffer: checked after the call, for what it wrote (as ASan
// does: a read of 4096 into a 100-byte block that returns 50 bytes is no
// bug yet). Each takes the call's result and returns it.
// A count of bytes.
LM_FAST_PATH ssize_t got_bytes(ssize_t r, void* buf, uptr pc, const char* func) {
  if (r > 0) range(buf, size_t(r), true, pc, func);
  return r;
}
// What a recv of at most n bytes wrote: with MSG_TRUNC it returns a
// datagram's whole length, which may be more, and on a TCP socket it
// discards the bytes, writing nothing.
size_t received(int fd, int flags, ssize_t r, size_t n) {
  if (r <= 0) return 0;
  if (flags & MSG_TRUNC) {
    int protocol = 0;
    socklen_t len = sizeof protocol;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 && protocol == IPPROTO_TCP) return 0;
  }
  return size_t(r) < n ? size_t(r) : n;
}
LM_FAST_PATH ssize_t got_received(ssize_t r, int fd, int flags, void* buf, size_t n, uptr pc, const char* func) {
  range(buf, received(fd, flags, r, n), true, pc, func);
  return r;
}
// A string the kernel may read, where nothing proves the pointer readable
// (a failed path call, exec and posix_spawn before the call: a successful
// exec does not return): measured only where it lies in a live heap block
// (its start or inside it, as live_bytes_from finds them), whose header
// says how much of it can be read; a pointer elsewhere may be one the
// kernel would refuse with EFAULT, and is not looked at. Its terminator must
// lie within its block (else the kernel reads on into the redzone); one in
// a freed block is reported at its first byte.
void heap_string_read(const char* s, uptr pc, const char* func) {
  if (!s) return;
  const uint8_t* sh = shadow::byte_for(addr(s));
  if (sh && *sh == kFreed) return range(s, 1, false, pc, func);
  size_t room = live_bytes_from(addr(s));
  if (room && strnlen(s, room) == room) range(s, room + 1, false, pc, func);
}
// Paths the kernel reads (open, stat, unlink, ...): checked after the call
// (before it, a wild pointer would crash the check where the call only
// fails with EFAULT). After a success the kernel read the path: up to its
// terminator or PATH_MAX bytes, the most it reads. After a failure in
// looking a path up (ENOENT, ENOTDIR, EACCES, ...) an errno does not tell
// which path it read, or whether it read one at all (rename's missing first
// path hides an EFAULT for its second; linkat with AT_EMPTY_PATH fails on
// older kernels before reading either), so only a path that is a heap
// block's start is measured, within its block (heap_string_read). (Probing
// with a syscall was no better: a seccomp filter may refuse it, and its
// lookup is one the program never made.) Not after other errors: EFAULT is
// the kernel refusing the pointer, and an EINVAL (truncate to -1, a bad
// flag, fopen's bad mode) may come before anything read it.
bool path_was_read(bool failed) {
  if (!failed) return true;
  switch (errno) {
    case ENOENT: case ENOTDIR: case EACCES: case ELOOP: case ENAMETOOLONG: case EEXIST: case EISDIR: case EROFS:
    case ENOTEMPTY: case EXDEV: case ETXTBSY: case EBADF:  // (a relative path's directory: looked at after reading it)
      return true;
    default:
      return false;
  }
}
void path_read(const char* path, bool failed, uptr pc, const char* func) {
  // libc declares most path parameters __nonnull, and GCC dropped the test
  // below after such a call (statx and fstatat(fd, NULL, AT_EMPTY_PATH)
  // succeed on Linux 6.11 and later: strnlen(NULL) crashed).
  __asm__("" : "+r"(path));
  if (!path || !path_was_read(failed)) return;
  if (failed) {
    heap_string_read(path, pc, func);
    return;
  }
  size_t n = strnlen(path, PATH_MAX);
  range(path, n < PATH_MAX ? n + 1 : n, false, pc, func);
}
LM_FAST_PATH int got_path(int r, const char* path, uptr pc, const char* func) {
  path_read(path, r < 0, pc, func);
  return r;
}
LM_FAST_PATH int got_paths(int r, const char* from, const char* to, uptr pc, const char* func) {
  path_read(from, r < 0, pc, func);
  path_read(to, r < 0, pc, func);
  return r;
}
// stat and its kind: the path, and on success the struct stat written.
LM_FAST_PATH int got_stat(int r, const char* path, struct stat* st, uptr pc, const char* func) {
  path_read(path, r < 0, pc, func);
  if (r == 0) range(st, sizeof *st, true, pc, func);
  return r;
}
// fread's count of items.
LM_FAST_PATH size_t got_items(size_t r, void* buf, size_t size, uptr pc, const char* func) {
  if (r > 0) range(buf, r * size, true, pc, func);
  return r;
}
// fgets's string.
LM_FAST_PATH char* got_string(char* r, uptr pc, const char* func) {
  if (r) range(r, strlen(r) + 1, true, pc, func);
  return r;
}
// getline's: r bytes and a terminator at *line.
LM_FAST_PATH ssize_t got_line(ssize_t r, char** line, uptr pc, const char* func) {
  if (r > 0) range(*line, size_t(r) + 1, true, pc, func);
  return r;
}

// A comparison's reads, the same in both strings: up to and including the
// first difference or terminator, at most n characters (`fold`: ignoring
// case, as strcasecmp does). Measured only when a string may lie in the heap
// (its first byte has shadow).
template <typename C>
LM_NOINLINE void compared_slow(const C* a, const C* b, size_t n, bool fold, uptr pc, const char* func) {
  size_t i = 0;
  if constexpr (sizeof(C) == 1) {
    // Eight bytes at a time while they are equal and hold no terminator,
    // and neither load can reach into the next page (which the string may
    // not: it can end at its page's end). sort's strcoll checks spent a
    // fifth of its time in the byte loop below.
    constexpr uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
    while (!fold && n - i >= 8 && (addr(a + i) & 4095) <= 4088 && (addr(b + i) & 4095) <= 4088) {
      uint64_t x, y;
      std::memcpy(&x, a + i, 8);
      std::memcpy(&y, b + i, 8);
      if (x != y || ((x - kOnes) & ~x & kHighs) != 0) break;
      i += 8;
    }
  }
  while (i < n) {
    auto x = a[i], y = b[i];
    if constexpr (sizeof(C) == 1) {
      if (fold) {
        x = C(std::tolower(static_cast<unsigned char>(x)));
        y = C(std::tolower(static_cast<unsigned char>(y)));
      }
    }
    ++i;
    if (x != y || x == 0) break;
  }
  range(a, i * sizeof(C), false, pc, func);
  range(b, i * sizeof(C), false, pc, func);
}
template <typename C>
LM_FAST_PATH void compared(const C* a, const C* b, size_t n, bool fold, uptr pc, const char* func) {
  if (shadow::byte_for(addr(a)) != nullptr || shadow::byte_for(addr(b)) != nullptr)
    compared_slow(a, b, n, fold, pc, func);
}

// Bytes in n wide characters (saturated: a count that large fails in libc
// before anything is checked past the block).
constexpr size_t wide(size_t n) { return n > kNoLimit / sizeof(wchar_t) ? kNoLimit : n * sizeof(wchar_t); }

// What a number's parse read (strtol, strtod and their kin): up to where it
// stopped, and the character there, which ended the number. With no number
// at all (end == s) it read the leading white space, a sign, and the
// character after them. (It may have read a little more: "0x" followed by
// no hex digit stops after the 0. Not counted.)
size_t parse_length(const char* s, const char* end) {
  const char* p = end;
  if (p == s) {
    while (std::isspace(static_cast<unsigned char>(*p))) ++p;
    if (*p == '+' || *p == '-') ++p;
  }
  return size_t(p - s) + 1;
}
// The integer parsers. A base glibc refuses (EINVAL) reads nothing and
// leaves *endp alone.
template <typename T>
LM_FAST_PATH T parse_integer(T (*parse)(const char*, char**, int), const char* s, char** endp, int base, uptr pc,
                             const char* func) {
  if (base != 0 && (base < 2 || base > 36)) return parse(s, endp, base);
  char* end;
  T v = parse(s, &end, base);
  if (endp) *endp = end;
  range(s, parse_length(s, end), false, pc, func);
  return v;
}
template <typename T>
LM_FAST_PATH T parse_float(T (*parse)(const char*, char**), const char* s, char** endp, uptr pc, const char* func) {
  char* end;
  T v = parse(s, &end);
  if (endp) *endp = end;
  range(s, parse_length(s, end), false, pc, func);
  return v;
}

// What fits in n bytes: the string, and its terminator if there was room.
void bounded_string_written(const char* s, size_t n, uptr pc, const char* func) {
  if (n == 0) return;
  size_t k = strnlen(s, n);
  range(s, k < n ? k + 1 : k, true, pc, func);
}
// gethostname's result r: the name written on success; with ENAMETOOLONG
// glibc copied n bytes all the same.
LM_FAST_PATH int hostname_written(int r, const char* name, size_t n, uptr pc, const char* func) {
  if (r == 0) bounded_string_written(name, n, pc, func);
  else if (errno == ENAMETOOLONG) range(name, n, true, pc, func);
  return r;
}
// ctime_r's and asctime_r's result r: the text written on success; with
// EOVERFLOW (a year past 9999) the 26 bytes the caller must provide were
// written, then refused.
LM_FAST_PATH char* time_text_written(char* r, const char* buf, uptr pc, const char* func) {
  if (r) range(buf, strlen(buf) + 1, true, pc, func);
  else if (errno == EOVERFLOW) range(buf, 26, true, pc, func);
  return r;
}
// A tokenizer's token r (strtok, strsep), after the call: with the
// terminator it wrote at its end (a string never terminated runs into the
// redzone there), and the delimiters; none when there was no token (at a
// string's end glibc returns NULL without reading them).
LM_FAST_PATH void token_read(const char* r, const char* delim, uptr pc, const char* func) {
  if (!r) return;
  string_read(delim, pc, func);
  range(r, strlen(r) + 1, true, pc, func);
}
size_t inet_bytes(int af) { return af == AF_INET ? 4 : af == AF_INET6 ? 16 : 0; }
// poll's array (read, and written back), ppoll's timeout and the signal
// mask's 8 bytes the kernel reads: after the call, but not after EINVAL (an
// n above RLIMIT_NOFILE: nothing was read). (range reads the shadow only: a
// pointer the kernel refused does no harm.)
LM_FAST_PATH int polled(int r, const struct pollfd* fds, nfds_t n, const struct timespec* ts, const sigset_t* mask,
                        uptr pc, const char* func) {
  int e = errno;
  size_t bytes;
  // (The kernel takes n as an unsigned int.)
  if ((r >= 0 || e != EINVAL) && !__builtin_mul_overflow(static_cast<unsigned>(n), sizeof *fds, &bytes)) {
    range(fds, bytes, true, pc, func);
    if (ts) range(ts, sizeof *ts, false, pc, func);
    if (mask) range(mask, 8, false, pc, func);  // (_NSIG / 8: the kernel's sigset)
  }
  errno = e;
  return r;
}

// A null-terminated array of strings (argv, envp): its null must lie within
// its block (the terminator forgotten: the kernel reads the slot past its
// end), and each string as heap_string_read checks it.
void heap_vector_read(char* const* v, uptr pc, const char* func) {
  if (!v) return;
  const uint8_t* sh = shadow::byte_for(addr(v));
  if (sh && *sh == kFreed) return range(v, sizeof *v, false, pc, func);
  size_t slots = live_bytes_from(addr(v)) / sizeof *v;
  if (!slots) return;
  for (size_t i = 0; i < slots; ++i) {
    if (!v[i]) return;
    heap_string_read(v[i], pc, func);
  }
  range(v, (slots + 1) * sizeof *v, false, pc, func);
}
LM_FAST_PATH void exec_read(const char* path, char* const* argv, char* const* envp, uptr pc, const char* func) {
  heap_string_read(path, pc, func);
  heap_vector_read(argv, pc, func);
  heap_vector_read(envp, pc, func);
}

// A substring search's reads (strstr, strcasestr), after it: the needle
// whole; the haystack up to the end of what it found, or all of it,
// terminator included, when it found nothing.
LM_FAST_PATH void search_read(const char* h, const char* nd, const char* r, uptr pc, const char* func) {
  size_t nl = strlen(nd);
  range(nd, nl + 1, false, pc, func);
  range(h, r ? size_t(r - h) + nl : strlen(h) + 1, false, pc, func);
}

// The struct they fill, on success.
template <typename T>
LM_FAST_PATH int got_struct(int r, const char* path, T* out, uptr pc, const char* func) {
  path_read(path, r < 0, pc, func);
  if (r == 0) range(out, sizeof *out, true, pc, func);
  return r;
}

// Whether [p, p + n) can surely be read before a call: on the calling
// thread's own stack (as found once per thread: a coroutine's stack, or
// the main thread's stack grown since, are not looked up again, which
// would read /proc/self/maps each call), or inside a live heap block.
bool readable(const void* p, size_t n) {
  uptr a = addr(p), lo, hi;
  return p && ((stack::own_stack(&lo, &hi) && a >= lo && a < hi && hi - a >= n) || live_bytes_from(a) >= n);
}

// A length that the kernel reads and then rewrites (accept's *addrlen,
// getsockopt's *optlen, recvmsg's msg_namelen): the call writes at most
// what it read, so checking its output needs the value from before the
// call, read only where it surely can be (readable). Elsewhere (a global,
// or a wild pointer that the kernel refuses with EFAULT) the output is not
// checked.
bool length_before(const socklen_t* p, socklen_t* out) {
  if (!readable(p, sizeof *p)) return false;
  *out = *p;
  return true;
}

// A socket address the kernel copies in (bind, connect, sendto, sendmsg):
// `len` bytes, when the kernel takes that many (no more than its own
// sockaddr_storage, else EINVAL before it reads).
LM_FAST_PATH void address_read(const void* a, socklen_t len, uptr pc, const char* func) {
  if (a && len <= sizeof(sockaddr_storage)) range(a, len, false, pc, func);
}

// A socket address the kernel copied out (accept, getsockname, recvfrom,
// ...), and getsockopt's value: the kernel wrote the smaller of the room
// the program gave (`in`, read before the call) and the length it stored
// back (the address's own, which may be more: the copy was cut).
// The length itself was read and rewritten (checked whatever its place).
LM_FAST_PATH void length_written(bool ok, void* buf, bool known, socklen_t in, socklen_t* lenp, uptr pc,
                                 const char* func) {
  if (!ok || !buf) return;
  range(lenp, sizeof *lenp, true, pc, func);
  if (known) range(buf, std::min(in, *lenp), true, pc, func);
}

// A call that copies out into buf up to *len bytes (accept, getsockname,
// getsockopt, recvfrom, ...): the room read before it, what it wrote after
// it, when it succeeded (a result of 0 only, with `zero_only`; else any
// result from 0 up).
template <class Call>
LM_FAST_PATH auto length_out(void* buf, socklen_t* len, bool zero_only, uptr pc, const char* func, Call call) {
  socklen_t room = 0;
  bool known = buf && length_before(len, &room);
  auto r = call();
  length_written(zero_only ? r == 0 : r >= 0, buf, known, room, len, pc, func);
  return r;
}

// select's descriptor sets: the kernel reads the longs that hold nfds bits
// (also when it then fails with EBADF, a bit set for a closed descriptor,
// or EINTR) and rewrites them when it succeeds.
void fd_sets_used(int r, int nfds, fd_set* sets[3], uptr pc, const char* func) {
  if (nfds <= 0 || nfds > (1 << 20) || (r < 0 && errno != EBADF && errno != EINTR)) return;
  size_t bytes = (size_t(nfds) + 63) / 64 * 8;
  for (int i = 0; i < 3; ++i)
    if (sets[i]) range(sets[i], bytes, r >= 0, pc, func);
}

// What the kernel read of a message it sent (sendmsg, sendmmsg): the
// msghdr, the address (cut to its own sockaddr_storage: a longer
// msg_namelen is not refused here), the control data in whole, and `bytes`
// of the iovecs.
void message_sent(const msghdr* m, size_t bytes, uptr pc, const char* func) {
  range(m, sizeof *m, false, pc, func);
  if (m->msg_name) range(m->msg_name, std::min<size_t>(m->msg_namelen, sizeof(sockaddr_storage)), false, pc, func);
  range(m->msg_control, m->msg_controllen, false, pc, func);
  if (bytes > 0) vector_ranges(m->msg_iov, m->msg_iovlen, bytes, false, pc, func);
}

// What the kernel wrote of a message it received (recvmsg, recvmmsg), of
// `bytes` (the datagram's whole length with MSG_TRUNC): the msghdr
// (msg_namelen, msg_controllen and msg_flags rewritten), the address
// (`name_room`: msg_namelen before the call, when `known`), the control
// data (what it stores in msg_controllen is what it wrote: never more than
// the room it was given) and the iovecs.
void message_received(int fd, int flags, msghdr* m, size_t bytes, bool known, socklen_t name_room, uptr pc,
                      const char* func) {
  range(m, sizeof *m, true, pc, func);
  length_written(true, m->msg_name, known, name_room, &m->msg_namelen, pc, func);
  range(m->msg_control, m->msg_controllen, true, pc, func);
  if (bytes > 0) vector_ranges(m->msg_iov, m->msg_iovlen, received(fd, flags, ssize_t(bytes), kNoLimit), true, pc, func);
}

}  // namespace
}  // namespace lm::redzone

// The checked versions: hidden (only GOT slots point here), C linkage so
// that the names say what they replace in a backtrace.
extern "C" {
namespace rz = lm::redzone;
using lm::uptr;

#define LM_HIDDEN __attribute__((visibility("hidden"), used))

LM_HIDDEN void* lm_rz_memcpy(void* d, const void* s, size_t n) {
  rz::range(s, n, false, LM_PC, "memcpy");
  rz::range(d, n, true, LM_PC, "memcpy");
  return memcpy(d, s, n);
}
LM_HIDDEN void* lm_rz_memmove(void* d, const void* s, size_t n) {
  rz::range(s, n, false, LM_PC, "memmove");
  rz::range(d, n, true, LM_PC, "memmove");
  return memmove(d, s, n);
}
LM_HIDDEN void* lm_rz_mempcpy(void* d, const void* s, size_t n) {
  rz::range(s, n, false, LM_PC, "mempcpy");
  rz::range(d, n, true, LM_PC, "mempcpy");
  return static_cast<char*>(memcpy(d, s, n)) + n;
}
LM_HIDDEN void* lm_rz_memset(void* d, int c, size_t n) {
  rz::range(d, n, true, LM_PC, "memset");
  return memset(d, c, n);
}
LM_HIDDEN int lm_rz_memcmp(const void* a, const void* b, size_t n) {
  rz::range(a, n, false, LM_PC, "memcmp");
  rz::range(b, n, false, LM_PC, "memcmp");
  return memcmp(a, b, n);
}
LM_HIDDEN size_t lm_rz_strlen(const char* s) {
  size_t n = strlen(s);
  rz::range(s, n + 1, false, LM_PC, "strlen");
  return n;
}
LM_HIDDEN size_t lm_rz_strnlen(const char* s, size_t max) {
  size_t n = strnlen(s, max);
  rz::range(s, n < max ? n + 1 : n, false, LM_PC, "strnlen");
  return n;
}
LM_HIDDEN char* lm_rz_strcpy(char* d, const char* s) {
  size_t n = strlen(s) + 1;
  rz::range(s, n, false, LM_PC, "strcpy");
  rz::range(d, n, true, LM_PC, "strcpy");
  return static_cast<char*>(memcpy(d, s, n));
}
LM_HIDDEN char* lm_rz_stpcpy(char* d, const char* s) {
  size_t n = strlen(s) + 1;
  rz::range(s, n, false, LM_PC, "stpcpy");
  rz::range(d, n, true, LM_PC, "stpcpy");
  return static_cast<char*>(memcpy(d, s, n)) + n - 1;
}
LM_HIDDEN char* lm_rz_strncpy(char* d, const char* s, size_t n) {
  size_t k = rz::bounded_len(s, n);
  rz::range(s, k < n ? k + 1 : k, false, LM_PC, "strncpy");
  rz::range(d, n, true, LM_PC, "strncpy");
  return strncpy(d, s, n);
}
LM_HIDDEN char* lm_rz_strcat(char* d, const char* s) {
  size_t dl = strlen(d), sl = strlen(s) + 1;
  rz::range(d, dl + 1, false, LM_PC, "strcat");
  rz::range(s, sl, false, LM_PC, "strcat");
  rz::range(d + dl, sl, true, LM_PC, "strcat");
  memcpy(d + dl, s, sl);
  return d;
}
LM_HIDDEN char* lm_rz_strncat(char* d, const char* s, size_t n) {
  size_t dl = strlen(d), sl = rz::bounded_len(s, n);
  rz::range(d, dl + 1, false, LM_PC, "strncat");
  rz::range(s, sl < n ? sl + 1 : sl, false, LM_PC, "strncat");
  rz::range(d + dl, sl + 1, true, LM_PC, "strncat");
  return strncat(d, s, n);
}
LM_HIDDEN char* lm_rz_strdup(const char* s) {
  rz::string_read(s, LM_PC, "strdup");
  return strdup(s);
}
LM_HIDDEN char* lm_rz_strndup(const char* s, size_t n) {
  size_t k = rz::bounded_len(s, n);
  rz::range(s, k < n ? k + 1 : k, false, LM_PC, "strndup");
  return strndup(s, n);
}

// The fortified forms (-D_FORTIFY_SOURCE, Debian's default for its
// packages): the same checks, then libc's, which aborts when the compiler's
// idea of the destination's size is exceeded.
void* __memcpy_chk(void*, const void*, size_t, size_t);
void* __memmove_chk(void*, const void*, size_t, size_t);
void* __mempcpy_chk(void*, const void*, size_t, size_t);
void* __memset_chk(void*, int, size_t, size_t);
char* __strcpy_chk(char*, const char*, size_t);
char* __stpcpy_chk(char*, const char*, size_t);
char* __strncpy_chk(char*, const char*, size_t, size_t);
char* __strcat_chk(char*, const char*, size_t);
char* __strncat_chk(char*, const char*, size_t, size_t);

LM_HIDDEN void* lm_rz_memcpy_chk(void* d, const void* s, size_t n, size_t dn) {
  rz::range(s, n, false, LM_PC, "__memcpy_chk");
  rz::range(d, n, true, LM_PC, "__memcpy_chk");
  return __memcpy_chk(d, s, n, dn);
}
LM_HIDDEN void* lm_rz_memmove_chk(void* d, const void* s, size_t n, size_t dn) {
  rz::range(s, n, false, LM_PC, "__memmove_chk");
  rz::range(d, n, true, LM_PC, "__memmove_chk");
  return __memmove_chk(d, s, n, dn);
}
LM_HIDDEN void* lm_rz_mempcpy_chk(void* d, const void* s, size_t n, size_t dn) {
  rz::range(s, n, false, LM_PC, "__mempcpy_chk");
  rz::range(d, n, true, LM_PC, "__mempcpy_chk");
  return __mempcpy_chk(d, s, n, dn);
}
LM_HIDDEN void* lm_rz_memset_chk(void* d, int c, size_t n, size_t dn) {
  rz::range(d, n, true, LM_PC, "__memset_chk");
  return __memset_chk(d, c, n, dn);
}
LM_HIDDEN char* lm_rz_strcpy_chk(char* d, const char* s, size_t dn) {
  size_t n = strlen(s) + 1;
  rz::range(s, n, false, LM_PC, "__strcpy_chk");
  rz::range(d, n, true, LM_PC, "__strcpy_chk");
  return __strcpy_chk(d, s, dn);
}
LM_HIDDEN char* lm_rz_stpcpy_chk(char* d, const char* s, size_t dn) {
  size_t n = strlen(s) + 1;
  rz::range(s, n, false, LM_PC, "__stpcpy_chk");
  rz::range(d, n, true, LM_PC, "__stpcpy_chk");
  return __stpcpy_chk(d, s, dn);
}
LM_HIDDEN char* lm_rz_strncpy_chk(char* d, const char* s, size_t n, size_t dn) {
  size_t k = rz::bounded_len(s, n);
  rz::range(s, k < n ? k + 1 : k, false, LM_PC, "__strncpy_chk");
  rz::range(d, n, true, LM_PC, "__strncpy_chk");
  return __strncpy_chk(d, s, n, dn);
}
LM_HIDDEN char* lm_rz_strcat_chk(char* d, const char* s, size_t dn) {
  size_t dl = strlen(d), sl = strlen(s) + 1;
  rz::range(d, dl + 1, false, LM_PC, "__strcat_chk");
  rz::range(s, sl, false, LM_PC, "__strcat_chk");
  rz::range(d + dl, sl, true, LM_PC, "__strcat_chk");
  return __strcat_chk(d, s, dn);
}
LM_HIDDEN char* lm_rz_strncat_chk(char* d, const char* s, size_t n, size_t dn) {
  size_t dl = strlen(d), sl = rz::bounded_len(s, n);
  rz::range(d, dl + 1, false, LM_PC, "__strncat_chk");
  rz::range(s, sl < n ? sl + 1 : sl, false, LM_PC, "__strncat_chk");
  rz::range(d + dl, sl + 1, true, LM_PC, "__strncat_chk");
  return __strncat_chk(d, s, n, dn);
}

// A printf or scanf conversion's length modifier, as glibc 2.36 reads it
// (for both): hh, h, none; l, j, z, Z and t (a long: 8 bytes on x86-64, a
// double, a wide string or character); ll, q and L alike (a long long, a
// long double, wide). f is moved past it.
enum Length { kNone, kChar, kShort, kLong, kLongLong };
Length length_modifier(const char*& f) {
  switch (*f) {
    case 'h':
      if (f[1] == 'h') return f += 2, kChar;
      return ++f, kShort;
    case 'l':
      if (f[1] == 'l') return f += 2, kLongLong;
      return ++f, kLong;
    case 'j': case 'z': case 'Z': case 't':
      return ++f, kLong;
    case 'q': case 'L':
      return ++f, kLongLong;
    default:
      return kNone;
  }
}

// What a printf-style call reads and writes through its arguments, checked
// before the call, in argument order: the format string, each string a %s
// prints (up to its terminator, or to the precision: "%.4s" reads at most 4
// bytes), each wide string a %ls or %S prints (without a precision: with
// one, how many characters fit in it depends on their encodings), and the
// integer each %n stores. The other conversions only have their arguments
// stepped over, by type. The walk stops at a conversion it does not know (a
// handler the program registered, a length modifier newer than glibc 2.36):
// past it, which argument is which is unknown. A format with a `$`
// anywhere (positional arguments, "%2$s") is not walked at all.
LM_NOINLINE void format_args(const char* fmt, va_list ap, uptr pc, const char* func) {
  if (!fmt) return;  // (glibc fails the call: EINVAL)
  rz::string_read(fmt, pc, func);
  if (strchr(fmt, '$')) return;
  va_list a;
  va_copy(a, ap);
  for (const char* f = fmt; (f = strchr(f, '%')) != nullptr;) {
    ++f;
    if (*f == '%') {
      ++f;
      continue;
    }
    while (*f && strchr("-+ #0'I", *f)) ++f;
    if (*f == '*') {
      (void)va_arg(a, int);
      ++f;
    }
    while (isdigit(static_cast<unsigned char>(*f))) ++f;
    long precision = -1;
    if (*f == '.') {
      ++f;
      precision = 0;
      if (*f == '*') {
        int p = va_arg(a, int);
        precision = p < 0 ? -1 : p;  // (a negative one is taken as none)
        ++f;
      }
      for (; isdigit(static_cast<unsigned char>(*f)); ++f)
        if (precision < (1l << 40)) precision = precision * 10 + (*f - '0');
    }
    Length len = length_modifier(f);
    switch (*f++) {
      case '%':  // "%5%": no argument
        break;
      case 'd': case 'i': case 'o': case 'u': case 'x': case 'X': case 'b': case 'B':
        if (len == kLongLong) (void)va_arg(a, long long);
        else if (len == kLong) (void)va_arg(a, long);
        else (void)va_arg(a, int);
        break;
      case 'c': case 'C':
        (void)va_arg(a, int);  // (wint_t is promoted no further)
        break;
      case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
        if (len == kLongLong) (void)va_arg(a, long double);
        else (void)va_arg(a, double);
        break;
      case 'p':
        (void)va_arg(a, void*);
        break;
      case 'm':
        break;
      case 's':
        if (len < kLong) {
          const char* str = va_arg(a, const char*);
          if (!str) break;  // glibc prints "(null)"
          size_t n = precision < 0 ? strlen(str) + 1 : strnlen(str, size_t(precision));
          if (precision >= 0 && n < size_t(precision)) ++n;  // the terminator, read
          rz::range(str, n, false, pc, func);
          break;
        }
        [[fallthrough]];
      case 'S': {
        const wchar_t* ws = va_arg(a, const wchar_t*);
        if (ws && precision < 0) rz::range(ws, (wcslen(ws) + 1) * sizeof(wchar_t), false, pc, func);
        break;
      }
      case 'n': {
        void* out = va_arg(a, void*);
        size_t n = len == kChar ? 1 : len == kShort ? 2 : len == kNone ? sizeof(int) : 8;
        if (out) rz::range(out, n, true, pc, func);
        break;
      }
      default:
        va_end(a);
        return;
    }
  }
  va_end(a);
}

// Formatted output into a buffer: the arguments (format_args), then the
// length (a dry run), so that the call is reported before anything is
// written. At most `size` bytes are written (snprintf: min(length + 1,
// size); sprintf: no limit).
void format_range(char* d, size_t size, const char* fmt, va_list ap, uptr pc, const char* func) {
  format_args(fmt, ap, pc, func);
  va_list dry;
  va_copy(dry, ap);
  int n = vsnprintf(nullptr, 0, fmt, dry);
  va_end(dry);
  if (n >= 0 && size > 0) rz::range(d, size_t(n) + 1 < size ? size_t(n) + 1 : size, true, pc, func);
}
using rz::kNoLimit;

LM_HIDDEN int lm_rz_vsprintf(char* d, const char* fmt, va_list ap) {
  format_range(d, kNoLimit, fmt, ap, LM_PC, "vsprintf");
  return vsprintf(d, fmt, ap);
}
LM_HIDDEN int lm_rz_sprintf(char* d, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_range(d, kNoLimit, fmt, ap, LM_PC, "sprintf");
  int r = vsprintf(d, fmt, ap);
  va_end(ap);
  return r;
}
LM_HIDDEN int lm_rz_vsnprintf(char* d, size_t size, const char* fmt, va_list ap) {
  format_range(d, size, fmt, ap, LM_PC, "vsnprintf");
  return vsnprintf(d, size, fmt, ap);
}
LM_HIDDEN int lm_rz_snprintf(char* d, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_range(d, size, fmt, ap, LM_PC, "snprintf");
  int r = vsnprintf(d, size, fmt, ap);
  va_end(ap);
  return r;
}
int __vsprintf_chk(char*, int, size_t, const char*, va_list);
int __sprintf_chk(char*, int, size_t, const char*, ...);
int __snprintf_chk(char*, size_t, int, size_t, const char*, ...);
int __vsnprintf_chk(char*, size_t, int, size_t, const char*, va_list);
LM_HIDDEN int lm_rz_vsprintf_chk(char* d, int flag, size_t dn, const char* fmt, va_list ap) {
  format_range(d, kNoLimit, fmt, ap, LM_PC, "__vsprintf_chk");
  return __vsprintf_chk(d, flag, dn, fmt, ap);
}
LM_HIDDEN int lm_rz_sprintf_chk(char* d, int flag, size_t dn, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_range(d, kNoLimit, fmt, ap, LM_PC, "__sprintf_chk");
  int r = __vsprintf_chk(d, flag, dn, fmt, ap);
  va_end(ap);
  return r;
}
LM_HIDDEN int lm_rz_vsnprintf_chk(char* d, size_t size, int flag, size_t dn, const char* fmt, va_list ap) {
  format_range(d, size, fmt, ap, LM_PC, "__vsnprintf_chk");
  return __vsnprintf_chk(d, size, flag, dn, fmt, ap);
}
LM_HIDDEN int lm_rz_snprintf_chk(char* d, size_t size, int flag, size_t dn, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_range(d, size, fmt, ap, LM_PC, "__snprintf_chk");
  int r = __vsnprintf_chk(d, size, flag, dn, fmt, ap);
  va_end(ap);
  return r;
}

// Formatted output to a stream, a descriptor or a new string: the
// arguments only (format_args); asprintf also stores the string's address.
int __printf_chk(int, const char*, ...);
int __vprintf_chk(int, const char*, va_list);
int __fprintf_chk(FILE*, int, const char*, ...);
int __vfprintf_chk(FILE*, int, const char*, va_list);
int __dprintf_chk(int, int, const char*, ...);
int __vdprintf_chk(int, int, const char*, va_list);
int __asprintf_chk(char**, int, const char*, ...);
int __vasprintf_chk(char**, int, const char*, va_list);
LM_HIDDEN int lm_rz_vprintf(const char* fmt, va_list ap) {
  format_args(fmt, ap, LM_PC, "vprintf");
  return vprintf(fmt, ap);
}
LM_HIDDEN int lm_rz_printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_args(fmt, ap, LM_PC, "printf");
  int r = vprintf(fmt, ap);
  va_end(ap);
  return r;
}
LM_HIDDEN int lm_rz_vfprintf(FILE* fp, const char* fmt, va_list ap) {
  format_args(fmt, ap, LM_PC, "vfprintf");
  return vfprintf(fp, fmt, ap);
}
LM_HIDDEN int lm_rz_fprintf(FILE* fp, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_args(fmt, ap, LM_PC, "fprintf");
  int r = vfprintf(fp, fmt, ap);
  va_end(ap);
  return r;
}
LM_HIDDEN int lm_rz_vdprintf(int fd, const char* fmt, va_list ap) {
  format_args(fmt, ap, LM_PC, "vdprintf");
  return vdprintf(fd, fmt, ap);
}
LM_HIDDEN int lm_rz_dprintf(int fd, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_args(fmt, ap, LM_PC, "dprintf");
  int r = vdprintf(fd, fmt, ap);
  va_end(ap);
  return r;
}
LM_HIDDEN int lm_rz_vasprintf(char** out, const char* fmt, va_list ap) {
  format_args(fmt, ap, LM_PC, "vasprintf");
  rz::range(out, sizeof *out, true, LM_PC, "vasprintf");
  return vasprintf(out, fmt, ap);
}
LM_HIDDEN int lm_rz_asprintf(char** out, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_args(fmt, ap, LM_PC, "asprintf");
  rz::range(out, sizeof *out, true, LM_PC, "asprintf");
  int r = vasprintf(out, fmt, ap);
  va_end(ap);
  return r;
}
LM_HIDDEN int lm_rz_vprintf_chk(int flag, const char* fmt, va_list ap) {
  format_args(fmt, ap, LM_PC, "__vprintf_chk");
  return __vprintf_chk(flag, fmt, ap);
}
LM_HIDDEN int lm_rz_printf_chk(int flag, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_args(fmt, ap, LM_PC, "__printf_chk");
  int r = __vprintf_chk(flag, fmt, ap);
  va_end(ap);
  return r;
}
LM_HIDDEN int lm_rz_vfprintf_chk(FILE* fp, int flag, const char* fmt, va_list ap) {
  format_args(fmt, ap, LM_PC, "__vfprintf_chk");
  return __vfprintf_chk(fp, flag, fmt, ap);
}
LM_HIDDEN int lm_rz_fprintf_chk(FILE* fp, int flag, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_args(fmt, ap, LM_PC, "__fprintf_chk");
  int r = __vfprintf_chk(fp, flag, fmt, ap);
  va_end(ap);
  return r;
}
LM_HIDDEN int lm_rz_vdprintf_chk(int fd, int flag, const char* fmt, va_list ap) {
  format_args(fmt, ap, LM_PC, "__vdprintf_chk");
  return __vdprintf_chk(fd, flag, fmt, ap);
}
LM_HIDDEN int lm_rz_dprintf_chk(int fd, int flag, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_args(fmt, ap, LM_PC, "__dprintf_chk");
  int r = __vdprintf_chk(fd, flag, fmt, ap);
  va_end(ap);
  return r;
}
LM_HIDDEN int lm_rz_vasprintf_chk(char** out, int flag, const char* fmt, va_list ap) {
  format_args(fmt, ap, LM_PC, "__vasprintf_chk");
  rz::range(out, sizeof *out, true, LM_PC, "__vasprintf_chk");
  return __vasprintf_chk(out, flag, fmt, ap);
}
LM_HIDDEN int lm_rz_asprintf_chk(char** out, int flag, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_args(fmt, ap, LM_PC, "__asprintf_chk");
  rz::range(out, sizeof *out, true, LM_PC, "__asprintf_chk");
  int r = __vasprintf_chk(out, flag, fmt, ap);
  va_end(ap);
  return r;
}

// Calls that take a path (got_path): checked after the call. open's mode is
// passed on whatever the flags (glibc reads it only with O_CREAT or
// O_TMPFILE, as here).
int __open_2(const char*, int);
int __open64_2(const char*, int);
int __openat_2(int, const char*, int);
int __openat64_2(int, const char*, int);
char* __realpath_chk(const char*, char*, size_t);
mode_t open_mode(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}
LM_HIDDEN int lm_rz_open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = open_mode(flags, ap);
  va_end(ap);
  return rz::got_path(open(path, flags, mode), path, LM_PC, "open");
}
LM_HIDDEN int lm_rz_openat(int dir, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = open_mode(flags, ap);
  va_end(ap);
  return rz::got_path(openat(dir, path, flags, mode), path, LM_PC, "openat");
}
LM_HIDDEN int lm_rz_open_2(const char* path, int flags) {
  return rz::got_path(__open_2(path, flags), path, LM_PC, "__open_2");
}
LM_HIDDEN int lm_rz_openat_2(int dir, const char* path, int flags) {
  return rz::got_path(__openat_2(dir, path, flags), path, LM_PC, "__openat_2");
}
LM_HIDDEN int lm_rz_creat(const char* path, mode_t mode) {
  return rz::got_path(creat(path, mode), path, LM_PC, "creat");
}
LM_HIDDEN FILE* lm_rz_fopen(const char* path, const char* mode) {
  FILE* f = fopen(path, mode);
  rz::path_read(path, !f, LM_PC, "fopen");
  rz::string_read(mode, LM_PC, "fopen");  // (glibc read it first)
  return f;
}
LM_HIDDEN FILE* lm_rz_freopen(const char* path, const char* mode, FILE* fp) {
  FILE* f = freopen(path, mode, fp);
  rz::path_read(path, !f, LM_PC, "freopen");
  return f;
}
LM_HIDDEN DIR* lm_rz_opendir(const char* path) {
  DIR* d = opendir(path);
  rz::path_read(path, !d, LM_PC, "opendir");
  return d;
}
LM_HIDDEN int lm_rz_stat(const char* path, struct stat* st) {
  return rz::got_stat(stat(path, st), path, st, LM_PC, "stat");
}
LM_HIDDEN int lm_rz_lstat(const char* path, struct stat* st) {
  return rz::got_stat(lstat(path, st), path, st, LM_PC, "lstat");
}
LM_HIDDEN int lm_rz_fstatat(int dir, const char* path, struct stat* st, int flags) {
  return rz::got_stat(fstatat(dir, path, st, flags), path, st, LM_PC, "fstatat");
}
LM_HIDDEN int lm_rz_access(const char* path, int mode) {
  return rz::got_path(access(path, mode), path, LM_PC, "access");
}
LM_HIDDEN int lm_rz_faccessat(int dir, const char* path, int mode, int flags) {
  return rz::got_path(faccessat(dir, path, mode, flags), path, LM_PC, "faccessat");
}
LM_HIDDEN int lm_rz_unlink(const char* path) { return rz::got_path(unlink(path), path, LM_PC, "unlink"); }
LM_HIDDEN int lm_rz_unlinkat(int dir, const char* path, int flags) {
  return rz::got_path(unlinkat(dir, path, flags), path, LM_PC, "unlinkat");
}
LM_HIDDEN int lm_rz_rmdir(const char* path) { return rz::got_path(rmdir(path), path, LM_PC, "rmdir"); }
LM_HIDDEN int lm_rz_mkdir(const char* path, mode_t mode) {
  return rz::got_path(mkdir(path, mode), path, LM_PC, "mkdir");
}
LM_HIDDEN int lm_rz_chdir(const char* path) { return rz::got_path(chdir(path), path, LM_PC, "chdir"); }
LM_HIDDEN int lm_rz_chmod(const char* path, mode_t mode) {
  return rz::got_path(chmod(path, mode), path, LM_PC, "chmod");
}
LM_HIDDEN int lm_rz_truncate(const char* path, off_t size) {
  return rz::got_path(truncate(path, size), path, LM_PC, "truncate");
}
LM_HIDDEN int lm_rz_truncate64(const char* path, off64_t size) {
  return rz::got_path(truncate64(path, size), path, LM_PC, "truncate64");
}
LM_HIDDEN int lm_rz_rename(const char* from, const char* to) {
  return rz::got_paths(rename(from, to), from, to, LM_PC, "rename");
}
LM_HIDDEN int lm_rz_link(const char* from, const char* to) {
  return rz::got_paths(link(from, to), from, to, LM_PC, "link");
}
LM_HIDDEN int lm_rz_symlink(const char* target, const char* path) {
  return rz::got_paths(symlink(target, path), target, path, LM_PC, "symlink");
}
// readlink: the path, and the bytes it wrote (no terminator).
LM_HIDDEN ssize_t lm_rz_readlink(const char* path, char* buf, size_t n) {
  ssize_t r = readlink(path, buf, n);
  rz::path_read(path, r < 0, LM_PC, "readlink");
  return rz::got_bytes(r, buf, LM_PC, "readlink");
}
LM_HIDDEN ssize_t lm_rz_readlinkat(int dir, const char* path, char* buf, size_t n) {
  ssize_t r = readlinkat(dir, path, buf, n);
  rz::path_read(path, r < 0, LM_PC, "readlinkat");
  return rz::got_bytes(r, buf, LM_PC, "readlinkat");
}
ssize_t __readlink_chk(const char*, char*, size_t, size_t);
ssize_t __readlinkat_chk(int, const char*, char*, size_t, size_t);
LM_HIDDEN ssize_t lm_rz_readlink_chk(const char* path, char* buf, size_t n, size_t bn) {
  ssize_t r = __readlink_chk(path, buf, n, bn);
  rz::path_read(path, r < 0, LM_PC, "__readlink_chk");
  return rz::got_bytes(r, buf, LM_PC, "__readlink_chk");
}
LM_HIDDEN ssize_t lm_rz_readlinkat_chk(int dir, const char* path, char* buf, size_t n, size_t bn) {
  ssize_t r = __readlinkat_chk(dir, path, buf, n, bn);
  rz::path_read(path, r < 0, LM_PC, "__readlinkat_chk");
  return rz::got_bytes(r, buf, LM_PC, "__readlinkat_chk");
}
// realpath reads the path itself (no EFAULT: a bad pointer faults in
// glibc), and writes the resolved path into `resolved` when given.
LM_HIDDEN char* lm_rz_realpath(const char* path, char* resolved) {
  rz::string_read(path, LM_PC, "realpath");
  char* r = realpath(path, resolved);
  if (r && resolved) rz::range(resolved, strlen(resolved) + 1, true, LM_PC, "realpath");
  return r;
}
LM_HIDDEN char* lm_rz_realpath_chk(const char* path, char* resolved, size_t n) {
  rz::string_read(path, LM_PC, "__realpath_chk");
  char* r = __realpath_chk(path, resolved, n);
  if (r && resolved) rz::range(resolved, strlen(resolved) + 1, true, LM_PC, "__realpath_chk");
  return r;
}

// Input into a buffer: checked after, for what was written (got_bytes and
// its kin).
LM_HIDDEN ssize_t lm_rz_read(int fd, void* buf, size_t n) {
  return rz::got_bytes(read(fd, buf, n), buf, LM_PC, "read");
}
LM_HIDDEN ssize_t lm_rz_pread(int fd, void* buf, size_t n, off_t at) {
  return rz::got_bytes(pread(fd, buf, n, at), buf, LM_PC, "pread");
}
LM_HIDDEN size_t lm_rz_fread(void* buf, size_t size, size_t n, FILE* f) {
  return rz::got_items(fread(buf, size, n, f), buf, size, LM_PC, "fread");
}
LM_HIDDEN char* lm_rz_fgets(char* s, int n, FILE* f) {
  return rz::got_string(fgets(s, n, f), LM_PC, "fgets");
}
ssize_t __read_chk(int, void*, size_t, size_t);
ssize_t __pread_chk(int, void*, size_t, off_t, size_t);
size_t __fread_chk(void*, size_t, size_t, size_t, FILE*);
char* __fgets_chk(char*, size_t, int, FILE*);
LM_HIDDEN ssize_t lm_rz_read_chk(int fd, void* buf, size_t n, size_t bn) {
  return rz::got_bytes(__read_chk(fd, buf, n, bn), buf, LM_PC, "__read_chk");
}
LM_HIDDEN ssize_t lm_rz_pread_chk(int fd, void* buf, size_t n, off_t at, size_t bn) {
  return rz::got_bytes(__pread_chk(fd, buf, n, at, bn), buf, LM_PC, "__pread_chk");
}
LM_HIDDEN size_t lm_rz_fread_chk(void* buf, size_t bn, size_t size, size_t n, FILE* f) {
  return rz::got_items(__fread_chk(buf, bn, size, n, f), buf, size, LM_PC, "__fread_chk");
}
LM_HIDDEN char* lm_rz_fgets_chk(char* s, size_t bn, int n, FILE* f) {
  return rz::got_string(__fgets_chk(s, bn, n, f), LM_PC, "__fgets_chk");
}

LM_HIDDEN int lm_rz_bcmp(const void* a, const void* b, size_t n) {
  rz::range(a, n, false, LM_PC, "bcmp");
  rz::range(b, n, false, LM_PC, "bcmp");
  return memcmp(a, b, n);
}

// Reads whose length is where the function stopped: a search's find (or the
// whole string when it finds nothing), a comparison's first difference or
// terminator. Checked after the call, which wrote nothing.
LM_HIDDEN void* lm_rz_memchr(const void* s, int c, size_t n) {
  const void* r = memchr(s, c, n);
  rz::range(s, r ? size_t(static_cast<const char*>(r) - static_cast<const char*>(s)) + 1 : n, false, LM_PC, "memchr");
  return const_cast<void*>(r);
}
LM_HIDDEN void* lm_rz_memrchr(const void* s, int c, size_t n) {
  const void* r = memrchr(s, c, n);
  rz::range(s, n, false, LM_PC, "memrchr");
  return const_cast<void*>(r);
}
LM_HIDDEN char* lm_rz_strchr(const char* s, int c) {
  const char* r = strchr(s, c);
  rz::range(s, r ? size_t(r - s) + 1 : strlen(s) + 1, false, LM_PC, "strchr");
  return const_cast<char*>(r);
}
LM_HIDDEN char* lm_rz_strchrnul(const char* s, int c) {
  const char* r = strchrnul(s, c);
  rz::range(s, size_t(r - s) + 1, false, LM_PC, "strchrnul");
  return const_cast<char*>(r);
}
LM_HIDDEN char* lm_rz_strrchr(const char* s, int c) {
  const char* r = strrchr(s, c);
  rz::string_read(s, LM_PC, "strrchr");
  return const_cast<char*>(r);
}
LM_HIDDEN char* lm_rz_strstr(const char* h, const char* nd) {
  const char* r = strstr(h, nd);
  rz::search_read(h, nd, r, LM_PC, "strstr");
  return const_cast<char*>(r);
}
LM_HIDDEN size_t lm_rz_strspn(const char* s, const char* accept) {
  size_t r = strspn(s, accept);
  rz::string_read(accept, LM_PC, "strspn");
  rz::range(s, r + 1, false, LM_PC, "strspn");
  return r;
}
LM_HIDDEN size_t lm_rz_strcspn(const char* s, const char* reject) {
  size_t r = strcspn(s, reject);
  rz::string_read(reject, LM_PC, "strcspn");
  rz::range(s, r + 1, false, LM_PC, "strcspn");
  return r;
}
LM_HIDDEN char* lm_rz_strpbrk(const char* s, const char* accept) {
  const char* r = strpbrk(s, accept);
  rz::string_read(accept, LM_PC, "strpbrk");
  rz::range(s, r ? size_t(r - s) + 1 : strlen(s) + 1, false, LM_PC, "strpbrk");
  return const_cast<char*>(r);
}
LM_HIDDEN int lm_rz_strcmp(const char* a, const char* b) {
  rz::compared(a, b, rz::kNoLimit, false, LM_PC, "strcmp");
  return strcmp(a, b);
}
LM_HIDDEN int lm_rz_strncmp(const char* a, const char* b, size_t n) {
  rz::compared(a, b, n, false, LM_PC, "strncmp");
  return strncmp(a, b, n);
}
LM_HIDDEN int lm_rz_strcasecmp(const char* a, const char* b) {
  rz::compared(a, b, rz::kNoLimit, true, LM_PC, "strcasecmp");
  return strcasecmp(a, b);
}
LM_HIDDEN int lm_rz_strncasecmp(const char* a, const char* b, size_t n) {
  rz::compared(a, b, n, true, LM_PC, "strncasecmp");
  return strncasecmp(a, b, n);
}
LM_HIDDEN void* lm_rz_memccpy(void* d, const void* s, int c, size_t n) {
  const void* stop = memchr(s, c, n);
  size_t k = stop ? size_t(static_cast<const char*>(stop) - static_cast<const char*>(s)) + 1 : n;
  rz::range(s, k, false, LM_PC, "memccpy");
  rz::range(d, k, true, LM_PC, "memccpy");
  return memccpy(d, s, c, n);
}

// Output from a buffer: the whole buffer is read (checked before; a short
// write reads less, but the program asked for it all).
LM_HIDDEN ssize_t lm_rz_write(int fd, const void* buf, size_t n) {
  rz::range(buf, n, false, LM_PC, "write");
  return write(fd, buf, n);
}
LM_HIDDEN ssize_t lm_rz_pwrite(int fd, const void* buf, size_t n, off_t at) {
  rz::range(buf, n, false, LM_PC, "pwrite");
  return pwrite(fd, buf, n, at);
}
LM_HIDDEN ssize_t lm_rz_send(int fd, const void* buf, size_t n, int flags) {
  rz::range(buf, n, false, LM_PC, "send");
  return send(fd, buf, n, flags);
}
LM_HIDDEN ssize_t lm_rz_sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t tl) {
  rz::range(buf, n, false, LM_PC, "sendto");
  rz::address_read(to, tl, LM_PC, "sendto");
  return sendto(fd, buf, n, flags, to, tl);
}
LM_HIDDEN size_t lm_rz_fwrite(const void* buf, size_t size, size_t n, FILE* f) {
  size_t bytes;
  if (!__builtin_mul_overflow(size, n, &bytes)) rz::range(buf, bytes, false, LM_PC, "fwrite");
  return fwrite(buf, size, n, f);
}
LM_HIDDEN size_t lm_rz_fwrite_unlocked(const void* buf, size_t size, size_t n, FILE* f) {
  size_t bytes;
  if (!__builtin_mul_overflow(size, n, &bytes)) rz::range(buf, bytes, false, LM_PC, "fwrite_unlocked");
  return fwrite_unlocked(buf, size, n, f);
}
LM_HIDDEN int lm_rz_fputs(const char* s, FILE* f) {
  rz::string_read(s, LM_PC, "fputs");
  return fputs(s, f);
}
LM_HIDDEN int lm_rz_fputs_unlocked(const char* s, FILE* f) {
  rz::string_read(s, LM_PC, "fputs_unlocked");
  return fputs_unlocked(s, f);
}
LM_HIDDEN int lm_rz_puts(const char* s) {
  rz::string_read(s, LM_PC, "puts");
  return puts(s);
}

// Vectored output and input: checked after the call, for the bytes it
// sent or received, and only when it succeeded: the kernel has then read
// the iovec array (and the msghdr), which a program may pass invalid (glibc
// returns EFAULT, a check reading them first would crash).
LM_HIDDEN ssize_t lm_rz_writev(int fd, const iovec* iov, int n) {
  return rz::moved(writev(fd, iov, n), iov, size_t(n), false, LM_PC, "writev");
}
LM_HIDDEN ssize_t lm_rz_pwritev(int fd, const iovec* iov, int n, off_t at) {
  return rz::moved(pwritev(fd, iov, n, at), iov, size_t(n), false, LM_PC, "pwritev");
}
LM_HIDDEN ssize_t lm_rz_sendmsg(int fd, const msghdr* m, int flags) {
  ssize_t r = sendmsg(fd, m, flags);
  if (r >= 0) rz::message_sent(m, size_t(r), LM_PC, "sendmsg");
  return r;
}
LM_HIDDEN ssize_t lm_rz_readv(int fd, const iovec* iov, int n) {
  return rz::moved(readv(fd, iov, n), iov, size_t(n), true, LM_PC, "readv");
}
LM_HIDDEN ssize_t lm_rz_preadv(int fd, const iovec* iov, int n, off_t at) {
  return rz::moved(preadv(fd, iov, n, at), iov, size_t(n), true, LM_PC, "preadv");
}
LM_HIDDEN ssize_t lm_rz_recvmsg(int fd, msghdr* m, int flags) {
  bool known = rz::readable(m, sizeof *m) && m->msg_name;
  socklen_t name_room = known ? m->msg_namelen : 0;
  ssize_t r = recvmsg(fd, m, flags);
  if (r >= 0) rz::message_received(fd, flags, m, size_t(r), known, name_room, LM_PC, "recvmsg");
  return r;
}

// More input (got_bytes and its kin).
LM_HIDDEN ssize_t lm_rz_recv(int fd, void* buf, size_t n, int flags) {
  return rz::got_received(recv(fd, buf, n, flags), fd, flags, buf, n, LM_PC, "recv");
}
LM_HIDDEN ssize_t lm_rz_recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from, socklen_t* fl) {
  ssize_t r = rz::length_out(from, fl, false, LM_PC, "recvfrom", [&] { return recvfrom(fd, buf, n, flags, from, fl); });
  return rz::got_received(r, fd, flags, buf, n, LM_PC, "recvfrom");
}
LM_HIDDEN size_t lm_rz_fread_unlocked(void* buf, size_t size, size_t n, FILE* f) {
  return rz::got_items(fread_unlocked(buf, size, n, f), buf, size, LM_PC, "fread_unlocked");
}
LM_HIDDEN char* lm_rz_fgets_unlocked(char* s, int n, FILE* f) {
  return rz::got_string(fgets_unlocked(s, n, f), LM_PC, "fgets_unlocked");
}
LM_HIDDEN ssize_t lm_rz_getdelim(char** line, size_t* cap, int delim, FILE* f) {
  return rz::got_line(getdelim(line, cap, delim, f), line, LM_PC, "getdelim");
}
// (glibc's inline getline at -O2 calls __getdelim.)
LM_HIDDEN ssize_t lm_rz___getdelim(char** line, size_t* cap, int delim, FILE* f) {
  return rz::got_line(getdelim(line, cap, delim, f), line, LM_PC, "__getdelim");
}
LM_HIDDEN ssize_t lm_rz_getline(char** line, size_t* cap, FILE* f) {
  return rz::got_line(getline(line, cap, f), line, LM_PC, "getline");
}
ssize_t __recv_chk(int, void*, size_t, size_t, int);
ssize_t __recvfrom_chk(int, void*, size_t, size_t, int, sockaddr*, socklen_t*);
size_t __fread_unlocked_chk(void*, size_t, size_t, size_t, FILE*);
char* __fgets_unlocked_chk(char*, size_t, int, FILE*);
LM_HIDDEN ssize_t lm_rz_recv_chk(int fd, void* buf, size_t n, size_t bn, int flags) {
  return rz::got_received(__recv_chk(fd, buf, n, bn, flags), fd, flags, buf, n, LM_PC, "__recv_chk");
}
LM_HIDDEN ssize_t lm_rz_recvfrom_chk(int fd, void* buf, size_t n, size_t bn, int flags, sockaddr* from,
                                    socklen_t* fl) {
  ssize_t r = rz::length_out(from, fl, false, LM_PC, "__recvfrom_chk",
                             [&] { return __recvfrom_chk(fd, buf, n, bn, flags, from, fl); });
  return rz::got_received(r, fd, flags, buf, n, LM_PC, "__recvfrom_chk");
}
LM_HIDDEN size_t lm_rz_fread_unlocked_chk(void* buf, size_t bn, size_t size, size_t n, FILE* f) {
  return rz::got_items(__fread_unlocked_chk(buf, bn, size, n, f), buf, size, LM_PC, "__fread_unlocked_chk");
}
LM_HIDDEN char* lm_rz_fgets_unlocked_chk(char* s, size_t bn, int n, FILE* f) {
  return rz::got_string(__fgets_unlocked_chk(s, bn, n, f), LM_PC, "__fgets_unlocked_chk");
}

// Messages by the batch: each message the call got through, as sendmsg and
// recvmsg, with its msg_len (written). recvmmsg's address rooms are read
// before the call for the first kMaxRooms messages where they surely can be
// (readable); past those, or elsewhere, the address is not checked.
LM_HIDDEN int lm_rz_sendmmsg(int fd, mmsghdr* v, unsigned n, int flags) {
  int r = sendmmsg(fd, v, n, flags);
  for (int i = 0; i < r; ++i) {
    rz::range(&v[i].msg_len, sizeof v[i].msg_len, true, LM_PC, "sendmmsg");
    rz::message_sent(&v[i].msg_hdr, v[i].msg_len, LM_PC, "sendmmsg");
  }
  return r;
}
LM_HIDDEN int lm_rz_recvmmsg(int fd, mmsghdr* v, unsigned n, int flags, timespec* t) {
  constexpr unsigned kMaxRooms = 64;
  socklen_t rooms[kMaxRooms];
  unsigned known = rz::readable(v, std::min(n, kMaxRooms) * sizeof *v) ? std::min(n, kMaxRooms) : 0;
  for (unsigned i = 0; i < known; ++i) rooms[i] = v[i].msg_hdr.msg_name ? v[i].msg_hdr.msg_namelen : 0;
  int r = recvmmsg(fd, v, n, flags, t);
  for (int i = 0; i < r; ++i) {
    rz::range(&v[i].msg_len, sizeof v[i].msg_len, true, LM_PC, "recvmmsg");
    bool room_known = unsigned(i) < known && v[i].msg_hdr.msg_name;
    rz::message_received(fd, flags, &v[i].msg_hdr, v[i].msg_len, room_known, room_known ? rooms[i] : 0, LM_PC,
                         "recvmmsg");
  }
  return r;
}

// Numbers parsed from a string: checked after, for what the parse read
// (parse_length). atoi and its kin are strtol and strtod without an end
// pointer, as glibc defines them.
LM_HIDDEN long lm_rz_strtol(const char* s, char** e, int base) {
  return rz::parse_integer(strtol, s, e, base, LM_PC, "strtol");
}
LM_HIDDEN unsigned long lm_rz_strtoul(const char* s, char** e, int base) {
  return rz::parse_integer(strtoul, s, e, base, LM_PC, "strtoul");
}
LM_HIDDEN long long lm_rz_strtoll(const char* s, char** e, int base) {
  return rz::parse_integer(strtoll, s, e, base, LM_PC, "strtoll");
}
LM_HIDDEN unsigned long long lm_rz_strtoull(const char* s, char** e, int base) {
  return rz::parse_integer(strtoull, s, e, base, LM_PC, "strtoull");
}
LM_HIDDEN intmax_t lm_rz_strtoimax(const char* s, char** e, int base) {
  return rz::parse_integer(strtoimax, s, e, base, LM_PC, "strtoimax");
}
LM_HIDDEN uintmax_t lm_rz_strtoumax(const char* s, char** e, int base) {
  return rz::parse_integer(strtoumax, s, e, base, LM_PC, "strtoumax");
}
LM_HIDDEN double lm_rz_strtod(const char* s, char** e) { return rz::parse_float(strtod, s, e, LM_PC, "strtod"); }
LM_HIDDEN float lm_rz_strtof(const char* s, char** e) { return rz::parse_float(strtof, s, e, LM_PC, "strtof"); }
LM_HIDDEN long double lm_rz_strtold(const char* s, char** e) {
  return rz::parse_float(strtold, s, e, LM_PC, "strtold");
}
LM_HIDDEN int lm_rz_atoi(const char* s) { return int(rz::parse_integer(strtol, s, nullptr, 10, LM_PC, "atoi")); }
LM_HIDDEN long lm_rz_atol(const char* s) { return rz::parse_integer(strtol, s, nullptr, 10, LM_PC, "atol"); }
LM_HIDDEN long long lm_rz_atoll(const char* s) { return rz::parse_integer(strtoll, s, nullptr, 10, LM_PC, "atoll"); }
LM_HIDDEN double lm_rz_atof(const char* s) { return rz::parse_float(strtod, s, nullptr, LM_PC, "atof"); }

// Formatted input from a string: glibc measures the whole string first
// (its terminator found), so all of it is read; checked before. The names
// are declared by their symbols: <stdio.h> maps sscanf to __isoc99_sscanf
// in C99 and C++11 programs, and the GNU sscanf of older ones is another
// function (%as allocates).
int lm_real_sscanf(const char*, const char*, ...) __asm__("sscanf");
int lm_real_vsscanf(const char*, const char*, va_list) __asm__("vsscanf");
int lm_real_isoc99_sscanf(const char*, const char*, ...) __asm__("__isoc99_sscanf");
int lm_real_isoc99_vsscanf(const char*, const char*, va_list) __asm__("__isoc99_vsscanf");
using Vscan = int (*)(const char*, const char*, va_list);

// What sscanf stored, checked after the call: the first `assigned` of the
// format's assigning conversions (the call's result), each for the object
// its pointer argument names: an integer of the length modifier's size, a
// float, double or long double, a pointer (%p, and the char* of an
// allocating %ms), %c's `width` characters (at most as many as the input
// has: "%5c" of "ab" stores 2), and the string %s and %[ stored with its
// terminator (wide with l, ll, L: length_modifier). Not walked: a format with
// a `$` (positional arguments); %n stores are not checked (whether the scan
// got that far is not known). A conversion the walk does not know ends it.
LM_NOINLINE void scan_outputs(const char* input, const char* fmt, va_list ap, int assigned, uptr pc,
                              const char* func) {
  if (assigned <= 0 || strchr(fmt, '$')) return;
  va_list a;
  va_copy(a, ap);
  for (const char* f = fmt; assigned > 0 && (f = strchr(f, '%')) != nullptr;) {
    ++f;
    if (*f == '%') {
      ++f;
      continue;
    }
    bool skip = false;
    for (; *f == '*' || *f == '\'' || *f == 'I'; ++f) skip |= *f == '*';
    size_t width = 0;
    for (; isdigit(static_cast<unsigned char>(*f)); ++f)
      if (width < (size_t{1} << 40)) width = width * 10 + size_t(*f - '0');
    bool allocating = *f == 'm';
    if (allocating) ++f;
    Length len = length_modifier(f);
    size_t size = len == kChar ? 1 : len == kShort ? 2 : len == kNone ? 4 : 8;  // an integer; 4: a float too
    bool wide = len >= kLong, is_double = len == kLong, is_long_double = len == kLongLong;
    char conv = *f++;
    if (conv == '%') continue;  // "%5%": a literal %
    if (conv == '[') {  // the set: a ']' right after '[' or "[^" belongs to it
      if (*f == '^') ++f;
      if (*f == ']') ++f;
      while (*f && *f != ']') ++f;
      if (!*f) break;
      ++f;
    }
    if (conv == 'n') {
      if (!skip) (void)va_arg(a, void*);  // (%*n takes none)
      continue;
    }
    if (!strchr("diouxXaAeEfFgGsScC[p", conv) || conv == '\0') break;
    if (skip) continue;
    void* out = va_arg(a, void*);
    --assigned;
    if (!out) continue;
    size_t n = size;
    if (allocating && strchr("sSc[C", conv)) n = sizeof(char*);
    else if (strchr("aAeEfFgG", conv)) n = is_long_double ? sizeof(long double) : is_double ? sizeof(double) : sizeof(float);
    else if (conv == 'p') n = sizeof(void*);
    else if (conv == 'c' || conv == 'C')  // (from a stream: at least one, how many more unknown)
      n = std::min(width ? width : 1, input ? strlen(input) : 1) * (wide || conv == 'C' ? sizeof(wchar_t) : 1);
    else if (conv == 's' || conv == '[' || conv == 'S')
      n = wide || conv == 'S' ? (wcslen(static_cast<const wchar_t*>(out)) + 1) * sizeof(wchar_t)
                              : strlen(static_cast<const char*>(out)) + 1;
    rz::range(out, n, true, pc, func);
  }
  va_end(a);
}

// The body of a variadic scanf wrapper: its arguments, as a va_list, through
// WALK (scanned, fscanned) with the va_list function REAL on SOURCE.
#define LM_SCAN_VARIADIC(walk, real, source, func) \
  va_list ap;                                      \
  va_start(ap, fmt);                               \
  int r = walk(real, source, fmt, ap, LM_PC, func); \
  va_end(ap);                                      \
  return r
// A scan's result r, after the objects it says it stored are checked
// (scan_outputs; input: the string scanned, null for a stream), with the
// call's errno kept.
int checked_outputs(int r, const char* input, const char* fmt, va_list outputs, uptr pc, const char* func) {
  int saved = errno;
  scan_outputs(input, fmt, outputs, r, pc, func);
  errno = saved;
  return r;
}
int scanned(Vscan scan, const char* s, const char* fmt, va_list ap, uptr pc, const char* func) {
  rz::string_read(s, pc, func);
  va_list outputs;
  va_copy(outputs, ap);
  int r = checked_outputs(scan(s, fmt, ap), s, fmt, outputs, pc, func);
  va_end(outputs);
  return r;
}
LM_HIDDEN int lm_rz_vsscanf(const char* s, const char* fmt, va_list ap) {
  return scanned(lm_real_vsscanf, s, fmt, ap, LM_PC, "vsscanf");
}
LM_HIDDEN int lm_rz_isoc99_vsscanf(const char* s, const char* fmt, va_list ap) {
  return scanned(lm_real_isoc99_vsscanf, s, fmt, ap, LM_PC, "vsscanf");
}
LM_HIDDEN int lm_rz_sscanf(const char* s, const char* fmt, ...) {
  LM_SCAN_VARIADIC(scanned, lm_real_vsscanf, s, "sscanf");
}
LM_HIDDEN int lm_rz_isoc99_sscanf(const char* s, const char* fmt, ...) {
  LM_SCAN_VARIADIC(scanned, lm_real_isoc99_vsscanf, s, "sscanf");
}

// ---- more searches, tokenizers, paths, fixed-size results, stream scanf ----

LM_HIDDEN void* lm_rz_memmem(const void* h, size_t hl, const void* nd, size_t nl) {
  void* r = memmem(h, hl, nd, nl);
  rz::range(nd, nl, false, LM_PC, "memmem");
  rz::range(h, r ? size_t(static_cast<const char*>(r) - static_cast<const char*>(h)) + nl : hl, false, LM_PC,
            "memmem");
  return r;
}
LM_HIDDEN char* lm_rz_strcasestr(const char* h, const char* nd) {
  const char* r = strcasestr(h, nd);
  rz::search_read(h, nd, r, LM_PC, "strcasestr");
  return const_cast<char*>(r);
}
LM_HIDDEN wchar_t* lm_rz_wcsstr(const wchar_t* h, const wchar_t* nd) {
  const wchar_t* r = wcsstr(h, nd);
  size_t nl = wcslen(nd);
  rz::range(nd, (nl + 1) * sizeof(wchar_t), false, LM_PC, "wcsstr");
  rz::range(h, (r ? size_t(r - h) + nl : wcslen(h) + 1) * sizeof(wchar_t), false, LM_PC, "wcsstr");
  return const_cast<wchar_t*>(r);
}

// Tokenizers: the token they return, after the call (token_read).
LM_HIDDEN char* lm_rz_strtok(char* s, const char* delim) {
  char* r = strtok(s, delim);
  rz::token_read(r, delim, LM_PC, "strtok");
  return r;
}
LM_HIDDEN char* lm_rz_strtok_r(char* s, const char* delim, char** save) {
  rz::range(save, sizeof *save, true, LM_PC, "strtok_r");
  char* r = strtok_r(s, delim, save);
  rz::token_read(r, delim, LM_PC, "strtok_r");
  return r;
}
LM_HIDDEN char* lm_rz_strsep(char** sp, const char* delim) {
  rz::range(sp, sizeof *sp, true, LM_PC, "strsep");
  char* r = strsep(sp, delim);
  rz::token_read(r, delim, LM_PC, "strsep");
  return r;
}

// Strings written into the caller's buffer: checked after, for the string
// and its terminator.
char* __getcwd_chk(char*, size_t, size_t);
int __gethostname_chk(char*, size_t, size_t);
int lm_real_xpg_strerror_r(int, char*, size_t) __asm__("__xpg_strerror_r");
LM_HIDDEN char* lm_rz_getcwd(char* buf, size_t n) {
  char* r = getcwd(buf, n);
  if (r && buf) rz::range(buf, strlen(buf) + 1, true, LM_PC, "getcwd");
  return r;
}
LM_HIDDEN char* lm_rz_getcwd_chk(char* buf, size_t n, size_t bn) {
  char* r = __getcwd_chk(buf, n, bn);
  if (r && buf) rz::range(buf, strlen(buf) + 1, true, LM_PC, "__getcwd_chk");
  return r;
}
LM_HIDDEN int lm_rz_gethostname(char* name, size_t n) {
  return rz::hostname_written(gethostname(name, n), name, n, LM_PC, "gethostname");
}
LM_HIDDEN int lm_rz_gethostname_chk(char* name, size_t n, size_t bn) {
  return rz::hostname_written(__gethostname_chk(name, n, bn), name, n, LM_PC, "__gethostname_chk");
}
// GNU strerror_r writes into buf only when it returns buf (an unknown
// error's "Unknown error N"); the XSI one always, truncated to n.
LM_HIDDEN char* lm_rz_strerror_r(int e, char* buf, size_t n) {
  char* r = strerror_r(e, buf, n);
  if (r == buf && n) rz::bounded_string_written(buf, n, LM_PC, "strerror_r");
  return r;
}
LM_HIDDEN int lm_rz_xpg_strerror_r(int e, char* buf, size_t n) {
  int saved = errno;
  int r = lm_real_xpg_strerror_r(e, buf, n);
  // (EINVAL, an unknown error: "Unknown error N" written all the same)
  if (r == 0 || r == ERANGE || r == EINVAL) rz::bounded_string_written(buf, n, LM_PC, "strerror_r");
  errno = saved;
  return r;
}
LM_HIDDEN const char* lm_rz_inet_ntop(int af, const void* src, char* dst, socklen_t n) {
  rz::range(src, rz::inet_bytes(af), false, LM_PC, "inet_ntop");
  const char* r = inet_ntop(af, src, dst, n);
  if (r) rz::range(dst, strlen(dst) + 1, true, LM_PC, "inet_ntop");
  return r;
}
LM_HIDDEN int lm_rz_inet_pton(int af, const char* src, void* dst) {
  int r = inet_pton(af, src, dst);
  rz::string_read(src, LM_PC, "inet_pton");  // (glibc 2.36 measures it first, always)
  if (r == 1) rz::range(dst, rz::inet_bytes(af), true, LM_PC, "inet_pton");
  return r;
}

// The environment: the names and values glibc reads (getenv and its kin
// measure the name; setenv reads the value only once the name is valid:
// not empty, no '='). putenv keeps the string itself in the environment:
// read whole here; an exec later checks it again (freed too soon: reported
// there).
LM_HIDDEN char* lm_rz_getenv(const char* name) {
  rz::string_read(name, LM_PC, "getenv");
  return getenv(name);
}
LM_HIDDEN char* lm_rz_secure_getenv(const char* name) {
  rz::string_read(name, LM_PC, "secure_getenv");
  return secure_getenv(name);
}
LM_HIDDEN int lm_rz_setenv(const char* name, const char* value, int overwrite) {
  rz::string_read(name, LM_PC, "setenv");
  if (name && *name && !strchr(name, '=')) rz::string_read(value, LM_PC, "setenv");
  return setenv(name, value, overwrite);
}
LM_HIDDEN int lm_rz_unsetenv(const char* name) {
  rz::string_read(name, LM_PC, "unsetenv");
  return unsetenv(name);
}
LM_HIDDEN int lm_rz_putenv(char* string) {
  rz::string_read(string, LM_PC, "putenv");
  return putenv(string);
}

// Collation: strcoll reads as strcmp does (up to the first difference: in
// the C locale it is strcmp; elsewhere it may read on to the terminators,
// which a correct program has); strxfrm reads its source whole and writes
// the transformed string when it fits (its length below n), else at most n
// bytes, which the program says it has.
LM_HIDDEN int lm_rz_strcoll(const char* a, const char* b) {
  rz::compared(a, b, rz::kNoLimit, false, LM_PC, "strcoll");
  return strcoll(a, b);
}
LM_HIDDEN size_t lm_rz_strxfrm(char* d, const char* s, size_t n) {
  rz::string_read(s, LM_PC, "strxfrm");
  size_t r = strxfrm(d, s, n);
  rz::range(d, r < n ? r + 1 : n, true, LM_PC, "strxfrm");
  return r;
}

// iconv: the input it consumed and the output it produced, after the call
// (also when it stopped early: E2BIG, EILSEQ, EINVAL), from how far it moved
// the pointers. A null input is a reset (it may write a shift sequence).
// Weak, as getaddrinfo below: a static link pulls in no conversion code.
#pragma weak iconv
LM_HIDDEN size_t lm_rz_iconv(iconv_t cd, char** in, size_t* in_left, char** out, size_t* out_left) {
  const char* in0 = in && in_left ? *in : nullptr;
  size_t in_left0 = in0 ? *in_left : 0;
  char* out0 = out && out_left ? *out : nullptr;
  size_t out_left0 = out0 ? *out_left : 0;
  size_t r = iconv(cd, in, in_left, out, out_left);
  int e = errno;
  if (in0 && *in_left <= in_left0) rz::range(in0, in_left0 - *in_left, false, LM_PC, "iconv");
  if (out0 && *out_left <= out_left0) rz::range(out0, out_left0 - *out_left, true, LM_PC, "iconv");
  errno = e;
  return r;
}

// stdio buffers the program supplies: stdio writes into [buf, buf + size)
// later, inside libc, where no check sees it; so the room is checked when
// it is handed over (setbuf's BUFSIZ, and fmemopen's `size` once it opened
// a stream; setvbuf uses the buffer only with _IOFBF and _IOLBF).
LM_HIDDEN int lm_rz_setvbuf(FILE* f, char* buf, int mode, size_t size) {
  if (buf && (mode == _IOFBF || mode == _IOLBF)) rz::range(buf, size, true, LM_PC, "setvbuf");
  return setvbuf(f, buf, mode, size);
}
LM_HIDDEN void lm_rz_setbuf(FILE* f, char* buf) {
  if (buf) rz::range(buf, BUFSIZ, true, LM_PC, "setbuf");
  setbuf(f, buf);
}
LM_HIDDEN void lm_rz_setbuffer(FILE* f, char* buf, size_t size) {
  if (buf) rz::range(buf, size, true, LM_PC, "setbuffer");
  setbuffer(f, buf, size);
}
LM_HIDDEN FILE* lm_rz_fmemopen(void* buf, size_t size, const char* mode) {
  FILE* f = fmemopen(buf, size, mode);
  if (f && buf) rz::range(buf, size, std::strpbrk(mode, "wa+") != nullptr, LM_PC, "fmemopen");  // ("r" reads)
  if (f) rz::string_read(mode, LM_PC, "fmemopen");
  return f;
}

// Matching. fnmatch reads both strings whole (a pattern too: it is one).
// regcomp reads its pattern and fills the regex_t; regexec reads its string
// (with REG_STARTEND only [pmatch[0].rm_so, rm_eo), from pmatch[0]) and,
// on a match, writes all nmatch entries of pmatch (those past the groups
// with -1), unless the pattern was compiled with REG_NOSUB. strptime reads
// its input up to where it stopped, and on success its whole format, and
// fills the struct tm. All weak, as getaddrinfo below.
#pragma weak fnmatch
#pragma weak regcomp
#pragma weak regexec
#pragma weak strptime
LM_HIDDEN int lm_rz_fnmatch(const char* pattern, const char* s, int flags) {
  rz::string_read(pattern, LM_PC, "fnmatch");
  rz::string_read(s, LM_PC, "fnmatch");
  return fnmatch(pattern, s, flags);
}
LM_HIDDEN int lm_rz_regcomp(regex_t* re, const char* pattern, int flags) {
  rz::string_read(pattern, LM_PC, "regcomp");
  int r = regcomp(re, pattern, flags);
  if (r == 0) rz::range(re, sizeof *re, true, LM_PC, "regcomp");
  return r;
}
LM_HIDDEN int lm_rz_regexec(const regex_t* re, const char* s, size_t nmatch, regmatch_t* pmatch, int flags) {
  if (flags & REG_STARTEND) {
    rz::range(pmatch, sizeof *pmatch, false, LM_PC, "regexec");
    if (pmatch && pmatch[0].rm_so >= 0 && pmatch[0].rm_eo >= pmatch[0].rm_so)
      rz::range(s + pmatch[0].rm_so, size_t(pmatch[0].rm_eo - pmatch[0].rm_so), false, LM_PC, "regexec");
  } else {
    rz::string_read(s, LM_PC, "regexec");
  }
  int r = regexec(re, s, nmatch, pmatch, flags);
  size_t bytes;
  if (r == 0 && pmatch && !re->no_sub && !__builtin_mul_overflow(nmatch, sizeof *pmatch, &bytes))
    rz::range(pmatch, bytes, true, LM_PC, "regexec");
  return r;
}
LM_HIDDEN char* lm_rz_strptime(const char* s, const char* fmt, struct tm* tm) {
  char* r = strptime(s, fmt, tm);
  if (r) {
    rz::range(s, size_t(r - s), false, LM_PC, "strptime");
    rz::string_read(fmt, LM_PC, "strptime");
    rz::range(tm, sizeof *tm, true, LM_PC, "strptime");
  }
  return r;
}

// Multibyte conversions: the source is read whole when the conversion ran
// to its terminator (a null destination, or a result below n); the
// destination gets the result's characters and, when there was room, a
// terminator.
#pragma weak mbstowcs
#pragma weak wcstombs
LM_HIDDEN size_t lm_rz_mbstowcs(wchar_t* d, const char* s, size_t n) {
  size_t r = mbstowcs(d, s, n);
  if (r != size_t(-1)) {
    if (!d || r < n) rz::string_read(s, LM_PC, "mbstowcs");
    if (d) rz::range(d, rz::wide(r < n ? r + 1 : n), true, LM_PC, "mbstowcs");
  }
  return r;
}
// (wcstombs may stop below n short of its terminator, when the next
// character's bytes do not fit: it read at most r + 1 characters, each
// making a byte or more.)
LM_HIDDEN size_t lm_rz_wcstombs(char* d, const wchar_t* s, size_t n) {
  size_t r = wcstombs(d, s, n);
  if (r != size_t(-1)) {
    if (!d) rz::range(s, rz::wide(wcslen(s) + 1), false, LM_PC, "wcstombs");
    else if (r < n) rz::range(s, rz::wide(wcsnlen(s, r) + 1), false, LM_PC, "wcstombs");
    if (d) rz::range(d, r < n ? r + 1 : n, true, LM_PC, "wcstombs");
  }
  return r;
}

// User and group entries into the program's buffer (getpwnam_r and its
// kin): after success, the struct and each string (and getgr*'s member
// array) that glibc placed in the buffer, as far as they reach, and the
// result pointer; a name looked up is read whole before. Weak: a static
// link pulls in no name-service code.
#pragma weak getpwnam_r
#pragma weak getpwuid_r
#pragma weak getgrnam_r
#pragma weak getgrgid_r
namespace lm::redzone {
namespace {
void written_string(const char* s, uptr pc, const char* func) {
  if (s) range(s, strlen(s) + 1, true, pc, func);
}
void passwd_written(int r, passwd* pw, passwd** result, uptr pc, const char* func) {
  if (r != 0 || !result) return;
  range(result, sizeof *result, true, pc, func);
  if (*result != pw || !pw) return;
  range(pw, sizeof *pw, true, pc, func);
  for (const char* s : {pw->pw_name, pw->pw_passwd, pw->pw_gecos, pw->pw_dir, pw->pw_shell}) written_string(s, pc, func);
}
void group_written(int r, group* gr, group** result, uptr pc, const char* func) {
  if (r != 0 || !result) return;
  range(result, sizeof *result, true, pc, func);
  if (*result != gr || !gr) return;
  range(gr, sizeof *gr, true, pc, func);
  written_string(gr->gr_name, pc, func);
  written_string(gr->gr_passwd, pc, func);
  if (!gr->gr_mem) return;
  size_t i = 0;
  for (; gr->gr_mem[i]; ++i) written_string(gr->gr_mem[i], pc, func);
  range(gr->gr_mem, (i + 1) * sizeof(char*), true, pc, func);
}
}  // namespace
}  // namespace lm::redzone
LM_HIDDEN int lm_rz_getpwnam_r(const char* name, passwd* pw, char* buf, size_t n, passwd** result) {
  rz::string_read(name, LM_PC, "getpwnam_r");
  int r = getpwnam_r(name, pw, buf, n, result);
  rz::passwd_written(r, pw, result, LM_PC, "getpwnam_r");
  return r;
}
LM_HIDDEN int lm_rz_getpwuid_r(uid_t uid, passwd* pw, char* buf, size_t n, passwd** result) {
  int r = getpwuid_r(uid, pw, buf, n, result);
  rz::passwd_written(r, pw, result, LM_PC, "getpwuid_r");
  return r;
}
LM_HIDDEN int lm_rz_getgrnam_r(const char* name, group* gr, char* buf, size_t n, group** result) {
  rz::string_read(name, LM_PC, "getgrnam_r");
  int r = getgrnam_r(name, gr, buf, n, result);
  rz::group_written(r, gr, result, LM_PC, "getgrnam_r");
  return r;
}
LM_HIDDEN int lm_rz_getgrgid_r(gid_t gid, group* gr, char* buf, size_t n, group** result) {
  int r = getgrgid_r(gid, gr, buf, n, result);
  rz::group_written(r, gr, result, LM_PC, "getgrgid_r");
  return r;
}

// getnameinfo's address: glibc reads the family, then, once `len` covers
// it, its family's own struct (a program may pass the size of a
// sockaddr_storage for a sockaddr_in: that is not read); an AF_UNIX one's
// path as a string, not checked.
namespace lm::redzone {
namespace {
void name_address_read(const sockaddr* sa, socklen_t len, uptr pc, const char* func) {
  if (!sa || len < sizeof(sa_family_t)) return;
  range(sa, sizeof(sa_family_t), false, pc, func);
  size_t own = sa->sa_family == AF_INET ? sizeof(sockaddr_in) : sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : 0;
  if (own && len >= own) range(sa, own, false, pc, func);
}
}  // namespace
}  // namespace lm::redzone

// Name service: getaddrinfo reads the node and service names and the hints;
// getnameinfo reads the address (the length the program gives) and, when it
// succeeds, writes the host and service names it returns. Both referenced
// weakly: a program linked statically with libmalloc.a must not get glibc's
// name-service code (and the linker's warning that it needs the shared
// libraries at run time) for calls it never makes; where they are absent,
// nothing is hooked (patch_relocs skips a null `real`).
#pragma weak getaddrinfo
#pragma weak getnameinfo
LM_HIDDEN int lm_rz_getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
  rz::string_read(node, LM_PC, "getaddrinfo");
  rz::string_read(service, LM_PC, "getaddrinfo");
  if (hints) rz::range(hints, sizeof *hints, false, LM_PC, "getaddrinfo");
  return getaddrinfo(node, service, hints, res);
}
LM_HIDDEN int lm_rz_getnameinfo(const sockaddr* sa, socklen_t len, char* host, socklen_t host_len, char* serv,
                                socklen_t serv_len, int flags) {
  rz::name_address_read(sa, len, LM_PC, "getnameinfo");
  int r = getnameinfo(sa, len, host, host_len, serv, serv_len, flags);
  if (r == 0 && host && host_len) rz::range(host, strnlen(host, host_len - 1) + 1, true, LM_PC, "getnameinfo");
  if (r == 0 && serv && serv_len) rz::range(serv, strnlen(serv, serv_len - 1) + 1, true, LM_PC, "getnameinfo");
  return r;
}

// Sockets' addresses and options. In: the address's bytes, before the call
// (the kernel copies them before anything can fail, bar a length it
// refuses). Out: after the call, the bytes the kernel wrote (length_written).
LM_HIDDEN int lm_rz_bind(int fd, const sockaddr* a, socklen_t len) {
  rz::address_read(a, len, LM_PC, "bind");
  return bind(fd, a, len);
}
LM_HIDDEN int lm_rz_connect(int fd, const sockaddr* a, socklen_t len) {
  rz::address_read(a, len, LM_PC, "connect");
  return connect(fd, a, len);
}
LM_HIDDEN int lm_rz_accept(int fd, sockaddr* a, socklen_t* len) {
  return rz::length_out(a, len, false, LM_PC, "accept", [&] { return accept(fd, a, len); });
}
LM_HIDDEN int lm_rz_accept4(int fd, sockaddr* a, socklen_t* len, int flags) {
  return rz::length_out(a, len, false, LM_PC, "accept4", [&] { return accept4(fd, a, len, flags); });
}
LM_HIDDEN int lm_rz_getsockname(int fd, sockaddr* a, socklen_t* len) {
  return rz::length_out(a, len, true, LM_PC, "getsockname", [&] { return getsockname(fd, a, len); });
}
LM_HIDDEN int lm_rz_getpeername(int fd, sockaddr* a, socklen_t* len) {
  return rz::length_out(a, len, true, LM_PC, "getpeername", [&] { return getpeername(fd, a, len); });
}
// An option's value: read whole by setsockopt (the program says it holds
// len bytes); getsockopt writes at most the room it was given, and stores
// back what it wrote (or, for a few options, what it would have).
LM_HIDDEN int lm_rz_setsockopt(int fd, int level, int name, const void* v, socklen_t len) {
  rz::range(v, len, false, LM_PC, "setsockopt");
  return setsockopt(fd, level, name, v, len);
}
LM_HIDDEN int lm_rz_getsockopt(int fd, int level, int name, void* v, socklen_t* len) {
  return rz::length_out(v, len, true, LM_PC, "getsockopt", [&] { return getsockopt(fd, level, name, v, len); });
}

// Event waits. epoll_wait writes one event per ready descriptor (what it
// returns), not maxevents; epoll_ctl reads its event for EPOLL_CTL_ADD and
// EPOLL_CTL_MOD, first. select reads and rewrites nfds bits of each set
// (in whole longs) and the timeout; pselect reads its timeout and mask.
LM_HIDDEN int lm_rz_epoll_ctl(int ep, int op, int fd, epoll_event* ev) {
  if (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) rz::range(ev, sizeof *ev, false, LM_PC, "epoll_ctl");
  return epoll_ctl(ep, op, fd, ev);
}
LM_HIDDEN int lm_rz_epoll_wait(int ep, epoll_event* ev, int max, int timeout) {
  int r = epoll_wait(ep, ev, max, timeout);
  if (r > 0) rz::range(ev, size_t(r) * sizeof *ev, true, LM_PC, "epoll_wait");
  return r;
}
LM_HIDDEN int lm_rz_epoll_pwait(int ep, epoll_event* ev, int max, int timeout, const sigset_t* mask) {
  int r = epoll_pwait(ep, ev, max, timeout, mask);
  if (r > 0) rz::range(ev, size_t(r) * sizeof *ev, true, LM_PC, "epoll_pwait");
  return r;
}
LM_HIDDEN int lm_rz_select(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
  int r = select(nfds, rd, wr, ex, tv);
  fd_set* sets[3] = {rd, wr, ex};
  rz::fd_sets_used(r, nfds, sets, LM_PC, "select");
  if (r >= 0 && tv) rz::range(tv, sizeof *tv, true, LM_PC, "select");
  return r;
}
LM_HIDDEN int lm_rz_pselect(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, const timespec* ts, const sigset_t* mask) {
  int r = pselect(nfds, rd, wr, ex, ts, mask);
  fd_set* sets[3] = {rd, wr, ex};
  rz::fd_sets_used(r, nfds, sets, LM_PC, "pselect");
  if (r >= 0 && ts) rz::range(ts, sizeof *ts, false, LM_PC, "pselect");
  if (r >= 0 && mask) rz::range(mask, 8, false, LM_PC, "pselect");  // (the kernel's sigset: 64 signals)
  return r;
}

// Fixed-size results: an array or struct written on success (pipe's two
// descriptors, a time), or read and written (poll's array: polled).
int __poll_chk(struct pollfd*, nfds_t, int, size_t);
int __ppoll_chk(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*, size_t);
LM_HIDDEN int lm_rz_pipe(int fds[2]) {
  int r = pipe(fds);
  if (r == 0) rz::range(fds, 2 * sizeof(int), true, LM_PC, "pipe");
  return r;
}
LM_HIDDEN int lm_rz_pipe2(int fds[2], int flags) {
  int r = pipe2(fds, flags);
  if (r == 0) rz::range(fds, 2 * sizeof(int), true, LM_PC, "pipe2");
  return r;
}
LM_HIDDEN int lm_rz_poll(struct pollfd* fds, nfds_t n, int timeout) {
  return rz::polled(poll(fds, n, timeout), fds, n, nullptr, nullptr, LM_PC, "poll");
}
LM_HIDDEN int lm_rz_poll_chk(struct pollfd* fds, nfds_t n, int timeout, size_t bn) {
  return rz::polled(__poll_chk(fds, n, timeout, bn), fds, n, nullptr, nullptr, LM_PC, "__poll_chk");
}
LM_HIDDEN int lm_rz_ppoll(struct pollfd* fds, nfds_t n, const struct timespec* ts, const sigset_t* mask) {
  return rz::polled(ppoll(fds, n, ts, mask), fds, n, ts, mask, LM_PC, "ppoll");
}
LM_HIDDEN int lm_rz_ppoll_chk(struct pollfd* fds, nfds_t n, const struct timespec* ts, const sigset_t* mask,
                              size_t bn) {
  return rz::polled(__ppoll_chk(fds, n, ts, mask, bn), fds, n, ts, mask, LM_PC, "__ppoll_chk");
}
LM_HIDDEN int lm_rz_clock_gettime(clockid_t clock, struct timespec* ts) {
  int r = clock_gettime(clock, ts);
  if (r == 0) rz::range(ts, sizeof *ts, true, LM_PC, "clock_gettime");
  return r;
}
LM_HIDDEN int lm_rz_gettimeofday(struct timeval* tv, void* tz) {
  int r = gettimeofday(tv, static_cast<struct timezone*>(tz));
  if (r == 0 && tv) rz::range(tv, sizeof *tv, true, LM_PC, "gettimeofday");
  if (r == 0 && tz) rz::range(tz, sizeof(struct timezone), true, LM_PC, "gettimeofday");
  return r;
}
LM_HIDDEN time_t lm_rz_time(time_t* t) {
  time_t r = time(t);
  if (t && r != time_t(-1)) rz::range(t, sizeof *t, true, LM_PC, "time");
  return r;
}
LM_HIDDEN struct tm* lm_rz_localtime_r(const time_t* t, struct tm* tm) {
  rz::range(t, sizeof *t, false, LM_PC, "localtime_r");
  struct tm* r = localtime_r(t, tm);
  if (r) rz::range(tm, sizeof *tm, true, LM_PC, "localtime_r");
  return r;
}
LM_HIDDEN struct tm* lm_rz_gmtime_r(const time_t* t, struct tm* tm) {
  rz::range(t, sizeof *t, false, LM_PC, "gmtime_r");
  struct tm* r = gmtime_r(t, tm);
  if (r) rz::range(tm, sizeof *tm, true, LM_PC, "gmtime_r");
  return r;
}
LM_HIDDEN struct tm* lm_rz_localtime(const time_t* t) {
  rz::range(t, sizeof *t, false, LM_PC, "localtime");
  return localtime(t);
}
LM_HIDDEN struct tm* lm_rz_gmtime(const time_t* t) {
  rz::range(t, sizeof *t, false, LM_PC, "gmtime");
  return gmtime(t);
}
LM_HIDDEN time_t lm_rz_mktime(struct tm* tm) {
  rz::range(tm, sizeof *tm, true, LM_PC, "mktime");  // (normalised in place)
  return mktime(tm);
}
LM_HIDDEN char* lm_rz_ctime_r(const time_t* t, char* buf) {
  rz::range(t, sizeof *t, false, LM_PC, "ctime_r");
  return rz::time_text_written(ctime_r(t, buf), buf, LM_PC, "ctime_r");
}
LM_HIDDEN char* lm_rz_asctime_r(const struct tm* tm, char* buf) {
  rz::range(tm, sizeof *tm, false, LM_PC, "asctime_r");
  return rz::time_text_written(asctime_r(tm, buf), buf, LM_PC, "asctime_r");
}
// strftime: a result of 0 leaves the buffer's contents unspecified.
LM_HIDDEN size_t lm_rz_strftime(char* s, size_t max, const char* fmt, const struct tm* tm) {
  rz::string_read(fmt, LM_PC, "strftime");
  rz::range(tm, sizeof *tm, false, LM_PC, "strftime");
  size_t r = strftime(s, max, fmt, tm);
  if (r) rz::range(s, r + 1, true, LM_PC, "strftime");
  return r;
}

// More calls that take paths (got_path: after the call), with the structs
// some of them read before or fill.
LM_HIDDEN int lm_rz_remove(const char* path) { return rz::got_path(remove(path), path, LM_PC, "remove"); }
LM_HIDDEN int lm_rz_mkfifo(const char* path, mode_t mode) {
  return rz::got_path(mkfifo(path, mode), path, LM_PC, "mkfifo");
}
LM_HIDDEN int lm_rz_mknod(const char* path, mode_t mode, dev_t dev) {
  return rz::got_path(mknod(path, mode, dev), path, LM_PC, "mknod");
}
LM_HIDDEN int lm_rz_mkdirat(int dir, const char* path, mode_t mode) {
  return rz::got_path(mkdirat(dir, path, mode), path, LM_PC, "mkdirat");
}
LM_HIDDEN int lm_rz_chown(const char* path, uid_t u, gid_t g) {
  return rz::got_path(chown(path, u, g), path, LM_PC, "chown");
}
LM_HIDDEN int lm_rz_lchown(const char* path, uid_t u, gid_t g) {
  return rz::got_path(lchown(path, u, g), path, LM_PC, "lchown");
}
LM_HIDDEN int lm_rz_fchownat(int dir, const char* path, uid_t u, gid_t g, int flags) {
  return rz::got_path(fchownat(dir, path, u, g, flags), path, LM_PC, "fchownat");
}
LM_HIDDEN int lm_rz_fchmodat(int dir, const char* path, mode_t mode, int flags) {
  return rz::got_path(fchmodat(dir, path, mode, flags), path, LM_PC, "fchmodat");
}
LM_HIDDEN int lm_rz_renameat(int d1, const char* from, int d2, const char* to) {
  return rz::got_paths(renameat(d1, from, d2, to), from, to, LM_PC, "renameat");
}
LM_HIDDEN int lm_rz_renameat2(int d1, const char* from, int d2, const char* to, unsigned flags) {
  return rz::got_paths(renameat2(d1, from, d2, to, flags), from, to, LM_PC, "renameat2");
}
LM_HIDDEN int lm_rz_linkat(int d1, const char* from, int d2, const char* to, int flags) {
  return rz::got_paths(linkat(d1, from, d2, to, flags), from, to, LM_PC, "linkat");
}
LM_HIDDEN int lm_rz_symlinkat(const char* target, int dir, const char* path) {
  return rz::got_paths(symlinkat(target, dir, path), target, path, LM_PC, "symlinkat");
}
LM_HIDDEN int lm_rz_utime(const char* path, const struct utimbuf* t) {
  if (t) rz::range(t, sizeof *t, false, LM_PC, "utime");
  return rz::got_path(utime(path, t), path, LM_PC, "utime");
}
LM_HIDDEN int lm_rz_utimes(const char* path, const struct timeval tv[2]) {
  if (tv) rz::range(tv, 2 * sizeof *tv, false, LM_PC, "utimes");
  return rz::got_path(utimes(path, tv), path, LM_PC, "utimes");
}
LM_HIDDEN int lm_rz_utimensat(int dir, const char* path, const struct timespec ts[2], int flags) {
  if (ts) rz::range(ts, 2 * sizeof *ts, false, LM_PC, "utimensat");
  return rz::got_path(utimensat(dir, path, ts, flags), path, LM_PC, "utimensat");
}
LM_HIDDEN int lm_rz_statfs(const char* path, struct statfs* out) {
  return rz::got_struct(statfs(path, out), path, out, LM_PC, "statfs");
}
LM_HIDDEN int lm_rz_statvfs(const char* path, struct statvfs* out) {
  return rz::got_struct(statvfs(path, out), path, out, LM_PC, "statvfs");
}
LM_HIDDEN int lm_rz_statx(int dir, const char* path, int flags, unsigned mask, struct statx* out) {
  return rz::got_struct(statx(dir, path, flags, mask, out), path, out, LM_PC, "statx");
}

// scanf from a stream: the format before; after, the objects its first N
// assigning conversions stored into (N its result), as for sscanf (a %c's
// first character only: how many more the stream had is not known).
int lm_real_vfscanf(FILE*, const char*, va_list) __asm__("vfscanf");
int lm_real_isoc99_vfscanf(FILE*, const char*, va_list) __asm__("__isoc99_vfscanf");
int lm_real_fscanf(FILE*, const char*, ...) __asm__("fscanf");
int lm_real_isoc99_fscanf(FILE*, const char*, ...) __asm__("__isoc99_fscanf");
int lm_real_scanf(const char*, ...) __asm__("scanf");
int lm_real_isoc99_scanf(const char*, ...) __asm__("__isoc99_scanf");
int lm_real_vscanf(const char*, va_list) __asm__("vscanf");
int lm_real_isoc99_vscanf(const char*, va_list) __asm__("__isoc99_vscanf");
using Vfscan = int (*)(FILE*, const char*, va_list);
int fscanned(Vfscan scan, FILE* f, const char* fmt, va_list ap, uptr pc, const char* func) {
  rz::string_read(fmt, pc, func);  // (null: glibc fails with EINVAL)
  va_list outputs;
  va_copy(outputs, ap);
  int r = checked_outputs(scan(f, fmt, ap), nullptr, fmt, outputs, pc, func);
  va_end(outputs);
  return r;
}
LM_HIDDEN int lm_rz_vfscanf(FILE* f, const char* fmt, va_list ap) {
  return fscanned(lm_real_vfscanf, f, fmt, ap, LM_PC, "vfscanf");
}
LM_HIDDEN int lm_rz_isoc99_vfscanf(FILE* f, const char* fmt, va_list ap) {
  return fscanned(lm_real_isoc99_vfscanf, f, fmt, ap, LM_PC, "vfscanf");
}
LM_HIDDEN int lm_rz_vscanf(const char* fmt, va_list ap) {
  return fscanned(lm_real_vfscanf, stdin, fmt, ap, LM_PC, "vscanf");
}
LM_HIDDEN int lm_rz_isoc99_vscanf(const char* fmt, va_list ap) {
  return fscanned(lm_real_isoc99_vfscanf, stdin, fmt, ap, LM_PC, "vscanf");
}
LM_HIDDEN int lm_rz_fscanf(FILE* f, const char* fmt, ...) {
  LM_SCAN_VARIADIC(fscanned, lm_real_vfscanf, f, "fscanf");
}
LM_HIDDEN int lm_rz_isoc99_fscanf(FILE* f, const char* fmt, ...) {
  LM_SCAN_VARIADIC(fscanned, lm_real_isoc99_vfscanf, f, "fscanf");
}
LM_HIDDEN int lm_rz_scanf(const char* fmt, ...) {
  LM_SCAN_VARIADIC(fscanned, lm_real_vfscanf, stdin, "scanf");
}
LM_HIDDEN int lm_rz_isoc99_scanf(const char* fmt, ...) {
  LM_SCAN_VARIADIC(fscanned, lm_real_isoc99_vfscanf, stdin, "scanf");
}

// exec and posix_spawn: the path, argv and envp, before the call, where
// they lie in the heap (exec_read).
extern char** environ;
LM_HIDDEN int lm_rz_execve(const char* path, char* const argv[], char* const envp[]) {
  rz::exec_read(path, argv, envp, LM_PC, "execve");
  return execve(path, argv, envp);
}
LM_HIDDEN int lm_rz_execv(const char* path, char* const argv[]) {
  rz::exec_read(path, argv, environ, LM_PC, "execv");
  return execv(path, argv);
}
LM_HIDDEN int lm_rz_execvp(const char* file, char* const argv[]) {
  rz::exec_read(file, argv, environ, LM_PC, "execvp");
  return execvp(file, argv);
}
LM_HIDDEN int lm_rz_execvpe(const char* file, char* const argv[], char* const envp[]) {
  rz::exec_read(file, argv, envp, LM_PC, "execvpe");
  return execvpe(file, argv, envp);
}
LM_HIDDEN int lm_rz_fexecve(int fd, char* const argv[], char* const envp[]) {
  rz::exec_read(nullptr, argv, envp, LM_PC, "fexecve");
  return fexecve(fd, argv, envp);
}
LM_HIDDEN int lm_rz_posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                                const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  rz::exec_read(path, argv, envp, LM_PC, "posix_spawn");
  return posix_spawn(pid, path, actions, attr, argv, envp);
}
LM_HIDDEN int lm_rz_posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                                 const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  rz::exec_read(file, argv, envp, LM_PC, "posix_spawnp");
  return posix_spawnp(pid, file, actions, attr, argv, envp);
}

// execl, execlp and execle: the arguments collected, as glibc does, into an
// array on the stack (no malloc: async-signal-safe, fit for a vfork child),
// each string checked where it lies in a live heap block, then execv,
// execvp or execve (glibc's execl calls execve inside libc, which no slot
// sees). `arg` and the variadic ones run to a null; execle's envp follows it.
namespace lm::redzone {
namespace {
// How many strings (arg and those up to the null), or 0 for too many (glibc
// fails with E2BIG).
size_t exec_list_size(va_list* ap) {
  va_list c;
  va_copy(c, *ap);
  size_t n = 1;
  while (va_arg(c, char*) != nullptr && n < INT_MAX) ++n;
  va_end(c);
  return n < INT_MAX ? n : 0;
}
// Collected whatever they hold (execle's envp lies after the variadic
// null); checked up to the first null, where the kernel stops (a null
// `arg` ends the list).
void exec_list_read(char** argv, size_t n, const char* arg, va_list* ap, uptr pc, const char* func) {
  argv[0] = const_cast<char*>(arg);
  for (size_t i = 1; i <= n; ++i) argv[i] = va_arg(*ap, char*);  // (the last: the null)
  for (size_t i = 0; i < n && argv[i]; ++i) heap_string_read(argv[i], pc, func);
}
}  // namespace
}  // namespace lm::redzone
#define LM_EXEC_LIST(func, file, arg, ...)                                      \
  va_list ap;                                                                   \
  va_start(ap, arg);                                                            \
  size_t n = rz::exec_list_size(&ap);                                           \
  if (n == 0) {                                                                 \
    va_end(ap);                                                                 \
    errno = E2BIG;                                                              \
    return -1;                                                                  \
  }                                                                             \
  auto** argv = static_cast<char**>(__builtin_alloca((n + 1) * sizeof(char*))); \
  rz::heap_string_read(file, LM_PC, func);                                      \
  rz::exec_list_read(argv, n, arg, &ap, LM_PC, func);                           \
  __VA_ARGS__;                                                                  \
  va_end(ap)
LM_HIDDEN int lm_rz_execl(const char* path, const char* arg, ...) {
  LM_EXEC_LIST("execl", path, arg, rz::heap_vector_read(environ, LM_PC, "execl"));
  return execv(path, argv);
}
LM_HIDDEN int lm_rz_execlp(const char* file, const char* arg, ...) {
  LM_EXEC_LIST("execlp", file, arg, rz::heap_vector_read(environ, LM_PC, "execlp"));
  return execvp(file, argv);
}
LM_HIDDEN int lm_rz_execle(const char* path, const char* arg, ...) {
  char* const* envp;
  LM_EXEC_LIST("execle", path, arg, envp = va_arg(ap, char* const*); rz::heap_vector_read(envp, LM_PC, "execle"));
  return execve(path, argv, envp);
}
#undef LM_EXEC_LIST

// Sorting reads every element (more than one: a single one is left alone);
// checked before, as a read, the first access it makes.
LM_HIDDEN void lm_rz_qsort(void* base, size_t n, size_t size, int (*cmp)(const void*, const void*)) {
  size_t bytes;
  if (n > 1 && !__builtin_mul_overflow(n, size, &bytes)) rz::range(base, bytes, false, LM_PC, "qsort");
  qsort(base, n, size, cmp);
}
LM_HIDDEN void lm_rz_qsort_r(void* base, size_t n, size_t size, int (*cmp)(const void*, const void*, void*),
                             void* arg) {
  size_t bytes;
  if (n > 1 && !__builtin_mul_overflow(n, size, &bytes)) rz::range(base, bytes, false, LM_PC, "qsort_r");
  qsort_r(base, n, size, cmp, arg);
}

// Wide strings: the byte functions' checks in units of wchar_t. Declared
// by their symbols (C++'s <cwchar> overloads the searches).
wchar_t* lm_real_wcschr(const wchar_t*, wchar_t) __asm__("wcschr");
wchar_t* lm_real_wcsrchr(const wchar_t*, wchar_t) __asm__("wcsrchr");
LM_HIDDEN size_t lm_rz_wcslen(const wchar_t* s) {
  size_t n = wcslen(s);
  rz::range(s, rz::wide(n + 1), false, LM_PC, "wcslen");
  return n;
}
LM_HIDDEN size_t lm_rz_wcsnlen(const wchar_t* s, size_t max) {
  size_t n = wcsnlen(s, max);
  rz::range(s, rz::wide(n < max ? n + 1 : n), false, LM_PC, "wcsnlen");
  return n;
}
LM_HIDDEN wchar_t* lm_rz_wcscpy(wchar_t* d, const wchar_t* s) {
  size_t n = rz::wide(wcslen(s) + 1);
  rz::range(s, n, false, LM_PC, "wcscpy");
  rz::range(d, n, true, LM_PC, "wcscpy");
  return wcscpy(d, s);
}
LM_HIDDEN wchar_t* lm_rz_wcsncpy(wchar_t* d, const wchar_t* s, size_t n) {
  size_t k = wcsnlen(s, n);
  rz::range(s, rz::wide(k < n ? k + 1 : k), false, LM_PC, "wcsncpy");
  rz::range(d, rz::wide(n), true, LM_PC, "wcsncpy");
  return wcsncpy(d, s, n);
}
LM_HIDDEN wchar_t* lm_rz_wcscat(wchar_t* d, const wchar_t* s) {
  size_t dl = wcslen(d), sl = wcslen(s) + 1;
  rz::range(d, rz::wide(dl + 1), false, LM_PC, "wcscat");
  rz::range(s, rz::wide(sl), false, LM_PC, "wcscat");
  rz::range(d + dl, rz::wide(sl), true, LM_PC, "wcscat");
  return wcscat(d, s);
}
LM_HIDDEN int lm_rz_wcscmp(const wchar_t* a, const wchar_t* b) {
  rz::compared(a, b, rz::kNoLimit, false, LM_PC, "wcscmp");
  return wcscmp(a, b);
}
LM_HIDDEN int lm_rz_wcsncmp(const wchar_t* a, const wchar_t* b, size_t n) {
  rz::compared(a, b, n, false, LM_PC, "wcsncmp");
  return wcsncmp(a, b, n);
}
LM_HIDDEN wchar_t* lm_rz_wcschr(const wchar_t* s, wchar_t c) {
  wchar_t* r = lm_real_wcschr(s, c);
  rz::range(s, rz::wide(r ? size_t(r - s) + 1 : wcslen(s) + 1), false, LM_PC, "wcschr");
  return r;
}
LM_HIDDEN wchar_t* lm_rz_wcsrchr(const wchar_t* s, wchar_t c) {
  wchar_t* r = lm_real_wcsrchr(s, c);
  rz::range(s, rz::wide(wcslen(s) + 1), false, LM_PC, "wcsrchr");
  return r;
}
LM_HIDDEN wchar_t* lm_rz_wcsdup(const wchar_t* s) {
  rz::range(s, rz::wide(wcslen(s) + 1), false, LM_PC, "wcsdup");
  return wcsdup(s);
}
LM_HIDDEN wchar_t* lm_rz_wmemcpy(wchar_t* d, const wchar_t* s, size_t n) {
  rz::range(s, rz::wide(n), false, LM_PC, "wmemcpy");
  rz::range(d, rz::wide(n), true, LM_PC, "wmemcpy");
  return wmemcpy(d, s, n);
}
LM_HIDDEN wchar_t* lm_rz_wmemmove(wchar_t* d, const wchar_t* s, size_t n) {
  rz::range(s, rz::wide(n), false, LM_PC, "wmemmove");
  rz::range(d, rz::wide(n), true, LM_PC, "wmemmove");
  return wmemmove(d, s, n);
}
LM_HIDDEN wchar_t* lm_rz_wmemset(wchar_t* d, wchar_t c, size_t n) {
  rz::range(d, rz::wide(n), true, LM_PC, "wmemset");
  return wmemset(d, c, n);
}
LM_HIDDEN int lm_rz_wmemcmp(const wchar_t* a, const wchar_t* b, size_t n) {
  rz::range(a, rz::wide(n), false, LM_PC, "wmemcmp");
  rz::range(b, rz::wide(n), false, LM_PC, "wmemcmp");
  return wmemcmp(a, b, n);
}
wchar_t* __wmemcpy_chk(wchar_t*, const wchar_t*, size_t, size_t);
wchar_t* __wmemmove_chk(wchar_t*, const wchar_t*, size_t, size_t);
wchar_t* __wmemset_chk(wchar_t*, wchar_t, size_t, size_t);
wchar_t* __wcscpy_chk(wchar_t*, const wchar_t*, size_t);
wchar_t* __wcsncpy_chk(wchar_t*, const wchar_t*, size_t, size_t);
wchar_t* __wcscat_chk(wchar_t*, const wchar_t*, size_t);
LM_HIDDEN wchar_t* lm_rz_wmemcpy_chk(wchar_t* d, const wchar_t* s, size_t n, size_t dn) {
  rz::range(s, rz::wide(n), false, LM_PC, "__wmemcpy_chk");
  rz::range(d, rz::wide(n), true, LM_PC, "__wmemcpy_chk");
  return __wmemcpy_chk(d, s, n, dn);
}
LM_HIDDEN wchar_t* lm_rz_wmemmove_chk(wchar_t* d, const wchar_t* s, size_t n, size_t dn) {
  rz::range(s, rz::wide(n), false, LM_PC, "__wmemmove_chk");
  rz::range(d, rz::wide(n), true, LM_PC, "__wmemmove_chk");
  return __wmemmove_chk(d, s, n, dn);
}
LM_HIDDEN wchar_t* lm_rz_wmemset_chk(wchar_t* d, wchar_t c, size_t n, size_t dn) {
  rz::range(d, rz::wide(n), true, LM_PC, "__wmemset_chk");
  return __wmemset_chk(d, c, n, dn);
}
LM_HIDDEN wchar_t* lm_rz_wcscpy_chk(wchar_t* d, const wchar_t* s, size_t dn) {
  size_t n = rz::wide(wcslen(s) + 1);
  rz::range(s, n, false, LM_PC, "__wcscpy_chk");
  rz::range(d, n, true, LM_PC, "__wcscpy_chk");
  return __wcscpy_chk(d, s, dn);
}
LM_HIDDEN wchar_t* lm_rz_wcsncpy_chk(wchar_t* d, const wchar_t* s, size_t n, size_t dn) {
  size_t k = wcsnlen(s, n);
  rz::range(s, rz::wide(k < n ? k + 1 : k), false, LM_PC, "__wcsncpy_chk");
  rz::range(d, rz::wide(n), true, LM_PC, "__wcsncpy_chk");
  return __wcsncpy_chk(d, s, n, dn);
}
LM_HIDDEN wchar_t* lm_rz_wcscat_chk(wchar_t* d, const wchar_t* s, size_t dn) {
  size_t dl = wcslen(d), sl = wcslen(s) + 1;
  rz::range(d, rz::wide(dl + 1), false, LM_PC, "__wcscat_chk");
  rz::range(s, rz::wide(sl), false, LM_PC, "__wcscat_chk");
  rz::range(d + dl, rz::wide(sl), true, LM_PC, "__wcscat_chk");
  return __wcscat_chk(d, s, dn);
}
}  // extern "C"

namespace lm::redzone {
namespace {

// Each hooked name, its checked version, and the function it resolves to
// for libmalloc itself (through its own GOT slot): what the checked version
// calls. A slot elsewhere is patched only while it holds that too (the
// global binding), or, unresolved yet, a lazy PLT entry of its own module: a
// module bound to another definition (a library of its own, RTLD_DEEPBIND,
// a versioned reference) keeps it. (bcmp is memcmp in glibc; the other
// aliases are glibc's second names for one function.)
struct Hook {
  const char* name;
  void* to;
  void* real;
};
const Hook kHooks[] = {
    {"memcpy", reinterpret_cast<void*>(lm_rz_memcpy), reinterpret_cast<void*>(&memcpy)},
    {"memmove", reinterpret_cast<void*>(lm_rz_memmove), reinterpret_cast<void*>(&memmove)},
    {"mempcpy", reinterpret_cast<void*>(lm_rz_mempcpy), reinterpret_cast<void*>(&mempcpy)},
    {"__mempcpy", reinterpret_cast<void*>(lm_rz_mempcpy), reinterpret_cast<void*>(&mempcpy)},
    {"memset", reinterpret_cast<void*>(lm_rz_memset), reinterpret_cast<void*>(&memset)},
    {"memcmp", reinterpret_cast<void*>(lm_rz_memcmp), reinterpret_cast<void*>(&memcmp)},
    {"bcmp", reinterpret_cast<void*>(lm_rz_bcmp), reinterpret_cast<void*>(&memcmp)},
    {"strlen", reinterpret_cast<void*>(lm_rz_strlen), reinterpret_cast<void*>(&strlen)},
    {"strnlen", reinterpret_cast<void*>(lm_rz_strnlen), reinterpret_cast<void*>(&strnlen)},
    {"strcpy", reinterpret_cast<void*>(lm_rz_strcpy), reinterpret_cast<void*>(&strcpy)},
    {"stpcpy", reinterpret_cast<void*>(lm_rz_stpcpy), reinterpret_cast<void*>(&stpcpy)},
    {"strncpy", reinterpret_cast<void*>(lm_rz_strncpy), reinterpret_cast<void*>(&strncpy)},
    {"strcat", reinterpret_cast<void*>(lm_rz_strcat), reinterpret_cast<void*>(&strcat)},
    {"strncat", reinterpret_cast<void*>(lm_rz_strncat), reinterpret_cast<void*>(&strncat)},
    {"strdup", reinterpret_cast<void*>(lm_rz_strdup), reinterpret_cast<void*>(&strdup)},
    {"__strdup", reinterpret_cast<void*>(lm_rz_strdup), reinterpret_cast<void*>(&strdup)},
    {"strndup", reinterpret_cast<void*>(lm_rz_strndup), reinterpret_cast<void*>(&strndup)},
    {"__memcpy_chk", reinterpret_cast<void*>(lm_rz_memcpy_chk), reinterpret_cast<void*>(&__memcpy_chk)},
    {"__memmove_chk", reinterpret_cast<void*>(lm_rz_memmove_chk), reinterpret_cast<void*>(&__memmove_chk)},
    {"__mempcpy_chk", reinterpret_cast<void*>(lm_rz_mempcpy_chk), reinterpret_cast<void*>(&__mempcpy_chk)},
    {"__memset_chk", reinterpret_cast<void*>(lm_rz_memset_chk), reinterpret_cast<void*>(&__memset_chk)},
    {"__strcpy_chk", reinterpret_cast<void*>(lm_rz_strcpy_chk), reinterpret_cast<void*>(&__strcpy_chk)},
    {"__stpcpy_chk", reinterpret_cast<void*>(lm_rz_stpcpy_chk), reinterpret_cast<void*>(&__stpcpy_chk)},
    {"__strncpy_chk", reinterpret_cast<void*>(lm_rz_strncpy_chk), reinterpret_cast<void*>(&__strncpy_chk)},
    {"__strcat_chk", reinterpret_cast<void*>(lm_rz_strcat_chk), reinterpret_cast<void*>(&__strcat_chk)},
    {"__strncat_chk", reinterpret_cast<void*>(lm_rz_strncat_chk), reinterpret_cast<void*>(&__strncat_chk)},
    {"sprintf", reinterpret_cast<void*>(lm_rz_sprintf), reinterpret_cast<void*>(&sprintf)},
    {"vsprintf", reinterpret_cast<void*>(lm_rz_vsprintf), reinterpret_cast<void*>(&vsprintf)},
    {"snprintf", reinterpret_cast<void*>(lm_rz_snprintf), reinterpret_cast<void*>(&snprintf)},
    {"vsnprintf", reinterpret_cast<void*>(lm_rz_vsnprintf), reinterpret_cast<void*>(&vsnprintf)},
    {"__sprintf_chk", reinterpret_cast<void*>(lm_rz_sprintf_chk), reinterpret_cast<void*>(&__sprintf_chk)},
    {"__vsprintf_chk", reinterpret_cast<void*>(lm_rz_vsprintf_chk), reinterpret_cast<void*>(&__vsprintf_chk)},
    {"__snprintf_chk", reinterpret_cast<void*>(lm_rz_snprintf_chk), reinterpret_cast<void*>(&__snprintf_chk)},
    {"__vsnprintf_chk", reinterpret_cast<void*>(lm_rz_vsnprintf_chk), reinterpret_cast<void*>(&__vsnprintf_chk)},
    {"open", reinterpret_cast<void*>(lm_rz_open), reinterpret_cast<void*>(&open)},
    {"open64", reinterpret_cast<void*>(lm_rz_open), reinterpret_cast<void*>(&open64)},
    {"openat", reinterpret_cast<void*>(lm_rz_openat), reinterpret_cast<void*>(&openat)},
    {"openat64", reinterpret_cast<void*>(lm_rz_openat), reinterpret_cast<void*>(&openat64)},
    {"__open_2", reinterpret_cast<void*>(lm_rz_open_2), reinterpret_cast<void*>(&__open_2)},
    {"__open64_2", reinterpret_cast<void*>(lm_rz_open_2), reinterpret_cast<void*>(&__open64_2)},
    {"__openat_2", reinterpret_cast<void*>(lm_rz_openat_2), reinterpret_cast<void*>(&__openat_2)},
    {"__openat64_2", reinterpret_cast<void*>(lm_rz_openat_2), reinterpret_cast<void*>(&__openat64_2)},
    {"creat", reinterpret_cast<void*>(lm_rz_creat), reinterpret_cast<void*>(&creat)},
    {"creat64", reinterpret_cast<void*>(lm_rz_creat), reinterpret_cast<void*>(&creat64)},
    {"fopen", reinterpret_cast<void*>(lm_rz_fopen), reinterpret_cast<void*>(&fopen)},
    {"fopen64", reinterpret_cast<void*>(lm_rz_fopen), reinterpret_cast<void*>(&fopen64)},
    {"freopen", reinterpret_cast<void*>(lm_rz_freopen), reinterpret_cast<void*>(&freopen)},
    {"freopen64", reinterpret_cast<void*>(lm_rz_freopen), reinterpret_cast<void*>(&freopen64)},
    {"opendir", reinterpret_cast<void*>(lm_rz_opendir), reinterpret_cast<void*>(&opendir)},
    {"stat", reinterpret_cast<void*>(lm_rz_stat), reinterpret_cast<void*>(&stat)},
    {"stat64", reinterpret_cast<void*>(lm_rz_stat), reinterpret_cast<void*>(&stat64)},
    {"lstat", reinterpret_cast<void*>(lm_rz_lstat), reinterpret_cast<void*>(&lstat)},
    {"lstat64", reinterpret_cast<void*>(lm_rz_lstat), reinterpret_cast<void*>(&lstat64)},
    {"fstatat", reinterpret_cast<void*>(lm_rz_fstatat), reinterpret_cast<void*>(&fstatat)},
    {"fstatat64", reinterpret_cast<void*>(lm_rz_fstatat), reinterpret_cast<void*>(&fstatat64)},
    {"access", reinterpret_cast<void*>(lm_rz_access), reinterpret_cast<void*>(&access)},
    {"faccessat", reinterpret_cast<void*>(lm_rz_faccessat), reinterpret_cast<void*>(&faccessat)},
    {"unlink", reinterpret_cast<void*>(lm_rz_unlink), reinterpret_cast<void*>(&unlink)},
    {"unlinkat", reinterpret_cast<void*>(lm_rz_unlinkat), reinterpret_cast<void*>(&unlinkat)},
    {"rmdir", reinterpret_cast<void*>(lm_rz_rmdir), reinterpret_cast<void*>(&rmdir)},
    {"mkdir", reinterpret_cast<void*>(lm_rz_mkdir), reinterpret_cast<void*>(&mkdir)},
    {"chdir", reinterpret_cast<void*>(lm_rz_chdir), reinterpret_cast<void*>(&chdir)},
    {"chmod", reinterpret_cast<void*>(lm_rz_chmod), reinterpret_cast<void*>(&chmod)},
    {"truncate", reinterpret_cast<void*>(lm_rz_truncate), reinterpret_cast<void*>(&truncate)},
    {"truncate64", reinterpret_cast<void*>(lm_rz_truncate64), reinterpret_cast<void*>(&truncate64)},
    {"readlinkat", reinterpret_cast<void*>(lm_rz_readlinkat), reinterpret_cast<void*>(&readlinkat)},
    {"__readlink_chk", reinterpret_cast<void*>(lm_rz_readlink_chk), reinterpret_cast<void*>(&__readlink_chk)},
    {"__readlinkat_chk", reinterpret_cast<void*>(lm_rz_readlinkat_chk), reinterpret_cast<void*>(&__readlinkat_chk)},
    {"rename", reinterpret_cast<void*>(lm_rz_rename), reinterpret_cast<void*>(&rename)},
    {"link", reinterpret_cast<void*>(lm_rz_link), reinterpret_cast<void*>(&link)},
    {"symlink", reinterpret_cast<void*>(lm_rz_symlink), reinterpret_cast<void*>(&symlink)},
    {"readlink", reinterpret_cast<void*>(lm_rz_readlink), reinterpret_cast<void*>(&readlink)},
    {"realpath", reinterpret_cast<void*>(lm_rz_realpath), reinterpret_cast<void*>(&realpath)},
    {"__realpath_chk", reinterpret_cast<void*>(lm_rz_realpath_chk), reinterpret_cast<void*>(&__realpath_chk)},
    {"printf", reinterpret_cast<void*>(lm_rz_printf), reinterpret_cast<void*>(&printf)},
    {"vprintf", reinterpret_cast<void*>(lm_rz_vprintf), reinterpret_cast<void*>(&vprintf)},
    {"fprintf", reinterpret_cast<void*>(lm_rz_fprintf), reinterpret_cast<void*>(&fprintf)},
    {"vfprintf", reinterpret_cast<void*>(lm_rz_vfprintf), reinterpret_cast<void*>(&vfprintf)},
    {"dprintf", reinterpret_cast<void*>(lm_rz_dprintf), reinterpret_cast<void*>(&dprintf)},
    {"vdprintf", reinterpret_cast<void*>(lm_rz_vdprintf), reinterpret_cast<void*>(&vdprintf)},
    {"asprintf", reinterpret_cast<void*>(lm_rz_asprintf), reinterpret_cast<void*>(&asprintf)},
    {"vasprintf", reinterpret_cast<void*>(lm_rz_vasprintf), reinterpret_cast<void*>(&vasprintf)},
    {"__printf_chk", reinterpret_cast<void*>(lm_rz_printf_chk), reinterpret_cast<void*>(&__printf_chk)},
    {"__vprintf_chk", reinterpret_cast<void*>(lm_rz_vprintf_chk), reinterpret_cast<void*>(&__vprintf_chk)},
    {"__fprintf_chk", reinterpret_cast<void*>(lm_rz_fprintf_chk), reinterpret_cast<void*>(&__fprintf_chk)},
    {"__vfprintf_chk", reinterpret_cast<void*>(lm_rz_vfprintf_chk), reinterpret_cast<void*>(&__vfprintf_chk)},
    {"__dprintf_chk", reinterpret_cast<void*>(lm_rz_dprintf_chk), reinterpret_cast<void*>(&__dprintf_chk)},
    {"__vdprintf_chk", reinterpret_cast<void*>(lm_rz_vdprintf_chk), reinterpret_cast<void*>(&__vdprintf_chk)},
    {"__asprintf_chk", reinterpret_cast<void*>(lm_rz_asprintf_chk), reinterpret_cast<void*>(&__asprintf_chk)},
    {"__vasprintf_chk", reinterpret_cast<void*>(lm_rz_vasprintf_chk), reinterpret_cast<void*>(&__vasprintf_chk)},
    {"read", reinterpret_cast<void*>(lm_rz_read), reinterpret_cast<void*>(&read)},
    {"pread", reinterpret_cast<void*>(lm_rz_pread), reinterpret_cast<void*>(&pread)},
    {"pread64", reinterpret_cast<void*>(lm_rz_pread), reinterpret_cast<void*>(&pread)},
    {"fread", reinterpret_cast<void*>(lm_rz_fread), reinterpret_cast<void*>(&fread)},
    {"fgets", reinterpret_cast<void*>(lm_rz_fgets), reinterpret_cast<void*>(&fgets)},
    {"__read_chk", reinterpret_cast<void*>(lm_rz_read_chk), reinterpret_cast<void*>(&__read_chk)},
    {"__pread_chk", reinterpret_cast<void*>(lm_rz_pread_chk), reinterpret_cast<void*>(&__pread_chk)},
    {"__pread64_chk", reinterpret_cast<void*>(lm_rz_pread_chk), reinterpret_cast<void*>(&__pread_chk)},
    {"__fread_chk", reinterpret_cast<void*>(lm_rz_fread_chk), reinterpret_cast<void*>(&__fread_chk)},
    {"__fgets_chk", reinterpret_cast<void*>(lm_rz_fgets_chk), reinterpret_cast<void*>(&__fgets_chk)},
    {"memchr", reinterpret_cast<void*>(lm_rz_memchr), reinterpret_cast<void*>(static_cast<const void* (*)(const void*, int, size_t)>(&memchr))},
    {"memrchr", reinterpret_cast<void*>(lm_rz_memrchr), reinterpret_cast<void*>(static_cast<const void* (*)(const void*, int, size_t)>(&memrchr))},
    {"strchr", reinterpret_cast<void*>(lm_rz_strchr), reinterpret_cast<void*>(static_cast<const char* (*)(const char*, int)>(&strchr))},
    {"strchrnul", reinterpret_cast<void*>(lm_rz_strchrnul), reinterpret_cast<void*>(static_cast<const char* (*)(const char*, int)>(&strchrnul))},
    {"strrchr", reinterpret_cast<void*>(lm_rz_strrchr), reinterpret_cast<void*>(static_cast<const char* (*)(const char*, int)>(&strrchr))},
    {"strstr", reinterpret_cast<void*>(lm_rz_strstr), reinterpret_cast<void*>(static_cast<const char* (*)(const char*, const char*)>(&strstr))},
    {"strspn", reinterpret_cast<void*>(lm_rz_strspn), reinterpret_cast<void*>(&strspn)},
    {"strcspn", reinterpret_cast<void*>(lm_rz_strcspn), reinterpret_cast<void*>(&strcspn)},
    {"strpbrk", reinterpret_cast<void*>(lm_rz_strpbrk), reinterpret_cast<void*>(static_cast<const char* (*)(const char*, const char*)>(&strpbrk))},
    {"strcmp", reinterpret_cast<void*>(lm_rz_strcmp), reinterpret_cast<void*>(&strcmp)},
    {"strncmp", reinterpret_cast<void*>(lm_rz_strncmp), reinterpret_cast<void*>(&strncmp)},
    {"strcasecmp", reinterpret_cast<void*>(lm_rz_strcasecmp), reinterpret_cast<void*>(&strcasecmp)},
    {"strncasecmp", reinterpret_cast<void*>(lm_rz_strncasecmp), reinterpret_cast<void*>(&strncasecmp)},
    {"memccpy", reinterpret_cast<void*>(lm_rz_memccpy), reinterpret_cast<void*>(&memccpy)},
    {"write", reinterpret_cast<void*>(lm_rz_write), reinterpret_cast<void*>(&write)},
    {"pwrite", reinterpret_cast<void*>(lm_rz_pwrite), reinterpret_cast<void*>(&pwrite)},
    {"pwrite64", reinterpret_cast<void*>(lm_rz_pwrite), reinterpret_cast<void*>(&pwrite)},
    {"send", reinterpret_cast<void*>(lm_rz_send), reinterpret_cast<void*>(&send)},
    {"sendto", reinterpret_cast<void*>(lm_rz_sendto), reinterpret_cast<void*>(&sendto)},
    {"fwrite", reinterpret_cast<void*>(lm_rz_fwrite), reinterpret_cast<void*>(&fwrite)},
    {"fwrite_unlocked", reinterpret_cast<void*>(lm_rz_fwrite_unlocked), reinterpret_cast<void*>(&fwrite_unlocked)},
    {"fputs", reinterpret_cast<void*>(lm_rz_fputs), reinterpret_cast<void*>(&fputs)},
    {"fputs_unlocked", reinterpret_cast<void*>(lm_rz_fputs_unlocked), reinterpret_cast<void*>(&fputs_unlocked)},
    {"puts", reinterpret_cast<void*>(lm_rz_puts), reinterpret_cast<void*>(&puts)},
    {"writev", reinterpret_cast<void*>(lm_rz_writev), reinterpret_cast<void*>(&writev)},
    {"pwritev", reinterpret_cast<void*>(lm_rz_pwritev), reinterpret_cast<void*>(&pwritev)},
    {"pwritev64", reinterpret_cast<void*>(lm_rz_pwritev), reinterpret_cast<void*>(&pwritev)},
    {"sendmsg", reinterpret_cast<void*>(lm_rz_sendmsg), reinterpret_cast<void*>(&sendmsg)},
    {"readv", reinterpret_cast<void*>(lm_rz_readv), reinterpret_cast<void*>(&readv)},
    {"preadv", reinterpret_cast<void*>(lm_rz_preadv), reinterpret_cast<void*>(&preadv)},
    {"preadv64", reinterpret_cast<void*>(lm_rz_preadv), reinterpret_cast<void*>(&preadv)},
    {"recvmsg", reinterpret_cast<void*>(lm_rz_recvmsg), reinterpret_cast<void*>(&recvmsg)},
    {"recv", reinterpret_cast<void*>(lm_rz_recv), reinterpret_cast<void*>(&recv)},
    {"recvfrom", reinterpret_cast<void*>(lm_rz_recvfrom), reinterpret_cast<void*>(&recvfrom)},
    {"fread_unlocked", reinterpret_cast<void*>(lm_rz_fread_unlocked), reinterpret_cast<void*>(&fread_unlocked)},
    {"fgets_unlocked", reinterpret_cast<void*>(lm_rz_fgets_unlocked), reinterpret_cast<void*>(&fgets_unlocked)},
    {"getdelim", reinterpret_cast<void*>(lm_rz_getdelim), reinterpret_cast<void*>(&getdelim)},
    {"__getdelim", reinterpret_cast<void*>(lm_rz___getdelim), reinterpret_cast<void*>(&getdelim)},
    {"getline", reinterpret_cast<void*>(lm_rz_getline), reinterpret_cast<void*>(&getline)},
    {"__recv_chk", reinterpret_cast<void*>(lm_rz_recv_chk), reinterpret_cast<void*>(&__recv_chk)},
    {"__recvfrom_chk", reinterpret_cast<void*>(lm_rz_recvfrom_chk), reinterpret_cast<void*>(&__recvfrom_chk)},
    {"__fread_unlocked_chk", reinterpret_cast<void*>(lm_rz_fread_unlocked_chk), reinterpret_cast<void*>(&__fread_unlocked_chk)},
    {"__fgets_unlocked_chk", reinterpret_cast<void*>(lm_rz_fgets_unlocked_chk), reinterpret_cast<void*>(&__fgets_unlocked_chk)},
    {"sendmmsg", reinterpret_cast<void*>(lm_rz_sendmmsg), reinterpret_cast<void*>(&sendmmsg)},
    {"recvmmsg", reinterpret_cast<void*>(lm_rz_recvmmsg), reinterpret_cast<void*>(&recvmmsg)},
    {"strtol", reinterpret_cast<void*>(lm_rz_strtol), reinterpret_cast<void*>(&strtol)},
    {"strtoul", reinterpret_cast<void*>(lm_rz_strtoul), reinterpret_cast<void*>(&strtoul)},
    {"strtoll", reinterpret_cast<void*>(lm_rz_strtoll), reinterpret_cast<void*>(&strtoll)},
    {"strtoq", reinterpret_cast<void*>(lm_rz_strtoll), reinterpret_cast<void*>(&strtoll)},
    {"strtoull", reinterpret_cast<void*>(lm_rz_strtoull), reinterpret_cast<void*>(&strtoull)},
    {"strtouq", reinterpret_cast<void*>(lm_rz_strtoull), reinterpret_cast<void*>(&strtoull)},
    {"strtoimax", reinterpret_cast<void*>(lm_rz_strtoimax), reinterpret_cast<void*>(&strtoimax)},
    {"strtoumax", reinterpret_cast<void*>(lm_rz_strtoumax), reinterpret_cast<void*>(&strtoumax)},
    {"strtod", reinterpret_cast<void*>(lm_rz_strtod), reinterpret_cast<void*>(&strtod)},
    {"strtof", reinterpret_cast<void*>(lm_rz_strtof), reinterpret_cast<void*>(&strtof)},
    {"strtold", reinterpret_cast<void*>(lm_rz_strtold), reinterpret_cast<void*>(&strtold)},
    {"atoi", reinterpret_cast<void*>(lm_rz_atoi), reinterpret_cast<void*>(&atoi)},
    {"atol", reinterpret_cast<void*>(lm_rz_atol), reinterpret_cast<void*>(&atol)},
    {"atoll", reinterpret_cast<void*>(lm_rz_atoll), reinterpret_cast<void*>(&atoll)},
    {"atof", reinterpret_cast<void*>(lm_rz_atof), reinterpret_cast<void*>(&atof)},
    {"sscanf", reinterpret_cast<void*>(lm_rz_sscanf), reinterpret_cast<void*>(&lm_real_sscanf)},
    {"vsscanf", reinterpret_cast<void*>(lm_rz_vsscanf), reinterpret_cast<void*>(&lm_real_vsscanf)},
    {"__isoc99_sscanf", reinterpret_cast<void*>(lm_rz_isoc99_sscanf), reinterpret_cast<void*>(&lm_real_isoc99_sscanf)},
    {"__isoc99_vsscanf", reinterpret_cast<void*>(lm_rz_isoc99_vsscanf), reinterpret_cast<void*>(&lm_real_isoc99_vsscanf)},
    {"qsort", reinterpret_cast<void*>(lm_rz_qsort), reinterpret_cast<void*>(&qsort)},
    {"qsort_r", reinterpret_cast<void*>(lm_rz_qsort_r), reinterpret_cast<void*>(&qsort_r)},
    {"wcslen", reinterpret_cast<void*>(lm_rz_wcslen), reinterpret_cast<void*>(&wcslen)},
    {"wcsnlen", reinterpret_cast<void*>(lm_rz_wcsnlen), reinterpret_cast<void*>(&wcsnlen)},
    {"wcscpy", reinterpret_cast<void*>(lm_rz_wcscpy), reinterpret_cast<void*>(&wcscpy)},
    {"wcsncpy", reinterpret_cast<void*>(lm_rz_wcsncpy), reinterpret_cast<void*>(&wcsncpy)},
    {"wcscat", reinterpret_cast<void*>(lm_rz_wcscat), reinterpret_cast<void*>(&wcscat)},
    {"wcscmp", reinterpret_cast<void*>(lm_rz_wcscmp), reinterpret_cast<void*>(&wcscmp)},
    {"wcsncmp", reinterpret_cast<void*>(lm_rz_wcsncmp), reinterpret_cast<void*>(&wcsncmp)},
    {"wcschr", reinterpret_cast<void*>(lm_rz_wcschr), reinterpret_cast<void*>(&lm_real_wcschr)},
    {"wcsrchr", reinterpret_cast<void*>(lm_rz_wcsrchr), reinterpret_cast<void*>(&lm_real_wcsrchr)},
    {"wcsdup", reinterpret_cast<void*>(lm_rz_wcsdup), reinterpret_cast<void*>(&wcsdup)},
    {"wmemcpy", reinterpret_cast<void*>(lm_rz_wmemcpy), reinterpret_cast<void*>(&wmemcpy)},
    {"wmemmove", reinterpret_cast<void*>(lm_rz_wmemmove), reinterpret_cast<void*>(&wmemmove)},
    {"wmemset", reinterpret_cast<void*>(lm_rz_wmemset), reinterpret_cast<void*>(&wmemset)},
    {"wmemcmp", reinterpret_cast<void*>(lm_rz_wmemcmp), reinterpret_cast<void*>(&wmemcmp)},
    {"__wmemcpy_chk", reinterpret_cast<void*>(lm_rz_wmemcpy_chk), reinterpret_cast<void*>(&__wmemcpy_chk)},
    {"__wmemmove_chk", reinterpret_cast<void*>(lm_rz_wmemmove_chk), reinterpret_cast<void*>(&__wmemmove_chk)},
    {"__wmemset_chk", reinterpret_cast<void*>(lm_rz_wmemset_chk), reinterpret_cast<void*>(&__wmemset_chk)},
    {"__wcscpy_chk", reinterpret_cast<void*>(lm_rz_wcscpy_chk), reinterpret_cast<void*>(&__wcscpy_chk)},
    {"__wcsncpy_chk", reinterpret_cast<void*>(lm_rz_wcsncpy_chk), reinterpret_cast<void*>(&__wcsncpy_chk)},
    {"__wcscat_chk", reinterpret_cast<void*>(lm_rz_wcscat_chk), reinterpret_cast<void*>(&__wcscat_chk)},
    {"memmem", reinterpret_cast<void*>(lm_rz_memmem), reinterpret_cast<void*>(&memmem)},
    {"strcasestr", reinterpret_cast<void*>(lm_rz_strcasestr), reinterpret_cast<void*>(static_cast<const char* (*)(const char*, const char*)>(&strcasestr))},
    {"wcsstr", reinterpret_cast<void*>(lm_rz_wcsstr), reinterpret_cast<void*>(static_cast<const wchar_t* (*)(const wchar_t*, const wchar_t*)>(&wcsstr))},
    {"strtok", reinterpret_cast<void*>(lm_rz_strtok), reinterpret_cast<void*>(&strtok)},
    {"strtok_r", reinterpret_cast<void*>(lm_rz_strtok_r), reinterpret_cast<void*>(&strtok_r)},
    {"__strtok_r", reinterpret_cast<void*>(lm_rz_strtok_r), reinterpret_cast<void*>(&strtok_r)},
    {"strsep", reinterpret_cast<void*>(lm_rz_strsep), reinterpret_cast<void*>(&strsep)},
    {"getcwd", reinterpret_cast<void*>(lm_rz_getcwd), reinterpret_cast<void*>(&getcwd)},
    {"__getcwd_chk", reinterpret_cast<void*>(lm_rz_getcwd_chk), reinterpret_cast<void*>(&__getcwd_chk)},
    {"gethostname", reinterpret_cast<void*>(lm_rz_gethostname), reinterpret_cast<void*>(&gethostname)},
    {"__gethostname_chk", reinterpret_cast<void*>(lm_rz_gethostname_chk), reinterpret_cast<void*>(&__gethostname_chk)},
    {"strerror_r", reinterpret_cast<void*>(lm_rz_strerror_r), reinterpret_cast<void*>(static_cast<char* (*)(int, char*, size_t)>(&strerror_r))},
    {"__xpg_strerror_r", reinterpret_cast<void*>(lm_rz_xpg_strerror_r), reinterpret_cast<void*>(&lm_real_xpg_strerror_r)},
    {"inet_ntop", reinterpret_cast<void*>(lm_rz_inet_ntop), reinterpret_cast<void*>(&inet_ntop)},
    {"inet_pton", reinterpret_cast<void*>(lm_rz_inet_pton), reinterpret_cast<void*>(&inet_pton)},
    {"getenv", reinterpret_cast<void*>(lm_rz_getenv), reinterpret_cast<void*>(&getenv)},
    {"secure_getenv", reinterpret_cast<void*>(lm_rz_secure_getenv), reinterpret_cast<void*>(&secure_getenv)},
    {"setenv", reinterpret_cast<void*>(lm_rz_setenv), reinterpret_cast<void*>(&setenv)},
    {"unsetenv", reinterpret_cast<void*>(lm_rz_unsetenv), reinterpret_cast<void*>(&unsetenv)},
    {"putenv", reinterpret_cast<void*>(lm_rz_putenv), reinterpret_cast<void*>(&putenv)},
    {"strcoll", reinterpret_cast<void*>(lm_rz_strcoll), reinterpret_cast<void*>(&strcoll)},
    {"strxfrm", reinterpret_cast<void*>(lm_rz_strxfrm), reinterpret_cast<void*>(&strxfrm)},
    {"iconv", reinterpret_cast<void*>(lm_rz_iconv), reinterpret_cast<void*>(&iconv)},
    {"getaddrinfo", reinterpret_cast<void*>(lm_rz_getaddrinfo), reinterpret_cast<void*>(&getaddrinfo)},
    {"getnameinfo", reinterpret_cast<void*>(lm_rz_getnameinfo), reinterpret_cast<void*>(&getnameinfo)},
    {"setvbuf", reinterpret_cast<void*>(lm_rz_setvbuf), reinterpret_cast<void*>(&setvbuf)},
    {"setbuf", reinterpret_cast<void*>(lm_rz_setbuf), reinterpret_cast<void*>(&setbuf)},
    {"setbuffer", reinterpret_cast<void*>(lm_rz_setbuffer), reinterpret_cast<void*>(&setbuffer)},
    {"fmemopen", reinterpret_cast<void*>(lm_rz_fmemopen), reinterpret_cast<void*>(&fmemopen)},
    {"fnmatch", reinterpret_cast<void*>(lm_rz_fnmatch), reinterpret_cast<void*>(&fnmatch)},
    {"regcomp", reinterpret_cast<void*>(lm_rz_regcomp), reinterpret_cast<void*>(&regcomp)},
    {"regexec", reinterpret_cast<void*>(lm_rz_regexec), reinterpret_cast<void*>(&regexec)},
    {"strptime", reinterpret_cast<void*>(lm_rz_strptime), reinterpret_cast<void*>(&strptime)},
    {"mbstowcs", reinterpret_cast<void*>(lm_rz_mbstowcs), reinterpret_cast<void*>(&mbstowcs)},
    {"wcstombs", reinterpret_cast<void*>(lm_rz_wcstombs), reinterpret_cast<void*>(&wcstombs)},
    {"getpwnam_r", reinterpret_cast<void*>(lm_rz_getpwnam_r), reinterpret_cast<void*>(&getpwnam_r)},
    {"getpwuid_r", reinterpret_cast<void*>(lm_rz_getpwuid_r), reinterpret_cast<void*>(&getpwuid_r)},
    {"getgrnam_r", reinterpret_cast<void*>(lm_rz_getgrnam_r), reinterpret_cast<void*>(&getgrnam_r)},
    {"getgrgid_r", reinterpret_cast<void*>(lm_rz_getgrgid_r), reinterpret_cast<void*>(&getgrgid_r)},
    {"bind", reinterpret_cast<void*>(lm_rz_bind), reinterpret_cast<void*>(&bind)},
    {"connect", reinterpret_cast<void*>(lm_rz_connect), reinterpret_cast<void*>(&connect)},
    {"accept", reinterpret_cast<void*>(lm_rz_accept), reinterpret_cast<void*>(&accept)},
    {"accept4", reinterpret_cast<void*>(lm_rz_accept4), reinterpret_cast<void*>(&accept4)},
    {"getsockname", reinterpret_cast<void*>(lm_rz_getsockname), reinterpret_cast<void*>(&getsockname)},
    {"getpeername", reinterpret_cast<void*>(lm_rz_getpeername), reinterpret_cast<void*>(&getpeername)},
    {"setsockopt", reinterpret_cast<void*>(lm_rz_setsockopt), reinterpret_cast<void*>(&setsockopt)},
    {"getsockopt", reinterpret_cast<void*>(lm_rz_getsockopt), reinterpret_cast<void*>(&getsockopt)},
    {"epoll_ctl", reinterpret_cast<void*>(lm_rz_epoll_ctl), reinterpret_cast<void*>(&epoll_ctl)},
    {"epoll_wait", reinterpret_cast<void*>(lm_rz_epoll_wait), reinterpret_cast<void*>(&epoll_wait)},
    {"epoll_pwait", reinterpret_cast<void*>(lm_rz_epoll_pwait), reinterpret_cast<void*>(&epoll_pwait)},
    {"select", reinterpret_cast<void*>(lm_rz_select), reinterpret_cast<void*>(&select)},
    {"pselect", reinterpret_cast<void*>(lm_rz_pselect), reinterpret_cast<void*>(&pselect)},
    {"pipe", reinterpret_cast<void*>(lm_rz_pipe), reinterpret_cast<void*>(&pipe)},
    {"pipe2", reinterpret_cast<void*>(lm_rz_pipe2), reinterpret_cast<void*>(&pipe2)},
    {"poll", reinterpret_cast<void*>(lm_rz_poll), reinterpret_cast<void*>(&poll)},
    {"__poll_chk", reinterpret_cast<void*>(lm_rz_poll_chk), reinterpret_cast<void*>(&__poll_chk)},
    {"ppoll", reinterpret_cast<void*>(lm_rz_ppoll), reinterpret_cast<void*>(&ppoll)},
    {"__ppoll_chk", reinterpret_cast<void*>(lm_rz_ppoll_chk), reinterpret_cast<void*>(&__ppoll_chk)},
    {"execve", reinterpret_cast<void*>(lm_rz_execve), reinterpret_cast<void*>(&execve)},
    {"execv", reinterpret_cast<void*>(lm_rz_execv), reinterpret_cast<void*>(&execv)},
    {"execvp", reinterpret_cast<void*>(lm_rz_execvp), reinterpret_cast<void*>(&execvp)},
    {"execvpe", reinterpret_cast<void*>(lm_rz_execvpe), reinterpret_cast<void*>(&execvpe)},
    {"execl", reinterpret_cast<void*>(lm_rz_execl), reinterpret_cast<void*>(&execl)},
    {"execlp", reinterpret_cast<void*>(lm_rz_execlp), reinterpret_cast<void*>(&execlp)},
    {"execle", reinterpret_cast<void*>(lm_rz_execle), reinterpret_cast<void*>(&execle)},
    {"fexecve", reinterpret_cast<void*>(lm_rz_fexecve), reinterpret_cast<void*>(&fexecve)},
    {"posix_spawn", reinterpret_cast<void*>(lm_rz_posix_spawn), reinterpret_cast<void*>(&posix_spawn)},
    {"posix_spawnp", reinterpret_cast<void*>(lm_rz_posix_spawnp), reinterpret_cast<void*>(&posix_spawnp)},
    {"clock_gettime", reinterpret_cast<void*>(lm_rz_clock_gettime), reinterpret_cast<void*>(&clock_gettime)},
    {"gettimeofday", reinterpret_cast<void*>(lm_rz_gettimeofday), reinterpret_cast<void*>(&gettimeofday)},
    {"time", reinterpret_cast<void*>(lm_rz_time), reinterpret_cast<void*>(&time)},
    {"localtime_r", reinterpret_cast<void*>(lm_rz_localtime_r), reinterpret_cast<void*>(&localtime_r)},
    {"gmtime_r", reinterpret_cast<void*>(lm_rz_gmtime_r), reinterpret_cast<void*>(&gmtime_r)},
    {"localtime", reinterpret_cast<void*>(lm_rz_localtime), reinterpret_cast<void*>(&localtime)},
    {"gmtime", reinterpret_cast<void*>(lm_rz_gmtime), reinterpret_cast<void*>(&gmtime)},
    {"mktime", reinterpret_cast<void*>(lm_rz_mktime), reinterpret_cast<void*>(&mktime)},
    {"ctime_r", reinterpret_cast<void*>(lm_rz_ctime_r), reinterpret_cast<void*>(&ctime_r)},
    {"asctime_r", reinterpret_cast<void*>(lm_rz_asctime_r), reinterpret_cast<void*>(&asctime_r)},
    {"strftime", reinterpret_cast<void*>(lm_rz_strftime), reinterpret_cast<void*>(&strftime)},
    {"remove", reinterpret_cast<void*>(lm_rz_remove), reinterpret_cast<void*>(&remove)},
    {"mkfifo", reinterpret_cast<void*>(lm_rz_mkfifo), reinterpret_cast<void*>(&mkfifo)},
    {"mknod", reinterpret_cast<void*>(lm_rz_mknod), reinterpret_cast<void*>(&mknod)},
    {"mkdirat", reinterpret_cast<void*>(lm_rz_mkdirat), reinterpret_cast<void*>(&mkdirat)},
    {"chown", reinterpret_cast<void*>(lm_rz_chown), reinterpret_cast<void*>(&chown)},
    {"lchown", reinterpret_cast<void*>(lm_rz_lchown), reinterpret_cast<void*>(&lchown)},
    {"fchownat", reinterpret_cast<void*>(lm_rz_fchownat), reinterpret_cast<void*>(&fchownat)},
    {"fchmodat", reinterpret_cast<void*>(lm_rz_fchmodat), reinterpret_cast<void*>(&fchmodat)},
    {"renameat", reinterpret_cast<void*>(lm_rz_renameat), reinterpret_cast<void*>(&renameat)},
    {"renameat2", reinterpret_cast<void*>(lm_rz_renameat2), reinterpret_cast<void*>(&renameat2)},
    {"linkat", reinterpret_cast<void*>(lm_rz_linkat), reinterpret_cast<void*>(&linkat)},
    {"symlinkat", reinterpret_cast<void*>(lm_rz_symlinkat), reinterpret_cast<void*>(&symlinkat)},
    {"utime", reinterpret_cast<void*>(lm_rz_utime), reinterpret_cast<void*>(&utime)},
    {"utimes", reinterpret_cast<void*>(lm_rz_utimes), reinterpret_cast<void*>(&utimes)},
    {"utimensat", reinterpret_cast<void*>(lm_rz_utimensat), reinterpret_cast<void*>(&utimensat)},
    {"statfs", reinterpret_cast<void*>(lm_rz_statfs), reinterpret_cast<void*>(&statfs)},
    {"statfs64", reinterpret_cast<void*>(lm_rz_statfs), reinterpret_cast<void*>(&statfs64)},
    {"statvfs", reinterpret_cast<void*>(lm_rz_statvfs), reinterpret_cast<void*>(&statvfs)},
    {"statvfs64", reinterpret_cast<void*>(lm_rz_statvfs), reinterpret_cast<void*>(&statvfs64)},
    {"statx", reinterpret_cast<void*>(lm_rz_statx), reinterpret_cast<void*>(&statx)},
    {"fscanf", reinterpret_cast<void*>(lm_rz_fscanf), reinterpret_cast<void*>(&lm_real_fscanf)},
    {"vfscanf", reinterpret_cast<void*>(lm_rz_vfscanf), reinterpret_cast<void*>(&lm_real_vfscanf)},
    {"scanf", reinterpret_cast<void*>(lm_rz_scanf), reinterpret_cast<void*>(&lm_real_scanf)},
    {"vscanf", reinterpret_cast<void*>(lm_rz_vscanf), reinterpret_cast<void*>(&lm_real_vscanf)},
    {"__isoc99_fscanf", reinterpret_cast<void*>(lm_rz_isoc99_fscanf), reinterpret_cast<void*>(&lm_real_isoc99_fscanf)},
    {"__isoc99_vfscanf", reinterpret_cast<void*>(lm_rz_isoc99_vfscanf), reinterpret_cast<void*>(&lm_real_isoc99_vfscanf)},
    {"__isoc99_scanf", reinterpret_cast<void*>(lm_rz_isoc99_scanf), reinterpret_cast<void*>(&lm_real_isoc99_scanf)},
    {"__isoc99_vscanf", reinterpret_cast<void*>(lm_rz_isoc99_vscanf), reinterpret_cast<void*>(&lm_real_isoc99_vscanf)},
};

constexpr size_t kHookCount = sizeof kHooks / sizeof kHooks[0];

// kHooks' indices in name order, for hook_for's binary search: every
// relocation of every module is looked up (python3's executable alone has
// thousands). Sorted once, at the first pass.
uint16_t g_by_name[kHookCount];

void sort_hooks() {
  for (size_t i = 0; i < kHookCount; ++i) {
    size_t j = i;
    for (; j > 0 && std::strcmp(kHooks[g_by_name[j - 1]].name, kHooks[i].name) > 0; --j) g_by_name[j] = g_by_name[j - 1];
    g_by_name[j] = uint16_t(i);
  }
}

const Hook* hook_for(const char* name) {
  size_t lo = 0, hi = kHookCount;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const Hook& h = kHooks[g_by_name[mid]];
    int c = std::strcmp(name, h.name);
    if (c == 0) return &h;
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return nullptr;
}

// Serialises patching (once, at start-up: a guard, not a need).
constinit Mutex g_patch_lock;

// A dynamic-section address: the loader has relocated most of them in
// place (x86-64's .dynamic is writable), but not all loaders do.
uptr dyn_addr(const dl_phdr_info* info, uptr v) { return v < info->dlpi_addr ? v + info->dlpi_addr : v; }

// libc and the loader call their own functions directly; the vDSO has no
// relocations.
bool is_libc_itself(const dl_phdr_info* info) {
  const char* name = info->dlpi_name ? info->dlpi_name : "";
  return std::strstr(name, "/libc.so") || std::strncmp(name, "libc.so", 7) == 0;
}
bool is_libc(const dl_phdr_info* info) {
  const char* name = info->dlpi_name ? info->dlpi_name : "";
  return is_libc_itself(info) || std::strstr(name, "ld-linux") || std::strstr(name, "linux-vdso");
}

// Whether a lies in one of the module's loaded segments, with `flags` among
// the segment's (PF_W: a writable one, RELRO included: read-only after
// relocation, but in a segment the loader maps writable).
bool in_module(const dl_phdr_info* info, uptr a, unsigned flags = 0) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & flags) == flags && a - (info->dlpi_addr + ph.p_vaddr) < ph.p_memsz)
      return true;
  }
  return false;
}

bool is_skipped(const dl_phdr_info* info) {
  // libc, the loader, the vDSO; and the module that holds this code: its
  // slots are how the checked versions reach libc.
  return is_libc(info) || in_module(info, addr(reinterpret_cast<void*>(&is_skipped)));
}

// Set when a pass left a slot for later: its RELRO page was still writable,
// so the loader may be relocating that module in another thread (it lists a
// module before relocating it, and protects its RELRO pages after).
std::atomic<bool> g_pending{false};
// Passes left to retry them: one per stack walk, so that the first walk
// after the loader is done finds the module ready; bounded, for a slot that
// never looks relocated (a weak function that nothing defines holds 0).
unsigned g_retries = 0;

// Per pass: the protection of the last RELRO page looked up (0 read-only,
// 1 writable, -1 no mapping).
struct PageState {
  uptr page = 0;
  int state = -1;
};

// Writes `to` into the slot at `slot`, which held `held`. In a RELRO page,
// only once the loader has made it read-only (done with the module): made
// writable for the moment, then read-only again.
void write_slot(void** slot, void* held, void* to, uptr relro_lo, uptr relro_hi, PageState& ps) {
  if (__atomic_load_n(slot, __ATOMIC_RELAXED) == to) return;
  uptr a = addr(slot);
  if (a >= relro_lo && a < relro_hi) {
    uptr page = a & ~(uptr{os::page_size()} - 1);
    if (ps.page != page) {
      bool writable = false;
      ps.page = page;
      ps.state = stack::mapping_writable(page, &writable) ? (writable ? 1 : 0) : -1;
    }
    if (ps.state == 1) {
      g_pending.store(true, std::memory_order_relaxed);
      return;
    }
    if (ps.state < 0 || mprotect(ptr(page), os::page_size(), PROT_READ | PROT_WRITE) != 0) return;
    __atomic_store_n(slot, to, __ATOMIC_RELAXED);
    mprotect(ptr(page), os::page_size(), PROT_READ);
    return;
  }
  // A writable slot: only if it still holds what was read (the program may
  // store into its own table, the loader into a lazy slot, meanwhile).
  __atomic_compare_exchange_n(slot, &held, to, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

// Per hook: its function's address is a program module's PLT entry (see
// patch_relocs). Set by a first pass over the modules.
bool g_canonical[kHookCount];

// The module's link-time extent: the end of its last segment.
uptr module_span(const dl_phdr_info* info) {
  uptr end = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && ph.p_vaddr + ph.p_memsz > end) end = ph.p_vaddr + ph.p_memsz;
  }
  return end;
}

// Per hook: the name of the version libc defines as its default (the one
// libmalloc's own calls bind to, h->real), or null when not known. A module
// whose lazy slot asks for another (posix_spawn@GLIBC_2.2.5, which runs a
// script without "#!" through /bin/sh; memcpy@GLIBC_2.2.5, which is memmove)
// keeps it: the checked version would call the default one. (A bound slot is
// patched only while it holds h->real.) Read from libc's dynamic symbols at
// the first pass (their count from its DT_HASH; unknown without one).
const char* g_default_version[kHookCount];

// The version name of index ndx in a module's definitions (DT_VERDEF), or
// null.
const char* defined_version(uptr verdef, const char* strtab, unsigned ndx) {
  for (uptr d = verdef;;) {
    auto* def = reinterpret_cast<const ElfW(Verdef)*>(d);
    if (def->vd_ndx == ndx) return strtab + reinterpret_cast<const ElfW(Verdaux)*>(d + def->vd_aux)->vda_name;
    if (!def->vd_next) return nullptr;
    d += def->vd_next;
  }
}

// The version name a module's symbol sym asks for (DT_VERSYM, DT_VERNEED),
// or null when it asks for none.
const char* needed_version(uptr versym, uptr verneed, const char* strtab, size_t sym) {
  if (!versym || !verneed) return nullptr;
  unsigned ndx = reinterpret_cast<const ElfW(Half)*>(versym)[sym] & 0x7fff;
  if (ndx < 2) return nullptr;  // (local, global: none)
  for (uptr n = verneed;;) {
    auto* need = reinterpret_cast<const ElfW(Verneed)*>(n);
    uptr a = n + need->vn_aux;
    for (unsigned i = 0; i < need->vn_cnt; ++i) {
      auto* aux = reinterpret_cast<const ElfW(Vernaux)*>(a);
      if (aux->vna_other == ndx) return strtab + aux->vna_name;
      a += aux->vna_next;
    }
    if (!need->vn_next) return nullptr;
    n += need->vn_next;
  }
}

int find_default_versions(dl_phdr_info* info, size_t, void*) {
  if (!is_libc_itself(info)) return 0;
  uptr hash = 0, symtab = 0, strtab = 0, versym = 0, verdef = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_DYNAMIC) continue;
    for (auto* d = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + ph.p_vaddr); d->d_tag != DT_NULL; ++d) {
      switch (d->d_tag) {
        case DT_HASH: hash = dyn_addr(info, d->d_un.d_ptr); break;
        case DT_SYMTAB: symtab = dyn_addr(info, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = dyn_addr(info, d->d_un.d_ptr); break;
        case DT_VERSYM: versym = dyn_addr(info, d->d_un.d_ptr); break;
        case DT_VERDEF: verdef = dyn_addr(info, d->d_un.d_ptr); break;
        default: break;
      }
    }
  }
  if (!hash || !symtab || !strtab || !versym || !verdef) return 1;
  auto* syms = reinterpret_cast<const ElfW(Sym)*>(symtab);
  auto* strs = reinterpret_cast<const char*>(strtab);
  auto* vers = reinterpret_cast<const ElfW(Half)*>(versym);
  uint32_t count = reinterpret_cast<const uint32_t*>(hash)[1];  // (nchain: the symbol count)
  for (uint32_t i = 1; i < count; ++i) {
    if (syms[i].st_shndx == SHN_UNDEF || (vers[i] & 0x8000)) continue;  // (0x8000: hidden, not the default)
    if (const Hook* h = hook_for(strs + syms[i].st_name))
      g_default_version[h - kHooks] = defined_version(verdef, strs, vers[i] & 0x7fff);
  }
  return 1;
}

void patch_relocs(const dl_phdr_info* info, const ElfW(Rela) * r, size_t bytes, const ElfW(Sym) * symtab,
                  const char* strtab, uptr versym, uptr verneed, uptr relro_lo, uptr relro_hi, PageState& ps) {
  for (size_t i = 0; i < bytes / sizeof(ElfW(Rela)); ++i) {
    unsigned type = ELF64_R_TYPE(r[i].r_info);
    // The PLT's slots, the GOT's (-fno-plt calls, code taking &memcpy),
    // and data initialised with the function's address (a static table of
    // comparison functions {strcmp, strcasecmp}): all of them, so that the
    // program's pointers to the function still compare equal.
    bool data = type == R_X86_64_64;
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT && !(data && r[i].r_addend == 0)) continue;
    size_t sym = ELF64_R_SYM(r[i].r_info);
    if (sym == 0) continue;
    const Hook* h = hook_for(strtab + symtab[sym].st_name);
    if (!h || !h->real) continue;  // (a weak libc function absent here: see getaddrinfo)
    // Only a slot the module imports (an undefined symbol): a module that
    // defines its own memcpy keeps it.
    if (symtab[sym].st_shndx != SHN_UNDEF) continue;
    auto** slot = reinterpret_cast<void**>(info->dlpi_addr + r[i].r_offset);
    // Data in a read-only segment (a library with text relocations keeps
    // &strcmp in .rodata: the loader made it writable only while it
    // relocated) is left as it is.
    if (data && !in_module(info, addr(slot), PF_W)) continue;
    void* real = h->real;
    // libmalloc's own binding lies in a module of the program's: a non-PIE
    // executable that takes the function's address makes its PLT entry the
    // function's address for every module (the checked version would call
    // itself through that entry, and pointers to the function would no
    // longer compare equal). That function stays unchecked everywhere.
    if (g_canonical[h - kHooks]) continue;
    void* held = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (held == h->to) continue;
    // Not relocated yet (0, or a link-time address: an offset into the
    // module, below its span): the loader is still working on this module,
    // in this thread or another; a later pass takes it.
    // (Data may hold anything by now, 0 included: it is taken only while
    // it holds the function, and never waited for.)
    if (!data && (!held || (info->dlpi_addr && addr(held) < module_span(info)))) {
      g_pending.store(true, std::memory_order_relaxed);
      continue;
    }
    bool lazy = type == R_X86_64_JUMP_SLOT && in_module(info, addr(held));
    if (held != real && !lazy) continue;
    if (lazy) {
      const char* want = needed_version(versym, verneed, strtab, sym);
      const char* have = g_default_version[h - kHooks];
      if (want && have && std::strcmp(want, have) != 0) continue;
    }
    write_slot(slot, held, h->to, relro_lo, relro_hi, ps);
  }
}

int find_canonical(dl_phdr_info* info, size_t, void*) {
  if (is_libc(info)) return 0;
  for (size_t i = 0; i < kHookCount; ++i)
    if (in_module(info, addr(kHooks[i].real))) g_canonical[i] = true;
  return 0;
}

// The module cache's count of added modules at the last pass.
std::atomic<unsigned long long> g_seen_adds{0};

// At a stack walk: a pass runs again when modules were loaded since the
// last one, or when it left slots for later.
void intercept_retry() {
  if (LM_LIKELY(!g_pending.load(std::memory_order_relaxed)) &&
      stack::modules_added() == g_seen_adds.load(std::memory_order_relaxed))
    return;
  intercept_libc();
}

// Modules a pass finished (no slot left for later), by load address, so
// that the passes that follow each dlopen look at the new modules only
// (python3 importing 20 extension modules: 0.42 s against 0.32 without the
// checks, when every pass read every module). Forgotten when a module is
// unloaded (another may take its address).
constexpr unsigned kDoneMax = 512;
uptr g_done[kDoneMax];
unsigned g_done_n = 0;
unsigned long long g_done_subs = 0;

bool module_done(const dl_phdr_info* info) {
  if (info->dlpi_subs != g_done_subs) {
    g_done_n = 0;
    g_done_subs = info->dlpi_subs;
  }
  for (unsigned i = 0; i < g_done_n; ++i)
    if (g_done[i] == info->dlpi_addr) return true;
  return false;
}

int patch_module(dl_phdr_info* info, size_t, void*) {
  if (is_skipped(info) || module_done(info)) return 0;
  const ElfW(Dyn)* dyn = nullptr;
  uptr relro_lo = 0, relro_hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_DYNAMIC) dyn = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + ph.p_vaddr);
    if (ph.p_type == PT_GNU_RELRO) {
      // The pages the loader made read-only: those wholly inside the
      // segment (a partial last page stays writable, and must).
      uptr page = os::page_size();
      relro_lo = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
      relro_hi = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz) & ~(page - 1);
    }
  }
  if (!dyn) return 0;
  uptr jmprel = 0, rela = 0, symtab = 0, strtab = 0, versym = 0, verneed = 0;
  size_t jmprel_bytes = 0, rela_bytes = 0;
  bool is_rela = true;
  for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_JMPREL: jmprel = dyn_addr(info, d->d_un.d_ptr); break;
      case DT_PLTRELSZ: jmprel_bytes = d->d_un.d_val; break;
      case DT_PLTREL: is_rela = d->d_un.d_val == DT_RELA; break;
      case DT_RELA: rela = dyn_addr(info, d->d_un.d_ptr); break;
      case DT_RELASZ: rela_bytes = d->d_un.d_val; break;
      case DT_SYMTAB: symtab = dyn_addr(info, d->d_un.d_ptr); break;
      case DT_STRTAB: strtab = dyn_addr(info, d->d_un.d_ptr); break;
      case DT_VERSYM: versym = dyn_addr(info, d->d_un.d_ptr); break;
      case DT_VERNEED: verneed = dyn_addr(info, d->d_un.d_ptr); break;
      default: break;
    }
  }
  if (!symtab || !strtab || !is_rela) return 0;
  auto* syms = reinterpret_cast<const ElfW(Sym)*>(symtab);
  auto* strs = reinterpret_cast<const char*>(strtab);
  PageState ps;
  // g_pending, cleared for this module: whether it leaves slots for later.
  bool pending_before = g_pending.exchange(false, std::memory_order_relaxed);
  if (jmprel)
    patch_relocs(info, reinterpret_cast<const ElfW(Rela)*>(jmprel), jmprel_bytes, syms, strs, versym, verneed, relro_lo,
                 relro_hi, ps);
  if (rela)
    patch_relocs(info, reinterpret_cast<const ElfW(Rela)*>(rela), rela_bytes, syms, strs, versym, verneed, relro_lo,
                 relro_hi, ps);
  if (!g_pending.load(std::memory_order_relaxed) && g_done_n < kDoneMax) g_done[g_done_n++] = info->dlpi_addr;
  if (pending_before) g_pending.store(true, std::memory_order_relaxed);
  return 0;
}

}  // namespace

void intercept_libc() {
  LockGuard guard(g_patch_lock);
  g_seen_adds.store(stack::modules_added(), std::memory_order_relaxed);
  bool retry = g_pending.exchange(false, std::memory_order_relaxed);
  // At the first pass: the name index, and the one look for canonical PLT
  // entries (only an executable makes them).
  static bool canonical_known = false;
  if (!canonical_known) {
    sort_hooks();
    dl_iterate_phdr(find_canonical, nullptr);
    dl_iterate_phdr(find_default_versions, nullptr);
  }
  canonical_known = true;
  dl_iterate_phdr(patch_module, nullptr);
  if (g_pending.load(std::memory_order_relaxed)) {
    if (!retry) g_retries = 64;  // a new pass that left slots: a fresh budget
    else if (g_retries == 0 || --g_retries == 0) g_pending.store(false, std::memory_order_relaxed);
  }
  // Libraries loaded later: patched after the first stack walk that sees
  // them (stack.cpp's module cache), as far as the loader is done with them.
  __atomic_store_n(&stack::g_on_walk, &intercept_retry, __ATOMIC_RELEASE);
}

}  // namespace lm::redzone
