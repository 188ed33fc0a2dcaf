// stack.cpp: stack capture, the stack depot and symbolisation for redzone
// reports. libmalloc may depend on libc only, so there is no unwinder:
// capture walks frame-pointer records where they look valid and otherwise
// scans the stack for return addresses (a word pointing into an executable
// PT_LOAD segment just after a call instruction). Module ranges come from
// dl_iterate_phdr, cached; names from dladdr (.dynsym) or the module's own
// .symtab, read from its file at report time. Nothing here allocates.
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/lock.h"
#include "redzone/internal.h"

// glibc (the loader, or libc.a when linked statically): near the top of
// the main thread's stack.
extern "C" void* __libc_stack_end;

namespace lm::redzone::stack {

namespace {

// ---- executable ranges of loaded modules ----

constexpr unsigned kMaxRanges = 500;
struct ExecRange {
  uptr lo, hi;
};
// Every 1 MiB chunk of address space that holds executable code, in an
// open-addressing set: most stack words (heap pointers, numbers) are
// rejected by one probe before the binary search over ranges.
constexpr unsigned kChunkShift = 20;
constexpr unsigned kChunkSlots = 4096;
struct ModuleCache {
  unsigned long long adds, subs;
  uptr min, max;
  unsigned n;
  ExecRange r[kMaxRanges];  // sorted by lo
  uint32_t chunks[kChunkSlots];  // chunk number + 1; 0: empty
  // libmalloc.so's own code, when it is a module of its own (not linked
  // into the program): {0, 0} otherwise. The loader's code, {0, 0} when
  // there is none (a static program).
  ExecRange own;
  ExecRange loader;
  // The modules' readable segments without code (data, RELRO, GOT), sorted:
  // where call_target may read a PLT entry's GOT slot.
  unsigned nd;
  ExecRange data[kMaxRanges];
};

void insert_sorted(ExecRange* a, unsigned* n, ExecRange r) {
  unsigned j = (*n)++;
  while (j > 0 && a[j - 1].lo > r.lo) {
    a[j] = a[j - 1];
    --j;
  }
  a[j] = r;
}

unsigned chunk_slot(uptr chunk) { return static_cast<unsigned>((chunk * 0x9e3779b97f4a7c15ull) >> 52) & (kChunkSlots - 1); }

void add_chunks(ModuleCache* c, const ExecRange& r) {
  for (uptr chunk = r.lo >> kChunkShift; chunk <= (r.hi - 1) >> kChunkShift; ++chunk) {
    auto key = static_cast<uint32_t>(chunk + 1);
    unsigned i = chunk_slot(chunk), probes = 0;
    while (c->chunks[i] != 0 && c->chunks[i] != key && probes++ < kChunkSlots) i = (i + 1) & (kChunkSlots - 1);
    c->chunks[i] = key;
  }
}

LM_FAST_PATH bool maybe_code(const ModuleCache* c, uptr v) {
  uptr chunk = v >> kChunkShift;
  auto key = static_cast<uint32_t>(chunk + 1);
  for (unsigned i = chunk_slot(chunk), probes = 0; probes < kChunkSlots; i = (i + 1) & (kChunkSlots - 1), ++probes) {
    if (c->chunks[i] == key) return true;
    if (c->chunks[i] == 0) return false;
  }
  return false;
}
constexpr size_t kCacheBytes = align_up(sizeof(ModuleCache), 4096);

std::atomic<ModuleCache*> g_modules{nullptr};
constinit Mutex g_modules_lock;
std::atomic<uint64_t> g_modules_checked_ms{0};

int collect_exec(struct dl_phdr_info* info, size_t, void* data) {
  auto* c = static_cast<ModuleCache*>(data);
  c->adds = info->dlpi_adds;
  c->subs = info->dlpi_subs;
  // The vDSO never calls malloc, and it sits next to the main stack: leaving
  // it out lets the min/max test reject every stack address at once.
  if (info->dlpi_name && std::strstr(info->dlpi_name, "linux-vdso")) return 0;
  for (unsigned i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uptr lo = info->dlpi_addr + ph.p_vaddr;
    ExecRange r{lo, lo + ph.p_memsz};
    if (!(ph.p_flags & PF_X)) {
      if ((ph.p_flags & PF_R) && c->nd < kMaxRanges) insert_sorted(c->data, &c->nd, r);
      continue;
    }
    if (c->n >= kMaxRanges) continue;
    uptr self = addr(reinterpret_cast<const void*>(&collect_exec));
    if (info->dlpi_name && info->dlpi_name[0] && self >= r.lo && self < r.hi) c->own = r;
    if (info->dlpi_name && std::strstr(info->dlpi_name, "/ld-linux")) c->loader = r;
    insert_sorted(c->r, &c->n, r);
  }
  return 0;
}

int read_counts(struct dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<unsigned long long*>(data);
  out[0] = info->dlpi_adds;
  out[1] = info->dlpi_subs;
  return 1;
}

// In a forked child, dl_iterate_phdr may wait for good: it takes the
// loader's dl_load_write_lock, which a parent thread inside dlopen at the
// fork holds in the child forever (glibc 2.36 does not reset it), and a
// child that only mallocs hung in its first stack capture. So after a fork
// the module cache is trusted as it is, until the loader's public list of
// modules (_r_debug, lock-free, as debuggers read it) shows a change: then
// the child itself loaded or unloaded a module, its loader works, and the
// list is read again as usual.
std::atomic<bool> g_loader_suspect{false};
uint64_t g_fork_signature = 0;

uint64_t link_map_signature() {
  uint64_t sig = 0;
  unsigned n = 0;
  for (const link_map* m = _r_debug.r_map; m && n < 100000; m = m->l_next, ++n)
    sig = (sig ^ m->l_addr ^ addr(m)) * 0x9e3779b97f4a7c15ull;
  return sig ^ n;
}

// May dl_iterate_phdr be called?
bool loader_usable() {
  if (LM_LIKELY(!g_loader_suspect.load(std::memory_order_relaxed))) return true;
  if (link_map_signature() == g_fork_signature) return false;
  g_loader_suspect.store(false, std::memory_order_relaxed);
  return true;
}

// True when modules were loaded or unloaded since c was built: one call
// into the loader's list, which stops at its first entry.
bool modules_changed(const ModuleCache* c) {
  unsigned long long counts[2] = {0, 0};
  dl_iterate_phdr(read_counts, counts);
  return counts[0] != c->adds || counts[1] != c->subs;
}

}  // namespace
void (*g_on_walk)() = nullptr;
namespace {

// Rebuilds the cache. A replaced cache is left mapped on purpose: another
// thread may be reading it, and rebuilds happen only when the set of loaded
// modules changed (dlopen/dlclose), so the few pages left behind are bounded.
void refresh_modules() {
  if (!g_modules_lock.try_lock()) return;  // someone else is refreshing
  ModuleCache* old = g_modules.load(std::memory_order_acquire);
  unsigned long long counts[2] = {0, 0};
  if (old) dl_iterate_phdr(read_counts, counts);
  if (!old || counts[0] != old->adds || counts[1] != old->subs) {
    if (auto* c = static_cast<ModuleCache*>(os::map(kCacheBytes))) {
      dl_iterate_phdr(collect_exec, c);
      if (c->n == 0) {
        // Too early (a static program's libc start-up, before its module
        // list is set up): publish nothing, so that the next capture retries.
        os::unmap(c, kCacheBytes);
        g_modules_lock.unlock();
        return;
      }
      c->min = c->n ? c->r[0].lo : 1;
      c->max = 0;
      for (unsigned i = 0; i < c->n; ++i) {
        if (c->r[i].hi > c->max) c->max = c->r[i].hi;
        add_chunks(c, c->r[i]);
      }
      g_modules.store(c, std::memory_order_release);
      if (!old) {
        // libc's dladdr calls into the loader through a lazily bound PLT
        // slot: bound now, so that a report symbolised on a small alternate
        // signal stack does not also run the loader's symbol lookup (a
        // report from a handler on a SIGSTKSZ stack overflowed it).
        Dl_info info;
        dladdr(reinterpret_cast<void*>(&refresh_modules), &info);
      }
    }
  }
  g_modules_lock.unlock();
}

LM_FAST_PATH const ExecRange* find_range(const ModuleCache* c, uptr v) {
  if (v < c->min || v >= c->max || !maybe_code(c, v)) return nullptr;
  unsigned lo = 0, hi = c->n;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    if (c->r[mid].lo <= v) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return nullptr;
  const ExecRange* r = &c->r[lo - 1];
  return v < r->hi ? r : nullptr;
}

// Length of a ModRM-addressed operand (ModRM, SIB, displacement) in bytes.
unsigned modrm_length(uint8_t modrm, uint8_t sib) {
  unsigned mod = modrm >> 6, rm = modrm & 7;
  if (mod == 3) return 1;
  if (mod == 0) {
    if (rm == 4) return (sib & 7) == 5 ? 6 : 2;
    return rm == 5 ? 5 : 1;
  }
  if (mod == 1) return rm == 4 ? 3 : 2;
  return rm == 4 ? 6 : 5;
}

// True when v points into an executable segment right after a call: E8
// rel32, or FF /2 with any addressing form (call reg, call [mem]).
LM_FAST_PATH bool is_return_address(const ModuleCache* c, uptr v) {
  const ExecRange* r = find_range(c, v);
  if (!r) return false;
  const uint8_t* code = ptr<const uint8_t>(v);
  if (v - 5 >= r->lo && code[-5] == 0xe8) return true;
  for (unsigned k = 2; k <= 7; ++k) {
    if (v - k < r->lo || code[-static_cast<int>(k)] != 0xff) continue;
    uint8_t modrm = code[1 - static_cast<int>(k)];
    if (((modrm >> 3) & 7) != 2) continue;
    uint8_t sib = k >= 3 ? code[2 - static_cast<int>(k)] : 0;
    if (modrm_length(modrm, sib) == k - 1) return true;
  }
  return false;
}

// Is [a, a+8) inside one of the modules' readable data segments?
bool in_data(const ModuleCache* c, uptr a) {
  unsigned lo = 0, hi = c->nd;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    if (c->data[mid].lo <= a) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && a + 8 <= c->data[lo - 1].hi && a + 8 > a;
}

// The function a direct call (E8 rel32) just before return address v calls,
// through its PLT entry when it calls one (endbr64, bnd, jmp *GOT(%rip): the
// bound address in the GOT); 0 when it is not a direct call. The bytes may be
// data in a code segment (a constant table, a stray E8 before a code
// pointer): the GOT slot is read only inside a module's readable data
// segment (an unchecked read of one crashed), and the address found there
// must be code. (No syscall to read it safely: a strict seccomp filter
// would kill the program for it.)
uptr call_target(const ModuleCache* c, uptr v) {
  const auto* code = ptr<const uint8_t>(v);
  if (!find_range(c, v - 5) || code[-5] != 0xe8) return 0;
  int32_t rel;
  std::memcpy(&rel, code - 4, sizeof rel);
  uptr t = v + static_cast<uptr>(static_cast<intptr_t>(rel));
  if (!find_range(c, t) || !find_range(c, t + 10)) return 0;
  const auto* s = ptr<const uint8_t>(t);
  unsigned k = 0;
  if (s[0] == 0xf3 && s[1] == 0x0f && s[2] == 0x1e && s[3] == 0xfa) k = 4;  // endbr64
  if (s[k] == 0xf2) ++k;                                                   // bnd
  if (s[k] != 0xff || s[k + 1] != 0x25) return t;
  int32_t disp;
  std::memcpy(&disp, s + k + 2, sizeof disp);
  uptr slot = t + k + 6 + static_cast<uptr>(static_cast<intptr_t>(disp));
  if (!in_data(c, slot)) return 0;
  uptr bound = *ptr<const uptr>(slot);
  return find_range(c, bound) ? bound : 0;
}
// A function is taken to hold `ret` when `ret` lies this close above its start.
constexpr uptr kMaxCallee = 64 * 1024;

// ---- the calling thread's stack ----

// The calling thread's own stack (own_stack_lookup): [t_stack_lo,
// t_stack_hi); both 0 until looked up, 1 when that failed. t_stack_grows:
// the main thread's, whose low end moves down. [t_other_lo, t_other_hi): a
// mapping below it found not to be the stack (own_stack_grew).
thread_local uptr t_stack_lo LM_TLS_IE = 0;
thread_local uptr t_stack_hi LM_TLS_IE = 0;
thread_local bool t_stack_grows LM_TLS_IE = false;
thread_local uptr t_other_lo LM_TLS_IE = 0;
thread_local uptr t_other_hi LM_TLS_IE = 0;
// A thread's descriptor (struct pthread) lies at the top of its stack,
// from pthread_self() up: glibc tells its size to debuggers (libthread_db)
// in _thread_db_sizeof_pthread (0x940 in glibc 2.36). Nothing above it is
// the thread's: a mapping next to the stack that the kernel merged into its
// line in /proc/self/maps, or a guard page that madvise(MADV_GUARD_INSTALL)
// put there (which no line shows), is not read. Reading up to a page past
// pthread_self() made a JVM's new thread fault on its neighbour's guard
// page, and a thread that called exit() fault on a page above its own stack
// that the program had protected since. (Weak: a libc without it gets
// kDescriptorFallback, glibc 2.36's size.)
extern "C" const uint32_t _thread_db_sizeof_pthread __attribute__((weak));
constexpr size_t kDescriptorFallback = 0x940;
size_t descriptor_size() {
  const uint32_t* size = &_thread_db_sizeof_pthread;
  return size && *size >= 256 && *size <= 65536 ? *size : kDescriptorFallback;
}
// Number + 1; 0: none yet. 32 bits: with 16, the 65536th thread drew 0 and
// took a new number at every call. Reports show it modulo 65536 (headers
// keep 16 bits).
thread_local uint32_t t_thread_no LM_TLS_IE = 0;
std::atomic<uint32_t> g_threads{0};

uptr parse_hex(const char*& s) {
  uptr v = 0;
  for (;; ++s) {
    char ch = *s;
    if (ch >= '0' && ch <= '9') v = v * 16 + static_cast<uptr>(ch - '0');
    else if (ch >= 'a' && ch <= 'f') v = v * 16 + static_cast<uptr>(ch - 'a' + 10);
    else return v;
  }
}

// The /proc/self/maps line holding a: [lo, hi). Reads with a stack buffer.
// One line of /proc/self/maps: [lo, hi), the four permission characters,
// and whether it is anonymous (no path; [heap], [stack] and the like are
// not).
struct MapLine {
  uptr lo, hi;
  char perms[5];
  bool anonymous;
};

// The address space's mappings: /proc/thread-self/maps (Linux 3.17), which
// still answers once the main thread has called pthread_exit, where
// /proc/self/maps (the main thread's) reads empty (the other threads'
// stacks went unscanned: their blocks reported as leaks).
int open_maps() {
  int fd = os::open_read("/proc/thread-self/maps");
  return fd >= 0 ? fd : os::open_read("/proc/self/maps");
}

// Calls f(const MapLine&) for each line until it returns false. Reads with
// a stack buffer: no allocation.
template <class F>
void for_each_mapping(F f) {
  int fd = open_maps();
  if (fd < 0) return;
  // Small: a first capture may run on an 8 KiB alternate signal stack, of
  // which the kernel's signal frame takes 3.5 KiB with AVX-512.
  char buf[768];
  char line[160];
  size_t line_len = 0;
  bool go = true;
  long n;
  while (go && (n = os::read(fd, buf, sizeof buf)) > 0) {
    for (long i = 0; i < n && go; ++i) {
      char ch = buf[i];
      if (ch != '\n') {
        if (line_len + 1 < sizeof line) line[line_len++] = ch;
        continue;
      }
      line[line_len] = '\0';
      line_len = 0;
      const char* s = line;
      MapLine m{};
      m.lo = parse_hex(s);
      if (*s != '-') continue;
      ++s;
      m.hi = parse_hex(s);
      if (*s != ' ') continue;
      ++s;
      for (unsigned k = 0; k < 4 && s[k]; ++k) m.perms[k] = s[k];
      // "perms offset dev inode [path]": the path starts after five fields.
      unsigned fields = 0;
      const char* p = s;
      while (*p && fields < 4) {
        while (*p && *p != ' ') ++p;
        while (*p == ' ') ++p;
        ++fields;
      }
      m.anonymous = *p == '\0';
      go = f(m);
    }
  }
  os::close(fd);
}

// The mapping holding `a` through the PROCMAP_QUERY ioctl of the maps file
// (Linux 6.11): the kernel looks the one line up, where reading the file
// formats and parses every line, and the file grows with the threads (a
// thread's first capture read it: with 1000 threads alive, a quarter of
// threads_idle's time in redzone mode). kUnsupported where the kernel does
// not know the ioctl (once and for good) or the call fails otherwise: the
// caller reads the file. Only lo, hi and the permissions are set (not
// `anonymous`).
enum class Query { kFound, kNone, kUnsupported };
std::atomic<bool> g_query_unsupported{false};
Query query_mapping(uptr a, MapLine* out) {
  if (g_query_unsupported.load(std::memory_order_relaxed)) return Query::kUnsupported;
  struct ProcmapQuery {  // struct procmap_query of <linux/fs.h> (not in Debian 12's headers)
    uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
  };
  static_assert(sizeof(ProcmapQuery) == 104);
  constexpr unsigned long kProcmapQuery = 0xc0686611;  // _IOWR('f', 17, struct procmap_query)
  int fd = open_maps();
  if (fd < 0) return Query::kUnsupported;
  ProcmapQuery q{};
  q.size = sizeof q;
  q.query_addr = a;
  long err = os::ioctl(fd, kProcmapQuery, &q);
  os::close(fd);
  if (err == -ENOTTY || err == -EINVAL) g_query_unsupported.store(true, std::memory_order_relaxed);
  if (err == -ENOENT) return Query::kNone;
  if (err != 0) return Query::kUnsupported;
  *out = MapLine{};
  out->lo = q.vma_start;
  out->hi = q.vma_end;
  out->perms[0] = q.vma_flags & 1 ? 'r' : '-';
  out->perms[1] = q.vma_flags & 2 ? 'w' : '-';
  out->perms[2] = q.vma_flags & 4 ? 'x' : '-';
  out->perms[3] = q.vma_flags & 8 ? 's' : 'p';
  return Query::kFound;
}

// The line holding `a`: one ioctl, or a read of the file where the kernel
// has none.
bool mapping_at(uptr a, MapLine* out) {
  if (Query r = query_mapping(a, out); r != Query::kUnsupported) return r == Query::kFound;
  bool found = false;
  for_each_mapping([&](const MapLine& m) {
    if (a < m.lo || a >= m.hi) return true;
    *out = m;
    found = true;
    return false;
  });
  return found;
}

bool find_mapping(uptr a, uptr* lo, uptr* hi, bool* readable = nullptr) {
  MapLine m;
  if (!mapping_at(a, &m)) return false;
  *lo = m.lo;
  *hi = m.hi;
  if (readable) *readable = m.perms[0] == 'r';
  return true;
}

}  // namespace
bool mapping_writable(uptr a, bool* writable) {
  MapLine m;
  if (!mapping_at(a, &m)) return false;
  *writable = m.perms[1] == 'w';
  return true;
}
namespace {

// ---- the depot ----

constexpr size_t kDepotBytes = size_t{256} << 20;  // NORESERVE: ~4M traces of 8 frames
// A 64th of the entries' area (4 MiB of 256) is kept for traces cut to
// their first frame once the rest is full (save).
constexpr size_t kReserveShare = 64;
struct DepotEntry {
  uint32_t next;  // id of the next entry in the bucket (a smaller one); atomic
  uint32_t hash;
  uint32_t n;
  uint32_t pad;
  uptr pc[1];  // n of them
};
// The hash table's buckets: 64K at first, in the depot's mapping; four
// times as many, in a mapping of their own, each time the traces outnumber
// them, up to 4M (16 MiB); the old table's pages go back to the kernel.
// With 64K for good, a program of very many distinct stacks (cppcheck, a deep recursive descent: millions) walked
// chains of 28 entries on average, twice per new trace: 1M allocations from
// new stacks took 10.6 s, 3.9 with 2M buckets (review hV); with 1M from the
// start, a small program's few thousand traces touched a page of buckets
// each (python3 importing 8 modules: 13% slower, 3 MB more).
struct BucketTable {
  uint32_t bits;
  uint32_t pad[3];
  std::atomic<uint32_t> head[1];  // 1 << bits of them
};
constexpr unsigned kFirstBucketBits = 16, kMaxBucketBits = 22;
constexpr size_t table_bytes(unsigned bits) { return 16 + (size_t{4} << bits); }
constexpr size_t kFirstTableBytes = table_bytes(kFirstBucketBits);
std::atomic<char*> g_depot{nullptr};  // the first table, then entries
std::atomic<BucketTable*> g_table{nullptr};
constinit Mutex g_depot_lock;
size_t g_depot_used = 8;  // bytes of the entry area; offset 0 means "none"
size_t g_depot_count = 0;  // entries (g_depot_lock)
size_t g_depot_bytes = 0;  // the mapping's size (g_depot_lock)
// Where the entries may go (g_depot_lock): full traces up to
// g_depot_limit - g_depot_reserve, first frames up to g_depot_limit. Set
// with the mapping, or by depot_room_for_testing.
size_t g_depot_limit = 0, g_depot_reserve = 0;
unsigned g_depot_skips = 0;  // after a failed mapping: captures left before the next try

// The depot's mapping: 256 MiB of address space, or less under an
// address-space limit (halving to 1 MiB). When none can be had, the next
// 4096 saves record nothing before another try: each once retried the
// 256 MiB mmap (360,000 failed calls in one run under ulimit -v).
char* map_depot() {
  if (g_depot_skips > 0) {
    --g_depot_skips;
    return nullptr;
  }
  for (size_t bytes = kDepotBytes; bytes >= (size_t{1} << 20); bytes /= 2)
    if (auto* d = static_cast<char*>(os::map_noreserve(bytes))) {
      g_depot_bytes = bytes;
      g_depot_limit = bytes - kFirstTableBytes;
      g_depot_reserve = g_depot_limit / kReserveShare;
      auto* t = reinterpret_cast<BucketTable*>(d);
      t->bits = kFirstBucketBits;
      g_table.store(t, std::memory_order_release);
      return d;
    }
  g_depot_skips = 4096;
  return nullptr;
}

char* depot_entries(char* d) { return d + kFirstTableBytes; }
const DepotEntry* depot_entry(char* d, uint32_t id) {
  return reinterpret_cast<const DepotEntry*>(depot_entries(d) + size_t{id} * 8);
}

uint32_t hash_trace(const Trace& t) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ t.n;
  for (unsigned i = 0; i < t.n; ++i) {
    h ^= t.pc[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  return static_cast<uint32_t>(h);
}

const DepotEntry* depot_entry_of(uint32_t id) { return depot_entry(g_depot.load(std::memory_order_acquire), id); }

bool same(const DepotEntry* e, uint32_t hash, const Trace& t) {
  if (e->hash != hash || e->n != t.n) return false;
  for (unsigned i = 0; i < t.n; ++i)
    if (e->pc[i] != t.pc[i]) return false;
  return true;
}

// ---- symbolisation (report time only) ----

struct ModuleInfo {
  const char* name;  // path ("" for the main program until resolved)
  uptr bias;         // load bias (dlpi_addr)
  bool found;
};

struct FindModule {
  uptr pc;
  ModuleInfo* out;
};

int find_module_cb(struct dl_phdr_info* info, size_t, void* data) {
  auto* f = static_cast<FindModule*>(data);
  for (unsigned i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uptr lo = info->dlpi_addr + ph.p_vaddr;
    if (f->pc >= lo && f->pc < lo + ph.p_memsz) {
      f->out->name = info->dlpi_name;
      f->out->bias = info->dlpi_addr;
      f->out->found = true;
      return 1;
    }
  }
  return 0;
}

char g_exe_path[512];

const char* module_path(const char* name) {
  if (name && name[0]) return name;
  if (!g_exe_path[0] && os::read_link("/proc/thread-self/exe", g_exe_path, sizeof g_exe_path) < 0 &&
      os::read_link("/proc/self/exe", g_exe_path, sizeof g_exe_path) < 0)
    std::memcpy(g_exe_path, "<main program>", 15);
  return g_exe_path;
}

// Symbol tables of module files, mapped on first use and kept (reports only).
struct SymtabFile {
  char path[256];
  const char* base;
  size_t size;
  bool ok;
};
constexpr unsigned kMaxSymtabFiles = 32;
SymtabFile g_symtab_files[kMaxSymtabFiles];
unsigned g_symtab_count = 0;

const SymtabFile* symtab_file(const char* path) {
  for (unsigned i = 0; i < g_symtab_count; ++i)
    if (std::strcmp(g_symtab_files[i].path, path) == 0) return &g_symtab_files[i];
  if (g_symtab_count == kMaxSymtabFiles || std::strlen(path) >= sizeof(SymtabFile::path)) return nullptr;
  SymtabFile* f = &g_symtab_files[g_symtab_count++];
  std::strcpy(f->path, path);
  f->ok = false;
  int fd = os::open_read(path);
  if (fd < 0) return f;
  f->base = static_cast<const char*>(os::map_file(fd, &f->size));
  os::close(fd);
  f->ok = f->base && f->size >= sizeof(ElfW(Ehdr)) && std::memcmp(f->base, ELFMAG, SELFMAG) == 0;
  return f;
}

// The function containing `offset` (a link-time address) in the file's
// .symtab (or .dynsym), or nullptr.
const char* symtab_lookup(const SymtabFile* f, uptr offset) {
  if (!f || !f->ok) return nullptr;
  auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(f->base);
  if (eh->e_shoff == 0 || eh->e_shoff + size_t{eh->e_shnum} * sizeof(ElfW(Shdr)) > f->size) return nullptr;
  auto* sh = reinterpret_cast<const ElfW(Shdr)*>(f->base + eh->e_shoff);
  for (int pass = 0; pass < 2; ++pass) {
    unsigned want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
    for (unsigned i = 0; i < eh->e_shnum; ++i) {
      if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum) continue;
      const ElfW(Shdr)& strs = sh[sh[i].sh_link];
      if (sh[i].sh_offset + sh[i].sh_size > f->size || strs.sh_offset + strs.sh_size > f->size) continue;
      auto* syms = reinterpret_cast<const ElfW(Sym)*>(f->base + sh[i].sh_offset);
      size_t count = sh[i].sh_size / sizeof(ElfW(Sym));
      for (size_t k = 0; k < count; ++k) {
        const ElfW(Sym)& s = syms[k];
        if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_value == 0) continue;
        if (offset >= s.st_value && offset < s.st_value + (s.st_size ? s.st_size : 1) && s.st_name < strs.sh_size)
          return f->base + strs.sh_offset + s.st_name;
      }
    }
  }
  return nullptr;
}

struct Symbol {
  const char* function;
  const char* module;
  uptr offset;
};

Symbol symbolize(uptr pc) {
  Symbol s{"??", "??", pc};
  ModuleInfo m{nullptr, 0, false};
  FindModule fm{pc, &m};
  dl_iterate_phdr(find_module_cb, &fm);
  Dl_info info;
  std::memset(&info, 0, sizeof info);
  bool have_dl = dladdr(ptr(pc), &info) != 0;
  if (m.found) {
    s.module = module_path(m.name);
    s.offset = pc - m.bias;
  } else if (have_dl && info.dli_fname) {
    s.module = module_path(info.dli_fname);
    s.offset = pc - addr(info.dli_fbase);
  }
  if (have_dl && info.dli_sname && info.dli_saddr) {
    s.function = info.dli_sname;
  } else if (m.found) {
    if (const char* name = symtab_lookup(symtab_file(s.module), s.offset)) s.function = name;
  }
  return s;
}

uptr own_bias() {
  ModuleInfo m{nullptr, 0, false};
  FindModule fm{addr(reinterpret_cast<const void*>(&own_bias)), &m};
  dl_iterate_phdr(find_module_cb, &fm);
  return m.found && m.name && m.name[0] ? m.bias : ~uptr{0};  // ~0: linked into the program
}

}  // namespace

