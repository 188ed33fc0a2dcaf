// bench/workloads/strbuild.cpp: realloc-heavy string building. Many strings grow at
// once by small appends, each append a realloc to the exact new length (a naive string
// builder), interleaved so neighbours get in each other's way. A finished string
// (random target 64 B..256 KiB) is hashed into the checksum and freed.
#include "common.h"

#include <vector>

namespace {
struct Str {
  char* p = nullptr;
  size_t len = 0;
  size_t target = 0;
};

uint64_t fnv(const char* p, size_t n) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001B3ull;
  return h;
}
}  // namespace

int main(int argc, char** argv) {
  wl::Args args(argc, argv);
  const long appends = args.get("appends", 2000000);
  const long live = args.get("live", 256);
  const long max_len = args.get("max", 256 << 10);

  wl::Checksum ck;
  wl::Rng rng(42);
  std::vector<Str> strs(live);
  uint64_t local = 0;
  for (auto& s : strs) s.target = rng.log_range(64, max_len);
  for (long i = 0; i < appends; ++i) {
    Str& s = strs[rng.next() % live];
    size_t add = rng.range(1, 48);
    char* np = static_cast<char*>(std::realloc(s.p, s.len + add));
    if (!np) { ck.error(); continue; }
    s.p = np;
    uint64_t x = rng.next();
    for (size_t k = 0; k < add; ++k) s.p[s.len + k] = char('a' + (x >> (k % 60)) % 26);
    s.len += add;
    if (s.len >= s.target) {
      local += wl::mix(fnv(s.p, s.len), s.len);
      std::free(s.p);
      s = Str{};
      s.target = rng.log_range(64, max_len);
    }
  }
  for (auto& s : strs) {
    if (s.p) {
      local += wl::mix(fnv(s.p, s.len), s.len);
      std::free(s.p);
    }
  }
  ck.add(local);
  wl::print_result("strbuild", ck);
  return ck.errors.load() ? 1 : 0;
}
