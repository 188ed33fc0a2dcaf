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
  // should_purge would say no. `floor`: kFloor, or a lower one the caller
  // chose (a trim threshold the user set).
  bool may_purge(size_t dirty, uint64_t now_ms, size_t floor = kFloor) const {
    if (dirty < floor) return false;
    return dirty >= threshold(floor) || now_ms - __atomic_load_n(&last_ms_, __ATOMIC_RELAXED) > kQuietMs;
  }

  // True if the caller should purge its dirty memory now.
  bool should_purge(size_t dirty, size_t in_use, uint64_t now_ms, size_t floor = kFloor) {
    unsigned shift = shift_;
    if (now_ms - last_ms_ > kQuietMs) shift = 0;
    __atomic_store_n(&shift_, shift, __ATOMIC_RELAXED);
    if (dirty < raised(floor, shift) || dirty < 2 * in_use) return false;
    if (now_ms - last_ms_ < 1000 && raised(floor, shift) < (size_t{1} << 30)) ++shift;
    __atomic_store_n(&shift_, shift, __ATOMIC_RELAXED);
    __atomic_store_n(&last_ms_, now_ms, __ATOMIC_RELAXED);
    return true;
  }
  // The bar: the floor, doubled once for each purge that came less than a
  // second after the one before (reset after kQuietMs without a purge).
  size_t threshold(size_t floor = kFloor) const { return raised(floor, __atomic_load_n(&shift_, __ATOMIC_RELAXED)); }

 private:
  static size_t raised(size_t floor, unsigned shift) { return shift >= 40 ? size_t{1} << 40 : floor << shift; }
  static constexpr uint64_t kQuietMs = 10000;
  unsigned shift_ = 0;
  uint64_t last_ms_ = 0;
};

}  // namespace lm