// ---- capture ----

// Every thread's stack mapping, recorded when the thread first looks it up,
// for the leak scan (other_thread_stacks). Entries are never removed: the
// scan skips threads that are gone. Beyond kMaxThreadStacks threads, later
// ones are not recorded (their stacks are not roots).
struct ThreadStackEntry {
  int tid;  // written last (release): 0 while the entry is being filled
  uptr lo, hi;
  uptr self;  // its descriptor (0: the main thread's, not in its stack)
};
// The main thread's descriptor and the mapping that held it when the thread
// looked its stack up (the descriptor written last, release). The scan takes the part of
// that range still in the descriptor's mapping: the kernel merges anonymous
// mappings made next to it into the line, before (a coroutine's stack, which
// may be gone by the scan) and after (our own blocks' chunks).
// The range is kept as distances from the descriptor: this is memory the
// leak scan reads as a root, and a bound stored as an address can point into
// a block (a static program's TLS is in the [heap] line, whose end at the
// first capture lay inside a block allocated later: that block, and all it
// pointed to, was never reported).
uptr g_main_self = 0;  // written last (release)
size_t g_main_tls_below = 0, g_main_tls_above = 0;
constexpr unsigned kMaxThreadStacks = 4096;
ThreadStackEntry g_thread_stacks[kMaxThreadStacks];
std::atomic<unsigned> g_nthread_stacks{0};

