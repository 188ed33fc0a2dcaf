// redzone.cpp: redzoned blocks, the quarantine, the recycling of blocks
// that leave it, the checks on free, realloc, quarantine exit, heap check and
// exit, the leak scan, and the answers to compiler-instrumented accesses.
// Stack capture lives in stack.cpp, shadow in shadow.cpp, report text in
// reports.cpp.
//
// Call tree:
//   alloc   -> capture_id (cached) -> recycled block of the class (shard
//              lock), else backend.alloc (+ populate ahead) -> header, link
//              (shard lock) -> poison, fill, seal
//   free    -> capture_id -> lookup (shadow + header) -> checks -> claim
//              (state CAS) -> poison, fill -> the thread's queue (no lock)
//              -> [queue full] flush: unlink (home shard locks), push to the
//              FIFO ring and pop the oldest (FIFO lock) -> evict: check them
//              (no lock), recycle into this thread's shard (shard lock, pool
//              lock per full chain) or release (backend)
//   realloc -> capture_id -> lookup -> in place (home shard lock), else
//              alloc -> copy -> free
//
// Threads are spread over kShards shards by thread number; a shard owns a
// lock, the list of the live blocks its threads allocated, and bins of
// recycled backing blocks. A thread's freed blocks wait in its own queue and
// enter the global FIFO 128 at a time. One thread per shard (the common case
// up to kShards threads) takes one uncontended lock per malloc and none per
// free; the FIFO's lock is taken once per batch.
#include <algorithm>
#include <cerrno>
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
//
// The seal covers the fields fixed while the block is live (magic through
// home). The rest change under other threads' feet: `state` by a free's
// compare-and-swap, the free fields once by the free that wins it, the list
// links when a neighbour is linked or unlinked. They lie between the sealed
// fields and the seal itself, so an overflow from the block below reaches
// `magic` first and an underflow from the block the seal first. A write that
// lands on them past the seal is caught too: while the block is live they
// hold known values (no free fields, a null scratch link, pad 0), checked
// at free and by heap checks, and the list links are stored encoded (see
// get_link), so a damaged one is reported instead of followed (an underflow
// of 33-48 bytes made the list code crash).
struct Header {
  uint64_t magic;        // user ^ g_secret while the block is ours
  uint64_t size;         // requested bytes
  uint64_t span;         // base .. end of the right redzone (8-aligned)
  uint32_t left;         // user - base
  uint32_t alloc_stack;  // depot id
  uint16_t alloc_tid;
  uint8_t family;
  uint8_t mapped;        // kFromBackend, kOwnMapping or kCarved
  uint8_t home;          // the shard whose block list holds it
  // ---- not sealed ----
  uint8_t state;         // kLive, ...: atomic
  uint16_t free_tid;
  uint32_t free_stack;
  uint32_t pad;          // 0; kLinksReported once a damaged link was reported
  uint64_t prev;         // the home shard's block list, encoded (set_link)
  uint64_t next;
  Header* qnext;         // scratch link while the block leaves quarantine
  uint64_t seal;         // hash of the sealed fields
};
constexpr size_t kHeaderSize = sizeof(Header);
static_assert(kHeaderSize == 80 && kHeaderSize % 16 == 0, "the header keeps the block 16-aligned");
static_assert(offsetof(Header, state) == 37 && offsetof(Header, prev) == 48 && offsetof(Header, seal) == 72,
              "the unsealed fields lie between the sealed ones and the seal");
// The sealed bytes of the fifth word: alloc_tid, family, mapped, home.
constexpr uint64_t kSealedMask4 = 0xffffffffffull;

// States. A new block is kAllocating from its linking to its sealing. A
// live block becomes kFreeing by the compare-and-swap that makes one free
// win, kQuarantined once poisoned and filled, kEvicting while the thread
// that took it out of the FIFO checks it, and 0 when it is recycled or
// released. Heap checks skip the transient states. A heap check that finds
// a live block damaged claims it (kChecking) while it records and repairs
// the damage, so that a free racing with it waits and does not report the
// same bytes again; for everything else a kChecking block is live.
constexpr uint8_t kLive = 1;
constexpr uint8_t kQuarantined = 2;
constexpr uint8_t kFreeing = 3;
constexpr uint8_t kEvicting = 4;
constexpr uint8_t kAllocating = 5;
constexpr uint8_t kChecking = 6;

// Where a block's backing memory came from (Header::mapped): a block of the
// backend (its heap), a block that is its own mapping (its address range goes
// back to the kernel on release), or carved from a chunk (see carve()),
// which never goes back.
constexpr uint8_t kFromBackend = 0;
constexpr uint8_t kOwnMapping = 1;
constexpr uint8_t kCarved = 2;

uint8_t state_of(const Header* h) { return __atomic_load_n(&h->state, __ATOMIC_ACQUIRE); }
void set_state(Header* h, uint8_t s) { __atomic_store_n(&h->state, s, __ATOMIC_RELEASE); }

// Freed blocks are filled up to this many bytes (and checked when they leave
// quarantine): enough for the common use after free, without paying to
// touch every page of a freed multi-megabyte block.
constexpr size_t kMaxFreedFill = 64 * 1024;

// ---- shards ----

// 16 shards: the threads of the common program each get one (thread
// numbers are handed out in order), and the per-shard memory (recycled
// blocks, a pending batch) stays bounded in a program of many threads.
constexpr unsigned kShards = 16;

// Recycled blocks are binned by size class, 8 per power of two from 128
// bytes to 128 KiB (the default mmap threshold): requests are rounded up to
// a class size (at most 12.5% more; the slack is right redzone, and room to
// grow in place for realloc), so that any block of a class fits any request
// of it.
constexpr size_t kMinClassSize = 128;
constexpr size_t kMaxClassSize = 128 * 1024;
constexpr unsigned kClassSteps = 8;
constexpr unsigned kClasses = 1 + 10 * kClassSteps;  // 128, then (2^7, 2^17] in 80 steps

constexpr unsigned class_of(size_t total) {
  if (total <= kMinClassSize) return 0;
  unsigned e = 63 - static_cast<unsigned>(__builtin_clzll(total - 1));  // 2^e < total <= 2^(e+1)
  return 1 + (e - 7) * kClassSteps + static_cast<unsigned>(((total - 1) >> (e - 3)) & 7);
}
constexpr size_t class_size(unsigned c) {
  if (c == 0) return kMinClassSize;
  unsigned e = 7 + (c - 1) / kClassSteps;
  return size_t{9 + (c - 1) % kClassSteps} << (e - 3);
}
static_assert(class_size(1) == 144 && class_size(8) == 256 && class_size(9) == 288, "8 steps per power of two");
static_assert(class_size(kClasses - 1) == kMaxClassSize && class_of(kMaxClassSize) == kClasses - 1,
              "the last class is the default mmap threshold");
static_assert(class_of(class_size(37)) == 37 && class_of(class_size(37) + 1) == 38, "class_of inverts class_size");

// A recycled backing block: its first words (left redzone fill while the
// block was live, at least 96 bytes) hold its links and the usable span.
struct Recycled {
  uint64_t tag;          // a spare block: spare_tag(its address); else 0
  size_t span;
  Recycled* next;        // the rest of its chain (a spare list: the next block)
  Recycled* next_chain;  // the pool: the next chain of the class (a spare list: the previous block)
  uint32_t count;        // a chain's first block: blocks in the chain
  uint32_t carved;       // carved from a chunk: never given back
  size_t bytes;          // a chain's first block: their spans
};
static_assert(sizeof(Recycled) <= 96, "fits the smallest left redzone (near redzone and header)");
// A spare block's last 16 bytes (see spare_push).
struct SpareFooter {
  size_t span;
  uint64_t tag;  // spare_tag(the block's end) ^ kFooterTag
};
static_assert(sizeof(Recycled) + sizeof(SpareFooter) <= 128, "a spare block of the smallest class holds both");

// Recycled blocks wait in the bins of the shard of the thread that took
// them out of the quarantine (the thread that frees is the one likely to
// allocate next), as a chain per class. A chain that reaches bin_limit
// blocks, or a shard holding more than kShardRecycleCap, moves in one step
// to the pool, a stack of chains per class shared by all shards, and an
// empty bin adopts a chain from there: so a thread that only allocates (a
// producer) gets the blocks that a thread that only frees (its consumer)
// recycles, a lock taken per chain, not per block. The pool keeps at most
// kPoolCap; beyond, chains go back to the backend.
constexpr size_t kShardRecycleCap = size_t{2} << 20;
constexpr size_t kPoolCap = size_t{64} << 20;
constexpr unsigned bin_limit(unsigned c) {
  size_t n = (256 * 1024) / class_size(c);
  return n < 1 ? 1 : n > 32 ? 32 : static_cast<unsigned>(n);
}

struct alignas(64) Shard {
  Mutex lock;
  // Blocks allocated by this shard's threads: live ones, and freed ones
  // still in a thread's queue (they leave when their batch enters the FIFO).
  Header* head = nullptr;
  Header* tail = nullptr;
  size_t count = 0;
  Recycled* bins[kClasses] = {};  // each a chain; its first block has count and bytes
  size_t recycled_bytes = 0;
  // The chunk that new blocks are carved from: [carve_at, carve_end).
  uptr carve_at = 0;
  uptr carve_end = 0;
  size_t chunk_bytes = 0;  // the size of the shard's last chunk
};
constinit Shard g_shards[kShards];

// The pool of recycled chains, under g_pool_lock (taken alone, or inside a
// shard's lock).
constinit Mutex g_pool_lock;
Recycled* g_pool[kClasses] = {};
size_t g_pool_bytes = 0;
// Carved blocks that the full pool could not take (they cannot go back to
// the backend), one list per class through `next`, also under g_pool_lock;
// bit c of g_spare_classes is set while list c is not empty. See spare_take.
Recycled* g_carved_spare[kClasses] = {};
uint64_t g_spare_classes[(kClasses + 63) / 64] = {};
size_t g_spare_bytes = 0;                // in the spare lists
std::atomic<size_t> g_chunk_bytes{0};    // chunks mapped so far (stats)

unsigned my_shard() { return stack::thread_number() % kShards; }

// ---- the quarantine FIFO: a ring of batches ----

// A quarantined block and its span (so that the FIFO's byte count needs no
// look at the cold header).
struct Entry {
  Header* h;
  size_t span;
};
// Freed blocks wait in their thread's queue until it holds kPendingMax of
// them or g_batch_bytes (a sixteenth of the quarantine, at most
// kMaxBatchBytes), then go to the FIFO in one locked step.
constexpr unsigned kPendingMax = 128;
constexpr size_t kMaxBatchBytes = 256 * 1024;
// The smallest span of a block (no request, no alignment: the header and
// both redzones).
constexpr size_t kMinSpan = 112;

Backend g_backend{};
uint64_t g_secret = 0;
size_t g_near = 16;    // fill between header and block
size_t g_min_rz = 16;  // redzone_size, rounded up to 16
size_t g_quarantine_limit = 0;
size_t g_batch_bytes = 0;
bool g_halt = true;
bool g_detect_leaks = false;
bool g_mismatch = true;  // alloc_dealloc_mismatch

// The FIFO: a ring of entries under g_q_lock, taken with no other lock of
// ours held.
constinit Mutex g_q_lock;
Entry* g_ring = nullptr;  // mapped at the first flush
size_t g_ring_cap = 0;      // entries in use as the ring: grows by doubling
size_t g_ring_max_cap = 0;  // entries the mapping can hold
size_t g_ring_first = 0;
size_t g_ring_count = 0;
size_t g_q_bytes = 0;
// In a forked child: how many of the FIFO's oldest entries were there at the
// fork (the parent's frees), until they leave. The child's exit does not
// re-check them: the parent checks them itself, and a shell's subshells each
// spent ~0.1 s of CPU comparing a 256 MiB quarantine's fill (a script of 600
// subshells: 34 s against 4 s in fast mode).
size_t g_ring_inherited = 0;

