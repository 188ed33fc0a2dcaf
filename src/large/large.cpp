// large.cpp: large mappings, their cache of freed mappings, and the dynamic
// threshold.
#include "large/large.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <sys/mman.h>

#include "base/lock.h"
#include "config/config.h"
#include "os/os.h"
#include "pagemap/pagemap.h"
#include "report/report.h"
#include "stats/stats.h"

namespace lm::large {

namespace {

struct Header {
  uptr cookie;
  size_t map_size;
  size_t offset;
  size_t head;
};
static_assert(sizeof(Header) == kHeaderSize);
constexpr size_t kMappedFlag = 2;
constexpr uptr kCachedMark = 0x5a5a5a5a5a5a5a5aull;

struct CacheEntry {
  uptr base;
  size_t size;
  uptr hdr;  // where the last block's header (and its page-map entry) is; 0 for a split-off tail
  uint64_t freed_ms;
  uint64_t hold_ms;  // expires hold_ms after freed_ms: decay_ms, shorter for a growing block's tail
};
// A cached mapping at least this much bigger than a request is split (see alloc).
constexpr size_t kMinSplit = 128 * 1024;
// Mappings above this are never cached: glibc always unmaps them at free
// (32 MiB is the most its dynamic threshold rises to), and so do jemalloc
// (oversize extents) and mimalloc (huge pages). Cached, a program that then
// stops calling malloc keeps it resident, since decay runs only from our own
// calls: CPython's json.tool on a 64 MB file, whose small objects all come
// from its own arenas, held its freed 64 MB input for the whole 20 s dump
// (266 MB resident against 204-206 for the other three).
constexpr size_t kMaxCached = size_t{32} << 20;
// The tail a growing block leaves cached (see alloc) is held a tenth of
// decay_ms: room for a block that grows now, not memory to keep. Held
// decay_ms, CPython's json.tool on a 23 MB file (a list grown into the freed
// input's mapping, then 1 MiB arenas of its own) peaked at 166 MB against
// 147 with the tail purged at once and 143-145 for the other three.
constexpr size_t kTailHoldDiv = 10;
// Few entries, scanned linearly (cheaper than any index at this size). A
// program replacing large buffers needs one or two at a time, but one with
// many live large blocks of mixed sizes (the spectrum workload: ~50) needs
// more: with 16, a third of its frees evicted a mapping that a later
// request had to map and fault in afresh (82K page faults, 1.3 s); with 32,
// 49K faults, 0.8 s and 10 MiB less peak RSS; 64 and 128 measured the same.
constexpr unsigned kCacheEntries = 32;
constexpr unsigned kRecent = 64;

constinit Mutex g_lock;
uint64_t g_secret = 0;
CacheEntry g_cache[kCacheEntries];
unsigned g_cached = 0;
size_t g_cached_bytes = 0;
size_t g_live_blocks = 0;
size_t g_live_bytes = 0;
size_t g_max_blocks = 0;
size_t g_max_bytes = 0;
std::atomic<size_t> g_live_count{0};
uptr g_recent[kRecent];
unsigned g_recent_next = 0;

inline Header* header_of(const void* mem) { return ptr<Header>(addr(mem) - kHeaderSize); }

// The cookie covers every field, so an overflow into the header from below
// is caught before its values are trusted.
inline uptr cookie_for(const Header* h) {
  uptr x = addr(h) ^ g_secret;
  x = (x ^ h->map_size) * 0x9e3779b97f4a7c15ull;
  x = (x ^ h->offset) * 0xbf58476d1ce4e5b9ull;
  return x ^ h->head ^ (x >> 29);
}

// Mapping bytes needed for n usable bytes at this alignment (<= a page: the
// padding is known; above a page the mapping's own alignment is unknown).
bool mapping_size_for(size_t n, size_t align, size_t* out) {
  size_t page = os::page_size();
  size_t slack = align <= 16 ? 0 : align <= page ? align_up(kHeaderSize, align) - kHeaderSize : align;
  size_t need;
  if (__builtin_add_overflow(n, kHeaderSize + slack, &need) || need > kMaxRequest) return false;
  *out = align_up(need, page);
  return true;
}

// The head of a much bigger cached mapping that a growing block takes (see
// alloc); the tail stays cached, for resize() to grow into.
size_t grow_keep(size_t need) { return align_up(need * 2, os::page_size()); }

// Writes the header into a mapping and registers it. The block's usable
// extent (head) covers `used` bytes of the mapping; a reused mapping may be
// bigger, its resident slack left for the block to grow into by realloc.
// nullptr when the page map cannot map a leaf for the header: a block free()
// could not find must not be handed out.
// `registered`: the header's page-map entry already names it (a cached
// mapping reused with its header where it was).
void* place(uptr base, size_t size, size_t used, size_t align, bool registered = false) {
  uptr mem = align_up(base + kHeaderSize, align < 16 ? 16 : align);
  Header* h = header_of(ptr(mem));
  h->map_size = size;
  h->offset = addr(h) - base;
  h->head = (base + used - addr(h)) | kMappedFlag;
  h->cookie = cookie_for(h);
  if (!registered && !pagemap::set_range(addr(h), addr(h) + 1, pagemap::kLargeHead)) return nullptr;
  return ptr(mem);
}
// Where place() puts the header of a block at this alignment.
uptr header_at(uptr base, size_t align) { return align_up(base + kHeaderSize, align < 16 ? 16 : align) - kHeaderSize; }

void unmap_block(uptr base, size_t size, uptr hdr) {
  pagemap::set_range(hdr, hdr + 1, pagemap::kNone);
  os::unmap(ptr(base), size);
  stats::count(stats::k_large_unmaps);
}

// The index of the cache entry freed longest ago (lock held, cache not empty).
unsigned oldest() {
  unsigned o = 0;
  for (unsigned i = 1; i < g_cached; ++i)
    if (g_cache[i].freed_ms < g_cache[o].freed_ms) o = i;
  return o;
}

// Removes cache entry i (lock held), returning it.
CacheEntry take(unsigned i) {
  CacheEntry e = g_cache[i];
  g_cache[i] = g_cache[g_cached - 1];
  __atomic_store_n(&g_cached, g_cached - 1, __ATOMIC_RELAXED);  // read unlocked as a hint
  __atomic_store_n(&g_cached_bytes, g_cached_bytes - e.size, __ATOMIC_RELAXED);  // read unlocked (cached_bytes)
  return e;
}

// Adds an entry (lock held, a slot free).
void put(const CacheEntry& e) {
  g_cache[g_cached] = e;
  __atomic_store_n(&g_cached, g_cached + 1, __ATOMIC_RELAXED);
  __atomic_store_n(&g_cached_bytes, g_cached_bytes + e.size, __ATOMIC_RELAXED);
}

// Entries held their time go back to the kernel (lock held). Returns how
// many were moved into out[] for unmapping after the lock is dropped.
unsigned expire(uint64_t now, CacheEntry* out) {
  unsigned n = 0;
  for (unsigned i = 0; i < g_cached;) {
    // (freed_ms may be ahead of now: a clock read by another thread.)
    if (now >= g_cache[i].freed_ms && now - g_cache[i].freed_ms >= g_cache[i].hold_ms) out[n++] = take(i);
    else ++i;
  }
  return n;
}

// Unmaps cache entries taken out under the lock, remembering their block
// addresses for double-free reports.
void release_all(const CacheEntry* list, unsigned n) {
  for (unsigned i = 0; i < n; ++i) {
    uptr hdr = list[i].hdr;
    if (!hdr) {  // the tail of a split mapping: never a block
      os::unmap(ptr(list[i].base), list[i].size);
      stats::count(stats::k_large_unmaps);
      continue;
    }
    {
      LockGuard guard(g_lock);
      g_recent[g_recent_next++ % kRecent] = hdr + kHeaderSize;
    }
    unmap_block(list[i].base, list[i].size, hdr);
  }
}

void note_live(size_t size) {
  ++g_live_blocks;
  g_live_bytes += size;
  if (g_live_blocks > g_max_blocks) g_max_blocks = g_live_blocks;
  if (g_live_bytes > g_max_bytes) g_max_bytes = g_live_bytes;
  g_live_count.store(g_live_blocks, std::memory_order_relaxed);
}

void (*g_growth_hook)(size_t) = nullptr;

void grown_by(size_t bytes) {
  if (g_growth_hook) g_growth_hook(bytes);
}

// The index of the cached split-off tail that starts at `end` (lock held),
// or -1.
int tail_at(uptr end) {
  for (unsigned i = 0; i < g_cached; ++i)
    if (g_cache[i].hdr == 0 && g_cache[i].base == end) return static_cast<int>(i);
  return -1;
}

// Grows the mapping [base, base + size) of a live block into the split-off
// tail cached right after it, if there is one and it has not expired (on
// the clock itself: a program that calls malloc rarely may not have moved
// recent_ms): by what the block needs and at least half its size again (the
// rest stays cached). Returns the mapping's new size. The tail's pages are
// resident as they were.
size_t absorb_tail(uptr base, size_t size, size_t need) {
  CacheEntry expired[kCacheEntries];
  unsigned nexpired = 0;
  size_t grown = size;
  {
    LockGuard guard(g_lock);
    nexpired = expire(os::now_ms(), expired);
    if (int i = tail_at(base + size); i >= 0) {
      CacheEntry tail = take(static_cast<unsigned>(i));
      size_t want = std::max(need, align_up(size + size / 2, os::page_size())) - size;
      if (tail.size >= want + kMinSplit) {
        put(CacheEntry{tail.base + want, tail.size - want, 0, tail.freed_ms, tail.hold_ms});
        tail.size = want;
      }
      stats::count_locked(stats::k_large_cache_hits);
      g_live_bytes += tail.size;
      if (g_live_bytes > g_max_bytes) g_max_bytes = g_live_bytes;
      grown = size + tail.size;
    }
  }
  release_all(expired, nexpired);
  return grown;
}

}  // namespace

void init(uint64_t secret) { g_secret = secret | 1; }
void set_growth_hook(void (*hook)(size_t)) { g_growth_hook = hook; }

void* alloc(size_t n, size_t align, bool zero, bool growing) {
  size_t need;
  if (!mapping_size_for(n, align, &need)) return nullptr;
  CacheEntry expired[kCacheEntries];
  unsigned nexpired = 0;
  CacheEntry reuse{0, 0, 0, 0, 0};
  // The reused mapping needs no system call and keeps its header where it
  // was: its page-map entry stays, and it is counted live under this lock
  // (a cached 256 KiB malloc/free pair took two page-map writes and the lock
  // twice more).
  bool settled = false;
  {
    LockGuard guard(g_lock);
    uint64_t now = os::recent_ms();
    nexpired = expire(now, expired);
    // Best fit; failing that, the largest entry if it is worth growing.
    int best = -1, largest = -1;
    for (unsigned i = 0; i < g_cached; ++i) {
      if (g_cache[i].size >= need && (best < 0 || g_cache[i].size < g_cache[best].size)) best = static_cast<int>(i);
      if (largest < 0 || g_cache[i].size > g_cache[largest].size) largest = static_cast<int>(i);
    }
    if (best < 0 && largest >= 0 && g_cache[largest].size >= need / 4) best = largest;
    // A growing block takes the largest (it is split below): room to grow
    // into without a move. Best fit handed a buffer grown again to its old
    // size the small leftover tail of its old mapping, then moved it.
    if (growing && largest >= 0 && g_cache[largest].size >= need) best = largest;
    if (best >= 0) {
      reuse = take(static_cast<unsigned>(best));
      stats::count_locked(stats::k_large_cache_hits);
      if (growing && reuse.size >= grow_keep(need) + kMinSplit) {
        // A block that realloc moves up from the heap takes twice its need,
        // and the rest stays cached right after it: resize() grows the block
        // into it, dirty pages and all, with no system call, while a block
        // that stops growing leaves it to decay or to the next request.
        // Taken whole, the tail stayed resident for as long as the block
        // lived (CPython's json.tool on a 23 MB file grew a list into its
        // freed input's mapping: peak RSS 166 MB, glibc 143); purged, a
        // buffer grown again to its old size faulted every page once more
        // (a 16 MiB buffer grown by 64 KiB reallocs: 3.7x glibc's time).
        size_t keep = grow_keep(need);
        put(CacheEntry{reuse.base + keep, reuse.size - keep, 0, os::now_ms(), config::options().decay_ms / kTailHoldDiv});
        reuse.size = keep;
      } else if (!growing && reuse.size >= 2 * need && reuse.size <= 8 * need && reuse.size >= need + kMinSplit) {
        // Two to eight times the need: the block takes the head, and the
        // tail stays cached as a mapping of its own (in the slot just
        // freed). Handed out whole, its dirty tail stayed resident unused:
        // GNU sort -S 50M frees its 50 MB buffer, then asks for three 17 MB
        // ones, and the first kept all 50 MB (peak RSS 87 MB, now 53 as
        // glibc's). Splitting from 1.5x, or any 128 KiB of excess, left
        // tails too small for the next big request (spectrum workload: 50k
        // -> 59k-89k page faults, up to 2x the time); above 8x the branch
        // below gives most of it back instead.
        put(CacheEntry{reuse.base + need, reuse.size - need, 0, reuse.freed_ms, reuse.hold_ms});
        reuse.size = need;
      }
      // (The conditions of the remaps below, negated.)
      settled = reuse.hdr && reuse.hdr == header_at(reuse.base, align) && reuse.size >= need &&
                (growing || reuse.size <= need * 8);
      if (settled) note_live(reuse.size);
      else if (reuse.hdr) pagemap::set_range(reuse.hdr, reuse.hdr + 1, pagemap::kNone);
    }
  }
  release_all(expired, nexpired);

  uptr base = reuse.base;
  size_t size = reuse.size;
  size_t dirty = 0;  // leading bytes of the mapping that may hold old data
  size_t paid = 0;   // fresh bytes announced to the growth hook
  if (base) {
    dirty = size;
    if (size > need * 8 && !growing) {
      // Far too big: give most of the tail back, keeping room to grow (a
      // block that crossed the threshold by realloc usually keeps growing).
      if (os::remap(ptr(base), size, need * 2, false)) size = need * 2;
    } else if (size < need) {
      // Grow it: its resident pages are kept, only the new tail faults.
      grown_by(paid = need - size);
      void* moved = os::remap(ptr(base), size, need, true);
      stats::count(stats::k_large_remaps);
      if (moved) {
        base = addr(moved);
        size = need;
      } else {
        os::unmap(ptr(base), size);
        base = 0;
      }
    }
  }
  if (!base) {
    if (need > paid) grown_by(need - paid);
    void* p = config::options().large_populate ? os::map_populated(need) : os::map(need);
    if (!p) return nullptr;
    if (int thp = config::thp_advice()) os::advise(p, need, thp);
    stats::count(stats::k_large_maps);
    base = addr(p);
    size = need;
    dirty = 0;
  }
  void* mem = place(base, size, need < size ? need : size, align, settled);
  if (!mem) {
    // (Near an address-space limit, RLIMIT_AS: the mapping fitted, a leaf did not.)
    os::unmap(ptr(base), size);
    return nullptr;
  }
  if (!settled) {
    LockGuard guard(g_lock);
    note_live(size);
  }
  if (zero && dirty > addr(mem) - base) {
    size_t stale = dirty - (addr(mem) - base);
    std::memset(mem, 0, stale < n ? stale : n);
  }
  return mem;
}

bool owns(const void* mem) {
  uptr a = addr(mem);
  if (a < kHeaderSize || (a & 15)) return false;
  uptr hdr = a - kHeaderSize;
  if (pagemap::get(hdr) != pagemap::kLargeHead) return false;
  const Header* h = ptr<Header>(hdr);
  return h->cookie == cookie_for(h);
}

void free(void* mem, const char* func) {
  Header* h = header_of(mem);
  uptr hdr = addr(h);
  if (h->cookie != cookie_for(h)) report::corrupted(func, mem, "damaged mmapped block header");
  uptr base = hdr - h->offset;
  size_t size = h->map_size;
  size_t chunk = h->head & ~size_t{7};

  config::Tunables& t = config::tunables();
  if (t.dynamic_threshold.load(std::memory_order_relaxed) &&
      chunk > t.mmap_threshold.load(std::memory_order_relaxed) && chunk <= kMaxDynamicThreshold) {
    // glibc: freeing a mapped block raises the threshold to its size, and
    // the trim threshold to twice that.
    t.mmap_threshold.store(chunk, std::memory_order_relaxed);
    t.trim_threshold.store(2 * chunk, std::memory_order_relaxed);
  }

  // (Saturated: 2^44 MiB and up once wrapped to a budget of 0 or a few
  // bytes, the cache off with no word said.)
  size_t mb = config::options().mmap_cache_mb;
  size_t budget = mb > (~size_t{0} >> 20) ? ~size_t{0} : mb << 20;
  CacheEntry evicted[kCacheEntries + 1];
  unsigned nevicted = 0;
  bool cached = false;
  {
    LockGuard guard(g_lock);
    --g_live_blocks;
    g_live_bytes -= size;
    g_live_count.store(g_live_blocks, std::memory_order_relaxed);
    uint64_t now = os::recent_ms();
    nevicted = expire(now, evicted);
    if (size <= budget && size <= kMaxCached) {
      // Make room: evict the oldest entries until this one fits.
      while (g_cached == kCacheEntries || g_cached_bytes + size > budget) evicted[nevicted++] = take(oldest());
      h->cookie = cookie_for(h) ^ kCachedMark;
      // The cached tail of the same mapping (see absorb_tail) rejoins it.
      if (int i = tail_at(base + size); i >= 0) size += take(static_cast<unsigned>(i)).size;
      put(CacheEntry{base, size, hdr, now, config::options().decay_ms});
      cached = true;
    } else {
      g_recent[g_recent_next++ % kRecent] = addr(mem);
    }
  }
  release_all(evicted, nevicted);
  if (!cached) unmap_block(base, size, hdr);
}

void* resize(void* mem, size_t n) {
  Header* h = header_of(mem);
  uptr hdr = addr(h);
  size_t offset = h->offset;
  uptr base = hdr - offset;
  size_t size = h->map_size;
  size_t need;
  if (n > kMaxRequest - offset - kHeaderSize || !mapping_size_for(n + offset, 16, &need)) return nullptr;
  if (need > size) {
    size_t grown = absorb_tail(base, size, need);
    if (grown != size) {
      h->map_size = size = grown;
      h->cookie = cookie_for(h);
    }
  }
  // Within the mapping, unless the block shrinks below a quarter of what it
  // used: move the block's end and keep the pages, which are resident (a
  // later growth would fault them in again).
  size_t used = (h->head & ~size_t{7}) + offset;
  if (need <= size && need >= used / 4) {
    h->head = (need - offset) | kMappedFlag;
    h->cookie = cookie_for(h);
    return mem;
  }
  // The pages the block will use (not the slack asked for below, which it
  // may never touch) are what it grows by.
  if (need > size) grown_by(need - size);
  // Growing: ask for half as much again, so growth in small steps costs a
  // logarithmic number of mremap calls (untouched pages cost nothing).
  if (need > size && need < size + size / 2) {
    size_t geometric = align_up(size + size / 2, os::page_size());
    if (geometric > need && geometric - offset - kHeaderSize <= kMaxRequest) need = geometric;
  }
  // In place if the kernel can; else into a reservation whose header page
  // the page map registered first: a block whose header it cannot register
  // (no leaf under RLIMIT_AS) must not be handed out, and once mremap has
  // moved the block there is no way back.
  void* moved = os::remap(ptr(base), size, need, false);
  if (!moved) {
    size_t got = need;
    void* dest = os::reserve(&got, need);
    if (!dest) return nullptr;
    uptr dhdr = addr(dest) + offset;
    if (!pagemap::set_range(dhdr, dhdr + 1, pagemap::kLargeHead)) {
      os::unmap(dest, need);
      return nullptr;
    }
    // The old header's entry goes first: once mremap has moved the block,
    // another thread's new mapping may land on the old range and register
    // its header at this very address (clearing it afterwards wiped that:
    // "free(): invalid pointer" on a live block, 5 runs in 10 of a 4-thread
    // realloc/trim stress).
    pagemap::set_range(hdr, hdr + 1, pagemap::kNone);
    moved = os::remap_to(ptr(base), size, need, dest);
    if (!moved) {
      pagemap::set_range(hdr, hdr + 1, pagemap::kLargeHead);
      pagemap::set_range(dhdr, dhdr + 1, pagemap::kNone);
      os::unmap(dest, need);
      return nullptr;
    }
  }
  stats::count(stats::k_large_remaps);
  uptr nbase = addr(moved);
  uptr nhdr = nbase + offset;
  Header* nh = ptr<Header>(nhdr);
  nh->map_size = need;
  nh->head = (need - offset) | kMappedFlag;
  nh->cookie = cookie_for(nh);
  LockGuard guard(g_lock);
  g_live_bytes += need;
  g_live_bytes -= size;
  if (g_live_bytes > g_max_bytes) g_max_bytes = g_live_bytes;
  return ptr(nhdr + kHeaderSize);
}

size_t usable_size(const void* mem) {
  const Header* h = header_of(mem);
  return (h->head & ~size_t{7}) - kHeaderSize;
}

bool advise(void* mem, size_t offset, size_t len, int advice) {
  size_t usable = usable_size(mem);
  if (offset > usable || len > usable - offset) return false;
  size_t page = os::page_size();
  uptr begin = align_down(addr(mem) + offset, page);
  uptr end = align_up(addr(mem) + offset + len, page);
  // The first page holds the header: never let DONTNEED-like advice zero it.
  if (begin < align_up(addr(mem), page) && (advice == MADV_DONTNEED || advice == MADV_FREE))
    begin = align_up(addr(mem), page);
  if (end <= begin) return true;
  return os::advise(ptr(begin), end - begin, advice);
}

bool recently_unmapped(const void* mem) {
  uptr a = addr(mem);
  if (a >= kHeaderSize && !(a & 15) && pagemap::get(a - kHeaderSize) == pagemap::kLargeHead) {
    const Header* h = header_of(mem);
    if (h->cookie == (cookie_for(h) ^ kCachedMark)) return true;  // freed, still cached
  }
  LockGuard guard(g_lock);
  for (uptr r : g_recent)
    if (r == addr(mem)) return true;
  return false;
}

size_t trim() {
  CacheEntry all[kCacheEntries];
  unsigned n = 0;
  size_t bytes = 0;
  {
    LockGuard guard(g_lock);
    while (g_cached) {
      all[n] = take(0);
      bytes += all[n++].size;
    }
  }
  release_all(all, n);
  return bytes;
}

size_t cached_bytes() { return __atomic_load_n(&g_cached_bytes, __ATOMIC_RELAXED); }

size_t release_oldest(size_t bytes) {
  if (__atomic_load_n(&g_cached, __ATOMIC_RELAXED) == 0) return 0;  // a hint: most calls find none
  CacheEntry out[kCacheEntries];
  unsigned n = 0;
  size_t released = 0;
  {
    LockGuard guard(g_lock);
    while (g_cached && released < bytes) {
      unsigned o = oldest();
      if (g_cache[o].size / 2 > bytes - released) break;  // not yet: see large.h
      out[n] = take(o);
      released += out[n++].size;
    }
  }
  release_all(out, n);
  return released;
}

void decay(uint64_t now) {
  CacheEntry expired[kCacheEntries];
  unsigned n = 0;
  {
    LockGuard guard(g_lock);
    if (g_cached == 0) return;
    n = expire(now, expired);
  }
  release_all(expired, n);
}

Snapshot snapshot() {
  LockGuard guard(g_lock);
  return Snapshot{g_live_blocks, g_live_bytes, g_max_blocks, g_max_bytes, g_cached, g_cached_bytes};
}

size_t live_blocks() { return g_live_count.load(std::memory_order_relaxed); }

void lock_for_fork() { g_lock.lock(); }
void unlock_for_fork() { g_lock.unlock(); }
void reset_for_fork_child() { g_lock.reset_after_fork(); }

}  // namespace lm::large