// Where in glibc's thread descriptor the kernel keeps the thread's id,
// which it clears when the thread exits (CLONE_CHILD_CLEARTID: what
// pthread_join waits on); glibc sets it to -1 when it caches the stack.
// The same for every thread (a stack of the program's own too), learnt
// from the first that can tell: 0 while unknown; kMixed if two disagreed,
// and then unused.
constexpr uptr kMixed = ~uptr{0};
std::atomic<uptr> g_tid_offset{0};

namespace {

void learn_tid_offset(uptr self, uptr top) {
  int tid = os::gettid();
  uptr end = std::min(top, self + descriptor_size()), found = 0;
  unsigned matches = 0;
  // The kernel says where it will clear the id; else the id is looked for.
  if (uptr at = os::tid_address(); at > self && at + sizeof(int) <= end && *ptr<const int>(at) == tid) {
    found = at - self;
    matches = 1;
  } else {
    // The id field is 8-aligned in glibc's descriptor; a pointer's high
    // half (0x7fXX: a possible id where pid_max is 32768) is at 4 mod 8.
    // A single match at 0 mod 8 is taken; else a single match anywhere.
    uptr found_any = 0;
    unsigned matches_any = 0;
    for (uptr a = self; a + sizeof(int) <= end; a += sizeof(int))
      if (*ptr<const int>(a) == tid) {
        found_any = a - self;
        ++matches_any;
        if ((a - self) % 8 == 0) {
          found = a - self;
          ++matches;
        }
      }
    if (matches != 1) {
      found = found_any;
      matches = matches_any;
    }
  }
  // Still ambiguous: this thread cannot tell; the next one will. (Given up
  // for good here, as it once was, every exited thread's stack was scanned
  // as a live one: their leaks went unreported.)
  if (matches != 1 || found == 0) return;
  uptr known = 0;
  if (!g_tid_offset.compare_exchange_strong(known, found, std::memory_order_acq_rel) && known != found)
    g_tid_offset.store(kMixed, std::memory_order_release);
}

// A glibc thread descriptor at d: its tcb and self words hold d.
bool is_descriptor(uptr d) { return *ptr<const uptr>(d) == d && *ptr<const uptr>(d + 2 * sizeof(uptr)) == d; }

// glibc's descriptor at the top of a thread stack [lo, hi): the highest
// 16-aligned address d within a page and a bit of the top whose tcb and
// self words (d and d + 16) hold d. glibc puts the descriptor at the top of
// the stack block, below only padding: none for its own stacks of whole
// pages, 64 bytes when a module's TLS wants 128-byte alignment, up to a
// page when the stack's size is not a page multiple or its top is the
// program's. 0 if none. (A layout learnt as "distance below the mapping's
// top" from one thread failed for all the others in those cases.)
uptr find_descriptor(uptr lo, uptr hi) {
  constexpr size_t kSlack = 4096 + 256;
  size_t ds = descriptor_size();
  if (hi < lo || hi - lo < ds + 3 * sizeof(uptr)) return 0;
  uptr d = (hi - ds) & ~uptr{15}, floor = d - std::min<uptr>(kSlack, d - lo);
  for (; d >= floor && d + 3 * sizeof(uptr) <= hi; d -= 16) {
    if (is_descriptor(d)) return d;
    if (d < 16) break;
  }
  return 0;
}

// The id in the descriptor at d, -1 when unknown (no layout learnt, or the
// field would lie past hi).
int descriptor_tid(uptr d, uptr hi, bool* known) {
  uptr off = g_tid_offset.load(std::memory_order_acquire);
  *known = off != 0 && off != kMixed && d + off + sizeof(int) <= hi;
  return *known ? __atomic_load_n(ptr<const int>(d + off), __ATOMIC_RELAXED) : -1;
}

// Registers the calling thread's stack [l, h) for the leak scans of other
// threads. A stack glibc reuses (its cache) takes over its entry; else a new one.
void register_stack(uptr l, uptr h, uptr self) {
  unsigned n = std::min<unsigned>(g_nthread_stacks.load(std::memory_order_relaxed), kMaxThreadStacks), i = n;
  for (unsigned j = 0; j < n; ++j)
    if (g_thread_stacks[j].hi == h && __atomic_load_n(&g_thread_stacks[j].tid, __ATOMIC_ACQUIRE) != 0) {
      int saved = errno;
      bool gone = os::thread_gone(__atomic_load_n(&g_thread_stacks[j].tid, __ATOMIC_RELAXED));
      errno = saved;
      if (gone) {
        i = j;
        break;
      }
    }
  if (i == n) i = g_nthread_stacks.fetch_add(1, std::memory_order_relaxed);
  if (i < kMaxThreadStacks) {
    g_thread_stacks[i].lo = l;
    g_thread_stacks[i].hi = h;
    g_thread_stacks[i].self = self;
    __atomic_store_n(&g_thread_stacks[i].tid, os::gettid(), __ATOMIC_RELEASE);
  }
}

// Finds the calling thread's own stack, once per thread, wherever sp is (a
// coroutine's stack, an alternate signal stack: neither may be taken for the
// thread's, as a first capture there once did, for good: every later
// capture on the real stack was cut to a page, the leak scan missed the
// stack, and a coroutine stack unmapped later was read). The main thread's
// is the mapping holding __libc_stack_end, and grows (own_stack_grew);
// another thread's holds its descriptor, which glibc puts at the top of the
// stack block (a user-supplied one too): cut just past the descriptor, so
// that a neighbouring mapping the kernel merged into the line is not taken
// (it may be unmapped later). The main thread's descriptor is in a mapping
// of the loader's, which the kernel may merge with coroutine stacks mapped
// next to it: never used for the main thread. (A thread that forks becomes
// its child's main thread: it looks its stack up before the fork, in
// redzone.cpp's lock_for_fork.)
void own_stack_lookup() {
  uptr self = addr(reinterpret_cast<void*>(pthread_self())), top = addr(__libc_stack_end);
  bool main = os::gettid() == os::getpid();
  MapLine self_map{}, top_map{};
  if (query_mapping(self, &self_map) == Query::kUnsupported || query_mapping(top, &top_map) == Query::kUnsupported) {
    self_map = top_map = MapLine{};
    for_each_mapping([&](const MapLine& m) {
      if (self >= m.lo && self < m.hi) self_map = m;
      if (top >= m.lo && top < m.hi) top_map = m;
      return true;
    });
  }
  uptr l = main ? top_map.lo : self_map.lo;
  // (The descriptor's last page is the stack's last: glibc puts the
  // descriptor at the top of the stack block, and a page is mapped whole.)
  uptr h = main ? top_map.hi : std::min(self_map.hi, align_up(self + descriptor_size(), 4096));
  if (h == 0) {
    t_stack_lo = t_stack_hi = 1;  // not found: no further attempt
    return;
  }
  t_stack_lo = l;
  t_stack_hi = h;
  t_stack_grows = main;
  // The main thread's TLS and descriptor are not in its stack but in a
  // mapping of the loader's: remembered for a leak scan that another thread
  // runs (exit() called there).
  if (main && self_map.hi != 0 && !(self >= l && self < h) && self_map.hi - self_map.lo <= (size_t{64} << 20)) {
    g_main_tls_below = self - self_map.lo;
    g_main_tls_above = self_map.hi - self;
    __atomic_store_n(&g_main_self, self, __ATOMIC_RELEASE);
  }
  bool in_stack = !main && self_map.hi != 0 && self >= self_map.lo && self < h;
  if (in_stack) learn_tid_offset(self, h);
  register_stack(l, h, in_stack ? self : 0);
}

// The main thread's stack grew below what was read (sp under t_stack_lo):
// re-read, once per growth. A mapping below it that is not the stack (a
// coroutine's) is remembered, so that captures there read no more.
bool own_stack_grew(uptr sp) {
  if (sp >= t_other_lo && sp < t_other_hi) return false;
  uptr l, h;
  if (!find_mapping(sp, &l, &h)) return false;
  if (h != t_stack_hi) {
    t_other_lo = l;
    t_other_hi = h;
    return false;
  }
  t_stack_lo = l;
  return true;
}

}  // namespace