uint64_t seal_of(const Header* h) {
  const uint64_t* w = reinterpret_cast<const uint64_t*>(h);
  uint64_t x = g_secret;
  for (size_t i = 0; i < 5; ++i) {
    x ^= i == 4 ? w[i] & kSealedMask4 : w[i];
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

// Pages of each fill byte, compared with memcmp (libc's, vectorised): most
// checks find every byte intact, and a byte loop is what would cost.
constexpr size_t kPatternBytes = 4096;
alignas(64) uint8_t g_pattern_left[kPatternBytes];
alignas(64) uint8_t g_pattern_right[kPatternBytes];
alignas(64) uint8_t g_pattern_freed[kPatternBytes];

const uint8_t* pattern_of(uint8_t fill) {
  return fill == kLeftFill ? g_pattern_left : fill == kRightFill ? g_pattern_right : g_pattern_freed;
}

// True when [lo, hi) holds only `fill`.
bool intact(uptr lo, uptr hi, uint8_t fill) {
  const uint8_t* pattern = pattern_of(fill);
  for (uptr a = lo; a < hi; a += kPatternBytes) {
    size_t n = std::min<size_t>(hi - a, kPatternBytes);
    if (std::memcmp(ptr(a), pattern, n) != 0) return false;
  }
  return true;
}

// First byte in [lo, hi) that is not `fill`, else 0.
uptr first_mismatch(uptr lo, uptr hi, uint8_t fill) {
  if (intact(lo, hi, fill)) return 0;
  for (uptr a = lo; a < hi; ++a)
    if (*ptr<uint8_t>(a) != fill) return a;
  return 0;
}
// Last byte in [lo, hi) that is not `fill`, else 0.
uptr last_mismatch(uptr lo, uptr hi, uint8_t fill) {
  if (intact(lo, hi, fill)) return 0;
  for (uptr a = hi; a > lo; --a)
    if (*ptr<uint8_t>(a - 1) != fill) return a - 1;
  return 0;
}

// `delete[] p` of a block from a single `new T` (T with a destructor) reads
// the element count from the 8 bytes below p, runs that many destructors,
// then passes p - 8 to operator delete[]. With fill there, the count was
// 0xfafa...: destructors ran past the block until the program crashed or
// hung, with no report. So below a block from operator new (not new[],
// whose count lies inside its block) the near fill's last 8 bytes are zero:
// no destructor runs, and free_checked reports the call as
// alloc-dealloc-mismatch. The price: an underflow that writes zeros into
// those 8 bytes of such a block is not found by the fill checks (an
// instrumented access still is: the shadow says left redzone).
constexpr size_t kCookieBytes = 8;
constexpr size_t kMaxCookieBytes = size_t{1} << 20;  // an over-aligned T's cookie is its alignment
bool zero_cookie(Family family) { return family == Family::kNew; }
bool zero_cookie(const Header* h) { return zero_cookie(static_cast<Family>(h->family)); }

// The near fill [user - g_near, user): fill, ending in kCookieBytes of zeros
// when zc.
void fill_near(uptr user, bool zc) {
  std::memset(ptr(user - g_near), kLeftFill, g_near);
  if (zc) std::memset(ptr(user - kCookieBytes), 0, kCookieBytes);
}
// The damaged byte of the near fill nearest to the block, else 0.
uptr last_bad_near(uptr user, bool zc) {
  if (!zc) return last_mismatch(user - g_near, user, kLeftFill);
  for (uptr a = user; a > user - kCookieBytes; --a)
    if (*ptr<uint8_t>(a - 1) != 0) return a - 1;
  return last_mismatch(user - g_near, user - kCookieBytes, kLeftFill);
}
// The damaged byte of the near fill farthest from the block, below hi, else 0.
uptr first_bad_near(uptr user, uptr hi, bool zc) {
  uptr fill_end = zc ? user - kCookieBytes : user;
  if (uptr a = first_mismatch(user - g_near, std::min(hi, fill_end), kLeftFill)) return a;
  for (uptr a = fill_end; a < hi; ++a)
    if (*ptr<uint8_t>(a) != 0) return a;
  return 0;
}

// The damaged redzone byte nearest to the block (right side first), or 0.
uptr damaged_redzone(const Header* h) {
  uptr user = user_of(h), base = user - h->left;
  if (uptr a = first_mismatch(user + h->size, base + h->span, kRightFill)) return a;
  if (uptr a = last_bad_near(user, zero_cookie(h))) return a;
  return last_mismatch(base, addr(h), kLeftFill);
}

// For a damaged redzone byte a of h: the damaged byte of that redzone
// farthest from the block (how far the overflow went), else 0.
uptr damage_end(const Header* h, uptr a) {
  uptr user = user_of(h), base = user - h->left, end = base + h->span;
  if (a >= user + h->size && a < end) return last_mismatch(a, end, kRightFill);
  if (a >= user - g_near && a < user) {
    // Below the near fill lies the header: when the fill is damaged down
    // to its start, so may be the left redzone under the header.
    uptr far = first_bad_near(user, a + 1, zero_cookie(h));
    uptr deeper = far == user - g_near ? first_mismatch(base, addr(h), kLeftFill) : 0;
    return deeper ? deeper : far;
  }
  if (a >= base && a < addr(h)) return first_mismatch(base, a + 1, kLeftFill);
  return 0;
}

void refill_redzones(const Header* h) {
  uptr user = user_of(h), base = user - h->left;
  std::memset(ptr(user + h->size), kRightFill, base + h->span - user - h->size);
  fill_near(user, zero_cookie(h));
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
  uint8_t s = state_of(h);
  b.freed = s == kQuarantined || s == kFreeing || s == kEvicting;
  return b;
}

enum class Lookup { kLive, kQuarantined, kNotBlock, kDamaged };

// Is p the start of one of our blocks? Reads the shadow first (a block
// start is the first granule after a left redzone), so that foreign
// pointers are never dereferenced; then the header's magic and seal. Takes
// no lock: a free claims the block afterwards with a compare-and-swap.
// kQuarantined covers every freed state.
Lookup lookup(uptr p, Header** out, uptr* damaged = nullptr) {
  if (p & 15) return Lookup::kNotBlock;
  const uint8_t* s = shadow::byte_for(p);
  const uint8_t* below = shadow::byte_for(p - 8);
  if (!s || !below || *below != kLeftRedzone || *s == kLeftRedzone) return Lookup::kNotBlock;
  Header* h = header_of(p);
  if (h->magic == (p ^ g_secret) && sealed(h)) {
    uint8_t st = state_of(h);
    *out = h;
    if (st == kLive || st == kChecking) return Lookup::kLive;
    if (st == kQuarantined || st == kFreeing || st == kEvicting) return Lookup::kQuarantined;
  }
  // Not a valid header. If the fill just below p is damaged too, an
  // underflow ran over this block's header. (Its family is unknown: zeros
  // in the last 8 bytes are a block of operator new's, see zero_cookie.)
  if (uptr a = last_bad_near(p, *ptr<uint64_t>(p - kCookieBytes) == 0)) {
    if (damaged) *damaged = a;
    return Lookup::kDamaged;
  }
  // A header with its magic but not its seal or a known state, or one below
  // a granule the shadow still shows as a live block's start (addressable,
  // or the right redzone of a 0-byte block; a freed block's is freed, a
  // recycled one's left redzone): overwritten past the fill, by a deeper
  // underflow or one that skipped it. (The second was reported as a bad free
  // of a live block.) The damaged byte: the first wrong one of the magic,
  // else the state when the seal held, else unknown (the seal's last).
  uint64_t want = p ^ g_secret, have = h->magic;
  if ((have == want && state_of(h) != 0) || *s <= 7 || *s == kRightRedzone) {
    uptr a = addr(h) + kHeaderSize - 1;
    if (have != want) a = addr(h) + static_cast<unsigned>(__builtin_ctzll(have ^ want)) / 8;
    else if (sealed(h)) a = addr(h) + offsetof(Header, state);
    if (damaged) *damaged = a;
    return Lookup::kDamaged;
  }
  return Lookup::kNotBlock;
}

// ---- a shard's block list (its lock held) ----
//
// A link holds the pointer in its low 48 bits and, in the high 16, a check of
// the pointer, the link's own address and the secret (never 0, so a null
// link is not 0 either): a link that an underflow overwrote is known before
// it is followed, whatever was written.
constexpr uint64_t kLinkMask = (uint64_t{1} << 48) - 1;
constexpr uint32_t kLinksReported = 0x4c4b4e44;  // Header::pad, see flush
constexpr uint32_t kHeaderReported = 0x48445244;  // Header::pad, see first_report_of_header

// A header whose seal no longer holds is reported once, by whichever check
// meets it first (a heap check, a flush, an eviction, the check at exit),
// not again at every later one: its unsealed pad records it (the header's
// memory is still ours, and whatever its fields say is not trusted).
bool first_report_of_header(Header* h) {
  return __atomic_exchange_n(&h->pad, kHeaderReported, __ATOMIC_RELAXED) != kHeaderReported;
}

// A header whose seal holds again (the program put the bytes back) drops
// the mark, which would read as damage to its pad.
void forget_header_report(Header* h) {
  uint32_t marked = kHeaderReported;
  if (LM_UNLIKELY(__atomic_load_n(&h->pad, __ATOMIC_RELAXED) == marked))  // (no locked write per free)
    __atomic_compare_exchange_n(&h->pad, &marked, uint32_t{0}, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

uint64_t link_check(const uint64_t* slot, uptr p) {
  uint64_t x = (p ^ (addr(slot) << 16) ^ g_secret) * 0x9e3779b97f4a7c15ull;
  return ((x >> 48) | 1) << 48;
}
void set_link(uint64_t* slot, const Header* p) {
  __atomic_store_n(slot, addr(p) | link_check(slot, addr(p)), __ATOMIC_RELAXED);
}
// False when the link was overwritten. (Read without the home lock by free's
// check: a neighbour's link or unlink stores a whole encoded word.)
bool get_link(const uint64_t* slot, Header** out) {
  uint64_t v = __atomic_load_n(slot, __ATOMIC_RELAXED);
  uptr p = v & kLinkMask;
  if ((v & ~kLinkMask) != link_check(slot, p) || (p & 15)) return false;
  *out = ptr<Header>(p);
  return true;
}

// The first damaged byte of a live block's unsealed fields other than its
// state and links (free fields, pad, scratch link: all 0 while it is live),
// or 0.
uptr damaged_scratch(const Header* h) {
  if (LM_LIKELY((h->free_tid | h->free_stack | h->pad | addr(h->qnext)) == 0)) return 0;
  const uint8_t* b = reinterpret_cast<const uint8_t*>(h);
  for (size_t i = offsetof(Header, free_tid); i < offsetof(Header, prev); ++i)
    if (b[i]) return addr(h) + i;
  for (size_t i = offsetof(Header, qnext); i < offsetof(Header, seal); ++i)
    if (b[i]) return addr(h) + i;
  return 0;
}
// The first byte of a damaged list link of h, or 0.
uptr damaged_link(const Header* h) {
  Header* x;
  if (!get_link(&h->prev, &x)) return addr(&h->prev);
  if (!get_link(&h->next, &x)) return addr(&h->next);
  return 0;
}

void list_link(Shard& s, Header* h) {
  set_link(&h->prev, nullptr);
  set_link(&h->next, s.head);
  if (s.head) set_link(&s.head->prev, h);
  else s.tail = h;
  s.head = h;
  ++s.count;
}

void unlink_between(Shard& s, Header* prev, Header* next) {
  if (prev) set_link(&prev->next, next);
  else s.head = next;
  if (next) set_link(&next->prev, prev);
  else s.tail = prev;
  --s.count;
}

// Walking from `from` along each header's `link` (next or prev): the header
// whose link is h, or null when the walk meets a damaged link or runs
// longer than the list.
Header* link_holder(const Shard& s, Header* from, uint64_t Header::*link, const Header* h) {
  size_t steps = 0;
  for (Header* x = from; x && ++steps <= s.count;) {
    Header* n;
    if (!get_link(&(x->*link), &n)) return nullptr;
    if (n == h) return x;
    x = n;
  }
  return nullptr;
}

// When h's own links were overwritten, *bad_link receives the first damaged
// byte and its neighbours are found by walking the list from both ends;
// false, the list unchanged, when they cannot be (another damaged link on
// the way).
bool list_unlink(Shard& s, Header* h, uptr* bad_link) {
  Header *prev, *next;
  if (LM_LIKELY(get_link(&h->prev, &prev) && get_link(&h->next, &next))) {
    unlink_between(s, prev, next);
    return true;
  }
  *bad_link = damaged_link(h);
  prev = s.head == h ? nullptr : link_holder(s, s.head, &Header::next, h);
  next = s.tail == h ? nullptr : link_holder(s, s.tail, &Header::prev, h);
  if ((s.head != h && !prev) || (s.tail != h && !next)) return false;
  unlink_between(s, prev, next);
  return true;
}

// Calls fn(h, 0) for every block of the shard whose header is intact, from
// the head until a damaged header or link, then from the tail back to it;
// fn(nullptr, a) for a damaged header at a, fn(h, a) for a damaged link at
// a in h (after fn(h, 0)). Stops early when fn returns false.
template <class Fn>
void for_each_block(Shard& s, Fn&& fn) {
  Header* stop = nullptr;
  for (Header* h = s.head, *next; h; h = next) {
    if (state_of(h) != kAllocating) {  // (else not sealed yet)
      if (!sealed(h)) {
        stop = h;
        if (!fn(nullptr, addr(h))) return;
        break;
      }
      if (!fn(h, 0)) return;
    }
    if (!get_link(&h->next, &next)) {
      stop = h;
      if (!fn(h, addr(&h->next))) return;
      break;
    }
  }
  if (!stop) return;
  for (Header* h = s.tail, *prev; h && h != stop; h = prev) {
    if (state_of(h) != kAllocating) {
      if (!sealed(h)) {  // a second damaged header: the blocks between are out of reach
        fn(nullptr, addr(h));
        return;
      }
      if (!fn(h, 0)) return;
    }
    if (!get_link(&h->prev, &prev)) {
      fn(h, addr(&h->prev));
      return;
    }
  }
}

// ---- backing blocks: recycled, or from the backend ----

// The class whose every request a block of `span` bytes fits.
unsigned class_fitting(size_t span) {
  unsigned c = class_of(span < kMaxClassSize ? span : kMaxClassSize);
  return class_size(c) > span ? c - 1 : c;
}

// ---- spare carved blocks (g_pool_lock held) ----
//
// Carved blocks that neither a shard's bins nor the pool take wait here.
// Each class kept its own before, and a program whose sizes move on (a
// string grown by appends, CPython's phases) left every class it passed
// through holding what the quarantine had once held of it: CPython running
// tests/preload/python.sh's script peaked at 1.6 GB of RSS (85 MB in fast
// mode), with 340 MB of spare blocks at exit even with quarantine_mb=16. So
// spare blocks merge with their spare neighbours in the chunk, boundary tag
// style, and a request of any class takes the smallest spare block that
// fits and splits off the rest: 840 MB, and 2.5 s instead of 4.0 (fewer
// fresh pages; median of 5 interleaved runs).
//
// A spare block carries a tag at its start and a footer (span, tag) at its
// end, both derived from its address and the secret, so program data or a
// stale copy is not taken for one; they are cleared when it stops being
// spare. Each chunk keeps 16 bytes at both ends that are never carved (see
// install_chunk), so the probes below never leave it.
constexpr uint64_t kFooterTag = 0x5a5a5a5a5a5a5a5aull;
constexpr size_t kMaxChunk = size_t{4} << 20;  // the largest chunk (see carve())
uint64_t spare_tag(uptr a) { return (a ^ g_secret) * 0x9e3779b97f4a7c15ull; }
constexpr size_t kChunkFence = 16;

// Reads a word that another thread may be writing (a live neighbour's fill):
// only a spare block's tag, written under g_pool_lock, is acted on.
uint64_t peek(uptr a) { return __atomic_load_n(ptr<uint64_t>(a), __ATOMIC_RELAXED); }

void spare_link(Recycled* r) {
  unsigned c = class_fitting(r->span);
  r->next_chain = nullptr;
  r->next = g_carved_spare[c];
  if (r->next) r->next->next_chain = r;
  g_carved_spare[c] = r;
  g_spare_classes[c / 64] |= uint64_t{1} << (c % 64);
  g_spare_bytes += r->span;
  r->tag = spare_tag(addr(r));
  auto* f = ptr<SpareFooter>(addr(r) + r->span - sizeof(SpareFooter));
  f->span = r->span;
  f->tag = spare_tag(addr(r) + r->span) ^ kFooterTag;
}

void spare_unlink(Recycled* r) {
  unsigned c = class_fitting(r->span);
  if (r->next_chain) r->next_chain->next = r->next;
  else g_carved_spare[c] = r->next;
  if (r->next) r->next->next_chain = r->next_chain;
  if (!g_carved_spare[c]) g_spare_classes[c / 64] &= ~(uint64_t{1} << (c % 64));
  g_spare_bytes -= r->span;
  r->tag = 0;
  ptr<SpareFooter>(addr(r) + r->span - sizeof(SpareFooter))->tag = 0;
}

// Makes the carved block at r (r->span set) spare, merged with the spare
// blocks just above and below it.
void spare_push(Recycled* r) {
  // A span is believed only when it is one a chunk can hold (kMaxChunk and
  // the backend's rounding) and the tag at its other end agrees: a late
  // write after free into a spare block must not send us outside its chunk.
  auto plausible = [](size_t span) { return span % 16 == 0 && span >= kMinClassSize && span <= 2 * kMaxChunk; };
  uptr base = addr(r), end = base + r->span;
  if (peek(end) == spare_tag(end)) {
    auto* above = ptr<Recycled>(end);
    size_t span = above->span;
    if (plausible(span) && peek(end + span - 8) == (spare_tag(end + span) ^ kFooterTag) &&
        peek(end + span - 16) == span) {
      spare_unlink(above);
      end += span;
    }
  }
  if (peek(base - 8) == (spare_tag(base) ^ kFooterTag)) {
    size_t span = peek(base - 16);
    auto* below = ptr<Recycled>(base - span);
    if (plausible(span) && below->tag == spare_tag(addr(below)) && below->span == span) {
      spare_unlink(below);
      base -= span;
    }
  }
  r = ptr<Recycled>(base);
  r->span = end - base;
  r->carved = 1;
  spare_link(r);
}

// A spare block for a request of class c: the smallest that fits, its rest
// split off and spare again when it makes a block; nullptr when none fits.
Recycled* spare_take(unsigned c) {
  unsigned d = kClasses;
  for (unsigned w = c / 64; w < std::size(g_spare_classes); ++w) {
    uint64_t m = g_spare_classes[w];
    if (w == c / 64) m &= ~uint64_t{0} << (c % 64);
    if (m) {
      d = w * 64 + static_cast<unsigned>(__builtin_ctzll(m));
      break;
    }
  }
  if (d >= kClasses) return nullptr;
  Recycled* r = g_carved_spare[d];
  spare_unlink(r);
  size_t want = class_size(c);
  if (r->span - want >= kMinClassSize) {
    auto* rest = ptr<Recycled>(addr(r) + want);
    rest->span = r->span - want;
    rest->carved = 1;
    spare_link(rest);  // its neighbours are not spare: r was not, and r's were merged
    r->span = want;
  }
  return r;
}

// A recycled block of class c from shard s (its lock held), or from a chain
// the shard adopts from the pool; nullptr when neither has one.
void* recycled_take(Shard& s, unsigned c, size_t* span, bool* carved) {
  Recycled* r = s.bins[c];
  if (!r) {
    {
      LockGuard pool_guard(g_pool_lock);
      r = g_pool[c];
      if (!r) {
        r = spare_take(c);
        if (!r) return nullptr;
        *span = r->span;
        *carved = true;
        return r;
      }
      g_pool[c] = r->next_chain;
      g_pool_bytes -= r->bytes;
    }
    s.recycled_bytes += r->bytes;
  }
  Recycled* rest = r->next;
  if (rest) {
    rest->count = r->count - 1;
    rest->bytes = r->bytes - r->span;
  }
  s.bins[c] = rest;
  *span = r->span;
  *carved = r->carved != 0;
  s.recycled_bytes -= r->span;
  return r;
}


// Gives a block back to the backend (no lock of ours held).
void release(Header* h) {
  uptr user = user_of(h), base = user - h->left;
  bool mapped = h->mapped == kOwnMapping;
  size_t span = h->span;
  // Before the backend frees it: afterwards the memory may already belong
  // to another thread's new block (heap) or to anyone's mmap (large).
  if (mapped) shadow::clear(base, base + span);
  else shadow::set(base, base + span, kLeftRedzone);
  g_backend.free(ptr(base));
}

void release_recycled(Recycled* r) {
  uptr base = addr(r);
  shadow::set(base, base + r->span, kLeftRedzone);
  g_backend.free(r);
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

// The stack of the current call, loaded from the depot when a report needs it.
struct CurrentStack {
  uint32_t id;
  stack::Trace t;
  bool loaded = false;
  explicit CurrentStack(uint32_t stack_id) : id(stack_id) {}
  const stack::Trace* get() {
    if (!loaded) stack::load(id, &t);
    loaded = true;
    return &t;
  }
};

// A header damaged past its seal: the block's extent is unknown.
Finding bad_header_finding(const Header* h, const char* when, const stack::Trace* cur) {
  Finding f = make_finding(Kind::kOverflow, addr(h) + kHeaderSize - 1, nullptr, cur);
  f.when = when;
  f.has_block = true;
  f.block.user = user_of(h);
  f.block.size = ~size_t{0};
  return f;
}

// Blocks taken out of the FIFO: checks each (its fill, its redzones), then
// recycles it into this thread's shard, or gives it back to the backend
// when it is its own mapping or beyond the largest class. The blocks left quarantine long ago and are cold: each is
// prefetched a few blocks ahead. A damaged header (an overflow from the
// block below while this one was quarantined) is reported, and the block is
// left where it is.
void evict(Entry* out, unsigned n, CurrentStack& cur) {
  constexpr unsigned kAhead = 4;
  auto prefetch = [&](unsigned i) {
    uptr a = addr(out[i].h), end = a + std::min<size_t>(out[i].span, 2048);
    // Its shadow too: the next block of its class rewrites it.
    const uint8_t* sh = shadow::byte_for(a);
    if (sh)
      for (uptr x = align_down(addr(sh), 64); x < addr(sh) + (end - a) / 8; x += 64) __builtin_prefetch(ptr(x), 1, 3);
    for (; a < end; a += 64) __builtin_prefetch(ptr(a), 0, 3);
  };
  for (unsigned i = 0; i < n && i < kAhead; ++i) prefetch(i);
  for (unsigned i = 0; i < n; ++i) {
    if (i + kAhead < n) prefetch(i + kAhead);
    Header* h = out[i].h;
    if (!sealed(h)) {
      if (first_report_of_header(h)) emit(bad_header_finding(h, "when the block left quarantine", cur.get()));
      out[i].h = nullptr;
      continue;
    }
    set_state(h, kEvicting);
    uptr user = user_of(h);
    if (uptr a = first_mismatch(user, user + freed_fill_size(h), kFreedFill)) {
      Finding f = make_finding(Kind::kUseAfterFree, a, nullptr, cur.get());
      f.when = "when the block left quarantine";
      f.has_block = true;
      f.block = info_of(h);
      emit(f);
    }
    if (uptr a = damaged_redzone(h)) {
      Finding f = make_finding(Kind::kOverflow, a, nullptr, cur.get());
      f.when = "when the block left quarantine";
      f.has_block = true;
      f.block = info_of(h);
      f.damage_end = damage_end(h, a);
      emit(f);
    }
  }
  Header* to_release = nullptr;
  Recycled* to_recycle = nullptr;
  for (unsigned i = 0; i < n; ++i) {
    Header* h = out[i].h;
    if (!h) continue;
    h->magic = 0;
    set_state(h, 0);
    uptr base = user_of(h) - h->left;
    size_t span = h->span;
    bool carved = h->mapped == kCarved;
    // (A carved block is never released: it is part of a chunk. Its span
    // is at most kMaxCarved, or a class size plus the 127 bytes too few to
    // split off: see install_chunk and spare_take.)
    if (!carved && (h->mapped == kOwnMapping || (base & 15) || span < kMinClassSize ||
                    span >= kMaxClassSize + kMaxClassSize / 8)) {
      h->qnext = to_release;
      to_release = h;
      continue;
    }
    auto* r = ptr<Recycled>(base);
    r->tag = 0;
    r->span = span;
    r->carved = carved ? 1 : 0;
    r->next = to_recycle;
    to_recycle = r;
  }
  // Into this thread's bins; full chains on to the pool.
  Recycled* to_pool = nullptr;
  if (to_recycle) {
    Shard& s = g_shards[my_shard()];
    LockGuard guard(s.lock);
    for (Recycled* r = to_recycle, *next; r; r = next) {
      next = r->next;
      unsigned c = class_fitting(r->span);
      Recycled* bin = s.bins[c];
      r->next = bin;
      r->count = bin ? bin->count + 1 : 1;
      r->bytes = bin ? bin->bytes + r->span : r->span;
      s.bins[c] = r;
      s.recycled_bytes += r->span;
      if (r->count >= bin_limit(c) || s.recycled_bytes > kShardRecycleCap) {
        s.bins[c] = nullptr;
        s.recycled_bytes -= r->bytes;
        r->next_chain = to_pool;
        to_pool = r;
      }
    }
  }
  Recycled* to_backend = nullptr;
  if (to_pool) {
    LockGuard guard(g_pool_lock);
    for (Recycled* r = to_pool, *next; r; r = next) {
      next = r->next_chain;
      if (g_pool_bytes + r->bytes > kPoolCap) {  // full: back to the backend
        r->next_chain = to_backend;
        to_backend = r;
        continue;
      }
      unsigned c = class_fitting(r->span);
      r->next_chain = g_pool[c];
      g_pool[c] = r;
      g_pool_bytes += r->bytes;
    }
  }
  Recycled* spare = nullptr;
  for (Recycled* r = to_backend, *next_chain; r; r = next_chain) {
    next_chain = r->next_chain;
    for (Recycled* q = r, *next; q; q = next) {
      next = q->next;
      if (q->carved) {
        q->next = spare;
        spare = q;
      } else {
        release_recycled(q);
      }
    }
  }
  if (spare) {
    LockGuard guard(g_pool_lock);
    for (Recycled* q = spare, *next; q; q = next) {
      next = q->next;
      spare_push(q);
    }
  }
  for (Header* h = to_release, *next; h; h = next) {
    next = h->qnext;
    release(h);
  }
}

// The ring is sized for the smallest blocks (kMinSpan each), but typical
// blocks are several times larger: used whole, it would cycle through ten
// or more times the entries the quarantine ever holds, a fresh page fault
// every 256 entries on each first pass. So it starts small and doubles
// when full (g_q_lock held), touching only as much as the quarantine needs.
constexpr size_t kRingStart = 4096;

void ring_grow() {
  size_t old = g_ring_cap, cap = std::min(old * 2, g_ring_max_cap);
  // Entries wrapped past the old end move to just after it, where the
  // larger ring continues.
  size_t wrapped = g_ring_first + g_ring_count > old ? g_ring_first + g_ring_count - old : 0;
  size_t moved = std::min(wrapped, cap - old);
  std::memcpy(g_ring + old, g_ring, moved * sizeof(Entry));
  if (moved < wrapped) std::memmove(g_ring, g_ring + moved, (wrapped - moved) * sizeof(Entry));
  g_ring_cap = cap;
}

constexpr unsigned kEvictRound = 128;

// The FIFO's oldest entry, taken out (g_q_lock held; not empty).
Entry ring_pop() {
  Entry e = g_ring[g_ring_first];
  g_q_bytes -= e.span;
  g_ring_first = g_ring_first + 1 == g_ring_cap ? 0 : g_ring_first + 1;
  --g_ring_count;
  if (g_ring_inherited) --g_ring_inherited;
  return e;
}

// Pushes blocks into the FIFO and evicts the oldest until the quarantine is
// back within its limit, kEvictRound blocks at a time (checked outside the
// lock).
void flush(Entry* in, unsigned nin, CurrentStack& cur) {
  // Off their home shards' lists first (the FIFO is walked on its own),
  // each home's lock taken once per run of blocks from it. A header damaged
  // while the block waited in its thread's queue is reported, and the block
  // stays where it is.
  Shard* held = nullptr;
  unsigned kept = 0;
  for (unsigned i = 0; i < nin; ++i) {
    Header* h = in[i].h;
    if (!sealed(h)) {
      if (held) held->lock.unlock();
      held = nullptr;
      if (first_report_of_header(h)) emit(bad_header_finding(h, "when the block entered quarantine", cur.get()));
      continue;
    }
    Shard* home = &g_shards[h->home % kShards];
    if (home != held) {
      if (held) held->lock.unlock();
      home->lock.lock();
      held = home;
    }
    uptr bad_link = 0;
    bool unlinked = list_unlink(*home, h, &bad_link);
    if (LM_UNLIKELY(bad_link)) {
      // Overwritten after free's check (which reported it, and marked pad)
      // or before it. A block whose neighbours could not be found stays
      // listed and out of the FIFO (its memory is never reused), so no walk
      // meets a recycled header.
      if (h->pad != kLinksReported) {
        h->pad = kLinksReported;
        Finding f = make_finding(Kind::kOverflow, bad_link, nullptr, cur.get());
        f.when = "when the block entered quarantine";
        f.has_block = true;
        f.block = info_of(h);
        held->lock.unlock();
        held = nullptr;
        emit(f);
      }
      if (!unlinked) continue;
    }
    in[kept++] = in[i];
  }
  if (held) held->lock.unlock();
  nin = kept;
  Entry out[kEvictRound];
  unsigned pushed = 0;
  for (;;) {
    unsigned n = 0;
    {
      LockGuard guard(g_q_lock);
      if (!g_ring) {
        // Every quarantined block spans at least kMinSpan bytes: a ring
        // this long never fills while the quarantine keeps its limit. Under
        // an address-space limit, a shorter one (the oldest blocks then
        // leave early); if none can be mapped, blocks go straight out, and
        // the next flush tries again (a failure once turned the quarantine
        // off for good: 978 of 1000 freed blocks were handed out again at
        // once after memory was back).
        size_t cap = g_quarantine_limit / kMinSpan + 2 * kPendingMax + 2;
        cap = std::min<size_t>(cap, size_t{1} << 26);
        for (;;) {
          g_ring = static_cast<Entry*>(os::map_noreserve(align_up(cap * sizeof(Entry), 4096)));
          if (g_ring || cap <= kRingStart) break;
          cap /= 2;
        }
        g_ring_max_cap = g_ring ? cap : 0;
        g_ring_cap = std::min(g_ring_max_cap, kRingStart);
      }
      auto pop = [&] { out[n++] = ring_pop(); };
      while (pushed < nin) {
        if (g_ring_cap == 0) {  // no FIFO: straight out
          if (n == kEvictRound) break;
          out[n++] = in[pushed++];
          continue;
        }
        if (g_ring_count == g_ring_cap && g_ring_cap < g_ring_max_cap) ring_grow();
        if (g_ring_count == g_ring_cap) {  // full: the oldest leaves early
          if (n == kEvictRound) break;
          pop();
        }
        size_t at = g_ring_first + g_ring_count;
        g_ring[at >= g_ring_cap ? at - g_ring_cap : at] = in[pushed];
        g_q_bytes += in[pushed].span;
        ++g_ring_count;
        ++pushed;
      }
      while (n < kEvictRound && g_ring_count > 0 && g_q_bytes > g_quarantine_limit) pop();
    }
    if (n) evict(out, n, cur);
    if (n < kEvictRound && pushed == nin) return;
  }
}

// Out of memory (the backend failed): everything held back is made usable.
// The quarantine is emptied, oldest first (each block checked as it
// leaves), and the recycled blocks leave their classes: carved ones become
// spare (merged with their spare neighbours, they serve any class), the
// rest go back to the backend. Under an address-space limit a program that
// freed everything still got NULL: its memory sat in the quarantine and in
// the bins of classes it no longer asked for.
void reclaim(CurrentStack& cur) {
  for (;;) {
    Entry out[kEvictRound];
    unsigned n = 0;
    {
      LockGuard guard(g_q_lock);
      while (n < kEvictRound && g_ring_count > 0) out[n++] = ring_pop();
    }
    if (n == 0) break;
    evict(out, n, cur);
  }
  Recycled* chains = nullptr;
  auto take_chain = [&](Recycled*& head) {
    if (!head) return;
    head->next_chain = chains;
    chains = head;
    head = nullptr;
  };
  for (Shard& s : g_shards) {
    LockGuard guard(s.lock);
    for (Recycled*& bin : s.bins) take_chain(bin);
    s.recycled_bytes = 0;
  }
  {
    LockGuard guard(g_pool_lock);
    for (Recycled*& head : g_pool) {
      // (The pool's classes hold chains linked through next_chain.)
      for (Recycled* r = head, *next; r; r = next) {
        next = r->next_chain;
        r->next_chain = chains;
        chains = r;
      }
      head = nullptr;
    }
    g_pool_bytes = 0;
  }
  for (Recycled* r = chains, *next_chain; r; r = next_chain) {
    next_chain = r->next_chain;
    for (Recycled* q = r, *next; q; q = next) {
      next = q->next;
      if (q->carved) {
        LockGuard guard(g_pool_lock);
        spare_push(q);
      } else {
        release_recycled(q);
      }
    }
  }
}

// ---- the calling thread's pending blocks ----
//
// A thread's freed blocks wait in its own queue, with no lock, until it
// holds kPendingMax of them or g_batch_bytes, then go to the FIFO in one
// locked step. Queues come from a pool (thread-local storage holds only a
// pointer) and go back to it at thread exit, through a pthread key whose
// destructor flushes the queue. A thread without a queue (setting one up,
// or past its exit) flushes each block at once.
struct ThreadQueue {
  ThreadQueue* next_free;
  unsigned count;
  size_t bytes;
  Entry e[kPendingMax];
};

constinit Mutex g_tq_lock;  // the pool of queues
ThreadQueue* g_tq_free = nullptr;
char* g_tq_carve = nullptr;
size_t g_tq_carve_left = 0;
pthread_key_t g_tq_key;
bool g_tq_key_ok = false;

thread_local ThreadQueue* t_queue LM_TLS_IE = nullptr;
thread_local uint8_t t_queue_state LM_TLS_IE = 0;  // 0 none yet, 1 setting up, 2 ready, 3 gone

void queue_release(void* arg) {
  auto* q = static_cast<ThreadQueue*>(arg);
  if (q != t_queue) return;
  t_queue_state = 3;
  t_queue = nullptr;
  CurrentStack cur(0);
  if (q->count) flush(q->e, q->count, cur);
  q->count = 0;
  q->bytes = 0;
  LockGuard guard(g_tq_lock);
  q->next_free = g_tq_free;
  g_tq_free = q;
}

LM_SLOW_PATH ThreadQueue* queue_setup() {
  if (t_queue_state != 0 || !g_tq_key_ok) return nullptr;
  t_queue_state = 1;
  ThreadQueue* q = nullptr;
  {
    LockGuard guard(g_tq_lock);
    if (g_tq_free) {
      q = g_tq_free;
      g_tq_free = q->next_free;
    } else {
      constexpr size_t kChunk = 64 * 1024;
      if (g_tq_carve_left < sizeof(ThreadQueue)) {
        g_tq_carve = static_cast<char*>(os::map(kChunk));
        g_tq_carve_left = g_tq_carve ? kChunk : 0;
      }
      if (g_tq_carve_left >= sizeof(ThreadQueue)) {
        q = reinterpret_cast<ThreadQueue*>(g_tq_carve);
        g_tq_carve += align_up(sizeof(ThreadQueue), 64);
        g_tq_carve_left -= std::min(g_tq_carve_left, align_up(sizeof(ThreadQueue), 64));
      }
    }
  }
  if (!q) {
    t_queue_state = 0;
    return nullptr;
  }
  q->count = 0;
  q->bytes = 0;
  // May allocate (a key beyond the first 32): those calls see state 1.
  pthread_setspecific(g_tq_key, q);
  t_queue = q;
  t_queue_state = 2;
  return q;
}

// Queues a freed block (state kQuarantined) in the calling thread's queue,
// and flushes the queue when it is full.
void quarantine(Header* h, CurrentStack& cur) {
  ThreadQueue* q = t_queue;
  if (LM_UNLIKELY(!q) && !(q = queue_setup())) {
    Entry e{h, h->span};
    flush(&e, 1, cur);
    return;
  }
  q->e[q->count++] = Entry{h, h->span};
  q->bytes += h->span;
  if (q->count < kPendingMax && q->bytes < g_batch_bytes) return;
  unsigned n = q->count;
  q->count = 0;
  q->bytes = 0;
  flush(q->e, n, cur);
}

// The block an instrumented access hit: for a right-redzone or in-block
// byte, the block whose start lies below it; for a left-redzone byte, the
// block just above it; for freed memory, the freed block it lies in.
bool describe(uptr bad, BlockInfo* out) {
  const uint8_t* s = shadow::byte_for(bad);
  if (!s) return false;
  constexpr size_t kMaxScan = (size_t{64} << 20) / 8;  // a left redzone is far smaller
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
    if (bad < user_of(h) - h->left) return false;  // (a heap's free memory reads left redzone too)
    *out = info_of(h);
    return true;
  }
  // Down to the first granule after a left redzone: however large the block
  // (a walk capped at 64 MiB left reports on bigger blocks without one).
  uptr below = shadow::last_below(g, kLeftRedzone);
  if (below == 0) return false;
  g = below + 8;
  Lookup k = lookup(g, &h);
  if (k != Lookup::kLive && k != Lookup::kQuarantined) return false;
  // Only the block whose backing memory holds the address: the shadow of
  // memory given back to the kernel reads addressable, and the walk went on
  // down through it to a block 400 MiB away, whose stacks the report showed.
  uptr base = user_of(h) - h->left;
  if (bad < base || bad >= base + h->span) return false;
  *out = info_of(h);
  return true;
}

void report_not_a_block(Lookup k, uptr p, uptr damaged, const char* func, const stack::Trace* cur) {
  if (k == Lookup::kDamaged) {
    first_report_of_header(header_of(p));  // (reported here: not again by the checks)
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

// The checks and the enqueue of free and realloc. `cur_id` is the caller's
// stack, already captured. Problems are reported before the block changes
// (so the shadow map shows it as the program left it); a live block is
// owned by the caller, so its header and redzones are read without a lock,
// and the compare-and-swap on its state makes one of two racing frees win.
LM_NOINLINE void free_checked(void* p, Family family, const char* func, uint32_t cur_id) {
  uptr up = addr(p);
  Header* h = nullptr;
  uptr damaged = 0;
  CurrentStack cur(cur_id);
  Lookup k = lookup(up, &h, &damaged);
  if (k == Lookup::kNotBlock && family == Family::kNewArray) {
    // delete[] of a block from a single new T (see zero_cookie): the count
    // read 0, and the pointer is the block's minus the array cookie (8
    // bytes, or the alignment of an over-aligned T): inside the block's own
    // left redzone, the block aligned to it. (Any operator-new block up to
    // 4 KiB above was taken: delete[] of a pointer into the block below it
    // freed that one.) Reported, then freed as the delete it should have
    // been; a freed one is a double free.
    for (size_t d = kCookieBytes; d <= kMaxCookieBytes; d *= 2) {
      Header* b = nullptr;
      uptr user = up + d;
      Lookup kb = lookup(user, &b);
      if ((kb != Lookup::kLive && kb != Lookup::kQuarantined) || !zero_cookie(b)) continue;
      if (up < user - b->left || (d > kCookieBytes && user % d != 0)) continue;
      if (kb == Lookup::kLive && g_mismatch) {
        Finding f = make_finding(Kind::kMismatch, user, func, cur.get());
        f.has_block = true;
        f.block = info_of(b);
        f.dealloc_family = family;
        f.dealloc_name = func;
        f.passed = up;
        emit(f);
      }
      free_checked(ptr(user), Family::kNew, func, cur_id);  // (a freed block: reported as a double free)
      return;
    }
  }
  if (k == Lookup::kNotBlock || k == Lookup::kDamaged) {
    report_not_a_block(k, up, damaged, func, cur.get());
    return;
  }
  auto report_double_free = [&](const BlockInfo& info) {
    Finding f = make_finding(Kind::kDoubleFree, up, func, cur.get());
    f.has_block = true;
    f.block = info;
    emit(f);
  };
  if (k == Lookup::kQuarantined) {
    report_double_free(info_of(h));
    return;
  }
  // Claimed before it is checked: a heap check skips a block being freed,
  // and waits for no one; a check holding it (kChecking) is over in a
  // moment. (Claimed after the checks, a heap check meanwhile reported the
  // same overflow a second time.)
  uint8_t expected = kLive;
  while (!__atomic_compare_exchange_n(&h->state, &expected, kFreeing, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    if (expected != kChecking) {
      report_double_free(info_of(h));  // another thread freed it since the lookup
      return;
    }
    __builtin_ia32_pause();
    expected = kLive;
  }
  forget_header_report(h);
  BlockInfo live = info_of(h);  // (reports below show it as the program left it: live)
  live.freed = false;
  if (LM_UNLIKELY(static_cast<Family>(h->family) != family) && g_mismatch) {
    Finding f = make_finding(Kind::kMismatch, up, func, cur.get());
    f.has_block = true;
    f.block = live;
    f.dealloc_family = family;
    f.dealloc_name = func;
    emit(f);
  }
  uptr overflow = damaged_redzone(h);
  if (LM_UNLIKELY(overflow)) {
    Finding f = make_finding(Kind::kOverflow, overflow, func, cur.get());
    f.has_block = true;
    f.block = live;
    f.damage_end = damage_end(h, overflow);
    emit(f);
  }
  // An underflow past the seal, into the fields that change while the block
  // lives: reported, then set right (a damaged link is mended when the block
  // leaves its list, in flush).
  uptr bad_link = damaged_link(h);
  uptr bad = !bad_link ? damaged_scratch(h) : h->pad != kLinksReported ? bad_link : 0;  // (a heap check reported it)
  if (LM_UNLIKELY(bad)) {
    Finding f = make_finding(Kind::kOverflow, bad, func, cur.get());
    f.has_block = true;
    f.block = live;
    emit(f);
    h->pad = bad_link ? kLinksReported : 0;
    h->qnext = nullptr;
  }
  h->free_stack = cur_id;
  h->free_tid = stack::thread_number();
  shadow::set(up, align_up(up + h->size, 8), kFreed);
  std::memset(p, kFreedFill, freed_fill_size(h));
  if (overflow) refill_redzones(h);  // reported above, once
  set_state(h, kQuarantined);
  quarantine(h, cur);
}

// ---- pre-faulting the heap's fresh end ----
//
// The quarantine holds quarantine_mb of freed blocks before any memory is
// reused, so a program's heap grows by that much more than without redzone
// mode, and every page of it is touched first by us (fills, header). A first
// touch costs a page fault, 11-20 us on the machines we run on (DESIGN.md);
// MADV_POPULATE_WRITE faults a range in one call at about a quarter of the
// cost per page. So when a backing block lies near the end of what was
// populated so far in the brk heap, the pages from it up to the break (the
// heap's free top, kept by its top pad) are populated, and their shadow:
// the RSS grows a little earlier, nothing else changes. Continuation
// regions (mmapped) are left to fault page by page.
constexpr size_t kPopulateAhead = 512 * 1024;
constexpr int kMadvPopulateWrite = 23;  // MADV_POPULATE_WRITE, Linux 5.14
std::atomic<uptr> g_populated_to{0};
std::atomic<bool> g_populate_ok{true};

void populate_ahead(uptr base, uptr end) {
  if (!g_populate_ok.load(std::memory_order_relaxed)) return;
  uptr brk = addr(os::current_break());
  if (base >= brk || end > brk) return;  // not the brk heap
  uptr done = g_populated_to.load(std::memory_order_relaxed);
  if (done <= brk && end + kPopulateAhead / 2 <= done) return;  // well inside what was populated
  uptr from = align_down(end, 4096);
  if (done <= brk && done > from) from = done;
  uptr to = std::min(brk, align_down(end, 4096) + kPopulateAhead);
  if (from >= to) return;
  g_populated_to.store(to, std::memory_order_relaxed);
  if (!os::advise(ptr(from), to - from, kMadvPopulateWrite)) {
    g_populate_ok.store(false, std::memory_order_relaxed);  // an older kernel
    return;
  }
  if (shadow::ensure(from, to)) shadow::populate(from, to);
}

// A mapped block is populated whole up to kPopulateMapped: the quarantine
// keeps freed mappings from being reused for a long time, so each large
// block is mostly fresh pages, which the program is about to touch (a block
// this large is asked for to be used). Beyond that, pages fault on demand,
// so that a program reserving a huge block and touching little of it does
// not see it all resident.
constexpr size_t kPopulateMapped = size_t{4} << 20;

void populate_mapping(uptr base, size_t usable) {
  if (!g_populate_ok.load(std::memory_order_relaxed)) return;
  uptr lo = align_up(base, 4096), hi = align_down(base + std::min(usable, kPopulateMapped), 4096);
  if (lo < hi && !os::advise(ptr(lo), hi - lo, kMadvPopulateWrite))
    g_populate_ok.store(false, std::memory_order_relaxed);
}

// ---- chunks ----
//
// Blocks of the classes up to kMaxCarved are carved, back to back, from
// chunks of a few MiB that each shard takes from the backend, instead of
// one backend call per block: the quarantine holds quarantine_mb of freed
// blocks before any memory is reused, so a program's first pass through it
// asks for that much fresh memory. Per block, that was the heap's lock
// (contended between threads), its growth by small steps and a page fault
// at each new top; per chunk it is one backend call, one populate call for
// the memory and one for its shadow, and the kernel may back the chunk with
// huge pages. Carved blocks leave quarantine into the recycling bins like
// any other; they never go back to the backend (when the pool is full they
// become spare: merged with their spare neighbours, they serve requests of
// any size, see spare_push), so redzone mode keeps its peak memory until
// exit.
//
// A shard's chunks grow from kMinChunk, doubling up to kMaxChunk, so that a
// program (or a thread group) that allocates little populates little.
constexpr size_t kMaxCarved = size_t{64} << 10;
constexpr size_t kMinChunk = size_t{256} << 10;
constexpr size_t kHugePage = size_t{2} << 20;
constexpr int kMadvHugepage = 14;  // MADV_HUGEPAGE
static_assert(kMaxCarved <= kMinChunk / 4, "a chunk wastes at most a quarter at its end");
static_assert(kMaxCarved <= kMaxClassSize, "only class sizes are carved (recycled by class)");

size_t next_chunk_bytes(const Shard& s) {
  return s.chunk_bytes == 0 ? kMinChunk : std::min(s.chunk_bytes * 2, kMaxChunk);
}

// Maps a chunk of `bytes`, its shadow (all left redzone: not handed out)
// and populates both. False when the backend or the shadow fails.
bool new_chunk(size_t bytes, uptr* lo, uptr* hi) {
  size_t usable = 0;
  bool mapped = false;
  // Chunks of whole huge pages are aligned to one (the mapping is that much
  // larger, in address space only), so that each can be a huge page.
  bool zeroed = false;
  void* b = g_backend.alloc(bytes % kHugePage == 0 ? kHugePage : 16, bytes, false, &usable, &mapped, &zeroed);
  if (!b) return false;
  uptr base = addr(b), end = align_down(base + usable, 16);
  if (!shadow::ensure(base, end)) {
    g_backend.free(b);
    return false;
  }
  if (g_populate_ok.load(std::memory_order_relaxed)) {
    uptr hlo = align_up(base, kHugePage), hhi = align_down(end, kHugePage);
    if (hlo < hhi) os::advise(ptr(hlo), hhi - hlo, kMadvHugepage);  // a hint: failure changes nothing
    uptr plo = align_up(base, 4096), phi = align_down(end, 4096);
    if (plo < phi && !os::advise(ptr(plo), phi - plo, kMadvPopulateWrite))
      g_populate_ok.store(false, std::memory_order_relaxed);
    else
      shadow::populate(base, end);
  }
  shadow::set(base, end, kLeftRedzone);
  g_chunk_bytes.fetch_add(end - base, std::memory_order_relaxed);
  *lo = base;
  *hi = end;
  return true;
}

// Makes [lo, hi) the shard's chunk (its lock held). What is left of the old
// one, if a class block fits it, becomes a recycled block of the shard.
void install_chunk(Shard& s, uptr lo, uptr hi, size_t bytes) {
  size_t left = s.carve_end - s.carve_at;
  if (left > kMaxCarved) {
    // Two threads of the shard mapped a chunk at once, and the other one's
    // is still nearly whole: it becomes spare, to be split as requests come
    // (as a recycled block, it would have gone whole to one request).
    LockGuard pool_guard(g_pool_lock);
    auto* r = ptr<Recycled>(s.carve_at);
    r->span = left;
    spare_push(r);
  } else if (left >= kMinClassSize) {
    auto* r = ptr<Recycled>(s.carve_at);
    unsigned c = class_fitting(left);
    Recycled* bin = s.bins[c];
    r->tag = 0;
    r->next = bin;
    r->span = left;
    r->carved = 1;
    r->count = bin ? bin->count + 1 : 1;
    r->bytes = bin ? bin->bytes + left : left;
    s.bins[c] = r;
    s.recycled_bytes += left;
  }
  // The fences (see spare_push): zero, never carved.
  std::memset(ptr(lo), 0, kChunkFence);
  std::memset(ptr(hi - kChunkFence), 0, kChunkFence);
  s.carve_at = lo + kChunkFence;
  s.carve_end = hi - kChunkFence;
  s.chunk_bytes = bytes;
}

// The next `size` bytes of the shard's chunk (its lock held; they fit).
uptr carve(Shard& s, size_t size) {
  uptr b = s.carve_at;
  s.carve_at += size;
  return b;
}

void* alloc_once(size_t n, size_t align, Family family, bool zero, uint32_t stack_id, size_t room);

// A new block; when memory runs out, once more after reclaim().
LM_NOINLINE void* alloc_traced(size_t n, size_t align, Family family, bool zero, uint32_t stack_id,
                               size_t room = 0) {
  if (void* p = alloc_once(n, align, family, zero, stack_id, room)) return p;
  if (n > kMaxRequest || align > UINT32_MAX) return nullptr;  // (sizes never possible)
  CurrentStack cur(stack_id);
  reclaim(cur);
  return alloc_once(n, align, family, zero, stack_id, room);
}

// `room` (>= n) is how far the block may later grow in place by realloc:
// the bytes between n and room are right redzone until then.
void* alloc_once(size_t n, size_t align, Family family, bool zero, uint32_t stack_id, size_t room) {
  if (n > kMaxRequest) return nullptr;
  size_t a = align < 16 ? 16 : align;
  // The header keeps the left redzone's size in 32 bits: an alignment of
  // 4 GiB and up (whose left redzone is that large) was truncated to 0, and
  // the block's free read 4 GiB past it (a false overflow, then SIGSEGV).
  if (a > kMaxRequest || a > UINT32_MAX) return nullptr;
  if (room < n || room > kMaxRequest) room = n;
  size_t rz = redzone_for(n);
  size_t left = align_up(rz > g_near + kHeaderSize ? rz : g_near + kHeaderSize, a);
  size_t total = left + align_up(room, 16) + rz;
  if (total < n || total > kMaxRequest) return nullptr;
  unsigned shard = my_shard();
  Shard& s = g_shards[shard];
  // The header, for a backing block at base of `span` bytes: written, and
  // the block linked, before the fills below, so that the lock's barrier
  // does not wait for their stores. State kAllocating until sealed.
  Header* h = nullptr;
  auto write_header = [&](uptr base, size_t span, uint8_t mapped) {
    uptr user = base + left;
    h = header_of(user);
    h->magic = user ^ g_secret;
    h->size = n;
    h->span = span;
    h->left = static_cast<uint32_t>(left);
    h->alloc_stack = stack_id;
    h->alloc_tid = stack::thread_number();
    h->family = static_cast<uint8_t>(family);
    h->mapped = mapped;
    h->home = static_cast<uint8_t>(shard);
    h->state = kAllocating;
    h->free_tid = 0;
    h->free_stack = 0;
    h->pad = 0;
    h->qnext = nullptr;
    list_link(s, h);
  };
  if (a == 16 && total <= kMaxClassSize) {
    unsigned c = class_of(total);
    total = class_size(c);
    bool carvable = total <= kMaxCarved;
    {
      LockGuard guard(s.lock);
      size_t span = 0;
      bool carved = false;
      if (void* r = recycled_take(s, c, &span, &carved)) write_header(addr(r), span, carved ? kCarved : kFromBackend);
      else if (carvable && s.carve_end - s.carve_at >= total) write_header(carve(s, total), total, kCarved);
    }
    if (!h && carvable) {
      // A new chunk, mapped and populated with no lock of ours held.
      uptr lo = 0, hi = 0;
      size_t want = next_chunk_bytes(s);
      if (new_chunk(want, &lo, &hi)) {
        LockGuard guard(s.lock);
        install_chunk(s, lo, hi, want);
        write_header(carve(s, total), total, kCarved);
      }
    }
  }
  bool zeroed = false;  // the backend zeroed the block (a mapping): calloc leaves it alone
  if (!h) {
    size_t usable = 0;
    bool mapped = false;
    void* b = g_backend.alloc(a, total, zero, &usable, &mapped, &zeroed);
    if (!b) return nullptr;
    if (!shadow::ensure(addr(b), addr(b) + usable)) {
      g_backend.free(b);
      return nullptr;
    }
    if (!mapped) populate_ahead(addr(b), addr(b) + usable);
    else populate_mapping(addr(b), usable);
    LockGuard guard(s.lock);
    write_header(addr(b), align_down(addr(b) + usable, 8) - addr(b), mapped ? kOwnMapping : kFromBackend);
  }
  uptr user = user_of(h), base = user - left, end = base + h->span;
  shadow::set(base, user, kLeftRedzone);
  shadow::set(user, user + align_down(n, 8), kAddressable);
  uptr tail = user + align_down(n, 8);
  if (n & 7) {
    *const_cast<uint8_t*>(shadow::byte_for(tail)) = static_cast<uint8_t>(n & 7);
    tail += 8;
  }
  shadow::set(tail, end, kRightRedzone);
  std::memset(ptr(base), kLeftFill, addr(h) - base);
  fill_near(user, zero_cookie(family));
  // The right redzone runs to the end of the backing block (its slack too).
  std::memset(ptr(user + n), kRightFill, end - user - n);
  if (zero) {
    if (!zeroed) std::memset(ptr(user), 0, n);
  } else if (int perturb = config::tunables().perturb.load(std::memory_order_relaxed)) {
    std::memset(ptr(user), perturb ^ 0xff, n);  // as the fast mode (perturb_alloc)
  }
  seal(h);
  set_state(h, kLive);
  return ptr(user);
}

// Moves a live block's end within its backing block: shadow, fills, size.
// The caller checked there is room. Under the home shard's lock, so that a
// heap check never reads a half-moved block.
bool resize_in_place(Header* h, size_t n, uint32_t stack_id) {
  uptr user = user_of(h), base = user - h->left, end = base + h->span;
  size_t old = h->size;
  Shard& s = g_shards[h->home % kShards];
  LockGuard guard(s.lock);
  if (state_of(h) != kLive) return false;
  // The bytes that change role (redzone to block, or the first redzone
  // bytes past the new end) and the fill just below the block must be
  // intact; else the caller moves the block, and the free reports it. The
  // rest of the redzones is checked when the block is freed.
  uptr from = user + old, to = user + std::max(old, n) + 16;
  if (first_mismatch(from, std::min(to, end), kRightFill) || last_bad_near(user, zero_cookie(h)))
    return false;
  shadow::set(user, user + align_down(n, 8), kAddressable);
  uptr tail = user + align_down(n, 8);
  if (n & 7) {
    *const_cast<uint8_t*>(shadow::byte_for(tail)) = static_cast<uint8_t>(n & 7);
    tail += 8;
  }
  shadow::set(tail, align_up(user + std::max(old, n), 8), kRightRedzone);
  if (n < old) std::memset(ptr(user + n), kRightFill, old - n);
  h->size = n;
  h->alloc_stack = stack_id;
  seal(h);
  return true;
}

}  // namespace

bool leak_scan_at_exit() { return g_detect_leaks; }

size_t live_bytes_from(uptr a) {
  const uint8_t* s = shadow::byte_for(a);
  if (!s || *s > 7) return 0;
  // The block's start is the first granule after its left redzone, looked
  // for no further than 64 KiB down: the shadow of memory that is no block
  // (a leaf's unused part, memory given back to the kernel) reads
  // addressable, and a walk down through it would scan megabytes each call.
  constexpr size_t kWindow = size_t{64} << 10;
  uptr g = align_down(a, 8);
  uptr below = shadow::last_below(g, kLeftRedzone, g > kWindow ? g - kWindow : 0);
  if (below == 0) return 0;
  Header* h = nullptr;
  uptr start = below + 8;
  if (lookup(start, &h) != Lookup::kLive || a < start || a >= start + h->size) return 0;
  return start + h->size - a;
}

void init(const Backend& backend, uint64_t secret) {
  const config::Options& o = config::options();
  g_backend = backend;
  g_secret = secret | 1;
  size_t rz = o.redzone_size < 16 ? 16 : o.redzone_size > 4096 ? 4096 : o.redzone_size;
  g_min_rz = align_up(rz, 16);
  g_near = g_min_rz;
  g_quarantine_limit = o.quarantine_mb > (size_t{1} << 30) ? ~size_t{0} : o.quarantine_mb << 20;
  g_batch_bytes = std::min(g_quarantine_limit / 16, kMaxBatchBytes);
  std::memset(g_pattern_left, kLeftFill, kPatternBytes);
  std::memset(g_pattern_right, kRightFill, kPatternBytes);
  std::memset(g_pattern_freed, kFreedFill, kPatternBytes);
  g_tq_key_ok = pthread_key_create(&g_tq_key, queue_release) == 0;
  g_halt = o.halt_on_error;
  g_detect_leaks = o.detect_leaks;
  g_mismatch = o.alloc_dealloc_mismatch;
}

bool halt_on_error() { return g_halt; }

bool quarantined_for_testing(const void* p) {
  Header* h = nullptr;
  return lookup(addr(p), &h) == Lookup::kQuarantined;
}

// The entries capture first, before anything else they call can reuse rbp
// (libmalloc has no frame pointers; rbp at the capture often still holds the
// program's, which capture uses): the work itself is in noinline helpers,
// so that the entries keep their few arguments in other registers.
void* alloc(size_t n, size_t align, Family family, bool zero, uptr ret) {
  return alloc_traced(n, align, family, zero, stack::capture_id(ret));
}

void free(void* p, Family family, const char* func, uptr ret) {
  if (!p) return;
  free_checked(p, family, func, stack::capture_id(ret));
}

void* realloc(void* p, size_t n, uptr ret) {
  uint32_t id = stack::capture_id(ret);
  Header* h = nullptr;
  uptr damaged = 0;
  Lookup k = lookup(addr(p), &h, &damaged);
  if (k != Lookup::kLive) {
    if (k == Lookup::kQuarantined) {
      free_checked(p, Family::kMalloc, "realloc()", id);  // double-free report
    } else {
      CurrentStack cur(id);
      report_not_a_block(k, addr(p), damaged, "realloc()", cur.get());
    }
    return nullptr;
  }
  size_t old = h->size;
  // In place when the backing block has room for n and its redzone and the
  // block is a malloc one (otherwise the moving path below reports what is
  // wrong). Programs that grow a buffer by small steps would else copy it
  // at every step. Not a shrink by more than half (and more than 64 KiB):
  // the bytes given up become right redzone, filled and checked, and a
  // 64 MiB buffer cut to its first 100 bytes kept and wrote all of it (50
  // of them: 3.6 GB resident, 12 s); moved, it costs a copy of n bytes.
  bool shrink_ok = n >= old || old - n <= std::max<size_t>(n, size_t{64} << 10);
  if (n <= kMaxRequest && shrink_ok && static_cast<Family>(h->family) == Family::kMalloc &&
      h->left + align_up(n, 16) + redzone_for(n) <= h->span && resize_in_place(h, n, id))
    return p;
  // Moving up: leave room to grow in place, so that growth by small steps
  // moves a logarithmic number of times: half as much again up to 1 MiB of
  // room, an eighth beyond. The room is right redzone, filled: half of a
  // 512 MiB block made 256 MiB resident that the program never touched.
  size_t extra = n / 2 <= (size_t{1} << 20) ? n / 2 : std::max<size_t>(size_t{1} << 20, n / 8);
  size_t room = n > old && n <= kMaxRequest / 2 ? n + extra : n;
  void* q = alloc_traced(n, 16, Family::kMalloc, false, id, room);
  if (!q) {
    // A shrink that could not move stays in place: a shrinking realloc
    // never fails (p = realloc(p, smaller) lost its block under a limit).
    if (n < old && static_cast<Family>(h->family) == Family::kMalloc && resize_in_place(h, n, id)) return p;
    return nullptr;
  }
  std::memcpy(q, p, old < n ? old : n);
  free_checked(p, Family::kMalloc, "realloc()", id);
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
    f.call = true;  // (a call on freed memory, not a write)
    f.has_block = true;
    f.block = info_of(h);
    emit(f);
  } else {
    report_not_a_block(k, addr(p), damaged, "malloc_usable_size()", &cur);
  }
  return 0;
}

namespace {
// A heap check's look at a live block (its shard's lock held): its
// redzones, and its unsealed fields other than state and links (free
// fields, pad, scratch link: all 0 while it is live). A damaged block is
// claimed first: a free racing with the check once reported the same
// overflow again (its compare-and-swap came after its own report), and a
// free's fields, written after that compare-and-swap, read as damage (a
// false heap-buffer-overflow at the header's free_tid). While claimed, the
// damage is recorded and repaired, so that it is reported once; a free
// that lost the race has it to check.
template <class Add>
void check_live(Header* h, Add& add) {
  forget_header_report(h);
  bool scratch = (h->free_tid | h->free_stack | h->pad | addr(h->qnext)) != 0 && h->pad != kLinksReported;
  if (LM_LIKELY(!scratch) && !damaged_redzone(h)) return;
  uint8_t expected = kLive;
  if (!__atomic_compare_exchange_n(&h->state, &expected, kChecking, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    return;
  if (uptr a = damaged_redzone(h)) {
    add(Kind::kOverflow, a, h);
    refill_redzones(h);
  }
  if (h->pad != kLinksReported) {
    if (uptr a = damaged_scratch(h)) {
      add(Kind::kOverflow, a, h);
      h->free_tid = 0;
      h->free_stack = 0;
      h->pad = 0;
      h->qnext = nullptr;
    }
  }
  set_state(h, kLive);
}

// Collects up to kMax problems, each shard's under its lock and the FIFO's
// under its own (repairing each so that it is reported once), then reports
// them outside the locks: live blocks' redzones, quarantined blocks' fill
// (in threads' queues, on the shard lists; in the FIFO). Blocks in a
// transient state (being freed or leaving quarantine) are the freeing or
// evicting thread's to check.
int check_everything(const char* when, const stack::Trace* cur, bool skip_inherited = false) {
  constexpr unsigned kMax = 16;
  Finding found[kMax];
  unsigned n = 0;
  // A finding at address a about block h (whose header is known good).
  auto add = [&](Kind kind, uptr a, Header* h) {
    Finding f = make_finding(kind, a, nullptr, cur);
    f.has_block = true;
    f.block = info_of(h);
    f.when = when;
    if (kind == Kind::kOverflow) f.damage_end = damage_end(h, a);  // (before the repair)
    found[n++] = f;
  };
  // A header damaged past its seal, reported once.
  auto add_bad_header = [&](Header* h) {
    if (first_report_of_header(h)) found[n++] = bad_header_finding(h, when, cur);
  };
  // A quarantined block's freed fill and its redzones (a neighbour's
  // overflow into them was found only when it left quarantine), each
  // repaired once reported.
  auto check_fill = [&](Header* h) {
    uptr user = user_of(h);
    if (uptr a = first_mismatch(user, user + freed_fill_size(h), kFreedFill)) {
      add(Kind::kUseAfterFree, a, h);
      std::memset(ptr(user), kFreedFill, freed_fill_size(h));
    }
    if (uptr a = damaged_redzone(h)) {
      add(Kind::kOverflow, a, h);
      refill_redzones(h);
    }
  };
  for (Shard& s : g_shards) {
    LockGuard guard(s.lock);
    for_each_block(s, [&](Header* h, uptr bad) {
      if (n + 2 > kMax) return false;  // (a live block can add two)
      if (!h) {
        add_bad_header(ptr<Header>(bad));
        return true;
      }
      if (bad) {  // a damaged link in h (the walk stops there)
        if (h->pad != kLinksReported) add(Kind::kOverflow, bad, h);
        h->pad = kLinksReported;
        return true;
      }
      uint8_t st = state_of(h);
      if (st == kLive) {
        check_live(h, add);
      } else if (st == kQuarantined) {
        check_fill(h);
      }
      return true;
    });
  }
  // The FIFO, an array: prefetched a few blocks ahead.
  {
    LockGuard guard(g_q_lock);
    constexpr size_t kAhead = 4;
    auto at = [](size_t i) {
      size_t k = g_ring_first + i;
      return g_ring[k >= g_ring_cap ? k - g_ring_cap : k];
    };
    size_t first = skip_inherited ? g_ring_inherited : 0;
    for (size_t i = first; i < g_ring_count && i < first + kAhead; ++i) __builtin_prefetch(at(i).h);
    for (size_t i = first; i < g_ring_count && n + 2 <= kMax; ++i) {
      if (i + kAhead < g_ring_count) __builtin_prefetch(at(i + kAhead).h);
      Header* h = at(i).h;
      if (!sealed(h)) add_bad_header(h);
      else check_fill(h);
    }
  }
  for (unsigned i = 0; i < n; ++i) emit(found[i]);
  return static_cast<int>(n);
}

// ---- leak scan (detect_leaks=1, at exit) ----

struct LeakBlock {
  uptr lo, hi;  // the block's bytes
  const Header* h;
  uint8_t mark;  // 0 unreached, 1 reachable from roots, 2 reachable from a leak, kLeakScanning
};
constexpr uint8_t kLeakScanning = 3;  // an unreached block whose pointers are being followed

LeakBlock* g_blocks = nullptr;
size_t g_nblocks = 0;
uint32_t* g_work = nullptr;
size_t g_nwork = 0;

LeakBlock* find_block(uptr v) {
  // (v == hi of the last block: its start, when it is a 0-byte block.)
  if (g_nblocks == 0 || v < g_blocks[0].lo || v > g_blocks[g_nblocks - 1].hi) return nullptr;
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

// True when [lo, hi) holds a block of ours (g_blocks, sorted): a mapping
// of the heap's, not a root.
bool holds_blocks(uptr lo, uptr hi) {
  const LeakBlock* end = g_blocks + g_nblocks;
  const LeakBlock* b = std::lower_bound(static_cast<const LeakBlock*>(g_blocks), end, lo, [](const LeakBlock& x, uptr v) { return x.lo < v; });
  return b != end && b->lo < hi;
}

// The part of r around `anchor` that holds none of our blocks (or the block
// holding anchor): a thread's TLS mapping, which the kernel may have merged
// with memory of the heap's. (A static program's main thread has its TLS
// from sbrk, in the [heap] line below our blocks: taken whole, every block
// was reachable and no leak was ever reported; skipped, its thread_local
// roots were missed.)
stack::Range gap_around(stack::Range r, uptr anchor) {
  const LeakBlock* end = g_blocks + g_nblocks;
  const LeakBlock* b = std::lower_bound(static_cast<const LeakBlock*>(g_blocks), end, anchor,
                                        [](const LeakBlock& x, uptr v) { return x.lo <= v; });
  if (b != g_blocks && anchor < (b - 1)->hi) return stack::Range{std::max(r.lo, (b - 1)->lo), std::min(r.hi, (b - 1)->hi)};
  if (b != end && b->lo < r.hi) r.hi = std::max(b->lo, r.lo);
  if (b != g_blocks && (b - 1)->hi > r.lo) r.lo = std::min((b - 1)->hi, r.hi);
  return r;
}

// What a root range must leave out: the leak check's own frames [sp, from)
// and its own lists (g_blocks, g_work), which the kernel may merge into the
// line of a mapping taken whole (the main thread's TLS: every block was then
// reachable through g_blocks, and no leak was reported).
struct NotRoots {
  uptr lo[3], hi[3];
};
NotRoots g_not_roots{};

// Scans [lo, hi) as a root, but for g_not_roots.
// /proc/self/pagemap, open while the leak check runs (-1: unavailable).
int g_pagemap_fd = -1;

// Scans the pages of [lo, hi) that were ever written to (resident or
// swapped out, as /proc/self/pagemap says). A page never touched holds
// zeros or the file's bytes from before the program ran, never a pointer
// into the heap; and reading it made it resident on kernels that map a
// fresh page for a read fault: the whole 8 MiB stack mapping of each
// thread still running at exit, 8 MiB of RSS and 30 ms apiece (a program
// with 1000 threads needed 8 GB to exit). Nor a guard page that
// madvise(MADV_GUARD_INSTALL) put inside a mapping (no line of
// /proc/self/maps shows it; a read faults): pagemap flags it (bit 58,
// Linux 6.15 and later), with the swapped bit. A range of any size is
// looked up: a few pages with a guard page among them fault as well.
void scan_touched(uptr lo, uptr hi) {
  constexpr size_t kPage = 4096, kBatch = 512;  // entries read at a time: 2 MiB of address space
  if (g_pagemap_fd < 0) {
    scan_range(lo, hi, 1);
    return;
  }
  static uint64_t entries[kBatch];  // (static: the check runs once, under every shard lock; a thread's stack may be small)
  for (uptr page = align_down(lo, kPage); page < hi;) {
    size_t n = std::min<size_t>(kBatch, (align_up(hi, kPage) - page) / kPage);
    long got = os::read_at(g_pagemap_fd, entries, n * sizeof(uint64_t), page / kPage * sizeof(uint64_t));
    if (got != static_cast<long>(n * sizeof(uint64_t))) {  // unreadable: every page
      scan_range(std::max(lo, page), hi, 1);
      return;
    }
    for (size_t i = 0; i < n; ++i, page += kPage) {
      constexpr uint64_t kPresent = uint64_t{1} << 63, kSwapped = uint64_t{1} << 62, kGuard = uint64_t{1} << 58;
      if ((entries[i] & (kPresent | kSwapped)) && !(entries[i] & kGuard)) scan_range(std::max(lo, page), std::min(hi, page + kPage), 1);
    }
  }
}

// No page of [lo, hi) (a few pages) is a guard page that
// madvise(MADV_GUARD_INSTALL) put inside a mapping: a read there faults.
// pagemap flags them (Linux 6.15); true when it cannot tell.
bool no_guard_pages(uptr lo, uptr hi) {
  constexpr size_t kPage = 4096, kMax = 4;
  if (g_pagemap_fd < 0 || lo >= hi) return true;
  uptr first = align_down(lo, kPage);
  size_t n = std::min<size_t>(kMax, (align_up(hi, kPage) - first) / kPage);
  uint64_t entries[kMax];
  if (os::read_at(g_pagemap_fd, entries, n * sizeof(uint64_t), first / kPage * sizeof(uint64_t)) !=
      static_cast<long>(n * sizeof(uint64_t)))
    return true;
  for (size_t i = 0; i < n; ++i)
    if (entries[i] & (uint64_t{1} << 58)) return false;
  return true;
}

void scan_root(uptr lo, uptr hi) {
  for (unsigned i = 0; i < 3 && lo < hi; ++i) {
    uptr xl = g_not_roots.lo[i], xh = g_not_roots.hi[i];
    if (xl >= xh || xh <= lo || xl >= hi) continue;
    if (xl > lo) scan_root(lo, xl);  // below the hole (recursion at most 3 deep)
    lo = xh;                         // and on above it
  }
  if (lo < hi) scan_touched(lo, hi);
  drain(1);
}

// The roots: the stack and registers of this thread, the writable segments
// of every module, this thread's TLS mapping, the stacks of the threads still
// running and the main thread's TLS. `from`: the stack pointer of at_exit,
// the leak check's entry: the words
// below it are the check's own frames (a copy of a block's address left
// there by the sort hid one leak every run), never roots.
// x86-64 glibc's thread descriptor starts with its tcbhead_t: tcb, dtv, self.
constexpr size_t kDtvOffset = sizeof(uptr);

LM_NOINLINE void scan_roots(const stack::Range* segs, unsigned nsegs, uptr from) {
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
  if (from > sp) {
    g_not_roots.lo[0] = sp;
    g_not_roots.hi[0] = from;
  }
  if (stack::thread_stack(&lo, &hi)) {
    scan_root(sp, hi);
  } else {
    // exit() on a coroutine's stack (or an alternate signal stack): the
    // rest of that page, and the thread's own stack, whole.
    scan_root(sp, align_up(sp + 1, 4096));
    if (stack::own_stack(&lo, &hi)) scan_root(lo, hi);
  }
  for (unsigned i = 0; i < nsegs; ++i) scan_root(segs[i].lo, segs[i].hi);
  // The thread's static TLS and thread descriptor (pointers held in
  // thread_local variables and in libc's per-thread state). (A thread that
  // is not the main one: that mapping is its stack, which holds the check's
  // frames.)
  uptr self = addr(reinterpret_cast<void*>(pthread_self())), tls_lo, tls_hi;
  if (stack::mapping_of(self, &tls_lo, &tls_hi)) {
    stack::Range tls = gap_around(stack::Range{tls_lo, tls_hi}, self);
    if (tls.hi - tls.lo <= (size_t{64} << 20)) scan_root(tls.lo, tls.hi);
  }
  // Threads still running: their whole stack mapping (their registers
  // cannot be read, nor where their stack ends).
  constexpr unsigned kMaxOthers = 1024;
  stack::Range others[kMaxOthers];
  unsigned nothers = stack::other_thread_stacks(others, kMaxOthers);
  // (Only the part around the descriptor that holds none of our blocks: a
  // stack of the program's own may share its mapping with them.)
  for (unsigned i = 0; i < nothers; ++i) {
    stack::Range r = gap_around(others[i], others[i].hi - 1);
    scan_root(r.lo, r.hi);
  }
  // Threads that never allocated (so never captured a stack: a thread that
  // only receives pointers, blocked in read()) are in no list: every mapping
  // shaped like a glibc thread stack (read-write, a guard page below) not
  // scanned above and holding none of our blocks.
  stack::Range guarded[kMaxOthers];
  unsigned nguarded = stack::guarded_mappings(guarded, kMaxOthers);
  for (unsigned i = 0; i < nguarded; ++i) {
    const stack::Range& r = guarded[i];
    bool seen = r.hi == hi;
    for (unsigned k = 0; k < nothers && !seen; ++k) seen = others[k].hi > r.lo && others[k].hi <= r.hi;
    // (glibc keeps exited threads' stacks for reuse, with their TLS and
    // stale words: those hid every leak held only there before the thread
    // exited. The kernel cleared the thread id in their descriptors.) The
    // descriptor itself is glibc's and still a root: it holds the thread's
    // DTV, which glibc reuses with the stack (a -static program, where the
    // DTV is not the loader's, had it reported as a leak per exited thread).
    // Only that word: the rest of the descriptor keeps stale values (the
    // thread's result, its argument), which hid leaks.
    if (seen || holds_blocks(r.lo, r.hi)) continue;
    uptr desc = 0;
    // (The descriptor is looked for in the top three pages at most.)
    if (no_guard_pages(r.hi - std::min<size_t>(r.hi - r.lo, 3 * 4096), r.hi) &&
        stack::dead_thread_stack(r.lo, r.hi, &desc))
      scan_root(desc + kDtvOffset, desc + kDtvOffset + sizeof(uptr));
    else scan_root(r.lo, r.hi);
  }
  // The main thread's TLS, when another thread calls exit(): it is in a
  // mapping of the loader's, not in the main thread's stack.
  stack::Range tls;
  uptr main_self = 0;
  if (stack::main_thread_tls(&tls, &main_self) && (tls = gap_around(tls, main_self)).lo < tls.hi)
    scan_root(tls.lo, tls.hi);
  g_not_roots = NotRoots{};
}

// Every shard's lock, in shard order (the order fork takes them in).
struct AllShardsLocked {
  AllShardsLocked() {
    for (Shard& s : g_shards) s.lock.lock();
  }
  ~AllShardsLocked() {
    for (unsigned i = kShards; i-- > 0;) g_shards[i].lock.unlock();
  }
  AllShardsLocked(const AllShardsLocked&) = delete;
  AllShardsLocked& operator=(const AllShardsLocked&) = delete;
};

LM_NOINLINE void detect_leaks(uptr from) {
  constexpr unsigned kMaxSegs = 512;
  stack::Range segs[kMaxSegs];
  unsigned nsegs = stack::writable_segments(segs, kMaxSegs);
  size_t leaked_bytes = 0, leaked_blocks = 0;
  size_t blocks_bytes = 0, work_bytes = 0;
  constexpr size_t kMaxDetailed = 64;
  struct DetailedLeak {
    BlockInfo info;
    bool direct;
  };
  static DetailedLeak detailed[kMaxDetailed];  // (static, as scan_touched's entries)
  size_t nreport = 0;
  struct PagemapOpen {
    PagemapOpen() {
      // (thread-self: /proc/self is the main thread's, unreadable once it
      // called pthread_exit.)
      g_pagemap_fd = os::open_read("/proc/thread-self/pagemap");
      if (g_pagemap_fd < 0) g_pagemap_fd = os::open_read("/proc/self/pagemap");
      // Trusted only if it shows this very frame's page present (a sandbox
      // that fakes the file with zeros had every root skipped).
      uint64_t entry = 0;
      uptr here = addr(__builtin_frame_address(0));
      if (g_pagemap_fd >= 0 && (os::read_at(g_pagemap_fd, &entry, sizeof entry, here / 4096 * sizeof entry) !=
                                    static_cast<long>(sizeof entry) ||
                                !(entry >> 63))) {
        os::close(g_pagemap_fd);
        g_pagemap_fd = -1;
      }
    }
    ~PagemapOpen() {
      if (g_pagemap_fd >= 0) os::close(g_pagemap_fd);
      g_pagemap_fd = -1;
    }
  } pagemap;
  {
    AllShardsLocked guard;
    size_t count = 0;
    for (const Shard& s : g_shards) count += s.count;
    if (count == 0) return;
    blocks_bytes = align_up(count * sizeof(LeakBlock), 4096);
    work_bytes = align_up(count * sizeof(uint32_t), 4096);
    g_blocks = static_cast<LeakBlock*>(os::map(blocks_bytes));
    g_work = static_cast<uint32_t*>(os::map(work_bytes));
    g_not_roots.lo[1] = addr(g_blocks);
    g_not_roots.hi[1] = addr(g_blocks) + blocks_bytes;
    g_not_roots.lo[2] = addr(g_work);
    g_not_roots.hi[2] = addr(g_work) + work_bytes;
    if (!g_blocks || !g_work) {
      // Said, not silent: a leaking program would otherwise look clean.
      if (g_blocks) os::unmap(g_blocks, blocks_bytes);
      if (g_work) os::unmap(g_work, work_bytes);
      g_blocks = nullptr;
      g_work = nullptr;
      report::warn("redzone: the leak check could not run: no memory for its lists of %zu blocks", count);
      return;
    }
    g_nblocks = 0;
    for (Shard& s : g_shards) {
      for_each_block(s, [&](Header* h, uptr bad) {
        if (h && !bad && g_nblocks < count && (state_of(h) == kLive || state_of(h) == kChecking)) {
          uptr u = user_of(h);
          g_blocks[g_nblocks++] = LeakBlock{u, u + h->size, h, 0};
        }
        return true;
      });
    }
    std::sort(g_blocks, g_blocks + g_nblocks, [](const LeakBlock& a, const LeakBlock& b) { return a.lo < b.lo; });
    g_nwork = 0;
    for (size_t i = 0; i < g_nblocks; ++i) {
      if (stack::from_loader(g_blocks[i].h->alloc_stack)) {
        g_blocks[i].mark = 1;
        g_work[g_nwork++] = static_cast<uint32_t>(i);
      }
    }
    drain(1);
    scan_roots(segs, nsegs, from);
    // Unreached blocks that other unreached blocks point to are indirect
    // leaks. A block's pointers into itself do not count (a leaked
    // std::string, or getaddrinfo's result whose ai_addr lies in its own
    // block, was reported as an indirect leak only, with no direct one).
    for (size_t i = 0; i < g_nblocks; ++i) {
      LeakBlock& b = g_blocks[i];
      if (b.mark != 0) continue;
      b.mark = kLeakScanning;
      scan_range(b.lo, b.lo + align_down(b.hi - b.lo, 8), 2);
      drain(2);
      b.mark = 0;
    }
    // The totals, and the info of the leaks reported in detail (direct ones
    // first), read while the locks are held: a thread still running may
    // free a block it held only in a register once they are released, and
    // the block's memory may then be unmapped.
    for (int pass = 0; pass < 2; ++pass) {
      uint8_t want = pass == 0 ? 0 : 2;
      for (size_t i = 0; i < g_nblocks; ++i) {
        if (g_blocks[i].mark != want) continue;
        leaked_bytes += g_blocks[i].hi - g_blocks[i].lo;
        ++leaked_blocks;
        if (nreport < kMaxDetailed) detailed[nreport++] = DetailedLeak{info_of(g_blocks[i].h), pass == 0};
      }
    }
  }
  os::unmap(g_blocks, blocks_bytes);
  os::unmap(g_work, work_bytes);
  g_blocks = nullptr;
  g_work = nullptr;
  if (leaked_blocks == 0) return;
  // Reported outside the lock (symbolisation may take the loader's lock).
  for (size_t i = 0; i < nreport; ++i) emit_leak(detailed[i].info, detailed[i].direct);
  emit_leak_summary(leaked_bytes, leaked_blocks);
  if (g_halt) {
    os::Writer w(report::output_fd());
    w.printf("==%d==ABORTING\n", os::getpid());
    w.flush();
    os::die(false);  // (at exit: see reports_at_exit)
  }
}
}  // namespace

void forget(uptr begin, uptr end) { shadow::drop(align_down(begin, 8), align_up(end, 8)); }

int check_all(uptr ret) {
  stack::Trace cur;
  stack::capture(&cur, ret);
  return check_everything("by libmalloc_heap_check()", &cur);
}

Stats stats() {
  Stats st{};
  for (Shard& s : g_shards) {
    LockGuard guard(s.lock);
    st.blocks += s.count;
    st.recycled_bytes += s.recycled_bytes;
  }
  {
    LockGuard guard(g_pool_lock);
    st.recycled_bytes += g_pool_bytes;
    st.spare_bytes = g_spare_bytes;
  }
  {
    LockGuard guard(g_q_lock);
    st.quarantined = g_ring_count;
    st.quarantine_bytes = g_q_bytes;
  }
  st.quarantine_limit = g_quarantine_limit;
  st.chunk_bytes = g_chunk_bytes.load(std::memory_order_relaxed);
  return st;
}

void at_exit(uptr frame) {
  reports_at_exit();
  // Until nothing is left (with halt_on_error=0): a call holds 16 findings,
  // and the rest of 40 damaged blocks went unreported. Each finding is
  // repaired or marked, so the rounds end; bounded all the same.
  for (int round = 0; round < 4096 && check_everything("at exit", nullptr, true) > 0; ++round) {
  }
  // From the destructor's frame, not this one: its signal sets are written
  // 8 bytes of 128 by the kernel, and the rest held whatever the stack held
  // there before (a copy of a leaked block's address, left by malloc's own
  // frames, hid the leak).
  if (g_detect_leaks) detect_leaks(std::max(frame, addr(__builtin_frame_address(0))));
}

// Lock order: the report lock, the shards in index order, then the pool,
// then the FIFO, then the queue pool, then stack's and shadow's leaves. No
// path holds two shard locks but these and the leak scan.
void lock_for_fork() {
  // The forking thread is its child's main thread: its stack is found from
  // its descriptor here, in the parent, where it is not the main thread
  // (stack::own_stack).
  uptr lo, hi;
  stack::own_stack(&lo, &hi);
  report_lock_for_fork();
  for (Shard& s : g_shards) s.lock.lock();
  g_pool_lock.lock();
  g_q_lock.lock();
  g_tq_lock.lock();
  stack::lock_for_fork();
  shadow::lock_for_fork();
}
void unlock_for_fork() {
  shadow::unlock_for_fork();
  stack::unlock_for_fork();
  g_tq_lock.unlock();
  g_q_lock.unlock();
  g_pool_lock.unlock();
  for (unsigned i = kShards; i-- > 0;) g_shards[i].lock.unlock();
  report_unlock_for_fork();
}
void reset_for_fork_child() {
  shadow::reset_for_fork_child();
  stack::reset_for_fork_child();
  g_tq_lock.reset_after_fork();
  g_q_lock.reset_after_fork();
  g_pool_lock.reset_after_fork();
  for (Shard& s : g_shards) s.lock.reset_after_fork();
  report_reset_for_fork_child();
  note_fork_child();
}
void note_fork_child() {
  g_ring_inherited = g_ring_count;
  stack::note_fork_child();
}

// ---- compiler-assisted mode ----

namespace {
// An access of `size` bytes at `at` whose first bad byte is `bad`, reported
// at `at` (func: the libc function the program called, or null). errno is
// left as the call set it (a program going on after the report, with
// halt_on_error=0, may read strtol's ERANGE).
void report_access(uptr at, uptr bad, size_t size, bool write, uptr pc, uptr bp, uptr sp, const char* func) {
  int saved_errno = errno;
  const uint8_t* s = shadow::byte_for(bad);
  stack::Trace cur;
  stack::capture(&cur, pc);
  Finding f = make_finding(*s == kFreed ? Kind::kUseAfterFree : Kind::kOverflow, bad, func, &cur);
  f.access = true;
  f.write = write;
  f.access_size = size;
  f.pc = pc;
  f.bp = bp;
  f.sp = sp;
  f.has_block = describe(bad, &f.block);
  f.addr = at;
  emit(f);
  errno = saved_errno;
}
}  // namespace

void check_access(uptr a, size_t size, bool write, uptr pc, uptr bp, uptr sp) {
  // ASan names the access's address; the block offset uses it too.
  if (uptr bad = shadow::first_bad(a, size)) report_access(a, bad, size, write, pc, bp, sp, nullptr);
}

void check_range(uptr a, size_t size, bool write, uptr pc, uptr frame, const char* func) {
  // The first bad byte, as ASan's interceptors report it.
  if (uptr bad = shadow::first_bad(a, size)) report_access(bad, bad, size, write, pc, frame, frame, func);
}

}  // namespace lm::redzone
