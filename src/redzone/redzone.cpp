// redzone.cpp: redzoned blocks, the quarantine, the checks on free, realloc,
// quarantine exit, heap check and exit, the leak scan, and the answers to
// compiler-instrumented accesses. Stack capture lives in stack.cpp, shadow
// in shadow.cpp, report text in report.cpp.
//
// Call tree:
//   alloc   -> capture, depot -> backend.alloc -> poison, fill -> link (lock)
//   free    -> capture -> lookup (shadow + header) -> [lock] checks, unlink,
//              poison, fill, enqueue, evict [unlock] -> reports -> release
//   realloc -> lookup -> alloc -> copy -> free
#include <algorithm>
#include <cstring>
#include <pthread.h>

#include <cstddef>

#include "base/lock.h"
#include "config/config.h"
#include "redzone/internal.h"
#include "report/report.h"

namespace lm::redzone {

namespace {

// Block layout (all offsets 16-aligned; `left` and `span` in the header):
//
//   base                          header           user          user+n       base+span
//   +------------------------------+--------+-------+--------------+------------+
//   | left redzone fill (0xfa)     | Header | near  | the block    | right rz   |
//   | (grows with the size, and    | 80 B   | rz    | (n bytes)    | fill 0xfb  |
//   |  to honour the alignment)    |        | 0xfa  |              | >= rz      |
//   +------------------------------+--------+-------+--------------+------------+
//   shadow: fa ...                                   00 00 .. 0k    fb fb ...
//
// The header sits `near` bytes (redzone_size rounded up to 16) below the
// block, so an underflow of up to redzone_size bytes damages only fill, and
// a deeper one breaks the header's seal (also reported as an overflow).
struct Header {
  uint64_t magic;        // user ^ g_secret while the block is ours
  uint64_t size;         // requested bytes
  uint64_t span;         // base .. end of the right redzone (8-aligned)
  uint32_t left;         // user - base
  uint32_t alloc_stack;  // depot ids
  uint32_t free_stack;
  uint16_t alloc_tid;
  uint16_t free_tid;
  uint8_t family;
  uint8_t state;
  uint8_t mapped;        // the backing block is its own mapping
  uint8_t pad[5];
  Header* prev;          // live list; the quarantine uses next only
  Header* next;
  uint64_t usable;       // the backing block's usable bytes
  uint64_t seal;         // hash of everything above
};
constexpr size_t kHeaderSize = sizeof(Header);
static_assert(kHeaderSize == 80 && kHeaderSize % 16 == 0, "the header keeps the block 16-aligned");

constexpr uint8_t kLive = 1;
constexpr uint8_t kQuarantined = 2;

// Freed blocks are filled up to this many bytes (and checked when they leave
// quarantine): enough for the common use after free, without paying to
// touch every page of a freed multi-megabyte block.
constexpr size_t kMaxFreedFill = 64 * 1024;
// Blocks evicted from the quarantine per free, checked outside the lock.
constexpr unsigned kEvictBatch = 32;

Backend g_backend{};
uint64_t g_secret = 0;
size_t g_near = 16;    // fill between header and block
size_t g_min_rz = 16;  // redzone_size, rounded up to 16
size_t g_quarantine_limit = 0;
bool g_halt = true;
bool g_detect_leaks = false;

// The live list, the quarantine and every header's links: under g_lock.
// Never held while calling the backend, capturing a stack or reporting.
constinit Mutex g_lock;
Header* g_live_head = nullptr;
Header* g_live_tail = nullptr;
size_t g_live_count = 0;
Header* g_q_head = nullptr;
Header* g_q_tail = nullptr;
size_t g_q_bytes = 0;

// The seal covers every field but the list links: other threads rewrite a
// header's links (under g_lock) when they link or unlink a neighbour, and a
// seal over them made unlocked readers see torn headers. The links are safe
// unsealed: they lie below the seal and `usable`, so an underflow from the
// block reaches the seal first, and an overflow from below reaches `magic`.
constexpr size_t kLinkWords[2] = {offsetof(Header, prev) / 8, offsetof(Header, next) / 8};

uint64_t seal_of(const Header* h) {
  const uint64_t* w = reinterpret_cast<const uint64_t*>(h);
  uint64_t x = g_secret;
  for (size_t i = 0; i < kHeaderSize / 8 - 1; ++i) {
    if (i == kLinkWords[0] || i == kLinkWords[1]) continue;
    x ^= w[i];
    x *= 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
  }
  return x;
}
void seal(Header* h) { h->seal = seal_of(h); }
bool sealed(const Header* h) { return h->seal == seal_of(h); }

Header* header_of(uptr user) { return ptr<Header>(user - g_near - kHeaderSize); }
uptr user_of(const Header* h) { return addr(h) + kHeaderSize + g_near; }

// ASan's redzone for a request of n bytes (ComputeRZLog): 16 bytes for the
// smallest, doubling with the size up to 2048 for 64 KiB and above.
size_t redzone_for(size_t n) {
  unsigned log = n <= 64 - 16            ? 0
                 : n <= 128 - 32         ? 1
                 : n <= 512 - 64         ? 2
                 : n <= 4096 - 128       ? 3
                 : n <= (1 << 14) - 256  ? 4
                 : n <= (1 << 15) - 512  ? 5
                 : n <= (1 << 16) - 1024 ? 6
                                         : 7;
  size_t rz = size_t{16} << log;
  return rz < g_min_rz ? g_min_rz : rz;
}

// First byte in [lo, hi) that is not `fill`, else 0.
uptr first_mismatch(uptr lo, uptr hi, uint8_t fill) {
  uint64_t word = 0x0101010101010101ull * fill;
  uptr a = lo;
  for (; a < hi && (a & 7); ++a)
    if (*ptr<uint8_t>(a) != fill) return a;
  for (; a + 8 <= hi; a += 8)
    if (*ptr<uint64_t>(a) != word) break;
  for (; a < hi; ++a)
    if (*ptr<uint8_t>(a) != fill) return a;
  return 0;
}
// Last byte in [lo, hi) that is not `fill`, else 0.
uptr last_mismatch(uptr lo, uptr hi, uint8_t fill) {
  uint64_t word = 0x0101010101010101ull * fill;
  uptr a = hi;
  for (; a > lo && (a & 7); --a)
    if (*ptr<uint8_t>(a - 1) != fill) return a - 1;
  for (; a >= lo + 8; a -= 8)
    if (*ptr<uint64_t>(a - 8) != word) break;
  for (; a > lo; --a)
    if (*ptr<uint8_t>(a - 1) != fill) return a - 1;
  return 0;
}

// The damaged redzone byte nearest to the block (right side first), or 0.
uptr damaged_redzone(const Header* h) {
  uptr user = user_of(h), base = user - h->left;
  if (uptr a = first_mismatch(user + h->size, base + h->span, kRightFill)) return a;
  if (uptr a = last_mismatch(user - g_near, user, kLeftFill)) return a;
  return last_mismatch(base, addr(h), kLeftFill);
}

void refill_redzones(const Header* h) {
  uptr user = user_of(h), base = user - h->left;
  std::memset(ptr(user + h->size), kRightFill, base + h->span - user - h->size);
  std::memset(ptr(user - g_near), kLeftFill, g_near);
  std::memset(ptr(base), kLeftFill, addr(h) - base);
}

size_t freed_fill_size(const Header* h) { return h->size < kMaxFreedFill ? h->size : kMaxFreedFill; }

BlockInfo info_of(const Header* h) {
  BlockInfo b{};
  b.user = user_of(h);
  b.size = h->size;
  b.alloc_stack = h->alloc_stack;
  b.free_stack = h->free_stack;
  b.alloc_tid = h->alloc_tid;
  b.free_tid = h->free_tid;
  b.family = static_cast<Family>(h->family);
  b.freed = h->state == kQuarantined;
  return b;
}

enum class Lookup { kLive, kQuarantined, kNotBlock, kDamaged };

// Is p the start of one of our blocks? Reads the shadow first (a block
// start is the first granule after a left redzone), so that foreign
// pointers are never dereferenced; then the header's magic and seal. Takes
// no lock (the seal leaves out the links other threads rewrite): the caller
// re-checks the state under g_lock before acting.
Lookup lookup(uptr p, Header** out, uptr* damaged = nullptr) {
  if (p & 15) return Lookup::kNotBlock;
  const uint8_t* s = shadow::byte_for(p);
  const uint8_t* below = shadow::byte_for(p - 8);
  if (!s || !below || *below != kLeftRedzone || *s == kLeftRedzone) return Lookup::kNotBlock;
  Header* h = header_of(p);
  if (h->magic == (p ^ g_secret) && sealed(h) && (h->state == kLive || h->state == kQuarantined)) {
    *out = h;
    return h->state == kLive ? Lookup::kLive : Lookup::kQuarantined;
  }
  // Not a valid header. If the fill just below p is damaged too, an
  // underflow ran over this block's header.
  if (uptr a = last_mismatch(p - g_near, p, kLeftFill)) {
    if (damaged) *damaged = a;
    return Lookup::kDamaged;
  }
  if (h->magic == (p ^ g_secret)) {
    if (damaged) *damaged = addr(h) + kHeaderSize - 1;
    return Lookup::kDamaged;
  }
  return Lookup::kNotBlock;
}

// ---- the live list (g_lock held) ----

void live_link(Header* h) {
  h->prev = nullptr;
  h->next = g_live_head;
  if (g_live_head) {
    g_live_head->prev = h;
    seal(g_live_head);
  } else {
    g_live_tail = h;
  }
  g_live_head = h;
  ++g_live_count;
  seal(h);
}

void live_unlink(Header* h) {
  if (h->prev) {
    h->prev->next = h->next;
    seal(h->prev);
  } else {
    g_live_head = h->next;
  }
  if (h->next) {
    h->next->prev = h->prev;
    seal(h->next);
  } else {
    g_live_tail = h->prev;
  }
  --g_live_count;
}

// Calls fn(h) for every live block whose header is intact, from the head
// until a damaged header, then from the tail back to it; fn(nullptr, a)
// for a damaged header at a. Stops early when fn returns false.
template <class Fn>
void for_each_live(Fn&& fn) {
  Header* stop = nullptr;
  for (Header* h = g_live_head; h; h = h->next) {
    if (!sealed(h)) {
      stop = h;
      if (!fn(nullptr, addr(h))) return;
      break;
    }
    if (!fn(h, 0)) return;
  }
  if (!stop) return;
  for (Header* h = g_live_tail; h && h != stop; h = h->prev) {
    if (!sealed(h)) return;
    if (!fn(h, 0)) return;
  }
}

// ---- release to the backend ----

void release(Header* h) {
  uptr user = user_of(h), base = user - h->left;
  size_t usable = h->usable;
  bool mapped = h->mapped;
  h->magic = 0;
  h->state = 0;
  // Before the backend frees it: afterwards the memory may already belong
  // to another thread's new block (heap) or to anyone's mmap (large).
  if (mapped) shadow::clear(base, align_up(base + usable, 8));
  else shadow::set(base, align_down(base + usable, 8), kLeftRedzone);
  g_backend.free(ptr(base));
}

Finding make_finding(Kind kind, uptr a, const char* func, const stack::Trace* cur) {
  Finding f{};
  f.kind = kind;
  f.addr = a;
  f.func = func;
  f.current = cur;
  f.tid = stack::thread_number();
  return f;
}

// Checks blocks that left the quarantine (their fill, their redzones), then
// gives them back.
void finish_evicted(Header* const* evicted, unsigned n, const stack::Trace* cur) {
  for (unsigned i = 0; i < n; ++i) {
    Header* h = evicted[i];
    uptr user = user_of(h);
    if (uptr a = first_mismatch(user, user + freed_fill_size(h), kFreedFill)) {
      Finding f = make_finding(Kind::kUseAfterFree, a, nullptr, cur);
      f.when = "when the block left quarantine";
      f.has_block = true;
      f.block = info_of(h);
      emit(f);
    }
    if (uptr a = damaged_redzone(h)) {
      Finding f = make_finding(Kind::kOverflow, a, nullptr, cur);
      f.when = "when the block left quarantine";
      f.has_block = true;
      f.block = info_of(h);
      emit(f);
    }
    release(h);
  }
}

// The block an instrumented access hit: for a right-redzone or in-block
// byte, the block whose start lies below it; for a left-redzone byte, the
// block just above it; for freed memory, the freed block it lies in.
bool describe(uptr bad, BlockInfo* out) {
  const uint8_t* s = shadow::byte_for(bad);
  if (!s) return false;
  constexpr size_t kMaxScan = (size_t{64} << 20) / 8;  // give up beyond 64 MiB
  uptr g = align_down(bad, 8);
  Header* h = nullptr;
  if (*s == kLeftRedzone) {
    for (size_t i = 0; i < kMaxScan; ++i) {
      g += 8;
      const uint8_t* t = shadow::byte_for(g);
      if (!t) return false;
      if (*t != kLeftRedzone) break;
    }
    Lookup k = lookup(g, &h);
    if (k != Lookup::kLive && k != Lookup::kQuarantined) return false;
    *out = info_of(h);
    return true;
  }
  // Walk down to the first granule after a left redzone.
  for (size_t i = 0; i < kMaxScan; ++i) {
    const uint8_t* t = shadow::byte_for(g - 8);
    if (!t) return false;
    if (*t == kLeftRedzone) break;
    g -= 8;
  }
  Lookup k = lookup(g, &h);
  if (k != Lookup::kLive && k != Lookup::kQuarantined) return false;
  *out = info_of(h);
  return true;
}

void report_not_a_block(Lookup k, uptr p, uptr damaged, const char* func, const stack::Trace* cur) {
  if (k == Lookup::kDamaged) {
    Finding f = make_finding(Kind::kOverflow, damaged, func, cur);
    f.has_block = true;
    f.block.user = p;
    f.block.size = ~size_t{0};  // unknown: the header is gone
    emit(f);
    return;
  }
  Finding f = make_finding(Kind::kBadFree, p, func, cur);
  f.has_block = describe(p, &f.block);
  emit(f);
}

// The checks and the enqueue of free and realloc. `cur` is the caller's
// stack, already captured. Problems are reported before the block changes
// (so the shadow map shows it as the program left it); a live block is
// owned by the caller, so its header and redzones are read without the lock.
void free_checked(void* p, Family family, const char* func, const stack::Trace& cur) {
  uptr up = addr(p);
  Header* h = nullptr;
  uptr damaged = 0;
  Lookup k = lookup(up, &h, &damaged);
  if (k == Lookup::kNotBlock || k == Lookup::kDamaged) {
    report_not_a_block(k, up, damaged, func, &cur);
    return;
  }
  auto report_double_free = [&](const BlockInfo& info) {
    Finding f = make_finding(Kind::kDoubleFree, up, func, &cur);
    f.has_block = true;
    f.block = info;
    emit(f);
  };
  if (k == Lookup::kQuarantined) {
    report_double_free(info_of(h));
    return;
  }
  BlockInfo info = info_of(h);
  if (static_cast<Family>(h->family) != family) {
    Finding f = make_finding(Kind::kMismatch, up, func, &cur);
    f.has_block = true;
    f.block = info;
    f.dealloc_family = family;
    f.dealloc_name = func;
    emit(f);
  }
  uptr overflow = damaged_redzone(h);
  if (overflow) {
    Finding f = make_finding(Kind::kOverflow, overflow, func, &cur);
    f.has_block = true;
    f.block = info;
    emit(f);
  }
  uint32_t free_id = stack::save(cur);
  Header* evicted[kEvictBatch];
  unsigned nevicted = 0;
  bool raced = false;
  {
    LockGuard guard(g_lock);
    if (h->magic != (up ^ g_secret) || !sealed(h) || h->state != kLive) {
      raced = true;  // another thread freed it since the lookup
      info = info_of(h);
    } else {
      live_unlink(h);
      h->state = kQuarantined;
      h->free_stack = free_id;
      h->free_tid = stack::thread_number();
      // Poison and fill under the lock: once queued, another thread's free
      // may evict and release the block.
      shadow::set(up, align_up(up + h->size, 8), kFreed);
      std::memset(p, kFreedFill, freed_fill_size(h));
      if (overflow) refill_redzones(h);  // reported above, once
      h->next = nullptr;
      h->prev = nullptr;
      seal(h);
      if (g_q_tail) {
        g_q_tail->next = h;
        seal(g_q_tail);
      } else {
        g_q_head = h;
      }
      g_q_tail = h;
      g_q_bytes += h->span;
      while (g_q_bytes > g_quarantine_limit && g_q_head && nevicted < kEvictBatch) {
        Header* e = g_q_head;
        g_q_head = e->next;
        if (!g_q_head) g_q_tail = nullptr;
        g_q_bytes -= e->span;
        evicted[nevicted++] = e;
      }
    }
  }
  if (raced) {
    report_double_free(info);
    return;
  }
  finish_evicted(evicted, nevicted, &cur);
}

// `room` (>= n) is how far the block may later grow in place by realloc:
// the bytes between n and room are right redzone until then.
void* alloc_traced(size_t n, size_t align, Family family, bool zero, uint32_t stack_id, size_t room = 0) {
  if (n > kMaxRequest) return nullptr;
  size_t a = align < 16 ? 16 : align;
  if (a > kMaxRequest) return nullptr;
  if (room < n || room > kMaxRequest) room = n;
  size_t rz = redzone_for(n);
  size_t left = align_up(rz > g_near + kHeaderSize ? rz : g_near + kHeaderSize, a);
  size_t total = left + align_up(room, 16) + rz;
  if (total < n || total > kMaxRequest) return nullptr;
  size_t usable = 0;
  bool mapped = false;
  void* b = g_backend.alloc(a, total, &usable, &mapped);
  if (!b) return nullptr;
  uptr base = addr(b), user = base + left, end = align_down(base + usable, 8);
  if (!shadow::ensure(base, base + usable)) {
    g_backend.free(b);
    return nullptr;
  }
  shadow::set(base, user, kLeftRedzone);
  shadow::set(user, user + align_down(n, 8), kAddressable);
  uptr tail = user + align_down(n, 8);
  if (n & 7) {
    *const_cast<uint8_t*>(shadow::byte_for(tail)) = static_cast<uint8_t>(n & 7);
    tail += 8;
  }
  shadow::set(tail, end, kRightRedzone);
  Header* h = header_of(user);
  std::memset(b, kLeftFill, addr(h) - base);
  std::memset(ptr(user - g_near), kLeftFill, g_near);
  // The right redzone runs to the end of the backing block (its slack too).
  size_t span = end - base;
  std::memset(ptr(user + n), kRightFill, span - left - n);
  h->magic = user ^ g_secret;
  h->size = n;
  h->span = span;
  h->left = static_cast<uint32_t>(left);
  h->alloc_stack = stack_id;
  h->free_stack = 0;
  h->alloc_tid = stack::thread_number();
  h->free_tid = 0;
  h->family = static_cast<uint8_t>(family);
  h->state = kLive;
  h->mapped = mapped ? 1 : 0;
  std::memset(h->pad, 0, sizeof h->pad);
  h->usable = usable;
  if (zero) std::memset(ptr(user), 0, n);
  {
    LockGuard guard(g_lock);
    live_link(h);
  }
  return ptr(user);
}

// Moves a live block's end within its backing block: shadow, fills, size.
// The caller checked there is room and the redzones are intact.
void resize_in_place(Header* h, size_t n, uint32_t stack_id) {
  uptr user = user_of(h), base = user - h->left, end = base + h->span;
  size_t old = h->size;
  LockGuard guard(g_lock);  // neighbours reseal their links under it
  shadow::set(user, user + align_down(n, 8), kAddressable);
  uptr tail = user + align_down(n, 8);
  if (n & 7) {
    *const_cast<uint8_t*>(shadow::byte_for(tail)) = static_cast<uint8_t>(n & 7);
    tail += 8;
  }
  shadow::set(tail, end, kRightRedzone);
  if (n < old) std::memset(ptr(user + n), kRightFill, old - n);
  h->size = n;
  h->alloc_stack = stack_id;
  seal(h);
}

}  // namespace

void init(const Backend& backend, uint64_t secret) {
  const config::Options& o = config::options();
  g_backend = backend;
  g_secret = secret | 1;
  size_t rz = o.redzone_size < 16 ? 16 : o.redzone_size > 4096 ? 4096 : o.redzone_size;
  g_min_rz = align_up(rz, 16);
  g_near = g_min_rz;
  g_quarantine_limit = o.quarantine_mb > (size_t{1} << 30) ? ~size_t{0} : o.quarantine_mb << 20;
  g_halt = o.halt_on_error;
  g_detect_leaks = o.detect_leaks;
}

bool halt_on_error() { return g_halt; }

void* alloc(size_t n, size_t align, Family family, bool zero, uptr ret) {
  stack::Trace t;
  stack::capture(&t, ret);
  return alloc_traced(n, align, family, zero, stack::save(t));
}

void free(void* p, Family family, const char* func, uptr ret) {
  if (!p) return;
  stack::Trace cur;
  stack::capture(&cur, ret);
  free_checked(p, family, func, cur);
}

void* realloc(void* p, size_t n, uptr ret) {
  stack::Trace cur;
  stack::capture(&cur, ret);
  Header* h = nullptr;
  uptr damaged = 0;
  Lookup k = lookup(addr(p), &h, &damaged);
  if (k != Lookup::kLive) {
    if (k == Lookup::kQuarantined) free_checked(p, Family::kMalloc, "realloc()", cur);  // double-free report
    else report_not_a_block(k, addr(p), damaged, "realloc()", &cur);
    return nullptr;
  }
  size_t old = h->size;
  // In place when the backing block has room for n and its redzone, the
  // block is a malloc one and its redzones are intact (otherwise the moving
  // path below reports what is wrong). Programs that grow a buffer by small
  // steps would else copy it at every step.
  if (n <= kMaxRequest && static_cast<Family>(h->family) == Family::kMalloc && !damaged_redzone(h) &&
      h->left + align_up(n, 16) + redzone_for(n) <= h->span) {
    resize_in_place(h, n, stack::save(cur));
    return p;
  }
  // Moving up: leave half as much again of room, so that growth by small
  // steps moves a logarithmic number of times.
  size_t room = n > old && n <= kMaxRequest / 2 ? n + n / 2 : n;
  void* q = alloc_traced(n, 16, Family::kMalloc, false, stack::save(cur), room);
  if (!q) return nullptr;
  std::memcpy(q, p, old < n ? old : n);
  free_checked(p, Family::kMalloc, "realloc()", cur);
  return q;
}

size_t usable_size(const void* p, uptr ret) {
  Header* h = nullptr;
  uptr damaged = 0;
  Lookup k = lookup(addr(p), &h, &damaged);
  if (k == Lookup::kLive) return h->size;
  stack::Trace cur;
  stack::capture(&cur, ret);
  if (k == Lookup::kQuarantined) {
    Finding f = make_finding(Kind::kUseAfterFree, addr(p), "malloc_usable_size()", &cur);
    f.has_block = true;
    f.block = info_of(h);
    emit(f);
  } else {
    report_not_a_block(k, addr(p), damaged, "malloc_usable_size()", &cur);
  }
  return 0;
}

namespace {
// Collects up to kMax problems under the lock (repairing each so that it is
// reported once), then reports them outside it.
int check_everything(const char* when, const stack::Trace* cur) {
  constexpr unsigned kMax = 16;
  Finding found[kMax];
  unsigned n = 0;
  {
    LockGuard guard(g_lock);
    for_each_live([&](Header* h, uptr bad_header) {
      if (n == kMax) return false;
      if (!h) {
        Finding f = make_finding(Kind::kOverflow, bad_header + kHeaderSize - 1, nullptr, cur);
        f.has_block = true;
        f.block.user = bad_header + kHeaderSize + g_near;
        f.block.size = ~size_t{0};
        f.when = when;
        found[n++] = f;
        return true;
      }
      if (uptr a = damaged_redzone(h)) {
        Finding f = make_finding(Kind::kOverflow, a, nullptr, cur);
        f.has_block = true;
        f.block = info_of(h);
        f.when = when;
        found[n++] = f;
        refill_redzones(h);
      }
      return true;
    });
    for (Header* h = g_q_head; h && n < kMax && sealed(h); h = h->next) {
      uptr user = user_of(h);
      if (uptr a = first_mismatch(user, user + freed_fill_size(h), kFreedFill)) {
        Finding f = make_finding(Kind::kUseAfterFree, a, nullptr, cur);
        f.has_block = true;
        f.block = info_of(h);
        f.when = when;
        found[n++] = f;
        std::memset(ptr(user), kFreedFill, freed_fill_size(h));
      }
    }
  }
  for (unsigned i = 0; i < n; ++i) emit(found[i]);
  return static_cast<int>(n);
}

// ---- leak scan (detect_leaks=1, at exit) ----

struct LeakBlock {
  uptr lo, hi;  // the block's bytes
  const Header* h;
  uint8_t mark;  // 0 unreached, 1 reachable from roots, 2 reachable from a leak
};

LeakBlock* g_blocks = nullptr;
size_t g_nblocks = 0;
uint32_t* g_work = nullptr;
size_t g_nwork = 0;

LeakBlock* find_block(uptr v) {
  if (g_nblocks == 0 || v < g_blocks[0].lo || v >= g_blocks[g_nblocks - 1].hi) return nullptr;
  size_t lo = 0, hi = g_nblocks;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (g_blocks[mid].lo <= v) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return nullptr;
  LeakBlock* b = &g_blocks[lo - 1];
  return v < b->hi || (v == b->lo) ? b : nullptr;
}

void scan_range(uptr lo, uptr hi, uint8_t mark) {
  for (uptr a = align_up(lo, 8); a + 8 <= hi; a += 8) {
    LeakBlock* b = find_block(*ptr<uptr>(a));
    if (b && b->mark == 0) {
      b->mark = mark;
      g_work[g_nwork++] = static_cast<uint32_t>(b - g_blocks);
    }
  }
}

void drain(uint8_t mark) {
  while (g_nwork > 0) {
    const LeakBlock& b = g_blocks[g_work[--g_nwork]];
    scan_range(b.lo, b.lo + align_down(b.hi - b.lo, 8), mark);
  }
}

// The stack and registers of this thread, the writable segments of every
// module and this thread's TLS mapping are the roots.
LM_NOINLINE void scan_roots(const stack::Range* segs, unsigned nsegs) {
  uptr regs[16];
  asm volatile(
      "mov %%rbx, 0(%0)\n\tmov %%rbp, 8(%0)\n\tmov %%r12, 16(%0)\n\tmov %%r13, 24(%0)\n\t"
      "mov %%r14, 32(%0)\n\tmov %%r15, 40(%0)\n\t"
      :
      : "r"(regs)
      : "memory");
  scan_range(addr(regs), addr(regs) + 6 * sizeof(uptr), 1);
  drain(1);
  uptr lo, hi;
  uptr sp = addr(__builtin_frame_address(0));
  if (stack::thread_stack(&lo, &hi)) scan_range(sp, hi, 1);
  drain(1);
  for (unsigned i = 0; i < nsegs; ++i) {
    scan_range(segs[i].lo, segs[i].hi, 1);
    drain(1);
  }
}

void detect_leaks() {
  constexpr unsigned kMaxSegs = 512;
  stack::Range segs[kMaxSegs];
  unsigned nsegs = stack::writable_segments(segs, kMaxSegs);
  // The thread's static TLS and thread descriptor (pointers held in
  // thread_local variables and in libc's per-thread state).
  uptr tls_lo = 0, tls_hi = 0;
  if (stack::mapping_of(addr(reinterpret_cast<void*>(pthread_self())), &tls_lo, &tls_hi) &&
      tls_hi - tls_lo <= (size_t{64} << 20) && nsegs < kMaxSegs)
    segs[nsegs++] = stack::Range{tls_lo, tls_hi};
  size_t leaked_bytes = 0, leaked_blocks = 0;
  size_t blocks_bytes = 0, work_bytes = 0;
  LeakBlock* report = nullptr;
  size_t nreport = 0;
  {
    LockGuard guard(g_lock);
    size_t count = g_live_count;
    if (count == 0) return;
    blocks_bytes = align_up(count * sizeof(LeakBlock), 4096);
    work_bytes = align_up(count * sizeof(uint32_t), 4096);
    g_blocks = static_cast<LeakBlock*>(os::map(blocks_bytes));
    g_work = static_cast<uint32_t*>(os::map(work_bytes));
    if (!g_blocks || !g_work) return;
    g_nblocks = 0;
    for_each_live([&](Header* h, uptr) {
      if (h && g_nblocks < count) {
        uptr u = user_of(h);
        g_blocks[g_nblocks++] = LeakBlock{u, u + h->size, h, 0};
      }
      return true;
    });
    std::sort(g_blocks, g_blocks + g_nblocks, [](const LeakBlock& a, const LeakBlock& b) { return a.lo < b.lo; });
    g_nwork = 0;
    for (size_t i = 0; i < g_nblocks; ++i) {
      if (stack::from_loader(g_blocks[i].h->alloc_stack)) {
        g_blocks[i].mark = 1;
        g_work[g_nwork++] = static_cast<uint32_t>(i);
      }
    }
    drain(1);
    scan_roots(segs, nsegs);
    // Unreached blocks that other unreached blocks point to are indirect leaks.
    for (size_t i = 0; i < g_nblocks; ++i) {
      if (g_blocks[i].mark != 0) continue;
      const LeakBlock& b = g_blocks[i];
      scan_range(b.lo, b.lo + align_down(b.hi - b.lo, 8), 2);
      drain(2);
    }
    // Compact the leaks to the front, direct ones first, with their info.
    for (int pass = 0; pass < 2; ++pass) {
      uint8_t want = pass == 0 ? 0 : 2;
      for (size_t i = 0; i < g_nblocks; ++i) {
        if (g_blocks[i].mark != want) continue;
        leaked_bytes += g_blocks[i].hi - g_blocks[i].lo;
        ++leaked_blocks;
      }
    }
    report = g_blocks;
  }
  if (leaked_blocks == 0) {
    os::unmap(g_blocks, blocks_bytes);
    os::unmap(g_work, work_bytes);
    return;
  }
  // Reported outside the lock (symbolisation may take the loader's lock).
  // Blocks cannot be freed meanwhile in a meaningful way: this is exit.
  constexpr size_t kMaxDetailed = 64;
  bool first = true;
  for (int pass = 0; pass < 2; ++pass) {
    uint8_t want = pass == 0 ? 0 : 2;
    for (size_t i = 0; i < g_nblocks && nreport < kMaxDetailed; ++i) {
      if (report[i].mark != want) continue;
      emit_leak(info_of(report[i].h), pass == 0, first);
      first = false;
      ++nreport;
    }
  }
  emit_leak_summary(leaked_bytes, leaked_blocks);
  if (g_halt) {
    os::Writer w(report::output_fd());
    w.printf("==%d==ABORTING\n", os::getpid());
    w.flush();
    os::die();
  }
}
}  // namespace

int check_all(uptr ret) {
  stack::Trace cur;
  stack::capture(&cur, ret);
  return check_everything("by libmalloc_heap_check()", &cur);
}

void at_exit() {
  check_everything("at exit", nullptr);
  if (g_detect_leaks) detect_leaks();
}

void lock_for_fork() {
  g_lock.lock();
  stack::lock_for_fork();
  shadow::lock_for_fork();
}
void unlock_for_fork() {
  shadow::unlock_for_fork();
  stack::unlock_for_fork();
  g_lock.unlock();
}
void reset_for_fork_child() {
  shadow::reset_for_fork_child();
  stack::reset_for_fork_child();
  g_lock.reset_after_fork();
}

// ---- compiler-assisted mode ----

void check_access(uptr a, size_t size, bool write, uptr pc, uptr bp, uptr sp) {
  uptr bad = shadow::first_bad(a, size);
  if (!bad) return;
  const uint8_t* s = shadow::byte_for(bad);
  stack::Trace cur;
  stack::capture(&cur, pc);
  Finding f = make_finding(*s == kFreed ? Kind::kUseAfterFree : Kind::kOverflow, bad, nullptr, &cur);
  f.access = true;
  f.write = write;
  f.access_size = size;
  f.pc = pc;
  f.bp = bp;
  f.sp = sp;
  f.has_block = describe(bad, &f.block);
  f.addr = a;  // ASan names the access's address; the block offset uses it too
  emit(f);
}

}  // namespace lm::redzone