bool own_stack(uptr* lo, uptr* hi) {
  if (t_stack_hi == 0) own_stack_lookup();
  *lo = t_stack_lo;
  *hi = t_stack_hi;
  return t_stack_hi > 1;
}

bool thread_stack(uptr* lo, uptr* hi) {
  uptr sp = addr(__builtin_frame_address(0));
  if (LM_UNLIKELY(!(sp >= t_stack_lo && sp < t_stack_hi))) {
    if (t_stack_hi == 0) own_stack_lookup();
    bool on = sp >= t_stack_lo && sp < t_stack_hi;
    if (!on && t_stack_grows && sp < t_stack_lo) on = own_stack_grew(sp);
    if (!on) return false;
  }
  *lo = t_stack_lo;
  *hi = t_stack_hi;
  return true;
}

unsigned other_thread_stacks(Range* out, unsigned cap) {
  unsigned n = std::min<unsigned>(g_nthread_stacks.load(std::memory_order_relaxed), kMaxThreadStacks), got = 0;
  int self = os::gettid(), saved = errno;
  for (unsigned i = 0; i < n && got < cap; ++i) {
    int tid = __atomic_load_n(&g_thread_stacks[i].tid, __ATOMIC_ACQUIRE);
    if (tid == 0 || tid == self || os::thread_gone(tid)) continue;
    uptr hi = g_thread_stacks[i].hi, l, h;
    bool readable = false;
    // Still a readable mapping there (not unmapped or protected; the main
    // thread's may have grown down since). It may end above the stack: a
    // stack of the program's own inside a larger mapping (or a -static
    // program's, merged by the kernel with our chunks): taken up to its
    // descriptor (skipped as it was, the blocks held there were reported as
    // leaks; the caller leaves our blocks out).
    if (!find_mapping(hi - 1, &l, &h, &readable) || h < hi || !readable) continue;
    if (uptr d = g_thread_stacks[i].self; d != 0) {
      // Still this thread's descriptor (a stack of the program's own may
      // have been unmapped and the range mapped for something else, while
      // a new thread got the id), and the thread not exited: the kernel
      // clears the descriptor's id at exit (what pthread_join waits on),
      // and tgkill still finds the thread for a moment after. Its stack is
      // glibc's cache then (the caller scans only its DTV); taken for a
      // running thread's, it hid the leaks held there in 1 of ~200 runs of
      // a thread joined just before exit.
      if (d < l || d + descriptor_size() > hi || !is_descriptor(d)) continue;
      bool known = false;
      int now = descriptor_tid(d, hi, &known);
      if (known && now != tid) continue;
      hi = d + descriptor_size();
    }
    out[got++] = Range{l, hi};
  }
  errno = saved;
  return got;
}

