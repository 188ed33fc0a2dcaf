// pressure.h: when a layer holding free-but-resident memory should purge it
// at once instead of waiting for decay. A program that frees most of what it
// allocated should see its RSS fall right away; one that cycles through big
// allocations should not fault its memory back in every cycle. So: purge when
// the dirty bytes pass a floor and twice the bytes in use; the floor doubles
// when such purges come less than a second apart and returns to its start
// after ten quiet seconds. Not thread-safe: the owner's lock guards it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lm {

class PressureGate {
 public:
  static constexpr size_t kFloor = 32u << 20;

  // The fast pre-check, safe without the owner's lock: false means
  // should_purge would say no.
  bool may_purge(size_t dirty, uint64_t now_ms) const {
    if (dirty < kFloor) return false;
    return dirty >= __atomic_load_n(&threshold_, __ATOMIC_RELAXED) ||
           now_ms - __atomic_load_n(&last_ms_, __ATOMIC_RELAXED) > kQuietMs;
  }

  // True if the caller should purge its dirty memory now.
  bool should_purge(size_t dirty, size_t in_use, uint64_t now_ms) {
    size_t threshold = threshold_;
    if (now_ms - last_ms_ > kQuietMs) threshold = kFloor;
    if (dirty < threshold || dirty < 2 * in_use) {
      __atomic_store_n(&threshold_, threshold, __ATOMIC_RELAXED);
      return false;
    }
    if (now_ms - last_ms_ < 1000 && threshold < (size_t{1} << 30)) threshold *= 2;
    __atomic_store_n(&threshold_, threshold, __ATOMIC_RELAXED);
    __atomic_store_n(&last_ms_, now_ms, __ATOMIC_RELAXED);
    return true;
  }
  size_t threshold() const { return __atomic_load_n(&threshold_, __ATOMIC_RELAXED); }

 private:
  static constexpr uint64_t kQuietMs = 10000;
  size_t threshold_ = kFloor;
  uint64_t last_ms_ = 0;
};

}  // namespace lm
