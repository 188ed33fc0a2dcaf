// bench/workloads/common.h: shared helpers for the workload programs in bench/workloads/.
// Owns the deterministic RNG, block stamping/verification, argument parsing and the
// "key: value" result lines the runner (bench/run.py) parses. Not part of libmalloc:
// these programs link only against the C library so any allocator can be preloaded.
//
// Output contract (stdout, one per line): `checksum: <16 hex digits>`, `errors: <n>`,
// and optional `metric.<name>: <number>`. The checksum depends only on the work done,
// never on thread scheduling or on the allocator, so it must agree across allocators.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <string>
#include <string_view>

namespace wl {

// A live block of a workload: where, how big, and the tag its bytes were
// stamped with (checked before it is freed).
struct Block {
  void* p = nullptr;
  size_t size = 0;
  uint64_t tag = 0;
};


// splitmix64: tiny, fast, good enough to drive workloads; seeded per thread so a
// thread's decisions never depend on another thread's progress.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi].
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + next() % (hi - lo + 1); }
  // Log-uniform in [lo, hi]: as many blocks between 16 and 32 bytes as between 1 and 2 MiB.
  uint64_t log_range(uint64_t lo, uint64_t hi) {
    double u = double(next() >> 11) * (1.0 / 9007199254740992.0);
    double v = double(lo) * __builtin_exp(u * __builtin_log(double(hi) / double(lo)));
    uint64_t r = uint64_t(v);
    return r < lo ? lo : (r > hi ? hi : r);
  }
  bool chance(unsigned percent) { return next() % 100 < percent; }
};

inline uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a ^ (b + 0x9E3779B97F4A7C15ull + (a << 6) + (a >> 2));
  z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDull;
  return z ^ (z >> 33);
}

// A stamped block: the first 16 bytes hold (tag, size) when size > 16, and the last byte
// and one byte per 4 KiB page hold bytes of the tag. verify() rechecks all of them, so a
// block handed to two owners, overlapped or corrupted is caught at free time.
struct Stamp {
  uint64_t tag;
  uint64_t size;
};

inline void stamp(void* p, size_t size, uint64_t tag) {
  auto* b = static_cast<unsigned char*>(p);
  if (size > sizeof(Stamp)) {
    Stamp s{tag, size};
    std::memcpy(b, &s, sizeof s);
  } else {
    for (size_t i = 0; i < size; ++i) b[i] = static_cast<unsigned char>(tag >> (8 * (i & 7)));
  }
  for (size_t off = 4096; off + 1 < size; off += 4096) b[off] = static_cast<unsigned char>(tag >> 8);
  if (size > 0) b[size - 1] = static_cast<unsigned char>(tag >> 16);
}

// Returns true when the block still carries the stamp for (tag, size).
inline bool verify(const void* p, size_t size, uint64_t tag) {
  auto* b = static_cast<const unsigned char*>(p);
  if (size > sizeof(Stamp)) {
    Stamp s;
    std::memcpy(&s, b, sizeof s);
    if (s.tag != tag || s.size != size) return false;
  } else {
    for (size_t i = 0; i + 1 < size; ++i)
      if (b[i] != static_cast<unsigned char>(tag >> (8 * (i & 7)))) return false;
  }
  for (size_t off = 4096; off + 1 < size; off += 4096)
    if (b[off] != static_cast<unsigned char>(tag >> 8)) return false;
  return size == 0 || b[size - 1] == static_cast<unsigned char>(tag >> 16);
}

// The checksum is a commutative sum, so blocks freed by any thread in any order give the
// same total. Each block contributes mix(tag, size) once, when it is freed.
struct Checksum {
  std::atomic<uint64_t> sum{0};
  std::atomic<uint64_t> errors{0};
  void add(uint64_t v) { sum.fetch_add(v, std::memory_order_relaxed); }
  void error() { errors.fetch_add(1, std::memory_order_relaxed); }
};

// Verifies a stamped block, adds its contribution, frees it.
inline void check_free(Checksum& ck, void* p, size_t size, uint64_t tag, uint64_t& local) {
  if (!verify(p, size, tag)) ck.error();
  local += mix(tag, size);
  std::free(p);
}

// Command-line parsing: `prog key=value ...`; unknown keys abort with a message.
struct Args {
  int argc;
  char** argv;
  Args(int c, char** v) : argc(c), argv(v) {
    for (int i = 1; i < argc; ++i) {
      if (!std::strchr(argv[i], '=')) {
        std::fprintf(stderr, "%s: arguments are key=value, got '%s'\n", argv[0], argv[i]);
        std::exit(2);
      }
    }
  }
  long get(const char* key, long def) const {
    size_t n = std::strlen(key);
    for (int i = 1; i < argc; ++i)
      if (std::strncmp(argv[i], key, n) == 0 && argv[i][n] == '=') return std::strtol(argv[i] + n + 1, nullptr, 0);
    return def;
  }
};

// Reads a "VmXXX:   1234 kB" line of /proc/self/status; returns KiB, or -1.
inline long proc_status_kb(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      v = std::strtol(line + n + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return v;
}

inline void print_result(const char* name, const Checksum& ck, uint64_t extra = 0) {
  uint64_t sum = ck.sum.load() + extra;
  uint64_t err = ck.errors.load();
  if (err)
    std::fprintf(stderr, "%s: %llu block(s) failed verification (corrupted, overlapping or handed out twice)\n",
                 name, static_cast<unsigned long long>(err));
  std::printf("workload: %s\n", name);
  std::printf("errors: %llu\n", static_cast<unsigned long long>(err));
  // Errors are folded into the checksum so a corrupting run can never match a clean one.
  std::printf("checksum: %016llx\n", static_cast<unsigned long long>(sum ^ (err * 0xDEADBEEFull)));
  std::fflush(stdout);
}

inline void print_metric(const char* name, double v) {
  std::printf("metric.%s: %.6g\n", name, v);
}

}  // namespace wl