bool mapping_of(uptr a, uptr* lo, uptr* hi) { return find_mapping(a, lo, hi); }

bool main_thread_tls(Range* out, uptr* self) {
  uptr main_self = __atomic_load_n(&g_main_self, __ATOMIC_ACQUIRE), now_lo, now_hi;
  bool readable = false;
  if (main_self == 0 || !find_mapping(main_self, &now_lo, &now_hi, &readable) || !readable) return false;
  *out = Range{std::max(main_self - g_main_tls_below, now_lo), std::min(main_self + g_main_tls_above, now_hi)};
  *self = main_self;
  return true;
}

bool dead_thread_stack(uptr lo, uptr hi, uptr* desc_out) {
  // Only where a glibc descriptor is (a coroutine's stack has none: taken
  // for dead, a live stack was skipped, and the block it held reported as
  // a leak), with the id field known.
  uptr desc = find_descriptor(lo, hi);
  bool known = false;
  if (desc == 0 || descriptor_tid(desc, hi, &known) > 0 || !known) return false;  // (-1 once glibc cached it)
  *desc_out = desc;
  return true;
}

unsigned guarded_mappings(Range* out, unsigned cap) {
  unsigned got = 0;
  MapLine prev{};
  for_each_mapping([&](const MapLine& m) {
    if (m.anonymous && prev.anonymous && prev.hi == m.lo && std::memcmp(prev.perms, "---p", 4) == 0 &&
        std::memcmp(m.perms, "rw-p", 4) == 0)
      out[got++] = Range{m.lo, m.hi};
    prev = m;
    return got < cap;
  });
  return got;
}

uint16_t thread_number() {
  if (LM_UNLIKELY(t_thread_no == 0)) t_thread_no = g_threads.fetch_add(1) % 0xffffffffu + 1;
  return static_cast<uint16_t>(t_thread_no - 1);
}

