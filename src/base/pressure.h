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

  // True if the caller should purge its dirty memory now.
  bool should_purge(size_t dirty, size_t in_use, uint64_t now_ms) {
    if (dirty < threshold_ || dirty < 2 * in_use) return false;
    if (now_ms - last_ms_ < 1000) {
      if (threshold_ < (size_t{1} << 30)) threshold_ *= 2;
    } else if (now_ms - last_ms_ > 10000) {
      threshold_ = kFloor;
    }
    last_ms_ = now_ms;
    return true;
  }
  // The fast pre-check: below this many dirty bytes nothing happens.
  size_t threshold() const { return threshold_; }

 private:
  size_t threshold_ = kFloor;
  uint64_t last_ms_ = 0;
};

}  // namespace lm