namespace {

// The walk behind capture() and capture_id(): `sp` and `rbp` are the
// capturing entry's own, read on entry. Where `slots` is not null it
// receives, for each frame, the word offset from sp of the stack slot it
// was read from (~0u when a frame was not read from the stack).
LM_FAST_PATH void walk(Trace* t, uptr ret, uptr sp, uptr rbp, uint32_t* slots) {
  t->n = 0;
  auto put = [&](uptr pc, const uptr* at) {
    if (slots) slots[t->n] = at ? static_cast<uint32_t>((addr(at) - sp) / 8) : ~0u;
    t->pc[t->n++] = pc;
  };
  if (ret) put(ret, nullptr);
  ModuleCache* c = g_modules.load(std::memory_order_acquire);
  if (c && loader_usable() && modules_changed(c)) {
    // A module was loaded or unloaded since the cache was built. Unloaded,
    // its code is unmapped, and a stale stack word pointing into it would
    // make is_return_address read unmapped memory (a free() inside
    // dlclose() crashed so). Rebuilt now; if another thread is rebuilding
    // it, this trace keeps only `ret`.
    refresh_modules();
    c = g_modules.load(std::memory_order_acquire);
    if (!c || modules_changed(c)) return;
  }
  // After the cache is current: intercept.cpp patches modules loaded since
  // its last pass, and retries slots it left for later.
  if (void (*hook)() = __atomic_load_n(&g_on_walk, __ATOMIC_ACQUIRE); hook && loader_usable()) hook();
  if (!c || (ret && !find_range(c, ret))) {
    // Unknown code: a module loaded since (or JIT code). Re-read the module
    // list at most every 50 ms.
    uint64_t now = os::now_ms(), last = g_modules_checked_ms.load(std::memory_order_relaxed);
    if (!loader_usable()) {
      if (!c) return;
    } else if (!c || now - last >= 50) {
      g_modules_checked_ms.store(now, std::memory_order_relaxed);
      refresh_modules();
      c = g_modules.load(std::memory_order_acquire);
      if (!c) return;
    }
  }
  uptr lo, hi;
  if (!thread_stack(&lo, &hi) || sp < lo || sp >= hi) hi = align_up(sp + 1, 4096);  // unknown stack: this page only
  const uptr* w = ptr<const uptr>(align_up(sp, 8));
  const uptr* end = ptr<const uptr>(hi);
  // The slot holding `ret` sits above libmalloc's own frames: the last copy
  // within 1 KiB (copies below it are arguments spilled by our frames, which
  // take well under 1 KiB between the entry point and here).
  if (ret) {
    const uptr* lim = end - w > 128 ? w + 128 : end;
    const uptr* slot = nullptr;
    for (const uptr* p = w; p < lim; ++p)
      if (*p == ret) slot = p;
    if (!slot) return;  // not found: only ret is reliable
    w = slot;
    if (slots) slots[0] = static_cast<uint32_t>((addr(slot) - sp) / 8);
  }
  // Above the slot: frame-pointer records [saved fp, return address] where
  // they look valid (the first record whose successor is a record too), else
  // a scan for words that are return addresses. After the chain ends (code
  // without frame pointers, e.g. libc's start-up), the scan goes on.
  auto record_ok = [&](const uptr* x) {
    uptr fp = x[0];
    return fp > addr(x) && fp < hi && hi - fp >= 16 && (fp & 7) == 0 && is_return_address(c, x[1]);
  };
  const uptr* p = w + (ret ? 1 : 0);
  const uptr* search_end = end - p > 128 ? p + 128 : end;
  const uptr* rec = nullptr;
  if (rbp >= addr(p) && rbp < hi && hi - rbp >= 16 && (rbp & 7) == 0 && record_ok(ptr<const uptr>(rbp)))
    rec = ptr<const uptr>(rbp);
  // The program's frame pointer at the call is saved in libmalloc's own
  // frames (below the slot) by whichever of our functions reused rbp: a
  // word there pointing into the stack above the slot at a valid record.
  // Of several (stale words from earlier calls), the lowest: the program's
  // innermost frame lies just above the slot.
  if (!rec && ret) {
    for (const uptr* x = ptr<const uptr>(align_up(sp, 8)); x < w; ++x) {
      uptr v = *x;
      if (v > addr(w) && v < hi && hi - v >= 16 && (v & 7) == 0 && (!rec || v < addr(rec)) &&
          is_return_address(c, ptr<const uptr>(v)[1]))
        rec = ptr<const uptr>(v);
    }
  }
  for (const uptr* x = p; !rec && x + 1 < search_end; ++x) {
    if (record_ok(x) && record_ok(ptr<const uptr>(x[0]))) {
      rec = x;
      break;
    }
  }
  // `ret` may be in a function without a frame pointer that left rbp alone
  // (a wrapper of malloc in code built without them, libc's strdup), called
  // from code with frame pointers: the chain from rbp skips its caller,
  // whose return address lies between the slot and the record. Taken only
  // when its call instruction calls the function holding `ret` (the words
  // there are mostly the caller's locals, stale return addresses among them).
  // When the record's own call (its return address's) leads to a function
  // as close below `ret` as the candidate's, that function has a frame of
  // its own: the record is its, and the words in between are its locals
  // (a stale return address there once added a frame never on the path).
  // (Not when `ret` is libmalloc's own: an -O0 build's, whose own frames
  // lead and are dropped below.)
  if (rec && ret && t->n < kMaxFrames && !(ret >= c->own.lo && ret < c->own.hi)) {
    uptr rec_target = is_return_address(c, rec[1]) ? call_target(c, rec[1]) : 0;
    for (const uptr* x = p; x < rec; ++x) {
      uptr v = *x, target;
      if (is_return_address(c, v) && (target = call_target(c, v)) != 0 && target <= ret && ret - target < kMaxCallee &&
          (rec_target == 0 || rec_target > ret || target > rec_target)) {
        put(v, x);
        break;
      }
    }
  }
  if (rec) {
    while (t->n < kMaxFrames) {
      put(rec[1], rec + 1);
      p = rec + 2;
      const uptr* next = ptr<const uptr>(rec[0]);
      if (next <= rec || addr(next) >= hi || hi - addr(next) < 16 || !record_ok(next)) {
        // The last record's return address is valid even when its saved fp is not.
        if (next > rec && addr(next) < hi && hi - addr(next) >= 16 && is_return_address(c, next[1]) &&
            t->n < kMaxFrames) {
          put(next[1], next + 1);
          p = next + 2;
        }
        break;
      }
      rec = next;
    }
  }
  // A scanned word equal to the frame just found is taken for a stale copy
  // (a spilled return address, or one left by an earlier call at that depth)
  // and skipped: a test trace held 13 copies of one address in a row. Direct
  // recursion in code without frame pointers shows once (docs/redzone.md,
  // Limits).
  // Two kinds of word are always stale there, once a frame was found: our
  // own return addresses (libmalloc never calls the program but through
  // operator new's new_handler, and then its own frame is not the story),
  // and the loader's whose call is a direct one within the loader while the
  // frame below is not the loader's (the loader calls a program's code,
  // constructors, only through pointers; its lazy binding jumps). Both
  // filled traces: a leak in git listed capture_id and free_checked in the
  // middle of its stack, and a program whose frame holds an unwritten array
  // showed ten loader frames from start-up and lost main to the frame limit.
  auto in = [](const ExecRange& r, uptr a) { return a >= r.lo && a < r.hi; };
  for (unsigned budget = 384; p < end && t->n < kMaxFrames && budget > 0; ++p, --budget) {
    uptr v = *p;
    if (!is_return_address(c, v)) continue;
    if (t->n > 0) {
      uptr below = t->pc[t->n - 1];
      if (below == v || in(c->own, v)) continue;
      if (in(c->loader, v) && !in(c->loader, below)) {
        uptr target = call_target(c, v);
        if (target != 0 && in(c->loader, target)) continue;
      }
    }
    put(v, p);
  }
  // Leading frames in libmalloc.so itself: `ret` was read below a call that
  // was not a tail call (an -O0 build of libmalloc), and the walk then went
  // through our own frame-pointer chain. The program's frames follow them.
  unsigned own = 0;
  while (own < t->n && t->pc[own] >= c->own.lo && t->pc[own] < c->own.hi) ++own;
  if (own > 0 && own < t->n) {
    for (unsigned i = own; i < t->n; ++i) {
      t->pc[i - own] = t->pc[i];
      if (slots) slots[i - own] = slots[i];
    }
    t->n -= own;
  }
}

// ---- the capture cache ----
//
// The walk above costs a scan of hundreds of stack words. A program
// allocates from a few call paths over and over, and the same path leaves
// the same return addresses at the same distances from the top of the
// stack. So capture_id() remembers, per (entry return address, depth), the
// stack slot of each frame it found and the depot id of the trace; a later
// capture at the same depth whose slots hold exactly those return addresses
// reuses the id after a compare per frame.
//
// One (entry, depth) often has several traces: CPython allocates from the
// same function at the same depth under many different callers. A
// direct-mapped table kept one of them, and a fourth of CPython's captures
// walked the stack (27% of bench/real/py_alloc.py's time in redzone mode).
// So the table is set associative: a (return address, depth) pair hashes to
// a group of kWays entries, any of which may hold one of its traces. On
// that script, of 2.6 million captures, 717,000 walked with one way, 130,000
// with 4 and 33,000 with 16 (4096 entries per set of threads); its user time
// went from 1.72-1.77 s to 1.28-1.32 s (2-core development machine,
// 2026-11-24).
//
// Entries are shared by the threads of a set without a lock: an entry torn
// by two writers can only fail the comparison (the frames are compared with
// the depot's immutable copy of the trace named by the id), never yield a
// trace that is not on the stack. The table is 3 MiB, mapped at the first
// capture (in bss it counted against RLIMIT_DATA in fast mode too); a set's
// pages are touched only by threads that capture. Without it (the mapping
// refused), every capture walks.
constexpr unsigned kCacheSets = 16;  // threads share a set by thread number
constexpr unsigned kWays = 16;
constexpr unsigned kGroupBits = 8;  // 256 groups of kWays entries per set
struct CacheEntry {
  uptr ret;
  uint32_t depth;  // (stack top - sp) / 8 when it was stored
  uint32_t id;
  uint16_t slot[kMaxFrames];  // word offsets from sp of each frame's slot
};
static_assert(kMaxFrames <= 16 && sizeof(CacheEntry) == 48, "an entry stays within a cache line");
constexpr size_t kCaptureCacheBytes = sizeof(CacheEntry) * kCacheSets * (size_t{1} << kGroupBits) * kWays;
std::atomic<CacheEntry*> g_cache{nullptr};
std::atomic<bool> g_cache_refused{false};
// Which way of a full group the next trace replaces: a counter per thread.
thread_local uint32_t t_cache_victim LM_TLS_IE = 0;
thread_local uint32_t t_cache_hits LM_TLS_IE = 0;

// What a walk does first, for a cache hit now and then: rebuild the module
// cache if modules were loaded or unloaded, then the walk hook.
LM_NOINLINE void poll_modules() {
  void (*hook)() = __atomic_load_n(&g_on_walk, __ATOMIC_ACQUIRE);
  if (!hook || !loader_usable()) return;
  ModuleCache* c = g_modules.load(std::memory_order_acquire);
  if (c && modules_changed(c)) refresh_modules();
  hook();
}

CacheEntry* cache_table() {
  CacheEntry* t = g_cache.load(std::memory_order_acquire);
  if (LM_LIKELY(t != nullptr) || g_cache_refused.load(std::memory_order_relaxed)) return t;
  auto* mine = static_cast<CacheEntry*>(os::map(kCaptureCacheBytes));
  if (!mine) {
    g_cache_refused.store(true, std::memory_order_relaxed);
    return nullptr;
  }
  if (g_cache.compare_exchange_strong(t, mine, std::memory_order_acq_rel)) return mine;
  os::unmap(mine, kCaptureCacheBytes);  // another thread's won
  return t;
}

// The first entry of the group of (ret, depth), or nullptr without a table.
LM_FAST_PATH CacheEntry* cache_group(uptr ret, uint32_t depth) {
  CacheEntry* table = cache_table();
  if (!table) return nullptr;
  uint64_t h = (ret ^ (uint64_t{depth} << 40)) * 0x9e3779b97f4a7c15ull;
  size_t group = size_t{thread_number() % kCacheSets} << kGroupBits | (h >> (64 - kGroupBits));
  return table + group * kWays;
}

}  // namespace

void capture(Trace* t, uptr ret) {
  // No __builtin_frame_address here: it would make this function set up
  // its own frame pointer, and the caller's rbp is worth more. libmalloc is
  // built without frame pointers, so rbp often still holds the program's
  // frame pointer from the call into malloc.
  uptr sp, rbp;
  asm volatile("mov %%rsp, %0\n\tmov %%rbp, %1" : "=r"(sp), "=r"(rbp));
  walk(t, ret, sp, rbp, nullptr);
}

uint32_t capture_id(uptr ret) {
  uptr sp, rbp;
  asm volatile("mov %%rsp, %0\n\tmov %%rbp, %1" : "=r"(sp), "=r"(rbp));
  uptr lo, hi;
  CacheEntry* group = nullptr;
  uint32_t depth = 0;
  if (ret && thread_stack(&lo, &hi) && sp >= lo && sp < hi && (hi - sp) / 8 <= 0xffffffffu) {
    depth = static_cast<uint32_t>((hi - sp) / 8);
    group = cache_group(ret, depth);
    const uptr* s = ptr<const uptr>(sp);
    for (CacheEntry* e = group; e && e < group + kWays; ++e) {
      uint32_t id = __atomic_load_n(&e->id, __ATOMIC_ACQUIRE);
      if (!id || e->ret != ret || e->depth != depth) continue;
      const DepotEntry* d = depot_entry_of(id);
      bool same = d->pc[0] == ret;
      for (unsigned i = 0; same && i < d->n && i < kMaxFrames; ++i) same = e->slot[i] < depth && s[e->slot[i]] == d->pc[i];
      if (same) {
        // A hit skips the walk, and with it the look for modules loaded
        // since (which intercept.cpp patches): a thread's every 64th hit
        // looks anyway, so that a library loaded while the program only
        // allocates from places seen before is not left unchecked.
        if (LM_UNLIKELY((++t_cache_hits & 63) == 0)) poll_modules();
        return id;
      }
    }
  }
  Trace t;
  uint32_t slots[kMaxFrames];
  walk(&t, ret, sp, rbp, slots);
  uint32_t id = save(t);
  // (Not a first frame kept for a full depot: the cache checks a hit's frames
  // against its depot entry, and would answer every later capture from this
  // place with that one frame, even one whose whole trace is in the depot.)
  if (!group || id == 0 || depot_entry_of(id)->n < t.n) return id;
  for (unsigned i = 0; i < t.n; ++i)
    if (slots[i] >= depth || slots[i] > 0xffff) return id;  // a frame not read from the stack, or too far
  CacheEntry* e = group + t_cache_victim++ % kWays;
  for (CacheEntry* x = group; x < group + kWays; ++x)
    if (__atomic_load_n(&x->id, __ATOMIC_RELAXED) == 0) {
      e = x;
      break;
    }
  __atomic_store_n(&e->id, 0u, __ATOMIC_RELAXED);
  e->ret = ret;
  e->depth = depth;
  for (unsigned i = 0; i < t.n; ++i) e->slot[i] = static_cast<uint16_t>(slots[i]);
  __atomic_store_n(&e->id, id, __ATOMIC_RELEASE);
  return id;
}

// ---- depot ----

namespace {
uint32_t save_in(char* d, const Trace& t, bool reserve);
}  // namespace

uint32_t save(const Trace& t) {
  if (t.n == 0) return 0;
  char* d = g_depot.load(std::memory_order_acquire);
  if (!d) {
    LockGuard guard(g_depot_lock);
    d = g_depot.load(std::memory_order_relaxed);
    if (!d) {
      d = map_depot();
      if (!d) return 0;
      g_depot.store(d, std::memory_order_release);
    }
  }
  if (uint32_t id = save_in(d, t, false)) return id;
  // Full: the trace is kept to its first frame, the allocation's or free's
  // caller (few distinct ones, in the reserve). Saved nothing, every capture
  // of a new stack walked the stack again (the capture cache keeps only
  // saved traces) and searched the depot in vain: cppcheck, whose stacks
  // filled it after 3 of its 21 files, had not finished after 400 s
  // (glibc: 3 s).
  if (t.n == 1) return save_in(d, t, true);
  Trace first;
  first.n = 1;
  first.pc[0] = t.pc[0];
  return save_in(d, first, true);
}

namespace {
uint32_t next_of(const DepotEntry* e) { return __atomic_load_n(&e->next, __ATOMIC_RELAXED); }

// A table four times as large, every entry relinked into it (depot lock
// held). Readers without the lock may still walk the old one, or follow
// links rewritten under them: every link goes to a smaller id, so a walk
// ends, and one that misses its trace looks again under the lock. So the
// old table's pages are purged, not unmapped: a reader finds zeros there
// (an empty bucket) and looks again under the lock.
void grow_table(char* d, const BucketTable* old) {
  unsigned bits = old->bits + 2;
  auto* t = static_cast<BucketTable*>(os::map_noreserve(table_bytes(bits)));
  if (!t) return;
  t->bits = bits;
  uint32_t mask = (uint32_t{1} << bits) - 1;
  for (size_t at = 8; at < g_depot_used;) {
    auto* e = reinterpret_cast<DepotEntry*>(depot_entries(d) + at);
    auto id = static_cast<uint32_t>(at >> 3);
    std::atomic<uint32_t>& head = t->head[e->hash & mask];
    __atomic_store_n(&e->next, head.load(std::memory_order_relaxed), __ATOMIC_RELAXED);
    head.store(id, std::memory_order_relaxed);
    at += 16 + 8 * size_t{e->n};
  }
  g_table.store(t, std::memory_order_release);
  // (Whole pages only: the first table's last page holds the first entries.)
  os::purge(const_cast<BucketTable*>(old), align_down(table_bytes(old->bits), 4096));
}

// The id of trace t in depot d, added if new and there is room (outside
// the reserve unless `reserve`); 0 if not.
uint32_t save_in(char* d, const Trace& t, bool reserve) {
  uint32_t hash = hash_trace(t);
  const BucketTable* table = g_table.load(std::memory_order_acquire);
  for (uint32_t id = table->head[hash & ((uint32_t{1} << table->bits) - 1)].load(std::memory_order_acquire); id;
       id = next_of(depot_entry(d, id)))
    if (same(depot_entry(d, id), hash, t)) return id;
  LockGuard guard(g_depot_lock);
  BucketTable* locked = g_table.load(std::memory_order_relaxed);
  std::atomic<uint32_t>& bucket = locked->head[hash & ((uint32_t{1} << locked->bits) - 1)];
  for (uint32_t id = bucket.load(std::memory_order_relaxed); id; id = next_of(depot_entry(d, id)))
    if (same(depot_entry(d, id), hash, t)) return id;
  size_t bytes = 16 + 8 * size_t{t.n};
  size_t limit = reserve ? g_depot_limit : g_depot_limit - g_depot_reserve;
  if (g_depot_used + bytes > limit || (g_depot_used >> 3) > 0xffffffffu) return 0;
  auto id = static_cast<uint32_t>(g_depot_used >> 3);
  auto* e = reinterpret_cast<DepotEntry*>(depot_entries(d) + g_depot_used);
  e->next = bucket.load(std::memory_order_relaxed);
  e->hash = hash;
  e->n = t.n;
  for (unsigned i = 0; i < t.n; ++i) e->pc[i] = t.pc[i];
  g_depot_used += bytes;
  bucket.store(id, std::memory_order_release);
  if (++g_depot_count > (size_t{1} << locked->bits) && locked->bits < kMaxBucketBits) grow_table(d, locked);
  return id;
}
}  // namespace

void depot_room_for_testing(size_t bytes, size_t reserve) {
  LockGuard guard(g_depot_lock);
  if (!g_depot.load(std::memory_order_relaxed)) return;
  size_t whole = g_depot_bytes - kFirstTableBytes;
  if (bytes == 0 && reserve == 0) {  // as mapped
    g_depot_limit = whole;
    g_depot_reserve = whole / kReserveShare;
    return;
  }
  g_depot_limit = std::min(whole, g_depot_used + bytes + reserve);
  g_depot_reserve = reserve;
}

void load(uint32_t id, Trace* t) {
  t->n = 0;
  char* d = g_depot.load(std::memory_order_acquire);
  if (!d || id == 0) return;
  const DepotEntry* e = depot_entry(d, id);
  t->n = e->n < kMaxFrames ? e->n : kMaxFrames;
  for (unsigned i = 0; i < t->n; ++i) t->pc[i] = e->pc[i];
}

// A function of libmalloc's own, found by name, in the module libmalloc is
// part of: where it is linked into the program (libmalloc.a) the walk
// cannot tell its code from the program's, and stale return addresses of
// its own showed as frames (init_if_configured between
// __libc_start_call_main and __libc_start_main_impl in every report of a
// -static program). Only libmalloc's own namespaces (lm::core, lm::Mutex,
// ...): a program's namespace lm (KenLM's lm::ngram) is the program's.
bool own_function(const Symbol& s, uptr pc) {
  const char* f = s.function;
  if (std::strncmp(f, "_ZN2lm", 6) == 0) f += 6;
  else if (std::strncmp(f, "_ZNK2lm", 7) == 0 || std::strncmp(f, "_ZZN2lm", 7) == 0) f += 7;
  else return false;
  static constexpr const char* kOwn[] = {"3api",  "6config", "4core", "4heap",  "5large", "2os",
                                         "7pagemap", "7redzone", "6report", "4slab", "5stats", "5Mutex"};
  bool ours = false;
  for (const char* name : kOwn) ours = ours || std::strncmp(f, name, std::strlen(name)) == 0;
  if (!ours) return false;
  ModuleInfo m{nullptr, 0, false}, self{nullptr, 0, false};
  FindModule fm{pc, &m}, fs{addr(reinterpret_cast<const void*>(&own_bias)), &self};
  dl_iterate_phdr(find_module_cb, &fm);
  dl_iterate_phdr(find_module_cb, &fs);
  return m.found && self.found && m.bias == self.bias;
}

void print(os::Writer& w, const Trace& t) {
  unsigned shown = 0;
  for (unsigned i = 0; i < t.n; ++i) {
    // Frames are return addresses: the call is the instruction before.
    uptr pc = t.pc[i] - 1;
    Symbol s = symbolize(pc);
    if (own_function(s, pc)) continue;
    w.printf("    #%u 0x%lx in %s (%s+0x%lx)\n", shown++, pc, s.function, s.module, s.offset);
  }
  if (shown == 0) w.puts("    <empty stack>\n");
}

void print_summary_frame(os::Writer& w, const Trace& t) {
  if (t.n == 0) return;
  unsigned i = 0;
  uptr own = own_bias();
  if (t.n > 1 && own != ~uptr{0}) {
    ModuleInfo m{nullptr, 0, false};
    FindModule fm{t.pc[0] - 1, &m};
    dl_iterate_phdr(find_module_cb, &fm);
    if (m.found && m.bias == own) i = 1;  // frame 0 is libmalloc's entry point
  }
  Symbol s = symbolize(t.pc[i] - 1);
  while (own_function(s, t.pc[i] - 1) && i + 1 < t.n) s = symbolize(t.pc[++i] - 1);
  w.printf(" (%s+0x%lx) in %s", s.module, s.offset, s.function);
}

// ---- leak roots ----

bool from_loader(uint32_t id) {
  // The loader's code, as the module cache found it (every recorded stack
  // was walked with that cache; none in a static program).
  const ModuleCache* c = g_modules.load(std::memory_order_acquire);
  if (!c || c->loader.hi == 0) return false;
  const ExecRange& loader = c->loader;
  // The allocation's caller only, as LeakSanitizer does: a library's
  // constructor runs under the loader's frames too, and its leaks were
  // taken for the loader's (and everything they pointed to with them).
  Trace t;
  load(id, &t);
  return t.n > 0 && t.pc[0] >= loader.lo && t.pc[0] < loader.hi;
}

namespace {
struct SegmentList {
  Range* out;
  unsigned cap;
  unsigned n;
};
int collect_writable(struct dl_phdr_info* info, size_t, void* data) {
  auto* l = static_cast<SegmentList*>(data);
  for (unsigned i = 0; i < info->dlpi_phnum && l->n < l->cap; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) continue;
    uptr lo = info->dlpi_addr + ph.p_vaddr;
    l->out[l->n++] = Range{align_down(lo, 8), align_down(lo + ph.p_memsz, 8)};
  }
  return 0;
}
}  // namespace

unsigned writable_segments(Range* out, unsigned cap) {
  constexpr unsigned kMaxRaw = 512;
  Range raw[kMaxRaw];
  SegmentList l{raw, std::min(cap, kMaxRaw), 0};
  dl_iterate_phdr(collect_writable, &l);
  // Only what is mapped and readable now: a program may mprotect or unmap
  // part of its own .data or .bss (the scan crashed on a PROT_NONE page).
  unsigned n = 0;
  for_each_mapping([&](const MapLine& m) {
    if (m.perms[0] != 'r') return true;
    for (unsigned i = 0; i < l.n && n < cap; ++i) {
      uptr lo = std::max(raw[i].lo, m.lo), hi = std::min(raw[i].hi, m.hi);
      if (lo < hi) out[n++] = Range{lo, hi};
    }
    return n < cap;
  });
  return n;
}

void lock_for_fork() {
  g_depot_lock.lock();
  g_modules_lock.lock();
}
void unlock_for_fork() {
  g_modules_lock.unlock();
  g_depot_lock.unlock();
}
void reset_for_fork_child() {
  g_modules_lock.reset_after_fork();
  g_depot_lock.reset_after_fork();
}
unsigned long long modules_added() {
  const ModuleCache* c = g_modules.load(std::memory_order_acquire);
  return c ? c->adds : 0;
}
void note_fork_child() {
  g_fork_signature = link_map_signature();
  g_loader_suspect.store(true, std::memory_order_relaxed);
}

}  // namespace lm::redzone::stack
